/* reload.c - the configuration file at start and on SIGHUP (see reload.h). */
#define LOG_COMPONENT "config"

#include "reload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capacity.h"
#include "commit.h"
#include "config.h"
#include "garage.h"
#include "journal.h"
#include "jsonw.h"
#include "log.h"
#include "publish.h"
#include "replication.h"
#include "regops.h"
#include "regstore.h"
#include "server.h"

char *
reload_read_file(const char *path, size_t max, size_t *len, char *err,
    size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t r;

		if (n == cap) {
			char *nb;

			if (cap >= max) {
				snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

/*
 * Whether the daemon may journal a change of its own now (the file's
 * tariff or strategy): not while the journal refuses changes, nor on a
 * fenced primary, whose history has ended.  Logs what is not changed.
 */
static int
may_journal(struct server *s, const char *what)
{
	const char *why = "";

	if (s->env.writable(s, &why) == 1)
		return 1;
	log_err("%s not changed: changes are refused here reason=\"%s\"", what, why);
	return 0;
}

/* Equal tariffs write the same text (tariff_write writes every key). */
static int
tariff_equal(const tariff *a, const tariff *b)
{
	struct jw ja, jb;
	int eq;

	jw_init(&ja);
	jw_init(&jb);
	tariff_write(a, &ja);
	tariff_write(b, &jb);
	eq = !jw_failed(&ja) && !jw_failed(&jb) && ja.len == jb.len &&
	    memcmp(ja.buf, jb.buf, ja.len) == 0;
	jw_release(&ja);
	jw_release(&jb);
	return eq;
}

void
reload_start_tariff(struct server *s, struct settings *cfg)
{
	struct changes ch;
	uint64_t hold;
	pk_err e = PK_OK;

	if (!may_journal(s, "the file's tariff"))
		return;
	changes_init(&ch);
	if (!garage_tariff_journaled(s->g)) {
		e = garage_journal_tariff(s->g, server_now(), &ch);
	} else if (!tariff_equal(cfg->core->tariff, garage_tariff(s->g))) {
		log_info("the file's tariff differs from the one in force, it becomes "
		    "a new version version=%u", garage_tariff_version(s->g) + 1);
		e = garage_set_tariff(s->g, cfg->core->tariff, server_now(), &ch);
		cfg->core->tariff = NULL;
	}
	if (e != PK_OK || commit_changes(s, s->g, &ch, 0, &hold) != 0)
		log_err("the tariff could not be journaled, changes are refused "
		    "until the journal recovers");
	changes_release(&ch);
}

/*
 * The journaled settings of the file (tariff, strategy) that differ from
 * those in force become changes, as if an operator had made them, in one
 * commit.  Takes the tariff from nc when it is used.
 */
static void
apply_journaled(struct server *s, struct settings *nc)
{
	struct changes ch;
	uint64_t hold;
	int tariff_new = !tariff_equal(nc->core->tariff, garage_tariff(s->g));
	int strategy_new = nc->core->strategy != garage_strategy(s->g);
	int64_t now = server_now();
	pk_err e = PK_OK;

	if (!tariff_new && !strategy_new)
		return;
	/* A standby's tariff and strategy are its primary's: they come with the records. */
	if (replication_is_standby(s->repl)) {
		log_info("a standby: tariff and strategy come from the primary, not the file");
		return;
	}
	if (!may_journal(s, "tariff and strategy"))
		return;
	changes_init(&ch);
	if (strategy_new)
		e = garage_set_strategy(s->g, nc->core->strategy, now, &ch);
	if (e == PK_OK && tariff_new) {
		e = garage_set_tariff(s->g, nc->core->tariff, now, &ch);
		nc->core->tariff = NULL;
	}
	if (e != PK_OK)
		log_err("out of memory, tariff and strategy not changed");
	else if (commit_changes(s, s->g, &ch, 0, &hold) != 0)
		log_err("the change could not be journaled, it is undone");
	else if (tariff_new && strategy_new)
		log_info("new tariff and strategy in force version=%u strategy=%s",
		    garage_tariff_version(s->g),
		    alloc_strategy_name(garage_strategy(s->g)));
	else if (tariff_new)
		log_info("new tariff in force version=%u", garage_tariff_version(s->g));
	else
		log_info("new strategy in force strategy=%s",
		    alloc_strategy_name(garage_strategy(s->g)));
	publish_flush(s);
	changes_release(&ch);
}

/*
 * registry.retention_hours, when the file now says something else than it
 * did: a journaled change like `retention set_hours=` (so a retention set
 * at run time stays until the file's is edited, as at start).
 */
static void
apply_retention(struct server *s, struct settings *nc)
{
	int64_t hours = nc->core->registry.retention_hours;
	struct changes ch;
	registry *r;
	uint64_t hold;

	if (s->regstore == NULL ||
	    s->cfg->core->registry.retention_hours == hours)
		return;
	s->cfg->core->registry.retention_hours = hours;
	r = regstore_registry(s->regstore);
	if (registry_retention(r) == hours)
		return;
	if (s->env.writable(s, &(const char *){ "" }) != 1) {
		log_err("the journal is not writable, retention not changed");
		return;
	}
	changes_init(&ch);
	if (regops_set_retention(r, hours, server_now(), &ch) != PK_OK)
		log_err("out of memory, retention not changed");
	else if (commit_changes(s, s->g, &ch, 0, &hold) != 0)
		log_err("the change could not be journaled, it is undone");
	else
		log_info("new retention in force hours=%lld", (long long)hours);
	publish_flush(s);
	changes_release(&ch);
}

static int
is_flag_key(const struct reload_src *src, const char *key)
{
	for (size_t i = 0; src->flag_keys != NULL && src->flag_keys[i]; i++)
		if (strcmp(src->flag_keys[i], key) == 0)
			return 1;
	return 0;
}

/* Names each key the new text changes that only a restart applies. */
static void
log_restart_keys(const struct reload_src *src, const char *text, size_t len)
{
	char err[256];
	struct jerr e = { err, sizeof(err), 0 };
	cJSON *was = config_json(src->start_text, src->start_len, &e);
	cJSON *now = was ? config_json(text, len, &e) : NULL;
	const char *keys[16];
	size_t n;

	if (now != NULL) {
		n = settings_restart_changes(was, now, keys, 16);
		for (size_t i = 0; i < n; i++)
			if (!is_flag_key(src, keys[i]))
				log_warn("changed in the file, needs a restart key=%s",
				    keys[i]);
	}
	cJSON_Delete(was);
	cJSON_Delete(now);
}

/*
 * The waitlist's limits and the reservations' settings: new bookings and
 * new waits follow them; what is booked or waiting keeps its instants.
 */
static void
reload_capacity(struct server *s, struct settings *nc)
{
	struct garage_capacity_cfg cc;

	config_capacity(nc->core, &cc);
	if (garage_configure_capacity(s->g, &cc) != PK_OK) {
		log_err("waitlist and reservations not changed, a value is out of range");
		return;
	}
	s->cfg->core->waitlist = nc->core->waitlist;
	s->cfg->core->reservations = nc->core->reservations;
}

static void
swap_tokens(struct settings *a, struct settings *b)
{
	struct token *t = a->tokens;
	size_t n = a->n_tokens;

	a->tokens = b->tokens;
	a->n_tokens = b->n_tokens;
	b->tokens = t;
	b->n_tokens = n;
}

/*
 * A gate token's gate must be one of the running facility's: the file's
 * facility, checked with it, takes force only at a restart.
 */
static int
tokens_fit(struct server *s, const struct settings *nc, char *err, size_t errlen)
{
	const facility *f = garage_facility(s->g);

	for (size_t i = 0; i < nc->n_tokens; i++) {
		const char *gate = nc->tokens[i].gate;

		if (gate != NULL && facility_gate_lookup(f, gate) < 0) {
			snprintf(err, errlen, "auth.tokens[%zu].gate: no gate '%s' in the "
			    "running facility (a new facility takes force at a restart)",
			    i, gate);
			return -1;
		}
	}
	return 0;
}

int
reload_run(struct server *s, const struct reload_src *src)
{
	const char *path = src->reload_path != NULL &&
	    access(src->reload_path, F_OK) == 0 ? src->reload_path : src->path;
	char err[512];
	size_t len;
	char *text = reload_read_file(path, CONFIG_MAX_BYTES, &len, err,
	    sizeof(err));
	struct settings *nc, *cfg = s->cfg;

	if (src->reload_path != NULL && path == src->path)
		log_warn("no edited copy, reading the start file again "
		    "reload_config=%s file=%s", src->reload_path, src->path);
	if (text == NULL) {
		log_err("cannot read the file error=\"%s\"", err);
		return -1;
	}
	nc = settings_parse(text, len, &(struct jerr){ err, sizeof(err), 0 });
	if (nc == NULL || src->apply_flags(nc, src->opts, err, sizeof(err)) != 0) {
		log_err("invalid, nothing changed file=%s error=\"%s\"", path, err);
		settings_free(nc);
		free(text);
		return -1;
	}
	if (tokens_fit(s, nc, err, sizeof(err)) != 0) {
		log_err("invalid, nothing changed file=%s error=\"%s\"", path, err);
		settings_free(nc);
		free(text);
		return -1;
	}
	log_restart_keys(src, text, len);
	free(text);
	apply_journaled(s, nc);
	apply_retention(s, nc);
	s->cfg->core->registry.erase_within_s = nc->core->registry.erase_within_s;
	swap_tokens(cfg, nc);
	client_tokens_changed(s);
	cfg->limits = nc->limits;
	s->env.max_future_s = cfg->limits.max_future_s;
	if (src->fit != NULL)
		src->fit(cfg);
	memcpy(cfg->core->payment_methods, nc->core->payment_methods,
	    sizeof(cfg->core->payment_methods));
	cfg->core->n_payment_methods = nc->core->n_payment_methods;
	cfg->core->limits.closed_tickets = nc->core->limits.closed_tickets;
	garage_set_keep_closed(s->g, (size_t)cfg->core->limits.closed_tickets);
	reload_capacity(s, nc);
	cfg->journal = nc->journal;
	cfg->audit.subject_maxlen = nc->audit.subject_maxlen;
	cfg->audit.stream_maxlen = nc->audit.stream_maxlen;
	cfg->audit.max_backlog = nc->audit.max_backlog;
	cfg->city.publish_ms = nc->city.publish_ms;
	cfg->city.heartbeat_s = nc->city.heartbeat_s;
	journal_set_pace(s->journal, cfg);
	settings_free(nc);
	log_info("reloaded file=%s tokens=%zu max_clients=%lld rate_per_s=%lld",
	    path, cfg->n_tokens, (long long)cfg->limits.max_clients,
	    (long long)cfg->limits.rate_per_s);
	return 0;
}
