/* test_alloc.c - unit tests of the allocation engine: strategies, ties, runs, states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "facility_load.h"

/*
 * Level 0: A (regular, x 10..100 step 10, y 0), B (compact, y 10),
 * D (oversized, 3 spots, y 50).  Level 1: C (regular, tag ev, x 10..100).
 * Gate g0 entry (0,0) L0; g1 both (100,0) L1; g2 entry (55,0) L0;
 * gx exit (50,0) L0.  level_distance 100.
 */
static const char fac_json[] =
    "{ 'name': 't', 'timezone': 'UTC', 'currency': 'EUR', 'level_distance': 100,"
    "  'gates': ["
    "   { 'id': 'g0', 'role': 'entry', 'level': 0, 'x': 0, 'y': 0 },"
    "   { 'id': 'g1', 'role': 'both', 'level': 1, 'x': 100, 'y': 0 },"
    "   { 'id': 'g2', 'role': 'entry', 'level': 0, 'x': 55, 'y': 0 },"
    "   { 'id': 'gx', 'role': 'exit', 'level': 0, 'x': 50, 'y': 0 } ],"
    "  'rows': ["
    "   { 'level': 0, 'zone': 'A', 'type': 'regular', 'count': 10, 'x': 10, 'y': 0, 'dx': 10, 'dy': 0 },"
    "   { 'level': 0, 'zone': 'B', 'type': 'compact', 'count': 5, 'x': 10, 'y': 10, 'dx': 10, 'dy': 0 },"
    "   { 'level': 1, 'zone': 'C', 'type': 'regular', 'count': 10, 'x': 10, 'y': 0, 'dx': 10, 'dy': 0, 'tags': ['ev'] },"
    "   { 'level': 0, 'zone': 'D', 'type': 'oversized', 'count': 3, 'x': 0, 'y': 50, 'dx': 5, 'dy': 0, 'tags': ['roof'] } ] }";

static const char veh_json[] =
    "{ 'car': { 'fits': ['regular'] },"
    "  'moto': { 'fits': ['compact', 'regular'] },"
    "  'bus': { 'fits': ['oversized'], 'contiguous': { 'type': 'regular', 'count': 3 } } }";

struct fx {
	facility *f;
	alloc *a;
	int g0, g1, g2, gx, car, moto, bus;
	uint64_t ev, roof;
};

static cJSON *
parse_quoted(const char *text)
{
	char *s = strdup(text);
	cJSON *j;

	assert_non_null(s);
	for (char *p = s; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	j = cJSON_Parse(s);
	free(s);
	assert_non_null(j);
	return j;
}

static int
setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	cJSON *jf = parse_quoted(fac_json), *jv = parse_quoted(veh_json);
	cJSON *needs;
	char err[256];

	assert_non_null(x);
	x->f = facility_from_json(jf, jv, &(struct jerr){ err, sizeof(err), 0 });
	if (x->f == NULL)
		fail_msg("%s", err);
	cJSON_Delete(jf);
	cJSON_Delete(jv);
	x->a = alloc_new(x->f);
	assert_non_null(x->a);
	x->g0 = facility_gate_lookup(x->f, "g0");
	x->g1 = facility_gate_lookup(x->f, "g1");
	x->g2 = facility_gate_lookup(x->f, "g2");
	x->gx = facility_gate_lookup(x->f, "gx");
	x->car = facility_class_lookup(x->f, "car");
	x->moto = facility_class_lookup(x->f, "moto");
	x->bus = facility_class_lookup(x->f, "bus");
	needs = parse_quoted("['ev']");
	assert_int_equal(facility_tags_mask(x->f, needs, "", &x->ev, &(struct jerr){ NULL, 0, 0 }), 0);
	cJSON_Delete(needs);
	needs = parse_quoted("['roof']");
	assert_int_equal(facility_tags_mask(x->f, needs, "", &x->roof, &(struct jerr){ NULL, 0, 0 }), 0);
	cJSON_Delete(needs);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *x = *state;

	alloc_free(x->a);
	facility_free(x->f);
	free(x);
	return 0;
}

static uint32_t
spot(const struct fx *x, const char *id)
{
	uint32_t s;

	if (facility_spot_lookup(x->f, id, &s) != 0)
		fail_msg("no spot %s", id);
	return s;
}

/* Chooses for one vehicle and checks the first spot's id and the count. */
static void
expect_choice(const struct fx *x, int gate, int cls, uint64_t needs,
    const char *id, size_t count)
{
	uint32_t out[ALLOC_MAX_SPOTS];
	size_t n = 99;
	char name[48];
	pk_err e = alloc_choose(x->a, gate, cls, needs, out, &n);

	if (e != PK_OK)
		fail_msg("expected %s, got %s", id, pk_err_reason(e));
	assert_int_equal(n, count);
	facility_spot_name(x->f, out[0], name);
	assert_string_equal(name, id);
	for (size_t i = 1; i < n; i++)
		assert_int_equal(out[i], out[0] + i);
}

static void
expect_full(const struct fx *x, int gate, int cls, uint64_t needs)
{
	uint32_t out[ALLOC_MAX_SPOTS];
	size_t n = 99;

	assert_int_equal(alloc_choose(x->a, gate, cls, needs, out, &n),
	    PK_E_LOT_FULL);
	assert_int_equal(n, 0);
}

static void
take(struct fx *x, const char *id)
{
	uint32_t s = spot(x, id);

	assert_int_equal(alloc_spot_state(x->a, s), ALLOC_SPOT_FREE);
	alloc_take(x->a, &s, 1);
	assert_int_equal(alloc_spot_state(x->a, s), ALLOC_SPOT_OCCUPIED);
}

static void
take_range(struct fx *x, const char *zone, int from, int to)
{
	char id[48];

	for (int i = from; i <= to; i++) {
		snprintf(id, sizeof(id), "%s-%02d", zone, i);
		take(x, id);
	}
}

static void
test_strategy_names(void **state)
{
	enum alloc_strategy s;
	(void)state;

	assert_int_equal(alloc_strategy_parse("nearest", &s), 0);
	assert_int_equal(s, ALLOC_NEAREST);
	assert_int_equal(alloc_strategy_parse("farthest", &s), 0);
	assert_int_equal(s, ALLOC_FARTHEST);
	assert_int_equal(alloc_strategy_parse("first", &s), 0);
	assert_int_equal(s, ALLOC_FIRST);
	assert_int_equal(alloc_strategy_parse("fill", &s), 0);
	assert_int_equal(s, ALLOC_FILL);
	assert_int_equal(alloc_strategy_parse("Nearest", &s), -1);
	assert_int_equal(alloc_strategy_parse("", &s), -1);
	assert_int_equal(alloc_strategy_parse(NULL, &s), -1);
	assert_string_equal(alloc_strategy_name(ALLOC_FILL), "fill");
	assert_string_equal(alloc_strategy_name(ALLOC_FARTHEST), "farthest");
	assert_string_equal(alloc_strategy_name((enum alloc_strategy)9), "?");
}

static void
test_nearest(void **state)
{
	struct fx *x = *state;

	assert_int_equal(alloc_get_strategy(x->a), ALLOC_NEAREST);
	expect_choice(x, x->g0, x->car, 0, "A-01", 1);
	take(x, "A-01");
	expect_choice(x, x->g0, x->car, 0, "A-02", 1);
	/* From level 1 the nearest regular is on level 1. */
	expect_choice(x, x->g1, x->car, 0, "C-10", 1);
	take_range(x, "A", 2, 10);
	/* Level 0 full: level 1 at 10 + 100. */
	expect_choice(x, x->g0, x->car, 0, "C-01", 1);
}

static void
test_farthest(void **state)
{
	struct fx *x = *state;

	alloc_set_strategy(x->a, ALLOC_FARTHEST);
	assert_int_equal(alloc_get_strategy(x->a), ALLOC_FARTHEST);
	expect_choice(x, x->g0, x->car, 0, "C-10", 1);
	take(x, "C-10");
	expect_choice(x, x->g0, x->car, 0, "C-09", 1);
	/* From g1 (100,0) L1: A-01 is 90 + 100 away. */
	expect_choice(x, x->g1, x->car, 0, "A-01", 1);
}

static void
test_first(void **state)
{
	struct fx *x = *state;

	alloc_set_strategy(x->a, ALLOC_FIRST);
	expect_choice(x, x->g1, x->car, 0, "A-01", 1);
	take(x, "A-01");
	take(x, "A-03");
	expect_choice(x, x->g1, x->car, 0, "A-02", 1);
	expect_choice(x, x->g2, x->moto, 0, "B-01", 1);
}

static void
test_fill(void **state)
{
	struct fx *x = *state;

	alloc_set_strategy(x->a, ALLOC_FILL);
	/* g1 is on level 1, but level 0 fills first: nearest there is A-10. */
	expect_choice(x, x->g1, x->car, 0, "A-10", 1);
	expect_choice(x, x->g0, x->car, 0, "A-01", 1);
	take_range(x, "A", 1, 10);
	expect_choice(x, x->g1, x->car, 0, "C-10", 1);
	expect_choice(x, x->g0, x->car, 0, "C-01", 1);
}

static void
test_ties_to_lower_order(void **state)
{
	struct fx *x = *state;

	/* g2 at x 55: A-05 (50) and A-06 (60) are both 5 away. */
	expect_choice(x, x->g2, x->car, 0, "A-05", 1);
	take(x, "A-05");
	expect_choice(x, x->g2, x->car, 0, "A-06", 1);
	/* Farthest from g2: C-01 and C-10 both 45 + 100. */
	alloc_set_strategy(x->a, ALLOC_FARTHEST);
	expect_choice(x, x->g2, x->car, 0, "C-01", 1);
	take(x, "C-01");
	expect_choice(x, x->g2, x->car, 0, "C-10", 1);
	/* Fill from g2: level 0, A-04 (45) vs A-06 (60): 10 vs 5 => A-06. */
	alloc_set_strategy(x->a, ALLOC_FILL);
	expect_choice(x, x->g2, x->car, 0, "A-06", 1);
	take(x, "A-06");
	expect_choice(x, x->g2, x->car, 0, "A-04", 1);
}

static void
test_fits_order(void **state)
{
	struct fx *x = *state;

	/* Compact comes first for moto, even when a regular is nearer. */
	expect_choice(x, x->g2, x->moto, 0, "B-05", 1);
	take_range(x, "B", 1, 5);
	expect_choice(x, x->g2, x->moto, 0, "A-05", 1);
	/* Every type of fits is tried in order before giving up. */
	take_range(x, "A", 1, 10);
	expect_choice(x, x->g0, x->moto, 0, "C-01", 1);
	take_range(x, "C", 1, 10);
	expect_full(x, x->g0, x->moto, 0);
	expect_full(x, x->g0, x->car, 0);
}

static void
test_needs(void **state)
{
	struct fx *x = *state;

	expect_choice(x, x->g0, x->car, x->ev, "C-01", 1);
	/* moto: no compact has ev, so a regular with ev. */
	expect_choice(x, x->g0, x->moto, x->ev, "C-01", 1);
	expect_full(x, x->g0, x->car, x->roof);
	expect_full(x, x->g0, x->car, x->ev | x->roof);
	expect_choice(x, x->g0, x->bus, x->roof, "D-01", 1);
	take_range(x, "C", 1, 10);
	expect_full(x, x->g0, x->car, x->ev);
}

static void
test_contiguous(void **state)
{
	struct fx *x = *state;

	expect_choice(x, x->g0, x->bus, 0, "D-01", 1);
	take_range(x, "D", 1, 3);
	/* Oversized full: three regular in a row. */
	expect_choice(x, x->g0, x->bus, 0, "A-01", 3);
	/* Broken by one occupied spot. */
	take(x, "A-02");
	expect_choice(x, x->g0, x->bus, 0, "A-03", 3);
	/* Broken by an out-of-service spot. */
	assert_int_equal(alloc_set_in_service(x->a, spot(x, "A-04"), 0), PK_OK);
	expect_choice(x, x->g0, x->bus, 0, "A-05", 3);
	/* A run at the row end. */
	take_range(x, "A", 5, 7);
	expect_choice(x, x->g0, x->bus, 0, "A-08", 3);
	/* A held spot breaks it too: then the other row. */
	assert_int_equal(alloc_hold(x->a, spot(x, "A-09")), PK_OK);
	expect_choice(x, x->g0, x->bus, 0, "C-01", 3);
	/* Needs apply to runs: only C has ev, nothing has roof among regular. */
	expect_choice(x, x->g0, x->bus, x->ev, "C-01", 3);
	expect_full(x, x->g0, x->bus, x->roof);
	assert_int_equal(alloc_unhold(x->a, spot(x, "A-09")), PK_OK);
	expect_choice(x, x->g0, x->bus, 0, "A-08", 3);
	/* A run at the row start, with a distance of its nearest spot. */
	take(x, "C-04");
	alloc_set_strategy(x->a, ALLOC_FARTHEST);
	expect_choice(x, x->g0, x->bus, 0, "C-08", 3);
	alloc_set_strategy(x->a, ALLOC_FIRST);
	expect_choice(x, x->g0, x->bus, 0, "A-08", 3);
	alloc_set_strategy(x->a, ALLOC_FILL);
	expect_choice(x, x->g1, x->bus, 0, "A-08", 3);
	alloc_set_strategy(x->a, ALLOC_NEAREST);
	expect_choice(x, x->g1, x->bus, 0, "C-08", 3);
	take_range(x, "A", 8, 10);
	take(x, "C-07");
	/* C: 01..03 free, 04 taken, 05..06 free, 07 taken, 08..10 free. */
	expect_choice(x, x->g2, x->bus, 0, "C-01", 3);
	take(x, "C-02");
	expect_choice(x, x->g2, x->bus, 0, "C-08", 3);
	take(x, "C-09");
	expect_full(x, x->g2, x->bus, 0);
}

static void
test_contiguous_run_distance(void **state)
{
	struct fx *x = *state;

	take_range(x, "D", 1, 3);
	/*
	 * g2 at 55: runs 03..05, 04..06 and 05..07 all hold A-05 (5 away), so
	 * the lowest start wins; 02..04 is only 15 away at best.
	 */
	take(x, "A-01");
	take(x, "A-08");
	expect_choice(x, x->g2, x->bus, 0, "A-03", 3);
	take(x, "A-04");
	expect_choice(x, x->g2, x->bus, 0, "A-05", 3);
}

static void
test_pending_out_of_service(void **state)
{
	struct fx *x = *state;
	uint32_t a1 = spot(x, "A-01");
	struct alloc_counts c;

	take(x, "A-01");
	assert_int_equal(alloc_set_in_service(x->a, a1, 0), PK_OK);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_OCCUPIED);
	assert_int_equal(alloc_spot_pending_out_of_service(x->a, a1), 1);
	alloc_counts(x->a, &c);
	assert_int_equal(c.occupied, 1);
	assert_int_equal(c.out_of_service, 0);
	alloc_release(x->a, &a1, 1);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_OUT_OF_SERVICE);
	assert_int_equal(alloc_spot_pending_out_of_service(x->a, a1), 0);
	alloc_counts(x->a, &c);
	assert_int_equal(c.occupied, 0);
	assert_int_equal(c.out_of_service, 1);
	expect_choice(x, x->g0, x->car, 0, "A-02", 1);
	/* Idempotent both ways. */
	assert_int_equal(alloc_set_in_service(x->a, a1, 0), PK_OK);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_OUT_OF_SERVICE);
	assert_int_equal(alloc_set_in_service(x->a, a1, 1), PK_OK);
	assert_int_equal(alloc_set_in_service(x->a, a1, 1), PK_OK);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_FREE);
	expect_choice(x, x->g0, x->car, 0, "A-01", 1);
	/* A pending request withdrawn before release. */
	take(x, "A-01");
	assert_int_equal(alloc_set_in_service(x->a, a1, 0), PK_OK);
	assert_int_equal(alloc_set_in_service(x->a, a1, 1), PK_OK);
	assert_int_equal(alloc_spot_pending_out_of_service(x->a, a1), 0);
	alloc_release(x->a, &a1, 1);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_FREE);
	/* Releasing a free spot changes nothing. */
	alloc_release(x->a, &a1, 1);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_FREE);
	/* Free spot: at once. */
	assert_int_equal(alloc_set_in_service(x->a, a1, 0), PK_OK);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_OUT_OF_SERVICE);
	assert_int_equal(alloc_set_in_service(x->a, 100000, 0),
	    PK_E_INVALID_PARAMS);
}

static void
test_hold(void **state)
{
	struct fx *x = *state;
	uint32_t a1 = spot(x, "A-01");
	struct alloc_counts c;

	assert_int_equal(alloc_hold(x->a, a1), PK_OK);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_HELD);
	assert_int_equal(alloc_hold(x->a, a1), PK_E_RESERVATION_CONFLICT);
	expect_choice(x, x->g0, x->car, 0, "A-02", 1);
	alloc_counts(x->a, &c);
	assert_int_equal(c.held, 1);
	assert_int_equal(c.occupied, 0);
	assert_int_equal(c.free, 27);
	assert_int_equal(alloc_unhold(x->a, a1), PK_OK);
	assert_int_equal(alloc_unhold(x->a, a1), PK_E_NOT_FOUND);
	expect_choice(x, x->g0, x->car, 0, "A-01", 1);
	/* A held spot taken by its reservation's vehicle. */
	assert_int_equal(alloc_hold(x->a, a1), PK_OK);
	alloc_take(x->a, &a1, 1);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_OCCUPIED);
	assert_int_equal(alloc_hold(x->a, a1), PK_E_RESERVATION_CONFLICT);
	alloc_release(x->a, &a1, 1);
	/* Out of service requested on a held spot waits for the unhold. */
	assert_int_equal(alloc_hold(x->a, a1), PK_OK);
	assert_int_equal(alloc_set_in_service(x->a, a1, 0), PK_OK);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_HELD);
	assert_int_equal(alloc_spot_pending_out_of_service(x->a, a1), 1);
	assert_int_equal(alloc_unhold(x->a, a1), PK_OK);
	assert_int_equal(alloc_spot_state(x->a, a1), ALLOC_SPOT_OUT_OF_SERVICE);
	assert_int_equal(alloc_hold(x->a, a1), PK_E_RESERVATION_CONFLICT);
	assert_int_equal(alloc_hold(x->a, 100000), PK_E_INVALID_PARAMS);
	assert_int_equal(alloc_unhold(x->a, 100000), PK_E_INVALID_PARAMS);
}

static void
test_counts(void **state)
{
	struct fx *x = *state;
	struct alloc_counts c;
	int regular = facility_type_lookup(x->f, "regular");
	uint32_t s;

	alloc_counts(x->a, &c);
	assert_int_equal(c.total, 28);
	assert_int_equal(c.free, 28);
	take_range(x, "A", 1, 3);
	take_range(x, "C", 1, 2);
	assert_int_equal(alloc_set_in_service(x->a, spot(x, "B-01"), 0), PK_OK);
	assert_int_equal(alloc_hold(x->a, spot(x, "D-01")), PK_OK);
	assert_int_equal(alloc_set_in_service(x->a, spot(x, "C-02"), 0), PK_OK);
	alloc_counts(x->a, &c);
	assert_int_equal(c.total, 28);
	assert_int_equal(c.free, 21);
	assert_int_equal(c.occupied, 5);
	assert_int_equal(c.out_of_service, 1);
	assert_int_equal(c.held, 1);
	alloc_counts_by_type(x->a, regular, &c);
	assert_int_equal(c.total, 20);
	assert_int_equal(c.free, 15);
	assert_int_equal(c.occupied, 5);
	assert_int_equal(c.out_of_service, 0);
	alloc_counts_by_level(x->a, 1, &c);
	assert_int_equal(c.total, 10);
	assert_int_equal(c.occupied, 2);
	assert_int_equal(c.free, 8);
	alloc_counts_by_level(x->a, 0, &c);
	assert_int_equal(c.total, 18);
	assert_int_equal(c.occupied, 3);
	assert_int_equal(c.held, 1);
	assert_int_equal(c.out_of_service, 1);
	assert_int_equal(c.free, 13);
	s = spot(x, "C-02");
	alloc_release(x->a, &s, 1);
	alloc_counts_by_type(x->a, regular, &c);
	assert_int_equal(c.occupied, 4);
	assert_int_equal(c.out_of_service, 1);
	alloc_counts_by_type(x->a, 99, &c);
	assert_int_equal(c.total, 0);
}

static void
test_invalid(void **state)
{
	struct fx *x = *state;
	uint32_t out[ALLOC_MAX_SPOTS];
	size_t n = 5;

	assert_int_equal(alloc_choose(x->a, x->gx, x->car, 0, out, &n),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(n, 0);
	assert_int_equal(alloc_choose(x->a, 17, x->car, 0, out, &n),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(alloc_choose(x->a, -1, x->car, 0, out, &n),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(alloc_choose(x->a, x->g0, 3, 0, out, &n),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(alloc_choose(x->a, x->g0, x->car, 0, NULL, &n),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(alloc_choose(x->a, x->g0, x->car, 0, out, NULL),
	    PK_E_INVALID_PARAMS);
	alloc_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strategy_names),
		cmocka_unit_test_setup_teardown(test_nearest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_farthest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ties_to_lower_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fits_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_needs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contiguous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contiguous_run_distance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_out_of_service, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
