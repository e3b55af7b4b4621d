/* test_settings.c - the whole configuration file as the daemon reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "settings.h"
#include "testutil.h"

/* The smallest valid config: a facility and a (free) tariff. */
#define MINI_FAC \
    "'facility': { 'gates': [ { 'id': 'north', 'role': 'both', 'level': 0, 'x': 0, 'y': 0 }," \
    "  { 'id': 'south', 'role': 'exit', 'level': 0, 'x': 9, 'y': 0 } ]," \
    "  'rows': [ { 'level': 0, 'zone': 'A', 'type': 'regular', 'count': 2, 'x': 1, 'y': 1, 'dx': 1, 'dy': 0 } ] }"
#define MINI "{ " MINI_FAC ", 'tariff': " TU_MIN_TARIFF " }"

/* A config of MINI plus the given members (text with ' for "). */
static char *
with(const char *members)
{
	size_t n = strlen(MINI) + strlen(members) + 8;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, "{ %s, %s, 'tariff': " TU_MIN_TARIFF " }", members, MINI_FAC);
	return s;
}

static struct settings *
parse_text(const char *text, char *err, size_t errlen)
{
	char *s = tu_quote(text);
	struct settings *c = settings_parse(s, strlen(s), &(struct jerr){ err, errlen, 0 });

	free(s);
	return c;
}

static struct settings *
parse_ok(const char *text)
{
	char err[256] = "";
	struct settings *c = parse_text(text, err, sizeof(err));

	if (c == NULL)
		fail_msg("refused: %s", err);
	assert_string_equal(err, "");
	return c;
}

static void
expect_error(const char *text, const char *msg)
{
	char err[256];
	struct settings *c;

	memset(err, 'x', sizeof(err));
	c = parse_text(text, err, sizeof(err));
	if (c != NULL) {
		settings_free(c);
		fail_msg("accepted: %s", text);
	}
	if (strcmp(err, msg) != 0)
		fail_msg("message '%s', want '%s'", err, msg);
}

/* expect_error on MINI plus members. */
static void
expect_member_error(const char *members, const char *msg)
{
	char *s = with(members);

	expect_error(s, msg);
	free(s);
}

/* The error message starts with prefix. */
static void
expect_error_prefix(const char *text, const char *prefix)
{
	char err[256] = "";
	struct settings *c = parse_text(text, err, sizeof(err));

	if (c != NULL) {
		settings_free(c);
		fail_msg("accepted: %s", text);
	}
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err, prefix);
}

static void
test_demo_config(void **state)
{
	FILE *fp = fopen("conf/parkd.json", "rb");
	char *text, err[256] = "";
	struct settings *c;
	long n;

	(void)state;
	if (fp == NULL)
		fail_msg("conf/parkd.json: run the tests from the repository root");
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	text = malloc((size_t)n);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	c = settings_parse(text, (size_t)n, &(struct jerr){ err, sizeof(err), 0 });
	free(text);
	if (c == NULL)
		fail_msg("demo config refused: %s", err);
	assert_int_equal(c->listen.enabled, 1);
	assert_string_equal(c->listen.host, "127.0.0.1");
	assert_int_equal(c->listen.port, 7070);
	assert_int_equal(c->http.enabled, 1);
	assert_int_equal(c->http.port, 9464);
	assert_string_equal(c->data_dir, "var");
	assert_int_equal(c->durability, DUR_FSYNC);
	assert_int_equal(c->core->strategy, ALLOC_NEAREST);
	assert_non_null(c->core->fac);
	assert_non_null(c->core->tariff);
	assert_string_equal(facility_name(c->core->fac), "Demo Garage");
	assert_string_equal(facility_timezone(c->core->fac), "Europe/Berlin");
	assert_int_equal(facility_spot_count(c->core->fac), 10 + 20 + 40 + 6 + 30);
	assert_int_equal(facility_gate_count(c->core->fac), 3);
	assert_int_equal(facility_class_count(c->core->fac), 4);
	assert_int_equal(tariff_lost_fee(c->core->tariff), 5000);
	assert_int_equal(tariff_grace_s(c->core->tariff), 15 * 60);
	assert_int_equal(c->core->waitlist.max_depth, 200);
	assert_int_equal(c->core->waitlist.max_timeout_s, 1800);
	assert_int_equal(c->audit.redis.enabled, 0);	/* "redis": null */
	assert_null(c->audit.password);
	assert_string_equal(c->audit.prefix, "parkd:");
	assert_int_equal(c->limits.max_line, 65536);
	assert_int_equal(c->limits.max_output, 8388608);
	assert_int_equal(c->n_tokens, 0);
	settings_free(c);
}

static void
test_defaults(void **state)
{
	struct settings *c = parse_ok(MINI);

	(void)state;
	assert_int_equal(c->listen.enabled, 1);
	assert_string_equal(c->listen.host, "127.0.0.1");
	assert_int_equal(c->listen.port, 7070);
	assert_int_equal(c->http.enabled, 1);
	assert_string_equal(c->http.host, "127.0.0.1");
	assert_int_equal(c->http.port, 9464);
	assert_string_equal(c->data_dir, "var");
	assert_int_equal(c->durability, DUR_FSYNC);
	assert_int_equal(c->core->strategy, ALLOC_NEAREST);
	assert_int_equal(c->core->waitlist.max_depth, 200);
	assert_int_equal(c->core->waitlist.max_timeout_s, 1800);
	assert_true(c->core->reservations.max_fraction == 0.25);
	assert_int_equal(c->core->reservations.hold_before_s, 900);
	assert_int_equal(c->core->reservations.no_show_after_s, 1800);
	assert_int_equal(c->core->registry.retention_hours, 24);
	assert_int_equal(c->audit.redis.enabled, 1);
	assert_string_equal(c->audit.redis.host, "127.0.0.1");
	assert_int_equal(c->audit.redis.port, 6379);
	assert_null(c->audit.password);
	assert_string_equal(c->audit.prefix, "parkd:");
	assert_int_equal(c->audit.subject_maxlen, 10000);
	assert_int_equal(c->audit.stream_maxlen, 1000000);
	assert_int_equal(c->audit.max_backlog, 10000000);
	assert_int_equal(c->limits.max_line, 65536);
	assert_int_equal(c->limits.max_output, 8388608);
	assert_int_equal(c->limits.max_clients, 10000);
	assert_int_equal(c->limits.rate_per_s, 2000);
	assert_int_equal(c->limits.rate_burst, 4000);
	assert_int_equal(c->limits.idle_timeout_s, 0);
	assert_int_equal(c->core->limits.closed_tickets, 100000);
	assert_int_equal(c->journal.snapshot_every, 100000);
	assert_int_equal(c->journal.snapshot_interval_s, 3600);
	assert_int_equal(c->journal.gather, 1);
	assert_int_equal(c->journal.none_delay_ms, 2);
	assert_int_equal(c->n_tokens, 0);
	assert_int_equal(facility_spot_count(c->core->fac), 2);
	assert_int_equal(c->repl.listen.enabled, 0);
	assert_int_equal(c->repl.primary.enabled, 0);
	assert_null(c->repl.token);
	assert_int_equal(c->repl.mode, REPL_ASYNC);
	assert_int_equal(c->repl.on_standby_loss, REPL_LOSS_ASYNC);
	assert_int_equal(c->repl.sync_timeout_ms, 2000);
	assert_int_equal(c->repl.max_lag_bytes, 64 << 20);
	assert_int_equal(c->repl.max_registry_bytes, (int64_t)1 << 30);
	settings_free(c);
	settings_free(NULL);
}

/* The replication section: what each side needs, what may not be mixed up. */
static void
test_replication(void **state)
{
	struct settings *c;
	char *s;

	(void)state;
	s = with("'replication': { 'listen': '0.0.0.0:7080', 'token': 's3cret-repl',"
	    " 'primary': null, 'mode': 'sync', 'on_standby_loss': 'refuse',"
	    " 'sync_timeout_ms': 500, 'max_lag_bytes': 1048576,"
	    " 'max_registry_bytes': 65536 }");
	c = parse_ok(s);
	free(s);
	assert_int_equal(c->repl.listen.enabled, 1);
	assert_string_equal(c->repl.listen.host, "0.0.0.0");
	assert_int_equal(c->repl.listen.port, 7080);
	assert_int_equal(c->repl.primary.enabled, 0);
	assert_string_equal(c->repl.token, "s3cret-repl");
	assert_int_equal(c->repl.mode, REPL_SYNC);
	assert_int_equal(c->repl.on_standby_loss, REPL_LOSS_REFUSE);
	assert_int_equal(c->repl.sync_timeout_ms, 500);
	assert_int_equal(c->repl.max_lag_bytes, 1048576);
	assert_int_equal(c->repl.max_registry_bytes, 65536);
	settings_free(c);

	/* A standby: the primary's address, and where it serves once promoted. */
	s = with("'replication': { 'primary': '10.0.0.1:7080', 'listen': '0.0.0.0:7081',"
	    " 'token': 's3cret-repl' }");
	c = parse_ok(s);
	free(s);
	assert_int_equal(c->repl.primary.enabled, 1);
	assert_string_equal(c->repl.primary.host, "10.0.0.1");
	assert_int_equal(c->repl.primary.port, 7080);
	assert_int_equal(c->repl.mode, REPL_ASYNC);
	settings_free(c);

	c = parse_ok(MINI);
	settings_free(c);
	s = with("'replication': null");
	c = parse_ok(s);
	free(s);
	assert_int_equal(c->repl.listen.enabled, 0);
	settings_free(c);

	expect_member_error("'replication': { 'listen': '127.0.0.1:7080' }",
	    "replication.token: must be a string of 8 to 256 characters");
	expect_member_error("'replication': { 'primary': '127.0.0.1:7080', 'token': 'short' }",
	    "replication.token: must be a string of 8 to 256 characters");
	expect_member_error("'replication': { 'mode': 'sync', 'token': 's3cret-repl' }",
	    "replication.mode: sync needs replication.listen (where standbys connect)");
	expect_member_error("'replication': { 'mode': 'semi' }",
	    "replication.mode: must be async or sync");
	expect_member_error("'replication': { 'on_standby_loss': 'wait' }",
	    "replication.on_standby_loss: must be async or refuse");
	expect_member_error("'replication': { 'sync_timeout_ms': 0 }",
	    "replication.sync_timeout_ms: must be between 10 and 3600000");
	expect_member_error("'replication': { 'max_lag_bytes': 100 }",
	    "replication.max_lag_bytes: must be between 65536 and 1099511627776");
	expect_member_error("'replication': { 'max_registry_bytes': 65535 }",
	    "replication.max_registry_bytes: must be between 65536 and 1099511627776");
	expect_member_error("'replication': { 'listen': 'nowhere', 'token': 's3cret-repl' }",
	    "replication.listen: must be HOST:PORT");
	expect_member_error("'replication': { 'listen': '127.0.0.1:7070', 'token': 's3cret-repl' }",
	    "replication.listen: must differ from listen and http_listen");
	expect_member_error("'replication': { 'listen': '127.0.0.1:7080', "
	    "'primary': '127.0.0.1:7080', 'token': 's3cret-repl' }",
	    "replication.primary: must not be this daemon's own replication.listen");
	expect_member_error("'replication': { 'standbys': 2 }",
	    "replication.standbys: unknown key");
	expect_member_error("'replication': []", "replication: must be an object or null");
	expect_member_error("'journal': { 'none_delay_ms': 1001 }",
	    "journal.none_delay_ms: must be between 0 and 1000");
}

static void
test_values_taken(void **state)
{
	char *s = with("'listen': '[::1]:7171', 'http_listen': null, 'data_dir': '/tmp/x',"
	    "'durability': 'write', 'strategy': 'fill',"
	    "'limits': { 'max_line': 64, 'closed_tickets': 0 },"
	    "'journal': { 'snapshot_every': 5, 'snapshot_interval_s': 250, 'gather': false,"
	    "  'none_delay_ms': 0 },"
	    "'audit': { 'redis': 'localhost:6380', 'password': 'pw', 'prefix': 'p:' },"
	    "'auth': { 'tokens': [ { 'token': 'gate-north-1', 'role': 'gate', 'gate': 'north' },"
	    "  { 'token': 'kiosk-token', 'role': 'kiosk', 'gate': null },"
	    "  { 'token': 'operator-token', 'role': 'operator' } ] }");
	struct settings *c = parse_ok(s);

	(void)state;
	free(s);
	assert_string_equal(c->listen.host, "::1");
	assert_int_equal(c->listen.port, 7171);
	assert_int_equal(c->http.enabled, 0);
	assert_string_equal(c->data_dir, "/tmp/x");
	assert_int_equal(c->durability, DUR_WRITE);
	assert_int_equal(c->core->strategy, ALLOC_FILL);
	assert_int_equal(c->limits.max_line, 64);
	assert_int_equal(c->core->limits.closed_tickets, 0);
	assert_int_equal(c->limits.max_output, 8388608);	/* others stay default */
	assert_int_equal(c->journal.snapshot_every, 5);
	assert_int_equal(c->journal.snapshot_interval_s, 250);
	assert_int_equal(c->journal.gather, 0);
	assert_int_equal(c->journal.none_delay_ms, 0);
	assert_string_equal(c->audit.redis.host, "127.0.0.1");
	assert_int_equal(c->audit.redis.port, 6380);
	assert_string_equal(c->audit.password, "pw");
	assert_string_equal(c->audit.prefix, "p:");
	assert_int_equal(c->n_tokens, 3);
	assert_string_equal(c->tokens[0].token, "gate-north-1");
	assert_int_equal(c->tokens[0].role, ROLE_GATE);
	assert_string_equal(c->tokens[0].gate, "north");
	assert_int_equal(c->tokens[1].role, ROLE_KIOSK);
	assert_null(c->tokens[1].gate);
	assert_int_equal(c->tokens[2].role, ROLE_OPERATOR);
	assert_null(c->tokens[2].gate);
	settings_free(c);

	s = with("'durability': 'none'");
	c = parse_ok(s);
	assert_int_equal(c->durability, DUR_NONE);
	settings_free(c);
	free(s);
}

static void
test_errors_top_level(void **state)
{
	(void)state;
	expect_member_error("'lisen': '127.0.0.1:7070'", "lisen: unknown key");
	expect_member_error("'Listen': '127.0.0.1:7070'", "Listen: unknown key");
	expect_member_error("'listen': 'localhost'", "listen: must be HOST:PORT");
	expect_member_error("'listen': '127.0.0.1:70000'", "listen: must be HOST:PORT");
	expect_member_error("'listen': null", "listen: must be HOST:PORT");
	expect_member_error("'listen': 'none'", "listen: must be HOST:PORT");
	expect_member_error("'listen': 7070", "listen: must be a string or null");
	expect_member_error("'http_listen': 'x'", "http_listen: must be HOST:PORT");
	expect_member_error("'durability': 'sometimes'",
	    "durability: must be fsync, write or none");
	expect_member_error("'durability': 1", "durability: must be fsync, write or none");
	expect_member_error("'strategy': 'random'",
	    "strategy: must be nearest, farthest, first or fill");
	expect_member_error("'data_dir': ''", "data_dir: must not be empty");
	expect_error("{ 'tariff': " TU_MIN_TARIFF " }", "facility: is required");
	expect_error("{ " MINI_FAC " }", "tariff: is required");
	expect_error("[]", "config: must be an object");
	expect_error("42", "config: must be an object");
}

static void
test_errors_sections(void **state)
{
	(void)state;
	expect_member_error("'limits': { 'max_line': 'big' }",
	    "limits.max_line: must be an integer");
	expect_member_error("'limits': { 'max_line': 1.5 }",
	    "limits.max_line: must be an integer");
	expect_member_error("'limits': { 'max_line': 63 }",
	    "limits.max_line: must be between 64 and 67108864");
	expect_member_error("'limits': { 'max_line': 67108865 }",
	    "limits.max_line: must be between 64 and 67108864");
	expect_member_error("'limits': { 'max_lines': 100 }",
	    "limits.max_lines: unknown key");
	expect_member_error("'limits': []", "limits: must be an object");
	/* A bucket of no token refuses everything; 0 and 0 is the limit off. */
	expect_member_error("'limits': { 'rate_per_s': 1, 'rate_burst': 0 }",
	    "limits.rate_burst: must be at least 1 when rate_per_s is not 0 (0 "
	    "turns the limit off)");
	{
		char *t = with("'limits': { 'rate_per_s': 0, 'rate_burst': 0 }");
		char err[256] = "";
		struct settings *c = parse_text(t, err, sizeof(err));

		assert_non_null(c);
		settings_free(c);
		free(t);
	}
	expect_member_error("'waitlist': { 'max_timeout_s': 0 }",
	    "waitlist.max_timeout_s: must be between 1 and 604800");
	expect_member_error("'reservations': { 'max_fraction': 1.5 }",
	    "reservations.max_fraction: must be between 0 and 1");
	expect_member_error("'journal': { 'snapshot_every': 0 }",
	    "journal.snapshot_every: must be between 1 and 1000000000");
	expect_member_error("'journal': { 'gather': 1 }",
	    "journal.gather: must be true or false");
	expect_member_error("'audit': { 'redis': 'nowhere' }",
	    "audit.redis: must be HOST:PORT");
	expect_member_error("'audit': { 'prefix': null }", "audit.prefix: must be a string");
	expect_member_error("'audit': { 'prefix': "
	    "'12345678901234567890123456789012345678901234567890123456789012345' }",
	    "audit.prefix: must be at most 64 bytes");
	expect_member_error("'audit': { 'colour': 'red' }", "audit.colour: unknown key");
	/* Errors inside the facility and the tariff name their paths too. */
	expect_error_prefix("{ 'facility': { 'gates': [], 'rows': [ { 'level': 0, "
	    "'zone': 'A', 'type': 'regular', 'count': 0, 'x': 1, 'y': 1, 'dx': 1, 'dy': 0 } ] },"
	    " 'tariff': " TU_MIN_TARIFF " }", "facility.");
	expect_error_prefix("{ " MINI_FAC ", 'tariff': { " TU_MIN_TARIFF_KEYS ", 'lost_ticket': -1 } }",
	    "tariff.lost_ticket: ");
	/* A multiplier for a class that does not exist is a typo, not a no-op. */
	expect_error("{ " MINI_FAC ", 'tariff': { " TU_MIN_TARIFF_KEYS ", 'lost_ticket': 0, 'class_multiplier': { 'car': 1, 'cars': 2 } } }",
	    "tariff.class_multiplier.cars: no such vehicle class");
}

static void
test_errors_tokens(void **state)
{
	(void)state;
	expect_member_error("'auth': { 'tokens': [ { 'token': 'abcdefgh', 'role': 'admin' } ] }",
	    "auth.tokens[0].role: must be gate, kiosk or operator");
	expect_member_error("'auth': { 'tokens': [ { 'token': 'abcdefgh' } ] }",
	    "auth.tokens[0].role: is required");
	expect_member_error("'auth': { 'tokens': [ { 'token': 'abcdefgh', 'role': 'gate',"
	    " 'gate': 'west' } ] }", "auth.tokens[0].gate: no such gate 'west'");
	expect_member_error("'auth': { 'tokens': [ { 'token': 'abcdefgh', 'role': 'kiosk',"
	    " 'gate': 'north' } ] }",
	    "auth.tokens[0].gate: only gate tokens are bound to a gate");
	expect_member_error("'auth': { 'tokens': [ { 'token': 'abcdefgh', 'role': 'gate' },"
	    " { 'token': 'abcdefgh', 'role': 'kiosk' } ] }",
	    "auth.tokens[1].token: duplicate token");
	expect_member_error("'auth': { 'tokens': [ { 'token': 'short', 'role': 'gate' } ] }",
	    "auth.tokens[0].token: must be a string of 8 to 256 characters");
	expect_member_error("'auth': { 'tokens': [ { 'role': 'gate' } ] }",
	    "auth.tokens[0].token: must be a string of 8 to 256 characters");
	expect_member_error("'auth': { 'tokens': [ { 'token': 'abcdefgh', 'role': 'gate',"
	    " 'level': 1 } ] }", "auth.tokens[0].level: unknown key");
	expect_member_error("'auth': { 'tokens': [ 'abcdefgh' ] }",
	    "auth.tokens[0]: must be an object");
	expect_member_error("'auth': { 'tokens': {} }", "auth.tokens: must be an array");
	expect_member_error("'auth': { 'users': [] }", "auth.users: unknown key");
}

static void
test_errors_text(void **state)
{
	char err[256], msg[128];
	struct settings *c;
	char *s;

	(void)state;
	/* Duplicate keys, at the top and in a section. */
	expect_error("{ 'listen': '127.0.0.1:1', 'listen': '127.0.0.1:2', " MINI_FAC
	    ", 'tariff': " TU_MIN_TARIFF " }", "listen: duplicate key");
	expect_member_error("'limits': { 'max_line': 100, 'max_line': 200 }",
	    "limits.max_line: duplicate key");
	expect_member_error("'auth': { 'tokens': [ { 'token': 'abcdefgh', 'role': 'gate',"
	    " 'role': 'kiosk' } ] }", "auth.tokens[0].role: duplicate key");
	/* Trailing garbage after the value; trailing white space is fine. */
	snprintf(msg, sizeof(msg), "config: line 1, column %zu: "
	    "trailing characters after the JSON value", strlen(MINI) + 2);
	expect_error(MINI " x", msg);
	snprintf(msg, sizeof(msg), "config: line 1, column %zu: "
	    "trailing characters after the JSON value", strlen(MINI) + 1);
	expect_error(MINI "{}", msg);
	c = parse_ok(MINI " \n\t\r\n");
	settings_free(c);
	/* Not JSON at all, with the place named. */
	expect_error_prefix("{ 'listen': ", "config: line 1, column 13: ");
	expect_error("", "config: line 1, column 1: unexpected end of input");
	expect_error("{\n  'listen': 1,\n  x }", "config: line 3, column 3: member name expected");
	/* A NUL byte anywhere, even after the value. */
	s = tu_quote(MINI);
	memset(err, 'x', sizeof(err));
	assert_null(settings_parse(s, strlen(s) + 1, &(struct jerr){ err, sizeof(err), 0 }));
	snprintf(msg, sizeof(msg), "config: line 1, column %zu: "
	    "trailing characters after the JSON value", strlen(s) + 1);
	assert_string_equal(err, msg);
	s[5] = '\0';
	assert_null(settings_parse(s, strlen(s + 6) + 6, &(struct jerr){ err, sizeof(err), 0 }));
	assert_string_equal(err, "config: line 1, column 6: control character in string");
	free(s);
	/* Without an error buffer nothing is written and nothing breaks. */
	assert_null(settings_parse("{", 1, &(struct jerr){ NULL, 0, 0 }));
}

static void
test_endpoint(void **state)
{
	struct endpoint ep;

	(void)state;
	assert_int_equal(settings_endpoint("10.1.2.3:80", &ep), 0);
	assert_int_equal(ep.enabled, 1);
	assert_string_equal(ep.host, "10.1.2.3");
	assert_int_equal(ep.port, 80);
	assert_int_equal(settings_endpoint("[::1]:7070", &ep), 0);
	assert_int_equal(ep.enabled, 1);
	assert_string_equal(ep.host, "::1");
	assert_int_equal(ep.port, 7070);
	assert_int_equal(settings_endpoint("[fe80::1%eth0]:65535", &ep), 0);
	assert_string_equal(ep.host, "fe80::1%eth0");
	assert_int_equal(ep.port, 65535);
	assert_int_equal(settings_endpoint("localhost:6379", &ep), 0);
	assert_string_equal(ep.host, "127.0.0.1");
	assert_int_equal(ep.port, 6379);
	assert_int_equal(settings_endpoint("redis.example:1", &ep), 0);
	assert_string_equal(ep.host, "redis.example");
	assert_int_equal(settings_endpoint("0.0.0.0:0", &ep), 0);	/* any free port */
	assert_int_equal(ep.port, 0);
	assert_int_equal(ep.enabled, 1);
	/* Disabled. */
	ep.enabled = 1;
	assert_int_equal(settings_endpoint("none", &ep), 0);
	assert_int_equal(ep.enabled, 0);
	ep.enabled = 1;
	assert_int_equal(settings_endpoint(NULL, &ep), 0);
	assert_int_equal(ep.enabled, 0);
}

/* The text form reads back as the same endpoint. */
static void
test_endpoint_text(void **state)
{
	static const char *const forms[] = { "10.1.2.3:80", "[::1]:7070", "[fe80::1%eth0]:65535" };
	struct endpoint ep, back;
	char text[SETTINGS_HOST_MAX + 16];

	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		assert_int_equal(settings_endpoint(forms[i], &ep), 0);
		settings_endpoint_text(&ep, text, sizeof(text));
		assert_string_equal(text, forms[i]);
		assert_int_equal(settings_endpoint(text, &back), 0);
		assert_string_equal(back.host, ep.host);
		assert_int_equal(back.port, ep.port);
	}
	assert_int_equal(settings_endpoint("none", &ep), 0);
	settings_endpoint_text(&ep, text, sizeof(text));
	assert_string_equal(text, "");
}

static void
test_endpoint_bad(void **state)
{
	static const char *const bad[] = {
		"", "localhost", "127.0.0.1", "127.0.0.1:", ":7070", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:80x", "127.0.0.1:0x50", "127.0.0.1:99999999999999999999",
		"::1:7070", "[::1]7070", "[::1]", "[::1]:", "[]:7070", "[::1:7070",
		"127.0.0.1: 80", "127.0.0.1:+80", "127.0.0.1:\t80", "NONE",
	};
	struct endpoint ep;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (settings_endpoint(bad[i], &ep) != -1)
			fail_msg("accepted '%s' (port %d)", bad[i], ep.port);
	}
	/* A host name longer than SETTINGS_HOST_MAX. */
	{
		char s[SETTINGS_HOST_MAX + 16];

		memset(s, 'h', SETTINGS_HOST_MAX + 1);
		strcpy(s + SETTINGS_HOST_MAX + 1, ":80");
		assert_int_equal(settings_endpoint(s, &ep), -1);
		strcpy(s + SETTINGS_HOST_MAX, ":80");
		assert_int_equal(settings_endpoint(s, &ep), 0);
		assert_int_equal(strlen(ep.host), SETTINGS_HOST_MAX);
	}
}

static cJSON *
tree(const char *text)
{
	cJSON *r = config_json(text, strlen(text), &(struct jerr){ NULL, 0, 0 });

	assert_non_null(r);
	return r;
}

/* Keys that a running process cannot take, compared by value, not by text. */
static void
test_restart_changes(void **state)
{
	cJSON *a = tree("{\"listen\": \"127.0.0.1:1\", \"facility\": {\"a\": [1, 2]},"
	    " \"limits\": {\"max_line\": 100}, \"strategy\": \"first\"}");
	cJSON *same = tree("{ \"facility\" : {\"a\":[1,2]}, \"listen\":\"127.0.0.1:1\","
	    " \"limits\": {\"max_line\": 200}, \"strategy\": \"fill\"}");
	cJSON *b = tree("{\"listen\": \"127.0.0.1:2\", \"facility\": {\"a\": [2, 1]},"
	    " \"durability\": \"none\", \"limits\": {\"max_line\": 100}}");
	const char *out[16];
	size_t n;

	(void)state;
	/* Other keys (limits, strategy) and spacing do not count. */
	assert_int_equal(settings_restart_changes(a, same, out, 16), 0);
	n = settings_restart_changes(a, b, out, 16);
	assert_int_equal(n, 3);
	assert_string_equal(out[0], "listen");
	assert_string_equal(out[1], "durability");	/* given in one only */
	assert_string_equal(out[2], "facility");	/* order inside matters */
	/* Bounded by max. */
	assert_int_equal(settings_restart_changes(a, b, out, 2), 2);
	cJSON_Delete(a);
	cJSON_Delete(same);
	cJSON_Delete(b);
	/* One key of a section: where audit stores, not how much it keeps. */
	a = tree("{\"audit\": {\"redis\": \"127.0.0.1:1\", \"stream_maxlen\": 5}, \"city\": {}}");
	b = tree("{\"audit\": {\"redis\": \"127.0.0.1:1\", \"stream_maxlen\": 9}, \"city\": {}}");
	assert_int_equal(settings_restart_changes(a, b, out, 16), 0);
	cJSON_Delete(b);
	b = tree("{\"audit\": {\"redis\": \"127.0.0.1:2\"}, \"city\": null}");
	n = settings_restart_changes(a, b, out, 16);
	/* A section turned null changes each of its keys. */
	assert_int_equal(n, 4);
	assert_string_equal(out[0], "audit.redis");
	assert_string_equal(out[1], "city.redis");
	assert_string_equal(out[2], "city.password");
	assert_string_equal(out[3], "city.prefix");
	cJSON_Delete(a);
	cJSON_Delete(b);
}

struct reported {
	char msgs[16][256];
	int n;
};

static void
collect(void *ud, const char *msg)
{
	struct reported *r = ud;

	if (r->n < 16)
		snprintf(r->msgs[r->n], sizeof(r->msgs[0]), "%s", msg);
	r->n++;
}

static int
check(const char *text, struct reported *r)
{
	char *q = tu_quote(text);
	int n;

	memset(r, 0, sizeof(*r));
	n = settings_check(q, strlen(q), collect, r);
	free(q);
	assert_int_equal(n, r->n);
	return n;
}

/* Every error of a file, each once, not what follows from an earlier one. */
static void
test_check_reports_every_error(void **state)
{
	struct reported r;
	char *t;

	(void)state;
	assert_int_equal(check(MINI, &r), 0);
	t = with("'listen': 5, 'durability': 'sometimes', 'payment_methods': ['Cash'],"
	    " 'limits': { 'max_line': 1, 'rate_per_s': 'fast' },"
	    " 'auth': { 'tokens': [ { 'role': 'gate' } ] }, 'colour': 'red'");
	assert_int_equal(check(t, &r), 7);
	free(t);
	assert_string_equal(r.msgs[0], "colour: unknown key");
	assert_string_equal(r.msgs[1], "listen: must be a string or null");
	assert_string_equal(r.msgs[2], "durability: must be fsync, write or none");
	/* Not also "payment_methods: must name at least one method". */
	assert_non_null(strstr(r.msgs[3], "payment_methods[0]: must be 1 to 16"));
	assert_non_null(strstr(r.msgs[4], "limits.max_line: must be between"));
	assert_string_equal(r.msgs[5], "limits.rate_per_s: must be an integer");
	assert_non_null(strstr(r.msgs[6], "auth.tokens[0].token:"));
	/* A required key that is invalid is reported once, not as missing too. */
	t = with("'strategy': 'random'");
	assert_int_equal(check(t, &r), 1);
	free(t);
	/*
	 * A row left out for its error takes its spot type along: the class
	 * that fits that type is not reported as fitting an unknown one.
	 */
	assert_int_equal(check("{ 'facility': { 'gates': [ { 'id': 'north', 'role': "
	    "'both', 'level': 0, 'x': 0, 'y': 0 } ], 'rows': [ { 'level': 0, 'zone': "
	    "'A', 'type': 'regular', 'count': 2, 'x': 1, 'y': 1, 'dx': 1, 'dy': 0 }, "
	    "{ 'level': 0, 'zone': 'M', 'type': 'motorcycle', 'count': 0, 'x': 1, "
	    "'y': 5, 'dx': 1, 'dy': 0 } ] }, 'vehicles': { 'car': { 'fits': "
	    "[ 'regular' ] }, 'motorcycle': { 'fits': [ 'motorcycle', 'regular' ] } },"
	    " 'tariff': " TU_MIN_TARIFF " }", &r), 1);
	assert_non_null(strstr(r.msgs[0], "facility.rows[1].count: must be between"));
	/* A syntax error stops the check, with its line and column. */
	assert_int_equal(check("{\n 'listen': 'x',\n 'a': [1,,2]\n}", &r), 1);
	assert_string_equal(r.msgs[0], "config: line 3, column 10: unexpected character");
}

/* A config with the facility named name at a location, plus members. */
static char *
located(const char *name, const char *members)
{
	size_t n = strlen(members) + 1024;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, "{ %s%s'facility': { 'name': '%s', 'location': "
	    "{ 'lat': 52.5, 'lon': 13.4 }, 'gates': [ { 'id': 'north', "
	    "'role': 'both', 'level': 0, 'x': 0, 'y': 0 } ], 'rows': [ { "
	    "'level': 0, 'zone': 'A', 'type': 'regular', 'count': 2, 'x': 1, "
	    "'y': 1, 'dx': 1, 'dy': 0 } ] }, 'tariff': " TU_MIN_TARIFF " }", members,
	    members[0] ? ", " : "", name);
	return s;
}

static void
test_city(void **state)
{
	struct settings *c = parse_ok(MINI);
	char *s;

	(void)state;
	/* Left out: on, on audit's Redis (and password), the contract's defaults. */
	assert_int_equal(c->city.enabled, 1);
	assert_int_equal(c->city.follow_audit, 1);
	assert_string_equal(c->city.prefix, "city:");
	assert_int_equal(c->city.publish_ms, 1000);
	assert_int_equal(c->city.heartbeat_s, 30);
	assert_ptr_equal(settings_city_redis(c), &c->audit.redis);
	assert_null(settings_city_password(c));
	/* --redis changes audit.redis after parsing: the city follows it. */
	assert_int_equal(settings_endpoint("127.0.0.1:7000", &c->audit.redis), 0);
	assert_int_equal(settings_city_redis(c)->port, 7000);
	assert_int_equal(settings_endpoint("none", &c->audit.redis), 0);
	assert_int_equal(settings_city_redis(c)->enabled, 0);
	settings_free(c);

	s = with("'audit': { 'redis': '127.0.0.1:6380', 'password': 'apw' }");
	c = parse_ok(s);
	free(s);
	assert_int_equal(settings_city_redis(c)->port, 6380);
	assert_string_equal(settings_city_password(c), "apw");
	settings_free(c);

	/* Its own Redis, password, prefix and pace. */
	s = with("'audit': { 'redis': '127.0.0.1:6380', 'password': 'apw' },"
	    "'city': { 'redis': '10.0.0.5:6390', 'password': 'cpw', 'prefix': 'berlin:',"
	    " 'publish_ms': 250, 'heartbeat_s': 5 }");
	c = parse_ok(s);
	free(s);
	assert_int_equal(c->city.enabled, 1);
	assert_string_equal(settings_city_redis(c)->host, "10.0.0.5");
	assert_int_equal(settings_city_redis(c)->port, 6390);
	assert_string_equal(settings_city_password(c), "cpw");
	assert_string_equal(c->city.prefix, "berlin:");
	assert_int_equal(c->city.publish_ms, 250);
	assert_int_equal(c->city.heartbeat_s, 5);
	settings_free(c);

	/* Its own Redis without a password: none, not audit's. */
	s = with("'audit': { 'password': 'apw' }, 'city': { 'redis': '127.0.0.1:1' }");
	c = parse_ok(s);
	free(s);
	assert_null(settings_city_password(c));
	settings_free(c);
	/* Audit's Redis with a password of its own (null included). */
	s = with("'audit': { 'password': 'apw' }, 'city': { 'password': null }");
	c = parse_ok(s);
	free(s);
	assert_ptr_equal(settings_city_redis(c), &c->audit.redis);
	assert_null(settings_city_password(c));
	settings_free(c);

	/* Off: city null, or its redis null; audit's stays. */
	s = with("'city': null");
	c = parse_ok(s);
	free(s);
	assert_int_equal(settings_city_redis(c)->enabled, 0);
	assert_int_equal(c->audit.redis.enabled, 1);
	settings_free(c);
	s = with("'city': { 'redis': null }");
	c = parse_ok(s);
	free(s);
	assert_int_equal(settings_city_redis(c)->enabled, 0);
	settings_free(c);
	s = with("'audit': { 'redis': null }");
	c = parse_ok(s);
	free(s);
	assert_int_equal(settings_city_redis(c)->enabled, 0);
	settings_free(c);

	expect_member_error("'city': 5", "city: must be an object or null");
	expect_member_error("'city': { 'bogus': 1 }", "city.bogus: unknown key");
	expect_member_error("'city': { 'redis': 'nowhere' }", "city.redis: must be HOST:PORT");
	expect_member_error("'city': { 'prefix': '' }", "city.prefix: must not be empty");
	expect_member_error("'city': { 'publish_ms': 5 }",
	    "city.publish_ms: must be between 10 and 3600000");
	expect_member_error("'city': { 'heartbeat_s': 0 }",
	    "city.heartbeat_s: must be between 1 and 86400");
	expect_member_error("'city': { 'password': 3 }",
	    "city.password: must be a string or null");

	/* A facility on the map needs a name to be known by. */
	s = located("Nord P+R", "");
	c = parse_ok(s);
	free(s);
	settings_free(c);
	s = located("", "");
	expect_error(s, "facility.name: must not be empty with a location: "
	    "the city view names the facility by it");
	free(s);
	s = located("", "'city': null");
	c = parse_ok(s);
	free(s);
	settings_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_config),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values_taken),
		cmocka_unit_test(test_errors_top_level),
		cmocka_unit_test(test_errors_sections),
		cmocka_unit_test(test_errors_tokens),
		cmocka_unit_test(test_errors_text),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_endpoint_text),
		cmocka_unit_test(test_endpoint_bad),
		cmocka_unit_test(test_replication),
		cmocka_unit_test(test_restart_changes),
		cmocka_unit_test(test_check_reports_every_error),
		cmocka_unit_test(test_city),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
