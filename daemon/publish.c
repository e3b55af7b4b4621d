/* publish.c - committed changes handed to subscribers (see publish.h). */
#define LOG_COMPONENT "publish"

#include "publish.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cityredis.h"
#include "dict.h"
#include "due.h"
#include "jsonw.h"
#include "log.h"
#include "plate.h"
#include "server.h"
#include "subs.h"
#include "view.h"

/* One journaled change waiting for publish_flush(). */
struct outevent {
	enum change_kind kind;
	uint64_t lsn;
	char plate[PLATE_BUFSZ];	/* entries and exits: for search topics */
	uint64_t push;			/* the client that called `wait`, or 0 */
	char wid[UUID_BUFSZ];		/* push: its waitlist entry */
	size_t len;
	char *rec;			/* the record as journaled */
};

/*
 * Events go out in rounds at most EVENTS_ROUND_MS apart: a round is one
 * write to each subscriber, and a write wakes its reader, so at thousands
 * of changes a second rounds (not changes) are what subscribers cost the
 * gates.  After a quiet spell the first change goes out at once.
 */
#define EVENTS_ROUND_MS 10
/*
 * Occupancy subscribers notified in one slice; slices go a millisecond
 * apart (occupancy_due says why).
 */
#define OCC_SLICE 16
/*
 * Notifications composed in one turn (one event to one subscriber is
 * one): a round of fifty events for a hundred subscribers is 5 000 of
 * them, a millisecond or more of copying that would otherwise hold the
 * gates' replies in one go.  A round is composed over as many turns as it
 * needs, the loop reading and answering in between.
 *
 * Once composed, a round is written to every subscriber in one go.
 * Written a few subscribers a turn, with the loop polling in between, it
 * kept the loop busy for the whole of a round, and readers on the same
 * machine at a lower priority (the benchmark's) could not keep up: on two
 * cores the gates' p99 went to 6 to 7 times that without subscribers, and
 * 96 events subscribers were dropped for not reading.  In one go the loop
 * then sleeps, and they read.
 */
#define ROUND_NOTES_TURN 1024

/*
 * The heads of a round's notifications to the events topic, up to and
 * with the topic, one per subscription in the order subs_each_events()
 * visits them (the list does not change during a round): written once a
 * round, not once per change and subscriber.
 */
struct heads {
	struct jw w;			/* the heads, one after another */
	size_t *end;			/* where each ends in w */
	size_t n, cap;
	size_t next;			/* the one the next visit takes */
	int ok;				/* built for this round */
};

struct outbox {
	struct outevent *v;		/* in LSN order */
	size_t n, cap;
	uint64_t durable;		/* events up to here may go */
	uint64_t round_ms;		/* when the last round went */
	uint64_t round_end;		/* the round being composed: up to this LSN; 0: none */
	uv_timer_t round;		/* the next round, when too soon for now */
	/*
	 * The rest of a round's composing, a turn of the loop at a time.  An
	 * idle handle, not a timer: libuv 1.44 (Debian 12) runs
	 * a timer restarted with timeout 0 from a timer callback again in the
	 * same pass, before any I/O, so "0 ms" would not yield to the gates
	 * (libuv issue 4245, fixed in 1.48).  While it is active the loop
	 * polls without blocking, runs the due I/O, then this again.
	 */
	uv_idle_t work;
	uv_timer_t occupancy;		/* the earliest occupancy subscriber due */
	int64_t occ_not_before;		/* the next occupancy slice, in ms */
	int timer_on;
	size_t published;		/* changes since the last publish_flush() */
	uint64_t last_lsn;		/* the last of them */
	struct jw w;			/* notifications are written here, reused */
	struct heads heads;
	dict *watch;			/* waitlist id -> struct watch */
};

/* A waiting entry whose outcome goes to the connection that called `wait`. */
struct watch {
	uint64_t client;
	char id[UUID_BUFSZ];
};

static void occupancy_due(uv_timer_t *t);
static void visit_event(void *arg, const struct subs_target *t);
static void round_due(uv_timer_t *t);
static void work_due(uv_idle_t *h);
static void send_round(struct server *s, size_t budget);
static void arm_round(struct server *s);

int
publish_init(struct server *s)
{
	struct outbox *o = calloc(1, sizeof(*o));

	if (o == NULL || (o->watch = dict_new()) == NULL) {
		free(o);
		return -1;
	}
	uv_timer_init(s->loop, &o->occupancy);
	o->occupancy.data = s;
	uv_timer_init(s->loop, &o->round);
	o->round.data = s;
	uv_idle_init(s->loop, &o->work);
	o->work.data = s;
	o->timer_on = 1;
	s->outbox = o;
	return 0;
}

void
publish_close(struct server *s)
{
	if (s->outbox != NULL && s->outbox->timer_on) {
		s->outbox->timer_on = 0;
		/* What is durable goes before the clients drain; the rest as it becomes so. */
		send_round(s, SIZE_MAX);
		uv_close((uv_handle_t *)&s->outbox->occupancy, NULL);
		uv_close((uv_handle_t *)&s->outbox->round, NULL);
		uv_close((uv_handle_t *)&s->outbox->work, NULL);
	}
}

void
publish_free(struct server *s)
{
	struct outbox *o = s->outbox;

	if (o == NULL)
		return;
	size_t pos = 0;
	const char *key;
	void *value;

	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].rec);
	free(o->v);
	jw_release(&o->w);
	jw_release(&o->heads.w);
	free(o->heads.end);
	while (dict_next(o->watch, &pos, &key, &value))
		free(value);
	dict_free(o->watch);
	free(o);
	s->outbox = NULL;
}

void
publish_watch_wait(struct server *s, uint64_t client, const char *waitlist_id)
{
	struct outbox *o = s->outbox;
	struct watch *w = dict_get(o->watch, waitlist_id);

	if (w != NULL) {
		w->client = client;
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		goto oom;
	w->client = client;
	snprintf(w->id, sizeof(w->id), "%s", waitlist_id);
	if (dict_set(o->watch, w->id, w) != 0) {
		free(w);
		goto oom;
	}
	return;
oom:
	/* The gate learns the outcome from waitlist_status instead. */
	log_err("out of memory, an outcome will not be pushed waitlist_id=%s",
	    waitlist_id);
}

void
publish_drop_client(struct server *s, uint64_t client)
{
	struct outbox *o = s->outbox;
	struct watch **gone = NULL;
	size_t pos = 0, n = 0, cap = 0;
	const char *key;
	void *value;
	int oom = 0;

	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].push == client)
			o->v[i].push = 0;
	if (dict_size(o->watch) == 0)
		return;
	/* The table must not change while it is walked: collect, then drop. */
	while (!oom && dict_next(o->watch, &pos, &key, &value)) {
		struct watch *w = value;

		if (w->client != client)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct watch **ng = realloc(gone, nc * sizeof(*ng));

			if (ng == NULL) {
				oom = 1;
				break;
			}
			gone = ng;
			cap = nc;
		}
		gone[n++] = w;
	}
	for (size_t i = 0; i < n; i++) {
		dict_del(o->watch, gone[i]->id);
		free(gone[i]);
	}
	free(gone);
	/* Out of memory: the rest stay, pointing at nobody (never delivered). */
	for (pos = 0; oom && dict_next(o->watch, &pos, &key, &value);)
		if (((struct watch *)value)->client == client)
			((struct watch *)value)->client = 0;
}

/*
 * The client to push change c to: the one that called `wait` for an
 * entry that was now assigned or expired.  An outcome ends the watch.
 */
static uint64_t
wait_outcome(struct server *s, const struct change *c)
{
	struct watch *w;
	uint64_t client;

	if (c->kind != CHG_WAIT_ASSIGNED && c->kind != CHG_WAIT_EXPIRED &&
	    c->kind != CHG_WAIT_CANCELLED)
		return 0;
	if ((w = dict_del(s->outbox->watch, c->ref)) == NULL)
		return 0;
	/* A cancel is answered to whoever cancelled; client 0 is nobody. */
	client = c->kind == CHG_WAIT_CANCELLED ? 0 : w->client;
	free(w);
	return client;
}

void
publish_change(struct server *s, const struct change *c, const char *rec,
    size_t len, uint64_t lsn)
{
	struct outbox *o = s->outbox;
	struct outevent *e;
	uint64_t push = wait_outcome(s, c);

	o->published++;
	o->last_lsn = lsn;
	/* Nobody listens: nothing to keep (occupancy still has to know). */
	if (subs_count(s->subs) == 0 && push == 0)
		return;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct outevent *nv = realloc(o->v, cap * sizeof(*nv));

		if (nv == NULL)
			goto oom;
		o->v = nv;
		o->cap = cap;
	}
	e = &o->v[o->n];
	e->rec = malloc(len);
	if (e->rec == NULL)
		goto oom;
	memcpy(e->rec, rec, len);
	e->len = len;
	e->kind = c->kind;
	e->lsn = lsn;
	e->push = push;
	memcpy(e->wid, c->ref, sizeof(e->wid));
	e->plate[0] = '\0';
	if ((c->kind == CHG_ENTRY || c->kind == CHG_EXIT) && c->t != NULL)
		memcpy(e->plate, c->t->plate, PLATE_BUFSZ);
	o->n++;
	return;
oom:
	/* Subscribers miss one event; the journal and audit have it. */
	log_err("out of memory, a notification is lost");
}

/* The head of a notification, up to and with the topic. */
static void
head(struct jw *w, const char *sub_id, const char *topic)
{
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "jsonrpc", "2.0");
	jw_kstr(w, "method", "event");
	jw_key(w, "params");
	jw_obj(w);
	jw_kstr(w, "subscription", sub_id);
	jw_kstr(w, "topic", topic);
}

static void
deliver(struct server *s, uint64_t client, struct jw *w, uint64_t lsn)
{
	struct client *c = (struct client *)(uintptr_t)client;

	if (jw_failed(w)) {
		log_err("out of memory, a notification is lost");
		return;
	}
	client_notify(c, w->buf, w->len, lsn);
	(void)s;
}

/*
 * A notification of a durable change, gathered for client_notes_send():
 * its head (everything before the event's members), the audit event's
 * members as encoded, and the notification's closing brace (the record's
 * own closes params).
 */
static void
note_event(uint64_t client, const char *head, size_t hlen,
    const struct outevent *e)
{
	const struct client_msg parts[4] = {
		{ head, hlen }, { ",", 1 }, { e->rec + 1, e->len - 1 }, { "}", 1 },
	};

	client_note((struct client *)(uintptr_t)client, parts, 4);
}

/* The same, its head written in w. */
static void
note_event_jw(uint64_t client, const struct jw *w, const struct outevent *e)
{
	if (jw_failed(w)) {
		log_err("out of memory, a notification is lost");
		return;
	}
	note_event(client, w->buf, w->len, e);
}

struct visit {
	struct server *s;
	const struct outevent *e;
	const char *members;
	size_t mlen;
	uint64_t lsn;
};

/* One more head for the round's cache. */
static void
add_head(void *arg, const struct subs_target *t)
{
	struct server *s = arg;
	struct heads *h = &s->outbox->heads;
	struct jw *w = &s->outbox->w;

	if (!h->ok)
		return;
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		size_t *ne = realloc(h->end, cap * sizeof(*ne));

		if (ne == NULL) {
			h->ok = 0;
			return;
		}
		h->end = ne;
		h->cap = cap;
	}
	head(w, t->sub_id, t->topic);
	jw_splice(&h->w, w->buf, w->len);
	if (jw_failed(w) || jw_failed(&h->w)) {
		h->ok = 0;
		return;
	}
	h->end[h->n++] = h->w.len;
}

/* The heads of this round; when out of memory, each is written as it goes. */
static void
build_heads(struct server *s)
{
	struct heads *h = &s->outbox->heads;

	jw_reset(&h->w);
	h->n = 0;
	h->ok = 1;
	subs_each_events(s->subs, add_head, s);
}

/* An event to an events subscriber, with its head from the round's cache. */
static void
visit_event_cached(void *arg, const struct subs_target *t)
{
	struct visit *v = arg;
	const struct heads *h = &v->s->outbox->heads;
	size_t i = v->s->outbox->heads.next++, from;

	if (!h->ok || i >= h->n) {
		visit_event(arg, t);
		return;
	}
	from = i > 0 ? h->end[i - 1] : 0;
	note_event(t->client, h->w.buf + from, h->end[i] - from, v->e);
}

/* An event: the audit event's members follow the topic, as encoded. */
static void
visit_event(void *arg, const struct subs_target *t)
{
	struct visit *v = arg;
	struct jw *w = &v->s->outbox->w;

	head(w, t->sub_id, t->topic);
	note_event_jw(t->client, w, v->e);
}

static void
visit_members(void *arg, const struct subs_target *t)
{
	struct visit *v = arg;
	struct jw *w = &v->s->outbox->w;

	head(w, t->sub_id, t->topic);
	if (v->mlen > 0) {
		jw_splice(w, ",", 1);
		jw_splice(w, v->members, v->mlen);
	}
	jw_obj_end(w);
	jw_obj_end(w);
	deliver(v->s, t->client, w, v->lsn);
}

void
publish_to(struct server *s, uint64_t client, const char *sub_id,
    const char *topic, const char *members, size_t mlen, uint64_t lsn)
{
	struct visit v = { s, NULL, members, members ? mlen : 0, lsn };
	struct subs_target t = { client, sub_id, topic };

	visit_members(&v, &t);
}

/* waitlist.assigned or waitlist.expired, to the connection that waited. */
static void
push_wait(struct server *s, const struct outevent *e)
{
	struct jw *w = &s->outbox->w;

	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "jsonrpc", "2.0");
	jw_kstr(w, "method", "event");
	jw_key(w, "params");
	jw_obj(w);
	jw_kstr(w, "topic", "waitlist");
	jw_kstr(w, "waitlist_id", e->wid);
	note_event_jw(e->push, w, e);
}

static void
count_visit(void *arg, const struct subs_target *t)
{
	(void)t;
	(*(size_t *)arg)++;
}

/* Open or full for each class at gate; the sign's notification when it flips. */
static void
update_gate(struct server *s, int gate, uint64_t lsn)
{
	const facility *f = garage_facility(s->g);
	const char *gid = facility_gate_id(f, gate);
	uint8_t full[SUBS_GATE_CLASSES_MAX];
	size_t watchers = 0;
	struct jw m;
	int changed = 0, ncls;

	subs_each_gate(s->subs, gid, count_visit, &watchers);
	if (watchers == 0 || !(facility_gate_role(f, gate) & FAC_GATE_ENTRY))
		return;
	ncls = garage_sign(s->g, gate, full, sizeof(full));
	if (ncls < 0 || subs_gate_sign(s->subs, gid, full, (size_t)ncls, &changed) != PK_OK ||
	    !changed)
		return;
	jw_init(&m);
	jw_members(&m);
	view_sign(&m, s->g, gate);
	if (!jw_failed(&m)) {
		struct visit v = { s, NULL, m.buf, m.len, lsn };

		subs_each_gate(s->subs, gid, visit_members, &v);
	}
	jw_release(&m);
}

static void
arm_occupancy(struct server *s)
{
	struct outbox *o = s->outbox;
	int64_t due = subs_occupancy_next_due(s->subs);
	int64_t now = (int64_t)server_ms(s);

	if (!o->timer_on || due == SUBS_NEVER)
		return;
	if (due < o->occ_not_before)
		due = o->occ_not_before;
	uv_timer_start(&o->occupancy, occupancy_due, due > now ? (uint64_t)(due - now) : 0, 0);
}

void
publish_flush(struct server *s)
{
	struct outbox *o = s->outbox;

	if (o == NULL)
		return;
	/* Whatever was committed may have moved the next expiry, hold or no-show. */
	due_arm(s);
	if (o->published > 0) {
		/* A mark, no Redis: the city view coalesces to publish_ms on its timer. */
		cityredis_changed(s->city);
		if (subs_count(s->subs) > 0) {
			subs_occupancy_dirty(s->subs);
			for (int gate = 0; gate < facility_gate_count(garage_facility(s->g)); gate++)
				update_gate(s, gate, o->last_lsn);
		}
		o->published = 0;
	}
	/* Without a journal or a standby to wait for, changes are durable at once. */
	publish_durable(s, server_durable(s));
	/* A new occupancy subscriber is due at once. */
	arm_occupancy(s);
}

/*
 * Composes the round's events, the oldest first, into their subscribers'
 * notes until about budget notifications are written (at least one event;
 * the subscriptions may change between turns, so the heads are made
 * again each time).  1 when events of the round are left.
 */
static int
compose(struct server *s, size_t budget)
{
	struct outbox *o = s->outbox;
	size_t i, noted = 0;

	o->heads.ok = 0;
	for (i = 0; i < o->n && o->v[i].lsn <= o->round_end && noted < budget; i++) {
		struct visit v = { s, &o->v[i], NULL, 0, o->v[i].lsn };

		if (o->v[i].push != 0)
			push_wait(s, &o->v[i]);
		if (i == 0)
			build_heads(s);
		o->heads.next = 0;
		noted += subs_each_events(s->subs, visit_event_cached, &v);
		if (o->v[i].plate[0] != '\0')
			noted += subs_each_search(s->subs, o->v[i].plate, visit_event, &v);
		free(o->v[i].rec);
	}
	o->n -= i;
	memmove(o->v, o->v + i, o->n * sizeof(*o->v));
	return o->n > 0 && o->v[0].lsn <= o->round_end;
}

/*
 * A round: every event durable when it starts to its subscribers, one
 * message each, composed over turns of at most ROUND_NOTES_TURN
 * notifications (at once with budget SIZE_MAX), then written to all.
 */
static void
send_round(struct server *s, size_t budget)
{
	struct outbox *o = s->outbox;

	do {
		if (o->round_end == 0) {
			if (o->n == 0 || o->v[0].lsn > o->durable)
				break;
			o->round_ms = server_ms(s);
			o->round_end = o->durable;
		}
		if (compose(s, budget)) {
			uv_idle_start(&o->work, work_due);
			return;
		}
		o->round_end = 0;
	} while (budget == SIZE_MAX);	/* at once: everything durable */
	/* What became durable while it was composed goes in the next round. */
	arm_round(s);
	client_notes_send(s);		/* in one go: see ROUND_NOTES_TURN */
}

/* One turn's share of composing a round. */
static void
work_due(uv_idle_t *h)
{
	struct server *s = h->data;
	struct outbox *o = s->outbox;

	if (o->round_end != 0)
		send_round(s, ROUND_NOTES_TURN);
	if (o->round_end == 0)
		uv_idle_stop(&o->work);
}

static void
round_due(uv_timer_t *t)
{
	send_round(t->data, ROUND_NOTES_TURN);
}

/*
 * The next round, for the durable events not in one yet: EVENTS_ROUND_MS
 * after the last began.  Never at once from here: the replies the
 * durability callback released go out first, and the requests already
 * waiting are read before the round.
 */
static void
arm_round(struct server *s)
{
	struct outbox *o = s->outbox;
	uint64_t now, next;

	if (!o->timer_on || o->round_end != 0 ||
	    uv_is_active((uv_handle_t *)&o->round) || o->n == 0 ||
	    o->v[0].lsn > o->durable)
		return;
	now = server_ms(s);
	next = o->round_ms + EVENTS_ROUND_MS;
	uv_timer_start(&o->round, round_due, now >= next ? 0 : next - now, 0);
}

void
publish_durable(struct server *s, uint64_t durable)
{
	struct outbox *o = s->outbox;

	if (o == NULL)
		return;
	o->durable = durable;
	if (o->n == 0 || o->v[0].lsn > durable)
		return;
	if (!o->timer_on) {
		/* Shutting down: no more rounds to wait for. */
		send_round(s, SIZE_MAX);
		return;
	}
	arm_round(s);
}

void
publish_round_now(struct server *s)
{
	struct outbox *o = s->outbox;

	if (o == NULL || o->n == 0 || o->v[0].lsn > o->durable)
		return;
	if (o->timer_on)
		uv_timer_stop(&o->round);
	send_round(s, SIZE_MAX);
}

void
publish_changes_lost(struct server *s, uint64_t durable)
{
	struct outbox *o = s->outbox;

	if (o == NULL)
		return;
	/* Never happened: nobody hears of them (their LSNs are used again). */
	while (o->n > 0 && o->v[o->n - 1].lsn > durable)
		free(o->v[--o->n].rec);
	if (o->durable > durable)
		o->durable = durable;
	if (o->round_end > durable)
		o->round_end = durable;
}

static void
occupancy_due(uv_timer_t *t)
{
	struct server *s = t->data;
	struct outbox *o = s->outbox;
	struct jw m;
	struct visit v;

	jw_init(&m);
	jw_members(&m);
	view_occupancy(&m, s->g);
	if (jw_failed(&m)) {
		jw_release(&m);
		return;
	}
	v = (struct visit){ s, NULL, m.buf, m.len, 0 };
	subs_occupancy_due(s->subs, (int64_t)server_ms(s), OCC_SLICE,
	    visit_members, &v);
	jw_release(&m);
	/*
	 * The next slice a millisecond later, not on the next turn: a
	 * thousand subscribers notified in one instant acknowledge in one
	 * instant too, and the kernel does that work on this thread.  Spread
	 * out, they stay spread: each is due an interval after its own slice.
	 */
	o->occ_not_before = (int64_t)server_ms(s) + 1;
	arm_occupancy(s);
}
