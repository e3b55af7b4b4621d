/*
 * change.h - the changes a core operation made, returned as values.
 *
 * Every function of the core that changes state (a request's entry, a
 * timer's expiry, and every change one of them causes, such as a waiting
 * vehicle assigned after an exit) appends what it did to a list the caller
 * owns, in the order it happened.  The daemon's one commit step then
 * encodes each change once (lib/record.h), journals it, holds the reply
 * until it is durable and hands the same bytes to every receiver.  Nothing
 * leaves the core any other way.
 *
 * A change names what it is about by pointer (the ticket), by number
 * (the spot) or by id (a waitlist entry, a reservation).  Pointers stay valid until the next call that changes the
 * same core state: commit a list before making the next change.
 *
 * The core reserves room in the list before it changes anything, so an
 * allocation failure leaves both the state and the list as they were.
 */
#ifndef PARKD_CHANGE_H
#define PARKD_CHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "plate.h"
#include "uuid7.h"

struct ticket;

enum change_kind {
	CHG_ENTRY,		/* a ticket issued: t */
	CHG_EXIT,		/* t left */
	CHG_PAY,		/* t->payments[pay] recorded */
	CHG_LOST,		/* t marked lost */
	CHG_SPOT,		/* spot put in_service or out of service */
	CHG_STRATEGY,		/* the allocation strategy in force changed */
	CHG_TARIFF,		/* the tariff in force changed */
	CHG_EPOCH,		/* a promotion began a new epoch (garage_epoch) */
	/*
	 * The vehicle registry (registry.h, regops.h): what happened to the
	 * record of plate.  Only the plate travels with the change; the
	 * contact stays in the registry (and its store, contacts.h).
	 */
	CHG_VEHICLE_REGISTERED,	/* plate's record created */
	CHG_VEHICLE_UPDATED,	/* plate's record updated; n = 1 when the contact changed */
	CHG_VEHICLE_DELETED,	/* plate's record deleted on request */
	CHG_VEHICLE_EXPIRED,	/* plate's record reached the end of its retention */
	CHG_REGISTRY_PURGED,	/* every record deleted: n of them */
	CHG_REGISTRY_RETENTION,	/* the retention became n hours */
	/* The waitlist and reservations (capacity.md): ref names the entry. */
	CHG_WAIT_QUEUED,	/* waitlist entry ref queued */
	CHG_WAIT_ASSIGNED,	/* ref assigned its ticket (after that ticket's CHG_ENTRY) */
	CHG_WAIT_EXPIRED,	/* ref expired */
	CHG_WAIT_CANCELLED,	/* ref cancelled */
	CHG_RESV_CREATED,	/* reservation ref booked */
	CHG_RESV_HELD,		/* ref's hold began with its spots */
	CHG_RESV_OWED,		/* ref's hold began with no spot free: owed */
	CHG_RESV_USED,		/* ref used by a ticket (after its CHG_ENTRY) */
	CHG_RESV_NO_SHOW,	/* ref not used in time: hold released */
	CHG_RESV_CANCELLED	/* ref cancelled: hold released */
};

struct change {
	enum change_kind kind;
	int64_t at;			/* when it happened (Unix seconds) */
	const struct ticket *t;		/* entry, exit, pay, lost */
	size_t pay;			/* pay: index into t->payments */
	uint32_t spot;			/* spot */
	int in_service;			/* spot */
	char plate[PLATE_BUFSZ];	/* registry changes: the plate, by value */
	int64_t n;			/* registry changes: as said above */
	/*
	 * The waitlist entry or reservation a CHG_WAIT_* or CHG_RESV_* change
	 * is about, by id: the entries themselves may move before the list is
	 * committed, ids do not.
	 */
	char ref[UUID_BUFSZ];
};

struct changes {
	struct change *v;
	size_t n, cap;
};

/* An empty list (no allocation until the first reserve). */
void changes_init(struct changes *l);
/* Forgets the changes, keeping the memory for the next operation. */
void changes_clear(struct changes *l);
void changes_release(struct changes *l);
/* Room for k more changes; 0, or -1 when out of memory (list unchanged). */
int changes_reserve(struct changes *l, size_t k);
/* Appends c; the caller reserved room for it first (see above). */
void changes_add(struct changes *l, const struct change *c);

#endif
