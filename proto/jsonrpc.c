/* jsonrpc.c - JSON-RPC 2.0 request parsing and response building (see jsonrpc.h). */
#include "jsonrpc.h"
#include "hex.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* Member names quoted in error messages are clipped to this many bytes. */
#define RPC_NAME_CLIP 40

/* ------------------------------------------------------------------ */
/* The validating scanner                                              */
/* ------------------------------------------------------------------ */

/* Raw text of one request's "id" value; len 0 when there is none. */
struct id_span {
	size_t off;
	size_t len;
};

/*
 * State of one scan.  The scanner only validates and records id spans; it
 * builds nothing, so cJSON is never handed a line that is not RFC 8259.
 */
struct scan {
	const char *s;
	size_t len;
	size_t pos;		/* next byte to look at */
	int capture;		/* record id spans (rpc_parse) or not */
	struct id_span *spans;	/* one per top-level request object */
	size_t nspans;		/* slots allocated in spans */
	size_t nelems;		/* elements of a top-level array */
	const char *what;	/* why the scan failed */
	size_t at;		/* where it failed */
	int too_deep;		/* it failed on RPC_MAX_DEPTH */
	int oom;		/* it failed on an allocation */
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
static void
skip_ws(struct scan *sc)
{
	while (sc->pos < sc->len) {
		char c = sc->s[sc->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		sc->pos++;
	}
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
 * Whether the string body [a, b) (escapes not yet decoded) means "id".
 * Keys may be spelled with escapes ("\u0069d"), and cJSON decodes them,
 * so compare decoded text; the body was validated by scan_string.
 */
static int
key_is_id(const char *s, size_t a, size_t b)
{
	static const char want[] = "id";
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
		if (k >= 2 || c != want[k])
			return 0;
		k++;
	}
	return k == 2;
}

static int
scan_number(struct scan *sc)
{
	const char *s = sc->s;

	if (s[sc->pos] == '-')
		sc->pos++;
	if (sc->pos >= sc->len || s[sc->pos] < '0' || s[sc->pos] > '9')
		return scan_fail(sc, "invalid number");
	if (s[sc->pos] == '0') {
		sc->pos++;
		if (sc->pos < sc->len && s[sc->pos] >= '0' && s[sc->pos] <= '9')
			return scan_fail(sc, "leading zero in number");
	} else {
		while (sc->pos < sc->len && s[sc->pos] >= '0' && s[sc->pos] <= '9')
			sc->pos++;
	}
	if (sc->pos < sc->len && s[sc->pos] == '.') {
		sc->pos++;
		if (sc->pos >= sc->len || s[sc->pos] < '0' || s[sc->pos] > '9')
			return scan_fail(sc, "invalid number: digit expected after '.'");
		while (sc->pos < sc->len && s[sc->pos] >= '0' && s[sc->pos] <= '9')
			sc->pos++;
	}
	if (sc->pos < sc->len && (s[sc->pos] == 'e' || s[sc->pos] == 'E')) {
		sc->pos++;
		if (sc->pos < sc->len && (s[sc->pos] == '+' || s[sc->pos] == '-'))
			sc->pos++;
		if (sc->pos >= sc->len || s[sc->pos] < '0' || s[sc->pos] > '9')
			return scan_fail(sc, "invalid number: digit expected in exponent");
		while (sc->pos < sc->len && s[sc->pos] >= '0' && s[sc->pos] <= '9')
			sc->pos++;
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

/* Makes spans[slot] exist (slot < RPC_MAX_BATCH is guaranteed). */
static int
span_slot(struct scan *sc, size_t slot)
{
	size_t n;
	struct id_span *ns;

	if (slot < sc->nspans)
		return 0;
	n = sc->nspans ? sc->nspans * 2 : 8;
	while (n <= slot)
		n *= 2;
	if (n > RPC_MAX_BATCH)
		n = RPC_MAX_BATCH;
	ns = realloc(sc->spans, n * sizeof *ns);
	if (ns == NULL) {
		sc->oom = 1;
		return scan_fail(sc, "out of memory");
	}
	memset(ns + sc->nspans, 0, (n - sc->nspans) * sizeof *ns);
	sc->spans = ns;
	sc->nspans = n;
	return 0;
}

/*
 * Scans an object at depth (its own level).  When slot >= 0 the object is
 * a request and the raw text of its "id" value goes to spans[slot].
 */
static int
scan_object(struct scan *sc, int depth, long slot)
{
	if (depth > RPC_MAX_DEPTH) {
		sc->too_deep = 1;
		return scan_fail(sc, "nesting too deep");
	}
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
		if (slot >= 0 && key_is_id(sc->s, ka, kb)) {
			if (span_slot(sc, (size_t)slot) != 0)
				return -1;
			sc->spans[slot].off = va;
			sc->spans[slot].len = sc->pos - va;
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
 * Scans an array at depth.  A top-level array is a batch: its elements are
 * counted and each object element records its id in its own slot.
 */
static int
scan_array(struct scan *sc, int depth, int top)
{
	size_t i = 0;

	if (depth > RPC_MAX_DEPTH) {
		sc->too_deep = 1;
		return scan_fail(sc, "nesting too deep");
	}
	sc->pos++;
	skip_ws(sc);
	if (sc->pos < sc->len && sc->s[sc->pos] == ']') {
		sc->pos++;
		return 0;
	}
	for (;; i++) {
		/* Past the batch cap the line is refused anyway: no slot. */
		long slot = (top && sc->capture && i < RPC_MAX_BATCH) ? (long)i : -1;

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

/*
 * Scans a whole text: one value and nothing but whitespace after it.  A
 * top-level array is scanned as a batch when capturing.
 */
static int
scan_text(struct scan *sc)
{
	int rc;

	skip_ws(sc);
	if (sc->capture && sc->pos < sc->len && sc->s[sc->pos] == '[')
		rc = scan_array(sc, 1, 1);
	else if (sc->capture && sc->pos < sc->len && sc->s[sc->pos] == '{')
		rc = scan_object(sc, 1, 0);
	else
		rc = scan_value(sc, 0, -1);
	if (rc != 0)
		return rc;
	skip_ws(sc);
	if (sc->pos != sc->len)
		return scan_fail(sc, "trailing characters after the JSON value");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Duplicate member names                                              */
/* ------------------------------------------------------------------ */

/* Scratch space for the names of one object, reused across objects. */
struct names {
	const char **v;
	size_t cap;
};

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Finds a duplicate member name anywhere under item: sorting each
 * object's names makes it O(n log n) per object, where pairwise checks
 * would let one 64 KiB line cost ~10^8 comparisons.  Names cannot contain
 * NUL (\u0000 is refused), so strcmp compares them exactly.  Returns 0, 1
 * with *dup set, or -1 on allocation failure.  Depth is bounded by the
 * scanner.
 */
static int
find_dup(const cJSON *item, struct names *nm, const char **dup)
{
	const cJSON *c;
	size_t n = 0, i;
	int rc;

	if (!cJSON_IsObject(item) && !cJSON_IsArray(item))
		return 0;
	for (c = item->child; c != NULL; c = c->next) {
		rc = find_dup(c, nm, dup);
		if (rc != 0)
			return rc;
		n++;
	}
	if (!cJSON_IsObject(item) || n < 2)
		return 0;
	if (n > nm->cap) {
		const char **nv = realloc(nm->v, n * sizeof *nv);

		if (nv == NULL)
			return -1;
		nm->v = nv;
		nm->cap = n;
	}
	i = 0;
	for (c = item->child; c != NULL; c = c->next)
		nm->v[i++] = c->string ? c->string : "";
	qsort(nm->v, n, sizeof *nm->v, cmp_names);
	for (i = 1; i < n; i++) {
		if (strcmp(nm->v[i - 1], nm->v[i]) == 0) {
			*dup = nm->v[i];
			return 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Strict parsing                                                      */
/* ------------------------------------------------------------------ */

static void set_msg(char *dst, size_t dstlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_msg(char *dst, size_t dstlen, const char *fmt, ...)
{
	va_list ap;

	if (dstlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(dst, dstlen, fmt, ap);
	va_end(ap);
}

/*
 * Copies name into dst (RPC_NAME_CLIP + 4 bytes) for an error message,
 * clipped at a UTF-8 character boundary so the message stays valid UTF-8.
 */
static void
clip_name(char *dst, const char *name)
{
	size_t n = strlen(name);

	if (n <= RPC_NAME_CLIP) {
		memcpy(dst, name, n + 1);
		return;
	}
	n = RPC_NAME_CLIP;
	while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
		n--;
	memcpy(dst, name, n);
	memcpy(dst + n, "...", 4);
}

/*
 * The common strict path of rpc_parse and rpc_json_parse: UTF-8, scanner,
 * cJSON, duplicates.  On success returns the tree; otherwise NULL with
 * *err (PK_E_PARSE, or PK_E_INTERNAL when out of memory) and errmsg set.
 * When stop_at_top is set, a valid text whose value is not an object or a
 * non-empty array of at most RPC_MAX_BATCH is refused with
 * PK_E_INVALID_REQUEST before any tree is built.
 */
static cJSON *
strict_parse(struct scan *sc, int stop_at_top, pk_err *err, char *errmsg,
    size_t errlen)
{
	struct names nm = { NULL, 0 };
	const char *end = NULL, *dup = NULL;
	char clipped[RPC_NAME_CLIP + 4];
	cJSON *root;
	size_t bad;
	int rc;

	bad = utf8_valid_prefix(sc->s, sc->len);
	if (bad != sc->len) {
		*err = PK_E_PARSE;
		set_msg(errmsg, errlen, "invalid UTF-8 at byte %zu", bad);
		return NULL;
	}
	if (scan_text(sc) != 0) {
		if (sc->oom) {
			*err = PK_E_INTERNAL;
			set_msg(errmsg, errlen, "out of memory");
		} else if (sc->too_deep) {
			*err = PK_E_PARSE;
			set_msg(errmsg, errlen,
			    "JSON nested too deep (more than %d levels)",
			    RPC_MAX_DEPTH);
		} else {
			*err = PK_E_PARSE;
			set_msg(errmsg, errlen, "invalid JSON at byte %zu: %s",
			    sc->at, sc->what);
		}
		return NULL;
	}
	if (stop_at_top) {
		size_t i = 0;
		char c;

		while (sc->s[i] == ' ' || sc->s[i] == '\t' ||
		    sc->s[i] == '\n' || sc->s[i] == '\r')
			i++;
		c = sc->s[i];
		if (c != '{' && c != '[') {
			*err = PK_E_INVALID_REQUEST;
			set_msg(errmsg, errlen,
			    "a request must be a JSON object or a batch array");
			return NULL;
		}
		if (c == '[' && sc->nelems == 0) {
			*err = PK_E_INVALID_REQUEST;
			set_msg(errmsg, errlen, "empty batch");
			return NULL;
		}
		if (c == '[' && sc->nelems > RPC_MAX_BATCH) {
			*err = PK_E_INVALID_REQUEST;
			set_msg(errmsg, errlen,
			    "batch of %zu requests (at most %d)", sc->nelems,
			    RPC_MAX_BATCH);
			return NULL;
		}
	}
	/*
	 * The scanner accepts a subset of what cJSON accepts, so a NULL here
	 * can only be an allocation failure.
	 */
	root = cJSON_ParseWithLengthOpts(sc->s, sc->len, &end, 0);
	if (root == NULL) {
		*err = PK_E_INTERNAL;
		set_msg(errmsg, errlen, "out of memory");
		return NULL;
	}
	rc = find_dup(root, &nm, &dup);
	free(nm.v);
	if (rc != 0) {
		if (rc < 0) {
			*err = PK_E_INTERNAL;
			set_msg(errmsg, errlen, "out of memory");
		} else {
			clip_name(clipped, dup);
			*err = PK_E_PARSE;
			set_msg(errmsg, errlen, "duplicate key \"%s\"", clipped);
		}
		cJSON_Delete(root);
		return NULL;
	}
	*err = PK_OK;
	return root;
}

cJSON *
rpc_json_parse(const char *s, size_t len, pk_err *err, char *errmsg,
    size_t errlen)
{
	struct scan sc;

	memset(&sc, 0, sizeof sc);
	sc.s = s;
	sc.len = len;
	if (errlen > 0)
		errmsg[0] = '\0';
	return strict_parse(&sc, 0, err, errmsg, errlen);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static void req_fail(rpc_req *r, pk_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
req_fail(rpc_req *r, pk_err e, const char *fmt, ...)
{
	va_list ap;

	r->err = e;
	r->method = NULL;
	r->params = NULL;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
	va_end(ap);
}

/*
 * Checks one request object against JSON-RPC 2.0 and parkd's rules and
 * fills r.  The id is taken first so that errors can echo it.  Returns -1
 * only on allocation failure.
 */
static int
check_req(const cJSON *item, const char *line, const struct id_span *sp,
    rpc_req *r)
{
	cJSON *c, *params = NULL;
	const cJSON *jsonrpc = NULL, *method = NULL, *id = NULL, *unknown = NULL;
	char clipped[RPC_NAME_CLIP + 4];

	if (!cJSON_IsObject(item)) {
		req_fail(r, PK_E_INVALID_REQUEST, "a request must be a JSON object");
		return 0;
	}
	/* Member names are compared case-sensitively (unlike cJSON's getters). */
	for (c = item->child; c != NULL; c = c->next) {
		const char *k = c->string ? c->string : "";

		if (strcmp(k, "jsonrpc") == 0)
			jsonrpc = c;
		else if (strcmp(k, "id") == 0)
			id = c;
		else if (strcmp(k, "method") == 0)
			method = c;
		else if (strcmp(k, "params") == 0)
			params = c;
		else if (unknown == NULL)
			unknown = c;
	}
	if (id != NULL) {
		if (!cJSON_IsString(id) && !cJSON_IsNumber(id) && !cJSON_IsNull(id)) {
			req_fail(r, PK_E_INVALID_REQUEST,
			    "\"id\" must be a string, a number or null");
			return 0;
		}
		if (sp == NULL || sp->len == 0) {
			/* Cannot happen: the scanner saw this member. */
			req_fail(r, PK_E_INTERNAL, "id span lost");
			return 0;
		}
		r->id = strndup(line + sp->off, sp->len);
		if (r->id == NULL)
			return -1;
	}
	if (unknown != NULL) {
		clip_name(clipped, unknown->string ? unknown->string : "");
		req_fail(r, PK_E_INVALID_REQUEST, "unknown member \"%s\"", clipped);
		return 0;
	}
	if (jsonrpc != NULL && (!cJSON_IsString(jsonrpc) ||
	    strcmp(jsonrpc->valuestring, "2.0") != 0)) {
		req_fail(r, PK_E_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
		return 0;
	}
	if (method == NULL) {
		req_fail(r, PK_E_INVALID_REQUEST, "\"method\" is missing");
		return 0;
	}
	if (!cJSON_IsString(method) || method->valuestring[0] == '\0') {
		req_fail(r, PK_E_INVALID_REQUEST,
		    "\"method\" must be a non-empty string");
		return 0;
	}
	if (params != NULL && cJSON_IsArray(params)) {
		/* Valid JSON-RPC, but parkd takes parameters by name only. */
		req_fail(r, PK_E_INVALID_PARAMS,
		    "\"params\" must be an object (by-name), not an array");
		return 0;
	}
	if (params != NULL && !cJSON_IsObject(params)) {
		/* JSON-RPC 2.0 requires a structured value: not a request. */
		req_fail(r, PK_E_INVALID_REQUEST, "\"params\" must be an object");
		return 0;
	}
	r->method = method->valuestring;
	r->params = params;
	r->err = PK_OK;
	r->errmsg[0] = '\0';
	return 0;
}

void
rpc_msg_free(rpc_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		free(m->reqs[i].id);
	free(m->reqs);
	cJSON_Delete(m->root);
	free(m);
}

rpc_msg *
rpc_parse(const char *line, size_t len)
{
	struct scan sc;
	rpc_msg *m;
	const cJSON *c;
	size_t i;
	pk_err err;

	m = calloc(1, sizeof *m);
	if (m == NULL)
		return NULL;
	memset(&sc, 0, sizeof sc);
	sc.s = line;
	sc.len = len;
	sc.capture = 1;
	m->root = strict_parse(&sc, 1, &err, m->errmsg, sizeof m->errmsg);
	if (m->root == NULL) {
		free(sc.spans);
		if (err == PK_E_INTERNAL) {
			free(m);
			return NULL;
		}
		m->err = err;
		return m;
	}
	m->is_batch = cJSON_IsArray(m->root);
	m->n = m->is_batch ? sc.nelems : 1;
	m->reqs = calloc(m->n, sizeof *m->reqs);
	if (m->reqs == NULL) {
		m->n = 0;
		goto fail;
	}
	c = m->is_batch ? m->root->child : m->root;
	for (i = 0; i < m->n && c != NULL; i++, c = c->next) {
		const struct id_span *sp = i < sc.nspans ? &sc.spans[i] : NULL;

		if (check_req(c, line, sp, &m->reqs[i]) != 0)
			goto fail;
	}
	free(sc.spans);
	return m;
fail:
	free(sc.spans);
	rpc_msg_free(m);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

void
rpc_response_begin(struct jw *w, const char *id_raw)
{
	const char *id = id_raw ? id_raw : "null";

	jw_obj(w);
	jw_kstr(w, "jsonrpc", "2.0");
	jw_key(w, "id");
	jw_raw(w, id, strlen(id));
}

void
rpc_result_begin(struct jw *w, const char *id_raw)
{
	rpc_response_begin(w, id_raw);
	jw_key(w, "result");
}

void
rpc_error(struct jw *w, const char *id_raw, pk_err e, const char *message,
    const struct jw *edata)
{
	if (e == PK_OK || (unsigned)e >= PK_E__COUNT)
		e = PK_E_INTERNAL;
	rpc_response_begin(w, id_raw);
	jw_key(w, "error");
	jw_obj(w);
	jw_kint(w, "code", pk_err_code(e));
	jw_kstr(w, "message", message ? message : pk_err_message(e));
	jw_key(w, "data");
	jw_obj(w);
	jw_kstr(w, "reason", pk_err_reason(e));
	/* Extra members were written with jw_members: splice them in. */
	if (edata != NULL && !jw_failed(edata) && edata->len > 0) {
		jw_splice(w, ",", 1);
		jw_splice(w, edata->buf, edata->len);
	}
	jw_obj_end(w);
	jw_obj_end(w);
	jw_obj_end(w);
}

char *
rpc_error_line(const char *id_raw, pk_err e, const char *message,
    const struct jw *edata)
{
	struct jw w;

	jw_init(&w);
	rpc_error(&w, id_raw, e, message, edata);
	return jw_take(&w, NULL);
}
