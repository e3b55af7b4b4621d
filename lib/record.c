/* record.c - journal records as JSON (see record.h). */
#include "record.h"
#include "hex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "rfc3339.h"

static void
add_time(cJSON *o, const char *key, int64_t t)
{
	char buf[RFC3339_BUFSZ];

	rfc3339_format(t, buf);
	cJSON_AddStringToObject(o, key, buf);
}

static void
add_subject(cJSON *subjects, const char *kind, const char *name)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%s:%s", kind, name);
	cJSON_AddItemToArray(subjects, cJSON_CreateString(buf));
}

static cJSON *
spot_names(const facility *f, const struct ticket *t, cJSON *subjects)
{
	cJSON *a = cJSON_CreateArray();
	char name[48];

	for (size_t i = 0; i < t->n_spots; i++) {
		facility_spot_name(f, t->spots[i], name);
		cJSON_AddItemToArray(a, cJSON_CreateString(name));
		if (subjects != NULL)
			add_subject(subjects, "spot", name);
	}
	return a;
}

static cJSON *
payment_json(const struct payment *p)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "receipt", p->receipt);
	cJSON_AddNumberToObject(o, "amount", (double)p->amount);
	cJSON_AddStringToObject(o, "method", p->method);
	cJSON_AddStringToObject(o, "reference", p->reference);
	add_time(o, "at", p->at);
	return o;
}

/*
 * What entry decided, as replay needs it: the same members in an entry
 * record and a snapshot's ticket (subjects, when given, get the spots).
 */
static void
add_entry_facts(cJSON *d, const facility *f, const struct ticket *t,
    cJSON *subjects)
{
	cJSON_AddStringToObject(d, "ticket", t->id);
	cJSON_AddStringToObject(d, "plate", t->plate);
	cJSON_AddStringToObject(d, "class", facility_class_name(f, t->cls));
	cJSON_AddStringToObject(d, "gate", facility_gate_id(f, t->entry_gate));
	add_time(d, "entered_at", t->entered_at);
	cJSON_AddItemToObject(d, "spots", spot_names(f, t, subjects));
	cJSON_AddNumberToObject(d, "peak_milli", t->peak_milli);
	cJSON_AddNumberToObject(d, "surge_milli", t->surge_milli);
	cJSON_AddNumberToObject(d, "needs_mask", (double)t->needs);
}

/* The whole ticket, for snapshots. */
static cJSON *
ticket_json(const facility *f, const struct ticket *t)
{
	cJSON *d = cJSON_CreateObject();
	cJSON *pays;

	add_entry_facts(d, f, t, NULL);
	if (t->lost)
		add_time(d, "lost_at", t->lost_at);
	pays = cJSON_AddArrayToObject(d, "payments");
	for (size_t i = 0; i < t->n_payments; i++)
		cJSON_AddItemToArray(pays, payment_json(&t->payments[i]));
	if (t->state == TICKET_EXITED) {
		cJSON_AddStringToObject(d, "exit_gate", facility_gate_id(f, t->exit_gate));
		add_time(d, "exited_at", t->exited_at);
		cJSON_AddNumberToObject(d, "charged", (double)t->charged);
	}
	return d;
}

static char *
finish(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	return s;
}

static cJSON *
event(const char *type, const char *event_id, int64_t ts, cJSON **subjects,
    cJSON **data)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", event_id ? event_id : "");
	add_time(o, "ts", ts);
	cJSON_AddStringToObject(o, "type", type);
	*subjects = cJSON_AddArrayToObject(o, "subjects");
	*data = cJSON_AddObjectToObject(o, "data");
	return o;
}

char *
record_encode(const garage *g, const struct garage_change *chg,
    const char *event_id, int64_t ts)
{
	const facility *f = garage_facility(g);
	const struct ticket *t = chg->t;
	cJSON *o = NULL, *s, *d;
	char name[48];

	switch (chg->kind) {
	case GCH_ENTRY:
		o = event("vehicle.entered", event_id, ts, &s, &d);
		add_subject(s, "vehicle", t->plate);
		add_subject(s, "ticket", t->id);
		add_entry_facts(d, f, t, s);
		add_subject(s, "gate", facility_gate_id(f, t->entry_gate));
		break;
	case GCH_EXIT:
		o = event("vehicle.exited", event_id, ts, &s, &d);
		add_subject(s, "vehicle", t->plate);
		add_subject(s, "ticket", t->id);
		cJSON_Delete(spot_names(f, t, s));
		add_subject(s, "gate", facility_gate_id(f, t->exit_gate));
		cJSON_AddStringToObject(d, "ticket", t->id);
		cJSON_AddStringToObject(d, "plate", t->plate);
		cJSON_AddStringToObject(d, "gate", facility_gate_id(f, t->exit_gate));
		add_time(d, "exited_at", t->exited_at);
		cJSON_AddNumberToObject(d, "duration_s", (double)(t->exited_at - t->entered_at));
		cJSON_AddNumberToObject(d, "charged", (double)t->charged);
		break;
	case GCH_PAY:
		o = event("payment.recorded", event_id, ts, &s, &d);
		add_subject(s, "vehicle", t->plate);
		add_subject(s, "ticket", t->id);
		cJSON_AddStringToObject(d, "ticket", t->id);
		cJSON_AddStringToObject(d, "plate", t->plate);
		cJSON_AddItemToObject(d, "payment", payment_json(chg->pay));
		break;
	case GCH_LOST:
		o = event("ticket.lost", event_id, ts, &s, &d);
		add_subject(s, "vehicle", t->plate);
		add_subject(s, "ticket", t->id);
		cJSON_AddStringToObject(d, "ticket", t->id);
		cJSON_AddStringToObject(d, "plate", t->plate);
		add_time(d, "lost_at", t->lost_at);
		break;
	case GCH_SPOT:
		o = event("spot.status.changed", event_id, ts, &s, &d);
		facility_spot_name(f, chg->spot, name);
		add_subject(s, "spot", name);
		cJSON_AddStringToObject(d, "spot", name);
		cJSON_AddStringToObject(d, "state", chg->in_service ? "in_service" : "out_of_service");
		break;
	case GCH_STRATEGY:
		o = event("strategy.changed", event_id, ts, &s, &d);
		add_subject(s, "facility", facility_name(f));
		cJSON_AddStringToObject(d, "strategy", alloc_strategy_name(garage_strategy(g)));
		break;
	case GCH_TARIFF:
		o = event("tariff.changed", event_id, ts, &s, &d);
		add_subject(s, "facility", facility_name(f));
		cJSON_AddItemToObject(d, "tariff", tariff_to_json(garage_tariff(g)));
		break;
	}
	return o ? finish(o) : NULL;
}

/* ---- applying ---- */

struct rd {
	const facility *f;
	char *err;
	size_t errlen;
	int failed;
};

static __attribute__((format(printf, 2, 3))) void
rd_fail(struct rd *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed++)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
}

static const char *
get_str(struct rd *r, const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(v)) {
		rd_fail(r, "missing string '%s'", key);
		return "";
	}
	return v->valuestring;
}

static int64_t
get_num(struct rd *r, const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	/* Written by us as integers well inside 2^53; anything else is damage. */
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= -9007199254740992.0 &&
	    v->valuedouble <= 9007199254740992.0)) {
		rd_fail(r, "missing or out-of-range number '%s'", key);
		return 0;
	}
	return (int64_t)v->valuedouble;
}

/* A multiplier in thousandths, as the tariff makes them (at most 100x). */
static int32_t
get_milli(struct rd *r, const cJSON *o, const char *key)
{
	int64_t v = get_num(r, o, key);

	if (v < 0 || v > 100000) {
		rd_fail(r, "multiplier '%s' out of range", key);
		return 1000;
	}
	return (int32_t)v;
}

static int64_t
get_time(struct rd *r, const cJSON *o, const char *key)
{
	const char *s = get_str(r, o, key);
	int64_t t = 0;

	if (!r->failed && rfc3339_parse(s, strlen(s), &t) != 0)
		rd_fail(r, "bad time '%s'", key);
	return t;
}

static int
get_gate(struct rd *r, const cJSON *o, const char *key)
{
	const char *s = get_str(r, o, key);
	int gate = facility_gate_lookup(r->f, s);

	if (gate < 0)
		rd_fail(r, "unknown gate '%s'", s);
	return gate;
}

static void
copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
read_payment(struct rd *r, const cJSON *o, struct payment *p)
{
	memset(p, 0, sizeof(*p));
	copy_str(p->receipt, sizeof(p->receipt), get_str(r, o, "receipt"));
	copy_str(p->method, sizeof(p->method), get_str(r, o, "method"));
	copy_str(p->reference, sizeof(p->reference), get_str(r, o, "reference"));
	p->amount = get_num(r, o, "amount");
	p->at = get_time(r, o, "at");
}

static struct ticket *
find_ticket(struct rd *r, garage *g, const cJSON *d)
{
	const char *id = get_str(r, d, "ticket");
	struct ticket *t = r->failed ? NULL : garage_ticket(g, id);

	if (t == NULL)
		rd_fail(r, "unknown ticket %s", id);
	return t;
}

/* An entry or a whole snapshot ticket. */
static pk_err
apply_ticket(struct rd *r, garage *g, const cJSON *d, int whole)
{
	const cJSON *spots = cJSON_GetObjectItemCaseSensitive(d, "spots");
	const cJSON *pays = cJSON_GetObjectItemCaseSensitive(d, "payments");
	uint32_t ids[ALLOC_MAX_SPOTS];
	struct payment *pv = NULL;
	struct ticket img;
	const cJSON *it;
	size_t n = 0;
	pk_err e;

	memset(&img, 0, sizeof(img));
	copy_str(img.id, sizeof(img.id), get_str(r, d, "ticket"));
	copy_str(img.plate, sizeof(img.plate), get_str(r, d, "plate"));
	img.cls = facility_class_lookup(r->f, get_str(r, d, "class"));
	if (img.cls < 0)
		rd_fail(r, "unknown class");
	img.entry_gate = get_gate(r, d, "gate");
	img.exit_gate = -1;
	img.entered_at = get_time(r, d, "entered_at");
	img.peak_milli = get_milli(r, d, "peak_milli");
	img.surge_milli = get_milli(r, d, "surge_milli");
	img.needs = (uint64_t)get_num(r, d, "needs_mask");
	if (!cJSON_IsArray(spots))
		rd_fail(r, "missing spots");
	cJSON_ArrayForEach(it, spots) {
		if (n == ALLOC_MAX_SPOTS || !cJSON_IsString(it) ||
		    facility_spot_lookup(r->f, it->valuestring, &ids[n]) != 0) {
			rd_fail(r, "unknown spot %s", cJSON_IsString(it) ? it->valuestring : "?");
			break;
		}
		n++;
	}
	img.n_spots = n;
	img.state = TICKET_INSIDE;
	if (whole) {
		if (cJSON_GetObjectItemCaseSensitive(d, "lost_at") != NULL) {
			img.lost = 1;
			img.lost_at = get_time(r, d, "lost_at");
		}
		if (cJSON_GetObjectItemCaseSensitive(d, "exited_at") != NULL) {
			img.state = TICKET_EXITED;
			img.exit_gate = get_gate(r, d, "exit_gate");
			img.exited_at = get_time(r, d, "exited_at");
			img.charged = get_num(r, d, "charged");
		}
		if (cJSON_IsArray(pays) && cJSON_GetArraySize(pays) > 0) {
			pv = calloc((size_t)cJSON_GetArraySize(pays), sizeof(*pv));
			if (pv == NULL)
				return PK_E_INTERNAL;
			cJSON_ArrayForEach(it, pays)
				read_payment(r, it, &pv[img.n_payments++]);
		}
	}
	if (r->failed) {
		free(pv);
		return PK_E_INVALID_PARAMS;
	}
	e = garage_restore_ticket(g, &img, ids, pv);
	free(pv);
	if (e != PK_OK)
		rd_fail(r, "ticket %s does not fit the state (spot taken, plate inside or duplicate)",
		    img.id);
	return e;
}

static pk_err
apply_spot(struct rd *r, garage *g, const cJSON *d)
{
	const char *name = get_str(r, d, "spot");
	const char *state = get_str(r, d, "state");
	uint32_t s;

	if (r->failed)
		return PK_E_INVALID_PARAMS;
	if (facility_spot_lookup(r->f, name, &s) != 0) {
		rd_fail(r, "unknown spot %s", name);
		return PK_E_INVALID_PARAMS;
	}
	return garage_set_spot_service(g, s, strcmp(state, "out_of_service") != 0);
}

static pk_err
apply_strategy(struct rd *r, garage *g, const cJSON *d)
{
	enum alloc_strategy s;
	const char *name = get_str(r, d, "strategy");

	if (r->failed || alloc_strategy_parse(name, &s) != 0) {
		rd_fail(r, "bad strategy");
		return PK_E_INVALID_PARAMS;
	}
	garage_set_strategy(g, s);
	return PK_OK;
}

static pk_err
apply_tariff(struct rd *r, garage *g, const cJSON *d)
{
	char err[200];
	tariff *t = tariff_from_json(cJSON_GetObjectItemCaseSensitive(d, "tariff"),
	    "tariff", err, sizeof(err));

	if (t == NULL) {
		rd_fail(r, "%s", err);
		return PK_E_INVALID_PARAMS;
	}
	/* Replacing without reporting: the change is already in the journal. */
	garage_replace_tariff(g, t);
	return PK_OK;
}

static pk_err
apply_data(struct rd *r, garage *g, const char *type, const cJSON *d)
{
	struct ticket *t;
	struct payment p;

	if (strcmp(type, "vehicle.entered") == 0)
		return apply_ticket(r, g, d, 0);
	if (strcmp(type, "snapshot.ticket") == 0)
		return apply_ticket(r, g, d, 1);
	if (strcmp(type, "vehicle.exited") == 0) {
		int gate = get_gate(r, d, "gate");
		int64_t at = get_time(r, d, "exited_at");

		if ((t = find_ticket(r, g, d)) == NULL || r->failed)
			return PK_E_INVALID_PARAMS;
		if (garage_restore_exit(g, t, gate, at) != PK_OK) {
			rd_fail(r, "ticket %s is not inside", t->id);
			return PK_E_INVALID_PARAMS;
		}
		return PK_OK;
	}
	if (strcmp(type, "payment.recorded") == 0) {
		const cJSON *po = cJSON_GetObjectItemCaseSensitive(d, "payment");

		if ((t = find_ticket(r, g, d)) == NULL)
			return PK_E_INVALID_PARAMS;
		read_payment(r, po, &p);
		if (r->failed)
			return PK_E_INVALID_PARAMS;
		return garage_restore_pay(g, t, &p);
	}
	if (strcmp(type, "ticket.lost") == 0) {
		int64_t at = get_time(r, d, "lost_at");

		if ((t = find_ticket(r, g, d)) == NULL || r->failed)
			return PK_E_INVALID_PARAMS;
		garage_restore_lost(g, t, at);
		return PK_OK;
	}
	if (strcmp(type, "spot.status.changed") == 0 || strcmp(type, "snapshot.spot") == 0)
		return apply_spot(r, g, d);
	if (strcmp(type, "strategy.changed") == 0 || strcmp(type, "snapshot.strategy") == 0)
		return apply_strategy(r, g, d);
	if (strcmp(type, "tariff.changed") == 0 || strcmp(type, "snapshot.tariff") == 0)
		return apply_tariff(r, g, d);
	rd_fail(r, "unknown record type '%s'", type);
	return PK_E_INVALID_PARAMS;
}

pk_err
record_apply(garage *g, const char *json, size_t len, char *err, size_t errlen)
{
	struct rd r = { garage_facility(g), err, errlen, 0 };
	const cJSON *type, *data;
	cJSON *o;
	pk_err e;

	if (errlen > 0)
		err[0] = '\0';
	o = cJSON_ParseWithLength(json, len);
	if (o == NULL) {
		rd_fail(&r, "record is not JSON");
		return PK_E_PARSE;
	}
	type = cJSON_GetObjectItemCaseSensitive(o, "type");
	data = cJSON_GetObjectItemCaseSensitive(o, "data");
	if (!cJSON_IsString(type) || !cJSON_IsObject(data)) {
		rd_fail(&r, "record has no type or data");
		cJSON_Delete(o);
		return PK_E_INVALID_PARAMS;
	}
	e = apply_data(&r, g, type->valuestring, data);
	if (e != PK_OK && !r.failed)
		rd_fail(&r, "%s", pk_err_message(e));
	cJSON_Delete(o);
	return e;
}

/* ---- snapshots ---- */

struct snap {
	const garage *g;
	int (*fn)(void *ud, const char *json, size_t len);
	void *ud;
	int rc;
};

static int
snap_emit(struct snap *s, const char *type, cJSON *data)
{
	cJSON *o, *subj, *d;
	char *txt;

	if (s->rc != 0) {
		cJSON_Delete(data);
		return s->rc;
	}
	o = event(type, "", 0, &subj, &d);
	cJSON_DeleteItemFromObjectCaseSensitive(o, "data");
	cJSON_AddItemToObject(o, "data", data);
	txt = finish(o);
	if (txt == NULL)
		return s->rc = -1;
	s->rc = s->fn(s->ud, txt, strlen(txt));
	free(txt);
	return s->rc;
}

static void
snap_ticket(void *ud, const struct ticket *t)
{
	struct snap *s = ud;

	snap_emit(s, "snapshot.ticket", ticket_json(garage_facility(s->g), t));
}

int
record_snapshot(const garage *g,
    int (*fn)(void *ud, const char *json, size_t len), void *ud)
{
	const facility *f = garage_facility(g);
	const alloc *a = garage_alloc(g);
	struct snap s = { g, fn, ud, 0 };
	uint32_t n = facility_spot_count(f);
	cJSON *d;
	char name[48];

	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "strategy", alloc_strategy_name(garage_strategy(g)));
	snap_emit(&s, "snapshot.strategy", d);
	d = cJSON_CreateObject();
	cJSON_AddItemToObject(d, "tariff", tariff_to_json(garage_tariff(g)));
	snap_emit(&s, "snapshot.tariff", d);
	garage_each_ticket(g, snap_ticket, &s);
	for (uint32_t i = 0; i < n && s.rc == 0; i++) {
		if (alloc_spot_state(a, i) != ALLOC_SPOT_OUT_OF_SERVICE &&
		    !alloc_spot_pending_out_of_service(a, i))
			continue;
		d = cJSON_CreateObject();
		facility_spot_name(f, i, name);
		cJSON_AddStringToObject(d, "spot", name);
		cJSON_AddStringToObject(d, "state", "out_of_service");
		snap_emit(&s, "snapshot.spot", d);
	}
	return s.rc;
}

/* ---- peeking for the shipper ---- */

/* Appends code point cp as UTF-8. */
static int
put_utf8(char **o, const char *end, unsigned cp)
{
	char *p = *o;

	if (cp < 0x80 && p + 1 <= end) {
		*p++ = (char)cp;
	} else if (cp < 0x800 && p + 2 <= end) {
		*p++ = (char)(0xc0 | cp >> 6);
		*p++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000 && p + 3 <= end) {
		*p++ = (char)(0xe0 | cp >> 12);
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*p++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x110000 && p + 4 <= end) {
		*p++ = (char)(0xf0 | cp >> 18);
		*p++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*p++ = (char)(0x80 | (cp & 0x3f));
	} else {
		return -1;
	}
	*o = p;
	return 0;
}

/*
 * Reads the JSON string starting at *s (on its opening quote) into *o,
 * NUL-terminated; leaves *s after the closing quote.
 */
static int
peek_string(const char **s, const char *end, char **o, const char *oend)
{
	const char *p = *s;

	if (p >= end || *p++ != '"')
		return -1;
	while (p < end && *p != '"') {
		unsigned cp;

		if ((unsigned char)*p < 0x20)
			return -1;
		if (*p != '\\') {
			if (*o >= oend)
				return -1;
			*(*o)++ = *p++;
			continue;
		}
		if (++p >= end)
			return -1;
		switch (*p++) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			cp = 0;
			for (int i = 0; i < 4; i++) {
				int h = p < end ? hex_digit(*p++) : -1;

				if (h < 0)
					return -1;
				cp = cp << 4 | (unsigned)h;
			}
			/* A surrogate pair is two escapes. */
			if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 &&
			    p[0] == '\\' && p[1] == 'u') {
				unsigned lo = 0;

				for (int i = 2; i < 6; i++) {
					int h = hex_digit(p[i]);

					if (h < 0)
						return -1;
					lo = lo << 4 | (unsigned)h;
				}
				if (lo < 0xdc00 || lo > 0xdfff)
					return -1;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				return -1;
			}
			break;
		default:
			return -1;
		}
		if (cp == 0 || put_utf8(o, oend, cp) != 0)
			return -1;
	}
	if (p >= end || *o >= oend)
		return -1;
	*(*o)++ = '\0';
	*s = p + 1;
	return 0;
}

static const char *
find_key(const char *s, const char *end, const char *key)
{
	size_t kl = strlen(key);

	for (; s + kl <= end; s++) {
		if (memcmp(s, key, kl) == 0)
			return s + kl;
	}
	return NULL;
}

int
record_peek(const char *json, size_t len, char *buf, size_t buflen,
    size_t *used, const char **id, const char **subj, int max_subj)
{
	const char *end = json + len, *p;
	char *o = buf, *oend = buf + buflen;
	int n = 0;

	/* record_encode writes the id first and the subjects before the data. */
	if (len < 8 || memcmp(json, "{\"id\":", 6) != 0)
		return -1;
	p = json + 6;
	*id = o;
	if (peek_string(&p, end, &o, oend) != 0)
		return -1;
	p = find_key(p, end, "\"subjects\":[");
	if (p == NULL)
		return -1;
	while (p < end && *p != ']') {
		if (n == max_subj)
			return -1;
		subj[n++] = o;
		if (peek_string(&p, end, &o, oend) != 0)
			return -1;
		if (p < end && *p == ',')
			p++;
	}
	*used = (size_t)(o - buf);
	return p < end ? n : -1;
}
