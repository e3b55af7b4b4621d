/*
 * inline.h - inline commands for people at netcat or telnet
 * (protocol.md section 2, "Inline commands"):
 *
 *     METHOD [name=value ...]
 *
 *     entry gate=north plate="B-XY 123" class=car needs=["ev"]
 *     quote plate=B-XY123 at=2026-11-22T10:00:00Z
 *     help method=entry
 *
 * Pure: a framed line in, a method name and a params object out.
 *
 * METHOD is the first word: letters, digits, '_' and '.'.  Each following
 * space- or tab-separated token is name=value.  The value is JSON when it
 * starts with '"', '[' or '{' and is valid JSON up to its closing quote or
 * bracket, which ends the token (a quoted string with JSON escapes, an
 * array or an object; these may contain spaces), or when the whole bare
 * token is a JSON number, true, false or null; anything else, an unclosed
 * or invalid quoted or bracketed value included, is a bare string up to
 * the next space or tab (so plate=007, with its leading zero, and
 * reference=[kiosk-1] stay strings).  "name=" gives the empty string.
 *
 * A token without '=' (or one that starts with '"', '[' or '{') is a
 * positional value when positional(method) (may be NULL) still names a
 * parameter for it: "help entry" is "help method=entry".  The names are
 * used in order; a bare word past them is an error as before.  JSON values are parsed strictly, as in
 * jsonrpc.h (RFC 8259, no \u0000, no duplicate keys, depth limit).
 */
#ifndef PARKD_INLINE_H
#define PARKD_INLINE_H

#include <stddef.h>

#include <cJSON.h>

#include "perr.h"

/* Most name=value parameters on one inline line. */
#define INLINE_MAX_PARAMS 64

/*
 * Parses one framed inline line (len bytes at line, not necessarily
 * NUL-terminated; not kept).  Leading and trailing spaces/tabs are
 * ignored.
 *
 * On success returns PK_OK, *method_out is a malloc'd NUL-terminated copy
 * of the method name (caller frees with free) and *params_out a cJSON
 * object, possibly empty (caller frees with cJSON_Delete).  Whether the
 * method exists is for the caller to decide.
 *
 * On failure both outputs are set to NULL, errmsg (errlen bytes; may be
 * NULL when errlen is 0) holds a message for people, and the result is:
 *   PK_E_PARSE            the line is not valid UTF-8 (protocol.md: a
 *                         line that is not UTF-8 is a parse_error);
 *   PK_E_INVALID_REQUEST  the line is empty (only spaces and tabs);
 *   PK_E_METHOD_NOT_FOUND the first word is not a possible method name;
 *   PK_E_INVALID_PARAMS   a control character other than tab, a token
 *                         without '=', an empty, malformed or duplicate
 *                         name, more than INLINE_MAX_PARAMS;
 *   PK_E_INTERNAL         allocation failure.
 * Parameter names are letters, digits, '_', '-' and '.'.
 */
typedef const char *const *(*inline_positional_fn)(const char *method);
pk_err inline_parse(const char *line, size_t len, inline_positional_fn positional,
    char **method_out, cJSON **params_out, char *errmsg, size_t errlen);

#endif
