/* audit.c - the Redis audit shipper (see audit.h). */
#include "audit.h"


#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "alloc.h"
#include "datadir.h"
#include "jcursor.h"
#include "json.h"
#include "log.h"
#include "record.h"
#include "uuid7.h"

#define BATCH_RECORDS 500
#define BATCH_BYTES (512u << 10)
#define CONNECT_TIMEOUT_MS 2000
#define BATCH_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

#define AUDIT_STATES(X)                                              \
	X(OFF, "off")                 /* audit.redis is null */        \
	X(DOWN, "disconnected")       /* waiting to reconnect */       \
	X(CONNECTING, "connecting")   /* connect or AUTH in flight */ \
	X(READY, "connected")         /* shipping */

enum audit_state {
#define AUDIT_STATE_ENUM(name, str) A_##name,
	AUDIT_STATES(AUDIT_STATE_ENUM)
#undef AUDIT_STATE_ENUM
};

static const char *const audit_state_names[] = {
#define AUDIT_STATE_NAME(name, str) str,
	AUDIT_STATES(AUDIT_STATE_NAME)
#undef AUDIT_STATE_NAME
};

/*
 * Stores each event once.  ARGV: prefix, epoch, subject_maxlen,
 * stream_maxlen, then per event in LSN order: lsn, id, event JSON, the
 * number of subjects, the subjects.  Events at or below the epoch's shipped
 * LSN were stored before: skipped.  A subject joins the `subjects` set when
 * its list is created.  (parkd reads ids and subjects out of its own
 * records, so Redis decodes no JSON.)
 */
static const char store_script[] =
"local p, epoch = ARGV[1], ARGV[2]\n"
"local smax, xmax = tonumber(ARGV[3]), ARGV[4]\n"
"local shipped = tonumber(redis.call('HGET', p .. 'audit:shipped', epoch) or '0')\n"
"local i, stored = 5, 0\n"
"while i <= #ARGV do\n"
"  local lsn, id, json = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]\n"
"  local ns = tonumber(ARGV[i + 3])\n"
"  if lsn > shipped then\n"
"    redis.call('MSET', p .. 'audit:' .. id, json, p .. 'audit:' .. id .. ':ref', ns)\n"
"    for k = 1, ns do\n"
"      local s = ARGV[i + 3 + k]\n"
"      local key = p .. 'subject:' .. s\n"
"      local n = redis.call('RPUSH', key, id)\n"
"      if n == 1 then redis.call('SADD', p .. 'subjects', s) end\n"
"      while n > smax do\n"
"        local old = redis.call('LPOP', key)\n"
"        n = n - 1\n"
"        if redis.call('DECR', p .. 'audit:' .. old .. ':ref') <= 0 then\n"
"          redis.call('DEL', p .. 'audit:' .. old, p .. 'audit:' .. old .. ':ref')\n"
"        end\n"
"      end\n"
"    end\n"
"    if ns == 0 then\n"
"      redis.call('DEL', p .. 'audit:' .. id, p .. 'audit:' .. id .. ':ref')\n"
"    end\n"
"    redis.call('XADD', p .. 'events', 'MAXLEN', '~', xmax, '*', 'event', json)\n"
"    shipped = lsn\n"
"    stored = stored + 1\n"
"  end\n"
"  i = i + 4 + ns\n"
"end\n"
"redis.call('HSET', p .. 'audit:shipped', epoch, shipped)\n"
"return stored\n";

/* ARGV: prefix, subject, limit.  The newest events of a subject, oldest first. */
static const char history_script[] =
"local p = ARGV[1]\n"
"local ids = redis.call('LRANGE', p .. 'subject:' .. ARGV[2], -tonumber(ARGV[3]), -1)\n"
"local out = {}\n"
"for i, id in ipairs(ids) do\n"
"  out[#out + 1] = redis.call('GET', p .. 'audit:' .. id)\n"
"end\n"
"return out\n";

/*
 * The libuv glue for hiredis's async context.  It follows the shape of
 * hiredis's adapters/libuv.h, with two differences that matter: Debian 12's
 * adapter (0.14.1) returns early on a poll error, so a refused connect or a
 * reset connection is never reported.  Here a poll error is handed to
 * hiredis as an event, and hiredis's read or connect path finds the error
 * on the socket and reports it through the usual callbacks.  And after
 * every read the reader's unparsed input is checked against the bounds
 * (check_input), as hiredis would keep buffering it without end.
 */
struct uvglue {
	redisAsyncContext *ac;
	uv_poll_t poll;
	int events;
};

static void check_input(redisAsyncContext *ac);

static void
glue_poll(uv_poll_t *h, int status, int events)
{
	struct uvglue *g = h->data;

	if (g->ac == NULL)
		return;
	if (status < 0) {
		/* libuv has stopped the handle; let hiredis find the error. */
		g->events = 0;
		if (!(g->ac->c.flags & REDIS_CONNECTED))
			redisAsyncHandleWrite(g->ac);
		else
			redisAsyncHandleRead(g->ac);
		return;
	}
	if (g->ac != NULL && (events & UV_READABLE)) {
		redisAsyncHandleRead(g->ac);
		/* The context is gone (g->ac NULL) when the read ended it. */
		if (g->ac != NULL)
			check_input(g->ac);
	}
	if (g->ac != NULL && (events & UV_WRITABLE))
		redisAsyncHandleWrite(g->ac);
}

static void
glue_update(struct uvglue *g, int add, int del)
{
	g->events = (g->events | add) & ~del;
	if (g->events)
		uv_poll_start(&g->poll, g->events, glue_poll);
	else
		uv_poll_stop(&g->poll);
}

static void glue_add_read(void *p) { glue_update(p, UV_READABLE, 0); }
static void glue_del_read(void *p) { glue_update(p, 0, UV_READABLE); }
static void glue_add_write(void *p) { glue_update(p, UV_WRITABLE, 0); }
static void glue_del_write(void *p) { glue_update(p, 0, UV_WRITABLE); }

static void
glue_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
glue_cleanup(void *p)
{
	struct uvglue *g = p;

	/* The context is going away; the handle is freed when it has closed. */
	g->ac = NULL;
	uv_close((uv_handle_t *)&g->poll, glue_closed);
}

static int
glue_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct uvglue *g;

	if (ac->ev.data != NULL || (g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	if (uv_poll_init(loop, &g->poll, ac->c.fd) != 0) {
		free(g);
		return -1;
	}
	g->ac = ac;
	g->poll.data = g;
	ac->ev.data = g;
	ac->ev.addRead = glue_add_read;
	ac->ev.delRead = glue_del_read;
	ac->ev.addWrite = glue_add_write;
	ac->ev.delWrite = glue_del_write;
	ac->ev.cleanup = glue_cleanup;
	return 0;
}

/*
 * When records became durable, for the age of the oldest one Redis does not
 * hold yet.  An entry (lsn, ms) says that the LSNs after the entry before it
 * up to lsn were durable at loop time ms.  Within a second the last entry
 * grows instead of a new one starting; when the table is full, neighbours
 * are merged in pairs, each pair keeping the earlier time, so an age is
 * never understated, and overstated by at most the span of one pair.
 * Entries Redis has acknowledged are dropped from the front.
 */
#define AGE_SLOTS 256

struct durable_at {
	uint64_t lsn;
	uint64_t ms;
};

struct audit {
	uv_loop_t *loop;
	const struct settings *cfg;
	struct journal *j;
	enum audit_state state;
	redisAsyncContext *ac;
	uv_timer_t retry_timer;		/* reconnect after a backoff */
	uv_timer_t deadline;		/* connect watchdog, then batch deadline */
	uv_timer_t persist_timer;	/* writes audit.pos now and then */
	uv_timer_t read_timer;		/* the next journal read after a failed one */
	uint64_t backoff_ms;
	char epoch[UUID_BUFSZ];
	char pos_path[4200];

	uint64_t acked;			/* Redis holds every event up to here */
	uint64_t persisted;		/* acked as last written to audit.pos */
	int persisting;
	struct jcursor cur;
	int reading;			/* a journal read is on the thread pool */
	int sending;			/* a batch is at Redis */
	uint64_t batch_last;

	int drop_asked;			/* a callback asked the deadline to drop the context */
	int outstanding;		/* commands at Redis awaiting their reply */
	int read_backoff;		/* a journal read failed: wait before the next */
	uint64_t shipped, batches, failures, reconnects, dropped;
	char last_error[160];
	int closing;

	/* A command passed its deadline; until a batch is stored (health). */
	int stalled;
	struct durable_at ages[AGE_SLOTS];
	size_t age_first, age_end;	/* entries in use: [age_first, age_end) */

	/* A standby's: nothing is shipped, the position follows the primary's. */
	int held;
	/* Ships nothing past what this says (sync replication), when set. */
	uint64_t (*limit)(void *ud);
	void *limit_ud;

	/* Bounds on replies (see audit.h and the reply functions below). */
	redisReplyObjectFunctions *hiredis_fns;	/* hiredis's own: build redisReply */
	size_t reply_bytes;		/* string bytes of the reply being read */
	char refused[112];		/* why a reply was refused, until reported */
};

static void connect_redis(struct audit *a);
static void pump(struct audit *a);
static void on_read_retry(uv_timer_t *t);
static void on_deadline(uv_timer_t *t);

/*
 * One deadline covers every command at Redis (batches, AUTH, history):
 * it runs while any is outstanding and restarts whenever a reply comes,
 * so a Redis that stops answering is noticed within BATCH_TIMEOUT_MS even
 * when nothing is being shipped.
 */
static void
expect_reply(struct audit *a)
{
	if (a->outstanding++ == 0)
		uv_timer_start(&a->deadline, on_deadline, BATCH_TIMEOUT_MS, 0);
}

static void
got_reply(struct audit *a)
{
	/* Redis answers and has everything: it is not stalled. */
	if (journal_durable(a->j) <= a->acked)
		a->stalled = 0;
	if (a->outstanding > 0)
		a->outstanding--;
	if (a->outstanding > 0)
		uv_timer_start(&a->deadline, on_deadline, BATCH_TIMEOUT_MS, 0);
	else
		uv_timer_stop(&a->deadline);
}

/* Drops the entries of records Redis holds. */
static void
ages_forget(struct audit *a)
{
	while (a->age_first < a->age_end && a->ages[a->age_first].lsn <= a->acked)
		a->age_first++;
	if (a->age_first == a->age_end)
		a->age_first = a->age_end = 0;
}

/* Records up to durable are durable now. */
static void
ages_note(struct audit *a, uint64_t durable)
{
	uint64_t now = uv_now(a->loop);
	struct durable_at *last;
	size_t n;

	ages_forget(a);
	if (durable <= a->acked)
		return;
	if (a->age_end > a->age_first) {
		last = &a->ages[a->age_end - 1];
		if (durable <= last->lsn)
			return;
		if (now - last->ms < 1000) {
			last->lsn = durable;
			return;
		}
	}
	if (a->age_end == AGE_SLOTS && a->age_first > 0) {
		n = a->age_end - a->age_first;
		memmove(a->ages, a->ages + a->age_first, n * sizeof(a->ages[0]));
		a->age_first = 0;
		a->age_end = n;
	} else if (a->age_end == AGE_SLOTS) {
		for (n = 0; 2 * n < AGE_SLOTS; n++) {
			a->ages[n].ms = a->ages[2 * n].ms;
			a->ages[n].lsn = a->ages[2 * n + 1 < AGE_SLOTS ? 2 * n + 1 : 2 * n].lsn;
		}
		a->age_end = n;
	}
	a->ages[a->age_end].lsn = durable;
	a->ages[a->age_end].ms = now;
	a->age_end++;
}

uint64_t
audit_oldest_unshipped_age_s(const struct audit *a)
{
	uint64_t now;

	if (a == NULL || a->state == A_OFF)
		return 0;
	now = uv_now(a->loop);

	if (journal_durable(a->j) <= a->acked)
		return 0;
	for (size_t i = a->age_first; i < a->age_end; i++) {
		if (a->ages[i].lsn > a->acked)
			return now > a->ages[i].ms ? (now - a->ages[i].ms) / 1000 : 0;
	}
	/* Durable after the last note: just now. */
	return 0;
}

/* ---- the position file ---- */

static int
write_pos(const char *path, const char *epoch, uint64_t lsn)
{
	char tmp[4300], line[96], dir[4200], *slash;
	int fd, n, rc = -1;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	n = snprintf(line, sizeof(line), "%s %" PRIu64 "\n", epoch, lsn);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, line, (size_t)n) == n && fdatasync(fd) == 0)
		rc = 0;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (rc == 0 && slash != NULL) {
		*slash = '\0';
		(void)datadir_fsync(dir);
	}
	return rc;
}

/* A fresh epoch: Redis holds nothing of it yet, so shipping starts at 0. */
static int
new_epoch(struct audit *a, char *err, size_t errlen)
{
	unsigned char rnd[16], u[16];
	struct uuid7_gen gen = { 0, 0 };

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	uuid7_next(&gen, (uint64_t)time(NULL) * 1000, rnd, u);
	uuid_format(u, a->epoch);
	a->acked = a->persisted = 0;
	if (write_pos(a->pos_path, a->epoch, 0) != 0) {
		snprintf(err, errlen, "%s: %s", a->pos_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
load_pos(struct audit *a, char *err, size_t errlen)
{
	FILE *f = fopen(a->pos_path, "r");
	char epoch[64];
	unsigned long long lsn;

	if (f != NULL) {
		int ok = fscanf(f, "%63s %llu", epoch, &lsn) == 2 && strlen(epoch) == UUID_STRLEN;

		fclose(f);
		if (ok) {
			memcpy(a->epoch, epoch, UUID_BUFSZ);
			a->acked = a->persisted = lsn;
			return 0;
		}
		log_warn("%s is damaged; shipping again from the start of the journal "
		    "(Redis skips what it already has only for the same epoch)", a->pos_path);
	}
	return new_epoch(a, err, errlen);
}

struct pos_work {
	uv_work_t req;
	struct audit *a;
	char path[4200];
	char epoch[UUID_BUFSZ];
	uint64_t lsn;
	int rc;
};

static void
work_pos(uv_work_t *req)
{
	struct pos_work *w = (struct pos_work *)req;

	w->rc = write_pos(w->path, w->epoch, w->lsn);
}

static void
after_pos(uv_work_t *req, int status)
{
	struct pos_work *w = (struct pos_work *)req;

	(void)status;
	w->a->persisting = 0;
	if (w->rc == 0)
		w->a->persisted = w->lsn;
	else
		log_warn("%s: could not write the audit position", w->path);
	free(w);
}

static void
on_persist(uv_timer_t *t)
{
	struct audit *a = t->data;
	struct pos_work *w;

	if (a->persisting || a->acked == a->persisted)
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return;
	w->a = a;
	snprintf(w->path, sizeof(w->path), "%s", a->pos_path);
	memcpy(w->epoch, a->epoch, UUID_BUFSZ);
	w->lsn = a->acked;
	a->persisting = 1;
	if (uv_queue_work(a->loop, &w->req, work_pos, after_pos) != 0) {
		a->persisting = 0;
		free(w);
	}
}

/* ---- the connection ---- */

static __attribute__((format(printf, 2, 3))) void
set_error(struct audit *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->last_error, sizeof(a->last_error), fmt, ap);
	va_end(ap);
}

static void
on_retry(uv_timer_t *t)
{
	connect_redis(t->data);
}

/* Waits a growing, jittered while before the next attempt. */
static void
schedule_reconnect(struct audit *a)
{
	uint32_t jitter = 0;
	uint64_t ms;

	a->state = A_DOWN;
	uv_timer_stop(&a->deadline);
	if (a->closing)
		return;
	a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (a->backoff_ms > BACKOFF_MAX_MS)
		a->backoff_ms = BACKOFF_MAX_MS;
	(void)getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK);
	ms = a->backoff_ms / 2 + jitter % (a->backoff_ms / 2 + 1);
	uv_timer_start(&a->retry_timer, on_retry, ms, 0);
}

/*
 * Drops the context from outside any hiredis callback: pending callbacks
 * run with NULL replies (the batch is read again later), then the context
 * is gone.
 */
static void
drop_context(struct audit *a)
{
	redisAsyncContext *ac = a->ac;

	a->ac = NULL;
	a->outstanding = 0;
	if (ac != NULL)
		redisAsyncFree(ac);
}

static void
on_deadline(uv_timer_t *t)
{
	struct audit *a = t->data;

	/* A callback that asked for the drop has said why already. */
	if (!a->drop_asked) {
		/* A command went unanswered: stalled until a batch is stored. */
		if (a->outstanding > 0)
			a->stalled = 1;
		a->failures++;
		set_error(a, "%s", a->state == A_CONNECTING ? "connect timed out" :
		    "Redis did not answer in time");
	}
	a->drop_asked = 0;
	log_warn("audit: %s; reconnecting", a->last_error);
	drop_context(a);
	schedule_reconnect(a);
}

static void
rewind_cursor(struct audit *a)
{
	a->sending = 0;
	a->cur.next_lsn = a->acked + 1;
	a->cur.positioned = 0;
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct audit *a = ac->data;

	/* The context dies when this returns: forget it, reconnect from a timer. */
	if (a == NULL || a->ac != ac)
		return;
	a->ac = NULL;
	a->outstanding = 0;
	rewind_cursor(a);
	if (status != REDIS_OK) {
		a->failures++;
		/* A refused reply shows as "Out of memory" in errstr. */
		if (a->refused[0] != '\0')
			set_error(a, "refused a reply from Redis: %s", a->refused);
		else
			set_error(a, "disconnected: %s", ac->errstr);
		log_warn("audit: %s; reconnecting", a->last_error);
	}
	a->refused[0] = '\0';
	schedule_reconnect(a);
}

static void
become_ready(struct audit *a)
{
	a->state = A_READY;
	uv_timer_stop(&a->deadline);
	/* Nothing waits to be shipped: nothing is stalled. */
	if (journal_durable(a->j) <= a->acked)
		a->stalled = 0;
	log_info("audit: connected to Redis %s:%d; shipping from LSN %" PRIu64,
	    a->cfg->audit.redis.host, a->cfg->audit.redis.port, a->acked + 1);
	rewind_cursor(a);
	pump(a);
}

static void
on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
	struct audit *a = privdata;
	redisReply *reply = r;

	(void)ac;
	if (reply == NULL || a->ac == NULL)
		return;		/* the context is going away */
	got_reply(a);
	if (reply->type == REDIS_REPLY_ERROR) {
		a->failures++;
		set_error(a, "AUTH refused: %s", reply->str);
		log_err("audit: %s", a->last_error);
		/* Not from inside the callback: let the deadline drop it. */
		a->drop_asked = 1;
		uv_timer_start(&a->deadline, on_deadline, 0, 0);
		return;
	}
	become_ready(a);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct audit *a = ac->data;

	if (a == NULL || a->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this returns; err may be 0. */
		a->ac = NULL;
		a->failures++;
		set_error(a, "connect failed: %s", ac->errstr[0] ? ac->errstr : "unknown error");
		schedule_reconnect(a);
		return;
	}
	if (a->cfg->audit.password != NULL) {
		const char *argv[2] = { "AUTH", a->cfg->audit.password };

		uv_timer_stop(&a->deadline);
		if (redisAsyncCommandArgv(a->ac, on_auth, a, 2, argv, NULL) != REDIS_OK) {
			set_error(a, "%s", "could not send AUTH");
			a->drop_asked = 1;
			a->failures++;
			uv_timer_start(&a->deadline, on_deadline, 0, 0);
			return;
		}
		expect_reply(a);
		return;
	}
	become_ready(a);
}

/* ---- what parkd accepts from Redis (see audit.h) ---- */

/*
 * The reader's reply functions, in front of hiredis's own.  Each refuses
 * what parkd never asks for before anything is allocated: it notes why and
 * returns NULL, which the reader reports as an error, and hiredis drops the
 * connection (on_disconnect then reports the reason noted here).  The
 * reader hands every task its privdata: the audit.
 */
static __attribute__((format(printf, 2, 3))) void *
refuse_reply(struct audit *a, const char *fmt, ...)
{
	va_list ap;

	if (a->refused[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(a->refused, sizeof(a->refused), fmt, ap);
		va_end(ap);
	}
	return NULL;
}

/*
 * Whether a new object may be made.  A reply's first object starts the
 * count of its bytes, and must answer a command: hiredis 0.14.1 aborts the
 * process on any reply nobody asked for except an error (which it reports
 * by dropping the connection).
 */
static int
reply_wanted(struct audit *a, const redisReadTask *t)
{
	if (t->parent != NULL)
		return 1;
	a->reply_bytes = 0;
	return a->outstanding > 0 || t->type == REDIS_REPLY_ERROR;
}

static void *
bounded_string(const redisReadTask *t, char *str, size_t len)
{
	struct audit *a = t->privdata;

	if (!reply_wanted(a, t))
		return refuse_reply(a, "%s", "a reply nobody asked for");
	if (len > AUDIT_REPLY_MAX_BYTES - a->reply_bytes)
		return refuse_reply(a, "a reply of more than %u bytes",
		    AUDIT_REPLY_MAX_BYTES);
	a->reply_bytes += len;
	return a->hiredis_fns->createString(t, str, len);
}

static void *
bounded_array(const redisReadTask *t, int elements)
{
	struct audit *a = t->privdata;

	/* hiredis allocates the element pointers right away: check first. */
	if (t->parent != NULL)
		return refuse_reply(a, "%s", "a nested array");
	if (!reply_wanted(a, t))
		return refuse_reply(a, "%s", "a reply nobody asked for");
	if (elements > AUDIT_REPLY_MAX_ELEMENTS)
		return refuse_reply(a, "an array of %d elements (at most %d)",
		    elements, AUDIT_REPLY_MAX_ELEMENTS);
	return a->hiredis_fns->createArray(t, elements);
}

static void *
bounded_integer(const redisReadTask *t, long long v)
{
	struct audit *a = t->privdata;

	if (!reply_wanted(a, t))
		return refuse_reply(a, "%s", "a reply nobody asked for");
	return a->hiredis_fns->createInteger(t, v);
}

static void *
bounded_nil(const redisReadTask *t)
{
	struct audit *a = t->privdata;

	if (!reply_wanted(a, t))
		return refuse_reply(a, "%s", "a reply nobody asked for");
	return a->hiredis_fns->createNil(t);
}

/*
 * The objects are hiredis's redisReply: freed as such.  (Not const: the
 * reader's pointer to it is not; nothing writes it.)
 */
static redisReplyObjectFunctions bounded_fns = {
	bounded_string, bounded_array, bounded_integer, bounded_nil,
	freeReplyObject
};

/*
 * The reader keeps an unfinished item in its buffer until all of it has
 * come.  Only a bulk string may be long, and no longer than its header
 * says: a header announcing more than AUDIT_REPLY_MAX_BYTES is refused as
 * soon as it is in, as is a line still without its end after
 * AUDIT_REPLY_MAX_LINE bytes; AUDIT_READER_MAX_BUF bounds the rest.  The
 * reader is read as hiredis 0.14.1's read.h declares it: rstack[ridx] is
 * the item being read, and once a bulk string's type byte is taken, pos
 * is at its length.  Returns 1 (and why) when the input is refused.
 */
static int
input_too_long(const redisReader *r, char *why, size_t whylen)
{
	size_t left = r->len > r->pos ? r->len - r->pos : 0;
	const char *p, *end;
	char num[24];
	size_t n;

	if (left > AUDIT_READER_MAX_BUF) {
		snprintf(why, whylen, "more than %u bytes of one reply item",
		    AUDIT_READER_MAX_BUF);
		return 1;
	}
	if (r->buf == NULL || r->ridx < 0 || left == 0)
		return 0;
	p = r->buf + r->pos;
	end = memmem(p, left < AUDIT_REPLY_MAX_LINE ? left : AUDIT_REPLY_MAX_LINE,
	    "\r\n", 2);
	if (end == NULL) {
		if (left < AUDIT_REPLY_MAX_LINE)
			return 0;
		snprintf(why, whylen, "a line of more than %u bytes",
		    AUDIT_REPLY_MAX_LINE);
		return 1;
	}
	if (r->rstack[r->ridx].type != REDIS_REPLY_STRING)
		return 0;
	/* A malformed length is the reader's to refuse. */
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(num))
		return 0;
	memcpy(num, p, n);
	num[n] = '\0';
	if (strtoll(num, NULL, 10) <= (long long)AUDIT_REPLY_MAX_BYTES)
		return 0;
	snprintf(why, whylen, "a string of %s bytes (at most %u)", num,
	    AUDIT_REPLY_MAX_BYTES);
	return 1;
}

/* After a read: input past the bounds drops the connection at once. */
static void
check_input(redisAsyncContext *ac)
{
	struct audit *a = ac->data;
	char why[96];

	if (a == NULL || a->ac != ac || !input_too_long(ac->c.reader, why, sizeof(why)))
		return;
	a->failures++;
	set_error(a, "refused a reply from Redis: %s", why);
	log_warn("audit: %s; reconnecting", a->last_error);
	/* Called from the poll callback, not from hiredis: free it now. */
	drop_context(a);
	schedule_reconnect(a);
}

static void
connect_redis(struct audit *a)
{
	redisAsyncContext *ac;

	if (a->closing || a->ac != NULL)
		return;
	a->reconnects++;
	a->state = A_CONNECTING;
	/* Numeric addresses only: name resolution would block the loop. */
	ac = redisAsyncConnect(a->cfg->audit.redis.host, a->cfg->audit.redis.port);
	if (ac == NULL || ac->err) {
		set_error(a, "connect: %s", ac ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		a->failures++;
		schedule_reconnect(a);
		return;
	}
	ac->data = a;
	a->hiredis_fns = ac->c.reader->fn;
	ac->c.reader->fn = &bounded_fns;
	ac->c.reader->privdata = a;
	a->refused[0] = '\0';
	if (glue_attach(ac, a->loop) != 0) {
		redisAsyncFree(ac);
		set_error(a, "%s", "libuv attach failed");
		schedule_reconnect(a);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	a->ac = ac;
	/* The adapter may never report a failed connect: our own watchdog. */
	uv_timer_start(&a->deadline, on_deadline, CONNECT_TIMEOUT_MS, 0);
}

/* ---- shipping ---- */

#define MAX_SUBJECTS (ALLOC_MAX_SPOTS + 8)

struct read_work {
	uv_work_t req;
	struct audit *a;
	char dir[4200];
	struct jcursor cur;
	uint64_t upto;
	struct jcursor_batch batch;
	int rc;
	/* The EVAL command, built on the pool thread. */
	const char **argv;
	size_t *lens;
	size_t argc;
	char *strings;		/* numbers and unescaped ids and subjects */
	size_t unreadable;	/* records not in record_encode's shape */
	char smax[24], xmax[24];
	char field[UUID_BUFSZ + 16];	/* audit:shipped's field: the key and the batch's epoch */
};

static void
free_command(struct read_work *w)
{
	free(w->argv);
	free(w->lens);
	free(w->strings);
	w->argv = NULL;
	w->lens = NULL;
	w->strings = NULL;
}

/* Builds the store command for the batch; 0 or -1 (out of memory). */
static int
build_command(struct read_work *w)
{
	const struct jcursor_batch *b = &w->batch;
	size_t cap = 7 + b->n * (4 + MAX_SUBJECTS), slen = 0;
	char *o;

	for (size_t i = 0; i < b->n; i++)
		slen += b->len[i] + 64;
	w->argv = calloc(cap, sizeof(*w->argv));
	w->lens = calloc(cap, sizeof(*w->lens));
	w->strings = malloc(slen);
	if (w->argv == NULL || w->lens == NULL || w->strings == NULL)
		return -1;
	snprintf(w->smax, sizeof(w->smax), "%" PRId64, w->a->cfg->audit.subject_maxlen);
	snprintf(w->xmax, sizeof(w->xmax), "%" PRId64, w->a->cfg->audit.stream_maxlen);
	w->argv[0] = "EVAL";
	w->argv[1] = store_script;
	w->argv[2] = "0";
	w->argv[3] = w->a->cfg->audit.prefix;
	w->argv[4] = w->field;
	w->argv[5] = w->smax;
	w->argv[6] = w->xmax;
	w->argc = 7;
	o = w->strings;
	for (size_t i = 0; i < b->n; i++) {
		const char *payload = b->buf + b->off[i], *id, *subj[MAX_SUBJECTS];
		char *lsn = o, *count;
		size_t used = 0;
		int ns;

		o += sprintf(o, "%" PRIu64, b->lsn[i]) + 1;
		count = o;
		o += 8;
		ns = record_peek(payload, b->len[i], o, (size_t)(w->strings + slen - o),
		    &used, &id, subj, MAX_SUBJECTS);
		if (ns < 0) {
			/* Not ours to read: keep it in the stream, under a made-up id. */
			w->unreadable++;
			id = o;
			o += sprintf(o, "unreadable-%" PRIu64, b->lsn[i]) + 1;
			ns = 0;
		} else {
			o += used;
		}
		snprintf(count, 8, "%d", ns);
		w->argv[w->argc++] = lsn;
		w->argv[w->argc++] = id;
		w->argv[w->argc] = payload;
		w->lens[w->argc++] = b->len[i];
		w->argv[w->argc++] = count;
		for (int k = 0; k < ns; k++)
			w->argv[w->argc++] = subj[k];
	}
	for (size_t i = 0; i < w->argc; i++) {
		if (w->lens[i] == 0)
			w->lens[i] = strlen(w->argv[i]);
	}
	return 0;
}

/*
 * Every batch is of one epoch (records carry theirs, record.h): the
 * records after the first of another epoch are read again for the next
 * batch.  Redis keeps what it stored by key and epoch (audit:shipped's
 * field: the key for epoch 1, "key:epoch" after), so a promoted standby
 * skips what the old primary stored of the same history and stores its
 * own records, written at LSNs the old primary may also have used (async
 * replication), as the new events they are.
 */
static void
one_epoch(struct read_work *w)
{
	struct jcursor_batch *b = &w->batch;
	uint32_t first = record_peek_epoch(b->buf + b->off[0], b->len[0]);

	for (size_t i = 1; i < b->n; i++) {
		if (record_peek_epoch(b->buf + b->off[i], b->len[i]) != first) {
			w->cur.next_lsn = b->lsn[i];
			w->cur.positioned = 0;
			b->n = i;
			break;
		}
	}
	if (first <= 1)
		snprintf(w->field, sizeof(w->field), "%s", w->a->epoch);
	else
		snprintf(w->field, sizeof(w->field), "%s:%u", w->a->epoch, first);
}

/* Pool thread: reads the next batch and turns it into one command. */
static void
work_read(uv_work_t *req)
{
	struct read_work *w = (struct read_work *)req;

	w->rc = jcursor_read(w->dir, &w->cur, w->upto, BATCH_RECORDS,
	    BATCH_BYTES, &w->batch);
	if (w->rc == 0 && w->batch.n > 0)
		one_epoch(w);
	if (w->rc == 0 && w->batch.n > 0 && build_command(w) != 0) {
		free_command(w);
		jcursor_batch_free(&w->batch);
		w->rc = -1;
	}
}

static void
on_stored(redisAsyncContext *ac, void *r, void *privdata)
{
	struct audit *a = privdata;
	redisReply *reply = r;

	(void)ac;
	if (reply == NULL) {
		/* Not delivered: the batch is read and sent again later. */
		rewind_cursor(a);
		return;
	}
	got_reply(a);
	a->sending = 0;
	/* The script answers how many it stored: anything else stored nothing. */
	if (reply->type != REDIS_REPLY_INTEGER) {
		a->failures++;
		set_error(a, "store script: %s", reply->type == REDIS_REPLY_ERROR ?
		    reply->str : "not a count");
		log_err("audit: %s", a->last_error);
		rewind_cursor(a);
		a->drop_asked = 1;
		uv_timer_start(&a->deadline, on_deadline, 0, 0);
		return;
	}
	a->shipped += a->batch_last - a->acked;
	a->acked = a->batch_last;
	a->batches++;
	a->stalled = 0;
	ages_forget(a);
	/* Only a stored batch proves Redis works: a connect alone does not. */
	a->backoff_ms = 0;
	journal_retain_from(a->j, a->acked);
	pump(a);
}

static void
send_batch(struct audit *a, struct read_work *w)
{
	int rc;

	/* hiredis copies the arguments into its output buffer right here. */
	rc = redisAsyncCommandArgv(a->ac, on_stored, a, (int)w->argc, w->argv, w->lens);
	if (rc != REDIS_OK) {
		rewind_cursor(a);
		return;
	}
	a->sending = 1;
	a->batch_last = w->batch.lsn[w->batch.n - 1];
	expect_reply(a);
}

static void
after_read(uv_work_t *req, int status)
{
	struct read_work *w = (struct read_work *)req;
	struct audit *a = w->a;

	(void)status;
	a->reading = 0;
	if (a->closing) {
		free_command(w);
		jcursor_batch_free(&w->batch);
		free(w);
		return;
	}
	if (w->rc != 0) {
		set_error(a, "%s", "reading the journal failed");
		log_warn("audit: %s; trying again in a second", a->last_error);
		a->failures++;
		/* Not at once: a lasting error would spin a pool thread. */
		a->read_backoff = 1;
		uv_timer_start(&a->read_timer, on_read_retry, 1000, 0);
	} else {
		if (w->batch.skipped > 0) {
			a->dropped += w->batch.skipped;
			log_err("audit: %" PRIu64 " events were pruned from the journal "
			    "before Redis took them (audit.max_backlog)", w->batch.skipped);
		}
		a->cur = w->cur;
		if (w->unreadable > 0)
			log_err("audit: %zu journal records could not be read for their "
			    "subjects; stored without", w->unreadable);
		if (w->batch.n > 0 && a->state == A_READY && a->ac != NULL && !a->sending)
			send_batch(a, w);
		else if (w->batch.n == 0 && w->batch.skipped > 0)
			a->acked = w->cur.next_lsn - 1;
	}
	free_command(w);
	jcursor_batch_free(&w->batch);
	free(w);
	if (!a->sending && !a->read_backoff)
		pump(a);
}

static void
on_read_retry(uv_timer_t *t)
{
	struct audit *a = t->data;

	a->read_backoff = 0;
	pump(a);
}

/* Starts the next read when connected, idle and behind. */
static void
pump(struct audit *a)
{
	/* Only what is durable and in the file: "none" mode answers earlier. */
	uint64_t durable = journal_written(a->j);
	uint64_t limit = (uint64_t)a->cfg->audit.max_backlog;
	struct read_work *w;

	/* In sync replication only what a standby holds too (audit_limit). */
	if (a->limit != NULL && a->limit(a->limit_ud) < durable)
		durable = a->limit(a->limit_ud);
	if (a->held) {
		journal_retain_from(a->j, a->acked);
		return;
	}

	/* Past the backlog limit the journal may prune what Redis has not taken. */
	journal_retain_from(a->j, durable > a->acked + limit ? durable - limit : a->acked);
	if (a->state != A_READY || a->reading || a->sending || a->closing ||
	    a->read_backoff ||
	    durable <= a->acked || a->cur.next_lsn > durable)
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return;
	w->a = a;
	snprintf(w->dir, sizeof(w->dir), "%s", journal_dir(a->j));
	w->cur = a->cur;
	w->upto = durable;
	a->reading = 1;
	if (uv_queue_work(a->loop, &w->req, work_read, after_read) != 0) {
		a->reading = 0;
		free(w);
	}
}

void
audit_kick(struct audit *a)
{
	if (a != NULL && a->state != A_OFF) {
		ages_note(a, journal_durable(a->j));
		pump(a);
	}
}

/* ---- history ---- */

struct hist {
	struct audit *a;
	audit_history_cb cb;
	void *ud;
};

/* Whether Redis handed back one of our events: valid JSON, nothing else. */
static int
event_valid(const char *s, size_t len)
{
	struct jerr e = { NULL, 0, 0 };
	cJSON *j = json_parse(s, len, "", &e);

	cJSON_Delete(j);
	return j != NULL;
}

static void
on_history(redisAsyncContext *ac, void *r, void *privdata)
{
	struct hist *h = privdata;
	redisReply *reply = r;
	struct jw w;
	char *events;
	size_t len;

	(void)ac;
	if (reply != NULL)
		got_reply(h->a);
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		h->cb(h->ud, NULL, 0, reply == NULL ? "Redis went away" :
		    reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
		free(h);
		return;
	}
	/* Spliced into a reply as they are: whatever Redis holds is checked first. */
	jw_init(&w);
	jw_arr(&w);
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *e = reply->element[i];

		/* Trimmed away meanwhile (nil), or not an event of ours. */
		if (e->type == REDIS_REPLY_STRING && event_valid(e->str, e->len))
			jw_raw(&w, e->str, e->len);
	}
	jw_arr_end(&w);
	events = jw_take(&w, &len);
	if (events == NULL)
		h->cb(h->ud, NULL, 0, "out of memory");
	else
		h->cb(h->ud, events, len, NULL);
	free(events);
	free(h);
}

int
audit_history(struct audit *a, const char *subject, int limit,
    audit_history_cb cb, void *ud)
{
	struct hist *h;
	char lim[16];
	const char *argv[6];

	if (a == NULL || a->state != A_READY || a->ac == NULL)
		return -1;
	/* A longer answer would be refused as out of bounds. */
	if (limit > AUDIT_REPLY_MAX_ELEMENTS)
		limit = AUDIT_REPLY_MAX_ELEMENTS;
	h = malloc(sizeof(*h));
	if (h == NULL)
		return -1;
	h->a = a;
	h->cb = cb;
	h->ud = ud;
	snprintf(lim, sizeof(lim), "%d", limit);
	argv[0] = "EVAL";
	argv[1] = history_script;
	argv[2] = "0";
	argv[3] = a->cfg->audit.prefix;
	argv[4] = subject;
	argv[5] = lim;
	if (redisAsyncCommandArgv(a->ac, on_history, h, 6, argv, NULL) != REDIS_OK) {
		free(h);
		return -1;
	}
	expect_reply(a);
	return 0;
}

/* ---- life cycle ---- */

struct audit *
audit_new(uv_loop_t *loop, const struct settings *cfg, struct journal *j,
    char *err, size_t errlen)
{
	struct audit *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->loop = loop;
	a->cfg = cfg;
	a->j = j;
	a->state = A_OFF;
	if (cfg->audit.redis.enabled) {
		snprintf(a->pos_path, sizeof(a->pos_path), "%s/audit.pos", cfg->data_dir);
		if (load_pos(a, err, errlen) != 0) {
			free(a);
			return NULL;
		}
		/*
		 * Redis acknowledged more than this journal holds: the data
		 * directory was replaced or lost its tail.  Its LSNs will be
		 * reused, so a new epoch keeps Redis from skipping them.
		 */
		if (a->acked > journal_durable(j)) {
			log_warn("audit: %s is at LSN %" PRIu64 " but the journal ends at %"
			    PRIu64 "; starting a new epoch", a->pos_path, a->acked,
			    journal_durable(j));
			if (new_epoch(a, err, errlen) != 0) {
				free(a);
				return NULL;
			}
		}
	}
	uv_timer_init(loop, &a->retry_timer);
	uv_timer_init(loop, &a->deadline);
	uv_timer_init(loop, &a->persist_timer);
	uv_timer_init(loop, &a->read_timer);
	a->retry_timer.data = a->deadline.data = a->persist_timer.data = a;
	a->read_timer.data = a;
	uv_unref((uv_handle_t *)&a->read_timer);
	uv_unref((uv_handle_t *)&a->retry_timer);
	uv_unref((uv_handle_t *)&a->deadline);
	uv_unref((uv_handle_t *)&a->persist_timer);
	if (!cfg->audit.redis.enabled)
		return a;
	a->cur.next_lsn = a->acked + 1;
	journal_retain_from(j, a->acked);
	/* A backlog from before the start is counted from the start. */
	ages_note(a, journal_durable(j));
	uv_timer_start(&a->persist_timer, on_persist, 1000, 1000);
	connect_redis(a);
	return a;
}

void
audit_hold(struct audit *a)
{
	if (a != NULL)
		a->held = 1;
}

void
audit_follow(struct audit *a, const char *key, uint64_t acked)
{
	if (a == NULL || a->state == A_OFF || !a->held)
		return;
	/* What is not in this journal yet is not ours to call shipped. */
	if (acked > journal_durable(a->j))
		acked = journal_durable(a->j);
	if (key[0] != '\0' && strcmp(key, a->epoch) != 0) {
		if (strlen(key) != UUID_STRLEN)
			return;
		memcpy(a->epoch, key, UUID_BUFSZ);
		/* A new key: audit.pos is written at the next persist. */
		a->persisted = UINT64_MAX;
	} else if (acked <= a->acked) {
		return;
	}
	a->acked = acked;
	a->cur.next_lsn = acked + 1;
	a->cur.positioned = 0;
	journal_retain_from(a->j, a->acked);
}

void
audit_release(struct audit *a)
{
	if (a == NULL || !a->held)
		return;
	a->held = 0;
	a->cur.next_lsn = a->acked + 1;
	a->cur.positioned = 0;
	ages_note(a, journal_durable(a->j));
	pump(a);
}

void
audit_limit(struct audit *a, uint64_t (*fn)(void *ud), void *ud)
{
	if (a == NULL)
		return;
	a->limit = fn;
	a->limit_ud = ud;
}

const char *
audit_key(const struct audit *a)
{
	return a == NULL || a->state == A_OFF ? "" : a->epoch;
}

uint64_t
audit_acked(const struct audit *a)
{
	return a == NULL || a->state == A_OFF ? 0 : a->acked;
}

int
audit_ok(const struct audit *a)
{
	return a == NULL || a->state == A_OFF || (a->state == A_READY && !a->stalled);
}

const char *
audit_state(const struct audit *a)
{
	if (a == NULL)
		return "off";
	return a->state != A_OFF && a->stalled ? "stalled" : audit_state_names[a->state];
}

uint64_t
audit_pending(const struct audit *a)
{
	if (a == NULL || a->state == A_OFF || journal_durable(a->j) <= a->acked)
		return 0;
	return journal_durable(a->j) - a->acked;
}

uint64_t
audit_shipped(const struct audit *a)
{
	return a == NULL ? 0 : a->shipped;
}

void
audit_counts(const struct audit *a, struct audit_counts *c)
{
	memset(c, 0, sizeof(*c));
	if (a == NULL)
		return;
	c->shipped = a->shipped;
	c->batches = a->batches;
	c->failures = a->failures;
	c->connects = a->reconnects;
	c->dropped = a->dropped;
}

void
audit_health(const struct audit *a, struct jw *w)
{
	jw_kstr(w, "state", audit_state(a));
	jw_kuint(w, "pending", audit_pending(a));
	if (a == NULL || a->state == A_OFF)
		return;
	jw_kuint(w, "oldest_unshipped_age_s", audit_oldest_unshipped_age_s(a));
	jw_kuint(w, "shipped_lsn", a->acked);
	jw_kuint(w, "shipped", a->shipped);
	jw_kuint(w, "batches", a->batches);
	jw_kuint(w, "connects", a->reconnects);
	jw_kuint(w, "failures", a->failures);
	if (a->dropped > 0)
		jw_kuint(w, "dropped", a->dropped);
	if (a->last_error[0] != '\0')
		jw_kstr(w, "last_error", a->last_error);
}

void
audit_close(struct audit *a)
{
	if (a == NULL || a->closing)
		return;
	a->closing = 1;
	drop_context(a);
	if (a->state != A_OFF && a->acked != a->persisted &&
	    write_pos(a->pos_path, a->epoch, a->acked) == 0)
		a->persisted = a->acked;
	uv_close((uv_handle_t *)&a->retry_timer, NULL);
	uv_close((uv_handle_t *)&a->deadline, NULL);
	uv_close((uv_handle_t *)&a->persist_timer, NULL);
	uv_close((uv_handle_t *)&a->read_timer, NULL);
}

void
audit_free(struct audit *a)
{
	free(a);
}
