/*
 * subs.h - who is subscribed to what (registry.md "Subscriptions"),
 * without sockets: routing of one change to its subscriptions, occupancy
 * coalescing, and the last sign shown per gate.
 *
 * Subscribers are opaque uint64 client ids (the daemon's connections);
 * subscription ids are strings made by the daemon.  Topics:
 *
 *   occupancy        the counts, coalesced: at most one notification per
 *                    SUBS_OCCUPANCY_INTERVAL_MS per client, newest state wins
 *   events           every audit event
 *   search:PREFIX    entries and exits of plates starting with PREFIX
 *                    (1..16 plate characters, normalised like a plate)
 *   gate:ID          a gate's sign: open or full per class, on flips
 *
 * Role checks (events is for operators) and whether a gate exists are the
 * caller's business: parse with subs_topic_parse(), check, subscribe.
 *
 * Costs (S subscriptions, C clients, P = len(plate) <= 16):
 *   subscribe/unsubscribe   O(topics), a few allocations
 *   drop_client             O(the client's topics)
 *   routing                 events O(receivers); search O(P + receivers):
 *                           one hash lookup per prefix length of the plate,
 *                           never a scan of subscribers; gate O(1 + receivers)
 *   occupancy               dirty O(1); next_due O(1); due O(receivers)
 *   gate signs              O(classes) per update
 *
 * Visiting functions call fn for each receiving subscription, in the
 * order the subscriptions were made; fn must not change the subs (a
 * daemon that decides to close a client marks it and drops it after).
 *
 * Every allocation failure returns PK_E_INTERNAL and leaves the subs
 * unchanged.  Pure: no I/O; the time (milliseconds of a monotonic clock)
 * is an argument.
 */
#ifndef PARKD_SUBS_H
#define PARKD_SUBS_H

#include <stddef.h>
#include <stdint.h>

#include "perr.h"
#include "plate.h"

#define SUBS_ID_MAX 64			/* subscription id: printable ASCII */
#define SUBS_GATE_ID_MAX 32		/* gate ids: as FAC_MAX_NAME */
#define SUBS_TOPICS_MAX 32		/* topics in one subscription */
#define SUBS_TOPIC_BUFSZ 40		/* "gate:" + 32 + NUL, the longest */
#define SUBS_GATES_MAX 256		/* gate signs kept: as FAC_MAX_GATES */
#define SUBS_GATE_CLASSES_MAX 256	/* classes: as FAC_MAX_CLASSES */
#define SUBS_OCCUPANCY_INTERVAL_MS 100	/* 10 a second per client */
#define SUBS_NEVER INT64_MAX		/* next_due when nothing is due */

enum subs_kind { SUBS_OCCUPANCY, SUBS_EVENTS, SUBS_SEARCH, SUBS_GATE };

/* A parsed topic. */
struct subs_topic {
	enum subs_kind kind;
	char arg[SUBS_GATE_ID_MAX + 1];	/* normalised prefix, gate id, or "" */
	char text[SUBS_TOPIC_BUFSZ];	/* canonical form: "search:B-X" */
};

/*
 * Parses the len bytes at s as a topic into *t.  PK_OK, or
 * PK_E_INVALID_PARAMS for an unknown topic, a prefix that is not 1..16
 * plate characters, or a gate id that is not 1..32 printable ASCII
 * characters.
 */
pk_err subs_topic_parse(const char *s, size_t len, struct subs_topic *t);

typedef struct subs subs;

/*
 * Empty subs allowing at most max_per_client subscriptions per client
 * (0: no limit).  NULL when out of memory.
 */
subs *subs_new(size_t max_per_client);
void subs_free(subs *s);		/* accepts NULL */

/*
 * Subscription sub_id (1..SUBS_ID_MAX printable ASCII characters, unique
 * among live subscriptions) of client to topics[0..n) (1..SUBS_TOPICS_MAX;
 * duplicates count once).  now_ms is needed for a client that subscribes
 * to occupancy again after it unsubscribed: it still waits out the
 * interval since its last notification.  PK_E_INVALID_PARAMS for a bad
 * or taken id, a bad count, or a client at its limit; PK_E_INTERNAL when
 * out of memory.
 */
pk_err subs_subscribe(subs *s, uint64_t client, const char *sub_id,
    const struct subs_topic *topics, size_t n, int64_t now_ms);
/*
 * Ends client's subscription sub_id.  PK_E_NOT_FOUND when there is none
 * (also when it belongs to another client: ids are not shared).
 */
pk_err subs_unsubscribe(subs *s, uint64_t client, const char *sub_id);
/* Ends every subscription of client and forgets it; returns how many. */
size_t subs_drop_client(subs *s, uint64_t client);

/* Subscriptions; clients with at least one. */
size_t subs_count(const subs *s);
size_t subs_subscribers(const subs *s);
/* The subscriptions client has (0 for a client never seen). */
size_t subs_of_client(const subs *s, uint64_t client);
/*
 * The topics of client's subscription sub_id, for the subscribe reply:
 * *topics points into the subs (valid until the subscription ends), *n
 * is their count.  PK_E_NOT_FOUND when client has no such subscription.
 */
pk_err subs_get(const subs *s, uint64_t client, const char *sub_id,
    const struct subs_topic **topics, size_t *n);

/* One receiving subscription. */
struct subs_target {
	uint64_t client;
	const char *sub_id;
	const char *topic;		/* canonical topic text */
};
typedef void (*subs_visit_fn)(void *arg, const struct subs_target *t);

/* Routing of one change; each returns the number of subscriptions visited. */
size_t subs_each_events(const subs *s, subs_visit_fn fn, void *arg);
/* search:PREFIX subscriptions whose PREFIX starts plate (canonical). */
size_t subs_each_search(const subs *s, const char *plate, subs_visit_fn fn,
    void *arg);
size_t subs_each_gate(const subs *s, const char *gate, subs_visit_fn fn,
    void *arg);

/*
 * Occupancy coalescing.  subs_occupancy_dirty(): the counts changed.  A
 * client with an occupancy subscription is due when a change came after
 * its last notification and SUBS_OCCUPANCY_INTERVAL_MS have passed since
 * that notification (a client never notified is due at once).  The daemon
 * runs one timer: subs_occupancy_next_due() is the earliest time a client
 * is due (SUBS_NEVER when none waits for a change; a value <= now_ms means
 * now), and subs_occupancy_due() visits each occupancy subscription of
 * up to max_clients clients due at now_ms (the longest waiting first) and
 * counts those clients as notified at now_ms; the others stay due, so the
 * daemon can send a thousand in slices with its gates served in between.
 * The daemon encodes the current state once and sends it to every
 * visited subscription.  now_ms must not go backwards.
 */
void subs_occupancy_dirty(subs *s);
int64_t subs_occupancy_next_due(const subs *s);
size_t subs_occupancy_due(subs *s, int64_t now_ms, size_t max_clients,
    subs_visit_fn fn, void *arg);

/*
 * Gate signs.  full[0..n) is the caller's flag per class for gate (1:
 * full, 0: open), n <= SUBS_GATE_CLASSES_MAX.  The subs keep the last
 * flags given per gate; *changed is 1 when these differ from them (or the
 * gate is new), and then the daemon notifies the gate's subscribers.
 * PK_E_INVALID_PARAMS for a bad gate id or n, or a new gate beyond
 * SUBS_GATES_MAX; PK_E_INTERNAL when out of memory (nothing changed).
 */
pk_err subs_gate_sign(subs *s, const char *gate, const uint8_t *full,
    size_t n, int *changed);
/*
 * The last flags given for gate (to show a new subscriber the current
 * sign): PK_OK with *full and *n set (valid until the next
 * subs_gate_sign() of that gate), or PK_E_NOT_FOUND.
 */
pk_err subs_gate_sign_last(const subs *s, const char *gate,
    const uint8_t **full, size_t *n);

/* Checks every internal invariant; 0 when they hold.  O(S): for tests. */
int subs_check(const subs *s);

#endif
