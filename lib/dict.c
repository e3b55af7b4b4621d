/* dict.c - open-addressing string hash table (see dict.h). */
#include "dict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	const char *key;	/* NULL: empty */
	void *value;
	uint64_t hash;
};

struct dict {
	struct slot *slots;
	size_t cap;		/* power of two */
	size_t used;
};

/* FNV-1a, then a final mix so that the low bits used for the index are good. */
static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

dict *
dict_new(void)
{
	dict *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->cap = 16;
	d->slots = calloc(d->cap, sizeof(*d->slots));
	if (d->slots == NULL) {
		free(d);
		return NULL;
	}
	return d;
}

void
dict_free(dict *d)
{
	if (d == NULL)
		return;
	free(d->slots);
	free(d);
}

static size_t
find_slot(const dict *d, const char *key, uint64_t h)
{
	size_t mask = d->cap - 1;
	size_t i = (size_t)h & mask;

	while (d->slots[i].key != NULL) {
		if (d->slots[i].hash == h && strcmp(d->slots[i].key, key) == 0)
			return i;
		i = (i + 1) & mask;
	}
	return i;
}

static int
grow(dict *d)
{
	size_t ncap = d->cap * 2;
	struct slot *ns = calloc(ncap, sizeof(*ns));
	struct slot *old = d->slots;
	size_t ocap = d->cap;

	if (ns == NULL)
		return -1;
	d->slots = ns;
	d->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i].key != NULL)
			ns[find_slot(d, old[i].key, old[i].hash)] = old[i];
	}
	free(old);
	return 0;
}

void *
dict_get(const dict *d, const char *key)
{
	size_t i = find_slot(d, key, hash_str(key));

	return d->slots[i].key ? d->slots[i].value : NULL;
}

int
dict_set(dict *d, const char *key, void *value)
{
	uint64_t h = hash_str(key);
	size_t i = find_slot(d, key, h);

	if (d->slots[i].key != NULL) {
		d->slots[i].key = key;
		d->slots[i].value = value;
		return 0;
	}
	/* Keep the load factor under 3/4 so probe runs stay short. */
	if ((d->used + 1) * 4 > d->cap * 3) {
		if (grow(d) != 0)
			return -1;
		i = find_slot(d, key, h);
	}
	d->slots[i].key = key;
	d->slots[i].value = value;
	d->slots[i].hash = h;
	d->used++;
	return 0;
}

void *
dict_del(dict *d, const char *key)
{
	size_t mask = d->cap - 1;
	size_t i = find_slot(d, key, hash_str(key));
	size_t j;
	void *value;

	if (d->slots[i].key == NULL)
		return NULL;
	value = d->slots[i].value;
	d->slots[i].key = NULL;
	d->used--;
	/*
	 * Backward-shift: move later members of the probe run into the hole
	 * when their home slot is not between the hole and themselves.
	 */
	j = i;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (d->slots[j].key == NULL)
			break;
		home = (size_t)d->slots[j].hash & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			d->slots[i] = d->slots[j];
			d->slots[j].key = NULL;
			i = j;
		}
	}
	return value;
}

size_t
dict_size(const dict *d)
{
	return d->used;
}

int
dict_next(const dict *d, size_t *pos, const char **key, void **value)
{
	while (*pos < d->cap) {
		const struct slot *s = &d->slots[(*pos)++];

		if (s->key != NULL) {
			*key = s->key;
			*value = s->value;
			return 1;
		}
	}
	return 0;
}
