/* city.c - the city view's pure part (see city.h). */
#include "city.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json.h"
#include "rfc3339.h"
#include "utf8.h"

static const char *const city_state_names[] = {
#define CITY_STATE_NAME(name, str) str,
	CITY_STATES(CITY_STATE_NAME)
#undef CITY_STATE_NAME
};

const char *const city_read_fields[CITY_F__COUNT] = {
	[CITY_F_NAME] = "name",
	[CITY_F_FREE] = "free",
	[CITY_F_BY_CLASS] = "free_by_class",
	[CITY_F_STATE] = "state",
	[CITY_F_UPDATED_AT] = "updated_at",
};

const char *
city_state_name(enum city_state st)
{
	return (unsigned)st <= CITY_CLOSED ? city_state_names[st] : "?";
}

size_t
city_slug(const char *name, char *out, size_t outlen)
{
	size_t n = 0;
	int dash = 0;

	if (outlen == 0)
		return 0;
	for (const char *p = name; *p != '\0' && n + 1 < outlen; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			out[n++] = c;
			dash = 0;
		} else if (!dash) {
			out[n++] = '-';
			dash = 1;
		}
	}
	out[n] = '\0';
	return n;
}

/* ---- what this facility publishes ---- */

void
city_measure(const garage *g, int closed, struct city_avail *out)
{
	const facility *f = garage_facility(g);
	const alloc *a = garage_alloc(g);
	struct alloc_counts k;
	int room = 0;

	alloc_counts(a, &k);
	out->free = k.free;
	out->total = k.total;
	out->nclasses = facility_class_count(f);
	for (int c = 0; c < out->nclasses; c++) {
		const int *fits;
		int nfits, ctype, ccount, fitted = 0;
		uint64_t n = 0;

		fits = facility_class_fits(f, c, &nfits);
		/* The loader refuses a type twice in fits: no double counting. */
		for (int i = 0; i < nfits; i++) {
			alloc_counts_by_type(a, fits[i], &k);
			n += k.free;
		}
		/*
		 * Runs count only on a type the class does not fit alone: on
		 * one it fits, a single spot is taken first, and a run is
		 * never free while a single spot is not.
		 */
		if (facility_class_contiguous(f, c, &ctype, &ccount) == 0) {
			for (int i = 0; i < nfits; i++)
				fitted |= fits[i] == ctype;
			if (!fitted)
				n += alloc_free_runs(a, ctype, (uint32_t)ccount);
		}
		out->by_class[c] = n;
		room |= n > 0;
	}
	out->state = closed ? CITY_CLOSED : room ? CITY_OPEN : CITY_FULL;
}

void
city_by_class_json(struct jw *w, const facility *f, const struct city_avail *a)
{
	jw_obj(w);
	for (int c = 0; c < a->nclasses; c++) {
		jw_keyv(w, facility_class_name(f, c));
		jw_uint(w, a->by_class[c]);
	}
	jw_obj_end(w);
}

void
city_message_json(struct jw *w, const struct city_pub *p)
{
	jw_obj(w);
	jw_kstr(w, "slug", p->slug);
	jw_kstr(w, "name", p->name);
	jw_key(w, "lat");
	jw_fixed(w, p->lat_e7, 7);
	jw_key(w, "lon");
	jw_fixed(w, p->lon_e7, 7);
	jw_kuint(w, "free", p->avail->free);
	jw_kuint(w, "total", p->avail->total);
	jw_key(w, "free_by_class");
	city_by_class_json(w, p->f, p->avail);
	jw_kstr(w, "state", city_state_name(p->avail->state));
	jw_ktime(w, "updated_at", p->updated_at);
	jw_kstr(w, "listen", p->listen);
	jw_obj_end(w);
}

/* ---- what other facilities published ---- */

/* A count as parkd writes it: decimal digits, at most 2^53. */
static int
read_count(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || len == 0 || len > 16)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > ((uint64_t)1 << 53))
		return -1;
	*out = v;
	return 0;
}

/*
 * Metres as GEOSEARCH writes them ("1234.5678") in millimetres, rounded
 * half up.  At most 1e9 m: more than any distance on Earth.
 */
static int
read_distance(const char *s, size_t len, int64_t *mm)
{
	int64_t whole = 0, frac = 0;
	size_t i = 0, digits = 0, decimals = 0;
	int round_up = 0;

	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		if (digits == 10)
			return -1;
		whole = whole * 10 + (s[i] - '0');
	}
	if (digits == 0 || whole > 1000000000)
		return -1;
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, decimals++) {
			if (decimals < 3)
				frac = frac * 10 + (s[i] - '0');
			else if (decimals == 3)
				round_up = s[i] >= '5';
		}
		if (decimals == 0)
			return -1;
	}
	if (i != len)
		return -1;
	for (size_t d = decimals; d < 3; d++)
		frac *= 10;
	*mm = whole * 1000 + frac + round_up;
	return 0;
}

static int
valid_slug(const char *s, size_t len)
{
	if (len == 0 || len > CITY_SLUG_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-'))
			return 0;
	return 1;
}

/*
 * free_by_class: an object of non-negative integral counts.  counts[i] is
 * names[i]'s; *room_any whether any count is above 0.  0 or -1.
 */
static int
read_by_class(const char *s, size_t len, const char *const *names, int n,
    uint64_t *counts, int *room_any)
{
	struct jerr e = { NULL, 0, 0 };
	cJSON *o = json_parse(s, len, "", &e), *m;
	int rc = -1;

	*room_any = 0;
	for (int i = 0; i < n; i++)
		counts[i] = 0;
	if (o == NULL || !cJSON_IsObject(o))
		goto out;
	cJSON_ArrayForEach(m, o) {
		double d = m->valuedouble;

		if (!cJSON_IsNumber(m) || d < 0 || d > 9007199254740992.0 ||
		    d != (double)(uint64_t)d)
			goto out;
		*room_any |= d > 0;
		for (int i = 0; i < n; i++)
			if (strcmp(m->string, names[i]) == 0)
				counts[i] = (uint64_t)d;
	}
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

int
city_entry_read(struct city_entry *e, const char *slug, size_t slen,
    const char *dist, size_t dlen, const char *const vals[CITY_F__COUNT],
    const size_t lens[CITY_F__COUNT], const char *const *names, int n,
    uint64_t *counts, int64_t now, int64_t stale_s)
{
	const char *st = vals[CITY_F_STATE];
	size_t stlen = lens[CITY_F_STATE];
	int state = -1;

	for (int i = 0; i < CITY_F__COUNT; i++)
		if (vals[i] == NULL)
			return 0;	/* the hash expired: its parkd is gone */
	if (!valid_slug(slug, slen) ||
	    read_distance(dist, dlen, &e->distance_mm) != 0 ||
	    lens[CITY_F_NAME] > CITY_NAME_MAX ||
	    !utf8_valid(vals[CITY_F_NAME], lens[CITY_F_NAME]) ||
	    memchr(vals[CITY_F_NAME], '\0', lens[CITY_F_NAME]) != NULL ||
	    read_count(vals[CITY_F_FREE], lens[CITY_F_FREE], &e->free) != 0 ||
	    rfc3339_parse(vals[CITY_F_UPDATED_AT], lens[CITY_F_UPDATED_AT],
	    &e->updated_at) != 0)
		return 0;
	for (int i = 0; i <= CITY_CLOSED; i++)
		if (strlen(city_state_names[i]) == stlen &&
		    memcmp(city_state_names[i], st, stlen) == 0)
			state = i;
	if (state < 0 || read_by_class(vals[CITY_F_BY_CLASS],
	    lens[CITY_F_BY_CLASS], names, n, counts, &e->room_any) != 0)
		return 0;
	/* A silent facility: its parkd may be gone or cut off. */
	if (now - e->updated_at > stale_s)
		return 0;
	e->state = (enum city_state)state;
	memcpy(e->slug, slug, slen);
	e->slug[slen] = '\0';
	memcpy(e->name, vals[CITY_F_NAME], lens[CITY_F_NAME]);
	e->name[lens[CITY_F_NAME]] = '\0';
	/* A closed facility takes nobody, whatever it counted. */
	if (e->state == CITY_CLOSED) {
		e->room_any = 0;
		for (int i = 0; i < n; i++)
			counts[i] = 0;
	}
	return 1;
}

void
city_entry_json(struct jw *w, const struct city_entry *e,
    uint64_t free_for_class)
{
	jw_obj(w);
	jw_kstr(w, "name", e->name);
	jw_kstr(w, "slug", e->slug);
	jw_kmilli(w, "distance_m", e->distance_mm);
	jw_kuint(w, "free", e->free);
	jw_kuint(w, "free_for_class", free_for_class);
	jw_kstr(w, "state", city_state_name(e->state));
	jw_ktime(w, "updated_at", e->updated_at);
	jw_obj_end(w);
}

/* ---- the cached view ---- */

struct city_view {
	int nclasses;
	/*
	 * The classes of f, in order: copies, as a rebuilt garage brings a
	 * new facility (the same classes) while the view lives on.
	 */
	const char **names;
	char *name_buf;
	struct city_entry *v;
	uint64_t *counts;		/* [n][nclasses] */
	size_t n, cap;
};

struct city_view *
city_view_new(const facility *f)
{
	struct city_view *v = calloc(1, sizeof(*v));
	size_t len = 0;
	char *p;

	if (v == NULL)
		return NULL;
	v->nclasses = facility_class_count(f);
	for (int c = 0; c < v->nclasses; c++)
		len += strlen(facility_class_name(f, c)) + 1;
	v->names = calloc((size_t)v->nclasses, sizeof(*v->names));
	v->name_buf = p = malloc(len);
	if (v->names == NULL || v->name_buf == NULL) {
		city_view_free(v);
		return NULL;
	}
	for (int c = 0; c < v->nclasses; c++) {
		size_t n = strlen(facility_class_name(f, c)) + 1;

		memcpy(p, facility_class_name(f, c), n);
		v->names[c] = p;
		p += n;
	}
	return v;
}

void
city_view_free(struct city_view *v)
{
	if (v == NULL)
		return;
	free(v->names);
	free(v->name_buf);
	free(v->v);
	free(v->counts);
	free(v);
}

void
city_view_clear(struct city_view *v)
{
	v->n = 0;
}

int
city_view_add(struct city_view *v, const struct city_entry *e,
    const uint64_t *counts)
{
	size_t nc = (size_t)v->nclasses;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		struct city_entry *ne = realloc(v->v, cap * sizeof(*ne));
		uint64_t *nk;

		if (ne == NULL)
			return -1;
		v->v = ne;
		nk = realloc(v->counts, cap * nc * sizeof(*nk));
		if (nk == NULL)
			return -1;
		v->counts = nk;
		v->cap = cap;
	}
	v->v[v->n] = *e;
	memcpy(&v->counts[v->n * nc], counts, nc * sizeof(*counts));
	v->n++;
	return 0;
}

size_t
city_view_count(const struct city_view *v)
{
	return v->n;
}

const char *const *
city_view_class_names(const struct city_view *v)
{
	return v->names;
}

size_t
city_view_alternatives(const struct city_view *v, int cls, const char *self,
    size_t max, struct jw *w)
{
	size_t k = 0;

	jw_key(w, "alternatives");
	jw_arr(w);
	for (size_t i = 0; i < v->n && k < max && cls >= 0 && cls < v->nclasses; i++) {
		uint64_t room = v->counts[i * (size_t)v->nclasses + (size_t)cls];

		if (room == 0 || (self != NULL && strcmp(v->v[i].slug, self) == 0))
			continue;
		city_entry_json(w, &v->v[i], room);
		k++;
	}
	jw_arr_end(w);
	return k;
}
