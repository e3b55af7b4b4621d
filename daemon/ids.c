/* ids.c - ticket and event ids from random bits drawn in blocks (see ids.h). */
#include "ids.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <uuid/uuid.h>

void
ids_init(struct ids *ids)
{
	memset(&ids->gen, 0, sizeof(ids->gen));
	ids->next = sizeof(ids->pool);
	ids->draws = 0;
}

/* Fills the pool from the kernel; libuuid when the kernel will not. */
static void
draw(struct ids *ids)
{
	size_t got = 0;

	while (got < sizeof(ids->pool)) {
		ssize_t n = getrandom(ids->pool + got, sizeof(ids->pool) - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			break;
	}
	for (; got < sizeof(ids->pool); got += sizeof(uuid_t)) {
		uuid_t u;
		size_t take = sizeof(ids->pool) - got;

		uuid_generate_random(u);
		memcpy(ids->pool + got, u, take < sizeof(u) ? take : sizeof(u));
	}
	ids->next = 0;
	ids->draws++;
}

void
ids_next(struct ids *ids, uint64_t now_ms, char out[UUID_BUFSZ])
{
	unsigned char u[16];

	if (ids->next + 16 > sizeof(ids->pool))
		draw(ids);
	uuid7_next(&ids->gen, now_ms, ids->pool + ids->next, u);
	/* Each random byte is used once. */
	memset(ids->pool + ids->next, 0, 16);
	ids->next += 16;
	uuid_format(u, out);
}
