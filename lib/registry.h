/*
 * registry.h - the vehicle registry: a contact (name and phone) per plate,
 * kept no longer than the retention allows (registry.md).
 *
 * Pure: no I/O, no clock.  Every time is an argument (Unix seconds), and
 * nothing expires by itself: the daemon arms one timer on
 * registry_next_due() and calls registry_expire_due() when it fires (and
 * once at start-up, for what expired while it was down).  After any call
 * that may move the earliest expiry (register, delete, the vehicle hooks,
 * set_retention, restore) the daemon re-reads registry_next_due().
 *
 * Expiry rule.  A record expires retention_hours after the later of its
 * last update and its vehicle's last exit.  While the vehicle is inside it
 * does not expire.  With retention 0 a record lives only while its vehicle
 * is inside: it is due at the exit, and a record of a vehicle that is not
 * inside is due at once.  A record is due when expires_at <= now.
 *
 * Costs, n records: register, get, delete, the vehicle hooks O(log n);
 * next_due O(1); expire_due O(log n) per record expired; set_retention
 * O(n); list O(log n + limit); purge O(n log n).  Records sit in an
 * ordered map by plate (listing) and in an indexed min-heap of expiry
 * times (records whose vehicle is inside are not in the heap).
 *
 * Personal data: contact names and phones live only in records here.
 * When a record is freed (delete, expiry, purge, update of the contact,
 * registry_free) its contact bytes are overwritten with zeros first.
 * Callers that copy them (replies, the contact store) wipe their copies.
 *
 * Plates are passed in canonical form (plate_normalize()); anything else
 * is PK_E_INVALID_PARAMS.  Every allocation failure returns PK_E_INTERNAL
 * and leaves the registry unchanged.
 */
#ifndef PARKD_REGISTRY_H
#define PARKD_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "perr.h"
#include "plate.h"

/* contact_name: 1 to 100 code points; at most 4 bytes each in UTF-8. */
#define REGISTRY_NAME_MAX_CHARS 100
#define REGISTRY_NAME_MAX_BYTES (4 * REGISTRY_NAME_MAX_CHARS)
/* phone: '+' and 6 to 15 digits once separators are dropped. */
#define REGISTRY_PHONE_MIN_DIGITS 6
#define REGISTRY_PHONE_MAX_DIGITS 15
#define REGISTRY_PHONE_BUFSZ (REGISTRY_PHONE_MAX_DIGITS + 2)
/*
 * The longest phone input looked at, separators included: roomy, since
 * spaces, dashes and dots are dropped and only the digits count.  It is
 * also the longest phone param vehicle_register takes.
 */
#define REGISTRY_PHONE_INPUT_MAX 256
/* vehicle_list's limit, and the retention bound of config.md. */
#define REGISTRY_LIST_MAX 1000
#define REGISTRY_RETENTION_MAX_HOURS (24 * 3650)
/* expires_at of a record that does not expire (its vehicle is inside). */
#define REGISTRY_NEVER INT64_MAX

typedef struct registry registry;

/*
 * A record as seen from outside.  The pointers belong to the registry and
 * stay valid until the record changes or goes (or the next call that
 * changes the registry): copy what must live longer.
 */
struct registry_entry {
	const char *plate;
	const char *contact_name;	/* NUL-terminated, contact_len bytes */
	size_t contact_len;
	const char *phone;		/* normalised: "+" and digits */
	int64_t registered_at;
	int64_t updated_at;
	int64_t last_exit_at;		/* 0 when it never exited */
	int64_t expires_at;		/* REGISTRY_NEVER while inside */
	int inside;
};

/*
 * 1 when the len bytes at s are a valid contact name: well-formed UTF-8
 * (no overlongs, surrogates or code points above U+10FFFF), 1 to 100 code
 * points, none of them a control character (U+0000..U+001F, U+007F,
 * U+0080..U+009F) or a line or paragraph separator (U+2028, U+2029).
 * 0 otherwise.
 */
int registry_name_valid(const char *s, size_t len);

/*
 * Writes the normalised form of the phone number in s[0..len) to out:
 * '+' and 6 to 15 digits, after dropping every space, '-' and '.'.
 * Returns 0, or -1 when it is not such a number or len exceeds
 * REGISTRY_PHONE_INPUT_MAX (out is then an empty string).
 */
int registry_phone_normalize(const char *s, size_t len,
    char out[REGISTRY_PHONE_BUFSZ]);

/*
 * An empty registry with the given retention (0..REGISTRY_RETENTION_MAX_
 * HOURS; larger values are clamped).  NULL when out of memory.
 */
registry *registry_new(int64_t retention_hours);
/* Wipes and frees every record, then the registry.  Accepts NULL. */
void registry_free(registry *r);

size_t registry_count(const registry *r);
int64_t registry_retention(const registry *r);

/*
 * Creates or updates the record of plate with a contact at now.  name is
 * name_len bytes (not necessarily NUL-terminated) and must pass
 * registry_name_valid(); phone is raw input, normalised here.  inside
 * tells whether the vehicle is inside at now (the caller asks the garage);
 * it replaces what the record knew.  A new record gets registered_at =
 * updated_at = now; an update keeps registered_at and last_exit_at and
 * sets updated_at = now.  *created (when not NULL) is 1 for a new record,
 * 0 for an update.  PK_E_INVALID_PARAMS for a bad plate, name or phone;
 * PK_E_INTERNAL when out of memory (nothing changed).
 */
pk_err registry_register(registry *r, const char *plate, const char *name,
    size_t name_len, const char *phone, size_t phone_len, int64_t now,
    int inside, int *created);

/* Fills *e with plate's record: PK_OK, or PK_E_NOT_FOUND. */
pk_err registry_get(const registry *r, const char *plate,
    struct registry_entry *e);

/* Deletes (and wipes) plate's record: PK_OK, or PK_E_NOT_FOUND. */
pk_err registry_delete(registry *r, const char *plate);

/* Deletes (and wipes) every record; returns how many there were. */
size_t registry_purge(registry *r);

/*
 * Up to limit (1..REGISTRY_LIST_MAX) records in plate order, starting
 * after the plate `after` (NULL or "" for the beginning: the cursor is the
 * last plate of the previous page).  Resuming after a plate rather than at
 * a position makes paging stable under concurrent changes: no record comes
 * twice, and none that existed for the whole listing is skipped, whether
 * or not the cursor's own record still exists.  *n is the count written to
 * out; *more is 1 when records follow the last one written.
 * PK_E_INVALID_PARAMS for a limit out of range or an after longer than a
 * plate.
 */
pk_err registry_list(const registry *r, const char *after, size_t limit,
    struct registry_entry *out, size_t *n, int *more);

/*
 * The vehicle lifecycle.  entered: the vehicle of plate came in; its
 * record (if any) stops expiring.  exited: it left at `at`; its record's
 * expiry restarts from max(updated_at, at).  Both return 1 when plate has
 * a record, 0 otherwise, and never allocate.
 */
int registry_vehicle_entered(registry *r, const char *plate);
int registry_vehicle_exited(registry *r, const char *plate, int64_t at);

/* The earliest expires_at of all records, or REGISTRY_NEVER when none. */
int64_t registry_next_due(const registry *r);

/*
 * Called for each record deleted by expiry, after it left the registry
 * and before its contact is wiped.  e is valid only during the call; the
 * callback must not change the registry.
 */
typedef void (*registry_expired_fn)(void *arg, const struct registry_entry *e);

/*
 * Deletes every record with expires_at <= now, at most max of them
 * (0: no limit), in expiry order (ties by plate), calling fn (when not
 * NULL) for each.  Returns the number deleted.  A bounded max lets the
 * daemon spread a large expiry (retention set to 0 over a full registry)
 * over several loop iterations: registry_next_due() is then still <= now.
 */
size_t registry_expire_due(registry *r, int64_t now, size_t max,
    registry_expired_fn fn, void *arg);

/*
 * Changes the retention (clamped to 0..REGISTRY_RETENTION_MAX_HOURS) and
 * recomputes every record's expiry.  *due (when not NULL) is set to the
 * number of records then due at now; they are deleted, and reported, by
 * the next registry_expire_due(now), the one path by which records expire.
 */
void registry_set_retention(registry *r, int64_t hours, int64_t now,
    size_t *due);

/*
 * Snapshot iteration: every record in plate order.  Start with
 * *cursor = NULL; returns 1 and fills *e while there are records, then 0.
 * The registry must not change during the iteration.
 */
int registry_next(const registry *r, const void **cursor,
    struct registry_entry *e);

/*
 * Every record, fast: the i-th (0 <= i < registry_count) in no particular
 * order, a walk of an array that asks for the records ahead before it
 * reads them; for copying them all at once.  Places change as records come
 * and go: the registry must not change during the walk.
 */
void registry_entry_at(const registry *r, size_t i,
    struct registry_entry *e);

/*
 * Restores one record exactly as a snapshot held it (plate, contact,
 * phone, the three times and inside; e->expires_at is ignored and
 * recomputed from the current retention).  A record already present for
 * the plate is replaced.  Records that expired meanwhile are deleted by
 * the next registry_expire_due().  PK_E_INVALID_PARAMS for an invalid
 * plate, name or phone; PK_E_INTERNAL when out of memory (nothing
 * changed).
 */
pk_err registry_restore(registry *r, const struct registry_entry *e);

/* Checks every internal invariant; 0 when they hold.  O(n): for tests. */
int registry_check(const registry *r);

#endif
