/* regops.c - the vehicle registry's operations as changes (see regops.h). */
#include "regops.h"

#include <string.h>

#include "garage.h"

/* Appends a registry change about plate (or none, for "") with n. */
static void
add(struct changes *out, enum change_kind kind, int64_t at, const char *plate,
    int64_t n)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	c.at = at;
	c.n = n;
	if (plate != NULL)
		strncpy(c.plate, plate, PLATE_MAX);
	changes_add(out, &c);
}

/* Whether the contact given differs from the one plate's record holds. */
static int
contact_differs(const struct registry_entry *old, const char *name,
    size_t name_len, const char *phone, size_t phone_len)
{
	char ph[REGISTRY_PHONE_BUFSZ];
	int differs;

	if (registry_phone_normalize(phone, phone_len, ph) != 0)
		return 1;
	differs = old->contact_len != name_len ||
	    memcmp(old->contact_name, name, name_len) != 0 ||
	    strcmp(old->phone, ph) != 0;
	explicit_bzero(ph, sizeof(ph));
	return differs;
}

pk_err
regops_register(registry *r, const char *plate, const char *name,
    size_t name_len, const char *phone, size_t phone_len, int64_t now,
    int inside, int *created, struct changes *out)
{
	struct registry_entry old;
	int had, cr = 0, replaced = 0;
	pk_err e;

	if (changes_reserve(out, 2) != 0)
		return PK_E_INTERNAL;
	had = plate != NULL && registry_get(r, plate, &old) == PK_OK;
	if (had && !old.inside && old.expires_at <= now) {
		/*
		 * Past its expiry, not yet deleted by the timer: it is gone, and
		 * a registration now starts a new record, not its update.
		 */
		registry_delete(r, plate);
		add(out, CHG_VEHICLE_EXPIRED, now, plate, 0);
		had = 0;
	}
	if (had)
		replaced = contact_differs(&old, name, name_len, phone, phone_len);
	e = registry_register(r, plate, name, name_len, phone, phone_len, now,
	    inside, &cr);
	if (created != NULL)
		*created = cr;
	if (e != PK_OK)
		return e;
	if (cr)
		add(out, CHG_VEHICLE_REGISTERED, now, plate, 0);
	else
		add(out, CHG_VEHICLE_UPDATED, now, plate, replaced);
	return PK_OK;
}

pk_err
regops_delete(registry *r, const char *plate, int64_t now, struct changes *out)
{
	struct registry_entry e;

	if (plate == NULL || registry_get(r, plate, &e) != PK_OK)
		return PK_E_NOT_FOUND;
	if (changes_reserve(out, 1) != 0)
		return PK_E_INTERNAL;
	registry_delete(r, plate);
	add(out, CHG_VEHICLE_DELETED, now, plate, 0);
	return PK_OK;
}

pk_err
regops_purge(registry *r, int64_t now, struct changes *out)
{
	size_t n;

	if (changes_reserve(out, 1) != 0)
		return PK_E_INTERNAL;
	n = registry_purge(r);
	add(out, CHG_REGISTRY_PURGED, now, NULL, (int64_t)n);
	return PK_OK;
}

/* Records expired at a time while the retention grows (each a change). */
#define EXPIRE_STEP 256

pk_err
regops_set_retention(registry *r, int64_t hours, int64_t now,
    struct changes *out)
{
	if (hours < 0 || hours > REGISTRY_RETENTION_MAX_HOURS)
		return PK_E_INVALID_PARAMS;
	if (hours == registry_retention(r))
		return PK_OK;
	/*
	 * Expired is expired: what is past its expiry and not yet deleted by
	 * the timer goes now, before a longer retention could bring it back.
	 */
	while (hours > registry_retention(r) && registry_next_due(r) <= now) {
		if (regops_expire(r, now, EXPIRE_STEP, out) == 0)
			return PK_E_INTERNAL;
	}
	if (changes_reserve(out, 1) != 0)
		return PK_E_INTERNAL;
	registry_set_retention(r, hours, now, NULL);
	add(out, CHG_REGISTRY_RETENTION, now, NULL, hours);
	return PK_OK;
}

struct expiring {
	struct changes *out;
	int64_t now;
};

static void
expired(void *arg, const struct registry_entry *e)
{
	struct expiring *x = arg;

	add(x->out, CHG_VEHICLE_EXPIRED, x->now, e->plate, 0);
}

size_t
regops_expire(registry *r, int64_t now, size_t max, struct changes *out)
{
	struct expiring x = { out, now };

	if (max == 0 || registry_next_due(r) > now ||
	    changes_reserve(out, max) != 0)
		return 0;
	return registry_expire_due(r, now, max, expired, &x);
}

int
regops_follow(registry *r, const struct change *c)
{
	if (c->t == NULL)
		return 0;
	if (c->kind == CHG_ENTRY)
		return registry_vehicle_entered(r, c->t->plate);
	if (c->kind == CHG_EXIT)
		return registry_vehicle_exited(r, c->t->plate, c->t->exited_at);
	return 0;
}

int
regops_erases(const struct change *c)
{
	switch (c->kind) {
	case CHG_VEHICLE_DELETED:
	case CHG_VEHICLE_EXPIRED:
	case CHG_REGISTRY_PURGED:
		return 1;
	case CHG_VEHICLE_UPDATED:
		return c->n != 0;
	default:
		return 0;
	}
}

int
regops_is_registry(const struct change *c)
{
	switch (c->kind) {
	case CHG_VEHICLE_REGISTERED:
	case CHG_VEHICLE_UPDATED:
	case CHG_VEHICLE_DELETED:
	case CHG_VEHICLE_EXPIRED:
	case CHG_REGISTRY_PURGED:
	case CHG_REGISTRY_RETENTION:
		return 1;
	default:
		return 0;
	}
}
