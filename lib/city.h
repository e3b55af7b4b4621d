/*
 * city.h - the city view's pure part (city.md): a facility's slug, what it
 * publishes about itself (free, total, free_by_class, state), and reading
 * what other facilities published (the fields of their hashes) back into
 * `nearby` answers and `lot_full` alternatives.
 *
 * No I/O and no clock: the daemon (daemon/city.h) talks to Redis, passes
 * the time in, and keeps a struct city_view as its cached copy.
 */
#ifndef PARKD_CITY_H
#define PARKD_CITY_H

#include <stddef.h>
#include <stdint.h>

#include "facility.h"
#include "garage.h"
#include "jsonw.h"

/* A slug is at most as long as a name (facility.name: 256 bytes). */
#define CITY_SLUG_MAX 256
#define CITY_NAME_MAX 256

/*
 * The slug of name: lower-cased, each run of characters other than a-z
 * and 0-9 turned into one "-" ("Demo Garage #2" -> "demo-garage-2").
 * Writes at most outlen - 1 bytes and a NUL; returns the slug's length.
 */
size_t city_slug(const char *name, char *out, size_t outlen);

#define CITY_STATES(X)                                                 \
	X(OPEN, "open")       /* some class has room */                  \
	X(FULL, "full")       /* no vehicle of any class fits */          \
	X(CLOSED, "closed")   /* not taking entries (journal, shutdown) */

enum city_state {
#define CITY_STATE_ENUM(name, str) CITY_##name,
	CITY_STATES(CITY_STATE_ENUM)
#undef CITY_STATE_ENUM
};

const char *city_state_name(enum city_state st);

/* What a facility has room for now. */
struct city_avail {
	uint64_t free, total;		/* spots, as `status` counts them */
	enum city_state state;
	int nclasses;
	uint64_t by_class[FAC_MAX_CLASSES];
};

/*
 * Measures g: by_class[c] is how many vehicles of class c could enter now,
 * each one on its own: the free spots of the types c fits, plus, when c
 * has `contiguous {type, count}` of a type it does not fit, the disjoint
 * runs of count free spots of that type (alloc_free_runs).  Tags are not
 * asked for.  The state is closed when closed is set, else full when no
 * class has room, else open.  Cost O(classes x fits) plus, per contiguous
 * class, O(rows + spots / 64): meant for once per publish, not per entry.
 */
void city_measure(const garage *g, int closed, struct city_avail *out);

/* {"car": 12, "bus": 0, ...}: one member per class of f, in class order. */
void city_by_class_json(struct jw *w, const facility *f,
    const struct city_avail *a);

/*
 * The pub/sub message: the hash's content (city.md) as one JSON object,
 * with the slug: {slug, name, lat, lon, free, total, free_by_class (an
 * object), state, updated_at, listen}.
 */
struct city_pub {
	const char *slug, *name, *listen;
	int64_t lat_e7, lon_e7;
	int64_t updated_at;
	const facility *f;
	const struct city_avail *avail;
};
void city_message_json(struct jw *w, const struct city_pub *p);

/*
 * The hash fields read back for `nearby` and the alternatives, in the
 * order city_entry_read takes their values (HMGET's order).
 */
enum city_field { CITY_F_NAME, CITY_F_FREE, CITY_F_BY_CLASS, CITY_F_STATE,
	CITY_F_UPDATED_AT, CITY_F__COUNT };
extern const char *const city_read_fields[CITY_F__COUNT];

/* One other facility as read from the city view. */
struct city_entry {
	char slug[CITY_SLUG_MAX + 1];
	char name[CITY_NAME_MAX + 1];
	int64_t distance_mm;		/* from the point asked about */
	uint64_t free;
	enum city_state state;
	int64_t updated_at;
	int room_any;			/* some class has room */
};

/*
 * Reads one facility: its slug and distance as GEOSEARCH WITHDIST gave
 * them (metres, decimal text), and the values of city_read_fields (vals[i]
 * NULL when the field or the hash is missing).  counts[i] gets how many
 * vehicles of class names[i] fit there (0 for a class it does not know),
 * for i < n.  Returns 1 when the entry is usable, 0 when it is to be left
 * out: a hash gone (TTL), a value that is not what parkd publishes, or
 * stale (updated_at more than stale_s before now).
 */
int city_entry_read(struct city_entry *e, const char *slug, size_t slen,
    const char *dist, size_t dlen, const char *const vals[CITY_F__COUNT],
    const size_t lens[CITY_F__COUNT], const char *const *names, int n,
    uint64_t *counts, int64_t now, int64_t stale_s);

/*
 * One facility of a `nearby` answer or of lot_full's alternatives:
 * {name, slug, distance_m, free, free_for_class, state, updated_at}.
 */
void city_entry_json(struct jw *w, const struct city_entry *e,
    uint64_t free_for_class);

/*
 * A cached copy of the facilities around this one, nearest first, with
 * how many vehicles of each of this facility's classes fit at each; the
 * daemon refreshes it in the background, and lot_full reads it without
 * a round trip to Redis.
 */
struct city_view;

/* A view for the classes of f (copied); NULL when out of memory. */
struct city_view *city_view_new(const facility *f);
void city_view_free(struct city_view *v);
/* Empties it (before a refresh is filled in). */
void city_view_clear(struct city_view *v);
/*
 * Appends e (nearest first) with counts[] for every class of f in order;
 * 0 or -1 when out of memory (the view keeps what it had).
 */
int city_view_add(struct city_view *v, const struct city_entry *e,
    const uint64_t *counts);
size_t city_view_count(const struct city_view *v);
/* The class names of f in order, for city_entry_read's names. */
const char *const *city_view_class_names(const struct city_view *v);

/*
 * Writes the member "alternatives": at most max facilities with room for
 * class cls (an index of f), nearest first, leaving out the one whose
 * slug is self (its own entry may be older than what it knows of itself);
 * an empty array when none has room.  Returns how many were written.
 */
size_t city_view_alternatives(const struct city_view *v, int cls,
    const char *self, size_t max, struct jw *w);

#endif
