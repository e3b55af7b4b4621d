/* histogram.c - fixed-bucket histograms (see histogram.h). */
#include "histogram.h"

#include <math.h>
#include <string.h>

const double hist_seconds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const size_t hist_seconds_n = sizeof(hist_seconds) / sizeof(hist_seconds[0]);

const double hist_bytes[] = {
	256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
};
const size_t hist_bytes_n = sizeof(hist_bytes) / sizeof(hist_bytes[0]);

const double hist_counts[] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024,
};
const size_t hist_counts_n = sizeof(hist_counts) / sizeof(hist_counts[0]);

int
hist_init(struct histogram *h, const double *bound, size_t n)
{
	memset(h, 0, sizeof(*h));
	if (bound == NULL || n == 0 || n > HIST_MAX_BUCKETS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(bound[i]) || (i > 0 && bound[i] <= bound[i - 1]))
			return -1;
	}
	h->bound = bound;
	h->n = n;
	return 0;
}

void
hist_observe_n(struct histogram *h, double v, uint64_t k)
{
	size_t i = 0;

	if (isnan(v) || k == 0)
		return;
	/* A dozen or two bounds: a scan costs less than a search's branches. */
	while (i < h->n && v > h->bound[i])
		i++;
	h->bucket[i] += k;
	h->count += k;
	h->sum += v * (double)k;
}

void
hist_observe(struct histogram *h, double v)
{
	hist_observe_n(h, v, 1);
}

size_t
hist_buckets(const struct histogram *h)
{
	return h->n + 1;
}

double
hist_le(const struct histogram *h, size_t i)
{
	return i < h->n ? h->bound[i] : INFINITY;
}

uint64_t
hist_cumulative(const struct histogram *h, size_t i)
{
	uint64_t c = 0;

	for (size_t k = 0; k <= i && k <= h->n; k++)
		c += h->bucket[k];
	return c;
}
