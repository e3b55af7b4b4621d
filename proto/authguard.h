/*
 * authguard.h - how often an address may fail to authenticate.
 *
 * Every failed `auth` is charged to the client's address (an IPv6 /64),
 * whatever else that address does: a correct token in between forgives
 * nothing, so knowing one token (a gate's) does not buy unlimited guesses
 * at another (the operator's).  The charge decays: one failure is
 * forgiven every AUTHGUARD_FORGIVE_MS.  An address with
 * AUTHGUARD_FREE_FAILURES or more must wait before it is listened to
 * again, 1 s doubling with each further failure, at most
 * AUTHGUARD_MAX_WAIT_MS.
 *
 * The table of addresses is bounded: when it is full, the address that
 * failed least recently is forgotten to make room.  Addresses that never
 * failed are not in it at all, so a flood of failing addresses can cost
 * other failing addresses their history, but can never lock out one that
 * did not fail.
 *
 * Pure: time comes in as milliseconds; no I/O, no logging.  A summary of
 * the failures since it was last asked for lets the daemon log one line
 * per interval instead of one per failure.
 */
#ifndef PARKD_AUTHGUARD_H
#define PARKD_AUTHGUARD_H

#include <stddef.h>
#include <stdint.h>

#define AUTHGUARD_FREE_FAILURES 5
#define AUTHGUARD_FORGIVE_MS 30000
#define AUTHGUARD_MAX_WAIT_MS 60000

typedef struct authguard authguard;

/* A guard remembering at most max_addrs addresses; NULL when out of memory. */
authguard *authguard_new(size_t max_addrs);
void authguard_free(authguard *g);

/*
 * 0 when addr may try to authenticate at now_ms, else the milliseconds it
 * must still wait.
 */
uint64_t authguard_wait(authguard *g, const char *addr, uint64_t now_ms);
/* The same wait, asked without counting a refused attempt. */
uint64_t authguard_remaining(const authguard *g, const char *addr, uint64_t now_ms);

/*
 * Charges one failure to addr at now_ms.  Returns the milliseconds the
 * address must now wait (0 while it is within its free failures).  When
 * out of memory the failure is counted in the summary only.
 */
uint64_t authguard_failed(authguard *g, const char *addr, uint64_t now_ms);

/* What happened since the last call. */
struct authguard_summary {
	uint64_t failures;		/* failed attempts */
	uint64_t refused;		/* attempts not listened to (waiting) */
	uint64_t addrs;			/* distinct addresses among them (approx.) */
	char worst[64];			/* the address with the most failures */
	uint64_t worst_failures;
};

/* Fills out and starts a new interval; out->failures + out->refused == 0: quiet. */
void authguard_take_summary(authguard *g, struct authguard_summary *out);

/* Addresses remembered now. */
size_t authguard_size(const authguard *g);

#endif
