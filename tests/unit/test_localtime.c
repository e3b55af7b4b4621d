/* test_localtime.c - UTC as a local time, and the range check (lib/localtime.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "localtime.h"
#include "testutil.h"

/* local_time_utc(t) must be gmtime_r(t), field by field. */
static void
expect_utc(int64_t t)
{
	time_t tt = (time_t)t;
	struct local_time l;
	struct tm tm;

	assert_non_null(gmtime_r(&tt, &tm));
	local_time_utc(NULL, t, &l);
	if (l.wday != tm.tm_wday || l.hour != tm.tm_hour ||
	    l.minute != tm.tm_min || l.second != tm.tm_sec)
		fail_msg("t=%lld: %d %02d:%02d:%02d, gmtime %d %02d:%02d:%02d",
		    (long long)t, l.wday, l.hour, l.minute, l.second,
		    tm.tm_wday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
test_utc_matches_gmtime(void **state)
{
	static const int64_t edges[] = {
		0, -1, 1, 86399, 86400, -86400, -86401, 3 * 86400, 4 * 86400,
		-6 * 86400, -7 * 86400, -7 * 86400 - 1, TU_MON_0000, TU_T0,
		253402300799, -62135596800,	/* 9999-12-31, 0001-01-01 */
	};
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	(void)state;
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		expect_utc(edges[i]);
	/* Random instants over about +-17 000 years. */
	for (int i = 0; i < 200000; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		expect_utc((int64_t)((x * 2685821657736338717ULL) >> 24) -
		    ((int64_t)1 << 39));
	}
}

/* Beyond what gmtime can print, the fields still come out in range. */
static void
test_utc_extremes(void **state)
{
	static const int64_t ts[] = { INT64_MIN, INT64_MIN + 1, INT64_MAX,
	    INT64_MAX - 1 };
	struct local_time l;

	(void)state;
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		assert_int_equal(local_time_of(NULL, NULL, ts[i], &l), 0);
	local_time_utc(NULL, INT64_MAX, &l);
	/* 2^63 - 1 = 106751991167300 days + 55807 s: 15:30:07. */
	assert_int_equal(l.hour, 15);
	assert_int_equal(l.minute, 30);
	assert_int_equal(l.second, 7);
}

static void
answer(void *ud, int64_t t, struct local_time *out)
{
	(void)t;
	*out = *(const struct local_time *)ud;
}

/* local_time_of passes ud through and refuses fields out of range. */
static void
test_range_check(void **state)
{
	static struct local_time good[] = {
		{ 0, 0, 0, 0 }, { 6, 23, 59, 59 }, { 3, 12, 30, 60 },
	};
	static struct local_time bad[] = {
		{ -1, 0, 0, 0 }, { 7, 0, 0, 0 }, { 0, -1, 0, 0 },
		{ 0, 24, 0, 0 }, { 0, 0, -1, 0 }, { 0, 0, 60, 0 },
		{ 0, 0, 0, -1 }, { 0, 0, 0, 61 }, { INT32_MIN, 0, 0, 0 },
	};
	struct local_time l;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(local_time_of(answer, &good[i], 0, &l), 0);
		assert_memory_equal(&l, &good[i], sizeof(l));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (local_time_of(answer, &bad[i], 0, &l) != -1)
			fail_msg("case %zu accepted", i);
}

/* The tests' own function follows TZ, across both DST changes of 2026. */
static void
test_libc_berlin(void **state)
{
	struct local_time l;

	(void)state;
	tu_set_tz("Europe/Berlin");
	/* 2026-03-29T00:59:59Z is 01:59:59 CET; a second later 03:00 CEST. */
	tu_local_time(NULL, 1774745999, &l);
	assert_int_equal(l.hour * 10000 + l.minute * 100 + l.second, 15959);
	tu_local_time(NULL, 1774746000, &l);
	assert_int_equal(l.hour * 10000 + l.minute * 100 + l.second, 30000);
	assert_int_equal(l.wday, 0);
	/* 2026-10-25T00:59:59Z is 02:59:59 CEST; a second later 02:00 CET. */
	tu_local_time(NULL, 1792889999, &l);
	assert_int_equal(l.hour * 10000 + l.minute * 100 + l.second, 25959);
	tu_local_time(NULL, 1792890000, &l);
	assert_int_equal(l.hour * 10000 + l.minute * 100 + l.second, 20000);
	/* Monday 2026-11-23T23:30Z is Tuesday 00:30 local. */
	tu_local_time(NULL, TU_MON_0000 + 23 * 3600 + 1800, &l);
	assert_int_equal(l.wday, 2);
	assert_int_equal(l.hour, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utc_matches_gmtime),
		cmocka_unit_test(test_utc_extremes),
		cmocka_unit_test(test_range_check),
		cmocka_unit_test(test_libc_berlin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
