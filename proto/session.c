/* session.c - from a framed line to its response line (see session.h). */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inline.h"
#include "jsonrpc.h"

/*
 * Room for n requests' outcomes (a line's), before any is run: noting
 * one then cannot fail.  -1 when out of memory.
 */
static int
reqs_reserve(struct session *s, size_t n)
{
	struct session_req *r;
	size_t cap = s->reqs_cap ? s->reqs_cap : 4;

	if (n <= s->reqs_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	if ((r = realloc(s->reqs, cap * sizeof(*r))) == NULL)
		return -1;
	s->reqs = r;
	s->reqs_cap = cap;
	return 0;
}

/* One more request of this line, answered e by method m (NULL: none). */
static void
note(struct session *s, struct session_out *out, const struct method *m, pk_err e)
{
	if (out->requests < s->reqs_cap) {
		s->reqs[out->requests].method = m != NULL ?
		    (uint16_t)method_index(m) : SESSION_NO_METHOD;
		s->reqs[out->requests].err = (uint16_t)e;
	}
	out->requests++;
}

/* Hands the request's changes to the daemon's commit step. */
static void
commit(struct session *s, struct call *c, struct session_out *out)
{
	uint64_t hold = 0;

	if (s->env->commit == NULL) {
		changes_clear(c->changes);
		return;
	}
	if (c->changes->n == 0 && !c->acks_earlier)
		return;
	if (s->env->commit(s->env->ud, s->g, c->changes, c->acks_earlier, &hold) != 0) {
		c->err = PK_E_UNAVAILABLE;
		snprintf(c->msg, sizeof(c->msg), "%s", SESSION_UNDURABLE);
		hold = 0;
	}
	changes_clear(c->changes);
	if (hold > out->hold)
		out->hold = hold;
}

static void
take_auth(struct session *s, const struct call *c)
{
	s->role = c->role;
	s->bound_gate = NULL;
	if (c->bound_gate != NULL) {
		snprintf(s->gate_buf, sizeof(s->gate_buf), "%s", c->bound_gate);
		s->bound_gate = s->gate_buf;
	}
}

/*
 * A look-up in Redis (history, nearby): answered later by the daemon, in
 * order.  What is answered now.
 */
static pk_err
defer(const struct call *c, const char *name, const char *id, int notify,
    int in_batch, struct jw *w, struct session_out *out)
{
	char msg[96];

	if (notify)
		return PK_OK;
	if (in_batch) {
		snprintf(msg, sizeof(msg), "%s cannot be part of a batch", name);
		rpc_error(w, id, PK_E_INVALID_PARAMS, msg, NULL);
		return PK_E_INVALID_PARAMS;
	}
	out->defer_id = strdup(id ? id : "null");
	if (out->defer_id == NULL)
		return PK_E_INTERNAL;
	out->deferred = 1;
	out->defer = c->defer;
	return PK_OK;
}

/* Only a name that looks like one is echoed: it may be any client's string. */
static int
echoable(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * "unknown method 'entyr'; did you mean entry?", with data.method and
 * data.suggestions for programs.
 */
static void
unknown_method(struct jw *w, const char *id, const char *name)
{
	const char *near[3];
	size_t n = echoable(name) ? method_suggest(name, near, 3) : 0;
	char msg[256];
	struct jw data;
	int used;

	if (!echoable(name)) {
		rpc_error(w, id, PK_E_METHOD_NOT_FOUND, "unknown method; try help",
		    NULL);
		return;
	}
	used = snprintf(msg, sizeof(msg), "unknown method '%s'", name);
	for (size_t i = 0; i < n; i++)
		used += snprintf(msg + used, sizeof(msg) - (size_t)used, "%s%s",
		    i == 0 ? "; did you mean " : i + 1 == n ? " or " : ", ", near[i]);
	snprintf(msg + used, sizeof(msg) - (size_t)used, "%s",
	    n > 0 ? "?" : "; try help");
	jw_init(&data);
	jw_members(&data);
	jw_kstr(&data, "method", name);
	jw_key(&data, "suggestions");
	jw_arr(&data);
	for (size_t i = 0; i < n; i++)
		jw_str(&data, near[i]);
	jw_arr_end(&data);
	rpc_error(w, id, PK_E_METHOD_NOT_FOUND, msg,
	    jw_failed(&data) ? NULL : &data);
	jw_release(&data);
}

/*
 * Runs one request and writes its response to w (nothing for a
 * notification or a deferred answer).
 */
static void
run_one(struct session *s, const char *id, const char *name,
    const cJSON *params, int notify, int in_batch, int64_t now,
    struct session_out *out)
{
	const struct method *m = method_find(name);
	struct jw *w = &s->w;
	struct jw_mark mk;
	struct call c;
	pk_err answered;

	if (m == NULL) {
		note(s, out, NULL, PK_E_METHOD_NOT_FOUND);
		if (!notify)
			unknown_method(w, id, name);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.g = s->g;
	c.env = s->env;
	c.params = params;
	c.role = s->role;
	c.bound_gate = s->bound_gate;
	c.peer = s->peer;
	c.client = s->client;
	c.now = now;
	c.changes = &s->changes;
	c.out = w;
	jw_mark(w, &mk);
	rpc_result_begin(w, id);
	method_call(m, &c);
	commit(s, &c, out);
	if (c.authenticated && c.err == PK_OK)
		take_auth(s, &c);
	if ((c.err == PK_E_FORBIDDEN || c.err == PK_E_RATE_LIMITED) &&
	    strcmp(name, "auth") == 0)
		out->failed_auth++;
	if (c.err == PK_E_INTERNAL)
		out->internal = 1;
	if (notify || c.deferred || c.err != PK_OK)
		jw_rewind(w, &mk);
	answered = c.err;
	if (c.deferred)
		answered = defer(&c, name, id, notify, in_batch, w, out);
	else if (!notify && c.err != PK_OK)
		rpc_error(w, id, c.err, c.msg[0] ? c.msg : NULL, &c.edata);
	else if (!notify)
		jw_obj_end(w);
	note(s, out, m, answered);
	call_clear(&c);
}

static void
run_request(struct session *s, const rpc_req *r, int in_batch, int64_t now,
    struct session_out *out)
{
	if (r->err != PK_OK) {
		note(s, out, NULL, r->err);
		rpc_error(&s->w, r->id, r->err, r->errmsg[0] ? r->errmsg : NULL, NULL);
		return;
	}
	run_one(s, r->id, r->method, r->params, r->id == NULL, in_batch, now, out);
}

/* One request's fail answer: rpc_error with the error member kept in t. */
static void
fail_one(struct jw *w, const struct jw *t, const char *id)
{
	rpc_response_begin(w, id);
	jw_splice(w, ",", 1);
	jw_splice(w, t->buf, t->len);
	jw_obj_end(w);
}

/*
 * The reply to send instead when the changes of this line are lost, in
 * the session's fail writer; -1 when out of memory.
 */
static int
fail_lines(struct session *s, const rpc_msg *m, struct session_out *out)
{
	struct jw *w = &s->fw, *t = &s->ftail;

	/* Every change request has one: its error member is written once. */
	if (t->len == 0) {
		jw_members(t);
		rpc_error_members(t, PK_E_UNAVAILABLE, SESSION_UNDURABLE, NULL);
		if (jw_failed(t)) {
			jw_release(t);
			return -1;
		}
	}
	if (m == NULL || !m->is_batch) {
		fail_one(w, t, m != NULL ? m->reqs[0].id : NULL);
	} else {
		jw_arr(w);
		for (size_t i = 0; i < m->n; i++) {
			if (m->reqs[i].id != NULL)
				fail_one(w, t, m->reqs[i].id);
		}
		jw_arr_end(w);
	}
	if (jw_failed(w))
		return -1;
	out->fail_line = w->buf;
	out->fail_len = w->len;
	return 0;
}

/* Lends out the line written (none when nothing was); -1 when out of memory. */
static int
finish(struct session *s, struct session_out *out)
{
	if (jw_failed(&s->w))
		return -1;
	if (s->w.len > 0) {
		out->line = s->w.buf;
		out->line_len = s->w.len;
	}
	return 0;
}

/* rpc_parse of line, with room to note each of its requests; NULL when out of memory. */
static rpc_msg *
parse_json(struct session *s, const char *line, size_t len)
{
	rpc_msg *m = rpc_parse(line, len);

	if (m != NULL && m->is_batch && reqs_reserve(s, m->n) != 0) {
		rpc_msg_free(m);
		return NULL;
	}
	return m;
}

/* Closes a batch's array: a batch of notifications only gets no response at all. */
static void
batch_end(struct session *s)
{
	if (s->w.len == 1 && !jw_failed(&s->w))
		jw_reset(&s->w);
	else
		jw_arr_end(&s->w);
}

static int
handle_json(struct session *s, const char *line, size_t len, int64_t now,
    struct session_out *out)
{
	rpc_msg *m = parse_json(s, line, len);
	int rc;

	if (m == NULL)
		return -1;
	if (m->err != PK_OK) {
		note(s, out, NULL, m->err);
		rpc_error(&s->w, NULL, m->err, m->errmsg[0] ? m->errmsg : NULL, NULL);
	} else if (!m->is_batch) {
		run_request(s, &m->reqs[0], 0, now, out);
	} else {
		jw_arr(&s->w);
		for (size_t i = 0; i < m->n; i++)
			run_request(s, &m->reqs[i], 1, now, out);
		batch_end(s);
	}
	rc = finish(s, out);
	if (rc == 0 && out->hold != 0 && out->line != NULL &&
	    fail_lines(s, m, out) != 0)
		rc = -1;
	rpc_msg_free(m);
	return rc;
}

static int
handle_inline(struct session *s, const char *line, size_t len, int64_t now,
    struct session_out *out)
{
	char err[160];
	char *method = NULL;
	cJSON *params = NULL;
	pk_err e;

	e = inline_parse(line, len, method_positional, &method, &params, err,
	    sizeof(err));
	if (e != PK_OK) {
		note(s, out, NULL, e);
		rpc_error(&s->w, NULL, e, err[0] ? err : NULL, NULL);
	} else {
		/* Inline replies carry "id":null: people read them, nobody matches ids. */
		run_one(s, "null", method, params, 0, 0, now, out);
	}
	free(method);
	cJSON_Delete(params);
	if (finish(s, out) != 0)
		return -1;
	if (out->hold != 0 && out->line != NULL && fail_lines(s, NULL, out) != 0)
		return -1;
	return 0;
}

/*
 * Readies s and out for a line: the offset of its first character that is
 * not a space or tab, or -1 when out of memory.
 */
static long
line_begin(struct session *s, const char *line, size_t len,
    struct session_out *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	jw_reset(&s->w);
	jw_reset(&s->fw);
	/* Every line holds at least one request; a batch reserves the rest. */
	if (reqs_reserve(s, 1) != 0)
		return -1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return (long)i;
}

/* Whether the line, from its first character i, is JSON (else inline). */
static int
is_json(const char *line, size_t len, size_t i)
{
	return i < len && (line[i] == '{' || line[i] == '[');
}

int
session_handle(struct session *s, const char *line, size_t len,
    int too_long, int64_t now, struct session_out *out)
{
	long b = line_begin(s, line, len, out);
	size_t i = (size_t)b;
	int rc;

	if (b < 0)
		return -1;
	if (too_long) {
		note(s, out, NULL, PK_E_LINE_TOO_LONG);
		rpc_error(&s->w, NULL, PK_E_LINE_TOO_LONG, NULL, NULL);
		rc = finish(s, out);
	} else if (is_json(line, len, i)) {
		rc = handle_json(s, line, len, now, out);
	} else {
		rc = handle_inline(s, line + i, len - i, now, out);
	}
	/* Set last: a batch may have moved the array. */
	out->reqs = s->reqs;
	return rc;
}

int
session_refuse(struct session *s, const char *line, size_t len,
    int too_long, pk_err e, const char *msg, const struct jw *edata,
    struct session_out *out)
{
	long b = line_begin(s, line, len, out);
	rpc_msg *m = NULL;
	int rc;

	if (b < 0 || (!too_long && is_json(line, len, (size_t)b) &&
	    (m = parse_json(s, line, len)) == NULL))
		return -1;
	if (m == NULL || m->err != PK_OK) {
		note(s, out, NULL, e);
		rpc_error(&s->w, NULL, e, msg, edata);
	} else {
		if (m->is_batch)
			jw_arr(&s->w);
		for (size_t k = 0; k < m->n; k++) {
			note(s, out, NULL, e);
			if (m->reqs[k].id != NULL)
				rpc_error(&s->w, m->reqs[k].id, e, msg, edata);
		}
		if (m->is_batch)
			batch_end(s);
	}
	rpc_msg_free(m);
	rc = finish(s, out);
	out->reqs = s->reqs;
	return rc;
}

void
session_release(struct session *s)
{
	changes_release(&s->changes);
	jw_release(&s->w);
	jw_release(&s->fw);
	jw_release(&s->ftail);
	free(s->reqs);
	s->reqs = NULL;
	s->reqs_cap = 0;
}
