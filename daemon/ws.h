/*
 * ws.h - the WebSocket transport: clients on GET /ws (RFC 6455).
 *
 * Frames are read and written by wslay's event API; each text message is
 * one request for a client (daemon/client.h), exactly as a line is on the
 * TCP port, and each message the client sends goes out as one text frame.
 * The socket belongs to the HTTP connection that was upgraded
 * (daemon/http.c): it hands received bytes to ws_feed(), writes the bytes
 * given to its io.write, and reports back with ws_written() and
 * ws_closed().  Nothing here touches a socket.
 *
 * Framing as on the TCP port: one trailing LF or CRLF of a message is
 * dropped, and a message then empty or only spaces and tabs is ignored.
 *
 * Limits: a message longer than limits.max_line (not counting that LF or
 * CRLF) is answered line_too_long, as such a line on the TCP port; one
 * longer than twice that (held whole in memory until then) closes the
 * connection with code 1009; binary messages with 1003.  While
 * the client is paused, messages already decoded wait here (at most what
 * one read brought) and reading from the socket stops.
 */
#ifndef PARKD_WS_H
#define PARKD_WS_H

#include <stddef.h>

struct server;
struct ws;

/* What the HTTP connection does for its WebSocket. */
struct ws_io {
	void *ud;
	/*
	 * Writes len bytes (ownership of buf passes, free it with free());
	 * then calls ws_written(ws, nmsgs, status).  0 or -1.
	 */
	int (*write)(void *ud, char *buf, size_t len, size_t nmsgs);
	void (*pause)(void *ud);
	void (*resume)(void *ud);
	/* Closes the socket once writes in flight are done; then ws_closed(). */
	void (*close)(void *ud);
};

/*
 * A WebSocket client on an upgraded connection; NULL when out of memory.
 * The client is admitted (limits, protected mode) as on the TCP port.
 */
struct ws *ws_new(struct server *srv, const struct ws_io *io, const char *peer,
    const char *auth_peer, int loopback);
/* Bytes from the socket.  -1 when the connection is being closed. */
int ws_feed(struct ws *w, const char *data, size_t len);
/* The peer closed its side (EOF or error). */
void ws_input_end(struct ws *w);
/* A write made through io.write finished. */
void ws_written(struct ws *w, size_t nmsgs, int status);
/* The socket is closed: frees w (its client when nothing else holds it). */
void ws_closed(struct ws *w);

#endif
