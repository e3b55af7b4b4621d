/* test_waitlist.c - the waitlist's rules one by one, its allocation failures, and a randomized comparison with a brute-force model of capacity.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*
 * Allocation failures are injected by compiling the waitlist and the dict
 * it uses into this file with malloc, calloc and realloc replaced: the
 * n-th allocation after fail_at is armed returns NULL.  The copies here
 * are the only ones linked (nothing else pulls lib/waitlist.o or
 * lib/dict.o out of the core archive), so every test below runs the real
 * code, and the white-box checks can read its private structures.
 */
static long fail_at = -1;	/* allocations left before the failing one */
static int fail_fired;		/* the armed failure happened */
static unsigned long alloc_calls;

static int
t_fail_now(void)
{
	alloc_calls++;
	if (fail_at < 0)
		return 0;
	if (fail_at-- == 0) {
		fail_fired = 1;
		return 1;
	}
	return 0;
}

/* Unused while the waitlist only calls calloc and realloc; kept for the day it does. */
__attribute__((unused))
static void *
t_malloc(size_t n)
{
	return t_fail_now() ? NULL : malloc(n);
}

static void *
t_calloc(size_t n, size_t sz)
{
	return t_fail_now() ? NULL : calloc(n, sz);
}

static void *
t_realloc(void *p, size_t n)
{
	return t_fail_now() ? NULL : realloc(p, n);
}

#define malloc t_malloc
#define calloc t_calloc
#define realloc t_realloc
#include "dict.c"
#include "waitlist.c"
#include "rng.h"
#undef malloc
#undef calloc
#undef realloc

/* ---- helpers ---- */

/*
 * cmocka's failures are not marked noreturn, and with the waitlist
 * compiled in, GCC sees the NULL returns of its look-ups: this check
 * tells it that the test does not go on past a NULL.
 */
#define T_NONNULL(p) do {						\
	if ((p) == NULL) {						\
		fail_msg("%s is NULL", #p);				\
		abort();						\
	}								\
} while (0)

#define T0 ((int64_t)1767225600)	/* 2026-01-01T00:00:00Z */

static const struct waitlist_limits lim_default = { 200, 1800, 86400 };

/* A canonical UUID text made from a number (distinct numbers, distinct ids). */
static void
t_id(uint64_t n, char out[UUID_BUFSZ])
{
	snprintf(out, UUID_BUFSZ, "%08llx-0000-7000-8000-%012llx",
	    (unsigned long long)(n >> 48), (unsigned long long)(n & 0xffffffffffffULL));
}

static waitlist *
t_new(size_t depth, int64_t max_timeout, int64_t keep)
{
	struct waitlist_limits lim = { depth, max_timeout, keep };
	waitlist *wl = waitlist_new(&lim);

	T_NONNULL(wl);
	return wl;
}

/* Adds entry number n (id from n) and expects a new entry. */
static const struct waitlist_entry *
t_add(waitlist *wl, uint64_t n, const char *plate, int cls, uint64_t needs,
    int gate, int64_t timeout, int64_t now)
{
	char id[UUID_BUFSZ];
	struct waitlist_add_in in = { id, plate, cls, needs, gate, timeout };
	const struct waitlist_entry *e;
	int existing = -1;

	t_id(n, id);
	assert_int_equal(waitlist_add(wl, &in, now, &e, &existing), PK_OK);
	T_NONNULL(e);
	assert_int_equal(existing, 0);
	assert_string_equal(e->id, id);
	return e;
}

static const char *t_idstr(uint64_t n);

/* The entry of id number n, which must exist. */
static const struct waitlist_entry *
t_get(const waitlist *wl, uint64_t n)
{
	const struct waitlist_entry *e = waitlist_get(wl, t_idstr(n));

	T_NONNULL(e);
	return e;
}

static const char *
t_idstr(uint64_t n)
{
	static char buf[8][UUID_BUFSZ];
	static int k;

	k = (k + 1) % 8;
	t_id(n, buf[k]);
	return buf[k];
}

/* fits() that says yes to everything, and one that says no. */
static int
fits_all(void *ud, int cls, uint64_t needs, int gate)
{
	(void)ud;
	(void)cls;
	(void)needs;
	(void)gate;
	return 1;
}

/* A fits() that answers from a table and records what it was asked. */
struct t_fits {
	int ncalls;
	int cls[64];
	uint64_t needs[64];
	int gate[64];
	int no_cls;			/* this class never fits; -1 none */
	uint64_t only_needs;		/* when != UINT64_MAX, only these needs fit */
};

static int
fits_rec(void *ud, int cls, uint64_t needs, int gate)
{
	struct t_fits *f = ud;

	if (f->ncalls < 64) {
		f->cls[f->ncalls] = cls;
		f->needs[f->ncalls] = needs;
		f->gate[f->ncalls] = gate;
	}
	f->ncalls++;
	if (cls == f->no_cls)
		return 0;
	return f->only_needs == UINT64_MAX || needs == f->only_needs;
}

static void
t_fits_init(struct t_fits *f, int no_cls, uint64_t only_needs)
{
	memset(f, 0, sizeof(*f));
	f->no_cls = no_cls;
	f->only_needs = only_needs;
}

/*
 * White-box invariants of waitlist.c, checked after the operations of the
 * randomized test and the failure tests.
 */
static void
t_invariants(const waitlist *wl)
{
	size_t n = 0, total_in_queues = 0;
	uint64_t prev = 0;

	/* Arrival list: seq and slots increase; positions are 1..n. */
	for (const struct wl_ent *x = wl->first; x != NULL; x = x->anext) {
		assert_int_equal(x->e.state, WAITLIST_WAITING);
		assert_true(x->e.seq > prev);
		prev = x->e.seq;
		assert_true(x->slot >= 1 && x->slot < wl->fwnext);
		assert_int_equal(fw_sum(wl, x->slot), n + 1);
		assert_ptr_equal(x->aprev == NULL ? wl->first : x->aprev->anext, x);
		assert_ptr_equal(dict_get(wl->by_plate, x->e.plate), x);
		assert_ptr_equal(dict_get(wl->by_id, x->e.id), x);
		assert_ptr_equal(wl->expiry.a[x->hidx], x);
		assert_true(x->e.seq < wl->next_seq);
		n++;
	}
	assert_int_equal(n, wl->nwaiting);
	assert_int_equal(fw_sum(wl, wl->fwcap), n);
	/* Queues: sorted by head seq, FIFO by seq, one (class, needs) each. */
	assert_int_equal(dict_size(wl->queues), wl->nq);
	assert_true(wl->nq <= wl->qcap);
	for (size_t i = 0; i < wl->nq; i++) {
		const struct wl_queue *q = wl->qord[i];
		size_t len = 0;
		uint64_t s = 0;
		char key[QKEY_SZ];

		assert_int_equal(q->ord, i);
		assert_true(q->n > 0);
		if (i > 0)
			assert_true(head_seq(wl->qord[i - 1]) < head_seq(q));
		queue_key(q->cls, q->needs, key);
		assert_ptr_equal(dict_get(wl->queues, key), q);
		assert_null(q->head->qprev);
		for (const struct wl_ent *x = q->head; x != NULL; x = x->qnext) {
			assert_ptr_equal(x->q, q);
			assert_int_equal(x->e.cls, q->cls);
			assert_true(x->e.needs == q->needs);
			assert_true(x->e.seq > s);
			s = x->e.seq;
			if (x->qnext == NULL)
				assert_ptr_equal(q->tail, x);
			len++;
		}
		assert_int_equal(len, q->n);
		total_in_queues += len;
	}
	assert_int_equal(total_in_queues, wl->nwaiting);
	/* Heaps: the heap order, the back-indices, and the reserved room. */
	assert_int_equal(wl->expiry.n, wl->nwaiting);
	assert_true(wl->expiry.cap >= wl->nwaiting);
	assert_true(wl->outcomes.cap >= wl->nwaiting + wl->outcomes.n);
	for (size_t i = 0; i < wl->expiry.n; i++) {
		assert_int_equal(wl->expiry.a[i]->hidx, i);
		assert_int_equal(wl->expiry.a[i]->e.state, WAITLIST_WAITING);
		if (i > 0)
			assert_false(ent_before(wl->expiry.a[i],
			    wl->expiry.a[(i - 1) / 2]));
	}
	for (size_t i = 0; i < wl->outcomes.n; i++) {
		const struct wl_ent *x = wl->outcomes.a[i];
		assert_int_equal(x->hidx, i);
		assert_int_not_equal(x->e.state, WAITLIST_WAITING);
		assert_null(x->q);
		assert_int_equal(x->slot, 0);
		assert_ptr_equal(dict_get(wl->by_id, x->e.id), x);
		assert_true(x->e.seq < wl->next_seq);
		if (i > 0)
			assert_false(ent_before(x, wl->outcomes.a[(i - 1) / 2]));
	}
	assert_int_equal(dict_size(wl->by_id), wl->nwaiting + wl->outcomes.n);
	assert_int_equal(dict_size(wl->by_plate), wl->nwaiting);
}

/* Everything a caller can observe, to show that a failed call changed nothing. */
struct t_dump {
	size_t n;
	struct waitlist_entry e[512];
	size_t pos[512];
	size_t nwaiting, noutcomes, nq;
	int due_rc, exp_rc;
	int64_t due, exp;
	uint64_t next_seq;
	char match[UUID_BUFSZ];
};

static void
t_dump(const waitlist *wl, struct t_dump *d)
{
	struct waitlist_iter it = { 0 };
	const struct waitlist_entry *e;

	memset(d, 0, sizeof(*d));
	while ((e = waitlist_iter_next(wl, &it)) != NULL) {
		assert_true(d->n < 512);
		/* Field by field into a zeroed record: padding stays zero. */
		memcpy(d->e[d->n].id, e->id, sizeof(e->id));
		memcpy(d->e[d->n].plate, e->plate, sizeof(e->plate));
		d->e[d->n].state = e->state;
		d->e[d->n].cls = e->cls;
		d->e[d->n].needs = e->needs;
		d->e[d->n].gate = e->gate;
		d->e[d->n].seq = e->seq;
		d->e[d->n].queued_at = e->queued_at;
		d->e[d->n].expires_at = e->expires_at;
		d->e[d->n].outcome_at = e->outcome_at;
		memcpy(d->e[d->n].ticket, e->ticket, sizeof(e->ticket));
		d->pos[d->n] = waitlist_position(wl, e);
		assert_ptr_equal(waitlist_get(wl, e->id), e);
		d->n++;
	}
	d->nwaiting = waitlist_waiting_count(wl);
	d->noutcomes = waitlist_outcome_count(wl);
	d->nq = waitlist_queue_count(wl);
	d->due_rc = waitlist_next_due(wl, &d->due);
	d->exp_rc = waitlist_next_expiry(wl, &d->exp);
	d->next_seq = waitlist_next_seq(wl);
	e = waitlist_match(wl, fits_all, NULL);
	if (e != NULL)
		memcpy(d->match, e->id, sizeof(d->match));
	t_invariants(wl);
}

static void
t_dump_equal(const struct t_dump *a, const struct t_dump *b)
{
	assert_int_equal(a->n, b->n);
	assert_memory_equal(a->e, b->e, a->n * sizeof(a->e[0]));
	assert_memory_equal(a->pos, b->pos, a->n * sizeof(a->pos[0]));
	assert_int_equal(a->nwaiting, b->nwaiting);
	assert_int_equal(a->noutcomes, b->noutcomes);
	assert_int_equal(a->nq, b->nq);
	assert_int_equal(a->due_rc, b->due_rc);
	assert_int_equal(a->exp_rc, b->exp_rc);
	if (a->due_rc == 0)
		assert_int_equal(a->due, b->due);
	if (a->exp_rc == 0)
		assert_int_equal(a->exp, b->exp);
	assert_int_equal(a->next_seq, b->next_seq);
	assert_string_equal(a->match, b->match);
}

/* ---- construction and limits ---- */

static void
test_new_and_limits(void **state)
{
	struct waitlist_limits bad[] = {
		{ WAITLIST_MAX_DEPTH + 1, 1800, 86400 },
		{ 200, 0, 86400 },
		{ 200, WAITLIST_MAX_TIMEOUT_S + 1, 86400 },
		{ 200, 1800, -1 },
		{ 200, 1800, WAITLIST_MAX_KEEP_S + 1 },
	};
	struct waitlist_limits edge = { WAITLIST_MAX_DEPTH, WAITLIST_MAX_TIMEOUT_S,
	    WAITLIST_MAX_KEEP_S }, got;
	waitlist *wl;
	int64_t t;

	(void)state;
	assert_null(waitlist_new(NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(waitlist_new(&bad[i]));
	wl = waitlist_new(&edge);
	T_NONNULL(wl);
	waitlist_free(wl);
	waitlist_free(NULL);

	wl = t_new(200, 1800, 86400);
	assert_int_equal(waitlist_waiting_count(wl), 0);
	assert_int_equal(waitlist_outcome_count(wl), 0);
	assert_int_equal(waitlist_queue_count(wl), 0);
	assert_int_equal(waitlist_next_due(wl, &t), -1);
	assert_int_equal(waitlist_next_expiry(wl, &t), -1);
	assert_int_equal(waitlist_next_seq(wl), 1);
	assert_null(waitlist_match(wl, fits_all, NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(waitlist_set_limits(wl, &bad[i]),
		    PK_E_INVALID_PARAMS);
	waitlist_limits(wl, &got);
	assert_memory_equal(&got, &lim_default, sizeof(got));
	assert_int_equal(waitlist_set_limits(wl, &edge), PK_OK);
	waitlist_limits(wl, &got);
	assert_memory_equal(&got, &edge, sizeof(got));
	waitlist_free(wl);

	assert_string_equal(waitlist_state_name(WAITLIST_WAITING), "waiting");
	assert_string_equal(waitlist_state_name(WAITLIST_ASSIGNED), "assigned");
	assert_string_equal(waitlist_state_name(WAITLIST_EXPIRED), "expired");
	assert_string_equal(waitlist_state_name(WAITLIST_CANCELLED), "cancelled");
	assert_string_equal(waitlist_state_name((enum waitlist_state)9), "?");
}

/* ---- add ---- */

static void
test_add_fields_and_lookup(void **state)
{
	waitlist *wl = t_new(200, 1800, 86400);
	const struct waitlist_entry *e, *f;
	char upper[UUID_BUFSZ];

	(void)state;
	e = t_add(wl, 0xabcdef, "B-XY 123", 1, 0x5, 2, 600, T0);
	assert_string_equal(e->plate, "B-XY 123");
	assert_int_equal(e->state, WAITLIST_WAITING);
	assert_int_equal(e->cls, 1);
	assert_true(e->needs == 0x5);
	assert_int_equal(e->gate, 2);
	assert_int_equal(e->seq, 1);
	assert_int_equal(e->queued_at, T0);
	assert_int_equal(e->expires_at, T0 + 600);
	assert_int_equal(e->outcome_at, 0);
	assert_string_equal(e->ticket, "");
	assert_int_equal(waitlist_position(wl, e), 1);
	assert_int_equal(waitlist_waiting_count(wl), 1);
	assert_int_equal(waitlist_queue_count(wl), 1);
	assert_int_equal(waitlist_next_seq(wl), 2);
	assert_ptr_equal(waitlist_get(wl, e->id), e);
	assert_ptr_equal(waitlist_waiting_plate(wl, "B-XY 123"), e);
	assert_null(waitlist_waiting_plate(wl, "B-XY 124"));
	assert_null(waitlist_waiting_plate(wl, ""));
	assert_null(waitlist_waiting_plate(wl, NULL));
	assert_null(waitlist_get(wl, t_idstr(1)));
	assert_null(waitlist_get(wl, "not-a-uuid"));
	assert_null(waitlist_get(wl, NULL));

	/* Ids are canonical text in either case; stored in lower case. */
	t_id(0xabcdef, upper);
	upper[0] = 'F';
	assert_null(waitlist_get(wl, upper));
	t_id(0xabcdef, upper);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_ptr_equal(waitlist_get(wl, upper), e);

	f = t_add(wl, 2, "Q 1", 0, 0, 0, 1, T0 + 5);
	assert_int_equal(f->seq, 2);
	assert_int_equal(f->expires_at, T0 + 6);
	assert_int_equal(waitlist_position(wl, f), 2);
	assert_int_equal(waitlist_queue_count(wl), 2);
	assert_int_equal(waitlist_position(wl, NULL), 0);
	waitlist_free(wl);
}

static void
test_add_invalid(void **state)
{
	waitlist *wl = t_new(200, 1800, 86400);
	char id[UUID_BUFSZ], longid[64];
	struct waitlist_add_in in;
	const struct waitlist_entry *e;
	struct t_dump before, after;
	int existing;

	(void)state;
	t_add(wl, 1, "KEEP 1", 0, 0, 0, 100, T0);
	t_add(wl, 2, "GONE 2", 0, 0, 0, 100, T0);
	assert_int_equal(waitlist_assign(wl, t_idstr(2), t_idstr(900), T0 + 1),
	    PK_OK);
	t_dump(wl, &before);

	t_id(3, id);
	snprintf(longid, sizeof(longid), "%s0", id);
	struct {
		const char *id, *plate;
		int cls, gate;
		int64_t timeout, now;
	} cases[] = {
		{ NULL, "A 1", 0, 0, 10, T0 },
		{ "", "A 1", 0, 0, 10, T0 },
		{ "0000000-0000-7000-8000-0000000000003", "A 1", 0, 0, 10, T0 },
		{ "g0000000-0000-7000-8000-000000000003", "A 1", 0, 0, 10, T0 },
		{ longid, "A 1", 0, 0, 10, T0 },
		{ id, NULL, 0, 0, 10, T0 },
		{ id, "", 0, 0, 10, T0 },
		{ id, "ABCDEFGHIJKLMNOPQ", 0, 0, 10, T0 },	/* 17 */
		{ id, "A 1", -1, 0, 10, T0 },
		{ id, "A 1", 0, -1, 10, T0 },
		{ id, "A 1", 0, 0, 0, T0 },
		{ id, "A 1", 0, 0, -5, T0 },
		{ id, "A 1", 0, 0, 1801, T0 },
		{ id, "A 1", 0, 0, 10, -1 },
		{ id, "A 1", 0, 0, 10, WAITLIST_TIME_MAX + 1 },
		{ id, "A 1", 0, 0, 1, WAITLIST_TIME_MAX },	/* expires past it */
		/* Ids in use, waiting or kept as an outcome. */
		{ t_idstr(1), "A 1", 0, 0, 10, T0 },
		{ t_idstr(2), "A 1", 0, 0, 10, T0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		in = (struct waitlist_add_in){ cases[i].id, cases[i].plate,
		    cases[i].cls, 0, cases[i].gate, cases[i].timeout };
		e = (const void *)&in;
		existing = -1;
		assert_int_equal(waitlist_add(wl, &in, cases[i].now, &e, &existing),
		    PK_E_INVALID_PARAMS);
		assert_null(e);
		assert_int_equal(existing, 0);
		t_dump(wl, &after);
		t_dump_equal(&before, &after);
	}
	assert_int_equal(waitlist_add(wl, NULL, T0, &e, &existing),
	    PK_E_INVALID_PARAMS);

	/* The edges that are allowed. */
	e = t_add(wl, 4, "ABCDEFGHIJKLMNOP", 0, 0, 0, 1800, T0);
	assert_int_equal(e->expires_at, T0 + 1800);
	e = t_add(wl, 5, "Z", 0, 0, 0, 1, WAITLIST_TIME_MAX - 1);
	assert_int_equal(e->expires_at, WAITLIST_TIME_MAX);
	e = t_add(wl, 6, "Y", 0, 0, 0, 1, 0);
	assert_int_equal(e->expires_at, 1);
	waitlist_free(wl);
}

static void
test_depth_limit(void **state)
{
	waitlist *wl = t_new(3, 1800, 86400);
	char id[UUID_BUFSZ];
	struct waitlist_add_in in = { id, "D 4", 0, 0, 0, 60 };
	struct waitlist_limits lim = { 1, 1800, 86400 };
	const struct waitlist_entry *e, *a;
	int existing, changed;

	(void)state;
	a = t_add(wl, 1, "D 1", 0, 0, 0, 60, T0);
	t_add(wl, 2, "D 2", 1, 0, 0, 60, T0);
	t_add(wl, 3, "D 3", 2, 4, 1, 60, T0);
	assert_int_equal(waitlist_waiting_count(wl), 3);
	/* Exactly at max_depth: the next one is refused... */
	t_id(4, id);
	assert_int_equal(waitlist_add(wl, &in, T0, &e, &existing), PK_E_QUEUE_FULL);
	assert_null(e);
	assert_int_equal(waitlist_waiting_count(wl), 3);
	assert_null(waitlist_get(wl, id));
	/* ...but a plate already waiting still gets its entry back. */
	in.plate = "D 1";
	assert_int_equal(waitlist_add(wl, &in, T0, &e, &existing), PK_OK);
	assert_ptr_equal(e, a);
	assert_int_equal(existing, 1);
	/* Outcomes do not count: one cancelled, one more may wait. */
	assert_int_equal(waitlist_cancel(wl, a->id, T0 + 1, &e, &changed), PK_OK);
	in.plate = "D 4";
	assert_int_equal(waitlist_add(wl, &in, T0 + 2, &e, &existing), PK_OK);
	assert_int_equal(existing, 0);
	assert_int_equal(waitlist_waiting_count(wl), 3);
	assert_int_equal(waitlist_outcome_count(wl), 1);

	/* Lowering the limit keeps who waits and refuses newcomers. */
	assert_int_equal(waitlist_set_limits(wl, &lim), PK_OK);
	assert_int_equal(waitlist_waiting_count(wl), 3);
	t_id(5, id);
	in.plate = "D 5";
	assert_int_equal(waitlist_add(wl, &in, T0 + 3, &e, &existing),
	    PK_E_QUEUE_FULL);
	lim.max_depth = 0;
	assert_int_equal(waitlist_set_limits(wl, &lim), PK_OK);
	assert_int_equal(waitlist_add(wl, &in, T0 + 3, &e, &existing),
	    PK_E_QUEUE_FULL);
	lim.max_depth = 4;
	assert_int_equal(waitlist_set_limits(wl, &lim), PK_OK);
	assert_int_equal(waitlist_add(wl, &in, T0 + 3, &e, &existing), PK_OK);
	waitlist_free(wl);
}

static void
test_same_plate_twice(void **state)
{
	waitlist *wl = t_new(200, 1800, 86400);
	char id[UUID_BUFSZ];
	struct waitlist_add_in in = { id, "SAME 1", 3, 8, 1, 900 };
	const struct waitlist_entry *a, *e, *c;
	int existing, changed;

	(void)state;
	a = t_add(wl, 1, "SAME 1", 0, 0, 0, 100, T0);
	t_add(wl, 2, "OTHER", 0, 0, 0, 100, T0);
	/* Another id, class, needs, gate and timeout: the same entry back. */
	t_id(3, id);
	assert_int_equal(waitlist_add(wl, &in, T0 + 50, &e, &existing), PK_OK);
	assert_ptr_equal(e, a);
	assert_int_equal(existing, 1);
	assert_int_equal(e->cls, 0);
	assert_int_equal(e->expires_at, T0 + 100);
	assert_int_equal(waitlist_waiting_count(wl), 2);
	assert_null(waitlist_get(wl, id));
	assert_int_equal(waitlist_next_seq(wl), 3);
	/* Even with the id of the entry itself (a retry of the same call). */
	in.id = a->id;
	assert_int_equal(waitlist_add(wl, &in, T0 + 50, &e, &existing), PK_OK);
	assert_ptr_equal(e, a);
	assert_int_equal(existing, 1);

	/* Once it has an outcome, the plate queues anew, at the back. */
	assert_int_equal(waitlist_cancel(wl, t_idstr(1), T0 + 60, &c, &changed),
	    PK_OK);
	in.id = id;
	assert_int_equal(waitlist_add(wl, &in, T0 + 70, &e, &existing), PK_OK);
	assert_int_equal(existing, 0);
	assert_string_equal(e->id, id);
	assert_int_equal(e->seq, 3);
	assert_int_equal(e->cls, 3);
	assert_int_equal(waitlist_position(wl, e), 2);
	assert_ptr_equal(waitlist_waiting_plate(wl, "SAME 1"), e);
	/* The old outcome is still in the mailbox by its id. */
	c = waitlist_get(wl, t_idstr(1));
	T_NONNULL(c);
	assert_int_equal(c->state, WAITLIST_CANCELLED);
	waitlist_free(wl);
}

/* ---- matching ---- */

static void
test_match_order(void **state)
{
	waitlist *wl = t_new(200, 1800, 86400);
	const struct waitlist_entry *bus, *car2, *ev3, *car4, *m;
	struct t_fits f;

	(void)state;
	/* Classes: 0 car, 1 bus.  Needs: 0 none, 1 ev. */
	bus = t_add(wl, 1, "BUS", 1, 0, 2, 600, T0);
	car2 = t_add(wl, 2, "CAR 2", 0, 0, 1, 600, T0 + 1);
	ev3 = t_add(wl, 3, "EV 3", 0, 1, 0, 600, T0 + 2);
	car4 = t_add(wl, 4, "CAR 4", 0, 0, 0, 600, T0 + 3);
	assert_int_equal(waitlist_queue_count(wl), 3);

	/* Everything fits: the oldest of all. */
	t_fits_init(&f, -1, UINT64_MAX);
	assert_ptr_equal(waitlist_match(wl, fits_rec, &f), bus);
	assert_int_equal(f.ncalls, 1);
	assert_int_equal(f.cls[0], 1);
	assert_int_equal(f.gate[0], 2);

	/* The bus does not fit and blocks nobody: the oldest car. */
	t_fits_init(&f, 1, UINT64_MAX);
	assert_ptr_equal(waitlist_match(wl, fits_rec, &f), car2);
	assert_int_equal(f.ncalls, 2);
	assert_int_equal(f.gate[1], 1);		/* asked with the head's gate */

	/* Only an EV spot: the EV car, though two are ahead of it. */
	t_fits_init(&f, -1, 1);
	assert_ptr_equal(waitlist_match(wl, fits_rec, &f), ev3);
	assert_int_equal(f.ncalls, 3);
	/* Heads in arrival order: bus (1), car (2), ev (3); never car 4. */
	assert_int_equal(f.cls[0], 1);
	assert_true(f.cls[1] == 0 && f.needs[1] == 0);
	assert_true(f.cls[2] == 0 && f.needs[2] == 1);

	/* Nothing fits: NULL, after asking each queue once. */
	t_fits_init(&f, -1, 77);
	assert_null(waitlist_match(wl, fits_rec, &f));
	assert_int_equal(f.ncalls, 3);

	/* Matching changes nothing; assigning car 2 makes car 4 its queue's head. */
	assert_int_equal(waitlist_position(wl, car2), 2);
	assert_int_equal(waitlist_assign(wl, car2->id, t_idstr(100), T0 + 10),
	    PK_OK);
	t_fits_init(&f, 1, 0);
	m = waitlist_match(wl, fits_rec, &f);
	assert_ptr_equal(m, car4);
	/* bus (1), ev (3), car (4): the car queue moved behind the EV queue. */
	assert_int_equal(f.ncalls, 3);
	assert_true(f.cls[1] == 0 && f.needs[1] == 1);
	assert_int_equal(f.gate[2], 0);
	assert_int_equal(waitlist_position(wl, car4), 3);

	/* The bus queue empties: gone from the count and from the walk. */
	assert_int_equal(waitlist_assign(wl, bus->id, t_idstr(101), T0 + 11),
	    PK_OK);
	assert_int_equal(waitlist_queue_count(wl), 2);
	t_fits_init(&f, -1, UINT64_MAX);
	assert_ptr_equal(waitlist_match(wl, fits_rec, &f), ev3);
	assert_int_equal(f.ncalls, 1);
	waitlist_free(wl);
}

/* A queue's length costs nothing: a match asks one head per queue. */
static void
test_match_asks_heads_only(void **state)
{
	waitlist *wl = t_new(5000, 1800, 86400);
	struct t_fits f;
	char plate[PLATE_BUFSZ];

	(void)state;
	for (uint64_t i = 1; i <= 3000; i++) {
		snprintf(plate, sizeof(plate), "L %llu", (unsigned long long)i);
		t_add(wl, i, plate, (int)(i % 3), 0, 0, 1000, T0);
	}
	t_add(wl, 3001, "LAST", 7, 0, 0, 1000, T0);
	/* Heads: class 1 (seq 1), 2 (seq 2), 0 (seq 3), 7 (seq 3001). */
	t_fits_init(&f, 1, UINT64_MAX);
	assert_ptr_equal(waitlist_match(wl, fits_rec, &f),
	    waitlist_get(wl, t_idstr(2)));
	assert_int_equal(f.ncalls, 2);
	t_fits_init(&f, -1, 99);
	assert_null(waitlist_match(wl, fits_rec, &f));
	assert_int_equal(f.ncalls, 4);
	waitlist_free(wl);
}

/* ---- position ---- */

static void
test_position(void **state)
{
	waitlist *wl = t_new(1000, 1800, 86400);
	const struct waitlist_entry *e;
	char plate[PLATE_BUFSZ];
	int changed;
	size_t expect;

	(void)state;
	/* 300 entries over 4 queues; several Fenwick rebuilds on the way. */
	for (uint64_t i = 1; i <= 300; i++) {
		snprintf(plate, sizeof(plate), "P %llu", (unsigned long long)i);
		e = t_add(wl, i, plate, (int)(i % 2), i % 4 >= 2, 0, 1000, T0);
		assert_int_equal(waitlist_position(wl, e), i);
	}
	/* Every third leaves: the ones behind move up across all queues. */
	for (uint64_t i = 3; i <= 300; i += 3)
		assert_int_equal(waitlist_cancel(wl, t_idstr(i), T0 + 1, &e,
		    &changed), PK_OK);
	expect = 0;
	for (uint64_t i = 1; i <= 300; i++) {
		e = waitlist_get(wl, t_idstr(i));
		if (i % 3 == 0) {
			assert_int_equal(waitlist_position(wl, e), 0);
			continue;
		}
		assert_int_equal(waitlist_position(wl, e), ++expect);
	}
	/* The head of everything leaves: everybody is one closer. */
	assert_int_equal(waitlist_assign(wl, t_idstr(1), t_idstr(999), T0 + 2),
	    PK_OK);
	assert_int_equal(waitlist_position(wl, waitlist_get(wl, t_idstr(2))), 1);
	assert_int_equal(waitlist_position(wl, waitlist_get(wl, t_idstr(299))),
	    199);
	/* Newcomers after the churn queue at the back. */
	for (uint64_t i = 301; i <= 400; i++) {
		snprintf(plate, sizeof(plate), "P %llu", (unsigned long long)i);
		e = t_add(wl, i, plate, 5, 0, 0, 1000, T0 + 3);
		assert_int_equal(waitlist_position(wl, e), 199 + (i - 300));
	}
	t_invariants(wl);
	waitlist_free(wl);
}

/* ---- outcomes ---- */

static void
test_assign(void **state)
{
	waitlist *wl = t_new(200, 1800, 86400);
	const struct waitlist_entry *a, *b;
	char tk[UUID_BUFSZ];

	(void)state;
	a = t_add(wl, 1, "AS 1", 0, 0, 0, 100, T0);
	b = t_add(wl, 2, "AS 2", 0, 0, 0, 100, T0);
	assert_int_equal(waitlist_assign(wl, t_idstr(1), "bad", T0 + 5),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(waitlist_assign(wl, t_idstr(1), NULL, T0 + 5),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(waitlist_assign(wl, t_idstr(1), t_idstr(50), -1),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(waitlist_assign(wl, t_idstr(9), t_idstr(50), T0 + 5),
	    PK_E_NOT_FOUND);
	assert_int_equal(waitlist_assign(wl, "junk", t_idstr(50), T0 + 5),
	    PK_E_NOT_FOUND);
	assert_int_equal(a->state, WAITLIST_WAITING);

	t_id(50, tk);
	tk[0] = 'A';	/* a ticket id in upper case is stored folded */
	assert_int_equal(waitlist_assign(wl, t_idstr(1), tk, T0 + 5), PK_OK);
	a = t_get(wl, 1);
	assert_int_equal(a->state, WAITLIST_ASSIGNED);
	tk[0] = 'a';
	assert_string_equal(a->ticket, tk);
	assert_int_equal(a->outcome_at, T0 + 5);
	assert_int_equal(waitlist_position(wl, a), 0);
	assert_null(waitlist_waiting_plate(wl, "AS 1"));
	assert_int_equal(waitlist_position(wl, b), 1);
	assert_int_equal(waitlist_waiting_count(wl), 1);
	assert_int_equal(waitlist_outcome_count(wl), 1);
	/* Not waiting any more: refused, nothing changes. */
	assert_int_equal(waitlist_assign(wl, t_idstr(1), t_idstr(51), T0 + 6),
	    PK_E_INVALID_PARAMS);
	assert_string_equal(a->ticket, tk);
	assert_int_equal(a->outcome_at, T0 + 5);
	/* The outcome time is a fact taken as given, even before queued_at. */
	assert_int_equal(waitlist_assign(wl, t_idstr(2), t_idstr(52), T0 - 10),
	    PK_OK);
	assert_int_equal(t_get(wl, 2)->outcome_at, T0 - 10);
	t_invariants(wl);
	waitlist_free(wl);
}

static void
test_cancel(void **state)
{
	waitlist *wl = t_new(200, 1800, 86400);
	const struct waitlist_entry *e;
	int changed;

	(void)state;
	t_add(wl, 1, "C 1", 0, 0, 0, 100, T0);
	t_add(wl, 2, "C 2", 0, 0, 0, 100, T0);
	t_add(wl, 3, "C 3", 0, 0, 0, 10, T0);

	assert_int_equal(waitlist_cancel(wl, t_idstr(1), T0 + 7, &e, &changed),
	    PK_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(e->state, WAITLIST_CANCELLED);
	assert_int_equal(e->outcome_at, T0 + 7);
	assert_null(waitlist_waiting_plate(wl, "C 1"));
	/* Again, later: nothing changes, the state is the answer. */
	assert_int_equal(waitlist_cancel(wl, t_idstr(1), T0 + 9, &e, &changed),
	    PK_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(e->state, WAITLIST_CANCELLED);
	assert_int_equal(e->outcome_at, T0 + 7);
	/* Assigned, expired: the same. */
	assert_int_equal(waitlist_assign(wl, t_idstr(2), t_idstr(20), T0 + 8),
	    PK_OK);
	assert_int_equal(waitlist_cancel(wl, t_idstr(2), T0 + 9, &e, &changed),
	    PK_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(e->state, WAITLIST_ASSIGNED);
	assert_string_equal(e->ticket, t_idstr(20));
	assert_int_equal(waitlist_expire_due(wl, T0 + 10, NULL, NULL), 1);
	assert_int_equal(waitlist_cancel(wl, t_idstr(3), T0 + 11, &e, &changed),
	    PK_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(e->state, WAITLIST_EXPIRED);
	assert_int_equal(e->outcome_at, T0 + 10);
	/* Unknown, malformed. */
	e = (const void *)wl;
	assert_int_equal(waitlist_cancel(wl, t_idstr(4), T0, &e, &changed),
	    PK_E_NOT_FOUND);
	assert_null(e);
	assert_int_equal(waitlist_cancel(wl, "x", T0, &e, &changed),
	    PK_E_NOT_FOUND);
	assert_int_equal(waitlist_cancel(wl, t_idstr(1), -3, &e, &changed),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(waitlist_waiting_count(wl), 0);
	assert_int_equal(waitlist_outcome_count(wl), 3);
	t_invariants(wl);
	waitlist_free(wl);
}

struct t_seen {
	int n;
	char id[16][UUID_BUFSZ];
	int64_t outcome_at[16];
	size_t waiting[16];
	const waitlist *wl;
};

static void
on_expired(void *ud, const struct waitlist_entry *e)
{
	struct t_seen *s = ud;

	assert_int_equal(e->state, WAITLIST_EXPIRED);
	assert_true(s->n < 16);
	memcpy(s->id[s->n], e->id, UUID_BUFSZ);
	s->outcome_at[s->n] = e->outcome_at;
	s->waiting[s->n] = waitlist_waiting_count(s->wl);
	s->n++;
}

static void
test_expiry_boundary_and_order(void **state)
{
	waitlist *wl = t_new(200, 1800, 86400);
	struct t_seen s = { .wl = wl };
	int64_t t;

	(void)state;
	t_add(wl, 1, "E 1", 0, 0, 0, 10, T0 + 100);	/* expires T0 + 110 */
	t_add(wl, 2, "E 2", 1, 0, 0, 5, T0 + 100);	/* T0 + 105 */
	t_add(wl, 3, "E 3", 0, 0, 0, 10, T0 + 100);	/* T0 + 110, after 1 */
	t_add(wl, 4, "E 4", 2, 0, 0, 30, T0 + 100);	/* T0 + 130 */
	t_add(wl, 5, "E 5", 0, 0, 0, 1, T0 + 103);	/* T0 + 104 */
	assert_int_equal(waitlist_next_expiry(wl, &t), 0);
	assert_int_equal(t, T0 + 104);
	assert_int_equal(waitlist_next_due(wl, &t), 0);
	assert_int_equal(t, T0 + 104);

	/* One second before: nothing. */
	assert_int_equal(waitlist_expire_due(wl, T0 + 103, on_expired, &s), 0);
	assert_int_equal(s.n, 0);
	/* At expires_at exactly: expired. */
	assert_int_equal(waitlist_expire_due(wl, T0 + 104, on_expired, &s), 1);
	assert_string_equal(s.id[0], t_idstr(5));
	assert_int_equal(s.outcome_at[0], T0 + 104);
	assert_int_equal(waitlist_next_expiry(wl, &t), 0);
	assert_int_equal(t, T0 + 105);

	/* Long after (the daemon was down): in expires_at order, dated back. */
	s.n = 0;
	assert_int_equal(waitlist_expire_due(wl, T0 + 5000, on_expired, &s), 4);
	assert_string_equal(s.id[0], t_idstr(2));
	assert_string_equal(s.id[1], t_idstr(1));
	assert_string_equal(s.id[2], t_idstr(3));
	assert_string_equal(s.id[3], t_idstr(4));
	assert_int_equal(s.outcome_at[0], T0 + 105);
	assert_int_equal(s.outcome_at[1], T0 + 110);
	assert_int_equal(s.outcome_at[2], T0 + 110);
	assert_int_equal(s.outcome_at[3], T0 + 130);
	/* Each is reported after it changed. */
	assert_int_equal(s.waiting[0], 3);
	assert_int_equal(s.waiting[3], 0);
	assert_int_equal(waitlist_next_expiry(wl, &t), -1);
	assert_int_equal(waitlist_waiting_count(wl), 0);
	assert_int_equal(waitlist_queue_count(wl), 0);
	assert_int_equal(waitlist_outcome_count(wl), 5);
	/* The forgetting is what remains due: the oldest outcome + keep + 1. */
	assert_int_equal(waitlist_next_due(wl, &t), 0);
	assert_int_equal(t, T0 + 104 + 86400 + 1);
	assert_int_equal(waitlist_expire_due(wl, T0 + 9999, NULL, NULL), 0);
	t_invariants(wl);
	waitlist_free(wl);
}

static void
test_expire_one(void **state)
{
	waitlist *wl = t_new(200, 1800, 86400);
	const struct waitlist_entry *e;

	(void)state;
	e = t_add(wl, 1, "X 1", 0, 0, 0, 300, T0);
	t_add(wl, 2, "X 2", 0, 0, 0, 300, T0);
	/* Replay of an expiry: at its expires_at, whatever the time. */
	assert_int_equal(waitlist_expire(wl, t_idstr(1)), PK_OK);
	e = t_get(wl, 1);
	assert_int_equal(e->state, WAITLIST_EXPIRED);
	assert_int_equal(e->outcome_at, T0 + 300);
	assert_int_equal(waitlist_expire(wl, t_idstr(1)), PK_E_INVALID_PARAMS);
	assert_int_equal(waitlist_expire(wl, t_idstr(3)), PK_E_NOT_FOUND);
	assert_int_equal(waitlist_expire(wl, NULL), PK_E_NOT_FOUND);
	assert_int_equal(waitlist_position(wl, waitlist_get(wl, t_idstr(2))), 1);
	t_invariants(wl);
	waitlist_free(wl);
}

static void
test_outcome_retention(void **state)
{
	waitlist *wl = t_new(200, 1800, 100);
	struct waitlist_limits lim = { 200, 1800, 0 };
	const struct waitlist_entry *e;
	int changed;
	int64_t t;

	(void)state;
	t_add(wl, 1, "R 1", 0, 0, 0, 1000, T0);
	t_add(wl, 2, "R 2", 0, 0, 0, 50, T0);
	t_add(wl, 3, "R 3", 0, 0, 0, 1000, T0);
	assert_int_equal(waitlist_cancel(wl, t_idstr(1), T0 + 80, &e, &changed),
	    PK_OK);
	/* Found late: entry 2's expiry is dated back before the cancel. */
	assert_int_equal(waitlist_expire_due(wl, T0 + 90, NULL, NULL), 1);
	assert_int_equal(t_get(wl, 2)->outcome_at, T0 + 50);
	assert_int_equal(waitlist_next_due(wl, &t), 0);
	assert_int_equal(t, T0 + 151);

	/* Answered for keep seconds after the outcome, both ends included. */
	assert_int_equal(waitlist_prune(wl, T0 + 150), 0);
	T_NONNULL(waitlist_get(wl, t_idstr(2)));
	assert_int_equal(waitlist_prune(wl, T0 + 151), 1);
	assert_null(waitlist_get(wl, t_idstr(2)));
	T_NONNULL(waitlist_get(wl, t_idstr(1)));
	assert_int_equal(waitlist_next_due(wl, &t), 0);
	assert_int_equal(t, T0 + 181);
	assert_int_equal(waitlist_cancel(wl, t_idstr(2), T0 + 152, &e, &changed),
	    PK_E_NOT_FOUND);
	assert_int_equal(waitlist_prune(wl, T0 + 180), 0);
	assert_int_equal(waitlist_prune(wl, T0 + 181), 1);
	assert_null(waitlist_get(wl, t_idstr(1)));
	/* A forgotten id may be used again (the caller's ids never repeat). */
	t_add(wl, 1, "R 1", 0, 0, 0, 1000, T0 + 200);

	/* The waiting entry 3 is never pruned; with keep 0 an outcome lasts its second. */
	assert_int_equal(waitlist_set_limits(wl, &lim), PK_OK);
	assert_int_equal(waitlist_prune(wl, T0 + 999), 0);
	assert_int_equal(waitlist_assign(wl, t_idstr(3), t_idstr(30), T0 + 999),
	    PK_OK);
	assert_int_equal(waitlist_next_due(wl, &t), 0);
	assert_int_equal(t, T0 + 1000);		/* before entry 1's expiry */
	assert_int_equal(waitlist_prune(wl, T0 + 999), 0);
	assert_int_equal(waitlist_prune(wl, T0 + 1000), 1);
	assert_int_equal(waitlist_outcome_count(wl), 0);
	assert_int_equal(waitlist_next_due(wl, &t), 0);
	assert_int_equal(t, T0 + 1200);
	t_invariants(wl);
	waitlist_free(wl);
}

/* ---- snapshots and replay ---- */

/* Copies every entry of src into a fresh waitlist, as a snapshot load would. */
static waitlist *
t_clone(const waitlist *src)
{
	struct waitlist_limits lim;
	struct waitlist_iter it = { 0 };
	const struct waitlist_entry *e;
	waitlist *dst;
	int phase_outcomes = 0;

	waitlist_limits(src, &lim);
	dst = waitlist_new(&lim);
	T_NONNULL(dst);
	while ((e = waitlist_iter_next(src, &it)) != NULL) {
		/* Waiting first, in arrival order, then outcomes. */
		if (e->state != WAITLIST_WAITING)
			phase_outcomes = 1;
		else
			assert_false(phase_outcomes);
		assert_int_equal(waitlist_restore(dst, e), PK_OK);
	}
	waitlist_restore_seq(dst, waitlist_next_seq(src));
	return dst;
}

static void
test_snapshot_restore(void **state)
{
	waitlist *wl = t_new(200, 1800, 86400), *cp;
	struct waitlist_entry img;
	struct t_dump a, b;
	const struct waitlist_entry *e;
	int changed;

	(void)state;
	for (uint64_t i = 1; i <= 30; i++) {
		char plate[PLATE_BUFSZ];
		snprintf(plate, sizeof(plate), "S %llu", (unsigned long long)i);
		t_add(wl, i, plate, (int)(i % 3), i % 5 == 0 ? 2 : 0, (int)(i % 2),
		    (int64_t)(i * 7), T0 + (int64_t)i);
	}
	for (uint64_t i = 2; i <= 30; i += 4)
		assert_int_equal(waitlist_cancel(wl, t_idstr(i), T0 + 40, &e,
		    &changed), PK_OK);
	assert_int_equal(waitlist_assign(wl, t_idstr(5), t_idstr(500), T0 + 41),
	    PK_OK);
	waitlist_expire_due(wl, T0 + 60, NULL, NULL);
	t_add(wl, 31, "S 31", 0, 0, 0, 100, T0 + 61);
	assert_int_equal(waitlist_cancel(wl, t_idstr(31), T0 + 61, &e, &changed),
	    PK_OK);
	t_dump(wl, &a);
	cp = t_clone(wl);
	t_dump(cp, &b);
	/* Outcomes come back in another heap order; compare by id. */
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		e = waitlist_get(cp, a.e[i].id);
		T_NONNULL(e);
		assert_string_equal(e->plate, a.e[i].plate);
		assert_int_equal(e->state, a.e[i].state);
		assert_int_equal(e->cls, a.e[i].cls);
		assert_true(e->needs == a.e[i].needs);
		assert_int_equal(e->gate, a.e[i].gate);
		assert_int_equal(e->seq, a.e[i].seq);
		assert_int_equal(e->queued_at, a.e[i].queued_at);
		assert_int_equal(e->expires_at, a.e[i].expires_at);
		assert_int_equal(e->outcome_at, a.e[i].outcome_at);
		assert_string_equal(e->ticket, a.e[i].ticket);
		assert_int_equal(waitlist_position(cp, e), a.pos[i]);
	}
	a.n = b.n = 0;
	t_dump_equal(&a, &b);
	assert_int_equal(waitlist_next_seq(cp), 32);
	/*
	 * A snapshot taken after the newest entries were forgotten carries
	 * next_seq; restoring it keeps the numbers unique.  It never lowers.
	 */
	waitlist_restore_seq(cp, 40);
	assert_int_equal(waitlist_next_seq(cp), 40);
	waitlist_restore_seq(cp, 10);
	assert_int_equal(waitlist_next_seq(cp), 40);
	assert_int_equal(t_add(cp, 41, "S 41", 0, 0, 0, 100, T0 + 70)->seq, 40);
	waitlist_free(cp);

	/* Restore applies facts: max_depth and max_timeout_s do not apply. */
	cp = t_new(1, 10, 86400);
	memset(&img, 0, sizeof(img));
	for (uint64_t i = 1; i <= 3; i++) {
		t_id(i, img.id);
		snprintf(img.plate, sizeof(img.plate), "W %llu", (unsigned long long)i);
		img.seq = i * 10;
		img.queued_at = T0;
		img.expires_at = T0 + 5000;
		assert_int_equal(waitlist_restore(cp, &img), PK_OK);
	}
	assert_int_equal(waitlist_waiting_count(cp), 3);
	assert_int_equal(waitlist_next_seq(cp), 31);
	assert_int_equal(waitlist_position(cp, waitlist_get(cp, t_idstr(3))), 3);

	/* Malformed images are refused and change nothing. */
	t_dump(cp, &a);
	struct waitlist_entry bad[14];
	for (size_t i = 0; i < 14; i++) {
		bad[i] = img;
		t_id(100 + i, bad[i].id);
		snprintf(bad[i].plate, sizeof(bad[i].plate), "N %zu", i);
		bad[i].seq = 100 + i;
	}
	t_id(2, bad[0].id);				/* id in use */
	strcpy(bad[1].plate, "W 1");			/* plate waiting */
	bad[2].seq = 25;				/* out of order */
	bad[3].seq = 0;
	bad[4].state = (enum waitlist_state)7;
	bad[5].outcome_at = T0 + 1;			/* waiting with an outcome */
	t_id(9, bad[6].ticket);				/* waiting with a ticket */
	bad[7].state = WAITLIST_ASSIGNED;		/* assigned, no ticket */
	bad[7].outcome_at = T0 + 1;
	bad[8].state = WAITLIST_CANCELLED;		/* cancelled with a ticket */
	bad[8].outcome_at = T0 + 1;
	t_id(9, bad[8].ticket);
	bad[9].expires_at = bad[9].queued_at;		/* no time to wait */
	bad[10].state = WAITLIST_EXPIRED;
	bad[10].outcome_at = -1;
	bad[11].queued_at = -1;
	bad[12].cls = -1;
	bad[13].plate[0] = '\0';
	for (size_t i = 0; i < 14; i++) {
		assert_int_equal(waitlist_restore(cp, &bad[i]), PK_E_INVALID_PARAMS);
		t_dump(cp, &b);
		t_dump_equal(&a, &b);
	}
	assert_int_equal(waitlist_restore(cp, NULL), PK_E_INVALID_PARAMS);
	/* An outcome may reuse a waiting plate, and may have any seq. */
	bad[1].state = WAITLIST_ASSIGNED;
	bad[1].outcome_at = T0 + 1;
	t_id(77, bad[1].ticket);
	assert_int_equal(waitlist_restore(cp, &bad[1]), PK_OK);
	bad[2].state = WAITLIST_EXPIRED;
	bad[2].outcome_at = bad[2].expires_at;
	assert_int_equal(waitlist_restore(cp, &bad[2]), PK_OK);
	assert_int_equal(waitlist_outcome_count(cp), 2);
	assert_int_equal(waitlist_waiting_count(cp), 3);
	t_invariants(cp);
	waitlist_free(cp);
	waitlist_free(wl);
}

static void
test_iteration(void **state)
{
	waitlist *wl = t_new(200, 1800, 86400);
	struct waitlist_iter it = { 0 };
	const struct waitlist_entry *e;
	uint64_t want[] = { 1, 3, 4, 6 }, prev = 0;
	size_t i = 0, outcomes = 0;
	int changed;

	(void)state;
	assert_null(waitlist_iter_next(wl, &it));
	assert_null(waitlist_iter_next(wl, &it));
	for (uint64_t k = 1; k <= 6; k++) {
		char plate[PLATE_BUFSZ];
		snprintf(plate, sizeof(plate), "IT %llu", (unsigned long long)k);
		/* Alternating queues, so arrival order is not queue order. */
		t_add(wl, k, plate, (int)(k % 2), 0, 0, 100, T0);
	}
	assert_int_equal(waitlist_cancel(wl, t_idstr(2), T0, &e, &changed), PK_OK);
	assert_int_equal(waitlist_cancel(wl, t_idstr(5), T0, &e, &changed), PK_OK);
	memset(&it, 0, sizeof(it));
	while ((e = waitlist_iter_next(wl, &it)) != NULL) {
		if (e->state == WAITLIST_WAITING) {
			assert_int_equal(outcomes, 0);
			assert_true(i < 4);
			assert_int_equal(e->seq, want[i]);
			assert_true(e->seq > prev);
			prev = e->seq;
			i++;
		} else {
			outcomes++;
		}
	}
	assert_int_equal(i, 4);
	assert_int_equal(outcomes, 2);
	assert_null(waitlist_iter_next(wl, &it));
	waitlist_free(wl);
}

/* ---- allocation failures ---- */

/*
 * Runs op with the k-th allocation failing, for k = 0, 1, ... until it
 * makes no allocation that fails.  Every failed run must answer
 * PK_E_INTERNAL and leave the observable state as it was; the last run
 * must succeed.  Returns how many allocations could be made to fail.
 */
typedef pk_err (*t_op)(waitlist *wl, void *arg);

static int
t_faulty(waitlist *wl, t_op op, void *arg)
{
	struct t_dump before, after;
	int k;

	for (k = 0;; k++) {
		pk_err e;

		t_dump(wl, &before);
		fail_fired = 0;
		fail_at = k;
		e = op(wl, arg);
		fail_at = -1;
		if (!fail_fired || e == PK_OK) {
			assert_int_equal(e, PK_OK);
			t_invariants(wl);
			return k;
		}
		assert_int_equal(e, PK_E_INTERNAL);
		t_dump(wl, &after);
		t_dump_equal(&before, &after);
	}
}

struct t_add_arg {
	uint64_t n;
	int cls;
	uint64_t needs;
	int64_t now;
};

static pk_err
op_add(waitlist *wl, void *arg)
{
	struct t_add_arg *a = arg;
	char id[UUID_BUFSZ], plate[PLATE_BUFSZ];
	struct waitlist_add_in in = { id, plate, a->cls, a->needs, 0, 100 };
	const struct waitlist_entry *e;
	int existing;
	pk_err err;

	t_id(a->n, id);
	snprintf(plate, sizeof(plate), "F %llu", (unsigned long long)a->n);
	err = waitlist_add(wl, &in, a->now, &e, &existing);
	if (err != PK_OK)
		assert_null(e);
	return err;
}

static pk_err
op_restore(waitlist *wl, void *arg)
{
	return waitlist_restore(wl, arg);
}

static void
test_alloc_failures(void **state)
{
	struct waitlist_limits lim = { 500, 1800, 1000 };
	struct waitlist_entry img;
	waitlist *wl;
	int failed_adds = 0, changed;
	unsigned long calls;
	const struct waitlist_entry *e;

	(void)state;
	/* waitlist_new: every failure gives NULL and leaks nothing (ASan). */
	for (int k = 0;; k++) {
		fail_fired = 0;
		fail_at = k;
		wl = waitlist_new(&lim);
		fail_at = -1;
		if (!fail_fired) {
			T_NONNULL(wl);
			break;
		}
		assert_null(wl);
	}

	/*
	 * 120 adds over few and many queues: each one through every failure
	 * it can meet, so the growth of every array, dict and the Fenwick
	 * rebuilds are all reached.
	 */
	for (uint64_t n = 1; n <= 120; n++) {
		struct t_add_arg a = { n, (int)(n % 4), n % 7 == 0 ? n : 0,
		    T0 + (int64_t)n };
		failed_adds += t_faulty(wl, op_add, &a);
		/* Churn: outcomes and empty queues between the adds. */
		if (n % 3 == 0) {
			calls = alloc_calls;
			assert_int_equal(waitlist_cancel(wl, t_idstr(n - 1), T0 +
			    (int64_t)n, &e, &changed), PK_OK);
			assert_int_equal(waitlist_assign(wl, t_idstr(n - 2),
			    t_idstr(1000 + n), T0 + (int64_t)n), PK_OK);
			/* Transitions never allocate. */
			assert_int_equal(alloc_calls, calls);
		}
	}
	assert_true(failed_adds > 120);
	calls = alloc_calls;
	assert_true(waitlist_expire_due(wl, T0 + 150, NULL, NULL) > 0);
	assert_int_equal(waitlist_expire(wl, t_idstr(120)), PK_OK);
	assert_int_equal(alloc_calls, calls);
	t_invariants(wl);

	/* Restores of both kinds. */
	memset(&img, 0, sizeof(img));
	for (uint64_t n = 200; n < 260; n++) {
		t_id(n, img.id);
		snprintf(img.plate, sizeof(img.plate), "G %llu", (unsigned long long)n);
		img.state = n % 2 ? WAITLIST_WAITING : WAITLIST_CANCELLED;
		img.cls = (int)(n % 5);
		img.seq = n;
		img.queued_at = T0 + 200;
		img.expires_at = T0 + 400;
		img.outcome_at = n % 2 ? 0 : T0 + 300;
		t_faulty(wl, op_restore, &img);
	}

	/* Pruning gives memory back; a failed shrink is harmless. */
	for (int k = 0; k < 3; k++) {
		fail_fired = 0;
		fail_at = k;
		assert_true(waitlist_prune(wl, T0 + 3000) > 0 || k > 0);
		fail_at = -1;
		t_invariants(wl);
		waitlist_expire_due(wl, T0 + 3000, NULL, NULL);
	}
	assert_int_equal(waitlist_prune(wl, T0 + 3000), 0);
	assert_int_equal(waitlist_waiting_count(wl), 0);
	assert_int_equal(waitlist_outcome_count(wl), 0);
	assert_true(wl->outcomes.cap <= 4 * HEAP_MIN);
	waitlist_free(wl);
}

/* ---- the randomized comparison with a model ---- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	return tu_rng(&rng_state);
}

static uint32_t
rnd(uint32_t n)
{
	return (uint32_t)(rng() % n);
}

/*
 * The model: the entries the waitlist should still know (waiting and kept
 * outcomes) in an array in arrival order, and the rules of capacity.md
 * applied to it by linear scans.  Forgotten entries leave the array; their
 * ids are kept in a ring to be asked about (and reused) later.
 */
#define M_CLASSES 4
#define M_FORGOT 64

static const uint64_t m_needs_set[] = { 0, 1, 2, 5 };

struct model {
	struct waitlist_entry *a;
	size_t n, cap;
	struct waitlist_limits lim;
	uint64_t next_seq;
	char forgot[M_FORGOT][UUID_BUFSZ];
	size_t nforgot;
};

struct m_run {
	uint64_t seed;
	int ops;
	size_t depth;
	uint32_t plates;	/* distinct plates arriving */
	uint32_t timeout;	/* largest max_timeout_s */
	uint32_t step;		/* typical time step */
	const uint8_t *mix;	/* cumulative percentages of the operations */
};

/*
 * Operation mixes, cumulative: add, match, cancel, replay, expire_due,
 * prune, limits, snapshot, iteration.  The churning one keeps queues
 * short; the filling one lets them grow to the depth limit.
 */
static const uint8_t mix_churn[] = { 32, 52, 64, 69, 84, 93, 96, 98, 100 };
static const uint8_t mix_fill[] = { 45, 57, 61, 64, 79, 91, 93, 95, 100 };

static struct waitlist_entry *
m_find(struct model *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->a[i].id, id) == 0)
			return &m->a[i];
	return NULL;
}

static struct waitlist_entry *
m_waiting_plate(struct model *m, const char *plate)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->a[i].state == WAITLIST_WAITING &&
		    strcmp(m->a[i].plate, plate) == 0)
			return &m->a[i];
	return NULL;
}

static size_t
m_count(const struct model *m, int waiting)
{
	size_t c = 0;

	for (size_t i = 0; i < m->n; i++)
		if ((m->a[i].state == WAITLIST_WAITING) == waiting)
			c++;
	return c;
}

static int
m_needs_index(uint64_t needs)
{
	for (int i = 0; i < 4; i++)
		if (m_needs_set[i] == needs)
			return i;
	fail_msg("needs %llx not from the set", (unsigned long long)needs);
	return -1;
}

/* Distinct (class, needs) pairs among the waiting entries. */
static size_t
m_queues(const struct model *m)
{
	int seen[M_CLASSES][4] = { { 0 } };
	size_t c = 0;

	for (size_t i = 0; i < m->n; i++) {
		const struct waitlist_entry *x = &m->a[i];
		int *s;
		if (x->state != WAITLIST_WAITING)
			continue;
		s = &seen[x->cls][m_needs_index(x->needs)];
		c += (size_t)!*s;
		*s = 1;
	}
	return c;
}

/* Which (class, needs) pairs a freed spot fits: bit cls * 4 + needs index. */
struct m_fits {
	uint32_t mask;
	int ncalls;
	int cls[64];
	uint64_t needs[64];
	int gate[64];
};

static int
m_fits_fn(void *ud, int cls, uint64_t needs, int gate)
{
	struct m_fits *f = ud;

	assert_true(f->ncalls < 64);
	f->cls[f->ncalls] = cls;
	f->needs[f->ncalls] = needs;
	f->gate[f->ncalls] = gate;
	f->ncalls++;
	return (f->mask >> (cls * 4 + m_needs_index(needs))) & 1;
}

/* The oldest waiting entry whose pair fits, by a scan of everything. */
static struct waitlist_entry *
m_match(struct model *m, uint32_t mask)
{
	for (size_t i = 0; i < m->n; i++) {
		struct waitlist_entry *x = &m->a[i];
		if (x->state == WAITLIST_WAITING &&
		    ((mask >> (x->cls * 4 + m_needs_index(x->needs))) & 1))
			return x;	/* the array is in arrival order */
	}
	return NULL;
}

static void
m_settle(struct waitlist_entry *x, enum waitlist_state st, int64_t at)
{
	x->state = st;
	x->outcome_at = at;
}

static int
m_next_due(const struct model *m, int64_t *at, int expiry_only)
{
	int have = 0;

	for (size_t i = 0; i < m->n; i++) {
		const struct waitlist_entry *x = &m->a[i];
		int64_t t;
		if (x->state == WAITLIST_WAITING)
			t = x->expires_at;
		else if (expiry_only)
			continue;
		else
			t = x->outcome_at + m->lim.keep_outcomes_s + 1;
		if (!have || t < *at)
			*at = t;
		have = 1;
	}
	return have ? 0 : -1;
}

/* An id to ask about: usually a live one, sometimes forgotten or never made. */
static void
m_some_id(struct model *m, char id[UUID_BUFSZ])
{
	uint32_t r = rnd(8);

	if (r == 0 && m->nforgot > 0)
		memcpy(id, m->forgot[rnd((uint32_t)(m->nforgot < M_FORGOT ?
		    m->nforgot : M_FORGOT))], UUID_BUFSZ);
	else if (r == 1 || m->n == 0)
		t_id(0x2000000000ULL + rnd(1000), id);
	else
		memcpy(id, m->a[rnd((uint32_t)m->n)].id, UUID_BUFSZ);
}

/* How often each path was compared: the runs must reach all of them. */
static unsigned long seen_full, seen_existing, seen_dup_id, seen_added;
static unsigned long seen_reused_id, seen_match_hit, seen_match_skip;
static unsigned long seen_match_none, seen_expired, seen_forgotten;
static unsigned long seen_cancel_noop, seen_cancelled, seen_assigned;
static unsigned long seen_restored, seen_not_found;
static size_t seen_max_waiting;

struct m_expired {
	size_t n;
	uint64_t seq[1024];
	int64_t at[1024];
};

static void
m_on_expired(void *ud, const struct waitlist_entry *e)
{
	struct m_expired *x = ud;

	assert_true(x->n < 1024);
	x->seq[x->n] = e->seq;
	x->at[x->n] = e->outcome_at;
	x->n++;
}

static void
m_check(const waitlist *wl, struct model *m, const struct m_run *run, int op)
{
	int64_t t1 = 0, t2 = 0;
	size_t ahead = 0;
	int r1, r2;

	assert_int_equal(waitlist_waiting_count(wl), m_count(m, 1));
	assert_int_equal(waitlist_outcome_count(wl), m_count(m, 0));
	assert_int_equal(waitlist_queue_count(wl), m_queues(m));
	if (waitlist_waiting_count(wl) > seen_max_waiting)
		seen_max_waiting = waitlist_waiting_count(wl);
	r1 = waitlist_next_due(wl, &t1);
	r2 = m_next_due(m, &t2, 0);
	if (r1 != r2 || (r1 == 0 && t1 != t2))
		fail_msg("seed %llu op %d: next_due %d %lld, model %d %lld",
		    (unsigned long long)run->seed, op, r1, (long long)t1, r2,
		    (long long)t2);
	r1 = waitlist_next_expiry(wl, &t1);
	r2 = m_next_due(m, &t2, 1);
	assert_int_equal(r1, r2);
	if (r1 == 0)
		assert_int_equal(t1, t2);
	{
		/* The entry that expires first: by (expires_at, seq). */
		const struct waitlist_entry *nx = waitlist_next_expiring(wl);
		const struct waitlist_entry *best = NULL;

		for (size_t i = 0; i < m->n; i++) {
			const struct waitlist_entry *x = &m->a[i];

			if (x->state == WAITLIST_WAITING && (best == NULL ||
			    x->expires_at < best->expires_at ||
			    (x->expires_at == best->expires_at && x->seq < best->seq)))
				best = x;
		}
		assert_int_equal(nx == NULL, best == NULL);
		if (nx != NULL)
			assert_string_equal(nx->id, best->id);
	}
	assert_true(waitlist_next_seq(wl) >= m->next_seq);
	for (size_t i = 0; i < m->n; i++) {
		const struct waitlist_entry *x = &m->a[i];
		const struct waitlist_entry *e = waitlist_get(wl, x->id);
		size_t want_pos = 0;

		if (e == NULL) {
			fail_msg("seed %llu op %d: %s (seq %llu, %s) missing",
			    (unsigned long long)run->seed, op, x->id,
			    (unsigned long long)x->seq, waitlist_state_name(x->state));
			abort();
		}
		if (e->state != x->state || e->seq != x->seq ||
		    e->outcome_at != x->outcome_at)
			fail_msg("seed %llu op %d: seq %llu is %s at %lld, model "
			    "%s at %lld", (unsigned long long)run->seed, op,
			    (unsigned long long)e->seq, waitlist_state_name(e->state),
			    (long long)e->outcome_at, waitlist_state_name(x->state),
			    (long long)x->outcome_at);
		assert_string_equal(e->plate, x->plate);
		assert_int_equal(e->cls, x->cls);
		assert_true(e->needs == x->needs);
		assert_int_equal(e->gate, x->gate);
		assert_int_equal(e->queued_at, x->queued_at);
		assert_int_equal(e->expires_at, x->expires_at);
		assert_string_equal(e->ticket, x->ticket);
		/* The array is in arrival order: count who waits ahead. */
		if (x->state == WAITLIST_WAITING) {
			want_pos = ++ahead;
			assert_ptr_equal(waitlist_waiting_plate(wl, x->plate), e);
		}
		if (waitlist_position(wl, e) != want_pos)
			fail_msg("seed %llu op %d: seq %llu position %zu, model %zu",
			    (unsigned long long)run->seed, op,
			    (unsigned long long)e->seq, waitlist_position(wl, e),
			    want_pos);
	}
	for (int k = 0; k < 4; k++) {
		char plate[PLATE_BUFSZ];
		const struct waitlist_entry *e;
		struct waitlist_entry *x;

		snprintf(plate, sizeof(plate), "M-%u", rnd(run->plates));
		e = waitlist_waiting_plate(wl, plate);
		x = m_waiting_plate(m, plate);
		if (x == NULL)
			assert_null(e);
		else
			assert_true(e != NULL && e->seq == x->seq);
	}
	t_invariants(wl);
}

static void
m_op_add(waitlist *wl, struct model *m, const struct m_run *run, int64_t now,
    uint64_t *next_id, int op)
{
	char id[UUID_BUFSZ], plate[PLATE_BUFSZ];
	struct waitlist_add_in in;
	const struct waitlist_entry *e;
	struct waitlist_entry *x;
	int existing, want_existing = 0, reused = 0;
	uint32_t r = rnd(20);
	pk_err err, want;

	if (r == 0 && m->n > 0) {
		memcpy(id, m->a[rnd((uint32_t)m->n)].id, UUID_BUFSZ);
	} else if (r == 1 && m->nforgot > 0) {
		memcpy(id, m->forgot[rnd((uint32_t)(m->nforgot < M_FORGOT ?
		    m->nforgot : M_FORGOT))], UUID_BUFSZ);
		reused = 1;
	} else {
		t_id((*next_id)++, id);
	}
	snprintf(plate, sizeof(plate), "M-%u", rnd(run->plates));
	in = (struct waitlist_add_in){ id, plate, (int)rnd(M_CLASSES),
	    m_needs_set[rnd(rnd(2) ? 4 : 2)], (int)rnd(3),
	    1 + (int64_t)rnd((uint32_t)m->lim.max_timeout_s) };
	err = waitlist_add(wl, &in, now, &e, &existing);
	if ((x = m_waiting_plate(m, plate)) != NULL) {
		want = PK_OK;
		want_existing = 1;
		seen_existing++;
	} else if (m_count(m, 1) >= m->lim.max_depth) {
		want = PK_E_QUEUE_FULL;
		seen_full++;
	} else if (m_find(m, id) != NULL) {
		want = PK_E_INVALID_PARAMS;
		seen_dup_id++;
	} else {
		want = PK_OK;
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 64;
			m->a = realloc(m->a, m->cap * sizeof(*m->a));
			T_NONNULL(m->a);
		}
		x = &m->a[m->n++];
		memset(x, 0, sizeof(*x));
		memcpy(x->id, id, UUID_BUFSZ);
		memcpy(x->plate, plate, PLATE_BUFSZ);
		x->state = WAITLIST_WAITING;
		x->cls = in.cls;
		x->needs = in.needs;
		x->gate = in.gate;
		x->seq = m->next_seq++;
		x->queued_at = now;
		x->expires_at = now + in.timeout_s;
		seen_added++;
		seen_reused_id += (unsigned long)reused;
	}
	if (err != want)
		fail_msg("seed %llu op %d: add %s: %s, model %s",
		    (unsigned long long)run->seed, op, plate, pk_err_reason(err),
		    pk_err_reason(want));
	if (want != PK_OK) {
		assert_null(e);
		return;
	}
	T_NONNULL(e);
	T_NONNULL(x);
	assert_int_equal(e->seq, x->seq);
	assert_int_equal(existing, want_existing);
}

static void
m_op_match(waitlist *wl, struct model *m, const struct m_run *run, int64_t now,
    uint64_t *next_id, int op)
{
	struct m_fits f;
	struct waitlist_entry *x;
	const struct waitlist_entry *e;
	uint32_t mask = (uint32_t)rng();

	/* Sparse masks too, so that nothing fits now and then. */
	if (rnd(3) == 0)
		mask &= (uint32_t)rng();
	if (rnd(4) == 0)
		mask &= (uint32_t)rng() & (uint32_t)rng();
	memset(&f, 0, sizeof(f));
	f.mask = mask;
	e = waitlist_match(wl, m_fits_fn, &f);
	x = m_match(m, mask);
	if ((e == NULL) != (x == NULL) || (e != NULL && e->seq != x->seq))
		fail_msg("seed %llu op %d: match seq %llu, model %llu",
		    (unsigned long long)run->seed, op,
		    e ? (unsigned long long)e->seq : 0ULL,
		    x ? (unsigned long long)x->seq : 0ULL);
	/*
	 * Each call asked about a distinct pair, with the gate of its oldest
	 * waiting entry: at most one call per queue.
	 */
	assert_true((size_t)f.ncalls <= m_queues(m));
	for (int c = 0; c < f.ncalls; c++) {
		struct waitlist_entry *h = NULL;
		for (int d = 0; d < c; d++)
			assert_false(f.cls[d] == f.cls[c] && f.needs[d] == f.needs[c]);
		for (size_t i = 0; i < m->n && h == NULL; i++)
			if (m->a[i].state == WAITLIST_WAITING &&
			    m->a[i].cls == f.cls[c] && m->a[i].needs == f.needs[c])
				h = &m->a[i];
		T_NONNULL(h);
		assert_int_equal(f.gate[c], h->gate);
	}
	if (x == NULL) {
		if (m_count(m, 1) > 0)
			seen_match_none++;
		return;
	}
	T_NONNULL(e);
	seen_match_hit++;
	if (f.ncalls > 1)
		seen_match_skip++;
	if (rnd(10) < 7) {
		char tk[UUID_BUFSZ];
		/* Outcome times out of order now and then. */
		int64_t at = now - (rnd(4) == 0 ? rnd(100) : 0);

		t_id(0x1000000000ULL + (*next_id)++, tk);
		assert_int_equal(waitlist_assign(wl, e->id, tk, at), PK_OK);
		m_settle(x, WAITLIST_ASSIGNED, at);
		memcpy(x->ticket, tk, UUID_BUFSZ);
		seen_assigned++;
	}
}

static void
m_op_cancel(waitlist *wl, struct model *m, int64_t now)
{
	char id[UUID_BUFSZ];
	const struct waitlist_entry *e;
	struct waitlist_entry *x;
	int changed;
	int64_t at = now - (rnd(4) == 0 ? rnd(100) : 0);
	pk_err err;

	m_some_id(m, id);
	/* Half the time aim at somebody waiting, if anybody is. */
	if (rnd(2) && m_count(m, 1) > 0) {
		size_t i;
		do
			i = rnd((uint32_t)m->n);
		while (m->a[i].state != WAITLIST_WAITING);
		memcpy(id, m->a[i].id, UUID_BUFSZ);
	}
	err = waitlist_cancel(wl, id, at, &e, &changed);
	x = m_find(m, id);
	if (x == NULL) {
		assert_int_equal(err, PK_E_NOT_FOUND);
		assert_null(e);
		seen_not_found++;
		return;
	}
	assert_int_equal(err, PK_OK);
	T_NONNULL(e);
	assert_int_equal(e->seq, x->seq);
	assert_int_equal(changed, x->state == WAITLIST_WAITING);
	if (x->state == WAITLIST_WAITING) {
		m_settle(x, WAITLIST_CANCELLED, at);
		seen_cancelled++;
	} else {
		seen_cancel_noop++;
	}
	assert_int_equal(e->state, x->state);
	assert_int_equal(e->outcome_at, x->outcome_at);
}

/* Assign or expire an id directly, as a replay of a journal would. */
static void
m_op_replay(waitlist *wl, struct model *m, int64_t now, uint64_t *next_id)
{
	char id[UUID_BUFSZ];
	struct waitlist_entry *x;
	pk_err err, want;

	m_some_id(m, id);
	x = m_find(m, id);
	want = x == NULL ? PK_E_NOT_FOUND :
	    x->state != WAITLIST_WAITING ? PK_E_INVALID_PARAMS : PK_OK;
	if (rnd(2)) {
		char tk[UUID_BUFSZ];
		t_id(0x3000000000ULL + (*next_id)++, tk);
		err = waitlist_assign(wl, id, tk, now);
		if (want == PK_OK) {
			m_settle(x, WAITLIST_ASSIGNED, now);
			memcpy(x->ticket, tk, UUID_BUFSZ);
		}
	} else {
		err = waitlist_expire(wl, id);
		if (want == PK_OK)
			m_settle(x, WAITLIST_EXPIRED, x->expires_at);
	}
	assert_int_equal(err, want);
}

/* The timer: what is due expires, in (expires_at, seq) order. */
static void
m_op_expire_due(waitlist *wl, struct model *m, int64_t now)
{
	static struct m_expired got, want;
	size_t n;

	memset(&got, 0, sizeof(got));
	memset(&want, 0, sizeof(want));
	n = waitlist_expire_due(wl, now, m_on_expired, &got);
	assert_int_equal(n, got.n);
	for (;;) {
		struct waitlist_entry *best = NULL;
		for (size_t i = 0; i < m->n; i++) {
			struct waitlist_entry *x = &m->a[i];
			if (x->state != WAITLIST_WAITING || x->expires_at > now)
				continue;
			if (best == NULL || x->expires_at < best->expires_at)
				best = x;	/* ties: the earlier seq is first */
		}
		if (best == NULL)
			break;
		m_settle(best, WAITLIST_EXPIRED, best->expires_at);
		assert_true(want.n < 1024);
		want.seq[want.n] = best->seq;
		want.at[want.n] = best->expires_at;
		want.n++;
	}
	assert_int_equal(got.n, want.n);
	assert_memory_equal(got.seq, want.seq, got.n * sizeof(got.seq[0]));
	assert_memory_equal(got.at, want.at, got.n * sizeof(got.at[0]));
	seen_expired += got.n;
}

/* Forgetting: outcomes older than keep leave; their ids are gone. */
static void
m_op_prune(waitlist *wl, struct model *m, int64_t now)
{
	size_t n = waitlist_prune(wl, now), want = 0, j = 0;

	for (size_t i = 0; i < m->n; i++) {
		struct waitlist_entry *x = &m->a[i];
		if (x->state != WAITLIST_WAITING &&
		    x->outcome_at + m->lim.keep_outcomes_s < now) {
			assert_null(waitlist_get(wl, x->id));
			memcpy(m->forgot[m->nforgot++ % M_FORGOT], x->id, UUID_BUFSZ);
			want++;
			continue;
		}
		m->a[j++] = *x;
	}
	m->n = j;
	assert_int_equal(n, want);
	seen_forgotten += n;
}

static void
run_model(const struct m_run *run)
{
	struct model m;
	waitlist *wl;
	int64_t now = T0;
	uint64_t next_id = 1;

	rng_state = run->seed * 0x9E3779B97F4A7C15ULL + 1;
	memset(&m, 0, sizeof(m));
	m.lim.max_depth = run->depth;
	m.lim.max_timeout_s = 1 + rnd(run->timeout);
	m.lim.keep_outcomes_s = rnd(3) == 0 ? 0 : rnd(600);
	m.next_seq = 1;
	wl = waitlist_new(&m.lim);
	T_NONNULL(wl);

	for (int op = 0; op < run->ops; op++) {
		uint32_t r = rnd(100);

		if (rnd(4) == 0)
			now += rnd(rnd(10) == 0 ? 50 * run->step : run->step);
		if (r < run->mix[0]) {
			m_op_add(wl, &m, run, now, &next_id, op);
		} else if (r < run->mix[1]) {
			m_op_match(wl, &m, run, now, &next_id, op);
		} else if (r < run->mix[2]) {
			m_op_cancel(wl, &m, now);
		} else if (r < run->mix[3]) {
			m_op_replay(wl, &m, now, &next_id);
		} else if (r < run->mix[4]) {
			m_op_expire_due(wl, &m, now);
		} else if (r < run->mix[5]) {
			m_op_prune(wl, &m, now);
		} else if (r < run->mix[6]) {
			/* SIGHUP: new limits */
			struct waitlist_limits lim = m.lim;
			if (rnd(2))
				lim.max_depth = rnd((uint32_t)run->depth * 2 + 1);
			if (rnd(2))
				lim.keep_outcomes_s = rnd(600);
			if (rnd(2))
				lim.max_timeout_s = 1 + rnd(run->timeout);
			assert_int_equal(waitlist_set_limits(wl, &lim), PK_OK);
			m.lim = lim;
		} else if (r < run->mix[7]) {
			/* a snapshot written and loaded: carry on with the copy */
			waitlist *cp = t_clone(wl);
			waitlist_free(wl);
			wl = cp;
			seen_restored++;
		} else {
			/* the snapshot iteration: waiting first, positions 1..n */
			size_t p = 0, outcomes = 0;
			struct waitlist_iter it = { 0 };
			const struct waitlist_entry *e;
			while ((e = waitlist_iter_next(wl, &it)) != NULL) {
				if (e->state == WAITLIST_WAITING) {
					assert_int_equal(outcomes, 0);
					assert_int_equal(waitlist_position(wl, e), ++p);
				} else {
					outcomes++;
				}
			}
			assert_int_equal(p, m_count(&m, 1));
			assert_int_equal(outcomes, m_count(&m, 0));
		}
		m_check(wl, &m, run, op);
	}
	waitlist_free(wl);
	free(m.a);
}

static void
check_model_coverage(void)
{
	print_message("compared: %lu added (%lu with a forgotten id), %lu "
	    "existing, %lu full, %lu duplicate ids; matches: %lu hits (%lu past "
	    "a head that did not fit), %lu none; %lu assigned, %lu cancelled, "
	    "%lu cancel no-ops, %lu not found, %lu expired, %lu forgotten, %lu "
	    "restores; at most %zu waiting\n", seen_added, seen_reused_id,
	    seen_existing, seen_full, seen_dup_id, seen_match_hit,
	    seen_match_skip, seen_match_none, seen_assigned, seen_cancelled,
	    seen_cancel_noop, seen_not_found, seen_expired, seen_forgotten,
	    seen_restored, seen_max_waiting);
	assert_true(seen_added > 1000);
	assert_true(seen_reused_id > 10);
	assert_true(seen_existing > 100);
	assert_true(seen_full > 100);
	assert_true(seen_dup_id > 10);
	assert_true(seen_match_hit > 1000);
	assert_true(seen_match_skip > 200);
	assert_true(seen_match_none > 100);
	assert_true(seen_assigned > 500);
	assert_true(seen_cancelled > 100);
	assert_true(seen_cancel_noop > 50);
	assert_true(seen_not_found > 50);
	assert_true(seen_expired > 100);
	assert_true(seen_forgotten > 100);
	assert_true(seen_restored > 10);
	seen_added = seen_reused_id = seen_existing = seen_full = 0;
	seen_dup_id = seen_match_hit = seen_match_skip = seen_match_none = 0;
	seen_assigned = seen_cancelled = seen_cancel_noop = seen_not_found = 0;
	seen_expired = seen_forgotten = seen_restored = 0;
	seen_max_waiting = 0;
}

/* Small depths, few plates: full queues, plates coming back, much churn. */
static void
test_model_small(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 12; seed++) {
		struct m_run run = { seed, 3000, 4 + seed * 3, 48, 400, 20,
		    mix_churn };
		run_model(&run);
	}
	check_model_coverage();
}

/* Deep queues: long FIFOs, many Fenwick rebuilds, snapshots of hundreds. */
static void
test_model_deep(void **state)
{
	(void)state;
	for (uint64_t seed = 101; seed <= 104; seed++) {
		struct m_run run = { seed, 6000, 300, 2000, 20000, 4, mix_fill };
		run_model(&run);
	}
	/* The runs must have filled up, past several Fenwick rebuilds. */
	assert_true(seen_max_waiting >= 300);
	check_model_coverage();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_limits),
		cmocka_unit_test(test_add_fields_and_lookup),
		cmocka_unit_test(test_add_invalid),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_same_plate_twice),
		cmocka_unit_test(test_match_order),
		cmocka_unit_test(test_match_asks_heads_only),
		cmocka_unit_test(test_position),
		cmocka_unit_test(test_assign),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_expiry_boundary_and_order),
		cmocka_unit_test(test_expire_one),
		cmocka_unit_test(test_outcome_retention),
		cmocka_unit_test(test_snapshot_restore),
		cmocka_unit_test(test_iteration),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_model_small),
		cmocka_unit_test(test_model_deep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
