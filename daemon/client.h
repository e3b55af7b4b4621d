/*
 * client.h - one protocol client, whatever carries its messages.
 *
 * A client is a session (proto/session.h) plus everything the daemon keeps
 * for it: the ordered queue of replies, the rate limit, auth failures, the
 * answers that come later (history, nearby), and an explicit state
 * machine.  It knows nothing of sockets: a transport (TCP lines today,
 * WebSocket messages tomorrow) hands it one request message at a time and
 * writes the messages it is given, through struct client_transport.
 *
 * Output is bounded twice.  Above the high-water mark (half of
 * limits.max_output queued) the client stops taking requests until its
 * queue drains below a quarter; past limits.max_output it is closed and
 * counted.  A client whose queued output makes no progress for
 * limits.send_timeout_s is closed too (a peer that stopped reading).
 *
 * Lifetime follows libuv: client_close() asks the transport to close; the
 * transport calls client_transport_closed() from its close callback, and
 * the client is freed then, or later when the last deferred answer that
 * points to it has come back.
 */
#ifndef PARKD_CLIENT_H
#define PARKD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"

struct server;
struct client;
struct outbuf;

/* Failed auth calls after which a client is closed. */
#define CLIENT_MAX_AUTH_FAILURES 5
/* Look-ups (history, nearby) one client may have waiting on Redis. */
#define CLIENT_MAX_DEFERRED 16

#define CLIENT_STATES(X)                                                    \
	X(OPEN, "open")           /* taking requests, answering them */        \
	X(PAUSED, "paused")       /* output above high water: not taking any */ \
	X(DRAINING, "draining")   /* taking none; closes once output is sent */ \
	X(CLOSING, "closing")     /* the transport is closing */              \
	X(CLOSED, "closed")       /* closed; freed when no answer points here */

enum client_state {
#define CLIENT_STATE_ENUM(name, str) CLIENT_##name,
	CLIENT_STATES(CLIENT_STATE_ENUM)
#undef CLIENT_STATE_ENUM
};

const char *client_state_name(enum client_state st);

/* What carries a client's messages (logs, parkd_connections{transport}). */
#define CLIENT_TRANSPORTS(X)                                                \
	X(TCP, "tcp")             /* lines on the protocol port */             \
	X(WS, "ws")               /* WebSocket messages on GET /ws */

enum client_transport_kind {
#define CLIENT_TRANSPORT_ENUM(name, str) CLIENT_TR_##name,
	CLIENT_TRANSPORTS(CLIENT_TRANSPORT_ENUM)
#undef CLIENT_TRANSPORT_ENUM
	CLIENT_TR__COUNT
};

const char *client_transport_name(enum client_transport_kind k);

/* One message handed to a transport: text without framing. */
struct client_msg {
	const char *data;
	size_t len;
};

/*
 * What a transport does for its client.  tp is the transport's own
 * pointer given to client_new().
 */
struct client_transport {
	enum client_transport_kind kind;
	/*
	 * Messages are lines (the transport ends each with LF): several
	 * notifications may go as one message, joined by LF.
	 */
	int lines;
	/*
	 * Writes n messages in order, each framed as the transport frames
	 * them; calls client_written(c, n, status) when they are written (or
	 * failed).  The messages stay valid until then.  0, or -1 when the
	 * write could not be started (the client then closes).
	 */
	int (*write)(void *tp, const struct client_msg *m, size_t n);
	/* Stop and start delivering request messages. */
	void (*pause)(void *tp);
	void (*resume)(void *tp);
	/* Closes; the transport then calls client_transport_closed(). */
	void (*close)(void *tp);
};

struct client {
	struct client *prev, *next;	/* the server's list */
	struct server *srv;
	const struct client_transport *tr;
	void *tp;
	uint64_t id;
	enum client_state state;
	struct session sess;
	char peer[64];			/* address:port, for logs */
	int loopback;
	struct outbuf *out_head, *out_tail;	/* not yet handed to the transport */
	size_t out_pending;		/* bytes in that list */
	struct outbuf *flight_head, *flight_tail;	/* handed over, not yet written */
	size_t out_bytes;		/* bytes in both lists */
	uint64_t progress_ms;		/* when the in-flight list last moved */
	double tokens;			/* rate-limit bucket */
	uint64_t refill_ms;
	uint64_t active_ms;		/* last request or read, for the idle timeout */
	uint64_t partial_since_ms;	/* a message started and not finished; 0: none */
	int counted;			/* counted in its address's clients */
	int protected_role;		/* operator for want of tokens (protected mode) */
	int auth_failures;
	int refs;			/* deferred answers still on their way */
	/* Durable notifications gathered by client_note(), joined by LF. */
	char *notes;
	size_t notes_len, notes_cap;
	struct client *notes_next;	/* the server's list of clients with notes */
	int notes_listed;
	/*
	 * Listed in the server's clients whose replies wait for a change to
	 * be durable (pprev NULL: not listed), up to held_lsn.
	 */
	struct client *held_next, **held_pprev;
	uint64_t held_lsn;
	/* Listed in the server's clients to flush this turn (pprev NULL: not). */
	struct client *flush_next, **flush_pprev;
	uint64_t change_lsn;		/* the LSN of its latest change's reply */
	/* Draining: the journal's last LSN when it began (a subscriber's); 0: none. */
	uint64_t drain_lsn;
};

/*
 * A new client on transport tr (tp is passed back to tr's functions).
 * peer is "address:port"; auth_peer the address auth failures are counted
 * by (an IPv6 /64).  Linked into the server's list.  NULL when out of
 * memory (nothing to undo then).
 */
struct client *client_new(struct server *srv, const struct client_transport *tr,
    void *tp, const char *peer, const char *auth_peer, int loopback);

/*
 * Checks the client limits and protected mode for a new client; refuses
 * it with one error line when it may not stay.  0 when it is served.
 */
int client_admit(struct client *c);

/*
 * One request message (a line without its LF).  too_long marks one that
 * exceeded limits.max_line.  Its requests are counted in the request
 * metrics (metrics.h) once their reply is handed to the transport (at
 * once when there is no reply), with the time since this call as their
 * latency; the requests of a client closed before its reply went out
 * are not counted.  Returns 0 to be given the next message, 1
 * when the client takes no more for now (paused, draining or closed): the
 * transport keeps what it has not delivered until the client calls its
 * resume function.
 */
int client_message(struct client *c, const char *msg, size_t len, int too_long);

/* The peer sent everything it will send: answer what is queued, then close. */
void client_input_end(struct client *c);

/* The transport wrote n messages (status < 0: failed, close). */
void client_written(struct client *c, size_t n, int status);
/* The transport's handles are closed: free when nothing else refers to c. */
void client_transport_closed(struct client *c);

/*
 * Queues one message.  A reply to a change carries the LSN it waits for
 * and is held until the journal has made it durable; fail (may be NULL) is
 * sent instead if the journal loses it.  Replies never overtake each
 * other.  -1 when the client was closed (out of memory or past max_output).
 */
int client_send(struct client *c, const char *msg, uint64_t lsn,
    const char *fail);
/*
 * Queues a notification of len bytes, held until lsn is durable and
 * dropped if the journal loses that change.  A client past max_output is
 * closed and counted as a subscriber dropped; -1 then.
 */
int client_notify(struct client *c, const char *msg, size_t len, uint64_t lsn);
/*
 * Gathers a notification (the concatenation of nparts parts) of a change
 * that is durable already; the
 * server's client_notes_send() queues what a client gathered as one
 * message (a line transport; on others each goes at once, as
 * client_notify()).  One queue entry and one write for a round of
 * events instead of one each.  A client whose gathered and queued bytes
 * would pass max_output is closed and counted as a subscriber dropped.
 */
void client_note(struct client *c, const struct client_msg *parts,
    size_t nparts);
/* Queues and writes what every client gathered with client_note(). */
void client_notes_send(struct server *srv);
/* Hands the queued messages whose changes are durable to the transport. */
void client_flush(struct client *c);
/*
 * client_flush, at the end of this turn of the loop, once every client
 * that had input in it has been read: the replies of a turn then go out
 * one after the other, as Redis writes them before it sleeps.  Written as
 * each client was read, they went out several microseconds apart, and a
 * peer that waits on them (a gate, a load generator) was woken for each:
 * a wake-up on another CPU is an interrupt between CPUs, which on this
 * virtual machine cost more than the request (measured under issue 11).
 */
void client_flush_soon(struct client *c);
/* Runs the flushes client_flush_soon asked for (the server's check handle). */
void client_flush_all_soon(struct server *srv);
/*
 * Changes up to server_durable() are durable: flushes the clients holding
 * replies for them, and only those (a server with a thousand subscribers
 * and a few gates walks the gates).
 */
void client_release_held(struct server *srv);
/* Frees the reply buffers kept for reuse (server_free). */
void client_spares_free(struct server *srv);
/*
 * Every change after durable is lost (the journal's failure, or a fence
 * before a standby held them): swap in the fail messages, their message
 * replaced by why when not NULL.
 */
void client_changes_lost(struct client *c, uint64_t durable, const char *why);
/*
 * The tokens were reloaded: a connection that was operator only because
 * none were configured (protected mode) must now auth like any other.
 */
void client_tokens_changed(struct server *srv);
/* Takes no more requests and closes once everything queued is written. */
void client_drain(struct client *c);
/* Closes now; queued output is dropped. */
void client_close(struct client *c);
/* Bytes queued for the client and not yet written to the wire. */
size_t client_queued(const struct client *c);
/* A client with output in flight that has not moved for limit_ms. */
int client_stalled(const struct client *c, uint64_t now_ms, uint64_t limit_ms);

#endif
