/*
 * fuzz_json.c - libFuzzer target for the one strict JSON parser
 * (lib/json.h), which every text parkd reads goes through.
 *
 * Oracles, besides the sanitizers:
 *   - what it accepts is valid UTF-8, no object in it has two members of
 *     one name (checked pairwise, the plain way), and its tree is the one
 *     cJSON's own parser builds, member by member and bit for bit,
 *     whenever cJSON's parser can read the text (not a number of 64
 *     characters or more), with the links cJSON keeps (next, prev, the
 *     first child's prev is the last);
 *   - what it accepts, written back through the one writer, is accepted
 *     again and writes back the same (printing is idempotent);
 *   - a refusal has a message in valid UTF-8 that either names a place
 *     ("line L, column C: ...", L at most the lines there are) or a
 *     duplicate key path;
 *   - each raw span recorded for "id" lies inside the text and is itself
 *     one JSON value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "../common/jtree.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
	abort(); } } while (0)

/* Whether any object under j has two members of one name. */
static int
has_dup(const cJSON *j)
{
	const cJSON *a, *b;

	for (a = j->child; a != NULL; a = a->next) {
		if (has_dup(a))
			return 1;
		if (!cJSON_IsObject(j))
			continue;
		for (b = a->next; b != NULL; b = b->next)
			if (strcmp(a->string, b->string) == 0)
				return 1;
	}
	return 0;
}

/*
 * Whether the text, outside strings, has a number of 64 characters or
 * more: cJSON's parser reads the first 63 and takes the rest as what
 * follows (at the top level, as trailing text it ignores).
 */
static int
long_number(const char *s, size_t n)
{
	size_t run = 0;
	int in_str = 0;

	for (size_t i = 0; i < n; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
			continue;
		}
		if (s[i] == '"') {
			in_str = 1;
			run = 0;
		} else if (strchr("0123456789+-.eE", s[i]) != NULL && s[i] != '\0') {
			if (++run >= 64)
				return 1;
		} else {
			run = 0;
		}
	}
	return 0;
}

/* Whether a and b are the same tree: types, names, values, order. */
static int
same_tree(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;

	if ((a->type & 0xFF) != (b->type & 0xFF) || a->valueint != b->valueint ||
	    memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) != 0)
		return 0;
	if ((a->string == NULL) != (b->string == NULL) ||
	    (a->string != NULL && strcmp(a->string, b->string) != 0))
		return 0;
	if ((a->valuestring == NULL) != (b->valuestring == NULL) ||
	    (a->valuestring != NULL && strcmp(a->valuestring, b->valuestring) != 0))
		return 0;
	for (x = a->child, y = b->child; x != NULL && y != NULL;
	    x = x->next, y = y->next) {
		if (!same_tree(x, y))
			return 0;
	}
	return x == NULL && y == NULL;
}

/* Whether the sibling links under j are the ones cJSON makes. */
static int
links_ok(const cJSON *j)
{
	const cJSON *c, *last = NULL;

	for (c = j->child; c != NULL; c = c->next) {
		if (c != j->child && c->prev != last)
			return 0;
		if (!links_ok(c))
			return 0;
		last = c;
	}
	return j->child == NULL || j->child->prev == last;
}

static char *
print(const cJSON *t)
{
	struct jw w;

	jw_init(&w);
	jt_write(&w, t);
	return jw_take(&w, NULL);
}

static void
check_refusal(const char *s, size_t len, const char *msg)
{
	size_t line = 0, col = 0, lines = 1;

	FZ_CHECK(msg[0] != '\0' && utf8_valid(msg, strlen(msg)));
	if (strstr(msg, ": duplicate key") != NULL)
		return;
	FZ_CHECK(sscanf(msg, "line %zu, column %zu: ", &line, &col) == 2);
	for (size_t i = 0; i < len; i++)
		lines += s[i] == '\n';
	FZ_CHECK(line >= 1 && line <= lines && col >= 1 && col <= len + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char msg[200];
	struct jerr e = { msg, sizeof msg, 0 };
	struct json_raw raw = { .key = "id", .max = 16 };
	cJSON *t, *lenient, *again;
	char *p1, *p2;

	t = json_parse(s, size, "", &e);
	if (t == NULL) {
		FZ_CHECK(!e.nomem);
		check_refusal(s, size, msg);
		return 0;
	}
	FZ_CHECK(utf8_valid(s, size));
	lenient = cJSON_ParseWithLength(s, size);
	if (!long_number(s, size)) {
		FZ_CHECK(lenient != NULL);
		FZ_CHECK(same_tree(t, lenient));
	}
	cJSON_Delete(lenient);
	FZ_CHECK(links_ok(t));
	FZ_CHECK(!has_dup(t));

	/* Written back: accepted again, and the same when written again. */
	p1 = print(t);
	FZ_CHECK(p1 != NULL);
	again = json_parse(p1, strlen(p1), "", &e);
	FZ_CHECK(again != NULL);
	p2 = print(again);
	FZ_CHECK(p2 != NULL && strcmp(p1, p2) == 0);
	free(p1);
	free(p2);
	cJSON_Delete(again);
	cJSON_Delete(t);

	/* The raw spans of "id". */
	t = json_parse_ex(s, size, "", "", &raw, &e);
	FZ_CHECK(t != NULL);
	cJSON_Delete(t);
	for (size_t i = 0; i < raw.nspans; i++) {
		const struct json_span *sp = &raw.spans[i];

		if (sp->len == 0)
			continue;
		FZ_CHECK(sp->off + sp->len <= size);
		t = json_parse(s + sp->off, sp->len, "", &e);
		FZ_CHECK(t != NULL);
		cJSON_Delete(t);
	}
	free(raw.spans);
	return 0;
}
