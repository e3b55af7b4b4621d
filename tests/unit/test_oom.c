/*
 * test_oom.c - every allocation failure on the request path is handled:
 * no crash, no leak, no half-made change.
 *
 * A script of requests (every kind of change the protocol makes, reads
 * that build large answers, a batch, an inline command) runs through
 * session_handle against a small garage with a vehicle registry and
 * subscriptions, as the daemon runs it, the commit step writing each
 * change's record.  For each request i and each k, the state before i is
 * built again from nothing, then request i runs with its k-th allocation
 * failing (every malloc, calloc, realloc, strdup and strndup of the core,
 * the protocol and cJSON's arena: this binary is linked with --wrap), until
 * a k is reached that the request never gets to; and that three times,
 * the session's buffers warm, freed, and cramped (enum mode).  After each failure:
 *
 *   - the state (the garage as its snapshot records, the registry as its
 *     image, the connection's role and subscriptions) is either as it was before
 *     the request (or as before with what was due by its time done) or
 *     exactly as the run without failures left it: nothing in between;
 *   - a result was answered only when the change was made whole, and an
 *     error other than "unavailable" only when nothing changed ("could
 *     not be made durable": the core made it, the commit step could not
 *     write it, and the daemon rebuilds from its disk); a session that
 *     gives up (the daemon closes the connection) left no half-made
 *     change either; in the batch, each entry's answer says whether
 *     that entry's car is inside;
 *   - the garage's invariants hold (garage_check);
 *   - the session is released and everything freed: ASan's leak check,
 *     in the sanitizer build, sees every path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capacity.h"
#include "contacts.h"
#include "json.h"
#include "record.h"
#include "registry.h"
#include "rfc3339.h"
#include "session.h"
#include "subs.h"
#include "testutil.h"

/* ---- the allocator: counts, and fails the k-th call when asked ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static long calls;		/* allocations since counting began */
static long fail_at = -1;	/* the call (from 0) that fails; -1: none */

static int
failing(void)
{
	return fail_at >= 0 && calls++ == fail_at;
}

void *
__wrap_malloc(size_t n)
{
	return failing() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t k, size_t n)
{
	return failing() ? NULL : __real_calloc(k, n);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return failing() ? NULL : __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
	return failing() ? NULL : __real_strdup(s);
}

char *
__wrap_strndup(const char *s, size_t n)
{
	return failing() ? NULL : __real_strndup(s, n);
}

/* ---- the daemon's part, in memory ---- */

#define STEP_S 600		/* each request ten minutes after the one before */
#define BATCH_LINE 16		/* the script's batch: entries of F-1 to F-4 */
#define BATCH_FIRST_ID 14	/* the id of its first entry (F-1) */
#define SCRIPT_MAX 64

struct world {
	garage *g;
	registry *reg;
	subs *subs;
	struct call_env env;
	struct session s;
	struct jw rec;
	unsigned ids;
	uint64_t lsn;
	struct jw *journal;	/* when set: every record, a line each */
};

static void
new_id(void *ud, char out[UUID_BUFSZ])
{
	struct world *w = ud;

	tu_id(++w->ids, out);
}

static int
auth(void *ud, const char *peer, const char *token, enum role *role,
    const char **gate, uint64_t *retry_ms)
{
	(void)ud;
	(void)peer;
	(void)retry_ms;
	*gate = NULL;
	if (strcmp(token, "op-token") != 0)
		return -1;
	*role = ROLE_OPERATOR;
	return 0;
}

static void
health(void *ud, struct jw *w)
{
	(void)ud;
	jw_kstr(w, "status", "ok");
}

static int64_t
mono_ms(void *ud)
{
	(void)ud;
	return 0;
}

static int add_line(void *ud, const char *json, size_t len);

/* The commit step: each change's record written once, as the daemon does. */
static int
commit(void *ud, const garage *g, const struct changes *ch, int acks_earlier,
    uint64_t *hold)
{
	struct world *w = ud;
	char id[UUID_BUFSZ];

	for (size_t i = 0; i < ch->n; i++) {
		new_id(w, id);
		jw_reset(&w->rec);
		record_write(g, &ch->v[i], id, &w->rec);
		if (jw_failed(&w->rec))
			return -1;
		if (w->journal != NULL)
			add_line(w->journal, w->rec.buf, w->rec.len);
	}
	w->lsn += ch->n;
	*hold = ch->n > 0 || acks_earlier ? w->lsn : 0;
	return 0;
}

static void
world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	w->g = tu_garage(ALLOC_NEAREST, 10);
	w->reg = registry_new(24);
	w->subs = subs_new(16);
	assert_non_null(w->reg);
	assert_non_null(w->subs);
	jw_init(&w->rec);
	w->env.ud = w;
	w->env.new_id = new_id;
	w->env.commit = commit;
	w->env.mono_ms = mono_ms;
	w->env.auth = auth;
	w->env.health = health;
	w->env.subs = w->subs;
	w->env.registry = w->reg;
	w->env.max_future_s = 86400;
	w->s.g = w->g;
	w->s.env = &w->env;
	w->s.role = ROLE_NONE;
	w->s.client = 1;
}

static void
world_free(struct world *w)
{
	session_release(&w->s);
	subs_free(w->subs);
	registry_free(w->reg);
	garage_free(w->g);
	jw_release(&w->rec);
}

/* Frees the buffers the session and the commit step keep between lines. */
static void
cool(struct world *w)
{
	session_release(&w->s);
	changes_init(&w->s.changes);
	jw_init(&w->s.w);
	jw_init(&w->s.fw);
	jw_init(&w->s.ftail);
	jw_release(&w->rec);
	jw_init(&w->rec);
}

/* ---- the state, as text ---- */

static int
add_line(void *ud, const char *json, size_t len)
{
	struct jw *o = ud;

	jw_raw(o, json, len);
	jw_raw(o, "\n", 1);
	return 0;
}

/*
 * Everything a restart would rebuild (the garage's snapshot, the
 * registry's image), and the subscriptions the connection holds.
 */
static char *
state_of(const struct world *w)
{
	char line[64];
	struct jw o;
	char *s;

	jw_init(&o);
	assert_int_equal(record_snapshot(w->g, add_line, &o), 0);
	assert_int_equal(contacts_image(w->reg, 24, add_line, &o), 0);
	snprintf(line, sizeof(line), "role %s, subscriptions %zu", role_name(w->s.role),
	    subs_of_client(w->subs, 1));
	add_line(&o, line, strlen(line));
	assert_false(jw_failed(&o));
	s = jw_take(&o, NULL);
	assert_non_null(s);
	return s;
}

/* ---- the script ---- */

/* When request i is made: auth and the first change at TU_T0, then a step each. */
static int64_t
time_of(int i)
{
	return TU_T0 + (int64_t)(i > 0 ? i - 1 : 0) * STEP_S;
}

/* The answers of the run without failures so far (golden_run). */
static char **answers;

/*
 * A call of method with its one parameter param set to the string member
 * of that name in the answer to request from.
 */
static char *
with_id(const char *method, const char *param, int from)
{
	char key[64], line[512];
	const char *p;
	size_t n;

	snprintf(key, sizeof(key), "\"%s\":\"", param);
	assert_non_null(answers);
	p = strstr(answers[from], key);
	if (p == NULL)
		fail_msg("no %s in the answer to request %d: %s", param, from, answers[from]);
	p += strlen(key);
	n = strcspn(p, "\"");
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":40,\"method\":\"%s\","
	    "\"params\":{\"%s\":\"%.*s\"}}", method, param, (int)n, p);
	return strdup(line);
}

/* reserve: plate books a car's spot for [from, to), hours after TU_T0. */
static char *
reserve_line(int id, const char *plate, int from_h, int to_h)
{
	char from[RFC3339_BUFSZ], to[RFC3339_BUFSZ], line[512];

	rfc3339_format(TU_T0 + from_h * 3600, from);
	rfc3339_format(TU_T0 + to_h * 3600, to);
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"reserve\","
	    "\"params\":{\"plate\":\"%s\",\"class\":\"car\",\"from\":\"%s\","
	    "\"to\":\"%s\"}}", id, plate, from, to);
	return strdup(line);
}

/*
 * Request i of the script, for the state the requests before it left
 * (a payment names the ticket of the plate inside).  NULL past the end.
 */
static char *
script_line(const struct world *w, int i)
{
	char line[1024];
	const struct ticket *t;

	switch (i) {
	/* The connection starts unauthenticated, as over TCP with tokens. */
	case 0: return tu_quote("{'jsonrpc':'2.0','id':99,'method':'auth','params':"
	    "{'token':'op-token'}}");
	/*
	 * First, a change whose answer outgrows the reply buffer's first
	 * allocation: an allocation can fail after the change was made.
	 */
	case 1: return reserve_line(100, "R 0", 8, 10);
	case 2: return tu_quote("{'jsonrpc':'2.0','id':1,'method':'vehicle_register','params':"
	    "{'plate':'A 1','contact_name':'Ann Example','phone':'+491705550123'}}");
	case 3: return tu_quote("{'jsonrpc':'2.0','id':2,'method':'subscribe','params':"
	    "{'topics':['occupancy','events','search:A','gate:north']}}");
	case 4: return tu_quote("{'jsonrpc':'2.0','id':3,'method':'entry','params':"
	    "{'gate':'north','plate':'A 1','class':'car'}}");
	case 5: return tu_quote("{'jsonrpc':'2.0','id':4,'method':'entry','params':"
	    "{'gate':'north','plate':'M 1','class':'motorcycle','needs':['ev']}}");
	case 6: return tu_quote("{'jsonrpc':'2.0','id':5,'method':'search','params':"
	    "{'prefix':'A','subscribe':true}}");
	case 7: return tu_quote("{'jsonrpc':'2.0','id':6,'method':'quote','params':{'plate':'A 1'}}");
	case 8:
	case 9:
		/* The second is the same payment again: idempotent. */
		t = garage_inside(w->g, "A 1");
		assert_non_null(t);
		snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"pay\","
		    "\"params\":{\"ticket\":\"%s\",\"amount\":300,\"method\":\"cash\","
		    "\"reference\":\"r-1\"}}", t->id);
		return strdup(line);
	case 10: return tu_quote("{'jsonrpc':'2.0','id':8,'method':'exit','params':"
	    "{'gate':'south','plate':'A 1'}}");
	case 11: return tu_quote("{'jsonrpc':'2.0','id':9,'method':'lost','params':{'plate':'M 1'}}");
	case 12: return reserve_line(10, "R 1", 4, 6);
	case 13: return tu_quote("{'jsonrpc':'2.0','id':11,'method':'spot','params':"
	    "{'id':'C-02','state':'out_of_service'}}");
	case 14: return tu_quote("{'jsonrpc':'2.0','id':12,'method':'strategy','params':"
	    "{'set':'farthest'}}");
	case 15: return tu_quote("{'jsonrpc':'2.0','id':13,'method':'tariff','params':"
	    "{'set':" TU_MIN_TARIFF "}}");
	/* A batch fills the car spots left; then one waits for a spot. */
	case 16: return tu_quote("[{'jsonrpc':'2.0','id':14,'method':'entry','params':"
	    "{'gate':'north','plate':'F-1','class':'car'}},"
	    "{'jsonrpc':'2.0','id':15,'method':'entry','params':"
	    "{'gate':'north','plate':'F-2','class':'car'}},"
	    "{'jsonrpc':'2.0','id':16,'method':'entry','params':"
	    "{'gate':'north','plate':'F-3','class':'car'}},"
	    "{'jsonrpc':'2.0','id':17,'method':'entry','params':"
	    "{'gate':'north','plate':'F-4','class':'car'}}]");
	case 17: return tu_quote("{'jsonrpc':'2.0','id':18,'method':'wait','params':"
	    "{'gate':'north','plate':'W 1','class':'car','timeout_s':600}}");
	/* An inline command, as an operator types it. */
	case 18: return strdup("exit gate=south plate=F-1");
	case 19: return tu_quote("{'jsonrpc':'2.0','id':19,'method':'exit','params':"
	    "{'gate':'south','plate':'F-2'}}");
	case 20: return tu_quote("{'jsonrpc':'2.0','id':20,'method':'vehicle_delete','params':"
	    "{'plate':'A 1'}}");
	case 21: return tu_quote("{'jsonrpc':'2.0','id':21,'method':'vehicle_register','params':"
	    "{'plate':'B 2','contact_name':'Bo','phone':'+491705550124'}}");
	case 22: return tu_quote("{'jsonrpc':'2.0','id':22,'method':'retention','params':"
	    "{'set_hours':1}}");
	case 23: return tu_quote("{'jsonrpc':'2.0','id':23,'method':'purge','params':"
	    "{'confirm':'purge'}}");
	case 24: return tu_quote("{'jsonrpc':'2.0','id':24,'method':'layout'}");
	case 25: return tu_quote("{'jsonrpc':'2.0','id':25,'method':'status'}");
	case 26: return tu_quote("{'jsonrpc':'2.0','id':26,'method':'reservations'}");
	/* Ids handed out earlier, from the answers of the run without failures. */
	case 27: return with_id("reservation_cancel", "reservation", 12);
	case 28: return with_id("unsubscribe", "subscription", 3);
	case 29: return tu_quote("{'jsonrpc':'2.0','id':29,'method':'wait','params':"
	    "{'gate':'north','plate':'W 2','class':'van','timeout_s':600}}");
	case 30: return with_id("wait_cancel", "waitlist_id", 29);
	case 31: return with_id("ticket", "ticket", 4);
	case 32: return tu_quote("{'jsonrpc':'2.0','id':31,'method':'vehicle_list'}");
	/* Reads, each building its own answer. */
	case 33: return strdup("help entry");
	case 34: return strdup("health");
	case 35: return tu_quote("{'jsonrpc':'2.0','id':35,'method':'locate','params':{'plate':'M 1'}}");
	case 36: return tu_quote("{'jsonrpc':'2.0','id':36,'method':'vehicle_get','params':{'plate':'B 2'}}");
	case 37: return tu_quote("{'jsonrpc':'2.0','id':37,'method':'spot','params':{'id':'C-02'}}");
	case 38: return tu_quote("{'jsonrpc':'2.0','id':38,'method':'tariff'}");
	case 39: return strdup("[{\"jsonrpc\":\"2.0\",\"id\":39,\"method\":\"ping\"},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"status\"}]");
	case 40: return tu_quote("{'jsonrpc':'2.0','id':40,'method':'check'}");
	default: return NULL;
	}
}

/*
 * Runs request i with allocation k of it failing (k < 0: none); the
 * reply's text in *reply (NULL when none), *hit whether allocation k was
 * reached; returns what session_handle did.
 */
static int
run(struct world *w, int i, long k, char **reply, int *hit)
{
	char *line = script_line(w, i);
	struct session_out out;
	int rc;

	assert_non_null(line);
	calls = 0;
	fail_at = k;
	rc = session_handle(&w->s, line, strlen(line), 0, time_of(i),
	    &out);
	*hit = k >= 0 && calls > k;
	fail_at = -1;
	*reply = rc == 0 && out.line != NULL ? strndup(out.line, out.line_len) : NULL;
	free(out.defer_id);
	free(line);
	return rc;
}

/* ---- the test ---- */

/* The script without failures: the state after each request, and its reply. */
struct golden {
	int n;
	char *after[SCRIPT_MAX];
	char *reply[SCRIPT_MAX];
};

/* journal: when not NULL, takes every record the script made, a line each. */
static void
golden_run(struct golden *gd, struct jw *journal)
{
	struct world w;
	char *l;
	int hit;

	world_init(&w);
	w.journal = journal;
	answers = gd->reply;
	for (gd->n = 0; (l = script_line(&w, gd->n)) != NULL; gd->n++) {
		free(l);
		assert_true(gd->n < SCRIPT_MAX);
		assert_int_equal(run(&w, gd->n, -1, &gd->reply[gd->n], &hit), 0);
		assert_non_null(gd->reply[gd->n]);
		gd->after[gd->n] = state_of(&w);
	}
	world_free(&w);
}

static void
golden_free(struct golden *gd)
{
	for (int i = 0; i < gd->n; i++) {
		free(gd->after[i]);
		free(gd->reply[i]);
	}
	answers = NULL;		/* they were gd's replies */
}

static int
has(const char *reply, const char *what)
{
	return reply != NULL && strstr(reply, what) != NULL;
}

struct outcomes {
	long results, errors, undurable, dropped;
};

/*
 * The states a request may leave: as before it; as before it with what
 * was due by its time done (expiries, holds: time passing, not the
 * request, made those, and they stand whatever becomes of it); as the
 * run without failures left it.
 */
struct states {
	const char *before, *due, *whole;
};

static int
unchanged(const struct states *st, const char *after)
{
	return strcmp(after, st->before) == 0 || strcmp(after, st->due) == 0;
}

/*
 * One request answered with an allocation failing: the request made its
 * change whole or not at all, and the answer says which.
 */
static void
judge(int i, long k, const char *reply, const struct states *st,
    const char *after, struct outcomes *n)
{
	if (!unchanged(st, after) && strcmp(after, st->whole) != 0)
		fail_msg("request %d, allocation %ld failing: a half-made change:\n"
		    "before:\n%s\nafter:\n%s\nexpected:\n%s", i, k, st->before, after,
		    st->whole);
	if (reply != NULL && strstr(reply, "\"error\"") == NULL) {
		n->results++;
		if (strcmp(after, st->whole) != 0)
			fail_msg("request %d, allocation %ld failing: answered %s "
			    "without the change", i, k, reply);
	} else if (has(reply, "\"unavailable\"")) {
		n->undurable++;
	} else {
		n->errors++;
		if (!unchanged(st, after))
			fail_msg("request %d, allocation %ld failing: answered %s "
			    "with the change made", i, k, reply ? reply : "nothing");
	}
}

/*
 * The batch: its entries are requests of their own, each made or not
 * whatever became of the others; each answer must say which.
 */
static void
judge_batch(const struct world *w, long k, const char *reply, struct outcomes *n)
{
	cJSON *a = reply != NULL ? cJSON_Parse(reply) : NULL;
	const cJSON *e;

	if (!cJSON_IsArray(a))
		fail_msg("the batch, allocation %ld failing: answered %s", k,
		    reply ? reply : "nothing");
	cJSON_ArrayForEach(e, a) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id"), *reason;
		char plate[16];
		int inside, made;

		assert_true(cJSON_IsNumber(id));
		snprintf(plate, sizeof(plate), "F-%d", id->valueint - BATCH_FIRST_ID + 1);
		inside = garage_inside(w->g, plate) != NULL;
		made = cJSON_GetObjectItemCaseSensitive(e, "result") != NULL;
		reason = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(e, "error"), "data"), "reason");
		if (made) {
			n->results++;
		} else if (cJSON_IsString(reason) &&
		    strcmp(reason->valuestring, "unavailable") == 0) {
			n->undurable++;		/* made, not written: the daemon rebuilds */
			continue;
		} else {
			n->errors++;
		}
		if (made != inside)
			fail_msg("the batch, allocation %ld failing: %s answered %s but %s",
			    k, plate, made ? "a ticket" : "an error",
			    inside ? "is inside" : "is not inside");
	}
	cJSON_Delete(a);
}

/*
 * How the session's buffers are when a request runs: WARM, grown by the
 * requests before it; COLD, freed (the session's and the commit step's),
 * so that the reply and the records are allocated while it runs;
 * CRAMPED, the reply's buffer holding the reply's head and not much more,
 * so that it grows while the method writes its result.
 */
enum mode { WARM, COLD, CRAMPED };
#define CRAMPED_BYTES 40

/*
 * Request i with each of its allocations failing in turn, from the state
 * the script left before it, its buffers as mode says.  Returns how many
 * failures it made.
 */
/* A world in the state the script leaves before request i. */
static void
replay(struct world *w, int i)
{
	world_init(w);
	for (int j = 0; j < i; j++) {
		char *r;
		int hit;

		assert_int_equal(run(w, j, -1, &r, &hit), 0);
		free(r);
	}
}

/* The state before request i with what is due by its time done. */
static char *
due_state(int i)
{
	struct world w;
	struct changes ch;
	char *s;

	replay(&w, i);
	changes_init(&ch);
	garage_run_due(w.g, time_of(i), &ch);
	changes_release(&ch);
	s = state_of(&w);
	world_free(&w);
	return s;
}

static long
fail_each(const struct golden *gd, int i, enum mode mode, struct outcomes *n)
{
	char *due = due_state(i);
	long k;

	for (k = 0;; k++) {
		struct world w;
		struct states st;
		char *before, *after, *reply = NULL, why[256];
		int rc, hit;

		replay(&w, i);
		if (mode != WARM)
			cool(&w);
		if (mode == CRAMPED) {
			/* Room for a reply's head, not its result: it grows mid-method. */
			w.s.w.buf = malloc(CRAMPED_BYTES);
			assert_non_null(w.s.w.buf);
			w.s.w.cap = CRAMPED_BYTES;
		}
		before = state_of(&w);
		st = (struct states){ before, due, gd->after[i] };
		rc = run(&w, i, k, &reply, &hit);
		after = state_of(&w);
		if (!hit) {
			/* Request i made fewer than k + 1 allocations: done with it. */
			assert_int_equal(rc, 0);
			assert_string_equal(after, gd->after[i]);
			free(before);
			free(after);
			free(reply);
			world_free(&w);
			free(due);
			return k;
		}
		if (garage_check(w.g, why, sizeof(why)) != 0)
			fail_msg("request %d, allocation %ld failing: %s", i, k, why);
		if (rc != 0) {
			/* The daemon closes the connection: made or not, never half. */
			n->dropped++;
			if (i != BATCH_LINE && !unchanged(&st, after) &&
			    strcmp(after, gd->after[i]) != 0)
				fail_msg("request %d, allocation %ld failing: dropped "
				    "with a half-made change:\n%s", i, k, after);
		} else if (i == BATCH_LINE) {
			judge_batch(&w, k, reply, n);
		} else {
			judge(i, k, reply, &st, after, n);
		}
		free(before);
		free(after);
		free(reply);
		world_free(&w);
	}
}

static void
test_every_allocation_failure_on_the_request_path(void **state)
{
	struct golden gd;
	struct outcomes n = { 0 };
	long failures = 0;

	(void)state;
	json_arena_install();
	memset(&gd, 0, sizeof(gd));
	golden_run(&gd, NULL);
	/* The script does what it says when nothing fails. */
	assert_true(has(gd.reply[0], "\"operator\""));
	assert_true(has(gd.reply[1], "\"booked\""));
	assert_true(has(gd.reply[4], "\"result\""));
	assert_true(has(gd.reply[9], "\"result\""));	/* the same payment again */
	assert_true(has(gd.reply[10], "\"result\""));
	assert_true(has(gd.reply[12], "\"result\""));
	assert_true(has(gd.reply[16], "\"result\""));
	assert_true(has(gd.reply[17], "\"waitlist_id\""));
	assert_true(has(gd.reply[18], "\"result\""));
	assert_true(has(gd.reply[23], "\"result\""));
	assert_true(has(gd.reply[27], "\"cancelled\""));
	assert_true(has(gd.reply[28], "\"result\""));
	assert_true(has(gd.reply[30], "\"result\""));
	assert_true(has(gd.reply[31], "\"payments\""));
	assert_true(has(gd.reply[33], "\"usage\""));
	assert_true(has(gd.reply[34], "\"status\":\"ok\""));
	assert_true(has(gd.reply[40], "\"ok\":true"));
	for (enum mode mode = WARM; mode <= CRAMPED; mode++)
		for (int i = 0; i < gd.n; i++)
			failures += fail_each(&gd, i, mode, &n);
	printf("  %d requests, warm, cold and cramped, %ld allocation failures: %ld answered "
	    "whole, %ld errors with nothing changed, %ld not durable, %ld connections "
	    "dropped\n", gd.n, failures, n.results, n.errors, n.undurable, n.dropped);
	/* Every outcome is reached: the test can tell them apart. */
	assert_true(failures > 100);
	assert_true(n.results > 0);
	assert_true(n.errors > 0);
	assert_true(n.undurable > 0);
	assert_true(n.dropped > 0);
	golden_free(&gd);
}

/*
 * Recovery replays the journal into a new garage.  Out of memory there is
 * not bad data: the daemon tries again (or, at start-up, names the cause),
 * so each allocation of the replay failing in turn must be reported as out
 * of memory, never as a record that does not fit the state.
 */
static void
test_replay_out_of_memory_is_not_bad_data(void **state)
{
	struct golden gd;
	struct jw journal;
	char *text, err[256];
	long k, failures = 0;
	int hit, n = 0;

	(void)state;
	json_arena_install();
	jw_init(&journal);
	memset(&gd, 0, sizeof(gd));
	golden_run(&gd, &journal);
	golden_free(&gd);
	assert_false(jw_failed(&journal));
	text = jw_take(&journal, NULL);
	assert_non_null(text);
	for (k = 0;; k++) {
		garage *g = tu_garage(ALLOC_NEAREST, 10);
		pk_err e = PK_OK;
		struct jerr je = { err, sizeof(err), 0 };

		n = 0;
		calls = 0;
		fail_at = k;
		for (char *p = text, *nl; e == PK_OK && (nl = strchr(p, '\n')) != NULL;
		    p = nl + 1, n++) {
			err[0] = '\0';
			e = record_apply(g, p, (size_t)(nl - p), &je);
		}
		hit = calls > k;
		fail_at = -1;
		garage_free(g);
		if (!hit) {
			assert_int_equal(e, PK_OK);
			break;
		}
		failures++;
		if (e != PK_E_INTERNAL || !je.nomem || strstr(err, "out of memory") == NULL)
			fail_msg("record %d, allocation %ld failing: %s (%s)", n - 1, k,
			    pk_err_reason(e), err);
	}
	printf("  %d records replayed, %ld allocation failures, each reported as out of memory\n",
	    n, failures);
	assert_true(failures > 20);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation_failure_on_the_request_path),
		cmocka_unit_test(test_replay_out_of_memory_is_not_bad_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
