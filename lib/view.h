/*
 * view.h - JSON views of the state that replies and notifications share:
 * written once here, so `status` and the occupancy notification can never
 * disagree on a name or a count.
 */
#ifndef PARKD_VIEW_H
#define PARKD_VIEW_H

#include "garage.h"
#include "jsonw.h"

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

#endif
