/*
 * contacts.h - the contact store's records: the vehicle registry's facts
 * as its own store keeps them (registry.md: personal data in one place).
 *
 * The main journal and its snapshots carry only plate-only audit events
 * of the registry (record.h).  Everything the registry is made of, the
 * contacts included, goes to a store of its own, the journal's side
 * stream (daemon/journal.h): each record rides with the main record of
 * the same change and carries its LSN (wal.h framing).  A rewrite
 * replaces the whole store with an image of the live registry, which is
 * how a deleted contact leaves every file.
 *
 * Payloads are JSON objects, times in Unix seconds:
 *
 *   {"op":"put","plate":P,"contact_name":N,"phone":F,
 *    "registered_at":S,"updated_at":S,"last_exit_at":S}
 *					the whole record after a register
 *					or update (a fact, not a decision)
 *   {"op":"del","plate":P}		deleted or expired
 *   {"op":"exit","plate":P,"at":S}	its vehicle left
 *   {"op":"purge"}			every record deleted
 *   {"op":"retention","hours":H,"config":C}
 *					the retention became H hours while
 *					the configuration file said C
 *   {"op":"image","retention":H,"config":C,"records":N}
 *					first record of an image, followed
 *					by N "put" records in plate order
 *
 * Whether a vehicle is inside is not stored: the garage knows it, and
 * the loader asks it once the store is read (contacts_sync_inside).
 *
 * Pure.  Messages never quote a name or a phone number.
 */
#ifndef PARKD_CONTACTS_H
#define PARKD_CONTACTS_H

#include <stddef.h>
#include <stdint.h>

#include "change.h"
#include "garage.h"
#include "json.h"
#include "jsonw.h"
#include "perr.h"
#include "registry.h"

/*
 * Writes the contact-store record of change c into w (after jw_reset by
 * the caller), c having just been made (r holds the state after it):
 * a put for a registered or updated plate, del for a deleted or expired
 * one, purge, retention (with config_hours, the configuration file's
 * retention now), and exit for the exit of a vehicle whose plate has a
 * record (regops_follow having been applied).  Writes nothing for any
 * other change: then w->len stays 0.  Out of memory shows as
 * jw_failed(w).
 */
void contacts_side_write(const registry *r, const struct change *c,
    int64_t config_hours, struct jw *w);

/*
 * The image of r: the header, then a put per record in plate order.
 * fn(ud, payload, len) takes each (and must copy it); its first non-zero
 * return, or -1 when out of memory, is returned; 0 when all went.  The
 * daemon makes its images from a frozen copy (below), off the loop; this
 * one, of the registry as it is, is what the tests hold copies against.
 */
int contacts_image(const registry *r, int64_t config_hours,
    int (*fn)(void *ud, const char *payload, size_t len), void *ud);

/*
 * A registry's records copied for an image made later, elsewhere (the
 * journal's thread pool): contacts_freeze is a copy of the strings and
 * times, cheaper than the image's JSON, into reuse's memory when given (a
 * copy made before: memory written before costs a fraction of fresh
 * memory, which page faults make dear); contacts_image_frozen writes
 * exactly what contacts_image would have written at the freeze, however
 * r changed since (it sorts the copy, which is made in no order, by
 * plate first: the sort is the image maker's work, not the freeze's);
 * contacts_frozen_wipe wipes the copy's contacts and
 * keeps its memory for the next; contacts_frozen_free wipes and frees.
 * contacts_freeze returns NULL when out of memory (reuse is then freed).
 */
struct contacts_frozen;

struct contacts_frozen *contacts_freeze(const registry *r,
    int64_t config_hours, struct contacts_frozen *reuse);
int contacts_image_frozen(struct contacts_frozen *f,
    int (*fn)(void *ud, const char *payload, size_t len), void *ud);
/* About how many bytes the image will be, framing not included. */
size_t contacts_frozen_bytes(const struct contacts_frozen *f);
void contacts_frozen_wipe(struct contacts_frozen *f);
void contacts_frozen_free(struct contacts_frozen *f);

/* What reading the store learned besides the records themselves. */
struct contacts_meta {
	/* The configuration's retention when the retention was last recorded; -1: never. */
	int64_t config_hours;
	int64_t image_expect;	/* puts the image's header announced; -1: no image */
	int64_t image_seen;
	/*
	 * Records applied that took a contact out of the registry: a del, a
	 * purge of a non-empty registry, a put that replaced a name or phone
	 * number.  A store that follows another's records (a standby) owes
	 * an erasure of its own files each time this moves.
	 */
	uint64_t erased;
};

void contacts_meta_init(struct contacts_meta *m);

/*
 * Applies one record to r (its records restored with inside 0).
 * from_image says where it was read: an image is its header and then
 * puts, a log never holds a header.  PK_OK; PK_E_PARSE or
 * PK_E_INVALID_PARAMS with a message in e when it is not a record this
 * module writes (or does not fit: an image's header that is not first,
 * more puts than it announced, an exit of no record); PK_E_INTERNAL.
 */
pk_err contacts_apply(registry *r, struct contacts_meta *m, int from_image,
    const char *json, size_t len, struct jerr *e);

/* 0 when an image read had all its records, else -1 (message in e). */
int contacts_image_complete(const struct contacts_meta *m, struct jerr *e);

/*
 * Marks the records of vehicles inside g as inside (they stop expiring).
 * O(records log n).
 */
void contacts_sync_inside(registry *r, const garage *g);

#endif
