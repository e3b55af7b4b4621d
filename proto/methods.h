/*
 * methods.h - the method table: names, roles, params, and the handlers that
 * turn a request's params into a call on the core and its result into JSON.
 *
 * Pure like the rest of proto/: the daemon passes the time, the caller's
 * role and a few services (ids, health, auth) through struct call_env, and
 * sends what comes back.
 */
#ifndef PARKD_METHODS_H
#define PARKD_METHODS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "garage.h"
#include "perr.h"
#include "uuid7.h"

/* What the daemon lends the handlers. */
struct call_env {
	void *ud;
	/* A fresh time-ordered id. */
	void (*new_id)(void *ud, char out[UUID_BUFSZ]);
	/* Adds status, version, uptime_s, journal and audit to result. */
	void (*health)(void *ud, cJSON *result);
	/*
	 * Checks a token from client address peer; on success sets *role and
	 * *gate (NULL or a gate id owned by the daemon) and returns 0; -1 when
	 * the token is unknown; -2 when peer failed too often lately and is not
	 * being listened to (*retry_ms says for how long).
	 */
	int (*auth)(void *ud, const char *peer, const char *token,
	    enum role *role, const char **gate, uint64_t *retry_ms);
	/*
	 * Whether changes can be made durable now; when not, *why says why.
	 * NULL means always.
	 */
	int (*writable)(void *ud, const char **why);
	/*
	 * Whether the state in memory can be shown: false while it is being
	 * rebuilt after the journal lost changes.  NULL means always.
	 */
	int (*consistent)(void *ud);
};

struct call {
	/* in */
	garage *g;
	const struct call_env *env;
	const cJSON *params;		/* an object, or NULL */
	enum role role;			/* ROLE_NONE: not authenticated */
	const char *bound_gate;		/* gate a gate token is bound to, or NULL */
	const char *peer;		/* the client's address, for auth limits */
	int64_t now;
	/* out */
	cJSON *result;			/* on success (owned by the caller) */
	pk_err err;
	char msg[200];			/* error message; "" = the default */
	cJSON *err_data;		/* extra error.data members, or NULL */
	int changed;			/* the reply acknowledges a change: send it once durable */
	int authenticated;		/* auth succeeded: role/bound_gate updated */
	/*
	 * The answer comes later (history waits on Redis): the daemon looks up
	 * defer_subject and answers in order with the connection's replies.
	 */
	int deferred;
	char defer_subject[160];
	int defer_limit;
};

struct method;

/* The method called name, or NULL. */
const struct method *method_find(const char *name);
const char *method_name(const struct method *m);
/* Whether the method may be called before authenticating. */
int method_public(const struct method *m);

/*
 * Runs the method: checks the role, the params (unknown, missing or
 * ill-typed ones are invalid_params) and calls the core.  Fills c->result,
 * or c->err with c->msg and c->err_data.
 */
void method_call(const struct method *m, struct call *c);

/* Frees what a call returned (result and err_data). */
void call_clear(struct call *c);

#endif
