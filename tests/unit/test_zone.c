/*
 * test_zone.c - the daemon's local time (daemon/zone.c): with its hour
 * cache it answers exactly what localtime_r answers, across offset
 * changes on the hour and off it, backwards jumps, and leap-second zones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rng.h"
#include "zone.h"

/* daemon/zone.c's calls to localtime_r go through here (-Wl,--wrap). */
struct tm *__real_localtime_r(const time_t *t, struct tm *tm);
struct tm *__wrap_localtime_r(const time_t *t, struct tm *tm);
static unsigned long libc_calls;

struct tm *
__wrap_localtime_r(const time_t *t, struct tm *tm)
{
	libc_calls++;
	return __real_localtime_r(t, tm);
}

/* localtime_r calls zone_local_time made for t with the cache c. */
static unsigned long
calls_for(struct zone_cache *c, int64_t t)
{
	struct local_time lt;
	unsigned long before = libc_calls;

	zone_local_time(c, t, &lt);
	return libc_calls - before;
}

static void
use_zone(const char *name)
{
	char err[256];

	if (zone_set(name, err, sizeof(err)) != 0)
		fail_msg("%s (install tzdata)", err);
}

/* zone_local_time with the cache c and without any agree at t. */
static void
agree(struct zone_cache *c, int64_t t)
{
	struct local_time got, want;

	zone_local_time(c, t, &got);
	zone_local_time(NULL, t, &want);
	if (memcmp(&got, &want, sizeof(got)) != 0)
		fail_msg("t=%lld: cached %d %02d:%02d:%02d, localtime_r %d "
		    "%02d:%02d:%02d", (long long)t, got.wday, got.hour,
		    got.minute, got.second, want.wday, want.hour, want.minute,
		    want.second);
}

/* Every second of [from, to) in order, then every 7th backwards. */
static void
walk(struct zone_cache *c, int64_t from, int64_t to)
{
	for (int64_t t = from; t < to; t++)
		agree(c, t);
	for (int64_t t = to - 1; t >= from; t -= 7)
		agree(c, t);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* An instant of 1900 .. 2100. */
static int64_t
rnd_time(void)
{
	return -2208988800LL + (int64_t)(tu_rng(&rng_state) % 6311433600ULL);
}

/* Berlin changes its offset at 01:00 UTC: both hours around are cached. */
static void
test_berlin_changes_on_the_hour(void **state)
{
	struct zone_cache c = { 0, 0, 0, 0 };

	(void)state;
	use_zone("Europe/Berlin");
	walk(&c, 1774742400 - 600, 1774749600 + 600);	/* 2026-03-29 */
	walk(&c, 1792886400 - 600, 1792893600 + 600);	/* 2026-10-25 */
	/* A plain hour is cached, so the answers above came from it too. */
	agree(&c, 1780000000);
	assert_true(c.valid);
	assert_true(c.lo <= 1780000000 && 1780000000 <= c.hi);
	assert_int_equal(c.offset, 7200);
}

/*
 * Lord Howe Island moves by half an hour at 15:30 UTC: that hour has two
 * offsets and must not be cached.
 */
static void
test_change_inside_an_hour(void **state)
{
	struct zone_cache c = { 0, 0, 0, 0 };

	(void)state;
	use_zone("Australia/Lord_Howe");
	walk(&c, 1791039600 - 3600, 1791039600 + 7200);	/* 2026-10-03 */
	agree(&c, 1791041399);
	assert_false(c.valid);
	agree(&c, 1791043200);
	assert_true(c.valid);
	assert_int_equal(c.offset, 39600);
}

/* Instants in any order over two centuries, historical offsets and all. */
static void
test_random_instants(void **state)
{
	static const char *const zones[] = {
		"Europe/Berlin", "America/New_York", "Asia/Kathmandu",
		"Australia/Lord_Howe", "UTC",
	};

	(void)state;
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		struct zone_cache c = { 0, 0, 0, 0 };

		use_zone(zones[z]);
		for (int i = 0; i < 20000; i++) {
			int64_t t = rnd_time();

			agree(&c, t);
			agree(&c, t + 1 + i % 3000);	/* often the same hour */
		}
	}
}

/* A zone that counts leap seconds is never read through the cache. */
static void
test_leap_second_zone(void **state)
{
	struct zone_cache c = { 0, 0, 0, 0 };

	(void)state;
	use_zone("right/Europe/Berlin");
	/* 2016-12-31T23:59:60Z, the last leap second, and around it. */
	walk(&c, 1483228800 - 120, 1483228800 + 120);
	agree(&c, 1780000000);
	assert_false(c.valid);
}

/*
 * What the cache saves: a cached hour costs no localtime_r; the first
 * call in a new hour three (t and the hour's two ends); an hour found
 * changing one a call, not three again; a leap-second zone one a call.
 */
static void
test_calls_to_the_c_library(void **state)
{
	struct zone_cache c = { 0, 0, 0, 0 };

	(void)state;
	use_zone("Europe/Berlin");
	assert_int_equal(calls_for(&c, 1780000000), 3);
	assert_int_equal(calls_for(&c, 1780000001), 0);
	assert_int_equal(calls_for(&c, 1780003600), 3);	/* the next hour */
	use_zone("Australia/Lord_Howe");
	c = (struct zone_cache){ 0, 0, 0, 0 };
	assert_int_equal(calls_for(&c, 1791041399), 3);	/* changes at :30 */
	assert_false(c.valid);
	assert_int_equal(calls_for(&c, 1791041400), 1);
	assert_int_equal(calls_for(&c, 1791040000), 1);
	use_zone("right/Europe/Berlin");
	c = (struct zone_cache){ 0, 0, 0, 0 };
	/* t's own answer already disagrees with t + offset: no more asked. */
	assert_int_equal(calls_for(&c, 1780000000), 1);
	assert_int_equal(calls_for(&c, 1780000001), 1);
	assert_int_equal(calls_for(&c, 1780003600), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_berlin_changes_on_the_hour),
		cmocka_unit_test(test_change_inside_an_hour),
		cmocka_unit_test(test_random_instants),
		cmocka_unit_test(test_leap_second_zone),
		cmocka_unit_test(test_calls_to_the_c_library),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
