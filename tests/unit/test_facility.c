/* test_facility.c - unit tests of the facility model and its validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "facility_load.h"

/* The facility of config.md, written with ' for " to keep it readable. */
static const char demo_facility[] =
    "{ 'name': 'Demo Garage', 'timezone': 'Europe/Berlin', 'currency': 'EUR',"
    "  'level_distance': 40,"
    "  'gates': ["
    "    { 'id': 'north', 'role': 'entry', 'level': 0, 'x': 0,   'y': 0 },"
    "    { 'id': 'south', 'role': 'exit',  'level': 0, 'x': 120, 'y': 0 },"
    "    { 'id': 'ramp',  'role': 'both',  'level': 1, 'x': 60,  'y': 30 } ],"
    "  'rows': ["
    "    { 'level': 0, 'zone': 'A', 'type': 'compact',   'count': 20, 'x': 5, 'y': 10, 'dx': 2.5, 'dy': 0 },"
    "    { 'level': 0, 'zone': 'B', 'type': 'regular',   'count': 40, 'x': 5, 'y': 20, 'dx': 3,   'dy': 0, 'tags': ['ev'] },"
    "    { 'level': 1, 'zone': 'C', 'type': 'oversized', 'count': 6,  'x': 5, 'y': 40, 'dx': 4,   'dy': 0, 'first': 1 } ] }";

/* Parses text written with ' for " strictly, root naming it in messages. */
static cJSON *
parse_as(const char *text, const char *root, char *err, size_t errlen)
{
	char *s = strdup(text);
	cJSON *j;

	assert_non_null(s);
	for (char *p = s; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	j = json_parse(s, strlen(s), root, &(struct jerr){ err, errlen, 0 });
	free(s);
	return j;
}

static cJSON *
parse_quoted(const char *text)
{
	char err[256] = "";
	cJSON *j = parse_as(text, "", err, sizeof(err));

	if (j == NULL)
		fail_msg("bad test JSON (%s): %s", err, text);
	return j;
}

/*
 * The facility of fac and veh: a duplicate key is refused by the parser,
 * anything else by the loader, with one message either way.
 */
static facility *
load(const char *fac, const char *veh, char *err, size_t errlen)
{
	cJSON *jf = parse_as(fac, "facility", err, errlen);
	cJSON *jv = veh != NULL && jf != NULL ?
	    parse_as(veh, "vehicles", err, errlen) : NULL;
	facility *f = NULL;

	if (jf != NULL && (veh == NULL || jv != NULL))
		f = facility_from_json(jf, jv, &(struct jerr){ err, errlen, 0 });
	cJSON_Delete(jf);
	cJSON_Delete(jv);
	return f;
}

/* Loads fac/veh, expects failure with exactly msg. */
static void
expect_error(const char *fac, const char *veh, const char *msg)
{
	char err[256];
	facility *f = load(fac, veh, err, sizeof(err));

	if (f != NULL) {
		facility_free(f);
		fail_msg("accepted, expected '%s'", msg);
	}
	assert_string_equal(err, msg);
}

/* A facility made from one row list and one gate list. */
static void
expect_rows_error(const char *rows, const char *gates, const char *msg)
{
	size_t len = strlen(rows) + (gates != NULL ? strlen(gates) : 0) + 256;
	char *buf = malloc(len);

	assert_non_null(buf);
	snprintf(buf, len, "{ 'name': 'x', 'timezone': 'UTC', "
	    "'currency': 'EUR', 'level_distance': 10, 'gates': %s, 'rows': %s }",
	    gates != NULL ? gates :
	    "[ { 'id': 'g', 'role': 'entry', 'level': 0, 'x': 0, 'y': 0 } ]",
	    rows);
	expect_error(buf, NULL, msg);
	free(buf);
}

#define ROW_A "{ 'level': 0, 'zone': 'A', 'type': 'regular', 'count': 3, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 }"
static const char row_a[] = ROW_A;
static const char rows_a[] = "[ " ROW_A " ]";

static void
test_demo_loads(void **state)
{
	char err[256] = "";
	facility *f = load(demo_facility, NULL, err, sizeof(err));
	(void)state;

	assert_non_null(f);
	assert_string_equal(err, "");
	assert_string_equal(facility_name(f), "Demo Garage");
	assert_string_equal(facility_timezone(f), "Europe/Berlin");
	assert_string_equal(facility_currency(f), "EUR");
	assert_int_equal(facility_level_distance_milli(f), 40000);
	assert_int_equal(facility_spot_count(f), 66);
	assert_int_equal(facility_row_count(f), 3);
	assert_int_equal(facility_level_count(f), 2);
	assert_int_equal(facility_level_value(f, 0), 0);
	assert_int_equal(facility_level_value(f, 1), 1);
	facility_free(f);
	facility_free(NULL);
}

static void
test_spot_ids(void **state)
{
	char err[256], buf[48];
	uint32_t s;
	facility *f = load(demo_facility, NULL, err, sizeof(err));
	(void)state;

	assert_non_null(f);
	facility_spot_name(f, 0, buf);
	assert_string_equal(buf, "A-01");
	facility_spot_name(f, 19, buf);
	assert_string_equal(buf, "A-20");
	facility_spot_name(f, 20, buf);
	assert_string_equal(buf, "B-01");
	facility_spot_name(f, 65, buf);
	assert_string_equal(buf, "C-06");
	assert_int_equal(facility_spot_lookup(f, "A-07", &s), 0);
	assert_int_equal(s, 6);
	assert_int_equal(facility_spot_lookup(f, "B-40", &s), 0);
	assert_int_equal(s, 59);
	assert_int_equal(facility_spot_lookup(f, "C-01", &s), 0);
	assert_int_equal(s, 60);
	/* Only the generated text names a spot. */
	assert_int_equal(facility_spot_lookup(f, "A-7", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "A-007", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "A-21", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "A-00", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "a-01", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "Z-01", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "A-", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "-01", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "A01", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "A-+1", &s), -1);
	assert_string_equal(facility_spot_zone(f, 25), "B");
	assert_string_equal(facility_spot_type(f, 25), "regular");
	assert_int_equal(facility_spot_type_index(f, 25), 1);
	assert_int_equal(facility_spot_level(f, 61), 1);
	assert_int_equal(facility_spot_level_index(f, 61), 1);
	facility_free(f);
}

static void
test_first_and_padding(void **state)
{
	char err[256], buf[48];
	uint32_t s;
	facility *f = load("{ 'gates': [ { 'id': 'g', 'role': 'both', 'level': -1,"
	    " 'x': 0, 'y': 0 } ], 'rows': ["
	    " { 'level': -1, 'zone': 'B', 'type': 't', 'count': 100, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 },"
	    " { 'level': -1, 'zone': 'C', 'type': 't', 'count': 5, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'first': 98 },"
	    " { 'level': -1, 'zone': 'C', 'type': 't', 'count': 2, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'first': 0 },"
	    " { 'level': 2, 'zone': 'P-1', 'type': 'u', 'count': 2, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'first': 9 } ] }",
	    NULL, err, sizeof(err));
	(void)state;

	assert_non_null(f);
	facility_spot_name(f, 99, buf);
	assert_string_equal(buf, "B-100");
	facility_spot_name(f, 8, buf);
	assert_string_equal(buf, "B-09");
	facility_spot_name(f, 9, buf);
	assert_string_equal(buf, "B-10");
	facility_spot_name(f, 100, buf);
	assert_string_equal(buf, "C-98");
	facility_spot_name(f, 102, buf);
	assert_string_equal(buf, "C-100");
	facility_spot_name(f, 105, buf);
	assert_string_equal(buf, "C-00");
	facility_spot_name(f, 107, buf);
	assert_string_equal(buf, "P-1-09");
	facility_spot_name(f, 108, buf);
	assert_string_equal(buf, "P-1-10");
	assert_int_equal(facility_spot_lookup(f, "B-100", &s), 0);
	assert_int_equal(s, 99);
	assert_int_equal(facility_spot_lookup(f, "C-101", &s), 0);
	assert_int_equal(s, 103);
	assert_int_equal(facility_spot_lookup(f, "C-00", &s), 0);
	assert_int_equal(s, 105);
	assert_int_equal(facility_spot_lookup(f, "C-01", &s), 0);
	assert_int_equal(s, 106);
	assert_int_equal(facility_spot_lookup(f, "C-02", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "C-97", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "C-102", &s), 0);
	assert_int_equal(s, 104);
	/* Every name written is the one the look-up takes back. */
	for (uint32_t k = 0; k < facility_spot_count(f); k++) {
		facility_spot_name(f, k, buf);
		assert_int_equal(facility_spot_lookup(f, buf, &s), 0);
		assert_int_equal(s, k);
	}
	assert_int_equal(facility_spot_lookup(f, "C-103", &s), -1);
	assert_int_equal(facility_spot_lookup(f, "P-1-10", &s), 0);
	assert_int_equal(s, 108);
	assert_int_equal(facility_spot_lookup(f, "B-0100", &s), -1);
	assert_int_equal(facility_level_count(f), 2);
	assert_int_equal(facility_level_value(f, 0), -1);
	assert_int_equal(facility_level_value(f, 1), 2);
	/* Defaults for the optional header keys. */
	assert_string_equal(facility_currency(f), "EUR");
	assert_string_equal(facility_timezone(f), "UTC");
	assert_string_equal(facility_name(f), "");
	/* Default classes keep only types the rows have: none here. */
	assert_int_equal(facility_class_count(f), 4);
	{
		int n, t, c;
		facility_class_fits(f, facility_class_lookup(f, "car"), &n);
		assert_int_equal(n, 0);
		assert_int_equal(facility_class_contiguous(f,
		    facility_class_lookup(f, "bus"), &t, &c), -1);
	}
	facility_free(f);
}

static void
test_distances(void **state)
{
	char err[256];
	facility *f = load(demo_facility, NULL, err, sizeof(err));
	int north, ramp, south;
	uint32_t s;
	int64_t x, y;
	(void)state;

	assert_non_null(f);
	north = facility_gate_lookup(f, "north");
	south = facility_gate_lookup(f, "south");
	ramp = facility_gate_lookup(f, "ramp");
	assert_int_equal(north, 0);
	assert_int_equal(south, 1);
	assert_int_equal(ramp, 2);
	/* A-01 at (5, 10) level 0. */
	assert_int_equal(facility_distance_milli(f, north, 0), 15000);
	/* A-02 at (7.5, 10). */
	assert_int_equal(facility_distance_milli(f, north, 1), 17500);
	facility_spot_xy_milli(f, 1, &x, &y);
	assert_int_equal(x, 7500);
	assert_int_equal(y, 10000);
	/* From ramp (60, 30) level 1 to A-01: 55 + 20 + 40. */
	assert_int_equal(facility_distance_milli(f, ramp, 0), 115000);
	/* South (120, 0) to B-40 at (5 + 39*3, 20) = (122, 20): 2 + 20. */
	assert_int_equal(facility_spot_lookup(f, "B-40", &s), 0);
	assert_int_equal(facility_distance_milli(f, south, s), 22000);
	/* C-06 at (25, 40) level 1, from north: 25 + 40 + 40. */
	assert_int_equal(facility_spot_lookup(f, "C-06", &s), 0);
	assert_int_equal(facility_distance_milli(f, north, s), 105000);
	facility_free(f);
}

static void
test_lookups(void **state)
{
	char err[256];
	facility *f = load(demo_facility, NULL, err, sizeof(err));
	struct jerr e = { err, sizeof(err), 0 };
	cJSON *needs;
	uint64_t mask;
	const int *fits;
	int n, t, c;
	(void)state;

	assert_non_null(f);
	assert_int_equal(facility_gate_count(f), 3);
	assert_int_equal(facility_gate_lookup(f, "nope"), -1);
	assert_string_equal(facility_gate_id(f, 2), "ramp");
	assert_int_equal(facility_gate_role(f, 0), FAC_GATE_ENTRY);
	assert_int_equal(facility_gate_role(f, 1), FAC_GATE_EXIT);
	assert_int_equal(facility_gate_role(f, 2), FAC_GATE_BOTH);
	assert_int_equal(facility_gate_level(f, 2), 1);

	assert_int_equal(facility_type_count(f), 3);
	assert_string_equal(facility_type_name(f, 0), "compact");
	assert_string_equal(facility_type_name(f, 1), "regular");
	assert_string_equal(facility_type_name(f, 2), "oversized");
	assert_int_equal(facility_type_lookup(f, "oversized"), 2);
	assert_int_equal(facility_type_lookup(f, "huge"), -1);

	/* Default classes, in config.md order. */
	assert_int_equal(facility_class_count(f), 4);
	assert_string_equal(facility_class_name(f, 0), "motorcycle");
	assert_string_equal(facility_class_name(f, 3), "bus");
	assert_int_equal(facility_class_lookup(f, "van"), 2);
	assert_int_equal(facility_class_lookup(f, "Van"), -1);
	fits = facility_class_fits(f, 0, &n);
	assert_int_equal(n, 3);
	assert_int_equal(fits[0], 0);
	assert_int_equal(fits[1], 1);
	assert_int_equal(fits[2], 2);
	fits = facility_class_fits(f, 2, &n);
	assert_int_equal(n, 2);
	assert_int_equal(fits[0], 2);
	assert_int_equal(fits[1], 1);
	assert_int_equal(facility_class_contiguous(f, 1, &t, &c), -1);
	assert_int_equal(facility_class_contiguous(f, 3, &t, &c), 0);
	assert_int_equal(t, 1);
	assert_int_equal(c, 5);

	assert_int_equal(facility_tag_count(f), 1);
	assert_string_equal(facility_tag_name(f, 0), "ev");
	assert_int_equal(facility_spot_tags(f, 0), 0);
	assert_int_equal(facility_spot_tags(f, 20), 1);
	assert_int_equal(facility_tag_lookup(f, "ev"), 0);
	assert_int_equal(facility_tag_lookup(f, "roof"), -1);
	needs = parse_quoted("['ev']");
	assert_int_equal(facility_tags_mask(f, needs, "n", &mask, &e), 0);
	assert_int_equal(mask, 1);
	cJSON_Delete(needs);
	needs = parse_quoted("[]");
	assert_int_equal(facility_tags_mask(f, needs, "n", &mask, &e), 0);
	assert_int_equal(mask, 0);
	cJSON_Delete(needs);
	assert_int_equal(facility_tags_mask(f, NULL, "n", &mask, &e), 0);
	needs = parse_quoted("['ev', 'roof']");
	assert_int_equal(facility_tags_mask(f, needs, "n", &mask, &e), -1);
	assert_int_equal(mask, 0);
	assert_string_equal(err, "n[1]: no row has the tag 'roof'");
	cJSON_Delete(needs);
	needs = parse_quoted("['ev', 3]");
	assert_int_equal(facility_tags_mask(f, needs, "n", &mask, &e), -1);
	assert_string_equal(err, "n[1]: must be a string");
	cJSON_Delete(needs);
	needs = parse_quoted("'ev'");
	assert_int_equal(facility_tags_mask(f, needs, "params.needs", &mask, &e), -1);
	assert_string_equal(err, "params.needs: must be an array");
	cJSON_Delete(needs);
	facility_free(f);
}

static void
test_custom_vehicles(void **state)
{
	char err[256];
	facility *f = load(demo_facility, "{ 'trike': { 'fits': ['regular'] },"
	    " 'coach': { 'fits': [], 'contiguous': { 'type': 'compact', 'count': 64 } } }",
	    err, sizeof(err));
	int n, t, c;
	(void)state;

	assert_non_null(f);
	assert_int_equal(facility_class_count(f), 2);
	assert_int_equal(facility_class_lookup(f, "car"), -1);
	assert_int_equal(facility_class_lookup(f, "coach"), 1);
	facility_class_fits(f, 1, &n);
	assert_int_equal(n, 0);
	assert_int_equal(facility_class_contiguous(f, 1, &t, &c), 0);
	assert_int_equal(t, 0);
	assert_int_equal(c, 64);
	facility_free(f);
}

static void
test_errors_facility(void **state)
{
	(void)state;
	expect_error("[]", NULL, "facility: must be an object");
	expect_error("{ 'gates': [], 'rows': [], 'bogus': 1 }", NULL,
	    "facility.bogus: unknown key");
	expect_error("{ 'name': 'a', 'name': 'b' }", NULL,
	    "facility.name: duplicate key");
	expect_error("{ 'name': 'a' }", NULL,
	    "facility.rows: is required");
	expect_error("{ 'rows': {} }", NULL, "facility.rows: must be an array");
	expect_error("{ 'rows': [] }", NULL, "facility.rows: must not be empty");
	expect_error("{ 'currency': 'eur' }", NULL,
	    "facility.currency: must be 3 upper-case letters");
	expect_error("{ 'currency': 'EURO' }", NULL,
	    "facility.currency: must be 3 upper-case letters");
	expect_error("{ 'name': 7 }", NULL, "facility.name: must be a string");
	expect_error("{ 'level_distance': 'far' }", NULL,
	    "facility.level_distance: must be a number");
	expect_error("{ 'level_distance': -1 }", NULL,
	    "facility.level_distance: must be between 0 and 1000000000");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'regular', 'count': 3,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]", "[]",
	    "facility.gates: at least one gate with role entry or both is required");
	expect_rows_error(rows_a,
	    "[ { 'id': 'o', 'role': 'exit', 'level': 0, 'x': 0, 'y': 0 } ]",
	    "facility.gates: at least one gate with role entry or both is required");
	expect_error("{ 'rows': [ { 'level': 0, 'zone': 'A', 'type': 'regular',"
	    " 'count': 3, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ] }", NULL,
	    "facility.gates: is required");
}

static void
test_errors_rows(void **state)
{
	char rows[2048];
	(void)state;

	snprintf(rows, sizeof(rows), "[ %s, %s, %s, { 'level': 0, 'zone': 'D',"
	    " 'type': 'regular', 'count': 0, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]",
	    row_a, "{ 'level': 0, 'zone': 'B', 'type': 'regular', 'count': 3, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 }",
	    "{ 'level': 0, 'zone': 'C', 'type': 'regular', 'count': 3, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 }");
	expect_rows_error(rows, NULL, "facility.rows[3].count: must be between 1 and 16777216");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': -4,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]", NULL,
	    "facility.rows[0].count: must be between 1 and 16777216");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': '5',"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]", NULL,
	    "facility.rows[0].count: must be an integer");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 2.5,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]", NULL,
	    "facility.rows[0].count: must be an integer");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 16777217,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]", NULL,
	    "facility.rows[0].count: must be between 1 and 16777216");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 16777216,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 }, { 'level': 0, 'zone': 'B',"
	    " 'type': 'r', 'count': 1, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]", NULL,
	    "facility.rows[1].count: total spots exceed 16777216");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 1,"
	    " 'x': 'a', 'y': 0, 'dx': 1, 'dy': 0 } ]", NULL,
	    "facility.rows[0].x: must be a number");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1 } ]", NULL,
	    "facility.rows[0].dy: is required");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'colour': 'red' } ]", NULL,
	    "facility.rows[0].colour: unknown key");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'count': 2 } ]", NULL,
	    "facility.rows[0].count: duplicate key");
	expect_rows_error("[ { 'level': 0, 'zone': 5, 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]", NULL,
	    "facility.rows[0].zone: must be a string");
	expect_rows_error("[ { 'level': 0, 'zone': '', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]", NULL,
	    "facility.rows[0].zone: must be 1..32 printable characters");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': "
	    "'abcdefghijabcdefghijabcdefghijabc', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]", NULL,
	    "facility.rows[0].type: must be 1..32 printable characters");
	expect_rows_error("[ { 'level': 0.5, 'zone': 'A', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 } ]", NULL,
	    "facility.rows[0].level: must be an integer");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'first': -1 } ]", NULL,
	    "facility.rows[0].first: must be between 0 and 1000000000");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'tags': 'ev' } ]", NULL,
	    "facility.rows[0].tags: must be an array");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'tags': ['ev', 1] } ]", NULL,
	    "facility.rows[0].tags[1]: must be a string");
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'tags': ['ev', ''] } ]", NULL,
	    "facility.rows[0].tags[1]: must be 1..32 printable characters");
	expect_rows_error("[ 7 ]", NULL, "facility.rows[0]: must be an object");
}

static void
test_errors_duplicate_ids(void **state)
{
	(void)state;
	expect_rows_error("[ { 'level': 0, 'zone': 'A', 'type': 'r', 'count': 5,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 },"
	    " { 'level': 0, 'zone': 'B', 'type': 'r', 'count': 10,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 },"
	    " { 'level': 0, 'zone': 'B', 'type': 'r', 'count': 3,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'first': 7 } ]", NULL,
	    "facility.rows[2]: duplicate spot id B-07");
	/* The first offending row in order, even if sorting meets others first. */
	expect_rows_error("[ { 'level': 0, 'zone': 'Z', 'type': 'r', 'count': 5,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0 },"
	    " { 'level': 0, 'zone': 'Z', 'type': 'r', 'count': 2,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'first': 3 },"
	    " { 'level': 0, 'zone': 'Z', 'type': 'r', 'count': 100,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'first': 2 } ]", NULL,
	    "facility.rows[1]: duplicate spot id Z-03");
	expect_rows_error("[ { 'level': 0, 'zone': 'Q', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'first': 100 },"
	    " { 'level': 0, 'zone': 'Q', 'type': 'r', 'count': 1,"
	    " 'x': 0, 'y': 0, 'dx': 1, 'dy': 0, 'first': 100 } ]", NULL,
	    "facility.rows[1]: duplicate spot id Q-100");
}

static void
test_errors_gates(void **state)
{
	(void)state;
	expect_rows_error(rows_a, "[ { 'id': 'g', 'role': 'entry', 'level': 0,"
	    " 'x': 0, 'y': 0 }, { 'id': 'h', 'role': 'in', 'level': 0, 'x': 0,"
	    " 'y': 0 } ]", "facility.gates[1].role: must be entry, exit or both");
	expect_rows_error(rows_a, "[ { 'id': 'g', 'role': 'entry', 'level': 3,"
	    " 'x': 0, 'y': 0 } ]", "facility.gates[0].level: no row on level 3");
	expect_rows_error(rows_a, "[ { 'id': 'north', 'role': 'entry', 'level': 0,"
	    " 'x': 0, 'y': 0 }, { 'id': 'north', 'role': 'exit', 'level': 0,"
	    " 'x': 1, 'y': 0 } ]", "facility.gates[1].id: duplicate gate id 'north'");
	expect_rows_error(rows_a, "[ { 'id': 'g', 'role': 'entry', 'level': 0,"
	    " 'x': 0 } ]", "facility.gates[0].y: is required");
	expect_rows_error(rows_a, "[ { 'id': 'g', 'role': 'entry', 'level': 0,"
	    " 'x': 0, 'y': 0, 'z': 1 } ]", "facility.gates[0].z: unknown key");
	expect_rows_error(rows_a, "[ { 'id': 'g', 'role': 'entry', 'level': 0,"
	    " 'x': 0, 'y': 0, 'x': 1 } ]", "facility.gates[0].x: duplicate key");
	expect_rows_error(rows_a, "[ { 'role': 'entry', 'level': 0,"
	    " 'x': 0, 'y': 0 } ]", "facility.gates[0].id: is required");
	expect_rows_error(rows_a, "[ { 'id': 'g', 'level': 0,"
	    " 'x': 0, 'y': 0 } ]", "facility.gates[0].role: is required");
	expect_rows_error(rows_a, "[ { 'id': 'g', 'role': 1, 'level': 0,"
	    " 'x': 0, 'y': 0 } ]", "facility.gates[0].role: must be entry, exit or both");
	expect_rows_error(rows_a, "{}", "facility.gates: must be an array");
}

static void
test_errors_vehicles(void **state)
{
	(void)state;
	expect_error(demo_facility, "{ 'bus': { 'fits': ['huge'] } }",
	    "vehicles.bus.fits[0]: unknown spot type 'huge'");
	expect_error(demo_facility, "{ 'car': { 'fits': ['regular', 'regular'] } }",
	    "vehicles.car.fits[1]: duplicate type 'regular'");
	expect_error(demo_facility, "{ 'bus': { 'fits': ['oversized'],"
	    " 'contiguous': { 'type': 'giant', 'count': 5 } } }",
	    "vehicles.bus.contiguous.type: unknown spot type 'giant'");
	expect_error(demo_facility, "{ 'bus': { 'fits': ['oversized'],"
	    " 'contiguous': { 'type': 'regular', 'count': 65 } } }",
	    "vehicles.bus.contiguous.count: must be between 1 and 64");
	expect_error(demo_facility, "{ 'bus': { 'fits': ['oversized'],"
	    " 'contiguous': { 'type': 'regular' } } }",
	    "vehicles.bus.contiguous.count: is required");
	expect_error(demo_facility, "{ 'bus': { 'fits': ['oversized'],"
	    " 'contiguous': { 'type': 'regular', 'count': 2, 'gap': 0 } } }",
	    "vehicles.bus.contiguous.gap: unknown key");
	expect_error(demo_facility, "{ 'car': { 'fits': ['regular'] },"
	    " 'car': { 'fits': ['compact'] } }", "vehicles.car: duplicate key");
	expect_error(demo_facility, "{ 'car': { 'fits': ['regular'], 'wheels': 4 } }",
	    "vehicles.car.wheels: unknown key");
	expect_error(demo_facility, "{ 'car': { } }",
	    "vehicles.car.fits: is required");
	expect_error(demo_facility, "{ 'car': { 'fits': [] } }",
	    "vehicles.car.fits: must not be empty");
	expect_error(demo_facility, "{ 'car': { 'fits': 'regular' } }",
	    "vehicles.car.fits: must be an array");
	expect_error(demo_facility, "{ 'car': { 'fits': [1] } }",
	    "vehicles.car.fits[0]: must be a string");
	expect_error(demo_facility, "{ 'car': [] }",
	    "vehicles.car: must be an object");
	expect_error(demo_facility, "{}",
	    "vehicles: must define at least one class");
	expect_error(demo_facility, "[]", "vehicles: must be an object");
}

static void
test_errors_tags_cap(void **state)
{
	char rows[8192];
	size_t off;
	(void)state;

	off = (size_t)snprintf(rows, sizeof(rows), "[ { 'level': 0, 'zone': 'A',"
	    " 'type': 'r', 'count': 1, 'x': 0, 'y': 0, 'dx': 1, 'dy': 0,"
	    " 'tags': [");
	for (int i = 0; i < 65; i++)
		off += (size_t)snprintf(rows + off, sizeof(rows) - off, "%s't%d'",
		    i ? ", " : "", i);
	snprintf(rows + off, sizeof(rows) - off, "] } ]");
	expect_rows_error(rows, NULL,
	    "facility.rows[0].tags[64]: more than 64 distinct tags");
}


/* A facility with rows_a, one gate and the given location member ("" for none). */
static facility *
load_located(const char *location, char *err, size_t errlen)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "{ 'name': 'x', 'gates': [ { 'id': 'g', "
	    "'role': 'entry', 'level': 0, 'x': 0, 'y': 0 } ], 'rows': %s%s }",
	    rows_a, location);
	return load(buf, NULL, err, errlen);
}

static void
expect_location(const char *location, int64_t lat, int64_t lon)
{
	char err[256] = "";
	facility *f = load_located(location, err, sizeof(err));
	int64_t la = -1, lo = -1;

	if (f == NULL)
		fail_msg("%s: refused: %s", location, err);
	assert_int_equal(facility_location_e7(f, &la, &lo), 0);
	assert_int_equal(la, lat);
	assert_int_equal(lo, lon);
	facility_free(f);
}

static void
expect_location_error(const char *location, const char *msg)
{
	char err[256] = "";
	facility *f = load_located(location, err, sizeof(err));

	if (f != NULL) {
		facility_free(f);
		fail_msg("%s: accepted, expected '%s'", location, msg);
	}
	assert_string_equal(err, msg);
}

static void
test_location(void **state)
{
	char err[256] = "";
	int64_t la = 7, lo = 7;
	facility *f;

	(void)state;
	/* Without it (or null) the facility has no place on the map. */
	f = load_located("", err, sizeof(err));
	assert_non_null(f);
	assert_int_equal(facility_location_e7(f, &la, &lo), -1);
	assert_int_equal(la, 7);
	facility_free(f);
	f = load_located(", 'location': null", err, sizeof(err));
	assert_non_null(f);
	assert_int_equal(facility_location_e7(f, &la, &lo), -1);
	facility_free(f);

	expect_location(", 'location': { 'lat': 52.52, 'lon': 13.405 }",
	    525200000, 134050000);
	expect_location(", 'location': { 'lon': -0.1276474, 'lat': -51.5072178 }",
	    -515072178, -1276474);
	/* Past 7 decimals (a centimetre) the rest is rounded away. */
	expect_location(", 'location': { 'lat': 1.123456789, 'lon': 0 }",
	    11234568, 0);
	/* The bounds are Redis's (Web Mercator latitude). */
	expect_location(", 'location': { 'lat': 85.0511287, 'lon': 180 }",
	    850511287, 1800000000);
	expect_location(", 'location': { 'lat': -85.0511287, 'lon': -180 }",
	    -850511287, -1800000000);

	expect_location_error(", 'location': { 'lat': 85.06, 'lon': 0 }",
	    "facility.location.lat: must be between -85.0511287 and 85.0511287");
	expect_location_error(", 'location': { 'lat': 0, 'lon': 180.5 }",
	    "facility.location.lon: must be between -180 and 180");
	expect_location_error(", 'location': { 'lat': 1 }",
	    "facility.location.lon: is required");
	expect_location_error(", 'location': { 'lon': 1 }",
	    "facility.location.lat: is required");
	expect_location_error(", 'location': { 'lat': '52', 'lon': 1 }",
	    "facility.location.lat: must be a number");
	expect_location_error(", 'location': { 'lat': 1, 'lon': 1, 'alt': 3 }",
	    "facility.location.alt: unknown key");
	expect_location_error(", 'location': [ 52, 13 ]",
	    "facility.location: must be an object or null");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_loads),
		cmocka_unit_test(test_spot_ids),
		cmocka_unit_test(test_first_and_padding),
		cmocka_unit_test(test_distances),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_custom_vehicles),
		cmocka_unit_test(test_errors_facility),
		cmocka_unit_test(test_errors_rows),
		cmocka_unit_test(test_errors_duplicate_ids),
		cmocka_unit_test(test_errors_gates),
		cmocka_unit_test(test_errors_vehicles),
		cmocka_unit_test(test_errors_tags_cap),
		cmocka_unit_test(test_location),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
