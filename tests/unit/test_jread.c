/* test_jread.c - the checked readers: presence, types, bounds, messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jread.h"
#include "testutil.h"

static char msg[256];
static struct jerr e = { msg, sizeof msg, 0 };

/* The message of the last failure is exactly want; resets it. */
static void
expect_msg(const char *want)
{
	if (strcmp(msg, want) != 0)
		fail_msg("message \"%s\", want \"%s\"", msg, want);
	strcpy(msg, "-");
}

static void
test_presence(void **state)
{
	cJSON *o = tu_json("{ 'n': 5, 'z': null }");
	int64_t v = 42;

	(void)state;
	strcpy(msg, "-");
	/* Absent: 0, the default stays, nothing written. */
	assert_int_equal(jr_int(o, "x", "m", 0, 0, 9, &v, &e), 0);
	assert_int_equal(v, 42);
	assert_string_equal(msg, "-");
	assert_int_equal(jr_int(o, "x", "m", JR_REQUIRED, 0, 9, &v, &e), -1);
	expect_msg("x.m: is required");
	/* Present: 1 and the value. */
	assert_int_equal(jr_int(o, "x", "n", JR_REQUIRED, 0, 9, &v, &e), 1);
	assert_int_equal(v, 5);
	/* null is a value unless JR_NULL says it is as good as absent. */
	assert_int_equal(jr_int(o, "x", "z", 0, 0, 9, &v, &e), -1);
	expect_msg("x.z: must be an integer");
	assert_int_equal(jr_int(o, "x", "z", JR_NULL, 0, 9, &v, &e), 0);
	assert_int_equal(jr_int(o, "x", "z", JR_NULL | JR_REQUIRED, 0, 9, &v,
	    &e), -1);
	expect_msg("x.z: is required");
	/* A NULL object has no members; a NULL key reads the value itself. */
	assert_int_equal(jr_int(NULL, "x", "n", 0, 0, 9, &v, &e), 0);
	assert_int_equal(jr_int(NULL, "x", "n", JR_REQUIRED, 0, 9, &v, &e), -1);
	expect_msg("x.n: is required");
	assert_int_equal(jr_int(o->child, "a[3]", NULL, 0, 0, 9, &v, &e), 1);
	assert_int_equal(v, 5);
	assert_int_equal(jr_int(o->child, "a[3]", NULL, 0, 6, 9, &v, &e), -1);
	expect_msg("a[3]: must be between 6 and 9");
	/* An empty path: the key alone.  Names are compared exactly. */
	assert_int_equal(jr_int(o, "", "N", JR_REQUIRED, 0, 9, &v, &e), -1);
	expect_msg("N: is required");
	/* Members of a non-object are absent. */
	assert_int_equal(jr_int(o->child, "", "n", 0, 0, 9, &v, &e), 0);
	cJSON_Delete(o);
}

static void
test_int(void **state)
{
	cJSON *o = tu_json("{ 'a': 1.5, 'b': '3', 'c': 1e999, 'd': -1e999,"
	    " 'e': 9007199254740992, 'f': -7, 'g': 1e2, 'h': true }");
	int64_t v = 0;

	(void)state;
	assert_int_equal(jr_int(o, "p", "a", 0, 0, 9, &v, &e), -1);
	expect_msg("p.a: must be an integer");
	assert_int_equal(jr_int(o, "p", "b", 0, 0, 9, &v, &e), -1);
	expect_msg("p.b: must be an integer");
	assert_int_equal(jr_int(o, "p", "b", JR_NULL, 0, 9, &v, &e), -1);
	expect_msg("p.b: must be an integer or null");
	assert_int_equal(jr_int(o, "p", "c", 0, 0, 9, &v, &e), -1);
	expect_msg("p.c: must be an integer");
	assert_int_equal(jr_int(o, "p", "d", 0, 0, 9, &v, &e), -1);
	expect_msg("p.d: must be an integer");
	assert_int_equal(jr_int(o, "p", "h", 0, 0, 9, &v, &e), -1);
	expect_msg("p.h: must be an integer");
	assert_int_equal(jr_int(o, "p", "e", 0, 0, (int64_t)1 << 53, &v, &e), 1);
	assert_int_equal(v, (int64_t)1 << 53);
	assert_int_equal(jr_int(o, "p", "e", 0, 0, ((int64_t)1 << 53) - 1, &v,
	    &e), -1);
	expect_msg("p.e: must be between 0 and 9007199254740991");
	assert_int_equal(jr_int(o, "p", "f", 0, -7, 0, &v, &e), 1);
	assert_int_equal(v, -7);
	assert_int_equal(jr_int(o, "p", "f", 0, -6, 0, &v, &e), -1);
	expect_msg("p.f: must be between -6 and 0");
	/* An exponent is fine when the value is integral. */
	assert_int_equal(jr_int(o, "p", "g", 0, 0, 100, &v, &e), 1);
	assert_int_equal(v, 100);
	cJSON_Delete(o);
}

static void
test_fixed(void **state)
{
	cJSON *o = tu_json("{ 'a': 1.25, 'b': 0.001, 'c': 1.0005, 'd': 0,"
	    " 'e': 100.5, 'f': '1', 'g': 1e999, 'h': 0.123456, 'i': -2.5,"
	    " 'j': 33.3333333 }");
	int64_t v = 0;

	(void)state;
	assert_int_equal(jr_fixed(o, "t", "a", 0, 3, 1, 100000, &v, &e), 1);
	assert_int_equal(v, 1250);
	assert_int_equal(jr_fixed(o, "t", "b", 0, 3, 1, 100000, &v, &e), 1);
	assert_int_equal(v, 1);
	assert_int_equal(jr_fixed(o, "t", "c", 0, 3, 1, 100000, &v, &e), -1);
	expect_msg("t.c: must have at most 3 decimals");
	/* Bounds are written as decimals. */
	assert_int_equal(jr_fixed(o, "t", "d", 0, 3, 1, 100000, &v, &e), -1);
	expect_msg("t.d: must be between 0.001 and 100");
	assert_int_equal(jr_fixed(o, "t", "e", 0, 3, 1, 100000, &v, &e), -1);
	expect_msg("t.e: must be between 0.001 and 100");
	assert_int_equal(jr_fixed(o, "t", "g", 0, 3, 1, 100000, &v, &e), -1);
	expect_msg("t.g: must be between 0.001 and 100");
	assert_int_equal(jr_fixed(o, "t", "i", 0, 2, -250, 250, &v, &e), 1);
	assert_int_equal(v, -250);
	assert_int_equal(jr_fixed(o, "t", "i", 0, 2, -249, 250, &v, &e), -1);
	expect_msg("t.i: must be between -2.49 and 2.5");
	assert_int_equal(jr_fixed(o, "t", "f", JR_NULL, 3, 1, 100000, &v, &e), -1);
	expect_msg("t.f: must be a number or null");
	assert_int_equal(jr_fixed(o, "t", "h", 0, 6, 0, 1000000, &v, &e), 1);
	assert_int_equal(v, 123456);
	assert_int_equal(jr_fixed(o, "t", "h", 0, 5, 0, 100000, &v, &e), -1);
	expect_msg("t.h: must have at most 5 decimals");
	/* JR_ROUND rounds extra decimals away instead. */
	assert_int_equal(jr_fixed(o, "t", "j", JR_ROUND, 3, 0, 100000, &v, &e), 1);
	assert_int_equal(v, 33333);
	assert_int_equal(jr_fixed(o, "t", "c", JR_ROUND, 3, 0, 100000, &v, &e), 1);
	assert_int_equal(v, 1001);
	/* No decimals at all. */
	assert_int_equal(jr_fixed(o, "t", "a", 0, 0, 0, 10, &v, &e), -1);
	expect_msg("t.a: must have at most 0 decimals");
	cJSON_Delete(o);
}

static void
test_strings(void **state)
{
	static const char *const roles[] = { "entry", "exit", "both", NULL };
	static const char *const two[] = { "in", "out", NULL };
	cJSON *o = tu_json("{ 's': 'abcd', 'n': 5, 'r': 'exit', 'x': 'Exit',"
	    " 'b': false, 't': '2026-11-22T08:00:00Z', 'u': '2026-13-01T00:00:00Z' }");
	const char *s = NULL;
	int64_t t = 0;
	int i = -1;

	(void)state;
	assert_int_equal(jr_str(o, "", "s", 0, 4, &s, &e), 1);
	assert_string_equal(s, "abcd");
	assert_int_equal(jr_str(o, "", "s", 0, 3, &s, &e), -1);
	expect_msg("s: must be at most 3 bytes");
	assert_int_equal(jr_str(o, "", "n", 0, 3, &s, &e), -1);
	expect_msg("n: must be a string");
	assert_int_equal(jr_str(o, "", "n", JR_NULL, 3, &s, &e), -1);
	expect_msg("n: must be a string or null");
	assert_int_equal(jr_enum(o, "g", "r", 0, roles, &i, &e), 1);
	assert_int_equal(i, 1);
	assert_int_equal(jr_enum(o, "g", "x", 0, roles, &i, &e), -1);
	expect_msg("g.x: must be entry, exit or both");
	assert_int_equal(jr_enum(o, "g", "n", 0, two, &i, &e), -1);
	expect_msg("g.n: must be in or out");
	assert_int_equal(jr_bool(o, "", "b", 0, &i, &e), 1);
	assert_int_equal(i, 0);
	assert_int_equal(jr_bool(o, "", "s", 0, &i, &e), -1);
	expect_msg("s: must be true or false");
	assert_int_equal(jr_time(o, "", "t", 0, &t, &e), 1);
	assert_int_equal(t, 1795334400);
	assert_int_equal(jr_time(o, "", "u", 0, &t, &e), -1);
	expect_msg("u: must be an RFC 3339 time like 2026-11-22T08:00:00Z");
	assert_int_equal(jr_time(o, "", "n", 0, &t, &e), -1);
	expect_msg("n: must be an RFC 3339 time like 2026-11-22T08:00:00Z");
	cJSON_Delete(o);
}

static void
test_containers(void **state)
{
	static const char *const keys[] = { "a", "b", NULL };
	static const char *const more[] = { "c", NULL };
	cJSON *o = tu_json("{ 'l': [1, 2, 3], 'o': { 'a': 1, 'c': 2 },"
	    " 'p': { 'b': 1 }, 'n': 1 }");
	const cJSON *out = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(jr_array(o, "", "l", 0, 3, &out, &n, &e), 1);
	assert_int_equal(n, 3);
	assert_true(cJSON_IsArray(out));
	assert_int_equal(jr_array(o, "", "l", 0, 2, &out, &n, &e), -1);
	expect_msg("l: must have at most 2 entries");
	assert_int_equal(jr_array(o, "", "o", 0, 2, &out, &n, &e), -1);
	expect_msg("o: must be an array");
	assert_int_equal(jr_object(o, "", "p", 0, keys, &out, &e), 1);
	assert_true(cJSON_IsObject(out));
	assert_int_equal(jr_object(o, "", "o", 0, keys, &out, &e), -1);
	expect_msg("o.c: unknown key");
	assert_int_equal(jr_object(o, "", "o", 0, NULL, &out, &e), 1);
	assert_int_equal(jr_object(o, "", "l", 0, NULL, &out, &e), -1);
	expect_msg("l: must be an object");
	/* Two readers sharing one object. */
	out = cJSON_GetObjectItemCaseSensitive(o, "o");
	assert_int_equal(jr_keys(out, "o", keys, more, &e), 0);
	assert_int_equal(jr_keys(out, "o", more, NULL, &e), -1);
	expect_msg("o.a: unknown key");
	assert_int_equal(jr_keys(NULL, "q", keys, NULL, &e), -1);
	expect_msg("q: must be an object");
	cJSON_Delete(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_presence),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_containers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
