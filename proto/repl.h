/*
 * repl.h - the replication stream between a primary and a standby, as
 * bytes: framing, the control messages, and checking a run of records.
 *
 * Pure like the rest of proto/: buffers in, values out, no I/O.
 *
 * A frame is
 *
 *     u32 length       of what follows (type and body), little endian
 *     u8  type
 *     body             length - 1 bytes
 *
 * and no frame is longer than REPL_MAX_FRAME, which holds the largest
 * journal record (lib/wal.h) with room to spare.
 *
 *   standby -> primary
 *     'H' hello     JSON: token, last (LSN it holds), epoch (in force
 *                   there), listen (its client address), facility, fence
 *                   (a promoted standby telling its old primary; wants
 *                   no records)
 *     'A' ack       u64 LSN durable on the standby's disk (little endian)
 *   primary -> standby
 *     'W' welcome   JSON repl_info: what follows is records after last
 *                   (or a snapshot first)
 *     'E' refused   JSON: reason, message, epoch, listen; then the close
 *     'K' status    JSON repl_info, about once a second
 *     'S' snapshot  JSON: lsn, bytes: a snapshot file of that many bytes
 *                   follows in 'D' frames, records after lsn after it
 *     'D' data      a piece of the snapshot file
 *     'R' records   journal records framed as lib/wal.h frames them, the
 *                   very bytes of the primary's journal, in LSN order
 */
#ifndef PARKD_REPL_H
#define PARKD_REPL_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "jsonw.h"
#include "uuid7.h"
#include "wal.h"

#define REPL_HEADER 5
/* The longest frame: one record of the largest size, and then some. */
#define REPL_MAX_FRAME (WAL_MAX_PAYLOAD + WAL_HEADER + 4096)
#define REPL_TOKEN_MAX 256
#define REPL_ADDR_MAX 270	/* "[v6 host]:port" */
#define REPL_NAME_MAX 128

enum repl_type {
	REPL_HELLO = 'H',
	REPL_ACK = 'A',
	REPL_WELCOME = 'W',
	REPL_REFUSED = 'E',
	REPL_STATUS = 'K',
	REPL_SNAPSHOT = 'S',
	REPL_DATA = 'D',
	REPL_RECORDS = 'R',
	REPL_IMAGE = 'I',
	REPL_SIDE = 'C'
};

/* Writes the header of a frame of type with a body of len bytes. */
void repl_header(unsigned char out[REPL_HEADER], enum repl_type type, size_t len);

/*
 * Incoming bytes, split into frames.  Start it zeroed; it holds at most
 * one frame's bytes plus one read's, and the caller frees it with
 * repl_reader_free.
 */
struct repl_reader {
	unsigned char *buf;
	size_t len, cap;
	size_t off;		/* where the next frame starts */
};

/* Takes n bytes; 0, or -1 when out of memory (the reader is unchanged). */
int repl_feed(struct repl_reader *r, const void *data, size_t n);
/*
 * The next whole frame: 1 with *type, *body (into the reader, valid until
 * the next feed) and *len; 0 when it is not all there yet; -1 when the
 * stream is broken (a length of 0 or over REPL_MAX_FRAME, an unknown
 * type): close the connection.
 */
int repl_next(struct repl_reader *r, enum repl_type *type,
    const unsigned char **body, size_t *len);
/* Bytes held that belong to no whole frame yet. */
size_t repl_buffered(const struct repl_reader *r);
void repl_reader_free(struct repl_reader *r);

struct repl_hello {
	char token[REPL_TOKEN_MAX + 1];
	uint64_t last;
	uint32_t epoch;
	char listen[REPL_ADDR_MAX + 1];		/* "" when none */
	char facility[REPL_NAME_MAX + 1];
	int fence;
};

/* What a primary tells its standbys: in the welcome and every status. */
struct repl_info {
	uint32_t epoch;
	uint64_t last;				/* its last durable LSN */
	char listen[REPL_ADDR_MAX + 1];		/* its client address */
	char audit[UUID_BUFSZ];			/* the audit key of its history, "" when off */
	uint64_t audit_lsn;			/* Redis holds its events up to here */
};

struct repl_refusal {
	char reason[32];	/* token, facility, diverged, stale, fenced, ... */
	char message[200];
	uint32_t epoch;		/* the refuser's */
	char listen[REPL_ADDR_MAX + 1];
};

struct repl_snapshot {
	uint64_t lsn;
	uint64_t bytes;
};

/*
 * A fence a primary keeps across restarts (data_dir/fence): the epoch of
 * the standby promoted over it, and that one's client address.
 */
struct repl_fence {
	uint32_t epoch;
	char by[REPL_ADDR_MAX + 1];	/* "" when it did not say */
};

/* Each message as the JSON body of its frame (jw_failed(w) when out of memory). */
void repl_hello_write(struct jw *w, const struct repl_hello *h);
void repl_info_write(struct jw *w, const struct repl_info *i);
void repl_refusal_write(struct jw *w, const struct repl_refusal *r);
void repl_snapshot_write(struct jw *w, const struct repl_snapshot *s);
void repl_fence_write(struct jw *w, const struct repl_fence *f);

/*
 * Reads a body back: 0, or -1 with the reason in e (not JSON, a member
 * missing, of the wrong type or too long, an unknown member).
 */
int repl_hello_read(const void *body, size_t len, struct repl_hello *h,
    struct jerr *e);
int repl_info_read(const void *body, size_t len, struct repl_info *i,
    struct jerr *e);
int repl_refusal_read(const void *body, size_t len, struct repl_refusal *r,
    struct jerr *e);
int repl_snapshot_read(const void *body, size_t len, struct repl_snapshot *s,
    struct jerr *e);
int repl_fence_read(const void *body, size_t len, struct repl_fence *f,
    struct jerr *e);

/* An ack's body: 8 bytes. */
void repl_ack_write(unsigned char out[8], uint64_t lsn);
int repl_ack_read(const void *body, size_t len, uint64_t *lsn);

/*
 * Checks a records body: whole records that pass their checksum, LSNs
 * next, next + 1, ... with nothing after the last.  Returns how many
 * (at least 1), or -1 with *bad the offset of the first record that is
 * not so.
 */
long repl_records_check(const void *body, size_t len, uint64_t next,
    size_t *bad);

/*
 * Checks a side body ('C'): whole records that pass their checksum, LSNs
 * increasing, the first after `after`.  Returns how many (at least 1)
 * with *last the last one's LSN, or -1 with *bad as above.
 */
long repl_side_check(const void *body, size_t len, uint64_t after,
    uint64_t *last, size_t *bad);

/*
 * Checks a piece of an image ('I'): whole records that pass their
 * checksum, all of LSN *lsn (0: of the first one's, which is then stored
 * in *lsn; an image is never of LSN 0).  Returns how many (0 for the
 * empty body that ends an image), or -1 with *bad as above.
 */
long repl_image_check(const void *body, size_t len, uint64_t *lsn,
    size_t *bad);

#endif
