/*
 * histogram.h - a fixed-bucket histogram in the shape Prometheus wants:
 * per-bucket counts that are added up (cumulated) only when written out,
 * a count and a sum.
 *
 * Pure: no clock, no I/O, no allocation.  A histogram is a plain struct a
 * caller embeds (one per method, one per journal measurement), so
 * observing is an increment and a short scan of at most HIST_MAX_BUCKETS
 * bounds, cheap enough for every request.  The bounds are a static array
 * the caller owns; two sets suited to parkd are given here.
 *
 * Bucket i counts the values v with bound[i-1] < v <= bound[i] (the upper
 * bound is inclusive, as Prometheus's "le" says); the last bucket, past
 * every bound, is +Inf.  NaN is not counted; a negative value counts in
 * the first bucket (durations measured on a monotonic clock never are).
 */
#ifndef PARKD_HISTOGRAM_H
#define PARKD_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

/* Most finite bounds a histogram may have. */
#define HIST_MAX_BUCKETS 24

struct histogram {
	const double *bound;		/* n ascending finite upper bounds */
	size_t n;
	uint64_t bucket[HIST_MAX_BUCKETS + 1];	/* not cumulated; [n] is +Inf */
	uint64_t count;
	double sum;
};

/*
 * Seconds, for a gate waiting on a reply or a disk on fdatasync: 100 µs
 * (a read from memory) to 10 s (a disk that has stopped answering).
 */
extern const double hist_seconds[];
extern const size_t hist_seconds_n;
/* Bytes, powers of four from 256 B to 16 MiB (a journal batch's size). */
extern const double hist_bytes[];
extern const size_t hist_bytes_n;
/* Counts, powers of two from 1 to 1024 (records in one group commit). */
extern const double hist_counts[];
extern const size_t hist_counts_n;

/*
 * An empty histogram over bound[0..n-1] (ascending, finite, not copied).
 * Returns 0, or -1 when n is 0, above HIST_MAX_BUCKETS, or the bounds are
 * not strictly ascending and finite (h is left empty over no bounds then:
 * everything counts in +Inf).
 */
int hist_init(struct histogram *h, const double *bound, size_t n);

/* Counts v once. */
void hist_observe(struct histogram *h, double v);
/* Counts v k times (k requests that shared one reply). */
void hist_observe_n(struct histogram *h, double v, uint64_t k);

/* Buckets to write out: the finite bounds and +Inf, so n + 1. */
size_t hist_buckets(const struct histogram *h);
/* The upper bound of bucket i (i < hist_buckets): INFINITY for the last. */
double hist_le(const struct histogram *h, size_t i);
/* Values <= hist_le(h, i): the cumulative count; the last equals count. */
uint64_t hist_cumulative(const struct histogram *h, size_t i);

#endif
