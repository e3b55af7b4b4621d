/*
 * loadgen.c - closed-loop TCP load generator for parkd.
 *
 *   loadgen -p PORT [-h HOST] [-c CONNECTIONS] [-d SECONDS] [-w WARMUP_SECONDS]
 *           [-P PIPELINE_DEPTH] [-g GATE_IN] [-G GATE_OUT] [-t THREADS]
 *           [-m parkd|redis] [-r RATE]
 *
 * Every connection runs the same loop: `entry` of a fresh plate (class car)
 * at GATE_IN, then `exit` of that plate at GATE_OUT, as JSON-RPC 2.0 lines
 * with numeric ids, keeping up to PIPELINE_DEPTH requests in flight (1: send
 * the next request when the reply to the previous one arrives).  Because the
 * daemon answers the requests of one connection in order, an exit may be
 * pipelined right behind its entry.
 *
 * The connections are spread over one thread per online CPU (or -t), each
 * with its own epoll set over non-blocking sockets.  Latency is send ->
 * complete reply line, CLOCK_MONOTONIC, into a log-linear histogram (64
 * sub-buckets per power of two, <= 1.6 % error).  Only replies that arrive
 * inside the measured window [warm-up end, warm-up end + SECONDS) count for
 * throughput and latency; errors are counted over the whole run.  At the end
 * each connection finishes the pair it has started (drain), so the garage is
 * left empty for the next run.
 *
 * Every reply must be a JSON-RPC result; error replies are counted by method
 * and error.data.reason.  A protocol failure (bad JSON, wrong id, the daemon
 * closing the connection) is counted and ends that connection.  A reply that
 * begins exactly as parkd writes a result ({"jsonrpc":"2.0","id":N,"result":)
 * is taken as a result without parsing the rest, so that the generator stays
 * far ahead of the daemon on one core; anything else goes through cJSON.
 *
 * With -r RATE the load is paced: RATE requests a second over all
 * connections, each connection sending its next operation no earlier than
 * its schedule (evenly spaced, connections staggered), still at most
 * PIPELINE in flight.  Latency is still measured from the actual send, so
 * a run that cannot keep up shows a rate below RATE, not a long latency;
 * it is meant for latency at a rate the daemon can sustain (half its peak).
 *
 * With -m redis the same loop runs against a redis-server, as the yardstick:
 * each operation is `SET <plate> <gate>` (a RESP array, as client libraries
 * send it), the plate of a pair the same for its two SETs and reused after
 * 10 000 pairs per connection (bounded memory), and every reply must be +OK.
 * A pair is then two SETs, so pairs/s and requests/s mean the same as for
 * parkd.
 *
 * Output: a human-readable report, then one machine-readable line
 *   RESULT mode=parkd|redis conns=.. threads=.. pipeline=.. seconds=.. pairs=.. pairs_per_s=..
 *          requests=.. req_per_s=.. p50_us=.. p90_us=.. p99_us=.. p999_us=..
 *          max_us=.. errors=.. lost=.. cpu_pct=..
 * (errors: error replies and protocol failures; lost: connections that
 * failed or did not finish draining; cpu_pct: loadgen's own CPU time over
 * the whole run, in % of one core.)
 * Exit status: 0 clean, 1 when any error or failed connection was seen,
 * 2 on bad usage or when the daemon cannot be reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define MAX_CONNS	10000
#define MAX_THREADS	256
#define MAX_PIPELINE	4096
#define MAX_GATE	64
#define REQ_MAX		(160 + 2 * MAX_GATE)	/* one request line, generously */
#define RBUF_INIT	16384
#define RBUF_MAX	(1u << 20)		/* longest reply line accepted */
#define DRAIN_NS	(10ull * 1000000000ull)	/* finishing started pairs */
#define MAX_REASONS	32
#define REASON_LEN	96
#define REDIS_KEYS	10000			/* plates per connection in -m redis */

/* --- histogram ------------------------------------------------------- */

#define H_SUB_BITS	6
#define H_SUB		(1u << H_SUB_BITS)
#define H_BUCKETS	((64 - H_SUB_BITS + 1) * H_SUB)

struct hist {
	uint64_t n, sum, max;
	uint64_t b[H_BUCKETS];
};

static unsigned
h_index(uint64_t v)
{
	unsigned e;

	if (v < H_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);	/* >= H_SUB_BITS */
	return (e - H_SUB_BITS + 1) * H_SUB +
	    (unsigned)((v >> (e - H_SUB_BITS)) - H_SUB);
}

/* The middle of bucket i (exact below H_SUB). */
static uint64_t
h_value(unsigned i)
{
	unsigned e, sub;
	uint64_t lo, width;

	if (i < H_SUB)
		return i;
	e = i / H_SUB + H_SUB_BITS - 1;
	sub = i % H_SUB;
	width = (uint64_t)1 << (e - H_SUB_BITS);
	lo = (uint64_t)(H_SUB + sub) << (e - H_SUB_BITS);
	return lo + width / 2;
}

static void
h_add(struct hist *h, uint64_t v)
{
	h->b[h_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

static void
h_merge(struct hist *to, const struct hist *from)
{
	for (unsigned i = 0; i < H_BUCKETS; i++)
		to->b[i] += from->b[i];
	to->n += from->n;
	to->sum += from->sum;
	if (from->max > to->max)
		to->max = from->max;
}

/* The q-quantile (0 < q <= 1), never above the exact maximum. */
static uint64_t
h_quantile(const struct hist *h, double q)
{
	uint64_t want, seen = 0;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n + 0.999999);
	if (want < 1)
		want = 1;
	if (want > h->n)
		want = h->n;
	for (unsigned i = 0; i < H_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = h_value(i);

			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

/* --- error tally ----------------------------------------------------- */

struct tally {
	int n;
	uint64_t other, total;
	struct {
		char key[REASON_LEN];
		uint64_t count;
	} r[MAX_REASONS];
};

static void
tally_add(struct tally *t, const char *key, uint64_t count)
{
	t->total += count;
	for (int i = 0; i < t->n; i++) {
		if (strcmp(t->r[i].key, key) == 0) {
			t->r[i].count += count;
			return;
		}
	}
	if (t->n == MAX_REASONS) {
		t->other += count;
		return;
	}
	snprintf(t->r[t->n].key, REASON_LEN, "%s", key);
	t->r[t->n].count = count;
	t->n++;
}

/* --- configuration and shared state ---------------------------------- */

struct opts {
	const char *host, *port, *gate_in, *gate_out;
	int conns, threads, pipeline, redis;
	double seconds, warmup, rate;
};

static struct opts O;
static char run_tag[4];			/* 3 base-36 characters */
static uint64_t t_start, t_warm_end, t_end;
static uint64_t pace_ns;		/* -r: ns between one connection's sends */

struct conn {
	int fd, idx, dead, done, want_out;
	char tag[8];			/* run tag + connection number */
	char *rbuf, *wbuf;
	size_t rlen, rcap, wlen, woff, wcap;
	uint64_t next_op;		/* next operation to send */
	uint64_t acked;			/* operations answered so far */
	uint64_t stamped;		/* operations given a send time */
	uint64_t *sent_ns;		/* ring of PIPELINE send times */
	uint64_t due_ns;		/* -r: when the next operation may go */
};

struct worker {
	pthread_t th;
	int ep, n, stopping;
	struct conn **c;
	struct hist h;
	struct tally err;
	uint64_t pairs, requests, ok, dead, undrained;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
base36(uint64_t v, char *out, size_t width)
{
	static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	char tmp[16];
	size_t n = 0;

	do {
		tmp[n++] = digits[v % 36];
		v /= 36;
	} while (v != 0 && n < sizeof(tmp));
	while (n < width && n < sizeof(tmp))
		tmp[n++] = '0';
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
}

/* --- one connection --------------------------------------------------- */

static void
conn_fail(struct worker *w, struct conn *c, const char *why)
{
	char key[REASON_LEN + 16];

	if (c->dead)
		return;
	snprintf(key, sizeof(key), "connection %s", why);
	tally_add(&w->err, key, 1);
	c->dead = 1;
	w->dead++;
	close(c->fd);
	c->fd = -1;
}

static void
set_want_out(struct worker *w, struct conn *c, int want)
{
	struct epoll_event ev;

	if (c->want_out == want || c->dead)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
	ev.data.ptr = c;
	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
		conn_fail(w, c, "epoll_ctl failed");
		return;
	}
	c->want_out = want;
}

/* Appends operation op to the output: entry for even, exit for odd ops. */
static int
conn_enqueue(struct conn *c, uint64_t op)
{
	char plate[24], num[16];
	int n;

	if (c->wcap - c->wlen < REQ_MAX) {
		size_t cap = c->wcap * 2 + REQ_MAX;
		char *nb = realloc(c->wbuf, cap);

		if (nb == NULL)
			return -1;
		c->wbuf = nb;
		c->wcap = cap;
	}
	base36(O.redis ? op / 2 % REDIS_KEYS : op / 2, num, 1);
	snprintf(plate, sizeof(plate), "%s-%s", c->tag, num);
	if (O.redis) {
		const char *gate = op % 2 == 0 ? O.gate_in : O.gate_out;

		n = snprintf(c->wbuf + c->wlen, c->wcap - c->wlen,
		    "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
		    strlen(plate), plate, strlen(gate), gate);
	} else if (op % 2 == 0)
		n = snprintf(c->wbuf + c->wlen, c->wcap - c->wlen,
		    "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"entry\","
		    "\"params\":{\"gate\":\"%s\",\"plate\":\"%s\",\"class\":\"car\"}}\n",
		    op + 1, O.gate_in, plate);
	else
		n = snprintf(c->wbuf + c->wlen, c->wcap - c->wlen,
		    "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"exit\","
		    "\"params\":{\"gate\":\"%s\",\"plate\":\"%s\"}}\n",
		    op + 1, O.gate_out, plate);
	if (n < 0 || (size_t)n >= c->wcap - c->wlen)
		return -1;
	c->wlen += (size_t)n;
	return 0;
}

/*
 * Queues requests until PIPELINE are in flight (paced: those that are due);
 * stopping: only open exits, unpaced.
 */
static void
conn_fill(struct worker *w, struct conn *c)
{
	uint64_t now = pace_ns != 0 && !w->stopping ? now_ns() : 0;

	if (c->dead)
		return;
	while (c->next_op - c->acked < (uint64_t)O.pipeline) {
		if (w->stopping && c->next_op % 2 == 0)
			break;
		if (now != 0) {
			if (now < c->due_ns)
				break;
			c->due_ns += pace_ns;
		}
		if (conn_enqueue(c, c->next_op) != 0) {
			conn_fail(w, c, "out of memory");
			return;
		}
		c->next_op++;
	}
	if (w->stopping && c->acked == c->next_op && c->next_op % 2 == 0)
		c->done = 1;
}

static void
conn_flush(struct worker *w, struct conn *c)
{
	if (c->dead)
		return;
	if (c->stamped != c->next_op) {
		uint64_t t = now_ns();

		for (; c->stamped != c->next_op; c->stamped++)
			c->sent_ns[c->stamped % (uint64_t)O.pipeline] = t;
	}
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
		    MSG_NOSIGNAL);

		if (n > 0) {
			c->woff += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else {
			char why[80];

			snprintf(why, sizeof(why), "send: %s",
			    n < 0 ? strerror(errno) : "returned 0");
			conn_fail(w, c, why);
			return;
		}
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	set_want_out(w, c, c->woff < c->wlen);
}

static const char *
reason_of(const cJSON *err, char *buf, size_t len)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(err, "data");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(data, "reason");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");

	if (cJSON_IsString(r) && r->valuestring != NULL)
		return r->valuestring;
	if (cJSON_IsNumber(code)) {
		snprintf(buf, len, "code %.0f", code->valuedouble);
		return buf;
	}
	return "error without reason";
}

/* Counts the answer to operation op (an error when err is not NULL). */
static void
conn_answered(struct worker *w, struct conn *c, uint64_t op, uint64_t now,
    const char *err)
{
	c->acked++;
	if (now >= t_warm_end && now < t_end) {
		uint64_t sent = c->sent_ns[op % (uint64_t)O.pipeline];

		h_add(&w->h, now > sent ? now - sent : 0);
		w->requests++;
		if (err == NULL) {
			w->ok++;
			if (op % 2 == 1)
				w->pairs++;
		}
	}
	if (err != NULL) {
		char key[REASON_LEN];

		snprintf(key, sizeof(key), "%s %s", op % 2 ? "exit" : "entry", err);
		tally_add(&w->err, key, 1);
		/* A failed entry: skip its exit unless it is already sent. */
		if (op % 2 == 0 && c->next_op == op + 1)
			c->next_op = c->acked = c->stamped = op + 2;
	}
}

/*
 * A result written the way parkd writes it: {"jsonrpc":"2.0","id":N,"result":
 * with N the id expected.  1 when it is one, 0 when the line must be parsed.
 */
static int
fast_result(const char *line, size_t len, uint64_t want)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
	static const char tail[] = ",\"result\":";
	size_t i = sizeof(head) - 1;
	uint64_t id = 0;

	if (len < sizeof(head) - 1 || memcmp(line, head, sizeof(head) - 1) != 0)
		return 0;
	if (i >= len || line[i] < '1' || line[i] > '9')
		return 0;
	for (; i < len && line[i] >= '0' && line[i] <= '9' && i < 40; i++)
		id = id * 10 + (uint64_t)(line[i] - '0');
	if (id != want || len - i < sizeof(tail) - 1 ||
	    memcmp(line + i, tail, sizeof(tail) - 1) != 0)
		return 0;
	return line[len - 1] == '}';
}

/* One RESP reply line from redis-server; -1 when the connection was given up. */
static int
conn_redis_reply(struct worker *w, struct conn *c, const char *line, size_t len,
    uint64_t now)
{
	char why[REASON_LEN];

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (c->acked == c->next_op) {
		conn_fail(w, c, "sent a reply nobody asked for");
		return -1;
	}
	if (len == 3 && memcmp(line, "+OK", 3) == 0) {
		conn_answered(w, c, c->acked, now, NULL);
		return 0;
	}
	if (len > 0 && line[0] == '-') {
		snprintf(why, sizeof(why), "%.*s", (int)(len > 60 ? 60 : len), line);
		conn_answered(w, c, c->acked, now, why);
		return 0;
	}
	conn_fail(w, c, "sent a reply other than +OK or an error");
	return -1;
}

/* One reply line; returns -1 when the connection had to be given up. */
static int
conn_reply(struct worker *w, struct conn *c, const char *line, size_t len,
    uint64_t now)
{
	const cJSON *id, *result, *error, *ver;
	uint64_t op;
	cJSON *j;

	if (O.redis)
		return conn_redis_reply(w, c, line, len, now);
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	if (c->acked != c->next_op && fast_result(line, len, c->acked + 1)) {
		conn_answered(w, c, c->acked, now, NULL);
		return 0;
	}
	j = cJSON_ParseWithLength(line, len);
	if (j == NULL || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		conn_fail(w, c, "sent a reply that is not a JSON object");
		return -1;
	}
	id = cJSON_GetObjectItemCaseSensitive(j, "id");
	if (id == NULL && cJSON_GetObjectItemCaseSensitive(j, "method") != NULL) {
		cJSON_Delete(j);		/* a pushed notification */
		return 0;
	}
	result = cJSON_GetObjectItemCaseSensitive(j, "result");
	error = cJSON_GetObjectItemCaseSensitive(j, "error");
	op = c->acked;
	if (op == c->next_op) {
		cJSON_Delete(j);
		conn_fail(w, c, "sent a reply nobody asked for");
		return -1;
	}
	/* Errors answered before the id is known (rate_limited) carry id null. */
	if (!(cJSON_IsNumber(id) && id->valuedouble == (double)(op + 1)) &&
	    !(cJSON_IsNull(id) && error != NULL)) {
		cJSON_Delete(j);
		conn_fail(w, c, "answered out of order (id mismatch)");
		return -1;
	}
	if ((result == NULL) == (error == NULL)) {
		cJSON_Delete(j);
		conn_fail(w, c, "sent a reply with neither or both of result and error");
		return -1;
	}
	ver = cJSON_GetObjectItemCaseSensitive(j, "jsonrpc");
	if (!cJSON_IsString(ver) || ver->valuestring == NULL ||
	    strcmp(ver->valuestring, "2.0") != 0)
		tally_add(&w->err, "reply without \"jsonrpc\":\"2.0\"", 1);
	if (error != NULL) {
		char buf[32];

		conn_answered(w, c, op, now, reason_of(error, buf, sizeof(buf)));
	} else {
		conn_answered(w, c, op, now, NULL);
	}
	cJSON_Delete(j);
	return 0;
}

static void
conn_read(struct worker *w, struct conn *c)
{
	for (;;) {
		size_t scan, start;
		ssize_t n;
		uint64_t now;
		int more;

		if (c->dead)
			return;
		if (c->rlen == c->rcap) {
			size_t cap = c->rcap * 2;
			char *nb;

			if (cap > RBUF_MAX) {
				conn_fail(w, c, "sent a reply line longer than 1 MiB");
				return;
			}
			nb = realloc(c->rbuf, cap);
			if (nb == NULL) {
				conn_fail(w, c, "out of memory");
				return;
			}
			c->rbuf = nb;
			c->rcap = cap;
		}
		n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
		if (n == 0) {
			conn_fail(w, c, "closed by the daemon");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				char why[80];

				snprintf(why, sizeof(why), "recv: %s", strerror(errno));
				conn_fail(w, c, why);
			}
			return;
		}
		now = now_ns();
		/* A short read drained the socket: epoll (level-triggered) says
		 * when there is more, which saves a recv() per reply. */
		more = (size_t)n == c->rcap - c->rlen;
		scan = c->rlen;
		c->rlen += (size_t)n;
		start = 0;
		while (scan < c->rlen) {
			const char *nl = memchr(c->rbuf + scan, '\n', c->rlen - scan);

			if (nl == NULL)
				break;
			if (conn_reply(w, c, c->rbuf + start,
			    (size_t)(nl - (c->rbuf + start)), now) != 0)
				return;
			start = scan = (size_t)(nl - c->rbuf) + 1;
		}
		if (start > 0) {
			memmove(c->rbuf, c->rbuf + start, c->rlen - start);
			c->rlen -= start;
		}
		if (!more)
			return;
	}
}

/* --- worker threads ----------------------------------------------------- */

static int
worker_live(const struct worker *w)
{
	for (int i = 0; i < w->n; i++)
		if (!w->c[i]->dead && !w->c[i]->done)
			return 1;
	return 0;
}

/* The window is over: no new pairs, only the exits of started ones. */
static void
worker_stop(struct worker *w)
{
	w->stopping = 1;
	for (int i = 0; i < w->n; i++) {
		conn_fill(w, w->c[i]);
		conn_flush(w, w->c[i]);
	}
}

/* -r: the earliest time a connection that could send is due, or until. */
static uint64_t
worker_next_due(const struct worker *w, uint64_t until)
{
	if (pace_ns == 0 || w->stopping)
		return until;
	for (int i = 0; i < w->n; i++) {
		const struct conn *c = w->c[i];

		if (!c->dead && c->next_op - c->acked < (uint64_t)O.pipeline &&
		    c->due_ns < until)
			until = c->due_ns;
	}
	return until;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[128];

	for (int i = 0; i < w->n; i++) {
		conn_fill(w, w->c[i]);
		conn_flush(w, w->c[i]);
	}
	for (;;) {
		uint64_t now = now_ns(), until;
		struct timespec ts;
		int n;

		if (!w->stopping && now >= t_end)
			worker_stop(w);
		if (!worker_live(w))
			break;
		if (w->stopping && now >= t_end + DRAIN_NS) {
			for (int i = 0; i < w->n; i++)
				if (!w->c[i]->dead && !w->c[i]->done)
					w->undrained++;
			break;
		}
		until = worker_next_due(w, w->stopping ? t_end + DRAIN_NS : t_end);
		until = until <= now ? 0 : until - now;
		if (until > 100000000)
			until = 100000000;
		/* Nanoseconds: a paced send must not wait for the next millisecond. */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)until;
		n = epoll_pwait2(w->ep, ev, (int)(sizeof(ev) / sizeof(ev[0])), &ts, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("loadgen: epoll_wait");
			for (int i = 0; i < w->n; i++)
				conn_fail(w, w->c[i], "epoll_wait failed");
			break;
		}
		if (!w->stopping && now_ns() >= t_end)
			worker_stop(w);
		for (int i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;

			if (c->dead)
				continue;
			if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_read(w, c);
			conn_fill(w, c);
			conn_flush(w, c);
		}
		/* Paced: the connections whose time has come without an event. */
		if (pace_ns != 0 && !w->stopping) {
			for (int i = 0; i < w->n; i++) {
				conn_fill(w, w->c[i]);
				conn_flush(w, w->c[i]);
			}
		}
	}
	return NULL;
}

/* --- set-up ------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: loadgen -p PORT [-h HOST] [-c CONNECTIONS] [-d SECONDS]\n"
	    "               [-w WARMUP_SECONDS] [-P PIPELINE_DEPTH] [-g GATE_IN]\n"
	    "               [-G GATE_OUT] [-t THREADS] [-m parkd|redis] [-r RATE]\n"
	    "  defaults: -h 127.0.0.1 -c 1 -d 5 -w 1 -P 1 -g north -G south -m parkd,\n"
	    "            -t one thread per online CPU (at most one per connection)\n"
	    "  -m redis: SET <plate> <gate> to a redis-server instead of entry/exit\n"
	    "  -r RATE: at most RATE requests/s over all connections (default: no pacing)\n");
}

static int
int_arg(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int
num_arg(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo) || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int
secs_arg(const char *s, double lo, double *out)
{
	return num_arg(s, lo, 86400.0, out);
}

/* Gate ids go into the JSON unescaped: allow only plain characters. */
static int
gate_ok(const char *g)
{
	size_t n = strlen(g);

	return n > 0 && n <= MAX_GATE && strspn(g,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:") == n;
}

static int
parse_opts(int argc, char **argv)
{
	int ch;

	O.host = "127.0.0.1";
	O.gate_in = "north";
	O.gate_out = "south";
	O.conns = 1;
	O.pipeline = 1;
	O.seconds = 5;
	O.warmup = 1;
	while ((ch = getopt(argc, argv, "p:h:c:d:w:P:g:G:t:m:r:")) != -1) {
		switch (ch) {
		case 'r':
			if (num_arg(optarg, 1, 1e9, &O.rate) != 0) {
				fprintf(stderr, "loadgen: -r: requests/s, 1..1e9\n");
				return -1;
			}
			break;
		case 'm':
			if (strcmp(optarg, "redis") == 0) {
				O.redis = 1;
			} else if (strcmp(optarg, "parkd") != 0) {
				fprintf(stderr, "loadgen: -m: parkd or redis\n");
				return -1;
			}
			break;
		case 'p': O.port = optarg; break;
		case 'h': O.host = optarg; break;
		case 'g': O.gate_in = optarg; break;
		case 'G': O.gate_out = optarg; break;
		case 'c':
			if (int_arg(optarg, 1, MAX_CONNS, &O.conns) != 0) {
				fprintf(stderr, "loadgen: -c: 1..%d\n", MAX_CONNS);
				return -1;
			}
			break;
		case 'P':
			if (int_arg(optarg, 1, MAX_PIPELINE, &O.pipeline) != 0) {
				fprintf(stderr, "loadgen: -P: 1..%d\n", MAX_PIPELINE);
				return -1;
			}
			break;
		case 't':
			if (int_arg(optarg, 1, MAX_THREADS, &O.threads) != 0) {
				fprintf(stderr, "loadgen: -t: 1..%d\n", MAX_THREADS);
				return -1;
			}
			break;
		case 'd':
			if (secs_arg(optarg, 0.001, &O.seconds) != 0) {
				fprintf(stderr, "loadgen: -d: seconds > 0\n");
				return -1;
			}
			break;
		case 'w':
			if (secs_arg(optarg, 0, &O.warmup) != 0) {
				fprintf(stderr, "loadgen: -w: seconds >= 0\n");
				return -1;
			}
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || O.port == NULL) {
		usage(stderr);
		return -1;
	}
	if (!gate_ok(O.gate_in) || !gate_ok(O.gate_out)) {
		fprintf(stderr, "loadgen: gate ids: 1..%d of [A-Za-z0-9_.:-]\n", MAX_GATE);
		return -1;
	}
	if (O.threads == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		O.threads = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
	}
	if (O.threads > O.conns)
		O.threads = O.conns;
	return 0;
}

static int
dial(const struct addrinfo *ai)
{
	int one = 1, fd = -1, err = 0;

	for (; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		fprintf(stderr, "loadgen: connect %s:%s: %s\n", O.host, O.port,
		    strerror(err));
		return -1;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		fprintf(stderr, "loadgen: socket options: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

int
main(int argc, char **argv)
{
	struct addrinfo hints, *ai = NULL;
	struct conn *conns;
	struct worker *ws;
	struct hist *h;
	struct tally err;
	uint64_t pairs = 0, requests = 0, ok = 0, dead = 0, undrained = 0;
	uint64_t wall_start;
	double secs, cpu, wall;
	int rc, status = 0;

	if (parse_opts(argc, argv) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(O.host, O.port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "loadgen: %s:%s: %s\n", O.host, O.port, gai_strerror(rc));
		return 2;
	}
	/* A per-run plate prefix: runs against one daemon never share plates. */
	base36(((now_ns() / 1000) ^ ((uint64_t)getpid() << 7)) % (36 * 36 * 36),
	    run_tag, 3);

	conns = calloc((size_t)O.conns, sizeof(*conns));
	ws = calloc((size_t)O.threads, sizeof(*ws));
	h = calloc(1, sizeof(*h));
	if (conns == NULL || ws == NULL || h == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 2;
	}
	for (int t = 0; t < O.threads; t++) {
		ws[t].ep = epoll_create1(EPOLL_CLOEXEC);
		ws[t].c = calloc((size_t)O.conns / (size_t)O.threads + 1, sizeof(*ws[t].c));
		if (ws[t].ep < 0 || ws[t].c == NULL) {
			fprintf(stderr, "loadgen: epoll_create1: %s\n", strerror(errno));
			return 2;
		}
	}
	for (int i = 0; i < O.conns; i++) {
		struct conn *c = &conns[i];
		struct worker *w = &ws[i % O.threads];
		struct epoll_event ev;
		char num[16];

		c->idx = i;
		c->fd = dial(ai);
		if (c->fd < 0)
			return 2;
		base36((uint64_t)i, num, 3);	/* 3 digits: i < MAX_CONNS < 36^3 */
		memcpy(c->tag, run_tag, 3);
		memcpy(c->tag + 3, num, 4);
		c->rcap = RBUF_INIT;
		c->rbuf = malloc(c->rcap);
		c->wcap = (size_t)O.pipeline * REQ_MAX + REQ_MAX;
		c->wbuf = malloc(c->wcap);
		c->sent_ns = calloc((size_t)O.pipeline, sizeof(*c->sent_ns));
		if (c->rbuf == NULL || c->wbuf == NULL || c->sent_ns == NULL) {
			fprintf(stderr, "loadgen: out of memory\n");
			return 2;
		}
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
			fprintf(stderr, "loadgen: epoll_ctl: %s\n", strerror(errno));
			return 2;
		}
		w->c[w->n++] = c;
	}
	freeaddrinfo(ai);

	cpu = cpu_seconds();
	wall_start = t_start = now_ns();
	t_warm_end = t_start + (uint64_t)(O.warmup * 1e9);
	t_end = t_warm_end + (uint64_t)(O.seconds * 1e9);
	if (O.rate > 0) {
		pace_ns = (uint64_t)((double)O.conns * 1e9 / O.rate);
		if (pace_ns == 0)
			pace_ns = 1;
		/* Staggered, so that the connections do not send in step. */
		for (int i = 0; i < O.conns; i++)
			conns[i].due_ns = t_start + pace_ns * (uint64_t)i / (uint64_t)O.conns;
	}
	for (int t = 0; t < O.threads; t++) {
		rc = pthread_create(&ws[t].th, NULL, worker_main, &ws[t]);
		if (rc != 0) {
			fprintf(stderr, "loadgen: pthread_create: %s\n", strerror(rc));
			return 2;
		}
	}
	memset(&err, 0, sizeof(err));
	for (int t = 0; t < O.threads; t++) {
		struct worker *w = &ws[t];

		pthread_join(w->th, NULL);
		h_merge(h, &w->h);
		pairs += w->pairs;
		requests += w->requests;
		ok += w->ok;
		dead += w->dead;
		undrained += w->undrained;
		for (int i = 0; i < w->err.n; i++)
			tally_add(&err, w->err.r[i].key, w->err.r[i].count);
		if (w->err.other != 0)
			tally_add(&err, "(other reasons)", w->err.other);
	}
	cpu = cpu_seconds() - cpu;
	wall = (double)(now_ns() - wall_start) / 1e9;
	secs = (double)(t_end - t_warm_end) / 1e9;

	printf("loadgen: %s %s:%s, %d connection%s on %d thread%s, pipeline %d, "
	    "warm-up %.1f s, measured %.2f s", O.redis ? "redis-server" : "parkd",
	    O.host, O.port, O.conns,
	    O.conns == 1 ? "" : "s", O.threads, O.threads == 1 ? "" : "s",
	    O.pipeline, O.warmup, secs);
	if (O.rate > 0)
		printf(", paced at %.0f requests/s", O.rate);
	printf("\n");
	printf("  entry+exit pairs  %10" PRIu64 "  %10.1f /s\n", pairs, (double)pairs / secs);
	printf("  requests          %10" PRIu64 "  %10.1f /s  (%" PRIu64 " ok)\n",
	    requests, (double)requests / secs, ok);
	printf("  latency us        p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  "
	    "max %.1f  mean %.1f\n", us(h_quantile(h, 0.50)), us(h_quantile(h, 0.90)),
	    us(h_quantile(h, 0.99)), us(h_quantile(h, 0.999)), us(h->max),
	    h->n ? us(h->sum / h->n) : 0.0);
	if (err.total == 0) {
		printf("  errors            none\n");
	} else {
		printf("  errors            %" PRIu64 " (whole run, warm-up and drain included)\n",
		    err.total);
		for (int i = 0; i < err.n; i++)
			printf("    %-44s %" PRIu64 "\n", err.r[i].key, err.r[i].count);
		status = 1;
	}
	if (dead != 0 || undrained != 0) {
		printf("  connections lost  %" PRIu64 ", not drained in %llu s: %" PRIu64
		    " (the rates above assume all of them ran the whole window)\n",
		    dead, DRAIN_NS / 1000000000ull, undrained);
		status = 1;
	}
	if (pairs == 0)
		status = 1;
	printf("  loadgen cpu       %.2f s = %.0f%% of one core over %.1f s "
	    "(%ld cpus online)\n", cpu, 100.0 * cpu / wall, wall,
	    sysconf(_SC_NPROCESSORS_ONLN));
	printf("RESULT mode=%s conns=%d threads=%d pipeline=%d seconds=%.3f pairs=%" PRIu64
	    " pairs_per_s=%.1f requests=%" PRIu64 " req_per_s=%.1f p50_us=%.1f"
	    " p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%" PRIu64
	    " lost=%" PRIu64 " cpu_pct=%.0f\n",
	    O.redis ? "redis" : "parkd", O.conns, O.threads, O.pipeline, secs, pairs, (double)pairs / secs,
	    requests, (double)requests / secs, us(h_quantile(h, 0.50)),
	    us(h_quantile(h, 0.90)), us(h_quantile(h, 0.99)),
	    us(h_quantile(h, 0.999)), us(h->max), err.total, dead + undrained,
	    100.0 * cpu / wall);

	for (int i = 0; i < O.conns; i++) {
		if (conns[i].fd >= 0)
			close(conns[i].fd);
		free(conns[i].rbuf);
		free(conns[i].wbuf);
		free(conns[i].sent_ns);
	}
	for (int t = 0; t < O.threads; t++) {
		close(ws[t].ep);
		free(ws[t].c);
	}
	free(conns);
	free(ws);
	free(h);
	return status;
}
