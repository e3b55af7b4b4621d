/*
 * utf8.h - strict UTF-8 validation (protocol input, JSON output, names).
 *
 * parkd accepts only well-formed UTF-8 (RFC 3629, Unicode Table 3-7): no
 * overlong forms, no UTF-16 surrogates (U+D800..U+DFFF), nothing above
 * U+10FFFF, no truncated sequences.  cJSON checks none of this, so every
 * line is validated here before it reaches cJSON.  U+0000 is well-formed
 * UTF-8 and is accepted here; callers that cannot carry NUL refuse it.
 */
#ifndef PARKD_UTF8_H
#define PARKD_UTF8_H

#include <stddef.h>

/*
 * Returns 1 if the len bytes at s are well-formed UTF-8, else 0.
 * s need not be NUL-terminated; s may be NULL when len is 0.
 */
int utf8_valid(const char *s, size_t len);

/*
 * Returns how many of the len bytes at s form a well-formed UTF-8 prefix:
 * the offset of the first byte that starts an invalid or truncated
 * sequence, or len when all of it is valid.  Used to repair output strings.
 */
size_t utf8_valid_prefix(const char *s, size_t len);

#endif
