/*
 * jread.h - the one checked reader of parsed JSON: the configuration, the
 * tariff, journal records and request params all read their trees with
 * these.
 *
 * Every reader takes the object, its key path ("facility.rows[3]") and a
 * member name, and on failure writes one message "path.key: what is
 * wrong" (json.h's struct jerr):
 *
 *	is required			absent, and JR_REQUIRED
 *	must be a string		wrong type ("... or null" with JR_NULL)
 *	must be between 0 and 100	out of range (also fixed-point bounds)
 *	must have at most 3 decimals
 *	must be at most 64 bytes	too long a string
 *	must have at most 256 entries	too long an array
 *	must be entry, exit or both	not one of the names (jr_enum)
 *	unknown key			a member not allowed
 *
 * Member names are compared exactly (never cJSON's case-insensitive
 * look-up).  Duplicate names were refused by the parser (json.h), so the
 * first member of a name is the only one.
 *
 * A NULL key reads obj itself, the value at path (an array element).  A
 * NULL obj has no members.  Every reader returns 1 when the value was
 * there and read into *out, 0 when it is absent (or null with JR_NULL):
 * *out is then left alone, so a default set before stays; -1 on error.
 * Strings and nodes handed back point into the tree.
 */
#ifndef PARKD_JREAD_H
#define PARKD_JREAD_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* Flags of every reader. */
#define JR_REQUIRED	1	/* absent is an error */
#define JR_NULL		2	/* null is as good as absent */
#define JR_ROUND	4	/* jr_fixed: round extra decimals away */

/* An integral number in [min, max]. */
int jr_int(const cJSON *obj, const char *path, const char *key,
    unsigned flags, int64_t min, int64_t max, int64_t *out, struct jerr *e);

/*
 * A decimal number with at most decimals (0..9) digits after the point,
 * as an integer count of 10^-decimals ("1.25" with 3 decimals is 1250)
 * in [min, max] of those units.  The text had more digits exactly when
 * the nearest such count, scaled back, is not the double cJSON read; with
 * JR_ROUND they are rounded away instead of refused.
 */
int jr_fixed(const cJSON *obj, const char *path, const char *key,
    unsigned flags, int decimals, int64_t min, int64_t max, int64_t *out,
    struct jerr *e);

/* A string of at most maxlen bytes. */
int jr_str(const cJSON *obj, const char *path, const char *key,
    unsigned flags, size_t maxlen, const char **out, struct jerr *e);

/* One of the NULL-terminated names (at least two); *out is its index. */
int jr_enum(const cJSON *obj, const char *path, const char *key,
    unsigned flags, const char *const *names, int *out, struct jerr *e);

/* true or false, as 1 or 0. */
int jr_bool(const cJSON *obj, const char *path, const char *key,
    unsigned flags, int *out, struct jerr *e);

/* An RFC 3339 time (rfc3339.h), as Unix seconds. */
int jr_time(const cJSON *obj, const char *path, const char *key,
    unsigned flags, int64_t *out, struct jerr *e);

/* An array of at most max elements; *n gets the count. */
int jr_array(const cJSON *obj, const char *path, const char *key,
    unsigned flags, size_t max, const cJSON **out, size_t *n,
    struct jerr *e);

/*
 * An object whose members are all named in allowed (NULL-terminated; a
 * NULL allowed takes any names).
 */
int jr_object(const cJSON *obj, const char *path, const char *key,
    unsigned flags, const char *const *allowed, const cJSON **out,
    struct jerr *e);

/*
 * Checks that obj (at path) is an object whose members are all named in
 * allowed or in more (may be NULL): for an object two readers share, like
 * the configuration's root.  0 or -1.
 */
int jr_keys(const cJSON *obj, const char *path, const char *const *allowed,
    const char *const *more, struct jerr *e);

#endif
