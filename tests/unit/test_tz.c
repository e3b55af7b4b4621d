/* test_tz.c - tz.c against glibc's localtime_r on real and hand-built zones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rfc3339.h"
#include "tz.h"

#define ZONEINFO "/usr/share/zoneinfo/"

/* Reads a whole file; NULL when it is missing (the test then skips). */
static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		size_t got;

		if (n == cap) {
			unsigned char *nb;

			cap = cap ? cap * 2 : 4096;
			nb = realloc(buf, cap);
			assert_non_null(nb);
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	*len = n;
	return buf;
}

static tz *
load_zone(const char *name)
{
	char path[256];
	unsigned char *buf;
	size_t len;
	tz *z;

	snprintf(path, sizeof(path), ZONEINFO "%s", name);
	buf = slurp(path, &len);
	if (buf == NULL)
		return NULL;
	z = tz_from_tzif(buf, len);
	free(buf);
	assert_non_null(z);
	return z;
}

static int64_t
at(const char *s)
{
	int64_t t;

	assert_int_equal(rfc3339_parse(s, strlen(s), &t), 0);
	return t;
}

static void
use_glibc_zone(const char *tzenv)
{
	assert_int_equal(setenv("TZ", tzenv, 1), 0);
	tzset();
}

/* One instant: tz_localtime must agree with glibc field by field. */
static void
check_same(const tz *z, int64_t t)
{
	struct tz_local l;
	struct tm tm;
	time_t tt = (time_t)t;

	assert_non_null(localtime_r(&tt, &tm));
	tz_localtime(z, t, &l);
	if (l.year != tm.tm_year + 1900 || l.month != tm.tm_mon + 1 ||
	    l.mday != tm.tm_mday || l.wday != tm.tm_wday ||
	    l.hour != tm.tm_hour || l.minute != tm.tm_min ||
	    l.second != tm.tm_sec || l.utc_offset_s != tm.tm_gmtoff) {
		fail_msg("t=%lld: ours %04d-%02d-%02d w%d %02d:%02d:%02d %+d, "
		    "glibc %04d-%02d-%02d w%d %02d:%02d:%02d %+ld", (long long)t,
		    l.year, l.month, l.mday, l.wday, l.hour, l.minute, l.second,
		    (int)l.utc_offset_s, tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday, tm.tm_wday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    tm.tm_gmtoff);
	}
}

/* The exact second glibc changes offset in (lo, hi], by bisection. */
static int64_t
glibc_change(int64_t lo, int64_t hi)
{
	struct tm a;
	time_t tl = (time_t)lo;

	localtime_r(&tl, &a);
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		struct tm b;
		time_t tm = (time_t)mid;

		localtime_r(&tm, &b);
		if (b.tm_gmtoff == a.tm_gmtoff)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/*
 * Compares z with glibc's idea of the same zone over 1970..2100: every 7
 * hours 13 minutes (a stride that walks through all times of day), 20000
 * pseudo-random instants, and one second either side of every offset change
 * glibc sees.  Returns the number of offset changes found.
 */
static int
sweep(const tz *z, const char *tzenv)
{
	const int64_t lo = 0, hi = at("2100-12-31T23:59:59Z");
	uint64_t rng = 0x9e3779b97f4a7c15u;
	int64_t t, prev_t = lo;
	struct tm prev;
	time_t tt = (time_t)lo;
	int changes = 0, i;

	use_glibc_zone(tzenv);
	localtime_r(&tt, &prev);
	for (t = lo; t <= hi; t += 7 * 3600 + 13 * 60) {
		struct tm cur;

		tt = (time_t)t;
		localtime_r(&tt, &cur);
		check_same(z, t);
		if (cur.tm_gmtoff != prev.tm_gmtoff) {
			int64_t c = glibc_change(prev_t, t);

			check_same(z, c - 1);
			check_same(z, c);
			check_same(z, c + 1);
			changes++;
		}
		prev = cur;
		prev_t = t;
	}
	for (i = 0; i < 20000; i++) {
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		check_same(z, lo + (int64_t)((rng >> 11) % (uint64_t)(hi - lo)));
	}
	return changes;
}

static void
test_berlin_matches_glibc(void **state)
{
	tz *z = load_zone("Europe/Berlin");

	(void)state;
	if (z == NULL)
		skip();
	/* Two changes a year since 1980 (none 1970..1979, some 1945-49 gone). */
	assert_true(sweep(z, "Europe/Berlin") >= 2 * (2100 - 1980));
	tz_free(z);
}

static void
test_new_york_matches_glibc(void **state)
{
	tz *z = load_zone("America/New_York");

	(void)state;
	if (z == NULL)
		skip();
	assert_true(sweep(z, "America/New_York") >= 2 * (2100 - 1970));
	tz_free(z);
}

static void
test_utc_file_matches_glibc(void **state)
{
	tz *z = load_zone("UTC");

	(void)state;
	if (z == NULL)
		skip();
	assert_int_equal(sweep(z, "UTC"), 0);
	tz_free(z);
}

static void
test_kolkata_matches_glibc(void **state)
{
	tz *z = load_zone("Asia/Kolkata");
	struct tz_local l;

	(void)state;
	if (z == NULL)
		skip();
	assert_int_equal(sweep(z, "Asia/Kolkata"), 0);
	tz_localtime(z, at("2026-11-22T08:00:00Z"), &l);
	assert_int_equal(l.utc_offset_s, 19800);
	assert_int_equal(l.hour, 13);
	assert_int_equal(l.minute, 30);
	tz_free(z);
}

static void
test_lord_howe_matches_glibc(void **state)
{
	tz *z = load_zone("Australia/Lord_Howe");

	(void)state;
	if (z == NULL)
		skip();
	/* Half-hour DST on the southern calendar (DST spans New Year). */
	assert_true(sweep(z, "Australia/Lord_Howe") >= 2 * (2100 - 1982));
	tz_free(z);
}

static void
expect_local(const tz *z, const char *utc, int y, int mo, int d, int wd,
    int h, int mi, int s, int32_t off)
{
	struct tz_local l;

	tz_localtime(z, at(utc), &l);
	assert_int_equal(l.year, y);
	assert_int_equal(l.month, mo);
	assert_int_equal(l.mday, d);
	assert_int_equal(l.wday, wd);
	assert_int_equal(l.hour, h);
	assert_int_equal(l.minute, mi);
	assert_int_equal(l.second, s);
	assert_int_equal(l.utc_offset_s, off);
}

/* The 2026 changes in Berlin, written out by hand (Sundays, wday 0). */
static void
test_berlin_2026_changes(void **state)
{
	tz *z = load_zone("Europe/Berlin");

	(void)state;
	if (z == NULL)
		skip();
	expect_local(z, "2026-03-29T00:59:59Z", 2026, 3, 29, 0, 1, 59, 59, 3600);
	expect_local(z, "2026-03-29T01:00:00Z", 2026, 3, 29, 0, 3, 0, 0, 7200);
	expect_local(z, "2026-10-25T00:59:59Z", 2026, 10, 25, 0, 2, 59, 59, 7200);
	expect_local(z, "2026-10-25T01:00:00Z", 2026, 10, 25, 0, 2, 0, 0, 3600);
	expect_local(z, "2026-11-22T08:00:00Z", 2026, 11, 22, 0, 9, 0, 0, 3600);
	/* Far past the fat file's 2037 table: the footer rule. */
	expect_local(z, "2099-03-29T01:00:00Z", 2099, 3, 29, 0, 3, 0, 0, 7200);
	expect_local(z, "2099-03-29T00:59:59Z", 2099, 3, 29, 0, 1, 59, 59, 3600);
	tz_free(z);
}

static void
test_utc_zone(void **state)
{
	tz *z = tz_utc();

	(void)state;
	assert_non_null(z);
	expect_local(z, "1970-01-01T00:00:00Z", 1970, 1, 1, 4, 0, 0, 0, 0);
	expect_local(z, "2000-02-29T23:59:59Z", 2000, 2, 29, 2, 23, 59, 59, 0);
	expect_local(z, "9999-12-31T23:59:59Z", 9999, 12, 31, 5, 23, 59, 59, 0);
	tz_free(z);
	tz_free(NULL);
}

static void
test_clamped_extremes(void **state)
{
	tz *z = tz_utc();
	struct tz_local l;

	(void)state;
	assert_non_null(z);
	tz_localtime(z, INT64_MAX, &l);
	assert_int_equal(l.year, 9999);
	assert_int_equal(l.month, 12);
	assert_int_equal(l.second, 59);
	tz_localtime(z, INT64_MIN, &l);
	assert_int_equal(l.year, 1);
	assert_int_equal(l.month, 1);
	assert_int_equal(l.mday, 1);
	assert_int_equal(l.wday, 1);	/* 0001-01-01 was a Monday */
	/* Before 1970: floor arithmetic, not truncation. */
	tz_localtime(z, -1, &l);
	assert_int_equal(l.year, 1969);
	assert_int_equal(l.hour, 23);
	assert_int_equal(l.second, 59);
	assert_int_equal(l.wday, 3);
	tz_localtime(NULL, 0, &l);
	assert_int_equal(l.year, 1970);
	assert_int_equal(l.utc_offset_s, 0);
	tz_free(z);
}

/* ---- hand-built files ---- */

struct bytes {
	unsigned char b[1024];
	size_t n;
};

static void
put(struct bytes *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof(o->b));
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void
put32(struct bytes *o, int64_t v)
{
	unsigned char q[4] = { (unsigned char)((uint64_t)v >> 24),
	    (unsigned char)((uint64_t)v >> 16), (unsigned char)((uint64_t)v >> 8),
	    (unsigned char)v };

	put(o, q, 4);
}

static void
header(struct bytes *o, char version, uint32_t timecnt, uint32_t typecnt,
    uint32_t charcnt)
{
	static const unsigned char zero[15];

	put(o, "TZif", 4);
	put(o, &version, 1);
	put(o, zero, sizeof(zero));
	put32(o, 0);		/* isutcnt */
	put32(o, 0);		/* isstdcnt */
	put32(o, 0);		/* leapcnt */
	put32(o, timecnt);
	put32(o, typecnt);
	put32(o, charcnt);
}

/*
 * A version 2 file with no transitions and one type of offset utoff, whose
 * footer is the given POSIX string (NULL: no footer line at all).
 */
static void
build_v2(struct bytes *o, int32_t utoff, const char *footer)
{
	int pass;

	o->n = 0;
	for (pass = 0; pass < 2; pass++) {
		unsigned char isdst = 0, idx = 0;

		header(o, '2', 0, 1, 4);
		put32(o, utoff);
		put(o, &isdst, 1);
		put(o, &idx, 1);
		put(o, "XXX", 4);
	}
	if (footer != NULL) {
		put(o, "\n", 1);
		put(o, footer, strlen(footer));
		put(o, "\n", 1);
	}
}

/*
 * POSIX footers, each checked against glibc parsing the same string from
 * TZ: glibc implements the RFC 8536 extensions too.
 */
static void
test_footer_rules_match_glibc(void **state)
{
	static const char *const rules[] = {
		"<+03>-3",
		"EST5EDT,M3.2.0,M11.1.0",
		"CET-1CEST,M3.5.0,M10.5.0/3",
		"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
		"AAA3BBB,J60/2,J300/2",		/* Jn: Feb 29 never counted */
		"AAA3BBB,59/2,299/2",		/* n: Feb 29 counted */
		"IST-2IDT,M3.4.4/26,M10.5.0",	/* time beyond 24 hours */
		"<-02>2<-01>,M3.5.0/-1,M10.5.0/0",	/* negative time */
		"AAA-5:45",
		"AAA+4BBB+3:30:15,M4.1.6/1:02:03,M9.5.1/23",
		"NZST-12NZDT,M9.5.0,M4.1.0/3",
	};
	struct bytes o;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		tz *z;

		build_v2(&o, 0, rules[i]);
		z = tz_from_tzif(o.b, o.n);
		if (z == NULL)
			fail_msg("refused footer %s", rules[i]);
		sweep(z, rules[i]);
		tz_free(z);
	}
}

/* Transitions fixed by hand, against expectations written by hand. */
static void
test_v1_file(void **state)
{
	struct bytes o = { .n = 0 };
	unsigned char tt[2] = { 1, 0 }, ty[6];
	tz *z;

	(void)state;
	header(&o, 0, 2, 2, 8);
	put32(&o, 1000);
	put32(&o, 2000);
	put(&o, tt, 2);
	memset(ty, 0, sizeof(ty));	/* type 0: +1h, std, "AAA" */
	ty[2] = 0x0e;
	ty[3] = 0x10;
	put(&o, ty, 6);
	ty[2] = 0x1c;			/* type 1: +2h, dst, "BBB" */
	ty[3] = 0x20;
	ty[4] = 1;
	ty[5] = 4;
	put(&o, ty, 6);
	put(&o, "AAA\0BBB", 8);
	z = tz_from_tzif(o.b, o.n);
	assert_non_null(z);
	{
		struct tz_local l;

		tz_localtime(z, 999, &l);
		assert_int_equal(l.utc_offset_s, 3600);	/* before: type 0 */
		tz_localtime(z, 1000, &l);
		assert_int_equal(l.utc_offset_s, 7200);
		tz_localtime(z, 1999, &l);
		assert_int_equal(l.utc_offset_s, 7200);
		tz_localtime(z, 2000, &l);
		assert_int_equal(l.utc_offset_s, 3600);
		tz_localtime(z, 1 << 30, &l);	/* v1: the last type stays */
		assert_int_equal(l.utc_offset_s, 3600);
	}
	tz_free(z);

	/* The same file with a transition type out of range. */
	o.b[44 + 2 * 4] = 2;
	assert_null(tz_from_tzif(o.b, o.n));
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"", "X", "EST", "EST5EDT,", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0",
		"EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J10",
		"EST5EDT,J366,J10", "EST5EDT,366,10", "AB5", "EST25", "<AB>5",
		"<+03-3", "EST5EDT,M3.2.0/168,M11.1.0", "EST5 ", "EST5EDT,M3.2.0,M11.1.0x",
		"EST5:60", "<+0\xc3>-3",
	};
	struct bytes o;
	size_t i;

	(void)state;
	assert_null(tz_from_tzif(NULL, 0));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		build_v2(&o, 0, bad[i]);
		/* An empty footer means "no rule" and is valid. */
		if (bad[i][0] == '\0') {
			tz *z = tz_from_tzif(o.b, o.n);

			assert_non_null(z);
			tz_free(z);
			continue;
		}
		if (tz_from_tzif(o.b, o.n) != NULL)
			fail_msg("accepted footer \"%s\"", bad[i]);
	}
	build_v2(&o, 0, NULL);		/* v2 without the footer line */
	assert_null(tz_from_tzif(o.b, o.n));
	build_v2(&o, 100000, "UTC0");	/* offset beyond 26 hours */
	assert_null(tz_from_tzif(o.b, o.n));
	build_v2(&o, 0, "UTC0");
	o.b[4] = '1';			/* no such version */
	assert_null(tz_from_tzif(o.b, o.n));
	build_v2(&o, 0, "UTC0");
	o.b[0] = 'X';
	assert_null(tz_from_tzif(o.b, o.n));
	/*
	 * build_v2 layout: the 32-bit block is 44 + 6 + 4 bytes, so the
	 * second header starts at 54, its counts at 74 and its data at 98.
	 */
	build_v2(&o, 0, "UTC0");
	o.b[98 + 4] = 2;		/* isdst must be 0 or 1 */
	assert_null(tz_from_tzif(o.b, o.n));
	build_v2(&o, 0, "UTC0");
	o.b[98 + 5] = 4;		/* designation index beyond charcnt */
	assert_null(tz_from_tzif(o.b, o.n));
	build_v2(&o, 0, "UTC0");
	o.b[74 + 19] = 0;		/* typecnt 0 in the 64-bit block */
	assert_null(tz_from_tzif(o.b, o.n));
	build_v2(&o, 0, "UTC0");
	o.b[74 + 12] = 0xff;		/* timecnt far beyond the bytes */
	assert_null(tz_from_tzif(o.b, o.n));
	build_v2(&o, 0, "UTC0");
	o.b[74 + 7] = 1;		/* isstdcnt neither 0 nor typecnt */
	assert_null(tz_from_tzif(o.b, o.n));
	build_v2(&o, 0, "UTC0");
	o.b[98 + 5] = 3;		/* the last valid index is fine */
	{
		tz *z = tz_from_tzif(o.b, o.n);

		assert_non_null(z);
		tz_free(z);
	}
}

/* Every strict prefix of a real file is refused; corrupted bytes never crash. */
static void
test_truncated_and_corrupted_real_file(void **state)
{
	unsigned char *buf;
	size_t len, i;
	uint64_t rng = 42;

	(void)state;
	buf = slurp(ZONEINFO "Europe/Berlin", &len);
	if (buf == NULL)
		skip();
	for (i = 0; i < len; i++) {
		tz *z = tz_from_tzif(buf, i);

		if (z != NULL)
			fail_msg("accepted a %zu-byte prefix of %zu", i, len);
	}
	for (i = 0; i < 20000; i++) {
		unsigned char *copy = malloc(len);
		struct tz_local l;
		tz *z;
		int k;

		assert_non_null(copy);
		memcpy(copy, buf, len);
		for (k = 0; k < 4; k++) {
			rng = rng * 6364136223846793005u + 1442695040888963407u;
			copy[(rng >> 33) % len] ^= (unsigned char)(rng >> 20);
		}
		z = tz_from_tzif(copy, len);
		tz_localtime(z, (int64_t)(rng >> 30) - (1LL << 33), &l);
		tz_localtime(z, INT64_MAX, &l);
		tz_localtime(z, INT64_MIN, &l);
		tz_free(z);
		free(copy);
	}
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_berlin_matches_glibc),
		cmocka_unit_test(test_new_york_matches_glibc),
		cmocka_unit_test(test_utc_file_matches_glibc),
		cmocka_unit_test(test_kolkata_matches_glibc),
		cmocka_unit_test(test_lord_howe_matches_glibc),
		cmocka_unit_test(test_berlin_2026_changes),
		cmocka_unit_test(test_utc_zone),
		cmocka_unit_test(test_clamped_extremes),
		cmocka_unit_test(test_footer_rules_match_glibc),
		cmocka_unit_test(test_v1_file),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_truncated_and_corrupted_real_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
