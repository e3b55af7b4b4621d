/*
 * regstore.h - the vehicle registry in the daemon: where its records live
 * on disk, when they expire, and when deleted contacts leave the disk.
 *
 * The registry (lib/registry.h) is the daemon's, beside the garage.  Its
 * store is the journal's side stream (journal.h) "contacts":
 * data_dir/contacts/contacts.db and contacts.log, in the records of
 * lib/contacts.h; the main journal and its snapshots get only the
 * plate-only audit events (record.h).  At start-up the store is read back
 * after the journal (the records' inside flags from the garage), so it is
 * the registry's one source of truth.
 *
 * The commit step hands every change here (regstore_follow) before it is
 * journaled: the garage's entries and exits move the records' expiry, and
 * each change that has a fact for the store gets its side record, which
 * the journal writes and syncs with the change's own batch.
 *
 * Timers: one on the earliest expiry (registry_next_due: records that
 * expired while the daemon was down go in the first loop iteration), and
 * one that asks the journal for a rewrite of the store within
 * registry.erase_within_s of the first erasure (delete, expiry, purge, a
 * replaced contact) that is not yet rewritten away: half of it is allowed
 * for waiting, so that erasures close together share one rewrite, and
 * half for the rewrite itself.  With 0 the rewrite goes with the batch of
 * the erasure, before it is acknowledged.  A log grown past twice the last
 * image (and 1 MiB) is rewritten too.
 */
#ifndef PARKD_REGSTORE_H
#define PARKD_REGSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "change.h"
#include "contacts.h"
#include "config.h"
#include "journal.h"
#include "registry.h"

struct regstore;
struct server;

/*
 * A registry with the configuration's retention (c is borrowed; it must
 * outlive the regstore).  NULL when out of memory.
 */
struct regstore *regstore_new(const struct config *c);
/* The journal's side stream hooks (journal_hooks.side), valid for rs's life. */
const struct journal_side_hooks *regstore_side_hooks(struct regstore *rs);
registry *regstore_registry(struct regstore *rs);

/*
 * Once the journal is open and the server set up: takes its timers on
 * s's loop, lends the registry to the methods (s->env.registry), puts
 * the configuration's retention in force when the file changed it since
 * it was last recorded (journaled like `retention set_hours=`), and arms
 * the expiry timer.  0, or -1 when out of memory.
 */
int regstore_start(struct regstore *rs, struct server *s);

/*
 * The commit step, for each change c before it is journaled: applies
 * the garage's entries and exits to the registry and writes c's record
 * for the store into the regstore's buffer; *side and *side_len (0 when
 * none) point at it until the next call.  -1 when out of memory.
 */
int regstore_follow(struct regstore *rs, const struct change *c,
    const char **side, size_t *side_len);
/* After a list of changes was journaled: erasures owed, the expiry timer. */
void regstore_committed(struct regstore *rs, const struct changes *ch);

/* A standby was promoted: the registry is kept, and its timers run, from now on. */
void regstore_promoted(struct regstore *rs);

/*
 * Replication.  The primary sends the registry as an image each time a
 * standby starts streaming live (the records it read from the files came
 * without their side records), then each live batch's side records.
 *
 * The image is made from a copy of the registry, so that the loop only
 * copies (the JSON and the checksums are the thread pool's):
 * regstore_freeze takes the copy on the loop, into reuse's memory when
 * given (NULL when out of memory, reuse then freed); regstore_frozen_image
 * writes its image at lsn into b, on any thread, 0 or -1 when out of
 * memory; contacts_frozen_free (contacts.h) wipes and frees it.  The
 * journal's rewrites of the store are made the same way.
 */
struct contacts_frozen *regstore_freeze(struct regstore *rs,
    struct contacts_frozen *reuse);
int regstore_frozen_image(struct contacts_frozen *f, uint64_t lsn,
    struct wal_buf *b);
/*
 * A standby: the registry becomes the image img[0..len) (wal.h records,
 * as regstore_frozen_image writes them) and its store is rewritten with the
 * next batch, which erases from its files whatever the image no longer
 * holds.  Returns the rewrite's ticket (journal_side_rewrite), or 0 with
 * the reason in err, the registry unchanged.  *held_contacts is 1 when
 * the registry held a record before or holds one now: only then does
 * anything wait for that rewrite.
 */
uint64_t regstore_install(struct regstore *rs, const unsigned char *img,
    size_t len, int *held_contacts, char *err, size_t errlen);
/*
 * A standby: applies the side record that rides with the main record of
 * lsn, before both are journaled (journal_append_side).  An erasure it
 * makes is owed to the standby's own files within erase_within_s, as on
 * the primary.  0, or -1 with the reason in err.
 */
int regstore_apply(struct regstore *rs, uint64_t lsn, const char *payload,
    size_t len, char *err, size_t errlen);

/*
 * For the metrics: registered vehicles; how long the oldest erasure not on
 * disk yet has waited (0: none); of the rewrites that took erasures to
 * disk: how long the last took from the oldest erasure it held, how many
 * there were, and how many of them took longer than erase_within_s.  An
 * erasure is a contact deleted, expired, purged or replaced; a rewrite of
 * the store takes every one owed before it began.
 */
struct regstore_stats {
	uint64_t vehicles;
	double erasure_pending_s, erasure_last_s;
	uint64_t erasure_rewrites, erasures_late;
};
const struct regstore_stats *regstore_stats(struct regstore *rs);

/* Stops the timers (shutdown); the loop closes them. */
void regstore_stop(struct regstore *rs);
/* Frees rs (NULL is fine) once its timers are closed. */
void regstore_free(struct regstore *rs);

#endif
