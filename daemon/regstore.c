/* regstore.c - the vehicle registry's store, expiry and erasure (see regstore.h). */
#define LOG_COMPONENT "registry"
#include "regstore.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "contacts.h"
#include "log.h"
#include "publish.h"
#include "regops.h"
#include "replication.h"
#include "sidelog.h"
#include "server.h"
#include "wal.h"

/* Records expired in one loop iteration at most (the rest in the next). */
#define EXPIRE_BATCH 1000
/* The expiry timer looks at the wall clock again at least this often. */
#define EXPIRY_RECHECK_MS 60000
/* A journal that takes no changes is asked again after this. */
#define RETRY_MS 1000
/* The log is rewritten once it is this much larger than the last image. */
#define LOG_GROWTH 2
#define LOG_MIN_BYTES (1u << 20)

struct regstore {
	const struct config *cfg;
	registry *reg;
	struct contacts_meta meta;
	struct journal_side_hooks hooks;
	struct server *s;		/* from regstore_start */
	uv_timer_t expiry;
	uv_timer_t erase;
	int timers;			/* the two timers are initialised */
	int erase_armed;
	int stopped;
	int touched;			/* the changes being committed moved the registry */
	struct changes ch;		/* the expiry timer's changes */
	struct jw sidew;		/* side records, one at a time; wiped */
	/*
	 * Erasures not on disk yet, oldest first, for the metrics: owed_ms is
	 * when the oldest not yet asked of the journal began (0: none); asked
	 * holds the rewrites asked for (their tickets) and when the oldest
	 * erasure each covers began.  The journal has at most one rewrite in
	 * the works and one asked after it: two places.
	 */
	uint64_t owed_ms;
	struct { uint64_t ticket, since_ms; } asked[2];
	size_t n_asked;
	struct regstore_stats stats;
};

/* ---- the side stream's hooks ---- */

static void
side_reset(void *ud)
{
	struct regstore *rs = ud;

	registry_purge(rs->reg);
	registry_set_retention(rs->reg, rs->cfg->registry.retention_hours,
	    INT64_MIN, NULL);
	contacts_meta_init(&rs->meta);
}

static int
side_apply(void *ud, uint64_t lsn, int from_image, const char *payload,
    size_t len, char *err, size_t errlen)
{
	struct regstore *rs = ud;
	struct jerr e = { err, errlen, 0 };

	if (contacts_apply(rs->reg, &rs->meta, from_image, payload, len, &e) ==
	    PK_OK)
		return 0;
	/* The message names the record's place, never its contact. */
	{
		char what[300];

		snprintf(what, sizeof(what), "%s", err);
		snprintf(err, errlen, "%s record at LSN %" PRIu64 ": %s",
		    from_image ? "image" : "log", lsn, what);
	}
	return -1;
}

static void arm_expiry(struct regstore *rs);
static void on_expiry(uv_timer_t *t);

static int
side_loaded(void *ud, const garage *g, char *err, size_t errlen)
{
	struct regstore *rs = ud;
	struct jerr e = { err, errlen, 0 };

	if (contacts_image_complete(&rs->meta, &e) != 0)
		return -1;
	contacts_sync_inside(rs->reg, g);
	/* After a rebuild the earliest expiry may have moved. */
	if (rs->s != NULL)
		arm_expiry(rs);
	return 0;
}

struct image_out {
	struct wal_buf *b;
	uint64_t lsn;
};

static int
image_add(void *ud, const char *payload, size_t len)
{
	struct image_out *o = ud;

	return wal_buf_add(o->b, o->lsn, payload, len);
}

/*
 * Images from a copy: the copy on the loop, the image on the thread pool
 * (the journal's rewrites, and the image a standby going live is sent).
 */
struct contacts_frozen *
regstore_freeze(struct regstore *rs, struct contacts_frozen *reuse)
{
	return contacts_freeze(rs->reg, rs->cfg->registry.retention_hours, reuse);
}

int
regstore_frozen_image(struct contacts_frozen *f, uint64_t lsn,
    struct wal_buf *b)
{
	struct image_out o = { b, lsn };
	size_t guess = contacts_frozen_bytes(f);

	/*
	 * Room for the image at once: growing it step by step copied the
	 * whole buffer each time and left copies of the contacts in freed
	 * memory.
	 */
	if (wal_buf_reserve(b, guess + guess / 8 + 4096) != 0)
		return -1;
	return contacts_image_frozen(f, image_add, &o) == 0 ? 0 : -1;
}

static void *
side_freeze(void *ud, void *reuse)
{
	return regstore_freeze(ud, reuse);
}

static int
side_image_frozen(void *frozen, uint64_t lsn, struct wal_buf *b)
{
	return regstore_frozen_image(frozen, lsn, b);
}

static void
side_frozen_wipe(void *frozen)
{
	contacts_frozen_wipe(frozen);
}

static void
side_frozen_free(void *frozen)
{
	contacts_frozen_free(frozen);
}

/* Rewrites up to the done-th are on disk: the erasures they held are done. */
static void
erased(struct regstore *rs, uint64_t done)
{
	uint64_t now = server_ms(rs->s);
	int64_t within = rs->cfg->registry.erase_within_s;

	while (rs->n_asked > 0 && rs->asked[0].ticket <= done) {
		uint64_t took = now > rs->asked[0].since_ms ?
		    now - rs->asked[0].since_ms : 0;

		rs->stats.erasure_last_s = (double)took / 1000.0;
		rs->stats.erasure_rewrites++;
		/* 0: the erasure is part of its change's acknowledgement, never late. */
		if (within > 0 && took > (uint64_t)within * 1000) {
			rs->stats.erasures_late++;
			log_warn("an erasure reached the disk late took_s=%.3f "
			    "erase_within_s=%lld", (double)took / 1000.0,
			    (long long)within);
		}
		rs->asked[0] = rs->asked[1];
		rs->n_asked--;
	}
}

static void
side_rewritten(void *ud, uint64_t lsn, uint64_t image_bytes)
{
	struct regstore *rs = ud;

	log_debug("store rewritten lsn=%" PRIu64 " bytes=%" PRIu64, lsn,
	    image_bytes);
	if (rs->s != NULL && rs->s->journal != NULL)
		erased(rs, journal_stats(rs->s->journal)->side_rewrites);
	/* A standby may hold acknowledgements back for this rewrite. */
	if (rs->s != NULL)
		replication_side_rewritten(rs->s->repl);
}

struct regstore *
regstore_new(const struct config *c)
{
	struct regstore *rs = calloc(1, sizeof(*rs));

	if (rs == NULL)
		return NULL;
	rs->cfg = c;
	rs->reg = registry_new(c->registry.retention_hours);
	if (rs->reg == NULL) {
		free(rs);
		return NULL;
	}
	contacts_meta_init(&rs->meta);
	changes_init(&rs->ch);
	jw_init(&rs->sidew);
	rs->hooks.name = "contacts";
	rs->hooks.ud = rs;
	rs->hooks.reset = side_reset;
	rs->hooks.apply = side_apply;
	rs->hooks.loaded = side_loaded;
	rs->hooks.freeze = side_freeze;
	rs->hooks.image_frozen = side_image_frozen;
	rs->hooks.frozen_wipe = side_frozen_wipe;
	rs->hooks.frozen_free = side_frozen_free;
	rs->hooks.rewritten = side_rewritten;
	return rs;
}

const struct journal_side_hooks *
regstore_side_hooks(struct regstore *rs)
{
	return &rs->hooks;
}

registry *
regstore_registry(struct regstore *rs)
{
	return rs->reg;
}

/* ---- expiry ---- */

/* Changes are ours to make now: the journal takes them, and no fence refuses them. */
static int
journal_ready(struct server *s)
{
	return s->journal != NULL && s->env.writable(s, &(const char *){ "" }) == 1 &&
	    journal_consistent(s->journal) && !s->shutting_down;
}

static void
arm_expiry(struct regstore *rs)
{
	int64_t due = registry_next_due(rs->reg), now = server_now();
	uint64_t ms;

	/* A standby expires nothing: the primary's expiries reach it. */
	if (!rs->timers || rs->stopped || replication_is_standby(rs->s->repl))
		return;
	if (due == REGISTRY_NEVER) {
		uv_timer_stop(&rs->expiry);
		return;
	}
	/*
	 * The timer runs on the loop's monotonic clock, expiry on the wall
	 * clock: a long wait is cut short and the wall clock read again.
	 */
	ms = due <= now ? 0 : (uint64_t)(due - now) * 1000;
	if (ms > EXPIRY_RECHECK_MS)
		ms = EXPIRY_RECHECK_MS;
	uv_timer_start(&rs->expiry, on_expiry, ms, 0);
}

static void
on_expiry(uv_timer_t *t)
{
	struct regstore *rs = t->data;
	struct server *s = rs->s;
	uint64_t hold;

	if (rs->stopped)
		return;
	if (!journal_ready(s)) {
		uv_timer_start(&rs->expiry, on_expiry, RETRY_MS, 0);
		return;
	}
	changes_clear(&rs->ch);
	if (regops_expire(rs->reg, server_now(), EXPIRE_BATCH, &rs->ch) > 0) {
		/* A failure rebuilds the state from disk: nothing to undo here. */
		if (commit_changes(s, s->g, &rs->ch, 0, &hold) == 0)
			publish_flush(s);
		changes_clear(&rs->ch);
	} else if (registry_next_due(rs->reg) <= server_now()) {
		/* Due but not expired: no memory for the changes.  Later. */
		uv_timer_start(&rs->expiry, on_expiry, RETRY_MS, 0);
		return;
	}
	arm_expiry(rs);
}

/* ---- erasure ---- */

/* The erasures owed so far are asked of the journal: ticket holds them. */
static void
asked(struct regstore *rs, uint64_t ticket)
{
	size_t last = rs->n_asked - 1;

	if (ticket == 0 || rs->owed_ms == 0)
		return;
	/*
	 * A new place unless the last ticket asked for is this one (its
	 * rewrite has not begun: it takes these too).  The journal has one
	 * rewrite in the works and one asked after it at most, so two places
	 * do; were they full, the later one would stand for both.
	 */
	if (rs->n_asked == 0 || (rs->asked[last].ticket < ticket && rs->n_asked < 2)) {
		rs->asked[rs->n_asked].since_ms = rs->owed_ms;
		last = rs->n_asked++;
	}
	if (rs->asked[last].ticket < ticket)
		rs->asked[last].ticket = ticket;
	rs->owed_ms = 0;
}

static void
on_erase(uv_timer_t *t)
{
	struct regstore *rs = t->data;

	rs->erase_armed = 0;
	if (rs->s->journal != NULL)
		asked(rs, journal_side_rewrite(rs->s->journal));
}

/* A contact left the registry: the store is rewritten without it in time. */
static void
owe_erasure(struct regstore *rs)
{
	int64_t within = rs->cfg->registry.erase_within_s;

	if (rs->owed_ms == 0 && rs->s != NULL)
		rs->owed_ms = server_ms(rs->s) | 1;	/* never 0: 0 is none */
	if (within == 0 || !rs->timers || rs->stopped) {
		/* 0: erased before the change is acknowledged (with its batch). */
		if (rs->s->journal != NULL)
			asked(rs, journal_side_rewrite_now(rs->s->journal));
		return;
	}
	if (rs->erase_armed)
		return;		/* the rewrite already owed takes this one too */
	rs->erase_armed = 1;
	uv_timer_start(&rs->erase, on_erase, (uint64_t)within * 1000 / 2, 0);
}

/* ---- the commit step ---- */

int
regstore_follow(struct regstore *rs, const struct change *c,
    const char **side, size_t *side_len)
{
	rs->touched |= regops_follow(rs->reg, c) || regops_is_registry(c);
	if (rs->sidew.buf != NULL)
		explicit_bzero(rs->sidew.buf, rs->sidew.len);
	jw_reset(&rs->sidew);
	contacts_side_write(rs->reg, c, rs->cfg->registry.retention_hours,
	    &rs->sidew);
	*side = rs->sidew.buf;
	*side_len = rs->sidew.len;
	return jw_failed(&rs->sidew) ? -1 : 0;
}

/* A log grown past twice the last image (and LOG_MIN_BYTES) is rewritten. */
static void
compact(struct regstore *rs)
{
	const struct journal_stats *st = journal_stats(rs->s->journal);

	if (st->side_log_bytes > LOG_MIN_BYTES &&
	    st->side_log_bytes > LOG_GROWTH * st->side_image_bytes &&
	    !journal_side_rewrite_pending(rs->s->journal))
		journal_side_rewrite(rs->s->journal);
}

void
regstore_committed(struct regstore *rs, const struct changes *ch)
{
	int erased = 0;

	if (rs->sidew.buf != NULL)
		explicit_bzero(rs->sidew.buf, rs->sidew.len);
	for (size_t i = 0; i < ch->n; i++)
		erased |= regops_erases(&ch->v[i]);
	if (rs->s == NULL || rs->s->journal == NULL || !rs->touched)
		return;
	rs->touched = 0;
	if (erased)
		owe_erasure(rs);
	compact(rs);
	arm_expiry(rs);
}

const struct regstore_stats *
regstore_stats(struct regstore *rs)
{
	uint64_t since = rs->n_asked > 0 ? rs->asked[0].since_ms : rs->owed_ms;
	uint64_t now = rs->s != NULL ? server_ms(rs->s) : 0;

	rs->stats.vehicles = registry_count(rs->reg);
	rs->stats.erasure_pending_s = since != 0 && now > since ?
	    (double)(now - since) / 1000.0 : 0;
	return &rs->stats;
}

/* ---- a standby's registry ---- */

struct install {
	registry *reg;
	struct contacts_meta meta;
};

static int
install_one(void *ud, uint64_t lsn, int from_image, const char *payload,
    size_t len, char *err, size_t errlen)
{
	struct install *in = ud;
	struct jerr e = { err, errlen, 0 };

	(void)lsn;
	return contacts_apply(in->reg, &in->meta, from_image, payload, len,
	    &e) == PK_OK ? 0 : -1;
}

uint64_t
regstore_install(struct regstore *rs, const unsigned char *img, size_t len,
    int *held_contacts, char *err, size_t errlen)
{
	struct install in;
	struct sidelog_result res;
	struct jerr e = { err, errlen, 0 };
	int rc;

	in.reg = registry_new(rs->cfg->registry.retention_hours);
	if (in.reg == NULL) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	contacts_meta_init(&in.meta);
	/* Read as the store's own image is read at start-up, no log after it. */
	rc = sidelog_read(img, len, NULL, 0, journal_last(rs->s->journal),
	    install_one, &in, &res, err, errlen);
	if (rc == 0 && in.meta.image_expect < 0)
		rc = jerr_set(&e, "image", "has no header");
	if (rc != 0 || contacts_image_complete(&in.meta, &e) != 0) {
		registry_free(in.reg);
		return 0;
	}
	*held_contacts = registry_count(rs->reg) > 0 || registry_count(in.reg) > 0;
	registry_free(rs->reg);
	rs->reg = in.reg;
	in.meta.erased = rs->meta.erased;
	rs->meta = in.meta;
	if (rs->s->env.registry != NULL)
		rs->s->env.registry = rs->reg;
	return journal_side_rewrite(rs->s->journal);
}

int
regstore_apply(struct regstore *rs, uint64_t lsn, const char *payload,
    size_t len, char *err, size_t errlen)
{
	uint64_t erased = rs->meta.erased;

	if (side_apply(rs, lsn, 0, payload, len, err, errlen) != 0)
		return -1;
	if (rs->meta.erased != erased)
		owe_erasure(rs);
	compact(rs);
	return 0;
}

/* ---- start and stop ---- */

/*
 * The configuration file's retention, when it differs from the one it
 * said when the retention was last recorded: the file was edited, and
 * wins (like a reload).  A retention set at run time otherwise stays.
 */
static void
start_retention(struct regstore *rs)
{
	int64_t file = rs->cfg->registry.retention_hours;
	struct changes ch;
	uint64_t hold;

	if (rs->meta.config_hours < 0 || rs->meta.config_hours == file ||
	    registry_retention(rs->reg) == file)
		return;
	if (!journal_ready(rs->s)) {
		log_err("the configuration's retention is not in force: changes are "
		    "refused here hours=%" PRId64 " in_force=%" PRId64, file,
		    registry_retention(rs->reg));
		return;
	}
	changes_init(&ch);
	log_info("the configuration's retention takes force hours=%" PRId64
	    " was_in_file=%" PRId64 " was_in_force=%" PRId64, file,
	    rs->meta.config_hours, registry_retention(rs->reg));
	if (regops_set_retention(rs->reg, file, server_now(), &ch) != PK_OK ||
	    commit_changes(rs->s, rs->s->g, &ch, 0, &hold) != 0)
		log_err("the configuration's retention could not be journaled");
	changes_release(&ch);
}

int
regstore_start(struct regstore *rs, struct server *s)
{
	rs->s = s;
	s->regstore = rs;
	s->env.registry = rs->reg;
	uv_timer_init(s->loop, &rs->expiry);
	uv_timer_init(s->loop, &rs->erase);
	rs->expiry.data = rs->erase.data = rs;
	/* Neither keeps the loop alive: shutdown waits for clients only. */
	uv_unref((uv_handle_t *)&rs->expiry);
	uv_unref((uv_handle_t *)&rs->erase);
	rs->timers = 1;
	/*
	 * A standby follows the primary's registry (regstore_install,
	 * regstore_apply) and erases from its own files, but serves it and
	 * expires from it only once promoted (regstore_promoted).
	 */
	if (replication_is_standby(s->repl)) {
		s->env.registry = NULL;
		return 0;
	}
	start_retention(rs);
	arm_expiry(rs);
	return 0;
}

void
regstore_promoted(struct regstore *rs)
{
	if (rs == NULL || rs->s == NULL)
		return;
	rs->s->env.registry = rs->reg;
	/* Followed records do not track who is inside: the garage knows. */
	contacts_sync_inside(rs->reg, rs->s->g);
	start_retention(rs);
	arm_expiry(rs);
}

void
regstore_stop(struct regstore *rs)
{
	if (rs == NULL || rs->stopped)
		return;
	rs->stopped = 1;
	if (rs->timers) {
		uv_timer_stop(&rs->expiry);
		uv_timer_stop(&rs->erase);
	}
	/* An erasure still owed goes with the journal's last batch. */
	if (rs->erase_armed && rs->s != NULL && rs->s->journal != NULL)
		journal_side_rewrite(rs->s->journal);
	rs->erase_armed = 0;
}

void
regstore_free(struct regstore *rs)
{
	if (rs == NULL)
		return;
	registry_free(rs->reg);
	changes_release(&rs->ch);
	if (rs->sidew.buf != NULL)
		explicit_bzero(rs->sidew.buf, rs->sidew.cap);
	jw_release(&rs->sidew);
	free(rs);
}
