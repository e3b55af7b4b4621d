/* due.c - the one timer on expiries, holds and no-shows (see due.h). */
#define LOG_COMPONENT "due"
#include "due.h"

#include <stdlib.h>
#include <time.h>

#include <uv.h>

#include "capacity.h"
#include "commit.h"
#include "log.h"
#include "publish.h"
#include "replication.h"
#include "server.h"

/* The longest the timer sleeps: a stepped wall clock is noticed by then. */
#define DUE_MAX_SLEEP_MS 60000
/* After a run that could not do what was due (journal down, no memory). */
#define DUE_RETRY_MS 1000

struct due {
	uv_timer_t timer;
	int on;
	int64_t target;		/* the due instant armed for (s), 0: none */
	uint64_t retry_after;	/* loop ms before which it waits, 0: none */
	struct changes ch;		/* reused for every run */
};

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_due(uv_timer_t *t);

int
due_init(struct server *s)
{
	struct due *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -1;
	uv_timer_init(s->loop, &d->timer);
	d->timer.data = s;
	d->on = 1;
	changes_init(&d->ch);
	s->due = d;
	return 0;
}

void
due_arm(struct server *s)
{
	struct due *d = s->due;
	int64_t at, now, delay;
	uint64_t loop_now;

	if (d == NULL || !d->on)
		return;
	/*
	 * A standby applies what its primary decided, expiries included: it
	 * never decides one itself, until it is promoted (due_start).
	 */
	if (replication_is_standby(s->repl) || !garage_next_due(s->g, &at)) {
		uv_timer_stop(&d->timer);
		d->target = 0;
		return;
	}
	/* Already armed for that instant: nothing to do (the common case). */
	if (at == d->target && uv_is_active((uv_handle_t *)&d->timer))
		return;
	now = wall_ms();
	delay = at * 1000 > now ? at * 1000 - now : 0;
	if (delay > DUE_MAX_SLEEP_MS)
		delay = DUE_MAX_SLEEP_MS;
	loop_now = server_ms(s);
	if (d->retry_after > loop_now &&
	    (uint64_t)delay < d->retry_after - loop_now)
		delay = (int64_t)(d->retry_after - loop_now);
	d->target = at;
	uv_timer_start(&d->timer, on_due, (uint64_t)delay, 0);
}

/*
 * Applies what is due at now (and, at start, serves the claims against
 * what is free): one commit, then the notifications.  Returns the number
 * of changes, or -1 when nothing could be done (the journal refuses).
 */
static long
run(struct server *s, int settle)
{
	struct due *d = s->due;
	const char *why = "";
	int64_t now = server_now();
	uint64_t hold;
	size_t n;

	if (s->env.writable(s, &why) != 1 || !s->env.consistent(s))
		return -1;
	n = garage_run_due(s->g, now, &d->ch);
	if (settle)
		n += garage_settle(s->g, now, &d->ch);
	if (d->ch.n > 0 && commit_changes(s, s->g, &d->ch, 0, &hold) != 0)
		log_err("the changes could not be journaled, they are undone");
	changes_clear(&d->ch);
	return (long)n;
}

static void
on_due(uv_timer_t *t)
{
	struct server *s = t->data;
	struct due *d = s->due;
	int64_t at;
	long n;

	d->target = 0;
	d->retry_after = 0;
	if (garage_next_due(s->g, &at) && at <= server_now()) {
		n = run(s, 0);
		/* Still due: it could not be done now; again a little later. */
		if (garage_next_due(s->g, &at) && at <= server_now()) {
			d->retry_after = server_ms(s) + DUE_RETRY_MS;
			if (n < 0)
				log_warn("the journal refuses changes, expiries, "
				    "holds and no-shows wait");
		}
	}
	publish_flush(s);	/* arms the timer again */
}

void
due_start(struct server *s)
{
	long n;

	if (replication_is_standby(s->repl))
		return;
	n = run(s, 1);

	if (n < 0)
		log_warn("the journal refuses changes, what fell due while "
		    "stopped is applied once it recovers");
	else if (n > 0)
		log_info("applied what fell due while stopped (expiries, holds, "
		    "no-shows and the claims they served) changes=%ld", n);
	publish_flush(s);
}

void
due_close(struct server *s)
{
	if (s->due != NULL && s->due->on) {
		s->due->on = 0;
		uv_close((uv_handle_t *)&s->due->timer, NULL);
	}
}

void
due_free(struct server *s)
{
	if (s->due == NULL)
		return;
	changes_release(&s->due->ch);
	free(s->due);
	s->due = NULL;
}
