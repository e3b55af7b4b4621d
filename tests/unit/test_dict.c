/* test_dict.c - unit tests of the open-addressing string hash table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dict.h"

/* Keys are borrowed by the table, so tests keep them in these arrays. */
#define NKEYS 5000
static char keys[NKEYS][16];

static void
make_keys(void)
{
	for (int i = 0; i < NKEYS; i++)
		snprintf(keys[i], sizeof(keys[i]), "key-%d", i);
}

static void *
val(int i)
{
	return (void *)(uintptr_t)(i + 1);
}

static void
test_empty(void **state)
{
	dict *d = dict_new();
	size_t pos = 0;
	const char *k;
	void *v;

	(void)state;
	assert_non_null(d);
	assert_int_equal(dict_size(d), 0);
	assert_null(dict_get(d, "x"));
	assert_null(dict_del(d, "x"));
	assert_int_equal(dict_next(d, &pos, &k, &v), 0);
	dict_free(d);
	dict_free(NULL);
}

static void
test_set_get_del_overwrite(void **state)
{
	dict *d = dict_new();
	int a = 1, b = 2, c = 3;
	char k2[] = "alpha";	/* the same text in other storage */

	(void)state;
	assert_int_equal(dict_set(d, "alpha", &a), 0);
	assert_int_equal(dict_set(d, "beta", &b), 0);
	assert_int_equal(dict_size(d), 2);
	assert_ptr_equal(dict_get(d, "alpha"), &a);
	assert_ptr_equal(dict_get(d, "beta"), &b);
	assert_null(dict_get(d, "gamma"));
	assert_null(dict_get(d, "alph"));
	assert_null(dict_get(d, ""));

	/* Overwrite: same size, new value, found by equal text. */
	assert_int_equal(dict_set(d, k2, &c), 0);
	assert_int_equal(dict_size(d), 2);
	assert_ptr_equal(dict_get(d, "alpha"), &c);

	assert_ptr_equal(dict_del(d, "alpha"), &c);
	assert_int_equal(dict_size(d), 1);
	assert_null(dict_get(d, "alpha"));
	assert_null(dict_del(d, "alpha"));
	assert_int_equal(dict_size(d), 1);
	assert_ptr_equal(dict_get(d, "beta"), &b);

	/* The empty string is a key like any other. */
	assert_int_equal(dict_set(d, "", &a), 0);
	assert_ptr_equal(dict_get(d, ""), &a);
	assert_ptr_equal(dict_del(d, ""), &a);
	assert_int_equal(dict_size(d), 1);
	dict_free(d);
}

static void
test_growth(void **state)
{
	dict *d = dict_new();

	(void)state;
	make_keys();
	for (int i = 0; i < NKEYS; i++) {
		assert_int_equal(dict_set(d, keys[i], val(i)), 0);
		assert_int_equal(dict_size(d), (size_t)i + 1);
		/* What was there before growing is still there. */
		if ((i & (i - 1)) == 0) {
			for (int j = 0; j <= i; j++)
				assert_ptr_equal(dict_get(d, keys[j]), val(j));
		}
	}
	for (int i = 0; i < NKEYS; i++)
		assert_ptr_equal(dict_get(d, keys[i]), val(i));
	assert_null(dict_get(d, "key-5000"));
	assert_null(dict_get(d, "key--1"));
	/* Delete every other key, the rest stays. */
	for (int i = 0; i < NKEYS; i += 2)
		assert_ptr_equal(dict_del(d, keys[i]), val(i));
	assert_int_equal(dict_size(d), NKEYS / 2);
	for (int i = 0; i < NKEYS; i++) {
		if (i % 2)
			assert_ptr_equal(dict_get(d, keys[i]), val(i));
		else
			assert_null(dict_get(d, keys[i]));
	}
	dict_free(d);
}

/* A small deterministic PRNG (xorshift64*). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/*
 * Heavy churn against a plain array model: after every operation the
 * result must agree, and periodically every key is checked.  A wrong
 * backward shift loses keys that sit behind the hole in a probe run.
 */
static void
churn(size_t universe, int rounds)
{
	dict *d = dict_new();
	void **model = calloc(universe, sizeof(*model));
	size_t live = 0;

	assert_non_null(model);
	for (int r = 0; r < rounds; r++) {
		size_t k = (size_t)(rng() % universe);
		unsigned op = (unsigned)(rng() % 3);

		if (op < 2) {
			void *v = (void *)(uintptr_t)(r + 1);

			assert_int_equal(dict_set(d, keys[k], v), 0);
			if (model[k] == NULL)
				live++;
			model[k] = v;
		} else {
			void *got = dict_del(d, keys[k]);

			assert_ptr_equal(got, model[k]);
			if (model[k] != NULL)
				live--;
			model[k] = NULL;
		}
		assert_int_equal(dict_size(d), live);
		assert_ptr_equal(dict_get(d, keys[k]), model[k]);
		if (r % 997 == 0) {
			for (size_t i = 0; i < universe; i++)
				assert_ptr_equal(dict_get(d, keys[i]), model[i]);
		}
	}
	for (size_t i = 0; i < universe; i++)
		assert_ptr_equal(dict_get(d, keys[i]), model[i]);
	/* Drain completely: every key comes out once, then the table is empty. */
	for (size_t i = 0; i < universe; i++) {
		assert_ptr_equal(dict_del(d, keys[i]), model[i]);
		assert_null(dict_get(d, keys[i]));
	}
	assert_int_equal(dict_size(d), 0);
	free(model);
	dict_free(d);
}

static void
test_churn_small(void **state)
{
	(void)state;
	make_keys();
	/* A universe near the initial capacity keeps the table dense. */
	churn(12, 20000);
	churn(40, 50000);
}

static void
test_churn_large(void **state)
{
	(void)state;
	make_keys();
	churn(NKEYS, 200000);
}

/*
 * Deleting from the middle of long probe runs that wrap around the end of
 * the slot array: fill to just under the growth threshold, delete in
 * different orders and check the rest each time.
 */
static void
test_delete_orders_dense(void **state)
{
	(void)state;
	make_keys();
	for (int order = 0; order < 3; order++) {
		for (int n = 1; n <= 12; n++) {	/* 12 of 16 slots is the limit */
			for (int first = 0; first < n; first++) {
				dict *d = dict_new();
				int gone[12] = { 0 };

				for (int i = 0; i < n; i++)
					assert_int_equal(dict_set(d, keys[i], val(i)), 0);
				for (int step = 0; step < n; step++) {
					int victim;

					if (order == 0)
						victim = (first + step) % n;
					else if (order == 1)
						victim = (first - step + n) % n;
					else
						victim = (first + step * 5) % n;
					if (gone[victim]) {
						assert_null(dict_del(d, keys[victim]));
						continue;
					}
					assert_ptr_equal(dict_del(d, keys[victim]), val(victim));
					gone[victim] = 1;
					for (int i = 0; i < n; i++) {
						if (gone[i])
							assert_null(dict_get(d, keys[i]));
						else
							assert_ptr_equal(dict_get(d, keys[i]), val(i));
					}
				}
				dict_free(d);
			}
		}
	}
}

static void
test_iteration(void **state)
{
	dict *d = dict_new();
	unsigned char *seen = calloc(NKEYS, 1);
	size_t pos = 0, count = 0;
	const char *k;
	void *v;

	(void)state;
	assert_non_null(seen);
	make_keys();
	for (int i = 0; i < 3000; i++)
		assert_int_equal(dict_set(d, keys[i], val(i)), 0);
	for (int i = 0; i < 3000; i += 3)
		assert_ptr_equal(dict_del(d, keys[i]), val(i));
	while (dict_next(d, &pos, &k, &v)) {
		int i = atoi(k + 4);

		assert_true(i >= 0 && i < 3000);
		assert_ptr_equal(k, keys[i]);	/* the borrowed key itself */
		assert_ptr_equal(v, val(i));
		assert_int_not_equal(i % 3, 0);
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		count++;
	}
	assert_int_equal(count, dict_size(d));
	assert_int_equal(count, 2000);
	/* Once done it stays done. */
	assert_int_equal(dict_next(d, &pos, &k, &v), 0);
	free(seen);
	dict_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_set_get_del_overwrite),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_churn_small),
		cmocka_unit_test(test_churn_large),
		cmocka_unit_test(test_delete_orders_dense),
		cmocka_unit_test(test_iteration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
