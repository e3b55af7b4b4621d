/* config.c - parsing and validation of the configuration file. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jcheck.h"

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
	struct jerr e = { err, errlen };
	char p[256];

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

static int
endpoint_key(const cJSON *obj, const char *path, const char *key,
    const char *def, struct endpoint *ep, struct jerr *e)
{
	const char *s = def;
	char p[128];

	if (jget_string(obj, path, key, 1, &s, e) != 0)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL &&
	    cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, key)))
		s = NULL;
	if (config_endpoint(s, ep) != 0) {
		jpath(p, sizeof(p), path, key);
		return jerr_set(e, p, "must be HOST:PORT");
	}
	return 0;
}

static int
parse_limits(struct config *c, const cJSON *o, struct jerr *e)
{
	static const char *const keys[] = { "max_line", "max_output",
	    "max_output_total", "max_clients", "max_clients_per_address",
	    "rate_per_s", "rate_burst", "idle_timeout_s", "line_timeout_s",
	    "send_timeout_s", "max_future_s", "closed_tickets", NULL };

	if (o == NULL)
		return 0;
	if (jcheck_object(o, "limits", keys, e) != 0 ||
	    jget_int(o, "limits", "max_line", 64, 64 << 20, &c->limits.max_line, e) ||
	    jget_int(o, "limits", "max_output", 4096, (int64_t)1 << 40, &c->limits.max_output, e) ||
	    jget_int(o, "limits", "max_output_total", 4096, (int64_t)1 << 50,
	    &c->limits.max_output_total, e) ||
	    jget_int(o, "limits", "max_clients", 1, 1000000, &c->limits.max_clients, e) ||
	    jget_int(o, "limits", "max_clients_per_address", 1, 1000000,
	    &c->limits.max_clients_per_address, e) ||
	    jget_int(o, "limits", "line_timeout_s", 0, 86400, &c->limits.line_timeout_s, e) ||
	    jget_int(o, "limits", "send_timeout_s", 0, 86400, &c->limits.send_timeout_s, e) ||
	    jget_int(o, "limits", "max_future_s", 0, 86400 * 366, &c->limits.max_future_s, e) ||
	    jget_int(o, "limits", "rate_per_s", 0, 100000000, &c->limits.rate_per_s, e) ||
	    jget_int(o, "limits", "rate_burst", 0, 100000000, &c->limits.rate_burst, e) ||
	    jget_int(o, "limits", "idle_timeout_s", 0, 86400 * 365, &c->limits.idle_timeout_s, e) ||
	    jget_int(o, "limits", "closed_tickets", 0, 100000000, &c->limits.closed_tickets, e))
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
	const cJSON *o;

	if ((o = cJSON_GetObjectItemCaseSensitive(root, "waitlist")) != NULL &&
	    (jcheck_object(o, "waitlist", wl, e) ||
	    jget_int(o, "waitlist", "max_depth", 0, 1000000, &c->waitlist.max_depth, e) ||
	    jget_int(o, "waitlist", "max_timeout_s", 1, 86400 * 7, &c->waitlist.max_timeout_s, e)))
		return -1;
	if ((o = cJSON_GetObjectItemCaseSensitive(root, "reservations")) != NULL &&
	    (jcheck_object(o, "reservations", rs, e) ||
	    jget_number(o, "reservations", "max_fraction", 0, 1, &c->reservations.max_fraction, e) ||
	    jget_int(o, "reservations", "hold_before_s", 0, 86400 * 7, &c->reservations.hold_before_s, e) ||
	    jget_int(o, "reservations", "no_show_after_s", 0, 86400 * 7, &c->reservations.no_show_after_s, e)))
		return -1;
	if ((o = cJSON_GetObjectItemCaseSensitive(root, "registry")) != NULL &&
	    (jcheck_object(o, "registry", rg, e) ||
	    jget_int(o, "registry", "retention_hours", 0, 24 * 3650, &c->registry.retention_hours, e)))
		return -1;
	if ((o = cJSON_GetObjectItemCaseSensitive(root, "journal")) != NULL &&
	    (jcheck_object(o, "journal", jn, e) ||
	    jget_int(o, "journal", "snapshot_every", 1, 1000000000, &c->journal.snapshot_every, e) ||
	    jget_int(o, "journal", "snapshot_interval_s", 0, 86400 * 7, &c->journal.snapshot_interval_s, e)))
		return -1;
	return parse_limits(c, cJSON_GetObjectItemCaseSensitive(root, "limits"), e);
}

static int
parse_audit(struct config *c, const cJSON *root, struct jerr *e)
{
	static const char *const keys[] = { "redis", "password", "prefix",
	    "subject_maxlen", "stream_maxlen", "max_backlog", NULL };
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "audit");
	const char *pw = NULL, *prefix = "parkd:";

	if (o == NULL) {
		c->audit.prefix = dupstr(prefix);
		return c->audit.prefix ? 0 : jerr_set(e, "audit", "out of memory");
	}
	if (jcheck_object(o, "audit", keys, e) ||
	    endpoint_key(o, "audit", "redis", "127.0.0.1:6379", &c->audit.redis, e) ||
	    jget_string(o, "audit", "password", 1, &pw, e) ||
	    jget_string(o, "audit", "prefix", 0, &prefix, e) ||
	    jget_int(o, "audit", "subject_maxlen", 1, 100000000, &c->audit.subject_maxlen, e) ||
	    jget_int(o, "audit", "stream_maxlen", 1, 1000000000, &c->audit.stream_maxlen, e) ||
	    jget_int(o, "audit", "max_backlog", 1, 1000000000, &c->audit.max_backlog, e))
		return -1;
	if (strlen(prefix) > 64)
		return jerr_set(e, "audit.prefix", "must be at most 64 characters");
	c->audit.prefix = dupstr(prefix);
	c->audit.password = pw ? dupstr(pw) : NULL;
	if (c->audit.prefix == NULL || (pw != NULL && c->audit.password == NULL))
		return jerr_set(e, "audit", "out of memory");
	return 0;
}

static int
parse_tokens(struct config *c, const cJSON *root, struct jerr *e)
{
	static const char *const akeys[] = { "tokens", NULL };
	static const char *const tkeys[] = { "token", "role", "gate", NULL };
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "auth");
	const cJSON *arr, *it;
	char p[128], q[160];
	size_t i = 0;

	if (o == NULL)
		return 0;
	if (jcheck_object(o, "auth", akeys, e) != 0)
		return -1;
	arr = cJSON_GetObjectItemCaseSensitive(o, "tokens");
	if (arr == NULL)
		return 0;
	if (!cJSON_IsArray(arr))
		return jerr_set(e, "auth.tokens", "must be an array");
	c->tokens = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*c->tokens));
	if (c->tokens == NULL)
		return jerr_set(e, "auth.tokens", "out of memory");
	cJSON_ArrayForEach(it, arr) {
		const char *tok = NULL, *role = NULL, *gate = NULL;
		struct token *t = &c->tokens[i];

		jpath_index(p, sizeof(p), "auth.tokens", i);
		if (jcheck_object(it, p, tkeys, e) ||
		    jget_string(it, p, "token", 0, &tok, e) ||
		    jget_string(it, p, "role", 0, &role, e) ||
		    jget_string(it, p, "gate", 1, &gate, e))
			return -1;
		if (tok == NULL || strlen(tok) < 8 || strlen(tok) > 256) {
			jpath(q, sizeof(q), p, "token");
			return jerr_set(e, q, "must be a string of 8 to 256 characters");
		}
		if (role == NULL || config_role_parse(role, &t->role) != 0) {
			jpath(q, sizeof(q), p, "role");
			return jerr_set(e, q, "must be gate, kiosk or operator");
		}
		if (gate != NULL && facility_gate_lookup(c->fac, gate) < 0) {
			jpath(q, sizeof(q), p, "gate");
			return jerr_set(e, q, "no such gate '%s'", gate);
		}
		if (gate != NULL && t->role != ROLE_GATE) {
			jpath(q, sizeof(q), p, "gate");
			return jerr_set(e, q, "only gate tokens are bound to a gate");
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->tokens[j].token, tok) == 0) {
				jpath(q, sizeof(q), p, "token");
				return jerr_set(e, q, "duplicate token");
			}
		}
		t->token = dupstr(tok);
		t->gate = gate ? dupstr(gate) : NULL;
		c->n_tokens = ++i;
		if (t->token == NULL || (gate != NULL && t->gate == NULL))
			return jerr_set(e, p, "out of memory");
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
	c->limits.max_output_total = 268435456;
	c->limits.max_clients_per_address = 512;
	c->limits.line_timeout_s = 30;
	c->limits.send_timeout_s = 60;
	c->limits.max_future_s = 86400;
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
	const char *dd = "var", *dur = "fsync", *strat = "nearest";
	const cJSON *fac, *tar;

	if (jcheck_object(root, "", keys, e) ||
	    endpoint_key(root, "", "listen", "127.0.0.1:7070", &c->listen, e) ||
	    endpoint_key(root, "", "http_listen", "127.0.0.1:9464", &c->http, e) ||
	    jget_string(root, "", "data_dir", 0, &dd, e) ||
	    jget_string(root, "", "durability", 0, &dur, e) ||
	    jget_string(root, "", "strategy", 0, &strat, e))
		return -1;
	if (!c->listen.enabled)
		return jerr_set(e, "listen", "must be HOST:PORT");
	if (dd[0] == '\0')
		return jerr_set(e, "data_dir", "must not be empty");
	if ((c->data_dir = dupstr(dd)) == NULL)
		return jerr_set(e, "data_dir", "out of memory");
	if (strcmp(dur, "fsync") == 0)
		c->durability = DUR_FSYNC;
	else if (strcmp(dur, "write") == 0)
		c->durability = DUR_WRITE;
	else if (strcmp(dur, "none") == 0)
		c->durability = DUR_NONE;
	else
		return jerr_set(e, "durability", "must be fsync, write or none");
	if (alloc_strategy_parse(strat, &c->strategy) != 0)
		return jerr_set(e, "strategy", "must be nearest, farthest, first or fill");

	fac = cJSON_GetObjectItemCaseSensitive(root, "facility");
	if (fac == NULL)
		return jerr_set(e, "facility", "is required");
	c->fac = facility_from_json(fac,
	    cJSON_GetObjectItemCaseSensitive(root, "vehicles"), e->buf, e->len);
	if (c->fac == NULL)
		return -1;
	tar = cJSON_GetObjectItemCaseSensitive(root, "tariff");
	if (tar == NULL)
		return jerr_set(e, "tariff", "is required");
	c->tariff = tariff_from_json(tar, "tariff", e->buf, e->len);
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
	struct jerr e = { err, errlen };
	const char *end = NULL;
	struct config *c;
	cJSON *root;

	if (errlen > 0)
		err[0] = '\0';
	if (memchr(text, '\0', len) != NULL) {
		jerr_set(&e, "config", "contains a NUL byte");
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (root == NULL) {
		size_t off = end ? (size_t)(end - text) : 0;

		jerr_set(&e, "config", "not valid JSON (near byte %zu)", off);
		return NULL;
	}
	/* cJSON stops after the first value: anything but space after it is an error. */
	while (end < text + len && (*end == ' ' || *end == '\n' ||
	    *end == '\r' || *end == '\t'))
		end++;
	if (end != text + len) {
		jerr_set(&e, "config", "trailing data after the JSON value (byte %zu)",
		    (size_t)(end - text));
		cJSON_Delete(root);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		cJSON_Delete(root);
		jerr_set(&e, "config", "out of memory");
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
