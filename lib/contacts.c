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

/* The records an image is written from, one at a time: 1 while there are. */
typedef int (*image_next_fn)(void *src, struct registry_entry *e);

static int
write_image(int64_t retention, int64_t config_hours, size_t n,
    image_next_fn next, void *src,
    int (*fn)(void *ud, const char *payload, size_t len), void *ud)
{
	struct registry_entry e;
	struct jw w;
	int rc;

	jw_init(&w);
	jw_obj(&w);
	jw_kstr(&w, "op", "image");
	jw_kint(&w, "retention", retention);
	jw_kint(&w, "config", config_hours);
	jw_kuint(&w, "records", n);
	jw_obj_end(&w);
	rc = jw_failed(&w) ? -1 : fn(ud, w.buf, w.len);
	while (rc == 0 && next(src, &e)) {
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

struct live_src {
	const registry *r;
	const void *cur;
};

static int
live_next(void *src, struct registry_entry *e)
{
	struct live_src *l = src;

	return registry_next(l->r, &l->cur, e);
}

int
contacts_image(const registry *r, int64_t config_hours,
    int (*fn)(void *ud, const char *payload, size_t len), void *ud)
{
	struct live_src l = { r, NULL };

	return write_image(registry_retention(r), config_hours,
	    registry_count(r), live_next, &l, fn, ud);
}

/* ---- frozen copies ---- */

/* Strings are copied into blocks of this size (never moved once there). */
#define FROZEN_BLOCK (1u << 20)

struct frozen_block {
	struct frozen_block *next;
	size_t used;
	char data[FROZEN_BLOCK];
};

struct contacts_frozen {
	int64_t retention, config_hours;
	size_t n, cap, bytes;
	int sorted;			/* v in plate order (the copy is not) */
	struct registry_entry *v;	/* strings in the blocks */
	struct frozen_block *first;	/* in the order they were filled */
	struct frozen_block *cur;	/* the one being filled */
};

/* A copy of s[0..len) and a NUL in f's blocks; NULL when out of memory. */
static const char *
frozen_str(struct contacts_frozen *f, const char *s, size_t len)
{
	struct frozen_block *b = f->cur;
	char *p;

	if (b == NULL || FROZEN_BLOCK - b->used < len + 1) {
		/* The next block kept from an earlier copy, or a new one. */
		struct frozen_block *next = b == NULL ? f->first : b->next;

		if (next == NULL) {
			if ((next = malloc(sizeof(*next))) == NULL)
				return NULL;
			next->next = NULL;
			if (b != NULL)
				b->next = next;
			else
				f->first = next;
		}
		b = next;
		b->used = 0;
		f->cur = b;
	}
	p = b->data + b->used;
	memcpy(p, s, len);
	p[len] = '\0';
	b->used += len + 1;
	f->bytes += len;
	return p;
}

struct contacts_frozen *
contacts_freeze(const registry *r, int64_t config_hours,
    struct contacts_frozen *reuse)
{
	struct contacts_frozen *f = reuse;
	struct registry_entry e;
	size_t n = registry_count(r), i;

	if (f == NULL && (f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	contacts_frozen_wipe(f);
	f->retention = registry_retention(r);
	f->config_hours = config_hours;
	if (n > f->cap) {
		/* Pointers and times only: growing it leaves no contact behind. */
		struct registry_entry *nv = realloc(f->v, n * sizeof(*nv));

		if (nv == NULL) {
			contacts_frozen_free(f);
			return NULL;
		}
		f->v = nv;
		f->cap = n;
	}
	f->sorted = 0;
	for (i = 0; i < n; i++) {
		registry_entry_at(r, i, &e);
		/* The entry as it is, its strings pointing at the copies. */
		if ((e.plate = frozen_str(f, e.plate, strlen(e.plate))) == NULL ||
		    (e.contact_name = frozen_str(f, e.contact_name,
		    e.contact_len)) == NULL ||
		    (e.phone = frozen_str(f, e.phone, strlen(e.phone))) == NULL) {
			contacts_frozen_free(f);
			return NULL;
		}
		f->v[f->n++] = e;
	}
	return f;
}

struct frozen_src {
	const struct contacts_frozen *f;
	size_t i;
};

static int
frozen_next(void *src, struct registry_entry *e)
{
	struct frozen_src *s = src;

	if (s->i >= s->f->n)
		return 0;
	*e = s->f->v[s->i++];
	return 1;
}

static int
by_plate(const void *a, const void *b)
{
	return strcmp(((const struct registry_entry *)a)->plate,
	    ((const struct registry_entry *)b)->plate);
}

int
contacts_image_frozen(struct contacts_frozen *f,
    int (*fn)(void *ud, const char *payload, size_t len), void *ud)
{
	struct frozen_src s = { f, 0 };

	/* Copied in the registry's array order, fast; sorted here, off the loop. */
	if (!f->sorted && f->n > 1) {
		qsort(f->v, f->n, sizeof(*f->v), by_plate);
		f->sorted = 1;
	}

	return write_image(f->retention, f->config_hours, f->n, frozen_next, &s,
	    fn, ud);
}

size_t
contacts_frozen_bytes(const struct contacts_frozen *f)
{
	/* The strings, and about 140 bytes of keys and times a record. */
	return f->bytes + f->n * 140 + 128;
}

void
contacts_frozen_wipe(struct contacts_frozen *f)
{
	for (struct frozen_block *b = f->first; b != NULL; b = b->next) {
		explicit_bzero(b->data, b->used);
		b->used = 0;
	}
	f->cur = NULL;
	f->n = 0;
	f->bytes = 0;
}

void
contacts_frozen_free(struct contacts_frozen *f)
{
	struct frozen_block *b, *next;

	if (f == NULL)
		return;
	contacts_frozen_wipe(f);
	for (b = f->first; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(f->v);
	free(f);
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
