/*
 * cityredis.h - this facility in the city view (city.md): its availability
 * published to Redis, `nearby` answered from Redis, and the cached copy
 * that lot_full's alternatives come from.
 *
 * Publishing never touches a gate's path.  The commit step only marks
 * that counts changed (cityredis_changed: a flag and at most a timer
 * start); a timer coalesces the marks to at most one publish per
 * city.publish_ms, and a heartbeat publishes at least every
 * city.heartbeat_s.  A publish
 * measures the garage at the moment it is sent (lib/city.h) and writes, in
 * one MULTI/EXEC: the facility in the geo set, its hash with a TTL of 3 x
 * heartbeat_s, and the same content on the pub/sub channel.  One publish
 * is at Redis at a time and nothing queues: while Redis is away the marks
 * only say "publish when back", and what is sent then is the state of
 * that moment (the newest wins).
 *
 * The connection is its own (daemon/redisconn.h), to city.redis, which is
 * audit's Redis unless configured otherwise.
 */
#ifndef PARKD_CITYREDIS_H
#define PARKD_CITYREDIS_H

#include <stddef.h>
#include <stdint.h>

#include "jsonw.h"
#include "methods.h"

struct server;
struct cityredis;

/* How many facilities a cached copy holds: the nearest this many. */
#define CITY_VIEW_MAX 64
/* A cached copy older than this gives lot_full no alternatives. */
#define CITY_VIEW_FRESH_MS 5000
/*
 * How often the copy is read again, while the facility is near full (at
 * most a tenth of its spots, or three, free) or lot_full asked for
 * alternatives in the last minute.
 */
#define CITY_VIEW_REFRESH_MS 2000
/* Candidates a nearby search looks at, nearest first. */
#define CITY_NEARBY_MAX_CANDIDATES 1000

/*
 * Starts the city view for s per s->cfg (nothing is published when the
 * facility has no location; nothing at all when city is off).  NULL only
 * when out of memory.
 */
struct cityredis *cityredis_new(struct server *s);

/* Committed changes moved the counts: publish soon.  O(1), no Redis. */
void cityredis_changed(struct cityredis *c);
/* Once a second: a facility that stopped (or started) taking entries. */
void cityredis_tick(struct cityredis *c);

/*
 * A nearby search (q->kind DEFER_NEARBY).  cb gets the text of the result
 * object {"facilities":[...]} (valid only during the call), or NULL and a
 * reason; it may be called before this returns.  -1 without calling cb
 * when the city view is off or Redis is not connected (why says which).
 */
typedef void (*cityredis_nearby_cb)(void *ud, const char *result, size_t len,
    const char *why);
int cityredis_nearby(struct cityredis *c, const struct defer_req *q,
    cityredis_nearby_cb cb, void *ud, const char **why);

/* lot_full: the member "alternatives" from a fresh cached copy, or nothing. */
void cityredis_alternatives(struct cityredis *c, int cls, struct jw *edata);

/* health's "city" members: state, publishes, failures, last_error... */
void cityredis_health(const struct cityredis *c, struct jw *w);

/* What /metrics shows of the city view; all zero when it is off. */
struct cityredis_stats {
	int on;				/* city view configured */
	int publishing;			/* this facility has a place on the map */
	int connected;			/* its Redis connection is ready */
	uint64_t publishes;		/* publishes stored in Redis */
	uint64_t changes;		/* commits that asked for a publish */
	uint64_t connects, failures;	/* of its Redis connection */
	double stored_age_s;		/* since a publish was last stored (0: never) */
	uint64_t view_facilities;	/* in the cached copy (lot_full's alternatives) */
	double view_age_s;		/* of the cached copy (0: never read) */
	uint64_t nearby_ok, nearby_failed;	/* nearby searches answered, failed */
	uint64_t alternatives;		/* lot_full answers with a fresh copy to offer */
	uint64_t no_alternatives;	/* ... without one */
};
void cityredis_stats(const struct cityredis *c, struct cityredis_stats *st);

/*
 * Shutdown: publishes the state "closed" when it can (bounded by a
 * second), then closes the connection and the timers.
 */
void cityredis_shutdown(struct cityredis *c);
/*
 * Closes now (idempotent); cityredis_free after the loop ran the close
 * callbacks.  Accepts NULL, as does cityredis_free.
 */
void cityredis_close(struct cityredis *c);
void cityredis_free(struct cityredis *c);

#endif
