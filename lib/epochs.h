/*
 * epochs.h - which primary wrote which part of a history of changes.
 *
 * A history of journal records begins in epoch 1 at LSN 1.  Promoting a
 * standby begins the next epoch at the LSN of its promotion record; every
 * record carries the epoch it was written in.  Two daemons that agree on
 * the epoch in force at an LSN hold the same records up to it (one primary
 * per epoch), which is what a primary checks before it streams to a
 * standby: the standby names its last LSN and the epoch in force there.
 *
 * The history is a short list of (epoch, first LSN), ascending in both.
 * It is plain data, copied with the state it describes (garage.h keeps
 * one, snapshots write it).  When the list is full, the oldest starts
 * after the first are merged into one span of unknown epochs
 * (EPOCHS_UNKNOWN, never a peer's): a judgement about an LSN in that span
 * says "diverged" where it might have said "follows", never the reverse.
 */
#ifndef PARKD_EPOCHS_H
#define PARKD_EPOCHS_H

#include <stddef.h>
#include <stdint.h>

#include "perr.h"

#define EPOCHS_MAX 32
/* The epoch of a span whose epochs were forgotten (no record has it). */
#define EPOCHS_UNKNOWN 0

struct epoch_start {
	uint32_t epoch;
	uint64_t lsn;		/* the first LSN written in it */
};

struct epochs {
	size_t n;		/* at least 1: epoch 1 from LSN 1 */
	struct epoch_start v[EPOCHS_MAX];
};

/* Epoch 1 from LSN 1, as a new history starts. */
void epochs_init(struct epochs *e);
/* The epoch in force now: the last one begun. */
uint32_t epochs_current(const struct epochs *e);
/* The LSN the current epoch began at. */
uint64_t epochs_current_since(const struct epochs *e);
/*
 * The epoch in force at lsn (epoch 1 for LSN 0, an empty history;
 * EPOCHS_UNKNOWN in a forgotten span).
 */
uint32_t epochs_at(const struct epochs *e, uint64_t lsn);

/*
 * Begins epoch at lsn.  PK_E_INVALID_PARAMS (nothing changed) unless both
 * are past the current epoch's.  EPOCHS_UNKNOWN may only follow the first
 * start (a snapshot of a history that forgot some).
 */
pk_err epochs_begin(struct epochs *e, uint32_t epoch, uint64_t lsn);

enum epochs_verdict {
	EPOCHS_FOLLOWS,		/* their records are ours up to their last: stream on */
	EPOCHS_NEWER,		/* they are in a later epoch than ours: we are stale */
	EPOCHS_DIVERGED		/* they hold records we do not (or others at our LSNs) */
};

/*
 * Judges a peer whose last LSN is their_last with their_epoch in force
 * there, against our history e whose last LSN is our_last.
 */
enum epochs_verdict epochs_judge(const struct epochs *e, uint64_t our_last,
    uint32_t their_epoch, uint64_t their_last);

#endif
