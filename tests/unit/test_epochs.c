/* test_epochs.c - the epoch history and the judgement of a standby against it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "epochs.h"

static void
test_new_history(void **state)
{
	struct epochs e;

	(void)state;
	epochs_init(&e);
	assert_int_equal(epochs_current(&e), 1);
	assert_int_equal(epochs_current_since(&e), 1);
	assert_int_equal(epochs_at(&e, 0), 1);
	assert_int_equal(epochs_at(&e, 1), 1);
	assert_int_equal(epochs_at(&e, UINT64_MAX), 1);
	/* An empty standby follows anyone of epoch 1. */
	assert_int_equal(epochs_judge(&e, 0, 1, 0), EPOCHS_FOLLOWS);
	assert_int_equal(epochs_judge(&e, 100, 1, 0), EPOCHS_FOLLOWS);
	assert_int_equal(epochs_judge(&e, 100, 1, 100), EPOCHS_FOLLOWS);
}

static void
test_begin(void **state)
{
	struct epochs e;

	(void)state;
	epochs_init(&e);
	assert_int_equal(epochs_begin(&e, 2, 101), PK_OK);
	assert_int_equal(epochs_current(&e), 2);
	assert_int_equal(epochs_current_since(&e), 101);
	assert_int_equal(epochs_at(&e, 100), 1);
	assert_int_equal(epochs_at(&e, 101), 2);
	/* Neither the epoch nor the LSN may go back or stand still. */
	assert_int_equal(epochs_begin(&e, 2, 200), PK_E_INVALID_PARAMS);
	assert_int_equal(epochs_begin(&e, 1, 200), PK_E_INVALID_PARAMS);
	assert_int_equal(epochs_begin(&e, 3, 101), PK_E_INVALID_PARAMS);
	assert_int_equal(epochs_begin(&e, 3, 50), PK_E_INVALID_PARAMS);
	assert_int_equal(e.n, 2);
	/* Epochs may skip numbers (a standby promoted, never heard of). */
	assert_int_equal(epochs_begin(&e, 5, 102), PK_OK);
	assert_int_equal(epochs_at(&e, 101), 2);
	assert_int_equal(epochs_at(&e, 102), 5);
}

/*
 * The cases of a failover: B was promoted at LSN 101 (epoch 2), A was the
 * primary of epoch 1.
 */
static void
test_judge(void **state)
{
	struct epochs b;

	(void)state;
	epochs_init(&b);
	assert_int_equal(epochs_begin(&b, 2, 101), PK_OK);
	/* A standby of epoch 1 that had up to 100 (sync): it follows B. */
	assert_int_equal(epochs_judge(&b, 150, 1, 100), EPOCHS_FOLLOWS);
	assert_int_equal(epochs_judge(&b, 150, 1, 20), EPOCHS_FOLLOWS);
	/* The old primary with records of epoch 1 past 100 (async): diverged. */
	assert_int_equal(epochs_judge(&b, 150, 1, 101), EPOCHS_DIVERGED);
	assert_int_equal(epochs_judge(&b, 150, 1, 103), EPOCHS_DIVERGED);
	/* A standby of B. */
	assert_int_equal(epochs_judge(&b, 150, 2, 150), EPOCHS_FOLLOWS);
	assert_int_equal(epochs_judge(&b, 150, 2, 120), EPOCHS_FOLLOWS);
	/* Ahead of B in B's own epoch: B lost records it once had. */
	assert_int_equal(epochs_judge(&b, 150, 2, 151), EPOCHS_DIVERGED);
	/* Epoch 2 at an LSN of epoch 1: not B's history. */
	assert_int_equal(epochs_judge(&b, 150, 2, 50), EPOCHS_DIVERGED);
	/* A later epoch than B's: B is stale, whatever the LSNs. */
	assert_int_equal(epochs_judge(&b, 150, 3, 10), EPOCHS_NEWER);
	assert_int_equal(epochs_judge(&b, 150, 3, 1000), EPOCHS_NEWER);
}

/*
 * A full history forgets its second start; judgements in the forgotten
 * span may turn from "follows" into "diverged", never the other way,
 * checked against a plain model that forgets nothing.
 */
static void
test_full_history_model(void **state)
{
	struct epoch_start model[200];
	struct epochs e;
	size_t nm = 1;
	uint64_t lsn = 1;
	unsigned seed = 12345;

	(void)state;
	epochs_init(&e);
	model[0].epoch = 1;
	model[0].lsn = 1;
	for (int k = 0; k < 150; k++) {
		uint32_t ep = model[nm - 1].epoch + 1 + (uint32_t)(rand_r(&seed) % 3);

		lsn += 1 + (uint64_t)(rand_r(&seed) % 50);
		assert_int_equal(epochs_begin(&e, ep, lsn), PK_OK);
		model[nm].epoch = ep;
		model[nm].lsn = lsn;
		nm++;
		assert_true(e.n <= EPOCHS_MAX);
		assert_int_equal(epochs_current(&e), ep);
		assert_int_equal(epochs_current_since(&e), lsn);
		for (int q = 0; q < 50; q++) {
			uint64_t at = (uint64_t)(rand_r(&seed) % (lsn + 20));
			uint32_t want = model[0].epoch, their;
			enum epochs_verdict v, mv;

			for (size_t i = 1; i < nm; i++)
				if (model[i].lsn <= at)
					want = model[i].epoch;
			/* Outside the forgotten span the history is exact. */
			if (nm <= EPOCHS_MAX || at < e.v[1].lsn || at >= e.v[2].lsn)
				assert_int_equal(epochs_at(&e, at), want);
			else
				assert_int_equal(epochs_at(&e, at), EPOCHS_UNKNOWN);
			their = rand_r(&seed) % 2 ? want : (uint32_t)(rand_r(&seed) % (ep + 2));
			if (their == 0)
				their = 1;
			v = epochs_judge(&e, lsn + 10, their, at);
			mv = their > ep ? EPOCHS_NEWER :
			    their == want ? EPOCHS_FOLLOWS : EPOCHS_DIVERGED;
			if (v != mv)
				assert_true(v == EPOCHS_DIVERGED && mv == EPOCHS_FOLLOWS);
		}
	}
	assert_int_equal(e.n, EPOCHS_MAX);
	assert_int_equal(e.v[0].epoch, 1);
	assert_int_equal(e.v[1].epoch, EPOCHS_UNKNOWN);
	/* Written out and read back (as a snapshot does): the same history. */
	{
		struct epochs r;

		epochs_init(&r);
		for (size_t i = 1; i < e.n; i++)
			assert_int_equal(epochs_begin(&r, e.v[i].epoch, e.v[i].lsn), PK_OK);
		assert_memory_equal(&r, &e, sizeof(r));
		/* The unknown span only right after the first start. */
		assert_int_equal(epochs_begin(&r, EPOCHS_UNKNOWN, lsn + 100),
		    PK_E_INVALID_PARAMS);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_history),
		cmocka_unit_test(test_begin),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_full_history_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
