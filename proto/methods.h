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

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "garage.h"
#include "jsonw.h"
#include "perr.h"
#include "registry.h"
#include "role.h"
#include "uuid7.h"

/* What call_env.writable answers on a standby, and in sync mode alone. */
#define CALL_NOT_PRIMARY	(-1)
#define CALL_NO_STANDBY		(-2)
/*
 * An answer that comes later, from Redis: what the daemon is to look up.
 * It answers in the connection's reply order (a history look-up, a
 * nearby search).
 */
enum defer_kind { DEFER_HISTORY, DEFER_NEARBY };

struct defer_req {
	enum defer_kind kind;
	int limit;			/* events, or facilities */
	/* history */
	char subject[160];
	/* nearby (city.md): has_point 0 means this facility's location */
	int has_point;
	int64_t lat_e7, lon_e7;		/* 1e-7 degrees */
	int64_t radius_m;
	char cls[FAC_MAX_NAME + 1];	/* "" = room for any class */
};

/* What the daemon lends the handlers. */
struct call_env {
	void *ud;
	/* Who is subscribed to what (NULL: subscriptions are unavailable). */
	struct subs *subs;
	/* Milliseconds of a monotonic clock (subscriptions' coalescing). */
	int64_t (*mono_ms)(void *ud);
	/* The core's configuration: payment methods (NULL: any method). */
	const struct config *core;
	/* How far ahead of now an operator's `at` may lie on a change. */
	int64_t max_future_s;
	/* A fresh time-ordered id. */
	void (*new_id)(void *ud, char out[UUID_BUFSZ]);
	/* Writes the members status, version, uptime_s, journal, audit... */
	void (*health)(void *ud, struct jw *w);
	/*
	 * Checks a token from client address peer; on success sets *role and
	 * *gate (NULL or a gate id owned by the daemon) and returns 0; -1 when
	 * the token is unknown; -2 when peer failed too often lately and is not
	 * being listened to (*retry_ms says for how long).
	 */
	int (*auth)(void *ud, const char *peer, const char *token,
	    enum role *role, const char **gate, uint64_t *retry_ms);
	/*
	 * Whether changes can be made here now: 1; 0 when they cannot be
	 * made durable (*why says why); CALL_NOT_PRIMARY on a standby or a
	 * fenced primary (*why: the primary's address for clients, "" when
	 * unknown); CALL_NO_STANDBY when sync replication has no standby and
	 * refuses (*why says so).  NULL means always.
	 */
	int (*writable)(void *ud, const char **why);
	/*
	 * promote: 0 when this standby is now the primary, the promotion to
	 * be made at LSN *lsn; 1 when it is the primary already; -1 when it
	 * may not be (why says why).  NULL: there is nothing to promote.
	 */
	int (*promote)(void *ud, uint64_t *lsn, char *why, size_t whylen);
	/*
	 * Whether the state in memory can be shown: false while it is being
	 * rebuilt after the journal lost changes.  NULL means always.
	 */
	int (*consistent)(void *ud);
	/*
	 * The one commit step: journals the changes one request made in g
	 * (in order), hands them to every receiver, and sets *hold to the LSN
	 * its reply must wait for (0: none).  acks_earlier asks to wait for
	 * everything journaled so far even without changes (see struct
	 * call).  Returns 0, or -1 when the changes could not be journaled:
	 * they are being undone and the reply must say so.  NULL: changes
	 * are not kept (tests of the protocol alone).
	 */
	int (*commit)(void *ud, const garage *g, const struct changes *ch,
	    int acks_earlier, uint64_t *hold);
	/*
	 * lot_full's alternatives for class cls (city.md): writes the member
	 * "alternatives" to edata from a cached copy of the city view, never
	 * waiting on anything, or nothing when there is no fresh copy.  NULL:
	 * no city view.
	 */
	void (*alternatives)(void *ud, int cls, struct jw *edata);
	/*
	 * The vehicle registry (NULL: not kept): read and changed by the
	 * registry's methods (regops.h), whose changes go to commit.
	 */
	registry *registry;
	/*
	 * Client (as subscriptions know it) called `wait` and its entry
	 * waitlist_id is waiting: it is to receive waitlist.assigned or
	 * waitlist.expired (protocol.md section 6).  NULL: nobody is told.
	 */
	void (*watch_wait)(void *ud, uint64_t client, const char *waitlist_id);
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
	uint64_t client;		/* the caller, as subscriptions know it */
	struct changes *changes;	/* the core appends what it changed here */
	struct jw *out;			/* the result is written here, one value */
	/* out */
	pk_err err;			/* on an error whatever was written to out is void */
	char msg[512];			/* error message; "" = the default */
	struct jw edata;		/* extra error.data members (jw_members), or empty */
	/*
	 * The reply acknowledges a change made earlier (a payment sent again
	 * with its reference): it waits until everything journaled so far
	 * is durable, like a reply to a change.  method_call sets it for a
	 * change call (one writable() let through) that changed nothing.
	 */
	int acks_earlier;
	int change_call;		/* writable() let a change through */
	int authenticated;		/* auth succeeded: role/bound_gate updated */
	/*
	 * The answer comes later (history and nearby wait on Redis): the
	 * daemon looks up defer and answers in order with the connection's
	 * replies.
	 */
	int deferred;
	struct defer_req defer;
};

struct method;

/* The method called name, or NULL. */
const struct method *method_find(const char *name);
/*
 * Up to max method names close to name (a typo, a prefix), nearest
 * first, in out; their count.  None for a name nothing resembles.
 */
size_t method_suggest(const char *name, const char **out, size_t max);
/*
 * The parameters a bare word fills on an inline line, in order ("help
 * entry" is "help method=entry"); NULL-terminated, empty when none.
 */
const char *const *method_positional(const char *name);
const char *method_name(const struct method *m);
/* Whether the method may be called before authenticating. */
int method_public(const struct method *m);
/*
 * Whether the method's params carry personal data (a contact): a request
 * line that calls it must never be logged.
 */
int method_personal(const struct method *m);
/*
 * The table in order, for arrays kept per method (request metrics):
 * method_index(m) is m's place, 0 .. method_count() - 1, and
 * method_at(i) the method there (NULL past the end).
 */
size_t method_count(void);
size_t method_index(const struct method *m);
const struct method *method_at(size_t i);

/*
 * Runs the method: checks the role, the params (unknown, missing or
 * ill-typed ones are invalid_params) and calls the core, which appends its
 * changes to c->changes.  Writes the result to c->out, or sets c->err with
 * c->msg and c->edata (then what c->out holds past its state at the call
 * is to be discarded).
 */
void method_call(const struct method *m, struct call *c);

/* Frees what a call kept (the error data). */
void call_clear(struct call *c);

#endif
