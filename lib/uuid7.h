/*
 * uuid7.h - time-ordered UUIDs (the UUIDv7 layout) and their text form.
 *
 * Debian 12's libuuid has no v7 generator, so the layout is built here:
 * 48 bits of Unix milliseconds, the version nibble 7, a 12-bit sequence in
 * rand_a that keeps ids strictly increasing within one millisecond, the
 * variant bits, and 62 random bits.  The caller supplies the clock reading
 * and the random bytes, which keeps this module pure and testable.
 */
#ifndef PARKD_UUID7_H
#define PARKD_UUID7_H

#include <stdint.h>

#define UUID_STRLEN 36
#define UUID_BUFSZ 37

struct uuid7_gen {
	uint64_t last_ms;
	uint16_t seq;
};

/*
 * Writes the next id to out.  A clock that stands still or steps back
 * does not break the order: the last millisecond is reused with the next
 * sequence number, and the sequence running out moves to the next
 * millisecond.  rnd is 16 random bytes (only some bits are used).
 */
void uuid7_next(struct uuid7_gen *g, uint64_t now_ms, const unsigned char rnd[16],
    unsigned char out[16]);

/* Canonical lower-case text, 36 characters plus NUL. */
void uuid_format(const unsigned char u[16], char out[UUID_BUFSZ]);

/* Parses canonical text (either case); 0 on success, -1 otherwise. */
int uuid_parse(const char *s, unsigned char out[16]);

#endif
