/* dropper.c - accepting a connection only to close it (see dropper.h). */
#include "dropper.h"

#include <stddef.h>

static void
on_close(uv_handle_t *hd)
{
	struct dropper *d = hd->data;

	d->busy = 0;
	if (d->stopping) {
		if (d->stopped != NULL)
			d->stopped(d->ud);
		return;
	}
	uv_tcp_init(hd->loop, &d->h);
	d->h.data = d;
	if (d->pending) {
		d->pending = 0;
		dropper_drop(d);
	}
}

void
dropper_init(struct dropper *d, uv_loop_t *loop, uv_stream_t *listener)
{
	d->listener = listener;
	d->busy = d->pending = d->stopping = 0;
	d->stopped = NULL;
	d->ud = NULL;
	uv_tcp_init(loop, &d->h);
	d->h.data = d;
}

void
dropper_drop(struct dropper *d)
{
	if (d->stopping)
		return;
	if (d->busy) {
		/* Accepted when h is free: the listener waits until then. */
		d->pending = 1;
		return;
	}
	/* Fails only when nothing is pending (the listener accepts again). */
	if (uv_accept(d->listener, (uv_stream_t *)&d->h) != 0)
		return;
	d->busy = 1;
	uv_close((uv_handle_t *)&d->h, on_close);
}

void
dropper_stop(struct dropper *d, void (*stopped)(void *ud), void *ud)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	d->pending = 0;
	d->stopped = stopped;
	d->ud = ud;
	if (!d->busy)
		uv_close((uv_handle_t *)&d->h, on_close);
}
