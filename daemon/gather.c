/* gather.c - when the next group commit starts (see gather.h). */
#include "gather.h"

#include <string.h>

/* The moving average of the fsyncs weighs the newest 1/8. */
#define FSYNC_WEIGHT_SHIFT 3
/* That of the share coming back weighs the newest 1/4: load changes fast. */
#define RETURN_WEIGHT_SHIFT 2

void
gather_init(struct gather *g)
{
	memset(g, 0, sizeof(*g));
	/* Until measured, as if they come back: the first completions tell. */
	g->returning = GATHER_ONE;
}

/* avg moved towards x by 2^-shift of the distance. */
static uint64_t
toward(uint64_t avg, uint64_t x, int shift)
{
	return x >= avg ? avg + ((x - avg) >> shift) : avg - ((avg - x) >> shift);
}

/* Folds the last completion's share of early returns into the average. */
static void
measure_returns(struct gather *g)
{
	unsigned share;

	if (g->done_ns == 0 || g->released == 0)
		return;
	share = g->early >= g->released ? GATHER_ONE :
	    (unsigned)(g->early * GATHER_ONE / g->released);
	g->returning = (unsigned)toward(g->returning, share, RETURN_WEIGHT_SHIFT);
}

void
gather_completed(struct gather *g, uint64_t now, uint64_t released,
    uint64_t pending, uint64_t fsync_ns)
{
	measure_returns(g);
	g->done_ns = now;
	g->target = pending + released;
	g->released = released;
	g->early = 0;
	if (fsync_ns == 0)
		return;
	g->fsync_ns = g->fsync_ns == 0 ? fsync_ns :
	    toward(g->fsync_ns, fsync_ns, FSYNC_WEIGHT_SHIFT);
}

void
gather_arrived(struct gather *g, uint64_t now)
{
	g->last_ns = now;
}

void
gather_returned(struct gather *g)
{
	g->early++;
}

uint64_t
gather_window(const struct gather *g)
{
	uint64_t w = g->fsync_ns / 2;

	return w < GATHER_WINDOW_MAX_NS ? w : GATHER_WINDOW_MAX_NS;
}

uint64_t
gather_quiet(const struct gather *g)
{
	return gather_window(g) / 4;
}

uint64_t
gather_due(const struct gather *g, uint64_t now, uint64_t pending)
{
	uint64_t window = gather_window(g), end, quiet_end, since;

	if (g->done_ns == 0 || window == 0 || pending >= g->target ||
	    g->returning < GATHER_ONE / 2)
		return 0;
	end = g->done_ns + window;
	since = g->last_ns > g->done_ns ? g->last_ns : g->done_ns;
	quiet_end = since + gather_quiet(g);
	if (now >= end || now >= quiet_end)
		return 0;
	return quiet_end < end ? quiet_end : end;
}
