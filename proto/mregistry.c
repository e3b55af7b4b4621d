/*
 * mregistry.c - the vehicle registry's methods: register, get, list,
 * delete, retention, purge (registry.md).
 *
 * vehicle_get is the one answer that carries a contact; vehicle_list
 * names plates and times only.  Messages about a bad name or phone never
 * quote it.  A record past its expiry that the timer has not deleted yet
 * (it deletes a bounded number per loop iteration) is not shown.
 */
#include "mcall.h"

#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "regops.h"

/* Longest contact_name param looked at (bytes); a phone's is the registry's. */
#define NAME_PARAM_MAX 4096
/* A vehicle_list cursor: the last plate of a page in hex. */
#define CURSOR_MAX (2 * PLATE_MAX)

static registry *
reg(struct call *c)
{
	/* A standby keeps none: its primary does (not_primary says where). */
	if (c->env->registry == NULL && mcall_writable(c))
		mcall_fail(c, PK_E_UNAVAILABLE, "the vehicle registry is not kept here");
	return c->env->registry;
}

/* Whether e is past its expiry at now, about to be deleted. */
static int
gone(const struct call *c, const struct registry_entry *e)
{
	return !e->inside && e->expires_at <= c->now;
}

static void
expiry_json(struct jw *w, const struct registry_entry *e)
{
	if (e->inside || e->expires_at == REGISTRY_NEVER)
		jw_knull(w, "expires_at");
	else
		jw_ktime(w, "expires_at", e->expires_at);
}

void
m_vehicle_register(struct call *c)
{
	char plate[PLATE_BUFSZ], ph[REGISTRY_PHONE_BUFSZ];
	const char *name, *phone;
	struct registry_entry e;
	registry *r;
	int has, created = 0;
	pk_err err;

	if ((r = reg(c)) == NULL ||
	    mcall_plate(c, "plate", 1, plate, &has) != 0 ||
	    mcall_string(c, "contact_name", 1, NAME_PARAM_MAX, &name) != 0 ||
	    mcall_string(c, "phone", 1, REGISTRY_PHONE_INPUT_MAX, &phone) != 0)
		return;
	if (!registry_name_valid(name, strlen(name))) {
		mcall_bad_param(c, "contact_name", "must be 1 to %d characters "
		    "of printable UTF-8", REGISTRY_NAME_MAX_CHARS);
		return;
	}
	if (registry_phone_normalize(phone, strlen(phone), ph) != 0) {
		mcall_bad_param(c, "phone", "must be + and %d to %d digits "
		    "(spaces, dashes and dots are dropped)",
		    REGISTRY_PHONE_MIN_DIGITS, REGISTRY_PHONE_MAX_DIGITS);
		return;
	}
	explicit_bzero(ph, sizeof(ph));
	if (!mcall_writable(c))
		return;
	err = regops_register(r, plate, name, strlen(name), phone, strlen(phone),
	    c->now, garage_inside(c->g, plate) != NULL, &created, c->changes);
	if (err != PK_OK || registry_get(r, plate, &e) != PK_OK) {
		mcall_fail(c, err != PK_OK ? err : PK_E_INTERNAL, NULL);
		return;
	}
	jw_obj(c->out);
	jw_kstr(c->out, "plate", e.plate);
	jw_ktime(c->out, "registered_at", e.registered_at);
	jw_ktime(c->out, "updated_at", e.updated_at);
	jw_kbool(c->out, "created", created);
	jw_obj_end(c->out);
}

void
m_vehicle_get(struct call *c)
{
	char plate[PLATE_BUFSZ];
	struct registry_entry e;
	registry *r;
	int has;

	if ((r = reg(c)) == NULL || mcall_plate(c, "plate", 1, plate, &has) != 0)
		return;
	if (registry_get(r, plate, &e) != PK_OK || gone(c, &e)) {
		mcall_fail(c, PK_E_NOT_FOUND, "no registered vehicle '%s'", plate);
		return;
	}
	jw_obj(c->out);
	jw_kstr(c->out, "plate", e.plate);
	jw_key(c->out, "contact_name");
	jw_strn(c->out, e.contact_name, e.contact_len);
	jw_kstr(c->out, "phone", e.phone);
	jw_ktime(c->out, "registered_at", e.registered_at);
	jw_ktime(c->out, "updated_at", e.updated_at);
	expiry_json(c->out, &e);
	jw_kbool(c->out, "inside", e.inside);
	jw_obj_end(c->out);
}

/* The cursor's plate, or "" for none; -1 (c->err set) when it is not one. */
static int
read_cursor(struct call *c, char after[PLATE_BUFSZ])
{
	const char *cur;
	size_t n;

	after[0] = '\0';
	if (mcall_string(c, "cursor", 0, 256, &cur) != 0)
		return -1;
	if (cur == NULL || cur[0] == '\0')
		return 0;
	n = strlen(cur);
	if (n % 2 != 0 || n > CURSOR_MAX)
		goto bad;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_digit(cur[2 * i]), lo = hex_digit(cur[2 * i + 1]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			goto bad;
		after[i] = (char)(hi << 4 | lo);
	}
	after[n / 2] = '\0';
	return 0;
bad:
	return mcall_bad_param(c, "cursor", "is not a cursor vehicle_list gave");
}

static void
write_cursor(struct jw *w, const char *plate)
{
	static const char digits[] = "0123456789abcdef";
	char buf[CURSOR_MAX + 1];
	size_t n = strlen(plate);

	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = digits[(unsigned char)plate[i] >> 4];
		buf[2 * i + 1] = digits[(unsigned char)plate[i] & 15];
	}
	buf[2 * n] = '\0';
	jw_kstr(w, "next_cursor", buf);
}

void
m_vehicle_list(struct call *c)
{
	char after[PLATE_BUFSZ];
	struct registry_entry *v;
	int64_t limit = 100;
	size_t n = 0;
	registry *r;
	int more = 0;

	if ((r = reg(c)) == NULL || read_cursor(c, after) != 0 ||
	    mcall_int(c, "limit", 0, 1, REGISTRY_LIST_MAX, &limit) != 0)
		return;
	v = malloc((size_t)limit * sizeof(*v));
	if (v == NULL) {
		mcall_fail(c, PK_E_INTERNAL, NULL);
		return;
	}
	/*
	 * A page resumes after the last plate of the one before, not at a
	 * position: records coming and going meanwhile shift nothing.
	 */
	if (registry_list(r, after, (size_t)limit, v, &n, &more) != PK_OK) {
		free(v);
		mcall_bad_param(c, "cursor", "is not a cursor vehicle_list gave");
		return;
	}
	jw_obj(c->out);
	jw_key(c->out, "items");
	jw_arr(c->out);
	for (size_t i = 0; i < n; i++) {
		if (gone(c, &v[i]))
			continue;
		/* Plates and times: the contact is for vehicle_get alone. */
		jw_obj(c->out);
		jw_kstr(c->out, "plate", v[i].plate);
		jw_ktime(c->out, "registered_at", v[i].registered_at);
		jw_ktime(c->out, "updated_at", v[i].updated_at);
		expiry_json(c->out, &v[i]);
		jw_kbool(c->out, "inside", v[i].inside);
		jw_obj_end(c->out);
	}
	jw_arr_end(c->out);
	if (more && n > 0)
		write_cursor(c->out, v[n - 1].plate);
	else
		jw_knull(c->out, "next_cursor");
	jw_obj_end(c->out);
	free(v);
}

void
m_vehicle_delete(struct call *c)
{
	char plate[PLATE_BUFSZ];
	registry *r;
	int has;
	pk_err e;

	if ((r = reg(c)) == NULL || mcall_plate(c, "plate", 1, plate, &has) != 0 ||
	    !mcall_writable(c))
		return;
	e = regops_delete(r, plate, c->now, c->changes);
	if (e == PK_E_NOT_FOUND) {
		mcall_fail(c, e, "no registered vehicle '%s'", plate);
		return;
	}
	if (e != PK_OK) {
		mcall_fail(c, e, NULL);
		return;
	}
	jw_obj(c->out);
	jw_kstr(c->out, "plate", plate);
	jw_kbool(c->out, "deleted", 1);
	jw_obj_end(c->out);
}

void
m_retention(struct call *c)
{
	int64_t hours = -1;
	registry *r;
	pk_err e;

	if ((r = reg(c)) == NULL ||
	    mcall_int(c, "set_hours", 0, 0, REGISTRY_RETENTION_MAX_HOURS,
	    &hours) != 0)
		return;
	if (hours >= 0) {
		if (!mcall_writable(c))
			return;
		/* Records due under the new retention go by the expiry timer. */
		e = regops_set_retention(r, hours, c->now, c->changes);
		if (e != PK_OK) {
			mcall_fail(c, e, NULL);
			return;
		}
	}
	jw_obj(c->out);
	jw_kint(c->out, "hours", registry_retention(r));
	jw_obj_end(c->out);
}

void
m_purge(struct call *c)
{
	const char *confirm;
	size_t n;
	registry *r;
	pk_err e;

	if ((r = reg(c)) == NULL ||
	    mcall_string(c, "confirm", 1, 16, &confirm) != 0)
		return;
	if (strcmp(confirm, "purge") != 0) {
		mcall_bad_param(c, "confirm", "must be \"purge\"");
		return;
	}
	if (!mcall_writable(c))
		return;
	n = registry_count(r);
	e = regops_purge(r, c->now, c->changes);
	if (e != PK_OK) {
		mcall_fail(c, e, NULL);
		return;
	}
	jw_obj(c->out);
	jw_kuint(c->out, "deleted", n);
	jw_obj_end(c->out);
}
