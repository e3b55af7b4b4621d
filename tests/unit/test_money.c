/* test_money.c - amounts for people by ISO 4217 decimals. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "money.h"

static void
test_decimals(void **state)
{
	(void)state;
	assert_int_equal(money_decimals("EUR"), 2);
	assert_int_equal(money_decimals("USD"), 2);
	assert_int_equal(money_decimals("JPY"), 0);
	assert_int_equal(money_decimals("KRW"), 0);
	assert_int_equal(money_decimals("BHD"), 3);
	assert_int_equal(money_decimals("KWD"), 3);
	/* Unknown codes: the common case. */
	assert_int_equal(money_decimals("ZZZ"), 2);
}

static void
test_format(void **state)
{
	char b[MONEY_BUFSZ];

	(void)state;
	assert_string_equal(money_format(b, 800, "EUR"), "8.00 EUR");
	assert_string_equal(money_format(b, 5, "EUR"), "0.05 EUR");
	assert_string_equal(money_format(b, 0, "EUR"), "0.00 EUR");
	assert_string_equal(money_format(b, 123456, "USD"), "1234.56 USD");
	assert_string_equal(money_format(b, 800, "JPY"), "800 JPY");
	assert_string_equal(money_format(b, 8000, "BHD"), "8.000 BHD");
	assert_string_equal(money_format(b, 7, "BHD"), "0.007 BHD");
	assert_string_equal(money_format(b, -250, "EUR"), "-2.50 EUR");
	/* The extremes fit the buffer and keep every digit. */
	assert_string_equal(money_format(b, INT64_MAX, "EUR"),
	    "92233720368547758.07 EUR");
	assert_string_equal(money_format(b, INT64_MIN, "BHD"),
	    "-9223372036854775.808 BHD");
	assert_string_equal(money_format(b, INT64_MIN, "JPY"),
	    "-9223372036854775808 JPY");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decimals),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
