/*
 * repl_standby.h - the standby's side of the replication stream
 * (standby.md): following a primary.
 *
 * The standby connects to replication.primary, presents the token and
 * says the last LSN it holds and the epoch in force there; it reconnects
 * with backoff (0.1 s doubling to 5 s, with jitter) forever.  Records
 * arrive in LSN order; each is checked (checksum, the next LSN, an epoch
 * not older than ours), applied to the garage with record_apply (the
 * replay recovery uses) and appended to the standby's own journal, whose
 * group commit makes them durable; every durable LSN is acknowledged.  A
 * snapshot, when the primary sends one, is written to the data directory
 * on the thread pool, committed, loaded and put in place of the state,
 * and the journal goes on after it.
 *
 * After a promotion the same connection machinery tells the old primary,
 * whenever it can be reached, that a newer epoch exists (fencing: a hello
 * with fence set); nothing is followed any more.
 *
 * Everything runs on the loop thread; snapshot writes run on the pool.
 */
#ifndef PARKD_REPL_STANDBY_H
#define PARKD_REPL_STANDBY_H

#include <stdint.h>

#include "jsonw.h"

struct server;
struct repl_standby;
struct replication_stats;

/* A follower of s's replication.primary (not started).  NULL when out of memory. */
struct repl_standby *repl_standby_new(struct server *s);
/* Starts following. */
void repl_standby_start(struct repl_standby *rs);

/* The journal made up to durable durable: acknowledge it, read on. */
void repl_standby_durable(struct repl_standby *rs, uint64_t durable);
/* The registry's store was rewritten: acknowledgements held for it go. */
void repl_standby_side_rewritten(struct repl_standby *rs);
/* The journal failed: drop the connection (it is made again once the journal takes changes). */
void repl_standby_journal_failed(struct repl_standby *rs);

/*
 * Promotion: stops following (a snapshot being received is thrown away)
 * and from now on only tells the old primary about our epoch.
 */
void repl_standby_promoted(struct repl_standby *rs);

/* The primary's address for clients, as it said in its welcome ("" before one). */
const char *repl_standby_primary(const struct repl_standby *rs);

/* Members of health's replication object; numbers for /metrics. */
void repl_standby_health(const struct repl_standby *rs, struct jw *w);
void repl_standby_stats(const struct repl_standby *rs,
    struct replication_stats *st);

/* Shutdown: closes the connection and the timer. */
void repl_standby_close(struct repl_standby *rs);
/* Frees rs (NULL is fine) once the loop has run the close callbacks. */
void repl_standby_free(struct repl_standby *rs);

#endif
