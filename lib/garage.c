/* garage.c - the ticket lifecycle over the facility, allocation and tariff. */
#include "garage.h"

#include <stdlib.h>
#include <string.h>

#include "capacity.h"
#include "dict.h"
#include "jsonw.h"
#include "garage_impl.h"
#include "omap.h"

/*
 * A tariff that has been in force.  A ticket is priced by the tariff in
 * force when it entered, so a superseded tariff is kept while any ticket
 * (inside, or closed and kept for look-ups) refers to it.  Versions count
 * up from 1: a new garage has the configuration's tariff as version 1, not
 * yet journaled.  The list is short (a tariff changes rarely): newest first.
 */
struct tariff_ver {
	struct tariff_ver *older;
	tariff *t;
	uint32_t version;
	int journaled;		/* a record of it is in the journal */
	size_t refs;		/* tickets priced by it */
};

struct garage {
	facility *fac;
	alloc *alloc;
	struct tariff_ver *tariffs;	/* the one in force first */
	local_time_fn local_time;	/* NULL: UTC */
	void *local_time_ud;
	dict *by_id;		/* id -> ticket, inside and kept closed ones */
	dict *by_plate;		/* plate -> ticket, inside only */
	omap *inside;		/* the same in plate order, for search by prefix */
	/*
	 * The ticket inside on each spot, NULL when none: what the map shows
	 * on hover, found without a walk over the vehicles inside.  8 bytes a
	 * spot, from calloc, so pages of spots never taken stay untouched.
	 */
	struct ticket **on_spot;
	size_t keep_closed;
	size_t n_closed;
	struct ticket *oldest_closed, *newest_closed;
	struct epochs epochs;	/* which primary wrote which LSNs (epochs.h) */
	struct capacity *cap;	/* the waitlist and reservations (capacity.c) */
};

/* Appends one change; the caller reserved room before changing anything. */
static void
record(struct changes *out, enum change_kind kind, int64_t at,
    const struct ticket *t)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	c.at = at;
	c.t = t;
	changes_add(out, &c);
}

garage *
garage_new(facility *f, tariff *t, local_time_fn lt, void *lt_ud,
    enum alloc_strategy s, size_t keep_closed)
{
	garage *g = calloc(1, sizeof(*g));

	if (g == NULL)
		goto fail;
	g->fac = f;
	g->tariffs = calloc(1, sizeof(*g->tariffs));
	if (g->tariffs == NULL)
		goto fail;
	g->tariffs->t = t;
	g->tariffs->version = 1;
	g->local_time = lt;
	g->local_time_ud = lt_ud;
	g->keep_closed = keep_closed;
	epochs_init(&g->epochs);
	g->alloc = alloc_new(f);
	g->by_id = dict_new();
	g->by_plate = dict_new();
	g->inside = omap_new(PLATE_MAX);
	g->on_spot = calloc(facility_spot_count(f), sizeof(*g->on_spot));
	g->cap = capacity_new(f);
	if (g->alloc == NULL || g->by_id == NULL || g->by_plate == NULL ||
	    g->inside == NULL || g->on_spot == NULL || g->cap == NULL) {
		garage_free(g);
		return NULL;
	}
	alloc_set_strategy(g->alloc, s);
	return g;
fail:
	free(g);
	facility_free(f);
	tariff_free(t);
	return NULL;
}

/* Drops a ticket's hold on its tariff; a superseded one nobody uses goes. */
static void
tariff_unref(garage *g, struct tariff_ver *v)
{
	struct tariff_ver **pp;

	if (v == NULL || --v->refs > 0 || v == g->tariffs)
		return;
	for (pp = &g->tariffs; *pp != NULL; pp = &(*pp)->older) {
		if (*pp == v) {
			*pp = v->older;
			tariff_free(v->t);
			free(v);
			return;
		}
	}
}

static void
ticket_free(garage *g, struct ticket *t)
{
	if (t == NULL)
		return;
	tariff_unref(g, t->tariff);
	free(t->payments);
	free(t);
}

/* The ticket is priced by the tariff in force now. */
static void
price_by_current(garage *g, struct ticket *t)
{
	t->tariff = g->tariffs;
	t->tariff_version = g->tariffs->version;
	g->tariffs->refs++;
}

static struct tariff_ver *
find_version(const garage *g, uint32_t version)
{
	struct tariff_ver *v;

	for (v = g->tariffs; v != NULL; v = v->older)
		if (v->version == version)
			return v;
	return NULL;
}

void
garage_free(garage *g)
{
	size_t pos = 0;
	const char *key;
	void *value;

	if (g == NULL)
		return;
	if (g->by_id != NULL) {
		while (dict_next(g->by_id, &pos, &key, &value))
			ticket_free(g, value);
	}
	dict_free(g->by_id);
	dict_free(g->by_plate);
	omap_free(g->inside);
	free(g->on_spot);
	capacity_free(g->cap);
	alloc_free(g->alloc);
	while (g->tariffs != NULL) {
		struct tariff_ver *v = g->tariffs;

		g->tariffs = v->older;
		tariff_free(v->t);
		free(v);
	}
	facility_free(g->fac);
	free(g);
}

const facility *
garage_facility(const garage *g)
{
	return g->fac;
}

const alloc *
garage_alloc(const garage *g)
{
	return g->alloc;
}

const tariff *
garage_tariff(const garage *g)
{
	return g->tariffs->t;
}

uint32_t
garage_tariff_version(const garage *g)
{
	return g->tariffs->version;
}

/* Oldest first: the list is newest first and short, so recursion is fine. */
static void
each_older_first(const struct tariff_ver *v, int is_current,
    void (*fn)(void *ud, uint32_t version, const tariff *t), void *ud)
{
	if (v == NULL)
		return;
	each_older_first(v->older, 0, fn, ud);
	if (v->refs > 0 || is_current)
		fn(ud, v->version, v->t);
}

void
garage_each_tariff(const garage *g,
    void (*fn)(void *ud, uint32_t version, const tariff *t), void *ud)
{
	each_older_first(g->tariffs, 1, fn, ud);
}

const tariff *
garage_ticket_tariff(const garage *g, const struct ticket *t)
{
	return t->tariff != NULL ? t->tariff->t : g->tariffs->t;
}

pk_err
garage_set_tariff(garage *g, tariff *t, int64_t at, struct changes *out)
{
	if (changes_reserve(out, 1) != 0) {
		tariff_free(t);
		return PK_E_INTERNAL;
	}
	if (garage_restore_tariff(g, t, g->tariffs->version + 1) != PK_OK)
		return PK_E_INTERNAL;
	/* Nobody priced by the one it replaced: it goes now. */
	g->tariffs->older->refs++;
	tariff_unref(g, g->tariffs->older);
	record(out, CHG_TARIFF, at, NULL);
	return PK_OK;
}

int
garage_tariff_journaled(const garage *g)
{
	return g->tariffs->journaled;
}

pk_err
garage_journal_tariff(garage *g, int64_t at, struct changes *out)
{
	if (g->tariffs->journaled)
		return PK_OK;
	if (changes_reserve(out, 1) != 0)
		return PK_E_INTERNAL;
	g->tariffs->journaled = 1;
	record(out, CHG_TARIFF, at, NULL);
	return PK_OK;
}enum alloc_strategy
garage_strategy(const garage *g)
{
	return alloc_get_strategy(g->alloc);
}

pk_err
garage_set_strategy(garage *g, enum alloc_strategy s, int64_t at,
    struct changes *out)
{
	if (s == alloc_get_strategy(g->alloc))
		return PK_OK;
	if (changes_reserve(out, 1) != 0)
		return PK_E_INTERNAL;
	alloc_set_strategy(g->alloc, s);
	record(out, CHG_STRATEGY, at, NULL);
	return PK_OK;
}

int
garage_spot_service_is(const garage *g, uint32_t spot, int in_service)
{
	int out = alloc_spot_state(g->alloc, spot) == ALLOC_SPOT_OUT_OF_SERVICE ||
	    alloc_spot_pending_out_of_service(g->alloc, spot);

	return in_service ? !out : out;
}

pk_err
garage_set_spot_service(garage *g, uint32_t spot, int in_service, int64_t at,
    struct changes *out)
{
	struct change c;
	pk_err e;

	if (spot >= facility_spot_count(g->fac))
		return PK_E_INVALID_PARAMS;
	if (garage_spot_service_is(g, spot, in_service))
		return PK_OK;
	if (changes_reserve(out, 1) != 0)
		return PK_E_INTERNAL;
	e = alloc_set_in_service(g->alloc, spot, in_service);
	if (e != PK_OK)
		return e;
	memset(&c, 0, sizeof(c));
	c.kind = CHG_SPOT;
	c.at = at;
	c.spot = spot;
	c.in_service = in_service;
	changes_add(out, &c);
	if (alloc_spot_state(g->alloc, spot) == ALLOC_SPOT_FREE)
		capacity_serve(g, at, out);
	return PK_OK;
}

pk_err
garage_restore_spot_service(garage *g, uint32_t spot, int in_service)
{
	if (spot >= facility_spot_count(g->fac))
		return PK_E_INVALID_PARAMS;
	return alloc_set_in_service(g->alloc, spot, in_service);
}

void
garage_restore_strategy(garage *g, enum alloc_strategy s)
{
	alloc_set_strategy(g->alloc, s);
}

const struct epochs *
garage_epochs(const garage *g)
{
	return &g->epochs;
}

uint32_t
garage_epoch(const garage *g)
{
	return epochs_current(&g->epochs);
}

pk_err
garage_promote(garage *g, uint64_t lsn, int64_t at, struct changes *out)
{
	struct change c;
	pk_err e;

	if (changes_reserve(out, 1) != 0)
		return PK_E_INTERNAL;
	e = epochs_begin(&g->epochs, epochs_current(&g->epochs) + 1, lsn);
	if (e != PK_OK)
		return e;
	memset(&c, 0, sizeof(c));
	c.kind = CHG_EPOCH;
	c.at = at;
	changes_add(out, &c);
	return PK_OK;
}

pk_err
garage_restore_epoch(garage *g, uint32_t epoch, uint64_t lsn)
{
	return epochs_begin(&g->epochs, epoch, lsn);
}

struct ticket *
garage_ticket(const garage *g, const char *id)
{
	return dict_get(g->by_id, id);
}

struct ticket *
garage_inside(const garage *g, const char *plate)
{
	return dict_get(g->by_plate, plate);
}

size_t
garage_inside_count(const garage *g)
{
	return dict_size(g->by_plate);
}

size_t
garage_waitlist_depth(const garage *g)
{
	return waitlist_waiting_count(garage_waitlist(g));
}

void
garage_reservation_counts(const garage *g, struct resbook_counts *c)
{
	resbook_counts(garage_resbook(g), c);
}

const struct ticket *
garage_on_spot(const garage *g, uint32_t spot)
{
	return spot < facility_spot_count(g->fac) ? g->on_spot[spot] : NULL;
}

/*
 * Finds t by its plate, in both indexes, and by its spots; -1 (nothing
 * changed) when out of memory.
 */
static int
index_inside(garage *g, struct ticket *t)
{
	if (dict_set(g->by_plate, t->plate, t) != 0)
		return -1;
	if (omap_put(g->inside, t->plate, t, NULL) != PK_OK) {
		dict_del(g->by_plate, t->plate);
		return -1;
	}
	for (size_t i = 0; i < t->n_spots; i++)
		g->on_spot[t->spots[i]] = t;
	return 0;
}

int
garage_class_open(const garage *g, int gate, int cls)
{
	uint32_t spots[ALLOC_MAX_SPOTS];
	size_t n;

	return alloc_choose(g->alloc, gate, cls, 0, spots, &n) == PK_OK;
}

int
garage_sign(const garage *g, int gate, uint8_t *full, size_t max)
{
	int n = facility_class_count(g->fac);

	if (n < 0 || (size_t)n > max)
		return -1;
	for (int c = 0; c < n; c++)
		full[c] = !garage_class_open(g, gate, c);
	return n;
}

size_t
garage_search(const garage *g, const char *prefix, size_t limit,
    void (*fn)(void *ud, const struct ticket *t), void *ud, int *more)
{
	size_t plen = strlen(prefix), n = 0;
	const omap_node *nd;

	*more = 0;
	for (nd = omap_prefix_first(g->inside, prefix, plen); nd != NULL;
	    nd = omap_prefix_next(nd, prefix, plen)) {
		if (n == limit) {
			*more = 1;
			break;
		}
		fn(ud, omap_node_value(nd));
		n++;
	}
	return n;
}

pk_err
garage_entry(garage *g, const struct garage_entry_in *in, struct ticket **tp,
    struct changes *out)
{
	uint32_t spots[ALLOC_MAX_SPOTS];
	struct garage_entry_in walk = *in;
	size_t n = 0;
	pk_err e;

	if (!(facility_gate_role(g->fac, in->gate) & FAC_GATE_ENTRY))
		return PK_E_WRONG_GATE;
	if (dict_get(g->by_plate, in->plate) != NULL)
		return PK_E_PLATE_INSIDE;
	/* The entry, a reservation used, a waitlist entry left. */
	if (changes_reserve(out, 3) != 0)
		return PK_E_INTERNAL;
	if (capacity_arrival(g, in, tp, out, &e))
		return e;
	e = alloc_choose(g->alloc, in->gate, in->cls, in->needs, spots, &n);
	if (e != PK_OK)
		return e;
	/* A walk-in: the ticket names no reservation. */
	walk.reservation = NULL;
	if ((e = garage_issue(g, &walk, spots, n, tp)) != PK_OK)
		return e;
	record(out, CHG_ENTRY, in->at, *tp);
	capacity_entered(g, *tp, in->at, out);
	return PK_OK;
}

struct capacity *
garage_cap(const garage *g)
{
	return g->cap;
}

alloc *
garage_alloc_rw(garage *g)
{
	return g->alloc;
}

/* The lengths and plainness of t's id and plate (struct ticket). */
static void
ticket_texts(struct ticket *t)
{
	t->id_len = (uint8_t)strlen(t->id);
	t->plate_len = (uint8_t)strlen(t->plate);
	t->id_plain = (uint8_t)jw_plain(t->id, t->id_len);
	t->plate_plain = (uint8_t)jw_plain(t->plate, t->plate_len);
}

pk_err
garage_issue(garage *g, const struct garage_entry_in *in,
    const uint32_t *spots, size_t n, struct ticket **tp)
{
	struct alloc_counts c;
	struct ticket *t;

	/*
	 * malloc and memset, not calloc: glibc's calloc never takes from its
	 * per-thread cache, where the ticket an exit let go of waits.
	 */
	t = malloc(sizeof(*t) + n * sizeof(t->spots[0]));
	if (t == NULL)
		return PK_E_INTERNAL;
	memset(t, 0, sizeof(*t) + n * sizeof(t->spots[0]));
	memcpy(t->id, in->ticket_id, UUID_BUFSZ);
	t->id[UUID_STRLEN] = '\0';
	strncpy(t->plate, in->plate, PLATE_MAX);
	t->state = TICKET_INSIDE;
	t->cls = in->cls;
	t->entry_gate = in->gate;
	t->exit_gate = -1;
	t->entered_at = in->at;
	t->needs = in->needs;
	if (in->reservation != NULL)
		strncpy(t->reservation, in->reservation, UUID_STRLEN);
	t->n_spots = n;
	memcpy(t->spots, spots, n * sizeof(spots[0]));
	ticket_texts(t);

	/* Surge looks at the occupancy just before this vehicle came in. */
	alloc_counts(g->alloc, &c);
	t->surge_milli = tariff_surge_milli(garage_tariff(g), c.occupied, c.total);
	t->peak_milli = tariff_peak_milli(garage_tariff(g), g->local_time,
	    g->local_time_ud, in->at);

	if (dict_set(g->by_id, t->id, t) != 0) {
		free(t);
		return PK_E_INTERNAL;
	}
	if (index_inside(g, t) != 0) {
		dict_del(g->by_id, t->id);
		free(t);
		return PK_E_INTERNAL;
	}
	price_by_current(g, t);
	alloc_take(g->alloc, t->spots, t->n_spots);
	*tp = t;
	return PK_OK;
}

void
garage_quote(const garage *g, const struct ticket *t, int64_t at,
    struct garage_quote *q)
{
	const tariff *tf = garage_ticket_tariff(g, t);
	int64_t end = t->state == TICKET_EXITED ? t->exited_at : at;
	int32_t cm = tariff_class_milli(tf, facility_class_name(g->fac, t->cls));
	int64_t fee;

	memset(q, 0, sizeof(*q));
	q->at = end;
	fee = tariff_fee(tf, t->entered_at, end, cm, t->peak_milli,
	    t->surge_milli, &q->q);
	q->duration_s = end > t->entered_at ? end - t->entered_at : 0;
	if (t->lost && tariff_lost_fee(tf) > fee) {
		fee = tariff_lost_fee(tf);
		q->lost_fee_applied = 1;
	}
	q->fee = fee;
	q->due = fee > t->paid ? fee - t->paid : 0;
	if (t->n_payments > 0) {
		q->exit_by = t->last_paid_at + tariff_grace_s(tf);
		/*
		 * A payment covers the stay until the end of its grace period.
		 * A ticket lost meanwhile still owes the lost-ticket fee.
		 */
		if (end <= q->exit_by) {
			int64_t lost = t->lost ? tariff_lost_fee(tf) : 0;

			q->due = lost > t->paid ? lost - t->paid : 0;
		}
	}
}

void
garage_set_keep_closed(garage *g, size_t keep_closed)
{
	g->keep_closed = keep_closed;
}

static void
retain_closed(garage *g, struct ticket *t)
{
	t->older = g->newest_closed;
	t->newer = NULL;
	if (g->newest_closed != NULL)
		g->newest_closed->newer = t;
	else
		g->oldest_closed = t;
	g->newest_closed = t;
	g->n_closed++;
	while (g->n_closed > g->keep_closed && g->oldest_closed != t) {
		struct ticket *old = g->oldest_closed;

		g->oldest_closed = old->newer;
		if (g->oldest_closed != NULL)
			g->oldest_closed->older = NULL;
		else
			g->newest_closed = NULL;
		g->n_closed--;
		dict_del(g->by_id, old->id);
		ticket_free(g, old);
	}
}

static void
close_ticket(garage *g, struct ticket *t, int gate, int64_t at)
{
	alloc_release(g->alloc, t->spots, t->n_spots);
	dict_del(g->by_plate, t->plate);
	omap_del(g->inside, t->plate);
	for (size_t i = 0; i < t->n_spots; i++) {
		if (g->on_spot[t->spots[i]] == t)
			g->on_spot[t->spots[i]] = NULL;
	}
	t->state = TICKET_EXITED;
	t->exit_gate = gate;
	t->exited_at = at;
	t->charged = t->paid;
	retain_closed(g, t);
}

pk_err
garage_exit(garage *g, struct ticket *t, int gate, int64_t at,
    struct garage_quote *q, struct changes *out)
{
	if (!(facility_gate_role(g->fac, gate) & FAC_GATE_EXIT))
		return PK_E_WRONG_GATE;
	if (t->state != TICKET_INSIDE)
		return PK_E_NOT_FOUND;
	if (at < t->entered_at)
		return PK_E_INVALID_PARAMS;
	garage_quote(g, t, at, q);
	if (q->due > 0)
		return PK_E_PAYMENT_REQUIRED;
	if (changes_reserve(out, 1) != 0)
		return PK_E_INTERNAL;
	close_ticket(g, t, gate, at);
	record(out, CHG_EXIT, at, t);
	capacity_serve(g, at, out);
	return PK_OK;
}

static const struct payment *
find_reference(const struct ticket *t, const char *reference)
{
	for (size_t i = 0; i < t->n_payments; i++) {
		if (strcmp(t->payments[i].reference, reference) == 0)
			return &t->payments[i];
	}
	return NULL;
}

static int
add_payment(struct ticket *t, const struct payment *p)
{
	struct payment *np = realloc(t->payments, (t->n_payments + 1) * sizeof(*np));

	if (np == NULL)
		return -1;
	t->payments = np;
	np[t->n_payments++] = *p;
	t->paid += p->amount;
	if (p->at > t->last_paid_at)
		t->last_paid_at = p->at;
	return 0;
}

pk_err
garage_pay(garage *g, struct ticket *t, const struct garage_pay_in *in,
    const struct payment **pp, int *replayed, struct garage_quote *q,
    struct changes *out)
{
	struct change c;
	struct payment np;
	const struct payment *prev, *p;

	*replayed = 0;
	if (in->reference != NULL && in->reference[0] != '\0') {
		prev = find_reference(t, in->reference);
		if (prev != NULL) {
			garage_quote(g, t, in->at, q);
			*pp = prev;
			*replayed = 1;
			return PK_OK;
		}
	}
	if (t->state != TICKET_INSIDE)
		return PK_E_NOT_FOUND;
	garage_quote(g, t, in->at, q);
	if (in->amount != q->due || q->due == 0)
		return PK_E_AMOUNT_MISMATCH;

	memset(&np, 0, sizeof(np));
	memcpy(np.receipt, in->receipt_id, UUID_STRLEN);
	if (in->reference != NULL)
		strncpy(np.reference, in->reference, PAY_REFERENCE_MAX);
	if (in->method != NULL)
		strncpy(np.method, in->method, PAY_METHOD_MAX);
	np.amount = in->amount;
	np.at = in->at;
	if (changes_reserve(out, 1) != 0 || add_payment(t, &np) != 0)
		return PK_E_INTERNAL;
	p = &t->payments[t->n_payments - 1];
	garage_quote(g, t, in->at, q);
	*pp = p;
	memset(&c, 0, sizeof(c));
	c.kind = CHG_PAY;
	c.at = in->at;
	c.t = t;
	c.pay = t->n_payments - 1;
	changes_add(out, &c);
	return PK_OK;
}

pk_err
garage_lost(garage *g, struct ticket *t, int64_t at, struct garage_quote *q,
    struct changes *out)
{
	if (t->state != TICKET_INSIDE)
		return PK_E_NOT_FOUND;
	if (!t->lost) {
		if (changes_reserve(out, 1) != 0)
			return PK_E_INTERNAL;
		t->lost = 1;
		t->lost_at = at;
		record(out, CHG_LOST, at, t);
	}
	garage_quote(g, t, at, q);
	return PK_OK;
}

pk_err
garage_restore_ticket(garage *g, const struct ticket *img,
    const uint32_t *spots, const struct payment *pays)
{
	uint32_t nspots = facility_spot_count(g->fac);
	struct ticket *t;

	if (img->n_spots == 0 || img->n_spots > ALLOC_MAX_SPOTS ||
	    dict_get(g->by_id, img->id) != NULL)
		return PK_E_INVALID_PARAMS;
	if (img->state == TICKET_INSIDE) {
		if (dict_get(g->by_plate, img->plate) != NULL)
			return PK_E_INVALID_PARAMS;
		for (size_t i = 0; i < img->n_spots; i++) {
			if (spots[i] >= nspots ||
			    alloc_spot_state(g->alloc, spots[i]) == ALLOC_SPOT_OCCUPIED)
				return PK_E_INVALID_PARAMS;
		}
	}
	t = calloc(1, sizeof(*t) + img->n_spots * sizeof(t->spots[0]));
	if (t == NULL)
		return PK_E_INTERNAL;
	*t = *img;
	ticket_texts(t);
	t->payments = NULL;
	t->n_payments = 0;
	t->paid = 0;
	t->last_paid_at = 0;
	t->older = t->newer = NULL;
	/* Priced by the version it names; records from before versions: today's. */
	t->tariff = img->tariff_version ? find_version(g, img->tariff_version) :
	    g->tariffs;
	if (t->tariff == NULL) {
		free(t);
		return PK_E_INVALID_PARAMS;
	}
	t->tariff_version = t->tariff->version;
	t->tariff->refs++;
	memcpy(t->spots, spots, img->n_spots * sizeof(spots[0]));
	for (size_t i = 0; i < img->n_payments; i++) {
		if (add_payment(t, &pays[i]) != 0) {
			ticket_free(g, t);
			return PK_E_INTERNAL;
		}
	}
	if (dict_set(g->by_id, t->id, t) != 0) {
		ticket_free(g, t);
		return PK_E_INTERNAL;
	}
	if (t->state == TICKET_EXITED) {
		t->charged = img->charged;
		retain_closed(g, t);
		return PK_OK;
	}
	if (index_inside(g, t) != 0) {
		dict_del(g->by_id, t->id);
		ticket_free(g, t);
		return PK_E_INTERNAL;
	}
	/* A spot set out of service while free cannot be taken; keep the ticket's word. */
	for (size_t i = 0; i < t->n_spots; i++) {
		if (alloc_spot_state(g->alloc, t->spots[i]) == ALLOC_SPOT_OUT_OF_SERVICE) {
			alloc_set_in_service(g->alloc, t->spots[i], 1);
			alloc_take(g->alloc, &t->spots[i], 1);
			alloc_set_in_service(g->alloc, t->spots[i], 0);
		} else {
			alloc_take(g->alloc, &t->spots[i], 1);
		}
	}
	return PK_OK;
}

pk_err
garage_restore_exit(garage *g, struct ticket *t, int gate, int64_t at)
{
	if (t->state != TICKET_INSIDE)
		return PK_E_INVALID_PARAMS;
	close_ticket(g, t, gate, at);
	return PK_OK;
}

pk_err
garage_restore_pay(garage *g, struct ticket *t, const struct payment *p)
{
	(void)g;
	return add_payment(t, p) == 0 ? PK_OK : PK_E_INTERNAL;
}

void
garage_restore_lost(garage *g, struct ticket *t, int64_t at)
{
	(void)g;
	if (!t->lost) {
		t->lost = 1;
		t->lost_at = at;
	}
}

pk_err
garage_restore_tariff(garage *g, tariff *t, uint32_t version)
{
	struct tariff_ver *v, *old = g->tariffs;

	/* The configuration's tariff, never journaled and pricing nobody: its record. */
	if ((version == 0 || version == old->version) && !old->journaled &&
	    old->refs == 0) {
		tariff_free(old->t);
		old->t = t;
		old->journaled = 1;
		return PK_OK;
	}
	if (version == 0)
		version = old->version + 1;	/* a record from before versions */
	if (version <= old->version) {
		tariff_free(t);
		return PK_E_INVALID_PARAMS;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		tariff_free(t);
		return PK_E_INTERNAL;
	}
	v->t = t;
	v->version = version;
	v->journaled = 1;
	v->older = old;
	g->tariffs = v;
	/*
	 * The one it replaces stays, for the tickets priced by it.  Replay
	 * restores tariffs before the tickets that name them, so nothing is
	 * dropped here; live changes drop an unused one (garage_set_tariff),
	 * and snapshots leave unused ones out.
	 */
	return PK_OK;
}void
garage_each_ticket(const garage *g,
    void (*fn)(void *ud, const struct ticket *t), void *ud)
{
	size_t pos = 0;
	const char *key;
	void *value;

	for (const struct ticket *t = g->oldest_closed; t != NULL; t = t->newer)
		fn(ud, t);
	while (dict_next(g->by_plate, &pos, &key, &value))
		fn(ud, value);
}
