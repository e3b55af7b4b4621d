/*
 * datadir.h - the data directory: its file names, listing them, whole-file
 * reads and positioned writes, and the lock that keeps it to one daemon.
 *
 * Files (an LSN is written as 16 lowercase hex digits):
 *   journal-<first LSN>.log   a journal segment (journal.h)
 *   snapshot-<LSN>.snap       a committed snapshot (snapshot.h)
 *   snapshot-<LSN>.tmp        a snapshot being written, never committed
 *   audit.pos                 the audit shipper's position (audit.h)
 *   probe.tmp                 a degraded journal's test write
 *   LOCK                      the pid of the daemon holding the directory
 *
 * Every call here blocks on the file system.  Callers use them at start-up,
 * on the thread pool, in the snapshot child, at shutdown, and on the loop
 * only while a failed journal is rebuilt (changes are refused then anyway).
 * Errors are -1 with errno set unless said otherwise.
 */
#ifndef PARKD_DATADIR_H
#define PARKD_DATADIR_H

#include <stddef.h>
#include <stdint.h>

/* Room for a path in the data directory (the directory name included). */
#define DATADIR_PATH_MAX 4200

/* Writes "dir/<kind>-<lsn, 16 hex><ext>" into buf (cut short to len). */
void datadir_path(char *buf, size_t len, const char *dir, const char *kind,
    uint64_t lsn, const char *ext);

/* fsyncs the directory itself: names created, renamed or removed in it are
 * durable once this returns 0. */
int datadir_fsync(const char *dir);

/* Snapshot and segment LSNs, each ascending; the caller frees the arrays
 * with datadir_list_free. */
struct datadir_list {
	uint64_t *snaps, *segs;
	size_t nsnap, nseg;
};

/*
 * Lists the committed snapshots and the segments of dir.  With clean_tmp
 * (at start-up only: later a snapshot child may be writing one) it also
 * removes snapshot-*.tmp files, which were never committed.  Returns 0, or
 * -1 with the reason in err (l is then empty).
 */
int datadir_scan(const char *dir, struct datadir_list *l, int clean_tmp,
    char *err, size_t errlen);
/* Frees the arrays and leaves l empty. */
void datadir_list_free(struct datadir_list *l);

/*
 * Reads the whole file at path into *buf (malloc'ed, the caller frees it,
 * with a NUL after the *len bytes so that text in it can be scanned).
 * Returns 0, or -1 with errno set and *buf NULL.
 */
int datadir_read_file(const char *path, unsigned char **buf, size_t *len);

/*
 * Writes all of p[0..len) at offset off with pwrite(2), retrying short
 * writes.  fd must not be open with O_APPEND: Linux's pwrite then ignores
 * off and appends, so no descriptor in the data directory is opened so.
 */
int datadir_write_at(int fd, const void *p, size_t len, uint64_t off);

/*
 * Makes path (in dir) hold p[0..len), or leaves it as it was: writes tmp
 * (created 0600), fdatasyncs and closes it, renames it over path and
 * fsyncs dir.  0, or -1 with errno set and *what naming the step (tmp is
 * removed unless it was renamed); *renamed is 1 once path is the new
 * file (then only the directory's fsync can have failed).
 */
int datadir_replace(const char *dir, const char *path, const char *tmp,
    const void *p, size_t len, int *renamed, const char **what);

/*
 * datadir_replace in two steps, for a caller that does other work between
 * them: datadir_write_tmp writes, fdatasyncs and closes tmp (removed
 * again on failure); datadir_commit_tmp renames it over path and fsyncs
 * dir.  Same errors, *what and *renamed.
 */
int datadir_write_tmp(const char *tmp, const void *p, size_t len,
    const char **what);
int datadir_commit_tmp(const char *dir, const char *path, const char *tmp,
    int *renamed, const char **what);

/*
 * Takes the data directory for this process: opens dir/LOCK (created
 * 0600, close-on-exec), locks it with flock(LOCK_EX | LOCK_NB) and writes
 * the pid into it.  Returns the descriptor, which holds the lock until it
 * is closed or the process ends: keep it open for the daemon's whole life.
 * When another process holds the lock, returns -1 having written nothing,
 * with a message in err that names that process's pid as its LOCK says;
 * other failures are -1 with the reason in err.
 */
int datadir_lock(const char *dir, char *err, size_t errlen);

#endif
