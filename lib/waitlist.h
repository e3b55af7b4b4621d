/*
 * waitlist.h - the waitlist of capacity.md "Waitlist": vehicles queued at an
 * entry gate for a spot, the order in which freed spots are offered to
 * them, their expiry, and the mailbox of outcomes.
 *
 * Pure: no I/O, no clock.  Times are Unix seconds passed in, ids are made
 * by the caller (canonical UUID text), plates arrive normalized
 * (plate_normalize), classes and gates are facility indices and needs a
 * tag mask (facility_tags_mask).  The waitlist knows nothing about spots:
 * whether an entry could get one is asked of the caller through a
 * callback, and the caller makes the ticket and then records the
 * assignment here.
 *
 * States: an entry is `waiting` until it is assigned, expires or is
 * cancelled; those three are outcomes and never change again.  An outcome
 * stays look-up-able by id until waitlist_prune() is called at a time
 * later than outcome_at + keep_outcomes_s, and is forgotten then.
 *
 * The caller's duties: run waitlist_expire_due(now) before using the
 * waitlist at time now (matching, adding, answering a position), so that
 * an entry whose expires_at has come is never matched or handed back; and
 * journal every change it is told about (add, assign, cancel, expire).
 * Replay uses the same assign/cancel/expire calls, which only apply a fact,
 * and waitlist_restore() for whole entries.
 *
 * Costs (n waiting entries, Q distinct (class, needs) queues among them,
 * m kept outcomes; dict operations counted as O(1)): add and restore
 * O(log n + log m) amortized; match O(Q) calls of the callback, whatever
 * the queues' lengths; position O(log n); assign, cancel, expire O(Q +
 * log n + log m); each entry expired or forgotten O(Q + log n + log m).
 *
 * Memory: one record per waiting entry and per kept outcome (about 350
 * bytes with its share of the indexes), plus arrays sized by their peak
 * number; nothing else grows.  Only add and restore allocate: assign,
 * cancel, expire and prune never fail.
 *
 * Pointers: a `const struct waitlist_entry *` handed out is valid until the
 * next call that changes the waitlist (any non-const function); copy what
 * you need.  Strings passed in are copied.
 */
#ifndef PARKD_WAITLIST_H
#define PARKD_WAITLIST_H

#include <stddef.h>
#include <stdint.h>

#include "perr.h"
#include "plate.h"
#include "uuid7.h"

typedef struct waitlist waitlist;

enum waitlist_state {
	WAITLIST_WAITING,
	WAITLIST_ASSIGNED,
	WAITLIST_EXPIRED,
	WAITLIST_CANCELLED
};

/* "waiting", "assigned", "expired", "cancelled"; "?" when out of range. */
const char *waitlist_state_name(enum waitlist_state s);

/* Bounds of the configuration (config.md `waitlist`). */
#define WAITLIST_MAX_DEPTH 1000000
#define WAITLIST_MAX_TIMEOUT_S ((int64_t)86400 * 7)
#define WAITLIST_MAX_KEEP_S ((int64_t)86400 * 366)

struct waitlist_limits {
	size_t max_depth;		/* waiting entries; 0 refuses every add */
	int64_t max_timeout_s;		/* 1 .. WAITLIST_MAX_TIMEOUT_S */
	int64_t keep_outcomes_s;	/* 0 .. WAITLIST_MAX_KEEP_S */
};

/*
 * Times are accepted in WAITLIST_TIME_MIN..WAITLIST_TIME_MAX (the range of
 * RFC 3339 instants the protocol can express), which keeps every sum below
 * far from overflowing.
 */
#define WAITLIST_TIME_MIN ((int64_t)0)
#define WAITLIST_TIME_MAX ((int64_t)253402300799)

/* One entry, as the waitlist holds it (read-only for the caller). */
struct waitlist_entry {
	char id[UUID_BUFSZ];
	char plate[PLATE_BUFSZ];
	enum waitlist_state state;
	int cls;			/* facility class index */
	uint64_t needs;			/* tag mask */
	int gate;			/* facility gate index it waits at */
	uint64_t seq;			/* arrival order, unique, > 0 */
	int64_t queued_at;
	int64_t expires_at;		/* queued_at + timeout_s */
	int64_t outcome_at;		/* 0 while waiting; expired: expires_at */
	char ticket[UUID_BUFSZ];	/* assigned: the ticket id; else "" */
};

/*
 * A new, empty waitlist with the given limits, or NULL when out of memory
 * or when a limit is out of range.
 */
waitlist *waitlist_new(const struct waitlist_limits *lim);
/* Frees wl and every entry.  NULL is accepted. */
void waitlist_free(waitlist *wl);

/*
 * Replaces the limits (SIGHUP).  Entries already waiting stay, even beyond
 * a lowered max_depth or max_timeout_s; a changed keep_outcomes_s applies to
 * every kept outcome from the next prune on.  PK_E_INVALID_PARAMS (and no
 * change) when a limit is out of range.
 */
pk_err waitlist_set_limits(waitlist *wl, const struct waitlist_limits *lim);
void waitlist_limits(const waitlist *wl, struct waitlist_limits *lim);

struct waitlist_add_in {
	const char *id;			/* fresh UUID text from the caller */
	const char *plate;		/* normalized, 1 .. PLATE_MAX chars */
	int cls;			/* >= 0 */
	uint64_t needs;
	int gate;			/* >= 0 */
	int64_t timeout_s;		/* 1 .. max_timeout_s */
};

/*
 * Queues a vehicle at time now: state waiting, the next arrival number,
 * expires_at = now + timeout_s.  *out is the entry, *existing 0.
 *
 * When the plate is already waiting, nothing changes and *out is that
 * entry with *existing = 1, whatever the other arguments say (a gate
 * retrying after a reconnect gets its entry back).
 *
 * Errors (nothing changed, *out NULL): PK_E_INVALID_PARAMS for a malformed
 * argument (expires_at too must be a valid time) or an id already in use
 * (waiting or kept outcome);
 * PK_E_QUEUE_FULL when max_depth entries are waiting; PK_E_INTERNAL when
 * out of memory.
 */
pk_err waitlist_add(waitlist *wl, const struct waitlist_add_in *in,
    int64_t now, const struct waitlist_entry **out, int *existing);

/*
 * The callback of waitlist_match(): nonzero when the allocation engine
 * would find a spot for a vehicle of class cls with needs entering at gate.
 * It must not change the waitlist.
 */
typedef int (*waitlist_fits_fn)(void *ud, int cls, uint64_t needs, int gate);

/*
 * The entry a freed spot goes to: the oldest waiting entry for which
 * fits() says yes, or NULL.  Changes nothing (the caller chooses the spots
 * and then calls waitlist_assign()).
 *
 * Only the head of each (class, needs) queue is asked, in arrival order,
 * so the cost does not grow with the length of a queue.  This rests on an
 * assumption the caller must keep true: whether a spot can be found depends
 * on class and needs only, not on the gate (the gate decides which spot is
 * chosen, not whether there is one).  Then when a queue's head does not
 * fit, nobody behind it in that queue does either; entries in other queues
 * are still asked, so a bus that does not fit blocks no car.
 *
 * The same call answers `wait`'s question "could anybody waiting take a
 * free spot?": while it returns an entry, that entry is served (and the
 * question asked again) before the newcomer is considered.
 */
const struct waitlist_entry *waitlist_match(const waitlist *wl,
    waitlist_fits_fn fits, void *ud);

/*
 * Waiting -> assigned at time at, with ticket (UUID text), which becomes
 * the entry's outcome.  Errors (nothing changed): PK_E_NOT_FOUND for an
 * unknown id, PK_E_INVALID_PARAMS when the entry is not waiting or an
 * argument is malformed.
 */
pk_err waitlist_assign(waitlist *wl, const char *id, const char *ticket,
    int64_t at);

/*
 * Waiting -> cancelled at time at: *changed 1.  On an entry already
 * assigned, expired or cancelled nothing changes: *changed 0.  In both
 * cases PK_OK and *out is the entry (its state is the answer).
 * PK_E_NOT_FOUND for an unknown (or forgotten) id, PK_E_INVALID_PARAMS
 * for a malformed argument; *out NULL then.
 */
pk_err waitlist_cancel(waitlist *wl, const char *id, int64_t at,
    const struct waitlist_entry **out, int *changed);

/*
 * Waiting -> expired at its expires_at, whatever the time now (replay of
 * an expiry).  PK_E_NOT_FOUND for an unknown id, PK_E_INVALID_PARAMS when
 * the entry is not waiting.
 */
pk_err waitlist_expire(waitlist *wl, const char *id);

/*
 * The expiries: every waiting entry with expires_at <= now becomes
 * expired (at its expires_at), in expires_at order (ties in arrival
 * order), and fn (when not NULL) is called with each right after it
 * changed; fn must not change the waitlist.  Returns how many expired.
 */
typedef void (*waitlist_expired_fn)(void *ud, const struct waitlist_entry *e);
size_t waitlist_expire_due(waitlist *wl, int64_t now, waitlist_expired_fn fn,
    void *ud);

/*
 * Forgets every kept outcome with outcome_at + keep_outcomes_s < now (an
 * outcome is answered for keep_outcomes_s seconds after it, both ends
 * included).  Returns how many were forgotten.  Forgetting is not a change
 * to journal: replay restores the outcome and the next prune drops it.
 */
size_t waitlist_prune(waitlist *wl, int64_t now);

/*
 * When the daemon's one timer must next fire: the earliest expires_at of a
 * waiting entry, or the earliest time a kept outcome is forgotten
 * (outcome_at + keep_outcomes_s + 1), whichever comes first.  At that time
 * call waitlist_expire_due() and then waitlist_prune().  Returns 0 and sets
 * *at, or -1 when nothing is ever due (empty waitlist).  O(1).
 */
int waitlist_next_due(const waitlist *wl, int64_t *at);
/* The earliest expires_at among waiting entries: 0 and *at, or -1 if none. */
int waitlist_next_expiry(const waitlist *wl, int64_t *at);
/*
 * The waiting entry that expires first (by expires_at, ties in arrival
 * order), or NULL: expiries one at a time, in time order with other
 * timers (waitlist_expire() applies it).  O(1).
 */
const struct waitlist_entry *waitlist_next_expiring(const waitlist *wl);

/* Any entry by id (waiting or kept outcome), or NULL. */
const struct waitlist_entry *waitlist_get(const waitlist *wl, const char *id);
/* The waiting entry of plate, or NULL (outcomes are not found by plate). */
const struct waitlist_entry *waitlist_waiting_plate(const waitlist *wl,
    const char *plate);

/*
 * The position of a waiting entry e of this waitlist: 1 + the number of
 * waiting entries (in every queue) that arrived before it, so 1 is next.
 * 0 when e is not waiting.  O(log n).
 */
size_t waitlist_position(const waitlist *wl, const struct waitlist_entry *e);

/* Waiting entries (status `waitlist`), kept outcomes, non-empty queues. */
size_t waitlist_waiting_count(const waitlist *wl);
size_t waitlist_outcome_count(const waitlist *wl);
size_t waitlist_queue_count(const waitlist *wl);

/*
 * Snapshots.  Iteration: start with a zeroed struct waitlist_iter; each
 * call returns the next entry or NULL at the end: first the waiting ones
 * in arrival order, then the kept outcomes in no particular order.  The
 * waitlist must not change during an iteration.
 */
struct waitlist_iter {
	const void *p;
	size_t i;
	int phase;
};
const struct waitlist_entry *waitlist_iter_next(const waitlist *wl,
    struct waitlist_iter *it);

/*
 * The arrival number the next add gets.  A snapshot records it and
 * waitlist_restore_seq() puts it back, so numbers stay unique even when
 * the newest entries were forgotten before the snapshot.
 */
uint64_t waitlist_next_seq(const waitlist *wl);
/* Raises the next arrival number to at least seq (never lowers it). */
void waitlist_restore_seq(waitlist *wl, uint64_t seq);

/*
 * Puts back a whole entry in any state, exactly as recorded (img->seq,
 * times, ticket): nothing is decided again, so max_depth and
 * max_timeout_s are not applied.  Waiting entries must come in arrival
 * order: img->seq must be greater than that of every entry waiting
 * already.  An outcome past its keep time is restored all the same (the
 * next prune forgets it), and so is a waiting entry past its expires_at
 * (the next waitlist_expire_due() expires it, dated back to expires_at).  Errors (nothing changed): PK_E_INVALID_PARAMS
 * for a malformed image, a duplicate id, a plate already waiting or a
 * waiting seq out of order; PK_E_INTERNAL when out of memory.
 */
pk_err waitlist_restore(waitlist *wl, const struct waitlist_entry *img);

#endif
