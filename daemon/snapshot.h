/*
 * snapshot.h - snapshots of the state: written by a forked child, committed
 * once the journal has made their LSN durable, pruned.
 *
 * A snapshot file is framed records (lib/wal.h), each with the snapshot's
 * LSN: the state as record_snapshot gives it, then the end marker
 * {"type":"snapshot.end","records":N}.  A child forked from the loop
 * writes the copy-on-write image to snapshot-<LSN>.tmp and fsyncs it while
 * the loop keeps serving; the thread pool renames it to .snap only once
 * the journal is durable up to LSN, so a snapshot never holds a change the
 * journal could still lose.  After a commit the newest two snapshots are
 * kept, with every segment the older one (or the audit shipper) needs, so
 * that a damaged newest snapshot can fall back to the one before.
 *
 * The journal owns the snapshotter, tells it what happens to the journal
 * and answers its questions through hooks.  Everything runs on the loop
 * thread unless said otherwise.
 */
#ifndef PARKD_SNAPSHOT_H
#define PARKD_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "settings.h"
#include "garage.h"

struct snapshots;

struct snapshot_hooks {
	void *ud;
	/*
	 * The state to image, the last LSN appended and the last durable one;
	 * NULL while the journal takes no changes (its memory may be ahead of
	 * the disk then, and nothing of it may be imaged or committed).
	 */
	const garage *(*state)(void *ud, uint64_t *last, uint64_t *durable);
	/* A snapshot was committed (for the journal's count). */
	void (*committed)(void *ud);
};

/*
 * A snapshotter for dir (copied): a snapshot after every
 * cfg->journal.snapshot_every records, and after snapshot_interval_s when
 * anything changed.  committed is the newest committed snapshot (0: none);
 * records are counted from it.  NULL when out of memory.
 */
struct snapshots *snapshot_new(uv_loop_t *loop, const char *dir,
    const struct settings *cfg, const struct snapshot_hooks *hooks,
    uint64_t committed);

/* Takes cfg->journal's pace from now on (a reload). */
void snapshot_set_pace(struct snapshots *s, const struct settings *cfg);

/*
 * The journal made records durable: commit a written snapshot whose LSN is
 * durable now, and start the next one when it is due.
 */
void snapshot_kick(struct snapshots *s);

/*
 * The journal failed: an image taken before may hold changes that will
 * never be durable (and whose LSNs will be used again), so a written or
 * running one is thrown away instead of committed.
 */
void snapshot_invalidate(struct snapshots *s);

/*
 * The journal's state was rebuilt from disk at LSN last from snapshot
 * committed (0: none); records are counted from last again.
 */
void snapshot_rebuilt(struct snapshots *s, uint64_t committed, uint64_t last);

struct snapshot_stats {
	/*
	 * When the newest snapshot was committed, in seconds since the epoch
	 * (for one from before the start: its file's modification time); 0
	 * when there is none.
	 */
	double committed_at;
	/*
	 * The newest one this process committed: from the fork to the
	 * commit, and the fork alone (the loop waits for that part); 0 when
	 * none yet.
	 */
	double last_duration_s, last_fork_s;
	/* Started and never committed: the child failed, the journal failed meanwhile, the rename failed. */
	uint64_t failed;
};

/* What the snapshotter has done (for /metrics). */
const struct snapshot_stats *snapshot_stats(const struct snapshots *s);

/* Whether a commit is renaming and pruning files (a rebuild waits for it). */
int snapshot_busy(const struct snapshots *s);

/* Segments holding records after lsn are kept (the audit shipper's position). */
void snapshot_retain_from(struct snapshots *s, uint64_t lsn);

/*
 * Clean shutdown, with the loop no longer running: waits for a running
 * child; then, when g is not NULL and lsn is past the newest committed
 * snapshot, writes, commits and prunes a last snapshot of g at lsn
 * (blocking; lsn must be durable); closes the timers.  A failed last
 * snapshot is only logged: the journal still has everything.
 */
void snapshot_close(struct snapshots *s, const garage *g, uint64_t lsn);
/* Frees s (NULL is fine) after the loop has run the close callbacks. */
void snapshot_free(struct snapshots *s);

/*
 * Loads the snapshot at lsn in dir into g, an empty garage, and counts its
 * records in *nrec.  Returns 0, or -1 with the reason in err; g then holds
 * part of the snapshot and must be thrown away.  Blocking.
 */
int snapshot_load(const char *dir, uint64_t lsn, garage *g, uint64_t *nrec,
    char *err, size_t errlen);

#endif
