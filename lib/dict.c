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
	uint64_t k0, k1;	/* the hash key in force when the table was made */
};

/*
 * The hash key for tables made from now on, as SipHash's two words.  Until
 * dict_set_seed() it is the 16 bytes "parkd-dict-key-0", so that tests and
 * benchmarks see the same slot order every run.
 */
static uint64_t seed_k0 = 0x69642d646b726170ULL;	/* "parkd-di" */
static uint64_t seed_k1 = 0x302d79656b2d7463ULL;	/* "ct-key-0" */

/* Little-endian load, as SipHash reads its key and message words. */
static inline uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

/*
 * SipHash-c-d (Aumasson and Bernstein, 2012) of len bytes at p under the
 * key words k0, k1: every 8-byte little-endian word is xored into v3, put
 * through c rounds and xored into v0; the last word holds the leftover
 * bytes and len mod 256 in its top byte; then 0xff into v2 and d rounds.
 * Inlined with constant c and d, the loops unroll.
 */
static inline uint64_t
siphash(uint64_t k0, uint64_t k1, const unsigned char *p, size_t len,
    int c, int d)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m, b = (uint64_t)len << 56;
	const unsigned char *end = p + (len & ~(size_t)7);

	for (; p != end; p += 8) {
		m = le64(p);
		v3 ^= m;
		for (int i = 0; i < c; i++)
			SIPROUND;
		v0 ^= m;
	}
	for (size_t i = len & 7; i > 0; i--)
		b |= (uint64_t)p[i - 1] << (8 * (i - 1));
	v3 ^= b;
	for (int i = 0; i < c; i++)
		SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	for (int i = 0; i < d; i++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t
dict_siphash(const unsigned char key[16], const void *p, size_t len, int c,
    int d)
{
	return siphash(le64(key), le64(key + 8), p, len, c, d);
}

void
dict_set_seed(const unsigned char key[16])
{
	seed_k0 = le64(key);
	seed_k1 = le64(key + 8);
}

/*
 * SipHash-1-3, as CPython, Rust's HashMap and Ruby hash their tables: a
 * keyed hash, so that whoever picks the keys (plates come from clients)
 * cannot know which of them share a probe run without knowing the key.
 */
static uint64_t
hash_str(const dict *d, const char *s)
{
	return siphash(d->k0, d->k1, (const unsigned char *)s, strlen(s), 1, 3);
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
	d->k0 = seed_k0;
	d->k1 = seed_k1;
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
	size_t i = find_slot(d, key, hash_str(d, key));

	return d->slots[i].key ? d->slots[i].value : NULL;
}

int
dict_set(dict *d, const char *key, void *value)
{
	uint64_t h = hash_str(d, key);
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
	size_t i = find_slot(d, key, hash_str(d, key));
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
