/* test_histogram.c - unit tests of the fixed-bucket histogram (daemon/histogram). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "histogram.h"

static const double three[] = { 1, 2, 5 };

static void
test_init_checks_bounds(void **state)
{
	static const double down[] = { 1, 3, 2 };
	static const double same[] = { 1, 1 };
	static const double inf[] = { 1, INFINITY };
	double many[HIST_MAX_BUCKETS + 1];
	struct histogram h;

	(void)state;
	for (size_t i = 0; i < HIST_MAX_BUCKETS + 1; i++)
		many[i] = (double)i;
	assert_int_equal(hist_init(&h, three, 3), 0);
	assert_int_equal(hist_buckets(&h), 4);
	assert_int_equal(hist_init(&h, three, 0), -1);
	assert_int_equal(hist_init(&h, NULL, 3), -1);
	assert_int_equal(hist_init(&h, down, 3), -1);
	assert_int_equal(hist_init(&h, same, 2), -1);
	assert_int_equal(hist_init(&h, inf, 2), -1);
	assert_int_equal(hist_init(&h, many, HIST_MAX_BUCKETS + 1), -1);
	/* A refused histogram still counts, all of it in +Inf. */
	hist_observe(&h, 0.5);
	assert_int_equal(hist_buckets(&h), 1);
	assert_true(isinf(hist_le(&h, 0)));
	assert_int_equal(hist_cumulative(&h, 0), 1);
	assert_int_equal(hist_init(&h, many, HIST_MAX_BUCKETS), 0);
}

static void
test_empty(void **state)
{
	struct histogram h;

	(void)state;
	assert_int_equal(hist_init(&h, three, 3), 0);
	for (size_t i = 0; i < hist_buckets(&h); i++)
		assert_int_equal(hist_cumulative(&h, i), 0);
	assert_int_equal(h.count, 0);
	assert_true(h.sum == 0.0);
}

/* le is inclusive: a value on a bound counts in that bound's bucket. */
static void
test_bounds_inclusive_and_cumulative(void **state)
{
	struct histogram h;

	(void)state;
	assert_int_equal(hist_init(&h, three, 3), 0);
	hist_observe(&h, 0.5);		/* le 1 */
	hist_observe(&h, 1.0);		/* le 1 */
	hist_observe(&h, 1.0000001);	/* le 2 */
	hist_observe(&h, 2.0);		/* le 2 */
	hist_observe(&h, 4.9);		/* le 5 */
	hist_observe(&h, 5.0);		/* le 5 */
	hist_observe(&h, 5.1);		/* +Inf */
	hist_observe(&h, 1e300);	/* +Inf */
	assert_true(hist_le(&h, 0) == 1.0);
	assert_true(hist_le(&h, 1) == 2.0);
	assert_true(hist_le(&h, 2) == 5.0);
	assert_true(isinf(hist_le(&h, 3)) && hist_le(&h, 3) > 0);
	assert_int_equal(hist_cumulative(&h, 0), 2);
	assert_int_equal(hist_cumulative(&h, 1), 4);
	assert_int_equal(hist_cumulative(&h, 2), 6);
	assert_int_equal(hist_cumulative(&h, 3), 8);
	/* Past the last bucket it stays the count. */
	assert_int_equal(hist_cumulative(&h, 99), 8);
	assert_int_equal(h.count, 8);
}

static void
test_sum_and_count(void **state)
{
	struct histogram h;

	(void)state;
	assert_int_equal(hist_init(&h, hist_seconds, hist_seconds_n), 0);
	hist_observe(&h, 0.25);
	hist_observe(&h, 0.5);
	hist_observe_n(&h, 0.125, 4);
	assert_int_equal(h.count, 6);
	assert_true(h.sum == 1.25);
	/* Nothing happens for k = 0 or NaN. */
	hist_observe_n(&h, 3.0, 0);
	hist_observe(&h, NAN);
	assert_int_equal(h.count, 6);
	assert_true(h.sum == 1.25);
	assert_int_equal(hist_cumulative(&h, hist_buckets(&h) - 1), 6);
}

/* Below the first bound (a clock step, zero): the first bucket. */
static void
test_small_and_negative(void **state)
{
	struct histogram h;

	(void)state;
	assert_int_equal(hist_init(&h, three, 3), 0);
	hist_observe(&h, 0.0);
	hist_observe(&h, -3.0);
	hist_observe(&h, -INFINITY);
	assert_int_equal(hist_cumulative(&h, 0), 3);
	hist_observe(&h, INFINITY);
	assert_int_equal(hist_cumulative(&h, 2), 3);
	assert_int_equal(hist_cumulative(&h, 3), 4);
}

static void
test_bound_sets(void **state)
{
	struct histogram h;

	(void)state;
	assert_int_equal(hist_init(&h, hist_seconds, hist_seconds_n), 0);
	assert_true(hist_le(&h, 0) == 0.0001);
	assert_true(hist_le(&h, hist_seconds_n - 1) == 10.0);
	assert_int_equal(hist_init(&h, hist_bytes, hist_bytes_n), 0);
	assert_true(hist_le(&h, 0) == 256.0);
	assert_true(hist_le(&h, hist_bytes_n - 1) == 16777216.0);
	assert_int_equal(hist_init(&h, hist_counts, hist_counts_n), 0);
	assert_true(hist_le(&h, 0) == 1.0);
	assert_true(hist_le(&h, hist_counts_n - 1) == 1024.0);
}

/*
 * Random values, many of them on the bounds, against the definition: the
 * cumulative count of bucket i is how many values are <= its bound.
 */
static void
test_against_model(void **state)
{
	enum { N = 20000 };
	static double v[N];
	struct histogram h;
	double sum = 0;
	unsigned seed = 12345;

	(void)state;
	assert_int_equal(hist_init(&h, hist_seconds, hist_seconds_n), 0);
	for (size_t i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 4 == 0)
			v[i] = hist_seconds[(seed >> 8) % hist_seconds_n];
		else
			v[i] = ldexp((double)((seed >> 8) % 100000), -14);
		hist_observe(&h, v[i]);
		sum += v[i];
	}
	for (size_t b = 0; b < hist_buckets(&h); b++) {
		uint64_t want = 0;

		for (size_t i = 0; i < N; i++)
			want += v[i] <= hist_le(&h, b);
		assert_int_equal(hist_cumulative(&h, b), want);
		if (b > 0)
			assert_true(hist_cumulative(&h, b) >= hist_cumulative(&h, b - 1));
	}
	assert_int_equal(h.count, N);
	assert_true(fabs(h.sum - sum) < 1e-9 * sum);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_checks_bounds),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_bounds_inclusive_and_cumulative),
		cmocka_unit_test(test_sum_and_count),
		cmocka_unit_test(test_small_and_negative),
		cmocka_unit_test(test_bound_sets),
		cmocka_unit_test(test_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
