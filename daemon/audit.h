/*
 * audit.h - shipping the journal's events to Redis, and reading them back.
 *
 * The journal is the source: the shipper reads records after the last LSN
 * Redis acknowledged (kept durable in data_dir/audit.pos), only up to the
 * durable LSN, and stores them with one Lua script per batch that skips
 * anything at or below the LSN Redis already holds for this data directory
 * (its epoch).  A batch re-sent after a lost reply is therefore stored once.
 *
 * Redis is an unreliable peer, and may be hostile or broken: the
 * connection (daemon/redisconn.h) runs every connect and every batch
 * against a deadline on our own timer, frees the context only from a timer
 * (never from a hiredis callback), reconnects after a backoff with jitter,
 * and refuses replies past the bounds below (dropping the connection at
 * once, with a log line and health's last_error naming why).  Nothing here
 * ever waits on Redis in a request path.  The bounds come from the replies
 * the shipper asks for: the store script's count (an integer), AUTH's
 * status, and a history look-up (an array of at most
 * AUDIT_REPLY_MAX_ELEMENTS events, each one journal record).
 */
#ifndef PARKD_AUDIT_H
#define PARKD_AUDIT_H

#include <stdint.h>

#include <uv.h>

#include "settings.h"
#include "journal.h"
#include "jsonw.h"
#include "wal.h"

/* The most elements of an array reply: history's largest limit. */
#define AUDIT_REPLY_MAX_ELEMENTS 1000
/*
 * The most bytes of all the strings of one reply together, and so of any
 * one of them: an event is a journal record, at most WAL_MAX_PAYLOAD.
 */
#define AUDIT_REPLY_MAX_BYTES WAL_MAX_PAYLOAD
/* The longest line: status, error and integer replies, length headers. */
#define AUDIT_REPLY_MAX_LINE (64u << 10)
/* Unparsed input held at once: one unfinished item (a line or a string). */
#define AUDIT_READER_MAX_BUF (AUDIT_REPLY_MAX_BYTES + AUDIT_REPLY_MAX_LINE)

struct audit;

/*
 * Starts shipping per cfg->audit (state "off" when audit.redis is null).
 * Reads data_dir/audit.pos (start-up may block).  NULL only when out of
 * memory or the position file cannot be read or created.
 */
struct audit *audit_new(uv_loop_t *loop, const struct settings *cfg,
    struct journal *j, char *err, size_t errlen);

/* The journal made more records durable: ship them when idle. */
void audit_kick(struct audit *a);

/*
 * Writes the members state, pending, oldest_unshipped_age_s, shipped, ...
 * of an open object.  state is "off", "disconnected", "connecting",
 * "connected", or "stalled" from the moment a command at Redis passes its
 * deadline until a batch is stored, through the reconnects in between (or
 * until nothing is left to ship and Redis answers or is connected again).
 * oldest_unshipped_age_s is how long ago the oldest durable record Redis
 * does not hold yet became durable (0 when none; a backlog from before the
 * start counts from the start).
 */
void audit_health(const struct audit *a, struct jw *w);
/* The state as audit_health names it; durable events not yet stored; stored. */
const char *audit_state(const struct audit *a);
uint64_t audit_pending(const struct audit *a);
uint64_t audit_shipped(const struct audit *a);
uint64_t audit_oldest_unshipped_age_s(const struct audit *a);
/* What the shipper has done since the start (all 0 when audit is off). */
struct audit_counts {
	uint64_t shipped;	/* events stored in Redis */
	uint64_t batches;	/* batches stored */
	uint64_t failures;	/* connects, AUTHs, batches, journal reads that failed, deadlines passed, replies refused */
	uint64_t connects;	/* connection attempts (health's "connects") */
	uint64_t dropped;	/* events pruned from the journal before Redis had them (audit.max_backlog) */
};
void audit_counts(const struct audit *a, struct audit_counts *c);
/*
 * Whether events are being stored (health's status): connected, not
 * stalled, and, while events wait, no failure since a batch was last stored.
 */
int audit_ok(const struct audit *a);

/*
 * Reads a subject's newest `limit` events (at most AUDIT_REPLY_MAX_ELEMENTS),
 * oldest first.  cb gets the text of a JSON array of them (valid only
 * during the call), or NULL and a reason.  Returns -1 without calling cb
 * when Redis is not connected (the caller answers unavailable at once).
 */
typedef void (*audit_history_cb)(void *ud, const char *events, size_t len,
    const char *why);
int audit_history(struct audit *a, const char *subject, int limit,
    audit_history_cb cb, void *ud);

/*
 * Replication (standby.md).  A standby holds its shipper (audit_hold):
 * it ships nothing, and its position follows what its primary says Redis
 * holds (audit_follow: the primary's key, the "epoch" of its history, and
 * its acknowledged LSN, cut to what this journal has).  audit.pos keeps
 * both, so a promoted standby (audit_release) goes on under the same key
 * and Redis skips what the old primary stored already.  A primary in sync
 * mode ships no record before a standby holds it too (audit_limit: fn
 * returns the highest such LSN).
 */
void audit_hold(struct audit *a);
void audit_follow(struct audit *a, const char *key, uint64_t acked);
void audit_release(struct audit *a);
void audit_limit(struct audit *a, uint64_t (*fn)(void *ud), void *ud);
/* The key Redis stores this history under ("" when off), and the LSN it holds. */
const char *audit_key(const struct audit *a);
uint64_t audit_acked(const struct audit *a);

/* Shutdown: persists the position, frees the Redis context and handles. */
void audit_close(struct audit *a);
void audit_free(struct audit *a);

#endif
