/* test_alloc_model.c - randomized comparison of the allocation engine with a brute-force model of config.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "facility_load.h"
#include "rng.h"

/* ---- a deterministic generator, so that a failing seed reproduces ---- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	return tu_rng(&rng_state);
}

static uint32_t
rnd(uint32_t n)
{
	return (uint32_t)(rng() % n);
}

/* ---- the model: spot states and allocation written plainly from the spec ---- */

enum m_state { M_FREE, M_OCC, M_OOS, M_HELD };

struct model {
	const facility *f;
	uint32_t n;
	enum m_state *st;
	int *pending;
	enum alloc_strategy strategy;
	/* Per-spot facts, looked up once so that the scans stay quick. */
	int *type, *level;
	uint32_t *row;
	uint64_t *tags;
	int64_t *dist;		/* [gate * n + spot] */
};

static void
m_init(struct model *m, const facility *f)
{
	int ng = facility_gate_count(f);

	m->f = f;
	m->n = facility_spot_count(f);
	m->st = calloc(m->n, sizeof(*m->st));
	m->pending = calloc(m->n, sizeof(*m->pending));
	m->type = calloc(m->n, sizeof(*m->type));
	m->level = calloc(m->n, sizeof(*m->level));
	m->row = calloc(m->n, sizeof(*m->row));
	m->tags = calloc(m->n, sizeof(*m->tags));
	m->dist = calloc((size_t)m->n * (size_t)ng, sizeof(*m->dist));
	m->strategy = ALLOC_NEAREST;
	assert_true(m->st && m->pending && m->type && m->level && m->row &&
	    m->tags && m->dist);
	for (uint32_t s = 0; s < m->n; s++) {
		m->type[s] = facility_spot_type_index(f, s);
		m->level[s] = facility_spot_level(f, s);
		m->row[s] = facility_row_of_spot(f, s);
		m->tags[s] = facility_spot_tags(f, s);
		for (int g = 0; g < ng; g++)
			m->dist[(size_t)g * m->n + s] = facility_distance_milli(f, g, s);
	}
}

static void
m_fini(struct model *m)
{
	free(m->st);
	free(m->pending);
	free(m->type);
	free(m->level);
	free(m->row);
	free(m->tags);
	free(m->dist);
}

/* Whether candidate (level, dist, order) beats the best so far. */
static int
m_better(enum alloc_strategy s, int lvl, int64_t d, uint32_t o, int blvl,
    int64_t bd, uint32_t bo)
{
	if (s == ALLOC_FIRST)
		return o < bo;
	if (s == ALLOC_FILL && lvl != blvl)
		return lvl < blvl;
	if (s == ALLOC_FARTHEST)
		return d > bd || (d == bd && o < bo);
	return d < bd || (d == bd && o < bo);
}

static pk_err
m_choose(const struct model *m, int gate, int cls, uint64_t needs,
    uint32_t *out, size_t *n)
{
	const facility *f = m->f;
	int nfits, ctype, ccount;
	const int *fits = facility_class_fits(f, cls, &nfits);

	*n = 0;
	/* Step 1: each type of fits in order; one spot. */
	for (int k = 0; k < nfits; k++) {
		int found = 0, blvl = 0;
		int64_t bd = 0;
		uint32_t bo = 0;
		for (uint32_t s = 0; s < m->n; s++) {
			if (m->st[s] != M_FREE || m->type[s] != fits[k] ||
			    (m->tags[s] & needs) != needs)
				continue;
			int lvl = m->level[s];
			int64_t d = m->dist[(size_t)gate * m->n + s];
			if (!found || m_better(m->strategy, lvl, d, s, blvl, bd, bo)) {
				found = 1;
				blvl = lvl;
				bd = d;
				bo = s;
			}
		}
		if (found) {
			out[0] = bo;
			*n = 1;
			return PK_OK;
		}
	}
	/* Step 2: runs of `count` consecutive spots of one row. */
	if (facility_class_contiguous(f, cls, &ctype, &ccount) == 0) {
		int found = 0, blvl = 0;
		int64_t bd = 0;
		uint32_t bo = 0;
		for (uint32_t s = 0; s + (uint32_t)ccount <= m->n; s++) {
			int ok = 1;
			int64_t d = INT64_MAX;
			for (uint32_t j = s; j < s + (uint32_t)ccount && ok; j++) {
				/* Same row as s: same zone and consecutive numbers. */
				ok = m->st[j] == M_FREE && m->type[j] == ctype &&
				    (m->tags[j] & needs) == needs && m->row[j] == m->row[s];
				if (ok && m->dist[(size_t)gate * m->n + j] < d)
					d = m->dist[(size_t)gate * m->n + j];
			}
			if (!ok)
				continue;
			int lvl = m->level[s];
			if (!found || m_better(m->strategy, lvl, d, s, blvl, bd, bo)) {
				found = 1;
				blvl = lvl;
				bd = d;
				bo = s;
			}
		}
		if (found) {
			for (int j = 0; j < ccount; j++)
				out[j] = bo + (uint32_t)j;
			*n = (size_t)ccount;
			return PK_OK;
		}
	}
	return PK_E_LOT_FULL;
}

static void
m_counts(const struct model *m, int type, int level_idx, struct alloc_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (uint32_t s = 0; s < m->n; s++) {
		if (type >= 0 && facility_spot_type_index(m->f, s) != type)
			continue;
		if (level_idx >= 0 && facility_spot_level_index(m->f, s) != level_idx)
			continue;
		c->total++;
		switch (m->st[s]) {
		case M_FREE: c->free++; break;
		case M_OCC: c->occupied++; break;
		case M_OOS: c->out_of_service++; break;
		case M_HELD: c->held++; break;
		}
	}
}

/* ---- a random facility ---- */

struct gen {
	char *json;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3)))
static void
gen_printf(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(g->json + g->len, g->cap - g->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < g->cap - g->len)
			break;
		g->cap = g->cap * 2 + (size_t)n;
		g->json = realloc(g->json, g->cap);
		assert_non_null(g->json);
	}
	g->len += (size_t)n;
}

static const char *const types[] = { "compact", "regular", "oversized" };
static const char *const tags[] = { "ev", "wide", "roof" };
/* Steps chosen to make many exact ties and flat stretches. */
static const double steps[] = { -2, -1, 0, 0, 0.5, 1, 1, 2.5, 3 };

static facility *
random_facility(int big)
{
	struct gen g = { malloc(256), 0, 256 };
	int nrows = 3 + (int)rnd(8), ngates = 2 + (int)rnd(3);
	char err[256];
	cJSON *jf, *jv;
	facility *f;

	assert_non_null(g.json);
	g.json[0] = '\0';
	gen_printf(&g, "{\"facility\": {\"level_distance\": %u, \"gates\": [",
	    rnd(3) * 20);
	for (int i = 0; i < ngates; i++)
		gen_printf(&g, "%s{\"id\": \"g%d\", \"role\": \"%s\", \"level\": %u,"
		    " \"x\": %d, \"y\": %d}", i ? "," : "", i,
		    i == 0 ? "entry" : (i == ngates - 1 ? "exit" :
		    (rnd(2) ? "both" : "entry")), rnd(3), (int)rnd(40) - 5,
		    (int)rnd(30) - 5);
	gen_printf(&g, "], \"rows\": [");
	/* Rows on levels 0..2; every level gets one so gates point somewhere. */
	for (int i = 0; i < nrows; i++) {
		uint32_t count = big && rnd(3) == 0 ? 60 + rnd(200) : 1 + rnd(25);
		gen_printf(&g, "%s{\"level\": %d, \"zone\": \"Z%d\", \"type\": \"%s\","
		    " \"count\": %u, \"x\": %d, \"y\": %d, \"dx\": %g, \"dy\": %g,"
		    " \"tags\": [", i ? "," : "", i < 3 ? i : (int)rnd(3), i,
		    types[rnd(3)], count, (int)rnd(30), (int)rnd(30),
		    steps[rnd(9)], steps[rnd(9)]);
		for (int t = 0, first = 1; t < 3; t++)
			if (rnd(3) == 0) {
				gen_printf(&g, "%s\"%s\"", first ? "" : ",", tags[t]);
				first = 0;
			}
		gen_printf(&g, "]}");
	}
	/* The three types and tags all exist: pad with one row of each. */
	for (int t = 0; t < 3; t++)
		gen_printf(&g, ",{\"level\": %u, \"zone\": \"P%d\", \"type\": \"%s\","
		    " \"count\": %u, \"x\": 3, \"y\": 7, \"dx\": 1, \"dy\": 0,"
		    " \"tags\": [\"%s\"]}", rnd(3), t, types[t], 1 + rnd(8), tags[t]);
	gen_printf(&g, "]}, \"vehicles\": {"
	    "\"moto\": {\"fits\": [\"compact\", \"regular\", \"oversized\"]},"
	    "\"car\": {\"fits\": [\"regular\", \"oversized\"]},"
	    "\"van\": {\"fits\": [\"oversized\"], \"contiguous\": {\"type\": \"regular\", \"count\": %u}},"
	    "\"bus\": {\"fits\": [], \"contiguous\": {\"type\": \"%s\", \"count\": %u}},"
	    "\"long\": {\"fits\": [\"compact\"], \"contiguous\": {\"type\": \"regular\", \"count\": %u}}}}",
	    2 + rnd(2), types[rnd(3)], 1 + rnd(6), 40 + rnd(25));
	jf = cJSON_Parse(g.json);
	assert_non_null(jf);
	jv = cJSON_GetObjectItemCaseSensitive(jf, "vehicles");
	f = facility_from_json(cJSON_GetObjectItemCaseSensitive(jf, "facility"),
	    jv, &(struct jerr){ err, sizeof(err), 0 });
	if (f == NULL)
		fail_msg("%s in %s", err, g.json);
	cJSON_Delete(jf);
	free(g.json);
	return f;
}

/* ---- the run ---- */

/* How often each outcome was compared: the run must reach every path. */
static unsigned long seen_single, seen_run, seen_full, seen_strategy[4];

struct vehicle {
	uint32_t spots[ALLOC_MAX_SPOTS];
	size_t n;
};

/* The plain rule of alloc_free_runs: floor(L / k) summed over free runs. */
static uint64_t
m_free_runs(const struct model *m, int type, uint32_t k)
{
	uint64_t n = 0, cur = 0;

	for (uint32_t s = 0; s < m->n; s++) {
		int ends = s + 1 == m->n || m->row[s + 1] != m->row[s];

		if (m->type[s] == type && m->st[s] == M_FREE)
			cur++;
		else {
			n += cur / k;
			cur = 0;
		}
		if (ends) {
			n += cur / k;
			cur = 0;
		}
	}
	return n;
}

static void
check_free_runs(const alloc *a, const struct model *m)
{
	static const uint32_t ks[] = { 1, 2, 3, 5, 13, 63, 64, 65, 130 };

	for (int t = 0; t < facility_type_count(m->f); t++)
		for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
			assert_int_equal(alloc_free_runs(a, t, ks[i]),
			    m_free_runs(m, t, ks[i]));
	assert_int_equal(alloc_free_runs(a, 0, 0), 0);
	assert_int_equal(alloc_free_runs(a, -1, 1), 0);
	assert_int_equal(alloc_free_runs(a, facility_type_count(m->f), 1), 0);
}

static void
check_counts(const alloc *a, const struct model *m)
{
	struct alloc_counts c, mc;

	alloc_counts(a, &c);
	m_counts(m, -1, -1, &mc);
	assert_memory_equal(&c, &mc, sizeof(c));
	for (int t = 0; t < facility_type_count(m->f); t++) {
		alloc_counts_by_type(a, t, &c);
		m_counts(m, t, -1, &mc);
		assert_memory_equal(&c, &mc, sizeof(c));
	}
	for (int l = 0; l < facility_level_count(m->f); l++) {
		alloc_counts_by_level(a, l, &c);
		m_counts(m, -1, l, &mc);
		assert_memory_equal(&c, &mc, sizeof(c));
	}
}

static void
run_seed(uint64_t seed, int ops, int big)
{
	facility *f;
	alloc *a;
	struct model m;
	struct vehicle *cars;
	size_t ncars = 0;
	int ngates, nclasses, ntags;

	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	f = random_facility(big);
	a = alloc_new(f);
	assert_non_null(a);
	m_init(&m, f);
	cars = calloc(m.n, sizeof(*cars));
	assert_non_null(cars);
	ngates = facility_gate_count(f);
	nclasses = facility_class_count(f);
	ntags = facility_tag_count(f);

	for (int op = 0; op < ops; op++) {
		uint32_t r = rnd(100), s = rnd(m.n);
		if (r < 45) {
			int gate = (int)rnd((uint32_t)ngates), cls = (int)rnd((uint32_t)nclasses);
			uint64_t needs = 0;
			uint32_t out[ALLOC_MAX_SPOTS], mout[ALLOC_MAX_SPOTS];
			size_t n = 0, mn = 0;
			pk_err e, me;
			if (rnd(3) == 0)
				needs = rng() & (((uint64_t)1 << ntags) - 1) & rng();
			e = alloc_choose(a, gate, cls, needs, out, &n);
			if (!(facility_gate_role(f, gate) & FAC_GATE_ENTRY)) {
				assert_int_equal(e, PK_E_INVALID_PARAMS);
				continue;
			}
			me = m_choose(&m, gate, cls, needs, mout, &mn);
			if (e != me || n != mn || memcmp(out, mout, n * sizeof(*out)) != 0) {
				char a1[48] = "-", m1[48] = "-";
				if (n > 0)
					facility_spot_name(f, out[0], a1);
				if (mn > 0)
					facility_spot_name(f, mout[0], m1);
				fail_msg("seed %llu op %d: gate %d class %s needs %llx "
				    "strategy %s: engine %s %s x%zu, model %s %s x%zu",
				    (unsigned long long)seed, op, gate,
				    facility_class_name(f, cls), (unsigned long long)needs,
				    alloc_strategy_name(m.strategy), pk_err_reason(e), a1,
				    n, pk_err_reason(me), m1, mn);
			}
			if (e == PK_OK && n == 1)
				seen_single++;
			else if (e == PK_OK)
				seen_run++;
			else
				seen_full++;
			seen_strategy[m.strategy]++;
			if (e == PK_OK && rnd(10) != 0) {
				alloc_take(a, out, n);
				for (size_t i = 0; i < n; i++)
					m.st[out[i]] = M_OCC;
				memcpy(cars[ncars].spots, out, n * sizeof(*out));
				cars[ncars++].n = n;
			}
		} else if (r < 75) {
			if (ncars > 0) {
				size_t k = rnd((uint32_t)ncars);
				alloc_release(a, cars[k].spots, cars[k].n);
				for (size_t i = 0; i < cars[k].n; i++) {
					uint32_t x = cars[k].spots[i];
					m.st[x] = m.pending[x] ? M_OOS : M_FREE;
					m.pending[x] = 0;
				}
				cars[k] = cars[--ncars];
			}
		} else if (r < 85) {
			int in = (int)rnd(2);
			assert_int_equal(alloc_set_in_service(a, s, in), PK_OK);
			if (m.st[s] == M_FREE && !in)
				m.st[s] = M_OOS;
			else if (m.st[s] == M_OOS && in)
				m.st[s] = M_FREE;
			else if (m.st[s] == M_OCC || m.st[s] == M_HELD)
				m.pending[s] = !in;
		} else if (r < 93) {
			if (rnd(2)) {
				pk_err e = alloc_hold(a, s);
				assert_int_equal(e, m.st[s] == M_FREE ? PK_OK :
				    PK_E_RESERVATION_CONFLICT);
				if (e == PK_OK)
					m.st[s] = M_HELD;
			} else {
				pk_err e = alloc_unhold(a, s);
				assert_int_equal(e, m.st[s] == M_HELD ? PK_OK :
				    PK_E_NOT_FOUND);
				if (e == PK_OK) {
					m.st[s] = m.pending[s] ? M_OOS : M_FREE;
					m.pending[s] = 0;
				}
			}
		} else if (r < 96) {
			m.strategy = (enum alloc_strategy)rnd(4);
			alloc_set_strategy(a, m.strategy);
		} else {
			check_counts(a, &m);
			check_free_runs(a, &m);
		}
		/* Spot states and pending flags agree for a random spot. */
		s = rnd(m.n);
		assert_int_equal(alloc_spot_state(a, s), (int)m.st[s]);
		assert_int_equal(alloc_spot_pending_out_of_service(a, s),
		    m.pending[s]);
	}
	check_counts(a, &m);
	check_free_runs(a, &m);
	for (uint32_t s = 0; s < m.n; s++) {
		assert_int_equal(alloc_spot_state(a, s), (int)m.st[s]);
		assert_int_equal(alloc_spot_pending_out_of_service(a, s),
		    m.pending[s]);
	}
	free(cars);
	m_fini(&m);
	alloc_free(a);
	facility_free(f);
}

static void
check_coverage(void)
{
	print_message("compared: %lu single, %lu runs, %lu full; strategies "
	    "%lu/%lu/%lu/%lu\n", seen_single, seen_run, seen_full,
	    seen_strategy[0], seen_strategy[1], seen_strategy[2],
	    seen_strategy[3]);
	assert_true(seen_single > 1000);
	assert_true(seen_run > 100);
	assert_true(seen_full > 100);
	for (int i = 0; i < 4; i++)
		assert_true(seen_strategy[i] > 100);
	seen_single = seen_run = seen_full = 0;
	memset(seen_strategy, 0, sizeof(seen_strategy));
}

/*
 * Long rows fragmented by out-of-service and held spots, and classes that
 * only take contiguous runs of many lengths: every choice exercises the
 * run search across word boundaries (64 spots) and row ends.
 */
static void
run_fragmented(uint64_t seed, int ops)
{
	static const int ks[] = { 2, 3, 5, 8, 13, 31, 63, 64 };
	struct gen g = { malloc(256), 0, 256 };
	char err[256];
	cJSON *jf;
	facility *f;
	alloc *a;
	struct model m;

	rng_state = seed * 0x9E3779B97F4A7C15ULL + 7;
	assert_non_null(g.json);
	gen_printf(&g, "{\"facility\": {\"level_distance\": 7, \"gates\": ["
	    "{\"id\": \"a\", \"role\": \"entry\", \"level\": 0, \"x\": %u, \"y\": 0},"
	    "{\"id\": \"b\", \"role\": \"both\", \"level\": 1, \"x\": %u, \"y\": 3},"
	    "{\"id\": \"c\", \"role\": \"entry\", \"level\": 0, \"x\": 500, \"y\": 0}"
	    "], \"rows\": [", rnd(300), rnd(300));
	/*
	 * Row 1 fills whole bitmap words, so that a look past its last spot
	 * would read the next row's first word.
	 */
	for (int i = 0; i < 4; i++)
		gen_printf(&g, "%s{\"level\": %d, \"zone\": \"R%d\", \"type\": \"lane\","
		    " \"count\": %u, \"x\": %u, \"y\": %d, \"dx\": %s, \"dy\": %s}",
		    i ? "," : "", i % 2, i, i == 1 ? 64 * (1 + rnd(4)) : 60 + rnd(300),
		    rnd(50), i,
		    i == 3 ? "-1" : "1", i == 2 ? "1" : "0");
	gen_printf(&g, "]}, \"vehicles\": {");
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
		gen_printf(&g, "%s\"k%d\": {\"fits\": [], \"contiguous\": "
		    "{\"type\": \"lane\", \"count\": %d}}", i ? "," : "", ks[i],
		    ks[i]);
	gen_printf(&g, ", \"one\": {\"fits\": [\"lane\"]}}}");
	jf = cJSON_Parse(g.json);
	assert_non_null(jf);
	f = facility_from_json(cJSON_GetObjectItemCaseSensitive(jf, "facility"),
	    cJSON_GetObjectItemCaseSensitive(jf, "vehicles"), &(struct jerr){ err, sizeof(err), 0 });
	if (f == NULL)
		fail_msg("%s", err);
	cJSON_Delete(jf);
	free(g.json);
	a = alloc_new(f);
	assert_non_null(a);
	m_init(&m, f);

	for (int op = 0; op < ops; op++) {
		uint32_t s = rnd(m.n), out[ALLOC_MAX_SPOTS], mout[ALLOC_MAX_SPOTS];
		int gate = (int)rnd(3), cls = (int)rnd((uint32_t)facility_class_count(f));
		size_t n, mn;
		pk_err e, me;
		/* Toggle one spot, leaning towards about 1/4 unavailable. */
		if (m.st[s] == M_FREE && rnd(4) == 0) {
			if (rnd(2)) {
				assert_int_equal(alloc_set_in_service(a, s, 0), PK_OK);
				m.st[s] = M_OOS;
			} else {
				assert_int_equal(alloc_hold(a, s), PK_OK);
				m.st[s] = M_HELD;
			}
		} else if (m.st[s] == M_OOS) {
			assert_int_equal(alloc_set_in_service(a, s, 1), PK_OK);
			m.st[s] = M_FREE;
		} else if (m.st[s] == M_HELD) {
			assert_int_equal(alloc_unhold(a, s), PK_OK);
			m.st[s] = M_FREE;
		}
		if (rnd(50) == 0) {
			m.strategy = (enum alloc_strategy)rnd(4);
			alloc_set_strategy(a, m.strategy);
		}
		e = alloc_choose(a, gate, cls, 0, out, &n);
		me = m_choose(&m, gate, cls, 0, mout, &mn);
		if (e != me || n != mn || memcmp(out, mout, n * sizeof(*out)) != 0) {
			char a1[48] = "-", m1[48] = "-";
			if (n > 0)
				facility_spot_name(f, out[0], a1);
			if (mn > 0)
				facility_spot_name(f, mout[0], m1);
			fail_msg("fragmented seed %llu op %d: gate %d class %s "
			    "strategy %s: engine %s %s x%zu, model %s %s x%zu",
			    (unsigned long long)seed, op, gate,
			    facility_class_name(f, cls), alloc_strategy_name(m.strategy),
			    pk_err_reason(e), a1, n, pk_err_reason(me), m1, mn);
		}
		if (op % 97 == 0)
			check_free_runs(a, &m);
		if (e == PK_OK && n > 1)
			seen_run++;
		else if (e == PK_OK)
			seen_single++;
		else
			seen_full++;
		seen_strategy[m.strategy]++;
	}
	check_counts(a, &m);
	check_free_runs(a, &m);
	m_fini(&m);
	alloc_free(a);
	facility_free(f);
}

static void
test_model_fragmented(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 12; seed++)
		run_fragmented(seed, 4000);
	check_coverage();
}

static void
test_model_small(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 40; seed++)
		run_seed(seed, 3000, 0);
	check_coverage();
}

static void
test_model_long_rows(void **state)
{
	(void)state;
	for (uint64_t seed = 1001; seed <= 1012; seed++)
		run_seed(seed, 6000, 1);
	check_coverage();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_small),
		cmocka_unit_test(test_model_long_rows),
		cmocka_unit_test(test_model_fragmented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
