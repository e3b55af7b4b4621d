/*
 * bench_resbook.c - micro-benchmark of the reservation book: building a
 * book of N reservations (by reserve, with every conflict check, and by
 * restore, the start-up path), memory per reservation, and the cost of
 * reserve (booked and refused), cancel, a listing page and an arrival
 * look-up with N reservations booked.
 *
 *   bench_resbook [-w] [-n OPS] [N...]      (default N: 1000 100000)
 *
 * Times are process CPU time (the machine may be shared), or wall-clock
 * time with -w; every figure is timed over a batch, never call by call.
 *
 * The book looks like a 1 000 000-spot facility: three types, caps of a
 * quarter of a third of the spots, windows of 1 to 72 hours (mostly short)
 * spread over the 90-day horizon, one in three naming a spot.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "resbook.h"
#include "uuid7.h"
#include "benchutil.h"

#define NOW ((int64_t)1795392000)
#define NTYPES 3
#define CAP 83333u		/* floor(0.25 x 1 000 000 / 3) */
#define SPOTS 1000000u

static clockid_t clock_id = CLOCK_PROCESS_CPUTIME_ID;

static double
now(void)
{
	return bench_clock(clock_id);
}

static size_t
heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static struct uuid7_gen gen;
static uint64_t id_ms = (uint64_t)NOW * 1000;

static void
next_id(char out[UUID_BUFSZ])
{
	unsigned char rnd[16], u[16];

	for (int i = 0; i < 16; i += 8) {
		uint64_t x = bench_rng();
		memcpy(rnd + i, &x, 8);
	}
	uuid7_next(&gen, id_ms++, rnd, u);
	uuid_format(u, out);
}

/* A request like a kiosk's: plate, window, sometimes a spot. */
static void
make_req(struct resbook_reserve_in *in, char id[UUID_BUFSZ],
    char plate[PLATE_BUFSZ], uint32_t cap)
{
	uint64_t x = bench_rng();
	int64_t len = (x % 10 < 8) ? 3600 * (int64_t)(1 + (x >> 8) % 4) :
	    3600 * (int64_t)(1 + (x >> 8) % 72);

	next_id(id);
	snprintf(plate, PLATE_BUFSZ, "B-%05u", (unsigned)((x >> 20) % 100000));
	memset(in, 0, sizeof(*in));
	in->id = id;
	in->plate = plate;
	in->spot = (x >> 40) % 3 == 0 ? (uint32_t)((x >> 42) % SPOTS) : RESV_NO_SPOT;
	in->from = NOW + 3600 + (int64_t)((x >> 13) % (89 * 86400));
	in->to = in->from + len;
	in->type = (int)((x >> 30) % NTYPES);
	in->units = 1;
	in->max_spots = 1;
	in->cap = cap;
	in->now = NOW;
}

static resbook *
new_book(void)
{
	struct resbook_config c = {
		.ntypes = NTYPES, .hold_before_s = 900, .no_show_after_s = 1800,
		.max_hours = 72, .horizon_days = 90,
	};
	resbook *rb = resbook_new(&c);

	if (rb == NULL) {
		fprintf(stderr, "bench: resbook_new failed\n");
		exit(1);
	}
	return rb;
}

struct snap {
	const struct resv **r;
	size_t n;
};

static void
snap_fn(void *ud, const struct resv *r)
{
	struct snap *s = ud;

	s->r[s->n++] = r;
}

/* Undoes a batch: cancels and forgets (not timed). */
static void
undo(resbook *rb, struct resv **made, size_t n)
{
	int changed;

	for (size_t i = 0; i < n; i++)
		resbook_cancel(rb, made[i], NOW, &changed);
	resbook_forget(rb, NOW, 0, 0);
}

static void
bench_size(size_t n, long ops)
{
	char id[UUID_BUFSZ], plate[PLATE_BUFSZ];
	struct resbook_reserve_in in;
	struct resv *made[100], *items[100];
	struct resbook_counts c;
	struct snap s;
	resbook *rb, *rb2;
	size_t heap0, heap1, refused = 0;
	double t, t_build, t_restore, t_ok = 0, t_conf = 0, t_cancel = 0,
	    t_list = 0, t_arr = 0;
	long n_ok = 0, n_conf = 0, n_refused = 0, n_cancel = 0, n_list = 0,
	    n_arr = 0;
	int changed;

	malloc_trim(0);
	heap0 = heap_bytes();
	rb = new_book();
	t = now();
	while (resbook_counts(rb, &c), c.total < n) {
		make_req(&in, id, plate, CAP);
		if (resbook_reserve(rb, &in, NULL, NULL) != PK_OK)
			refused++;	/* a spot asked for twice */
	}
	t_build = now() - t;
	heap1 = heap_bytes();

	/* Start-up: the same records restored into a new book. */
	s.r = malloc(n * sizeof(*s.r));
	s.n = 0;
	if (s.r == NULL)
		exit(1);
	resbook_each(rb, snap_fn, &s);
	rb2 = new_book();
	t = now();
	for (size_t i = 0; i < s.n; i++)
		if (resbook_restore(rb2, s.r[i], NULL) != PK_OK) {
			fprintf(stderr, "bench: restore failed\n");
			exit(1);
		}
	t_restore = now() - t;
	resbook_free(rb2);
	free(s.r);

	/* Reserve with its conflict check, in batches of 100, undone after. */
	for (long op = 0; op < ops; op += 100) {
		size_t k = 0;
		t = now();
		for (int i = 0; i < 100; i++) {
			make_req(&in, id, plate, CAP);
			if (resbook_reserve(rb, &in, &made[k], NULL) == PK_OK)
				k++;
		}
		t_ok += now() - t;
		n_ok += 100;
		t = now();
		for (size_t i = 0; i < k; i++)
			resbook_cancel(rb, made[i], NOW, &changed);
		t_cancel += now() - t;
		n_cancel += (long)k;
		resbook_forget(rb, NOW, 0, 0);
		/*
		 * Cap 1: refused wherever another reservation of the type
		 * overlaps (nearly always at 100 000), after the same search.
		 * The few accepted are undone after the batch.
		 */
		k = 0;
		t = now();
		for (int i = 0; i < 100; i++) {
			make_req(&in, id, plate, 1);
			if (resbook_reserve(rb, &in, &made[k], NULL) == PK_OK)
				k++;
		}
		t_conf += now() - t;
		n_conf += 100;
		n_refused += 100 - (long)k;
		undo(rb, made, k);
	}
	/* A listing page of 100 from a random point, and arrivals. */
	t = now();
	for (long op = 0; op < ops / 100; op++) {
		struct resbook_query q = { 0 };
		char cur[RESBOOK_CURSOR_BUFSZ];
		size_t got;
		q.limit = 100;
		q.has_from = 1;
		q.from = NOW + (int64_t)(bench_rng() % (80 * 86400));
		resbook_list(rb, &q, items, &got, cur);
		n_list++;
	}
	t_list = now() - t;
	t = now();
	for (long op = 0; op < ops; op++) {
		snprintf(plate, PLATE_BUFSZ, "B-%05u", (unsigned)(bench_rng() % 100000));
		(void)resbook_arrival(rb, plate, NOW + (int64_t)(bench_rng() % (80 * 86400)),
		    900);
		n_arr++;
	}
	t_arr = now() - t;
	resbook_counts(rb, &c);
	printf("== %zu reservations (%zu spot clashes refused while building;"
	    " %s time)\n", n, refused,
	    clock_id == CLOCK_MONOTONIC ? "wall-clock" : "CPU");
	printf("  build by reserve %.1f ms (%.2f us each), by restore %.1f ms"
	    " (%.2f us each); heap %.0f B/reservation\n", t_build * 1e3,
	    t_build / (double)n * 1e6, t_restore * 1e3,
	    t_restore / (double)n * 1e6, (double)(heap1 - heap0) / (double)n);
	printf("  reserve booked %.2f us; reserve at cap 1 %.2f us (%.0f%%"
	    " refused); cancel %.2f us; list 100 %.1f us; arrival %.2f us\n",
	    t_ok / (double)n_ok * 1e6, t_conf / (double)n_conf * 1e6,
	    100.0 * (double)n_refused / (double)n_conf,
	    n_cancel ? t_cancel / (double)n_cancel * 1e6 : 0.0,
	    t_list / (double)n_list * 1e6, t_arr / (double)n_arr * 1e6);
	if (c.total != n)
		fprintf(stderr, "bench: %llu reservations at the end, not %zu\n",
		    (unsigned long long)c.total, n);
	resbook_free(rb);
}

int
main(int argc, char **argv)
{
	size_t sizes[8] = { 1000, 100000 };
	int nsizes = 2, ch;
	long ops = 100000;

	while ((ch = getopt(argc, argv, "n:w")) != -1) {
		if (ch == 'n')
			ops = atol(optarg);
		else if (ch == 'w')
			clock_id = CLOCK_MONOTONIC;
		else {
			fprintf(stderr, "usage: bench_resbook [-w] [-n OPS] [N...]\n");
			return 2;
		}
	}
	if (optind < argc) {
		nsizes = 0;
		for (int i = optind; i < argc && nsizes < 8; i++)
			sizes[nsizes++] = (size_t)atol(argv[i]);
	}
	if (ops < 100)
		return 2;
	for (int i = 0; i < nsizes; i++)
		bench_size(sizes[i], ops);
	return 0;
}
