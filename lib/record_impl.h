/*
 * record_impl.h - between record.c and record_cap.c, and no one else: the
 * envelope every record shares, and the records of the waitlist and the
 * reservations (capacity.h).
 */
#ifndef PARKD_RECORD_IMPL_H
#define PARKD_RECORD_IMPL_H

#include "record.h"

/* ---- record.c, for record_cap.c ---- */

/* Opens a record and its subjects array: {"id":..,"ts":..,"type":..,"subjects":[ */
void record_head(struct jw *w, const char *type, const char *event_id,
    int64_t ts);
/* One subject, "kind:name"; kind is written in the source ("vehicle"). */
#define record_subject(w, kind, name) jw_prefixed((w), kind ":", (name))
/* Closes the subjects and opens data (the caller closes data and the record). */
void record_data(struct jw *w);
/* data.spots by name; data.<key> as a gate.  0, or -1 with e set. */
int record_read_spots(const facility *f, const cJSON *d,
    uint32_t ids[ALLOC_MAX_SPOTS], size_t *n, struct jerr *e);
int record_read_gate(const facility *f, const cJSON *d, const char *key,
    int *gate, struct jerr *e);

/* A snapshot being written: each record is handed to fn as it is made. */
struct record_snap {
	const garage *g;
	int (*fn)(void *ud, const char *json, size_t len);
	void *ud;
	struct jw w;
	int rc;			/* the first failure (fn's, or -1: no memory) */
};

/* Starts a snapshot record of type (no id, no subjects); its data is open. */
struct jw *record_snap_begin(struct record_snap *s, const char *type);
/* Closes it and hands it to fn, unless an earlier one failed. */
void record_snap_end(struct record_snap *s);

/* ---- record_cap.c, for record.c ---- */

/*
 * The record of a CHG_WAIT_* or CHG_RESV_* change, up to its open data
 * object with its members (record_write closes data and the record).
 */
void record_cap_write(const garage *g, const struct change *c,
    const char *event_id, struct jw *w);
/* Whether type is one of the waitlist's or reservations' record types. */
int record_cap_type(const char *type);
/* Applies such a record's data d (see record_apply). */
pk_err record_cap_apply(garage *g, const char *type, const cJSON *d,
    struct jerr *e);
/* The snapshot records of the reservations and the waitlist (sets s->rc). */
void record_cap_snapshot(struct record_snap *s);

#endif
