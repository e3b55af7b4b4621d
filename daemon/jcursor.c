/* jcursor.c - reading journal records from a remembered LSN (see jcursor.h). */
#include "jcursor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datadir.h"
#include "wal.h"

/* The first read of a segment takes this much; one larger record doubles it. */
#define CHUNK_FIRST (1u << 20)

/* One jcursor_read call: its limits, its read buffer, out's capacities. */
struct reader {
	const char *dir;
	uint64_t upto;
	size_t max_records, max_bytes;
	unsigned char *chunk;
	size_t want;
	size_t cap, bcap;
};

enum step {
	STEP_AGAIN,	/* read on at the cursor */
	STEP_NEXT,	/* this segment's data ends here: on to the next */
	STEP_STOP,	/* the batch is complete */
	STEP_FAIL
};

void
jcursor_batch_free(struct jcursor_batch *b)
{
	free(b->lsn);
	free(b->off);
	free(b->len);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

static int
grow_index(struct jcursor_batch *b, size_t *cap)
{
	size_t nc = *cap ? *cap * 2 : 64;
	uint64_t *nl = realloc(b->lsn, nc * sizeof(*nl));
	size_t *no, *nn;

	if (nl == NULL)
		return -1;
	b->lsn = nl;
	if ((no = realloc(b->off, nc * sizeof(*no))) == NULL)
		return -1;
	b->off = no;
	if ((nn = realloc(b->len, nc * sizeof(*nn))) == NULL)
		return -1;
	b->len = nn;
	*cap = nc;
	return 0;
}

static int
grow_buf(struct jcursor_batch *b, size_t *bcap, size_t need)
{
	size_t nc = *bcap ? *bcap : 65536;
	char *nb;

	while (nc < need)
		nc *= 2;
	if ((nb = realloc(b->buf, nc)) == NULL)
		return -1;
	b->buf = nb;
	*bcap = nc;
	return 0;
}

static int
batch_add(struct jcursor_batch *b, struct reader *rd, const struct wal_rec *rec)
{
	size_t used = b->n ? b->off[b->n - 1] + b->len[b->n - 1] : 0;

	if (b->n == rd->cap && grow_index(b, &rd->cap) != 0)
		return -1;
	if (used + rec->len > rd->bcap && grow_buf(b, &rd->bcap, used + rec->len) != 0)
		return -1;
	memcpy(b->buf + used, rec->payload, rec->len);
	b->lsn[b->n] = rec->lsn;
	b->off[b->n] = used;
	b->len[b->n] = rec->len;
	b->n++;
	return 0;
}

/* Finds the segment holding cur->next_lsn (or the first one after it). */
static int
cursor_position(const char *dir, struct jcursor *cur, struct jcursor_batch *out)
{
	struct datadir_list l;
	char err[256];
	size_t i;

	if (datadir_scan(dir, &l, 0, err, sizeof(err)) != 0)
		return -1;
	if (l.nseg == 0) {
		datadir_list_free(&l);
		return 1;
	}
	for (i = l.nseg; i-- > 1;) {
		if (l.segs[i] <= cur->next_lsn)
			break;
	}
	if (l.segs[i] > cur->next_lsn) {
		/* Pruned before anyone read them (the backlog limit). */
		out->skipped += l.segs[i] - cur->next_lsn;
		cur->next_lsn = l.segs[i];
	}
	cur->seg_start = l.segs[i];
	cur->offset = 0;
	cur->positioned = 1;
	datadir_list_free(&l);
	return 0;
}

/* Moves cur to the start of the segment after its own: 0, or -1 when none. */
static int
next_segment(const char *dir, struct jcursor *cur, struct jcursor_batch *out)
{
	struct datadir_list l;
	char err[256];
	uint64_t next = 0;

	if (datadir_scan(dir, &l, 0, err, sizeof(err)) != 0)
		return -1;
	for (size_t i = 0; i < l.nseg; i++) {
		if (l.segs[i] > cur->seg_start) {
			next = l.segs[i];
			break;
		}
	}
	datadir_list_free(&l);
	if (next == 0 || next < cur->next_lsn)
		return -1;
	if (next > cur->next_lsn) {
		out->skipped += next - cur->next_lsn;
		cur->next_lsn = next;
	}
	cur->seg_start = next;
	cur->offset = 0;
	return 0;
}

static int
complete(const struct reader *rd, const struct jcursor *cur,
    const struct jcursor_batch *out)
{
	return out->n >= rd->max_records || cur->next_lsn > rd->upto;
}

/* Reads the segment at cur->offset into the chunk: its length or -1. */
static ssize_t
fill_chunk(struct reader *rd, struct jcursor *cur)
{
	char path[DATADIR_PATH_MAX];
	ssize_t r;
	int fd;

	datadir_path(path, sizeof(path), rd->dir, "journal", cur->seg_start, ".log");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (rd->chunk == NULL && (rd->chunk = malloc(rd->want)) == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	r = pread(fd, rd->chunk, rd->want, (off_t)cur->offset);
	close(fd);
	return r;
}

/* One record larger than the chunk: read more at once. */
static enum step
grow_chunk(struct reader *rd)
{
	unsigned char *nc;

	if (rd->want >= 2 * WAL_MAX_PAYLOAD)
		return STEP_FAIL;
	nc = realloc(rd->chunk, rd->want * 2);
	if (nc == NULL)
		return STEP_FAIL;
	rd->chunk = nc;
	rd->want *= 2;
	return STEP_AGAIN;
}

/* Reads one chunk of cur's segment and takes the records in it. */
static enum step
read_chunk(struct reader *rd, struct jcursor *cur, struct jcursor_batch *out)
{
	ssize_t r = fill_chunk(rd, cur);
	size_t got, off = 0;
	enum wal_status st = WAL_OK;
	struct wal_rec rec;

	if (r < 0 && errno == ENOENT) {
		/* Pruned under us: find the position again. */
		cur->positioned = 0;
		return STEP_AGAIN;
	}
	if (r < 0)
		return STEP_FAIL;
	got = (size_t)r;
	while (!complete(rd, cur, out) &&
	    (st = wal_next(rd->chunk, got, &off, &rec)) == WAL_OK) {
		if (rec.lsn >= cur->next_lsn) {
			if (batch_add(out, rd, &rec) != 0)
				return STEP_FAIL;
			cur->next_lsn = rec.lsn + 1;
		}
		cur->offset += WAL_HEADER + rec.len;
		if (off >= rd->max_bytes)
			return STEP_STOP;
	}
	if (complete(rd, cur, out))
		return STEP_STOP;
	if (st == WAL_CORRUPT)
		return STEP_FAIL;	/* damage below the durable LSN: never skip it */
	if (got < rd->want)
		return STEP_NEXT;
	return off == 0 ? grow_chunk(rd) : STEP_AGAIN;
}

int
jcursor_read(const char *dir, struct jcursor *cur, uint64_t upto,
    size_t max_records, size_t max_bytes, struct jcursor_batch *out)
{
	struct reader rd = { .dir = dir, .upto = upto, .max_records = max_records,
	    .max_bytes = max_bytes, .want = CHUNK_FIRST };
	enum step s = STEP_AGAIN;

	memset(out, 0, sizeof(*out));
	while (s == STEP_AGAIN && !complete(&rd, cur, out)) {
		if (!cur->positioned && cursor_position(dir, cur, out) != 0)
			break;
		s = read_chunk(&rd, cur, out);
		if (s == STEP_NEXT)
			s = next_segment(dir, cur, out) == 0 ? STEP_AGAIN : STEP_STOP;
	}
	free(rd.chunk);
	if (s == STEP_FAIL) {
		jcursor_batch_free(out);
		return -1;
	}
	return 0;
}
