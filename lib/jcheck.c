/* jcheck.c - checked readers for JSON configuration (see jcheck.h). */
#include "jcheck.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
jerr_set(struct jerr *e, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e == NULL || e->buf == NULL || e->len == 0)
		return -1;
	n = snprintf(e->buf, e->len, "%s: ", path);
	if (n < 0 || (size_t)n >= e->len)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

void
jpath(char *buf, size_t len, const char *path, const char *key)
{
	if (path == NULL || path[0] == '\0')
		snprintf(buf, len, "%s", key);
	else
		snprintf(buf, len, "%s.%s", path, key);
}

void
jpath_index(char *buf, size_t len, const char *path, size_t i)
{
	snprintf(buf, len, "%s[%zu]", path, i);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
jcheck_object(const cJSON *obj, const char *path,
    const char *const *allowed, struct jerr *e)
{
	const cJSON *m;
	const char **names;
	size_t n = 0, i;
	char p[256];

	if (!cJSON_IsObject(obj))
		return jerr_set(e, path[0] ? path : "config", "must be an object");
	cJSON_ArrayForEach(m, obj) {
		int ok = allowed == NULL;

		for (i = 0; !ok && allowed[i] != NULL; i++)
			ok = strcmp(allowed[i], m->string) == 0;
		if (!ok) {
			jpath(p, sizeof(p), path, m->string);
			return jerr_set(e, p, "unknown key");
		}
		n++;
	}
	if (n < 2)
		return 0;
	/* Sorting the names finds duplicates in O(n log n) for big objects. */
	names = malloc(n * sizeof(*names));
	if (names == NULL)
		return jerr_set(e, path, "out of memory");
	i = 0;
	cJSON_ArrayForEach(m, obj)
		names[i++] = m->string;
	qsort(names, n, sizeof(*names), cmp_names);
	for (i = 1; i < n; i++) {
		if (strcmp(names[i - 1], names[i]) == 0) {
			jpath(p, sizeof(p), path, names[i]);
			free(names);
			return jerr_set(e, p, "duplicate key");
		}
	}
	free(names);
	return 0;
}

int
jget_int(const cJSON *obj, const char *path, const char *key,
    int64_t min, int64_t max, int64_t *out, struct jerr *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];
	double d;

	if (v == NULL)
		return 0;
	jpath(p, sizeof(p), path, key);
	if (!cJSON_IsNumber(v))
		return jerr_set(e, p, "must be an integer");
	d = v->valuedouble;
	if (d != floor(d) || fabs(d) > 9007199254740992.0)
		return jerr_set(e, p, "must be an integer");
	if (d < (double)min || d > (double)max)
		return jerr_set(e, p, "must be between %lld and %lld",
		    (long long)min, (long long)max);
	*out = (int64_t)d;
	return 0;
}

int
jget_number(const cJSON *obj, const char *path, const char *key,
    double min, double max, double *out, struct jerr *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	if (v == NULL)
		return 0;
	jpath(p, sizeof(p), path, key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return jerr_set(e, p, "must be a number");
	if (v->valuedouble < min || v->valuedouble > max)
		return jerr_set(e, p, "must be between %g and %g", min, max);
	*out = v->valuedouble;
	return 0;
}

int
jget_string(const cJSON *obj, const char *path, const char *key,
    int allow_null, const char **out, struct jerr *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	if (v == NULL)
		return 0;
	jpath(p, sizeof(p), path, key);
	if (allow_null && cJSON_IsNull(v)) {
		*out = NULL;
		return 0;
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return jerr_set(e, p, allow_null ? "must be a string or null" :
		    "must be a string");
	*out = v->valuestring;
	return 0;
}

int
jget_bool(const cJSON *obj, const char *path, const char *key, int *out,
    struct jerr *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	if (v == NULL)
		return 0;
	jpath(p, sizeof(p), path, key);
	if (!cJSON_IsBool(v))
		return jerr_set(e, p, "must be true or false");
	*out = cJSON_IsTrue(v);
	return 0;
}
