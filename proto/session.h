/*
 * session.h - one client's protocol session: a framed line in, the
 * response line out.
 *
 * This is where JSON-RPC and inline commands meet the method table.  It
 * keeps the per-connection protocol state (the role after auth) and does no
 * I/O, so a whole conversation can be tested or fuzzed without a socket.
 */
#ifndef PARKD_SESSION_H
#define PARKD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "methods.h"

struct session {
	garage *g;
	const struct call_env *env;
	enum role role;			/* ROLE_NONE until auth (when auth is on) */
	const char *bound_gate;		/* NULL, or gate_buf */
	char gate_buf[65];		/* a copy: tokens may be reloaded meanwhile */
	char peer[64];			/* the client's address (no port) */
};

struct session_out {
	char *line;		/* the response, malloc'd, no newline; NULL = none */
	char *fail_line;	/* when changed: the same ids answered unavailable */
	int changed;		/* the reply acknowledges a change: hold it until durable */
	int failed_auth;	/* how many auth calls failed (a batch may hold many) */
	int internal;		/* an internal error was answered */
	/* A deferred answer (history): the id to answer, the look-up to make. */
	int deferred;
	char *defer_id;		/* malloc'd raw id text */
	char defer_subject[160];
	int defer_limit;
};

/*
 * Handles one line (without its newline).  too_long marks a line that
 * exceeded the limit (line is then ignored).  now is the wall clock.
 * Returns 0, or -1 when even the error reply could not be allocated.
 */
int session_handle(struct session *s, const char *line, size_t len,
    int too_long, int64_t now, struct session_out *out);

#endif
