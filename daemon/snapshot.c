/* snapshot.c - forked snapshot writer, commit after durability, pruning (see snapshot.h). */
#define LOG_COMPONENT "snapshot"

#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datadir.h"
#include "log.h"
#include "record.h"
#include "wal.h"

#define SNAP_END_TYPE "snapshot.end"
/* The writer writes its buffer out past this many bytes. */
#define SNAP_CHUNK (1u << 20)
/* How much nicer than the daemon the writer runs. */
#define SNAP_NICE 10

/*
 * At most one snapshot is in the works: a child writing it (child > 0),
 * then a written one waiting for its LSN to be durable (pending), then its
 * commit on the thread pool (committing).
 */
struct snapshots {
	uv_loop_t *loop;
	char *dir;
	struct snapshot_hooks hooks;
	uint64_t every;			/* records between snapshots */
	uint64_t interval_ms;		/* and at least this often; 0: by size only */
	uint64_t last_start_ms;		/* loop time of the last snapshot started */
	uint64_t committed;		/* newest committed snapshot */
	uint64_t base;			/* records are counted from this LSN */
	uint64_t retain;		/* the audit shipper's position */
	uint64_t gen;			/* bumped by every journal failure */
	pid_t child;
	uint64_t child_lsn;		/* LSN the running child writes */
	uint64_t child_gen;		/* gen when it was forked */
	uint64_t pending;		/* LSN of a written, uncommitted snapshot */
	int committing;
	uint64_t child_start_ns;	/* uv_hrtime() before the running child's fork */
	struct snapshot_stats stats;
	uv_timer_t child_timer;		/* polls the child */
	uv_timer_t interval_timer;	/* snapshots by time on a quiet journal */
};

/* ---- the file ---- */

struct snapw {
	int fd;
	uint64_t lsn;
	uint64_t n;			/* records written */
	uint64_t off;			/* bytes in the file */
	struct wal_buf buf;
};

static int
snap_flush(struct snapw *s)
{
	if (s->buf.len > 0 &&
	    datadir_write_at(s->fd, s->buf.data, s->buf.len, s->off) != 0)
		return -1;
	s->off += s->buf.len;
	s->buf.len = 0;
	return 0;
}

static int
snap_record(void *ud, const char *json, size_t len)
{
	struct snapw *s = ud;

	if (wal_buf_add(&s->buf, s->lsn, json, len) != 0)
		return -1;
	s->n++;
	if (s->buf.len >= SNAP_CHUNK)
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
	/* No O_APPEND: the writer says where each chunk goes (datadir.h). */
	s.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s.fd < 0)
		return -1;
	rc = record_snapshot(g, snap_record, &s);
	if (rc == 0) {
		snprintf(end, sizeof(end), "{\"type\":\"" SNAP_END_TYPE "\",\"records\":%" PRIu64 "}", s.n);
		rc = wal_buf_add(&s.buf, lsn, end, strlen(end));
	}
	if (rc == 0)
		rc = snap_flush(&s);
	if (rc == 0)
		rc = fdatasync(s.fd);
	close(s.fd);
	wal_buf_free(&s.buf);
	return rc;
}

static int
is_snap_end(const char *payload, size_t len, uint64_t *count)
{
	static const char prefix[] = "{\"type\":\"" SNAP_END_TYPE "\",\"records\":";
	unsigned long long n;
	char tail;

	if (len < sizeof(prefix) - 1 || memcmp(payload, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	/* datadir_read_file ends the buffer with a NUL for this sscanf. */
	if (sscanf(payload + sizeof(prefix) - 1, "%llu%c", &n, &tail) != 2 || tail != '}')
		return 0;
	*count = n;
	return 1;
}

/*
 * Applies the records of one snapshot file: 1 at a matching end marker, 0
 * for a record applied, -1 (err says why) for anything else.
 */
static int
load_record(const char *path, const unsigned char *buf, size_t len, size_t *off,
    uint64_t lsn, garage *g, uint64_t n, char *err, size_t errlen)
{
	struct wal_rec rec;
	enum wal_status st = wal_next(buf, len, off, &rec);
	uint64_t count;
	char aerr[256];
	struct jerr ae = { aerr, sizeof(aerr), 0 };

	if (st != WAL_OK) {
		snprintf(err, errlen, "%s: %s at byte %zu", path,
		    st == WAL_END ? "no end marker" : "damaged record", *off);
		return -1;
	}
	if (rec.lsn != lsn) {
		snprintf(err, errlen, "%s: record for LSN %" PRIu64, path, rec.lsn);
		return -1;
	}
	if (is_snap_end(rec.payload, rec.len, &count)) {
		if (count == n && *off == len)
			return 1;
		snprintf(err, errlen, "%s: end marker does not match", path);
		return -1;
	}
	if (record_apply(g, rec.payload, rec.len, &ae) != PK_OK) {
		snprintf(err, errlen, "%s: record %" PRIu64 ": %s", path, n, aerr);
		return -1;
	}
	return 0;
}

int
snapshot_load(const char *dir, uint64_t lsn, garage *g, uint64_t *nrec,
    char *err, size_t errlen)
{
	char path[DATADIR_PATH_MAX];
	unsigned char *buf;
	size_t len, off = 0;
	uint64_t n = 0;
	int rc;

	datadir_path(path, sizeof(path), dir, "snapshot", lsn, ".snap");
	if (datadir_read_file(path, &buf, &len) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((rc = load_record(path, buf, len, &off, lsn, g, n, err, errlen)) == 0)
		n++;
	free(buf);
	*nrec = n;
	return rc == 1 ? 0 : -1;
}

/* Removes snapshots older than keep_from and segments wholly before it. */
static void
prune(const char *dir, uint64_t keep_from, uint64_t retain)
{
	struct datadir_list l;
	char err[256], path[DATADIR_PATH_MAX];
	uint64_t covered = keep_from < retain ? keep_from : retain;

	if (datadir_scan(dir, &l, 0, err, sizeof(err)) != 0)
		return;
	for (size_t i = 0; i < l.nsnap; i++) {
		if (l.snaps[i] < keep_from) {
			datadir_path(path, sizeof(path), dir, "snapshot", l.snaps[i], ".snap");
			unlink(path);
		}
	}
	/* Segment i holds LSNs [segs[i], segs[i+1]); keep what replay may need. */
	for (size_t i = 0; i + 1 < l.nseg; i++) {
		if (covered > 0 && l.segs[i + 1] <= covered + 1) {
			datadir_path(path, sizeof(path), dir, "journal", l.segs[i], ".log");
			unlink(path);
		}
	}
	datadir_list_free(&l);
}

/* Renames the written snapshot at lsn into place: 0, or -1 with errno. */
static int
commit_file(const char *dir, uint64_t lsn)
{
	char tmp[DATADIR_PATH_MAX], fin[DATADIR_PATH_MAX];

	datadir_path(tmp, sizeof(tmp), dir, "snapshot", lsn, ".tmp");
	datadir_path(fin, sizeof(fin), dir, "snapshot", lsn, ".snap");
	if (rename(tmp, fin) != 0 || datadir_fsync(dir) != 0)
		return -1;
	return 0;
}

static void
discard_file(const char *dir, uint64_t lsn)
{
	char tmp[DATADIR_PATH_MAX];

	datadir_path(tmp, sizeof(tmp), dir, "snapshot", lsn, ".tmp");
	unlink(tmp);
}

/* ---- when ---- */

static double
wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * When the committed snapshot at lsn was written, from its file (0: none,
 * or it cannot be read).  Blocking: at start-up and after a rebuild only.
 */
static double
file_time(const char *dir, uint64_t lsn)
{
	char path[DATADIR_PATH_MAX];
	struct stat st;

	if (lsn == 0)
		return 0;
	datadir_path(path, sizeof(path), dir, "snapshot", lsn, ".snap");
	if (stat(path, &st) != 0)
		return 0;
	return (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
}

/* ---- commit on the thread pool ---- */

struct commit_work {
	uv_work_t req;
	struct snapshots *s;
	uint64_t lsn, keep_from, retain;
	uint64_t start_ns;		/* when its child was forked */
	char dir[DATADIR_PATH_MAX];
	int err;
};

static void
work_commit(uv_work_t *req)
{
	struct commit_work *w = (struct commit_work *)req;

	if (commit_file(w->dir, w->lsn) != 0) {
		w->err = errno;
		return;
	}
	prune(w->dir, w->keep_from, w->retain);
}

static void
after_commit(uv_work_t *req, int status)
{
	struct commit_work *w = (struct commit_work *)req;
	struct snapshots *s = w->s;

	(void)status;
	s->committing = 0;
	if (w->err != 0) {
		s->stats.failed++;
		log_warn("failed lsn=%" PRIu64 " error=\"%s\"", w->lsn, strerror(w->err));
	} else {
		s->stats.committed_at = wall_seconds();
		s->stats.last_duration_s = (double)(uv_hrtime() - w->start_ns) / 1e9;
		s->committed = w->lsn;
		if (s->hooks.committed)
			s->hooks.committed(s->hooks.ud);
		log_info("committed lsn=%" PRIu64, w->lsn);
	}
	free(w);
}

static void
try_commit(struct snapshots *s)
{
	struct commit_work *w;
	uint64_t last, durable;

	if (s->pending == 0 || s->committing ||
	    s->hooks.state(s->hooks.ud, &last, &durable) == NULL || durable < s->pending)
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return;
	w->s = s;
	w->lsn = s->pending;
	/* After this commit the newest two are w->lsn and the current one. */
	w->keep_from = s->committed;
	w->retain = s->retain;
	w->start_ns = s->child_start_ns;
	snprintf(w->dir, sizeof(w->dir), "%s", s->dir);
	s->pending = 0;
	s->committing = 1;
	if (uv_queue_work(s->loop, &w->req, work_commit, after_commit) != 0) {
		s->committing = 0;
		free(w);
	}
}

/* ---- the child ---- */

static void
on_child_timer(uv_timer_t *t)
{
	struct snapshots *s = t->data;
	uint64_t last, durable;
	int status;
	pid_t r;

	if (s->child <= 0)
		return;
	r = waitpid(s->child, &status, WNOHANG);
	if (r == 0)
		return;
	uv_timer_stop(t);
	s->child = 0;
	if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		s->stats.failed++;
		log_warn("failed, the child did not finish lsn=%" PRIu64 " exit=%d",
		    s->child_lsn, r < 0 ? -1 : status);
		return;
	}
	/*
	 * A failure since the fork means the image may hold changes that were
	 * never made durable (and whose LSNs are being reused): throw it away.
	 */
	if (s->hooks.state(s->hooks.ud, &last, &durable) == NULL ||
	    s->child_gen != s->gen || s->child_lsn > last) {
		s->stats.failed++;
		discard_file(s->dir, s->child_lsn);
		return;
	}
	s->pending = s->child_lsn;
	try_commit(s);
}

/*
 * In the child: off the loop's core.  The child inherits the daemon's CPU
 * affinity and priority, so with the daemon pinned (taskset, systemd's
 * CPUAffinity=) it would write on the very core the loop serves from.
 * It moves to the online CPUs the daemon is not pinned to, when there are
 * any, and runs SNAP_NICE nicer, so that where it does share a core the
 * loop comes first: the image is of the past and can wait.  Both are best
 * effort: a refusal leaves the child where it is.
 */
static void
step_aside(void)
{
	cpu_set_t mine, others;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int any = 0;

	if (sched_getaffinity(0, sizeof(mine), &mine) == 0) {
		CPU_ZERO(&others);
		for (long i = 0; i < n && i < CPU_SETSIZE; i++) {
			if (!CPU_ISSET(i, &mine)) {
				CPU_SET(i, &others);
				any = 1;
			}
		}
		if (any)
			(void)sched_setaffinity(0, sizeof(others), &others);
	}
	errno = 0;
	(void)nice(SNAP_NICE);
}

/* In the child: writes the image at lsn and exits; never returns. */
static void
child_main(const garage *g, const char *path, uint64_t lsn, pid_t parent)
{
	/*
	 * The child needs none of the daemon's descriptors: holding the
	 * listener or client sockets would keep them alive after the daemon
	 * dies.  Closing its copy of data_dir/LOCK releases nothing and keeps
	 * the lock from outliving the daemon (datadir.c says why).  And it
	 * must not outlive the daemon, whose commit step alone makes its work
	 * count.
	 */
	close_range(3, ~0U, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);	/* the parent died before the signal was set */
	step_aside();
	_exit(write_snapshot(g, path, lsn) == 0 ? 0 : 1);
}

/* Starts a snapshot when one is due and none is in the works. */
static void
maybe_start(struct snapshots *s)
{
	char path[DATADIR_PATH_MAX];
	uint64_t last, durable;
	const garage *g;
	pid_t pid, parent;
	uint64_t t0;

	if (s->child > 0 || s->pending || s->committing)
		return;
	g = s->hooks.state(s->hooks.ud, &last, &durable);
	if (g == NULL || last <= s->base)
		return;
	/* By size, or by time when anything changed since the last one. */
	if (last - s->base < s->every && (s->interval_ms == 0 ||
	    uv_now(s->loop) - s->last_start_ms < s->interval_ms))
		return;
	datadir_path(path, sizeof(path), s->dir, "snapshot", last, ".tmp");
	parent = getpid();
	t0 = uv_hrtime();
	/* A forked child writes the copy-on-write image; the loop keeps serving. */
	pid = fork();
	if (pid < 0) {
		log_warn("fork failed error=\"%s\"", strerror(errno));
		return;
	}
	if (pid == 0)
		child_main(g, path, last, parent);
	s->child_start_ns = t0;
	s->stats.last_fork_s = (double)(uv_hrtime() - t0) / 1e9;
	s->child = pid;
	s->last_start_ms = uv_now(s->loop);
	s->child_lsn = last;
	s->child_gen = s->gen;
	s->base = last;
	uv_timer_start(&s->child_timer, on_child_timer, 20, 20);
}

static void
on_interval(uv_timer_t *t)
{
	maybe_start(t->data);
}

/* ---- the journal's side ---- */

struct snapshots *
snapshot_new(uv_loop_t *loop, const char *dir, const struct settings *cfg,
    const struct snapshot_hooks *hooks, uint64_t committed)
{
	struct snapshots *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->dir = strdup(dir)) == NULL) {
		free(s);
		return NULL;
	}
	s->loop = loop;
	s->hooks = *hooks;
	s->every = (uint64_t)cfg->journal.snapshot_every;
	s->interval_ms = (uint64_t)cfg->journal.snapshot_interval_s * 1000;
	s->committed = s->base = committed;
	s->stats.committed_at = file_time(dir, committed);
	s->retain = UINT64_MAX;
	s->last_start_ms = uv_now(loop);
	uv_timer_init(loop, &s->child_timer);
	s->child_timer.data = s;
	uv_unref((uv_handle_t *)&s->child_timer);
	uv_timer_init(loop, &s->interval_timer);
	s->interval_timer.data = s;
	if (s->interval_ms > 0)
		uv_timer_start(&s->interval_timer, on_interval, 1000, 1000);
	uv_unref((uv_handle_t *)&s->interval_timer);
	return s;
}

void
snapshot_set_pace(struct snapshots *s, const struct settings *cfg)
{
	uint64_t was = s->interval_ms;

	s->every = (uint64_t)cfg->journal.snapshot_every;
	s->interval_ms = (uint64_t)cfg->journal.snapshot_interval_s * 1000;
	if (was == 0 && s->interval_ms > 0)
		uv_timer_start(&s->interval_timer, on_interval, 1000, 1000);
	else if (was > 0 && s->interval_ms == 0)
		uv_timer_stop(&s->interval_timer);
}

void
snapshot_kick(struct snapshots *s)
{
	try_commit(s);
	maybe_start(s);
}

void
snapshot_invalidate(struct snapshots *s)
{
	s->gen++;
	if (s->pending != 0)
		s->stats.failed++;
	s->pending = 0;
}

void
snapshot_rebuilt(struct snapshots *s, uint64_t committed, uint64_t last)
{
	/* Recovery may have fallen back to an older snapshot: prune by what it used. */
	if (committed != s->committed)
		s->stats.committed_at = file_time(s->dir, committed);
	s->committed = committed;
	s->base = last;
}

const struct snapshot_stats *
snapshot_stats(const struct snapshots *s)
{
	return &s->stats;
}

int
snapshot_busy(const struct snapshots *s)
{
	return s->committing;
}

void
snapshot_retain_from(struct snapshots *s, uint64_t lsn)
{
	s->retain = lsn;
}

void
snapshot_close(struct snapshots *s, const garage *g, uint64_t lsn)
{
	char tmp[DATADIR_PATH_MAX];

	if (s->child > 0) {
		int status;

		waitpid(s->child, &status, 0);
		s->child = 0;
	}
	if (g != NULL && lsn > s->committed) {
		datadir_path(tmp, sizeof(tmp), s->dir, "snapshot", lsn, ".tmp");
		if (write_snapshot(g, tmp, lsn) == 0 && commit_file(s->dir, lsn) == 0) {
			log_info("final snapshot written lsn=%" PRIu64, lsn);
			prune(s->dir, s->committed, s->retain);
		} else {
			log_warn("final snapshot failed, the journal has everything error=\"%s\"",
			    strerror(errno));
			unlink(tmp);
		}
	}
	uv_close((uv_handle_t *)&s->child_timer, NULL);
	uv_close((uv_handle_t *)&s->interval_timer, NULL);
}

void
snapshot_free(struct snapshots *s)
{
	if (s == NULL)
		return;
	free(s->dir);
	free(s);
}
