/* test_resbook.c - unit tests of the reservation book: window rules, capacity, spots, timers, owed queue, listing, restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resbook.h"

/* 2026-11-23 10:00 UTC. */
#define T ((int64_t)1795392000 + 36000)
#define H ((int64_t)3600)
#define HB ((int64_t)900)	/* hold_before_s */
#define NS ((int64_t)1800)	/* no_show_after_s */

static const struct resbook_config cfg = {
	.ntypes = 3, .hold_before_s = HB, .no_show_after_s = NS,
	.max_hours = 72, .horizon_days = 90,
};

static resbook *
book(void)
{
	resbook *rb = resbook_new(&cfg);

	assert_non_null(rb);
	return rb;
}

/* Ids in a fixed shape; they sort by n. */
static const char *
id(unsigned n)
{
	static char buf[8][UUID_BUFSZ];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], UUID_BUFSZ, "00000000-0000-7000-8000-%012x", n);
	return buf[k];
}

/* A request for plate P1, type 0, one unit, cap 10, at now = T. */
static struct resbook_reserve_in
req(unsigned n, int64_t from, int64_t to)
{
	struct resbook_reserve_in in = {
		.id = id(n), .plate = "P1", .cls = 0, .gate = 0, .needs = 0,
		.spot = RESV_NO_SPOT, .from = from, .to = to, .type = 0,
		.units = 1, .max_spots = 1, .cap = 10, .now = T,
	};

	return in;
}

static struct resv *
ok(resbook *rb, const struct resbook_reserve_in *in)
{
	struct resv *r = NULL;
	struct resbook_why why = { NULL, 0 };
	pk_err e = resbook_reserve(rb, in, &r, &why);

	if (e != PK_OK)
		fail_msg("reserve %s: %s (%s at %lld)", in->id, pk_err_reason(e),
		    why.msg, (long long)why.at);
	assert_non_null(r);
	return r;
}

/* Expects a conflict at instant at. */
static void
conflict(resbook *rb, const struct resbook_reserve_in *in, int64_t at)
{
	struct resv *r = (struct resv *)1;
	struct resbook_why why = { NULL, -1 };
	struct resbook_counts c0, c1;

	resbook_counts(rb, &c0);
	assert_int_equal(resbook_reserve(rb, in, &r, &why), PK_E_RESERVATION_CONFLICT);
	assert_null(r);
	assert_non_null(why.msg);
	if (why.at != at)
		fail_msg("%s: conflict at T%+lld, expected T%+lld (%s)", in->id,
		    (long long)(why.at - T), (long long)(at - T), why.msg);
	resbook_counts(rb, &c1);
	assert_memory_equal(&c0, &c1, sizeof(c0));
	assert_null(resbook_get(rb, in->id));
	assert_int_equal(resbook_check(rb, in, NULL), PK_E_RESERVATION_CONFLICT);
}

static void
invalid(resbook *rb, const struct resbook_reserve_in *in, const char *msg)
{
	struct resv *r = (struct resv *)1;
	struct resbook_why why = { NULL, 0 };

	assert_int_equal(resbook_reserve(rb, in, &r, &why), PK_E_INVALID_PARAMS);
	assert_null(r);
	assert_non_null(why.msg);
	if (msg != NULL && strstr(why.msg, msg) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", why.msg, msg);
}

static void
test_state_names(void **state)
{
	enum resv_state s;

	(void)state;
	for (int i = 0; i < RESV__NSTATES; i++) {
		assert_int_equal(resv_state_parse(resv_state_name((enum resv_state)i),
		    &s), 0);
		assert_int_equal(s, i);
		assert_int_equal(resv_state_active((enum resv_state)i), i <= RESV_OWED);
	}
	assert_string_equal(resv_state_name(RESV_NO_SHOW), "no_show");
	assert_string_equal(resv_state_name(RESV__NSTATES), "?");
	assert_int_equal(resv_state_parse("nope", &s), -1);
	assert_int_equal(resv_state_parse(NULL, &s), -1);
}

static void
test_config_bounds(void **state)
{
	struct resbook_config c = cfg;

	(void)state;
	resbook_free(NULL);
	assert_null(resbook_new(NULL));
	c.ntypes = 0;
	assert_null(resbook_new(&c));
	c = cfg;
	c.hold_before_s = -1;
	assert_null(resbook_new(&c));
	c = cfg;
	c.no_show_after_s = RESBOOK_SPAN_MAX_S + 1;
	assert_null(resbook_new(&c));
	c = cfg;
	c.max_hours = 0;
	assert_null(resbook_new(&c));
	c = cfg;
	c.horizon_days = 0;
	assert_null(resbook_new(&c));
	c = cfg;
	c.mem_malloc = malloc;	/* one hook without the others */
	assert_null(resbook_new(&c));
	c = cfg;
	c.hold_before_s = 0;
	c.no_show_after_s = 0;
	resbook_free(resbook_new(&c));
}

static void
test_window_rules(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resbook_counts c;
	char longid[64];

	(void)state;
	in = req(1, T - 1, T + H);
	invalid(rb, &in, "past");
	in = req(1, T, T);
	invalid(rb, &in, "after from");
	in = req(1, T + H, T + H - 5);
	invalid(rb, &in, "after from");
	in = req(1, T, T + 72 * H + 1);
	invalid(rb, &in, "max_hours");
	in = req(1, T + 90 * 86400 + 1, T + 90 * 86400 + H);
	invalid(rb, &in, "horizon_days");
	in = req(1, T, T + H);
	in.now = -1;
	invalid(rb, &in, "range");
	in = req(1, T, T + H);
	in.to = (int64_t)253402300799 + 1;
	invalid(rb, &in, "range");
	in = req(1, T, T + H);
	in.id = "";
	invalid(rb, &in, "id");
	memset(longid, 'a', 37);
	longid[37] = '\0';
	in.id = longid;
	invalid(rb, &in, "id");
	in = req(1, T, T + H);
	in.plate = "p1";	/* not normalized */
	invalid(rb, &in, "plate");
	in.plate = " P1";
	invalid(rb, &in, "plate");
	in.plate = "";
	invalid(rb, &in, "plate");
	in = req(1, T, T + H);
	in.type = 3;
	invalid(rb, &in, "type");
	in.type = -1;
	invalid(rb, &in, "type");
	in = req(1, T, T + H);
	in.units = 0;
	invalid(rb, &in, "units");
	in.units = 65;
	in.max_spots = 65;
	invalid(rb, &in, "units");
	in = req(1, T, T + H);
	in.units = 3;
	in.max_spots = 2;
	invalid(rb, &in, "max_spots");
	in = req(1, T, T + H);
	in.cls = -1;
	invalid(rb, &in, "class");
	resbook_counts(rb, &c);
	assert_int_equal(c.total, 0);

	/* The boundaries themselves are allowed. */
	in = req(1, T, T + 1);		/* from = now, one second long */
	ok(rb, &in);
	in = req(2, T, T + 72 * H);
	ok(rb, &in);
	in = req(3, T + 90 * 86400, T + 90 * 86400 + 72 * H);
	ok(rb, &in);
	in = req(1, T + H, T + 2 * H);	/* the id is taken */
	invalid(rb, &in, "id already");
	resbook_counts(rb, &c);
	assert_int_equal(c.total, 3);
	assert_int_equal(c.by_state[RESV_BOOKED], 3);
	resbook_free(rb);
}

static void
test_record_fields(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in = req(7, T + 2 * H, T + 5 * H);
	struct resv *r;

	(void)state;
	in.plate = "B-XY 123";
	in.cls = 2;
	in.gate = 1;
	in.needs = 0x5;
	in.spot = 42;
	in.type = 2;
	in.units = 3;
	in.max_spots = 3;
	in.now = T - 60;
	r = ok(rb, &in);
	assert_string_equal(r->id, id(7));
	assert_string_equal(r->plate, "B-XY 123");
	assert_string_equal(r->ticket, "");
	assert_int_equal(r->state, RESV_BOOKED);
	assert_int_equal(r->cls, 2);
	assert_int_equal(r->gate, 1);
	assert_int_equal(r->type, 2);
	assert_int_equal(r->units, 3);
	assert_int_equal(r->spot, 42);
	assert_int_equal(r->needs, 0x5);
	assert_int_equal(r->from, T + 2 * H);
	assert_int_equal(r->to, T + 5 * H);
	assert_int_equal(r->hold_at, T + 2 * H - HB);
	assert_int_equal(r->no_show_at, T + 2 * H + NS);
	assert_int_equal(r->created_at, T - 60);
	assert_int_equal(r->changed_at, T - 60);
	assert_int_equal(r->max_spots, 3);
	assert_int_equal(r->n_held, 0);
	assert_ptr_equal(resbook_get(rb, id(7)), r);
	assert_null(resbook_get(rb, id(8)));
	assert_null(resbook_get(rb, NULL));
	/* Three units of type 2 over the footprint, nothing elsewhere. */
	assert_int_equal(resbook_booked_at(rb, 2, r->hold_at - 1), 0);
	assert_int_equal(resbook_booked_at(rb, 2, r->hold_at), 3);
	assert_int_equal(resbook_booked_at(rb, 2, r->to - 1), 3);
	assert_int_equal(resbook_booked_at(rb, 2, r->to), 0);
	assert_int_equal(resbook_booked_at(rb, 0, r->from), 0);
	assert_int_equal(resbook_booked_at(rb, 9, r->from), 0);
	resbook_free(rb);
}

/*
 * Footprints are [from - hold_before_s, to): touching ones share no
 * instant, and the hold before counts.
 */
static void
test_half_open_footprints(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;

	(void)state;
	in = req(1, T + 2 * H, T + 4 * H);	/* footprint [T+2H-HB, T+4H) */
	in.cap = 1;
	ok(rb, &in);
	/* After: its footprint starts at T+4H exactly, or one second before. */
	in = req(2, T + 4 * H + HB - 1, T + 6 * H);
	in.cap = 1;
	conflict(rb, &in, T + 4 * H - 1);
	in = req(2, T + 4 * H + HB, T + 6 * H);
	in.cap = 1;
	ok(rb, &in);
	/* Before: ending where the first one's hold starts, or a second later. */
	in = req(3, T + H, T + 2 * H - HB + 1);
	in.cap = 1;
	conflict(rb, &in, T + 2 * H - HB);
	in = req(3, T + H, T + 2 * H - HB);
	in.cap = 1;
	ok(rb, &in);
	/* The window alone would not overlap; the hold before makes it. */
	in = req(4, T + 6 * H + 1, T + 7 * H);
	in.cap = 1;
	conflict(rb, &in, T + 6 * H + 1 - HB);
	assert_int_equal(resbook_booked_max(rb, 0, T, T + 8 * H), 1);
	assert_int_equal(resbook_booked_at(rb, 0, T + 4 * H), 1);
	resbook_free(rb);
}

/* The first instant over the cap, in the middle of a staircase. */
static void
test_conflict_at(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	int64_t at;

	(void)state;
	/* Type 1 booked 1 over [T+1H, T+9H), 2 over [T+3H, T+7H), 3 over [T+5H, T+6H). */
	in = req(1, T + H + HB, T + 9 * H);
	in.type = 1;
	ok(rb, &in);
	in = req(2, T + 3 * H + HB, T + 7 * H);
	in.type = 1;
	ok(rb, &in);
	in = req(3, T + 5 * H + HB, T + 6 * H);
	in.type = 1;
	ok(rb, &in);
	assert_int_equal(resbook_booked_max(rb, 1, T, T + 10 * H), 3);
	assert_int_equal(resbook_booked_max(rb, 1, T, T + 5 * H), 2);
	assert_int_equal(resbook_booked_max(rb, 1, T, T + 5 * H + 1), 3);
	assert_int_equal(resbook_booked_max(rb, 1, T + 6 * H, T + 10 * H), 2);
	assert_int_equal(resbook_booked_max(rb, 1, T + 7 * H, T + 10 * H), 1);
	assert_int_equal(resbook_booked_max(rb, 1, T + 9 * H, T + 10 * H), 0);
	assert_int_equal(resbook_booked_max(rb, 1, T + 5 * H, T + 5 * H), 0);

	/* Two more units with cap 4: over where 3 are booked. */
	in = req(4, T + 2 * H, T + 8 * H);
	in.type = 1;
	in.units = 2;
	in.max_spots = 2;
	in.cap = 4;
	conflict(rb, &in, T + 5 * H);
	/* With cap 3: already over where 2 are booked. */
	in.cap = 3;
	conflict(rb, &in, T + 3 * H);
	/* A footprint that starts inside the busy part: over at its start. */
	in = req(4, T + 5 * H + HB + 600, T + 8 * H);
	in.type = 1;
	in.cap = 3;
	conflict(rb, &in, T + 5 * H + 600);
	/* More units than the cap: over at the footprint's first instant. */
	in = req(4, T + 20 * H, T + 21 * H);
	in.type = 1;
	in.units = 5;
	in.max_spots = 5;
	in.cap = 4;
	conflict(rb, &in, T + 20 * H - HB);
	in.units = 1;
	in.max_spots = 1;
	in.cap = 0;
	conflict(rb, &in, T + 20 * H - HB);
	/* The same window on another type is free. */
	in = req(4, T + 2 * H, T + 8 * H);
	in.type = 2;
	in.units = 2;
	in.max_spots = 2;
	in.cap = 2;
	ok(rb, &in);
	/* The query form. */
	assert_int_equal(resbook_first_over(rb, 1, T, T + 10 * H, 1, 3, &at), 1);
	assert_int_equal(at, T + 5 * H);
	assert_int_equal(resbook_first_over(rb, 1, T, T + 5 * H, 1, 3, &at), 0);
	assert_int_equal(resbook_first_over(rb, 1, T + 6 * H, T + 10 * H, 1, 2, &at), 1);
	assert_int_equal(at, T + 6 * H);
	assert_int_equal(resbook_first_over(rb, 1, T + 7 * H, T + 10 * H, 1, 2, &at), 0);
	assert_int_equal(resbook_first_over(rb, 1, T, T, 9, 0, &at), 0);
	resbook_free(rb);
}

/* One ending and one starting at the same instant never count together. */
static void
test_end_and_start_same_instant(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	int64_t at;

	(void)state;
	for (unsigned i = 0; i < 5; i++) {
		/* Back to back: [T+iH, T+(i+1)H) footprints. */
		in = req(10 + i, T + (int64_t)i * H + HB, T + (int64_t)(i + 1) * H);
		in.cap = 1;
		ok(rb, &in);
	}
	for (unsigned i = 0; i <= 5; i++)
		assert_int_equal(resbook_booked_at(rb, 0, T + (int64_t)i * H),
		    i < 5 ? 1 : 0);
	assert_int_equal(resbook_booked_max(rb, 0, T, T + 6 * H), 1);
	assert_int_equal(resbook_first_over(rb, 0, T, T + 6 * H, 1, 1, &at), 1);
	assert_int_equal(at, T);
	assert_int_equal(resbook_first_over(rb, 0, T + 5 * H, T + 6 * H, 1, 1, &at), 0);
	/* A second layer fits under cap 2 everywhere. */
	in = req(20, T + HB, T + 5 * H);
	in.cap = 2;
	ok(rb, &in);
	in = req(21, T + HB, T + 5 * H);
	in.cap = 2;
	conflict(rb, &in, T);
	resbook_free(rb);
}

static void
test_spot_overlap(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resv *a, *other;
	int changed;

	(void)state;
	in = req(1, T + 2 * H, T + 4 * H);	/* spot 5: [T+2H-HB, T+4H) */
	in.spot = 5;
	a = ok(rb, &in);
	/* Overlapping from before: the other one's footprint start is the instant. */
	in = req(2, T + H, T + 3 * H);
	in.spot = 5;
	conflict(rb, &in, T + 2 * H - HB);
	/* By a single second at its end. */
	in = req(2, T + H, T + 2 * H - HB + 1);
	in.spot = 5;
	conflict(rb, &in, T + 2 * H - HB);
	/* Overlapping from inside: the new footprint's start. */
	in = req(2, T + 3 * H, T + 5 * H);
	in.spot = 5;
	conflict(rb, &in, T + 3 * H - HB);
	/* Same start. */
	in = req(2, T + 2 * H, T + 2 * H + 1);
	in.spot = 5;
	conflict(rb, &in, T + 2 * H - HB);
	/* Covering it entirely. */
	in = req(2, T + H, T + 6 * H);
	in.spot = 5;
	conflict(rb, &in, T + 2 * H - HB);
	/* Touching on either side, another spot, no spot: fine. */
	in = req(2, T + 4 * H + HB, T + 5 * H);
	in.spot = 5;
	ok(rb, &in);
	in = req(3, T + H, T + 2 * H - HB);
	in.spot = 5;
	other = ok(rb, &in);
	in = req(4, T + 2 * H, T + 4 * H);
	in.spot = 6;
	ok(rb, &in);
	in = req(5, T + 2 * H, T + 4 * H);
	ok(rb, &in);
	/* Between two neighbours, touching both: fine; a second more: not. */
	resbook_cancel(rb, a, T, &changed);
	assert_int_equal(changed, 1);
	in = req(6, T + 2 * H, T + 4 * H);
	in.spot = 5;
	ok(rb, &in);
	in = req(7, T + 4 * H + HB - 1, T + 4 * H + HB);
	in.spot = 5;
	conflict(rb, &in, T + 4 * H + HB - 1 - HB);
	/*
	 * Spot and capacity both over: the earlier instant.  Type 0 has 3
	 * units booked from T+2H-HB (requests 4, 5, 6); spot 9 is taken from
	 * T+3H-HB by a type 1 reservation.
	 */
	in = req(9, T + 3 * H, T + 4 * H);
	in.spot = 9;
	in.type = 1;
	ok(rb, &in);
	in = req(10, T + 2 * H, T + 5 * H);
	in.spot = 9;
	in.cap = 3;
	conflict(rb, &in, T + 2 * H - HB);	/* capacity first */
	in.cap = 4;
	conflict(rb, &in, T + 3 * H - HB);	/* the spot only */
	in = req(10, T + 3 * H + 1, T + 5 * H);
	in.spot = 9;
	in.cap = 3;
	conflict(rb, &in, T + 3 * H + 1 - HB);	/* both at its start */
	in = req(10, T + H + HB - 1, T + 3 * H);
	in.spot = 9;
	in.cap = 3;
	conflict(rb, &in, T + 2 * H - HB);	/* capacity, spot later */
	in = req(10, T + H - HB + HB, T + 2 * H - HB);
	in.spot = 5;
	conflict(rb, &in, T + H - HB);	/* the spot (request 3), at its start */
	(void)other;
	resbook_free(rb);
}

/* cancelled, no_show and used release capacity and the spot. */
static void
test_release(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resv *r, *r2;
	uint32_t spots[1] = { 5 };
	int changed;

	(void)state;
	for (int how = 0; how < 3; how++) {
		unsigned base = 100 * (unsigned)(how + 1);
		in = req(base, T + 2 * H, T + 4 * H);
		in.cap = 1;
		in.spot = 5;
		r = ok(rb, &in);
		in = req(base + 1, T + 3 * H, T + 5 * H);
		in.cap = 1;
		conflict(rb, &in, T + 3 * H - HB);
		in.spot = 5;
		in.cap = 9;
		conflict(rb, &in, T + 3 * H - HB);
		assert_int_equal(resbook_mark_held(rb, r, spots, 1, T + 2 * H - HB),
		    PK_OK);
		switch (how) {
		case 0:
			assert_int_equal(resbook_cancel(rb, r, T + 2 * H, &changed), PK_OK);
			assert_int_equal(changed, 1);
			assert_int_equal(r->state, RESV_CANCELLED);
			break;
		case 1:
			assert_int_equal(resbook_mark_no_show(rb, r, T + 2 * H + NS),
			    PK_OK);
			assert_int_equal(r->state, RESV_NO_SHOW);
			break;
		default:
			assert_int_equal(resbook_mark_used(rb, r, id(999), T + 2 * H),
			    PK_OK);
			assert_int_equal(r->state, RESV_USED);
			assert_string_equal(r->ticket, id(999));
			break;
		}
		/* The held spot is remembered. */
		assert_int_equal(r->n_held, 1);
		assert_int_equal(r->held[0], 5);
		assert_int_equal(resbook_booked_max(rb, 0, T, T + 10 * H), 0);
		in.cap = 1;
		r2 = ok(rb, &in);
		assert_int_equal(resbook_cancel(rb, r2, T, &changed), PK_OK);
		/* A finished one changes no more. */
		assert_int_equal(resbook_cancel(rb, r, T + 9 * H, &changed), PK_OK);
		assert_int_equal(changed, 0);
		assert_int_equal(r->changed_at, how == 1 ? T + 2 * H + NS : T + 2 * H);
		assert_int_equal(resbook_mark_no_show(rb, r, T + 9 * H),
		    PK_E_INVALID_PARAMS);
		assert_int_equal(resbook_mark_used(rb, r, id(998), T + 9 * H),
		    PK_E_INVALID_PARAMS);
		assert_int_equal(resbook_mark_held(rb, r, spots, 1, T + 9 * H),
		    PK_E_INVALID_PARAMS);
		assert_int_equal(resbook_mark_owed(rb, r, T + 9 * H),
		    PK_E_INVALID_PARAMS);
	}
	resbook_free(rb);
}

static void
test_transitions(void **state)
{
	resbook *rb = book(), *rb2 = book();
	struct resbook_reserve_in in;
	struct resv *r, *foreign;
	uint32_t spots[3] = { 7, 8, 9 };
	int changed;

	(void)state;
	in = req(1, T + 2 * H, T + 4 * H);
	in.max_spots = 3;
	r = ok(rb, &in);
	in = req(1, T + 2 * H, T + 4 * H);
	foreign = ok(rb2, &in);
	assert_int_equal(resbook_mark_held(rb, foreign, spots, 1, T), PK_E_NOT_FOUND);
	assert_int_equal(resbook_mark_owed(rb, foreign, T), PK_E_NOT_FOUND);
	assert_int_equal(resbook_mark_used(rb, foreign, id(5), T), PK_E_NOT_FOUND);
	assert_int_equal(resbook_mark_no_show(rb, foreign, T), PK_E_NOT_FOUND);
	assert_int_equal(resbook_cancel(rb, foreign, T, &changed), PK_E_NOT_FOUND);
	assert_int_equal(resbook_mark_used(rb, NULL, id(5), T), PK_E_NOT_FOUND);

	assert_int_equal(resbook_mark_held(rb, r, spots, 0, T), PK_E_INVALID_PARAMS);
	assert_int_equal(resbook_mark_held(rb, r, spots, 4, T), PK_E_INVALID_PARAMS);
	assert_int_equal(resbook_mark_held(rb, r, NULL, 1, T), PK_E_INVALID_PARAMS);
	assert_int_equal(resbook_mark_used(rb, r, "", T), PK_E_INVALID_PARAMS);
	assert_int_equal(r->state, RESV_BOOKED);

	/* booked -> owed -> held (three spots) -> used. */
	assert_int_equal(resbook_mark_owed(rb, r, T + 2 * H - HB), PK_OK);
	assert_int_equal(r->state, RESV_OWED);
	assert_int_equal(r->changed_at, T + 2 * H - HB);
	assert_int_equal(resbook_mark_owed(rb, r, T), PK_E_INVALID_PARAMS);
	assert_int_equal(resbook_mark_held(rb, r, spots, 3, T + 2 * H - 60), PK_OK);
	assert_int_equal(r->state, RESV_HELD);
	assert_int_equal(r->n_held, 3);
	assert_memory_equal(r->held, spots, sizeof(spots));
	assert_int_equal(resbook_mark_held(rb, r, spots, 1, T), PK_E_INVALID_PARAMS);
	assert_int_equal(resbook_mark_owed(rb, r, T), PK_E_INVALID_PARAMS);
	assert_int_equal(resbook_mark_used(rb, r, id(77), T + 2 * H), PK_OK);
	assert_int_equal(r->state, RESV_USED);
	assert_string_equal(r->ticket, id(77));

	/* A booked one can be used straight away (an early arrival). */
	in = req(2, T + 2 * H, T + 4 * H);
	r = ok(rb, &in);
	assert_int_equal(resbook_mark_used(rb, r, id(78), T + H), PK_OK);
	assert_int_equal(r->n_held, 0);
	resbook_free(rb);
	resbook_free(rb2);
}

static void
expect_due(resbook *rb, int64_t now, unsigned n, enum resbook_due_kind kind,
    int64_t at)
{
	struct resbook_due d;

	if (resbook_pop_due(rb, now, &d) != 1)
		fail_msg("nothing due at T%+lld, expected %s of %u",
		    (long long)(now - T), kind == RESBOOK_DUE_HOLD ? "hold" : "no-show", n);
	if (strcmp(d.r->id, id(n)) != 0 || d.kind != kind || d.at != at)
		fail_msg("due %s of %s at T%+lld; expected %s of %s at T%+lld",
		    d.kind == RESBOOK_DUE_HOLD ? "hold" : "no-show", d.r->id,
		    (long long)(d.at - T),
		    kind == RESBOOK_DUE_HOLD ? "hold" : "no-show", id(n),
		    (long long)(at - T));
}

static void
test_timers(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resbook_due d;
	struct resv *r3, *r4;
	int64_t at;
	uint32_t spot = 1;

	(void)state;
	assert_int_equal(resbook_next_due(rb, &at), 0);
	assert_int_equal(resbook_pop_due(rb, T + 1000 * H, &d), 0);
	/* Holds at T+1H, T+1H (ids 2 and 1), T+2H; no-shows 45 min after from. */
	in = req(3, T + 2 * H + HB, T + 4 * H);
	r3 = ok(rb, &in);
	in = req(2, T + H + HB, T + 4 * H);
	ok(rb, &in);
	in = req(1, T + H + HB, T + 4 * H);
	ok(rb, &in);
	/* Its no-show (T+1H+HB+NS = T+1H+2700) ties with id 4's hold. */
	in = req(4, T + H + HB + NS + HB, T + 6 * H);
	r4 = ok(rb, &in);
	assert_int_equal(resbook_next_due(rb, &at), 1);
	assert_int_equal(at, T + H);
	assert_int_equal(resbook_pop_due(rb, T + H - 1, &d), 0);
	expect_due(rb, T + H, 1, RESBOOK_DUE_HOLD, T + H);
	expect_due(rb, T + H, 2, RESBOOK_DUE_HOLD, T + H);
	assert_int_equal(resbook_pop_due(rb, T + H, &d), 0);
	assert_int_equal(resbook_next_due(rb, &at), 1);
	assert_int_equal(at, T + H + HB + NS);
	/* Catch-up: everything up to T+10H, in order, at the instants due. */
	expect_due(rb, T + 10 * H, 1, RESBOOK_DUE_NO_SHOW, T + H + HB + NS);
	expect_due(rb, T + 10 * H, 2, RESBOOK_DUE_NO_SHOW, T + H + HB + NS);
	expect_due(rb, T + 10 * H, 4, RESBOOK_DUE_HOLD, T + H + HB + NS);
	/* A hold applied drops nothing else; a no-show drops both timers. */
	assert_int_equal(resbook_mark_held(rb, r3, &spot, 1, T + 2 * H), PK_OK);
	assert_int_equal(resbook_mark_no_show(rb, r4, T + 2 * H), PK_OK);
	expect_due(rb, T + 10 * H, 3, RESBOOK_DUE_NO_SHOW, T + 2 * H + HB + NS);
	assert_int_equal(resbook_pop_due(rb, T + 10 * H, &d), 0);
	assert_int_equal(resbook_next_due(rb, &at), 0);
	resbook_free(rb);
}

/* hold_before_s = no_show_after_s = 0: the no-show comes first. */
static void
test_timers_zero(void **state)
{
	struct resbook_config c = cfg;
	resbook *rb;
	struct resbook_reserve_in in;

	(void)state;
	c.hold_before_s = 0;
	c.no_show_after_s = 0;
	rb = resbook_new(&c);
	assert_non_null(rb);
	in = req(1, T + H, T + 2 * H);
	ok(rb, &in);
	expect_due(rb, T + H, 1, RESBOOK_DUE_NO_SHOW, T + H);
	expect_due(rb, T + H, 1, RESBOOK_DUE_HOLD, T + H);
	/* Zero hold-before: footprints are the windows. */
	in = req(2, T + 2 * H, T + 3 * H);
	in.cap = 1;
	ok(rb, &in);
	resbook_free(rb);
}

static void
test_owed_queue(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resv *r[6], *x;
	struct resbook_counts c;
	static const int64_t from[6] = { 5, 2, 4, 2, 3, 1 };
	static const unsigned expect[] = { 6, 2, 4, 5, 3, 1 };
	uint32_t spot = 3;
	size_t k;
	int changed;

	(void)state;
	assert_null(resbook_owed_first(rb));
	for (unsigned i = 0; i < 6; i++) {
		in = req(i + 1, T + from[i] * H, T + 8 * H);
		r[i] = ok(rb, &in);
	}
	/* Owed in an order unlike their hold starts. */
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(resbook_mark_owed(rb, r[(i * 5) % 6], T + 5 * H + i),
		    PK_OK);
	for (k = 0, x = resbook_owed_first(rb); x != NULL;
	    x = resbook_owed_next(rb, x), k++)
		assert_string_equal(x->id, id(expect[k]));
	assert_int_equal(k, 6);
	resbook_counts(rb, &c);
	assert_int_equal(c.owed, 6);
	assert_int_equal(c.active, 6);
	/* Served oldest first; cancelled and no-shows leave the queue. */
	x = resbook_owed_first(rb);
	assert_int_equal(resbook_mark_held(rb, x, &spot, 1, T + 6 * H), PK_OK);
	assert_int_equal(resbook_cancel(rb, r[3], T + 6 * H, &changed), PK_OK);
	assert_int_equal(resbook_mark_no_show(rb, r[2], T + 6 * H), PK_OK);
	assert_null(resbook_owed_next(rb, r[2]));	/* not owed any more */
	x = resbook_owed_first(rb);
	assert_string_equal(x->id, id(2));
	x = resbook_owed_next(rb, x);
	assert_string_equal(x->id, id(5));
	x = resbook_owed_next(rb, x);
	assert_string_equal(x->id, id(1));
	assert_null(resbook_owed_next(rb, x));
	resbook_counts(rb, &c);
	assert_int_equal(c.owed, 3);
	assert_int_equal(c.held, 1);
	assert_int_equal(c.active, 4);
	resbook_free(rb);
}

static void
test_arrival(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resv *a, *b;
	uint32_t spot = 1;

	(void)state;
	in = req(1, T + 5 * H, T + 6 * H);	/* hold at T+5H-HB */
	in.plate = "AB 1";
	b = ok(rb, &in);
	in = req(2, T + 2 * H, T + 3 * H);	/* hold at T+2H-HB */
	in.plate = "AB 1";
	a = ok(rb, &in);
	in = req(3, T + H, T + 3 * H);
	in.plate = "AB 2";
	ok(rb, &in);
	in = req(4, T + 2 * H, T + 3 * H);
	in.plate = "AB";
	ok(rb, &in);
	/* Hold begun: lead 0. */
	assert_null(resbook_arrival(rb, "AB 1", T + 2 * H - HB - 1, 0));
	assert_ptr_equal(resbook_arrival(rb, "AB 1", T + 2 * H - HB, 0), a);
	/* Or starting within hold_before_s. */
	assert_null(resbook_arrival(rb, "AB 1", T + 2 * H - 2 * HB - 1, HB));
	assert_ptr_equal(resbook_arrival(rb, "AB 1", T + 2 * H - 2 * HB, HB), a);
	assert_ptr_equal(resbook_arrival(rb, "AB 1", T + 9 * H, 0), a);
	assert_null(resbook_arrival(rb, "AB 3", T + 9 * H, 0));
	assert_null(resbook_arrival(rb, "A", T + 9 * H, 0));
	assert_null(resbook_arrival(rb, NULL, T, 0));
	/* Held, then used: the next one. */
	assert_int_equal(resbook_mark_held(rb, a, &spot, 1, T + 2 * H - HB), PK_OK);
	assert_ptr_equal(resbook_arrival(rb, "AB 1", T + 2 * H, 0), a);
	assert_int_equal(resbook_mark_used(rb, a, id(50), T + 2 * H), PK_OK);
	assert_null(resbook_arrival(rb, "AB 1", T + 2 * H, 0));
	assert_ptr_equal(resbook_arrival(rb, "AB 1", T + 5 * H - HB, 0), b);
	resbook_free(rb);
}

/* Pages through everything; returns the count and checks the order. */
static size_t
page_all(resbook *rb, struct resbook_query q, size_t limit, unsigned *ids)
{
	struct resv *items[16];
	char cur[RESBOOK_CURSOR_BUFSZ] = "";
	size_t n, total = 0;

	q.limit = limit;
	for (;;) {
		q.cursor = cur;
		assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
		for (size_t i = 0; i < n; i++)
			ids[total++] = (unsigned)strtoul(items[i]->id + 24, NULL, 16);
		if (cur[0] == '\0')
			break;
		assert_int_equal(n, limit);	/* only a last page is short */
	}
	return total;
}

static void
test_listing(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resbook_query q = { 0 };
	struct resv *items[16], *r;
	char cur[RESBOOK_CURSOR_BUFSZ];
	unsigned got[64];
	size_t n;
	int changed;

	(void)state;
	/* from: ids 1..9 at T+(10-i)H, ids 10..12 at T+5H (ties by id). */
	for (unsigned i = 1; i <= 12; i++) {
		int64_t from = i <= 9 ? T + (10 - (int64_t)i) * H : T + 5 * H;
		in = req(i, from, from + 1800);
		r = ok(rb, &in);
		if (i % 4 == 0)
			resbook_cancel(rb, r, T, &changed);
	}
	q.limit = 16;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	assert_int_equal(n, 12);
	assert_string_equal(cur, "");
	{
		static const unsigned order[] = { 9, 8, 7, 6, 5, 10, 11, 12, 4, 3, 2, 1 };
		for (size_t i = 0; i < 12; i++)
			assert_string_equal(items[i]->id, id(order[i]));
		for (size_t lim = 1; lim <= 13; lim++) {
			assert_int_equal(page_all(rb, q, lim, got), 12);
			for (size_t i = 0; i < 12; i++)
				assert_int_equal(got[i], order[i]);
		}
	}
	/* Filters: from in [T+5H, T+8H), state. */
	q.has_from = q.has_to = 1;
	q.from = T + 5 * H;
	q.to = T + 8 * H;
	assert_int_equal(page_all(rb, q, 2, got), 6);
	assert_int_equal(got[0], 5);
	assert_int_equal(got[5], 3);
	q.has_state = 1;
	q.state = RESV_CANCELLED;
	assert_int_equal(page_all(rb, q, 1, got), 2);
	assert_int_equal(got[0], 12);
	assert_int_equal(got[1], 4);
	q.state = RESV_BOOKED;
	assert_int_equal(page_all(rb, q, 3, got), 4);
	q.state = RESV_HELD;
	assert_int_equal(page_all(rb, q, 3, got), 0);
	q.has_state = q.has_from = q.has_to = 0;
	/* Limits and cursors. */
	q.limit = 0;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_E_INVALID_PARAMS);
	q.limit = RESBOOK_LIST_MAX + 1;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_E_INVALID_PARAMS);
	q.limit = 5;
	q.has_state = 1;
	q.state = RESV__NSTATES;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_E_INVALID_PARAMS);
	q.has_state = 0;
	q.cursor = "garbage";
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_E_INVALID_PARAMS);
	q.cursor = "000000006b05c2a0";	/* no id */
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_E_INVALID_PARAMS);
	q.cursor = "00000000Zb05c2a0x";
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_E_INVALID_PARAMS);
	q.cursor = "ffffffffffffffffx";	/* beyond the time range */
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_E_INVALID_PARAMS);
	/* Exactly one page: no cursor to an empty page. */
	q.cursor = NULL;
	q.limit = 12;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	assert_int_equal(n, 12);
	assert_string_equal(cur, "");
	q.limit = 11;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	assert_int_equal(n, 11);
	assert_true(strlen(cur) > 16);
	resbook_free(rb);
}

/* Cursors name a position: inserts and deletes between pages move nothing. */
static void
test_listing_cursor_stable(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resbook_query q = { 0 };
	struct resv *items[4], *r;
	char cur[RESBOOK_CURSOR_BUFSZ];
	size_t n;
	int changed;

	(void)state;
	for (unsigned i = 1; i <= 10; i++) {
		in = req(10 * i, T + (int64_t)i * H, T + (int64_t)i * H + 600);
		ok(rb, &in);
	}
	q.limit = 3;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	assert_int_equal(n, 3);
	assert_string_equal(items[2]->id, id(30));
	/* Before the cursor (not seen), at its from with a greater id (seen). */
	in = req(15, T + H + 1, T + 2 * H);
	ok(rb, &in);
	in = req(31, T + 3 * H, T + 4 * H);
	ok(rb, &in);
	/* The cursor's own record and the next one go away. */
	r = resbook_get(rb, id(30));
	resbook_cancel(rb, r, T, &changed);
	r = resbook_get(rb, id(40));
	resbook_cancel(rb, r, T, &changed);
	assert_int_equal(resbook_forget(rb, T, 0, 0), 2);
	assert_null(resbook_get(rb, id(30)));
	q.cursor = cur;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	assert_int_equal(n, 3);
	assert_string_equal(items[0]->id, id(31));
	assert_string_equal(items[1]->id, id(50));
	assert_string_equal(items[2]->id, id(60));
	/* An insert right after the page's end. */
	in = req(61, T + 6 * H, T + 7 * H);
	ok(rb, &in);
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	assert_int_equal(n, 3);
	assert_string_equal(items[0]->id, id(61));
	assert_string_equal(items[1]->id, id(70));
	assert_string_equal(items[2]->id, id(80));
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	assert_int_equal(n, 2);
	assert_string_equal(cur, "");
	/* A cursor before the from filter: the filter wins. */
	q.cursor = NULL;
	q.limit = 1;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	q.cursor = cur;
	q.has_from = 1;
	q.from = T + 9 * H;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	assert_string_equal(items[0]->id, id(90));
	resbook_free(rb);
}

static void
test_forget(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resv *r[6];
	struct resbook_counts c;
	int changed;

	(void)state;
	for (unsigned i = 0; i < 6; i++) {
		in = req(i + 1, T + 2 * H, T + 3 * H);
		r[i] = ok(rb, &in);
	}
	resbook_cancel(rb, r[0], T + 300, &changed);
	resbook_mark_no_show(rb, r[1], T + 100);
	resbook_mark_used(rb, r[2], id(70), T + 200);
	resbook_cancel(rb, r[3], T + 200, &changed);
	/* Nothing finished at or before T + 100 - 101. */
	assert_int_equal(resbook_forget(rb, T + 100, 101, 0), 0);
	assert_int_equal(resbook_forget(rb, T + 200, 100, 0), 1);
	assert_null(resbook_get(rb, id(2)));
	/* At most max, oldest first (T+200: ids 3 then 4). */
	assert_int_equal(resbook_forget(rb, T + 1000, 0, 1), 1);
	assert_null(resbook_get(rb, id(3)));
	assert_non_null(resbook_get(rb, id(4)));
	assert_int_equal(resbook_forget(rb, T + 1000, -1, 0), 0);
	assert_int_equal(resbook_forget(rb, T + 1000, 0, 0), 2);
	resbook_counts(rb, &c);
	assert_int_equal(c.total, 2);
	assert_int_equal(c.active, 2);
	/* Active ones stay whatever the time. */
	assert_int_equal(resbook_forget(rb, INT64_MAX, 0, 0), 0);
	resbook_free(rb);
}

/* The oldest finished reservation: when the next forgetting is due. */
static void
test_oldest_finished(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resv *r[3];
	int64_t at = 0;
	int changed;

	(void)state;
	assert_int_equal(resbook_oldest_finished(rb, &at), 0);
	for (unsigned i = 0; i < 3; i++) {
		in = req(i + 1, T + 2 * H, T + 3 * H);
		r[i] = ok(rb, &in);
	}
	assert_int_equal(resbook_oldest_finished(rb, &at), 0);
	resbook_cancel(rb, r[0], T + 300, &changed);
	resbook_mark_no_show(rb, r[1], T + 100);
	assert_int_equal(resbook_oldest_finished(rb, &at), 1);
	assert_int_equal(at, T + 100);
	assert_int_equal(resbook_forget(rb, T + 100, 0, 0), 1);
	assert_int_equal(resbook_oldest_finished(rb, &at), 1);
	assert_int_equal(at, T + 300);
	resbook_free(rb);
}

/* New times apply to new bookings; out of bounds changes nothing. */
static void
test_set_times(void **state)
{
	resbook *rb = book();
	struct resbook_config c = cfg;
	struct resbook_reserve_in in = req(1, T + 2 * H, T + 3 * H);
	struct resv *r = ok(rb, &in), *r2;

	(void)state;
	c.hold_before_s = 60;
	c.no_show_after_s = 30;
	c.max_hours = 2;
	c.horizon_days = 1;
	assert_int_equal(resbook_set_times(rb, &c), PK_OK);
	assert_int_equal(r->hold_at, T + 2 * H - HB);
	in = req(2, T + 2 * H, T + 3 * H);
	r2 = ok(rb, &in);
	assert_int_equal(r2->hold_at, T + 2 * H - 60);
	assert_int_equal(r2->no_show_at, T + 2 * H + 30);
	in = req(3, T + H, T + 3 * H + 1);
	invalid(rb, &in, "max_hours");
	in = req(3, T + 86400 + 1, T + 86400 + H);
	invalid(rb, &in, "horizon_days");
	c.max_hours = 0;
	assert_int_equal(resbook_set_times(rb, &c), PK_E_INVALID_PARAMS);
	c.max_hours = 2;
	c.hold_before_s = RESBOOK_SPAN_MAX_S + 1;
	assert_int_equal(resbook_set_times(rb, &c), PK_E_INVALID_PARAMS);
	in = req(4, T + 2 * H, T + 3 * H);
	assert_int_equal(ok(rb, &in)->hold_at, T + 2 * H - 60);
	resbook_free(rb);
}

static void
test_counts(void **state)
{
	resbook *rb = book();
	struct resbook_reserve_in in;
	struct resv *r[7];
	struct resbook_counts c;
	uint32_t spot = 2;
	int changed;

	(void)state;
	for (unsigned i = 0; i < 7; i++) {
		in = req(i + 1, T + 2 * H, T + 3 * H);
		r[i] = ok(rb, &in);
	}
	resbook_mark_held(rb, r[0], &spot, 1, T);
	resbook_mark_held(rb, r[1], &spot, 1, T);
	resbook_mark_owed(rb, r[2], T);
	resbook_mark_used(rb, r[3], id(80), T);
	resbook_mark_no_show(rb, r[4], T);
	resbook_cancel(rb, r[5], T, &changed);
	resbook_counts(rb, &c);
	assert_int_equal(c.total, 7);
	assert_int_equal(c.active, 4);
	assert_int_equal(c.held, 2);
	assert_int_equal(c.owed, 1);
	assert_int_equal(c.by_state[RESV_BOOKED], 1);
	assert_int_equal(c.by_state[RESV_HELD], 2);
	assert_int_equal(c.by_state[RESV_OWED], 1);
	assert_int_equal(c.by_state[RESV_USED], 1);
	assert_int_equal(c.by_state[RESV_NO_SHOW], 1);
	assert_int_equal(c.by_state[RESV_CANCELLED], 1);
	assert_int_equal(resbook_booked_at(rb, 0, T + 2 * H), 4);
	resbook_free(rb);
}

/* The ends of time and extreme arguments: no overflow, restorable records. */
static void
test_extremes(void **state)
{
	resbook *rb = book(), *rb2 = book();
	struct resbook_reserve_in in;
	struct resbook_query q = { 0 };
	struct resv *lo, *hi, *out, *items[4];
	char cur[RESBOOK_CURSOR_BUFSZ];
	const int64_t max = (int64_t)253402300799;
	size_t n;
	int64_t at;
	int changed;

	(void)state;
	in = req(1, 0, 60);		/* hold_at before 1970 */
	in.now = 0;
	lo = ok(rb, &in);
	assert_int_equal(lo->hold_at, -HB);
	in = req(2, max - 60, max);	/* no_show_at after 9999 */
	in.now = max - 3600;
	hi = ok(rb, &in);
	assert_int_equal(hi->no_show_at, max - 60 + NS);
	assert_int_equal(resbook_restore(rb2, lo, &out), PK_OK);
	assert_int_equal(resbook_restore(rb2, hi, &out), PK_OK);
	assert_int_equal(resbook_booked_at(rb2, 0, -1), 1);
	assert_int_equal(resbook_booked_max(rb, 0, INT64_MIN, INT64_MAX), 1);
	assert_int_equal(resbook_first_over(rb, 0, INT64_MIN, INT64_MAX, 1, 1, &at), 1);
	assert_int_equal(at, -HB);
	assert_int_equal(resbook_first_over(rb, 0, INT64_MIN, INT64_MAX, 1, 2, &at), 0);
	assert_ptr_equal(resbook_arrival(rb, "P1", INT64_MIN, INT64_MAX), lo);
	assert_null(resbook_arrival(rb, "P1", INT64_MIN, 0));
	assert_ptr_equal(resbook_arrival(rb, "P1", INT64_MAX, INT64_MIN), lo);
	q.limit = 4;
	q.has_from = q.has_to = 1;
	q.from = INT64_MIN;
	q.to = INT64_MAX;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	assert_int_equal(n, 2);
	q.from = INT64_MAX;
	assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
	assert_int_equal(n, 0);
	/* A change at an instant outside time is refused. */
	assert_int_equal(resbook_mark_owed(rb, lo, -1), PK_E_INVALID_PARAMS);
	assert_int_equal(resbook_mark_no_show(rb, lo, max + 1), PK_E_INVALID_PARAMS);
	assert_int_equal(resbook_cancel(rb, lo, INT64_MIN, &changed), PK_E_INVALID_PARAMS);
	assert_int_equal(changed, 0);
	assert_int_equal(lo->state, RESV_BOOKED);
	assert_int_equal(resbook_cancel(rb, lo, 0, &changed), PK_OK);
	assert_int_equal(resbook_forget(rb, INT64_MIN, 0, 0), 0);
	/* Changed at 0: 0 + keep_s <= now decides, without overflow. */
	assert_int_equal(resbook_forget(rb, INT64_MAX - 1, INT64_MAX, 0), 0);
	assert_int_equal(resbook_forget(rb, INT64_MAX, INT64_MAX, 0), 1);
	resbook_free(rb);
	resbook_free(rb2);
}

/* ---- snapshot and restore ---- */

struct collect {
	const struct resv *r[64];
	size_t n;
};

static void
collect_fn(void *ud, const struct resv *r)
{
	struct collect *c = ud;

	assert_true(c->n < 64);
	c->r[c->n++] = r;
}

static void
same_record(const struct resv *a, const struct resv *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->plate, b->plate);
	assert_string_equal(a->ticket, b->ticket);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->cls, b->cls);
	assert_int_equal(a->gate, b->gate);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->units, b->units);
	assert_int_equal(a->spot, b->spot);
	assert_int_equal(a->needs, b->needs);
	assert_int_equal(a->from, b->from);
	assert_int_equal(a->to, b->to);
	assert_int_equal(a->hold_at, b->hold_at);
	assert_int_equal(a->no_show_at, b->no_show_at);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->changed_at, b->changed_at);
	assert_int_equal(a->max_spots, b->max_spots);
	assert_int_equal(a->n_held, b->n_held);
	assert_memory_equal(a->held, b->held, a->n_held * sizeof(a->held[0]));
}

static void
test_restore(void **state)
{
	resbook *rb = book(), *rb2;
	struct resbook_config other = cfg;
	struct resbook_reserve_in in;
	struct resv *r[8], img, *out;
	struct collect c1 = { .n = 0 }, c2 = { .n = 0 };
	struct resbook_counts k1, k2;
	struct resbook_due d1, d2;
	uint32_t spots[2] = { 11, 12 };
	int changed;

	(void)state;
	for (unsigned i = 0; i < 8; i++) {
		in = req(8 - i, T + (int64_t)(i + 1) * H, T + 9 * H);
		in.type = (int)(i % 3);
		in.spot = i % 2 ? 100 + i : RESV_NO_SPOT;
		in.units = 1 + i % 2;
		in.max_spots = 2;
		in.needs = i;
		r[i] = ok(rb, &in);
	}
	resbook_mark_held(rb, r[0], spots, 2, T + 10);
	resbook_mark_owed(rb, r[1], T + 20);
	resbook_mark_owed(rb, r[2], T + 30);
	resbook_mark_used(rb, r[3], id(90), T + 40);
	resbook_mark_no_show(rb, r[4], T + 50);
	resbook_cancel(rb, r[5], T + 60, &changed);
	/* Another hold_before_s now: restored records keep their own times. */
	other.hold_before_s = 60;
	other.no_show_after_s = 60;
	rb2 = resbook_new(&other);
	assert_non_null(rb2);
	resbook_each(rb, collect_fn, &c1);
	assert_int_equal(c1.n, 8);
	for (size_t i = 1; i < c1.n; i++)	/* (state, from, id) order */
		assert_true(c1.r[i - 1]->state < c1.r[i]->state ||
		    (c1.r[i - 1]->state == c1.r[i]->state &&
		    c1.r[i - 1]->from <= c1.r[i]->from));
	for (size_t i = 0; i < c1.n; i++) {
		assert_int_equal(resbook_restore(rb2, c1.r[i], &out), PK_OK);
		same_record(c1.r[i], out);
	}
	resbook_each(rb2, collect_fn, &c2);
	assert_int_equal(c2.n, 8);
	for (size_t i = 0; i < c1.n; i++)
		same_record(c1.r[i], c2.r[i]);
	resbook_counts(rb, &k1);
	resbook_counts(rb2, &k2);
	assert_memory_equal(&k1, &k2, sizeof(k1));
	for (int t = 0; t < 3; t++)
		for (int64_t x = T; x < T + 10 * H; x += 450)
			assert_int_equal(resbook_booked_at(rb, t, x),
			    resbook_booked_at(rb2, t, x));
	assert_string_equal(resbook_owed_first(rb2)->id, resbook_owed_first(rb)->id);
	/* Same timers, in the same order. */
	for (;;) {
		int a = resbook_pop_due(rb, INT64_MAX, &d1);
		int b = resbook_pop_due(rb2, INT64_MAX, &d2);
		assert_int_equal(a, b);
		if (!a)
			break;
		assert_string_equal(d1.r->id, d2.r->id);
		assert_int_equal(d1.kind, d2.kind);
		assert_int_equal(d1.at, d2.at);
	}
	/* The same spot rules hold after a restore. */
	in = req(50, r[7]->from, r[7]->to);
	in.spot = r[7]->spot;
	in.now = T;
	assert_int_equal(resbook_reserve(rb2, &in, NULL, NULL), PK_E_RESERVATION_CONFLICT);

	/* Inconsistent images. */
	img = *r[6];
	assert_int_equal(resbook_restore(rb2, &img, NULL), PK_E_INVALID_PARAMS);	/* dup */
	snprintf(img.id, sizeof(img.id), "%s", id(60));
	img.state = RESV__NSTATES;
	assert_int_equal(resbook_restore(rb2, &img, NULL), PK_E_INVALID_PARAMS);
	img = *r[6];
	snprintf(img.id, sizeof(img.id), "%s", id(60));
	img.hold_at = img.from + 1;
	assert_int_equal(resbook_restore(rb2, &img, NULL), PK_E_INVALID_PARAMS);
	img = *r[6];
	snprintf(img.id, sizeof(img.id), "%s", id(60));
	img.to = img.from;
	assert_int_equal(resbook_restore(rb2, &img, NULL), PK_E_INVALID_PARAMS);
	img = *r[6];
	snprintf(img.id, sizeof(img.id), "%s", id(60));
	img.no_show_at = img.from - 1;
	assert_int_equal(resbook_restore(rb2, &img, NULL), PK_E_INVALID_PARAMS);
	img = *r[6];
	snprintf(img.id, sizeof(img.id), "%s", id(60));
	img.n_held = 3;
	assert_int_equal(resbook_restore(rb2, &img, NULL), PK_E_INVALID_PARAMS);
	img = *r[6];
	snprintf(img.id, sizeof(img.id), "%s", id(60));
	img.type = 3;
	assert_int_equal(resbook_restore(rb2, &img, NULL), PK_E_INVALID_PARAMS);
	img = *r[6];
	snprintf(img.id, sizeof(img.id), "%s", id(60));
	img.plate[0] = 'x';
	assert_int_equal(resbook_restore(rb2, &img, NULL), PK_E_INVALID_PARAMS);
	/* Over the cap is restored anyway: it is a fact. */
	img = *r[6];
	snprintf(img.id, sizeof(img.id), "%s", id(60));
	assert_int_equal(resbook_restore(rb2, &img, NULL), PK_OK);
	resbook_free(rb);
	resbook_free(rb2);
}

/* ---- allocation failure ---- */

static long oom_budget = -1;
static long oom_calls;

static void *
oom_malloc(size_t n)
{
	oom_calls++;
	if (oom_budget == 0)
		return NULL;
	if (oom_budget > 0)
		oom_budget--;
	return malloc(n);
}

static void *
oom_realloc(void *p, size_t n)
{
	oom_calls++;
	if (oom_budget == 0)
		return NULL;
	if (oom_budget > 0)
		oom_budget--;
	return realloc(p, n);
}

/*
 * Every allocation of reserve and restore fails in turn, also when the
 * timer heaps must grow (64 records), and leaves the book as it was.
 */
static void
test_oom(void **state)
{
	struct resbook_config c = cfg;
	resbook *rb;
	struct resbook_reserve_in in;
	struct resbook_counts k0, k1;
	struct resv *r, img;
	long budget;
	int failed = 0;
	int64_t at;

	(void)state;
	c.mem_malloc = oom_malloc;
	c.mem_realloc = oom_realloc;
	c.mem_free = free;
	for (budget = 0; budget < 2; budget++) {
		oom_budget = budget;
		assert_null(resbook_new(&c));
	}
	oom_budget = -1;
	rb = resbook_new(&c);
	assert_non_null(rb);
	for (unsigned i = 1; i <= 130; i++) {
		in = req(i, T + H, T + 2 * H);
		in.spot = i;
		in.cap = 1000;
		for (budget = 0;; budget++) {
			pk_err e;
			resbook_counts(rb, &k0);
			oom_budget = budget;
			oom_calls = 0;
			e = resbook_reserve(rb, &in, &r, NULL);
			oom_budget = -1;
			if (e == PK_OK)
				break;
			assert_int_equal(e, PK_E_INTERNAL);
			assert_null(r);
			failed++;
			resbook_counts(rb, &k1);
			assert_memory_equal(&k0, &k1, sizeof(k0));
			assert_null(resbook_get(rb, id(i)));
			assert_int_equal(resbook_booked_at(rb, 0, T + H), i - 1);
		}
		/* At most the record, the id table and both heaps. */
		assert_true(oom_calls <= 4);
	}
	/*
	 * A try with budget b makes b allocations and fails at the next; what
	 * it grew keeps its room (harmless).  Records 1, 65 and 129 grow the
	 * id table and both heaps and allocate (4: three failed tries each),
	 * record 33 grows the id table alone (2: two failed tries), the other
	 * 126 only allocate (one failed try each).
	 */
	assert_int_equal(failed, 3 * 3 + 2 + 126);
	assert_int_equal(resbook_first_over(rb, 0, T, T + 3 * H, 1, 130, &at), 1);
	assert_int_equal(at, T + H - HB);
	/* Restore the same way. */
	img = *resbook_get(rb, id(5));
	snprintf(img.id, sizeof(img.id), "%s", id(500));
	oom_budget = 0;
	assert_int_equal(resbook_restore(rb, &img, &r), PK_E_INTERNAL);
	oom_budget = -1;
	assert_null(r);
	assert_null(resbook_get(rb, id(500)));
	assert_int_equal(resbook_restore(rb, &img, &r), PK_OK);
	resbook_free(rb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_config_bounds),
		cmocka_unit_test(test_window_rules),
		cmocka_unit_test(test_record_fields),
		cmocka_unit_test(test_half_open_footprints),
		cmocka_unit_test(test_conflict_at),
		cmocka_unit_test(test_end_and_start_same_instant),
		cmocka_unit_test(test_spot_overlap),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_timers_zero),
		cmocka_unit_test(test_owed_queue),
		cmocka_unit_test(test_arrival),
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_listing_cursor_stable),
		cmocka_unit_test(test_forget),
		cmocka_unit_test(test_oldest_finished),
		cmocka_unit_test(test_set_times),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
