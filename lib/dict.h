/*
 * dict.h - a string-keyed hash table of pointers.
 *
 * Open addressing with linear probing and backward-shift deletion, so
 * there are no tombstones and lookups stay short under churn (tickets come
 * and go all day).  Keys are borrowed: the caller keeps each key alive and
 * unchanged while it is in the table (tickets and plates own their keys).
 */
#ifndef PARKD_DICT_H
#define PARKD_DICT_H

#include <stddef.h>

typedef struct dict dict;

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
