/*
 * benchutil.h - what the core's micro-benchmarks share: a fixed
 * pseudo-random sequence (the same numbers on every run, so two runs
 * measure the same work), clocks, the resident set size, and a garage of
 * a given size built through the same loaders the daemon uses.
 */
#ifndef PARKD_BENCHUTIL_H
#define PARKD_BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "facility_load.h"
#include "garage.h"
#include "tariff_load.h"

#define BENCH_ROWLEN 100

static uint64_t bench_rng_state = 88172645463325252ULL;

/* xorshift64: fast, and good enough to pick plates and spots. */
static inline uint64_t
bench_rng(void)
{
	bench_rng_state ^= bench_rng_state << 13;
	bench_rng_state ^= bench_rng_state >> 7;
	bench_rng_state ^= bench_rng_state << 17;
	return bench_rng_state;
}

/* Seconds on clock id. */
static inline double
bench_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock seconds (monotonic). */
static inline double
bench_now(void)
{
	return bench_clock(CLOCK_MONOTONIC);
}

/* Seconds of this process's CPU time: what a loaded machine disturbs less. */
static inline double
bench_cpu_now(void)
{
	return bench_clock(CLOCK_PROCESS_CPUTIME_ID);
}

/* Resident set size in bytes, from /proc/self/statm (0 if unreadable). */
static inline long
bench_rss_bytes(void)
{
	long size = 0, resident = 0;
	FILE *fp = fopen("/proc/self/statm", "r");

	if (fp == NULL)
		return 0;
	if (fscanf(fp, "%ld %ld", &size, &resident) != 2)
		resident = 0;
	fclose(fp);
	return resident * sysconf(_SC_PAGESIZE);
}

/*
 * A garage named Bench: `regular` regular spots in rows of BENCH_ROWLEN
 * over levels 0-3, then one row of `oversized` oversized spots when that
 * is not 0; the gates gate_ids[0..ngates) (entry and exit, 100 m apart on
 * level 0); cars fit regular, and vans oversized when there are any;
 * the example tariff.  Exits
 * with who's name on a failure: a benchmark has nothing to fall back to.
 */
static inline garage *
bench_garage(const char *who, uint32_t regular, uint32_t oversized,
    const char *const *gate_ids, int ngates, enum alloc_strategy strategy,
    size_t keep_closed)
{
	cJSON *f = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(f, "rows");
	cJSON *gates = cJSON_AddArrayToObject(f, "gates");
	/* A class must fit a type the facility has: vans only with oversized. */
	cJSON *veh = cJSON_Parse(oversized > 0 ?
	    "{\"car\":{\"fits\":[\"regular\"]},\"van\":{\"fits\":[\"oversized\"]}}" :
	    "{\"car\":{\"fits\":[\"regular\"]}}");
	cJSON *tj = cJSON_Parse("{\"free_minutes\":15,\"increment_minutes\":15,"
	    "\"tiers\":[{\"upto_minutes\":60,\"amount\":300}],\"overage_per_hour\":200,"
	    "\"daily_max\":2500,\"lost_ticket\":5000,\"grace_minutes\":15}");
	uint32_t nrows = regular / BENCH_ROWLEN + (oversized > 0);
	char err[256] = "", zone[32];
	facility *fac;
	tariff *t;
	garage *gar;

	cJSON_AddStringToObject(f, "name", "Bench");
	for (int i = 0; i < ngates; i++) {
		cJSON *g = cJSON_CreateObject();

		cJSON_AddStringToObject(g, "id", gate_ids[i]);
		cJSON_AddStringToObject(g, "role", "both");
		cJSON_AddNumberToObject(g, "level", 0);
		cJSON_AddNumberToObject(g, "x", 100.0 * i);
		cJSON_AddNumberToObject(g, "y", 0);
		cJSON_AddItemToArray(gates, g);
	}
	for (uint32_t r = 0; r < nrows; r++) {
		cJSON *row = cJSON_CreateObject();
		int big = r == regular / BENCH_ROWLEN;

		snprintf(zone, sizeof(zone), "Z%u", r);
		cJSON_AddNumberToObject(row, "level", r % 4);
		cJSON_AddStringToObject(row, "zone", zone);
		cJSON_AddStringToObject(row, "type", big ? "oversized" : "regular");
		cJSON_AddNumberToObject(row, "count", big ? oversized : BENCH_ROWLEN);
		cJSON_AddNumberToObject(row, "x", 0);
		cJSON_AddNumberToObject(row, "y", 6.0 * (r / 4));
		cJSON_AddNumberToObject(row, "dx", 2.5);
		cJSON_AddNumberToObject(row, "dy", 0);
		cJSON_AddItemToArray(rows, row);
	}
	fac = facility_from_json(f, veh, &(struct jerr){ err, sizeof(err), 0 });
	t = fac == NULL ? NULL :
	    tariff_from_json(tj, "tariff", &(struct jerr){ err, sizeof(err), 0 });
	cJSON_Delete(f);
	cJSON_Delete(veh);
	cJSON_Delete(tj);
	if (fac == NULL || t == NULL) {
		fprintf(stderr, "%s: %s\n", who, err);
		exit(1);
	}
	gar = garage_new(fac, t, NULL, NULL, strategy, keep_closed);
	if (gar == NULL) {
		fprintf(stderr, "%s: out of memory\n", who);
		exit(1);
	}
	return gar;
}

#endif
