/* audit.c - the Redis audit shipper (see audit.h). */
#define LOG_COMPONENT "audit"

#include "audit.h"


#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "alloc.h"
#include "datadir.h"
#include "jcursor.h"
#include "json.h"
#include "log.h"
#include "record.h"
#include "redisconn.h"
#include "uuid7.h"

#define BATCH_RECORDS 500
#define BATCH_BYTES (512u << 10)
#define CONNECT_TIMEOUT_MS 2000
#define BATCH_TIMEOUT_MS 5000

/*
 * Stores each event once.  ARGV: prefix, epoch, subject_maxlen,
 * stream_maxlen, then per event in LSN order: lsn, id, event JSON, the
 * number of subjects, the subjects.  Events at or below the epoch's shipped
 * LSN were stored before: skipped.  A subject joins the `subjects` set when
 * its list is created.  (parkd reads ids and subjects out of its own
 * records, so Redis decodes no JSON.)
 *
 * The batch's commands are grouped, not made event by event: one MSET of
 * every event and ref count, then for each subject one RPUSH of all its
 * ids and one trim of what overflowed, one DEL of the events no list holds
 * any more, one SADD of the new subjects, and an XADD each.  A batch's
 * events share their gates and often their spots and vehicles, so a batch
 * of entries and exits makes 3-4 calls an event instead of about 10.  That
 * saves about a tenth of Redis's CPU in large batches and nothing in small
 * ones (tests/bench/audit_script.py): most of the cost is the keys each
 * event creates and, per batch, the EVAL itself.  The end state is the one
 * event-by-event storing leaves (MSET comes first, so an event both pushed
 * and trimmed within the batch is counted down and deleted as it would
 * have been).  "many" keeps each call under a thousand arguments: Lua's
 * stack is bounded (a batch of 500 events is two MSETs).
 */
static const char store_script[] =
"local p, epoch = ARGV[1], ARGV[2]\n"
"local smax, xmax = tonumber(ARGV[3]), ARGV[4]\n"
"local shipped = tonumber(redis.call('HGET', p .. 'audit:shipped', epoch) or '0')\n"
"local function many(cmd, key, args)\n"
"  local r\n"
"  for j = 1, #args, 1000 do\n"
"    local k = math.min(j + 999, #args)\n"
"    if key then r = redis.call(cmd, key, unpack(args, j, k))\n"
"    else r = redis.call(cmd, unpack(args, j, k)) end\n"
"  end\n"
"  return r\n"
"end\n"
"local i, stored = 5, 0\n"
"local kv, events, ids, order = {}, {}, {}, {}\n"
"while i <= #ARGV do\n"
"  local lsn, id, json = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]\n"
"  local ns = tonumber(ARGV[i + 3])\n"
"  if lsn > shipped then\n"
"    if ns > 0 then\n"
"      kv[#kv + 1] = p .. 'audit:' .. id\n"
"      kv[#kv + 1] = json\n"
"      kv[#kv + 1] = p .. 'audit:' .. id .. ':ref'\n"
"      kv[#kv + 1] = ns\n"
"    end\n"
"    for k = 1, ns do\n"
"      local s = ARGV[i + 3 + k]\n"
"      if not ids[s] then ids[s] = {}; order[#order + 1] = s end\n"
"      ids[s][#ids[s] + 1] = id\n"
"    end\n"
"    events[#events + 1] = json\n"
"    shipped = lsn\n"
"    stored = stored + 1\n"
"  end\n"
"  i = i + 4 + ns\n"
"end\n"
"many('MSET', nil, kv)\n"
"local new, gone = {}, {}\n"
"for _, s in ipairs(order) do\n"
"  local key = p .. 'subject:' .. s\n"
"  local n = many('RPUSH', key, ids[s])\n"
"  if n == #ids[s] then new[#new + 1] = s end\n"
"  if n > smax then\n"
"    local old = redis.call('LRANGE', key, 0, n - smax - 1)\n"
"    redis.call('LTRIM', key, n - smax, -1)\n"
"    for _, o in ipairs(old) do\n"
"      if redis.call('DECR', p .. 'audit:' .. o .. ':ref') <= 0 then\n"
"        gone[#gone + 1] = p .. 'audit:' .. o\n"
"        gone[#gone + 1] = p .. 'audit:' .. o .. ':ref'\n"
"      end\n"
"    end\n"
"  end\n"
"end\n"
"many('DEL', nil, gone)\n"
"many('SADD', p .. 'subjects', new)\n"
"for _, json in ipairs(events) do\n"
"  redis.call('XADD', p .. 'events', 'MAXLEN', '~', xmax, '*', 'event', json)\n"
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
	int off;			/* audit.redis is null */
	struct redisconn *rc;		/* NULL when off */
	uv_timer_t persist_timer;	/* writes audit.pos now and then */
	uv_timer_t read_timer;		/* the next journal read after a failed one */
	char epoch[UUID_BUFSZ];
	char pos_path[4200];

	uint64_t acked;			/* Redis holds every event up to here */
	uint64_t persisted;		/* acked as last written to audit.pos */
	int persisting;
	struct jcursor cur;
	int reading;			/* a journal read is on the thread pool */
	int sending;			/* a batch is at Redis */
	uint64_t batch_last;

	int read_backoff;		/* a journal read failed: wait before the next */
	uint64_t shipped, batches, dropped;
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
};

static void pump(struct audit *a);
static void on_read_retry(uv_timer_t *t);

/* Redis holds every durable event: nothing waits to be shipped. */
static int
caught_up(const struct audit *a)
{
	return journal_durable(a->j) <= a->acked;
}

/* A reply came: Redis answers and, having everything, is not stalled. */
static void
got_reply(struct audit *a)
{
	if (caught_up(a))
		a->stalled = 0;
}

/* Connected and not closing: batches and look-ups may be sent. */
static int
ready(const struct audit *a)
{
	return !a->off && redisconn_ready(a->rc);
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

	if (a == NULL || a->off)
		return 0;
	now = uv_now(a->loop);

	if (caught_up(a))
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
		log_warn("position file damaged, shipping again from the start of the "
		    "journal (Redis skips what it already has only for the same epoch) "
		    "file=%s", a->pos_path);
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
		log_warn("could not write the position file=%s", w->path);
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

/* ---- the connection (redisconn.h) ---- */

static void
rewind_cursor(struct audit *a)
{
	a->sending = 0;
	a->cur.next_lsn = a->acked + 1;
	a->cur.positioned = 0;
}

/* The connection went away: what was at Redis is read and sent again. */
static void
on_down(void *ud)
{
	rewind_cursor(ud);
}

/* A command went unanswered: stalled until a batch is stored. */
static void
on_timed_out(void *ud)
{
	struct audit *a = ud;

	a->stalled = 1;
}

static void
on_ready(void *ud)
{
	struct audit *a = ud;

	/* Nothing waits to be shipped: nothing is stalled. */
	if (caught_up(a))
		a->stalled = 0;
	log_info("connected to Redis, shipping redis=%s:%d from_lsn=%" PRIu64,
	    a->cfg->audit.redis.host, a->cfg->audit.redis.port, a->acked + 1);
	rewind_cursor(a);
	pump(a);
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
on_stored(void *privdata, redisReply *reply)
{
	struct audit *a = privdata;

	if (reply == NULL) {
		/* Not delivered: the batch is read and sent again later. */
		rewind_cursor(a);
		return;
	}
	got_reply(a);
	a->sending = 0;
	/* The script answers how many it stored: anything else stored nothing. */
	if (reply->type != REDIS_REPLY_INTEGER) {
		rewind_cursor(a);
		redisconn_fail(a->rc, "store script: %s",
		    reply->type == REDIS_REPLY_ERROR ? reply->str : "not a count");
		return;
	}
	a->shipped += a->batch_last - a->acked;
	a->acked = a->batch_last;
	a->batches++;
	a->stalled = 0;
	ages_forget(a);
	/* Only a stored batch proves Redis works: a connect alone does not. */
	redisconn_proven(a->rc);
	journal_retain_from(a->j, a->acked);
	pump(a);
}

static void
send_batch(struct audit *a, struct read_work *w)
{
	int rc;

	/* hiredis copies the arguments into its output buffer right here. */
	rc = redisconn_command(a->rc, on_stored, a, (int)w->argc, w->argv, w->lens);
	if (rc != 0) {
		rewind_cursor(a);
		return;
	}
	a->sending = 1;
	a->batch_last = w->batch.lsn[w->batch.n - 1];
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
		redisconn_note_error(a->rc, "%s", "reading the journal failed");
		log_warn("reading the journal failed, trying again in a second error=\"%s\"",
		    redisconn_last_error(a->rc));
		/* Not at once: a lasting error would spin a pool thread. */
		a->read_backoff = 1;
		uv_timer_start(&a->read_timer, on_read_retry, 1000, 0);
	} else {
		if (w->batch.skipped > 0) {
			a->dropped += w->batch.skipped;
			log_err("events pruned from the journal before Redis took them "
			    "(audit.max_backlog) events=%" PRIu64, w->batch.skipped);
		}
		a->cur = w->cur;
		if (w->unreadable > 0)
			log_err("journal records unreadable for their subjects, stored without "
			    "records=%zu", w->unreadable);
		if (w->batch.n > 0 && ready(a) && !a->sending)
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
	if (!ready(a) || a->reading || a->sending || a->closing ||
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
	if (a != NULL && !a->off) {
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
on_history(void *privdata, redisReply *reply)
{
	struct hist *h = privdata;
	struct jw w;
	char *events;
	size_t len;

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

	if (a == NULL || !ready(a))
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
	if (redisconn_command(a->rc, on_history, h, 6, argv, NULL) != 0) {
		free(h);
		return -1;
	}
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
	a->off = !cfg->audit.redis.enabled;
	if (!a->off) {
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
			log_warn("the position is past the journal, starting a new epoch "
			    "file=%s lsn=%" PRIu64 " journal_lsn=%" PRIu64, a->pos_path, a->acked,
			    journal_durable(j));
			if (new_epoch(a, err, errlen) != 0) {
				free(a);
				return NULL;
			}
		}
	}
	if (!a->off) {
		struct redisconn_cfg rcfg = {
			.name = "audit",
			.ep = cfg->audit.redis,
			.password = cfg->audit.password,
			/* The replies asked for: see audit.h. */
			.lim = { .max_elements = AUDIT_REPLY_MAX_ELEMENTS,
			    .max_depth = 0, .max_total = AUDIT_REPLY_MAX_ELEMENTS + 1,
			    .max_bytes = AUDIT_REPLY_MAX_BYTES,
			    .max_line = AUDIT_REPLY_MAX_LINE },
			.connect_timeout_ms = CONNECT_TIMEOUT_MS,
			.reply_timeout_ms = BATCH_TIMEOUT_MS,
		};
		struct redisconn_hooks hooks = { a, on_ready, on_down, on_timed_out };

		if ((a->rc = redisconn_new(loop, &rcfg, &hooks)) == NULL) {
			snprintf(err, errlen, "out of memory");
			free(a);
			return NULL;
		}
	}
	uv_timer_init(loop, &a->persist_timer);
	uv_timer_init(loop, &a->read_timer);
	a->persist_timer.data = a->read_timer.data = a;
	uv_unref((uv_handle_t *)&a->read_timer);
	uv_unref((uv_handle_t *)&a->persist_timer);
	if (a->off)
		return a;
	a->cur.next_lsn = a->acked + 1;
	journal_retain_from(j, a->acked);
	/* A backlog from before the start is counted from the start. */
	ages_note(a, journal_durable(j));
	uv_timer_start(&a->persist_timer, on_persist, 1000, 1000);
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
	if (a == NULL || a->off || !a->held)
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
	return a == NULL || a->off ? "" : a->epoch;
}

uint64_t
audit_acked(const struct audit *a)
{
	return a == NULL || a->off ? 0 : a->acked;
}

/*
 * Connected is not enough: a Redis that takes connections and then fails
 * every batch (refused replies, errors) is connected between failures.
 * So while events wait, a failure since the last stored batch counts
 * until a batch is stored again.  With nothing waiting, connected is ok;
 * a standby's audit (held) stores nothing and is judged by its connection.
 */
int
audit_ok(const struct audit *a)
{
	if (a == NULL || a->off)
		return 1;
	if (!ready(a) || a->stalled)
		return 0;
	return a->held || !redisconn_failed_since_proven(a->rc) || caught_up(a);
}

const char *
audit_state(const struct audit *a)
{
	if (a == NULL)
		return "off";
	if (a->off)
		return "off";
	return a->stalled ? "stalled" :
	    redisconn_state_name(redisconn_state(a->rc));
}

uint64_t
audit_pending(const struct audit *a)
{
	if (a == NULL || a->off || caught_up(a))
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
	c->dropped = a->dropped;
	if (a->off)
		return;
	c->failures = redisconn_failures(a->rc);
	c->connects = redisconn_connects(a->rc);
}

void
audit_health(const struct audit *a, struct jw *w)
{
	jw_kstr(w, "state", audit_state(a));
	jw_kuint(w, "pending", audit_pending(a));
	if (a == NULL || a->off)
		return;
	jw_kuint(w, "oldest_unshipped_age_s", audit_oldest_unshipped_age_s(a));
	jw_kuint(w, "shipped_lsn", a->acked);
	jw_kuint(w, "shipped", a->shipped);
	jw_kuint(w, "batches", a->batches);
	jw_kuint(w, "connects", redisconn_connects(a->rc));
	jw_kuint(w, "failures", redisconn_failures(a->rc));
	if (a->dropped > 0)
		jw_kuint(w, "dropped", a->dropped);
	if (redisconn_last_error(a->rc)[0] != '\0')
		jw_kstr(w, "last_error", redisconn_last_error(a->rc));
}

void
audit_close(struct audit *a)
{
	if (a == NULL || a->closing)
		return;
	a->closing = 1;
	redisconn_close(a->rc);
	if (!a->off && a->acked != a->persisted &&
	    write_pos(a->pos_path, a->epoch, a->acked) == 0)
		a->persisted = a->acked;
	uv_close((uv_handle_t *)&a->persist_timer, NULL);
	uv_close((uv_handle_t *)&a->read_timer, NULL);
}

void
audit_free(struct audit *a)
{
	if (a != NULL)
		redisconn_free(a->rc);
	free(a);
}
