/*
 * fuzz_proto.c - libFuzzer target for the protocol layer: framer, UTF-8,
 * JSON-RPC parsing and printing, inline commands.
 *
 * Input layout: byte 0 picks max_line, bytes 1..4 pick the chunk sizes the
 * stream is fed in, the rest is the stream.  Besides the sanitizers, it
 * checks these oracles:
 *   - the framer gives the same lines whether fed in chunks or at once,
 *     and the same as a trivial reference splitter over the whole input;
 *   - it never holds more than max_line + 1 bytes;
 *   - every line it delivers is non-blank, at most max_line, LF-free;
 *   - every response or notification line built is strict JSON (our own
 *     parser accepts it), and printing is idempotent (print, parse, print
 *     gives the same text);
 *   - an id is echoed byte for byte;
 *   - rpc_parse (its fast path for a lone request) and rpc_parse_general
 *     give the same answer for every line.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "inline.h"
#include "jsonrpc.h"
#include "methods.h"
#include "../common/jtree.h"
#include "../common/rpcsame.h"
#include "perr.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
	abort(); } } while (0)

struct fz_events {
	uint64_t hash;		/* of the sequence of line events */
	size_t count;
	size_t max_line;
	int work;		/* also parse each line */
};

static uint64_t
fz_mix(uint64_t h, const char *s, size_t n, uint64_t tag)
{
	size_t i;

	h ^= tag + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001B3ULL;
	return h ^ (n * 0x2545F4914F6CDD1DULL);
}

/* A tree written back through the one writer; NULL when too deep for it. */
static char *
fz_print(const cJSON *t)
{
	struct jw w;

	jw_init(&w);
	jt_write(&w, t);
	return jw_take(&w, NULL);
}

/* A result line with the tree as the result, built like a reply. */
static char *
fz_result_line(const char *id, const cJSON *t)
{
	struct jw w;

	jw_init(&w);
	rpc_result_begin(&w, id);
	if (t == NULL)
		jw_null(&w);
	else
		jt_write(&w, t);
	jw_obj_end(&w);
	return jw_take(&w, NULL);
}

/* A line our strict parser accepts (deep inline values may exceed depth). */
static void
fz_check_json(const char *line, int allow_deep)
{
	char msg[RPC_ERRMSG_LEN];
	struct jerr e = { msg, sizeof msg, 0 };
	cJSON *t;
	char *again, *third;

	FZ_CHECK(line != NULL);
	t = json_parse(line, strlen(line), "", &e);
	if (t == NULL) {
		if (allow_deep && strstr(msg, "too deep") != NULL)
			return;
		fprintf(stderr, "bad output line (%s): %s\n", msg, line);
		abort();
	}
	/* Printing what we printed changes nothing. */
	again = fz_print(t);
	FZ_CHECK(again != NULL);
	cJSON_Delete(t);
	t = json_parse(again, strlen(again), "", &e);
	FZ_CHECK(t != NULL);
	third = fz_print(t);
	FZ_CHECK(third != NULL && strcmp(again, third) == 0);
	free(third);
	free(again);
	cJSON_Delete(t);
}

/*
 * Whether printed (parsed back from our output) is the same value as orig:
 * numbers must be exactly equal, except non-finite ones, printed as null.
 */
static int
fz_same(const cJSON *orig, const cJSON *printed)
{
	const cJSON *a, *b;

	if (cJSON_IsNumber(orig) && (isnan(orig->valuedouble) ||
	    isinf(orig->valuedouble)))
		return cJSON_IsNull(printed);
	if ((orig->type & 0xFF) != (printed->type & 0xFF))
		return 0;
	if (cJSON_IsNumber(orig))
		return orig->valuedouble == printed->valuedouble;
	if (cJSON_IsString(orig))
		return strcmp(orig->valuestring, printed->valuestring) == 0;
	for (a = orig->child, b = printed->child; a != NULL && b != NULL;
	    a = a->next, b = b->next) {
		if (cJSON_IsObject(orig) && strcmp(a->string, b->string) != 0)
			return 0;
		if (!fz_same(a, b))
			return 0;
	}
	return a == NULL && b == NULL;
}

/* The result of a result line we built prints back as the same value. */
static void
fz_check_result(const char *line, const cJSON *want)
{
	struct jerr e = { NULL, 0, 0 };
	cJSON *t = json_parse(line, strlen(line), "", &e);
	const cJSON *res;

	FZ_CHECK(t != NULL);
	res = cJSON_GetObjectItemCaseSensitive(t, "result");
	FZ_CHECK(res != NULL);
	if (want == NULL)
		FZ_CHECK(cJSON_IsNull(res));
	else
		FZ_CHECK(fz_same(want, res));
	cJSON_Delete(t);
}

static void
fz_json_line(const char *line, size_t len)
{
	rpc_msg *m = rpc_parse(line, len), *g = rpc_parse_general(line, len);
	char **lines, why[512];
	size_t i, n = 0;
	char *out;

	FZ_CHECK(m != NULL);
	/* The fast path answers every line as the whole tree does. */
	if (!rpc_same(m, g, why, sizeof why)) {
		fprintf(stderr, "rpc_parse and rpc_parse_general differ on %.*s: %s\n",
		    (int)len, line, why);
		abort();
	}
	rpc_msg_free(g);
	if (m->err != PK_OK) {
		FZ_CHECK(m->n == 0 && m->root == NULL && m->errmsg[0] != '\0');
		FZ_CHECK(m->err == PK_E_PARSE || m->err == PK_E_INVALID_REQUEST);
		out = rpc_error_line(NULL, m->err, m->errmsg, NULL);
		fz_check_json(out, 0);
		free(out);
		rpc_msg_free(m);
		return;
	}
	FZ_CHECK(m->n >= 1 && m->n <= RPC_MAX_BATCH);
	lines = calloc(m->n, sizeof *lines);
	FZ_CHECK(lines != NULL);
	for (i = 0; i < m->n; i++) {
		const rpc_req *r = &m->reqs[i];

		if (r->err != PK_OK) {
			FZ_CHECK(r->method == NULL && r->errmsg[0] != '\0');
			out = rpc_error_line(r->id, r->err, r->errmsg, NULL);
		} else {
			FZ_CHECK(r->method != NULL && r->method[0] != '\0');
			FZ_CHECK(r->params == NULL || cJSON_IsObject(r->params));
			if (r->id == NULL)
				continue;
			/* Echo the params as a result: arbitrary trees printed. */
			out = fz_result_line(r->id, r->params);
			FZ_CHECK(out != NULL);
			fz_check_result(out, r->params);
		}
		FZ_CHECK(out != NULL);
		if (r->id != NULL) {
			/* The id is echoed byte for byte right after "id":. */
			size_t il = strlen(r->id);

			FZ_CHECK(strncmp(out + 22, r->id, il) == 0);
			FZ_CHECK(utf8_valid(r->id, il));
		}
		fz_check_json(out, 0);
		lines[n++] = out;
	}
	if (n > 0) {
		struct jw w;

		jw_init(&w);
		jw_arr(&w);
		for (i = 0; i < n; i++)
			jw_raw(&w, lines[i], strlen(lines[i]));
		jw_arr_end(&w);
		out = jw_take(&w, NULL);
		fz_check_json(out, 0);
		free(out);
	}
	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	rpc_msg_free(m);
}

static void
fz_inline_line(const char *line, size_t len)
{
	char msg[RPC_ERRMSG_LEN];
	char *method = (char *)1, *out;
	cJSON *params = (cJSON *)1;
	pk_err e;

	e = inline_parse(line, len, method_positional, &method, &params, msg, sizeof msg);
	if (e != PK_OK) {
		FZ_CHECK(method == NULL && params == NULL);
		FZ_CHECK(msg[0] != '\0' && utf8_valid(msg, strlen(msg)));
		out = rpc_error_line("null", e, msg, NULL);
		fz_check_json(out, 0);
		free(out);
		return;
	}
	FZ_CHECK(method != NULL && method[0] != '\0' && cJSON_IsObject(params));
	out = fz_print(params);
	/* Params nested deeper than the writer takes are refused, not written. */
	if (out != NULL)
		fz_check_json(out, 1);
	free(out);
	free(method);
	cJSON_Delete(params);
}

static int
fz_cb(void *ud, const char *line, size_t len, int too_long)
{
	struct fz_events *ev = ud;
	size_t i;
	int blank = 1;

	ev->count++;
	if (too_long) {
		FZ_CHECK(line == NULL && len == 0);
		ev->hash = fz_mix(ev->hash, "", 0, 1);
		return 0;
	}
	FZ_CHECK(line != NULL && len > 0 && len <= ev->max_line);
	FZ_CHECK(memchr(line, '\n', len) == NULL);
	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t')
			blank = 0;
	FZ_CHECK(!blank);
	ev->hash = fz_mix(ev->hash, line, len, 2);
	if (ev->work) {
		fz_json_line(line, len);
		fz_inline_line(line, len);
	}
	return 0;
}

/* The framing rules applied to the whole stream at once, simply. */
static void
fz_reference(const char *s, size_t n, struct fz_events *ev)
{
	size_t a = 0, b, i;

	for (;;) {
		const char *lf = memchr(s + a, '\n', n - a);
		size_t len;
		int blank = 1;

		if (lf == NULL)
			break;
		b = (size_t)(lf - s);
		len = b - a;
		if (len > 0 && s[b - 1] == '\r')
			len--;
		for (i = 0; i < len; i++)
			if (s[a + i] != ' ' && s[a + i] != '\t')
				blank = 0;
		ev->count++;
		if (len > ev->max_line)
			ev->hash = fz_mix(ev->hash, "", 0, 1);
		else if (blank)
			ev->count--;
		else
			ev->hash = fz_mix(ev->hash, s + a, len, 2);
		a = b + 1;
	}
	/* A partial line is reported once it is known to be too long. */
	if (n - a > ev->max_line + 1 ||
	    (n - a == ev->max_line + 1 && s[n - 1] != '\r')) {
		ev->count++;
		ev->hash = fz_mix(ev->hash, "", 0, 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_events chunked = { 0, 0, 0, 1 }, whole = { 0, 0, 0, 0 };
	struct fz_events ref = { 0, 0, 0, 0 };
	const char *s;
	size_t n, max_line, off = 0, k = 0;
	uint8_t sizes[4];
	framer *f, *g;

	if (size < 5)
		return 0;
	max_line = (data[0] & 0x80) ? (size_t)(data[0] & 0x7F) * 32 + 1 :
	    (size_t)data[0];
	memcpy(sizes, data + 1, 4);
	s = (const char *)data + 5;
	n = size - 5;
	chunked.max_line = whole.max_line = ref.max_line = max_line;

	f = framer_new(max_line);
	g = framer_new(max_line);
	FZ_CHECK(f != NULL && g != NULL);
	while (off < n) {
		size_t c = sizes[k++ % 4];

		/* 0 means "the rest"; otherwise 1..255 bytes. */
		if (c == 0 || c > n - off)
			c = n - off;
		FZ_CHECK(framer_feed(f, s + off, c, fz_cb, &chunked) == 0);
		FZ_CHECK(framer_buffered(f) <= max_line + 1);
		off += c;
	}
	FZ_CHECK(framer_feed(g, s, n, fz_cb, &whole) == 0);
	fz_reference(s, n, &ref);
	FZ_CHECK(chunked.count == whole.count && chunked.hash == whole.hash);
	FZ_CHECK(ref.count == whole.count && ref.hash == whole.hash);
	FZ_CHECK(framer_buffered(f) == framer_buffered(g));
	framer_free(f);
	framer_free(g);
	return 0;
}
