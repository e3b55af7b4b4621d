/*
 * fuzz_session.c - libFuzzer target for a whole protocol session: every
 * line of the input goes through session_handle against a real garage
 * (the demo facility and tariff), as an operator, so that every method and
 * every param parser sees hostile input.  Oracles: the sanitizers, every
 * reply is one line of strict JSON, and the garage's invariants hold after
 * every line (garage_check: no spot twice, counts, no claim left unserved).
 * The vehicle registry is there too, following the garage's changes and
 * writing its contact-store records as the daemon's commit step does; its
 * invariants must hold after every line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capacity.h"
#include "config.h"
#include "contacts.h"
#include "garage.h"
#include "regops.h"
#include "jsonrpc.h"
#include "record.h"
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
fake_health(void *ud, struct jw *w)
{
	(void)ud;
	jw_kstr(w, "status", "ok");
}

/* Every change is encoded as the daemon would, and must read back. */
static int
fake_commit(void *ud, const garage *g, const struct changes *ch,
    int acks_earlier, uint64_t *hold)
{
	struct jw w;
	struct jerr e = { NULL, 0, 0 };

	jw_init(&w);
	for (size_t i = 0; i < ch->n; i++) {
		cJSON *j;

		jw_reset(&w);
		record_write(g, &ch->v[i], "00000000-0000-7000-8000-000000000000", &w);
		if (jw_failed(&w))
			abort();
		j = json_parse(w.buf, w.len, "", &e);
		if (j == NULL)
			abort();
		cJSON_Delete(j);
		/* The registry's share and its store's record. */
		regops_follow(ud, &ch->v[i]);
		jw_reset(&w);
		contacts_side_write(ud, &ch->v[i], 24, &w);
		if (jw_failed(&w))
			abort();
		if (w.len > 0) {
			j = json_parse(w.buf, w.len, "", &e);
			if (j == NULL)
				abort();
			cJSON_Delete(j);
		}
	}
	jw_release(&w);
	*hold = ch->n > 0 || acks_earlier;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct config *cfg = config_parse(demo, sizeof(demo) - 1,
	    &(struct jerr){ err, sizeof(err), 0 });
	struct call_env env = { .new_id = fake_id, .health = fake_health,
	    .commit = fake_commit };
	struct session s;
	garage *g;
	registry *r = registry_new(24);
	size_t start = 0;

	if (cfg == NULL || r == NULL)
		abort();
	env.ud = r;
	env.registry = r;
	g = garage_new(cfg->fac, cfg->tariff, NULL, NULL, ALLOC_NEAREST, 4);
	cfg->fac = NULL;
	cfg->tariff = NULL;
	config_free(cfg);
	if (g == NULL) {
		registry_free(r);
		return 0;
	}
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
				struct jerr e = { err, sizeof(err), 0 };
				cJSON *j = json_parse(out.line, strlen(out.line), "", &e);

				if (j == NULL || strchr(out.line, '\n') != NULL)
					abort();
				cJSON_Delete(j);
			}
			free(out.defer_id);
		}
		alloc_counts(garage_alloc(g), &k);
		if (k.free + k.occupied + k.out_of_service + k.held != k.total)
			abort();
		if (garage_check(g, err, sizeof(err)) != 0) {
			fprintf(stderr, "garage_check: %s\n", err);
			abort();
		}
		if (registry_check(r) != 0)
			abort();
		start = i + 1;
	}
	session_release(&s);
	garage_free(g);
	registry_free(r);
	return 0;
}
