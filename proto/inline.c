/* inline.c - inline commands: METHOD [name=value ...] (see inline.h). */
#include "inline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "utf8.h"

/* Tokens quoted in error messages are clipped to this many bytes. */
#define INLINE_CLIP 40

struct iparse {
	const char *s;
	size_t len;
	size_t pos;
	char *errmsg;
	size_t errlen;
	const char *const *positional;	/* names bare words fill, in order */
};

static int
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_name_char(char c, int dash)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || (dash && c == '-');
}

static pk_err ifail(struct iparse *ip, pk_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static pk_err
ifail(struct iparse *ip, pk_err e, const char *fmt, ...)
{
	va_list ap;

	if (ip->errlen == 0)
		return e;
	va_start(ap, fmt);
	vsnprintf(ip->errmsg, ip->errlen, fmt, ap);
	va_end(ap);
	return e;
}

/*
 * Copies the n bytes at s into dst (INLINE_CLIP + 4 bytes) for a message,
 * clipped at a UTF-8 character boundary so the message stays valid.
 */
static void
clip(char *dst, const char *s, size_t n)
{
	int more = n > INLINE_CLIP;

	if (more) {
		n = INLINE_CLIP;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, s, n);
	memcpy(dst + n, more ? "..." : "", more ? 4 : 1);
}

/* Index just past the closing quote of the string opening at i, or 0. */
static size_t
skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

/*
 * Index just past the bracket closing the one at i, skipping quoted
 * strings; 0 if it is not closed.  Mismatched kinds ("[}") are left to
 * the JSON parser, which refuses them.  No recursion: only a counter.
 */
static size_t
skip_brackets(const char *s, size_t len, size_t i)
{
	size_t depth = 0;

	while (i < len) {
		char c = s[i];

		if (c == '"') {
			size_t j = skip_string(s, len, i);

			if (j == 0)
				return 0;
			i = j;
			continue;
		}
		if (c == '[' || c == '{') {
			depth++;
		} else if (c == ']' || c == '}') {
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return 0;
}

static int
opens_json(char c)
{
	return c == '"' || c == '[' || c == '{';
}

/*
 * Where the quoted or bracketed value opening at start would end as a
 * token of its own: just past its closing quote or bracket when a space,
 * a tab or the end of the line follows that; 0 otherwise.
 */
static size_t
json_token_end(const char *s, size_t len, size_t start)
{
	size_t end;

	if (s[start] == '"')
		end = skip_string(s, len, start);
	else
		end = skip_brackets(s, len, start);
	if (end == 0 || (end < len && !is_ws(s[end])))
		return 0;
	return end;
}

/*
 * Parses the value at ip->pos and leaves ip->pos just past it.  Returns
 * PK_OK with *out set, or an error (only PK_E_INTERNAL: any text is a
 * value).
 *
 * protocol.md: a value that parses as JSON is that, anything else is a
 * bare string.  A value opening with '"', '[' or '{' is JSON when the
 * text up to its closing quote or bracket (quoted strings skipped, so it
 * may hold spaces: plate="B-XY 123", needs=[1, 2]) is JSON by json_parse's
 * strict rules and a space, a tab or the end of the line follows it.
 * Otherwise it is read like any other value, up to the next space or tab:
 * a JSON number, true, false or null when it is one, else the string as
 * typed.  So reference=[kiosk-1], method="ping, method="pi"ng,
 * o={"a":1}junk, l=[1,] and o={"a":1,"a":2} are strings, quotes and
 * brackets included.  Such a value ends at its first space even when a
 * quote or bracket is still open: in x="a b, x is the string "a and b is
 * the next token (a positional value or an error); in x=[1, 2,], x is
 * "[1," and "2,]" comes next.  Taking the rest of the line instead would
 * swallow the parameters after an unclosed quote.
 */
static pk_err
parse_value(struct iparse *ip, cJSON **out)
{
	const char *s = ip->s;
	size_t start = ip->pos, end = 0;
	struct jerr je = { NULL, 0, 0 };

	*out = NULL;
	if (start < ip->len && opens_json(s[start]))
		end = json_token_end(s, ip->len, start);
	if (end != 0) {
		*out = json_parse(s + start, end - start, "", &je);
		if (*out != NULL) {
			ip->pos = end;
			return PK_OK;
		}
		if (je.nomem)
			return ifail(ip, PK_E_INTERNAL, "out of memory");
	}
	end = start;
	while (end < ip->len && !is_ws(s[end]))
		end++;
	ip->pos = end;
	/* A bare number, true, false or null is that JSON value. */
	if (end > start && strchr("-0123456789tfn", s[start]) != NULL) {
		je = (struct jerr){ NULL, 0, 0 };
		*out = json_parse(s + start, end - start, "", &je);
		if (*out != NULL)
			return PK_OK;
		if (je.nomem)
			return ifail(ip, PK_E_INTERNAL, "out of memory");
	}
	{
		char *copy = strndup(s + start, end - start);

		if (copy == NULL)
			return ifail(ip, PK_E_INTERNAL, "out of memory");
		*out = cJSON_CreateString(copy);
		free(copy);
	}
	if (*out == NULL)
		return ifail(ip, PK_E_INTERNAL, "out of memory");
	return PK_OK;
}

/*
 * Parses the value at ip->pos and adds it to params as name (not taken;
 * copied by cJSON).  named: the line gave the name (for messages).
 */
static pk_err
add_param(struct iparse *ip, cJSON *params, const char *name, int named)
{
	char tok[INLINE_CLIP + 4], qname[INLINE_CLIP + 8];
	cJSON *value;
	pk_err e;

	clip(tok, name, strlen(name));
	snprintf(qname, sizeof qname, "\"%s\"", tok);
	/* At most INLINE_MAX_PARAMS members, so a linear look-up is cheap. */
	if (cJSON_GetObjectItemCaseSensitive(params, name) != NULL)
		return ifail(ip, PK_E_INVALID_PARAMS, named ?
		    "duplicate parameter %s" : "parameter %s given twice (also as a "
		    "bare word)", qname);
	e = parse_value(ip, &value);
	if (e != PK_OK)
		return e;
	if (!cJSON_AddItemToObject(params, name, value)) {
		cJSON_Delete(value);
		return ifail(ip, PK_E_INTERNAL, "out of memory");
	}
	return PK_OK;
}

/* Parses one name=value (or a bare word) at ip->pos into params. */
static pk_err
parse_param(struct iparse *ip, cJSON *params)
{
	const char *s = ip->s;
	size_t start = ip->pos, i;
	char tok[INLINE_CLIP + 4];
	char *name;
	pk_err e;

	while (ip->pos < ip->len && !is_ws(s[ip->pos]) && s[ip->pos] != '=')
		ip->pos++;
	if ((ip->pos >= ip->len || s[ip->pos] != '=' ||
	    opens_json(s[start])) &&
	    ip->positional != NULL && *ip->positional != NULL) {
		/* A bare word: the value of the method's next positional name. */
		ip->pos = start;
		return add_param(ip, params, *ip->positional++, 0);
	}
	if (ip->pos >= ip->len || s[ip->pos] != '=') {
		clip(tok, s + start, ip->pos - start);
		return ifail(ip, PK_E_INVALID_PARAMS,
		    "\"%s\" is not name=value", tok);
	}
	if (ip->pos == start)
		return ifail(ip, PK_E_INVALID_PARAMS,
		    "empty parameter name before '='");
	for (i = start; i < ip->pos; i++) {
		if (!is_name_char(s[i], 1)) {
			clip(tok, s + start, ip->pos - start);
			return ifail(ip, PK_E_INVALID_PARAMS,
			    "invalid parameter name \"%s\" (use letters, digits, "
			    "'_', '-', '.')", tok);
		}
	}
	name = strndup(s + start, ip->pos - start);
	if (name == NULL)
		return ifail(ip, PK_E_INTERNAL, "out of memory");
	ip->pos++;
	e = add_param(ip, params, name, 1);
	free(name);
	return e;
}

pk_err
inline_parse(const char *line, size_t len, inline_positional_fn positional,
    char **method_out, cJSON **params_out, char *errmsg, size_t errlen)
{
	struct iparse ip;
	size_t start, i, bad, nparams = 0;
	char tok[INLINE_CLIP + 4];
	char *method = NULL;
	cJSON *params = NULL;
	pk_err e;

	*method_out = NULL;
	*params_out = NULL;
	ip.s = line;
	ip.len = len;
	ip.pos = 0;
	ip.errmsg = errmsg;
	ip.errlen = errlen;
	ip.positional = NULL;
	if (errlen > 0)
		errmsg[0] = '\0';

	bad = utf8_valid_prefix(line, len);
	if (bad != len)
		return ifail(&ip, PK_E_PARSE, "invalid UTF-8 at byte %zu", bad);
	/* NUL would cut names and bare strings short; no control belongs here. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7F)
			return ifail(&ip, PK_E_INVALID_PARAMS,
			    "control character 0x%02x at byte %zu", c, i);
	}

	while (ip.pos < len && is_ws(line[ip.pos]))
		ip.pos++;
	start = ip.pos;
	while (ip.pos < len && !is_ws(line[ip.pos]))
		ip.pos++;
	if (ip.pos == start)
		return ifail(&ip, PK_E_INVALID_REQUEST, "empty command; try help");
	for (i = start; i < ip.pos; i++) {
		if (!is_name_char(line[i], 0)) {
			clip(tok, line + start, ip.pos - start);
			return ifail(&ip, PK_E_METHOD_NOT_FOUND,
			    "no method \"%s\"; try help", tok);
		}
	}
	method = strndup(line + start, ip.pos - start);
	params = cJSON_CreateObject();
	if (method == NULL || params == NULL) {
		e = ifail(&ip, PK_E_INTERNAL, "out of memory");
		goto fail;
	}
	if (positional != NULL)
		ip.positional = positional(method);
	for (;;) {
		while (ip.pos < len && is_ws(line[ip.pos]))
			ip.pos++;
		if (ip.pos >= len)
			break;
		if (++nparams > INLINE_MAX_PARAMS) {
			e = ifail(&ip, PK_E_INVALID_PARAMS,
			    "more than %d parameters", INLINE_MAX_PARAMS);
			goto fail;
		}
		e = parse_param(&ip, params);
		if (e != PK_OK)
			goto fail;
	}
	*method_out = method;
	*params_out = params;
	return PK_OK;
fail:
	free(method);
	cJSON_Delete(params);
	return e;
}
