/* test_rfc3339.c - RFC 3339 parsing, formatting and the civil calendar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rfc3339.h"

static int
parse(const char *s, int64_t *t)
{
	return rfc3339_parse(s, strlen(s), t);
}

static void
expect_time(const char *s, int64_t want)
{
	int64_t t = -12345;

	if (parse(s, &t) != 0)
		fail_msg("refused \"%s\"", s);
	if (t != want)
		fail_msg("\"%s\": got %lld, want %lld", s, (long long)t,
		    (long long)want);
}

static void
test_parse_valid(void **state)
{
	(void)state;
	expect_time("1970-01-01T00:00:00Z", 0);
	expect_time("2026-11-22T08:00:00Z", 1795334400);
	expect_time("2024-02-29T12:34:56Z", 1709210096);
	expect_time("2000-02-29T23:59:59Z", 951868799);
	expect_time("2038-01-19T03:14:07Z", 2147483647);
	expect_time("2038-01-19T03:14:08Z", 2147483648);
	expect_time("2100-02-28T00:00:00Z", 4107456000);
	expect_time("9999-12-31T23:59:59Z", 253402300799);
	/* Lower case separators. */
	expect_time("2026-11-22t08:00:00z", 1795334400);
	/* Fractions are truncated, never rounded up. */
	expect_time("2026-11-22T08:00:00.999Z", 1795334400);
	expect_time("2026-11-22T08:00:00.5Z", 1795334400);
	expect_time("2026-11-22T08:00:00.123456789Z", 1795334400);
	/* Offsets: local minus offset is UTC. */
	expect_time("2026-11-22T09:00:00+01:00", 1795334400);
	expect_time("2026-11-22T02:30:00-05:30", 1795334400);
	expect_time("2026-11-22T08:00:00+00:00", 1795334400);
	expect_time("2026-11-22T08:00:00-00:00", 1795334400);
	expect_time("2026-11-23T07:59:00+23:59", 1795334400);
	expect_time("2026-11-22T08:00:00.25+01:00", 1795334400 - 3600);
	expect_time("1970-01-01T01:00:00+01:00", 0);
	expect_time("9999-12-31T23:59:59+01:00", 253402300799 - 3600);
}

static void
test_parse_uses_len_not_nul(void **state)
{
	const char s[] = "2026-11-22T08:00:00Zjunk";
	int64_t t = 0;

	(void)state;
	assert_int_equal(rfc3339_parse(s, 20, &t), 0);
	assert_int_equal(t, 1795334400);
	assert_int_equal(rfc3339_parse(s, 21, &t), -1);
	assert_int_equal(rfc3339_parse(s, 19, &t), -1);
	assert_int_equal(rfc3339_parse(s, 0, &t), -1);
	assert_int_equal(rfc3339_parse(NULL, 20, &t), -1);
	assert_int_equal(rfc3339_parse(s, 20, NULL), -1);
	/* An offset cut short by len. */
	assert_int_equal(rfc3339_parse("2026-11-22T09:00:00+01:00", 24, &t), -1);
}

static void
test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"2026-11-22T08:00:00",		/* no zone */
		"2026-11-22T08:00:00Z ",	/* trailing space */
		" 2026-11-22T08:00:00Z",
		"2026-11-22 08:00:00Z",		/* space for T */
		"2026-11-22X08:00:00Z",
		"2026/11/22T08:00:00Z",
		"2026-11-22T08-00-00Z",
		"26-11-22T08:00:00Z",
		"+2026-11-22T08:00:00Z",
		"2026-1-22T08:00:00Z",
		"2026-11-22T8:00:00Z",
		"2026-11-22T08:00:0Z",
		"2026-11-22T08:00Z",
		"1969-12-31T23:59:59Z",		/* before 1970 */
		"0000-01-01T00:00:00Z",
		"2026-00-22T08:00:00Z",
		"2026-13-22T08:00:00Z",
		"2026-11-00T08:00:00Z",
		"2026-11-31T08:00:00Z",		/* November has 30 days */
		"2026-04-31T08:00:00Z",
		"2026-01-32T08:00:00Z",
		"2023-02-29T08:00:00Z",		/* not a leap year */
		"2100-02-29T08:00:00Z",		/* century, not leap */
		"2026-11-22T24:00:00Z",
		"2026-11-22T23:60:00Z",
		"2026-11-22T23:59:60Z",		/* leap seconds refused */
		"2026-11-22T08:00:00.Z",	/* fraction without digits */
		"2026-11-22T08:00:00.1234567890Z",	/* beyond nanoseconds */
		"2026-11-22T08:00:00,5Z",
		"2026-11-22T08:00:00+24:00",
		"2026-11-22T08:00:00+01:60",
		"2026-11-22T08:00:00+0100",
		"2026-11-22T08:00:00+01",
		"2026-11-22T08:00:00+01:00Z",
		"2026-11-22T08:00:00ZZ",
		"2026-11-22T08:00:00UTC",
		"1970-01-01T00:30:00+01:00",	/* 1969 in UTC */
		"9999-12-31T23:59:59-00:01",	/* year 10000 in UTC */
		"2026-11-22T08:00:00\xef\xbc\xba",	/* full-width Z */
		"２026-11-22T08:00:00Z",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 777;

		if (parse(bad[i], &t) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(t, 777);	/* *out untouched */
	}
}

static void
expect_format(int64_t t, const char *want)
{
	char buf[RFC3339_BUFSZ];

	memset(buf, 'x', sizeof(buf));
	rfc3339_format(t, buf);
	assert_string_equal(buf, want);
}

static void
test_format(void **state)
{
	(void)state;
	expect_format(0, "1970-01-01T00:00:00Z");
	expect_format(1795334400, "2026-11-22T08:00:00Z");
	expect_format(1709210096, "2024-02-29T12:34:56Z");
	expect_format(951868799, "2000-02-29T23:59:59Z");
	expect_format(253402300799, "9999-12-31T23:59:59Z");
	/* Clamped into the printable range. */
	expect_format(-1, "1970-01-01T00:00:00Z");
	expect_format(INT64_MIN, "1970-01-01T00:00:00Z");
	expect_format(253402300800, "9999-12-31T23:59:59Z");
	expect_format(INT64_MAX, "9999-12-31T23:59:59Z");
}

/* format, parse and gmtime_r agree across the whole range. */
static void
test_round_trip_and_gmtime(void **state)
{
	const int64_t step = 86400 * 3 + 3607 * 7 + 13;
	int64_t t, n = 0;
	char buf[RFC3339_BUFSZ], want[64];

	(void)state;
	for (t = 0; t <= RFC3339_MAX; t += step) {
		int64_t back = -1;
		time_t tt = (time_t)t;
		struct tm tm;

		rfc3339_format(t, buf);
		assert_int_equal(strlen(buf), RFC3339_BUFSZ - 1);
		assert_int_equal(rfc3339_parse(buf, strlen(buf), &back), 0);
		assert_int_equal(back, t);
		assert_non_null(gmtime_r(&tt, &tm));
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		assert_string_equal(buf, want);
		n++;
	}
	assert_int_equal(n, RFC3339_MAX / step + 1);
}

static void
test_civil(void **state)
{
	int64_t days, y;
	int m, d;

	(void)state;
	assert_int_equal(rfc3339_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(rfc3339_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(rfc3339_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(rfc3339_days_from_civil(1, 1, 1), -719162);
	rfc3339_civil_from_days(-719162, &y, &m, &d);
	assert_int_equal(y, 1);
	assert_int_equal(m, 1);
	assert_int_equal(d, 1);
	/* Inverse of each other, day by day, over 0001..9999 and beyond. */
	for (days = -1000000; days < 3000000; days++) {
		rfc3339_civil_from_days(days, &y, &m, &d);
		assert_true(m >= 1 && m <= 12);
		assert_true(d >= 1 && d <= rfc3339_month_days(y, m));
		if (rfc3339_days_from_civil(y, m, d) != days)
			fail_msg("day %lld", (long long)days);
	}
	assert_int_equal(rfc3339_is_leap(2000), 1);
	assert_int_equal(rfc3339_is_leap(1900), 0);
	assert_int_equal(rfc3339_is_leap(2024), 1);
	assert_int_equal(rfc3339_is_leap(2026), 0);
	assert_int_equal(rfc3339_month_days(2024, 2), 29);
	assert_int_equal(rfc3339_month_days(2026, 2), 28);
	assert_int_equal(rfc3339_month_days(2026, 12), 31);
	assert_int_equal(rfc3339_month_days(2026, 0), 0);
	assert_int_equal(rfc3339_month_days(2026, 13), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_uses_len_not_nul),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_round_trip_and_gmtime),
		cmocka_unit_test(test_civil),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
