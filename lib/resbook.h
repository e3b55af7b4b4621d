/*
 * resbook.h - the reservation book: reservations, the capacity they book
 * per spot type, their timers and their listing (capacity.md
 * "Reservations", config.md `reservations`).
 *
 * Pure: no I/O, no clock.  Times are Unix seconds passed in, ids are made
 * by the caller (UUID text), plates come normalized (plate_normalize).  The
 * book decides whether a reservation may be booked and keeps the facts of
 * each one; it does not touch spots.  Holding spots (alloc_hold), choosing
 * them, serving owed holds from a freed spot and journaling are the
 * caller's: it asks the book what is due, does the work, and tells the book
 * what happened through the resbook_mark_* functions.
 *
 * Capacity.  A reservation books `units` units of one spot type over its
 * footprint [from - hold_before_s, to).  For every type and instant, the
 * units of the active reservations (booked, held, owed) whose footprints
 * cover the instant must not exceed the cap the caller passes with the
 * request (floor(max_fraction x in-service spots of the type)).  Intervals
 * are half-open: [a, b) and [b, c) do not overlap.  A reservation naming a
 * spot must also not overlap, by footprint, another active reservation of
 * the same spot.
 *
 * Release.  cancelled and no_show release the booking.  So does used: from
 * the moment the vehicle enters, it is inside and counted as occupied by
 * the allocation engine like any other vehicle, so keeping its units booked
 * until `to` would count it twice (and a vehicle may stay past `to`
 * anyway).  The spot of a used reservation with `spot` may therefore be
 * booked again for a window that overlaps the stay; if the vehicle is still
 * there when that hold starts, the hold is owed like any other.
 *
 * Costs, n = reservations in the book: lookup by id O(1) expected;
 * reserve (checks and booking), every mark, lookup by plate, the next
 * timer, the next owed hold: O(log n) expected (treaps); a listing page
 * O((1 + limit) log n); counts O(1).  The only allocations are the record
 * itself and the growth of the id table and the two timer heaps, all made
 * before anything changes, so a failure leaves the book as it was.
 * Memory: about 430 bytes per reservation (one allocation, plus 4 bytes
 * per spot it may hold), 32 to 64 for the id table and 16 to 32 for the
 * timers: about 500 bytes in all (bench_resbook).
 *
 * Ownership: records belong to the book.  A struct resv * stays valid
 * until resbook_forget() drops it or the book is freed; callers read it and
 * change it only through the functions below.
 */
#ifndef PARKD_RESBOOK_H
#define PARKD_RESBOOK_H

#include <stddef.h>
#include <stdint.h>

#include "perr.h"
#include "plate.h"
#include "uuid7.h"

enum resv_state {
	RESV_BOOKED,		/* waiting for its hold */
	RESV_HELD,		/* spots held */
	RESV_OWED,		/* hold began but no spot was free */
	RESV_USED,		/* the vehicle entered on it */
	RESV_NO_SHOW,		/* not used by from + no_show_after_s */
	RESV_CANCELLED,
	RESV__NSTATES
};

/* "booked", "held", "owed", "used", "no_show", "cancelled"; "?" if out of range. */
const char *resv_state_name(enum resv_state s);
/* 0 and *out set for one of the names above; -1 otherwise. */
int resv_state_parse(const char *name, enum resv_state *out);
/* 1 for booked, held and owed (the states that book capacity). */
int resv_state_active(enum resv_state s);

#define RESV_NO_SPOT UINT32_MAX

/* Longest id this book keeps (a UUID's text). */
#define RESBOOK_ID_MAX UUID_STRLEN
/* Most items one listing page returns. */
#define RESBOOK_LIST_MAX 1000
/* An opaque listing cursor with its NUL. */
#define RESBOOK_CURSOR_BUFSZ (16 + RESBOOK_ID_MAX + 1)
/* The defaults of config.md. */
#define RESBOOK_DEFAULT_HOLD_BEFORE_S 900
#define RESBOOK_DEFAULT_NO_SHOW_AFTER_S 1800
#define RESBOOK_DEFAULT_MAX_HOURS 72
#define RESBOOK_DEFAULT_HORIZON_DAYS 90
/* Bounds resbook_new() accepts (they keep all arithmetic far from overflow). */
#define RESBOOK_SPAN_MAX_S ((int64_t)86400 * 366)
#define RESBOOK_MAX_HOURS_MAX ((int64_t)24 * 3660)
#define RESBOOK_HORIZON_DAYS_MAX ((int64_t)3660)
#define RESBOOK_TYPES_MAX 1024

/*
 * One reservation.  The times hold_at and no_show_at are fixed when it is
 * booked (from the configuration then in force) and kept as facts, so a
 * restart with other settings does not move an existing reservation.
 */
struct resv {
	char id[RESBOOK_ID_MAX + 1];
	char plate[PLATE_BUFSZ];
	char ticket[RESBOOK_ID_MAX + 1];	/* "" until used */
	enum resv_state state;
	int cls;			/* vehicle class (facility index) */
	int gate;			/* expected entry gate (facility index) */
	int type;			/* the spot type whose units it books */
	uint32_t units;			/* 1, or a contiguous run's count */
	uint32_t spot;			/* the spot asked for, or RESV_NO_SPOT */
	uint64_t needs;			/* tag mask */
	int64_t from, to;		/* the window [from, to) */
	int64_t hold_at;		/* from - hold_before_s: footprint start */
	int64_t no_show_at;		/* from + no_show_after_s */
	int64_t created_at;
	int64_t changed_at;		/* the last change of state */
	uint32_t max_spots;		/* room in held[] */
	uint32_t n_held;		/* spots in held[] */
	uint32_t *held;			/* spots held; kept after the hold ends */
};

typedef struct resbook resbook;

struct resbook_config {
	int ntypes;			/* spot types, 1..RESBOOK_TYPES_MAX */
	int64_t hold_before_s;		/* 0..RESBOOK_SPAN_MAX_S */
	int64_t no_show_after_s;	/* 0..RESBOOK_SPAN_MAX_S */
	int64_t max_hours;		/* 1..RESBOOK_MAX_HOURS_MAX */
	int64_t horizon_days;		/* 1..RESBOOK_HORIZON_DAYS_MAX */
	/*
	 * The allocator, all three or none (NULL: malloc, realloc, free).
	 * Tests use it to make allocations fail.
	 */
	void *(*mem_malloc)(size_t);
	void *(*mem_realloc)(void *, size_t);
	void (*mem_free)(void *);
};

/* An empty book; NULL when c is out of bounds or out of memory. */
resbook *resbook_new(const struct resbook_config *c);
/*
 * Puts c's times in force (hold_before_s, no_show_after_s, max_hours,
 * horizon_days; ntypes and the allocator stay): they apply to reservations
 * booked from now on, those booked keep their hold_at and no_show_at.
 * PK_E_INVALID_PARAMS (nothing changed) when one is out of bounds.
 */
pk_err resbook_set_times(resbook *rb, const struct resbook_config *c);
/* Frees the book and every record; NULL is accepted. */
void resbook_free(resbook *rb);

/* ---- booking ---- */

struct resbook_reserve_in {
	const char *id;			/* fresh id, 1..RESBOOK_ID_MAX chars */
	const char *plate;		/* normalized */
	int cls, gate;			/* kept, not interpreted (>= 0) */
	uint64_t needs;			/* kept, not interpreted */
	uint32_t spot;			/* RESV_NO_SPOT, or the spot asked for */
	int64_t from, to;
	int type;			/* the type it is served from */
	uint32_t units;			/* 1..ALLOC_MAX_SPOTS */
	uint32_t max_spots;		/* most spots its hold can take, units..ALLOC_MAX_SPOTS */
	uint32_t cap;			/* units type may have booked at any instant */
	int64_t now;
};

/* Why a request was refused: a static message and, for conflicts, the instant. */
struct resbook_why {
	const char *msg;
	int64_t at;			/* reservation_conflict: first instant over */
};

/*
 * Books a reservation in state booked (created_at = changed_at = now), or
 * refuses it.  Errors, in the order they are checked:
 *  invalid_params: a bad id (empty, too long, or already in the book),
 *    plate, type, units, max_spots, cls or gate, a time outside
 *    RFC3339_MIN..RFC3339_MAX; from before now; to not after from; longer
 *    than max_hours; from more than horizon_days after now;
 *  reservation_conflict: why->at is the first instant of the footprint at
 *    which the type's booked units plus these would exceed cap, or at which
 *    the footprint overlaps another active reservation of the same spot
 *    (the earlier of the two);
 *  internal: out of memory.
 * On failure nothing changed and *out is NULL; why (may be NULL) says why.
 */
pk_err resbook_reserve(resbook *rb, const struct resbook_reserve_in *in,
    struct resv **out, struct resbook_why *why);
/* The same checks as resbook_reserve() without booking (never internal). */
pk_err resbook_check(const resbook *rb, const struct resbook_reserve_in *in,
    struct resbook_why *why);

/*
 * The capacity book of one type (type out of range reads as empty).
 * booked_at: units booked at instant t.  booked_max: the most units booked
 * at any instant of [a, b) (0 when a >= b).  first_over: 1 and *at set to
 * the first instant of [a, b) at which booked + units > cap, else 0.
 */
int64_t resbook_booked_at(const resbook *rb, int type, int64_t t);
int64_t resbook_booked_max(const resbook *rb, int type, int64_t a, int64_t b);
int resbook_first_over(const resbook *rb, int type, int64_t a, int64_t b,
    uint32_t units, uint32_t cap, int64_t *at);

/* ---- look-ups ---- */

/* The reservation with this id, or NULL. */
struct resv *resbook_get(const resbook *rb, const char *id);
/*
 * For an arrival at entry: among the plate's active reservations, the one
 * whose hold starts first, if its hold_at <= now + lead_s; else NULL.
 * lead_s = 0 asks for "hold has begun", lead_s = hold_before_s for "or
 * starts within hold_before_s".
 */
struct resv *resbook_arrival(const resbook *rb, const char *plate,
    int64_t now, int64_t lead_s);

/* ---- timers ---- */

enum resbook_due_kind {
	RESBOOK_DUE_NO_SHOW,		/* at no_show_at, for booked/held/owed */
	RESBOOK_DUE_HOLD		/* at hold_at, for booked */
};

struct resbook_due {
	struct resv *r;
	enum resbook_due_kind kind;
	int64_t at;			/* the instant it was due */
};

/* 1 and *at = the earliest pending timer; 0 when there is none. */
int resbook_next_due(const resbook *rb, int64_t *at);
/*
 * Takes the earliest pending timer due at or before now: 1 and *d set, or
 * 0.  Timers come in order of (at, no-shows before holds, id): a no-show
 * frees its spot before a hold at the same instant looks for one (with
 * hold_before_s = no_show_after_s = 0 a reservation's own no-show comes
 * first and it is never held).  Popping changes no state: the caller
 * applies it (mark_held or mark_owed for a hold, mark_no_show for a
 * no-show) at d->at.  A popped hold is not offered again, except after a
 * restore of the book (a booked record gets its hold timer back).
 * Called in a loop at start-up, this applies what fell due while the
 * daemon was down, in order, at the instants it was due.
 */
int resbook_pop_due(resbook *rb, int64_t now, struct resbook_due *d);

/*
 * ---- changes of state (at = the instant of the change) ----
 *
 * Each answers not_found when r is not a record of this book, and
 * invalid_params when r is in a state the change does not start from or
 * at is outside RFC3339_MIN..RFC3339_MAX.
 */

/*
 * booked or owed -> held, with spots[0..n) (1 <= n <= r->max_spots), as
 * chosen and held in the allocation engine by the caller.  Leaves the owed
 * queue; drops a pending hold timer.
 */
pk_err resbook_mark_held(resbook *rb, struct resv *r, const uint32_t *spots,
    size_t n, int64_t at);
/* booked -> owed: no spot was free at the hold; joins the owed queue. */
pk_err resbook_mark_owed(resbook *rb, struct resv *r, int64_t at);
/*
 * booked, held or owed -> used by ticket (1..RESBOOK_ID_MAX chars).
 * Releases the booking (see "Release" above); held[] keeps the spots that
 * were held, which the caller turns into the ticket's (alloc_take).
 */
pk_err resbook_mark_used(resbook *rb, struct resv *r, const char *ticket,
    int64_t at);
/* booked, held or owed -> no_show; releases the booking. */
pk_err resbook_mark_no_show(resbook *rb, struct resv *r, int64_t at);
/*
 * booked, held or owed -> cancelled (*changed = 1); releases the booking.
 * On a used, no-show or cancelled reservation it changes nothing
 * (*changed = 0) and answers PK_OK: r->state is the answer.
 * For held and owed ones, the caller releases the spots in held[].
 */
pk_err resbook_cancel(resbook *rb, struct resv *r, int64_t at, int *changed);

/* ---- owed holds ---- */

/*
 * The owed reservations, oldest hold start first (ties by id): the order in
 * which a freed spot serves them.  first: the oldest or NULL; next: the one
 * after r (an owed reservation), or NULL.
 */
struct resv *resbook_owed_first(const resbook *rb);
struct resv *resbook_owed_next(const resbook *rb, const struct resv *r);

/* ---- listing ---- */

struct resbook_query {
	int has_from, has_to, has_state;
	int64_t from, to;		/* reservations whose from is in [from, to) */
	enum resv_state state;
	const char *cursor;		/* NULL or "": the first page */
	size_t limit;			/* 1..RESBOOK_LIST_MAX */
};

/*
 * One page of reservations in order of (from, id).  items must have room
 * for q->limit; *n is the count written.  next_cursor is "" when this page
 * ends the listing, else the cursor of the next page: it names the last
 * (from, id) returned, so the next page starts after it whatever was added
 * or removed meanwhile (nothing is returned twice or skipped that was
 * there throughout).  A cursor is meant to be used with the same filters;
 * q->cursor and next_cursor may be the same buffer.
 * invalid_params for a bad limit, state or cursor.
 */
pk_err resbook_list(const resbook *rb, const struct resbook_query *q,
    struct resv **items, size_t *n, char next_cursor[RESBOOK_CURSOR_BUFSZ]);

/* ---- counts ---- */

struct resbook_counts {
	uint64_t total;
	uint64_t active;		/* booked + held + owed */
	uint64_t held, owed;
	uint64_t by_state[RESV__NSTATES];
};

void resbook_counts(const resbook *rb, struct resbook_counts *c);

/* ---- retention ---- */

/*
 * Forgets up to max (0: no limit) finished reservations (used, no_show,
 * cancelled) whose last change is at or before now - keep_s, oldest first,
 * and returns how many.  Their pointers become invalid.  Active ones are
 * never forgotten, so memory stays bounded by the active reservations plus
 * those finished within keep_s.  Forgetting is not a change of state: a
 * replay that forgets at other moments ends with the same active book.
 */
size_t resbook_forget(resbook *rb, int64_t now, int64_t keep_s, size_t max);
/*
 * The last change of the finished reservation that changed first: 1 and
 * *at, or 0 when none is finished.  It is forgotten by a resbook_forget()
 * at *at + keep_s or later (the daemon's timer).  O(log n).
 */
int resbook_oldest_finished(const resbook *rb, int64_t *at);

/* ---- snapshot and replay ---- */

/*
 * Visits every record, by state (in enum order), then (from, id).  The
 * book must not change meanwhile.
 */
void resbook_each(const resbook *rb, void (*fn)(void *ud, const struct resv *r),
    void *ud);

/*
 * Adds a record exactly as img says (state, times, held spots, ticket),
 * deciding nothing: neither the window rules nor the caps are checked,
 * since they were when it was booked.  A booked record gets both timers,
 * a held or owed one its no-show timer (owed ones join the owed queue),
 * finished ones none.  invalid_params when img is not a consistent record
 * (bad id or duplicate, plate, state, type, units, max_spots < n_held,
 * from, to, created_at or changed_at outside RFC3339_MIN..RFC3339_MAX,
 * from >= to, hold_at not in [from - RESBOOK_SPAN_MAX_S, from],
 * no_show_at not in [from, from + RESBOOK_SPAN_MAX_S]);
 * internal when out of memory.  Nothing changed on failure.
 */
pk_err resbook_restore(resbook *rb, const struct resv *img, struct resv **out);

#endif
