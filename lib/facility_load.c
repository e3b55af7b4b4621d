/* facility_load.c - builds and checks the facility from JSON (see facility_load.h). */
#include "facility_load.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facility_impl.h"
#include "jread.h"

/* Coordinates are bounded so that x + i*dx over a whole row fits int64. */
#define FAC_MAX_COORD     1000000000LL
#define FAC_MAX_STEP      1000000LL
#define FAC_MAX_LEVEL     1000
#define FAC_MAX_FIRST     1000000000LL

/* ---- loading ---- */

static int
fac_nomem(struct jerr *e)
{
	return jerr_nomem(e, "facility");
}

static int
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > FAC_MAX_NAME)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* A name-like string: 1..32 printable ASCII characters. */
static int
read_name(const cJSON *obj, const char *path, const char *key,
    const char **out, struct jerr *e)
{
	char p[JPATH_MAX];

	if (jr_str(obj, path, key, JR_REQUIRED, SIZE_MAX, out, e) < 0)
		return -1;
	if (valid_name(*out))
		return 0;
	jpath_key(p, path, key);
	return jerr_set(e, p, "must be 1..%d printable characters", FAC_MAX_NAME);
}

/* A coordinate (a number, |v| <= maxabs) in thousandths, rounded. */
static int
read_milli(const cJSON *obj, const char *path, const char *key,
    unsigned flags, int64_t maxabs, int64_t *out, struct jerr *e)
{
	return jr_fixed(obj, path, key, flags | JR_ROUND, 3, -maxabs * 1000,
	    maxabs * 1000, out, e) < 0 ? -1 : 0;
}

/* An optional free-form string, copied; def when absent. */
static int
read_text(const cJSON *obj, const char *key, const char *def, char **out,
    struct jerr *e)
{
	const char *s = def;

	if (jr_str(obj, "facility", key, 0, 256, &s, e) < 0)
		return -1;
	if ((*out = strdup(s)) == NULL)
		return fac_nomem(e);
	return 0;
}

/* ---- facility sections ---- */

static const char *const facility_keys[] = {
	"name", "timezone", "currency", "level_distance", "gates", "rows",
	"location", NULL
};
static const char *const location_keys[] = { "lat", "lon", NULL };
static const char *const gate_keys[] = {
	"id", "role", "level", "x", "y", NULL
};
static const char *const row_keys[] = {
	"level", "zone", "type", "count", "x", "y", "dx", "dy", "tags", "first",
	NULL
};
static const char *const class_keys[] = { "fits", "contiguous", NULL };
static const char *const contiguous_keys[] = { "type", "count", NULL };

static int
load_header(facility *f, const cJSON *fac, struct jerr *e)
{
	const char *cur = "EUR";

	if (read_text(fac, "name", "", &f->name, e) != 0 ||
	    read_text(fac, "timezone", "UTC", &f->timezone, e) != 0 ||
	    jr_str(fac, "facility", "currency", 0, 64, &cur, e) < 0)
		return -1;
	if (strlen(cur) != 3 || cur[0] < 'A' || cur[0] > 'Z' ||
	    cur[1] < 'A' || cur[1] > 'Z' || cur[2] < 'A' || cur[2] > 'Z')
		return jerr_set(e, "facility.currency",
		    "must be 3 upper-case letters");
	memcpy(f->currency, cur, 4);
	return jr_fixed(fac, "facility", "level_distance", JR_ROUND, 3, 0,
	    (int64_t)(FAC_MAX_COORD * 1000), &f->level_distance, e) < 0 ? -1 : 0;
}

/*
 * facility.location {lat, lon} in degrees, kept to 7 decimals (about a
 * centimetre).  The latitude is bounded as Redis's geo sets bound it
 * (Web Mercator): a location Redis would refuse is refused here.
 */
#define FAC_MAX_LAT_E7 850511287LL
#define FAC_MAX_LON_E7 1800000000LL

static int
load_location(facility *f, const cJSON *fac, struct jerr *e)
{
	const cJSON *loc = NULL;
	int rc;

	/* Absent or null: no part in the city view. */
	if ((rc = jr_object(fac, "facility", "location", JR_NULL,
	    location_keys, &loc, e)) <= 0)
		return rc;
	if (jr_fixed(loc, "facility.location", "lat", JR_REQUIRED | JR_ROUND, 7,
	    -FAC_MAX_LAT_E7, FAC_MAX_LAT_E7, &f->lat_e7, e) < 0 ||
	    jr_fixed(loc, "facility.location", "lon", JR_REQUIRED | JR_ROUND, 7,
	    -FAC_MAX_LON_E7, FAC_MAX_LON_E7, &f->lon_e7, e) < 0)
		return -1;
	f->has_location = 1;
	return 0;
}

/* The tags of a row, as a mask over the facility's distinct tags. */
static int
load_tags(facility *f, const cJSON *row, const char *path, uint64_t *mask,
    struct jerr *e)
{
	const cJSON *tags = NULL, *t;
	char p[JPATH_MAX], q[JPATH_MAX];
	size_t n = 0, i = 0;
	int k;

	*mask = 0;
	if (jr_array(row, path, "tags", 0, FAC_MAX_SPOTS, &tags, &n, e) < 0)
		return -1;
	if (tags == NULL)
		return 0;
	jpath_key(p, path, "tags");
	cJSON_ArrayForEach(t, tags) {
		const char *name;

		jpath_index(q, p, i++);
		if (read_name(t, q, NULL, &name, e) != 0)
			return -1;
		k = fac_names_find(&f->tags, name);
		if (k < 0) {
			if (f->tags.n >= FAC_MAX_TAGS)
				return jerr_set(e, q, "more than %d distinct tags",
				    FAC_MAX_TAGS);
			if ((k = fac_names_add(&f->tags, name)) < 0)
				return fac_nomem(e);
		}
		*mask |= (uint64_t)1 << k;
	}
	return 0;
}

static int
load_row(facility *f, const cJSON *row, uint32_t idx, uint64_t *total,
    struct jerr *e)
{
	struct fac_row *r = &f->rows[idx];
	char path[JPATH_MAX];
	const char *zone, *type;
	int64_t level = 0, count = 0, first = 1;
	int k;

	jpath_index(path, "facility.rows", idx);
	if (jr_object(row, path, NULL, 0, row_keys, &row, e) < 0 ||
	    jr_int(row, path, "level", JR_REQUIRED, -FAC_MAX_LEVEL,
	    FAC_MAX_LEVEL, &level, e) < 0 ||
	    read_name(row, path, "zone", &zone, e) != 0 ||
	    read_name(row, path, "type", &type, e) != 0 ||
	    jr_int(row, path, "count", JR_REQUIRED, 1, FAC_MAX_SPOTS, &count,
	    e) < 0)
		return -1;
	if (*total + (uint64_t)count > FAC_MAX_SPOTS) {
		char p[JPATH_MAX];

		jpath_key(p, path, "count");
		return jerr_set(e, p, "total spots exceed %u", FAC_MAX_SPOTS);
	}
	if (read_milli(row, path, "x", JR_REQUIRED, FAC_MAX_COORD, &r->x, e) ||
	    read_milli(row, path, "y", JR_REQUIRED, FAC_MAX_COORD, &r->y, e) ||
	    read_milli(row, path, "dx", JR_REQUIRED, FAC_MAX_STEP, &r->dx, e) ||
	    read_milli(row, path, "dy", JR_REQUIRED, FAC_MAX_STEP, &r->dy, e) ||
	    jr_int(row, path, "first", 0, 0, FAC_MAX_FIRST, &first, e) < 0 ||
	    load_tags(f, row, path, &r->tags, e) != 0)
		return -1;
	if ((k = fac_names_add(&f->zones, zone)) < 0)
		return fac_nomem(e);
	r->zone = (uint32_t)k;
	if ((k = fac_names_add(&f->types, type)) < 0)
		return fac_nomem(e);
	r->type = k;
	r->level = (int16_t)level;
	r->count = (uint32_t)count;
	r->first = (uint32_t)first;
	r->start = (uint32_t)*total;
	*total += (uint64_t)count;
	return 0;
}

struct zkey {
	uint32_t zone, first, last, row;
};

static int
zkey_cmp(const void *a, const void *b)
{
	const struct zkey *x = a, *y = b;

	if (x->zone != y->zone)
		return x->zone < y->zone ? -1 : 1;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->row < y->row ? -1 : (x->row > y->row);
}

/* Whether rows numbered below limit produce one id twice; keys sorted. */
static int
has_duplicate(const struct zkey *keys, uint32_t n, uint32_t limit)
{
	uint32_t zone = UINT32_MAX;
	int64_t maxlast = -1;

	for (uint32_t i = 0; i < n; i++) {
		if (keys[i].row >= limit)
			continue;
		if (keys[i].zone != zone) {
			zone = keys[i].zone;
			maxlast = -1;
		}
		if ((int64_t)keys[i].first <= maxlast)
			return 1;
		if ((int64_t)keys[i].last > maxlast)
			maxlast = keys[i].last;
	}
	return 0;
}

/*
 * Builds the zone index used by facility_spot_lookup() and refuses
 * duplicate spot ids.  An id is zone + "-" + digits, so two ids are equal
 * exactly when zone and number are: rows of one zone must not overlap.
 * The error names the first row (in configuration order) that repeats an
 * id, found by bisecting on a row prefix so that the common case stays
 * one sort and one sweep.
 */
static int
index_zones(facility *f, struct jerr *e)
{
	struct zkey *keys = malloc((size_t)f->nrows * sizeof(*keys));
	uint32_t i;

	if (keys == NULL)
		return fac_nomem(e);
	for (i = 0; i < f->nrows; i++) {
		keys[i].zone = f->rows[i].zone;
		keys[i].first = f->rows[i].first;
		keys[i].last = f->rows[i].first + f->rows[i].count - 1;
		keys[i].row = i;
	}
	qsort(keys, f->nrows, sizeof(*keys), zkey_cmp);
	if (has_duplicate(keys, f->nrows, f->nrows)) {
		uint32_t lo = 1, hi = f->nrows, bad;	/* dup in prefix hi, not lo */
		char path[JPATH_MAX];
		uint32_t num = UINT32_MAX;
		const struct fac_row *r;
		while (hi - lo > 1) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (has_duplicate(keys, f->nrows, mid))
				hi = mid;
			else
				lo = mid;
		}
		bad = hi - 1;
		r = &f->rows[bad];
		for (i = 0; i < bad; i++) {
			const struct fac_row *o = &f->rows[i];
			uint32_t a, b;
			if (o->zone != r->zone)
				continue;
			a = o->first > r->first ? o->first : r->first;
			b = o->first + o->count - 1;
			if (b > r->first + r->count - 1)
				b = r->first + r->count - 1;
			if (a <= b && a < num)
				num = a;
		}
		free(keys);
		jpath_index(path, "facility.rows", bad);
		return jerr_set(e, path, "duplicate spot id %s-%02u",
		    f->zones.names[r->zone], num);
	}
	f->zone_rows = malloc((size_t)f->nrows * sizeof(*f->zone_rows));
	f->zone_off = calloc((size_t)f->zones.n + 1, sizeof(*f->zone_off));
	if (f->zone_rows == NULL || f->zone_off == NULL) {
		free(keys);
		return fac_nomem(e);
	}
	for (i = 0; i < f->nrows; i++) {
		f->zone_rows[i] = keys[i].row;
		f->zone_off[keys[i].zone + 1]++;
	}
	for (i = 0; i < f->zones.n; i++)
		f->zone_off[i + 1] += f->zone_off[i];
	free(keys);
	return 0;
}

static int
int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static int
level_index(const facility *f, int level)
{
	int lo = 0, hi = f->nlevels - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (f->levels[mid] == level)
			return mid;
		if (f->levels[mid] < level)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int
index_levels(facility *f, struct jerr *e)
{
	int *tmp = malloc((size_t)f->nrows * sizeof(*tmp));
	uint32_t i;
	int n = 0;

	if (tmp == NULL)
		return fac_nomem(e);
	for (i = 0; i < f->nrows; i++)
		tmp[i] = f->rows[i].level;
	qsort(tmp, f->nrows, sizeof(*tmp), int_cmp);
	for (i = 0; i < f->nrows; i++)
		if (n == 0 || tmp[n - 1] != tmp[i])
			tmp[n++] = tmp[i];
	f->levels = tmp;	/* over-sized but small: at most 2001 levels used */
	f->nlevels = n;
	for (i = 0; i < f->nrows; i++)
		f->rows[i].level_idx = (int16_t)level_index(f, f->rows[i].level);
	return 0;
}

static int
load_rows(facility *f, const cJSON *fac, struct jerr *e)
{
	const cJSON *rows = NULL, *row;
	uint64_t total = 0;
	uint32_t idx = 0;
	size_t n = 0;

	if (jr_array(fac, "facility", "rows", JR_REQUIRED, FAC_MAX_SPOTS, &rows,
	    &n, e) < 0)
		return -1;
	if (n == 0)
		return jerr_set(e, "facility.rows", "must not be empty");
	if ((f->rows = calloc(n, sizeof(*f->rows))) == NULL)
		return fac_nomem(e);
	cJSON_ArrayForEach(row, rows) {
		if (load_row(f, row, idx, &total, e) != 0)
			return -1;
		f->nrows = ++idx;
	}
	f->nspots = (uint32_t)total;
	if (index_zones(f, e) != 0 || index_levels(f, e) != 0)
		return -1;
	return 0;
}

static int
load_gates(facility *f, const cJSON *fac, struct jerr *e)
{
	static const char *const roles[] = { "entry", "exit", "both", NULL };
	const cJSON *gates = NULL, *g;
	size_t n = 0;
	int idx = 0, entries = 0;

	if (jr_array(fac, "facility", "gates", JR_REQUIRED, FAC_MAX_GATES, &gates,
	    &n, e) < 0)
		return -1;
	if (n > 0 && (f->gates = calloc(n, sizeof(*f->gates))) == NULL)
		return fac_nomem(e);
	cJSON_ArrayForEach(g, gates) {
		struct fac_gate *gt = &f->gates[idx];
		char path[JPATH_MAX], p[JPATH_MAX];
		const char *id;
		int64_t level = 0;
		int role = 0;

		jpath_index(path, "facility.gates", (size_t)idx);
		if (jr_object(g, path, NULL, 0, gate_keys, &g, e) < 0 ||
		    read_name(g, path, "id", &id, e) != 0)
			return -1;
		if (fac_names_find(&f->gate_ids, id) >= 0) {
			jpath_key(p, path, "id");
			return jerr_set(e, p, "duplicate gate id '%s'", id);
		}
		if (jr_enum(g, path, "role", JR_REQUIRED, roles, &role, e) < 0 ||
		    jr_int(g, path, "level", JR_REQUIRED, -FAC_MAX_LEVEL,
		    FAC_MAX_LEVEL, &level, e) < 0)
			return -1;
		if (level_index(f, (int)level) < 0) {
			jpath_key(p, path, "level");
			return jerr_set(e, p, "no row on level %d", (int)level);
		}
		if (read_milli(g, path, "x", JR_REQUIRED, FAC_MAX_COORD, &gt->x, e) ||
		    read_milli(g, path, "y", JR_REQUIRED, FAC_MAX_COORD, &gt->y, e))
			return -1;
		if (fac_names_add(&f->gate_ids, id) != idx)
			return fac_nomem(e);
		gt->id = f->gate_ids.names[idx];
		gt->role = (enum fac_gate_role)(role + 1);
		gt->level = (int)level;
		if (gt->role & FAC_GATE_ENTRY)
			entries++;
		f->ngates = ++idx;
	}
	if (entries == 0)
		return jerr_set(e, "facility.gates",
		    "at least one gate with role entry or both is required");
	return 0;
}

/* Looks a fits/contiguous type up; 1 = skipped (lenient), 0 ok, -1 error. */
static int
class_type(facility *f, const char *name, const char *path, int lenient,
    int *type, struct jerr *e)
{
	*type = fac_names_find(&f->types, name);
	if (*type >= 0)
		return 0;
	if (lenient)
		return 1;
	return jerr_set(e, path, "unknown spot type '%s'", name);
}

static int
load_contiguous(facility *f, struct fac_class *cl, const cJSON *c,
    const char *path, struct jerr *e)
{
	const cJSON *cont = NULL;
	char p[JPATH_MAX], q[JPATH_MAX];
	const char *ctype;
	int64_t count = 0;

	if (jr_object(c, path, "contiguous", 0, contiguous_keys, &cont, e) < 0)
		return -1;
	if (cont == NULL)
		return 0;
	jpath_key(p, path, "contiguous");
	jpath_key(q, p, "type");
	if (read_name(cont, p, "type", &ctype, e) != 0 ||
	    class_type(f, ctype, q, 0, &cl->ctype, e) != 0 ||
	    jr_int(cont, p, "count", JR_REQUIRED, 1, FAC_MAX_CONTIGUOUS, &count,
	    e) < 0)
		return -1;
	cl->ccount = (int)count;
	return 0;
}

static int
load_class(facility *f, const cJSON *c, const char *name, struct jerr *e)
{
	struct fac_class *cl = &f->classes[f->nclasses];
	char path[JPATH_MAX], fpath[JPATH_MAX], ipath[JPATH_MAX];
	const cJSON *fits = NULL, *t;
	size_t i = 0, n = 0;
	int type;

	jpath_key(path, "vehicles", name);
	if (!valid_name(name))
		return jerr_set(e, path, "class name must be 1..%d printable "
		    "characters", FAC_MAX_NAME);
	cl->ctype = -1;
	if (jr_object(c, path, NULL, 0, class_keys, &c, e) < 0 ||
	    jr_array(c, path, "fits", JR_REQUIRED, FAC_MAX_SPOTS, &fits, &n,
	    e) < 0 ||
	    load_contiguous(f, cl, c, path, e) != 0)
		return -1;
	jpath_key(fpath, path, "fits");
	if (n == 0 && cl->ctype < 0)
		return jerr_set(e, fpath, "must not be empty");
	if (n > 0 && (cl->fits = calloc(n, sizeof(int))) == NULL)
		return fac_nomem(e);
	cJSON_ArrayForEach(t, fits) {
		const char *tname;

		jpath_index(ipath, fpath, i++);
		if (jr_str(t, ipath, NULL, 0, SIZE_MAX, &tname, e) < 0 ||
		    class_type(f, tname, ipath, 0, &type, e) != 0)
			return -1;
		for (int j = 0; j < cl->nfits; j++)
			if (cl->fits[j] == type)
				return jerr_set(e, ipath, "duplicate type '%s'",
				    tname);
		cl->fits[cl->nfits++] = type;
	}
	if (fac_names_add(&f->class_names, name) != f->nclasses)
		return fac_nomem(e);
	f->nclasses++;
	return 0;
}

/* The four default classes of config.md, keeping the types rows have. */
static int
load_default_classes(facility *f, struct jerr *e)
{
	static const struct {
		const char *name;
		const char *fits[3];
		const char *ctype;
		int ccount;
	} defs[] = {
		{ "motorcycle", { "compact", "regular", "oversized" }, NULL, 0 },
		{ "car", { "regular", "oversized", NULL }, NULL, 0 },
		{ "van", { "oversized", "regular", NULL }, NULL, 0 },
		{ "bus", { "oversized", NULL, NULL }, "regular", 5 },
	};
	size_t k;

	if ((f->classes = calloc(4, sizeof(*f->classes))) == NULL)
		return fac_nomem(e);
	f->classes_cap = 4;
	for (k = 0; k < sizeof(defs) / sizeof(defs[0]); k++) {
		struct fac_class *cl = &f->classes[k];
		int type;
		if ((cl->fits = calloc(3, sizeof(int))) == NULL)
			return fac_nomem(e);
		for (int i = 0; i < 3 && defs[k].fits[i] != NULL; i++)
			if (class_type(f, defs[k].fits[i], "", 1, &type, e) == 0)
				cl->fits[cl->nfits++] = type;
		cl->ctype = -1;
		if (defs[k].ctype != NULL &&
		    class_type(f, defs[k].ctype, "", 1, &type, e) == 0) {
			cl->ctype = type;
			cl->ccount = defs[k].ccount;
		}
		if (fac_names_add(&f->class_names, defs[k].name) != (int)k)
			return fac_nomem(e);
		f->nclasses++;
	}
	return 0;
}

static int
load_classes(facility *f, const cJSON *vehicles, struct jerr *e)
{
	const cJSON *c;
	int n;

	if (vehicles == NULL || cJSON_IsNull(vehicles))
		return load_default_classes(f, e);
	if (jr_keys(vehicles, "vehicles", NULL, NULL, e) != 0)
		return -1;
	n = cJSON_GetArraySize(vehicles);
	if (n == 0)
		return jerr_set(e, "vehicles", "must define at least one class");
	if (n > FAC_MAX_CLASSES)
		return jerr_set(e, "vehicles", "more than %d classes",
		    FAC_MAX_CLASSES);
	if ((f->classes = calloc((size_t)n, sizeof(*f->classes))) == NULL)
		return fac_nomem(e);
	f->classes_cap = n;
	cJSON_ArrayForEach(c, vehicles)
		if (load_class(f, c, c->string, e) != 0)
			return -1;
	return 0;
}

static int
index_rows(facility *f, struct jerr *e)
{
	uint32_t nblocks = (f->nspots >> ROW_BLOCK_SHIFT) + 2;
	uint32_t r = 0;

	f->block_row = malloc(nblocks * sizeof(*f->block_row));
	if (f->block_row == NULL)
		return fac_nomem(e);
	for (uint32_t b = 0; b < nblocks; b++) {
		uint32_t spot = b << ROW_BLOCK_SHIFT;

		while (r + 1 < f->nrows && f->rows[r + 1].start <= spot)
			r++;
		f->block_row[b] = r;
	}
	return 0;
}

facility *
facility_from_json(const cJSON *fac, const cJSON *vehicles, struct jerr *e)
{
	facility *f;

	if (jr_keys(fac, "facility", facility_keys, NULL, e) != 0)
		return NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		fac_nomem(e);
		return NULL;
	}
	if (load_header(f, fac, e) != 0 || load_location(f, fac, e) != 0 ||
	    load_rows(f, fac, e) != 0 ||
	    load_gates(f, fac, e) != 0 || load_classes(f, vehicles, e) != 0 ||
	    index_rows(f, e) != 0) {
		facility_free(f);
		return NULL;
	}
	return f;
}

int
facility_tags_mask(const facility *f, const cJSON *needs, const char *path,
    uint64_t *mask, struct jerr *e)
{
	char p[JPATH_MAX];
	const cJSON *t;
	const char *name;
	size_t n = 0, i = 0;
	int k;

	*mask = 0;
	if (jr_array(needs, path, NULL, 0, FAC_MAX_SPOTS, &needs, &n, e) < 0)
		return -1;
	cJSON_ArrayForEach(t, needs) {
		jpath_index(p, path, i++);
		if (jr_str(t, p, NULL, 0, 256, &name, e) < 0)
			return -1;
		if ((k = facility_tag_lookup(f, name)) < 0) {
			*mask = 0;
			return jerr_set(e, p, "no row has the tag '%s'", name);
		}
		*mask |= (uint64_t)1 << k;
	}
	return 0;
}
