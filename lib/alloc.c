/* alloc.c - spot states and the allocation strategies of config.md "Allocation". */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

/*
 * Phase-1 engine: spot states in one byte each and allocation by a plain
 * scan over all spots.  Correct and simple; O(spots) per choose.
 */

#define ST_MASK    0x03	/* enum alloc_spot_state */
#define ST_PENDING 0x04	/* out of service requested while occupied/held */

struct alloc {
	const facility *f;
	enum alloc_strategy strategy;
	uint32_t nspots;
	uint8_t *st;
	struct alloc_counts all;
	struct alloc_counts *by_type, *by_level;
};

static const char *const strategy_names[] = {
	[ALLOC_NEAREST] = "nearest",
	[ALLOC_FARTHEST] = "farthest",
	[ALLOC_FIRST] = "first",
	[ALLOC_FILL] = "fill",
};

int
alloc_strategy_parse(const char *name, enum alloc_strategy *out)
{
	for (size_t i = 0; i < sizeof(strategy_names) / sizeof(strategy_names[0]); i++)
		if (name != NULL && strcmp(name, strategy_names[i]) == 0) {
			*out = (enum alloc_strategy)i;
			return 0;
		}
	return -1;
}

const char *
alloc_strategy_name(enum alloc_strategy s)
{
	if ((unsigned)s >= sizeof(strategy_names) / sizeof(strategy_names[0]))
		return "?";
	return strategy_names[s];
}

alloc *
alloc_new(const facility *f)
{
	alloc *a = calloc(1, sizeof(*a));
	int nt = facility_type_count(f), nl = facility_level_count(f);

	if (a == NULL)
		return NULL;
	a->f = f;
	a->strategy = ALLOC_NEAREST;
	a->nspots = facility_spot_count(f);
	a->st = calloc(a->nspots, 1);
	a->by_type = calloc((size_t)nt, sizeof(*a->by_type));
	a->by_level = calloc((size_t)nl, sizeof(*a->by_level));
	if (a->st == NULL || a->by_type == NULL || a->by_level == NULL) {
		alloc_free(a);
		return NULL;
	}
	a->all.total = a->all.free = a->nspots;
	for (uint32_t r = 0; r < facility_row_count(f); r++) {
		uint32_t len = facility_row_len(f, r);
		struct alloc_counts *t = &a->by_type[facility_row_type_index(f, r)];
		struct alloc_counts *l = &a->by_level[facility_row_level_index(f, r)];
		t->total += len;
		t->free += len;
		l->total += len;
		l->free += len;
	}
	return a;
}

void
alloc_free(alloc *a)
{
	if (a == NULL)
		return;
	free(a->st);
	free(a->by_type);
	free(a->by_level);
	free(a);
}

void
alloc_set_strategy(alloc *a, enum alloc_strategy s)
{
	a->strategy = s;
}

enum alloc_strategy
alloc_get_strategy(const alloc *a)
{
	return a->strategy;
}

static uint64_t *
count_slot(struct alloc_counts *c, int state)
{
	switch (state) {
	case ALLOC_SPOT_FREE:
		return &c->free;
	case ALLOC_SPOT_OCCUPIED:
		return &c->occupied;
	case ALLOC_SPOT_OUT_OF_SERVICE:
		return &c->out_of_service;
	default:
		return &c->held;
	}
}

/* Moves a spot to a new state (and pending flag), keeping counts. */
static void
set_state(alloc *a, uint32_t spot, int state, int pending)
{
	int old = a->st[spot] & ST_MASK;

	if (old != state) {
		uint32_t row = facility_row_of_spot(a->f, spot);
		struct alloc_counts *t =
		    &a->by_type[facility_row_type_index(a->f, row)];
		struct alloc_counts *l =
		    &a->by_level[facility_row_level_index(a->f, row)];
		(*count_slot(&a->all, old))--;
		(*count_slot(t, old))--;
		(*count_slot(l, old))--;
		(*count_slot(&a->all, state))++;
		(*count_slot(t, state))++;
		(*count_slot(l, state))++;
	}
	a->st[spot] = (uint8_t)(state | (pending ? ST_PENDING : 0));
}

static int
better(enum alloc_strategy s, int lvl, int64_t d, uint32_t order, int blvl,
    int64_t bd, uint32_t border)
{
	switch (s) {
	case ALLOC_NEAREST:
		return d < bd || (d == bd && order < border);
	case ALLOC_FARTHEST:
		return d > bd || (d == bd && order < border);
	case ALLOC_FIRST:
		return order < border;
	case ALLOC_FILL:
		if (lvl != blvl)
			return lvl < blvl;
		return d < bd || (d == bd && order < border);
	}
	return 0;
}

pk_err
alloc_choose(const alloc *a, int gate, int cls, uint64_t needs,
    uint32_t out[ALLOC_MAX_SPOTS], size_t *n)
{
	const facility *f;
	const int *fits;
	int nfits, ctype, ccount;

	if (n != NULL)
		*n = 0;
	if (a == NULL || out == NULL || n == NULL)
		return PK_E_INVALID_PARAMS;
	f = a->f;
	if (gate < 0 || gate >= facility_gate_count(f) ||
	    !(facility_gate_role(f, gate) & FAC_GATE_ENTRY) ||
	    cls < 0 || cls >= facility_class_count(f))
		return PK_E_INVALID_PARAMS;
	fits = facility_class_fits(f, cls, &nfits);
	for (int k = 0; k < nfits; k++) {
		int found = 0, blvl = 0;
		int64_t bd = 0;
		uint32_t best = 0;
		for (uint32_t s = 0; s < a->nspots; s++) {
			int lvl;
			int64_t d;
			if ((a->st[s] & ST_MASK) != ALLOC_SPOT_FREE ||
			    facility_spot_type_index(f, s) != fits[k] ||
			    (facility_spot_tags(f, s) & needs) != needs)
				continue;
			lvl = facility_spot_level_index(f, s);
			d = facility_distance_milli(f, gate, s);
			if (!found || better(a->strategy, lvl, d, s, blvl, bd, best)) {
				found = 1;
				blvl = lvl;
				bd = d;
				best = s;
			}
		}
		if (found) {
			out[0] = best;
			*n = 1;
			return PK_OK;
		}
	}
	if (facility_class_contiguous(f, cls, &ctype, &ccount) == 0) {
		int found = 0, blvl = 0;
		int64_t bd = 0;
		uint32_t best = 0;
		for (uint32_t r = 0; r < facility_row_count(f); r++) {
			uint32_t start = facility_row_start(f, r);
			uint32_t len = facility_row_len(f, r);
			int lvl = facility_row_level_index(f, r);
			if (facility_row_type_index(f, r) != ctype ||
			    (facility_row_tags(f, r) & needs) != needs ||
			    len < (uint32_t)ccount)
				continue;
			for (uint32_t i = 0; i + (uint32_t)ccount <= len; i++) {
				int64_t d = INT64_MAX;
				int ok = 1;
				for (uint32_t j = i; j < i + (uint32_t)ccount; j++) {
					int64_t dj;
					if ((a->st[start + j] & ST_MASK) != ALLOC_SPOT_FREE) {
						ok = 0;
						break;
					}
					dj = facility_distance_milli(f, gate, start + j);
					if (dj < d)
						d = dj;
				}
				if (ok && (!found || better(a->strategy, lvl, d,
				    start + i, blvl, bd, best))) {
					found = 1;
					blvl = lvl;
					bd = d;
					best = start + i;
				}
			}
		}
		if (found) {
			for (int j = 0; j < ccount; j++)
				out[j] = best + (uint32_t)j;
			*n = (size_t)ccount;
			return PK_OK;
		}
	}
	return PK_E_LOT_FULL;
}

void
alloc_take(alloc *a, const uint32_t *spots, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t s = spots[i];
		int st;
		if (s >= a->nspots)
			continue;
		st = a->st[s] & ST_MASK;
		if (st == ALLOC_SPOT_FREE || st == ALLOC_SPOT_HELD)
			set_state(a, s, ALLOC_SPOT_OCCUPIED, a->st[s] & ST_PENDING);
	}
}

void
alloc_release(alloc *a, const uint32_t *spots, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t s = spots[i];
		if (s >= a->nspots || (a->st[s] & ST_MASK) != ALLOC_SPOT_OCCUPIED)
			continue;
		set_state(a, s, (a->st[s] & ST_PENDING) ?
		    ALLOC_SPOT_OUT_OF_SERVICE : ALLOC_SPOT_FREE, 0);
	}
}

pk_err
alloc_set_in_service(alloc *a, uint32_t spot, int in_service)
{
	int st;

	if (spot >= a->nspots)
		return PK_E_INVALID_PARAMS;
	st = a->st[spot] & ST_MASK;
	switch (st) {
	case ALLOC_SPOT_FREE:
		if (!in_service)
			set_state(a, spot, ALLOC_SPOT_OUT_OF_SERVICE, 0);
		break;
	case ALLOC_SPOT_OUT_OF_SERVICE:
		if (in_service)
			set_state(a, spot, ALLOC_SPOT_FREE, 0);
		break;
	default:
		set_state(a, spot, st, !in_service);
		break;
	}
	return PK_OK;
}

enum alloc_spot_state
alloc_spot_state(const alloc *a, uint32_t spot)
{
	if (spot >= a->nspots)
		return ALLOC_SPOT_OUT_OF_SERVICE;
	return (enum alloc_spot_state)(a->st[spot] & ST_MASK);
}

int
alloc_spot_pending_out_of_service(const alloc *a, uint32_t spot)
{
	return spot < a->nspots && (a->st[spot] & ST_PENDING) != 0;
}

pk_err
alloc_hold(alloc *a, uint32_t spot)
{
	if (spot >= a->nspots)
		return PK_E_INVALID_PARAMS;
	if ((a->st[spot] & ST_MASK) != ALLOC_SPOT_FREE)
		return PK_E_RESERVATION_CONFLICT;
	set_state(a, spot, ALLOC_SPOT_HELD, 0);
	return PK_OK;
}

pk_err
alloc_unhold(alloc *a, uint32_t spot)
{
	if (spot >= a->nspots)
		return PK_E_INVALID_PARAMS;
	if ((a->st[spot] & ST_MASK) != ALLOC_SPOT_HELD)
		return PK_E_NOT_FOUND;
	set_state(a, spot, (a->st[spot] & ST_PENDING) ?
	    ALLOC_SPOT_OUT_OF_SERVICE : ALLOC_SPOT_FREE, 0);
	return PK_OK;
}

void
alloc_counts(const alloc *a, struct alloc_counts *c)
{
	*c = a->all;
}

void
alloc_counts_by_type(const alloc *a, int type, struct alloc_counts *c)
{
	if (type < 0 || type >= facility_type_count(a->f))
		memset(c, 0, sizeof(*c));
	else
		*c = a->by_type[type];
}

void
alloc_counts_by_level(const alloc *a, int level_idx, struct alloc_counts *c)
{
	if (level_idx < 0 || level_idx >= facility_level_count(a->f))
		memset(c, 0, sizeof(*c));
	else
		*c = a->by_level[level_idx];
}
