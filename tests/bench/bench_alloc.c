/*
 * bench_alloc.c - micro-benchmark of the facility model and the allocation
 * engine: construction time, memory per spot, and entry (choose + take)
 * and exit (release) cost for every strategy at 1k, 100k and 1M spots.
 *
 *   bench_alloc [-n OPS] [-r ROWLEN] [SPOTS...]
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "alloc.h"
#include "facility_load.h"
#include "benchutil.h"

#define LEVELS 4

/* Heap bytes in use (allocated and not freed), resident or not. */
static size_t
heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* A facility of `spots` spots: rows of rowlen on LEVELS levels, 3 types. */
static char *
facility_json(uint32_t spots, uint32_t rowlen)
{
	static const char *const types[] = { "compact", "regular", "regular",
	    "oversized" };
	size_t cap = 4096 + (size_t)(spots / rowlen + 1) * 200, len = 0;
	char *s = malloc(cap);
	uint32_t nrows = (spots + rowlen - 1) / rowlen;

	if (s == NULL)
		return NULL;
	len += (size_t)snprintf(s + len, cap - len,
	    "{\"name\": \"bench\", \"timezone\": \"UTC\", \"currency\": \"EUR\","
	    " \"level_distance\": 40, \"gates\": ["
	    "{\"id\": \"north\", \"role\": \"entry\", \"level\": 0, \"x\": 0, \"y\": 0},"
	    "{\"id\": \"east\", \"role\": \"both\", \"level\": 1, \"x\": 300, \"y\": 150},"
	    "{\"id\": \"roof\", \"role\": \"entry\", \"level\": 3, \"x\": 150, \"y\": 300},"
	    "{\"id\": \"south\", \"role\": \"exit\", \"level\": 0, \"x\": 300, \"y\": 0}"
	    "], \"rows\": [");
	for (uint32_t r = 0; r < nrows; r++) {
		uint32_t count = r == nrows - 1 ? spots - r * rowlen : rowlen;
		uint32_t perlevel = (nrows + LEVELS - 1) / LEVELS;
		len += (size_t)snprintf(s + len, cap - len,
		    "%s{\"level\": %u, \"zone\": \"R%u\", \"type\": \"%s\","
		    " \"count\": %u, \"x\": %u, \"y\": %u, \"dx\": 2.5, \"dy\": 0%s}",
		    r ? "," : "", r / perlevel, r, types[r % 4], count,
		    (r * 37) % 50, (r % perlevel) * 3,
		    r % 5 == 0 ? ", \"tags\": [\"ev\"]" : "");
	}
	snprintf(s + len, cap - len, "]}");
	return s;
}

/* A parked vehicle: its spots are first .. first + n - 1. */
struct car {
	uint32_t first, n;
};

static const char vehicles_json[] =
    "{\"motorcycle\": {\"fits\": [\"compact\", \"regular\", \"oversized\"]},"
    " \"car\": {\"fits\": [\"regular\", \"oversized\"]},"
    " \"van\": {\"fits\": [\"oversized\", \"regular\"]},"
    " \"coach\": {\"fits\": [], \"contiguous\": {\"type\": \"regular\", \"count\": 5}}}";

static int
park(alloc *a, int gate, int cls, uint64_t needs, struct car *c)
{
	uint32_t out[ALLOC_MAX_SPOTS];
	size_t n;

	if (alloc_choose(a, gate, cls, needs, out, &n) != PK_OK)
		return -1;
	alloc_take(a, out, n);
	c->first = out[0];
	c->n = (uint32_t)n;
	return 0;
}

static void
unpark(alloc *a, const struct car *c)
{
	uint32_t spots[ALLOC_MAX_SPOTS];

	for (uint32_t i = 0; i < c->n; i++)
		spots[i] = c->first + i;
	alloc_release(a, spots, c->n);
}

static void
bench_size(uint32_t spots, uint32_t rowlen, long ops)
{
	static const enum alloc_strategy strategies[] = { ALLOC_NEAREST,
	    ALLOC_FARTHEST, ALLOC_FIRST, ALLOC_FILL };
	char err[256];
	long rss0, rss1, rss2, rss3;
	size_t heap0, heap1, heap2;
	double t0, t1, t2, t3;
	char *json;
	cJSON *j;
	facility *f;
	alloc *a;
	struct car *cars;
	size_t ncars = 0, target;
	int gates[3], ngates = 0, classes[4];
	uint64_t ev;
	cJSON *needs, *veh;

	malloc_trim(0);
	rss0 = bench_rss_bytes();
	heap0 = heap_bytes();
	t0 = bench_now();
	json = facility_json(spots, rowlen);
	j = json != NULL ? cJSON_Parse(json) : NULL;
	veh = cJSON_Parse(vehicles_json);
	if (j == NULL || veh == NULL) {
		fprintf(stderr, "bench: cannot build the JSON\n");
		exit(1);
	}
	t1 = bench_now();
	f = facility_from_json(j, veh, &(struct jerr){ err, sizeof(err), 0 });
	t2 = bench_now();
	if (f == NULL) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	cJSON_Delete(j);
	cJSON_Delete(veh);
	free(json);
	malloc_trim(0);
	rss1 = bench_rss_bytes();
	heap1 = heap_bytes();
	t3 = bench_now();
	a = alloc_new(f);
	if (a == NULL) {
		fprintf(stderr, "bench: alloc_new failed\n");
		exit(1);
	}
	t3 = bench_now() - t3;
	rss2 = bench_rss_bytes();
	heap2 = heap_bytes();

	printf("== %u spots (%u rows of %u, %d levels, 3 entry gates)\n", spots,
	    facility_row_count(f), rowlen, LEVELS);
	printf("  construction: JSON parse %.1f ms, facility_from_json %.2f ms,"
	    " alloc_new %.2f ms\n", (t1 - t0) * 1e3, (t2 - t1) * 1e3, t3 * 1e3);
	printf("  memory: facility %.2f B/spot heap, alloc %.2f B/spot heap;"
	    " RSS growth %.2f + %.2f B/spot\n",
	    (double)(heap1 - heap0) / spots, (double)(heap2 - heap1) / spots,
	    (double)(rss1 - rss0) / spots, (double)(rss2 - rss1) / spots);

	for (int g = 0; g < facility_gate_count(f); g++)
		if (facility_gate_role(f, g) & FAC_GATE_ENTRY)
			gates[ngates++] = g;
	classes[0] = facility_class_lookup(f, "car");
	classes[1] = facility_class_lookup(f, "motorcycle");
	classes[2] = facility_class_lookup(f, "van");
	classes[3] = facility_class_lookup(f, "coach");
	needs = cJSON_CreateStringArray((const char *const[]){ "ev" }, 1);
	if (needs == NULL || facility_tags_mask(f, needs, "", &ev, &(struct jerr){ NULL, 0, 0 }) != 0) {
		fprintf(stderr, "bench: tags\n");
		exit(1);
	}
	cJSON_Delete(needs);
	if ((cars = calloc(spots, sizeof(*cars))) == NULL) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}

	/* Fill to 85%, then entries and exits at that steady state. */
	target = (size_t)spots * 85 / 100;
	for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++) {
		double ts = bench_now(), te = 0, tx = 0, tc;
		long entries = 0, exits = 0, full = 0;
		alloc_set_strategy(a, strategies[i]);
		ts = bench_now() - ts;
		while (ncars < target) {
			if (park(a, gates[bench_rng() % (uint64_t)ngates],
			    classes[bench_rng() % 3], 0, &cars[ncars]) != 0)
				break;
			ncars++;
		}
		for (long op = 0; op < ops; op += 1000) {
			double t = bench_now();
			for (int k = 0; k < 1000 && ncars > 0; k++) {
				size_t v = bench_rng() % ncars;
				unpark(a, &cars[v]);
				cars[v] = cars[--ncars];
				exits++;
			}
			tx += bench_now() - t;
			t = bench_now();
			for (int k = 0; k < 1000; k++) {
				uint64_t x = bench_rng();
				/* One in 20 a coach (a run of 5), one in 10 needs ev. */
				int cls = (x >> 8) % 20 == 0 ? classes[3] :
				    classes[(x >> 8) % 3];
				if (park(a, gates[x % (uint64_t)ngates], cls,
				    (x >> 16) % 10 == 0 ? ev : 0, &cars[ncars]) != 0) {
					full++;
					continue;
				}
				ncars++;
				entries++;
			}
			te += bench_now() - t;
		}
		/* Choosing alone for a coach: the contiguous path. */
		tc = bench_now();
		{
			uint32_t out[ALLOC_MAX_SPOTS];
			size_t n;
			for (int k = 0; k < 1000; k++)
				(void)alloc_choose(a, gates[k % ngates], classes[3], 0,
				    out, &n);
			tc = (bench_now() - tc) / 1000;
		}
		printf("  %-8s entry %6.0f ns  exit %6.0f ns  (%ld entries, %ld exits,"
		    " %ld full)  coach choose %6.0f ns  switch %.2f ms\n",
		    alloc_strategy_name(strategies[i]),
		    entries ? te / (double)(entries + full) * 1e9 : 0.0,
		    exits ? tx / (double)exits * 1e9 : 0.0, entries, exits, full,
		    tc * 1e9, ts * 1e3);
	}
	rss3 = bench_rss_bytes();
	printf("  RSS growth after the runs: %.2f B/spot (facility + alloc +"
	    " the benchmark's own %zu B/spot of parked vehicles)\n",
	    (double)(rss3 - rss0) / spots, sizeof(struct car));
	free(cars);
	alloc_free(a);
	facility_free(f);
}

int
main(int argc, char **argv)
{
	uint32_t sizes[8] = { 1000, 100000, 1000000 };
	int nsizes = 3, c;
	long ops = 200000;
	uint32_t rowlen = 100;

	while ((c = getopt(argc, argv, "n:r:")) != -1) {
		switch (c) {
		case 'n':
			ops = atol(optarg);
			break;
		case 'r':
			rowlen = (uint32_t)atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench_alloc [-n OPS] [-r ROWLEN]"
			    " [SPOTS...]\n");
			return 2;
		}
	}
	if (optind < argc) {
		nsizes = 0;
		for (int i = optind; i < argc && nsizes < 8; i++)
			sizes[nsizes++] = (uint32_t)atol(argv[i]);
	}
	if (rowlen == 0 || ops <= 0)
		return 2;
	for (int i = 0; i < nsizes; i++)
		bench_size(sizes[i], rowlen, ops);
	return 0;
}
