/* conn.c - client connections (see conn.h). */
#include "conn.h"

#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "jsonrpc.h"
#include "log.h"
#include "server.h"

static const char *const conn_state_names[] = {
#define CONN_STATE_NAME(name, str) str,
	CONN_STATES(CONN_STATE_NAME)
#undef CONN_STATE_NAME
};

const char *
conn_state_name(enum conn_state st)
{
	return conn_state_names[st];
}

/* One queued response: the line and its newline. */
struct outbuf {
	struct outbuf *next;
	int waiting;		/* a reserved place whose answer has not come */
	uint64_t lsn;		/* held until this LSN is durable; 0 = not held */
	char *fail;		/* sent instead when the change is lost, or NULL */
	size_t len;
	char *data;		/* points to inline or to fail */
	char inline_data[];
};

static void
outbuf_free(struct outbuf *b)
{
	free(b->fail);
	free(b);
}

/* Most buffers handed to libuv in one uv_write. */
#define WRITE_BATCH 64

struct write_req {
	uv_write_t req;
	struct conn *c;
	struct outbuf *bufs[WRITE_BATCH];
	size_t n;
};

static void conn_on_close(uv_handle_t *h);

static void
free_outbufs(struct conn *c)
{
	struct outbuf *b = c->out_head, *next;

	for (; b != NULL; b = next) {
		next = b->next;
		outbuf_free(b);
	}
	c->out_head = c->out_tail = NULL;
	c->out_pending = 0;
}

void
conn_close(struct conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	log_debug("conn=%llu %s: closing", (unsigned long long)c->id,
	    conn_state_name(c->state));
	c->state = CONN_CLOSING;
	uv_read_stop((uv_stream_t *)&c->tcp);
	free_outbufs(c);
	uv_close((uv_handle_t *)&c->tcp, conn_on_close);
}

static void
conn_on_close(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct server *srv = c->srv;

	c->closed = 1;
	if (c->refs > 0)
		return;		/* a deferred answer still points here */

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->n_conns--;
	framer_free(c->fr);
	session_release(&c->sess);
	free(c);
}

static size_t
queued_bytes(const struct conn *c)
{
	return c->out_pending + uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/*
 * A client that does not read cannot make us hold more than max_output:
 * past it the connection is closed (and counted).  Returns 1 then.
 */
static int
over_output_limit(struct conn *c)
{
	if (queued_bytes(c) <= (size_t)c->srv->cfg->limits.max_output)
		return 0;
	c->srv->stats.closed_output++;
	log_warn("conn=%llu %s: more than %lld bytes of output queued, closing",
	    (unsigned long long)c->id, c->peer,
	    (long long)c->srv->cfg->limits.max_output);
	conn_close(c);
	return 1;
}

static void
maybe_finish_drain(struct conn *c)
{
	if (c->state == CONN_DRAINING && c->out_head == NULL &&
	    c->writes_in_flight == 0)
		conn_close(c);
}

void
conn_drain(struct conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_DRAINING;
	uv_read_stop((uv_stream_t *)&c->tcp);
	conn_flush(c);
	maybe_finish_drain(c);
}

static void
on_write(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;

	for (size_t i = 0; i < w->n; i++)
		outbuf_free(w->bufs[i]);
	free(w);
	c->writes_in_flight--;
	if (status == 0)
		c->active_ms = server_ms(c->srv);	/* the client reads: not idle */
	if (status < 0 && c->state != CONN_CLOSING) {
		log_info("conn=%llu write failed: %s", (unsigned long long)c->id,
		    uv_strerror(status));
		conn_close(c);
		return;
	}
	/* Close from here, never right after uv_write: that could cancel it. */
	maybe_finish_drain(c);
}

static int
sendable(const struct conn *c)
{
	return c->out_head != NULL && !c->out_head->waiting &&
	    c->out_head->lsn <= server_durable(c->srv);
}

void
conn_flush(struct conn *c)
{
	while (sendable(c) && c->state != CONN_CLOSING) {
		struct write_req *w = calloc(1, sizeof(*w));
		uv_buf_t bufs[WRITE_BATCH];
		int rc;

		if (w == NULL) {
			log_err("conn=%llu out of memory", (unsigned long long)c->id);
			conn_close(c);
			return;
		}
		w->c = c;
		while (sendable(c) && w->n < WRITE_BATCH) {
			struct outbuf *b = c->out_head;

			c->out_head = b->next;
			c->out_pending -= b->len;
			bufs[w->n] = uv_buf_init(b->data, (unsigned int)b->len);
			w->bufs[w->n++] = b;
		}
		if (c->out_head == NULL)
			c->out_tail = NULL;
		rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, (unsigned int)w->n, on_write);
		if (rc < 0) {
			for (size_t i = 0; i < w->n; i++)
				outbuf_free(w->bufs[i]);
			free(w);
			log_info("conn=%llu write: %s", (unsigned long long)c->id,
			    uv_strerror(rc));
			conn_close(c);
			return;
		}
		c->writes_in_flight++;
	}
}

static struct outbuf *
append_outbuf(struct conn *c, struct outbuf *b)
{
	b->next = NULL;
	if (c->out_tail != NULL)
		c->out_tail->next = b;
	else
		c->out_head = b;
	c->out_tail = b;
	c->out_pending += b->len;
	return b;
}

struct outbuf *
conn_reserve(struct conn *c)
{
	struct outbuf *b;

	if (c->state == CONN_CLOSING)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->waiting = 1;
	b->data = b->inline_data;
	c->refs++;
	return append_outbuf(c, b);
}

void
conn_fill(struct conn *c, struct outbuf *slot, const char *line)
{
	c->refs--;
	if (c->closed) {
		/* The client left before its answer came: nothing to write to. */
		if (c->refs == 0)
			conn_on_close((uv_handle_t *)&c->tcp);
		return;
	}
	if (c->state != CONN_CLOSING && slot != NULL) {
		size_t len = strlen(line);
		char *copy = malloc(len + 2);

		if (copy == NULL) {
			conn_close(c);
			return;
		}
		memcpy(copy, line, len);
		copy[len] = '\n';
		copy[len + 1] = '\0';
		/* The copy lives where a fail line would, and is freed with it. */
		free(slot->fail);
		slot->fail = copy;
		slot->data = copy;
		slot->len = len + 1;
		c->out_pending += slot->len;
		slot->waiting = 0;
		if (over_output_limit(c))
			return;
		conn_flush(c);
		maybe_finish_drain(c);
	}
}

void
conn_changes_lost(struct conn *c, uint64_t durable)
{
	for (struct outbuf *b = c->out_head; b != NULL; b = b->next) {
		if (b->lsn <= durable)
			continue;
		b->lsn = 0;
		if (b->fail != NULL) {
			c->out_pending -= b->len;
			b->data = b->fail;
			b->len = strlen(b->fail);
			c->out_pending += b->len;
		}
	}
	conn_flush(c);
	maybe_finish_drain(c);
}

int
conn_send(struct conn *c, const char *line, uint64_t lsn, const char *fail_line)
{
	size_t len = strlen(line);
	struct outbuf *b;

	if (c->state == CONN_CLOSING)
		return -1;
	b = malloc(sizeof(*b) + len + 1);
	if (b == NULL)
		goto oom;
	b->fail = NULL;
	if (lsn != 0 && fail_line != NULL) {
		size_t fl = strlen(fail_line);

		/* Kept with its newline, so it can stand in for the line as is. */
		b->fail = malloc(fl + 2);
		if (b->fail == NULL) {
			free(b);
			goto oom;
		}
		memcpy(b->fail, fail_line, fl);
		b->fail[fl] = '\n';
		b->fail[fl + 1] = '\0';
	}
	b->data = b->inline_data;
	memcpy(b->data, line, len);
	b->data[len] = '\n';
	b->len = len + 1;
	b->lsn = lsn;
	b->waiting = 0;
	append_outbuf(c, b);
	return over_output_limit(c) ? -1 : 0;
oom:
	log_err("conn=%llu out of memory for a reply", (unsigned long long)c->id);
	conn_close(c);
	return -1;
}

/* Token bucket: rate_per_s lines a second, bursts of rate_burst. */
static int
rate_take(struct conn *c, uint64_t *retry_ms)
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
	if (c->tokens >= 1.0) {
		c->tokens -= 1.0;
		return 0;
	}
	*retry_ms = (uint64_t)((1.0 - c->tokens) * 1000.0 / rate) + 1;
	return -1;
}

struct deferred {
	struct conn *c;
	struct outbuf *slot;
	char *id;
	char subject[160];
};

static void
on_history(void *ud, const char *events, size_t len, const char *why)
{
	struct deferred *d = ud;
	struct jw w;
	char *line;

	jw_init(&w);
	if (events != NULL) {
		rpc_result_begin(&w, d->id);
		jw_obj(&w);
		jw_kstr(&w, "subject", d->subject);
		jw_key(&w, "events");
		jw_raw(&w, events, len);
		jw_obj_end(&w);
		jw_obj_end(&w);
	} else {
		char msg[200];

		snprintf(msg, sizeof(msg), "audit history unavailable: %s", why);
		rpc_error(&w, d->id, PK_E_UNAVAILABLE, msg, NULL);
	}
	line = jw_take(&w, NULL);
	if (line == NULL) {
		/* No answer can be made: the client must not wait for one. */
		d->c->refs--;
		if (d->c->closed) {
			if (d->c->refs == 0)
				conn_on_close((uv_handle_t *)&d->c->tcp);
		} else {
			conn_close(d->c);
		}
	} else {
		conn_fill(d->c, d->slot, line);
	}
	free(line);
	free(d->id);
	free(d);
}

/* Starts a look-up whose answer takes its place in the reply order. */
static void
start_deferred(struct conn *c, struct session_out *out)
{
	struct deferred *d;

	/* Each look-up holds a place and, later, its answer: keep them few. */
	if (c->refs >= CONN_MAX_DEFERRED) {
		char *l = rpc_error_line(out->defer_id, PK_E_UNAVAILABLE,
		    "too many history look-ups in flight on this connection", NULL);

		if (l == NULL) {
			conn_close(c);
			return;
		}
		conn_send(c, l, 0, NULL);
		free(l);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->slot = conn_reserve(c)) == NULL) {
		free(d);
		conn_close(c);
		return;
	}
	d->c = c;
	d->id = out->defer_id;
	out->defer_id = NULL;
	memcpy(d->subject, out->defer_subject, sizeof(d->subject));
	if (audit_history(c->srv->audit, d->subject, out->defer_limit, on_history, d) != 0)
		on_history(d, NULL, 0, "Redis is not connected");
}

static int
on_line(void *ud, const char *line, size_t len, int too_long)
{
	struct conn *c = ud;
	struct server *srv = c->srv;
	struct session_out out;
	uint64_t retry;

	if (c->state != CONN_OPEN)
		return 1;
	srv->stats.requests++;
	if (too_long)
		srv->stats.lines_too_long++;
	if (rate_take(c, &retry) != 0) {
		struct jw d;
		char *l;

		srv->stats.rate_limited++;
		jw_init(&d);
		jw_members(&d);
		jw_kuint(&d, "retry_after_ms", retry);
		l = rpc_error_line(NULL, PK_E_RATE_LIMITED, NULL, &d);
		jw_release(&d);
		if (l == NULL) {
			conn_close(c);
			return 1;
		}
		conn_send(c, l, 0, NULL);
		free(l);
		return c->state == CONN_OPEN ? 0 : 1;
	}
	if (session_handle(&c->sess, line, len, too_long, server_now(), &out) != 0) {
		log_err("conn=%llu out of memory handling a request",
		    (unsigned long long)c->id);
		conn_close(c);
		return 1;
	}
	if (out.failed_auth) {
		srv->stats.auth_failures += (uint64_t)out.failed_auth;
		c->auth_failures += out.failed_auth;
		log_warn("conn=%llu %s: failed auth (%d)", (unsigned long long)c->id,
		    c->peer, c->auth_failures);
	}
	if (out.internal) {
		srv->stats.internal_errors++;
		log_err("conn=%llu internal error answering: %.*s",
		    (unsigned long long)c->id, (int)(len > 200 ? 200 : len), line);
	}
	if (out.deferred)
		start_deferred(c, &out);
	free(out.defer_id);
	if (out.line != NULL)
		conn_send(c, out.line, out.hold, out.fail_line);
	free(out.line);
	free(out.fail_line);
	/* Guessing tokens costs a connection every few tries. */
	if (c->auth_failures >= CONN_MAX_AUTH_FAILURES && c->state == CONN_OPEN) {
		char *l = rpc_error_line(NULL, PK_E_RATE_LIMITED,
		    "too many failed auth attempts; closing", NULL);

		if (l != NULL)
			conn_send(c, l, 0, NULL);
		free(l);
		conn_drain(c);
		return 1;
	}
	return c->state == CONN_OPEN ? 0 : 1;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	buf->base = c->srv->readbuf;
	buf->len = sizeof(c->srv->readbuf);
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;

	if (nread > 0) {
		c->active_ms = server_ms(c->srv);
		if (framer_feed(c->fr, buf->base, (size_t)nread, on_line, c) < 0) {
			log_err("conn=%llu out of memory framing a line", (unsigned long long)c->id);
			conn_close(c);
			return;
		}
		conn_flush(c);
		return;
	}
	if (nread == 0)
		return;
	if (nread == UV_EOF) {
		/* Half-closed: answer what was sent, including a last unterminated line. */
		if (framer_buffered(c->fr) > 0 &&
		    framer_feed(c->fr, "\n", 1, on_line, c) < 0) {
			conn_close(c);
			return;
		}
		conn_flush(c);
		conn_drain(c);
		return;
	}
	log_info("conn=%llu read: %s", (unsigned long long)c->id, uv_strerror((int)nread));
	conn_close(c);
}

static void
peer_name(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	strcpy(c->peer, "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		uv_ip4_name(in, host, sizeof(host));
		port = ntohs(in->sin_port);
		c->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		static const unsigned char lo[16] = { [15] = 1 };
		static const unsigned char v4pre[12] = { [10] = 0xff, [11] = 0xff };

		uv_ip6_name(in6, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		c->loopback = memcmp(&in6->sin6_addr, lo, 16) == 0 ||
		    (memcmp(&in6->sin6_addr, v4pre, 12) == 0 &&
		    ((const unsigned char *)&in6->sin6_addr)[12] == 127);
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
	snprintf(c->sess.peer, sizeof(c->sess.peer), "%s", host);
	if (ss.ss_family == AF_INET6 && strchr(host, '.') == NULL) {
		const unsigned char *a = ((const struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;

		/* One IPv6 host has a /64 to choose from: limit auth by the /64. */
		snprintf(c->sess.peer, sizeof(c->sess.peer),
		    "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", a[0], a[1], a[2],
		    a[3], a[4], a[5], a[6], a[7]);
	}
}

/* Sends one error line and closes once it is written. */
static void
refuse(struct conn *c, pk_err e, const char *msg)
{
	char *l = rpc_error_line(NULL, e, msg, NULL);

	c->srv->stats.refused++;
	log_warn("conn=%llu %s: refused: %s", (unsigned long long)c->id, c->peer, msg);
	if (l != NULL) {
		conn_send(c, l, 0, NULL);
		free(l);
	}
	conn_drain(c);
}

int
conn_accept(struct server *srv, uv_stream_t *listener)
{
	struct conn *c = calloc(1, sizeof(*c));
	const struct settings *cfg = srv->cfg;
	int rc;

	if (c == NULL) {
		log_err("out of memory for a connection");
		return -1;
	}
	c->srv = srv;
	c->id = ++srv->next_conn_id;
	c->state = CONN_OPEN;
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	/* Linked in before accepting so that the close callback can unlink it. */
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
	if (rc != 0) {
		log_warn("accept: %s", uv_strerror(rc));
		conn_close(c);
		return -1;
	}
	srv->stats.accepted++;
	uv_tcp_nodelay(&c->tcp, 1);
	peer_name(c);
	c->fr = framer_new((size_t)cfg->limits.max_line);
	if (c->fr == NULL) {
		log_err("conn=%llu out of memory", (unsigned long long)c->id);
		conn_close(c);
		return -1;
	}
	c->sess.g = srv->g;
	c->sess.env = &srv->env;
	c->tokens = (double)cfg->limits.rate_burst;
	c->refill_ms = c->active_ms = server_ms(srv);
	log_debug("conn=%llu %s: connected", (unsigned long long)c->id, c->peer);

	if (srv->n_conns > (uint64_t)cfg->limits.max_clients) {
		refuse(c, PK_E_UNAVAILABLE, "too many clients");
		return 0;
	}
	if (cfg->n_tokens == 0) {
		/* Protected mode: without tokens, only this machine may talk to us. */
		if (!c->loopback) {
			refuse(c, PK_E_FORBIDDEN,
			    "protected mode: no tokens configured, only loopback clients are served");
			return 0;
		}
		c->sess.role = ROLE_OPERATOR;
	}
	rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc != 0) {
		log_warn("conn=%llu read_start: %s", (unsigned long long)c->id, uv_strerror(rc));
		conn_close(c);
	}
	return 0;
}
