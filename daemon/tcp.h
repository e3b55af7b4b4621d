/*
 * tcp.h - the line transport: clients on the protocol's TCP port.
 *
 * Bytes from the socket go through a line framer (proto/frame.h) and each
 * line is handed to the client (daemon/client.h); each message the client
 * sends is written with a newline.  When the client pauses, the bytes
 * already read but not yet framed are kept (at most one read's worth) and
 * fed first when it resumes, so no request is lost or reordered.
 */
#ifndef PARKD_TCP_H
#define PARKD_TCP_H

#include <uv.h>

struct endpoint;
struct server;

/*
 * The socket address of a numeric endpoint (IPv4, or IPv6 when the host
 * has a colon): 0, or a libuv error for a host that is not numeric.
 */
int tcp_endpoint_addr(const struct endpoint *ep, struct sockaddr_storage *ss);

/*
 * Binds the initialized handle h to the numeric endpoint ep and listens
 * with backlog, calling cb for each connection: 0, or -1 with the reason
 * logged under the endpoint's configuration key (name).  On -1 the caller
 * closes h.
 */
int tcp_listen(uv_tcp_t *h, const struct endpoint *ep, int backlog,
    uv_connection_cb cb, const char *name);

/* Accepts a pending connection from the listener; 0 or -1 (logged). */
int tcp_accept(struct server *srv, uv_stream_t *listener);

#endif
