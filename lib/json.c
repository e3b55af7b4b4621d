/* json.c - the strict JSON parser and the shared error type (see json.h). */
#include "json.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "poison.h"
#include "streq.h"
#include "utf8.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* ------------------------------------------------------------------ */
/* Messages and paths                                                  */
/* ------------------------------------------------------------------ */

/*
 * The length of the longest prefix of buf[0..n) that does not end inside
 * a UTF-8 sequence: a message or path cut short stays valid UTF-8.
 */
static size_t
utf8_boundary(const char *buf, size_t n)
{
	size_t start = n, need;
	unsigned char c;

	while (start > 0 && n - start < 4 &&
	    ((unsigned char)buf[start - 1] & 0xC0) == 0x80)
		start--;
	if (start == 0)
		return n;
	c = (unsigned char)buf[start - 1];
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	return n - (start - 1) >= need ? n : start - 1;
}

static void jerr_vset(struct jerr *e, const char *path, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

/*
 * When "path: what" does not fit, the path is cut (and ends in "...")
 * before what is: "no such gate" says more than the tail of a long path.
 */
static void
jerr_vset(struct jerr *e, const char *path, const char *fmt, va_list ap)
{
	char what[256];
	size_t wl, pl, room;

	if (e == NULL || e->buf == NULL || e->len == 0)
		return;
	vsnprintf(what, sizeof(what), fmt, ap);
	what[utf8_boundary(what, strlen(what))] = '\0';
	wl = strlen(what);
	pl = path != NULL ? strlen(path) : 0;
	if (pl == 0)
		snprintf(e->buf, e->len, "%s", what);
	else if (pl + 2 + wl < e->len || e->len < wl + 2 + 4)
		snprintf(e->buf, e->len, "%s: %s", path, what);
	else {
		room = utf8_boundary(path, e->len - 1 - wl - 2 - 3);
		snprintf(e->buf, e->len, "%.*s...: %s", (int)room, path, what);
	}
	e->buf[utf8_boundary(e->buf, strlen(e->buf))] = '\0';
}

int
jerr_set(struct jerr *e, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	jerr_vset(e, path, fmt, ap);
	va_end(ap);
	return -1;
}

int
jerr_nomem(struct jerr *e, const char *path)
{
	if (e != NULL)
		e->nomem = 1;
	return jerr_set(e, path, "out of memory");
}

static void jpath_fmt(char buf[JPATH_MAX], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
jpath_fmt(char buf[JPATH_MAX], const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, JPATH_MAX, fmt, ap);
	va_end(ap);
	if (n >= 0 && n < JPATH_MAX)
		return;
	/* Cut short: say so, so that the message does not mislead. */
	memcpy(buf + utf8_boundary(buf, JPATH_MAX - 4), "...", 4);
}

void
jpath_key(char buf[JPATH_MAX], const char *path, const char *key)
{
	size_t pl, kl;

	if (key == NULL) {
		jpath_fmt(buf, "%s", path ? path : "");
		return;
	}
	/* An empty name must still show in the path. */
	if (key[0] == '\0')
		key = "\"\"";
	pl = path != NULL ? strlen(path) : 0;
	kl = strlen(key);
	/* No printf when it fits. */
	if (pl + 1 + kl < JPATH_MAX) {
		if (pl > 0) {
			memcpy(buf, path, pl);
			buf[pl++] = '.';
		}
		memcpy(buf + pl, key, kl + 1);
		return;
	}
	if (pl == 0)
		jpath_fmt(buf, "%s", key);
	else
		jpath_fmt(buf, "%s.%s", path, key);
}

void
jpath_index(char buf[JPATH_MAX], const char *path, size_t i)
{
	jpath_fmt(buf, "%s[%zu]", path ? path : "", i);
}

/* ------------------------------------------------------------------ */
/* The validating scanner                                              */
/* ------------------------------------------------------------------ */

/*
 * State of one scan.  The scanner only validates and records spans; it
 * builds nothing, so cJSON is never handed a text that is not RFC 8259.
 */
struct scan {
	const char *s;
	size_t len;
	size_t pos;		/* next byte to look at */
	struct json_raw *raw;	/* spans to record, or NULL */
	size_t nelems;		/* elements of a top-level array */
	const char *what;	/* why the scan failed */
	size_t at;		/* where it failed */
	int nomem;		/* it failed on an allocation */
};

static int scan_value(struct scan *sc, int depth, long slot);

static int
scan_fail(struct scan *sc, const char *what)
{
	sc->what = what;
	sc->at = sc->pos;
	return -1;
}

/* RFC 8259 whitespace is exactly these four bytes. */
static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
skip_ws(struct scan *sc)
{
	while (sc->pos < sc->len && is_ws(sc->s[sc->pos]))
		sc->pos++;
}

/* Reads the 4 hex digits at p (bounds checked by the caller); -1 if bad. */
static long
hex4(const char *p)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		int h = hex_digit(p[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/*
 * Scans a string starting at its opening quote.  Control characters,
 * unknown escapes, \u0000 (cJSON would cut the string there) and
 * unpaired surrogate escapes are refused.  UTF-8 was checked before.
 */
static int
scan_string(struct scan *sc)
{
	sc->pos++;
	while (sc->pos < sc->len) {
		unsigned char c = (unsigned char)sc->s[sc->pos];
		long u;

		if (c == '"') {
			sc->pos++;
			return 0;
		}
		if (c < 0x20)
			return scan_fail(sc, "control character in string");
		if (c != '\\') {
			sc->pos++;
			continue;
		}
		if (sc->pos + 1 >= sc->len)
			break;
		switch (sc->s[sc->pos + 1]) {
		case '"': case '\\': case '/': case 'b':
		case 'f': case 'n': case 'r': case 't':
			sc->pos += 2;
			continue;
		case 'u':
			break;
		default:
			return scan_fail(sc, "invalid escape in string");
		}
		if (sc->len - sc->pos < 6 || (u = hex4(sc->s + sc->pos + 2)) < 0)
			return scan_fail(sc, "invalid \\u escape in string");
		if (u == 0)
			return scan_fail(sc, "\\u0000 is not allowed in strings");
		if (u >= 0xDC00 && u <= 0xDFFF)
			return scan_fail(sc, "lone low surrogate escape in string");
		if (u >= 0xD800 && u <= 0xDBFF) {
			long lo;

			if (sc->len - sc->pos < 12 || sc->s[sc->pos + 6] != '\\' ||
			    sc->s[sc->pos + 7] != 'u' ||
			    (lo = hex4(sc->s + sc->pos + 8)) < 0xDC00 || lo > 0xDFFF)
				return scan_fail(sc,
				    "high surrogate escape without a low one");
			sc->pos += 6;
		}
		sc->pos += 6;
	}
	return scan_fail(sc, "unterminated string");
}

/*
 * Whether the string body s[a, b) (escapes not yet decoded, validated by
 * scan_string) means the ASCII name key.  Names may be spelled with
 * escapes ("\u0069d"), and cJSON decodes them, so compare decoded text.
 */
static int
key_is(const char *s, size_t a, size_t b, const char *key)
{
	size_t k = 0;

	while (a < b) {
		long c = (unsigned char)s[a];

		if (c == '\\') {
			char e = s[a + 1];

			if (e == 'u') {
				c = hex4(s + a + 2);
				a += 6;
			} else {
				c = e == 'b' ? '\b' : e == 'f' ? '\f' :
				    e == 'n' ? '\n' : e == 'r' ? '\r' :
				    e == 't' ? '\t' : e;
				a += 2;
			}
		} else {
			a++;
		}
		if (key[k] == '\0' || c != (unsigned char)key[k])
			return 0;
		k++;
	}
	return key[k] == '\0';
}

static int
is_digit(const struct scan *sc)
{
	return sc->pos < sc->len && sc->s[sc->pos] >= '0' &&
	    sc->s[sc->pos] <= '9';
}

static void
skip_digits(struct scan *sc)
{
	while (is_digit(sc))
		sc->pos++;
}

static int
scan_number(struct scan *sc)
{
	if (sc->s[sc->pos] == '-')
		sc->pos++;
	if (!is_digit(sc))
		return scan_fail(sc, "invalid number");
	if (sc->s[sc->pos] == '0') {
		sc->pos++;
		if (is_digit(sc))
			return scan_fail(sc, "leading zero in number");
	} else {
		skip_digits(sc);
	}
	if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
		sc->pos++;
		if (!is_digit(sc))
			return scan_fail(sc, "invalid number: digit expected after '.'");
		skip_digits(sc);
	}
	if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
		sc->pos++;
		if (sc->pos < sc->len && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
			sc->pos++;
		if (!is_digit(sc))
			return scan_fail(sc, "invalid number: digit expected in exponent");
		skip_digits(sc);
	}
	return 0;
}

static int
scan_literal(struct scan *sc, const char *word)
{
	size_t n = strlen(word);

	if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
		return scan_fail(sc, "invalid literal");
	sc->pos += n;
	return 0;
}

/* Makes raw->spans[slot] exist (slot < raw->max is guaranteed). */
static int
span_slot(struct scan *sc, size_t slot)
{
	struct json_raw *raw = sc->raw;
	struct json_span *ns;
	size_t n;

	if (slot < raw->nspans)
		return 0;
	n = raw->nspans ? raw->nspans * 2 : 8;
	while (n <= slot)
		n *= 2;
	if (n > raw->max)
		n = raw->max;
	ns = realloc(raw->spans, n * sizeof *ns);
	if (ns == NULL) {
		sc->nomem = 1;
		return scan_fail(sc, "out of memory");
	}
	memset(ns + raw->nspans, 0, (n - raw->nspans) * sizeof *ns);
	raw->spans = ns;
	raw->nspans = n;
	return 0;
}

static int
too_deep(struct scan *sc, int depth)
{
	if (depth <= JSON_MAX_DEPTH)
		return 0;
	return scan_fail(sc, "nested too deep (more than " STR(JSON_MAX_DEPTH)
	    " levels)");
}

/*
 * Scans an object at depth (its own level).  When slot >= 0 the object is
 * a top-level one and the raw text of its raw->key value goes to
 * raw->spans[slot].
 */
static int
scan_object(struct scan *sc, int depth, long slot)
{
	if (too_deep(sc, depth) != 0)
		return -1;
	sc->pos++;
	skip_ws(sc);
	if (sc->pos < sc->len && sc->s[sc->pos] == '}') {
		sc->pos++;
		return 0;
	}
	for (;;) {
		size_t ka, kb, va;

		skip_ws(sc);
		if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
			return scan_fail(sc, "member name expected");
		ka = sc->pos + 1;
		if (scan_string(sc) != 0)
			return -1;
		kb = sc->pos - 1;
		skip_ws(sc);
		if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
			return scan_fail(sc, "':' expected");
		sc->pos++;
		skip_ws(sc);
		va = sc->pos;
		if (scan_value(sc, depth, -1) != 0)
			return -1;
		if (slot >= 0 && key_is(sc->s, ka, kb, sc->raw->key)) {
			if (span_slot(sc, (size_t)slot) != 0)
				return -1;
			sc->raw->spans[slot].off = va;
			sc->raw->spans[slot].len = sc->pos - va;
		}
		skip_ws(sc);
		if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
			sc->pos++;
			continue;
		}
		if (sc->pos < sc->len && sc->s[sc->pos] == '}') {
			sc->pos++;
			return 0;
		}
		return scan_fail(sc, "',' or '}' expected");
	}
}

/*
 * Scans an array at depth.  A top-level array has its elements counted
 * and, when recording, each object element records in its own slot.
 */
static int
scan_array(struct scan *sc, int depth, int top)
{
	size_t i = 0;

	if (too_deep(sc, depth) != 0)
		return -1;
	sc->pos++;
	skip_ws(sc);
	if (sc->pos < sc->len && sc->s[sc->pos] == ']') {
		sc->pos++;
		return 0;
	}
	for (;; i++) {
		/* Past max the caller refuses the text anyway: no slot. */
		long slot = top && sc->raw != NULL && i < sc->raw->max ?
		    (long)i : -1;

		if (scan_value(sc, depth, slot) != 0)
			return -1;
		if (top)
			sc->nelems = i + 1;
		skip_ws(sc);
		if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
			sc->pos++;
			continue;
		}
		if (sc->pos < sc->len && sc->s[sc->pos] == ']') {
			sc->pos++;
			return 0;
		}
		return scan_fail(sc, "',' or ']' expected");
	}
}

/* Scans one value; depth is the nesting level of its container (0 at top). */
static int
scan_value(struct scan *sc, int depth, long slot)
{
	skip_ws(sc);
	if (sc->pos >= sc->len)
		return scan_fail(sc, "unexpected end of input");
	switch (sc->s[sc->pos]) {
	case '{':
		return scan_object(sc, depth + 1, slot);
	case '[':
		return scan_array(sc, depth + 1, 0);
	case '"':
		return scan_string(sc);
	case 't':
		return scan_literal(sc, "true");
	case 'f':
		return scan_literal(sc, "false");
	case 'n':
		return scan_literal(sc, "null");
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return scan_number(sc);
	default:
		return scan_fail(sc, "unexpected character");
	}
}

/* Scans a whole text: one value and nothing but whitespace after it. */
static int
scan_text(struct scan *sc)
{
	int rc;

	skip_ws(sc);
	if (sc->pos < sc->len && sc->s[sc->pos] == '[')
		rc = scan_array(sc, 1, 1);
	else if (sc->pos < sc->len && sc->s[sc->pos] == '{')
		rc = scan_object(sc, 1, sc->raw != NULL && sc->raw->max > 0 ?
		    0 : -1);
	else
		rc = scan_value(sc, 0, -1);
	if (rc != 0)
		return rc;
	skip_ws(sc);
	if (sc->pos != sc->len)
		return scan_fail(sc, "trailing characters after the JSON value");
	return 0;
}

/* "name: line L, column C: what", columns counting characters. */
static int
syntax_error(const char *s, size_t at, const char *name, const char *what,
    struct jerr *e)
{
	size_t line = 1, col = 1, i;

	for (i = 0; i < at; i++) {
		if (s[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)s[i] & 0xC0) != 0x80) {
			col++;
		}
	}
	return jerr_set(e, name, "line %zu, column %zu: %s", line, col, what);
}

int
json_check(const char *s, size_t len, const char *name, struct json_raw *raw,
    struct jerr *e)
{
	struct scan sc;
	size_t bad;

	if (raw != NULL) {
		raw->spans = NULL;
		raw->nspans = 0;
		raw->nelems = 0;
	}
	bad = utf8_valid_prefix(s, len);
	if (bad != len)
		return syntax_error(s, bad, name, "invalid UTF-8", e);
	memset(&sc, 0, sizeof sc);
	sc.s = s;
	sc.len = len;
	sc.raw = raw;
	if (scan_text(&sc) != 0) {
		if (sc.nomem)
			return jerr_nomem(e, name);
		return syntax_error(s, sc.at, name, sc.what, e);
	}
	if (raw != NULL)
		raw->nelems = sc.nelems;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The scratch arena                                                   */
/* ------------------------------------------------------------------ */

/* Every block is aligned as malloc's are. */
#define ARENA_ALIGN	(sizeof(max_align_t))

static _Thread_local struct {
	union {
		max_align_t align;
		unsigned char b[JSON_ARENA_BYTES];
	} mem;
	size_t used;		/* bytes handed out since it was last empty */
	size_t live;		/* blocks handed out and not yet freed */
	int building;		/* json_tree is building a tree */
	int spilled;		/* the tree being built has a block from malloc */
	/*
	 * The last tree json_tree built when it is all the arena holds, and
	 * its blocks: json_tree_free then empties the arena at once.
	 */
	const cJSON *whole;
	size_t whole_blocks;
} arena;

static int
in_arena(const void *p)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)arena.mem.b;

	return a >= lo && a - lo < JSON_ARENA_BYTES;
}

static void *
arena_malloc(size_t n)
{
	size_t need;
	void *p;

	if (!arena.building)
		return malloc(n);
	need = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
	if (n > JSON_ARENA_BYTES || need > JSON_ARENA_BYTES - arena.used) {
		arena.spilled = 1;
		return malloc(n);
	}
	p = arena.mem.b + arena.used;
	arena.used += need;
	arena.live++;
	MEM_UNPOISON(p, n);
	return p;
}

static void
arena_free(void *p)
{
	if (p == NULL || !in_arena(p)) {
		free(p);
		return;
	}
	/* Under ASan what was handed out is unreadable again once empty. */
	if (--arena.live == 0) {
		MEM_POISON(arena.mem.b, arena.used);
		arena.used = 0;
	}
}

void
json_arena_install(void)
{
	static cJSON_Hooks hooks = { arena_malloc, arena_free };

	MEM_POISON(arena.mem.b, sizeof(arena.mem.b));
	cJSON_InitHooks(&hooks);
}

void
json_tree_free(cJSON *tree)
{
	if (tree == NULL)
		return;
	if (tree == arena.whole) {
		arena.whole = NULL;
		/* Nothing was taken out of it (freed apart): all of it goes. */
		if (arena.live == arena.whole_blocks) {
			MEM_POISON(arena.mem.b, arena.used);
			arena.used = 0;
			arena.live = 0;
			return;
		}
	}
	cJSON_Delete(tree);
}

size_t
json_arena_live(void)
{
	return arena.live;
}

/* ------------------------------------------------------------------ */
/* The tree                                                            */
/* ------------------------------------------------------------------ */

/*
 * Builds cJSON's tree of a text the scanner accepted, in one pass and
 * without cJSON's parser: the grammar, the escapes, the surrogate pairs
 * and the depth are known to be right, so nothing here checks them again
 * (and cJSON's parser, which copies each number to a 64-byte buffer,
 * would stop inside a longer one).  Nodes and strings come from
 * cJSON_malloc, as cJSON_Delete frees them; siblings are linked as cJSON
 * links them (next, prev, and the first child's prev is the last).
 */
struct build {
	const char *s;
	size_t len;
	size_t pos;
};

static void
b_skip_ws(struct build *b)
{
	while (b->pos < b->len && (b->s[b->pos] == ' ' || b->s[b->pos] == '\t' ||
	    b->s[b->pos] == '\n' || b->s[b->pos] == '\r'))
		b->pos++;
}

static cJSON *
b_node(int type)
{
	cJSON *n = cJSON_malloc(sizeof(*n));

	if (n != NULL) {
		memset(n, 0, sizeof(*n));
		n->type = type;
	}
	return n;
}

/* The string at b->pos (its opening quote), decoded; NULL when out of memory. */
static char *
b_string(struct build *b)
{
	size_t start = ++b->pos, end = start;
	char *out, *o;

	/* The scanner saw a closing quote: find it, skipping escapes. */
	while (b->s[end] != '"')
		end += b->s[end] == '\\' ? 2 : 1;
	/* Decoding only shortens: \uXXXX is at most 3 bytes, a pair 4. */
	if ((out = cJSON_malloc(end - start + 1)) == NULL)
		return NULL;
	o = out;
	while (b->pos < end) {
		const char *p = b->s + b->pos;
		const char *q = memchr(p, '\\', end - b->pos);
		size_t plain = q != NULL ? (size_t)(q - p) : end - b->pos;
		unsigned long u;

		memcpy(o, p, plain);
		o += plain;
		b->pos += plain;
		if (b->pos >= end)
			break;
		switch (b->s[b->pos + 1]) {
		case 'b': *o++ = '\b'; b->pos += 2; continue;
		case 'f': *o++ = '\f'; b->pos += 2; continue;
		case 'n': *o++ = '\n'; b->pos += 2; continue;
		case 'r': *o++ = '\r'; b->pos += 2; continue;
		case 't': *o++ = '\t'; b->pos += 2; continue;
		case 'u': break;
		default: *o++ = b->s[b->pos + 1]; b->pos += 2; continue;
		}
		u = (unsigned long)hex4(b->s + b->pos + 2);
		b->pos += 6;
		if (u >= 0xD800 && u <= 0xDBFF) {
			u = 0x10000 + ((u - 0xD800) << 10) +
			    ((unsigned long)hex4(b->s + b->pos + 2) - 0xDC00);
			b->pos += 6;
		}
		if (u < 0x80) {
			*o++ = (char)u;
		} else if (u < 0x800) {
			*o++ = (char)(0xC0 | (u >> 6));
			*o++ = (char)(0x80 | (u & 0x3F));
		} else if (u < 0x10000) {
			*o++ = (char)(0xE0 | (u >> 12));
			*o++ = (char)(0x80 | ((u >> 6) & 0x3F));
			*o++ = (char)(0x80 | (u & 0x3F));
		} else {
			*o++ = (char)(0xF0 | (u >> 18));
			*o++ = (char)(0x80 | ((u >> 12) & 0x3F));
			*o++ = (char)(0x80 | ((u >> 6) & 0x3F));
			*o++ = (char)(0x80 | (u & 0x3F));
		}
	}
	*o = '\0';
	b->pos = end + 1;
	return out;
}

/*
 * Whether the n bytes at p are an optional '-' and digits only (the
 * scanner checked the grammar: no leading zeros); their value in *d.
 */
static int
int_text(const char *p, size_t n, double *d)
{
	size_t i = p[0] == '-';
	int64_t v = 0;

	if (i == n)
		return 0;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (p[i] - '0');
	}
	*d = p[0] == '-' ? -(double)v : (double)v;
	return 1;
}

/*
 * The double of the number text at p (n bytes): 0, or -1 when out of
 * memory.  An integer of at most 15 characters (ids, times, amounts:
 * most numbers of a request) is exact as a double and needs no strtod,
 * which costs ~450 instructions; "-0" stays -0.0, as strtod has it.
 */
static int
number_value(const char *p, size_t n, double *d)
{
	char small[64], *text = small;

	if (n <= 15 && int_text(p, n, d))
		return 0;
	/* strtod wants a terminated string; the text may not be. */
	if (n >= sizeof(small) && (text = malloc(n + 1)) == NULL)
		return -1;
	memcpy(text, p, n);
	text[n] = '\0';
	*d = strtod(text, NULL);
	if (text != small)
		free(text);
	return 0;
}

/* A number as cJSON keeps it: the double, and an int clamped to int's range. */
static cJSON *
b_number(struct build *b)
{
	size_t start = b->pos;
	double d;
	cJSON *item;

	while (b->pos < b->len && ((b->s[b->pos] >= '0' && b->s[b->pos] <= '9') ||
	    b->s[b->pos] == '-' || b->s[b->pos] == '+' || b->s[b->pos] == '.' ||
	    b->s[b->pos] == 'e' || b->s[b->pos] == 'E'))
		b->pos++;
	if (number_value(b->s + start, b->pos - start, &d) != 0 ||
	    (item = b_node(cJSON_Number)) == NULL)
		return NULL;
	item->valuedouble = d;
	if (d >= (double)INT_MAX)
		item->valueint = INT_MAX;
	else if (d <= (double)INT_MIN)
		item->valueint = INT_MIN;
	else
		item->valueint = (int)d;
	return item;
}

static cJSON *b_value(struct build *b);

/* An array or object at b->pos; its members' names when keyed. */
static cJSON *
b_container(struct build *b, int keyed)
{
	cJSON *item = b_node(keyed ? cJSON_Object : cJSON_Array), *last = NULL;

	if (item == NULL)
		return NULL;
	b->pos++;
	b_skip_ws(b);
	if (b->s[b->pos] == (keyed ? '}' : ']')) {
		b->pos++;
		return item;
	}
	for (;;) {
		char *name = NULL;
		cJSON *v;

		if (keyed) {
			b_skip_ws(b);
			if ((name = b_string(b)) == NULL)
				goto fail;
			b_skip_ws(b);
			b->pos++;		/* ':' */
		}
		if ((v = b_value(b)) == NULL) {
			cJSON_free(name);
			goto fail;
		}
		v->string = name;
		if (last == NULL) {
			item->child = v;
		} else {
			last->next = v;
			v->prev = last;
		}
		last = v;
		item->child->prev = last;
		b_skip_ws(b);
		if (b->s[b->pos++] != ',')
			return item;	/* '}' or ']' */
	}
fail:
	cJSON_Delete(item);
	return NULL;
}

static cJSON *
b_value(struct build *b)
{
	cJSON *item;
	char *str;

	b_skip_ws(b);
	switch (b->s[b->pos]) {
	case '{':
		return b_container(b, 1);
	case '[':
		return b_container(b, 0);
	case '"':
		if ((str = b_string(b)) == NULL)
			return NULL;
		if ((item = b_node(cJSON_String)) == NULL) {
			cJSON_free(str);
			return NULL;
		}
		item->valuestring = str;
		return item;
	case 't':
		b->pos += 4;
		if ((item = b_node(cJSON_True)) != NULL)
			item->valueint = 1;
		return item;
	case 'f':
		b->pos += 5;
		return b_node(cJSON_False);
	case 'n':
		b->pos += 4;
		return b_node(cJSON_NULL);
	default:
		return b_number(b);
	}
}

/* ------------------------------------------------------------------ */
/* Duplicate member names                                              */
/* ------------------------------------------------------------------ */

/* Objects of at most this many members are checked without allocating. */
#define DUPS_SMALL 16
/* And those of at most this many pair by pair (at most 28 comparisons). */
#define DUPS_PAIRWISE 8

struct dups {
	const char **names;	/* scratch for the names of one object */
	size_t cap;
	const char *small[DUPS_SMALL];	/* the first scratch */
	/* The containers from the root down to the one being checked. */
	const cJSON *stack[JSON_MAX_DEPTH + 1];
	int depth;		/* of the object with the duplicate */
	const char *name;	/* the duplicate name */
};

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Finds a duplicate member name anywhere under item, a container at depth
 * (the scanner bounds it): sorting each object's names makes it O(n log n)
 * per object, where pairwise checks would let one 64 KiB line cost ~10^8
 * comparisons.  Names cannot contain NUL (\u0000 is refused), so strcmp
 * compares them exactly.  0, 1 with d->depth and d->name set, or -1 when
 * out of memory.
 */
static int
find_dup(const cJSON *item, int depth, struct dups *d)
{
	const cJSON *c;
	size_t n = 0, i;
	int rc;

	d->stack[depth] = item;
	for (c = item->child; c != NULL; c = c->next) {
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) &&
		    (rc = find_dup(c, depth + 1, d)) != 0)
			return rc;
		n++;
	}
	if (!cJSON_IsObject(item) || n < 2)
		return 0;
	if (n <= DUPS_PAIRWISE) {
		/* A request's few members: comparing pairs beats sorting. */
		for (c = item->child; c != NULL; c = c->next) {
			for (const cJSON *o = c->next; o != NULL; o = o->next) {
				if (streq(c->string ? c->string : "",
				    o->string ? o->string : "")) {
					d->depth = depth;
					d->name = o->string ? o->string : "";
					return 1;
				}
			}
		}
		return 0;
	}
	if (n > d->cap) {
		const char **nv = realloc(d->names == d->small ? NULL : d->names,
		    n * sizeof *nv);

		if (nv == NULL)
			return -1;
		d->names = nv;
		d->cap = n;
	}
	i = 0;
	for (c = item->child; c != NULL; c = c->next)
		d->names[i++] = c->string ? c->string : "";
	qsort(d->names, n, sizeof *d->names, cmp_names);
	for (i = 1; i < n; i++) {
		if (strcmp(d->names[i - 1], d->names[i]) == 0) {
			d->depth = depth;
			d->name = d->names[i];
			return 1;
		}
	}
	return 0;
}

/* "root.a[2].b.name: duplicate key", from the stack find_dup left. */
static int
dup_error(const struct dups *d, const char *root, struct jerr *e)
{
	char p[2][JPATH_MAX];
	int cur = 0;

	snprintf(p[cur], JPATH_MAX, "%s", root);
	for (int k = 1; k <= d->depth; k++) {
		const cJSON *parent = d->stack[k - 1], *c = parent->child;
		size_t i = 0;

		while (c != d->stack[k]) {
			c = c->next;
			i++;
		}
		if (cJSON_IsObject(parent))
			jpath_key(p[!cur], p[cur], c->string);
		else
			jpath_index(p[!cur], p[cur], i);
		cur = !cur;
	}
	jpath_key(p[!cur], p[cur], d->name);
	return jerr_set(e, p[!cur], "duplicate key");
}

cJSON *
json_tree(const char *s, size_t len, const char *root, struct jerr *e)
{
	struct build b = { s, len, 0 };
	struct dups d;
	cJSON *tree;
	int rc = 0;
	size_t live_before = arena.live;

	/* Only for a text the scanner accepted: a NULL is out of memory. */
	arena.whole = NULL;
	arena.spilled = 0;
	arena.building = 1;
	tree = b_value(&b);
	arena.building = 0;
	if (tree == NULL) {
		jerr_nomem(e, root);
		return NULL;
	}
	memset(&d, 0, sizeof d);
	d.names = d.small;
	d.cap = DUPS_SMALL;
	if (cJSON_IsObject(tree) || cJSON_IsArray(tree))
		rc = find_dup(tree, 0, &d);
	if (d.names != d.small)
		free(d.names);
	if (rc == 0) {
		/*
		 * Every block of the tree is in the arena, and nothing else is
		 * (live counts none without the hooks installed: no tree is
		 * made of no blocks).
		 */
		if (live_before == 0 && arena.live > 0 && !arena.spilled) {
			arena.whole = tree;
			arena.whole_blocks = arena.live;
		}
		return tree;
	}
	if (rc < 0)
		jerr_nomem(e, root);
	else
		dup_error(&d, root, e);
	cJSON_Delete(tree);
	return NULL;
}

cJSON *
json_parse(const char *s, size_t len, const char *root, struct jerr *e)
{
	if (json_check(s, len, root, NULL, e) != 0)
		return NULL;
	return json_tree(s, len, root, e);
}
