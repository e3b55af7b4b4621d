/*
 * bench_layout.c - what the live map's `layout` costs: every page of a
 * facility of N spots (rows of 100 regular spots on 4 levels), half or all
 * of them occupied: pages, bytes, and the time to write them all.
 *
 *   bench_layout [SPOTS...]        (default 10000 1000000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "facility_load.h"
#include "garage.h"
#include "tariff_load.h"
#include "view.h"
#include "benchutil.h"

static garage *
make(uint32_t spots)
{
	static const char *const gates[] = { "in" };

	return bench_garage("bench_layout", spots, 0, gates, 1, ALLOC_FIRST, 10);
}

/* Fills spots until `upto` of them are occupied. */
static void
fill(garage *g, uint32_t *done, uint32_t upto)
{
	struct changes ch;
	struct garage_entry_in in;
	struct ticket *t;
	char plate[PLATE_BUFSZ], id[UUID_BUFSZ];

	changes_init(&ch);
	for (; *done < upto; (*done)++) {
		snprintf(plate, sizeof(plate), "B-%08u", *done);
		snprintf(id, sizeof(id), "00000000-0000-7000-8000-%012x", *done);
		memset(&in, 0, sizeof(in));
		in.plate = plate;
		in.ticket_id = id;
		in.at = 1795392000;
		if (garage_entry(g, &in, &t, &ch) != PK_OK)
			exit(1);
		changes_clear(&ch);
	}
	changes_release(&ch);
}

static void
run(garage *g, const char *what)
{
	uint32_t total = facility_spot_count(garage_facility(g)), from = 0;
	unsigned pages = 0;
	size_t bytes = 0, biggest = 0;
	double t0 = bench_now(), slowest = 0;
	struct jw w;

	jw_init(&w);
	while (from < total) {
		double p0 = bench_now();
		const char *next;

		jw_reset(&w);
		if (view_layout(&w, g, from, FAC_MAX_SPOTS, VIEW_LAYOUT_MAX_BYTES, 1) != PK_OK)
			exit(1);
		if (bench_now() - p0 > slowest)
			slowest = bench_now() - p0;
		pages++;
		bytes += w.len;
		if (w.len > biggest)
			biggest = w.len;
		next = strstr(w.buf, "\"next\":");
		from = next != NULL && next[7] != 'n' ? (uint32_t)strtoul(next + 7, NULL, 10) : total;
	}
	printf("%9u spots, %-13s %3u pages, %8.1f MB (largest %.2f MB), %8.1f ms in all, slowest page %6.1f ms\n",
	    total, what, pages, bytes / 1e6, biggest / 1e6, (bench_now() - t0) * 1e3, slowest * 1e3);
	jw_release(&w);
}

int
main(int argc, char **argv)
{
	uint32_t sizes[8] = { 10000, 1000000 };
	int n = 2;

	if (argc > 1) {
		n = 0;
		for (int i = 1; i < argc && n < 8; i++)
			sizes[n++] = (uint32_t)strtoul(argv[i], NULL, 10);
	}
	printf("bench_layout: every page of `layout` (rows of %u spots)\n", BENCH_ROWLEN);
	for (int i = 0; i < n; i++) {
		garage *g = make(sizes[i]);
		uint32_t done = 0;

		run(g, "empty:");
		fill(g, &done, sizes[i] / 2);
		run(g, "half full:");
		fill(g, &done, sizes[i]);
		run(g, "full:");
		garage_free(g);
	}
	return 0;
}
