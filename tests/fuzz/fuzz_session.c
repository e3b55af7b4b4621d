/*
 * fuzz_session.c - libFuzzer target for a whole protocol session: every
 * line of the input goes through session_handle against a real garage
 * (the demo facility and tariff), as an operator, so that every method and
 * every param parser sees hostile input.  Oracles: the sanitizers, every
 * reply is one line of strict JSON, and the garage's counts stay coherent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "garage.h"
#include "jsonrpc.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char demo[] =
"{\"facility\":{\"name\":\"F\",\"timezone\":\"UTC\",\"currency\":\"EUR\",\"level_distance\":40,"
"\"gates\":[{\"id\":\"north\",\"role\":\"entry\",\"level\":0,\"x\":0,\"y\":0},"
"{\"id\":\"south\",\"role\":\"exit\",\"level\":0,\"x\":120,\"y\":0},"
"{\"id\":\"ramp\",\"role\":\"both\",\"level\":1,\"x\":60,\"y\":30}],"
"\"rows\":[{\"level\":0,\"zone\":\"A\",\"type\":\"compact\",\"count\":3,\"x\":5,\"y\":10,\"dx\":2.5,\"dy\":0},"
"{\"level\":0,\"zone\":\"B\",\"type\":\"regular\",\"count\":8,\"x\":5,\"y\":20,\"dx\":3,\"dy\":0,\"tags\":[\"ev\"]},"
"{\"level\":1,\"zone\":\"C\",\"type\":\"oversized\",\"count\":2,\"x\":5,\"y\":40,\"dx\":4,\"dy\":0}]},"
"\"tariff\":{\"free_minutes\":15,\"increment_minutes\":15,\"tiers\":[{\"upto_minutes\":60,\"amount\":300}],"
"\"overage_per_hour\":200,\"daily_max\":2500,\"class_multiplier\":{\"bus\":4},"
"\"surge\":[{\"occupancy_at_least\":0.5,\"multiplier\":1.25}],\"max_multiplier\":3,"
"\"lost_ticket\":5000,\"grace_minutes\":15}}";

static unsigned long long next_id;

static void
fake_id(void *ud, char out[UUID_BUFSZ])
{
	(void)ud;
	snprintf(out, UUID_BUFSZ, "00000000-0000-7000-8000-%012llx", ++next_id);
}

static void
fake_health(void *ud, cJSON *r)
{
	(void)ud;
	cJSON_AddStringToObject(r, "status", "ok");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct config *cfg = config_parse(demo, sizeof(demo) - 1, err, sizeof(err));
	struct call_env env = { NULL, fake_id, fake_health, NULL, NULL };
	struct session s;
	garage *g;
	size_t start = 0;

	if (cfg == NULL)
		abort();
	g = garage_new(cfg->fac, cfg->tariff, tz_utc(), ALLOC_NEAREST, 4);
	cfg->fac = NULL;
	cfg->tariff = NULL;
	config_free(cfg);
	if (g == NULL)
		return 0;
	memset(&s, 0, sizeof(s));
	s.g = g;
	s.env = &env;
	s.role = ROLE_OPERATOR;
	for (size_t i = 0; i <= size; i++) {
		struct session_out out;
		struct alloc_counts k;

		if (i < size && data[i] != '\n')
			continue;
		if (session_handle(&s, (const char *)data + start, i - start, 0,
		    1795000000, &out) == 0) {
			if (out.line != NULL) {
				pk_err e;
				cJSON *j = rpc_json_parse(out.line, strlen(out.line), &e, err, sizeof(err));

				if (j == NULL || strchr(out.line, '\n') != NULL)
					abort();
				cJSON_Delete(j);
			}
			free(out.line);
			free(out.fail_line);
			free(out.defer_id);
		}
		alloc_counts(garage_alloc(g), &k);
		if (k.free + k.occupied + k.out_of_service + k.held != k.total)
			abort();
		start = i + 1;
	}
	garage_free(g);
	return 0;
}
