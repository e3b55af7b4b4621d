/*
 * facility.h - the static model of a parking facility: gates, rows of
 * spots, spot types, tags, levels and vehicle classes, as loaded from the
 * "facility" and "vehicles" sections of the configuration (config.md);
 * facility_load.h builds it from JSON.
 *
 * The model is immutable once built and does no I/O.  Spots are numbered
 * 0 .. facility_spot_count()-1 in spot order (the order of rows, then the
 * index inside the row); no per-spot memory is kept: a spot's id, position
 * and attributes are computed from its row.  Coordinates are held as
 * integer thousandths (llround(v * 1000)) so that distances are exact
 * int64 values and ties are exact.
 *
 * Ownership: every const char * returned points into the facility and
 * stays valid until facility_free().  Nothing returned must be freed by
 * the caller.  Functions taking a spot, gate, class, type or level index
 * require it to be in range (checked by the caller).
 */
#ifndef PARKD_FACILITY_H
#define PARKD_FACILITY_H

#include <stddef.h>
#include <stdint.h>

typedef struct facility facility;

enum fac_gate_role {
	FAC_GATE_ENTRY = 1,
	FAC_GATE_EXIT = 2,
	FAC_GATE_BOTH = 3
};

/* Sanity caps enforced by the loader (facility_load.h). */
#define FAC_MAX_SPOTS     16777216u	/* spots in one facility */
#define FAC_MAX_TAGS      64		/* distinct tags: one bit each */
#define FAC_MAX_NAME      32		/* id, zone, type, tag, class names */
#define FAC_MAX_GATES     256
#define FAC_MAX_CLASSES   256
#define FAC_MAX_CONTIGUOUS 64		/* == ALLOC_MAX_SPOTS */

/* Frees f; NULL is accepted. */
void facility_free(facility *f);

const char *facility_name(const facility *f);
const char *facility_timezone(const facility *f);
const char *facility_currency(const facility *f);	/* "EUR" */
int64_t facility_level_distance_milli(const facility *f);
/*
 * Where the facility is (facility.location, WGS 84), in units of 1e-7
 * degrees: 0 with *lat and *lon set, or -1 when it has no location (it
 * then takes no part in the city view, city.md).
 */
int facility_location_e7(const facility *f, int64_t *lat, int64_t *lon);

/* Spots. */
uint32_t facility_spot_count(const facility *f);
/* 0 and *spot set when id names a spot ("B-07", exactly as generated). */
int facility_spot_lookup(const facility *f, const char *id, uint32_t *spot);
/* Writes the id of spot ("A-07") to buf, always NUL-terminated. */
void facility_spot_name(const facility *f, uint32_t spot, char buf[48]);
int facility_spot_level(const facility *f, uint32_t spot);
int facility_spot_level_index(const facility *f, uint32_t spot);
const char *facility_spot_zone(const facility *f, uint32_t spot);
const char *facility_spot_type(const facility *f, uint32_t spot);
int facility_spot_type_index(const facility *f, uint32_t spot);
uint64_t facility_spot_tags(const facility *f, uint32_t spot);	/* bit mask */
/* x and y of a spot in thousandths. */
void facility_spot_xy_milli(const facility *f, uint32_t spot, int64_t *x,
    int64_t *y);

/* Gates: indices 0 .. facility_gate_count()-1 in configuration order. */
int facility_gate_count(const facility *f);
int facility_gate_lookup(const facility *f, const char *id);	/* index or -1 */
const char *facility_gate_id(const facility *f, int gate);
enum fac_gate_role facility_gate_role(const facility *f, int gate);
int facility_gate_level(const facility *f, int gate);
/* x and y of a gate in thousandths. */
void facility_gate_xy_milli(const facility *f, int gate, int64_t *x,
    int64_t *y);
/* "entry", "exit" or "both", as in the configuration. */
const char *facility_gate_role_name(enum fac_gate_role role);
/* Distance from gate to spot in thousandths, exact. */
int64_t facility_distance_milli(const facility *f, int gate, uint32_t spot);

/* Vehicle classes: indices in the order of the "vehicles" object. */
int facility_class_count(const facility *f);
int facility_class_lookup(const facility *f, const char *name);	/* or -1 */
const char *facility_class_name(const facility *f, int cls);
/* The type indices the class fits, in preference order; *n gets the count. */
const int *facility_class_fits(const facility *f, int cls, int *n);
/* 0 and *type, *count set when the class has "contiguous", else -1. */
int facility_class_contiguous(const facility *f, int cls, int *type,
    int *count);

/* Tags: bit i of a mask is the i-th distinct tag in order of appearance. */
int facility_tag_count(const facility *f);
const char *facility_tag_name(const facility *f, int tag);
/* The index of the tag called name (its bit in a mask), or -1. */
int facility_tag_lookup(const facility *f, const char *name);

/* Spot types: indices in order of first appearance in rows. */
int facility_type_count(const facility *f);
const char *facility_type_name(const facility *f, int type);
int facility_type_lookup(const facility *f, const char *name);	/* or -1 */

/* Distinct levels, ascending. */
int facility_level_count(const facility *f);
int facility_level_value(const facility *f, int idx);

/*
 * Rows, for the allocation engine.  Rows are numbered in configuration
 * order; the spots of row r are facility_row_start(r) ..
 * facility_row_start(r) + facility_row_len(r) - 1.
 */
uint32_t facility_row_count(const facility *f);
uint32_t facility_row_of_spot(const facility *f, uint32_t spot);	/* O(log rows) */
uint32_t facility_row_start(const facility *f, uint32_t row);
uint32_t facility_row_len(const facility *f, uint32_t row);
int facility_row_type_index(const facility *f, uint32_t row);
int facility_row_level_index(const facility *f, uint32_t row);
uint64_t facility_row_tags(const facility *f, uint32_t row);

/*
 * A row as configured, for drawing it: spot i of the row is at (x + i*dx,
 * y + i*dy) in thousandths and its id is zone "-" (first + i), the number
 * written with at least two digits.  zone points into the facility.
 */
struct fac_row_geom {
	const char *zone;
	uint32_t first;
	int64_t x, y, dx, dy;
};
void facility_row_geom(const facility *f, uint32_t row,
    struct fac_row_geom *out);

/*
 * The distance from a gate to spot i of a row is
 *     |x0 + i*dx| + |y0 + i*dy| + lterm
 * with these values (thousandths, relative to the gate).  A convex
 * function of i, which is what lets allocation avoid scanning a row.
 */
struct fac_line {
	int64_t x0, y0, dx, dy, lterm;
};
void facility_row_line(const facility *f, uint32_t row, int gate,
    struct fac_line *out);

#endif
