/* record.c - journal records as JSON (see record.h). */
#include "record.h"
#include "hex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jread.h"
#include "jsonw.h"
#include "record_impl.h"
#include "tariff_load.h"
#include "view.h"

static void
spot_subjects(struct jw *w, const facility *f, const struct ticket *t)
{
	char name[48];

	for (size_t i = 0; i < t->n_spots; i++) {
		facility_spot_name(f, t->spots[i], name);
		record_subject(w, "spot", name);
	}
}

static void
spot_names(struct jw *w, const facility *f, const struct ticket *t)
{
	char name[48];

	jw_key(w, "spots");
	jw_arr(w);
	for (size_t i = 0; i < t->n_spots; i++) {
		facility_spot_name(f, t->spots[i], name);
		jw_str(w, name);
	}
	jw_arr_end(w);
}

static void
payment(struct jw *w, const struct payment *p)
{
	jw_obj(w);
	jw_kstr(w, "receipt", p->receipt);
	jw_kint(w, "amount", p->amount);
	jw_kstr(w, "method", p->method);
	jw_kstr(w, "reference", p->reference);
	jw_ktime(w, "at", p->at);
	jw_obj_end(w);
}

/*
 * What entry decided, as replay needs it: the same members in an entry
 * record and a snapshot's ticket.
 */
static void
entry_facts(struct jw *w, const facility *f, const struct ticket *t)
{
	view_ticket_names(w, t);
	jw_kstr(w, "class", facility_class_name(f, t->cls));
	jw_kstr(w, "gate", facility_gate_id(f, t->entry_gate));
	jw_ktime(w, "entered_at", t->entered_at);
	spot_names(w, f, t);
	jw_kint(w, "peak_milli", t->peak_milli);
	jw_kint(w, "surge_milli", t->surge_milli);
	jw_kuint(w, "needs_mask", t->needs);
	jw_kuint(w, "tariff_version", t->tariff_version);
	if (t->reservation[0] != '\0')
		jw_kstr(w, "reservation", t->reservation);
}

/* The whole ticket, for snapshots. */
static void
ticket_facts(struct jw *w, const facility *f, const struct ticket *t)
{
	entry_facts(w, f, t);
	if (t->lost)
		jw_ktime(w, "lost_at", t->lost_at);
	jw_key(w, "payments");
	jw_arr(w);
	for (size_t i = 0; i < t->n_payments; i++)
		payment(w, &t->payments[i]);
	jw_arr_end(w);
	if (t->state == TICKET_EXITED) {
		jw_kstr(w, "exit_gate", facility_gate_id(f, t->exit_gate));
		jw_ktime(w, "exited_at", t->exited_at);
		jw_kint(w, "charged", t->charged);
	}
}

/* The envelope up to the subjects array, which is left open. */
static void
head(struct jw *w, const char *type, const char *event_id, int64_t ts)
{
	jw_obj(w);
	/* Both plain: an id of ours (record_write), a type name of ours. */
	if (event_id == NULL)
		event_id = "";
	jw_kstrk(w, "id", event_id, strlen(event_id), 1);
	jw_ktime(w, "ts", ts);
	jw_kstrk(w, "type", type, strlen(type), 1);
	jw_key(w, "subjects");
	jw_arr(w);
}

/* Closes the subjects and opens data. */
static void
data(struct jw *w)
{
	jw_arr_end(w);
	jw_key(w, "data");
	jw_obj(w);
}

/*
 * The envelope of an event about ticket t, up to its open data: the
 * vehicle and ticket subjects, and with gate >= 0 (entry, exit) the spots
 * and the gate too.
 */
static void
ticket_event(struct jw *w, const char *type, const char *event_id,
    const struct change *c, const facility *f, int gate)
{
	head(w, type, event_id, c->at);
	jw_prefixedk(w, "vehicle:", c->t->plate, c->t->plate_len,
	    c->t->plate_plain);
	jw_prefixedk(w, "ticket:", c->t->id, c->t->id_len, c->t->id_plain);
	if (c->kind == CHG_ENTRY && c->t->reservation[0] != '\0')
		record_subject(w, "reservation", c->t->reservation);
	if (gate >= 0) {
		spot_subjects(w, f, c->t);
		record_subject(w, "gate", facility_gate_id(f, gate));
	}
	data(w);
}

/* The envelope of an event about the facility as a whole. */
static void
facility_event(struct jw *w, const char *type, const char *event_id,
    const struct change *c, const facility *f)
{
	head(w, type, event_id, c->at);
	record_subject(w, "facility", facility_name(f));
	data(w);
}

static const char *
registry_event_type(enum change_kind k)
{
	switch (k) {
	case CHG_VEHICLE_REGISTERED:
		return "vehicle.registered";
	case CHG_VEHICLE_UPDATED:
		return "vehicle.updated";
	case CHG_VEHICLE_DELETED:
		return "vehicle.deleted";
	default:
		return "vehicle.expired";
	}
}

void
record_write(const garage *g, const struct change *c, const char *event_id,
    struct jw *w)
{
	const facility *f = garage_facility(g);
	const struct ticket *t = c->t;
	char name[48];

	switch (c->kind) {
	case CHG_ENTRY:
		ticket_event(w, "vehicle.entered", event_id, c, f, t->entry_gate);
		entry_facts(w, f, t);
		if (c->ref[0] != '\0')
			jw_kstr(w, "waitlist_id", c->ref);
		break;
	case CHG_EXIT:
		ticket_event(w, "vehicle.exited", event_id, c, f, t->exit_gate);
		view_ticket_names(w, t);
		jw_kstr(w, "gate", facility_gate_id(f, t->exit_gate));
		jw_ktime(w, "exited_at", t->exited_at);
		jw_kint(w, "duration_s", t->exited_at - t->entered_at);
		jw_kint(w, "charged", t->charged);
		break;
	case CHG_PAY:
		ticket_event(w, "payment.recorded", event_id, c, f, -1);
		view_ticket_names(w, t);
		jw_key(w, "payment");
		payment(w, &t->payments[c->pay]);
		break;
	case CHG_LOST:
		ticket_event(w, "ticket.lost", event_id, c, f, -1);
		view_ticket_names(w, t);
		jw_ktime(w, "lost_at", t->lost_at);
		break;
	case CHG_SPOT:
		head(w, "spot.status.changed", event_id, c->at);
		facility_spot_name(f, c->spot, name);
		record_subject(w, "spot", name);
		data(w);
		jw_kstr(w, "spot", name);
		jw_kstr(w, "state", c->in_service ? "in_service" : "out_of_service");
		break;
	case CHG_STRATEGY:
		facility_event(w, "strategy.changed", event_id, c, f);
		jw_kstr(w, "strategy", alloc_strategy_name(garage_strategy(g)));
		break;
	case CHG_TARIFF:
		facility_event(w, "tariff.changed", event_id, c, f);
		jw_kuint(w, "version", garage_tariff_version(g));
		jw_key(w, "tariff");
		tariff_write(garage_tariff(g), w);
		break;
	case CHG_EPOCH:
		facility_event(w, "replication.promoted", event_id, c, f);
		jw_kuint(w, "epoch", garage_epoch(g));
		jw_kuint(w, "lsn", epochs_current_since(garage_epochs(g)));
		break;
	/*
	 * The vehicle registry: the plate only, never the contact, which
	 * stays in the registry's own store (contacts.h).
	 */
	case CHG_VEHICLE_REGISTERED:
	case CHG_VEHICLE_UPDATED:
	case CHG_VEHICLE_DELETED:
	case CHG_VEHICLE_EXPIRED:
		head(w, registry_event_type(c->kind), event_id, c->at);
		record_subject(w, "vehicle", c->plate);
		data(w);
		jw_kstr(w, "plate", c->plate);
		break;
	case CHG_REGISTRY_PURGED:
		facility_event(w, "registry.purged", event_id, c, f);
		jw_kint(w, "deleted", c->n);
		break;
	case CHG_REGISTRY_RETENTION:
		facility_event(w, "registry.retention.changed", event_id, c, f);
		jw_kint(w, "hours", c->n);
		break;
	case CHG_WAIT_QUEUED:
	case CHG_WAIT_ASSIGNED:
	case CHG_WAIT_EXPIRED:
	case CHG_WAIT_CANCELLED:
	case CHG_RESV_CREATED:
	case CHG_RESV_HELD:
	case CHG_RESV_OWED:
	case CHG_RESV_USED:
	case CHG_RESV_NO_SHOW:
	case CHG_RESV_CANCELLED:
		record_cap_write(g, c, event_id, w);
		break;
	}
	jw_obj_end(w);		/* data */
	/* Last, so that record_peek_epoch finds it without a parser. */
	jw_kuint(w, "epoch", garage_epoch(g));
	jw_obj_end(w);		/* the record */
}

/* ---- applying ---- */

/*
 * Records are written by record_write, so every reader below is strict:
 * anything else is damage, named by its key path ("data.spots[0]: ...").
 */

#define NUM_MAX ((int64_t)1 << 53)	/* integers a JSON double carries */

/* A required string of data that fits dst (cap bytes, NUL included). */
static int
read_copy(const cJSON *d, const char *key, char *dst, size_t cap,
    struct jerr *e)
{
	const char *s;

	if (jr_str(d, "data", key, JR_REQUIRED, cap - 1, &s, e) < 0)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int
read_gate(const facility *f, const cJSON *d, const char *key, int *gate,
    struct jerr *e)
{
	char p[JPATH_MAX];
	const char *s;

	if (jr_str(d, "data", key, JR_REQUIRED, 64, &s, e) < 0)
		return -1;
	if ((*gate = facility_gate_lookup(f, s)) >= 0)
		return 0;
	jpath_key(p, "data", key);
	return jerr_set(e, p, "unknown gate '%s'", s);
}

/* A multiplier in thousandths, as the tariff makes them (at most 100x). */
static int
read_milli(const cJSON *d, const char *key, int32_t *out, struct jerr *e)
{
	int64_t v = 0;

	if (jr_int(d, "data", key, JR_REQUIRED, 0, 100000, &v, e) < 0)
		return -1;
	*out = (int32_t)v;
	return 0;
}

static int
read_payment(const cJSON *o, const char *path, struct payment *p,
    struct jerr *e)
{
	const char *receipt, *method, *reference;

	memset(p, 0, sizeof(*p));
	if (jr_str(o, path, "receipt", JR_REQUIRED, UUID_BUFSZ - 1, &receipt,
	    e) < 0 ||
	    jr_str(o, path, "method", JR_REQUIRED, PAY_METHOD_MAX, &method,
	    e) < 0 ||
	    jr_str(o, path, "reference", JR_REQUIRED, PAY_REFERENCE_MAX,
	    &reference, e) < 0 ||
	    jr_int(o, path, "amount", JR_REQUIRED, -NUM_MAX, NUM_MAX, &p->amount,
	    e) < 0 ||
	    jr_time(o, path, "at", JR_REQUIRED, &p->at, e) < 0)
		return -1;
	memcpy(p->receipt, receipt, strlen(receipt) + 1);
	memcpy(p->method, method, strlen(method) + 1);
	memcpy(p->reference, reference, strlen(reference) + 1);
	return 0;
}

static struct ticket *
find_ticket(garage *g, const cJSON *d, struct jerr *e)
{
	struct ticket *t;
	const char *id;

	if (jr_str(d, "data", "ticket", JR_REQUIRED, UUID_BUFSZ - 1, &id, e) < 0)
		return NULL;
	if ((t = garage_ticket(g, id)) == NULL)
		jerr_set(e, "data.ticket", "unknown ticket %s", id);
	return t;
}

/* The spots of an entry, by name. */
static int
read_spots(const facility *f, const cJSON *d, uint32_t ids[ALLOC_MAX_SPOTS],
    size_t *n, struct jerr *e)
{
	char p[JPATH_MAX];
	const cJSON *spots = NULL, *it;
	const char *name;
	size_t i = 0;

	if (jr_array(d, "data", "spots", JR_REQUIRED, ALLOC_MAX_SPOTS, &spots, n,
	    e) < 0)
		return -1;
	cJSON_ArrayForEach(it, spots) {
		jpath_index(p, "data.spots", i);
		if (jr_str(it, p, NULL, 0, 64, &name, e) < 0)
			return -1;
		if (facility_spot_lookup(f, name, &ids[i++]) != 0)
			return jerr_set(e, p, "unknown spot %s", name);
	}
	return 0;
}

/* What a snapshot adds to an entry: lost, exited, payments. */
static int
read_whole(const facility *f, const cJSON *d, struct ticket *img,
    struct payment **pv, struct jerr *e)
{
	char p[JPATH_MAX];
	const cJSON *pays = NULL, *it;
	size_t n = 0;
	int rc = jr_time(d, "data", "lost_at", 0, &img->lost_at, e);

	if (rc < 0)
		return -1;
	img->lost = rc;
	if (cJSON_GetObjectItemCaseSensitive(d, "exited_at") != NULL) {
		img->state = TICKET_EXITED;
		if (read_gate(f, d, "exit_gate", &img->exit_gate, e) != 0 ||
		    jr_time(d, "data", "exited_at", JR_REQUIRED, &img->exited_at,
		    e) < 0 ||
		    jr_int(d, "data", "charged", JR_REQUIRED, -NUM_MAX, NUM_MAX,
		    &img->charged, e) < 0)
			return -1;
	}
	if (jr_array(d, "data", "payments", 0, SIZE_MAX, &pays, &n, e) < 0)
		return -1;
	if (n == 0)
		return 0;
	if ((*pv = calloc(n, sizeof(**pv))) == NULL)
		return jerr_nomem(e, "data.payments");
	cJSON_ArrayForEach(it, pays) {
		jpath_index(p, "data.payments", img->n_payments);
		if (read_payment(it, p, &(*pv)[img->n_payments++], e) != 0)
			return -1;
	}
	return 0;
}

/* An entry or a whole snapshot ticket. */
static pk_err
apply_ticket(garage *g, const cJSON *d, int whole, struct jerr *e)
{
	const facility *f = garage_facility(g);
	uint32_t ids[ALLOC_MAX_SPOTS];
	struct payment *pv = NULL;
	struct ticket img;
	const char *cls, *resv = NULL;
	int64_t needs = 0, version = 0;
	pk_err err;

	memset(&img, 0, sizeof(img));
	img.exit_gate = -1;
	img.state = TICKET_INSIDE;
	if (read_copy(d, "ticket", img.id, sizeof(img.id), e) != 0 ||
	    read_copy(d, "plate", img.plate, sizeof(img.plate), e) != 0 ||
	    jr_str(d, "data", "class", JR_REQUIRED, 64, &cls, e) < 0 ||
	    jr_str(d, "data", "reservation", 0, UUID_STRLEN, &resv, e) < 0)
		return PK_E_INVALID_PARAMS;
	if (resv != NULL)
		memcpy(img.reservation, resv, strlen(resv) + 1);
	if ((img.cls = facility_class_lookup(f, cls)) < 0) {
		jerr_set(e, "data.class", "unknown class '%s'", cls);
		return PK_E_INVALID_PARAMS;
	}
	if (read_gate(f, d, "gate", &img.entry_gate, e) != 0 ||
	    jr_int(d, "data", "tariff_version", 0, 1, UINT32_MAX, &version, e) < 0 ||
	    jr_time(d, "data", "entered_at", JR_REQUIRED, &img.entered_at, e) < 0 ||
	    read_milli(d, "peak_milli", &img.peak_milli, e) != 0 ||
	    read_milli(d, "surge_milli", &img.surge_milli, e) != 0 ||
	    jr_int(d, "data", "needs_mask", JR_REQUIRED, 0, NUM_MAX, &needs,
	    e) < 0 ||
	    read_spots(f, d, ids, &img.n_spots, e) != 0 ||
	    (whole && read_whole(f, d, &img, &pv, e) != 0)) {
		free(pv);
		return e->nomem ? PK_E_INTERNAL : PK_E_INVALID_PARAMS;
	}
	img.needs = (uint64_t)needs;
	img.tariff_version = (uint32_t)version;
	err = garage_restore_ticket(g, &img, ids, pv);
	free(pv);
	if (err != PK_OK)
		jerr_set(e, "data", "ticket %s does not fit the state (spot "
		    "taken, plate inside or duplicate)", img.id);
	return err;
}

static pk_err
apply_spot(garage *g, const cJSON *d, struct jerr *e)
{
	static const char *const states[] = { "out_of_service", "in_service",
	    NULL };
	const char *name;
	uint32_t s;
	int in = 0;

	if (jr_str(d, "data", "spot", JR_REQUIRED, 64, &name, e) < 0 ||
	    jr_enum(d, "data", "state", JR_REQUIRED, states, &in, e) < 0)
		return PK_E_INVALID_PARAMS;
	if (facility_spot_lookup(garage_facility(g), name, &s) != 0) {
		jerr_set(e, "data.spot", "unknown spot %s", name);
		return PK_E_INVALID_PARAMS;
	}
	return garage_restore_spot_service(g, s, in);
}

static pk_err
apply_strategy(garage *g, const cJSON *d, struct jerr *e)
{
	int s = 0;

	if (jr_enum(d, "data", "strategy", JR_REQUIRED, alloc_strategy_names, &s,
	    e) < 0)
		return PK_E_INVALID_PARAMS;
	garage_restore_strategy(g, (enum alloc_strategy)s);
	return PK_OK;
}

static pk_err
apply_tariff(garage *g, const cJSON *d, struct jerr *e)
{
	const cJSON *o = NULL;
	int64_t version = 0;	/* records from before versions: the next one */
	tariff *t;
	pk_err err;

	if (jr_int(d, "data", "version", 0, 1, UINT32_MAX, &version, e) < 0 ||
	    jr_object(d, "data", "tariff", JR_REQUIRED, NULL, &o, e) < 0 ||
	    (t = tariff_from_json(o, "data.tariff", e)) == NULL)
		return e->nomem ? PK_E_INTERNAL : PK_E_INVALID_PARAMS;
	/* Applying without reporting: the change is already in the journal. */
	err = garage_restore_tariff(g, t, (uint32_t)version);
	if (err == PK_E_INVALID_PARAMS)
		jerr_set(e, "data.version", "tariff version %lld is not newer than %u",
		    (long long)version, garage_tariff_version(g));
	return err;
}

/* A promotion, or one start of a snapshot's epoch history. */
static pk_err
apply_epoch(garage *g, const cJSON *d, struct jerr *e)
{
	int64_t epoch = 0, lsn = 0;

	/* 0 (EPOCHS_UNKNOWN) only in a snapshot of a history that forgot some. */
	if (jr_int(d, "data", "epoch", JR_REQUIRED, 0, UINT32_MAX, &epoch, e) < 0 ||
	    jr_int(d, "data", "lsn", JR_REQUIRED, 2, NUM_MAX, &lsn, e) < 0)
		return PK_E_INVALID_PARAMS;
	if (garage_restore_epoch(g, (uint32_t)epoch, (uint64_t)lsn) != PK_OK) {
		jerr_set(e, "data.epoch", "epoch %lld from LSN %lld does not follow "
		    "epoch %u from LSN %llu", (long long)epoch, (long long)lsn,
		    garage_epoch(g),
		    (unsigned long long)epochs_current_since(garage_epochs(g)));
		return PK_E_INVALID_PARAMS;
	}
	return PK_OK;
}

static pk_err
apply_data(garage *g, const char *type, const cJSON *d, struct jerr *e)
{
	const facility *f = garage_facility(g);
	struct ticket *t;
	struct payment p;
	const cJSON *po = NULL;
	int64_t at = 0;
	int gate = -1;

	if (strcmp(type, "vehicle.entered") == 0)
		return apply_ticket(g, d, 0, e);
	if (strcmp(type, "snapshot.ticket") == 0)
		return apply_ticket(g, d, 1, e);
	if (strcmp(type, "vehicle.exited") == 0) {
		if (read_gate(f, d, "gate", &gate, e) != 0 ||
		    jr_time(d, "data", "exited_at", JR_REQUIRED, &at, e) < 0 ||
		    (t = find_ticket(g, d, e)) == NULL)
			return PK_E_INVALID_PARAMS;
		if (garage_restore_exit(g, t, gate, at) != PK_OK) {
			jerr_set(e, "data.ticket", "ticket %s is not inside", t->id);
			return PK_E_INVALID_PARAMS;
		}
		return PK_OK;
	}
	if (strcmp(type, "payment.recorded") == 0) {
		if ((t = find_ticket(g, d, e)) == NULL ||
		    jr_object(d, "data", "payment", JR_REQUIRED, NULL, &po, e) < 0 ||
		    read_payment(po, "data.payment", &p, e) != 0)
			return PK_E_INVALID_PARAMS;
		return garage_restore_pay(g, t, &p);
	}
	if (strcmp(type, "ticket.lost") == 0) {
		if (jr_time(d, "data", "lost_at", JR_REQUIRED, &at, e) < 0 ||
		    (t = find_ticket(g, d, e)) == NULL)
			return PK_E_INVALID_PARAMS;
		garage_restore_lost(g, t, at);
		return PK_OK;
	}
	if (strcmp(type, "spot.status.changed") == 0 || strcmp(type, "snapshot.spot") == 0)
		return apply_spot(g, d, e);
	if (strcmp(type, "strategy.changed") == 0 || strcmp(type, "snapshot.strategy") == 0)
		return apply_strategy(g, d, e);
	if (strcmp(type, "tariff.changed") == 0 || strcmp(type, "snapshot.tariff") == 0)
		return apply_tariff(g, d, e);
	if (strcmp(type, "replication.promoted") == 0 || strcmp(type, "snapshot.epoch") == 0)
		return apply_epoch(g, d, e);
	/*
	 * The registry's events name a plate and nothing else: its records
	 * are rebuilt from its own store (contacts.h), not from these.
	 */
	if (strcmp(type, "vehicle.registered") == 0 ||
	    strcmp(type, "vehicle.updated") == 0 ||
	    strcmp(type, "vehicle.deleted") == 0 ||
	    strcmp(type, "vehicle.expired") == 0 ||
	    strcmp(type, "registry.purged") == 0 ||
	    strcmp(type, "registry.retention.changed") == 0)
		return PK_OK;
	if (record_cap_type(type))
		return record_cap_apply(g, type, d, e);
	jerr_set(e, "type", "unknown record type '%s'", type);
	return PK_E_INVALID_PARAMS;
}

pk_err
record_apply(garage *g, const char *json, size_t len, struct jerr *e)
{
	const cJSON *data = NULL;
	const char *type = NULL;
	cJSON *o;
	pk_err rc;

	if (e->len > 0)
		e->buf[0] = '\0';
	o = json_parse(json, len, "record", e);
	if (o == NULL)
		return e->nomem ? PK_E_INTERNAL : PK_E_PARSE;
	if (jr_str(o, "", "type", JR_REQUIRED, 64, &type, e) < 0 ||
	    jr_object(o, "", "data", JR_REQUIRED, NULL, &data, e) < 0) {
		cJSON_Delete(o);
		return PK_E_INVALID_PARAMS;
	}
	rc = apply_data(g, type, data, e);
	/*
	 * The core answers PK_E_INTERNAL for an allocation that failed, and
	 * nothing else: said so whatever the applier wrote (recovery tries
	 * again then; bad data it would refuse).  A refusal of the garage's
	 * own says only its code.
	 */
	if (rc == PK_E_INTERNAL && !e->nomem)
		jerr_nomem(e, "record");
	else if (rc != PK_OK && e->len > 0 && e->buf[0] == '\0')
		jerr_set(e, "record", "%s", pk_err_message(rc));
	cJSON_Delete(o);
	return rc;
}

/* ---- snapshots ---- */

struct jw *
record_snap_begin(struct record_snap *s, const char *type)
{
	jw_reset(&s->w);
	head(&s->w, type, "", 0);
	data(&s->w);
	return &s->w;
}

void
record_snap_end(struct record_snap *s)
{
	jw_obj_end(&s->w);
	jw_obj_end(&s->w);
	if (s->rc != 0)
		return;
	if (jw_failed(&s->w)) {
		s->rc = -1;
		return;
	}
	s->rc = s->fn(s->ud, s->w.buf, s->w.len);
}

static void
snap_ticket(void *ud, const struct ticket *t)
{
	struct record_snap *s = ud;

	if (s->rc != 0)
		return;
	ticket_facts(record_snap_begin(s, "snapshot.ticket"), garage_facility(s->g), t);
	record_snap_end(s);
}

static void
snap_tariff(void *ud, uint32_t version, const tariff *t)
{
	struct record_snap *s = ud;

	if (s->rc != 0)
		return;
	jw_kuint(record_snap_begin(s, "snapshot.tariff"), "version", version);
	jw_key(&s->w, "tariff");
	tariff_write(t, &s->w);
	record_snap_end(s);
}

int
record_snapshot(const garage *g,
    int (*fn)(void *ud, const char *json, size_t len), void *ud)
{
	const facility *f = garage_facility(g);
	const alloc *a = garage_alloc(g);
	struct record_snap s = { .g = g, .fn = fn, .ud = ud, .rc = 0 };
	uint32_t n = facility_spot_count(f);
	char name[48];

	jw_init(&s.w);
	jw_kstr(record_snap_begin(&s, "snapshot.strategy"), "strategy",
	    alloc_strategy_name(garage_strategy(g)));
	record_snap_end(&s);
	/* The epoch history past the implicit first epoch (epochs.h). */
	for (size_t i = 1; i < garage_epochs(g)->n; i++) {
		const struct epoch_start *es = &garage_epochs(g)->v[i];

		jw_kuint(record_snap_begin(&s, "snapshot.epoch"), "epoch", es->epoch);
		jw_kuint(&s.w, "lsn", es->lsn);
		record_snap_end(&s);
	}
	/* Every tariff a ticket is priced by, then the one in force, last. */
	garage_each_tariff(g, snap_tariff, &s);
	garage_each_ticket(g, snap_ticket, &s);
	/* Holds after the tickets, spots out of service after the holds. */
	if (s.rc == 0)
		record_cap_snapshot(&s);
	for (uint32_t i = 0; i < n && s.rc == 0; i++) {
		if (alloc_spot_state(a, i) != ALLOC_SPOT_OUT_OF_SERVICE &&
		    !alloc_spot_pending_out_of_service(a, i))
			continue;
		facility_spot_name(f, i, name);
		jw_kstr(record_snap_begin(&s, "snapshot.spot"), "spot", name);
		jw_kstr(&s.w, "state", "out_of_service");
		record_snap_end(&s);
	}
	jw_release(&s.w);
	return s.rc;
}

/* ---- peeking for the shipper ---- */

/* Appends code point cp as UTF-8. */
static int
put_utf8(char **o, const char *end, unsigned cp)
{
	char *p = *o;

	if (cp < 0x80 && p + 1 <= end) {
		*p++ = (char)cp;
	} else if (cp < 0x800 && p + 2 <= end) {
		*p++ = (char)(0xc0 | cp >> 6);
		*p++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000 && p + 3 <= end) {
		*p++ = (char)(0xe0 | cp >> 12);
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*p++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x110000 && p + 4 <= end) {
		*p++ = (char)(0xf0 | cp >> 18);
		*p++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*p++ = (char)(0x80 | (cp & 0x3f));
	} else {
		return -1;
	}
	*o = p;
	return 0;
}

/*
 * Reads the JSON string starting at *s (on its opening quote) into *o,
 * NUL-terminated; leaves *s after the closing quote.
 */
static int
peek_string(const char **s, const char *end, char **o, const char *oend)
{
	const char *p = *s;

	if (p >= end || *p++ != '"')
		return -1;
	while (p < end && *p != '"') {
		unsigned cp;

		if ((unsigned char)*p < 0x20)
			return -1;
		if (*p != '\\') {
			if (*o >= oend)
				return -1;
			*(*o)++ = *p++;
			continue;
		}
		if (++p >= end)
			return -1;
		switch (*p++) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			cp = 0;
			for (int i = 0; i < 4; i++) {
				int h = p < end ? hex_digit(*p++) : -1;

				if (h < 0)
					return -1;
				cp = cp << 4 | (unsigned)h;
			}
			/* A surrogate pair is two escapes. */
			if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 &&
			    p[0] == '\\' && p[1] == 'u') {
				unsigned lo = 0;

				for (int i = 2; i < 6; i++) {
					int h = hex_digit(p[i]);

					if (h < 0)
						return -1;
					lo = lo << 4 | (unsigned)h;
				}
				if (lo < 0xdc00 || lo > 0xdfff)
					return -1;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				return -1;
			}
			break;
		default:
			return -1;
		}
		if (cp == 0 || put_utf8(o, oend, cp) != 0)
			return -1;
	}
	if (p >= end || *o >= oend)
		return -1;
	*(*o)++ = '\0';
	*s = p + 1;
	return 0;
}

static const char *
find_key(const char *s, const char *end, const char *key)
{
	size_t kl = strlen(key);

	for (; s + kl <= end; s++) {
		if (memcmp(s, key, kl) == 0)
			return s + kl;
	}
	return NULL;
}

int
record_peek(const char *json, size_t len, char *buf, size_t buflen,
    size_t *used, const char **id, const char **subj, int max_subj)
{
	const char *end = json + len, *p;
	char *o = buf, *oend = buf + buflen;
	int n = 0;

	/* record_encode writes the id first and the subjects before the data. */
	if (len < 8 || memcmp(json, "{\"id\":", 6) != 0)
		return -1;
	p = json + 6;
	*id = o;
	if (peek_string(&p, end, &o, oend) != 0)
		return -1;
	p = find_key(p, end, "\"subjects\":[");
	if (p == NULL)
		return -1;
	while (p < end && *p != ']') {
		if (n == max_subj)
			return -1;
		subj[n++] = o;
		if (peek_string(&p, end, &o, oend) != 0)
			return -1;
		if (p < end && *p == ',')
			p++;
	}
	*used = (size_t)(o - buf);
	return p < end ? n : -1;
}

uint32_t
record_peek_epoch(const char *json, size_t len)
{
	static const char key[] = "},\"epoch\":";
	const size_t kl = sizeof(key) - 1;
	uint64_t v = 0;
	size_t i;

	/* record_write ends every change with ,"epoch":N after its data. */
	if (len < kl + 2 || json[len - 1] != '}')
		return 1;
	i = len - 1;
	while (i > 0 && json[i - 1] >= '0' && json[i - 1] <= '9' && len - i < 11)
		i--;
	if (i == len - 1 || i < kl || memcmp(json + i - kl, key, kl) != 0)
		return 1;
	for (size_t k = i; k < len - 1; k++)
		v = v * 10 + (uint64_t)(json[k] - '0');
	return v == 0 || v > UINT32_MAX ? 1 : (uint32_t)v;
}

/* ---- for record_cap.c (record_impl.h) ---- */

void
record_head(struct jw *w, const char *type, const char *event_id, int64_t ts)
{
	head(w, type, event_id, ts);
}

void
record_data(struct jw *w)
{
	data(w);
}

int
record_read_spots(const facility *f, const cJSON *d,
    uint32_t ids[ALLOC_MAX_SPOTS], size_t *n, struct jerr *e)
{
	return read_spots(f, d, ids, n, e);
}

int
record_read_gate(const facility *f, const cJSON *d, const char *key, int *gate,
    struct jerr *e)
{
	return read_gate(f, d, key, gate, e);
}
