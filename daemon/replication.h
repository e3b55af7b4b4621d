/*
 * replication.h - the standby (standby.md), as the rest of the daemon sees
 * it: which role this daemon plays and what follows from it.
 *
 * A daemon whose replication.primary is set starts as a standby
 * (repl_standby.h): it follows that primary, applies and journals every
 * record, serves reads and answers every change not_primary; it runs no
 * timers and ships no audit events.  Any other daemon is a primary, and
 * with replication.listen set it serves standbys (repl_primary.h).
 *
 * `promote` turns a standby into a primary: it stops following, begins a
 * new epoch (a journaled change, lib/epochs.h), starts the listener,
 * audit shipping and the timers, and from then on tells its old primary
 * about the new epoch whenever it can reach it (fencing).
 *
 * The hooks below are called by the server, the journal's hooks and the
 * method table's call_env.  Everything runs on the loop thread.
 */
#ifndef PARKD_REPLICATION_H
#define PARKD_REPLICATION_H

#include <stddef.h>
#include <stdint.h>

#include "jsonw.h"

struct journal_batch;

struct server;
struct replication;

/* What /metrics shows of replication (both roles; zero where not one's own). */
struct replication_stats {
	int standby;			/* the role: 1 standby, 0 primary */
	uint32_t epoch;
	int sync;			/* mode sync */
	int sync_lost;			/* sync and no standby acknowledging */
	int fenced;
	/* primary */
	uint64_t standbys;		/* connected and past the hello */
	uint64_t streaming;		/* of them, caught up and live */
	uint64_t acked_lsn;		/* the highest a standby acknowledged */
	uint64_t lag_records;		/* the most a connected standby is behind */
	double lag_seconds;
	uint64_t dropped;		/* standbys dropped for falling behind max_lag_bytes */
	uint64_t bytes_sent;
	uint64_t snapshots_sent;
	uint64_t images_sent;		/* registry images, one each time a standby goes live */
	/* standby */
	int connected;			/* following (past the welcome) */
	uint64_t primary_lsn;		/* the primary's last durable LSN, as last heard */
	uint64_t applied_lsn;
	uint64_t connects;
	uint64_t snapshots_received;
	uint64_t records_received;
	uint64_t images_received;
};

/* What replication_writable answers besides 1 (changes may be made). */
#define REPLICATION_NOT_PRIMARY	(-1)
#define REPLICATION_NO_STANDBY	(-2)

/* The replication of s, in the role its configuration says.  NULL when out of memory. */
struct replication *replication_new(struct server *s);
/* Listens (primary) or starts following (standby).  0, or -1 (logged). */
int replication_start(struct replication *r);

int replication_is_standby(const struct replication *r);

/*
 * Whether changes may be made here now: 1; REPLICATION_NOT_PRIMARY with
 * *why the address clients should send changes to ("" when unknown);
 * REPLICATION_NO_STANDBY with *why saying so.  r may be NULL (1).
 */
int replication_writable(const struct replication *r, const char **why);
/* Replies may acknowledge changes up to this LSN (UINT64_MAX: no limit; r may be NULL). */
uint64_t replication_safe(const struct replication *r);
/* Whether health should say degraded, and why. */
int replication_degraded(struct replication *r, const char **why);

/* Journal hooks, passed on by the server. */
void replication_batch(struct replication *r, const struct journal_batch *b);
void replication_durable(struct replication *r, uint64_t durable);
/* The side stream was rewritten (journal_side_hooks.rewritten). */
void replication_side_rewritten(struct replication *r);
/* The journal failed: LSNs after durable will be used again for other records. */
void replication_journal_failed(struct replication *r, uint64_t durable);

/*
 * `promote`: 0 when this standby is now the primary and the caller makes
 * the promotion (garage_promote) at *lsn, the next LSN; 1 when it is the
 * primary already (nothing to do); -1 when it may not (why says so: a
 * fenced old primary, a journal that takes no changes).
 */
int replication_promote(struct replication *r, uint64_t *lsn, char *why,
    size_t whylen);

/* Members of health's "replication" object; numbers for /metrics. */
void replication_health(const struct replication *r, struct jw *w);
void replication_stats(const struct replication *r, struct replication_stats *st);

/* Shutdown: closes sockets and timers. */
void replication_close(struct replication *r);
/* Frees r (NULL is fine) once the loop has run the close callbacks. */
void replication_free(struct replication *r);

#endif
