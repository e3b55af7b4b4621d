/* resbook.c - the reservation book of capacity.md "Reservations": capacity per type, spot intervals, timers, listing. */
#include "resbook.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "rfc3339.h"

/*
 * How the book is laid out.
 *
 * Records are found by id in a hash table (open addressing, linear
 * probing, backward-shift deletion; at most half full).  Every other index
 * is a treap whose nodes live inside the record, so booking allocates the
 * record and nothing else (the id table and the two timer heaps grow ahead
 * of need), and moving a record between indexes never fails.  A node's
 * priority is a hash of its address: no field, and no key an outsider
 * chooses can shape the tree.  Keys are unique (ties broken by id or by a
 * serial number), so a node is found again by its own key.  Each node
 * carries a copy of its primary key, so that a descent reads one cache
 * line per level and the record only on ties: with 100 000 reservations
 * the book is tens of megabytes and a descent is bound by cache misses.
 *
 * - by_state[s]: the records in state s, by (from, id): listing.  Without a
 *   state filter a page merges the six trees.
 * - cap[type]: the capacity book.  Each active reservation puts two nodes
 *   in its type's tree: +units at hold_at and -units at to, keyed by (time,
 *   ends before starts, serial).  A node keeps the sum of its subtree's
 *   deltas and the greatest prefix sum within it, in order.  The units
 *   booked at t are the sum of the deltas at times <= t; the most over
 *   [a, b) is that at a plus the greatest prefix over the nodes in (a, b).
 *   Ends come before starts at one instant, so no prefix inside a group of
 *   equal times ever exceeds the real value at that time or just before it:
 *   the greatest prefix and the first prefix over a bound fall on real
 *   instants.
 * - by_spot: active reservations naming a spot, by (spot, hold_at,
 *   serial).  Their footprints on one spot never overlap, so the
 *   predecessor and the successor of a new footprint are the only ones
 *   that can.
 * - by_plate: active reservations by (plate, hold_at, id): arrivals.
 * - q: owed reservations by (hold_at, id), or, sharing the node, finished
 *   ones by (changed_at, id) for retention; a record is never both.
 *
 * Timers are two binary heaps of record pointers (holds of booked records,
 * no-shows of active ones) by (time, id); each record knows its index in
 * each heap, so a change of state removes its timers in O(log n).
 */

#define NOT_IN_HEAP UINT32_MAX

struct tn {
	struct tn *l, *r;
};

/* A capacity change point. */
struct cn {
	struct tn t;			/* first: a struct tn * is a struct cn * */
	int64_t time;
	int64_t sum;			/* sum of the deltas in the subtree */
	int64_t maxpref;		/* greatest prefix sum in the subtree, in order */
	int32_t delta;			/* +units (cap[0]) or -units (cap[1]) */
};

/* A node with its time key inline. */
struct kn {
	struct tn t;
	int64_t k;
};

/* by_spot: (spot, hold_at, serial). */
struct sn {
	struct tn t;
	int64_t hold_at;
	uint32_t spot;
};

/* by_plate: (plate, hold_at, id), with the plate's first 8 bytes inline. */
struct pn {
	struct tn t;
	uint64_t prefix;
	int64_t hold_at;
};

struct rec {
	struct resv pub;		/* first: a struct resv * is a struct rec * */
	uint64_t serial;
	uint32_t hi[2];			/* index in each timer heap, NOT_IN_HEAP */
	struct cn cap[2];		/* start, end */
	struct kn by_state;		/* k = from */
	struct kn q;			/* k = hold_at (owed), changed_at (finished) */
	struct sn by_spot;
	struct pn by_plate;
	uint32_t held[];		/* pub.held points here */
};

struct idslot {
	uint64_t h;			/* hash of the id */
	struct rec *r;			/* NULL: empty */
};

#define REC_OF(p, m) ((struct rec *)(void *)((char *)(p) - offsetof(struct rec, m)))
#define CREC_OF(p, m) \
	((const struct rec *)(const void *)((const char *)(p) - offsetof(struct rec, m)))

enum { H_NO_SHOW = RESBOOK_DUE_NO_SHOW, H_HOLD = RESBOOK_DUE_HOLD };

struct heap {
	struct rec **a;
	uint32_t n, cap;
};

struct resbook {
	struct resbook_config c;
	uint64_t next_serial;
	struct idslot *ids;		/* [ids_cap], a power of two, or NULL */
	size_t ids_cap, ids_n;
	struct tn *by_state[RESV__NSTATES];
	struct tn **cap;		/* [ntypes] */
	struct tn *by_spot;
	struct tn *by_plate;
	struct tn *owed;
	struct tn *finished;
	struct heap heap[2];		/* H_NO_SHOW, H_HOLD */
	uint64_t count[RESV__NSTATES];
};

static const char *const state_names[RESV__NSTATES] = {
	[RESV_BOOKED] = "booked",
	[RESV_HELD] = "held",
	[RESV_OWED] = "owed",
	[RESV_USED] = "used",
	[RESV_NO_SHOW] = "no_show",
	[RESV_CANCELLED] = "cancelled",
};

const char *
resv_state_name(enum resv_state s)
{
	if ((unsigned)s >= RESV__NSTATES)
		return "?";
	return state_names[s];
}

int
resv_state_parse(const char *name, enum resv_state *out)
{
	for (int i = 0; i < RESV__NSTATES; i++)
		if (name != NULL && strcmp(name, state_names[i]) == 0) {
			*out = (enum resv_state)i;
			return 0;
		}
	return -1;
}

int
resv_state_active(enum resv_state s)
{
	return s == RESV_BOOKED || s == RESV_HELD || s == RESV_OWED;
}

/* ---- treaps ---- */

struct tops {
	int (*cmp)(const struct tn *, const struct tn *);
	void (*upd)(struct tn *);	/* NULL when nothing is aggregated */
};

static uint64_t
prio(const struct tn *n)
{
	uint64_t x = (uint64_t)(uintptr_t)n;

	/* The splitmix64 finalizer: addresses differ in few low bits. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static void
t_upd(const struct tops *o, struct tn *n)
{
	if (o->upd != NULL)
		o->upd(n);
}

/* Splits t into the nodes before k (*l) and after it (*r); k is not in t. */
static void
t_split(struct tn *t, const struct tn *k, const struct tops *o, struct tn **l,
    struct tn **r)
{
	if (t == NULL) {
		*l = *r = NULL;
		return;
	}
	if (o->cmp(t, k) < 0) {
		t_split(t->r, k, o, &t->r, r);
		*l = t;
	} else {
		t_split(t->l, k, o, l, &t->l);
		*r = t;
	}
	t_upd(o, t);
}

/* Joins a and b, every key of a before every key of b. */
static struct tn *
t_merge(struct tn *a, struct tn *b, const struct tops *o)
{
	if (a == NULL)
		return b;
	if (b == NULL)
		return a;
	if (prio(a) > prio(b)) {
		a->r = t_merge(a->r, b, o);
		t_upd(o, a);
		return a;
	}
	b->l = t_merge(a, b->l, o);
	t_upd(o, b);
	return b;
}

static struct tn *
t_insert(struct tn *t, struct tn *n, const struct tops *o)
{
	if (t == NULL || prio(n) > prio(t)) {
		t_split(t, n, o, &n->l, &n->r);
		t_upd(o, n);
		return n;
	}
	if (o->cmp(n, t) < 0)
		t->l = t_insert(t->l, n, o);
	else
		t->r = t_insert(t->r, n, o);
	t_upd(o, t);
	return t;
}

static struct tn *
t_remove(struct tn *t, struct tn *n, const struct tops *o)
{
	if (t == NULL)		/* not in the tree: cannot happen */
		return NULL;
	if (t == n)
		return t_merge(n->l, n->r, o);
	if (o->cmp(n, t) < 0)
		t->l = t_remove(t->l, n, o);
	else
		t->r = t_remove(t->r, n, o);
	t_upd(o, t);
	return t;
}

static struct tn *
t_first(struct tn *t)
{
	if (t != NULL)
		while (t->l != NULL)
			t = t->l;
	return t;
}

static int
cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static int
cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

/* ---- the keys of each index ---- */

/* (from, id) of a record against a key. */
static int
key_from_id(const struct rec *r, int64_t from, const char *id)
{
	int c = cmp_i64(r->pub.from, from);

	return c != 0 ? c : strcmp(r->pub.id, id);
}

/* (from, id) of a by_state node against a key. */
static int
state_key(const struct tn *t, int64_t from, const char *id)
{
	int c = cmp_i64(((const struct kn *)t)->k, from);

	return c != 0 ? c : strcmp(CREC_OF(t, by_state)->pub.id, id);
}

static int
cmp_state(const struct tn *a, const struct tn *b)
{
	return state_key(a, ((const struct kn *)b)->k,
	    CREC_OF(b, by_state)->pub.id);
}

static int
cmp_spot(const struct tn *a, const struct tn *b)
{
	const struct sn *x = (const struct sn *)a, *y = (const struct sn *)b;
	int c = cmp_u64(x->spot, y->spot);

	if (c == 0)
		c = cmp_i64(x->hold_at, y->hold_at);
	return c != 0 ? c : cmp_u64(CREC_OF(a, by_spot)->serial,
	    CREC_OF(b, by_spot)->serial);
}

/* The first 8 bytes of a plate, big-endian: they order as strcmp does. */
static uint64_t
plate_prefix(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++) {
		v <<= 8;
		if (*p != '\0')
			v |= (unsigned char)*p++;
	}
	return v;
}

/* The plate of a by_plate node against a plate and its prefix. */
static int
plate_key(const struct tn *t, uint64_t prefix, const char *plate)
{
	int c = cmp_u64(((const struct pn *)t)->prefix, prefix);

	return c != 0 ? c : strcmp(CREC_OF(t, by_plate)->pub.plate, plate);
}

static int
cmp_plate(const struct tn *a, const struct tn *b)
{
	const struct rec *y = CREC_OF(b, by_plate);
	int c = plate_key(a, ((const struct pn *)b)->prefix, y->pub.plate);

	if (c == 0)
		c = cmp_i64(((const struct pn *)a)->hold_at,
		    ((const struct pn *)b)->hold_at);
	return c != 0 ? c : strcmp(CREC_OF(a, by_plate)->pub.id, y->pub.id);
}

/* The owed queue and the finished list: (k, id). */
static int
cmp_q(const struct tn *a, const struct tn *b)
{
	int c = cmp_i64(((const struct kn *)a)->k, ((const struct kn *)b)->k);

	return c != 0 ? c : strcmp(CREC_OF(a, q)->pub.id, CREC_OF(b, q)->pub.id);
}

/* The record a capacity node belongs to: cap[0] adds, cap[1] removes. */
static const struct rec *
cn_rec(const struct cn *c)
{
	return CREC_OF(c->delta > 0 ? c : c - 1, cap);
}

static int
cmp_cap(const struct tn *a, const struct tn *b)
{
	const struct cn *x = (const struct cn *)a, *y = (const struct cn *)b;
	int c = cmp_i64(x->time, y->time);

	if (c == 0)		/* ends (negative) first */
		c = (x->delta > 0) - (y->delta > 0);
	return c != 0 ? c : cmp_u64(cn_rec(x)->serial, cn_rec(y)->serial);
}

static void
upd_cap(struct tn *t)
{
	struct cn *n = (struct cn *)t, *l = (struct cn *)t->l,
	    *r = (struct cn *)t->r;
	int64_t before = l != NULL ? l->sum : 0;

	n->sum = before + n->delta + (r != NULL ? r->sum : 0);
	n->maxpref = before + n->delta;
	if (l != NULL && l->maxpref > n->maxpref)
		n->maxpref = l->maxpref;
	if (r != NULL && before + n->delta + r->maxpref > n->maxpref)
		n->maxpref = before + n->delta + r->maxpref;
}

static const struct tops ops_state = { cmp_state, NULL };
static const struct tops ops_spot = { cmp_spot, NULL };
static const struct tops ops_plate = { cmp_plate, NULL };
static const struct tops ops_q = { cmp_q, NULL };
static const struct tops ops_cap = { cmp_cap, upd_cap };

/* ---- the capacity book ---- */

static int64_t
cn_sum(const struct tn *t)
{
	return t != NULL ? ((const struct cn *)t)->sum : 0;
}

/* Units booked at t: the sum of the deltas at times <= t. */
static int64_t
cap_at(const struct tn *t, int64_t at)
{
	int64_t s = 0;

	while (t != NULL) {
		const struct cn *c = (const struct cn *)t;
		if (c->time <= at) {
			s += cn_sum(t->l) + c->delta;
			t = t->r;
		} else
			t = t->l;
	}
	return s;
}

/* A run of deltas in order: its sum and greatest prefix (none: INT64_MIN). */
struct agg {
	int64_t sum, maxpref;
};

static const struct agg agg_none = { 0, INT64_MIN };

static struct agg
agg_cat(struct agg x, struct agg y)
{
	struct agg j = { x.sum + y.sum, x.maxpref };

	if (y.maxpref != INT64_MIN && x.sum + y.maxpref > j.maxpref)
		j.maxpref = x.sum + y.maxpref;
	return j;
}

static struct agg
agg_tree(const struct tn *t)
{
	struct agg a = agg_none;

	if (t != NULL) {
		a.sum = ((const struct cn *)t)->sum;
		a.maxpref = ((const struct cn *)t)->maxpref;
	}
	return a;
}

static struct agg
agg_one(const struct tn *t)
{
	int64_t d = ((const struct cn *)t)->delta;
	struct agg a = { d, d };

	return a;
}

/* The deltas at times > a. */
static struct agg
agg_after(const struct tn *t, int64_t a)
{
	if (t == NULL)
		return agg_none;
	if (((const struct cn *)t)->time <= a)
		return agg_after(t->r, a);
	return agg_cat(agg_cat(agg_after(t->l, a), agg_one(t)), agg_tree(t->r));
}

/* The deltas at times < b. */
static struct agg
agg_before(const struct tn *t, int64_t b)
{
	if (t == NULL)
		return agg_none;
	if (((const struct cn *)t)->time >= b)
		return agg_before(t->l, b);
	return agg_cat(agg_cat(agg_tree(t->l), agg_one(t)), agg_before(t->r, b));
}

static int64_t
cap_max(const struct tn *t, int64_t a, int64_t b)
{
	int64_t base;
	struct agg mid;

	if (a >= b)
		return 0;
	base = cap_at(t, a);
	/* Down to the node whose time lies in (a, b), if any. */
	while (t != NULL) {
		int64_t tt = ((const struct cn *)t)->time;
		if (tt <= a)
			t = t->r;
		else if (tt >= b)
			t = t->l;
		else
			break;
	}
	if (t == NULL)
		return base;
	mid = agg_cat(agg_cat(agg_after(t->l, a), agg_one(t)),
	    agg_before(t->r, b));
	return mid.maxpref > 0 ? base + mid.maxpref : base;
}

/* The first node of t whose prefix (acc before t) exceeds thr; one exists. */
static const struct cn *
cap_find_in(const struct tn *t, int64_t acc, int64_t thr)
{
	for (;;) {
		const struct cn *c = (const struct cn *)t;
		if (t->l != NULL && acc + ((const struct cn *)t->l)->maxpref > thr) {
			t = t->l;
			continue;
		}
		acc += cn_sum(t->l) + c->delta;
		if (acc > thr)
			return c;
		t = t->r;
		if (t == NULL)	/* cannot happen when the sums are right */
			return NULL;
	}
}

/* The first node at a time > a whose prefix (acc before t) exceeds thr. */
static const struct cn *
cap_find_after(const struct tn *t, int64_t a, int64_t acc, int64_t thr)
{
	const struct cn *c, *found;

	if (t == NULL)
		return NULL;
	c = (const struct cn *)t;
	if (c->time <= a)
		return cap_find_after(t->r, a, acc + cn_sum(t->l) + c->delta, thr);
	if ((found = cap_find_after(t->l, a, acc, thr)) != NULL)
		return found;
	acc += cn_sum(t->l) + c->delta;
	if (acc > thr)
		return c;
	if (t->r != NULL && acc + ((const struct cn *)t->r)->maxpref > thr)
		return cap_find_in(t->r, acc, thr);
	return NULL;
}

static int
cap_first_over(const struct tn *t, int64_t a, int64_t b, uint32_t units,
    uint32_t cap, int64_t *at)
{
	int64_t thr = (int64_t)cap - (int64_t)units;
	const struct cn *c;

	if (a >= b)
		return 0;
	if (cap_at(t, a) > thr) {
		*at = a;
		return 1;
	}
	c = cap_find_after(t, a, 0, thr);
	if (c == NULL || c->time >= b)
		return 0;
	*at = c->time;
	return 1;
}

int64_t
resbook_booked_at(const resbook *rb, int type, int64_t t)
{
	if (rb == NULL || type < 0 || type >= rb->c.ntypes)
		return 0;
	return cap_at(rb->cap[type], t);
}

int64_t
resbook_booked_max(const resbook *rb, int type, int64_t a, int64_t b)
{
	if (rb == NULL || type < 0 || type >= rb->c.ntypes)
		return 0;
	return cap_max(rb->cap[type], a, b);
}

int
resbook_first_over(const resbook *rb, int type, int64_t a, int64_t b,
    uint32_t units, uint32_t cap, int64_t *at)
{
	if (rb == NULL || type < 0 || type >= rb->c.ntypes) {
		if (a < b && units > cap) {
			*at = a;
			return 1;
		}
		return 0;
	}
	return cap_first_over(rb->cap[type], a, b, units, cap, at);
}

/* ---- the per-spot footprints ---- */

/*
 * The first instant of [s, e) on spot that an active reservation's
 * footprint covers: 1 and *at, or 0.
 */
static int
spot_overlap(const struct tn *t, uint32_t spot, int64_t s, int64_t e,
    int64_t *at)
{
	const struct rec *pred = NULL, *succ = NULL;

	while (t != NULL) {
		const struct sn *n = (const struct sn *)t;
		int c = cmp_u64(n->spot, spot);
		if (c == 0)
			c = cmp_i64(n->hold_at, s);
		if (c <= 0) {
			pred = CREC_OF(t, by_spot);
			t = t->r;
		} else {
			succ = CREC_OF(t, by_spot);
			t = t->l;
		}
	}
	if (pred != NULL && pred->pub.spot == spot && pred->pub.to > s) {
		*at = s;
		return 1;
	}
	if (succ != NULL && succ->pub.spot == spot && succ->pub.hold_at < e) {
		*at = succ->pub.hold_at;
		return 1;
	}
	return 0;
}

/* ---- timer heaps ---- */

static int64_t
heap_time(const struct rec *r, int h)
{
	return h == H_HOLD ? r->pub.hold_at : r->pub.no_show_at;
}

static int
heap_less(const struct rec *a, const struct rec *b, int h)
{
	int64_t ta = heap_time(a, h), tb = heap_time(b, h);

	return ta < tb || (ta == tb && strcmp(a->pub.id, b->pub.id) < 0);
}

static void
heap_place(struct heap *hp, int h, uint32_t i, struct rec *r)
{
	hp->a[i] = r;
	r->hi[h] = i;
}

static void
heap_up(struct heap *hp, int h, uint32_t i)
{
	struct rec *r = hp->a[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (!heap_less(r, hp->a[p], h))
			break;
		heap_place(hp, h, i, hp->a[p]);
		i = p;
	}
	heap_place(hp, h, i, r);
}

static void
heap_down(struct heap *hp, int h, uint32_t i)
{
	struct rec *r = hp->a[i];

	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= hp->n)
			break;
		if (c + 1 < hp->n && heap_less(hp->a[c + 1], hp->a[c], h))
			c++;
		if (!heap_less(hp->a[c], r, h))
			break;
		heap_place(hp, h, i, hp->a[c]);
		i = c;
	}
	heap_place(hp, h, i, r);
}

/* Room for one more; -1 (heap unchanged) when out of memory. */
static int
heap_reserve(resbook *rb, struct heap *hp)
{
	uint32_t ncap;
	struct rec **na;

	if (hp->n < hp->cap)
		return 0;
	if (hp->cap >= UINT32_MAX / 2)
		return -1;
	ncap = hp->cap < 64 ? 64 : hp->cap * 2;
	na = rb->c.mem_realloc(hp->a, (size_t)ncap * sizeof(*na));
	if (na == NULL)
		return -1;
	hp->a = na;
	hp->cap = ncap;
	return 0;
}

/* Adds r (room was reserved). */
static void
heap_push(resbook *rb, int h, struct rec *r)
{
	struct heap *hp = &rb->heap[h];

	hp->a[hp->n] = r;
	r->hi[h] = hp->n++;
	heap_up(hp, h, r->hi[h]);
}

static void
heap_remove(resbook *rb, int h, struct rec *r)
{
	struct heap *hp = &rb->heap[h];
	uint32_t i = r->hi[h];
	struct rec *last;

	if (i == NOT_IN_HEAP)
		return;
	r->hi[h] = NOT_IN_HEAP;
	last = hp->a[--hp->n];
	if (i == hp->n)
		return;
	heap_place(hp, h, i, last);
	if (i > 0 && heap_less(last, hp->a[(i - 1) / 2], h))
		heap_up(hp, h, i);
	else
		heap_down(hp, h, i);
}

/* ---- the id table ---- */

static uint64_t
id_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a, then mixed */

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	return h;
}

static struct rec *
ids_get(const resbook *rb, const char *id)
{
	uint64_t h;
	size_t mask, i;

	if (rb->ids_cap == 0)
		return NULL;
	h = id_hash(id);
	mask = rb->ids_cap - 1;
	for (i = (size_t)h & mask; rb->ids[i].r != NULL; i = (i + 1) & mask)
		if (rb->ids[i].h == h && strcmp(rb->ids[i].r->pub.id, id) == 0)
			return rb->ids[i].r;
	return NULL;
}

/* Stores r (there is room: the table is kept at most half full). */
static void
ids_put(resbook *rb, struct rec *r)
{
	uint64_t h = id_hash(r->pub.id);
	size_t mask = rb->ids_cap - 1, i;

	for (i = (size_t)h & mask; rb->ids[i].r != NULL; i = (i + 1) & mask)
		;
	rb->ids[i].h = h;
	rb->ids[i].r = r;
	rb->ids_n++;
}

/* Room for one more; -1 (table unchanged) when out of memory. */
static int
ids_reserve(resbook *rb)
{
	struct idslot *old = rb->ids, *na;
	size_t ocap = rb->ids_cap, ncap;

	if ((rb->ids_n + 1) * 2 <= ocap)
		return 0;
	if (ocap > SIZE_MAX / 4 / sizeof(*na))
		return -1;
	ncap = ocap == 0 ? 64 : ocap * 2;
	if ((na = rb->c.mem_malloc(ncap * sizeof(*na))) == NULL)
		return -1;
	memset(na, 0, ncap * sizeof(*na));
	rb->ids = na;
	rb->ids_cap = ncap;
	rb->ids_n = 0;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].r != NULL)
			ids_put(rb, old[i].r);
	rb->c.mem_free(old);
	return 0;
}

/* Removes r, shifting back the entries that probed past its slot. */
static void
ids_del(resbook *rb, const struct rec *r)
{
	size_t mask = rb->ids_cap - 1, i, j;

	for (i = (size_t)id_hash(r->pub.id) & mask; rb->ids[i].r != r;
	    i = (i + 1) & mask)
		if (rb->ids[i].r == NULL)	/* not there: cannot happen */
			return;
	for (j = i;;) {
		size_t home;
		j = (j + 1) & mask;
		if (rb->ids[j].r == NULL)
			break;
		home = (size_t)rb->ids[j].h & mask;
		/* Move j to the hole at i unless its home lies in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			rb->ids[i] = rb->ids[j];
			i = j;
		}
	}
	rb->ids[i].r = NULL;
	rb->ids_n--;
}

/* ---- the book ---- */

resbook *
resbook_new(const struct resbook_config *c)
{
	resbook *rb;
	int hooks;

	if (c == NULL || c->ntypes < 1 || c->ntypes > RESBOOK_TYPES_MAX ||
	    c->hold_before_s < 0 || c->hold_before_s > RESBOOK_SPAN_MAX_S ||
	    c->no_show_after_s < 0 || c->no_show_after_s > RESBOOK_SPAN_MAX_S ||
	    c->max_hours < 1 || c->max_hours > RESBOOK_MAX_HOURS_MAX ||
	    c->horizon_days < 1 || c->horizon_days > RESBOOK_HORIZON_DAYS_MAX)
		return NULL;
	hooks = (c->mem_malloc != NULL) + (c->mem_realloc != NULL) +
	    (c->mem_free != NULL);
	if (hooks != 0 && hooks != 3)
		return NULL;
	rb = hooks ? c->mem_malloc(sizeof(*rb)) : malloc(sizeof(*rb));
	if (rb == NULL)
		return NULL;
	memset(rb, 0, sizeof(*rb));
	rb->c = *c;
	if (!hooks) {
		rb->c.mem_malloc = malloc;
		rb->c.mem_realloc = realloc;
		rb->c.mem_free = free;
	}
	rb->cap = rb->c.mem_malloc((size_t)c->ntypes * sizeof(*rb->cap));
	if (rb->cap == NULL) {
		rb->c.mem_free(rb);
		return NULL;
	}
	memset(rb->cap, 0, (size_t)c->ntypes * sizeof(*rb->cap));
	return rb;
}

pk_err
resbook_set_times(resbook *rb, const struct resbook_config *c)
{
	if (c->hold_before_s < 0 || c->hold_before_s > RESBOOK_SPAN_MAX_S ||
	    c->no_show_after_s < 0 || c->no_show_after_s > RESBOOK_SPAN_MAX_S ||
	    c->max_hours < 1 || c->max_hours > RESBOOK_MAX_HOURS_MAX ||
	    c->horizon_days < 1 || c->horizon_days > RESBOOK_HORIZON_DAYS_MAX)
		return PK_E_INVALID_PARAMS;
	rb->c.hold_before_s = c->hold_before_s;
	rb->c.no_show_after_s = c->no_show_after_s;
	rb->c.max_hours = c->max_hours;
	rb->c.horizon_days = c->horizon_days;
	return PK_OK;
}

void
resbook_free(resbook *rb)
{
	if (rb == NULL)
		return;
	for (size_t i = 0; i < rb->ids_cap; i++)
		rb->c.mem_free(rb->ids[i].r);
	rb->c.mem_free(rb->ids);
	rb->c.mem_free(rb->heap[0].a);
	rb->c.mem_free(rb->heap[1].a);
	rb->c.mem_free(rb->cap);
	rb->c.mem_free(rb);
}

struct resv *
resbook_get(const resbook *rb, const char *id)
{
	struct rec *r = rb != NULL && id != NULL ? ids_get(rb, id) : NULL;

	return r != NULL ? &r->pub : NULL;
}

/* r is a record of this book (not a stale or foreign pointer). */
static struct rec *
own(const resbook *rb, struct resv *r)
{
	if (rb == NULL || r == NULL || resbook_get(rb, r->id) != r)
		return NULL;
	return (struct rec *)(void *)r;
}

/* ---- putting a record into the indexes and taking it out ---- */

/* The indexes of the active states: capacity, spot, plate. */
static void
activate(resbook *rb, struct rec *r)
{
	struct tn **cap = &rb->cap[r->pub.type];

	r->cap[0].time = r->pub.hold_at;
	r->cap[0].delta = (int32_t)r->pub.units;
	r->cap[1].time = r->pub.to;
	r->cap[1].delta = -(int32_t)r->pub.units;
	*cap = t_insert(*cap, &r->cap[0].t, &ops_cap);
	*cap = t_insert(*cap, &r->cap[1].t, &ops_cap);
	if (r->pub.spot != RESV_NO_SPOT) {
		r->by_spot.spot = r->pub.spot;
		r->by_spot.hold_at = r->pub.hold_at;
		rb->by_spot = t_insert(rb->by_spot, &r->by_spot.t, &ops_spot);
	}
	r->by_plate.prefix = plate_prefix(r->pub.plate);
	r->by_plate.hold_at = r->pub.hold_at;
	rb->by_plate = t_insert(rb->by_plate, &r->by_plate.t, &ops_plate);
}

static void
deactivate(resbook *rb, struct rec *r)
{
	struct tn **cap = &rb->cap[r->pub.type];

	*cap = t_remove(*cap, &r->cap[0].t, &ops_cap);
	*cap = t_remove(*cap, &r->cap[1].t, &ops_cap);
	if (r->pub.spot != RESV_NO_SPOT)
		rb->by_spot = t_remove(rb->by_spot, &r->by_spot.t, &ops_spot);
	rb->by_plate = t_remove(rb->by_plate, &r->by_plate.t, &ops_plate);
	heap_remove(rb, H_HOLD, r);
	heap_remove(rb, H_NO_SHOW, r);
}

/* Enters the owed queue (key: hold start) or the finished list (last change). */
static void
q_insert(resbook *rb, struct rec *r)
{
	if (r->pub.state == RESV_OWED) {
		r->q.k = r->pub.hold_at;
		rb->owed = t_insert(rb->owed, &r->q.t, &ops_q);
	} else if (!resv_state_active(r->pub.state)) {
		r->q.k = r->pub.changed_at;
		rb->finished = t_insert(rb->finished, &r->q.t, &ops_q);
	}
}

/* Moves r to state s at time at (the listing tree and the counts). */
static void
set_state(resbook *rb, struct rec *r, enum resv_state s, int64_t at)
{
	rb->by_state[r->pub.state] = t_remove(rb->by_state[r->pub.state],
	    &r->by_state.t, &ops_state);
	rb->count[r->pub.state]--;
	if (r->pub.state == RESV_OWED)
		rb->owed = t_remove(rb->owed, &r->q.t, &ops_q);
	r->pub.state = s;
	r->pub.changed_at = at;
	rb->by_state[s] = t_insert(rb->by_state[s], &r->by_state.t, &ops_state);
	rb->count[s]++;
	q_insert(rb, r);
}

/*
 * Allocates a record with room for max_spots held spots and makes room in
 * the id table and the heaps; NULL (nothing changed that matters: only
 * spare room was added) when out of memory.
 */
static struct rec *
rec_alloc(resbook *rb, uint32_t max_spots)
{
	struct rec *r;

	if (ids_reserve(rb) != 0 || heap_reserve(rb, &rb->heap[H_HOLD]) != 0 ||
	    heap_reserve(rb, &rb->heap[H_NO_SHOW]) != 0)
		return NULL;
	r = rb->c.mem_malloc(sizeof(*r) + (size_t)max_spots * sizeof(r->held[0]));
	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->pub.held = r->held;
	r->pub.max_spots = max_spots;
	r->pub.spot = RESV_NO_SPOT;
	r->hi[0] = r->hi[1] = NOT_IN_HEAP;
	r->serial = rb->next_serial++;
	return r;
}

/* Puts a filled-in record into every index its state asks for. */
static void
link_rec(resbook *rb, struct rec *r)
{
	enum resv_state s = r->pub.state;

	ids_put(rb, r);
	r->by_state.k = r->pub.from;
	rb->by_state[s] = t_insert(rb->by_state[s], &r->by_state.t, &ops_state);
	rb->count[s]++;
	if (resv_state_active(s)) {
		activate(rb, r);
		heap_push(rb, H_NO_SHOW, r);
		if (s == RESV_BOOKED)
			heap_push(rb, H_HOLD, r);
	}
	q_insert(rb, r);
}

/* ---- booking ---- */

static int
id_ok(const char *id)
{
	size_t n;

	if (id == NULL)
		return 0;
	n = strnlen(id, RESBOOK_ID_MAX + 1);
	return n >= 1 && n <= RESBOOK_ID_MAX;
}

static int
plate_ok(const char *plate)
{
	char norm[PLATE_BUFSZ];
	size_t n;

	if (plate == NULL)
		return 0;
	n = strnlen(plate, PLATE_MAX + 1);
	return n <= PLATE_MAX && plate_normalize(plate, n, norm) == 0 &&
	    strcmp(norm, plate) == 0;
}

static int
time_ok(int64_t t)
{
	return t >= RFC3339_MIN && t <= RFC3339_MAX;
}

static pk_err
why_set(struct resbook_why *why, pk_err e, const char *msg, int64_t at)
{
	if (why != NULL) {
		why->msg = msg;
		why->at = at;
	}
	return e;
}

pk_err
resbook_check(const resbook *rb, const struct resbook_reserve_in *in,
    struct resbook_why *why)
{
	int64_t hold_at, at = 0, sat = 0;
	int over, spot_over;

	if (rb == NULL || in == NULL)
		return why_set(why, PK_E_INVALID_PARAMS, "no request", 0);
	if (!id_ok(in->id))
		return why_set(why, PK_E_INVALID_PARAMS, "bad reservation id", 0);
	if (!plate_ok(in->plate))
		return why_set(why, PK_E_INVALID_PARAMS, "bad plate", 0);
	if (in->cls < 0 || in->gate < 0)
		return why_set(why, PK_E_INVALID_PARAMS, "bad class or gate", 0);
	if (in->type < 0 || in->type >= rb->c.ntypes)
		return why_set(why, PK_E_INVALID_PARAMS, "bad spot type", 0);
	if (in->units < 1 || in->units > ALLOC_MAX_SPOTS)
		return why_set(why, PK_E_INVALID_PARAMS, "bad units", 0);
	if (in->max_spots < in->units || in->max_spots > ALLOC_MAX_SPOTS)
		return why_set(why, PK_E_INVALID_PARAMS, "bad max_spots", 0);
	if (!time_ok(in->now) || !time_ok(in->from) || !time_ok(in->to))
		return why_set(why, PK_E_INVALID_PARAMS, "time out of range", 0);
	if (in->from < in->now)
		return why_set(why, PK_E_INVALID_PARAMS,
		    "from must not be in the past", 0);
	if (in->to <= in->from)
		return why_set(why, PK_E_INVALID_PARAMS, "to must be after from", 0);
	if (in->to - in->from > rb->c.max_hours * 3600)
		return why_set(why, PK_E_INVALID_PARAMS,
		    "longer than reservations.max_hours", 0);
	if (in->from - in->now > rb->c.horizon_days * 86400)
		return why_set(why, PK_E_INVALID_PARAMS,
		    "from is beyond reservations.horizon_days", 0);
	if (resbook_get(rb, in->id) != NULL)
		return why_set(why, PK_E_INVALID_PARAMS,
		    "reservation id already used", 0);

	hold_at = in->from - rb->c.hold_before_s;
	over = cap_first_over(rb->cap[in->type], hold_at, in->to, in->units,
	    in->cap, &at);
	spot_over = in->spot != RESV_NO_SPOT &&
	    spot_overlap(rb->by_spot, in->spot, hold_at, in->to, &sat);
	if (spot_over && (!over || sat <= at))
		return why_set(why, PK_E_RESERVATION_CONFLICT,
		    "the spot is reserved in the window", sat);
	if (over)
		return why_set(why, PK_E_RESERVATION_CONFLICT,
		    "no reservable capacity in the window", at);
	return why_set(why, PK_OK, "ok", 0);
}

pk_err
resbook_reserve(resbook *rb, const struct resbook_reserve_in *in,
    struct resv **out, struct resbook_why *why)
{
	struct rec *r;
	pk_err e;

	if (out != NULL)
		*out = NULL;
	if ((e = resbook_check(rb, in, why)) != PK_OK)
		return e;
	if ((r = rec_alloc(rb, in->max_spots)) == NULL)
		return why_set(why, PK_E_INTERNAL, "out of memory", 0);
	memcpy(r->pub.id, in->id, strlen(in->id) + 1);
	memcpy(r->pub.plate, in->plate, strlen(in->plate) + 1);
	r->pub.state = RESV_BOOKED;
	r->pub.cls = in->cls;
	r->pub.gate = in->gate;
	r->pub.type = in->type;
	r->pub.units = in->units;
	r->pub.spot = in->spot;
	r->pub.needs = in->needs;
	r->pub.from = in->from;
	r->pub.to = in->to;
	r->pub.hold_at = in->from - rb->c.hold_before_s;
	r->pub.no_show_at = in->from + rb->c.no_show_after_s;
	r->pub.created_at = r->pub.changed_at = in->now;
	link_rec(rb, r);
	if (out != NULL)
		*out = &r->pub;
	return PK_OK;
}

pk_err
resbook_restore(resbook *rb, const struct resv *img, struct resv **out)
{
	struct rec *r;
	const struct resv *p = img;

	if (out != NULL)
		*out = NULL;
	if (rb == NULL || p == NULL || !id_ok(p->id) ||
	    memchr(p->id, '\0', sizeof(p->id)) == NULL ||
	    !plate_ok(p->plate) || (unsigned)p->state >= RESV__NSTATES ||
	    p->type < 0 || p->type >= rb->c.ntypes || p->cls < 0 || p->gate < 0 ||
	    p->units < 1 || p->units > ALLOC_MAX_SPOTS ||
	    p->max_spots < p->units || p->max_spots > ALLOC_MAX_SPOTS ||
	    p->n_held > p->max_spots || (p->n_held > 0 && p->held == NULL) ||
	    memchr(p->ticket, '\0', sizeof(p->ticket)) == NULL ||
	    !time_ok(p->from) || !time_ok(p->to) || !time_ok(p->created_at) ||
	    !time_ok(p->changed_at) || p->from >= p->to ||
	    /* Near the ends of time these two lie outside it. */
	    p->hold_at > p->from || p->from - p->hold_at > RESBOOK_SPAN_MAX_S ||
	    p->no_show_at < p->from ||
	    p->no_show_at - p->from > RESBOOK_SPAN_MAX_S)
		return PK_E_INVALID_PARAMS;
	if (resbook_get(rb, p->id) != NULL)
		return PK_E_INVALID_PARAMS;
	if ((r = rec_alloc(rb, p->max_spots)) == NULL)
		return PK_E_INTERNAL;
	memcpy(r->pub.id, p->id, sizeof(r->pub.id));
	memcpy(r->pub.plate, p->plate, sizeof(r->pub.plate));
	memcpy(r->pub.ticket, p->ticket, sizeof(r->pub.ticket));
	r->pub.state = p->state;
	r->pub.cls = p->cls;
	r->pub.gate = p->gate;
	r->pub.type = p->type;
	r->pub.units = p->units;
	r->pub.spot = p->spot;
	r->pub.needs = p->needs;
	r->pub.from = p->from;
	r->pub.to = p->to;
	r->pub.hold_at = p->hold_at;
	r->pub.no_show_at = p->no_show_at;
	r->pub.created_at = p->created_at;
	r->pub.changed_at = p->changed_at;
	r->pub.n_held = p->n_held;
	if (p->n_held > 0)
		memcpy(r->held, p->held, p->n_held * sizeof(r->held[0]));
	link_rec(rb, r);
	if (out != NULL)
		*out = &r->pub;
	return PK_OK;
}

/* ---- look-ups and timers ---- */

struct resv *
resbook_arrival(const resbook *rb, const char *plate, int64_t now,
    int64_t lead_s)
{
	struct tn *t = rb != NULL && plate != NULL ? rb->by_plate : NULL;
	struct rec *first = NULL;
	uint64_t prefix = plate != NULL ? plate_prefix(plate) : 0;

	/* The leftmost node of the plate: its earliest hold. */
	while (t != NULL) {
		if (plate_key(t, prefix, plate) >= 0) {
			first = REC_OF(t, by_plate);
			t = t->l;
		} else
			t = t->r;
	}
	if (first == NULL || strcmp(first->pub.plate, plate) != 0)
		return NULL;
	if (lead_s < 0)
		lead_s = 0;
	/* hold_at - now > lead_s, in unsigned arithmetic: now may be anything. */
	if (first->pub.hold_at > now &&
	    (uint64_t)first->pub.hold_at - (uint64_t)now > (uint64_t)lead_s)
		return NULL;
	return &first->pub;
}

/* The heap whose top comes first (no-shows win ties), or -1. */
static int
due_heap(const resbook *rb)
{
	const struct heap *ns = &rb->heap[H_NO_SHOW], *ho = &rb->heap[H_HOLD];
	int64_t tn, th;

	if (ns->n == 0)
		return ho->n == 0 ? -1 : H_HOLD;
	if (ho->n == 0)
		return H_NO_SHOW;
	tn = ns->a[0]->pub.no_show_at;
	th = ho->a[0]->pub.hold_at;
	return th < tn ? H_HOLD : H_NO_SHOW;
}

int
resbook_next_due(const resbook *rb, int64_t *at)
{
	int h = rb != NULL ? due_heap(rb) : -1;

	if (h < 0)
		return 0;
	*at = heap_time(rb->heap[h].a[0], h);
	return 1;
}

int
resbook_pop_due(resbook *rb, int64_t now, struct resbook_due *d)
{
	int h = rb != NULL ? due_heap(rb) : -1;
	struct rec *r;

	if (h < 0 || heap_time(rb->heap[h].a[0], h) > now)
		return 0;
	r = rb->heap[h].a[0];
	heap_remove(rb, h, r);
	d->r = &r->pub;
	d->kind = (enum resbook_due_kind)h;
	d->at = heap_time(r, h);
	return 1;
}

/* ---- changes of state ---- */

pk_err
resbook_mark_held(resbook *rb, struct resv *pr, const uint32_t *spots,
    size_t n, int64_t at)
{
	struct rec *r = own(rb, pr);

	if (r == NULL)
		return PK_E_NOT_FOUND;
	if (!time_ok(at) || (r->pub.state != RESV_BOOKED &&
	    r->pub.state != RESV_OWED) || spots == NULL || n < 1 ||
	    n > r->pub.max_spots)
		return PK_E_INVALID_PARAMS;
	heap_remove(rb, H_HOLD, r);
	memcpy(r->held, spots, n * sizeof(r->held[0]));
	r->pub.n_held = (uint32_t)n;
	set_state(rb, r, RESV_HELD, at);
	return PK_OK;
}

pk_err
resbook_mark_owed(resbook *rb, struct resv *pr, int64_t at)
{
	struct rec *r = own(rb, pr);

	if (r == NULL)
		return PK_E_NOT_FOUND;
	if (!time_ok(at) || r->pub.state != RESV_BOOKED)
		return PK_E_INVALID_PARAMS;
	heap_remove(rb, H_HOLD, r);
	set_state(rb, r, RESV_OWED, at);
	return PK_OK;
}

/* An active reservation ends in state s. */
static pk_err
finish(resbook *rb, struct rec *r, enum resv_state s, int64_t at)
{
	if (r == NULL)
		return PK_E_NOT_FOUND;
	if (!time_ok(at) || !resv_state_active(r->pub.state))
		return PK_E_INVALID_PARAMS;
	deactivate(rb, r);
	set_state(rb, r, s, at);
	return PK_OK;
}

pk_err
resbook_mark_used(resbook *rb, struct resv *pr, const char *ticket, int64_t at)
{
	struct rec *r = own(rb, pr);
	pk_err e;

	if (r != NULL && !id_ok(ticket))
		return PK_E_INVALID_PARAMS;
	if ((e = finish(rb, r, RESV_USED, at)) == PK_OK)
		memcpy(r->pub.ticket, ticket, strlen(ticket) + 1);
	return e;
}

pk_err
resbook_mark_no_show(resbook *rb, struct resv *pr, int64_t at)
{
	return finish(rb, own(rb, pr), RESV_NO_SHOW, at);
}

pk_err
resbook_cancel(resbook *rb, struct resv *pr, int64_t at, int *changed)
{
	struct rec *r = own(rb, pr);

	if (changed != NULL)
		*changed = 0;
	if (r == NULL)
		return PK_E_NOT_FOUND;
	if (!resv_state_active(r->pub.state))
		return PK_OK;
	if (!time_ok(at))
		return PK_E_INVALID_PARAMS;
	if (changed != NULL)
		*changed = 1;
	return finish(rb, r, RESV_CANCELLED, at);
}

/* ---- owed holds ---- */

struct resv *
resbook_owed_first(const resbook *rb)
{
	struct tn *t = rb != NULL ? t_first(rb->owed) : NULL;

	return t != NULL ? &REC_OF(t, q)->pub : NULL;
}

struct resv *
resbook_owed_next(const resbook *rb, const struct resv *r)
{
	struct tn *t;
	struct rec *next = NULL;

	if (rb == NULL || r == NULL || r->state != RESV_OWED)
		return NULL;
	t = rb->owed;
	while (t != NULL) {
		int c = cmp_i64(((struct kn *)t)->k, r->hold_at);
		if (c == 0)
			c = strcmp(REC_OF(t, q)->pub.id, r->id);
		if (c > 0) {
			next = REC_OF(t, q);
			t = t->l;
		} else
			t = t->r;
	}
	return next != NULL ? &next->pub : NULL;
}

/* ---- listing ---- */

/* The first record of t after (from, id), or at it too when !strict. */
static struct rec *
state_lower(struct tn *t, int64_t from, const char *id, int strict)
{
	struct rec *best = NULL;

	while (t != NULL) {
		int c = state_key(t, from, id);
		if (c > 0 || (c == 0 && !strict)) {
			best = REC_OF(t, by_state);
			t = t->l;
		} else
			t = t->r;
	}
	return best;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "<from as 16 hex digits><id>"; -1 when s is not such a cursor. */
static int
cursor_parse(const char *s, int64_t *from, char id[RESBOOK_ID_MAX + 1])
{
	uint64_t v = 0;
	size_t n = strnlen(s, RESBOOK_CURSOR_BUFSZ);

	if (n <= 16 || n >= RESBOOK_CURSOR_BUFSZ)
		return -1;
	for (int i = 0; i < 16; i++) {
		int d = hexval(s[i]);
		if (d < 0)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	if (v > (uint64_t)RFC3339_MAX)
		return -1;
	*from = (int64_t)v;
	memcpy(id, s + 16, n - 16 + 1);
	return 0;
}

static void
cursor_format(const struct resv *r, char out[RESBOOK_CURSOR_BUFSZ])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t v = (uint64_t)r->from;

	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = hex[v & 15];
	memcpy(out + 16, r->id, strlen(r->id) + 1);
}

pk_err
resbook_list(const resbook *rb, const struct resbook_query *q,
    struct resv **items, size_t *n, char next_cursor[RESBOOK_CURSOR_BUFSZ])
{
	struct rec *cand[RESV__NSTATES];
	struct tn *roots[RESV__NSTATES];
	int nroots = 0, strict = 0;
	int64_t kfrom;
	char kid[RESBOOK_ID_MAX + 1] = "";

	*n = 0;
	if (rb == NULL || q == NULL || q->limit < 1 || q->limit > RESBOOK_LIST_MAX ||
	    (q->has_state && (unsigned)q->state >= RESV__NSTATES)) {
		next_cursor[0] = '\0';
		return PK_E_INVALID_PARAMS;
	}
	kfrom = q->has_from ? q->from : INT64_MIN;
	/* Read before next_cursor is written: they may be the same buffer. */
	if (q->cursor != NULL && q->cursor[0] != '\0') {
		int64_t cf;
		char cid[RESBOOK_ID_MAX + 1];
		if (cursor_parse(q->cursor, &cf, cid) != 0) {
			next_cursor[0] = '\0';
			return PK_E_INVALID_PARAMS;
		}
		/* Start after the cursor unless the from filter starts later. */
		if (cf >= kfrom) {
			kfrom = cf;
			memcpy(kid, cid, sizeof(kid));
			strict = 1;
		}
	}
	next_cursor[0] = '\0';
	if (q->has_state)
		roots[nroots++] = rb->by_state[q->state];
	else
		for (int s = 0; s < RESV__NSTATES; s++)
			roots[nroots++] = rb->by_state[s];
	for (int i = 0; i < nroots; i++)
		cand[i] = state_lower(roots[i], kfrom, kid, strict);
	for (;;) {
		int best = -1;
		for (int i = 0; i < nroots; i++)
			if (cand[i] != NULL && (best < 0 ||
			    key_from_id(cand[i], cand[best]->pub.from,
			    cand[best]->pub.id) < 0))
				best = i;
		if (best < 0 || (q->has_to && cand[best]->pub.from >= q->to))
			break;
		if (*n == q->limit) {
			cursor_format(items[*n - 1], next_cursor);
			break;
		}
		items[(*n)++] = &cand[best]->pub;
		cand[best] = state_lower(roots[best], cand[best]->pub.from,
		    cand[best]->pub.id, 1);
	}
	return PK_OK;
}

/* ---- counts, retention, iteration ---- */

void
resbook_counts(const resbook *rb, struct resbook_counts *c)
{
	memset(c, 0, sizeof(*c));
	if (rb == NULL)
		return;
	for (int s = 0; s < RESV__NSTATES; s++) {
		c->by_state[s] = rb->count[s];
		c->total += rb->count[s];
	}
	c->held = rb->count[RESV_HELD];
	c->owed = rb->count[RESV_OWED];
	c->active = rb->count[RESV_BOOKED] + c->held + c->owed;
}

size_t
resbook_forget(resbook *rb, int64_t now, int64_t keep_s, size_t max)
{
	size_t done = 0;

	if (rb == NULL || keep_s < 0)
		return 0;
	while (max == 0 || done < max) {
		struct tn *t = t_first(rb->finished);
		struct rec *r;
		if (t == NULL)
			break;
		r = REC_OF(t, q);
		/* changed_at + keep_s <= now, without overflow. */
		if (r->pub.changed_at > now || now - r->pub.changed_at < keep_s)
			break;
		rb->finished = t_remove(rb->finished, t, &ops_q);
		rb->by_state[r->pub.state] = t_remove(rb->by_state[r->pub.state],
		    &r->by_state.t, &ops_state);
		rb->count[r->pub.state]--;
		ids_del(rb, r);
		rb->c.mem_free(r);
		done++;
	}
	return done;
}

int
resbook_oldest_finished(const resbook *rb, int64_t *at)
{
	struct tn *t = rb != NULL ? t_first(rb->finished) : NULL;

	if (t == NULL)
		return 0;
	*at = REC_OF(t, q)->pub.changed_at;
	return 1;
}

static void
each_tree(const struct tn *t, void (*fn)(void *, const struct resv *), void *ud)
{
	while (t != NULL) {
		each_tree(t->l, fn, ud);
		fn(ud, &CREC_OF(t, by_state)->pub);
		t = t->r;
	}
}

void
resbook_each(const resbook *rb, void (*fn)(void *ud, const struct resv *r),
    void *ud)
{
	if (rb == NULL || fn == NULL)
		return;
	for (int s = 0; s < RESV__NSTATES; s++)
		each_tree(rb->by_state[s], fn, ud);
}
