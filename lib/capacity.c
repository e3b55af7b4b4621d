/* capacity.c - the garage's waitlist and reservations: claims, holds, timers (see capacity.h). */
#include "capacity.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "garage_impl.h"

struct capacity {
	waitlist *wl;
	resbook *rb;
	struct garage_capacity_cfg cfg;
	int ntypes;
	garage_id_fn new_id;		/* NULL: the default below */
	void *id_ud;
	struct uuid7_gen idgen;		/* the default id source */
	uint64_t idctr;
};

/* Distinct (class, needs) pairs an owed-hold walk remembers as not fitting. */
#define MISS_MAX 16

static int64_t
max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

void
garage_capacity_defaults(struct garage_capacity_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->wl.max_depth = 200;
	c->wl.max_timeout_s = 1800;
	c->wl.keep_outcomes_s = 86400;
	c->max_fraction_ppm = 250000;
	c->hold_before_s = RESBOOK_DEFAULT_HOLD_BEFORE_S;
	c->no_show_after_s = RESBOOK_DEFAULT_NO_SHOW_AFTER_S;
	c->max_hours = RESBOOK_DEFAULT_MAX_HOURS;
	c->horizon_days = RESBOOK_DEFAULT_HORIZON_DAYS;
	c->keep_finished_s = CAPACITY_KEEP_FINISHED_DEFAULT_S;
}

static resbook *
book_new(int ntypes, const struct garage_capacity_cfg *c)
{
	struct resbook_config rc;

	memset(&rc, 0, sizeof(rc));
	rc.ntypes = ntypes;
	rc.hold_before_s = c->hold_before_s;
	rc.no_show_after_s = c->no_show_after_s;
	rc.max_hours = c->max_hours;
	rc.horizon_days = c->horizon_days;
	return resbook_new(&rc);
}

struct capacity *
capacity_new(const facility *f)
{
	struct capacity *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	garage_capacity_defaults(&c->cfg);
	c->ntypes = facility_type_count(f);
	c->wl = waitlist_new(&c->cfg.wl);
	c->rb = book_new(c->ntypes, &c->cfg);
	if (c->wl == NULL || c->rb == NULL) {
		capacity_free(c);
		return NULL;
	}
	return c;
}

void
capacity_free(struct capacity *c)
{
	if (c == NULL)
		return;
	waitlist_free(c->wl);
	resbook_free(c->rb);
	free(c);
}

pk_err
garage_configure_capacity(garage *g, const struct garage_capacity_cfg *nc)
{
	struct capacity *c = garage_cap(g);
	struct waitlist_limits was;
	struct resbook_config rc;

	if (nc->max_fraction_ppm < 0 || nc->max_fraction_ppm > 1000000 ||
	    nc->keep_finished_s < 0 ||
	    nc->keep_finished_s > CAPACITY_KEEP_FINISHED_MAX_S)
		return PK_E_INVALID_PARAMS;
	memset(&rc, 0, sizeof(rc));
	rc.hold_before_s = nc->hold_before_s;
	rc.no_show_after_s = nc->no_show_after_s;
	rc.max_hours = nc->max_hours;
	rc.horizon_days = nc->horizon_days;
	waitlist_limits(c->wl, &was);
	if (waitlist_set_limits(c->wl, &nc->wl) != PK_OK)
		return PK_E_INVALID_PARAMS;
	if (resbook_set_times(c->rb, &rc) != PK_OK) {
		waitlist_set_limits(c->wl, &was);
		return PK_E_INVALID_PARAMS;
	}
	c->cfg = *nc;
	return PK_OK;
}

void
garage_capacity_config(const garage *g, struct garage_capacity_cfg *c)
{
	*c = garage_cap(g)->cfg;
}

void
garage_set_ids(garage *g, garage_id_fn fn, void *ud)
{
	struct capacity *c = garage_cap(g);

	c->new_id = fn;
	c->id_ud = ud;
}

const waitlist *
garage_waitlist(const garage *g)
{
	return garage_cap(g)->wl;
}

const resbook *
garage_resbook(const garage *g)
{
	return garage_cap(g)->rb;
}

void
garage_capacity_counts(const garage *g, struct garage_capacity_counts *k)
{
	struct capacity *c = garage_cap(g);
	struct resbook_counts rc;

	resbook_counts(c->rb, &rc);
	k->waiting = waitlist_waiting_count(c->wl);
	k->held = rc.held;
	k->owed = rc.owed;
	k->reservations_active = rc.active;
}

int
garage_waitlist_open(const garage *g)
{
	struct capacity *c = garage_cap(g);

	return waitlist_waiting_count(c->wl) < c->cfg.wl.max_depth;
}

/* ---- small helpers ---- */

/* Appends a change about waitlist entry or reservation id (room reserved). */
static void
add_ref(struct changes *out, enum change_kind kind, int64_t at, const char *id,
    const struct ticket *t)
{
	struct change ch;

	memset(&ch, 0, sizeof(ch));
	ch.kind = kind;
	ch.at = at;
	ch.t = t;
	snprintf(ch.ref, sizeof(ch.ref), "%s", id);
	changes_add(out, &ch);
}

/*
 * A fresh ticket id: the caller's source, or time-ordered ids from the
 * time of the change and a counter.  An id some ticket has already (only
 * the default source could repeat one, after a restart) is not used.
 */
static void
new_ticket_id(garage *g, int64_t at, char out[UUID_BUFSZ])
{
	struct capacity *c = garage_cap(g);

	for (int tries = 0; tries < 16; tries++) {
		if (c->new_id != NULL) {
			c->new_id(c->id_ud, out);
		} else {
			unsigned char rnd[16], u[16];
			uint64_t k = ++c->idctr;

			memset(rnd, 0, sizeof(rnd));
			memcpy(rnd + 8, &k, sizeof(k));
			uuid7_next(&c->idgen, (uint64_t)max64(at, 0) * 1000, rnd, u);
			uuid_format(u, out);
		}
		if (garage_ticket(g, out) == NULL)
			return;
	}
}

/* The waitlist's question: would the allocation engine find a spot? */
static int
fits(void *ud, int cls, uint64_t needs, int gate)
{
	const garage *g = ud;
	uint32_t sp[ALLOC_MAX_SPOTS];
	size_t n;

	return alloc_choose(garage_alloc(g), gate, cls, needs, sp, &n) == PK_OK;
}

/*
 * The spots a hold of r would take now: its own spot when it names one
 * and that is free, else the strategy's choice for its class from its
 * gate.  1 with sp[0..*n), or 0 when nothing fits.
 */
static int
hold_choose(const garage *g, const struct resv *r, uint32_t *sp, size_t *n)
{
	const alloc *a = garage_alloc(g);

	if (r->spot != RESV_NO_SPOT &&
	    alloc_spot_state(a, r->spot) == ALLOC_SPOT_FREE) {
		sp[0] = r->spot;
		*n = 1;
		return 1;
	}
	return alloc_choose(a, r->gate, r->cls, r->needs, sp, n) == PK_OK &&
	    *n <= r->max_spots;
}

static int assign(garage *g, const struct waitlist_entry *e, int64_t at,
    struct changes *out);

/*
 * Holds sp[0..n) for r at time at (room for one change reserved).  When
 * r's vehicle is waiting at a gate, it drives in on the hold at once.
 */
static void
hold(garage *g, struct resv *r, const uint32_t *sp, size_t n, int64_t at,
    struct changes *out)
{
	struct capacity *c = garage_cap(g);
	const struct waitlist_entry *e;

	for (size_t i = 0; i < n; i++)
		alloc_hold(garage_alloc_rw(g), sp[i]);
	resbook_mark_held(c->rb, r, sp, n, at);
	add_ref(out, CHG_RESV_HELD, at, r->id, NULL);
	if ((e = waitlist_waiting_plate(c->wl, r->plate)) != NULL &&
	    changes_reserve(out, 3) == 0)
		assign(g, e, at, out);
}

/* Releases the spots r holds; how many became free. */
static size_t
release(garage *g, const struct resv *r)
{
	alloc *a = garage_alloc_rw(g);
	size_t freed = 0;

	if (r->state != RESV_HELD)
		return 0;
	for (uint32_t i = 0; i < r->n_held; i++) {
		if (alloc_unhold(a, r->held[i]) == PK_OK &&
		    alloc_spot_state(a, r->held[i]) == ALLOC_SPOT_FREE)
			freed++;
	}
	return freed;
}

/* ---- the order of claims ---- */

struct miss {
	int cls;
	uint64_t needs;
};

static int
missed(const struct miss *m, size_t n, const struct resv *r)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].cls == r->cls && m[i].needs == r->needs)
			return 1;
	return 0;
}

/*
 * The oldest owed hold that a free spot fits, with its spots.  Whether the
 * strategy finds a spot depends on class and needs only, so a pair that
 * did not fit is not asked again in this walk.
 */
static struct resv *
owed_fit(garage *g, uint32_t *sp, size_t *n)
{
	const resbook *rb = garage_cap(g)->rb;
	struct miss miss[MISS_MAX];
	size_t nmiss = 0;

	for (struct resv *r = resbook_owed_first(rb); r != NULL;
	    r = resbook_owed_next(rb, r)) {
		if (r->spot != RESV_NO_SPOT &&
		    alloc_spot_state(garage_alloc(g), r->spot) == ALLOC_SPOT_FREE) {
			sp[0] = r->spot;
			*n = 1;
			return r;
		}
		if (missed(miss, nmiss, r))
			continue;
		if (hold_choose(g, r, sp, n))
			return r;
		if (nmiss < MISS_MAX) {
			miss[nmiss].cls = r->cls;
			miss[nmiss].needs = r->needs;
			nmiss++;
		}
	}
	return NULL;
}

/*
 * Issues the ticket of an entry on sp[0..n): CHG_ENTRY (naming the
 * waitlist entry wid, when not NULL) and, on reservation r, CHG_RESV_USED.
 * Room for two changes reserved.
 */
static pk_err
enter(garage *g, const struct garage_entry_in *in, struct resv *r,
    const uint32_t *sp, size_t n, const char *wid, struct ticket **tp,
    struct changes *out)
{
	struct garage_entry_in ein = *in;
	struct change ch;
	pk_err e;

	ein.reservation = r != NULL ? r->id : NULL;
	if ((e = garage_issue(g, &ein, sp, n, tp)) != PK_OK)
		return e;
	memset(&ch, 0, sizeof(ch));
	ch.kind = CHG_ENTRY;
	ch.at = in->at;
	ch.t = *tp;
	if (wid != NULL)
		snprintf(ch.ref, sizeof(ch.ref), "%s", wid);
	changes_add(out, &ch);
	if (r != NULL) {
		resbook_mark_used(garage_cap(g)->rb, r, (*tp)->id, in->at);
		add_ref(out, CHG_RESV_USED, in->at, r->id, *tp);
	}
	return PK_OK;
}

static int arrival_spots(const garage *g, const struct resv *r,
    const struct garage_entry_in *in, uint32_t *sp, size_t *n);

/*
 * Assigns waiting entry e a ticket at time at (no earlier than it was
 * queued), as an entry would: on the plate's reservation when it has one
 * it can use (its held spots, if held), else on the strategy's spots.
 * CHG_ENTRY, CHG_RESV_USED when on a reservation, CHG_WAIT_ASSIGNED: room
 * for three reserved.  -1 when nothing fits or out of memory (nothing
 * changed).
 */
static int
assign(garage *g, const struct waitlist_entry *e, int64_t at,
    struct changes *out)
{
	struct capacity *c = garage_cap(g);
	char wid[UUID_BUFSZ], tid[UUID_BUFSZ], plate[PLATE_BUFSZ];
	uint32_t sp[ALLOC_MAX_SPOTS];
	struct garage_entry_in in;
	const struct waitlist_entry *x;
	struct resv *r;
	struct ticket *t;
	size_t n;
	int changed;

	at = max64(at, e->queued_at);
	memcpy(wid, e->id, sizeof(wid));
	memcpy(plate, e->plate, sizeof(plate));
	if (garage_inside(g, plate) != NULL) {
		/* An entry cancels the plate's wait; this is only a safeguard. */
		waitlist_cancel(c->wl, wid, at, &x, &changed);
		add_ref(out, CHG_WAIT_CANCELLED, at, wid, NULL);
		return 0;
	}
	memset(&in, 0, sizeof(in));
	in.gate = e->gate;
	in.plate = plate;
	in.cls = e->cls;
	in.needs = e->needs;
	in.at = at;
	r = resbook_arrival(c->rb, plate, at, c->cfg.hold_before_s);
	if (r != NULL && !arrival_spots(g, r, &in, sp, &n))
		r = NULL;
	if (r == NULL && alloc_choose(garage_alloc(g), e->gate, e->cls, e->needs,
	    sp, &n) != PK_OK)
		return -1;
	new_ticket_id(g, at, tid);
	in.ticket_id = tid;
	if (enter(g, &in, r, sp, n, wid, &t, out) != PK_OK)
		return -1;
	waitlist_assign(c->wl, wid, t->id, at);
	add_ref(out, CHG_WAIT_ASSIGNED, at, wid, t);
	return 0;
}

size_t
capacity_serve(garage *g, int64_t at, struct changes *out)
{
	struct capacity *c = garage_cap(g);
	size_t n0 = out->n;

	for (;;) {
		uint32_t sp[ALLOC_MAX_SPOTS];
		const struct waitlist_entry *e;
		struct resv *r;
		size_t n;

		if (changes_reserve(out, 3) != 0)
			break;
		if ((r = owed_fit(g, sp, &n)) != NULL) {
			hold(g, r, sp, n, max64(at, r->changed_at), out);
			continue;
		}
		if ((e = waitlist_match(c->wl, fits, g)) == NULL ||
		    assign(g, e, at, out) != 0)
			break;
	}
	return out->n - n0;
}

size_t
garage_settle(garage *g, int64_t at, struct changes *out)
{
	return capacity_serve(g, at, out);
}

/* ---- arrivals ---- */

/* Whether r can be used by an arrival at time at. */
static int
usable(const struct capacity *c, const struct resv *r, int64_t at)
{
	return resv_state_active(r->state) &&
	    r->hold_at <= at + c->cfg.hold_before_s;
}

/*
 * The spots an arrival on r at in->gate gets: the held ones, else its own
 * spot when free, else the strategy's choice for the arriving class.
 */
static int
arrival_spots(const garage *g, const struct resv *r,
    const struct garage_entry_in *in, uint32_t *sp, size_t *n)
{
	const alloc *a = garage_alloc(g);

	if (r->state == RESV_HELD) {
		memcpy(sp, r->held, r->n_held * sizeof(sp[0]));
		*n = r->n_held;
		return 1;
	}
	if (r->spot != RESV_NO_SPOT &&
	    alloc_spot_state(a, r->spot) == ALLOC_SPOT_FREE) {
		sp[0] = r->spot;
		*n = 1;
		return 1;
	}
	return alloc_choose(a, in->gate, in->cls, in->needs, sp, n) == PK_OK;
}

/* The reservation an entry of in uses, or NULL (*err set when refused). */
static struct resv *
arrival_resv(garage *g, const struct garage_entry_in *in, pk_err *err)
{
	struct capacity *c = garage_cap(g);
	struct resv *r;

	*err = PK_OK;
	if (in->reservation != NULL) {
		r = resbook_get(c->rb, in->reservation);
		if (r == NULL) {
			*err = PK_E_NOT_FOUND;
			return NULL;
		}
		if (strcmp(r->plate, in->plate) != 0) {
			*err = PK_E_INVALID_PARAMS;
			return NULL;
		}
		if (usable(c, r, in->at))
			return r;
	}
	return resbook_arrival(c->rb, in->plate, in->at, c->cfg.hold_before_s);
}

int
capacity_arrival(garage *g, const struct garage_entry_in *in,
    struct ticket **tp, struct changes *out, pk_err *err)
{
	uint32_t sp[ALLOC_MAX_SPOTS];
	struct resv *r = arrival_resv(g, in, err);
	size_t n = 0;

	if (*err != PK_OK)
		return 1;
	if (r == NULL)
		return 0;
	if (!arrival_spots(g, r, in, sp, &n)) {
		*err = PK_E_LOT_FULL;
		return 1;
	}
	if ((*err = enter(g, in, r, sp, n, NULL, tp, out)) == PK_OK)
		capacity_entered(g, *tp, in->at, out);
	return 1;
}

void
capacity_entered(garage *g, const struct ticket *t, int64_t at,
    struct changes *out)
{
	struct capacity *c = garage_cap(g);
	const struct waitlist_entry *e = waitlist_waiting_plate(c->wl, t->plate);
	char wid[UUID_BUFSZ];
	int changed;

	if (e == NULL)
		return;
	memcpy(wid, e->id, sizeof(wid));
	waitlist_cancel(c->wl, wid, max64(at, e->queued_at), &e, &changed);
	add_ref(out, CHG_WAIT_CANCELLED, e->outcome_at, wid, NULL);
}

/* ---- the waitlist ---- */

pk_err
garage_wait(garage *g, const struct garage_wait_in *in,
    struct garage_wait_out *o, struct changes *out)
{
	struct capacity *c = garage_cap(g);
	const facility *f = garage_facility(g);
	const struct waitlist_entry *e;
	struct waitlist_add_in ai;
	struct waitlist_entry img;
	struct garage_entry_in ein;
	uint32_t sp[ALLOC_MAX_SPOTS];
	struct resv *r;
	size_t n = 0;
	int existing = 0;
	pk_err err;

	memset(o, 0, sizeof(*o));
	if (!(facility_gate_role(f, in->gate) & FAC_GATE_ENTRY))
		return PK_E_WRONG_GATE;
	if (garage_inside(g, in->plate) != NULL)
		return PK_E_PLATE_INSIDE;
	if ((e = waitlist_waiting_plate(c->wl, in->plate)) != NULL) {
		o->e = *e;
		o->position = waitlist_position(c->wl, e);
		o->existing = 1;
		return PK_OK;
	}
	if (in->timeout_s < 1 || in->timeout_s > c->cfg.wl.max_timeout_s ||
	    in->cls < 0 || in->cls >= facility_class_count(f))
		return PK_E_INVALID_PARAMS;
	/* Queued, entered, reservation used, assigned. */
	if (changes_reserve(out, 4) != 0)
		return PK_E_INTERNAL;

	memset(&ein, 0, sizeof(ein));
	ein.gate = in->gate;
	ein.plate = in->plate;
	ein.cls = in->cls;
	ein.needs = in->needs;
	ein.ticket_id = in->ticket_id;
	ein.at = in->at;
	r = arrival_resv(g, &ein, &err);
	if (r != NULL ? arrival_spots(g, r, &ein, sp, &n) :
	    alloc_choose(garage_alloc(g), in->gate, in->cls, in->needs, sp,
	    &n) == PK_OK) {
		/* Served at once: queued and assigned in the same instant. */
		memset(&img, 0, sizeof(img));
		snprintf(img.id, sizeof(img.id), "%s", in->id);
		snprintf(img.plate, sizeof(img.plate), "%s", in->plate);
		img.state = WAITLIST_WAITING;
		img.cls = in->cls;
		img.needs = in->needs;
		img.gate = in->gate;
		img.seq = waitlist_next_seq(c->wl);
		img.queued_at = in->at;
		img.expires_at = in->at + in->timeout_s;
		if ((err = waitlist_restore(c->wl, &img)) != PK_OK)
			return err;
		add_ref(out, CHG_WAIT_QUEUED, in->at, img.id, NULL);
		if (enter(g, &ein, r, sp, n, img.id, &o->t, out) == PK_OK) {
			waitlist_assign(c->wl, img.id, o->t->id, in->at);
			add_ref(out, CHG_WAIT_ASSIGNED, in->at, img.id, o->t);
		} else {
			o->t = NULL;	/* out of memory: it waits instead */
		}
		e = waitlist_get(c->wl, img.id);
	} else {
		memset(&ai, 0, sizeof(ai));
		ai.id = in->id;
		ai.plate = in->plate;
		ai.cls = in->cls;
		ai.needs = in->needs;
		ai.gate = in->gate;
		ai.timeout_s = in->timeout_s;
		err = waitlist_add(c->wl, &ai, in->at, &e, &existing);
		if (err != PK_OK)
			return err;
		add_ref(out, CHG_WAIT_QUEUED, in->at, e->id, NULL);
	}
	o->e = *e;
	o->position = waitlist_position(c->wl, e);
	return PK_OK;
}

pk_err
garage_wait_cancel(garage *g, const char *id, int64_t at,
    struct waitlist_entry *copy, int *changed, struct changes *out)
{
	struct capacity *c = garage_cap(g);
	const struct waitlist_entry *e = waitlist_get(c->wl, id);
	pk_err err;

	*changed = 0;
	if (e == NULL)
		return PK_E_NOT_FOUND;
	if (e->state == WAITLIST_WAITING && changes_reserve(out, 1) != 0)
		return PK_E_INTERNAL;
	if (e->state == WAITLIST_WAITING)
		at = max64(at, e->queued_at);
	if ((err = waitlist_cancel(c->wl, id, at, &e, changed)) != PK_OK)
		return err;
	*copy = *e;
	if (*changed)
		add_ref(out, CHG_WAIT_CANCELLED, at, e->id, NULL);
	return PK_OK;
}

const struct waitlist_entry *
garage_wait_get(const garage *g, const char *id)
{
	return waitlist_get(garage_cap(g)->wl, id);
}

size_t
garage_wait_position(const garage *g, const struct waitlist_entry *e)
{
	return waitlist_position(garage_cap(g)->wl, e);
}

/* ---- reservations ---- */

static int
first_entry_gate(const facility *f)
{
	for (int i = 0; i < facility_gate_count(f); i++)
		if (facility_gate_role(f, i) & FAC_GATE_ENTRY)
			return i;
	return -1;
}

static pk_err
why_set(struct resbook_why *why, pk_err e, const char *msg)
{
	if (why != NULL) {
		why->msg = msg;
		why->at = 0;
	}
	return e;
}

static size_t due_loop(garage *g, int64_t now, struct changes *out);

pk_err
garage_reserve(garage *g, const struct garage_reserve_in *in,
    struct resv **rp, struct resbook_why *why, struct changes *out)
{
	struct capacity *c = garage_cap(g);
	const facility *f = garage_facility(g);
	struct resbook_reserve_in ri;
	struct alloc_counts k;
	const int *fit;
	int nfit = 0, ctype = -1, ccount = 0, gate = in->gate;
	pk_err err;

	*rp = NULL;
	if (in->cls < 0 || in->cls >= facility_class_count(f))
		return why_set(why, PK_E_INVALID_PARAMS, "no such class");
	if (gate < 0)
		gate = first_entry_gate(f);
	if (gate < 0 || gate >= facility_gate_count(f))
		return why_set(why, PK_E_INVALID_PARAMS, "no entry gate");
	if (!(facility_gate_role(f, gate) & FAC_GATE_ENTRY))
		return why_set(why, PK_E_WRONG_GATE, "not an entry gate");
	memset(&ri, 0, sizeof(ri));
	fit = facility_class_fits(f, in->cls, &nfit);
	if (facility_class_contiguous(f, in->cls, &ctype, &ccount) != 0)
		ccount = 0;
	if (nfit > 0) {
		ri.type = fit[0];
		ri.units = 1;
	} else if (ccount > 0) {
		ri.type = ctype;
		ri.units = (uint32_t)ccount;
	} else {
		return why_set(why, PK_E_INVALID_PARAMS,
		    "the class fits no spot type");
	}
	ri.max_spots = (uint32_t)(ccount > 1 ? ccount : 1);
	if (in->spot != RESV_NO_SPOT) {
		int st, ok = 0;

		if (in->spot >= facility_spot_count(f))
			return why_set(why, PK_E_INVALID_PARAMS, "no such spot");
		st = facility_spot_type_index(f, in->spot);
		for (int i = 0; i < nfit; i++)
			ok |= fit[i] == st;
		if (!ok)
			return why_set(why, PK_E_INVALID_PARAMS,
			    "the class does not fit that spot's type");
		if ((facility_spot_tags(f, in->spot) & in->needs) != in->needs)
			return why_set(why, PK_E_INVALID_PARAMS,
			    "the spot lacks a tag in needs");
		ri.type = st;
		ri.units = 1;
	}
	alloc_counts_by_type(garage_alloc(g), ri.type, &k);
	ri.cap = (uint32_t)((int64_t)(k.total - k.out_of_service) *
	    c->cfg.max_fraction_ppm / 1000000);
	ri.id = in->id;
	ri.plate = in->plate;
	ri.cls = in->cls;
	ri.gate = gate;
	ri.needs = in->needs;
	ri.spot = in->spot;
	ri.from = in->from;
	ri.to = in->to;
	ri.now = in->now;
	if (changes_reserve(out, 1) != 0)
		return why_set(why, PK_E_INTERNAL, "out of memory");
	if ((err = resbook_reserve(c->rb, &ri, rp, why)) != PK_OK)
		return err;
	add_ref(out, CHG_RESV_CREATED, in->now, (*rp)->id, NULL);
	/* A hold that begins before now begins now. */
	due_loop(g, in->now, out);
	return PK_OK;
}

struct resv *
garage_reservation(const garage *g, const char *id)
{
	return resbook_get(garage_cap(g)->rb, id);
}

pk_err
garage_reservation_cancel(garage *g, const char *id, int64_t at,
    struct resv **rp, int *changed, struct changes *out)
{
	struct capacity *c = garage_cap(g);
	struct resv *r = resbook_get(c->rb, id);
	size_t freed;
	pk_err err;

	*rp = r;
	*changed = 0;
	if (r == NULL)
		return PK_E_NOT_FOUND;
	if (!resv_state_active(r->state))
		return PK_OK;
	if (changes_reserve(out, 1) != 0)
		return PK_E_INTERNAL;
	at = max64(at, r->changed_at);
	freed = release(g, r);
	if ((err = resbook_cancel(c->rb, r, at, changed)) != PK_OK)
		return err;
	add_ref(out, CHG_RESV_CANCELLED, at, r->id, NULL);
	if (freed > 0)
		capacity_serve(g, at, out);
	return PK_OK;
}

/* ---- time ---- */

int
garage_next_due(const garage *g, int64_t *at)
{
	struct capacity *c = garage_cap(g);
	int64_t t, best = 0;
	int have = 0;

	if (waitlist_next_due(c->wl, &t) == 0) {
		best = t;
		have = 1;
	}
	if (resbook_next_due(c->rb, &t) && (!have || t < best)) {
		best = t;
		have = 1;
	}
	if (resbook_oldest_finished(c->rb, &t)) {
		t += c->cfg.keep_finished_s;
		if (!have || t < best)
			best = t;
		have = 1;
	}
	if (have)
		*at = best;
	return have;
}

/* One reservation timer d, at the instant it was due (room for one reserved). */
static void
apply_due(garage *g, const struct resbook_due *d, struct changes *out)
{
	struct capacity *c = garage_cap(g);
	struct resv *r = d->r;
	int64_t at = max64(d->at, r->changed_at);
	uint32_t sp[ALLOC_MAX_SPOTS];
	size_t n, freed;

	if (d->kind == RESBOOK_DUE_HOLD) {
		if (hold_choose(g, r, sp, &n)) {
			hold(g, r, sp, n, at, out);
		} else {
			resbook_mark_owed(c->rb, r, at);
			add_ref(out, CHG_RESV_OWED, at, r->id, NULL);
		}
		return;
	}
	freed = release(g, r);
	resbook_mark_no_show(c->rb, r, at);
	add_ref(out, CHG_RESV_NO_SHOW, at, r->id, NULL);
	if (freed > 0)
		capacity_serve(g, at, out);
}

/*
 * Every expiry and reservation timer due at or before now, in time order
 * (an expiry before a reservation timer at the same instant: an entry
 * expired at t cannot be given a spot freed at t).
 */
static size_t
due_loop(garage *g, int64_t now, struct changes *out)
{
	struct capacity *c = garage_cap(g);
	size_t n0 = out->n;

	for (;;) {
		const struct waitlist_entry *x = waitlist_next_expiring(c->wl);
		struct resbook_due d;
		int64_t tr = 0;
		int hr = resbook_next_due(c->rb, &tr);

		if (changes_reserve(out, 1) != 0)
			break;
		if (x != NULL && x->expires_at <= now &&
		    (!hr || x->expires_at <= tr)) {
			char wid[UUID_BUFSZ];
			int64_t at = x->expires_at;

			memcpy(wid, x->id, sizeof(wid));
			waitlist_expire(c->wl, wid);
			add_ref(out, CHG_WAIT_EXPIRED, at, wid, NULL);
			continue;
		}
		if (!hr || tr > now || !resbook_pop_due(c->rb, now, &d))
			break;
		apply_due(g, &d, out);
	}
	return out->n - n0;
}

size_t
garage_run_due(garage *g, int64_t now, struct changes *out)
{
	struct capacity *c = garage_cap(g);
	size_t n;

	/*
	 * Forgetting comes first: what this call changes must still be there
	 * when its changes are encoded.
	 */
	waitlist_prune(c->wl, now);
	resbook_forget(c->rb, now, c->cfg.keep_finished_s, 0);
	n = due_loop(g, now, out);
	/* Claims left unserved for want of memory get their turn. */
	n += capacity_serve(g, now, out);
	return n;
}

/* ---- the invariants ---- */

struct check {
	const garage *g;
	uint8_t *seen;
	uint32_t nspots;
	uint64_t held_spots, occupied_spots;
	char *why;
	size_t len;
	int bad;
};

static __attribute__((format(printf, 2, 3))) void
bad(struct check *k, const char *fmt, ...)
{
	va_list ap;

	if (k->bad++)
		return;
	va_start(ap, fmt);
	vsnprintf(k->why, k->len, fmt, ap);
	va_end(ap);
}

static void
check_ticket(void *ud, const struct ticket *t)
{
	struct check *k = ud;
	const alloc *a = garage_alloc(k->g);
	char name[48];

	if (t->state != TICKET_INSIDE)
		return;
	for (size_t i = 0; i < t->n_spots; i++) {
		uint32_t s = t->spots[i];

		facility_spot_name(garage_facility(k->g), s, name);
		if (s >= k->nspots || k->seen[s]++) {
			bad(k, "spot %s is given twice", name);
			continue;
		}
		if (alloc_spot_state(a, s) != ALLOC_SPOT_OCCUPIED)
			bad(k, "ticket %s is on spot %s, which is not occupied",
			    t->id, name);
		if (garage_on_spot(k->g, s) != t)
			bad(k, "spot %s does not know ticket %s", name, t->id);
		k->occupied_spots++;
	}
}

static void
check_resv(void *ud, const struct resv *r)
{
	struct check *k = ud;
	const alloc *a = garage_alloc(k->g);
	uint32_t sp[ALLOC_MAX_SPOTS];
	char name[48];
	size_t n;

	if (r->state == RESV_OWED && hold_choose(k->g, r, sp, &n))
		bad(k, "owed reservation %s could hold a free spot", r->id);
	if (r->state != RESV_HELD)
		return;
	if (r->n_held == 0)
		bad(k, "held reservation %s holds no spot", r->id);
	for (uint32_t i = 0; i < r->n_held; i++) {
		uint32_t s = r->held[i];

		facility_spot_name(garage_facility(k->g), s, name);
		if (s >= k->nspots || k->seen[s]++) {
			bad(k, "spot %s is given twice (reservation %s)", name,
			    r->id);
			continue;
		}
		if (alloc_spot_state(a, s) != ALLOC_SPOT_HELD)
			bad(k, "reservation %s holds spot %s, which is not held",
			    r->id, name);
		k->held_spots++;
	}
}

int
garage_check(const garage *g, char *why, size_t len)
{
	struct capacity *c = garage_cap(g);
	const alloc *a = garage_alloc(g);
	struct check k = { .g = g, .why = why, .len = len };
	struct alloc_counts ac;
	struct resbook_counts rc;
	struct waitlist_iter it;
	const struct waitlist_entry *e;

	if (len > 0)
		why[0] = '\0';
	k.nspots = facility_spot_count(garage_facility(g));
	if ((k.seen = calloc(k.nspots ? k.nspots : 1, 1)) == NULL) {
		bad(&k, "out of memory");
		return -1;
	}
	garage_each_ticket(g, check_ticket, &k);
	resbook_each(c->rb, check_resv, &k);
	alloc_counts(a, &ac);
	if (ac.free + ac.occupied + ac.out_of_service + ac.held != ac.total)
		bad(&k, "spot counts do not add up: %llu free, %llu occupied, "
		    "%llu out of service, %llu held of %llu",
		    (unsigned long long)ac.free, (unsigned long long)ac.occupied,
		    (unsigned long long)ac.out_of_service,
		    (unsigned long long)ac.held, (unsigned long long)ac.total);
	if (ac.occupied + ac.held > ac.total - ac.out_of_service)
		bad(&k, "occupied and held spots exceed the spots in service");
	if (ac.occupied != k.occupied_spots)
		bad(&k, "%llu spots occupied but tickets inside are on %llu",
		    (unsigned long long)ac.occupied,
		    (unsigned long long)k.occupied_spots);
	if (ac.held != k.held_spots)
		bad(&k, "%llu spots held but held reservations hold %llu",
		    (unsigned long long)ac.held, (unsigned long long)k.held_spots);
	for (uint32_t s = 0; s < k.nspots; s++) {
		enum alloc_spot_state st = alloc_spot_state(a, s);

		if ((st == ALLOC_SPOT_OCCUPIED || st == ALLOC_SPOT_HELD) &&
		    !k.seen[s]) {
			char name[48];

			facility_spot_name(garage_facility(g), s, name);
			bad(&k, "spot %s is %s but nobody has it", name,
			    st == ALLOC_SPOT_HELD ? "held" : "occupied");
		}
	}
	resbook_counts(c->rb, &rc);
	if (rc.active != rc.by_state[RESV_BOOKED] + rc.held + rc.owed)
		bad(&k, "reservation counts do not add up");
	if ((e = waitlist_match(c->wl, fits, (void *)(uintptr_t)g)) != NULL)
		bad(&k, "waiting entry %s could be given a free spot", e->id);
	memset(&it, 0, sizeof(it));
	while ((e = waitlist_iter_next(c->wl, &it)) != NULL &&
	    e->state == WAITLIST_WAITING) {
		struct resv *r = resbook_arrival(c->rb, e->plate, WAITLIST_TIME_MAX, 0);

		if (garage_inside(g, e->plate) != NULL)
			bad(&k, "plate %s is waiting and inside", e->plate);
		if (r != NULL && r->state == RESV_HELD)
			bad(&k, "plate %s is waiting while its reservation holds a spot",
			    e->plate);
	}
	free(k.seen);
	return k.bad ? -1 : 0;
}

/* ---- replay ---- */

pk_err
garage_restore_wait(garage *g, const struct waitlist_entry *img)
{
	return waitlist_restore(garage_cap(g)->wl, img);
}

void
garage_restore_wait_seq(garage *g, uint64_t next_seq)
{
	waitlist_restore_seq(garage_cap(g)->wl, next_seq);
}

pk_err
garage_restore_wait_assign(garage *g, const char *id, const char *ticket,
    int64_t at)
{
	return waitlist_assign(garage_cap(g)->wl, id, ticket, at);
}

pk_err
garage_restore_wait_cancel(garage *g, const char *id, int64_t at)
{
	const struct waitlist_entry *e;
	int changed;
	pk_err err = waitlist_cancel(garage_cap(g)->wl, id, at, &e, &changed);

	return err == PK_OK && !changed ? PK_E_INVALID_PARAMS : err;
}

pk_err
garage_restore_wait_expire(garage *g, const char *id)
{
	return waitlist_expire(garage_cap(g)->wl, id);
}

/* Whether sp[0..n) can be held: in range, free, distinct. */
static int
holdable(const garage *g, const uint32_t *sp, size_t n)
{
	uint32_t nspots = facility_spot_count(garage_facility(g));

	for (size_t i = 0; i < n; i++) {
		if (sp[i] >= nspots ||
		    alloc_spot_state(garage_alloc(g), sp[i]) != ALLOC_SPOT_FREE)
			return 0;
		for (size_t j = 0; j < i; j++)
			if (sp[j] == sp[i])
				return 0;
	}
	return 1;
}

pk_err
garage_restore_resv(garage *g, const struct resv *img)
{
	struct resv *r;
	pk_err err;

	if (img->state == RESV_HELD &&
	    (img->n_held == 0 || !holdable(g, img->held, img->n_held)))
		return PK_E_INVALID_PARAMS;
	if ((err = resbook_restore(garage_cap(g)->rb, img, &r)) != PK_OK)
		return err;
	if (r->state == RESV_HELD) {
		for (uint32_t i = 0; i < r->n_held; i++)
			alloc_hold(garage_alloc_rw(g), r->held[i]);
	}
	return PK_OK;
}

pk_err
garage_restore_resv_held(garage *g, const char *id, const uint32_t *spots,
    size_t n, int64_t at)
{
	struct resv *r = garage_reservation(g, id);
	pk_err err;

	if (r == NULL)
		return PK_E_NOT_FOUND;
	if (n == 0 || n > r->max_spots || !holdable(g, spots, n))
		return PK_E_INVALID_PARAMS;
	if ((err = resbook_mark_held(garage_cap(g)->rb, r, spots, n, at)) != PK_OK)
		return err;
	for (size_t i = 0; i < n; i++)
		alloc_hold(garage_alloc_rw(g), spots[i]);
	return PK_OK;
}

pk_err
garage_restore_resv_owed(garage *g, const char *id, int64_t at)
{
	struct resv *r = garage_reservation(g, id);

	return r == NULL ? PK_E_NOT_FOUND :
	    resbook_mark_owed(garage_cap(g)->rb, r, at);
}

pk_err
garage_restore_resv_used(garage *g, const char *id, const char *ticket,
    int64_t at)
{
	struct resv *r = garage_reservation(g, id);

	return r == NULL ? PK_E_NOT_FOUND :
	    resbook_mark_used(garage_cap(g)->rb, r, ticket, at);
}

/* A no-show or a cancel: the hold's spots go back. */
static pk_err
restore_finish(garage *g, const char *id, int64_t at, int cancel)
{
	struct resv *r = garage_reservation(g, id);
	int changed;

	if (r == NULL)
		return PK_E_NOT_FOUND;
	if (!resv_state_active(r->state))
		return PK_E_INVALID_PARAMS;
	release(g, r);
	if (cancel)
		return resbook_cancel(garage_cap(g)->rb, r, at, &changed);
	return resbook_mark_no_show(garage_cap(g)->rb, r, at);
}

pk_err
garage_restore_resv_no_show(garage *g, const char *id, int64_t at)
{
	return restore_finish(g, id, at, 0);
}

pk_err
garage_restore_resv_cancel(garage *g, const char *id, int64_t at)
{
	return restore_finish(g, id, at, 1);
}
