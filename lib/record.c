/* record.c - journal records as JSON (see record.h). */
#include "record.h"
#include "hex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "jsonw.h"
#include "rfc3339.h"

static void
subject(struct jw *w, const char *kind, const char *name)
{
	char buf[128];
	size_t kl = strlen(kind), nl = strlen(name);

	if (kl + 1 + nl >= sizeof(buf))
		nl = sizeof(buf) - kl - 2;
	memcpy(buf, kind, kl);
	buf[kl] = ':';
	memcpy(buf + kl + 1, name, nl);
	jw_strn(w, buf, kl + 1 + nl);
}

static void
spot_subjects(struct jw *w, const facility *f, const struct ticket *t)
{
	char name[48];

	for (size_t i = 0; i < t->n_spots; i++) {
		facility_spot_name(f, t->spots[i], name);
		subject(w, "spot", name);
	}
}

static void
spot_names(struct jw *w, const facility *f, const struct ticket *t)
{
	char name[48];

	jw_key(w, "spots");
	jw_arr(w);
	for (size_t i = 0; i < t->n_spots; i++) {
		facility_spot_name(f, t->spots[i], name);
		jw_str(w, name);
	}
	jw_arr_end(w);
}

static void
payment(struct jw *w, const struct payment *p)
{
	jw_obj(w);
	jw_kstr(w, "receipt", p->receipt);
	jw_kint(w, "amount", p->amount);
	jw_kstr(w, "method", p->method);
	jw_kstr(w, "reference", p->reference);
	jw_ktime(w, "at", p->at);
	jw_obj_end(w);
}

/*
 * What entry decided, as replay needs it: the same members in an entry
 * record and a snapshot's ticket.
 */
static void
entry_facts(struct jw *w, const facility *f, const struct ticket *t)
{
	jw_kstr(w, "ticket", t->id);
	jw_kstr(w, "plate", t->plate);
	jw_kstr(w, "class", facility_class_name(f, t->cls));
	jw_kstr(w, "gate", facility_gate_id(f, t->entry_gate));
	jw_ktime(w, "entered_at", t->entered_at);
	spot_names(w, f, t);
	jw_kint(w, "peak_milli", t->peak_milli);
	jw_kint(w, "surge_milli", t->surge_milli);
	jw_kuint(w, "needs_mask", t->needs);
}

/* The whole ticket, for snapshots. */
static void
ticket_facts(struct jw *w, const facility *f, const struct ticket *t)
{
	entry_facts(w, f, t);
	if (t->lost)
		jw_ktime(w, "lost_at", t->lost_at);
	jw_key(w, "payments");
	jw_arr(w);
	for (size_t i = 0; i < t->n_payments; i++)
		payment(w, &t->payments[i]);
	jw_arr_end(w);
	if (t->state == TICKET_EXITED) {
		jw_kstr(w, "exit_gate", facility_gate_id(f, t->exit_gate));
		jw_ktime(w, "exited_at", t->exited_at);
		jw_kint(w, "charged", t->charged);
	}
}

/* The envelope up to the subjects array, which is left open. */
static void
head(struct jw *w, const char *type, const char *event_id, int64_t ts)
{
	jw_obj(w);
	jw_kstr(w, "id", event_id ? event_id : "");
	jw_ktime(w, "ts", ts);
	jw_kstr(w, "type", type);
	jw_key(w, "subjects");
	jw_arr(w);
}

/* Closes the subjects and opens data. */
static void
data(struct jw *w)
{
	jw_arr_end(w);
	jw_key(w, "data");
	jw_obj(w);
}

/* The subjects every ticket event has. */
static void
ticket_subjects(struct jw *w, const struct ticket *t)
{
	subject(w, "vehicle", t->plate);
	subject(w, "ticket", t->id);
}

static void
ticket_ref(struct jw *w, const struct ticket *t)
{
	jw_kstr(w, "ticket", t->id);
	jw_kstr(w, "plate", t->plate);
}

void
record_write(const garage *g, const struct change *c, const char *event_id,
    struct jw *w)
{
	const facility *f = garage_facility(g);
	const struct ticket *t = c->t;
	char name[48];

	switch (c->kind) {
	case CHG_ENTRY:
		head(w, "vehicle.entered", event_id, c->at);
		ticket_subjects(w, t);
		spot_subjects(w, f, t);
		subject(w, "gate", facility_gate_id(f, t->entry_gate));
		data(w);
		entry_facts(w, f, t);
		break;
	case CHG_EXIT:
		head(w, "vehicle.exited", event_id, c->at);
		ticket_subjects(w, t);
		spot_subjects(w, f, t);
		subject(w, "gate", facility_gate_id(f, t->exit_gate));
		data(w);
		ticket_ref(w, t);
		jw_kstr(w, "gate", facility_gate_id(f, t->exit_gate));
		jw_ktime(w, "exited_at", t->exited_at);
		jw_kint(w, "duration_s", t->exited_at - t->entered_at);
		jw_kint(w, "charged", t->charged);
		break;
	case CHG_PAY:
		head(w, "payment.recorded", event_id, c->at);
		ticket_subjects(w, t);
		data(w);
		ticket_ref(w, t);
		jw_key(w, "payment");
		payment(w, &t->payments[c->pay]);
		break;
	case CHG_LOST:
		head(w, "ticket.lost", event_id, c->at);
		ticket_subjects(w, t);
		data(w);
		ticket_ref(w, t);
		jw_ktime(w, "lost_at", t->lost_at);
		break;
	case CHG_SPOT:
		head(w, "spot.status.changed", event_id, c->at);
		facility_spot_name(f, c->spot, name);
		subject(w, "spot", name);
		data(w);
		jw_kstr(w, "spot", name);
		jw_kstr(w, "state", c->in_service ? "in_service" : "out_of_service");
		break;
	case CHG_STRATEGY:
		head(w, "strategy.changed", event_id, c->at);
		subject(w, "facility", facility_name(f));
		data(w);
		jw_kstr(w, "strategy", alloc_strategy_name(garage_strategy(g)));
		break;
	case CHG_TARIFF:
		head(w, "tariff.changed", event_id, c->at);
		subject(w, "facility", facility_name(f));
		data(w);
		jw_key(w, "tariff");
		tariff_write(garage_tariff(g), w);
		break;
	}
	jw_obj_end(w);		/* data */
	jw_obj_end(w);		/* the record */
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
	return garage_restore_spot_service(g, s, strcmp(state, "out_of_service") != 0);
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
	garage_restore_strategy(g, s);
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
	garage_restore_tariff(g, t);
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
	struct jerr je = { err, errlen, 0 };
	const cJSON *type, *data;
	cJSON *o;
	pk_err e;

	if (errlen > 0)
		err[0] = '\0';
	o = json_parse(json, len, "record", &je);
	if (o == NULL)
		return je.nomem ? PK_E_INTERNAL : PK_E_PARSE;
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
	struct jw w;
	int rc;
};

/* Starts a snapshot record of type (a snapshot record has no id or subjects). */
static struct jw *
snap_begin(struct snap *s, const char *type)
{
	jw_reset(&s->w);
	head(&s->w, type, "", 0);
	data(&s->w);
	return &s->w;
}

static void
snap_end(struct snap *s)
{
	jw_obj_end(&s->w);
	jw_obj_end(&s->w);
	if (s->rc != 0)
		return;
	if (jw_failed(&s->w)) {
		s->rc = -1;
		return;
	}
	s->rc = s->fn(s->ud, s->w.buf, s->w.len);
}

static void
snap_ticket(void *ud, const struct ticket *t)
{
	struct snap *s = ud;

	if (s->rc != 0)
		return;
	ticket_facts(snap_begin(s, "snapshot.ticket"), garage_facility(s->g), t);
	snap_end(s);
}

int
record_snapshot(const garage *g,
    int (*fn)(void *ud, const char *json, size_t len), void *ud)
{
	const facility *f = garage_facility(g);
	const alloc *a = garage_alloc(g);
	struct snap s = { .g = g, .fn = fn, .ud = ud, .rc = 0 };
	uint32_t n = facility_spot_count(f);
	char name[48];

	jw_init(&s.w);
	jw_kstr(snap_begin(&s, "snapshot.strategy"), "strategy",
	    alloc_strategy_name(garage_strategy(g)));
	snap_end(&s);
	jw_key(snap_begin(&s, "snapshot.tariff"), "tariff");
	tariff_write(garage_tariff(g), &s.w);
	snap_end(&s);
	garage_each_ticket(g, snap_ticket, &s);
	for (uint32_t i = 0; i < n && s.rc == 0; i++) {
		if (alloc_spot_state(a, i) != ALLOC_SPOT_OUT_OF_SERVICE &&
		    !alloc_spot_pending_out_of_service(a, i))
			continue;
		facility_spot_name(f, i, name);
		jw_kstr(snap_begin(&s, "snapshot.spot"), "spot", name);
		jw_kstr(&s.w, "state", "out_of_service");
		snap_end(&s);
	}
	jw_release(&s.w);
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
