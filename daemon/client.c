/* client.c - one protocol client over any transport (see client.h). */
#define LOG_COMPONENT "conn"

#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "authguard.h"
#include "cityredis.h"
#include "jsonrpc.h"
#include "log.h"
#include "metrics.h"
#include "poison.h"
#include "publish.h"
#include "subs.h"
#include "server.h"

static const char *const client_state_names[] = {
#define CLIENT_STATE_NAME(name, str) str,
	CLIENT_STATES(CLIENT_STATE_NAME)
#undef CLIENT_STATE_NAME
};

const char *
client_state_name(enum client_state st)
{
	return client_state_names[st];
}

static const char *const client_transport_names[] = {
#define CLIENT_TRANSPORT_NAME(name, str) str,
	CLIENT_TRANSPORTS(CLIENT_TRANSPORT_NAME)
#undef CLIENT_TRANSPORT_NAME
};

const char *
client_transport_name(enum client_transport_kind k)
{
	return (unsigned)k < CLIENT_TR__COUNT ? client_transport_names[k] : "?";
}

/*
 * One queued message.  It waits in the client's list until it may be
 * sent (not a reserved place still waiting for its answer, its change
 * durable), then in the in-flight list until the transport wrote it.
 *
 * A reply carries what became of the requests it answers and when their
 * line came in, so that they are counted (metrics_requests) when it is
 * handed to the transport: the latency a gate sees, durability included.
 * Both live in the same allocation as the text: no allocation per
 * request for metrics.
 */
struct outbuf {
	struct outbuf *next;
	int spare_sized;	/* OUTBUF_SPARE bytes: reused when freed */
	int waiting;		/* a reserved place whose answer has not come */
	int notice;		/* a notification: dropped when its change is lost */
	uint64_t lsn;		/* held until this LSN is durable; 0 = not held */
	char *fail;		/* sent instead when the change is lost, or NULL:
				 * in inline_data, after the message */
	size_t fail_len;
	char *late;		/* a late answer or a round of notes (malloc'd), or NULL */
	uint64_t t_in;		/* uv_hrtime() when the requests' line came in */
	size_t nreq;		/* requests answered (0: not a reply to requests) */
	struct session_req *reqs;	/* nreq of them, in inline_data */
	size_t len;
	char *data;		/* points into inline_data, to fail or to late */
	char inline_data[];
};

/* The requests of one reply to count, and when their line came in. */
struct reqs_in {
	const struct session_req *r;
	size_t n;
	uint64_t t_in;
};

static const struct reqs_in no_reqs = { NULL, 0, 0 };

/* Most messages handed to the transport in one write. */
#define WRITE_BATCH 64

static void client_free(struct client *c);

static size_t
high_water(const struct client *c)
{
	return (size_t)c->srv->cfg->limits.max_output / 2;
}

static size_t
low_water(const struct client *c)
{
	return (size_t)c->srv->cfg->limits.max_output / 4;
}

/* Bytes a client holds: queued, in flight, and the server's total. */
static void
account(struct client *c, size_t add, size_t sub)
{
	c->out_bytes += add;
	c->out_bytes -= sub;
	c->srv->out_total += add;
	c->srv->out_total -= sub;
}

/*
 * A queued message's buffer is allocated as OUTBUF_SPARE bytes when it
 * fits, and kept on the server's spare list when freed, up to
 * OUTBUF_SPARES of them: at pipeline 16 a turn makes hundreds of replies
 * before any is written, more than malloc's per-size cache holds, and
 * malloc and free of them were ~5 % of the daemon's CPU.  Bounded: at
 * most OUTBUF_SPARES * OUTBUF_SPARE bytes (512 KiB) wait unused.
 */
#define OUTBUF_SPARE	1024
#define OUTBUF_SPARES	512

/* Every queued message's buffer: size bytes, the header zeroed; or NULL. */
static struct outbuf *
outbuf_alloc(struct client *c, size_t size)
{
	struct server *srv = c->srv;
	int spare = size <= OUTBUF_SPARE;
	struct outbuf *b;

	if (spare && (b = srv->spare_out) != NULL) {
		MEM_UNPOISON(b, OUTBUF_SPARE);
		srv->spare_out = b->next;
		srv->n_spare_out--;
	} else if ((b = malloc(spare ? OUTBUF_SPARE : size)) == NULL) {
		return NULL;
	}
	memset(b, 0, sizeof(*b));
	b->spare_sized = spare;
	return b;
}

static void
outbuf_free(struct client *c, struct outbuf *b)
{
	struct server *srv = c->srv;

	account(c, 0, b->len);
	free(b->late);
	if (b->spare_sized && srv->n_spare_out < OUTBUF_SPARES) {
		b->next = srv->spare_out;
		srv->spare_out = b;
		srv->n_spare_out++;
		/* All but the link; client_spares_free reads it unpoisoned. */
		MEM_POISON((char *)b + sizeof(b->next),
		    OUTBUF_SPARE - sizeof(b->next));
		return;
	}
	free(b);
}

void
client_spares_free(struct server *srv)
{
	struct outbuf *b;

	while ((b = srv->spare_out) != NULL) {
		srv->spare_out = b->next;
		MEM_UNPOISON(b, OUTBUF_SPARE);
		free(b);
	}
	srv->n_spare_out = 0;
}

static void
free_list(struct client *c, struct outbuf **head, struct outbuf **tail)
{
	struct outbuf *b = *head, *next;

	for (; b != NULL; b = next) {
		next = b->next;
		outbuf_free(c, b);
	}
	*head = NULL;
	if (tail != NULL)
		*tail = NULL;
}

size_t
client_queued(const struct client *c)
{
	return c->out_bytes;
}

int
client_stalled(const struct client *c, uint64_t now_ms, uint64_t limit_ms)
{
	return c->flight_head != NULL && now_ms - c->progress_ms > limit_ms;
}

struct client *
client_new(struct server *srv, const struct client_transport *tr, void *tp,
    const char *peer, const char *auth_peer, int loopback)
{
	struct client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->srv = srv;
	c->tr = tr;
	c->tp = tp;
	c->id = ++srv->next_client_id;
	c->state = CLIENT_OPEN;
	c->loopback = loopback;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->sess.peer, sizeof(c->sess.peer), "%s", auth_peer);
	c->sess.g = srv->g;
	c->sess.env = &srv->env;
	/* Subscriptions know a client by its address in memory: unique while it lives. */
	c->sess.client = (uint64_t)(uintptr_t)c;
	c->tokens = (double)srv->cfg->limits.rate_burst;
	c->refill_ms = c->active_ms = c->progress_ms = server_ms(srv);
	c->next = srv->clients;
	if (srv->clients != NULL)
		srv->clients->prev = c;
	srv->clients = c;
	srv->n_clients++;
	srv->clients_by_transport[tr->kind]++;
	log_debug("connected client=%llu transport=%s peer=%s",
	    (unsigned long long)c->id, client_transport_name(tr->kind), c->peer);
	return c;
}

static void hold(struct client *c, uint64_t lsn);
static void unhold(struct client *c);

static void unlist_flush(struct client *c);

static void
client_free(struct client *c)
{
	struct server *srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->n_clients--;
	srv->clients_by_transport[c->tr->kind]--;
	if (c->counted)
		server_address_del(srv, c->sess.peer);
	subs_drop_client(srv->subs, c->sess.client);
	publish_drop_client(srv, c->sess.client);
	free_list(c, &c->out_head, &c->out_tail);
	free_list(c, &c->flight_head, &c->flight_tail);
	session_release(&c->sess);
	unhold(c);
	unlist_flush(c);
	/* Still waiting for its slice of a round: off the list. */
	for (struct client **p = &srv->noted; c->notes_listed && *p != NULL;
	    p = &(*p)->notes_next)
		if (*p == c) {
			*p = c->notes_next;
			break;
		}
	free(c->notes);
	free(c);
}

void
client_close(struct client *c)
{
	if (c->state == CLIENT_CLOSING || c->state == CLIENT_CLOSED)
		return;
	log_debug("closing client=%llu state=%s", (unsigned long long)c->id,
	    client_state_name(c->state));
	c->state = CLIENT_CLOSING;
	free_list(c, &c->out_head, &c->out_tail);
	c->out_pending = 0;
	c->tr->close(c->tp);
}

void
client_transport_closed(struct client *c)
{
	c->state = CLIENT_CLOSED;
	if (c->refs == 0)
		client_free(c);		/* else the last deferred answer frees it */
}

/* A deferred answer that pointed here has come back (or never will). */
static void
client_unref(struct client *c)
{
	c->refs--;
	if (c->state == CLIENT_CLOSED && c->refs == 0)
		client_free(c);
}

/*
 * A client that does not read cannot make us hold more than max_output,
 * and all clients together no more than max_output_total (the largest
 * queues go first).  Returns 1 when c itself was closed.
 */
static int
over_output_limits(struct client *c)
{
	struct server *srv = c->srv;
	const struct settings *cfg = srv->cfg;

	if (client_queued(c) > (size_t)cfg->limits.max_output) {
		srv->stats.closed_output++;
		log_warn("output not read, closing client=%llu peer=%s max_output=%lld",
		    (unsigned long long)c->id, c->peer, (long long)cfg->limits.max_output);
		client_close(c);
		return 1;
	}
	if (srv->out_total > (uint64_t)cfg->limits.max_output_total)
		server_shed_output(srv);
	return c->state == CLIENT_CLOSING;
}

/*
 * A draining client closes once its replies and its notes are written,
 * and the changes made before it began to drain are durable (their events
 * are its too).
 */
static void
maybe_finish_drain(struct client *c)
{
	if (c->state == CLIENT_DRAINING && c->out_head == NULL &&
	    c->flight_head == NULL && !c->notes_listed &&
	    c->drain_lsn <= server_durable(c->srv))
		client_close(c);
}

void
client_drain(struct client *c)
{
	struct server *srv = c->srv;

	if (c->state != CLIENT_OPEN && c->state != CLIENT_PAUSED)
		return;
	if (c->state == CLIENT_OPEN)
		c->tr->pause(c->tp);
	c->state = CLIENT_DRAINING;
	/*
	 * A subscriber is owed the events of every change made before now:
	 * those durable go in a round at once, those still on their way to
	 * the disk when they get there (client_release_held).
	 */
	if (srv->journal != NULL && subs_of_client(srv->subs, c->sess.client) > 0) {
		c->drain_lsn = journal_last(srv->journal);
		if (c->drain_lsn > server_durable(srv))
			hold(c, c->drain_lsn);
	}
	publish_round_now(srv);
	client_flush(c);
	maybe_finish_drain(c);
}

void
client_written(struct client *c, size_t n, int status)
{
	for (size_t i = 0; i < n && c->flight_head != NULL; i++) {
		struct outbuf *b = c->flight_head;

		c->flight_head = b->next;
		if (c->flight_head == NULL)
			c->flight_tail = NULL;
		outbuf_free(c, b);
	}
	if (c->state == CLIENT_CLOSING || c->state == CLIENT_CLOSED)
		return;
	if (status < 0) {
		log_info("write failed, closing client=%llu error=\"%s\"", (unsigned long long)c->id,
		    uv_strerror(status));
		client_close(c);
		return;
	}
	c->progress_ms = c->active_ms = server_ms(c->srv);
	if (c->state == CLIENT_PAUSED && client_queued(c) <= low_water(c)) {
		c->state = CLIENT_OPEN;
		log_debug("output below low water, reading again client=%llu",
		    (unsigned long long)c->id);
		c->tr->resume(c->tp);
		return;
	}
	/* Close once everything is written, never right after a write. */
	maybe_finish_drain(c);
}

static int
sendable(const struct client *c)
{
	return c->out_head != NULL && !c->out_head->waiting &&
	    c->out_head->lsn <= server_durable(c->srv);
}

/*
 * n requests of a line that came in at t_in are answered now (their reply
 * handed to the transport, or none to send): the one place requests are
 * counted.  *now is read once per flush, when first needed.
 */
static void
answered(struct client *c, const struct session_req *r, size_t n,
    uint64_t t_in, uint64_t *now)
{
	if (n == 0)
		return;
	if (*now == 0)
		*now = uv_hrtime();
	metrics_requests(c->srv->metrics, r, n,
	    *now > t_in ? (double)(*now - t_in) / 1e9 : 0.0);
}

static void
unlist_flush(struct client *c)
{
	if (c->flush_pprev == NULL)
		return;
	*c->flush_pprev = c->flush_next;
	if (c->flush_next != NULL)
		c->flush_next->flush_pprev = c->flush_pprev;
	c->flush_pprev = NULL;
}

void
client_flush_soon(struct client *c)
{
	struct server *srv = c->srv;

	if (c->flush_pprev != NULL)
		return;
	c->flush_next = srv->to_flush;
	if (srv->to_flush != NULL)
		srv->to_flush->flush_pprev = &c->flush_next;
	srv->to_flush = c;
	c->flush_pprev = &srv->to_flush;
}

void
client_flush_all_soon(struct server *srv)
{
	struct client *c;

	while ((c = srv->to_flush) != NULL) {
		unlist_flush(c);
		client_flush(c);
	}
}

void
client_flush(struct client *c)
{
	uint64_t now = 0;

	while (sendable(c) && c->state != CLIENT_CLOSING &&
	    c->state != CLIENT_CLOSED) {
		struct client_msg m[WRITE_BATCH];
		struct outbuf *first = c->out_head, *last = NULL;
		size_t n = 0;

		while (sendable(c) && n < WRITE_BATCH) {
			last = c->out_head;
			c->out_head = last->next;
			c->out_pending -= last->len;
			m[n].data = last->data;
			m[n].len = last->len;
			n++;
			answered(c, last->reqs, last->nreq, last->t_in, &now);
		}
		if (c->out_head == NULL)
			c->out_tail = NULL;
		/* The batch moves to the in-flight list, in order. */
		last->next = NULL;
		if (c->flight_tail != NULL)
			c->flight_tail->next = first;
		else
			c->flight_head = first;
		c->flight_tail = last;
		if (c->flight_head == first)
			c->progress_ms = server_ms(c->srv);
		if (c->tr->write(c->tp, m, n) != 0) {
			log_info("write could not start, closing client=%llu", (unsigned long long)c->id);
			client_close(c);
			return;
		}
	}
}

/* c holds output until lsn is durable: listed for client_release_held. */
static void
hold(struct client *c, uint64_t lsn)
{
	struct server *srv = c->srv;

	if (lsn > c->held_lsn)
		c->held_lsn = lsn;
	if (c->held_pprev != NULL)
		return;
	c->held_next = srv->held;
	if (srv->held != NULL)
		srv->held->held_pprev = &c->held_next;
	srv->held = c;
	c->held_pprev = &srv->held;
}

static void
unhold(struct client *c)
{
	if (c->held_pprev == NULL)
		return;
	*c->held_pprev = c->held_next;
	if (c->held_next != NULL)
		c->held_next->held_pprev = c->held_pprev;
	c->held_next = NULL;
	c->held_pprev = NULL;
}

void
client_release_held(struct server *srv)
{
	uint64_t durable = server_durable(srv);
	struct client *todo = srv->held, *c;

	/*
	 * Taken off the server's list first: a client still holding later
	 * changes goes back on it, and is not met again in this walk.
	 * Clients are freed from the loop's close callbacks, never from
	 * within client_flush, but unhold() from client_free would keep
	 * todo right if one were.
	 */
	srv->held = NULL;
	if (todo != NULL)
		todo->held_pprev = &todo;
	while ((c = todo) != NULL) {
		unhold(c);
		if (c->out_head != NULL)
			client_flush(c);
		if (c->state == CLIENT_DRAINING && c->drain_lsn != 0 &&
		    c->drain_lsn <= durable) {
			/* Its last events, then it may close (maybe_finish_drain). */
			c->drain_lsn = 0;
			publish_round_now(srv);
			maybe_finish_drain(c);
		}
		/* Still holding replies, or draining towards a later LSN. */
		if ((c->out_head != NULL || c->drain_lsn != 0) &&
		    c->held_lsn > durable && c->state != CLIENT_CLOSING &&
		    c->state != CLIENT_CLOSED)
			hold(c, c->held_lsn);
		else
			c->held_lsn = 0;
	}
}

static void
append(struct client *c, struct outbuf *b)
{
	b->next = NULL;
	if (c->out_tail != NULL)
		c->out_tail->next = b;
	else
		c->out_head = b;
	c->out_tail = b;
	c->out_pending += b->len;
	account(c, b->len, 0);
	if (b->lsn > server_durable(c->srv))
		hold(c, b->lsn);
}

/*
 * Queues one message of len bytes; notice marks a notification; rq the
 * requests it answers; fail (fail_len bytes) what to send instead should
 * the change it waits for (lsn) be lost.  One allocation holds them all.
 */
static int
enqueue_parts(struct client *c, const struct client_msg *parts, size_t nparts,
    uint64_t lsn, const char *fail, size_t fail_len, int notice,
    const struct reqs_in *rq)
{
	size_t rbytes = rq->n * sizeof(struct session_req), len = 0;
	struct outbuf *b;

	if (c->state == CLIENT_CLOSING || c->state == CLIENT_CLOSED)
		return -1;
	for (size_t i = 0; i < nparts; i++)
		len += parts[i].len;
	if (lsn == 0 || fail == NULL)
		fail_len = 0;
	b = outbuf_alloc(c, sizeof(*b) + rbytes + len + 1 +
	    (fail_len ? fail_len + 1 : 0));
	if (b == NULL)
		goto oom;
	b->notice = notice;
	/* The requests first: inline_data is aligned for them. */
	b->reqs = (struct session_req *)(void *)b->inline_data;
	b->nreq = rq->n;
	b->t_in = rq->t_in;
	if (rbytes > 0)
		memcpy(b->reqs, rq->r, rbytes);
	b->data = b->inline_data + rbytes;
	b->len = 0;
	for (size_t i = 0; i < nparts; i++) {
		memcpy(b->data + b->len, parts[i].data, parts[i].len);
		b->len += parts[i].len;
	}
	b->data[len] = '\0';
	b->fail_len = fail_len;
	if (fail_len > 0) {
		b->fail = b->data + len + 1;
		memcpy(b->fail, fail, fail_len);
		b->fail[fail_len] = '\0';
	}
	b->lsn = lsn;
	if (!notice && lsn > c->change_lsn) {
		server_client_changed(c->srv, c->change_lsn);
		c->change_lsn = lsn;
	}
	append(c, b);
	return over_output_limits(c) ? -1 : 0;
oom:
	log_err("out of memory for a reply, closing client=%llu", (unsigned long long)c->id);
	client_close(c);
	return -1;
}

/* enqueue_parts() of one message of len bytes. */
static int
enqueue(struct client *c, const char *msg, size_t len, uint64_t lsn,
    const char *fail, size_t fail_len, int notice, const struct reqs_in *rq)
{
	const struct client_msg m = { msg, len };

	return enqueue_parts(c, &m, 1, lsn, fail, fail_len, notice, rq);
}

int
client_send(struct client *c, const char *msg, uint64_t lsn, const char *fail)
{
	return enqueue(c, msg, strlen(msg), lsn, fail, fail ? strlen(fail) : 0, 0,
	    &no_reqs);
}

/* A notification of nparts parts, queued and written (client_notify). */
static int
notify_parts(struct client *c, const struct client_msg *parts, size_t nparts,
    uint64_t lsn)
{
	if (enqueue_parts(c, parts, nparts, lsn, NULL, 0, 1, &no_reqs) == 0) {
		client_flush(c);
		return 0;
	}
	c->srv->stats.subscribers_dropped++;
	return -1;
}

int
client_notify(struct client *c, const char *msg, size_t len, uint64_t lsn)
{
	const struct client_msg m = { msg, len };

	return notify_parts(c, &m, 1, lsn);
}

/* A subscriber that cannot be served any more: closed and counted. */
static void
drop_subscriber(struct client *c, const char *why)
{
	c->srv->stats.subscribers_dropped++;
	if (c->state == CLIENT_CLOSING || c->state == CLIENT_CLOSED)
		return;
	log_warn("%s, closing subscriber client=%llu peer=%s", why,
	    (unsigned long long)c->id, c->peer);
	client_close(c);
}

/*
 * A round's buffer starts at the size the client's last round grew to
 * (notes_cap), so that it is not grown and copied again every round.
 */
#define NOTES_FIRST 16384

void
client_note(struct client *c, const struct client_msg *parts, size_t nparts)
{
	size_t need, len = 0;

	if (c->state == CLIENT_CLOSING || c->state == CLIENT_CLOSED)
		return;
	/* No lines to join them by: each its own message, copied once. */
	if (!c->tr->lines) {
		(void)notify_parts(c, parts, nparts, 0);
		return;
	}
	for (size_t i = 0; i < nparts; i++)
		len += parts[i].len;
	need = c->notes_len + (c->notes_len > 0) + len;
	if (client_queued(c) + need > (size_t)c->srv->cfg->limits.max_output) {
		c->srv->stats.closed_output++;
		drop_subscriber(c, "output not read");
		return;
	}
	if (c->notes == NULL || need > c->notes_cap) {
		size_t cap = c->notes_cap ? c->notes_cap : NOTES_FIRST;
		char *nb;

		while (cap < need)
			cap *= 2;
		if ((nb = realloc(c->notes, cap)) == NULL) {
			drop_subscriber(c, "out of memory for notifications");
			return;
		}
		c->notes = nb;
		c->notes_cap = cap;
	}
	if (c->notes_len > 0)
		c->notes[c->notes_len++] = '\n';
	for (size_t i = 0; i < nparts; i++) {
		memcpy(c->notes + c->notes_len, parts[i].data, parts[i].len);
		c->notes_len += parts[i].len;
	}
	if (!c->notes_listed) {
		c->notes_listed = 1;
		c->notes_next = c->srv->noted;
		c->srv->noted = c;
	}
}

/*
 * Queues the client's notes: the outbuf takes the buffer itself (no copy
 * of a round that may be hundreds of kilobytes); the next round starts a
 * buffer of the same size.  0, or -1 when the client was closed.
 */
static int
queue_notes(struct client *c)
{
	struct outbuf *b = outbuf_alloc(c, sizeof(*b));

	if (b == NULL) {
		drop_subscriber(c, "out of memory for notifications");
		return -1;
	}
	b->notice = 1;
	b->late = b->data = c->notes;
	b->len = c->notes_len;
	b->reqs = (struct session_req *)(void *)b->inline_data;
	c->notes = NULL;
	c->notes_len = 0;
	append(c, b);
	if (over_output_limits(c)) {
		c->srv->stats.subscribers_dropped++;
		return -1;
	}
	client_flush(c);
	return 0;
}

void
client_notes_send(struct server *srv)
{
	struct client *c;

	while ((c = srv->noted) != NULL) {
		srv->noted = c->notes_next;
		c->notes_next = NULL;
		c->notes_listed = 0;
		/* A much smaller round: the next starts smaller. */
		if (c->notes_cap > NOTES_FIRST && c->notes_len < c->notes_cap / 4)
			c->notes_cap /= 2;
		if (c->notes_len > 0 && c->state != CLIENT_CLOSING &&
		    c->state != CLIENT_CLOSED && queue_notes(c) == 0)
			maybe_finish_drain(c);
		c->notes_len = 0;
	}
}

/*
 * A place in the reply order for an answer that comes later (history) to
 * the one request r.
 */
static struct outbuf *
client_reserve(struct client *c, const struct session_req *r, uint64_t t_in)
{
	struct outbuf *b = outbuf_alloc(c, sizeof(*b) + sizeof(*r));

	if (b == NULL)
		return NULL;
	b->waiting = 1;
	b->reqs = (struct session_req *)(void *)b->inline_data;
	b->reqs[0] = *r;
	b->nreq = 1;
	b->t_in = t_in;
	b->data = b->inline_data + sizeof(*r);
	c->refs++;
	append(c, b);
	return b;
}

/* Puts a late answer in its place (dropped if the client is gone). */
static void
client_fill(struct client *c, struct outbuf *slot, const char *msg)
{
	char *copy;

	if (c->state == CLIENT_CLOSING || c->state == CLIENT_CLOSED ||
	    (copy = strdup(msg)) == NULL) {
		if (c->state != CLIENT_CLOSED)
			client_close(c);
		client_unref(c);
		return;
	}
	/* The copy is freed with the slot. */
	slot->late = copy;
	slot->data = copy;
	slot->len = strlen(copy);
	c->out_pending += slot->len;
	account(c, slot->len, 0);
	slot->waiting = 0;
	client_unref(c);
	if (over_output_limits(c))
		return;
	client_flush(c);
	maybe_finish_drain(c);
}

/*
 * The fail line text (len bytes) with every SESSION_UNDURABLE message
 * (written unescaped, quotes and all) replaced by why, escaped; NULL
 * when out of memory.
 */
static char *
fail_with(const char *text, size_t len, const char *why, size_t *out_len)
{
	static const char quoted[] = "\"" SESSION_UNDURABLE "\"";
	const char *p = text, *end = text + len, *hit;
	struct jw w;

	jw_init(&w);
	while ((hit = memmem(p, (size_t)(end - p), quoted, sizeof(quoted) - 1)) != NULL) {
		jw_splice(&w, p, (size_t)(hit - p));
		jw_str(&w, why);
		p = hit + sizeof(quoted) - 1;
	}
	jw_splice(&w, p, (size_t)(end - p));
	return jw_take(&w, out_len);
}

void
client_changes_lost(struct client *c, uint64_t durable, const char *why)
{
	struct outbuf *b, *next, *prev = NULL;

	for (b = c->out_head; b != NULL; b = next) {
		next = b->next;
		if (b->lsn <= durable) {
			prev = b;
			continue;
		}
		if (b->notice) {
			/* A change that never happened is nobody's news. */
			if (prev != NULL)
				prev->next = next;
			else
				c->out_head = next;
			if (c->out_tail == b)
				c->out_tail = prev;
			c->out_pending -= b->len;
			outbuf_free(c, b);
			continue;
		}
		b->lsn = 0;
		if (b->fail != NULL) {
			/* Every request of the line is answered unavailable now. */
			for (size_t i = 0; i < b->nreq; i++)
				b->reqs[i].err = PK_E_UNAVAILABLE;
			c->out_pending -= b->len;
			account(c, 0, b->len);
			b->data = b->fail;
			b->len = b->fail_len;
			/* Out of memory: the prepared message is still a failure. */
			if (why != NULL && b->late == NULL &&
			    (b->late = fail_with(b->fail, b->fail_len, why, &b->len)) != NULL)
				b->data = b->late;
			c->out_pending += b->len;
			account(c, b->len, 0);
		}
		prev = b;
	}
	/* Lost changes have no events: nothing more to wait for. */
	if (c->drain_lsn > durable)
		c->drain_lsn = durable;
	client_flush(c);
	maybe_finish_drain(c);
}

/*
 * Sends one error line (data: error.data members, or NULL) answering the
 * requests rq.
 */
static void
send_error(struct client *c, pk_err e, const char *msg, const struct jw *data,
    const struct reqs_in *rq)
{
	char *l = rpc_error_line(NULL, e, msg, data);

	if (l == NULL) {
		client_close(c);
		return;
	}
	enqueue(c, l, strlen(l), 0, NULL, 0, 0, rq);
	free(l);
}

/*
 * Token bucket: rate_per_s requests a second, bursts of rate_burst.  A
 * message is let in when a whole token is there; it then pays one token
 * per request it held (rate_pay), so a batch of a thousand pays a
 * thousand and the debt holds the next messages back.
 */
static int
rate_open(struct client *c, uint64_t *retry_ms)
{
	const struct settings *cfg = c->srv->cfg;
	uint64_t now = server_ms(c->srv);
	double rate = (double)cfg->limits.rate_per_s;

	if (rate <= 0)
		return 0;
	c->tokens += (double)(now - c->refill_ms) * rate / 1000.0;
	c->refill_ms = now;
	if (c->tokens > (double)cfg->limits.rate_burst)
		c->tokens = (double)cfg->limits.rate_burst;
	if (c->tokens >= 1.0)
		return 0;
	*retry_ms = (uint64_t)((1.0 - c->tokens) * 1000.0 / rate) + 1;
	return -1;
}

static void
rate_pay(struct client *c, unsigned requests)
{
	if (c->srv->cfg->limits.rate_per_s > 0)
		c->tokens -= (double)requests;
}

/*
 * A request answered later, from Redis (history, nearby): its place in
 * the reply order, its id, and what it looks up.
 */
struct deferred {
	struct client *c;
	struct outbuf *slot;
	char *id;
	struct defer_req q;
};

/* What a look-up is called in its "unavailable" message. */
static const char *
deferred_what(const struct deferred *d)
{
	return d->q.kind == DEFER_HISTORY ? "audit history" : "city view";
}

/*
 * The answer has come: result is the text of the result value, or NULL
 * and why it could not be had (answered unavailable).  Frees d.
 */
static void
deferred_answer(struct deferred *d, const char *result, size_t len,
    const char *why)
{
	struct jw w;
	char *line;

	jw_init(&w);
	if (result != NULL) {
		rpc_result_begin(&w, d->id);
		jw_raw(&w, result, len);
		jw_obj_end(&w);
	} else {
		char msg[200];

		snprintf(msg, sizeof(msg), "%s unavailable: %s", deferred_what(d), why);
		rpc_error(&w, d->id, PK_E_UNAVAILABLE, msg, NULL);
		d->slot->reqs[0].err = PK_E_UNAVAILABLE;
	}
	line = jw_take(&w, NULL);
	if (line == NULL) {
		/* No answer can be made: the client must not wait for one. */
		if (d->c->state != CLIENT_CLOSED)
			client_close(d->c);
		client_unref(d->c);
	} else {
		client_fill(d->c, d->slot, line);
	}
	free(line);
	free(d->id);
	free(d);
}

static void
on_history(void *ud, const char *events, size_t len, const char *why)
{
	struct deferred *d = ud;
	struct jw w;

	if (events == NULL) {
		deferred_answer(d, NULL, 0, why);
		return;
	}
	jw_init(&w);
	jw_obj(&w);
	jw_kstr(&w, "subject", d->q.subject);
	jw_key(&w, "events");
	jw_raw(&w, events, len);
	jw_obj_end(&w);
	if (jw_failed(&w))
		deferred_answer(d, NULL, 0, "out of memory");
	else
		deferred_answer(d, w.buf, w.len, NULL);
	jw_release(&w);
}

static void
on_nearby(void *ud, const char *result, size_t len, const char *why)
{
	deferred_answer(ud, result, len, why);
}

/*
 * Starts a look-up whose answer takes its place in the reply order; its
 * line came in at t_in.
 */
static void
start_deferred(struct client *c, struct session_out *out, uint64_t t_in)
{
	struct session_req r = out->reqs[0];
	struct deferred *d;

	/* Each look-up holds a place and, later, its answer: keep them few. */
	if (c->refs >= CLIENT_MAX_DEFERRED) {
		char *l = rpc_error_line(out->defer_id, PK_E_UNAVAILABLE,
		    "too many look-ups (history, nearby) in flight on this connection",
		    NULL);
		struct reqs_in rq = { &r, 1, t_in };

		if (l == NULL) {
			client_close(c);
			return;
		}
		r.err = PK_E_UNAVAILABLE;
		enqueue(c, l, strlen(l), 0, NULL, 0, 0, &rq);
		free(l);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->slot = client_reserve(c, &r, t_in)) == NULL) {
		free(d);
		client_close(c);
		return;
	}
	d->c = c;
	d->id = out->defer_id;
	out->defer_id = NULL;
	d->q = out->defer;
	switch (d->q.kind) {
	case DEFER_HISTORY:
		if (audit_history(c->srv->audit, d->q.subject, d->q.limit,
		    on_history, d) != 0)
			on_history(d, NULL, 0, c->srv->cfg->audit.redis.enabled ?
			    "Redis is not connected" : "audit is off in the configuration");
		break;
	case DEFER_NEARBY: {
		const char *why = "";

		if (cityredis_nearby(c->srv->city, &d->q, on_nearby, d, &why) != 0)
			on_nearby(d, NULL, 0, why);
		break;
	}
	}
}

/* After a message: pause above high water; 1 when no more are taken. */
static int
take_more(struct client *c)
{
	if (c->state == CLIENT_OPEN && client_queued(c) > high_water(c)) {
		c->state = CLIENT_PAUSED;
		log_debug("output queued, not reading until it drains client=%llu queued=%zu",
		    (unsigned long long)c->id, client_queued(c));
		c->tr->pause(c->tp);
	}
	return c->state == CLIENT_OPEN ? 0 : 1;
}

/*
 * What a client closed for failed auth calls is told to wait: the wait its
 * address now has before an auth is heard again (proto/authguard.h), or,
 * when the guard holds it back no longer (slow guesses are forgiven), the
 * guard's first step, so that it does not reconnect to guess at once.
 */
#define AUTH_RETRY_MIN_MS 1000

/* Guessing tokens costs a connection every few tries. */
static void
count_auth_failures(struct client *c, int failed)
{
	struct jw d;
	uint64_t retry;

	c->srv->stats.auth_failures += (uint64_t)failed;
	c->auth_failures += failed;
	if (c->auth_failures < CLIENT_MAX_AUTH_FAILURES || c->state != CLIENT_OPEN)
		return;
	retry = authguard_remaining(c->srv->auth, c->sess.peer, server_ms(c->srv));
	if (retry < AUTH_RETRY_MIN_MS)
		retry = AUTH_RETRY_MIN_MS;
	jw_init(&d);
	jw_members(&d);
	jw_kuint(&d, "retry_after_ms", retry);
	send_error(c, PK_E_RATE_LIMITED, "too many failed auth attempts; closing", &d,
	    &no_reqs);
	jw_release(&d);
	client_drain(c);
}

/*
 * Whether a line may hold personal data: it called a method whose params
 * carry a contact, or one that could not be told (a line not understood).
 */
static int
line_personal(const struct session_out *out)
{
	for (unsigned i = 0; i < out->requests; i++) {
		const struct method *m = out->reqs[i].method == SESSION_NO_METHOD ?
		    NULL : method_at(out->reqs[i].method);

		if (m == NULL || method_personal(m))
			return 1;
	}
	return 0;
}

int
client_message(struct client *c, const char *msg, size_t len, int too_long)
{
	struct server *srv = c->srv;
	struct session_out out;
	struct reqs_in rq;
	uint64_t retry, now = 0;
	int limited, rc;

	if (c->state != CLIENT_OPEN)
		return 1;
	rq.t_in = uv_hrtime();
	c->active_ms = server_ms(srv);
	srv->stats.requests++;
	if (too_long)
		srv->stats.lines_too_long++;
	if ((limited = rate_open(c, &retry) != 0)) {
		struct jw d;

		/* Parsed for its ids, not run; the reply goes as any other. */
		srv->stats.rate_limited++;
		jw_init(&d);
		jw_members(&d);
		jw_kuint(&d, "retry_after_ms", retry);
		rc = jw_failed(&d) ? -1 : session_refuse(&c->sess, msg, len, too_long,
		    PK_E_RATE_LIMITED, NULL, &d, &out);
		jw_release(&d);
	} else {
		rc = session_handle(&c->sess, msg, len, too_long,
		    (int64_t)(server_wall_ms(srv) / 1000), &out);
	}
	if (rc != 0) {
		log_err("out of memory handling a request, closing client=%llu",
		    (unsigned long long)c->id);
		client_close(c);
		return 1;
	}
	if (!limited)
		rate_pay(c, out.requests);
	if (out.internal) {
		srv->stats.internal_errors++;
		if (line_personal(&out))
			log_err("internal error answering client=%llu error=\"(the line "
			    "may hold personal data: not logged)\"", (unsigned long long)c->id);
		else
			log_err("internal error answering client=%llu error=\"%.*s\"",
			    (unsigned long long)c->id, (int)(len > 200 ? 200 : len), msg);
	}
	rq.r = out.reqs;
	rq.n = out.requests;
	if (out.deferred)
		start_deferred(c, &out, rq.t_in);
	free(out.defer_id);
	if (out.line != NULL)
		enqueue(c, out.line, out.line_len, out.hold, out.fail_line,
		    out.fail_len, 0, &rq);
	else if (!out.deferred)
		answered(c, rq.r, rq.n, rq.t_in, &now);	/* notifications: no reply */
	/* Subscribers hear of the changes only now, after this reply. */
	publish_flush(srv);
	if (out.failed_auth)
		count_auth_failures(c, out.failed_auth);
	return take_more(c);
}

void
client_input_end(struct client *c)
{
	client_flush(c);
	client_drain(c);
}

/* Sends one error line and closes once it is written. */
static void
refuse(struct client *c, pk_err e, const char *msg)
{
	c->srv->stats.refused++;
	log_warn("refused client=%llu peer=%s reason=\"%s\"", (unsigned long long)c->id,
	    c->peer, msg);
	send_error(c, e, msg, NULL, &no_reqs);
	client_drain(c);
}

int
client_admit(struct client *c)
{
	const struct settings *cfg = c->srv->cfg;

	if (c->srv->n_clients > (uint64_t)cfg->limits.max_clients) {
		refuse(c, PK_E_UNAVAILABLE, "too many clients");
		return -1;
	}
	if (server_address_add(c->srv, c->sess.peer) != 0) {
		refuse(c, PK_E_UNAVAILABLE, "too many connections from this address");
		return -1;
	}
	c->counted = 1;
	if (cfg->n_tokens == 0) {
		/* Protected mode: without tokens, only this machine may talk to us. */
		if (!c->loopback) {
			refuse(c, PK_E_FORBIDDEN,
			    "protected mode: no tokens configured, only loopback clients are served");
			return -1;
		}
		c->sess.role = ROLE_OPERATOR;
		c->protected_role = 1;
	}
	return 0;
}

void
client_tokens_changed(struct server *srv)
{
	if (srv->cfg->n_tokens == 0)
		return;
	/* Operators only for want of tokens: with tokens, they auth like anyone. */
	for (struct client *c = srv->clients; c != NULL; c = c->next) {
		if (!c->protected_role)
			continue;
		c->protected_role = 0;
		c->sess.role = ROLE_NONE;
		c->sess.bound_gate = NULL;
	}
}
