/* session.c - from a framed line to its response line (see session.h). */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inline.h"
#include "jsonrpc.h"

/* Runs one request and returns its response line (NULL for a notification). */
static char *
run_one(struct session *s, const char *id, const char *name,
    const cJSON *params, int notify, int in_batch, int64_t now,
    struct session_out *out)
{
	const struct method *m = method_find(name);
	struct call c;
	char *line;

	if (m == NULL) {
		if (notify)
			return NULL;
		return rpc_error_line(id, PK_E_METHOD_NOT_FOUND,
		    "unknown method; try help", NULL);
	}
	memset(&c, 0, sizeof(c));
	c.g = s->g;
	c.env = s->env;
	c.params = params;
	c.role = s->role;
	c.bound_gate = s->bound_gate;
	c.peer = s->peer;
	c.now = now;
	method_call(m, &c);
	if (c.changed)
		out->changed = 1;
	if (c.authenticated) {
		s->role = c.role;
		s->bound_gate = NULL;
		if (c.bound_gate != NULL) {
			snprintf(s->gate_buf, sizeof(s->gate_buf), "%s", c.bound_gate);
			s->bound_gate = s->gate_buf;
		}
	}
	if ((c.err == PK_E_FORBIDDEN || c.err == PK_E_RATE_LIMITED) &&
	    strcmp(name, "auth") == 0)
		out->failed_auth++;
	if (c.err == PK_E_INTERNAL)
		out->internal = 1;
	if (c.deferred) {
		call_clear(&c);
		if (notify)
			return NULL;
		if (in_batch)
			return rpc_error_line(id, PK_E_INVALID_PARAMS,
			    "history cannot be part of a batch", NULL);
		out->defer_id = strdup(id ? id : "null");
		if (out->defer_id == NULL)
			return NULL;
		out->deferred = 1;
		memcpy(out->defer_subject, c.defer_subject, sizeof(out->defer_subject));
		out->defer_limit = c.defer_limit;
		return NULL;
	}
	if (notify)
		line = NULL;
	else if (c.err == PK_OK)
		line = rpc_result_line(id, c.result);
	else
		line = rpc_error_line(id, c.err, c.msg[0] ? c.msg : NULL, c.err_data);
	call_clear(&c);
	return line;
}

static char *
run_request(struct session *s, const rpc_req *r, int in_batch, int64_t now,
    struct session_out *out, int *oom)
{
	char *line;

	if (r->err != PK_OK) {
		line = rpc_error_line(r->id, r->err, r->errmsg[0] ? r->errmsg : NULL, NULL);
	} else {
		line = run_one(s, r->id, r->method, r->params, r->id == NULL,
		    in_batch, now, out);
		if (line == NULL && (r->id == NULL || out->deferred))
			return NULL;
	}
	if (line == NULL)
		*oom = 1;
	return line;
}

#define UNDURABLE "the change could not be made durable; it was not made"

/* The reply to send instead when the changes of this line are lost. */
static char *
fail_lines(const rpc_msg *m)
{
	char **lines;
	char *out;
	size_t n = 0;

	if (!m->is_batch)
		return rpc_error_line(m->reqs[0].id, PK_E_UNAVAILABLE, UNDURABLE, NULL);
	lines = calloc(m->n, sizeof(*lines));
	if (lines == NULL)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		if (m->reqs[i].id != NULL)
			lines[n++] = rpc_error_line(m->reqs[i].id, PK_E_UNAVAILABLE,
			    UNDURABLE, NULL);
	}
	out = n ? rpc_batch_join(lines, n) : NULL;
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return out;
}

static int
handle_json(struct session *s, const char *line, size_t len, int64_t now,
    struct session_out *out)
{
	rpc_msg *m = rpc_parse(line, len);
	char **lines;
	size_t n = 0;
	int oom = 0;

	if (m == NULL)
		return -1;
	if (m->err != PK_OK) {
		out->line = rpc_error_line(NULL, m->err, m->errmsg[0] ? m->errmsg : NULL, NULL);
		rpc_msg_free(m);
		return out->line ? 0 : -1;
	}
	if (!m->is_batch) {
		out->line = run_request(s, &m->reqs[0], 0, now, out, &oom);
		if (out->deferred) {
			rpc_msg_free(m);
			return 0;
		}
		if (out->changed && out->line != NULL)
			out->fail_line = fail_lines(m);
		rpc_msg_free(m);
		return oom ? -1 : 0;
	}
	lines = calloc(m->n, sizeof(*lines));
	if (lines == NULL) {
		rpc_msg_free(m);
		return -1;
	}
	for (size_t i = 0; i < m->n; i++) {
		char *l = run_request(s, &m->reqs[i], 1, now, out, &oom);

		if (l != NULL)
			lines[n++] = l;
	}
	/* A batch of notifications only gets no response at all. */
	if (n > 0 && !oom) {
		out->line = rpc_batch_join(lines, n);
		if (out->changed)
			out->fail_line = fail_lines(m);
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	rpc_msg_free(m);
	return (oom || (n > 0 && out->line == NULL)) ? -1 : 0;
}

static int
handle_inline(struct session *s, const char *line, size_t len, int64_t now,
    struct session_out *out)
{
	char err[160];
	char *method = NULL;
	cJSON *params = NULL;
	pk_err e;

	e = inline_parse(line, len, &method, &params, err, sizeof(err));
	if (e != PK_OK) {
		out->line = rpc_error_line(NULL, e, err[0] ? err : NULL, NULL);
		free(method);
		cJSON_Delete(params);
		return out->line ? 0 : -1;
	}
	/* Inline replies carry "id":null: people read them, nobody matches ids. */
	out->line = run_one(s, "null", method, params, 0, 0, now, out);
	if (out->deferred) {
		free(method);
		cJSON_Delete(params);
		return 0;
	}
	if (out->changed && out->line != NULL)
		out->fail_line = rpc_error_line(NULL, PK_E_UNAVAILABLE, UNDURABLE, NULL);
	free(method);
	cJSON_Delete(params);
	return out->line ? 0 : -1;
}

int
session_handle(struct session *s, const char *line, size_t len,
    int too_long, int64_t now, struct session_out *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	if (too_long) {
		out->line = rpc_error_line(NULL, PK_E_LINE_TOO_LONG, NULL, NULL);
		return out->line ? 0 : -1;
	}
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < len && (line[i] == '{' || line[i] == '['))
		return handle_json(s, line, len, now, out);
	return handle_inline(s, line + i, len - i, now, out);
}
