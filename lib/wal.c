/* wal.c - record framing and CRC-32C (see wal.h). */
#include "wal.h"

#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];
static int crc_ready;

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
	crc_ready = 1;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/*
 * SSE4.2 has CRC-32C in hardware (the Castagnoli polynomial is the reason
 * to use it over CRC-32): eight bytes a cycle or so, against one byte per
 * table look-up.  Chosen at run time, since Debian's baseline is plain
 * x86-64.
 */
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#define HAVE_CRC_HW 1
#endif

uint32_t
wal_crc32c(uint32_t crc, const void *buf, size_t len)
{
#ifdef HAVE_CRC_HW
	const unsigned char *p = buf;
#endif

#ifdef HAVE_CRC_HW
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_hw(~crc, p, len);
#endif
	return wal_crc32c_portable(crc, buf, len);
}

uint32_t
wal_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void
wal_header(unsigned char hdr[WAL_HEADER], uint64_t lsn, const void *payload,
    size_t len)
{
	uint32_t crc;

	put32(hdr, (uint32_t)len);
	put64(hdr + 8, lsn);
	crc = wal_crc32c(0, hdr + 8, 8);
	crc = wal_crc32c(crc, payload, len);
	put32(hdr + 4, crc);
}

enum wal_status
wal_next(const unsigned char *buf, size_t size, size_t *off, struct wal_rec *rec)
{
	size_t o = *off;
	uint32_t len, crc;

	if (o >= size)
		return WAL_END;
	if (size - o < WAL_HEADER)
		return WAL_TORN;
	len = get32(buf + o);
	if (len > WAL_MAX_PAYLOAD)
		return WAL_CORRUPT;
	if (size - o - WAL_HEADER < len)
		return WAL_TORN;
	crc = wal_crc32c(0, buf + o + 8, 8);
	crc = wal_crc32c(crc, buf + o + WAL_HEADER, len);
	if (crc != get32(buf + o + 4))
		return WAL_CORRUPT;
	rec->lsn = get64(buf + o + 8);
	rec->payload = (const char *)buf + o + WAL_HEADER;
	rec->len = len;
	*off = o + WAL_HEADER + len;
	return WAL_OK;
}

int
wal_buf_add(struct wal_buf *b, uint64_t lsn, const void *payload, size_t len)
{
	size_t need = b->len + WAL_HEADER + len;

	if (len > WAL_MAX_PAYLOAD)
		return -1;
	if (need > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		unsigned char *nd;

		while (ncap < need)
			ncap *= 2;
		nd = realloc(b->data, ncap);
		if (nd == NULL)
			return -1;
		b->data = nd;
		b->cap = ncap;
	}
	wal_header(b->data + b->len, lsn, payload, len);
	memcpy(b->data + b->len + WAL_HEADER, payload, len);
	b->len = need;
	return 0;
}

void
wal_buf_free(struct wal_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
