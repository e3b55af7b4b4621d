/* test_sidelog.c - unit tests of a side stream read back: image, log, cuts, damage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sidelog.h"
#include "wal.h"

/* What the apply callback saw, as "i5:a|l6:b|..." (i image, l log). */
struct seen {
	char buf[4096];
	size_t len;
	int fail_on;		/* fail the record with this payload char, 0: none */
};

static int
apply(void *ud, uint64_t lsn, int from_image, const char *payload, size_t len,
    char *err, size_t errlen)
{
	struct seen *s = ud;
	int n;

	if (s->fail_on != 0 && len > 0 && payload[0] == s->fail_on) {
		snprintf(err, errlen, "refused %c", s->fail_on);
		return -1;
	}
	n = snprintf(s->buf + s->len, sizeof(s->buf) - s->len, "%s%c%llu:%.*s",
	    s->len ? "|" : "", from_image ? 'i' : 'l', (unsigned long long)lsn,
	    (int)len, payload);
	s->len += (size_t)n;
	return 0;
}

static void
add(struct wal_buf *b, uint64_t lsn, const char *payload)
{
	assert_int_equal(wal_buf_add(b, lsn, payload, strlen(payload)), 0);
}

/* A record that continues the batch of the one before it (WAL_CONT). */
static void
add_cont(struct wal_buf *b, uint64_t lsn, const char *payload)
{
	assert_true(b->len > 0);
	assert_int_equal(wal_buf_add_batched(b, lsn, payload, strlen(payload)), 0);
}

struct run {
	struct seen seen;
	struct sidelog_result res;
	char err[256];
	int rc;
};

static void
read_both(struct run *r, const struct wal_buf *img, const struct wal_buf *log,
    uint64_t last)
{
	r->err[0] = '\0';
	r->rc = sidelog_read(img ? img->data : NULL, img ? img->len : 0,
	    log ? log->data : NULL, log ? log->len : 0, last, apply, &r->seen,
	    &r->res, r->err, sizeof(r->err));
}

static void
test_empty(void **state)
{
	struct run r = { 0 };

	(void)state;
	read_both(&r, NULL, NULL, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.image_records, 0);
	assert_int_equal(r.res.log_records, 0);
	assert_int_equal(r.res.log_keep, 0);
	assert_int_equal(r.seen.len, 0);
}

static void
test_image_then_log(void **state)
{
	struct wal_buf img = { 0 }, log = { 0 };
	struct run r = { 0 };

	(void)state;
	add(&img, 7, "h");
	add(&img, 7, "a");
	add(&img, 7, "b");
	add(&log, 8, "c");
	add(&log, 8, "d");
	add(&log, 11, "e");
	read_both(&r, &img, &log, 11);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.seen.buf, "i7:h|i7:a|i7:b|l8:c|l8:d|l11:e");
	assert_int_equal(r.res.image_lsn, 7);
	assert_int_equal(r.res.image_records, 3);
	assert_int_equal(r.res.log_records, 3);
	assert_int_equal(r.res.log_lsn, 11);
	assert_int_equal(r.res.log_keep, log.len);
	assert_int_equal(r.res.after_last, 0);
	assert_false(r.res.torn);
	assert_false(r.res.covered);
	wal_buf_free(&img);
	wal_buf_free(&log);
}

/* Records whose main records never reached the journal are cut, with what follows. */
static void
test_records_after_the_journal_are_cut(void **state)
{
	struct wal_buf log = { 0 };
	struct run r = { 0 };
	size_t keep;

	(void)state;
	add(&log, 3, "a");
	add(&log, 5, "b");
	keep = log.len;
	add(&log, 6, "c");
	add(&log, 6, "d");
	add(&log, 9, "e");
	read_both(&r, NULL, &log, 5);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.seen.buf, "l3:a|l5:b");
	assert_int_equal(r.res.log_keep, keep);
	assert_int_equal(r.res.after_last, 3);
	assert_int_equal(r.res.log_lsn, 5);
	wal_buf_free(&log);
}

static void
test_torn_tail_is_cut(void **state)
{
	struct wal_buf log = { 0 };
	struct run r = { 0 };
	size_t keep;

	(void)state;
	add(&log, 1, "a");
	keep = log.len;
	add(&log, 2, "bbbbbbbb");
	/* Half of the last record reached the disk. */
	read_both(&r, NULL, &(struct wal_buf){ log.data, log.len - 5, 0 }, 2);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.seen.buf, "l1:a");
	assert_true(r.res.torn);
	assert_int_equal(r.res.log_keep, keep);
	wal_buf_free(&log);
}

static void
test_damaged_last_record_is_cut(void **state)
{
	struct wal_buf log = { 0 };
	struct run r = { 0 };
	size_t keep;

	(void)state;
	add(&log, 1, "a");
	keep = log.len;
	add(&log, 2, "bbbb");
	log.data[log.len - 1] ^= 0x40;
	read_both(&r, NULL, &log, 2);
	assert_int_equal(r.rc, 0);
	assert_true(r.res.torn);
	assert_int_equal(r.res.log_keep, keep);
	wal_buf_free(&log);
}

/* Damage with valid records behind it is no torn tail: refused. */
static void
test_damage_before_valid_records_is_refused(void **state)
{
	struct wal_buf log = { 0 };
	struct run r = { 0 };

	(void)state;
	add(&log, 1, "a");
	add(&log, 2, "bbbb");
	log.data[log.len - 1] ^= 0x40;
	add(&log, 3, "c");
	read_both(&r, NULL, &log, 3);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.err, "followed by valid later batches"));
	wal_buf_free(&log);
}

/*
 * Damage followed only by records of its own batch: the batch's fdatasync
 * never finished (a power cut may leave its pages in any order), a torn
 * tail cut at the damage.  A damaged length that makes the record look
 * longer than the log is judged the same way.
 */
static void
test_damage_inside_the_last_batch_is_torn(void **state)
{
	(void)state;
	for (int how = 0; how < 2; how++) {
		struct wal_buf log = { 0 };
		struct run r = { 0 };
		size_t keep;

		add(&log, 1, "a");
		keep = log.len;
		add(&log, 2, "bbbb");
		add_cont(&log, 3, "c");
		add_cont(&log, 4, "d");
		if (how == 0)
			log.data[keep + WAL_HEADER + 1] ^= 0x40;
		else
			log.data[keep + 1] = 0x7f;	/* length: past the end */
		read_both(&r, NULL, &log, 4);
		assert_int_equal(r.rc, 0);
		assert_true(r.res.torn);
		assert_int_equal(r.res.log_keep, keep);
		assert_string_equal(r.seen.buf, "l1:a");

		/* The same damage with a later batch behind it: refused. */
		add(&log, 5, "e");
		memset(&r, 0, sizeof(r));
		read_both(&r, NULL, &log, 5);
		assert_int_equal(r.rc, -1);
		assert_non_null(strstr(r.err, "followed by valid later batches"));
		wal_buf_free(&log);
	}
}

/* A rewrite renamed its image and stopped before it emptied the log. */
static void
test_covered_log_is_emptied(void **state)
{
	struct wal_buf img = { 0 }, log = { 0 };
	struct run r = { 0 };

	(void)state;
	add(&img, 9, "h");
	add(&log, 4, "a");
	add(&log, 9, "b");
	read_both(&r, &img, &log, 12);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.seen.buf, "i9:h");
	assert_true(r.res.covered);
	assert_int_equal(r.res.log_keep, 0);
	assert_int_equal(r.res.log_records, 0);
	wal_buf_free(&img);
	wal_buf_free(&log);
}

static void
test_covered_then_newer_is_refused(void **state)
{
	struct wal_buf img = { 0 }, log = { 0 };
	struct run r = { 0 };

	(void)state;
	add(&img, 9, "h");
	add(&log, 8, "a");
	add(&log, 10, "b");
	read_both(&r, &img, &log, 12);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.err, "covers"));
	wal_buf_free(&img);
	wal_buf_free(&log);
}

static void
test_lsn_going_back_is_refused(void **state)
{
	struct wal_buf log = { 0 };
	struct run r = { 0 };

	(void)state;
	add(&log, 5, "a");
	add(&log, 4, "b");
	read_both(&r, NULL, &log, 9);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.err, "follows LSN 5"));
	wal_buf_free(&log);
}

static void
test_image_after_the_journal_is_refused(void **state)
{
	struct wal_buf img = { 0 };
	struct run r = { 0 };

	(void)state;
	add(&img, 9, "h");
	read_both(&r, &img, NULL, 8);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.err, "after the journal"));
	wal_buf_free(&img);
}

/* An image is synced before it is renamed: any damage in it is refused. */
static void
test_damaged_image_is_refused(void **state)
{
	struct wal_buf img = { 0 };
	struct run r = { 0 };

	(void)state;
	add(&img, 9, "h");
	add(&img, 9, "aaaa");
	read_both(&r, &(struct wal_buf){ img.data, img.len - 1, 0 }, NULL, 9);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.err, "image: incomplete"));
	img.data[img.len - 1] ^= 1;
	memset(&r, 0, sizeof(r));
	read_both(&r, &img, NULL, 9);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.err, "image: damaged"));
	wal_buf_free(&img);
}

static void
test_image_of_two_lsns_is_refused(void **state)
{
	struct wal_buf img = { 0 };
	struct run r = { 0 };

	(void)state;
	add(&img, 9, "h");
	add(&img, 8, "a");
	read_both(&r, &img, NULL, 9);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.err, "LSN 8 in the image of LSN 9"));
	wal_buf_free(&img);
}

static void
test_apply_failure_is_refused(void **state)
{
	struct wal_buf img = { 0 }, log = { 0 };
	struct run r = { 0 };

	(void)state;
	add(&img, 2, "h");
	add(&log, 3, "a");
	add(&log, 4, "X");
	r.seen.fail_on = 'X';
	read_both(&r, &img, &log, 9);
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.err, "refused X");
	r = (struct run){ 0 };
	r.seen.fail_on = 'h';
	read_both(&r, &img, &log, 9);
	assert_int_equal(r.rc, -1);
	wal_buf_free(&img);
	wal_buf_free(&log);
}

/*
 * Every prefix of a log (a crash at any byte) reads without refusal, keeps
 * a whole number of records, and applies exactly those.
 */
static void
test_every_crash_point(void **state)
{
	struct wal_buf log = { 0 };
	size_t ends[8], n = 0;

	(void)state;
	for (int i = 0; i < 8; i++) {
		char p[32];

		snprintf(p, sizeof(p), "record-%d-%.*s", i, i * 3, "xxxxxxxxxxxxxxxxxxxxxxxx");
		add(&log, (uint64_t)(10 + i / 2), p);
		ends[n++] = log.len;
	}
	for (size_t cut = 0; cut <= log.len; cut++) {
		struct run r = { 0 };
		size_t whole = 0;

		read_both(&r, NULL, &(struct wal_buf){ log.data, cut, 0 }, 100);
		assert_int_equal(r.rc, 0);
		while (whole < n && ends[whole] <= cut)
			whole++;
		assert_int_equal(r.res.log_records, whole);
		assert_int_equal(r.res.log_keep, whole ? ends[whole - 1] : 0);
		assert_int_equal(r.res.torn, cut != r.res.log_keep);
	}
	wal_buf_free(&log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_image_then_log),
		cmocka_unit_test(test_records_after_the_journal_are_cut),
		cmocka_unit_test(test_torn_tail_is_cut),
		cmocka_unit_test(test_damaged_last_record_is_cut),
		cmocka_unit_test(test_damage_before_valid_records_is_refused),
		cmocka_unit_test(test_damage_inside_the_last_batch_is_torn),
		cmocka_unit_test(test_covered_log_is_emptied),
		cmocka_unit_test(test_covered_then_newer_is_refused),
		cmocka_unit_test(test_lsn_going_back_is_refused),
		cmocka_unit_test(test_image_after_the_journal_is_refused),
		cmocka_unit_test(test_damaged_image_is_refused),
		cmocka_unit_test(test_image_of_two_lsns_is_refused),
		cmocka_unit_test(test_apply_failure_is_refused),
		cmocka_unit_test(test_every_crash_point),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
