/*
 * rng.h - the randomized tests' generator: xorshift64*, deterministic, so
 * that a failing seed reproduces.  Not for anything but tests.
 */
#ifndef PARKD_TEST_RNG_H
#define PARKD_TEST_RNG_H

#include <stdint.h>

/* The next number of the sequence whose state is *state (not 0). */
static inline uint64_t
tu_rng(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 2685821657736338717ULL;
}

#endif
