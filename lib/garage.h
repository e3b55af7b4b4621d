/*
 * garage.h - the ticket lifecycle: entry, quote, payment, lost ticket, exit.
 *
 * A garage owns the facility, the allocation state, the tariff in force and
 * every ticket.  It is the single place where the state of the car park
 * changes, and it changes only through the functions below, each of which
 * takes the time of the change as an argument: no clock is read here, so
 * every rule replays the same way from a journal or a test.
 *
 * Ids (tickets, receipts) are made by the caller and passed in, for the
 * same reason.
 *
 * Every function that changes state takes the caller's change list (see
 * change.h) and appends what it changed, including the changes it caused;
 * on an error nothing is changed and nothing appended.  The restore
 * functions at the end, used by replay, append nothing.
 */
#ifndef PARKD_GARAGE_H
#define PARKD_GARAGE_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "change.h"
#include "epochs.h"
#include "facility.h"
#include "localtime.h"
#include "perr.h"
#include "plate.h"
#include "resbook.h"
#include "tariff.h"
#include "uuid7.h"

#define PAY_METHOD_MAX 16
#define PAY_REFERENCE_MAX 64

struct payment {
	char receipt[UUID_BUFSZ];
	char reference[PAY_REFERENCE_MAX + 1];	/* "" when none was given */
	char method[PAY_METHOD_MAX + 1];
	int64_t amount;
	int64_t at;
};

enum ticket_state { TICKET_INSIDE, TICKET_EXITED };

struct tariff_ver;

struct ticket {
	char id[UUID_BUFSZ];
	char plate[PLATE_BUFSZ];
	/*
	 * Their lengths, and whether they need no escaping in JSON (jw_plain):
	 * worked out once when the ticket is made, for the records and replies
	 * that write them (jw_strk).
	 */
	uint8_t id_len, plate_len, id_plain, plate_plain;
	enum ticket_state state;
	int cls;
	int entry_gate;
	int exit_gate;			/* -1 while inside */
	int64_t entered_at;
	int64_t exited_at;		/* 0 while inside */
	uint64_t needs;
	uint32_t tariff_version;	/* the tariff in force at entry, by which it is priced */
	struct tariff_ver *tariff;	/* the garage's; NULL in an image to restore */
	int32_t peak_milli;		/* fixed at entry */
	int32_t surge_milli;		/* fixed at entry */
	int lost;
	int64_t lost_at;
	int64_t paid;			/* sum of payments */
	int64_t last_paid_at;		/* 0 when nothing was paid */
	int64_t charged;		/* what the stay cost in the end (at exit) */
	size_t n_payments;
	struct payment *payments;
	struct ticket *older, *newer;	/* closed-ticket retention list */
	char reservation[UUID_BUFSZ];	/* the reservation it entered on, or "" */
	size_t n_spots;
	uint32_t spots[];
};

/* The cached lengths are bytes: the buffers they measure must stay short. */
_Static_assert(UUID_BUFSZ <= 256 && PLATE_BUFSZ <= 256,
    "struct ticket's id_len and plate_len are uint8_t");

/* What a ticket owes at a moment. */
struct garage_quote {
	int64_t at;
	int64_t duration_s;
	int64_t fee;			/* the stay's fee so far (lost ticket fee applied) */
	int64_t due;			/* what must still be paid to leave */
	int64_t exit_by;		/* end of the grace after the last payment, 0 if none */
	int lost_fee_applied;		/* fee is the lost-ticket fee */
	struct tariff_quote q;		/* the tariff's steps */
};

typedef struct garage garage;

/*
 * A garage over facility f with tariff t.  Takes ownership of f and t in
 * every case (they are freed on failure too).  lt(lt_ud, ...) gives the
 * facility's local time for peak windows (NULL: UTC); the garage keeps
 * both pointers, and lt_ud must outlive it.  Closed tickets are kept for
 * look-up until keep_closed of them are held, oldest dropped first.  NULL
 * when out of memory.
 */
garage *garage_new(facility *f, tariff *t, local_time_fn lt, void *lt_ud,
    enum alloc_strategy s, size_t keep_closed);
void garage_free(garage *g);
/*
 * How many closed tickets are kept for look-up from now on; a smaller
 * number drops the oldest at the next exit.
 */
void garage_set_keep_closed(garage *g, size_t keep_closed);

const facility *garage_facility(const garage *g);
const alloc *garage_alloc(const garage *g);
/*
 * The tariff in force and its version.  A new garage has the
 * configuration's as version 1, which is not in the journal until
 * garage_journal_tariff() or a record puts it there.
 */
const tariff *garage_tariff(const garage *g);
uint32_t garage_tariff_version(const garage *g);
int garage_tariff_journaled(const garage *g);
/* Records the tariff in force when the journal has none (a new data directory). */
pk_err garage_journal_tariff(garage *g, int64_t at, struct changes *out);
/* Visits the tariff in force and every one pricing a ticket, oldest first. */
void garage_each_tariff(const garage *g,
    void (*fn)(void *ud, uint32_t version, const tariff *t), void *ud);
/* The tariff t is priced by: the one in force when it entered. */
const tariff *garage_ticket_tariff(const garage *g, const struct ticket *t);
/*
 * Puts tariff t in force at time at as the next version (taking ownership
 * of t in every case): vehicles entering from now on are priced by it,
 * those inside keep theirs.  PK_E_INTERNAL when out of memory (t is freed,
 * nothing changed).
 */
pk_err garage_set_tariff(garage *g, tariff *t, int64_t at, struct changes *out);
enum alloc_strategy garage_strategy(const garage *g);
/* Switching to the strategy in force changes nothing. */
pk_err garage_set_strategy(garage *g, enum alloc_strategy s, int64_t at,
    struct changes *out);
/*
 * See alloc_set_in_service().  A request that changes nothing (the spot is
 * already, or already about to be, in that state) reports no change.  A
 * spot that becomes free goes to the claims of capacity.md at once.
 */
pk_err garage_set_spot_service(garage *g, uint32_t spot, int in_service,
    int64_t at, struct changes *out);
/* Whether spot is (or, once released, will be) in service as asked. */
int garage_spot_service_is(const garage *g, uint32_t spot, int in_service);

/* Tickets by id (inside or kept after exit), and by plate (inside only). */
struct ticket *garage_ticket(const garage *g, const char *id);
struct ticket *garage_inside(const garage *g, const char *plate);
size_t garage_inside_count(const garage *g);
/*
 * Vehicles waiting for a spot (the waitlist's depth), and reservations by
 * state (capacity.h has the rest of the waitlist and the reservations).
 */
size_t garage_waitlist_depth(const garage *g);
void garage_reservation_counts(const garage *g, struct resbook_counts *c);
/* The ticket of the vehicle on spot, or NULL (none, or out of range).  O(1). */
const struct ticket *garage_on_spot(const garage *g, uint32_t spot);
/* Whether a vehicle of class cls (no needs) could enter at gate now. */
int garage_class_open(const garage *g, int gate, int cls);
/*
 * A gate's sign: full[c] is 1 when no vehicle of class c could enter at
 * gate now.  Returns the number of classes, or -1 when more than max.
 */
int garage_sign(const garage *g, int gate, uint8_t *full, size_t max);
/*
 * Visits the tickets inside whose plate starts with prefix (normalized),
 * in plate order, at most limit of them; *more tells whether there were
 * others.  O(log n + limit).  Returns how many were visited.
 */
size_t garage_search(const garage *g, const char *prefix, size_t limit,
    void (*fn)(void *ud, const struct ticket *t), void *ud, int *more);

struct garage_entry_in {
	int gate;
	const char *plate;		/* normalized (plate_normalize) */
	int cls;
	uint64_t needs;
	const char *ticket_id;		/* a fresh UUID from the caller */
	int64_t at;
	const char *reservation;	/* the reservation named at the gate, or NULL */
};

/*
 * Lets a vehicle in: checks the gate may be entered, that the plate is not
 * inside already, chooses spots by the strategy and issues the ticket,
 * fixing peak and surge.  Errors: wrong_gate, plate_inside, lot_full,
 * internal (out of memory; nothing changed).
 *
 * A plate with a reservation whose hold has begun, or begins within
 * reservations.hold_before_s, enters on it (capacity.h): on its held spots
 * when it has them, even with no spot free for walk-ins; the ticket
 * records it and a CHG_RESV_USED follows the CHG_ENTRY.  in->reservation
 * names one: not_found when there is no such reservation, invalid_params
 * when it is another plate's; one that is not usable now (finished, or
 * its hold too far off) makes the entry a walk-in.  A plate that was
 * waiting on the waitlist leaves it (CHG_WAIT_CANCELLED).
 */
pk_err garage_entry(garage *g, const struct garage_entry_in *in,
    struct ticket **t, struct changes *out);

/* What t owes at time at (t inside).  Pure. */
void garage_quote(const garage *g, const struct ticket *t, int64_t at,
    struct garage_quote *q);

/*
 * Lets t out at gate.  Errors: wrong_gate, not_found (already out),
 * invalid_params (at is before the entry),
 * payment_required (q holds the amount due).  On success the spots are
 * released and the ticket is kept as closed; the freed spots go to the
 * claims of capacity.md at once (owed holds, then the waitlist), whose
 * changes follow the CHG_EXIT.
 */
pk_err garage_exit(garage *g, struct ticket *t, int gate, int64_t at,
    struct garage_quote *q, struct changes *out);

struct garage_pay_in {
	int64_t amount;
	const char *method;		/* NULL or up to PAY_METHOD_MAX chars */
	const char *reference;		/* NULL or up to PAY_REFERENCE_MAX chars */
	const char *receipt_id;		/* a fresh UUID from the caller */
	int64_t at;
};

/*
 * Records a payment of exactly the amount due.  The same non-empty
 * reference again returns the first payment and charges nothing
 * (*replayed set).  Errors: not_found (ticket out), amount_mismatch (q
 * holds the amount due), internal (out of memory).
 */
pk_err garage_pay(garage *g, struct ticket *t, const struct garage_pay_in *in,
    const struct payment **p, int *replayed, struct garage_quote *q,
    struct changes *out);

/* Marks t lost at time at; q is what it then owes.  Idempotent. */
pk_err garage_lost(garage *g, struct ticket *t, int64_t at,
    struct garage_quote *q, struct changes *out);

/*
 * Restoring state from a journal or snapshot.  These apply facts that were
 * already decided (the spots, the amounts) without deciding anything again,
 * so a replay gives the same state even if the rules changed meanwhile.
 * They append no change.  Errors mean the data does not fit the
 * facility (unknown or already taken spot, duplicate ticket): invalid_params
 * or internal (out of memory).
 */

/*
 * Adds a whole ticket: img with its payments (img->payments is ignored and
 * pays[0..img->n_payments) copied).  An inside ticket takes its spots; an
 * exited one joins the closed tickets.
 */
pk_err garage_restore_ticket(garage *g, const struct ticket *img,
    const uint32_t *spots, const struct payment *pays);
pk_err garage_restore_exit(garage *g, struct ticket *t, int gate, int64_t at);
pk_err garage_restore_pay(garage *g, struct ticket *t, const struct payment *p);
void garage_restore_lost(garage *g, struct ticket *t, int64_t at);
/*
 * Puts t in force as version, taking ownership in every case: a record of
 * the configuration's version, never journaled and pricing nobody,
 * replaces it; version 0 (a record from before versions) means the next.  PK_E_INVALID_PARAMS when version is not newer than the one in
 * force.  An image's tariff_version names the version a restored ticket is
 * priced by (0: the one in force).
 */
pk_err garage_restore_tariff(garage *g, tariff *t, uint32_t version);
void garage_restore_strategy(garage *g, enum alloc_strategy s);
pk_err garage_restore_spot_service(garage *g, uint32_t spot, int in_service);
/* Begins epoch at lsn (a promotion replayed); see epochs_begin. */
pk_err garage_restore_epoch(garage *g, uint32_t epoch, uint64_t lsn);

/*
 * The epochs of the history this state is (epochs.h), and the one in
 * force: every record written now carries it.
 */
const struct epochs *garage_epochs(const garage *g);
uint32_t garage_epoch(const garage *g);
/*
 * A standby becomes the primary: the next epoch begins at lsn, the LSN
 * its record will have (the caller's journal knows it).  Appends
 * CHG_EPOCH.  PK_E_INVALID_PARAMS when lsn is not past the current
 * epoch's start, internal when out of memory.
 */
pk_err garage_promote(garage *g, uint64_t lsn, int64_t at, struct changes *out);

/* Visits closed tickets (oldest first), then tickets inside (any order). */
void garage_each_ticket(const garage *g,
    void (*fn)(void *ud, const struct ticket *t), void *ud);

#endif
