/* redisconn.c - a Redis connection that never waits (see redisconn.h). */
#define LOG_COMPONENT "redis"

#include "redisconn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <hiredis/async.h>

#include "log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static const char *const redisconn_state_names[] = {
#define REDISCONN_STATE_NAME(name, str) str,
	REDISCONN_STATES(REDISCONN_STATE_NAME)
#undef REDISCONN_STATE_NAME
};

struct redisconn {
	uv_loop_t *loop;
	struct redisconn_cfg cfg;	/* name and password point to our copies */
	struct redisconn_hooks hooks;
	char *name, *password;
	enum redisconn_state state;
	redisAsyncContext *ac;
	uv_timer_t retry_timer;		/* reconnect after a backoff */
	uv_timer_t deadline;		/* connect watchdog, then command deadline */
	uint64_t backoff_ms;
	int drop_asked;			/* a callback asked the deadline to drop the context */
	int outstanding;		/* commands at Redis awaiting their reply */
	int closing;
	uint64_t connects, failures;
	uint64_t failures_at_proof;	/* failures when a reply last proved Redis works */
	/* Failed connects since the last success; the first one is logged. */
	uint64_t connect_failures;
	char last_error[160];

	/* Bounds on replies (see the reply functions below). */
	redisReplyObjectFunctions *hiredis_fns;	/* hiredis's own: build redisReply */
	size_t reply_bytes;		/* string bytes of the reply being read */
	size_t reply_objects;		/* objects of the reply being read */
	char refused[112];		/* why a reply was refused, until reported */
};

/* One command in flight: whose callback gets its reply. */
struct pending {
	struct redisconn *rc;
	redisconn_reply_fn fn;
	void *privdata;
};

static void connect_redis(struct redisconn *rc);
static void on_deadline(uv_timer_t *t);
static redisReplyObjectFunctions bounded_fns;

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

/* ---- state ---- */

static __attribute__((format(printf, 2, 0))) void
vset_error(struct redisconn *rc, const char *fmt, va_list ap)
{
	vsnprintf(rc->last_error, sizeof(rc->last_error), fmt, ap);
}

static __attribute__((format(printf, 2, 3))) void
set_error(struct redisconn *rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_error(rc, fmt, ap);
	va_end(ap);
}

/*
 * One deadline covers every command at Redis: it runs while any is
 * outstanding and restarts whenever a reply comes, so a Redis that stops
 * answering is noticed within reply_timeout_ms.
 */
static void
expect_reply(struct redisconn *rc)
{
	if (rc->outstanding++ == 0)
		uv_timer_start(&rc->deadline, on_deadline, rc->cfg.reply_timeout_ms, 0);
}

static void
got_reply(struct redisconn *rc)
{
	if (rc->outstanding > 0)
		rc->outstanding--;
	if (rc->outstanding > 0)
		uv_timer_start(&rc->deadline, on_deadline, rc->cfg.reply_timeout_ms, 0);
	else
		uv_timer_stop(&rc->deadline);
}

static void
on_retry(uv_timer_t *t)
{
	connect_redis(t->data);
}

/* Waits a growing, jittered while before the next attempt; tells the user. */
static void
schedule_reconnect(struct redisconn *rc)
{
	uint32_t jitter = 0;
	uint64_t ms;

	rc->state = RC_DOWN;
	uv_timer_stop(&rc->deadline);
	if (rc->closing)
		return;
	rc->backoff_ms = rc->backoff_ms ? rc->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (rc->backoff_ms > BACKOFF_MAX_MS)
		rc->backoff_ms = BACKOFF_MAX_MS;
	(void)getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK);
	ms = rc->backoff_ms / 2 + jitter % (rc->backoff_ms / 2 + 1);
	uv_timer_start(&rc->retry_timer, on_retry, ms, 0);
	if (rc->hooks.down != NULL)
		rc->hooks.down(rc->hooks.ud);
}

/*
 * Drops the context from outside any hiredis callback: pending callbacks
 * run with NULL replies, then the context is gone.
 */
static void
drop_context(struct redisconn *rc)
{
	redisAsyncContext *ac = rc->ac;

	rc->ac = NULL;
	rc->outstanding = 0;
	if (ac != NULL)
		redisAsyncFree(ac);
}

static void
on_deadline(uv_timer_t *t)
{
	struct redisconn *rc = t->data;

	/* A callback that asked for the drop has said why already. */
	if (!rc->drop_asked) {
		if (rc->outstanding > 0 && rc->hooks.timed_out != NULL)
			rc->hooks.timed_out(rc->hooks.ud);
		rc->failures++;
		set_error(rc, "%s", rc->state == RC_CONNECTING ? "connect timed out" :
		    "Redis did not answer in time");
	}
	rc->drop_asked = 0;
	log_msg(LOG_WARN, rc->name, "Redis connection lost, reconnecting error=\"%s\"",
	    rc->last_error);
	drop_context(rc);
	schedule_reconnect(rc);
}

/* From inside a hiredis callback: the deadline timer drops the context. */
static void
ask_drop(struct redisconn *rc)
{
	rc->drop_asked = 1;
	uv_timer_start(&rc->deadline, on_deadline, 0, 0);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redisconn *rc = ac->data;

	/* The context dies when this returns: forget it, reconnect from a timer. */
	if (rc == NULL || rc->ac != ac)
		return;
	rc->ac = NULL;
	rc->outstanding = 0;
	if (status != REDIS_OK) {
		rc->failures++;
		/* A refused reply shows as "Out of memory" in errstr. */
		if (rc->refused[0] != '\0')
			set_error(rc, "refused a reply from Redis: %s", rc->refused);
		else
			set_error(rc, "disconnected: %s", ac->errstr);
		log_msg(LOG_WARN, rc->name, "Redis connection lost, reconnecting "
		    "error=\"%s\"", rc->last_error);
	}
	rc->refused[0] = '\0';
	schedule_reconnect(rc);
}

static void
become_ready(struct redisconn *rc)
{
	if (rc->connect_failures > 0)
		log_msg(LOG_INFO, rc->name, "Redis reachable again failed_connects=%llu",
		    (unsigned long long)rc->connect_failures);
	rc->connect_failures = 0;
	rc->state = RC_READY;
	uv_timer_stop(&rc->deadline);
	if (rc->hooks.ready != NULL)
		rc->hooks.ready(rc->hooks.ud);
}

static void
on_auth(void *privdata, redisReply *reply)
{
	struct redisconn *rc = privdata;

	if (reply == NULL || rc->ac == NULL)
		return;		/* the context is going away */
	if (reply->type == REDIS_REPLY_ERROR) {
		redisconn_fail(rc, "AUTH refused: %s", reply->str);
		return;
	}
	become_ready(rc);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

/* Sends a command whatever the state (AUTH goes before READY). */
static int
send_command(struct redisconn *rc, redisconn_reply_fn fn, void *privdata,
    int argc, const char **argv, const size_t *lens)
{
	struct pending *p;

	if (rc->ac == NULL || (p = malloc(sizeof(*p))) == NULL)
		return -1;
	p->rc = rc;
	p->fn = fn;
	p->privdata = privdata;
	if (redisAsyncCommandArgv(rc->ac, on_reply, p, argc, argv, lens) != REDIS_OK) {
		free(p);
		return -1;
	}
	expect_reply(rc);
	return 0;
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct redisconn *rc = ac->data;

	if (rc == NULL || rc->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this returns; err may be 0. */
		rc->ac = NULL;
		rc->failures++;
		set_error(rc, "connect failed: %s",
		    ac->errstr[0] ? ac->errstr : "unknown error");
		/* Once, not at every retry: a Redis down for a day is one line. */
		if (rc->connect_failures++ == 0)
			log_msg(LOG_WARN, rc->name, "cannot reach Redis, retrying "
			    "with backoff error=\"%s\"", rc->last_error);
		schedule_reconnect(rc);
		return;
	}
	if (rc->password != NULL) {
		const char *argv[2] = { "AUTH", rc->password };

		uv_timer_stop(&rc->deadline);
		if (send_command(rc, on_auth, rc, 2, argv, NULL) != 0) {
			set_error(rc, "%s", "could not send AUTH");
			rc->failures++;
			ask_drop(rc);
		}
		return;
	}
	become_ready(rc);
}

static void
connect_redis(struct redisconn *rc)
{
	redisAsyncContext *ac;

	if (rc->closing || rc->ac != NULL)
		return;
	rc->connects++;
	rc->state = RC_CONNECTING;
	/* Numeric addresses only: name resolution would block the loop. */
	ac = redisAsyncConnect(rc->cfg.ep.host, rc->cfg.ep.port);
	if (ac == NULL || ac->err) {
		set_error(rc, "connect: %s", ac ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		rc->failures++;
		schedule_reconnect(rc);
		return;
	}
	ac->data = rc;
	rc->hiredis_fns = ac->c.reader->fn;
	ac->c.reader->fn = &bounded_fns;
	ac->c.reader->privdata = rc;
	rc->refused[0] = '\0';
	if (glue_attach(ac, rc->loop) != 0) {
		redisAsyncFree(ac);
		set_error(rc, "%s", "libuv attach failed");
		schedule_reconnect(rc);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	rc->ac = ac;
	/* The adapter may never report a failed connect: our own watchdog. */
	uv_timer_start(&rc->deadline, on_deadline, rc->cfg.connect_timeout_ms, 0);
}

/* Every reply comes here first: the deadline moves, then the user's callback. */
static void
on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct pending *p = privdata;

	(void)ac;
	if (r != NULL)
		got_reply(p->rc);
	p->fn(p->privdata, r);
	free(p);
}

/* ---- what parkd accepts from Redis ---- */

/*
 * The reader's reply functions, in front of hiredis's own.  Each refuses
 * what the user never asks for before anything is allocated: it notes why
 * and returns NULL, which the reader reports as an error, and hiredis
 * drops the connection (on_disconnect then reports the reason noted here).
 * The reader hands every task its privdata: the connection.
 */
static __attribute__((format(printf, 2, 3))) void *
refuse_reply(struct redisconn *rc, const char *fmt, ...)
{
	va_list ap;

	if (rc->refused[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(rc->refused, sizeof(rc->refused), fmt, ap);
		va_end(ap);
	}
	return NULL;
}

/*
 * Whether a new object may be made.  A reply's first object starts the
 * counts of its bytes and objects, and must answer a command: hiredis
 * 0.14.1 aborts the process on any reply nobody asked for except an error
 * (which it reports by dropping the connection).
 */
static int
reply_wanted(struct redisconn *rc, const redisReadTask *t)
{
	if (t->parent != NULL)
		return 1;
	rc->reply_bytes = 0;
	rc->reply_objects = 0;
	return rc->outstanding > 0 || t->type == REDIS_REPLY_ERROR;
}

/* One more object of the reply; 0, or -1 (refused) past max_total. */
static int
count_object(struct redisconn *rc)
{
	if (++rc->reply_objects <= rc->cfg.lim.max_total)
		return 0;
	refuse_reply(rc, "a reply of more than %zu objects", rc->cfg.lim.max_total);
	return -1;
}

static void *
bounded_string(const redisReadTask *t, char *str, size_t len)
{
	struct redisconn *rc = t->privdata;

	if (!reply_wanted(rc, t))
		return refuse_reply(rc, "%s", "a reply nobody asked for");
	if (len > rc->cfg.lim.max_bytes - rc->reply_bytes)
		return refuse_reply(rc, "a reply of more than %zu bytes",
		    rc->cfg.lim.max_bytes);
	if (count_object(rc) != 0)
		return NULL;
	rc->reply_bytes += len;
	return rc->hiredis_fns->createString(t, str, len);
}

/* How many arrays hold the one task t reads. */
static int
depth_of(const redisReadTask *t)
{
	int d = 0;

	for (const redisReadTask *p = t->parent; p != NULL; p = p->parent)
		d++;
	return d;
}

static void *
bounded_array(const redisReadTask *t, int elements)
{
	struct redisconn *rc = t->privdata;

	/* hiredis allocates the element pointers right away: check first. */
	if (depth_of(t) > rc->cfg.lim.max_depth)
		return refuse_reply(rc, "%s", "a nested array");
	if (!reply_wanted(rc, t))
		return refuse_reply(rc, "%s", "a reply nobody asked for");
	if (elements > rc->cfg.lim.max_elements)
		return refuse_reply(rc, "an array of %d elements (at most %d)",
		    elements, rc->cfg.lim.max_elements);
	if (count_object(rc) != 0)
		return NULL;
	return rc->hiredis_fns->createArray(t, elements);
}

static void *
bounded_integer(const redisReadTask *t, long long v)
{
	struct redisconn *rc = t->privdata;

	if (!reply_wanted(rc, t))
		return refuse_reply(rc, "%s", "a reply nobody asked for");
	if (count_object(rc) != 0)
		return NULL;
	return rc->hiredis_fns->createInteger(t, v);
}

static void *
bounded_nil(const redisReadTask *t)
{
	struct redisconn *rc = t->privdata;

	if (!reply_wanted(rc, t))
		return refuse_reply(rc, "%s", "a reply nobody asked for");
	if (count_object(rc) != 0)
		return NULL;
	return rc->hiredis_fns->createNil(t);
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
 * says: a header announcing more than max_bytes is refused as soon as it
 * is in, as is a line still without its end after max_line bytes;
 * max_bytes + max_line bounds the rest.  The reader is read as hiredis
 * 0.14.1's read.h declares it: rstack[ridx] is the item being read, and
 * once a bulk string's type byte is taken, pos is at its length.  Returns
 * 1 (and why) when the input is refused.
 */
static int
input_too_long(const struct redisconn *rc, const redisReader *r, char *why,
    size_t whylen)
{
	size_t left = r->len > r->pos ? r->len - r->pos : 0;
	size_t max_line = rc->cfg.lim.max_line, max_bytes = rc->cfg.lim.max_bytes;
	const char *p, *end;
	char num[24];
	size_t n;

	if (left > max_bytes + max_line) {
		snprintf(why, whylen, "more than %zu bytes of one reply item",
		    max_bytes + max_line);
		return 1;
	}
	if (r->buf == NULL || r->ridx < 0 || left == 0)
		return 0;
	p = r->buf + r->pos;
	end = memmem(p, left < max_line ? left : max_line, "\r\n", 2);
	if (end == NULL) {
		if (left < max_line)
			return 0;
		snprintf(why, whylen, "a line of more than %zu bytes", max_line);
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
	if (strtoll(num, NULL, 10) <= (long long)max_bytes)
		return 0;
	snprintf(why, whylen, "a string of %s bytes (at most %zu)", num, max_bytes);
	return 1;
}

/* After a read: input past the bounds drops the connection at once. */
static void
check_input(redisAsyncContext *ac)
{
	struct redisconn *rc = ac->data;
	char why[96];

	if (rc == NULL || rc->ac != ac ||
	    !input_too_long(rc, ac->c.reader, why, sizeof(why)))
		return;
	rc->failures++;
	set_error(rc, "refused a reply from Redis: %s", why);
	log_msg(LOG_WARN, rc->name, "Redis connection lost, reconnecting error=\"%s\"",
	    rc->last_error);
	/* Called from the poll callback, not from hiredis: free it now. */
	drop_context(rc);
	schedule_reconnect(rc);
}

/* ---- the interface ---- */

struct redisconn *
redisconn_new(uv_loop_t *loop, const struct redisconn_cfg *cfg,
    const struct redisconn_hooks *hooks)
{
	struct redisconn *rc = calloc(1, sizeof(*rc));

	if (rc == NULL)
		return NULL;
	rc->loop = loop;
	rc->cfg = *cfg;
	rc->hooks = *hooks;
	rc->name = strdup(cfg->name);
	rc->password = cfg->password ? strdup(cfg->password) : NULL;
	if (rc->name == NULL || (cfg->password != NULL && rc->password == NULL)) {
		free(rc->name);
		free(rc->password);
		free(rc);
		return NULL;
	}
	rc->cfg.name = rc->name;
	rc->cfg.password = rc->password;
	rc->state = RC_DOWN;
	uv_timer_init(loop, &rc->retry_timer);
	uv_timer_init(loop, &rc->deadline);
	rc->retry_timer.data = rc->deadline.data = rc;
	/* Redis alone never keeps the loop alive. */
	uv_unref((uv_handle_t *)&rc->retry_timer);
	uv_unref((uv_handle_t *)&rc->deadline);
	/* From the loop, so that no hook runs before the user has rc. */
	uv_timer_start(&rc->retry_timer, on_retry, 0, 0);
	return rc;
}

enum redisconn_state
redisconn_state(const struct redisconn *rc)
{
	return rc->state;
}

const char *
redisconn_state_name(enum redisconn_state st)
{
	return redisconn_state_names[st];
}

int
redisconn_ready(const struct redisconn *rc)
{
	return rc != NULL && rc->state == RC_READY && rc->ac != NULL;
}

int
redisconn_command(struct redisconn *rc, redisconn_reply_fn fn,
    void *privdata, int argc, const char **argv, const size_t *lens)
{
	if (!redisconn_ready(rc))
		return -1;
	return send_command(rc, fn, privdata, argc, argv, lens);
}

void
redisconn_proven(struct redisconn *rc)
{
	rc->backoff_ms = 0;
	rc->failures_at_proof = rc->failures;
}

int
redisconn_failed_since_proven(const struct redisconn *rc)
{
	return rc->failures != rc->failures_at_proof;
}

void
redisconn_fail(struct redisconn *rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_error(rc, fmt, ap);
	va_end(ap);
	rc->failures++;
	log_msg(LOG_ERR, rc->name, "Redis connection dropped error=\"%s\"", rc->last_error);
	/* Not from inside the callback: let the deadline drop it. */
	if (rc->ac != NULL)
		ask_drop(rc);
}

void
redisconn_note_error(struct redisconn *rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_error(rc, fmt, ap);
	va_end(ap);
	rc->failures++;
}

uint64_t
redisconn_connects(const struct redisconn *rc)
{
	return rc->connects;
}

uint64_t
redisconn_failures(const struct redisconn *rc)
{
	return rc->failures;
}

const char *
redisconn_last_error(const struct redisconn *rc)
{
	return rc->last_error;
}

void
redisconn_close(struct redisconn *rc)
{
	if (rc == NULL || rc->closing)
		return;
	rc->closing = 1;
	drop_context(rc);
	rc->state = RC_DOWN;
	uv_close((uv_handle_t *)&rc->retry_timer, NULL);
	uv_close((uv_handle_t *)&rc->deadline, NULL);
}

void
redisconn_free(struct redisconn *rc)
{
	if (rc == NULL)
		return;
	free(rc->name);
	free(rc->password);
	free(rc);
}
