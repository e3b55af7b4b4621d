/*
 * garage_impl.h - between garage.c and capacity.c, and no one else: the
 * ticket lifecycle hands freed spots and arrivals to the waitlist and the
 * reservations, which issue tickets and hold spots through it.
 */
#ifndef PARKD_GARAGE_IMPL_H
#define PARKD_GARAGE_IMPL_H

#include "garage.h"

struct capacity;

/* ---- garage.c, for capacity.c ---- */

struct capacity *garage_cap(const garage *g);
alloc *garage_alloc_rw(garage *g);
/*
 * Issues the ticket of in (gate, plate, class, needs, id, time, and
 * in->reservation when not NULL) on spots[0..n), which the caller chose
 * and which are free or held: takes them, fixes peak and surge.  Appends
 * nothing.  PK_E_INTERNAL when out of memory (nothing changed).
 */
pk_err garage_issue(garage *g, const struct garage_entry_in *in,
    const uint32_t *spots, size_t n, struct ticket **tp);

/* ---- capacity.c, for garage.c ---- */

/* With the defaults for facility f; NULL when out of memory. */
struct capacity *capacity_new(const facility *f);
void capacity_free(struct capacity *c);
/*
 * An entry's reservation: 1 when in is an arrival on a reservation
 * (*err says how it went, the ticket is *tp and its changes are appended;
 * the caller reserved room for 3) or names one that cannot be used
 * (*err not_found or invalid_params); 0 for a walk-in.
 */
int capacity_arrival(garage *g, const struct garage_entry_in *in,
    struct ticket **tp, struct changes *out, pk_err *err);
/* t entered: a waiting entry of its plate is cancelled (room for 1 reserved). */
void capacity_entered(garage *g, const struct ticket *t, int64_t at,
    struct changes *out);
/* Spots became allocatable at time at: the claims are served. */
size_t capacity_serve(garage *g, int64_t at, struct changes *out);

#endif
