/* test_capacity_model.c - randomized comparison of the waitlist and reservations in the garage with a brute-force model of capacity.md. */
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
#include "rng.h"

/*
 * The garage: row 0 A-01..A-03 regular, row 1 A-04..A-06 regular with ev,
 * row 2 B-01, B-02 oversized.  Cars fit regular; vans oversized, then
 * regular; a coach needs two adjacent regular spots.  Strategy first: the
 * lowest spot in order, which the model can say plainly.
 */
#define FAC \
    "{ 'name': 'Model', 'timezone': 'UTC', 'currency': 'EUR', 'level_distance': 40," \
    "  'gates': [ { 'id': 'north', 'role': 'entry', 'level': 0, 'x': 0, 'y': 0 }," \
    "             { 'id': 'south', 'role': 'exit', 'level': 0, 'x': 100, 'y': 0 } ]," \
    "  'rows': [ { 'level': 0, 'zone': 'A', 'type': 'regular', 'count': 3, 'x': 10, 'y': 0, 'dx': 10, 'dy': 0 }," \
    "            { 'level': 0, 'zone': 'A', 'type': 'regular', 'count': 3, 'x': 10, 'y': 10, 'dx': 10, 'dy': 0, 'first': 4, 'tags': ['ev'] }," \
    "            { 'level': 0, 'zone': 'B', 'type': 'oversized', 'count': 2, 'x': 10, 'y': 20, 'dx': 10, 'dy': 0 } ] }"
#define VEH \
    "{ 'car': { 'fits': ['regular'] }, 'van': { 'fits': ['oversized', 'regular'] }," \
    "  'coach': { 'fits': [], 'contiguous': { 'type': 'regular', 'count': 2 } } }"

#define NSPOTS 8
#define MAXV 64		/* plates P0..P63 */
#define MAXW 4096
#define MAXR 4096
#define HOLD_BEFORE 60
#define NO_SHOW_AFTER 40
#define MAX_TIMEOUT 300
#define MAX_DEPTH 5
#define MAX_HOURS 1
#define HORIZON_DAYS 1

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

/* ---- the model, written plainly from capacity.md and config.md ---- */

enum m_spot { M_FREE, M_OCC, M_OOS, M_HELD };

static const int spot_type[NSPOTS] = { 0, 0, 0, 0, 0, 0, 1, 1 };	/* regular, oversized */
static const int spot_row[NSPOTS] = { 0, 0, 0, 1, 1, 1, 2, 2 };
static const uint64_t spot_tags[NSPOTS] = { 0, 0, 0, 1, 1, 1, 0, 0 };
enum { CAR, VAN, COACH, NCLS };

struct m_vehicle {
	int inside;
	uint32_t spots[2];
	size_t n;
};

struct m_wait {
	char id[UUID_BUFSZ];
	int plate, cls;
	uint64_t needs;
	enum waitlist_state state;
	uint64_t seq;
	int64_t queued_at, expires_at;
};

struct m_resv {
	char id[UUID_BUFSZ];
	int plate, cls;
	uint64_t needs;
	int spot;		/* -1: none */
	int type;
	uint32_t units;
	int64_t from, to, hold_at, no_show_at, changed_at;
	enum resv_state state;
	uint32_t held[2];
	size_t n_held;
	int hold_popped;	/* its hold timer has run */
};

struct model {
	enum m_spot st[NSPOTS];
	int pending[NSPOTS];
	struct m_vehicle v[MAXV];
	struct m_wait w[MAXW];
	size_t nw;
	uint64_t next_seq;
	struct m_resv r[MAXR];
	size_t nr;
};

static struct model M;

static int
choose(int cls, uint64_t needs, uint32_t *out, size_t *n)
{
	static const int fits[NCLS][2] = { { 0, -1 }, { 1, 0 }, { -1, -1 } };

	for (int k = 0; k < 2 && fits[cls][k] >= 0; k++) {
		for (uint32_t s = 0; s < NSPOTS; s++) {
			if (M.st[s] == M_FREE && spot_type[s] == fits[cls][k] &&
			    (spot_tags[s] & needs) == needs) {
				out[0] = s;
				*n = 1;
				return 1;
			}
		}
	}
	if (cls == COACH) {
		for (uint32_t s = 0; s + 1 < NSPOTS; s++) {
			int ok = 1;

			for (uint32_t i = s; i < s + 2; i++)
				ok &= M.st[i] == M_FREE && spot_type[i] == 0 &&
				    spot_row[i] == spot_row[s] &&
				    (spot_tags[i] & needs) == needs;
			if (ok) {
				out[0] = s;
				out[1] = s + 1;
				*n = 2;
				return 1;
			}
		}
	}
	*n = 0;
	return 0;
}

static int64_t
mx(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static void
release_spot(uint32_t s)
{
	M.st[s] = M.pending[s] ? M_OOS : M_FREE;
	M.pending[s] = 0;
}

static int
active(const struct m_resv *r)
{
	return r->state == RESV_BOOKED || r->state == RESV_HELD ||
	    r->state == RESV_OWED;
}

/* The spots a hold of r takes now: its own spot if free, else the strategy's. */
static int
hold_choose(const struct m_resv *r, uint32_t *sp, size_t *n)
{
	if (r->spot >= 0 && M.st[r->spot] == M_FREE) {
		sp[0] = (uint32_t)r->spot;
		*n = 1;
		return 1;
	}
	return choose(r->cls, r->needs, sp, n);
}

static void
hold_on(struct m_resv *r, const uint32_t *sp, size_t n, int64_t at)
{
	for (size_t i = 0; i < n; i++) {
		M.st[sp[i]] = M_HELD;
		r->held[i] = sp[i];
	}
	r->n_held = n;
	r->state = RESV_HELD;
	r->changed_at = at;
}

static void
release_hold(struct m_resv *r)
{
	if (r->state != RESV_HELD)
		return;
	for (size_t i = 0; i < r->n_held; i++)
		release_spot(r->held[i]);
}

static void
cancel_waiting_of(int plate)
{
	for (size_t i = 0; i < M.nw; i++)
		if (M.w[i].plate == plate && M.w[i].state == WAITLIST_WAITING)
			M.w[i].state = WAITLIST_CANCELLED;
}

static void
park(int plate, const uint32_t *sp, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		M.st[sp[i]] = M_OCC;
		M.v[plate].spots[i] = sp[i];
	}
	M.v[plate].n = n;
	M.v[plate].inside = 1;
}

static struct m_resv *arrival(int plate, int64_t at);
static int arrival_spots(const struct m_resv *r, int cls, uint64_t needs,
    uint32_t *sp, size_t *n);

/* The waiting entry w drives in at time at, as an entry would. */
static void
m_assign(struct m_wait *w, int64_t at)
{
	struct m_resv *r = arrival(w->plate, mx(at, w->queued_at));
	uint32_t sp[2];
	size_t n;

	if (r != NULL && arrival_spots(r, w->cls, w->needs, sp, &n)) {
		park(w->plate, sp, n);
		r->state = RESV_USED;
		r->changed_at = mx(at, w->queued_at);
	} else {
		assert_true(choose(w->cls, w->needs, sp, &n));
		park(w->plate, sp, n);
	}
	w->state = WAITLIST_ASSIGNED;
}

/* A hold begins; its vehicle, if waiting at a gate, drives in on it. */
static void
m_hold(struct m_resv *r, const uint32_t *sp, size_t n, int64_t at)
{
	struct m_wait *w = NULL;

	hold_on(r, sp, n, at);
	for (size_t i = 0; i < M.nw; i++)
		if (M.w[i].plate == r->plate && M.w[i].state == WAITLIST_WAITING)
			w = &M.w[i];
	if (w != NULL)
		m_assign(w, at);
}

/* The order of claims: owed holds by (hold_at, id), then waiting by arrival. */
static void
serve(int64_t at)
{
	for (;;) {
		struct m_resv *best = NULL;
		struct m_wait *first = NULL;
		uint32_t sp[2];
		size_t n;

		for (size_t i = 0; i < M.nr; i++) {
			struct m_resv *r = &M.r[i];

			if (r->state != RESV_OWED || !hold_choose(r, sp, &n))
				continue;
			if (best == NULL || r->hold_at < best->hold_at ||
			    (r->hold_at == best->hold_at && strcmp(r->id, best->id) < 0))
				best = r;
		}
		if (best != NULL) {
			hold_choose(best, sp, &n);
			m_hold(best, sp, n, mx(at, best->changed_at));
			continue;
		}
		for (size_t i = 0; i < M.nw; i++) {
			struct m_wait *w = &M.w[i];

			if (w->state == WAITLIST_WAITING &&
			    choose(w->cls, w->needs, sp, &n) &&
			    (first == NULL || w->seq < first->seq))
				first = w;
		}
		if (first == NULL)
			return;
		m_assign(first, at);
	}
}

/* Every expiry, hold and no-show due by now, in time order. */
static void
due(int64_t now)
{
	for (;;) {
		int64_t bt = 0;
		int brank = 0, kind = -1;
		size_t bi = 0;

		for (size_t i = 0; i < M.nw; i++) {
			struct m_wait *w = &M.w[i];

			if (w->state != WAITLIST_WAITING || w->expires_at > now)
				continue;
			if (kind < 0 || w->expires_at < bt ||
			    (w->expires_at == bt && (brank > 0 ||
			    w->seq < M.w[bi].seq))) {
				bt = w->expires_at;
				brank = 0;
				bi = i;
				kind = 0;
			}
		}
		for (size_t i = 0; i < M.nr; i++) {
			struct m_resv *r = &M.r[i];
			int64_t t;
			int rank;

			if (!active(r))
				continue;
			if (r->state == RESV_BOOKED && !r->hold_popped &&
			    r->hold_at < r->no_show_at) {
				t = r->hold_at;
				rank = 2;
			} else {
				t = r->no_show_at;
				rank = 1;
			}
			if (t > now)
				continue;
			if (kind < 0 || t < bt || (t == bt && (rank < brank ||
			    (rank == brank && strcmp(r->id, M.r[bi].id) < 0)))) {
				bt = t;
				brank = rank;
				bi = i;
				kind = rank;
			}
		}
		if (kind < 0)
			return;
		if (kind == 0) {
			M.w[bi].state = WAITLIST_EXPIRED;
		} else if (kind == 2) {
			struct m_resv *r = &M.r[bi];
			uint32_t sp[2];
			size_t n;
			int64_t at = mx(bt, r->changed_at);

			r->hold_popped = 1;
			if (hold_choose(r, sp, &n)) {
				m_hold(r, sp, n, at);
			} else {
				r->state = RESV_OWED;
				r->changed_at = at;
			}
		} else {
			struct m_resv *r = &M.r[bi];
			int was_held = r->state == RESV_HELD;
			int64_t at = mx(bt, r->changed_at);

			release_hold(r);
			r->state = RESV_NO_SHOW;
			r->changed_at = at;
			if (was_held)
				serve(at);
		}
	}
}

/* The reservation an arrival of plate at time at uses, or NULL. */
static struct m_resv *
arrival(int plate, int64_t at)
{
	struct m_resv *best = NULL;

	for (size_t i = 0; i < M.nr; i++) {
		struct m_resv *r = &M.r[i];

		if (r->plate != plate || !active(r))
			continue;
		if (best == NULL || r->hold_at < best->hold_at ||
		    (r->hold_at == best->hold_at && strcmp(r->id, best->id) < 0))
			best = r;
	}
	if (best != NULL && best->hold_at > at + HOLD_BEFORE)
		return NULL;
	return best;
}

static int
arrival_spots(const struct m_resv *r, int cls, uint64_t needs, uint32_t *sp,
    size_t *n)
{
	if (r->state == RESV_HELD) {
		memcpy(sp, r->held, r->n_held * sizeof(sp[0]));
		*n = r->n_held;
		return 1;
	}
	if (r->spot >= 0 && M.st[r->spot] == M_FREE) {
		sp[0] = (uint32_t)r->spot;
		*n = 1;
		return 1;
	}
	return choose(cls, needs, sp, n);
}

static pk_err
m_entry(int plate, int cls, uint64_t needs, int64_t at)
{
	struct m_resv *r;
	uint32_t sp[2];
	size_t n;

	if (M.v[plate].inside)
		return PK_E_PLATE_INSIDE;
	if ((r = arrival(plate, at)) != NULL) {
		if (!arrival_spots(r, cls, needs, sp, &n))
			return PK_E_LOT_FULL;
		park(plate, sp, n);
		r->state = RESV_USED;
		r->changed_at = at;
	} else {
		if (!choose(cls, needs, sp, &n))
			return PK_E_LOT_FULL;
		park(plate, sp, n);
	}
	cancel_waiting_of(plate);
	return PK_OK;
}

static void
m_exit(int plate, int64_t at)
{
	for (size_t i = 0; i < M.v[plate].n; i++)
		release_spot(M.v[plate].spots[i]);
	M.v[plate].inside = 0;
	serve(at);
}

static size_t
waiting_count(void)
{
	size_t n = 0;

	for (size_t i = 0; i < M.nw; i++)
		n += M.w[i].state == WAITLIST_WAITING;
	return n;
}

static struct m_wait *
waiting_of(int plate)
{
	for (size_t i = 0; i < M.nw; i++)
		if (M.w[i].plate == plate && M.w[i].state == WAITLIST_WAITING)
			return &M.w[i];
	return NULL;
}

static pk_err
m_wait(int plate, int cls, uint64_t needs, int64_t timeout, int64_t at,
    const char *id, int *existing)
{
	struct m_wait *w;
	struct m_resv *r;
	uint32_t sp[2];
	size_t n;
	int now;

	*existing = 0;
	if (M.v[plate].inside)
		return PK_E_PLATE_INSIDE;
	if (waiting_of(plate) != NULL) {
		*existing = 1;
		return PK_OK;
	}
	if (timeout < 1 || timeout > MAX_TIMEOUT)
		return PK_E_INVALID_PARAMS;
	r = arrival(plate, at);
	now = r != NULL ? arrival_spots(r, cls, needs, sp, &n) :
	    choose(cls, needs, sp, &n);
	if (!now && waiting_count() >= MAX_DEPTH)
		return PK_E_QUEUE_FULL;
	assert_true(M.nw < MAXW);
	w = &M.w[M.nw++];
	memset(w, 0, sizeof(*w));
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->plate = plate;
	w->cls = cls;
	w->needs = needs;
	w->seq = ++M.next_seq;
	w->queued_at = at;
	w->expires_at = at + timeout;
	w->state = WAITLIST_WAITING;
	if (now) {
		park(plate, sp, n);
		w->state = WAITLIST_ASSIGNED;
		if (r != NULL) {
			r->state = RESV_USED;
			r->changed_at = at;
		}
	}
	return PK_OK;
}

static int
type_in_service(int type)
{
	int n = 0;

	for (int s = 0; s < NSPOTS; s++)
		n += spot_type[s] == type && M.st[s] != M_OOS;
	return n;
}

/* Units of the active reservations of type whose footprints cover t. */
static int64_t
booked_at(int type, int64_t t)
{
	int64_t n = 0;

	for (size_t i = 0; i < M.nr; i++) {
		const struct m_resv *r = &M.r[i];

		if (active(r) && r->type == type && r->hold_at <= t && t < r->to)
			n += r->units;
	}
	return n;
}

static pk_err
m_reserve(int plate, int cls, uint64_t needs, int spot, int64_t from,
    int64_t to, int64_t now, const char *id, int64_t *why_at)
{
	int64_t hold_at = from - HOLD_BEFORE, cap_at = -1, spot_at = -1;
	int type = cls == VAN ? 1 : 0;
	uint32_t units = cls == COACH ? 2 : 1;
	struct m_resv *r;
	int64_t cap;

	if (spot >= 0) {
		if (cls == COACH || (cls == CAR && spot_type[spot] != 0) ||
		    (spot_tags[spot] & needs) != needs)
			return PK_E_INVALID_PARAMS;
		type = spot_type[spot];
	}
	if (from < now || to <= from || to - from > MAX_HOURS * 3600 ||
	    from - now > HORIZON_DAYS * 86400)
		return PK_E_INVALID_PARAMS;
	cap = type_in_service(type) / 2;
	/*
	 * The first instant over: bookings only grow where a footprint
	 * starts, so it is the start or the earliest other start within the
	 * footprint at which the sum is over.
	 */
	if (booked_at(type, hold_at) + units > cap)
		cap_at = hold_at;
	for (size_t i = 0; i < M.nr && cap_at != hold_at; i++) {
		int64_t t = M.r[i].hold_at;

		if (active(&M.r[i]) && M.r[i].type == type && t > hold_at &&
		    t < to && (cap_at < 0 || t < cap_at) &&
		    booked_at(type, t) + units > cap)
			cap_at = t;
	}
	for (size_t i = 0; spot >= 0 && i < M.nr; i++) {
		const struct m_resv *o = &M.r[i];
		int64_t s = mx(o->hold_at, hold_at);

		if (active(o) && o->spot == spot && s < (o->to < to ? o->to : to) &&
		    (spot_at < 0 || s < spot_at))
			spot_at = s;
	}
	if (spot_at >= 0 && (cap_at < 0 || spot_at <= cap_at)) {
		*why_at = spot_at;
		return PK_E_RESERVATION_CONFLICT;
	}
	if (cap_at >= 0) {
		*why_at = cap_at;
		return PK_E_RESERVATION_CONFLICT;
	}
	assert_true(M.nr < MAXR);
	r = &M.r[M.nr++];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->plate = plate;
	r->cls = cls;
	r->needs = needs;
	r->spot = spot;
	r->type = type;
	r->units = units;
	r->from = from;
	r->to = to;
	r->hold_at = hold_at;
	r->no_show_at = from + NO_SHOW_AFTER;
	r->changed_at = now;
	r->state = RESV_BOOKED;
	due(now);
	return PK_OK;
}

static void
m_resv_cancel(struct m_resv *r, int64_t at)
{
	int was_held = r->state == RESV_HELD;

	if (!active(r))
		return;
	at = mx(at, r->changed_at);
	release_hold(r);
	r->state = RESV_CANCELLED;
	r->changed_at = at;
	if (was_held)
		serve(at);
}

static void
m_spot(uint32_t s, int in_service, int64_t at)
{
	if (in_service) {
		if (M.st[s] == M_OOS) {
			M.st[s] = M_FREE;
			serve(at);
		} else {
			M.pending[s] = 0;
		}
		return;
	}
	if (M.st[s] == M_FREE)
		M.st[s] = M_OOS;
	else if (M.st[s] != M_OOS)
		M.pending[s] = 1;
}

/* ---- the garage under test ---- */

static garage *G;
static struct changes CH;
static unsigned ids;
static struct { char **v; size_t n, cap; } J;	/* every record */

static void
make_ids(void *ud, char out[UUID_BUFSZ])
{
	(void)ud;
	tu_id(++ids, out);
}

static void
journal_add(const char *s, size_t len)
{
	if (J.n == J.cap) {
		J.cap = J.cap ? 2 * J.cap : 1024;
		J.v = realloc(J.v, J.cap * sizeof(*J.v));
		assert_non_null(J.v);
	}
	J.v[J.n] = strndup(s, len);
	assert_non_null(J.v[J.n]);
	J.n++;
}

static void
commit(void)
{
	struct jw w;
	char id[UUID_BUFSZ];

	jw_init(&w);
	for (size_t i = 0; i < CH.n; i++) {
		jw_reset(&w);
		tu_id(0xE00000u + (unsigned)J.n, id);
		record_write(G, &CH.v[i], id, &w);
		assert_false(jw_failed(&w));
		journal_add(w.buf, w.len);
	}
	jw_release(&w);
	changes_clear(&CH);
}

static void
capacity_cfg(struct garage_capacity_cfg *c)
{
	garage_capacity_defaults(c);
	c->wl.max_depth = MAX_DEPTH;
	c->wl.max_timeout_s = MAX_TIMEOUT;
	c->wl.keep_outcomes_s = 86400 * 30;
	c->max_fraction_ppm = 500000;
	c->hold_before_s = HOLD_BEFORE;
	c->no_show_after_s = NO_SHOW_AFTER;
	c->max_hours = MAX_HOURS;
	c->horizon_days = HORIZON_DAYS;
	c->keep_finished_s = 86400 * 30;
}

static garage *
new_garage(void)
{
	struct garage_capacity_cfg c;
	garage *g = tu_garage_from(FAC, VEH, TU_MIN_TARIFF, ALLOC_FIRST, 1000);

	capacity_cfg(&c);
	assert_int_equal(garage_configure_capacity(g, &c), PK_OK);
	return g;
}

static const char *
plate_name(int p)
{
	static char buf[8][8];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "P%d", p);
	return buf[k];
}

/* The garage and the model agree on everything the contract fixes. */
static void
compare(unsigned step, uint64_t seed)
{
	const alloc *a = garage_alloc(G);
	char why[256];

	if (garage_check(G, why, sizeof(why)) != 0)
		fail_msg("seed %llu step %u: garage_check: %s",
		    (unsigned long long)seed, step, why);
	for (uint32_t s = 0; s < NSPOTS; s++) {
		if ((int)alloc_spot_state(a, s) != (int)M.st[s] ||
		    alloc_spot_pending_out_of_service(a, s) != M.pending[s])
			fail_msg("seed %llu step %u: spot %u is %d/%d, model %d/%d",
			    (unsigned long long)seed, step, s,
			    alloc_spot_state(a, s),
			    alloc_spot_pending_out_of_service(a, s), M.st[s],
			    M.pending[s]);
	}
	for (int p = 0; p < MAXV; p++) {
		const struct ticket *t = garage_inside(G, plate_name(p));

		if ((t != NULL) != M.v[p].inside)
			fail_msg("seed %llu step %u: plate %d inside %d, model %d",
			    (unsigned long long)seed, step, p, t != NULL,
			    M.v[p].inside);
		if (t == NULL)
			continue;
		assert_int_equal(t->n_spots, M.v[p].n);
		for (size_t i = 0; i < t->n_spots; i++)
			if (t->spots[i] != M.v[p].spots[i])
				fail_msg("seed %llu step %u: plate %d on spot %u, model %u",
				    (unsigned long long)seed, step, p, t->spots[i],
				    M.v[p].spots[i]);
	}
	for (size_t i = 0; i < M.nw; i++) {
		const struct waitlist_entry *e = garage_wait_get(G, M.w[i].id);
		size_t pos = 1;

		assert_non_null(e);
		if (e->state != M.w[i].state)
			fail_msg("seed %llu step %u: entry %zu is %s, model %s",
			    (unsigned long long)seed, step, i,
			    waitlist_state_name(e->state),
			    waitlist_state_name(M.w[i].state));
		if (e->state != WAITLIST_WAITING)
			continue;
		for (size_t j = 0; j < M.nw; j++)
			pos += M.w[j].state == WAITLIST_WAITING &&
			    M.w[j].seq < M.w[i].seq;
		assert_int_equal(garage_wait_position(G, e), pos);
	}
	for (size_t i = 0; i < M.nr; i++) {
		const struct resv *r = garage_reservation(G, M.r[i].id);

		assert_non_null(r);
		if (r->state != M.r[i].state || r->changed_at != M.r[i].changed_at)
			fail_msg("seed %llu step %u: reservation %zu is %s at %lld, "
			    "model %s at %lld", (unsigned long long)seed, step, i,
			    resv_state_name(r->state), (long long)r->changed_at,
			    resv_state_name(M.r[i].state),
			    (long long)M.r[i].changed_at);
		if (r->state == RESV_HELD) {
			assert_int_equal(r->n_held, M.r[i].n_held);
			for (size_t k = 0; k < r->n_held; k++)
				assert_int_equal(r->held[k], M.r[i].held[k]);
		}
	}
}

static int
snap_add(void *ud, const char *json, size_t len)
{
	(void)ud;
	journal_add(json, len);
	return 0;
}

static int
cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The sorted snapshot records of g, appended to J after index from. */
static size_t
snapshot_into(const garage *g)
{
	size_t from = J.n;

	assert_int_equal(record_snapshot(g, snap_add, NULL), 0);
	qsort(J.v + from, J.n - from, sizeof(char *), cmp_str);
	return from;
}

/* The journal replayed into a fresh garage snapshots to the same records. */
static void
replay(void)
{
	size_t njournal = J.n, a, b;
	garage *r = new_garage();
	char msg[256];
	struct jerr e = { msg, sizeof(msg), 0 };

	for (size_t i = 0; i < njournal; i++)
		if (record_apply(r, J.v[i], strlen(J.v[i]), &e) != PK_OK)
			fail_msg("replay of record %zu: %s\n%s", i, msg, J.v[i]);
	a = snapshot_into(G);
	b = snapshot_into(r);
	assert_int_equal(b - a, J.n - b);
	for (size_t i = 0; i < b - a; i++)
		assert_string_equal(J.v[a + i], J.v[b + i]);
	if (garage_check(r, msg, sizeof(msg)) != 0)
		fail_msg("replayed: %s", msg);
	garage_free(r);
}

static void
run_seed(uint64_t seed, unsigned steps)
{
	int64_t now = TU_T0;

	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	memset(&M, 0, sizeof(M));
	G = new_garage();
	garage_set_ids(G, make_ids, NULL);
	changes_init(&CH);
	ids = 0;
	for (unsigned step = 0; step < steps; step++) {
		uint32_t op = rnd(100);
		int p = (int)rnd(24);
		int cls = rnd(10) < 7 ? CAR : rnd(2) ? VAN : COACH;
		uint64_t needs = rnd(6) == 0 ? 1 : 0;
		char id[UUID_BUFSZ];
		pk_err got, want;

		now += rnd(25);
		/* What the daemon does before every request. */
		garage_run_due(G, now, &CH);
		commit();
		due(now);
		if (op < 30) {
			struct garage_entry_in in;
			struct ticket *t;

			memset(&in, 0, sizeof(in));
			tu_id(++ids, id);
			in.gate = 0;
			in.plate = plate_name(p);
			in.cls = cls;
			in.needs = needs;
			in.ticket_id = id;
			in.at = now;
			got = garage_entry(G, &in, &t, &CH);
			want = m_entry(p, cls, needs, now);
			assert_int_equal(got, want);
		} else if (op < 55) {
			/* Exits of vehicles inside, mostly. */
			for (int k = 0; k < MAXV && !M.v[p].inside; k++)
				p = (p + 1) % MAXV;
			if (M.v[p].inside) {
				struct garage_quote q;

				assert_int_equal(garage_exit(G, garage_inside(G,
				    plate_name(p)), 1, now, &q, &CH), PK_OK);
				m_exit(p, now);
			}
		} else if (op < 72) {
			struct garage_wait_in in;
			struct garage_wait_out o;
			char tid[UUID_BUFSZ];
			int existing;
			int64_t timeout = rnd(20) == 0 ? MAX_TIMEOUT + 1 :
			    1 + (int64_t)rnd(MAX_TIMEOUT);

			memset(&in, 0, sizeof(in));
			tu_id(++ids, id);
			tu_id(++ids, tid);
			in.gate = 0;
			in.plate = plate_name(p);
			in.cls = cls;
			in.needs = needs;
			in.timeout_s = timeout;
			in.id = id;
			in.ticket_id = tid;
			in.at = now;
			got = garage_wait(G, &in, &o, &CH);
			want = m_wait(p, cls, needs, timeout, now, id, &existing);
			assert_int_equal(got, want);
			if (got == PK_OK)
				assert_int_equal(o.existing, existing);
		} else if (op < 76) {
			struct waitlist_entry copy;
			int changed;

			if (M.nw > 0) {
				struct m_wait *w = &M.w[rnd((uint32_t)M.nw)];
				int was = w->state == WAITLIST_WAITING;

				assert_int_equal(garage_wait_cancel(G, w->id, now,
				    &copy, &changed, &CH), PK_OK);
				assert_int_equal(changed, was);
				if (was)
					w->state = WAITLIST_CANCELLED;
			}
		} else if (op < 88) {
			struct garage_reserve_in in;
			struct resbook_why why;
			struct resv *r;
			int spot = rnd(4) == 0 ? (int)rnd(NSPOTS) : -1;
			int64_t from = now + (int64_t)rnd(400) - 5;
			int64_t to = from + 1 + (int64_t)rnd(rnd(10) ? 600 : 4000);
			int64_t want_at = 0;

			memset(&in, 0, sizeof(in));
			tu_id(++ids, id);
			in.id = id;
			in.plate = plate_name(p);
			in.cls = cls;
			in.needs = needs;
			in.spot = spot >= 0 ? (uint32_t)spot : RESV_NO_SPOT;
			in.gate = -1;
			in.from = from;
			in.to = to;
			in.now = now;
			got = garage_reserve(G, &in, &r, &why, &CH);
			want = m_reserve(p, cls, needs, spot, from, to, now, id,
			    &want_at);
			if (got != want)
				fail_msg("seed %llu step %u: reserve %s, model %s (%s)",
				    (unsigned long long)seed, step,
				    pk_err_reason(got), pk_err_reason(want),
				    why.msg ? why.msg : "");
			if (got == PK_E_RESERVATION_CONFLICT)
				assert_int_equal(why.at, want_at);
		} else if (op < 93) {
			struct resv *r;
			int changed;

			if (M.nr > 0) {
				struct m_resv *mr = &M.r[rnd((uint32_t)M.nr)];
				int was = active(mr);

				assert_int_equal(garage_reservation_cancel(G,
				    mr->id, now, &r, &changed, &CH), PK_OK);
				assert_int_equal(changed, was);
				m_resv_cancel(mr, now);
			}
		} else {
			uint32_t s = rnd(NSPOTS);
			int in = (int)rnd(2);

			assert_int_equal(garage_set_spot_service(G, s, in, now,
			    &CH), PK_OK);
			m_spot(s, in, now);
		}
		commit();
		compare(step, seed);
	}
	replay();
	for (size_t i = 0; i < J.n; i++)
		free(J.v[i]);
	free(J.v);
	memset(&J, 0, sizeof(J));
	changes_release(&CH);
	garage_free(G);
}

static void
test_random_against_model(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 60; seed++)
		run_seed(seed, 1500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
