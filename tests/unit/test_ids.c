/* test_ids.c - unit tests of the daemon's ids: random bits drawn in blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"

/* Enough ids to cross many draws of the pool. */
#define MANY (IDS_PER_DRAW * 40 + 7)

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The 62 random bits of an id's text: its last 16 characters and one. */
static void
random_tail(const char *id, char out[18])
{
	memcpy(out, id + 19, 17);	/* "8xxx-xxxxxxxxxxxx": variant and random */
	out[17] = '\0';
}

/*
 * Ids at one millisecond and at a clock that jitters back and forth stay
 * strictly increasing across draws, are v7 with the RFC 4122 variant, and
 * the pool is filled once per IDS_PER_DRAW ids.
 */
static void
test_increasing_across_draws(void **state)
{
	struct ids *ids = malloc(sizeof(*ids));
	char prev[UUID_BUFSZ] = "", cur[UUID_BUFSZ];
	unsigned char raw[16];
	uint64_t now = 1700000000000ULL;

	(void)state;
	assert_non_null(ids);
	ids_init(ids);
	assert_int_equal(ids->draws, 0);
	for (int i = 0; i < MANY; i++) {
		if (i % 3 == 0)
			now += (uint64_t)(i % 5) - 2;	/* also steps back */
		ids_next(ids, now, cur);
		assert_int_equal(strlen(cur), UUID_STRLEN);
		assert_int_equal(uuid_parse(cur, raw), 0);
		assert_int_equal(raw[6] >> 4, 7);
		assert_int_equal(raw[8] >> 6, 2);
		if (strcmp(prev, cur) >= 0)
			fail_msg("id %d: %s after %s", i, cur, prev);
		memcpy(prev, cur, sizeof(cur));
	}
	assert_int_equal(ids->draws, (MANY + IDS_PER_DRAW - 1) / IDS_PER_DRAW);
	free(ids);
}

/*
 * The random part differs from id to id, also where one draw ends and the
 * next begins (a pool used twice, or never filled, would repeat it).
 */
static void
test_random_bits_distinct(void **state)
{
	struct ids *ids = malloc(sizeof(*ids));
	char (*tails)[18] = calloc(MANY, sizeof(*tails));
	char id[UUID_BUFSZ];

	(void)state;
	assert_non_null(ids);
	assert_non_null(tails);
	ids_init(ids);
	for (int i = 0; i < MANY; i++) {
		ids_next(ids, 1700000000000ULL + (uint64_t)i, id);
		random_tail(id, tails[i]);
	}
	qsort(tails, MANY, sizeof(*tails), cmp_str);
	for (int i = 1; i < MANY; i++) {
		if (strcmp(tails[i - 1], tails[i]) == 0)
			fail_msg("random bits repeat: %s", tails[i]);
	}
	free(tails);
	free(ids);
}

/* Two generators (two daemons) do not make the same ids at the same time. */
static void
test_two_generators_differ(void **state)
{
	struct ids *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char ia[UUID_BUFSZ], ib[UUID_BUFSZ];
	int same = 0;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	ids_init(a);
	ids_init(b);
	for (int i = 0; i < 1000; i++) {
		ids_next(a, 1700000000000ULL, ia);
		ids_next(b, 1700000000000ULL, ib);
		same += strcmp(ia, ib) == 0;
	}
	assert_int_equal(same, 0);
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_increasing_across_draws),
		cmocka_unit_test(test_random_bits_distinct),
		cmocka_unit_test(test_two_generators_differ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
