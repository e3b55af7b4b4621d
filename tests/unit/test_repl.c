/* test_repl.c - the replication stream's framing, messages and record runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "repl.h"
#include "testutil.h"

/* A stream of frames written into one buffer. */
struct out {
	unsigned char *p;
	size_t len, cap;
};

static void
put(struct out *o, enum repl_type t, const void *body, size_t len)
{
	unsigned char h[REPL_HEADER];

	if (o->len + REPL_HEADER + len > o->cap) {
		o->cap = (o->len + REPL_HEADER + len) * 2;
		o->p = realloc(o->p, o->cap);
		assert_non_null(o->p);
	}
	repl_header(h, t, len);
	memcpy(o->p + o->len, h, REPL_HEADER);
	if (len > 0)
		memcpy(o->p + o->len + REPL_HEADER, body, len);
	o->len += REPL_HEADER + len;
}

/* Frames come out whole and in order however the bytes are cut. */
static void
test_frames_any_split(void **state)
{
	struct out o = { NULL, 0, 0 };
	unsigned char big[70000];
	unsigned seed = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 31);
	put(&o, REPL_ACK, "12345678", 8);
	put(&o, REPL_RECORDS, big, sizeof(big));
	put(&o, REPL_DATA, "", 0);
	put(&o, REPL_HELLO, "{}", 2);
	for (int round = 0; round < 200; round++) {
		struct repl_reader r;
		size_t fed = 0, got = 0;
		enum repl_type t;
		const unsigned char *b;
		size_t len;

		memset(&r, 0, sizeof(r));
		while (fed < o.len) {
			size_t n = 1 + (size_t)rand_r(&seed) % (round < 100 ? 7 : 9000);
			int rc;

			if (n > o.len - fed)
				n = o.len - fed;
			assert_int_equal(repl_feed(&r, o.p + fed, n), 0);
			fed += n;
			while ((rc = repl_next(&r, &t, &b, &len)) == 1) {
				switch (got++) {
				case 0:
					assert_int_equal(t, REPL_ACK);
					assert_int_equal(len, 8);
					assert_memory_equal(b, "12345678", 8);
					break;
				case 1:
					assert_int_equal(t, REPL_RECORDS);
					assert_int_equal(len, sizeof(big));
					assert_memory_equal(b, big, sizeof(big));
					break;
				case 2:
					assert_int_equal(t, REPL_DATA);
					assert_int_equal(len, 0);
					break;
				case 3:
					assert_int_equal(t, REPL_HELLO);
					assert_memory_equal(b, "{}", 2);
					break;
				default:
					fail();
				}
			}
			assert_int_equal(rc, 0);
			/* Never more than a frame and a read. */
			assert_true(repl_buffered(&r) < sizeof(big) + REPL_HEADER + 9000);
		}
		assert_int_equal(got, 4);
		assert_int_equal(repl_buffered(&r), 0);
		repl_reader_free(&r);
	}
	free(o.p);
}

/* A length of 0, past the bound, or an unknown type breaks the stream at once. */
static void
test_frames_broken(void **state)
{
	static const unsigned char zero[] = { 0, 0, 0, 0, 'A' };
	static const unsigned char huge[] = { 0xff, 0xff, 0xff, 0x7f, 'R' };
	static const unsigned char unknown[] = { 2, 0, 0, 0, 'x', 1 };
	const unsigned char *cases[] = { zero, huge, unknown };
	size_t lens[] = { sizeof(zero), sizeof(huge), sizeof(unknown) };
	unsigned char edge[REPL_HEADER];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct repl_reader r;
		enum repl_type t;
		const unsigned char *b;
		size_t len;

		memset(&r, 0, sizeof(r));
		assert_int_equal(repl_feed(&r, cases[i], lens[i]), 0);
		assert_int_equal(repl_next(&r, &t, &b, &len), -1);
		repl_reader_free(&r);
	}
	/* The largest frame allowed is only waited for. */
	{
		struct repl_reader r;
		enum repl_type t;
		const unsigned char *b;
		size_t len;

		memset(&r, 0, sizeof(r));
		repl_header(edge, REPL_RECORDS, REPL_MAX_FRAME - 1);
		assert_int_equal(repl_feed(&r, edge, sizeof(edge)), 0);
		assert_int_equal(repl_next(&r, &t, &b, &len), 0);
		repl_reader_free(&r);
		memset(&r, 0, sizeof(r));
		repl_header(edge, REPL_RECORDS, REPL_MAX_FRAME);
		assert_int_equal(repl_feed(&r, edge, sizeof(edge)), 0);
		assert_int_equal(repl_next(&r, &t, &b, &len), -1);
		repl_reader_free(&r);
	}
}

static void
test_messages_round_trip(void **state)
{
	struct repl_hello h, h2;
	struct repl_info i, i2;
	struct repl_refusal r, r2;
	struct repl_snapshot s, s2;
	char err[200];
	struct jerr e = { err, sizeof(err), 0 };
	struct jw w;

	(void)state;
	jw_init(&w);
	memset(&h, 0, sizeof(h));
	strcpy(h.token, "s3cret \"repl\"");
	h.last = ((uint64_t)1 << 53) - 1;
	h.epoch = 4294967295u;
	strcpy(h.listen, "[::1]:7070");
	strcpy(h.facility, "Demo Garage");
	h.fence = 1;
	repl_hello_write(&w, &h);
	assert_int_equal(repl_hello_read(w.buf, w.len, &h2, &e), 0);
	assert_memory_equal(&h, &h2, sizeof(h));

	jw_reset(&w);
	memset(&i, 0, sizeof(i));
	i.epoch = 3;
	i.last = 123456789;
	strcpy(i.listen, "10.0.0.1:7070");
	strcpy(i.audit, "0193aaaa-bbbb-7ccc-8ddd-eeeeffff0000");
	i.audit_lsn = 99;
	repl_info_write(&w, &i);
	assert_int_equal(repl_info_read(w.buf, w.len, &i2, &e), 0);
	assert_memory_equal(&i, &i2, sizeof(i));

	jw_reset(&w);
	memset(&r, 0, sizeof(r));
	strcpy(r.reason, "diverged");
	strcpy(r.message, "records past LSN 100 are not ours");
	r.epoch = 2;
	repl_refusal_write(&w, &r);
	assert_int_equal(repl_refusal_read(w.buf, w.len, &r2, &e), 0);
	assert_memory_equal(&r, &r2, sizeof(r));

	jw_reset(&w);
	s.lsn = 5000;
	s.bytes = 1u << 30;
	repl_snapshot_write(&w, &s);
	assert_int_equal(repl_snapshot_read(w.buf, w.len, &s2, &e), 0);
	assert_memory_equal(&s, &s2, sizeof(s));

	{
		struct repl_fence f, f2;

		memset(&f, 0, sizeof(f));
		f.epoch = 3;
		strcpy(f.by, "[::1]:7070");
		jw_reset(&w);
		repl_fence_write(&w, &f);
		assert_int_equal(repl_fence_read(w.buf, w.len, &f2, &e), 0);
		assert_memory_equal(&f, &f2, sizeof(f));
	}
	jw_release(&w);
}

/* Reads body (' for ") with the reader fn; expects the message msg. */
#define EXPECT_BAD(fn, type, text, msg) do {				\
	char *q_ = tu_quote(text), err_[200] = "";			\
	type v_;							\
	assert_int_equal(fn(q_, strlen(q_), &v_,			\
	    &(struct jerr){ err_, sizeof(err_), 0 }), -1);		\
	if (strstr(err_, msg) == NULL)					\
		fail_msg("%s: '%s' lacks '%s'", q_, err_, msg);		\
	free(q_);							\
} while (0)

static void
test_messages_bad(void **state)
{
	(void)state;
	EXPECT_BAD(repl_hello_read, struct repl_hello, "not json", "message: line 1");
	EXPECT_BAD(repl_hello_read, struct repl_hello, "[]", "must be an object");
	EXPECT_BAD(repl_hello_read, struct repl_hello,
	    "{'token':'t','last':1,'epoch':1,'listen':'','facility':'f'}", "fence: is required");
	EXPECT_BAD(repl_hello_read, struct repl_hello,
	    "{'token':'t','last':1,'epoch':1,'listen':'','facility':'f','fence':false,'x':1}",
	    "x: unknown key");
	EXPECT_BAD(repl_hello_read, struct repl_hello,
	    "{'token':'t','last':-1,'epoch':1,'listen':'','facility':'f','fence':false}",
	    "last: must be between 0 and");
	EXPECT_BAD(repl_hello_read, struct repl_hello,
	    "{'token':'t','last':1,'epoch':0,'listen':'','facility':'f','fence':false}",
	    "epoch: must be at least 1");
	EXPECT_BAD(repl_info_read, struct repl_info,
	    "{'epoch':1,'last':1,'listen':'','audit':'0193aaaa-bbbb-7ccc-8ddd-eeeeffff0000x','audit_lsn':0}",
	    "audit: must be at most 36 bytes");
	EXPECT_BAD(repl_info_read, struct repl_info,
	    "{'epoch':1,'last':1.5,'listen':'','audit':'','audit_lsn':0}",
	    "last: must be an integer");
	EXPECT_BAD(repl_refusal_read, struct repl_refusal,
	    "{'reason':'x','message':'m','epoch':1}", "listen: is required");
	EXPECT_BAD(repl_snapshot_read, struct repl_snapshot, "{'lsn':0,'bytes':1}",
	    "lsn: must be at least 1");
	EXPECT_BAD(repl_snapshot_read, struct repl_snapshot, "{'lsn':1,'bytes':1} x",
	    "message: line 1");
	/* A fence is by a promotion: epoch 2 at least. */
	EXPECT_BAD(repl_fence_read, struct repl_fence, "{'epoch':1,'by':''}",
	    "epoch: must be at least 2");
	EXPECT_BAD(repl_fence_read, struct repl_fence, "{'epoch':2}", "by: is required");
	EXPECT_BAD(repl_fence_read, struct repl_fence, "{'epoch':4294967296,'by':''}",
	    "epoch: must be between");
}

static void
test_ack(void **state)
{
	unsigned char b[8];
	uint64_t v = 0;

	(void)state;
	repl_ack_write(b, 0x0102030405060708ull);
	assert_int_equal(b[0], 8);
	assert_int_equal(b[7], 1);
	assert_int_equal(repl_ack_read(b, 8, &v), 0);
	assert_true(v == 0x0102030405060708ull);
	assert_int_equal(repl_ack_read(b, 7, &v), -1);
	assert_int_equal(repl_ack_read(b, 9, &v), -1);
}

/* Runs of journal records: whole, checksummed, in LSN order from next. */
static void
test_records_check(void **state)
{
	struct wal_buf b;
	size_t bad = 99, end1;

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_int_equal(wal_buf_add(&b, 10, "{\"a\":1}", 7), 0);
	end1 = b.len;
	assert_int_equal(wal_buf_add(&b, 11, "{}", 2), 0);
	assert_int_equal(wal_buf_add(&b, 12, "[1,2,3]", 7), 0);
	assert_int_equal(repl_records_check(b.data, b.len, 10, &bad), 3);
	assert_int_equal(bad, 0);
	/* Not the LSN expected. */
	assert_int_equal(repl_records_check(b.data, b.len, 9, &bad), -1);
	assert_int_equal(bad, 0);
	assert_int_equal(repl_records_check(b.data, b.len, 11, &bad), -1);
	/* Torn: the last record cut short. */
	assert_int_equal(repl_records_check(b.data, b.len - 1, 10, &bad), -1);
	assert_true(bad > end1);
	/* A flipped byte in the second record's payload. */
	b.data[end1 + WAL_HEADER] ^= 1;
	assert_int_equal(repl_records_check(b.data, b.len, 10, &bad), -1);
	assert_int_equal(bad, end1);
	b.data[end1 + WAL_HEADER] ^= 1;
	/* A gap: 10 then 12. */
	{
		struct wal_buf g;

		memset(&g, 0, sizeof(g));
		assert_int_equal(wal_buf_add(&g, 10, "{}", 2), 0);
		assert_int_equal(wal_buf_add(&g, 12, "{}", 2), 0);
		assert_int_equal(repl_records_check(g.data, g.len, 10, &bad), -1);
		assert_int_equal(bad, WAL_HEADER + 2);
		wal_buf_free(&g);
	}
	/* Nothing at all is no run. */
	assert_int_equal(repl_records_check(b.data, 0, 10, &bad), -1);
	wal_buf_free(&b);
}

/* Side records: increasing LSNs after a point, gaps allowed. */
static void
test_side_check(void **state)
{
	struct wal_buf b;
	size_t bad = 99, end1;
	uint64_t last = 0;

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_int_equal(wal_buf_add(&b, 10, "{}", 2), 0);
	end1 = b.len;
	assert_int_equal(wal_buf_add(&b, 14, "{}", 2), 0);
	assert_int_equal(repl_side_check(b.data, b.len, 9, &last, &bad), 2);
	assert_int_equal(last, 14);
	/* Not after the point given. */
	assert_int_equal(repl_side_check(b.data, b.len, 10, &last, &bad), -1);
	assert_int_equal(bad, 0);
	/* An LSN repeated, or going back. */
	assert_int_equal(wal_buf_add(&b, 14, "{}", 2), 0);
	assert_int_equal(repl_side_check(b.data, b.len, 0, &last, &bad), -1);
	assert_int_equal(bad, 2 * end1);
	/* Damage, and nothing at all. */
	b.data[end1 + WAL_HEADER] ^= 1;
	assert_int_equal(repl_side_check(b.data, b.len, 0, &last, &bad), -1);
	assert_int_equal(bad, end1);
	assert_int_equal(repl_side_check(b.data, 0, 0, &last, &bad), -1);
	wal_buf_free(&b);
}

/* An image's pieces: every record of one LSN, learned from the first. */
static void
test_image_check(void **state)
{
	struct wal_buf b;
	size_t bad = 99, end1;
	uint64_t lsn = 0;

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_int_equal(wal_buf_add(&b, 7, "{}", 2), 0);
	end1 = b.len;
	assert_int_equal(wal_buf_add(&b, 7, "[]", 2), 0);
	assert_int_equal(repl_image_check(b.data, b.len, &lsn, &bad), 2);
	assert_int_equal(lsn, 7);
	assert_int_equal(repl_image_check(b.data, b.len, &lsn, &bad), 2);
	/* The empty piece that ends an image. */
	assert_int_equal(repl_image_check(b.data, 0, &lsn, &bad), 0);
	/* Another LSN than the image's. */
	lsn = 8;
	assert_int_equal(repl_image_check(b.data, b.len, &lsn, &bad), -1);
	assert_int_equal(bad, 0);
	/* Torn. */
	lsn = 0;
	assert_int_equal(repl_image_check(b.data, b.len - 1, &lsn, &bad), -1);
	assert_int_equal(bad, end1);
	wal_buf_free(&b);
	/* LSN 0 is no image's. */
	memset(&b, 0, sizeof(b));
	assert_int_equal(wal_buf_add(&b, 0, "{}", 2), 0);
	lsn = 0;
	assert_int_equal(repl_image_check(b.data, b.len, &lsn, &bad), -1);
	wal_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_any_split),
		cmocka_unit_test(test_frames_broken),
		cmocka_unit_test(test_messages_round_trip),
		cmocka_unit_test(test_messages_bad),
		cmocka_unit_test(test_ack),
		cmocka_unit_test(test_records_check),
		cmocka_unit_test(test_side_check),
		cmocka_unit_test(test_image_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
