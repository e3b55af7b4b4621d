/* replication.c - the role of this daemon and what follows from it (see replication.h). */
#define LOG_COMPONENT "repl"
#include "replication.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "journal.h"
#include "log.h"
#include "repl_primary.h"
#include "repl_standby.h"
#include "server.h"

struct replication {
	struct server *s;
	int standby;			/* following a primary; changes are not ours */
	struct repl_primary *rp;	/* the sender: NULL on a standby not promoted */
	struct repl_standby *rs;	/* the follower: NULL unless configured */
	char why[200];
};

struct replication *
replication_new(struct server *s)
{
	struct replication *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->s = s;
	r->standby = s->cfg->repl.primary.enabled;
	if (r->standby)
		r->rs = repl_standby_new(s);
	else
		r->rp = repl_primary_new(s);
	if (r->rs == NULL && r->rp == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

int
replication_start(struct replication *r)
{
	if (r->standby) {
		log_info("a standby, changes are answered not_primary until a promote "
		    "primary=%s:%d", r->s->cfg->repl.primary.host, r->s->cfg->repl.primary.port);
		/* Its acknowledgement is what a sync primary answers gates on. */
		if (r->s->cfg->durability != DUR_FSYNC)
			log_warn("durability is not fsync: this standby acknowledges records "
			    "before they are on its disk, and a sync primary counts those "
			    "acknowledgements durability=%s",
			    r->s->cfg->durability == DUR_WRITE ? "write" : "none");
		repl_standby_start(r->rs);
		return 0;
	}
	return repl_primary_listen(r->rp);
}

int
replication_is_standby(const struct replication *r)
{
	return r != NULL && r->standby;
}

int
replication_writable(const struct replication *r, const char **why)
{
	uint32_t epoch;

	if (r == NULL)
		return 1;
	if (r->standby) {
		*why = repl_standby_primary(r->rs);
		return REPLICATION_NOT_PRIMARY;
	}
	if (repl_primary_fenced(r->rp, &epoch, why))
		return REPLICATION_NOT_PRIMARY;
	if (repl_primary_refusing(r->rp, why))
		return REPLICATION_NO_STANDBY;
	return 1;
}

uint64_t
replication_safe(const struct replication *r)
{
	if (r == NULL || r->rp == NULL)
		return UINT64_MAX;
	return repl_primary_safe(r->rp);
}

int
replication_degraded(struct replication *r, const char **why)
{
	const char *by;
	uint32_t epoch;

	if (r == NULL || r->rp == NULL)
		return 0;
	if (repl_primary_fenced(r->rp, &epoch, &by)) {
		snprintf(r->why, sizeof(r->why), "fenced: a standby was promoted to "
		    "epoch %u (%s); changes go there", epoch, by[0] ? by : "address unknown");
		*why = r->why;
		return 1;
	}
	return repl_primary_degraded(r->rp, why);
}

void
replication_batch(struct replication *r, const struct journal_batch *b)
{
	if (r != NULL && r->rp != NULL)
		repl_primary_batch(r->rp, b);
}

void
replication_durable(struct replication *r, uint64_t durable)
{
	if (r != NULL && r->rs != NULL && r->standby)
		repl_standby_durable(r->rs, durable);
}

void
replication_side_rewritten(struct replication *r)
{
	if (r != NULL && r->rs != NULL && r->standby)
		repl_standby_side_rewritten(r->rs);
}

void
replication_journal_failed(struct replication *r, uint64_t durable)
{
	if (r == NULL)
		return;
	if (r->rp != NULL)
		repl_primary_journal_failed(r->rp, durable);
	if (r->rs != NULL && r->standby)
		repl_standby_journal_failed(r->rs);
}

int
replication_promote(struct replication *r, uint64_t *lsn, char *why, size_t whylen)
{
	struct server *s = r->s;
	const char *by;
	uint32_t epoch;

	if (!r->standby) {
		if (r->rp != NULL && repl_primary_fenced(r->rp, &epoch, &by)) {
			snprintf(why, whylen, "this daemon was fenced by epoch %u at %s: "
			    "follow the new primary instead", epoch, by[0] ? by : "an unknown address");
			return -1;
		}
		return 1;
	}
	if (!journal_writable(s->journal)) {
		snprintf(why, whylen, "the journal takes no changes");
		return -1;
	}
	if (r->rp == NULL && (r->rp = repl_primary_new(s)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	/*
	 * From here on this daemon is the primary: the caller journals the
	 * promotion at the next LSN before anything else can happen (the loop
	 * runs on only after it), and everything below starts acting on it.
	 */
	r->standby = 0;
	*lsn = journal_last(s->journal) + 1;
	repl_standby_promoted(r->rs);
	/*
	 * The history up to the promotion is what every standby of the old
	 * primary had: the promotion and whatever follows wait for a standby
	 * of ours in sync mode, not what came before.
	 */
	repl_primary_start_at(r->rp, *lsn);
	log_info("promoted, this daemon is the primary epoch=%u lsn=%llu",
	    garage_epoch(s->g) + 1, (unsigned long long)*lsn);
	if (repl_primary_listen(r->rp) != 0)
		log_err("promoted, but standbys cannot connect (see above)");
	audit_release(s->audit);
	server_promoted(s);
	return 0;
}

void
replication_health(const struct replication *r, struct jw *w)
{
	const struct server *s = r->s;

	jw_kstr(w, "role", r->standby ? "standby" : "primary");
	jw_kuint(w, "epoch", garage_epoch(s->g));
	if (!r->standby && r->rp != NULL) {
		const char *by;
		uint32_t epoch;

		if (repl_primary_fenced(r->rp, &epoch, &by)) {
			jw_key(w, "fenced");
			jw_obj(w);
			jw_kuint(w, "epoch", epoch);
			jw_kstr(w, "by", by);
			jw_obj_end(w);
		}
		repl_primary_health(r->rp, w);
	}
	if (r->rs != NULL)
		repl_standby_health(r->rs, w);
}

void
replication_stats(const struct replication *r, struct replication_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (r == NULL)
		return;
	st->standby = r->standby;
	st->epoch = garage_epoch(r->s->g);
	st->sync = r->s->cfg->repl.mode == REPL_SYNC && !r->standby;
	if (!r->standby && r->rp != NULL)
		repl_primary_stats(r->rp, st);
	if (r->standby)
		repl_standby_stats(r->rs, st);
}

void
replication_close(struct replication *r)
{
	if (r == NULL)
		return;
	repl_primary_close(r->rp);
	repl_standby_close(r->rs);
}

void
replication_free(struct replication *r)
{
	if (r == NULL)
		return;
	repl_primary_free(r->rp);
	repl_standby_free(r->rs);
	free(r);
}
