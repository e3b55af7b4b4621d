/*
 * bench_dict.c - micro-benchmark of the string hash table (lib/dict.h):
 * look-ups that hit, look-ups that miss, and a set+delete pair, with keys
 * shaped like the ones parkd stores (36-character ticket ids and short
 * plates), at 1 000, 100 000 and 1 000 000 keys.  Look-ups go in a random
 * order made before the clock runs, so the large tables pay their cache
 * misses as they would in the daemon.
 *
 * Times are CPU time per operation, the best of PASSES passes (the machine
 * is shared; the best pass is the one least disturbed).
 *
 *   bench_dict [-n OPS] [KEYS...]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dict.h"
#include "benchutil.h"

#define PASSES 5
#define KEYLEN 40

static void
die(const char *what)
{
	fprintf(stderr, "bench_dict: %s\n", what);
	exit(1);
}

enum shape { SHAPE_ID, SHAPE_PLATE };

/* Key i of a shape; "miss" keys are made so that none equals a stored one. */
static void
make_key(enum shape sh, size_t i, int miss, char out[KEYLEN])
{
	if (sh == SHAPE_ID)
		snprintf(out, KEYLEN, "019a%04x-%04x-7%03x-%c%03x-%012llx",
		    (unsigned)(i >> 16) & 0xffff, (unsigned)i & 0xffff,
		    (unsigned)(bench_rng() & 0xfff), miss ? 'b' : '8',
		    (unsigned)(bench_rng() & 0xfff), (unsigned long long)(bench_rng() >> 16));
	else
		snprintf(out, KEYLEN, "%c%c-%c%c %zu%s",
		    'A' + (int)(i % 26), 'A' + (int)(i / 26 % 26),
		    'A' + (int)(i / 676 % 26), 'A' + (int)(i / 17576 % 26),
		    i / 456976, miss ? "X" : "");
}

static void
bench(enum shape sh, size_t n, size_t ops)
{
	char (*keys)[KEYLEN] = malloc(n * sizeof(*keys));
	char (*miss)[KEYLEN] = malloc(ops * sizeof(*miss));
	size_t *order = malloc(ops * sizeof(*order));
	double best_hit = 1e9, best_miss = 1e9, best_churn = 1e9;
	dict *d = dict_new();
	uintptr_t sink = 0;
	size_t total_len = 0;

	if (n == 0)
		die("a table of 0 keys has nothing to look up");
	if (keys == NULL || miss == NULL || order == NULL || d == NULL)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		make_key(sh, i, 0, keys[i]);
		total_len += strlen(keys[i]);
		if (dict_set(d, keys[i], keys[i]) != 0)
			die("out of memory");
	}
	if (dict_size(d) != n)
		die("duplicate keys made");
	for (size_t i = 0; i < ops; i++) {
		order[i] = (size_t)(bench_rng() % n);
		make_key(sh, (size_t)(bench_rng() % n), 1, miss[i]);
	}
	for (int pass = 0; pass < PASSES; pass++) {
		double t0, t1, t2, t3;

		t0 = bench_cpu_now();
		for (size_t i = 0; i < ops; i++)
			sink += (uintptr_t)dict_get(d, keys[order[i]]);
		t1 = bench_cpu_now();
		for (size_t i = 0; i < ops; i++)
			sink += (uintptr_t)dict_get(d, miss[i]);
		t2 = bench_cpu_now();
		/* A key comes and goes: the set and the delete of one stay. */
		for (size_t i = 0; i < ops; i++) {
			if (dict_set(d, miss[i], miss[i]) != 0)
				die("out of memory");
			sink += (uintptr_t)dict_del(d, miss[i]);
		}
		t3 = bench_cpu_now();
		if (t1 - t0 < best_hit)
			best_hit = t1 - t0;
		if (t2 - t1 < best_miss)
			best_miss = t2 - t1;
		if (t3 - t2 < best_churn)
			best_churn = t3 - t2;
	}
	printf("%-6s %9zu %7.1f %8.1f %8.1f %10.1f\n",
	    sh == SHAPE_ID ? "id" : "plate", n, (double)total_len / (double)n,
	    best_hit / (double)ops * 1e9, best_miss / (double)ops * 1e9,
	    best_churn / (double)ops * 1e9);
	if (sink == 1)
		printf("(sink)\n");
	dict_free(d);
	free(keys);
	free(miss);
	free(order);
}

int
main(int argc, char **argv)
{
	static const size_t def[] = { 1000, 100000, 1000000 };
	size_t ops = 1000000;
	int ch;

	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch != 'n' || (ops = strtoul(optarg, NULL, 10)) == 0) {
			fprintf(stderr, "usage: bench_dict [-n OPS] [KEYS...]\n");
			return 2;
		}
	}
	printf("dict: ns per operation, CPU time, best of %d passes of %zu\n",
	    PASSES, ops);
	printf("%-6s %9s %7s %8s %8s %10s\n", "keys", "n", "len", "get hit",
	    "get miss", "set+del");
	for (int s = 0; s < 2; s++) {
		if (optind < argc) {
			for (int i = optind; i < argc; i++)
				bench((enum shape)s, strtoul(argv[i], NULL, 10), ops);
		} else {
			for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
				bench((enum shape)s, def[i], ops);
		}
	}
	return 0;
}
