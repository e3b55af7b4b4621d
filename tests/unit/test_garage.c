/* test_garage.c - unit tests of the ticket lifecycle (lib/garage.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "garage.h"
#include "testutil.h"

#define MIN 60
#define HOUR 3600

/* ---- a log of the changes the calls return ---- */

#define LOG_MAX 64

struct sink_log {
	int n[CHG_TARIFF + 1];
	int total;
	enum change_kind kind[LOG_MAX];
	char id[LOG_MAX][UUID_BUFSZ];
	int64_t at[LOG_MAX];
	const struct ticket *t[LOG_MAX];
	const struct payment *pay[LOG_MAX];
	int64_t pay_amount[LOG_MAX];
	int64_t exited_at[LOG_MAX];
	uint32_t spot[LOG_MAX];
	int in_service[LOG_MAX];
};

static struct changes tch;		/* what the last call returned */
static struct sink_log *watching;	/* where returned changes are logged */

static void
watch(struct sink_log *l)
{
	watching = l;
}

/* Logs the changes of the call just made (read at once: tickets are alive). */
static void
collect(void)
{
	for (size_t k = 0; k < tch.n; k++) {
		const struct change *c = &tch.v[k];
		struct sink_log *l = watching;
		int i;

		if (l == NULL)
			continue;
		i = l->total;
		assert_true(i < LOG_MAX);
		l->n[c->kind]++;
		l->total++;
		l->kind[i] = c->kind;
		l->at[i] = c->at;
		l->t[i] = c->t;
		l->pay[i] = c->kind == CHG_PAY ? &c->t->payments[c->pay] : NULL;
		l->spot[i] = c->spot;
		l->in_service[i] = c->in_service;
		if (c->t != NULL) {
			memcpy(l->id[i], c->t->id, UUID_BUFSZ);
			l->exited_at[i] = c->t->exited_at;
		}
		if (l->pay[i] != NULL)
			l->pay_amount[i] = l->pay[i]->amount;
	}
	changes_clear(&tch);
}

/* A log lives as long as the garage it watches. */
static void
x_free(garage *g)
{
	watching = NULL;
	garage_free(g);
}

static pk_err
x_entry(garage *g, const struct garage_entry_in *in, struct ticket **t)
{
	pk_err e = garage_entry(g, in, t, &tch);

	collect();
	return e;
}

static pk_err
x_exit(garage *g, struct ticket *t, int gate, int64_t at, struct garage_quote *q)
{
	pk_err e = garage_exit(g, t, gate, at, q, &tch);

	collect();
	return e;
}

static pk_err
x_lost(garage *g, struct ticket *t, int64_t at, struct garage_quote *q)
{
	pk_err e = garage_lost(g, t, at, q, &tch);

	collect();
	return e;
}

static pk_err
x_set_spot_service(garage *g, uint32_t spot, int in_service)
{
	pk_err e = garage_set_spot_service(g, spot, in_service, TU_T0, &tch);

	collect();
	return e;
}

static void
x_set_strategy(garage *g, enum alloc_strategy s)
{
	assert_int_equal(garage_set_strategy(g, s, TU_T0, &tch), PK_OK);
	collect();
}

static void
x_set_tariff(garage *g, tariff *t)
{
	assert_int_equal(garage_set_tariff(g, t, TU_T0, &tch), PK_OK);
	collect();
}

/* ---- helpers ---- */

static unsigned next_id = 1;

static pk_err
enter_at(garage *g, const char *gate, const char *plate, const char *cls,
    uint64_t needs, int64_t at, struct ticket **out)
{
	const facility *f = garage_facility(g);
	char id[UUID_BUFSZ], norm[PLATE_BUFSZ];
	struct garage_entry_in in;
	struct ticket *dummy = NULL;

	assert_int_equal(plate_normalize(plate, strlen(plate), norm), 0);
	tu_id(next_id++, id);
	memset(&in, 0, sizeof(in));
	in.gate = facility_gate_lookup(f, gate);
	assert_true(in.gate >= 0);
	in.plate = norm;
	in.cls = facility_class_lookup(f, cls);
	assert_true(in.cls >= 0);
	in.needs = needs;
	in.ticket_id = id;
	in.at = at;
	return x_entry(g, &in, out ? out : &dummy);
}

static struct ticket *
enter_ok(garage *g, const char *plate, const char *cls, int64_t at)
{
	struct ticket *t = NULL;
	pk_err e = enter_at(g, "north", plate, cls, 0, at, &t);

	if (e != PK_OK)
		fail_msg("entry of %s: %s", plate, pk_err_reason(e));
	assert_non_null(t);
	return t;
}

static const char *
spot0(const garage *g, const struct ticket *t)
{
	assert_true(t->n_spots >= 1);
	return tu_spot_name(g, t->spots[0]);
}

static int
gate(const garage *g, const char *name)
{
	return facility_gate_lookup(garage_facility(g), name);
}

static pk_err
pay(garage *g, struct ticket *t, int64_t amount, const char *ref, int64_t at,
    const struct payment **p, int *replayed, struct garage_quote *q)
{
	char rid[UUID_BUFSZ];
	struct garage_pay_in in;

	tu_id(0x10000 + next_id++, rid);
	memset(&in, 0, sizeof(in));
	in.amount = amount;
	in.method = "card";
	in.reference = ref;
	in.receipt_id = rid;
	in.at = at;
	{
		pk_err e = garage_pay(g, t, &in, p, replayed, q, &tch);

		collect();
		return e;
	}
}

static enum alloc_spot_state
spot_state(const garage *g, const char *name)
{
	return alloc_spot_state(garage_alloc(g), tu_spot(g, name));
}

/* ---- entry ---- */

static void
test_entry_issues_ticket(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct sink_log log;
	struct ticket *t = NULL;
	struct alloc_counts c;
	char id[UUID_BUFSZ];

	(void)state;
	memset(&log, 0, sizeof(log));
	watch(&log);
	next_id = 41;
	tu_id(41, id);
	assert_int_equal(enter_at(g, "north", "b-xy 1", "car", 0, TU_T0, &t), PK_OK);
	assert_string_equal(t->id, id);
	assert_string_equal(t->plate, "B-XY 1");
	assert_int_equal(t->state, TICKET_INSIDE);
	assert_int_equal(t->cls, facility_class_lookup(garage_facility(g), "car"));
	assert_int_equal(t->entry_gate, gate(g, "north"));
	assert_int_equal(t->exit_gate, -1);
	assert_int_equal(t->entered_at, TU_T0);
	assert_int_equal(t->exited_at, 0);
	assert_int_equal(t->peak_milli, 1000);
	assert_int_equal(t->surge_milli, 1000);
	assert_int_equal(t->lost, 0);
	assert_int_equal(t->paid, 0);
	assert_int_equal(t->n_payments, 0);
	assert_int_equal(t->n_spots, 1);
	assert_string_equal(spot0(g, t), "B-01");
	assert_int_equal(spot_state(g, "B-01"), ALLOC_SPOT_OCCUPIED);

	assert_ptr_equal(garage_ticket(g, id), t);
	assert_ptr_equal(garage_inside(g, "B-XY 1"), t);
	assert_null(garage_inside(g, "b-xy 1"));	/* callers normalize */
	assert_int_equal(garage_inside_count(g), 1);
	alloc_counts(garage_alloc(g), &c);
	assert_int_equal(c.occupied, 1);
	assert_int_equal(c.free, 8);

	assert_int_equal(log.total, 1);
	assert_int_equal(log.kind[0], CHG_ENTRY);
	assert_ptr_equal(log.t[0], t);
	assert_int_equal(log.at[0], TU_T0);
	assert_null(log.pay[0]);
	x_free(g);
}

static void
test_entry_wrong_gate(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct sink_log log;
	struct ticket *t = NULL;

	(void)state;
	memset(&log, 0, sizeof(log));
	watch(&log);
	assert_int_equal(enter_at(g, "south", "A1", "car", 0, TU_T0, &t),
	    PK_E_WRONG_GATE);
	assert_null(t);
	assert_int_equal(garage_inside_count(g), 0);
	assert_null(garage_inside(g, "A1"));
	assert_int_equal(log.total, 0);
	/* ramp is both: entry works there. */
	assert_int_equal(enter_at(g, "ramp", "A1", "car", 0, TU_T0, &t), PK_OK);
	assert_int_equal(t->entry_gate, gate(g, "ramp"));
	/* The nearest regular spot from ramp (level 1, x 100): B-04 at 110. */
	assert_string_equal(spot0(g, t), "B-04");
	/* A van (oversized only) from ramp: C-02 at 80. */
	assert_int_equal(enter_at(g, "ramp", "V1", "van", 0, TU_T0, &t), PK_OK);
	assert_string_equal(spot0(g, t), "C-02");
	x_free(g);
}

static void
test_entry_plate_inside(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct sink_log log;
	struct ticket *t1, *t2 = NULL;

	(void)state;
	t1 = enter_ok(g, "A1", "car", TU_T0);
	memset(&log, 0, sizeof(log));
	watch(&log);
	assert_int_equal(enter_at(g, "north", "a1", "car", 0, TU_T0 + 5, &t2),
	    PK_E_PLATE_INSIDE);
	assert_null(t2);
	assert_int_equal(garage_inside_count(g), 1);
	assert_ptr_equal(garage_inside(g, "A1"), t1);
	assert_int_equal(spot_state(g, "B-02"), ALLOC_SPOT_FREE);
	assert_int_equal(log.total, 0);
	x_free(g);
}

static void
test_entry_best_fit_order_and_lot_full(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	static const char *const want_car[] = { "B-01", "B-02", "B-03", "B-04",
	    "C-01", "C-02" };
	struct sink_log log;
	struct ticket *t;
	struct alloc_counts c;
	char plate[8];

	(void)state;
	/* Motorcycles: compact first (nearest first), then regular. */
	t = enter_ok(g, "M1", "motorcycle", TU_T0);
	assert_string_equal(spot0(g, t), "A-01");
	t = enter_ok(g, "M2", "motorcycle", TU_T0);
	assert_string_equal(spot0(g, t), "A-02");
	t = enter_ok(g, "M3", "motorcycle", TU_T0);
	assert_string_equal(spot0(g, t), "A-03");
	/* Cars: regular first, then oversized. */
	for (int i = 0; i < 6; i++) {
		snprintf(plate, sizeof(plate), "C%d", i);
		t = enter_ok(g, plate, "car", TU_T0);
		assert_string_equal(spot0(g, t), want_car[i]);
	}
	memset(&log, 0, sizeof(log));
	watch(&log);
	t = NULL;
	assert_int_equal(enter_at(g, "north", "C9", "car", 0, TU_T0, &t), PK_E_LOT_FULL);
	assert_int_equal(enter_at(g, "north", "M9", "motorcycle", 0, TU_T0, &t),
	    PK_E_LOT_FULL);
	assert_null(t);
	assert_int_equal(log.total, 0);
	assert_int_equal(garage_inside_count(g), 9);
	alloc_counts(garage_alloc(g), &c);
	assert_int_equal(c.occupied, 9);
	assert_int_equal(c.free, 0);
	x_free(g);
}

static void
test_entry_needs_and_vans(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	const facility *f = garage_facility(g);
	struct ticket *t = NULL;
	uint64_t ev;
	cJSON *needs = tu_json("['ev']");

	(void)state;
	assert_int_equal(facility_tags_mask(f, needs, "", &ev, &(struct jerr){ NULL, 0, 0 }), 0);
	cJSON_Delete(needs);
	/* A motorcycle needing ev skips the compact row (no ev tag). */
	assert_int_equal(enter_at(g, "north", "M1", "motorcycle", ev, TU_T0, &t), PK_OK);
	assert_string_equal(spot0(g, t), "B-01");
	assert_int_equal(t->needs, ev);
	/* Vans fit oversized only: two, then the lot is full for vans. */
	t = enter_ok(g, "V1", "van", TU_T0);
	assert_string_equal(spot0(g, t), "C-01");
	t = enter_ok(g, "V2", "van", TU_T0);
	assert_string_equal(spot0(g, t), "C-02");
	assert_int_equal(enter_at(g, "north", "V3", "van", 0, TU_T0, &t), PK_E_LOT_FULL);
	/* A car needing ev gets the next ev spot. */
	assert_int_equal(enter_at(g, "north", "E1", "car", ev, TU_T0, &t), PK_OK);
	assert_string_equal(spot0(g, t), "B-02");
	x_free(g);
}

static void
test_entry_bus_contiguous(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *t;

	(void)state;
	enter_ok(g, "V1", "van", TU_T0);
	enter_ok(g, "V2", "van", TU_T0);
	/* No oversized spot left: three contiguous regular spots. */
	t = enter_ok(g, "BUS1", "bus", TU_T0);
	assert_int_equal(t->n_spots, 3);
	assert_string_equal(tu_spot_name(g, t->spots[0]), "B-01");
	assert_string_equal(tu_spot_name(g, t->spots[1]), "B-02");
	assert_string_equal(tu_spot_name(g, t->spots[2]), "B-03");
	assert_int_equal(spot_state(g, "B-03"), ALLOC_SPOT_OCCUPIED);
	assert_int_equal(spot_state(g, "B-04"), ALLOC_SPOT_FREE);
	assert_int_equal(enter_at(g, "north", "BUS2", "bus", 0, TU_T0, NULL),
	    PK_E_LOT_FULL);
	x_free(g);
}

static void
test_entry_strategies(void **state)
{
	static const struct {
		enum alloc_strategy s;
		const char *first, *second;
	} cases[] = {
		{ ALLOC_NEAREST, "A-01", "A-02" },
		{ ALLOC_FARTHEST, "A-03", "A-02" },
		{ ALLOC_FIRST, "A-01", "A-02" },
		{ ALLOC_FILL, "A-01", "A-02" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		garage *g = tu_garage(cases[i].s, 10);
		struct ticket *t;

		assert_int_equal(garage_strategy(g), cases[i].s);
		t = enter_ok(g, "M1", "motorcycle", TU_T0);
		assert_string_equal(spot0(g, t), cases[i].first);
		t = enter_ok(g, "M2", "motorcycle", TU_T0);
		assert_string_equal(spot0(g, t), cases[i].second);
		x_free(g);
	}
	/* Changing the strategy at run time changes the next choice. */
	{
		garage *g = tu_garage(ALLOC_NEAREST, 10);
		struct ticket *t;

		x_set_strategy(g, ALLOC_FARTHEST);
		assert_int_equal(garage_strategy(g), ALLOC_FARTHEST);
		t = enter_ok(g, "C1", "car", TU_T0);
		assert_string_equal(spot0(g, t), "B-04");
		x_free(g);
	}
}

/* Surge looks at the occupancy just before the entry and stays fixed. */
static void
test_entry_surge_fixed(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *t[9];
	struct garage_quote q;
	char plate[8];

	(void)state;
	for (int i = 0; i < 9; i++) {
		snprintf(plate, sizeof(plate), "P%d", i);
		t[i] = enter_ok(g, plate, i < 3 ? "motorcycle" : "car", TU_T0);
	}
	/* 0..4 occupied before: 1; 5..7 of 9: 1.25; 8 of 9: 2. */
	for (int i = 0; i < 9; i++) {
		int32_t want = i < 5 ? 1000 : i < 8 ? 1250 : 2000;

		assert_int_equal(t[i]->surge_milli, want);
	}
	/* Occupancy drops, the ticket keeps its surge; the fee uses it. */
	assert_int_equal(x_exit(g, t[0], gate(g, "south"), TU_T0 + 60, &q), PK_OK);
	assert_int_equal(t[8]->surge_milli, 2000);
	garage_quote(g, t[8], TU_T0 + 2 * HOUR, &q);
	assert_int_equal(q.q.surge_milli, 2000);
	assert_int_equal(q.fee, 1600);		/* 800 x 2 */
	garage_quote(g, t[5], TU_T0 + 2 * HOUR, &q);
	assert_int_equal(q.fee, 1000);		/* 800 x 1.25 */
	garage_quote(g, t[1], TU_T0 + 2 * HOUR, &q);
	assert_int_equal(q.fee, 400);		/* 800 x 0.5 */
	/* The next entry sees 8 of 9 again: 2. */
	t[0] = enter_ok(g, "NEW", "motorcycle", TU_T0 + 100);
	assert_int_equal(t[0]->surge_milli, 2000);
	/* Two leave: the next one sees 7 of 9 (5/9 <= 7/9 < 8/9). */
	assert_int_equal(x_exit(g, t[0], gate(g, "south"), TU_T0 + 200, &q), PK_OK);
	assert_int_equal(x_exit(g, t[2], gate(g, "south"), TU_T0 + 200, &q), PK_OK);
	t[0] = enter_ok(g, "NEW2", "motorcycle", TU_T0 + 300);
	assert_int_equal(t[0]->surge_milli, 1250);
	x_free(g);
}

/* Peak is the window containing the entry time, fixed at entry. */
static void
test_entry_peak_fixed(void **state)
{
	static const struct {
		int64_t at;
		int32_t peak;
	} cases[] = {
		{ TU_MON_0000 + 8 * HOUR, 1500 },
		{ TU_MON_0000 + 7 * HOUR + 30 * MIN, 1500 },	/* from inclusive */
		{ TU_MON_0000 + 7 * HOUR + 30 * MIN - 1, 1000 },
		{ TU_MON_0000 + 9 * HOUR + 30 * MIN - 1, 1500 },
		{ TU_MON_0000 + 9 * HOUR + 30 * MIN, 1000 },	/* to exclusive */
		{ TU_MON_0000 + 4 * 86400 + 8 * HOUR, 1500 },	/* Friday */
		{ TU_MON_0000 + 5 * 86400 + 8 * HOUR, 1000 },	/* Saturday */
		{ TU_MON_0000 - 86400 + 8 * HOUR, 1000 },	/* Sunday */
	};
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct garage_quote q;
	char plate[8];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ticket *t;

		snprintf(plate, sizeof(plate), "P%zu", i);
		t = enter_ok(g, plate, "motorcycle", cases[i].at);
		if (t->peak_milli != cases[i].peak)
			fail_msg("case %zu: peak %d", i, (int)t->peak_milli);
		/* Quoted long after the window closed: still the entry's peak. */
		garage_quote(g, t, cases[i].at + 2 * HOUR, &q);
		assert_int_equal(q.q.peak_milli, cases[i].peak);
		/* 800 x 0.5 x peak */
		assert_int_equal(q.fee, cases[i].peak == 1500 ? 600 : 400);
		x_exit(g, t, gate(g, "south"), cases[i].at, &q);
	}
	x_free(g);
}

/*
 * Peak in Europe/Berlin: the window is local time, from the function the
 * garage was given (the C library's, as in the daemon).
 */
static void
test_entry_peak_local_time(void **state)
{
	/* 2026-03-27 (Friday, CET) and 2026-03-30 (Monday, CEST), 00:00 UTC. */
	const int64_t fri_before = TU_MON_0000 - 241 * 86400;
	const int64_t mon_after = fri_before + 3 * 86400;
	garage *g;
	struct ticket *t;

	(void)state;
	tu_set_tz("Europe/Berlin");
	g = garage_new(tu_facility(TU_FACILITY, TU_VEHICLES), tu_tariff(TU_TARIFF),
	    tu_local_time, NULL, ALLOC_NEAREST, 10);
	assert_non_null(g);
	/* 07:00 UTC in November is 08:00 in Berlin (CET): peak. */
	t = enter_ok(g, "P1", "car", TU_MON_0000 + 7 * HOUR);
	assert_int_equal(t->peak_milli, 1500);
	/* 09:00 UTC is 10:00 local: not peak, though 09:00 UTC would be. */
	t = enter_ok(g, "P2", "car", TU_MON_0000 + 9 * HOUR);
	assert_int_equal(t->peak_milli, 1000);
	/* 06:30 UTC is 07:30 local: the window opens. */
	t = enter_ok(g, "P3", "car", TU_MON_0000 + 6 * HOUR + 30 * MIN);
	assert_int_equal(t->peak_milli, 1500);
	/* Around the spring change: 05:30 UTC is 06:30 CET, then 07:30 CEST. */
	t = enter_ok(g, "P4", "car", fri_before + 5 * HOUR + 30 * MIN);
	assert_int_equal(t->peak_milli, 1000);
	t = enter_ok(g, "P5", "car", mon_after + 5 * HOUR + 30 * MIN);
	assert_int_equal(t->peak_milli, 1500);
	x_free(g);
}

/* ---- quote ---- */

static void
test_quote_amounts(void **state)
{
	static const struct {
		int64_t d;
		int64_t fee;
		int64_t minutes;
	} cases[] = {
		{ 0, 0, 0 },
		{ 15 * MIN, 0, 0 },		/* free minutes, inclusive */
		{ 15 * MIN + 1, 300, 30 },	/* 16 min -> 30 */
		{ HOUR, 300, 60 },
		{ HOUR + 1, 800, 75 },
		{ 3 * HOUR, 800, 180 },
		{ 3 * HOUR + 1, 1500, 195 },
		{ 10 * HOUR, 1500, 600 },
		{ 11 * HOUR, 1700, 660 },		/* 1500 + 1 h overage */
		{ 24 * HOUR, 2500, 1440 },		/* daily max */
		{ 25 * HOUR, 2800, 1500 },		/* 2500 + 300 */
		{ 48 * HOUR + 2 * HOUR, 5800, 3000 },	/* 2 x 2500 + 800 */
	};
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *t = enter_ok(g, "Q1", "car", TU_T0);
	struct garage_quote q;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		garage_quote(g, t, TU_T0 + cases[i].d, &q);
		if (q.fee != cases[i].fee)
			fail_msg("d=%lld: fee %lld, want %lld", (long long)cases[i].d,
			    (long long)q.fee, (long long)cases[i].fee);
		assert_int_equal(q.due, cases[i].fee);
		assert_int_equal(q.at, TU_T0 + cases[i].d);
		assert_int_equal(q.duration_s, cases[i].d);
		assert_int_equal(q.q.minutes, cases[i].minutes);
		assert_int_equal(q.q.free, cases[i].fee == 0);
		assert_int_equal(q.exit_by, 0);
		assert_int_equal(q.lost_fee_applied, 0);
		assert_int_equal(q.q.fee, q.fee);
	}
	/* A time before the entry counts as no time. */
	garage_quote(g, t, TU_T0 - HOUR, &q);
	assert_int_equal(q.duration_s, 0);
	assert_int_equal(q.fee, 0);
	x_free(g);
}

static void
test_quote_class_multiplier_and_cap(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *van, *bus;
	struct garage_quote q;

	(void)state;
	/* Van 1.5 at peak 1.5: 2.25. */
	van = enter_ok(g, "V1", "van", TU_MON_0000 + 8 * HOUR);
	garage_quote(g, van, TU_MON_0000 + 10 * HOUR, &q);
	assert_int_equal(q.q.class_milli, 1500);
	assert_int_equal(q.q.multiplier_milli, 2250);
	assert_int_equal(q.fee, 1800);
	/* Bus 4 is capped at max_multiplier 3. */
	bus = enter_ok(g, "BUS", "bus", TU_T0);
	garage_quote(g, bus, TU_T0 + 2 * HOUR, &q);
	assert_int_equal(q.q.class_milli, 4000);
	assert_int_equal(q.q.multiplier_milli, 3000);
	assert_int_equal(q.fee, 2400);
	x_free(g);
}

static void
test_quote_lost(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct sink_log log;
	struct ticket *t = enter_ok(g, "L1", "car", TU_T0);
	struct ticket *t2 = enter_ok(g, "L2", "car", TU_T0);
	struct garage_quote q;

	(void)state;
	memset(&log, 0, sizeof(log));
	watch(&log);
	/* max(lost 5000, fee 300) = 5000. */
	assert_int_equal(x_lost(g, t, TU_T0 + 30 * MIN, &q), PK_OK);
	assert_int_equal(t->lost, 1);
	assert_int_equal(t->lost_at, TU_T0 + 30 * MIN);
	assert_int_equal(q.fee, 5000);
	assert_int_equal(q.due, 5000);
	assert_int_equal(q.lost_fee_applied, 1);
	assert_int_equal(q.q.fee, 300);	/* the tariff's own steps */
	/* Even within the free minutes a lost ticket pays the lost fee. */
	garage_quote(g, t, TU_T0 + 60, &q);
	assert_int_equal(q.fee, 5000);
	/* A long stay costs more than the lost fee: that is what is due. */
	garage_quote(g, t, TU_T0 + 50 * HOUR, &q);
	assert_int_equal(q.fee, 5800);
	assert_int_equal(q.lost_fee_applied, 0);
	/* Lost again: idempotent, the first time stays, no second change. */
	assert_int_equal(x_lost(g, t, TU_T0 + 40 * MIN, &q), PK_OK);
	assert_int_equal(t->lost_at, TU_T0 + 30 * MIN);
	assert_int_equal(q.fee, 5000);
	assert_int_equal(q.at, TU_T0 + 40 * MIN);
	assert_int_equal(log.n[CHG_LOST], 1);
	assert_int_equal(log.total, 1);
	assert_ptr_equal(log.t[0], t);
	assert_int_equal(log.at[0], TU_T0 + 30 * MIN);
	/* The other ticket is not lost. */
	garage_quote(g, t2, TU_T0 + 30 * MIN, &q);
	assert_int_equal(q.fee, 300);
	/* Pay the lost fee and leave; lost on an exited ticket is not_found. */
	{
		const struct payment *p;
		int rep;

		assert_int_equal(pay(g, t, 5000, NULL, TU_T0 + 45 * MIN, &p, &rep, &q), PK_OK);
		assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 50 * MIN, &q),
		    PK_OK);
		assert_int_equal(t->charged, 5000);
		assert_int_equal(x_lost(g, t, TU_T0 + HOUR, &q), PK_E_NOT_FOUND);
		assert_int_equal(log.n[CHG_LOST], 1);
	}
	x_free(g);
}

/* A payment covers the stay for the grace period; after it the rest is due. */
static void
test_quote_grace_after_payment(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *t = enter_ok(g, "G1", "car", TU_T0);
	const struct payment *p = NULL;
	struct garage_quote q;
	int rep = -1;

	(void)state;
	garage_quote(g, t, TU_T0 + 50 * MIN, &q);
	assert_int_equal(q.due, 300);
	assert_int_equal(pay(g, t, 300, NULL, TU_T0 + 50 * MIN, &p, &rep, &q), PK_OK);
	assert_int_equal(rep, 0);
	assert_int_equal(q.due, 0);
	assert_int_equal(q.exit_by, TU_T0 + 65 * MIN);
	assert_int_equal(t->paid, 300);
	assert_int_equal(t->last_paid_at, TU_T0 + 50 * MIN);
	/* Until the end of grace nothing is due, though the fee went up. */
	garage_quote(g, t, TU_T0 + 65 * MIN, &q);
	assert_int_equal(q.fee, 800);
	assert_int_equal(q.due, 0);
	assert_int_equal(q.exit_by, TU_T0 + 65 * MIN);
	/* One second later: fee - paid. */
	garage_quote(g, t, TU_T0 + 65 * MIN + 1, &q);
	assert_int_equal(q.fee, 800);
	assert_int_equal(q.due, 500);
	/* Exit after grace needs the rest; pay it, then leave. */
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 66 * MIN, &q),
	    PK_E_PAYMENT_REQUIRED);
	assert_int_equal(q.due, 500);
	assert_int_equal(t->state, TICKET_INSIDE);
	assert_int_equal(pay(g, t, 500, NULL, TU_T0 + 66 * MIN, &p, &rep, &q), PK_OK);
	assert_int_equal(t->paid, 800);
	assert_int_equal(t->n_payments, 2);
	assert_int_equal(q.exit_by, TU_T0 + 81 * MIN);
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 70 * MIN, &q), PK_OK);
	assert_int_equal(t->charged, 800);
	x_free(g);
}

/* ---- pay ---- */

static void
test_pay_amount_mismatch(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct sink_log log;
	struct ticket *t = enter_ok(g, "P1", "car", TU_T0);
	const struct payment *p = NULL;
	struct garage_quote q;
	int rep;

	(void)state;
	memset(&log, 0, sizeof(log));
	watch(&log);
	assert_int_equal(pay(g, t, 299, "r1", TU_T0 + HOUR, &p, &rep, &q),
	    PK_E_AMOUNT_MISMATCH);
	assert_int_equal(q.due, 300);
	assert_int_equal(pay(g, t, 301, "r1", TU_T0 + HOUR, &p, &rep, &q),
	    PK_E_AMOUNT_MISMATCH);
	assert_int_equal(q.due, 300);
	assert_int_equal(t->n_payments, 0);
	assert_int_equal(t->paid, 0);
	assert_int_equal(log.total, 0);
	/* Nothing due (free minutes): any amount is a mismatch with 0. */
	{
		struct ticket *t2 = enter_ok(g, "P2", "car", TU_T0);

		assert_int_equal(pay(g, t2, 100, NULL, TU_T0 + 10 * MIN, &p, &rep, &q),
		    PK_E_AMOUNT_MISMATCH);
		assert_int_equal(q.due, 0);
		assert_int_equal(pay(g, t2, 0, NULL, TU_T0 + 10 * MIN, &p, &rep, &q),
		    PK_E_AMOUNT_MISMATCH);
		assert_int_equal(t2->n_payments, 0);
	}
	/* The reference of a refused payment is free for a good one. */
	assert_int_equal(pay(g, t, 300, "r1", TU_T0 + HOUR, &p, &rep, &q), PK_OK);
	assert_int_equal(rep, 0);
	assert_int_equal(t->paid, 300);
	assert_int_equal(log.n[CHG_PAY], 1);
	x_free(g);
}

static void
test_pay_idempotent_reference(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct sink_log log;
	struct ticket *t = enter_ok(g, "P1", "car", TU_T0);
	const struct payment *p1 = NULL, *p2 = NULL;
	struct garage_quote q;
	char receipt[UUID_BUFSZ];
	int rep = -1;

	(void)state;
	memset(&log, 0, sizeof(log));
	watch(&log);
	assert_int_equal(pay(g, t, 300, "ref-1", TU_T0 + HOUR, &p1, &rep, &q), PK_OK);
	assert_int_equal(rep, 0);
	assert_non_null(p1);
	memcpy(receipt, p1->receipt, UUID_BUFSZ);
	assert_int_equal(strlen(receipt), UUID_STRLEN);
	assert_string_equal(p1->reference, "ref-1");
	assert_string_equal(p1->method, "card");
	assert_int_equal(p1->amount, 300);
	assert_int_equal(p1->at, TU_T0 + HOUR);
	assert_int_equal(log.n[CHG_PAY], 1);
	assert_ptr_equal(log.pay[0], p1);
	assert_int_equal(log.pay_amount[0], 300);
	assert_ptr_equal(log.t[0], t);

	/* The same reference again (any amount, later): the first payment. */
	assert_int_equal(pay(g, t, 12345, "ref-1", TU_T0 + 3 * HOUR, &p2, &rep, &q),
	    PK_OK);
	assert_int_equal(rep, 1);
	assert_string_equal(p2->receipt, receipt);
	assert_int_equal(p2->amount, 300);
	assert_int_equal(t->paid, 300);
	assert_int_equal(t->n_payments, 1);
	assert_int_equal(log.n[CHG_PAY], 1);
	assert_int_equal(log.total, 1);
	/* q is the quote at that time: after grace, the rest is due. */
	assert_int_equal(q.fee, 800);
	assert_int_equal(q.due, 500);

	/* Another reference is another payment. */
	assert_int_equal(pay(g, t, 500, "ref-2", TU_T0 + 3 * HOUR, &p2, &rep, &q), PK_OK);
	assert_int_equal(rep, 0);
	assert_string_not_equal(p2->receipt, receipt);
	assert_int_equal(t->paid, 800);
	assert_int_equal(log.n[CHG_PAY], 2);

	/* After exit: the old reference still answers, a new payment is refused. */
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 3 * HOUR + 60, &q),
	    PK_OK);
	assert_int_equal(pay(g, t, 300, "ref-1", TU_T0 + 4 * HOUR, &p2, &rep, &q), PK_OK);
	assert_int_equal(rep, 1);
	assert_string_equal(p2->receipt, receipt);
	assert_int_equal(pay(g, t, 300, "ref-3", TU_T0 + 4 * HOUR, &p2, &rep, &q),
	    PK_E_NOT_FOUND);
	assert_int_equal(pay(g, t, 300, NULL, TU_T0 + 4 * HOUR, &p2, &rep, &q),
	    PK_E_NOT_FOUND);
	assert_int_equal(t->paid, 800);
	assert_int_equal(t->n_payments, 2);
	assert_int_equal(log.n[CHG_PAY], 2);
	x_free(g);
}

/* No reference (or an empty one) never replays. */
static void
test_pay_without_reference(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *t = enter_ok(g, "P1", "car", TU_T0);
	const struct payment *p = NULL;
	struct garage_quote q;
	int rep;

	(void)state;
	assert_int_equal(pay(g, t, 300, "", TU_T0 + HOUR, &p, &rep, &q), PK_OK);
	assert_string_equal(p->reference, "");
	assert_int_equal(pay(g, t, 500, "", TU_T0 + 3 * HOUR, &p, &rep, &q), PK_OK);
	assert_int_equal(rep, 0);
	assert_int_equal(t->n_payments, 2);
	assert_int_equal(t->paid, 800);
	x_free(g);
}

/* ---- exit ---- */

static void
test_exit(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct sink_log log;
	struct ticket *t = enter_ok(g, "X1", "car", TU_T0);
	const struct payment *p;
	struct garage_quote q;
	struct alloc_counts c;
	char id[UUID_BUFSZ];
	int rep;

	(void)state;
	memcpy(id, t->id, UUID_BUFSZ);
	memset(&log, 0, sizeof(log));
	watch(&log);
	/* Not at an exit gate. */
	assert_int_equal(x_exit(g, t, gate(g, "north"), TU_T0 + HOUR, &q),
	    PK_E_WRONG_GATE);
	/* Money due. */
	memset(&q, 0, sizeof(q));
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + HOUR, &q),
	    PK_E_PAYMENT_REQUIRED);
	assert_int_equal(q.due, 300);
	assert_int_equal(t->state, TICKET_INSIDE);
	assert_int_equal(spot_state(g, "B-01"), ALLOC_SPOT_OCCUPIED);
	assert_int_equal(log.total, 0);

	assert_int_equal(pay(g, t, 300, NULL, TU_T0 + HOUR, &p, &rep, &q), PK_OK);
	assert_int_equal(x_exit(g, t, gate(g, "ramp"), TU_T0 + HOUR + 5 * MIN, &q),
	    PK_OK);
	assert_int_equal(q.due, 0);
	assert_int_equal(t->state, TICKET_EXITED);
	assert_int_equal(t->exit_gate, gate(g, "ramp"));
	assert_int_equal(t->exited_at, TU_T0 + HOUR + 5 * MIN);
	assert_int_equal(t->charged, 300);
	assert_int_equal(spot_state(g, "B-01"), ALLOC_SPOT_FREE);
	alloc_counts(garage_alloc(g), &c);
	assert_int_equal(c.occupied, 0);
	assert_int_equal(c.free, 9);
	assert_int_equal(garage_inside_count(g), 0);
	/* Found by id (closed), not by plate. */
	assert_ptr_equal(garage_ticket(g, id), t);
	assert_null(garage_inside(g, "X1"));
	assert_int_equal(log.n[CHG_EXIT], 1);
	assert_int_equal(log.at[log.total - 1], TU_T0 + HOUR + 5 * MIN);
	assert_string_equal(log.id[log.total - 1], id);
	assert_int_equal(log.exited_at[log.total - 1], TU_T0 + HOUR + 5 * MIN);

	/* Out already: not_found, nothing changes. */
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 2 * HOUR, &q),
	    PK_E_NOT_FOUND);
	assert_int_equal(t->exited_at, TU_T0 + HOUR + 5 * MIN);
	assert_int_equal(log.n[CHG_EXIT], 1);

	/* The plate may come in again with a new ticket on the freed spot. */
	t = enter_ok(g, "X1", "car", TU_T0 + 3 * HOUR);
	assert_string_not_equal(t->id, id);
	assert_string_equal(spot0(g, t), "B-01");
	/* Free minutes: leaves without paying, charged 0. */
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 3 * HOUR + 15 * MIN,
	    &q), PK_OK);
	assert_int_equal(t->charged, 0);
	x_free(g);
}

/* An exit time before the entry counts as the entry time. */
static void
test_exit_before_entry_refused(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *t = enter_ok(g, "X1", "car", TU_T0);
	struct garage_quote q;

	(void)state;
	/* An exit before the entry is refused, not moved. */
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 - 100, &q),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(t->state, TICKET_INSIDE);
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0, &q), PK_OK);
	assert_int_equal(t->exited_at, TU_T0);
	/* A closed ticket's quote ends at its exit. */
	garage_quote(g, t, TU_T0 + 10 * HOUR, &q);
	assert_int_equal(q.at, TU_T0);
	assert_int_equal(q.fee, 0);
	x_free(g);
}

static void
test_exit_releases_pending_out_of_service(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *t = enter_ok(g, "X1", "car", TU_T0);
	uint32_t b1 = tu_spot(g, "B-01");
	struct garage_quote q;

	(void)state;
	assert_int_equal(x_set_spot_service(g, b1, 0), PK_OK);
	assert_int_equal(spot_state(g, "B-01"), ALLOC_SPOT_OCCUPIED);
	assert_int_equal(alloc_spot_pending_out_of_service(garage_alloc(g), b1), 1);
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 60, &q), PK_OK);
	assert_int_equal(spot_state(g, "B-01"), ALLOC_SPOT_OUT_OF_SERVICE);
	t = enter_ok(g, "X2", "car", TU_T0 + 120);
	assert_string_equal(spot0(g, t), "B-02");
	assert_int_equal(x_set_spot_service(g, 9999, 0), PK_E_INVALID_PARAMS);
	x_free(g);
}

/* ---- closed-ticket retention ---- */

struct visit {
	int n;
	const struct ticket *t[16];
};

static void
visit(void *ud, const struct ticket *t)
{
	struct visit *v = ud;

	assert_true(v->n < 16);
	v->t[v->n++] = t;
}

static void
test_retention_limit(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 2);
	struct ticket *t[4];
	char ids[4][UUID_BUFSZ], plate[8];
	struct garage_quote q;
	struct visit v;

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(plate, sizeof(plate), "R%d", i);
		t[i] = enter_ok(g, plate, "car", TU_T0);
		memcpy(ids[i], t[i]->id, UUID_BUFSZ);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(x_exit(g, t[i], gate(g, "south"), TU_T0 + 60, &q), PK_OK);
	assert_ptr_equal(garage_ticket(g, ids[0]), t[0]);
	assert_ptr_equal(garage_ticket(g, ids[1]), t[1]);
	/* The third closed ticket drops the oldest. */
	assert_int_equal(x_exit(g, t[2], gate(g, "south"), TU_T0 + 60, &q), PK_OK);
	assert_null(garage_ticket(g, ids[0]));
	assert_ptr_equal(garage_ticket(g, ids[1]), t[1]);
	assert_ptr_equal(garage_ticket(g, ids[2]), t[2]);
	assert_ptr_equal(garage_ticket(g, ids[3]), t[3]);
	/* Closed oldest first, then inside. */
	memset(&v, 0, sizeof(v));
	garage_each_ticket(g, visit, &v);
	assert_int_equal(v.n, 3);
	assert_ptr_equal(v.t[0], t[1]);
	assert_ptr_equal(v.t[1], t[2]);
	assert_ptr_equal(v.t[2], t[3]);
	assert_int_equal(x_exit(g, t[3], gate(g, "south"), TU_T0 + 60, &q), PK_OK);
	assert_null(garage_ticket(g, ids[1]));
	memset(&v, 0, sizeof(v));
	garage_each_ticket(g, visit, &v);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.t[0]->id, ids[2]);
	assert_string_equal(v.t[1]->id, ids[3]);
	x_free(g);
}

/*
 * keep_closed 0 (limits.closed_tickets may be 0) must not free the ticket
 * that is just leaving: the sink and the caller still read it.
 */
static void
test_retention_zero(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 0);
	struct sink_log log;
	struct ticket *t = enter_ok(g, "Z1", "car", TU_T0);
	char id[UUID_BUFSZ];
	struct garage_quote q;

	(void)state;
	memcpy(id, t->id, UUID_BUFSZ);
	memset(&log, 0, sizeof(log));
	watch(&log);
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 60, &q), PK_OK);
	assert_int_equal(log.n[CHG_EXIT], 1);
	assert_string_equal(log.id[0], id);
	assert_int_equal(log.exited_at[0], TU_T0 + 60);
	/* The caller reads the ticket after a successful exit (proto/methods.c). */
	assert_int_equal(t->state, TICKET_EXITED);
	assert_string_equal(t->id, id);
	assert_int_equal(garage_inside_count(g), 0);
	/* Still bounded: the next exit drops the earlier ticket. */
	t = enter_ok(g, "Z2", "car", TU_T0 + 120);
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 180, &q), PK_OK);
	assert_null(garage_ticket(g, id));
	assert_int_equal(log.n[CHG_EXIT], 2);
	assert_string_equal(log.id[2], t->id);
	x_free(g);
}

/* ---- the sink ---- */

static void
test_sink_each_kind_once(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct sink_log log;
	struct ticket *t, *t2;
	const struct payment *p;
	struct garage_quote q;
	int rep;

	(void)state;
	memset(&log, 0, sizeof(log));
	watch(&log);
	t = enter_ok(g, "S1", "car", TU_T0);
	t2 = enter_ok(g, "S2", "car", TU_T0);
	assert_int_equal(x_lost(g, t2, TU_T0 + 60, &q), PK_OK);
	assert_int_equal(pay(g, t, 300, "x", TU_T0 + HOUR, &p, &rep, &q), PK_OK);
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + HOUR, &q), PK_OK);
	assert_int_equal(x_set_spot_service(g, tu_spot(g, "C-02"), 0), PK_OK);
	x_set_strategy(g, ALLOC_FIRST);
	x_set_tariff(g, tu_tariff("{ 'lost_ticket': 7 }"));

	assert_int_equal(log.total, 8);
	assert_int_equal(log.n[CHG_ENTRY], 2);
	assert_int_equal(log.n[CHG_LOST], 1);
	assert_int_equal(log.n[CHG_PAY], 1);
	assert_int_equal(log.n[CHG_EXIT], 1);
	assert_int_equal(log.n[CHG_SPOT], 1);
	assert_int_equal(log.n[CHG_STRATEGY], 1);
	assert_int_equal(log.n[CHG_TARIFF], 1);
	/* In order, with their details. */
	assert_int_equal(log.kind[2], CHG_LOST);
	assert_ptr_equal(log.t[2], t2);
	assert_int_equal(log.at[2], TU_T0 + 60);
	assert_int_equal(log.kind[3], CHG_PAY);
	assert_ptr_equal(log.pay[3], &t->payments[0]);
	assert_int_equal(log.at[3], TU_T0 + HOUR);
	assert_int_equal(log.kind[4], CHG_EXIT);
	assert_ptr_equal(log.t[4], t);
	assert_int_equal(log.kind[5], CHG_SPOT);
	assert_int_equal(log.spot[5], tu_spot(g, "C-02"));
	assert_int_equal(log.in_service[5], 0);
	assert_null(log.t[5]);
	assert_int_equal(log.kind[6], CHG_STRATEGY);
	assert_int_equal(log.kind[7], CHG_TARIFF);
	assert_int_equal(garage_strategy(g), ALLOC_FIRST);
	assert_int_equal(tariff_lost_fee(garage_tariff(g)), 7);
	/* Back in service reports in_service 1. */
	assert_int_equal(x_set_spot_service(g, tu_spot(g, "C-02"), 1), PK_OK);
	assert_int_equal(log.in_service[8], 1);
	/* Failures report nothing. */
	assert_int_equal(x_set_spot_service(g, 1000, 0), PK_E_INVALID_PARAMS);
	assert_int_equal(enter_at(g, "south", "S3", "car", 0, TU_T0, NULL), PK_E_WRONG_GATE);
	assert_int_equal(log.total, 9);
	/* Without a sink nothing is called (and nothing breaks). */
	watch(NULL);
	enter_ok(g, "S4", "car", TU_T0);
	assert_int_equal(log.total, 9);
	x_free(g);
}

/* ---- restore ---- */

static struct ticket
image(const garage *g, unsigned n, const char *plate, int64_t at)
{
	struct ticket img;

	memset(&img, 0, sizeof(img));
	tu_id(n, img.id);
	snprintf(img.plate, sizeof(img.plate), "%s", plate);
	img.state = TICKET_INSIDE;
	img.cls = facility_class_lookup(garage_facility(g), "car");
	img.entry_gate = gate(g, "north");
	img.exit_gate = -1;
	img.entered_at = at;
	img.peak_milli = 1500;
	img.surge_milli = 1250;
	img.n_spots = 1;
	return img;
}

static void
test_restore_ticket(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct sink_log log;
	struct ticket img = image(g, 500, "R1", TU_T0), *t;
	uint32_t spot = tu_spot(g, "C-02"), bad = 9;
	struct payment pays[2];
	struct garage_quote q;
	char id[UUID_BUFSZ];

	(void)state;
	memset(&log, 0, sizeof(log));
	watch(&log);
	memset(pays, 0, sizeof(pays));
	tu_id(900, pays[0].receipt);
	pays[0].amount = 100;
	pays[0].at = TU_T0 + 200;
	tu_id(901, pays[1].receipt);
	pays[1].amount = 50;
	pays[1].at = TU_T0 + 100;
	img.n_payments = 2;
	img.payments = (struct payment *)(uintptr_t)0x1;	/* must be ignored */
	img.paid = 99999;					/* recomputed */
	assert_int_equal(garage_restore_ticket(g, &img, &spot, pays), PK_OK);
	tu_id(500, id);
	t = garage_ticket(g, id);
	assert_non_null(t);
	assert_ptr_equal(garage_inside(g, "R1"), t);
	assert_int_equal(t->n_spots, 1);
	assert_int_equal(t->spots[0], spot);
	assert_int_equal(t->peak_milli, 1500);
	assert_int_equal(t->surge_milli, 1250);
	assert_int_equal(t->n_payments, 2);
	assert_int_equal(t->paid, 150);
	assert_int_equal(t->last_paid_at, TU_T0 + 200);
	assert_int_equal(t->payments[1].amount, 50);
	assert_int_equal(spot_state(g, "C-02"), ALLOC_SPOT_OCCUPIED);
	assert_int_equal(garage_inside_count(g), 1);
	/* The restored multipliers price the stay: 800 x 1.5 x 1.25 = 1500. */
	garage_quote(g, t, TU_T0 + 2 * HOUR, &q);
	assert_int_equal(q.fee, 1500);

	/* Refusals: duplicate id, plate inside, spot taken, unknown spot, no spots. */
	assert_int_equal(garage_restore_ticket(g, &img, &bad, NULL), PK_E_INVALID_PARAMS);
	img = image(g, 501, "R1", TU_T0);
	assert_int_equal(garage_restore_ticket(g, &img, &bad, NULL), PK_E_INVALID_PARAMS);
	img = image(g, 502, "R2", TU_T0);
	assert_int_equal(garage_restore_ticket(g, &img, &spot, NULL), PK_E_INVALID_PARAMS);
	assert_int_equal(garage_restore_ticket(g, &img, &bad, NULL), PK_E_INVALID_PARAMS);
	img.n_spots = 0;
	assert_int_equal(garage_restore_ticket(g, &img, &spot, NULL), PK_E_INVALID_PARAMS);
	img.n_spots = ALLOC_MAX_SPOTS + 1;
	assert_int_equal(garage_restore_ticket(g, &img, &spot, NULL), PK_E_INVALID_PARAMS);
	tu_id(501, id);
	assert_null(garage_ticket(g, id));
	tu_id(502, id);
	assert_null(garage_ticket(g, id));
	assert_int_equal(garage_inside_count(g), 1);

	/* An exited image joins the closed tickets and takes no spot. */
	img = image(g, 503, "R1", TU_T0);
	img.state = TICKET_EXITED;
	img.exit_gate = gate(g, "south");
	img.exited_at = TU_T0 + HOUR;
	img.charged = 300;
	img.n_payments = 1;
	pays[0].amount = 300;
	assert_int_equal(garage_restore_ticket(g, &img, &spot, pays), PK_OK);
	tu_id(503, id);
	t = garage_ticket(g, id);
	assert_non_null(t);
	assert_int_equal(t->state, TICKET_EXITED);
	assert_int_equal(t->charged, 300);
	assert_int_equal(t->paid, 300);
	assert_int_equal(t->exited_at, TU_T0 + HOUR);
	assert_ptr_not_equal(garage_inside(g, "R1"), t);
	assert_int_equal(garage_inside_count(g), 1);
	assert_int_equal(log.total, 0);
	x_free(g);
}

/* The ticket on a spot follows entries, exits and restores. */
static void
test_on_spot(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *car, *v1, *v2, *bus, *t;
	struct ticket img = image(g, 700, "R7", TU_T0);
	uint32_t spot = tu_spot(g, "A-03");
	struct garage_quote q;
	char id[UUID_BUFSZ];

	(void)state;
	for (uint32_t s = 0; s < 9; s++)
		assert_null(garage_on_spot(g, s));
	assert_null(garage_on_spot(g, 9));
	car = enter_ok(g, "OS 1", "car", TU_T0);
	v1 = enter_ok(g, "OS 2", "van", TU_T0);
	v2 = enter_ok(g, "OS 3", "van", TU_T0);
	bus = enter_ok(g, "OS 4", "bus", TU_T0);
	assert_int_equal(bus->n_spots, 3);
	assert_ptr_equal(garage_on_spot(g, car->spots[0]), car);
	assert_ptr_equal(garage_on_spot(g, v1->spots[0]), v1);
	assert_ptr_equal(garage_on_spot(g, v2->spots[0]), v2);
	for (size_t i = 0; i < 3; i++)
		assert_ptr_equal(garage_on_spot(g, bus->spots[i]), bus);
	assert_int_equal(garage_restore_ticket(g, &img, &spot, NULL), PK_OK);
	tu_id(700, id);
	t = garage_ticket(g, id);
	assert_ptr_equal(garage_on_spot(g, spot), t);

	/* Every occupied spot has its ticket, every other none. */
	for (uint32_t s = 0; s < 9; s++)
		assert_int_equal(garage_on_spot(g, s) != NULL,
		    alloc_spot_state(garage_alloc(g), s) == ALLOC_SPOT_OCCUPIED);

	assert_int_equal(x_exit(g, bus, gate(g, "south"), TU_T0 + 60, &q), PK_OK);
	for (size_t i = 0; i < 3; i++)
		assert_null(garage_on_spot(g, bus->spots[i]));
	assert_int_equal(garage_restore_exit(g, t, gate(g, "south"), TU_T0 + 60), PK_OK);
	assert_null(garage_on_spot(g, spot));
	assert_ptr_equal(garage_on_spot(g, car->spots[0]), car);
	x_free(g);
}

static void
test_restore_exit_pay_lost_tariff(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 1);
	struct sink_log log;
	struct ticket img = image(g, 600, "R1", TU_T0), *t;
	uint32_t spot = tu_spot(g, "B-03");
	struct payment p;
	char id[UUID_BUFSZ];

	(void)state;
	memset(&log, 0, sizeof(log));
	watch(&log);
	assert_int_equal(garage_restore_ticket(g, &img, &spot, NULL), PK_OK);
	tu_id(600, id);
	t = garage_ticket(g, id);
	assert_non_null(t);

	garage_restore_lost(g, t, TU_T0 + 10);
	garage_restore_lost(g, t, TU_T0 + 20);
	assert_int_equal(t->lost, 1);
	assert_int_equal(t->lost_at, TU_T0 + 10);

	/* Payments are facts: taken as they are, no amount check. */
	memset(&p, 0, sizeof(p));
	tu_id(700, p.receipt);
	p.amount = 4321;
	p.at = TU_T0 + 30;
	assert_int_equal(garage_restore_pay(g, t, &p), PK_OK);
	p.amount = 1;
	p.at = TU_T0 + 25;
	assert_int_equal(garage_restore_pay(g, t, &p), PK_OK);
	assert_int_equal(t->paid, 4322);
	assert_int_equal(t->n_payments, 2);
	assert_int_equal(t->last_paid_at, TU_T0 + 30);

	/* Exit: charged what was paid, spot released, by id only. */
	assert_int_equal(garage_restore_exit(g, t, gate(g, "south"), TU_T0 + 40), PK_OK);
	assert_int_equal(t->state, TICKET_EXITED);
	assert_int_equal(t->exit_gate, gate(g, "south"));
	assert_int_equal(t->exited_at, TU_T0 + 40);
	assert_int_equal(t->charged, 4322);
	assert_int_equal(spot_state(g, "B-03"), ALLOC_SPOT_FREE);
	assert_null(garage_inside(g, "R1"));
	assert_ptr_equal(garage_ticket(g, id), t);
	assert_int_equal(garage_restore_exit(g, t, gate(g, "south"), TU_T0 + 50),
	    PK_E_INVALID_PARAMS);

	assert_int_equal(garage_restore_tariff(g, tu_tariff("{ 'grace_minutes': 1 }"), 0), PK_OK);
	assert_int_equal(tariff_grace_s(garage_tariff(g)), 60);
	assert_int_equal(log.total, 0);
	x_free(g);
}

/* A ticket restored onto a spot that is out of service keeps both facts. */
static void
test_restore_onto_out_of_service_spot(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket img = image(g, 800, "R1", TU_T0), *t;
	uint32_t spot = tu_spot(g, "B-02");
	struct garage_quote q;
	char id[UUID_BUFSZ];

	(void)state;
	assert_int_equal(x_set_spot_service(g, spot, 0), PK_OK);
	assert_int_equal(spot_state(g, "B-02"), ALLOC_SPOT_OUT_OF_SERVICE);
	assert_int_equal(garage_restore_ticket(g, &img, &spot, NULL), PK_OK);
	assert_int_equal(spot_state(g, "B-02"), ALLOC_SPOT_OCCUPIED);
	assert_int_equal(alloc_spot_pending_out_of_service(garage_alloc(g), spot), 1);
	tu_id(800, id);
	t = garage_ticket(g, id);
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 60, &q), PK_OK);
	assert_int_equal(spot_state(g, "B-02"), ALLOC_SPOT_OUT_OF_SERVICE);
	x_free(g);
}


/* Lost within the grace after a payment still owes the lost-ticket fee. */
static void
test_lost_within_grace(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *t = enter_ok(g, "LG1", "car", TU_T0);
	const struct payment *p = NULL;
	struct garage_quote q;
	int rep = -1;

	(void)state;
	garage_quote(g, t, TU_T0 + 61 * MIN, &q);
	assert_int_equal(q.due, 800);
	assert_int_equal(pay(g, t, 800, NULL, TU_T0 + 61 * MIN, &p, &rep, &q), PK_OK);
	assert_int_equal(x_lost(g, t, TU_T0 + 65 * MIN, &q), PK_OK);
	assert_int_equal(q.fee, tariff_lost_fee(garage_tariff(g)));
	assert_int_equal(q.due, tariff_lost_fee(garage_tariff(g)) - 800);
	assert_int_equal(x_exit(g, t, gate(g, "south"), TU_T0 + 70 * MIN, &q),
	    PK_E_PAYMENT_REQUIRED);
	assert_int_equal(q.due, tariff_lost_fee(garage_tariff(g)) - 800);
	x_free(g);
}

/* No waitlist and no reservation book in the garage yet: nobody waits or reserves. */
static void
test_waitlist_and_reservations_empty(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct resbook_counts c;

	(void)state;
	memset(&c, 0xff, sizeof(c));
	garage_reservation_counts(g, &c);
	assert_int_equal(c.total, 0);
	assert_int_equal(c.active, 0);
	for (int i = 0; i < RESV__NSTATES; i++)
		assert_int_equal(c.by_state[i], 0);
	assert_int_equal(garage_waitlist_depth(g), 0);
	garage_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_issues_ticket),
		cmocka_unit_test(test_entry_wrong_gate),
		cmocka_unit_test(test_entry_plate_inside),
		cmocka_unit_test(test_entry_best_fit_order_and_lot_full),
		cmocka_unit_test(test_entry_needs_and_vans),
		cmocka_unit_test(test_entry_bus_contiguous),
		cmocka_unit_test(test_entry_strategies),
		cmocka_unit_test(test_entry_surge_fixed),
		cmocka_unit_test(test_entry_peak_fixed),
		cmocka_unit_test(test_entry_peak_local_time),
		cmocka_unit_test(test_quote_amounts),
		cmocka_unit_test(test_quote_class_multiplier_and_cap),
		cmocka_unit_test(test_quote_lost),
		cmocka_unit_test(test_quote_grace_after_payment),
		cmocka_unit_test(test_pay_amount_mismatch),
		cmocka_unit_test(test_pay_idempotent_reference),
		cmocka_unit_test(test_pay_without_reference),
		cmocka_unit_test(test_exit),
		cmocka_unit_test(test_exit_before_entry_refused),
		cmocka_unit_test(test_exit_releases_pending_out_of_service),
		cmocka_unit_test(test_retention_limit),
		cmocka_unit_test(test_retention_zero),
		cmocka_unit_test(test_sink_each_kind_once),
		cmocka_unit_test(test_restore_ticket),
		cmocka_unit_test(test_on_spot),
		cmocka_unit_test(test_restore_exit_pay_lost_tariff),
		cmocka_unit_test(test_restore_onto_out_of_service_spot),
		cmocka_unit_test(test_lost_within_grace),
		cmocka_unit_test(test_waitlist_and_reservations_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
