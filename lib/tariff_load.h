/*
 * tariff_load.h - builds a tariff (tariff.h) from its JSON configuration
 * (config.md "Tariff").  Kept apart from tariff.h so that the fee's users
 * never see cJSON.
 *
 * The configuration, every key optional:
 *
 *   key                 type                      default
 *   free_minutes        integer 0..1e9            0   (only d = 0 is free)
 *   increment_minutes   integer 1..1e9            1
 *   tiers               array of {upto_minutes    []  (day(r) is then
 *                       1..1e9, amount 0..1e9},        ceil(r/60) * overage)
 *                       upto_minutes strictly
 *                       increasing, both keys required
 *   overage_per_hour    integer amount 0..1e9     0
 *   daily_max           integer amount 0..1e9,    none
 *                       or null for none
 *   class_multiplier    object class -> mult      {}  (every class 1)
 *   peak                array of {days, from,     []  (never peak)
 *                       to, multiplier}, all
 *                       required; days a non-empty list of distinct
 *                       "mon".."sun"; from "HH:MM" 00:00..23:59; to
 *                       "HH:MM" 00:01..24:00; from < to (a window never
 *                       crosses midnight: split it in two)
 *   surge               array of                  []  (never surge)
 *                       {occupancy_at_least, multiplier}, both required;
 *                       thresholds in [0, 1] with at most six decimals,
 *                       strictly increasing
 *   max_multiplier      mult, or null for none    none
 *   lost_ticket         integer amount 0..1e9     0
 *   grace_minutes       integer 0..1e9            0
 *
 * A "mult" is a number > 0 and <= 100 with at most three decimals.
 * "Integer" means a JSON number with no fractional part.  Arrays and
 * class_multiplier hold at most TARIFF_MAX_ENTRIES entries; class names
 * must not be empty.  Unknown keys, wrong types and out-of-range values
 * are refused (duplicate keys already by the parser, json.h).  An empty
 * object is a valid tariff under which parking is free.
 */
#ifndef PARKD_TARIFF_LOAD_H
#define PARKD_TARIFF_LOAD_H

#include "json.h"
#include "tariff.h"

/*
 * Builds a tariff from obj, the "tariff" object of the config.  path is the
 * key path of obj used in messages (e.g. "tariff").  On any error returns
 * NULL with one message naming the offending key path in e, e.g.
 * "tariff.tiers[1].upto_minutes: must be greater than tiers[0].upto_minutes"
 * ("<path>: out of memory" with e->nomem).  obj is only read; the tariff
 * keeps no pointer into it.
 */
tariff *tariff_from_json(const cJSON *obj, const char *path,
    struct jerr *e);

#endif
