/* change.c - the list of changes a core operation returns (see change.h). */
#include "change.h"

#include <stdlib.h>
#include <string.h>

void
changes_init(struct changes *l)
{
	memset(l, 0, sizeof(*l));
}

void
changes_clear(struct changes *l)
{
	l->n = 0;
}

void
changes_release(struct changes *l)
{
	free(l->v);
	changes_init(l);
}

int
changes_reserve(struct changes *l, size_t k)
{
	size_t cap;
	struct change *nv;

	if (k <= l->cap - l->n)
		return 0;
	cap = l->cap ? l->cap : 4;
	while (cap - l->n < k) {
		if (cap > ((size_t)-1) / 2 / sizeof(*nv))
			return -1;
		cap *= 2;
	}
	nv = realloc(l->v, cap * sizeof(*nv));
	if (nv == NULL)
		return -1;
	l->v = nv;
	l->cap = cap;
	return 0;
}

void
changes_add(struct changes *l, const struct change *c)
{
	/* Reserved by the caller; refusing here would lose a made change. */
	if (l->n < l->cap)
		l->v[l->n++] = *c;
}
