/*
 * http.h - the HTTP side on http_listen: GET /metrics, /healthz, the live
 * map page at / and its WebSocket at /ws (http.md).
 *
 * HTTP/1.1 with keep-alive and pipelining, parsed by http-parser (an
 * I/O-free parser driven from the loop's reads).  Requests are answered
 * from memory in the order they came.  Bounds: headers of at most
 * HTTP_MAX_HEADER bytes (431 past it), a request must arrive completely
 * within HTTP_REQUEST_MS of its first byte and a kept-alive connection may
 * sit idle HTTP_IDLE_MS, at most HTTP_MAX_CONNS plain HTTP connections.
 * A GET /ws with a valid WebSocket handshake is upgraded and becomes a
 * client like one on the TCP port (daemon/ws.h), counted and limited as
 * those are.
 */
#ifndef PARKD_HTTP_H
#define PARKD_HTTP_H

struct server;
struct http;

/* Plain HTTP connections at once (each holds a descriptor; more are dropped). */
#define HTTP_MAX_CONNS 64
#define HTTP_MAX_HEADER 8192
#define HTTP_MAX_URL 1024
#define HTTP_REQUEST_MS 5000
#define HTTP_IDLE_MS 30000
/* How long a closing WebSocket waits for its last frames to be written. */
#define HTTP_CLOSE_GRACE_MS 1000

/* Listens on cfg->http when enabled; NULL when off or on error (logged). */
struct http *http_start(struct server *srv, int *failed);
/* Connections still speaking plain HTTP (not upgraded); 0 for NULL. */
int http_plain_connections(const struct http *h);
/* Stops listening and closes connections; frees in the close callbacks. */
void http_stop(struct http *h);

#endif
