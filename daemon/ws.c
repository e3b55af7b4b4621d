/* ws.c - the WebSocket transport for clients (see ws.h). */
#include "ws.h"

#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "client.h"
#include "frame.h"
#include "log.h"
#include "server.h"

/* The longest message held, in max_lines: longer ones close the connection. */
#define WS_MAX_MESSAGE_LINES 2

/* A decoded message waiting for a paused client. */
struct pending {
	struct pending *next;
	size_t len;
	int too_long;		/* answered line_too_long: data not kept */
	char data[];
};

struct ws {
	struct server *srv;
	struct ws_io io;
	struct client *c;
	wslay_event_context_ptr ctx;
	/* Received bytes not yet taken by wslay. */
	char *in;
	size_t in_len, in_off, in_cap;
	/* Frames wslay produced during one send, written as one buffer. */
	char *out;
	size_t out_len, out_cap;
	int out_failed;
	struct pending *pend_head, *pend_tail;
	int paused;		/* the client takes no requests now */
	int in_recv;		/* inside wslay_event_recv: sends wait until it returns */
	size_t unsent;		/* client messages queued in wslay, not yet flushed */
	int closing;		/* io.close called */
	int failed;		/* out of memory: closing */
};

/* wslay pulls received bytes from here; nothing left is "would block". */
static ssize_t
recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *ud)
{
	struct ws *w = ud;
	size_t n = w->in_len - w->in_off;

	(void)flags;
	if (n == 0 || w->paused) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (n > len)
		n = len;
	memcpy(buf, w->in + w->in_off, n);
	w->in_off += n;
	return (ssize_t)n;
}

/* wslay pushes frames here; they are written together after the send. */
static ssize_t
send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
    void *ud)
{
	struct ws *w = ud;

	(void)flags;
	if (len > w->out_cap - w->out_len) {
		size_t cap = w->out_cap ? w->out_cap : 4096;
		char *nb;

		while (cap - w->out_len < len)
			cap *= 2;
		nb = realloc(w->out, cap);
		if (nb == NULL) {
			w->out_failed = 1;
			wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
			return -1;
		}
		w->out = nb;
		w->out_cap = cap;
	}
	memcpy(w->out + w->out_len, data, len);
	w->out_len += len;
	return (ssize_t)len;
}

static void ws_close_now(struct ws *w);

/* Sends what wslay has queued; nmsgs of the client's messages are in it. */
static void
flush(struct ws *w, size_t nmsgs)
{
	char *buf;
	size_t len;

	if (w->closing)
		return;
	if (wslay_event_want_write(w->ctx) && wslay_event_send(w->ctx) != 0) {
		ws_close_now(w);
		return;
	}
	if (w->out_len == 0 && nmsgs == 0)
		goto done;
	buf = w->out;
	len = w->out_len;
	w->out = NULL;
	w->out_len = w->out_cap = 0;
	if (w->io.write(w->io.ud, buf, len, nmsgs) != 0) {
		ws_close_now(w);
		return;
	}
done:
	/* Both directions finished the close handshake: the socket can go. */
	if (!wslay_event_want_read(w->ctx) && !wslay_event_want_write(w->ctx))
		ws_close_now(w);
}

static void
ws_close_now(struct ws *w)
{
	if (w->closing)
		return;
	w->closing = 1;
	w->io.close(w->io.ud);
}

static int
queue_pending(struct ws *w, const uint8_t *msg, size_t len, int too_long)
{
	struct pending *p;

	if (too_long)
		len = 0;
	if ((p = malloc(sizeof(*p) + len)) == NULL)
		return -1;
	p->next = NULL;
	p->len = len;
	p->too_long = too_long;
	memcpy(p->data, msg, len);
	if (w->pend_tail != NULL)
		w->pend_tail->next = p;
	else
		w->pend_head = p;
	w->pend_tail = p;
	return 0;
}

/* Hands a request to the client; 1 when it takes no more for now. */
static int
deliver(struct ws *w, const char *msg, size_t len, int too_long)
{
	int rc = client_message(w->c, msg, len, too_long);

	if (rc != 0 && w->c->state == CLIENT_PAUSED)
		w->paused = 1;
	return rc;
}

static void
on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
    void *ud)
{
	struct ws *w = ud;
	enum frame_line_kind kind;
	size_t len;
	int too_long;

	if (arg->opcode == WSLAY_BINARY_FRAME) {
		wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA,
		    (const uint8_t *)"text messages only", 18);
		return;
	}
	if (arg->opcode != WSLAY_TEXT_FRAME || w->closing)
		return;		/* control frames: wslay answers them */
	if (w->c->state != CLIENT_OPEN && w->c->state != CLIENT_PAUSED)
		return;		/* draining or closing: no more requests */
	/*
	 * A text message is a line of the TCP port (protocol.md section 1):
	 * a trailing LF or CRLF is framing, a blank one is ignored, a long
	 * one is answered line_too_long and not run.
	 */
	len = arg->msg_length;
	if (len > 0 && arg->msg[len - 1] == '\n')
		len--;
	kind = frame_line((const char *)arg->msg, &len,
	    (size_t)w->srv->cfg->limits.max_line);
	if (kind == FRAME_BLANK)
		return;
	too_long = kind == FRAME_TOO_LONG;
	if (w->paused || w->pend_head != NULL) {
		/* Decoded before the pause took effect: keep it, in order. */
		if (queue_pending(w, arg->msg, len, too_long) != 0)
			w->failed = 1;
		return;
	}
	deliver(w, (const char *)arg->msg, len, too_long);
}

static int
ws_write_msgs(void *tp, const struct client_msg *m, size_t n)
{
	struct ws *w = tp;

	for (size_t i = 0; i < n; i++) {
		struct wslay_event_msg msg = { WSLAY_TEXT_FRAME,
		    (const uint8_t *)m[i].data, m[i].len };

		/* wslay copies the message; the client's copy goes when written. */
		if (wslay_event_queue_msg(w->ctx, &msg) != 0)
			return -1;
	}
	w->unsent += n;
	/* Never send from inside wslay_event_recv: pump() flushes after it. */
	if (!w->in_recv) {
		n = w->unsent;
		w->unsent = 0;
		flush(w, n);
	}
	return w->closing ? -1 : 0;
}

static void
ws_pause(void *tp)
{
	struct ws *w = tp;

	w->paused = 1;
	w->io.pause(w->io.ud);
}

/* Reads what wslay can decode from the bytes received; -1 when closing. */
static int
pump(struct ws *w)
{
	size_t n;
	int rc;

	w->in_recv = 1;
	rc = wslay_event_recv(w->ctx);
	w->in_recv = 0;
	n = w->unsent;
	w->unsent = 0;
	if (rc != 0 || w->failed) {
		ws_close_now(w);
		return -1;
	}
	if (w->in_off == w->in_len)
		w->in_off = w->in_len = 0;
	flush(w, n);
	return w->closing ? -1 : 0;
}

static void
ws_resume(void *tp)
{
	struct ws *w = tp;

	w->paused = 0;
	/* First the messages decoded before the pause, in order. */
	while (w->pend_head != NULL && !w->paused && !w->closing) {
		struct pending *p = w->pend_head;

		w->pend_head = p->next;
		if (w->pend_head == NULL)
			w->pend_tail = NULL;
		deliver(w, p->data, p->len, p->too_long);
		free(p);
	}
	if (!w->paused && !w->closing && pump(w) != 0)
		return;
	/* Whatever was answered goes out, paused again or not. */
	client_flush(w->c);
	if (!w->paused && !w->closing)
		w->io.resume(w->io.ud);
}

static void
ws_transport_close(void *tp)
{
	struct ws *w = tp;

	/* A close frame first when wslay can still write one. */
	if (!w->closing && wslay_event_get_write_enabled(w->ctx)) {
		wslay_event_queue_close(w->ctx, WSLAY_CODE_GOING_AWAY, NULL, 0);
		flush(w, 0);
	}
	ws_close_now(w);
}

static const struct client_transport ws_transport = {
	.kind = CLIENT_TR_WS,
	.write = ws_write_msgs,
	.pause = ws_pause,
	.resume = ws_resume,
	.close = ws_transport_close,
};

struct ws *
ws_new(struct server *srv, const struct ws_io *io, const char *peer,
    const char *auth_peer, int loopback)
{
	static const struct wslay_event_callbacks cbs = {
		.recv_callback = recv_cb,
		.send_callback = send_cb,
		.on_msg_recv_callback = on_msg,
	};
	struct ws *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->srv = srv;
	w->io = *io;
	if (wslay_event_context_server_init(&w->ctx, &cbs, w) != 0) {
		free(w);
		return NULL;
	}
	/*
	 * wslay holds a message whole: past max_line it is answered
	 * line_too_long (on_msg), past twice that (the memory it may take)
	 * the connection closes with 1009.  A CRLF at the end does not count.
	 */
	wslay_event_config_set_max_recv_msg_length(w->ctx,
	    (uint64_t)srv->cfg->limits.max_line * WS_MAX_MESSAGE_LINES + 2);
	w->c = client_new(srv, &ws_transport, w, peer, auth_peer, loopback);
	if (w->c == NULL) {
		wslay_event_context_free(w->ctx);
		free(w);
		return NULL;
	}
	srv->stats.accepted++;
	client_admit(w->c);
	return w;
}

int
ws_feed(struct ws *w, const char *data, size_t len)
{
	if (w->closing)
		return -1;
	w->c->active_ms = server_ms(w->srv);
	if (len > w->in_cap - w->in_len) {
		size_t cap = w->in_cap ? w->in_cap : 4096;
		char *nb;

		while (cap - w->in_len < len)
			cap *= 2;
		nb = realloc(w->in, cap);
		if (nb == NULL) {
			ws_close_now(w);
			return -1;
		}
		w->in = nb;
		w->in_cap = cap;
	}
	memcpy(w->in + w->in_len, data, len);
	w->in_len += len;
	if (w->paused)
		return 0;
	if (pump(w) != 0)
		return -1;
	client_flush(w->c);
	return 0;
}

void
ws_input_end(struct ws *w)
{
	client_input_end(w->c);
}

void
ws_written(struct ws *w, size_t nmsgs, int status)
{
	client_written(w->c, nmsgs, status);
}

void
ws_closed(struct ws *w)
{
	struct pending *p, *next;

	for (p = w->pend_head; p != NULL; p = next) {
		next = p->next;
		free(p);
	}
	wslay_event_context_free(w->ctx);
	free(w->in);
	free(w->out);
	client_transport_closed(w->c);
	free(w);
}
