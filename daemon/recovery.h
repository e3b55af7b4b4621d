/*
 * recovery.h - building the state from the data directory: the newest
 * snapshot that loads, then the journal after it.
 *
 * Snapshots are tried newest first; one that does not verify is logged and
 * the one before it is tried.  The journal's records after the snapshot
 * are replayed in LSN order.  A torn or damaged tail of the last segment
 * (what a crash in the middle of a write leaves, or a power cut in the
 * middle of the last batch's fdatasync, which may have put some of its
 * pages on the disk and not others) is cut off with a log line giving the
 * bytes dropped.  Anything else is not a torn tail and recovery refuses,
 * deleting nothing: damage followed by a valid record that begins a later
 * batch (wal.h), damage before a later segment, missing LSNs, a record
 * that does not apply, or no loadable snapshot and a journal that does not
 * reach back to LSN 1.
 *
 * Blocking: at start-up, and on the loop after a journal failure (changes
 * are refused meanwhile, and the core must not run on two threads).
 */
#ifndef PARKD_RECOVERY_H
#define PARKD_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "garage.h"

/* Where recovery left the data directory. */
struct recovery {
	uint64_t last;		/* last LSN applied (or covered by the snapshot) */
	uint64_t snap;		/* the snapshot loaded, 0 = none */
	uint64_t seg_start;	/* the segment to append to, 0 = none yet */
	uint64_t seg_len;	/* its valid length */
	uint64_t applied;	/* journal records replayed */
};

/*
 * Builds the state of dir into a garage made by make(make_ud) (an empty
 * one; recovery may make and throw away several) and fills r.  truncate
 * (at start-up) cuts a torn tail off the last segment and removes
 * uncommitted snapshot files; without it the tail is only measured (after
 * a failure the journal has cut it back already).  Returns the garage (the
 * caller's), or NULL with the reason in err.
 */
garage *recovery_run(const char *dir, garage *(*make)(void *ud), void *make_ud,
    int truncate, struct recovery *r, char *err, size_t errlen);

#endif
