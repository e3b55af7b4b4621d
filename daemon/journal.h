/*
 * journal.h - the write-ahead journal: appends, group commit, and what
 * happens when the disk fails.
 *
 * Every change of state is appended as a record (lib/record.h framed by
 * lib/wal.h) before its reply is sent.  Appends collect in memory; at the
 * end of each loop iteration the whole batch is written, and in "fsync"
 * mode fdatasync'ed, on the libuv thread pool (group commit: one fsync
 * serves every change that waited for it).  Replies wait for the LSN of
 * their change to become durable (the durable hook).  Segments are named
 * by their first LSN (datadir.h) and a new one is begun past 64 MiB.
 *
 * The journal opens the data directory (recovery.h builds the state from
 * it), owns the snapshotter (snapshot.h), and is what the audit shipper
 * follows (its records are read back with jcursor.h).
 *
 * A failed write or fsync is never retried in place (the kernel may have
 * dropped the pages).  States: "ok" takes changes; "failed": the replies
 * waiting are answered unavailable (the failed hook), the journal is cut
 * back to the last durable byte and the state is rebuilt from disk at once
 * ("recovering", then the rebuilt hook); "degraded": memory matches the
 * disk again but changes are refused until a probe write to the data
 * directory succeeds, tried every second.
 */
#ifndef PARKD_JOURNAL_H
#define PARKD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "settings.h"
#include "garage.h"
#include "histogram.h"
#include "snapshot.h"

struct journal;

/* Builds an empty garage from the configuration (recovery starts from one). */
typedef garage *(*journal_make_garage)(void *ud);

struct wal_buf;

/*
 * A side stream: a store of its own beside the journal, for data that must
 * be as durable as the journal's but must not stay in its files (the
 * registry's contacts, which must be erasable).  Its records ride with
 * main records: journal_append_side() appends both under one LSN, and the
 * pool job of the batch writes (and in "fsync" mode fdatasyncs) the side
 * bytes first and the main batch after them, so that an LSN made durable
 * means its side bytes are durable too.  One hold, one thread-pool job.
 *
 * journal_side_rewrite() replaces the stream with an image of the state,
 * in the pipeline of the batches: the state is frozen (a copy, the freeze
 * hook) on the loop when the next batch is handed to the pool, so it holds
 * exactly the changes up to that batch's last LSN; the job writes the
 * batch, then makes the image from the copy, writes it to a temporary
 * file, syncs it, renames it into place, syncs the directory, and empties
 * and syncs the log.  Appends made meanwhile go
 * to the next batch, after the image: none is lost or written twice.
 *
 * Files, in data_dir/NAME/ (0700): NAME.db (the image), NAME.log (records
 * since), NAME.db.tmp (an image being written).  They are read back with
 * lib/sidelog.h at start-up, after the main journal, and when the state is
 * rebuilt after a failure: records after the journal's last LSN are cut,
 * damage is refused like the journal's.  A log left non-empty at start-up
 * is rewritten before the daemon serves (what a crash interrupted).
 */
struct journal_side_hooks {
	const char *name;		/* the directory and file stem */
	void *ud;
	/* Loading: forget the state, then apply the records in order. */
	void (*reset)(void *ud);
	int (*apply)(void *ud, uint64_t lsn, int from_image,
	    const char *payload, size_t len, char *err, size_t errlen);
	/* Every record read; g is the state the main journal rebuilt.  0 or -1. */
	int (*loaded)(void *ud, const garage *g, char *err, size_t errlen);
	/*
	 * A copy of the whole state for an image, taken on the loop into the
	 * memory of reuse (an earlier copy, wiped) when not NULL; NULL when
	 * out of memory, reuse then freed.  The image made from it on the
	 * thread pool, each record framed with lsn into b (0, or -1 when out
	 * of memory; it touches nothing but the copy and b); the copy wiped
	 * there (its memory kept for the next), or wiped and freed.  Making
	 * the image itself (JSON, checksums) on the loop held the gates for
	 * 50 ms at 150 000 registered vehicles.
	 */
	void *(*freeze)(void *ud, void *reuse);
	int (*image_frozen)(void *frozen, uint64_t lsn, struct wal_buf *b);
	void (*frozen_wipe)(void *frozen);
	void (*frozen_free)(void *frozen);
	/* A rewrite is on disk: the image of lsn, image_bytes long (may be NULL). */
	void (*rewritten)(void *ud, uint64_t lsn, uint64_t image_bytes);
};

/*
 * A batch on disk, as the batch hook hands it over (valid during the call
 * only): its records first .. last framed as in the segment (lib/wal.h),
 * and the side records that rode with them (wal.h, each carrying the LSN
 * of its main record; side_len 0 when none).
 */
struct journal_batch {
	const unsigned char *data;
	size_t len;
	const unsigned char *side;
	size_t side_len;
	uint64_t first, last;
};

struct journal_hooks {
	void *ud;			/* for the three notifications */
	journal_make_garage make_garage;
	void *make_ud;
	/*
	 * LSNs up to durable are on disk (or, in "none" mode, written).
	 * Returns how many records' replies went out now: the group commit
	 * waits a moment for that many to come back (gather.h); 0 with a
	 * synchronous standby that has not acknowledged them yet.
	 */
	uint64_t (*durable)(void *ud, uint64_t durable);
	/* Records after durable will never be: answer them unavailable. */
	void (*failed)(void *ud, uint64_t durable, const char *why);
	/* The state was rebuilt from disk after a failure: use g from now on. */
	void (*rebuilt)(void *ud, garage *g);
	/*
	 * A batch is on disk as the durable hook above says.  The
	 * replication stream sends these very bytes.  May be NULL.
	 */
	void (*batch)(void *ud, const struct journal_batch *b);
	/* The side stream, or NULL for none (borrowed for the journal's life). */
	const struct journal_side_hooks *side;
};

struct journal_stats {
	uint64_t records, bytes, batches, fsyncs, snapshots, failures;
	uint64_t max_batch;
	/* Batches whose start waited for the clients of the last (gather.h). */
	uint64_t batches_held;
	double last_recovery_s;
	uint64_t recovered_records;
	/*
	 * Each batch the pool wrote (failed ones too): how long write(2) and
	 * fdatasync took, timed on the pool thread around the calls, and how
	 * big it was.
	 */
	struct histogram write_s, fsync_s;
	struct histogram batch_bytes, batch_records;
	/*
	 * The rest of a batch's way (on one monotonic clock): handed to the
	 * pool until a pool thread began it (queue); its end there until the
	 * loop took the result and released the replies (handback); and, for
	 * each batch written (and synced, with fsync), its first record's
	 * append until then (commit: what the change that waited longest in
	 * it waited, gathering included).
	 */
	struct histogram queue_s, handback_s, commit_s;
	/* The side stream: bytes appended, its log's length now, rewrites. */
	uint64_t side_records, side_bytes, side_log_bytes, side_rewrites;
	uint64_t side_image_bytes;	/* the last image's size */
	/*
	 * Rewrites: the state's copy on the loop (what the gates wait for), and
	 * from the copy to the image in place.
	 */
	struct histogram side_copy_s, side_rewrite_s;
};

/*
 * Opens the journal in cfg->data_dir (created 0700 when missing): takes the
 * directory's lock (datadir_lock) before anything else, loads the newest
 * valid snapshot and replays the journal into a garage built by
 * hooks->make_garage, which is returned in *g.  The lock is held until
 * journal_free.  Runs before the loop does: start-up may block.  Returns
 * NULL with a message in err when another daemon holds the directory (its
 * pid is named; no file was touched) or the data cannot be trusted
 * (nothing is deleted then).
 */
struct journal *journal_open(uv_loop_t *loop, const struct settings *cfg,
    const struct journal_hooks *hooks, garage **g, char *err, size_t errlen);

/*
 * Appends one record; returns its LSN, or 0 when the journal is not
 * accepting changes (failed, recovering) or out of memory.
 */
uint64_t journal_append(struct journal *j, const char *payload, size_t len);

/*
 * Appends a main record and the side record that goes with it, under one
 * LSN (see struct journal_side_hooks); returns it, or 0 (nothing
 * appended) when there is no side stream, the journal is not accepting
 * changes, or memory ran out.  side[0..side_len) is copied; the copy is
 * wiped when written.
 */
uint64_t journal_append_side(struct journal *j, const char *payload,
    size_t len, const void *side, size_t side_len);
/*
 * Asks for a rewrite of the side stream.  It is made off the loop while
 * batches go on (a batch whose side records the image does not hold
 * waits for it to be in place).  Asking again before it began asks once.
 * Returns the ticket of the rewrite that will hold the state as it is
 * now: it is on disk once journal_stats()->side_rewrites reaches it
 * (0: no side stream).  journal_side_rewrite_now: in one job with the next
 * batch (one is sent for it when none is pending), so that the batch's
 * changes are durable only with the image: an erasure before the
 * acknowledgement.
 */
uint64_t journal_side_rewrite(struct journal *j);
uint64_t journal_side_rewrite_now(struct journal *j);
/* Whether a rewrite was asked for and has not reached the disk yet. */
int journal_side_rewrite_pending(const struct journal *j);

/* Whether changes are taken (state "ok"). */
int journal_writable(const struct journal *j);
/*
 * Whether memory matches what the disk holds: false from a failure until
 * the state has been rebuilt, when reads would show changes that were
 * answered unavailable.
 */
int journal_consistent(const struct journal *j);
/*
 * Declares the journal failed (the caller could not journal a change it
 * made in memory): the state is rebuilt from disk as after a write error.
 */
void journal_force_failure(struct journal *j, const char *why);
uint64_t journal_last(const struct journal *j);
uint64_t journal_durable(const struct journal *j);
/* Durable and also written to the file (differs from durable in "none"). */
uint64_t journal_written(const struct journal *j);
/* "ok", "failed", "recovering", "degraded", "closed"; *why is "" or the
 * reason (the journal's own buffer). */
const char *journal_state(const struct journal *j, const char **why);
const struct journal_stats *journal_stats(const struct journal *j);
/* The snapshotter's: when the newest was committed, how long it took. */
const struct snapshot_stats *journal_snapshot_stats(const struct journal *j);

/* The snapshot pace and journal.gather of cfg->journal from now on (a reload). */
void journal_set_pace(struct journal *j, const struct settings *cfg);

/* Segments holding records after lsn are kept (the audit shipper's position). */
void journal_retain_from(struct journal *j, uint64_t lsn);

/*
 * Clean shutdown: writes what is still pending, waits for a running
 * snapshot child, writes a last snapshot of g, closes the files and
 * handles.  Blocking; call once the loop has returned (nothing is in
 * flight on the thread pool then).
 */
void journal_close(struct journal *j, garage *g);
/* Frees the journal (NULL is fine) after the loop has run the close callbacks. */
void journal_free(struct journal *j);

/*
 * A client whose last change the last completed batch answered sent a new
 * one: gathering (gather.h) waits only while clients do that.
 */
void journal_note_return(struct journal *j);

/* The data directory (for readers of the journal's files). */
const char *journal_dir(const struct journal *j);

/* An empty garage from the configuration (the make_garage hook's). */
garage *journal_new_garage(struct journal *j);

/* Nothing is pending or being written: the files are at rest. */
int journal_idle(const struct journal *j);

/*
 * A standby took its primary's snapshot: data_dir holds the committed
 * snapshot-<lsn>.snap, and g is the state loaded from it (the journal's
 * from now on; the caller swaps it in).  Removes every other snapshot and
 * every segment (all of them older), begins a new segment at lsn + 1 and
 * goes on from lsn.  Only while journal_idle and taking changes.
 * Blocking (a few file operations, on the loop: it is rare).  0, or -1
 * with the reason in err: the journal is then failed (and rebuilds from
 * what the directory holds).
 */
int journal_restart_at(struct journal *j, uint64_t lsn, garage *g, char *err,
    size_t errlen);

#endif
