/*
 * redisconn.h - one connection to Redis that never makes parkd wait, for
 * every part of the daemon that talks to Redis (the audit shipper, the
 * city view).
 *
 * Debian 12's hiredis 0.14.1 is used with care (LIBRARIES.md):
 *
 * - Its libuv adapter drops poll errors, so a refused connect may never
 *   be reported: parkd brings its own glue in the adapter's shape that
 *   hands poll errors to hiredis.
 * - It has no timeouts: a connect watchdog and a deadline for commands run
 *   on our own uv timer.  The deadline covers every command at Redis: it
 *   runs while any is outstanding and restarts whenever a reply comes.
 * - Freeing a context inside its own callbacks is a use-after-free: the
 *   context is freed only from a timer or from our poll callback, and a
 *   new one is made after a backoff with jitter (100 ms doubling to 5 s).
 * - Its reader has no limits and aborts on a reply nobody asked for: our
 *   reply functions sit in front of hiredis's own and refuse, before
 *   anything is allocated, arrays longer or deeper than the user's
 *   limits, more string bytes than it allows, and unasked replies; the
 *   reader's buffer is checked after every read.  A refused reply drops
 *   the connection at once, with a log line and last_error naming why.
 *
 * Lifetime: redisconn_close() (from the loop) drops the context and
 * closes the timers; redisconn_free() after the loop ran their close
 * callbacks.  Commands in flight are answered with a NULL reply whenever
 * the context goes (close, deadline, refused reply, disconnect).
 */
#ifndef PARKD_REDISCONN_H
#define PARKD_REDISCONN_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "settings.h"

#define REDISCONN_STATES(X)                                           \
	X(DOWN, "disconnected")       /* waiting to reconnect */       \
	X(CONNECTING, "connecting")   /* connect or AUTH in flight */ \
	X(READY, "connected")         /* commands may be sent */

enum redisconn_state {
#define REDISCONN_STATE_ENUM(name, str) RC_##name,
	REDISCONN_STATES(REDISCONN_STATE_ENUM)
#undef REDISCONN_STATE_ENUM
};

/* What a user accepts from Redis: anything beyond drops the connection. */
struct redisconn_limits {
	int max_elements;	/* elements of any one array */
	int max_depth;		/* array nesting: 0 flat only, 1 arrays of arrays */
	size_t max_total;	/* objects in one reply, all levels together */
	size_t max_bytes;	/* string bytes of one reply together */
	size_t max_line;	/* status, error, integer lines and length headers */
};

struct redisconn_cfg {
	const char *name;		/* in log lines: "audit: ..." */
	struct endpoint ep;		/* numeric host: resolving would block */
	const char *password;		/* AUTH after connecting; NULL: none */
	struct redisconn_limits lim;
	uint64_t connect_timeout_ms;	/* connect and AUTH together */
	uint64_t reply_timeout_ms;	/* a command's answer, after the last one */
};

/* What the user hears of the connection (every hook may be NULL). */
struct redisconn_hooks {
	void *ud;
	/* Connected (and authenticated): commands may be sent now. */
	void (*ready)(void *ud);
	/*
	 * The connection is gone and a reconnect is scheduled; the commands
	 * in flight have had their NULL replies.
	 */
	void (*down)(void *ud);
	/* A command went unanswered past its deadline (called before down). */
	void (*timed_out)(void *ud);
};

struct redisconn;

/*
 * reply is hiredis's, valid during the call; NULL means "not delivered"
 * (the connection went away): nothing may be assumed about the command.
 */
typedef void (*redisconn_reply_fn)(void *privdata, redisReply *reply);

/*
 * A connection per cfg (copied; password and name are copied too) that
 * starts connecting at once.  NULL when out of memory.
 */
struct redisconn *redisconn_new(uv_loop_t *loop,
    const struct redisconn_cfg *cfg, const struct redisconn_hooks *hooks);

/* RC_READY: commands may be sent. */
enum redisconn_state redisconn_state(const struct redisconn *rc);
const char *redisconn_state_name(enum redisconn_state st);
int redisconn_ready(const struct redisconn *rc);

/*
 * Sends one command (argv as redisAsyncCommandArgv: lens NULL for C
 * strings; hiredis copies the arguments at once) and starts or keeps the
 * deadline.  fn gets the reply, or NULL when it is not delivered.  0, or
 * -1 without calling fn when not ready or hiredis refused the command.
 */
int redisconn_command(struct redisconn *rc, redisconn_reply_fn fn,
    void *privdata, int argc, const char **argv, const size_t *lens);

/*
 * A reply proved that Redis works (a batch stored): the next reconnect
 * starts again from the shortest backoff.  A connect alone proves nothing.
 */
void redisconn_proven(struct redisconn *rc);
/*
 * Whether a failure was counted since the last redisconn_proven (or
 * since the start, when nothing proved Redis yet): a Redis that takes
 * connections and fails every command is connected between failures.
 */
int redisconn_failed_since_proven(const struct redisconn *rc);

/*
 * From a reply callback: Redis answered something unusable.  Counts a
 * failure, logs it as an error, keeps it as last_error, and drops the
 * connection from a timer right after (never inside hiredis).
 */
void redisconn_fail(struct redisconn *rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A failure of the user's own about this connection's work (a journal read
 * for the shipper): counted and kept as last_error like the connection's.
 */
void redisconn_note_error(struct redisconn *rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Connection attempts; failures (connects, AUTH, deadlines, refusals, notes). */
uint64_t redisconn_connects(const struct redisconn *rc);
uint64_t redisconn_failures(const struct redisconn *rc);
/* The last failure, "" when none. */
const char *redisconn_last_error(const struct redisconn *rc);

/* Drops the context (replies in flight come back NULL), closes the timers. */
void redisconn_close(struct redisconn *rc);
/* After the loop has run the close callbacks.  Accepts NULL. */
void redisconn_free(struct redisconn *rc);

#endif
