/*
 * jcursor.h - reading the journal from a remembered position: what the
 * audit shipper needs to send records it has not shipped yet.
 *
 * The cursor is plain data the caller keeps: it starts at next_lsn with
 * positioned == 0 (the segment holding next_lsn is looked up then) and
 * moves past each record read.  Segments may be pruned under a cursor
 * (journal_retain_from bounds that); the records lost so are counted,
 * never read as something else.  Reading blocks on the files: run it on
 * the thread pool, with no other use of the same cursor meanwhile.
 */
#ifndef PARKD_JCURSOR_H
#define PARKD_JCURSOR_H

#include <stddef.h>
#include <stdint.h>

struct jcursor {
	uint64_t next_lsn;	/* the next record wanted */
	uint64_t seg_start;	/* the segment it is in, when positioned */
	uint64_t offset;	/* where in that segment to read on */
	int positioned;
};

/* Records read, with their payloads copied out of the files. */
struct jcursor_batch {
	size_t n;
	uint64_t *lsn;
	size_t *off, *len;	/* payload i is buf[off[i] .. off[i]+len[i]) */
	char *buf;
	uint64_t skipped;	/* LSNs that were pruned before they were read */
};

/*
 * Reads the records of the journal in dir from cur->next_lsn up to upto
 * (inclusive; the caller knows them durable), at most max_records of them
 * and about max_bytes, into out (overwritten; the caller frees it with
 * jcursor_batch_free).  Returns 0 (out->n may be 0 when nothing is there
 * yet), or -1 on an I/O error, damage below upto or out of memory, with
 * out empty and cur moved past records that are lost with it: keep a copy
 * of the cursor to read again from.
 */
int jcursor_read(const char *dir, struct jcursor *cur, uint64_t upto,
    size_t max_records, size_t max_bytes, struct jcursor_batch *out);
/* Frees the arrays and leaves b empty. */
void jcursor_batch_free(struct jcursor_batch *b);

#endif
