/* config.c - parsing and validation of the configuration file. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jread.h"

static char *
dupstr(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

int
config_endpoint(const char *s, struct endpoint *ep)
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
		if (hl == 0 || hl > CONFIG_HOST_MAX)
			return -1;
		memcpy(ep->host, s + 1, hl);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - s);
		if (hl == 0 || hl > CONFIG_HOST_MAX || memchr(s, ':', hl))
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

int
config_check_tariff(const facility *f, const tariff *t, const char *path,
    char *err, size_t errlen)
{
	struct jerr e = { err, errlen, 0 };
	char p[JPATH_MAX];

	for (size_t c = 0; c < tariff_class_count(t); c++) {
		/*
		 * The contract's four classes are always known names: one tariff
		 * may serve garages that do not take every one of them.
		 */
		static const char *const std[] = { "motorcycle", "car", "van", "bus" };
		const char *name = tariff_class_name(t, c);
		int known = facility_class_lookup(f, name) >= 0;

		for (size_t i = 0; !known && i < sizeof(std) / sizeof(std[0]); i++)
			known = strcmp(std[i], name) == 0;
		if (!known) {
			snprintf(p, sizeof(p), "%s.class_multiplier.%s", path, name);
			return jerr_set(&e, p, "no such vehicle class");
		}
	}
	return 0;
}

static const char *const role_names[] = { "gate", "kiosk", "operator" };

const char *
config_role_name(enum role r)
{
	switch (r) {
	case ROLE_GATE: return "gate";
	case ROLE_KIOSK: return "kiosk";
	case ROLE_OPERATOR: return "operator";
	default: return "none";
	}
}

int
config_role_parse(const char *s, enum role *r)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*r = (enum role)(1 << i);
			return 0;
		}
	}
	return -1;
}

/* A "HOST:PORT" string, or null for none; def when absent. */
static int
endpoint_key(const cJSON *obj, const char *path, const char *key,
    const char *def, struct endpoint *ep, struct jerr *e)
{
	const char *s = def;
	char p[JPATH_MAX];

	if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, key)))
		s = NULL;
	else if (jr_str(obj, path, key, JR_NULL, CONFIG_HOST_MAX + 8, &s, e) < 0)
		return -1;
	if (config_endpoint(s, ep) != 0) {
		jpath_key(p, path, key);
		return jerr_set(e, p, "must be HOST:PORT");
	}
	return 0;
}

static int
parse_limits(struct config *c, const cJSON *root, struct jerr *e)
{
	static const char *const keys[] = { "max_line", "max_output",
	    "max_clients", "rate_per_s", "rate_burst", "idle_timeout_s",
	    "closed_tickets", NULL };
	const cJSON *o = NULL;

	if (jr_object(root, "", "limits", 0, keys, &o, e) < 0 ||
	    jr_int(o, "limits", "max_line", 0, 64, 64 << 20, &c->limits.max_line, e) < 0 ||
	    jr_int(o, "limits", "max_output", 0, 4096, (int64_t)1 << 40, &c->limits.max_output, e) < 0 ||
	    jr_int(o, "limits", "max_clients", 0, 1, 1000000, &c->limits.max_clients, e) < 0 ||
	    jr_int(o, "limits", "rate_per_s", 0, 0, 100000000, &c->limits.rate_per_s, e) < 0 ||
	    jr_int(o, "limits", "rate_burst", 0, 0, 100000000, &c->limits.rate_burst, e) < 0 ||
	    jr_int(o, "limits", "idle_timeout_s", 0, 0, 86400 * 365, &c->limits.idle_timeout_s, e) < 0 ||
	    jr_int(o, "limits", "closed_tickets", 0, 0, 100000000, &c->limits.closed_tickets, e) < 0)
		return -1;
	return 0;
}

static int
parse_sections(struct config *c, const cJSON *root, struct jerr *e)
{
	static const char *const wl[] = { "max_depth", "max_timeout_s", NULL };
	static const char *const rs[] = { "max_fraction", "hold_before_s",
	    "no_show_after_s", NULL };
	static const char *const rg[] = { "retention_hours", NULL };
	static const char *const jn[] = { "snapshot_every", "snapshot_interval_s", NULL };
	const cJSON *w = NULL, *r = NULL, *g = NULL, *j = NULL;
	int64_t fraction = -1;

	if (jr_object(root, "", "waitlist", 0, wl, &w, e) < 0 ||
	    jr_int(w, "waitlist", "max_depth", 0, 0, 1000000, &c->waitlist.max_depth, e) < 0 ||
	    jr_int(w, "waitlist", "max_timeout_s", 0, 1, 86400 * 7, &c->waitlist.max_timeout_s, e) < 0 ||
	    jr_object(root, "", "reservations", 0, rs, &r, e) < 0 ||
	    jr_fixed(r, "reservations", "max_fraction", 0, 6, 0, 1000000, &fraction, e) < 0 ||
	    jr_int(r, "reservations", "hold_before_s", 0, 0, 86400 * 7, &c->reservations.hold_before_s, e) < 0 ||
	    jr_int(r, "reservations", "no_show_after_s", 0, 0, 86400 * 7, &c->reservations.no_show_after_s, e) < 0 ||
	    jr_object(root, "", "registry", 0, rg, &g, e) < 0 ||
	    jr_int(g, "registry", "retention_hours", 0, 0, 24 * 3650, &c->registry.retention_hours, e) < 0 ||
	    jr_object(root, "", "journal", 0, jn, &j, e) < 0 ||
	    jr_int(j, "journal", "snapshot_every", 0, 1, 1000000000, &c->journal.snapshot_every, e) < 0 ||
	    jr_int(j, "journal", "snapshot_interval_s", 0, 0, 86400 * 7, &c->journal.snapshot_interval_s, e) < 0)
		return -1;
	if (fraction >= 0)
		c->reservations.max_fraction = (double)fraction / 1e6;
	return parse_limits(c, root, e);
}

static int
parse_audit(struct config *c, const cJSON *root, struct jerr *e)
{
	static const char *const keys[] = { "redis", "password", "prefix",
	    "subject_maxlen", "stream_maxlen", "max_backlog", NULL };
	const char *pw = NULL, *prefix = "parkd:";
	const cJSON *o = NULL;

	if (jr_object(root, "", "audit", 0, keys, &o, e) < 0 ||
	    (o != NULL && endpoint_key(o, "audit", "redis", "127.0.0.1:6379",
	    &c->audit.redis, e) < 0) ||
	    jr_str(o, "audit", "password", JR_NULL, 1024, &pw, e) < 0 ||
	    jr_str(o, "audit", "prefix", 0, 64, &prefix, e) < 0 ||
	    jr_int(o, "audit", "subject_maxlen", 0, 1, 100000000, &c->audit.subject_maxlen, e) < 0 ||
	    jr_int(o, "audit", "stream_maxlen", 0, 1, 1000000000, &c->audit.stream_maxlen, e) < 0 ||
	    jr_int(o, "audit", "max_backlog", 0, 1, 1000000000, &c->audit.max_backlog, e) < 0)
		return -1;
	c->audit.prefix = dupstr(prefix);
	c->audit.password = pw ? dupstr(pw) : NULL;
	if (c->audit.prefix == NULL || (pw != NULL && c->audit.password == NULL))
		return jerr_nomem(e, "audit");
	return 0;
}

static int
parse_tokens(struct config *c, const cJSON *root, struct jerr *e)
{
	static const char *const akeys[] = { "tokens", NULL };
	static const char *const tkeys[] = { "token", "role", "gate", NULL };
	static const char *const roles[] = { "gate", "kiosk", "operator", NULL };
	const cJSON *o = NULL, *arr = NULL, *el, *it;
	char p[JPATH_MAX], q[JPATH_MAX];
	size_t i = 0, n = 0;

	if (jr_object(root, "", "auth", 0, akeys, &o, e) < 0 ||
	    jr_array(o, "auth", "tokens", 0, 100000, &arr, &n, e) < 0)
		return -1;
	if (arr == NULL || n == 0)
		return 0;
	c->tokens = calloc(n, sizeof(*c->tokens));
	if (c->tokens == NULL)
		return jerr_nomem(e, "auth.tokens");
	cJSON_ArrayForEach(el, arr) {
		const char *tok = NULL, *gate = NULL;
		struct token *t = &c->tokens[i];
		int role = 0;

		jpath_index(p, "auth.tokens", i);
		if (jr_object(el, p, NULL, 0, tkeys, &it, e) < 0)
			return -1;
		jpath_key(q, p, "token");
		if (jr_str(it, p, "token", 0, 256, &tok, e) < 0 || tok == NULL ||
		    strlen(tok) < 8)
			return jerr_set(e, q, "must be a string of 8 to 256 characters");
		if (jr_enum(it, p, "role", JR_REQUIRED, roles, &role, e) < 0 ||
		    jr_str(it, p, "gate", JR_NULL, FAC_MAX_NAME, &gate, e) < 0)
			return -1;
		t->role = (enum role)(1 << role);
		jpath_key(q, p, "gate");
		if (gate != NULL && facility_gate_lookup(c->fac, gate) < 0)
			return jerr_set(e, q, "no such gate '%s'", gate);
		if (gate != NULL && t->role != ROLE_GATE)
			return jerr_set(e, q, "only gate tokens are bound to a gate");
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->tokens[j].token, tok) == 0) {
				jpath_key(q, p, "token");
				return jerr_set(e, q, "duplicate token");
			}
		}
		t->token = dupstr(tok);
		t->gate = gate ? dupstr(gate) : NULL;
		c->n_tokens = ++i;
		if (t->token == NULL || (gate != NULL && t->gate == NULL))
			return jerr_nomem(e, p);
	}
	return 0;
}

static void
set_defaults(struct config *c)
{
	config_endpoint("127.0.0.1:7070", &c->listen);
	config_endpoint("127.0.0.1:9464", &c->http);
	c->durability = DUR_FSYNC;
	c->strategy = ALLOC_NEAREST;
	c->waitlist.max_depth = 200;
	c->waitlist.max_timeout_s = 1800;
	c->reservations.max_fraction = 0.25;
	c->reservations.hold_before_s = 900;
	c->reservations.no_show_after_s = 1800;
	c->registry.retention_hours = 24;
	config_endpoint("127.0.0.1:6379", &c->audit.redis);
	c->audit.subject_maxlen = 10000;
	c->audit.stream_maxlen = 1000000;
	c->audit.max_backlog = 10000000;
	c->limits.max_line = 65536;
	c->limits.max_output = 8388608;
	c->limits.max_clients = 10000;
	c->limits.rate_per_s = 2000;
	c->limits.rate_burst = 4000;
	c->limits.idle_timeout_s = 0;
	c->limits.closed_tickets = 100000;
	c->journal.snapshot_every = 100000;
	c->journal.snapshot_interval_s = 3600;
}

static int
parse_root(struct config *c, const cJSON *root, struct jerr *e)
{
	static const char *const keys[] = { "listen", "http_listen", "data_dir",
	    "durability", "facility", "vehicles", "strategy", "tariff",
	    "waitlist", "reservations", "registry", "audit", "auth", "limits",
	    "journal", NULL };
	static const char *const durabilities[] = { "fsync", "write", "none",
	    NULL };
	const char *dd = "var", *strat = "nearest";
	const cJSON *fac = NULL, *tar = NULL;
	int dur = DUR_FSYNC;

	if (!cJSON_IsObject(root))
		return jerr_set(e, "config", "must be an object");
	if (jr_keys(root, "", keys, NULL, e) < 0 ||
	    endpoint_key(root, "", "listen", "127.0.0.1:7070", &c->listen, e) < 0 ||
	    endpoint_key(root, "", "http_listen", "127.0.0.1:9464", &c->http, e) < 0 ||
	    jr_str(root, "", "data_dir", 0, 4096, &dd, e) < 0 ||
	    jr_enum(root, "", "durability", 0, durabilities, &dur, e) < 0 ||
	    jr_str(root, "", "strategy", 0, 32, &strat, e) < 0)
		return -1;
	if (!c->listen.enabled)
		return jerr_set(e, "listen", "must be HOST:PORT");
	if (dd[0] == '\0')
		return jerr_set(e, "data_dir", "must not be empty");
	if ((c->data_dir = dupstr(dd)) == NULL)
		return jerr_nomem(e, "data_dir");
	c->durability = (enum durability)dur;
	if (alloc_strategy_parse(strat, &c->strategy) != 0)
		return jerr_set(e, "strategy", "must be nearest, farthest, first or fill");

	if (jr_object(root, "", "facility", JR_REQUIRED, NULL, &fac, e) < 0)
		return -1;
	c->fac = facility_from_json(fac,
	    cJSON_GetObjectItemCaseSensitive(root, "vehicles"), e);
	if (c->fac == NULL)
		return -1;
	if (jr_object(root, "", "tariff", JR_REQUIRED, NULL, &tar, e) < 0)
		return -1;
	c->tariff = tariff_from_json(tar, "tariff", e);
	if (c->tariff == NULL ||
	    config_check_tariff(c->fac, c->tariff, "tariff", e->buf, e->len) != 0)
		return -1;
	if (parse_sections(c, root, e) || parse_audit(c, root, e) ||
	    parse_tokens(c, root, e))
		return -1;
	return 0;
}

struct config *
config_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct jerr e = { err, errlen, 0 };
	struct config *c;
	cJSON *root;

	if (errlen > 0)
		err[0] = '\0';
	/* Syntax errors name the file, duplicates their key path. */
	if (json_check(text, len, "config", NULL, &e) != 0 ||
	    (root = json_tree(text, len, "", &e)) == NULL)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		cJSON_Delete(root);
		jerr_nomem(&e, "config");
		return NULL;
	}
	set_defaults(c);
	if (parse_root(c, root, &e) != 0) {
		cJSON_Delete(root);
		config_free(c);
		return NULL;
	}
	cJSON_Delete(root);
	return c;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->data_dir);
	facility_free(c->fac);
	tariff_free(c->tariff);
	free(c->audit.password);
	free(c->audit.prefix);
	for (size_t i = 0; i < c->n_tokens; i++) {
		/* Tokens are secrets: do not leave them in freed memory. */
		if (c->tokens[i].token != NULL) {
			explicit_bzero(c->tokens[i].token, strlen(c->tokens[i].token));
			free(c->tokens[i].token);
		}
		free(c->tokens[i].gate);
	}
	free(c->tokens);
	free(c);
}
