/* http.c - /metrics and /healthz (see http.h). */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "audit.h"
#include "journal.h"
#include "log.h"
#include "server.h"

#define HTTP_MAX_REQUEST 8192
#define HTTP_TIMEOUT_MS 5000

struct http {
	struct server *srv;
	uv_tcp_t listener;
	uv_tcp_t spare;		/* accepts and drops when no request can be made */
	int spare_busy;
	struct hreq *reqs;
	int nreqs;
	int stopping;
	int open_handles;	/* listener and spare: h is freed when both closed */
};

struct hreq {
	struct hreq *prev, *next;
	struct http *h;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	char buf[HTTP_MAX_REQUEST];
	size_t len;
	char *out;
	int closing, handles;
};

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static __attribute__((format(printf, 2, 3))) void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t nc = b->cap ? b->cap * 2 : 4096;
			char *np;

			while (nc < b->len + (size_t)n + 1)
				nc *= 2;
			np = realloc(b->p, nc);
			if (np == NULL) {
				b->oom = 1;
				return;
			}
			b->p = np;
			b->cap = nc;
		}
	}
}

static void
metric(struct sbuf *b, const char *name, const char *type, const char *help,
    double v)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name,
	    type, name, v);
}

static void
metrics(struct server *s, struct sbuf *b)
{
	const struct server_stats *st = &s->stats;
	const facility *f = garage_facility(s->g);
	const alloc *a = garage_alloc(s->g);
	struct alloc_counts k;

	metric(b, "parkd_up", "gauge", "1 while parkd runs.", 1);
	metric(b, "parkd_connections", "gauge", "Open protocol connections.", (double)s->n_clients);
	metric(b, "parkd_connections_accepted_total", "counter", "Connections accepted.", (double)st->accepted);
	metric(b, "parkd_connections_refused_total", "counter", "Connections refused (client limit, protected mode).", (double)st->refused);
	metric(b, "parkd_accept_errors_total", "counter", "Accepts that failed (out of descriptors, ...).", (double)st->accept_errors);
	metric(b, "parkd_connections_closed_output_total", "counter", "Connections closed for passing limits.max_output.", (double)st->closed_output);
	metric(b, "parkd_connections_closed_idle_total", "counter", "Connections closed for idleness.", (double)st->closed_idle);
	metric(b, "parkd_connections_closed_slow_total", "counter", "Connections closed for a line not finished or output not read within their timeouts.", (double)st->closed_slow);
	metric(b, "parkd_output_queued_bytes", "gauge", "Output all clients hold (limits.max_output_total).", (double)s->out_total);
	metric(b, "parkd_requests_total", "counter", "Request lines handled.", (double)st->requests);
	metric(b, "parkd_lines_too_long_total", "counter", "Lines over limits.max_line.", (double)st->lines_too_long);
	metric(b, "parkd_rate_limited_total", "counter", "Requests refused by the rate limit.", (double)st->rate_limited);
	metric(b, "parkd_auth_failures_total", "counter", "Failed auth calls.", (double)st->auth_failures);
	metric(b, "parkd_internal_errors_total", "counter", "Requests answered internal_error.", (double)st->internal_errors);

	alloc_counts(a, &k);
	sb_printf(b, "# HELP parkd_spots Spots by state.\n# TYPE parkd_spots gauge\n");
	sb_printf(b, "parkd_spots{state=\"free\"} %llu\n", (unsigned long long)k.free);
	sb_printf(b, "parkd_spots{state=\"occupied\"} %llu\n", (unsigned long long)k.occupied);
	sb_printf(b, "parkd_spots{state=\"out_of_service\"} %llu\n", (unsigned long long)k.out_of_service);
	sb_printf(b, "parkd_spots{state=\"held\"} %llu\n", (unsigned long long)k.held);
	sb_printf(b, "# HELP parkd_spots_free Free spots by type.\n# TYPE parkd_spots_free gauge\n");
	for (int i = 0; i < facility_type_count(f); i++) {
		alloc_counts_by_type(a, i, &k);
		sb_printf(b, "parkd_spots_free{type=\"%s\"} %llu\n", facility_type_name(f, i),
		    (unsigned long long)k.free);
	}
	metric(b, "parkd_vehicles_inside", "gauge", "Open tickets.", (double)garage_inside_count(s->g));

	if (s->journal != NULL) {
		const struct journal_stats *js = journal_stats(s->journal);

		metric(b, "parkd_journal_writable", "gauge", "1 while changes can be made durable.", journal_writable(s->journal));
		metric(b, "parkd_journal_lsn", "gauge", "Last journal record appended.", (double)journal_last(s->journal));
		metric(b, "parkd_journal_durable_lsn", "gauge", "Last journal record on disk.", (double)journal_durable(s->journal));
		metric(b, "parkd_journal_records_total", "counter", "Records appended.", (double)js->records);
		metric(b, "parkd_journal_bytes_total", "counter", "Bytes appended.", (double)js->bytes);
		metric(b, "parkd_journal_batches_total", "counter", "Group-commit batches written.", (double)js->batches);
		metric(b, "parkd_journal_fsyncs_total", "counter", "fdatasync calls for batches.", (double)js->fsyncs);
		metric(b, "parkd_journal_max_batch", "gauge", "Most records in one batch.", (double)js->max_batch);
		metric(b, "parkd_journal_failures_total", "counter", "Write or fsync failures.", (double)js->failures);
		metric(b, "parkd_journal_snapshots_total", "counter", "Snapshots committed.", (double)js->snapshots);
		metric(b, "parkd_journal_recovery_seconds", "gauge", "Time the last start-up recovery took.", js->last_recovery_s);
	}
	metric(b, "parkd_audit_connected", "gauge", "1 while events reach Redis.",
	    strcmp(audit_state(s->audit), "connected") == 0);
	metric(b, "parkd_audit_stalled", "gauge",
	    "1 from a command at Redis passing its deadline until a batch is stored.",
	    strcmp(audit_state(s->audit), "stalled") == 0);
	metric(b, "parkd_audit_pending", "gauge", "Durable events not yet in Redis.",
	    (double)audit_pending(s->audit));
	metric(b, "parkd_audit_oldest_unshipped_age_seconds", "gauge",
	    "Since the oldest durable event not yet in Redis became durable (0: none).",
	    (double)audit_oldest_unshipped_age_s(s->audit));
	metric(b, "parkd_audit_shipped_total", "counter", "Events stored in Redis.",
	    (double)audit_shipped(s->audit));
}

static void
maybe_free_http(struct http *h)
{
	/* Freed only when the listener, the spare and every request are closed. */
	if (h->stopping && h->open_handles == 0 && h->reqs == NULL)
		free(h);
}

static void
on_req_close(uv_handle_t *hd)
{
	struct hreq *r = hd->data;
	struct http *h = r->h;

	if (--r->handles > 0)
		return;
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	h->nreqs--;
	free(r->out);
	free(r);
	maybe_free_http(h);
}

static void
req_close(struct hreq *r)
{
	if (r->closing)
		return;
	r->closing = 1;
	uv_close((uv_handle_t *)&r->tcp, on_req_close);
	uv_close((uv_handle_t *)&r->timer, on_req_close);
}

static void
on_written(uv_write_t *w, int status)
{
	(void)status;
	req_close(w->data);
}

static void
respond(struct hreq *r, int code, const char *ctype, const char *body, size_t blen)
{
	struct sbuf b = { NULL, 0, 0, 0 };
	uv_buf_t ub;

	sb_printf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", code,
	    code == 200 ? "OK" : code == 404 ? "Not Found" : code == 503 ?
	    "Service Unavailable" : code == 405 ? "Method Not Allowed" : "Bad Request",
	    ctype, blen);
	if (!b.oom && blen > 0) {
		/* Append the body (may contain no NULs; built by sb_printf). */
		sb_printf(&b, "%.*s", (int)blen, body);
	}
	if (b.oom) {
		free(b.p);
		req_close(r);
		return;
	}
	uv_read_stop((uv_stream_t *)&r->tcp);
	r->out = b.p;
	ub = uv_buf_init(r->out, (unsigned int)b.len);
	r->wr.data = r;
	if (uv_write(&r->wr, (uv_stream_t *)&r->tcp, &ub, 1, on_written) != 0)
		req_close(r);
}

static void
handle(struct hreq *r)
{
	struct server *s = r->h->srv;

	if (strncmp(r->buf, "GET ", 4) != 0) {
		respond(r, 405, "text/plain", "only GET\n", 9);
		return;
	}
	if (strncmp(r->buf + 4, "/metrics ", 9) == 0 || strncmp(r->buf + 4, "/metrics?", 9) == 0) {
		struct sbuf b = { NULL, 0, 0, 0 };

		metrics(s, &b);
		if (b.oom)
			respond(r, 503, "text/plain", "out of memory\n", 14);
		else
			respond(r, 200, "text/plain; version=0.0.4", b.p, b.len);
		free(b.p);
		return;
	}
	if (strncmp(r->buf + 4, "/healthz ", 9) == 0) {
		struct jw w;
		size_t len;
		char *txt;

		jw_init(&w);
		jw_obj(&w);
		s->env.health(s, &w);
		jw_obj_end(&w);
		txt = jw_take(&w, &len);
		if (txt == NULL) {
			respond(r, 503, "text/plain", "out of memory\n", 14);
			return;
		}
		respond(r, strstr(txt, "\"status\":\"ok\"") ? 200 : 503,
		    "application/json", txt, len);
		free(txt);
		return;
	}
	respond(r, 404, "text/plain", "not found\n", 10);
}

static void
on_alloc(uv_handle_t *hd, size_t sz, uv_buf_t *buf)
{
	struct hreq *r = hd->data;

	(void)sz;
	buf->base = r->buf + r->len;
	buf->len = sizeof(r->buf) - 1 - r->len;
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct hreq *r = st->data;

	(void)buf;
	if (n < 0) {
		req_close(r);
		return;
	}
	r->len += (size_t)n;
	r->buf[r->len] = '\0';
	if (strstr(r->buf, "\r\n\r\n") != NULL || strstr(r->buf, "\n\n") != NULL)
		handle(r);
	else if (r->len >= sizeof(r->buf) - 1)
		respond(r, 400, "text/plain", "request too large\n", 18);
}

static void
on_timeout(uv_timer_t *t)
{
	req_close(t->data);
}

static void
on_spare_close(uv_handle_t *hd)
{
	struct http *h = hd->data;

	h->spare_busy = 0;
	if (h->stopping) {
		h->open_handles--;
		maybe_free_http(h);
	} else {
		uv_tcp_init(h->listener.loop, &h->spare);
	}
}

/* Accepts a connection only to close it (over the cap, out of memory). */
static void
drop_conn(struct http *h)
{
	if (h->spare_busy)
		return;		/* libuv offers it again once accepting resumes */
	h->spare_busy = 1;
	if (uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)&h->spare) != 0) {
		h->spare_busy = 0;
		return;
	}
	uv_close((uv_handle_t *)&h->spare, on_spare_close);
}

static void
on_conn(uv_stream_t *l, int status)
{
	struct http *h = l->data;
	struct hreq *r;

	if (status < 0) {
		server_accept_error(h->srv, status);
		return;
	}
	/* A scrape endpoint needs few connections; slow ones cannot pile up. */
	r = h->nreqs < HTTP_MAX_CONNS ? calloc(1, sizeof(*r)) : NULL;
	if (r == NULL) {
		drop_conn(h);
		return;
	}
	h->nreqs++;
	r->h = h;
	r->handles = 2;
	uv_tcp_init(l->loop, &r->tcp);
	uv_timer_init(l->loop, &r->timer);
	r->tcp.data = r->timer.data = r;
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	if (uv_accept(l, (uv_stream_t *)&r->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) != 0) {
		req_close(r);
		return;
	}
	uv_timer_start(&r->timer, on_timeout, HTTP_TIMEOUT_MS, 0);
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
	struct sockaddr_storage ss;
	struct http *h;
	int rc;

	*failed = 0;
	if (!ep->enabled)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		*failed = 1;
		return NULL;
	}
	h->srv = srv;
	if (strchr(ep->host, ':') != NULL)
		rc = uv_ip6_addr(ep->host, ep->port, (struct sockaddr_in6 *)&ss);
	else
		rc = uv_ip4_addr(ep->host, ep->port, (struct sockaddr_in *)&ss);
	uv_tcp_init(srv->loop, &h->listener);
	uv_tcp_init(srv->loop, &h->spare);
	h->listener.data = h->spare.data = h;
	h->open_handles = 2;
	if (rc == 0)
		rc = uv_tcp_bind(&h->listener, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&h->listener, 64, on_conn);
	if (rc != 0) {
		log_err("http_listen %s:%d: %s", ep->host, ep->port, uv_strerror(rc));
		h->stopping = 1;
		uv_close((uv_handle_t *)&h->listener, on_listener_close);
		uv_close((uv_handle_t *)&h->spare, on_spare_close);
		*failed = 1;
		return NULL;
	}
	log_info("metrics on http://%s:%d/metrics", ep->host, ep->port);
	return h;
}

void
http_stop(struct http *h)
{
	if (h == NULL || h->stopping)
		return;
	h->stopping = 1;
	for (struct hreq *r = h->reqs; r != NULL; r = r->next)
		req_close(r);
	uv_close((uv_handle_t *)&h->listener, on_listener_close);
	if (!h->spare_busy)
		uv_close((uv_handle_t *)&h->spare, on_spare_close);
}
