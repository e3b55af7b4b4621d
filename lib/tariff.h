/*
 * tariff.h - the parking tariff of config.md ("Tariff"), in integer money.
 *
 * Pure: no I/O, no clock, no logging.  Times are Unix seconds passed in;
 * amounts are integers in the currency's minor unit (cents); multipliers
 * are integers in thousandths ("milli": 1.5 is 1500), so every fee is exact
 * and the same on every machine.
 *
 * Configuration (tariff_from_json), every key optional:
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
 * A "mult" is a number > 0 and <= 100 with at most three decimals.  "Integer"
 * means a JSON number with no fractional part.  Arrays and class_multiplier
 * hold at most TARIFF_MAX_ENTRIES entries; class names must not be empty.  Unknown keys, duplicate keys
 * (in any object of the tariff), wrong types and out-of-range values are
 * refused.  An empty object is a valid tariff under which parking is free.
 *
 * The fee (tariff_fee) follows config.md steps 1-7 exactly.  Amounts are
 * computed in 128-bit integers and saturate at TARIFF_AMOUNT_MAX (2^53 - 1,
 * the largest integer a JSON double carries exactly), which only absurd
 * durations (millions of years) can reach.
 */
#ifndef PARKD_TARIFF_H
#define PARKD_TARIFF_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "jsonw.h"
#include "localtime.h"

typedef struct tariff tariff;

/* tiers, peak, surge and class_multiplier hold at most this many entries. */
#define TARIFF_MAX_ENTRIES 256

/* The largest amount any function here returns. */
#define TARIFF_AMOUNT_MAX (((int64_t)1 << 53) - 1)

/*
 * Builds a tariff from obj, the "tariff" object of the config.  path is the
 * key path of obj used in messages (e.g. "tariff").  On any error returns
 * NULL and writes one NUL-terminated message naming the offending key path
 * into err (truncated to errlen; err may be NULL when errlen is 0), e.g.
 * "tariff.tiers[1].upto_minutes: must be greater than tiers[0].upto_minutes".
 * Out of memory is reported as "<path>: out of memory".  obj is only read;
 * the tariff keeps no pointer into it.
 */
tariff *tariff_from_json(const cJSON *obj, const char *path, char *err,
    size_t errlen);

/*
 * Writes t as one JSON object of the config's shape, with every key
 * present (defaults written out; daily_max and max_multiplier null when
 * none), so that tariff_from_json of it gives an equal tariff.
 */
void tariff_write(const tariff *t, struct jw *w);

/* Frees t.  Accepts NULL. */
void tariff_free(tariff *t);

/* The classes class_multiplier names, in the order given. */
size_t tariff_class_count(const tariff *t);
const char *tariff_class_name(const tariff *t, size_t i);
/* class_multiplier[vehicle_class] in thousandths; 1000 when not listed. */
int32_t tariff_class_milli(const tariff *t, const char *vehicle_class);

/*
 * The multiplier of the first peak window that contains the local time of
 * entered (from inclusive, to exclusive, on the local weekday of entered),
 * in thousandths; 1000 when none does or when lt gives no valid local time.
 * lt(lt_ud, ...) gives the facility's local time; a NULL lt is UTC.
 */
int32_t tariff_peak_milli(const tariff *t, local_time_fn lt, void *lt_ud,
    int64_t entered);

/*
 * The multiplier of the surge step with the highest occupancy_at_least <=
 * occupied / total, compared exactly in integers, in thousandths; 1000 when
 * no step applies or total is 0.
 */
int32_t tariff_surge_milli(const tariff *t, uint64_t occupied,
    uint64_t total);

/* Every step of one fee computation, for receipts and kiosks. */
struct tariff_quote {
	int64_t duration_s;	/* step 1: d = at - entered, at least 0 */
	int free;		/* step 1: 1 when d <= 60 * free_minutes */
	int64_t minutes;	/* step 2: m, rounded up to the increment */
	int64_t days;		/* step 3: k = floor(m / 1440) */
	int64_t rest_minutes;	/* step 3: r = m - 1440 k */
	int64_t day_amount;	/* step 4: day(r), capped at daily_max */
	int64_t base;		/* step 5: k * (daily_max or day(1440)) + day(r) */
	int32_t class_milli, peak_milli, surge_milli;	/* step 6 inputs */
	int32_t multiplier_milli;	/* step 6: the product, capped */
	int64_t fee;		/* step 7 */
};

/*
 * The fee for a stay from entered to at (config.md steps 1-7) with the
 * given multipliers in thousandths (usually tariff_class_milli of the
 * vehicle and the peak and surge fixed on the ticket at entry).  at before
 * entered counts as 0 seconds.  Negative multipliers count as 0.  The
 * product class x peak x surge is truncated to thousandths after each
 * multiplication, saturates at INT32_MAX and is then capped at
 * max_multiplier.  fee = (base * multiplier + 500) / 1000.  When q is not
 * NULL every step is stored there (on a free stay: minutes, days,
 * rest_minutes, day_amount and base are 0; the multipliers are still
 * filled in).  A NULL t makes every stay free.  Returns the fee,
 * 0..TARIFF_AMOUNT_MAX.
 */
int64_t tariff_fee(const tariff *t, int64_t entered, int64_t at,
    int32_t class_milli, int32_t peak_milli, int32_t surge_milli,
    struct tariff_quote *q);

/*
 * Writes the steps of q as elements of a JSON array the caller has opened
 * (and closes, after any steps of its own), in order:
 *   {"step":"duration","seconds":d}
 *   {"step":"free_minutes","free":true|false}
 * and then, for a free stay, only {"step":"fee","amount":0}; otherwise
 *   {"step":"rounded_minutes","minutes":m}
 *   {"step":"days","count":k,"amount":base - day(r)}
 *   {"step":"day","minutes":r,"amount":day(r)}
 *   {"step":"base","amount":base}
 *   {"step":"multiplier","class_milli":c,"peak_milli":p,"surge_milli":s,
 *    "total_milli":m}
 *   {"step":"fee","amount":fee}
 */
void tariff_breakdown_steps(const struct tariff_quote *q, struct jw *w);

/* lost_ticket: the least a lost ticket pays. */
int64_t tariff_lost_fee(const tariff *t);
/* grace_minutes in seconds: how long a payment covers the stay. */
int64_t tariff_grace_s(const tariff *t);

#endif
