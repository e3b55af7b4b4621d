/* test_wal.c - unit tests of journal record framing and CRC-32C. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rng.h"
#include "wal.h"

static void
test_crc32c_vectors(void **state)
{
	unsigned char zeros[32], ones[32], inc[32];

	(void)state;
	assert_int_equal(wal_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(wal_crc32c(0, "", 0), 0);
	/* RFC 3720 (iSCSI) B.4 test vectors. */
	memset(zeros, 0, sizeof(zeros));
	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (unsigned char)i;
	assert_int_equal(wal_crc32c(0, zeros, 32), 0x8A9136AAu);
	assert_int_equal(wal_crc32c(0, ones, 32), 0x62A8AB43u);
	assert_int_equal(wal_crc32c(0, inc, 32), 0x46DD794Eu);
	/* Incremental use gives the same result as one call. */
	assert_int_equal(wal_crc32c(wal_crc32c(0, "12345", 5), "6789", 4),
	    0xE3069283u);
	assert_int_equal(wal_crc32c(wal_crc32c(0, "", 0), "123456789", 9),
	    0xE3069283u);
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
test_header_layout(void **state)
{
	unsigned char hdr[WAL_HEADER], lsnb[8];
	const char *p = "{\"a\":1}";
	uint64_t lsn = 0x0102030405060708ULL;
	uint32_t crc;

	(void)state;
	wal_header(hdr, lsn, p, strlen(p), 0);
	assert_int_equal(le32(hdr), 7);
	for (int i = 0; i < 8; i++)
		assert_int_equal(hdr[8 + i], (lsn >> (8 * i)) & 0xff);
	memcpy(lsnb, hdr + 8, 8);
	crc = wal_crc32c(wal_crc32c(0, lsnb, 8), p, strlen(p));
	assert_int_equal(le32(hdr + 4), crc);
}

/*
 * A record that continues a batch: the flag in the length word's top bit,
 * and the length word checksummed ahead of the LSN and the payload.
 */
static void
test_cont_header_layout(void **state)
{
	unsigned char hdr[WAL_HEADER], head[12];
	const char *p = "{\"b\":2}";
	uint64_t lsn = 77;

	(void)state;
	wal_header(hdr, lsn, p, strlen(p), 1);
	assert_int_equal(le32(hdr), WAL_CONT | 7u);
	memcpy(head, hdr, 4);
	memcpy(head + 4, hdr + 8, 8);
	assert_int_equal(le32(hdr + 4), wal_crc32c(wal_crc32c(0, head, 12), p, strlen(p)));
	/* The same record beginning a batch: the length alone, checksummed as ever. */
	wal_header(hdr, lsn, p, strlen(p), 0);
	assert_int_equal(le32(hdr), 7u);
	assert_int_equal(le32(hdr + 4), wal_crc32c(wal_crc32c(0, hdr + 8, 8), p, strlen(p)));
}

/* Appends one record to buf at *n (buf big enough). */
static void
put_rec(unsigned char *buf, size_t *n, uint64_t lsn, const char *payload)
{
	size_t len = strlen(payload);

	wal_header(buf + *n, lsn, payload, len, 0);
	memcpy(buf + *n + WAL_HEADER, payload, len);
	*n += WAL_HEADER + len;
}

static const char *const payloads[] = {
	"{\"type\":\"vehicle.entered\"}",
	"",
	"x",
	"{\"type\":\"payment.recorded\",\"data\":{\"amount\":300}}",
};
#define NREC 4

/* Builds the test buffer; ends[i] is where record i ends. */
static size_t
build(unsigned char *buf, size_t ends[NREC])
{
	size_t n = 0;

	for (int i = 0; i < NREC; i++) {
		put_rec(buf, &n, 100 + (uint64_t)i, payloads[i]);
		ends[i] = n;
	}
	return n;
}

static void
test_round_trip(void **state)
{
	unsigned char buf[512];
	size_t ends[NREC], off = 0, n = build(buf, ends);
	struct wal_rec r;

	(void)state;
	for (int i = 0; i < NREC; i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(wal_next(buf, n, &off, &r), WAL_OK);
		assert_int_equal(r.lsn, 100 + (uint64_t)i);
		assert_int_equal(r.len, strlen(payloads[i]));
		assert_memory_equal(r.payload, payloads[i], r.len);
		assert_ptr_equal(r.payload, (const char *)buf + ends[i] - r.len);
		assert_int_equal(off, ends[i]);
	}
	assert_int_equal(wal_next(buf, n, &off, &r), WAL_END);
	assert_int_equal(off, n);
	/* Nothing at all is the end, too. */
	off = 0;
	assert_int_equal(wal_next(buf, 0, &off, &r), WAL_END);
	assert_int_equal(off, 0);
}

/*
 * Every truncation point: the whole records before it decode, then WAL_END
 * exactly at a record boundary, WAL_TORN anywhere inside a record, with
 * *off left at the start of the torn record.
 */
static void
test_every_truncation(void **state)
{
	unsigned char buf[512];
	size_t ends[NREC], n = build(buf, ends);

	(void)state;
	for (size_t cut = 0; cut <= n; cut++) {
		unsigned char *copy = malloc(cut ? cut : 1);
		size_t off = 0, whole = 0, start = 0;
		struct wal_rec r;
		enum wal_status st;

		memcpy(copy, buf, cut);
		while (whole < NREC && ends[whole] <= cut)
			whole++;
		for (size_t i = 0; i < whole; i++) {
			assert_int_equal(wal_next(copy, cut, &off, &r), WAL_OK);
			assert_int_equal(r.lsn, 100 + i);
			assert_int_equal(off, ends[i]);
		}
		start = off;
		st = wal_next(copy, cut, &off, &r);
		if (cut == (whole ? ends[whole - 1] : 0))
			assert_int_equal(st, WAL_END);
		else
			assert_int_equal(st, WAL_TORN);
		assert_int_equal(off, start);
		free(copy);
	}
}

/*
 * Every single flipped bit.  In the payload, the CRC or the LSN the
 * record is WAL_CORRUPT.  In the length field the record either claims
 * more than WAL_MAX_PAYLOAD (WAL_CORRUPT), or more bytes than remain
 * (WAL_TORN: indistinguishable from a torn tail), or fewer (WAL_CORRUPT:
 * the checksum no longer matches).  Records before the flip still decode.
 */
static void
test_every_bit_flip(void **state)
{
	unsigned char buf[512];
	size_t ends[NREC], n = build(buf, ends);

	(void)state;
	for (size_t byte = 0; byte < n; byte++) {
		size_t rec = 0, start;

		while (ends[rec] <= byte)
			rec++;
		start = rec ? ends[rec - 1] : 0;
		for (int bit = 0; bit < 8; bit++) {
			size_t off = 0;
			struct wal_rec r;
			enum wal_status want = WAL_CORRUPT;

			buf[byte] ^= (unsigned char)(1u << bit);
			if (byte - start < 4) {
				uint32_t len = le32(buf + start);

				if (len <= WAL_MAX_PAYLOAD && len > n - start - WAL_HEADER)
					want = WAL_TORN;
			}
			for (size_t i = 0; i < rec; i++)
				assert_int_equal(wal_next(buf, n, &off, &r), WAL_OK);
			if (wal_next(buf, n, &off, &r) != want)
				fail_msg("byte %zu bit %d: want %d", byte, bit, (int)want);
			assert_int_equal(off, start);
			buf[byte] ^= (unsigned char)(1u << bit);
		}
	}
	/* The flips were undone: the buffer reads cleanly again. */
	{
		size_t off = 0;
		struct wal_rec r;

		for (int i = 0; i < NREC; i++)
			assert_int_equal(wal_next(buf, n, &off, &r), WAL_OK);
		assert_int_equal(wal_next(buf, n, &off, &r), WAL_END);
	}
}

/* A record copied to another place (another LSN) fails its checksum. */
static void
test_lsn_is_covered(void **state)
{
	unsigned char buf[64];
	size_t n = 0, off = 0;
	struct wal_rec r;

	(void)state;
	put_rec(buf, &n, 7, "abc");
	buf[8] = 8;	/* LSN 7 -> 8 without recomputing the CRC */
	assert_int_equal(wal_next(buf, n, &off, &r), WAL_CORRUPT);
	assert_int_equal(off, 0);
}

static void
test_oversized_length(void **state)
{
	unsigned char buf[64];
	size_t off = 0;
	struct wal_rec r;
	uint32_t lens[] = { WAL_MAX_PAYLOAD + 1, 0x7fffffffu, 0xffffffffu };

	(void)state;
	memset(buf, 0, sizeof(buf));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (int k = 0; k < 4; k++)
			buf[k] = (unsigned char)(lens[i] >> (8 * k));
		off = 0;
		/* Refused from the header alone, though the bytes are not there. */
		assert_int_equal(wal_next(buf, WAL_HEADER, &off, &r), WAL_CORRUPT);
		assert_int_equal(off, 0);
	}
	/* Exactly the maximum is a torn record here, not a corrupt one. */
	for (int k = 0; k < 4; k++)
		buf[k] = (unsigned char)(WAL_MAX_PAYLOAD >> (8 * k));
	assert_int_equal(wal_next(buf, sizeof(buf), &off, &r), WAL_TORN);
}

/* The largest allowed record decodes. */
static void
test_max_payload(void **state)
{
	size_t n = WAL_HEADER + WAL_MAX_PAYLOAD, off = 0;
	unsigned char *buf = malloc(n);
	struct wal_rec r;

	(void)state;
	assert_non_null(buf);
	memset(buf + WAL_HEADER, 'q', WAL_MAX_PAYLOAD);
	wal_header(buf, 1, buf + WAL_HEADER, WAL_MAX_PAYLOAD, 0);
	assert_int_equal(wal_next(buf, n, &off, &r), WAL_OK);
	assert_int_equal(r.len, WAL_MAX_PAYLOAD);
	assert_int_equal(off, n);
	free(buf);
}

/* Decoding from an offset in the middle of a buffer. */
static void
test_offset_start(void **state)
{
	unsigned char buf[512];
	size_t ends[NREC], n = build(buf, ends), off = ends[1];
	struct wal_rec r;

	(void)state;
	assert_int_equal(wal_next(buf, n, &off, &r), WAL_OK);
	assert_int_equal(r.lsn, 102);
	/* An offset past the end is the end. */
	off = n + 5;
	assert_int_equal(wal_next(buf, n, &off, &r), WAL_END);
	assert_int_equal(off, n + 5);
}


/* CRC-32C from its definition, one bit at a time. */
static uint32_t
crc_bitwise(uint32_t crc, const unsigned char *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

/*
 * The written-out table is the polynomial's: a single byte b from the
 * initial register looks up entry b ^ 0xff, so all 256 bytes reach every
 * entry once, and a longer run checks the chaining.
 */
static void
test_crc_table_matches_definition(void **state)
{
	unsigned char buf[1024];

	(void)state;
	for (unsigned b = 0; b < 256; b++) {
		unsigned char c = (unsigned char)b;

		if (wal_crc32c_portable(0, &c, 1) != crc_bitwise(0, &c, 1))
			fail_msg("byte 0x%02x", b);
		assert_int_equal(wal_crc32c_portable(0xdeadbeefu, &c, 1),
		    crc_bitwise(0xdeadbeefu, &c, 1));
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + (i >> 8));
	assert_int_equal(wal_crc32c_portable(0, buf, sizeof(buf)),
	    crc_bitwise(0, buf, sizeof(buf)));
	assert_int_equal(crc_bitwise(0, (const unsigned char *)"123456789", 9),
	    0xE3069283u);
}

/* The hardware and the table version agree, chained and at every length. */
static void
test_crc_paths_agree(void **state)
{
	unsigned char buf[300];
	uint32_t seed = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
	assert_int_equal(wal_crc32c_portable(0, "123456789", 9), 0xE3069283u);
	for (size_t len = 0; len <= sizeof(buf); len++) {
		assert_int_equal(wal_crc32c(0, buf, len), wal_crc32c_portable(0, buf, len));
		assert_int_equal(wal_crc32c(wal_crc32c(0, buf, len / 3), buf + len / 3, len - len / 3),
		    wal_crc32c_portable(0, buf, len));
	}
}

/*
 * A buffer filled record by record decodes to the same records, across the
 * growth steps, and a refused record leaves it as it was.
 */
static void
test_buf_round_trip(void **state)
{
	struct wal_buf b;
	struct wal_rec r;
	char payload[64];
	size_t off = 0, len_before;
	int n = 0;

	(void)state;
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 2000; i++) {
		snprintf(payload, sizeof(payload), "{\"n\":%d}", i);
		assert_int_equal(wal_buf_add(&b, 7 + (uint64_t)i, payload,
		    strlen(payload)), 0);
	}
	assert_true(b.cap >= b.len);
	len_before = b.len;
	assert_int_equal(wal_buf_add(&b, 1, payload, WAL_MAX_PAYLOAD + 1), -1);
	assert_int_equal(b.len, len_before);
	while (wal_next(b.data, b.len, &off, &r) == WAL_OK) {
		snprintf(payload, sizeof(payload), "{\"n\":%d}", n);
		assert_int_equal(r.lsn, 7 + (uint64_t)n);
		assert_int_equal(r.len, strlen(payload));
		assert_memory_equal(r.payload, payload, r.len);
		n++;
	}
	assert_int_equal(n, 2000);
	assert_int_equal(off, b.len);
	wal_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	/* Empty payloads frame too, and the freed buffer is usable again. */
	assert_int_equal(wal_buf_add(&b, 3, "", 0), 0);
	assert_int_equal(b.len, WAL_HEADER);
	off = 0;
	assert_int_equal(wal_next(b.data, b.len, &off, &r), WAL_OK);
	assert_int_equal(r.lsn, 3);
	assert_int_equal(r.len, 0);
	wal_buf_free(&b);
	/* Reserved room: appends up to it stay where they are. */
	assert_int_equal(wal_buf_reserve(&b, 100000), 0);
	assert_int_equal(b.cap, 100000);
	{
		const unsigned char *at = b.data;

		for (int i = 0; i < 1000; i++)
			assert_int_equal(wal_buf_add(&b, 1, payload, 64), 0);
		assert_ptr_equal(b.data, at);
		assert_int_equal(b.len, 1000 * (WAL_HEADER + 64));
		/* Less than there is: nothing changes. */
		assert_int_equal(wal_buf_reserve(&b, 10), 0);
		assert_ptr_equal(b.data, at);
	}
	wal_buf_free(&b);
}

/* A batch: the first record in the buffer begins it, the rest continue it. */
static void
test_batched_flags(void **state)
{
	struct wal_buf b = { 0 }, one = { 0 };
	struct wal_rec r;
	size_t off = 0;

	(void)state;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(wal_buf_add_batched(&b, 10 + (uint64_t)i, payloads[i % NREC],
		    strlen(payloads[i % NREC])), 0);
		assert_int_equal(wal_buf_add(&one, 10 + (uint64_t)i, "x", 1), 0);
	}
	for (int i = 0; i < 5; i++) {
		assert_int_equal(wal_next(b.data, b.len, &off, &r), WAL_OK);
		assert_int_equal(r.lsn, 10 + (uint64_t)i);
		assert_int_equal(r.cont, i > 0);
		assert_memory_equal(r.payload, payloads[i % NREC], r.len);
	}
	assert_int_equal(wal_next(b.data, b.len, &off, &r), WAL_END);
	off = 0;
	while (wal_next(one.data, one.len, &off, &r) == WAL_OK)
		assert_int_equal(r.cont, 0);
	assert_int_equal(off, one.len);
	wal_buf_free(&b);
	wal_buf_free(&one);
}

/* The flag flipped either way fails the checksum: it cannot be forged by damage. */
static void
test_flipped_cont_fails(void **state)
{
	struct wal_buf b = { 0 };
	size_t starts[4], off = 0;
	struct wal_rec r;

	(void)state;
	for (int i = 0; i < 4; i++) {
		starts[i] = b.len;
		assert_int_equal(wal_buf_add_batched(&b, 1 + (uint64_t)i, "{}", 2), 0);
	}
	for (int i = 0; i < 4; i++) {
		b.data[starts[i] + 3] ^= 0x80;
		off = starts[i];
		assert_int_equal(wal_next(b.data, b.len, &off, &r), WAL_CORRUPT);
		assert_int_equal(off, starts[i]);
		b.data[starts[i] + 3] ^= 0x80;
		assert_int_equal(wal_next(b.data, b.len, &off, &r), WAL_OK);
		assert_int_equal(r.cont, i > 0);
	}
	wal_buf_free(&b);
}

/* Appends the batch (written as one) to the journal j; where it begins. */
static size_t
append_batch(struct wal_buf *j, const struct wal_buf *batch)
{
	size_t at = j->len;

	assert_int_equal(wal_buf_reserve(j, j->len + batch->len), 0);
	memcpy(j->data + j->len, batch->data, batch->len);
	j->len += batch->len;
	return at;
}

/*
 * Two batches, LSNs 1-3 and 4-6, in one buffer: damage in the first has a
 * later batch behind it; damage anywhere in the second, its first record
 * included, has only records of its own batch.  The LSN range bounds what
 * counts.  Records without the flag (written before it existed) each begin
 * a batch, so any of them behind damage counts.
 */
static void
test_batch_after(void **state)
{
	struct wal_buf b = { 0 }, c = { 0 }, old = { 0 };
	size_t starts[6];

	(void)state;
	for (int i = 0; i < 3; i++) {
		starts[i] = b.len;
		assert_int_equal(wal_buf_add_batched(&b, 1 + (uint64_t)i, "{\"k\":1}", 7), 0);
		assert_int_equal(wal_buf_add_batched(&c, 4 + (uint64_t)i, "{\"k\":2}", 7), 0);
	}
	starts[3] = append_batch(&b, &c);
	for (int i = 1; i < 3; i++)
		starts[3 + i] = starts[3] + starts[i];
	for (int i = 0; i < 6; i++) {
		unsigned char save = b.data[starts[i] + WAL_HEADER + 2];

		b.data[starts[i] + WAL_HEADER + 2] ^= 0x01;
		assert_int_equal(wal_batch_after(b.data, b.len, starts[i], 1, 100), i < 3);
		/* The later batch's LSN out of range: not counted. */
		assert_int_equal(wal_batch_after(b.data, b.len, starts[i], 5, 100), 0);
		b.data[starts[i] + WAL_HEADER + 2] = save;
	}
	/* Zeros where a page of the last batch never reached the disk. */
	memset(b.data + starts[3], 0, starts[5] - starts[3]);
	assert_int_equal(wal_batch_after(b.data, b.len, starts[3], 4, 100), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(wal_buf_add(&old, 1 + (uint64_t)i, "{}", 2), 0);
	old.data[WAL_HEADER] ^= 0x01;
	assert_int_equal(wal_batch_after(old.data, old.len, 0, 1, 100), 1);
	assert_int_equal(wal_batch_after(old.data, old.len, 0, 4, 100), 0);
	wal_buf_free(&b);
	wal_buf_free(&c);
	wal_buf_free(&old);
}

/* A journal of random batches; starts[] holds where each batch begins. */
static int
random_batches(struct wal_buf *j, uint64_t *rng, size_t starts[], int max)
{
	char payload[700];
	uint64_t lsn = 1;
	int nb = 2 + (int)(tu_rng(rng) % (uint64_t)(max - 1));

	for (int b = 0; b < nb; b++) {
		struct wal_buf batch = { 0 };
		int nr = 1 + (int)(tu_rng(rng) % 20);

		for (int r = 0; r < nr; r++) {
			size_t len = 10 + tu_rng(rng) % 600;

			memset(payload, 'a' + (int)(lsn % 26), len);
			assert_int_equal(wal_buf_add_batched(&batch, lsn++, payload, len), 0);
		}
		starts[b] = append_batch(j, &batch);
		wal_buf_free(&batch);
	}
	return nb;
}

/* Where decoding stops, and the LSN of the last whole record before it. */
static size_t
walk(const unsigned char *buf, size_t len, uint64_t *last)
{
	struct wal_rec r;
	size_t off = 0;

	*last = 0;
	while (wal_next(buf, len, &off, &r) == WAL_OK)
		*last = r.lsn;
	return off;
}

/*
 * Random journals cut by a simulated power cut: the last batch's 4 KiB
 * pages each reach the disk or not (a page it shares with the batch before
 * keeps that batch's bytes, which were synced), and the file may end
 * anywhere in it.  Decoding always stops inside the last batch and nothing
 * after it begins a batch: a torn tail.  A byte flipped in an earlier
 * batch (a failing disk) always has a later batch behind it: refused.
 */
static void
test_power_cut_orders(void **state)
{
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	size_t starts[16];

	(void)state;
	for (int trial = 0; trial < 3000; trial++) {
		struct wal_buf j = { 0 };
		int nb = random_batches(&j, &rng, starts, 8);
		size_t last_start = starts[nb - 1], len = j.len, stop;
		unsigned char *cut = malloc(j.len);
		uint64_t last;

		assert_non_null(cut);
		memcpy(cut, j.data, j.len);
		if (tu_rng(&rng) % 2)
			len = last_start + tu_rng(&rng) % (j.len - last_start + 1);
		for (size_t page = last_start / 4096 * 4096; page < len; page += 4096) {
			size_t from = page < last_start ? last_start : page;
			size_t to = page + 4096 < len ? page + 4096 : len;

			if (tu_rng(&rng) % 3 == 0)
				memset(cut + from, 0, to - from);
		}
		stop = walk(cut, len, &last);
		assert_true(stop >= last_start);
		if (stop < len)
			assert_int_equal(wal_batch_after(cut, len, stop, last + 1,
			    last), 0);

		memcpy(cut, j.data, j.len);
		{
			size_t at = tu_rng(&rng) % last_start;

			cut[at] ^= (unsigned char)(1u << (tu_rng(&rng) % 8));
			stop = walk(cut, j.len, &last);
			assert_true(stop <= at && stop < last_start);
			assert_int_equal(wal_batch_after(cut, j.len, stop, last + 1,
			    last), 1);
		}
		free(cut);
		wal_buf_free(&j);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_cont_header_layout),
		cmocka_unit_test(test_batched_flags),
		cmocka_unit_test(test_flipped_cont_fails),
		cmocka_unit_test(test_batch_after),
		cmocka_unit_test(test_power_cut_orders),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_lsn_is_covered),
		cmocka_unit_test(test_oversized_length),
		cmocka_unit_test(test_max_payload),
		cmocka_unit_test(test_offset_start),
		cmocka_unit_test(test_crc_table_matches_definition),
		cmocka_unit_test(test_crc_paths_agree),
		cmocka_unit_test(test_buf_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
