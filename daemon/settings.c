/* settings.c - the daemon's sections of the configuration file (see settings.h). */
#include "settings.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "city.h"
#include "jread.h"

static const char *const settings_keys[] = { "listen", "http_listen",
    "data_dir", "durability", "audit", "auth", "limits", "journal", "city",
    "replication", NULL };
static const char *const limits_keys[] = { "max_line", "max_output",
    "max_output_total", "max_clients", "max_clients_per_address",
    "rate_per_s", "rate_burst", "idle_timeout_s", "line_timeout_s",
    "send_timeout_s", "max_future_s", "tcp_keepalive_s", NULL };

const char *const settings_restart_keys[] = { "listen", "http_listen",
    "data_dir", "durability", "facility", "vehicles", "audit.redis",
    "audit.password", "audit.prefix", "city.redis", "city.password",
    "city.prefix", "replication", NULL };

/*
 * The value at "key" or "section.key" in root; a section that is null
 * stands for all its keys (so that null and {} differ).
 */
static const cJSON *
value_at(const cJSON *root, const char *path)
{
	const char *dot = strchr(path, '.');
	char section[64];
	const cJSON *o;

	if (dot == NULL || (size_t)(dot - path) >= sizeof(section))
		return cJSON_GetObjectItemCaseSensitive(root, path);
	memcpy(section, path, (size_t)(dot - path));
	section[dot - path] = '\0';
	o = cJSON_GetObjectItemCaseSensitive(root, section);
	if (o == NULL || cJSON_IsNull(o))
		return o;
	return cJSON_GetObjectItemCaseSensitive(o, dot + 1);
}

size_t
settings_restart_changes(const cJSON *was, const cJSON *now, const char **out,
    size_t max)
{
	size_t n = 0;

	for (size_t i = 0; settings_restart_keys[i] != NULL && n < max; i++) {
		const char *k = settings_restart_keys[i];
		const cJSON *a = value_at(was, k);
		const cJSON *b = value_at(now, k);

		if ((a == NULL) != (b == NULL) ||
		    (a != NULL && !cJSON_Compare(a, b, 1)))
			out[n++] = k;
	}
	return n;
}

#define LOCAL(p) { .enabled = 1, .host = "127.0.0.1", .port = (p) }

/* What a key left out means (config.md). */
static const struct settings defaults = {
	.listen = LOCAL(7070),
	.http = LOCAL(9464),
	.durability = DUR_FSYNC,
	.audit = { .redis = LOCAL(6379), .subject_maxlen = 10000,
	    .stream_maxlen = 1000000, .max_backlog = 10000000 },
	.limits = { .max_line = 65536, .max_output = 8388608,
	    .max_clients = 10000, .rate_per_s = 2000, .rate_burst = 4000,
	    .idle_timeout_s = 0, .max_output_total = 268435456,
	    .max_clients_per_address = 512, .line_timeout_s = 30,
	    .send_timeout_s = 60, .max_future_s = 86400,
	    .tcp_keepalive_s = 60 },
	.journal = { .snapshot_every = 100000, .snapshot_interval_s = 3600, .gather = 1,
	    .none_delay_ms = 2 },
	.repl = { .mode = REPL_ASYNC, .on_standby_loss = REPL_LOSS_ASYNC,
	    .sync_timeout_ms = 2000, .max_lag_bytes = 64 << 20,
	    .max_registry_bytes = (int64_t)1 << 30 },
	.city = { .enabled = 1, .follow_audit = 1, .publish_ms = 1000,
	    .heartbeat_s = 30 },
};

int
settings_endpoint(const char *s, struct endpoint *ep)
{
	const char *colon;
	char *end;
	long port;
	size_t hl;

	memset(ep, 0, sizeof(*ep));
	if (s == NULL || strcmp(s, "none") == 0)
		return 0;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		hl = (size_t)(rb - s - 1);
		if (hl == 0 || hl > SETTINGS_HOST_MAX)
			return -1;
		memcpy(ep->host, s + 1, hl);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - s);
		if (hl == 0 || hl > SETTINGS_HOST_MAX || memchr(s, ':', hl))
			return -1;
		memcpy(ep->host, s, hl);
	}
	ep->host[hl] = '\0';
	if (strcmp(ep->host, "localhost") == 0)
		strcpy(ep->host, "127.0.0.1");
	port = strtol(colon + 1, &end, 10);
	/* Digits only: strtol alone would take " 80" and "+80". */
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || port > 65535)
		return -1;
	ep->port = (int)port;
	ep->enabled = 1;
	return 0;
}

/* A "HOST:PORT" string, or null for none; the default stays when absent. */
static int
read_endpoint(const cJSON *obj, const char *path, const char *key,
    struct endpoint *ep, struct jerr *e)
{
	char p[JPATH_MAX];
	const char *s = NULL;
	int rc;

	if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, key)))
		return settings_endpoint(NULL, ep);
	rc = jr_str(obj, path, key, JR_NULL, SETTINGS_HOST_MAX + 8, &s, e);
	if (rc <= 0)
		return rc;
	if (settings_endpoint(s, ep) == 0)
		return 0;
	jpath_key(p, path, key);
	return jerr_set(e, p, "must be HOST:PORT");
}

static char *
dupstr(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

static int
read_top(struct settings *s, const cJSON *root, struct jerr *e)
{
	static const char *const durabilities[] = { "fsync", "write", "none",
	    NULL };
	const char *dd = "var";
	int dur = DUR_FSYNC;

	if (read_endpoint(root, "", "listen", &s->listen, e) < 0 ||
	    read_endpoint(root, "", "http_listen", &s->http, e) < 0 ||
	    jr_str(root, "", "data_dir", 0, 4096, &dd, e) < 0 ||
	    jr_enum(root, "", "durability", 0, durabilities, &dur, e) < 0)
		return -1;
	if (!s->listen.enabled)
		return jerr_set(e, "listen", "must be HOST:PORT");
	if (dd[0] == '\0')
		return jerr_set(e, "data_dir", "must not be empty");
	if ((s->data_dir = dupstr(dd)) == NULL)
		return jerr_nomem(e, "data_dir");
	s->durability = (enum durability)dur;
	return 0;
}

/* The connection limits: bounds, and where each goes in struct settings. */
static const struct {
	const char *key;
	int64_t min, max;
	size_t off;
} limit_fields[] = {
#define LIMIT(key, min, max) { #key, min, max, offsetof(struct settings, limits.key) }
	LIMIT(max_line, 64, 64 << 20), LIMIT(max_output, 4096, (int64_t)1 << 40),
	LIMIT(max_output_total, 4096, (int64_t)1 << 50),
	LIMIT(max_clients, 1, 1000000), LIMIT(max_clients_per_address, 1, 1000000),
	LIMIT(rate_per_s, 0, 100000000), LIMIT(rate_burst, 0, 100000000),
	LIMIT(idle_timeout_s, 0, 86400 * 365), LIMIT(line_timeout_s, 0, 86400),
	LIMIT(send_timeout_s, 0, 86400), LIMIT(max_future_s, 0, 86400 * 366),
	LIMIT(tcp_keepalive_s, 0, 7200),
#undef LIMIT
};

static int
read_limits(struct settings *s, const cJSON *root, struct jerr *e)
{
	static const char *const jn[] = { "snapshot_every",
	    "snapshot_interval_s", "gather", "none_delay_ms", NULL };
	const cJSON *j = NULL, *l = NULL;

	if (jr_object(root, "", "journal", 0, jn, &j, e) < 0 ||
	    jr_int(j, "journal", "snapshot_every", 0, 1, 1000000000,
	    &s->journal.snapshot_every, e) < 0 ||
	    jr_int(j, "journal", "snapshot_interval_s", 0, 0, 86400 * 7,
	    &s->journal.snapshot_interval_s, e) < 0 ||
	    jr_bool(j, "journal", "gather", 0, &s->journal.gather, e) < 0 ||
	    jr_int(j, "journal", "none_delay_ms", 0, 0, 1000,
	    &s->journal.none_delay_ms, e) < 0 ||
	    jr_object(root, "", "limits", 0, NULL, &l, e) < 0 ||
	    (l != NULL && jr_keys(l, "limits", limits_keys, config_limits_keys,
	    e) < 0))
		return -1;
	for (size_t i = 0; i < sizeof(limit_fields) / sizeof(limit_fields[0]);
	    i++) {
		int64_t *v = (int64_t *)(void *)((char *)s + limit_fields[i].off);

		if (jr_int(l, "limits", limit_fields[i].key, 0,
		    limit_fields[i].min, limit_fields[i].max, v, e) < 0)
			return -1;
	}
	/* A bucket that holds less than one request refuses every one, forever. */
	if (s->limits.rate_per_s > 0 && s->limits.rate_burst < 1)
		return jerr_set(e, "limits.rate_burst", "must be at least 1 when "
		    "rate_per_s is not 0 (0 turns the limit off)");
	return 0;
}

static int
read_audit(struct settings *s, const cJSON *root, struct jerr *e)
{
	static const char *const keys[] = { "redis", "password", "prefix",
	    "subject_maxlen", "stream_maxlen", "max_backlog", NULL };
	const char *pw = NULL, *prefix = "parkd:";
	const cJSON *o = NULL;

	if (jr_object(root, "", "audit", 0, keys, &o, e) < 0 ||
	    read_endpoint(o, "audit", "redis", &s->audit.redis, e) < 0 ||
	    jr_str(o, "audit", "password", JR_NULL, 1024, &pw, e) < 0 ||
	    jr_str(o, "audit", "prefix", 0, 64, &prefix, e) < 0 ||
	    jr_int(o, "audit", "subject_maxlen", 0, 1, 100000000,
	    &s->audit.subject_maxlen, e) < 0 ||
	    jr_int(o, "audit", "stream_maxlen", 0, 1, 1000000000,
	    &s->audit.stream_maxlen, e) < 0 ||
	    jr_int(o, "audit", "max_backlog", 0, 1, 1000000000,
	    &s->audit.max_backlog, e) < 0)
		return -1;
	s->audit.prefix = dupstr(prefix);
	s->audit.password = pw ? dupstr(pw) : NULL;
	if (s->audit.prefix == NULL || (pw != NULL && s->audit.password == NULL))
		return jerr_nomem(e, "audit");
	return 0;
}

/*
 * The city view: null turns it off; city.redis left out follows audit
 * (with audit's password unless city.password is given), city.redis null
 * turns it off.
 */
static int
read_city(struct settings *s, const cJSON *root, struct jerr *e)
{
	static const char *const keys[] = { "redis", "password", "prefix",
	    "publish_ms", "heartbeat_s", NULL };
	const char *pw = NULL, *prefix = "city:";
	const cJSON *o = NULL;

	if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "city")))
		s->city.enabled = 0;
	if (jr_object(root, "", "city", JR_NULL, keys, &o, e) < 0 ||
	    jr_str(o, "city", "password", JR_NULL, 1024, &pw, e) < 0 ||
	    jr_str(o, "city", "prefix", 0, 64, &prefix, e) < 0 ||
	    jr_int(o, "city", "publish_ms", 0, 10, 3600000,
	    &s->city.publish_ms, e) < 0 ||
	    jr_int(o, "city", "heartbeat_s", 0, 1, 86400,
	    &s->city.heartbeat_s, e) < 0)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(o, "redis") != NULL) {
		s->city.follow_audit = 0;
		if (read_endpoint(o, "city", "redis", &s->city.redis, e) < 0)
			return -1;
		s->city.enabled = s->city.enabled && s->city.redis.enabled;
	}
	/* An explicit password (even null) is the city's own. */
	s->city.own_password =
	    cJSON_GetObjectItemCaseSensitive(o, "password") != NULL;
	if (prefix[0] == '\0')
		return jerr_set(e, "city.prefix", "must not be empty");
	/* The city view knows a facility by its slug: it must have one. */
	if (s->city.enabled && s->core != NULL &&
	    facility_location_e7(s->core->fac, &(int64_t){ 0 }, &(int64_t){ 0 }) == 0 &&
	    city_slug(facility_name(s->core->fac), (char[2]){ 0 }, 2) == 0)
		return jerr_set(e, "facility.name", "must not be empty with a "
		    "location: the city view names the facility by it");
	s->city.prefix = dupstr(prefix);
	s->city.password = pw ? dupstr(pw) : NULL;
	if (s->city.prefix == NULL || (pw != NULL && s->city.password == NULL))
		return jerr_nomem(e, "city");
	return 0;
}

const struct endpoint *
settings_city_redis(const struct settings *s)
{
	static const struct endpoint off = { 0, "", 0 };

	if (!s->city.enabled)
		return &off;
	return s->city.follow_audit ? &s->audit.redis : &s->city.redis;
}

const char *
settings_city_password(const struct settings *s)
{
	if (s->city.own_password || !s->city.follow_audit)
		return s->city.password;
	return s->audit.password;
}

/* One token of auth.tokens, at path, after the i tokens before it. */
static int
read_token(struct settings *s, const cJSON *el, const char *path, size_t i,
    struct jerr *e)
{
	static const char *const keys[] = { "token", "role", "gate", NULL };
	struct token *t = &s->tokens[i];
	const char *tok = NULL, *gate = NULL;
	char p[JPATH_MAX];
	int role = 0;

	jpath_key(p, path, "token");
	if (jr_object(el, path, NULL, 0, keys, &el, e) < 0)
		return -1;
	if (jr_str(el, path, "token", 0, 256, &tok, e) < 0 || tok == NULL ||
	    strlen(tok) < 8)
		return jerr_set(e, p, "must be a string of 8 to 256 characters");
	for (size_t j = 0; j < i; j++)
		if (strcmp(s->tokens[j].token, tok) == 0)
			return jerr_set(e, p, "duplicate token");
	if (jr_enum(el, path, "role", JR_REQUIRED, role_names, &role, e) < 0 ||
	    jr_str(el, path, "gate", JR_NULL, FAC_MAX_NAME, &gate, e) < 0)
		return -1;
	t->role = (enum role)(1 << role);
	jpath_key(p, path, "gate");
	/* Without a facility (--check-config past its errors) gates are not known. */
	if (gate != NULL && s->core != NULL &&
	    facility_gate_lookup(s->core->fac, gate) < 0)
		return jerr_set(e, p, "no such gate '%s'", gate);
	if (gate != NULL && t->role != ROLE_GATE)
		return jerr_set(e, p, "only gate tokens are bound to a gate");
	t->token = dupstr(tok);
	t->gate = gate ? dupstr(gate) : NULL;
	s->n_tokens = i + 1;
	if (t->token == NULL || (gate != NULL && t->gate == NULL))
		return jerr_nomem(e, path);
	return 0;
}

static int
read_tokens(struct settings *s, const cJSON *root, struct jerr *e)
{
	static const char *const keys[] = { "tokens", NULL };
	const cJSON *o = NULL, *arr = NULL, *el;
	char p[JPATH_MAX];
	size_t i = 0, n = 0;

	if (jr_object(root, "", "auth", 0, keys, &o, e) < 0 ||
	    jr_array(o, "auth", "tokens", 0, 100000, &arr, &n, e) < 0)
		return -1;
	if (n == 0)
		return 0;
	if ((s->tokens = calloc(n, sizeof(*s->tokens))) == NULL)
		return jerr_nomem(e, "auth.tokens");
	cJSON_ArrayForEach(el, arr) {
		jpath_index(p, "auth.tokens", i);
		if (read_token(s, el, p, i, e) != 0)
			return -1;
		i++;
	}
	return 0;
}

static int
same_endpoint(const struct endpoint *a, const struct endpoint *b)
{
	return a->enabled && b->enabled && a->port == b->port &&
	    strcmp(a->host, b->host) == 0;
}

/*
 * The replication section.  A token is needed as soon as either side is
 * configured; a primary address makes this daemon a standby, and may be
 * given together with listen (what it serves once promoted).
 */
static int
read_repl(struct settings *s, const cJSON *root, struct jerr *e)
{
	static const char *const keys[] = { "listen", "token", "primary", "mode",
	    "on_standby_loss", "sync_timeout_ms", "max_lag_bytes",
	    "max_registry_bytes", NULL };
	static const char *const modes[] = { "async", "sync", NULL };
	static const char *const losses[] = { "async", "refuse", NULL };
	/*
	 * Read again here, quietly (their errors are read_top's to report):
	 * --check-config runs each reader on its own.
	 */
	struct endpoint listen = defaults.listen, http = defaults.http;
	struct jerr quiet = { NULL, 0, 0 };
	const char *tok = NULL;
	const cJSON *o = NULL;
	int mode = REPL_ASYNC, loss = REPL_LOSS_ASYNC;

	(void)read_endpoint(root, "", "listen", &listen, &quiet);
	(void)read_endpoint(root, "", "http_listen", &http, &quiet);
	if (jr_object(root, "", "replication", JR_NULL, keys, &o, e) < 0 ||
	    read_endpoint(o, "replication", "listen", &s->repl.listen, e) < 0 ||
	    read_endpoint(o, "replication", "primary", &s->repl.primary, e) < 0 ||
	    jr_str(o, "replication", "token", JR_NULL, 256, &tok, e) < 0 ||
	    jr_enum(o, "replication", "mode", 0, modes, &mode, e) < 0 ||
	    jr_enum(o, "replication", "on_standby_loss", 0, losses, &loss, e) < 0 ||
	    jr_int(o, "replication", "sync_timeout_ms", 0, 10, 3600000,
	    &s->repl.sync_timeout_ms, e) < 0 ||
	    jr_int(o, "replication", "max_lag_bytes", 0, 65536, (int64_t)1 << 40,
	    &s->repl.max_lag_bytes, e) < 0 ||
	    jr_int(o, "replication", "max_registry_bytes", 0, 65536,
	    (int64_t)1 << 40, &s->repl.max_registry_bytes, e) < 0)
		return -1;
	s->repl.mode = (enum repl_mode)mode;
	s->repl.on_standby_loss = (enum repl_loss)loss;
	if ((s->repl.listen.enabled || s->repl.primary.enabled) &&
	    (tok == NULL || strlen(tok) < 8))
		return jerr_set(e, "replication.token",
		    "must be a string of 8 to 256 characters");
	if (s->repl.mode == REPL_SYNC && !s->repl.listen.enabled)
		return jerr_set(e, "replication.mode",
		    "sync needs replication.listen (where standbys connect)");
	if (same_endpoint(&s->repl.listen, &listen) ||
	    same_endpoint(&s->repl.listen, &http))
		return jerr_set(e, "replication.listen",
		    "must differ from listen and http_listen");
	if (same_endpoint(&s->repl.primary, &s->repl.listen))
		return jerr_set(e, "replication.primary",
		    "must not be this daemon's own replication.listen");
	if (tok != NULL && (s->repl.token = dupstr(tok)) == NULL)
		return jerr_nomem(e, "replication.token");
	return 0;
}

static int
read_keys(struct settings *s, const cJSON *root, struct jerr *e)
{
	(void)s;
	return jr_keys(root, "", settings_keys, config_keys, e) != 0 ? -1 : 0;
}

static int
read_core(struct settings *s, const cJSON *root, struct jerr *e)
{
	s->core = config_from_json(root, e);
	return s->core != NULL ? 0 : -1;
}

/*
 * The readers of the file's parts, in order; those after read_core look at
 * the facility (token gates, the city view's name).
 */
static int (*const readers[])(struct settings *, const cJSON *, struct jerr *) = {
	read_keys, read_top, read_core, read_limits, read_audit, read_city,
	read_repl,
	read_tokens,
};
#define N_READERS (sizeof(readers) / sizeof(readers[0]))
#define CORE_READER 2		/* the readers after it need its facility */

static struct settings *
settings_from_json(const cJSON *root, struct jerr *e)
{
	struct settings *s;

	if ((s = malloc(sizeof(*s))) == NULL) {
		jerr_nomem(e, "config");
		return NULL;
	}
	*s = defaults;
	for (size_t i = 0; i < N_READERS; i++) {
		if (readers[i](s, root, e) != 0) {
			settings_free(s);
			return NULL;
		}
	}
	return s;
}

struct settings *
settings_parse(const char *text, size_t len, struct jerr *e)
{
	cJSON *root = config_json(text, len, e);
	struct settings *s;

	if (root == NULL)
		return NULL;
	s = settings_from_json(root, e);
	cJSON_Delete(root);
	return s;
}

/*
 * The node at a key path of an error ("facility.rows[3].count") in root,
 * with its parent; NULL when the path does not lead to a node (the key is
 * missing: *parent is then the deepest node found, or NULL).
 */
static cJSON *
node_at(cJSON *root, const char *path, cJSON **parent)
{
	cJSON *n = root;
	const char *p = path;

	*parent = NULL;
	while (*p != '\0' && n != NULL) {
		char key[JPATH_MAX];
		size_t k = 0;

		if (*p == '[') {
			char *end;
			long i = strtol(p + 1, &end, 10);

			if (*end != ']' || !cJSON_IsArray(n))
				return NULL;
			p = end + 1;
			*parent = n;
			n = cJSON_GetArrayItem(n, (int)i);
		} else {
			if (*p == '.')
				p++;
			while (*p != '\0' && *p != '.' && *p != '[' && k + 1 < sizeof(key))
				key[k++] = *p++;
			key[k] = '\0';
			if (!cJSON_IsObject(n))
				return NULL;
			*parent = n;
			n = cJSON_GetObjectItemCaseSensitive(n, key);
		}
	}
	return n == root ? NULL : n;
}

/* Takes node out of parent and frees it. */
static void
drop(cJSON *parent, cJSON *node)
{
	cJSON_Delete(cJSON_DetachItemViaPointer(parent, node));
}

/*
 * Removes what an error message names so that reading can go on past it:
 * the node at its key path, or, when that key is missing, the object that
 * lacks it.  0, or -1 when nothing can be removed (an error of the whole
 * file, or a path outside the tree).
 */
static int
drop_error_path(cJSON *root, const char *msg)
{
	char path[JPATH_MAX];
	const char *colon = strstr(msg, ": ");
	size_t n = colon ? (size_t)(colon - msg) : 0;
	cJSON *node, *parent;

	if (n == 0 || n >= sizeof(path) || strncmp(msg, "config", n) == 0)
		return -1;
	memcpy(path, msg, n);
	path[n] = '\0';
	node = node_at(root, path, &parent);
	if (node != NULL && parent != NULL) {
		drop(parent, node);
		return 0;
	}
	/* A required key is missing: drop the object that lacks it. */
	{
		char *dot = strrchr(path, '.'), *br = strrchr(path, '[');
		char *cut = br != NULL && (dot == NULL || br > dot) ? br : dot;

		if (node != NULL || cut == NULL)
			return -1;
		*cut = '\0';
		node = node_at(root, path, &parent);
		if (node == NULL || parent == NULL)
			return -1;
		drop(parent, node);
		return 0;
	}
}

/* Frees what s holds, not s. */
static void
settings_free_parts(struct settings *s)
{
	free(s->data_dir);
	config_free(s->core);
	free(s->audit.password);
	free(s->audit.prefix);
	free(s->city.password);
	free(s->city.prefix);
	for (size_t i = 0; i < s->n_tokens; i++) {
		/* Tokens are secrets: do not leave them in freed memory. */
		if (s->tokens[i].token != NULL) {
			explicit_bzero(s->tokens[i].token,
			    strlen(s->tokens[i].token));
			free(s->tokens[i].token);
		}
		free(s->tokens[i].gate);
	}
	free(s->tokens);
	if (s->repl.token != NULL) {
		explicit_bzero(s->repl.token, strlen(s->repl.token));
		free(s->repl.token);
	}
	s->repl.token = NULL;
}

void
settings_free(struct settings *s)
{
	if (s == NULL)
		return;
	settings_free_parts(s);
	free(s);
}

/* Whether path is one we dropped, or holds one (an array left empty). */
static int
follows_drop(char dropped[][JPATH_MAX], size_t n, const char *path, size_t plen)
{
	for (size_t i = 0; i < n; i++) {
		size_t dl = strlen(dropped[i]);

		if (dl >= plen && strncmp(dropped[i], path, plen) == 0 &&
		    (dl == plen || dropped[i][plen] == '.' || dropped[i][plen] == '['))
			return 1;
	}
	return 0;
}

/*
 * Whether err is about the vehicles after a part of the facility was left
 * out: a class that fits a type only the dropped row had is no error of
 * its own.  Its real errors show once the facility is mended.
 */
static int
follows_facility(char dropped[][JPATH_MAX], size_t n, const char *err)
{
	if (strncmp(err, "vehicles.", 9) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(dropped[i], "facility", 8) == 0)
			return 1;
	}
	return 0;
}

/*
 * One reader over a copy of root: reports its errors, each time leaving
 * out what the error names and reading again.  Errors that only follow
 * from what was left out ("is required" of a dropped key) are not
 * reported.  The number reported, or -1 when out of memory.
 */
static int
check_reader(size_t r, const cJSON *root,
    void (*report)(void *ud, const char *msg), void *ud)
{
	char err[512], dropped[SETTINGS_CHECK_MAX][JPATH_MAX];
	cJSON *copy = cJSON_Duplicate(root, 1);
	struct settings *s = malloc(sizeof(*s));
	size_t nd = 0;
	int n = 0;

	if (copy == NULL || s == NULL) {
		cJSON_Delete(copy);
		free(s);
		return -1;
	}
	for (;;) {
		struct jerr e = { err, sizeof(err), 0 };
		const char *colon;
		size_t plen;
		int rc;

		err[0] = '\0';
		*s = defaults;
		if (r > CORE_READER)
			s->core = config_from_json(copy, &(struct jerr){ NULL, 0, 0 });
		rc = readers[r](s, copy, &e);
		settings_free_parts(s);
		if (rc == 0 || e.nomem || nd == SETTINGS_CHECK_MAX)
			break;
		colon = strstr(err, ": ");
		plen = colon ? (size_t)(colon - err) : 0;
		if (!follows_drop(dropped, nd, err, plen) &&
		    !follows_facility(dropped, nd, err)) {
			report(ud, err);
			n++;
		}
		if (plen == 0 || plen >= JPATH_MAX || drop_error_path(copy, err) != 0)
			break;
		memcpy(dropped[nd], err, plen);
		dropped[nd++][plen] = '\0';
	}
	free(s);
	cJSON_Delete(copy);
	return n;
}

int
settings_check(const char *text, size_t len,
    void (*report)(void *ud, const char *msg), void *ud)
{
	char err[512];
	struct jerr e = { err, sizeof(err), 0 };
	cJSON *root = config_json(text, len, &e);
	int n = 0;

	if (root == NULL) {
		report(ud, err);
		return 1;
	}
	for (size_t r = 0; r < N_READERS && n < SETTINGS_CHECK_MAX; r++) {
		int k = check_reader(r, root, report, ud);

		if (k < 0) {
			report(ud, "config: out of memory");
			n++;
			break;
		}
		n += k;
	}
	cJSON_Delete(root);
	return n;
}

void
settings_endpoint_text(const struct endpoint *ep, char *out, size_t len)
{
	if (!ep->enabled)
		snprintf(out, len, "%s", "");
	else if (strchr(ep->host, ':') != NULL)
		snprintf(out, len, "[%s]:%d", ep->host, ep->port);
	else
		snprintf(out, len, "%s:%d", ep->host, ep->port);
}
