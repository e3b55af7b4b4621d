/*
 * tariff.h - the parking tariff of config.md ("Tariff"), in integer money.
 *
 * Pure: no I/O, no clock, no logging.  Times are Unix seconds passed in;
 * amounts are integers in the currency's minor unit (cents); multipliers
 * are integers in thousandths ("milli": 1.5 is 1500), so every fee is exact
 * and the same on every machine.
 *
 * Its configuration, every key and bound, is in tariff_load.h, which
 * builds one from JSON.
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

#include "jsonw.h"
#include "localtime.h"

typedef struct tariff tariff;

/* tiers, peak, surge and class_multiplier hold at most this many entries. */
#define TARIFF_MAX_ENTRIES 256

/* The largest amount any function here returns. */
#define TARIFF_AMOUNT_MAX (((int64_t)1 << 53) - 1)

/*
 * Writes t as one JSON object of the config's shape, with every key
 * present (defaults written out; daily_max and max_multiplier null when
 * none), so that tariff_from_json (tariff_load.h) of it gives an equal
 * tariff.
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
