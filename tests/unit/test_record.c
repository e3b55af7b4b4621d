/* test_record.c - unit tests of journal records: encode, apply, snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"
#include "regops.h"
#include "rfc3339.h"
#include "testutil.h"

#define MIN 60
#define HOUR 3600

/* ---- a growing list of strings ---- */

struct lines {
	char **v;
	size_t n, cap;
};

static void
lines_add(struct lines *l, const char *s, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n] = malloc(len + 1);
	assert_non_null(l->v[l->n]);
	memcpy(l->v[l->n], s, len);
	l->v[l->n][len] = '\0';
	l->n++;
}

static void
lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- where the changes of the driving helpers go ---- */

struct journal {
	struct lines recs;
	unsigned next_event;
};

struct one {
	char *rec;
	int n;
};

static struct changes tch;		/* what the last core call returned */
static struct journal *to_journal;	/* every record, with fresh event ids */
static struct one *to_one;		/* only the last record, a fixed id */

/* Encodes the changes of the call just made, as the daemon's commit does. */
static void
flush(const garage *g)
{
	struct jw w;

	jw_init(&w);
	for (size_t i = 0; i < tch.n; i++) {
		char id[UUID_BUFSZ] = "0193aaaa-bbbb-7ccc-8ddd-eeeeffff0000";

		if (to_journal != NULL)
			tu_id(0xe0000 + to_journal->next_event++, id);
		jw_reset(&w);
		record_write(g, &tch.v[i], id, &w);
		assert_false(jw_failed(&w));
		if (to_journal != NULL)
			lines_add(&to_journal->recs, w.buf, w.len);
		if (to_one != NULL) {
			free(to_one->rec);
			to_one->rec = strdup(w.buf);
			to_one->n++;
		}
	}
	jw_release(&w);
	changes_clear(&tch);
}

static void
record_to(struct journal *j, struct one *o)
{
	changes_release(&tch);
	to_journal = j;
	to_one = o;
}

static int
snap_collect(void *ud, const char *json, size_t len)
{
	lines_add(ud, json, len);
	return 0;
}

/* ---- a printable image of the whole state, for comparisons ---- */

struct buf {
	char *s;
	size_t n, cap;
};

static __attribute__((format(printf, 2, 3))) void
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		assert_true(k >= 0);
		if ((size_t)k < b->cap - b->n)
			break;
		b->cap = (b->cap + (size_t)k + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	b->n += (size_t)k;
}

static void
dump_ticket(struct buf *b, const struct ticket *t)
{
	bprintf(b, "ticket %s plate=%s state=%d cls=%d gate=%d exit_gate=%d "
	    "in=%lld out=%lld needs=%llx peak=%d surge=%d lost=%d lost_at=%lld "
	    "paid=%lld last_paid=%lld charged=%lld spots=",
	    t->id, t->plate, (int)t->state, t->cls, t->entry_gate, t->exit_gate,
	    (long long)t->entered_at, (long long)t->exited_at,
	    (unsigned long long)t->needs, (int)t->peak_milli, (int)t->surge_milli,
	    t->lost, (long long)t->lost_at, (long long)t->paid,
	    (long long)t->last_paid_at, (long long)t->charged);
	for (size_t i = 0; i < t->n_spots; i++)
		bprintf(b, "%u,", t->spots[i]);
	bprintf(b, " payments=%zu\n", t->n_payments);
	for (size_t i = 0; i < t->n_payments; i++) {
		const struct payment *p = &t->payments[i];

		bprintf(b, "  pay %s ref=%s method=%s amount=%lld at=%lld\n",
		    p->receipt, p->reference, p->method, (long long)p->amount,
		    (long long)p->at);
	}
}

struct collect {
	const struct ticket *closed[64];
	const struct ticket *inside[64];
	size_t nc, ni;
};

static void
collect_ticket(void *ud, const struct ticket *t)
{
	struct collect *c = ud;

	if (t->state == TICKET_EXITED) {
		assert_int_equal(c->ni, 0);	/* closed ones come first */
		assert_true(c->nc < 64);
		c->closed[c->nc++] = t;
	} else {
		assert_true(c->ni < 64);
		c->inside[c->ni++] = t;
	}
}

static int
cmp_ticket(const void *a, const void *b)
{
	const struct ticket *const *x = a, *const *y = b;

	return strcmp((*x)->id, (*y)->id);
}

/* The whole state as text: equal text, equal state. */
static char *
dump(const garage *g)
{
	const facility *f = garage_facility(g);
	const alloc *a = garage_alloc(g);
	struct alloc_counts c;
	struct collect col;
	struct buf b = { NULL, 0, 0 };
	struct jw tw;

	jw_init(&tw);
	tariff_write(garage_tariff(g), &tw);
	assert_false(jw_failed(&tw));
	bprintf(&b, "strategy %s\n", alloc_strategy_name(garage_strategy(g)));
	bprintf(&b, "tariff %s\n", tw.buf);
	jw_release(&tw);
	alloc_counts(a, &c);
	bprintf(&b, "counts total=%llu free=%llu occupied=%llu oos=%llu held=%llu\n",
	    (unsigned long long)c.total, (unsigned long long)c.free,
	    (unsigned long long)c.occupied, (unsigned long long)c.out_of_service,
	    (unsigned long long)c.held);
	bprintf(&b, "inside %zu\n", garage_inside_count(g));
	for (size_t i = 0; i < garage_epochs(g)->n; i++)
		bprintf(&b, "epoch %u from %llu\n", garage_epochs(g)->v[i].epoch,
		    (unsigned long long)garage_epochs(g)->v[i].lsn);
	for (uint32_t s = 0; s < facility_spot_count(f); s++)
		bprintf(&b, "spot %u %d%s\n", s, (int)alloc_spot_state(a, s),
		    alloc_spot_pending_out_of_service(a, s) ? " pending" : "");
	memset(&col, 0, sizeof(col));
	garage_each_ticket(g, collect_ticket, &col);
	/* Closed in retention order; inside in id order (table order varies). */
	for (size_t i = 0; i < col.nc; i++)
		dump_ticket(&b, col.closed[i]);
	qsort(col.inside, col.ni, sizeof(col.inside[0]), cmp_ticket);
	for (size_t i = 0; i < col.ni; i++) {
		dump_ticket(&b, col.inside[i]);
		/* Found both ways. */
		assert_ptr_equal(garage_ticket(g, col.inside[i]->id), col.inside[i]);
		assert_ptr_equal(garage_inside(g, col.inside[i]->plate), col.inside[i]);
	}
	for (size_t i = 0; i < col.nc; i++)
		assert_ptr_equal(garage_ticket(g, col.closed[i]->id), col.closed[i]);
	return b.s;
}

/* ---- driving a garage ---- */

static unsigned next_id = 1;

static struct ticket *
enter(garage *g, const char *gate, const char *plate, const char *cls,
    const char *needs, int64_t at)
{
	const facility *f = garage_facility(g);
	struct garage_entry_in in;
	char id[UUID_BUFSZ];
	struct ticket *t = NULL;
	pk_err e;

	tu_id(next_id++, id);
	memset(&in, 0, sizeof(in));
	in.gate = facility_gate_lookup(f, gate);
	in.plate = plate;
	in.cls = facility_class_lookup(f, cls);
	if (needs != NULL) {
		cJSON *n = tu_json(needs);

		assert_int_equal(facility_tags_mask(f, n, "", &in.needs,
		    &(struct jerr){ NULL, 0, 0 }), 0);
		cJSON_Delete(n);
	}
	in.ticket_id = id;
	in.at = at;
	e = garage_entry(g, &in, &t, &tch);
	flush(g);
	if (e != PK_OK)
		fail_msg("entry %s: %s", plate, pk_err_reason(e));
	return t;
}

static const struct payment *
pay_due(garage *g, struct ticket *t, const char *ref, int64_t at, int want_replay)
{
	struct garage_pay_in in;
	struct garage_quote q;
	const struct payment *p = NULL;
	char rid[UUID_BUFSZ];
	int rep;

	garage_quote(g, t, at, &q);
	tu_id(0x50000 + next_id++, rid);
	memset(&in, 0, sizeof(in));
	in.amount = q.due;
	in.method = "card";
	in.reference = ref;
	in.receipt_id = rid;
	in.at = at;
	assert_int_equal(garage_pay(g, t, &in, &p, &rep, &q, &tch), PK_OK);
	flush(g);
	assert_int_equal(rep, want_replay);
	return p;
}

static void
leave(garage *g, struct ticket *t, const char *gate, int64_t at)
{
	struct garage_quote q;
	pk_err e = garage_exit(g, t,
	    facility_gate_lookup(garage_facility(g), gate), at, &q, &tch);

	flush(g);
	if (e != PK_OK)
		fail_msg("exit %s: %s (due %lld)", t->plate, pk_err_reason(e),
		    (long long)q.due);
}

static void
lose(garage *g, struct ticket *t, int64_t at)
{
	struct garage_quote q;

	assert_int_equal(garage_lost(g, t, at, &q, &tch), PK_OK);
	flush(g);
}

static void
oos_at(garage *g, const char *spot, int in_service, int64_t at)
{
	assert_int_equal(garage_set_spot_service(g, tu_spot(g, spot), in_service,
	    at, &tch), PK_OK);
	flush(g);
}

static void
oos(garage *g, const char *spot, int in_service)
{
	oos_at(g, spot, in_service, TU_T0 + 7);
}

static void
strategy(garage *g, enum alloc_strategy st, int64_t at)
{
	assert_int_equal(garage_set_strategy(g, st, at, &tch), PK_OK);
	flush(g);
}

static void
new_tariff(garage *g, tariff *t, int64_t at)
{
	assert_int_equal(garage_set_tariff(g, t, at, &tch), PK_OK);
	flush(g);
}

#define NEW_TARIFF \
    "{ 'tiers': [ { 'upto_minutes': 1440, 'amount': 1000 } ]," \
    "  'grace_minutes': 5, 'lost_ticket': 100, 'class_multiplier': { 'van': 2 } }"

/* First half of the scripted session. */
static void
script_part1(garage *g)
{
	struct ticket *a1, *m1;

	a1 = enter(g, "north", "A1", "car", NULL, TU_T0);		/* B-01 */
	m1 = enter(g, "north", "M1", "motorcycle", NULL, TU_T0 + 60);	/* */
	enter(g, "north", "V1", "van", NULL, TU_MON_0000 + 8 * HOUR);	/* C-01, peak */
	enter(g, "ramp", "BUS1", "bus", NULL, TU_T0 + 180);		/* C-02 */
	enter(g, "north", "E1", "car", "['ev']", TU_T0 + 200);		/* B-02 */
	pay_due(g, a1, "r-1", TU_T0 + HOUR, 0);
	pay_due(g, a1, "r-1", TU_T0 + HOUR + 30, 1);	/* replay: no record */
	lose(g, m1, TU_T0 + HOUR);
	lose(g, m1, TU_T0 + HOUR + 5);			/* again: no record */
	oos(g, "B-01", 0);				/* occupied: pending */
	oos(g, "A-03", 0);				/* free: at once */
	leave(g, a1, "south", TU_T0 + HOUR + 60);	/* B-01 now out of service */
}

static void
script_part2(garage *g)
{
	struct ticket *v1 = garage_inside(g, "V1");
	struct ticket *bus = garage_inside(g, "BUS1");
	struct ticket *e1 = garage_inside(g, "E1");
	struct ticket *a2;

	assert_non_null(v1);
	assert_non_null(bus);
	assert_non_null(e1);
	strategy(g, ALLOC_FARTHEST, TU_T0 + 2 * HOUR);
	a2 = enter(g, "north", "A2", "car", NULL, TU_T0 + 2 * HOUR);	/* B-04 */
	assert_string_equal(tu_spot_name(g, a2->spots[0]), "B-04");
	new_tariff(g, tu_tariff(NEW_TARIFF), TU_T0 + 2 * HOUR);
	pay_due(g, v1, NULL, TU_T0 + 3 * HOUR, 0);
	leave(g, v1, "ramp", TU_T0 + 3 * HOUR + 60);
	lose(g, bus, TU_T0 + 4 * HOUR);
	pay_due(g, bus, "bus-lost", TU_T0 + 4 * HOUR, 0);
	oos(g, "A-03", 1);
	oos(g, "B-04", 0);				/* A2 is there: pending */
	pay_due(g, e1, "e1", TU_T0 + 5 * HOUR, 0);
	leave(g, e1, "south", TU_T0 + 5 * HOUR + 1);
	/* A new car takes E1's old spot while E1's closed ticket names it. */
	enter(g, "north", "A3", "car", NULL, TU_T0 + 6 * HOUR);	/* B-03 */
	a2 = enter(g, "north", "A4", "car", NULL, TU_T0 + 6 * HOUR);	/* B-02 */
	assert_string_equal(tu_spot_name(g, a2->spots[0]), "B-02");
}

static void
apply_all(garage *g, const struct lines *l)
{
	char err[256];

	for (size_t i = 0; i < l->n; i++) {
		pk_err e = record_apply(g, l->v[i], strlen(l->v[i]),
		    &(struct jerr){ err, sizeof(err), 0 });

		if (e != PK_OK)
			fail_msg("record %zu refused (%s): %s\n%s", i, pk_err_reason(e),
			    err, l->v[i]);
		assert_string_equal(err, "");
	}
}

/* A new garage whose changes go nowhere until record_to says where. */
static garage *
fresh(void)
{
	record_to(NULL, NULL);
	return tu_garage(ALLOC_NEAREST, 10);
}

/* ---- encoding ---- */

static cJSON *
parse_rec(const char *s)
{
	cJSON *o = cJSON_Parse(s);

	assert_non_null(o);
	/* No contact data ever appears in a record. */
	assert_null(strstr(s, "phone"));
	assert_null(strstr(s, "contact"));
	return o;
}

static const char *
str_at(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(v))
		fail_msg("no string '%s'", key);
	return v->valuestring;
}

static double
num_at(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v))
		fail_msg("no number '%s'", key);
	return v->valuedouble;
}

/* Checks the subjects array equals the NULL-terminated list want. */
static void
check_subjects(const cJSON *o, const char *const *want)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "subjects");
	int n = 0;

	assert_true(cJSON_IsArray(s));
	while (want[n] != NULL) {
		const cJSON *it = cJSON_GetArrayItem(s, n);

		assert_true(cJSON_IsString(it));
		assert_string_equal(it->valuestring, want[n]);
		n++;
	}
	if (cJSON_GetArraySize(s) != n) {
		char *txt = cJSON_PrintUnformatted(s);

		fail_msg("subjects %s, want %d of them", txt, n);
	}
}

/* Checks the members of data are exactly the NULL-terminated list keys. */
static void
check_keys(const cJSON *d, const char *const *keys)
{
	const cJSON *m;
	int n = 0, k = 0;

	while (keys[k] != NULL) {
		if (cJSON_GetObjectItemCaseSensitive(d, keys[k]) == NULL)
			fail_msg("missing '%s'", keys[k]);
		k++;
	}
	cJSON_ArrayForEach(m, d)
		n++;
	assert_int_equal(n, k);
}

static cJSON *
envelope(cJSON *o, const char *type, const char *id, const char *ts)
{
	cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");

	assert_string_equal(str_at(o, "type"), type);
	assert_string_equal(str_at(o, "id"), id);
	assert_string_equal(str_at(o, "ts"), ts);
	assert_true(cJSON_IsObject(d));
	{
		static const char *const top[] = { "id", "ts", "type", "subjects",
		    "data", "epoch", NULL };

		check_keys(o, top);
		/* A garage that was never promoted writes in epoch 1. */
		if (strcmp(type, "replication.promoted") != 0)
			assert_true(num_at(o, "epoch") == 1);
	}
	return d;
}

static void
test_encode_each_kind(void **state)
{
	garage *g = fresh();
	struct one one = { NULL, 0 };
	const char *id = "0193aaaa-bbbb-7ccc-8ddd-eeeeffff0000";
	const char *ts = "2026-11-23T10:00:07Z";
	struct ticket *t;
	const struct payment *p;
	cJSON *o, *d, *pj;
	char tsub[64];

	(void)state;
	record_to(NULL, &one);
	next_id = 0x77;

	/* vehicle.entered */
	t = enter(g, "north", "B-XY 1", "car", "['ev']", TU_T0);
	snprintf(tsub, sizeof(tsub), "ticket:%s", t->id);
	o = parse_rec(one.rec);
	d = envelope(o, "vehicle.entered", id, "2026-11-23T10:00:00Z");
	{
		const char *const subj[] = { "vehicle:B-XY 1", tsub, "spot:B-01",
		    "gate:north", NULL };
		const char *const keys[] = { "ticket", "plate", "class", "gate",
		    "entered_at", "spots", "peak_milli", "surge_milli", "needs_mask",
		    "tariff_version", NULL };
		const cJSON *sp = cJSON_GetObjectItemCaseSensitive(d, "spots");

		check_subjects(o, subj);
		check_keys(d, keys);
		assert_string_equal(str_at(d, "ticket"), "00000000-0000-7000-8000-000000000077");
		assert_string_equal(str_at(d, "plate"), "B-XY 1");
		assert_string_equal(str_at(d, "class"), "car");
		assert_string_equal(str_at(d, "gate"), "north");
		assert_string_equal(str_at(d, "entered_at"), "2026-11-23T10:00:00Z");
		assert_int_equal(cJSON_GetArraySize(sp), 1);
		assert_string_equal(cJSON_GetArrayItem(sp, 0)->valuestring, "B-01");
		assert_int_equal(num_at(d, "peak_milli"), 1000);
		assert_int_equal(num_at(d, "surge_milli"), 1000);
		assert_int_equal(num_at(d, "needs_mask"), 1);
	}
	cJSON_Delete(o);

	/* ticket.lost */
	lose(g, t, TU_T0 + HOUR + 1);
	o = parse_rec(one.rec);
	d = envelope(o, "ticket.lost", id, "2026-11-23T11:00:01Z");
	{
		const char *const subj[] = { "vehicle:B-XY 1", tsub, NULL };
		const char *const keys[] = { "ticket", "plate", "lost_at", NULL };

		check_subjects(o, subj);
		check_keys(d, keys);
		assert_string_equal(str_at(d, "ticket"), t->id);
		assert_string_equal(str_at(d, "plate"), "B-XY 1");
		assert_string_equal(str_at(d, "lost_at"), "2026-11-23T11:00:01Z");
	}
	cJSON_Delete(o);

	/* payment.recorded */
	p = pay_due(g, t, "ref-9", TU_T0 + HOUR + 2, 0);
	o = parse_rec(one.rec);
	d = envelope(o, "payment.recorded", id, "2026-11-23T11:00:02Z");
	{
		const char *const subj[] = { "vehicle:B-XY 1", tsub, NULL };
		const char *const keys[] = { "ticket", "plate", "payment", NULL };
		const char *const pkeys[] = { "receipt", "amount", "method",
		    "reference", "at", NULL };

		check_subjects(o, subj);
		check_keys(d, keys);
		assert_string_equal(str_at(d, "ticket"), t->id);
		pj = cJSON_GetObjectItemCaseSensitive(d, "payment");
		check_keys(pj, pkeys);
		assert_string_equal(str_at(pj, "receipt"), p->receipt);
		assert_int_equal(num_at(pj, "amount"), 5000);
		assert_string_equal(str_at(pj, "method"), "card");
		assert_string_equal(str_at(pj, "reference"), "ref-9");
		assert_string_equal(str_at(pj, "at"), "2026-11-23T11:00:02Z");
	}
	cJSON_Delete(o);

	/* vehicle.exited: charged the lost fee */
	leave(g, t, "south", TU_T0 + HOUR + 10);
	o = parse_rec(one.rec);
	d = envelope(o, "vehicle.exited", id, "2026-11-23T11:00:10Z");
	{
		const char *const subj[] = { "vehicle:B-XY 1", tsub, "spot:B-01",
		    "gate:south", NULL };
		const char *const keys[] = { "ticket", "plate", "gate", "exited_at",
		    "duration_s", "charged", NULL };

		check_subjects(o, subj);
		check_keys(d, keys);
		assert_string_equal(str_at(d, "ticket"), t->id);
		assert_string_equal(str_at(d, "plate"), "B-XY 1");
		assert_string_equal(str_at(d, "gate"), "south");
		assert_string_equal(str_at(d, "exited_at"), "2026-11-23T11:00:10Z");
		assert_int_equal(num_at(d, "duration_s"), HOUR + 10);
		assert_int_equal(num_at(d, "charged"), 5000);
	}
	cJSON_Delete(o);

	/* spot.status.changed */
	oos(g, "C-02", 0);
	o = parse_rec(one.rec);
	d = envelope(o, "spot.status.changed", id, ts);
	{
		const char *const subj[] = { "spot:C-02", NULL };
		const char *const keys[] = { "spot", "state", NULL };

		check_subjects(o, subj);
		check_keys(d, keys);
		assert_string_equal(str_at(d, "spot"), "C-02");
		assert_string_equal(str_at(d, "state"), "out_of_service");
	}
	cJSON_Delete(o);
	oos(g, "C-02", 1);
	o = parse_rec(one.rec);
	d = envelope(o, "spot.status.changed", id, ts);
	assert_string_equal(str_at(d, "state"), "in_service");
	cJSON_Delete(o);

	/* strategy.changed */
	strategy(g, ALLOC_FILL, TU_T0 + 7);
	o = parse_rec(one.rec);
	d = envelope(o, "strategy.changed", id, ts);
	{
		const char *const subj[] = { "facility:Test Garage", NULL };
		const char *const keys[] = { "strategy", NULL };

		check_subjects(o, subj);
		check_keys(d, keys);
		assert_string_equal(str_at(d, "strategy"), "fill");
	}
	cJSON_Delete(o);

	/* tariff.changed: the whole tariff as tariff_write writes it */
	new_tariff(g, tu_tariff(NEW_TARIFF), TU_T0 + 7);
	o = parse_rec(one.rec);
	d = envelope(o, "tariff.changed", id, ts);
	{
		const char *const subj[] = { "facility:Test Garage", NULL };
		const char *const keys[] = { "version", "tariff", NULL };
		struct jw want;
		char *got;

		check_subjects(o, subj);
		check_keys(d, keys);
		jw_init(&want);
		tariff_write(garage_tariff(g), &want);
		got = tu_print(cJSON_GetObjectItemCaseSensitive(d, "tariff"));
		assert_string_equal(got, want.buf);
		free(got);
		jw_release(&want);
	}
	cJSON_Delete(o);

	assert_int_equal(one.n, 8);
	free(one.rec);
	garage_free(g);
}

/* A bus on three contiguous spots names each spot as a subject. */
static void
test_encode_multi_spot(void **state)
{
	garage *g = fresh();
	struct one one = { NULL, 0 };
	struct ticket *t;
	cJSON *o;
	char tsub[64];

	(void)state;
	enter(g, "north", "V1", "van", NULL, TU_T0);
	enter(g, "north", "V2", "van", NULL, TU_T0);
	record_to(NULL, &one);
	t = enter(g, "north", "BUS", "bus", NULL, TU_T0);
	snprintf(tsub, sizeof(tsub), "ticket:%s", t->id);
	o = parse_rec(one.rec);
	{
		const char *const subj[] = { "vehicle:BUS", tsub, "spot:B-01",
		    "spot:B-02", "spot:B-03", "gate:north", NULL };
		const cJSON *sp = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(o, "data"), "spots");

		check_subjects(o, subj);
		assert_int_equal(cJSON_GetArraySize(sp), 3);
		assert_string_equal(cJSON_GetArrayItem(sp, 2)->valuestring, "B-03");
	}
	cJSON_Delete(o);
	free(one.rec);
	garage_free(g);
}

/* ---- replay ---- */

static void
test_replay_journal(void **state)
{
	garage *g = fresh(), *r = fresh();
	struct journal j;
	char *want, *got;

	(void)state;
	memset(&j, 0, sizeof(j));
	record_to(&j, NULL);
	next_id = 1;
	script_part1(g);
	script_part2(g);
	/* 8 entries, 4 payments, 2 lost, 3 exits, 4 spots... each change once. */
	assert_int_equal(j.recs.n, 8 + 4 + 2 + 3 + 4 + 1 + 1);
	apply_all(r, &j.recs);
	want = dump(g);
	got = dump(r);
	assert_string_equal(got, want);
	/* A few facts spelled out, so the comparison is not of two empties. */
	assert_non_null(strstr(want, "strategy farthest"));
	assert_int_equal(garage_inside_count(r), 5);
	assert_int_equal(alloc_spot_state(garage_alloc(r), tu_spot(r, "B-01")),
	    ALLOC_SPOT_OUT_OF_SERVICE);
	assert_int_equal(alloc_spot_pending_out_of_service(garage_alloc(r),
	    tu_spot(r, "B-04")), 1);
	assert_int_equal(tariff_lost_fee(garage_tariff(r)), 100);
	assert_non_null(garage_inside(r, "M1"));
	assert_int_equal(garage_inside(r, "M1")->lost, 1);
	assert_int_equal(garage_inside(r, "M1")->lost_at, TU_T0 + HOUR);
	assert_null(garage_inside(r, "V1"));
	/*
	 * The bus is priced by the tariff in force when it entered, not by
	 * the one set later: the old lost-ticket fee, more than its fee.
	 */
	assert_int_equal(garage_inside(r, "BUS1")->paid, 5000);
	assert_int_equal(garage_inside(r, "BUS1")->tariff_version, 1);
	assert_int_equal(garage_inside(r, "A4")->tariff_version, 2);
	assert_int_equal(garage_inside(r, "BUS1")->n_payments, 1);
	free(want);
	free(got);
	lines_free(&j.recs);
	garage_free(g);
	garage_free(r);
}

/* Applying records reports nothing to a sink-less garage and decides nothing. */
static void
test_replay_keeps_recorded_facts(void **state)
{
	garage *g = fresh(), *r;
	struct journal j;
	char err[256];
	struct ticket *t;

	(void)state;
	memset(&j, 0, sizeof(j));
	record_to(&j, NULL);
	next_id = 300;
	t = enter(g, "north", "S1", "car", NULL, TU_MON_0000 + 8 * HOUR);
	assert_int_equal(t->peak_milli, 1500);
	/* Replayed on a garage whose tariff has no peak and another strategy. */
	r = tu_garage_from(TU_FACILITY, TU_VEHICLES, "{}", ALLOC_FARTHEST, 10);
	assert_int_equal(record_apply(r, j.recs.v[0], strlen(j.recs.v[0]),
	    &(struct jerr){ err, sizeof(err), 0 }), PK_OK);
	t = garage_inside(r, "S1");
	assert_non_null(t);
	assert_int_equal(t->peak_milli, 1500);			/* from the record */
	assert_string_equal(tu_spot_name(r, t->spots[0]), "B-01");	/* not B-04 */
	lines_free(&j.recs);
	garage_free(g);
	garage_free(r);
}

/* ---- snapshots ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The largest amount parkd accepts, 2^53 - 1, survives the journal and a
 * snapshot exactly (a printer of doubles would write 9.00719925474099e+15).
 */
static void
test_largest_amount_exact(void **state)
{
	garage *g, *r = fresh(), *r2 = fresh();
	struct journal j;
	struct lines snap;
	struct ticket *t;
	const struct payment *p;
	char *want, *got;
	int64_t at = TU_T0 + (int64_t)1000 * 366 * 86400;	/* a thousand years */

	(void)state;
	g = tu_garage_from(TU_FACILITY, TU_VEHICLES,
	    "{ 'tiers': [ { 'upto_minutes': 1440, 'amount': 1000000000 } ],"
	    "  'daily_max': 1000000000, 'class_multiplier': { 'car': 100 } }",
	    ALLOC_NEAREST, 10);
	memset(&j, 0, sizeof(j));
	memset(&snap, 0, sizeof(snap));
	record_to(&j, NULL);
	t = enter(g, "north", "RICH", "car", NULL, TU_T0);
	p = pay_due(g, t, "max", at, 0);
	assert_int_equal(p->amount, TARIFF_AMOUNT_MAX);
	assert_non_null(strstr(j.recs.v[1], "\"amount\":9007199254740991,"));
	apply_all(r, &j.recs);
	assert_int_equal(garage_ticket(r, t->id)->payments[0].amount, TARIFF_AMOUNT_MAX);
	assert_int_equal(garage_ticket(r, t->id)->paid, TARIFF_AMOUNT_MAX);
	assert_int_equal(record_snapshot(g, snap_collect, &snap), 0);
	apply_all(r2, &snap);
	want = dump(g);
	got = dump(r2);
	assert_string_equal(got, want);
	assert_int_equal(garage_ticket(r2, t->id)->paid, TARIFF_AMOUNT_MAX);
	free(want);
	free(got);
	lines_free(&snap);
	lines_free(&j.recs);
	garage_free(g);
	garage_free(r);
	garage_free(r2);
}

static void
test_snapshot_round_trip(void **state)
{
	garage *g = fresh(), *r = fresh();
	struct journal j;
	struct lines snap, snap2;
	char *want, *got;
	size_t n_ticket = 0, n_spot = 0;

	(void)state;
	memset(&j, 0, sizeof(j));
	memset(&snap, 0, sizeof(snap));
	memset(&snap2, 0, sizeof(snap2));
	record_to(&j, NULL);
	next_id = 1;
	script_part1(g);
	script_part2(g);
	assert_int_equal(record_snapshot(g, snap_collect, &snap), 0);
	/*
	 * strategy, the tariffs (the one tickets inside were priced by, then
	 * the one in force), then tickets, then spots, in that order.
	 */
	assert_non_null(strstr(snap.v[0], "\"snapshot.strategy\""));
	assert_non_null(strstr(snap.v[1], "\"snapshot.tariff\",\"subjects\":[],\"data\":{\"version\":1,"));
	assert_non_null(strstr(snap.v[2], "\"snapshot.tariff\",\"subjects\":[],\"data\":{\"version\":2,"));
	for (size_t i = 3; i < snap.n; i++) {
		if (strstr(snap.v[i], "\"snapshot.ticket\"") != NULL) {
			assert_int_equal(n_spot, 0);
			n_ticket++;
		} else {
			assert_non_null(strstr(snap.v[i], "\"snapshot.spot\""));
			n_spot++;
		}
	}
	assert_int_equal(n_ticket, 3 + 5);	/* 3 closed, 5 inside */
	assert_int_equal(n_spot, 2);		/* B-01 out, B-04 pending */
	apply_all(r, &snap);
	want = dump(g);
	got = dump(r);
	assert_string_equal(got, want);
	/* The rebuilt garage snapshots to the same records (in some order). */
	assert_int_equal(record_snapshot(r, snap_collect, &snap2), 0);
	assert_int_equal(snap2.n, snap.n);
	qsort(snap.v, snap.n, sizeof(char *), cmp_str);
	qsort(snap2.v, snap2.n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < snap.n; i++)
		assert_string_equal(snap2.v[i], snap.v[i]);
	free(want);
	free(got);
	lines_free(&snap);
	lines_free(&snap2);
	lines_free(&j.recs);
	garage_free(g);
	garage_free(r);
}

/* The subjects array of a record holds s. */
static int
has_subject(const cJSON *o, const char *s)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(o, "subjects"))
		if (cJSON_IsString(v) && strcmp(v->valuestring, s) == 0)
			return 1;
	return 0;
}

/* The last record of j parses, names the ticket id and plate as given. */
static void
check_names(const struct journal *j, const char *type, const char *id,
    const char *plate)
{
	cJSON *o = parse_rec(j->recs.v[j->recs.n - 1]);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");
	char subject[64];

	assert_string_equal(str_at(o, "type"), type);
	assert_string_equal(str_at(d, "ticket"), id);
	assert_string_equal(str_at(d, "plate"), plate);
	snprintf(subject, sizeof subject, "ticket:%s", id);
	assert_true(has_subject(o, subject));
	snprintf(subject, sizeof subject, "vehicle:%s", plate);
	assert_true(has_subject(o, subject));
	cJSON_Delete(o);
}

/*
 * A ticket's id and plate are checked for escaping once, when the ticket
 * is made (an entry, a record applied, a snapshot restored), and written
 * from then on as that found.  Ids and plates that need escaping (the
 * protocol's never do, a record can carry anything) come out escaped in
 * every record, after each way in.
 */
static void
test_names_escaped_however_made(void **state)
{
	/* garage_entry copies a whole id buffer (UUID_BUFSZ). */
	static const char id[UUID_BUFSZ] = "q\"x\\y";
	static const char plate[] = "P\"1";
	garage *g = fresh(), *r = fresh(), *s = fresh();
	const facility *f = garage_facility(g);
	struct garage_entry_in in;
	struct journal j, jr, js;
	struct lines snap;
	struct ticket *t = NULL;

	(void)state;
	memset(&j, 0, sizeof(j));
	memset(&jr, 0, sizeof(jr));
	memset(&js, 0, sizeof(js));
	memset(&snap, 0, sizeof(snap));
	record_to(&j, NULL);
	memset(&in, 0, sizeof(in));
	in.gate = facility_gate_lookup(f, "north");
	in.plate = plate;
	in.cls = facility_class_lookup(f, "car");
	in.ticket_id = id;
	in.at = TU_T0;
	assert_int_equal(garage_entry(g, &in, &t, &tch), PK_OK);
	flush(g);
	assert_false(t->id_plain);
	assert_false(t->plate_plain);
	check_names(&j, "vehicle.entered", id, plate);

	/* Applied from the record: exits write the names escaped again. */
	record_to(NULL, NULL);
	apply_all(r, &j.recs);
	record_to(&jr, NULL);
	leave(r, garage_inside(r, plate), "south", TU_T0 + 10 * MIN);
	check_names(&jr, "vehicle.exited", id, plate);

	/* Restored from a snapshot: the same. */
	assert_int_equal(record_snapshot(g, snap_collect, &snap), 0);
	record_to(NULL, NULL);
	apply_all(s, &snap);
	record_to(&js, NULL);
	leave(s, garage_inside(s, plate), "south", TU_T0 + 10 * MIN);
	check_names(&js, "vehicle.exited", id, plate);

	/* And plain ones are found plain (written as they are). */
	record_to(&j, NULL);
	t = enter(g, "north", "B-XY 1", "car", NULL, TU_T0);
	assert_true(t->id_plain);
	assert_true(t->plate_plain);
	assert_int_equal(t->id_len, UUID_STRLEN);
	assert_int_equal(t->plate_len, 6);
	check_names(&j, "vehicle.entered", t->id, "B-XY 1");

	lines_free(&snap);
	lines_free(&j.recs);
	lines_free(&jr.recs);
	lines_free(&js.recs);
	garage_free(g);
	garage_free(r);
	garage_free(s);
}

/* Recovery: a snapshot taken midway, then the journal written after it. */
static void
test_snapshot_then_journal(void **state)
{
	garage *g = fresh(), *r = fresh();
	struct journal j;
	struct lines snap;
	char *want, *got;

	(void)state;
	memset(&j, 0, sizeof(j));
	memset(&snap, 0, sizeof(snap));
	next_id = 1;
	script_part1(g);
	assert_int_equal(record_snapshot(g, snap_collect, &snap), 0);
	record_to(&j, NULL);
	script_part2(g);
	apply_all(r, &snap);
	apply_all(r, &j.recs);
	want = dump(g);
	got = dump(r);
	assert_string_equal(got, want);
	free(want);
	free(got);
	lines_free(&snap);
	lines_free(&j.recs);
	garage_free(g);
	garage_free(r);
}

static int
snap_stop(void *ud, const char *json, size_t len)
{
	int *calls = ud;

	(void)json;
	(void)len;
	return ++*calls == 3 ? 42 : 0;
}

static void
test_snapshot_callback_stops(void **state)
{
	garage *g = fresh();
	int calls = 0;

	(void)state;
	next_id = 1;
	record_to(NULL, NULL);
	script_part1(g);
	assert_int_equal(record_snapshot(g, snap_stop, &calls), 42);
	assert_int_equal(calls, 3);
	garage_free(g);
}

/* ---- epochs ---- */

/* Promotes g as if its journal ended at last; the record goes to the sinks. */
static void
promote(garage *g, uint64_t last, int64_t at)
{
	assert_int_equal(garage_promote(g, last + 1, at, &tch), PK_OK);
	flush(g);
}

/*
 * A promotion is a record of its own; every record after it carries the
 * new epoch, and replay and snapshots bring the history back.
 */
static void
test_promotion(void **state)
{
	garage *g = fresh(), *r = fresh(), *r2 = fresh();
	struct journal j;
	struct one one = { NULL, 0 };
	struct lines snap;
	char *want, *got;
	cJSON *o, *d;
	struct ticket *t;

	(void)state;
	memset(&j, 0, sizeof(j));
	memset(&snap, 0, sizeof(snap));
	record_to(NULL, &one);
	next_id = 1;
	t = enter(g, "north", "E1", "car", NULL, TU_T0);
	assert_int_equal(record_peek_epoch(one.rec, strlen(one.rec)), 1);
	promote(g, 41, TU_T0 + 5);
	assert_int_equal(garage_epoch(g), 2);
	o = parse_rec(one.rec);
	d = envelope(o, "replication.promoted", "0193aaaa-bbbb-7ccc-8ddd-eeeeffff0000",
	    "2026-11-23T10:00:05Z");
	{
		const char *const subj[] = { "facility:Test Garage", NULL };
		const char *const keys[] = { "epoch", "lsn", NULL };

		check_subjects(o, subj);
		check_keys(d, keys);
		assert_true(num_at(d, "epoch") == 2);
		assert_true(num_at(d, "lsn") == 42);
		assert_true(num_at(o, "epoch") == 2);
	}
	cJSON_Delete(o);
	assert_int_equal(record_peek_epoch(one.rec, strlen(one.rec)), 2);
	leave(g, t, "south", TU_T0 + 60);
	assert_int_equal(record_peek_epoch(one.rec, strlen(one.rec)), 2);
	/* Not past the current start: refused, nothing appended. */
	assert_int_equal(garage_promote(g, 42, TU_T0, &tch), PK_E_INVALID_PARAMS);
	assert_int_equal(tch.n, 0);
	free(one.rec);

	/* Replay: the journal of it all gives the same history. */
	garage_free(g);
	g = fresh();
	record_to(&j, NULL);
	next_id = 1;
	script_part1(g);
	promote(g, 30, TU_T0 + 5);
	script_part2(g);
	promote(g, 60, TU_T0 + 6);
	apply_all(r, &j.recs);
	want = dump(g);
	got = dump(r);
	assert_string_equal(got, want);
	assert_non_null(strstr(want, "epoch 3 from 61\n"));
	free(got);
	/* And so does a snapshot of it. */
	assert_int_equal(record_snapshot(g, snap_collect, &snap), 0);
	assert_non_null(strstr(snap.v[1], "\"snapshot.epoch\",\"subjects\":[],\"data\":{\"epoch\":2,\"lsn\":31}"));
	assert_null(strstr(snap.v[1], "},\"epoch\""));
	apply_all(r2, &snap);
	got = dump(r2);
	assert_string_equal(got, want);
	free(want);
	free(got);
	lines_free(&snap);
	lines_free(&j.recs);
	garage_free(g);
	garage_free(r);
	garage_free(r2);
}

/* The epoch at the end of a record, read without a parser. */
static void
test_peek_epoch(void **state)
{
	static const struct {
		const char *rec;
		uint32_t epoch;
	} cases[] = {
		{ "{'id':'a','data':{},'epoch':7}", 7 },
		{ "{'id':'a','data':{'epoch':9},'epoch':12}", 12 },
		{ "{'id':'a','data':{},'epoch':4294967295}", 4294967295u },
		/* Written before epochs, or not in record_write's shape: 1. */
		{ "{'id':'a','data':{}}", 1 },
		{ "{'id':'a','data':{'epoch':9}}", 1 },
		{ "{'id':'a','data':{},'epoch':4294967296}", 1 },
		{ "{'id':'a','data':{},'epoch':0}", 1 },
		{ "{'id':'a','data':{},'epoch':}", 1 },
		{ "{'id':'a','data':{},'epoch':3", 1 },
		{ "{'id':'a','data':{},'epoch':-3}", 1 },
		{ "'epoch':3}", 1 },
		{ "}", 1 },
		{ "", 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = tu_quote(cases[i].rec);

		if (record_peek_epoch(s, strlen(s)) != cases[i].epoch)
			fail_msg("%s: %u, want %u", s, record_peek_epoch(s, strlen(s)),
			    cases[i].epoch);
		free(s);
	}
}

/* ---- bad records ---- */

/* Applies text (' for ") to g; expects refusal e with err containing msg. */
static void
expect_refused(garage *g, const char *text, pk_err want, const char *msg)
{
	char *s = tu_quote(text);
	char err[256];
	char *before = dump(g), *after;
	pk_err e;

	memset(err, 'x', sizeof(err));
	e = record_apply(g, s, strlen(s),
	    &(struct jerr){ err, sizeof(err), 0 });
	if (e != want)
		fail_msg("%s: got %s, want %s (%s)", s, pk_err_reason(e),
		    pk_err_reason(want), err);
	if (strstr(err, msg) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", s, err, msg);
	/* A refused record changes nothing. */
	after = dump(g);
	assert_string_equal(after, before);
	free(before);
	free(after);
	free(s);
}

#define ENTRY(id, plate, spot) \
    "{'type':'vehicle.entered','data':{'ticket':'" id "','plate':'" plate "'," \
    "'class':'car','gate':'north','entered_at':'2026-11-23T10:00:00Z'," \
    "'spots':['" spot "'],'peak_milli':1000,'surge_milli':1000,'needs_mask':0}}"

#define TID1 "00000000-0000-7000-8000-0000000000a1"
#define TID2 "00000000-0000-7000-8000-0000000000a2"

static void
test_bad_records(void **state)
{
	garage *g = fresh();
	char err[256];
	char *s;

	(void)state;
	s = tu_quote(ENTRY(TID1, "OK1", "B-02"));
	assert_int_equal(record_apply(g, s, strlen(s),
	    &(struct jerr){ err, sizeof(err), 0 }), PK_OK);
	assert_string_equal(err, "");
	free(s);

	expect_refused(g, "not json", PK_E_PARSE, "record: line 1, column 1: ");
	expect_refused(g, "{'type':'strategy.changed','data':{'strategy':'first','strategy':'fill'}}",
	    PK_E_PARSE, "record.data.strategy: duplicate key");
	expect_refused(g, "{'type':'vehicle.entered'}", PK_E_INVALID_PARAMS,
	    "data: is required");
	expect_refused(g, "{'data':{}}", PK_E_INVALID_PARAMS, "type: is required");
	expect_refused(g, "{'type':'vehicle.teleported','data':{}}",
	    PK_E_INVALID_PARAMS, "unknown record type 'vehicle.teleported'");
	expect_refused(g, ENTRY(TID2, "NEW", "Z-99"), PK_E_INVALID_PARAMS,
	    "data.spots[0]: unknown spot Z-99");
	/* Duplicate ticket (same id, other plate and spot). */
	expect_refused(g, ENTRY(TID1, "NEW", "B-03"), PK_E_INVALID_PARAMS,
	    "does not fit the state");
	/* Spot already taken by another ticket. */
	expect_refused(g, ENTRY(TID2, "NEW", "B-02"), PK_E_INVALID_PARAMS,
	    "does not fit the state");
	/* Plate already inside. */
	expect_refused(g, ENTRY(TID2, "OK1", "B-03"), PK_E_INVALID_PARAMS,
	    "does not fit the state");
	expect_refused(g,
	    "{'type':'vehicle.entered','data':{'ticket':'" TID2 "','plate':'N',"
	    "'class':'car','gate':'nowhere','entered_at':'2026-11-23T10:00:00Z',"
	    "'spots':['B-03'],'peak_milli':1000,'surge_milli':1000,'needs_mask':0}}",
	    PK_E_INVALID_PARAMS, "data.gate: unknown gate 'nowhere'");
	expect_refused(g,
	    "{'type':'vehicle.entered','data':{'ticket':'" TID2 "','plate':'N',"
	    "'class':'car','gate':'north','entered_at':'yesterday',"
	    "'spots':['B-03'],'peak_milli':1000,'surge_milli':1000,'needs_mask':0}}",
	    PK_E_INVALID_PARAMS, "data.entered_at: must be an RFC 3339 time");
	expect_refused(g,
	    "{'type':'vehicle.entered','data':{'ticket':'" TID2 "','plate':'N',"
	    "'class':'car','gate':'north','entered_at':'2026-11-23T10:00:00Z',"
	    "'spots':['B-03'],'surge_milli':1000,'needs_mask':0}}",
	    PK_E_INVALID_PARAMS, "data.peak_milli: is required");
	expect_refused(g,
	    "{'type':'spot.status.changed','data':{'spot':'Q-1','state':'out_of_service'}}",
	    PK_E_INVALID_PARAMS, "unknown spot Q-1");
	expect_refused(g,
	    "{'type':'ticket.lost','data':{'ticket':'" TID2 "','lost_at':'2026-11-23T10:00:00Z'}}",
	    PK_E_INVALID_PARAMS, "unknown ticket " TID2);
	expect_refused(g,
	    "{'type':'payment.recorded','data':{'ticket':'" TID2 "','payment':{}}}",
	    PK_E_INVALID_PARAMS, "unknown ticket " TID2);
	expect_refused(g,
	    "{'type':'payment.recorded','data':{'ticket':'" TID1 "'}}",
	    PK_E_INVALID_PARAMS, "data.payment: is required");
	expect_refused(g,
	    "{'type':'payment.recorded','data':{'ticket':'" TID1 "','payment':{}}}",
	    PK_E_INVALID_PARAMS, "data.payment.receipt: is required");
	expect_refused(g,
	    "{'type':'vehicle.exited','data':{'ticket':'" TID2 "','gate':'south',"
	    "'exited_at':'2026-11-23T11:00:00Z'}}",
	    PK_E_INVALID_PARAMS, "unknown ticket " TID2);
	expect_refused(g, "{'type':'replication.promoted','data':{'epoch':-1,'lsn':5}}",
	    PK_E_INVALID_PARAMS, "data.epoch: must be between 0 and 4294967295");
	expect_refused(g, "{'type':'replication.promoted','data':{'epoch':1,'lsn':5}}",
	    PK_E_INVALID_PARAMS, "data.epoch: epoch 1 from LSN 5 does not follow epoch 1 from LSN 1");
	expect_refused(g, "{'type':'replication.promoted','data':{'epoch':2}}",
	    PK_E_INVALID_PARAMS, "data.lsn: is required");
	s = tu_quote("{'type':'replication.promoted','data':{'epoch':3,'lsn':10}}");
	assert_int_equal(record_apply(g, s, strlen(s),
	    &(struct jerr){ err, sizeof(err), 0 }), PK_OK);
	free(s);
	expect_refused(g, "{'type':'snapshot.epoch','data':{'epoch':3,'lsn':11}}",
	    PK_E_INVALID_PARAMS, "data.epoch: epoch 3 from LSN 11 does not follow epoch 3 from LSN 10");
	expect_refused(g, "{'type':'replication.promoted','data':{'epoch':4,'lsn':10}}",
	    PK_E_INVALID_PARAMS, "does not follow");
	expect_refused(g, "{'type':'strategy.changed','data':{'strategy':'random'}}",
	    PK_E_INVALID_PARAMS, "data.strategy: must be nearest, farthest, first or fill");
	expect_refused(g, "{'type':'tariff.changed','data':{'tariff':{" TU_MIN_TARIFF_KEYS ",'lost_ticket':-1}}}",
	    PK_E_INVALID_PARAMS, "tariff.lost_ticket");
	expect_refused(g, "{'type':'snapshot.tariff','data':{}}",
	    PK_E_INVALID_PARAMS, "tariff");

	/* Exiting twice: the second is refused. */
	s = tu_quote("{'type':'vehicle.exited','data':{'ticket':'" TID1 "','gate':'south',"
	    "'exited_at':'2026-11-23T11:00:00Z','duration_s':3600,'charged':0}}");
	assert_int_equal(record_apply(g, s, strlen(s),
	    &(struct jerr){ err, sizeof(err), 0 }), PK_OK);
	assert_int_equal(garage_ticket(g, TID1)->state, TICKET_EXITED);
	assert_int_equal(garage_ticket(g, TID1)->exited_at, TU_T0 + HOUR);
	expect_refused(g,
	    "{'type':'vehicle.exited','data':{'ticket':'" TID1 "','gate':'south',"
	    "'exited_at':'2026-11-23T11:00:00Z','duration_s':3600,'charged':0}}",
	    PK_E_INVALID_PARAMS, "is not inside");
	free(s);

	/* The length is honoured: a record followed by garbage in the buffer. */
	s = tu_quote("{'type':'strategy.changed','data':{'strategy':'first'}}XXXX");
	assert_int_equal(record_apply(g, s, strlen(s) - 4,
	    &(struct jerr){ err, sizeof(err), 0 }), PK_OK);
	assert_int_equal(garage_strategy(g), ALLOC_FIRST);
	free(s);
	garage_free(g);
}


/* record_peek reads what record_encode wrote, escapes included. */
static void
test_peek(void **state)
{
	const char *id, *subj[8];
	char buf[256];
	size_t used;
	int n;
	static const char rec[] =
	    "{\"id\":\"01a2\",\"ts\":\"2026-11-22T08:00:00Z\",\"type\":\"vehicle.entered\","
	    "\"subjects\":[\"vehicle:B-XY 123\",\"facility:Q\\\"x\\\\y\\u00e9\\ud83d\\ude97\"],"
	    "\"data\":{\"subjects\":[\"nope\"]}}";

	(void)state;
	n = record_peek(rec, strlen(rec), buf, sizeof(buf), &used, &id, subj, 8);
	assert_int_equal(n, 2);
	assert_string_equal(id, "01a2");
	assert_string_equal(subj[0], "vehicle:B-XY 123");
	assert_string_equal(subj[1], "facility:Q\"x\\y\xc3\xa9\xf0\x9f\x9a\x97");
	assert_true(used <= sizeof(buf));
	/* No subjects at all. */
	n = record_peek("{\"id\":\"a\",\"subjects\":[]}", 26, buf, sizeof(buf), &used,
	    &id, subj, 8);
	assert_int_equal(n, 0);
	/* Not the shape: no id first, unterminated, too many, lone surrogate, NUL escape, small buffer. */
	assert_int_equal(record_peek("{\"ts\":\"a\"}", 10, buf, sizeof(buf), &used, &id, subj, 8), -1);
	assert_int_equal(record_peek("{\"id\":\"a\",\"subjects\":[\"x\"", 24, buf, sizeof(buf), &used, &id, subj, 8), -1);
	assert_int_equal(record_peek("{\"id\":\"a\",\"subjects\":[\"x\",\"y\"]}", 31, buf, sizeof(buf), &used, &id, subj, 1), -1);
	assert_int_equal(record_peek("{\"id\":\"\\ud800\",\"subjects\":[]}", 31, buf, sizeof(buf), &used, &id, subj, 8), -1);
	assert_int_equal(record_peek("{\"id\":\"\\u0000\",\"subjects\":[]}", 31, buf, sizeof(buf), &used, &id, subj, 8), -1);
	assert_int_equal(record_peek(rec, strlen(rec), buf, 8, &used, &id, subj, 8), -1);
}

/*
 * The registry's events: the plate only (never the contact), and replay
 * takes them without touching the garage (the contact store rebuilds the
 * registry).
 */
static void
test_registry_events(void **state)
{
	static const char *const want[] = {
		"{\"id\":\"E\",\"ts\":\"2026-11-23T10:00:00Z\",\"type\":\"vehicle.registered\","
		"\"subjects\":[\"vehicle:AB 1\"],\"data\":{\"plate\":\"AB 1\"},\"epoch\":1}",
		"{\"id\":\"E\",\"ts\":\"2026-11-23T10:00:00Z\",\"type\":\"vehicle.updated\","
		"\"subjects\":[\"vehicle:AB 1\"],\"data\":{\"plate\":\"AB 1\"},\"epoch\":1}",
		"{\"id\":\"E\",\"ts\":\"2026-11-23T10:00:00Z\",\"type\":\"registry.retention.changed\","
		"\"subjects\":[\"facility:Test Garage\"],\"data\":{\"hours\":0},\"epoch\":1}",
		"{\"id\":\"E\",\"ts\":\"2026-11-23T10:00:00Z\",\"type\":\"vehicle.expired\","
		"\"subjects\":[\"vehicle:AB 1\"],\"data\":{\"plate\":\"AB 1\"},\"epoch\":1}",
		"{\"id\":\"E\",\"ts\":\"2026-11-23T10:00:00Z\",\"type\":\"vehicle.registered\","
		"\"subjects\":[\"vehicle:CD 2\"],\"data\":{\"plate\":\"CD 2\"},\"epoch\":1}",
		"{\"id\":\"E\",\"ts\":\"2026-11-23T10:00:00Z\",\"type\":\"vehicle.deleted\","
		"\"subjects\":[\"vehicle:CD 2\"],\"data\":{\"plate\":\"CD 2\"},\"epoch\":1}",
		"{\"id\":\"E\",\"ts\":\"2026-11-23T10:00:00Z\",\"type\":\"registry.purged\","
		"\"subjects\":[\"facility:Test Garage\"],\"data\":{\"deleted\":0},\"epoch\":1}",
	};
	const int64_t t0 = 1795428000;
	garage *g = fresh();
	registry *r = registry_new(24);
	struct changes ch;
	struct jw w;
	char *before = dump(g), *after;
	char err[256];
	size_t k = 0;

	(void)state;
	changes_init(&ch);
	jw_init(&w);
	assert_int_equal(regops_register(r, "AB 1", "Secret Name", 11,
	    "+49 170 5550123", 15, t0, 0, NULL, &ch), PK_OK);
	assert_int_equal(regops_register(r, "AB 1", "Secret Other", 12,
	    "+49 170 5550124", 15, t0, 0, NULL, &ch), PK_OK);
	assert_int_equal(regops_set_retention(r, 0, t0, &ch), PK_OK);
	assert_int_equal(regops_expire(r, t0, 10, &ch), 1);
	assert_int_equal(regops_register(r, "CD 2", "Secret Name", 11,
	    "+49 170 5550123", 15, t0, 1, NULL, &ch), PK_OK);
	assert_int_equal(regops_delete(r, "CD 2", t0, &ch), PK_OK);
	assert_int_equal(regops_purge(r, t0, &ch), PK_OK);
	assert_int_equal(ch.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < ch.n; i++) {
		jw_reset(&w);
		record_write(g, &ch.v[i], "E", &w);
		assert_false(jw_failed(&w));
		assert_string_equal(w.buf, want[k++]);
		assert_null(strstr(w.buf, "Secret"));
		assert_null(strstr(w.buf, "5550123"));
		assert_int_equal(record_apply(g, w.buf, w.len,
		    &(struct jerr){ err, sizeof(err), 0 }), PK_OK);
	}
	after = dump(g);
	assert_string_equal(after, before);
	free(before);
	free(after);
	jw_release(&w);
	changes_release(&ch);
	registry_free(r);
	garage_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_each_kind),
		cmocka_unit_test(test_encode_multi_spot),
		cmocka_unit_test(test_replay_journal),
		cmocka_unit_test(test_replay_keeps_recorded_facts),
		cmocka_unit_test(test_largest_amount_exact),
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(test_names_escaped_however_made),
		cmocka_unit_test(test_snapshot_then_journal),
		cmocka_unit_test(test_snapshot_callback_stops),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_peek),
		cmocka_unit_test(test_promotion),
		cmocka_unit_test(test_peek_epoch),
		cmocka_unit_test(test_registry_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
