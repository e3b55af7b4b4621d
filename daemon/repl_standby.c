/* repl_standby.c - following a primary (see repl_standby.h). */
#define LOG_COMPONENT "repl"
#include "repl_standby.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "audit.h"
#include "datadir.h"
#include "journal.h"
#include "log.h"
#include "publish.h"
#include "record.h"
#include "regstore.h"
#include "repl.h"
#include "replication.h"
#include "server.h"
#include "tcp.h"
#include "snapshot.h"
#include "subs.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* While the promotion is not yet durable, how often to look again. */
#define FENCE_DURABLE_POLL_MS 5
/* A promoted standby tells its old primary about the new epoch this often. */
#define FENCE_EVERY_MS 1000
/* No answer to a connect and hello in this long: try again. */
#define HELLO_TIMEOUT_MS 3000
/* The primary says something at least every second: this much silence is a dead link. */
#define SILENCE_MS 10000
/* Records applied and not yet durable here past which reading waits. */
#define BACKLOG_RECORDS 100000
/* Our own unsent bytes (hello, acks) past which the primary is not reading. */
#define OUT_MAX (1u << 20)

#define STANDBY_STATES(X)					\
	X(S_WAIT, "disconnected")	/* waiting to connect again */	\
	X(S_CONNECTING, "connecting")				\
	X(S_HELLO, "hello")		/* waiting for the welcome */	\
	X(S_STREAMING, "streaming")				\
	X(S_SNAPSHOT, "snapshot")	/* receiving the snapshot */	\
	X(S_INSTALL, "installing")	/* putting it in place */	\
	X(S_STOPPED, "stopped")

enum sstate {
#define SS_ENUM(name, str) name,
	STANDBY_STATES(SS_ENUM)
#undef SS_ENUM
};

static const char *const sstate_names[] = {
#define SS_NAME(name, str) str,
	STANDBY_STATES(SS_NAME)
#undef SS_NAME
};

/* One connection; freed in its close callback. */
struct sconn {
	uv_tcp_t tcp;
	uv_connect_t req;
	struct repl_standby *rs;
};

struct repl_standby {
	struct server *s;
	enum sstate state;
	int fence_mode;			/* promoted: only telling the old primary */
	int closed;
	struct sconn *conn;
	uv_timer_t timer;		/* backoff, hello and silence watchdogs, install retries */
	struct repl_reader rd;
	uint64_t backoff_ms;
	uint32_t jitter;
	int reading;
	int backlog;			/* too much applied and not yet durable: reading waits */
	struct repl_info info;		/* the primary's, as it last said */
	int have_info;
	char primary_listen[REPL_ADDR_MAX + 1];
	char last_error[200];
	uint64_t connects, snapshots, records;
	uint64_t caught_up_ms;
	uint64_t acked;			/* the last LSN acknowledged */
	uint32_t told_epoch;		/* fence mode: the old primary heard of it */
	/*
	 * The registry (repl.h 'I' and 'C').  Records read from the primary's
	 * files come without their side records: the image it sends when we
	 * go live stands in for them, and until it is on our disk we
	 * acknowledge nothing past what we held at the hello, for a
	 * synchronous primary would otherwise answer registrations that
	 * exist on its disk only.
	 */
	struct wal_buf img;		/* the image as it comes (wiped) */
	uint64_t img_lsn;		/* its LSN; 0: none this connection */
	int img_done;			/* all of it came */
	int img_installed;
	struct wal_buf side;		/* side records waiting for their main records (wiped) */
	size_t side_off;		/* the next of them */
	uint64_t side_last;		/* the last side LSN received */
	uint64_t ack_cap;		/* acknowledged at most, until ... */
	uint64_t rewrite_ticket;	/* ... this rewrite of our store is on disk (0: not asked) */
	int img_contacts;		/* the image or what it replaced held contacts */
	uint64_t images;
	/* The snapshot being received (snapshot-<lsn>.tmp). */
	int snap_fd;
	int snap_busy;			/* a write on the thread pool */
	uint64_t snap_lsn, snap_size, snap_got;
	char readbuf[65536];
};

static void drop(struct repl_standby *rs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void process(struct repl_standby *rs);
static void on_timer(uv_timer_t *t);

/* ---- the snapshot ---- */

struct swork {
	uv_work_t req;
	struct repl_standby *rs;
	char path[DATADIR_PATH_MAX];
	int fd;
	uint64_t off;
	unsigned char *data;
	size_t len;
	int last;
	int err;
};

static void
snap_path(const struct repl_standby *rs, char *out, size_t len, const char *ext)
{
	datadir_path(out, len, journal_dir(rs->s->journal), "snapshot", rs->snap_lsn, ext);
}

/* Throws away a snapshot being received (a write in flight cleans up after itself). */
static void
abort_snapshot(struct repl_standby *rs)
{
	char path[DATADIR_PATH_MAX];

	if (rs->snap_lsn == 0 || rs->snap_busy)
		return;
	if (rs->snap_fd >= 0)
		close(rs->snap_fd);
	rs->snap_fd = -1;
	snap_path(rs, path, sizeof(path), ".tmp");
	unlink(path);
	rs->snap_lsn = 0;
}

/* Pool thread: one piece of the file; the last one is synced and closed. */
static void
work_swrite(uv_work_t *req)
{
	struct swork *w = (struct swork *)req;

	if (w->fd < 0) {
		w->fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (w->fd < 0) {
			w->err = errno;
			return;
		}
	}
	if (datadir_write_at(w->fd, w->data, w->len, w->off) != 0)
		w->err = errno;
	else if (w->last && fdatasync(w->fd) != 0)
		w->err = errno;
	if (w->last || w->err != 0) {
		close(w->fd);
		w->fd = -1;
	}
}

static void try_install(struct repl_standby *rs);

static void
after_swrite(uv_work_t *req, int status)
{
	struct swork *w = (struct swork *)req;
	struct repl_standby *rs = w->rs;

	(void)status;
	rs->snap_busy = 0;
	if (rs->state != S_SNAPSHOT || rs->closed) {
		/* Thrown away meanwhile. */
		if (w->fd >= 0)
			close(w->fd);
		unlink(w->path);
		rs->snap_fd = -1;
		rs->snap_lsn = 0;
	} else if (w->err != 0) {
		rs->snap_fd = -1;
		unlink(w->path);
		rs->snap_lsn = 0;
		drop(rs, "writing the snapshot: %s", strerror(w->err));
	} else {
		rs->snap_fd = w->fd;
		rs->snap_got += w->len;
		if (rs->snap_got == rs->snap_size) {
			rs->state = S_INSTALL;
			try_install(rs);
		} else {
			process(rs);
		}
	}
	free(w->data);
	free(w);
}

static void
on_data(struct repl_standby *rs, const unsigned char *body, size_t len)
{
	struct swork *w;

	if (rs->snap_got + len > rs->snap_size) {
		drop(rs, "more snapshot than announced");
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL || (w->data = malloc(len ? len : 1)) == NULL) {
		free(w);
		drop(rs, "out of memory");
		return;
	}
	w->rs = rs;
	snap_path(rs, w->path, sizeof(w->path), ".tmp");
	w->fd = rs->snap_fd;
	w->off = rs->snap_got;
	memcpy(w->data, body, len);
	w->len = len;
	w->last = rs->snap_got + len == rs->snap_size;
	rs->snap_busy = 1;
	if (uv_queue_work(rs->s->loop, &w->req, work_swrite, after_swrite) != 0) {
		rs->snap_busy = 0;
		free(w->data);
		free(w);
		drop(rs, "could not queue a write");
	}
}

/*
 * Puts the received snapshot in place once the journal is at rest: commit
 * the file, load it (the same loader recovery uses), restart the journal
 * after it, and take the state.  Blocking, on the loop: it is rare.
 */
static void
try_install(struct repl_standby *rs)
{
	struct server *s = rs->s;
	char tmp[DATADIR_PATH_MAX], fin[DATADIR_PATH_MAX], err[512];
	uint64_t n = 0, lsn = rs->snap_lsn;
	garage *g;

	if (rs->state != S_INSTALL)
		return;
	if (!journal_idle(s->journal)) {
		uv_timer_start(&rs->timer, on_timer, 5, 0);
		return;
	}
	snap_path(rs, tmp, sizeof(tmp), ".tmp");
	snap_path(rs, fin, sizeof(fin), ".snap");
	rs->snap_lsn = 0;
	if (rename(tmp, fin) != 0 || datadir_fsync(journal_dir(s->journal)) != 0) {
		unlink(tmp);
		drop(rs, "committing the snapshot: %s", strerror(errno));
		return;
	}
	g = journal_new_garage(s->journal);
	if (g == NULL || snapshot_load(journal_dir(s->journal), lsn, g, &n, err,
	    sizeof(err)) != 0) {
		garage_free(g);
		unlink(fin);
		drop(rs, "the primary's snapshot does not load: %s", g ? err : "out of memory");
		return;
	}
	if (journal_restart_at(s->journal, lsn, g, err, sizeof(err)) != 0) {
		garage_free(g);
		drop(rs, "%s", err);
		return;
	}
	server_on_rebuilt(s, g);
	rs->snapshots++;
	rs->acked = 0;
	rs->state = S_STREAMING;
	log_info("took the primary's snapshot lsn=%" PRIu64 " records=%" PRIu64, lsn, n);
	repl_standby_durable(rs, lsn);
	process(rs);
}

/* ---- the connection ---- */

static void
on_conn_close(uv_handle_t *h)
{
	free(h->data);
}

static void
schedule(struct repl_standby *rs, uint64_t ms)
{
	if (!rs->closed)
		uv_timer_start(&rs->timer, on_timer, ms, 0);
}

/* The next wait: doubling, with jitter; a fixed pace once promoted. */
static uint64_t
next_backoff(struct repl_standby *rs)
{
	uint64_t b;

	if (rs->fence_mode)
		return FENCE_EVERY_MS;
	rs->backoff_ms = rs->backoff_ms == 0 ? BACKOFF_MIN_MS :
	    rs->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rs->backoff_ms * 2;
	rs->jitter = rs->jitter * 1103515245u + 12345u;
	b = rs->backoff_ms * (80 + (rs->jitter >> 16) % 41) / 100;
	return b ? b : 1;
}

static void
wipe_buf(struct wal_buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->len);
	wal_buf_free(b);
}

/* A new connection: no image yet, nothing acknowledged past what we hold. */
static void
reset_registry_stream(struct repl_standby *rs)
{
	wipe_buf(&rs->img);
	wipe_buf(&rs->side);
	rs->img_lsn = 0;
	rs->img_done = rs->img_installed = 0;
	rs->side_off = 0;
	rs->side_last = 0;
	rs->ack_cap = journal_last(rs->s->journal);
	rs->rewrite_ticket = 0;
}

/* Closes the connection; the next attempt comes after a backoff. */
static void
drop(struct repl_standby *rs, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		char msg[sizeof(rs->last_error)];

		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		/*
		 * Said once: a primary down for hours is not a line every few
		 * seconds (health says how it goes).  The old primary after a
		 * promotion is mostly away: that is no news at all.
		 */
		if (strcmp(msg, rs->last_error) != 0 && !rs->fence_mode)
			log_warn("not following the primary reason=\"%s\"", msg);
		else
			log_debug("%s reason=\"%s\"", rs->fence_mode ?
			    "the old primary" : "not following the primary", msg);
		memcpy(rs->last_error, msg, sizeof(msg));
	}
	if (rs->state == S_SNAPSHOT || rs->state == S_INSTALL)
		rs->state = S_WAIT;
	abort_snapshot(rs);
	if (rs->conn != NULL) {
		uv_close((uv_handle_t *)&rs->conn->tcp, on_conn_close);
		rs->conn = NULL;
	}
	repl_reader_free(&rs->rd);
	reset_registry_stream(rs);
	rs->reading = 0;
	rs->backlog = 0;
	if (rs->state != S_STOPPED)
		rs->state = S_WAIT;
	schedule(rs, next_backoff(rs));
}

struct swrite {
	uv_write_t req;
	unsigned char data[];
};

static void
on_sent(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void
send_frame(struct repl_standby *rs, enum repl_type t, const void *body, size_t len)
{
	struct swrite *w;
	uv_buf_t b;

	if (rs->conn == NULL)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&rs->conn->tcp) > OUT_MAX) {
		drop(rs, "the primary does not read what we send");
		return;
	}
	if ((w = malloc(sizeof(*w) + REPL_HEADER + len)) == NULL) {
		drop(rs, "out of memory");
		return;
	}
	repl_header(w->data, t, len);
	memcpy(w->data + REPL_HEADER, body, len);
	b = uv_buf_init((char *)w->data, (unsigned)(REPL_HEADER + len));
	if (uv_write(&w->req, (uv_stream_t *)&rs->conn->tcp, &b, 1, on_sent) != 0) {
		free(w);
		drop(rs, "write failed");
	}
}

/* What may be acknowledged of durable (see ack_cap). */
static uint64_t
ackable(const struct repl_standby *rs, uint64_t durable)
{
	/*
	 * An empty registry replaced by an empty one: no contact is at stake,
	 * and a connect costs no more than it did without a registry.
	 */
	if (rs->img_installed && (!rs->img_contacts ||
	    journal_stats(rs->s->journal)->side_rewrites >= rs->rewrite_ticket))
		return durable;
	return durable < rs->ack_cap ? durable : rs->ack_cap;
}

static void
send_ack(struct repl_standby *rs, uint64_t lsn)
{
	unsigned char b[8];

	lsn = ackable(rs, lsn);
	repl_ack_write(b, lsn);
	rs->acked = lsn;
	send_frame(rs, REPL_ACK, b, sizeof(b));
}

/* Acknowledges durable, as far as allowed, when that is more than said. */
static void
ack_more(struct repl_standby *rs, uint64_t durable)
{
	if (rs->conn != NULL && rs->state == S_STREAMING && !rs->fence_mode &&
	    ackable(rs, durable) > rs->acked)
		send_ack(rs, durable);
}


static void
send_hello(struct repl_standby *rs)
{
	const struct server *s = rs->s;
	struct repl_hello h;
	struct jw w;

	memset(&h, 0, sizeof(h));
	snprintf(h.token, sizeof(h.token), "%s", s->cfg->repl.token);
	h.last = journal_last(s->journal);
	reset_registry_stream(rs);
	h.epoch = garage_epoch(s->g);
	settings_endpoint_text(&s->cfg->listen, h.listen, sizeof(h.listen));
	snprintf(h.facility, sizeof(h.facility), "%s", facility_name(garage_facility(s->g)));
	h.fence = rs->fence_mode;
	jw_init(&w);
	repl_hello_write(&w, &h);
	explicit_bzero(&h, sizeof(h));
	if (jw_failed(&w))
		drop(rs, "out of memory");
	else
		send_frame(rs, REPL_HELLO, w.buf, w.len);
	if (w.buf != NULL)
		explicit_bzero(w.buf, w.len);
	jw_release(&w);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct repl_standby *rs = ((struct sconn *)h->data)->rs;

	(void)hint;
	*buf = uv_buf_init(rs->readbuf, sizeof(rs->readbuf));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct sconn *sc = st->data;
	struct repl_standby *rs = sc->rs;

	if (rs->conn != sc || nread == 0)
		return;
	if (nread < 0) {
		drop(rs, "%s", nread == UV_EOF ? "the primary closed the connection" :
		    uv_strerror((int)nread));
		return;
	}
	if (rs->state == S_STREAMING || rs->state == S_SNAPSHOT)
		uv_timer_start(&rs->timer, on_timer, SILENCE_MS, 0);
	if (repl_feed(&rs->rd, buf->base, (size_t)nread) != 0) {
		drop(rs, "out of memory");
		return;
	}
	process(rs);
}

static void
start_reading(struct repl_standby *rs)
{
	int want = rs->conn != NULL && rs->state != S_CONNECTING && !rs->snap_busy &&
	    !rs->backlog && rs->state != S_INSTALL;

	if (want && !rs->reading) {
		if (uv_read_start((uv_stream_t *)&rs->conn->tcp, on_alloc, on_read) == 0)
			rs->reading = 1;
	} else if (!want && rs->reading && rs->conn != NULL) {
		uv_read_stop((uv_stream_t *)&rs->conn->tcp);
		rs->reading = 0;
	}
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct sconn *sc = req->data;
	struct repl_standby *rs = sc->rs;

	if (rs->conn != sc)
		return;
	if (status < 0) {
		drop(rs, "connect to %s:%d: %s", rs->s->cfg->repl.primary.host,
		    rs->s->cfg->repl.primary.port, uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&sc->tcp, 1);
	rs->state = S_HELLO;
	start_reading(rs);
	send_hello(rs);
}

static void
connect_primary(struct repl_standby *rs)
{
	const struct endpoint *ep = &rs->s->cfg->repl.primary;
	struct sockaddr_storage ss;
	struct sconn *sc;
	int rc;

	if (!journal_writable(rs->s->journal)) {
		/* Records would only be refused: wait for the journal. */
		schedule(rs, 1000);
		return;
	}
	rc = tcp_endpoint_addr(ep, &ss);
	if (rc != 0 || (sc = calloc(1, sizeof(*sc))) == NULL) {
		snprintf(rs->last_error, sizeof(rs->last_error), "%s",
		    rc ? "replication.primary: not a numeric address" : "out of memory");
		schedule(rs, next_backoff(rs));
		return;
	}
	sc->rs = rs;
	uv_tcp_init(rs->s->loop, &sc->tcp);
	sc->tcp.data = sc;
	sc->req.data = sc;
	rs->conn = sc;
	rs->connects++;
	rs->state = S_CONNECTING;
	if (uv_tcp_connect(&sc->req, &sc->tcp, (const struct sockaddr *)&ss, on_connect) != 0) {
		drop(rs, "connect failed");
		return;
	}
	uv_timer_start(&rs->timer, on_timer, HELLO_TIMEOUT_MS, 0);
}

static void
on_timer(uv_timer_t *t)
{
	struct repl_standby *rs = t->data;

	switch (rs->state) {
	case S_WAIT:
		/*
		 * Promoted: the old primary is told of the new epoch only once
		 * the promotion is on our disk.  A fence from an epoch a crash
		 * then took back would stop the old primary for nobody.
		 */
		if (rs->fence_mode && journal_durable(rs->s->journal) <
		    epochs_current_since(garage_epochs(rs->s->g))) {
			schedule(rs, FENCE_DURABLE_POLL_MS);
			break;
		}
		connect_primary(rs);
		break;
	case S_CONNECTING:
	case S_HELLO:
		drop(rs, "no answer from the primary in %d ms", HELLO_TIMEOUT_MS);
		break;
	case S_STREAMING:
	case S_SNAPSHOT:
		drop(rs, "nothing from the primary in %d ms", SILENCE_MS);
		break;
	case S_INSTALL:
		try_install(rs);
		break;
	case S_STOPPED:
		break;
	}
}

/* ---- what the primary sends ---- */

/* The primary's address for clients; a wildcard host is the one we connect to. */
static void
take_listen(struct repl_standby *rs, const char *listen)
{
	const char *colon = strrchr(listen, ':');
	const struct endpoint *ep = &rs->s->cfg->repl.primary;

	if (colon != NULL && ((colon - listen == 7 && strncmp(listen, "0.0.0.0", 7) == 0) ||
	    (colon - listen == 4 && strncmp(listen, "[::]", 4) == 0)))
		snprintf(rs->primary_listen, sizeof(rs->primary_listen),
		    strchr(ep->host, ':') ? "[%s]%s" : "%s%s", ep->host, colon);
	else
		snprintf(rs->primary_listen, sizeof(rs->primary_listen), "%s", listen);
}

static void
take_info(struct repl_standby *rs, const struct repl_info *i)
{
	struct server *s = rs->s;

	rs->info = *i;
	rs->have_info = 1;
	take_listen(rs, i->listen);
	if (journal_last(s->journal) >= i->last)
		rs->caught_up_ms = uv_now(s->loop);
	/* Redis holds the primary's events up to audit_lsn, under its key. */
	audit_follow(s->audit, i->audit, i->audit_lsn);
}

static void
on_welcome(struct repl_standby *rs, const unsigned char *body, size_t len)
{
	struct server *s = rs->s;
	struct repl_info i;
	char err[200] = "";

	if (repl_info_read(body, len, &i, &(struct jerr){ err, sizeof(err), 0 }) != 0) {
		drop(rs, "a bad welcome: %s", err);
		return;
	}
	take_info(rs, &i);
	rs->state = S_STREAMING;
	rs->backoff_ms = 0;
	rs->last_error[0] = '\0';
	uv_timer_start(&rs->timer, on_timer, SILENCE_MS, 0);
	log_info("following the primary primary=%s:%d epoch=%u its_lsn=%" PRIu64
	    " from_lsn=%" PRIu64, s->cfg->repl.primary.host, s->cfg->repl.primary.port,
	    i.epoch, i.last, journal_last(s->journal) + 1);
	if (ackable(rs, journal_durable(s->journal)) > 0)
		send_ack(rs, journal_durable(s->journal));
}

static void
on_refused(struct repl_standby *rs, const unsigned char *body, size_t len)
{
	struct repl_refusal r;
	char err[200] = "";

	if (repl_refusal_read(body, len, &r, &(struct jerr){ err, sizeof(err), 0 }) != 0) {
		drop(rs, "a bad refusal: %s", err);
		return;
	}
	if (rs->fence_mode) {
		uint32_t ours = garage_epoch(rs->s->g);

		/* Said once per epoch: it keeps being told, quietly. */
		if (strcmp(r.reason, "fenced") == 0 && rs->told_epoch != ours) {
			rs->told_epoch = ours;
			log_info("told the old primary of the new epoch, it takes no more "
			    "changes old_primary=%s:%d its_epoch=%u epoch=%u",
			    rs->s->cfg->repl.primary.host, rs->s->cfg->repl.primary.port,
			    r.epoch, ours);
		}
		snprintf(rs->last_error, sizeof(rs->last_error), "%s: %s", r.reason, r.message);
		drop(rs, NULL);
		return;
	}
	drop(rs, "refused (%s): %s", r.reason, r.message);
}

static void
on_snapshot(struct repl_standby *rs, const unsigned char *body, size_t len)
{
	struct repl_snapshot sn;
	char err[200] = "";

	if (repl_snapshot_read(body, len, &sn, &(struct jerr){ err, sizeof(err), 0 }) != 0) {
		drop(rs, "a bad snapshot header: %s", err);
		return;
	}
	if (sn.lsn <= journal_last(rs->s->journal) || sn.bytes == 0) {
		drop(rs, "a snapshot at LSN %" PRIu64 " is no use at LSN %" PRIu64,
		    sn.lsn, journal_last(rs->s->journal));
		return;
	}
	log_info("the primary sends its snapshot lsn=%" PRIu64 " bytes=%" PRIu64,
	    sn.lsn, sn.bytes);
	rs->state = S_SNAPSHOT;
	rs->snap_fd = -1;
	rs->snap_lsn = sn.lsn;
	rs->snap_size = sn.bytes;
	rs->snap_got = 0;
}

/* A record that begins an epoch is a promotion's own. */
static int
is_promotion(const struct wal_rec *rec)
{
	static const char t[] = "\"type\":\"replication.promoted\"";
	size_t n = rec->len < 160 ? rec->len : 160;

	return memmem(rec->payload, n, t, sizeof(t) - 1) != NULL;
}

/* Subscribers hear of it as they would on the primary. */
static void
publish(struct server *s, const struct wal_rec *rec, uint64_t lsn)
{
	char buf[4096];
	const char *id, *subj[64];
	struct change c;
	size_t used;
	int n, gate = 0;
	const char *ticket = NULL;

	if (subs_count(s->subs) == 0)
		return;
	memset(&c, 0, sizeof(c));
	c.kind = CHG_SPOT;
	n = record_peek(rec->payload, rec->len, buf, sizeof(buf), &used, &id, subj, 64);
	for (int i = 0; i < n; i++) {
		if (strncmp(subj[i], "ticket:", 7) == 0)
			ticket = subj[i] + 7;
		gate |= strncmp(subj[i], "gate:", 5) == 0;
	}
	/* An entry or an exit: search subscribers are told by plate. */
	if (ticket != NULL && gate && (c.t = garage_ticket(s->g, ticket)) != NULL)
		c.kind = CHG_ENTRY;
	publish_change(s, &c, rec->payload, rec->len, lsn);
}

/* Keeps the records of body (checked) with LSNs after `after` in b. */
static int
keep_records(struct wal_buf *b, const unsigned char *body, size_t len,
    uint64_t after)
{
	struct wal_rec rec;
	size_t off = 0;

	while (off < len && wal_next(body, len, &off, &rec) == WAL_OK)
		if (rec.lsn > after &&
		    wal_buf_add(b, rec.lsn, rec.payload, rec.len) != 0)
			return -1;
	return 0;
}

/*
 * Whether len more bytes would take what b holds past
 * replication.max_registry_bytes: a primary may not make a standby hold
 * more than its operator allowed (the connection is dropped, and says so).
 */
static int
over_bound(struct repl_standby *rs, const struct wal_buf *b, size_t len,
    const char *what)
{
	uint64_t max = (uint64_t)rs->s->cfg->repl.max_registry_bytes;

	if ((uint64_t)b->len + len <= max)
		return 0;
	drop(rs, "%s is over replication.max_registry_bytes (%" PRIu64 ")",
	    what, max);
	return 1;
}

/*
 * The registry's image is ours once our journal has every record it
 * covers: the registry becomes it, and our store is rewritten with it.
 * 0, or -1 when the connection was dropped.
 */
static int
install_image(struct repl_standby *rs)
{
	char err[256];

	rs->rewrite_ticket = regstore_install(rs->s->regstore, rs->img.data,
	    rs->img.len, &rs->img_contacts, err, sizeof(err));
	wipe_buf(&rs->img);
	if (rs->rewrite_ticket == 0) {
		drop(rs, "the registry's image of LSN %" PRIu64 " does not install: %s",
		    rs->img_lsn, err);
		return -1;
	}
	rs->img_installed = 1;
	rs->images++;
	log_info("the registry follows the primary image_lsn=%" PRIu64, rs->img_lsn);
	/* With nothing to wait for, what was held back goes now. */
	ack_more(rs, journal_durable(rs->s->journal));
	return 0;
}

static void
on_image(struct repl_standby *rs, const unsigned char *body, size_t len)
{
	uint64_t lsn = rs->img_done ? 0 : rs->img_lsn;
	size_t bad;

	if (rs->img_done) {
		/*
		 * A second image in one connection: the primary went back to
		 * its files for us, and what they hold came without side
		 * records again.  Acknowledgements wait for this one too.
		 */
		wipe_buf(&rs->img);
		wipe_buf(&rs->side);
		rs->side_off = 0;
		rs->img_done = rs->img_installed = 0;
		rs->ack_cap = rs->acked;
		rs->rewrite_ticket = 0;
	}
	if (repl_image_check(body, len, &lsn, &bad) < 0) {
		drop(rs, "a damaged registry image (byte %zu)", bad);
		return;
	}
	if (len > 0) {
		if (over_bound(rs, &rs->img, len, "the registry's image"))
			return;
		if (keep_records(&rs->img, body, len, 0) != 0) {
			drop(rs, "out of memory");
			return;
		}
		rs->img_lsn = lsn;
		return;
	}
	if (rs->img_lsn == 0) {
		drop(rs, "an empty registry image");
		return;
	}
	rs->img_done = 1;
	rs->side_last = rs->img_lsn;
	if (journal_last(rs->s->journal) >= rs->img_lsn)
		(void)install_image(rs);
}

/* Side records after the image's LSN wait for their main records. */
static void
on_side(struct repl_standby *rs, const unsigned char *body, size_t len)
{
	struct wal_rec rec;
	size_t off = 0, bad;
	uint64_t last;

	if (!rs->img_done) {
		drop(rs, "side records before the registry's image");
		return;
	}
	if (repl_side_check(body, len, 0, &last, &bad) < 0) {
		drop(rs, "side records damaged or out of order (byte %zu)", bad);
		return;
	}
	if (last <= rs->img_lsn)
		return;		/* all of them covered by the image */
	/* The first after the image must follow what came before. */
	while (wal_next(body, len, &off, &rec) == WAL_OK && rec.lsn <= rs->img_lsn)
		;
	if (rec.lsn <= rs->side_last) {
		drop(rs, "a side record of LSN %" PRIu64 " after one of %" PRIu64,
		    rec.lsn, rs->side_last);
		return;
	}
	if (rs->side_off == rs->side.len && rs->side.data != NULL) {
		explicit_bzero(rs->side.data, rs->side.len);
		rs->side.len = 0;
		rs->side_off = 0;
	}
	if (over_bound(rs, &rs->side, len, "side records waiting for their records"))
		return;
	if (keep_records(&rs->side, body, len, rs->img_lsn) != 0) {
		drop(rs, "out of memory");
		return;
	}
	rs->side_last = last;
}

/*
 * The side record that rides with main record lsn, if one came (*side
 * zeroed if not).  0, or -1 when the connection was dropped: a side
 * record whose main record did not come.
 */
static int
next_side(struct repl_standby *rs, uint64_t lsn, struct wal_rec *side)
{
	size_t off = rs->side_off;

	memset(side, 0, sizeof(*side));
	if (off >= rs->side.len)
		return 0;
	if (wal_next(rs->side.data, rs->side.len, &off, side) != WAL_OK) {
		drop(rs, "side records damaged");
		return -1;
	}
	if (side->lsn < lsn) {
		drop(rs, "a side record of LSN %" PRIu64 " without its record",
		    side->lsn);
		return -1;
	}
	if (side->lsn > lsn) {
		memset(side, 0, sizeof(*side));
		return 0;
	}
	rs->side_off = off;
	return 0;
}

static void
on_records(struct repl_standby *rs, const unsigned char *body, size_t len)
{
	struct server *s = rs->s;
	struct journal *j = s->journal;
	struct wal_rec rec, side;
	size_t off = 0, bad;
	char err[256];

	if (!journal_writable(j)) {
		drop(rs, "the journal takes no changes");
		return;
	}
	if (repl_records_check(body, len, journal_last(j) + 1, &bad) < 0) {
		drop(rs, "records damaged or out of order (byte %zu; expected LSN %" PRIu64 ")",
		    bad, journal_last(j) + 1);
		return;
	}
	while (off < len && wal_next(body, len, &off, &rec) == WAL_OK) {
		uint32_t ep = record_peek_epoch(rec.payload, rec.len);
		uint32_t ours = garage_epoch(s->g);
		struct jerr e = { err, sizeof(err), 0 };

		/* Fencing: a primary of an older epoch cannot feed us. */
		if (ep < ours) {
			drop(rs, "LSN %" PRIu64 " is of epoch %u, older than ours (%u): "
			    "refusing a stale primary", rec.lsn, ep, ours);
			return;
		}
		if (ep > ours && !is_promotion(&rec)) {
			drop(rs, "LSN %" PRIu64 " is of epoch %u without its promotion",
			    rec.lsn, ep);
			return;
		}
		if (rs->img_lsn != 0 && rec.lsn > rs->img_lsn && !rs->img_installed) {
			drop(rs, "LSN %" PRIu64 " came before the registry's image of "
			    "LSN %" PRIu64 " was complete", rec.lsn, rs->img_lsn);
			return;
		}
		if (next_side(rs, rec.lsn, &side) < 0)
			return;
		if (record_apply(s->g, rec.payload, rec.len, &e) != PK_OK) {
			drop(rs, "LSN %" PRIu64 " does not apply: %s", rec.lsn, err);
			return;
		}
		if (side.len > 0 && regstore_apply(s->regstore, rec.lsn,
		    side.payload, side.len, err, sizeof(err)) != 0) {
			/* The garage took it and the journal did not: rebuilt from disk. */
			journal_force_failure(j, "standby: a side record does not apply");
			drop(rs, "LSN %" PRIu64 "'s side record does not apply: %s",
			    rec.lsn, err);
			return;
		}
		if ((side.len > 0 ? journal_append_side(j, rec.payload, rec.len,
		    side.payload, side.len) : journal_append(j, rec.payload,
		    rec.len)) != rec.lsn) {
			/* Memory holds a record the disk will not: rebuilt from disk. */
			journal_force_failure(j, "standby: a record could not be journaled");
			drop(rs, "LSN %" PRIu64 " could not be journaled", rec.lsn);
			return;
		}
		publish(s, &rec, rec.lsn);
		rs->records++;
		if (rs->img_done && !rs->img_installed && rec.lsn >= rs->img_lsn &&
		    install_image(rs) != 0)
			return;
	}
	publish_flush(s);
	if (rs->have_info && journal_last(j) >= rs->info.last)
		rs->caught_up_ms = uv_now(s->loop);
	if (journal_last(j) - journal_durable(j) > BACKLOG_RECORDS) {
		rs->backlog = 1;
		start_reading(rs);
	}
}

static void
on_status(struct repl_standby *rs, const unsigned char *body, size_t len)
{
	struct repl_info i;
	char err[200] = "";

	if (repl_info_read(body, len, &i, &(struct jerr){ err, sizeof(err), 0 }) != 0) {
		drop(rs, "a bad status: %s", err);
		return;
	}
	take_info(rs, &i);
}

static void
handle(struct repl_standby *rs, enum repl_type t, const unsigned char *body,
    size_t len)
{
	if (t == REPL_REFUSED)
		on_refused(rs, body, len);
	else if (rs->fence_mode)
		drop(rs, "the old primary answered a fence with records");
	else if (t == REPL_WELCOME && rs->state == S_HELLO)
		on_welcome(rs, body, len);
	else if (t == REPL_STATUS && (rs->state == S_STREAMING || rs->state == S_SNAPSHOT))
		on_status(rs, body, len);
	else if (t == REPL_SNAPSHOT && rs->state == S_STREAMING)
		on_snapshot(rs, body, len);
	else if (t == REPL_DATA && rs->state == S_SNAPSHOT)
		on_data(rs, body, len);
	else if (t == REPL_RECORDS && rs->state == S_STREAMING)
		on_records(rs, body, len);
	else if (t == REPL_IMAGE && rs->state == S_STREAMING)
		on_image(rs, body, len);
	else if (t == REPL_SIDE && rs->state == S_STREAMING)
		on_side(rs, body, len);
	else
		drop(rs, "an unexpected frame '%c' in state %s", (char)t,
		    sstate_names[rs->state]);
}

/* Handles the frames received, until one makes the rest wait. */
static void
process(struct repl_standby *rs)
{
	enum repl_type t;
	const unsigned char *body;
	size_t len;
	int rc = 0;

	while (rs->conn != NULL && !rs->snap_busy && !rs->backlog &&
	    rs->state != S_INSTALL && (rc = repl_next(&rs->rd, &t, &body, &len)) == 1)
		handle(rs, t, body, len);
	if (rs->conn != NULL && rc < 0) {
		drop(rs, "a broken stream");
		return;
	}
	start_reading(rs);
}

/* ---- the daemon's side ---- */

struct repl_standby *
repl_standby_new(struct server *s)
{
	struct repl_standby *rs = calloc(1, sizeof(*rs));

	if (rs == NULL)
		return NULL;
	rs->s = s;
	rs->state = S_STOPPED;
	rs->snap_fd = -1;
	rs->jitter = (uint32_t)uv_hrtime();
	uv_timer_init(s->loop, &rs->timer);
	rs->timer.data = rs;
	return rs;
}

void
repl_standby_start(struct repl_standby *rs)
{
	rs->state = S_WAIT;
	rs->caught_up_ms = uv_now(rs->s->loop);
	schedule(rs, 0);
}

void
repl_standby_durable(struct repl_standby *rs, uint64_t durable)
{
	struct journal *j = rs->s->journal;

	if (rs->state == S_INSTALL) {
		try_install(rs);
		return;
	}
	ack_more(rs, durable);
	if (rs->backlog && journal_last(j) - journal_durable(j) <= BACKLOG_RECORDS / 2) {
		rs->backlog = 0;
		process(rs);
	}
}

void
repl_standby_side_rewritten(struct repl_standby *rs)
{
	ack_more(rs, journal_durable(rs->s->journal));
}

void
repl_standby_journal_failed(struct repl_standby *rs)
{
	if (rs->conn != NULL)
		drop(rs, "the journal failed");
}

void
repl_standby_promoted(struct repl_standby *rs)
{
	rs->fence_mode = 1;
	rs->backoff_ms = 0;
	if (rs->conn != NULL || rs->state == S_SNAPSHOT || rs->state == S_INSTALL) {
		rs->state = S_WAIT;
		drop(rs, NULL);
	}
	rs->state = S_WAIT;
	rs->last_error[0] = '\0';
	/* Tell the old primary at once, and then again every second. */
	schedule(rs, 0);
}

const char *
repl_standby_primary(const struct repl_standby *rs)
{
	return rs->primary_listen;
}

void
repl_standby_health(const struct repl_standby *rs, struct jw *w)
{
	const struct server *s = rs->s;
	char addr[REPL_ADDR_MAX + 1];
	uint64_t applied = journal_last(s->journal), now = uv_now(s->loop);
	uint64_t plast = rs->have_info ? rs->info.last : 0;

	settings_endpoint_text(&s->cfg->repl.primary, addr, sizeof(addr));
	if (rs->fence_mode) {
		/* Promoted: what is left is the old primary, and whether it heard. */
		jw_key(w, "old_primary");
		jw_obj(w);
		jw_kstr(w, "address", addr);
		jw_kbool(w, "told", rs->told_epoch == garage_epoch(s->g));
		jw_obj_end(w);
		return;
	}
	jw_kstr(w, "primary", addr);
	jw_kstr(w, "primary_listen", rs->primary_listen);
	jw_kstr(w, "state", sstate_names[rs->state]);
	jw_kuint(w, "applied_lsn", applied);
	jw_kuint(w, "durable_lsn", journal_durable(s->journal));
	jw_kuint(w, "primary_lsn", plast);
	jw_kuint(w, "lag_records", plast > applied ? plast - applied : 0);
	jw_kuint(w, "lag_ms", plast > applied && now > rs->caught_up_ms ?
	    now - rs->caught_up_ms : 0);
	jw_kuint(w, "connects", rs->connects);
	jw_kuint(w, "snapshots", rs->snapshots);
	/*
	 * The registry's image of this connection, once installed; until its
	 * rewrite is on disk acknowledgements stop at acks_held_at.
	 */
	jw_kuint(w, "registry_image_lsn", rs->img_installed ? rs->img_lsn : 0);
	if (ackable(rs, UINT64_MAX) != UINT64_MAX)
		jw_kuint(w, "acks_held_at", rs->ack_cap);
	else
		jw_knull(w, "acks_held_at");
	if (rs->last_error[0] != '\0')
		jw_kstr(w, "last_error", rs->last_error);
}

void
repl_standby_stats(const struct repl_standby *rs, struct replication_stats *st)
{
	const struct server *s = rs->s;
	uint64_t applied = journal_last(s->journal), now = uv_now(s->loop);
	uint64_t plast = rs->have_info ? rs->info.last : 0;

	if (rs->fence_mode)
		return;
	st->connected = rs->state == S_STREAMING || rs->state == S_SNAPSHOT ||
	    rs->state == S_INSTALL;
	st->primary_lsn = plast;
	st->applied_lsn = applied;
	st->acked_lsn = rs->acked;
	st->lag_records = plast > applied ? plast - applied : 0;
	st->lag_seconds = plast > applied && now > rs->caught_up_ms ?
	    (double)(now - rs->caught_up_ms) / 1000.0 : 0;
	st->connects = rs->connects;
	st->snapshots_received = rs->snapshots;
	st->records_received = rs->records;
	st->images_received = rs->images;
}

void
repl_standby_close(struct repl_standby *rs)
{
	if (rs == NULL || rs->closed)
		return;
	rs->state = S_STOPPED;
	abort_snapshot(rs);
	if (rs->conn != NULL) {
		uv_close((uv_handle_t *)&rs->conn->tcp, on_conn_close);
		rs->conn = NULL;
	}
	repl_reader_free(&rs->rd);
	wipe_buf(&rs->img);
	wipe_buf(&rs->side);
	rs->closed = 1;
	uv_close((uv_handle_t *)&rs->timer, NULL);
}

void
repl_standby_free(struct repl_standby *rs)
{
	free(rs);
}
