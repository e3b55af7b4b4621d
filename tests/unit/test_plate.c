/* test_plate.c - unit tests of licence plate validation and folding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "plate.h"

/* Normalizes the NUL-terminated s and checks the result. */
static void
expect_ok(const char *s, const char *want)
{
	char out[PLATE_BUFSZ];

	memset(out, 'Z', sizeof(out));
	if (plate_normalize(s, strlen(s), out) != 0)
		fail_msg("'%s' refused", s);
	assert_string_equal(out, want);
}

static void
expect_bad(const char *s, size_t len)
{
	char out[PLATE_BUFSZ];

	memset(out, 'Z', sizeof(out));
	assert_int_equal(plate_normalize(s, len, out), -1);
	assert_string_equal(out, "");
}

static void
test_valid_characters(void **state)
{
	(void)state;
	expect_ok("B-XY 123", "B-XY 123");
	expect_ok("ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP");
	expect_ok("QRSTUVWXYZ", "QRSTUVWXYZ");
	expect_ok("0123456789", "0123456789");
	expect_ok("-", "-");
	expect_ok("7", "7");
	expect_ok("A--1", "A--1");
}

static void
test_case_folding(void **state)
{
	(void)state;
	expect_ok("b-xy 123", "B-XY 123");
	expect_ok("abcdefghijklmnop", "ABCDEFGHIJKLMNOP");
	expect_ok("qrstuvwxyz", "QRSTUVWXYZ");
	expect_ok("mIxEd-9", "MIXED-9");
}

static void
test_inner_spaces_kept(void **state)
{
	(void)state;
	expect_ok("B  XY", "B  XY");
	expect_ok("A B C", "A B C");
	expect_ok("A   -   1", "A   -   1");
}

static void
test_trimming(void **state)
{
	(void)state;
	expect_ok("  b-xy 1  ", "B-XY 1");
	expect_ok(" A", "A");
	expect_ok("A ", "A");
	/* Leading and trailing spaces do not count against the 16. */
	expect_ok("   ABCDEFGHIJKLMNOP   ", "ABCDEFGHIJKLMNOP");
	/* Only spaces is no plate. */
	expect_bad("   ", 3);
	expect_bad(" ", 1);
}

static void
test_length(void **state)
{
	(void)state;
	expect_ok("1234567890123456", "1234567890123456");
	expect_bad("12345678901234567", 17);
	expect_bad("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 42);
	expect_bad("", 0);
	/* The length argument rules, not the NUL. */
	{
		char out[PLATE_BUFSZ];

		assert_int_equal(plate_normalize("AB123XYZ", 2, out), 0);
		assert_string_equal(out, "AB");
		assert_int_equal(plate_normalize("ABCDEFGHIJKLMNOPQ", 16, out), 0);
		assert_string_equal(out, "ABCDEFGHIJKLMNOP");
	}
}

static void
test_invalid_characters(void **state)
{
	static const char *const bad[] = {
		"AB_1", "AB.1", "AB/1", "A\tB", "AB\n", "\tAB", "ÄB", "A+B",
		"A'B", "A\"B", "A:B", "@", "`", "[", "{", "a~b", "A,B", "A*",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i], strlen(bad[i]));
	/* A NUL inside the given length is not a plate character. */
	expect_bad("AB\0CD", 5);
	/* High bytes (UTF-8 of "É") and DEL. */
	expect_bad("\xc3\x89", 2);
	expect_bad("\x7f", 1);
	/* Every byte outside the alphabet is refused, every one inside kept. */
	for (int c = 1; c < 256; c++) {
		char in[2] = { (char)c, 'X' };
		char out[PLATE_BUFSZ];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-';

		if (c == ' ')
			continue;	/* trimmed, covered above */
		assert_int_equal(plate_normalize(in, 2, out), ok ? 0 : -1);
		if (ok) {
			assert_int_equal(out[0], (c >= 'a' && c <= 'z') ? c - 32 : c);
			assert_int_equal(out[1], 'X');
			assert_int_equal(out[2], '\0');
		} else {
			assert_string_equal(out, "");
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_characters),
		cmocka_unit_test(test_case_folding),
		cmocka_unit_test(test_inner_spaces_kept),
		cmocka_unit_test(test_trimming),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_invalid_characters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
