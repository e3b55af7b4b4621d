/*
 * failalloc.h - an allocator for tests that include a lib/ module's .c
 * file: it can fail the k-th allocation, counts live blocks, and looks in
 * every block freed for "secret" byte strings (contact data that should
 * have been wiped first).
 *
 * Use, after every system header:
 *	#include "failalloc.h"
 *	#define malloc(n) fa_malloc(n)	(and calloc, realloc, free)
 *	#include "omap.c"
 *	#undef malloc			(and the others)
 *
 * The test binary then carries its own copy of the module (the linker
 * takes no archive member for symbols already defined), compiled against
 * these functions.  Blocks carry a 16-byte header with their size, so a
 * block must be freed by the allocator that made it: only the included
 * code allocates through here.
 */
#ifndef PARKD_FAILALLOC_H
#define PARKD_FAILALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FA_HDR 16
#define FA_SECRETS 8

static long fa_countdown = -1;		/* allocations until one fails; -1: never */
static long fa_live;			/* blocks allocated and not freed */
static long fa_calls;			/* allocation calls so far */
static long fa_secret_hits;		/* freed blocks that held a secret */
static const char *fa_secret[FA_SECRETS];

/*
 * A cmocka setup function: a clean slate for each test, so that a failed
 * test's leaked blocks do not fail the ones after it.
 */
static inline int
fa_reset(void **state)
{
	(void)state;
	fa_countdown = -1;
	fa_live = 0;
	fa_calls = 0;
	fa_secret_hits = 0;
	memset(fa_secret, 0, sizeof(fa_secret));
	return 0;
}

/* The next k allocations succeed, the one after fails (k < 0: none fails). */
static inline void
fa_fail_after(long k)
{
	fa_countdown = k;
}

static inline int
fa_should_fail(void)
{
	fa_calls++;
	if (fa_countdown < 0)
		return 0;
	if (fa_countdown == 0) {
		fa_countdown = -1;	/* fail once */
		return 1;
	}
	fa_countdown--;
	return 0;
}

/* Remembers s (NULL clears all); the test keeps s alive. */
static inline void
fa_add_secret(const char *s)
{
	if (s == NULL) {
		memset(fa_secret, 0, sizeof(fa_secret));
		return;
	}
	for (int i = 0; i < FA_SECRETS; i++)
		if (fa_secret[i] == NULL) {
			fa_secret[i] = s;
			return;
		}
}

static inline void *
fa_malloc(size_t n)
{
	char *p;

	if (fa_should_fail() || n > SIZE_MAX - FA_HDR)
		return NULL;
	p = (malloc)(n + FA_HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	fa_live++;
	return p + FA_HDR;
}

static inline void *
fa_calloc(size_t k, size_t n)
{
	void *p;

	if (n != 0 && k > SIZE_MAX / n)
		return NULL;
	p = fa_malloc(k * n);
	if (p != NULL)
		memset(p, 0, k * n);
	return p;
}

static inline void
fa_free(void *q)
{
	char *p;
	size_t n;

	if (q == NULL)
		return;
	p = (char *)q - FA_HDR;
	memcpy(&n, p, sizeof(n));
	for (int i = 0; i < FA_SECRETS; i++)
		if (fa_secret[i] != NULL &&
		    memmem(q, n, fa_secret[i], strlen(fa_secret[i])) != NULL)
			fa_secret_hits++;
	fa_live--;
	(free)(p);
}

static inline void *
fa_realloc(void *q, size_t n)
{
	void *p;
	size_t old;

	if (q == NULL)
		return fa_malloc(n);
	memcpy(&old, (char *)q - FA_HDR, sizeof(old));
	p = fa_malloc(n);
	if (p == NULL)
		return NULL;
	memcpy(p, q, old < n ? old : n);
	fa_free(q);
	return p;
}

#endif
