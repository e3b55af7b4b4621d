/* contacts.c - the contact store's records (see contacts.h). */
#include "contacts.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jread.h"

/* Times a record may carry: 0 (never) up to what a JSON double keeps. */
#define TIME_MAX ((int64_t)1 << 53)

static void
put_record(struct jw *w, const struct registry_entry *e)
{
	jw_obj(w);
	jw_kstr(w, "op", "put");
	jw_kstr(w, "plate", e->plate);
	jw_key(w, "contact_name");
	jw_strn(w, e->contact_name, e->contact_len);
	jw_kstr(w, "phone", e->phone);
	jw_kint(w, "registered_at", e->registered_at);
	jw_kint(w, "updated_at", e->updated_at);
	jw_kint(w, "last_exit_at", e->last_exit_at);
	jw_obj_end(w);
}

static void
plate_record(struct jw *w, const char *op, const char *plate)
{
	jw_obj(w);
	jw_kstr(w, "op", op);
	jw_kstr(w, "plate", plate);
}

void
contacts_side_write(const registry *r, const struct change *c,
    int64_t config_hours, struct jw *w)
{
	struct registry_entry e;

	switch (c->kind) {
	case CHG_VEHICLE_REGISTERED:
	case CHG_VEHICLE_UPDATED:
		if (registry_get(r, c->plate, &e) == PK_OK)
			put_record(w, &e);
		break;
	case CHG_VEHICLE_DELETED:
	case CHG_VEHICLE_EXPIRED:
		plate_record(w, "del", c->plate);
		jw_obj_end(w);
		break;
	case CHG_REGISTRY_PURGED:
		jw_obj(w);
		jw_kstr(w, "op", "purge");
		jw_obj_end(w);
		break;
	case CHG_REGISTRY_RETENTION:
		jw_obj(w);
		jw_kstr(w, "op", "retention");
		jw_kint(w, "hours", c->n);
		jw_kint(w, "config", config_hours);
		jw_obj_end(w);
		break;
	case CHG_EXIT:
		if (c->t != NULL && registry_get(r, c->t->plate, &e) == PK_OK) {
			plate_record(w, "exit", c->t->plate);
			jw_kint(w, "at", c->t->exited_at);
			jw_obj_end(w);
		}
		break;
	default:
		break;
	}
}

int
contacts_image(const registry *r, int64_t config_hours,
    int (*fn)(void *ud, const char *payload, size_t len), void *ud)
{
	const void *cur = NULL;
	struct registry_entry e;
	struct jw w;
	int rc;

	jw_init(&w);
	jw_obj(&w);
	jw_kstr(&w, "op", "image");
	jw_kint(&w, "retention", registry_retention(r));
	jw_kint(&w, "config", config_hours);
	jw_kuint(&w, "records", registry_count(r));
	jw_obj_end(&w);
	rc = jw_failed(&w) ? -1 : fn(ud, w.buf, w.len);
	while (rc == 0 && registry_next(r, &cur, &e)) {
		jw_reset(&w);
		put_record(&w, &e);
		rc = jw_failed(&w) ? -1 : fn(ud, w.buf, w.len);
	}
	/* The buffer held contacts: wipe it before it goes back to malloc. */
	if (w.buf != NULL)
		explicit_bzero(w.buf, w.cap);
	jw_release(&w);
	return rc;
}

void
contacts_meta_init(struct contacts_meta *m)
{
	m->config_hours = -1;
	m->image_expect = -1;
	m->image_seen = 0;
	m->erased = 0;
}

int
contacts_image_complete(const struct contacts_meta *m, struct jerr *e)
{
	if (m->image_expect >= 0 && m->image_seen != m->image_expect)
		return jerr_set(e, "image", "has %lld of the %lld records its "
		    "header announced", (long long)m->image_seen,
		    (long long)m->image_expect);
	return 0;
}

/* Overwrites a string member's text, so no contact stays in freed memory. */
static void
wipe_member(cJSON *o, const char *key)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (cJSON_IsString(it) && it->valuestring != NULL)
		explicit_bzero(it->valuestring, strlen(it->valuestring));
}

/* 1 when a put of in would replace a contact plate's record holds. */
static int
replaces_contact(const registry *r, const struct registry_entry *in)
{
	struct registry_entry old;

	return registry_get(r, in->plate, &old) == PK_OK &&
	    (old.contact_len != in->contact_len ||
	    memcmp(old.contact_name, in->contact_name, in->contact_len) != 0 ||
	    strcmp(old.phone, in->phone) != 0);
}

static pk_err
apply_put(registry *r, struct contacts_meta *m, const cJSON *o,
    struct jerr *e)
{
	static const char *const keys[] = { "op", "plate", "contact_name",
	    "phone", "registered_at", "updated_at", "last_exit_at", NULL };
	struct registry_entry in;
	const char *plate = NULL, *name = NULL, *phone = NULL;
	pk_err rc;

	memset(&in, 0, sizeof(in));
	if (jr_keys(o, "", keys, NULL, e) < 0 ||
	    jr_str(o, "", "plate", JR_REQUIRED, PLATE_MAX, &plate, e) < 0 ||
	    jr_str(o, "", "contact_name", JR_REQUIRED, REGISTRY_NAME_MAX_BYTES,
	    &name, e) < 0 ||
	    jr_str(o, "", "phone", JR_REQUIRED, REGISTRY_PHONE_BUFSZ - 1,
	    &phone, e) < 0 ||
	    jr_int(o, "", "registered_at", JR_REQUIRED, 0, TIME_MAX,
	    &in.registered_at, e) < 0 ||
	    jr_int(o, "", "updated_at", JR_REQUIRED, 0, TIME_MAX,
	    &in.updated_at, e) < 0 ||
	    jr_int(o, "", "last_exit_at", JR_REQUIRED, 0, TIME_MAX,
	    &in.last_exit_at, e) < 0)
		return e->nomem ? PK_E_INTERNAL : PK_E_INVALID_PARAMS;
	in.plate = plate;
	in.contact_name = name;
	in.contact_len = strlen(name);
	in.phone = phone;
	if (replaces_contact(r, &in))
		m->erased++;
	rc = registry_restore(r, &in);
	if (rc == PK_E_INVALID_PARAMS)
		jerr_set(e, "", "a record of plate '%s' with an invalid plate, "
		    "name or phone", plate);
	else if (rc != PK_OK)
		jerr_nomem(e, "");
	return rc;
}

static pk_err
apply_plate(registry *r, struct contacts_meta *m, const cJSON *o, int exit,
    struct jerr *e)
{
	static const char *const del_keys[] = { "op", "plate", NULL };
	static const char *const exit_keys[] = { "op", "plate", "at", NULL };
	const char *plate = NULL;
	int64_t at = 0;

	if (jr_keys(o, "", exit ? exit_keys : del_keys, NULL, e) < 0 ||
	    jr_str(o, "", "plate", JR_REQUIRED, PLATE_MAX, &plate, e) < 0 ||
	    (exit && jr_int(o, "", "at", JR_REQUIRED, 0, TIME_MAX, &at, e) < 0))
		return e->nomem ? PK_E_INTERNAL : PK_E_INVALID_PARAMS;
	if (exit ? registry_vehicle_exited(r, plate, at) :
	    registry_delete(r, plate) == PK_OK) {
		m->erased += !exit;
		return PK_OK;
	}
	jerr_set(e, "plate", "no record of '%s'", plate);
	return PK_E_INVALID_PARAMS;
}

static pk_err
apply_retention(registry *r, struct contacts_meta *m, const cJSON *o,
    int image, struct jerr *e)
{
	static const char *const keys[] = { "op", "hours", "config", NULL };
	static const char *const ikeys[] = { "op", "retention", "config",
	    "records", NULL };
	int64_t hours = 0, config = -1, records = 0;

	if (jr_keys(o, "", image ? ikeys : keys, NULL, e) < 0 ||
	    jr_int(o, "", image ? "retention" : "hours", JR_REQUIRED, 0,
	    REGISTRY_RETENTION_MAX_HOURS, &hours, e) < 0 ||
	    jr_int(o, "", "config", JR_REQUIRED, -1,
	    REGISTRY_RETENTION_MAX_HOURS, &config, e) < 0 ||
	    (image && jr_int(o, "", "records", JR_REQUIRED, 0, TIME_MAX,
	    &records, e) < 0))
		return e->nomem ? PK_E_INTERNAL : PK_E_INVALID_PARAMS;
	/* Nothing is due during a load: expiry comes once it is done. */
	registry_set_retention(r, hours, INT64_MIN, NULL);
	m->config_hours = config;
	if (image) {
		m->image_expect = records;
		m->image_seen = 0;
	}
	return PK_OK;
}

static pk_err
apply_op(registry *r, struct contacts_meta *m, int from_image, const char *op,
    const cJSON *o, struct jerr *e)
{
	int header = strcmp(op, "image") == 0;

	if (from_image) {
		/* An image is its header and then exactly the puts it announced. */
		if (header != (m->image_expect < 0)) {
			jerr_set(e, "op", header ? "a second image header" :
			    "an image record before the image's header");
			return PK_E_INVALID_PARAMS;
		}
		if (header)
			return apply_retention(r, m, o, 1, e);
		if (strcmp(op, "put") != 0 || m->image_seen >= m->image_expect) {
			jerr_set(e, "op", "'%s' where the image holds only its "
			    "%lld records", op, (long long)m->image_expect);
			return PK_E_INVALID_PARAMS;
		}
		m->image_seen++;
		return apply_put(r, m, o, e);
	}
	if (strcmp(op, "put") == 0)
		return apply_put(r, m, o, e);
	if (strcmp(op, "del") == 0)
		return apply_plate(r, m, o, 0, e);
	if (strcmp(op, "exit") == 0)
		return apply_plate(r, m, o, 1, e);
	if (strcmp(op, "purge") == 0) {
		static const char *const keys[] = { "op", NULL };

		if (jr_keys(o, "", keys, NULL, e) < 0)
			return PK_E_INVALID_PARAMS;
		m->erased += registry_purge(r) > 0;
		return PK_OK;
	}
	if (strcmp(op, "retention") == 0)
		return apply_retention(r, m, o, 0, e);
	jerr_set(e, "op", "unknown record '%s'", op);
	return PK_E_INVALID_PARAMS;
}

pk_err
contacts_apply(registry *r, struct contacts_meta *m, int from_image,
    const char *json, size_t len, struct jerr *e)
{
	const char *op = NULL;
	cJSON *o;
	pk_err rc;

	o = json_parse(json, len, "contacts", e);
	if (o == NULL)
		return e->nomem ? PK_E_INTERNAL : PK_E_PARSE;
	if (!cJSON_IsObject(o)) {
		jerr_set(e, "contacts", "must be an object");
		rc = PK_E_INVALID_PARAMS;
	} else if (jr_str(o, "", "op", JR_REQUIRED, 16, &op, e) < 0) {
		rc = e->nomem ? PK_E_INTERNAL : PK_E_INVALID_PARAMS;
	} else {
		rc = apply_op(r, m, from_image, op, o, e);
	}
	wipe_member(o, "contact_name");
	wipe_member(o, "phone");
	cJSON_Delete(o);
	return rc;
}

static void
entered(void *ud, const struct ticket *t)
{
	registry_vehicle_entered(ud, t->plate);
}

void
contacts_sync_inside(registry *r, const garage *g)
{
	int more;

	garage_search(g, "", (size_t)-1, entered, r, &more);
}
