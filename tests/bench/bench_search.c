/*
 * bench_search.c - micro-benchmark of the plate index behind live search
 * (lib/omap): prefix searches of limit 20, and insert/delete churn, with
 * 150 000 and 1 000 000 plates in the map; plus routing of one plate to
 * search subscriptions (lib/subs) with 1 000 and 100 000 subscribers; and
 * the whole `search` request (a JSON-RPC line through proto/session: parse,
 * the garage's index, the reply written) with 150 000 vehicles inside.
 *
 *   bench_search [-n SEARCHES] [PLATES...]
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "garage.h"
#include "omap.h"
#include "plate.h"
#include "session.h"
#include "subs.h"
#include "benchutil.h"

#define LIMIT 20

static size_t
heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/*
 * A plate shaped like a German one: district (1-3 letters), '-', 1-2
 * letters, ' ', 1-4 digits ("B-XY 1234"), so prefixes share like real ones.
 */
static void
rand_plate(char out[PLATE_BUFSZ])
{
	static const char *const district[] = { "B", "M", "HH", "K", "F", "S",
	    "D", "DO", "E", "HB", "H", "L", "N", "DD", "BO", "W", "MS", "KI",
	    "A", "AC", "MZ", "WI", "KA", "HD", "OS", "BI", "GE", "MG", "OB",
	    "LEV", "SHA", "FFB" };
	size_t nd = sizeof(district) / sizeof(district[0]);
	int letters = 1 + (int)(bench_rng() % 2), digits = 1 + (int)(bench_rng() % 4);
	size_t n = (size_t)snprintf(out, PLATE_BUFSZ, "%s-",
	    district[bench_rng() % nd]);

	for (int i = 0; i < letters; i++)
		out[n++] = (char)('A' + bench_rng() % 26);
	out[n++] = ' ';
	out[n++] = (char)('1' + bench_rng() % 9);
	for (int i = 1; i < digits; i++)
		out[n++] = (char)('0' + bench_rng() % 10);
	out[n] = '\0';
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Searches of limit LIMIT for prefixes of length plen cut from live plates. */
static void
bench_prefix(const omap *m, char (*plates)[PLATE_BUFSZ], size_t n,
    size_t plen, long searches)
{
	double *t = malloc((size_t)searches * sizeof(*t));
	double total = 0, t0;
	long matches = 0, full = 0;
	const char *got[LIMIT];

	if (t == NULL)
		return;
	for (long i = 0; i < searches; i++) {
		const char *p = plates[bench_rng() % n];
		size_t len = strlen(p) < plen ? strlen(p) : plen;
		size_t k = 0;

		t0 = bench_now();
		for (omap_node *o = omap_prefix_first(m, p, len);
		    o != NULL && k < LIMIT; o = omap_prefix_next(o, p, len))
			got[k++] = omap_node_key(o);
		t[i] = bench_now() - t0;
		total += t[i];
		matches += (long)k;
		full += k == LIMIT;
		if (k > 0 && got[0][0] == '\0')	/* keep the loop honest */
			abort();
	}
	qsort(t, (size_t)searches, sizeof(*t), cmp_double);
	printf("  prefix len %zu: %6.2f us/search mean, p50 %5.2f, p99 %5.2f"
	    " (%.1f matches/search, %.0f%% hit the limit)\n", plen,
	    total / (double)searches * 1e6, t[searches / 2] * 1e6,
	    t[searches * 99 / 100] * 1e6, (double)matches / (double)searches,
	    100.0 * (double)full / (double)searches);
	free(t);
}

static int
run(size_t n, long searches)
{
	char (*plates)[PLATE_BUFSZ] = malloc(n * sizeof(*plates));
	size_t heap0 = heap_bytes(), dup = 0, i;
	omap *m = omap_new(PLATE_MAX);
	double t0, t_ins, t_churn;
	long churn = 200000;
	char fresh[PLATE_BUFSZ];

	if (plates == NULL || m == NULL) {
		fprintf(stderr, "bench: out of memory\n");
		return 1;
	}
	t0 = bench_now();
	for (i = 0; i < n;) {
		rand_plate(plates[i]);
		if (omap_get(m, plates[i]) != NULL) {
			dup++;
			continue;
		}
		if (omap_put(m, plates[i], plates[i], NULL) != PK_OK) {
			fprintf(stderr, "bench: omap_put failed\n");
			return 1;
		}
		i++;
	}
	t_ins = bench_now() - t0;
	printf("== %zu plates in the index\n", n);
	printf("  build: %.0f ns/insert (with a lookup; %zu duplicates"
	    " redrawn), heap %.1f"
	    " B/plate\n", t_ins / (double)n * 1e9, dup,
	    (double)(heap_bytes() - heap0 - n * sizeof(*plates)) / (double)n);

	for (size_t plen = 1; plen <= 6; plen++)
		bench_prefix(m, plates, n, plen, searches);
	{
		double total = 0;
		long misses = searches;

		for (long k = 0; k < misses; k++) {
			char p[8];

			snprintf(p, sizeof(p), "Q%c-", (char)('A' + bench_rng() % 26));
			t0 = bench_now();
			if (omap_prefix_first(m, p, strlen(p)) != NULL)
				abort();
			total += bench_now() - t0;
		}
		printf("  no match:     %6.2f us/search mean\n",
		    total / (double)misses * 1e6);
	}

	/* Churn: a vehicle leaves (delete) and another comes (insert). */
	t0 = bench_now();
	for (long k = 0; k < churn; k++) {
		size_t j = bench_rng() % n;

		if (omap_del(m, plates[j]) != plates[j])
			abort();
		do
			rand_plate(fresh);
		while (omap_get(m, fresh) != NULL);
		memcpy(plates[j], fresh, sizeof(fresh));
		if (omap_put(m, plates[j], plates[j], NULL) != PK_OK)
			abort();
	}
	t_churn = bench_now() - t0;
	printf("  churn: %.0f ns per delete + insert pair (incl. one lookup"
	    " and drawing a plate; %ld pairs)\n", t_churn / (double)churn * 1e9,
	    churn);
	{
		/* The same with only the two map operations timed. */
		double td = 0, ti = 0;

		for (long k = 0; k < churn; k++) {
			size_t j = bench_rng() % n;

			do
				rand_plate(fresh);
			while (omap_get(m, fresh) != NULL);
			t0 = bench_now();
			omap_del(m, plates[j]);
			td += bench_now() - t0;
			memcpy(plates[j], fresh, sizeof(fresh));
			t0 = bench_now();
			omap_put(m, plates[j], plates[j], NULL);
			ti += bench_now() - t0;
		}
		printf("  delete %.0f ns, insert %.0f ns (each timed alone)\n",
		    td / (double)churn * 1e9, ti / (double)churn * 1e9);
	}
	if (omap_check(m) != 0) {
		fprintf(stderr, "bench: map invariants broken\n");
		return 1;
	}
	omap_free(m);
	free(plates);
	return 0;
}

/* Routing one entry to search:PREFIX subscribers. */
static int
bench_routing(size_t nsubs)
{
	subs *s = subs_new(0);
	char plate[PLATE_BUFSZ], id[32], topic[32];
	long routes = 20000, visited = 0;
	double t0, total, tmiss;

	if (s == NULL)
		return 1;
	for (size_t i = 0; i < nsubs; i++) {
		struct subs_topic t;

		rand_plate(plate);
		plate[2 + bench_rng() % 5] = '\0';	/* a prefix of 2..6 chars */
		snprintf(id, sizeof(id), "sub-%zu", i);
		snprintf(topic, sizeof(topic), "search:%s", plate);
		if (subs_topic_parse(topic, strlen(topic), &t) != PK_OK ||
		    subs_subscribe(s, i, id, &t, 1, 0) != PK_OK) {
			fprintf(stderr, "bench: subscribe %s failed\n", topic);
			return 1;
		}
	}
	t0 = bench_now();
	for (long k = 0; k < routes; k++) {
		rand_plate(plate);
		visited += (long)subs_each_search(s, plate, NULL, NULL);
	}
	total = bench_now() - t0;
	/* Plates nobody watches: the 16 lookups alone. */
	t0 = bench_now();
	for (long k = 0; k < routes; k++) {
		rand_plate(plate);
		plate[0] = 'Q';
		plate[1] = 'Q';
		if (subs_each_search(s, plate, NULL, NULL) != 0)
			abort();
	}
	tmiss = bench_now() - t0;
	printf("  %zu search subscribers (prefixes of 2-6 chars): %.0f ns to"
	    " route a plate, %.1f receivers each; %.0f ns with none"
	    " (incl. drawing the plate)\n", nsubs,
	    total / (double)routes * 1e9, (double)visited / (double)routes,
	    tmiss / (double)routes * 1e9);
	subs_free(s);
	return 0;
}

/* The `search` request, line in and reply out, with n vehicles inside. */
static int
bench_search_call(size_t n, long calls)
{
	static const struct call_env env;
	char (*plates)[PLATE_BUFSZ] = malloc(n * sizeof(*plates));
	static const char *const gate[] = { "in" };
	garage *g = bench_garage("bench_search", (uint32_t)n, 0, gate, 1, ALLOC_FIRST, 10);
	struct session s;
	struct changes ch;
	size_t i = 0;

	if (g == NULL || plates == NULL)
		return 1;
	changes_init(&ch);
	while (i < n) {
		struct garage_entry_in in;
		struct ticket *t;
		char id[UUID_BUFSZ];

		rand_plate(plates[i]);
		if (garage_inside(g, plates[i]) != NULL)
			continue;
		snprintf(id, sizeof(id), "00000000-0000-7000-8000-%012zx", i);
		memset(&in, 0, sizeof(in));
		in.plate = plates[i];
		in.ticket_id = id;
		in.at = 1795392000;
		if (garage_entry(g, &in, &t, &ch) != PK_OK) {
			fprintf(stderr, "bench: entry %zu failed\n", i);
			return 1;
		}
		changes_clear(&ch);
		i++;
	}
	changes_release(&ch);
	memset(&s, 0, sizeof(s));
	s.g = g;
	s.env = &env;
	s.role = ROLE_OPERATOR;
	printf("== the search request (JSON-RPC line -> reply line, proto/session)"
	    " with %zu vehicles inside\n", garage_inside_count(g));
	for (size_t plen = 1; plen <= 6; plen += plen < 2 ? 1 : 2) {
		double *t = malloc((size_t)calls * sizeof(*t)), total = 0;
		size_t bytes = 0;

		if (t == NULL)
			return 1;
		for (long k = 0; k < calls; k++) {
			const char *p = plates[bench_rng() % n];
			char line[160];
			struct session_out out;
			int len = snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\","
			    "\"id\":%ld,\"method\":\"search\",\"params\":{\"prefix\":"
			    "\"%.*s\"}}", k, (int)plen, p);
			double t0 = bench_now();

			if (session_handle(&s, line, (size_t)len, 0, 1795392000, &out) != 0 ||
			    out.line == NULL || strstr(out.line, "\"result\"") == NULL) {
				fprintf(stderr, "bench: search failed: %s\n",
				    out.line ? out.line : "(no reply)");
				return 1;
			}
			t[k] = bench_now() - t0;
			total += t[k];
			bytes += out.line_len;
			free(out.defer_id);
		}
		qsort(t, (size_t)calls, sizeof(*t), cmp_double);
		printf("  prefix len %zu: %6.2f us/call mean, p50 %5.2f, p99 %5.2f"
		    " (limit 20; %.0f bytes a reply)\n", plen,
		    total / (double)calls * 1e6, t[calls / 2] * 1e6,
		    t[calls * 99 / 100] * 1e6, (double)bytes / (double)calls);
		free(t);
	}
	session_release(&s);
	garage_free(g);
	free(plates);
	return 0;
}

int
main(int argc, char **argv)
{
	size_t sizes[8] = { 150000, 1000000 };
	int nsizes = 2, c, rc = 0;
	long searches = 100000;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c == 'n') {
			searches = atol(optarg);
		} else {
			fprintf(stderr, "usage: bench_search [-n SEARCHES]"
			    " [PLATES...]\n");
			return 2;
		}
	}
	if (searches < 100)
		searches = 100;
	if (optind < argc) {
		nsizes = 0;
		for (int i = optind; i < argc && nsizes < 8; i++)
			sizes[nsizes++] = (size_t)atol(argv[i]);
	}
	printf("live search: omap prefix iteration, limit %d; %ld searches"
	    " per prefix length\n", LIMIT, searches);
	for (int i = 0; i < nsizes && rc == 0; i++)
		rc = run(sizes[i], searches);
	printf("== subscription routing (subs_each_search)\n");
	if (rc == 0)
		rc = bench_routing(1000);
	if (rc == 0)
		rc = bench_routing(100000);
	if (rc == 0)
		rc = bench_search_call(150000, searches / 4);
	return rc;
}
