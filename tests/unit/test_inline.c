/* test_inline.c - inline commands: METHOD [name=value ...]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inline.h"
#include "jsonrpc.h"
#include "testutil.h"

/*
 * Parses s (its strlen) and checks the method and the params printed
 * compactly by rpc_json_print, byte for byte.
 */
static void
ok(const char *s, const char *method, const char *params_json)
{
	char msg[160] = "untouched", *m = NULL, *printed;
	cJSON *p = NULL;
	pk_err e = inline_parse(s, strlen(s), NULL, &m, &p, msg, sizeof msg);

	if (e != PK_OK)
		fail_msg("%s: refused (%d): %s", s, e, msg);
	assert_string_equal(msg, "");
	assert_string_equal(m, method);
	assert_true(cJSON_IsObject(p));
	printed = tu_print(p);
	assert_non_null(printed);
	if (strcmp(printed, params_json) != 0)
		fail_msg("%s: params %s, want %s", s, printed, params_json);
	free(printed);
	free(m);
	cJSON_Delete(p);
}

/* Parses len bytes at s; it must fail with e and a message containing sub. */
static void
bad_len(const char *s, size_t len, pk_err e, const char *sub)
{
	char msg[160] = "", *m = msg;	/* any non-NULL: must come back NULL */
	cJSON *p = (cJSON *)(void *)msg;
	pk_err got = inline_parse(s, len, NULL, &m, &p, msg, sizeof msg);

	if (got != e)
		fail_msg("%.*s: got %d (%s), want %d", (int)len, s, got, msg, e);
	assert_null(m);
	assert_null(p);
	if (strstr(msg, sub) == NULL)
		fail_msg("%.*s: message \"%s\" lacks \"%s\"", (int)len, s, msg, sub);
}
#define BAD(lit, e, sub) bad_len(lit, sizeof(lit) - 1, e, sub)

static void
test_examples(void **state)
{
	(void)state;
	ok("entry gate=north plate=B-XY123 class=car", "entry",
	    "{\"gate\":\"north\",\"plate\":\"B-XY123\",\"class\":\"car\"}");
	ok("entry gate=north plate=\"B-XY 123\" class=car needs=[\"ev\"]", "entry",
	    "{\"gate\":\"north\",\"plate\":\"B-XY 123\",\"class\":\"car\",\"needs\":[\"ev\"]}");
	ok("quote plate=B-XY123 at=2026-11-22T10:00:00Z", "quote",
	    "{\"plate\":\"B-XY123\",\"at\":\"2026-11-22T10:00:00Z\"}");
	ok("help", "help", "{}");
	ok("help method=entry", "help", "{\"method\":\"entry\"}");
	ok("waitlist_status waitlist_id=abc", "waitlist_status", "{\"waitlist_id\":\"abc\"}");
	ok("a.b_c9", "a.b_c9", "{}");
}

static void
test_json_literals(void **state)
{
	(void)state;
	ok("pay ticket=t amount=1500 ok=true no=false nil=null neg=-2.5e3",
	    "pay", "{\"ticket\":\"t\",\"amount\":1500,\"ok\":true,\"no\":false,"
	    "\"nil\":null,\"neg\":-2500}");
	/* Not JSON, so bare strings: leading zero, words, signs, dates. */
	ok("x a=007 b=True c=nul d=+1 e=1. f=- g=1e h=nullx i=0x1f",
	    "x", "{\"a\":\"007\",\"b\":\"True\",\"c\":\"nul\",\"d\":\"+1\","
	    "\"e\":\"1.\",\"f\":\"-\",\"g\":\"1e\",\"h\":\"nullx\",\"i\":\"0x1f\"}");
	/* A quoted number stays a string. */
	ok("x plate=\"123\"", "x", "{\"plate\":\"123\"}");
	/* A number, so a double: the nearest one, printed in full. */
	ok("x big=12345678901234567890", "x", "{\"big\":12345678901234567168}");
}

static void
test_quotes_and_brackets(void **state)
{
	(void)state;
	ok("x s=\"a b\\\"c\\\\ \\u00e9 \\t\"", "x",
	    "{\"s\":\"a b\\\"c\\\\ \xc3\xa9 \\t\"}");
	ok("x l=[1, \"a ]b\", {\"k\": [2, 3]}]  o={\"a b\": {\"c\": \"}\"}}", "x",
	    "{\"l\":[1,\"a ]b\",{\"k\":[2,3]}],\"o\":{\"a b\":{\"c\":\"}\"}}}");
	ok("x e=[] o={} s=\"\"", "x", "{\"e\":[],\"o\":{},\"s\":\"\"}");
	/* name= gives the empty string. */
	ok("x a= b=1", "x", "{\"a\":\"\",\"b\":1}");
	ok("x a=", "x", "{\"a\":\"\"}");
	/* A bare value may contain '=' and quotes after its first byte. */
	ok("x a=b=c d=e\"f", "x", "{\"a\":\"b=c\",\"d\":\"e\\\"f\"}");
}

static void
test_whitespace(void **state)
{
	(void)state;
	ok("  \t help \t ", "help", "{}");
	ok("entry\tgate=north\t\tclass=car  ", "entry",
	    "{\"gate\":\"north\",\"class\":\"car\"}");
	ok("x u=caf\xc3\xa9", "x", "{\"u\":\"caf\xc3\xa9\"}");
}

static void
test_errors_tokens(void **state)
{
	(void)state;
	BAD("entry gate north", PK_E_INVALID_PARAMS, "\"gate\" is not name=value");
	BAD("entry gate = north", PK_E_INVALID_PARAMS, "\"gate\" is not name=value");
	BAD("entry =north", PK_E_INVALID_PARAMS, "empty parameter name");
	BAD("entry gate=a gate=b", PK_E_INVALID_PARAMS, "duplicate parameter \"gate\"");
	BAD("entry g\"a=b", PK_E_INVALID_PARAMS, "invalid parameter name");
	BAD("entry g\xc3\xa4te=b", PK_E_INVALID_PARAMS, "invalid parameter name \"g\xc3\xa4te\"");
}

/*
 * protocol.md: a value that parses as JSON is that, anything else is a
 * bare string.  A value opening with '"', '[' or '{' that is not JSON is
 * the string as typed, up to the next space or tab, like any bare value.
 */
static void
test_not_json_is_bare(void **state)
{
	(void)state;
	ok("pay ticket=X amount=800 reference=[kiosk-1]", "pay",
	    "{\"ticket\":\"X\",\"amount\":800,\"reference\":\"[kiosk-1]\"}");
	/* An unclosed quote, text glued after the closing one. */
	ok("help method=\"ping", "help", "{\"method\":\"\\\"ping\"}");
	ok("help method=\"pi\"ng", "help", "{\"method\":\"\\\"pi\\\"ng\"}");
	ok("x s=\"B-XY\\\"", "x", "{\"s\":\"\\\"B-XY\\\\\\\"\"}");
	ok("x o={\"a\":1}junk p=1", "x", "{\"o\":\"{\\\"a\\\":1}junk\",\"p\":1}");
	ok("x l=[1]x y=1", "x", "{\"l\":\"[1]x\",\"y\":1}");
	/* Brackets not closed, or closed by the wrong kind. */
	ok("x l=[[1] m=[\"ev\" o={\"a\":\"}", "x",
	    "{\"l\":\"[[1]\",\"m\":\"[\\\"ev\\\"\",\"o\":\"{\\\"a\\\":\\\"}\"}");
	ok("x l=[1} m=] n=}", "x", "{\"l\":\"[1}\",\"m\":\"]\",\"n\":\"}\"}");
	/* Closed, but not the strict JSON of jsonrpc.h. */
	ok("x l=[1,] z=[01] o={\"a\":1,\"a\":2}", "x",
	    "{\"l\":\"[1,]\",\"z\":\"[01]\",\"o\":\"{\\\"a\\\":1,\\\"a\\\":2}\"}");
	ok("x a=\"\\q\" b=\"a\\u0000b\" c=\"\\ud800\" d=[nan]", "x",
	    "{\"a\":\"\\\"\\\\q\\\"\",\"b\":\"\\\"a\\\\u0000b\\\"\","
	    "\"c\":\"\\\"\\\\ud800\\\"\",\"d\":\"[nan]\"}");
	ok("x a=\" b=[ c={", "x", "{\"a\":\"\\\"\",\"b\":\"[\",\"c\":\"{\"}");
}

/* Valid JSON keeps its spaces; a value cut short by its space does not. */
static void
test_json_with_spaces(void **state)
{
	(void)state;
	ok("vehicle_register plate=B-1 contact_name=\"Ann Lee\" phone=+4917055",
	    "vehicle_register", "{\"plate\":\"B-1\",\"contact_name\":\"Ann Lee\","
	    "\"phone\":\"+4917055\"}");
	ok("x a=[1, 2]\tb={ \"k\" : [ \"v w\" ] }", "x",
	    "{\"a\":[1,2],\"b\":{\"k\":[\"v w\"]}}");
	/*
	 * Not closed, or not JSON, and a space inside: the value ends at the
	 * space and what follows is the next token, here not name=value.
	 */
	BAD("entry plate=\"B-XY 123", PK_E_INVALID_PARAMS, "\"123\" is not name=value");
	BAD("x a=\"a b", PK_E_INVALID_PARAMS, "\"b\" is not name=value");
	BAD("x s=\"a b\"c", PK_E_INVALID_PARAMS, "\"b\"c\" is not name=value");
	BAD("x l=[1, 2,]", PK_E_INVALID_PARAMS, "\"2,]\" is not name=value");
	BAD("x l=[1, 2]x", PK_E_INVALID_PARAMS, "\"2]x\" is not name=value");
	/* ... and an unclosed quote does not swallow the parameters after it. */
	ok("x a=\"a y=1", "x", "{\"a\":\"\\\"a\",\"y\":1}");
}

/* Past JSON_MAX_DEPTH a bracketed value is not JSON: a bare string. */
static void
test_too_deep_is_bare(void **state)
{
	char line[2 * (JSON_MAX_DEPTH + 1) + 8], want[sizeof line + 16];
	size_t off;
	int i;

	(void)state;
	off = (size_t)sprintf(line, "x d=");
	for (i = 0; i <= JSON_MAX_DEPTH; i++)
		line[off++] = '[';
	for (i = 0; i <= JSON_MAX_DEPTH; i++)
		line[off++] = ']';
	line[off] = '\0';
	snprintf(want, sizeof want, "{\"d\":\"%s\"}", line + 4);
	ok(line, "x", want);
}

static void
test_errors_values(void **state)
{
	(void)state;
	/* Only a value that is JSON can be invalid: the method decides. */
	BAD("entry o={\"a\":[1,{\"b\":2}]} o=1", PK_E_INVALID_PARAMS,
	    "duplicate parameter \"o\"");
	BAD("entry s=\"a\" s=[kiosk-1]", PK_E_INVALID_PARAMS,
	    "duplicate parameter \"s\"");
}

static void
test_errors_line(void **state)
{
	char line[INLINE_MAX_PARAMS * 8 + 16];
	size_t off;
	int i;

	(void)state;
	BAD("", PK_E_INVALID_REQUEST, "empty command");
	BAD("  \t ", PK_E_INVALID_REQUEST, "empty command");
	BAD("entry plate=\xff", PK_E_PARSE, "invalid UTF-8 at byte 12");
	BAD("entry plate=\xc0\xaf", PK_E_PARSE, "UTF-8");
	BAD("entry plate=\xed\xa0\x80", PK_E_PARSE, "UTF-8");
	BAD("entry plate=a\0b", PK_E_INVALID_PARAMS, "control character 0x00 at byte 13");
	BAD("help\r", PK_E_INVALID_PARAMS, "control character 0x0d");
	BAD("help\x7f", PK_E_INVALID_PARAMS, "control character 0x7f");
	BAD("hello!", PK_E_METHOD_NOT_FOUND, "no method \"hello!\"");
	BAD("{\"method\":\"x\"}", PK_E_METHOD_NOT_FOUND, "no method");
	BAD("entry,gate=north", PK_E_METHOD_NOT_FOUND, "no method");
	/* Long words are clipped in messages. */
	BAD("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx!",
	    PK_E_METHOD_NOT_FOUND, "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"");

	/* INLINE_MAX_PARAMS parameters are fine, one more is not. */
	off = (size_t)sprintf(line, "x");
	for (i = 0; i < INLINE_MAX_PARAMS; i++)
		off += (size_t)sprintf(line + off, " p%d=%d", i, i);
	{
		char *m = NULL;
		cJSON *p = NULL;

		assert_int_equal(inline_parse(line, off, NULL, &m, &p, NULL, 0), PK_OK);
		assert_int_equal(cJSON_GetArraySize(p), INLINE_MAX_PARAMS);
		free(m);
		cJSON_Delete(p);
	}
	off += (size_t)sprintf(line + off, " q=1");
	bad_len(line, off, PK_E_INVALID_PARAMS, "more than 64 parameters");
}

/* The length is respected: the line need not be NUL-terminated. */
static void
test_length_respected(void **state)
{
	const char buf[] = "help method=entryXYZ";
	char *m = NULL;
	cJSON *p = NULL;
	char *s;

	(void)state;
	assert_int_equal(inline_parse(buf, 17, NULL, &m, &p, NULL, 0), PK_OK);
	s = tu_print(p);
	assert_string_equal(s, "{\"method\":\"entry\"}");
	free(s);
	free(m);
	cJSON_Delete(p);
	/* The line ends in the middle of a quoted value: a bare string then. */
	assert_int_equal(inline_parse("x a=\"bc\"", 7, NULL, &m, &p, NULL, 0),
	    PK_OK);
	s = tu_print(p);
	assert_string_equal(s, "{\"a\":\"\\\"bc\"}");
	free(s);
	free(m);
	cJSON_Delete(p);
}

static const char *const *
fake_positional(const char *method)
{
	static const char *const two[] = { "a", "b", NULL };
	static const char *const none[] = { NULL };

	return strcmp(method, "two") == 0 ? two : none;
}

/* Parses with fake_positional; NULL want: must fail with e. */
static void
positional(const char *s, const char *want, pk_err e)
{
	char msg[160], *m = NULL, *printed;
	cJSON *p = NULL;
	pk_err got = inline_parse(s, strlen(s), fake_positional, &m, &p, msg,
	    sizeof msg);

	if (want == NULL) {
		if (got != e)
			fail_msg("%s: got %d, want %d", s, got, e);
		return;
	}
	if (got != PK_OK)
		fail_msg("%s: refused: %s", s, msg);
	printed = tu_print(p);
	if (strcmp(printed, want) != 0)
		fail_msg("%s: params %s, want %s", s, printed, want);
	free(printed);
	free(m);
	cJSON_Delete(p);
}

/* Bare words fill the method's positional names in order. */
static void
test_positional(void **state)
{
	(void)state;
	positional("two x", "{\"a\":\"x\"}", PK_OK);
	positional("two x y", "{\"a\":\"x\",\"b\":\"y\"}", PK_OK);
	/* Values are read as usual: JSON literals, quotes with spaces. */
	positional("two 007 12", "{\"a\":\"007\",\"b\":12}", PK_OK);
	positional("two \"B-XY 1\" [1]", "{\"a\":\"B-XY 1\",\"b\":[1]}", PK_OK);
	positional("two \"k=v\"", "{\"a\":\"k=v\"}", PK_OK);
	/* Not JSON: bare, up to the space; the rest fills the next name. */
	positional("two \"k=v [x", "{\"a\":\"\\\"k=v\",\"b\":\"[x\"}", PK_OK);
	positional("two \"B-XY 1", "{\"a\":\"\\\"B-XY\",\"b\":1}", PK_OK);
	/* Mixed with names; a name given both ways is refused. */
	positional("two x c=1", "{\"a\":\"x\",\"c\":1}", PK_OK);
	positional("two a=1 x", NULL, PK_E_INVALID_PARAMS);
	/* Past the names, or for a method with none: as before. */
	positional("two x y z", NULL, PK_E_INVALID_PARAMS);
	positional("one x", NULL, PK_E_INVALID_PARAMS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_json_literals),
		cmocka_unit_test(test_quotes_and_brackets),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_errors_tokens),
		cmocka_unit_test(test_not_json_is_bare),
		cmocka_unit_test(test_json_with_spaces),
		cmocka_unit_test(test_too_deep_is_bare),
		cmocka_unit_test(test_errors_values),
		cmocka_unit_test(test_errors_line),
		cmocka_unit_test(test_length_respected),
		cmocka_unit_test(test_positional),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
