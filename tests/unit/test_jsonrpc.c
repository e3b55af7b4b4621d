/* test_jsonrpc.c - JSON-RPC parsing (strict RFC 8259) and response lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonrpc.h"
#include "rng.h"
#include "testutil.h"
#include "../common/rpcsame.h"

/* A result written by a caller between rpc_result_begin and the close. */
static char *
result_line(const char *id, const char *json)
{
	struct jw w;

	jw_init(&w);
	rpc_result_begin(&w, id);
	jw_raw(&w, json, strlen(json));
	jw_obj_end(&w);
	return jw_take(&w, NULL);
}

/* Parses a C string literal (its length, so embedded NULs count). */
#define PARSE(lit) rpc_parse(lit, sizeof(lit) - 1)

/* The whole line must be refused with err e, and a message containing sub. */
static void
line_err(const char *s, size_t len, pk_err e, const char *sub)
{
	rpc_msg *m = rpc_parse(s, len);

	assert_non_null(m);
	if (m->err != e)
		fail_msg("%.*s: err %d (%s), want %d", (int)len, s, m->err,
		    m->errmsg, e);
	assert_int_equal(m->n, 0);
	assert_null(m->reqs);
	assert_null(m->root);
	if (strstr(m->errmsg, sub) == NULL)
		fail_msg("%.*s: message \"%s\" lacks \"%s\"", (int)len, s,
		    m->errmsg, sub);
	rpc_msg_free(m);
}
#define LINE_ERR(lit, e, sub) line_err(lit, sizeof(lit) - 1, e, sub)
#define PARSE_ERR(lit) line_err(lit, sizeof(lit) - 1, PK_E_PARSE, "")

/* A single request that must fail with e, id (NULL: none), message sub. */
static void
req_err(const char *s, pk_err e, const char *id, const char *sub)
{
	rpc_msg *m = rpc_parse(s, strlen(s));

	assert_non_null(m);
	if (m->err != PK_OK)
		fail_msg("%s: whole line refused: %s", s, m->errmsg);
	assert_int_equal(m->n, 1);
	assert_int_equal(m->is_batch, 0);
	if (m->reqs[0].err != e)
		fail_msg("%s: err %d (%s), want %d", s, m->reqs[0].err,
		    m->reqs[0].errmsg, e);
	assert_null(m->reqs[0].method);
	assert_null(m->reqs[0].params);
	if (id == NULL)
		assert_null(m->reqs[0].id);
	else
		assert_string_equal(m->reqs[0].id, id);
	if (strstr(m->reqs[0].errmsg, sub) == NULL)
		fail_msg("%s: message \"%s\" lacks \"%s\"", s,
		    m->reqs[0].errmsg, sub);
	rpc_msg_free(m);
}

/* A single request that must be fine; returns it for more checks. */
static rpc_msg *
req_ok(const char *s, size_t len)
{
	rpc_msg *m = rpc_parse(s, len);

	assert_non_null(m);
	if (m->err != PK_OK)
		fail_msg("%.*s: refused: %s", (int)len, s, m->errmsg);
	assert_int_equal(m->n, 1);
	if (m->reqs[0].err != PK_OK)
		fail_msg("%.*s: request refused: %s", (int)len, s,
		    m->reqs[0].errmsg);
	return m;
}
#define REQ_OK(lit) req_ok(lit, sizeof(lit) - 1)

/* ---------------------------------------------------------------- */

static void
test_valid_request(void **state)
{
	rpc_msg *m = REQ_OK("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"entry\","
	    "\"params\":{\"gate\":\"north\",\"plate\":\"B-XY 123\",\"class\":\"car\"}}");
	const cJSON *p;

	(void)state;
	assert_int_equal(m->is_batch, 0);
	assert_string_equal(m->reqs[0].id, "7");
	assert_string_equal(m->reqs[0].method, "entry");
	p = m->reqs[0].params;
	assert_true(cJSON_IsObject(p));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(p, "plate")->valuestring,
	    "B-XY 123");
	assert_string_equal(m->reqs[0].errmsg, "");
	rpc_msg_free(m);
	rpc_msg_free(NULL);
}

static void
test_notification_and_null_id(void **state)
{
	rpc_msg *m = REQ_OK("{\"method\":\"ping\"}");

	(void)state;
	assert_null(m->reqs[0].id);
	assert_null(m->reqs[0].params);
	rpc_msg_free(m);
	/* "id":null is an id (answered with null), not a notification. */
	m = REQ_OK("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":null}");
	assert_string_equal(m->reqs[0].id, "null");
	rpc_msg_free(m);
	m = REQ_OK("{\"method\":\"ping\",\"params\":{}}");
	assert_true(cJSON_IsObject(m->reqs[0].params));
	assert_null(m->reqs[0].params->child);
	rpc_msg_free(m);
}

/*
 * Ids shorter than RPC_ID_SHORT live in the request, longer ones are
 * allocated: every length on both sides of the edge comes back exact, alone
 * and in a batch (ASan checks the copies' bounds and that nothing leaks).
 */
static void
test_id_every_length(void **state)
{
	(void)state;
	for (size_t n = 1; n <= 2 * RPC_ID_SHORT; n++) {
		char id[2 * RPC_ID_SHORT + 1], line[512];
		rpc_msg *m;
		int len;

		memset(id, '7', n);
		id[n] = '\0';
		len = snprintf(line, sizeof line, "{\"id\":%s,\"method\":\"m\"}", id);
		m = req_ok(line, (size_t)len);
		assert_string_equal(m->reqs[0].id, id);
		assert_true((m->reqs[0].id == m->reqs[0].id_short) == (n < RPC_ID_SHORT));
		rpc_msg_free(m);
		len = snprintf(line, sizeof line,
		    "[{\"id\":%s,\"method\":\"m\"},{\"method\":\"n\"},"
		    "{\"id\":\"%s\",\"method\":\"m\"}]", id, id);
		m = rpc_parse(line, (size_t)len);
		assert_non_null(m);
		assert_int_equal(m->err, PK_OK);
		assert_int_equal(m->n, 3);
		assert_string_equal(m->reqs[0].id, id);
		assert_null(m->reqs[1].id);
		assert_int_equal(strlen(m->reqs[2].id), n + 2);
		assert_memory_equal(m->reqs[2].id + 1, id, n);
		rpc_msg_free(m);
	}
}

/* Ids come back byte for byte, whatever cJSON would make of them. */
static void
test_id_raw_exact(void **state)
{
	static const struct { const char *line, *id; } cases[] = {
		{ "{\"id\":12345678901234567890,\"method\":\"m\"}", "12345678901234567890" },
		{ "{\"id\":-98765432109876543210987654321,\"method\":\"m\"}",
		  "-98765432109876543210987654321" },
		{ "{\"id\":1.50E+3,\"method\":\"m\"}", "1.50E+3" },
		{ "{\"id\":-0,\"method\":\"m\"}", "-0" },
		{ "{\"id\":1e400,\"method\":\"m\"}", "1e400" },
		{ "{\"id\" :\t 7 \r\n,\"method\":\"m\"}", "7" },
		{ "{\"id\":\"a\\u0062\\n\\\"\\/\",\"method\":\"m\"}", "\"a\\u0062\\n\\\"\\/\"" },
		{ "{\"id\":\"\xc3\xa9\\ud83d\\ude00\",\"method\":\"m\"}", "\"\xc3\xa9\\ud83d\\ude00\"" },
		{ "{\"id\":\"\",\"method\":\"m\"}", "\"\"" },
		/* The member name may itself be spelled with escapes. */
		{ "{\"\\u0069d\":5,\"method\":\"m\"}", "5" },
		{ "{\"i\\u0064\":\"x\",\"method\":\"m\"}", "\"x\"" },
		{ "{\"method\":\"m\",\"params\":{\"id\":9},\"id\":3}", "3" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rpc_msg *m = req_ok(cases[i].line, strlen(cases[i].line));
		char *line, want[256];

		assert_string_equal(m->reqs[0].id, cases[i].id);
		line = result_line(m->reqs[0].id, "null");
		snprintf(want, sizeof want,
		    "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":null}", cases[i].id);
		assert_string_equal(line, want);
		free(line);
		rpc_msg_free(m);
	}
}

static void
test_bad_id_types(void **state)
{
	(void)state;
	req_err("{\"id\":true,\"method\":\"m\"}", PK_E_INVALID_REQUEST, NULL, "\"id\"");
	req_err("{\"id\":{},\"method\":\"m\"}", PK_E_INVALID_REQUEST, NULL, "\"id\"");
	req_err("{\"id\":[1],\"method\":\"m\"}", PK_E_INVALID_REQUEST, NULL, "\"id\"");
	/* Member names are case-sensitive (cJSON's plain getter is not). */
	req_err("{\"ID\":1,\"method\":\"m\"}", PK_E_INVALID_REQUEST, NULL,
	    "unknown member \"ID\"");
}

static void
test_jsonrpc_member(void **state)
{
	rpc_msg *m = REQ_OK("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1}");

	(void)state;
	rpc_msg_free(m);
	/* The id is kept so that the error can echo it. */
	req_err("{\"jsonrpc\":\"1.0\",\"method\":\"m\",\"id\":4}",
	    PK_E_INVALID_REQUEST, "4", "\"jsonrpc\" must be \"2.0\"");
	req_err("{\"jsonrpc\":2.0,\"method\":\"m\",\"id\":4}",
	    PK_E_INVALID_REQUEST, "4", "jsonrpc");
	req_err("{\"jsonrpc\":\"2.0 \",\"method\":\"m\"}",
	    PK_E_INVALID_REQUEST, NULL, "jsonrpc");
	req_err("{\"jsonrpc\":null,\"method\":\"m\"}",
	    PK_E_INVALID_REQUEST, NULL, "jsonrpc");
	req_err("{\"JSONRPC\":\"2.0\",\"method\":\"m\"}",
	    PK_E_INVALID_REQUEST, NULL, "unknown member \"JSONRPC\"");
}

static void
test_method_member(void **state)
{
	(void)state;
	req_err("{\"id\":\"q\"}", PK_E_INVALID_REQUEST, "\"q\"", "\"method\" is missing");
	req_err("{\"id\":1,\"method\":\"\"}", PK_E_INVALID_REQUEST, "1", "non-empty string");
	req_err("{\"id\":1,\"method\":5}", PK_E_INVALID_REQUEST, "1", "non-empty string");
	req_err("{\"id\":1,\"method\":null}", PK_E_INVALID_REQUEST, "1", "non-empty string");
	req_err("{\"id\":1,\"Method\":\"m\"}", PK_E_INVALID_REQUEST, "1", "unknown member");
}

static void
test_params_member(void **state)
{
	(void)state;
	req_err("{\"id\":1,\"method\":\"m\",\"params\":[1,2]}",
	    PK_E_INVALID_PARAMS, "1", "not an array");
	req_err("{\"id\":1,\"method\":\"m\",\"params\":[]}",
	    PK_E_INVALID_PARAMS, "1", "not an array");
	req_err("{\"id\":1,\"method\":\"m\",\"params\":\"x\"}",
	    PK_E_INVALID_REQUEST, "1", "\"params\" must be an object");
	req_err("{\"id\":1,\"method\":\"m\",\"params\":null}",
	    PK_E_INVALID_REQUEST, "1", "\"params\" must be an object");
	req_err("{\"id\":1,\"method\":\"m\",\"params\":3}",
	    PK_E_INVALID_REQUEST, "1", "\"params\" must be an object");
	/* A request error wins over a params error. */
	req_err("{\"id\":1,\"params\":[1]}", PK_E_INVALID_REQUEST, "1", "method");
}

static void
test_unknown_member(void **state)
{
	char line[256];
	rpc_msg *m;

	(void)state;
	req_err("{\"id\":1,\"method\":\"m\",\"extra\":true}",
	    PK_E_INVALID_REQUEST, "1", "unknown member \"extra\"");
	/* The id echoed is the "id" member's, not another short member's. */
	req_err("{\"id\":1,\"zz\":2,\"method\":\"m\"}",
	    PK_E_INVALID_REQUEST, "1", "unknown member \"zz\"");
	req_err("{\"id\":1,\"\\u0069x\":2,\"method\":\"m\"}",
	    PK_E_INVALID_REQUEST, "1", "unknown member \"ix\"");
	req_err("{\"id\":1,\"idx\":2,\"method\":\"m\"}",
	    PK_E_INVALID_REQUEST, "1", "unknown member \"idx\"");
	/* Long names are clipped in the message, on a character boundary. */
	snprintf(line, sizeof line, "{\"id\":1,\"method\":\"m\",\"%s\xc3\xa9xyz\":0}",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");	/* 39 a's + 2-byte char */
	m = rpc_parse(line, strlen(line));
	assert_non_null(m);
	assert_int_equal(m->reqs[0].err, PK_E_INVALID_REQUEST);
	assert_non_null(strstr(m->reqs[0].errmsg,
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\""));
	rpc_msg_free(m);
}

static void
test_top_level_kinds(void **state)
{
	(void)state;
	LINE_ERR("42", PK_E_INVALID_REQUEST, "object");
	LINE_ERR("\"ping\"", PK_E_INVALID_REQUEST, "object");
	LINE_ERR(" null ", PK_E_INVALID_REQUEST, "object");
	LINE_ERR("[]", PK_E_INVALID_REQUEST, "empty batch");
	LINE_ERR(" [ \t ] ", PK_E_INVALID_REQUEST, "empty batch");
	LINE_ERR("", PK_E_PARSE, "end of input");
	LINE_ERR("   ", PK_E_PARSE, "end of input");
}

static void
test_not_utf8(void **state)
{
	(void)state;
	LINE_ERR("{\"id\":\"\xff\",\"method\":\"m\"}", PK_E_PARSE, "UTF-8");
	LINE_ERR("{\"id\":\"\xc0\xaf\",\"method\":\"m\"}", PK_E_PARSE, "line 1, column 8: invalid UTF-8");
	LINE_ERR("{\"id\":\"\xed\xa0\x80\",\"method\":\"m\"}", PK_E_PARSE, "UTF-8");
	LINE_ERR("{\"id\":\"\xf4\x90\x80\x80\",\"method\":\"m\"}", PK_E_PARSE, "UTF-8");
	LINE_ERR("{\"id\":\"\xe2\x82\",\"method\":\"m\"}", PK_E_PARSE, "UTF-8");
}

/* What cJSON alone would let through. */
static void
test_rfc8259_strictness(void **state)
{
	(void)state;
	LINE_ERR("{\"method\":\"m\"} x", PK_E_PARSE, "trailing characters");
	LINE_ERR("{\"method\":\"m\"}{}", PK_E_PARSE, "trailing characters");
	LINE_ERR("{\"method\":\"m\"},", PK_E_PARSE, "trailing characters");
	LINE_ERR("{\"id\":01,\"method\":\"m\"}", PK_E_PARSE, "leading zero");
	LINE_ERR("{\"id\":-01,\"method\":\"m\"}", PK_E_PARSE, "leading zero");
	LINE_ERR("{\"id\":00,\"method\":\"m\"}", PK_E_PARSE, "leading zero");
	LINE_ERR("{\"id\":+1,\"method\":\"m\"}", PK_E_PARSE, "unexpected character");
	LINE_ERR("{\"id\":.5,\"method\":\"m\"}", PK_E_PARSE, "");
	LINE_ERR("{\"id\":1.,\"method\":\"m\"}", PK_E_PARSE, "after '.'");
	LINE_ERR("{\"id\":1e,\"method\":\"m\"}", PK_E_PARSE, "exponent");
	LINE_ERR("{\"id\":1e+,\"method\":\"m\"}", PK_E_PARSE, "exponent");
	LINE_ERR("{\"id\":-,\"method\":\"m\"}", PK_E_PARSE, "invalid number");
	LINE_ERR("{\"id\":0x10,\"method\":\"m\"}", PK_E_PARSE, "");
	LINE_ERR("{\"id\":NaN,\"method\":\"m\"}", PK_E_PARSE, "");
	LINE_ERR("{\"id\":Infinity,\"method\":\"m\"}", PK_E_PARSE, "");
	LINE_ERR("{\"id\":1,\"method\":\"m\",}", PK_E_PARSE, "member name expected");
	LINE_ERR("[{\"method\":\"m\"},]", PK_E_PARSE, "unexpected character");
	LINE_ERR("{\"method\":\"m\" /* c */}", PK_E_PARSE, "");
	LINE_ERR("{'method':'m'}", PK_E_PARSE, "member name expected");
	LINE_ERR("{method:\"m\"}", PK_E_PARSE, "member name expected");
	LINE_ERR("{\"method\" \"m\"}", PK_E_PARSE, "':' expected");
	LINE_ERR("{\"method\":\"m\"", PK_E_PARSE, "',' or '}' expected");
	LINE_ERR("[{\"method\":\"m\"}", PK_E_PARSE, "',' or ']' expected");
	LINE_ERR("{\"id\":tru,\"method\":\"m\"}", PK_E_PARSE, "invalid literal");
	LINE_ERR("{\"id\":True,\"method\":\"m\"}", PK_E_PARSE, "");
	/* Only space, tab, CR and LF are whitespace. */
	LINE_ERR("{\f\"method\":\"m\"}", PK_E_PARSE, "member name expected");
	LINE_ERR("{\"method\":\"m\"}\v", PK_E_PARSE, "trailing");
	LINE_ERR("\xc2\xa0{\"method\":\"m\"}", PK_E_PARSE, "");
	/* A byte order mark is not JSON text (cJSON would skip it). */
	LINE_ERR("\xef\xbb\xbf{\"method\":\"m\"}", PK_E_PARSE, "line 1, column 1: unexpected character");
	/* Positions are reported. */
	LINE_ERR("{\"method\":\"m\"} x", PK_E_PARSE, "line 1, column 16: trailing");
}

static void
test_strings(void **state)
{
	rpc_msg *m;

	(void)state;
	LINE_ERR("{\"method\":\"a\tb\"}", PK_E_PARSE, "control character");
	LINE_ERR("{\"method\":\"a\nb\"}", PK_E_PARSE, "control character");
	LINE_ERR("{\"method\":\"a\x1f" "b\"}", PK_E_PARSE, "control character");
	LINE_ERR("{\"method\":\"a\0b\"}", PK_E_PARSE, "control character");
	LINE_ERR("{\"method\":\"m\"}\0", PK_E_PARSE, "trailing");
	LINE_ERR("{\"method\":\"a\\u0000b\"}", PK_E_PARSE, "\\u0000");
	LINE_ERR("{\"method\":\"a\\ud800\"}", PK_E_PARSE, "surrogate");
	LINE_ERR("{\"method\":\"a\\ud800\\u0041\"}", PK_E_PARSE, "surrogate");
	LINE_ERR("{\"method\":\"a\\ud800\\ud800\"}", PK_E_PARSE, "surrogate");
	LINE_ERR("{\"method\":\"a\\ud800\\ue000\"}", PK_E_PARSE, "surrogate");
	LINE_ERR("{\"method\":\"a\\udbff\\udbff\"}", PK_E_PARSE, "surrogate");
	LINE_ERR("{\"method\":\"a\\udc00\"}", PK_E_PARSE, "low surrogate");
	LINE_ERR("{\"method\":\"\\ude00\\ud83d\"}", PK_E_PARSE, "low surrogate");
	LINE_ERR("{\"method\":\"a\\ud800\"", PK_E_PARSE, "surrogate");
	LINE_ERR("{\"method\":\"\\x41\"}", PK_E_PARSE, "invalid escape");
	LINE_ERR("{\"method\":\"\\U0041\"}", PK_E_PARSE, "invalid escape");
	LINE_ERR("{\"method\":\"\\u12G4\"}", PK_E_PARSE, "\\u escape");
	LINE_ERR("{\"method\":\"\\u12\"}", PK_E_PARSE, "\\u escape");
	LINE_ERR("{\"method\":\"abc", PK_E_PARSE, "unterminated string");
	LINE_ERR("{\"method\":\"abc\\", PK_E_PARSE, "unterminated string");
	/* Valid escapes, a surrogate pair and raw UTF-8 all decode. */
	m = REQ_OK("{\"method\":\"\\u00e9\\ud83d\\ude00\xc3\xa9\\\"\\\\\\/\\b\\f\\n\\r\\t\"}");
	assert_string_equal(m->reqs[0].method,
	    "\xc3\xa9\xf0\x9f\x98\x80\xc3\xa9\"\\/\b\f\n\r\t");
	rpc_msg_free(m);
}

static void
test_duplicate_keys(void **state)
{
	char *big;
	size_t i, off;

	(void)state;
	LINE_ERR("{\"id\":1,\"method\":\"m\",\"id\":2}", PK_E_PARSE, "id: duplicate key");
	LINE_ERR("{\"method\":\"m\",\"method\":\"n\"}", PK_E_PARSE, "method: duplicate key");
	LINE_ERR("{\"method\":\"m\",\"params\":{\"a\":1,\"b\":2,\"a\":3}}",
	    PK_E_PARSE, "params.a: duplicate key");
	LINE_ERR("{\"method\":\"m\",\"params\":{\"x\":[{\"k\":1,\"k\":1}]}}",
	    PK_E_PARSE, "params.x[0].k: duplicate key");
	LINE_ERR("[{\"method\":\"m\"},{\"method\":\"m\",\"id\":1,\"id\":1}]",
	    PK_E_PARSE, "[1].id: duplicate key");
	/* Escapes are decoded before comparing. */
	LINE_ERR("{\"method\":\"m\",\"params\":{\"a\":1,\"\\u0061\":2}}",
	    PK_E_PARSE, "params.a: duplicate key");
	/* Names differing in case only are different names. */
	{
		rpc_msg *m = REQ_OK("{\"method\":\"m\",\"params\":{\"a\":1,\"A\":2}}");

		rpc_msg_free(m);
	}
	/* Many members, the duplicate far apart: sorting finds it. */
	big = malloc(200000);
	assert_non_null(big);
	off = (size_t)sprintf(big, "{\"method\":\"m\",\"params\":{");
	for (i = 0; i < 10000; i++)
		off += (size_t)sprintf(big + off, "\"k%zu\":%zu,", i, i);
	off += (size_t)sprintf(big + off, "\"k0\":0}}");
	line_err(big, off, PK_E_PARSE, "params.k0: duplicate key");
	free(big);
}

/* Builds depth nested arrays inside params: {"method":"m","params":{"a":[[...]]}}. */
static char *
nested(int arrays)
{
	char *s = malloc((size_t)arrays * 2 + 64);
	size_t off;
	int i;

	assert_non_null(s);
	off = (size_t)sprintf(s, "{\"method\":\"m\",\"params\":{\"a\":");
	for (i = 0; i < arrays; i++)
		s[off++] = '[';
	for (i = 0; i < arrays; i++)
		s[off++] = ']';
	strcpy(s + off, "}}");
	return s;
}

/* The same with objects: {"method":"m","params":{"a":{"a":...{}}}}. */
static char *
nested_objects(int objects)
{
	char *s = malloc((size_t)objects * 6 + 64);
	size_t off;
	int i;

	assert_non_null(s);
	off = (size_t)sprintf(s, "{\"method\":\"m\",\"params\":");
	for (i = 0; i < objects; i++)
		off += (size_t)sprintf(s + off, "{\"a\":");
	s[off++] = '{';
	for (i = 0; i <= objects; i++)
		s[off++] = '}';
	strcpy(s + off, "}");
	return s;
}

static void
test_depth(void **state)
{
	char *s;
	rpc_msg *m;

	(void)state;
	/* Object (1) + params (2) + 62 arrays = 64 levels: the limit. */
	s = nested(JSON_MAX_DEPTH - 2);
	m = rpc_parse(s, strlen(s));
	assert_non_null(m);
	assert_int_equal(m->err, PK_OK);
	assert_int_equal(m->reqs[0].err, PK_OK);
	rpc_msg_free(m);
	free(s);
	s = nested(JSON_MAX_DEPTH - 1);
	line_err(s, strlen(s), PK_E_PARSE, "too deep");
	free(s);
	/* Far too deep: refused by the parser long before cJSON's limit. */
	s = nested(1000000);
	line_err(s, strlen(s), PK_E_PARSE, "too deep");
	free(s);
	/* Objects count as much as arrays. */
	s = nested_objects(JSON_MAX_DEPTH - 2);
	m = rpc_parse(s, strlen(s));
	assert_non_null(m);
	assert_int_equal(m->err, PK_OK);
	assert_int_equal(m->reqs[0].err, PK_OK);
	rpc_msg_free(m);
	free(s);
	s = nested_objects(JSON_MAX_DEPTH - 1);
	line_err(s, strlen(s), PK_E_PARSE, "nested too deep (more than 64 levels)");
	free(s);
	/* A batch is a level too: [ {params: 61 arrays} ] is 64. */
	s = nested(JSON_MAX_DEPTH - 3);
	{
		size_t l = strlen(s);
		char *b = malloc(l + 3);

		assert_non_null(b);
		b[0] = '[';
		memcpy(b + 1, s, l);
		b[l + 1] = ']';
		b[l + 2] = '\0';
		m = rpc_parse(b, l + 2);
		assert_non_null(m);
		assert_int_equal(m->err, PK_OK);
		assert_int_equal(m->is_batch, 1);
		rpc_msg_free(m);
		free(b);
	}
	free(s);
	s = nested(JSON_MAX_DEPTH - 2);
	{
		size_t l = strlen(s);
		char *b = malloc(l + 3);

		assert_non_null(b);
		b[0] = '[';
		memcpy(b + 1, s, l);
		b[l + 1] = ']';
		b[l + 2] = '\0';
		line_err(b, l + 2, PK_E_PARSE, "too deep");
		free(b);
	}
	free(s);
}

static void
test_batch(void **state)
{
	rpc_msg *m = PARSE("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"},"
	    "{\"method\":\"notify\"}, 7, {\"id\":\"x\",\"method\":\"b\",\"params\":[]},"
	    "{\"id\":12345678901234567890123,\"method\":\"c\"}, [], \"s\"]");

	(void)state;
	assert_non_null(m);
	assert_int_equal(m->err, PK_OK);
	assert_int_equal(m->is_batch, 1);
	assert_int_equal(m->n, 7);
	assert_int_equal(m->reqs[0].err, PK_OK);
	assert_string_equal(m->reqs[0].id, "1");
	assert_string_equal(m->reqs[0].method, "a");
	assert_int_equal(m->reqs[1].err, PK_OK);
	assert_null(m->reqs[1].id);
	assert_string_equal(m->reqs[1].method, "notify");
	assert_int_equal(m->reqs[2].err, PK_E_INVALID_REQUEST);
	assert_null(m->reqs[2].id);
	assert_int_equal(m->reqs[3].err, PK_E_INVALID_PARAMS);
	assert_string_equal(m->reqs[3].id, "\"x\"");
	assert_int_equal(m->reqs[4].err, PK_OK);
	assert_string_equal(m->reqs[4].id, "12345678901234567890123");
	assert_int_equal(m->reqs[5].err, PK_E_INVALID_REQUEST);
	assert_int_equal(m->reqs[6].err, PK_E_INVALID_REQUEST);
	rpc_msg_free(m);

	/* A batch of non-objects: one invalid_request each, no ids. */
	m = PARSE("[1,2,3]");
	assert_non_null(m);
	assert_int_equal(m->n, 3);
	assert_int_equal(m->reqs[2].err, PK_E_INVALID_REQUEST);
	assert_null(m->reqs[2].id);
	rpc_msg_free(m);

	/* A nested array element is not a batch and records no id. */
	m = PARSE("[[{\"id\":1,\"method\":\"m\"}]]");
	assert_non_null(m);
	assert_int_equal(m->n, 1);
	assert_int_equal(m->reqs[0].err, PK_E_INVALID_REQUEST);
	assert_null(m->reqs[0].id);
	rpc_msg_free(m);
}

static char *
batch_of(size_t n)
{
	char *s = malloc(n * 40 + 8);
	size_t off = 0, i;

	assert_non_null(s);
	s[off++] = '[';
	for (i = 0; i < n; i++)
		off += (size_t)sprintf(s + off, "%s{\"id\":%zu,\"method\":\"m\"}",
		    i ? "," : "", i);
	s[off++] = ']';
	s[off] = '\0';
	return s;
}

static void
test_batch_limit(void **state)
{
	char *s = batch_of(RPC_MAX_BATCH);
	rpc_msg *m = rpc_parse(s, strlen(s));
	char want[16];

	(void)state;
	assert_non_null(m);
	assert_int_equal(m->err, PK_OK);
	assert_int_equal(m->n, RPC_MAX_BATCH);
	/* Every element's id lands in its own request. */
	snprintf(want, sizeof want, "%d", RPC_MAX_BATCH - 1);
	assert_string_equal(m->reqs[RPC_MAX_BATCH - 1].id, want);
	assert_string_equal(m->reqs[500].id, "500");
	rpc_msg_free(m);
	free(s);
	s = batch_of(RPC_MAX_BATCH + 1);
	line_err(s, strlen(s), PK_E_INVALID_REQUEST, "at most 1000");
	free(s);
}

/* The length is respected: bytes after it are never read as JSON. */
static void
test_length_respected(void **state)
{
	const char buf[] = "{\"id\":1,\"method\":\"m\"}GARBAGE";
	rpc_msg *m = rpc_parse(buf, 21);

	(void)state;
	assert_non_null(m);
	assert_int_equal(m->err, PK_OK);
	assert_string_equal(m->reqs[0].id, "1");
	rpc_msg_free(m);
	line_err(buf, 20, PK_E_PARSE, "',' or '}' expected");
	line_err(buf, 22, PK_E_PARSE, "trailing characters after the JSON value");
}

/* ---------------------------------------------------------------- */
/* Response lines, byte for byte                                     */

static void
test_result_line(void **state)
{
	struct jw w;
	char *line;

	(void)state;
	jw_init(&w);
	rpc_result_begin(&w, "7");
	jw_obj(&w);
	jw_key(&w, "spots");
	jw_arr(&w);
	jw_obj(&w);
	jw_kint(&w, "level", 0);
	jw_kstr(&w, "id", "A-07");
	jw_obj_end(&w);
	jw_arr_end(&w);
	jw_kstr(&w, "ticket", "0193abcd");
	jw_kbool(&w, "ok", 1);
	jw_knull(&w, "none");
	jw_obj_end(&w);
	jw_obj_end(&w);
	line = jw_take(&w, NULL);
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":"
	    "{\"spots\":[{\"level\":0,\"id\":\"A-07\"}],\"ticket\":\"0193abcd\","
	    "\"ok\":true,\"none\":null}}");
	free(line);
	line = result_line(NULL, "null");
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":null}");
	free(line);
	line = result_line("\"a\\u0062\"", "\"pong\"");
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0062\",\"result\":\"pong\"}");
	free(line);
	line = result_line("1", "[]");
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[]}");
	free(line);
}

static void
test_error_line(void **state)
{
	struct jw extra;
	char *line;

	(void)state;
	line = rpc_error_line(NULL, PK_E_LINE_TOO_LONG, NULL, NULL);
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{"
	    "\"code\":-32600,\"message\":\"line too long\",\"data\":{\"reason\":\"line_too_long\"}}}");
	free(line);
	line = rpc_error_line("8", PK_E_LOT_FULL, "no free spot for class car", NULL);
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":8,\"error\":{"
	    "\"code\":4091,\"message\":\"no free spot for class car\",\"data\":{\"reason\":\"lot_full\"}}}");
	free(line);
	jw_init(&extra);
	jw_members(&extra);
	jw_kint(&extra, "amount_due", 1500);
	jw_kstr(&extra, "currency", "EUR");
	line = rpc_error_line("\"t\"", PK_E_PAYMENT_REQUIRED, "pay first", &extra);
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":\"t\",\"error\":{"
	    "\"code\":4092,\"message\":\"pay first\",\"data\":{\"reason\":\"payment_required\","
	    "\"amount_due\":1500,\"currency\":\"EUR\"}}}");
	free(line);
	jw_release(&extra);
	/* Messages are escaped; empty extra data adds nothing. */
	jw_init(&extra);
	jw_members(&extra);
	line = rpc_error_line("1", PK_E_PARSE, "bad \"x\"\n\\", &extra);
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{"
	    "\"code\":-32700,\"message\":\"bad \\\"x\\\"\\n\\\\\",\"data\":{\"reason\":\"parse_error\"}}}");
	free(line);
	jw_release(&extra);
	/* PK_OK is no error: reported as internal_error. */
	line = rpc_error_line(NULL, PK_OK, NULL, NULL);
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{"
	    "\"code\":-32603,\"message\":\"internal error\",\"data\":{\"reason\":\"internal_error\"}}}");
	free(line);
}

/*
 * The error member kept and spliced after rpc_response_begin answers as
 * rpc_error does, for every error, alone and in a batch.
 */
static void
test_error_members(void **state)
{
	static const char *const ids[] = { NULL, "1", "\"abc\"", "-12.5e3" };
	struct jw t, a, b, extra;

	(void)state;
	jw_init(&extra);
	jw_members(&extra);
	jw_kint(&extra, "amount_due", 1500);
	for (int e = 0; e < PK_E__COUNT; e++) {
		for (int withdata = 0; withdata < 2; withdata++) {
			const struct jw *d = withdata ? &extra : NULL;
			const char *msg = e % 2 ? "a \"message\"" : NULL;

			jw_init(&t);
			jw_members(&t);
			rpc_error_members(&t, (pk_err)e, msg, d);
			jw_init(&a);
			jw_init(&b);
			jw_arr(&a);
			jw_arr(&b);
			for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
				rpc_error(&a, ids[i], (pk_err)e, msg, d);
				rpc_response_begin(&b, ids[i]);
				jw_splice(&b, ",", 1);
				jw_splice(&b, t.buf, t.len);
				jw_obj_end(&b);
			}
			jw_arr_end(&a);
			jw_arr_end(&b);
			assert_false(jw_failed(&b));
			assert_string_equal(b.buf, a.buf);
			jw_release(&t);
			jw_release(&a);
			jw_release(&b);
		}
	}
	jw_release(&extra);
}

/* A parsed request's params printed back match the original text. */
static void
test_round_trip(void **state)
{
	const char in[] = "{\"id\":99,\"method\":\"pay\",\"params\":{\"ticket\":\"t\","
	    "\"amount\":1500,\"list\":[1,-2,3.25,true,false,null,\"\\u00e9\"],\"o\":{}}}";
	rpc_msg *m = REQ_OK(in);
	char *params = tu_print(m->reqs[0].params);
	char *line = result_line(m->reqs[0].id, params);

	(void)state;
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{\"ticket\":\"t\","
	    "\"amount\":1500,\"list\":[1,-2,3.25,true,false,null,\"\xc3\xa9\"],\"o\":{}}}");
	free(line);
	free(params);
	rpc_msg_free(m);
}

/* cJSON allocations fail once this many have succeeded (-1: never). */
static long oom_budget = -1;

static void *
oom_malloc(size_t n)
{
	if (oom_budget == 0)
		return NULL;
	if (oom_budget > 0)
		oom_budget--;
	return malloc(n);
}

/*
 * When cJSON runs out of memory at any point, rpc_parse returns NULL and
 * leaks nothing (ASan counts leaks), or succeeds once there is enough.
 */
/*
 * rpc_parse of line with cJSON's allocations failing after 0, 1, 2, ...
 * successes, until it answers; the answer (asserted to be a parse that
 * succeeded, after more than five failed attempts).
 */
static rpc_msg *
parse_until_enough_memory(const char *line, size_t len)
{
	cJSON_Hooks hooks = { oom_malloc, free };
	rpc_msg *m = NULL;
	long budget;
	int failed = 0;

	cJSON_InitHooks(&hooks);
	for (budget = 0; budget < 1000; budget++) {
		oom_budget = budget;
		m = rpc_parse(line, len);
		if (m != NULL)
			break;
		failed++;
	}
	oom_budget = -1;
	cJSON_InitHooks(NULL);
	assert_true(failed > 5);
	if (m == NULL)
		fail_msg("rpc_parse never succeeded");
	assert_int_equal(m->err, PK_OK);
	return m;
}

static void
test_oom(void **state)
{
	const char line[] = "[{\"id\":1,\"method\":\"a\",\"params\":{\"x\":[1,2,{\"y\":\"z\"}]}},"
	    "{\"id\":\"b\",\"method\":\"b\"}]";
	rpc_msg *m;

	(void)state;
	m = parse_until_enough_memory(line, sizeof line - 1);
	assert_int_equal(m->n, 2);
	assert_string_equal(m->reqs[1].id, "\"b\"");
	rpc_msg_free(m);
}

/*
 * Lines rpc_parse reads without the envelope's tree: its usual requests,
 * in every form of the shape the fast path takes.
 */
static const char *const fast_lines[] = {
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"entry\",\"params\":"
	    "{\"gate\":\"north\",\"plate\":\"AB-12345\",\"class\":\"car\"}}",
	"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"exit\",\"params\":"
	    "{\"gate\":\"south\",\"plate\":\"AB-12345\"}}",
	" \t{ \"jsonrpc\" : \"2.0\" ,\r\"id\" : \"abc\" , \"method\" : \"quote\" ,"
	    " \"params\" : { \"ticket\" : \"x\" } } \t",
	"{\"method\":\"status\"}",
	"{\"id\":null,\"method\":\"status\"}",
	"{\"params\":{},\"method\":\"x\",\"id\":-0}",
	"{\"id\":12345678901234567890123456789,\"method\":\"m\"}",
	"{\"id\":\"a\\u0062\\\"c\",\"method\":\"m\"}",
	"{\"id\":1.5e3,\"method\":\"m\",\"params\":{\"a\":[1,2,{\"b\":null}],"
	    "\"c\":true,\"d\":\"\\u00e9\\ud83d\\ude00\",\"e\":-12.5E-3}}",
	"{\"method\":\"\xc3\xa9t\xc3\xa9\",\"id\":7}",
	"{\"method\":\"abcdefghijklmnopqrstuvwxyz01234\",\"id\":1}",
	"{\"method\":\"m\",\"params\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,"
	    "\"f\":6,\"g\":7,\"h\":8}}",
	"{\"method\":\"m\",\"params\":{\"a\":{\"a\":1},\"b\":{\"a\":2}}}",
	"{\"method\":\"m\",\"params\":{\"\\u0061\":1,\"b\\n\":\"\\t\"}}",
};

/* Lines the fast path leaves to the general one (valid or not). */
static const char *const other_lines[] = {
	"{\"method\":\"abcdefghijklmnopqrstuvwxyz012345\",\"id\":1}",
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"entry\",\"params\":{\"a\":1,\"a\":2}}",
	"{\"id\":1,\"id\":2,\"method\":\"m\"}",
	"{\"method\":\"m\",\"method\":\"m\"}",
	"{\"\\u0069d\":1,\"method\":\"m\"}",
	"{\"id\":true,\"method\":\"m\"}",
	"{\"id\":false,\"method\":\"m\"}",
	"{\"id\":[1],\"method\":\"m\"}",
	"{\"id\":{},\"method\":\"m\"}",
	"{\"jsonrpc\":\"2.1\",\"method\":\"m\"}",
	"{\"jsonrpc\":2.0,\"method\":\"m\"}",
	"{\"jsonrpc\":\"2\\u002e0\",\"method\":\"m\"}",
	"{\"method\":\"m\\u0061\",\"id\":1}",
	"{\"method\":\"\",\"id\":1}",
	"{\"method\":5,\"id\":1}",
	"{\"method\":\"m\",\"params\":[1]}",
	"{\"method\":\"m\",\"params\":null}",
	"{\"method\":\"m\",\"params\":\"x\"}",
	"{\"method\":\"m\",\"extra\":1}",
	"[{\"method\":\"m\",\"id\":1},{\"method\":\"n\"}]",
	"{\"method\":\"m\"} x",
	"{\"method\":\"m\"}{}",
	"{\"id\":1}",
	"{}",
	"{\"method\":\"m\",}",
	"{\"method\":\"m\" \"id\":1}",
	"{\"method\":\"m\",\"params\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,"
	    "\"f\":6,\"g\":7,\"h\":8,\"i\":9}}",
	"{\"method\":\"m\",\"params\":{\"a\":01}}",
	"{\"method\":\"m\",\"id\":01}",
	"{\"method\":\"m\",\"id\":\"\\u0000\"}",
	"{\"method\":\"m\",\"id\":1}\x80",
	"{\"method\":\"m\x01\",\"id\":1}",
	"\"just a string\"",
	"42",
	"null",
	"{\"method\":\"m\"",
};

/* rpc_parse and rpc_parse_general answer s[0..len) alike. */
static void
same_as_general(const char *s, size_t len)
{
	rpc_msg *a = rpc_parse(s, len), *b = rpc_parse_general(s, len);
	char why[600];

	if (!rpc_same(a, b, why, sizeof why))
		fail_msg("%.*s: %s", (int)len, s, why);
	rpc_msg_free(a);
	rpc_msg_free(b);
}

static void
test_fast_path(void **state)
{
	char *deep;
	rpc_msg *m;

	(void)state;
	for (size_t i = 0; i < (sizeof(fast_lines) / sizeof(fast_lines[0])); i++) {
		m = rpc_parse(fast_lines[i], strlen(fast_lines[i]));
		assert_non_null(m);
		if (m->err != PK_OK || m->n != 1 || m->reqs[0].err != PK_OK)
			fail_msg("%s: refused: %s%s", fast_lines[i], m->errmsg,
			    m->n ? m->reqs[0].errmsg : "");
		/* Its method is kept in the message: the fast path read it. */
		if (m->reqs[0].method != m->method_short)
			fail_msg("%s: not read by the fast path", fast_lines[i]);
		rpc_msg_free(m);
		same_as_general(fast_lines[i], strlen(fast_lines[i]));
	}
	for (size_t i = 0; i < (sizeof(other_lines) / sizeof(other_lines[0])); i++)
		same_as_general(other_lines[i], strlen(other_lines[i]));
	/* Nesting up to the limit inside params, and one past it. */
	deep = nested(JSON_MAX_DEPTH - 2);
	m = rpc_parse(deep, strlen(deep));
	assert_int_equal(m->err, PK_OK);
	assert_ptr_equal(m->reqs[0].method, m->method_short);
	rpc_msg_free(m);
	same_as_general(deep, strlen(deep));
	free(deep);
	deep = nested(JSON_MAX_DEPTH - 1);
	m = rpc_parse(deep, strlen(deep));
	assert_int_equal(m->err, PK_E_PARSE);
	assert_non_null(strstr(m->errmsg, "too deep"));
	rpc_msg_free(m);
	free(deep);
}

/*
 * Every line made by mutating those (bytes replaced, inserted, deleted,
 * spans repeated) is answered by rpc_parse as by the general path.
 */
static void
test_fast_path_mutations(void **state)
{
	static const char alphabet[] = "{}[]\":,\\ \t\r\nu0123456789aefnlrstx.-+E"
	    "\x80\xc3\xa9\xff\x01";
	uint64_t rng = 0x2545F4914F6CDD1DULL;
	char buf[600];
	size_t nbase = (sizeof(fast_lines) / sizeof(fast_lines[0])) + (sizeof(other_lines) / sizeof(other_lines[0]));

	(void)state;
	for (size_t b = 0; b < nbase; b++) {
		const char *base = b < (sizeof(fast_lines) / sizeof(fast_lines[0])) ? fast_lines[b] :
		    other_lines[b - (sizeof(fast_lines) / sizeof(fast_lines[0]))];

		for (int k = 0; k < 800; k++) {
			size_t len = strlen(base);
			int edits = 1 + (int)(tu_rng(&rng) % 3);

			memcpy(buf, base, len);
			while (edits-- > 0 && len > 0 && len < sizeof(buf) - 100) {
				size_t at = tu_rng(&rng) % len, n;
				char c = alphabet[tu_rng(&rng) % (sizeof(alphabet) - 1)];

				switch (tu_rng(&rng) % 4) {
				case 0:
					buf[at] = c;
					break;
				case 1:
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = c;
					len++;
					break;
				case 2:
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
					break;
				default:
					n = 1 + tu_rng(&rng) % 12;
					if (n > len - at)
						n = len - at;
					memmove(buf + at + n, buf + at, len - at);
					len += n;
					break;
				}
			}
			same_as_general(buf, len);
		}
	}
}

/* Out of memory anywhere in a lone request: NULL or the right answer, no leak. */
static void
test_fast_path_oom(void **state)
{
	const char line[] = "{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,"
	    "\"method\":\"entry\",\"params\":{\"gate\":\"north\",\"x\":[1,{\"y\":\"z\"}]}}";
	rpc_msg *m;

	(void)state;
	m = parse_until_enough_memory(line, sizeof line - 1);
	assert_string_equal(m->reqs[0].id, "123456789012345678901234567890");
	assert_string_equal(m->reqs[0].method, "entry");
	rpc_msg_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_request),
		cmocka_unit_test(test_notification_and_null_id),
		cmocka_unit_test(test_id_raw_exact),
		cmocka_unit_test(test_bad_id_types),
		cmocka_unit_test(test_jsonrpc_member),
		cmocka_unit_test(test_method_member),
		cmocka_unit_test(test_params_member),
		cmocka_unit_test(test_unknown_member),
		cmocka_unit_test(test_top_level_kinds),
		cmocka_unit_test(test_not_utf8),
		cmocka_unit_test(test_rfc8259_strictness),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_batch_limit),
		cmocka_unit_test(test_length_respected),
		cmocka_unit_test(test_result_line),
		cmocka_unit_test(test_error_line),
		cmocka_unit_test(test_error_members),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_oom),
		cmocka_unit_test(test_fast_path),
		cmocka_unit_test(test_fast_path_mutations),
		cmocka_unit_test(test_fast_path_oom),
		cmocka_unit_test(test_id_every_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
