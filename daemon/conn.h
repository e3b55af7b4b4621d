/*
 * conn.h - one client connection: reading and framing lines, answering
 * them in order, bounded output, and an explicit state machine.
 *
 * Lifetime follows libuv: a connection is freed only in its close callback;
 * anyone who notices a reason to close calls conn_close() or conn_drain(),
 * which are safe to call more than once.
 */
#ifndef PARKD_CONN_H
#define PARKD_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "frame.h"
#include "session.h"

struct server;

/* Failed auth calls after which a connection is closed. */
#define CONN_MAX_AUTH_FAILURES 5
/* History look-ups one connection may have waiting on Redis. */
#define CONN_MAX_DEFERRED 16

#define CONN_STATES(X)                                                     \
	X(OPEN, "open")           /* reading requests, answering them */      \
	X(DRAINING, "draining")   /* not reading; closes once output is sent */ \
	X(CLOSING, "closing")     /* uv_close called; freed in its callback */

enum conn_state {
#define CONN_STATE_ENUM(name, str) CONN_##name,
	CONN_STATES(CONN_STATE_ENUM)
#undef CONN_STATE_ENUM
};

const char *conn_state_name(enum conn_state st);

struct outbuf;

struct conn {
	struct conn *prev, *next;
	struct server *srv;
	uv_tcp_t tcp;
	uint64_t id;
	enum conn_state state;
	framer *fr;
	struct session sess;
	char peer[64];
	int loopback;
	struct outbuf *out_head, *out_tail;	/* not yet handed to libuv */
	size_t out_pending;			/* bytes in that list */
	int writes_in_flight;
	double tokens;				/* rate-limit bucket */
	uint64_t refill_ms;
	uint64_t active_ms;			/* last read, for the idle timeout */
	int auth_failures;
	int refs;				/* deferred answers still on their way */
	int closed;				/* uv_close done; freed when refs is 0 */
};

/* Accepts a pending connection from the listener; 0 or -1 (logged). */
int conn_accept(struct server *srv, uv_stream_t *listener);

/*
 * Queues one response line (without newline); closes on max_output.  A
 * reply to a change carries the change's LSN and is held until the journal
 * has made that LSN durable; fail_line (may be NULL) is sent instead if the
 * journal loses it.  Replies never overtake each other.
 */
int conn_send(struct conn *c, const char *line, uint64_t lsn,
    const char *fail_line);
/* Hands the queued lines whose changes are durable to libuv. */
void conn_flush(struct conn *c);
/*
 * A place in the reply order for an answer that comes later (history).
 * The connection stays allocated until conn_fill() is called for it, even
 * if the client goes away meanwhile.
 */
struct outbuf *conn_reserve(struct conn *c);
/* Puts the late answer in its place (dropped if the client is gone). */
void conn_fill(struct conn *c, struct outbuf *slot, const char *line);

/* The journal lost every change after durable: swap in the fail lines. */
void conn_changes_lost(struct conn *c, uint64_t durable);
/* Stops reading and closes once everything queued has been written. */
void conn_drain(struct conn *c);
/* Closes now; queued output is dropped. */
void conn_close(struct conn *c);

#endif
