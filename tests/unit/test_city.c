/* test_city.c - the city view's pure part (lib/city.h): slugs, measures, reading back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "city.h"
#include "testutil.h"

static void
expect_slug(const char *name, const char *slug)
{
	char out[CITY_SLUG_MAX + 1];

	assert_int_equal(city_slug(name, out, sizeof(out)), strlen(slug));
	assert_string_equal(out, slug);
}

static void
test_slug(void **state)
{
	char small[5];

	(void)state;
	expect_slug("Demo Garage", "demo-garage");
	expect_slug("Demo  Garage #2", "demo-garage-2");
	expect_slug("P+R Nord/Süd", "p-r-nord-s-d");
	expect_slug("  Hbf ", "-hbf-");
	expect_slug("ABCxyz019", "abcxyz019");
	expect_slug("", "");
	expect_slug("---", "-");
	/* Cut to the buffer, always terminated. */
	assert_int_equal(city_slug("Garage", small, sizeof(small)), 4);
	assert_string_equal(small, "gara");
	assert_int_equal(city_slug("Garage", small, 0), 0);
}

static struct changes ch;

static struct ticket *
enter(garage *g, unsigned n, const char *plate, const char *cls)
{
	const facility *f = garage_facility(g);
	struct garage_entry_in in;
	struct ticket *t = NULL;
	char id[UUID_BUFSZ];

	tu_id(n, id);
	memset(&in, 0, sizeof(in));
	in.gate = facility_gate_lookup(f, "north");
	in.plate = plate;
	in.cls = facility_class_lookup(f, cls);
	in.ticket_id = id;
	in.at = TU_T0;
	assert_int_equal(garage_entry(g, &in, &t, &ch), PK_OK);
	changes_clear(&ch);
	return t;
}

/* The classes of the test facility: motorcycle, car, van, bus. */
static void
expect_avail(const garage *g, int closed, uint64_t free, const uint64_t by[4],
    enum city_state st)
{
	struct city_avail a;

	city_measure(g, closed, &a);
	assert_int_equal(a.total, 9);
	assert_int_equal(a.free, free);
	assert_int_equal(a.nclasses, 4);
	for (int c = 0; c < 4; c++)
		if (a.by_class[c] != by[c])
			fail_msg("class %d: %llu, expected %llu", c,
			    (unsigned long long)a.by_class[c], (unsigned long long)by[c]);
	assert_int_equal(a.state, st);
}

static void
test_measure(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 100);

	(void)state;
	changes_init(&ch);
	/*
	 * compact A 3, regular B 4, oversized C 2.  motorcycle fits compact
	 * and regular (7), car regular and oversized (6), van oversized (2),
	 * bus oversized (2) or 3 adjacent regular (B-01..B-04: one run).
	 */
	expect_avail(g, 0, 9, (const uint64_t[]){ 7, 6, 2, 3 }, CITY_OPEN);
	expect_avail(g, 1, 9, (const uint64_t[]){ 7, 6, 2, 3 }, CITY_CLOSED);
	/* A car on B-01: B-02..B-04 is still one run. */
	enter(g, 1, "C 1", "car");
	expect_avail(g, 0, 8, (const uint64_t[]){ 6, 5, 2, 3 }, CITY_OPEN);
	/* B-02 taken: no run of 3 is left. */
	enter(g, 2, "C 2", "car");
	expect_avail(g, 0, 7, (const uint64_t[]){ 5, 4, 2, 2 }, CITY_OPEN);
	/* Vans take the oversized spots: a bus no longer fits anywhere. */
	enter(g, 3, "V 1", "van");
	enter(g, 4, "V 2", "van");
	expect_avail(g, 0, 5, (const uint64_t[]){ 5, 2, 0, 0 }, CITY_OPEN);
	enter(g, 5, "C 3", "car");
	enter(g, 6, "C 4", "car");
	expect_avail(g, 0, 3, (const uint64_t[]){ 3, 0, 0, 0 }, CITY_OPEN);
	enter(g, 7, "M 1", "motorcycle");
	enter(g, 8, "M 2", "motorcycle");
	enter(g, 9, "M 3", "motorcycle");
	expect_avail(g, 0, 0, (const uint64_t[]){ 0, 0, 0, 0 }, CITY_FULL);
	expect_avail(g, 1, 0, (const uint64_t[]){ 0, 0, 0, 0 }, CITY_CLOSED);
	changes_release(&ch);
	garage_free(g);
}

static void
test_message(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 100);
	struct city_avail a;
	struct city_pub p;
	struct jw w;
	char *s;

	(void)state;
	city_measure(g, 0, &a);
	p.slug = "test-garage";
	p.name = "Test \"Garage\"";
	p.listen = "127.0.0.1:7070";
	p.lat_e7 = 525200000;
	p.lon_e7 = -1276474;
	p.updated_at = TU_T0;
	p.f = garage_facility(g);
	p.avail = &a;
	jw_init(&w);
	city_message_json(&w, &p);
	s = jw_take(&w, NULL);
	assert_non_null(s);
	assert_string_equal(s, "{\"slug\":\"test-garage\",\"name\":\"Test \\\"Garage\\\"\","
	    "\"lat\":52.52,\"lon\":-0.1276474,\"free\":9,\"total\":9,"
	    "\"free_by_class\":{\"motorcycle\":7,\"car\":6,\"van\":2,\"bus\":3},"
	    "\"state\":\"open\",\"updated_at\":\"2026-11-23T10:00:00Z\","
	    "\"listen\":\"127.0.0.1:7070\"}");
	free(s);
	garage_free(g);
}

/* The fields of a hash as parkd publishes them, to spoil one at a time. */
struct fields {
	const char *v[CITY_F__COUNT];
	size_t len[CITY_F__COUNT];
};

static void
fields_set(struct fields *f, int i, const char *v)
{
	f->v[i] = v;
	f->len[i] = v != NULL ? strlen(v) : 0;
}

static struct fields
good_fields(void)
{
	struct fields f;

	fields_set(&f, CITY_F_NAME, "Nord P+R");
	fields_set(&f, CITY_F_FREE, "12");
	fields_set(&f, CITY_F_BY_CLASS, "{\"car\":10,\"bus\":0,\"van\":2}");
	fields_set(&f, CITY_F_STATE, "open");
	fields_set(&f, CITY_F_UPDATED_AT, "2026-11-23T10:00:00Z");
	return f;
}

static const char *const names[] = { "bus", "car", "truck" };

static int
read_entry(const struct fields *f, const char *slug, const char *dist,
    struct city_entry *e, uint64_t counts[3], int64_t now)
{
	return city_entry_read(e, slug, strlen(slug), dist, strlen(dist), f->v,
	    f->len, names, 3, counts, now, 90);
}

static void
test_entry_read(void **state)
{
	struct fields f = good_fields();
	struct city_entry e;
	uint64_t counts[3];
	struct jw w;
	char *s;

	(void)state;
	assert_int_equal(read_entry(&f, "nord-p-r", "1234.5678", &e, counts, TU_T0 + 90), 1);
	assert_string_equal(e.slug, "nord-p-r");
	assert_string_equal(e.name, "Nord P+R");
	assert_int_equal(e.distance_mm, 1234568);
	assert_int_equal(e.free, 12);
	assert_int_equal(e.state, CITY_OPEN);
	assert_int_equal(e.updated_at, TU_T0);
	assert_int_equal(e.room_any, 1);
	/* A class it does not know has no room there. */
	assert_int_equal(counts[0], 0);
	assert_int_equal(counts[1], 10);
	assert_int_equal(counts[2], 0);
	jw_init(&w);
	city_entry_json(&w, &e, counts[1]);
	s = jw_take(&w, NULL);
	assert_string_equal(s, "{\"name\":\"Nord P+R\",\"slug\":\"nord-p-r\","
	    "\"distance_m\":1234.568,\"free\":12,\"free_for_class\":10,"
	    "\"state\":\"open\",\"updated_at\":\"2026-11-23T10:00:00Z\"}");
	free(s);

	/* Distances as Redis writes them, rounded to millimetres. */
	assert_int_equal(read_entry(&f, "a", "0.0000", &e, counts, TU_T0), 1);
	assert_int_equal(e.distance_mm, 0);
	assert_int_equal(read_entry(&f, "a", "7", &e, counts, TU_T0), 1);
	assert_int_equal(e.distance_mm, 7000);
	assert_int_equal(read_entry(&f, "a", "0.0004", &e, counts, TU_T0), 1);
	assert_int_equal(e.distance_mm, 0);
	assert_int_equal(read_entry(&f, "a", "0.9995", &e, counts, TU_T0), 1);
	assert_int_equal(e.distance_mm, 1000);
	assert_int_equal(read_entry(&f, "a", "2.5", &e, counts, TU_T0), 1);
	assert_int_equal(e.distance_mm, 2500);

	/* Stale: silent for more than stale_s (90 here). */
	assert_int_equal(read_entry(&f, "a", "1", &e, counts, TU_T0 + 91), 0);
	/* A clock a little ahead of ours is no reason to leave it out. */
	assert_int_equal(read_entry(&f, "a", "1", &e, counts, TU_T0 - 5), 1);

	/* Full: read, but room for no class. */
	fields_set(&f, CITY_F_BY_CLASS, "{\"car\":0,\"bus\":0}");
	fields_set(&f, CITY_F_STATE, "full");
	fields_set(&f, CITY_F_FREE, "0");
	assert_int_equal(read_entry(&f, "a", "1", &e, counts, TU_T0), 1);
	assert_int_equal(e.state, CITY_FULL);
	assert_int_equal(e.room_any, 0);
	/* Closed: whatever it counted, nobody is sent there. */
	f = good_fields();
	fields_set(&f, CITY_F_STATE, "closed");
	assert_int_equal(read_entry(&f, "a", "1", &e, counts, TU_T0), 1);
	assert_int_equal(e.room_any, 0);
	assert_int_equal(counts[1], 0);
}

static void
expect_left_out(int field, const char *value, const char *slug, const char *dist)
{
	struct fields f = good_fields();
	struct city_entry e;
	uint64_t counts[3];

	if (field >= 0)
		fields_set(&f, field, value);
	if (read_entry(&f, slug, dist, &e, counts, TU_T0) != 0)
		fail_msg("field %d '%s' slug '%s' dist '%s': taken", field,
		    value ? value : "(nil)", slug, dist);
}

static void
test_entry_refused(void **state)
{
	(void)state;
	/* The hash expired (its parkd is gone): every field nil. */
	for (int i = 0; i < CITY_F__COUNT; i++)
		expect_left_out(i, NULL, "a", "1");
	expect_left_out(-1, NULL, "", "1");
	expect_left_out(-1, NULL, "A", "1");
	expect_left_out(-1, NULL, "a b", "1");
	expect_left_out(-1, NULL, "a", "");
	expect_left_out(-1, NULL, "a", "-1");
	expect_left_out(-1, NULL, "a", "1.");
	expect_left_out(-1, NULL, "a", ".5");
	expect_left_out(-1, NULL, "a", "1e3");
	expect_left_out(-1, NULL, "a", "99999999999");
	expect_left_out(CITY_F_FREE, "-1", "a", "1");
	expect_left_out(CITY_F_FREE, "1.5", "a", "1");
	expect_left_out(CITY_F_FREE, "", "a", "1");
	expect_left_out(CITY_F_FREE, "99999999999999999", "a", "1");
	expect_left_out(CITY_F_STATE, "OPEN", "a", "1");
	expect_left_out(CITY_F_STATE, "ope", "a", "1");
	expect_left_out(CITY_F_UPDATED_AT, "yesterday", "a", "1");
	expect_left_out(CITY_F_BY_CLASS, "[]", "a", "1");
	expect_left_out(CITY_F_BY_CLASS, "{\"car\":-1}", "a", "1");
	expect_left_out(CITY_F_BY_CLASS, "{\"car\":1.5}", "a", "1");
	expect_left_out(CITY_F_BY_CLASS, "{\"car\":\"1\"}", "a", "1");
	expect_left_out(CITY_F_BY_CLASS, "{\"car\":1,\"car\":2}", "a", "1");
	expect_left_out(CITY_F_BY_CLASS, "{\"car\":1", "a", "1");
	expect_left_out(CITY_F_NAME, "\xff\xfe", "a", "1");
}

/* An entry called slug at d metres with room per the view's classes. */
static void
add(struct city_view *v, const char *slug, int64_t d_mm, uint64_t moto,
    uint64_t car, uint64_t van, uint64_t bus)
{
	struct city_entry e;
	const uint64_t counts[4] = { moto, car, van, bus };

	memset(&e, 0, sizeof(e));
	snprintf(e.slug, sizeof(e.slug), "%s", slug);
	snprintf(e.name, sizeof(e.name), "Name of %s", slug);
	e.distance_mm = d_mm;
	e.free = moto;
	e.state = CITY_OPEN;
	e.updated_at = TU_T0;
	assert_int_equal(city_view_add(v, &e, counts), 0);
}

static char *
alternatives(const struct city_view *v, int cls, const char *self, size_t max,
    size_t *n)
{
	struct jw w;

	jw_init(&w);
	jw_members(&w);
	*n = city_view_alternatives(v, cls, self, max, &w);
	return jw_take(&w, NULL);
}

static void
test_view(void **state)
{
	facility *f = tu_facility(TU_FACILITY, TU_VEHICLES);
	struct city_view *v = city_view_new(f);
	const char *const *cn;
	size_t n;
	char *s;

	(void)state;
	assert_non_null(v);
	cn = city_view_class_names(v);
	assert_string_equal(cn[0], "motorcycle");
	assert_string_equal(cn[3], "bus");
	s = alternatives(v, 1, NULL, 3, &n);
	assert_int_equal(n, 0);
	assert_string_equal(s, "\"alternatives\":[]");
	free(s);
	for (int i = 0; i < 40; i++) {
		char slug[16];

		snprintf(slug, sizeof(slug), "g%d", i);
		/* Every third has buses; g0 is this facility itself. */
		add(v, slug, 1000 * i, 5, i % 2 ? 3 : 0, 1, i % 3 == 0 ? 1 : 0);
	}
	assert_int_equal(city_view_count(v), 40);
	/* Cars: the odd ones, nearest first, at most 3. */
	s = alternatives(v, 1, "g0", 3, &n);
	assert_int_equal(n, 3);
	assert_non_null(strstr(s, "\"slug\":\"g1\""));
	assert_non_null(strstr(s, "\"slug\":\"g3\""));
	assert_non_null(strstr(s, "\"slug\":\"g5\""));
	assert_null(strstr(s, "\"slug\":\"g7\""));
	assert_true(strstr(s, "g1") < strstr(s, "g3") && strstr(s, "g3") < strstr(s, "g5"));
	assert_non_null(strstr(s, "\"free_for_class\":3"));
	free(s);
	/* Buses: never this facility, though it has room in the copy. */
	s = alternatives(v, 3, "g0", 3, &n);
	assert_int_equal(n, 3);
	assert_null(strstr(s, "\"slug\":\"g0\""));
	assert_non_null(strstr(s, "\"slug\":\"g3\""));
	assert_non_null(strstr(s, "\"slug\":\"g9\""));
	free(s);
	s = alternatives(v, 3, NULL, 1, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(s, "\"slug\":\"g0\""));
	free(s);
	/* A class out of range gets none. */
	s = alternatives(v, 9, NULL, 3, &n);
	assert_int_equal(n, 0);
	free(s);
	city_view_clear(v);
	assert_int_equal(city_view_count(v), 0);
	city_view_free(v);
	city_view_free(NULL);
	facility_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slug),
		cmocka_unit_test(test_measure),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_entry_read),
		cmocka_unit_test(test_entry_refused),
		cmocka_unit_test(test_view),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
