/* test_resbook_model.c - randomized comparison of the reservation book with a brute-force model of capacity.md "Reservations". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resbook.h"
#include "rng.h"

/* ---- a deterministic generator, so that a failing seed reproduces ---- */

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
 * ---- the model: plain arrays, one counter per instant and type ----
 *
 * Time runs from B over D seconds; the windows are short (hold 7 s, no-show
 * 11 s after from) so that footprints overlap a lot and every instant can
 * be counted.
 */

#define B ((int64_t)1795392000)
#define D 16384
#define NTYPES 3
#define HB 7
#define NS 11
#define MAXR 8192
#define NSPOTS 8
#define NPLATES 6

struct mres {
	char id[UUID_BUFSZ];
	char plate[PLATE_BUFSZ];
	char ticket[UUID_BUFSZ];
	int type;
	uint32_t units, spot, max_spots, n_held;
	uint32_t held[4];
	int64_t from, to, hold_at, no_show_at, created_at, changed_at;
	enum resv_state state;
	int alive;		/* not forgotten */
	int hold_popped, ns_popped;
};

struct model {
	struct mres r[MAXR];
	size_t n;
	int booked[NTYPES][D];
	int64_t now;
};

static struct model M;
static resbook *rb;
static unsigned long seq;
/* Caps are drawn from 0 .. cap_span - 1: small ones keep the book full. */
static uint32_t cap_span = 6;

/* How often each path was compared: a run must reach all of them. */
static unsigned long seen_ok, seen_cap, seen_spot, seen_invalid, seen_hold,
    seen_noshow, seen_owed_served, seen_arrival, seen_pages, seen_forgot,
    seen_restore, seen_cancel_finished, seen_full;

static const struct resbook_config cfg = {
	.ntypes = NTYPES, .hold_before_s = HB, .no_show_after_s = NS,
	.max_hours = 1, .horizon_days = 1,
};

static int
m_active(const struct mres *m)
{
	return m->alive && resv_state_active(m->state);
}

static void
m_book(const struct mres *m, int sign)
{
	for (int64_t t = m->hold_at; t < m->to; t++)
		M.booked[m->type][t - B] += sign * (int)m->units;
}

/* (from, id) order, as the listing sorts. */
static int
m_cmp_list(const void *a, const void *b)
{
	const struct mres *x = *(const struct mres *const *)a;
	const struct mres *y = *(const struct mres *const *)b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return strcmp(x->id, y->id);
}

static void
new_id(char out[UUID_BUFSZ])
{
	unsigned long n = ++seq;

	/* Scrambled high part: id order unrelated to creation order. */
	snprintf(out, UUID_BUFSZ, "%08lx-0000-7000-8000-%012lx",
	    (n * 2654435761UL) & 0xffffffffUL, n);
}

/* The whole record agrees with the model. */
static void
check_record(const struct mres *m)
{
	struct resv *r = resbook_get(rb, m->id);

	if (r == NULL)
		fail_msg("%s missing", m->id);
	assert_int_equal(r->state, m->state);
	assert_string_equal(r->plate, m->plate);
	assert_string_equal(r->ticket, m->ticket);
	assert_int_equal(r->type, m->type);
	assert_int_equal(r->units, m->units);
	assert_int_equal(r->spot, m->spot);
	assert_int_equal(r->from, m->from);
	assert_int_equal(r->to, m->to);
	assert_int_equal(r->hold_at, m->hold_at);
	assert_int_equal(r->no_show_at, m->no_show_at);
	assert_int_equal(r->created_at, m->created_at);
	assert_int_equal(r->changed_at, m->changed_at);
	assert_int_equal(r->n_held, m->n_held);
	assert_memory_equal(r->held, m->held, m->n_held * sizeof(m->held[0]));
}

static void
check_all(void)
{
	struct resbook_counts c, mc;

	memset(&mc, 0, sizeof(mc));
	for (size_t i = 0; i < M.n; i++) {
		if (!M.r[i].alive)
			continue;
		check_record(&M.r[i]);
		mc.by_state[M.r[i].state]++;
		mc.total++;
	}
	mc.held = mc.by_state[RESV_HELD];
	mc.owed = mc.by_state[RESV_OWED];
	mc.active = mc.by_state[RESV_BOOKED] + mc.held + mc.owed;
	resbook_counts(rb, &c);
	assert_memory_equal(&c, &mc, sizeof(c));
}

/* ---- operations ---- */

static void
op_reserve(void)
{
	struct mres m;
	struct resbook_reserve_in in;
	struct resbook_why why = { NULL, 0 };
	struct resv *r = NULL;
	pk_err e, me = PK_OK;
	int64_t at = INT64_MAX;
	uint32_t cap = rnd(cap_span);
	uint32_t x = rnd(100);

	memset(&m, 0, sizeof(m));
	new_id(m.id);
	snprintf(m.plate, sizeof(m.plate), "P%u", rnd(NPLATES));
	m.type = (int)rnd(NTYPES);
	m.units = 1 + rnd(3);
	m.max_spots = m.units + rnd(2);
	m.spot = rnd(2) ? rnd(NSPOTS) : RESV_NO_SPOT;
	m.from = M.now + (int64_t)rnd(300) - 3;
	m.to = m.from + (int64_t)rnd(120) - 2;
	if (x == 0)
		m.to = m.from + 3601;		/* longer than max_hours */
	else if (x == 1)
		m.to = m.from + 3600;		/* exactly max_hours */
	if (x == 2) {
		m.from = M.now + 86401;		/* beyond the horizon */
		m.to = m.from + 10;
	}
	m.hold_at = m.from - HB;
	m.no_show_at = m.from + NS;
	m.created_at = m.changed_at = M.now;
	m.state = RESV_BOOKED;
	m.alive = 1;

	in.id = m.id;
	in.plate = m.plate;
	in.cls = in.gate = 0;
	in.needs = 0;
	in.spot = m.spot;
	in.from = m.from;
	in.to = m.to;
	in.type = m.type;
	in.units = m.units;
	in.max_spots = m.max_spots;
	in.cap = cap;
	in.now = M.now;
	e = resbook_reserve(rb, &in, &r, &why);

	/* The rules, written plainly. */
	if (m.from < M.now || m.to <= m.from || m.to - m.from > 3600 ||
	    m.from - M.now > 86400)
		me = PK_E_INVALID_PARAMS;
	else if (m.to - B >= D)
		fail_msg("model domain too small");
	else {
		int64_t at_cap = INT64_MAX, at_spot = INT64_MAX;
		for (int64_t t = m.hold_at; t < m.to; t++)
			if (M.booked[m.type][t - B] + (int)m.units > (int)cap) {
				at_cap = t;
				break;
			}
		if (m.spot != RESV_NO_SPOT)
			for (size_t i = 0; i < M.n; i++) {
				const struct mres *o = &M.r[i];
				if (!m_active(o) || o->spot != m.spot ||
				    !(o->hold_at < m.to && m.hold_at < o->to))
					continue;
				int64_t first = o->hold_at > m.hold_at ? o->hold_at :
				    m.hold_at;
				if (first < at_spot)
					at_spot = first;
			}
		at = at_cap < at_spot ? at_cap : at_spot;
		if (at != INT64_MAX) {
			me = PK_E_RESERVATION_CONFLICT;
			if (at_spot < at_cap)
				seen_spot++;
			else
				seen_cap++;
		}
	}
	if (e != me)
		fail_msg("reserve [%lld, %lld) type %d units %u cap %u spot %d "
		    "now %lld: book %s (%s), model %s", (long long)(m.from - B),
		    (long long)(m.to - B), m.type, m.units, cap, (int)m.spot,
		    (long long)(M.now - B), pk_err_reason(e), why.msg,
		    pk_err_reason(me));
	if (e == PK_E_RESERVATION_CONFLICT && why.at != at)
		fail_msg("conflict at %lld, model %lld", (long long)(why.at - B),
		    (long long)(at - B));
	if (e == PK_E_INVALID_PARAMS)
		seen_invalid++;
	if (e != PK_OK) {
		assert_null(r);
		return;
	}
	assert_true(M.n < MAXR);
	M.r[M.n++] = m;
	m_book(&m, +1);
	seen_ok++;
	check_record(&m);
}

static void
m_finish(struct mres *m, enum resv_state s)
{
	m_book(m, -1);
	m->state = s;
	m->changed_at = M.now;
}

/* A popped or served hold: held with random spots, owed, or (rarely) left. */
static void
apply_hold(struct mres *m, int allow_skip)
{
	struct resv *r = resbook_get(rb, m->id);
	uint32_t x = rnd(100);

	if (x < 70 || m->state == RESV_OWED) {
		uint32_t spots[4];
		uint32_t n = 1 + rnd(m->max_spots);
		for (uint32_t i = 0; i < n; i++)
			spots[i] = rnd(1000);
		assert_int_equal(resbook_mark_held(rb, r, spots, n, M.now), PK_OK);
		m->state = RESV_HELD;
		m->changed_at = M.now;
		m->n_held = n;
		memcpy(m->held, spots, n * sizeof(spots[0]));
	} else if (x < 95 || !allow_skip) {
		assert_int_equal(resbook_mark_owed(rb, r, M.now), PK_OK);
		m->state = RESV_OWED;
		m->changed_at = M.now;
	}
}

/* The model's earliest pending timer due by `by`: its record and kind. */
static struct mres *
m_next_due(int64_t by, int *kind, int64_t *at)
{
	struct mres *best = NULL;
	int bk = 0;
	int64_t bt = 0;

	for (size_t i = 0; i < M.n; i++) {
		struct mres *m = &M.r[i];
		for (int k = 0; k < 2; k++) {
			int64_t t;
			if (k == RESBOOK_DUE_HOLD) {
				if (!m->alive || m->state != RESV_BOOKED || m->hold_popped)
					continue;
				t = m->hold_at;
			} else {
				if (!m_active(m) || m->ns_popped)
					continue;
				t = m->no_show_at;
			}
			if (t > by)
				continue;
			if (best == NULL || t < bt || (t == bt && (k < bk ||
			    (k == bk && strcmp(m->id, best->id) < 0)))) {
				best = m;
				bk = k;
				bt = t;
			}
		}
	}
	*kind = bk;
	*at = bt;
	return best;
}

/* Time passes; the due timers are taken in order and applied. */
static void
op_advance(void)
{
	struct resbook_due d;
	int64_t at, mat;
	int kind, has;
	struct mres *m;

	M.now += rnd(4);
	for (;;) {
		int got = resbook_pop_due(rb, M.now, &d);
		m = m_next_due(M.now, &kind, &mat);
		assert_int_equal(got, m != NULL);
		if (!got)
			break;
		if (strcmp(d.r->id, m->id) != 0 || (int)d.kind != kind || d.at != mat)
			fail_msg("due: book %s %d at %lld, model %s %d at %lld",
			    d.r->id, d.kind, (long long)(d.at - B), m->id, kind,
			    (long long)(mat - B));
		if (kind == RESBOOK_DUE_HOLD) {
			m->hold_popped = 1;
			apply_hold(m, 1);
			seen_hold++;
		} else {
			m->ns_popped = 1;
			assert_int_equal(resbook_mark_no_show(rb, d.r, M.now), PK_OK);
			m_finish(m, RESV_NO_SHOW);
			seen_noshow++;
		}
	}
	has = resbook_next_due(rb, &at);
	m = m_next_due(INT64_MAX, &kind, &mat);
	assert_int_equal(has, m != NULL);
	if (has)
		assert_int_equal(at, mat);
}

static void
op_arrival(void)
{
	char plate[PLATE_BUFSZ];
	int64_t lead = rnd(3) == 0 ? (int64_t)rnd(20) : (rnd(2) ? HB : 0);
	struct mres *best = NULL;
	struct resv *r;

	snprintf(plate, sizeof(plate), "P%u", rnd(NPLATES));
	for (size_t i = 0; i < M.n; i++) {
		struct mres *m = &M.r[i];
		if (!m_active(m) || strcmp(m->plate, plate) != 0)
			continue;
		if (best == NULL || m->hold_at < best->hold_at ||
		    (m->hold_at == best->hold_at && strcmp(m->id, best->id) < 0))
			best = m;
	}
	if (best != NULL && best->hold_at > M.now + lead)
		best = NULL;
	r = resbook_arrival(rb, plate, M.now, lead);
	if (best == NULL) {
		assert_null(r);
		return;
	}
	assert_non_null(r);
	assert_string_equal(r->id, best->id);
	seen_arrival++;
	if (rnd(2)) {
		char ticket[UUID_BUFSZ];
		new_id(ticket);
		assert_int_equal(resbook_mark_used(rb, r, ticket, M.now), PK_OK);
		m_finish(best, RESV_USED);
		memcpy(best->ticket, ticket, sizeof(ticket));
	}
}

static void
op_cancel(void)
{
	struct mres *m;
	struct resv *r;
	int changed = -1, was;

	if (M.n == 0)
		return;
	m = &M.r[rnd((uint32_t)M.n)];
	if (!m->alive)
		return;
	r = resbook_get(rb, m->id);
	was = m_active(m);
	assert_int_equal(resbook_cancel(rb, r, M.now, &changed), PK_OK);
	assert_int_equal(changed, was);
	if (was)
		m_finish(m, RESV_CANCELLED);
	else
		seen_cancel_finished++;
	assert_int_equal(r->state, m->state);
}

static int
m_cmp_owed(const void *a, const void *b)
{
	const struct mres *x = *(const struct mres *const *)a;
	const struct mres *y = *(const struct mres *const *)b;

	if (x->hold_at != y->hold_at)
		return x->hold_at < y->hold_at ? -1 : 1;
	return strcmp(x->id, y->id);
}

static struct mres *sorted[MAXR];

/* The owed queue in order; sometimes a freed spot serves its head. */
static void
op_owed(void)
{
	size_t n = 0, k = 0;
	struct resv *r;

	for (size_t i = 0; i < M.n; i++)
		if (M.r[i].alive && M.r[i].state == RESV_OWED)
			sorted[n++] = &M.r[i];
	qsort(sorted, n, sizeof(sorted[0]), m_cmp_owed);
	for (r = resbook_owed_first(rb); r != NULL; r = resbook_owed_next(rb, r)) {
		assert_true(k < n);
		assert_string_equal(r->id, sorted[k]->id);
		k++;
	}
	assert_int_equal(k, n);
	if (n > 0 && rnd(2)) {
		apply_hold(sorted[0], 0);
		seen_owed_served++;
	}
}

static void
op_forget(void)
{
	int64_t keep = rnd(60);
	size_t max = rnd(4), n = 0, want;

	for (size_t i = 0; i < M.n; i++) {
		struct mres *m = &M.r[i];
		if (m->alive && !resv_state_active(m->state) &&
		    m->changed_at <= M.now - keep)
			sorted[n++] = m;
	}
	/* Oldest change first, ties by id. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0; j--) {
			struct mres *a = sorted[j - 1], *b = sorted[j];
			if (a->changed_at < b->changed_at ||
			    (a->changed_at == b->changed_at && strcmp(a->id, b->id) < 0))
				break;
			sorted[j - 1] = b;
			sorted[j] = a;
		}
	want = max == 0 || max > n ? n : max;
	assert_int_equal(resbook_forget(rb, M.now, keep, max), want);
	for (size_t i = 0; i < want; i++) {
		assert_null(resbook_get(rb, sorted[i]->id));
		sorted[i]->alive = 0;
	}
	seen_forgot += want;
}

static void op_random_change(void);

/*
 * A listing with random filters, page by page (at most 6), with changes
 * between pages: each page must be what the model holds after the cursor
 * at that moment.
 */
static void
op_list(void)
{
	struct resbook_query q = { 0 };
	struct resv *items[8];
	char cur[RESBOOK_CURSOR_BUFSZ] = "";
	int64_t lfrom = 0;
	char lid[UUID_BUFSZ] = "";
	int have_last = 0;

	q.limit = 1 + rnd(7);
	if (rnd(2)) {
		q.has_state = 1;
		q.state = (enum resv_state)rnd(RESV__NSTATES);
	}
	if (rnd(2)) {
		q.has_from = 1;
		q.from = M.now + (int64_t)rnd(200) - 100;
	}
	if (rnd(2)) {
		q.has_to = 1;
		q.to = M.now + (int64_t)rnd(300) - 50;
	}
	for (int page = 0; page < 6; page++) {
		size_t n, mn = 0, want;
		q.cursor = cur;
		assert_int_equal(resbook_list(rb, &q, items, &n, cur), PK_OK);
		for (size_t i = 0; i < M.n; i++) {
			struct mres *m = &M.r[i];
			if (!m->alive || (q.has_state && m->state != q.state) ||
			    (q.has_from && m->from < q.from) ||
			    (q.has_to && m->from >= q.to))
				continue;
			if (have_last && (m->from < lfrom ||
			    (m->from == lfrom && strcmp(m->id, lid) <= 0)))
				continue;
			sorted[mn++] = m;
		}
		qsort(sorted, mn, sizeof(sorted[0]), m_cmp_list);
		want = mn < q.limit ? mn : q.limit;
		assert_int_equal(n, want);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(items[i]->id, sorted[i]->id);
		seen_pages++;
		if (mn <= q.limit) {
			assert_string_equal(cur, "");
			return;
		}
		assert_true(cur[0] != '\0');
		lfrom = items[n - 1]->from;
		memcpy(lid, items[n - 1]->id, sizeof(lid));
		have_last = 1;
		/* Changes between pages. */
		for (uint32_t k = rnd(4); k > 0; k--)
			op_random_change();
	}
}

static void
op_capacity(void)
{
	int type = (int)rnd(NTYPES);
	int64_t a = M.now + (int64_t)rnd(400) - 20, b = a + (int64_t)rnd(150) - 5;
	uint32_t units = 1 + rnd(3), cap = rnd(7);
	int64_t mx = 0, at = 0, mat = INT64_MAX;
	int over;

	assert_int_equal(resbook_booked_at(rb, type, a), M.booked[type][a - B]);
	for (int64_t t = a; t < b; t++) {
		if (M.booked[type][t - B] > mx)
			mx = M.booked[type][t - B];
		if (mat == INT64_MAX && M.booked[type][t - B] + (int)units > (int)cap)
			mat = t;
	}
	assert_int_equal(resbook_booked_max(rb, type, a, b), mx);
	over = resbook_first_over(rb, type, a, b, units, cap, &at);
	assert_int_equal(over, mat != INT64_MAX);
	if (over)
		assert_int_equal(at, mat);
	if (mx >= 5)
		seen_full++;
}

struct snap {
	const struct resv **r;
	size_t n;
};

static void
snap_fn(void *ud, const struct resv *r)
{
	struct snap *s = ud;

	s->r[s->n++] = r;
}

/* A restart: the book rebuilt from its records. */
static void
op_restore(void)
{
	struct snap s = { calloc(MAXR, sizeof(*s.r)), 0 };
	resbook *nb;

	assert_non_null(s.r);
	nb = resbook_new(&cfg);
	assert_non_null(nb);
	resbook_each(rb, snap_fn, &s);
	/* Restore in a shuffled order: nothing may depend on it. */
	for (size_t i = s.n; i > 1; i--) {
		size_t j = rnd((uint32_t)i);
		const struct resv *t = s.r[i - 1];
		s.r[i - 1] = s.r[j];
		s.r[j] = t;
	}
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(resbook_restore(nb, s.r[i], NULL), PK_OK);
	free(s.r);
	resbook_free(rb);
	rb = nb;
	/* A booked record gets its hold timer back. */
	for (size_t i = 0; i < M.n; i++)
		if (M.r[i].alive && M.r[i].state == RESV_BOOKED)
			M.r[i].hold_popped = 0;
	seen_restore++;
	check_all();
}

static void
op_random_change(void)
{
	uint32_t r = rnd(10);

	if (r < 5)
		op_reserve();
	else if (r < 7)
		op_cancel();
	else if (r < 8)
		op_forget();
	else
		op_advance();
}

static void
run_seed(uint64_t seed, int ops)
{
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	memset(&M, 0, sizeof(M));
	M.now = B + 20;
	rb = resbook_new(&cfg);
	assert_non_null(rb);
	for (int op = 0; op < ops; op++) {
		uint32_t r = rnd(100);
		if (r < 40)
			op_reserve();
		else if (r < 60)
			op_advance();
		else if (r < 68)
			op_arrival();
		else if (r < 74)
			op_cancel();
		else if (r < 79)
			op_owed();
		else if (r < 82)
			op_forget();
		else if (r < 87)
			op_list();
		else if (r < 97)
			op_capacity();
		else if (r < 99)
			check_all();
		else if (rnd(4) == 0)
			op_restore();
	}
	/* Run out the clock: every timer fires, in order. */
	for (int k = 0; k < 400; k++)
		op_advance();
	check_all();
	resbook_free(rb);
	rb = NULL;
}

static void
check_coverage(void)
{
	print_message("compared: %lu booked, %lu capacity and %lu spot conflicts, "
	    "%lu invalid; %lu holds, %lu no-shows, %lu owed served, %lu arrivals,"
	    " %lu pages, %lu forgotten, %lu restores, %lu cancels of finished,"
	    " %lu full windows\n", seen_ok, seen_cap, seen_spot, seen_invalid,
	    seen_hold, seen_noshow, seen_owed_served, seen_arrival, seen_pages,
	    seen_forgot, seen_restore, seen_cancel_finished, seen_full);
	assert_true(seen_ok > 1000);
	assert_true(seen_cap > 1000);
	assert_true(seen_spot > 100);
	assert_true(seen_invalid > 100);
	assert_true(seen_hold > 1000);
	assert_true(seen_noshow > 500);
	assert_true(seen_owed_served > 100);
	assert_true(seen_arrival > 100);
	assert_true(seen_pages > 1000);
	assert_true(seen_forgot > 100);
	assert_true(seen_restore > 5);
	assert_true(seen_cancel_finished > 50);
	assert_true(seen_full > 50);
	seen_ok = seen_cap = seen_spot = seen_invalid = seen_hold = seen_noshow =
	    seen_owed_served = seen_arrival = seen_pages = seen_forgot =
	    seen_restore = seen_cancel_finished = seen_full = 0;
}

/* Small caps: most requests conflict, at many different instants. */
static void
test_model_full(void **state)
{
	(void)state;
	cap_span = 6;
	for (uint64_t seed = 1; seed <= 24; seed++)
		run_seed(seed, 5000);
	check_coverage();
}

/* Large caps: hundreds of reservations active at once, deeper trees. */
static void
test_model_wide(void **state)
{
	(void)state;
	cap_span = 400;
	for (uint64_t seed = 101; seed <= 108; seed++)
		run_seed(seed, 8000);
	check_coverage();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_full),
		cmocka_unit_test(test_model_wide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
