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
#include "shortcopy.h"
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
	int building;		/* json_parse_ex is building a tree */
	int spilled;		/* the tree being built has a block from malloc */
	/*
	 * The last tree json_parse_ex built when it is all the arena holds, and
	 * its blocks: json_tree_free then empties the arena at once.
	 */
	const cJSON *whole;
	size_t whole_blocks;
} arena;

/* cJSON's hooks are the arena's (they are the whole process's). */
static int arena_hooked;

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
	arena_hooked = 1;
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

/* A tree is about to be built: its blocks come from the arena. */
static void
arena_build_begin(void)
{
	arena.whole = NULL;
	arena.spilled = 0;
	arena.building = 1;
}

/*
 * tree was built (building already off); live_before is what the arena
 * held before.  When every block of the tree is in the arena and nothing
 * else is (live counts none without the hooks installed: no tree is made
 * of no blocks), json_tree_free may empty the arena at once.
 */
static void
arena_build_end(const cJSON *tree, size_t live_before)
{
	if (live_before == 0 && arena.live > 0 && !arena.spilled) {
		arena.whole = tree;
		arena.whole_blocks = arena.live;
	}
}

/* ------------------------------------------------------------------ */
/* The parser                                                          */
/* ------------------------------------------------------------------ */

/*
 * One pass over the text both checks it and, where asked, builds cJSON's
 * tree of it, without cJSON's parser: cJSON alone takes more than RFC
 * 8259, and its parser copies each number to a 64-byte buffer and stops
 * inside a longer one.  Every function takes out: NULL to check only,
 * else where the built value goes.  Nodes and strings come from
 * cJSON_malloc, as cJSON_Delete frees them; siblings are linked as cJSON
 * links them (next, prev, and the first child's prev is the last).  On a
 * failure the value built so far is freed and *out is NULL.
 */
struct parse {
	const char *s;
	size_t len;
	size_t pos;		/* next byte to look at */
	struct json_raw *raw;	/* spans to record, or NULL */
	size_t nelems;		/* elements of a top-level array */
	const char *what;	/* why it failed */
	size_t at;		/* where it failed */
	int nomem;		/* it failed on an allocation */
	/*
	 * A member name repeated, or an object too large to compare its
	 * names pair by pair as they come: find_dup walks the tree (and
	 * writes the message).  Requests have neither, and no walk.
	 */
	int check_dups;
};

/*
 * Objects of at most this many members have their names compared pair by
 * pair as the parser builds them (at most 28 comparisons).
 */
#define DUPS_PAIRWISE 8

static int p_value(struct parse *p, int depth, long slot, cJSON **out);

static int
p_fail(struct parse *p, const char *what)
{
	p->what = what;
	p->at = p->pos;
	return -1;
}

static int
p_nomem(struct parse *p)
{
	p->nomem = 1;
	return p_fail(p, "out of memory");
}

static inline void
skip_ws(struct parse *p)
{
	while (p->pos < p->len && json_is_ws(p->s[p->pos]))
		p->pos++;
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

/* cJSON_malloc, without the call through its hook when that is the arena. */
static void *
p_alloc(size_t n)
{
	return arena_hooked ? arena_malloc(n) : cJSON_malloc(n);
}

static cJSON *
new_node(int type)
{
	cJSON *n = p_alloc(sizeof(*n));

	if (n != NULL) {
		memset(n, 0, sizeof(*n));
		n->type = type;
	}
	return n;
}

/*
 * The length of the escape at p->pos (its backslash): 2, 6, or 12 for a
 * surrogate pair; -1 when it is not one RFC 8259 allows, or is \u0000
 * (cJSON would cut the string there) or a lone surrogate.
 */
static long
escape_len(struct parse *p)
{
	const char *s = p->s + p->pos;
	size_t left = p->len - p->pos;
	long u, lo;

	switch (s[1]) {
	case '"': case '\\': case '/': case 'b':
	case 'f': case 'n': case 'r': case 't':
		return 2;
	case 'u':
		break;
	default:
		return p_fail(p, "invalid escape in string");
	}
	if (left < 6 || (u = hex4(s + 2)) < 0)
		return p_fail(p, "invalid \\u escape in string");
	if (u == 0)
		return p_fail(p, "\\u0000 is not allowed in strings");
	if (u >= 0xDC00 && u <= 0xDFFF)
		return p_fail(p, "lone low surrogate escape in string");
	if (u < 0xD800 || u > 0xDBFF)
		return 6;
	if (left < 12 || s[6] != '\\' || s[7] != 'u' ||
	    (lo = hex4(s + 8)) < 0xDC00 || lo > 0xDFFF)
		return p_fail(p, "high surrogate escape without a low one");
	return 12;
}

/* The bytes that end a plain run in a string (json.h). */
const unsigned char json_string_stop[256] = {
	[0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1,
	[0x06] = 1, [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1,
	[0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1,
	[0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
	[0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1,
	[0x1e] = 1, [0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

/* Writes code point u as UTF-8 at o; returns the end. */
static char *
put_utf8(char *o, unsigned long u)
{
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
	return o;
}

/* Decodes the checked string body s[a, b), escapes in it, into out. */
static void
decode(const char *s, size_t a, size_t b, char *out)
{
	while (a < b) {
		const char *q = memchr(s + a, '\\', b - a);
		size_t plain = q != NULL ? (size_t)(q - (s + a)) : b - a;
		unsigned long u;

		memcpy(out, s + a, plain);
		out += plain;
		a += plain;
		if (a >= b)
			break;
		switch (s[a + 1]) {
		case 'b': *out++ = '\b'; a += 2; continue;
		case 'f': *out++ = '\f'; a += 2; continue;
		case 'n': *out++ = '\n'; a += 2; continue;
		case 'r': *out++ = '\r'; a += 2; continue;
		case 't': *out++ = '\t'; a += 2; continue;
		case 'u': break;
		default: *out++ = s[a + 1]; a += 2; continue;
		}
		u = (unsigned long)hex4(s + a + 2);
		a += 6;
		if (u >= 0xD800 && u <= 0xDBFF) {
			u = 0x10000 + ((u - 0xD800) << 10) +
			    ((unsigned long)hex4(s + a + 2) - 0xDC00);
			a += 6;
		}
		out = put_utf8(out, u);
	}
	*out = '\0';
}

/*
 * The string at p->pos (its opening quote): checked (control characters
 * and bad escapes refused; UTF-8 was checked before) and, when out is not
 * NULL, decoded into a new block.
 */
static int
p_string(struct parse *p, char **out)
{
	const unsigned char *s = (const unsigned char *)p->s;
	size_t start = ++p->pos, len = p->len;
	int escaped = 0;

	for (;;) {
		size_t i = p->pos;
		long n;

		/* Plain bytes, the most of any string, one table look-up each. */
		i = json_plain_end(s, i, len);
		p->pos = i;
		if (i >= len)
			return p_fail(p, "unterminated string");
		if (s[i] == '"')
			break;
		if (s[i] < 0x20)
			return p_fail(p, "control character in string");
		if (i + 1 >= len)
			return p_fail(p, "unterminated string");
		if ((n = escape_len(p)) < 0)
			return -1;
		p->pos += (size_t)n;
		escaped = 1;
	}
	p->pos++;
	if (out == NULL)
		return 0;
	/* Decoding only shortens: \uXXXX is at most 3 bytes, a pair 4. */
	if ((*out = p_alloc(p->pos - start)) == NULL)
		return p_nomem(p);
	if (escaped) {
		decode(p->s, start, p->pos - 1, *out);
	} else {
		short_copy(*out, p->s + start, p->pos - 1 - start);
		(*out)[p->pos - 1 - start] = '\0';
	}
	return 0;
}

static int
is_digit(const struct parse *p)
{
	return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

static void
skip_digits(struct parse *p)
{
	while (is_digit(p))
		p->pos++;
}

/*
 * Whether the n bytes at s are an optional '-' and digits only (the
 * grammar was checked: no leading zeros); their value in *d.
 */
static int
int_text(const char *s, size_t n, double *d)
{
	size_t i = s[0] == '-';
	int64_t v = 0;

	if (i == n)
		return 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*d = s[0] == '-' ? -(double)v : (double)v;
	return 1;
}

/*
 * The double of the number text at s (n bytes): 0, or -1 when out of
 * memory.  An integer of at most 15 characters (ids, times, amounts:
 * most numbers of a request) is exact as a double and needs no strtod,
 * which costs ~450 instructions; "-0" stays -0.0, as strtod has it.
 */
static int
number_value(const char *s, size_t n, double *d)
{
	char small[64], *text = small;

	if (n <= 15 && int_text(s, n, d))
		return 0;
	/* strtod wants a terminated string; the text may not be. */
	if (n >= sizeof(small) && (text = malloc(n + 1)) == NULL)
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	*d = strtod(text, NULL);
	if (text != small)
		free(text);
	return 0;
}

/* A number as cJSON keeps it: the double, and an int clamped to int's range. */
static int
p_number(struct parse *p, cJSON **out)
{
	size_t start = p->pos;
	double d;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (!is_digit(p))
		return p_fail(p, "invalid number");
	if (p->s[p->pos] == '0') {
		p->pos++;
		if (is_digit(p))
			return p_fail(p, "leading zero in number");
	} else {
		skip_digits(p);
	}
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if (!is_digit(p))
			return p_fail(p, "invalid number: digit expected after '.'");
		skip_digits(p);
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (!is_digit(p))
			return p_fail(p, "invalid number: digit expected in exponent");
		skip_digits(p);
	}
	if (out == NULL)
		return 0;
	if (number_value(p->s + start, p->pos - start, &d) != 0 ||
	    (*out = new_node(cJSON_Number)) == NULL)
		return p_nomem(p);
	(*out)->valuedouble = d;
	if (d >= (double)INT_MAX)
		(*out)->valueint = INT_MAX;
	else if (d <= (double)INT_MIN)
		(*out)->valueint = INT_MIN;
	else
		(*out)->valueint = (int)d;
	return 0;
}

/* true, false or null: word, as a node of type. */
static int
p_literal(struct parse *p, const char *word, int type, cJSON **out)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return p_fail(p, "invalid literal");
	p->pos += n;
	if (out == NULL)
		return 0;
	if ((*out = new_node(type)) == NULL)
		return p_nomem(p);
	if (type == cJSON_True)
		(*out)->valueint = 1;
	return 0;
}

/* Makes raw->spans[slot] exist (slot < raw->max is guaranteed). */
static int
span_slot(struct parse *p, size_t slot)
{
	struct json_raw *raw = p->raw;
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
	if (ns == NULL)
		return p_nomem(p);
	memset(ns + raw->nspans, 0, (n - raw->nspans) * sizeof *ns);
	raw->spans = ns;
	raw->nspans = n;
	return 0;
}

static int
too_deep(struct parse *p, int depth)
{
	if (depth <= JSON_MAX_DEPTH)
		return 0;
	return p_fail(p, "nested too deep (more than " STR(JSON_MAX_DEPTH)
	    " levels)");
}

/* Appends v to the children of item. */
static void
append(cJSON *item, cJSON **last, cJSON *v)
{
	if (*last == NULL) {
		item->child = v;
	} else {
		(*last)->next = v;
		v->prev = *last;
	}
	*last = v;
	item->child->prev = v;
}

/* Whether a member of obj before v is named name. */
static int
has_name(const cJSON *obj, const cJSON *v, const char *name)
{
	for (const cJSON *c = obj->child; c != v; c = c->next) {
		if (streq(c->string, name))
			return 1;
	}
	return 0;
}

/*
 * The opening of a container at depth, its node made when out is not
 * NULL: 1 when elements follow, 0 when it closes at once (consumed), -1
 * (failed).
 */
static int
p_open(struct parse *p, int depth, int type, char close, cJSON **out)
{
	if (too_deep(p, depth) != 0)
		return -1;
	if (out != NULL && (*out = new_node(type)) == NULL)
		return p_nomem(p);
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return 0;
	}
	return 1;
}

/*
 * After an element of a container: 1 when a ',' says another follows, 0
 * at the container's close, both consumed; -1 (failed) at anything else.
 */
static int
p_after(struct parse *p, char close, const char *what)
{
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ',') {
		p->pos++;
		return 1;
	}
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return 0;
	}
	return p_fail(p, what);
}

/* Frees what a failed container built, for "return fail_free(...)". */
static int
fail_free(cJSON **out)
{
	if (out != NULL) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return -1;
}

/*
 * An object at depth (its own level).  When slot >= 0 the object is a
 * top-level one and the raw text of its raw->key value goes to
 * raw->spans[slot].
 */
static int
p_object(struct parse *p, int depth, long slot, cJSON **out)
{
	cJSON *last = NULL;
	size_t n = 0;
	int rc;

	if ((rc = p_open(p, depth, cJSON_Object, '}', out)) <= 0)
		return rc;
	for (;;) {
		char *name = NULL;
		cJSON *v = NULL;
		size_t va;
		int more;

		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != '"') {
			p_fail(p, "member name expected");
			return fail_free(out);
		}
		if (p_string(p, out != NULL ? &name : NULL) != 0)
			return fail_free(out);
		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != ':') {
			cJSON_free(name);
			p_fail(p, "':' expected");
			return fail_free(out);
		}
		p->pos++;
		skip_ws(p);
		va = p->pos;
		if (p_value(p, depth, -1, out != NULL ? &v : NULL) != 0) {
			cJSON_free(name);
			return fail_free(out);
		}
		if (out != NULL) {
			v->string = name;
			append(*out, &last, v);
			if (++n > DUPS_PAIRWISE || has_name(*out, v, name))
				p->check_dups = 1;
		}
		/*
		 * A top-level object is always built (slot >= 0 only then), so
		 * its names are there decoded ("\u0069d" is "id").
		 */
		if (slot >= 0 && name != NULL && streq(name, p->raw->key)) {
			if (span_slot(p, (size_t)slot) != 0)
				return fail_free(out);
			p->raw->spans[slot].off = va;
			p->raw->spans[slot].len = p->pos - va;
		}
		if ((more = p_after(p, '}', "',' or '}' expected")) < 0)
			return fail_free(out);
		if (!more)
			return 0;
	}
}

/*
 * An array at depth.  A top-level array has its elements counted and,
 * with raw, each of its first raw->max elements records in its own slot;
 * the elements past raw->max are checked but not built (the caller
 * refuses such a text, and a long line of them would be millions of
 * nodes).
 */
static int
p_array(struct parse *p, int depth, int top, cJSON **out)
{
	cJSON *last = NULL;
	size_t i = 0;
	int rc;

	if ((rc = p_open(p, depth, cJSON_Array, ']', out)) <= 0)
		return rc;
	for (;; i++) {
		int slotted = top && p->raw != NULL;
		int past = slotted && i >= p->raw->max;
		cJSON *v = NULL;
		int more;

		if (p_value(p, depth, slotted && !past ? (long)i : -1,
		    out != NULL && !past ? &v : NULL) != 0)
			return fail_free(out);
		if (v != NULL)
			append(*out, &last, v);
		if (top)
			p->nelems = i + 1;
		if ((more = p_after(p, ']', "',' or ']' expected")) < 0)
			return fail_free(out);
		if (!more)
			return 0;
	}
}

/* One value; depth is the nesting level of its container (0 at top). */
static int
p_value(struct parse *p, int depth, long slot, cJSON **out)
{
	char *str;

	skip_ws(p);
	if (p->pos >= p->len)
		return p_fail(p, "unexpected end of input");
	switch (p->s[p->pos]) {
	case '{':
		return p_object(p, depth + 1, slot, out);
	case '[':
		return p_array(p, depth + 1, 0, out);
	case '"':
		if (out == NULL)
			return p_string(p, NULL);
		if (p_string(p, &str) != 0)
			return -1;
		if ((*out = new_node(cJSON_String)) == NULL) {
			cJSON_free(str);
			return p_nomem(p);
		}
		(*out)->valuestring = str;
		return 0;
	case 't':
		return p_literal(p, "true", cJSON_True, out);
	case 'f':
		return p_literal(p, "false", cJSON_False, out);
	case 'n':
		return p_literal(p, "null", cJSON_NULL, out);
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return p_number(p, out);
	default:
		return p_fail(p, "unexpected character");
	}
}

/* A whole text: one value and nothing but whitespace after it. */
static int
p_text(struct parse *p, cJSON **out)
{
	int rc;

	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '[')
		rc = p_array(p, 1, 1, out);
	else if (p->pos < p->len && p->s[p->pos] == '{')
		rc = p_object(p, 1, p->raw != NULL && p->raw->max > 0 ? 0 : -1,
		    out);
	else
		rc = p_value(p, 0, -1, out);
	if (rc != 0)
		return rc;
	skip_ws(p);
	if (p->pos != p->len) {
		p_fail(p, "trailing characters after the JSON value");
		return fail_free(out);
	}
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

/* ------------------------------------------------------------------ */
/* Duplicate member names                                              */
/* ------------------------------------------------------------------ */

/* Objects of at most this many members are checked without allocating. */
#define DUPS_SMALL 16

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
 * (the parser bounds it): sorting each object's names makes it O(n log n)
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

/* ------------------------------------------------------------------ */
/* The entry                                                           */
/* ------------------------------------------------------------------ */

cJSON *
json_parse_ex(const char *s, size_t len, const char *name, const char *root,
    struct json_raw *raw, struct jerr *e)
{
	struct parse p;
	struct dups d;
	cJSON *tree = NULL;
	size_t bad, live_before = arena.live;
	int rc;

	if (raw != NULL) {
		raw->spans = NULL;
		raw->nspans = 0;
		raw->nelems = 0;
	}
	bad = utf8_valid_prefix(s, len);
	if (bad != len) {
		syntax_error(s, bad, name, "invalid UTF-8", e);
		return NULL;
	}
	memset(&p, 0, sizeof p);
	p.s = s;
	p.len = len;
	p.raw = raw;
	arena_build_begin();
	rc = p_text(&p, &tree);
	arena.building = 0;
	if (rc != 0) {
		if (p.nomem)
			jerr_nomem(e, name);
		else
			syntax_error(s, p.at, name, p.what, e);
		return NULL;
	}
	if (raw != NULL)
		raw->nelems = p.nelems;
	if (p.check_dups) {
		memset(&d, 0, sizeof d);
		d.names = d.small;
		d.cap = DUPS_SMALL;
		rc = find_dup(tree, 0, &d);
		if (d.names != d.small)
			free(d.names);
	}
	if (rc == 0) {
		arena_build_end(tree, live_before);
		return tree;
	}
	if (rc < 0)
		jerr_nomem(e, root);
	else
		dup_error(&d, root, e);
	cJSON_Delete(tree);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The cursor (json_scan)                                              */
/* ------------------------------------------------------------------ */

/* A parse positioned where the cursor is, after its whitespace. */
static void
scan_parse(const struct json_scan *sc, struct parse *p)
{
	memset(p, 0, sizeof(*p));
	p->s = sc->s;
	p->len = sc->len;
	p->pos = sc->pos;
	skip_ws(p);
}

int
json_scan_begin(struct json_scan *sc, const char *s, size_t len, char open)
{
	sc->s = s;
	sc->len = len;
	sc->pos = 0;
	if (json_scan_byte(sc, open) != 0)
		return -1;
	return utf8_valid_prefix(s, len) == len ? 0 : -1;
}

int
json_scan_scalar(struct json_scan *sc, size_t *off, size_t *n)
{
	struct parse p;

	scan_parse(sc, &p);
	if (p.pos >= p.len || p.s[p.pos] == '{' || p.s[p.pos] == '[')
		return -1;
	*off = p.pos;
	/* Depth does not matter to a value that holds none. */
	if (p_value(&p, 0, -1, NULL) != 0)
		return -1;
	*n = p.pos - *off;
	sc->pos = p.pos;
	return 0;
}

cJSON *
json_scan_object(struct json_scan *sc, int depth)
{
	struct parse p;
	cJSON *tree = NULL;
	size_t live_before = arena.live;
	int rc;

	scan_parse(sc, &p);
	if (p.pos >= p.len || p.s[p.pos] != '{')
		return NULL;
	arena_build_begin();
	rc = p_object(&p, depth, -1, &tree);
	arena.building = 0;
	if (rc != 0)
		return NULL;		/* p_object freed what it built */
	if (p.check_dups) {
		cJSON_Delete(tree);
		return NULL;
	}
	arena_build_end(tree, live_before);
	sc->pos = p.pos;
	return tree;
}

cJSON *
json_parse(const char *s, size_t len, const char *root, struct jerr *e)
{
	return json_parse_ex(s, len, root, root, NULL, e);
}
