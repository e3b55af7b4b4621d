/* test_gather.c - unit tests of when the next group commit starts (daemon/gather). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "gather.h"

#define US 1000u
#define MS 1000000u

/* A journal whose fsyncs take 800 µs: a 400 µs window, a 100 µs quiet gap. */
static void
warmed(struct gather *g, uint64_t now, uint64_t released, uint64_t pending)
{
	gather_init(g);
	gather_completed(g, now, released, pending, 800 * US);
}

static void
test_nothing_to_wait_for_before_a_measured_fsync(void **state)
{
	struct gather g;

	(void)state;
	gather_init(&g);
	/* No completion yet: the first batch starts at once. */
	gather_arrived(&g, 5 * MS);
	assert_int_equal(gather_due(&g, 5 * MS, 1), 0);
	/* A completion that did not sync ("none" mode, an image alone): no window. */
	gather_completed(&g, 6 * MS, 10, 5, 0);
	assert_int_equal(gather_window(&g), 0);
	assert_int_equal(gather_due(&g, 6 * MS + 1, 5), 0);
}

static void
test_window_and_quiet_gap_follow_the_fsyncs(void **state)
{
	struct gather g;

	(void)state;
	warmed(&g, 1 * MS, 1, 0);
	assert_int_equal(gather_window(&g), 400 * US);
	assert_int_equal(gather_quiet(&g), 100 * US);
	/* The newest fsync weighs an eighth: 800 -> 800 + (1600 - 800) / 8. */
	gather_completed(&g, 2 * MS, 1, 0, 1600 * US);
	assert_int_equal(gather_window(&g), 450 * US);
	gather_completed(&g, 3 * MS, 1, 0, 0);
	assert_int_equal(gather_window(&g), 450 * US);	/* no sync: unchanged */
	gather_completed(&g, 4 * MS, 1, 0, 100 * US);
	assert_int_equal(gather_window(&g), (900 * US - 800 * US / 8) / 2);
	/* A slow disk: the window stops at GATHER_WINDOW_MAX_NS. */
	gather_init(&g);
	gather_completed(&g, 1 * MS, 1, 0, 40 * MS);
	assert_int_equal(gather_window(&g), GATHER_WINDOW_MAX_NS);
	assert_int_equal(gather_quiet(&g), GATHER_WINDOW_MAX_NS / 4);
}

/*
 * 64 clients in two cohorts of 32: the completion released 32 and 32 are
 * pending.  The next batch waits for the 32 released to come back.
 */
static void
test_the_released_cohort_joins_the_next_batch(void **state)
{
	struct gather g;
	uint64_t done = 10 * MS, now = done, pending = 32;

	(void)state;
	warmed(&g, done, 32, pending);
	/* Right after the completion: wait, at most until the quiet gap ends. */
	assert_int_equal(gather_due(&g, now, pending), done + 100 * US);
	/* They come back one every 5 µs: each arrival moves the quiet end on. */
	while (pending < 63) {
		now += 5 * US;
		gather_arrived(&g, now);
		pending++;
		assert_int_equal(gather_due(&g, now, pending), now + 100 * US);
	}
	/* The last one: everyone expected is in, start now. */
	now += 5 * US;
	gather_arrived(&g, now);
	assert_int_equal(gather_due(&g, now, 64), 0);
}

static void
test_a_lone_client_never_waits(void **state)
{
	struct gather g;

	(void)state;
	/* One record released, none pending: its next change is the target. */
	warmed(&g, 10 * MS, 1, 0);
	gather_arrived(&g, 10 * MS + 30 * US);
	assert_int_equal(gather_due(&g, 10 * MS + 30 * US, 1), 0);
}

static void
test_a_quiet_gap_ends_the_wait(void **state)
{
	struct gather g;
	uint64_t done = 10 * MS;

	(void)state;
	/* Open-loop clients: 20 released, few come back soon. */
	warmed(&g, done, 20, 3);
	assert_int_equal(gather_due(&g, done + 99 * US, 3), done + 100 * US);
	assert_int_equal(gather_due(&g, done + 100 * US, 3), 0);
	/* An arrival restarts the gap from itself. */
	gather_arrived(&g, done + 60 * US);
	assert_int_equal(gather_due(&g, done + 100 * US, 4), done + 160 * US);
	assert_int_equal(gather_due(&g, done + 160 * US, 4), 0);
	/* An arrival before the completion does not count against the gap. */
	warmed(&g, done, 20, 3);
	gather_arrived(&g, done - 500 * US);
	assert_int_equal(gather_due(&g, done + 10 * US, 3), done + 100 * US);
}

static void
test_the_window_caps_the_wait(void **state)
{
	struct gather g;
	uint64_t done = 10 * MS, now = done, pending = 0, due = 0;

	(void)state;
	/* Arrivals every 50 µs keep the gap open; 1000 expected never come. */
	warmed(&g, done, 1000, 0);
	for (;;) {
		now += 50 * US;
		gather_arrived(&g, now);
		pending++;
		due = gather_due(&g, now, pending);
		if (due == 0)
			break;
		assert_true(due > now);
		assert_true(due <= done + 400 * US);
	}
	assert_int_equal(now, done + 400 * US);
}

static void
test_idle_long_after_a_completion_starts_at_once(void **state)
{
	struct gather g;

	(void)state;
	warmed(&g, 10 * MS, 64, 0);
	gather_arrived(&g, 2000 * MS);
	assert_int_equal(gather_due(&g, 2000 * MS, 1), 0);
}

static void
test_waiting_stops_while_answered_clients_do_not_come_straight_back(void **state)
{
	struct gather g;
	uint64_t now = 10 * MS;

	(void)state;
	/* Until measured, a completion's clients are taken to come back. */
	warmed(&g, now, 32, 32);
	assert_int_equal(g.returning, GATHER_ONE);
	assert_true(gather_due(&g, now + 1, 32) != 0);
	/* Paced gates: completions whose clients do not come straight back. */
	for (int i = 0; i < 3; i++) {
		now += MS;
		gather_completed(&g, now, 32, 32, 800 * US);
	}
	/* The share falls by a quarter of the distance each time: 768, 576, 432. */
	assert_int_equal(g.returning, 432);
	assert_int_equal(gather_due(&g, now + 1, 32), 0);
	/* Clients that send when answered: every one comes back. */
	for (int k = 0; k < 32; k++)
		gather_returned(&g);
	now += MS;
	gather_completed(&g, now, 32, 32, 800 * US);
	assert_int_equal(g.returning, 432 + (GATHER_ONE - 432) / 4);
	assert_int_equal(gather_due(&g, now + 1, 32), now + 100 * US);
	/* Half of them: the share moves towards one half. */
	for (int k = 0; k < 16; k++)
		gather_returned(&g);
	now += MS;
	gather_completed(&g, now, 32, 32, 800 * US);
	assert_int_equal(g.returning, 580 - (580 - GATHER_ONE / 2) / 4);
	/* More returns than records released count as all of them. */
	for (int k = 0; k < 100; k++)
		gather_returned(&g);
	now += MS;
	gather_completed(&g, now, 0, 0, 800 * US);
	assert_int_equal(g.returning, 563 + (GATHER_ONE - 563) / 4);
	/* A completion that released nothing (a standby) leaves it as it is. */
	now += MS;
	gather_completed(&g, now, 5, 0, 800 * US);
	assert_int_equal(g.returning, 563 + (GATHER_ONE - 563) / 4);
}

/* Any sequence: a due time is after now and inside the window. */
static void
test_due_is_ahead_and_inside_the_window(void **state)
{
	struct gather g;
	uint64_t now = 1 * MS, done = 0, pending = 0;

	(void)state;
	srand(7);
	gather_init(&g);
	for (int i = 0; i < 100000; i++) {
		uint64_t due;

		now += (uint64_t)(rand() % 300) * US / 4;
		switch (rand() % 4) {
		case 0:
			gather_completed(&g, now, (uint64_t)(rand() % 70),
			    pending, (uint64_t)(rand() % 5000) * US);
			done = now;
			break;
		default:
			gather_arrived(&g, now);
			pending++;
			break;
		}
		due = gather_due(&g, now, pending);
		if (due == 0) {
			pending = 0;	/* the batch starts */
			continue;
		}
		assert_true(due > now);
		assert_true(due <= done + gather_window(&g));
		assert_true(pending < g.target);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_to_wait_for_before_a_measured_fsync),
		cmocka_unit_test(test_window_and_quiet_gap_follow_the_fsyncs),
		cmocka_unit_test(test_the_released_cohort_joins_the_next_batch),
		cmocka_unit_test(test_a_lone_client_never_waits),
		cmocka_unit_test(test_a_quiet_gap_ends_the_wait),
		cmocka_unit_test(test_the_window_caps_the_wait),
		cmocka_unit_test(test_idle_long_after_a_completion_starts_at_once),
		cmocka_unit_test(test_waiting_stops_while_answered_clients_do_not_come_straight_back),
		cmocka_unit_test(test_due_is_ahead_and_inside_the_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
