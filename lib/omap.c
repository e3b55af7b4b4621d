/* omap.c - ordered string map: an AVL tree with parent links (see omap.h). */
#include "omap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * A node carries its key inline, so that a comparison on the way down
 * touches one cache line instead of chasing a key pointer.  height is the
 * height of the subtree rooted here (a leaf is 1); an AVL tree of height h
 * holds at least F(h + 2) - 1 nodes, so 255 levels are never reached.
 * link[0] is the left child (smaller keys), link[1] the right one.
 */
struct omap_node {
	struct omap_node *link[2];
	struct omap_node *parent;
	void *value;
	uint8_t height;
	uint8_t klen;
	char key[];		/* klen bytes and a NUL */
};

struct omap {
	struct omap_node *root;
	size_t size;
	size_t key_max;
};

omap *
omap_new(size_t key_max)
{
	omap *m;

	if (key_max == 0 || key_max > OMAP_KEY_MAX_LIMIT)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->key_max = key_max;
	return m;
}

void
omap_free(omap *m)
{
	struct omap_node *n, *p;

	if (m == NULL)
		return;
	/* Post-order without a stack: free leaves, climbing through parents. */
	n = m->root;
	while (n != NULL) {
		if (n->link[0] != NULL) {
			n = n->link[0];
			continue;
		}
		if (n->link[1] != NULL) {
			n = n->link[1];
			continue;
		}
		p = n->parent;
		if (p != NULL)
			p->link[p->link[1] == n] = NULL;
		free(n);
		n = p;
	}
	free(m);
}

size_t
omap_size(const omap *m)
{
	return m->size;
}

static int
om_height(const struct omap_node *n)
{
	return n != NULL ? n->height : 0;
}

static void
om_fix_height(struct omap_node *n)
{
	int l = om_height(n->link[0]), r = om_height(n->link[1]);

	n->height = (uint8_t)(1 + (l > r ? l : r));
}

/* Puts c where n hangs (under n's parent, or as the root). */
static void
om_replace_child(omap *m, struct omap_node *n, struct omap_node *c)
{
	struct omap_node *p = n->parent;

	if (p == NULL)
		m->root = c;
	else
		p->link[p->link[1] == n] = c;
	if (c != NULL)
		c->parent = p;
}

/*
 * Rotates at x: its child on side !dir rises into x's place and x goes
 * down on side dir.  Returns the risen node.
 */
static struct omap_node *
om_rotate(omap *m, struct omap_node *x, int dir)
{
	struct omap_node *y = x->link[!dir];
	struct omap_node *b = y->link[dir];

	om_replace_child(m, x, y);
	x->link[!dir] = b;
	if (b != NULL)
		b->parent = x;
	y->link[dir] = x;
	x->parent = y;
	om_fix_height(x);
	om_fix_height(y);
	return y;
}

/*
 * Restores heights and balance from n upwards after one insertion or
 * deletion below n.  An ancestor sees a subtree only through its height,
 * so the walk stops at the first subtree whose height came out as it was
 * before (stored heights are what each parent last saw).
 */
static void
om_rebalance(omap *m, struct omap_node *n)
{
	while (n != NULL) {
		int bal = om_height(n->link[1]) - om_height(n->link[0]);
		int old = n->height;

		if (bal > 1 || bal < -1) {
			int d = bal > 1;	/* the taller side */
			struct omap_node *c = n->link[d];

			/* An inner-heavy child needs a double rotation. */
			if (om_height(c->link[!d]) > om_height(c->link[d]))
				om_rotate(m, c, d);
			n = om_rotate(m, n, !d);
		} else {
			om_fix_height(n);
		}
		if (n->height == old)
			break;
		n = n->parent;
	}
}

static int
om_key_ok(const omap *m, const char *key, size_t *len)
{
	if (key == NULL)
		return 0;
	*len = strnlen(key, m->key_max + 1);
	return *len >= 1 && *len <= m->key_max;
}

pk_err
omap_put(omap *m, const char *key, void *value, void **old)
{
	struct omap_node *p = NULL, *n = m->root, *nn;
	size_t len;
	int dir = 0;

	if (old != NULL)
		*old = NULL;
	if (!om_key_ok(m, key, &len))
		return PK_E_INVALID_PARAMS;
	while (n != NULL) {
		int c = strcmp(key, n->key);

		if (c == 0) {
			if (old != NULL)
				*old = n->value;
			n->value = value;
			return PK_OK;
		}
		p = n;
		dir = c > 0;
		n = n->link[dir];
	}
	nn = malloc(sizeof(*nn) + len + 1);
	if (nn == NULL)
		return PK_E_INTERNAL;
	nn->link[0] = nn->link[1] = NULL;
	nn->parent = p;
	nn->value = value;
	nn->height = 1;
	nn->klen = (uint8_t)len;
	memcpy(nn->key, key, len + 1);
	if (p == NULL)
		m->root = nn;
	else
		p->link[dir] = nn;
	m->size++;
	om_rebalance(m, p);
	return PK_OK;
}

omap_node *
omap_find(const omap *m, const char *key)
{
	struct omap_node *n = m->root;

	if (key == NULL)
		return NULL;
	while (n != NULL) {
		int c = strcmp(key, n->key);

		if (c == 0)
			return n;
		n = n->link[c > 0];
	}
	return NULL;
}

void *
omap_get(const omap *m, const char *key)
{
	struct omap_node *n = omap_find(m, key);

	return n != NULL ? n->value : NULL;
}

static struct omap_node *
om_min(struct omap_node *n)
{
	if (n == NULL)
		return NULL;
	while (n->link[0] != NULL)
		n = n->link[0];
	return n;
}

void *
omap_del_node(omap *m, omap_node *z)
{
	struct omap_node *from;		/* where rebalancing starts */
	void *value = z->value;

	if (z->link[0] == NULL || z->link[1] == NULL) {
		from = z->parent;
		om_replace_child(m, z, z->link[z->link[0] == NULL]);
	} else {
		/*
		 * Two children: the successor y (leftmost of the right
		 * subtree, so without a left child) takes z's place as a
		 * node; keys are never copied, so pointers to y stay good.
		 */
		struct omap_node *y = om_min(z->link[1]);

		if (y->parent == z) {
			from = y;
		} else {
			from = y->parent;
			from->link[0] = y->link[1];
			if (y->link[1] != NULL)
				y->link[1]->parent = from;
			y->link[1] = z->link[1];
			y->link[1]->parent = y;
		}
		om_replace_child(m, z, y);
		y->link[0] = z->link[0];
		y->link[0]->parent = y;
		y->height = z->height;
	}
	m->size--;
	free(z);
	om_rebalance(m, from);
	return value;
}

void *
omap_del(omap *m, const char *key)
{
	struct omap_node *n = omap_find(m, key);

	return n != NULL ? omap_del_node(m, n) : NULL;
}

omap_node *
omap_first(const omap *m)
{
	return om_min(m->root);
}

/* The first node with key >= k (strict 0) or key > k (strict 1). */
static struct omap_node *
om_bound(const omap *m, const char *k, int strict)
{
	struct omap_node *n = m->root, *best = NULL;

	if (k == NULL)
		return om_min(m->root);
	while (n != NULL) {
		int c = strcmp(k, n->key);

		if (c < 0 || (c == 0 && !strict)) {
			best = n;
			n = n->link[0];
		} else {
			n = n->link[1];
		}
	}
	return best;
}

omap_node *
omap_seek(const omap *m, const char *key)
{
	return om_bound(m, key, 0);
}

omap_node *
omap_seek_after(const omap *m, const char *key)
{
	return om_bound(m, key, 1);
}

omap_node *
omap_next(const omap_node *cn)
{
	struct omap_node *n = (struct omap_node *)(uintptr_t)cn;
	struct omap_node *p;

	if (n->link[1] != NULL)
		return om_min(n->link[1]);
	p = n->parent;
	while (p != NULL && p->link[1] == n) {
		n = p;
		p = p->parent;
	}
	return p;
}

static int
om_has_prefix(const struct omap_node *n, const char *prefix, size_t plen)
{
	return n->klen >= plen && memcmp(n->key, prefix, plen) == 0;
}

omap_node *
omap_prefix_first(const omap *m, const char *prefix, size_t plen)
{
	struct omap_node *n = m->root, *best = NULL;

	/*
	 * The lower bound of the prefix itself: every key starting with it
	 * sorts at or after it, and those keys are contiguous.  The bound is
	 * computed on the plen bytes without a terminated copy.
	 */
	while (n != NULL) {
		size_t cl = plen < n->klen ? plen : n->klen;
		int c = memcmp(prefix, n->key, cl);

		if (c == 0)
			c = plen < n->klen ? -1 : (plen > n->klen ? 1 : 0);
		if (c <= 0) {
			best = n;
			n = n->link[0];
		} else {
			n = n->link[1];
		}
	}
	return best != NULL && om_has_prefix(best, prefix, plen) ? best : NULL;
}

omap_node *
omap_prefix_next(const omap_node *n, const char *prefix, size_t plen)
{
	struct omap_node *s = omap_next(n);

	return s != NULL && om_has_prefix(s, prefix, plen) ? s : NULL;
}

const char *
omap_node_key(const omap_node *n)
{
	return n->key;
}

size_t
omap_node_keylen(const omap_node *n)
{
	return n->klen;
}

void *
omap_node_value(const omap_node *n)
{
	return n->value;
}

void
omap_node_set_value(omap_node *n, void *value)
{
	n->value = value;
}

/* Checks the subtree at n; its height in *h, its node count in *count. */
static int
om_check_sub(const struct omap_node *n, const struct omap_node *parent,
    const char *lo, const char *hi, size_t key_max, int *h, size_t *count)
{
	int hl, hr;
	size_t cl, cr;

	if (n == NULL) {
		*h = 0;
		*count = 0;
		return 0;
	}
	if (n->parent != parent || n->klen == 0 || n->klen > key_max ||
	    strlen(n->key) != n->klen)
		return -1;
	if ((lo != NULL && strcmp(lo, n->key) >= 0) ||
	    (hi != NULL && strcmp(n->key, hi) >= 0))
		return -1;
	if (om_check_sub(n->link[0], n, lo, n->key, key_max, &hl, &cl) != 0 ||
	    om_check_sub(n->link[1], n, n->key, hi, key_max, &hr, &cr) != 0)
		return -1;
	if (hl - hr > 1 || hr - hl > 1)
		return -1;
	*h = 1 + (hl > hr ? hl : hr);
	if (n->height != *h)
		return -1;
	*count = cl + cr + 1;
	return 0;
}

int
omap_check(const omap *m)
{
	int h;
	size_t count;

	if (om_check_sub(m->root, NULL, NULL, NULL, m->key_max, &h,
	    &count) != 0)
		return -1;
	return count == m->size ? 0 : -1;
}
