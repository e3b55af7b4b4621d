/*
 * repl_primary.h - the primary's side of the replication stream
 * (standby.md): the listener standbys connect to, and one sender for each.
 *
 * A standby connects, presents the token and says the last LSN it holds
 * and the epoch in force there (proto/repl.h).  When that is our history
 * (epochs_judge), it is sent the records after it in LSN order: read back
 * from the journal's files on the thread pool while it is behind, then
 * each group-commit batch as the journal writes it (the very bytes of the
 * segment, one copy shared by every standby).  When the journal no longer
 * holds the LSN it asks for, the newest snapshot goes first.  Records go
 * out once they are durable here, so a standby never holds a record this
 * journal could still lose.  A standby acknowledges the LSNs durable on
 * its own disk.
 *
 * Flow control: reading from the files waits while a standby has more
 * than a little queued; a standby streaming live with more than
 * replication.max_lag_bytes queued is dropped (it reconnects and catches
 * up from the files), so a standby that stops reading costs at most that
 * much memory.
 *
 * Sync mode: repl_primary_safe() is the highest LSN a standby has
 * acknowledged, and replies wait for it as they wait for fdatasync.  When
 * no standby has acknowledged for sync_timeout_ms (none streaming that
 * long, or the oldest record not acknowledged is that old) the standby is
 * lost: on_standby_loss "async" goes on alone (the cap is lifted) and
 * "refuse" refuses changes (repl_primary_refusing) until a standby is
 * streaming and acknowledging again.
 *
 * Fencing: a standby in a later epoch than ours (one that was promoted,
 * telling us on connect) means this daemon is no longer the primary: it
 * takes no changes from then on (repl_primary_fenced) and says so.
 *
 * Everything runs on the loop thread; file reads run on the thread pool.
 */
#ifndef PARKD_REPL_PRIMARY_H
#define PARKD_REPL_PRIMARY_H

#include <stddef.h>
#include <stdint.h>

#include "jsonw.h"

struct journal_batch;

struct server;
struct repl_primary;
struct replication_stats;

/* A sender for s's journal (not listening yet).  NULL when out of memory. */
struct repl_primary *repl_primary_new(struct server *s);
/* Listens on replication.listen.  0, or -1 (logged). */
int repl_primary_listen(struct repl_primary *rp);

/*
 * The journal wrote a batch (journal.h's batch hook): send it to the live
 * standbys, its side records first.
 */
void repl_primary_batch(struct repl_primary *rp, const struct journal_batch *b);
/* Drops every standby (why is logged; NULL: quietly). */
void repl_primary_drop_all(struct repl_primary *rp, const char *why);
/*
 * The journal failed: records after durable will be others.  Drops every
 * standby, and what was given past durable no longer counts as ours.
 */
void repl_primary_journal_failed(struct repl_primary *rp, uint64_t durable);

/*
 * A promoted standby's sender starts from what it holds: up to lsn (its
 * promotion) nothing waits for another standby.
 */
void repl_primary_start_at(struct repl_primary *rp, uint64_t lsn);
/* Replies may acknowledge changes up to this LSN (UINT64_MAX: no limit). */
uint64_t repl_primary_safe(const struct repl_primary *rp);
/* Sync mode with refuse: no standby, changes are refused (*why says so). */
int repl_primary_refusing(const struct repl_primary *rp, const char **why);
/*
 * A later epoch was seen: *epoch, and *by the address for clients of the
 * daemon that told us ("" when unknown).  0 while not fenced.
 */
int repl_primary_fenced(const struct repl_primary *rp, uint32_t *epoch,
    const char **by);
/* Sync mode and a standby lost: degraded (*why says how it goes on). */
int repl_primary_degraded(const struct repl_primary *rp, const char **why);

/* Members of health's replication object; numbers for /metrics. */
void repl_primary_health(const struct repl_primary *rp, struct jw *w);
void repl_primary_stats(const struct repl_primary *rp,
    struct replication_stats *st);

/* Shutdown: closes the listener and every standby. */
void repl_primary_close(struct repl_primary *rp);
/* Frees rp (NULL is fine) once the loop has run the close callbacks. */
void repl_primary_free(struct repl_primary *rp);

#endif
