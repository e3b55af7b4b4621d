/*
 * settings.h - the daemon's settings from the configuration file
 * (config.md): where it listens, where its data lives and how durable it
 * is, who may connect (tokens), where audit events go, the connection
 * limits and the journal's snapshot pace.  The core's sections of the same
 * file are read by lib/config.h; settings_parse reads both.
 *
 * Pure like lib/: no libuv, no I/O (the daemon reads the file), so unit
 * tests link it.  Every error names its key path.
 */
#ifndef PARKD_SETTINGS_H
#define PARKD_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "json.h"
#include "role.h"

enum durability { DUR_FSYNC, DUR_WRITE, DUR_NONE };
/* When a change is answered: after our commit, or also a standby's. */
enum repl_mode { REPL_ASYNC, REPL_SYNC };
/* In sync mode with no standby acknowledging: go on alone, or refuse. */
enum repl_loss { REPL_LOSS_ASYNC, REPL_LOSS_REFUSE };

#define SETTINGS_HOST_MAX 255

struct endpoint {
	int enabled;
	char host[SETTINGS_HOST_MAX + 1];
	int port;
};

struct token {
	char *token;
	enum role role;
	char *gate;		/* NULL: any gate */
};

struct settings {
	struct endpoint listen;
	struct endpoint http;
	char *data_dir;
	enum durability durability;
	struct config *core;	/* the core's sections, owned */
	struct {
		struct endpoint redis;
		char *password;
		char *prefix;
		int64_t subject_maxlen, stream_maxlen;
		int64_t max_backlog;
	} audit;
	struct token *tokens;
	size_t n_tokens;
	struct {
		int64_t max_line, max_output, max_clients;
		int64_t rate_per_s, rate_burst, idle_timeout_s;
		int64_t max_output_total;	/* all clients' queued output */
		int64_t max_clients_per_address;
		int64_t line_timeout_s;		/* a started line must end within; 0 = off */
		int64_t send_timeout_s;		/* output that does not move; 0 = off */
		int64_t max_future_s;		/* how far ahead an operator's at may lie */
		int64_t tcp_keepalive_s;	/* idle before keepalive probes; 0 = off */
	} limits;
	/*
	 * The city view (city.md).  enabled 0: `city` is null (or its redis
	 * is).  With follow_audit (no city.redis given) the Redis is audit's,
	 * and so is the password unless city.password was given
	 * (own_password): both are taken when used (settings_city_redis), so
	 * that --redis has its say.
	 */
	struct {
		int enabled;
		int follow_audit;
		int own_password;
		struct endpoint redis;
		char *password;
		char *prefix;
		int64_t publish_ms;		/* at most one publish this often */
		int64_t heartbeat_s;		/* and at least one this often */
	} city;
	struct {
		int64_t snapshot_every;		/* journal records between snapshots */
		int64_t snapshot_interval_s;	/* and at least this often when anything changed; 0 = off */
		int gather;			/* fsync: a commit may wait for the clients it answered (gather.h) */
		int64_t none_delay_ms;		/* none: records wait this long to be written together */
	} journal;
	/* The standby (standby.md); all off when the section is absent. */
	struct {
		struct endpoint listen;		/* where standbys connect; off: none */
		char *token;			/* what a standby must present; NULL when unused */
		struct endpoint primary;	/* on: this daemon starts as a standby of it */
		enum repl_mode mode;
		enum repl_loss on_standby_loss;
		int64_t sync_timeout_ms;	/* sync: no acknowledgement this long is a loss */
		/* Bytes queued for one standby past which it is dropped (it catches up from the journal). */
		int64_t max_lag_bytes;
		/*
		 * A standby: registry bytes it holds while they wait (an image
		 * coming in, side records before their records) past which it
		 * drops the connection.
		 */
		int64_t max_registry_bytes;
	} repl;
};

/*
 * Parses the whole configuration file, text[0..len), core and daemon
 * sections.  Returns NULL with one message in e on any error: a syntax
 * error ("config: line 12, column 5: ...") or a key path
 * ("facility.rows[3].count: must be ...", "auth.tokens[1].role: ...").
 */
struct settings *settings_parse(const char *text, size_t len, struct jerr *e);
/* Most errors settings_check reports. */
#define SETTINGS_CHECK_MAX 100

/*
 * Checks the whole file and reports every error it can find to report
 * (one message each, as settings_parse words them), not only the first:
 * after an error the value it names (or the object lacking a required
 * key) is left out and reading starts again, so an error that follows
 * from an earlier one may be reported too.  A syntax error stops it.
 * Returns the number reported (0: the file is valid).
 */
int settings_check(const char *text, size_t len,
    void (*report)(void *ud, const char *msg), void *ud);

/* Frees s and its core config; tokens are wiped first.  Accepts NULL. */
void settings_free(struct settings *s);

/*
 * The keys whose value cannot change in a running process
 * (settings_restart_keys[], NULL-terminated; "section.key" for one key of
 * a section): where parkd listens, its data directory and durability, the
 * facility and its vehicle classes, and where audit and the city view
 * store (their Redis, password and key prefix).
 */
extern const char *const settings_restart_keys[];

/*
 * The members of settings_restart_keys that differ between two readings
 * of the file (was, now: parsed roots; a member left out counts as
 * different from one given), written to out[0..max); their count.
 */
size_t settings_restart_changes(const cJSON *was, const cJSON *now,
    const char **out, size_t max);

/*
 * Where the city view's Redis is, and its password (NULL: none): city.redis
 * and city.password, or audit's when city.redis was left out.  An endpoint
 * that is not enabled means the city view is off.
 */
const struct endpoint *settings_city_redis(const struct settings *s);
const char *settings_city_password(const struct settings *s);

/*
 * Parses "HOST:PORT" ("127.0.0.1:7070", "[::1]:7070", "localhost:7070")
 * into ep; "none" or NULL disables it.  0 or -1.
 */
int settings_endpoint(const char *s, struct endpoint *ep);
/* ep as "host:port" ("[host]:port" for IPv6), or "" when disabled. */
void settings_endpoint_text(const struct endpoint *ep, char *out, size_t len);

#endif
