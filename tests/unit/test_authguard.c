/* test_authguard.c - unit tests of failed-auth limits per address (proto/authguard.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authguard.h"

#define T0 1000000

/* Four failures are free; the fifth makes the address wait 1 s, then 2, 4... */
static void
test_free_failures_then_doubling(void **state)
{
	authguard *g = authguard_new(16);
	uint64_t now = T0;

	(void)state;
	for (int i = 0; i < AUTHGUARD_FREE_FAILURES - 1; i++) {
		assert_int_equal(authguard_wait(g, "10.0.0.1", now), 0);
		assert_int_equal(authguard_failed(g, "10.0.0.1", now), 0);
	}
	assert_int_equal(authguard_failed(g, "10.0.0.1", now), 1000);
	assert_int_equal(authguard_wait(g, "10.0.0.1", now), 1000);
	assert_int_equal(authguard_wait(g, "10.0.0.1", now + 999), 1);
	assert_int_equal(authguard_wait(g, "10.0.0.1", now + 1000), 0);
	assert_int_equal(authguard_failed(g, "10.0.0.1", now + 1000), 2000);
	assert_int_equal(authguard_failed(g, "10.0.0.1", now + 3000), 4000);
	/* Another address is not affected. */
	assert_int_equal(authguard_wait(g, "10.0.0.2", now + 3000), 0);
	authguard_free(g);
}

static void
test_wait_is_capped(void **state)
{
	authguard *g = authguard_new(16);
	uint64_t w = 0;

	(void)state;
	for (int i = 0; i < 40; i++)
		w = authguard_failed(g, "a", T0);
	assert_int_equal(w, AUTHGUARD_MAX_WAIT_MS);
	authguard_free(g);
}

/*
 * Nothing but time forgives: an address that alternates four wrong
 * guesses with a correct token (which the guard never hears of) is still
 * charged for every guess.
 */
static void
test_only_time_forgives(void **state)
{
	authguard *g = authguard_new(16);
	uint64_t now = T0;
	int blocked = 0;

	(void)state;
	for (int round = 0; round < 10 && !blocked; round++) {
		for (int i = 0; i < 4; i++) {
			if (authguard_wait(g, "b", now) > 0) {
				blocked = 1;
				break;
			}
			authguard_failed(g, "b", now);
		}
		now += 100;	/* the correct auth in between changes nothing */
	}
	assert_true(blocked);
	/* One failure is forgiven per AUTHGUARD_FORGIVE_MS. */
	authguard_free(g);
	g = authguard_new(16);
	for (int i = 0; i < AUTHGUARD_FREE_FAILURES - 1; i++)
		authguard_failed(g, "c", T0);
	/* Two forgiven: two more are free again before the wait. */
	now = T0 + 2 * AUTHGUARD_FORGIVE_MS;
	assert_int_equal(authguard_failed(g, "c", now), 0);
	assert_int_equal(authguard_failed(g, "c", now), 0);
	assert_int_equal(authguard_failed(g, "c", now), 1000);
	authguard_free(g);
}

/*
 * A full table forgets the address that failed least recently; a flood of
 * new addresses can never make a wait for an address that did not fail.
 */
static void
test_bounded_table_never_locks_out_newcomers(void **state)
{
	authguard *g = authguard_new(100);
	char addr[32];

	(void)state;
	for (int i = 0; i < 5; i++)
		authguard_failed(g, "guesser", T0);
	assert_true(authguard_wait(g, "guesser", T0) > 0);
	for (int i = 0; i < 10020; i++) {
		snprintf(addr, sizeof(addr), "10.%d.%d.1", i / 256, i % 256);
		authguard_failed(g, addr, T0 + 1 + (uint64_t)i);
	}
	assert_int_equal(authguard_size(g), 100);
	assert_int_equal(authguard_wait(g, "192.0.2.7", T0 + 20000), 0);
	/* Each of the recent ones still has its own count. */
	snprintf(addr, sizeof(addr), "10.%d.%d.1", 10019 / 256, 10019 % 256);
	for (int i = 0; i < 3; i++)
		assert_int_equal(authguard_failed(g, addr, T0 + 20000), 0);
	assert_int_equal(authguard_failed(g, addr, T0 + 20000), 1000);
	/* The oldest, the guesser, was forgotten to make room. */
	assert_int_equal(authguard_wait(g, "guesser", T0 + 20000), 0);
	authguard_free(g);
}

static void
test_summary(void **state)
{
	authguard *g = authguard_new(16);
	struct authguard_summary sum;

	(void)state;
	for (int i = 0; i < 7; i++)
		authguard_failed(g, "x", T0);
	authguard_failed(g, "y", T0);
	assert_true(authguard_wait(g, "x", T0) > 0);
	authguard_take_summary(g, &sum);
	assert_int_equal(sum.failures, 8);
	assert_int_equal(sum.refused, 1);
	assert_int_equal(sum.addrs, 2);
	assert_string_equal(sum.worst, "x");
	assert_int_equal(sum.worst_failures, 7);
	/* A new interval starts empty. */
	authguard_take_summary(g, &sum);
	assert_int_equal(sum.failures + sum.refused + sum.addrs, 0);
	authguard_failed(g, "y", T0);
	authguard_take_summary(g, &sum);
	assert_int_equal(sum.addrs, 1);
	assert_string_equal(sum.worst, "y");
	assert_int_equal(sum.worst_failures, 1);
	authguard_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_failures_then_doubling),
		cmocka_unit_test(test_wait_is_capped),
		cmocka_unit_test(test_only_time_forgives),
		cmocka_unit_test(test_bounded_table_never_locks_out_newcomers),
		cmocka_unit_test(test_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
