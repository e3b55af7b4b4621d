/*
 * benchutil.h - what the core's micro-benchmarks share: a fixed
 * pseudo-random sequence (the same numbers on every run, so two runs
 * measure the same work), clocks, and the resident set size.
 */
#ifndef PARKD_BENCHUTIL_H
#define PARKD_BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static uint64_t bench_rng_state = 88172645463325252ULL;

/* xorshift64: fast, and good enough to pick plates and spots. */
static inline uint64_t
bench_rng(void)
{
	bench_rng_state ^= bench_rng_state << 13;
	bench_rng_state ^= bench_rng_state >> 7;
	bench_rng_state ^= bench_rng_state << 17;
	return bench_rng_state;
}

/* Seconds on clock id. */
static inline double
bench_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock seconds (monotonic). */
static inline double
bench_now(void)
{
	return bench_clock(CLOCK_MONOTONIC);
}

/* Seconds of this process's CPU time: what a loaded machine disturbs less. */
static inline double
bench_cpu_now(void)
{
	return bench_clock(CLOCK_PROCESS_CPUTIME_ID);
}

/* Resident set size in bytes, from /proc/self/statm (0 if unreadable). */
static inline long
bench_rss_bytes(void)
{
	long size = 0, resident = 0;
	FILE *fp = fopen("/proc/self/statm", "r");

	if (fp == NULL)
		return 0;
	if (fscanf(fp, "%ld %ld", &size, &resident) != 2)
		resident = 0;
	fclose(fp);
	return resident * sysconf(_SC_PAGESIZE);
}

#endif
