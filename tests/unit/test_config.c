/* test_config.c - the core's sections of the configuration file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "jread.h"
#include "testutil.h"

#define MINI_FAC \
    "'facility': { 'gates': [ { 'id': 'north', 'role': 'both', 'level': 0, 'x': 0, 'y': 0 } ]," \
    "  'rows': [ { 'level': 0, 'zone': 'A', 'type': 'regular', 'count': 2, 'x': 1, 'y': 1, 'dx': 1, 'dy': 0 } ] }"

static struct config *
parse(const char *text, char *err, size_t errlen)
{
	char *s = tu_quote(text);
	struct config *c = config_parse(s, strlen(s),
	    &(struct jerr){ err, errlen, 0 });

	free(s);
	return c;
}

static void
expect_error(const char *text, const char *msg)
{
	char err[256] = "";
	struct config *c = parse(text, err, sizeof(err));

	if (c != NULL) {
		config_free(c);
		fail_msg("accepted: %s", text);
	}
	if (strcmp(err, msg) != 0)
		fail_msg("message '%s', want '%s'", err, msg);
}

static void
test_core_only(void **state)
{
	char err[256] = "";
	struct config *c = parse("{ " MINI_FAC ", 'tariff': { " TU_MIN_TARIFF_KEYS ", 'lost_ticket': 700 },"
	    " 'strategy': 'first', 'waitlist': { 'max_depth': 3 },"
	    " 'reservations': { 'max_fraction': 0.125 },"
	    " 'limits': { 'closed_tickets': 9 } }", err, sizeof(err));

	(void)state;
	if (c == NULL)
		fail_msg("refused: %s", err);
	assert_int_equal(facility_spot_count(c->fac), 2);
	assert_int_equal(tariff_lost_fee(c->tariff), 700);
	assert_int_equal(c->strategy, ALLOC_FIRST);
	assert_int_equal(c->waitlist.max_depth, 3);
	assert_int_equal(c->waitlist.max_timeout_s, 1800);	/* default */
	assert_true(c->reservations.max_fraction == 0.125);
	assert_int_equal(c->reservations.hold_before_s, 900);
	assert_int_equal(c->registry.retention_hours, 24);
	assert_int_equal(c->registry.erase_within_s, 3600);
	assert_int_equal(c->limits.closed_tickets, 9);
	/* Payment methods: config.md's three unless given. */
	assert_int_equal(c->n_payment_methods, 3);
	assert_true(config_payment_method(c, "card"));
	assert_false(config_payment_method(c, "bitcoin"));
	config_free(c);
	c = parse("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'payment_methods': ['cash', 'voucher_2'] }",
	    err, sizeof(err));
	if (c == NULL)
		fail_msg("refused: %s", err);
	assert_int_equal(c->n_payment_methods, 2);
	assert_true(config_payment_method(c, "voucher_2"));
	assert_false(config_payment_method(c, "card"));
	config_free(c);
	config_free(NULL);
}

static void
test_core_errors(void **state)
{
	(void)state;
	/* Alone, the core refuses what only the daemon reads. */
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'listen': '127.0.0.1:1' }",
	    "listen: unknown key");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'limits': { 'max_line': 100 } }",
	    "limits.max_line: unknown key");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'limits': 3 }",
	    "limits: must be an object");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'reservations': { 'max_fraction': 0.1234567 } }",
	    "reservations.max_fraction: must have at most 6 decimals");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'registry': { 'retention_hours': -1 } }",
	    "registry.retention_hours: must be between 0 and 87600");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'registry': { 'erase_within_s': 604801 } }",
	    "registry.erase_within_s: must be between 0 and 604800");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'registry': { 'erase_within': 5 } }",
	    "registry.erase_within: unknown key");
	expect_error("{ 'tariff': " TU_MIN_TARIFF " }", "facility: is required");
	expect_error("[]", "config: must be an object");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'payment_methods': [] }",
	    "payment_methods: must name at least one method");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'payment_methods': ['cash', 'Card'] }",
	    "payment_methods[1]: must be 1 to 16 characters of a-z 0-9 _ -");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'payment_methods': ['cash', 'cash'] }",
	    "payment_methods[1]: 'cash' is listed twice");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'payment_methods': 'cash' }",
	    "payment_methods: must be an array");
	expect_error("{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ", 'strategy': 'fill', 'strategy': 'first' }",
	    "strategy: duplicate key");
	expect_error("{\n " MINI_FAC ",\n 'tariff': " TU_MIN_TARIFF ",\n}",
	    "config: line 4, column 1: member name expected");
}

/* Another reader shares the root: config_from_json leaves its keys alone. */
static void
test_shared_root(void **state)
{
	static const char *const mine[] = { "listen", NULL };
	char err[256] = "";
	struct jerr e = { err, sizeof(err), 0 };
	char *s = tu_quote("{ 'listen': 'x', " MINI_FAC ", 'tariff': " TU_MIN_TARIFF ","
	    " 'limits': { 'closed_tickets': 1, 'max_line': 100 } }");
	cJSON *root = config_json(s, strlen(s), &e);
	struct config *c;

	(void)state;
	assert_non_null(root);
	c = config_from_json(root, &e);
	assert_non_null(c);
	assert_int_equal(c->limits.closed_tickets, 1);
	config_free(c);
	assert_int_equal(jr_keys(root, "", mine, config_keys, &e), 0);
	assert_int_equal(jr_keys(cJSON_GetObjectItemCaseSensitive(root, "limits"),
	    "limits", config_limits_keys, NULL, &e), -1);
	assert_string_equal(err, "limits.max_line: unknown key");
	cJSON_Delete(root);
	free(s);
}

static void
test_check_tariff(void **state)
{
	char err[256] = "";
	struct jerr e = { err, sizeof(err), 0 };
	facility *f = tu_facility(TU_FACILITY, "{ 'car': { 'fits': ['regular'] } }");
	tariff *t = tu_tariff("{ 'class_multiplier': { 'car': 1, 'bus': 2 } }");
	tariff *u = tu_tariff("{ 'class_multiplier': { 'cars': 1 } }");

	(void)state;
	/* The contract's four classes are always known. */
	assert_int_equal(config_check_tariff(f, t, "tariff", &e), 0);
	assert_int_equal(config_check_tariff(f, u, "params.set", &e), -1);
	assert_string_equal(err, "params.set.class_multiplier.cars: no such vehicle class");
	tariff_free(t);
	tariff_free(u);
	facility_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core_only),
		cmocka_unit_test(test_core_errors),
		cmocka_unit_test(test_shared_root),
		cmocka_unit_test(test_check_tariff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
