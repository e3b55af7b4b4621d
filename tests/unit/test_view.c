/*
 * test_view.c - unit tests of the JSON views, chiefly the layout a map is
 * drawn from: its members, the state codes, paging that tiles the
 * facility exactly, the byte budget, and the `layout` method in a session.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"
#include "testutil.h"
#include "view.h"

#define NOW TU_T0

/* ---- helpers ---- */

static struct changes chg;

static struct ticket *
enter(garage *g, const char *plate, const char *cls, unsigned id)
{
	const facility *f = garage_facility(g);
	char tid[UUID_BUFSZ];
	struct garage_entry_in in;
	struct ticket *t = NULL;

	tu_id(id, tid);
	memset(&in, 0, sizeof(in));
	in.gate = facility_gate_lookup(f, "north");
	in.plate = plate;
	in.cls = facility_class_lookup(f, cls);
	in.ticket_id = tid;
	in.at = NOW + id;
	assert_int_equal(garage_entry(g, &in, &t, &chg), PK_OK);
	changes_clear(&chg);
	return t;
}

static void
leave(garage *g, struct ticket *t)
{
	struct garage_quote q;
	const facility *f = garage_facility(g);

	/* Within the free minutes: nothing is due. */
	assert_int_equal(garage_exit(g, t, facility_gate_lookup(f, "south"),
	    t->entered_at + 60, &q, &chg), PK_OK);
	changes_clear(&chg);
}

static void
service(garage *g, const char *spot, int in_service)
{
	assert_int_equal(garage_set_spot_service(g, tu_spot(g, spot), in_service,
	    NOW, &chg), PK_OK);
	changes_clear(&chg);
}

/* One layout page as text (the caller frees it); *e gets the result. */
static char *
layout_text(const garage *g, uint32_t from, uint32_t limit, size_t budget,
    pk_err *e, size_t *len)
{
	struct jw w;

	jw_init(&w);
	*e = view_layout(&w, g, from, limit, budget, 1);
	if (*e != PK_OK) {
		jw_release(&w);
		return NULL;
	}
	return jw_take(&w, len);
}

/* One layout page, parsed; fails the test on an error. */
static cJSON *
layout(const garage *g, uint32_t from, uint32_t limit, size_t budget,
    size_t *len)
{
	pk_err e;
	size_t n = 0;
	char *s = layout_text(g, from, limit, budget, &e, &n);
	cJSON *j;

	if (e != PK_OK)
		fail_msg("view_layout from %u: %s", from, pk_err_reason(e));
	assert_non_null(s);
	assert_int_equal(strlen(s), n);
	j = cJSON_Parse(s);
	if (j == NULL)
		fail_msg("layout is not JSON: %.200s", s);
	free(s);
	if (len != NULL)
		*len = n;
	return j;
}

static const cJSON *
member(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (v == NULL)
		fail_msg("no member %s", key);
	return v;
}

static double
num(const cJSON *o, const char *key)
{
	const cJSON *v = member(o, key);

	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static const char *
str(const cJSON *o, const char *key)
{
	const cJSON *v = member(o, key);

	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

/* The facility as a JSON tree (written with ' for ") for a garage. */
static garage *
garage_of(const char *fac, const char *veh)
{
	return tu_garage_from(fac, veh, TU_TARIFF, ALLOC_NEAREST, 100);
}

/*
 * A facility of nrows rows of rowlen regular spots each (zones Z0, Z1,
 * ...), with ntags tags on every row; class car fits them.
 */
static garage *
big_garage(unsigned nrows, unsigned rowlen, unsigned ntags)
{
	cJSON *f = cJSON_CreateObject(), *rows = cJSON_CreateArray();
	cJSON *gates = tu_json("[ { 'id': 'north', 'role': 'entry', 'level': 0, 'x': 0, 'y': 0 },"
	    "{ 'id': 'south', 'role': 'exit', 'level': 0, 'x': 0, 'y': 0 } ]");
	cJSON *veh = tu_json("{ 'car': { 'fits': ['regular'] } }");
	char name[32], err[256] = "";
	facility *fac;
	garage *g;

	cJSON_AddStringToObject(f, "name", "Big");
	cJSON_AddStringToObject(f, "timezone", "UTC");
	cJSON_AddStringToObject(f, "currency", "EUR");
	cJSON_AddItemToObject(f, "gates", gates);
	for (unsigned r = 0; r < nrows; r++) {
		cJSON *row = cJSON_CreateObject(), *tags = cJSON_CreateArray();

		cJSON_AddNumberToObject(row, "level", r % 3);
		snprintf(name, sizeof(name), "Z%u", r);
		cJSON_AddStringToObject(row, "zone", name);
		cJSON_AddStringToObject(row, "type", "regular");
		cJSON_AddNumberToObject(row, "count", rowlen);
		cJSON_AddNumberToObject(row, "x", 0);
		cJSON_AddNumberToObject(row, "y", 6.0 * r);
		cJSON_AddNumberToObject(row, "dx", 2.5);
		cJSON_AddNumberToObject(row, "dy", 0);
		for (unsigned t = 0; t < ntags; t++) {
			snprintf(name, sizeof(name), "tag-with-a-long-name-%02u", t);
			cJSON_AddItemToArray(tags, cJSON_CreateString(name));
		}
		cJSON_AddItemToObject(row, "tags", tags);
		cJSON_AddItemToArray(rows, row);
	}
	cJSON_AddItemToObject(f, "rows", rows);
	fac = facility_from_json(f, veh, &(struct jerr){ err, sizeof(err), 0 });
	cJSON_Delete(f);
	cJSON_Delete(veh);
	if (fac == NULL)
		fail_msg("facility: %s", err);
	g = garage_new(fac, tu_tariff(TU_TARIFF), NULL, NULL, ALLOC_FIRST, 10);
	assert_non_null(g);
	return g;
}

/* Fills every spot of g with a car (plates P0000001, ...). */
static void
fill(garage *g)
{
	char plate[PLATE_BUFSZ];
	uint32_t n = facility_spot_count(garage_facility(g));

	for (uint32_t i = 0; i < n; i++) {
		snprintf(plate, sizeof(plate), "P%07u", i + 1);
		enter(g, plate, "car", i + 1);
	}
}

/* ---- the members ---- */

static void
test_layout_of_the_test_garage(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	pk_err e;
	char *s = layout_text(g, 0, 100, VIEW_LAYOUT_MAX_BYTES, &e, NULL);
	char *want = tu_quote("{'facility':'Test Garage','timezone':'UTC','spots':9,"
	    "'levels':[0,1],'gates':["
	    "{'id':'north','role':'entry','level':0,'x':0,'y':0},"
	    "{'id':'south','role':'exit','level':0,'x':100,'y':0},"
	    "{'id':'ramp','role':'both','level':1,'x':100,'y':0}],'rows':["
	    "{'start':0,'count':3,'level':0,'zone':'A','first':1,'type':'compact','tags':[],'x':10,'y':0,'dx':10,'dy':0},"
	    "{'start':3,'count':4,'level':0,'zone':'B','first':1,'type':'regular','tags':['ev'],'x':10,'y':10,'dx':10,'dy':0},"
	    "{'start':7,'count':2,'level':1,'zone':'C','first':1,'type':'oversized','tags':[],'x':10,'y':0,'dx':10,'dy':0}],"
	    "'from':0,'count':9,'next':null,'state':'FFFFFFFFF','occupants':[]}");

	(void)state;
	assert_int_equal(e, PK_OK);
	assert_string_equal(s, want);
	free(s);
	free(want);
	garage_free(g);
}

/* What the page computes from a row (id and position) is the facility's. */
static void
test_row_ids_and_positions_are_the_spots(void **state)
{
	garage *g = garage_of("{ 'name': 'N', 'gates': ["
	    "{ 'id': 'north', 'role': 'both', 'level': 2, 'x': 1.25, 'y': -3 }],"
	    "'rows': ["
	    "{ 'level': 2, 'zone': 'Q', 'type': 'regular', 'count': 5, 'first': 97, 'x': 1.5, 'y': 2, 'dx': 0.25, 'dy': -1.5 },"
	    "{ 'level': -1, 'zone': 'R', 'type': 'compact', 'count': 1, 'x': 0, 'y': 0, 'dx': 0, 'dy': 0 },"
	    "{ 'level': 2, 'zone': 'Q', 'type': 'regular', 'count': 3, 'first': 3, 'x': 9, 'y': 9, 'dx': 3, 'dy': 0 } ] }",
	    "{ 'car': { 'fits': ['regular', 'compact'] } }");
	const facility *f = garage_facility(g);
	cJSON *j = layout(g, 0, 100, VIEW_LAYOUT_MAX_BYTES, NULL);
	const cJSON *row, *gate = cJSON_GetArrayItem(member(j, "gates"), 0);
	uint32_t seen = 0;

	(void)state;
	assert_int_equal(num(gate, "x") * 1000, 1250);
	assert_int_equal(num(gate, "y"), -3);
	assert_string_equal(str(gate, "role"), "both");
	assert_int_equal(cJSON_GetArraySize(member(j, "levels")), 2);
	assert_int_equal(cJSON_GetArrayItem(member(j, "levels"), 0)->valuedouble, -1);
	assert_int_equal(cJSON_GetArrayItem(member(j, "levels"), 1)->valuedouble, 2);
	cJSON_ArrayForEach(row, member(j, "rows")) {
		uint32_t start = (uint32_t)num(row, "start");

		assert_int_equal(start, seen);
		for (uint32_t i = 0; i < (uint32_t)num(row, "count"); i++) {
			char id[64], name[48];
			int64_t x, y;

			snprintf(id, sizeof(id), "%s-%02u", str(row, "zone"),
			    (unsigned)num(row, "first") + i);
			facility_spot_name(f, start + i, name);
			assert_string_equal(id, name);
			facility_spot_xy_milli(f, start + i, &x, &y);
			assert_int_equal(llround((num(row, "x") + i * num(row, "dx")) * 1000), x);
			assert_int_equal(llround((num(row, "y") + i * num(row, "dy")) * 1000), y);
			assert_int_equal(num(row, "level"), facility_spot_level(f, start + i));
			assert_string_equal(str(row, "type"), facility_spot_type(f, start + i));
		}
		seen += (uint32_t)num(row, "count");
	}
	assert_int_equal(seen, 9);
	cJSON_Delete(j);
	garage_free(g);
}

/* ---- states and occupants ---- */

static void
test_spot_codes(void **state)
{
	facility *f = tu_facility(TU_FACILITY, TU_VEHICLES);
	alloc *a = alloc_new(f);
	uint32_t s0 = 0, s1 = 1, s2 = 2, s3 = 3;

	(void)state;
	assert_non_null(a);
	assert_int_equal(view_spot_code(a, s0), 'F');
	alloc_take(a, &s0, 1);
	assert_int_equal(view_spot_code(a, s0), 'O');
	assert_int_equal(alloc_set_in_service(a, s0, 0), PK_OK);
	assert_int_equal(view_spot_code(a, s0), 'o');
	alloc_release(a, &s0, 1);
	assert_int_equal(view_spot_code(a, s0), 'X');
	assert_int_equal(alloc_set_in_service(a, s0, 1), PK_OK);
	assert_int_equal(view_spot_code(a, s0), 'F');

	assert_int_equal(alloc_hold(a, s1), PK_OK);
	assert_int_equal(view_spot_code(a, s1), 'H');
	assert_int_equal(alloc_set_in_service(a, s1, 0), PK_OK);
	assert_int_equal(view_spot_code(a, s1), 'h');
	assert_int_equal(alloc_unhold(a, s1), PK_OK);
	assert_int_equal(view_spot_code(a, s1), 'X');

	assert_int_equal(alloc_set_in_service(a, s2, 0), PK_OK);
	assert_int_equal(view_spot_code(a, s2), 'X');
	/* Back in service while occupied cancels the request. */
	alloc_take(a, &s3, 1);
	assert_int_equal(alloc_set_in_service(a, s3, 0), PK_OK);
	assert_int_equal(alloc_set_in_service(a, s3, 1), PK_OK);
	assert_int_equal(view_spot_code(a, s3), 'O');
	alloc_free(a);
	facility_free(f);
}

static void
test_layout_states_and_occupants(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct ticket *car, *bus;
	cJSON *j;
	const cJSON *occ, *o;
	char id[UUID_BUFSZ];

	(void)state;
	car = enter(g, "B-XY 123", "car", 1);	/* B-01, nearest regular */
	enter(g, "VAN 1", "van", 3);		/* C-01 */
	enter(g, "VAN 2", "van", 4);		/* C-02: no oversized spot left */
	bus = enter(g, "BUS 7", "bus", 2);	/* so three regular spots in a run */
	service(g, "A-02", 0);			/* free: out at once */
	service(g, "B-01", 0);			/* occupied: when the car leaves */
	j = layout(g, 0, 100, VIEW_LAYOUT_MAX_BYTES, NULL);
	assert_string_equal(str(j, "state"), "FXFoOOOOO");
	occ = member(j, "occupants");
	assert_int_equal(cJSON_GetArraySize(occ), 4);
	cJSON_ArrayForEach(o, occ) {
		const cJSON *sp = member(o, "spots");

		if (strcmp(str(o, "plate"), "B-XY 123") == 0) {
			tu_id(1, id);
			assert_string_equal(str(o, "ticket"), id);
			assert_string_equal(str(o, "entered_at"), "2026-11-23T10:00:01Z");
			assert_int_equal(cJSON_GetArraySize(sp), 1);
			assert_int_equal(cJSON_GetArrayItem(sp, 0)->valuedouble, car->spots[0]);
		} else if (strcmp(str(o, "plate"), "BUS 7") == 0) {
			assert_int_equal(cJSON_GetArraySize(sp), 3);
			for (int i = 0; i < 3; i++)
				assert_int_equal(cJSON_GetArrayItem(sp, i)->valuedouble,
				    bus->spots[i]);
		}
	}
	cJSON_Delete(j);

	/* The car leaves: its spot goes out of service; the bus leaves. */
	leave(g, car);
	leave(g, bus);
	j = layout(g, 0, 100, VIEW_LAYOUT_MAX_BYTES, NULL);
	assert_string_equal(str(j, "state"), "FXFXFFFOO");
	assert_int_equal(cJSON_GetArraySize(member(j, "occupants")), 2);
	cJSON_Delete(j);
	garage_free(g);
}

/* ---- pages ---- */

struct on_page {
	uint32_t from, end;
	unsigned n;
};

static void
count_on_page(void *ud, const struct ticket *t)
{
	struct on_page *p = ud;
	int on = 0;

	if (t->state != TICKET_INSIDE)
		return;
	for (size_t i = 0; i < t->n_spots; i++)
		on |= t->spots[i] >= p->from && t->spots[i] < p->end;
	p->n += on;
}

/* Checks a page against the garage; *count gets its spots. */
static void
check_page(const garage *g, const cJSON *j, uint32_t from, uint32_t *count)
{
	const facility *f = garage_facility(g);
	const alloc *a = garage_alloc(g);
	const char *st = str(j, "state");
	uint32_t n = (uint32_t)num(j, "count"), r, want_rows = 0, i = 0;
	const cJSON *row, *o;
	struct on_page cnt;

	assert_int_equal(num(j, "from"), from);
	assert_true(n >= 1);
	assert_int_equal(strlen(st), n);
	for (uint32_t s = from; s < from + n; s++)
		assert_int_equal(st[s - from], view_spot_code(a, s));
	/* The rows are exactly those holding a spot of the page. */
	for (r = facility_row_of_spot(f, from); r < facility_row_count(f) &&
	    facility_row_start(f, r) < from + n; r++)
		want_rows++;
	assert_int_equal(cJSON_GetArraySize(member(j, "rows")), want_rows);
	r = facility_row_of_spot(f, from);
	cJSON_ArrayForEach(row, member(j, "rows")) {
		assert_int_equal(num(row, "start"), facility_row_start(f, r + i));
		assert_int_equal(num(row, "count"), facility_row_len(f, r + i));
		i++;
	}
	/* The occupants are exactly the tickets with a spot on the page. */
	cnt.from = from;
	cnt.end = from + n;
	cnt.n = 0;
	garage_each_ticket(g, count_on_page, &cnt);
	assert_int_equal(cJSON_GetArraySize(member(j, "occupants")), cnt.n);
	cJSON_ArrayForEach(o, member(j, "occupants")) {
		const struct ticket *t = garage_inside(g, str(o, "plate"));
		const cJSON *sp, *o2;
		int on = 0;

		assert_non_null(t);
		assert_string_equal(t->id, str(o, "ticket"));
		assert_int_equal(cJSON_GetArraySize(member(o, "spots")), t->n_spots);
		i = 0;
		cJSON_ArrayForEach(sp, member(o, "spots")) {
			assert_int_equal(sp->valuedouble, t->spots[i++]);
			on |= sp->valuedouble >= from && sp->valuedouble < from + n;
		}
		assert_true(on);
		/* Once each. */
		for (o2 = o->next; o2 != NULL; o2 = o2->next)
			assert_string_not_equal(str(o2, "plate"), str(o, "plate"));
	}
	*count = n;
}

/* Follows next from 0 with the given limit and budget; returns the pages. */
static unsigned
walk_pages(const garage *g, uint32_t limit, size_t budget)
{
	uint32_t total = facility_spot_count(garage_facility(g)), from = 0, n;
	unsigned pages = 0;

	for (;;) {
		size_t len;
		cJSON *j = layout(g, from, limit, budget, &len);
		const cJSON *next = member(j, "next");

		assert_true(len <= budget);
		check_page(g, j, from, &n);
		assert_true(n <= limit);
		pages++;
		from += n;
		if (from == total) {
			assert_true(cJSON_IsNull(next));
			cJSON_Delete(j);
			break;
		}
		assert_int_equal(next->valuedouble, from);
		cJSON_Delete(j);
	}
	return pages;
}

static uint64_t rng = 88172645463325252ull;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/*
 * Random facilities in random states: every page, whatever the limit,
 * holds what the facility holds, and the pages tile it.
 */
static void
test_pages_tile_the_facility(void **state)
{
	(void)state;
	for (int round = 0; round < 20; round++) {
		garage *g = big_garage(1 + rnd(30), 1 + rnd(40), rnd(3));
		uint32_t total = facility_spot_count(garage_facility(g));
		struct ticket *inside[2000];
		size_t n_in = 0;
		char plate[PLATE_BUFSZ], name[48];

		for (unsigned step = 0; step < 3 * total; step++) {
			uint32_t k = rnd(10);

			if (k < 6 && n_in < 2000) {
				struct garage_entry_in in;
				struct ticket *t = NULL;
				char tid[UUID_BUFSZ];

				snprintf(plate, sizeof(plate), "R%u", step);
				tu_id(10000 + step, tid);
				memset(&in, 0, sizeof(in));
				in.gate = 0;
				in.plate = plate;
				in.cls = 0;
				in.ticket_id = tid;
				in.at = NOW;
				if (garage_entry(g, &in, &t, &chg) == PK_OK)
					inside[n_in++] = t;
				changes_clear(&chg);
			} else if (k < 8 && n_in > 0) {
				uint32_t i = rnd((uint32_t)n_in);

				leave(g, inside[i]);
				inside[i] = inside[--n_in];
			} else {
				facility_spot_name(garage_facility(g), rnd(total), name);
				service(g, name, rnd(2));
			}
		}
		walk_pages(g, 1 + rnd(total + 5), VIEW_LAYOUT_MAX_BYTES);
		walk_pages(g, 1, VIEW_LAYOUT_MAX_BYTES);
		walk_pages(g, total, VIEW_LAYOUT_MAX_BYTES);
		garage_free(g);
	}
}

/* A full facility of 10 000 spots: one page at the budget `layout` gives. */
static void
test_ten_thousand_spots_in_one_page(void **state)
{
	garage *g = big_garage(100, 100, 1);
	size_t len;
	cJSON *j;

	(void)state;
	fill(g);
	j = layout(g, 0, FAC_MAX_SPOTS, VIEW_LAYOUT_MAX_BYTES, &len);
	assert_int_equal(num(j, "count"), 10000);
	assert_int_equal(cJSON_GetArraySize(member(j, "occupants")), 10000);
	assert_true(cJSON_IsNull(member(j, "next")));
	/* About 120 bytes a spot when every spot is taken. */
	assert_true(len < 10000 * 130);
	cJSON_Delete(j);
	garage_free(g);
}

/* A smaller budget splits the facility; no page passes it. */
static void
test_budget_bounds_every_page(void **state)
{
	garage *g = big_garage(100, 100, 1);

	(void)state;
	fill(g);
	assert_true(walk_pages(g, FAC_MAX_SPOTS, 1u << 20) >= 3);
	assert_true(walk_pages(g, FAC_MAX_SPOTS, 700u << 10) >= 7);
	garage_free(g);
}

/* Many rows with long tag lists: the rows' budget ends the page early. */
static void
test_rows_budget_ends_a_page_at_a_row(void **state)
{
	garage *g = big_garage(6000, 1, 5);
	size_t len;
	cJSON *j;
	uint32_t n;

	(void)state;
	j = layout(g, 0, FAC_MAX_SPOTS, VIEW_LAYOUT_MAX_BYTES, &len);
	n = (uint32_t)num(j, "count");
	assert_true(n < 6000);
	assert_int_equal(cJSON_GetArraySize(member(j, "rows")), n);
	assert_true(len <= VIEW_LAYOUT_ROWS_BYTES + 2 * 6000 + 4096);
	cJSON_Delete(j);
	assert_true(walk_pages(g, FAC_MAX_SPOTS, VIEW_LAYOUT_MAX_BYTES) >= 2);
	garage_free(g);
}

static void
test_layout_errors(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	pk_err e;

	(void)state;
	assert_null(layout_text(g, 9, 10, VIEW_LAYOUT_MAX_BYTES, &e, NULL));
	assert_int_equal(e, PK_E_INVALID_PARAMS);
	assert_null(layout_text(g, 0, 0, VIEW_LAYOUT_MAX_BYTES, &e, NULL));
	assert_int_equal(e, PK_E_INVALID_PARAMS);
	assert_null(layout_text(g, 0, 10, 1000, &e, NULL));
	assert_int_equal(e, PK_E_INVALID_REQUEST);
	garage_free(g);
}

/* ---- the method ---- */

static char *
line(struct session *s, const char *text)
{
	char *q = tu_quote(text);
	struct session_out out;
	char *r;

	memset(&out, 0, sizeof(out));
	assert_int_equal(session_handle(s, q, strlen(q), 0, NOW, &out), 0);
	free(q);
	free(out.defer_id);
	assert_non_null(out.line);
	assert_int_equal(strlen(out.line), out.line_len);
	r = strdup(out.line);
	assert_non_null(r);
	return r;
}

static void
fake_new_id(void *ud, char out[UUID_BUFSZ])
{
	(void)ud;
	tu_id(1, out);
}

static void
test_layout_method(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	struct call_env env;
	struct session s;
	char *r;

	(void)state;
	memset(&env, 0, sizeof(env));
	env.new_id = fake_new_id;
	memset(&s, 0, sizeof(s));
	s.g = g;
	s.env = &env;
	s.role = ROLE_NONE;
	r = line(&s, "layout");
	assert_non_null(strstr(r, "auth_required"));
	free(r);
	/* Any role may draw the map; plates are for kiosks and operators. */
	enter(g, "B-XY 123", "car", 1);
	s.role = ROLE_GATE;
	r = line(&s, "{'jsonrpc':'2.0','id':1,'method':'layout','params':{'from':3,'limit':1}}");
	assert_non_null(strstr(r, "\"from\":3,\"count\":1,\"next\":4,\"state\":\"O\"}}"));
	assert_null(strstr(r, "B-XY 123"));
	free(r);
	s.role = ROLE_KIOSK;
	r = line(&s, "{'jsonrpc':'2.0','id':1,'method':'layout','params':{'from':3,'limit':1}}");
	assert_non_null(strstr(r, "\"state\":\"O\",\"occupants\":[{\"ticket\""));
	assert_non_null(strstr(r, "B-XY 123"));
	free(r);
	r = line(&s, "layout from=9");
	assert_non_null(strstr(r, "invalid_params"));
	free(r);
	r = line(&s, "layout limit=0");
	assert_non_null(strstr(r, "invalid_params"));
	free(r);
	r = line(&s, "layout level=0");
	assert_non_null(strstr(r, "invalid_params"));
	free(r);
	r = line(&s, "help method=layout");
	assert_non_null(strstr(r, "layout [from=0]"));
	free(r);
	session_release(&s);
	garage_free(g);
}

/* In a batch, the replies before a layout share its budget. */
static void
test_layout_in_a_batch_shares_the_budget(void **state)
{
	garage *g = big_garage(100, 100, 1);
	struct call_env env;
	struct session s;
	cJSON *arr, *rep;
	char *r;
	int ok = 0, refused = 0;

	(void)state;
	fill(g);
	memset(&env, 0, sizeof(env));
	env.new_id = fake_new_id;
	memset(&s, 0, sizeof(s));
	s.g = g;
	s.env = &env;
	s.role = ROLE_OPERATOR;
	r = line(&s, "[{'id':1,'method':'layout'},{'id':2,'method':'layout'},"
	    "{'id':3,'method':'layout'},{'id':4,'method':'layout'},"
	    "{'id':5,'method':'layout'},{'id':6,'method':'layout'},"
	    "{'id':7,'method':'layout'},{'id':8,'method':'layout'},"
	    "{'id':9,'method':'layout'},{'id':10,'method':'layout'},"
	    "{'id':11,'method':'layout'},{'id':12,'method':'layout'}]");
	/* The budget, and the refusals after it. */
	assert_true(strlen(r) <= VIEW_LAYOUT_MAX_BYTES + 12 * 300);
	arr = cJSON_Parse(r);
	assert_non_null(arr);
	cJSON_ArrayForEach(rep, arr) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(rep, "error");

		if (cJSON_GetObjectItemCaseSensitive(rep, "result") != NULL)
			ok++;
		else if (e != NULL && strcmp(str(member(e, "data"), "reason"),
		    "invalid_request") == 0)
			refused++;
	}
	assert_true(ok >= 2);
	assert_true(refused >= 1);
	assert_int_equal(ok + refused, 12);
	cJSON_Delete(arr);
	free(r);
	session_release(&s);
	garage_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_of_the_test_garage),
		cmocka_unit_test(test_row_ids_and_positions_are_the_spots),
		cmocka_unit_test(test_spot_codes),
		cmocka_unit_test(test_layout_states_and_occupants),
		cmocka_unit_test(test_pages_tile_the_facility),
		cmocka_unit_test(test_ten_thousand_spots_in_one_page),
		cmocka_unit_test(test_budget_bounds_every_page),
		cmocka_unit_test(test_rows_budget_ends_a_page_at_a_row),
		cmocka_unit_test(test_layout_errors),
		cmocka_unit_test(test_layout_method),
		cmocka_unit_test(test_layout_in_a_batch_shares_the_budget),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	changes_release(&chg);
	return rc;
}
