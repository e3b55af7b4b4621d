/*
 * tariff_impl.h - the inside of a tariff, shared by the fee code and the
 * writer (tariff.c) and the loader (tariff_load.c).  Nothing else
 * includes this.
 */
#ifndef PARKD_TARIFF_IMPL_H
#define PARKD_TARIFF_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tariff.h"

/* Bounds on configured values (see tariff.h). */
#define AMOUNT_MAX	1000000000LL	/* amounts and minutes */
#define MULT_MAX_MILLI	100000		/* a multiplier is at most 100 */
#define PPM		1000000		/* occupancy thresholds: 6 decimals */

struct tariff_tier {
	int64_t upto_minutes;
	int64_t amount;
};

struct tariff_class {
	char *name;			/* owned */
	int32_t milli;
};

struct tariff_peak {
	unsigned days;			/* bit w set: local weekday w (0 = Sunday) */
	int from_min, to_min;		/* minutes after local midnight, from < to */
	int32_t milli;
};

struct tariff_surge {
	uint32_t at_ppm;		/* occupancy_at_least in millionths */
	int32_t milli;
};

/*
 * Every value is validated on construction, so the fee code below never
 * checks again: tiers are strictly increasing, thresholds too, multipliers
 * are 1..MULT_MAX_MILLI, amounts and minutes 0..AMOUNT_MAX (increment >= 1).
 */
struct tariff {
	int64_t free_minutes;
	int64_t increment_minutes;
	int64_t overage_per_hour;
	int64_t daily_max;		/* -1: none */
	int64_t lost_ticket;
	int64_t grace_minutes;
	int32_t max_milli;		/* 0: no cap */
	size_t ntiers, nclasses, npeaks, nsurges;
	struct tariff_tier *tiers;
	struct tariff_class *classes;
	struct tariff_peak *peaks;
	struct tariff_surge *surges;
};

/*
 * The weekday names in config order, NULL-terminated: day i is local
 * weekday (i + 1) % 7 of local_time (0 = Sunday), bit (i + 1) % 7 of a
 * peak's days.
 */
extern const char *const tariff_days[8];

#define TARIFF_DAY_BIT(i) (1u << (((i) + 1) % 7))

#endif
