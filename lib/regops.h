/*
 * regops.h - the vehicle registry's operations as changes.
 *
 * The registry (registry.h) keeps the records; these functions change it
 * the way a request or a timer asks and append what they did to the
 * caller's change list (change.h), so that a registry change goes through
 * the daemon's one commit step like every other: encoded once as a
 * plate-only audit event (record.h), its facts written to the contact
 * store (contacts.h), the reply held until both are durable.
 *
 * regops_follow() is the other direction: the registry's share of the
 * garage's changes.  The garage's entry and exit paths report entries and
 * exits in the change list; the commit step hands each change here, so a
 * record stops expiring while its vehicle is inside and starts again from
 * the exit, whichever path (a gate, a waitlist, a reservation) let the
 * vehicle in or out.
 *
 * Pure: time is an argument.  Room in the list is reserved before the
 * registry changes, so an allocation failure changes neither (except
 * where said).
 */
#ifndef PARKD_REGOPS_H
#define PARKD_REGOPS_H

#include <stddef.h>
#include <stdint.h>

#include "change.h"
#include "perr.h"
#include "registry.h"

/*
 * Creates or updates plate's record (registry_register) at now; inside
 * tells whether the vehicle is inside.  Appends CHG_VEHICLE_REGISTERED,
 * or CHG_VEHICLE_UPDATED with n = 1 when the name or the phone (after
 * normalisation) differs from what the record held, 0 when the same
 * contact was given again.  *created (may be NULL) as registry_register.
 * PK_E_INVALID_PARAMS for a bad plate, name or phone; PK_E_INTERNAL.
 */
pk_err regops_register(registry *r, const char *plate, const char *name,
    size_t name_len, const char *phone, size_t phone_len, int64_t now,
    int inside, int *created, struct changes *out);

/* Deletes plate's record: CHG_VEHICLE_DELETED; PK_E_NOT_FOUND. */
pk_err regops_delete(registry *r, const char *plate, int64_t now,
    struct changes *out);

/* Deletes every record: CHG_REGISTRY_PURGED with n = how many. */
pk_err regops_purge(registry *r, int64_t now, struct changes *out);

/*
 * Sets the retention to hours (0..REGISTRY_RETENTION_MAX_HOURS, else
 * PK_E_INVALID_PARAMS): CHG_REGISTRY_RETENTION with n = hours.  Setting
 * the retention in force changes nothing and appends nothing.  Records
 * then due are deleted by the next regops_expire().
 */
pk_err regops_set_retention(registry *r, int64_t hours, int64_t now,
    struct changes *out);

/*
 * Deletes up to max (>= 1) records due at now (registry_expire_due),
 * appending CHG_VEHICLE_EXPIRED for each, at now.  Returns how many; 0
 * also when room for max changes could not be reserved (nothing changed).
 */
size_t regops_expire(registry *r, int64_t now, size_t max,
    struct changes *out);

/*
 * The registry's share of change c (any kind): an entry stops the
 * expiry of the plate's record, an exit restarts it from the exit.
 * Returns 1 when c was an entry or exit of a plate with a record, else 0.
 * Never allocates.
 */
int regops_follow(registry *r, const struct change *c);

/*
 * Whether c took contact data out of the registry (a delete, an expiry, a
 * purge, or an update that replaced the contact): the contact store must
 * then be rewritten without it (erasure).
 */
int regops_erases(const struct change *c);

/* Whether c is one of the registry's own changes (CHG_VEHICLE_*, CHG_REGISTRY_*). */
int regops_is_registry(const struct change *c);

#endif
