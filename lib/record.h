/*
 * record.h - journal records: what changed, as JSON, and how to apply it.
 *
 * A journal record has the shape of an audit event (protocol section 8):
 *
 *   {"id":"<uuid>","ts":"...","type":"vehicle.entered",
 *    "subjects":["vehicle:B-XY 123","ticket:...","spot:B-01","gate:north"],
 *    "data":{...},"epoch":1}
 *
 * epoch is the epoch of the history it was written in (epochs.h): which
 * primary wrote it.  A promotion is itself a record, "replication.promoted"
 * with data {epoch, lsn}.
 *
 * so the journal is at once the durable history and the source the audit
 * shipper reads.  data carries the facts needed to replay the change
 * exactly (the spots chosen, the multipliers fixed at entry), never a
 * decision to be taken again.
 *
 * Snapshot files hold records of the "snapshot.*" types, which rebuild the
 * whole state; they are applied by the same function.
 */
#ifndef PARKD_RECORD_H
#define PARKD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "garage.h"
#include "json.h"
#include "jsonw.h"

/*
 * Writes the record of change c (just made in g, see change.h) with audit
 * event id event_id and time stamp c->at.  This text is at once the
 * journal record, the audit event and what subscribers receive.  Out of
 * memory shows as jw_failed(w).  event_id is written as it is: nothing in
 * it may need escaping in JSON (the daemon's are UUIDs; a SAN=1 build
 * checks).
 */
void record_write(const garage *g, const struct change *c,
    const char *event_id, struct jw *w);

/*
 * Applies one record (journal or snapshot) to g with the garage's restore
 * functions: replayed changes are facts, not new changes.  Returns PK_OK,
 * or an error with a message in e: the record does not parse
 * (PK_E_PARSE, "record: line 1, column 9: ..."), is not in the shape
 * record_write writes or does not fit the state ("data.spots[0]: unknown
 * spot Z-99"), or memory ran out (PK_E_INTERNAL).
 */
pk_err record_apply(garage *g, const char *json, size_t len,
    struct jerr *e);

/*
 * Emits the snapshot records that rebuild g, in an order record_apply can
 * take them: strategy, tariff, closed tickets oldest first, tickets inside,
 * reservations (holds), waitlist entries and the next arrival number,
 * spots out of service.  fn returns 0 to go on; its first non-zero return
 * (or -1 when out of memory) is returned.
 */
int record_snapshot(const garage *g,
    int (*fn)(void *ud, const char *json, size_t len), void *ud);

/*
 * The epoch a record was written in (epochs.h): the "epoch" member
 * record_write puts last, read without a parser (the shipper and the
 * replication stream run it on every record).  1 for a record written
 * before epochs (none there) and for snapshot records.
 */
uint32_t record_peek_epoch(const char *json, size_t len);

/*
 * The audit shipper's view of a journal record: its event id and subjects,
 * read without a JSON library (it runs on the thread pool, where cJSON's
 * global error state must not be touched).  Strings are unescaped into buf
 * (NUL-separated, *used bytes of it); id and subj[i] point into it.
 * Returns the number of subjects (at most max_subj), or -1 when the record
 * is not in the shape record_write() writes or buf is too small.
 */
int record_peek(const char *json, size_t len, char *buf, size_t buflen,
    size_t *used, const char **id, const char **subj, int max_subj);

#endif
