/* facility.c - the facility model: names and accessors (see facility.h). */
#include "facility_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names are stored in chunks of at most this many bytes. */
#define ST_CHUNK 65536

/* ---- interned names ---- */

static uint32_t
st_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

void
fac_names_free(struct strtab *t)
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

int
fac_names_find(const struct strtab *t, const char *s)
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

int
fac_names_add(struct strtab *t, const char *s)
{
	int found = fac_names_find(t, s);
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

void
facility_free(facility *f)
{
	if (f == NULL)
		return;
	free(f->name);
	free(f->timezone);
	free(f->gates);
	fac_names_free(&f->gate_ids);
	free(f->rows);
	fac_names_free(&f->types);
	fac_names_free(&f->zones);
	fac_names_free(&f->tags);
	fac_names_free(&f->class_names);
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

int
facility_location_e7(const facility *f, int64_t *lat, int64_t *lon)
{
	if (!f->has_location)
		return -1;
	*lat = f->lat_e7;
	*lon = f->lon_e7;
	return 0;
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
	if ((z = fac_names_find(&f->zones, zone)) < 0)
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
	const char *zone = f->zones.names[r->zone];
	uint32_t num = r->first + (spot - r->start);
	char digits[10];
	size_t zl = strlen(zone), nd = 0;

	/* "%s-%02u" by hand: every record names its spots. */
	do {
		digits[nd++] = (char)('0' + num % 10);
		num /= 10;
	} while (num != 0);
	if (nd == 1)
		digits[nd++] = '0';
	/* A zone name is at most FAC_MAX_NAME bytes: this always fits. */
	if (zl + 1 + nd >= 48)
		zl = 48 - 2 - nd;
	memcpy(buf, zone, zl);
	buf[zl++] = '-';
	while (nd > 0)
		buf[zl++] = digits[--nd];
	buf[zl] = '\0';
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
	return fac_names_find(&f->gate_ids, id);
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
	return fac_names_find(&f->class_names, name);
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
facility_tag_lookup(const facility *f, const char *name)
{
	return fac_names_find(&f->tags, name);
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
	return fac_names_find(&f->types, name);
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
