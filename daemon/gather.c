/* gather.c - when the next group commit starts (see gather.h). */
#include "gather.h"

#include <string.h>

/* The moving average of the fsyncs weighs the newest 1/8. */
#define FSYNC_WEIGHT_SHIFT 3

void
gather_init(struct gather *g)
{
	memset(g, 0, sizeof(*g));
}

void
gather_completed(struct gather *g, uint64_t now, uint64_t released,
    uint64_t pending, uint64_t fsync_ns)
{
	g->done_ns = now;
	g->target = pending + released;
	if (fsync_ns == 0)
		return;
	if (g->fsync_ns == 0)
		g->fsync_ns = fsync_ns;
	else if (fsync_ns >= g->fsync_ns)
		g->fsync_ns += (fsync_ns - g->fsync_ns) >> FSYNC_WEIGHT_SHIFT;
	else
		g->fsync_ns -= (g->fsync_ns - fsync_ns) >> FSYNC_WEIGHT_SHIFT;
}

void
gather_arrived(struct gather *g, uint64_t now)
{
	g->last_ns = now;
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

	if (g->done_ns == 0 || window == 0 || pending >= g->target)
		return 0;
	end = g->done_ns + window;
	since = g->last_ns > g->done_ns ? g->last_ns : g->done_ns;
	quiet_end = since + gather_quiet(g);
	if (now >= end || now >= quiet_end)
		return 0;
	return quiet_end < end ? quiet_end : end;
}
