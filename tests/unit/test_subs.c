/* test_subs.c - unit tests of subscriptions: topics, routing, occupancy coalescing, gate signs, and randomized models. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* subs and its hash table, compiled in against an allocator that can fail. */
#include "failalloc.h"
#define malloc(n) fa_malloc(n)
#define calloc(k, n) fa_calloc(k, n)
#define realloc(p, n) fa_realloc(p, n)
#define free(p) fa_free(p)
#include "dict.c"
#include "subs.c"
#include "rng.h"
#undef malloc
#undef calloc
#undef realloc
#undef free

static struct subs_topic
T(const char *text)
{
	struct subs_topic t;

	if (subs_topic_parse(text, strlen(text), &t) != PK_OK)
		fail_msg("topic %s", text);
	return t;
}

/* Subscribes client to up to four topics given as text (NULL ends). */
static pk_err
sub(subs *s, uint64_t client, const char *id, int64_t now, const char *t1,
    const char *t2, const char *t3, const char *t4)
{
	const char *in[4] = { t1, t2, t3, t4 };
	struct subs_topic t[4];
	size_t n = 0;

	for (int i = 0; i < 4 && in[i] != NULL; i++)
		t[n++] = T(in[i]);
	return subs_subscribe(s, client, id, t, n, now);
}

/* Visits collected as "client/sub/topic" joined by ' '. */
struct seen {
	char buf[8192];
	size_t len;
	size_t n;
};

static void
collect(void *arg, const struct subs_target *t)
{
	struct seen *x = arg;

	x->len += (size_t)snprintf(x->buf + x->len, sizeof(x->buf) - x->len,
	    "%s%llu/%s/%s", x->n > 0 ? " " : "", (unsigned long long)t->client,
	    t->sub_id, t->topic);
	x->n++;
}

static struct seen sn;

static const char *
events(const subs *s)
{
	size_t n;

	memset(&sn, 0, sizeof(sn));
	n = subs_each_events(s, collect, &sn);
	assert_int_equal(n, sn.n);
	return sn.buf;
}

static const char *
search(const subs *s, const char *plate)
{
	size_t n;

	memset(&sn, 0, sizeof(sn));
	n = subs_each_search(s, plate, collect, &sn);
	assert_int_equal(n, sn.n);
	return sn.buf;
}

static const char *
gate(const subs *s, const char *g)
{
	size_t n;

	memset(&sn, 0, sizeof(sn));
	n = subs_each_gate(s, g, collect, &sn);
	assert_int_equal(n, sn.n);
	return sn.buf;
}

/* Visits at most max clients due at now (subs_occupancy_due's slices). */
static const char *
occ_slice(subs *s, int64_t now, size_t max)
{
	size_t n;

	memset(&sn, 0, sizeof(sn));
	n = subs_occupancy_due(s, now, max, collect, &sn);
	assert_int_equal(n, sn.n);
	assert_int_equal(subs_check(s), 0);
	return sn.buf;
}

/* Every client due at now. */
static const char *
occ_due(subs *s, int64_t now)
{
	return occ_slice(s, now, SIZE_MAX);
}

/* ---- topics ---- */

static const char *
parse(const char *text)
{
	static struct subs_topic t;

	if (subs_topic_parse(text, strlen(text), &t) != PK_OK) {
		assert_string_equal(t.text, "");
		return "BAD";
	}
	return t.text;
}

static void
test_topic_parse(void **state)
{
	struct subs_topic t;
	char g[64];

	(void)state;
	assert_string_equal(parse("occupancy"), "occupancy");
	assert_string_equal(parse("events"), "events");
	assert_string_equal(parse("search:B-XY"), "search:B-XY");
	assert_string_equal(parse("search:b-xy 1"), "search:B-XY 1");
	assert_string_equal(parse("search:B"), "search:B");
	assert_string_equal(parse("search:ABCDEFGHIJKLMNOP"),
	    "search:ABCDEFGHIJKLMNOP");
	assert_string_equal(parse("search:ABCDEFGHIJKLMNOPQ"), "BAD");
	assert_string_equal(parse("search:"), "BAD");
	assert_string_equal(parse("search:   "), "BAD");
	assert_string_equal(parse("search:A_B"), "BAD");
	assert_string_equal(parse("search:\xc3\x84"), "BAD");
	assert_string_equal(parse("gate:north"), "gate:north");
	assert_string_equal(parse("gate:Gate 7"), "gate:Gate 7");
	assert_string_equal(parse("gate:"), "BAD");
	assert_string_equal(parse("gate:no\x01rth"), "BAD");
	snprintf(g, sizeof(g), "gate:%s", "0123456789abcdef0123456789abcdef");
	assert_string_equal(parse(g), g);
	snprintf(g, sizeof(g), "gate:%s", "0123456789abcdef0123456789abcdefX");
	assert_string_equal(parse(g), "BAD");
	assert_string_equal(parse("Occupancy"), "BAD");
	assert_string_equal(parse("occupancy "), "BAD");
	assert_string_equal(parse("event"), "BAD");
	assert_string_equal(parse(""), "BAD");
	assert_string_equal(parse("search"), "BAD");
	assert_int_equal(subs_topic_parse(NULL, 0, &t), PK_E_INVALID_PARAMS);
	/* Only len bytes count. */
	assert_int_equal(subs_topic_parse("eventsXYZ", 6, &t), PK_OK);
	assert_int_equal(t.kind, SUBS_EVENTS);
	assert_int_equal(subs_topic_parse("search:AB", 8, &t), PK_OK);
	assert_string_equal(t.arg, "A");
}

/* ---- subscribe, unsubscribe, drop ---- */

static void
test_subscribe_rules(void **state)
{
	subs *s = subs_new(3);
	const struct subs_topic *tp;
	struct subs_topic bad;
	size_t n;

	(void)state;
	assert_int_equal(sub(s, 1, "s1", 0, "events", "search:ab", "events",
	    NULL), PK_OK);
	assert_int_equal(subs_get(s, 1, "s1", &tp, &n), PK_OK);
	assert_int_equal(n, 2);			/* the duplicate counts once */
	assert_string_equal(tp[0].text, "events");
	assert_string_equal(tp[1].text, "search:AB");
	assert_int_equal(subs_get(s, 2, "s1", &tp, &n), PK_E_NOT_FOUND);
	assert_int_equal(subs_get(s, 1, "s2", &tp, &n), PK_E_NOT_FOUND);
	/* Ids: unique, 1..64 printable ASCII. */
	assert_int_equal(sub(s, 2, "s1", 0, "events", NULL, NULL, NULL),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(sub(s, 2, "", 0, "events", NULL, NULL, NULL),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(sub(s, 2, "a\nb", 0, "events", NULL, NULL, NULL),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(sub(s, 2,
	    "0123456789012345678901234567890123456789012345678901234567890123X",
	    0, "events", NULL, NULL, NULL), PK_E_INVALID_PARAMS);
	assert_int_equal(sub(s, 2,
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    0, "events", NULL, NULL, NULL), PK_OK);
	/* Topic counts and hand-made topics. */
	assert_int_equal(subs_subscribe(s, 2, "x", NULL, 0, 0),
	    PK_E_INVALID_PARAMS);
	{
		struct subs_topic many[SUBS_TOPICS_MAX + 1];

		for (int i = 0; i <= SUBS_TOPICS_MAX; i++)
			many[i] = T("events");
		assert_int_equal(subs_subscribe(s, 2, "x", many,
		    SUBS_TOPICS_MAX + 1, 0), PK_E_INVALID_PARAMS);
		assert_int_equal(subs_subscribe(s, 2, "x", many,
		    SUBS_TOPICS_MAX, 0), PK_OK);
	}
	bad = T("search:AB");
	bad.arg[0] = 'a';			/* no longer canonical */
	assert_int_equal(subs_subscribe(s, 2, "y", &bad, 1, 0),
	    PK_E_INVALID_PARAMS);
	bad = T("gate:north");
	bad.kind = SUBS_SEARCH;
	assert_int_equal(subs_subscribe(s, 2, "y", &bad, 1, 0),
	    PK_E_INVALID_PARAMS);
	/* The per-client limit (3). */
	assert_int_equal(sub(s, 2, "z", 0, "events", NULL, NULL, NULL), PK_OK);
	assert_int_equal(sub(s, 2, "w", 0, "events", NULL, NULL, NULL),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(subs_count(s), 4);
	assert_int_equal(subs_subscribers(s), 2);
	assert_int_equal(subs_of_client(s, 2), 3);
	assert_int_equal(subs_of_client(s, 1), 1);
	assert_int_equal(subs_of_client(s, 99), 0);	/* never seen */
	/* Only the owner unsubscribes. */
	assert_int_equal(subs_unsubscribe(s, 2, "s1"), PK_E_NOT_FOUND);
	assert_int_equal(subs_unsubscribe(s, 1, "s1"), PK_OK);
	/* Client 1's last one: a subscriber no more, though still known. */
	assert_int_equal(subs_subscribers(s), 1);
	assert_int_equal(subs_of_client(s, 1), 0);
	assert_int_equal(subs_check(s), 0);
	assert_int_equal(subs_unsubscribe(s, 1, "s1"), PK_E_NOT_FOUND);
	assert_int_equal(subs_unsubscribe(s, 1, NULL), PK_E_NOT_FOUND);
	assert_int_equal(sub(s, 2, "w", 0, "events", NULL, NULL, NULL),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(subs_unsubscribe(s, 2, "z"), PK_OK);
	assert_int_equal(sub(s, 2, "w", 0, "events", NULL, NULL, NULL), PK_OK);
	/* An id is free again once its subscription ended. */
	assert_int_equal(sub(s, 3, "s1", 0, "occupancy", NULL, NULL, NULL),
	    PK_OK);
	assert_int_equal(subs_subscribers(s), 2);
	assert_int_equal(subs_check(s), 0);
	subs_free(s);
	subs_free(NULL);
	assert_int_equal(fa_live, 0);
}

static void
test_routing(void **state)
{
	subs *s = subs_new(0);

	(void)state;
	assert_int_equal(sub(s, 1, "a", 0, "events", "search:B", NULL, NULL),
	    PK_OK);
	assert_int_equal(sub(s, 2, "b", 0, "search:B-", "search:B-XY 12",
	    "gate:north", NULL), PK_OK);
	assert_int_equal(sub(s, 3, "c", 0, "search:BX", "search:B-XY 123",
	    "gate:south", "events"), PK_OK);
	assert_int_equal(sub(s, 3, "d", 0, "search:B", "gate:north", NULL,
	    NULL), PK_OK);
	assert_int_equal(sub(s, 4, "e", 0, "occupancy", NULL, NULL, NULL),
	    PK_OK);

	assert_string_equal(events(s), "1/a/events 3/c/events");
	/* Every subscription whose prefix starts the plate, shortest first. */
	assert_string_equal(search(s, "B-XY 123"),
	    "1/a/search:B 3/d/search:B 2/b/search:B- "
	    "2/b/search:B-XY 12 3/c/search:B-XY 123");
	assert_string_equal(search(s, "B-XY 12"),
	    "1/a/search:B 3/d/search:B 2/b/search:B- 2/b/search:B-XY 12");
	assert_string_equal(search(s, "BX"),
	    "1/a/search:B 3/d/search:B 3/c/search:BX");
	assert_string_equal(search(s, "B"), "1/a/search:B 3/d/search:B");
	assert_string_equal(search(s, "A-B"), "");
	assert_string_equal(search(s, "C"), "");
	assert_string_equal(search(s, "ABCDEFGHIJKLMNOPQ"), "");
	assert_int_equal(subs_each_search(s, NULL, collect, &sn), 0);
	assert_string_equal(gate(s, "north"), "2/b/gate:north 3/d/gate:north");
	assert_string_equal(gate(s, "south"), "3/c/gate:south");
	assert_string_equal(gate(s, "ramp"), "");
	assert_int_equal(subs_each_gate(s, NULL, collect, &sn), 0);

	/* Unsubscribe and drop take exactly their own topics away. */
	assert_int_equal(subs_unsubscribe(s, 3, "d"), PK_OK);
	assert_string_equal(search(s, "BX"), "1/a/search:B 3/c/search:BX");
	assert_string_equal(gate(s, "north"), "2/b/gate:north");
	assert_int_equal(subs_drop_client(s, 3), 1);
	assert_int_equal(subs_drop_client(s, 3), 0);
	assert_string_equal(events(s), "1/a/events");
	assert_string_equal(search(s, "B-XY 123"),
	    "1/a/search:B 2/b/search:B- 2/b/search:B-XY 12");
	assert_string_equal(gate(s, "south"), "");
	assert_int_equal(subs_check(s), 0);
	/* Prefixes nobody watches any more leave the table. */
	assert_int_equal(dict_size(s->search), 3);
	assert_int_equal(subs_drop_client(s, 2), 1);
	assert_int_equal(subs_drop_client(s, 1), 1);
	assert_int_equal(dict_size(s->search), 0);
	assert_int_equal(dict_size(s->gates), 0);
	assert_int_equal(subs_count(s), 1);
	assert_int_equal(subs_subscribers(s), 1);
	assert_int_equal(subs_check(s), 0);
	subs_free(s);
	assert_int_equal(fa_live, 0);
}

/* Many subscribers: routing a plate visits only the matching ones. */
static void
test_search_does_not_scan(void **state)
{
	subs *s = subs_new(0);
	char id[32], topic[32];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		snprintf(id, sizeof(id), "s%d", i);
		snprintf(topic, sizeof(topic), "search:Z%d", i);
		assert_int_equal(sub(s, (uint64_t)i, id, 0, topic, NULL, NULL,
		    NULL), PK_OK);
	}
	assert_int_equal(sub(s, 99999, "mine", 0, "search:AB", NULL, NULL,
	    NULL), PK_OK);
	/* One lookup per prefix length: 16 at most, whatever the count. */
	assert_string_equal(search(s, "ABCDEFGHIJKLMNOP"),
	    "99999/mine/search:AB");
	assert_string_equal(search(s, "Z123"),
	    "1/s1/search:Z1 12/s12/search:Z12 123/s123/search:Z123");
	assert_int_equal(subs_check(s), 0);
	subs_free(s);
}

/* ---- occupancy ---- */

static void
test_occupancy_coalescing(void **state)
{
	subs *s = subs_new(0);

	(void)state;
	assert_int_equal(subs_occupancy_next_due(s), SUBS_NEVER);
	assert_int_equal(sub(s, 1, "a", 1000, "occupancy", NULL, NULL, NULL),
	    PK_OK);
	/* Nothing changed since it subscribed: nothing due. */
	assert_int_equal(subs_occupancy_next_due(s), SUBS_NEVER);
	assert_string_equal(occ_due(s, 1000), "");
	/* A change: a client never notified is due at once. */
	subs_occupancy_dirty(s);
	assert_true(subs_occupancy_next_due(s) <= 1000);
	assert_string_equal(occ_due(s, 1000), "1/a/occupancy");
	assert_int_equal(subs_occupancy_next_due(s), SUBS_NEVER);
	/* Changes within the interval coalesce into one, at +100 ms. */
	subs_occupancy_dirty(s);
	assert_int_equal(subs_occupancy_next_due(s), 1100);
	assert_string_equal(occ_due(s, 1010), "");
	subs_occupancy_dirty(s);
	subs_occupancy_dirty(s);
	assert_string_equal(occ_due(s, 1099), "");
	assert_string_equal(occ_due(s, 1100), "1/a/occupancy");
	assert_string_equal(occ_due(s, 1200), "");
	/* After a quiet spell, the next change goes out at once. */
	subs_occupancy_dirty(s);
	assert_int_equal(subs_occupancy_next_due(s), 1200);
	assert_string_equal(occ_due(s, 5000), "1/a/occupancy");

	/* A second client in another phase; a third with two subscriptions. */
	assert_int_equal(sub(s, 2, "b", 5030, "occupancy", NULL, NULL, NULL),
	    PK_OK);
	assert_int_equal(sub(s, 3, "c1", 5030, "occupancy", "events", NULL,
	    NULL), PK_OK);
	assert_int_equal(sub(s, 3, "c2", 5030, "occupancy", NULL, NULL, NULL),
	    PK_OK);
	subs_occupancy_dirty(s);
	assert_true(subs_occupancy_next_due(s) <= 5050);
	assert_string_equal(occ_due(s, 5050),
	    "2/b/occupancy 3/c1/occupancy 3/c2/occupancy");
	assert_int_equal(subs_occupancy_next_due(s), 5100);
	assert_string_equal(occ_due(s, 5100), "1/a/occupancy");
	subs_occupancy_dirty(s);
	assert_int_equal(subs_occupancy_next_due(s), 5150);
	assert_string_equal(occ_due(s, 5149), "");
	assert_string_equal(occ_due(s, 5150),
	    "2/b/occupancy 3/c1/occupancy 3/c2/occupancy");
	assert_int_equal(subs_occupancy_next_due(s), 5200);
	/* Dropping a pending client takes it off the timer. */
	assert_int_equal(subs_drop_client(s, 1), 1);
	assert_int_equal(subs_occupancy_next_due(s), SUBS_NEVER);
	/* One of two occupancy subscriptions going keeps the client on it. */
	subs_occupancy_dirty(s);
	assert_int_equal(subs_unsubscribe(s, 3, "c1"), PK_OK);
	assert_string_equal(occ_due(s, 5300),
	    "2/b/occupancy 3/c2/occupancy");
	assert_int_equal(subs_check(s), 0);
	subs_free(s);
	assert_int_equal(fa_live, 0);
}

/* Due clients go in slices, the longest waiting first, each once. */
static void
test_occupancy_slices(void **state)
{
	subs *s = subs_new(0);

	(void)state;
	for (uint64_t c = 1; c <= 5; c++) {
		char id[8];

		snprintf(id, sizeof(id), "s%llu", (unsigned long long)c);
		assert_int_equal(sub(s, c, id, 1000, "occupancy", NULL, NULL, NULL), PK_OK);
	}
	/* Two subscriptions on one client count as one client. */
	assert_int_equal(sub(s, 3, "t3", 1000, "occupancy", NULL, NULL, NULL), PK_OK);
	subs_occupancy_dirty(s);
	assert_string_equal(occ_slice(s, 1000, 0), "");
	assert_string_equal(occ_slice(s, 1000, 2), "1/s1/occupancy 2/s2/occupancy");
	/* The rest are still due: the timer comes back at once. */
	assert_true(subs_occupancy_next_due(s) <= 1000);
	assert_string_equal(occ_slice(s, 1001, 2),
	    "3/s3/occupancy 3/t3/occupancy 4/s4/occupancy");
	assert_string_equal(occ_slice(s, 1002, 2), "5/s5/occupancy");
	assert_int_equal(subs_occupancy_next_due(s), SUBS_NEVER);
	/* Each is due again an interval after its own notification. */
	subs_occupancy_dirty(s);
	assert_int_equal(subs_occupancy_next_due(s), 1100);
	assert_string_equal(occ_slice(s, 1100, 10), "1/s1/occupancy 2/s2/occupancy");
	assert_int_equal(subs_occupancy_next_due(s), 1101);
	assert_string_equal(occ_slice(s, 1102, 10),
	    "3/s3/occupancy 3/t3/occupancy 4/s4/occupancy 5/s5/occupancy");
	subs_free(s);
	assert_int_equal(fa_live, 0);
}

/* Unsubscribing and subscribing again does not beat the interval. */
static void
test_occupancy_resubscribe(void **state)
{
	subs *s = subs_new(0);

	(void)state;
	assert_int_equal(sub(s, 1, "a", 0, "occupancy", NULL, NULL, NULL),
	    PK_OK);
	subs_occupancy_dirty(s);
	assert_string_equal(occ_due(s, 1000), "1/a/occupancy");
	assert_int_equal(subs_unsubscribe(s, 1, "a"), PK_OK);
	assert_int_equal(sub(s, 1, "b", 1020, "occupancy", NULL, NULL, NULL),
	    PK_OK);
	/* A new client behind it is not held up by it. */
	assert_int_equal(sub(s, 2, "x", 1030, "occupancy", NULL, NULL, NULL),
	    PK_OK);
	subs_occupancy_dirty(s);
	assert_string_equal(occ_due(s, 1050), "2/x/occupancy");
	assert_string_equal(occ_due(s, 1099), "");
	assert_string_equal(occ_due(s, 1100), "1/b/occupancy");
	assert_int_equal(subs_drop_client(s, 2), 1);
	/* Long after the last notification it is free again at once. */
	assert_int_equal(subs_unsubscribe(s, 1, "b"), PK_OK);
	assert_int_equal(sub(s, 1, "c", 3000, "occupancy", NULL, NULL, NULL),
	    PK_OK);
	subs_occupancy_dirty(s);
	assert_string_equal(occ_due(s, 3000), "1/c/occupancy");
	/* Subscribing to something else does not touch the timing. */
	assert_int_equal(sub(s, 1, "d", 3010, "events", NULL, NULL, NULL),
	    PK_OK);
	subs_occupancy_dirty(s);
	assert_int_equal(subs_occupancy_next_due(s), 3100);
	subs_free(s);
}

/* ---- a randomized model of the coalescing rule ---- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	return tu_rng(&rng_state);
}

#define NC 12
struct mclient {
	int subscribed;		/* has an occupancy subscription */
	int pending;		/* a change since its last notification */
	int sent;
	int64_t last;
	int gen;		/* for subscription ids */
};

/* Is client c due at now under the rule of subs.h? */
static int
m_due(const struct mclient *c, int64_t now)
{
	return c->subscribed && c->pending &&
	    (!c->sent || now - c->last >= SUBS_OCCUPANCY_INTERVAL_MS);
}

static void
run_occupancy_model(uint64_t seed, int steps)
{
	subs *s = subs_new(0);
	struct mclient m[NC];
	int64_t now = 0;
	char id[32];

	rng_state = seed;
	memset(m, 0, sizeof(m));
	for (int step = 0; step < steps; step++) {
		unsigned what = (unsigned)(rng() % 100);
		int c = (int)(rng() % NC);
		int64_t next, want_next = SUBS_NEVER;

		if (what < 40) {
			subs_occupancy_dirty(s);
			for (int i = 0; i < NC; i++)
				m[i].pending = m[i].subscribed;
		} else if (what < 45 && !m[c].subscribed &&
		    (!m[c].sent || now - m[c].last >= SUBS_OCCUPANCY_INTERVAL_MS)) {
			/*
			 * (Subscribing again within the interval may wait up
			 * to an interval more than this model says: subs.h.)
			 */
			snprintf(id, sizeof(id), "c%d-%d", c, ++m[c].gen);
			assert_int_equal(sub(s, (uint64_t)c, id, now,
			    "occupancy", NULL, NULL, NULL), PK_OK);
			m[c].subscribed = 1;
			m[c].pending = 0;
		} else if (what < 48 && m[c].subscribed) {
			snprintf(id, sizeof(id), "c%d-%d", c, m[c].gen);
			assert_int_equal(subs_unsubscribe(s, (uint64_t)c, id),
			    PK_OK);
			m[c].subscribed = 0;
			m[c].pending = 0;
		} else if (what < 50) {
			subs_drop_client(s, (uint64_t)c);
			memset(&m[c], 0, sizeof(m[c]));
		}
		/* The daemon's timer: next_due is the model's earliest due. */
		for (int i = 0; i < NC; i++) {
			int64_t d;

			if (!m[i].subscribed || !m[i].pending)
				continue;
			d = m[i].sent ? m[i].last + SUBS_OCCUPANCY_INTERVAL_MS :
			    INT64_MIN;
			if (d < want_next)
				want_next = d;
		}
		next = subs_occupancy_next_due(s);
		if (want_next <= now)
			assert_true(next <= now);
		else
			assert_int_equal(next, want_next);
		/* Time passes, sometimes exactly to the timer. */
		if (rng() % 3 == 0 && next != SUBS_NEVER && next > now)
			now = next;
		else
			now += (int64_t)(rng() % 60);
		{
			size_t wl = 0;
			const char *got;

			memset(&sn, 0, sizeof(sn));
			subs_occupancy_due(s, now, SIZE_MAX, collect, &sn);
			got = sn.buf;
			/* Compare as sets: the order is the list's. */
			for (int i = 0; i < NC; i++) {
				char one[64];

				snprintf(one, sizeof(one), "%d/c%d-%d/occupancy",
				    i, i, m[i].gen);
				if (m_due(&m[i], now)) {
					assert_non_null(strstr(got, one));
					m[i].pending = 0;
					m[i].sent = 1;
					m[i].last = now;
					wl++;
				}
			}
			assert_int_equal(sn.n, wl);
		}
		assert_int_equal(subs_check(s), 0);
	}
	subs_free(s);
	assert_int_equal(fa_live, 0);
}

static void
test_occupancy_model(void **state)
{
	static const uint64_t seeds[] = { 3, 1234, 0xfeedfaceULL, 8 };

	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		run_occupancy_model(seeds[i], 20000);
}

/* ---- gate signs ---- */

static void
test_gate_signs(void **state)
{
	subs *s = subs_new(0);
	uint8_t f[3] = { 0, 1, 0 }, g[4] = { 0, 1, 0, 0 };
	const uint8_t *last;
	size_t n;
	int changed = -1;
	char id[40];

	(void)state;
	assert_int_equal(subs_gate_sign_last(s, "north", &last, &n),
	    PK_E_NOT_FOUND);
	assert_int_equal(subs_gate_sign(s, "north", f, 3, &changed), PK_OK);
	assert_int_equal(changed, 1);			/* new gate */
	assert_int_equal(subs_gate_sign(s, "north", f, 3, &changed), PK_OK);
	assert_int_equal(changed, 0);
	f[1] = 7;					/* any non-zero is full */
	assert_int_equal(subs_gate_sign(s, "north", f, 3, &changed), PK_OK);
	assert_int_equal(changed, 0);
	f[2] = 1;
	assert_int_equal(subs_gate_sign(s, "north", f, 3, &changed), PK_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(subs_gate_sign_last(s, "north", &last, &n), PK_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(last, "\0\1\1", 3);
	/* Other gates are independent. */
	assert_int_equal(subs_gate_sign(s, "south", f, 3, &changed), PK_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(subs_gate_sign(s, "north", f, 3, &changed), PK_OK);
	assert_int_equal(changed, 0);
	/* A different class count (after a reload) is a change. */
	assert_int_equal(subs_gate_sign(s, "north", g, 4, &changed), PK_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(subs_gate_sign(s, "north", g, 4, &changed), PK_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(subs_gate_sign(s, "north", NULL, 0, &changed), PK_OK);
	assert_int_equal(changed, 1);
	/* Bad input. */
	assert_int_equal(subs_gate_sign(s, "", f, 3, &changed),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(subs_gate_sign(s, NULL, f, 3, &changed),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(subs_gate_sign(s, "n\x01", f, 3, &changed),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(subs_gate_sign(s, "north", NULL, 3, &changed),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(subs_gate_sign(s, "north", f,
	    SUBS_GATE_CLASSES_MAX + 1, &changed), PK_E_INVALID_PARAMS);
	/* At most SUBS_GATES_MAX gates. */
	for (int i = 2; i < SUBS_GATES_MAX; i++) {
		snprintf(id, sizeof(id), "g%d", i);
		assert_int_equal(subs_gate_sign(s, id, f, 3, &changed), PK_OK);
	}
	assert_int_equal(subs_gate_sign(s, "one-too-many", f, 3, &changed),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(subs_gate_sign(s, "north", f, 3, &changed), PK_OK);
	subs_free(s);
	assert_int_equal(fa_live, 0);
}

/* ---- allocation failure ---- */

/* Routing and counts for a set of probes, as text. */
static const char *
dump(const subs *s)
{
	static char buf[16384];
	static const char *const plates[] = { "AB 1", "AC", "B", "ZZ", NULL };

	snprintf(buf, sizeof(buf), "n=%zu E[%s]", subs_count(s), events(s));
	for (int i = 0; plates[i] != NULL; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
		    " S%s[%s]", plates[i], search(s, plates[i]));
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " G[%s]",
	    gate(s, "north"));
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " G[%s]",
	    gate(s, "west"));
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " O%lld",
	    (long long)subs_occupancy_next_due(s));
	return buf;
}

static void
test_out_of_memory_changes_nothing(void **state)
{
	subs *s = subs_new(0);
	char before[16384], id[32];
	int failures = 0;

	(void)state;
	/* Enough entries that the tables are near growing. */
	for (int i = 0; i < 11; i++) {
		snprintf(id, sizeof(id), "pre%d", i);
		assert_int_equal(sub(s, (uint64_t)i, id, 0, "search:AB",
		    "events", "gate:north", NULL), PK_OK);
	}
	subs_occupancy_dirty(s);
	for (int round = 0; round < 8; round++) {
		for (long k = 0;; k++) {
			pk_err e;

			snprintf(before, sizeof(before), "%s", dump(s));
			snprintf(id, sizeof(id), "new%d", round);
			fa_fail_after(k);
			/* A new client, new prefixes, a new gate. */
			e = sub(s, 100 + (uint64_t)round, id, 0, "occupancy",
			    round % 2 ? "search:A" : "search:AC",
			    round % 3 ? "gate:west" : "gate:north", "events");
			fa_fail_after(-1);
			assert_int_equal(subs_check(s), 0);
			if (e == PK_OK)
				break;
			assert_int_equal(e, PK_E_INTERNAL);
			assert_string_equal(dump(s), before);
			failures++;
		}
		/* Make the tables grow now and then between rounds. */
		for (int i = 0; i < 3; i++) {
			snprintf(id, sizeof(id), "fill%d-%d", round, i);
			assert_int_equal(sub(s, 1000 + (uint64_t)(round * 3 + i),
			    id, 0, "events", NULL, NULL, NULL), PK_OK);
		}
	}
	assert_true(failures >= 16);
	/* Gate signs: a new gate's allocation fails cleanly. */
	{
		uint8_t f[2] = { 1, 0 };
		const uint8_t *last;
		size_t n;
		int changed;

		fa_fail_after(0);
		assert_int_equal(subs_gate_sign(s, "east", f, 2, &changed),
		    PK_E_INTERNAL);
		assert_int_equal(changed, 0);
		assert_int_equal(subs_gate_sign_last(s, "east", &last, &n),
		    PK_E_NOT_FOUND);
		assert_int_equal(subs_gate_sign(s, "east", f, 2, &changed),
		    PK_OK);
		fa_fail_after(0);
		assert_int_equal(subs_gate_sign(s, "east", f, 1, &changed),
		    PK_E_INTERNAL);
		fa_fail_after(-1);
		assert_int_equal(subs_gate_sign_last(s, "east", &last, &n),
		    PK_OK);
		assert_int_equal(n, 2);
	}
	for (long k = 0; k < 6; k++) {
		fa_fail_after(k);
		subs *t = subs_new(0);

		fa_fail_after(-1);
		assert_null(t);
	}
	subs_free(s);
	assert_int_equal(fa_live, 0);
}

/* ---- a randomized model of routing ---- */

#define MS 64
struct msub {
	int live;
	uint64_t client;
	char id[16];
	int n;
	char topics[4][SUBS_TOPIC_BUFSZ];
};

static void
run_routing_model(uint64_t seed, int steps)
{
	static const char *const pool[] = { "events", "occupancy",
	    "search:A", "search:AB", "search:AB-", "search:B", "search:AB-1",
	    "gate:north", "gate:south", "search:A B" };
	static const char *const plates[] = { "A", "AB", "AB-1", "AB-12",
	    "A B", "B", "BA", "C", "AB-", "A BC" };
	struct msub m[MS];
	subs *s = subs_new(0);
	int gen = 0;

	rng_state = seed;
	memset(m, 0, sizeof(m));
	for (int step = 0; step < steps; step++) {
		unsigned what = (unsigned)(rng() % 10);
		int i = (int)(rng() % MS);

		if (what < 5 && !m[i].live) {
			const char *t[4] = { NULL, NULL, NULL, NULL };
			int n = 1 + (int)(rng() % 4);

			m[i].client = rng() % 6;
			snprintf(m[i].id, sizeof(m[i].id), "s%d", ++gen);
			for (int j = 0; j < n; j++)
				t[j] = pool[rng() % (sizeof(pool) / sizeof(pool[0]))];
			assert_int_equal(sub(s, m[i].client, m[i].id, 0, t[0],
			    t[1], t[2], t[3]), PK_OK);
			/* The model keeps the topics once each, in order. */
			m[i].n = 0;
			for (int j = 0; j < n; j++) {
				int dup = 0;

				for (int k = 0; k < m[i].n; k++)
					dup |= strcmp(m[i].topics[k], t[j]) == 0;
				if (!dup)
					snprintf(m[i].topics[m[i].n++],
					    SUBS_TOPIC_BUFSZ, "%s", t[j]);
			}
			m[i].live = gen;
		} else if (what < 8 && m[i].live) {
			assert_int_equal(subs_unsubscribe(s, m[i].client,
			    m[i].id), PK_OK);
			m[i].live = 0;
		} else if (what == 8) {
			uint64_t c = rng() % 6;
			size_t want = 0;

			for (int j = 0; j < MS; j++)
				if (m[j].live && m[j].client == c) {
					m[j].live = 0;
					want++;
				}
			assert_int_equal(subs_drop_client(s, c), want);
		}
		/* Every plate and gate routes to what the model says. */
		for (size_t p = 0; p < sizeof(plates) / sizeof(plates[0]); p++) {
			size_t want = 0;

			memset(&sn, 0, sizeof(sn));
			subs_each_search(s, plates[p], collect, &sn);
			for (int j = 0; j < MS; j++)
				for (int k = 0; m[j].live && k < m[j].n; k++) {
					const char *tp = m[j].topics[k];
					char one[64];

					if (strncmp(tp, "search:", 7) != 0 ||
					    strncmp(plates[p], tp + 7,
					    strlen(tp + 7)) != 0)
						continue;
					snprintf(one, sizeof(one), "%llu/%s/%s",
					    (unsigned long long)m[j].client,
					    m[j].id, tp);
					assert_non_null(strstr(sn.buf, one));
					want++;
				}
			assert_int_equal(sn.n, want);
		}
		{
			size_t want_e = 0, want_g = 0;

			for (int j = 0; j < MS; j++)
				for (int k = 0; m[j].live && k < m[j].n; k++) {
					want_e += strcmp(m[j].topics[k],
					    "events") == 0;
					want_g += strcmp(m[j].topics[k],
					    "gate:north") == 0;
				}
			assert_int_equal(subs_each_events(s, NULL, NULL), want_e);
			assert_int_equal(subs_each_gate(s, "north", NULL, NULL),
			    want_g);
		}
		if (step % 20 == 0)
			assert_int_equal(subs_check(s), 0);
	}
	subs_free(s);
	assert_int_equal(fa_live, 0);
}

static void
test_routing_model(void **state)
{
	(void)state;
	run_routing_model(5, 4000);
	run_routing_model(0xabcdef, 4000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_topic_parse, fa_reset),
		cmocka_unit_test_setup(test_subscribe_rules, fa_reset),
		cmocka_unit_test_setup(test_routing, fa_reset),
		cmocka_unit_test_setup(test_search_does_not_scan, fa_reset),
		cmocka_unit_test_setup(test_occupancy_coalescing, fa_reset),
		cmocka_unit_test_setup(test_occupancy_resubscribe, fa_reset),
		cmocka_unit_test_setup(test_occupancy_slices, fa_reset),
		cmocka_unit_test_setup(test_occupancy_model, fa_reset),
		cmocka_unit_test_setup(test_gate_signs, fa_reset),
		cmocka_unit_test_setup(test_out_of_memory_changes_nothing, fa_reset),
		cmocka_unit_test_setup(test_routing_model, fa_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
