/*
 * main.c - parkd: command line, configuration, start-up and the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "audit.h"
#include "commit.h"
#include "dict.h"
#include "publish.h"
#include "garage.h"
#include "http.h"
#include "journal.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "settings.h"
#include "zone.h"

#define CONFIG_MAX_BYTES (64u << 20)

/*
 * Descriptors parkd needs besides its clients: stdio, the loop's own
 * (epoll, signal pipe, async), the listener and libuv's spare, the journal
 * (segment, directory, snapshot), the shipper's reads and audit.pos, Redis,
 * and room for refusals in flight.  The HTTP endpoint needs its own.
 */
#define OWN_FDS 32

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: parkd -c FILE [--listen HOST:PORT] [--http HOST:PORT|none]\n"
	    "             [--data-dir DIR] [--redis HOST:PORT|none] [--check-config]\n"
	    "             [--debug] [--version]\n");
}

/* Reads a whole file (start-up only: the loop is not running yet). */
static char *
read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t r;

		if (n == cap) {
			char *nb;

			if (cap >= max) {
				snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

/*
 * What it takes to build a fresh, empty garage again: recovery may need
 * several (a snapshot that fails to load leaves a half-filled one behind).
 */
struct builder {
	const char *text;
	size_t len;
};

static garage *
make_garage(void *ud)
{
	struct builder *b = ud;
	char err[512];
	struct jerr e = { err, sizeof(err), 0 };
	cJSON *root = config_json(b->text, b->len, &e);
	struct config *cfg = root ? config_from_json(root, &e) : NULL;
	garage *g;

	/* The whole text was checked at start-up: only the core is read. */
	cJSON_Delete(root);
	if (cfg == NULL)
		return NULL;
	/* The zone is the process's, set once by main() before the loop. */
	g = garage_new(cfg->fac, cfg->tariff, zone_local_time, NULL,
	    cfg->strategy, (size_t)cfg->limits.closed_tickets);
	cfg->fac = NULL;
	cfg->tariff = NULL;
	config_free(cfg);
	return g;
}

struct options {
	const char *config;
	const char *listen, *http, *data_dir, *redis;
	int check, debug;
};

static int
parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "http", required_argument, NULL, 'H' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "redis", required_argument, NULL, 'r' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "debug", no_argument, NULL, 'D' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'H': o->http = optarg; break;
		case 'd': o->data_dir = optarg; break;
		case 'r': o->redis = optarg; break;
		case 'C': o->check = 1; break;
		case 'D': o->debug = 1; break;
		case 'V':
			printf("parkd %s\n", PARKD_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || o->config == NULL) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Command-line flags override the file. */
static int
apply_flags(struct settings *cfg, const struct options *o, char *err,
    size_t errlen)
{
	if (o->listen && (settings_endpoint(o->listen, &cfg->listen) != 0 ||
	    !cfg->listen.enabled)) {
		snprintf(err, errlen, "--listen: must be HOST:PORT");
		return -1;
	}
	if (o->http && settings_endpoint(o->http, &cfg->http) != 0) {
		snprintf(err, errlen, "--http: must be HOST:PORT or none");
		return -1;
	}
	if (o->redis && settings_endpoint(o->redis, &cfg->audit.redis) != 0) {
		snprintf(err, errlen, "--redis: must be HOST:PORT or none");
		return -1;
	}
	if (o->data_dir) {
		char *d = strdup(o->data_dir);

		if (d == NULL || d[0] == '\0') {
			free(d);
			snprintf(err, errlen, "--data-dir: must not be empty");
			return -1;
		}
		free(cfg->data_dir);
		cfg->data_dir = d;
	}
	return 0;
}

/*
 * Start-up, before any table exists: a random key for the hash tables
 * (lib/dict.h), so that clients cannot choose plates or ids that collide.
 * Should the kernel refuse (not on Debian 12), the fixed key stays and a
 * warning says so: a predictable hash is no reason to keep the gates shut.
 */
static void
seed_tables(void)
{
	unsigned char key[16];
	ssize_t n;

	do
		n = getrandom(key, sizeof(key), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(key)) {
		log_warn("getrandom: %s; hash tables keep their fixed key",
		    n < 0 ? strerror(errno) : "short read");
		return;
	}
	dict_set_seed(key);
	explicit_bzero(key, sizeof(key));
}

static const char *reload_path;
static const struct options *reload_opts;
static uint64_t nofile;		/* the open-file limit in force; 0: unknown */

/* Start-up: raises the soft open-file limit to the hard one. */
static void
raise_nofile(void)
{
	struct rlimit rl, want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		want.rlim_cur = want.rlim_max = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = rl.rlim_max;
		else
			log_warn("could not raise the open-file limit from %llu to %llu: %s",
			    (unsigned long long)rl.rlim_cur,
			    (unsigned long long)rl.rlim_max, strerror(errno));
	}
	nofile = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

/*
 * Clients past what the open-file limit leaves would be accepted and closed
 * by libuv without a word and counted nowhere (see on_connection in
 * server.c).  limits.max_clients is lowered to fit, so that they get the
 * "too many clients" line instead and are counted as refused.
 */
static void
fit_clients(struct settings *cfg)
{
	uint64_t own = OWN_FDS + (cfg->http.enabled ? HTTP_MAX_CONNS + 2 : 0);
	uint64_t want = (uint64_t)cfg->limits.max_clients;
	uint64_t fit;

	if (nofile == 0 || nofile >= want + own)
		return;
	fit = nofile > own + 1 ? nofile - own : 1;
	log_warn("the open-file limit %llu is below limits.max_clients %llu + %llu "
	    "descriptors parkd needs itself: serving at most %llu clients "
	    "(raise LimitNOFILE= or ulimit -n)", (unsigned long long)nofile,
	    (unsigned long long)want, (unsigned long long)own,
	    (unsigned long long)fit);
	cfg->limits.max_clients = (int64_t)fit;
}

/* Equal tariffs write the same text (tariff_write writes every key). */
static int
tariff_equal(const tariff *a, const tariff *b)
{
	struct jw ja, jb;
	int eq;

	jw_init(&ja);
	jw_init(&jb);
	tariff_write(a, &ja);
	tariff_write(b, &jb);
	eq = !jw_failed(&ja) && !jw_failed(&jb) && ja.len == jb.len &&
	    memcmp(ja.buf, jb.buf, ja.len) == 0;
	jw_release(&ja);
	jw_release(&jb);
	return eq;
}

/* A tariff from the configuration file: a change like `tariff set=`. */
static void
reload_tariff(struct server *s, tariff *t)
{
	struct changes ch;
	uint64_t hold;

	changes_init(&ch);
	if (garage_set_tariff(s->g, t, server_now(), &ch) != PK_OK)
		log_err("reload: out of memory; tariff not changed");
	else if (commit_changes(s, s->g, &ch, 0, &hold) != 0)
		log_err("reload: the new tariff could not be journaled; it is undone");
	else
		log_info("reload: new tariff in force");
	publish_flush(s);
	changes_release(&ch);
}

/*
 * The tariff of the configuration file at start: journaled as the first
 * version on a new data directory, and as a new version when the file now
 * says something else than the journal (it prices vehicles entering from
 * now on, like a reload).
 */
static void
start_tariff(struct server *s, struct settings *cfg)
{
	struct changes ch;
	uint64_t hold;
	pk_err e = PK_OK;

	changes_init(&ch);
	if (!garage_tariff_journaled(s->g)) {
		e = garage_journal_tariff(s->g, server_now(), &ch);
	} else if (!tariff_equal(cfg->core->tariff, garage_tariff(s->g))) {
		log_info("start: the configuration's tariff differs from the one in "
		    "force: it becomes version %u", garage_tariff_version(s->g) + 1);
		e = garage_set_tariff(s->g, cfg->core->tariff, server_now(), &ch);
		cfg->core->tariff = NULL;
	}
	if (e != PK_OK || commit_changes(s, s->g, &ch, 0, &hold) != 0)
		log_err("start: the tariff could not be journaled; changes will be refused "
		    "until the journal recovers");
	changes_release(&ch);
}

/*
 * SIGHUP: what can change without a restart.  Tokens and limits take
 * effect for new requests (connections keep the role they have); a new
 * tariff is a change of state like `tariff set=` and is journaled.
 */
static int
reload_config(struct server *s)
{
	char err[512];
	size_t len;
	char *text = read_file(reload_path, CONFIG_MAX_BYTES, &len, err, sizeof(err));
	struct settings *nc, *cfg = s->cfg;
	struct token *tokens;
	size_t n_tokens;

	if (text == NULL) {
		log_err("reload: %s", err);
		return -1;
	}
	nc = settings_parse(text, len, &(struct jerr){ err, sizeof(err), 0 });
	free(text);
	if (nc == NULL || apply_flags(nc, reload_opts, err, sizeof(err)) != 0) {
		log_err("reload: %s: %s", reload_path, err);
		settings_free(nc);
		return -1;
	}
	if (!tariff_equal(nc->core->tariff, garage_tariff(s->g))) {
		if (!s->env.writable(s, &(const char *){ "" })) {
			log_err("reload: the journal is not writable; tariff not changed");
		} else {
			reload_tariff(s, nc->core->tariff);
			nc->core->tariff = NULL;
		}
	}
	tokens = cfg->tokens;
	n_tokens = cfg->n_tokens;
	cfg->tokens = nc->tokens;
	cfg->n_tokens = nc->n_tokens;
	nc->tokens = tokens;
	nc->n_tokens = n_tokens;
	cfg->limits = nc->limits;
	s->env.max_future_s = cfg->limits.max_future_s;
	fit_clients(cfg);
	settings_free(nc);
	log_info("reload: %zu tokens, limits updated", cfg->n_tokens);
	return 0;
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Lets the loop run the close callbacks of whatever is left, then closes it. */
static void
finish_loop(uv_loop_t *loop)
{
	uv_walk(loop, close_walk, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
}

int
main(int argc, char **argv)
{
	struct options o;
	struct settings *cfg = NULL;
	struct server *srv = NULL;
	struct journal_hooks hooks;
	struct builder builder;
	struct journal *j;
	char err[512];
	char *text;
	size_t len;
	garage *g = NULL;
	uv_loop_t *loop;
	int rc = 1;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	log_init(o.debug ? LOG_DEBUG : LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	seed_tables();
	/* Before any tree is built: request lines parse without a malloc per node. */
	json_arena_install();

	text = read_file(o.config, CONFIG_MAX_BYTES, &len, err, sizeof(err));
	if (text == NULL) {
		fprintf(stderr, "parkd: %s\n", err);
		return 1;
	}
	cfg = settings_parse(text, len, &(struct jerr){ err, sizeof(err), 0 });
	if (cfg == NULL || apply_flags(cfg, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "parkd: %s: %s\n", o.config, err);
		goto out;
	}
	/*
	 * Peak windows are local time: TZ is set here, once, while parkd is
	 * still one thread (libuv starts its pool with the first queued work).
	 */
	if (zone_set(facility_timezone(cfg->core->fac), err, sizeof(err)) != 0) {
		fprintf(stderr, "parkd: %s: %s\n", o.config, err);
		goto out;
	}
	if (o.check) {
		printf("%s: ok (%u spots, %d gates)\n", o.config,
		    facility_spot_count(cfg->core->fac),
		    facility_gate_count(cfg->core->fac));
		rc = 0;
		goto out;
	}
	raise_nofile();
	fit_clients(cfg);
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		fprintf(stderr, "parkd: out of memory\n");
		goto out;
	}

	loop = uv_default_loop();
	memset(&hooks, 0, sizeof(hooks));
	hooks.ud = srv;
	hooks.durable = server_on_durable;
	hooks.failed = server_on_journal_failed;
	hooks.rebuilt = server_on_rebuilt;
	builder.text = text;
	builder.len = len;
	hooks.make_garage = make_garage;
	hooks.make_ud = &builder;
	j = journal_open(loop, cfg, &hooks, &g, err, sizeof(err));
	if (j == NULL) {
		fprintf(stderr, "parkd: %s\n", err);
		finish_loop(loop);
		goto out;
	}
	if (server_init(srv, loop, cfg, g, j) != 0) {
		/* Out of memory before serving anything: nothing is lost by leaving. */
		fprintf(stderr, "parkd: out of memory\n");
		exit(1);
	}
	start_tariff(srv, cfg);
	srv->audit = audit_new(loop, cfg, j, err, sizeof(err));
	if (srv->audit == NULL) {
		fprintf(stderr, "parkd: audit: %s\n", err);
		server_shutdown(srv);
		rc = 1;
	}
	reload_path = o.config;
	reload_opts = &o;
	srv->reload = reload_config;
	if (srv->audit == NULL) {
		/* nothing to serve */
	} else if (server_listen(srv) == 0) {
		log_info("parkd %s started: %s, %u spots, %s durability",
		    PARKD_VERSION, facility_name(garage_facility(g)),
		    facility_spot_count(garage_facility(g)),
		    cfg->durability == DUR_FSYNC ? "fsync" :
		    cfg->durability == DUR_WRITE ? "write" : "no");
		rc = 0;
	} else {
		server_shutdown(srv);
	}

	uv_run(loop, UV_RUN_DEFAULT);

	/* Every client is gone: write what is left and a last snapshot. */
	audit_close(srv->audit);
	journal_close(j, srv->g);
	finish_loop(loop);
	journal_free(j);
	audit_free(srv->audit);
	garage_free(srv->g);
	if (rc == 0)
		log_info("stopped");
out:
	server_free(srv);
	settings_free(cfg);
	free(text);
	return rc;
}
