/*
 * json.h - the one strict JSON parser of parkd, and the error type every
 * JSON reader shares.
 *
 * Every JSON text parkd reads comes through here: request lines, the
 * configuration file, `tariff set=` values, journal records and
 * snapshots.  cJSON alone is lenient (LIBRARIES.md: it takes trailing
 * garbage, invalid UTF-8, leading zeros, duplicate keys, and cuts strings
 * at \u0000), so cJSON's parser is never used: a hand-written one checks
 * well-formed UTF-8, RFC 8259 grammar, nesting at most JSON_MAX_DEPTH
 * deep, no \u0000 escape and no duplicate member name anywhere, and
 * builds cJSON's tree in the same pass.  Duplicates are refused here and
 * only here: the readers (jread.h) never look for them again.
 *
 * Pure: no I/O, no globals besides cJSON's allocator (and the arena that
 * json_arena_install puts behind it).
 */
#ifndef PARKD_JSON_H
#define PARKD_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Deepest nesting of arrays and objects accepted in a text. */
#define JSON_MAX_DEPTH 64

/* Room for a key path in a message ("facility.rows[3].count"). */
#define JPATH_MAX 256

/*
 * Where a reader's failure goes: one message "path: what is wrong"
 * ("limits.max_line: must be between 64 and 67108864"), always
 * NUL-terminated when len > 0 and cut at a UTF-8 character boundary when
 * it does not fit.  buf may be NULL when len is 0 (then only nomem says
 * anything).  Set up as { buf, len } (nomem 0).  Only a failure writes
 * it: a reader that succeeds leaves buf as it was.
 */
struct jerr {
	char *buf;
	size_t len;
	int nomem;		/* the failure was an allocation */
};

/*
 * Writes "path: " and the printf-style message into e ("message" alone
 * when path is empty).  Returns -1, for "return jerr_set(...)".
 */
int jerr_set(struct jerr *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "path: out of memory", and sets e->nomem.  Returns -1. */
int jerr_nomem(struct jerr *e, const char *path);

/*
 * Key paths: path + "." + key ("key" alone when path is empty; an empty
 * key shows as ""; a NULL key gives path itself), and path + "[i]".  A
 * path that does not fit JPATH_MAX ends in "...".  buf must not overlap
 * path.
 */
void jpath_key(char buf[JPATH_MAX], const char *path, const char *key);
void jpath_index(char buf[JPATH_MAX], const char *path, size_t i);

/*
 * Parses s[0..len) (not necessarily NUL-terminated, not kept) strictly.
 * root is the key path of the whole text in messages ("" for none):
 * a syntax error reads "root: line 3, column 14: ',' or '}' expected"
 * (columns count characters), a duplicate "root.a.b: duplicate key".
 * Returns a tree the caller frees with cJSON_Delete, or NULL with e set
 * (e->nomem on allocation failure).
 */
cJSON *json_parse(const char *s, size_t len, const char *root,
    struct jerr *e);

/* The raw text of the values of one member of the top-level objects. */
struct json_span {
	size_t off, len;	/* len 0: the object has no such member */
};
struct json_raw {
	const char *key;	/* in: the member, compared after unescaping */
	size_t max;		/* in: top-level objects to record at most */
	struct json_span *spans; /* out: malloc'd, the caller frees it; one
				 * per top-level object (the root object, or
				 * the first max elements of a root array,
				 * objects or not) */
	size_t nspans;		/* out: entries in spans */
	size_t nelems;		/* out: elements of a root array */
};

/*
 * json_parse for callers that name the text differently in syntax errors
 * than in key paths (name: "config: line 3, ..." but root: "limits.max_line:
 * duplicate key"), or want raw text.  When raw is not NULL it records the
 * raw text of raw->key in each top-level object, so that an id can be
 * echoed byte for byte (cJSON would turn 12345678901234567890 into a
 * double), and counts the elements of a root array; raw->spans is set
 * even on failure.  Elements of a root array past raw->max are checked
 * but left out of the tree: the caller refuses such a text (rpc_parse, a
 * batch too long), and a long line of them would be millions of nodes.
 */
cJSON *json_parse_ex(const char *s, size_t len, const char *name,
    const char *root, struct json_raw *raw, struct jerr *e);

/*
 * A cursor for a caller that reads one simple shape of text itself and
 * leaves every other text to json_parse_ex (rpc_parse's lone request):
 * each step checks what it passes over exactly as json_parse_ex would, and
 * returns -1 both where the text is invalid and where it is not of the
 * simple form the step reads.  No messages: on -1 the caller parses the
 * whole text again with json_parse_ex, which gives the answer and says
 * why.  Every step but json_scan_end skips whitespace first.
 */
struct json_scan {
	const char *s;
	size_t len;
	size_t pos;		/* the next byte to read */
};
/*
 * Starts at s, past whitespace and the byte open, which must come first;
 * then checks that all of s is UTF-8 (json_parse_ex refuses it
 * otherwise).  -1 when either fails: a text that opens with anything
 * else (a batch array for rpc_parse) costs no UTF-8 pass here before the
 * general parser makes its own.
 */
int json_scan_begin(struct json_scan *sc, const char *s, size_t len,
    char open);

/*
 * The steps a request takes a dozen of are inline: a call each cost more
 * than the step.
 */

/* 1 for the bytes that end a plain run in a string: quote, backslash, controls. */
extern const unsigned char json_string_stop[256];

/*
 * RFC 8259 whitespace: exactly these four bytes, all <= ' ', so most
 * bytes fail the first test.  The parser's too.
 */
static inline int
json_is_ws(char c)
{
	return (unsigned char)c <= ' ' &&
	    (c == ' ' || c == '\t' || c == '\n' || c == '\r');
}

/* Where the plain run of a string body from i ends (a quote, backslash or control; or len). */
static inline size_t
json_plain_end(const unsigned char *s, size_t i, size_t len)
{
	while (i < len && !json_string_stop[s[i]])
		i++;
	return i;
}

static inline void
json_scan_ws(struct json_scan *sc)
{
	while (sc->pos < sc->len && json_is_ws(sc->s[sc->pos]))
		sc->pos++;
}

/* The byte c. */
static inline int
json_scan_byte(struct json_scan *sc, char c)
{
	json_scan_ws(sc);
	if (sc->pos >= sc->len || sc->s[sc->pos] != c)
		return -1;
	sc->pos++;
	return 0;
}

/* The next byte after whitespace (not consumed); -1 at the end. */
static inline int
json_scan_peek(struct json_scan *sc)
{
	json_scan_ws(sc);
	return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}

/* Nothing but whitespace is left. */
static inline int
json_scan_end(struct json_scan *sc)
{
	json_scan_ws(sc);
	return sc->pos == sc->len ? 0 : -1;
}

/*
 * A string with no escape in it: its body (between the quotes, in the
 * text, not terminated) at *body, *n bytes.  The parser's scan: a quote
 * ends it, a backslash or a control byte is not this form (UTF-8 was
 * checked by json_scan_begin).
 */
static inline int
json_scan_plain(struct json_scan *sc, const char **body, size_t *n)
{
	const unsigned char *s = (const unsigned char *)sc->s;
	size_t i;

	json_scan_ws(sc);
	if (sc->pos >= sc->len || s[sc->pos] != '"')
		return -1;
	i = json_plain_end(s, sc->pos + 1, sc->len);
	if (i >= sc->len || s[i] != '"')
		return -1;
	*body = sc->s + sc->pos + 1;
	*n = i - sc->pos - 1;
	sc->pos = i + 1;
	return 0;
}

/*
 * A string, a number or a literal (true, false, null), checked and not
 * built; its text is s[*off, *off + *n).  Arrays and objects: -1.
 */
int json_scan_scalar(struct json_scan *sc, size_t *off, size_t *n);
/*
 * An object, built into the tree json_parse_ex would build of it (from
 * the arena when installed, freed with json_tree_free), nested at depth
 * (its own level: 2 for a member of the top-level object).  NULL when
 * the text is invalid there, out of memory, or the object repeats a name
 * or has more members than are compared as they come (json_parse_ex finds
 * and names the duplicate).
 */
cJSON *json_scan_object(struct json_scan *sc, int depth);

/*
 * The scratch arena: cJSON makes one allocation per node and per string,
 * two dozen for a request line.  Once installed, the trees json_parse
 * builds take their memory from a block of JSON_ARENA_BYTES reused from
 * tree to tree instead: a block handed out is counted, freeing one (by
 * cJSON_Delete) uncounts it, and the block starts over from its beginning
 * when nothing in it is left.  What does not fit, and every other cJSON
 * allocation, goes to malloc and free as before; a tree that is kept
 * only keeps the arena from starting over.
 *
 * Installs cJSON_InitHooks once, before any tree is built (the daemon at
 * start).  Never uninstalled while a tree built with it lives.  One arena
 * per thread: a tree must be freed on the thread that built it.  Tests
 * that put their own allocator behind cJSON simply do not install it.
 */
#define JSON_ARENA_BYTES 32768
void json_arena_install(void);
/*
 * Frees a tree json_parse built, as cJSON_Delete does; when the tree is
 * all the arena holds (nothing else built since, nothing spilled to
 * malloc) the arena simply starts over, without a walk of the tree.  So
 * nothing may be added to such a tree (taken out of it is fine).
 */
void json_tree_free(cJSON *tree);
/* Blocks handed out and not yet freed (tests). */
size_t json_arena_live(void);

#endif
