/* epochs.c - the epochs of a history of changes (see epochs.h). */
#include "epochs.h"

#include <string.h>

void
epochs_init(struct epochs *e)
{
	memset(e, 0, sizeof(*e));
	e->n = 1;
	e->v[0].epoch = 1;
	e->v[0].lsn = 1;
}

uint32_t
epochs_current(const struct epochs *e)
{
	return e->v[e->n - 1].epoch;
}

uint64_t
epochs_current_since(const struct epochs *e)
{
	return e->v[e->n - 1].lsn;
}

uint32_t
epochs_at(const struct epochs *e, uint64_t lsn)
{
	/* The last start at or before lsn; the first entry covers everything before it. */
	for (size_t i = e->n; i-- > 1;) {
		if (e->v[i].lsn <= lsn)
			return e->v[i].epoch;
	}
	return e->v[0].epoch;
}

pk_err
epochs_begin(struct epochs *e, uint32_t epoch, uint64_t lsn)
{
	const struct epoch_start *cur = &e->v[e->n - 1];

	/* The span of forgotten epochs, as a snapshot writes it back. */
	if (epoch == EPOCHS_UNKNOWN) {
		if (e->n != 1 || lsn <= cur->lsn)
			return PK_E_INVALID_PARAMS;
	} else if (epoch <= cur->epoch || lsn <= cur->lsn) {
		return PK_E_INVALID_PARAMS;
	}
	if (e->n == EPOCHS_MAX) {
		/*
		 * The second and third starts become one span of unknown
		 * epochs: nobody is found to follow us there (epochs.h).
		 */
		e->v[1].epoch = EPOCHS_UNKNOWN;
		memmove(&e->v[2], &e->v[3], (EPOCHS_MAX - 3) * sizeof(e->v[0]));
		e->n--;
	}
	e->v[e->n].epoch = epoch;
	e->v[e->n].lsn = lsn;
	e->n++;
	return PK_OK;
}

enum epochs_verdict
epochs_judge(const struct epochs *e, uint64_t our_last, uint32_t their_epoch,
    uint64_t their_last)
{
	if (their_epoch > epochs_current(e))
		return EPOCHS_NEWER;
	if (their_last > our_last)
		return EPOCHS_DIVERGED;
	/* No peer is in the unknown epoch: a span we forgot is never followed. */
	return epochs_at(e, their_last) == their_epoch ? EPOCHS_FOLLOWS :
	    EPOCHS_DIVERGED;
}
