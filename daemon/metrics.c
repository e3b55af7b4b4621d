/* metrics.c - request metrics and the Prometheus text exposition of /metrics (see metrics.h). */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "audit.h"
#include "cityredis.h"
#include "histogram.h"
#include "http.h"
#include "journal.h"
#include "methods.h"
#include "replication.h"
#include "perr.h"
#include "redisconn.h"
#include "regstore.h"
#include "server.h"
#include "subs.h"

/* The label of requests that named no method of ours. */
#define NO_METHOD_LABEL "unknown"

/*
 * Slot i < nm is the method method_at(i); slot nm holds the requests
 * without one.  requests[slot * PK_E__COUNT + err] counts outcomes.
 */
struct metrics {
	size_t nm;
	uint64_t *requests;
	struct histogram *latency;
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->nm = method_count();
	m->requests = calloc((m->nm + 1) * PK_E__COUNT, sizeof(*m->requests));
	m->latency = calloc(m->nm + 1, sizeof(*m->latency));
	if (m->requests == NULL || m->latency == NULL) {
		metrics_free(m);
		return NULL;
	}
	for (size_t i = 0; i <= m->nm; i++)
		hist_init(&m->latency[i], hist_seconds, hist_seconds_n);
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	free(m->requests);
	free(m->latency);
	free(m);
}

void
metrics_requests(struct metrics *m, const struct session_req *r, size_t n,
    double seconds)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t k = r[i].method < m->nm ? r[i].method : m->nm;
		size_t e = r[i].err < PK_E__COUNT ? r[i].err : PK_E_INTERNAL;

		m->requests[k * PK_E__COUNT + e]++;
		hist_observe(&m->latency[k], seconds);
	}
}

/* ---- writing the text ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static __attribute__((format(printf, 2, 3))) void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t nc = b->cap ? b->cap * 2 : 16384;
			char *np;

			while (nc < b->len + (size_t)n + 1)
				nc *= 2;
			np = realloc(b->p, nc);
			if (np == NULL) {
				b->oom = 1;
				return;
			}
			b->p = np;
			b->cap = nc;
		}
	}
}

/*
 * A label value as the format wants it: backslash, double quote and
 * newline escaped.  Names from the configuration (spot types) may hold
 * anything; a longer one is cut (out has room for 2 * 64 + 1).
 */
static const char *
esc(const char *s, char out[130])
{
	size_t o = 0;

	for (; *s != '\0' && o < 128; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

/* The HELP and TYPE lines of a family; its samples follow. */
static void
family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one sample without labels. */
static void
metric(struct sbuf *b, const char *name, const char *type, const char *help,
    double v)
{
	family(b, name, type, help);
	sb_printf(b, "%s %.15g\n", name, v);
}

static void
metric_u(struct sbuf *b, const char *name, const char *type, const char *help,
    uint64_t v)
{
	family(b, name, type, help);
	sb_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/*
 * The samples of one histogram: cumulative buckets, sum and count.  labels
 * is "" or the labels before le, each followed by a comma
 * ("method=\"entry\",").
 */
static void
hist_samples(struct sbuf *b, const char *name, const char *labels,
    const struct histogram *h)
{
	size_t lc = strlen(labels);

	for (size_t i = 0; i < hist_buckets(h); i++) {
		double le = hist_le(h, i);

		if (isinf(le))
			sb_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
			    (unsigned long long)hist_cumulative(h, i));
		else
			sb_printf(b, "%s_bucket{%sle=\"%.15g\"} %llu\n", name, labels,
			    le, (unsigned long long)hist_cumulative(h, i));
	}
	/* Without other labels _sum and _count have no braces at all. */
	if (lc == 0) {
		sb_printf(b, "%s_sum %.15g\n%s_count %llu\n", name, h->sum, name,
		    (unsigned long long)h->count);
	} else {
		sb_printf(b, "%s_sum{%.*s} %.15g\n", name, (int)(lc - 1), labels, h->sum);
		sb_printf(b, "%s_count{%.*s} %llu\n", name, (int)(lc - 1), labels,
		    (unsigned long long)h->count);
	}
}

static void
hist_metric(struct sbuf *b, const char *name, const char *help,
    const struct histogram *h)
{
	family(b, name, "histogram", help);
	hist_samples(b, name, "", h);
}

static double
wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
slot_name(const struct metrics *m, size_t k)
{
	return k < m->nm ? method_name(method_at(k)) : NO_METHOD_LABEL;
}

static void
write_build(struct server *s, struct sbuf *b)
{
	family(b, "parkd_build_info", "gauge",
	    "Always 1; the labels say what parkd was built from and runs on.");
	sb_printf(b, "parkd_build_info{version=\"%s\",libuv=\"%s\",hiredis=\"%d.%d.%d\","
	    "cjson=\"%s\"} 1\n", PARKD_VERSION, uv_version_string(), HIREDIS_MAJOR,
	    HIREDIS_MINOR, HIREDIS_PATCH, cJSON_Version());
	metric(b, "parkd_up", "gauge", "1 while parkd runs.", 1);
	metric(b, "parkd_start_time_seconds", "gauge",
	    "When parkd started, in seconds since the epoch.", (double)s->started_at);
}

static void
write_requests(struct server *s, struct sbuf *b)
{
	const struct server_stats *st = &s->stats;
	const struct metrics *m = s->metrics;
	char lab[64];

	metric_u(b, "parkd_request_lines_total", "counter",
	    "Request lines and messages handed to parkd (a batch is one).", st->requests);
	if (m == NULL)
		return;
	family(b, "parkd_requests_total", "counter",
	    "Requests answered, by method and outcome (ok or the error reason); "
	    "counted when the reply goes to the transport. Method unknown: not "
	    "readable, no such method, or rate limited.");
	for (size_t k = 0; k <= m->nm; k++) {
		for (size_t e = 0; e < PK_E__COUNT; e++) {
			uint64_t v = m->requests[k * PK_E__COUNT + e];

			/* Every method's ok from the start; the rest once they happen. */
			if (v == 0 && (e != PK_OK || k == m->nm))
				continue;
			sb_printf(b, "parkd_requests_total{method=\"%s\",outcome=\"%s\"} %llu\n",
			    slot_name(m, k), pk_err_reason((pk_err)e), (unsigned long long)v);
		}
	}
	family(b, "parkd_request_duration_seconds", "histogram",
	    "From a request's line coming in to its reply going to the transport, "
	    "by method: a reply to a change includes the wait until the journal "
	    "has made it durable. Each request of a batch counts with the batch's time.");
	for (size_t k = 0; k <= m->nm; k++) {
		if (k == m->nm && m->latency[k].count == 0)
			continue;
		snprintf(lab, sizeof(lab), "method=\"%s\",", slot_name(m, k));
		hist_samples(b, "parkd_request_duration_seconds", lab, &m->latency[k]);
	}
}

static void
write_connections(struct server *s, struct sbuf *b)
{
	const struct server_stats *st = &s->stats;

	family(b, "parkd_connections", "gauge", "Open protocol connections, by transport.");
	for (int k = 0; k < CLIENT_TR__COUNT; k++)
		sb_printf(b, "parkd_connections{transport=\"%s\"} %llu\n",
		    client_transport_name((enum client_transport_kind)k),
		    (unsigned long long)s->clients_by_transport[k]);
	metric(b, "parkd_http_connections", "gauge",
	    "Open HTTP connections not upgraded to WebSocket (/metrics, /healthz, the map page).",
	    (double)http_plain_connections(s->http));
	metric_u(b, "parkd_connections_accepted_total", "counter", "Connections accepted.", st->accepted);
	metric_u(b, "parkd_connections_refused_total", "counter", "Connections refused (client limit, protected mode).", st->refused);
	metric_u(b, "parkd_accept_errors_total", "counter", "Accepts that failed (out of descriptors, ...).", st->accept_errors);
	metric_u(b, "parkd_connections_closed_output_total", "counter", "Connections closed for passing limits.max_output.", st->closed_output);
	metric_u(b, "parkd_connections_closed_idle_total", "counter", "Connections closed for idleness.", st->closed_idle);
	metric_u(b, "parkd_connections_closed_slow_total", "counter", "Connections closed for a line not finished or output not read within their timeouts.", st->closed_slow);
	metric_u(b, "parkd_output_queued_bytes", "gauge", "Output all clients hold (limits.max_output_total).", s->out_total);
	metric_u(b, "parkd_lines_too_long_total", "counter", "Lines over limits.max_line.", st->lines_too_long);
	metric_u(b, "parkd_rate_limited_total", "counter", "Request lines refused by the rate limit.", st->rate_limited);
	metric_u(b, "parkd_auth_failures_total", "counter", "Failed auth calls.", st->auth_failures);
	metric_u(b, "parkd_internal_errors_total", "counter", "Request lines answered internal_error.", st->internal_errors);
	metric_u(b, "parkd_subscriptions", "gauge", "Live subscriptions.", subs_count(s->subs));
	metric_u(b, "parkd_subscribers", "gauge", "Connections with at least one subscription.", subs_subscribers(s->subs));
	metric_u(b, "parkd_subscribers_dropped_total", "counter", "Subscribers closed for not reading their notifications (limits.max_output).", st->subscribers_dropped);
}

static void
spot_states(struct sbuf *b, const char *name, const char *labels,
    const struct alloc_counts *k)
{
	sb_printf(b, "%s{%sstate=\"free\"} %llu\n", name, labels, (unsigned long long)k->free);
	sb_printf(b, "%s{%sstate=\"occupied\"} %llu\n", name, labels, (unsigned long long)k->occupied);
	sb_printf(b, "%s{%sstate=\"out_of_service\"} %llu\n", name, labels, (unsigned long long)k->out_of_service);
	sb_printf(b, "%s{%sstate=\"held\"} %llu\n", name, labels, (unsigned long long)k->held);
}

static void
write_garage(struct server *s, struct sbuf *b)
{
	const facility *f = garage_facility(s->g);
	const alloc *a = garage_alloc(s->g);
	struct alloc_counts k;
	struct resbook_counts rc;
	char lab[160], e[130];

	alloc_counts(a, &k);
	family(b, "parkd_spots", "gauge", "Spots by state.");
	spot_states(b, "parkd_spots", "", &k);
	family(b, "parkd_spots_free", "gauge", "Free spots by type.");
	for (int i = 0; i < facility_type_count(f); i++) {
		alloc_counts_by_type(a, i, &k);
		sb_printf(b, "parkd_spots_free{type=\"%s\"} %llu\n",
		    esc(facility_type_name(f, i), e), (unsigned long long)k.free);
	}
	family(b, "parkd_type_spots", "gauge", "Spots by type and state (occupancy by type).");
	for (int i = 0; i < facility_type_count(f); i++) {
		alloc_counts_by_type(a, i, &k);
		snprintf(lab, sizeof(lab), "type=\"%s\",", esc(facility_type_name(f, i), e));
		spot_states(b, "parkd_type_spots", lab, &k);
	}
	family(b, "parkd_level_spots", "gauge", "Spots by level and state.");
	for (int i = 0; i < facility_level_count(f); i++) {
		alloc_counts_by_level(a, i, &k);
		snprintf(lab, sizeof(lab), "level=\"%d\",", facility_level_value(f, i));
		spot_states(b, "parkd_level_spots", lab, &k);
	}
	metric_u(b, "parkd_vehicles_inside", "gauge", "Open tickets.", garage_inside_count(s->g));
	metric_u(b, "parkd_waitlist_depth", "gauge",
	    "Vehicles waiting for a spot.",
	    garage_waitlist_depth(s->g));
	garage_reservation_counts(s->g, &rc);
	family(b, "parkd_reservations", "gauge",
	    "Reservations by state (finished ones until they are forgotten).");
	for (int i = 0; i < RESV__NSTATES; i++)
		sb_printf(b, "parkd_reservations{state=\"%s\"} %llu\n",
		    resv_state_name((enum resv_state)i), (unsigned long long)rc.by_state[i]);
}

static void
write_journal(struct server *s, struct sbuf *b)
{
	const struct journal_stats *js;
	const struct snapshot_stats *ss;

	if (s->journal == NULL)
		return;
	js = journal_stats(s->journal);
	ss = journal_snapshot_stats(s->journal);
	metric(b, "parkd_journal_writable", "gauge", "1 while changes can be made durable.", journal_writable(s->journal));
	metric_u(b, "parkd_journal_lsn", "gauge", "Last journal record appended.", journal_last(s->journal));
	metric_u(b, "parkd_journal_durable_lsn", "gauge", "Last journal record on disk.", journal_durable(s->journal));
	metric_u(b, "parkd_journal_records_total", "counter", "Records appended.", js->records);
	metric_u(b, "parkd_journal_bytes_total", "counter", "Bytes appended.", js->bytes);
	metric_u(b, "parkd_journal_batches_total", "counter", "Group-commit batches written.", js->batches);
	metric_u(b, "parkd_journal_fsyncs_total", "counter", "fdatasync calls for batches.", js->fsyncs);
	metric_u(b, "parkd_journal_max_batch", "gauge", "Most records in one batch.", js->max_batch);
	metric_u(b, "parkd_journal_batches_held_total", "counter",
	    "Batches whose start waited a moment for the clients the previous commit answered (durability fsync).",
	    js->batches_held);
	metric_u(b, "parkd_journal_failures_total", "counter", "Write or fsync failures.", js->failures);
	metric_u(b, "parkd_journal_snapshots_total", "counter", "Snapshots committed.", js->snapshots);
	metric(b, "parkd_journal_recovery_seconds", "gauge", "Time the last start-up recovery took.", js->last_recovery_s);
	hist_metric(b, "parkd_journal_write_seconds",
	    "write(2) of one group-commit batch, timed on the thread pool.", &js->write_s);
	hist_metric(b, "parkd_journal_fsync_seconds",
	    "fdatasync of one group-commit batch, timed on the thread pool (durability fsync only).",
	    &js->fsync_s);
	hist_metric(b, "parkd_journal_queue_seconds",
	    "From a group-commit batch handed to the thread pool to a pool thread beginning it.",
	    &js->queue_s);
	hist_metric(b, "parkd_journal_handback_seconds",
	    "From a pool thread finishing a batch to the event loop taking the result (and releasing its replies).",
	    &js->handback_s);
	hist_metric(b, "parkd_journal_commit_seconds",
	    "From the first record of a batch appended to the batch written (and synced, with fsync) and back on the loop: the longest any change in it waited (gathering, queue, write, fsync, hand-back).",
	    &js->commit_s);
	hist_metric(b, "parkd_journal_batch_bytes", "Bytes in one group-commit batch.",
	    &js->batch_bytes);
	hist_metric(b, "parkd_journal_batch_records", "Records in one group-commit batch.",
	    &js->batch_records);
	/* No sample while there is no snapshot: an age of nothing is no number. */
	if (ss->committed_at > 0) {
		double age = wall_seconds() - ss->committed_at;

		metric(b, "parkd_snapshot_age_seconds", "gauge",
		    "Since the newest snapshot was committed (absent while there is none).",
		    age > 0 ? age : 0);
	}
	metric(b, "parkd_snapshot_duration_seconds", "gauge",
	    "The newest snapshot this process made, from the fork to its commit (0: none yet).",
	    ss->last_duration_s);
	metric(b, "parkd_snapshot_fork_seconds", "gauge",
	    "How long the fork of the newest snapshot held the loop (0: none yet).",
	    ss->last_fork_s);
	metric_u(b, "parkd_snapshot_failures_total", "counter",
	    "Snapshots started and never committed.", ss->failed);
}

/*
 * The vehicle registry and its store: how many vehicles, and whether
 * erasures reach the disk within registry.erase_within_s.
 */
static void
write_registry(struct server *s, struct sbuf *b)
{
	const struct regstore_stats *rs;
	const struct journal_stats *js;

	if (s->regstore == NULL)
		return;
	rs = regstore_stats(s->regstore);
	metric_u(b, "parkd_registry_vehicles", "gauge", "Vehicles registered.", rs->vehicles);
	metric(b, "parkd_registry_erasure_pending_seconds", "gauge",
	    "Since the oldest erasure not yet on disk was made (a contact deleted, expired, purged or replaced); 0 when none.",
	    rs->erasure_pending_s);
	metric(b, "parkd_registry_erasure_last_seconds", "gauge",
	    "From the oldest erasure the last erasing rewrite of the store held to that rewrite on disk.",
	    rs->erasure_last_s);
	metric_u(b, "parkd_registry_erasure_rewrites_total", "counter",
	    "Rewrites of the store that took erasures to disk.", rs->erasure_rewrites);
	metric_u(b, "parkd_registry_erasure_late_total", "counter",
	    "Of those, rewrites on disk later than registry.erase_within_s after the oldest erasure they held.",
	    rs->erasures_late);
	if (s->journal == NULL)
		return;
	js = journal_stats(s->journal);
	metric_u(b, "parkd_registry_store_rewrites_total", "counter",
	    "Rewrites of the contact store (erasures, a grown log, start-up).", js->side_rewrites);
	metric_u(b, "parkd_registry_store_image_bytes", "gauge",
	    "Size of the store's last image.", js->side_image_bytes);
	metric_u(b, "parkd_registry_store_log_bytes", "gauge",
	    "Size of the store's log after the image.", js->side_log_bytes);
	hist_metric(b, "parkd_registry_store_copy_seconds",
	    "The registry copied on the event loop for a rewrite (requests wait meanwhile).",
	    &js->side_copy_s);
	hist_metric(b, "parkd_registry_store_rewrite_seconds",
	    "A rewrite, from the registry's copy to the new image in place.", &js->side_rewrite_s);
}

/* Every state audit_state() names: off, its connection's, stalled. */
static const char *const audit_states[] = {
	"off",
#define AUDIT_STATE_NAME(name, str) str,
	REDISCONN_STATES(AUDIT_STATE_NAME)
#undef AUDIT_STATE_NAME
	"stalled",
};

static void
write_audit(struct server *s, struct sbuf *b)
{
	const char *state = audit_state(s->audit);
	struct audit_counts ac;

	audit_counts(s->audit, &ac);
	metric(b, "parkd_audit_connected", "gauge", "1 while events reach Redis.",
	    strcmp(state, "connected") == 0);
	metric(b, "parkd_audit_stalled", "gauge",
	    "1 from a command at Redis passing its deadline until a batch is stored.",
	    strcmp(state, "stalled") == 0);
	/* The two above cannot tell "off" from "Redis unreachable". */
	family(b, "parkd_audit_state", "gauge",
	    "1 for the audit shipper's state (health's audit.state).");
	for (size_t i = 0; i < sizeof(audit_states) / sizeof(audit_states[0]); i++)
		sb_printf(b, "parkd_audit_state{state=\"%s\"} %d\n", audit_states[i],
		    strcmp(state, audit_states[i]) == 0);
	metric_u(b, "parkd_audit_pending", "gauge", "Durable events not yet in Redis (the backlog).",
	    audit_pending(s->audit));
	metric_u(b, "parkd_audit_oldest_unshipped_age_seconds", "gauge",
	    "Since the oldest durable event not yet in Redis became durable (0: none).",
	    audit_oldest_unshipped_age_s(s->audit));
	metric_u(b, "parkd_audit_shipped_total", "counter", "Events stored in Redis.", ac.shipped);
	metric_u(b, "parkd_audit_batches_total", "counter", "Batches of events stored in Redis.", ac.batches);
	metric_u(b, "parkd_audit_failures_total", "counter",
	    "Connects, batches, journal reads that failed; deadlines passed; replies refused.",
	    ac.failures);
	metric_u(b, "parkd_audit_connects_total", "counter", "Connection attempts to Redis.", ac.connects);
	metric_u(b, "parkd_audit_dropped_total", "counter",
	    "Events pruned from the journal before Redis had them (audit.max_backlog).", ac.dropped);
}

/* The city view (city.md): nothing when it is off in the configuration. */
static void
write_city(struct server *s, struct sbuf *b)
{
	struct cityredis_stats st;

	cityredis_stats(s->city, &st);
	if (!st.on)
		return;
	metric(b, "parkd_city_connected", "gauge",
	    "1 while the city view's Redis connection is ready.", st.connected);
	metric(b, "parkd_city_publishing", "gauge",
	    "1 when this facility has a location and publishes its availability.",
	    st.publishing);
	metric_u(b, "parkd_city_publishes_total", "counter",
	    "Availability publishes stored in Redis.", st.publishes);
	metric_u(b, "parkd_city_changes_total", "counter",
	    "Commits that moved the counts and asked for a publish (coalesced).",
	    st.changes);
	metric(b, "parkd_city_last_publish_age_seconds", "gauge",
	    "Since a publish was last stored in Redis (0: none yet); past 3 x "
	    "city.heartbeat_s the facility has dropped out of the city view.",
	    st.stored_age_s);
	metric_u(b, "parkd_city_connects_total", "counter",
	    "Connection attempts to the city view's Redis.", st.connects);
	metric_u(b, "parkd_city_failures_total", "counter",
	    "Connects, publishes and reads of the city view that failed.", st.failures);
	metric_u(b, "parkd_city_view_facilities", "gauge",
	    "Facilities nearby in the cached copy that lot_full's alternatives come from.",
	    st.view_facilities);
	metric(b, "parkd_city_view_age_seconds", "gauge",
	    "Age of that copy (0: never read); older than 5 s it offers no alternatives.",
	    st.view_age_s);
	family(b, "parkd_city_nearby_total", "counter",
	    "nearby searches, by outcome (failed: Redis not connected or a read failed).");
	sb_printf(b, "parkd_city_nearby_total{result=\"ok\"} %" PRIu64 "\n", st.nearby_ok);
	sb_printf(b, "parkd_city_nearby_total{result=\"failed\"} %" PRIu64 "\n",
	    st.nearby_failed);
	family(b, "parkd_city_lot_full_total", "counter",
	    "lot_full answers, by whether a fresh copy of the city view could offer alternatives.");
	sb_printf(b, "parkd_city_lot_full_total{alternatives=\"offered\"} %" PRIu64 "\n",
	    st.alternatives);
	sb_printf(b, "parkd_city_lot_full_total{alternatives=\"none_fresh\"} %" PRIu64 "\n",
	    st.no_alternatives);
}

static void
write_replication(struct server *s, struct sbuf *b)
{
	struct replication_stats st;

	if (s->repl == NULL)
		return;
	replication_stats(s->repl, &st);
	family(b, "parkd_replication_role", "gauge",
	    "1 for the role this daemon plays now (standby.md).");
	sb_printf(b, "parkd_replication_role{role=\"primary\"} %d\n", !st.standby);
	sb_printf(b, "parkd_replication_role{role=\"standby\"} %d\n", st.standby);
	metric_u(b, "parkd_replication_epoch", "gauge",
	    "The epoch in force: raised by each promotion.", st.epoch);
	metric(b, "parkd_replication_fenced", "gauge",
	    "1 when a standby of a later epoch told this primary it is stale.", st.fenced);
	metric(b, "parkd_replication_sync_lost", "gauge",
	    "1 in sync mode while no standby acknowledges in time.", st.sync_lost);
	metric_u(b, "parkd_replication_standbys", "gauge",
	    "Standbys connected (primary).", st.standbys);
	metric_u(b, "parkd_replication_standbys_streaming", "gauge",
	    "Standbys caught up and sent each batch as it is written (primary).",
	    st.streaming);
	metric_u(b, "parkd_replication_acked_lsn", "gauge",
	    "The highest LSN a standby acknowledged as durable (on a standby: its last acknowledgement).",
	    st.acked_lsn);
	metric_u(b, "parkd_replication_lag_records", "gauge",
	    "Records the furthest standby is behind (on a standby: behind its primary).",
	    st.lag_records);
	metric(b, "parkd_replication_lag_seconds", "gauge",
	    "How long the oldest record a standby has not acknowledged has been durable "
	    "(on a standby: since it was last caught up).", st.lag_seconds);
	metric_u(b, "parkd_replication_standbys_dropped_total", "counter",
	    "Standbys dropped for falling more than replication.max_lag_bytes behind.",
	    st.dropped);
	metric_u(b, "parkd_replication_sent_bytes_total", "counter",
	    "Bytes sent to standbys.", st.bytes_sent);
	metric_u(b, "parkd_replication_snapshots_sent_total", "counter",
	    "Snapshots sent to standbys that asked for records no longer in the journal.",
	    st.snapshots_sent);
	metric_u(b, "parkd_replication_registry_images_total", "counter",
	    "Images of the vehicle registry sent to standbys going live (on a "
	    "standby: received and installed).", st.images_sent + st.images_received);
	metric(b, "parkd_replication_connected", "gauge",
	    "1 while this standby follows its primary.", st.connected);
	metric_u(b, "parkd_replication_primary_lsn", "gauge",
	    "The primary's last durable LSN as it last said (standby).", st.primary_lsn);
	metric_u(b, "parkd_replication_applied_lsn", "gauge",
	    "The last record this standby applied.", st.applied_lsn);
	metric_u(b, "parkd_replication_connects_total", "counter",
	    "Connection attempts to the primary (standby).", st.connects);
	metric_u(b, "parkd_replication_snapshots_received_total", "counter",
	    "Snapshots taken from the primary (standby).", st.snapshots_received);
	metric_u(b, "parkd_replication_records_received_total", "counter",
	    "Records applied from the primary (standby).", st.records_received);
}

char *
metrics_text(struct server *s, size_t *len)
{
	struct sbuf b = { NULL, 0, 0, 0 };

	write_build(s, &b);
	write_requests(s, &b);
	write_connections(s, &b);
	write_garage(s, &b);
	write_journal(s, &b);
	write_registry(s, &b);
	write_audit(s, &b);
	write_city(s, &b);
	write_replication(s, &b);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
