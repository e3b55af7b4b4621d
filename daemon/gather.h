/*
 * gather.h - when the next group commit starts, in "fsync" mode.
 *
 * Started the moment the last one completes, the next batch holds only
 * the changes that arrived while the last fsync ran.  The clients whose
 * replies that completion released send their next change a moment later
 * and miss it: under steady load from N clients that each wait for their
 * reply (gates do), the batches settle at N/2 each, two fsyncs where one
 * would serve, and the clients split into two cohorts that take turns.
 * Measured with 64 such clients: 32 records a batch, every batch.
 *
 * So after a completion the journal waits a little for the released
 * clients to come back, and starts the next batch at the first of:
 *
 *   - the records pending reach the target: those pending at the
 *     completion plus those whose replies it released (everyone expected
 *     is in; with a synchronous standby that has not acknowledged yet, it
 *     released none, and nothing is waited for);
 *   - no record arrived for a quiet gap (the burst of returns is over, or
 *     there was none: the clients were not waiting on each reply);
 *   - the window since the completion has passed.
 *
 * The window is half the recent fsync time (at most GATHER_WINDOW_MAX_NS)
 * and the quiet gap a quarter of the window: a change never waits longer
 * for company than a fraction of the fsync it waits for anyway, and a
 * lone client, whose target is its own one record, does not wait at all.
 *
 * It waits only while the clients answered come straight back: after each
 * completion, the new changes of clients whose previous change that
 * completion answered are counted (gather_returned) against the records
 * it released, and a moving average of that share below one half turns
 * the waiting off until it rises again (it is measured whether or not a
 * batch waited).  Clients that send when they are answered give a share
 * near one; gates paced by their traffic (cars, not replies) come back
 * many commits later, and for them a wait would only add to every
 * change's latency.
 * A change that finds the journal idle long after the last completion
 * starts a batch at once.  The idea is MySQL's binlog group commit delay
 * (binlog_group_commit_sync_delay with ..._no_delay_count), made to adapt
 * to the disk and the load instead of being set by hand.
 *
 * Pure: times are given in nanoseconds of one monotonic clock; no clock
 * reads, no I/O, no allocation.
 */
#ifndef PARKD_GATHER_H
#define PARKD_GATHER_H

#include <stdint.h>

/* The longest a batch waits for company after a completion. */
#define GATHER_WINDOW_MAX_NS 1000000u

struct gather {
	uint64_t done_ns;	/* when the last batch completed; 0: never */
	uint64_t target;	/* records the next batch waits for */
	uint64_t last_ns;	/* the newest record's arrival */
	uint64_t fsync_ns;	/* moving average of the fsyncs; 0: none yet */
	uint64_t released;	/* records the last completion answered */
	uint64_t early;		/* clients it answered that came back since */
	unsigned returning;	/* moving average of early/released, of GATHER_ONE */
};

/* The share "all came back at once" in gather.returning. */
#define GATHER_ONE 1024u

void gather_init(struct gather *g);

/*
 * A batch completed at now: it had released records, pending are waiting
 * for the next one, and its fsync took fsync_ns (0: it did not sync).
 */
void gather_completed(struct gather *g, uint64_t now, uint64_t released,
    uint64_t pending, uint64_t fsync_ns);

/* A record was appended at now. */
void gather_arrived(struct gather *g, uint64_t now);
/* A client the last completion answered made its next change. */
void gather_returned(struct gather *g);

/*
 * With pending records waiting and no batch in flight: 0 when the next
 * batch should start now, else the time to ask again (a later arrival can
 * only move that time on, or make it 0).
 */
uint64_t gather_due(const struct gather *g, uint64_t now, uint64_t pending);

/* The window and the quiet gap now, in nanoseconds (0: no waiting). */
uint64_t gather_window(const struct gather *g);
uint64_t gather_quiet(const struct gather *g);

#endif
