/*
 * wal.h - the on-disk framing of journal and snapshot records.
 *
 * A record is a 16-byte header and a payload:
 *
 *     u32 payload length   (little endian); its top bit: WAL_CONT
 *     u32 CRC-32C          of the next 8 bytes and the payload, and of the
 *                          length word first when WAL_CONT is set
 *     u64 LSN              the record's sequence number
 *     payload              JSON text
 *
 * The checksum covers the LSN so that a record copied to the wrong place
 * is caught as surely as a torn one.  Decoding never trusts a length before
 * checking that the bytes are there, and stops at the first record that is
 * incomplete or fails its checksum: everything after it is the torn tail.
 *
 * WAL_CONT marks a record that continues the batch of the record before it
 * (one write and one fdatasync); a record without it begins a batch.  A
 * power cut during a batch's fdatasync can leave any of the batch's pages
 * on the disk and not others, so damage followed by valid records is a torn
 * batch when none of those records begins a batch (wal_batch_after).
 * Records written before the flag existed all begin batches, which keeps
 * the stricter reading for them.  A flipped flag fails the checksum either
 * way: with it set, the length word is checksummed, without it not.
 * Pure code: buffers in, results out.
 */
#ifndef PARKD_WAL_H
#define PARKD_WAL_H

#include <stddef.h>
#include <stdint.h>

#define WAL_HEADER 16
/* No single record may be larger than this (a whole tariff fits easily). */
#define WAL_MAX_PAYLOAD (16u << 20)
/* In the length word: the record continues the batch of the one before. */
#define WAL_CONT 0x80000000u

/* CRC-32C; in hardware where the CPU has it. */
uint32_t wal_crc32c(uint32_t crc, const void *buf, size_t len);
/* The same by table look-up (what CPUs without SSE4.2 use; tests compare). */
uint32_t wal_crc32c_portable(uint32_t crc, const void *buf, size_t len);

/*
 * Writes the header for payload[0..len) with sequence number lsn into hdr;
 * cont: the record continues a batch (WAL_CONT).
 */
void wal_header(unsigned char hdr[WAL_HEADER], uint64_t lsn,
    const void *payload, size_t len, int cont);

enum wal_status {
	WAL_OK,		/* a whole, valid record */
	WAL_END,	/* no bytes left */
	WAL_TORN,	/* bytes left, but not a whole record */
	WAL_CORRUPT	/* a whole record whose checksum or length is wrong */
};

struct wal_rec {
	uint64_t lsn;
	const char *payload;	/* points into the buffer */
	size_t len;
	int cont;		/* WAL_CONT: continues the batch before it */
};

/*
 * Decodes the record at buf[*off..size).  On WAL_OK fills rec and advances
 * *off past the record; otherwise *off is left at the bad record.
 */
enum wal_status wal_next(const unsigned char *buf, size_t size, size_t *off,
    struct wal_rec *rec);

/*
 * Whether a valid record that begins a batch lies anywhere in
 * buf[0..size) after the damaged record at off, with an LSN from `from`
 * up to the most that could follow last (the last LSN known good):
 * last + 1 + size / WAL_HEADER.  When none does, the damage and
 * everything after it belong to the last batch, whose fdatasync never
 * finished: a torn tail, nothing acknowledged in it.  Every offset is
 * tried (a valid record can follow damage at any byte); only those whose
 * LSN field is in range are checksummed.
 */
int wal_batch_after(const unsigned char *buf, size_t size, size_t off,
    uint64_t from, uint64_t last);

/*
 * A growing buffer of framed records: a batch of the journal, a chunk of a
 * snapshot.  Start it zeroed; the caller owns data and frees it with
 * wal_buf_free.
 */
struct wal_buf {
	unsigned char *data;
	size_t len, cap;
};

/*
 * Appends payload[0..len) framed with sequence number lsn, beginning a
 * batch of its own.  Returns 0, or -1 when len is over WAL_MAX_PAYLOAD or
 * memory runs out (b is unchanged).
 */
int wal_buf_add(struct wal_buf *b, uint64_t lsn, const void *payload,
    size_t len);
/*
 * The same for a buffer that is one batch (written and synced at once):
 * the first record in b begins it, every later one has WAL_CONT.
 */
int wal_buf_add_batched(struct wal_buf *b, uint64_t lsn, const void *payload,
    size_t len);
/*
 * Makes room for at least cap bytes in all, so that appends up to there
 * neither copy the buffer nor leave copies of it behind in freed memory
 * (images of personal data).  0, or -1 when memory runs out (b unchanged).
 */
int wal_buf_reserve(struct wal_buf *b, size_t cap);
/* Frees the bytes and leaves b empty, ready for use again. */
void wal_buf_free(struct wal_buf *b);

#endif
