/* tcp.c - the line transport on the protocol's TCP port (see tcp.h). */
#define LOG_COMPONENT "conn"

#include "tcp.h"

#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"
#include "frame.h"
#include "log.h"
#include "server.h"

struct tcp {
	uv_tcp_t handle;
	struct client *c;
	framer *fr;
	int reading;
	unsigned writing;		/* uv_write requests not yet called back */
	/* Read but not yet framed, while the client is paused. */
	char *stash;
	size_t stash_len;
};

/* One write: the messages, each followed by a newline. */
struct tcp_write {
	uv_write_t req;
	struct tcp *t;
	size_t n;
	uv_buf_t bufs[];
};

static const char newline[] = "\n";

/* Messages tried at once with uv_try_write (client.c hands at most 64). */
#define TRY_MSGS 64

static void
on_write(uv_write_t *req, int status)
{
	struct tcp_write *w = (struct tcp_write *)req;
	struct tcp *t = w->t;
	size_t n = w->n;

	free(w);
	t->writing--;
	client_written(t->c, n, status);
}

/* Queues nb buffers that answer n messages; 0 or -1. */
static int
start_write(struct tcp *t, const uv_buf_t *bufs, size_t nb, size_t n)
{
	struct tcp_write *w = malloc(sizeof(*w) + nb * sizeof(uv_buf_t));
	int rc;

	if (w == NULL)
		return -1;
	w->t = t;
	w->n = n;
	memcpy(w->bufs, bufs, nb * sizeof(uv_buf_t));
	rc = uv_write(&w->req, (uv_stream_t *)&t->handle, w->bufs,
	    (unsigned int)nb, on_write);
	if (rc < 0) {
		log_info("write failed client=%llu error=\"%s\"", (unsigned long long)t->c->id,
		    uv_strerror(rc));
		free(w);
		return -1;
	}
	t->writing++;
	return 0;
}

/*
 * The messages and their newlines go to the socket at once when nothing
 * is queued before them (uv_try_write: one writev, no request to
 * allocate, and no epoll_ctl, which libuv makes after every queued write
 * to stop watching for POLLOUT).  What the socket does not take is queued
 * with uv_write.  Only for an open client with no write of ours in
 * flight: then the n messages just handed over are all the client has in
 * flight, and telling it they are written (client_written) does no more
 * than free them.  A paused or draining client waits for the callback,
 * which resumes or closes it.
 */
static int
tcp_write_msgs(void *tp, const struct client_msg *m, size_t n)
{
	struct tcp *t = tp;
	uv_buf_t bufs[2 * TRY_MSGS], *b = bufs, *heap = NULL;
	size_t nb = 2 * n, total = 0;
	int rc;

	if (n > TRY_MSGS && (b = heap = malloc(nb * sizeof(*b))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		/* libuv only reads these buffers. */
		b[2 * i] = uv_buf_init((char *)(uintptr_t)m[i].data,
		    (unsigned int)m[i].len);
		b[2 * i + 1] = uv_buf_init((char *)(uintptr_t)newline, 1);
		total += m[i].len + 1;
	}
	if (t->writing == 0 && t->c->state == CLIENT_OPEN && total <= INT_MAX) {
		int done = uv_try_write((uv_stream_t *)&t->handle, b,
		    (unsigned int)nb);

		if (done == (int)total) {
			free(heap);
			client_written(t->c, n, 0);
			return 0;
		}
		if (done < 0 && done != UV_EAGAIN) {
			log_info("write failed client=%llu error=\"%s\"",
			    (unsigned long long)t->c->id, uv_strerror(done));
			free(heap);
			return -1;
		}
		/* Skip what was written; the rest goes through the queue. */
		for (size_t k = done > 0 ? (size_t)done : 0; k > 0; ) {
			if (k >= b->len) {
				k -= b->len;
				b++;
				nb--;
			} else {
				b->base += k;
				b->len -= (unsigned int)k;
				k = 0;
			}
		}
	}
	rc = start_write(t, b, nb, n);
	free(heap);
	return rc;
}

static void
on_close(uv_handle_t *h)
{
	struct tcp *t = h->data;
	struct client *c = t->c;

	framer_free(t->fr);
	free(t->stash);
	free(t);
	if (c != NULL)
		client_transport_closed(c);
}

static void
tcp_close(void *tp)
{
	struct tcp *t = tp;

	uv_read_stop((uv_stream_t *)&t->handle);
	t->reading = 0;
	uv_close((uv_handle_t *)&t->handle, on_close);
}

static void
tcp_pause(void *tp)
{
	struct tcp *t = tp;

	if (t->reading)
		uv_read_stop((uv_stream_t *)&t->handle);
	t->reading = 0;
}

static int
on_line(void *ud, const char *line, size_t len, int too_long)
{
	struct tcp *t = ud;

	return client_message(t->c, line, len, too_long);
}

/* When a started line must end: it began now, or it was finished. */
static void
note_partial(struct tcp *t)
{
	struct client *c = t->c;

	if (framer_buffered(t->fr) == 0)
		c->partial_since_ms = 0;
	else if (c->partial_since_ms == 0)
		c->partial_since_ms = server_ms(c->srv);
}

/*
 * Frames buf; what the client did not take (it paused after a line) is
 * kept for later.  -1 when the connection is being closed.
 */
static int
feed(struct tcp *t, const char *buf, size_t len)
{
	size_t used = 0;
	int rc = framer_feed_some(t->fr, buf, len, on_line, t, &used);

	if (rc == FRAMER_ENOMEM) {
		log_err("out of memory framing a line, closing client=%llu",
		    (unsigned long long)t->c->id);
		client_close(t->c);
		return -1;
	}
	note_partial(t);
	if (rc == 0 || used == len || t->c->state != CLIENT_PAUSED)
		return 0;
	/* Paused mid-read: keep the rest for when the client resumes. */
	t->stash = malloc(len - used);
	if (t->stash == NULL) {
		client_close(t->c);
		return -1;
	}
	memcpy(t->stash, buf + used, len - used);
	t->stash_len = len - used;
	return 0;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcp *t = h->data;

	(void)suggested;
	buf->base = t->c->srv->readbuf;
	buf->len = sizeof(t->c->srv->readbuf);
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp *t = st->data;
	struct client *c = t->c;

	if (nread > 0) {
		c->active_ms = server_ms(c->srv);
		if (feed(t, buf->base, (size_t)nread) == 0)
			client_flush_soon(c);
		return;
	}
	if (nread == 0)
		return;
	if (nread == UV_EOF) {
		/* Half-closed: answer what was sent, including a last unterminated line. */
		tcp_pause(t);
		if (framer_buffered(t->fr) > 0 && feed(t, "\n", 1) != 0)
			return;
		client_input_end(c);
		return;
	}
	log_info("read failed, closing client=%llu error=\"%s\"", (unsigned long long)c->id,
	    uv_strerror((int)nread));
	client_close(c);
}

static void
tcp_resume(void *tp)
{
	struct tcp *t = tp;

	/* First what was read before the pause (it may pause again), then the socket. */
	if (t->stash != NULL) {
		char *stash = t->stash;
		size_t len = t->stash_len;
		int rc;

		t->stash = NULL;
		t->stash_len = 0;
		rc = feed(t, stash, len);
		free(stash);
		if (rc != 0)
			return;
	}
	client_flush(t->c);
	if (t->c->state != CLIENT_OPEN || t->reading)
		return;
	if (uv_read_start((uv_stream_t *)&t->handle, on_alloc, on_read) != 0) {
		client_close(t->c);
		return;
	}
	t->reading = 1;
}

static const struct client_transport tcp_transport = {
	.kind = CLIENT_TR_TCP,
	.lines = 1,
	.write = tcp_write_msgs,
	.pause = tcp_pause,
	.resume = tcp_resume,
	.close = tcp_close,
};

/*
 * A gate that loses power sends no FIN: without keepalive its connection
 * (and its per-address slot) would stay until the kernel gives up, hours
 * later.  Probes start after idle_s of silence and come every third of it
 * (at least a second); three unanswered ones close the connection, so a
 * dead peer is noticed within about twice idle_s.  uv_tcp_keepalive sets
 * the idle time only; the interval and count are Linux socket options.
 */
static void
set_keepalive(uv_tcp_t *h, int64_t idle_s)
{
	uv_os_fd_t fd;
	int intvl = idle_s >= 3 ? (int)(idle_s / 3) : 1, cnt = 3;

	if (idle_s <= 0)
		return;
	if (uv_tcp_keepalive(h, 1, (unsigned)idle_s) != 0 ||
	    uv_fileno((uv_handle_t *)h, &fd) != 0)
		return;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

int
tcp_accept(struct server *srv, uv_stream_t *listener)
{
	struct tcp *t = calloc(1, sizeof(*t));
	char peer[80], auth[64];
	int loopback, rc;

	if (t == NULL) {
		log_err("out of memory for a new connection");
		dropper_drop(&srv->drop);
		return -1;
	}
	uv_tcp_init(srv->loop, &t->handle);
	t->handle.data = t;
	rc = uv_accept(listener, (uv_stream_t *)&t->handle);
	if (rc != 0) {
		log_warn("accept failed error=\"%s\"", uv_strerror(rc));
		uv_close((uv_handle_t *)&t->handle, on_close);
		return -1;
	}
	uv_tcp_nodelay(&t->handle, 1);
	set_keepalive(&t->handle, srv->cfg->limits.tcp_keepalive_s);
	server_peer_names(&t->handle, peer, sizeof(peer), auth, sizeof(auth), &loopback);
	t->fr = framer_new((size_t)srv->cfg->limits.max_line);
	t->c = t->fr ? client_new(srv, &tcp_transport, t, peer, auth, loopback) : NULL;
	if (t->c == NULL) {
		log_err("out of memory for a new connection");
		uv_close((uv_handle_t *)&t->handle, on_close);
		return -1;
	}
	srv->stats.accepted++;
	if (client_admit(t->c) != 0)
		return 0;
	tcp_resume(t);
	return 0;
}

int
tcp_endpoint_addr(const struct endpoint *ep, struct sockaddr_storage *ss)
{
	if (strchr(ep->host, ':') != NULL)
		return uv_ip6_addr(ep->host, ep->port, (struct sockaddr_in6 *)ss);
	return uv_ip4_addr(ep->host, ep->port, (struct sockaddr_in *)ss);
}

int
tcp_listen(uv_tcp_t *h, const struct endpoint *ep, int backlog,
    uv_connection_cb cb, const char *name)
{
	struct sockaddr_storage ss;
	int rc;

	if (tcp_endpoint_addr(ep, &ss) != 0) {
		log_err("cannot listen, not a numeric address %s=%s:%d", name,
		    ep->host, ep->port);
		return -1;
	}
	rc = uv_tcp_bind(h, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)h, backlog, cb);
	if (rc != 0) {
		log_err("cannot listen %s=%s:%d error=\"%s\"", name, ep->host,
		    ep->port, uv_strerror(rc));
		return -1;
	}
	return 0;
}
