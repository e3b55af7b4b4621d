/*
 * jcheck.h - small checked readers for JSON configuration objects.
 *
 * Every reader reports a failure as one message that starts with the key
 * path ("limits.max_line: must be an integer"), which is what an operator
 * needs to fix a config file.  They never use cJSON's case-insensitive
 * look-ups.
 */
#ifndef PARKD_JCHECK_H
#define PARKD_JCHECK_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "json.h"

/*
 * Checks that obj is an object whose members are all named in allowed
 * (a NULL-terminated list).  Duplicates were refused by json_parse.
 * 0 or -1.
 */
int jcheck_object(const cJSON *obj, const char *path,
    const char *const *allowed, struct jerr *e);

/*
 * Readers of an optional member: when key is absent *out is left alone and
 * 0 is returned.  Wrong type or range: -1 with the message in e.
 */
int jget_int(const cJSON *obj, const char *path, const char *key,
    int64_t min, int64_t max, int64_t *out, struct jerr *e);
int jget_number(const cJSON *obj, const char *path, const char *key,
    double min, double max, double *out, struct jerr *e);
/* *out points into the tree; null is accepted when allow_null (then NULL). */
int jget_string(const cJSON *obj, const char *path, const char *key,
    int allow_null, const char **out, struct jerr *e);
int jget_bool(const cJSON *obj, const char *path, const char *key, int *out,
    struct jerr *e);

#endif
