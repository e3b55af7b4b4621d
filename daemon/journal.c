/* journal.c - write-ahead journal, snapshots and recovery (see journal.h). */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "record.h"
#include "wal.h"

/* A segment is closed and a new one begun past this size. */
#define SEGMENT_MAX (64u << 20)
#define SNAP_END_TYPE "snapshot.end"

/*
 * ok: changes are taken.  failed: a write failed; memory is ahead of the
 * disk until recovering has rebuilt it.  degraded: rebuilt and consistent,
 * changes refused until a probe write to the data directory succeeds.
 */
enum jstate { J_OK, J_FAILED, J_RECOVERING, J_DEGRADED, J_CLOSED };
static const char *const jstate_names[] = { "ok", "failed", "recovering",
    "degraded", "closed" };

/* Bytes a probe writes and syncs before changes are taken again. */
#define PROBE_BYTES (256u << 10)

struct jbuf {
	unsigned char *data;
	size_t len, cap;
};

struct journal {
	uv_loop_t *loop;
	char *dir;
	enum durability mode;
	struct journal_hooks hooks;
	const struct config *cfg;
	enum jstate state;
	char why[160];

	int fd;				/* current segment */
	uint64_t seg_start;
	uint64_t offset;		/* end of the durable bytes in the segment */

	struct jbuf pending;		/* records not yet handed to a writer */
	uint64_t pending_first;
	uint64_t last_lsn;		/* last appended */
	uint64_t durable_lsn;
	int in_flight;
	uv_prepare_t prepare;

	garage *g;			/* the state snapshots are taken of */
	uint64_t snap_lsn;		/* newest committed snapshot */
	uint64_t prev_snap_lsn;		/* the one kept before it */
	uint64_t since_snap;
	uint64_t snap_every;
	uint64_t snap_interval_ms;	/* 0: by size only */
	uint64_t last_snap_ms;		/* loop time of the last snapshot started */
	pid_t snap_pid;
	uint64_t snap_pending;		/* LSN of a written, uncommitted snapshot */
	int snap_committing;
	uv_timer_t snap_timer;		/* polls the snapshot child */
	uv_timer_t retry_timer;		/* recovery attempts after a failure */
	uv_timer_t interval_timer;	/* snapshots by time on a quiet journal */
	uint64_t retain_lsn;
	uint64_t gen;			/* bumped by every failure */
	int ahead;			/* memory holds changes the disk lost */
	uint64_t written_lsn;		/* last LSN handed to write(2) and done */
	uint64_t snap_child_lsn;	/* LSN the running child writes */
	uint64_t snap_child_gen;	/* gen when it was forked */

	struct journal_stats stats;
};

/* ---- files ---- */

static void
path_of(char *buf, size_t len, const char *dir, const char *kind, uint64_t lsn,
    const char *ext)
{
	snprintf(buf, len, "%s/%s-%016" PRIx64 "%s", dir, kind, lsn, ext);
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct listing {
	uint64_t *snaps, *segs;
	size_t nsnap, nseg;
};

static void
listing_free(struct listing *l)
{
	free(l->snaps);
	free(l->segs);
	memset(l, 0, sizeof(*l));
}

static int
push_u64(uint64_t **arr, size_t *n, uint64_t v)
{
	uint64_t *na = realloc(*arr, (*n + 1) * sizeof(*na));

	if (na == NULL)
		return -1;
	na[(*n)++] = v;
	*arr = na;
	return 0;
}

/*
 * Lists snapshots and segments, ascending.  At start-up (clean_tmp) it also
 * removes temporary snapshot files, which were never committed; later a
 * snapshot child may be writing one, so they are left alone.
 */
static int
scan_dir(const char *dir, struct listing *l, int clean_tmp, char *err,
    size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	memset(l, 0, sizeof(*l));
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		unsigned long long v;
		char tail[16];
		int rc = 0;

		if (sscanf(e->d_name, "snapshot-%16llx%15s", &v, tail) == 2 &&
		    strlen(e->d_name) == 9 + 16 + 5 && strcmp(tail, ".snap") == 0)
			rc = push_u64(&l->snaps, &l->nsnap, v);
		else if (sscanf(e->d_name, "journal-%16llx%15s", &v, tail) == 2 &&
		    strlen(e->d_name) == 8 + 16 + 4 && strcmp(tail, ".log") == 0)
			rc = push_u64(&l->segs, &l->nseg, v);
		else if (clean_tmp &&
		    sscanf(e->d_name, "snapshot-%16llx%15s", &v, tail) == 2 &&
		    strcmp(tail, ".tmp") == 0) {
			char p[4200];

			/* A snapshot that never got renamed was never committed. */
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		if (rc != 0) {
			closedir(d);
			listing_free(l);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	closedir(d);
	if (l->nsnap)
		qsort(l->snaps, l->nsnap, sizeof(uint64_t), cmp_u64);
	if (l->nseg)
		qsort(l->segs, l->nseg, sizeof(uint64_t), cmp_u64);
	return 0;
}

static int
read_all(const char *path, unsigned char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, *buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	(*buf)[got] = '\0';	/* sscanf in is_snap_end must find an end */
	*len = got;
	return 0;
}

static int
write_all(int fd, const unsigned char *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int
jbuf_add(struct jbuf *b, uint64_t lsn, const void *payload, size_t len)
{
	size_t need = b->len + WAL_HEADER + len;

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

/* ---- recovery ---- */

static int
is_snap_end(const char *payload, size_t len, uint64_t *count)
{
	static const char prefix[] = "{\"type\":\"" SNAP_END_TYPE "\",\"records\":";
	unsigned long long n;
	char tail;

	if (len < sizeof(prefix) - 1 || memcmp(payload, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	if (sscanf(payload + sizeof(prefix) - 1, "%llu%c", &n, &tail) != 2 || tail != '}')
		return 0;
	*count = n;
	return 1;
}

/* Loads snapshot lsn into g; 0 or -1 (err says why). */
static int
load_snapshot(const char *dir, uint64_t lsn, garage *g, uint64_t *nrec,
    char *err, size_t errlen)
{
	char path[4200];
	unsigned char *buf;
	size_t len, off = 0;
	uint64_t n = 0, count;
	struct wal_rec rec;

	path_of(path, sizeof(path), dir, "snapshot", lsn, ".snap");
	if (read_all(path, &buf, &len) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		enum wal_status st = wal_next(buf, len, &off, &rec);
		char aerr[256];

		if (st != WAL_OK) {
			snprintf(err, errlen, "%s: %s at byte %zu", path,
			    st == WAL_END ? "no end marker" : "damaged record", off);
			break;
		}
		if (rec.lsn != lsn) {
			snprintf(err, errlen, "%s: record for LSN %" PRIu64, path, rec.lsn);
			break;
		}
		if (is_snap_end(rec.payload, rec.len, &count)) {
			if (count != n || off != len) {
				snprintf(err, errlen, "%s: end marker does not match", path);
				break;
			}
			free(buf);
			*nrec = n;
			return 0;
		}
		if (record_apply(g, rec.payload, rec.len, aerr, sizeof(aerr)) != PK_OK) {
			snprintf(err, errlen, "%s: record %" PRIu64 ": %s", path, n, aerr);
			break;
		}
		n++;
	}
	free(buf);
	return -1;
}

static int
truncate_file(const char *path, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = ftruncate(fd, (off_t)len);
	if (rc == 0)
		rc = fdatasync(fd);
	close(fd);
	return rc;
}

/*
 * Whether a valid record with an LSN after last lies anywhere past the
 * damaged one at off.  A crash can only tear the end of the last batch;
 * damage with acknowledged records behind it is not a torn tail.  Only
 * offsets whose LSN field is plausible are checksummed, so this stays
 * cheap even over a large segment.
 */
static int
later_valid_record(const unsigned char *buf, size_t len, size_t off,
    uint64_t last)
{
	uint64_t max_lsn = last + 1 + len / WAL_HEADER;

	for (size_t o = off + 1; o + WAL_HEADER <= len; o++) {
		uint64_t lsn = 0;
		struct wal_rec rec;
		size_t p = o;

		for (int k = 7; k >= 0; k--)
			lsn = lsn << 8 | buf[o + 8 + (size_t)k];
		if (lsn <= last || lsn > max_lsn)
			continue;
		if (wal_next(buf, len, &p, &rec) == WAL_OK)
			return 1;
	}
	return 0;
}

struct replay {
	uint64_t last;		/* last LSN applied (or covered by the snapshot) */
	uint64_t seg_start;	/* the segment to append to, 0 = none yet */
	uint64_t seg_len;	/* its valid length */
	uint64_t applied;
};

/*
 * Replays every segment record after r->last.  A torn or damaged tail of
 * the last segment is cut off (truncate == 1) or only measured.
 */
static int
replay(const char *dir, const struct listing *l, garage *g, struct replay *r,
    int truncate, char *err, size_t errlen)
{
	for (size_t i = 0; i < l->nseg; i++) {
		char path[4200];
		unsigned char *buf;
		size_t len, off = 0;
		struct wal_rec rec;
		enum wal_status st;

		/* Whole segments before the snapshot need no reading. */
		if (i + 1 < l->nseg && l->segs[i + 1] <= r->last + 1)
			continue;
		path_of(path, sizeof(path), dir, "journal", l->segs[i], ".log");
		if (read_all(path, &buf, &len) != 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		while ((st = wal_next(buf, len, &off, &rec)) == WAL_OK) {
			char aerr[256];

			if (rec.lsn <= r->last)
				continue;
			if (rec.lsn != r->last + 1) {
				snprintf(err, errlen, "%s: LSN %" PRIu64 " follows %" PRIu64
				    ": records are missing; refusing to start (nothing was deleted)",
				    path, rec.lsn, r->last);
				free(buf);
				return -1;
			}
			if (record_apply(g, rec.payload, rec.len, aerr, sizeof(aerr)) != PK_OK) {
				snprintf(err, errlen, "%s: LSN %" PRIu64 ": %s; refusing to "
				    "start (nothing was deleted)", path, rec.lsn, aerr);
				free(buf);
				return -1;
			}
			r->last = rec.lsn;
			r->applied++;
		}
		if (st == WAL_CORRUPT && later_valid_record(buf, len, off, r->last)) {
			snprintf(err, errlen, "%s: damaged record at byte %zu is followed by "
			    "valid later records; refusing to start (nothing was deleted)",
			    path, off);
			free(buf);
			return -1;
		}
		if (st != WAL_END) {
			if (i + 1 < l->nseg) {
				snprintf(err, errlen, "%s: damaged record at byte %zu before "
				    "later segments; refusing to guess", path, off);
				free(buf);
				return -1;
			}
			if (truncate) {
				log_warn("%s: %s record at byte %zu: dropping the last %zu bytes",
				    path, st == WAL_TORN ? "torn" : "damaged", off, len - off);
				if (truncate_file(path, off) != 0) {
					snprintf(err, errlen, "%s: truncate: %s", path, strerror(errno));
					free(buf);
					return -1;
				}
			}
		}
		free(buf);
		r->seg_start = l->segs[i];
		r->seg_len = off;
	}
	return 0;
}

/*
 * Builds the state from disk: the newest snapshot that loads, falling back
 * to older ones, then the journal.  Used at start-up and after a failure.
 */
static garage *
recover(const char *dir, const struct journal_hooks *h, int truncate,
    struct replay *r, uint64_t *snap, uint64_t *prev_snap, char *err,
    size_t errlen)
{
	struct listing l;
	garage *g = NULL;
	size_t i;

	memset(r, 0, sizeof(*r));
	*snap = *prev_snap = 0;
	if (scan_dir(dir, &l, truncate, err, errlen) != 0)
		return NULL;
	for (i = l.nsnap; i-- > 0;) {
		uint64_t n;
		char serr[512];

		g = h->make_garage(h->make_ud);
		if (g == NULL) {
			snprintf(err, errlen, "out of memory");
			listing_free(&l);
			return NULL;
		}
		if (load_snapshot(dir, l.snaps[i], g, &n, serr, sizeof(serr)) == 0) {
			r->last = l.snaps[i];
			*snap = l.snaps[i];
			*prev_snap = i > 0 ? l.snaps[i - 1] : 0;
			log_info("loaded snapshot at LSN %" PRIu64 " (%" PRIu64 " records)",
			    l.snaps[i], n);
			break;
		}
		log_warn("snapshot unusable, trying an older one: %s", serr);
		garage_free(g);
		g = NULL;
	}
	if (g == NULL && l.nsnap > 0 && (l.nseg == 0 || l.segs[0] > 1)) {
		snprintf(err, errlen, "%s: no snapshot loads and the journal does not "
		    "reach back to the beginning; refusing to start (nothing was deleted)", dir);
		listing_free(&l);
		return NULL;
	}
	if (g == NULL && (g = h->make_garage(h->make_ud)) == NULL) {
		snprintf(err, errlen, "out of memory");
		listing_free(&l);
		return NULL;
	}
	if (l.nseg > 0 && l.segs[0] > r->last + 1) {
		snprintf(err, errlen, "%s: the journal starts at LSN %" PRIu64
		    " but the state is at %" PRIu64 "; refusing to start", dir,
		    l.segs[0], r->last);
		goto fail;
	}
	if (replay(dir, &l, g, r, truncate, err, errlen) != 0)
		goto fail;
	listing_free(&l);
	return g;
fail:
	listing_free(&l);
	garage_free(g);
	return NULL;
}

static int
open_segment(struct journal *j, uint64_t start, uint64_t len, int create,
    char *err, size_t errlen)
{
	char path[4200];
	int fd;

	path_of(path, sizeof(path), j->dir, "journal", start, ".log");
	fd = open(path, O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
	if (fd < 0 || (create && fsync_dir(j->dir) != 0)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	j->fd = fd;
	j->seg_start = start;
	j->offset = len;
	return 0;
}

/* ---- writing ---- */

struct jwork {
	uv_work_t req;
	struct journal *j;
	int fd;
	uint64_t offset;
	unsigned char *data;
	size_t len;
	uint64_t first, last;
	int sync;
	int rotate;		/* open a new segment starting at first */
	char dir[4096];
	int new_fd;
	int err;
	const char *what;
};

static void submit(struct journal *j);
static void fail(struct journal *j, const char *what, int err);
static void maybe_snapshot(struct journal *j);
static void try_commit_snapshot(struct journal *j);

static void
work_write(uv_work_t *req)
{
	struct jwork *w = (struct jwork *)req;
	int fd = w->fd;

	if (w->rotate) {
		char path[4200];

		path_of(path, sizeof(path), w->dir, "journal", w->first, ".log");
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			w->err = errno;
			w->what = "open";
			return;
		}
		w->new_fd = fd;
		w->offset = 0;
		if (fsync_dir(w->dir) != 0) {
			w->err = errno;
			w->what = "fsync dir";
		}
	}
	if (w->err != 0) {
		/* handled below */
	} else if (write_all(fd, w->data, w->len, w->offset) != 0) {
		w->err = errno;
		w->what = "write";
	} else if (w->sync && fdatasync(fd) != 0) {
		w->err = errno;
		w->what = "fsync";
	}
	/* A new segment that failed must not be found by recovery. */
	if (w->err != 0 && w->rotate) {
		char path[4200];

		close(fd);
		w->new_fd = -1;
		path_of(path, sizeof(path), w->dir, "journal", w->first, ".log");
		unlink(path);
	}
}

static void
after_write(uv_work_t *req, int status)
{
	struct jwork *w = (struct jwork *)req;
	struct journal *j = w->j;

	(void)status;
	j->in_flight = 0;
	if (w->rotate && w->new_fd >= 0) {
		if (w->err == 0) {
			close(j->fd);
			j->fd = w->new_fd;
			j->seg_start = w->first;
			j->offset = 0;
		} else {
			close(w->new_fd);
		}
	}
	if (w->err != 0) {
		fail(j, w->what, w->err);
	} else {
		j->offset += w->len;
		j->stats.batches++;
		if (w->sync)
			j->stats.fsyncs++;
		if (w->last - w->first + 1 > j->stats.max_batch)
			j->stats.max_batch = w->last - w->first + 1;
		if (j->mode != DUR_NONE)
			j->durable_lsn = w->last;
		j->written_lsn = w->last;
		/* In "none" mode too: the audit shipper waits for written records. */
		if (j->hooks.durable)
			j->hooks.durable(j->hooks.ud, j->durable_lsn);
		try_commit_snapshot(j);
		maybe_snapshot(j);
		/* Everything that arrived meanwhile goes in the next group. */
		if (j->pending.len > 0 && j->state == J_OK)
			submit(j);
	}
	free(w->data);
	free(w);
}

static void
submit(struct journal *j)
{
	struct jwork *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return;		/* tried again at the next loop iteration */
	w->j = j;
	w->fd = j->fd;
	w->offset = j->offset;
	w->data = j->pending.data;
	w->len = j->pending.len;
	w->first = j->pending_first;
	w->last = j->last_lsn;
	w->sync = j->mode == DUR_FSYNC;
	w->new_fd = -1;
	w->rotate = j->offset >= SEGMENT_MAX;
	snprintf(w->dir, sizeof(w->dir), "%s", j->dir);
	memset(&j->pending, 0, sizeof(j->pending));
	j->in_flight = 1;
	if (uv_queue_work(j->loop, &w->req, work_write, after_write) != 0) {
		j->pending.data = w->data;
		j->pending.len = j->pending.cap = w->len;
		j->in_flight = 0;
		free(w);
	}
}

static void
on_prepare(uv_prepare_t *h)
{
	struct journal *j = h->data;

	if (j->pending.len > 0 && !j->in_flight && j->state == J_OK)
		submit(j);
}

uint64_t
journal_append(struct journal *j, const char *payload, size_t len)
{
	if (j->state != J_OK || len > WAL_MAX_PAYLOAD)
		return 0;
	if (jbuf_add(&j->pending, j->last_lsn + 1, payload, len) != 0)
		return 0;
	if (j->pending.len == WAL_HEADER + len)
		j->pending_first = j->last_lsn + 1;
	j->last_lsn++;
	j->since_snap++;
	j->stats.records++;
	j->stats.bytes += WAL_HEADER + len;
	/* Without durability the change counts as done once it is queued. */
	if (j->mode == DUR_NONE)
		j->durable_lsn = j->last_lsn;
	return j->last_lsn;
}

/* ---- failure and recovery ---- */

struct jrecover {
	uv_work_t req;
	struct journal *j;
	int fd;
	uint64_t good;
	int err;
};

/* Cuts the journal back to what was acknowledged (pool thread). */
static void
work_recover(uv_work_t *req)
{
	struct jrecover *w = (struct jrecover *)req;

	if (ftruncate(w->fd, (off_t)w->good) != 0 || fdatasync(w->fd) != 0)
		w->err = errno;
}

/*
 * Reads the state back from disk.  This runs on the loop thread: it is
 * rare, changes are refused meanwhile anyway, and the core and cJSON are
 * not meant to be used from two threads at once.
 */
static void
after_recover(uv_work_t *req, int status)
{
	struct jrecover *w = (struct jrecover *)req;
	struct journal *j = w->j;
	uint64_t snap, prev;
	struct replay r;
	char err[512];
	garage *g;

	(void)status;
	if (j->state == J_CLOSED) {
		free(w);
		return;
	}
	if (w->err != 0) {
		j->state = J_FAILED;
		snprintf(j->why, sizeof(j->why), "truncate: %s", strerror(w->err));
		free(w);
		return;
	}
	g = recover(j->dir, &j->hooks, 0, &r, &snap, &prev, err, sizeof(err));
	if (g == NULL) {
		log_warn("journal recovery failed, retrying: %s", err);
		j->state = J_FAILED;
		snprintf(j->why, sizeof(j->why), "recovery: %.140s", err);
		free(w);
		return;
	}
	j->last_lsn = j->durable_lsn = j->written_lsn = r.last;
	j->offset = w->good;
	j->g = g;
	/* Recovery may have fallen back to an older snapshot: prune by what it used. */
	j->snap_lsn = snap;
	j->prev_snap_lsn = prev;
	j->since_snap = 0;
	j->state = J_DEGRADED;
	j->ahead = 0;
	log_info("journal: state rebuilt from disk at LSN %" PRIu64
	    "; changes wait for the disk to take writes again", j->last_lsn);
	if (j->hooks.rebuilt)
		j->hooks.rebuilt(j->hooks.ud, g);
	free(w);
}

struct jprobe {
	uv_work_t req;
	struct journal *j;
	char path[4200];
	int err;
};

/* Can the data directory take a write and an fsync again? (pool thread) */
static void
work_probe(uv_work_t *req)
{
	struct jprobe *w = (struct jprobe *)req;
	unsigned char *zeros = calloc(1, PROBE_BYTES);
	int fd;

	if (zeros == NULL) {
		w->err = ENOMEM;
		return;
	}
	fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, zeros, PROBE_BYTES, 0) != 0 || fdatasync(fd) != 0)
		w->err = errno ? errno : EIO;
	if (fd >= 0)
		close(fd);
	unlink(w->path);
	free(zeros);
}

static void
after_probe(uv_work_t *req, int status)
{
	struct jprobe *w = (struct jprobe *)req;
	struct journal *j = w->j;

	(void)status;
	if (j->state == J_RECOVERING)
		j->state = J_DEGRADED;
	if (j->state == J_DEGRADED && w->err == 0) {
		j->state = J_OK;
		j->why[0] = '\0';
		uv_timer_stop(&j->retry_timer);
		log_info("journal: the disk takes writes again; changes are accepted");
	} else if (w->err != 0 && j->state == J_DEGRADED) {
		snprintf(j->why, sizeof(j->why), "disk still failing: %s", strerror(w->err));
	}
	free(w);
}

static void
probe(struct journal *j)
{
	struct jprobe *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return;
	w->j = j;
	snprintf(w->path, sizeof(w->path), "%s/probe.tmp", j->dir);
	j->state = J_RECOVERING;
	if (uv_queue_work(j->loop, &w->req, work_probe, after_probe) != 0) {
		j->state = J_DEGRADED;
		free(w);
	}
}

static void
on_retry(uv_timer_t *t)
{
	struct journal *j = t->data;
	struct jrecover *w;

	if (j->state == J_DEGRADED && !j->in_flight) {
		probe(j);
		return;
	}
	if (j->state != J_FAILED || j->in_flight || j->snap_committing)
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return;
	w->j = j;
	w->fd = j->fd;
	w->good = j->offset;
	j->state = J_RECOVERING;
	if (uv_queue_work(j->loop, &w->req, work_recover, after_recover) != 0) {
		j->state = J_FAILED;
		free(w);
	}
}

static void
fail_why(struct journal *j)
{
	j->state = J_FAILED;
	j->gen++;
	j->stats.failures++;
	log_err("journal %s; changes are refused until the disk recovers", j->why);
	free(j->pending.data);
	memset(&j->pending, 0, sizeof(j->pending));
	/* A pending snapshot may include changes that will now never be. */
	j->snap_pending = 0;
	j->ahead = 1;
	if (j->hooks.failed)
		j->hooks.failed(j->hooks.ud, j->durable_lsn, j->why);
	/* Memory is ahead of the disk until the rebuild: start it at once. */
	uv_timer_start(&j->retry_timer, on_retry, 0, 1000);
}

static void
fail(struct journal *j, const char *what, int err)
{
	snprintf(j->why, sizeof(j->why), "%s: %s", what, strerror(err));
	fail_why(j);
}

void
journal_force_failure(struct journal *j, const char *why)
{
	if (j->state != J_OK)
		return;
	snprintf(j->why, sizeof(j->why), "%s", why);
	fail_why(j);
}

/* ---- snapshots ---- */

struct snapw {
	int fd;
	uint64_t lsn;
	uint64_t n;
	struct jbuf buf;
	int err;
};

static int
snap_flush(struct snapw *s)
{
	if (s->buf.len > 0 && write_all(s->fd, s->buf.data, s->buf.len, 0) != 0)
		return -1;
	s->buf.len = 0;
	return 0;
}

static int
snap_record(void *ud, const char *json, size_t len)
{
	struct snapw *s = ud;

	if (jbuf_add(&s->buf, s->lsn, json, len) != 0)
		return -1;
	s->n++;
	if (s->buf.len >= (1u << 20))
		return snap_flush(s);
	return 0;
}

/* Writes the snapshot of g at lsn to path (a temporary name), fsynced. */
static int
write_snapshot(const garage *g, const char *path, uint64_t lsn)
{
	struct snapw s;
	char end[96];
	int rc;

	memset(&s, 0, sizeof(s));
	s.lsn = lsn;
	s.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (s.fd < 0)
		return -1;
	rc = record_snapshot(g, snap_record, &s);
	if (rc == 0) {
		snprintf(end, sizeof(end), "{\"type\":\"" SNAP_END_TYPE "\",\"records\":%" PRIu64 "}", s.n);
		rc = jbuf_add(&s.buf, lsn, end, strlen(end));
	}
	if (rc == 0)
		rc = snap_flush(&s);
	if (rc == 0)
		rc = fdatasync(s.fd);
	close(s.fd);
	free(s.buf.data);
	return rc;
}

/* Removes snapshots older than keep_from and segments wholly before it. */
static void
prune(const char *dir, uint64_t keep_from, uint64_t retain)
{
	struct listing l;
	char err[256], path[4200];
	uint64_t covered = keep_from < retain ? keep_from : retain;

	if (scan_dir(dir, &l, 0, err, sizeof(err)) != 0)
		return;
	for (size_t i = 0; i < l.nsnap; i++) {
		if (l.snaps[i] < keep_from) {
			path_of(path, sizeof(path), dir, "snapshot", l.snaps[i], ".snap");
			unlink(path);
		}
	}
	/* Segment i holds LSNs [segs[i], segs[i+1]); keep what replay may need. */
	for (size_t i = 0; i + 1 < l.nseg; i++) {
		if (covered > 0 && l.segs[i + 1] <= covered + 1) {
			path_of(path, sizeof(path), dir, "journal", l.segs[i], ".log");
			unlink(path);
		}
	}
	listing_free(&l);
}

struct jcommit {
	uv_work_t req;
	struct journal *j;
	uint64_t lsn, keep_from, retain;
	char dir[4096];
	int err;
};

static void
work_commit(uv_work_t *req)
{
	struct jcommit *w = (struct jcommit *)req;
	char tmp[4200], fin[4200];

	path_of(tmp, sizeof(tmp), w->dir, "snapshot", w->lsn, ".tmp");
	path_of(fin, sizeof(fin), w->dir, "snapshot", w->lsn, ".snap");
	if (rename(tmp, fin) != 0 || fsync_dir(w->dir) != 0) {
		w->err = errno;
		return;
	}
	prune(w->dir, w->keep_from, w->retain);
}

static void
after_commit(uv_work_t *req, int status)
{
	struct jcommit *w = (struct jcommit *)req;
	struct journal *j = w->j;

	(void)status;
	j->snap_committing = 0;
	if (w->err != 0) {
		log_warn("snapshot at LSN %" PRIu64 ": %s", w->lsn, strerror(w->err));
	} else {
		j->prev_snap_lsn = j->snap_lsn;
		j->snap_lsn = w->lsn;
		j->stats.snapshots++;
		log_info("snapshot at LSN %" PRIu64 " committed", w->lsn);
	}
	free(w);
}

static void
try_commit_snapshot(struct journal *j)
{
	struct jcommit *w;

	if (j->snap_pending == 0 || j->snap_committing || j->state != J_OK ||
	    j->durable_lsn < j->snap_pending)
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return;
	w->j = j;
	w->lsn = j->snap_pending;
	/* After this commit the newest two are w->lsn and the current one. */
	w->keep_from = j->snap_lsn;
	w->retain = j->retain_lsn;
	snprintf(w->dir, sizeof(w->dir), "%s", j->dir);
	j->snap_pending = 0;
	j->snap_committing = 1;
	if (uv_queue_work(j->loop, &w->req, work_commit, after_commit) != 0) {
		j->snap_committing = 0;
		free(w);
	}
}

static void
on_snap_timer(uv_timer_t *t)
{
	struct journal *j = t->data;
	int status;
	pid_t r;

	if (j->snap_pid <= 0)
		return;
	r = waitpid(j->snap_pid, &status, WNOHANG);
	if (r == 0)
		return;
	uv_timer_stop(t);
	j->snap_pid = 0;
	if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warn("snapshot at LSN %" PRIu64 " failed (the child exited %d)",
		    j->snap_child_lsn, r < 0 ? -1 : status);
		return;
	}
	/*
	 * A failure since the fork means the image may hold changes that were
	 * never made durable (and whose LSNs are being reused): throw it away.
	 */
	if (j->state != J_OK || j->snap_child_gen != j->gen ||
	    j->snap_child_lsn > j->last_lsn) {
		char tmp[4200];

		path_of(tmp, sizeof(tmp), j->dir, "snapshot", j->snap_child_lsn, ".tmp");
		unlink(tmp);
		return;
	}
	j->snap_pending = j->snap_child_lsn;
	try_commit_snapshot(j);
}

static void
maybe_snapshot(struct journal *j)
{
	char path[4200];
	pid_t pid, parent;

	if (j->state != J_OK || j->snap_pid > 0 || j->snap_pending ||
	    j->snap_committing || j->since_snap == 0 || j->g == NULL)
		return;
	/* By size, or by time when anything changed since the last one. */
	if (j->since_snap < j->snap_every &&
	    (j->snap_interval_ms == 0 ||
	    uv_now(j->loop) - j->last_snap_ms < j->snap_interval_ms))
		return;
	path_of(path, sizeof(path), j->dir, "snapshot", j->last_lsn, ".tmp");
	parent = getpid();
	/* A forked child writes the copy-on-write image; the loop keeps serving. */
	pid = fork();
	if (pid < 0) {
		log_warn("snapshot: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		/*
		 * The child needs none of the daemon's descriptors: holding the
		 * listener or client sockets would keep them alive after the
		 * daemon dies.  And it must not outlive the daemon, whose commit
		 * step alone makes its work count.
		 */
		close_range(3, ~0U, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);	/* the parent died before the signal was set */
		_exit(write_snapshot(j->g, path, j->last_lsn) == 0 ? 0 : 1);
	}
	j->snap_pid = pid;
	j->last_snap_ms = uv_now(j->loop);
	j->snap_child_lsn = j->last_lsn;
	j->snap_child_gen = j->gen;
	j->since_snap = 0;
	uv_timer_start(&j->snap_timer, on_snap_timer, 20, 20);
}

static void
on_interval(uv_timer_t *t)
{
	maybe_snapshot(t->data);
}

/* ---- open, state, close ---- */

struct journal *
journal_open(uv_loop_t *loop, const struct config *cfg,
    const struct journal_hooks *hooks, garage **gout, char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));
	struct replay r;
	struct timespec t0, t1;
	garage *g;

	*gout = NULL;
	if (j == NULL || (j->dir = strdup(cfg->data_dir)) == NULL) {
		free(j);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->loop = loop;
	j->cfg = cfg;
	j->hooks = *hooks;
	j->mode = cfg->durability;
	j->snap_every = (uint64_t)cfg->journal.snapshot_every;
	j->snap_interval_ms = (uint64_t)cfg->journal.snapshot_interval_s * 1000;
	j->retain_lsn = UINT64_MAX;
	j->fd = -1;
	if (mkdir(j->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "data_dir %s: %s", j->dir, strerror(errno));
		goto fail;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	g = recover(j->dir, hooks, 1, &r, &j->snap_lsn, &j->prev_snap_lsn, err, errlen);
	if (g == NULL)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	j->stats.last_recovery_s = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	j->stats.recovered_records = r.applied;
	j->last_lsn = j->durable_lsn = j->written_lsn = r.last;
	j->since_snap = r.last - j->snap_lsn;
	if (r.seg_start != 0 ? open_segment(j, r.seg_start, r.seg_len, 0, err, errlen) :
	    open_segment(j, r.last + 1, 0, 1, err, errlen)) {
		garage_free(g);
		goto fail;
	}
	log_info("journal %s: at LSN %" PRIu64 ", replayed %" PRIu64 " records in %.3fs",
	    j->dir, r.last, r.applied, j->stats.last_recovery_s);
	j->g = g;
	uv_prepare_init(loop, &j->prepare);
	j->prepare.data = j;
	uv_prepare_start(&j->prepare, on_prepare);
	uv_unref((uv_handle_t *)&j->prepare);
	uv_timer_init(loop, &j->snap_timer);
	j->snap_timer.data = j;
	uv_unref((uv_handle_t *)&j->snap_timer);
	uv_timer_init(loop, &j->retry_timer);
	j->retry_timer.data = j;
	uv_unref((uv_handle_t *)&j->retry_timer);
	j->last_snap_ms = uv_now(loop);
	uv_timer_init(loop, &j->interval_timer);
	j->interval_timer.data = j;
	if (j->snap_interval_ms > 0)
		uv_timer_start(&j->interval_timer, on_interval, 1000, 1000);
	uv_unref((uv_handle_t *)&j->interval_timer);
	*gout = g;
	return j;
fail:
	free(j->dir);
	free(j);
	return NULL;
}

int
journal_writable(const struct journal *j)
{
	return j->state == J_OK;
}

int
journal_consistent(const struct journal *j)
{
	return !j->ahead;
}

uint64_t
journal_last(const struct journal *j)
{
	return j->last_lsn;
}

uint64_t
journal_durable(const struct journal *j)
{
	return j->durable_lsn;
}

uint64_t
journal_written(const struct journal *j)
{
	return j->written_lsn < j->durable_lsn ? j->written_lsn : j->durable_lsn;
}

const char *
journal_state(const struct journal *j, const char **why)
{
	*why = j->why;
	return jstate_names[j->state];
}

const struct journal_stats *
journal_stats(const struct journal *j)
{
	return &j->stats;
}

void
journal_retain_from(struct journal *j, uint64_t lsn)
{
	j->retain_lsn = lsn;
}

void
journal_close(struct journal *j, garage *g)
{
	char tmp[4200], fin[4200];

	if (j->snap_pid > 0) {
		int status;

		waitpid(j->snap_pid, &status, 0);
		j->snap_pid = 0;
	}
	/* The loop has stopped: whatever is still pending is written here. */
	if (j->state == J_OK && j->pending.len > 0) {
		if (write_all(j->fd, j->pending.data, j->pending.len, j->offset) != 0 ||
		    fdatasync(j->fd) != 0)
			fail(j, "write", errno);
		else
			j->offset += j->pending.len;
	}
	if (j->state == J_OK && j->last_lsn > j->snap_lsn) {
		path_of(tmp, sizeof(tmp), j->dir, "snapshot", j->last_lsn, ".tmp");
		path_of(fin, sizeof(fin), j->dir, "snapshot", j->last_lsn, ".snap");
		if (write_snapshot(g, tmp, j->last_lsn) == 0 && rename(tmp, fin) == 0 &&
		    fsync_dir(j->dir) == 0) {
			log_info("final snapshot at LSN %" PRIu64, j->last_lsn);
			prune(j->dir, j->snap_lsn, j->retain_lsn);
		} else {
			log_warn("final snapshot failed: %s (the journal has everything)",
			    strerror(errno));
			unlink(tmp);
		}
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	j->state = J_CLOSED;
	free(j->pending.data);
	memset(&j->pending, 0, sizeof(j->pending));
	uv_close((uv_handle_t *)&j->prepare, NULL);
	uv_close((uv_handle_t *)&j->snap_timer, NULL);
	uv_close((uv_handle_t *)&j->retry_timer, NULL);
	uv_close((uv_handle_t *)&j->interval_timer, NULL);
}

void
journal_free(struct journal *j)
{
	if (j == NULL)
		return;
	free(j->pending.data);
	free(j->dir);
	free(j);
}

const char *
journal_dir(const struct journal *j)
{
	return j->dir;
}

void
journal_batch_free(struct journal_batch *b)
{
	free(b->lsn);
	free(b->off);
	free(b->len);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

static int
batch_add(struct journal_batch *b, size_t *cap, size_t *bcap, const struct wal_rec *rec)
{
	size_t used = b->n ? b->off[b->n - 1] + b->len[b->n - 1] : 0;

	if (b->n == *cap) {
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
	}
	if (used + rec->len > *bcap) {
		size_t nc = *bcap ? *bcap : 65536;
		char *nb;

		while (nc < used + rec->len)
			nc *= 2;
		if ((nb = realloc(b->buf, nc)) == NULL)
			return -1;
		b->buf = nb;
		*bcap = nc;
	}
	memcpy(b->buf + used, rec->payload, rec->len);
	b->lsn[b->n] = rec->lsn;
	b->off[b->n] = used;
	b->len[b->n] = rec->len;
	b->n++;
	return 0;
}

/* Finds the segment holding cur->next_lsn (or the first one after it). */
static int
cursor_position(const char *dir, struct journal_cursor *cur, struct journal_batch *out)
{
	struct listing l;
	char err[256];
	size_t i;

	if (scan_dir(dir, &l, 0, err, sizeof(err)) != 0)
		return -1;
	if (l.nseg == 0) {
		listing_free(&l);
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
	listing_free(&l);
	return 0;
}

/* The segment after cur's, if it exists; 0 when there is none. */
static uint64_t
next_segment(const char *dir, uint64_t after)
{
	struct listing l;
	char err[256];
	uint64_t next = 0;

	if (scan_dir(dir, &l, 0, err, sizeof(err)) != 0)
		return 0;
	for (size_t i = 0; i < l.nseg; i++) {
		if (l.segs[i] > after) {
			next = l.segs[i];
			break;
		}
	}
	listing_free(&l);
	return next;
}

int
journal_cursor_read(const char *dir, struct journal_cursor *cur,
    uint64_t upto, size_t max_records, size_t max_bytes,
    struct journal_batch *out)
{
	size_t cap = 0, bcap = 0, want = 1u << 20;
	unsigned char *chunk = NULL;

	memset(out, 0, sizeof(*out));
	while (out->n < max_records && cur->next_lsn <= upto) {
		char path[4200];
		size_t got, off = 0;
		struct wal_rec rec;
		enum wal_status st = WAL_OK;
		ssize_t r;
		int fd;

		if (!cur->positioned) {
			int rc = cursor_position(dir, cur, out);

			if (rc != 0)
				break;
		}
		path_of(path, sizeof(path), dir, "journal", cur->seg_start, ".log");
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			/* Pruned under us: find the position again. */
			cur->positioned = 0;
			if (errno == ENOENT)
				continue;
			goto fail;
		}
		if (chunk == NULL && (chunk = malloc(want)) == NULL) {
			close(fd);
			goto fail;
		}
		r = pread(fd, chunk, want, (off_t)cur->offset);
		close(fd);
		if (r < 0)
			goto fail;
		got = (size_t)r;
		while (out->n < max_records && cur->next_lsn <= upto &&
		    (st = wal_next(chunk, got, &off, &rec)) == WAL_OK) {
			if (rec.lsn >= cur->next_lsn) {
				if (batch_add(out, &cap, &bcap, &rec) != 0)
					goto fail;
				cur->next_lsn = rec.lsn + 1;
			}
			cur->offset += WAL_HEADER + rec.len;
			if (off >= max_bytes)
				goto done;
		}
		if (out->n >= max_records || cur->next_lsn > upto)
			break;
		if (st == WAL_CORRUPT) {
			/* Damage below the durable LSN: never skip it silently. */
			goto fail;
		}
		if (off == 0 && got == want) {
			/* One record larger than the chunk: read more at once. */
			unsigned char *nc;

			if (want >= 2 * WAL_MAX_PAYLOAD)
				goto fail;
			nc = realloc(chunk, want * 2);
			if (nc == NULL)
				goto fail;
			chunk = nc;
			want *= 2;
			continue;
		}
		if (off > 0 && got == want)
			continue;	/* more of this segment to read */
		/* The end of this segment's data: on to the next one, if any. */
		{
			uint64_t next = next_segment(dir, cur->seg_start);

			if (next == 0 || next < cur->next_lsn)
				break;
			if (next > cur->next_lsn) {
				out->skipped += next - cur->next_lsn;
				cur->next_lsn = next;
			}
			cur->seg_start = next;
			cur->offset = 0;
		}
	}
done:
	free(chunk);
	return 0;
fail:
	free(chunk);
	journal_batch_free(out);
	return -1;
}
