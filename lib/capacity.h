/*
 * capacity.h - the garage's waitlist and reservations (capacity.md): who
 * is promised a spot, and the order in which freed spots keep those
 * promises.
 *
 * The garage owns a waitlist (waitlist.h) and a reservation book
 * (resbook.h) and keeps them in step with the allocation engine.  Like
 * every garage function these take the time as an argument and append
 * what they changed to the caller's change list (change.h); the restore
 * functions at the end apply journaled facts and append nothing.
 *
 * The order of claims.  Whenever a spot becomes allocatable (an exit, a
 * spot back in service, a hold released by a no-show or a cancel), within
 * the same call, before the caller gets its answer:
 *   1. owed reservation holds, oldest hold start first, take what fits;
 *   2. then the waitlist, first come first served among the entries the
 *      allocation engine finds a spot for (a bus that does not fit blocks
 *      no car behind it): each gets a ticket, as from an entry (on the
 *      plate's reservation when it has one it could enter on);
 *   3. what is left is free for walk-ins.
 * So after every call no owed hold and no waiting entry could be given a
 * free spot (garage_check() verifies it), and a walk-in never takes a spot
 * a waiting or reserved vehicle could have had.  Served in the same call,
 * a claim's changes follow the change that freed the spot.
 *
 * Holds.  A reservation's hold begins at hold_at = from - hold_before_s:
 * its spot (when it names one and that is free), else spots chosen by the
 * strategy for its class and needs from its gate, are held: not free, not
 * occupied, counted as held.  With nothing free the hold is owed and
 * served as a claim.  A vehicle waiting at a gate whose reservation's hold
 * begins drives in on it at once.  Not used by no_show_at = from +
 * no_show_after_s, it becomes no_show and its spots are released.
 *
 * Time.  Expiries, holds and no-shows are applied by garage_run_due(), in
 * time order, each at the instant it was due (also long past, at start-up
 * after a stop), with the claims they cause.  garage_next_due() says when
 * to call it next: the daemon keeps one timer on that instant, no
 * periodic scan.  Operations at time t assume everything due at or before
 * t was run (the daemon runs what is due before each request).
 *
 * Ids.  Tickets of vehicles assigned from the waitlist are made inside the
 * garage, with the id source set by garage_set_ids(); the default one
 * makes time-ordered ids from the time of the change and a counter, which
 * is deterministic (tests) but not unique across processes: the daemon
 * sets its own.
 *
 * Costs.  A freed spot is matched against the waitlist in O(Q) allocation
 * queries, Q = distinct (class, needs) pairs waiting, whatever the queue's
 * length (waitlist.h), and against the owed holds in O(owed) steps with at
 * most one allocation query per distinct (class, needs) pair among them.
 * reserve's capacity check is O(log n) in the reservations (resbook.h).
 *
 * Out of memory while serving claims: a claim that cannot get its memory
 * stays unserved (waiting or owed), the change that freed the spot
 * stands; the next run of garage_run_due() or garage_settle() serves it.
 */
#ifndef PARKD_CAPACITY_H
#define PARKD_CAPACITY_H

#include <stddef.h>
#include <stdint.h>

#include "garage.h"
#include "resbook.h"
#include "waitlist.h"

/* ---- configuration ---- */

#define CAPACITY_KEEP_FINISHED_DEFAULT_S ((int64_t)86400 * 30)
#define CAPACITY_KEEP_FINISHED_MAX_S ((int64_t)86400 * 3660)

struct garage_capacity_cfg {
	struct waitlist_limits wl;	/* max_depth, max_timeout_s, keep_outcomes_s */
	int64_t max_fraction_ppm;	/* reservable share of a type, 0..1000000 */
	int64_t hold_before_s;		/* 0..RESBOOK_SPAN_MAX_S */
	int64_t no_show_after_s;	/* 0..RESBOOK_SPAN_MAX_S */
	int64_t max_hours;		/* 1..RESBOOK_MAX_HOURS_MAX */
	int64_t horizon_days;		/* 1..RESBOOK_HORIZON_DAYS_MAX */
	int64_t keep_finished_s;	/* finished reservations kept, 0..CAPACITY_KEEP_FINISHED_MAX_S */
};

/* config.md's defaults: 200 deep, 1800 s, 86400 s; 0.25, 900, 1800, 72 h, 90 days; 30 days. */
void garage_capacity_defaults(struct garage_capacity_cfg *c);
/*
 * Puts c in force (a new garage has the defaults; SIGHUP may change it).
 * The book's times (hold_before_s, no_show_after_s, max_hours,
 * horizon_days) apply to reservations booked from then on: those booked
 * keep the hold and no-show instants they were booked with.  Waiting
 * entries stay beyond a lowered max_depth or max_timeout_s.
 * PK_E_INVALID_PARAMS (and nothing changed) for a value out of range.
 */
pk_err garage_configure_capacity(garage *g, const struct garage_capacity_cfg *c);
void garage_capacity_config(const garage *g, struct garage_capacity_cfg *c);

/* Makes a fresh ticket id (time-ordered UUID text). */
typedef void (*garage_id_fn)(void *ud, char out[UUID_BUFSZ]);
/* The id source for tickets the garage issues itself; NULL: the default. */
void garage_set_ids(garage *g, garage_id_fn fn, void *ud);

/* Read-only views, for records, snapshots and answers. */
const waitlist *garage_waitlist(const garage *g);
const resbook *garage_resbook(const garage *g);

/* What status counts (capacity.md "Status"). */
struct garage_capacity_counts {
	uint64_t waiting;		/* waitlist entries waiting */
	uint64_t held;			/* spots held for reservations */
	uint64_t owed;			/* holds begun with no spot yet */
	uint64_t reservations_active;	/* booked, held or owed */
};
void garage_capacity_counts(const garage *g, struct garage_capacity_counts *c);
/* Whether `wait` could queue one more vehicle (lot_full's data.waitlist). */
int garage_waitlist_open(const garage *g);

/* ---- the waitlist ---- */

struct garage_wait_in {
	int gate;
	const char *plate;		/* normalized */
	int cls;
	uint64_t needs;
	int64_t timeout_s;		/* 1..waitlist.max_timeout_s */
	const char *id;			/* a fresh UUID for the entry */
	const char *ticket_id;		/* a fresh UUID, if it is assigned at once */
	int64_t at;
};

struct garage_wait_out {
	struct waitlist_entry e;	/* a copy: waiting, or assigned at once */
	size_t position;		/* waiting: 1 = next */
	struct ticket *t;		/* assigned: the ticket */
	int existing;			/* the plate was waiting already: its entry */
};

/*
 * A vehicle at entry gate in->gate asks for a spot.  When one fits it is
 * assigned at once (CHG_WAIT_QUEUED, CHG_ENTRY, CHG_WAIT_ASSIGNED; an
 * arrival on a reservation as with garage_entry()); else it is queued
 * (CHG_WAIT_QUEUED) until in->at + timeout_s.  A plate already waiting
 * gets its entry back (existing, no change).  Errors: wrong_gate,
 * plate_inside, invalid_params (timeout_s, ids), queue_full, internal.
 */
pk_err garage_wait(garage *g, const struct garage_wait_in *in,
    struct garage_wait_out *o, struct changes *out);
/*
 * Cancels a waiting entry (CHG_WAIT_CANCELLED, *changed 1); on an outcome
 * it changes nothing (*changed 0).  *e is a copy of the entry either way.
 * not_found for an unknown (or forgotten) id.
 */
pk_err garage_wait_cancel(garage *g, const char *id, int64_t at,
    struct waitlist_entry *e, int *changed, struct changes *out);
/* An entry by id (waiting or kept outcome), or NULL; see waitlist.h. */
const struct waitlist_entry *garage_wait_get(const garage *g, const char *id);
/* Its position while waiting (1 = next), else 0.  O(log n). */
size_t garage_wait_position(const garage *g, const struct waitlist_entry *e);

/* ---- reservations ---- */

struct garage_reserve_in {
	const char *id;			/* a fresh UUID for the reservation */
	const char *plate;		/* normalized */
	int cls;
	uint64_t needs;
	uint32_t spot;			/* RESV_NO_SPOT, or the spot asked for */
	int gate;			/* an entry gate, or -1: the first one */
	int64_t from, to;
	int64_t now;
};

/*
 * Books a reservation (CHG_RESV_CREATED).  It books one unit of the first
 * type its class fits (the spot's type when it names one; a class served
 * only by a contiguous run books the run's count of the run's type),
 * within floor(max_fraction x in-service spots of that type) at every
 * instant of [from - hold_before_s, to).  A hold already due is taken at
 * once (CHG_RESV_HELD or CHG_RESV_OWED follows).  Errors: invalid_params
 * (why->msg: window rules, a spot the class does not fit or that lacks
 * the needs, a class with nothing to book), wrong_gate (not an entry
 * gate), reservation_conflict (why->at: the first instant over),
 * internal.
 */
pk_err garage_reserve(garage *g, const struct garage_reserve_in *in,
    struct resv **r, struct resbook_why *why, struct changes *out);
/* A reservation by id, or NULL (unknown, or forgotten after keep_finished_s). */
struct resv *garage_reservation(const garage *g, const char *id);
/*
 * Cancels a booked, held or owed reservation (CHG_RESV_CANCELLED; held
 * spots released and served as claims): *changed 1.  On a used, no-show
 * or cancelled one nothing changes: *changed 0.  not_found for an unknown
 * id.
 */
pk_err garage_reservation_cancel(garage *g, const char *id, int64_t at,
    struct resv **r, int *changed, struct changes *out);

/* ---- time ---- */

/*
 * When garage_run_due() has work next: 1 and *at, or 0 when nothing will
 * ever be due.  O(1) plus O(log n) for the reservations.
 */
int garage_next_due(const garage *g, int64_t *at);
/*
 * Applies, in time order, every expiry, hold and no-show due at or before
 * now, each at the instant it was due, with the claims each causes; and
 * forgets waitlist outcomes older than keep_outcomes_s and reservations
 * finished longer than keep_finished_s ago (not changes: a replay
 * restores them and forgets them again).  Returns the number of changes
 * appended.  Out of memory stops early, with what was done appended.
 */
size_t garage_run_due(garage *g, int64_t now, struct changes *out);
/*
 * Serves the claims against whatever is free at time at: nothing when the
 * garage is consistent; after a restart with another configuration
 * (classes that now fit where they did not) it keeps the order of claims.
 * Returns the number of changes appended.
 */
size_t garage_settle(garage *g, int64_t at, struct changes *out);

/*
 * Checks the invariants: no spot given twice (tickets inside and holds
 * against the allocation engine, spot by spot), occupied + held <= spots
 * in service, the counts, held reservations on held spots, and that no
 * owed hold or waiting entry could be given a free spot.  0, or -1 with
 * a sentence in why.  O(spots + tickets + reservations): for tests and the
 * operators' `check`.
 */
int garage_check(const garage *g, char *why, size_t len);

/* ---- replay (append nothing; see garage.h) ---- */

/* An entry as recorded (queued, or a snapshot's in any state). */
pk_err garage_restore_wait(garage *g, const struct waitlist_entry *img);
void garage_restore_wait_seq(garage *g, uint64_t next_seq);
pk_err garage_restore_wait_assign(garage *g, const char *id, const char *ticket,
    int64_t at);
pk_err garage_restore_wait_cancel(garage *g, const char *id, int64_t at);
pk_err garage_restore_wait_expire(garage *g, const char *id);
/*
 * A reservation as recorded: booked (created), or a snapshot's in any
 * state, whose held spots (state held) are held again.
 */
pk_err garage_restore_resv(garage *g, const struct resv *img);
pk_err garage_restore_resv_held(garage *g, const char *id,
    const uint32_t *spots, size_t n, int64_t at);
pk_err garage_restore_resv_owed(garage *g, const char *id, int64_t at);
/* Used by ticket: its spots were taken by the ticket's entry record. */
pk_err garage_restore_resv_used(garage *g, const char *id, const char *ticket,
    int64_t at);
pk_err garage_restore_resv_no_show(garage *g, const char *id, int64_t at);
pk_err garage_restore_resv_cancel(garage *g, const char *id, int64_t at);

#endif
