/* test_json.c - the strict parser, its messages, and the error type. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"
#include "failalloc.h"
#define malloc(n) fa_malloc(n)
#define calloc(k, n) fa_calloc(k, n)
#define realloc(p, n) fa_realloc(p, n)
#define free(p) fa_free(p)
#include "json.c"
#undef malloc
#undef calloc
#undef realloc
#undef free

/* Parses text (its strlen); expects a refusal with exactly msg. */
static void
expect_refused(const char *text, const char *root, const char *msg)
{
	char buf[256];
	struct jerr e = { buf, sizeof buf, 0 };
	cJSON *t;

	memset(buf, 'x', sizeof buf);
	t = json_parse(text, strlen(text), root, &e);
	if (t != NULL) {
		cJSON_Delete(t);
		fail_msg("accepted: %s", text);
	}
	if (strcmp(buf, msg) != 0)
		fail_msg("%s:\n got  \"%s\"\n want \"%s\"", text, buf, msg);
	assert_int_equal(e.nomem, 0);
}

static cJSON *
parse_ok(const char *text)
{
	char buf[256] = "";
	struct jerr e = { buf, sizeof buf, 0 };
	cJSON *t = json_parse(text, strlen(text), "", &e);

	if (t == NULL)
		fail_msg("refused %s: %s", text, buf);
	return t;
}

static void
test_values(void **state)
{
	cJSON *t;

	(void)state;
	t = parse_ok(" [1, \"a\", {\"b\": null}] ");
	assert_int_equal(cJSON_GetArraySize(t), 3);
	cJSON_Delete(t);
	/* Any value may be at the top. */
	t = parse_ok("12");
	assert_true(cJSON_IsNumber(t));
	cJSON_Delete(t);
	t = parse_ok("\"\\u00e9\\ud83d\\ude00\"");
	assert_string_equal(t->valuestring, "\xc3\xa9\xf0\x9f\x98\x80");
	cJSON_Delete(t);
	/* Names differing in case only are different names. */
	t = parse_ok("{\"a\":1,\"A\":2}");
	cJSON_Delete(t);
	/* The length is honoured: bytes after it are never read. */
	{
		char buf[256] = "";
		struct jerr e = { buf, sizeof buf, 0 };

		t = json_parse("[1]]]", 3, "", &e);
		assert_non_null(t);
		cJSON_Delete(t);
		/* A number up to the very end of the length, none after it. */
		t = json_parse("[1,-2.5e3]99", 10, "", &e);
		assert_non_null(t);
		assert_true(cJSON_GetArrayItem(t, 1)->valuedouble == -2500.0);
		cJSON_Delete(t);
		t = json_parse("7.25e1234", 4, "", &e);
		assert_non_null(t);
		assert_true(t != NULL && t->valuedouble == 7.25);
		cJSON_Delete(t);
	}
	/* Every escape, numbers as cJSON keeps them (int clamped to its range). */
	t = parse_ok("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00DF\\u20ac\", 3000000000, -3000000000, 2.75,"
	    " true, false, null]");
	assert_string_equal(cJSON_GetArrayItem(t, 0)->valuestring,
	    "\"\\/\b\f\n\r\tA\xc3\x9f\xe2\x82\xac");
	assert_int_equal(cJSON_GetArrayItem(t, 1)->valueint, INT_MAX);
	assert_int_equal(cJSON_GetArrayItem(t, 2)->valueint, INT_MIN);
	assert_int_equal(cJSON_GetArrayItem(t, 3)->valueint, 2);
	assert_true(cJSON_IsTrue(cJSON_GetArrayItem(t, 4)));
	assert_int_equal(cJSON_GetArrayItem(t, 4)->valueint, 1);
	assert_true(cJSON_IsFalse(cJSON_GetArrayItem(t, 5)));
	assert_true(cJSON_IsNull(cJSON_GetArrayItem(t, 6)));
	/* Linked as cJSON links: appending finds the last child. */
	cJSON_AddItemToArray(t, cJSON_CreateString("appended"));
	assert_int_equal(cJSON_GetArraySize(t), 8);
	assert_string_equal(cJSON_GetArrayItem(t, 7)->valuestring, "appended");
	cJSON_Delete(t);
	/* A number longer than cJSON's parser reads (64 characters and more). */
	t = parse_ok("{\"n\":1.000000000000000000000000000000000000000000000000000000000000000000000001}");
	assert_true(cJSON_GetObjectItemCaseSensitive(t, "n")->valuedouble == 1.0);
	cJSON_Delete(t);
}

static void
test_syntax_messages(void **state)
{
	(void)state;
	expect_refused("[1,]", "", "line 1, column 4: unexpected character");
	expect_refused("[1,]", "tariff", "tariff: line 1, column 4: unexpected character");
	expect_refused("", "", "line 1, column 1: unexpected end of input");
	expect_refused("{\n  \"a\": 1,\n  \"b\" 2\n}", "config",
	    "config: line 3, column 7: ':' expected");
	/* Columns count characters, not bytes. */
	expect_refused("{\"\xc3\xa9\xc3\xa9\": x}", "",
	    "line 1, column 8: unexpected character");
	expect_refused("[1]\n\n  x", "", "line 3, column 3: trailing characters after the JSON value");
	expect_refused("[\"a\xff\"]", "", "line 1, column 4: invalid UTF-8");
	expect_refused("[\"\\u0000\"]", "", "line 1, column 3: \\u0000 is not allowed in strings");
	expect_refused("[01]", "", "line 1, column 3: leading zero in number");
	expect_refused("[1.]", "", "line 1, column 4: invalid number: digit expected after '.'");
	expect_refused("{\"a\":1,}", "", "line 1, column 8: member name expected");
	expect_refused("\"abc", "", "line 1, column 5: unterminated string");
	expect_refused("\"\\ud800\"", "", "line 1, column 2: high surrogate escape without a low one");
	expect_refused("nul", "", "line 1, column 1: invalid literal");
}

/* n nested arrays: "[[[...]]]". */
static char *
nested(int n)
{
	char *s = (malloc)((size_t)n * 2 + 1);

	assert_non_null(s);
	memset(s, '[', (size_t)n);
	memset(s + n, ']', (size_t)n);
	s[2 * n] = '\0';
	return s;
}

static void
test_depth(void **state)
{
	char *s;
	cJSON *t;

	(void)state;
	s = nested(JSON_MAX_DEPTH);
	t = parse_ok(s);
	cJSON_Delete(t);
	(free)(s);
	s = nested(JSON_MAX_DEPTH + 1);
	expect_refused(s, "", "line 1, column 65: nested too deep (more than 64 levels)");
	(free)(s);
	/* Far too deep: refused by the parser long before cJSON's limit. */
	s = nested(1000000);
	expect_refused(s, "", "line 1, column 65: nested too deep (more than 64 levels)");
	(free)(s);
}

static void
test_duplicates(void **state)
{
	(void)state;
	expect_refused("{\"a\":1,\"b\":2,\"a\":3}", "", "a: duplicate key");
	expect_refused("{\"a\":1,\"b\":2,\"a\":3}", "tariff", "tariff.a: duplicate key");
	expect_refused("{\"x\":{\"y\":[0,{},{\"k\":1,\"k\":2}]}}", "",
	    "x.y[2].k: duplicate key");
	expect_refused("[{},{\"id\":1,\"id\":1}]", "", "[1].id: duplicate key");
	expect_refused("[{},{\"id\":1,\"id\":1}]", "params", "params[1].id: duplicate key");
	/* Escapes are decoded before comparing. */
	expect_refused("{\"a\":1,\"\\u0061\":2}", "", "a: duplicate key");
	expect_refused("{\"\":1,\"\":2}", "p", "p.\"\": duplicate key");
	expect_refused("{\"\":1,\"\":2}", "", "\"\": duplicate key");
}

/* A plain model: whether any object under j has two equal member names. */
static int
model_has_dup(const cJSON *j)
{
	const cJSON *a, *b;

	for (a = j->child; a != NULL; a = a->next) {
		if (model_has_dup(a))
			return 1;
		if (!cJSON_IsObject(j))
			continue;
		for (b = a->next; b != NULL; b = b->next)
			if (strcmp(a->string, b->string) == 0)
				return 1;
	}
	return 0;
}

static uint64_t rng = 88172645463325252ULL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* A random value of objects with names from a small set, arrays, numbers. */
static void
gen(char *buf, size_t *off, int depth)
{
	static const char *const names[] = { "a", "b", "c", "\\u0061", "A" };
	unsigned n, i;

	if (depth > 4 || rnd(3) == 0) {
		*off += (size_t)sprintf(buf + *off, "%u", rnd(10));
		return;
	}
	n = rnd(4);
	if (rnd(2)) {
		buf[(*off)++] = '[';
		for (i = 0; i < n; i++) {
			if (i)
				buf[(*off)++] = ',';
			gen(buf, off, depth + 1);
		}
		buf[(*off)++] = ']';
		return;
	}
	buf[(*off)++] = '{';
	for (i = 0; i < n; i++) {
		*off += (size_t)sprintf(buf + *off, "%s\"%s\":", i ? "," : "",
		    names[rnd(5)]);
		gen(buf, off, depth + 1);
	}
	buf[(*off)++] = '}';
}

/* json_parse refuses exactly the texts in which the model finds a duplicate. */
static void
test_duplicates_model(void **state)
{
	static char buf[1 << 16];
	int refused = 0;

	(void)state;
	for (int round = 0; round < 3000; round++) {
		char msg[256];
		struct jerr e = { msg, sizeof msg, 0 };
		size_t off = 0;
		cJSON *lenient, *strict;

		gen(buf, &off, 0);
		buf[off] = '\0';
		lenient = cJSON_ParseWithLength(buf, off);
		assert_non_null(lenient);
		strict = json_parse(buf, off, "", &e);
		if (model_has_dup(lenient)) {
			if (strict != NULL)
				fail_msg("accepted a duplicate: %s", buf);
			assert_non_null(strstr(msg, ": duplicate key"));
			refused++;
		} else if (strict == NULL) {
			fail_msg("refused %s: %s", buf, msg);
		}
		cJSON_Delete(lenient);
		cJSON_Delete(strict);
	}
	assert_true(refused > 100);
}

/* json_parse_ex with raw: 0 or -1; *built gets the root's elements. */
static int
parse_raw(const char *s, struct json_raw *raw, int *built)
{
	struct jerr e = { NULL, 0, 0 };
	cJSON *t = json_parse_ex(s, strlen(s), "", "", raw, &e);

	if (t == NULL)
		return -1;
	if (built != NULL)
		*built = cJSON_GetArraySize(t);
	cJSON_Delete(t);
	return 0;
}

static void
test_raw_spans(void **state)
{
	const char *s = "[{\"id\":12345678901234567890,\"m\":1},7,{\"\\u0069d\" : \"x\" },{}]";
	struct json_raw raw = { .key = "id", .max = 1000 };
	int built = 0;

	(void)state;
	assert_int_equal(parse_raw(s, &raw, &built), 0);
	assert_int_equal(raw.nelems, 4);
	assert_int_equal(built, 4);
	assert_true(raw.nspans >= 3);
	assert_int_equal(raw.spans[0].len, 20);
	assert_memory_equal(s + raw.spans[0].off, "12345678901234567890", 20);
	assert_int_equal(raw.spans[1].len, 0);
	assert_int_equal(raw.spans[2].len, 3);
	assert_memory_equal(s + raw.spans[2].off, "\"x\"", 3);
	if (raw.nspans > 3)
		assert_int_equal(raw.spans[3].len, 0);
	fa_free(raw.spans);
	/* A root object is slot 0; a nested "id" is not recorded. */
	s = "{\"p\":{\"id\":1},\"id\":null}";
	assert_int_equal(parse_raw(s, &raw, NULL), 0);
	assert_int_equal(raw.nelems, 0);
	assert_int_equal(raw.spans[0].len, 4);
	assert_memory_equal(s + raw.spans[0].off, "null", 4);
	fa_free(raw.spans);
	/*
	 * At most max objects are recorded, and built; the rest are still
	 * counted, and checked.
	 */
	raw.max = 2;
	s = "[{\"id\":1},{\"id\":2},{\"id\":3},[4]]";
	assert_int_equal(parse_raw(s, &raw, &built), 0);
	assert_int_equal(raw.nelems, 4);
	assert_int_equal(raw.nspans, 2);
	assert_int_equal(built, 2);
	fa_free(raw.spans);
	s = "[{\"id\":1},{\"id\":2},{\"id\":3},[4,]]";
	assert_int_equal(parse_raw(s, &raw, NULL), -1);
	fa_free(raw.spans);
	s = "[{\"id\":1},{\"id\":2},{\"id\":3,\"id\":3}]";
	assert_int_equal(parse_raw(s, &raw, NULL), 0);
	fa_free(raw.spans);
	/* Nothing recorded when the text is bad; spans may still be set. */
	s = "[{\"id\":1},";
	assert_int_equal(parse_raw(s, &raw, NULL), -1);
	fa_free(raw.spans);
}

static void
test_jerr(void **state)
{
	char buf[16];
	struct jerr e = { buf, sizeof buf, 0 };
	struct jerr none = { NULL, 0, 0 };

	(void)state;
	assert_int_equal(jerr_set(&e, "a.b", "is %s", "wrong"), -1);
	assert_string_equal(buf, "a.b: is wrong");
	jerr_set(&e, "", "no path");
	assert_string_equal(buf, "no path");
	/* Cut short at a character boundary: "a: " + 6 x "é" is 15 bytes. */
	jerr_set(&e, "a", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	assert_string_equal(buf, "a: \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	jerr_set(&e, "abc", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	assert_string_equal(buf, "abc: \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	/* A long path is cut before the message is, at a character. */
	jerr_set(&e, "0123456789abcdefghij", "x");
	assert_string_equal(buf, "012345678...: x");
	jerr_set(&e, "01234567\xe2\x82\xac" "abc", "x");
	assert_string_equal(buf, "01234567...: x");
	/* No buffer: nothing written, and no crash. */
	assert_int_equal(jerr_set(&none, "p", "x"), -1);
	assert_int_equal(jerr_nomem(&none, "p"), -1);
	assert_int_equal(none.nomem, 1);
	assert_int_equal(jerr_nomem(&e, "q"), -1);
	assert_string_equal(buf, "q: out of memor");
	assert_int_equal(e.nomem, 1);
}

/*
 * Every number is the double strtod makes of its text, bit for bit (the
 * sign of -0 too), whether it takes the integer path (at most 15
 * characters, digits and a sign) or strtod; valueint clamped as cJSON.
 */
static void
test_numbers_as_strtod(void **state)
{
	static const char *const nums[] = {
		"0", "-0", "7", "-7", "10", "123456789", "-2147483648", "2147483647",
		"2147483648", "-2147483649", "99999999999999", "999999999999999",
		"-99999999999999", "1000000000000000", "9007199254740993",
		"-9007199254740993", "12345678901234567890", "0.5", "-0.0", "1e3",
		"1E-3", "-1.25e+2", "100000000000000000000000000000",
	};

	(void)state;
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		cJSON *t = parse_ok(nums[i]);
		double want = strtod(nums[i], NULL);
		int wint = want >= (double)INT_MAX ? INT_MAX :
		    want <= (double)INT_MIN ? INT_MIN : (int)want;

		assert_true(cJSON_IsNumber(t));
		if (memcmp(&t->valuedouble, &want, sizeof want) != 0)
			fail_msg("%s: %.17g, strtod %.17g", nums[i], t->valuedouble, want);
		assert_int_equal(t->valueint, wint);
		cJSON_Delete(t);
	}
}

/*
 * A special byte at every position of strings of every length to 24 (a
 * parser that skips plain runs several bytes at a time must get each
 * position right): a control byte is refused, an escape, a quote escaped
 * and a two-byte character are read back exactly, as a value and as a
 * member name.
 */
static void
test_strings_special_at_every_position(void **state)
{
	static const struct { const char *in, *out; } sp[] = {
		{ "\\n", "\n" }, { "\\\"", "\"" }, { "\\\\", "\\" },
		{ "\\u00e9", "\xc3\xa9" }, { "\xc3\xa9", "\xc3\xa9" }, { "/", "/" },
	};
	char text[128], want[64], ctl[64], msg[128];

	(void)state;
	for (size_t n = 1; n <= 24; n++) {
		for (size_t at = 0; at < n; at++) {
			for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++) {
				cJSON *t;

				snprintf(text, sizeof text, "[\"%.*s%s%.*s\",{\"%.*s%s%.*s\":1}]",
				    (int)at, "abcdefghijklmnopqrstuvwxyz", sp[k].in,
				    (int)(n - at - 1), "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
				    (int)at, "abcdefghijklmnopqrstuvwxyz", sp[k].in,
				    (int)(n - at - 1), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
				snprintf(want, sizeof want, "%.*s%s%.*s", (int)at,
				    "abcdefghijklmnopqrstuvwxyz", sp[k].out,
				    (int)(n - at - 1), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
				t = parse_ok(text);
				assert_string_equal(cJSON_GetArrayItem(t, 0)->valuestring, want);
				assert_string_equal(cJSON_GetArrayItem(t, 1)->child->string, want);
				cJSON_Delete(t);
			}
			snprintf(ctl, sizeof ctl, "%.*s\x01%.*s", (int)at,
			    "abcdefghijklmnopqrstuvwxyz", (int)(n - at - 1),
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
			snprintf(text, sizeof text, "[\"%s\"]", ctl);
			snprintf(msg, sizeof msg,
			    "line 1, column %zu: control character in string", 3 + at);
			expect_refused(text, "", msg);
		}
	}
}

/* streq (lib/streq.h): the first bytes, then the rest, the ends too. */
static void
test_streq(void **state)
{
	(void)state;
	assert_true(streq("", ""));
	assert_true(streq("params", "params"));
	assert_false(streq("", "a"));
	assert_false(streq("a", ""));
	assert_false(streq("params", "param"));
	assert_false(streq("param", "params"));
	assert_false(streq("plate", "place"));
	assert_false(streq("id", "jsonrpc"));
}

static void
test_paths(void **state)
{
	char p[JPATH_MAX], q[JPATH_MAX], longkey[400];

	(void)state;
	jpath_key(p, "", "listen");
	assert_string_equal(p, "listen");
	jpath_key(q, p, "host");
	assert_string_equal(q, "listen.host");
	jpath_index(p, q, 12);
	assert_string_equal(p, "listen.host[12]");
	jpath_index(p, "", 0);
	assert_string_equal(p, "[0]");
	jpath_key(p, "a.b", NULL);
	assert_string_equal(p, "a.b");
	jpath_key(p, NULL, NULL);
	assert_string_equal(p, "");
	memset(longkey, 'k', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	jpath_key(p, longkey, NULL);
	assert_int_equal(strlen(p), JPATH_MAX - 1);
	assert_string_equal(p + strlen(p) - 3, "...");
	/* Too long: cut at a character boundary and marked. */
	for (size_t i = 0; i + 2 < sizeof longkey; i += 2)
		memcpy(longkey + i, "\xc3\xa9", 2);
	longkey[sizeof longkey - 2] = '\0';
	jpath_key(p, "x", longkey);
	assert_true(strlen(p) < JPATH_MAX);
	assert_string_equal(p + strlen(p) - 3, "...");
	assert_true(utf8_valid(p, strlen(p)));
	assert_true(strlen(p) >= JPATH_MAX - 5);
}

/* Every allocation that can fail fails once: no leak, and nomem says so. */
static void
test_out_of_memory(void **state)
{
	const char *s = "{\"a\":[1,2,{\"b\":\"c\",\"d\":null}],\"e\":{\"f\":1,\"g\":2}}";
	const char *d = "{\"a\":1,\"b\":{\"c\":1,\"c\":2}}";
	cJSON_Hooks hooks = { fa_malloc, fa_free };
	int ok = 0;

	(void)state;
	cJSON_InitHooks(&hooks);
	for (long k = 0; k < 1000 && !ok; k++) {
		char buf[64];
		struct jerr e = { buf, sizeof buf, 0 };
		cJSON *t;

		fa_reset(NULL);
		fa_fail_after(k);
		t = json_parse(s, strlen(s), "r", &e);
		if (t != NULL) {
			ok = 1;
			cJSON_Delete(t);
		} else {
			assert_int_equal(e.nomem, 1);
			assert_string_equal(buf, "r: out of memory");
		}
		assert_int_equal(fa_live, 0);
	}
	assert_true(ok);
	/* The duplicate check's scratch space, and ids recorded for a batch. */
	for (long k = 0; k < 1000; k++) {
		char buf[64];
		struct jerr e = { buf, sizeof buf, 0 };
		cJSON *t;

		fa_reset(NULL);
		fa_fail_after(k);
		t = json_parse(d, strlen(d), "", &e);
		assert_null(t);
		assert_int_equal(fa_live, 0);
		if (!e.nomem) {
			assert_string_equal(buf, "b.c: duplicate key");
			break;
		}
	}
	/* Every allocation of a batch failing in turn: spans, nodes, names. */
	for (int k = 0;; k++) {
		const char *b = "[{\"id\":1,\"m\":\"x\"},{\"id\":\"\\u00e9\"},[2.5]]";
		struct json_raw raw = { .key = "id", .max = 100 };
		struct jerr e = { NULL, 0, 0 };
		cJSON *t;

		assert_true(k < 100);
		fa_reset(NULL);
		fa_fail_after(k);
		t = json_parse_ex(b, strlen(b), "", "", &raw, &e);
		if (t != NULL) {
			assert_int_equal(raw.nelems, 3);
			assert_int_equal(raw.spans[1].len, 8);
			cJSON_Delete(t);
			fa_free(raw.spans);
			assert_int_equal(fa_live, 0);
			break;
		}
		assert_int_equal(e.nomem, 1);
		fa_free(raw.spans);
		assert_int_equal(fa_live, 0);
	}
	cJSON_InitHooks(NULL);
	fa_reset(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_syntax_messages),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_duplicates_model),
		cmocka_unit_test(test_raw_spans),
		cmocka_unit_test(test_jerr),
		cmocka_unit_test(test_numbers_as_strtod),
		cmocka_unit_test(test_strings_special_at_every_position),
		cmocka_unit_test(test_streq),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
