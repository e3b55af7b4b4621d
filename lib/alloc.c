/* alloc.c - spot states and the allocation strategies of config.md "Allocation". */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

/*
 * How a choice is found without scanning spots.
 *
 * 1. Each row keeps a bitmap of its allocatable spots (free, in service,
 *    not held) and, over the bitmap's 64-spot words, a segment tree of
 *    free-run summaries (longest prefix, suffix and inner run).  That
 *    answers "first run of k free spots starting at or after p" and "last
 *    run starting at or before p" in O(log row) (k = 1: next/previous free
 *    spot).
 *
 * 2. Along a row the distance from a gate, |x0 + i dx| + |y0 + i dy| + c,
 *    is convex in i, and so is (up to a flat bottom) the distance of a run,
 *    the least distance of its spots.  A row's best spot or run for a gate
 *    is therefore found from the few candidates around the minimum and the
 *    row ends, plus one binary search to land on the lowest spot order
 *    among exact ties: O(log row), never a scan.
 *
 * 3. Rows with the same type and tag set form a group.  For each group,
 *    each run length in use for its type (1, and every contiguous count of
 *    a class on that type: a "channel") and each entry-capable gate, a
 *    tournament tree over the group's rows holds the best row under the
 *    current strategy.  An entry looks at one root per matching group; a
 *    state change refreshes one row's keys and tree paths.  When one spot
 *    changed, a key is searched again only when a taken spot was in its
 *    run (an entry takes the key of one gate and channel; the others
 *    mostly stay); a freed spot adds the few runs through it, and the
 *    best of them replaces the key only when better.  Only the
 *    current strategy's trees are kept (first needs one gate slot, the
 *    key does not depend on the gate); switching strategy rebuilds them.
 *
 * Cost per entry or exit: O(channels x entry gates x (log row + log rows))
 * to update, O(groups of the class's types) to choose.  Memory: one byte of
 * state per spot, one bit of bitmap, and per row a few words plus 24 bytes
 * per channel and entry gate.
 */

#define ST_MASK    0x03	/* enum alloc_spot_state */
#define ST_PENDING 0x04	/* out of service requested while occupied/held */

#define NONE UINT32_MAX

/* Free-run summary of a span of spots (a word or a node of words). */
struct run {
	uint32_t pre, suf, best;
};

/* A row's best spot (or run start) for one channel, gate and strategy. */
struct rkey {
	int64_t dist;		/* distance of the spot or run, thousandths */
	uint32_t order;		/* spot order of the spot / first spot; NONE */
	int32_t level;		/* level index */
};

struct group {
	int type;
	uint64_t tags;
	uint32_t nrows;		/* rows in the group */
	uint32_t *rows;		/* global row numbers, slice of alloc.group_rows */
	/*
	 * [channel][slot][2 * nrows]: a bottom-up tournament tree, leaf i at
	 * nrows + i, node v the better of 2v and 2v + 1, the winner at 1.
	 * Picking the better key is commutative (ties fall to spot order),
	 * so no padding to a power of two is needed.
	 */
	uint32_t *tree;
	struct rkey *keys;	/* [channel][slot][nrows] */
};

struct alloc {
	const facility *f;
	enum alloc_strategy strategy;
	uint32_t nspots, nrows;

	uint8_t *st;		/* per spot: state | ST_PENDING */

	uint64_t *words;	/* per row bitmap of allocatable spots */
	uint32_t *row_word;	/* [nrows + 1]: first word of each row */
	struct run *runs;	/* per row heap of 2 * leaves - 1 run summaries */
	uint32_t *row_run;	/* first run node of each row */
	uint32_t *row_group, *row_local;

	struct group *groups;
	uint32_t ngroups;
	uint32_t *group_rows;
	uint32_t **type_groups;	/* per type: its groups */
	uint32_t *type_ngroups;
	uint32_t **type_k;	/* per type: the run lengths (channels) in use */
	uint32_t *type_nk;

	int *slot_gate;		/* entry-capable gates */
	int *gate_slot;		/* gate -> slot, -1 for exit-only */
	int nslots;

	struct alloc_counts all;
	struct alloc_counts *by_type, *by_level;
};

const char *const alloc_strategy_names[5] = {
	[ALLOC_NEAREST] = "nearest",
	[ALLOC_FARTHEST] = "farthest",
	[ALLOC_FIRST] = "first",
	[ALLOC_FILL] = "fill",
	[ALLOC_FILL + 1] = NULL,
};

int
alloc_strategy_parse(const char *name, enum alloc_strategy *out)
{
	for (size_t i = 0; alloc_strategy_names[i] != NULL; i++)
		if (name != NULL && strcmp(name, alloc_strategy_names[i]) == 0) {
			*out = (enum alloc_strategy)i;
			return 0;
		}
	return -1;
}

const char *
alloc_strategy_name(enum alloc_strategy s)
{
	if ((unsigned)s > ALLOC_FILL)
		return "?";
	return alloc_strategy_names[s];
}

/* ---- bit and run helpers ---- */

static uint32_t
pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static uint32_t
ones_low(uint64_t w)		/* length of the run of ones from bit 0 */
{
	return ~w == 0 ? 64 : (uint32_t)__builtin_ctzll(~w);
}

static uint32_t
ones_high(uint64_t w)		/* length of the run of ones from bit 63 */
{
	return ~w == 0 ? 64 : (uint32_t)__builtin_clzll(~w);
}

/* Bit s set iff bits s .. s+k-1 of w are all set (1 <= k <= 64). */
static uint64_t
runs_of(uint64_t w, uint32_t k)
{
	uint32_t have = 1;

	while (have < k && w != 0) {
		uint32_t t = have < k - have ? have : k - have;
		w &= w >> t;
		have += t;
	}
	return w;
}

static struct run
run_of_word(uint64_t w)
{
	struct run r = { ones_low(w), ones_high(w), 0 };
	uint64_t x = w;

	/* Each step shortens every run by one: the count is the longest. */
	while (x != 0) {
		x &= x << 1;
		r.best++;
	}
	return r;
}

static struct run
run_join(struct run l, struct run r, uint32_t half)
{
	struct run j;

	j.pre = l.pre == half ? half + r.pre : l.pre;
	j.suf = r.suf == half ? half + l.suf : r.suf;
	j.best = l.best > r.best ? l.best : r.best;
	if (l.suf + r.pre > j.best)
		j.best = l.suf + r.pre;
	return j;
}

static uint32_t
row_words(const alloc *a, uint32_t r)
{
	return a->row_word[r + 1] - a->row_word[r];
}

/* Node v (1 = root, leaves from pow2_at_least(words)) of row r's run heap. */
static struct run *
run_node(const alloc *a, uint32_t r, uint32_t v)
{
	return &a->runs[a->row_run[r] + v - 1];
}

/* Rebuilds the run summaries above word j of row r. */
static void
row_fix_word(alloc *a, uint32_t r, uint32_t j)
{
	uint32_t leaves = pow2_at_least(row_words(a, r));
	uint32_t v = leaves + j, len = 64;

	*run_node(a, r, v) = run_of_word(a->words[a->row_word[r] + j]);
	for (v >>= 1; v >= 1; v >>= 1, len *= 2)
		*run_node(a, r, v) = run_join(*run_node(a, r, 2 * v),
		    *run_node(a, r, 2 * v + 1), len);
}

/*
 * First start s >= p of k free spots in a row, or -1.  Node v spans words
 * lo .. lo+cnt-1; *carry is the free run (at or after p) that ends just
 * before the node.  Nodes wholly after p are skipped in O(1) unless they
 * hold the answer, so the walk is O(log words).
 */
static int64_t
succ_walk(const alloc *a, uint32_t r, uint32_t v, uint32_t lo, uint32_t cnt,
    uint32_t p, uint32_t k, uint32_t *carry)
{
	const struct run *nd = run_node(a, r, v);
	uint32_t first = lo * 64, len = cnt * 64;
	int64_t res;

	if (first + len <= p) {
		*carry = 0;
		return -1;
	}
	if (first >= p) {
		if (*carry + nd->pre >= k)
			return (int64_t)first - *carry;
		if (nd->best < k) {
			*carry = nd->pre == len ? *carry + len : nd->suf;
			return -1;
		}
	}
	if (cnt == 1) {
		uint64_t w = a->words[a->row_word[r] + lo], x;
		if (p > first)
			w &= ~0ULL << (p - first);
		if (*carry + ones_low(w) >= k)
			return (int64_t)first - *carry;
		if (k <= 64 && (x = runs_of(w, k)) != 0)
			return first + (uint32_t)__builtin_ctzll(x);
		*carry = ~w == 0 ? *carry + 64 : ones_high(w);
		return -1;
	}
	res = succ_walk(a, r, 2 * v, lo, cnt / 2, p, k, carry);
	if (res >= 0)
		return res;
	return succ_walk(a, r, 2 * v + 1, lo + cnt / 2, cnt / 2, p, k, carry);
}

/*
 * Last end e <= q of k free spots in a row (as a start, e - k + 1), or -1.
 * The mirror of succ_walk(): *carry is the free run (at or before q) that
 * starts just after the node.
 */
static int64_t
pred_walk(const alloc *a, uint32_t r, uint32_t v, uint32_t lo, uint32_t cnt,
    uint32_t q, uint32_t k, uint32_t *carry)
{
	const struct run *nd = run_node(a, r, v);
	uint32_t first = lo * 64, len = cnt * 64, last = first + len - 1;
	int64_t res;

	if (first > q) {
		*carry = 0;
		return -1;
	}
	if (last <= q) {
		if (*carry + nd->suf >= k)
			return (int64_t)last + *carry - k + 1;
		if (nd->best < k) {
			*carry = nd->suf == len ? *carry + len : nd->pre;
			return -1;
		}
	}
	if (cnt == 1) {
		uint64_t w = a->words[a->row_word[r] + lo], x;
		if (q < last)
			w &= (2ULL << (q - first)) - 1;
		if (*carry + ones_high(w) >= k)
			return (int64_t)last + *carry - k + 1;
		if (k <= 64 && (x = runs_of(w, k)) != 0)
			return first + 63 - (uint32_t)__builtin_clzll(x);
		*carry = ~w == 0 ? *carry + 64 : ones_low(w);
		return -1;
	}
	res = pred_walk(a, r, 2 * v + 1, lo + cnt / 2, cnt / 2, q, k, carry);
	if (res >= 0)
		return res;
	return pred_walk(a, r, 2 * v, lo, cnt / 2, q, k, carry);
}

/* Lowest start >= p of a run of k free spots in row r, or -1. */
static int64_t
row_succ(const alloc *a, uint32_t r, int64_t p, uint32_t k)
{
	uint32_t carry = 0;

	if (p < 0)
		p = 0;
	if (p >= facility_row_len(a->f, r))
		return -1;
	return succ_walk(a, r, 1, 0, pow2_at_least(row_words(a, r)),
	    (uint32_t)p, k, &carry);
}

/* Highest start <= p of a run of k free spots in row r, or -1. */
static int64_t
row_pred(const alloc *a, uint32_t r, int64_t p, uint32_t k)
{
	uint32_t carry = 0, len = facility_row_len(a->f, r);
	int64_t q = p + k - 1;

	if (p < 0)
		return -1;
	if (q >= len)
		q = len - 1;
	return pred_walk(a, r, 1, 0, pow2_at_least(row_words(a, r)),
	    (uint32_t)q, k, &carry);
}

/* ---- distances along a row ---- */

static int64_t
abs64(int64_t v)
{
	return v < 0 ? -v : v;
}

static int64_t
line_at(const struct fac_line *l, int64_t i)
{
	return abs64(l->x0 + i * l->dx) + abs64(l->y0 + i * l->dy) + l->lterm;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b != 0 && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/*
 * An index in [0, n) where the convex distance is least: the minimum of a
 * sum of two absolute values of linear terms lies next to a breakpoint or
 * at an end.
 */
static int64_t
line_argmin(const struct fac_line *l, int64_t n)
{
	int64_t cand[6], best = 0, bestv = line_at(l, 0);
	int nc = 0;

	cand[nc++] = n - 1;
	if (l->dx != 0) {
		cand[nc] = floor_div(-l->x0, l->dx);
		cand[nc + 1] = cand[nc] + 1;
		nc += 2;
	}
	if (l->dy != 0) {
		cand[nc] = floor_div(-l->y0, l->dy);
		cand[nc + 1] = cand[nc] + 1;
		nc += 2;
	}
	for (int i = 0; i < nc; i++) {
		int64_t c = cand[i] < 0 ? 0 : (cand[i] >= n ? n - 1 : cand[i]);
		int64_t v = line_at(l, c);
		if (v < bestv || (v == bestv && c < best)) {
			best = c;
			bestv = v;
		}
	}
	return best;
}

/* Distance of the run of k spots starting at s: its spot nearest m. */
static int64_t
run_dist(const struct fac_line *l, int64_t m, int64_t s, uint32_t k)
{
	int64_t e = s + k - 1;

	return line_at(l, m < s ? s : (m > e ? e : m));
}

/*
 * The lowest start in [0, m] whose run is within v of the gate: run
 * distance does not rise up to m, so a binary search finds it.
 */
static int64_t
lowest_start_within(const struct fac_line *l, int64_t m, uint32_t k, int64_t v)
{
	int64_t lo = 0, hi = m;

	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (run_dist(l, m, mid, k) <= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * The best spot (k == 1) or run start of row r for a gate under the
 * current strategy; order NONE when the row has none.
 */
static void
row_key(const alloc *a, uint32_t r, uint32_t k, int gate, struct rkey *key)
{
	uint32_t start = facility_row_start(a->f, r);
	int64_t n = facility_row_len(a->f, r), m, s1, s2, best;
	int64_t v, v1, v2;
	struct fac_line l;

	key->order = NONE;
	key->dist = 0;
	key->level = facility_row_level_index(a->f, r);
	if (a->strategy == ALLOC_FIRST) {
		if ((best = row_succ(a, r, 0, k)) >= 0)
			key->order = start + (uint32_t)best;
		return;
	}
	facility_row_line(a->f, r, gate, &l);
	m = line_argmin(&l, n);
	if (a->strategy == ALLOC_FARTHEST) {
		/* Run distance falls then rises: the extremes are the candidates. */
		if ((s1 = row_succ(a, r, 0, k)) < 0)
			return;
		s2 = row_pred(a, r, n - k, k);
		v1 = run_dist(&l, m, s1, k);
		v2 = run_dist(&l, m, s2, k);
		/*
		 * Ties go to the lower order, s1.  When s2 is strictly farther it
		 * is the only candidate: past its flat bottom a convex function of
		 * integers rises strictly, so no earlier run after m reaches v2.
		 */
		if (v1 >= v2) {
			best = s1;
			v = v1;
		} else {
			best = s2;
			v = v2;
		}
	} else {
		/* Nearest and fill: the runs around the minimum. */
		s1 = row_pred(a, r, m, k);
		s2 = row_succ(a, r, m - k + 1, k);
		if (s1 < 0 && s2 < 0)
			return;
		v1 = s1 >= 0 ? run_dist(&l, m, s1, k) : INT64_MAX;
		v2 = s2 >= 0 ? run_dist(&l, m, s2, k) : INT64_MAX;
		v = v1 < v2 ? v1 : v2;
		/*
		 * Run distance does not rise up to m, so the answer is the
		 * lowest free start at or after the lowest start reaching v.
		 * s1 is the highest free start up to m: when s2 is strictly
		 * nearer, no free start below it reaches v; when s1 is, and
		 * the start before it is strictly farther, none below s1 does.
		 * Only a plateau of equal distances below s1 needs the search.
		 */
		if (v2 < v1)
			best = s2;
		else if (s1 == 0 || run_dist(&l, m, s1 - 1, k) > v)
			best = s1;
		else
			best = row_succ(a, r, lowest_start_within(&l, m, k, v), k);
	}
	key->order = start + (uint32_t)best;
	key->dist = v;
}

/* Whether key x beats key y under strategy s (ties: lower spot order). */
static int
key_better(enum alloc_strategy s, const struct rkey *x, const struct rkey *y)
{
	if (x->order == NONE)
		return 0;
	if (y->order == NONE)
		return 1;
	if (s == ALLOC_FILL && x->level != y->level)
		return x->level < y->level;
	switch (s) {
	case ALLOC_FILL:
	case ALLOC_NEAREST:
		if (x->dist != y->dist)
			return x->dist < y->dist;
		break;
	case ALLOC_FARTHEST:
		if (x->dist != y->dist)
			return x->dist > y->dist;
		break;
	case ALLOC_FIRST:
		break;
	}
	return x->order < y->order;
}

/* ---- groups and their tournament trees ---- */

static int
active_slots(const alloc *a)
{
	/* The key of "first" does not depend on the gate: one slot will do. */
	return a->strategy == ALLOC_FIRST ? 1 : a->nslots;
}

static uint32_t *
group_tree(const alloc *a, const struct group *g, uint32_t ch, int slot)
{
	return g->tree + ((size_t)ch * (size_t)a->nslots + (size_t)slot) *
	    2 * g->nrows;
}

static struct rkey *
group_keys(const alloc *a, const struct group *g, uint32_t ch, int slot)
{
	return g->keys + ((size_t)ch * (size_t)a->nslots + (size_t)slot) *
	    g->nrows;
}

static uint32_t
tree_pick(const alloc *a, const struct rkey *keys, uint32_t x, uint32_t y)
{
	if (x == NONE)
		return y;
	if (y == NONE)
		return x;
	return key_better(a->strategy, &keys[y], &keys[x]) ? y : x;
}

/* Replays the tournament from leaf li up after its key changed. */
static void
tree_fix(const alloc *a, const struct rkey *keys, uint32_t *t, uint32_t nrows,
    uint32_t li)
{
	for (uint32_t v = (nrows + li) >> 1; v >= 1; v >>= 1) {
		uint32_t old = t[v];

		t[v] = tree_pick(a, keys, t[2 * v], t[2 * v + 1]);
		/*
		 * Another row still wins here with an unchanged key: nothing
		 * above can change either.
		 */
		if (t[v] == old && old != li)
			break;
	}
}

/* Whether spot i (counted from the row's start) of row r is allocatable. */
static int
row_free(const alloc *a, uint32_t r, int64_t i)
{
	return (a->words[a->row_word[r] + (uint32_t)i / 64] >>
	    ((uint32_t)i % 64)) & 1;
}

/*
 * The starts *lo .. *hi of the runs of k through spot i of row r (of n
 * spots), i itself free: its free neighbours, as many as such a run uses.
 * Returns 0 when there is no such run.
 */
static int
runs_through(const alloc *a, uint32_t r, int64_t n, int64_t i, uint32_t k,
    int64_t *lo, int64_t *hi)
{
	int64_t l = i, h = i;

	while (i - l < k - 1 && l > 0 && row_free(a, r, l - 1))
		l--;
	while (h - i < k - 1 && h + 1 < n && row_free(a, r, h + 1))
		h++;
	if (h - l + 1 < k)
		return 0;
	*lo = l;
	*hi = h - k + 1;
	return 1;
}

/*
 * The best run of k in row r (of n spots) among those starting at lo ..
 * hi, all free, in key_better's order; gate's distances.  Run distance
 * does not rise up to the row's nearest index m and does not fall after
 * it (row_key): the nearest run is the lowest start reaching the least
 * distance, the farthest one is at an end.
 */
static void
best_among(const alloc *a, uint32_t r, int64_t n, uint32_t k, int gate,
    int64_t lo, int64_t hi, struct rkey *key)
{
	int64_t m, s = lo, v, vhi;
	struct fac_line l;

	key->level = facility_row_level_index(a->f, r);
	key->dist = 0;
	if (a->strategy != ALLOC_FIRST) {
		facility_row_line(a->f, r, gate, &l);
		/* A run of one spot is as near as that spot, wherever m is. */
		m = k == 1 ? lo : line_argmin(&l, n);
		v = run_dist(&l, m, lo, k);
		if (lo < hi && a->strategy == ALLOC_FARTHEST) {
			if ((vhi = run_dist(&l, m, hi, k)) > v) {
				s = hi;
				v = vhi;
			}
		} else if (lo < hi && lo < m) {
			v = run_dist(&l, m, hi < m ? hi : m, k);
			s = lowest_start_within(&l, m, k, v);
			if (s < lo)
				s = lo;
		}
		key->dist = v;
	}
	key->order = facility_row_start(a->f, r) + (uint32_t)s;
}

/*
 * Refreshes every channel and active slot of row r after a change: of one
 * spot (spot, and whether it was freed), or of several (spot NONE).  A
 * key is the best run in key_better's order, so one spot's change needs
 * no search unless it must: taking a spot removes only the runs through
 * it, and changes a key only when its run was one of them; freeing one
 * adds only the runs through it, whose best replaces a key only when
 * better.
 */
static void
row_refresh(alloc *a, uint32_t r, uint32_t spot, int freed)
{
	struct group *g = &a->groups[a->row_group[r]];
	uint32_t li = a->row_local[r];
	int nact = active_slots(a);
	int64_t n = facility_row_len(a->f, r), i = 0, lo = 0, hi = 0;

	if (spot != NONE)
		i = spot - facility_row_start(a->f, r);
	for (uint32_t ch = 0; ch < a->type_nk[g->type]; ch++) {
		uint32_t k = a->type_k[g->type][ch];

		/* A freed spot that completes no run of k changes no key of k. */
		if (spot != NONE && freed &&
		    !runs_through(a, r, n, i, k, &lo, &hi))
			continue;
		for (int slot = 0; slot < nact; slot++) {
			struct rkey *keys = group_keys(a, g, ch, slot), c;
			struct rkey *key = &keys[li];
			int gate = a->slot_gate[slot];

			if (spot == NONE) {
				row_key(a, r, k, gate, key);
			} else if (!freed) {
				if (key->order == NONE || spot < key->order ||
				    spot - key->order >= k)
					continue;
				row_key(a, r, k, gate, key);
			} else {
				best_among(a, r, n, k, gate, lo, hi, &c);
				if (!key_better(a->strategy, &c, key))
					continue;
				*key = c;
			}
			tree_fix(a, keys, group_tree(a, g, ch, slot), g->nrows,
			    li);
		}
	}
}

/* Recomputes all keys and trees for the current strategy. */
static void
rebuild_trees(alloc *a)
{
	int nact = active_slots(a);

	for (uint32_t gi = 0; gi < a->ngroups; gi++) {
		struct group *g = &a->groups[gi];
		for (uint32_t ch = 0; ch < a->type_nk[g->type]; ch++) {
			uint32_t k = a->type_k[g->type][ch];
			for (int slot = 0; slot < nact; slot++) {
				struct rkey *keys = group_keys(a, g, ch, slot);
				uint32_t *t = group_tree(a, g, ch, slot);
				for (uint32_t i = 0; i < g->nrows; i++) {
					t[g->nrows + i] = i;
					row_key(a, g->rows[i], k, a->slot_gate[slot],
					    &keys[i]);
				}
				for (uint32_t v = g->nrows - 1; v >= 1; v--)
					t[v] = tree_pick(a, keys, t[2 * v],
					    t[2 * v + 1]);
			}
		}
	}
}

/* ---- construction ---- */

struct gkey {
	int type;
	uint64_t tags;
	uint32_t row;
};

static int
gkey_cmp(const void *x, const void *y)
{
	const struct gkey *p = x, *q = y;

	if (p->type != q->type)
		return p->type < q->type ? -1 : 1;
	if (p->tags != q->tags)
		return p->tags < q->tags ? -1 : 1;
	return p->row < q->row ? -1 : (p->row > q->row);
}

static int
build_rows(alloc *a)
{
	const facility *f = a->f;
	uint64_t nwords = 0, nruns = 0;

	a->row_word = malloc(((size_t)a->nrows + 1) * sizeof(*a->row_word));
	a->row_run = malloc((size_t)a->nrows * sizeof(*a->row_run));
	if (a->row_word == NULL || a->row_run == NULL)
		return -1;
	for (uint32_t r = 0; r < a->nrows; r++) {
		uint32_t w = (facility_row_len(f, r) + 63) / 64;
		a->row_word[r] = (uint32_t)nwords;
		a->row_run[r] = (uint32_t)nruns;
		nwords += w;
		nruns += 2 * (uint64_t)pow2_at_least(w) - 1;
	}
	a->row_word[a->nrows] = (uint32_t)nwords;
	a->words = calloc(nwords, sizeof(*a->words));
	a->runs = calloc(nruns, sizeof(*a->runs));
	if (a->words == NULL || a->runs == NULL)
		return -1;
	for (uint32_t r = 0; r < a->nrows; r++) {
		uint32_t len = facility_row_len(f, r), w = row_words(a, r);
		uint32_t leaves = pow2_at_least(w);
		uint64_t *wd = &a->words[a->row_word[r]];
		for (uint32_t j = 0; j < w; j++) {
			uint32_t bits = len - j * 64 >= 64 ? 64 : len - j * 64;
			wd[j] = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
			*run_node(a, r, leaves + j) = run_of_word(wd[j]);
		}
		for (uint32_t v = leaves - 1; v >= 1; v--) {
			/* Node v at depth log2(v) has children of leaves >> (depth + 1) words. */
			uint32_t half = 64 * (leaves >> (32 - __builtin_clz(v)));
			*run_node(a, r, v) = run_join(*run_node(a, r, 2 * v),
			    *run_node(a, r, 2 * v + 1), half);
		}
	}
	return 0;
}

/* The run lengths in use per type: 1, and every class's contiguous count. */
static int
build_channels(alloc *a)
{
	const facility *f = a->f;
	int nt = facility_type_count(f), nc = facility_class_count(f);

	a->type_k = calloc((size_t)nt, sizeof(*a->type_k));
	a->type_nk = calloc((size_t)nt, sizeof(*a->type_nk));
	if (a->type_k == NULL || a->type_nk == NULL)
		return -1;
	for (int t = 0; t < nt; t++) {
		if ((a->type_k[t] = malloc(((size_t)nc + 1) *
		    sizeof(**a->type_k))) == NULL)
			return -1;
		a->type_k[t][a->type_nk[t]++] = 1;
	}
	for (int c = 0; c < nc; c++) {
		int t, k;
		uint32_t i;
		if (facility_class_contiguous(f, c, &t, &k) != 0)
			continue;
		for (i = 0; i < a->type_nk[t]; i++)
			if (a->type_k[t][i] == (uint32_t)k)
				break;
		if (i == a->type_nk[t])
			a->type_k[t][a->type_nk[t]++] = (uint32_t)k;
	}
	return 0;
}

static int
build_groups(alloc *a)
{
	const facility *f = a->f;
	int nt = facility_type_count(f);
	struct gkey *gk = malloc((size_t)a->nrows * sizeof(*gk));
	uint32_t *fill;
	size_t ntree = 0, nkeys = 0;

	a->row_group = malloc((size_t)a->nrows * sizeof(*a->row_group));
	a->row_local = malloc((size_t)a->nrows * sizeof(*a->row_local));
	a->group_rows = malloc((size_t)a->nrows * sizeof(*a->group_rows));
	a->type_groups = calloc((size_t)nt, sizeof(*a->type_groups));
	a->type_ngroups = calloc((size_t)nt, sizeof(*a->type_ngroups));
	if (gk == NULL || a->row_group == NULL || a->row_local == NULL ||
	    a->group_rows == NULL || a->type_groups == NULL ||
	    a->type_ngroups == NULL) {
		free(gk);
		return -1;
	}
	for (uint32_t r = 0; r < a->nrows; r++) {
		gk[r].type = facility_row_type_index(f, r);
		gk[r].tags = facility_row_tags(f, r);
		gk[r].row = r;
	}
	qsort(gk, a->nrows, sizeof(*gk), gkey_cmp);
	for (uint32_t i = 0; i < a->nrows; i++)
		if (i == 0 || gk[i].type != gk[i - 1].type ||
		    gk[i].tags != gk[i - 1].tags)
			a->ngroups++;
	if ((a->groups = calloc(a->ngroups, sizeof(*a->groups))) == NULL) {
		free(gk);
		return -1;
	}
	for (uint32_t i = 0, gi = 0; i < a->nrows; i++) {
		struct group *g;
		if (i > 0 && (gk[i].type != gk[i - 1].type ||
		    gk[i].tags != gk[i - 1].tags))
			gi++;
		g = &a->groups[gi];
		if (g->nrows == 0) {
			g->type = gk[i].type;
			g->tags = gk[i].tags;
			g->rows = &a->group_rows[i];
			a->type_ngroups[g->type]++;
		}
		a->row_group[gk[i].row] = gi;
		a->row_local[gk[i].row] = g->nrows;
		g->rows[g->nrows++] = gk[i].row;
	}
	free(gk);
	for (int t = 0; t < nt; t++)
		if (a->type_ngroups[t] > 0 && (a->type_groups[t] =
		    malloc(a->type_ngroups[t] * sizeof(**a->type_groups))) == NULL)
			return -1;
	if ((fill = calloc((size_t)nt, sizeof(*fill))) == NULL)
		return -1;
	for (uint32_t gi = 0; gi < a->ngroups; gi++) {
		struct group *g = &a->groups[gi];
		a->type_groups[g->type][fill[g->type]++] = gi;
		ntree += (size_t)a->type_nk[g->type] * (size_t)a->nslots * 2 *
		    g->nrows;
		nkeys += (size_t)a->type_nk[g->type] * (size_t)a->nslots * g->nrows;
	}
	free(fill);
	/* One block each for all trees and all keys: two allocations, not 2G. */
	a->groups[0].tree = malloc(ntree * sizeof(uint32_t));
	a->groups[0].keys = malloc(nkeys * sizeof(struct rkey));
	if (a->groups[0].tree == NULL || a->groups[0].keys == NULL)
		return -1;
	for (uint32_t gi = 1; gi < a->ngroups; gi++) {
		struct group *p = &a->groups[gi - 1], *g = &a->groups[gi];
		g->tree = p->tree + (size_t)a->type_nk[p->type] *
		    (size_t)a->nslots * 2 * p->nrows;
		g->keys = p->keys + (size_t)a->type_nk[p->type] *
		    (size_t)a->nslots * p->nrows;
	}
	return 0;
}

static int
build_gates(alloc *a)
{
	int ng = facility_gate_count(a->f);

	a->slot_gate = malloc((size_t)ng * sizeof(*a->slot_gate));
	a->gate_slot = malloc((size_t)ng * sizeof(*a->gate_slot));
	if (a->slot_gate == NULL || a->gate_slot == NULL)
		return -1;
	for (int g = 0; g < ng; g++) {
		a->gate_slot[g] = -1;
		if (facility_gate_role(a->f, g) & FAC_GATE_ENTRY) {
			a->gate_slot[g] = a->nslots;
			a->slot_gate[a->nslots++] = g;
		}
	}
	return 0;
}

alloc *
alloc_new(const facility *f)
{
	alloc *a;
	int nt, nl;

	if (f == NULL || (a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	nt = facility_type_count(f);
	nl = facility_level_count(f);
	a->f = f;
	a->strategy = ALLOC_NEAREST;
	a->nspots = facility_spot_count(f);
	a->nrows = facility_row_count(f);
	a->st = calloc(a->nspots, 1);
	a->by_type = calloc((size_t)nt, sizeof(*a->by_type));
	a->by_level = calloc((size_t)nl, sizeof(*a->by_level));
	if (a->st == NULL || a->by_type == NULL || a->by_level == NULL ||
	    build_gates(a) != 0 || build_rows(a) != 0 ||
	    build_channels(a) != 0 || build_groups(a) != 0) {
		alloc_free(a);
		return NULL;
	}
	a->all.total = a->all.free = a->nspots;
	for (uint32_t r = 0; r < a->nrows; r++) {
		uint32_t len = facility_row_len(f, r);
		struct alloc_counts *t = &a->by_type[facility_row_type_index(f, r)];
		struct alloc_counts *l = &a->by_level[facility_row_level_index(f, r)];
		t->total += len;
		t->free += len;
		l->total += len;
		l->free += len;
	}
	rebuild_trees(a);
	return a;
}

void
alloc_free(alloc *a)
{
	if (a == NULL)
		return;
	free(a->st);
	free(a->words);
	free(a->row_word);
	free(a->runs);
	free(a->row_run);
	free(a->row_group);
	free(a->row_local);
	if (a->groups != NULL) {
		free(a->groups[0].tree);
		free(a->groups[0].keys);
	}
	free(a->groups);
	free(a->group_rows);
	if (a->type_groups != NULL || a->type_k != NULL)
		for (int t = 0; t < facility_type_count(a->f); t++) {
			if (a->type_groups != NULL)
				free(a->type_groups[t]);
			if (a->type_k != NULL)
				free(a->type_k[t]);
		}
	free(a->type_groups);
	free(a->type_ngroups);
	free(a->type_k);
	free(a->type_nk);
	free(a->slot_gate);
	free(a->gate_slot);
	free(a->by_type);
	free(a->by_level);
	free(a);
}

void
alloc_set_strategy(alloc *a, enum alloc_strategy s)
{
	if ((unsigned)s > ALLOC_FILL || s == a->strategy)
		return;
	a->strategy = s;
	rebuild_trees(a);
}

enum alloc_strategy
alloc_get_strategy(const alloc *a)
{
	return a->strategy;
}

/* ---- choosing ---- */

/* The best row key among groups of type t carrying needs, for run length k. */
static int
best_in_type(const alloc *a, int t, uint32_t k, uint64_t needs, int slot,
    struct rkey *best)
{
	uint32_t ch;
	int found = 0;

	for (ch = 0; ch < a->type_nk[t]; ch++)
		if (a->type_k[t][ch] == k)
			break;
	if (ch == a->type_nk[t])
		return 0;
	for (uint32_t i = 0; i < a->type_ngroups[t]; i++) {
		const struct group *g = &a->groups[a->type_groups[t][i]];
		uint32_t w;
		if ((g->tags & needs) != needs)
			continue;
		w = group_tree(a, g, ch, slot)[1];
		if (w == NONE)
			continue;
		const struct rkey *key = &group_keys(a, g, ch, slot)[w];
		if (key->order != NONE &&
		    (!found || key_better(a->strategy, key, best))) {
			*best = *key;
			found = 1;
		}
	}
	return found;
}

pk_err
alloc_choose(const alloc *a, int gate, int cls, uint64_t needs,
    uint32_t out[ALLOC_MAX_SPOTS], size_t *n)
{
	const facility *f;
	const int *fits;
	int nfits, ctype, ccount, slot;
	struct rkey best;

	if (n != NULL)
		*n = 0;
	if (a == NULL || out == NULL || n == NULL)
		return PK_E_INVALID_PARAMS;
	f = a->f;
	if (gate < 0 || gate >= facility_gate_count(f) || a->gate_slot[gate] < 0 ||
	    cls < 0 || cls >= facility_class_count(f))
		return PK_E_INVALID_PARAMS;
	slot = a->strategy == ALLOC_FIRST ? 0 : a->gate_slot[gate];
	fits = facility_class_fits(f, cls, &nfits);
	for (int i = 0; i < nfits; i++)
		if (best_in_type(a, fits[i], 1, needs, slot, &best)) {
			out[0] = best.order;
			*n = 1;
			return PK_OK;
		}
	if (facility_class_contiguous(f, cls, &ctype, &ccount) == 0 &&
	    best_in_type(a, ctype, (uint32_t)ccount, needs, slot, &best)) {
		for (int j = 0; j < ccount; j++)
			out[j] = best.order + (uint32_t)j;
		*n = (size_t)ccount;
		return PK_OK;
	}
	return PK_E_LOT_FULL;
}

/* ---- state changes ---- */

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

/*
 * Moves a spot to a new state and pending flag, keeping counts and the
 * row bitmap.  Returns whether the row's allocatable set changed, in which
 * case the caller refreshes the row (once for several spots of a row).
 */
static int
set_state(alloc *a, uint32_t spot, uint32_t row, int state, int pending)
{
	int old = a->st[spot] & ST_MASK;
	uint32_t i, j;

	a->st[spot] = (uint8_t)(state | (pending ? ST_PENDING : 0));
	if (old == state)
		return 0;
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
	if ((old == ALLOC_SPOT_FREE) == (state == ALLOC_SPOT_FREE))
		return 0;
	i = spot - facility_row_start(a->f, row);
	j = i / 64;
	if (state == ALLOC_SPOT_FREE)
		a->words[a->row_word[row] + j] |= 1ULL << (i % 64);
	else
		a->words[a->row_word[row] + j] &= ~(1ULL << (i % 64));
	row_fix_word(a, row, j);
	return 1;
}

static void
change_one(alloc *a, uint32_t spot, int state, int pending)
{
	uint32_t row = facility_row_of_spot(a->f, spot);

	if (set_state(a, spot, row, state, pending))
		row_refresh(a, row, spot, state == ALLOC_SPOT_FREE);
}

/*
 * The row whose keys a batch of changes left stale: row NONE while
 * clean, spot NONE once more than one of its spots changed.
 */
struct dirty {
	uint32_t row, spot;
	int freed;
};

/* Notes a change of spot in row; refreshes the last row when it moves on. */
static void
mark_dirty(alloc *a, struct dirty *d, uint32_t row, uint32_t spot, int freed)
{
	if (d->row == row) {
		d->spot = NONE;
		return;
	}
	if (d->row != NONE)
		row_refresh(a, d->row, d->spot, d->freed);
	d->row = row;
	d->spot = spot;
	d->freed = freed;
}

static void
flush_dirty(alloc *a, const struct dirty *d)
{
	if (d->row != NONE)
		row_refresh(a, d->row, d->spot, d->freed);
}

void
alloc_take(alloc *a, const uint32_t *spots, size_t n)
{
	struct dirty dirty = { NONE, NONE, 0 };

	for (size_t i = 0; i < n; i++) {
		uint32_t s = spots[i], row;
		int st;
		if (s >= a->nspots)
			continue;
		st = a->st[s] & ST_MASK;
		if (st != ALLOC_SPOT_FREE && st != ALLOC_SPOT_HELD)
			continue;
		row = facility_row_of_spot(a->f, s);
		if (set_state(a, s, row, ALLOC_SPOT_OCCUPIED, a->st[s] & ST_PENDING))
			mark_dirty(a, &dirty, row, s, 0);
	}
	flush_dirty(a, &dirty);
}

void
alloc_release(alloc *a, const uint32_t *spots, size_t n)
{
	struct dirty dirty = { NONE, NONE, 0 };

	for (size_t i = 0; i < n; i++) {
		uint32_t s = spots[i], row;
		if (s >= a->nspots || (a->st[s] & ST_MASK) != ALLOC_SPOT_OCCUPIED)
			continue;
		row = facility_row_of_spot(a->f, s);
		/* A row changes only when the spot became free (not held back). */
		if (set_state(a, s, row, (a->st[s] & ST_PENDING) ?
		    ALLOC_SPOT_OUT_OF_SERVICE : ALLOC_SPOT_FREE, 0))
			mark_dirty(a, &dirty, row, s, 1);
	}
	flush_dirty(a, &dirty);
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
			change_one(a, spot, ALLOC_SPOT_OUT_OF_SERVICE, 0);
		break;
	case ALLOC_SPOT_OUT_OF_SERVICE:
		if (in_service)
			change_one(a, spot, ALLOC_SPOT_FREE, 0);
		break;
	default:
		/* Occupied or held: only the pending flag changes. */
		a->st[spot] = (uint8_t)(st | (in_service ? 0 : ST_PENDING));
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
	change_one(a, spot, ALLOC_SPOT_HELD, 0);
	return PK_OK;
}

pk_err
alloc_unhold(alloc *a, uint32_t spot)
{
	if (spot >= a->nspots)
		return PK_E_INVALID_PARAMS;
	if ((a->st[spot] & ST_MASK) != ALLOC_SPOT_HELD)
		return PK_E_NOT_FOUND;
	change_one(a, spot, (a->st[spot] & ST_PENDING) ?
	    ALLOC_SPOT_OUT_OF_SERVICE : ALLOC_SPOT_FREE, 0);
	return PK_OK;
}

/* ---- counts ---- */

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

uint64_t
alloc_free_runs(const alloc *a, int type, uint32_t k)
{
	uint64_t n = 0;

	if (k == 0 || type < 0 || type >= facility_type_count(a->f))
		return 0;
	for (uint32_t r = 0; r < a->nrows; r++) {
		const uint64_t *wd = &a->words[a->row_word[r]];
		uint32_t cur = 0;	/* the free run reaching the word's start */

		if (facility_row_type_index(a->f, r) != type)
			continue;
		for (uint32_t j = 0; j < row_words(a, r); j++) {
			uint64_t w = wd[j];
			uint32_t pos = 0;

			/* Bits past the row's end are never set: a run ends there. */
			if (~w == 0) {
				cur += 64;
				continue;
			}
			while (pos < 64) {
				uint64_t rest = w >> pos;
				uint32_t gap, ones;

				if (rest == 0)
					break;
				if ((gap = (uint32_t)__builtin_ctzll(rest)) > 0) {
					n += cur / k;
					cur = 0;
					pos += gap;
					rest >>= gap;
				}
				ones = ones_low(rest);
				cur += ones;
				pos += ones;
			}
			if (pos < 64) {
				n += cur / k;
				cur = 0;
			}
		}
		n += cur / k;
	}
	return n;
}

void
alloc_counts_by_level(const alloc *a, int level_idx, struct alloc_counts *c)
{
	if (level_idx < 0 || level_idx >= facility_level_count(a->f))
		memset(c, 0, sizeof(*c));
	else
		*c = a->by_level[level_idx];
}
