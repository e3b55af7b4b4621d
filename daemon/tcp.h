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

struct server;

/* Accepts a pending connection from the listener; 0 or -1 (logged). */
int tcp_accept(struct server *srv, uv_stream_t *listener);

#endif
