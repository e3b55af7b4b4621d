/*
 * main.c - parkd: command line, configuration, start-up and the loop.
 */
#define LOG_COMPONENT "parkd"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
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
#include "cityredis.h"
#include "commit.h"
#include "capacity.h"
#include "dict.h"
#include "due.h"
#include "publish.h"
#include "replication.h"
#include "garage.h"
#include "http.h"
#include "journal.h"
#include "json.h"
#include "regstore.h"
#include "log.h"
#include "notify.h"
#include "reload.h"
#include "server.h"
#include "settings.h"
#include "zone.h"

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
	    "             [--reload-config FILE] [--debug] [--version]\n");
}

/*
 * What it takes to build a fresh, empty garage again: recovery may need
 * several (a snapshot that fails to load leaves a half-filled one behind).
 */
struct builder {
	const char *text;
	size_t len;
	struct zone_cache *zone;	/* main's, for every garage it builds */
};

static garage *
make_garage(void *ud)
{
	struct builder *b = ud;
	char err[512];
	struct jerr e = { err, sizeof(err), 0 };
	cJSON *root = config_json(b->text, b->len, &e);
	struct config *cfg = root ? config_from_json(root, &e) : NULL;
	struct garage_capacity_cfg cc;
	garage *g;

	/* The whole text was checked at start-up: only the core is read. */
	cJSON_Delete(root);
	if (cfg == NULL)
		return NULL;
	/* The zone is the process's, set once by main() before the loop. */
	g = garage_new(cfg->fac, cfg->tariff, zone_local_time, b->zone,
	    cfg->strategy, (size_t)cfg->limits.closed_tickets);
	cfg->fac = NULL;
	cfg->tariff = NULL;
	/* Before the journal is replayed into it: the book's times are fixed then. */
	config_capacity(cfg, &cc);
	if (g != NULL && garage_configure_capacity(g, &cc) != PK_OK) {
		garage_free(g);
		g = NULL;
	}
	config_free(cfg);
	return g;
}

struct options {
	const char *config;
	const char *reload_config;	/* read on SIGHUP when it exists */
	const char *listen, *http, *data_dir, *redis;
	int check, debug;
};

static int
parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "reload-config", required_argument, NULL, 'R' },
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
		case 'R': o->reload_config = optarg; break;
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
apply_flags(struct settings *cfg, const void *opts, char *err, size_t errlen)
{
	const struct options *o = opts;

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
		log_warn("getrandom failed, hash tables keep their fixed key error=\"%s\"",
		    n < 0 ? strerror(errno) : "short read");
		return;
	}
	dict_set_seed(key);
	explicit_bzero(key, sizeof(key));
}

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
			log_warn("could not raise the open-file limit soft=%llu hard=%llu error=\"%s\"",
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
	log_warn("the open-file limit is below limits.max_clients and what parkd "
	    "needs itself, serving fewer clients (raise LimitNOFILE= or ulimit -n) "
	    "nofile=%llu max_clients=%llu own=%llu serving=%llu", (unsigned long long)nofile,
	    (unsigned long long)want, (unsigned long long)own,
	    (unsigned long long)fit);
	cfg->limits.max_clients = (int64_t)fit;
}

/* --check-config: one line per error, so that every one can be fixed at once. */
static void
report_error(void *ud, const char *msg)
{
	const struct options *o = ud;

	fprintf(stderr, "parkd: %s: %s\n", o->config, msg);
}

static struct reload_src reload_src;

static int
reload(struct server *s)
{
	return reload_run(s, &reload_src);
}

/* The file's keys the command line replaced. */
static const char *const *
flag_keys(const struct options *o)
{
	static const char *keys[5];
	size_t n = 0;

	if (o->listen)
		keys[n++] = "listen";
	if (o->http)
		keys[n++] = "http_listen";
	if (o->data_dir)
		keys[n++] = "data_dir";
	keys[n] = NULL;
	return keys;
}

/* The audit shipper's limit: what a standby holds too, in sync mode. */
static uint64_t
repl_safe_for_audit(void *ud)
{
	return replication_safe(ud);
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

/*
 * Under load, rounds of notifications and write queues allocate and free
 * hundreds of kilobytes many times a second.  By default glibc serves
 * those from fresh mappings, or gives the top of the heap back to the
 * kernel when they are freed, and every round faults the same memory in
 * again (a fifth of the daemon's time in a profile with 100 events
 * subscribers).  The heap keeps up to 64 MB it freed instead.
 */
static void
keep_heap(void)
{
	if (mallopt(M_MMAP_THRESHOLD, 8 << 20) != 1 ||
	    mallopt(M_TRIM_THRESHOLD, 64 << 20) != 1)
		log_debug("mallopt refused (another allocator): freed memory "
		    "goes back to the kernel");
}

int
main(int argc, char **argv)
{
	struct options o;
	struct settings *cfg = NULL;
	struct server *srv = NULL;
	struct journal_hooks hooks;
	struct regstore *rs = NULL;
	struct builder builder;
	struct zone_cache zone = { 0, 0, 0, 0 };
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
	keep_heap();
	seed_tables();
	/* Before any tree is built: request lines parse without a malloc per node. */
	json_arena_install();

	text = reload_read_file(o.config, CONFIG_MAX_BYTES, &len, err, sizeof(err));
	if (text == NULL) {
		fprintf(stderr, "parkd: %s\n", err);
		return 1;
	}
	if (o.check && settings_check(text, len, report_error, &o) > 0)
		goto out;
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
	hooks.batch = server_on_batch;
	builder.text = text;
	builder.len = len;
	builder.zone = &zone;
	hooks.make_garage = make_garage;
	hooks.make_ud = &builder;
	/* The vehicle registry's store is the journal's side stream. */
	if ((rs = regstore_new(cfg->core)) == NULL) {
		fprintf(stderr, "parkd: out of memory\n");
		goto out;
	}
	hooks.side = regstore_side_hooks(rs);
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
	if ((srv->repl = replication_new(srv)) == NULL) {
		fprintf(stderr, "parkd: out of memory\n");
		exit(1);
	}
	/* A standby's history is its primary's, the tariff's first version included. */
	if (!replication_is_standby(srv->repl))
		reload_start_tariff(srv, cfg);
	if (regstore_start(rs, srv) != 0) {
		fprintf(stderr, "parkd: out of memory\n");
		exit(1);
	}
	/* What fell due while parkd was down, at the instants it was due. */
	due_start(srv);
	srv->audit = audit_new(loop, cfg, j, err, sizeof(err));
	if (srv->audit == NULL) {
		fprintf(stderr, "parkd: audit: %s\n", err);
		server_shutdown(srv);
		rc = 1;
	} else {
		/* A standby ships nothing; sync replication ships what a standby holds. */
		if (replication_is_standby(srv->repl))
			audit_hold(srv->audit);
		audit_limit(srv->audit, repl_safe_for_audit, srv->repl);
	}
	/* A standby publishes nothing to the city view: its primary does. */
	if (srv->audit != NULL && !replication_is_standby(srv->repl) &&
	    (srv->city = cityredis_new(srv)) == NULL) {
		fprintf(stderr, "parkd: out of memory\n");
		exit(1);
	}
	reload_src.path = o.config;
	reload_src.reload_path = o.reload_config;
	reload_src.start_text = text;
	reload_src.start_len = len;
	reload_src.apply_flags = apply_flags;
	reload_src.opts = &o;
	reload_src.flag_keys = flag_keys(&o);
	reload_src.fit = fit_clients;
	srv->reload = reload;
	if (srv->audit == NULL) {
		/* nothing to serve */
	} else if (server_listen(srv) == 0 && replication_start(srv->repl) == 0) {
		log_info("started version=%s facility=\"%s\" spots=%u durability=%s",
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
	regstore_stop(rs);
	cityredis_close(srv->city);
	journal_close(j, srv->g);
	finish_loop(loop);
	journal_free(j);
	audit_free(srv->audit);
	replication_free(srv->repl);
	cityredis_free(srv->city);
	garage_free(srv->g);
	if (rc == 0)
		log_info("stopped");
out:
	regstore_free(rs);
	server_free(srv);
	settings_free(cfg);
	free(text);
	return rc;
}
