/*
 * session.h - one client's protocol session: a framed line in, the
 * response line out.
 *
 * This is where JSON-RPC and inline commands meet the method table, and
 * where each request's changes are handed to the daemon's commit step
 * (call_env.commit) before its answer is written.  It keeps the
 * per-connection protocol state (the role after auth) and does no I/O, so
 * a whole conversation can be tested or fuzzed without a socket.
 */
#ifndef PARKD_SESSION_H
#define PARKD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "change.h"
#include "jsonw.h"
#include "methods.h"

/* A request that named no method of ours, or could not be read at all. */
#define SESSION_NO_METHOD UINT16_MAX
/* The message of a change's prepared failure (its fail line). */
#define SESSION_UNDURABLE "the change could not be made durable; it was not made"

/*
 * What became of one request of a line, for the daemon's request metrics
 * (counted by method and outcome when the reply goes out).
 */
struct session_req {
	uint16_t method;	/* method_index(), or SESSION_NO_METHOD */
	uint16_t err;		/* the pk_err answered; PK_OK for a deferred answer */
};

struct session {
	garage *g;
	const struct call_env *env;
	enum role role;			/* ROLE_NONE until auth (when auth is on) */
	const char *bound_gate;		/* NULL, or gate_buf */
	char gate_buf[65];		/* a copy: tokens may be reloaded meanwhile */
	char peer[64];			/* the client's address (no port) */
	uint64_t client;		/* who subscribes: the daemon's key for the client */
	struct changes changes;		/* reused for every request */
	struct jw w;			/* reused for every line: the response */
	struct jw fw;			/* reused for every line: its fail line */
	struct jw ftail;		/* the fail line's error member, made once */
	struct session_req *reqs;	/* reused for every line; grows to the largest batch */
	size_t reqs_cap;
};

struct session_out {
	/*
	 * The response (no newline; NULL = none) and, when hold, the same ids
	 * answered unavailable: both NUL-terminated text in the session's
	 * writers, valid until its next line or session_release (the daemon
	 * copies them; a writer kept between lines grows once, not per line).
	 */
	const char *line;
	size_t line_len;
	const char *fail_line;
	size_t fail_len;
	uint64_t hold;		/* send line once this LSN is durable; 0 = at once */
	unsigned requests;	/* requests the line held (a batch holds many) */
	/*
	 * What became of each of them, in order: the session's array, valid
	 * until its next line.  A request whose change is lost later is
	 * answered unavailable instead (fail_line); the daemon knows then.
	 */
	const struct session_req *reqs;
	int failed_auth;	/* how many auth calls failed (a batch may hold many) */
	int internal;		/* an internal error was answered */
	/* A deferred answer (history, nearby): the id to answer, the look-up to make. */
	int deferred;
	char *defer_id;		/* malloc'd raw id text */
	struct defer_req defer;
};

/*
 * Handles one line (without its newline).  too_long marks a line that
 * exceeded the limit (line is then ignored).  now is the wall clock.
 * Returns 0, or -1 when even the error reply could not be allocated.
 */
int session_handle(struct session *s, const char *line, size_t len,
    int too_long, int64_t now, struct session_out *out);

/*
 * Answers every request of the line with error e (message msg, or the
 * error's own when NULL; edata: members of error.data, or NULL) and runs
 * none: the rate limit.  Ids are echoed, notifications get nothing, a
 * batch one array; a line that is not a request, or not JSON, one answer
 * with id null.  Returns as session_handle.
 */
int session_refuse(struct session *s, const char *line, size_t len,
    int too_long, pk_err e, const char *msg, const struct jw *edata,
    struct session_out *out);

/* Frees what the session keeps between lines (not the garage). */
void session_release(struct session *s);

#endif
