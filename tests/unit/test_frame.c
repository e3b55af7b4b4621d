/* test_frame.c - the line framer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"

#define MAX_EVENTS 64

/* What the callback saw: lines (with their lengths) and too-long marks. */
struct seen {
	size_t n;
	char line[MAX_EVENTS][128];
	size_t len[MAX_EVENTS];
	int too_long[MAX_EVENTS];
	int stop_at;		/* return 7 from the stop_at-th call (1-based) */
};

static int
collect(void *ud, const char *line, size_t len, int too_long)
{
	struct seen *s = ud;

	assert_true(s->n < MAX_EVENTS);
	if (too_long) {
		assert_null(line);
		assert_int_equal(len, 0);
	} else {
		assert_non_null(line);
		/* Long lines are only counted; their first bytes are kept. */
		memcpy(s->line[s->n], line,
		    len < sizeof s->line[0] ? len : sizeof s->line[0]);
	}
	s->len[s->n] = len;
	s->too_long[s->n] = too_long;
	s->n++;
	if (s->stop_at != 0 && (int)s->n == s->stop_at)
		return 7;
	return 0;
}

static int
feed(framer *f, const char *s, struct seen *seen)
{
	return framer_feed(f, s, strlen(s), collect, seen);
}

static void
assert_line(const struct seen *s, size_t i, const char *want)
{
	assert_true(i < s->n);
	assert_int_equal(s->too_long[i], 0);
	assert_int_equal(s->len[i], strlen(want));
	assert_memory_equal(s->line[i], want, strlen(want));
}

static void
assert_too_long(const struct seen *s, size_t i)
{
	assert_true(i < s->n);
	assert_int_equal(s->too_long[i], 1);
}

static void
test_new_free(void **state)
{
	(void)state;
	framer_free(NULL);
	framer_free(framer_new(16));
	assert_null(framer_new((size_t)-1));
}

static void
test_lines_lf_crlf(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(100);

	(void)state;
	assert_int_equal(feed(f, "ping\nhelp\r\n{\"a\":1}\n", &s), 0);
	assert_int_equal(s.n, 3);
	assert_line(&s, 0, "ping");
	assert_line(&s, 1, "help");
	assert_line(&s, 2, "{\"a\":1}");
	assert_int_equal(framer_buffered(f), 0);
	framer_free(f);
}

/* Only one CR before the LF is dropped; CRs elsewhere stay. */
static void
test_only_one_cr(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(100);

	(void)state;
	assert_int_equal(feed(f, "a\r\r\nb\rc\n\r\n\r\r\n", &s), 0);
	assert_int_equal(s.n, 3);
	assert_line(&s, 0, "a\r");
	assert_line(&s, 1, "b\rc");
	/* "\r\n" is an empty line once its CR is dropped: skipped; */
	/* "\r\r\n" keeps one CR, which is not blank. */
	assert_line(&s, 2, "\r");
	framer_free(f);
}

static void
test_blank_lines_skipped(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(100);

	(void)state;
	assert_int_equal(feed(f, "\n\r\n   \n\t \t\r\n x \n\n", &s), 0);
	assert_int_equal(s.n, 1);
	assert_line(&s, 0, " x ");
	framer_free(f);
}

static void
test_partial_line_buffered(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(100);

	(void)state;
	assert_int_equal(feed(f, "pi", &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(framer_buffered(f), 2);
	assert_int_equal(feed(f, "ng\r", &s), 0);
	assert_int_equal(framer_buffered(f), 5);
	assert_int_equal(feed(f, "\nhel", &s), 0);
	assert_int_equal(s.n, 1);
	assert_line(&s, 0, "ping");
	assert_int_equal(framer_buffered(f), 3);
	assert_int_equal(feed(f, "p\n", &s), 0);
	assert_line(&s, 1, "help");
	assert_int_equal(framer_buffered(f), 0);
	framer_free(f);
}

/* Byte by byte gives the same lines as one feed. */
static void
test_byte_by_byte(void **state)
{
	const char *in = "ab\r\n\n  \ncd\rx\r\nabcde\r\nef\n";
	struct seen s = { 0 };
	framer *f = framer_new(4);
	size_t i;

	(void)state;
	for (i = 0; in[i] != '\0'; i++)
		assert_int_equal(framer_feed(f, in + i, 1, collect, &s), 0);
	assert_int_equal(s.n, 4);
	assert_line(&s, 0, "ab");
	assert_line(&s, 1, "cd\rx");	/* 4 bytes: the inner CR counts */
	assert_too_long(&s, 2);
	assert_line(&s, 3, "ef");
	framer_free(f);
}

static void
test_nul_in_line(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(100);

	(void)state;
	assert_int_equal(framer_feed(f, "a\0b\n", 4, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.len[0], 3);
	assert_memory_equal(s.line[0], "a\0b", 3);
	framer_free(f);
}

/* max_line bytes are fine; max_line + 1 is too long; a CRLF's CR is free. */
static void
test_exact_limits(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(5);

	(void)state;
	assert_int_equal(feed(f, "12345\n", &s), 0);
	assert_int_equal(feed(f, "123456\n", &s), 0);
	assert_int_equal(feed(f, "12345\r\n", &s), 0);
	assert_int_equal(feed(f, "123456\r\n", &s), 0);
	assert_int_equal(feed(f, "1234\r\r\n", &s), 0);	/* "1234\r" is 5 */
	assert_int_equal(feed(f, "ok\n", &s), 0);
	assert_int_equal(s.n, 6);
	assert_line(&s, 0, "12345");
	assert_too_long(&s, 1);
	assert_line(&s, 2, "12345");
	assert_too_long(&s, 3);
	assert_line(&s, 4, "1234\r");
	assert_line(&s, 5, "ok");
	framer_free(f);
}

/* The same limits when the line arrives in pieces (through the buffer). */
static void
test_exact_limits_split(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(5);

	(void)state;
	assert_int_equal(feed(f, "123", &s), 0);
	assert_int_equal(feed(f, "45", &s), 0);
	assert_int_equal(framer_buffered(f), 5);
	assert_int_equal(feed(f, "\n", &s), 0);
	assert_line(&s, 0, "12345");

	/* A CR at the limit may still be a CRLF's CR: hold it. */
	assert_int_equal(feed(f, "12345\r", &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(framer_buffered(f), 6);
	assert_int_equal(feed(f, "\n", &s), 0);
	assert_line(&s, 1, "12345");

	/* ... but if no LF follows, it was too long after all. */
	assert_int_equal(feed(f, "12345\r", &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(feed(f, "x", &s), 0);
	assert_int_equal(s.n, 3);
	assert_too_long(&s, 2);
	assert_int_equal(framer_buffered(f), 0);
	assert_int_equal(feed(f, "\nok\n", &s), 0);
	assert_line(&s, 3, "ok");

	/* 5 buffered, then 1 more byte and the LF in the next feed. */
	assert_int_equal(feed(f, "12345", &s), 0);
	assert_int_equal(feed(f, "6\nok2\n", &s), 0);
	assert_int_equal(s.n, 6);
	assert_too_long(&s, 4);
	assert_line(&s, 5, "ok2");

	/* 3 buffered, then a chunk whose line passes the limit with its LF. */
	assert_int_equal(feed(f, "123", &s), 0);
	assert_int_equal(feed(f, "4567\nok3\n", &s), 0);
	assert_int_equal(s.n, 8);
	assert_too_long(&s, 6);
	assert_line(&s, 7, "ok3");
	framer_free(f);
}

/* Reported as soon as known, once, then discarded up to the LF. */
static void
test_too_long_many_feeds(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(8);
	int i;

	(void)state;
	assert_int_equal(feed(f, "0123456", &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(feed(f, "789", &s), 0);
	/* 10 bytes without an LF: known too long now, before any LF. */
	assert_int_equal(s.n, 1);
	assert_too_long(&s, 0);
	assert_int_equal(framer_buffered(f), 0);
	for (i = 0; i < 100; i++) {
		assert_int_equal(feed(f, "xxxxxxxxxxxxxxxxxxxx", &s), 0);
		assert_int_equal(framer_buffered(f), 0);
	}
	assert_int_equal(s.n, 1);
	assert_int_equal(feed(f, "yyyy\nping\n", &s), 0);
	assert_int_equal(s.n, 2);
	assert_line(&s, 1, "ping");
	framer_free(f);
}

/* Even max_line + 1 bytes with no CR at the end are known to be too long. */
static void
test_too_long_known_early(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(4);

	(void)state;
	assert_int_equal(feed(f, "1234", &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(feed(f, "5", &s), 0);
	assert_int_equal(s.n, 1);
	assert_too_long(&s, 0);
	/* The LF ends the discarded line; it does not make another report. */
	assert_int_equal(feed(f, "\n", &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(feed(f, "ab\n", &s), 0);
	assert_line(&s, 1, "ab");
	framer_free(f);
}

/* A long line in a single feed with other lines around it. */
static void
test_too_long_in_one_feed(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(3);

	(void)state;
	assert_int_equal(feed(f, "ab\nabcdefgh\ncd\nabcd", &s), 0);
	assert_int_equal(s.n, 4);
	assert_line(&s, 0, "ab");
	assert_too_long(&s, 1);
	assert_line(&s, 2, "cd");
	assert_too_long(&s, 3);
	assert_int_equal(feed(f, "efg\r\nxyz\r\n", &s), 0);
	assert_int_equal(s.n, 5);
	assert_line(&s, 4, "xyz");
	framer_free(f);
}

/* The framer never holds more than max_line + 1 bytes. */
static void
test_never_buffers_more(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(10);
	char buf[7];
	int i;

	(void)state;
	memset(buf, 'z', sizeof buf);
	for (i = 0; i < 50; i++) {
		assert_int_equal(framer_feed(f, buf, sizeof buf, collect, &s), 0);
		assert_true(framer_buffered(f) <= 11);
	}
	assert_int_equal(s.n, 1);
	framer_free(f);
}

static void
test_callback_stops(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(100);

	(void)state;
	s.stop_at = 2;
	assert_int_equal(feed(f, "a\nb\nc\n", &s), 7);
	assert_int_equal(s.n, 2);
	assert_line(&s, 1, "b");

	/* Stopping on a buffered line, and on a too-long report. */
	memset(&s, 0, sizeof s);
	s.stop_at = 1;
	assert_int_equal(feed(f, "xy", &s), 0);
	assert_int_equal(feed(f, "z\nnext\n", &s), 7);
	assert_int_equal(s.n, 1);
	assert_line(&s, 0, "xyz");
	assert_int_equal(framer_buffered(f), 0);
	framer_free(f);

	f = framer_new(2);
	memset(&s, 0, sizeof s);
	s.stop_at = 1;
	assert_int_equal(feed(f, "toolong\nab\n", &s), 7);
	assert_int_equal(s.n, 1);
	assert_too_long(&s, 0);
	framer_free(f);
}

/* A zero limit: every non-empty line is too long, blank ones skipped. */
static void
test_zero_limit(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(0);

	(void)state;
	assert_int_equal(feed(f, "\n\r\na\n", &s), 0);
	assert_int_equal(s.n, 1);
	assert_too_long(&s, 0);
	framer_free(f);
}

/* A long line within the limit makes the buffer grow past its start size. */
static void
test_buffer_growth(void **state)
{
	struct seen s = { 0 };
	framer *f = framer_new(5000);
	char *big = malloc(5002);
	size_t i, got = 0;

	(void)state;
	assert_non_null(big);
	for (i = 0; i < 5000; i++)
		big[i] = (char)('a' + i % 26);
	big[5000] = '\n';
	for (i = 0; i < 5000; i += got) {
		got = 5000 - i < 333 ? 5000 - i : 333;
		assert_int_equal(framer_feed(f, big + i, got, collect, &s), 0);
	}
	assert_int_equal(framer_buffered(f), 5000);
	assert_int_equal(s.n, 0);
	assert_int_equal(framer_feed(f, big + 5000, 1, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.too_long[0], 0);
	assert_int_equal(s.len[0], 5000);
	assert_memory_equal(s.line[0], big, sizeof s.line[0]);
	assert_int_equal(framer_buffered(f), 0);
	framer_free(f);
	free(big);
}

/* One line judged alone, as a WebSocket message is. */
static void
test_frame_line(void **state)
{
	static const struct {
		const char *line;
		enum frame_line_kind kind;
		size_t len;		/* after the CR is dropped */
	} cases[] = {
		{ "ping", FRAME_LINE, 4 },
		{ "ping\r", FRAME_LINE, 4 },
		{ "12345\r", FRAME_LINE, 5 },		/* the CR does not count */
		{ "123456", FRAME_TOO_LONG, 6 },
		{ "", FRAME_BLANK, 0 },
		{ "\r", FRAME_BLANK, 0 },
		{ " \t \r", FRAME_BLANK, 3 },
		{ "      ", FRAME_TOO_LONG, 6 },	/* too long before blank */
		{ "p\ri", FRAME_LINE, 3 },		/* only a final CR is framing */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].line);

		assert_int_equal(frame_line(cases[i].line, &len, 5), cases[i].kind);
		assert_int_equal(len, cases[i].len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_lines_lf_crlf),
		cmocka_unit_test(test_only_one_cr),
		cmocka_unit_test(test_blank_lines_skipped),
		cmocka_unit_test(test_partial_line_buffered),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_nul_in_line),
		cmocka_unit_test(test_exact_limits),
		cmocka_unit_test(test_exact_limits_split),
		cmocka_unit_test(test_too_long_many_feeds),
		cmocka_unit_test(test_too_long_known_early),
		cmocka_unit_test(test_too_long_in_one_feed),
		cmocka_unit_test(test_never_buffers_more),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_zero_limit),
		cmocka_unit_test(test_buffer_growth),
		cmocka_unit_test(test_frame_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
