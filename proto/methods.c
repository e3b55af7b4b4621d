/* methods.c - the method table and its handlers (see methods.h). */
#include "methods.h"
#include "mcall.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "capacity.h"
#include "config.h"
#include "facility_load.h"
#include "jread.h"
#include "money.h"
#include "rfc3339.h"
#include "streq.h"
#include "subs.h"
#include "tariff_load.h"
#include "view.h"

#define ANY (ROLE_GATE | ROLE_KIOSK | ROLE_OPERATOR)

typedef void (*method_fn)(struct call *c);

struct method {
	const char *name;
	unsigned roles;		/* who may call; operator may call everything */
	int public;		/* callable before auth */
	const char *const *params;
	const char *usage;
	method_fn fn;
	const char *const *positional;	/* what bare words fill inline; NULL: none */
};

/* Longer names are no method's: suggestions skip them. */
#define METHOD_NAME_MAX 32

/* ---- errors and params ---- */

/* The call fails with e; its message is fmt's text, or none for NULL. */
static __attribute__((format(printf, 3, 0))) void
vfail(struct call *c, pk_err e, const char *fmt, va_list ap)
{
	c->err = e;
	if (fmt == NULL)
		c->msg[0] = '\0';
	else
		vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
}

static __attribute__((format(printf, 3, 4))) void
fail(struct call *c, pk_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, e, fmt, ap);
	va_end(ap);
}

static const cJSON *
param(const struct call *c, const char *name)
{
	return c->params ? cJSON_GetObjectItemCaseSensitive(c->params, name) : NULL;
}

/*
 * Params are read with the one reader (jread.h): its message, "params.
 * amount: must be between 1 and ...", goes to c->msg.  These two wrap a
 * reader's result rc: on -1 the call fails with invalid_params.
 */
static struct jerr
param_err(struct call *c)
{
	return (struct jerr){ c->msg, sizeof(c->msg), 0 };
}

static int
param_rc(struct call *c, int rc, const struct jerr *e)
{
	if (rc < 0)
		c->err = e->nomem ? PK_E_INTERNAL : PK_E_INVALID_PARAMS;
	return rc;
}

/*
 * A domain check on the param at path ("params.topics[2]") failed: the
 * message, in the readers' format, as invalid_params.
 */
static __attribute__((format(printf, 3, 0))) int
bad_vpath(struct call *c, const char *path, const char *fmt, va_list ap)
{
	char what[160];
	struct jerr e = param_err(c);

	vsnprintf(what, sizeof(what), fmt, ap);
	jerr_set(&e, path, "%s", what);
	c->err = PK_E_INVALID_PARAMS;
	return -1;
}

static __attribute__((format(printf, 3, 4))) int
bad_path(struct call *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = bad_vpath(c, path, fmt, ap);
	va_end(ap);
	return rc;
}

/* The same for the param called name: "params.name: ..." (mcall.h). */
int
mcall_bad_param(struct call *c, const char *name, const char *fmt, ...)
{
	char p[JPATH_MAX];
	va_list ap;
	int rc;

	jpath_key(p, "params", name);
	va_start(ap, fmt);
	rc = bad_vpath(c, p, fmt, ap);
	va_end(ap);
	return rc;
}

static const char *name_list(struct call *c, char *buf, size_t len, int n,
    const char *(*name)(const facility *, int));

/* A string param; *out NULL when absent and optional.  0 or -1 (c->err set). */
static int
p_string(struct call *c, const char *name, int required, size_t maxlen,
    const char **out)
{
	struct jerr e = param_err(c);

	*out = NULL;
	return param_rc(c, jr_str(c->params, "params", name,
	    required ? JR_REQUIRED : 0, maxlen, out, &e), &e) < 0 ? -1 : 0;
}

static int
p_int(struct call *c, const char *name, int required, int64_t min, int64_t max,
    int64_t *out)
{
	struct jerr e = param_err(c);

	return param_rc(c, jr_int(c->params, "params", name,
	    required ? JR_REQUIRED : 0, min, max, out, &e), &e) < 0 ? -1 : 0;
}

static int
p_plate(struct call *c, const char *name, int required, char out[PLATE_BUFSZ],
    int *present)
{
	const char *s;

	*present = 0;
	if (p_string(c, name, required, 64, &s) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (plate_normalize(s, strlen(s), out) != 0)
		return mcall_bad_param(c, name,
		    "must be 1 to 16 characters of A-Z 0-9 - and space");
	*present = 1;
	return 0;
}

static int
p_gate(struct call *c, int *gate)
{
	const char *s;

	if (p_string(c, "gate", 1, 64, &s) != 0)
		return -1;
	*gate = facility_gate_lookup(garage_facility(c->g), s);
	if (*gate < 0) {
		char names[256];

		return mcall_bad_param(c, "gate", "no such gate '%s'; gates are %s", s,
		    name_list(c, names, sizeof(names),
		    facility_gate_count(garage_facility(c->g)), facility_gate_id));
	}
	/* A gate token bound to one gate may act only there. */
	if (c->role == ROLE_GATE && c->bound_gate != NULL &&
	    strcmp(c->bound_gate, s) != 0) {
		fail(c, PK_E_FORBIDDEN, "this token is bound to gate '%s'",
		    c->bound_gate);
		return -1;
	}
	return 0;
}

/*
 * The time of the change: "at" when given (operators only, or a future
 * quote by anyone), else now.
 */
static int
p_at(struct call *c, int future_ok, int64_t *at)
{
	struct jerr e = param_err(c);
	char limit[RFC3339_BUFSZ];
	int64_t t = c->now;
	int rc;

	*at = c->now;
	rc = param_rc(c, jr_time(c->params, "params", "at", 0, &t, &e), &e);
	if (rc <= 0)
		return rc;
	if (c->role != ROLE_OPERATOR && !(future_ok && t >= c->now)) {
		fail(c, PK_E_FORBIDDEN, future_ok ?
		    "only operators may quote at a past time" :
		    "only operators may give 'at'");
		return -1;
	}
	/* A change far in the future would leave its ticket stuck until then. */
	if (!future_ok && t > c->now + c->env->max_future_s) {
		rfc3339_format(c->now + c->env->max_future_s, limit);
		return mcall_bad_param(c, "at", "may lie at most %llds ahead "
		    "(limits.max_future_s): no later than %s",
		    (long long)c->env->max_future_s, limit);
	}
	*at = t;
	return 0;
}

/* The ticket named by "ticket", or the one inside for "plate". */
static struct ticket *
p_ticket(struct call *c, int allow_plate, int inside_only)
{
	const char *id = NULL;
	char plate[PLATE_BUFSZ];
	int has_plate = 0;
	struct ticket *t;

	if (p_string(c, "ticket", 0, 64, &id) != 0)
		return NULL;
	if (allow_plate && p_plate(c, "plate", 0, plate, &has_plate) != 0)
		return NULL;
	if ((id == NULL) == (has_plate == 0)) {
		if (allow_plate)
			fail(c, PK_E_INVALID_PARAMS,
			    "give exactly one of 'ticket' or 'plate'");
		else
			mcall_bad_param(c, "ticket", "is required");
		return NULL;
	}
	if (id != NULL) {
		t = garage_ticket(c->g, id);
		if (t == NULL) {
			fail(c, PK_E_NOT_FOUND, "no ticket %s", id);
			return NULL;
		}
		if (inside_only && t->state != TICKET_INSIDE) {
			fail(c, PK_E_NOT_FOUND, "ticket %s has already exited", id);
			return NULL;
		}
		return t;
	}
	t = garage_inside(c->g, plate);
	if (t == NULL)
		fail(c, PK_E_NOT_FOUND, "no vehicle with plate '%s' inside", plate);
	return t;
}

/*
 * Changes are refused, before anything changes, while they cannot be
 * kept, and where they are not ours to make (a standby: the client is
 * told where the primary is).
 */
static int
writable(struct call *c)
{
	const char *why = "";
	int w;

	if (c->env->writable == NULL || (w = c->env->writable(c->env->ud, &why)) == 1) {
		c->change_call = 1;
		return 1;
	}
	if (w == CALL_NOT_PRIMARY) {
		fail(c, PK_E_NOT_PRIMARY, "this daemon is not the primary; send "
		    "changes to %s", why[0] ? why : "the primary");
		jw_kstr(&c->edata, "primary", why);
	} else if (w == CALL_NO_STANDBY) {
		fail(c, PK_E_NO_STANDBY, "changes are refused: %s", why);
	} else {
		fail(c, PK_E_UNAVAILABLE, "changes are refused: journal %s", why);
	}
	return 0;
}

/* An `at` earlier than the ticket's entry names no moment of its stay. */
static int
at_in_stay(struct call *c, const struct ticket *t, int64_t at)
{
	char buf[RFC3339_BUFSZ];

	if (at >= t->entered_at)
		return 1;
	rfc3339_format(t->entered_at, buf);
	mcall_bad_param(c, "at", "is before the ticket's entry at %s", buf);
	return 0;
}

/* ---- JSON building ---- */

static void
spot_json(struct jw *w, const facility *f, uint32_t s)
{
	char name[48];

	facility_spot_name(f, s, name);
	jw_obj(w);
	jw_kstr(w, "id", name);
	jw_kint(w, "level", facility_spot_level(f, s));
	jw_kstr(w, "zone", facility_spot_zone(f, s));
	jw_kstr(w, "type", facility_spot_type(f, s));
}

static void
spots_json(struct jw *w, const garage *g, const struct ticket *t)
{
	jw_key(w, "spots");
	jw_arr(w);
	for (size_t i = 0; i < t->n_spots; i++) {
		spot_json(w, garage_facility(g), t->spots[i]);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static const char *
currency(const struct call *c)
{
	return facility_currency(garage_facility(c->g));
}

/* An amount for people: "8.00 EUR" (the exact integer goes in data). */
static const char *
money(const struct call *c, char buf[MONEY_BUFSZ], int64_t amount)
{
	return money_format(buf, amount, currency(c));
}

/*
 * "north, south": the n names name(f, i) joined, as many as fit in len
 * bytes (then "..."); also the data member "valid" with all of them.
 */
static const char *
name_list(struct call *c, char *buf, size_t len, int n,
    const char *(*name)(const facility *, int))
{
	const facility *f = garage_facility(c->g);
	size_t used = 0;

	buf[0] = '\0';
	jw_key(&c->edata, "valid");
	jw_arr(&c->edata);
	for (int i = 0; i < n; i++) {
		const char *s = name(f, i);
		int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", s);

		jw_str(&c->edata, s);
		if (w < 0 || (size_t)w >= len - used) {
			if (len > 4)
				strcpy(buf + len - 4, "...");
			used = len - 1;
			continue;
		}
		used += (size_t)w;
	}
	jw_arr_end(&c->edata);
	return buf;
}

static void
amount_data(struct call *c, int64_t due)
{
	jw_kint(&c->edata, "amount_due", due);
	jw_kstr(&c->edata, "currency", currency(c));
}

/* The members every answer about one ticket starts with. */
static void
ticket_head(struct jw *w, const struct ticket *t)
{
	jw_obj(w);
	view_ticket_names(w, t);
}

/* ---- methods ---- */

static void m_help(struct call *c);

static void
m_ping(struct call *c)
{
	jw_str(c->out, "pong");
}

static void
m_auth(struct call *c)
{
	const char *tok, *gate = NULL;
	uint64_t retry = 0;
	enum role role;
	int rc;

	if (p_string(c, "token", 1, 256, &tok) != 0)
		return;
	rc = c->env->auth ? c->env->auth(c->env->ud, c->peer ? c->peer : "",
	    tok, &role, &gate, &retry) : -1;
	if (rc == -2) {
		fail(c, PK_E_RATE_LIMITED,
		    "too many failed auth attempts from this address; try later");
		jw_kuint(&c->edata, "retry_after_ms", retry);
		return;
	}
	if (rc != 0) {
		fail(c, PK_E_FORBIDDEN, "unknown token");
		return;
	}
	c->role = role;
	c->bound_gate = gate;
	c->authenticated = 1;
	jw_obj(c->out);
	jw_kstr(c->out, "role", role_name(role));
	if (gate != NULL)
		jw_kstr(c->out, "gate", gate);
	jw_obj_end(c->out);
}

/* The least distance from the entry gate to the ticket's spots. */
static int64_t
entry_distance_milli(const facility *f, const struct ticket *t)
{
	int64_t best = INT64_MAX;

	for (size_t i = 0; i < t->n_spots; i++) {
		int64_t d = facility_distance_milli(f, t->entry_gate, t->spots[i]);

		if (d < best)
			best = d;
	}
	return best;
}

static void
m_entry(struct call *c)
{
	const facility *f = garage_facility(c->g);
	char plate[PLATE_BUFSZ], id[UUID_BUFSZ];
	struct garage_entry_in in;
	struct jerr je = param_err(c);
	const char *cls, *res;
	struct ticket *t;
	struct jw *w = c->out;
	int has;
	pk_err e;

	memset(&in, 0, sizeof(in));
	if (p_gate(c, &in.gate) || p_plate(c, "plate", 1, plate, &has) ||
	    p_string(c, "class", 1, 64, &cls) ||
	    p_string(c, "reservation", 0, 64, &res) || p_at(c, 0, &in.at))
		return;
	in.cls = facility_class_lookup(f, cls);
	if (in.cls < 0) {
		char names[256];

		mcall_bad_param(c, "class", "no such vehicle class '%s'; classes are %s",
		    cls, name_list(c, names, sizeof(names), facility_class_count(f),
		    facility_class_name));
		return;
	}
	if (facility_tags_mask(f, param(c, "needs"), "params.needs", &in.needs,
	    &je) != 0) {
		c->err = PK_E_INVALID_PARAMS;
		return;
	}
	if (!writable(c))
		return;
	c->env->new_id(c->env->ud, id);
	in.plate = plate;
	in.ticket_id = id;
	in.reservation = res;
	e = garage_entry(c->g, &in, &t, c->changes);
	switch (e) {
	case PK_OK:
		break;
	case PK_E_NOT_FOUND:
		fail(c, e, "no reservation %s", res);
		return;
	case PK_E_INVALID_PARAMS:
		mcall_bad_param(c, "reservation", "is for another plate");
		return;
	case PK_E_WRONG_GATE:
		fail(c, e, "gate '%s' is not an entry gate", facility_gate_id(f, in.gate));
		return;
	case PK_E_PLATE_INSIDE:
		fail(c, e, "plate '%s' is already inside", plate);
		return;
	case PK_E_LOT_FULL:
		fail(c, e, "no free spot for class %s", cls);
		jw_kbool(&c->edata, "waitlist", garage_waitlist_open(c->g));
		/* Nearby facilities with room, from a cached copy: no waiting. */
		if (c->env->alternatives != NULL)
			c->env->alternatives(c->env->ud, in.cls, &c->edata);
		return;
	default:
		fail(c, e, NULL);
		return;
	}
	ticket_head(w, t);
	jw_kstr(w, "class", facility_class_name(f, t->cls));
	jw_kstr(w, "gate", facility_gate_id(f, t->entry_gate));
	jw_ktime(w, "entered_at", t->entered_at);
	spots_json(w, c->g, t);
	jw_kmilli(w, "distance", entry_distance_milli(f, t));
	if (t->reservation[0] != '\0')
		jw_kstr(w, "reservation", t->reservation);
	jw_obj_end(w);
}

static void
quote_json(struct call *c, const struct ticket *t, const struct garage_quote *q)
{
	struct jw *w = c->out;

	ticket_head(w, t);
	jw_ktime(w, "entered_at", t->entered_at);
	jw_ktime(w, "at", q->at);
	jw_kint(w, "duration_s", q->duration_s);
	jw_kint(w, "amount", q->fee);
	jw_kint(w, "paid", t->paid);
	jw_kint(w, "due", q->due);
	jw_kstr(w, "currency", currency(c));
	jw_kuint(w, "tariff_version", t->tariff_version);
	if (q->exit_by != 0)
		jw_ktime(w, "exit_by", q->exit_by);
	if (t->lost)
		jw_kbool(w, "lost", 1);
	jw_key(w, "breakdown");
	jw_arr(w);
	tariff_breakdown_steps(&q->q, w);
	if (q->lost_fee_applied) {
		jw_obj(w);
		jw_kstr(w, "step", "lost_ticket");
		jw_kint(w, "amount", q->fee);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
}

static void
m_quote(struct call *c)
{
	struct garage_quote q;
	struct ticket *t;
	int64_t at;

	if (p_at(c, 1, &at) != 0 || (t = p_ticket(c, 1, 1)) == NULL ||
	    !at_in_stay(c, t, at))
		return;
	garage_quote(c->g, t, at, &q);
	quote_json(c, t, &q);
}

static void
m_exit(struct call *c)
{
	const facility *f = garage_facility(c->g);
	struct garage_quote q;
	struct ticket *t;
	struct jw *w = c->out;
	int64_t at;
	int gate;
	pk_err e;

	if (p_gate(c, &gate) || p_at(c, 0, &at) || (t = p_ticket(c, 1, 1)) == NULL ||
	    !at_in_stay(c, t, at) || !writable(c))
		return;
	e = garage_exit(c->g, t, gate, at, &q, c->changes);
	if (e == PK_E_WRONG_GATE) {
		fail(c, e, "gate '%s' is not an exit gate", facility_gate_id(f, gate));
		return;
	}
	if (e == PK_E_PAYMENT_REQUIRED) {
		char m[MONEY_BUFSZ];

		fail(c, e, "%s due", money(c, m, q.due));
		amount_data(c, q.due);
		return;
	}
	if (e != PK_OK) {
		fail(c, e, NULL);
		return;
	}
	ticket_head(w, t);
	jw_ktime(w, "exited_at", t->exited_at);
	jw_kint(w, "duration_s", t->exited_at - t->entered_at);
	jw_kint(w, "charged", t->charged);
	jw_kstr(w, "currency", currency(c));
	jw_obj_end(w);
}

/* A payment method the facility takes (config payment_methods), or none. */
static int
p_pay_method(struct call *c, const char *method)
{
	const struct config *core = c->env->core;
	char list[CONFIG_PAY_METHODS_MAX * (PAY_METHOD_MAX + 2) + 1];
	size_t used = 0;

	if (method == NULL || core == NULL || config_payment_method(core, method))
		return 0;
	list[0] = '\0';
	jw_key(&c->edata, "valid");
	jw_arr(&c->edata);
	for (size_t i = 0; i < core->n_payment_methods; i++) {
		jw_str(&c->edata, core->payment_methods[i]);
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
		    i ? ", " : "", core->payment_methods[i]);
	}
	jw_arr_end(&c->edata);
	return mcall_bad_param(c, "method", "'%s' is not taken here; methods are %s",
	    method, list);
}

static void
m_pay(struct call *c)
{
	struct garage_pay_in in;
	const struct payment *p;
	struct garage_quote q;
	char receipt[UUID_BUFSZ];
	struct ticket *t;
	struct jw *w = c->out;
	int replayed;
	pk_err e;

	memset(&in, 0, sizeof(in));
	if (p_int(c, "amount", 1, 1, TARIFF_AMOUNT_MAX, &in.amount) ||
	    p_string(c, "method", 0, PAY_METHOD_MAX, &in.method) ||
	    p_string(c, "reference", 0, PAY_REFERENCE_MAX, &in.reference) ||
	    p_at(c, 0, &in.at) || p_pay_method(c, in.method) ||
	    (t = p_ticket(c, 0, 0)) == NULL ||
	    (t->state == TICKET_INSIDE && !at_in_stay(c, t, in.at)) || !writable(c))
		return;
	c->env->new_id(c->env->ud, receipt);
	in.receipt_id = receipt;
	e = garage_pay(c->g, t, &in, &p, &replayed, &q, c->changes);
	if (e == PK_E_AMOUNT_MISMATCH) {
		char m[MONEY_BUFSZ];

		if (q.due == 0)
			fail(c, e, "nothing is due");
		else
			fail(c, e, "the amount due is %s", money(c, m, q.due));
		amount_data(c, q.due);
		return;
	}
	if (e == PK_E_NOT_FOUND) {
		fail(c, e, "ticket %s has already exited", t->id);
		return;
	}
	if (e != PK_OK) {
		fail(c, e, NULL);
		return;
	}
	ticket_head(w, t);
	jw_kstr(w, "receipt", p->receipt);
	jw_kint(w, "amount", p->amount);
	jw_kint(w, "paid", t->paid);
	jw_kint(w, "due", 0);
	jw_kstr(w, "currency", currency(c));
	jw_ktime(w, "exit_by", p->at + tariff_grace_s(garage_ticket_tariff(c->g, t)));
	if (replayed)
		jw_kbool(w, "replayed", 1);
	jw_obj_end(w);
}

static void
m_lost(struct call *c)
{
	struct garage_quote q;
	struct ticket *t;
	struct jw *w = c->out;
	int64_t at;
	pk_err e;

	if (p_at(c, 0, &at) != 0)
		return;
	if (param(c, "ticket") != NULL) {
		mcall_bad_param(c, "ticket", "lost takes 'plate', not 'ticket'");
		return;
	}
	if ((t = p_ticket(c, 1, 1)) == NULL || !at_in_stay(c, t, at) ||
	    !writable(c))
		return;
	if ((e = garage_lost(c->g, t, at, &q, c->changes)) != PK_OK) {
		fail(c, e, NULL);
		return;
	}
	jw_obj(w);
	jw_kstr(w, "ticket", t->id);
	jw_kint(w, "due", q.due);
	jw_kstr(w, "currency", currency(c));
	jw_obj_end(w);
}

static void
m_locate(struct call *c)
{
	struct ticket *t;
	char plate[PLATE_BUFSZ];
	struct jw *w = c->out;
	int has;

	if (p_plate(c, "plate", 1, plate, &has) != 0)
		return;
	t = garage_inside(c->g, plate);
	if (t == NULL) {
		fail(c, PK_E_NOT_FOUND, "no vehicle with plate '%s' inside", plate);
		return;
	}
	ticket_head(w, t);
	spots_json(w, c->g, t);
	jw_ktime(w, "entered_at", t->entered_at);
	jw_obj_end(w);
}

static void
payments_json(struct jw *w, const struct ticket *t)
{
	jw_key(w, "payments");
	jw_arr(w);
	for (size_t i = 0; i < t->n_payments; i++) {
		const struct payment *p = &t->payments[i];

		jw_obj(w);
		jw_kstr(w, "receipt", p->receipt);
		jw_kint(w, "amount", p->amount);
		if (p->method[0])
			jw_kstr(w, "method", p->method);
		if (p->reference[0])
			jw_kstr(w, "reference", p->reference);
		jw_ktime(w, "at", p->at);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void
m_ticket(struct call *c)
{
	const facility *f = garage_facility(c->g);
	struct ticket *t = p_ticket(c, 0, 0);
	struct jw *w = c->out;

	if (t == NULL)
		return;
	ticket_head(w, t);
	jw_kstr(w, "class", facility_class_name(f, t->cls));
	jw_kstr(w, "state", t->state == TICKET_INSIDE ? "inside" : "exited");
	jw_kstr(w, "gate", facility_gate_id(f, t->entry_gate));
	jw_ktime(w, "entered_at", t->entered_at);
	spots_json(w, c->g, t);
	jw_kint(w, "peak_milli", t->peak_milli);
	jw_kint(w, "surge_milli", t->surge_milli);
	jw_kuint(w, "tariff_version", t->tariff_version);
	if (t->reservation[0] != '\0')
		jw_kstr(w, "reservation", t->reservation);
	jw_kbool(w, "lost", t->lost);
	if (t->lost)
		jw_ktime(w, "lost_at", t->lost_at);
	jw_kint(w, "paid", t->paid);
	jw_kstr(w, "currency", currency(c));
	payments_json(w, t);
	if (t->state == TICKET_EXITED) {
		jw_kstr(w, "exit_gate", facility_gate_id(f, t->exit_gate));
		jw_ktime(w, "exited_at", t->exited_at);
		jw_kint(w, "charged", t->charged);
	}
	jw_obj_end(w);
}

static void capacity_status(struct call *c);

static void
m_status(struct call *c)
{
	const facility *f = garage_facility(c->g);
	struct alloc_counts k;
	struct jw *w = c->out;

	jw_obj(w);
	jw_kstr(w, "facility", facility_name(f));
	jw_kstr(w, "strategy", alloc_strategy_name(garage_strategy(c->g)));
	alloc_counts(garage_alloc(c->g), &k);
	view_counts(w, "capacity", &k, 1);
	view_breakdown(w, c->g);
	jw_kuint(w, "vehicles", garage_inside_count(c->g));
	capacity_status(c);
	jw_obj_end(w);
}

static void
m_health(struct call *c)
{
	jw_obj(c->out);
	if (c->env->health != NULL)
		c->env->health(c->env->ud, c->out);
	jw_obj_end(c->out);
}

static void
m_spot(struct call *c)
{
	const facility *f = garage_facility(c->g);
	const alloc *a = garage_alloc(c->g);
	static const char *const names[] = { "free", "occupied", "out_of_service", "held" };
	static const char *const states[] = { "out_of_service", "in_service",
	    NULL };
	struct jerr je = param_err(c);
	const char *id;
	struct jw *w = c->out;
	uint32_t s;
	pk_err e;
	int in = -1;

	if (p_string(c, "id", 1, 64, &id) ||
	    param_rc(c, jr_enum(c->params, "params", "state", 0, states, &in,
	    &je), &je) < 0)
		return;
	if (facility_spot_lookup(f, id, &s) != 0) {
		fail(c, PK_E_NOT_FOUND, "no spot '%s'", id);
		return;
	}
	if (in >= 0) {
		if (!writable(c))
			return;
		if (!garage_spot_service_is(c->g, s, in)) {
			e = garage_set_spot_service(c->g, s, in, c->now, c->changes);
			if (e != PK_OK) {
				fail(c, e, NULL);
				return;
			}
		}
	}
	spot_json(w, f, s);
	jw_kstr(w, "state", names[alloc_spot_state(a, s)]);
	if (alloc_spot_pending_out_of_service(a, s))
		jw_kbool(w, "pending_out_of_service", 1);
	jw_obj_end(w);
}

static void
m_strategy(struct call *c)
{
	struct jerr je = param_err(c);
	enum alloc_strategy s;
	int set = -1;
	pk_err e;

	if (param_rc(c, jr_enum(c->params, "params", "set", 0,
	    alloc_strategy_names, &set, &je), &je) < 0)
		return;
	if (set >= 0) {
		s = (enum alloc_strategy)set;
		if (!writable(c))
			return;
		if (s != garage_strategy(c->g)) {
			e = garage_set_strategy(c->g, s, c->now, c->changes);
			if (e != PK_OK) {
				fail(c, e, NULL);
				return;
			}
		}
	}
	jw_obj(c->out);
	jw_kstr(c->out, "strategy", alloc_strategy_name(garage_strategy(c->g)));
	jw_obj_end(c->out);
}

static void
m_tariff(struct call *c)
{
	const cJSON *set = param(c, "set");
	pk_err e;

	if (set != NULL) {
		struct jerr je = param_err(c);
		tariff *t = tariff_from_json(set, "params.set", &je);

		if (t == NULL || config_check_tariff(garage_facility(c->g), t,
		    "params.set", &je) != 0) {
			tariff_free(t);
			c->err = je.nomem ? PK_E_INTERNAL : PK_E_INVALID_PARAMS;
			return;
		}
		if (!writable(c)) {
			tariff_free(t);
			return;
		}
		if ((e = garage_set_tariff(c->g, t, c->now, c->changes)) != PK_OK) {
			fail(c, e, NULL);
			return;
		}
	}
	tariff_write(garage_tariff(c->g), c->out);
}

/* ---- subscriptions and search ---- */

static int
subscriptions_on(struct call *c)
{
	if (c->env->subs != NULL)
		return 1;
	fail(c, PK_E_UNAVAILABLE, "subscriptions are not available here");
	return 0;
}

/* The sign just shown is the one later flips are measured against. */
static void
remember_sign(struct call *c, const char *gate_id)
{
	int gate = facility_gate_lookup(garage_facility(c->g), gate_id);
	uint8_t full[SUBS_GATE_CLASSES_MAX];
	int changed, n = garage_sign(c->g, gate, full, sizeof(full));

	if (n >= 0)
		subs_gate_sign(c->env->subs, gate_id, full, (size_t)n, &changed);
}

static size_t
gate_topics(const struct subs_topic *topics, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += topics[i].kind == SUBS_GATE;
	return k;
}

/*
 * Subscribes the caller to topics[0..n); writes "subscription" and
 * "topics" (and "signs", the current sign of each gate topic) as members
 * of the open result.  0 or -1 (c->err set).
 */
static int
subscribe(struct call *c, const struct subs_topic *topics, size_t n)
{
	const facility *f = garage_facility(c->g);
	char id[UUID_BUFSZ];
	struct jw *w = c->out;
	int64_t now_ms = c->env->mono_ms ? c->env->mono_ms(c->env->ud) : 0;
	pk_err e;

	c->env->new_id(c->env->ud, id);
	/* The answer first: one that cannot be written subscribes nothing. */
	jw_kstr(w, "subscription", id);
	jw_key(w, "topics");
	jw_arr(w);
	for (size_t i = 0; i < n; i++)
		jw_str(w, topics[i].text);
	jw_arr_end(w);
	if (gate_topics(topics, n) > 0) {
		/* What each gate's sign shows now; notifications follow its flips. */
		jw_key(w, "signs");
		jw_obj(w);
		for (size_t i = 0; i < n; i++) {
			if (topics[i].kind != SUBS_GATE)
				continue;
			jw_keyv(w, topics[i].arg);
			jw_obj(w);
			view_sign(w, c->g, facility_gate_lookup(f, topics[i].arg));
			jw_obj_end(w);
		}
		jw_obj_end(w);
	}
	if (jw_failed(w)) {
		fail(c, PK_E_INTERNAL, "out of memory");
		return -1;
	}
	e = subs_subscribe(c->env->subs, c->client, id, topics, n, now_ms);
	if (e != PK_OK) {
		fail(c, e, e == PK_E_INVALID_PARAMS ?
		    "too many subscriptions on this connection" : NULL);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		/* A new occupancy subscriber is sent the counts at once (after this reply). */
		if (topics[i].kind == SUBS_OCCUPANCY)
			subs_occupancy_dirty(c->env->subs);
		if (topics[i].kind == SUBS_GATE)
			remember_sign(c, topics[i].arg);
	}
	return 0;
}

static void
m_subscribe(struct call *c)
{
	struct subs_topic topics[SUBS_TOPICS_MAX];
	struct jerr je = param_err(c);
	const cJSON *arr = NULL, *it;
	char p[JPATH_MAX];
	const char *s;
	size_t n = 0, count = 0;

	if (!subscriptions_on(c) ||
	    param_rc(c, jr_array(c->params, "params", "topics", JR_REQUIRED,
	    SUBS_TOPICS_MAX, &arr, &count, &je), &je) < 0)
		return;
	if (count == 0) {
		mcall_bad_param(c, "topics", "must list 1 to %d topics: occupancy, "
		    "events, search:PREFIX, gate:ID", SUBS_TOPICS_MAX);
		return;
	}
	cJSON_ArrayForEach(it, arr) {
		struct subs_topic *t = &topics[n];

		jpath_index(p, "params.topics", n);
		if (param_rc(c, jr_str(it, p, NULL, 0, SUBS_TOPIC_BUFSZ, &s, &je),
		    &je) < 0)
			return;
		if (subs_topic_parse(s, strlen(s), t) != PK_OK) {
			bad_path(c, p, "unknown topic; topics are occupancy, "
			    "events, search:PREFIX and gate:ID");
			return;
		}
		if (t->kind == SUBS_EVENTS && c->role != ROLE_OPERATOR) {
			fail(c, PK_E_FORBIDDEN, "only operators may subscribe to events");
			return;
		}
		if (t->kind == SUBS_GATE &&
		    facility_gate_lookup(garage_facility(c->g), t->arg) < 0) {
			bad_path(c, p, "no such gate '%s'", t->arg);
			return;
		}
		n++;
	}
	jw_obj(c->out);
	if (subscribe(c, topics, n) == 0)
		jw_obj_end(c->out);
}

static void
m_unsubscribe(struct call *c)
{
	const char *id;
	pk_err e;

	if (!subscriptions_on(c) || p_string(c, "subscription", 1, SUBS_ID_MAX, &id))
		return;
	/* The answer first: one that cannot be written leaves it subscribed. */
	jw_obj(c->out);
	jw_kbool(c->out, "ok", 1);
	jw_obj_end(c->out);
	if (jw_failed(c->out))
		return;
	e = subs_unsubscribe(c->env->subs, c->client, id);
	if (e != PK_OK)
		fail(c, e, "no subscription %s on this connection", id);
}

static void
search_match(void *ud, const struct ticket *t)
{
	struct call *c = ud;
	struct jw *w = c->out;

	ticket_head(w, t);
	spots_json(w, c->g, t);
	jw_ktime(w, "entered_at", t->entered_at);
	jw_obj_end(w);
}

static void
m_search(struct call *c)
{
	char prefix[PLATE_BUFSZ];
	struct subs_topic topic;
	int64_t limit = 20;
	int has, sub = 0, more;
	struct jw *w = c->out;
	struct jerr je = param_err(c);

	if (p_plate(c, "prefix", 1, prefix, &has) ||
	    p_int(c, "limit", 0, 1, 1000, &limit) ||
	    param_rc(c, jr_bool(c->params, "params", "subscribe", 0, &sub, &je),
	    &je) < 0)
		return;
	if (sub) {
		char text[SUBS_TOPIC_BUFSZ];
		int tl = snprintf(text, sizeof(text), "search:%s", prefix);

		if (!subscriptions_on(c) ||
		    subs_topic_parse(text, (size_t)tl, &topic) != PK_OK) {
			if (c->err == PK_OK)
				mcall_bad_param(c, "prefix", "cannot be a search topic");
			return;
		}
	}
	jw_obj(w);
	jw_key(w, "matches");
	jw_arr(w);
	garage_search(c->g, prefix, (size_t)limit, search_match, c, &more);
	jw_arr_end(w);
	jw_kbool(w, "more", more);
	if (sub && subscribe(c, &topic, 1) != 0)
		return;
	jw_obj_end(w);
}

static void
m_history(struct call *c)
{
	static const char *const kinds[] = { "vehicle", "spot", "ticket", "gate",
	    "reservation", "facility", NULL };
	const char *subject, *colon;
	int64_t limit = 100;
	size_t kl;
	int ok = 0;

	if (p_string(c, "subject", 1, 128, &subject) ||
	    p_int(c, "limit", 0, 1, 1000, &limit))
		return;
	colon = strchr(subject, ':');
	kl = colon ? (size_t)(colon - subject) : 0;
	for (int i = 0; colon != NULL && kinds[i] != NULL; i++)
		ok |= strlen(kinds[i]) == kl && strncmp(kinds[i], subject, kl) == 0;
	if (!ok || colon[1] == '\0') {
		mcall_bad_param(c, "subject", "must be vehicle:PLATE, spot:ID, "
		    "ticket:ID, gate:ID, reservation:ID or facility:NAME");
		return;
	}
	if (kl == 7 && strncmp(subject, "vehicle", 7) == 0) {
		char plate[PLATE_BUFSZ];

		if (plate_normalize(colon + 1, strlen(colon + 1), plate) != 0) {
			mcall_bad_param(c, "subject", "must name a plate of 1 to 16 "
			    "characters of A-Z 0-9 - and space");
			return;
		}
		snprintf(c->defer.subject, sizeof(c->defer.subject), "vehicle:%s", plate);
	} else {
		snprintf(c->defer.subject, sizeof(c->defer.subject), "%s", subject);
	}
	c->defer.kind = DEFER_HISTORY;
	c->defer.limit = (int)limit;
	c->deferred = 1;
}

/*
 * Facilities with room near a point (city.md), answered later from Redis.
 * lat and lon come together; without them the point is this facility's
 * location.  A class is a name, not checked against this facility's: the
 * others may have classes it has not.
 */
static void
m_nearby(struct call *c)
{
	struct defer_req *d = &c->defer;
	struct jerr e = param_err(c);
	const char *cls = NULL;
	int64_t radius = 2000, limit = 10;
	int hlat, hlon;

	memset(d, 0, sizeof(*d));
	if ((hlat = param_rc(c, jr_fixed(c->params, "params", "lat", JR_ROUND, 7,
	    -850511287, 850511287, &d->lat_e7, &e), &e)) < 0 ||
	    (hlon = param_rc(c, jr_fixed(c->params, "params", "lon", JR_ROUND, 7,
	    -1800000000, 1800000000, &d->lon_e7, &e), &e)) < 0 ||
	    p_int(c, "radius_m", 0, 1, 100000, &radius) ||
	    p_int(c, "limit", 0, 1, 100, &limit) ||
	    p_string(c, "class", 0, FAC_MAX_NAME, &cls))
		return;
	if (hlat != hlon) {
		mcall_bad_param(c, hlat ? "lon" : "lat", "is required with %s",
		    hlat ? "lat" : "lon");
		return;
	}
	if (!hlat && facility_location_e7(garage_facility(c->g), &d->lat_e7,
	    &d->lon_e7) != 0) {
		mcall_bad_param(c, "lat", "is required: this facility has no location");
		return;
	}
	if (cls != NULL && cls[0] == '\0') {
		mcall_bad_param(c, "class", "must not be empty");
		return;
	}
	d->kind = DEFER_NEARBY;
	d->has_point = hlat;
	d->radius_m = radius;
	d->limit = (int)limit;
	snprintf(d->cls, sizeof(d->cls), "%s", cls != NULL ? cls : "");
	c->deferred = 1;
}

static void
m_layout(struct call *c)
{
	uint32_t spots = facility_spot_count(garage_facility(c->g));
	int64_t from = 0, limit = FAC_MAX_SPOTS;
	size_t budget = VIEW_LAYOUT_MAX_BYTES;
	pk_err e;

	if (p_int(c, "from", 0, 0, (int64_t)spots - 1, &from) ||
	    p_int(c, "limit", 0, 1, FAC_MAX_SPOTS, &limit))
		return;
	/* In a batch the replies before this one share the budget. */
	budget = c->out->len < budget ? budget - c->out->len : 0;
	/* Plates are for the roles that may look vehicles up (search, locate). */
	e = view_layout(c->out, c->g, (uint32_t)from, (uint32_t)limit, budget,
	    c->role != ROLE_GATE);
	if (e == PK_E_INVALID_REQUEST)
		fail(c, e, "the replies before this layout in its batch leave no "
		    "room for it: send layout on its own");
	else if (e != PK_OK)
		fail(c, e, NULL);
}

static void
m_promote(struct call *c)
{
	char why[160] = "";
	uint64_t lsn = 0;
	int rc;
	pk_err e;

	if (c->env->promote == NULL) {
		fail(c, PK_E_UNAVAILABLE, "there is no replication here");
		return;
	}
	rc = c->env->promote(c->env->ud, &lsn, why, sizeof(why));
	if (rc < 0) {
		fail(c, PK_E_UNAVAILABLE, "cannot promote: %s", why);
		return;
	}
	if (rc == 0 && (e = garage_promote(c->g, lsn, c->now, c->changes)) != PK_OK) {
		fail(c, e, NULL);
		return;
	}
	/* Promoted before (a retry): the answer waits for that to be durable. */
	c->acks_earlier = rc == 1;
	jw_obj(c->out);
	jw_kstr(c->out, "role", "primary");
	jw_kuint(c->out, "epoch", garage_epoch(c->g));
	jw_obj_end(c->out);
}

/* ---- the table ---- */

static const char *const P_NONE[] = { NULL };
static const char *const P_HELP[] = { "method", NULL };
static const char *const P_AUTH[] = { "token", NULL };
static const char *const P_ENTRY[] = { "gate", "plate", "class", "needs", "reservation", "at", NULL };
static const char *const P_EXIT[] = { "gate", "ticket", "plate", "at", NULL };
static const char *const P_QUOTE[] = { "ticket", "plate", "at", NULL };
static const char *const P_PAY[] = { "ticket", "amount", "method", "reference", "at", NULL };
static const char *const P_LOST[] = { "plate", "ticket", "at", NULL };
static const char *const P_PLATE[] = { "plate", NULL };
static const char *const P_TICKET[] = { "ticket", NULL };
static const char *const P_SPOT[] = { "id", "state", NULL };
static const char *const P_SET[] = { "set", NULL };
static const char *const P_HISTORY[] = { "subject", "limit", NULL };
static const char *const P_SUBSCRIBE[] = { "topics", NULL };
static const char *const P_UNSUBSCRIBE[] = { "subscription", NULL };
static const char *const P_SEARCH[] = { "prefix", "limit", "subscribe", NULL };
static const char *const P_LAYOUT[] = { "from", "limit", NULL };
static const char *const P_WAIT[] = { "gate", "plate", "class", "needs", "timeout_s", NULL };
static const char *const P_WAITLIST_ID[] = { "waitlist_id", NULL };
static const char *const P_RESERVE[] = { "plate", "class", "from", "to", "needs", "spot", "gate", NULL };
static const char *const P_RESERVATION[] = { "reservation", NULL };
static const char *const P_RESERVATIONS[] = { "from", "to", "state", "cursor", "limit", NULL };

static void m_wait(struct call *c);
static void m_waitlist_status(struct call *c);
static void m_wait_cancel(struct call *c);
static void m_reserve(struct call *c);
static void m_reservation(struct call *c);
static void m_reservation_cancel(struct call *c);
static void m_reservations(struct call *c);
static void m_check(struct call *c);
static const char *const P_VREGISTER[] = { "plate", "contact_name", "phone", NULL };
static const char *const P_VLIST[] = { "cursor", "limit", NULL };
static const char *const P_RETENTION[] = { "set_hours", NULL };
static const char *const P_PURGE[] = { "confirm", NULL };
static const char *const P_NEARBY[] = { "lat", "lon", "radius_m", "class", "limit", NULL };

static const struct method methods[] = {
	{ "ping", ANY, 1, P_NONE, "ping — answers \"pong\"", m_ping, NULL },
	{ "help", ANY, 1, P_HELP, "help [NAME] — the methods and their usage (help entry)", m_help, P_HELP },
	{ "auth", ANY, 1, P_AUTH, "auth token=TOKEN — authenticate this connection", m_auth, P_AUTH },
	{ "health", ANY, 1, P_NONE, "health — daemon status, journal and audit state", m_health, NULL },
	{ "entry", ROLE_GATE, 0, P_ENTRY,
	  "entry gate=ID plate=PLATE class=CLASS [needs=[\"ev\"]] [at=TIME] — let a vehicle in", m_entry, NULL },
	{ "exit", ROLE_GATE, 0, P_EXIT,
	  "exit gate=ID ticket=ID|plate=PLATE [at=TIME] — let a vehicle out", m_exit, NULL },
	{ "quote", ROLE_GATE | ROLE_KIOSK, 0, P_QUOTE,
	  "quote ticket=ID|plate=PLATE [at=TIME] — what is owed now (or at a later time)", m_quote, NULL },
	{ "pay", ROLE_KIOSK, 0, P_PAY,
	  "pay ticket=ID amount=CENTS [method=card] [reference=REF] — record a payment", m_pay, NULL },
	{ "lost", ROLE_KIOSK, 0, P_LOST,
	  "lost plate=PLATE [at=TIME] — mark a ticket lost", m_lost, NULL },
	{ "locate", ROLE_KIOSK, 0, P_PLATE,
	  "locate plate=PLATE — where a vehicle is parked", m_locate, P_PLATE },
	{ "ticket", ROLE_KIOSK, 0, P_TICKET,
	  "ticket ticket=ID — the whole ticket record", m_ticket, P_TICKET },
	{ "status", ANY, 0, P_NONE, "status — capacity and occupancy", m_status, NULL },
	{ "layout", ANY, 0, P_LAYOUT,
	  "layout [from=0] [limit=N] — every row and spot with its state and occupant, for drawing a map; "
	  "follow next for the rest of a large facility", m_layout, NULL },
	{ "spot", 0, 0, P_SPOT,
	  "spot id=ID [state=in_service|out_of_service] — read or change a spot", m_spot, P_SPOT },
	{ "strategy", 0, 0, P_SET,
	  "strategy [set=nearest|farthest|first|fill] — read or change the strategy", m_strategy, P_SET },
	{ "tariff", 0, 0, P_SET,
	  "tariff [set={...}] — read or replace the tariff", m_tariff, NULL },
	{ "search", ROLE_KIOSK, 0, P_SEARCH,
	  "search prefix=PLATE [limit=20] [subscribe=true] — vehicles inside by plate prefix, live when subscribed",
	  m_search, P_SEARCH },
	{ "subscribe", ANY, 0, P_SUBSCRIBE,
	  "subscribe topics=[\"occupancy\",\"events\",\"search:B-X\",\"gate:north\"] — notifications as things change",
	  m_subscribe, NULL },
	{ "unsubscribe", ANY, 0, P_UNSUBSCRIBE,
	  "unsubscribe subscription=ID — stop a subscription", m_unsubscribe, P_UNSUBSCRIBE },
	{ "promote", 0, 0, P_NONE,
	  "promote — make this standby the primary (a new epoch); the old primary is fenced",
	  m_promote, NULL },
	{ "history", 0, 0, P_HISTORY,
	  "history subject=vehicle:PLATE|spot:ID|ticket:ID|gate:ID|reservation:ID [limit=100] — audit events, newest last",
	  m_history, P_HISTORY },
	{ "vehicle_register", ROLE_KIOSK, 0, P_VREGISTER,
	  "vehicle_register plate=PLATE contact_name=NAME phone=+491705550123 — keep a contact "
	  "for a plate, or replace it (kept retention hours after the last update or exit)",
	  m_vehicle_register, P_VREGISTER },
	{ "vehicle_get", ROLE_KIOSK, 0, P_PLATE,
	  "vehicle_get plate=PLATE — a registered plate's contact, times, expiry and whether it is inside",
	  m_vehicle_get, P_PLATE },
	{ "vehicle_list", 0, 0, P_VLIST,
	  "vehicle_list [cursor=C] [limit=100] — registered plates in plate order (no contacts); "
	  "follow next_cursor", m_vehicle_list, NULL },
	{ "vehicle_delete", 0, 0, P_PLATE,
	  "vehicle_delete plate=PLATE — delete a plate's record; its contact leaves the disk "
	  "within registry.erase_within_s", m_vehicle_delete, P_PLATE },
	{ "retention", 0, 0, P_RETENTION,
	  "retention [set_hours=24] — read or change how long registry records are kept "
	  "(0: only while the vehicle is inside)", m_retention, P_RETENTION },
	{ "purge", 0, 0, P_PURGE,
	  "purge confirm=purge — delete every record of the vehicle registry", m_purge, P_PURGE },
	{ "nearby", ANY, 0, P_NEARBY,
	  "nearby [lat=DEG lon=DEG] [radius_m=2000] [class=CLASS] [limit=10] — facilities with room nearby, nearest first",
	  m_nearby, NULL },
	{ "wait", ROLE_GATE, 0, P_WAIT,
	  "wait gate=ID plate=PLATE class=CLASS [needs=[\"ev\"]] timeout_s=N — a spot now, or a place on the waitlist (position, expires_at); "
	  "this connection is told waitlist.assigned or waitlist.expired", m_wait, NULL },
	{ "waitlist_status", ROLE_GATE, 0, P_WAITLIST_ID,
	  "waitlist_status waitlist_id=ID — waiting (position), assigned (ticket, spots), expired or cancelled",
	  m_waitlist_status, P_WAITLIST_ID },
	{ "wait_cancel", ROLE_GATE, 0, P_WAITLIST_ID,
	  "wait_cancel waitlist_id=ID — leave the waitlist (an outcome stays as it is)", m_wait_cancel,
	  P_WAITLIST_ID },
	{ "reserve", ROLE_KIOSK, 0, P_RESERVE,
	  "reserve plate=PLATE class=CLASS from=TIME to=TIME [needs=[\"ev\"]] [spot=ID] [gate=ID] — book a spot for [from, to)",
	  m_reserve, NULL },
	{ "reservation", ROLE_KIOSK, 0, P_RESERVATION,
	  "reservation reservation=ID — the whole reservation record", m_reservation, P_RESERVATION },
	{ "reservation_cancel", ROLE_KIOSK, 0, P_RESERVATION,
	  "reservation_cancel reservation=ID — cancel a booked or held reservation (its hold is released)",
	  m_reservation_cancel, P_RESERVATION },
	{ "reservations", 0, 0, P_RESERVATIONS,
	  "reservations [from=TIME] [to=TIME] [state=booked|held|owed|used|no_show|cancelled] [cursor=C] [limit=100] — reservations by start, a page at a time",
	  m_reservations, NULL },
	{ "check", 0, 0, P_NONE,
	  "check — verify the garage's invariants (no spot given twice, occupied + held within the spots, claims served)",
	  m_check, NULL },
};

#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

static void
usage_json(struct jw *w, const struct method *m)
{
	jw_obj(w);
	jw_kstr(w, "method", m->name);
	jw_kstr(w, "usage", m->usage);
	jw_obj_end(w);
}

static void
m_help(struct call *c)
{
	const char *name;

	if (p_string(c, "method", 0, 64, &name) != 0)
		return;
	if (name != NULL) {
		const struct method *m = method_find(name);

		if (m == NULL) {
			const char *near[3];
			size_t n = method_suggest(name, near, 3);

			fail(c, PK_E_NOT_FOUND, "no method '%.64s'%s%s%s%s%s", name,
			    n ? "; did you mean " : "; see help", n ? near[0] : "",
			    n > 1 ? " or " : "", n > 1 ? near[1] : "", n ? "?" : "");
			return;
		}
		usage_json(c->out, m);
		return;
	}
	jw_obj(c->out);
	jw_key(c->out, "methods");
	jw_arr(c->out);
	for (size_t i = 0; i < N_METHODS; i++)
		usage_json(c->out, &methods[i]);
	jw_arr_end(c->out);
	jw_obj_end(c->out);
}

/*
 * Edit distance (insert, delete, substitute, swap two neighbours) between
 * a and the method name b, or cap + 1 once it passes cap: names are short
 * and the table small, so this is cheap.
 */
static size_t
distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[3][METHOD_NAME_MAX + 2];

	if (la > METHOD_NAME_MAX || lb > METHOD_NAME_MAX ||
	    (la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *cur = d[i % 3], *prev = d[(i - 1) % 3], *pp = d[(i + 1) % 3];
		size_t best = cur[0] = i;

		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = prev[j] + 1;

			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			cur[j] = v;
			if (v < best)
				best = v;
		}
		if (best > cap)
			return cap + 1;
	}
	return d[la % 3][lb];
}

size_t
method_suggest(const char *name, const char **out, size_t max)
{
	size_t n = 0, len = strlen(name);
	/* One typo in a short name, two in a longer one. */
	size_t cap = len <= 4 ? 1 : 2;

	if (len == 0)
		return 0;
	for (size_t d = 0; d <= cap && n < max; d++) {
		for (size_t i = 0; i < N_METHODS && n < max; i++) {
			const char *m = methods[i].name;
			/* "sub" is a prefix of "subscribe": as near as one typo. */
			size_t dist = len >= 3 && strncmp(m, name, len) == 0 ?
			    1 : distance(name, m, cap);

			if (dist == d)
				out[n++] = m;
		}
	}
	return n;
}

const char *const *
method_positional(const char *name)
{
	static const char *const none[] = { NULL };
	const struct method *m = method_find(name);

	return m != NULL && m->positional != NULL ? m->positional : none;
}

const struct method *
method_find(const char *name)
{
	for (size_t i = 0; i < N_METHODS; i++) {
		if (streq(methods[i].name, name))
			return &methods[i];
	}
	return NULL;
}

const char *
method_name(const struct method *m)
{
	return m->name;
}

int
method_public(const struct method *m)
{
	return m->public;
}

size_t
method_count(void)
{
	return N_METHODS;
}

size_t
method_index(const struct method *m)
{
	return (size_t)(m - methods);
}

const struct method *
method_at(size_t i)
{
	return i < N_METHODS ? &methods[i] : NULL;
}

static int
check_params(const struct method *m, struct call *c)
{
	struct jerr e = param_err(c);

	if (c->params == NULL)
		return 0;
	return param_rc(c, jr_keys(c->params, "params", m->params, NULL, &e),
	    &e);
}

/*
 * Expiries, holds and no-shows due by now are applied before the request,
 * whatever it is, so that it sees them even when the daemon's timer has
 * not fired yet.  Their changes go out with the request's.  -1 when
 * memory ran out before all of them were: the request, which would
 * assume them done (a spot freed now going to a waitlist entry whose
 * time is up), is not run.
 */
static int
run_due(struct call *c)
{
	const char *why = "";
	int64_t at;

	if (c->changes == NULL || !garage_next_due(c->g, &at) || at > c->now)
		return 0;
	if (c->env->writable != NULL && c->env->writable(c->env->ud, &why) != 1)
		return 0;
	garage_run_due(c->g, c->now, c->changes);
	return garage_next_due(c->g, &at) && at <= c->now ? -1 : 0;
}

void
method_call(const struct method *m, struct call *c)
{
	size_t start = c->out->len, before;

	c->err = PK_OK;
	c->msg[0] = '\0';
	jw_init(&c->edata);
	jw_members(&c->edata);
	c->acks_earlier = 0;
	c->change_call = 0;
	c->authenticated = 0;
	c->deferred = 0;

	/* No room for even the start of the reply: nothing is done. */
	if (jw_failed(c->out)) {
		fail(c, PK_E_INTERNAL, "out of memory");
		return;
	}
	if (c->role == ROLE_NONE && !m->public) {
		fail(c, PK_E_AUTH_REQUIRED, "authenticate first: auth token=...");
		return;
	}
	if (c->role != ROLE_OPERATOR && !m->public && !(m->roles & (unsigned)c->role)) {
		fail(c, PK_E_FORBIDDEN, "role %s may not call %s",
		    role_name(c->role), m->name);
		return;
	}
	if (check_params(m, c) != 0)
		return;
	if (!m->public && c->env->consistent != NULL && !c->env->consistent(c->env->ud)) {
		fail(c, PK_E_UNAVAILABLE,
		    "the state is being rebuilt from disk after a journal failure; try again");
		return;
	}
	if (!m->public && run_due(c) != 0) {
		fail(c, PK_E_INTERNAL, "out of memory");
		return;
	}
	before = c->changes->n;
	m->fn(c);
	/*
	 * A change call that changed nothing found its change made before
	 * (lost again, a spot set to the state it has, a payment replayed by
	 * its reference): its answer acknowledges that change, maybe not yet
	 * durable, nor held by a standby, and waits as a reply to it would.
	 */
	if (c->err == PK_OK && c->change_call && c->changes->n == before)
		c->acks_earlier = 1;
	if (c->err == PK_OK && !c->deferred &&
	    (jw_failed(c->out) || c->out->len == start)) {
		/*
		 * The result could not be written.  With nothing changed the
		 * answer is an error.  A change made stands (it is committed
		 * like any other), and an error would say it was not: the
		 * reply stays failed, and the daemon closes the connection
		 * (the client learns the outcome as after a lost connection).
		 */
		if (c->changes->n > 0 || c->acks_earlier)
			c->out->failed = 1;
		else
			fail(c, PK_E_INTERNAL, "out of memory");
	}
}

void
call_clear(struct call *c)
{
	jw_release(&c->edata);
}

/* ---- shared with the handlers in other files (mcall.h) ---- */

void
mcall_fail(struct call *c, pk_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, e, fmt, ap);
	va_end(ap);
}

int
mcall_string(struct call *c, const char *name, int required, size_t maxlen,
    const char **out)
{
	return p_string(c, name, required, maxlen, out);
}

int
mcall_int(struct call *c, const char *name, int required, int64_t min,
    int64_t max, int64_t *out)
{
	return p_int(c, name, required, min, max, out);
}

int
mcall_plate(struct call *c, const char *name, int required,
    char out[PLATE_BUFSZ], int *present)
{
	return p_plate(c, name, required, out, present);
}

int
mcall_writable(struct call *c)
{
	return writable(c);
}

int
method_personal(const struct method *m)
{
	/* Its params carry a name and a phone number: never logged. */
	return m->fn == m_vehicle_register;
}

/* ---- the waitlist and reservations (capacity.md) ---- */

static void
capacity_status(struct call *c)
{
	struct garage_capacity_counts k;
	struct jw *w = c->out;

	garage_capacity_counts(c->g, &k);
	jw_kuint(w, "waitlist", k.waiting);
	jw_kuint(w, "reservations_active", k.reservations_active);
	jw_kuint(w, "held", k.held);
	jw_kuint(w, "owed", k.owed);
}

/* The spots of ticket id as objects, when the ticket is still known. */
static void
ticket_spots_json(struct jw *w, const garage *g, const char *id)
{
	const struct ticket *t = garage_ticket(g, id);

	if (t != NULL)
		spots_json(w, g, t);
}

/* A waitlist entry as `wait` and `waitlist_status` answer it. */
static void
wait_json(struct call *c, const struct waitlist_entry *e, size_t position)
{
	const facility *f = garage_facility(c->g);
	struct jw *w = c->out;

	jw_obj(w);
	jw_kstr(w, "waitlist_id", e->id);
	jw_kstr(w, "state", waitlist_state_name(e->state));
	jw_kstr(w, "plate", e->plate);
	jw_kstr(w, "class", facility_class_name(f, e->cls));
	jw_kstr(w, "gate", facility_gate_id(f, e->gate));
	jw_ktime(w, "queued_at", e->queued_at);
	if (e->state == WAITLIST_WAITING) {
		jw_kuint(w, "position", position);
		jw_ktime(w, "expires_at", e->expires_at);
	} else {
		jw_ktime(w, "at", e->outcome_at);
	}
	if (e->state == WAITLIST_ASSIGNED) {
		jw_kstr(w, "ticket", e->ticket);
		ticket_spots_json(w, c->g, e->ticket);
	}
	jw_obj_end(w);
}

static void
m_wait(struct call *c)
{
	const facility *f = garage_facility(c->g);
	struct garage_capacity_cfg cfg;
	struct garage_wait_out o;
	struct garage_wait_in in;
	struct jerr je = param_err(c);
	char plate[PLATE_BUFSZ], wid[UUID_BUFSZ], tid[UUID_BUFSZ];
	const char *cls;
	int has;
	pk_err e;

	garage_capacity_config(c->g, &cfg);
	memset(&in, 0, sizeof(in));
	if (p_gate(c, &in.gate) || p_plate(c, "plate", 1, plate, &has) ||
	    p_string(c, "class", 1, 64, &cls) ||
	    p_int(c, "timeout_s", 1, 1, cfg.wl.max_timeout_s, &in.timeout_s))
		return;
	if ((in.cls = facility_class_lookup(f, cls)) < 0) {
		mcall_bad_param(c, "class", "no such vehicle class '%s'", cls);
		return;
	}
	if (facility_tags_mask(f, param(c, "needs"), "params.needs", &in.needs,
	    &je) != 0) {
		c->err = PK_E_INVALID_PARAMS;
		return;
	}
	if (!writable(c))
		return;
	c->env->new_id(c->env->ud, wid);
	c->env->new_id(c->env->ud, tid);
	in.plate = plate;
	in.id = wid;
	in.ticket_id = tid;
	in.at = c->now;
	e = garage_wait(c->g, &in, &o, c->changes);
	switch (e) {
	case PK_OK:
		break;
	case PK_E_WRONG_GATE:
		fail(c, e, "gate '%s' is not an entry gate", facility_gate_id(f, in.gate));
		return;
	case PK_E_PLATE_INSIDE:
		fail(c, e, "plate '%s' is already inside", plate);
		return;
	case PK_E_QUEUE_FULL:
		fail(c, e, "the waitlist is full (waitlist.max_depth %zu)",
		    cfg.wl.max_depth);
		return;
	default:
		fail(c, e, NULL);
		return;
	}
	/* A gate retrying after a reconnect is told on its new connection. */
	if (o.e.state == WAITLIST_WAITING && c->env->watch_wait != NULL)
		c->env->watch_wait(c->env->ud, c->client, o.e.id);
	wait_json(c, &o.e, o.position);
}

/* The waitlist entry named by waitlist_id, or NULL (c->err set). */
static const struct waitlist_entry *
p_wait_entry(struct call *c)
{
	const struct waitlist_entry *e;
	const char *id;

	if (p_string(c, "waitlist_id", 1, 64, &id) != 0)
		return NULL;
	if ((e = garage_wait_get(c->g, id)) == NULL)
		fail(c, PK_E_NOT_FOUND, "no waitlist entry %s", id);
	return e;
}

static void
m_waitlist_status(struct call *c)
{
	const struct waitlist_entry *e = p_wait_entry(c);

	if (e != NULL)
		wait_json(c, e, garage_wait_position(c->g, e));
}

static void
m_wait_cancel(struct call *c)
{
	const struct waitlist_entry *e = p_wait_entry(c);
	struct waitlist_entry copy;
	char id[UUID_BUFSZ];
	int changed;
	pk_err err;

	if (e == NULL || !writable(c))
		return;
	memcpy(id, e->id, sizeof(id));
	err = garage_wait_cancel(c->g, id, c->now, &copy, &changed, c->changes);
	if (err != PK_OK) {
		fail(c, err, NULL);
		return;
	}
	jw_obj(c->out);
	jw_kstr(c->out, "waitlist_id", copy.id);
	jw_kstr(c->out, "state", waitlist_state_name(copy.state));
	jw_kbool(c->out, "changed", changed);
	jw_obj_end(c->out);
}

/* A reservation as `reserve`, `reservation` and `reservations` answer it. */
static void
resv_json(struct jw *w, const garage *g, const struct resv *r)
{
	const facility *f = garage_facility(g);
	char name[48];

	jw_obj(w);
	jw_kstr(w, "reservation", r->id);
	jw_kstr(w, "plate", r->plate);
	jw_kstr(w, "class", facility_class_name(f, r->cls));
	jw_ktime(w, "from", r->from);
	jw_ktime(w, "to", r->to);
	jw_kstr(w, "state", resv_state_name(r->state));
	jw_kstr(w, "gate", facility_gate_id(f, r->gate));
	jw_kstr(w, "type", facility_type_name(f, r->type));
	jw_kuint(w, "units", r->units);
	if (r->spot != RESV_NO_SPOT) {
		facility_spot_name(f, r->spot, name);
		jw_kstr(w, "spot", name);
	}
	if (r->needs != 0) {
		jw_key(w, "needs");
		jw_arr(w);
		for (int i = 0; i < facility_tag_count(f) && i < 64; i++)
			if (r->needs & ((uint64_t)1 << i))
				jw_str(w, facility_tag_name(f, i));
		jw_arr_end(w);
	}
	jw_ktime(w, "hold_at", r->hold_at);
	jw_ktime(w, "no_show_at", r->no_show_at);
	jw_ktime(w, "created_at", r->created_at);
	jw_ktime(w, "changed_at", r->changed_at);
	if (r->n_held > 0) {
		/* The spots held (kept after the hold ended, for the record). */
		jw_key(w, "spots");
		jw_arr(w);
		for (uint32_t i = 0; i < r->n_held; i++) {
			spot_json(w, f, r->held[i]);
			jw_obj_end(w);
		}
		jw_arr_end(w);
	}
	if (r->ticket[0] != '\0')
		jw_kstr(w, "ticket", r->ticket);
	jw_obj_end(w);
}

static void
m_reserve(struct call *c)
{
	const facility *f = garage_facility(c->g);
	struct garage_reserve_in in;
	struct resbook_why why = { NULL, 0 };
	struct jerr je = param_err(c);
	char plate[PLATE_BUFSZ], id[UUID_BUFSZ], at[RFC3339_BUFSZ];
	const char *cls, *spot, *gate;
	struct resv *r;
	int has;
	pk_err e;

	memset(&in, 0, sizeof(in));
	in.spot = RESV_NO_SPOT;
	in.gate = -1;
	if (p_plate(c, "plate", 1, plate, &has) ||
	    p_string(c, "class", 1, 64, &cls) ||
	    param_rc(c, jr_time(c->params, "params", "from", JR_REQUIRED,
	    &in.from, &je), &je) < 0 ||
	    param_rc(c, jr_time(c->params, "params", "to", JR_REQUIRED,
	    &in.to, &je), &je) < 0 ||
	    p_string(c, "spot", 0, 64, &spot) ||
	    p_string(c, "gate", 0, 64, &gate))
		return;
	if ((in.cls = facility_class_lookup(f, cls)) < 0) {
		mcall_bad_param(c, "class", "no such vehicle class '%s'", cls);
		return;
	}
	if (facility_tags_mask(f, param(c, "needs"), "params.needs", &in.needs,
	    &je) != 0) {
		c->err = PK_E_INVALID_PARAMS;
		return;
	}
	if (spot != NULL && facility_spot_lookup(f, spot, &in.spot) != 0) {
		fail(c, PK_E_NOT_FOUND, "no spot '%s'", spot);
		return;
	}
	if (gate != NULL && (in.gate = facility_gate_lookup(f, gate)) < 0) {
		mcall_bad_param(c, "gate", "no such gate '%s'", gate);
		return;
	}
	if (!writable(c))
		return;
	c->env->new_id(c->env->ud, id);
	in.id = id;
	in.plate = plate;
	in.now = c->now;
	e = garage_reserve(c->g, &in, &r, &why, c->changes);
	switch (e) {
	case PK_OK:
		break;
	case PK_E_RESERVATION_CONFLICT:
		rfc3339_format(why.at, at);
		fail(c, e, "%s (from %s)", why.msg ? why.msg :
		    "no reservable capacity in the window", at);
		jw_ktime(&c->edata, "at", why.at);
		return;
	case PK_E_WRONG_GATE:
		fail(c, e, "gate '%s' is not an entry gate", gate ? gate : "");
		return;
	case PK_E_INVALID_PARAMS:
		fail(c, e, "%s", why.msg ? why.msg : "invalid reservation");
		return;
	default:
		fail(c, e, NULL);
		return;
	}
	resv_json(c->out, c->g, r);
}

/* The reservation named by the param "reservation", or NULL (c->err set). */
static struct resv *
p_resv(struct call *c)
{
	struct resv *r;
	const char *id;

	if (p_string(c, "reservation", 1, 64, &id) != 0)
		return NULL;
	if ((r = garage_reservation(c->g, id)) == NULL)
		fail(c, PK_E_NOT_FOUND, "no reservation %s", id);
	return r;
}

static void
m_reservation(struct call *c)
{
	struct resv *r = p_resv(c);

	if (r != NULL)
		resv_json(c->out, c->g, r);
}

static void
m_reservation_cancel(struct call *c)
{
	struct resv *r = p_resv(c);
	char id[RESBOOK_ID_MAX + 1];
	int changed;
	pk_err e;

	if (r == NULL || !writable(c))
		return;
	memcpy(id, r->id, sizeof(id));
	e = garage_reservation_cancel(c->g, id, c->now, &r, &changed, c->changes);
	if (e != PK_OK) {
		fail(c, e, NULL);
		return;
	}
	jw_obj(c->out);
	jw_kstr(c->out, "reservation", r->id);
	jw_kstr(c->out, "state", resv_state_name(r->state));
	jw_kbool(c->out, "changed", changed);
	jw_obj_end(c->out);
}

static void
m_reservations(struct call *c)
{
	static const char *const states[] = { "booked", "held", "owed", "used",
	    "no_show", "cancelled", NULL };
	struct resv *items[RESBOOK_LIST_MAX];
	char next[RESBOOK_CURSOR_BUFSZ];
	struct resbook_query q;
	struct jerr je = param_err(c);
	const char *cursor;
	int64_t limit = 100;
	int st = -1, rc;
	size_t n = 0;
	pk_err e;

	memset(&q, 0, sizeof(q));
	if ((rc = param_rc(c, jr_time(c->params, "params", "from", 0, &q.from,
	    &je), &je)) < 0)
		return;
	q.has_from = rc;
	if ((rc = param_rc(c, jr_time(c->params, "params", "to", 0, &q.to,
	    &je), &je)) < 0)
		return;
	q.has_to = rc;
	if (param_rc(c, jr_enum(c->params, "params", "state", 0, states, &st,
	    &je), &je) < 0 ||
	    p_string(c, "cursor", 0, RESBOOK_CURSOR_BUFSZ - 1, &cursor) ||
	    p_int(c, "limit", 0, 1, RESBOOK_LIST_MAX, &limit))
		return;
	q.has_state = st >= 0;
	q.state = st >= 0 ? (enum resv_state)st : RESV_BOOKED;
	q.cursor = cursor;
	q.limit = (size_t)limit;
	e = resbook_list(garage_resbook(c->g), &q, items, &n, next);
	if (e != PK_OK) {
		mcall_bad_param(c, "cursor", "is not a cursor of this listing");
		return;
	}
	jw_obj(c->out);
	jw_key(c->out, "items");
	jw_arr(c->out);
	for (size_t i = 0; i < n; i++)
		resv_json(c->out, c->g, items[i]);
	jw_arr_end(c->out);
	if (next[0] != '\0')
		jw_kstr(c->out, "next_cursor", next);
	else
		jw_knull(c->out, "next_cursor");
	jw_obj_end(c->out);
}

static void
m_check(struct call *c)
{
	struct garage_capacity_counts k;
	struct alloc_counts a;
	char why[256];
	int ok = garage_check(c->g, why, sizeof(why)) == 0;

	alloc_counts(garage_alloc(c->g), &a);
	garage_capacity_counts(c->g, &k);
	jw_obj(c->out);
	jw_kbool(c->out, "ok", ok);
	if (!ok)
		jw_kstr(c->out, "problem", why);
	jw_kuint(c->out, "spots", a.total);
	jw_kuint(c->out, "occupied", a.occupied);
	jw_kuint(c->out, "held", a.held);
	jw_kuint(c->out, "out_of_service", a.out_of_service);
	jw_kuint(c->out, "vehicles", garage_inside_count(c->g));
	jw_kuint(c->out, "waitlist", k.waiting);
	jw_kuint(c->out, "owed", k.owed);
	jw_kuint(c->out, "reservations_active", k.reservations_active);
	jw_obj_end(c->out);
}
