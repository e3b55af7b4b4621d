/*
 * metrics.h - what /metrics answers: the daemon's counters, gauges and
 * histograms in the Prometheus text exposition format 0.0.4 (http.md
 * "Metrics an operator needs"), and the request metrics kept here.
 *
 * Requests are counted by method and outcome, and their latency observed
 * per method, in one place: metrics_requests(), which the client calls
 * when a reply is handed to its transport (client.h).  The latency runs
 * from the moment the request's line came in to that moment, so a reply
 * to a change includes the wait for the journal to make it durable.  A
 * batch's requests each count with the batch's latency.  Counters live in
 * arrays indexed by method (method_index) and pk_err: recording allocates
 * nothing.
 *
 * Everything else is read when /metrics is asked for: the server's stats,
 * the journal's (and its snapshotter's), the audit shipper's, the garage.
 */
#ifndef PARKD_METRICS_H
#define PARKD_METRICS_H

#include <stddef.h>

#include "session.h"

struct server;
struct metrics;

/* Request counters and latency histograms for the method table; NULL when out of memory. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * n requests (as session_out.reqs gives them) were answered, seconds
 * after their line came in.  A request with no method of ours (unreadable,
 * unknown method, rate limited) counts as method "unknown".  m may be NULL.
 */
void metrics_requests(struct metrics *m, const struct session_req *r, size_t n,
    double seconds);

/* The whole exposition, malloc'd; *len its length.  NULL when out of memory. */
char *metrics_text(struct server *s, size_t *len);

#endif
