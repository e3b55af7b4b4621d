/* test_jsonw.c - unit tests of the one JSON writer (lib/jsonw.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jsonw.h"
#include "rfc3339.h"
#include "utf8.h"

/* Takes the writer's text and compares it with want. */
static void
expect(struct jw *w, const char *want)
{
	char *s = jw_take(w, NULL);

	assert_non_null(s);
	if (strcmp(s, want) != 0)
		fail_msg("wrote %s, want %s", s, want);
	free(s);
}

static void
expect_int(int64_t v, const char *want)
{
	struct jw w;

	jw_init(&w);
	jw_int(&w, v);
	expect(&w, want);
}

/*
 * Times: the same second again, another, the first back, the epoch, and
 * the clamped ends, each as rfc3339_format has it; after a reset and
 * after jw_take the writer still writes the right text.
 */
static void
test_times(void **state)
{
	static const int64_t ts[] = { 1795428000, 1795428000, 1795428001, 1795428000,
	    0, 0, INT64_MIN, INT64_MAX, -1, 86399, 86400 };
	char want[1024], one[RFC3339_BUFSZ];
	size_t len = 0;
	struct jw w;

	(void)state;
	jw_init(&w);
	jw_arr(&w);
	len += (size_t)snprintf(want + len, sizeof want - len, "[");
	for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
		jw_time(&w, ts[i]);
		rfc3339_format(ts[i], one);
		len += (size_t)snprintf(want + len, sizeof want - len, "%s\"%s\"",
		    i ? "," : "", one);
	}
	jw_arr_end(&w);
	snprintf(want + len, sizeof want - len, "]");
	expect(&w, want);
	/* jw_take left it empty; the last time (86400) and another. */
	jw_arr(&w);
	jw_time(&w, 86400);
	jw_time(&w, 1795428000);
	jw_arr_end(&w);
	expect(&w, "[\"1970-01-02T00:00:00Z\",\"2026-11-23T10:00:00Z\"]");
	jw_time(&w, 1795428000);
	jw_reset(&w);
	jw_time(&w, 1795428060);
	expect(&w, "\"2026-11-23T10:01:00Z\"");
}

/* Every integer is written exactly, at the bounds too. */
static void
test_integers(void **state)
{
	struct jw w;

	(void)state;
	expect_int(0, "0");
	expect_int(7, "7");
	expect_int(-1, "-1");
	expect_int(9007199254740991LL, "9007199254740991");	/* 2^53 - 1 */
	expect_int(-9007199254740991LL, "-9007199254740991");
	expect_int(9007199254740993LL, "9007199254740993");	/* no double can */
	expect_int(INT64_MAX, "9223372036854775807");
	expect_int(INT64_MIN, "-9223372036854775808");
	jw_init(&w);
	jw_uint(&w, UINT64_MAX);
	expect(&w, "18446744073709551615");
}

static void
expect_fixed(int64_t v, int dec, const char *want)
{
	struct jw w;

	jw_init(&w);
	jw_fixed(&w, v, dec);
	expect(&w, want);
}

static void
test_fixed(void **state)
{
	(void)state;
	expect_fixed(1500, 3, "1.5");
	expect_fixed(1000, 3, "1");
	expect_fixed(250, 3, "0.25");
	expect_fixed(1, 3, "0.001");
	expect_fixed(-500, 3, "-0.5");
	expect_fixed(-3000, 3, "-3");
	expect_fixed(0, 3, "0");
	expect_fixed(900000, 6, "0.9");
	expect_fixed(970000, 6, "0.97");
	expect_fixed(123456, 6, "0.123456");
	expect_fixed(1000000, 6, "1");
	expect_fixed(42, 0, "42");
}

/* Commas and nesting come from the writer, not the caller. */
static void
test_structure(void **state)
{
	struct jw w;

	(void)state;
	jw_init(&w);
	jw_obj(&w);
	jw_kstr(&w, "a", "x");
	jw_key(&w, "b");
	jw_arr(&w);
	jw_int(&w, 1);
	jw_obj(&w);
	jw_obj_end(&w);
	jw_arr(&w);
	jw_arr_end(&w);
	jw_null(&w);
	jw_bool(&w, 0);
	jw_arr_end(&w);
	jw_kbool(&w, "c", 1);
	jw_ktime(&w, "t", 1795428000);
	jw_kmilli(&w, "m", 12500);
	jw_key(&w, "s");
	jw_obj(&w);
	jw_kint(&w, "l", -1);
	jw_kuint(&w, "u", 7);
	jw_knull(&w, "z");
	jw_key(&w, "");
	jw_int(&w, 0);
	jw_obj_end(&w);
	jw_key(&w, "r");
	jw_raw(&w, "[1,2]", 5);
	jw_obj_end(&w);
	expect(&w, "{\"a\":\"x\",\"b\":[1,{},[],null,false],\"c\":true,"
	    "\"t\":\"2026-11-23T10:00:00Z\",\"m\":12.5,"
	    "\"s\":{\"l\":-1,\"u\":7,\"z\":null,\"\":0},\"r\":[1,2]}");
	/* An unbalanced close is a failure, not a crash. */
	jw_init(&w);
	jw_obj_end(&w);
	assert_true(jw_failed(&w));
	assert_null(jw_take(&w, NULL));
}

/* a wrote, without failing, exactly what b wrote. */
static void
expect_same(const struct jw *a, const struct jw *b)
{
	assert_false(jw_failed(a));
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->buf, b->buf, a->len);
}

/*
 * Literal names go out in their quoted form, one copy each (every keyed
 * writer: test_structure): through a buffer grown many times from empty,
 * the same text as names escaped at run time.
 */
static void
test_literal_names(void **state)
{
	struct jw w, v;

	(void)state;
	jw_init(&w);
	jw_init(&v);
	jw_obj(&w);
	jw_obj(&v);
	for (int i = 0; i < 2000; i++) {
		jw_key(&w, "spot_name");
		jw_int(&w, i);
		jw_keyv(&v, "spot_name");
		jw_int(&v, i);
	}
	jw_obj_end(&w);
	jw_obj_end(&v);
	expect_same(&w, &v);
	jw_release(&w);
	jw_release(&v);
}

/*
 * Runs write in a child and expects it to abort: what a SAN=1 build
 * (JW_CHECK_LITERALS) does with a claim the writer can check; skipped in
 * other builds, which do not check.
 */
static void
expect_abort(void (*write)(struct jw *w))
{
	int status;
	pid_t pid;

#ifndef JW_CHECK_LITERALS
	skip();
#endif
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct jw w;

		jw_init(&w);
		write(&w);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void
bad_name(struct jw *w)
{
	jw_obj(w);
	jw_key(w, "a\"b");
}

static void
bad_prefix(struct jw *w)
{
	jw_prefixed(w, "a\"b:", "c");
}

static void
false_plain(struct jw *w)
{
	jw_strk(w, "a\"b", 3, 1);
}

/*
 * A SAN=1 build checks every literal name: one that would need escaping
 * stops the process rather than write broken JSON.
 */
static void
test_literal_name_checked(void **state)
{
	(void)state;
	expect_abort(bad_name);
}

/* Members written for someone else's object, spliced in later. */
static void
test_members(void **state)
{
	struct jw m, w;

	(void)state;
	jw_init(&m);
	jw_members(&m);
	jw_kint(&m, "amount_due", 800);
	jw_kstr(&m, "currency", "EUR");
	jw_init(&w);
	jw_obj(&w);
	jw_kstr(&w, "reason", "payment_required");
	jw_splice(&w, ",", 1);
	jw_splice(&w, m.buf, m.len);
	jw_obj_end(&w);
	expect(&w, "{\"reason\":\"payment_required\",\"amount_due\":800,\"currency\":\"EUR\"}");
	jw_release(&m);
}

static void
test_mark_rewind(void **state)
{
	struct jw w;
	struct jw_mark mk;

	(void)state;
	jw_init(&w);
	jw_arr(&w);
	jw_int(&w, 1);
	jw_mark(&w, &mk);
	jw_obj(&w);
	jw_kstr(&w, "gone", "yes");
	jw_rewind(&w, &mk);
	jw_int(&w, 2);
	jw_arr_end(&w);
	expect(&w, "[1,2]");
	/* Back to a mark taken after a key, and to one in an empty container. */
	jw_init(&w);
	jw_obj(&w);
	jw_mark(&w, &mk);
	jw_kint(&w, "gone", 1);
	jw_rewind(&w, &mk);
	jw_key(&w, "a");
	jw_mark(&w, &mk);
	jw_arr(&w);
	jw_int(&w, 9);
	jw_rewind(&w, &mk);
	jw_int(&w, 1);
	jw_kint(&w, "b", 2);
	jw_obj_end(&w);
	expect(&w, "{\"a\":1,\"b\":2}");
}

/* Writes every kind of value and name once, in an open array. */
static void
write_one_of_each(struct jw *w)
{
	jw_str(w, "a string of some length, to need no growing");
	jw_prefixed(w, "p:", "x");
	jw_int(w, -12);
	jw_uint(w, 12);
	jw_time(w, 0);
	jw_milli(w, 1500);
	jw_raw(w, "[1]", 3);
	jw_null(w);
	jw_bool(w, 1);
	jw_obj(w);
	jw_kstr(w, "k", "v");
	jw_keyv(w, "kv");
	jw_int(w, 1);
	jw_obj_end(w);
	jw_splice(w, " ", 1);
}

/*
 * Once the writer has failed, nothing more is written, whatever the call
 * and however much room the buffer has; a rewind to a mark taken before
 * the failure writes again, one taken after it does not.
 */
static void
test_nothing_after_failure(void **state)
{
	struct jw w;
	struct jw_mark before, after;
	size_t len;
	char big[1024];

	(void)state;
	/* A buffer with room to spare: grown once, then emptied. */
	memset(big, '1', sizeof(big));
	jw_init(&w);
	jw_mark(&w, &before);
	jw_raw(&w, big, sizeof(big));
	jw_rewind(&w, &before);
	jw_arr(&w);
	write_one_of_each(&w);
	jw_mark(&w, &before);
	/* Plenty of room left, then a failure: an unbalanced close. */
	jw_arr_end(&w);
	jw_arr_end(&w);
	assert_true(jw_failed(&w));
	assert_true(w.cap - w.len > 200);
	len = w.len;
	jw_mark(&w, &after);
	write_one_of_each(&w);
	assert_int_equal(w.len, len);
	jw_rewind(&w, &after);
	write_one_of_each(&w);
	assert_int_equal(w.len, len);
	assert_true(jw_failed(&w));
	jw_rewind(&w, &before);
	assert_false(jw_failed(&w));
	jw_int(&w, 7);
	jw_arr_end(&w);
	assert_true(w.len > before.len);
	assert_int_equal(w.buf[w.len - 2], '7');
	/* A reset writer writes again too. */
	jw_arr_end(&w);
	assert_true(jw_failed(&w));
	jw_reset(&w);
	jw_int(&w, 5);
	expect(&w, "5");
}

/* Commas between siblings at every depth, after closes of every kind. */
static void
test_commas_after_nesting(void **state)
{
	struct jw w;

	(void)state;
	jw_init(&w);
	jw_arr(&w);
	jw_arr(&w);
	jw_arr(&w);
	jw_arr_end(&w);
	jw_arr_end(&w);
	jw_arr(&w);
	jw_obj(&w);
	jw_obj_end(&w);
	jw_arr_end(&w);
	jw_obj(&w);
	jw_key(&w, "a");
	jw_arr(&w);
	jw_int(&w, 1);
	jw_obj(&w);
	jw_key(&w, "b");
	jw_obj(&w);
	jw_obj_end(&w);
	jw_obj_end(&w);
	jw_arr_end(&w);
	jw_kint(&w, "c", 2);
	jw_obj_end(&w);
	jw_str(&w, "d");
	jw_arr_end(&w);
	expect(&w, "[[[]],[{}],{\"a\":[1,{\"b\":{}}],\"c\":2},\"d\"]");
	/* Top-level values written one after another get no comma. */
	jw_init(&w);
	jw_int(&w, 1);
	jw_splice(&w, "\n", 1);
	jw_obj(&w);
	jw_obj_end(&w);
	expect(&w, "1\n{}");
}

/* Copies of every length (the short ones are made without memcpy). */
static void
test_copies_of_every_length(void **state)
{
	char src[80], want[160];
	struct jw w;

	(void)state;
	for (size_t i = 0; i < sizeof src; i++)
		src[i] = (char)('a' + i % 26);
	for (size_t n = 0; n < 70; n++) {
		jw_init(&w);
		jw_splice(&w, "<", 1);
		jw_splice(&w, src + 3, n);
		jw_strn(&w, src + 5, n);
		snprintf(want, sizeof want, "<%.*s\"%.*s\"", (int)n, src + 3,
		    (int)n, src + 5);
		expect(&w, want);
	}
}

static void
test_strings(void **state)
{
	struct jw w;

	(void)state;
	jw_init(&w);
	jw_arr(&w);
	jw_str(&w, "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f");
	jw_str(&w, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	/* Invalid UTF-8 becomes U+FFFD, one per bad byte. */
	jw_str(&w, "a\xff" "b\xc0\xaf" "c\xe2\x82");
	jw_strn(&w, "ab\0cd", 5);
	jw_arr_end(&w);
	expect(&w, "[\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\","
	    "\"caf\xc3\xa9 \xf0\x9f\x98\x80\","
	    "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\","
	    "\"ab\\u0000cd\"]");
	/* Names known at run time are escaped the same way. */
	jw_init(&w);
	jw_obj(&w);
	jw_keyv(&w, "k\"\n");
	jw_int(&w, 1);
	jw_obj_end(&w);
	expect(&w, "{\"k\\\"\\n\":1}");
}

/*
 * A prefixed string (an audit subject) is the prefix and the string
 * together, escaped as one string would be, at every length of each (the
 * plain path copies both in short pieces), and grows the buffer.
 */
static void
test_prefixed(void **state)
{
	char src[80], want[200];
	static const char prefix[] = "vehicle:abcdefghijklmnopqrstu";
	struct jw w;

	(void)state;
	for (size_t i = 0; i < sizeof src; i++)
		src[i] = (char)('a' + i % 26);
	for (size_t pn = 0; pn < sizeof(prefix); pn++) {
		for (size_t n = 0; n < 40; n++) {
			jw_init(&w);
			jw_arr(&w);
			jw_str(&w, "x");
			jw_strpre(&w, prefix, pn, src + 1, n);
			jw_arr_end(&w);
			snprintf(want, sizeof want, "[\"x\",\"%.*s%.*s\"]",
			    (int)pn, prefix, (int)n, src + 1);
			expect(&w, want);
		}
	}
	jw_init(&w);
	jw_arr(&w);
	jw_prefixed(&w, "vehicle:", "B-\"X\"\n1");
	jw_prefixed(&w, "spot:", "caf\xc3\xa9\xff");
	jw_prefixed(&w, "gate:", "");
	jw_arr_end(&w);
	expect(&w, "[\"vehicle:B-\\\"X\\\"\\n1\",\"spot:caf\xc3\xa9\\ufffd\","
	    "\"gate:\"]");
	/* Longer than the buffer the old writer cut subjects at (127 bytes). */
	{
		char name[200], whole[256];

		memset(name, 'z', sizeof name - 1);
		name[sizeof name - 1] = '\0';
		jw_init(&w);
		jw_arr(&w);
		jw_prefixed(&w, "facility:", name);
		jw_arr_end(&w);
		snprintf(whole, sizeof whole, "[\"facility:%s\"]", name);
		expect(&w, whole);
	}
}

/*
 * A prefix is a literal with nothing to escape; a SAN=1 build stops on
 * one that has something.
 */
static void
test_prefix_checked(void **state)
{
	(void)state;
	expect_abort(bad_prefix);
}

/*
 * A text of fewer than most pieces drawn from pieces by the generator in
 * *seed, as long as it fits in[0..cap) with room for a NUL; its length.
 */
static size_t
random_text(unsigned *seed, const char *const *pieces, size_t npieces,
    unsigned most, char *in, size_t cap)
{
	size_t n = 0, np;

	*seed = *seed * 1103515245u + 12345u;
	np = (*seed >> 16) % most;
	for (size_t k = 0; k < np; k++) {
		const char *p;

		*seed = *seed * 1103515245u + 12345u;
		p = pieces[(*seed >> 16) % npieces];
		if (n + strlen(p) >= cap)
			break;
		memcpy(in + n, p, strlen(p));
		n += strlen(p);
	}
	return n;
}

/*
 * Strings of known length and plainness (jw_strk, jw_prefixedk,
 * jw_kstrk) come out as the same strings written by jw_strn, jw_strpre
 * and jw_keyn would: whether the caller says "plain" as jw_plain found, or
 * says "not plain" of any string.
 */
static void
test_known_strings(void **state)
{
	static const char *const pieces[] = {
		"a", "Zq9", " ", "-", "\"", "\\", "\n", "\x01", "\x7f",
		"\xc3\xa9", "\xff", "0193abcd-ef01-7234-8567-89abcdef0123",
	};
	unsigned seed = 99;
	struct jw a, b;

	(void)state;
	assert_true(jw_plain("B-XY 123", 8));
	assert_true(jw_plain("0193abcd-ef01-7234-8567-89abcdef0123", 36));
	assert_true(jw_plain("", 0));
	assert_false(jw_plain("a\"b", 3));
	assert_false(jw_plain("a\\b", 3));
	assert_false(jw_plain("line\n", 5));
	assert_false(jw_plain("caf\xc3\xa9", 5));
	jw_init(&a);
	jw_init(&b);
	for (int round = 0; round < 5000; round++) {
		char in[160];
		size_t n = random_text(&seed, pieces,
		    sizeof(pieces) / sizeof(pieces[0]), 5, in, sizeof(in));
		int plain;

		plain = jw_plain(in, n);
		for (int claim = 0; claim <= plain; claim++) {
			jw_reset(&a);
			jw_reset(&b);
			jw_obj(&a);
			jw_kstrk(&a, "k", in, n, claim);
			jw_key(&a, "s");
			jw_arr(&a);
			jw_strk(&a, in, n, claim);
			jw_prefixedk(&a, "ticket:", in, n, claim);
			jw_arr_end(&a);
			jw_obj_end(&a);
			jw_obj(&b);
			jw_key(&b, "k");
			jw_strn(&b, in, n);
			jw_key(&b, "s");
			jw_arr(&b);
			jw_strn(&b, in, n);
			jw_strpre(&b, "ticket:", 7, in, n);
			jw_arr_end(&b);
			jw_obj_end(&b);
			expect_same(&a, &b);
		}
	}
	jw_release(&a);
	jw_release(&b);
}

/* A SAN=1 build stops on a claim of plainness that is false. */
static void
test_false_plain_checked(void **state)
{
	(void)state;
	expect_abort(false_plain);
}

/*
 * A string that is all escapes is written in linear time (a quadratic
 * writer would take minutes here and trip the test runner's timeout).
 */
static void
test_escapes_linear(void **state)
{
	size_t n = (size_t)1 << 20, i;
	char *big = malloc(n + 1), *s;
	struct jw w;

	(void)state;
	assert_non_null(big);
	for (i = 0; i < n; i++)
		big[i] = (i % 3 == 0) ? '"' : (i % 3 == 1) ? '\xff' : '\n';
	big[n] = '\0';
	jw_init(&w);
	jw_str(&w, big);
	s = jw_take(&w, NULL);
	assert_non_null(s);
	assert_memory_equal(s, "\"\\\"\\ufffd\\n\\\"", 13);
	free(s);
	free(big);
}

/*
 * The escaping done the plain way, one character at a time, for the
 * randomized test: ASCII escaped by the rules, a valid UTF-8 sequence
 * copied, a byte that starts none replaced by U+FFFD.
 */
static size_t
model_escape(const unsigned char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; ) {
		unsigned char c = s[i];
		size_t len;

		if (c >= 0x80) {
			len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (utf8_valid_prefix((const char *)s + i, n - i) == 0) {
				o += (size_t)sprintf(out + o, "\\ufffd");
				i++;
				continue;
			}
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
			continue;
		}
		if (c == '"')
			o += (size_t)sprintf(out + o, "\\\"");
		else if (c == '\\')
			o += (size_t)sprintf(out + o, "\\\\");
		else if (c == '\n')
			o += (size_t)sprintf(out + o, "\\n");
		else if (c == '\r')
			o += (size_t)sprintf(out + o, "\\r");
		else if (c == '\t')
			o += (size_t)sprintf(out + o, "\\t");
		else if (c == '\b')
			o += (size_t)sprintf(out + o, "\\b");
		else if (c == '\f')
			o += (size_t)sprintf(out + o, "\\f");
		else if (c < 0x20)
			o += (size_t)sprintf(out + o, "\\u%04x", c);
		else
			out[o++] = (char)c;
		i++;
	}
	out[o] = '\0';
	return o;
}

/*
 * Writes in[0..n) as a string value with w, the model's escaping into
 * want and the writer's into got (cap bytes each); 0 when they agree.
 */
static int
write_as_model(struct jw *w, const char *in, size_t n, char *want, char *got,
    size_t cap)
{
	want[0] = '"';
	model_escape((const unsigned char *)in, n, want + 1);
	strcat(want, "\"");
	jw_reset(w);
	jw_strn(w, in, n);
	assert_false(jw_failed(w));
	snprintf(got, cap, "%s", w->buf);
	return strcmp(got, want) == 0 ? 0 : -1;
}

/*
 * Random strings of plain text, escapes, valid and broken UTF-8 are
 * written as the model writes them (the writer copies runs of plain bytes
 * whole and validates UTF-8 only where it shows up).
 */
static void
test_strings_random(void **state)
{
	static const char *const pieces[] = {
		"a", "Zq9", " ", "\"", "\\", "/", "\n", "\x01", "\x1f", "\x7f",
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",	/* valid */
		"\xff", "\xc0\xaf", "\xe2\x82", "\xed\xa0\x80",	/* not */
		"\xf4\x90\x80\x80", "\x80", "\xc3", "\xf0\x9f\x98",
	};
	unsigned seed = 12345;
	char in[256], want[256 * 6 + 3], got[256 * 6 + 3];
	struct jw w;

	(void)state;
	jw_init(&w);
	for (int round = 0; round < 20000; round++) {
		size_t n = random_text(&seed, pieces,
		    sizeof(pieces) / sizeof(pieces[0]), 24, in, sizeof(in));

		if (write_as_model(&w, in, n, want, got, sizeof(got)) != 0)
			fail_msg("round %d: wrote %s, want %s", round, got, want);
	}
	jw_release(&w);
}

/*
 * One byte that is not plain ASCII, at every position of a string of every
 * length up to 24, as a value and as a key: the writer tests short strings
 * and the ends of long ones a word at a time with overlapping loads, so a
 * byte missed at one offset would be written raw.
 */
static void
test_special_at_every_position(void **state)
{
	static const unsigned char specials[] = { '"', '\\', '\n', 0x01, 0x1f, 0x00, 0x80, 0xff };
	char in[32], want[32 * 6 + 8], got[32 * 6 + 8];
	struct jw w;

	(void)state;
	jw_init(&w);
	for (size_t n = 0; n <= 24; n++) {
		for (size_t at = 0; at <= n; at++) {
			for (size_t k = 0; k < sizeof(specials); k++) {
				/* at == n: all plain, the fast path's own answer. */
				memset(in, 'a' + (int)(n % 26), n);
				if (at < n)
					in[at] = (char)specials[k];
				if (write_as_model(&w, in, n, want, got, sizeof(got)) != 0)
					fail_msg("length %zu, byte 0x%02x at %zu: wrote %s, want %s",
					    n, specials[k], at, got, want);
				/* The same bytes as a member name. */
				in[n] = '\0';
				if (memchr(in, '\0', n) != NULL)
					continue;
				jw_reset(&w);
				jw_obj(&w);
				jw_keyv(&w, in);
				jw_int(&w, 1);
				jw_obj_end(&w);
				snprintf(got, sizeof(got), "{%s:1}", want);
				assert_string_equal(w.buf, got);
			}
		}
	}
	jw_release(&w);
}

static void
test_depth(void **state)
{
	struct jw w;
	char *s;

	(void)state;
	jw_init(&w);
	for (int i = 0; i < JW_MAX_DEPTH; i++)
		jw_arr(&w);
	for (int i = 0; i < JW_MAX_DEPTH; i++)
		jw_arr_end(&w);
	s = jw_take(&w, NULL);
	assert_non_null(s);
	assert_int_equal(strlen(s), 2 * JW_MAX_DEPTH);
	free(s);
	jw_init(&w);
	for (int i = 0; i <= JW_MAX_DEPTH; i++)
		jw_arr(&w);
	assert_true(jw_failed(&w));
	jw_release(&w);
}

/* A reset writer reuses its buffer; take hands it over. */
static void
test_reuse(void **state)
{
	struct jw w;
	size_t len = 0;
	char *s;

	(void)state;
	jw_init(&w);
	jw_str(&w, "first");
	jw_reset(&w);
	assert_int_equal(w.len, 0);
	jw_int(&w, 5);
	s = jw_take(&w, &len);
	assert_string_equal(s, "5");
	assert_int_equal(len, 1);
	assert_null(w.buf);
	free(s);
	/* Nothing written: nothing to take. */
	assert_null(jw_take(&w, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_literal_names),
		cmocka_unit_test(test_literal_name_checked),
		cmocka_unit_test(test_mark_rewind),
		cmocka_unit_test(test_nothing_after_failure),
		cmocka_unit_test(test_commas_after_nesting),
		cmocka_unit_test(test_copies_of_every_length),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_prefixed),
		cmocka_unit_test(test_prefix_checked),
		cmocka_unit_test(test_known_strings),
		cmocka_unit_test(test_false_plain_checked),
		cmocka_unit_test(test_escapes_linear),
		cmocka_unit_test(test_strings_random),
		cmocka_unit_test(test_special_at_every_position),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
