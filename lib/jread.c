/* jread.c - the checked readers of parsed JSON (see jread.h). */
#include "jread.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rfc3339.h"
#include "streq.h"

/* Integers above this lose digits in the double cJSON keeps. */
#define EXACT_MAX 9007199254740992.0

/* The member named key (case-sensitive, as cJSON's getter), or NULL. */
static const cJSON *
find_member(const cJSON *obj, const char *key)
{
	for (const cJSON *c = obj->child; c != NULL; c = c->next) {
		if (c->string != NULL && streq(c->string, key))
			return c;
	}
	return NULL;
}

/*
 * The path of the value read, in p, for an error message: built only
 * when one is written (every read of a request asked for it before).
 */
static const char *
at(char p[JPATH_MAX], const char *path, const char *key)
{
	jpath_key(p, path, key);
	return p;
}

/*
 * The value to read: obj itself when key is NULL, else its member key;
 * p is scratch for at().  NULL when absent (or null with JR_NULL), with
 * *rc 0, or -1 when it was required.
 */
static const cJSON *
member(const cJSON *obj, const char *path, const char *key, unsigned flags,
    char p[JPATH_MAX], int *rc, struct jerr *e)
{
	const cJSON *v = NULL;

	if (key == NULL)
		v = obj;
	else if (cJSON_IsObject(obj))
		v = find_member(obj, key);
	if (v != NULL && (flags & JR_NULL) && cJSON_IsNull(v))
		v = NULL;
	if (v == NULL)
		*rc = flags & JR_REQUIRED ?
		    jerr_set(e, at(p, path, key), "is required") : 0;
	return v;
}

static int
wrong_type(const char *p, unsigned flags, const char *what, struct jerr *e)
{
	return jerr_set(e, p, "must be %s%s", what,
	    flags & JR_NULL ? " or null" : "");
}

int
jr_int(const cJSON *obj, const char *path, const char *key, unsigned flags,
    int64_t min, int64_t max, int64_t *out, struct jerr *e)
{
	char p[JPATH_MAX];
	const cJSON *v;
	double d;
	int rc;

	if ((v = member(obj, path, key, flags, p, &rc, e)) == NULL)
		return rc;
	d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	/* NaN fails the test too: not a number, or not finite. */
	if (!(d == floor(d) && fabs(d) < INFINITY))
		return wrong_type(at(p, path, key), flags, "an integer", e);
	if (d < (double)min || d > (double)max)
		return jerr_set(e, at(p, path, key),
		    "must be between %" PRId64 " and %" PRId64, min, max);
	*out = (int64_t)d;
	return 1;
}

/* k units of 10^-decimals as decimal text: 1250, 3 -> "1.25". */
static void
fixed_text(char buf[32], int64_t k, int decimals)
{
	uint64_t u = k < 0 ? -(uint64_t)k : (uint64_t)k, scale = 1, frac;
	int n, d = decimals;

	for (int i = 0; i < decimals; i++)
		scale *= 10;
	n = snprintf(buf, 32, "%s%" PRIu64, k < 0 ? "-" : "", u / scale);
	frac = u % scale;
	if (frac == 0)
		return;
	for (; frac % 10 == 0; frac /= 10)
		d--;
	snprintf(buf + n, 32 - (size_t)n, ".%0*" PRIu64, d, frac);
}

int
jr_fixed(const cJSON *obj, const char *path, const char *key, unsigned flags,
    int decimals, int64_t min, int64_t max, int64_t *out, struct jerr *e)
{
	static const double scales[10] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6,
	    1e7, 1e8, 1e9 };
	char p[JPATH_MAX], lo[32], hi[32];
	double d, scale = scales[decimals < 0 ? 0 : decimals > 9 ? 9 : decimals];
	const cJSON *v;
	int64_t k = 0;
	int rc;

	if ((v = member(obj, path, key, flags, p, &rc, e)) == NULL)
		return rc;
	if (!cJSON_IsNumber(v))
		return wrong_type(at(p, path, key), flags, "a number", e);
	d = v->valuedouble;
	/*
	 * cJSON reads with strtod, which gives the double nearest the text;
	 * k / scale in doubles is correctly rounded too, so the two are equal
	 * exactly when the text had no more decimals than allowed.  Past
	 * 2^53 units no count is exact: out of any range here (NaN too).
	 */
	if (fabs(d) * scale <= EXACT_MAX) {
		k = llround(d * scale);
		if (!(flags & JR_ROUND) && (double)k / scale != d)
			return jerr_set(e, at(p, path, key),
			    "must have at most %d decimals", decimals);
		if (k >= min && k <= max) {
			*out = k;
			return 1;
		}
	}
	fixed_text(lo, min, decimals);
	fixed_text(hi, max, decimals);
	return jerr_set(e, at(p, path, key), "must be between %s and %s", lo,
	    hi);
}

int
jr_str(const cJSON *obj, const char *path, const char *key, unsigned flags,
    size_t maxlen, const char **out, struct jerr *e)
{
	char p[JPATH_MAX];
	const cJSON *v;
	int rc;

	if ((v = member(obj, path, key, flags, p, &rc, e)) == NULL)
		return rc;
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return wrong_type(at(p, path, key), flags, "a string", e);
	if (strlen(v->valuestring) > maxlen)
		return jerr_set(e, at(p, path, key),
		    "must be at most %zu bytes", maxlen);
	*out = v->valuestring;
	return 1;
}

int
jr_enum(const cJSON *obj, const char *path, const char *key, unsigned flags,
    const char *const *names, int *out, struct jerr *e)
{
	char p[JPATH_MAX], list[256];
	const cJSON *v;
	size_t off = 0;
	int rc, i;

	if ((v = member(obj, path, key, flags, p, &rc, e)) == NULL)
		return rc;
	for (i = 0; names[i] != NULL; i++) {
		if (cJSON_IsString(v) && strcmp(v->valuestring, names[i]) == 0) {
			*out = i;
			return 1;
		}
	}
	/* "a, b or c" */
	list[0] = '\0';
	for (i = 0; names[i] != NULL && off < sizeof(list); i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
		    i == 0 ? "" : names[i + 1] == NULL ? " or " : ", ", names[i]);
	return jerr_set(e, at(p, path, key), "must be %s", list);
}

int
jr_bool(const cJSON *obj, const char *path, const char *key, unsigned flags,
    int *out, struct jerr *e)
{
	char p[JPATH_MAX];
	const cJSON *v;
	int rc;

	if ((v = member(obj, path, key, flags, p, &rc, e)) == NULL)
		return rc;
	if (!cJSON_IsBool(v))
		return wrong_type(at(p, path, key), flags, "true or false", e);
	*out = cJSON_IsTrue(v);
	return 1;
}

int
jr_time(const cJSON *obj, const char *path, const char *key, unsigned flags,
    int64_t *out, struct jerr *e)
{
	char p[JPATH_MAX];
	const cJSON *v;
	int rc;

	if ((v = member(obj, path, key, flags, p, &rc, e)) == NULL)
		return rc;
	if (!cJSON_IsString(v) || v->valuestring == NULL ||
	    rfc3339_parse(v->valuestring, strlen(v->valuestring), out) != 0)
		return wrong_type(at(p, path, key), flags,
		    "an RFC 3339 time like 2026-11-22T08:00:00Z", e);
	return 1;
}

int
jr_array(const cJSON *obj, const char *path, const char *key, unsigned flags,
    size_t max, const cJSON **out, size_t *n, struct jerr *e)
{
	char p[JPATH_MAX];
	const cJSON *v;
	int rc;

	if ((v = member(obj, path, key, flags, p, &rc, e)) == NULL)
		return rc;
	if (!cJSON_IsArray(v))
		return wrong_type(at(p, path, key), flags, "an array", e);
	*n = (size_t)cJSON_GetArraySize(v);
	if (*n > max)
		return jerr_set(e, at(p, path, key),
		    "must have at most %zu entries", max);
	*out = v;
	return 1;
}

/* Whether name is in the NULL-terminated list (a NULL list: no). */
static int
listed(const char *const *list, const char *name)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		if (streq(list[i], name))
			return 1;
	return 0;
}

int
jr_keys(const cJSON *obj, const char *path, const char *const *allowed,
    const char *const *more, struct jerr *e)
{
	char p[JPATH_MAX];
	const cJSON *m;

	if (!cJSON_IsObject(obj))
		return jerr_set(e, path, "must be an object");
	if (allowed == NULL)
		return 0;
	cJSON_ArrayForEach(m, obj) {
		const char *name = m->string ? m->string : "";

		if (!listed(allowed, name) && !listed(more, name)) {
			jpath_key(p, path, name);
			return jerr_set(e, p, "unknown key");
		}
	}
	return 0;
}

int
jr_object(const cJSON *obj, const char *path, const char *key, unsigned flags,
    const char *const *allowed, const cJSON **out, struct jerr *e)
{
	char p[JPATH_MAX];
	const cJSON *v;
	int rc;

	if ((v = member(obj, path, key, flags, p, &rc, e)) == NULL)
		return rc;
	if (!cJSON_IsObject(v))
		return wrong_type(at(p, path, key), flags, "an object", e);
	if (jr_keys(v, at(p, path, key), allowed, NULL, e) != 0)
		return -1;
	*out = v;
	return 1;
}
