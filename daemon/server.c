/* server.c - listener, signals, timers and the services lent to methods. */
#define LOG_COMPONENT "server"

#include "server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "authguard.h"
#include "capacity.h"
#include "cityredis.h"
#include "commit.h"
#include "client.h"
#include "config.h"
#include "dict.h"
#include "due.h"
#include "http.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "publish.h"
#include "regstore.h"
#include "replication.h"
#include "subs.h"
#include "tcp.h"

int64_t
server_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

uint64_t
server_ms(const struct server *s)
{
	return uv_now(s->loop);
}

uint64_t
server_wall_ms(struct server *s)
{
	uint64_t at = uv_now(s->loop);

	if (s->wall_at == 0 || s->wall_at != at) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s->wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		s->wall_at = at;
	}
	return s->wall_ms;
}

void
server_new_id(struct server *s, char out[UUID_BUFSZ])
{
	ids_next(&s->ids, server_wall_ms(s), out);
}

static void
env_new_id(void *ud, char out[UUID_BUFSZ])
{
	server_new_id(ud, out);
}

static int64_t
env_mono_ms(void *ud)
{
	return (int64_t)server_ms(ud);
}

static int
env_commit(void *ud, const garage *g, const struct changes *ch, int acks_earlier,
    uint64_t *hold)
{
	return commit_changes(ud, g, ch, acks_earlier, hold);
}

static void
env_watch_wait(void *ud, uint64_t client, const char *waitlist_id)
{
	publish_watch_wait(ud, client, waitlist_id);
}

static void
env_alternatives(void *ud, int cls, struct jw *edata)
{
	struct server *s = ud;

	cityredis_alternatives(s->city, cls, edata);
}

/* Compares in time that depends only on the lengths, not on the contents. */
static int
ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return diff == 0;
}

/* Addresses whose failed auth calls are remembered (see proto/authguard.h). */
#define AUTH_MAX_ADDRS 10000
/* One summary line of failed auth calls at most this often. */
#define AUTH_LOG_EVERY_MS 10000

static int
env_auth(void *ud, const char *peer, const char *token, enum role *role,
    const char **gate, uint64_t *retry_ms)
{
	struct server *s = ud;
	const struct token *found = NULL;
	uint64_t now = server_ms(s);

	if ((*retry_ms = authguard_wait(s->auth, peer, now)) > 0)
		return -2;
	/* Look at every token, so the time taken does not tell which matched. */
	for (size_t i = 0; i < s->cfg->n_tokens; i++) {
		if (ct_equal(token, s->cfg->tokens[i].token))
			found = &s->cfg->tokens[i];
	}
	if (found == NULL) {
		authguard_failed(s->auth, peer, now);
		return -1;
	}
	*role = found->role;
	*gate = found->gate;
	return 0;
}

/* One line for all the failed auth calls of an interval, not one each. */
static void
log_auth_failures(struct server *s, uint64_t now)
{
	struct authguard_summary sum;

	if (now - s->auth_logged_ms < AUTH_LOG_EVERY_MS)
		return;
	authguard_take_summary(s->auth, &sum);
	s->auth_logged_ms = now;
	if (sum.failures + sum.refused == 0)
		return;
	log_msg(LOG_WARN, "auth", "failed logins failed=%llu refused=%llu addresses=%llu "
	    "worst=%s worst_failed=%llu", (unsigned long long)sum.failures,
	    (unsigned long long)sum.refused, (unsigned long long)sum.addrs,
	    sum.worst[0] ? sum.worst : "-", (unsigned long long)sum.worst_failures);
}

static int
env_writable(void *ud, const char **why)
{
	struct server *s = ud;
	int r = replication_writable(s->repl, why);

	if (r != 1)
		return r;
	if (s->journal == NULL || journal_writable(s->journal))
		return 1;
	journal_state(s->journal, why);
	return 0;
}

static int
env_promote(void *ud, uint64_t *lsn, char *why, size_t whylen)
{
	struct server *s = ud;

	if (s->repl == NULL) {
		*lsn = 0;
		return 1;
	}
	return replication_promote(s->repl, lsn, why, whylen);
}

static int
env_consistent(void *ud)
{
	struct server *s = ud;

	return s->journal == NULL || journal_consistent(s->journal);
}

static const char *
durability_name(enum durability d)
{
	return d == DUR_FSYNC ? "fsync" : d == DUR_WRITE ? "write" : "none";
}

static void
journal_health(const struct server *s, struct jw *w)
{
	const char *jstate = "off", *why = "";

	if (s->journal != NULL)
		jstate = journal_state(s->journal, &why);
	jw_key(w, "journal");
	jw_obj(w);
	jw_kstr(w, "state", jstate);
	if (why[0] != '\0')
		jw_kstr(w, "error", why);
	if (s->journal != NULL) {
		const struct journal_stats *st = journal_stats(s->journal);

		jw_kstr(w, "durability", durability_name(s->cfg->durability));
		jw_kuint(w, "lsn", journal_last(s->journal));
		jw_kuint(w, "durable_lsn", journal_durable(s->journal));
		jw_kuint(w, "snapshots", st->snapshots);
		jw_kuint(w, "failures", st->failures);
	}
	jw_obj_end(w);
}

static void
env_health(void *ud, struct jw *w)
{
	struct server *s = ud;
	int writable = s->journal == NULL || journal_writable(s->journal);
	const char *repl_why = "";
	int repl_bad = replication_degraded(s->repl, &repl_why);
	int ok = !s->shutting_down && writable && !repl_bad && audit_ok(s->audit);

	jw_kstr(w, "status", ok ? "ok" : "degraded");
	jw_kstr(w, "version", PARKD_VERSION);
	jw_kint(w, "uptime_s", server_now() - s->started_at);
	jw_kuint(w, "connections", s->n_clients);
	jw_kuint(w, "connections_refused", s->stats.refused);
	jw_kuint(w, "accept_errors", s->stats.accept_errors);
	journal_health(s, w);
	if (s->regstore != NULL) {
		const struct regstore_stats *rs = regstore_stats(s->regstore);

		/* Never a reason to degrade: late erasures are counted and logged. */
		jw_key(w, "registry");
		jw_obj(w);
		jw_kuint(w, "vehicles", rs->vehicles);
		jw_kmilli(w, "erasure_pending_s", (int64_t)(rs->erasure_pending_s * 1000));
		jw_kuint(w, "erasures_late", rs->erasures_late);
		jw_obj_end(w);
	}
	jw_key(w, "audit");
	jw_obj(w);
	audit_health(s->audit, w);
	jw_obj_end(w);
	if (s->repl != NULL) {
		jw_key(w, "replication");
		jw_obj(w);
		replication_health(s->repl, w);
		jw_obj_end(w);
	}
	/* The city view is for drivers elsewhere: never a reason to degrade. */
	jw_key(w, "city");
	jw_obj(w);
	cityredis_health(s->city, w);
	jw_obj_end(w);
	if (s->shutting_down)
		jw_kstr(w, "reason", "shutting down");
	else if (!writable)
		jw_kstr(w, "reason", "journal not writable");
	else if (repl_bad)
		jw_kstr(w, "reason", repl_why);
	else if (!ok)
		jw_kstr(w, "reason", "audit events are not reaching Redis");
}

uint64_t
server_on_durable(void *ud, uint64_t durable)
{
	struct server *s = ud;
	uint64_t now = server_durable(s), was = s->answered;

	/* The standby's acknowledgement counts too: server_durable, not durable. */
	publish_durable(s, now);
	client_release_held(s);
	audit_kick(s->audit);
	replication_durable(s->repl, durable);
	/*
	 * This release answered (was, now].  LSNs go back after a journal
	 * failure (they are used again): it answered none.
	 */
	if (now != was) {
		s->answered_from = now > was ? was : now;
		s->answered = now;
	}
	/*
	 * A standby's records come from its primary's stream, not from
	 * clients it answers: nothing comes back for the journal to wait for.
	 */
	return replication_is_standby(s->repl) || now <= was ? 0 : now - was;
}

void
server_client_changed(struct server *s, uint64_t prev_lsn)
{
	if (s->journal != NULL && prev_lsn > s->answered_from &&
	    prev_lsn <= s->answered)
		journal_note_return(s->journal);
}

void
server_on_batch(void *ud, const struct journal_batch *b)
{
	struct server *s = ud;

	replication_batch(s->repl, b);
}

void
server_promoted(struct server *s)
{
	/*
	 * A standby runs no timers: whatever keeps one (expiries, holds,
	 * no-shows, retention) starts here, and fires at once for what came
	 * due meanwhile.  Audit shipping was released by replication.  The
	 * city view is published by the primary only.
	 */
	regstore_promoted(s->regstore);
	/*
	 * Armed, not run: the promotion record takes the next LSN first, and
	 * the timer fires on a later turn of the loop (at once if overdue).
	 */
	due_arm(s);
	if (s->city == NULL && (s->city = cityredis_new(s)) == NULL)
		log_err("out of memory: the city view stays off");
}

void
server_on_journal_failed(void *ud, uint64_t durable, const char *why)
{
	struct server *s = ud;

	log_msg(LOG_ERR, "journal", "failed, replies to later changes become unavailable "
	    "reason=\"%s\" durable_lsn=%llu",
	    why, (unsigned long long)durable);
	replication_journal_failed(s->repl, durable);
	server_changes_lost(s, durable, NULL);
}

void
server_changes_lost(struct server *s, uint64_t kept, const char *why)
{
	struct client *c, *next;

	publish_changes_lost(s, kept);
	for (c = s->clients; c != NULL; c = next) {
		next = c->next;
		client_changes_lost(c, kept, why);
	}
}

void
server_on_rebuilt(void *ud, garage *g)
{
	struct server *s = ud;
	garage *old = s->g;

	s->g = g;
	for (struct client *c = s->clients; c != NULL; c = c->next)
		c->sess.g = g;
	garage_free(old);
	/* The changes the journal lost are undone: the counts moved back. */
	cityredis_changed(s->city);
	garage_set_ids(g, env_new_id, s);
	/* Built from the start file: what a reload changed since applies again. */
	{
		struct garage_capacity_cfg cc;

		config_capacity(s->cfg->core, &cc);
		garage_configure_capacity(g, &cc);
	}
	due_arm(s);
}

uint64_t
server_durable(const struct server *s)
{
	uint64_t d = s->journal ? journal_durable(s->journal) : UINT64_MAX;
	uint64_t safe = replication_safe(s->repl);

	return safe < d ? safe : d;
}

static void
log_accept_errors(struct server *s, uint64_t now)
{
	log_warn("accept failed error=\"%s\" since_last_line=%llu total=%llu",
	    uv_strerror(s->accept_err_status),
	    (unsigned long long)s->accept_err_unlogged,
	    (unsigned long long)s->stats.accept_errors);
	s->accept_err_unlogged = 0;
	s->accept_err_logged_ms = now;
}

/*
 * The peer's address as "host:port", the address auth failures are
 * counted by (an IPv6 host has a /64 to choose from), and whether it is
 * this machine.
 */
void
server_peer_names(uv_tcp_t *h, char *peer, size_t plen, char *auth, size_t alen,
    int *loopback)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	*loopback = 0;
	snprintf(peer, plen, "?");
	snprintf(auth, alen, "?");
	if (uv_tcp_getpeername(h, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		uv_ip4_name(in, host, sizeof(host));
		port = ntohs(in->sin_port);
		*loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		static const unsigned char lo[16] = { [15] = 1 };
		static const unsigned char v4pre[12] = { [10] = 0xff, [11] = 0xff };
		const unsigned char *a = in6->sin6_addr.s6_addr;

		uv_ip6_name(in6, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		*loopback = memcmp(a, lo, 16) == 0 ||
		    (memcmp(a, v4pre, 12) == 0 && a[12] == 127);
		if (strchr(host, '.') == NULL) {
			snprintf(peer, plen, "[%s]:%d", host, port);
			snprintf(auth, alen, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64",
			    a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
			return;
		}
	}
	snprintf(peer, plen, "%s:%d", host, port);
	snprintf(auth, alen, "%s", host);
}

void
server_accept_error(struct server *s, int status)
{
	uint64_t now = server_ms(s);

	s->stats.accept_errors++;
	s->accept_err_unlogged++;
	s->accept_err_status = status;
	/* on_tick writes what a busy second held back. */
	if (s->accept_err_logged_ms != 0 && now - s->accept_err_logged_ms < 1000)
		return;
	log_accept_errors(s, now);
}

/*
 * Out of descriptors, libuv 1.44 closes a spare descriptor, accepts and
 * closes every pending connection, and reopens the spare: those clients are
 * not reported to us at all (main.c keeps max_clients below the open-file
 * limit so that they are refused with a line instead).  Only when the spare
 * cannot be had does the error reach this callback, and then once for each
 * retry libuv makes at once: hence a count and a log line a second.
 */
static void
on_connection(uv_stream_t *listener, int status)
{
	struct server *s = listener->data;

	if (status < 0) {
		server_accept_error(s, status);
		return;
	}
	/* Always accept: a listener whose connection is not accepted stalls. */
	tcp_accept(s, listener);
}

/*
 * Why a client should be closed now, or NULL: silent past idle_timeout_s,
 * a started line not finished within line_timeout_s (slow-loris), output
 * that has not moved for send_timeout_s (a peer that stopped reading).
 */
static const char *
overdue(const struct server *s, const struct client *c, uint64_t now)
{
	const struct settings *cfg = s->cfg;
	uint64_t idle = (uint64_t)cfg->limits.idle_timeout_s * 1000;
	uint64_t line = (uint64_t)cfg->limits.line_timeout_s * 1000;
	uint64_t send = (uint64_t)cfg->limits.send_timeout_s * 1000;

	if (idle > 0 && now - c->active_ms > idle)
		return "idle";
	if (line > 0 && c->partial_since_ms != 0 && now - c->partial_since_ms > line)
		return "line not finished";
	if (send > 0 && client_stalled(c, now, send))
		return "output not read";
	return NULL;
}

static void
on_tick(uv_timer_t *t)
{
	struct server *s = t->data;
	uint64_t now = server_ms(s);
	struct client *c, *next;

	if (s->accept_err_unlogged > 0 && now - s->accept_err_logged_ms >= 1000)
		log_accept_errors(s, now);
	log_auth_failures(s, now);
	cityredis_tick(s->city);
	for (c = s->clients; c != NULL; c = next) {
		const char *why;

		next = c->next;
		if (c->state == CLIENT_CLOSING || c->state == CLIENT_CLOSED ||
		    (why = overdue(s, c, now)) == NULL)
			continue;
		if (why[0] == 'i')
			s->stats.closed_idle++;
		else
			s->stats.closed_slow++;
		log_msg(LOG_INFO, "conn", "%s in time, closing client=%llu peer=%s", why,
		    (unsigned long long)c->id, c->peer);
		client_close(c);
	}
}

void
server_shed_output(struct server *s)
{
	uint64_t limit = (uint64_t)s->cfg->limits.max_output_total;

	while (s->out_total > limit) {
		struct client *big = NULL;

		for (struct client *c = s->clients; c != NULL; c = c->next) {
			if (c->state != CLIENT_CLOSING && c->state != CLIENT_CLOSED &&
			    (big == NULL || client_queued(c) > client_queued(big)))
				big = c;
		}
		if (big == NULL || client_queued(big) == 0)
			return;
		s->stats.closed_output++;
		log_msg(LOG_WARN, "conn", "all output queues full, closing the largest client=%llu "
		    "peer=%s queued_total=%llu max_output_total=%llu queued=%zu",
		    (unsigned long long)big->id, big->peer, (unsigned long long)s->out_total,
		    (unsigned long long)limit, client_queued(big));
		client_close(big);
	}
}

struct addr_count {
	int64_t n;
	char key[];
};

int
server_address_add(struct server *s, const char *addr)
{
	struct addr_count *a = dict_get(s->per_address, addr);

	if (a == NULL) {
		a = calloc(1, sizeof(*a) + strlen(addr) + 1);
		if (a == NULL)
			return -1;
		strcpy(a->key, addr);
		if (dict_set(s->per_address, a->key, a) != 0) {
			free(a);
			return -1;
		}
	}
	if (a->n >= s->cfg->limits.max_clients_per_address)
		return -1;
	a->n++;
	return 0;
}

void
server_address_del(struct server *s, const char *addr)
{
	struct addr_count *a = dict_get(s->per_address, addr);

	if (a != NULL && --a->n <= 0) {
		dict_del(s->per_address, a->key);
		free(a);
	}
}

/* Pets systemd's watchdog from the loop: a stuck loop stops petting it. */
static void
on_watchdog(uv_timer_t *t)
{
	(void)t;
	notify_send("WATCHDOG=1");
}

static void
on_stop_timer(uv_timer_t *t)
{
	struct server *s = t->data;
	struct client *c, *next;

	log_warn("clients did not drain in time, closing clients=%llu",
	    (unsigned long long)s->n_clients);
	for (c = s->clients; c != NULL; c = next) {
		next = c->next;
		client_close(c);
	}
}

/*
 * Keeps the loop running while clients still wait for replies (a client
 * that stopped reading and has nothing in flight does not keep libuv's
 * loop alive by itself), and lets it end once they are all gone.
 */
static void
on_drain_timer(uv_timer_t *t)
{
	struct server *s = t->data;

	if (s->n_clients > 0)
		return;
	/* The drain is over: the HTTP side goes too, idle keep-alives and all. */
	http_stop(s->http);
	s->http = NULL;
	uv_close((uv_handle_t *)t, NULL);
	uv_close((uv_handle_t *)&s->stop_timer, NULL);
	uv_close((uv_handle_t *)&s->flush_check, NULL);
}

/* After the turn's input: the replies it made go out together. */
static void
on_flush_check(uv_check_t *h)
{
	client_flush_all_soon(h->data);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct server *s = h->data;

	if (signum == SIGHUP) {
		log_info("SIGHUP, reloading the configuration");
		notify_reloading();
		if (s->reload == NULL || s->reload(s) != 0) {
			log_warn("reload failed, the running configuration stays");
			notify_send("READY=1\nSTATUS=reload failed; the running "
			    "configuration stays");
		} else {
			notify_send("READY=1\nSTATUS=serving");
		}
		return;
	}
	log_info("shutting down signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	server_shutdown(s);
}

int
server_init(struct server *s, uv_loop_t *loop, struct settings *cfg, garage *g,
    struct journal *j)
{
	memset(s, 0, sizeof(*s));
	ids_init(&s->ids);
	s->loop = loop;
	s->cfg = cfg;
	s->g = g;
	s->journal = j;
	/* Replies are held for LSNs after what recovery found durable. */
	s->answered_from = s->answered = j != NULL ? journal_durable(j) : 0;
	s->started_at = server_now();
	s->env.ud = s;
	s->env.max_future_s = cfg->limits.max_future_s;
	s->env.core = cfg->core;
	s->env.new_id = env_new_id;
	s->env.auth = env_auth;
	s->auth = authguard_new(AUTH_MAX_ADDRS);
	s->per_address = dict_new();
	s->metrics = metrics_new();
	if (s->auth == NULL || s->per_address == NULL || s->metrics == NULL)
		return -1;
	s->env.health = env_health;
	s->env.writable = env_writable;
	s->env.consistent = env_consistent;
	s->env.commit = env_commit;
	s->env.promote = env_promote;
	s->env.mono_ms = env_mono_ms;
	s->env.watch_wait = env_watch_wait;
	/* Tickets of vehicles assigned from the waitlist get our ids. */
	garage_set_ids(g, env_new_id, s);
	s->env.alternatives = env_alternatives;
	/* At most 64 subscriptions per connection: each costs memory for every change. */
	s->subs = subs_new(64);
	s->env.subs = s->subs;
	if (s->subs == NULL || publish_init(s) != 0 || due_init(s) != 0)
		return -1;
	uv_signal_init(loop, &s->sig_term);
	uv_signal_init(loop, &s->sig_int);
	uv_signal_init(loop, &s->sig_hup);
	s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
	uv_signal_start(&s->sig_term, on_signal, SIGTERM);
	uv_signal_start(&s->sig_int, on_signal, SIGINT);
	uv_signal_start(&s->sig_hup, on_signal, SIGHUP);
	uv_timer_init(loop, &s->tick);
	s->tick.data = s;
	uv_timer_start(&s->tick, on_tick, 1000, 1000);
	uv_check_init(loop, &s->flush_check);
	s->flush_check.data = s;
	uv_check_start(&s->flush_check, on_flush_check);
	uv_unref((uv_handle_t *)&s->flush_check);
	return 0;
}

int
server_listen(struct server *s)
{
	const struct endpoint *ep = &s->cfg->listen;

	uv_tcp_init(s->loop, &s->listener);
	s->listener.data = s;
	if (tcp_listen(&s->listener, ep, 511, on_connection, "listen") != 0) {
		uv_close((uv_handle_t *)&s->listener, NULL);
		return -1;
	}
	s->listening = 1;
	dropper_init(&s->drop, s->loop, (uv_stream_t *)&s->listener);
	{
		int failed;

		s->http = http_start(s, &failed);
		if (failed)
			return -1;
	}
	notify_send("READY=1");
	if (notify_watchdog_ms() > 0) {
		uv_timer_init(s->loop, &s->watchdog);
		s->watchdog.data = s;
		uint64_t every = notify_watchdog_ms() / 2;

		uv_timer_start(&s->watchdog, on_watchdog, 0, every ? every : 1);
		s->watchdog_on = 1;
	}
	log_info("listening listen=%s:%d auth=%s", ep->host, ep->port,
	    s->cfg->n_tokens ? "tokens" : "none-loopback-only");
	return 0;
}

void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	authguard_free(s->auth);
	dict_free(s->per_address);
	metrics_free(s->metrics);
	publish_free(s);
	due_free(s);
	subs_free(s->subs);
	jw_release(&s->recw);
	client_spares_free(s);
	free(s);
}

void
server_shutdown(struct server *s)
{
	struct client *c, *next;

	if (s->shutting_down)
		return;
	s->shutting_down = 1;
	notify_send("STOPPING=1");
	if (s->watchdog_on) {
		uv_close((uv_handle_t *)&s->watchdog, NULL);
		s->watchdog_on = 0;
	}
	if (s->listening) {
		uv_close((uv_handle_t *)&s->listener, NULL);
		dropper_stop(&s->drop, NULL, NULL);
		s->listening = 0;
	}
	uv_close((uv_handle_t *)&s->sig_term, NULL);
	uv_close((uv_handle_t *)&s->sig_int, NULL);
	uv_close((uv_handle_t *)&s->sig_hup, NULL);
	uv_close((uv_handle_t *)&s->tick, NULL);
	publish_close(s);
	replication_close(s->repl);
	due_close(s);
	/*
	 * The HTTP side stays: a load balancer asking /healthz while the
	 * clients drain must hear 503 "shutting down", not a refused
	 * connection.  It closes when the drain ends (on_drain_timer).
	 */
	/* Redis would keep the loop alive; history still waiting is answered unavailable. */
	audit_close(s->audit);
	/* The city hears "closed" (within a second), then its connection goes too. */
	cityredis_shutdown(s->city);
	for (c = s->clients; c != NULL; c = next) {
		next = c->next;
		client_drain(c);
	}
	/* A client that never reads must not hold the shutdown forever. */
	uv_timer_init(s->loop, &s->stop_timer);
	s->stop_timer.data = s;
	uv_timer_start(&s->stop_timer, on_stop_timer, 5000, 0);
	uv_timer_init(s->loop, &s->drain_timer);
	s->drain_timer.data = s;
	uv_timer_start(&s->drain_timer, on_drain_timer, 0, 10);
}
