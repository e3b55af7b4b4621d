/* test_capacity.c - unit tests of the waitlist and the reservations in the garage (lib/capacity.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capacity.h"
#include "record.h"
#include "testutil.h"

/*
 * The garage of these tests.  From north (0,0): A-01 10 .. A-04 40
 * (regular; carry ev), B-01 and B-02 (oversized) at 20 and
 * 30, one row up.  Cars fit regular; vans oversized; a coach needs two
 * adjacent regular spots and fits nothing else.
 */
#define FAC \
    "{ 'name': 'Cap', 'timezone': 'UTC', 'currency': 'EUR', 'level_distance': 40," \
    "  'gates': [ { 'id': 'north', 'role': 'entry', 'level': 0, 'x': 0, 'y': 0 }," \
    "             { 'id': 'south', 'role': 'exit', 'level': 0, 'x': 100, 'y': 0 } ]," \
    "  'rows': [ { 'level': 0, 'zone': 'A', 'type': 'regular', 'count': 2, 'x': 10, 'y': 0, 'dx': 10, 'dy': 0 }," \
    "            { 'level': 0, 'zone': 'A', 'type': 'regular', 'count': 2, 'x': 30, 'y': 0, 'dx': 10, 'dy': 0, 'first': 3, 'tags': ['ev'] }," \
    "            { 'level': 0, 'zone': 'B', 'type': 'oversized', 'count': 2, 'x': 10, 'y': 10, 'dx': 10, 'dy': 0 } ] }"
#define VEH \
    "{ 'car': { 'fits': ['regular'] }, 'van': { 'fits': ['oversized'] }," \
    "  'coach': { 'fits': [], 'contiguous': { 'type': 'regular', 'count': 2 } } }"

#define T0 TU_T0
#define HOLD_BEFORE 100
#define NO_SHOW_AFTER 50

struct fx {
	garage *g;
	struct changes ch;
	unsigned id;
	char kinds[512];	/* the kinds of the last call's changes */
};

static const char *const kind_names[] = {
	[CHG_ENTRY] = "entry", [CHG_EXIT] = "exit", [CHG_PAY] = "pay",
	[CHG_LOST] = "lost", [CHG_SPOT] = "spot", [CHG_STRATEGY] = "strategy",
	[CHG_TARIFF] = "tariff", [CHG_WAIT_QUEUED] = "queued",
	[CHG_WAIT_ASSIGNED] = "assigned", [CHG_WAIT_EXPIRED] = "expired",
	[CHG_WAIT_CANCELLED] = "wcancelled", [CHG_RESV_CREATED] = "created",
	[CHG_RESV_HELD] = "held", [CHG_RESV_OWED] = "owed", [CHG_RESV_USED] = "used",
	[CHG_RESV_NO_SHOW] = "no_show", [CHG_RESV_CANCELLED] = "rcancelled",
};

/* Every record of every call, for the replay at the end of a test. */
static struct lines {
	char **v;
	size_t n, cap;
} journal;
static int keep_journal;

static void
lines_add(struct lines *l, const char *s, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n] = malloc(len + 1);
	assert_non_null(l->v[l->n]);
	memcpy(l->v[l->n], s, len);
	l->v[l->n][len] = '\0';
	l->n++;
}

static void
lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Notes the kinds of the changes just made, records them, clears the list. */
static void
took(struct fx *f)
{
	struct jw w;
	char id[UUID_BUFSZ];

	f->kinds[0] = '\0';
	jw_init(&w);
	for (size_t i = 0; i < f->ch.n; i++) {
		const struct change *c = &f->ch.v[i];

		if (i > 0)
			strcat(f->kinds, " ");
		strcat(f->kinds, kind_names[c->kind]);
		if (keep_journal) {
			tu_id(900000 + (unsigned)journal.n, id);
			jw_reset(&w);
			record_write(f->g, c, id, &w);
			assert_false(jw_failed(&w));
			lines_add(&journal, w.buf, w.len);
		}
	}
	jw_release(&w);
	changes_clear(&f->ch);
}

static void
make_ids(void *ud, char out[UUID_BUFSZ])
{
	struct fx *f = ud;

	tu_id(++f->id, out);
}

static void
std_cfg(struct garage_capacity_cfg *c)
{
	garage_capacity_defaults(c);
	c->wl.max_depth = 3;
	c->wl.max_timeout_s = 600;
	c->wl.keep_outcomes_s = 86400 * 3;
	c->max_fraction_ppm = 500000;
	c->hold_before_s = HOLD_BEFORE;
	c->no_show_after_s = NO_SHOW_AFTER;
	c->max_hours = 10;
	c->horizon_days = 2;
	c->keep_finished_s = 86400 * 3;
}

static garage *
new_garage(void)
{
	return tu_garage_from(FAC, VEH, TU_MIN_TARIFF, ALLOC_FIRST, 100);
}

/* Forgetting is no change: tests of it keep no journal to replay. */
static void
fx_keep(struct fx *f, int64_t keep_outcomes_s, int64_t keep_finished_s)
{
	struct garage_capacity_cfg c;

	garage_capacity_config(f->g, &c);
	c.wl.keep_outcomes_s = keep_outcomes_s;
	c.keep_finished_s = keep_finished_s;
	assert_int_equal(garage_configure_capacity(f->g, &c), PK_OK);
	keep_journal = 0;
}

static void
fx_init(struct fx *f)
{
	struct garage_capacity_cfg c;

	memset(f, 0, sizeof(*f));
	f->g = new_garage();
	std_cfg(&c);
	assert_int_equal(garage_configure_capacity(f->g, &c), PK_OK);
	garage_set_ids(f->g, make_ids, f);
	changes_init(&f->ch);
	lines_free(&journal);
	keep_journal = 1;
}

/* The invariants hold after every test, and a replay of its records gives the same garage. */
static void replay_check(struct fx *f);

static void
fx_done(struct fx *f)
{
	char why[256];

	assert_int_equal(garage_check(f->g, why, sizeof(why)), 0);
	replay_check(f);
	changes_release(&f->ch);
	garage_free(f->g);
	lines_free(&journal);
}

static void
check_ok(struct fx *f)
{
	char why[256];

	if (garage_check(f->g, why, sizeof(why)) != 0)
		fail_msg("garage_check: %s", why);
}

static int
cls(struct fx *f, const char *name)
{
	return facility_class_lookup(garage_facility(f->g), name);
}

static pk_err
enter_at(struct fx *f, const char *plate, const char *class, int64_t at,
    struct ticket **t)
{
	struct garage_entry_in in;
	char id[UUID_BUFSZ];
	struct ticket *dummy;
	pk_err e;

	memset(&in, 0, sizeof(in));
	tu_id(++f->id, id);
	in.gate = 0;
	in.plate = plate;
	in.cls = cls(f, class);
	in.ticket_id = id;
	in.at = at;
	e = garage_entry(f->g, &in, t != NULL ? t : &dummy, &f->ch);
	took(f);
	return e;
}

static struct ticket *
enter(struct fx *f, const char *plate, const char *class, int64_t at)
{
	struct ticket *t = NULL;

	assert_int_equal(enter_at(f, plate, class, at, &t), PK_OK);
	return t;
}

static void
leave(struct fx *f, const char *plate, int64_t at)
{
	struct garage_quote q;
	struct ticket *t = garage_inside(f->g, plate);

	assert_non_null(t);
	assert_int_equal(garage_exit(f->g, t, 1, at, &q, &f->ch), PK_OK);
	took(f);
}

static pk_err
wait_for(struct fx *f, const char *plate, const char *class, uint64_t needs,
    int64_t timeout, int64_t at, struct garage_wait_out *o)
{
	struct garage_wait_in in;
	char id[UUID_BUFSZ], tid[UUID_BUFSZ];
	pk_err e;

	memset(&in, 0, sizeof(in));
	tu_id(++f->id, id);
	tu_id(++f->id, tid);
	in.gate = 0;
	in.plate = plate;
	in.cls = cls(f, class);
	in.needs = needs;
	in.timeout_s = timeout;
	in.id = id;
	in.ticket_id = tid;
	in.at = at;
	e = garage_wait(f->g, &in, o, &f->ch);
	took(f);
	return e;
}

static pk_err
reserve_at(struct fx *f, const char *plate, const char *class, int64_t from,
    int64_t to, int64_t now, const char *spot, struct resv **r,
    struct resbook_why *why)
{
	struct garage_reserve_in in;
	struct resbook_why w;
	char id[UUID_BUFSZ];
	pk_err e;

	memset(&in, 0, sizeof(in));
	tu_id(++f->id, id);
	in.id = id;
	in.plate = plate;
	in.cls = cls(f, class);
	in.spot = spot != NULL ? tu_spot(f->g, spot) : RESV_NO_SPOT;
	in.gate = -1;
	in.from = from;
	in.to = to;
	in.now = now;
	e = garage_reserve(f->g, &in, r, why != NULL ? why : &w, &f->ch);
	took(f);
	return e;
}

static struct resv *
reserve(struct fx *f, const char *plate, const char *class, int64_t from,
    int64_t to, int64_t now)
{
	struct resv *r = NULL;

	assert_int_equal(reserve_at(f, plate, class, from, to, now, NULL, &r,
	    NULL), PK_OK);
	return r;
}

static void
run_due(struct fx *f, int64_t now)
{
	garage_run_due(f->g, now, &f->ch);
	took(f);
	check_ok(f);
}

static const char *
spot_of(struct fx *f, const char *plate)
{
	const struct ticket *t = garage_inside(f->g, plate);

	assert_non_null(t);
	return tu_spot_name(f->g, t->spots[0]);
}

static void
fill_cars(struct fx *f, int64_t at)
{
	enter(f, "C1", "car", at);
	enter(f, "C2", "car", at);
	enter(f, "C3", "car", at);
	enter(f, "C4", "car", at);
}

/* ---- the replay ---- */

static int
collect(void *ud, const char *json, size_t len)
{
	lines_add(ud, json, len);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
snapshot_sorted(const garage *g, struct lines *l)
{
	memset(l, 0, sizeof(*l));
	assert_int_equal(record_snapshot(g, collect, l), 0);
	qsort(l->v, l->n, sizeof(char *), cmp_str);
}

static void
apply_all(garage *g, const struct lines *l)
{
	char msg[256];
	struct jerr e = { msg, sizeof(msg), 0 };

	for (size_t i = 0; i < l->n; i++) {
		pk_err rc = record_apply(g, l->v[i], strlen(l->v[i]), &e);

		if (rc != PK_OK)
			fail_msg("record %zu: %s\n%s", i, msg, l->v[i]);
	}
}

static garage *
fresh(void)
{
	struct garage_capacity_cfg c;
	garage *g = new_garage();

	std_cfg(&c);
	assert_int_equal(garage_configure_capacity(g, &c), PK_OK);
	return g;
}

static void
same_lines(const struct lines *a, const struct lines *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_string_equal(a->v[i], b->v[i]);
}

/*
 * The journal (every record of the test, in order) and the snapshot both
 * rebuild the same garage: the same snapshot, and the checks hold.
 */
static void
replay_check(struct fx *f)
{
	struct lines want, got, snap, got2;
	garage *r = fresh(), *r2 = fresh();
	char why[256];

	snapshot_sorted(f->g, &want);
	apply_all(r, &journal);
	snapshot_sorted(r, &got);
	same_lines(&want, &got);
	if (garage_check(r, why, sizeof(why)) != 0)
		fail_msg("replayed: %s", why);
	memset(&snap, 0, sizeof(snap));
	assert_int_equal(record_snapshot(f->g, collect, &snap), 0);
	apply_all(r2, &snap);
	snapshot_sorted(r2, &got2);
	same_lines(&want, &got2);
	if (garage_check(r2, why, sizeof(why)) != 0)
		fail_msg("from the snapshot: %s", why);
	lines_free(&want);
	lines_free(&got);
	lines_free(&got2);
	lines_free(&snap);
	garage_free(r);
	garage_free(r2);
}

/* ---- the waitlist ---- */

static void
test_wait_assigned_at_once(void **state)
{
	struct garage_wait_out o;
	struct fx f;

	(void)state;
	fx_init(&f);
	assert_int_equal(wait_for(&f, "W1", "car", 0, 60, T0, &o), PK_OK);
	assert_string_equal(f.kinds, "queued entry assigned");
	assert_int_equal(o.e.state, WAITLIST_ASSIGNED);
	assert_non_null(o.t);
	assert_string_equal(o.e.ticket, o.t->id);
	assert_string_equal(spot_of(&f, "W1"), "A-01");
	assert_int_equal(o.t->entered_at, T0);
	assert_int_equal(garage_wait_get(f.g, o.e.id)->state, WAITLIST_ASSIGNED);
	assert_int_equal(garage_waitlist_depth(f.g), 0);
	fx_done(&f);
}

static void
test_wait_queued_positions_and_refusals(void **state)
{
	struct garage_wait_out o, o2, again;
	struct fx f;

	(void)state;
	fx_init(&f);
	fill_cars(&f, T0);
	assert_int_equal(wait_for(&f, "W1", "car", 0, 60, T0 + 1, &o), PK_OK);
	assert_string_equal(f.kinds, "queued");
	assert_int_equal(o.e.state, WAITLIST_WAITING);
	assert_int_equal(o.position, 1);
	assert_int_equal(o.e.expires_at, T0 + 61);
	assert_int_equal(wait_for(&f, "W2", "car", 0, 60, T0 + 2, &o2), PK_OK);
	assert_int_equal(o2.position, 2);
	/* The same plate again gets its entry back, changing nothing. */
	assert_int_equal(wait_for(&f, "W1", "car", 0, 300, T0 + 3, &again), PK_OK);
	assert_string_equal(f.kinds, "");
	assert_true(again.existing);
	assert_string_equal(again.e.id, o.e.id);
	assert_int_equal(again.position, 1);
	/* A plate inside, a gate that is not for entry, a timeout out of range. */
	assert_int_equal(wait_for(&f, "C1", "car", 0, 60, T0, &again),
	    PK_E_PLATE_INSIDE);
	assert_int_equal(wait_for(&f, "W9", "car", 0, 0, T0, &again),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(wait_for(&f, "W9", "car", 0, 601, T0, &again),
	    PK_E_INVALID_PARAMS);
	{
		struct garage_wait_in in;
		char id[UUID_BUFSZ], tid[UUID_BUFSZ];

		memset(&in, 0, sizeof(in));
		tu_id(7777, id);
		tu_id(7778, tid);
		in.gate = 1;
		in.plate = "W9";
		in.cls = cls(&f, "car");
		in.timeout_s = 60;
		in.id = id;
		in.ticket_id = tid;
		in.at = T0;
		assert_int_equal(garage_wait(f.g, &in, &again, &f.ch),
		    PK_E_WRONG_GATE);
		assert_int_equal(f.ch.n, 0);
	}
	/* Depth 3: the fourth waits in vain. */
	assert_int_equal(wait_for(&f, "W3", "car", 0, 60, T0, &again), PK_OK);
	assert_int_equal(wait_for(&f, "W4", "car", 0, 60, T0, &again),
	    PK_E_QUEUE_FULL);
	assert_string_equal(f.kinds, "");
	assert_false(garage_waitlist_open(f.g));
	fx_done(&f);
}

static void
test_exit_assigns_the_head_and_no_walk_in_takes_it(void **state)
{
	struct garage_wait_out o1, o2;
	const struct waitlist_entry *e;
	struct ticket *t;
	struct fx f;

	(void)state;
	fx_init(&f);
	fill_cars(&f, T0);
	assert_int_equal(wait_for(&f, "W1", "car", 0, 600, T0 + 10, &o1), PK_OK);
	assert_int_equal(wait_for(&f, "W2", "car", 0, 600, T0 + 20, &o2), PK_OK);
	assert_string_equal(spot_of(&f, "C2"), "A-02");
	leave(&f, "C2", T0 + 30);
	/* In the same call: the exit, then the head's ticket on the freed spot. */
	assert_string_equal(f.kinds, "exit entry assigned");
	e = garage_wait_get(f.g, o1.e.id);
	assert_int_equal(e->state, WAITLIST_ASSIGNED);
	assert_int_equal(e->outcome_at, T0 + 30);
	t = garage_inside(f.g, "W1");
	assert_non_null(t);
	assert_string_equal(t->id, e->ticket);
	assert_string_equal(spot_of(&f, "W1"), "A-02");
	assert_int_equal(t->entered_at, T0 + 30);
	assert_int_equal(t->entry_gate, 0);
	/* W2 moved up; a walk-in finds nothing. */
	e = garage_wait_get(f.g, o2.e.id);
	assert_int_equal(garage_wait_position(f.g, e), 1);
	assert_int_equal(enter_at(&f, "X1", "car", T0 + 31, NULL), PK_E_LOT_FULL);
	fx_done(&f);
}

static void
test_a_coach_at_the_head_blocks_no_car(void **state)
{
	struct garage_wait_out oc, ow;
	struct fx f;

	(void)state;
	fx_init(&f);
	fill_cars(&f, T0);
	assert_int_equal(wait_for(&f, "BUS", "coach", 0, 600, T0, &oc), PK_OK);
	assert_int_equal(wait_for(&f, "W1", "car", 0, 600, T0 + 1, &ow), PK_OK);
	/* One spot frees: the coach needs two adjacent ones, the car gets it. */
	leave(&f, "C3", T0 + 2);
	assert_string_equal(f.kinds, "exit entry assigned");
	assert_non_null(garage_inside(f.g, "W1"));
	assert_int_equal(garage_wait_get(f.g, oc.e.id)->state, WAITLIST_WAITING);
	assert_int_equal(garage_wait_position(f.g, garage_wait_get(f.g, oc.e.id)), 1);
	/* free together: now the coach. */
	leave(&f, "C4", T0 + 3);
	assert_string_equal(f.kinds, "exit");
	leave(&f, "W1", T0 + 4);
	assert_string_equal(f.kinds, "exit entry assigned");
	assert_int_equal(garage_inside(f.g, "BUS")->n_spots, 2);
	fx_done(&f);
}

static void
test_needs_and_spot_back_in_service(void **state)
{
	struct garage_wait_out o;
	struct fx f;

	(void)state;
	fx_init(&f);
	/* out of service; taken. */
	assert_int_equal(garage_set_spot_service(f.g, tu_spot(f.g, "A-03"), 0,
	    T0, &f.ch), PK_OK);
	assert_int_equal(garage_set_spot_service(f.g, tu_spot(f.g, "A-04"), 0,
	    T0, &f.ch), PK_OK);
	took(&f);
	enter(&f, "C1", "car", T0);
	enter(&f, "C2", "car", T0);
	/* Waiting for an ev spot; A-01 frees but has no ev. */
	assert_int_equal(wait_for(&f, "EV", "car",
	    facility_spot_tags(garage_facility(f.g), tu_spot(f.g, "A-03")), 600,
	    T0, &o), PK_OK);
	leave(&f, "C1", T0 + 1);
	assert_string_equal(f.kinds, "exit");
	/* A-04 back in service: the ev car gets it at once. */
	assert_int_equal(garage_set_spot_service(f.g, tu_spot(f.g, "A-04"), 1,
	    T0 + 2, &f.ch), PK_OK);
	took(&f);
	assert_string_equal(f.kinds, "spot entry assigned");
	assert_string_equal(spot_of(&f, "EV"), "A-04");
	fx_done(&f);
}

static void
test_cancel_and_expiry(void **state)
{
	struct garage_wait_out o1, o2, o3;
	struct waitlist_entry copy;
	int64_t due;
	int changed;
	struct fx f;

	(void)state;
	fx_init(&f);
	fill_cars(&f, T0);
	assert_int_equal(wait_for(&f, "W1", "car", 0, 100, T0, &o1), PK_OK);
	assert_int_equal(wait_for(&f, "W2", "car", 0, 50, T0, &o2), PK_OK);
	assert_int_equal(wait_for(&f, "W3", "car", 0, 200, T0, &o3), PK_OK);
	assert_true(garage_next_due(f.g, &due));
	assert_int_equal(due, T0 + 50);
	/* Cancel: waiting -> cancelled; again, nothing changes. */
	assert_int_equal(garage_wait_cancel(f.g, o1.e.id, T0 + 5, &copy,
	    &changed, &f.ch), PK_OK);
	took(&f);
	assert_true(changed);
	assert_string_equal(f.kinds, "wcancelled");
	assert_int_equal(copy.state, WAITLIST_CANCELLED);
	assert_int_equal(garage_wait_cancel(f.g, o1.e.id, T0 + 6, &copy,
	    &changed, &f.ch), PK_OK);
	took(&f);
	assert_false(changed);
	assert_string_equal(f.kinds, "");
	assert_int_equal(garage_wait_position(f.g, garage_wait_get(f.g, o2.e.id)), 1);
	/* Not yet due; then the run long after both expiries dates them right. */
	run_due(&f, T0 + 49);
	assert_string_equal(f.kinds, "");
	run_due(&f, T0 + 500);
	assert_string_equal(f.kinds, "expired expired");
	assert_int_equal(garage_wait_get(f.g, o2.e.id)->outcome_at, T0 + 50);
	assert_int_equal(garage_wait_get(f.g, o3.e.id)->outcome_at, T0 + 200);
	/* Cancelling an expired entry answers its state. */
	assert_int_equal(garage_wait_cancel(f.g, o2.e.id, T0 + 501, &copy,
	    &changed, &f.ch), PK_OK);
	took(&f);
	assert_false(changed);
	assert_int_equal(copy.state, WAITLIST_EXPIRED);
	assert_int_equal(garage_wait_cancel(f.g, "00000000-0000-7000-8000-0000000fffff",
	    T0, &copy, &changed, &f.ch), PK_E_NOT_FOUND);
	fx_done(&f);
}

static void
test_outcomes_kept_then_forgotten(void **state)
{
	struct garage_wait_out o;
	int64_t due;
	struct fx f;

	(void)state;
	fx_init(&f);
	fx_keep(&f, 100, 1000);
	fill_cars(&f, T0);
	assert_int_equal(wait_for(&f, "W1", "car", 0, 10, T0, &o), PK_OK);
	run_due(&f, T0 + 10);
	assert_string_equal(f.kinds, "expired");
	/* Kept for keep_outcomes_s (100) after the outcome, both ends included. */
	assert_true(garage_next_due(f.g, &due));
	assert_int_equal(due, T0 + 111);
	run_due(&f, T0 + 110);
	assert_non_null(garage_wait_get(f.g, o.e.id));
	run_due(&f, T0 + 111);
	assert_string_equal(f.kinds, "");
	assert_null(garage_wait_get(f.g, o.e.id));
	assert_false(garage_next_due(f.g, &due));
	changes_release(&f.ch);
	garage_free(f.g);
	lines_free(&journal);
}

static void
test_entry_of_a_waiting_plate_leaves_the_waitlist(void **state)
{
	struct garage_wait_out o;
	struct fx f;

	(void)state;
	fx_init(&f);
	enter(&f, "C1", "car", T0);
	enter(&f, "C2", "car", T0);
	enter(&f, "C3", "car", T0);
	/* A van waits for oversized... */
	enter(&f, "V1", "van", T0);
	enter(&f, "V2", "van", T0);
	assert_int_equal(wait_for(&f, "V3", "van", 0, 600, T0, &o), PK_OK);
	/* ...and drives in as a car (the gate read it so): it leaves the list. */
	enter(&f, "V3", "car", T0 + 1);
	assert_string_equal(f.kinds, "entry wcancelled");
	assert_int_equal(garage_wait_get(f.g, o.e.id)->state, WAITLIST_CANCELLED);
	fx_done(&f);
}

/* ---- reservations ---- */

static void
test_a_waiting_vehicle_drives_in_on_its_hold(void **state)
{
	struct garage_wait_out o;
	struct resv *r;
	struct ticket *t;
	struct fx f;

	(void)state;
	fx_init(&f);
	r = reserve(&f, "R1", "car", T0 + 1000, T0 + 5000, T0);
	fill_cars(&f, T0);
	leave(&f, "C4", T0 + 1);
	enter(&f, "C5", "car", T0 + 2);
	/* R1 turns up far too early, finds the lot full and waits. */
	assert_int_equal(wait_for(&f, "R1", "car", 0, 600, T0 + 500, &o), PK_OK);
	assert_string_equal(f.kinds, "queued");
	/* Its hold begins owed (nothing free); the first spot freed is its. */
	run_due(&f, T0 + 900);
	assert_string_equal(f.kinds, "owed");
	leave(&f, "C2", T0 + 910);
	assert_string_equal(f.kinds, "exit held entry used assigned");
	t = garage_inside(f.g, "R1");
	assert_non_null(t);
	assert_string_equal(t->reservation, r->id);
	assert_string_equal(tu_spot_name(f.g, t->spots[0]), "A-02");
	assert_int_equal(r->state, RESV_USED);
	assert_int_equal(garage_wait_get(f.g, o.e.id)->state, WAITLIST_ASSIGNED);
	fx_done(&f);
}

static void
test_an_assignment_uses_the_plates_reservation(void **state)
{
	struct garage_wait_out o, o2;
	struct resv *r;
	struct ticket *t;
	struct fx f;

	(void)state;
	fx_init(&f);
	/* Booked, its hold an hour off: R1 waits as a walk-in would. */
	r = reserve(&f, "R1", "car", T0 + 3600, T0 + 7200, T0);
	fill_cars(&f, T0);
	assert_int_equal(wait_for(&f, "W0", "car", 0, 600, T0 + 1, &o2), PK_OK);
	assert_int_equal(wait_for(&f, "R1", "car", 0, 600, T0 + 3450, &o), PK_OK);
	leave(&f, "C1", T0 + 3460);
	assert_string_equal(f.kinds, "exit entry assigned");
	/* Within hold_before_s of its hold: it enters on its reservation. */
	leave(&f, "C3", T0 + 3500);
	assert_string_equal(f.kinds, "exit entry used assigned");
	t = garage_inside(f.g, "R1");
	assert_string_equal(t->reservation, r->id);
	assert_int_equal(r->state, RESV_USED);
	fx_done(&f);
}

static void
test_reserve_quota_per_type(void **state)
{
	struct resbook_why why;
	struct resv *r, *r2;
	int changed;
	struct fx f;

	(void)state;
	fx_init(&f);
	/* 4 regular spots, max_fraction 0.5: two car reservations at a time. */
	r = reserve(&f, "R1", "car", T0 + 1000, T0 + 2000, T0);
	assert_string_equal(f.kinds, "created");
	assert_int_equal(r->state, RESV_BOOKED);
	assert_int_equal(r->hold_at, T0 + 1000 - HOLD_BEFORE);
	assert_int_equal(r->no_show_at, T0 + 1000 + NO_SHOW_AFTER);
	reserve(&f, "R2", "car", T0 + 1500, T0 + 2500, T0);
	assert_int_equal(reserve_at(&f, "R3", "car", T0 + 1500, T0 + 1600, T0,
	    NULL, &r2, &why), PK_E_RESERVATION_CONFLICT);
	assert_int_equal(why.at, T0 + 1500 - HOLD_BEFORE);
	assert_string_equal(f.kinds, "");
	/* Before R2's footprint, or after R1's, there is room. */
	reserve(&f, "R4", "car", T0 + 1200, T0 + 1350, T0);
	reserve(&f, "R5", "car", T0 + 2000 + HOLD_BEFORE, T0 + 3000, T0);
	/* Vans count against oversized: 1 of 2. */
	reserve(&f, "V1", "van", T0 + 1000, T0 + 2000, T0);
	assert_int_equal(reserve_at(&f, "V2", "van", T0 + 1000, T0 + 2000, T0,
	    NULL, &r2, &why), PK_E_RESERVATION_CONFLICT);
	/* A coach books two regular units: nothing left while R1, R2 hold. */
	assert_int_equal(reserve_at(&f, "BUS", "coach", T0 + 1000, T0 + 1100,
	    T0, NULL, &r2, &why), PK_E_RESERVATION_CONFLICT);
	/* Cancelling frees the capacity. */
	assert_int_equal(garage_reservation_cancel(f.g, r->id, T0 + 1, &r2,
	    &changed, &f.ch), PK_OK);
	took(&f);
	assert_true(changed);
	assert_string_equal(f.kinds, "rcancelled");
	assert_int_equal(reserve_at(&f, "R3", "car", T0 + 1200, T0 + 1300, T0 + 2,
	    NULL, &r2, &why), PK_OK);
	/* Cancelling a finished one changes nothing. */
	assert_int_equal(garage_reservation_cancel(f.g, r->id, T0 + 3, &r2,
	    &changed, &f.ch), PK_OK);
	took(&f);
	assert_false(changed);
	assert_int_equal(r2->state, RESV_CANCELLED);
	/* Spots out of service shrink the cap: 2 regular in service -> 1. */
	assert_int_equal(garage_set_spot_service(f.g, tu_spot(f.g, "A-01"), 0,
	    T0 + 4, &f.ch), PK_OK);
	assert_int_equal(garage_set_spot_service(f.g, tu_spot(f.g, "A-02"), 0,
	    T0 + 4, &f.ch), PK_OK);
	took(&f);
	assert_int_equal(reserve_at(&f, "R6", "car", T0 + 5000, T0 + 6000, T0 + 5,
	    NULL, &r2, &why), PK_OK);
	assert_int_equal(reserve_at(&f, "R7", "car", T0 + 5000, T0 + 6000, T0 + 5,
	    NULL, &r2, &why), PK_E_RESERVATION_CONFLICT);
	fx_done(&f);
}

static void
test_reserve_spot_and_window_rules(void **state)
{
	struct resbook_why why;
	struct resv *r;
	struct fx f;

	(void)state;
	fx_init(&f);
	assert_int_equal(reserve_at(&f, "S1", "car", T0 + 1000, T0 + 2000, T0,
	    "A-03", &r, &why), PK_OK);
	assert_int_equal(r->spot, tu_spot(f.g, "A-03"));
	/* The same spot overlapping: conflict at the first shared instant. */
	assert_int_equal(reserve_at(&f, "S2", "car", T0 + 1900, T0 + 2500, T0,
	    "A-03", &r, &why), PK_E_RESERVATION_CONFLICT);
	assert_int_equal(why.at, T0 + 1900 - HOLD_BEFORE);
	/* Another spot, or the same one later, is fine. */
	assert_int_equal(reserve_at(&f, "S3", "car", T0 + 1900, T0 + 2500, T0,
	    "A-04", &r, &why), PK_OK);
	assert_int_equal(reserve_at(&f, "S4", "car", T0 + 5000, T0 + 6000, T0,
	    "A-03", &r, &why), PK_OK);
	/* A spot the class does not fit. */
	assert_int_equal(reserve_at(&f, "S5", "car", T0 + 1000, T0 + 2000, T0,
	    "B-01", &r, &why), PK_E_INVALID_PARAMS);
	/* The window: from in the past, to not after from, too long, too far. */
	assert_int_equal(reserve_at(&f, "S6", "car", T0 - 1, T0 + 100, T0, NULL,
	    &r, &why), PK_E_INVALID_PARAMS);
	assert_int_equal(reserve_at(&f, "S6", "car", T0 + 100, T0 + 100, T0, NULL,
	    &r, &why), PK_E_INVALID_PARAMS);
	assert_int_equal(reserve_at(&f, "S6", "car", T0 + 100,
	    T0 + 100 + 10 * 3600 + 1, T0, NULL, &r, &why), PK_E_INVALID_PARAMS);
	assert_int_equal(reserve_at(&f, "S6", "car", T0 + 2 * 86400 + 1,
	    T0 + 2 * 86400 + 100, T0, NULL, &r, &why), PK_E_INVALID_PARAMS);
	assert_string_equal(f.kinds, "");
	fx_done(&f);
}

static void
test_hold_owed_and_served_before_the_waitlist(void **state)
{
	struct garage_wait_out o;
	struct resv *r1, *r2;
	struct garage_capacity_counts k;
	struct fx f;

	(void)state;
	fx_init(&f);
	r1 = reserve(&f, "R1", "car", T0 + 1000, T0 + 5000, T0);
	r2 = reserve(&f, "R2", "car", T0 + 1100, T0 + 5000, T0);
	enter(&f, "C1", "car", T0);
	enter(&f, "C2", "car", T0);
	enter(&f, "C3", "car", T0);
	/* R1's hold takes the last regular spot, A-04. */
	run_due(&f, T0 + 900);
	assert_string_equal(f.kinds, "held");
	assert_int_equal(r1->state, RESV_HELD);
	assert_int_equal(r1->n_held, 1);
	assert_string_equal(tu_spot_name(f.g, r1->held[0]), "A-04");
	assert_int_equal(alloc_spot_state(garage_alloc(f.g), r1->held[0]),
	    ALLOC_SPOT_HELD);
	/* A walk-in does not get a held spot; it waits. */
	assert_int_equal(enter_at(&f, "X1", "car", T0 + 901, NULL), PK_E_LOT_FULL);
	assert_int_equal(wait_for(&f, "X1", "car", 0, 600, T0 + 901, &o), PK_OK);
	/* R2's hold finds nothing: owed. */
	run_due(&f, T0 + 1000);
	assert_string_equal(f.kinds, "owed");
	assert_int_equal(r2->state, RESV_OWED);
	garage_capacity_counts(f.g, &k);
	assert_int_equal(k.held, 1);
	assert_int_equal(k.owed, 1);
	assert_int_equal(k.waiting, 1);
	assert_int_equal(k.reservations_active, 2);
	/* What the metrics read. */
	{
		struct resbook_counts rc;

		garage_reservation_counts(f.g, &rc);
		assert_int_equal(rc.by_state[RESV_HELD], 1);
		assert_int_equal(rc.by_state[RESV_OWED], 1);
		assert_int_equal(rc.active, 2);
		assert_int_equal(garage_waitlist_depth(f.g), 1);
	}
	/* A spot frees: the owed hold before the car that waits. */
	leave(&f, "C2", T0 + 1010);
	assert_string_equal(f.kinds, "exit held");
	assert_int_equal(r2->state, RESV_HELD);
	assert_string_equal(tu_spot_name(f.g, r2->held[0]), "A-02");
	assert_int_equal(r2->changed_at, T0 + 1010);
	assert_int_equal(garage_wait_get(f.g, o.e.id)->state, WAITLIST_WAITING);
	/* The next one goes to the waitlist. */
	leave(&f, "C3", T0 + 1020);
	assert_string_equal(f.kinds, "exit entry assigned");
	fx_done(&f);
}

static void
test_arrival_into_a_full_lot_and_lead(void **state)
{
	struct resv *r, *r2;
	struct ticket *t;
	struct fx f;

	(void)state;
	fx_init(&f);
	r = reserve(&f, "R1", "car", T0 + 1000, T0 + 5000, T0);
	r2 = reserve(&f, "R2", "car", T0 + 3000, T0 + 5000, T0);
	run_due(&f, T0 + 900);
	assert_int_equal(r->state, RESV_HELD);
	/* Walk-ins fill the rest. */
	enter(&f, "C1", "car", T0 + 901);
	enter(&f, "C2", "car", T0 + 902);
	enter(&f, "C3", "car", T0 + 903);
	assert_int_equal(enter_at(&f, "C4", "car", T0 + 904, NULL), PK_E_LOT_FULL);
	/* The reserved car gets its held spot. */
	t = enter(&f, "R1", "car", T0 + 950);
	assert_string_equal(f.kinds, "entry used");
	assert_string_equal(t->reservation, r->id);
	assert_string_equal(tu_spot_name(f.g, t->spots[0]), "A-01");
	assert_int_equal(r->state, RESV_USED);
	assert_string_equal(r->ticket, t->id);
	/* R2 arriving long before its hold is a walk-in (lot_full here). */
	assert_int_equal(enter_at(&f, "R2", "car", T0 + 1000, NULL), PK_E_LOT_FULL);
	leave(&f, "C1", T0 + 1001);
	t = enter(&f, "R2", "car", T0 + 1002);
	assert_string_equal(f.kinds, "entry");
	assert_string_equal(t->reservation, "");
	assert_int_equal(r2->state, RESV_BOOKED);
	leave(&f, "R2", T0 + 1003);
	/* Within hold_before_s of its hold: it enters on it, still booked. */
	t = enter(&f, "R2", "car", T0 + 3000 - HOLD_BEFORE - HOLD_BEFORE);
	assert_string_equal(f.kinds, "entry used");
	assert_string_equal(t->reservation, r2->id);
	fx_done(&f);
}

static void
test_named_reservation_at_the_gate(void **state)
{
	struct garage_entry_in in;
	char id[UUID_BUFSZ];
	struct ticket *t;
	struct resv *r;
	struct fx f;

	(void)state;
	fx_init(&f);
	r = reserve(&f, "R1", "car", T0 + 1000, T0 + 5000, T0);
	memset(&in, 0, sizeof(in));
	tu_id(5555, id);
	in.gate = 0;
	in.cls = cls(&f, "car");
	in.ticket_id = id;
	in.at = T0 + 950;
	in.plate = "R1";
	in.reservation = "00000000-0000-7000-8000-00000000ffff";
	assert_int_equal(garage_entry(f.g, &in, &t, &f.ch), PK_E_NOT_FOUND);
	in.plate = "OTHER";
	in.reservation = r->id;
	assert_int_equal(garage_entry(f.g, &in, &t, &f.ch), PK_E_INVALID_PARAMS);
	assert_int_equal(f.ch.n, 0);
	in.plate = "R1";
	assert_int_equal(garage_entry(f.g, &in, &t, &f.ch), PK_OK);
	took(&f);
	assert_string_equal(f.kinds, "entry used");
	assert_string_equal(t->reservation, r->id);
	fx_done(&f);
}

static void
test_no_show_releases_to_the_waitlist(void **state)
{
	struct garage_wait_out o;
	struct resv *r;
	struct fx f;

	(void)state;
	fx_init(&f);
	r = reserve(&f, "R1", "car", T0 + 1000, T0 + 5000, T0);
	run_due(&f, T0 + 900);
	enter(&f, "C1", "car", T0 + 901);
	enter(&f, "C2", "car", T0 + 901);
	enter(&f, "C3", "car", T0 + 901);
	assert_int_equal(wait_for(&f, "W1", "car", 0, 600, T0 + 902, &o), PK_OK);
	/* Not used by from + no_show_after_s: the hold goes to W1. */
	run_due(&f, T0 + 1000 + NO_SHOW_AFTER - 1);
	assert_string_equal(f.kinds, "");
	run_due(&f, T0 + 1000 + NO_SHOW_AFTER);
	assert_string_equal(f.kinds, "no_show entry assigned");
	assert_int_equal(r->state, RESV_NO_SHOW);
	assert_string_equal(spot_of(&f, "W1"), "A-01");
	assert_int_equal(garage_inside(f.g, "W1")->entered_at,
	    T0 + 1000 + NO_SHOW_AFTER);
	fx_done(&f);
}

static void
test_cancel_during_hold_serves_the_claims(void **state)
{
	struct resv *r, *r2, *back;
	int changed;
	struct fx f;

	(void)state;
	fx_init(&f);
	r = reserve(&f, "R1", "car", T0 + 1000, T0 + 5000, T0);
	r2 = reserve(&f, "R2", "car", T0 + 1001, T0 + 5000, T0);
	enter(&f, "C1", "car", T0);
	enter(&f, "C2", "car", T0);
	enter(&f, "C3", "car", T0);
	run_due(&f, T0 + 901);
	assert_string_equal(f.kinds, "held owed");
	assert_int_equal(garage_reservation_cancel(f.g, r->id, T0 + 950, &back,
	    &changed, &f.ch), PK_OK);
	took(&f);
	assert_string_equal(f.kinds, "rcancelled held");
	assert_int_equal(r2->state, RESV_HELD);
	assert_string_equal(tu_spot_name(f.g, r2->held[0]), "A-04");
	/* An owed one cancelled releases nothing. */
	fx_done(&f);
}

static void
test_hold_already_due_and_named_spot(void **state)
{
	struct resbook_why why;
	struct resv *r;
	struct fx f;

	(void)state;
	fx_init(&f);
	/* from within hold_before_s of now: held at once, on its own spot. */
	assert_int_equal(reserve_at(&f, "R1", "car", T0 + 10, T0 + 100, T0,
	    "A-02", &r, &why), PK_OK);
	assert_string_equal(f.kinds, "created held");
	assert_int_equal(r->state, RESV_HELD);
	assert_string_equal(tu_spot_name(f.g, r->held[0]), "A-02");
	assert_int_equal(r->changed_at, T0);
	/* A named spot that is taken: the strategy chooses another. */
	enter(&f, "C1", "car", T0);
	assert_string_equal(spot_of(&f, "C1"), "A-01");
	assert_int_equal(reserve_at(&f, "R2", "car", T0 + 10, T0 + 100, T0,
	    "A-01", &r, &why), PK_OK);
	assert_string_equal(f.kinds, "created held");
	assert_string_equal(tu_spot_name(f.g, r->held[0]), "A-03");
	fx_done(&f);
}

static void
test_coach_reservation_holds_a_run(void **state)
{
	struct resv *r;
	struct ticket *t;
	struct fx f;

	(void)state;
	fx_init(&f);
	r = reserve(&f, "BUS", "coach", T0 + 1000, T0 + 2000, T0);
	assert_int_equal(r->units, 2);
	run_due(&f, T0 + 900);
	assert_int_equal(r->state, RESV_HELD);
	assert_int_equal(r->n_held, 2);
	t = enter(&f, "BUS", "coach", T0 + 950);
	assert_int_equal(t->n_spots, 2);
	assert_int_equal(r->state, RESV_USED);
	fx_done(&f);
}

static void
test_timers_in_time_order_after_a_long_stop(void **state)
{
	struct garage_wait_out o;
	struct resv *r1, *r2;
	struct fx f;

	(void)state;
	fx_init(&f);
	r1 = reserve(&f, "R1", "car", T0 + 1000, T0 + 5000, T0);
	r2 = reserve(&f, "R2", "car", T0 + 1200, T0 + 5000, T0);
	enter(&f, "C1", "car", T0);
	enter(&f, "C2", "car", T0);
	enter(&f, "C3", "car", T0);
	assert_int_equal(wait_for(&f, "W1", "car", 0, 600, T0, &o), PK_OK);
	assert_string_equal(f.kinds, "queued entry assigned");
	assert_int_equal(wait_for(&f, "W2", "car", 0, 600, T0, &o), PK_OK);
	/*
	 * Down from T0 to T0 + 9999: W2 expired at 600; no spot for R1's
	 * hold at 900 (owed), its no-show at 1050, R2 owed at 1100 and its
	 * no-show at 1250.  All at their instants, in that order.
	 */
	run_due(&f, T0 + 9999);
	assert_string_equal(f.kinds, "expired owed no_show owed no_show");
	assert_int_equal(r1->changed_at, T0 + 1000 + NO_SHOW_AFTER);
	assert_int_equal(r2->changed_at, T0 + 1200 + NO_SHOW_AFTER);
	assert_int_equal(garage_wait_get(f.g, o.e.id)->outcome_at, T0 + 600);
	fx_done(&f);
}

static void
test_reservations_forgotten_after_keep_finished(void **state)
{
	struct resv *r;
	char id[UUID_BUFSZ];
	int64_t due;
	int changed;
	struct fx f;

	(void)state;
	fx_init(&f);
	fx_keep(&f, 100, 1000);
	r = reserve(&f, "R1", "car", T0 + 1000, T0 + 5000, T0);
	memcpy(id, r->id, sizeof(id));
	assert_int_equal(garage_reservation_cancel(f.g, id, T0 + 10, &r,
	    &changed, &f.ch), PK_OK);
	took(&f);
	assert_true(garage_next_due(f.g, &due));
	assert_int_equal(due, T0 + 10 + 1000);
	run_due(&f, T0 + 1009);
	assert_non_null(garage_reservation(f.g, id));
	run_due(&f, T0 + 1010);
	assert_null(garage_reservation(f.g, id));
	changes_release(&f.ch);
	garage_free(f.g);
	lines_free(&journal);
}

static void
test_configure_capacity(void **state)
{
	struct garage_capacity_cfg c;
	garage *g = new_garage();
	struct changes ch;
	struct garage_reserve_in in;
	struct resbook_why why;
	struct resv *r;
	char id[UUID_BUFSZ];

	(void)state;
	changes_init(&ch);
	garage_capacity_config(g, &c);
	assert_int_equal(c.hold_before_s, 900);
	assert_int_equal(c.wl.max_depth, 200);
	assert_int_equal(c.keep_finished_s, 86400 * 30);
	c.max_fraction_ppm = 1000001;
	assert_int_equal(garage_configure_capacity(g, &c), PK_E_INVALID_PARAMS);
	std_cfg(&c);
	assert_int_equal(garage_configure_capacity(g, &c), PK_OK);
	memset(&in, 0, sizeof(in));
	tu_id(1, id);
	in.id = id;
	in.plate = "R1";
	in.cls = 0;
	in.spot = RESV_NO_SPOT;
	in.gate = -1;
	in.from = T0 + 1000;
	in.to = T0 + 2000;
	in.now = T0;
	assert_int_equal(garage_reserve(g, &in, &r, &why, &ch), PK_OK);
	assert_int_equal(r->hold_at, T0 + 1000 - HOLD_BEFORE);
	/* New times apply to new bookings; the booked one keeps its instants. */
	c.hold_before_s = 5;
	c.no_show_after_s = 7;
	c.wl.max_depth = 9;
	assert_int_equal(garage_configure_capacity(g, &c), PK_OK);
	assert_int_equal(r->hold_at, T0 + 1000 - HOLD_BEFORE);
	tu_id(2, id);
	in.plate = "R2";
	assert_int_equal(garage_reserve(g, &in, &r, &why, &ch), PK_OK);
	assert_int_equal(r->hold_at, T0 + 1000 - 5);
	assert_int_equal(r->no_show_at, T0 + 1000 + 7);
	c.max_hours = 0;
	assert_int_equal(garage_configure_capacity(g, &c), PK_E_INVALID_PARAMS);
	garage_capacity_config(g, &c);
	assert_int_equal(c.wl.max_depth, 9);
	assert_int_equal(c.max_hours, 10);
	changes_release(&ch);
	garage_free(g);
}

/* A record that does not fit the state is refused with its reason. */
static void
test_bad_capacity_records(void **state)
{
	garage *g = fresh();
	char msg[256];
	struct jerr e = { msg, sizeof(msg), 0 };
	const char *held = "{\"type\":\"reservation.held\",\"data\":{\"reservation\":"
	    "\"00000000-0000-7000-8000-000000000001\",\"plate\":\"R1\",\"state\":"
	    "\"held\",\"spots\":[\"A-01\"],\"at\":\"2026-11-23T10:00:00Z\"}}";
	const char *assigned = "{\"type\":\"waitlist.assigned\",\"data\":{"
	    "\"waitlist_id\":\"00000000-0000-7000-8000-000000000002\",\"ticket\":"
	    "\"00000000-0000-7000-8000-000000000003\",\"at\":\"2026-11-23T10:00:00Z\"}}";

	(void)state;
	assert_int_equal(record_apply(g, held, strlen(held), &e), PK_E_NOT_FOUND);
	assert_non_null(strstr(msg, "does not fit"));
	assert_int_equal(record_apply(g, assigned, strlen(assigned), &e),
	    PK_E_NOT_FOUND);
	garage_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_assigned_at_once),
		cmocka_unit_test(test_wait_queued_positions_and_refusals),
		cmocka_unit_test(test_exit_assigns_the_head_and_no_walk_in_takes_it),
		cmocka_unit_test(test_a_coach_at_the_head_blocks_no_car),
		cmocka_unit_test(test_needs_and_spot_back_in_service),
		cmocka_unit_test(test_cancel_and_expiry),
		cmocka_unit_test(test_outcomes_kept_then_forgotten),
		cmocka_unit_test(test_entry_of_a_waiting_plate_leaves_the_waitlist),
		cmocka_unit_test(test_a_waiting_vehicle_drives_in_on_its_hold),
		cmocka_unit_test(test_an_assignment_uses_the_plates_reservation),
		cmocka_unit_test(test_reserve_quota_per_type),
		cmocka_unit_test(test_reserve_spot_and_window_rules),
		cmocka_unit_test(test_hold_owed_and_served_before_the_waitlist),
		cmocka_unit_test(test_arrival_into_a_full_lot_and_lead),
		cmocka_unit_test(test_named_reservation_at_the_gate),
		cmocka_unit_test(test_no_show_releases_to_the_waitlist),
		cmocka_unit_test(test_cancel_during_hold_serves_the_claims),
		cmocka_unit_test(test_hold_already_due_and_named_spot),
		cmocka_unit_test(test_coach_reservation_holds_a_run),
		cmocka_unit_test(test_timers_in_time_order_after_a_long_stop),
		cmocka_unit_test(test_reservations_forgotten_after_keep_finished),
		cmocka_unit_test(test_configure_capacity),
		cmocka_unit_test(test_bad_capacity_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
