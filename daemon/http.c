/* http.c - the HTTP side: metrics, health, the map page, WebSocket (see http.h). */
#define LOG_COMPONENT "http"

#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <uv.h>

#include "dropper.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "tcp.h"
#include "webpage.h"
#include "ws.h"

struct http {
	struct server *srv;
	uv_tcp_t listener;
	struct dropper drop;	/* when no connection can be made */
	struct hconn *conns;
	int nplain;		/* connections still speaking plain HTTP */
	int stopping;
	int open_handles;	/* listener and dropper: h is freed when both closed */
};

/* The request being read: what the answer depends on. */
struct hreq {
	char url[HTTP_MAX_URL + 1];
	size_t url_len;
	int url_too_long;
	char field[32];		/* the header being read (clipped: only short names matter) */
	size_t field_len;
	int in_value;
	char value[256];
	size_t value_len;
	/* Headers the WebSocket handshake needs. */
	int upgrade_ws, conn_upgrade, version;
	char key[64], protocols[256], origin[256], host[256];
};

struct hconn {
	struct hconn *prev, *next;
	struct http *h;
	uv_tcp_t tcp;
	uv_timer_t timer;
	http_parser parser;
	struct hreq req;
	char peer[80], auth_peer[64];
	int loopback;
	struct ws *ws;		/* after an upgrade */
	int plain;		/* counted in nplain */
	int in_request;		/* bytes of a request have come */
	int writes;		/* writes in flight */
	int close_when_written;
	int closing, handles;
};

struct hwrite {
	uv_write_t req;
	struct hconn *hc;
	size_t nmsgs;		/* WebSocket messages in it (ws_written) */
	char *buf;
};

static void conn_close(struct hconn *hc);

static void
on_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static void
maybe_free_http(struct http *h)
{
	/* Freed only when the listener, the spare and every connection are closed. */
	if (h->stopping && h->open_handles == 0 && h->conns == NULL)
		free(h);
}

static void
on_conn_close(uv_handle_t *hd)
{
	struct hconn *hc = hd->data;
	struct http *h = hc->h;

	if (--hc->handles > 0)
		return;
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		h->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	if (hc->plain)
		h->nplain--;
	if (hc->ws != NULL)
		ws_closed(hc->ws);
	free(hc);
	maybe_free_http(h);
}

static void
conn_close(struct hconn *hc)
{
	if (hc->closing)
		return;
	hc->closing = 1;
	uv_read_stop((uv_stream_t *)&hc->tcp);
	uv_close((uv_handle_t *)&hc->tcp, on_conn_close);
	uv_close((uv_handle_t *)&hc->timer, on_conn_close);
}

static void
on_written(uv_write_t *w, int status)
{
	struct hwrite *hw = (struct hwrite *)w;
	struct hconn *hc = hw->hc;
	size_t nmsgs = hw->nmsgs;

	free(hw->buf);
	free(hw);
	hc->writes--;
	if (hc->ws != NULL && !hc->closing)
		ws_written(hc->ws, nmsgs, status);
	else if (hc->ws != NULL)
		ws_written(hc->ws, nmsgs, UV_ECANCELED);
	/* Close from the write callback, never right after a write. */
	if (status < 0 || (hc->close_when_written && hc->writes == 0))
		conn_close(hc);
}

/* Writes buf (taking it) on the connection; -1 when it could not start. */
static int
conn_write(struct hconn *hc, char *buf, size_t len, size_t nmsgs)
{
	struct hwrite *hw = malloc(sizeof(*hw));
	uv_buf_t ub = uv_buf_init(buf, (unsigned int)len);

	if (hw == NULL || hc->closing) {
		free(hw);
		free(buf);
		return -1;
	}
	hw->hc = hc;
	hw->nmsgs = nmsgs;
	hw->buf = buf;
	if (uv_write(&hw->req, (uv_stream_t *)&hc->tcp, &ub, 1, on_written) != 0) {
		free(buf);
		free(hw);
		return -1;
	}
	hc->writes++;
	return 0;
}

static const char *
reason_phrase(int code)
{
	switch (code) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/*
 * Sends one response.  extra holds more header lines (each ending in
 * CRLF).  A response that closes the connection says so.
 */
static void
respond(struct hconn *hc, int code, const char *ctype, const char *extra,
    const char *body, size_t blen, int close)
{
	char head[512];
	int hl;
	char *buf;

	hl = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s\r\n", code,
	    reason_phrase(code), ctype, blen, extra ? extra : "",
	    close ? "Connection: close\r\n" : "");
	if (hl < 0 || (size_t)hl >= sizeof(head) || (buf = malloc((size_t)hl + blen)) == NULL) {
		conn_close(hc);
		return;
	}
	memcpy(buf, head, (size_t)hl);
	if (blen > 0)
		memcpy(buf + hl, body, blen);
	if (close) {
		hc->close_when_written = 1;
		uv_read_stop((uv_stream_t *)&hc->tcp);
	}
	if (conn_write(hc, buf, (size_t)hl + blen, 0) != 0)
		conn_close(hc);
}

static void
respond_text(struct hconn *hc, int code, const char *text, int close)
{
	respond(hc, code, "text/plain; charset=utf-8", NULL, text, strlen(text), close);
}

/* ---- WebSocket upgrade ---- */

static int
ws_io_write(void *ud, char *buf, size_t len, size_t nmsgs)
{
	return conn_write(ud, buf, len, nmsgs);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void
on_alloc(uv_handle_t *hd, size_t sz, uv_buf_t *buf)
{
	struct hconn *hc = hd->data;

	(void)sz;
	buf->base = hc->h->srv->readbuf;
	buf->len = sizeof(hc->h->srv->readbuf);
}

static void
ws_io_pause(void *ud)
{
	struct hconn *hc = ud;

	uv_read_stop((uv_stream_t *)&hc->tcp);
}

static void
ws_io_resume(void *ud)
{
	struct hconn *hc = ud;

	if (!hc->closing && uv_read_start((uv_stream_t *)&hc->tcp, on_alloc, on_read) != 0)
		conn_close(hc);
}

static void
ws_io_close(void *ud)
{
	struct hconn *hc = ud;

	uv_read_stop((uv_stream_t *)&hc->tcp);
	if (hc->writes == 0) {
		conn_close(hc);
		return;
	}
	/* Let the close frame go out, but not wait on a peer that does not read. */
	hc->close_when_written = 1;
	uv_timer_start(&hc->timer, on_timeout, HTTP_CLOSE_GRACE_MS, 0);
}

/* Whether the comma-separated list has the token (case-insensitive). */
static int
has_token(const char *list, const char *token)
{
	size_t tl = strlen(token);
	const char *p = list;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, tl) == 0 &&
		    (p[tl] == '\0' || p[tl] == ',' || p[tl] == ' ' || p[tl] == '\t'))
			return 1;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

/* base64(SHA-1(key + the RFC 6455 GUID)). */
static void
accept_key(const char *key, char out[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) + 1])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	struct sha1_ctx ctx;
	uint8_t digest[SHA1_DIGEST_SIZE];

	sha1_init(&ctx);
	sha1_update(&ctx, strlen(key), (const uint8_t *)key);
	sha1_update(&ctx, sizeof(guid) - 1, (const uint8_t *)guid);
	sha1_digest(&ctx, SHA1_DIGEST_SIZE, digest);
	base64_encode_raw((char *)out, SHA1_DIGEST_SIZE, digest);
	out[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE)] = '\0';
}

/*
 * A browser page elsewhere must not open a WebSocket here (in protected
 * mode it would act as the operator): an Origin, when sent, must be this
 * very host.
 */
static int
same_origin(const struct hreq *r)
{
	const char *o = r->origin;

	if (o[0] == '\0')
		return 1;
	if (strncmp(o, "http://", 7) == 0)
		o += 7;
	else if (strncmp(o, "https://", 8) == 0)
		o += 8;
	else
		return 0;
	return r->host[0] != '\0' && strcasecmp(o, r->host) == 0;
}

static void
upgrade(struct hconn *hc)
{
	const struct hreq *r = &hc->req;
	struct ws_io io = { hc, ws_io_write, ws_io_pause, ws_io_resume, ws_io_close };
	char accept[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) + 1], head[512];
	int proto = r->protocols[0] != '\0', hl;
	char *buf;

	if (!r->upgrade_ws || !r->conn_upgrade || r->key[0] == '\0') {
		respond_text(hc, 426, "a WebSocket handshake is needed here\n", 1);
		return;
	}
	if (r->version != 13) {
		respond(hc, 426, "text/plain", "Sec-WebSocket-Version: 13\r\n",
		    "WebSocket version 13 only\n", 26, 1);
		return;
	}
	if (proto && !has_token(r->protocols, "jsonrpc")) {
		respond_text(hc, 400, "the subprotocol is jsonrpc\n", 1);
		return;
	}
	if (!same_origin(r)) {
		respond_text(hc, 403, "cross-origin WebSocket refused\n", 1);
		return;
	}
	accept_key(r->key, accept);
	hl = snprintf(head, sizeof(head), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
	    accept, proto ? "Sec-WebSocket-Protocol: jsonrpc\r\n" : "");
	buf = malloc((size_t)hl);
	if (buf == NULL) {
		conn_close(hc);
		return;
	}
	memcpy(buf, head, (size_t)hl);
	if (conn_write(hc, buf, (size_t)hl, 0) != 0) {
		conn_close(hc);
		return;
	}
	uv_timer_stop(&hc->timer);
	hc->plain = 0;
	hc->h->nplain--;
	hc->ws = ws_new(hc->h->srv, &io, hc->peer, hc->auth_peer, hc->loopback);
	if (hc->ws == NULL)
		conn_close(hc);
}

/* ---- requests ---- */

static void
healthz(struct hconn *hc, int close)
{
	struct server *s = hc->h->srv;
	const char *why = "";
	/* A standby, a fenced primary, sync with no standby: changes go elsewhere. */
	int takes = !s->shutting_down && s->env.writable(s, &why) == 1;
	struct jw w;
	size_t len;
	char *txt;

	jw_init(&w);
	jw_obj(&w);
	s->env.health(s, &w);
	jw_obj_end(&w);
	txt = jw_take(&w, &len);
	if (txt == NULL) {
		respond_text(hc, 503, "out of memory\n", close);
		return;
	}
	/* Gates are served while an audit outage lasts: that is not a failure. */
	respond(hc, takes ? 200 : 503, "application/json", NULL, txt, len, close);
	free(txt);
}

static void
metrics(struct hconn *hc, int close)
{
	size_t len;
	char *txt = metrics_text(hc->h->srv, &len);

	if (txt == NULL) {
		respond_text(hc, 503, "out of memory\n", close);
		return;
	}
	respond(hc, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, txt, len, close);
	free(txt);
}

/* The path of the URL, without the query. */
static int
path_is(const struct hreq *r, const char *path)
{
	size_t pl = strlen(path);

	return strncmp(r->url, path, pl) == 0 &&
	    (r->url[pl] == '\0' || r->url[pl] == '?');
}

static void
route(struct hconn *hc)
{
	const struct hreq *r = &hc->req;
	int get = hc->parser.method == HTTP_GET;
	int stopping = hc->h->srv->shutting_down;
	/*
	 * While the clients drain at shutdown, /healthz and /metrics are still
	 * answered (503 and "shutting down" from /healthz), each response
	 * closing its connection: http_stop closes them all when the drain ends.
	 */
	int close = !http_should_keep_alive(&hc->parser) || stopping;

	if (r->url_too_long) {
		respond_text(hc, 414, "URL too long\n", 1);
		return;
	}
	if (path_is(r, "/ws") && get) {
		/* The clients were told to drain; a new one would hold the exit up. */
		if (stopping)
			respond_text(hc, 503, "shutting down\n", 1);
		else
			upgrade(hc);
		return;
	}
	if (!get) {
		respond(hc, 405, "text/plain", "Allow: GET\r\n", "only GET\n", 9, close);
		return;
	}
	if (path_is(r, "/metrics"))
		metrics(hc, close);
	else if (path_is(r, "/healthz"))
		healthz(hc, close);
	else if (path_is(r, "/"))
		respond(hc, 200, "text/html; charset=utf-8",
		    "Content-Security-Policy: default-src 'self'; connect-src 'self'; "
		    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
		    "img-src 'self' data:\r\n",
		    webpage_map, webpage_map_len, close);
	else
		respond_text(hc, 404, "not found\n", close);
}

/* ---- parser callbacks ---- */

static int
on_message_begin(http_parser *p)
{
	struct hconn *hc = p->data;

	memset(&hc->req, 0, sizeof(hc->req));
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct hreq *r = &((struct hconn *)p->data)->req;

	if (len > HTTP_MAX_URL - r->url_len) {
		r->url_too_long = 1;
		return 0;
	}
	memcpy(r->url + r->url_len, at, len);
	r->url_len += len;
	r->url[r->url_len] = '\0';
	return 0;
}

static void
append(char *dst, size_t cap, size_t *len, const char *at, size_t n)
{
	if (n > cap - 1 - *len)
		n = cap - 1 - *len;
	memcpy(dst + *len, at, n);
	*len += n;
	dst[*len] = '\0';
}

/* A whole header has been read: keep what matters. */
static void
header_done(struct hreq *r)
{
	const char *f = r->field, *v = r->value;

	if (strcasecmp(f, "upgrade") == 0)
		r->upgrade_ws = strcasecmp(v, "websocket") == 0;
	else if (strcasecmp(f, "connection") == 0)
		r->conn_upgrade = has_token(v, "upgrade");
	else if (strcasecmp(f, "sec-websocket-key") == 0)
		snprintf(r->key, sizeof(r->key), "%s", v);
	else if (strcasecmp(f, "sec-websocket-version") == 0)
		r->version = atoi(v);
	else if (strcasecmp(f, "sec-websocket-protocol") == 0)
		snprintf(r->protocols, sizeof(r->protocols), "%s", v);
	else if (strcasecmp(f, "origin") == 0)
		snprintf(r->origin, sizeof(r->origin), "%s", v);
	else if (strcasecmp(f, "host") == 0)
		snprintf(r->host, sizeof(r->host), "%s", v);
	r->field_len = r->value_len = 0;
	r->field[0] = r->value[0] = '\0';
	r->in_value = 0;
}

/* Names and values may come in pieces when the bytes arrived in pieces. */
static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct hreq *r = &((struct hconn *)p->data)->req;

	if (r->in_value)
		header_done(r);
	append(r->field, sizeof(r->field), &r->field_len, at, len);
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct hreq *r = &((struct hconn *)p->data)->req;

	r->in_value = 1;
	append(r->value, sizeof(r->value), &r->value_len, at, len);
	return 0;
}

static int
on_headers_complete(http_parser *p)
{
	struct hreq *r = &((struct hconn *)p->data)->req;

	if (r->in_value)
		header_done(r);
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct hconn *hc = p->data;

	hc->in_request = 0;
	route(hc);
	/*
	 * After a response the connection closes after, requests pipelined
	 * behind it are neither parsed nor answered (RFC 7230 6.6).
	 */
	if (hc->closing || hc->close_when_written)
		http_parser_pause(p, 1);
	/* Wait for the next request; a connection idle too long is closed. */
	if (!hc->closing && hc->ws == NULL)
		uv_timer_start(&hc->timer, on_timeout, HTTP_IDLE_MS, 0);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

/* Bytes of plain HTTP; after an upgrade the rest is the WebSocket's. */
static void
feed_http(struct hconn *hc, const char *data, size_t len)
{
	size_t used;
	enum http_errno e;

	if (!hc->in_request) {
		/* The whole request must arrive within HTTP_REQUEST_MS (slow clients). */
		hc->in_request = 1;
		uv_timer_start(&hc->timer, on_timeout, HTTP_REQUEST_MS, 0);
	}
	used = http_parser_execute(&hc->parser, &settings, data, len);
	if (hc->closing)
		return;
	if (hc->ws != NULL) {
		if (used < len)
			ws_feed(hc->ws, data + used, len - used);
		return;
	}
	/* Paused after a closing response: the rest of the bytes are dropped. */
	if (hc->close_when_written)
		return;
	e = HTTP_PARSER_ERRNO(&hc->parser);
	if (e == HPE_HEADER_OVERFLOW) {
		respond_text(hc, 431, "request headers too large\n", 1);
	} else if (e != HPE_OK) {
		respond_text(hc, 400, http_errno_description(e), 1);
	} else if (hc->parser.upgrade) {
		/* An upgrade to anything but our WebSocket: answered, then closed. */
		hc->close_when_written = 1;
		uv_read_stop((uv_stream_t *)&hc->tcp);
		if (hc->writes == 0)
			conn_close(hc);
	}
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct hconn *hc = st->data;

	if (n == 0)
		return;
	if (n < 0) {
		if (hc->ws != NULL && n == UV_EOF) {
			uv_read_stop(st);
			ws_input_end(hc->ws);
		} else {
			conn_close(hc);
		}
		return;
	}
	if (hc->ws != NULL)
		ws_feed(hc->ws, buf->base, (size_t)n);
	else
		feed_http(hc, buf->base, (size_t)n);
}

static void
on_dropper_stopped(void *ud)
{
	struct http *h = ud;

	h->open_handles--;
	maybe_free_http(h);
}

static void
on_conn(uv_stream_t *l, int status)
{
	struct http *h = l->data;
	struct hconn *hc;

	if (status < 0) {
		server_accept_error(h->srv, status);
		return;
	}
	/* Plain HTTP needs few connections; slow ones cannot pile up. */
	hc = h->nplain < HTTP_MAX_CONNS ? calloc(1, sizeof(*hc)) : NULL;
	if (hc == NULL) {
		dropper_drop(&h->drop);
		return;
	}
	h->nplain++;
	hc->plain = 1;
	hc->h = h;
	hc->handles = 2;
	uv_tcp_init(l->loop, &hc->tcp);
	uv_timer_init(l->loop, &hc->timer);
	hc->tcp.data = hc->timer.data = hc;
	http_parser_init(&hc->parser, HTTP_REQUEST);
	hc->parser.data = hc;
	hc->next = h->conns;
	if (h->conns)
		h->conns->prev = hc;
	h->conns = hc;
	if (uv_accept(l, (uv_stream_t *)&hc->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&hc->tcp, on_alloc, on_read) != 0) {
		conn_close(hc);
		return;
	}
	uv_tcp_nodelay(&hc->tcp, 1);
	server_peer_names(&hc->tcp, hc->peer, sizeof(hc->peer), hc->auth_peer,
	    sizeof(hc->auth_peer), &hc->loopback);
	uv_timer_start(&hc->timer, on_timeout, HTTP_REQUEST_MS, 0);
}

static void
on_listener_close(uv_handle_t *hd)
{
	struct http *h = hd->data;

	h->open_handles--;
	maybe_free_http(h);
}

struct http *
http_start(struct server *srv, int *failed)
{
	const struct endpoint *ep = &srv->cfg->http;
	struct http *h;

	*failed = 0;
	if (!ep->enabled)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		*failed = 1;
		return NULL;
	}
	h->srv = srv;
	http_parser_set_max_header_size(HTTP_MAX_HEADER);
	uv_tcp_init(srv->loop, &h->listener);
	dropper_init(&h->drop, srv->loop, (uv_stream_t *)&h->listener);
	h->listener.data = h;
	h->open_handles = 2;
	if (tcp_listen(&h->listener, ep, 128, on_conn, "http_listen") != 0) {
		h->stopping = 1;
		uv_close((uv_handle_t *)&h->listener, on_listener_close);
		dropper_stop(&h->drop, on_dropper_stopped, h);
		*failed = 1;
		return NULL;
	}
	log_info("listening (/metrics, /healthz, the map at /, WebSocket at /ws) "
	    "http_listen=%s:%d",
	    ep->host, ep->port);
	return h;
}

int
http_plain_connections(const struct http *h)
{
	return h == NULL ? 0 : h->nplain;
}

void
http_stop(struct http *h)
{
	struct hconn *hc, *next;

	if (h == NULL || h->stopping)
		return;
	h->stopping = 1;
	/*
	 * Called once the clients have drained (server.c, on_drain_timer), so
	 * a WebSocket here is only finishing its close; plain HTTP goes now.
	 */
	for (hc = h->conns; hc != NULL; hc = next) {
		next = hc->next;
		if (hc->ws == NULL)
			conn_close(hc);
	}
	uv_close((uv_handle_t *)&h->listener, on_listener_close);
	dropper_stop(&h->drop, on_dropper_stopped, h);
}
