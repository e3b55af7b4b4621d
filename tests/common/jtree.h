/*
 * jtree.h - tests only: a parsed cJSON tree written back through parkd's
 * JSON writer, to compare trees with expected text (unit tests) and to
 * check that what parkd writes reads back as the same value (fuzzing).
 */
#ifndef PARKD_TEST_JTREE_H
#define PARKD_TEST_JTREE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonw.h"

/*
 * Writes a parsed tree back as compact JSON through the project's writer,
 * for comparing trees with expected text: integral numbers below 1e21 as
 * integers, others with the fewest of 15 or 17 digits that read back.
 */
static inline void
jt_write(struct jw *w, const cJSON *j)
{
	const cJSON *c;
	char buf[32];

	if (cJSON_IsObject(j)) {
		jw_obj(w);
		for (c = j->child; c != NULL; c = c->next) {
			jw_keyv(w, c->string);
			jt_write(w, c);
		}
		jw_obj_end(w);
	} else if (cJSON_IsArray(j)) {
		jw_arr(w);
		for (c = j->child; c != NULL; c = c->next)
			jt_write(w, c);
		jw_arr_end(w);
	} else if (cJSON_IsString(j)) {
		jw_str(w, j->valuestring);
	} else if (cJSON_IsNumber(j) && (j->valuedouble != j->valuedouble ||
	    __builtin_isinf(j->valuedouble))) {
		jw_null(w);	/* 1e999 parses as infinity, which JSON cannot say */
	} else if (cJSON_IsNumber(j)) {
		/* Range first: converting an out-of-range double is undefined. */
		if (j->valuedouble > -9.2e18 && j->valuedouble < 9.2e18 &&
		    j->valuedouble == (double)(int64_t)j->valuedouble) {
			jw_int(w, (int64_t)j->valuedouble);
		} else if (j->valuedouble == __builtin_floor(j->valuedouble) &&
		    __builtin_fabs(j->valuedouble) < 1e21) {
			snprintf(buf, sizeof(buf), "%.0f", j->valuedouble);
			jw_raw(w, buf, strlen(buf));
		} else {
			/* The shorter form whenever it reads back exactly. */
			snprintf(buf, sizeof(buf), "%.15g", j->valuedouble);
			if (strtod(buf, NULL) != j->valuedouble)
				snprintf(buf, sizeof(buf), "%.17g", j->valuedouble);
			jw_raw(w, buf, strlen(buf));
		}
	} else if (cJSON_IsBool(j)) {
		jw_bool(w, cJSON_IsTrue(j));
	} else {
		jw_null(w);
	}
}

#endif
