/* record_cap.c - journal and snapshot records of the waitlist and the reservations (see record_impl.h). */
#include "record_impl.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "capacity.h"
#include "jread.h"

/*
 * The records, all shaped like audit events (record.h):
 *
 *   waitlist.queued      {waitlist_id, plate, class, gate, needs_mask, seq,
 *                         queued_at, expires_at}
 *   waitlist.assigned    {waitlist_id, plate, ticket, spots, at}, after the
 *                         vehicle.entered of its ticket
 *   waitlist.expired     {waitlist_id, plate, at}
 *   waitlist.cancelled   {waitlist_id, plate, at}
 *   reservation.created  {reservation, plate, class, gate, type, units,
 *                         max_spots, spot?, needs_mask, from, to, hold_at,
 *                         no_show_at, created_at, state}
 *   reservation.held     {reservation, plate, state: held or owed, spots, at}
 *   reservation.used     {reservation, plate, ticket, at}, after the
 *                         vehicle.entered of its ticket
 *   reservation.no_show  {reservation, plate, released, at}
 *   reservation.cancelled {reservation, plate, released, at}
 *
 * Subjects: vehicle:PLATE always; reservation:ID for reservations; the
 * spots held or released (not a spot a booking names: it is not held
 * yet); ticket:ID and the spots of an assignment or a use; gate:ID for
 * the waitlist.  Snapshots add snapshot.reservation (a
 * created record with state, changed_at, spots held and ticket),
 * snapshot.waitlist (a queued record with state, outcome_at and ticket)
 * and snapshot.waitlist_seq {next_seq}.
 */

#define NUM_MAX ((int64_t)1 << 53)	/* integers a JSON double carries */

static const char *const wait_states[] = { "waiting", "assigned", "expired",
    "cancelled", NULL };
static const char *const resv_states[] = { "booked", "held", "owed", "used",
    "no_show", "cancelled", NULL };
static const char *const hold_states[] = { "held", "owed", NULL };

/* ---- writing ---- */

static void
spot_list(struct jw *w, const facility *f, const char *key,
    const uint32_t *spots, size_t n)
{
	char name[48];

	jw_keyv(w, key);
	jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		facility_spot_name(f, spots[i], name);
		jw_str(w, name);
	}
	jw_arr_end(w);
}

static void
spot_subjects(struct jw *w, const facility *f, const uint32_t *spots,
    size_t n)
{
	char name[48];

	for (size_t i = 0; i < n; i++) {
		facility_spot_name(f, spots[i], name);
		record_subject(w, "spot", name);
	}
}

/* The facts of an entry as queued: the same in a record and a snapshot. */
static void
wait_facts(struct jw *w, const facility *f, const struct waitlist_entry *e)
{
	jw_kstr(w, "waitlist_id", e->id);
	jw_kstr(w, "plate", e->plate);
	jw_kstr(w, "class", facility_class_name(f, e->cls));
	jw_kstr(w, "gate", facility_gate_id(f, e->gate));
	jw_kuint(w, "needs_mask", e->needs);
	jw_kuint(w, "seq", e->seq);
	jw_ktime(w, "queued_at", e->queued_at);
	jw_ktime(w, "expires_at", e->expires_at);
}

static void
wait_write(const garage *g, const struct change *c, const char *type,
    const char *event_id, struct jw *w)
{
	const facility *f = garage_facility(g);
	const struct waitlist_entry *e = garage_wait_get(g, c->ref);

	record_head(w, type, event_id, c->at);
	if (e != NULL)
		record_subject(w, "vehicle", e->plate);
	if (c->kind == CHG_WAIT_ASSIGNED && c->t != NULL) {
		record_subject(w, "ticket", c->t->id);
		spot_subjects(w, f, c->t->spots, c->t->n_spots);
	}
	if (e != NULL)
		record_subject(w, "gate", facility_gate_id(f, e->gate));
	record_data(w);
	if (e == NULL) {
		/* Cannot happen (see change.h); the record still names it. */
		jw_kstr(w, "waitlist_id", c->ref);
		return;
	}
	if (c->kind == CHG_WAIT_QUEUED) {
		wait_facts(w, f, e);
		return;
	}
	jw_kstr(w, "waitlist_id", e->id);
	jw_kstr(w, "plate", e->plate);
	if (c->kind == CHG_WAIT_ASSIGNED && c->t != NULL) {
		jw_kstr(w, "ticket", c->t->id);
		spot_list(w, f, "spots", c->t->spots, c->t->n_spots);
	}
	jw_ktime(w, "at", c->at);
}

/* The facts of a reservation as booked: the same in a record and a snapshot. */
static void
resv_facts(struct jw *w, const facility *f, const struct resv *r)
{
	char name[48];

	jw_kstr(w, "reservation", r->id);
	jw_kstr(w, "plate", r->plate);
	jw_kstr(w, "class", facility_class_name(f, r->cls));
	jw_kstr(w, "gate", facility_gate_id(f, r->gate));
	jw_kstr(w, "type", facility_type_name(f, r->type));
	jw_kuint(w, "units", r->units);
	jw_kuint(w, "max_spots", r->max_spots);
	if (r->spot != RESV_NO_SPOT) {
		facility_spot_name(f, r->spot, name);
		jw_kstr(w, "spot", name);
	}
	jw_kuint(w, "needs_mask", r->needs);
	jw_ktime(w, "from", r->from);
	jw_ktime(w, "to", r->to);
	jw_ktime(w, "hold_at", r->hold_at);
	jw_ktime(w, "no_show_at", r->no_show_at);
	jw_ktime(w, "created_at", r->created_at);
}

static void
resv_write(const garage *g, const struct change *c, const char *type,
    const char *event_id, struct jw *w)
{
	const facility *f = garage_facility(g);
	const struct resv *r = garage_reservation(g, c->ref);
	int released = c->kind == CHG_RESV_NO_SHOW || c->kind == CHG_RESV_CANCELLED;

	record_head(w, type, event_id, c->at);
	record_subject(w, "reservation", c->ref);
	if (r != NULL) {
		/* A spot is a subject once it is held (the booking only names it). */
		record_subject(w, "vehicle", r->plate);
		if (c->kind == CHG_RESV_HELD || released)
			spot_subjects(w, f, r->held, r->n_held);
		if (c->kind == CHG_RESV_USED && c->t != NULL) {
			record_subject(w, "ticket", c->t->id);
			spot_subjects(w, f, c->t->spots, c->t->n_spots);
		}
	}
	record_data(w);
	if (r == NULL) {
		jw_kstr(w, "reservation", c->ref);
		return;
	}
	switch (c->kind) {
	case CHG_RESV_CREATED:
		resv_facts(w, f, r);
		jw_kstr(w, "state", "booked");
		return;
	case CHG_RESV_HELD:
	case CHG_RESV_OWED:
		jw_kstr(w, "reservation", r->id);
		jw_kstr(w, "plate", r->plate);
		jw_kstr(w, "state", c->kind == CHG_RESV_HELD ? "held" : "owed");
		spot_list(w, f, "spots", r->held,
		    c->kind == CHG_RESV_HELD ? r->n_held : 0);
		break;
	case CHG_RESV_USED:
		jw_kstr(w, "reservation", r->id);
		jw_kstr(w, "plate", r->plate);
		jw_kstr(w, "ticket", c->t != NULL ? c->t->id : r->ticket);
		break;
	default:
		jw_kstr(w, "reservation", r->id);
		jw_kstr(w, "plate", r->plate);
		spot_list(w, f, "released", r->held, r->n_held);
		break;
	}
	jw_ktime(w, "at", c->at);
}

void
record_cap_write(const garage *g, const struct change *c, const char *event_id,
    struct jw *w)
{
	switch (c->kind) {
	case CHG_WAIT_QUEUED:
		wait_write(g, c, "waitlist.queued", event_id, w);
		break;
	case CHG_WAIT_ASSIGNED:
		wait_write(g, c, "waitlist.assigned", event_id, w);
		break;
	case CHG_WAIT_EXPIRED:
		wait_write(g, c, "waitlist.expired", event_id, w);
		break;
	case CHG_WAIT_CANCELLED:
		wait_write(g, c, "waitlist.cancelled", event_id, w);
		break;
	case CHG_RESV_CREATED:
		resv_write(g, c, "reservation.created", event_id, w);
		break;
	case CHG_RESV_HELD:
	case CHG_RESV_OWED:
		/* An owed hold is a hold that began without a spot. */
		resv_write(g, c, "reservation.held", event_id, w);
		break;
	case CHG_RESV_USED:
		resv_write(g, c, "reservation.used", event_id, w);
		break;
	case CHG_RESV_NO_SHOW:
		resv_write(g, c, "reservation.no_show", event_id, w);
		break;
	case CHG_RESV_CANCELLED:
		resv_write(g, c, "reservation.cancelled", event_id, w);
		break;
	default:
		record_head(w, "unknown", event_id, c->at);
		record_data(w);
		break;
	}
}

/* ---- reading ---- */

static int
read_id(const cJSON *d, const char *key, char *dst, size_t cap,
    struct jerr *e)
{
	const char *s;

	if (jr_str(d, "data", key, JR_REQUIRED, cap - 1, &s, e) < 0)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int
read_class(const facility *f, const cJSON *d, int *cls, struct jerr *e)
{
	const char *s;

	if (jr_str(d, "data", "class", JR_REQUIRED, 64, &s, e) < 0)
		return -1;
	if ((*cls = facility_class_lookup(f, s)) < 0)
		return jerr_set(e, "data.class", "unknown class '%s'", s);
	return 0;
}

static int
read_u64(const cJSON *d, const char *key, int64_t min, uint64_t *out,
    struct jerr *e)
{
	int64_t v = 0;

	if (jr_int(d, "data", key, JR_REQUIRED, min, NUM_MAX, &v, e) < 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* A waitlist entry: as queued, or (whole) a snapshot's in any state. */
static int
read_wait(const facility *f, const cJSON *d, int whole,
    struct waitlist_entry *img, struct jerr *e)
{
	int st = WAITLIST_WAITING;

	memset(img, 0, sizeof(*img));
	if (read_id(d, "waitlist_id", img->id, sizeof(img->id), e) != 0 ||
	    read_id(d, "plate", img->plate, sizeof(img->plate), e) != 0 ||
	    read_class(f, d, &img->cls, e) != 0 ||
	    record_read_gate(f, d, "gate", &img->gate, e) != 0 ||
	    read_u64(d, "needs_mask", 0, &img->needs, e) != 0 ||
	    read_u64(d, "seq", 1, &img->seq, e) != 0 ||
	    jr_time(d, "data", "queued_at", JR_REQUIRED, &img->queued_at, e) < 0 ||
	    jr_time(d, "data", "expires_at", JR_REQUIRED, &img->expires_at, e) < 0)
		return -1;
	if (!whole)
		return 0;
	if (jr_enum(d, "data", "state", JR_REQUIRED, wait_states, &st, e) < 0)
		return -1;
	img->state = (enum waitlist_state)st;
	if (st == WAITLIST_WAITING)
		return 0;
	if (jr_time(d, "data", "outcome_at", JR_REQUIRED, &img->outcome_at, e) < 0)
		return -1;
	if (st == WAITLIST_ASSIGNED &&
	    read_id(d, "ticket", img->ticket, sizeof(img->ticket), e) != 0)
		return -1;
	return 0;
}

/* A reservation: as created, or (whole) a snapshot's in any state. */
static int
read_resv(const facility *f, const cJSON *d, int whole, struct resv *img,
    uint32_t held[ALLOC_MAX_SPOTS], struct jerr *e)
{
	const char *type, *spot = NULL, *ticket = NULL;
	int64_t units = 0, max_spots = 0;
	size_t n = 0;
	int st = RESV_BOOKED;

	memset(img, 0, sizeof(*img));
	img->spot = RESV_NO_SPOT;
	img->held = held;
	if (read_id(d, "reservation", img->id, sizeof(img->id), e) != 0 ||
	    read_id(d, "plate", img->plate, sizeof(img->plate), e) != 0 ||
	    read_class(f, d, &img->cls, e) != 0 ||
	    record_read_gate(f, d, "gate", &img->gate, e) != 0 ||
	    jr_str(d, "data", "type", JR_REQUIRED, 64, &type, e) < 0 ||
	    jr_int(d, "data", "units", JR_REQUIRED, 1, ALLOC_MAX_SPOTS, &units,
	    e) < 0 ||
	    jr_int(d, "data", "max_spots", JR_REQUIRED, 1, ALLOC_MAX_SPOTS,
	    &max_spots, e) < 0 ||
	    jr_str(d, "data", "spot", 0, 64, &spot, e) < 0 ||
	    read_u64(d, "needs_mask", 0, &img->needs, e) != 0 ||
	    jr_time(d, "data", "from", JR_REQUIRED, &img->from, e) < 0 ||
	    jr_time(d, "data", "to", JR_REQUIRED, &img->to, e) < 0 ||
	    jr_time(d, "data", "hold_at", JR_REQUIRED, &img->hold_at, e) < 0 ||
	    jr_time(d, "data", "no_show_at", JR_REQUIRED, &img->no_show_at, e) < 0 ||
	    jr_time(d, "data", "created_at", JR_REQUIRED, &img->created_at, e) < 0)
		return -1;
	if ((img->type = facility_type_lookup(f, type)) < 0)
		return jerr_set(e, "data.type", "unknown spot type '%s'", type);
	if (spot != NULL && facility_spot_lookup(f, spot, &img->spot) != 0)
		return jerr_set(e, "data.spot", "unknown spot %s", spot);
	img->units = (uint32_t)units;
	img->max_spots = (uint32_t)max_spots;
	img->changed_at = img->created_at;
	if (!whole)
		return 0;
	if (jr_enum(d, "data", "state", JR_REQUIRED, resv_states, &st, e) < 0 ||
	    jr_time(d, "data", "changed_at", JR_REQUIRED, &img->changed_at, e) < 0 ||
	    jr_str(d, "data", "ticket", 0, RESBOOK_ID_MAX, &ticket, e) < 0 ||
	    record_read_spots(f, d, held, &n, e) != 0)
		return -1;
	img->state = (enum resv_state)st;
	img->n_held = (uint32_t)n;
	if (ticket != NULL)
		memcpy(img->ticket, ticket, strlen(ticket) + 1);
	return 0;
}

/* The waitlist entry or reservation a state change names, and its time. */
static int
read_ref(const cJSON *d, const char *key, char id[UUID_BUFSZ], int64_t *at,
    struct jerr *e)
{
	if (read_id(d, key, id, UUID_BUFSZ, e) != 0 ||
	    jr_time(d, "data", "at", JR_REQUIRED, at, e) < 0)
		return -1;
	return 0;
}

/* A refusal of the garage's own, named by the record's id. */
static pk_err
refused(pk_err err, const char *id, const char *what, struct jerr *e)
{
	if (err != PK_OK && err != PK_E_INTERNAL)
		jerr_set(e, "data", "%s %s does not fit the state", what, id);
	return err;
}

static const char *const cap_types[] = { "waitlist.queued",
    "waitlist.assigned", "waitlist.expired", "waitlist.cancelled",
    "reservation.created", "reservation.held", "reservation.used",
    "reservation.no_show", "reservation.cancelled", "snapshot.waitlist",
    "snapshot.waitlist_seq", "snapshot.reservation", NULL };

int
record_cap_type(const char *type)
{
	for (size_t i = 0; cap_types[i] != NULL; i++)
		if (strcmp(cap_types[i], type) == 0)
			return 1;
	return 0;
}

static pk_err
apply_wait(garage *g, const char *type, const cJSON *d, struct jerr *e)
{
	const facility *f = garage_facility(g);
	struct waitlist_entry img;
	char id[UUID_BUFSZ], ticket[UUID_BUFSZ];
	int64_t at = 0;
	uint64_t seq = 0;

	if (strcmp(type, "waitlist.queued") == 0 ||
	    strcmp(type, "snapshot.waitlist") == 0) {
		if (read_wait(f, d, type[0] == 's', &img, e) != 0)
			return PK_E_INVALID_PARAMS;
		return refused(garage_restore_wait(g, &img), img.id,
		    "waitlist entry", e);
	}
	if (strcmp(type, "snapshot.waitlist_seq") == 0) {
		if (read_u64(d, "next_seq", 1, &seq, e) != 0)
			return PK_E_INVALID_PARAMS;
		garage_restore_wait_seq(g, seq);
		return PK_OK;
	}
	if (read_ref(d, "waitlist_id", id, &at, e) != 0)
		return PK_E_INVALID_PARAMS;
	if (strcmp(type, "waitlist.assigned") == 0) {
		if (read_id(d, "ticket", ticket, sizeof(ticket), e) != 0)
			return PK_E_INVALID_PARAMS;
		return refused(garage_restore_wait_assign(g, id, ticket, at), id,
		    "waitlist entry", e);
	}
	if (strcmp(type, "waitlist.expired") == 0)
		return refused(garage_restore_wait_expire(g, id), id,
		    "waitlist entry", e);
	return refused(garage_restore_wait_cancel(g, id, at), id,
	    "waitlist entry", e);
}

static pk_err
apply_resv(garage *g, const char *type, const cJSON *d, struct jerr *e)
{
	const facility *f = garage_facility(g);
	uint32_t held[ALLOC_MAX_SPOTS];
	char id[UUID_BUFSZ], ticket[UUID_BUFSZ];
	struct resv img;
	int64_t at = 0;
	size_t n = 0;
	int st = 0;

	if (strcmp(type, "reservation.created") == 0 ||
	    strcmp(type, "snapshot.reservation") == 0) {
		if (read_resv(f, d, type[0] == 's', &img, held, e) != 0)
			return e->nomem ? PK_E_INTERNAL : PK_E_INVALID_PARAMS;
		return refused(garage_restore_resv(g, &img), img.id,
		    "reservation", e);
	}
	if (read_ref(d, "reservation", id, &at, e) != 0)
		return PK_E_INVALID_PARAMS;
	if (strcmp(type, "reservation.held") == 0) {
		if (jr_enum(d, "data", "state", JR_REQUIRED, hold_states, &st,
		    e) < 0)
			return PK_E_INVALID_PARAMS;
		if (st == 1)
			return refused(garage_restore_resv_owed(g, id, at), id,
			    "reservation", e);
		if (record_read_spots(f, d, held, &n, e) != 0)
			return PK_E_INVALID_PARAMS;
		return refused(garage_restore_resv_held(g, id, held, n, at), id,
		    "reservation", e);
	}
	if (strcmp(type, "reservation.used") == 0) {
		if (read_id(d, "ticket", ticket, sizeof(ticket), e) != 0)
			return PK_E_INVALID_PARAMS;
		return refused(garage_restore_resv_used(g, id, ticket, at), id,
		    "reservation", e);
	}
	if (strcmp(type, "reservation.no_show") == 0)
		return refused(garage_restore_resv_no_show(g, id, at), id,
		    "reservation", e);
	return refused(garage_restore_resv_cancel(g, id, at), id,
	    "reservation", e);
}

pk_err
record_cap_apply(garage *g, const char *type, const cJSON *d, struct jerr *e)
{
	if (strncmp(type, "waitlist.", 9) == 0 ||
	    strncmp(type, "snapshot.waitlist", 17) == 0)
		return apply_wait(g, type, d, e);
	return apply_resv(g, type, d, e);
}

/* ---- snapshots ---- */

static void
snap_resv(void *ud, const struct resv *r)
{
	struct record_snap *s = ud;
	const facility *f = garage_facility(s->g);
	struct jw *w;

	if (s->rc != 0)
		return;
	w = record_snap_begin(s, "snapshot.reservation");
	resv_facts(w, f, r);
	jw_kstr(w, "state", resv_state_name(r->state));
	jw_ktime(w, "changed_at", r->changed_at);
	spot_list(w, f, "spots", r->held, r->n_held);
	if (r->ticket[0] != '\0')
		jw_kstr(w, "ticket", r->ticket);
	record_snap_end(s);
}

void
record_cap_snapshot(struct record_snap *s)
{
	const facility *f = garage_facility(s->g);
	const waitlist *wl = garage_waitlist(s->g);
	const struct waitlist_entry *e;
	struct waitlist_iter it;
	struct jw *w;

	resbook_each(garage_resbook(s->g), snap_resv, s);
	/* Waiting entries in arrival order, then the kept outcomes. */
	memset(&it, 0, sizeof(it));
	while (s->rc == 0 && (e = waitlist_iter_next(wl, &it)) != NULL) {
		w = record_snap_begin(s, "snapshot.waitlist");
		wait_facts(w, f, e);
		jw_kstr(w, "state", waitlist_state_name(e->state));
		if (e->state != WAITLIST_WAITING)
			jw_ktime(w, "outcome_at", e->outcome_at);
		if (e->state == WAITLIST_ASSIGNED)
			jw_kstr(w, "ticket", e->ticket);
		record_snap_end(s);
	}
	/* A garage nobody ever waited in has nothing to say here. */
	if (s->rc == 0 && waitlist_next_seq(wl) > 1) {
		jw_kuint(record_snap_begin(s, "snapshot.waitlist_seq"), "next_seq",
		    waitlist_next_seq(wl));
		record_snap_end(s);
	}
}
