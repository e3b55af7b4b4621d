/*
 * commit.h - the one commit step.
 *
 * Every change the core makes, whether a request or a timer asked for it,
 * comes here as a value (lib/change.h) and goes through the same steps:
 * it is encoded once (lib/record.h: one text that is at once the journal
 * record and the audit event), appended to the journal, and the LSN the
 * caller's reply must wait for is returned.  The audit shipper reads the
 * same bytes back from the journal once they are durable.  Nothing else
 * in the daemon encodes or journals a change.
 */
#ifndef PARKD_COMMIT_H
#define PARKD_COMMIT_H

#include <stdint.h>

#include "change.h"
#include "garage.h"

struct server;

/*
 * Commits ch (changes just made in g, in order).  *hold gets the LSN a
 * reply acknowledging them must wait for (0 when there is nothing to wait
 * for); with acks_earlier it is at least the last LSN journaled so far.
 * Returns 0, or -1 when a change could not be journaled: the journal is
 * then declared failed, so the state is rebuilt from disk and the change
 * undone, and the caller must not acknowledge it.
 */
int commit_changes(struct server *s, const garage *g, const struct changes *ch,
    int acks_earlier, uint64_t *hold);

#endif
