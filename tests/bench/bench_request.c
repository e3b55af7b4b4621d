/*
 * bench_request.c - what one request costs in the core, without sockets:
 * the line parsed, the method run, each change encoded as its record (as
 * the daemon's commit step does) and the reply written, through
 * session_handle, for the load generator's requests (entry then exit of
 * one plate, JSON-RPC) on a facility of 10 000 spots.
 *
 *   bench_request [PAIRS]          (default 200000 pairs per round)
 *
 * Prints the best and the median of 7 rounds, in ns per request, for the
 * whole request and for its parse alone (rpc_parse and rpc_msg_free).
 * The daemon adds the socket's read and write and the journal's append to
 * this; make bench-redis measures the whole.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "facility_load.h"
#include "garage.h"
#include "ids.h"
#include "json.h"
#include "jsonrpc.h"
#include "record.h"
#include "session.h"
#include "tariff_load.h"
#include "benchutil.h"

#define SPOTS	10000
#define ROUNDS	7

static garage *
make(void)
{
	static const char *const gates[] = { "north", "south" };

	return bench_garage("bench_request", SPOTS, 0, gates, 2, ALLOC_NEAREST, 100000);
}

/*
 * The daemon's services as the daemon has them where they are the
 * request's cost (its id generator, daemon/ids.c), cheap stand-ins where
 * they are not (the journal: the records are only encoded).
 */
struct bench_env {
	struct ids ids;
	uint64_t now_ms, lsn;
	struct jw rec;
	size_t rec_bytes;
};

static void
env_new_id(void *ud, char out[UUID_BUFSZ])
{
	struct bench_env *b = ud;

	ids_next(&b->ids, b->now_ms, out);
}

/* The commit step's work in the core: every change encoded once. */
static int
env_commit(void *ud, const garage *g, const struct changes *ch, int acks_earlier,
    uint64_t *hold)
{
	struct bench_env *b = ud;
	char id[UUID_BUFSZ];

	(void)acks_earlier;
	for (size_t i = 0; i < ch->n; i++) {
		env_new_id(b, id);
		jw_reset(&b->rec);
		record_write(g, &ch->v[i], id, &b->rec);
		if (jw_failed(&b->rec))
			return -1;
		b->rec_bytes += b->rec.len;
		b->lsn++;
	}
	*hold = b->lsn;
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The lines of pairs entry/exit pairs, the plates of round r. */
static char **
make_lines(unsigned pairs, unsigned r)
{
	char **l = malloc(2 * (size_t)pairs * sizeof(*l));

	if (l == NULL)
		exit(1);
	for (unsigned i = 0; i < pairs; i++) {
		char buf[256];

		snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"entry\","
		    "\"params\":{\"gate\":\"north\",\"plate\":\"B%u-%u\",\"class\":\"car\"}}",
		    2 * i + 1, r, i);
		l[2 * i] = strdup(buf);
		snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"exit\","
		    "\"params\":{\"gate\":\"south\",\"plate\":\"B%u-%u\"}}", 2 * i + 2, r, i);
		l[2 * i + 1] = strdup(buf);
		if (l[2 * i] == NULL || l[2 * i + 1] == NULL)
			exit(1);
	}
	return l;
}

static void
free_lines(char **l, unsigned pairs)
{
	for (unsigned i = 0; i < 2 * pairs; i++)
		free(l[i]);
	free(l);
}

int
main(int argc, char **argv)
{
	unsigned pairs = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000;
	double full[ROUNDS], parse[ROUNDS];
	struct bench_env b;
	struct call_env env;
	struct session s;
	garage *g = make();
	size_t reply_bytes = 0, nreq = 0;
	int64_t t = 1795392000;

	if (pairs == 0)
		pairs = 1;
	/* As the daemon does at start. */
	json_arena_install();
	memset(&b, 0, sizeof(b));
	ids_init(&b.ids);
	jw_init(&b.rec);
	memset(&env, 0, sizeof(env));
	env.ud = &b;
	env.new_id = env_new_id;
	env.commit = env_commit;
	env.max_future_s = 86400;
	memset(&s, 0, sizeof(s));
	s.g = g;
	s.env = &env;
	s.role = ROLE_OPERATOR;
	for (unsigned r = 0; r < ROUNDS; r++) {
		char **l = make_lines(pairs, r);
		double t0;

		t0 = bench_now();
		for (unsigned i = 0; i < 2 * pairs; i++) {
			rpc_msg *m = rpc_parse(l[i], strlen(l[i]));

			if (m == NULL || m->err != PK_OK)
				exit(1);
			rpc_msg_free(m);
		}
		parse[r] = (bench_now() - t0) / (2.0 * pairs) * 1e9;
		t0 = bench_now();
		for (unsigned i = 0; i < 2 * pairs; i++) {
			struct session_out out;

			/* A second a pair: stays under the free minutes. */
			b.now_ms = (uint64_t)(t + i / 2) * 1000;
			if (session_handle(&s, l[i], strlen(l[i]), 0, t + i / 2, &out) != 0 ||
			    out.line == NULL || strstr(out.line, "\"result\"") == NULL) {
				fprintf(stderr, "bench_request: %s -> %s\n", l[i],
				    out.line ? out.line : "(nothing)");
				exit(1);
			}
			reply_bytes += out.line_len;
			nreq++;
			free(out.defer_id);
		}
		full[r] = (bench_now() - t0) / (2.0 * pairs) * 1e9;
		t += pairs;
		free_lines(l, pairs);
	}
	qsort(full, ROUNDS, sizeof(double), cmp_double);
	qsort(parse, ROUNDS, sizeof(double), cmp_double);
	printf("bench_request: %u entry+exit pairs a round, %d rounds, %u spots, JSON-RPC lines\n",
	    pairs, ROUNDS, SPOTS);
	printf("  whole request (parse, method, records, reply)  best %7.0f ns  median %7.0f ns\n",
	    full[0], full[ROUNDS / 2]);
	printf("  parse alone (rpc_parse + rpc_msg_free)         best %7.0f ns  median %7.0f ns\n",
	    parse[0], parse[ROUNDS / 2]);
	printf("  reply %.0f bytes, records %.0f bytes a request on average\n",
	    (double)reply_bytes / (double)nreq, (double)b.rec_bytes / (double)nreq);
	session_release(&s);
	jw_release(&b.rec);
	garage_free(g);
	return 0;
}
