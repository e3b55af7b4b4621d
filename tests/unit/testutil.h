/*
 * testutil.h - helpers shared by the unit tests: JSON written with ' for "
 * (to keep inline configs readable), a small garage built from inline JSON,
 * deterministic ids, and the local time from the C library in a zone the
 * test sets.
 *
 * Include after <cmocka.h>.  Everything here is static inline so that a
 * test file that does not use a helper does not warn about it.
 */
#ifndef PARKD_TESTUTIL_H
#define PARKD_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "facility_load.h"
#include "garage.h"
#include "json.h"
#include "jsonw.h"
#include "../common/jtree.h"
#include "localtime.h"
#include "tariff_load.h"

/* A copy of text with every ' turned into " (the caller frees it). */
static inline char *
tu_quote(const char *text)
{
	char *s = strdup(text);

	assert_non_null(s);
	for (char *p = s; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return s;
}

/*
 * Parses text written with ' for " with the strict parser, root naming
 * the text in messages; NULL with the message in err when refused.
 */
static inline cJSON *
tu_parse(const char *text, const char *root, char *err, size_t errlen)
{
	char *s = tu_quote(text);
	cJSON *j = json_parse(s, strlen(s), root,
	    &(struct jerr){ err, errlen, 0 });

	free(s);
	return j;
}

/* The same, failing the test when text is refused. */
static inline cJSON *
tu_json(const char *text)
{
	char err[256] = "";
	cJSON *j = tu_parse(text, "", err, sizeof(err));

	if (j == NULL)
		fail_msg("bad test JSON (%s): %s", err, text);
	return j;
}

/*
 * The small facility most tests use.  Distances from north (0,0,level 0):
 * A-01 10, A-02 20, A-03 30; B-01 20, B-02 30, B-03 40, B-04 50 (tag ev);
 * C-01 50, C-02 60 (level 1, +40).  south is exit only, ramp is both (on
 * level 1, at x 100).
 */
#define TU_FACILITY \
    "{ 'name': 'Test Garage', 'timezone': 'UTC', 'currency': 'EUR'," \
    "  'level_distance': 40," \
    "  'gates': [" \
    "    { 'id': 'north', 'role': 'entry', 'level': 0, 'x': 0,   'y': 0 }," \
    "    { 'id': 'south', 'role': 'exit',  'level': 0, 'x': 100, 'y': 0 }," \
    "    { 'id': 'ramp',  'role': 'both',  'level': 1, 'x': 100, 'y': 0 } ]," \
    "  'rows': [" \
    "    { 'level': 0, 'zone': 'A', 'type': 'compact',   'count': 3, 'x': 10, 'y': 0,  'dx': 10, 'dy': 0 }," \
    "    { 'level': 0, 'zone': 'B', 'type': 'regular',   'count': 4, 'x': 10, 'y': 10, 'dx': 10, 'dy': 0, 'tags': ['ev'] }," \
    "    { 'level': 1, 'zone': 'C', 'type': 'oversized', 'count': 2, 'x': 10, 'y': 0,  'dx': 10, 'dy': 0 } ] }"

#define TU_VEHICLES \
    "{ 'motorcycle': { 'fits': ['compact', 'regular'] }," \
    "  'car': { 'fits': ['regular', 'oversized'] }," \
    "  'van': { 'fits': ['oversized'] }," \
    "  'bus': { 'fits': ['oversized'], 'contiguous': { 'type': 'regular', 'count': 3 } } }"

/*
 * 15 free minutes, 15-minute steps, 300 up to an hour, 800 up to three,
 * 1500 up to ten, 200 an hour beyond, 2500 a day; van 1.5; peak 1.5 on
 * weekdays 07:30-09:30 UTC; surge 1.25 from half full (5 of 9), 2 from 8 of 9;
 * lost ticket 5000; 15 minutes of grace.
 */
#define TU_TARIFF \
    "{ 'free_minutes': 15, 'increment_minutes': 15," \
    "  'tiers': [ { 'upto_minutes': 60, 'amount': 300 }," \
    "             { 'upto_minutes': 180, 'amount': 800 }," \
    "             { 'upto_minutes': 600, 'amount': 1500 } ]," \
    "  'overage_per_hour': 200, 'daily_max': 2500," \
    "  'class_multiplier': { 'motorcycle': 0.5, 'car': 1, 'van': 1.5, 'bus': 4 }," \
    "  'peak': [ { 'days': ['mon','tue','wed','thu','fri'], 'from': '07:30', 'to': '09:30', 'multiplier': 1.5 } ]," \
    "  'surge': [ { 'occupancy_at_least': 0.5, 'multiplier': 1.25 }," \
    "             { 'occupancy_at_least': 0.888888, 'multiplier': 2 } ]," \
    "  'max_multiplier': 3, 'lost_ticket': 5000, 'grace_minutes': 15 }"

static inline facility *
tu_facility(const char *fac, const char *veh)
{
	char err[256] = "";
	cJSON *jf = tu_json(fac);
	cJSON *jv = veh != NULL ? tu_json(veh) : NULL;
	facility *f = facility_from_json(jf, jv,
	    &(struct jerr){ err, sizeof(err), 0 });

	cJSON_Delete(jf);
	cJSON_Delete(jv);
	if (f == NULL)
		fail_msg("facility: %s", err);
	return f;
}

/* The smallest tariff a configuration may give: parking is free. */
#define TU_MIN_TARIFF_KEYS "'free_minutes': 0, 'increment_minutes': 1, " \
    "'tiers': [ { 'upto_minutes': 1440, 'amount': 0 } ], 'overage_per_hour': 0, " \
    "'grace_minutes': 0"
#define TU_MIN_TARIFF "{ " TU_MIN_TARIFF_KEYS ", 'lost_ticket': 0 }"
/* The same in plain JSON, for inline commands (no quote conversion). */
#define TU_MIN_TARIFF_JSON_KEYS "\"free_minutes\":0,\"increment_minutes\":1," \
    "\"tiers\":[{\"upto_minutes\":1440,\"amount\":0}],\"overage_per_hour\":0," \
    "\"grace_minutes\":0"
#define TU_MIN_TARIFF_JSON "{" TU_MIN_TARIFF_JSON_KEYS ",\"lost_ticket\":0}"

/*
 * Adds the keys every tariff must give, when a test leaves them out to
 * say "whatever does not matter here": no free minutes, 1-minute
 * increments, no overage, no lost-ticket fee, no grace, and one tier of a
 * whole day at no charge.  Returns j.
 */
static inline cJSON *
tu_complete_tariff(cJSON *j)
{
	static const char *const zero[] = { "free_minutes", "overage_per_hour",
	    "lost_ticket", "grace_minutes", NULL };

	if (!cJSON_IsObject(j))
		return j;
	for (size_t i = 0; zero[i] != NULL; i++)
		if (cJSON_GetObjectItemCaseSensitive(j, zero[i]) == NULL)
			cJSON_AddNumberToObject(j, zero[i], 0);
	if (cJSON_GetObjectItemCaseSensitive(j, "increment_minutes") == NULL)
		cJSON_AddNumberToObject(j, "increment_minutes", 1);
	if (cJSON_GetObjectItemCaseSensitive(j, "tiers") == NULL) {
		cJSON *tier = cJSON_CreateObject();
		cJSON *tiers = cJSON_AddArrayToObject(j, "tiers");

		cJSON_AddNumberToObject(tier, "upto_minutes", 1440);
		cJSON_AddNumberToObject(tier, "amount", 0);
		cJSON_AddItemToArray(tiers, tier);
	}
	return j;
}

static inline tariff *
tu_tariff(const char *text)
{
	char err[256] = "";
	cJSON *j = tu_complete_tariff(tu_json(text));
	tariff *t = tariff_from_json(j, "tariff",
	    &(struct jerr){ err, sizeof(err), 0 });

	cJSON_Delete(j);
	if (t == NULL)
		fail_msg("tariff: %s", err);
	return t;
}

/* A garage over the given facility/vehicles/tariff in UTC. */
static inline garage *
tu_garage_from(const char *fac, const char *veh, const char *tar,
    enum alloc_strategy s, size_t keep_closed)
{
	garage *g = garage_new(tu_facility(fac, veh), tu_tariff(tar), NULL, NULL,
	    s, keep_closed);

	assert_non_null(g);
	return g;
}

static inline garage *
tu_garage(enum alloc_strategy s, size_t keep_closed)
{
	return tu_garage_from(TU_FACILITY, TU_VEHICLES, TU_TARIFF, s, keep_closed);
}

/* Deterministic UUID-shaped ids: ...-7000-8000-<12 hex digits of n>. */
static inline void
tu_id(unsigned n, char out[UUID_BUFSZ])
{
	snprintf(out, UUID_BUFSZ, "00000000-0000-7000-8000-%012x", n);
}

/* The spot number of a spot id; fails the test when there is none. */
static inline uint32_t
tu_spot(const garage *g, const char *name)
{
	uint32_t s;

	if (facility_spot_lookup(garage_facility(g), name, &s) != 0)
		fail_msg("no spot %s", name);
	return s;
}

/* The name of spot s. */
static inline const char *
tu_spot_name(const garage *g, uint32_t s)
{
	static char name[48];

	facility_spot_name(garage_facility(g), s, name);
	return name;
}

/*
 * Makes zone (e.g. "Europe/Berlin", a zone that is not UTC all year) the
 * process's time zone, as the daemon does with facility.timezone, and
 * checks that the C library took it: it falls back to UTC without a word
 * when it cannot read the zone, and a DST test would then test nothing.
 * tzdata is a test dependency (scripts/deps.sh): a missing zone fails.
 */
static inline void
tu_set_tz(const char *zone)
{
	/* 2026-01-01 and 2026-07-01, 00:00 UTC. */
	time_t winter = 1767225600, summer = 1782864000;
	char path[256];
	struct tm w, su;

	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", zone);
	if (access(path, R_OK) != 0)
		fail_msg("%s: not readable (install tzdata)", path);
	assert_int_equal(setenv("TZ", zone, 1), 0);
	tzset();
	assert_non_null(localtime_r(&winter, &w));
	assert_non_null(localtime_r(&summer, &su));
	if (w.tm_gmtoff == 0 && su.tm_gmtoff == 0)
		fail_msg("TZ=%s: the C library fell back to UTC", zone);
}

/*
 * A local_time_fn (lib/localtime.h) on localtime_r, like the daemon's:
 * the zone is whatever tu_set_tz made it.
 */
static inline void
tu_local_time(void *ud, int64_t t, struct local_time *out)
{
	time_t tt = (time_t)t;
	struct tm tm;

	(void)ud;
	if (localtime_r(&tt, &tm) == NULL) {
		out->wday = -1;
		out->hour = out->minute = out->second = 0;
		return;
	}
	out->wday = tm.tm_wday;
	out->hour = tm.tm_hour;
	out->minute = tm.tm_min;
	out->second = tm.tm_sec;
}

/* Seconds: 2026-11-23 is a Monday; T0 is 10:00 UTC that day (not peak). */
#define TU_MON_0000 ((int64_t)1795392000)
#define TU_T0 (TU_MON_0000 + 10 * 3600)

/* A parsed tree as compact JSON text (NULL when out of memory). */
static inline char *
tu_print(const cJSON *j)
{
	struct jw w;

	jw_init(&w);
	jt_write(&w, j);
	return jw_take(&w, NULL);
}

#endif
