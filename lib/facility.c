/* facility.c - loads and validates the facility model (config.md "Facility", "Vehicles"). */
#include "facility.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Coordinates are bounded so that x + i*dx over a whole row fits int64. */
#define FAC_MAX_COORD     1e9
#define FAC_MAX_STEP      1e6
#define FAC_MAX_LEVEL     1000
#define FAC_MAX_FIRST     1000000000LL

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

#define ST_CHUNK 65536

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

/* ---- interned names ---- */

static uint32_t
st_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void
st_free(struct strtab *t)
{
	while (t->chunks != NULL) {
		struct st_chunk *c = t->chunks;
		t->chunks = c->next;
		free(c);
	}
	free(t->names);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static int
st_find(const struct strtab *t, const char *s)
{
	if (t->nslots == 0)
		return -1;
	for (uint32_t i = st_hash(s) & (t->nslots - 1);; i = (i + 1) & (t->nslots - 1)) {
		uint32_t v = t->slots[i];
		if (v == 0)
			return -1;
		if (strcmp(t->names[v - 1], s) == 0)
			return (int)(v - 1);
	}
}

static int
st_rehash(struct strtab *t, uint32_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (slots == NULL)
		return -1;
	for (uint32_t k = 0; k < t->n; k++) {
		uint32_t i = st_hash(t->names[k]) & (nslots - 1);
		while (slots[i] != 0)
			i = (i + 1) & (nslots - 1);
		slots[i] = k + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

/* Index of s, adding it when new; -1 on allocation failure. */
static int
st_add(struct strtab *t, const char *s)
{
	int found = st_find(t, s);
	uint32_t i;
	size_t len;
	char *copy;

	if (found >= 0)
		return found;
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 8;
		char **names = realloc(t->names, cap * sizeof(*names));
		if (names == NULL)
			return -1;
		t->names = names;
		t->cap = cap;
	}
	if ((t->n + 1) * 2 > t->nslots &&
	    st_rehash(t, t->nslots ? t->nslots * 2 : 16) != 0)
		return -1;
	len = strlen(s) + 1;
	if (t->chunks == NULL || len > t->size - t->used) {
		/* Chunks double from 256 bytes to 64 KiB: small tables stay small. */
		size_t size = t->size * 2 < 256 ? 256 :
		    (t->size * 2 > ST_CHUNK ? ST_CHUNK : t->size * 2);
		struct st_chunk *c;
		if (size < len)
			size = len;
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return -1;
		c->next = t->chunks;
		t->chunks = c;
		t->used = 0;
		t->size = size;
	}
	copy = t->chunks->data + t->used;
	t->used += len;
	memcpy(copy, s, len);
	t->names[t->n] = copy;
	for (i = st_hash(s) & (t->nslots - 1); t->slots[i] != 0;
	    i = (i + 1) & (t->nslots - 1))
		;
	t->slots[i] = ++t->n;
	return (int)(t->n - 1);
}

/* ---- loading context and JSON helpers ---- */

struct ld {
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int
ld_fail(struct ld *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(ld->err, ld->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
ld_oom(struct ld *ld)
{
	return ld_fail(ld, "facility: out of memory");
}

/*
 * Refuses a non-object, unknown keys (when allowed is not NULL) and
 * duplicate keys: cJSON keeps duplicates as siblings and its getters
 * would silently take the first one.
 */
static int
check_object(struct ld *ld, const cJSON *obj, const char *path,
    const char *const *allowed)
{
	if (!cJSON_IsObject(obj))
		return ld_fail(ld, "%s: must be an object", path);
	for (const cJSON *c = obj->child; c != NULL; c = c->next) {
		if (c->string == NULL)
			return ld_fail(ld, "%s: malformed object", path);
		if (allowed != NULL) {
			const char *const *a;
			for (a = allowed; *a != NULL; a++)
				if (strcmp(*a, c->string) == 0)
					break;
			if (*a == NULL)
				return ld_fail(ld, "%s.%s: unknown key", path,
				    c->string);
		}
		for (const cJSON *p = obj->child; p != c; p = p->next)
			if (strcmp(p->string, c->string) == 0)
				return ld_fail(ld, "%s.%s: duplicate key", path,
				    c->string);
	}
	return 0;
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

/* A name-like string member: 1..32 printable ASCII characters. */
static int
get_name(struct ld *ld, const cJSON *obj, const char *key, const char *path,
    const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (v == NULL)
		return ld_fail(ld, "%s.%s: required key missing", path, key);
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return ld_fail(ld, "%s.%s: must be a string", path, key);
	if (!valid_name(v->valuestring))
		return ld_fail(ld, "%s.%s: must be 1..%d printable characters",
		    path, key, FAC_MAX_NAME);
	*out = v->valuestring;
	return 0;
}

/* An integer member in [lo, hi]; when absent, def if optional. */
static int
get_int(struct ld *ld, const cJSON *obj, const char *key, const char *path,
    int required, long long def, long long lo, long long hi, long long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	if (v == NULL) {
		if (required)
			return ld_fail(ld, "%s.%s: required key missing", path, key);
		*out = def;
		return 0;
	}
	if (!cJSON_IsNumber(v))
		return ld_fail(ld, "%s.%s: must be an integer", path, key);
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
		return ld_fail(ld, "%s.%s: must be an integer", path, key);
	if (d < (double)lo || d > (double)hi)
		return ld_fail(ld, "%s.%s: must be between %lld and %lld", path,
		    key, lo, hi);
	*out = (long long)d;
	return 0;
}

/* A number member with |v| <= maxabs, converted to thousandths. */
static int
get_milli(struct ld *ld, const cJSON *obj, const char *key, const char *path,
    int required, double maxabs, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (v == NULL) {
		if (required)
			return ld_fail(ld, "%s.%s: required key missing", path, key);
		*out = 0;
		return 0;
	}
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return ld_fail(ld, "%s.%s: must be a number", path, key);
	if (fabs(v->valuedouble) > maxabs)
		return ld_fail(ld, "%s.%s: must be between -%.0f and %.0f", path,
		    key, maxabs, maxabs);
	*out = (int64_t)llround(v->valuedouble * 1000.0);
	return 0;
}

/* An optional free-form string member, copied; def when absent. */
static int
get_text(struct ld *ld, const cJSON *obj, const char *key, const char *path,
    const char *def, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	const char *s = def;

	if (v != NULL) {
		if (!cJSON_IsString(v) || v->valuestring == NULL)
			return ld_fail(ld, "%s.%s: must be a string", path, key);
		s = v->valuestring;
		if (strlen(s) > 256)
			return ld_fail(ld, "%s.%s: longer than 256 bytes", path, key);
	}
	if ((*out = strdup(s)) == NULL)
		return ld_oom(ld);
	return 0;
}

/* ---- facility sections ---- */

static const char *const facility_keys[] = {
	"name", "timezone", "currency", "level_distance", "gates", "rows", NULL
};
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
load_header(struct ld *ld, facility *f, const cJSON *fac)
{
	const cJSON *cur;

	if (get_text(ld, fac, "name", "facility", "", &f->name) != 0 ||
	    get_text(ld, fac, "timezone", "facility", "UTC", &f->timezone) != 0)
		return -1;
	cur = cJSON_GetObjectItemCaseSensitive(fac, "currency");
	if (cur == NULL) {
		memcpy(f->currency, "EUR", 4);
	} else {
		const char *s = cJSON_IsString(cur) ? cur->valuestring : NULL;
		if (s == NULL || strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' ||
		    s[1] < 'A' || s[1] > 'Z' || s[2] < 'A' || s[2] > 'Z')
			return ld_fail(ld,
			    "facility.currency: must be 3 upper-case letters");
		memcpy(f->currency, s, 4);
	}
	if (get_milli(ld, fac, "level_distance", "facility", 0, FAC_MAX_COORD,
	    &f->level_distance) != 0)
		return -1;
	if (f->level_distance < 0)
		return ld_fail(ld, "facility.level_distance: must be >= 0");
	return 0;
}

static int
load_row(struct ld *ld, facility *f, const cJSON *row, uint32_t idx,
    uint64_t *total)
{
	struct fac_row *r = &f->rows[idx];
	char path[64];
	const char *zone, *type;
	const cJSON *tags;
	long long level, count, first;
	int k;

	snprintf(path, sizeof(path), "facility.rows[%u]", idx);
	if (check_object(ld, row, path, row_keys) != 0)
		return -1;
	if (get_int(ld, row, "level", path, 1, 0, -FAC_MAX_LEVEL, FAC_MAX_LEVEL,
	    &level) != 0 ||
	    get_name(ld, row, "zone", path, &zone) != 0 ||
	    get_name(ld, row, "type", path, &type) != 0 ||
	    get_int(ld, row, "count", path, 1, 0, LLONG_MIN / 2, LLONG_MAX / 2,
	    &count) != 0)
		return -1;
	if (count <= 0)
		return ld_fail(ld, "%s.count: must be > 0", path);
	if (count > (long long)FAC_MAX_SPOTS ||
	    *total + (uint64_t)count > FAC_MAX_SPOTS)
		return ld_fail(ld, "%s.count: total spots exceed %u", path,
		    FAC_MAX_SPOTS);
	if (get_milli(ld, row, "x", path, 1, FAC_MAX_COORD, &r->x) != 0 ||
	    get_milli(ld, row, "y", path, 1, FAC_MAX_COORD, &r->y) != 0 ||
	    get_milli(ld, row, "dx", path, 1, FAC_MAX_STEP, &r->dx) != 0 ||
	    get_milli(ld, row, "dy", path, 1, FAC_MAX_STEP, &r->dy) != 0 ||
	    get_int(ld, row, "first", path, 0, 1, 0, FAC_MAX_FIRST, &first) != 0)
		return -1;

	r->tags = 0;
	tags = cJSON_GetObjectItemCaseSensitive(row, "tags");
	if (tags != NULL) {
		const cJSON *t;
		int i = 0;
		if (!cJSON_IsArray(tags))
			return ld_fail(ld, "%s.tags: must be an array of strings",
			    path);
		cJSON_ArrayForEach(t, tags) {
			if (!cJSON_IsString(t) || t->valuestring == NULL)
				return ld_fail(ld, "%s.tags[%d]: must be a string",
				    path, i);
			if (!valid_name(t->valuestring))
				return ld_fail(ld, "%s.tags[%d]: must be 1..%d "
				    "printable characters", path, i, FAC_MAX_NAME);
			k = st_find(&f->tags, t->valuestring);
			if (k < 0) {
				if (f->tags.n >= FAC_MAX_TAGS)
					return ld_fail(ld, "%s.tags[%d]: more than %d "
					    "distinct tags", path, i, FAC_MAX_TAGS);
				if ((k = st_add(&f->tags, t->valuestring)) < 0)
					return ld_oom(ld);
			}
			r->tags |= (uint64_t)1 << k;
			i++;
		}
	}
	if ((k = st_add(&f->zones, zone)) < 0)
		return ld_oom(ld);
	r->zone = (uint32_t)k;
	if ((k = st_add(&f->types, type)) < 0)
		return ld_oom(ld);
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
index_zones(struct ld *ld, facility *f)
{
	struct zkey *keys = malloc((size_t)f->nrows * sizeof(*keys));
	uint32_t i;

	if (keys == NULL)
		return ld_oom(ld);
	for (i = 0; i < f->nrows; i++) {
		keys[i].zone = f->rows[i].zone;
		keys[i].first = f->rows[i].first;
		keys[i].last = f->rows[i].first + f->rows[i].count - 1;
		keys[i].row = i;
	}
	qsort(keys, f->nrows, sizeof(*keys), zkey_cmp);
	if (has_duplicate(keys, f->nrows, f->nrows)) {
		uint32_t lo = 1, hi = f->nrows, bad;	/* dup in prefix hi, not lo */
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
		return ld_fail(ld, "facility.rows[%u]: duplicate spot id %s-%02u",
		    bad, f->zones.names[r->zone], num);
	}
	f->zone_rows = malloc((size_t)f->nrows * sizeof(*f->zone_rows));
	f->zone_off = calloc((size_t)f->zones.n + 1, sizeof(*f->zone_off));
	if (f->zone_rows == NULL || f->zone_off == NULL) {
		free(keys);
		return ld_oom(ld);
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
index_levels(struct ld *ld, facility *f)
{
	int *tmp = malloc((size_t)f->nrows * sizeof(*tmp));
	uint32_t i;
	int n = 0;

	if (tmp == NULL)
		return ld_oom(ld);
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
load_rows(struct ld *ld, facility *f, const cJSON *fac)
{
	const cJSON *rows = cJSON_GetObjectItemCaseSensitive(fac, "rows");
	const cJSON *row;
	uint64_t total = 0;
	uint32_t idx = 0;
	int n;

	if (rows == NULL)
		return ld_fail(ld, "facility.rows: required key missing");
	if (!cJSON_IsArray(rows))
		return ld_fail(ld, "facility.rows: must be an array");
	n = cJSON_GetArraySize(rows);
	if (n <= 0)
		return ld_fail(ld, "facility.rows: must not be empty");
	if ((uint64_t)n > FAC_MAX_SPOTS)
		return ld_fail(ld, "facility.rows: more than %u rows", FAC_MAX_SPOTS);
	if ((f->rows = calloc((size_t)n, sizeof(*f->rows))) == NULL)
		return ld_oom(ld);
	cJSON_ArrayForEach(row, rows) {
		if (load_row(ld, f, row, idx, &total) != 0)
			return -1;
		f->nrows = ++idx;
	}
	f->nspots = (uint32_t)total;
	if (index_zones(ld, f) != 0 || index_levels(ld, f) != 0)
		return -1;
	return 0;
}

static int
load_gates(struct ld *ld, facility *f, const cJSON *fac)
{
	const cJSON *gates = cJSON_GetObjectItemCaseSensitive(fac, "gates");
	const cJSON *g;
	int n, idx = 0, entries = 0;

	if (gates == NULL)
		return ld_fail(ld, "facility.gates: required key missing");
	if (!cJSON_IsArray(gates))
		return ld_fail(ld, "facility.gates: must be an array");
	n = cJSON_GetArraySize(gates);
	if (n > FAC_MAX_GATES)
		return ld_fail(ld, "facility.gates: more than %d gates",
		    FAC_MAX_GATES);
	if (n > 0 && (f->gates = calloc((size_t)n, sizeof(*f->gates))) == NULL)
		return ld_oom(ld);
	cJSON_ArrayForEach(g, gates) {
		struct fac_gate *gt = &f->gates[idx];
		char path[48];
		const char *id, *role;
		long long level;
		snprintf(path, sizeof(path), "facility.gates[%d]", idx);
		if (check_object(ld, g, path, gate_keys) != 0 ||
		    get_name(ld, g, "id", path, &id) != 0)
			return -1;
		if (st_find(&f->gate_ids, id) >= 0)
			return ld_fail(ld, "%s.id: duplicate gate id '%s'", path, id);
		if (cJSON_GetObjectItemCaseSensitive(g, "role") == NULL)
			return ld_fail(ld, "%s.role: required key missing", path);
		role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g,
		    "role"));
		if (role != NULL && strcmp(role, "entry") == 0)
			gt->role = FAC_GATE_ENTRY;
		else if (role != NULL && strcmp(role, "exit") == 0)
			gt->role = FAC_GATE_EXIT;
		else if (role != NULL && strcmp(role, "both") == 0)
			gt->role = FAC_GATE_BOTH;
		else
			return ld_fail(ld, "%s.role: must be entry, exit or both",
			    path);
		if (get_int(ld, g, "level", path, 1, 0, -FAC_MAX_LEVEL,
		    FAC_MAX_LEVEL, &level) != 0)
			return -1;
		if (level_index(f, (int)level) < 0)
			return ld_fail(ld, "%s.level: no row on level %lld", path,
			    level);
		if (get_milli(ld, g, "x", path, 1, FAC_MAX_COORD, &gt->x) != 0 ||
		    get_milli(ld, g, "y", path, 1, FAC_MAX_COORD, &gt->y) != 0)
			return -1;
		if (st_add(&f->gate_ids, id) != idx)
			return ld_oom(ld);
		gt->id = f->gate_ids.names[idx];
		gt->level = (int)level;
		if (gt->role & FAC_GATE_ENTRY)
			entries++;
		f->ngates = ++idx;
	}
	if (entries == 0)
		return ld_fail(ld,
		    "facility.gates: at least one gate with role entry or both is required");
	return 0;
}

/* Looks a fits/contiguous type up; 1 = skipped (lenient), 0 ok, -1 error. */
static int
class_type(struct ld *ld, facility *f, const char *name, const char *path,
    int lenient, int *type)
{
	*type = st_find(&f->types, name);
	if (*type >= 0)
		return 0;
	if (lenient)
		return 1;
	return ld_fail(ld, "%s: unknown spot type '%s'", path, name);
}

static int
load_class(struct ld *ld, facility *f, const cJSON *c, const char *name)
{
	struct fac_class *cl = &f->classes[f->nclasses];
	char path[64], ipath[96];
	const cJSON *fits, *t, *cont;
	int i = 0, n, type;

	snprintf(path, sizeof(path), "vehicles.%s", name);
	if (!valid_name(name))
		return ld_fail(ld, "%s: class name must be 1..%d printable "
		    "characters", path, FAC_MAX_NAME);
	if (check_object(ld, c, path, class_keys) != 0)
		return -1;
	cl->ctype = -1;
	fits = cJSON_GetObjectItemCaseSensitive(c, "fits");
	cont = cJSON_GetObjectItemCaseSensitive(c, "contiguous");
	if (fits == NULL)
		return ld_fail(ld, "%s.fits: required key missing", path);
	if (!cJSON_IsArray(fits))
		return ld_fail(ld, "%s.fits: must be an array of spot types", path);
	n = cJSON_GetArraySize(fits);
	if (n == 0 && cont == NULL)
		return ld_fail(ld, "%s.fits: must not be empty", path);
	if (n > 0 && (cl->fits = calloc((size_t)n, sizeof(int))) == NULL)
		return ld_oom(ld);
	cJSON_ArrayForEach(t, fits) {
		snprintf(ipath, sizeof(ipath), "%s.fits[%d]", path, i);
		if (!cJSON_IsString(t) || t->valuestring == NULL)
			return ld_fail(ld, "%s: must be a string", ipath);
		if (class_type(ld, f, t->valuestring, ipath, 0, &type) != 0)
			return -1;
		for (int j = 0; j < cl->nfits; j++)
			if (cl->fits[j] == type)
				return ld_fail(ld, "%s: duplicate type '%s'", ipath,
				    t->valuestring);
		cl->fits[cl->nfits++] = type;
		i++;
	}
	if (cont != NULL) {
		const char *ctype;
		long long count;
		snprintf(ipath, sizeof(ipath), "%s.contiguous", path);
		if (check_object(ld, cont, ipath, contiguous_keys) != 0 ||
		    get_name(ld, cont, "type", ipath, &ctype) != 0)
			return -1;
		snprintf(ipath, sizeof(ipath), "%s.contiguous.type", path);
		if (class_type(ld, f, ctype, ipath, 0, &type) != 0)
			return -1;
		snprintf(ipath, sizeof(ipath), "%s.contiguous", path);
		if (get_int(ld, cont, "count", ipath, 1, 0, 1, FAC_MAX_CONTIGUOUS,
		    &count) != 0)
			return -1;
		cl->ctype = type;
		cl->ccount = (int)count;
	}
	if (st_add(&f->class_names, name) != f->nclasses)
		return ld_oom(ld);
	f->nclasses++;
	return 0;
}

/* The four default classes of config.md, keeping the types rows have. */
static int
load_default_classes(struct ld *ld, facility *f)
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
		return ld_oom(ld);
	f->classes_cap = 4;
	for (k = 0; k < sizeof(defs) / sizeof(defs[0]); k++) {
		struct fac_class *cl = &f->classes[k];
		int type;
		if ((cl->fits = calloc(3, sizeof(int))) == NULL)
			return ld_oom(ld);
		for (int i = 0; i < 3 && defs[k].fits[i] != NULL; i++)
			if (class_type(ld, f, defs[k].fits[i], "", 1, &type) == 0)
				cl->fits[cl->nfits++] = type;
		cl->ctype = -1;
		if (defs[k].ctype != NULL &&
		    class_type(ld, f, defs[k].ctype, "", 1, &type) == 0) {
			cl->ctype = type;
			cl->ccount = defs[k].ccount;
		}
		if (st_add(&f->class_names, defs[k].name) != (int)k)
			return ld_oom(ld);
		f->nclasses++;
	}
	return 0;
}

static int
load_classes(struct ld *ld, facility *f, const cJSON *vehicles)
{
	const cJSON *c;
	int n;

	if (vehicles == NULL || cJSON_IsNull(vehicles))
		return load_default_classes(ld, f);
	if (!cJSON_IsObject(vehicles))
		return ld_fail(ld, "vehicles: must be an object");
	n = cJSON_GetArraySize(vehicles);
	if (n == 0)
		return ld_fail(ld, "vehicles: must define at least one class");
	if (n > FAC_MAX_CLASSES)
		return ld_fail(ld, "vehicles: more than %d classes",
		    FAC_MAX_CLASSES);
	if (check_object(ld, vehicles, "vehicles", NULL) != 0)
		return -1;
	if ((f->classes = calloc((size_t)n, sizeof(*f->classes))) == NULL)
		return ld_oom(ld);
	f->classes_cap = n;
	cJSON_ArrayForEach(c, vehicles)
		if (load_class(ld, f, c, c->string) != 0)
			return -1;
	return 0;
}

static int
index_rows(struct ld *ld, facility *f)
{
	uint32_t nblocks = (f->nspots >> ROW_BLOCK_SHIFT) + 2;
	uint32_t r = 0;

	f->block_row = malloc(nblocks * sizeof(*f->block_row));
	if (f->block_row == NULL) {
		ld_oom(ld);
		return -1;
	}
	for (uint32_t b = 0; b < nblocks; b++) {
		uint32_t spot = b << ROW_BLOCK_SHIFT;

		while (r + 1 < f->nrows && f->rows[r + 1].start <= spot)
			r++;
		f->block_row[b] = r;
	}
	return 0;
}

facility *
facility_from_json(const cJSON *fac, const cJSON *vehicles, char *err,
    size_t errlen)
{
	struct ld ld = { err, errlen };
	facility *f;

	if (errlen > 0)
		err[0] = '\0';
	if (fac == NULL) {
		ld_fail(&ld, "facility: required key missing");
		return NULL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		ld_oom(&ld);
		return NULL;
	}
	if (check_object(&ld, fac, "facility", facility_keys) != 0 ||
	    load_header(&ld, f, fac) != 0 ||
	    load_rows(&ld, f, fac) != 0 ||
	    load_gates(&ld, f, fac) != 0 ||
	    load_classes(&ld, f, vehicles) != 0 || index_rows(&ld, f) != 0) {
		facility_free(f);
		return NULL;
	}
	return f;
}

void
facility_free(facility *f)
{
	if (f == NULL)
		return;
	free(f->name);
	free(f->timezone);
	free(f->gates);
	st_free(&f->gate_ids);
	free(f->rows);
	st_free(&f->types);
	st_free(&f->zones);
	st_free(&f->tags);
	st_free(&f->class_names);
	free(f->zone_rows);
	free(f->zone_off);
	free(f->block_row);
	free(f->levels);
	for (int i = 0; i < f->classes_cap; i++)
		free(f->classes[i].fits);
	free(f->classes);
	free(f);
}

/* ---- accessors ---- */

const char *
facility_name(const facility *f)
{
	return f->name;
}

const char *
facility_timezone(const facility *f)
{
	return f->timezone;
}

const char *
facility_currency(const facility *f)
{
	return f->currency;
}

int64_t
facility_level_distance_milli(const facility *f)
{
	return f->level_distance;
}

uint32_t
facility_spot_count(const facility *f)
{
	return f->nspots;
}

uint32_t
facility_row_count(const facility *f)
{
	return f->nrows;
}

uint32_t
facility_row_of_spot(const facility *f, uint32_t spot)
{
	uint32_t b = spot >> ROW_BLOCK_SHIFT;
	uint32_t lo = f->block_row[b], hi = f->block_row[b + 1];

	/* The last row whose start is <= spot; starts strictly increase. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		if (f->rows[mid].start <= spot)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

static const struct fac_row *
spot_row(const facility *f, uint32_t spot)
{
	return &f->rows[facility_row_of_spot(f, spot)];
}

uint32_t
facility_row_start(const facility *f, uint32_t row)
{
	return f->rows[row].start;
}

uint32_t
facility_row_len(const facility *f, uint32_t row)
{
	return f->rows[row].count;
}

int
facility_row_type_index(const facility *f, uint32_t row)
{
	return f->rows[row].type;
}

int
facility_row_level_index(const facility *f, uint32_t row)
{
	return f->rows[row].level_idx;
}

uint64_t
facility_row_tags(const facility *f, uint32_t row)
{
	return f->rows[row].tags;
}

void
facility_row_geom(const facility *f, uint32_t row, struct fac_row_geom *out)
{
	const struct fac_row *r = &f->rows[row];

	out->zone = f->zones.names[r->zone];
	out->first = r->first;
	out->x = r->x;
	out->y = r->y;
	out->dx = r->dx;
	out->dy = r->dy;
}

int
facility_spot_lookup(const facility *f, const char *id, uint32_t *spot)
{
	const char *dash = strrchr(id, '-'), *p;
	char zone[FAC_MAX_NAME + 1], canon[16];
	unsigned long num = 0;
	uint32_t lo, hi;
	int z;

	if (dash == NULL || dash == id || (size_t)(dash - id) > FAC_MAX_NAME ||
	    dash[1] == '\0' || strlen(dash + 1) > 10)
		return -1;
	for (p = dash + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		num = num * 10 + (unsigned long)(*p - '0');
	}
	/* Only the text the facility generates names a spot: "B-7" does not. */
	snprintf(canon, sizeof(canon), "%02lu", num);
	if (strcmp(canon, dash + 1) != 0 || num > UINT32_MAX)
		return -1;
	memcpy(zone, id, (size_t)(dash - id));
	zone[dash - id] = '\0';
	if ((z = st_find(&f->zones, zone)) < 0)
		return -1;
	/* The zone's rows are disjoint and sorted by first number. */
	lo = f->zone_off[z];
	hi = f->zone_off[z + 1];
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct fac_row *r = &f->rows[f->zone_rows[mid]];
		if (num < r->first)
			hi = mid;
		else if (num - r->first >= r->count)
			lo = mid + 1;
		else {
			*spot = r->start + (uint32_t)(num - r->first);
			return 0;
		}
	}
	return -1;
}

void
facility_spot_name(const facility *f, uint32_t spot, char buf[48])
{
	const struct fac_row *r = spot_row(f, spot);

	snprintf(buf, 48, "%s-%02u", f->zones.names[r->zone],
	    r->first + (spot - r->start));
}

int
facility_spot_level(const facility *f, uint32_t spot)
{
	return spot_row(f, spot)->level;
}

int
facility_spot_level_index(const facility *f, uint32_t spot)
{
	return spot_row(f, spot)->level_idx;
}

const char *
facility_spot_zone(const facility *f, uint32_t spot)
{
	return f->zones.names[spot_row(f, spot)->zone];
}

const char *
facility_spot_type(const facility *f, uint32_t spot)
{
	return f->types.names[spot_row(f, spot)->type];
}

int
facility_spot_type_index(const facility *f, uint32_t spot)
{
	return spot_row(f, spot)->type;
}

uint64_t
facility_spot_tags(const facility *f, uint32_t spot)
{
	return spot_row(f, spot)->tags;
}

void
facility_spot_xy_milli(const facility *f, uint32_t spot, int64_t *x,
    int64_t *y)
{
	const struct fac_row *r = spot_row(f, spot);
	int64_t i = spot - r->start;

	*x = r->x + i * r->dx;
	*y = r->y + i * r->dy;
}

int
facility_gate_count(const facility *f)
{
	return f->ngates;
}

int
facility_gate_lookup(const facility *f, const char *id)
{
	return st_find(&f->gate_ids, id);
}

const char *
facility_gate_id(const facility *f, int gate)
{
	return f->gates[gate].id;
}

enum fac_gate_role
facility_gate_role(const facility *f, int gate)
{
	return f->gates[gate].role;
}

int
facility_gate_level(const facility *f, int gate)
{
	return f->gates[gate].level;
}

void
facility_gate_xy_milli(const facility *f, int gate, int64_t *x, int64_t *y)
{
	*x = f->gates[gate].x;
	*y = f->gates[gate].y;
}

const char *
facility_gate_role_name(enum fac_gate_role role)
{
	switch (role) {
	case FAC_GATE_ENTRY:
		return "entry";
	case FAC_GATE_EXIT:
		return "exit";
	case FAC_GATE_BOTH:
		return "both";
	}
	return "?";
}

static int64_t
abs64(int64_t v)
{
	return v < 0 ? -v : v;
}

void
facility_row_line(const facility *f, uint32_t row, int gate,
    struct fac_line *out)
{
	const struct fac_row *r = &f->rows[row];
	const struct fac_gate *g = &f->gates[gate];

	out->x0 = r->x - g->x;
	out->y0 = r->y - g->y;
	out->dx = r->dx;
	out->dy = r->dy;
	out->lterm = f->level_distance * abs64((int64_t)r->level - g->level);
}

int64_t
facility_distance_milli(const facility *f, int gate, uint32_t spot)
{
	uint32_t row = facility_row_of_spot(f, spot);
	int64_t i = spot - f->rows[row].start;
	struct fac_line l;

	facility_row_line(f, row, gate, &l);
	return abs64(l.x0 + i * l.dx) + abs64(l.y0 + i * l.dy) + l.lterm;
}

int
facility_class_count(const facility *f)
{
	return f->nclasses;
}

int
facility_class_lookup(const facility *f, const char *name)
{
	return st_find(&f->class_names, name);
}

const char *
facility_class_name(const facility *f, int cls)
{
	return f->class_names.names[cls];
}

const int *
facility_class_fits(const facility *f, int cls, int *n)
{
	*n = f->classes[cls].nfits;
	return f->classes[cls].fits;
}

int
facility_class_contiguous(const facility *f, int cls, int *type, int *count)
{
	if (f->classes[cls].ctype < 0)
		return -1;
	*type = f->classes[cls].ctype;
	*count = f->classes[cls].ccount;
	return 0;
}

int
facility_tag_count(const facility *f)
{
	return (int)f->tags.n;
}

const char *
facility_tag_name(const facility *f, int tag)
{
	return f->tags.names[tag];
}

int
facility_tags_mask(const facility *f, const cJSON *needs_array, uint64_t *mask)
{
	const cJSON *t;

	*mask = 0;
	if (needs_array == NULL)
		return 0;
	if (!cJSON_IsArray(needs_array))
		return -1;
	cJSON_ArrayForEach(t, needs_array) {
		int k;
		if (!cJSON_IsString(t) || t->valuestring == NULL ||
		    (k = st_find(&f->tags, t->valuestring)) < 0) {
			*mask = 0;
			return -1;
		}
		*mask |= (uint64_t)1 << k;
	}
	return 0;
}

int
facility_type_count(const facility *f)
{
	return (int)f->types.n;
}

const char *
facility_type_name(const facility *f, int type)
{
	return f->types.names[type];
}

int
facility_type_lookup(const facility *f, const char *name)
{
	return st_find(&f->types, name);
}

int
facility_level_count(const facility *f)
{
	return f->nlevels;
}

int
facility_level_value(const facility *f, int idx)
{
	return f->levels[idx];
}
