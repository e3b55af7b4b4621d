/* jcheck.c - checked readers for JSON configuration (see jcheck.h). */
#include "jcheck.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
jcheck_object(const cJSON *obj, const char *path,
    const char *const *allowed, struct jerr *e)
{
	const cJSON *m;
	size_t i;
	char p[JPATH_MAX];

	if (!cJSON_IsObject(obj))
		return jerr_set(e, path[0] ? path : "config", "must be an object");
	cJSON_ArrayForEach(m, obj) {
		int ok = allowed == NULL;

		for (i = 0; !ok && allowed[i] != NULL; i++)
			ok = strcmp(allowed[i], m->string) == 0;
		if (!ok) {
			jpath_key(p, path, m->string);
			return jerr_set(e, p, "unknown key");
		}
	}
	return 0;
}

int
jget_int(const cJSON *obj, const char *path, const char *key,
    int64_t min, int64_t max, int64_t *out, struct jerr *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[JPATH_MAX];
	double d;

	if (v == NULL)
		return 0;
	jpath_key(p, path, key);
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
	char p[JPATH_MAX];

	if (v == NULL)
		return 0;
	jpath_key(p, path, key);
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
	char p[JPATH_MAX];

	if (v == NULL)
		return 0;
	jpath_key(p, path, key);
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
	char p[JPATH_MAX];

	if (v == NULL)
		return 0;
	jpath_key(p, path, key);
	if (!cJSON_IsBool(v))
		return jerr_set(e, p, "must be true or false");
	*out = cJSON_IsTrue(v);
	return 0;
}
