/*
 * rpcsame.h - tests only: whether two parses of a line (rpc_parse and
 * rpc_parse_general) give the same answer, to hold rpc_parse's fast path
 * to the general one (unit test and fuzzing).
 */
#ifndef PARKD_TEST_RPCSAME_H
#define PARKD_TEST_RPCSAME_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "jtree.h"

/* Both NULL, or equal strings. */
static inline int
rs_streq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/*
 * params written back (jtree.h); NULL for none.  A tree that cannot be
 * written stops the test: two failures must not compare as equal trees.
 */
static inline char *
rs_tree(const cJSON *t)
{
	struct jw w;
	char *s;

	if (t == NULL)
		return NULL;
	jw_init(&w);
	jt_write(&w, t);
	if ((s = jw_take(&w, NULL)) == NULL) {
		fprintf(stderr, "rpcsame: a params tree could not be written\n");
		abort();
	}
	return s;
}

/*
 * 1 when a and b say the same of the line: the same refusal and message,
 * or the same requests (ids, methods, errors, messages, params, in order).
 * Otherwise 0 and what differs in why.
 */
static inline int
rpc_same(const rpc_msg *a, const rpc_msg *b, char *why, size_t wl)
{
	if (a == NULL || b == NULL) {
		snprintf(why, wl, "one is NULL (out of memory?)");
		return a == b;
	}
	if (a->err != b->err || strcmp(a->errmsg, b->errmsg) != 0) {
		snprintf(why, wl, "line: %d \"%s\" against %d \"%s\"", a->err,
		    a->errmsg, b->err, b->errmsg);
		return 0;
	}
	if (a->is_batch != b->is_batch || a->n != b->n) {
		snprintf(why, wl, "batch %d of %zu against %d of %zu",
		    a->is_batch, a->n, b->is_batch, b->n);
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		const rpc_req *x = &a->reqs[i], *y = &b->reqs[i];
		char *px = rs_tree(x->params), *py = rs_tree(y->params);
		int same = rs_streq(px, py);

		free(px);
		free(py);
		if (!rs_streq(x->id, y->id) || !rs_streq(x->method, y->method) ||
		    x->err != y->err || strcmp(x->errmsg, y->errmsg) != 0 ||
		    !same) {
			snprintf(why, wl, "request %zu: id %s/%s method %s/%s err %d/%d"
			    " \"%s\"/\"%s\" params %s", i, x->id ? x->id : "-",
			    y->id ? y->id : "-", x->method ? x->method : "-",
			    y->method ? y->method : "-", x->err, y->err, x->errmsg,
			    y->errmsg, same ? "same" : "differ");
			return 0;
		}
	}
	return 1;
}

#endif
