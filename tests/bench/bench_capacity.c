/*
 * bench_capacity.c - micro-benchmark of the waitlist and reservations in
 * the garage (lib/capacity.h):
 *
 *   reserve     garage_reserve with its capacity check, with 1 000 and
 *               100 000 reservations booked (1 000 000 spots)
 *   start-up    a garage rebuilt from the snapshot records of 100 000
 *               reservations in a 1 000 000-spot facility, then the due
 *               work and the claims of a start (what recovery does after
 *               reading the files)
 *   exit        an exit with 1 000 vehicles waiting: the head is assigned
 *               the freed spot; and when none of them fits it
 *   pairs       walk-in entry + exit with nobody waiting, with 0 and
 *               100 000 reservations booked (what the claims cost a walk-in)
 *
 *   bench_capacity [-n OPS] [-b reserve|start|exit|pairs]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "capacity.h"
#include "facility_load.h"
#include "record.h"
#include "tariff_load.h"
#include "benchutil.h"

#define T0 ((int64_t)1795392000)

static unsigned idn;

static void
next_id(char out[UUID_BUFSZ])
{
	idn++;
	snprintf(out, UUID_BUFSZ, "%08x-0000-7000-8000-%012x", idn >> 16, idn);
}

static void
ids(void *ud, char out[UUID_BUFSZ])
{
	(void)ud;
	next_id(out);
}

/*
 * spots regular spots (rows of BENCH_ROWLEN on 4 levels), plus `oversized`
 * oversized ones (at least one); cars fit regular, vans oversized.
 */
static garage *
make(uint32_t spots, uint32_t oversized, double *build_s)
{
	static const char *const gates[] = { "in" };
	struct garage_capacity_cfg cc;
	double t0 = bench_now();
	garage *gar = bench_garage("bench_capacity", spots, oversized ? oversized : 1,
	    gates, 1, ALLOC_NEAREST, 10);

	garage_capacity_defaults(&cc);
	cc.max_fraction_ppm = 1000000;
	cc.wl.max_depth = 1000000;
	cc.wl.max_timeout_s = 86400 * 7;
	if (garage_configure_capacity(gar, &cc) != PK_OK)
		exit(1);
	garage_set_ids(gar, ids, NULL);
	if (build_s != NULL)
		*build_s = bench_now() - t0;
	return gar;
}

/* One reservation of a car at a random window within the horizon. */
static pk_err
reserve_one(garage *g, int64_t at, struct changes *ch, int64_t horizon_s)
{
	struct garage_reserve_in in;
	struct resbook_why why;
	struct resv *r;
	char id[UUID_BUFSZ], plate[PLATE_BUFSZ];

	next_id(id);
	snprintf(plate, sizeof(plate), "R-%08u", idn);
	memset(&in, 0, sizeof(in));
	in.id = id;
	in.plate = plate;
	in.cls = 0;
	in.spot = RESV_NO_SPOT;
	in.gate = -1;
	/* Holds start after a day: nothing is due while the book is measured. */
	in.from = at + 86400 + (int64_t)(bench_rng() % (uint64_t)horizon_s);
	in.to = in.from + 3600 + (int64_t)(bench_rng() % (71 * 3600));
	in.now = at;
	return garage_reserve(g, &in, &r, &why, ch);
}

static void
bench_reserve(uint32_t booked, unsigned ops)
{
	garage *g = make(1000000, 0, NULL);
	struct changes ch;
	double t0, dt;

	changes_init(&ch);
	for (uint32_t i = 0; i < booked; i++) {
		if (reserve_one(g, T0, &ch, 88 * 86400) != PK_OK)
			exit(1);
		changes_clear(&ch);
	}
	t0 = bench_now();
	for (unsigned i = 0; i < ops; i++) {
		if (reserve_one(g, T0, &ch, 88 * 86400) != PK_OK)
			exit(1);
		changes_clear(&ch);
	}
	dt = bench_now() - t0;
	printf("reserve with %6u booked (1 000 000 spots): %7.2f us each (%u reserves)\n",
	    booked, dt * 1e6 / ops, ops);
	changes_release(&ch);
	garage_free(g);
}

struct lines {
	char **v;
	size_t *len;
	size_t n, cap, bytes;
};

static int
collect(void *ud, const char *json, size_t len)
{
	struct lines *l = ud;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		l->len = realloc(l->len, l->cap * sizeof(*l->len));
		if (l->v == NULL || l->len == NULL)
			return -1;
	}
	if ((l->v[l->n] = malloc(len)) == NULL)
		return -1;
	memcpy(l->v[l->n], json, len);
	l->len[l->n++] = len;
	l->bytes += len;
	return 0;
}

static void
bench_start(uint32_t booked)
{
	garage *g = make(1000000, 0, NULL), *r;
	struct lines snap = { 0 };
	struct changes ch;
	char msg[256];
	struct jerr e = { msg, sizeof(msg), 0 };
	double build, t0, t_apply, t_due;
	size_t n;

	changes_init(&ch);
	for (uint32_t i = 0; i < booked; i++) {
		if (reserve_one(g, T0, &ch, 88 * 86400) != PK_OK)
			exit(1);
		changes_clear(&ch);
	}
	if (record_snapshot(g, collect, &snap) != 0)
		exit(1);
	garage_free(g);
	t0 = bench_now();
	r = make(1000000, 0, &build);
	for (size_t i = 0; i < snap.n; i++) {
		if (record_apply(r, snap.v[i], snap.len[i], &e) != PK_OK) {
			fprintf(stderr, "bench_capacity: %s\n", msg);
			exit(1);
		}
	}
	t_apply = bench_now() - t0;
	n = garage_run_due(r, T0 + 3600, &ch);
	n += garage_settle(r, T0 + 3600, &ch);
	t_due = bench_now() - t0 - t_apply;
	printf("start-up, %u reservations, 1 000 000 spots: %.3f s (facility %.3f s, "
	    "%zu snapshot records of %.1f MB applied %.3f s, due work %.4f s, %zu changes), "
	    "%.0f MB resident\n", booked, bench_now() - t0, build, snap.n,
	    (double)snap.bytes / 1e6, t_apply - build, t_due, n,
	    (double)bench_rss_bytes() / 1e6);
	for (size_t i = 0; i < snap.n; i++)
		free(snap.v[i]);
	free(snap.v);
	free(snap.len);
	changes_release(&ch);
	garage_free(r);
}

static void
enter(garage *g, const char *plate, int cls, int64_t at, struct changes *ch)
{
	struct garage_entry_in in;
	struct ticket *t;
	char id[UUID_BUFSZ];

	next_id(id);
	memset(&in, 0, sizeof(in));
	in.plate = plate;
	in.cls = cls;
	in.ticket_id = id;
	in.at = at;
	if (garage_entry(g, &in, &t, ch) != PK_OK)
		exit(1);
	changes_clear(ch);
}

static void
wait_one(garage *g, const char *plate, int cls, int64_t at, struct changes *ch)
{
	struct garage_wait_in in;
	struct garage_wait_out o;
	char id[UUID_BUFSZ], tid[UUID_BUFSZ];

	next_id(id);
	next_id(tid);
	memset(&in, 0, sizeof(in));
	in.plate = plate;
	in.cls = cls;
	in.timeout_s = 86400;
	in.id = id;
	in.ticket_id = tid;
	in.at = at;
	if (garage_wait(g, &in, &o, ch) != PK_OK || o.e.state != WAITLIST_WAITING)
		exit(1);
	changes_clear(ch);
}

/*
 * A full lot of `spots` cars, 1 000 waiting: cars (each exit assigns the
 * head, and a new car joins the tail) or vans (nobody fits a freed regular
 * spot; the exited car comes back in).
 */
static void
bench_exit(uint32_t spots, int waiting_cls, unsigned ops)
{
	garage *g = make(spots, 1, NULL);
	struct garage_quote q;
	struct changes ch;
	char plate[PLATE_BUFSZ];
	int64_t at = T0;
	double t0, spent = 0;
	unsigned w = 0;

	changes_init(&ch);
	for (uint32_t i = 0; i < spots; i++) {
		snprintf(plate, sizeof(plate), "C-%08u", i);
		enter(g, plate, 0, at, &ch);
	}
	if (waiting_cls == 1) {
		enter(g, "VAN-0", 1, at, &ch);	/* the oversized spot is taken */
	}
	for (; w < 1000; w++) {
		snprintf(plate, sizeof(plate), "W-%08u", w);
		wait_one(g, plate, waiting_cls, at, &ch);
	}
	for (unsigned i = 0; i < ops; i++) {
		uint32_t k = (uint32_t)(bench_rng() % spots);
		struct ticket *t;

		snprintf(plate, sizeof(plate), "C-%08u", k);
		t = garage_inside(g, plate);
		if (t == NULL) {
			i--;
			continue;
		}
		t0 = bench_now();
		if (garage_exit(g, t, 0, at, &q, &ch) != PK_OK)
			exit(1);
		spent += bench_now() - t0;
		if (waiting_cls == 0) {
			if (ch.n != 3 || garage_waitlist_depth(g) != 999)
				exit(1);
			changes_clear(&ch);
			snprintf(plate, sizeof(plate), "W-%08u", w++);
			wait_one(g, plate, 0, at, &ch);
		} else {
			if (ch.n != 1)
				exit(1);
			changes_clear(&ch);
			enter(g, plate, 0, at, &ch);
		}
	}
	printf("exit, %u spots full, 1 000 %s waiting: %6.2f us each (%u exits)\n",
	    spots, waiting_cls == 0 ? "cars (head assigned)" : "vans (none fits) ",
	    spent * 1e6 / ops, ops);
	changes_release(&ch);
	garage_free(g);
}

/* Walk-in entry + exit pairs: what the waitlist and the book add to them. */
static void
bench_pairs(uint32_t booked, unsigned ops)
{
	garage *g = make(1000000, 0, NULL);
	struct garage_quote q;
	struct changes ch;
	char plate[PLATE_BUFSZ];
	double t0, dt;

	changes_init(&ch);
	for (uint32_t i = 0; i < booked; i++) {
		if (reserve_one(g, T0, &ch, 88 * 86400) != PK_OK)
			exit(1);
		changes_clear(&ch);
	}
	for (uint32_t i = 0; i < 500000; i++) {
		snprintf(plate, sizeof(plate), "H-%08u", i);
		enter(g, plate, 0, T0, &ch);
	}
	t0 = bench_now();
	for (unsigned i = 0; i < ops; i++) {
		snprintf(plate, sizeof(plate), "P-%08u", i);
		enter(g, plate, 0, T0, &ch);
		if (garage_exit(g, garage_inside(g, plate), 0, T0, &q, &ch) != PK_OK)
			exit(1);
		changes_clear(&ch);
	}
	dt = bench_now() - t0;
	printf("entry+exit, 1 000 000 spots half full, %6u booked, nobody waiting: %5.2f us a pair\n",
	    booked, dt * 1e6 / ops);
	changes_release(&ch);
	garage_free(g);
}

int
main(int argc, char **argv)
{
	const char *only = NULL;
	unsigned ops = 10000;
	int c;

	while ((c = getopt(argc, argv, "n:b:")) != -1) {
		if (c == 'n')
			ops = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'b')
			only = optarg;
		else {
			fprintf(stderr, "usage: bench_capacity [-n OPS] [-b reserve|start|exit|pairs]\n");
			return 2;
		}
	}
	printf("bench_capacity: the waitlist and reservations in the garage\n");
	if (only == NULL || strcmp(only, "reserve") == 0) {
		bench_reserve(1000, ops);
		bench_reserve(100000, ops);
	}
	if (only == NULL || strcmp(only, "start") == 0)
		bench_start(100000);
	if (only == NULL || strcmp(only, "exit") == 0) {
		bench_exit(100000, 0, ops);
		bench_exit(100000, 1, ops);
	}
	if (only == NULL || strcmp(only, "pairs") == 0) {
		bench_pairs(0, ops * 10);
		bench_pairs(100000, ops * 10);
	}
	return 0;
}
