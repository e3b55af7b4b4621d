/* test_omap.c - unit tests of the ordered string map, and a randomized comparison with a sorted array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The map is compiled in here against an allocator that can fail. */
#include "failalloc.h"
#define malloc(n) fa_malloc(n)
#define calloc(k, n) fa_calloc(k, n)
#define realloc(p, n) fa_realloc(p, n)
#define free(p) fa_free(p)
#include "omap.c"
#include "rng.h"
#undef malloc
#undef calloc
#undef realloc
#undef free

static void *
V(uintptr_t i)
{
	return (void *)i;
}

static uintptr_t
U(const void *p)
{
	return (uintptr_t)p;
}

/* Node accessors that fail the test on NULL (and say so to the compiler). */
static const char *
nkey(const omap_node *n)
{
	if (n == NULL)
		fail_msg("no node");
	return n != NULL ? omap_node_key(n) : "";
}

static void *
nval(const omap_node *n)
{
	if (n == NULL)
		fail_msg("no node");
	return n != NULL ? omap_node_value(n) : NULL;
}

static omap_node *
found(const omap *m, const char *k)
{
	omap_node *n = omap_find(m, k);

	if (n == NULL) {
		fail_msg("no node %s", k);
		abort();	/* not reached: fail_msg() leaves the test */
	}
	return n;
}

/* The keys of m in iteration order, joined by '|'. */
static const char *
keys_of(const omap *m)
{
	static char buf[4096];
	size_t len = 0;

	buf[0] = '\0';
	for (omap_node *n = omap_first(m); n != NULL; n = omap_next(n))
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
		    len > 0 ? "|" : "", nkey(n));
	return buf;
}

static omap *
map_of(const char *const *keys)
{
	omap *m = omap_new(16);

	assert_non_null(m);
	for (uintptr_t i = 0; keys[i] != NULL; i++)
		assert_int_equal(omap_put(m, keys[i], V(i + 1), NULL), PK_OK);
	assert_int_equal(omap_check(m), 0);
	return m;
}

static void
test_empty_and_bounds(void **state)
{
	omap *m;
	void *old = V(7);

	(void)state;
	assert_null(omap_new(0));
	assert_null(omap_new(OMAP_KEY_MAX_LIMIT + 1));
	m = omap_new(4);
	assert_non_null(m);
	assert_int_equal(omap_size(m), 0);
	assert_null(omap_get(m, "A"));
	assert_null(omap_get(m, NULL));
	assert_null(omap_first(m));
	assert_null(omap_seek(m, "A"));
	assert_null(omap_seek_after(m, ""));
	assert_null(omap_prefix_first(m, "", 0));
	assert_null(omap_del(m, "A"));
	assert_int_equal(omap_check(m), 0);

	assert_int_equal(omap_put(m, NULL, V(1), &old), PK_E_INVALID_PARAMS);
	assert_null(old);
	assert_int_equal(omap_put(m, "", V(1), NULL), PK_E_INVALID_PARAMS);
	assert_int_equal(omap_put(m, "ABCDE", V(1), NULL), PK_E_INVALID_PARAMS);
	assert_int_equal(omap_put(m, "ABCD", V(1), NULL), PK_OK);
	assert_int_equal(omap_size(m), 1);
	omap_free(m);
	omap_free(NULL);
	assert_int_equal(fa_live, 0);
}

static void
test_put_get_replace_del(void **state)
{
	omap *m = omap_new(16);
	void *old = NULL;

	(void)state;
	assert_int_equal(omap_put(m, "B-XY 123", V(1), &old), PK_OK);
	assert_null(old);
	assert_int_equal(omap_put(m, "B-XY 123", V(2), &old), PK_OK);
	assert_ptr_equal(old, V(1));
	assert_int_equal(omap_size(m), 1);
	assert_ptr_equal(omap_get(m, "B-XY 123"), V(2));
	assert_null(omap_get(m, "B-XY 12"));
	assert_null(omap_get(m, "B-XY 1234"));
	assert_string_equal(nkey(omap_find(m, "B-XY 123")),
	    "B-XY 123");
	assert_int_equal(omap_node_keylen(found(m, "B-XY 123")), 8);
	omap_node_set_value(found(m, "B-XY 123"), V(3));
	assert_ptr_equal(omap_get(m, "B-XY 123"), V(3));
	assert_ptr_equal(omap_del(m, "B-XY 123"), V(3));
	assert_null(omap_del(m, "B-XY 123"));
	assert_int_equal(omap_size(m), 0);
	/* The map copies keys: the caller's buffer may change. */
	{
		char k[] = "KEY";

		assert_int_equal(omap_put(m, k, V(9), NULL), PK_OK);
		k[0] = 'X';
		assert_ptr_equal(omap_get(m, "KEY"), V(9));
		assert_null(omap_get(m, "XEY"));
	}
	omap_free(m);
	assert_int_equal(fa_live, 0);
}

static void
test_order_is_strcmp(void **state)
{
	static const char *const keys[] = { "B", "A1", "A", "A 1", "A-1",
	    "Z9", "AB", "0", "9Z", "\xff", " ", NULL };
	omap *m = map_of(keys);

	(void)state;
	assert_string_equal(keys_of(m), " |0|9Z|A|A 1|A-1|A1|AB|B|Z9|\xff");
	omap_free(m);
}

static void
test_seek(void **state)
{
	static const char *const keys[] = { "B", "D", "DA", "F", NULL };
	omap *m = map_of(keys);

	(void)state;
	assert_string_equal(nkey(omap_seek(m, "A")), "B");
	assert_string_equal(nkey(omap_seek(m, "B")), "B");
	assert_string_equal(nkey(omap_seek(m, "C")), "D");
	assert_string_equal(nkey(omap_seek(m, "D ")), "DA");
	assert_string_equal(nkey(omap_seek(m, "DA")), "DA");
	assert_string_equal(nkey(omap_seek(m, "DB")), "F");
	assert_null(omap_seek(m, "G"));
	assert_string_equal(nkey(omap_seek(m, NULL)), "B");

	assert_string_equal(nkey(omap_seek_after(m, "")), "B");
	assert_string_equal(nkey(omap_seek_after(m, "B")), "D");
	assert_string_equal(nkey(omap_seek_after(m, "D")), "DA");
	assert_string_equal(nkey(omap_seek_after(m, "DA")), "F");
	assert_string_equal(nkey(omap_seek_after(m, "E")), "F");
	assert_null(omap_seek_after(m, "F"));
	omap_free(m);
}

/* The keys starting with p, by prefix iteration, joined by '|'. */
static const char *
prefix_keys(const omap *m, const char *p)
{
	static char buf[4096];
	size_t len = 0, plen = strlen(p);

	buf[0] = '\0';
	for (omap_node *n = omap_prefix_first(m, p, plen); n != NULL;
	    n = omap_prefix_next(n, p, plen))
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
		    len > 0 ? "|" : "", nkey(n));
	return buf;
}

static void
test_prefix(void **state)
{
	static const char *const keys[] = { "AB", "AB 1", "AB-1", "AB1",
	    "ABC", "AC", "A", "B", "AAZ", NULL };
	omap *m = map_of(keys);

	(void)state;
	assert_string_equal(prefix_keys(m, "AB"), "AB|AB 1|AB-1|AB1|ABC");
	assert_string_equal(prefix_keys(m, "A"),
	    "A|AAZ|AB|AB 1|AB-1|AB1|ABC|AC");
	assert_string_equal(prefix_keys(m, "AB-"), "AB-1");
	assert_string_equal(prefix_keys(m, "AB-1"), "AB-1");
	assert_string_equal(prefix_keys(m, "AB-12"), "");
	assert_string_equal(prefix_keys(m, "AA"), "AAZ");
	assert_string_equal(prefix_keys(m, "AD"), "");
	assert_string_equal(prefix_keys(m, "C"), "");
	assert_string_equal(prefix_keys(m, "0"), "");
	assert_string_equal(prefix_keys(m, ""),
	    "A|AAZ|AB|AB 1|AB-1|AB1|ABC|AC|B");
	/* The prefix need not be terminated: plen counts. */
	assert_string_equal(nkey(omap_prefix_first(m, "ACXYZ", 2)),
	    "AC");
	omap_free(m);
}

/* Nodes stay where they are whatever else is inserted or deleted. */
static void
test_nodes_do_not_move(void **state)
{
	omap *m = omap_new(16);
	omap_node *held, *n;
	char k[16];

	(void)state;
	for (int i = 0; i < 2000; i++) {
		snprintf(k, sizeof(k), "K%05d", i);
		assert_int_equal(omap_put(m, k, V((uintptr_t)i + 1), NULL),
		    PK_OK);
	}
	held = omap_find(m, "K01000");
	assert_non_null(held);
	/* Delete its neighbours and half of the rest (two-child cases). */
	for (int i = 0; i < 2000; i += 2) {
		if (i == 1000)
			continue;
		snprintf(k, sizeof(k), "K%05d", i);
		assert_non_null(omap_del(m, k));
	}
	assert_non_null(omap_del(m, "K00999"));
	assert_int_equal(omap_check(m), 0);
	assert_ptr_equal(omap_find(m, "K01000"), held);
	assert_string_equal(nkey(held), "K01000");
	assert_ptr_equal(nval(held), V(1001));
	/* Iteration from a held node goes on after changes. */
	assert_non_null(omap_del(m, "K01001"));
	n = omap_next(held);
	assert_string_equal(nkey(n), "K01003");
	assert_int_equal(omap_put(m, "K01000A", V(1), NULL), PK_OK);
	assert_string_equal(nkey(omap_next(held)), "K01000A");
	omap_free(m);
	assert_int_equal(fa_live, 0);
}

/* Ascending, descending and zig-zag insertion keep the tree balanced. */
static void
test_balance_under_sorted_input(void **state)
{
	omap *m = omap_new(16);
	char k[16];
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "A%06d", i);
		assert_int_equal(omap_put(m, k, V(1), NULL), PK_OK);
		snprintf(k, sizeof(k), "B%06d", 20000 - i);
		assert_int_equal(omap_put(m, k, V(1), NULL), PK_OK);
	}
	assert_int_equal(omap_check(m), 0);
	/* AVL: height <= 1.44 log2(n + 2); 40000 keys: at most 22. */
	assert_true(m->root->height <= 22);
	for (i = 0; i < 20000; i += 3) {
		snprintf(k, sizeof(k), "A%06d", i);
		assert_non_null(omap_del(m, k));
	}
	assert_int_equal(omap_check(m), 0);
	assert_int_equal(omap_size(m), 40000 - 6667);
	omap_free(m);
	assert_int_equal(fa_live, 0);
}

/* A cursor listing (seek_after the last key) under changes between pages. */
static void
test_cursor_listing_under_changes(void **state)
{
	omap *m = omap_new(16);
	char k[16], cursor[17] = "";
	int seen[400] = { 0 }, pages = 0;

	(void)state;
	for (int i = 0; i < 400; i += 2) {	/* even keys exist throughout */
		snprintf(k, sizeof(k), "P%04d", i);
		assert_int_equal(omap_put(m, k, V((uintptr_t)i + 1), NULL),
		    PK_OK);
	}
	for (;;) {
		omap_node *n = cursor[0] != '\0' ? omap_seek_after(m, cursor) :
		    omap_first(m);
		int got = 0;

		for (; n != NULL && got < 7; n = omap_next(n), got++) {
			int i = (int)U(nval(n)) - 1;

			seen[i]++;
			snprintf(cursor, sizeof(cursor), "%s", nkey(n));
		}
		if (got == 0)
			break;
		pages++;
		/* Between pages: odd keys come and go, and the cursor's own key goes. */
		for (int i = 1; i < 400; i += 2) {
			snprintf(k, sizeof(k), "P%04d", i);
			if ((i + pages) % 3 == 0)
				assert_int_equal(omap_put(m, k,
				    V((uintptr_t)i + 1), NULL), PK_OK);
			else
				omap_del(m, k);
		}
		if (atoi(cursor + 1) % 2 == 1)
			omap_del(m, cursor);
	}
	for (int i = 0; i < 400; i++) {
		assert_true(seen[i] <= 1);
		if (i % 2 == 0)
			assert_int_equal(seen[i], 1);
	}
	omap_free(m);
}

/* ---- allocation failure ---- */

static void
test_put_out_of_memory_changes_nothing(void **state)
{
	static const char *const keys[] = { "M", "F", "T", "B", "H", NULL };
	omap *m = map_of(keys);
	char before[4096];

	(void)state;
	snprintf(before, sizeof(before), "%s", keys_of(m));
	fa_fail_after(0);
	assert_int_equal(omap_put(m, "G", V(9), NULL), PK_E_INTERNAL);
	assert_string_equal(keys_of(m), before);
	assert_int_equal(omap_size(m), 5);
	assert_int_equal(omap_check(m), 0);
	/* Replacing an existing key needs no memory. */
	fa_fail_after(0);
	assert_int_equal(omap_put(m, "F", V(8), NULL), PK_OK);
	fa_fail_after(-1);
	assert_ptr_equal(omap_get(m, "F"), V(8));
	omap_free(m);
	assert_int_equal(fa_live, 0);

	fa_fail_after(0);
	assert_null(omap_new(16));
	fa_fail_after(-1);
	assert_int_equal(fa_live, 0);
}

/* ---- randomized comparison with a sorted array ---- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	return tu_rng(&rng_state);
}

#define MK 8
struct mentry {
	char key[MK];
	uintptr_t val;
};

struct model {
	struct mentry *e;
	size_t n;
};

/* Index of the first entry with key >= k (strict: > k). */
static size_t
m_bound(const struct model *md, const char *k, int strict)
{
	size_t i = 0;

	while (i < md->n) {
		int c = strcmp(md->e[i].key, k);

		if (c > 0 || (c == 0 && !strict))
			break;
		i++;
	}
	return i;
}

/* Short keys over a small alphabet, so that prefixes are shared a lot. */
static void
rand_key(char *k, size_t maxlen)
{
	static const char alpha[] = "AB -9";
	size_t len = 1 + (size_t)(rng() % maxlen);

	for (size_t i = 0; i < len; i++)
		k[i] = alpha[rng() % (sizeof(alpha) - 1)];
	k[len] = '\0';
}

static void
run_model(uint64_t seed, int ops)
{
	struct model md;
	omap *m = omap_new(MK - 1);
	char k[MK];

	rng_state = seed;
	md.e = calloc(4000, sizeof(*md.e));
	md.n = 0;
	assert_non_null(md.e);
	for (int op = 0; op < ops; op++) {
		unsigned what = (unsigned)(rng() % 10);
		size_t i;

		rand_key(k, 4);
		i = m_bound(&md, k, 0);
		if (what < 4) {			/* put */
			uintptr_t v = (uintptr_t)(rng() % 1000000) + 1;
			void *old;
			int exists = i < md.n && strcmp(md.e[i].key, k) == 0;

			if (rng() % 20 == 0)
				fa_fail_after(0);
			pk_err e = omap_put(m, k, V(v), &old);

			fa_fail_after(-1);
			if (e == PK_E_INTERNAL) {
				assert_false(exists);
				assert_null(old);
			} else {
				assert_int_equal(e, PK_OK);
				if (exists) {
					assert_int_equal(U(old), md.e[i].val);
					md.e[i].val = v;
				} else {
					assert_null(old);
					memmove(&md.e[i + 1], &md.e[i],
					    (md.n - i) * sizeof(*md.e));
					snprintf(md.e[i].key, MK, "%s", k);
					md.e[i].val = v;
					md.n++;
				}
			}
		} else if (what < 7) {		/* delete */
			void *v = omap_del(m, k);

			if (i < md.n && strcmp(md.e[i].key, k) == 0) {
				assert_int_equal(U(v), md.e[i].val);
				memmove(&md.e[i], &md.e[i + 1],
				    (md.n - i - 1) * sizeof(*md.e));
				md.n--;
			} else {
				assert_null(v);
			}
		} else if (what == 7) {		/* seek, seek_after, get */
			omap_node *a = omap_seek(m, k);
			omap_node *b = omap_seek_after(m, k);
			size_t j = m_bound(&md, k, 1);

			if (i < md.n)
				assert_string_equal(nkey(a), md.e[i].key);
			else
				assert_null(a);
			if (j < md.n)
				assert_string_equal(nkey(b), md.e[j].key);
			else
				assert_null(b);
			if (i < md.n && strcmp(md.e[i].key, k) == 0)
				assert_int_equal(U(omap_get(m, k)), md.e[i].val);
			else
				assert_null(omap_get(m, k));
		} else {			/* prefix iteration */
			size_t plen = strlen(k), j = i;
			omap_node *n;

			if (rng() % 4 == 0)
				k[plen = 1] = '\0';
			j = m_bound(&md, k, 0);
			for (n = omap_prefix_first(m, k, plen); n != NULL;
			    n = omap_prefix_next(n, k, plen), j++) {
				assert_true(j < md.n);
				assert_string_equal(nkey(n), md.e[j].key);
				assert_int_equal(U(nval(n)),
				    md.e[j].val);
			}
			assert_true(j == md.n ||
			    strncmp(md.e[j].key, k, plen) != 0);
		}
		assert_int_equal(omap_size(m), md.n);
		if (op % 500 == 0) {
			size_t j = 0;

			assert_int_equal(omap_check(m), 0);
			for (omap_node *n = omap_first(m); n != NULL;
			    n = omap_next(n), j++)
				assert_string_equal(nkey(n), md.e[j].key);
			assert_int_equal(j, md.n);
		}
	}
	assert_int_equal(omap_check(m), 0);
	omap_free(m);
	free(md.e);
	assert_int_equal(fa_live, 0);
}

static void
test_model_seeds(void **state)
{
	static const uint64_t seeds[] = { 1, 42, 0x9e3779b97f4a7c15ULL,
	    20261122, 777 };

	(void)state;
	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++)
		run_model(seeds[s], 30000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty_and_bounds, fa_reset),
		cmocka_unit_test_setup(test_put_get_replace_del, fa_reset),
		cmocka_unit_test_setup(test_order_is_strcmp, fa_reset),
		cmocka_unit_test_setup(test_seek, fa_reset),
		cmocka_unit_test_setup(test_prefix, fa_reset),
		cmocka_unit_test_setup(test_nodes_do_not_move, fa_reset),
		cmocka_unit_test_setup(test_balance_under_sorted_input, fa_reset),
		cmocka_unit_test_setup(test_cursor_listing_under_changes, fa_reset),
		cmocka_unit_test_setup(test_put_out_of_memory_changes_nothing, fa_reset),
		cmocka_unit_test_setup(test_model_seeds, fa_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
