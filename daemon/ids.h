/*
 * ids.h - the daemon's ticket and event ids: UUIDv7 (lib/uuid7.h) from a
 * clock reading the caller gives and random bits drawn from the kernel in
 * blocks.
 *
 * libuuid's uuid_generate_random makes six system calls for every id
 * (getrandom, getpid twice, getppid, gettid, getuid), which cost more than
 * the rest of an entry together.  Here one getrandom(2) fills a pool that
 * lasts IDS_PER_DRAW ids, so making an id is a copy and a format in the
 * steady state.  The pool holds kernel randomness, handed out once each, in
 * order: ids are as unguessable as before.  Should getrandom fail (not on
 * Debian 12, whose kernels have it; it blocks only before the kernel's pool
 * is ready at boot), libuuid's generator fills the pool instead.
 *
 * Not thread-safe: one struct ids per thread (parkd makes ids on the loop
 * only).  A forked child must not make ids from its copy of the pool (the
 * snapshot writer makes none): they would repeat the parent's.
 */
#ifndef PARKD_IDS_H
#define PARKD_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "uuid7.h"

/* Ids made from one draw of random bytes. */
#define IDS_PER_DRAW 256

struct ids {
	struct uuid7_gen gen;
	size_t next;			/* the next unused id's bytes in pool */
	uint64_t draws;			/* times the pool was filled */
	unsigned char pool[IDS_PER_DRAW * 16];
};

/* An empty generator: the first id draws. */
void ids_init(struct ids *ids);

/*
 * Writes the next id, for the Unix time now_ms, as canonical text to out.
 * Ids are strictly increasing (lib/uuid7.h) whatever the clock does.
 */
void ids_next(struct ids *ids, uint64_t now_ms, char out[UUID_BUFSZ]);

#endif
