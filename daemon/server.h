/*
 * server.h - the daemon's context: the loop, the listener, the clients,
 * the core, and the services the protocol layer borrows (ids, health,
 * auth).  One per process, passed explicitly to whatever needs it.
 */
#ifndef PARKD_SERVER_H
#define PARKD_SERVER_H

#include <stdint.h>

#include <uv.h>

#include "client.h"
#include "dropper.h"
#include "settings.h"
#include "garage.h"
#include "ids.h"
#include "jsonw.h"

struct journal_batch;
#include "methods.h"
#include "uuid7.h"

#define PARKD_VERSION "0.1.0"

struct client;

struct server_stats {
	uint64_t accepted;
	uint64_t refused;		/* over max_clients or not loopback in protected mode */
	uint64_t accept_errors;		/* accepts that failed (out of descriptors, ...) */
	uint64_t closed_output;		/* closed for passing max_output (or the total) */
	uint64_t closed_idle;
	uint64_t closed_slow;		/* a line not finished, or output not moving, in time */
	uint64_t requests;		/* lines handled (requests: see metrics.h) */
	uint64_t lines_too_long;
	uint64_t rate_limited;
	uint64_t auth_failures;
	uint64_t internal_errors;
	uint64_t subscribers_dropped;	/* closed for not reading their notifications */
};

struct server {
	uv_loop_t *loop;
	struct settings *cfg;
	garage *g;
	/* The LSNs the last release that moved answered: (from, to]. */
	uint64_t answered_from, answered;
	uv_tcp_t listener;
	struct dropper drop;		/* the listener's, out of memory */
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t tick;		/* once a second: idle sweep */
	uv_timer_t stop_timer;		/* bounds the drain at shutdown */
	uv_timer_t drain_timer;		/* ends the loop once clients are gone */
	uv_timer_t watchdog;		/* systemd watchdog, when asked for */
	int watchdog_on;
	struct subs *subs;		/* who is subscribed to what */
	struct outbox *outbox;		/* committed changes not yet published */
	struct due *due;		/* the timer on expiries, holds, no-shows */
	struct client *clients;
	struct client *noted;		/* clients with notes to send (client_note) */
	struct client *held;		/* clients with replies held (client_release_held) */
	struct client *to_flush;	/* clients to flush this turn (client_flush_soon) */
	uv_check_t flush_check;		/* ... after the turn's input */
	struct outbuf *spare_out;	/* reply buffers kept for reuse (client.c) */
	size_t n_spare_out;
	uint64_t n_clients;
	uint64_t clients_by_transport[CLIENT_TR__COUNT];
	uint64_t next_client_id;
	uint64_t out_total;		/* output all clients hold (max_output_total) */
	struct dict *per_address;	/* address -> clients connected from it */
	struct call_env env;
	struct ids ids;			/* ticket and event ids */
	uint64_t wall_ms;		/* the wall clock read at loop time wall_at */
	uint64_t wall_at;		/* uv_now() when it was read; 0: never */
	int64_t started_at;
	int shutting_down;
	int listening;
	struct server_stats stats;
	uint64_t accept_err_unlogged;	/* accept errors since the last log line */
	uint64_t accept_err_logged_ms;	/* when that line was written */
	int accept_err_status;		/* the last one */
	struct journal *journal;
	struct audit *audit;
	struct cityredis *city;		/* the city view (city.md) */
	struct http *http;
	struct metrics *metrics;	/* requests by method and outcome, latencies */
	struct authguard *auth;		/* failed auth calls by address */
	struct replication *repl;	/* primary or standby (replication.h); NULL: none */
	struct regstore *regstore;	/* the vehicle registry (NULL: none) */
	uint64_t auth_logged_ms;	/* when they were last summed up in the log */
	/* Re-reads the configuration (SIGHUP); set by main.  0 or -1 (logged). */
	int (*reload)(struct server *s);
	struct jw recw;			/* the commit step's record writer, reused */
	/* Shared read buffer: every read is consumed before the callback returns. */
	char readbuf[65536];
};

/*
 * Sets up the server on loop (cfg, g and j are borrowed; j may be NULL for
 * tests of the loop alone).  0 or -1 (logged).
 */
int server_init(struct server *s, uv_loop_t *loop, struct settings *cfg, garage *g,
    struct journal *j);

/*
 * Journal hooks (see journal.h): ud is the server.  server_on_durable also
 * runs when a standby acknowledges; it returns how many LSNs' replies it
 * released (how far the point replies wait for moved).
 */
uint64_t server_on_durable(void *ud, uint64_t durable);
/*
 * A client's new change, its previous one at prev_lsn (0: none): when the
 * last release answered that one, the client came straight back, and the
 * group commit is told (journal_note_return).
 */
void server_client_changed(struct server *s, uint64_t prev_lsn);
void server_on_journal_failed(void *ud, uint64_t durable, const char *why);
/*
 * The changes after kept will never be acknowledged (the journal failed,
 * or a fence came before a standby held them): their held replies fail,
 * with why instead of the prepared message when not NULL, and nobody
 * hears of them.
 */
void server_changes_lost(struct server *s, uint64_t kept, const char *why);
void server_on_rebuilt(void *ud, garage *g);
/* The journal's batch hook: the bytes of a batch on disk (replication). */
void server_on_batch(void *ud, const struct journal_batch *b);
/*
 * A standby became the primary (replication.h): what only a primary runs
 * starts now.  Timers that came due while it was a standby fire at once.
 */
void server_promoted(struct server *s);
/* Starts listening.  0 or -1 (logged). */
int server_listen(struct server *s);
/* Frees what server_init allocated, and s itself (after the loop ended). */
void server_free(struct server *s);
/* Stops accepting, lets clients drain, then lets the loop end. */
void server_shutdown(struct server *s);

/*
 * A listener's connection callback got an error (status < 0): counts it and
 * logs at most one line a second, with how many there were.
 */
void server_accept_error(struct server *s, int status);
/*
 * The peer of h as "host:port" (IPv6 as "[host]:port"), the address its
 * failed auth calls and connections are counted by (an IPv6 host has a /64
 * to choose from), and whether it is this machine.
 */
void server_peer_names(uv_tcp_t *h, char *peer, size_t plen, char *auth,
    size_t alen, int *loopback);

/*
 * Closes the clients with the largest output queues until all of them
 * together hold no more than limits.max_output_total.
 */
void server_shed_output(struct server *s);

/*
 * Counts a client from address addr; -1 when the address already has
 * limits.max_clients_per_address (or out of memory).  server_address_del
 * undoes a successful add.
 */
int server_address_add(struct server *s, const char *addr);
void server_address_del(struct server *s, const char *addr);

/*
 * Replies to changes up to this LSN may be sent: durable here and, in
 * sync replication, on a standby too.
 */
uint64_t server_durable(const struct server *s);

/* A fresh time-ordered id (tickets, receipts, audit events). */
void server_new_id(struct server *s, char out[UUID_BUFSZ]);

/* Wall-clock time in seconds. */
int64_t server_now(void);
/*
 * Wall-clock Unix milliseconds, read once per turn of the loop: what is
 * handled in one turn shares it, as it shares uv_now() (libuv updates
 * that once per turn, after polling).  For requests and ids.
 */
uint64_t server_wall_ms(struct server *s);
/* Milliseconds of the loop's clock. */
uint64_t server_ms(const struct server *s);

#endif
