/*
 * journal.h - durability: the write-ahead journal, snapshots and recovery.
 *
 * Every change of state is appended as a record (lib/record.h framed by
 * lib/wal.h) before its reply is sent.  Appends collect in memory; at the
 * end of each loop iteration the whole batch is written, and in "fsync"
 * mode fdatasync'ed, on the libuv thread pool (group commit: one fsync
 * serves every change that waited for it).  Replies wait for the LSN of
 * their change to become durable.
 *
 * Files in the data directory:
 *   journal-<first LSN, 16 hex>.log   segments, appended in order
 *   snapshot-<LSN, 16 hex>.snap       the whole state as of LSN
 * A snapshot is written by a forked child (copy-on-write: the loop keeps
 * serving), fsynced, and renamed into place only once its LSN is durable in
 * the journal.  The newest two snapshots are kept, with every segment the
 * older of them needs, so that a corrupt newest snapshot can fall back.
 *
 * A failed write or fsync is never retried in place (the kernel may have
 * dropped the pages): the journal stops acknowledging, answers unavailable,
 * truncates back to the last durable byte and rebuilds the state from disk,
 * then resumes.
 */
#ifndef PARKD_JOURNAL_H
#define PARKD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "garage.h"

struct journal;

/* Builds an empty garage from the configuration (recovery starts from one). */
typedef garage *(*journal_make_garage)(void *ud);

struct journal_hooks {
	void *ud;			/* for the three notifications */
	journal_make_garage make_garage;
	void *make_ud;
	/* LSNs up to durable are on disk (or, in "none" mode, written). */
	void (*durable)(void *ud, uint64_t durable);
	/* Records after durable will never be: answer them unavailable. */
	void (*failed)(void *ud, uint64_t durable, const char *why);
	/* The state was rebuilt from disk after a failure: use g from now on. */
	void (*rebuilt)(void *ud, garage *g);
};

struct journal_stats {
	uint64_t records, bytes, batches, fsyncs, snapshots, failures;
	uint64_t max_batch;
	double last_recovery_s;
	uint64_t recovered_records;
};

/*
 * Opens the journal in cfg->data_dir (created 0700 when missing), loads the
 * newest valid snapshot and replays the journal into a garage built by
 * hooks->make_garage, which is returned in *g.  Runs before the loop does:
 * start-up may block.  Returns NULL with a message in err when the data
 * cannot be trusted (nothing is deleted then).
 */
struct journal *journal_open(uv_loop_t *loop, const struct config *cfg,
    const struct journal_hooks *hooks, garage **g, char *err, size_t errlen);

/*
 * Appends one record; returns its LSN, or 0 when the journal is not
 * accepting changes (failed, recovering) or out of memory.
 */
uint64_t journal_append(struct journal *j, const char *payload, size_t len);

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
/* "ok", "failed", "recovering", "closed"; why is "" or the reason. */
const char *journal_state(const struct journal *j, const char **why);
const struct journal_stats *journal_stats(const struct journal *j);

/* Segments holding records after lsn are kept (the audit shipper's position). */
void journal_retain_from(struct journal *j, uint64_t lsn);

/*
 * Clean shutdown: waits for writes in flight, writes a last snapshot of g,
 * closes the files and handles.  Blocking; call when the loop has no more
 * requests to serve.  cb runs once the handles are closed.
 */
void journal_close(struct journal *j, garage *g);
/* Frees the journal after the loop has run the close callbacks. */
void journal_free(struct journal *j);

/*
 * Reading the journal from a remembered position (the audit shipper).
 * Blocking: run it on the thread pool.  The cursor is the caller's; it
 * starts at next_lsn with positioned == 0 and is moved past what was read.
 */
struct journal_cursor {
	uint64_t next_lsn;
	uint64_t seg_start;
	uint64_t offset;
	int positioned;
};

struct journal_batch {
	size_t n;
	uint64_t *lsn;
	size_t *off, *len;	/* payload i is buf[off[i] .. off[i]+len[i]) */
	char *buf;
	uint64_t skipped;	/* LSNs that were pruned before they were read */
};

/*
 * Reads the records from cur->next_lsn up to upto (inclusive), at most
 * max_records of them and about max_bytes, into out.  Returns 0 (out->n may
 * be 0 when nothing is there yet) or -1 on an I/O error or out of memory.
 */
int journal_cursor_read(const char *dir, struct journal_cursor *cur,
    uint64_t upto, size_t max_records, size_t max_bytes,
    struct journal_batch *out);
void journal_batch_free(struct journal_batch *b);
const char *journal_dir(const struct journal *j);

#endif
