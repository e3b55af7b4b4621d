/* test_role.c - the names of the protocol's roles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "role.h"

static void
test_roles(void **state)
{
	enum role r = ROLE_NONE;

	(void)state;
	assert_int_equal(role_parse("gate", &r), 0);
	assert_int_equal(r, ROLE_GATE);
	assert_int_equal(role_parse("kiosk", &r), 0);
	assert_int_equal(r, ROLE_KIOSK);
	assert_int_equal(role_parse("operator", &r), 0);
	assert_int_equal(r, ROLE_OPERATOR);
	assert_int_equal(role_parse("Operator", &r), -1);
	assert_int_equal(role_parse("", &r), -1);
	assert_int_equal(role_parse("none", &r), -1);
	assert_int_equal(r, ROLE_OPERATOR);	/* left alone on failure */
	assert_string_equal(role_name(ROLE_GATE), "gate");
	assert_string_equal(role_name(ROLE_KIOSK), "kiosk");
	assert_string_equal(role_name(ROLE_OPERATOR), "operator");
	assert_string_equal(role_name(ROLE_NONE), "none");
	assert_string_equal(role_name((enum role)(ROLE_GATE | ROLE_KIOSK)), "none");
	/* The table: name i is the role 1 << i. */
	for (int i = 0; role_names[i] != NULL; i++) {
		assert_int_equal(role_parse(role_names[i], &r), 0);
		assert_int_equal(r, 1 << i);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
