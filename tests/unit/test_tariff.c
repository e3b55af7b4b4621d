/*
 * test_tariff.c - the tariff of config.md, checked against worked examples.
 *
 * Every expected fee below was computed by hand from config.md's example
 * tariff (free 15 min, 15-min increments, tiers 60/300, 180/800, 600/1500,
 * 200 per started hour beyond, daily max 2500, ...); the arithmetic is in
 * the comment next to each case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "localtime.h"
#include "rfc3339.h"
#include "tariff_load.h"
#include "testutil.h"

static const char example_json[] =
    "{"
    "  \"free_minutes\": 15,"
    "  \"increment_minutes\": 15,"
    "  \"tiers\": [ { \"upto_minutes\": 60,   \"amount\": 300 },"
    "             { \"upto_minutes\": 180,  \"amount\": 800 },"
    "             { \"upto_minutes\": 600,  \"amount\": 1500 } ],"
    "  \"overage_per_hour\": 200,"
    "  \"daily_max\": 2500,"
    "  \"class_multiplier\": { \"motorcycle\": 0.5, \"car\": 1, \"van\": 1.5, \"bus\": 4 },"
    "  \"peak\": [ { \"days\": [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"], \"from\": \"07:30\", \"to\": \"09:30\", \"multiplier\": 1.5 } ],"
    "  \"surge\": [ { \"occupancy_at_least\": 0.9, \"multiplier\": 1.25 },"
    "             { \"occupancy_at_least\": 0.97, \"multiplier\": 1.5 } ],"
    "  \"max_multiplier\": 3,"
    "  \"lost_ticket\": 5000,"
    "  \"grace_minutes\": 15"
    "}";

/* A Monday, 12:00 UTC: any entry time works, the fee only uses d. */
#define E ((int64_t)1795435200)	/* 2026-11-23T12:00:00Z */

static cJSON *
parse_json(const char *s)
{
	char err[256] = "";
	cJSON *j = json_parse(s, strlen(s), "tariff",
	    &(struct jerr){ err, sizeof(err), 0 });

	if (j == NULL)
		fail_msg("bad test JSON (%s): %s", err, s);
	return j;
}

static tariff *
make(const char *json)
{
	char err[256] = "";
	cJSON *j = tu_complete_tariff(parse_json(json));
	tariff *t = tariff_from_json(j, "tariff", &(struct jerr){ err, sizeof(err), 0 });

	cJSON_Delete(j);
	if (t == NULL)
		fail_msg("refused: %s", err);
	return t;
}

static int
setup_example(void **state)
{
	*state = make(example_json);
	return 0;
}

static int
teardown_tariff(void **state)
{
	tariff_free(*state);
	return 0;
}

static int64_t
at(const char *s)
{
	int64_t t;

	assert_int_equal(rfc3339_parse(s, strlen(s), &t), 0);
	return t;
}

/* The fee of a car with no peak and no surge for a stay of d seconds. */
static int64_t
car(const tariff *t, int64_t d)
{
	return tariff_fee(t, E, E + d, 1000, 1000, 1000, NULL);
}

/* ---- steps 1-5: duration, free minutes, increments, tiers, days ---- */

static void
test_free_minutes_edge(void **state)
{
	const tariff *t = *state;
	struct tariff_quote q;

	assert_int_equal(car(t, 0), 0);
	/* d = 900 <= 60 * 15: free. */
	assert_int_equal(tariff_fee(t, E, E + 900, 1000, 1000, 1000, &q), 0);
	assert_int_equal(q.free, 1);
	assert_int_equal(q.duration_s, 900);
	assert_int_equal(q.minutes, 0);
	assert_int_equal(q.base, 0);
	/* d = 901: m = ceil(901/60) = 16 -> 30; tier 60 -> 300. */
	assert_int_equal(tariff_fee(t, E, E + 901, 1000, 1000, 1000, &q), 300);
	assert_int_equal(q.free, 0);
	assert_int_equal(q.minutes, 30);
	assert_int_equal(q.day_amount, 300);
	/* Leaving before entering counts as 0 seconds. */
	assert_int_equal(tariff_fee(t, E, E - 5000, 1000, 1000, 1000, &q), 0);
	assert_int_equal(q.duration_s, 0);
	assert_int_equal(q.free, 1);
}

static void
test_increments(void **state)
{
	const tariff *t = *state;
	struct tariff_quote q;

	/* Started minutes, then up to a multiple of 15. */
	tariff_fee(t, E, E + 1800, 1000, 1000, 1000, &q);	/* 30 -> 30 */
	assert_int_equal(q.minutes, 30);
	tariff_fee(t, E, E + 1801, 1000, 1000, 1000, &q);	/* 31 -> 45 */
	assert_int_equal(q.minutes, 45);
	tariff_fee(t, E, E + 2700, 1000, 1000, 1000, &q);	/* 45 -> 45 */
	assert_int_equal(q.minutes, 45);
	tariff_fee(t, E, E + 2701, 1000, 1000, 1000, &q);	/* 46 -> 60 */
	assert_int_equal(q.minutes, 60);
	assert_int_equal(q.fee, 300);
	/* Increment 1 (the default): started minutes only. */
	{
		tariff *t1 = make("{\"tiers\":[{\"upto_minutes\":1,\"amount\":7},"
		    "{\"upto_minutes\":2,\"amount\":9}]}");

		assert_int_equal(tariff_fee(t1, E, E + 60, 1000, 1000, 1000, &q), 7);
		assert_int_equal(q.minutes, 1);
		assert_int_equal(tariff_fee(t1, E, E + 61, 1000, 1000, 1000, &q), 9);
		assert_int_equal(q.minutes, 2);
		/* free_minutes 0: only a zero-second stay is free. */
		assert_int_equal(tariff_fee(t1, E, E + 1, 1000, 1000, 1000, &q), 7);
		assert_int_equal(q.free, 0);
		assert_int_equal(tariff_fee(t1, E, E, 1000, 1000, 1000, &q), 0);
		assert_int_equal(q.free, 1);
		tariff_free(t1);
	}
}

static void
test_tier_edges(void **state)
{
	const tariff *t = *state;

	assert_int_equal(car(t, 60 * 60), 300);		/* 60 -> tier 60 */
	assert_int_equal(car(t, 60 * 60 + 1), 800);	/* 61 -> 75 -> tier 180 */
	assert_int_equal(car(t, 61 * 60), 800);
	assert_int_equal(car(t, 180 * 60), 800);	/* 180 -> tier 180 */
	assert_int_equal(car(t, 180 * 60 + 1), 1500);	/* 181 -> 195 -> 600 */
	assert_int_equal(car(t, 181 * 60), 1500);
	assert_int_equal(car(t, 600 * 60), 1500);	/* 600 -> tier 600 */
	/* 601 -> 615: 1500 + ceil(15/60) * 200 = 1700. */
	assert_int_equal(car(t, 600 * 60 + 1), 1700);
	assert_int_equal(car(t, 601 * 60), 1700);
}

static void
test_overage(void **state)
{
	const tariff *t = *state;

	assert_int_equal(car(t, 660 * 60), 1700);	/* 1500 + 1*200 */
	assert_int_equal(car(t, 661 * 60), 1900);	/* 675: 1500 + 2*200 */
	assert_int_equal(car(t, 720 * 60), 1900);
	assert_int_equal(car(t, 735 * 60), 2100);	/* 1500 + 3*200 */
	assert_int_equal(car(t, 780 * 60), 2100);
	assert_int_equal(car(t, 840 * 60), 2300);	/* 1500 + 4*200 */
	assert_int_equal(car(t, 855 * 60), 2500);	/* 1500 + 5*200 */
}

static void
test_daily_max(void **state)
{
	const tariff *t = *state;
	struct tariff_quote q;

	/* 915: 1500 + 6*200 = 2700, capped at 2500. */
	assert_int_equal(car(t, 915 * 60), 2500);
	/* 1425: 1500 + 14*200 = 4300, capped. */
	assert_int_equal(tariff_fee(t, E, E + 1425 * 60, 1000, 1000, 1000, &q),
	    2500);
	assert_int_equal(q.days, 0);
	assert_int_equal(q.rest_minutes, 1425);
	assert_int_equal(q.day_amount, 2500);
	assert_int_equal(car(t, 1440 * 60 - 1), 2500);
}

static void
test_multi_day(void **state)
{
	const tariff *t = *state;
	struct tariff_quote q;

	/* 1 day + 0 minutes: k = 1, r = 0: 2500. */
	assert_int_equal(tariff_fee(t, E, E + 86400, 1000, 1000, 1000, &q), 2500);
	assert_int_equal(q.minutes, 1440);
	assert_int_equal(q.days, 1);
	assert_int_equal(q.rest_minutes, 0);
	assert_int_equal(q.day_amount, 0);
	assert_int_equal(q.base, 2500);
	/* 1 day + 1 s: 1441 -> 1455, r = 15: 2500 + 300. */
	assert_int_equal(car(t, 86400 + 1), 2800);
	/* Free minutes are step 1 only: the 15 minutes after a day are paid. */
	assert_int_equal(car(t, 86400 + 900), 2800);
	/* 2 days + 30 minutes: 2 * 2500 + 300. */
	assert_int_equal(tariff_fee(t, E, E + 2 * 86400 + 1800, 1000, 1000,
	    1000, &q), 5300);
	assert_int_equal(q.minutes, 2910);
	assert_int_equal(q.days, 2);
	assert_int_equal(q.rest_minutes, 30);
	assert_int_equal(q.day_amount, 300);
	assert_int_equal(q.base, 5300);
	/* 3 days + 601 min (615): 7500 + 1700. */
	assert_int_equal(car(t, 3 * 86400 + 601 * 60), 9200);
	/* 8000 years: 4204800000 min = 2920000 days exactly, * 2500. */
	assert_int_equal(car(t, (int64_t)8000 * 365 * 86400), 7300000000);
	assert_int_equal(tariff_fee(t, E, E + (int64_t)8000 * 365 * 86400,
	    4000, 1000, 1000, NULL), 21900000000);
}

static void
test_no_daily_max(void **state)
{
	tariff *t = make("{\"free_minutes\":15,\"increment_minutes\":15,"
	    "\"tiers\":[{\"upto_minutes\":60,\"amount\":300},"
	    "{\"upto_minutes\":180,\"amount\":800},"
	    "{\"upto_minutes\":600,\"amount\":1500}],\"overage_per_hour\":200}");

	(void)state;
	/* 915: 1500 + 6*200, no cap. */
	assert_int_equal(car(t, 915 * 60), 2700);
	/* A whole day costs day(1440) = 1500 + 14*200 = 4300. */
	assert_int_equal(car(t, 86400), 4300);
	/* 1 day + 30 min: 4300 + 300. */
	assert_int_equal(car(t, 86400 + 1800), 4600);
	tariff_free(t);
	/* daily_max 0 is a cap of 0, not "none": every day is free. */
	t = make("{\"tiers\":[{\"upto_minutes\":60,\"amount\":300}],"
	    "\"overage_per_hour\":200,\"daily_max\":0}");
	assert_int_equal(car(t, 1800), 0);
	assert_int_equal(car(t, 2 * 86400 + 1800), 0);
	tariff_free(t);
}

/*
 * Beyond the last tier each hour costs overage_per_hour; a free tier of a
 * minute makes that the whole day's rule.
 */
static void
test_overage_only(void **state)
{
	tariff *t = make("{\"overage_per_hour\":100,"
	    "\"tiers\":[{\"upto_minutes\":1,\"amount\":0}]}");
	tariff *free_day = make("{}");
	struct tariff_quote q;

	(void)state;
	/* r minutes: day(r) = 0 up to 1, then ceil((r - 1) / 60) * 100. */
	assert_int_equal(car(t, 60), 0);
	assert_int_equal(car(t, 61), 100);
	assert_int_equal(car(t, 3660), 100);
	assert_int_equal(car(t, 3661), 200);
	assert_int_equal(car(t, 86400), 2400);		/* day(1440) */
	/* A day's tier of 0 charges nothing, but a stay is not "free". */
	assert_int_equal(tariff_fee(free_day, E, E + 86400 * 3, 4000, 1500, 1500,
	    &q), 0);
	assert_int_equal(q.free, 0);
	assert_int_equal(q.minutes, 4320);
	assert_int_equal(q.multiplier_milli, 9000);	/* no cap by default */
	assert_int_equal(tariff_lost_fee(free_day), 0);
	assert_int_equal(tariff_grace_s(free_day), 0);
	tariff_free(t);
	tariff_free(free_day);
}

/* ---- steps 6-7: multipliers and rounding ---- */

static void
test_class_multipliers(void **state)
{
	const tariff *t = *state;
	int32_t moto = tariff_class_milli(t, "motorcycle");
	int32_t van = tariff_class_milli(t, "van");
	int32_t bus = tariff_class_milli(t, "bus");
	struct tariff_quote q;

	assert_int_equal(moto, 500);
	assert_int_equal(tariff_class_milli(t, "car"), 1000);
	assert_int_equal(van, 1500);
	assert_int_equal(bus, 4000);
	assert_int_equal(tariff_class_milli(t, "truck"), 1000);
	assert_int_equal(tariff_class_milli(t, "Van"), 1000);	/* exact names */
	assert_int_equal(tariff_class_milli(t, NULL), 1000);

	/* Motorcycle: (300 * 500 + 500) / 1000 = 150; 1700 -> 850. */
	assert_int_equal(tariff_fee(t, E, E + 3600, moto, 1000, 1000, NULL), 150);
	assert_int_equal(tariff_fee(t, E, E + 601 * 60, moto, 1000, 1000, NULL),
	    850);
	/* With surge 1.25: 625 milli; 300 * 0.625 = 187.5 rounds up to 188. */
	assert_int_equal(tariff_fee(t, E, E + 3600, moto, 1000, 1250, &q), 188);
	assert_int_equal(q.multiplier_milli, 625);
	/* 1700 * 0.625 = 1062.5 -> 1063; 800 * 0.625 = 500 exactly. */
	assert_int_equal(tariff_fee(t, E, E + 601 * 60, moto, 1000, 1250, NULL),
	    1063);
	assert_int_equal(tariff_fee(t, E, E + 3601, moto, 1000, 1250, NULL), 500);
	/* Van: 300 -> 450, 800 -> 1200, 1700 -> 2550, 2500 -> 3750. */
	assert_int_equal(tariff_fee(t, E, E + 3600, van, 1000, 1000, NULL), 450);
	assert_int_equal(tariff_fee(t, E, E + 3601, van, 1000, 1000, NULL), 1200);
	assert_int_equal(tariff_fee(t, E, E + 601 * 60, van, 1000, 1000, NULL),
	    2550);
	assert_int_equal(tariff_fee(t, E, E + 915 * 60, van, 1000, 1000, NULL),
	    3750);
	/* Bus: 4 capped at max_multiplier 3: 300 -> 900, 2500 -> 7500. */
	assert_int_equal(tariff_fee(t, E, E + 3600, bus, 1000, 1000, &q), 900);
	assert_int_equal(q.class_milli, 4000);
	assert_int_equal(q.multiplier_milli, 3000);
	assert_int_equal(tariff_fee(t, E, E + 86400, bus, 1000, 1000, NULL), 7500);
}

/* The "+ 500" rounds half up, visible with odd amounts. */
static void
test_half_up_rounding(void **state)
{
	tariff *t = make("{\"tiers\":[{\"upto_minutes\":60,\"amount\":301},"
	    "{\"upto_minutes\":120,\"amount\":299}],"
	    "\"class_multiplier\":{\"motorcycle\":0.5}}");
	int32_t moto = tariff_class_milli(t, "motorcycle");

	(void)state;
	/* 301 * 0.5 = 150.5 -> 151; 299 * 0.5 = 149.5 -> 150. */
	assert_int_equal(tariff_fee(t, E, E + 3600, moto, 1000, 1000, NULL), 151);
	assert_int_equal(tariff_fee(t, E, E + 3601, moto, 1000, 1000, NULL), 150);
	/* 301 * 0.499 = 150.199 -> 150; 301 * 0.501 = 150.801 -> 151. */
	assert_int_equal(tariff_fee(t, E, E + 3600, 499, 1000, 1000, NULL), 150);
	assert_int_equal(tariff_fee(t, E, E + 3600, 501, 1000, 1000, NULL), 151);
	tariff_free(t);
}

static void
test_truncation_after_each_multiplication(void **state)
{
	const tariff *t = *state;
	struct tariff_quote q;

	/*
	 * Motorcycle x peak x surge: 500 * 1500 / 1000 = 750, then
	 * 750 * 1250 / 1000 = 937.5 -> 937.  Day cap 2500:
	 * (2500 * 937 + 500) / 1000 = 2343 (the exact 0.9375 would give 2344).
	 */
	assert_int_equal(tariff_fee(t, E, E + 915 * 60, 500, 1500, 1250, &q),
	    2343);
	assert_int_equal(q.multiplier_milli, 937);
	/* Van x peak x surge: 2250 * 1250 / 1000 = 2812.5 -> 2812; 7030. */
	assert_int_equal(tariff_fee(t, E, E + 915 * 60, 1500, 1500, 1250, &q),
	    7030);
	assert_int_equal(q.multiplier_milli, 2812);
	/* Car x peak x surge 1.25: 1875; 300 * 1.875 = 562.5 -> 563. */
	assert_int_equal(tariff_fee(t, E, E + 3600, 1000, 1500, 1250, &q), 563);
	assert_int_equal(q.multiplier_milli, 1875);
	/* Truncation after the first product too: 333 * 333 / 1000 = 110. */
	tariff_fee(t, E, E + 3600, 333, 333, 1000, &q);
	assert_int_equal(q.multiplier_milli, 110);
	/* 110 * 1999 / 1000 = 219.89 -> 219. */
	tariff_fee(t, E, E + 3600, 333, 333, 1999, &q);
	assert_int_equal(q.multiplier_milli, 219);
}

static void
test_max_multiplier(void **state)
{
	const tariff *t = *state;
	tariff *nocap;
	struct tariff_quote q;

	/* Van x peak x surge 1.5 = 3.375, capped at 3: 300 -> 900. */
	assert_int_equal(tariff_fee(t, E, E + 3600, 1500, 1500, 1500, &q), 900);
	assert_int_equal(q.multiplier_milli, 3000);
	/* Car x peak x surge 1.5 = 2.25, under the cap: 675. */
	assert_int_equal(tariff_fee(t, E, E + 3600, 1000, 1500, 1500, &q), 675);
	assert_int_equal(q.multiplier_milli, 2250);
	/* Exactly at the cap: 2 * 1.5 = 3. */
	tariff_fee(t, E, E + 3600, 2000, 1500, 1000, &q);
	assert_int_equal(q.multiplier_milli, 3000);
	/* Without max_multiplier the bus pays 4x: 1200. */
	nocap = make("{\"tiers\":[{\"upto_minutes\":60,\"amount\":300}],"
	    "\"max_multiplier\":null}");
	assert_int_equal(tariff_fee(nocap, E, E + 3600, 4000, 1000, 1000, &q),
	    1200);
	assert_int_equal(q.multiplier_milli, 4000);
	/* Multipliers from elsewhere saturate rather than overflow. */
	assert_int_equal(tariff_fee(nocap, E, E + 3600, INT32_MAX, INT32_MAX,
	    INT32_MAX, &q), 644245094);
	assert_int_equal(q.multiplier_milli, INT32_MAX);
	/* Negative multipliers count as 0. */
	assert_int_equal(tariff_fee(nocap, E, E + 3600, -1000, 1000, 1000, &q), 0);
	assert_int_equal(q.class_milli, 0);
	assert_int_equal(q.multiplier_milli, 0);
	tariff_free(nocap);
}

static void
test_absurd_durations_saturate(void **state)
{
	const tariff *t = *state;
	struct tariff_quote q;

	/* d = INT64_MAX: m = 153722867280912945, k = 106751991167300. */
	assert_int_equal(tariff_fee(t, INT64_MIN, INT64_MAX, 1000, 1000, 1000,
	    &q), TARIFF_AMOUNT_MAX);
	assert_int_equal(q.duration_s, INT64_MAX);
	assert_int_equal(q.minutes, 153722867280912945);
	assert_int_equal(q.days, 106751991167300);
	assert_int_equal(q.rest_minutes, 945);
	assert_int_equal(q.day_amount, 2500);
	assert_int_equal(q.base, TARIFF_AMOUNT_MAX);
	/*
	 * The fee is of the whole base, not of the capped one shown:
	 * (266879977918252500 * 500 + 500) / 1000 saturates too.
	 */
	assert_int_equal(tariff_fee(t, INT64_MIN, INT64_MAX, 500, 1000, 1000,
	    NULL), TARIFF_AMOUNT_MAX);
	assert_int_equal(tariff_fee(t, -1, INT64_MAX, 4000, 1500, 1500, NULL),
	    TARIFF_AMOUNT_MAX);
	assert_int_equal(tariff_fee(t, INT64_MAX, INT64_MIN, 1000, 1000, 1000,
	    &q), 0);
	assert_int_equal(q.duration_s, 0);
}

/*
 * The cap is on the fee, not on the base: a base beyond 2^53 - 1 times a
 * small multiplier is a fee that fits, and must be exact.
 */
static void
test_large_base_small_multiplier(void **state)
{
	tariff *t = make("{\"tiers\":[{\"upto_minutes\":1,\"amount\":0}],"
	    "\"overage_per_hour\":1000000000,\"class_multiplier\":{\"car\":0.001}}");
	int64_t e = at("2026-01-01T00:00:00Z"), x = at("9999-12-31T23:59:59Z");
	struct tariff_quote q;

	(void)state;
	/*
	 * d = 251635075199: m = 4193917920, k = 2912443, r = 0;
	 * day(1440) = ceil((1440 - 1) / 60) * 10^9 = 24 * 10^9,
	 * base = 2912443 * 24 * 10^9 = 69898632 * 10^9 (past 2^53 - 1),
	 * fee = (base * 1 + 500) / 1000 = 69898632000000.
	 */
	assert_int_equal(tariff_fee(t, e, x, tariff_class_milli(t, "car"), 1000,
	    1000, &q), 69898632000000);
	assert_int_equal(q.minutes, 4193917920);
	assert_int_equal(q.days, 2912443);
	assert_int_equal(q.rest_minutes, 0);
	assert_int_equal(q.day_amount, 0);
	/* The breakdown's base is still capped: a JSON double carries that. */
	assert_int_equal(q.base, TARIFF_AMOUNT_MAX);
	assert_int_equal(q.multiplier_milli, 1);
	tariff_free(t);
}

/* ---- peak windows in Europe/Berlin ---- */

/* Europe/Berlin from the C library, as the daemon has it. */
static local_time_fn
berlin(void)
{
	tu_set_tz("Europe/Berlin");
	return tu_local_time;
}

static void
expect_peak(const tariff *t, local_time_fn z, const char *utc, int32_t want)
{
	int32_t got = tariff_peak_milli(t, z, NULL, at(utc));

	if (got != want)
		fail_msg("%s: peak %d, want %d", utc, (int)got, (int)want);
}

static void
test_peak_boundaries(void **state)
{
	const tariff *t = *state;
	local_time_fn z = berlin();

	/* Monday 2026-11-23, CET (+1): 07:30 local is 06:30Z. */
	expect_peak(t, z, "2026-11-23T06:29:59Z", 1000);
	expect_peak(t, z, "2026-11-23T06:30:00Z", 1500);	/* from: inclusive */
	expect_peak(t, z, "2026-11-23T08:29:59Z", 1500);
	expect_peak(t, z, "2026-11-23T08:30:00Z", 1000);	/* to: exclusive */
	/* In UTC the same instants fall an hour earlier in the day. */
	expect_peak(t, NULL, "2026-11-23T06:30:00Z", 1000);
	expect_peak(t, NULL, "2026-11-23T07:30:00Z", 1500);
	expect_peak(t, NULL, "2026-11-23T09:29:59Z", 1500);
	/* Friday yes, weekend no. */
	expect_peak(t, z, "2026-11-27T06:30:00Z", 1500);
	expect_peak(t, z, "2026-11-28T06:30:00Z", 1000);
	expect_peak(t, z, "2026-11-29T06:30:00Z", 1000);
	/* Local weekday, not UTC's: Tuesday 00:30 local is Monday 23:30Z. */
	{
		tariff *night = make("{\"peak\":[{\"days\":[\"tue\"],"
		    "\"from\":\"00:00\",\"to\":\"01:00\",\"multiplier\":2}]}");

		expect_peak(night, z, "2026-11-23T23:30:00Z", 2000);
		expect_peak(night, z, "2026-11-23T22:59:59Z", 1000);
		expect_peak(night, NULL, "2026-11-23T23:30:00Z", 1000);
		tariff_free(night);
	}
}

static void
test_peak_on_dst_change_days(void **state)
{
	const tariff *t = *state;
	tariff *sun;
	local_time_fn z = berlin();

	/* Both change days are Sundays: the weekday window never applies. */
	expect_peak(t, z, "2026-03-29T05:30:00Z", 1000);
	expect_peak(t, z, "2026-03-29T06:30:00Z", 1000);
	expect_peak(t, z, "2026-10-25T06:30:00Z", 1000);
	/* Friday before spring (CET, +1): 07:30 local = 06:30Z. */
	expect_peak(t, z, "2026-03-27T05:30:00Z", 1000);
	expect_peak(t, z, "2026-03-27T06:30:00Z", 1500);
	/* Monday after (CEST, +2): 07:30 local = 05:30Z, 09:30 = 07:30Z. */
	expect_peak(t, z, "2026-03-30T05:29:59Z", 1000);
	expect_peak(t, z, "2026-03-30T05:30:00Z", 1500);
	expect_peak(t, z, "2026-03-30T07:29:59Z", 1500);
	expect_peak(t, z, "2026-03-30T07:30:00Z", 1000);
	/* Friday before autumn (CEST): 05:30Z in, 07:30Z out. */
	expect_peak(t, z, "2026-10-23T05:29:59Z", 1000);
	expect_peak(t, z, "2026-10-23T05:30:00Z", 1500);
	expect_peak(t, z, "2026-10-23T07:29:59Z", 1500);
	expect_peak(t, z, "2026-10-23T07:30:00Z", 1000);
	/* Monday after (CET): 06:30Z in, 08:30Z out. */
	expect_peak(t, z, "2026-10-26T05:30:00Z", 1000);
	expect_peak(t, z, "2026-10-26T06:30:00Z", 1500);
	expect_peak(t, z, "2026-10-26T08:29:59Z", 1500);
	expect_peak(t, z, "2026-10-26T08:30:00Z", 1000);

	/* Sunday windows over the changes themselves; first match wins. */
	sun = make("{\"peak\":["
	    "{\"days\":[\"sun\"],\"from\":\"02:00\",\"to\":\"03:00\",\"multiplier\":2},"
	    "{\"days\":[\"sun\"],\"from\":\"07:30\",\"to\":\"09:30\",\"multiplier\":1.5},"
	    "{\"days\":[\"sun\"],\"from\":\"07:00\",\"to\":\"24:00\",\"multiplier\":1.1}]}");
	/* 2026-03-29: 02:00-03:00 local does not exist. */
	expect_peak(sun, z, "2026-03-29T00:59:59Z", 1000);	/* 01:59:59 CET */
	expect_peak(sun, z, "2026-03-29T01:00:00Z", 1000);	/* 03:00 CEST */
	expect_peak(sun, z, "2026-03-29T05:29:59Z", 1100);	/* 07:29:59 */
	expect_peak(sun, z, "2026-03-29T05:30:00Z", 1500);	/* 07:30 CEST */
	expect_peak(sun, z, "2026-03-29T07:29:59Z", 1500);
	expect_peak(sun, z, "2026-03-29T07:30:00Z", 1100);
	expect_peak(sun, z, "2026-03-29T21:59:59Z", 1100);	/* 23:59:59 */
	expect_peak(sun, z, "2026-03-29T22:00:00Z", 1000);	/* Monday */
	/* 2026-10-25: 02:00-03:00 local happens twice. */
	expect_peak(sun, z, "2026-10-24T23:59:59Z", 1000);	/* 01:59:59 CEST */
	expect_peak(sun, z, "2026-10-25T00:00:00Z", 2000);	/* 02:00 CEST */
	expect_peak(sun, z, "2026-10-25T00:59:59Z", 2000);	/* 02:59:59 CEST */
	expect_peak(sun, z, "2026-10-25T01:00:00Z", 2000);	/* 02:00 CET */
	expect_peak(sun, z, "2026-10-25T01:59:59Z", 2000);	/* 02:59:59 CET */
	expect_peak(sun, z, "2026-10-25T02:00:00Z", 1000);	/* 03:00 CET */
	expect_peak(sun, z, "2026-10-25T06:30:00Z", 1500);	/* 07:30 CET */
	expect_peak(sun, z, "2026-10-25T08:30:00Z", 1100);	/* 09:30 CET */
	expect_peak(sun, z, "2026-10-25T22:59:59Z", 1100);	/* 23:59:59 CET */
	expect_peak(sun, z, "2026-10-25T23:00:00Z", 1000);
	tariff_free(sun);
}

/* A local_time_fn answering what ud holds, whatever the instant. */
static void
fixed_local(void *ud, int64_t t, struct local_time *out)
{
	(void)t;
	*out = *(const struct local_time *)ud;
}

/*
 * The function's ud reaches it, and a local time out of range (a function
 * that could not convert) matches no window rather than indexing by it.
 */
static void
test_peak_local_time_fn(void **state)
{
	static const struct local_time bad[] = {
		{ -1, 8, 0, 0 }, { 7, 8, 0, 0 }, { 1 << 20, 8, 0, 0 },
		{ 1, -1, 0, 0 }, { 1, 24, 0, 0 }, { 1, 8, -1, 0 },
		{ 1, 8, 60, 0 }, { 1, 8, 0, -1 }, { 1, 8, 0, 61 },
	};
	const tariff *t = *state;
	struct local_time l = { 1, 8, 0, 0 };	/* Monday 08:00 */

	assert_int_equal(tariff_peak_milli(t, fixed_local, &l, 0), 1500);
	l.wday = 0;
	assert_int_equal(tariff_peak_milli(t, fixed_local, &l, 0), 1000);
	/* A leap second is a valid second: 07:29:60 counts as 07:30:00. */
	l = (struct local_time){ 1, 7, 29, 60 };
	assert_int_equal(tariff_peak_milli(t, fixed_local, &l, 0), 1500);
	l = (struct local_time){ 1, 9, 29, 60 };
	assert_int_equal(tariff_peak_milli(t, fixed_local, &l, 0), 1000);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l = bad[i];
		if (tariff_peak_milli(t, fixed_local, &l, 0) != 1000)
			fail_msg("case %zu gave a peak", i);
	}
	/* No peak windows: the function is not even asked. */
	assert_int_equal(tariff_peak_milli(NULL, fixed_local, NULL, 0), 1000);
}

/* ---- surge ---- */

static void
test_surge(void **state)
{
	const tariff *t = *state;
	tariff *zero;

	assert_int_equal(tariff_surge_milli(t, 0, 100), 1000);
	assert_int_equal(tariff_surge_milli(t, 899, 1000), 1000);
	assert_int_equal(tariff_surge_milli(t, 900, 1000), 1250);
	assert_int_equal(tariff_surge_milli(t, 9, 10), 1250);
	assert_int_equal(tariff_surge_milli(t, 27, 30), 1250);
	assert_int_equal(tariff_surge_milli(t, 969, 1000), 1250);
	assert_int_equal(tariff_surge_milli(t, 96, 99), 1250);	/* 0.9697 */
	assert_int_equal(tariff_surge_milli(t, 970, 1000), 1500);
	assert_int_equal(tariff_surge_milli(t, 97, 100), 1500);
	assert_int_equal(tariff_surge_milli(t, 100, 100), 1500);
	assert_int_equal(tariff_surge_milli(t, 150, 100), 1500);
	assert_int_equal(tariff_surge_milli(t, 0, 0), 1000);
	assert_int_equal(tariff_surge_milli(t, 5, 0), 1000);
	/* Exact where doubles are not: 9e18 - 1 of 1e19 is below 0.9. */
	assert_int_equal(tariff_surge_milli(t, 9000000000000000000u - 1,
	    10000000000000000000u), 1000);
	assert_int_equal(tariff_surge_milli(t, 9000000000000000000u,
	    10000000000000000000u), 1250);
	assert_int_equal(tariff_surge_milli(t, UINT64_MAX, UINT64_MAX), 1500);
	zero = make("{\"surge\":[{\"occupancy_at_least\":0,\"multiplier\":1.1},"
	    "{\"occupancy_at_least\":0.333333,\"multiplier\":1.2},"
	    "{\"occupancy_at_least\":1,\"multiplier\":2}]}");
	assert_int_equal(tariff_surge_milli(zero, 0, 10), 1100);
	assert_int_equal(tariff_surge_milli(zero, 0, 0), 1000);
	/* 1/3 = 0.3333333... >= 0.333333; 333332/1000000 is not. */
	assert_int_equal(tariff_surge_milli(zero, 1, 3), 1200);
	assert_int_equal(tariff_surge_milli(zero, 333332, 1000000), 1100);
	assert_int_equal(tariff_surge_milli(zero, 333333, 1000000), 1200);
	assert_int_equal(tariff_surge_milli(zero, 9, 10), 1200);
	assert_int_equal(tariff_surge_milli(zero, 10, 10), 2000);
	tariff_free(zero);
}

/* ---- lost ticket, grace ---- */

static void
test_lost_and_grace(void **state)
{
	const tariff *t = *state;

	assert_int_equal(tariff_lost_fee(t), 5000);
	assert_int_equal(tariff_grace_s(t), 900);
	assert_int_equal(tariff_lost_fee(NULL), 0);
	assert_int_equal(tariff_grace_s(NULL), 0);
}

/* ---- JSON: round trip, breakdown ---- */

static char *
print(const tariff *t)
{
	struct jw w;
	char *s;

	jw_init(&w);
	tariff_write(t, &w);
	s = jw_take(&w, NULL);
	assert_non_null(s);
	return s;
}

static char *
print_breakdown(const struct tariff_quote *q)
{
	struct jw w;
	char *s;

	jw_init(&w);
	jw_arr(&w);
	tariff_breakdown_steps(q, &w);
	jw_arr_end(&w);
	s = jw_take(&w, NULL);
	assert_non_null(s);
	return s;
}

static void
test_to_json_round_trip(void **state)
{
	const tariff *t = *state;
	cJSON *orig = parse_json(example_json);
	char *s1 = print(t), *s2;
	cJSON *j1 = parse_json(s1);
	char err[256];
	tariff *t2;

	/* Every key of the example comes back with its value. */
	assert_true(cJSON_Compare(orig, j1, 1));
	t2 = tariff_from_json(j1, "tariff", &(struct jerr){ err, sizeof(err), 0 });
	assert_non_null(t2);
	s2 = print(t2);
	assert_string_equal(s1, s2);
	assert_string_equal(s1,
	    "{\"free_minutes\":15,\"increment_minutes\":15,\"tiers\":["
	    "{\"upto_minutes\":60,\"amount\":300},"
	    "{\"upto_minutes\":180,\"amount\":800},"
	    "{\"upto_minutes\":600,\"amount\":1500}],"
	    "\"overage_per_hour\":200,\"daily_max\":2500,"
	    "\"class_multiplier\":{\"motorcycle\":0.5,\"car\":1,\"van\":1.5,"
	    "\"bus\":4},"
	    "\"peak\":[{\"days\":[\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"],"
	    "\"from\":\"07:30\",\"to\":\"09:30\",\"multiplier\":1.5}],"
	    "\"surge\":[{\"occupancy_at_least\":0.9,\"multiplier\":1.25},"
	    "{\"occupancy_at_least\":0.97,\"multiplier\":1.5}],"
	    "\"max_multiplier\":3,\"lost_ticket\":5000,\"grace_minutes\":15}");
	/* The copy prices like the original. */
	assert_int_equal(tariff_fee(t2, E, E + 2 * 86400 + 1800, 1500, 1500,
	    1250, NULL), tariff_fee(t, E, E + 2 * 86400 + 1800, 1500, 1500,
	    1250, NULL));
	assert_int_equal(tariff_class_milli(t2, "bus"), 4000);
	assert_int_equal(tariff_surge_milli(t2, 97, 100), 1500);
	free(s1);
	free(s2);
	cJSON_Delete(orig);
	cJSON_Delete(j1);
	tariff_free(t2);
}

static void
test_to_json_defaults_and_odd_values(void **state)
{
	tariff *t = make("{}"), *t2, *t3;
	cJSON *j;
	char *s;

	(void)state;
	s = print(t);
	assert_string_equal(s,
	    "{\"free_minutes\":0,\"increment_minutes\":1,"
	    "\"tiers\":[{\"upto_minutes\":1440,\"amount\":0}],"
	    "\"overage_per_hour\":0,\"daily_max\":null,\"class_multiplier\":{},"
	    "\"peak\":[],\"surge\":[],\"max_multiplier\":null,"
	    "\"lost_ticket\":0,\"grace_minutes\":0}");
	j = parse_json(s);
	free(s);
	t2 = tariff_from_json(j, "tariff", &(struct jerr){ NULL, 0, 0 });
	assert_non_null(t2);
	cJSON_Delete(j);

	/* Odd decimals, unordered days, 24:00 survive the trip exactly. */
	t3 = make("{\"class_multiplier\":{\"x\":0.001,\"y\":99.999},"
	    "\"peak\":[{\"days\":[\"sun\",\"mon\"],\"from\":\"00:00\","
	    "\"to\":\"24:00\",\"multiplier\":1.125}],"
	    "\"surge\":[{\"occupancy_at_least\":0.123456,\"multiplier\":0.1}],"
	    "\"daily_max\":0,\"max_multiplier\":0.75}");
	s = print(t3);
	assert_string_equal(s,
	    "{\"free_minutes\":0,\"increment_minutes\":1,"
	    "\"tiers\":[{\"upto_minutes\":1440,\"amount\":0}],"
	    "\"overage_per_hour\":0,\"daily_max\":0,"
	    "\"class_multiplier\":{\"x\":0.001,\"y\":99.999},"
	    "\"peak\":[{\"days\":[\"mon\",\"sun\"],\"from\":\"00:00\","
	    "\"to\":\"24:00\",\"multiplier\":1.125}],"
	    "\"surge\":[{\"occupancy_at_least\":0.123456,\"multiplier\":0.1}],"
	    "\"max_multiplier\":0.75,\"lost_ticket\":0,\"grace_minutes\":0}");
	free(s);
	assert_int_equal(tariff_class_milli(t3, "x"), 1);
	assert_int_equal(tariff_class_milli(t3, "y"), 99999);
	tariff_free(t);
	tariff_free(t2);
	tariff_free(t3);
}

static void
test_breakdown(void **state)
{
	const tariff *t = *state;
	struct tariff_quote q;
	char *s;

	/* Van at peak, 2 days + 30 min: 5300 * 2.25 = 11925. */
	assert_int_equal(tariff_fee(t, E, E + 2 * 86400 + 1800, 1500, 1500,
	    1000, &q), 11925);
	s = print_breakdown(&q);
	assert_string_equal(s,
	    "[{\"step\":\"duration\",\"seconds\":174600},"
	    "{\"step\":\"free_minutes\",\"free\":false},"
	    "{\"step\":\"rounded_minutes\",\"minutes\":2910},"
	    "{\"step\":\"days\",\"count\":2,\"amount\":5000},"
	    "{\"step\":\"day\",\"minutes\":30,\"amount\":300},"
	    "{\"step\":\"base\",\"amount\":5300},"
	    "{\"step\":\"multiplier\",\"class_milli\":1500,\"peak_milli\":1500,"
	    "\"surge_milli\":1000,\"total_milli\":2250},"
	    "{\"step\":\"fee\",\"amount\":11925}]");
	free(s);

	tariff_fee(t, E, E + 900, 1000, 1000, 1000, &q);
	s = print_breakdown(&q);
	assert_string_equal(s,
	    "[{\"step\":\"duration\",\"seconds\":900},"
	    "{\"step\":\"free_minutes\",\"free\":true},"
	    "{\"step\":\"fee\",\"amount\":0}]");
	free(s);
}


/* ---- configuration errors ---- */

struct bad_case {
	const char *json;
	const char *msg;
};

/* Reads json (completed with the required keys unless whole) and wants msg. */
static void
expect_refused(const char *json, const char *msg, int whole)
{
	char err[256];
	struct jerr e = { err, sizeof(err), 0 };
	tariff *t = NULL;
	cJSON *j;

	/* Duplicates are the parser's to refuse, the rest the loader's. */
	memset(err, 'x', sizeof(err));
	j = json_parse(json, strlen(json), "tariff", &e);
	if (j != NULL)
		t = tariff_from_json(whole ? j : tu_complete_tariff(j), "tariff", &e);
	cJSON_Delete(j);
	if (t != NULL) {
		tariff_free(t);
		fail_msg("accepted %s", json);
	}
	if (strcmp(err, msg) != 0)
		fail_msg("%s:\n got  \"%s\"\n want \"%s\"", json, err, msg);
}

/* The keys every tariff must give (config.md "Tariff"). */
static void
test_required_keys(void **state)
{
	(void)state;
	expect_refused("{}", "tariff.free_minutes: is required", 1);
	expect_refused("{\"free_minutes\":0,\"increment_minutes\":1,"
	    "\"overage_per_hour\":0,\"lost_ticket\":0,\"grace_minutes\":0}",
	    "tariff.tiers: needs at least one tier (free parking is a tier with amount 0)", 1);
	expect_refused("{\"free_minutes\":0,\"increment_minutes\":1,"
	    "\"overage_per_hour\":0,\"lost_ticket\":0,\"grace_minutes\":0,\"tiers\":[]}",
	    "tariff.tiers: needs at least one tier (free parking is a tier with amount 0)", 1);
	expect_refused("{\"free_minutes\":0,\"increment_minutes\":1,"
	    "\"overage_per_hour\":0,\"grace_minutes\":0,"
	    "\"tiers\":[{\"upto_minutes\":60,\"amount\":0}]}",
	    "tariff.lost_ticket: is required", 1);
	expect_refused("{\"free_minutes\":0,\"overage_per_hour\":0,\"lost_ticket\":0,"
	    "\"grace_minutes\":0,\"tiers\":[{\"upto_minutes\":60,\"amount\":0}]}",
	    "tariff.increment_minutes: is required", 1);
}

static void
test_from_json_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "[]", "tariff: must be an object" },
		{ "null", "tariff: must be an object" },
		{ "{\"free_minute\":15}", "tariff.free_minute: unknown key" },
		{ "{\"Free_minutes\":15}", "tariff.Free_minutes: unknown key" },
		{ "{\"free_minutes\":1,\"free_minutes\":2}",
		  "tariff.free_minutes: duplicate key" },
		{ "{\"free_minutes\":\"15\"}",
		  "tariff.free_minutes: must be an integer" },
		{ "{\"free_minutes\":1.5}",
		  "tariff.free_minutes: must be an integer" },
		{ "{\"free_minutes\":1e999}",
		  "tariff.free_minutes: must be an integer" },
		{ "{\"free_minutes\":-1}",
		  "tariff.free_minutes: must be between 0 and 1000000000" },
		{ "{\"increment_minutes\":0}",
		  "tariff.increment_minutes: must be between 1 and 1000000000" },
		{ "{\"overage_per_hour\":2.5}",
		  "tariff.overage_per_hour: must be an integer" },
		{ "{\"overage_per_hour\":-200}",
		  "tariff.overage_per_hour: must be between 0 and 1000000000" },
		{ "{\"daily_max\":-5}", "tariff.daily_max: must be between 0 and 1000000000" },
		{ "{\"daily_max\":\"2500\"}",
		  "tariff.daily_max: must be an integer or null" },
		{ "{\"daily_max\":1000000001}",
		  "tariff.daily_max: must be between 0 and 1000000000" },
		{ "{\"daily_max\":1e300}",
		  "tariff.daily_max: must be between 0 and 1000000000" },
		{ "{\"lost_ticket\":5000.01}",
		  "tariff.lost_ticket: must be an integer" },
		{ "{\"lost_ticket\":-1}", "tariff.lost_ticket: must be between 0 and 1000000000" },
		{ "{\"grace_minutes\":true}",
		  "tariff.grace_minutes: must be an integer" },
		{ "{\"tiers\":{}}", "tariff.tiers: must be an array" },
		{ "{\"tiers\":null}", "tariff.tiers: must be an array" },
		{ "{\"tiers\":[1]}", "tariff.tiers[0]: must be an object" },
		{ "{\"tiers\":[{\"upto_minutes\":60}]}",
		  "tariff.tiers[0].amount: is required" },
		{ "{\"tiers\":[{\"amount\":60}]}",
		  "tariff.tiers[0].upto_minutes: is required" },
		{ "{\"tiers\":[{\"upto_minutes\":60,\"amount\":300,\"x\":1}]}",
		  "tariff.tiers[0].x: unknown key" },
		{ "{\"tiers\":[{\"upto_minutes\":60,\"amount\":300,\"amount\":1}]}",
		  "tariff.tiers[0].amount: duplicate key" },
		{ "{\"tiers\":[{\"upto_minutes\":0,\"amount\":300}]}",
		  "tariff.tiers[0].upto_minutes: must be between 1 and 1000000000" },
		{ "{\"tiers\":[{\"upto_minutes\":60.5,\"amount\":300}]}",
		  "tariff.tiers[0].upto_minutes: must be an integer" },
		{ "{\"tiers\":[{\"upto_minutes\":60,\"amount\":-1}]}",
		  "tariff.tiers[0].amount: must be between 0 and 1000000000" },
		{ "{\"tiers\":[{\"upto_minutes\":60,\"amount\":2.5}]}",
		  "tariff.tiers[0].amount: must be an integer" },
		{ "{\"tiers\":[{\"upto_minutes\":60,\"amount\":1000000001}]}",
		  "tariff.tiers[0].amount: must be between 0 and 1000000000" },
		{ "{\"tiers\":[{\"upto_minutes\":60,\"amount\":300},"
		  "{\"upto_minutes\":60,\"amount\":400}]}",
		  "tariff.tiers[1].upto_minutes: must be greater than "
		  "tiers[0].upto_minutes" },
		{ "{\"tiers\":[{\"upto_minutes\":60,\"amount\":300},"
		  "{\"upto_minutes\":180,\"amount\":800},"
		  "{\"upto_minutes\":120,\"amount\":900}]}",
		  "tariff.tiers[2].upto_minutes: must be greater than "
		  "tiers[1].upto_minutes" },
		{ "{\"class_multiplier\":[]}",
		  "tariff.class_multiplier: must be an object" },
		{ "{\"class_multiplier\":{\"van\":0}}",
		  "tariff.class_multiplier.van: must be between 0.001 and 100" },
		{ "{\"class_multiplier\":{\"van\":-1.5}}",
		  "tariff.class_multiplier.van: must be between 0.001 and 100" },
		{ "{\"class_multiplier\":{\"van\":1.2345}}",
		  "tariff.class_multiplier.van: must have at most 3 decimals" },
		{ "{\"class_multiplier\":{\"van\":0.0001}}",
		  "tariff.class_multiplier.van: must have at most 3 decimals" },
		{ "{\"class_multiplier\":{\"van\":\"1.5\"}}",
		  "tariff.class_multiplier.van: must be a number" },
		{ "{\"class_multiplier\":{\"van\":101}}",
		  "tariff.class_multiplier.van: must be between 0.001 and 100" },
		{ "{\"class_multiplier\":{\"van\":1e999}}",
		  "tariff.class_multiplier.van: must be between 0.001 and 100" },
		{ "{\"class_multiplier\":{\"van\":1e12}}",
		  "tariff.class_multiplier.van: must be between 0.001 and 100" },
		{ "{\"class_multiplier\":{\"van\":1.5,\"car\":1,\"van\":2}}",
		  "tariff.class_multiplier.van: duplicate key" },
		{ "{\"class_multiplier\":{\"\":1}}",
		  "tariff.class_multiplier.\"\": class name must not be empty" },
		{ "{\"peak\":{}}", "tariff.peak: must be an array" },
		{ "{\"peak\":[{\"days\":[],\"from\":\"07:30\",\"to\":\"09:30\","
		  "\"multiplier\":1.5}]}", "tariff.peak[0].days: must not be empty" },
		{ "{\"peak\":[{\"days\":\"mon\",\"from\":\"07:30\",\"to\":\"09:30\","
		  "\"multiplier\":1.5}]}", "tariff.peak[0].days: must be an array" },
		{ "{\"peak\":[{\"days\":[\"Mon\"],\"from\":\"07:30\",\"to\":\"09:30\","
		  "\"multiplier\":1.5}]}", "tariff.peak[0].days[0]: must be mon, tue, "
		  "wed, thu, fri, sat or sun" },
		{ "{\"peak\":[{\"days\":[\"mon\",1],\"from\":\"07:30\","
		  "\"to\":\"09:30\",\"multiplier\":1.5}]}",
		  "tariff.peak[0].days[1]: must be mon, tue, "
		  "wed, thu, fri, sat or sun" },
		{ "{\"peak\":[{\"days\":[\"mon\",\"mon\"],\"from\":\"07:30\","
		  "\"to\":\"09:30\",\"multiplier\":1.5}]}",
		  "tariff.peak[0].days[1]: duplicate day \"mon\"" },
		{ "{\"peak\":[{\"days\":[\"mon\"],\"from\":\"7:30\",\"to\":\"09:30\","
		  "\"multiplier\":1.5}]}",
		  "tariff.peak[0].from: must be a string \"HH:MM\"" },
		{ "{\"peak\":[{\"days\":[\"mon\"],\"from\":730,\"to\":\"09:30\","
		  "\"multiplier\":1.5}]}",
		  "tariff.peak[0].from: must be a string \"HH:MM\"" },
		{ "{\"peak\":[{\"days\":[\"mon\"],\"from\":\"24:00\",\"to\":\"24:00\","
		  "\"multiplier\":1.5}]}",
		  "tariff.peak[0].from: must be a time from 00:00 to 23:59" },
		{ "{\"peak\":[{\"days\":[\"mon\"],\"from\":\"07:30\",\"to\":\"24:01\","
		  "\"multiplier\":1.5}]}",
		  "tariff.peak[0].to: must be a time from 00:00 to 24:00" },
		{ "{\"peak\":[{\"days\":[\"mon\"],\"from\":\"07:30\",\"to\":\"09:60\","
		  "\"multiplier\":1.5}]}",
		  "tariff.peak[0].to: must be a time from 00:00 to 24:00" },
		{ "{\"peak\":[{\"days\":[\"mon\"],\"from\":\"09:30\",\"to\":\"09:30\","
		  "\"multiplier\":1.5}]}", "tariff.peak[0].to: must be later than from" },
		{ "{\"peak\":[{\"days\":[\"mon\"],\"from\":\"22:00\",\"to\":\"02:00\","
		  "\"multiplier\":1.5}]}", "tariff.peak[0].to: must be later than from" },
		{ "{\"peak\":[{\"days\":[\"mon\"],\"from\":\"07:30\",\"to\":\"09:30\"}]}",
		  "tariff.peak[0].multiplier: is required" },
		{ "{\"peak\":[{\"days\":[\"mon\"],\"from\":\"07:30\",\"to\":\"09:30\","
		  "\"multiplier\":1.5},{\"days\":[\"sun\"],\"from\":\"07:30\","
		  "\"to\":\"09:30\",\"multiplier\":0}]}",
		  "tariff.peak[1].multiplier: must be between 0.001 and 100" },
		{ "{\"peak\":[{\"days\":[\"mon\"],\"from\":\"07:30\",\"to\":\"09:30\","
		  "\"multiplier\":1.5,\"from\":\"08:00\"}]}",
		  "tariff.peak[0].from: duplicate key" },
		{ "{\"surge\":[{\"occupancy_at_least\":1.1,\"multiplier\":1.25}]}",
		  "tariff.surge[0].occupancy_at_least: must be between 0 and 1" },
		{ "{\"surge\":[{\"occupancy_at_least\":-0.1,\"multiplier\":1.25}]}",
		  "tariff.surge[0].occupancy_at_least: must be between 0 and 1" },
		{ "{\"surge\":[{\"occupancy_at_least\":\"0.9\",\"multiplier\":1.25}]}",
		  "tariff.surge[0].occupancy_at_least: must be a number" },
		{ "{\"surge\":[{\"occupancy_at_least\":0.1234567,\"multiplier\":1}]}",
		  "tariff.surge[0].occupancy_at_least: must have at most 6 decimals" },
		{ "{\"surge\":[{\"occupancy_at_least\":0.9,\"multiplier\":1.25},"
		  "{\"occupancy_at_least\":0.9,\"multiplier\":1.5}]}",
		  "tariff.surge[1].occupancy_at_least: must be greater than "
		  "surge[0].occupancy_at_least" },
		{ "{\"surge\":[{\"occupancy_at_least\":0.97,\"multiplier\":1.5},"
		  "{\"occupancy_at_least\":0.9,\"multiplier\":1.25}]}",
		  "tariff.surge[1].occupancy_at_least: must be greater than "
		  "surge[0].occupancy_at_least" },
		{ "{\"surge\":[{\"occupancy_at_least\":0.9,\"multiplier\":1.0001}]}",
		  "tariff.surge[0].multiplier: must have at most 3 decimals" },
		{ "{\"surge\":[{\"occupancy_at_least\":0.9}]}",
		  "tariff.surge[0].multiplier: is required" },
		{ "{\"surge\":[{\"occupancy_at_least\":0.9,\"multiplier\":1.25,"
		  "\"Multiplier\":1}]}", "tariff.surge[0].Multiplier: unknown key" },
		{ "{\"max_multiplier\":0}",
		  "tariff.max_multiplier: must be between 0.001 and 100" },
		{ "{\"max_multiplier\":\"3\"}",
		  "tariff.max_multiplier: must be a number or null" },
		{ "{\"max_multiplier\":3.0005}",
		  "tariff.max_multiplier: must have at most 3 decimals" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_refused(cases[i].json, cases[i].msg, 0);
}

static void
test_from_json_error_plumbing(void **state)
{
	cJSON *j = tu_complete_tariff(parse_json(
	    "{\"tiers\":[{\"upto_minutes\":60,\"amount\":-1}]}"));
	char err[256], small[8];
	tariff *t;
	int i;

	(void)state;
	/* The prefix is the caller's. */
	assert_null(tariff_from_json(j, "site.tariff", &(struct jerr){ err, sizeof(err), 0 }));
	assert_string_equal(err, "site.tariff.tiers[0].amount: must be between 0 and 1000000000");
	/* Truncated, still terminated. */
	assert_null(tariff_from_json(j, "tariff", &(struct jerr){ small, sizeof(small), 0 }));
	assert_string_equal(small, "tariff.");
	/* No buffer at all. */
	assert_null(tariff_from_json(j, "tariff", &(struct jerr){ NULL, 0, 0 }));
	cJSON_Delete(j);
	assert_null(tariff_from_json(NULL, "tariff", &(struct jerr){ err, sizeof(err), 0 }));
	assert_string_equal(err, "tariff: must be an object");

	/* 256 tiers are fine, 257 are refused. */
	j = parse_json("{\"free_minutes\":0,\"increment_minutes\":1,"
	    "\"overage_per_hour\":0,\"lost_ticket\":0,\"grace_minutes\":0}");
	assert_non_null(j);
	{
		cJSON *arr = cJSON_AddArrayToObject(j, "tiers");

		assert_non_null(arr);
		for (i = 1; i <= 257; i++) {
			cJSON *o = cJSON_CreateObject();

			assert_non_null(o);
			cJSON_AddNumberToObject(o, "upto_minutes", i);
			cJSON_AddNumberToObject(o, "amount", i * 10);
			cJSON_AddItemToArray(arr, o);
		}
		assert_null(tariff_from_json(j, "tariff", &(struct jerr){ err, sizeof(err), 0 }));
		assert_string_equal(err, "tariff.tiers: must have at most 256 entries");
		cJSON_DeleteItemFromArray(arr, 256);
		t = tariff_from_json(j, "tariff", &(struct jerr){ err, sizeof(err), 0 });
		assert_non_null(t);
		/* 30 minutes -> tier 30 (300); 256 minutes -> tier 256 (2560). */
		assert_int_equal(tariff_fee(t, E, E + 1800, 1000, 1000, 1000, NULL),
		    300);
		assert_int_equal(tariff_fee(t, E, E + 256 * 60, 1000, 1000, 1000,
		    NULL), 2560);
		tariff_free(t);
	}
	cJSON_Delete(j);
	/* A successful call leaves the message buffer alone. */
	strcpy(err, "junk");
	t = make("{\"daily_max\":null}");
	tariff_free(t);
	j = tu_complete_tariff(parse_json("{}"));
	t = tariff_from_json(j, "tariff", &(struct jerr){ err, sizeof(err), 0 });
	assert_non_null(t);
	assert_string_equal(err, "junk");
	tariff_free(t);
	cJSON_Delete(j);
	tariff_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define EX(f) cmocka_unit_test_setup_teardown(f, setup_example, teardown_tariff)
		EX(test_free_minutes_edge),
		EX(test_increments),
		EX(test_tier_edges),
		EX(test_overage),
		EX(test_daily_max),
		EX(test_multi_day),
		cmocka_unit_test(test_no_daily_max),
		cmocka_unit_test(test_overage_only),
		EX(test_class_multipliers),
		cmocka_unit_test(test_half_up_rounding),
		EX(test_truncation_after_each_multiplication),
		EX(test_max_multiplier),
		EX(test_absurd_durations_saturate),
		cmocka_unit_test(test_large_base_small_multiplier),
		EX(test_peak_boundaries),
		EX(test_peak_on_dst_change_days),
		EX(test_peak_local_time_fn),
		EX(test_surge),
		EX(test_lost_and_grace),
		EX(test_to_json_round_trip),
		cmocka_unit_test(test_to_json_defaults_and_odd_values),
		EX(test_breakdown),
		cmocka_unit_test(test_required_keys),
		cmocka_unit_test(test_from_json_errors),
		cmocka_unit_test(test_from_json_error_plumbing),
#undef EX
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
