/*
 * dict.h - a string-keyed hash table of pointers.
 *
 * Open addressing with linear probing and backward-shift deletion, so
 * there are no tombstones and lookups stay short under churn (tickets come
 * and go all day).  Keys are borrowed: the caller keeps each key alive and
 * unchanged while it is in the table (tickets and plates own their keys).
 *
 * The hash is keyed (SipHash-1-3): keys come from clients (plates, ids,
 * search patterns), and with a hash anyone can compute they could pick
 * thousands that share one probe run and make every look-up a scan.  The
 * daemon sets a random key at start; nobody outside can predict which
 * strings collide.  Slot order, and so iteration order, depends on it.
 */
#ifndef PARKD_DICT_H
#define PARKD_DICT_H

#include <stddef.h>
#include <stdint.h>

typedef struct dict dict;

/*
 * Sets the hash key, for the whole process, to the 16 bytes at key.
 * Tables made afterwards hash with it; a table keeps the key it was made
 * with, so one made before goes on working.  Call at start, before any
 * other thread runs (the daemon passes 16 bytes from getrandom).  Without
 * a call the key is a fixed one, which tests and benchmarks rely on for
 * the same slot order every run.
 */
void dict_set_seed(const unsigned char key[16]);

/*
 * SipHash-c-d (c rounds per word, d at the end) of the len bytes at p under
 * key, read as two little-endian words like the reference implementation.
 * The tables use c = 1, d = 3; public for the test vectors.
 */
uint64_t dict_siphash(const unsigned char key[16], const void *p, size_t len,
    int c, int d);

/* An empty table, or NULL when out of memory. */
dict *dict_new(void);
/* Frees the table, not the keys or values.  Accepts NULL. */
void dict_free(dict *d);

/* The value stored under key, or NULL. */
void *dict_get(const dict *d, const char *key);
/*
 * Stores value under key, replacing any earlier value.  Returns 0, or -1
 * when growing the table failed (the table is unchanged then).
 */
int dict_set(dict *d, const char *key, void *value);
/* Removes key; returns its value, or NULL when it was absent. */
void *dict_del(dict *d, const char *key);
size_t dict_size(const dict *d);

/*
 * Iteration in slot order: start with *pos = 0; returns 0 when done.
 * The table must not change during an iteration.
 */
int dict_next(const dict *d, size_t *pos, const char **key, void **value);

#endif
