/*
 * alloc.h - the allocation engine: which spots are free, occupied, out of
 * service or held, and which spot (or contiguous run of spots) an entering
 * vehicle gets under the current strategy (config.md "Allocation").
 *
 * Pure: no I/O, no clock.  alloc_choose() only proposes; the caller marks
 * the result with alloc_take(), so a caller can still refuse the entry
 * (plate already inside, journal write failed) without undoing anything.
 *
 * Ownership: the alloc keeps a pointer to the facility it was built for,
 * which must outlive it.  Spot numbers are the facility's (spot order).
 */
#ifndef PARKD_ALLOC_H
#define PARKD_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "facility.h"
#include "perr.h"

typedef struct alloc alloc;

enum alloc_strategy {
	ALLOC_NEAREST,		/* least distance from the entry gate */
	ALLOC_FARTHEST,		/* greatest distance from the entry gate */
	ALLOC_FIRST,		/* lowest spot order */
	ALLOC_FILL		/* lowest level, then least distance */
};

/* Most spots one vehicle can take (cap on a class's contiguous count). */
#define ALLOC_MAX_SPOTS 64

/* The strategies' configuration names, by enum value; NULL-terminated. */
extern const char *const alloc_strategy_names[5];

/* 0 and *out set for "nearest", "farthest", "first", "fill"; -1 otherwise. */
int alloc_strategy_parse(const char *name, enum alloc_strategy *out);
/* The configuration name of s; never NULL ("?" when out of range). */
const char *alloc_strategy_name(enum alloc_strategy s);

/*
 * A new engine over f with every spot free and in service and strategy
 * nearest.  NULL on allocation failure.  f must outlive the result.
 */
alloc *alloc_new(const facility *f);
/* Frees a; NULL is accepted. */
void alloc_free(alloc *a);

/*
 * Switching rebuilds the per-row keys, O(rows x entry gates x log n);
 * entries and exits stay logarithmic.  Out-of-range values are ignored.
 */
void alloc_set_strategy(alloc *a, enum alloc_strategy s);
enum alloc_strategy alloc_get_strategy(const alloc *a);

/*
 * Proposes the spots for an entry of class cls at gate (which must have
 * role entry or both) with needs, a tag mask from facility_tags_mask().
 * On PK_OK out[0..*n-1] holds the spots in ascending order: one spot, or
 * the `count` spots of a contiguous run.  Nothing is marked.
 * PK_E_LOT_FULL when nothing fits; PK_E_INVALID_PARAMS for a bad gate,
 * class or pointer.  *n is 0 on failure.
 */
pk_err alloc_choose(const alloc *a, int gate, int cls, uint64_t needs,
    uint32_t out[ALLOC_MAX_SPOTS], size_t *n);

/*
 * Marks spots occupied.  The caller guarantees each was free (from
 * alloc_choose) or held (a reservation's vehicle arriving on its spot);
 * spots in any other state, or out of range, are left unchanged.
 */
void alloc_take(alloc *a, const uint32_t *spots, size_t n);
/*
 * Releases occupied spots: back to free, or to out of service when that
 * was requested while occupied.  Spots not occupied are left unchanged.
 */
void alloc_release(alloc *a, const uint32_t *spots, size_t n);

/*
 * Puts a spot out of service (in_service 0) or back (1).  On a free or out
 * of service spot it takes effect at once; on an occupied or held spot it
 * is pending and takes effect at release or unhold (bringing it back in
 * service cancels a pending request).  Idempotent.  PK_E_INVALID_PARAMS
 * when spot is out of range.
 */
pk_err alloc_set_in_service(alloc *a, uint32_t spot, int in_service);

enum alloc_spot_state {
	ALLOC_SPOT_FREE,
	ALLOC_SPOT_OCCUPIED,
	ALLOC_SPOT_OUT_OF_SERVICE,
	ALLOC_SPOT_HELD
};

/* State of an in-range spot (out of range reads as out of service). */
enum alloc_spot_state alloc_spot_state(const alloc *a, uint32_t spot);
/* 1 when an out-of-service request waits for the spot's release/unhold. */
int alloc_spot_pending_out_of_service(const alloc *a, uint32_t spot);

/*
 * Holds a free spot for a reservation: it stops being free but does not
 * count as occupied.  PK_E_INVALID_PARAMS when out of range,
 * PK_E_RESERVATION_CONFLICT when the spot is not free.
 */
pk_err alloc_hold(alloc *a, uint32_t spot);
/*
 * Ends a hold: the spot is free again (or out of service if that was
 * requested meanwhile).  PK_E_INVALID_PARAMS when out of range,
 * PK_E_NOT_FOUND when the spot is not held.
 */
pk_err alloc_unhold(alloc *a, uint32_t spot);

/*
 * Counts, maintained incrementally (O(1) to read).  An occupied spot with
 * a pending out-of-service request counts as occupied, a held one as held.
 */
struct alloc_counts {
	uint64_t total, free, occupied, out_of_service, held;
};
void alloc_counts(const alloc *a, struct alloc_counts *c);
/* type: a facility type index; level_idx: a facility level index. */
void alloc_counts_by_type(const alloc *a, int type, struct alloc_counts *c);
void alloc_counts_by_level(const alloc *a, int level_idx,
    struct alloc_counts *c);

/*
 * How many vehicles needing k adjacent free spots of type (a facility type
 * index) fit at once, whatever their tags: the sum over the rows of that
 * type of floor(L / k) for each maximal run of L free spots.  Read from
 * the rows' bitmaps, not kept: O(rows + spots of that type / 64), a whole
 * word of free (or taken) spots at a time.  0 for k == 0 or a bad type.
 */
uint64_t alloc_free_runs(const alloc *a, int type, uint32_t k);

#endif
