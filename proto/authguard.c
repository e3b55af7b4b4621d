/* authguard.c - failed authentication per address (see authguard.h). */
#include "authguard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"

/*
 * One address.  The entries form a list ordered by the time of their last
 * failure, most recent first, so the one to forget when the table is full
 * is always the tail: O(1), however many addresses flood in.
 */
struct peer {
	struct peer *newer, *older;
	uint32_t failures;		/* charged, after forgiving */
	uint64_t charged_ms;		/* when failures was last brought up to date */
	uint64_t until_ms;		/* not listened to before this */
	uint32_t interval_failures;	/* in the current summary interval */
	uint64_t interval;		/* which interval that count belongs to */
	char key[];
};

struct authguard {
	dict *by_addr;
	struct peer *newest, *oldest;
	size_t max;
	uint64_t interval;		/* summary intervals taken so far */
	struct authguard_summary sum;
};

authguard *
authguard_new(size_t max_addrs)
{
	authguard *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->by_addr = dict_new();
	if (g->by_addr == NULL) {
		free(g);
		return NULL;
	}
	g->max = max_addrs ? max_addrs : 1;
	return g;
}

void
authguard_free(authguard *g)
{
	struct peer *p, *next;

	if (g == NULL)
		return;
	for (p = g->newest; p != NULL; p = next) {
		next = p->older;
		free(p);
	}
	dict_free(g->by_addr);
	free(g);
}

size_t
authguard_size(const authguard *g)
{
	return dict_size(g->by_addr);
}

static void
unlink_peer(authguard *g, struct peer *p)
{
	if (p->newer != NULL)
		p->newer->older = p->older;
	else
		g->newest = p->older;
	if (p->older != NULL)
		p->older->newer = p->newer;
	else
		g->oldest = p->newer;
	p->newer = p->older = NULL;
}

static void
push_newest(authguard *g, struct peer *p)
{
	p->older = g->newest;
	p->newer = NULL;
	if (g->newest != NULL)
		g->newest->newer = p;
	else
		g->oldest = p;
	g->newest = p;
}

/* Forgives one failure for each whole AUTHGUARD_FORGIVE_MS since the last charge. */
static void
forgive(struct peer *p, uint64_t now)
{
	uint64_t n;

	if (now <= p->charged_ms)
		return;
	n = (now - p->charged_ms) / AUTHGUARD_FORGIVE_MS;
	if (n == 0)
		return;
	p->failures = n >= p->failures ? 0 : p->failures - (uint32_t)n;
	p->charged_ms += n * AUTHGUARD_FORGIVE_MS;
}

uint64_t
authguard_remaining(const authguard *g, const char *addr, uint64_t now_ms)
{
	const struct peer *p = dict_get(g->by_addr, addr);

	return p == NULL || p->until_ms <= now_ms ? 0 : p->until_ms - now_ms;
}

uint64_t
authguard_wait(authguard *g, const char *addr, uint64_t now_ms)
{
	uint64_t wait = authguard_remaining(g, addr, now_ms);

	if (wait > 0)
		g->sum.refused++;
	return wait;
}

/* The entry for addr, made (forgetting the oldest when full) if missing. */
static struct peer *
entry(authguard *g, const char *addr, uint64_t now)
{
	struct peer *p = dict_get(g->by_addr, addr);
	size_t len = strlen(addr);

	if (p != NULL) {
		unlink_peer(g, p);
		push_newest(g, p);
		return p;
	}
	p = calloc(1, sizeof(*p) + len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p->key, addr, len + 1);
	p->charged_ms = now;
	p->interval = UINT64_MAX;	/* counted in no summary yet */
	if (dict_set(g->by_addr, p->key, p) != 0) {
		free(p);
		return NULL;
	}
	push_newest(g, p);
	if (dict_size(g->by_addr) > g->max) {
		struct peer *old = g->oldest;

		unlink_peer(g, old);
		dict_del(g->by_addr, old->key);
		free(old);
	}
	return p;
}

uint64_t
authguard_failed(authguard *g, const char *addr, uint64_t now_ms)
{
	struct peer *p = entry(g, addr, now_ms);
	uint64_t wait = 0;

	g->sum.failures++;
	if (p == NULL)
		return 0;
	forgive(p, now_ms);
	if (p->failures < UINT32_MAX)
		p->failures++;
	if (p->failures >= AUTHGUARD_FREE_FAILURES) {
		uint32_t shift = p->failures - AUTHGUARD_FREE_FAILURES;

		wait = (uint64_t)1000 << (shift > 6 ? 6 : shift);
		if (wait > AUTHGUARD_MAX_WAIT_MS)
			wait = AUTHGUARD_MAX_WAIT_MS;
		p->until_ms = now_ms + wait;
	}
	if (p->interval != g->interval) {
		p->interval = g->interval;
		p->interval_failures = 0;
		g->sum.addrs++;
	}
	p->interval_failures++;
	if (p->interval_failures > g->sum.worst_failures) {
		g->sum.worst_failures = p->interval_failures;
		snprintf(g->sum.worst, sizeof(g->sum.worst), "%s", p->key);
	}
	return wait;
}

void
authguard_take_summary(authguard *g, struct authguard_summary *out)
{
	*out = g->sum;
	memset(&g->sum, 0, sizeof(g->sum));
	/* Counts per address restart with the next interval. */
	g->interval++;
}
