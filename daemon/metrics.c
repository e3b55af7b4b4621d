/* metrics.c - the Prometheus text exposition of /metrics (see metrics.h). */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "journal.h"
#include "server.h"
#include "subs.h"

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
			size_t nc = b->cap ? b->cap * 2 : 4096;
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

static void
metric(struct sbuf *b, const char *name, const char *type, const char *help,
    double v)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name,
	    type, name, v);
}

static void
write_metrics(struct server *s, struct sbuf *b)
{
	const struct server_stats *st = &s->stats;
	const facility *f = garage_facility(s->g);
	const alloc *a = garage_alloc(s->g);
	struct alloc_counts k;

	metric(b, "parkd_up", "gauge", "1 while parkd runs.", 1);
	metric(b, "parkd_connections", "gauge", "Open protocol connections.", (double)s->n_clients);
	metric(b, "parkd_connections_accepted_total", "counter", "Connections accepted.", (double)st->accepted);
	metric(b, "parkd_connections_refused_total", "counter", "Connections refused (client limit, protected mode).", (double)st->refused);
	metric(b, "parkd_accept_errors_total", "counter", "Accepts that failed (out of descriptors, ...).", (double)st->accept_errors);
	metric(b, "parkd_connections_closed_output_total", "counter", "Connections closed for passing limits.max_output.", (double)st->closed_output);
	metric(b, "parkd_connections_closed_idle_total", "counter", "Connections closed for idleness.", (double)st->closed_idle);
	metric(b, "parkd_connections_closed_slow_total", "counter", "Connections closed for a line not finished or output not read within their timeouts.", (double)st->closed_slow);
	metric(b, "parkd_output_queued_bytes", "gauge", "Output all clients hold (limits.max_output_total).", (double)s->out_total);
	metric(b, "parkd_requests_total", "counter", "Request lines handled.", (double)st->requests);
	metric(b, "parkd_lines_too_long_total", "counter", "Lines over limits.max_line.", (double)st->lines_too_long);
	metric(b, "parkd_rate_limited_total", "counter", "Requests refused by the rate limit.", (double)st->rate_limited);
	metric(b, "parkd_auth_failures_total", "counter", "Failed auth calls.", (double)st->auth_failures);
	metric(b, "parkd_internal_errors_total", "counter", "Requests answered internal_error.", (double)st->internal_errors);
	metric(b, "parkd_subscriptions", "gauge", "Live subscriptions.", (double)subs_count(s->subs));
	metric(b, "parkd_subscribers_dropped_total", "counter", "Subscribers closed for not reading their notifications (limits.max_output).", (double)st->subscribers_dropped);

	alloc_counts(a, &k);
	sb_printf(b, "# HELP parkd_spots Spots by state.\n# TYPE parkd_spots gauge\n");
	sb_printf(b, "parkd_spots{state=\"free\"} %llu\n", (unsigned long long)k.free);
	sb_printf(b, "parkd_spots{state=\"occupied\"} %llu\n", (unsigned long long)k.occupied);
	sb_printf(b, "parkd_spots{state=\"out_of_service\"} %llu\n", (unsigned long long)k.out_of_service);
	sb_printf(b, "parkd_spots{state=\"held\"} %llu\n", (unsigned long long)k.held);
	sb_printf(b, "# HELP parkd_spots_free Free spots by type.\n# TYPE parkd_spots_free gauge\n");
	for (int i = 0; i < facility_type_count(f); i++) {
		alloc_counts_by_type(a, i, &k);
		sb_printf(b, "parkd_spots_free{type=\"%s\"} %llu\n", facility_type_name(f, i),
		    (unsigned long long)k.free);
	}
	metric(b, "parkd_vehicles_inside", "gauge", "Open tickets.", (double)garage_inside_count(s->g));

	if (s->journal != NULL) {
		const struct journal_stats *js = journal_stats(s->journal);

		metric(b, "parkd_journal_writable", "gauge", "1 while changes can be made durable.", journal_writable(s->journal));
		metric(b, "parkd_journal_lsn", "gauge", "Last journal record appended.", (double)journal_last(s->journal));
		metric(b, "parkd_journal_durable_lsn", "gauge", "Last journal record on disk.", (double)journal_durable(s->journal));
		metric(b, "parkd_journal_records_total", "counter", "Records appended.", (double)js->records);
		metric(b, "parkd_journal_bytes_total", "counter", "Bytes appended.", (double)js->bytes);
		metric(b, "parkd_journal_batches_total", "counter", "Group-commit batches written.", (double)js->batches);
		metric(b, "parkd_journal_fsyncs_total", "counter", "fdatasync calls for batches.", (double)js->fsyncs);
		metric(b, "parkd_journal_max_batch", "gauge", "Most records in one batch.", (double)js->max_batch);
		metric(b, "parkd_journal_failures_total", "counter", "Write or fsync failures.", (double)js->failures);
		metric(b, "parkd_journal_snapshots_total", "counter", "Snapshots committed.", (double)js->snapshots);
		metric(b, "parkd_journal_recovery_seconds", "gauge", "Time the last start-up recovery took.", js->last_recovery_s);
	}
	metric(b, "parkd_audit_connected", "gauge", "1 while events reach Redis.",
	    strcmp(audit_state(s->audit), "connected") == 0);
	metric(b, "parkd_audit_stalled", "gauge",
	    "1 from a command at Redis passing its deadline until a batch is stored.",
	    strcmp(audit_state(s->audit), "stalled") == 0);
	metric(b, "parkd_audit_pending", "gauge", "Durable events not yet in Redis.",
	    (double)audit_pending(s->audit));
	metric(b, "parkd_audit_oldest_unshipped_age_seconds", "gauge",
	    "Since the oldest durable event not yet in Redis became durable (0: none).",
	    (double)audit_oldest_unshipped_age_s(s->audit));
	metric(b, "parkd_audit_shipped_total", "counter", "Events stored in Redis.",
	    (double)audit_shipped(s->audit));
}

char *
metrics_text(struct server *s, size_t *len)
{
	struct sbuf b = { NULL, 0, 0, 0 };

	write_metrics(s, &b);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
