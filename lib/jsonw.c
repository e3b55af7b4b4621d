/* jsonw.c - the JSON writer (see jsonw.h). */
#include "jsonw.h"

#include <stdlib.h>
#include <string.h>

#include "rfc3339.h"
#include "shortcopy.h"
#include "utf8.h"

void
jw_init(struct jw *w)
{
	memset(w, 0, sizeof(*w));
}

/* What lim is when nothing has failed (jsonw.h). */
static size_t
ok_lim(const struct jw *w)
{
	return w->buf != NULL ? w->cap : 0;
}

/* Every later write does nothing; jw_failed says so. */
static void
set_failed(struct jw *w)
{
	w->failed = 1;
	w->lim = 0;
}

void
jw_reset(struct jw *w)
{
	w->len = 0;
	w->failed = 0;
	w->lim = ok_lim(w);
	w->depth = 0;
	w->comma = 0;
	if (w->buf != NULL)
		w->buf[0] = '\0';
}

void
jw_release(struct jw *w)
{
	free(w->buf);
	jw_init(w);
}

char *
jw_take(struct jw *w, size_t *len)
{
	char *s = w->buf;

	if (w->failed || s == NULL) {
		jw_release(w);
		return NULL;
	}
	if (len != NULL)
		*len = w->len;
	jw_init(w);
	return s;
}

int
jw_failed(const struct jw *w)
{
	return w->failed;
}

void
jw_mark(const struct jw *w, struct jw_mark *m)
{
	m->len = w->len;
	m->depth = w->depth;
	m->comma = w->comma;
	m->failed = w->failed;
}

void
jw_rewind(struct jw *w, const struct jw_mark *m)
{
	w->len = m->len;
	w->depth = m->depth;
	w->comma = m->comma;
	w->failed = m->failed;
	w->lim = w->failed ? 0 : ok_lim(w);
	if (w->buf != NULL)
		w->buf[w->len] = '\0';
}

/* Makes room for n more bytes and the NUL; 0, or -1 (failed set). */
static int
grow(struct jw *w, size_t n)
{
	size_t cap;
	char *nb;

	if (w->failed)
		return -1;
	if (n < w->cap - w->len && w->buf != NULL) {
		/* A buffer set up by hand (tests): writes check against it now. */
		w->lim = w->cap;
		return 0;
	}
	cap = w->cap ? w->cap : 256;
	while (cap - w->len <= n) {
		if (cap > ((size_t)-1) / 2) {
			set_failed(w);
			return -1;
		}
		cap *= 2;
	}
	nb = realloc(w->buf, cap);
	if (nb == NULL) {
		set_failed(w);
		return -1;
	}
	w->buf = nb;
	w->cap = cap;
	w->lim = cap;
	return 0;
}

/* The room check inline, the growing out of line: most writes fit. */
static inline void
put(struct jw *w, const char *s, size_t n)
{
	if (w->len + n >= w->lim && grow(w, n) != 0)
		return;
	short_copy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static inline void
putc1(struct jw *w, char c)
{
	if (w->len + 1 >= w->lim && grow(w, 1) != 0)
		return;
	w->buf[w->len++] = c;
	w->buf[w->len] = '\0';
}

/*
 * The comma before a key or value that follows another element of its
 * container.  One flag is enough: whatever was written last (a value, a
 * closed container, a key, an opening) says whether a comma comes next,
 * whatever the depth.
 */
static inline void
sep(struct jw *w)
{
	if (w->comma && w->depth > 0)
		putc1(w, ',');
	w->comma = 1;
}

/* A container opens: no element in it yet. */
static void
enter(struct jw *w)
{
	w->depth++;
	w->comma = 0;
}

static void
open_container(struct jw *w, char c)
{
	sep(w);
	if (w->depth >= JW_MAX_DEPTH) {
		set_failed(w);
		return;
	}
	putc1(w, c);
	enter(w);
}

static void
close_container(struct jw *w, char c)
{
	if (w->depth == 0) {
		set_failed(w);
		return;
	}
	w->depth--;
	putc1(w, c);
	w->comma = 1;
}

void
jw_obj(struct jw *w)
{
	open_container(w, '{');
}

void
jw_obj_end(struct jw *w)
{
	close_container(w, '}');
}

void
jw_arr(struct jw *w)
{
	open_container(w, '[');
}

void
jw_arr_end(struct jw *w)
{
	close_container(w, ']');
}

void
jw_members(struct jw *w)
{
	if (w->depth >= JW_MAX_DEPTH) {
		set_failed(w);
		return;
	}
	enter(w);
}

/* An ASCII byte a string carries as it is: no control, quote or backslash. */
static inline int
plain_ascii(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

/*
 * A word with a byte that is not plain ASCII has a high bit set here:
 * (x - ONES) & ~x has the high bit of a byte set where x has a zero byte,
 * and never misses one (it may also flag a byte after a true one).
 */
static inline uint64_t
not_plain(uint64_t v)
{
	uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');

	return (((v - ONES * 0x20) & ~v) | ((q - ONES) & ~q) |
	    ((b - ONES) & ~b) | v) & HIGHS;
}

/*
 * How many of the n bytes at s are plain ASCII before the first that is
 * not, eight at a time; a word not_plain flags goes to the byte loop.
 */
static inline size_t
plain_prefix(const unsigned char *s, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v;

		memcpy(&v, s + i, 8);
		if (not_plain(v))
			break;
	}
	while (i < n && plain_ascii(s[i]))
		i++;
	return i;
}

/*
 * Whether all n bytes at s are plain ASCII: the common case of a key or a
 * value, tested a word at a time with no byte loop.  A string of 8 bytes
 * or more ends with a word that overlaps the one before it; a shorter one
 * is two overlapping 4-byte words (or its bytes, under 4) padded with a
 * plain byte.  A false answer may be wrong only towards "not plain" (see
 * plain_prefix), which costs the escaping path, never a wrong output.
 */
static inline __attribute__((always_inline)) int
all_plain(const unsigned char *s, size_t n)
{
	uint64_t v;
	uint32_t a, b;
	size_t i;

	if (n >= 8) {
		for (i = 0; i + 8 < n; i += 8) {
			memcpy(&v, s + i, 8);
			if (not_plain(v))
				return 0;
		}
		memcpy(&v, s + n - 8, 8);
		return not_plain(v) == 0;
	}
	if (n >= 4) {
		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		v = (uint64_t)a | (uint64_t)b << 32;
		return not_plain(v) == 0;
	}
	v = ONES * 'a';
	for (i = 0; i < n; i++)
		v = (v << 8) | s[i];
	return not_plain(v) == 0;
}

/*
 * The escaped body of a string (no quotes).  Runs of plain ASCII are
 * copied whole; UTF-8 is validated only where a byte above 0x7f shows up,
 * and [.., ok) is known to be valid, so a string full of escapes stays
 * linear.  A byte that starts no valid sequence becomes U+FFFD.
 */
static void
put_escaped(struct jw *w, const char *s, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, ok = 0;

	while (i < n) {
		size_t run = i;
		char esc[6];

		for (;;) {
			run += plain_prefix(u + run, n - run);
			if (run == n || u[run] < 0x80)
				break;
			if (run >= ok) {
				ok = run + utf8_valid_prefix(s + run, n - run);
				if (ok == run)
					break;
			}
			while (run < ok && u[run] >= 0x80)
				run++;
		}
		put(w, s + i, run - i);
		i = run;
		if (i >= n)
			break;
		if (u[i] >= 0x80) {
			put(w, "\\ufffd", 6);
			i++;
			continue;
		}
		switch (s[i]) {
		case '"':  put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\b': put(w, "\\b", 2); break;
		case '\f': put(w, "\\f", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hexd[((unsigned char)s[i] >> 4) & 0xf];
			esc[5] = hexd[(unsigned char)s[i] & 0xf];
			put(w, esc, 6);
			break;
		}
		i++;
	}
}

/* "prefix s" then tail (at most 2 bytes), s known plain: one copy. */
static inline __attribute__((always_inline)) void
put_plain_prefixed(struct jw *w, const char *prefix, size_t pn, const char *s,
    size_t n, const char *tail, size_t tl)
{
	size_t need = 1 + pn + n + tl;
	char *p;

	if (w->len + need >= w->lim && grow(w, need) != 0)
		return;
	p = w->buf + w->len;
	*p++ = '"';
	short_copy(p, prefix, pn);
	p += pn;
	short_copy(p, s, n);
	p += n;
	/* tail is one or two bytes: no call to memcpy for them. */
	p[0] = tail[0];
	if (tl > 1)
		p[1] = tail[1];
	w->len += need;
	w->buf[w->len] = '\0';
}

/*
 * "prefix s" then tail: a plain string, the common case, in one copy;
 * anything else escaped.  The prefix is plain (a literal, jw_strpre); with
 * pn a constant 0 its copy compiles away.  Forced inline, as is all_plain:
 * left to itself gcc 12 inlined this and then stopped inlining all_plain
 * into it (+0.8 % of a request's instructions in bench_request).
 */
static inline __attribute__((always_inline)) void
put_prefixed(struct jw *w, const char *prefix, size_t pn, const char *s,
    size_t n, const char *tail, size_t tl)
{
	if (all_plain((const unsigned char *)s, n)) {
		put_plain_prefixed(w, prefix, pn, s, n, tail, tl);
		return;
	}
	putc1(w, '"');
	put(w, prefix, pn);
	put_escaped(w, s, n);
	put(w, tail, tl);
}

static void
put_string(struct jw *w, const char *s, size_t n, const char *tail, size_t tl)
{
	put_prefixed(w, "", 0, s, n, tail, tl);
}

void
jw_keyn(struct jw *w, const char *key, size_t n)
{
	sep(w);
	put_string(w, key, n, "\":", 2);
	w->comma = 0;
}

void
jw_keyq_slow(struct jw *w, const char *quoted, size_t n)
{
#ifdef JW_CHECK_LITERALS
	/* The name between the quotes needs no escaping (jsonw.h). */
	if (n < 3 || quoted[0] != '"' || quoted[n - 2] != '"' ||
	    quoted[n - 1] != ':' || !all_plain((const unsigned char *)quoted + 1,
	    n - 3))
		abort();
#endif
	sep(w);
	put(w, quoted, n);
	w->comma = 0;
}

void
jw_strn(struct jw *w, const char *s, size_t n)
{
	sep(w);
	put_string(w, s, n, "\"", 1);
}

/* A prefix is a literal with nothing to escape: a SAN=1 build checks. */
static inline void
check_prefix(const char *prefix, size_t pn)
{
#ifdef JW_CHECK_LITERALS
	if (!all_plain((const unsigned char *)prefix, pn))
		abort();
#else
	(void)prefix;
	(void)pn;
#endif
}

void
jw_strpre(struct jw *w, const char *prefix, size_t pn, const char *s,
    size_t n)
{
	check_prefix(prefix, pn);
	sep(w);
	put_prefixed(w, prefix, pn, s, n, "\"", 1);
}

int
jw_plain(const char *s, size_t n)
{
	return all_plain((const unsigned char *)s, n);
}

/*
 * "prefix s" as a value, s plain as its maker found it (jw_plain).  A
 * claim of plainness that is false would write broken JSON: a SAN=1 build
 * checks it.
 */
static inline __attribute__((always_inline)) void
put_known(struct jw *w, const char *prefix, size_t pn, const char *s,
    size_t n, int plain)
{
#ifdef JW_CHECK_LITERALS
	if (plain && !all_plain((const unsigned char *)s, n))
		abort();
#endif
	sep(w);
	if (plain)
		put_plain_prefixed(w, prefix, pn, s, n, "\"", 1);
	else
		put_prefixed(w, prefix, pn, s, n, "\"", 1);
}

void
jw_strk(struct jw *w, const char *s, size_t n, int plain)
{
	put_known(w, "", 0, s, n, plain);
}

void
jw_strprek(struct jw *w, const char *prefix, size_t pn, const char *s,
    size_t n, int plain)
{
	check_prefix(prefix, pn);
	put_known(w, prefix, pn, s, n, plain);
}

void
jw_str(struct jw *w, const char *s)
{
	jw_strn(w, s, strlen(s));
}

/* Digits of v, right-aligned in buf (24 bytes); returns where they start. */
static char *
u64_digits(uint64_t v, char *end)
{
	char *p = end;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return p;
}

void
jw_uint(struct jw *w, uint64_t v)
{
	char buf[24], *p = u64_digits(v, buf + sizeof(buf));

	sep(w);
	put(w, p, (size_t)(buf + sizeof(buf) - p));
}

void
jw_int(struct jw *w, int64_t v)
{
	char buf[24], *p;
	/* Negate in unsigned arithmetic: -INT64_MIN does not fit int64_t. */
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	p = u64_digits(mag, buf + sizeof(buf));
	if (v < 0)
		*--p = '-';
	sep(w);
	put(w, p, (size_t)(buf + sizeof(buf) - p));
}

void
jw_bool(struct jw *w, int v)
{
	sep(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void
jw_null(struct jw *w)
{
	sep(w);
	put(w, "null", 4);
}

void
jw_time(struct jw *w, int64_t t)
{
	_Static_assert(sizeof(w->time_text) >= RFC3339_BUFSZ + 1,
	    "time_text holds the quoted text");

	if (w->time_text[0] == '\0' || t != w->time_at) {
		w->time_text[0] = '"';
		rfc3339_format(t, w->time_text + 1);
		w->time_text[RFC3339_BUFSZ] = '"';
		w->time_at = t;
	}
	sep(w);
	put(w, w->time_text, RFC3339_BUFSZ + 1);
}

void
jw_fixed(struct jw *w, int64_t v, int decimals)
{
	char buf[48], *end = buf + sizeof(buf), *p = end;
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t scale = 1;
	int n, d;

	if (decimals < 0)
		decimals = 0;
	if (decimals > 18)
		decimals = 18;
	for (d = 0; d < decimals; d++)
		scale *= 10;
	/* The fraction without trailing zeros, then the point, then the units. */
	n = decimals;
	for (uint64_t f = mag % scale; n > 0 && f % 10 == 0; f /= 10)
		n--;
	if (n > 0) {
		uint64_t f = mag % scale;

		for (d = decimals; d > n; d--)
			f /= 10;
		for (d = 0; d < n; d++, f /= 10)
			*--p = (char)('0' + f % 10);
		*--p = '.';
	}
	p = u64_digits(mag / scale, p);
	if (v < 0)
		*--p = '-';
	sep(w);
	put(w, p, (size_t)(end - p));
}

void
jw_milli(struct jw *w, int64_t v)
{
	jw_fixed(w, v, 3);
}

void
jw_raw(struct jw *w, const char *json, size_t n)
{
	sep(w);
	put(w, json, n);
}

void
jw_splice(struct jw *w, const char *s, size_t n)
{
	put(w, s, n);
}
