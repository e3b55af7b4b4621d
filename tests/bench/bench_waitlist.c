/*
 * bench_waitlist.c - micro-benchmark of the waitlist: the cost of matching
 * a freed spot, of position(), of add, assign, cancel, expiry and pruning,
 * with 1 000 and 100 000 waiting entries spread over a few (class, needs)
 * queues.  A match asks only the queues' heads, so its cost must stay flat
 * as the queues grow; position() is a Fenwick prefix sum, O(log n).
 *
 * Times are CPU time per operation, averaged over OPS operations.
 *
 *   bench_waitlist [-n OPS] [-q QUEUES] [WAITING...]
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "waitlist.h"
#include "benchutil.h"

#define T0 ((int64_t)1767225600)	/* 2026-01-01T00:00:00Z */

/*
 * CPU time of this process, not wall time: the development machine is
 * shared, and a benchmark that waits for a CPU should not count the wait.
 */
/* Heap bytes in use (allocated and not freed), resident or not. */
static size_t
heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_waitlist: %s\n", what);
	exit(1);
}

/* Ids and plates are made before the clock runs. */
struct names {
	char (*id)[UUID_BUFSZ];
	char (*plate)[PLATE_BUFSZ];
	size_t n, next;
};

static void
names_make(struct names *nm, size_t n)
{
	nm->id = malloc(n * sizeof(*nm->id));
	nm->plate = malloc(n * sizeof(*nm->plate));
	if (nm->id == NULL || nm->plate == NULL)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		snprintf(nm->id[i], UUID_BUFSZ, "%08x-0000-7000-8000-%012zx",
		    (unsigned)(i >> 24), i);
		snprintf(nm->plate[i], PLATE_BUFSZ, "B %zu", i);
	}
	nm->n = n;
	nm->next = 0;
}

static void
names_free(struct names *nm)
{
	free(nm->id);
	free(nm->plate);
}

/* Queue q of nq is class q / 2 with needs q % 2 (a tag, say ev). */
static int nqueues = 8;

static const struct waitlist_entry *
add_one(waitlist *wl, struct names *nm, int q, int64_t t)
{
	struct waitlist_add_in in;
	const struct waitlist_entry *e;
	int existing;
	size_t k = nm->next++;

	if (k >= nm->n)
		die("ran out of names");
	in = (struct waitlist_add_in){ nm->id[k], nm->plate[k], q / 2,
	    (uint64_t)(q % 2), (int)(k % 3), 3600 };
	if (waitlist_add(wl, &in, t, &e, &existing) != PK_OK || existing)
		die("add failed");
	return e;
}

/* fits(): yes for the pairs whose queue bit is set in the mask. */
struct fits {
	uint32_t mask;
	long calls;
};

static int
fits_mask(void *ud, int cls, uint64_t needs, int gate)
{
	struct fits *f = ud;

	(void)gate;
	f->calls++;
	return (f->mask >> (cls * 2 + (int)needs)) & 1;
}

/* Times `reps` matches with the mask; prints ns per match and callbacks. */
static void
time_match(const waitlist *wl, const char *what, uint32_t mask, long reps)
{
	struct fits f = { mask, 0 };
	const struct waitlist_entry *e = NULL;
	double t = bench_cpu_now();

	for (long i = 0; i < reps; i++)
		e = waitlist_match(wl, fits_mask, &f);
	t = bench_cpu_now() - t;
	printf("  match, %-34s %7.1f ns  (%.1f heads asked%s)\n", what,
	    t / (double)reps * 1e9, (double)f.calls / (double)reps,
	    e == NULL ? ", none fits" : "");
}

static void
bench_size(size_t n, long ops)
{
	struct waitlist_limits lim = { WAITLIST_MAX_DEPTH, 7200, 86400 };
	struct names nm;
	const struct waitlist_entry **ents, *e;
	struct waitlist_iter it = { 0 };
	waitlist *wl;
	size_t heap0, heap1, k = 0, youngest_q;
	double t;
	long sum = 0;
	const char *ticket = "ffffffff-0000-7000-8000-000000000001";
	int64_t at = T0;

	names_make(&nm, n + (size_t)ops + 16);
	malloc_trim(0);
	heap0 = heap_bytes();
	if ((wl = waitlist_new(&lim)) == NULL)
		die("waitlist_new failed");

	/* Fill: entries spread at random over the queues. */
	t = bench_cpu_now();
	for (size_t i = 0; i < n; i++)
		add_one(wl, &nm, (int)(bench_rng() % (uint64_t)nqueues), at);
	t = bench_cpu_now() - t;
	heap1 = heap_bytes();
	printf("== %zu waiting in %zu queues\n", n, waitlist_queue_count(wl));
	printf("  add (filling)                             %7.1f ns;"
	    " memory %.1f B/entry heap\n", t / (double)n * 1e9,
	    (double)(heap1 - heap0) / (double)n);

	/* The queue whose head came last: the worst case of a match. */
	youngest_q = 0;
	{
		uint64_t best = 0;
		for (int q = 0; q < nqueues; q++) {
			struct fits f = { 1u << q, 0 };
			e = waitlist_match(wl, fits_mask, &f);
			if (e != NULL && e->seq > best) {
				best = e->seq;
				youngest_q = (size_t)q;
			}
		}
	}
	time_match(wl, "everything fits (1 head):", 0xffffffffu, ops);
	time_match(wl, "only the youngest head's queue fits:",
	    1u << youngest_q, ops);
	time_match(wl, "nothing fits (every head):", 0, ops);

	/* position() of random entries, pointers taken while nothing changes. */
	ents = malloc(n * sizeof(*ents));
	if (ents == NULL)
		die("out of memory");
	while ((e = waitlist_iter_next(wl, &it)) != NULL &&
	    e->state == WAITLIST_WAITING)
		ents[k++] = e;
	t = bench_cpu_now();
	for (long i = 0; i < ops; i++)
		sum += (long)waitlist_position(wl, ents[bench_rng() % k]);
	t = bench_cpu_now() - t;
	printf("  position()                                %7.1f ns  (mean %.0f)\n",
	    t / (double)ops * 1e9, (double)sum / (double)ops);
	t = bench_cpu_now();
	for (long i = 0; i < ops; i++)
		sum += (long)waitlist_position(wl,
		    waitlist_get(wl, ents[bench_rng() % k]->id));
	t = bench_cpu_now() - t;
	printf("  get(id) + position()                      %7.1f ns\n",
	    t / (double)ops * 1e9);
	free(ents);

	/*
	 * Steady state: a spot is freed, the match is assigned, and a new
	 * vehicle queues, so the depth stays n.  Random masks: a freed spot
	 * fits some pairs and not others.  The outcome is pruned at once
	 * (keep_outcomes_s 0 for this part), so that the mailbox does not grow
	 * to OPS entries and this measures the queues, not a large dict.
	 */
	{
		struct waitlist_limits lim0 = lim;
		long hits = 0, calls = 0, pruned = 0;

		lim0.keep_outcomes_s = 0;
		if (waitlist_set_limits(wl, &lim0) != PK_OK)
			die("set_limits");
		t = bench_cpu_now();
		for (long i = 0; i < ops; i++) {
			struct fits f = { (uint32_t)bench_rng() | 1u, 0 };

			e = waitlist_match(wl, fits_mask, &f);
			calls += f.calls;
			if (e != NULL) {
				if (waitlist_assign(wl, e->id, ticket, at) != PK_OK)
					die("assign failed");
				hits++;
			}
			add_one(wl, &nm, (int)(bench_rng() % (uint64_t)nqueues), at);
			pruned += (long)waitlist_prune(wl, at + 1);
		}
		t = bench_cpu_now() - t;
		printf("  churn: match + assign + add + prune       %7.1f ns"
		    "  (%.1f heads asked, %ld assigned, %zu waiting)\n",
		    t / (double)ops * 1e9, (double)calls / (double)ops, hits,
		    waitlist_waiting_count(wl));
		if (pruned != hits || waitlist_set_limits(wl, &lim) != PK_OK)
			die("prune count");
	}

	/* Cancels from the middle of the queues. */
	{
		long done = 0;
		int changed;

		t = bench_cpu_now();
		for (long i = 0; i < ops / 4; i++) {
			size_t j = nm.next - 1 - (size_t)(bench_rng() % (uint64_t)(n / 2 + 1));
			if (waitlist_cancel(wl, nm.id[j], at, &e, &changed) == PK_OK &&
			    changed)
				done++;
		}
		t = bench_cpu_now() - t;
		printf("  cancel (from the middle)                  %7.1f ns"
		    "  (%ld cancelled)\n", t / (double)(ops / 4) * 1e9, done);
	}

	/* Everybody expires at once (a restart after a long stop), then is forgotten. */
	{
		size_t ne, np, outcomes = waitlist_outcome_count(wl);
		double tp;

		t = bench_cpu_now();
		ne = waitlist_expire_due(wl, at + 7200, NULL, NULL);
		t = bench_cpu_now() - t;
		tp = bench_cpu_now();
		np = waitlist_prune(wl, at + 7200 + 86401);
		tp = bench_cpu_now() - tp;
		printf("  expire_due %zu: %.1f ns each;  prune %zu: %.1f ns each\n",
		    ne, ne ? t / (double)ne * 1e9 : 0.0, np,
		    np ? tp / (double)np * 1e9 : 0.0);
		if (np != ne + outcomes)
			die("prune count");
	}
	waitlist_free(wl);
	names_free(&nm);
}

int
main(int argc, char **argv)
{
	size_t sizes[8] = { 1000, 100000 };
	int nsizes = 2, c;
	long ops = 200000;

	while ((c = getopt(argc, argv, "n:q:")) != -1) {
		switch (c) {
		case 'n':
			ops = atol(optarg);
			break;
		case 'q':
			nqueues = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench_waitlist [-n OPS] [-q QUEUES]"
			    " [WAITING...]\n");
			return 2;
		}
	}
	if (optind < argc) {
		nsizes = 0;
		for (int i = optind; i < argc && nsizes < 8; i++)
			sizes[nsizes++] = (size_t)atol(argv[i]);
	}
	if (ops < 4 || nqueues < 1 || nqueues > 32)
		return 2;
	for (int i = 0; i < nsizes; i++) {
		if (sizes[i] < 2 || sizes[i] > WAITLIST_MAX_DEPTH)
			return 2;
		bench_size(sizes[i], ops);
	}
	return 0;
}
