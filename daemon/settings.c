/* settings.c - the daemon's sections of the configuration file (see settings.h). */
#include "settings.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "city.h"
#include "jread.h"

static const char *const settings_keys[] = { "listen", "http_listen",
    "data_dir", "durability", "audit", "auth", "limits", "journal", "city",
    NULL };
static const char *const limits_keys[] = { "max_line", "max_output",
    "max_output_total", "max_clients", "max_clients_per_address",
    "rate_per_s", "rate_burst", "idle_timeout_s", "line_timeout_s",
    "send_timeout_s", "max_future_s", NULL };

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
	    .send_timeout_s = 60, .max_future_s = 86400 },
	.journal = { .snapshot_every = 100000, .snapshot_interval_s = 3600 },
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
#undef LIMIT
};

static int
read_limits(struct settings *s, const cJSON *root, struct jerr *e)
{
	static const char *const jn[] = { "snapshot_every",
	    "snapshot_interval_s", NULL };
	const cJSON *j = NULL, *l = NULL;

	if (jr_object(root, "", "journal", 0, jn, &j, e) < 0 ||
	    jr_int(j, "journal", "snapshot_every", 0, 1, 1000000000,
	    &s->journal.snapshot_every, e) < 0 ||
	    jr_int(j, "journal", "snapshot_interval_s", 0, 0, 86400 * 7,
	    &s->journal.snapshot_interval_s, e) < 0 ||
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
	if (s->city.enabled &&
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
	if (gate != NULL && facility_gate_lookup(s->core->fac, gate) < 0)
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

struct settings *
settings_parse(const char *text, size_t len, struct jerr *e)
{
	cJSON *root = config_json(text, len, e);
	struct settings *s;

	if (root == NULL)
		return NULL;
	if ((s = malloc(sizeof(*s))) == NULL) {
		jerr_nomem(e, "config");
		cJSON_Delete(root);
		return NULL;
	}
	*s = defaults;
	if (jr_keys(root, "", settings_keys, config_keys, e) != 0 ||
	    read_top(s, root, e) != 0 ||
	    (s->core = config_from_json(root, e)) == NULL ||
	    read_limits(s, root, e) != 0 || read_audit(s, root, e) != 0 ||
	    read_city(s, root, e) != 0 || read_tokens(s, root, e) != 0) {
		settings_free(s);
		s = NULL;
	}
	cJSON_Delete(root);
	return s;
}

void
settings_free(struct settings *s)
{
	if (s == NULL)
		return;
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
	free(s);
}
