/* journal.c - the journal writer: group commit, failure, rebuild and probe (see journal.h). */
#define LOG_COMPONENT "journal"

#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "datadir.h"
#include "gather.h"
#include "log.h"
#include "recovery.h"
#include "sidestore.h"
#include "snapshot.h"
#include "wal.h"

/* A segment is closed and a new one begun past this size. */
#define SEGMENT_MAX (64u << 20)

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

struct journal {
	uv_loop_t *loop;
	char *dir;
	enum durability mode;
	struct journal_hooks hooks;
	enum jstate state;
	char why[160];

	int fd;				/* current segment */
	uint64_t seg_start;
	uint64_t offset;		/* end of the durable bytes in the segment */

	struct wal_buf pending;		/* records not yet handed to a writer */
	uint64_t pending_first;
	uint64_t pending_ns;		/* when its first record came (uv_hrtime) */
	uint64_t last_lsn;		/* last appended */
	uint64_t durable_lsn;
	uint64_t written_lsn;		/* last LSN handed to write(2) and done */
	int in_flight;
	uv_prepare_t prepare;
	/*
	 * When the next batch starts ("fsync" mode, gather.h; "none" mode,
	 * none_delay_ns), and a timer of the microseconds that takes: libuv's
	 * timers count milliseconds, a timerfd on the loop does not.  tfd -1:
	 * none (batches start at once).
	 */
	struct gather gather;
	/*
	 * "none" mode: the first record of a batch waits this long for others
	 * (NONE_BATCH_BYTES at most) before the batch goes to the pool.  Nobody
	 * waits for those writes, and a job per loop turn cost more than the
	 * requests at moderate rates (a thread switch and a wake-up each: 40 %
	 * of the CPU at 23 000 requests/s on one core).  0: at once (a
	 * synchronous standby waits for them; a standby's primary does).
	 */
	uint64_t none_delay_ns;
	int tfd;
	uv_poll_t gather_poll;
	uint64_t armed_at;		/* the timerfd's expiry; 0: disarmed */
	int held;			/* the pending batch waited for company */
	int gather_on;			/* journal.gather */
	uv_timer_t retry_timer;		/* recovery attempts after a failure */
	int ahead;			/* memory holds changes the disk lost */
	int lock_fd;			/* holds data_dir/LOCK until journal_free */

	garage *g;			/* the state snapshots are taken of */
	struct snapshots *snaps;
	struct journal_stats stats;

	/* The side stream (journal.h), when hooks.side is set. */
	const struct journal_side_hooks *side;
	struct sidestore_paths *side_paths;
	int side_fd;			/* its log, -1 when none */
	uint64_t side_offset;		/* end of the log's durable bytes */
	struct wal_buf side_pending;	/* side records of the pending batch */
	int side_rewrite;		/* asked for */
	int side_rewrite_now;		/* ... with the next batch, in the same job */
	/*
	 * The last image's buffer, wiped, for the next: a large registry's
	 * image is tens of megabytes, and writing it into fresh memory cost
	 * the loop three times what writing into this does (page faults; 150 000
	 * vehicles: 116-131 ms against 36-40 ms).  Costs its size in memory.
	 */
	struct wal_buf image_spare;
	void *frozen_spare;		/* the same for the state's copy */
	/*
	 * A rewrite in two jobs, so that the gates do not wait for it: the
	 * image is made and written to a temporary file (prep) while batches
	 * go on; then a short job of its own renames it into place and
	 * empties the log (commit).  Meanwhile the log may only take side
	 * records the image covers (LSN <= its image_lsn); a batch with later
	 * ones waits for the commit.  side_rewriting: from the prep's start to
	 * the commit's end.
	 */
	struct jwork *prep;		/* in the works or written; NULL: none */
	uint64_t side_pending_last;	/* the LSN of the last side record pending */
	const char *prep_what;		/* a prep's failure, for fail() when idle */
	int prep_err;
	int side_rewriting;
};

struct jwork;

static void submit(struct journal *j);
static void kick(struct journal *j);
static void fail(struct journal *j, const char *what, int err);
static void fail_why(struct journal *j);
static void work_free(struct jwork *w);

/* ---- segments ---- */

/*
 * Creates the segment starting at LSN start and makes its name durable.
 * Returns the descriptor, or -1 with errno and *what naming the step (a
 * segment whose name could not be made durable is removed again).
 */
static int
create_segment(const char *dir, uint64_t start, const char **what)
{
	char path[DATADIR_PATH_MAX];
	int fd, e;

	datadir_path(path, sizeof(path), dir, "journal", start, ".log");
	/* Writes go to explicit offsets (datadir_write_at): no O_APPEND. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		*what = "open";
		return -1;
	}
	if (datadir_fsync(dir) != 0) {
		e = errno;
		close(fd);
		unlink(path);
		errno = e;
		*what = "fsync dir";
		return -1;
	}
	return fd;
}

/* Opens the segment recovery ended in, len bytes valid, or a new one. */
static int
open_segment(struct journal *j, const struct recovery *r, char *err,
    size_t errlen)
{
	char path[DATADIR_PATH_MAX];
	const char *what;
	uint64_t start = r->seg_start != 0 ? r->seg_start : r->last + 1;
	int fd;

	datadir_path(path, sizeof(path), j->dir, "journal", start, ".log");
	if (r->seg_start != 0)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	else
		fd = create_segment(j->dir, start, &what);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	j->fd = fd;
	j->seg_start = start;
	j->offset = r->seg_start != 0 ? r->seg_len : 0;
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
	char dir[DATADIR_PATH_MAX];
	int new_fd;
	int err;
	const char *what;
	/* Nanoseconds write(2) and fdatasync took; synced: fdatasync was called. */
	uint64_t write_ns, sync_ns;
	int did_write, synced;
	/* The side stream: its records of this batch, and an image to rewrite to. */
	const struct sidestore_paths *side_paths;
	int side_fd;
	uint64_t side_offset;
	unsigned char *side_data;
	size_t side_len;
	/*
	 * A rewrite: the state's copy (freeze hook), made into the image by
	 * the job, in the buffer image (the journal's spare, or NULL).
	 */
	int rewriting;
	void *frozen;
	int frozen_wiped;	/* the job wiped it: it can serve again */
	unsigned char *image;
	size_t image_len, image_cap;
	uint64_t image_lsn;
	int image_nomem;	/* the job could not make it: asked again */
	int main_done;		/* the batch is on disk; a later error is the image's */
	int renamed;		/* the image is in place */
	int prepared;		/* the image is in the temporary file: commit only */
	uint64_t copy_ns;	/* when the state's copy began (uv_hrtime) */
	uint64_t failures;	/* the journal's failures when the prep began */
	/*
	 * The batch's way, in uv_hrtime: its first record appended, the batch
	 * handed to the pool, begun and ended on a pool thread.
	 */
	uint64_t first_ns, queued_ns, begun_ns, ended_ns;
};

/*
 * Pool thread: the side stream's records of the batch, before the batch:
 * once the batch's LSNs are durable, so are they.
 */
static int
write_side(struct jwork *w)
{
	if (w->side_len == 0)
		return 0;
	if (datadir_write_at(w->side_fd, w->side_data, w->side_len,
	    w->side_offset) != 0) {
		w->err = errno;
		w->what = "side write";
		return -1;
	}
	if (w->sync && fdatasync(w->side_fd) != 0) {
		w->err = errno;
		w->what = "side fsync";
		return -1;
	}
	return 0;
}

/* The image, from the state's copy (pool thread; the loop at start-up). */
static int
make_image(struct jwork *w)
{
	struct wal_buf b = { w->image, 0, w->image_cap };
	const struct journal_side_hooks *h = w->j->side;
	int rc;

	rc = h->image_frozen(w->frozen, w->image_lsn, &b);
	h->frozen_wipe(w->frozen);
	w->frozen_wiped = 1;
	w->image = b.data;
	w->image_cap = b.cap;
	w->image_len = b.len;
	if (rc != 0) {
		/* Nothing written yet: the spare comes back wiped, and it is asked again. */
		if (b.data != NULL)
			explicit_bzero(b.data, b.len);
		w->image_len = 0;
		w->image_nomem = 1;
		return -1;
	}
	return 0;
}

/*
 * Pool thread: the image, made and written to the temporary file (the
 * prep job, or the first half of a rewrite in one job).  0, or -1 with
 * w->err set or w->image_nomem.
 */
static int
prepare_image(struct jwork *w)
{
	int rc;

	if (make_image(w) != 0)
		return -1;
	rc = sidestore_prepare(w->side_paths, w->image, w->image_len, &w->what);
	if (rc != 0)
		w->err = errno ? errno : EIO;
	/*
	 * Wiped here, not on the loop: an image of a large registry is tens
	 * of megabytes (a failed rewrite takes a new image when retried).
	 */
	explicit_bzero(w->image, w->image_len);
	return rc;
}

/* Pool thread: after the batch, the side stream's new image, if one came. */
static void
rewrite_side(struct jwork *w)
{
	if (w->err != 0 || !w->rewriting)
		return;
	if (!w->prepared && prepare_image(w) != 0)
		return;
	if (sidestore_commit(w->side_paths, w->side_fd, &w->renamed,
	    &w->what) != 0)
		w->err = errno ? errno : EIO;
}

/* Pool thread: writes (and syncs) one batch, in a new segment if due. */
static void
write_batch(struct jwork *w)
{
	int fd = w->fd;
	uint64_t t0, t1;

	if (write_side(w) != 0)
		return;
	if (w->len == 0) {
		/* Only an image to write: nothing of the journal's. */
		w->main_done = 1;
		rewrite_side(w);
		return;
	}
	if (w->rotate) {
		fd = w->new_fd = create_segment(w->dir, w->first, &w->what);
		if (fd < 0) {
			w->err = errno;
			return;
		}
		w->offset = 0;
	}
	t0 = uv_hrtime();
	if (datadir_write_at(fd, w->data, w->len, w->offset) != 0) {
		w->err = errno;
		w->what = "write";
	}
	t1 = uv_hrtime();
	w->write_ns = t1 - t0;
	w->did_write = 1;
	if (w->err == 0 && w->sync) {
		if (fdatasync(fd) != 0) {
			w->err = errno;
			w->what = "fsync";
		}
		w->sync_ns = uv_hrtime() - t1;
		w->synced = 1;
	}
	/* A new segment that failed must not be found by recovery. */
	if (w->err != 0 && w->rotate) {
		char path[DATADIR_PATH_MAX];

		close(fd);
		w->new_fd = -1;
		datadir_path(path, sizeof(path), w->dir, "journal", w->first, ".log");
		unlink(path);
	}
	if (w->err == 0) {
		w->main_done = 1;
		rewrite_side(w);
	}
}

/*
 * Pool thread: the batch, timed from its start to its end here (uv_hrtime
 * reads a monotonic clock, and may be called from any thread).
 */
static void
work_write(uv_work_t *req)
{
	struct jwork *w = (struct jwork *)req;

	w->begun_ns = uv_hrtime();
	write_batch(w);
	w->ended_ns = uv_hrtime();
}

/*
 * What a batch borrowed for an image goes back for the next: the image's
 * buffer holds nothing (the job wipes what it wrote, or never wrote), the
 * state's copy only once the job wiped it.
 */
static void
keep_spares(struct journal *j, struct jwork *w)
{
	if (w->image != NULL && j->image_spare.data == NULL) {
		j->image_spare.data = w->image;
		j->image_spare.cap = w->image_cap;
		j->image_spare.len = 0;
		w->image = NULL;
	}
	if (w->frozen != NULL && w->frozen_wiped && j->frozen_spare == NULL) {
		j->frozen_spare = w->frozen;
		w->frozen = NULL;
	}
}

/* The side stream's part of a batch whose main part is on disk. */
static void
side_wrote(struct journal *j, const struct jwork *w)
{
	if (w->renamed) {
		/* The log is empty, or holds only what the image covers. */
		j->side_offset = 0;
		j->stats.side_rewrites++;
		j->stats.side_image_bytes = w->image_len;
		hist_observe(&j->stats.side_rewrite_s,
		    (double)(uv_hrtime() - w->copy_ns) / 1e9);
		if (j->side->rewritten != NULL && w->err == 0)
			j->side->rewritten(j->side->ud, w->image_lsn, w->image_len);
	} else {
		j->side_offset += w->side_len;
	}
	j->stats.side_log_bytes = j->side_offset;
}

/*
 * The batch w is on disk: count it and tell who waits for it.  Returns
 * how many records' replies that released (the durable hook's count).
 */
static uint64_t
wrote(struct journal *j, const struct jwork *w)
{
	uint64_t released = 0;

	if (j->side != NULL)
		side_wrote(j, w);
	if (w->len == 0)
		return 0;	/* an image alone: no LSN became durable */
	j->offset += w->len;
	j->stats.batches++;
	if (w->sync)
		j->stats.fsyncs++;
	if (w->last - w->first + 1 > j->stats.max_batch)
		j->stats.max_batch = w->last - w->first + 1;
	if (j->mode != DUR_NONE)
		j->durable_lsn = w->last;
	j->written_lsn = w->last;
	if (j->hooks.batch) {
		struct journal_batch b = { w->data, w->len, w->side_data,
		    w->side_len, w->first, w->last };

		j->hooks.batch(j->hooks.ud, &b);
	}
	/* In "none" mode too: the audit shipper waits for written records. */
	if (j->hooks.durable)
		released = j->hooks.durable(j->hooks.ud, j->durable_lsn);
	snapshot_kick(j->snaps);
	return released;
}

/* In "none" mode: larger batches are not held back (none_delay_ns). */
#define NONE_BATCH_BYTES (256u << 10)

/* Gathering (gather.h) decides when batches start. */
static int
gathering(const struct journal *j)
{
	return j->tfd >= 0 && j->gather_on && j->mode == DUR_FSYNC;
}

/*
 * "none" mode: when the pending batch is due (none_delay_ns), or 0 when
 * it goes now.
 */
static uint64_t
none_due(const struct journal *j)
{
	uint64_t due;

	if (j->none_delay_ns == 0 || j->tfd < 0 || j->pending.len == 0 ||
	    j->pending.len >= NONE_BATCH_BYTES || j->side_rewrite_now)
		return 0;
	due = j->pending_ns + j->none_delay_ns;
	return uv_hrtime() < due ? due : 0;
}

/* Records appended and not yet handed to the pool. */
static uint64_t
pending_records(const struct journal *j)
{
	return j->pending.len > 0 ? j->last_lsn - j->pending_first + 1 : 0;
}

static void
after_write(uv_work_t *req, int status)
{
	struct jwork *w = (struct jwork *)req;
	struct journal *j = w->j;
	uint64_t now = uv_hrtime();
	int had_image;

	(void)status;
	j->in_flight = 0;
	/* Timed on the pool thread; counted here, where the stats live. */
	if (w->did_write) {
		hist_observe(&j->stats.queue_s, (double)(w->begun_ns - w->queued_ns) / 1e9);
		hist_observe(&j->stats.handback_s, (double)(now - w->ended_ns) / 1e9);
		hist_observe(&j->stats.write_s, (double)w->write_ns / 1e9);
		hist_observe(&j->stats.batch_bytes, (double)w->len);
		hist_observe(&j->stats.batch_records, (double)(w->last - w->first + 1));
	}
	if (w->synced)
		hist_observe(&j->stats.fsync_s, (double)w->sync_ns / 1e9);
	/* As batches_total: every batch whose records are now on disk. */
	if (w->len > 0 && w->main_done)
		hist_observe(&j->stats.commit_s, (double)(now - w->first_ns) / 1e9);
	if (w->rotate && w->new_fd >= 0) {
		close(j->fd);
		j->fd = w->new_fd;
		j->seg_start = w->first;
		j->offset = 0;
	}
	had_image = w->rewriting;
	if (had_image) {
		/* The commit of j->prep (batches never carry an image on the loop). */
		j->side_rewriting = 0;
		if (w == j->prep)
			j->prep = NULL;
	}
	if (w->image_nomem) {
		j->side_rewrite = 1;
		log_warn("out of memory for the %s image: it is made again with the "
		    "next batch", j->side->name);
	}
	keep_spares(j, w);
	if (w->err != 0) {
		/* A failed image after a written batch: the batch still counts. */
		if (w->main_done)
			wrote(j, w);
		/* The erasure it was for is still owed: with the next batch. */
		if (had_image && !w->renamed)
			j->side_rewrite = 1;
		fail(j, w->what, w->err);
	} else {
		uint64_t released = wrote(j, w);

		gather_completed(&j->gather, uv_hrtime(), released,
		    pending_records(j), w->synced ? w->sync_ns : 0);
		/* Everything that arrived meanwhile goes in the next group. */
		kick(j);
	}
	work_free(w);
}

/* Frees a batch's buffers, wiping the side stream's (they hold its data). */
static void
work_free(struct jwork *w)
{
	if (w == NULL)
		return;
	if (w->side_data != NULL)
		explicit_bzero(w->side_data, w->side_len);
	if (w->image != NULL)
		explicit_bzero(w->image, w->image_len);
	if (w->frozen != NULL)
		w->j->side->frozen_free(w->frozen);
	free(w->side_data);
	free(w->image);
	free(w->data);
	free(w);
}

static void
wipe_buf(struct wal_buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	wal_buf_free(b);
}

/*
 * w is to make the image of the state now: the state's copy (timed), the
 * image's buffer, the rewrite asked for taken.  0, or -1 when out of
 * memory for the copy (the rewrite stays asked for).
 */
static int
take_image(struct journal *j, struct jwork *w)
{
	void *reuse = j->frozen_spare;

	j->frozen_spare = NULL;		/* freed by the hook when it fails */
	w->copy_ns = uv_hrtime();
	if ((w->frozen = j->side->freeze(j->side->ud, reuse)) == NULL)
		return -1;
	hist_observe(&j->stats.side_copy_s,
	    (double)(uv_hrtime() - w->copy_ns) / 1e9);
	w->rewriting = 1;
	w->image = j->image_spare.data;
	w->image_cap = j->image_spare.cap;
	memset(&j->image_spare, 0, sizeof(j->image_spare));
	/* Everything appended is in the copy. */
	w->image_lsn = j->last_lsn;
	j->side_rewrite = 0;
	j->side_rewrite_now = 0;
	j->side_rewriting = 1;
	return 0;
}

/*
 * Takes the pending batch, the side records that go with it and, when a
 * rewrite was asked for, the image of the state now (which is the state
 * after the batch's last LSN: everything appended is in the batch or
 * before it).  NULL when out of memory (nothing taken).
 */
static struct jwork *
take_batch(struct journal *j, int with_image)
{
	struct jwork *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->j = j;
	w->fd = j->fd;
	w->offset = j->offset;
	w->data = j->pending.data;
	w->len = j->pending.len;
	w->first = w->len > 0 ? j->pending_first : j->last_lsn + 1;
	w->first_ns = j->pending_ns;
	w->last = j->last_lsn;
	w->sync = j->mode == DUR_FSYNC;
	w->new_fd = -1;
	w->rotate = w->len > 0 && j->offset >= SEGMENT_MAX;
	snprintf(w->dir, sizeof(w->dir), "%s", j->dir);
	memset(&j->pending, 0, sizeof(j->pending));
	if (j->side != NULL) {
		w->side_paths = j->side_paths;
		w->side_fd = j->side_fd;
		w->side_offset = j->side_offset;
		w->side_data = j->side_pending.data;
		w->side_len = j->side_pending.len;
		memset(&j->side_pending, 0, sizeof(j->side_pending));
	}
	/* Out of memory for the copy: the rewrite waits for a later batch. */
	if (with_image && j->side != NULL && j->side_rewrite)
		(void)take_image(j, w);
	return w;
}

/* Puts a batch that could not be handed to the pool back where it was. */
static void
untake_batch(struct journal *j, struct jwork *w)
{
	j->pending.data = w->data;
	j->pending.len = j->pending.cap = w->len;
	w->data = NULL;
	j->side_pending.data = w->side_data;
	j->side_pending.len = j->side_pending.cap = w->side_len;
	w->side_data = NULL;
	if (w->rewriting) {
		/* What take_image took: only a rewrite asked for "now" rides a batch. */
		j->side_rewrite = j->side_rewrite_now = 1;
		j->side_rewriting = 0;
	}
	keep_spares(j, w);
	work_free(w);
}

static void
submit(struct journal *j)
{
	struct jwork *w = take_batch(j, j->side_rewrite_now && j->prep == NULL);

	if (w == NULL)
		return;		/* tried again at the next loop iteration */
	if (w->len == 0 && w->side_len == 0 && !w->rewriting) {
		work_free(w);	/* the image could not be made: later */
		return;
	}
	j->in_flight = 1;
	w->queued_ns = uv_hrtime();
	if (uv_queue_work(j->loop, &w->req, work_write, after_write) != 0) {
		j->in_flight = 0;
		untake_batch(j, w);
	}
}

/* Sets the gather timer to expire at the monotonic time at (ns); 0 stops it. */
static void
arm(struct journal *j, uint64_t at)
{
	struct itimerspec its;

	if (at == j->armed_at)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(at / 1000000000u);
	its.it_value.tv_nsec = (long)(at % 1000000000u);
	if (timerfd_settime(j->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		j->armed_at = at;
}

/* ---- rewrites of the side stream, in two jobs (struct journal says why) ---- */

/* The pending side records may go to the log now (see struct journal). */
static int
side_pending_fits(const struct journal *j)
{
	return j->prep == NULL || j->side_pending.len == 0 ||
	    j->side_pending_last <= j->prep->image_lsn;
}

static void
work_prep(uv_work_t *req)
{
	(void)prepare_image((struct jwork *)req);
}

/* A prep that will not be committed: the erasure it was for is still owed. */
static void
drop_prep(struct journal *j)
{
	struct jwork *w = j->prep;

	j->prep = NULL;
	j->side_rewriting = 0;
	j->side_rewrite = 1;
	keep_spares(j, w);
	work_free(w);
}

static void
after_prep(uv_work_t *req, int status)
{
	struct jwork *w = (struct jwork *)req;
	struct journal *j = w->j;

	(void)status;
	if (w->image_nomem) {
		log_warn("out of memory for the %s image: it is made again",
		    j->side->name);
		drop_prep(j);
	} else if (w->err != 0) {
		/*
		 * The journal fails at the next idle moment (kick_rewrite), as for
		 * a batch; not when it failed since (the image was dropped anyway).
		 */
		if (j->stats.failures == w->failures) {
			j->prep_what = w->what;
			j->prep_err = w->err;
		}
		drop_prep(j);
	} else {
		/* Committed by kick_rewrite, unless the disk failed since. */
		w->prepared = 1;
		keep_spares(j, w);	/* the copy and the buffer are wiped */
	}
	kick(j);
}

/* Copies the state and starts the prep job; nothing done when it cannot. */
static void
start_prep(struct journal *j)
{
	struct jwork *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return;
	/* Out of memory for the copy: tried again at the next kick. */
	if (take_image(j, w) != 0) {
		free(w);
		return;
	}
	w->j = j;
	w->fd = w->side_fd = w->new_fd = -1;
	w->side_paths = j->side_paths;
	/* The log may take records up to w->image_lsn until it is in place. */
	w->failures = j->stats.failures;
	j->prep = w;
	if (uv_queue_work(j->loop, &w->req, work_prep, after_prep) != 0)
		drop_prep(j);
}

/* The written image into place: a job of its own, nothing else in it. */
static void
submit_commit(struct journal *j)
{
	struct jwork *w = j->prep;

	w->side_fd = j->side_fd;
	w->side_offset = j->side_offset;
	w->first = j->last_lsn + 1;
	w->last = j->last_lsn;
	w->sync = j->mode == DUR_FSYNC;
	snprintf(w->dir, sizeof(w->dir), "%s", j->dir);
	j->in_flight = 1;
	if (uv_queue_work(j->loop, &w->req, work_write, after_write) != 0)
		j->in_flight = 0;	/* tried again at the next kick */
}

/* A rewrite's next step, when one is due and may be taken now. */
static void
kick_rewrite(struct journal *j)
{
	const char *what = j->prep_what;

	if (what != NULL) {
		if (j->in_flight)
			return;
		j->prep_what = NULL;
		snprintf(j->why, sizeof(j->why), "%s image %s: %s", j->side->name,
		    what, strerror(j->prep_err));
		fail_why(j);
		return;
	}
	if (j->prep == NULL) {
		/* One asked for "now" goes with the next batch (submit). */
		if (j->side_rewrite && !j->side_rewrite_now)
			start_prep(j);
		return;
	}
	if (!j->prep->prepared)
		return;
	if (j->stats.failures != j->prep->failures) {
		/* The disk failed and recovered since: the image may hold lost changes. */
		drop_prep(j);
		start_prep(j);
		return;
	}
	if (!j->in_flight)
		submit_commit(j);
}

/*
 * Starts the next batch when one is wanted and gather_due says it is time,
 * or sets the timer for when to look again.  Called before each poll, at
 * each completion and when the timer expires.
 */
static void
kick(struct journal *j)
{
	uint64_t at = 0;

	if (j->state == J_OK && j->side != NULL)
		kick_rewrite(j);
	if ((j->pending.len == 0 && !(j->side_rewrite_now && j->prep == NULL)) ||
	    j->in_flight || j->state != J_OK || !side_pending_fits(j)) {
		arm(j, 0);
		return;
	}
	if (gathering(j) && j->pending.len > 0)
		at = gather_due(&j->gather, uv_hrtime(), pending_records(j));
	else if ((at = none_due(j)) != 0) {
		arm(j, at);
		return;
	}
	if (at != 0) {
		j->held = 1;
		/* An earlier expiry stays: it asks again then. */
		if (j->armed_at == 0 || at < j->armed_at)
			arm(j, at);
		return;
	}
	arm(j, 0);
	if (j->held)
		j->stats.batches_held++;
	j->held = 0;
	submit(j);
}

static void
on_prepare(uv_prepare_t *h)
{
	kick(h->data);
}

static void
on_gather_timer(uv_poll_t *h, int status, int events)
{
	struct journal *j = h->data;
	uint64_t expirations;

	(void)status;
	(void)events;
	/* Nonblocking: nothing to read (EAGAIN) after a re-arm is fine. */
	if (read(j->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_warn("gather timer: %s", strerror(errno));
	j->armed_at = 0;
	kick(j);
}

uint64_t
journal_append_side(struct journal *j, const char *payload, size_t len,
    const void *side, size_t side_len)
{
	size_t mark;
	uint64_t lsn;

	if (j->side == NULL || j->state != J_OK || side_len > WAL_MAX_PAYLOAD)
		return 0;
	mark = j->side_pending.len;
	if (wal_buf_add_batched(&j->side_pending, j->last_lsn + 1, side, side_len) != 0)
		return 0;
	lsn = journal_append(j, payload, len);
	if (lsn == 0) {
		explicit_bzero(j->side_pending.data + mark, j->side_pending.len - mark);
		j->side_pending.len = mark;
		return 0;
	}
	j->side_pending_last = lsn;
	j->stats.side_records++;
	j->stats.side_bytes += WAL_HEADER + side_len;
	return lsn;
}

uint64_t
journal_side_rewrite_now(struct journal *j)
{
	if (j->side == NULL)
		return 0;
	j->side_rewrite_now = 1;
	return journal_side_rewrite(j);
}

uint64_t
journal_side_rewrite(struct journal *j)
{
	if (j->side == NULL)
		return 0;
	j->side_rewrite = 1;
	/* An image in flight was taken before now: ours is the one after it. */
	return j->stats.side_rewrites + (j->side_rewriting ? 1 : 0) + 1;
}

int
journal_side_rewrite_pending(const struct journal *j)
{
	return j->side_rewrite || j->side_rewriting;
}

void
journal_note_return(struct journal *j)
{
	gather_returned(&j->gather);
}

uint64_t
journal_append(struct journal *j, const char *payload, size_t len)
{
	int first;

	if (j->state != J_OK || len > WAL_MAX_PAYLOAD)
		return 0;
	if (wal_buf_add_batched(&j->pending, j->last_lsn + 1, payload, len) != 0)
		return 0;
	if ((first = j->pending.len == WAL_HEADER + len)) {
		j->pending_first = j->last_lsn + 1;
		j->pending_ns = uv_hrtime();
	}
	j->last_lsn++;
	/* A clock read per record only while batches may wait (kick). */
	if (gathering(j))
		gather_arrived(&j->gather, first ? j->pending_ns : uv_hrtime());
	j->stats.records++;
	j->stats.bytes += WAL_HEADER + len;
	/* Without durability the change counts as done once it is queued. */
	if (j->mode == DUR_NONE)
		j->durable_lsn = j->last_lsn;
	return j->last_lsn;
}

/* ---- failure, rebuild, probe ---- */

struct jrecover {
	uv_work_t req;
	struct journal *j;
	int fd;
	uint64_t good;
	int side_fd;		/* -1: no side stream */
	uint64_t side_good;
	int err;
};

/*
 * Cuts the journal, and the side stream's log, back to what was
 * acknowledged (pool thread).
 */
static void
work_recover(uv_work_t *req)
{
	struct jrecover *w = (struct jrecover *)req;

	if (ftruncate(w->fd, (off_t)w->good) != 0 || fdatasync(w->fd) != 0)
		w->err = errno;
	else if (w->side_fd >= 0 && (ftruncate(w->side_fd, (off_t)w->side_good) != 0 ||
	    fdatasync(w->side_fd) != 0))
		w->err = errno;
}

/* Reads the side stream back after the main journal was; 0 or -1 (err). */
static int
load_side(struct journal *j, const garage *g, uint64_t last, char *err,
    size_t errlen)
{
	uint64_t len;

	if (j->side == NULL)
		return 0;
	if (sidestore_load(j->side_paths, j->side, g, last, &len, err,
	    errlen) != 0)
		return -1;
	j->side_offset = len;
	j->stats.side_log_bytes = len;
	return 0;
}

/* Takes the state rebuilt from disk at r in place of the one that was ahead. */
static void
rebuilt(struct journal *j, garage *g, const struct recovery *r, uint64_t good)
{
	j->last_lsn = j->durable_lsn = j->written_lsn = r->last;
	j->offset = good;
	j->g = g;
	snapshot_rebuilt(j->snaps, r->snap, r->last);
	j->state = J_DEGRADED;
	j->ahead = 0;
	log_info("state rebuilt from disk, changes wait for the disk to take writes "
	    "again lsn=%" PRIu64, j->last_lsn);
	if (j->hooks.rebuilt)
		j->hooks.rebuilt(j->hooks.ud, g);
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
	struct recovery r;
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
	g = recovery_run(j->dir, j->hooks.make_garage, j->hooks.make_ud, 0, &r,
	    err, sizeof(err));
	if (g != NULL && load_side(j, g, r.last, err, sizeof(err)) != 0) {
		garage_free(g);
		g = NULL;
	}
	if (g == NULL) {
		log_warn("recovery failed, retrying error=\"%s\"", err);
		j->state = J_FAILED;
		snprintf(j->why, sizeof(j->why), "recovery: %.140s", err);
	} else {
		rebuilt(j, g, &r, w->good);
	}
	free(w);
}

struct jprobe {
	uv_work_t req;
	struct journal *j;
	char path[DATADIR_PATH_MAX];
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
	if (fd < 0 || datadir_write_at(fd, zeros, PROBE_BYTES, 0) != 0 ||
	    fdatasync(fd) != 0)
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
		log_info("the disk takes writes again, changes are accepted");
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
	if (j->state != J_FAILED || j->in_flight || snapshot_busy(j->snaps))
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return;
	w->j = j;
	w->fd = j->fd;
	w->good = j->offset;
	w->side_fd = j->side_fd;
	w->side_good = j->side_offset;
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
	j->stats.failures++;
	log_err("failed, changes are refused until the disk recovers reason=\"%s\"",
	    j->why);
	wal_buf_free(&j->pending);
	wipe_buf(&j->side_pending);
	/* A snapshot in the works may include changes that will now never be. */
	snapshot_invalidate(j->snaps);
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

/* ---- open, state, close ---- */

/* What the snapshotter may image: nothing while memory may be ahead. */
static const garage *
snap_state(void *ud, uint64_t *last, uint64_t *durable)
{
	struct journal *j = ud;

	if (j->state != J_OK)
		return NULL;
	*last = j->last_lsn;
	*durable = j->durable_lsn;
	return j->g;
}

static void
snap_committed(void *ud)
{
	struct journal *j = ud;

	j->stats.snapshots++;
}

/*
 * Creates the data directory (0700) when it is missing and locks it, before
 * recovery reads or cuts anything: a second daemon stops here.
 */
static int
take_dir(struct journal *j, char *err, size_t errlen)
{
	if (mkdir(j->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "data_dir %s: %s", j->dir, strerror(errno));
		return -1;
	}
	j->lock_fd = datadir_lock(j->dir, err, errlen);
	return j->lock_fd < 0 ? -1 : 0;
}

/* Rebuilds the state from disk at start-up, timing it; NULL with err. */
static garage *
recover_at_start(struct journal *j, struct recovery *r, char *err, size_t errlen)
{
	struct timespec t0, t1;
	garage *g;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	g = recovery_run(j->dir, j->hooks.make_garage, j->hooks.make_ud, 1, r,
	    err, errlen);
	if (g == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	j->stats.last_recovery_s = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	j->stats.recovered_records = r->applied;
	log_info("recovered dir=%s lsn=%" PRIu64 " replayed=%" PRIu64 " seconds=%.3f",
	    j->dir, r->last, r->applied, j->stats.last_recovery_s);
	return g;
}

/* journal.none_delay_ms, when nobody waits for the writes it delays. */
static uint64_t
none_delay_ns(const struct settings *cfg)
{
	if (cfg->durability != DUR_NONE || cfg->repl.primary.enabled ||
	    (cfg->repl.listen.enabled && cfg->repl.mode == REPL_SYNC))
		return 0;
	return (uint64_t)cfg->journal.none_delay_ms * 1000000u;
}

/* Without it batches start at once, as they did before gathering. */
static void
start_gather_timer(struct journal *j)
{
	j->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (j->tfd < 0) {
		log_warn("no gather timer (%s): each batch starts at once", strerror(errno));
		return;
	}
	if (uv_poll_init(j->loop, &j->gather_poll, j->tfd) != 0) {
		log_warn("no gather timer (uv_poll_init): each batch starts at once");
		close(j->tfd);
		j->tfd = -1;
		return;
	}
	j->gather_poll.data = j;
	uv_poll_start(&j->gather_poll, UV_READABLE, on_gather_timer);
	uv_unref((uv_handle_t *)&j->gather_poll);
}

static void
start_handles(struct journal *j)
{
	uv_prepare_init(j->loop, &j->prepare);
	j->prepare.data = j;
	uv_prepare_start(&j->prepare, on_prepare);
	uv_unref((uv_handle_t *)&j->prepare);
	gather_init(&j->gather);
	if (j->mode == DUR_FSYNC || j->mode == DUR_NONE)
		start_gather_timer(j);
	uv_timer_init(j->loop, &j->retry_timer);
	j->retry_timer.data = j;
	uv_unref((uv_handle_t *)&j->retry_timer);
}

/*
 * Opens the side stream after the main journal was recovered at last:
 * reads it back, opens its log and, when the log holds records (a rewrite
 * a crash or a stop interrupted, erasures not yet done), rewrites it
 * before anything is served.  0 or -1 (err).
 */
static int
open_side(struct journal *j, const garage *g, uint64_t last, char *err,
    size_t errlen)
{
	struct jwork *w;
	int rc = 0;

	if (j->side == NULL)
		return 0;
	if ((j->side_paths = malloc(sizeof(*j->side_paths))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sidestore_paths(j->side_paths, j->dir, j->side->name);
	if (load_side(j, g, last, err, errlen) != 0 ||
	    (j->side_fd = sidestore_open_log(j->side_paths, err, errlen)) < 0)
		return -1;
	if (j->side_offset == 0)
		return 0;
	j->last_lsn = last;
	j->side_rewrite = 1;
	if ((w = take_batch(j, 1)) == NULL || !w->rewriting) {
		snprintf(err, errlen, "out of memory");
		work_free(w);
		return -1;
	}
	rewrite_side(w);
	j->side_rewriting = 0;
	if (w->image_nomem) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	} else if (w->err != 0) {
		snprintf(err, errlen, "%s: %s: %s", j->side_paths->dir, w->what,
		    strerror(w->err));
		rc = -1;
	} else {
		side_wrote(j, w);
	}
	work_free(w);
	return rc;
}

struct journal *
journal_open(uv_loop_t *loop, const struct settings *cfg,
    const struct journal_hooks *hooks, garage **gout, char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));
	struct snapshot_hooks sh = { j, snap_state, snap_committed };
	struct recovery r;
	garage *g = NULL;

	*gout = NULL;
	if (j == NULL || (j->dir = strdup(cfg->data_dir)) == NULL) {
		free(j);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->loop = loop;
	j->hooks = *hooks;
	j->mode = cfg->durability;
	j->gather_on = cfg->journal.gather;
	j->none_delay_ns = none_delay_ns(cfg);
	hist_init(&j->stats.write_s, hist_seconds, hist_seconds_n);
	hist_init(&j->stats.fsync_s, hist_seconds, hist_seconds_n);
	hist_init(&j->stats.queue_s, hist_seconds, hist_seconds_n);
	hist_init(&j->stats.handback_s, hist_seconds, hist_seconds_n);
	hist_init(&j->stats.commit_s, hist_seconds, hist_seconds_n);
	hist_init(&j->stats.batch_bytes, hist_bytes, hist_bytes_n);
	hist_init(&j->stats.batch_records, hist_counts, hist_counts_n);
	hist_init(&j->stats.side_copy_s, hist_seconds, hist_seconds_n);
	hist_init(&j->stats.side_rewrite_s, hist_seconds, hist_seconds_n);
	j->fd = -1;
	j->lock_fd = -1;
	j->side_fd = -1;
	j->tfd = -1;
	j->side = hooks->side;
	if (take_dir(j, err, errlen) != 0 ||
	    (g = recover_at_start(j, &r, err, errlen)) == NULL ||
	    open_side(j, g, r.last, err, errlen) != 0 ||
	    open_segment(j, &r, err, errlen) != 0)
		goto fail;
	if ((j->snaps = snapshot_new(loop, j->dir, cfg, &sh, r.snap)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	j->last_lsn = j->durable_lsn = j->written_lsn = r.last;
	j->g = g;
	start_handles(j);
	*gout = g;
	return j;
fail:
	garage_free(g);
	if (j->fd >= 0)
		close(j->fd);
	if (j->side_fd >= 0)
		close(j->side_fd);
	free(j->side_paths);
	if (j->lock_fd >= 0)
		close(j->lock_fd);
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

const struct snapshot_stats *
journal_snapshot_stats(const struct journal *j)
{
	return snapshot_stats(j->snaps);
}

void
journal_set_pace(struct journal *j, const struct settings *cfg)
{
	snapshot_set_pace(j->snaps, cfg);
	j->gather_on = cfg->journal.gather;
	j->none_delay_ns = none_delay_ns(cfg);
}

void
journal_retain_from(struct journal *j, uint64_t lsn)
{
	snapshot_retain_from(j->snaps, lsn);
}

const char *
journal_dir(const struct journal *j)
{
	return j->dir;
}

garage *
journal_new_garage(struct journal *j)
{
	return j->hooks.make_garage(j->hooks.make_ud);
}

int
journal_idle(const struct journal *j)
{
	return !j->in_flight && j->pending.len == 0 && j->side_pending.len == 0 &&
	    !j->side_rewrite && j->prep == NULL && j->prep_what == NULL;
}

/* Removes every snapshot but the one at keep, and every segment. */
static int
clear_dir(const char *dir, uint64_t keep, char *err, size_t errlen)
{
	struct datadir_list l;
	char path[DATADIR_PATH_MAX];
	int rc = 0;

	if (datadir_scan(dir, &l, 0, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < l.nsnap; i++) {
		if (l.snaps[i] == keep)
			continue;
		datadir_path(path, sizeof(path), dir, "snapshot", l.snaps[i], ".snap");
		if (unlink(path) != 0 && errno != ENOENT)
			rc = -1;
	}
	for (size_t i = 0; i < l.nseg; i++) {
		datadir_path(path, sizeof(path), dir, "journal", l.segs[i], ".log");
		if (unlink(path) != 0 && errno != ENOENT)
			rc = -1;
	}
	datadir_list_free(&l);
	if (rc != 0)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return rc;
}

int
journal_restart_at(struct journal *j, uint64_t lsn, garage *g, char *err,
    size_t errlen)
{
	const char *what = "";
	int fd;

	err[0] = '\0';
	if (j->state != J_OK || !journal_idle(j)) {
		snprintf(err, errlen, "the journal is busy or not taking changes");
		return -1;
	}
	/*
	 * The snapshot is committed already: a crash from here on recovers
	 * from it, whatever of the old files is left (all of them older).
	 */
	if (clear_dir(j->dir, lsn, err, errlen) != 0 || datadir_fsync(j->dir) != 0 ||
	    (fd = create_segment(j->dir, lsn + 1, &what)) < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", what, strerror(errno));
		journal_force_failure(j, "restart at a snapshot failed");
		return -1;
	}
	close(j->fd);
	j->fd = fd;
	j->seg_start = lsn + 1;
	j->offset = 0;
	j->last_lsn = j->durable_lsn = j->written_lsn = lsn;
	j->g = g;
	/* An image of the state before is of no use any more. */
	snapshot_invalidate(j->snaps);
	snapshot_rebuilt(j->snaps, lsn, lsn);
	log_info("restarted at a snapshot of the primary lsn=%" PRIu64, lsn);
	return 0;
}

/*
 * At shutdown: the pending batch, its side records and a rewrite asked
 * for, written here on the caller's thread as a pool job would.
 */
static void
close_batch(struct journal *j)
{
	struct jwork *w = take_batch(j, 1);

	if (w == NULL) {
		log_err("journal: out of memory writing the last batch");
		return;
	}
	w->sync = 1;
	work_write(&w->req);
	j->side_rewriting = 0;
	if (w->rotate && w->new_fd >= 0) {
		close(j->fd);
		j->fd = w->new_fd;
		j->seg_start = w->first;
		j->offset = 0;
	}
	if (w->main_done) {
		if (j->side != NULL)
			side_wrote(j, w);
		j->offset += w->len;
	}
	if (w->err != 0) {
		log_err("journal: %s at shutdown: %s", w->what, strerror(w->err));
		j->state = J_FAILED;
	}
	work_free(w);
}

void
journal_close(struct journal *j, garage *g)
{
	/*
	 * The loop has stopped: whatever is still pending is written here (a
	 * written image not yet in place is made again, in one go).
	 */
	if (j->prep != NULL)
		drop_prep(j);
	if (j->state == J_OK && (j->pending.len > 0 || j->side_pending.len > 0 ||
	    j->side_rewrite))
		close_batch(j);
	snapshot_close(j->snaps, j->state == J_OK ? g : NULL, j->last_lsn);
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	if (j->side_fd >= 0)
		close(j->side_fd);
	j->side_fd = -1;
	j->state = J_CLOSED;
	wal_buf_free(&j->pending);
	wipe_buf(&j->side_pending);
	uv_close((uv_handle_t *)&j->prepare, NULL);
	uv_close((uv_handle_t *)&j->retry_timer, NULL);
	if (j->tfd >= 0)
		uv_close((uv_handle_t *)&j->gather_poll, NULL);
}

void
journal_free(struct journal *j)
{
	if (j == NULL)
		return;
	snapshot_free(j->snaps);
	wal_buf_free(&j->pending);
	wipe_buf(&j->side_pending);
	wipe_buf(&j->image_spare);
	if (j->frozen_spare != NULL)
		j->side->frozen_free(j->frozen_spare);
	free(j->side_paths);
	if (j->tfd >= 0)
		close(j->tfd);
	/* Last: the data directory is ours until everything above is done. */
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	free(j->dir);
	free(j);
}
