/*
 * bench_city.c - what one publish of the city view costs in the core:
 * city_measure (free, total, free_by_class with a contiguous class) and
 * the message and free_by_class texts, at 1k, 100k and 1M spots, empty,
 * half full (every other spot, so runs are broken everywhere) and full.
 * A publish happens at most once per city.publish_ms whatever the rate
 * of changes: this is its cost, not a cost per entry.
 *
 *   bench_city [-n REPEATS] [SPOTS...]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "alloc.h"
#include "city.h"
#include "facility_load.h"
#include "garage.h"
#include "tariff_load.h"
#include "benchutil.h"

#define ROWLEN 200

/* spots in rows of ROWLEN: regular mostly, every 8th row oversized. */
static char *
facility_json(uint32_t spots)
{
	uint32_t nrows = (spots + ROWLEN - 1) / ROWLEN;
	size_t cap = 4096 + (size_t)nrows * 160, len = 0;
	char *s = malloc(cap);

	if (s == NULL)
		return NULL;
	len += (size_t)snprintf(s + len, cap - len,
	    "{\"name\": \"Bench Garage\", \"location\": {\"lat\": 52.52, \"lon\": 13.405},"
	    " \"gates\": [{\"id\": \"in\", \"role\": \"entry\", \"level\": 0, \"x\": 0, \"y\": 0},"
	    " {\"id\": \"out\", \"role\": \"exit\", \"level\": 0, \"x\": 9, \"y\": 0}],"
	    " \"rows\": [");
	for (uint32_t r = 0; r < nrows; r++)
		len += (size_t)snprintf(s + len, cap - len,
		    "%s{\"level\": 0, \"zone\": \"R%u\", \"type\": \"%s\", \"count\": %u,"
		    " \"x\": 1, \"y\": %u, \"dx\": 2.5, \"dy\": 0}", r ? "," : "", r,
		    r % 8 == 7 ? "oversized" : "regular",
		    r == nrows - 1 ? spots - r * ROWLEN : ROWLEN, r * 3);
	snprintf(s + len, cap - len, "]}");
	return s;
}

/*
 * Takes every step-th spot out of service (not free, as if occupied,
 * without a million tickets): step 2 breaks every run, step 1 fills it.
 */
static void
occupy(garage *g, uint32_t spots, uint32_t step)
{
	struct changes ch;

	changes_init(&ch);
	for (uint32_t s = 0; s < spots; s += step) {
		if (garage_set_spot_service(g, s, 0, 1800000000, &ch) != PK_OK) {
			fprintf(stderr, "bench_city: out of memory\n");
			exit(1);
		}
		changes_clear(&ch);
	}
	changes_release(&ch);
}

static void
bench(garage *g, const char *what, long repeats)
{
	const facility *f = garage_facility(g);
	struct city_avail av;
	struct city_pub p;
	struct jw w;
	double t0, t_measure, t_text;
	size_t bytes = 0;

	jw_init(&w);
	t0 = bench_now();
	for (long i = 0; i < repeats; i++)
		city_measure(g, 0, &av);
	t_measure = (bench_now() - t0) / (double)repeats;
	p = (struct city_pub){ "bench-garage", facility_name(f), "127.0.0.1:7070",
	    525200000, 134050000, 1800000000, f, &av };
	t0 = bench_now();
	for (long i = 0; i < repeats; i++) {
		jw_reset(&w);
		city_by_class_json(&w, f, &av);
		jw_reset(&w);
		city_message_json(&w, &p);
		bytes = w.len;
	}
	t_text = (bench_now() - t0) / (double)repeats;
	printf("  %-10s measure %9.2f us, texts %6.2f us (%zu-byte message); "
	    "free %llu, bus fits %llu\n", what, t_measure * 1e6, t_text * 1e6,
	    bytes, (unsigned long long)av.free,
	    (unsigned long long)av.by_class[3]);
	jw_release(&w);
}

static void
bench_size(uint32_t spots, long repeats)
{
	char err[256], *json = facility_json(spots);
	cJSON *j = json ? cJSON_Parse(json) : NULL, *t = cJSON_Parse(
	    "{\"free_minutes\":15,\"increment_minutes\":15,"
	    "\"tiers\":[{\"upto_minutes\":60,\"amount\":300}],\"overage_per_hour\":200,"
	    "\"daily_max\":2500,\"lost_ticket\":5000,\"grace_minutes\":15}");
	facility *f;
	tariff *tf;
	garage *g;

	if (j == NULL || t == NULL) {
		fprintf(stderr, "bench_city: cannot build the JSON\n");
		exit(1);
	}
	f = facility_from_json(j, NULL, &(struct jerr){ err, sizeof(err), 0 });
	tf = tariff_from_json(t, "tariff", &(struct jerr){ err, sizeof(err), 0 });
	if (f == NULL || tf == NULL) {
		fprintf(stderr, "bench_city: %s\n", err);
		exit(1);
	}
	cJSON_Delete(j);
	cJSON_Delete(t);
	free(json);
	g = garage_new(f, tf, NULL, NULL, ALLOC_NEAREST, 0);
	if (g == NULL) {
		fprintf(stderr, "bench_city: out of memory\n");
		exit(1);
	}
	printf("== %u spots (%u rows of %u; classes motorcycle, car, van, bus with"
	    " contiguous regular 5)\n", spots, facility_row_count(f), ROWLEN);
	bench(g, "empty", repeats);
	occupy(g, spots, 2);
	bench(g, "half full", repeats);
	occupy(g, spots, 1);
	bench(g, "full", repeats);
	garage_free(g);
}

int
main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 1000, 100000, 1000000 };
	long repeats = 0;
	int ch, custom = 0;

	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch == 'n')
			repeats = atol(optarg);
		else {
			fprintf(stderr, "usage: bench_city [-n REPEATS] [SPOTS...]\n");
			return 2;
		}
	}
	printf("bench_city: one publish's measure of the facility (lib/city.h)\n");
	for (int i = optind; i < argc; i++, custom = 1) {
		uint32_t n = (uint32_t)strtoul(argv[i], NULL, 10);

		bench_size(n, repeats > 0 ? repeats : (long)(20000000 / n) + 1);
	}
	for (size_t i = 0; !custom && i < sizeof(sizes) / sizeof(sizes[0]); i++)
		bench_size(sizes[i], repeats > 0 ? repeats : (long)(20000000 / sizes[i]) + 1);
	return 0;
}
