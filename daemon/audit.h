/*
 * audit.h - shipping the journal's events to Redis, and reading them back.
 *
 * The journal is the source: the shipper reads records after the last LSN
 * Redis acknowledged (kept durable in data_dir/audit.pos), only up to the
 * durable LSN, and stores them with one Lua script per batch that skips
 * anything at or below the LSN Redis already holds for this data directory
 * (its epoch).  A batch re-sent after a lost reply is therefore stored once.
 *
 * Redis is an unreliable peer: hiredis 0.14.1's libuv adapter drops poll
 * errors and has no timeouts, so every connect and every batch runs
 * against a deadline on our own timer; on expiry the context is freed from
 * the timer (never from a hiredis callback) and a new one is made after a
 * backoff with jitter.  Nothing here ever waits on Redis in a request path.
 */
#ifndef PARKD_AUDIT_H
#define PARKD_AUDIT_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "journal.h"
#include "jsonw.h"

struct audit;

/*
 * Starts shipping per cfg->audit (state "off" when audit.redis is null).
 * Reads data_dir/audit.pos (start-up may block).  NULL only when out of
 * memory or the position file cannot be read or created.
 */
struct audit *audit_new(uv_loop_t *loop, const struct config *cfg,
    struct journal *j, char *err, size_t errlen);

/* The journal made more records durable: ship them when idle. */
void audit_kick(struct audit *a);

/* Writes the members state, pending, shipped, ... of an open object. */
void audit_health(const struct audit *a, struct jw *w);
/* "off", "connecting", "connected", ...; events durable but not stored; stored. */
const char *audit_state(const struct audit *a);
uint64_t audit_pending(const struct audit *a);
uint64_t audit_shipped(const struct audit *a);
/* Whether events are being stored (for health's status). */
int audit_ok(const struct audit *a);

/*
 * Reads a subject's newest `limit` events, oldest first.  cb gets the text
 * of a JSON array of them (valid only during the call), or NULL and a
 * reason.  Returns -1 without calling cb when Redis is not connected (the
 * caller answers unavailable at once).
 */
typedef void (*audit_history_cb)(void *ud, const char *events, size_t len,
    const char *why);
int audit_history(struct audit *a, const char *subject, int limit,
    audit_history_cb cb, void *ud);

/* Shutdown: persists the position, frees the Redis context and handles. */
void audit_close(struct audit *a);
void audit_free(struct audit *a);

#endif
