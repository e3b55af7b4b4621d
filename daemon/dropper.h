/*
 * dropper.h - accepts a listener's pending connection only to close it
 * (a cap reached, out of memory).
 *
 * libuv stops watching a listener whose connection callback returns with
 * the connection not accepted, until something accepts it: a callback
 * that cannot take a connection must still accept it, or the port goes
 * deaf.  A dropper does that with one handle made in advance (no memory
 * needed then); a connection dropped while that handle is still closing
 * is accepted as soon as it is free again.
 */
#ifndef PARKD_DROPPER_H
#define PARKD_DROPPER_H

#include <uv.h>

struct dropper {
	uv_tcp_t h;
	uv_stream_t *listener;
	int busy;		/* h is closing the last connection dropped */
	int pending;		/* one more waits on the listener meanwhile */
	int stopping;
	void (*stopped)(void *ud);
	void *ud;
};

void dropper_init(struct dropper *d, uv_loop_t *loop, uv_stream_t *listener);
/* From the listener's connection callback: its connection is closed. */
void dropper_drop(struct dropper *d);
/*
 * Closes the handle (the listener is closed, or being closed); stopped(ud),
 * if not NULL, once it is.  d must live until then.
 */
void dropper_stop(struct dropper *d, void (*stopped)(void *ud), void *ud);

#endif
