/*
 * plate.h - licence plate syntax.
 *
 * A plate is 1 to 16 characters of A-Z, 0-9, '-' and space, folded to
 * upper case.  Leading and trailing spaces are not part of a plate; inner
 * spaces are kept as given ("B-XY 123").
 */
#ifndef PARKD_PLATE_H
#define PARKD_PLATE_H

#include <stddef.h>

#define PLATE_MAX 16
#define PLATE_BUFSZ (PLATE_MAX + 1)

/*
 * Writes the canonical form of the plate in s[0..len) to out.  Returns 0,
 * or -1 when s is not a valid plate (out is then an empty string).
 */
int plate_normalize(const char *s, size_t len, char out[PLATE_BUFSZ]);

#endif
