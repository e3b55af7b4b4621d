/*
 * view.h - JSON views of the state that replies and notifications share:
 * written once here, so `status` and the occupancy notification can never
 * disagree on a name or a count.
 */
#ifndef PARKD_VIEW_H
#define PARKD_VIEW_H

#include "garage.h"
#include "jsonw.h"

/*
 * The members ticket and plate of t: how every record and reply names a
 * ticket, from the lengths and plainness worked out when it was made.
 */
void view_ticket_names(struct jw *w, const struct ticket *t);
/* The members by_type {T:{total,free}} and by_level {L:{total,free}}. */
void view_breakdown(struct jw *w, const garage *g);
/* The members free, total, by_type and by_level (the occupancy topic). */
void view_occupancy(struct jw *w, const garage *g);
/*
 * key: {total, free}; with full, also occupied, out_of_service and held
 * (as in status's capacity).
 */
void view_counts(struct jw *w, const char *key, const struct alloc_counts *k,
    int full);

/*
 * The members gate and classes {CLASS:"open"|"full"} of a gate's sign:
 * "full" when no vehicle of the class could enter at that gate now.
 */
void view_sign(struct jw *w, const garage *g, int gate);

/*
 * The layout: what a map needs to draw every spot (the method `layout`).
 *
 * One page is one object:
 *
 *   facility, timezone, spots (how many the facility has), levels [L...],
 *   gates [{id, role, level, x, y}],
 *   from, count, next (the from of the next page, or null after the last),
 *   rows [{start, count, level, zone, first, type, tags, x, y, dx, dy}]:
 *     the rows holding a spot of the page, whole (spot i of a row is spot
 *     number start + i, at (x + i dx, y + i dy) metres, its id zone "-"
 *     first + i with at least two digits);
 *   state: one character per spot from..from+count-1:
 *     F free, O occupied, X out of service, H held for a reservation,
 *     o occupied and h held with out of service requested for the moment
 *     the spot is released;
 *   occupants [{ticket, plate, entered_at, spots [N...]}]: the vehicles
 *     inside with a spot on the page (spots are spot numbers); only when
 *     with_occupants is set (the caller's role may read plates).
 *
 * Bounded: a page ends early so that the object takes at most budget
 * bytes (its rows at most VIEW_LAYOUT_ROWS_BYTES, each spot at most
 * VIEW_LAYOUT_SPOT_BYTES with its occupant), and never holds more than
 * limit spots.  Cost: O(rows and spots on the page) (the occupants are
 * found with garage_on_spot).  At a million spots a whole layout is 40
 * pages of at most 4 MiB (VIEW_LAYOUT_MAX_BYTES); tests/bench/bench_layout
 * measures them.
 *
 * PK_E_INVALID_PARAMS when from is not a spot number or limit is 0;
 * PK_E_INVALID_REQUEST when budget cannot hold even one spot (a batch
 * whose earlier replies took it); PK_E_INTERNAL on a writer failure.
 * On an error what was written is to be discarded.
 */
/* The state character of an in-range spot, as in the layout's state. */
char view_spot_code(const alloc *a, uint32_t spot);

#define VIEW_LAYOUT_MAX_BYTES	(4u << 20)	/* the budget `layout` gives */
#define VIEW_LAYOUT_ROWS_BYTES	(512u << 10)
#define VIEW_LAYOUT_SPOT_BYTES	144
pk_err view_layout(struct jw *w, const garage *g, uint32_t from,
    uint32_t limit, size_t budget, int with_occupants);

#endif
