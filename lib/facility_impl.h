/*
 * facility_impl.h - the inside of a facility, shared by the model
 * (facility.c: names, accessors) and its loader (facility_load.c, which
 * fills it in from JSON).  Nothing else includes this.
 */
#ifndef PARKD_FACILITY_IMPL_H
#define PARKD_FACILITY_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "facility.h"

/*
 * A set of interned names, indexed in order of insertion.  Open addressing
 * keeps lookups O(1) even for a facility with a million one-spot zones.
 */
struct strtab {
	char **names;
	uint32_t n, cap;
	uint32_t *slots;	/* index + 1, 0 = empty */
	uint32_t nslots;	/* power of two, kept at least twice n */
	/*
	 * The names themselves live in chunks, not one malloc each: a
	 * facility of a million one-spot zones would otherwise spend more on
	 * allocator headers than on the names.
	 */
	struct st_chunk *chunks;	/* newest first */
	size_t used, size;		/* of the newest chunk */
};

struct st_chunk {
	struct st_chunk *next;
	char data[];
};


struct fac_gate {
	char *id;
	enum fac_gate_role role;
	int level;
	int64_t x, y;
};

struct fac_row {
	int64_t x, y, dx, dy;	/* thousandths */
	uint64_t tags;
	uint32_t start;		/* first spot number of the row */
	uint32_t count;
	uint32_t first;		/* number in the id of spot 0 */
	uint32_t zone;
	int32_t type;
	int16_t level;		/* |level| <= FAC_MAX_LEVEL: 64 bytes a row */
	int16_t level_idx;
};

struct fac_class {
	int *fits;
	int nfits;
	int ctype;		/* contiguous type, -1 when none */
	int ccount;
};

struct facility {
	char *name, *timezone;
	char currency[4];
	int64_t level_distance;	/* thousandths */
	/* facility.location in 1e-7 degrees (WGS 84); has_location 0: none. */
	int has_location;
	int64_t lat_e7, lon_e7;

	struct fac_gate *gates;
	int ngates;
	struct strtab gate_ids;

	struct fac_row *rows;
	uint32_t nrows, nspots;

	struct strtab types, zones, tags, class_names;
	/* Row numbers sorted by (zone, first); zone z owns zone_off[z]..zone_off[z+1]. */
	uint32_t *zone_rows, *zone_off;

	int *levels;
	int nlevels;

	struct fac_class *classes;
	int nclasses;
	int classes_cap;	/* entries allocated; a failed load may leave fits in one past nclasses */

	/*
	 * block_row[b] is the row of spot b << ROW_BLOCK_SHIFT, so that finding
	 * a spot's row searches a few rows, not all of them (4 bytes per 256
	 * spots; the rows array itself is too big to binary-search cheaply).
	 */
	uint32_t *block_row;
};

#define ROW_BLOCK_SHIFT 8

/* The index of s in t, or -1. */
int fac_names_find(const struct strtab *t, const char *s);
/* The index of s, adding it when new; -1 on allocation failure. */
int fac_names_add(struct strtab *t, const char *s);
/* Frees what t holds and empties it. */
void fac_names_free(struct strtab *t);

#endif
