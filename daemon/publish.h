/*
 * publish.h - committed changes handed to subscribers (registry.md,
 * protocol.md section 6).
 *
 * The commit step (daemon/commit.h) gives every change it journaled to
 * publish_change() with its record: the same bytes that went to the
 * journal and that the audit shipper stores.  They wait in an outbox until
 * publish_flush(), which the daemon calls once the reply of the request
 * that made them is queued (and a timer right after its own commit), so a
 * subscriber never reads of a change before the reply that caused it.
 *
 * A notification is {"jsonrpc":"2.0","method":"event","params":
 * {"subscription":ID,"topic":T, ...}}; for events and search topics the
 * params go on with the audit event's own members, spliced in as they were
 * encoded: the change is encoded once however many receive it.  Events
 * wait in the outbox until their change is durable (publish_durable()),
 * and are dropped if the journal loses it; then each client is given what
 * it receives of them as one message (client_note()): one queue entry and
 * one write a round, however many changes the round made durable.  The
 * reply that caused a change was queued before it became durable, so it
 * still goes first.
 *
 * Occupancy is coalesced by lib/subs.h (one timer on the earliest due
 * subscriber); gate signs are computed after each flush when anyone
 * watches a gate, and sent only when one flips.
 */
#ifndef PARKD_PUBLISH_H
#define PARKD_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "change.h"

struct server;

/* Sets up the outbox and the occupancy timer; 0 or -1 (out of memory). */
int publish_init(struct server *s);
/* Closes the timer (shutdown) and frees the outbox. */
void publish_close(struct server *s);
void publish_free(struct server *s);

/* One journaled change: its record (copied) and LSN. */
void publish_change(struct server *s, const struct change *c, const char *rec,
    size_t len, uint64_t lsn);
/*
 * After a request or a timer committed: marks occupancy, sends gate signs
 * that flipped, and delivers the events already durable.
 */
void publish_flush(struct server *s);
/* Every change up to durable is durable: its events go to their subscribers. */
void publish_durable(struct server *s, uint64_t durable);
/*
 * The round that is due goes now, not at its time: a client that starts
 * draining (half-closed, refused, shutdown) is written its events of
 * changes already durable before it closes.
 */
void publish_round_now(struct server *s);
/* The journal lost every change after durable: their events are dropped. */
void publish_changes_lost(struct server *s, uint64_t durable);

/*
 * A notification that is no event: params members written after
 * jw_members() (or NULL for none), topic and subscription added here.
 * Sent to one client, held until lsn is durable (0: at once).
 */
void publish_to(struct server *s, uint64_t client, const char *sub_id,
    const char *topic, const char *members, size_t mlen, uint64_t lsn);

/*
 * The connection that called `wait` (protocol.md section 6): client is to
 * receive waitlist.assigned or waitlist.expired of entry waitlist_id,
 * {"jsonrpc":"2.0","method":"event","params":{"topic":"waitlist",
 * "waitlist_id":ID, ...the audit event's members}}, once that change is
 * durable.  A later call for the same id moves it to the new client (a
 * gate that reconnected); the outcome or the client's end forgets it.
 */
void publish_watch_wait(struct server *s, uint64_t client,
    const char *waitlist_id);
/* The client is gone: it is told nothing more. */
void publish_drop_client(struct server *s, uint64_t client);

#endif
