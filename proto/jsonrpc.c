/* jsonrpc.c - JSON-RPC 2.0 request parsing and response building (see jsonrpc.h). */
#include "jsonrpc.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streq.h"

/* Member names quoted in error messages are clipped to this many bytes. */
#define RPC_NAME_CLIP 40

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

/* The raw id text (len bytes at text) as r's id: in r when short.  0 or -1. */
static int
keep_id(rpc_req *r, const char *text, size_t len)
{
	if (len < sizeof(r->id_short))
		r->id = r->id_short;
	else if ((r->id = malloc(len + 1)) == NULL)
		return -1;
	memcpy(r->id, text, len);
	r->id[len] = '\0';
	return 0;
}

/*
 * Checks one request object against JSON-RPC 2.0 and parkd's rules and
 * fills r.  The id is taken first so that errors can echo it.  Returns -1
 * only on allocation failure.
 */
static int
check_req(const cJSON *item, const char *line, const struct json_span *sp,
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

		if (streq(k, "jsonrpc"))
			jsonrpc = c;
		else if (streq(k, "id"))
			id = c;
		else if (streq(k, "method"))
			method = c;
		else if (streq(k, "params"))
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
			/* Cannot happen: the parser recorded its span. */
			req_fail(r, PK_E_INTERNAL, "id span lost");
			return 0;
		}
		if (keep_id(r, line + sp->off, sp->len) != 0)
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
		if (m->reqs[i].id != m->reqs[i].id_short)
			free(m->reqs[i].id);
	if (m->reqs != &m->one)
		free(m->reqs);
	json_tree_free(m->root);
	free(m);
}

/*
 * Refuses a valid text whose value is not an object or a non-empty array
 * of at most RPC_MAX_BATCH (the parser built no element past that: a line
 * of a million elements costs no million nodes).  0 or -1 with m set.
 */
static int
check_top(const cJSON *root, const struct json_raw *raw, rpc_msg *m)
{
	m->err = PK_E_INVALID_REQUEST;
	if (!cJSON_IsObject(root) && !cJSON_IsArray(root))
		snprintf(m->errmsg, sizeof m->errmsg,
		    "a request must be a JSON object or a batch array");
	else if (cJSON_IsArray(root) && raw->nelems == 0)
		snprintf(m->errmsg, sizeof m->errmsg, "empty batch");
	else if (cJSON_IsArray(root) && raw->nelems > RPC_MAX_BATCH)
		snprintf(m->errmsg, sizeof m->errmsg,
		    "batch of %zu requests (at most %d)", raw->nelems,
		    RPC_MAX_BATCH);
	else
		m->err = PK_OK;
	return m->err == PK_OK ? 0 : -1;
}

/* The members of a request, as parse_lone tells them apart. */
enum { M_JSONRPC, M_ID, M_METHOD, M_PARAMS };

static int
member_of(const char *k, size_t n)
{
	switch (n) {
	case 2:
		return memcmp(k, "id", 2) == 0 ? M_ID : -1;
	case 6:
		return memcmp(k, "method", 6) == 0 ? M_METHOD :
		    memcmp(k, "params", 6) == 0 ? M_PARAMS : -1;
	case 7:
		return memcmp(k, "jsonrpc", 7) == 0 ? M_JSONRPC : -1;
	default:
		return -1;
	}
}

/*
 * The line as almost every line is: one request object whose envelope is
 * read in place, with only params built into a tree (about half of what
 * the whole tree cost, 2 000 instructions of a gate's request).  It takes
 * names without escapes, each once and none unknown; "jsonrpc" written
 * "2.0"; an id that is a string, a number or null; a method of plain
 * characters shorter than RPC_METHOD_SHORT; params absent or an object.
 * 1 with m filled as the general path fills it; 0 for every other line,
 * valid or not, and when out of memory: the general path answers those,
 * with its messages.
 */
static int
parse_lone(const char *line, size_t len, rpc_msg *m)
{
	struct json_scan sc;
	const char *method = NULL, *k;
	size_t id_off = 0, id_len = 0, mlen = 0, kn;
	cJSON *params = NULL;
	unsigned seen = 0;
	rpc_req *r = &m->one;
	int which, c;

	if (json_scan_begin(&sc, line, len, '{') != 0)
		return 0;
	do {
		if (json_scan_plain(&sc, &k, &kn) != 0 ||
		    (which = member_of(k, kn)) < 0 || (seen & (1u << which)) ||
		    json_scan_byte(&sc, ':') != 0)
			goto general;
		seen |= 1u << which;
		switch (which) {
		case M_JSONRPC:
			if (json_scan_plain(&sc, &k, &kn) != 0 || kn != 3 ||
			    memcmp(k, "2.0", 3) != 0)
				goto general;
			break;
		case M_ID:
			c = json_scan_peek(&sc);
			if (c == 't' || c == 'f' ||
			    json_scan_scalar(&sc, &id_off, &id_len) != 0)
				goto general;
			break;
		case M_METHOD:
			if (json_scan_plain(&sc, &method, &mlen) != 0 ||
			    mlen == 0 || mlen >= RPC_METHOD_SHORT)
				goto general;
			break;
		case M_PARAMS:
			if (json_scan_peek(&sc) != '{' ||
			    (params = json_scan_object(&sc, 2)) == NULL)
				goto general;
			break;
		}
	} while (json_scan_byte(&sc, ',') == 0);
	if (json_scan_byte(&sc, '}') != 0 || json_scan_end(&sc) != 0 ||
	    method == NULL)
		goto general;
	r->id = NULL;
	if ((seen & (1u << M_ID)) && keep_id(r, line + id_off, id_len) != 0)
		goto general;
	memcpy(m->method_short, method, mlen);
	m->method_short[mlen] = '\0';
	r->method = m->method_short;
	r->params = params;
	r->err = PK_OK;
	r->errmsg[0] = '\0';
	m->root = params;
	m->reqs = r;
	m->n = 1;
	m->err = PK_OK;
	return 1;
general:
	json_tree_free(params);
	return 0;
}

static rpc_msg *
parse_line(const char *line, size_t len, int fast)
{
	struct json_raw raw = { .key = "id", .max = RPC_MAX_BATCH };
	struct jerr e;
	rpc_msg *m;
	const cJSON *c;
	size_t i;

	/*
	 * malloc, not calloc: glibc's calloc never takes from its per-thread
	 * cache, and a line's message is freed before the next is parsed.
	 * Zeroed up to the message buffers (zeroing their 320 bytes cost
	 * 1.6 % of a request); those are written before they are read.
	 */
	m = malloc(sizeof *m);
	if (m == NULL)
		return NULL;
	memset(m, 0, offsetof(rpc_msg, errmsg));
	m->errmsg[0] = '\0';
	if (fast && parse_lone(line, len, m))
		return m;
	e = (struct jerr){ m->errmsg, sizeof m->errmsg, 0 };
	if ((m->root = json_parse_ex(line, len, "", "", &raw, &e)) == NULL ||
	    check_top(m->root, &raw, m) != 0) {
		free(raw.spans);
		json_tree_free(m->root);
		m->root = NULL;
		if (e.nomem) {
			free(m);
			return NULL;
		}
		if (m->err == PK_OK)
			m->err = PK_E_PARSE;
		return m;
	}
	m->is_batch = cJSON_IsArray(m->root);
	m->n = m->is_batch ? raw.nelems : 1;
	if (m->is_batch) {
		m->reqs = calloc(m->n, sizeof *m->reqs);
	} else {
		m->reqs = &m->one;
		m->one.id = NULL;
	}
	if (m->reqs == NULL) {
		m->n = 0;
		goto fail;
	}
	c = m->is_batch ? m->root->child : m->root;
	for (i = 0; i < m->n && c != NULL; i++, c = c->next) {
		const struct json_span *sp = i < raw.nspans ? &raw.spans[i] : NULL;

		if (check_req(c, line, sp, &m->reqs[i]) != 0)
			goto fail;
	}
	free(raw.spans);
	return m;
fail:
	free(raw.spans);
	rpc_msg_free(m);
	return NULL;
}

rpc_msg *
rpc_parse(const char *line, size_t len)
{
	return parse_line(line, len, 1);
}

rpc_msg *
rpc_parse_general(const char *line, size_t len)
{
	return parse_line(line, len, 0);
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

void
rpc_response_begin(struct jw *w, const char *id_raw)
{
	/*
	 * Every reply begins so: its first member and the next name as one
	 * literal (after a name the writer expects a value, as after jw_key).
	 */
	static const char head[] = "\"jsonrpc\":\"2.0\",\"id\":";
	const char *id = id_raw ? id_raw : "null";

	jw_obj(w);
	jw_splice(w, head, sizeof(head) - 1);
	jw_raw(w, id, strlen(id));
}

void
rpc_result_begin(struct jw *w, const char *id_raw)
{
	rpc_response_begin(w, id_raw);
	jw_key(w, "result");
}

/* "error":{...}, the error member of a response. */
static void
error_member(struct jw *w, pk_err e, const char *message, const struct jw *edata)
{
	if (e == PK_OK || (unsigned)e >= PK_E__COUNT)
		e = PK_E_INTERNAL;
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
}

void
rpc_error(struct jw *w, const char *id_raw, pk_err e, const char *message,
    const struct jw *edata)
{
	rpc_response_begin(w, id_raw);
	error_member(w, e, message, edata);
	jw_obj_end(w);
}

void
rpc_error_members(struct jw *w, pk_err e, const char *message,
    const struct jw *edata)
{
	error_member(w, e, message, edata);
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
