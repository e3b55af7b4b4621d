/*
 * metrics.h - what /metrics answers: the daemon's counters and gauges in
 * the Prometheus text exposition format 0.0.4.
 */
#ifndef PARKD_METRICS_H
#define PARKD_METRICS_H

#include <stddef.h>

struct server;

/* The whole exposition, malloc'd; *len its length.  NULL when out of memory. */
char *metrics_text(struct server *s, size_t *len);

#endif
