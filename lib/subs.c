/* subs.c - subscriptions, routing, occupancy coalescing and gate signs (see subs.h). */
#include "subs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "facility.h"

_Static_assert(SUBS_GATE_ID_MAX == FAC_MAX_NAME, "gate ids as the facility's");
_Static_assert(SUBS_GATES_MAX == FAC_MAX_GATES, "gates as the facility's");
_Static_assert(SUBS_GATE_CLASSES_MAX == FAC_MAX_CLASSES,
    "classes as the facility's");
_Static_assert(SUBS_TOPIC_BUFSZ >= sizeof("search:") + PLATE_MAX &&
    SUBS_TOPIC_BUFSZ >= sizeof("gate:") + SUBS_GATE_ID_MAX, "topic buffer");

/* A circular doubly-linked list link; a list is a sentinel link. */
struct sb_link {
	struct sb_link *prev, *next;
};

/* One topic of one subscription, on the list of that topic's receivers. */
struct member {
	struct sub *sub;
	const struct subs_topic *topic;
	struct tlist *list;		/* NULL for occupancy (no list) */
	struct member *prev, *next;
};

/*
 * The receivers of one topic, in subscription order.  events has one list
 * in struct subs; each search prefix and gate id in use has its own, in a
 * dict under key (so a prefix costs one lookup, and an empty list is
 * freed: only prefixes somebody watches are in the dict).
 */
struct tlist {
	struct member *head, *tail;
	size_t n;
	char key[SUBS_GATE_ID_MAX + 1];
};

/*
 * A subscription is one allocation: the struct, its n members, then its n
 * topics (contiguous, for subs_get()).
 */
struct sub {
	char id[SUBS_ID_MAX + 1];
	struct client *client;
	struct sub *prev, *next;	/* the client's subscriptions */
	size_t n;
	struct subs_topic *topics;
	struct member members[];
};

/*
 * A client that ever subscribed, until subs_drop_client().  Kept while it
 * has no subscription so that unsubscribing and subscribing again to
 * occupancy cannot beat the interval.
 */
struct client {
	uint64_t id;
	char key[17];			/* 16 hex digits: the dict key */
	struct sub *head, *tail;
	size_t nsubs;
	size_t n_occ;			/* occupancy topics it has */
	int sent;			/* was ever sent occupancy */
	int64_t last_sent;		/* when, in ms */
	struct sb_link occ;		/* fresh/idle/pending iff n_occ > 0 */
};

struct sign {
	char gate[SUBS_GATE_ID_MAX + 1];
	size_t n;
	uint8_t full[];
};

/*
 * Occupancy coalescing.  Every client with an occupancy subscription is
 * on exactly one of three lists:
 *
 *   fresh    up to date and free to be sent at once (never sent, or last
 *            sent more than an interval before it subscribed);
 *   idle     up to date, in the order they were last sent;
 *   pending  a change came after their last notification; in order of
 *            last_sent, the fresh ones first.
 *
 * A change moves fresh to the head and idle to the tail of pending, O(1):
 * every idle client was sent after the previous change and every pending
 * one before it, so pending stays in last_sent order.  Then the due
 * clients are a prefix of pending (due = last_sent + interval), and
 * subs_occupancy_due() takes them from the head and appends them to idle
 * with last_sent = now.  One exception keeps this O(1): a client that
 * subscribes to occupancy again within an interval of its last
 * notification joins idle at the tail, out of order, and may wait up to
 * one more interval (never less than the interval).
 */
struct subs {
	dict *by_id;			/* sub id -> struct sub */
	dict *clients;			/* client key -> struct client */
	dict *search;			/* prefix -> struct tlist */
	dict *gates;			/* gate id -> struct tlist */
	dict *signs;			/* gate id -> struct sign */
	struct tlist events;
	struct sb_link fresh, idle, pending;
	size_t max_per_client;
	size_t nsubs;
	size_t nsubscribers;		/* clients with nsubs > 0 */
};

/* ---- circular lists ---- */

static void
sb_init(struct sb_link *l)
{
	l->prev = l->next = l;
}

static int
sb_empty(const struct sb_link *l)
{
	return l->next == l;
}

static void
sb_unlink(struct sb_link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	sb_init(n);
}

static void
sb_append(struct sb_link *l, struct sb_link *n)
{
	n->prev = l->prev;
	n->next = l;
	l->prev->next = n;
	l->prev = n;
}

/* Moves every element of src to the tail (at_head 0) or head of dst. */
static void
sb_splice(struct sb_link *dst, struct sb_link *src, int at_head)
{
	struct sb_link *first = src->next, *last = src->prev;
	struct sb_link *before = at_head ? dst : dst->prev;
	struct sb_link *after = before->next;

	if (sb_empty(src))
		return;
	before->next = first;
	first->prev = before;
	last->next = after;
	after->prev = last;
	sb_init(src);
}

/* The client whose occ link l is (lists hold links, not clients). */
static struct client *
sb_client_of(const struct sb_link *l)
{
	return (struct client *)(uintptr_t)((const char *)l -
	    offsetof(struct client, occ));
}

/* ---- topics ---- */

static int
sb_printable(const char *s, size_t len, size_t max)
{
	if (len < 1 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

pk_err
subs_topic_parse(const char *s, size_t len, struct subs_topic *t)
{
	memset(t, 0, sizeof(*t));
	if (s == NULL)
		return PK_E_INVALID_PARAMS;
	if (len == 9 && memcmp(s, "occupancy", 9) == 0) {
		t->kind = SUBS_OCCUPANCY;
	} else if (len == 6 && memcmp(s, "events", 6) == 0) {
		t->kind = SUBS_EVENTS;
	} else if (len >= 7 && memcmp(s, "search:", 7) == 0) {
		t->kind = SUBS_SEARCH;
		if (plate_normalize(s + 7, len - 7, t->arg) != 0)
			goto bad;
	} else if (len >= 5 && memcmp(s, "gate:", 5) == 0) {
		t->kind = SUBS_GATE;
		if (!sb_printable(s + 5, len - 5, SUBS_GATE_ID_MAX))
			goto bad;
		memcpy(t->arg, s + 5, len - 5);
	} else {
		goto bad;
	}
	switch (t->kind) {
	case SUBS_OCCUPANCY:
		snprintf(t->text, sizeof(t->text), "occupancy");
		break;
	case SUBS_EVENTS:
		snprintf(t->text, sizeof(t->text), "events");
		break;
	case SUBS_SEARCH:
		snprintf(t->text, sizeof(t->text), "search:%s", t->arg);
		break;
	case SUBS_GATE:
		snprintf(t->text, sizeof(t->text), "gate:%s", t->arg);
		break;
	}
	return PK_OK;
bad:
	memset(t, 0, sizeof(*t));
	return PK_E_INVALID_PARAMS;
}

/* A topic as subs_topic_parse() makes it (callers may build their own). */
static int
sb_topic_ok(const struct subs_topic *t)
{
	struct subs_topic p;
	size_t len = strnlen(t->text, sizeof(t->text));

	return len < sizeof(t->text) && subs_topic_parse(t->text, len, &p) ==
	    PK_OK && p.kind == t->kind && strcmp(p.arg, t->arg) == 0;
}

/* ---- life cycle ---- */

subs *
subs_new(size_t max_per_client)
{
	subs *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->by_id = dict_new();
	s->clients = dict_new();
	s->search = dict_new();
	s->gates = dict_new();
	s->signs = dict_new();
	if (s->by_id == NULL || s->clients == NULL || s->search == NULL ||
	    s->gates == NULL || s->signs == NULL) {
		subs_free(s);
		return NULL;
	}
	sb_init(&s->fresh);
	sb_init(&s->idle);
	sb_init(&s->pending);
	s->max_per_client = max_per_client;
	return s;
}

/* Frees every value of d (plain allocations) and d. */
static void
sb_free_dict(dict *d)
{
	size_t pos = 0;
	const char *k;
	void *v;

	if (d == NULL)
		return;
	while (dict_next(d, &pos, &k, &v))
		free(v);
	dict_free(d);
}

void
subs_free(subs *s)
{
	size_t pos = 0;
	const char *k;
	void *v;

	if (s == NULL)
		return;
	if (s->clients != NULL) {
		while (dict_next(s->clients, &pos, &k, &v)) {
			struct client *c = v;
			struct sub *sb, *next;

			for (sb = c->head; sb != NULL; sb = next) {
				next = sb->next;
				free(sb);
			}
			free(c);
		}
		dict_free(s->clients);
	}
	dict_free(s->by_id);
	sb_free_dict(s->search);
	sb_free_dict(s->gates);
	sb_free_dict(s->signs);
	free(s);
}

size_t
subs_count(const subs *s)
{
	return s->nsubs;
}

size_t
subs_subscribers(const subs *s)
{
	return s->nsubscribers;
}

static void
sb_client_key(uint64_t id, char key[17])
{
	snprintf(key, 17, "%016" PRIx64, id);
}

static struct client *
sb_client(const subs *s, uint64_t id)
{
	char key[17];

	sb_client_key(id, key);
	return dict_get(s->clients, key);
}

size_t
subs_of_client(const subs *s, uint64_t client)
{
	const struct client *c = sb_client(s, client);

	return c != NULL ? c->nsubs : 0;
}

static dict *
sb_topic_dict(const subs *s, enum subs_kind k)
{
	return k == SUBS_SEARCH ? s->search : k == SUBS_GATE ? s->gates : NULL;
}

static void
sb_list_append(struct tlist *l, struct member *m)
{
	m->list = l;
	m->next = NULL;
	m->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = m;
	else
		l->head = m;
	l->tail = m;
	l->n++;
}

static void
sb_list_remove(struct tlist *l, struct member *m)
{
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		l->head = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	else
		l->tail = m->prev;
	m->prev = m->next = NULL;
	m->list = NULL;
	l->n--;
}

/* A client starts receiving occupancy at now_ms. */
static void
sb_occ_join(subs *s, struct client *c, int64_t now_ms)
{
	if (!c->sent || now_ms - c->last_sent >= SUBS_OCCUPANCY_INTERVAL_MS)
		sb_append(&s->fresh, &c->occ);
	else
		sb_append(&s->idle, &c->occ);
}

pk_err
subs_subscribe(subs *s, uint64_t client, const char *sub_id,
    const struct subs_topic *topics, size_t n, int64_t now_ms)
{
	const struct subs_topic *uniq[SUBS_TOPICS_MAX];
	struct tlist *made[SUBS_TOPICS_MAX];
	dict *made_in[SUBS_TOPICS_MAX];
	size_t nu = 0, nmade = 0, idlen, i, j, occ = 0;
	struct client *c, *newc = NULL;
	struct sub *sb;

	if (sub_id == NULL || topics == NULL || n < 1 || n > SUBS_TOPICS_MAX)
		return PK_E_INVALID_PARAMS;
	idlen = strnlen(sub_id, SUBS_ID_MAX + 1);
	if (!sb_printable(sub_id, idlen, SUBS_ID_MAX) ||
	    dict_get(s->by_id, sub_id) != NULL)
		return PK_E_INVALID_PARAMS;
	for (i = 0; i < n; i++) {
		if (!sb_topic_ok(&topics[i]))
			return PK_E_INVALID_PARAMS;
		for (j = 0; j < nu; j++)
			if (strcmp(uniq[j]->text, topics[i].text) == 0)
				break;
		if (j == nu)
			uniq[nu++] = &topics[i];
	}
	c = sb_client(s, client);
	if (c != NULL && s->max_per_client != 0 &&
	    c->nsubs >= s->max_per_client)
		return PK_E_INVALID_PARAMS;

	/* Every allocation first; each step below can be undone. */
	sb = calloc(1, sizeof(*sb) + nu * (sizeof(sb->members[0]) +
	    sizeof(sb->topics[0])));
	if (sb == NULL)
		return PK_E_INTERNAL;
	sb->topics = (struct subs_topic *)(void *)(sb->members + nu);
	if (c == NULL) {
		newc = calloc(1, sizeof(*newc));
		if (newc == NULL)
			goto fail;
		newc->id = client;
		sb_client_key(client, newc->key);
		sb_init(&newc->occ);
		if (dict_set(s->clients, newc->key, newc) != 0)
			goto fail;
		c = newc;
	}
	for (i = 0; i < nu; i++) {
		dict *d = sb_topic_dict(s, uniq[i]->kind);
		struct tlist *l;

		if (d == NULL || dict_get(d, uniq[i]->arg) != NULL)
			continue;
		l = calloc(1, sizeof(*l));
		if (l == NULL)
			goto fail;
		memcpy(l->key, uniq[i]->arg, sizeof(l->key));
		if (dict_set(d, l->key, l) != 0) {
			free(l);
			goto fail;
		}
		made_in[nmade] = d;
		made[nmade++] = l;
	}
	memcpy(sb->id, sub_id, idlen + 1);
	if (dict_set(s->by_id, sb->id, sb) != 0)
		goto fail;

	/* Committed: link everything (no allocation from here on). */
	sb->client = c;
	sb->n = nu;
	for (i = 0; i < nu; i++) {
		struct member *m = &sb->members[i];
		dict *d;

		sb->topics[i] = *uniq[i];
		m->sub = sb;
		m->topic = &sb->topics[i];
		switch (m->topic->kind) {
		case SUBS_OCCUPANCY:
			occ++;
			break;
		case SUBS_EVENTS:
			sb_list_append(&s->events, m);
			break;
		case SUBS_SEARCH:
		case SUBS_GATE:
			d = sb_topic_dict(s, m->topic->kind);
			sb_list_append(dict_get(d, m->topic->arg), m);
			break;
		}
	}
	sb->prev = c->tail;
	if (c->tail != NULL)
		c->tail->next = sb;
	else
		c->head = sb;
	c->tail = sb;
	if (c->nsubs++ == 0)
		s->nsubscribers++;
	if (occ > 0 && c->n_occ == 0)
		sb_occ_join(s, c, now_ms);
	c->n_occ += occ;
	s->nsubs++;
	return PK_OK;
fail:
	while (nmade > 0) {
		nmade--;
		dict_del(made_in[nmade], made[nmade]->key);
		free(made[nmade]);
	}
	if (newc != NULL) {
		if (dict_get(s->clients, newc->key) == newc)
			dict_del(s->clients, newc->key);
		free(newc);
	}
	free(sb);
	return PK_E_INTERNAL;
}

/* Unlinks and frees sb (still in by_id and on its client's list). */
static void
sb_remove(subs *s, struct sub *sb)
{
	struct client *c = sb->client;
	size_t occ = 0;

	for (size_t i = 0; i < sb->n; i++) {
		struct member *m = &sb->members[i];
		struct tlist *l = m->list;

		if (m->topic->kind == SUBS_OCCUPANCY) {
			occ++;
			continue;
		}
		sb_list_remove(l, m);
		if (l->n == 0 && l != &s->events) {
			dict_del(sb_topic_dict(s, m->topic->kind), l->key);
			free(l);
		}
	}
	c->n_occ -= occ;
	if (occ > 0 && c->n_occ == 0)
		sb_unlink(&c->occ);
	if (sb->prev != NULL)
		sb->prev->next = sb->next;
	else
		c->head = sb->next;
	if (sb->next != NULL)
		sb->next->prev = sb->prev;
	else
		c->tail = sb->prev;
	if (--c->nsubs == 0)
		s->nsubscribers--;
	dict_del(s->by_id, sb->id);
	s->nsubs--;
	free(sb);
}

pk_err
subs_unsubscribe(subs *s, uint64_t client, const char *sub_id)
{
	struct sub *sb = sub_id != NULL ? dict_get(s->by_id, sub_id) : NULL;

	if (sb == NULL || sb->client->id != client)
		return PK_E_NOT_FOUND;
	sb_remove(s, sb);
	return PK_OK;
}

size_t
subs_drop_client(subs *s, uint64_t client)
{
	struct client *c = sb_client(s, client);
	size_t n = 0;

	if (c == NULL)
		return 0;
	while (c->head != NULL) {
		sb_remove(s, c->head);
		n++;
	}
	sb_unlink(&c->occ);
	dict_del(s->clients, c->key);
	free(c);
	return n;
}

pk_err
subs_get(const subs *s, uint64_t client, const char *sub_id,
    const struct subs_topic **topics, size_t *n)
{
	const struct sub *sb = sub_id != NULL ? dict_get(s->by_id, sub_id) :
	    NULL;

	if (sb == NULL || sb->client->id != client)
		return PK_E_NOT_FOUND;
	*topics = sb->topics;
	*n = sb->n;
	return PK_OK;
}

/* ---- routing ---- */

static size_t
sb_visit_list(const struct tlist *l, subs_visit_fn fn, void *arg)
{
	struct subs_target t;
	size_t n = 0;

	if (l == NULL)
		return 0;
	for (const struct member *m = l->head; m != NULL; m = m->next) {
		t.client = m->sub->client->id;
		t.sub_id = m->sub->id;
		t.topic = m->topic->text;
		if (fn != NULL)
			fn(arg, &t);
		n++;
	}
	return n;
}

size_t
subs_each_events(const subs *s, subs_visit_fn fn, void *arg)
{
	return sb_visit_list(&s->events, fn, arg);
}

size_t
subs_each_search(const subs *s, const char *plate, subs_visit_fn fn,
    void *arg)
{
	char buf[PLATE_BUFSZ];
	size_t len, i, n = 0;

	if (plate == NULL || dict_size(s->search) == 0)
		return 0;
	len = strnlen(plate, PLATE_MAX + 1);
	if (len > PLATE_MAX)
		return 0;
	/* One lookup per prefix length, shortest first. */
	for (i = 0; i < len; i++) {
		buf[i] = plate[i];
		buf[i + 1] = '\0';
		n += sb_visit_list(dict_get(s->search, buf), fn, arg);
	}
	return n;
}

size_t
subs_each_gate(const subs *s, const char *gate, subs_visit_fn fn, void *arg)
{
	if (gate == NULL)
		return 0;
	return sb_visit_list(dict_get(s->gates, gate), fn, arg);
}

/* ---- occupancy ---- */

void
subs_occupancy_dirty(subs *s)
{
	sb_splice(&s->pending, &s->fresh, 1);
	sb_splice(&s->pending, &s->idle, 0);
}

int64_t
subs_occupancy_next_due(const subs *s)
{
	const struct client *c;

	if (sb_empty(&s->pending))
		return SUBS_NEVER;
	c = sb_client_of(s->pending.next);
	if (!c->sent || c->last_sent > INT64_MAX - SUBS_OCCUPANCY_INTERVAL_MS)
		return INT64_MIN;
	return c->last_sent + SUBS_OCCUPANCY_INTERVAL_MS;
}

size_t
subs_occupancy_due(subs *s, int64_t now_ms, size_t max_clients,
    subs_visit_fn fn, void *arg)
{
	size_t n = 0;

	for (size_t k = 0; k < max_clients && !sb_empty(&s->pending); k++) {
		struct client *c = sb_client_of(s->pending.next);
		struct subs_target t;

		if (c->sent &&
		    now_ms - c->last_sent < SUBS_OCCUPANCY_INTERVAL_MS)
			break;
		t.client = c->id;
		t.topic = "occupancy";
		for (const struct sub *sb = c->head; sb != NULL; sb = sb->next)
			for (size_t i = 0; i < sb->n; i++)
				if (sb->topics[i].kind == SUBS_OCCUPANCY) {
					t.sub_id = sb->id;
					if (fn != NULL)
						fn(arg, &t);
					n++;
				}
		c->sent = 1;
		c->last_sent = now_ms;
		sb_unlink(&c->occ);
		sb_append(&s->idle, &c->occ);
	}
	return n;
}

/* ---- gate signs ---- */

pk_err
subs_gate_sign(subs *s, const char *gate, const uint8_t *full, size_t n,
    int *changed)
{
	struct sign *old, *ns;
	size_t glen;

	*changed = 0;
	if (gate == NULL || n > SUBS_GATE_CLASSES_MAX ||
	    (n > 0 && full == NULL))
		return PK_E_INVALID_PARAMS;
	glen = strnlen(gate, SUBS_GATE_ID_MAX + 1);
	if (!sb_printable(gate, glen, SUBS_GATE_ID_MAX))
		return PK_E_INVALID_PARAMS;
	old = dict_get(s->signs, gate);
	if (old != NULL && old->n == n) {
		for (size_t i = 0; i < n; i++) {
			uint8_t f = full[i] != 0;

			if (old->full[i] != f) {
				old->full[i] = f;
				*changed = 1;
			}
		}
		return PK_OK;
	}
	if (old == NULL && dict_size(s->signs) >= SUBS_GATES_MAX)
		return PK_E_INVALID_PARAMS;
	ns = calloc(1, sizeof(*ns) + n);
	if (ns == NULL)
		return PK_E_INTERNAL;
	memcpy(ns->gate, gate, glen + 1);
	ns->n = n;
	for (size_t i = 0; i < n; i++)
		ns->full[i] = full[i] != 0;
	/* Replacing an existing key takes no allocation, so cannot fail. */
	if (dict_set(s->signs, ns->gate, ns) != 0) {
		free(ns);
		return PK_E_INTERNAL;
	}
	free(old);
	*changed = 1;
	return PK_OK;
}

pk_err
subs_gate_sign_last(const subs *s, const char *gate, const uint8_t **full,
    size_t *n)
{
	const struct sign *sg = gate != NULL ? dict_get(s->signs, gate) : NULL;

	if (sg == NULL)
		return PK_E_NOT_FOUND;
	*full = sg->full;
	*n = sg->n;
	return PK_OK;
}

/* ---- invariants ---- */

static int
sb_check_list(const struct tlist *l)
{
	size_t n = 0;
	const struct member *prev = NULL;

	for (const struct member *m = l->head; m != NULL; m = m->next) {
		if (m->list != l || m->prev != prev)
			return -1;
		prev = m;
		n++;
	}
	return prev == l->tail && n == l->n ? 0 : -1;
}

/* Counts the clients on an occupancy list; -1 when its links are bad. */
static long
sb_check_occ(const struct sb_link *head)
{
	long n = 0;

	for (const struct sb_link *p = head->next; p != head; p = p->next) {
		if (p->next->prev != p || sb_client_of(p)->n_occ == 0)
			return -1;
		n++;
	}
	return n;
}

int
subs_check(const subs *s)
{
	size_t pos = 0, nsubs = 0, members = 0, listed = 0, occ_clients = 0;
	size_t subscribers = 0;
	long a, b, c;
	const char *k;
	void *v;

	while (dict_next(s->clients, &pos, &k, &v)) {
		const struct client *cl = v;
		const struct sub *prev = NULL;
		size_t n = 0, occ = 0;

		if (strcmp(k, cl->key) != 0)
			return -1;
		for (const struct sub *sb = cl->head; sb != NULL;
		    sb = sb->next) {
			if (sb->client != cl || sb->prev != prev ||
			    dict_get(s->by_id, sb->id) != sb)
				return -1;
			for (size_t i = 0; i < sb->n; i++) {
				const struct member *m = &sb->members[i];

				if (m->sub != sb || m->topic != &sb->topics[i])
					return -1;
				if (m->topic->kind == SUBS_OCCUPANCY) {
					occ++;
					continue;
				}
				members++;
				if (m->list == NULL || (m->topic->kind ==
				    SUBS_EVENTS) != (m->list == &s->events))
					return -1;
			}
			prev = sb;
			n++;
		}
		if (prev != cl->tail || n != cl->nsubs || occ != cl->n_occ ||
		    (occ > 0) == sb_empty(&cl->occ))
			return -1;
		if (occ > 0)
			occ_clients++;
		subscribers += n > 0;
		nsubs += n;
	}
	if (nsubs != s->nsubs || dict_size(s->by_id) != nsubs ||
	    subscribers != s->nsubscribers)
		return -1;
	if (sb_check_list(&s->events) != 0)
		return -1;
	listed = s->events.n;
	for (int d = 0; d < 2; d++) {
		dict *dd = d == 0 ? s->search : s->gates;

		pos = 0;
		while (dict_next(dd, &pos, &k, &v)) {
			const struct tlist *l = v;

			if (strcmp(k, l->key) != 0 || l->n == 0 ||
			    sb_check_list(l) != 0)
				return -1;
			for (const struct member *m = l->head; m != NULL;
			    m = m->next)
				if (strcmp(m->topic->arg, l->key) != 0 ||
				    sb_topic_dict(s, m->topic->kind) != dd)
					return -1;
			listed += l->n;
		}
	}
	if (listed != members)
		return -1;
	a = sb_check_occ(&s->fresh);
	b = sb_check_occ(&s->idle);
	c = sb_check_occ(&s->pending);
	if (a < 0 || b < 0 || c < 0 || (size_t)(a + b + c) != occ_clients)
		return -1;
	return 0;
}
