/*
 * http.h - a very small HTTP/1.x endpoint for operations: GET /metrics
 * (Prometheus text format) and GET /healthz.  One request per connection,
 * bounded request size and time, answered from memory, then closed.
 */
#ifndef PARKD_HTTP_H
#define PARKD_HTTP_H

struct server;
struct http;

/* Requests served at once (each holds a descriptor; more are dropped). */
#define HTTP_MAX_CONNS 64

/* Listens on cfg->http when enabled; NULL when off or on error (logged). */
struct http *http_start(struct server *srv, int *failed);
/* Stops listening and closes open requests; frees in the close callbacks. */
void http_stop(struct http *h);

#endif
