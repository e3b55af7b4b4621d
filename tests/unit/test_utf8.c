/* test_utf8.c - strict UTF-8 validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

#define VALID(lit)   assert_int_equal(utf8_valid(lit, sizeof(lit) - 1), 1)
#define INVALID(lit) assert_int_equal(utf8_valid(lit, sizeof(lit) - 1), 0)

static void
test_ascii(void **state)
{
	(void)state;
	assert_int_equal(utf8_valid(NULL, 0), 1);
	VALID("");
	VALID("a");
	VALID("hello, world: {\"jsonrpc\":\"2.0\"} 0123456789");
	/* NUL is well-formed UTF-8; callers refuse it themselves. */
	VALID("a\0b");
	VALID("\x7f");
}

static void
test_multibyte(void **state)
{
	(void)state;
	VALID("\xc2\x80");			/* U+0080, smallest 2-byte */
	VALID("\xdf\xbf");			/* U+07FF */
	VALID("\xe0\xa0\x80");			/* U+0800, smallest 3-byte */
	VALID("\xed\x9f\xbf");			/* U+D7FF, just below surrogates */
	VALID("\xee\x80\x80");			/* U+E000, just above */
	VALID("\xef\xbf\xbf");			/* U+FFFF */
	VALID("\xf0\x90\x80\x80");		/* U+10000 */
	VALID("\xf4\x8f\xbf\xbf");		/* U+10FFFF, the last */
	VALID("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void
test_overlong(void **state)
{
	(void)state;
	INVALID("\xc0\xaf");			/* '/' in 2 bytes */
	INVALID("\xc1\xbf");
	INVALID("\xe0\x80\xaf");		/* '/' in 3 bytes */
	INVALID("\xe0\x9f\xbf");		/* U+07FF in 3 bytes */
	INVALID("\xf0\x80\x80\xaf");		/* '/' in 4 bytes */
	INVALID("\xf0\x8f\xbf\xbf");		/* U+FFFF in 4 bytes */
}

static void
test_surrogates_and_range(void **state)
{
	(void)state;
	INVALID("\xed\xa0\x80");		/* U+D800 */
	INVALID("\xed\xbf\xbf");		/* U+DFFF */
	INVALID("\xed\xa0\xbd\xed\xb8\x80");	/* CESU-8 pair */
	INVALID("\xf4\x90\x80\x80");		/* U+110000 */
	INVALID("\xf5\x80\x80\x80");
	INVALID("\xf8\x88\x80\x80\x80");	/* 5-byte form */
	INVALID("\xfe");
	INVALID("\xff");
}

static void
test_malformed(void **state)
{
	(void)state;
	INVALID("\x80");			/* lone continuation */
	INVALID("a\xbf");
	INVALID("\xc3");			/* truncated at the end */
	INVALID("\xe2\x82");
	INVALID("\xf0\x9f\x98");
	INVALID("\xc3(");			/* bad continuation */
	INVALID("\xe2(\xa1");
	INVALID("\xf0\x9f(\x80");
	INVALID("\xe2\x82\xac\xac");		/* one continuation too many */
}

/* The 8-byte fast path must not skip a bad byte anywhere in a word. */
static void
test_fast_path_positions(void **state)
{
	char buf[40];
	size_t i;

	(void)state;
	for (i = 0; i < 32; i++) {
		memset(buf, 'a', sizeof buf);
		buf[i] = (char)0xff;
		assert_int_equal(utf8_valid(buf, sizeof buf), 0);
		assert_int_equal(utf8_valid_prefix(buf, sizeof buf), i);
		/* A valid 2-byte char at the same place is fine. */
		buf[i] = (char)0xc3;
		buf[i + 1] = (char)0xa9;
		assert_int_equal(utf8_valid(buf, sizeof buf), 1);
	}
	/* A truncated sequence at the very end of a long ASCII run. */
	memset(buf, 'a', sizeof buf);
	buf[sizeof buf - 1] = (char)0xe2;
	assert_int_equal(utf8_valid_prefix(buf, sizeof buf), sizeof buf - 1);
	/* The length is respected: the bad byte past len is not looked at. */
	assert_int_equal(utf8_valid(buf, sizeof buf - 1), 1);
}

static void
test_prefix(void **state)
{
	(void)state;
	assert_int_equal(utf8_valid_prefix("abc", 3), 3);
	assert_int_equal(utf8_valid_prefix("ab\xc0\xaf", 4), 2);
	assert_int_equal(utf8_valid_prefix("\xc3\xa9\xed\xa0\x80", 5), 2);
	assert_int_equal(utf8_valid_prefix("\xf0\x9f\x98\x80\xf0\x9f", 6), 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii),
		cmocka_unit_test(test_multibyte),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_surrogates_and_range),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_fast_path_positions),
		cmocka_unit_test(test_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
