/*
 * omap.h - an ordered map from short strings to pointers.
 *
 * Two users: the index of plates inside (live search by prefix at a
 * million vehicles) and the vehicle registry (vehicle_list in plate order
 * with a cursor).  Keys are NUL-terminated byte strings ordered as
 * strcmp() orders them (unsigned bytes, a prefix before its extensions),
 * which for plates is ' ' < '-' < digits < letters.
 *
 * An AVL tree with parent links.  Worst-case costs, n keys in the map:
 *
 *   omap_put, omap_del               O(log n), one allocation per new key
 *   omap_get, omap_seek*, *_first    O(log n)
 *   omap_next                        O(log n) worst, O(1) amortised over a
 *                                    run: k successive steps cost
 *                                    O(log n + k)
 *   prefix iteration of k matches    O(log n + k)
 *   memory                           one node per key: three links, the
 *                                    value, and the key inline (47 bytes
 *                                    of heap per plate measured for
 *                                    plates of 5 to 11 characters)
 *
 * Nodes never move: deleting a key relinks its successor instead of
 * copying keys between nodes, so a node pointer stays valid across any
 * number of other insertions and deletions, until its own key is deleted
 * or the map is freed.  An iteration may therefore go on after the map
 * changed (it sees the keys present when it reaches their position), as
 * long as the node it stands on was not deleted.  A listing that must
 * survive its own node's deletion resumes with omap_seek_after(last key).
 *
 * Keys are copied into the map; values are borrowed (never freed here).
 * A failed allocation returns an error and leaves the map unchanged.
 */
#ifndef PARKD_OMAP_H
#define PARKD_OMAP_H

#include <stddef.h>

#include "perr.h"

/* The longest key_max a map accepts (key lengths are kept in a byte). */
#define OMAP_KEY_MAX_LIMIT 255

typedef struct omap omap;
typedef struct omap_node omap_node;

/*
 * An empty map for keys of 1 to key_max bytes (1..OMAP_KEY_MAX_LIMIT).
 * NULL when out of memory or key_max is out of range.
 */
omap *omap_new(size_t key_max);
/* Frees the map and its keys, not the values.  Accepts NULL. */
void omap_free(omap *m);
size_t omap_size(const omap *m);

/*
 * Stores value under key, replacing the value of an existing key.  When
 * old is not NULL, *old is set to the value replaced, or NULL when the key
 * is new.  PK_OK; PK_E_INVALID_PARAMS when key is NULL, empty or longer
 * than key_max; PK_E_INTERNAL when out of memory.  The map is unchanged on
 * failure.
 */
pk_err omap_put(omap *m, const char *key, void *value, void **old);
/* The value stored under key, or NULL when absent (or key is NULL). */
void *omap_get(const omap *m, const char *key);
/* The node of key, or NULL when absent. */
omap_node *omap_find(const omap *m, const char *key);
/*
 * Removes key and frees its node; returns its value, or NULL when it was
 * absent.  Every other node stays where it is.
 */
void *omap_del(omap *m, const char *key);
/* Removes the node n (which must be in m); returns its value. */
void *omap_del_node(omap *m, omap_node *n);

/* The node with the smallest key, or NULL when the map is empty. */
omap_node *omap_first(const omap *m);
/* The first node whose key is >= key (lower bound), or NULL. */
omap_node *omap_seek(const omap *m, const char *key);
/* The first node whose key is > key (upper bound, a list cursor), or NULL. */
omap_node *omap_seek_after(const omap *m, const char *key);
/* The node after n in key order, or NULL after the last. */
omap_node *omap_next(const omap_node *n);

/*
 * Prefix iteration: the first node whose key starts with the plen bytes
 * of prefix, then the following ones, NULL when the keys stop matching.
 * plen 0 matches every key.
 *
 *	for (n = omap_prefix_first(m, p, len); n != NULL;
 *	    n = omap_prefix_next(n, p, len))
 */
omap_node *omap_prefix_first(const omap *m, const char *prefix, size_t plen);
omap_node *omap_prefix_next(const omap_node *n, const char *prefix,
    size_t plen);

/* The key of n (NUL-terminated, owned by the map) and its length. */
const char *omap_node_key(const omap_node *n);
size_t omap_node_keylen(const omap_node *n);
void *omap_node_value(const omap_node *n);
/* Replaces the value of n in place. */
void omap_node_set_value(omap_node *n, void *value);

/*
 * Checks every invariant (order, AVL balance and heights, parent links,
 * size); returns 0 when they hold, -1 otherwise.  O(n): for tests.
 */
int omap_check(const omap *m);

#endif
