/*
 * jsonw.h - the one JSON writer of parkd.
 *
 * Replies, journal records, snapshots, health and metrics bodies are all
 * written through this, never through cJSON's printer, for two reasons:
 *
 *   - exactness: integers are written from int64_t/uint64_t digit by
 *     digit, so every amount parkd accepts (up to 2^53 - 1 and below zero)
 *     reads back as the same number; cJSON prints 9007199254740991 as
 *     9.00719925474099e+15, which is a different number;
 *   - cost: no tree is built and no printf runs on the hot path; a writer
 *     appends to one growing buffer that can be reused between lines.
 *
 * The writer keeps track of commas itself: callers open and close
 * containers, write keys and values, and never write punctuation.  Strings
 * are escaped (control characters, quote, backslash) and bytes that are
 * not valid UTF-8 become U+FFFD, so whatever a caller passes, the output is
 * valid JSON in valid UTF-8.
 *
 * Errors are sticky: after an allocation failure (or nesting deeper than
 * JW_MAX_DEPTH) every further call does nothing and jw_failed() is true;
 * check once at the end.  Raw text (jw_raw) is copied as is: its writer
 * vouches for it.
 */
#ifndef PARKD_JSONW_H
#define PARKD_JSONW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Deepest nesting the writer accepts: parkd writes fewer than ten levels;
 * parsed requests (JSON_MAX_DEPTH) written back, as tests do, fit too.
 */
#define JW_MAX_DEPTH 256

struct jw {
	char *buf;		/* NUL-terminated output; NULL until written */
	size_t len, cap;
	/*
	 * A write of n bytes with len + n < lim fits as it is: cap, or 0 while
	 * there is no buffer or the writer has failed.  One comparison where
	 * three were (no buffer, no room, failed) on every write.
	 */
	size_t lim;
	int failed;
	unsigned depth;		/* open containers */
	int comma;		/* the next key or value follows an element */
	/*
	 * The last time jw_time wrote, and its text with the quotes: the
	 * times of a record or reply are mostly the same second.
	 */
	int64_t time_at;
	char time_text[24];	/* "YYYY-MM-DDTHH:MM:SSZ"; [0] 0: none yet */
};

/* A position to return to (see jw_mark / jw_rewind). */
struct jw_mark {
	size_t len;
	unsigned depth;
	int comma;
	int failed;
};

/* An empty writer (no allocation until something is written). */
void jw_init(struct jw *w);
/* Empties w, keeping its buffer for reuse. */
void jw_reset(struct jw *w);
/* Frees the buffer.  w may be reused after jw_init. */
void jw_release(struct jw *w);
/*
 * Hands over the NUL-terminated text (the caller frees it) and leaves w
 * empty; *len (may be NULL) gets its length.  NULL when anything failed
 * (the buffer is then freed) or nothing was written.
 */
char *jw_take(struct jw *w, size_t *len);
/* True after an allocation failure or a nesting overflow. */
int jw_failed(const struct jw *w);

void jw_mark(const struct jw *w, struct jw_mark *m);
/* Cuts the output back to m (a value written since is forgotten). */
void jw_rewind(struct jw *w, const struct jw_mark *m);

/* Containers. */
void jw_obj(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr(struct jw *w);
void jw_arr_end(struct jw *w);
/*
 * Starts writing the members of an object whose '{' is written by someone
 * else (error data that a reply's writer embeds): keys and values follow,
 * with commas between them, and no closing brace is expected.
 */
void jw_members(struct jw *w);

/*
 * A member name (n bytes) known only at run time, escaped as any string;
 * the value written next belongs to it.
 */
void jw_keyn(struct jw *w, const char *key, size_t n);

static inline void
jw_keyv(struct jw *w, const char *key)
{
	jw_keyn(w, key, strlen(key));
}

/*
 * A member name written in the source: jw_key(w, "plate").  It is copied
 * in its quoted form ("plate":), made by the compiler, with no length to
 * count and nothing to escape (an entry or exit writes some thirty names
 * in its reply and record).  The name must be a string literal (anything
 * else does not compile) with nothing in it that JSON escapes; a SAN=1
 * build checks that on every call.  A name in a variable: jw_keyv.
 */
void jw_keyq_slow(struct jw *w, const char *quoted, size_t n);

/*
 * Inline, so that the name's length is known where it is copied: the copy
 * is a few moves, not a call (the out-of-line path grows the buffer, and
 * in a SAN=1 build checks the name).
 */
static inline void
jw_keyq(struct jw *w, const char *quoted, size_t n)
{
#ifndef JW_CHECK_LITERALS
	/* Room for a comma, the name and the NUL. */
	if (w->len + n + 2 < w->lim) {
		char *p = w->buf + w->len;

		if (w->comma && w->depth > 0)
			*p++ = ',';
		memcpy(p, quoted, n);
		p[n] = '\0';
		w->len = (size_t)(p - w->buf) + n;
		w->comma = 0;
		return;
	}
#endif
	jw_keyq_slow(w, quoted, n);
}
/* "name": and its length, for jw_keyq. */
#define JW_QUOTED(name)	"\"" name "\":", sizeof(name) + 2
#define jw_key(w, name)	jw_keyq((w), JW_QUOTED(name))

/* Values. */
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, int64_t v);
void jw_uint(struct jw *w, uint64_t v);
void jw_bool(struct jw *w, int v);
void jw_null(struct jw *w);
/*
 * The string prefix + s[0..n): an audit subject ("vehicle:B-XY 123")
 * without first copying the two together.  The prefix is written in the
 * source (jw_prefixed(w, "vehicle:", plate)) with nothing in it that JSON
 * escapes (a SAN=1 build checks); s is escaped as any string.
 */
void jw_strpre(struct jw *w, const char *prefix, size_t pn, const char *s,
    size_t n);
#define jw_prefixed(w, prefix, s) \
	jw_strpre((w), "" prefix, sizeof(prefix) - 1, (s), strlen(s))
/*
 * Strings whose length and plainness are known, worked out once where
 * they are made (a ticket's id and plate): jw_plain(s, n) is 1 when
 * s[0..n) needs no escaping (it may say 0 of a string that does not,
 * which costs only the escaping path).  jw_strk copies a plain string as
 * it is and escapes any other as jw_strn does, without looking at its
 * bytes or its length again; jw_prefixedk is jw_prefixed for such a
 * string.  A SAN=1 build checks every claim of plainness.
 */
int jw_plain(const char *s, size_t n);
void jw_strk(struct jw *w, const char *s, size_t n, int plain);
void jw_strprek(struct jw *w, const char *prefix, size_t pn, const char *s,
    size_t n, int plain);
#define jw_prefixedk(w, prefix, s, n, plain) \
	jw_strprek((w), "" prefix, sizeof(prefix) - 1, (s), (n), (plain))
/* An RFC 3339 UTC time string ("2026-11-22T08:00:00Z"). */
void jw_time(struct jw *w, int64_t t);
/*
 * A decimal number given as an integer count of 10^-decimals (0..18),
 * written without trailing zeros: jw_fixed(w, 900000, 6) is 0.9.
 */
void jw_fixed(struct jw *w, int64_t v, int decimals);
/* A number given in thousandths: 1500 -> 1.5, 250 -> 0.25, 3000 -> 3. */
void jw_milli(struct jw *w, int64_t v);
/* n bytes of JSON text, written as one value. */
void jw_raw(struct jw *w, const char *json, size_t n);
/*
 * Bytes appended with no comma or quoting: for the few places that splice
 * finished JSON (joining members of an embedded object, a line's end).
 */
void jw_splice(struct jw *w, const char *s, size_t n);

/*
 * A literal name (as jw_key) and its value in one call.  Functions under
 * the macros, so that w is evaluated once (callers pass expressions).
 */
#define JW_KEYED(X)		\
	X(str, const char *)	\
	X(int, int64_t)		\
	X(uint, uint64_t)	\
	X(bool, int)		\
	X(time, int64_t)	\
	X(milli, int64_t)

#define JW_KEYED_DEFINE(name, type)				\
static inline void						\
jw_kq##name(struct jw *w, const char *q, size_t n, type v)	\
{								\
	jw_keyq(w, q, n);					\
	jw_##name(w, v);					\
}

JW_KEYED(JW_KEYED_DEFINE)
#undef JW_KEYED_DEFINE
#undef JW_KEYED

#define jw_kstr(w, name, v)	jw_kqstr((w), JW_QUOTED(name), (v))
#define jw_kint(w, name, v)	jw_kqint((w), JW_QUOTED(name), (v))
#define jw_kuint(w, name, v)	jw_kquint((w), JW_QUOTED(name), (v))
#define jw_kbool(w, name, v)	jw_kqbool((w), JW_QUOTED(name), (v))
#define jw_ktime(w, name, v)	jw_kqtime((w), JW_QUOTED(name), (v))
#define jw_kmilli(w, name, v)	jw_kqmilli((w), JW_QUOTED(name), (v))

static inline void
jw_kqstrk(struct jw *w, const char *q, size_t qn, const char *s, size_t n,
    int plain)
{
	jw_keyq(w, q, qn);
	jw_strk(w, s, n, plain);
}
#define jw_kstrk(w, name, s, n, plain) \
	jw_kqstrk((w), JW_QUOTED(name), (s), (n), (plain))

static inline void
jw_kqnull(struct jw *w, const char *q, size_t n)
{
	jw_keyq(w, q, n);
	jw_null(w);
}
#define jw_knull(w, name)	jw_kqnull((w), JW_QUOTED(name))

#endif
