/*
 * failmalloc.c - an LD_PRELOAD library for tests: makes malloc, calloc
 * and realloc fail (NULL, ENOMEM) once in FAILMALLOC_ONE_IN calls, from
 * FAILMALLOC_FROM_MS to FAILMALLOC_TO_MS after the process loaded it, in
 * every thread; FAILMALLOC_SEED varies which calls.  Unset: nothing fails.
 * The real allocations are glibc's own (__libc_malloc and friends), so
 * it must not be used with a sanitizer's allocator.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t k, size_t n);
void *__libc_realloc(void *p, size_t n);

void *malloc(size_t n);
void *calloc(size_t k, size_t n);
void *realloc(void *p, size_t n);

static uint64_t t0, from_ms, to_ms, one_in, seed;
static __thread uint64_t rng;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
env(const char *name)
{
	const char *s = getenv(name);

	return s != NULL ? strtoull(s, NULL, 10) : 0;
}

__attribute__((constructor)) static void
init(void)
{
	t0 = now_ms();
	from_ms = env("FAILMALLOC_FROM_MS");
	to_ms = env("FAILMALLOC_TO_MS");
	one_in = env("FAILMALLOC_ONE_IN");
	seed = env("FAILMALLOC_SEED");
}

static int
fail(void)
{
	uint64_t t;

	if (one_in == 0)
		return 0;
	t = now_ms() - t0;
	if (t < from_ms || t >= to_ms)
		return 0;
	if (rng == 0)	/* per thread: its address, and the seed */
		rng = ((uint64_t)(uintptr_t)&rng ^ (seed * 0x9e3779b97f4a7c15ULL)) | 1;
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	if (rng % one_in != 0)
		return 0;
	errno = ENOMEM;
	return 1;
}

void *
malloc(size_t n)
{
	return fail() ? NULL : __libc_malloc(n);
}

void *
calloc(size_t k, size_t n)
{
	return fail() ? NULL : __libc_calloc(k, n);
}

void *
realloc(void *p, size_t n)
{
	/* realloc(p, 0) frees: that one never fails. */
	return n > 0 && fail() ? NULL : __libc_realloc(p, n);
}
