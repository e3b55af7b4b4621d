/* test_session.c - unit tests of protocol sessions: a line in, a line out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"
#include "testutil.h"

#define NOW TU_T0			/* Monday 2026-11-23 10:00:00Z */
#define HOUR 3600

/* ---- the fixture: a garage, a fake daemon environment, a session ---- */

struct fx {
	garage *g;
	struct call_env env;
	struct config core;		/* payment methods */
	struct session s;
	unsigned next_id;	/* ids handed out so far */
	uint64_t lsn;		/* changes committed so far */
	int commit_fails;	/* the next commit fails (journal out of memory) */
	int writable;
	int64_t now;
	int alt_class;		/* the class lot_full asked alternatives for */
};

static void
fake_alternatives(void *ud, int cls, struct jw *edata)
{
	struct fx *f = ud;

	f->alt_class = cls;
	jw_key(edata, "alternatives");
	jw_raw(edata, "[{\"slug\":\"elsewhere\"}]", 22);
}

static void
fake_new_id(void *ud, char out[UUID_BUFSZ])
{
	struct fx *f = ud;

	tu_id(++f->next_id, out);
}

static void
fake_health(void *ud, struct jw *w)
{
	(void)ud;
	jw_kstr(w, "status", "ok");
}

/* A journal in memory: every change gets the next LSN. */
static int
fake_commit(void *ud, const garage *g, const struct changes *ch,
    int acks_earlier, uint64_t *hold)
{
	struct fx *f = ud;

	assert_ptr_equal(g, f->g);
	if (f->commit_fails) {
		f->commit_fails = 0;
		return -1;
	}
	f->lsn += ch->n;
	*hold = ch->n > 0 || acks_earlier ? f->lsn : 0;
	return 0;
}

static int
fake_auth(void *ud, const char *peer, const char *token, enum role *role,
    const char **gate, uint64_t *retry_ms)
{
	(void)ud;
	(void)peer;
	*gate = NULL;
	if (strcmp(token, "blocked-token") == 0) {
		*retry_ms = 1500;
		return -2;
	}
	if (strcmp(token, "gate-token") == 0)
		*role = ROLE_GATE;
	else if (strcmp(token, "north-token") == 0) {
		*role = ROLE_GATE;
		*gate = "north";
	} else if (strcmp(token, "kiosk-token") == 0)
		*role = ROLE_KIOSK;
	else if (strcmp(token, "op-token") == 0)
		*role = ROLE_OPERATOR;
	else
		return -1;
	return 0;
}

static int
fake_writable(void *ud, const char **why)
{
	struct fx *f = ud;

	*why = "is failing";
	return f->writable;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->g = tu_garage(ALLOC_NEAREST, 10);
	f->env.ud = f;
	f->env.new_id = fake_new_id;
	f->env.health = fake_health;
	f->env.auth = fake_auth;
	f->env.writable = fake_writable;
	f->env.commit = fake_commit;
	strcpy(f->core.payment_methods[0], "cash");
	strcpy(f->core.payment_methods[1], "card");
	f->core.n_payment_methods = 2;
	f->writable = 1;
	f->now = NOW;
	f->s.g = f->g;
	f->s.env = &f->env;
	f->s.role = ROLE_OPERATOR;
	f->s.bound_gate = NULL;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	session_release(&f->s);
	garage_free(f->g);
	free(f);
	return 0;
}

/* The lines are the session's (valid until its next line): only defer_id is ours. */
static void
out_free(struct session_out *o)
{
	free(o->defer_id);
	memset(o, 0, sizeof(*o));
}

/* The tariff in force as text. */
static char *
tariff_text(const garage *g)
{
	struct jw w;

	jw_init(&w);
	tariff_write(garage_tariff(g), &w);
	return jw_take(&w, NULL);
}

/* Runs one line (written with ' for ") and fills out. */
static void
run(struct fx *f, const char *text, struct session_out *out)
{
	char *s = tu_quote(text);

	assert_int_equal(session_handle(&f->s, s, strlen(s), 0, f->now, out), 0);
	free(s);
	/* The lengths lent with the lines are theirs. */
	if (out->line != NULL)
		assert_int_equal(strlen(out->line), out->line_len);
	if (out->fail_line != NULL)
		assert_int_equal(strlen(out->fail_line), out->fail_len);
}

/* Runs a line that must be answered; returns the parsed response. */
static cJSON *
rpc_out(struct fx *f, const char *text, struct session_out *out)
{
	cJSON *r;

	run(f, text, out);
	if (out->line == NULL)
		fail_msg("no response to %s", text);
	r = cJSON_Parse(out->line);
	if (r == NULL)
		fail_msg("response is not JSON: %s", out->line);
	return r;
}

static cJSON *
rpc(struct fx *f, const char *text)
{
	struct session_out out;
	cJSON *r = rpc_out(f, text, &out);

	out_free(&out);
	return r;
}

static const cJSON *
get(const cJSON *o, const char *path)
{
	char buf[128], *key, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (key = strtok_r(buf, ".", &save); key != NULL && o != NULL;
	    key = strtok_r(NULL, ".", &save)) {
		if (cJSON_IsArray(o))
			o = cJSON_GetArrayItem(o, atoi(key));
		else
			o = cJSON_GetObjectItemCaseSensitive(o, key);
	}
	if (o == NULL)
		fail_msg("no %s", path);
	return o;
}

static const char *
gstr(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);

	if (!cJSON_IsString(v))
		fail_msg("%s is not a string", path);
	return v->valuestring;
}

static double
gnum(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);

	if (!cJSON_IsNumber(v))
		fail_msg("%s is not a number", path);
	return v->valuedouble;
}

static int
has(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

/* The response is an error with reason (and its code); returns it. */
static cJSON *
expect_err(struct fx *f, const char *text, const char *reason, int code)
{
	cJSON *r = rpc(f, text);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");

	if (e == NULL) {
		char *p = cJSON_PrintUnformatted(r);

		fail_msg("%s: no error but %s", text, p);
	}
	if (strcmp(gstr(e, "data.reason"), reason) != 0)
		fail_msg("%s: reason %s (%s), want %s", text, gstr(e, "data.reason"),
		    gstr(e, "message"), reason);
	assert_int_equal(gnum(e, "code"), code);
	assert_true(cJSON_IsString(get(e, "message")));
	assert_false(has(r, "result"));
	return r;
}

static void
err_only(struct fx *f, const char *text, const char *reason, int code)
{
	cJSON_Delete(expect_err(f, text, reason, code));
}

/* The response is a result; returns the whole response. */
static cJSON *
expect_ok(struct fx *f, const char *text)
{
	cJSON *r = rpc(f, text);

	if (!has(r, "result")) {
		char *p = cJSON_PrintUnformatted(r);

		fail_msg("%s: %s", text, p);
	}
	assert_string_equal(gstr(r, "jsonrpc"), "2.0");
	assert_false(has(r, "error"));
	return r;
}

static void
ok_only(struct fx *f, const char *text)
{
	cJSON_Delete(expect_ok(f, text));
}

/* Let a car in at north by operator; returns nothing. */
static void
car_in(struct fx *f, const char *plate)
{
	char line[160];

	snprintf(line, sizeof(line), "{'id':1,'method':'entry','params':{'gate':'north',"
	    "'plate':'%s','class':'car'}}", plate);
	ok_only(f, line);
}

/* ---- framing, JSON-RPC, inline ---- */

static void
test_ping(void **state)
{
	struct fx *f = *state;
	struct session_out out;

	run(f, "ping", &out);
	assert_string_equal(out.line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":\"pong\"}");
	assert_null(out.fail_line);
	assert_int_equal((out.hold != 0), 0);
	out_free(&out);
	run(f, "   ping  ", &out);
	assert_string_equal(out.line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":\"pong\"}");
	out_free(&out);
	run(f, "{'jsonrpc':'2.0','id':7,'method':'ping'}", &out);
	assert_string_equal(out.line, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"pong\"}");
	out_free(&out);
	/* jsonrpc may be left out; ids are echoed as given. */
	run(f, "  {'id':'a\\u0062','method':'ping'}", &out);
	assert_string_equal(out.line,
	    "{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0062\",\"result\":\"pong\"}");
	out_free(&out);
	run(f, "{'id':12345678901234567890,'method':'ping','params':{}}", &out);
	assert_string_equal(out.line,
	    "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890,\"result\":\"pong\"}");
	out_free(&out);
}

static void
test_help(void **state)
{
	struct fx *f = *state;
	cJSON *r = expect_ok(f, "help");
	const cJSON *m = get(r, "result.methods"), *it;
	int n = 0, found_entry = 0;

	assert_true(cJSON_IsArray(m));
	cJSON_ArrayForEach(it, m) {
		assert_true(strlen(gstr(it, "usage")) > 0);
		if (strcmp(gstr(it, "method"), "entry") == 0)
			found_entry = 1;
		n++;
	}
	assert_true(n >= 15);
	assert_true(found_entry);
	cJSON_Delete(r);
	r = expect_ok(f, "help method=pay");
	assert_string_equal(gstr(r, "result.method"), "pay");
	assert_non_null(strstr(gstr(r, "result.usage"), "pay ticket=ID amount=CENTS"));
	cJSON_Delete(r);
	err_only(f, "help method=fly", "not_found", 4040);
	err_only(f, "help method=1", "invalid_params", -32602);
	/* A bare word is the method's positional parameter. */
	r = expect_ok(f, "help entry");
	assert_string_equal(gstr(r, "result.method"), "entry");
	cJSON_Delete(r);
	r = expect_ok(f, "help \"quote\"");
	assert_string_equal(gstr(r, "result.method"), "quote");
	cJSON_Delete(r);
	r = expect_err(f, "help entyr", "not_found", 4040);
	assert_string_equal(gstr(r, "error.message"), "no method 'entyr'; did you mean entry?");
	cJSON_Delete(r);
	/* Given twice, or one word too many, is refused. */
	err_only(f, "help entry method=pay", "invalid_params", -32602);
	err_only(f, "help entry pay", "invalid_params", -32602);
	/* ping takes none. */
	err_only(f, "ping now", "invalid_params", -32602);
}

static void
test_unknown_method_and_params(void **state)
{
	struct fx *f = *state;
	cJSON *r;

	r = expect_err(f, "{'id':3,'method':'teleport'}", "method_not_found", -32601);
	assert_int_equal(gnum(r, "id"), 3);
	cJSON_Delete(r);
	err_only(f, "teleport now=1", "method_not_found", -32601);
	r = expect_err(f, "{'id':5,'method':'teleport'}", "method_not_found", -32601);
	assert_string_equal(gstr(r, "error.message"), "unknown method 'teleport'; try help");
	assert_string_equal(gstr(r, "error.data.method"), "teleport");
	assert_int_equal(cJSON_GetArraySize(get(r, "error.data.suggestions")), 0);
	cJSON_Delete(r);
	/* A typo, a swap, a prefix: the nearest names. */
	r = expect_err(f, "entyr gate=north", "method_not_found", -32601);
	assert_string_equal(gstr(r, "error.message"), "unknown method 'entyr'; did you mean entry?");
	assert_string_equal(gstr(r, "error.data.suggestions.0"), "entry");
	cJSON_Delete(r);
	r = expect_err(f, "qoute", "method_not_found", -32601);
	assert_string_equal(gstr(r, "error.message"), "unknown method 'qoute'; did you mean quote?");
	cJSON_Delete(r);
	r = expect_err(f, "subscr", "method_not_found", -32601);
	assert_string_equal(gstr(r, "error.data.suggestions.0"), "subscribe");
	cJSON_Delete(r);
	/* A name that is not a name is not echoed. */
	r = expect_err(f, "{'id':6,'method':'a b\\u00e9c'}", "method_not_found", -32601);
	assert_string_equal(gstr(r, "error.message"), "unknown method; try help");
	cJSON_Delete(r);
	r = expect_err(f, "{'id':4,'method':'ping','params':{'x':1}}", "invalid_params",
	    -32602);
	assert_string_equal(gstr(r, "error.message"), "params.x: unknown key");
	cJSON_Delete(r);
	err_only(f, "quote plate=A1 colour=red", "invalid_params", -32602);
	err_only(f, "{'id':4,'method':'ping','params':[1]}", "invalid_params", -32602);
	/* A notification of an unknown method gets nothing. */
	{
		struct session_out out;

		run(f, "{'method':'teleport'}", &out);
		assert_null(out.line);
		out_free(&out);
	}
}

static void
test_bad_lines(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	cJSON *r;

	r = expect_err(f, "{'id':1,'method':", "parse_error", -32700);
	assert_true(cJSON_IsNull(get(r, "id")));
	cJSON_Delete(r);
	err_only(f, "{'id':1,'id':2,'method':'ping'}", "parse_error", -32700);
	r = expect_err(f, "{'jsonrpc':'1.0','id':9,'method':'ping'}", "invalid_request",
	    -32600);
	assert_int_equal(gnum(r, "id"), 9);
	cJSON_Delete(r);
	err_only(f, "[]", "invalid_request", -32600);
	/* A line that was too long: the line itself is not looked at. */
	assert_int_equal(session_handle(&f->s, "ping", 4, 1, f->now, &out), 0);
	assert_string_equal(out.line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{"
	    "\"code\":-32600,\"message\":\"line too long\",\"data\":{\"reason\":"
	    "\"line_too_long\"}}}");
	assert_int_equal((out.hold != 0), 0);
	out_free(&out);
	/* Not UTF-8. */
	assert_int_equal(session_handle(&f->s, "{\"id\":1,\"method\":\"\xff\"}", 21, 0,
	    f->now, &out), 0);
	r = cJSON_Parse(out.line);
	assert_string_equal(gstr(r, "error.data.reason"), "parse_error");
	cJSON_Delete(r);
	out_free(&out);
}

static void
test_notifications_and_batches(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	cJSON *r;

	/* A notification is carried out and not answered. */
	run(f, "{'method':'entry','params':{'gate':'north','plate':'N1','class':'car'}}", &out);
	assert_null(out.line);
	assert_null(out.fail_line);
	assert_int_equal((out.hold != 0), 1);
	out_free(&out);
	assert_non_null(garage_inside(f->g, "N1"));

	/* A batch: responses in order, notifications left out. */
	r = rpc_out(f, "[{'id':1,'method':'ping'},{'method':'ping'},"
	    "{'id':'x','method':'nope'},{'id':3,'method':'quote','params':{'plate':'N1'}},"
	    "{'id':4,'jsonrpc':'3'}]", &out);
	assert_true(cJSON_IsArray(r));
	assert_int_equal(cJSON_GetArraySize(r), 4);
	assert_int_equal(gnum(r, "0.id"), 1);
	assert_string_equal(gstr(r, "0.result"), "pong");
	assert_string_equal(gstr(r, "1.id"), "x");
	assert_string_equal(gstr(r, "1.error.data.reason"), "method_not_found");
	assert_int_equal(gnum(r, "2.id"), 3);
	assert_string_equal(gstr(r, "2.result.plate"), "N1");
	assert_int_equal(gnum(r, "3.id"), 4);
	assert_string_equal(gstr(r, "3.error.data.reason"), "invalid_request");
	assert_int_equal((out.hold != 0), 0);
	assert_null(out.fail_line);
	cJSON_Delete(r);
	out_free(&out);

	/* Only notifications: no response at all. */
	run(f, "[{'method':'ping'},{'method':'ping'}]", &out);
	assert_null(out.line);
	out_free(&out);

	/* A batch with a change: fail_line answers every id as unavailable. */
	r = rpc_out(f, "[{'id':'a','method':'entry','params':{'gate':'north','plate':'N2',"
	    "'class':'car'}},{'method':'ping'},{'id':'b','method':'ping'}]", &out);
	assert_int_equal(cJSON_GetArraySize(r), 2);
	assert_int_equal((out.hold != 0), 1);
	assert_non_null(out.fail_line);
	cJSON_Delete(r);
	r = cJSON_Parse(out.fail_line);
	assert_true(cJSON_IsArray(r));
	assert_int_equal(cJSON_GetArraySize(r), 2);
	assert_string_equal(gstr(r, "0.id"), "a");
	assert_string_equal(gstr(r, "0.error.data.reason"), "unavailable");
	assert_int_equal(gnum(r, "0.error.code"), 5030);
	assert_string_equal(gstr(r, "1.id"), "b");
	assert_string_equal(gstr(r, "1.error.data.reason"), "unavailable");
	cJSON_Delete(r);
	out_free(&out);
}

/* ---- the changed flag and fail_line ---- */

static void
test_changed_and_fail_line(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	cJSON *r;

	r = rpc_out(f, "{'id':'e1','method':'entry','params':{'gate':'north','plate':'C1',"
	    "'class':'car'}}", &out);
	assert_int_equal((out.hold != 0), 1);
	assert_non_null(out.fail_line);
	cJSON_Delete(r);
	r = cJSON_Parse(out.fail_line);
	assert_string_equal(gstr(r, "id"), "e1");
	assert_string_equal(gstr(r, "error.data.reason"), "unavailable");
	assert_int_equal(gnum(r, "error.code"), 5030);
	cJSON_Delete(r);
	out_free(&out);

	/* Inline: the fail line has id null. */
	run(f, "entry gate=north plate=C2 class=car", &out);
	assert_int_equal((out.hold != 0), 1);
	assert_string_equal(out.fail_line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{"
	    "\"code\":5030,\"message\":\"the change could not be made durable; it was "
	    "not made\",\"data\":{\"reason\":\"unavailable\"}}}");
	out_free(&out);
	f->now = NOW + HOUR;	/* so that C1 owes something */

	/* Reads and refusals change nothing. */
	{
		static const char *const same[] = {
			"quote plate=C1", "status", "locate plate=C1", "strategy",
			"tariff", "spot id=A-01", "ping",
			"entry gate=north plate=C1 class=car",	/* plate_inside */
			"entry gate=south plate=C3 class=car",	/* wrong_gate */
			"pay ticket=00000000-0000-7000-8000-000000000001 amount=1",
			"exit gate=south plate=C1",		/* payment_required */
		};

		for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
			run(f, same[i], &out);
			if ((out.hold != 0) || out.fail_line != NULL)
				fail_msg("'%s' marked changed", same[i]);
			out_free(&out);
		}
	}
	/* Setting what is so changes nothing, but waits for what made it so. */
	{
		uint64_t lsn = f->lsn;

		run(f, "strategy set=nearest", &out);
		assert_int_equal(f->lsn, lsn);
		assert_int_equal(out.hold, lsn);
		out_free(&out);	/* frees the lines, not hold */
	}
	/* Changes. */
	{
		static const char *const changes[] = {
			"strategy set=first", "spot id=A-02 state=out_of_service",
			"lost plate=C2", "tariff set=" TU_MIN_TARIFF_JSON,
		};

		for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
			run(f, changes[i], &out);
			if (!(out.hold != 0) || out.fail_line == NULL)
				fail_msg("'%s' not marked changed: %s", changes[i], out.line);
			out_free(&out);
		}
	}
	/* Lost again changes nothing, and waits for the first to be durable. */
	{
		uint64_t lsn = f->lsn;

		run(f, "lost plate=C2", &out);
		assert_int_equal(f->lsn, lsn);
		assert_int_equal(out.hold, lsn);
		out_free(&out);
	}
}

/*
 * When the commit step cannot journal a change, the request is answered
 * unavailable, not acknowledged, and nothing is held.
 */
static void
test_commit_failure_not_acknowledged(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	cJSON *r;

	f->commit_fails = 1;
	r = rpc_out(f, "{'id':5,'method':'entry','params':{'gate':'north','plate':'K1',"
	    "'class':'car'}}", &out);
	assert_int_equal(gnum(r, "id"), 5);
	assert_string_equal(gstr(r, "error.data.reason"), "unavailable");
	assert_non_null(strstr(gstr(r, "error.message"), "could not be made durable"));
	assert_int_equal(out.hold, 0);
	assert_null(out.fail_line);
	cJSON_Delete(r);
	out_free(&out);
	/* The next change is committed again, and held for its LSN. */
	r = rpc_out(f, "{'id':6,'method':'entry','params':{'gate':'north','plate':'K2',"
	    "'class':'car'}}", &out);
	assert_string_equal(gstr(r, "result.plate"), "K2");
	assert_int_equal(out.hold, f->lsn);
	cJSON_Delete(r);
	out_free(&out);
}

/* ---- each method ---- */

static void
test_entry(void **state)
{
	struct fx *f = *state;
	cJSON *r;

	r = expect_ok(f, "{'id':1,'method':'entry','params':{'gate':'north',"
	    "'plate':' b-xy 123 ','class':'car'}}");
	assert_string_equal(gstr(r, "result.ticket"), "00000000-0000-7000-8000-000000000001");
	assert_string_equal(gstr(r, "result.plate"), "B-XY 123");
	assert_string_equal(gstr(r, "result.class"), "car");
	assert_string_equal(gstr(r, "result.gate"), "north");
	assert_string_equal(gstr(r, "result.entered_at"), "2026-11-23T10:00:00Z");
	assert_int_equal(cJSON_GetArraySize(get(r, "result.spots")), 1);
	assert_string_equal(gstr(r, "result.spots.0.id"), "B-01");
	assert_int_equal(gnum(r, "result.spots.0.level"), 0);
	assert_string_equal(gstr(r, "result.spots.0.zone"), "B");
	assert_string_equal(gstr(r, "result.spots.0.type"), "regular");
	assert_true(gnum(r, "result.distance") == 20.0);
	cJSON_Delete(r);
	assert_int_equal(f->next_id, 1);

	/* needs */
	r = expect_ok(f, "entry gate=north plate=M1 class=motorcycle needs=[\"ev\"]");
	assert_string_equal(gstr(r, "result.spots.0.id"), "B-02");
	cJSON_Delete(r);

	/* Errors. */
	err_only(f, "entry gate=north plate='b-xy 123' class=car", "plate_inside", 4090);
	err_only(f, "entry gate=north plate=' B-XY 123 ' class=car", "plate_inside", 4090);
	err_only(f, "{'id':1,'method':'entry','params':{'gate':'north','plate':'b-xy 123',"
	    "'class':'car'}}", "plate_inside", 4090);
	err_only(f, "entry gate=south plate=X1 class=car", "wrong_gate", 4096);
	r = expect_err(f, "entry gate=west plate=X1 class=car", "invalid_params", -32602);
	/* The valid ones are named, for people and for programs. */
	assert_non_null(strstr(gstr(r, "error.message"),
	    "no such gate 'west'; gates are north, south"));
	assert_string_equal(gstr(r, "error.data.valid.0"), "north");
	cJSON_Delete(r);
	r = expect_err(f, "entry gate=north plate=X1 class=boat", "invalid_params", -32602);
	assert_non_null(strstr(gstr(r, "error.message"),
	    "no such vehicle class 'boat'; classes are "));
	assert_true(cJSON_GetArraySize(get(r, "error.data.valid")) >= 2);
	cJSON_Delete(r);
	err_only(f, "entry plate=X1 class=car", "invalid_params", -32602);
	err_only(f, "entry gate=north class=car", "invalid_params", -32602);
	err_only(f, "entry gate=north plate=X1", "invalid_params", -32602);
	err_only(f, "entry gate=north plate=X1 class=tank", "invalid_params", -32602);
	err_only(f, "entry gate=north plate=X_1 class=car", "invalid_params", -32602);
	err_only(f, "entry gate=north plate=ABCDEFGHIJKLMNOPQ class=car", "invalid_params",
	    -32602);
	err_only(f, "entry gate=north plate=X1 class=car needs=[\"roof\"]", "invalid_params",
	    -32602);
	err_only(f, "entry gate=north plate=X1 class=car needs=\"ev\"", "invalid_params",
	    -32602);
	err_only(f, "entry gate=1 plate=X1 class=car", "invalid_params", -32602);
	err_only(f, "entry gate=north plate=X1 class=car reservation=r1", "not_found", 4040);
	err_only(f, "entry gate=north plate=X1 class=car at=noon", "invalid_params", -32602);
	/* Vans fit oversized only: two, then lot_full; wait may be used. */
	ok_only(f, "entry gate=north plate=V1 class=van");
	ok_only(f, "entry gate=north plate=V2 class=van");
	r = expect_err(f, "entry gate=north plate=V3 class=van", "lot_full", 4091);
	assert_true(cJSON_IsTrue(get(r, "error.data.waitlist")));
	/* Without a city view there are no alternatives. */
	assert_false(has(get(r, "error.data"), "alternatives"));
	cJSON_Delete(r);
	/* With one, its cached members are spliced into error.data. */
	f->env.alternatives = fake_alternatives;
	r = expect_err(f, "entry gate=north plate=V3 class=van", "lot_full", 4091);
	assert_int_equal(f->alt_class, facility_class_lookup(garage_facility(f->g), "van"));
	assert_string_equal(gstr(r, "error.data.alternatives.0.slug"), "elsewhere");
	assert_true(cJSON_IsTrue(get(r, "error.data.waitlist")));
	cJSON_Delete(r);
	f->env.alternatives = NULL;
	assert_int_equal(garage_inside_count(f->g), 4);
	/*
	 * An id is drawn for every entry that reaches the core: 11 of them
	 * (the one naming an unknown reservation too).
	 */
	assert_int_equal(f->next_id, 11);
}

static void
test_quote(void **state)
{
	struct fx *f = *state;
	cJSON *r;

	car_in(f, "Q1");
	f->now = NOW + 2 * HOUR;
	r = expect_ok(f, "quote plate=q1");
	assert_string_equal(gstr(r, "result.ticket"), "00000000-0000-7000-8000-000000000001");
	assert_string_equal(gstr(r, "result.plate"), "Q1");
	assert_string_equal(gstr(r, "result.entered_at"), "2026-11-23T10:00:00Z");
	assert_string_equal(gstr(r, "result.at"), "2026-11-23T12:00:00Z");
	assert_int_equal(gnum(r, "result.duration_s"), 2 * HOUR);
	assert_int_equal(gnum(r, "result.amount"), 800);
	assert_int_equal(gnum(r, "result.paid"), 0);
	assert_int_equal(gnum(r, "result.due"), 800);
	assert_string_equal(gstr(r, "result.currency"), "EUR");
	assert_false(has(get(r, "result"), "exit_by"));
	assert_false(has(get(r, "result"), "lost"));
	assert_true(cJSON_IsArray(get(r, "result.breakdown")));
	assert_string_equal(gstr(r, "result.breakdown.0.step"), "duration");
	cJSON_Delete(r);
	r = expect_ok(f, "quote ticket=00000000-0000-7000-8000-000000000001 "
	    "at=2026-11-23T10:10:00Z");
	assert_int_equal(gnum(r, "result.amount"), 0);
	assert_int_equal(gnum(r, "result.due"), 0);
	cJSON_Delete(r);
	err_only(f, "quote", "invalid_params", -32602);
	err_only(f, "quote plate=Q1 ticket=00000000-0000-7000-8000-000000000001",
	    "invalid_params", -32602);
	err_only(f, "quote plate=Q9", "not_found", 4040);
	err_only(f, "quote ticket=00000000-0000-7000-8000-0000000000ff", "not_found", 4040);
	/* Paid: exit_by; exited: not_found. */
	ok_only(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=800");
	r = expect_ok(f, "quote plate=Q1");
	assert_string_equal(gstr(r, "result.exit_by"), "2026-11-23T12:15:00Z");
	assert_int_equal(gnum(r, "result.paid"), 800);
	assert_int_equal(gnum(r, "result.due"), 0);
	cJSON_Delete(r);
	ok_only(f, "exit gate=south plate=Q1");
	err_only(f, "quote ticket=00000000-0000-7000-8000-000000000001", "not_found", 4040);
	err_only(f, "quote plate=Q1", "not_found", 4040);
}

static void
test_pay(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	cJSON *r;

	car_in(f, "P1");
	f->now = NOW + HOUR;
	r = expect_err(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=299",
	    "amount_mismatch", 4093);
	assert_int_equal(gnum(r, "error.data.amount_due"), 300);
	assert_string_equal(gstr(r, "error.data.currency"), "EUR");
	assert_string_equal(gstr(r, "error.message"), "the amount due is 3.00 EUR");
	cJSON_Delete(r);
	assert_int_equal(garage_inside(f->g, "P1")->paid, 0);
	/* Only the configured methods, listed when another is given. */
	f->env.core = &f->core;
	r = expect_err(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=300 "
	    "method=bitcoin", "invalid_params", -32602);
	assert_string_equal(gstr(r, "error.message"),
	    "params.method: 'bitcoin' is not taken here; methods are cash, card");
	assert_string_equal(gstr(r, "error.data.valid.1"), "card");
	cJSON_Delete(r);

	r = rpc_out(f, "{'id':2,'method':'pay','params':{'ticket':"
	    "'00000000-0000-7000-8000-000000000001','amount':300,'method':'card',"
	    "'reference':'k-77'}}", &out);
	assert_int_equal((out.hold != 0), 1);
	out_free(&out);
	assert_string_equal(gstr(r, "result.ticket"), "00000000-0000-7000-8000-000000000001");
	/* The failed pay above took id 2; this one took 3. */
	assert_string_equal(gstr(r, "result.receipt"), "00000000-0000-7000-8000-000000000003");
	assert_int_equal(gnum(r, "result.amount"), 300);
	assert_int_equal(gnum(r, "result.paid"), 300);
	assert_int_equal(gnum(r, "result.due"), 0);
	assert_string_equal(gstr(r, "result.currency"), "EUR");
	assert_string_equal(gstr(r, "result.exit_by"), "2026-11-23T11:15:00Z");
	assert_false(has(get(r, "result"), "replayed"));
	cJSON_Delete(r);
	/* Paid up: another payment is not taken, and the message says why. */
	r = expect_err(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=100",
	    "amount_mismatch", 4093);
	assert_string_equal(gstr(r, "error.message"), "nothing is due");
	assert_int_equal(gnum(r, "error.data.amount_due"), 0);
	cJSON_Delete(r);

	/* The same reference: the same receipt, charged once. */
	f->now = NOW + 3 * HOUR;
	r = rpc_out(f, "{'id':3,'method':'pay','params':{'ticket':"
	    "'00000000-0000-7000-8000-000000000001','amount':500,'reference':'k-77'}}", &out);
	assert_string_equal(gstr(r, "result.receipt"), "00000000-0000-7000-8000-000000000003");
	assert_int_equal(gnum(r, "result.amount"), 300);
	assert_int_equal(gnum(r, "result.paid"), 300);
	assert_true(cJSON_IsTrue(get(r, "result.replayed")));
	/* A replay acknowledges the first payment: its reply waits for durability. */
	assert_int_equal((out.hold != 0), 1);
	cJSON_Delete(r);
	out_free(&out);
	assert_int_equal(garage_inside(f->g, "P1")->paid, 300);
	assert_int_equal(garage_inside(f->g, "P1")->n_payments, 1);

	/* Param errors. */
	err_only(f, "pay ticket=00000000-0000-7000-8000-000000000001", "invalid_params",
	    -32602);
	err_only(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=0",
	    "invalid_params", -32602);
	err_only(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=1.5",
	    "invalid_params", -32602);
	err_only(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=\"500\"",
	    "invalid_params", -32602);
	err_only(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=500 "
	    "method=12345678901234567", "invalid_params", -32602);
	err_only(f, "pay plate=P1 amount=500", "invalid_params", -32602);
	err_only(f, "pay ticket=00000000-0000-7000-8000-0000000000ff amount=500",
	    "not_found", 4040);

	/* Pay the rest, leave; paying the exited ticket is not_found. */
	ok_only(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=500");
	ok_only(f, "exit gate=south plate=P1");
	r = expect_err(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=100",
	    "not_found", 4040);
	assert_non_null(strstr(gstr(r, "error.message"), "already exited"));
	cJSON_Delete(r);
	/* The old reference still finds its receipt. */
	r = expect_ok(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=100 "
	    "reference=k-77");
	assert_string_equal(gstr(r, "result.receipt"), "00000000-0000-7000-8000-000000000003");
	cJSON_Delete(r);
}

static void
test_lost(void **state)
{
	struct fx *f = *state;
	cJSON *r;

	car_in(f, "L1");
	f->now = NOW + 30 * 60;
	r = expect_ok(f, "lost plate=l1");
	assert_string_equal(gstr(r, "result.ticket"), "00000000-0000-7000-8000-000000000001");
	assert_int_equal(gnum(r, "result.due"), 5000);
	assert_string_equal(gstr(r, "result.currency"), "EUR");
	cJSON_Delete(r);
	assert_int_equal(garage_inside(f->g, "L1")->lost_at, NOW + 30 * 60);
	r = expect_ok(f, "quote plate=L1");
	assert_true(cJSON_IsTrue(get(r, "result.lost")));
	assert_int_equal(gnum(r, "result.amount"), 5000);
	cJSON_Delete(r);
	err_only(f, "lost ticket=00000000-0000-7000-8000-000000000001", "invalid_params",
	    -32602);
	err_only(f, "lost", "invalid_params", -32602);
	err_only(f, "lost plate=NOPE", "not_found", 4040);
}

static void
test_exit(void **state)
{
	struct fx *f = *state;
	cJSON *r;

	car_in(f, "X1");
	f->now = NOW + HOUR;
	r = expect_err(f, "exit gate=south plate=X1", "payment_required", 4092);
	assert_int_equal(gnum(r, "error.data.amount_due"), 300);
	assert_string_equal(gstr(r, "error.message"), "3.00 EUR due");
	assert_string_equal(gstr(r, "error.data.currency"), "EUR");
	cJSON_Delete(r);
	err_only(f, "exit gate=north plate=X1", "wrong_gate", 4096);
	err_only(f, "exit gate=south", "invalid_params", -32602);
	err_only(f, "exit plate=X1", "invalid_params", -32602);
	err_only(f, "exit gate=south plate=X9", "not_found", 4040);
	ok_only(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=300");
	f->now = NOW + HOUR + 60;
	r = expect_ok(f, "exit gate=ramp ticket=00000000-0000-7000-8000-000000000001");
	assert_string_equal(gstr(r, "result.ticket"), "00000000-0000-7000-8000-000000000001");
	assert_string_equal(gstr(r, "result.plate"), "X1");
	assert_string_equal(gstr(r, "result.exited_at"), "2026-11-23T11:01:00Z");
	assert_int_equal(gnum(r, "result.duration_s"), HOUR + 60);
	assert_int_equal(gnum(r, "result.charged"), 300);
	assert_string_equal(gstr(r, "result.currency"), "EUR");
	cJSON_Delete(r);
	assert_int_equal(garage_inside_count(f->g), 0);
	err_only(f, "exit gate=south ticket=00000000-0000-7000-8000-000000000001",
	    "not_found", 4040);
	/* The closed ticket is still readable. */
	r = expect_ok(f, "ticket ticket=00000000-0000-7000-8000-000000000001");
	assert_string_equal(gstr(r, "result.state"), "exited");
	assert_string_equal(gstr(r, "result.exit_gate"), "ramp");
	assert_int_equal(gnum(r, "result.charged"), 300);
	assert_int_equal(cJSON_GetArraySize(get(r, "result.payments")), 1);
	cJSON_Delete(r);
}

static void
test_locate_ticket_status(void **state)
{
	struct fx *f = *state;
	cJSON *r;

	car_in(f, "T1");
	r = expect_ok(f, "locate plate=t1");
	assert_string_equal(gstr(r, "result.plate"), "T1");
	assert_string_equal(gstr(r, "result.spots.0.id"), "B-01");
	assert_string_equal(gstr(r, "result.entered_at"), "2026-11-23T10:00:00Z");
	cJSON_Delete(r);
	err_only(f, "locate plate=T2", "not_found", 4040);
	err_only(f, "locate", "invalid_params", -32602);

	r = expect_ok(f, "ticket ticket=00000000-0000-7000-8000-000000000001");
	assert_string_equal(gstr(r, "result.state"), "inside");
	assert_string_equal(gstr(r, "result.class"), "car");
	assert_string_equal(gstr(r, "result.gate"), "north");
	assert_int_equal(gnum(r, "result.peak_milli"), 1000);
	assert_int_equal(gnum(r, "result.surge_milli"), 1000);
	assert_true(cJSON_IsFalse(get(r, "result.lost")));
	assert_int_equal(gnum(r, "result.paid"), 0);
	assert_false(has(get(r, "result"), "exited_at"));
	cJSON_Delete(r);
	err_only(f, "ticket ticket=nope", "not_found", 4040);
	err_only(f, "ticket plate=T1", "invalid_params", -32602);

	r = expect_ok(f, "status");
	assert_string_equal(gstr(r, "result.facility"), "Test Garage");
	assert_string_equal(gstr(r, "result.strategy"), "nearest");
	assert_int_equal(gnum(r, "result.capacity.total"), 9);
	assert_int_equal(gnum(r, "result.capacity.free"), 8);
	assert_int_equal(gnum(r, "result.capacity.occupied"), 1);
	assert_int_equal(gnum(r, "result.capacity.out_of_service"), 0);
	assert_int_equal(gnum(r, "result.by_type.regular.total"), 4);
	assert_int_equal(gnum(r, "result.by_type.regular.free"), 3);
	assert_int_equal(gnum(r, "result.by_type.compact.free"), 3);
	assert_int_equal(gnum(r, "result.by_level.0.total"), 7);
	assert_int_equal(gnum(r, "result.by_level.1.total"), 2);
	assert_int_equal(gnum(r, "result.vehicles"), 1);
	cJSON_Delete(r);

	r = expect_ok(f, "health");
	assert_string_equal(gstr(r, "result.status"), "ok");
	cJSON_Delete(r);
}

static void
test_spot_strategy_tariff(void **state)
{
	struct fx *f = *state;
	cJSON *r;

	r = expect_ok(f, "spot id=C-02");
	assert_string_equal(gstr(r, "result.id"), "C-02");
	assert_int_equal(gnum(r, "result.level"), 1);
	assert_string_equal(gstr(r, "result.zone"), "C");
	assert_string_equal(gstr(r, "result.type"), "oversized");
	assert_string_equal(gstr(r, "result.state"), "free");
	cJSON_Delete(r);
	r = expect_ok(f, "spot id=C-02 state=out_of_service");
	assert_string_equal(gstr(r, "result.state"), "out_of_service");
	cJSON_Delete(r);
	car_in(f, "S1");	/* B-01 */
	r = expect_ok(f, "spot id=B-01 state=out_of_service");
	assert_string_equal(gstr(r, "result.state"), "occupied");
	assert_true(cJSON_IsTrue(get(r, "result.pending_out_of_service")));
	cJSON_Delete(r);
	err_only(f, "spot id=Z-01", "not_found", 4040);
	err_only(f, "spot id=A-01 state=broken", "invalid_params", -32602);
	err_only(f, "spot", "invalid_params", -32602);

	r = expect_ok(f, "strategy");
	assert_string_equal(gstr(r, "result.strategy"), "nearest");
	cJSON_Delete(r);
	r = expect_ok(f, "strategy set=farthest");
	assert_string_equal(gstr(r, "result.strategy"), "farthest");
	cJSON_Delete(r);
	assert_int_equal(garage_strategy(f->g), ALLOC_FARTHEST);
	err_only(f, "strategy set=random", "invalid_params", -32602);

	r = expect_ok(f, "tariff");
	{
		char *got = tu_print(get(r, "result")), *want = tariff_text(f->g);

		assert_string_equal(got, want);
		free(got);
		free(want);
	}
	cJSON_Delete(r);
	r = expect_err(f, "tariff set={" TU_MIN_TARIFF_JSON_KEYS ",\"lost_ticket\":-1}", "invalid_params", -32602);
	assert_non_null(strstr(gstr(r, "error.message"), "set.lost_ticket"));
	cJSON_Delete(r);
	assert_int_equal(tariff_lost_fee(garage_tariff(f->g)), 5000);
	r = expect_ok(f, "tariff set={" TU_MIN_TARIFF_JSON_KEYS ",\"lost_ticket\":42}");
	assert_int_equal(gnum(r, "result.lost_ticket"), 42);
	cJSON_Delete(r);
	assert_int_equal(tariff_lost_fee(garage_tariff(f->g)), 42);
}

/*
 * Setting a spot to the state it is already in changes nothing: nothing is
 * journaled (nor shipped as a spot.status.changed event).  Its answer says
 * the state is so, which acknowledges the change that made it: it waits
 * for what the journal holds (on a sync primary, for the standby too).
 */
static void
test_spot_noop_is_not_a_change(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	uint64_t lsn = f->lsn, hold;
	cJSON *r;

	/* Free the output before asserting: this test fails until fixed. */
	r = rpc_out(f, "spot id=A-01 state=in_service", &out);
	hold = out.hold;
	out_free(&out);
	assert_string_equal(gstr(r, "result.state"), "free");
	cJSON_Delete(r);
	/* Nothing journaled; the answer waits for what the journal holds. */
	assert_int_equal(f->lsn, lsn);
	assert_int_equal(hold, lsn);
	ok_only(f, "spot id=A-01 state=out_of_service");
	lsn = f->lsn;
	r = rpc_out(f, "spot id=A-01 state=out_of_service", &out);
	hold = out.hold;
	out_free(&out);
	assert_string_equal(gstr(r, "result.state"), "out_of_service");
	cJSON_Delete(r);
	assert_int_equal(f->lsn, lsn);
	assert_int_equal(hold, lsn);
}

/* A refused line: ids echoed, notifications unanswered, nothing run. */
static void
test_refuse(void **state)
{
	static const struct {
		const char *line, *want;	/* want NULL: no answer */
		unsigned requests;
	} cases[] = {
		{ "{'id':7,'method':'entry','params':{'gate':'north','plate':'RF1','class':'car'}}",
		  "{'jsonrpc':'2.0','id':7,'error':{'code':4290,'message':'m','data':{'reason':'rate_limited','n':1}}}", 1 },
		{ "[{'id':'a','method':'ping'},{'method':'ping'},{'id':null,'method':'x'}]",
		  "[{'jsonrpc':'2.0','id':'a','error':{'code':4290,'message':'m','data':{'reason':'rate_limited','n':1}}},"
		  "{'jsonrpc':'2.0','id':null,'error':{'code':4290,'message':'m','data':{'reason':'rate_limited','n':1}}}]", 3 },
		{ "{'method':'ping'}", NULL, 1 },
		{ "[{'method':'ping'},{'method':'ping'}]", NULL, 2 },
		{ "[", "{'jsonrpc':'2.0','id':null,'error':{'code':4290,'message':'m','data':{'reason':'rate_limited','n':1}}}", 1 },
		{ "entry gate=north plate=RF2 class=car",
		  "{'jsonrpc':'2.0','id':null,'error':{'code':4290,'message':'m','data':{'reason':'rate_limited','n':1}}}", 1 },
	};
	struct fx *f = *state;
	struct session_out out;
	struct jw d;

	jw_init(&d);
	jw_members(&d);
	jw_kuint(&d, "n", 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *line = tu_quote(cases[i].line);

		assert_int_equal(session_refuse(&f->s, line, strlen(line), 0,
		    PK_E_RATE_LIMITED, "m", &d, &out), 0);
		free(line);
		assert_int_equal(out.requests, cases[i].requests);
		assert_int_equal(out.hold, 0);
		if (cases[i].want == NULL) {
			assert_null(out.line);
		} else {
			char *want = tu_quote(cases[i].want);

			assert_non_null(out.line);
			assert_string_equal(out.line, want);
			free(want);
		}
	}
	jw_release(&d);
	/* Nothing ran. */
	assert_null(garage_inside(f->g, "RF1"));
	assert_null(garage_inside(f->g, "RF2"));
}

static void
test_history_deferred(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	cJSON *r;

	run(f, "{'id':5,'method':'history','params':{'subject':'vehicle:b-xy 1','limit':7}}",
	    &out);
	assert_null(out.line);
	assert_int_equal(out.deferred, 1);
	assert_string_equal(out.defer_id, "5");
	assert_int_equal(out.defer.kind, DEFER_HISTORY);
	assert_string_equal(out.defer.subject, "vehicle:B-XY 1");
	assert_int_equal(out.defer.limit, 7);
	out_free(&out);
	r = rpc_out(f, "[{'id':6,'method':'history','params':{'subject':'spot:A-01'}}]", &out);
	assert_string_equal(gstr(r, "0.error.data.reason"), "invalid_params");
	assert_int_equal(out.deferred, 0);
	cJSON_Delete(r);
	out_free(&out);
	err_only(f, "history subject=planet:mars", "invalid_params", -32602);
	f->s.role = ROLE_KIOSK;
	err_only(f, "history subject=spot:A-01", "forbidden", 4030);
}

/* ---- what became of each request (the daemon's request metrics) ---- */

/* Asserts request i of the last line: method name (NULL: none) and reason. */
static void
req_is(const struct session_out *out, unsigned i, const char *method,
    const char *reason)
{
	assert_true(i < out->requests);
	assert_non_null(out->reqs);
	if (method == NULL)
		assert_int_equal(out->reqs[i].method, SESSION_NO_METHOD);
	else
		assert_string_equal(method_name(method_at(out->reqs[i].method)), method);
	assert_string_equal(pk_err_reason((pk_err)out->reqs[i].err), reason);
}


static void
test_nearby_deferred(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	cJSON *r;

	(void)state;
	run(f, "{'id':8,'method':'nearby','params':{'lat':52.52,'lon':-0.1276474,"
	    "'radius_m':500,'class':'bus','limit':3}}", &out);
	assert_null(out.line);
	assert_int_equal(out.deferred, 1);
	assert_string_equal(out.defer_id, "8");
	assert_int_equal(out.defer.kind, DEFER_NEARBY);
	assert_int_equal(out.defer.has_point, 1);
	assert_int_equal(out.defer.lat_e7, 525200000);
	assert_int_equal(out.defer.lon_e7, -1276474);
	assert_int_equal(out.defer.radius_m, 500);
	assert_int_equal(out.defer.limit, 3);
	assert_string_equal(out.defer.cls, "bus");
	out_free(&out);
	/* The contract's defaults; any class name (another facility's). */
	run(f, "nearby lat=1 lon=2 class=tram", &out);
	assert_int_equal(out.deferred, 1);
	assert_int_equal(out.defer.radius_m, 2000);
	assert_int_equal(out.defer.limit, 10);
	assert_string_equal(out.defer.cls, "tram");
	out_free(&out);
	run(f, "nearby lat=1 lon=2", &out);
	assert_string_equal(out.defer.cls, "");
	out_free(&out);
	/* This facility has no location: a point is needed. */
	err_only(f, "nearby", "invalid_params", -32602);
	err_only(f, "nearby lat=1", "invalid_params", -32602);
	err_only(f, "nearby lon=1", "invalid_params", -32602);
	err_only(f, "nearby lat=91 lon=1", "invalid_params", -32602);
	err_only(f, "nearby lat=1 lon=181", "invalid_params", -32602);
	err_only(f, "nearby lat=1 lon=1 radius_m=0", "invalid_params", -32602);
	err_only(f, "nearby lat=1 lon=1 radius_m=100001", "invalid_params", -32602);
	err_only(f, "nearby lat=1 lon=1 limit=101", "invalid_params", -32602);
	err_only(f, "nearby lat=1 lon=1 class=\"\"", "invalid_params", -32602);
	err_only(f, "nearby lat=1 lon=1 color=red", "invalid_params", -32602);
	/* Not in a batch: answered later, it would hold the batch back. */
	r = rpc_out(f, "[{'id':6,'method':'nearby','params':{'lat':1,'lon':1}}]", &out);
	assert_string_equal(gstr(r, "0.error.data.reason"), "invalid_params");
	assert_string_equal(gstr(r, "0.error.message"), "nearby cannot be part of a batch");
	assert_int_equal(out.deferred, 0);
	cJSON_Delete(r);
	out_free(&out);
	/* Any authenticated role may ask. */
	f->s.role = ROLE_GATE;
	run(f, "nearby lat=1 lon=1", &out);
	assert_int_equal(out.deferred, 1);
	out_free(&out);
	f->s.role = ROLE_NONE;
	err_only(f, "nearby lat=1 lon=1", "auth_required", 4010);
}

static void
test_nearby_here(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	char *fac = strdup(TU_FACILITY);
	char *at;

	/* The test facility, placed on the map. */
	assert_non_null(fac);
	at = strstr(fac, "'level_distance'");
	assert_non_null(at);
	{
		char buf[4096];

		snprintf(buf, sizeof(buf), "%.*s'location': { 'lat': 48.1, 'lon': 11.5 }, %s",
		    (int)(at - fac), fac, at);
		garage_free(f->g);
		f->g = tu_garage_from(buf, TU_VEHICLES, TU_TARIFF, ALLOC_NEAREST, 10);
		f->s.g = f->g;
	}
	free(fac);
	(void)state;
	run(f, "nearby", &out);
	assert_int_equal(out.deferred, 1);
	assert_int_equal(out.defer.has_point, 0);
	assert_int_equal(out.defer.lat_e7, 481000000);
	assert_int_equal(out.defer.lon_e7, 115000000);
	out_free(&out);
}

static void
test_request_outcomes(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	char big[4096];
	size_t n;

	/* The accessors number the table densely. */
	assert_true(method_count() > 10);
	for (size_t i = 0; i < method_count(); i++)
		assert_int_equal(method_index(method_at(i)), i);
	assert_null(method_at(method_count()));
	assert_int_equal(method_index(method_find("entry")),
	    method_index(method_at(method_index(method_find("entry")))));

	run(f, "ping", &out);
	assert_int_equal(out.requests, 1);
	req_is(&out, 0, "ping", "ok");
	out_free(&out);
	run(f, "{'id':1,'method':'entry','params':{'gate':'north','plate':'O1','class':'car'}}",
	    &out);
	req_is(&out, 0, "entry", "ok");
	out_free(&out);
	run(f, "entry gate=north plate=O1 class=car", &out);
	req_is(&out, 0, "entry", "plate_inside");
	out_free(&out);
	run(f, "nosuch", &out);
	req_is(&out, 0, NULL, "method_not_found");
	out_free(&out);
	run(f, "{'id':1,'method':", &out);
	req_is(&out, 0, NULL, "parse_error");
	out_free(&out);
	run(f, "quote plate=O1 bogus=1", &out);
	req_is(&out, 0, "quote", "invalid_params");
	out_free(&out);
	assert_int_equal(session_handle(&f->s, "ping", 4, 1, f->now, &out), 0);
	assert_int_equal(out.requests, 1);
	req_is(&out, 0, NULL, "line_too_long");
	out_free(&out);

	/* A batch: one each, in order, notifications and invalid ones too. */
	run(f, "[{'id':1,'method':'ping'},{'method':'ping'},{'id':2,'method':'nope'},"
	    "{'id':3,'method':'exit','params':{'gate':'south','plate':'O1'}},"
	    "{'id':4,'jsonrpc':'1.0','method':'status'},"
	    "{'id':5,'method':'history','params':{'subject':'spot:A-01'}},"
	    "{'id':6,'method':'locate','params':{'plate':'O1'}}]", &out);
	assert_int_equal(out.requests, 7);
	req_is(&out, 0, "ping", "ok");
	req_is(&out, 1, "ping", "ok");
	req_is(&out, 2, NULL, "method_not_found");
	req_is(&out, 3, "exit", "ok");
	req_is(&out, 4, NULL, "invalid_request");
	/* History is not deferred in a batch: refused there. */
	req_is(&out, 5, "history", "invalid_params");
	req_is(&out, 6, "locate", "not_found");
	out_free(&out);

	/* Deferred: ok for now (the daemon learns the rest). */
	run(f, "history subject=spot:A-01", &out);
	assert_int_equal(out.deferred, 1);
	req_is(&out, 0, "history", "ok");
	out_free(&out);

	/* A change the journal refused. */
	f->commit_fails = 1;
	run(f, "entry gate=north plate=O2 class=car", &out);
	req_is(&out, 0, "entry", "unavailable");
	out_free(&out);

	/* A batch larger than any before it: the array grows, each is noted. */
	n = (size_t)snprintf(big, sizeof(big), "[");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s{'id':%d,'method':'%s'}",
		    i ? "," : "", i, i % 2 ? "ping" : "status");
	snprintf(big + n, sizeof(big) - n, "]");
	run(f, big, &out);
	assert_int_equal(out.requests, 100);
	for (unsigned i = 0; i < 100; i++)
		req_is(&out, i, i % 2 ? "ping" : "status", "ok");
	out_free(&out);
	run(f, "ping", &out);
	assert_int_equal(out.requests, 1);
	req_is(&out, 0, "ping", "ok");
	out_free(&out);
}

/* ---- roles ---- */

static void
test_unauthenticated(void **state)
{
	struct fx *f = *state;
	cJSON *help, *r;
	const cJSON *it;

	f->s.role = ROLE_NONE;
	help = expect_ok(f, "help");
	cJSON_ArrayForEach(it, get(help, "result.methods")) {
		const char *name = gstr(it, "method");
		int pub = strcmp(name, "ping") == 0 || strcmp(name, "help") == 0 ||
		    strcmp(name, "auth") == 0 || strcmp(name, "health") == 0;
		char line[64];

		snprintf(line, sizeof(line), "{'id':1,'method':'%s'}", name);
		r = rpc(f, line);
		if (pub) {
			if (has(r, "error") &&
			    strcmp(gstr(r, "error.data.reason"), "auth_required") == 0)
				fail_msg("%s needs auth", name);
		} else {
			if (!has(r, "error") ||
			    strcmp(gstr(r, "error.data.reason"), "auth_required") != 0)
				fail_msg("%s does not need auth", name);
			assert_int_equal(gnum(r, "error.code"), 4010);
		}
		cJSON_Delete(r);
	}
	cJSON_Delete(help);
	ok_only(f, "ping");
	ok_only(f, "health");
	assert_int_equal(f->next_id, 0);
	assert_int_equal(garage_inside_count(f->g), 0);
}

static void
test_auth(void **state)
{
	struct fx *f = *state;
	struct session_out out;
	cJSON *r;

	f->s.role = ROLE_NONE;
	r = rpc_out(f, "auth token=wrong", &out);
	assert_string_equal(gstr(r, "error.data.reason"), "forbidden");
	assert_int_equal(out.failed_auth, 1);
	assert_int_equal(f->s.role, ROLE_NONE);
	cJSON_Delete(r);
	out_free(&out);
	err_only(f, "auth", "invalid_params", -32602);
	err_only(f, "status", "auth_required", 4010);

	/* An address that failed too often is told to wait, not checked. */
	r = rpc_out(f, "auth token=blocked-token", &out);
	assert_string_equal(gstr(r, "error.data.reason"), "rate_limited");
	assert_int_equal((int)get(r, "error.data.retry_after_ms")->valuedouble, 1500);
	assert_int_equal(f->s.role, ROLE_NONE);
	cJSON_Delete(r);
	out_free(&out);

	r = rpc_out(f, "auth token=north-token", &out);
	assert_string_equal(gstr(r, "result.role"), "gate");
	assert_string_equal(gstr(r, "result.gate"), "north");
	assert_int_equal(out.failed_auth, 0);
	assert_int_equal((out.hold != 0), 0);
	assert_int_equal(f->s.role, ROLE_GATE);
	assert_string_equal(f->s.bound_gate, "north");
	cJSON_Delete(r);
	out_free(&out);
	ok_only(f, "status");

	/* Re-auth as kiosk: no gate any more. */
	r = expect_ok(f, "auth token=kiosk-token");
	assert_string_equal(gstr(r, "result.role"), "kiosk");
	assert_false(has(get(r, "result"), "gate"));
	cJSON_Delete(r);
	assert_int_equal(f->s.role, ROLE_KIOSK);
	assert_null(f->s.bound_gate);
}

static void
test_roles(void **state)
{
	struct fx *f = *state;

	car_in(f, "R1");
	f->now = NOW + HOUR;
	/* gate: entry, exit, quote, status; not pay, lost, locate, ticket, admin. */
	f->s.role = ROLE_GATE;
	ok_only(f, "entry gate=north plate=R2 class=car");
	ok_only(f, "quote plate=R1");
	ok_only(f, "status");
	err_only(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=300",
	    "forbidden", 4030);
	err_only(f, "lost plate=R1", "forbidden", 4030);
	err_only(f, "locate plate=R1", "forbidden", 4030);
	err_only(f, "ticket ticket=00000000-0000-7000-8000-000000000001", "forbidden", 4030);
	err_only(f, "spot id=A-01", "forbidden", 4030);
	err_only(f, "strategy", "forbidden", 4030);
	err_only(f, "tariff", "forbidden", 4030);
	assert_int_equal(garage_inside(f->g, "R1")->paid, 0);
	/* kiosk: quote, pay, lost, locate, ticket; not entry, exit. */
	f->s.role = ROLE_KIOSK;
	err_only(f, "entry gate=north plate=R3 class=car", "forbidden", 4030);
	err_only(f, "exit gate=south plate=R1", "forbidden", 4030);
	err_only(f, "strategy set=first", "forbidden", 4030);
	ok_only(f, "quote plate=R1");
	ok_only(f, "locate plate=R1");
	ok_only(f, "ticket ticket=00000000-0000-7000-8000-000000000001");
	ok_only(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=300");
	ok_only(f, "lost plate=R2");
	assert_null(garage_inside(f->g, "R3"));
	assert_int_equal(garage_strategy(f->g), ALLOC_NEAREST);
}

static void
test_bound_gate(void **state)
{
	struct fx *f = *state;
	cJSON *r;

	f->s.role = ROLE_NONE;
	ok_only(f, "auth token=north-token");
	r = expect_err(f, "entry gate=ramp plate=G1 class=car", "forbidden", 4030);
	assert_non_null(strstr(gstr(r, "error.message"), "north"));
	cJSON_Delete(r);
	assert_null(garage_inside(f->g, "G1"));
	ok_only(f, "entry gate=north plate=G1 class=car");
	/* Its exit is at another gate: forbidden too, even when free. */
	err_only(f, "exit gate=south plate=G1", "forbidden", 4030);
	assert_non_null(garage_inside(f->g, "G1"));
	/* An unbound gate token may use any gate. */
	ok_only(f, "auth token=gate-token");
	ok_only(f, "exit gate=south plate=G1");
	assert_null(garage_inside(f->g, "G1"));
}

static void
test_at_param(void **state)
{
	struct fx *f = *state;
	cJSON *r;

	/* Operators may give any at. */
	r = expect_ok(f, "entry gate=north plate=A1 class=car at=2026-11-23T08:00:00Z");
	assert_string_equal(gstr(r, "result.entered_at"), "2026-11-23T08:00:00Z");
	cJSON_Delete(r);
	assert_int_equal(garage_inside(f->g, "A1")->peak_milli, 1500);
	/* Others may not on changes. */
	f->s.role = ROLE_GATE;
	err_only(f, "entry gate=north plate=A2 class=car at=2026-11-23T10:00:00Z",
	    "forbidden", 4030);
	err_only(f, "exit gate=south plate=A1 at=2026-11-23T12:00:00Z", "forbidden", 4030);
	assert_null(garage_inside(f->g, "A2"));
	f->s.role = ROLE_KIOSK;
	err_only(f, "lost plate=A1 at=2026-11-23T12:00:00Z", "forbidden", 4030);
	err_only(f, "pay ticket=00000000-0000-7000-8000-000000000001 amount=1200 "
	    "at=2026-11-23T12:00:00Z", "forbidden", 4030);
	assert_int_equal(garage_inside(f->g, "A1")->lost, 0);
	/* A kiosk may quote now or later, not earlier. */
	r = expect_ok(f, "quote plate=A1 at=2026-11-23T12:00:00Z");
	assert_string_equal(gstr(r, "result.at"), "2026-11-23T12:00:00Z");
	assert_int_equal(gnum(r, "result.due"), 2250);	/* 4 h: 1500 x peak 1.5 */
	cJSON_Delete(r);
	ok_only(f, "quote plate=A1 at=2026-11-23T10:00:00Z");
	err_only(f, "quote plate=A1 at=2026-11-23T09:59:59Z", "forbidden", 4030);
	err_only(f, "quote plate=A1 at=tomorrow", "invalid_params", -32602);
}

/* ---- refusing changes while they cannot be kept ---- */

static char *
status_text(struct fx *f)
{
	enum role keep = f->s.role;
	struct session_out out;
	char *s;

	f->s.role = ROLE_OPERATOR;
	run(f, "status", &out);
	assert_non_null(out.line);
	s = strdup(out.line);
	assert_non_null(s);
	out_free(&out);
	f->s.role = keep;
	return s;
}

static void
test_unwritable(void **state)
{
	static const char *const changes[] = {
		"entry gate=north plate=W2 class=car",
		"exit gate=south plate=W1",
		"pay ticket=00000000-0000-7000-8000-000000000001 amount=300",
		"pay ticket=00000000-0000-7000-8000-000000000001 amount=300 reference=r",
		"lost plate=W1",
		"spot id=B-01 state=out_of_service",
		"spot id=A-01 state=out_of_service",
		"strategy set=fill",
		"tariff set=" TU_MIN_TARIFF_JSON,
		"{'method':'entry','params':{'gate':'north','plate':'W3','class':'car'}}",
	};
	struct fx *f = *state;
	struct session_out out;
	struct ticket *t;
	char *before, *after, *tar_before;

	car_in(f, "W1");
	f->now = NOW + HOUR;
	f->writable = 0;
	before = status_text(f);
	tar_before = tariff_text(f->g);
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		unsigned ids = f->next_id;
		cJSON *r;

		run(f, changes[i], &out);
		assert_int_equal((out.hold != 0), 0);
		assert_null(out.fail_line);
		if (out.line != NULL) {
			r = cJSON_Parse(out.line);
			if (strcmp(gstr(r, "error.data.reason"), "unavailable") != 0)
				fail_msg("'%s': %s", changes[i], out.line);
			assert_int_equal(gnum(r, "error.code"), 5030);
			assert_non_null(strstr(gstr(r, "error.message"), "is failing"));
			cJSON_Delete(r);
		}
		out_free(&out);
		assert_int_equal(f->next_id, ids);
	}
	after = status_text(f);
	assert_string_equal(after, before);
	t = garage_inside(f->g, "W1");
	assert_non_null(t);
	assert_int_equal(t->paid, 0);
	assert_int_equal(t->n_payments, 0);
	assert_int_equal(t->lost, 0);
	assert_null(garage_inside(f->g, "W2"));
	assert_null(garage_inside(f->g, "W3"));
	assert_int_equal(garage_strategy(f->g), ALLOC_NEAREST);
	{
		char *tar_after = tariff_text(f->g);

		assert_string_equal(tar_after, tar_before);
		free(tar_after);
	}
	/* Reads still work. */
	ok_only(f, "quote plate=W1");
	ok_only(f, "strategy");
	/* Setting what is already so is refused too: it would acknowledge it. */
	err_only(f, "strategy set=nearest", "unavailable", 5030);
	free(before);
	free(after);
	free(tar_before);
	/* Writable again: the same change goes through. */
	f->writable = 1;
	ok_only(f, "entry gate=north plate=W2 class=car");
}

/*
 * A daemon that may not change anything (a standby answers -1, not 0)
 * applies no expiry that fell due before a request: its primary decides
 * them.  Writable again, the next request applies it.
 */
static void
test_not_primary_applies_nothing_due(void **state)
{
	struct fx *f = *state;
	cJSON *r;
	char line[160];
	uint64_t lsn;

	ok_only(f, "entry gate=north plate=V1 class=van");
	ok_only(f, "entry gate=north plate=V2 class=van");
	r = expect_ok(f, "wait gate=north plate=V3 class=van timeout_s=60");
	assert_string_equal(gstr(r, "result.state"), "waiting");
	snprintf(line, sizeof(line), "waitlist_status waitlist_id=%s",
	    gstr(r, "result.waitlist_id"));
	cJSON_Delete(r);
	f->now += 120;
	f->writable = -1;	/* REPLICATION_NOT_PRIMARY */
	lsn = f->lsn;
	r = expect_ok(f, line);
	assert_string_equal(gstr(r, "result.state"), "waiting");
	cJSON_Delete(r);
	assert_int_equal(f->lsn, lsn);
	f->writable = 1;
	r = expect_ok(f, line);
	assert_string_equal(gstr(r, "result.state"), "expired");
	cJSON_Delete(r);
	assert_int_equal(f->lsn, lsn + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_method_and_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifications_and_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_and_fail_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_failure_not_acknowledged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locate_ticket_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spot_strategy_tariff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spot_noop_is_not_a_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nearby_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nearby_here, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unauthenticated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_gate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_at_param, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_primary_applies_nothing_due, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
