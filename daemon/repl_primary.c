/* repl_primary.c - the listener and the sender of each standby (see repl_primary.h). */
#define LOG_COMPONENT "repl"
#include "repl_primary.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "audit.h"
#include "datadir.h"
#include "dropper.h"
#include "epochs.h"
#include "jcursor.h"
#include "journal.h"
#include "log.h"
#include "regstore.h"
#include "repl.h"
#include "replication.h"
#include "server.h"
#include "tcp.h"

/* A hello must come this soon, and be this small. */
#define HELLO_TIMEOUT_MS 5000
#define IN_MAX 8192
#define MAX_STANDBYS 16
/* A read from the files: at most this many records and about this many bytes. */
#define READ_RECORDS 8192
#define READ_BYTES (1u << 20)
/* Records frames are cut at about this size (a larger record goes whole). */
#define FRAME_BYTES (1u << 20)
/*
 * Reading on for a catching-up standby waits until its queue is below
 * this (or half of max_lag_bytes, when that is less).
 */
#define LOW_WATER (4u << 20)
/* A standby whose queue has not moved in this long has stopped reading. */
#define STALL_MS 30000
#define TICK_MS 50
#define STATUS_MS 1000
/* When records became durable, for the lag in time (see ring_* below). */
#define RING 512

/*
 * Bytes to send, shared by every standby a batch goes to: freed when the
 * last write of it is done.
 */
struct chunk {
	unsigned refs;
	int wipe;		/* holds personal data (side records): wiped when freed */
	int image;		/* the registry's image: not lag (see queued_image) */
	size_t len;
	unsigned char data[];
};

#define CONN_STATES(X)						\
	X(C_HELLO, "hello")		/* waiting for the hello */	\
	X(C_SNAPSHOT, "snapshot")	/* sending the snapshot */	\
	X(C_CATCHUP, "catchup")		/* sending from the files */	\
	X(C_LIVE, "streaming")		/* sending each batch */	\
	X(C_CLOSING, "closing")

enum cstate {
#define CS_ENUM(name, str) name,
	CONN_STATES(CS_ENUM)
#undef CS_ENUM
};

static const char *const cstate_names[] = {
#define CS_NAME(name, str) str,
	CONN_STATES(CS_NAME)
#undef CS_NAME
};

struct rconn {
	uv_tcp_t tcp;
	struct repl_primary *rp;
	struct rconn *next;
	enum cstate state;
	struct repl_reader rd;
	char peer[64];
	char host[80];			/* the peer's address without the port */
	char name[REPL_ADDR_MAX + 1];	/* its client address: with host, one connection each */
	uint64_t next_lsn;		/* the next record to send */
	uint64_t acked;			/* durable on its disk */
	uint64_t queued;		/* bytes handed to uv_write, not yet written */
	/*
	 * Of them, the registry's image: it can be larger than
	 * max_lag_bytes, and a standby reading it is not behind.
	 */
	uint64_t queued_image;
	uint64_t since_ms;
	uint64_t progress_ms;		/* when a write of it last completed */
	struct jcursor cur;		/* reading the files */
	int first_read;			/* nothing read for it yet: a gap means a snapshot */
	int busy;			/* a job on the thread pool */
	int refs;			/* the handle, jobs and writes alive */
	int close_after_write;
	int snap_fd;
	uint64_t snap_lsn, snap_size, snap_off;
	/*
	 * Going live, the registry's image is made on the thread pool:
	 * until it is sent, the live batches wait here, in order (their
	 * bytes count as lag).
	 */
	int image_pending;
	struct chunk **held;
	size_t nheld, held_cap;
	uint64_t held_bytes;
	uint64_t held_batches;		/* on this connection, for health */
};

/*
 * What this process gave a standby, by who it is (its host and client
 * address), across its reconnections: a standby may hold records past the
 * LSN this process started at only when it was given them (see trusted).
 */
struct given {
	char host[80];
	char name[REPL_ADDR_MAX + 1];
	uint64_t lsn;
	uint64_t used;			/* for replacing the least recently given */
};

struct repl_primary {
	struct server *s;
	uv_tcp_t listener;
	struct dropper drop;		/* the listener's, out of memory */
	int listening;
	uv_timer_t tick;
	int closed;
	struct rconn *conns;
	uint64_t acked;			/* the highest LSN a standby acknowledged */
	uint64_t streaming_ms;		/* when a standby was last streaming */
	uint64_t status_ms;
	int lost;			/* sync: no standby acknowledging */
	uint32_t fenced_epoch;		/* 0: not fenced */
	char fenced_by[REPL_ADDR_MAX + 1];
	char why[160];
	uint64_t dropped, bytes_sent, snapshots_sent, images_sent;
	uint64_t start_lsn;		/* the journal when this process began as primary */
	struct given given[MAX_STANDBYS];
	uint64_t given_clock;
	struct {
		uint64_t lsn, ms;
	} ring[RING];
	size_t ring_n;
	char readbuf[65536];
};

static void conn_close(struct rconn *c, const char *why);
static void pump(struct rconn *c);

/*
 * Whether two standbys are one: the same client address on the same host
 * ("0.0.0.0:7070" names many).
 */
static int
same_standby(const char *host, const char *name, const char *host2,
    const char *name2)
{
	return strcmp(name, name2) == 0 && strcmp(host, host2) == 0;
}

static struct given *
given_find(struct repl_primary *rp, const char *host, const char *name)
{
	for (size_t i = 0; i < MAX_STANDBYS; i++) {
		struct given *g = &rp->given[i];

		if (g->used != 0 && same_standby(g->host, g->name, host, name))
			return g;
	}
	return NULL;
}

/* c may hold our records up to lsn: remembered for its next connection too. */
static void
note_given(struct rconn *c, uint64_t lsn)
{
	struct repl_primary *rp = c->rp;
	struct given *g = given_find(rp, c->host, c->name), *old = &rp->given[0];

	if (g == NULL) {
		for (size_t i = 1; i < MAX_STANDBYS; i++) {
			if (rp->given[i].used < old->used)
				old = &rp->given[i];
		}
		g = old;
		snprintf(g->host, sizeof(g->host), "%s", c->host);
		snprintf(g->name, sizeof(g->name), "%s", c->name);
		g->lsn = 0;
	}
	if (lsn > g->lsn)
		g->lsn = lsn;
	g->used = ++rp->given_clock;
}

/*
 * Whether a standby that holds up to last, and is in our history by its
 * epochs, really holds our records.  Up to the LSN this process started
 * at, both copies come from what was durable then.  Past it, only records
 * this process gave it are ours: a standby holding more kept what a
 * primary wrote and lost (a crash before its fsync, a restart from an
 * older copy of its data_dir), and our records at those LSNs are others.
 */
static int
trusted(struct repl_primary *rp, const char *host, const char *name, uint64_t last)
{
	const struct given *g = given_find(rp, host, name);

	return last <= rp->start_lsn || (g != NULL && last <= g->lsn);
}

/* ---- when records became durable ---- */

/*
 * Entry i says LSNs up to ring[i].lsn were durable by ring[i].ms.  Within
 * a millisecond the last entry grows; a full ring merges its two oldest
 * entries, keeping the earlier time, so a lag is never understated.
 */
static void
ring_push(struct repl_primary *rp, uint64_t lsn, uint64_t now)
{
	if (rp->ring_n > 0 && rp->ring[rp->ring_n - 1].ms == now) {
		rp->ring[rp->ring_n - 1].lsn = lsn;
		return;
	}
	if (rp->ring_n == RING) {
		rp->ring[1].ms = rp->ring[0].ms;
		memmove(&rp->ring[0], &rp->ring[1], (RING - 1) * sizeof(rp->ring[0]));
		rp->ring_n--;
	}
	rp->ring[rp->ring_n].lsn = lsn;
	rp->ring[rp->ring_n].ms = now;
	rp->ring_n++;
}

/* Forgets what every connected standby (and the best one ever) holds. */
static void
ring_prune(struct repl_primary *rp)
{
	uint64_t low = rp->acked;
	size_t k = 0;

	for (struct rconn *c = rp->conns; c != NULL; c = c->next)
		if (c->state != C_HELLO && c->state != C_CLOSING && c->acked < low)
			low = c->acked;
	while (k < rp->ring_n && rp->ring[k].lsn <= low)
		k++;
	if (k > 0) {
		memmove(&rp->ring[0], &rp->ring[k], (rp->ring_n - k) * sizeof(rp->ring[0]));
		rp->ring_n -= k;
	}
}

/* How long the oldest record after acked has been durable here (ms; 0: none). */
static uint64_t
ring_age(const struct repl_primary *rp, uint64_t acked, uint64_t now)
{
	for (size_t i = 0; i < rp->ring_n; i++) {
		if (rp->ring[i].lsn > acked)
			return now > rp->ring[i].ms ? now - rp->ring[i].ms : 0;
	}
	return 0;
}

/* ---- sending ---- */

static struct chunk *
chunk_new(size_t len)
{
	struct chunk *ch = malloc(sizeof(*ch) + len);

	if (ch != NULL) {
		ch->refs = 1;
		ch->wipe = 0;
		ch->image = 0;
		ch->len = len;
	}
	return ch;
}

static void
chunk_unref(struct chunk *ch)
{
	if (ch == NULL || --ch->refs > 0)
		return;
	if (ch->wipe)
		explicit_bzero(ch->data, ch->len);
	free(ch);
}

struct wreq {
	uv_write_t req;
	struct rconn *c;
	struct chunk *ch;
};

static void
conn_unref(struct rconn *c)
{
	if (--c->refs > 0)
		return;
	for (size_t i = 0; i < c->nheld; i++)
		chunk_unref(c->held[i]);
	free(c->held);
	repl_reader_free(&c->rd);
	if (c->snap_fd >= 0)
		close(c->snap_fd);
	free(c);
}

static void
on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct rconn *c = w->c;

	c->queued -= w->ch->len;
	if (w->ch->image)
		c->queued_image -= w->ch->len;
	c->progress_ms = uv_now(c->rp->s->loop);
	chunk_unref(w->ch);
	free(w);
	if (status < 0 && c->state != C_CLOSING)
		conn_close(c, uv_strerror(status));
	else if (c->close_after_write && c->queued == 0 && c->state != C_CLOSING)
		conn_close(c, NULL);
	else if (c->state == C_SNAPSHOT || c->state == C_CATCHUP)
		pump(c);
	conn_unref(c);
}

/* Queues ch (a reference is taken) on c's socket. */
static int
send_chunk(struct rconn *c, struct chunk *ch)
{
	struct wreq *w = malloc(sizeof(*w));
	uv_buf_t b;

	if (w == NULL) {
		conn_close(c, "out of memory");
		return -1;
	}
	w->c = c;
	w->ch = ch;
	b = uv_buf_init((char *)ch->data, (unsigned)ch->len);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		free(w);
		conn_close(c, "write failed");
		return -1;
	}
	ch->refs++;
	c->refs++;
	if (c->queued == 0)
		c->progress_ms = uv_now(c->rp->s->loop);
	c->queued += ch->len;
	if (ch->image)
		c->queued_image += ch->len;
	c->rp->bytes_sent += ch->len;
	return 0;
}

/* Keeps ch (a reference is taken) for after the registry's image. */
static int
hold_chunk(struct rconn *c, struct chunk *ch)
{
	if (c->nheld == c->held_cap) {
		size_t cap = c->held_cap ? c->held_cap * 2 : 16;
		struct chunk **h = realloc(c->held, cap * sizeof(*h));

		if (h == NULL) {
			conn_close(c, "out of memory");
			return -1;
		}
		c->held = h;
		c->held_cap = cap;
	}
	c->held[c->nheld++] = ch;
	ch->refs++;
	c->held_bytes += ch->len;
	return 0;
}

/* One frame with a copy of body. */
static int
send_frame(struct rconn *c, enum repl_type t, const void *body, size_t len)
{
	struct chunk *ch = chunk_new(REPL_HEADER + len);
	int rc;

	if (ch == NULL) {
		conn_close(c, "out of memory");
		return -1;
	}
	repl_header(ch->data, t, len);
	if (len > 0)
		memcpy(ch->data + REPL_HEADER, body, len);
	rc = send_chunk(c, ch);
	chunk_unref(ch);
	return rc;
}


static void
our_info(const struct repl_primary *rp, struct repl_info *i)
{
	const struct server *s = rp->s;

	memset(i, 0, sizeof(*i));
	i->epoch = garage_epoch(s->g);
	i->last = journal_written(s->journal);
	settings_endpoint_text(&s->cfg->listen, i->listen, sizeof(i->listen));
	snprintf(i->audit, sizeof(i->audit), "%s", audit_key(s->audit));
	i->audit_lsn = audit_acked(s->audit);
}

static int
send_info(struct rconn *c, enum repl_type t)
{
	struct repl_info i;
	struct jw w;
	int rc;

	our_info(c->rp, &i);
	jw_init(&w);
	repl_info_write(&w, &i);
	rc = jw_failed(&w) ? -1 : send_frame(c, t, w.buf, w.len);
	jw_release(&w);
	return rc;
}

/* Tells the standby why not, and closes once that is written. */
static void
refuse(struct rconn *c, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
refuse(struct rconn *c, const char *reason, const char *fmt, ...)
{
	struct repl_refusal r;
	struct jw w;
	va_list ap;

	memset(&r, 0, sizeof(r));
	snprintf(r.reason, sizeof(r.reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(r.message, sizeof(r.message), fmt, ap);
	va_end(ap);
	r.epoch = garage_epoch(c->rp->s->g);
	settings_endpoint_text(&c->rp->s->cfg->listen, r.listen, sizeof(r.listen));
	/* A fenced primary hears from the new one every second: no news. */
	if (strcmp(reason, "fenced") == 0 || strcmp(reason, "not_stale") == 0)
		log_debug("standby refused peer=%s reason=%s message=\"%s\"", c->peer,
		    reason, r.message);
	else
		log_warn("standby refused peer=%s reason=%s message=\"%s\"", c->peer,
		    reason, r.message);
	jw_init(&w);
	repl_refusal_write(&w, &r);
	c->close_after_write = 1;
	c->state = C_HELLO;
	if (jw_failed(&w) || send_frame(c, REPL_REFUSED, w.buf, w.len) != 0)
		conn_close(c, NULL);
	jw_release(&w);
}

/*
 * The frames of type t of a run of records (data, framed by lib/wal.h),
 * cut at about FRAME_BYTES at record boundaries, into one chunk; with
 * end, an empty frame of type t after them.
 */
static struct chunk *
frames_chunk(enum repl_type t, const unsigned char *data, size_t len,
    int end)
{
	size_t off = 0, frames = end ? 1 : 0, start, out = 0;
	struct wal_rec rec;
	struct chunk *ch;

	while (off < len) {
		start = off;
		while (off < len && off - start < FRAME_BYTES &&
		    wal_next(data, len, &off, &rec) == WAL_OK)
			;
		if (off == start)
			return NULL;	/* not the journal's bytes */
		frames++;
	}
	if ((ch = chunk_new(len + frames * REPL_HEADER)) == NULL)
		return NULL;
	ch->wipe = t != REPL_RECORDS;
	off = 0;
	while (off < len) {
		start = off;
		while (off < len && off - start < FRAME_BYTES &&
		    wal_next(data, len, &off, &rec) == WAL_OK)
			;
		repl_header(ch->data + out, t, off - start);
		memcpy(ch->data + out + REPL_HEADER, data + start, off - start);
		out += REPL_HEADER + off - start;
	}
	if (end)
		repl_header(ch->data + out, t, 0);
	return ch;
}

/* ---- the thread pool: reading records and the snapshot ---- */

enum job_kind { JOB_RECORDS, JOB_FIND_SNAPSHOT, JOB_SNAPSHOT, JOB_IMAGE };

struct job {
	uv_work_t req;
	struct rconn *c;
	enum job_kind kind;
	char dir[DATADIR_PATH_MAX];
	struct jcursor cur;
	uint64_t upto;
	uint64_t skipped;
	struct chunk *out;
	int fd;
	uint64_t off, lsn, size;
	size_t want;
	struct contacts_frozen *frozen;	/* JOB_IMAGE: the registry's copy */
	int rc;
};

/* Pool thread: the records after cur, framed as wal.h and then as frames. */
static void
job_records(struct job *jb)
{
	struct jcursor_batch b;
	struct wal_buf wb;

	memset(&wb, 0, sizeof(wb));
	if (jcursor_read(jb->dir, &jb->cur, jb->upto, READ_RECORDS, READ_BYTES, &b) != 0) {
		jb->rc = -1;
		return;
	}
	jb->skipped = b.skipped;
	for (size_t i = 0; i < b.n; i++) {
		if (wal_buf_add(&wb, b.lsn[i], b.buf + b.off[i], b.len[i]) != 0) {
			jb->rc = -1;
			break;
		}
	}
	if (jb->rc == 0 && b.n > 0 &&
	    (jb->out = frames_chunk(REPL_RECORDS, wb.data, wb.len, 0)) == NULL)
		jb->rc = -1;
	wal_buf_free(&wb);
	jcursor_batch_free(&b);
}

/* Pool thread: opens the newest committed snapshot. */
static void
job_find_snapshot(struct job *jb)
{
	struct datadir_list l;
	char err[256], path[DATADIR_PATH_MAX];
	struct stat st;

	jb->fd = -1;
	if (datadir_scan(jb->dir, &l, 0, err, sizeof(err)) != 0) {
		jb->rc = -1;
		return;
	}
	/* Newest first; one pruned meanwhile is passed over. */
	for (size_t i = l.nsnap; i-- > 0;) {
		datadir_path(path, sizeof(path), jb->dir, "snapshot", l.snaps[i], ".snap");
		jb->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (jb->fd < 0)
			continue;
		if (fstat(jb->fd, &st) != 0) {
			close(jb->fd);
			jb->fd = -1;
			continue;
		}
		jb->lsn = l.snaps[i];
		jb->size = (uint64_t)st.st_size;
		break;
	}
	datadir_list_free(&l);
}

/* Pool thread: the next piece of the snapshot, as one frame. */
static void
job_snapshot(struct job *jb)
{
	ssize_t r;

	if ((jb->out = chunk_new(REPL_HEADER + jb->want)) == NULL) {
		jb->rc = -1;
		return;
	}
	r = pread(jb->fd, jb->out->data + REPL_HEADER, jb->want, (off_t)jb->off);
	if (r != (ssize_t)jb->want) {
		jb->rc = -1;
		return;
	}
	repl_header(jb->out->data, REPL_DATA, jb->want);
}

/*
 * Pool thread: the registry's image at jb->lsn from its copy, as frames
 * ending with an empty one.  The copy and the bytes in between hold
 * personal data: wiped.
 */
static void
job_image(struct job *jb)
{
	struct wal_buf wb;

	memset(&wb, 0, sizeof(wb));
	if (regstore_frozen_image(jb->frozen, jb->lsn, &wb) != 0 ||
	    (jb->out = frames_chunk(REPL_IMAGE, wb.data, wb.len, 1)) == NULL)
		jb->rc = -1;
	else
		jb->out->image = 1;
	if (wb.data != NULL)
		explicit_bzero(wb.data, wb.len);
	wal_buf_free(&wb);
	contacts_frozen_free(jb->frozen);
	jb->frozen = NULL;
}

/* What a job holds: its chunk, the registry's copy (wiped), itself. */
static void
job_free(struct job *jb)
{
	chunk_unref(jb->out);
	contacts_frozen_free(jb->frozen);
	free(jb);
}

static void
work_job(uv_work_t *req)
{
	struct job *jb = (struct job *)req;

	switch (jb->kind) {
	case JOB_RECORDS:
		job_records(jb);
		break;
	case JOB_FIND_SNAPSHOT:
		job_find_snapshot(jb);
		break;
	case JOB_SNAPSHOT:
		job_snapshot(jb);
		break;
	case JOB_IMAGE:
		job_image(jb);
		break;
	}
}

static void start_snapshot(struct rconn *c);

static void
records_read(struct rconn *c, struct job *jb)
{
	if (jb->rc != 0) {
		conn_close(c, "reading the journal failed");
		return;
	}
	if (jb->skipped > 0) {
		/* What it asks for is no longer in the journal. */
		if (c->first_read) {
			start_snapshot(c);
			return;
		}
		conn_close(c, "records were pruned while it caught up (it gets a snapshot next)");
		return;
	}
	c->first_read = 0;
	if (jb->out == NULL && jb->cur.next_lsn <= jb->upto) {
		conn_close(c, "the journal holds nothing to send");
		return;
	}
	c->cur = jb->cur;
	c->next_lsn = jb->cur.next_lsn;
	if (jb->out != NULL && send_chunk(c, jb->out) != 0)
		return;
	note_given(c, c->next_lsn - 1);
	pump(c);
}

static void
snapshot_found(struct rconn *c, struct job *jb)
{
	struct repl_snapshot sn;
	struct jw w;

	if (jb->fd < 0) {
		refuse(c, "unavailable", "the journal no longer holds LSN %" PRIu64
		    " and there is no snapshot to send", c->next_lsn);
		return;
	}
	c->snap_fd = jb->fd;
	c->snap_lsn = jb->lsn;
	note_given(c, c->snap_lsn);
	c->snap_size = jb->size;
	c->snap_off = 0;
	c->state = C_SNAPSHOT;
	c->rp->snapshots_sent++;
	log_info("the standby asks for records no longer in the journal, sending the "
	    "snapshot first peer=%s from_lsn=%" PRIu64 " snapshot_lsn=%" PRIu64
	    " bytes=%" PRIu64, c->peer, c->next_lsn, c->snap_lsn, c->snap_size);
	sn.lsn = c->snap_lsn;
	sn.bytes = c->snap_size;
	jw_init(&w);
	repl_snapshot_write(&w, &sn);
	if (jw_failed(&w) || send_frame(c, REPL_SNAPSHOT, w.buf, w.len) == 0)
		pump(c);
	jw_release(&w);
}

/* The image goes, then the batches that waited for it. */
static void
image_made(struct rconn *c, struct job *jb)
{
	size_t i;

	if (jb->rc != 0) {
		conn_close(c, "out of memory making the registry's image");
		return;
	}
	c->rp->images_sent++;
	if (send_chunk(c, jb->out) != 0)
		return;
	for (i = 0; i < c->nheld; i++) {
		if (c->state != C_CLOSING)
			(void)send_chunk(c, c->held[i]);
		chunk_unref(c->held[i]);
	}
	c->nheld = 0;
	c->held_bytes = 0;
	c->image_pending = 0;
	if (c->state == C_CATCHUP)
		pump(c);
}

static void
after_job(uv_work_t *req, int status)
{
	struct job *jb = (struct job *)req;
	struct rconn *c = jb->c;

	(void)status;
	c->busy = 0;
	if (c->state == C_CLOSING) {
		if (jb->kind == JOB_FIND_SNAPSHOT && jb->fd >= 0)
			close(jb->fd);
	} else if (jb->kind == JOB_RECORDS) {
		records_read(c, jb);
	} else if (jb->kind == JOB_FIND_SNAPSHOT) {
		snapshot_found(c, jb);
	} else if (jb->kind == JOB_IMAGE) {
		image_made(c, jb);
	} else if (jb->rc != 0) {
		conn_close(c, "reading the snapshot failed");
	} else {
		c->snap_off += jb->want;
		if (send_chunk(c, jb->out) == 0)
			pump(c);
	}
	job_free(jb);
	conn_unref(c);
}

/* 0, or -1 with jb freed and c closed. */
static int
queue_job(struct rconn *c, struct job *jb)
{
	jb->c = c;
	snprintf(jb->dir, sizeof(jb->dir), "%s", journal_dir(c->rp->s->journal));
	c->busy = 1;
	c->refs++;
	if (uv_queue_work(c->rp->s->loop, &jb->req, work_job, after_job) != 0) {
		c->busy = 0;
		c->refs--;
		job_free(jb);
		conn_close(c, "could not queue a job on the thread pool");
		return -1;
	}
	return 0;
}

static void
start_snapshot(struct rconn *c)
{
	struct job *jb = calloc(1, sizeof(*jb));

	if (jb == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	jb->kind = JOB_FIND_SNAPSHOT;
	jb->fd = -1;
	queue_job(c, jb);
}

/*
 * The side stream (the registry's contacts) as an image at the last LSN
 * appended, before the first live batch: the records read from the files
 * came without their side records, and the batches in flight (up to that
 * LSN) bring theirs again, which the standby skips.  The registry is
 * copied here, on the loop (a copy is cheaper than the image's JSON and
 * checksums); the image is made from the copy on the thread pool, and
 * the live batches wait for it (image_made).  0, or -1 with c closed.
 */
static int
start_image(struct rconn *c)
{
	struct server *s = c->rp->s;
	struct job *jb;

	if (s->regstore == NULL)
		return 0;
	if ((jb = calloc(1, sizeof(*jb))) == NULL ||
	    (jb->frozen = regstore_freeze(s->regstore, NULL)) == NULL) {
		free(jb);
		conn_close(c, "out of memory");
		return -1;
	}
	jb->kind = JOB_IMAGE;
	jb->fd = -1;
	jb->lsn = journal_last(s->journal);
	c->image_pending = 1;
	return queue_job(c, jb);
}

static uint64_t
low_water(const struct repl_primary *rp)
{
	uint64_t half = (uint64_t)rp->s->cfg->repl.max_lag_bytes / 2;

	return half < LOW_WATER ? half : LOW_WATER;
}

/* Reads on for a standby that is behind, while its queue is short. */
static void
pump(struct rconn *c)
{
	struct repl_primary *rp = c->rp;
	struct job *jb;
	uint64_t upto = journal_written(rp->s->journal);

	if (c->busy || c->queued >= low_water(rp) || c->close_after_write)
		return;
	if (c->state == C_SNAPSHOT) {
		if (c->snap_off < c->snap_size) {
			if ((jb = calloc(1, sizeof(*jb))) == NULL) {
				conn_close(c, "out of memory");
				return;
			}
			jb->kind = JOB_SNAPSHOT;
			jb->fd = c->snap_fd;
			jb->off = c->snap_off;
			jb->want = c->snap_size - c->snap_off < READ_BYTES ?
			    (size_t)(c->snap_size - c->snap_off) : READ_BYTES;
			queue_job(c, jb);
			return;
		}
		close(c->snap_fd);
		c->snap_fd = -1;
		c->state = C_CATCHUP;
		c->first_read = 0;
		c->next_lsn = c->snap_lsn + 1;
		memset(&c->cur, 0, sizeof(c->cur));
		c->cur.next_lsn = c->next_lsn;
	}
	if (c->state != C_CATCHUP)
		return;
	if (c->next_lsn > upto) {
		/* Caught up: from now on every batch as the journal writes it. */
		if (start_image(c) != 0)
			return;
		c->state = C_LIVE;
		rp->streaming_ms = uv_now(rp->s->loop);
		log_info("standby streaming standby=%s peer=%s from_lsn=%" PRIu64,
		    c->name[0] ? c->name : "-", c->peer, c->next_lsn);
		return;
	}
	if ((jb = calloc(1, sizeof(*jb))) == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	jb->kind = JOB_RECORDS;
	jb->cur = c->cur;
	jb->upto = upto;
	queue_job(c, jb);
}

/* ---- receiving ---- */

static void
on_close(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void
conn_close(struct rconn *c, const char *why)
{
	struct repl_primary *rp = c->rp;
	struct rconn **pp;

	if (c->state == C_CLOSING)
		return;
	if (why != NULL)
		log_warn("standby dropped standby=%s peer=%s reason=\"%s\"",
		    c->name[0] ? c->name : "-", c->peer, why);
	c->state = C_CLOSING;
	for (pp = &rp->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* Compares in time that depends only on the lengths. */
static int
ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return diff == 0;
}

/*
 * The fence on disk (data_dir/fence), so that a fenced primary restarted
 * where the new primary cannot reach it stays fenced: written on the
 * thread pool (temporary file, fdatasync, rename, fsync of the
 * directory), read back at start.
 */
struct fence_job {
	uv_work_t req;
	char dir[DATADIR_PATH_MAX];
	size_t len;
	int err;
	const char *what;
	char text[512];
};

static void
fence_paths(const char *dir, char *path, char *tmp, size_t len)
{
	snprintf(path, len, "%s/fence", dir);
	snprintf(tmp, len, "%s/fence.tmp", dir);
}

static void
work_fence(uv_work_t *req)
{
	struct fence_job *fj = (struct fence_job *)req;
	char path[DATADIR_PATH_MAX + 16], tmp[DATADIR_PATH_MAX + 16];
	int renamed;

	fence_paths(fj->dir, path, tmp, sizeof(path));
	if (datadir_replace(fj->dir, path, tmp, fj->text, fj->len, &renamed,
	    &fj->what) != 0)
		fj->err = errno;
	else
		fj->what = NULL;
}

static void
after_fence(uv_work_t *req, int status)
{
	struct fence_job *fj = (struct fence_job *)req;

	if (status == 0 && fj->what == NULL)
		log_info("the fence is on disk: this daemon stays fenced across restarts");
	else
		log_err("the fence could not be written (it holds until a restart) "
		    "step=%s errno=%d", fj->what ? fj->what : "queue", fj->err);
	free(fj);
}

static void
fence_save(struct repl_primary *rp)
{
	struct repl_fence f;
	struct fence_job *fj = calloc(1, sizeof(*fj));
	struct jw w;

	if (fj == NULL) {
		log_err("the fence could not be written (it holds until a restart): "
		    "out of memory");
		return;
	}
	memset(&f, 0, sizeof(f));
	f.epoch = rp->fenced_epoch;
	snprintf(f.by, sizeof(f.by), "%s", rp->fenced_by);
	jw_init(&w);
	repl_fence_write(&w, &f);
	if (jw_failed(&w) || w.len + 1 > sizeof(fj->text)) {
		jw_release(&w);
		free(fj);
		log_err("the fence could not be written (it holds until a restart)");
		return;
	}
	memcpy(fj->text, w.buf, w.len);
	fj->text[w.len] = '\n';
	fj->len = w.len + 1;
	jw_release(&w);
	snprintf(fj->dir, sizeof(fj->dir), "%s", journal_dir(rp->s->journal));
	if (uv_queue_work(rp->s->loop, &fj->req, work_fence, after_fence) != 0) {
		log_err("the fence could not be written (it holds until a restart)");
		free(fj);
	}
}

/*
 * Refusing changes is the safe side of a fence that cannot be read: the
 * operator who removes the file decides.
 */
static void
fence_unreadable(struct repl_primary *rp, const char *path, const char *why)
{
	log_err("the fence file cannot be read: this daemon takes no changes until "
	    "it is removed path=%s reason=\"%s\"", path, why);
	rp->fenced_epoch = UINT32_MAX;
	snprintf(rp->fenced_by, sizeof(rp->fenced_by), "unknown (%s unreadable)", path);
}

/* At start: a fence of a later epoch than ours holds again. */
static void
fence_load(struct repl_primary *rp)
{
	char path[DATADIR_PATH_MAX + 16], tmp[DATADIR_PATH_MAX + 16], err[200] = "";
	unsigned char *buf = NULL;
	struct repl_fence f;
	size_t len = 0;

	fence_paths(journal_dir(rp->s->journal), path, tmp, sizeof(path));
	if (datadir_read_file(path, &buf, &len) != 0) {
		if (errno != ENOENT) {
			snprintf(err, sizeof(err), "errno %d", errno);
			fence_unreadable(rp, path, err);
		}
		return;
	}
	if (repl_fence_read(buf, len, &f, &(struct jerr){ err, sizeof(err), 0 }) != 0)
		fence_unreadable(rp, path, err);
	else if (f.epoch > garage_epoch(rp->s->g)) {
		rp->fenced_epoch = f.epoch;
		snprintf(rp->fenced_by, sizeof(rp->fenced_by), "%s", f.by);
		log_err("fenced since an earlier run: a standby was promoted, this "
		    "daemon takes no changes epoch=%u new_epoch=%u new_primary=%s",
		    garage_epoch(rp->s->g), f.epoch, f.by[0] ? f.by : "unknown");
	}
	free(buf);
}

/*
 * Sync mode, fenced: what no standby acknowledged never will be, and the
 * new primary may or may not hold it.  The replies still held for it fail
 * (repl_primary_safe holds back every later one); a gate looks it up there.
 */
static void
fail_unacknowledged(struct repl_primary *rp)
{
	char why[200];

	if (rp->s->cfg->repl.mode != REPL_SYNC)
		return;
	snprintf(why, sizeof(why), "a standby was promoted before one acknowledged "
	    "the change: it may or may not have been kept; look it up on the new "
	    "primary%s%s", rp->fenced_by[0] ? " at " : "", rp->fenced_by);
	server_changes_lost(rp->s, rp->acked, why);
}

/* A standby of a later epoch: this daemon is no longer the primary. */
static void
fence(struct repl_primary *rp, uint32_t epoch, const char *by)
{
	struct rconn *c, *next;

	if (rp->fenced_epoch >= epoch)
		return;
	rp->fenced_epoch = epoch;
	snprintf(rp->fenced_by, sizeof(rp->fenced_by), "%s", by);
	log_err("fenced: a standby was promoted, this daemon takes no more changes "
	    "epoch=%u new_epoch=%u new_primary=%s", garage_epoch(rp->s->g), epoch,
	    by[0] ? by : "unknown");
	fence_save(rp);
	for (c = rp->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state != C_HELLO)
			conn_close(c, "this primary is fenced");
	}
	fail_unacknowledged(rp);
}

static void
on_hello(struct rconn *c, const unsigned char *body, size_t len)
{
	struct repl_primary *rp = c->rp;
	struct server *s = rp->s;
	const char *fac = facility_name(garage_facility(s->g));
	struct repl_hello h;
	char err[200];
	struct jerr e = { err, sizeof(err), 0 };
	enum epochs_verdict v;
	size_t n = 0;

	if (repl_hello_read(body, len, &h, &e) != 0) {
		refuse(c, "bad_hello", "%s", err);
		return;
	}
	if (!ct_equal(h.token, s->cfg->repl.token)) {
		explicit_bzero(&h, sizeof(h));
		refuse(c, "token", "%s", "unknown token");
		return;
	}
	explicit_bzero(h.token, sizeof(h.token));
	if (strcmp(h.facility, fac) != 0) {
		refuse(c, "facility", "this primary runs facility '%s', not '%s'", fac,
		    h.facility);
		return;
	}
	v = epochs_judge(garage_epochs(s->g), journal_written(s->journal), h.epoch,
	    h.last);
	if (v == EPOCHS_NEWER) {
		fence(rp, h.epoch, h.listen);
		refuse(c, "fenced", "this daemon (epoch %u) takes no more changes: "
		    "epoch %u is newer", garage_epoch(s->g), h.epoch);
		return;
	}
	if (h.fence) {
		refuse(c, "not_stale", "this daemon is in epoch %u, not older than %u",
		    garage_epoch(s->g), h.epoch);
		return;
	}
	if (rp->fenced_epoch != 0) {
		refuse(c, "fenced", "this daemon was fenced by epoch %u at %s",
		    rp->fenced_epoch, rp->fenced_by);
		return;
	}
	if (v == EPOCHS_DIVERGED) {
		refuse(c, "diverged", "its LSN %" PRIu64 " of epoch %u is not in this "
		    "history (epoch %u at that LSN, last LSN %" PRIu64 "): start it "
		    "with an empty data_dir", h.last, h.epoch,
		    epochs_at(garage_epochs(s->g), h.last), journal_written(s->journal));
		return;
	}
	if (!journal_consistent(s->journal)) {
		refuse(c, "unavailable", "%s", "the journal is being rebuilt; try again");
		return;
	}
	if (!trusted(rp, c->host, h.listen, h.last)) {
		refuse(c, "diverged", "it holds up to LSN %" PRIu64 ", past where this "
		    "primary began (LSN %" PRIu64 ") and past what it was sent since: "
		    "those records may not be this history's (a primary that lost "
		    "them, or restarted from an older copy): start it with an empty "
		    "data_dir", h.last, rp->start_lsn);
		return;
	}
	/* One connection per standby: a new one replaces the old. */
	for (struct rconn *o = rp->conns, *next; o != NULL; o = next) {
		next = o->next;
		if (o != c && o->state != C_HELLO && h.listen[0] != '\0' &&
		    same_standby(o->host, o->name, c->host, h.listen))
			conn_close(o, "it connected again");
		else if (o != c && o->state != C_HELLO)
			n++;
	}
	if (n >= MAX_STANDBYS) {
		refuse(c, "busy", "%d standbys are connected already", MAX_STANDBYS);
		return;
	}
	snprintf(c->name, sizeof(c->name), "%s", h.listen);
	note_given(c, h.last);
	/* What it holds may not all be durable yet: its first ack says. */
	c->acked = 0;
	c->next_lsn = h.last + 1;
	memset(&c->cur, 0, sizeof(c->cur));
	c->cur.next_lsn = c->next_lsn;
	c->first_read = 1;
	c->state = C_CATCHUP;
	log_info("standby connected standby=%s peer=%s lsn=%" PRIu64 " epoch=%u",
	    c->name[0] ? c->name : "-", c->peer, h.last, h.epoch);
	if (send_info(c, REPL_WELCOME) == 0)
		pump(c);
}

static void
on_ack(struct rconn *c, const unsigned char *body, size_t len)
{
	struct repl_primary *rp = c->rp;
	uint64_t lsn;

	if (repl_ack_read(body, len, &lsn) != 0 ||
	    lsn > journal_written(rp->s->journal)) {
		conn_close(c, "a bad acknowledgement");
		return;
	}
	if (lsn <= c->acked)
		return;
	c->acked = lsn;
	if (lsn <= rp->acked)
		return;
	rp->acked = lsn;
	ring_prune(rp);
	/* Replies (sync) and the audit shipper may be waiting for this. */
	server_on_durable(rp->s, journal_durable(rp->s->journal));
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct rconn *c = h->data;

	(void)hint;
	*buf = uv_buf_init(c->rp->readbuf, sizeof(c->rp->readbuf));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct rconn *c = st->data;
	enum repl_type t;
	const unsigned char *body;
	size_t len;
	int rc;

	if (nread == 0 || c->state == C_CLOSING)
		return;
	if (nread < 0) {
		conn_close(c, nread == UV_EOF ? "it closed the connection" : uv_strerror((int)nread));
		return;
	}
	if (repl_feed(&c->rd, buf->base, (size_t)nread) != 0) {
		conn_close(c, "out of memory");
		return;
	}
	while (c->state != C_CLOSING && (rc = repl_next(&c->rd, &t, &body, &len)) == 1) {
		if (c->close_after_write)
			continue;
		if (t == REPL_HELLO && c->state == C_HELLO)
			on_hello(c, body, len);
		else if (t == REPL_ACK && c->state != C_HELLO)
			on_ack(c, body, len);
		else
			conn_close(c, "an unexpected frame");
	}
	if (c->state == C_CLOSING)
		return;
	/* A standby sends a hello and acks: nothing it says is long. */
	if (rc < 0 || repl_buffered(&c->rd) > IN_MAX)
		conn_close(c, "a broken stream");
}

static void
on_connection(uv_stream_t *l, int status)
{
	struct repl_primary *rp = l->data;
	struct rconn *c;
	int lo;

	if (status < 0) {
		log_warn("accept failed error=\"%s\"", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		dropper_drop(&rp->drop);
		return;
	}
	c->rp = rp;
	c->refs = 1;
	c->snap_fd = -1;
	c->state = C_HELLO;
	c->since_ms = uv_now(rp->s->loop);
	uv_tcp_init(rp->s->loop, &c->tcp);
	c->tcp.data = c;
	c->next = rp->conns;
	rp->conns = c;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c, NULL);
		return;
	}
	server_peer_names(&c->tcp, c->peer, sizeof(c->peer), c->host, sizeof(c->host), &lo);
	uv_tcp_nodelay(&c->tcp, 1);
	if (rp->closed || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		conn_close(c, NULL);
}

/* ---- the batch hook, the tick ---- */

void
repl_primary_batch(struct repl_primary *rp, const struct journal_batch *b)
{
	uint64_t limit = (uint64_t)rp->s->cfg->repl.max_lag_bytes;
	struct chunk *ch = NULL, *side = NULL;
	struct rconn *c, *next;
	uint64_t first = b->first, last = b->last;
	size_t len = b->len + b->side_len;

	ring_push(rp, last, uv_now(rp->s->loop));
	for (c = rp->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state != C_LIVE)
			continue;
		if (c->next_lsn != first) {
			/* Not where it was: read the files again from its place. */
			c->state = C_CATCHUP;
			pump(c);
			continue;
		}
		if (c->queued - c->queued_image + c->held_bytes + len > limit) {
			rp->dropped++;
			conn_close(c, "it fell more than replication.max_lag_bytes behind; "
			    "it catches up from the journal when it is back");
			continue;
		}
		if ((ch == NULL &&
		    (ch = frames_chunk(REPL_RECORDS, b->data, b->len, 0)) == NULL) ||
		    (b->side_len > 0 && side == NULL && (side = frames_chunk(
		    REPL_SIDE, b->side, b->side_len, 0)) == NULL)) {
			conn_close(c, "out of memory");
			continue;
		}
		if (c->image_pending) {
			if ((side == NULL || hold_chunk(c, side) == 0) &&
			    hold_chunk(c, ch) == 0) {
				c->next_lsn = last + 1;
				c->held_batches++;
				note_given(c, last);
			}
		} else if ((side == NULL || send_chunk(c, side) == 0) &&
		    send_chunk(c, ch) == 0) {
			c->next_lsn = last + 1;
			note_given(c, last);
		}
	}
	chunk_unref(side);
	chunk_unref(ch);
}

void
repl_primary_drop_all(struct repl_primary *rp, const char *why)
{
	struct rconn *c, *next;

	for (c = rp->conns; c != NULL; c = next) {
		next = c->next;
		conn_close(c, why);
	}
}

void
repl_primary_journal_failed(struct repl_primary *rp, uint64_t durable)
{
	repl_primary_drop_all(rp, "the journal failed");
	if (rp->start_lsn > durable)
		rp->start_lsn = durable;
	for (size_t i = 0; i < MAX_STANDBYS; i++) {
		if (rp->given[i].lsn > durable)
			rp->given[i].lsn = durable;
	}
}

/* Sync mode: is a standby acknowledging in time? */
static void
judge_sync(struct repl_primary *rp, uint64_t now)
{
	const struct settings *cfg = rp->s->cfg;
	uint64_t t = (uint64_t)cfg->repl.sync_timeout_ms, age;
	int streaming = 0, lost;

	for (struct rconn *c = rp->conns; c != NULL; c = c->next)
		streaming |= c->state == C_LIVE;
	if (streaming)
		rp->streaming_ms = now;
	/* Fenced, no standby comes back: nothing is lost or won any more. */
	if (cfg->repl.mode != REPL_SYNC || rp->fenced_epoch != 0)
		return;
	age = ring_age(rp, rp->acked, now);
	lost = (!streaming && now - rp->streaming_ms >= t) || age >= t;
	if (!rp->lost && lost) {
		rp->lost = 1;
		snprintf(rp->why, sizeof(rp->why), "no standby acknowledged for %" PRIu64
		    " ms: %s", t, cfg->repl.on_standby_loss == REPL_LOSS_ASYNC ?
		    "going on alone (async)" : "changes are refused");
		log_err("%s", rp->why);
		/* Replies held for an acknowledgement go out now (async). */
		server_on_durable(rp->s, journal_durable(rp->s->journal));
	} else if (rp->lost && streaming && age < t / 2) {
		rp->lost = 0;
		rp->why[0] = '\0';
		log_info("a standby acknowledges again, changes wait for it");
	}
}

static void
on_tick(uv_timer_t *tm)
{
	struct repl_primary *rp = tm->data;
	uint64_t now = uv_now(rp->s->loop);
	int status = now - rp->status_ms >= STATUS_MS;
	struct rconn *c, *next;

	judge_sync(rp, now);
	if (status)
		rp->status_ms = now;
	for (c = rp->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == C_HELLO && !c->close_after_write &&
		    now - c->since_ms > HELLO_TIMEOUT_MS) {
			conn_close(c, "no hello in time");
		} else if (c->queued > 0 && now - c->progress_ms > STALL_MS) {
			rp->dropped++;
			conn_close(c, "it has not read for 30 s");
		} else if (status && c->state != C_HELLO && c->queued < low_water(rp)) {
			send_info(c, REPL_STATUS);
		}
	}
}

/* ---- life cycle and queries ---- */

struct repl_primary *
repl_primary_new(struct server *s)
{
	struct repl_primary *rp = calloc(1, sizeof(*rp));

	if (rp == NULL)
		return NULL;
	rp->s = s;
	rp->acked = 0;
	/* A promoted standby's history so far is its old primary's, as its other standbys'. */
	rp->start_lsn = journal_written(s->journal);
	rp->streaming_ms = rp->status_ms = uv_now(s->loop);
	fence_load(rp);
	uv_timer_init(s->loop, &rp->tick);
	rp->tick.data = rp;
	uv_timer_start(&rp->tick, on_tick, TICK_MS, TICK_MS);
	uv_unref((uv_handle_t *)&rp->tick);
	return rp;
}

int
repl_primary_listen(struct repl_primary *rp)
{
	const struct endpoint *ep = &rp->s->cfg->repl.listen;

	if (!ep->enabled || rp->listening)
		return 0;
	uv_tcp_init(rp->s->loop, &rp->listener);
	rp->listener.data = rp;
	if (tcp_listen(&rp->listener, ep, 16, on_connection,
	    "replication.listen") != 0) {
		uv_close((uv_handle_t *)&rp->listener, NULL);
		return -1;
	}
	rp->listening = 1;
	dropper_init(&rp->drop, rp->s->loop, (uv_stream_t *)&rp->listener);
	/* A standby gets its first chance before sync counts it lost. */
	rp->streaming_ms = uv_now(rp->s->loop);
	log_info("standbys connect here replication.listen=%s:%d mode=%s", ep->host,
	    ep->port, rp->s->cfg->repl.mode == REPL_SYNC ? "sync" : "async");
	return 0;
}

void
repl_primary_start_at(struct repl_primary *rp, uint64_t lsn)
{
	if (lsn > rp->acked)
		rp->acked = lsn;
}

uint64_t
repl_primary_safe(const struct repl_primary *rp)
{
	const struct settings *cfg = rp->s->cfg;

	if (cfg->repl.mode != REPL_SYNC)
		return UINT64_MAX;
	/* Fenced: nothing more is acknowledged, whatever the loss mode. */
	if (rp->fenced_epoch == 0 && rp->lost &&
	    cfg->repl.on_standby_loss == REPL_LOSS_ASYNC)
		return UINT64_MAX;
	return rp->acked;
}

int
repl_primary_refusing(const struct repl_primary *rp, const char **why)
{
	const struct settings *cfg = rp->s->cfg;

	if (cfg->repl.mode != REPL_SYNC || !rp->lost ||
	    cfg->repl.on_standby_loss != REPL_LOSS_REFUSE)
		return 0;
	*why = rp->why;
	return 1;
}

int
repl_primary_fenced(const struct repl_primary *rp, uint32_t *epoch,
    const char **by)
{
	if (rp->fenced_epoch == 0)
		return 0;
	*epoch = rp->fenced_epoch;
	*by = rp->fenced_by;
	return 1;
}

int
repl_primary_degraded(const struct repl_primary *rp, const char **why)
{
	if (!rp->lost)
		return 0;
	*why = rp->why;
	return 1;
}

/* The most a connected standby is behind: records, and ms. */
static void
worst_lag(const struct repl_primary *rp, uint64_t *records, uint64_t *ms,
    uint64_t *connected, uint64_t *streaming)
{
	uint64_t now = uv_now(rp->s->loop), last = journal_written(rp->s->journal);

	*records = *ms = *connected = *streaming = 0;
	for (const struct rconn *c = rp->conns; c != NULL; c = c->next) {
		uint64_t r, m;

		if (c->state == C_HELLO || c->state == C_CLOSING)
			continue;
		(*connected)++;
		*streaming += c->state == C_LIVE;
		r = last > c->acked ? last - c->acked : 0;
		m = ring_age(rp, c->acked, now);
		if (r > *records)
			*records = r;
		if (m > *ms)
			*ms = m;
	}
}

void
repl_primary_health(const struct repl_primary *rp, struct jw *w)
{
	const struct settings *cfg = rp->s->cfg;
	uint64_t now = uv_now(rp->s->loop), last = journal_written(rp->s->journal);
	uint64_t lr, lm, conn, stream;

	worst_lag(rp, &lr, &lm, &conn, &stream);
	jw_kstr(w, "mode", cfg->repl.mode == REPL_SYNC ? "sync" : "async");
	if (cfg->repl.mode == REPL_SYNC)
		jw_kstr(w, "sync", !rp->lost ? "ok" :
		    cfg->repl.on_standby_loss == REPL_LOSS_ASYNC ? "lost: going on alone" :
		    "lost: refusing changes");
	jw_kuint(w, "standbys_connected", conn);
	jw_kuint(w, "acked_lsn", rp->acked);
	jw_kuint(w, "lag_records", lr);
	jw_kuint(w, "lag_ms", lm);
	jw_key(w, "standbys");
	jw_arr(w);
	for (const struct rconn *c = rp->conns; c != NULL; c = c->next) {
		if (c->state == C_HELLO || c->state == C_CLOSING)
			continue;
		jw_obj(w);
		jw_kstr(w, "address", c->name);
		jw_kstr(w, "peer", c->peer);
		jw_kstr(w, "state", cstate_names[c->state]);
		jw_kuint(w, "acked_lsn", c->acked);
		jw_kuint(w, "lag_records", last > c->acked ? last - c->acked : 0);
		jw_kuint(w, "lag_ms", ring_age(rp, c->acked, now));
		jw_kuint(w, "queued_bytes", c->queued);
		jw_kbool(w, "image_pending", c->image_pending);
		jw_kuint(w, "batches_held_for_image", c->held_batches);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	if (rp->dropped > 0)
		jw_kuint(w, "dropped", rp->dropped);
}

void
repl_primary_stats(const struct repl_primary *rp, struct replication_stats *st)
{
	uint64_t ms;

	worst_lag(rp, &st->lag_records, &ms, &st->standbys, &st->streaming);
	st->lag_seconds = (double)ms / 1000.0;
	st->acked_lsn = rp->acked;
	st->sync_lost = rp->lost;
	st->fenced = rp->fenced_epoch != 0;
	st->dropped = rp->dropped;
	st->bytes_sent = rp->bytes_sent;
	st->snapshots_sent = rp->snapshots_sent;
	st->images_sent = rp->images_sent;
}

void
repl_primary_close(struct repl_primary *rp)
{
	if (rp == NULL || rp->closed)
		return;
	rp->closed = 1;
	repl_primary_drop_all(rp, NULL);
	if (rp->listening) {
		uv_close((uv_handle_t *)&rp->listener, NULL);
		dropper_stop(&rp->drop, NULL, NULL);
	}
	rp->listening = 0;
	uv_close((uv_handle_t *)&rp->tick, NULL);
}

void
repl_primary_free(struct repl_primary *rp)
{
	free(rp);
}
