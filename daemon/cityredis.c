/* cityredis.c - this facility in the city view on Redis (see cityredis.h). */
#define LOG_COMPONENT "city"

#include "cityredis.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "city.h"
#include "log.h"
#include "redisconn.h"
#include "rfc3339.h"
#include "server.h"

#define CONNECT_TIMEOUT_MS 2000
/* A nearby search waits for Redis at most this long between replies. */
#define REPLY_TIMEOUT_MS 2000
/* The last publish ("closed") at shutdown may take this long. */
#define SHUTDOWN_MS 1000
/* Hashes read per round trip while a search looks for enough facilities. */
#define HMGET_CHUNK 64
/* The nearest facilities the cached copy is made of are within this. */
#define VIEW_RADIUS_M 2000
/* lot_full names at most this many alternatives. */
#define ALTERNATIVES_MAX 3
/*
 * The cached copy is read while the facility is near full (at most a
 * tenth of its spots, or NEAR_FULL_MIN, free) or was asked for
 * alternatives within WANTED_MS: a city of a thousand quiet facilities
 * does not read the whole view every two seconds.
 */
#define NEAR_FULL_MIN 3
#define WANTED_MS 60000

#define KEY_MAX (64 + 16 + CITY_SLUG_MAX)

struct cityredis {
	struct server *s;
	const struct settings *cfg;
	struct redisconn *rc;		/* NULL: the city view is off */
	int publishing;			/* the facility has a place on the map */
	char slug[CITY_SLUG_MAX + 1];
	int64_t lat_e7, lon_e7;
	char lat[24], lon[24];		/* the location as decimal text */
	char listen[SETTINGS_HOST_MAX + 16];
	char key_geo[KEY_MAX], key_hash[KEY_MAX], key_chan[KEY_MAX];
	char ttl[24];

	uv_timer_t pub_timer;		/* coalesces marks to publish_ms */
	uv_timer_t heartbeat;		/* at least one publish per heartbeat_s */
	uv_timer_t refresh;		/* reads the cached copy again */
	uv_timer_t final_timer;		/* bounds the last publish at shutdown */
	int dirty;			/* counts changed since the last publish was sent */
	int armed;			/* pub_timer runs */
	int inflight;			/* a publish is at Redis */
	uint64_t last_sent_ms;
	int last_closed;		/* the state last measured was closed */
	int shutting_down, final_sent, closed;
	uint64_t publishes, marks;
	uint64_t stored_ms;		/* when a publish was last stored (0: never) */
	uint64_t nearby_ok, nearby_failed;
	uint64_t alternatives, no_alternatives;	/* lot_full with and without them */

	struct city_avail avail;	/* measured for the publish being sent */
	struct jw by_class, msg;	/* its texts, reused */

	struct city_view *view, *next;	/* the cached copy; the one being read */
	uint64_t view_ms;		/* when view was read (0: never) */
	int refreshing;
	int near_full;			/* some class had little room at the last publish */
	uint64_t lot_full_ms;		/* when a lot_full last asked (0: never) */
};

static void arm(struct cityredis *c);

/* 1e-7 degrees as decimal text: -515072178 -> "-51.5072178". */
static void
degrees(int64_t e7, char out[24])
{
	uint64_t a = e7 < 0 ? (uint64_t)-e7 : (uint64_t)e7;

	snprintf(out, 24, "%s%" PRIu64 ".%07" PRIu64, e7 < 0 ? "-" : "",
	    a / 10000000, a % 10000000);
}

/* Closed: shutting down, or the journal refuses changes. */
static int
closed_now(const struct cityredis *c)
{
	const char *why = "";

	return c->s->shutting_down ||
	    (c->s->env.writable != NULL && c->s->env.writable(c->s, &why) != 1);
}

/* ---- publishing ---- */

/* MULTI's status and the QUEUED answers: EXEC's reply says it all. */
static void
on_queued(void *privdata, redisReply *reply)
{
	(void)privdata;
	(void)reply;
}

static void
on_final_timer(uv_timer_t *t)
{
	cityredis_close(t->data);
}

static void publish(struct cityredis *c, int closed);
static void on_heartbeat(uv_timer_t *t);

/* The next heartbeat is heartbeat_s after the last publish stored. */
static void
restart_heartbeat(struct cityredis *c)
{
	uint64_t hb = (uint64_t)c->cfg->city.heartbeat_s * 1000;

	uv_timer_start(&c->heartbeat, on_heartbeat, hb, hb);
}

static void
on_exec(void *privdata, redisReply *reply)
{
	struct cityredis *c = privdata;
	int ok = reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements == 4;

	c->inflight = 0;
	if (c->closed)
		return;
	for (size_t i = 0; ok && i < reply->elements; i++)
		ok = reply->element[i]->type != REDIS_REPLY_ERROR;
	if (ok) {
		c->publishes++;
		c->stored_ms = uv_now(c->s->loop);
		/* Stored: Redis works, and the heartbeat counts from here. */
		redisconn_proven(c->rc);
		if (!c->shutting_down)
			restart_heartbeat(c);
	} else {
		/* The state is published again once Redis is back (or better). */
		c->dirty = 1;
		if (reply != NULL)
			redisconn_fail(c->rc, "publish: %s",
			    reply->type == REDIS_REPLY_ERROR ? reply->str :
			    reply->type == REDIS_REPLY_ARRAY ? "a command failed" :
			    "unexpected reply");
	}
	if (c->shutting_down) {
		/* The last word is "closed"; the context is freed from a timer. */
		if (ok && !c->final_sent && redisconn_ready(c->rc)) {
			c->final_sent = 1;
			publish(c, 1);
			if (c->inflight)
				return;
		}
		uv_timer_start(&c->final_timer, on_final_timer, 0, 0);
		return;
	}
	arm(c);
}

/*
 * Measures the garage now and sends it in one transaction: the newest
 * state is what Redis gets, however many changes it sums up.
 */
static void
publish(struct cityredis *c, int closed)
{
	const facility *f = garage_facility(c->s->g);
	char upd[RFC3339_BUFSZ], nfree[24], ntotal[24];
	struct city_pub p;
	const char *geo[5], *hset[20], *expire[3], *pub[3];
	size_t hlens[20], plens[3];
	int64_t now = server_now();
	int rc;

	city_measure(c->s->g, closed, &c->avail);
	c->near_full = c->avail.free <= NEAR_FULL_MIN ||
	    c->avail.free <= c->avail.total / 10;
	rfc3339_format(now, upd);
	jw_reset(&c->by_class);
	city_by_class_json(&c->by_class, f, &c->avail);
	p = (struct city_pub){ c->slug, facility_name(f), c->listen, c->lat_e7,
	    c->lon_e7, now, f, &c->avail };
	jw_reset(&c->msg);
	city_message_json(&c->msg, &p);
	if (jw_failed(&c->by_class) || jw_failed(&c->msg)) {
		log_err("out of memory measuring the facility, publishing later");
		c->dirty = 1;
		return;
	}
	snprintf(nfree, sizeof(nfree), "%" PRIu64, c->avail.free);
	snprintf(ntotal, sizeof(ntotal), "%" PRIu64, c->avail.total);
	geo[0] = "GEOADD"; geo[1] = c->key_geo; geo[2] = c->lon; geo[3] = c->lat;
	geo[4] = c->slug;
	{
		const char *fv[] = { "HSET", c->key_hash, "name", facility_name(f),
		    "lat", c->lat, "lon", c->lon, "free", nfree, "total", ntotal,
		    "free_by_class", c->by_class.buf, "state",
		    city_state_name(c->avail.state), "updated_at", upd,
		    "listen", c->listen };

		for (int i = 0; i < 20; i++) {
			hset[i] = fv[i];
			hlens[i] = strlen(fv[i]);
		}
		hlens[13] = c->by_class.len;
	}
	expire[0] = "EXPIRE"; expire[1] = c->key_hash; expire[2] = c->ttl;
	pub[0] = "PUBLISH"; pub[1] = c->key_chan; pub[2] = c->msg.buf;
	plens[0] = 7; plens[1] = strlen(c->key_chan); plens[2] = c->msg.len;
	rc = redisconn_command(c->rc, on_queued, c, 1, (const char *[]){ "MULTI" },
	    NULL);
	if (rc != 0) {
		c->dirty = 1;
		return;
	}
	/* Past MULTI, a command not sent would leave a transaction open: drop. */
	if (redisconn_command(c->rc, on_queued, c, 5, geo, NULL) != 0 ||
	    redisconn_command(c->rc, on_queued, c, 20, hset, hlens) != 0 ||
	    redisconn_command(c->rc, on_queued, c, 3, expire, NULL) != 0 ||
	    redisconn_command(c->rc, on_queued, c, 3, pub, plens) != 0 ||
	    redisconn_command(c->rc, on_exec, c, 1, (const char *[]){ "EXEC" },
	    NULL) != 0) {
		c->dirty = 1;
		redisconn_fail(c->rc, "%s", "publish: a command could not be sent");
		return;
	}
	c->inflight = 1;
	c->dirty = 0;
	c->last_closed = closed;
	c->last_sent_ms = uv_now(c->s->loop);
}

static void
on_pub_timer(uv_timer_t *t)
{
	struct cityredis *c = t->data;

	c->armed = 0;
	if (!c->dirty || c->inflight || c->shutting_down || !redisconn_ready(c->rc))
		return;
	publish(c, closed_now(c));
}

/* A publish is due: now, or once publish_ms has passed since the last. */
static void
arm(struct cityredis *c)
{
	uint64_t now, due;

	if (!c->dirty || c->armed || c->inflight || c->shutting_down ||
	    !redisconn_ready(c->rc))
		return;
	now = uv_now(c->s->loop);
	due = c->last_sent_ms + (uint64_t)c->cfg->city.publish_ms;
	c->armed = 1;
	uv_timer_start(&c->pub_timer, on_pub_timer, due > now && c->last_sent_ms ?
	    due - now : 0, 0);
}

void
cityredis_changed(struct cityredis *c)
{
	if (c == NULL || !c->publishing || c->closed)
		return;
	c->marks++;
	c->dirty = 1;
	arm(c);
}

static void
on_heartbeat(uv_timer_t *t)
{
	cityredis_changed(t->data);
}

void
cityredis_tick(struct cityredis *c)
{
	if (c != NULL && c->publishing && !c->closed &&
	    closed_now(c) != c->last_closed)
		cityredis_changed(c);
}

/* ---- reading the city view: nearby and the cached copy ---- */

/*
 * One search: GEOSEARCH for the candidates, nearest first, then their
 * hashes a chunk at a time (HMGET of city_read_fields, pipelined) until
 * limit usable ones are found or the candidates run out.  Replies come in
 * the order the commands went, so each HMGET reply is candidate done++.
 */
struct lookup {
	struct cityredis *c;
	int for_view;			/* fills c->next instead of answering */
	int limit;
	char cls[FAC_MAX_NAME + 1];	/* "" any */
	cityredis_nearby_cb cb;
	void *ud;
	size_t n, next, done;		/* candidates; first not asked; answered */
	char **slug, **dist;		/* into buf */
	size_t *slen, *dlen;
	char *buf;
	int outstanding;		/* commands at Redis */
	int failed;
	char why[128];
	size_t found;
	struct jw out;			/* {"facilities":[... */
};

static void
lookup_free(struct lookup *l)
{
	free(l->slug);
	free(l->dist);
	free(l->slen);
	free(l->dlen);
	free(l->buf);
	jw_release(&l->out);
	free(l);
}

static void
lookup_fail(struct lookup *l, const char *why)
{
	if (!l->failed)
		snprintf(l->why, sizeof(l->why), "%s", why);
	l->failed = 1;
}

static void
lookup_finish(struct lookup *l)
{
	struct cityredis *c = l->c;

	if (l->for_view) {
		c->refreshing = 0;
		if (!l->failed) {
			struct city_view *v = c->view;

			c->view = c->next;
			c->next = v;
			c->view_ms = uv_now(c->s->loop);
		}
	} else if (l->failed) {
		c->nearby_failed++;
		l->cb(l->ud, NULL, 0, l->why);
	} else {
		jw_arr_end(&l->out);
		jw_obj_end(&l->out);
		if (jw_failed(&l->out)) {
			c->nearby_failed++;
			l->cb(l->ud, NULL, 0, "out of memory");
		} else {
			c->nearby_ok++;
			l->cb(l->ud, l->out.buf, l->out.len, NULL);
		}
	}
	lookup_free(l);
}

static void fetch_chunk(struct lookup *l);

/* One candidate's hash: usable, with room, and wanted yet? */
static void
take_entry(struct lookup *l, size_t i, const redisReply *r)
{
	struct cityredis *c = l->c;
	const char *vals[CITY_F__COUNT];
	size_t lens[CITY_F__COUNT];
	uint64_t counts[FAC_MAX_CLASSES];
	const char *one[1] = { l->cls };
	struct city_entry e;
	int usable;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != CITY_F__COUNT)
		return;
	for (int k = 0; k < CITY_F__COUNT; k++) {
		const redisReply *v = r->element[k];

		vals[k] = v->type == REDIS_REPLY_STRING ? v->str : NULL;
		lens[k] = v->type == REDIS_REPLY_STRING ? v->len : 0;
	}
	if (l->for_view) {
		const char *const *names = city_view_class_names(c->next);
		int n = facility_class_count(garage_facility(c->s->g));

		usable = city_entry_read(&e, l->slug[i], l->slen[i], l->dist[i],
		    l->dlen[i], vals, lens, names, n, counts, server_now(),
		    3 * c->cfg->city.heartbeat_s);
		if (usable && l->found < (size_t)l->limit &&
		    city_view_add(c->next, &e, counts) == 0)
			l->found++;
		return;
	}
	usable = city_entry_read(&e, l->slug[i], l->slen[i], l->dist[i],
	    l->dlen[i], vals, lens, one, l->cls[0] ? 1 : 0, counts,
	    server_now(), 3 * c->cfg->city.heartbeat_s);
	if (!usable || l->found >= (size_t)l->limit)
		return;
	if (l->cls[0] ? counts[0] == 0 : !e.room_any)
		return;
	city_entry_json(&l->out, &e, l->cls[0] ? counts[0] : e.free);
	l->found++;
}

static void
on_hmget(void *privdata, redisReply *reply)
{
	struct lookup *l = privdata;
	size_t i = l->done++;

	l->outstanding--;
	if (reply == NULL)
		lookup_fail(l, "Redis went away");
	else if (reply->type == REDIS_REPLY_ERROR)
		lookup_fail(l, reply->str);
	else if (!l->failed)
		take_entry(l, i, reply);
	if (l->outstanding > 0)
		return;
	if (!l->failed && l->next < l->n && l->found < (size_t)l->limit)
		fetch_chunk(l);
	else
		lookup_finish(l);
}

static void
fetch_chunk(struct lookup *l)
{
	size_t end = l->next + HMGET_CHUNK < l->n ? l->next + HMGET_CHUNK : l->n;
	const char *argv[2 + CITY_F__COUNT];
	char key[KEY_MAX];

	argv[0] = "HMGET";
	argv[1] = key;
	for (int k = 0; k < CITY_F__COUNT; k++)
		argv[2 + k] = city_read_fields[k];
	for (; l->next < end; l->next++) {
		snprintf(key, sizeof(key), "%sfacility:%s", l->c->cfg->city.prefix,
		    l->slug[l->next]);
		if (redisconn_command(l->c->rc, on_hmget, l, 2 + CITY_F__COUNT,
		    argv, NULL) != 0) {
			lookup_fail(l, "Redis is not connected");
			break;
		}
		l->outstanding++;
	}
	if (l->outstanding == 0)
		lookup_finish(l);
}

/* Copies the candidates of a GEOSEARCH ... WITHDIST reply; 0 or -1. */
static int
take_candidates(struct lookup *l, const redisReply *r)
{
	size_t bytes = 0, n = 0;
	char *p;

	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING ||
		    e->element[1]->type != REDIS_REPLY_STRING ||
		    e->element[0]->len > CITY_SLUG_MAX)
			continue;
		bytes += e->element[0]->len + e->element[1]->len + 2;
	}
	l->slug = calloc(r->elements + 1, sizeof(*l->slug));
	l->dist = calloc(r->elements + 1, sizeof(*l->dist));
	l->slen = calloc(r->elements + 1, sizeof(*l->slen));
	l->dlen = calloc(r->elements + 1, sizeof(*l->dlen));
	l->buf = p = malloc(bytes + 1);
	if (l->slug == NULL || l->dist == NULL || l->slen == NULL ||
	    l->dlen == NULL || l->buf == NULL)
		return -1;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING ||
		    e->element[1]->type != REDIS_REPLY_STRING ||
		    e->element[0]->len > CITY_SLUG_MAX)
			continue;
		for (int k = 0; k < 2; k++) {
			const redisReply *v = e->element[k];

			memcpy(p, v->str, v->len);
			p[v->len] = '\0';
			if (k == 0) {
				l->slug[n] = p;
				l->slen[n] = v->len;
			} else {
				l->dist[n] = p;
				l->dlen[n] = v->len;
			}
			p += v->len + 1;
		}
		n++;
	}
	l->n = n;
	return 0;
}

static void
on_geosearch(void *privdata, redisReply *reply)
{
	struct lookup *l = privdata;

	l->outstanding--;
	if (reply == NULL)
		lookup_fail(l, "Redis went away");
	else if (reply->type == REDIS_REPLY_ERROR)
		lookup_fail(l, reply->str);
	else if (reply->type != REDIS_REPLY_ARRAY)
		lookup_fail(l, "unexpected reply to GEOSEARCH");
	else if (take_candidates(l, reply) != 0)
		lookup_fail(l, "out of memory");
	if (l->failed || l->n == 0)
		lookup_finish(l);
	else
		fetch_chunk(l);
}

/* Starts a search around (lat, lon); 0, or -1 (l freed) when not sent. */
static int
lookup_start(struct lookup *l, int64_t lat_e7, int64_t lon_e7, int64_t radius_m,
    int count)
{
	struct cityredis *c = l->c;
	char lat[24], lon[24], radius[24], cnt[24];
	const char *argv[12];

	degrees(lat_e7, lat);
	degrees(lon_e7, lon);
	snprintf(radius, sizeof(radius), "%" PRId64, radius_m);
	snprintf(cnt, sizeof(cnt), "%d", count);
	argv[0] = "GEOSEARCH";
	argv[1] = c->key_geo;
	argv[2] = "FROMLONLAT";
	argv[3] = lon;
	argv[4] = lat;
	argv[5] = "BYRADIUS";
	argv[6] = radius;
	argv[7] = "m";
	argv[8] = "ASC";
	argv[9] = "COUNT";
	argv[10] = cnt;
	argv[11] = "WITHDIST";
	if (redisconn_command(c->rc, on_geosearch, l, 12, argv, NULL) != 0) {
		lookup_free(l);
		return -1;
	}
	l->outstanding = 1;
	return 0;
}

/* A nearby search sent to Redis: 0, or -1 with why set. */
static int
nearby_start(struct cityredis *c, const struct defer_req *q,
    cityredis_nearby_cb cb, void *ud, const char **why)
{
	struct lookup *l;
	int64_t lat = q->lat_e7, lon = q->lon_e7;

	*why = "Redis is not connected";
	if (!redisconn_ready(c->rc))
		return -1;
	/* Without a point: here (methods.c made sure there is a here). */
	if (!q->has_point && facility_location_e7(garage_facility(c->s->g),
	    &lat, &lon) != 0) {
		*why = "this facility has no location";
		return -1;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	l->c = c;
	l->limit = q->limit;
	l->cb = cb;
	l->ud = ud;
	snprintf(l->cls, sizeof(l->cls), "%s", q->cls);
	jw_init(&l->out);
	jw_obj(&l->out);
	jw_key(&l->out, "facilities");
	jw_arr(&l->out);
	return lookup_start(l, lat, lon, q->radius_m, CITY_NEARBY_MAX_CANDIDATES);
}

int
cityredis_nearby(struct cityredis *c, const struct defer_req *q,
    cityredis_nearby_cb cb, void *ud, const char **why)
{
	if (c == NULL || c->rc == NULL) {
		*why = "the city view is off in the configuration";
		return -1;
	}
	/* Every search that fails is counted, here or in lookup_finish. */
	if (nearby_start(c, q, cb, ud, why) != 0) {
		c->nearby_failed++;
		return -1;
	}
	return 0;
}

/* Reads the cached copy again: the facilities around this one. */
static void
on_refresh(uv_timer_t *t)
{
	struct cityredis *c = t->data;
	struct lookup *l;

	if (c->refreshing || c->shutting_down || !redisconn_ready(c->rc))
		return;
	if (!c->near_full && (c->lot_full_ms == 0 ||
	    uv_now(c->s->loop) - c->lot_full_ms > WANTED_MS))
		return;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return;
	l->c = c;
	l->for_view = 1;
	l->limit = CITY_VIEW_MAX;
	jw_init(&l->out);
	city_view_clear(c->next);
	if (lookup_start(l, c->lat_e7, c->lon_e7, VIEW_RADIUS_M, CITY_VIEW_MAX) == 0)
		c->refreshing = 1;
}

void
cityredis_alternatives(struct cityredis *c, int cls, struct jw *edata)
{
	uint64_t now;

	if (c == NULL || c->rc == NULL || !c->publishing || c->closed)
		return;
	now = uv_now(c->s->loop);
	/*
	 * Wanted: keep the copy fresh from now on.  Not read here (a gate
	 * never waits on Redis): a stale copy is read again from the loop.
	 */
	if (c->lot_full_ms == 0 || now - c->lot_full_ms > WANTED_MS ||
	    c->view_ms == 0 || now - c->view_ms > CITY_VIEW_FRESH_MS)
		uv_timer_start(&c->refresh, on_refresh, 0, CITY_VIEW_REFRESH_MS);
	c->lot_full_ms = now;
	if (c->view_ms == 0 || now - c->view_ms > CITY_VIEW_FRESH_MS) {
		c->no_alternatives++;
		return;
	}
	c->alternatives++;
	city_view_alternatives(c->view, cls, c->slug, ALTERNATIVES_MAX, edata);
}

/* ---- the connection ---- */

static void
on_ready(void *ud)
{
	struct cityredis *c = ud;

	log_info("connected to Redis redis=%s:%d%s%s",
	    settings_city_redis(c->cfg)->host, settings_city_redis(c->cfg)->port,
	    c->publishing ?
	    " publishing_as=" : "", c->publishing ? c->slug : "");
	/* Redis may have lost what we wrote: the state of now, at once. */
	c->last_sent_ms = 0;
	cityredis_changed(c);
	if (c->publishing)
		on_refresh(&c->refresh);
}

static void
on_down(void *ud)
{
	struct cityredis *c = ud;

	/* The pending publish (if any) comes back NULL and marks dirty. */
	c->armed = 0;
	uv_timer_stop(&c->pub_timer);
}

/* ---- life cycle ---- */

struct cityredis *
cityredis_new(struct server *s)
{
	const struct settings *cfg = s->cfg;
	const struct endpoint *ep = settings_city_redis(cfg);
	const facility *f = garage_facility(s->g);
	struct cityredis *c = calloc(1, sizeof(*c));
	struct redisconn_cfg rcfg;
	struct redisconn_hooks hooks = { c, on_ready, on_down, NULL };

	if (c == NULL)
		return NULL;
	c->s = s;
	c->cfg = cfg;
	jw_init(&c->by_class);
	jw_init(&c->msg);
	if (!ep->enabled)
		return c;
	c->view = city_view_new(f);
	c->next = city_view_new(f);
	if (c->view == NULL || c->next == NULL)
		goto oom;
	if (facility_location_e7(f, &c->lat_e7, &c->lon_e7) == 0 &&
	    city_slug(facility_name(f), c->slug, sizeof(c->slug)) > 0)
		c->publishing = 1;
	else if (facility_location_e7(f, &c->lat_e7, &c->lon_e7) == 0)
		log_warn("facility.name is empty, not publishing");
	degrees(c->lat_e7, c->lat);
	degrees(c->lon_e7, c->lon);
	settings_endpoint_text(&cfg->listen, c->listen, sizeof(c->listen));
	snprintf(c->key_geo, sizeof(c->key_geo), "%sfacilities", cfg->city.prefix);
	snprintf(c->key_hash, sizeof(c->key_hash), "%sfacility:%s",
	    cfg->city.prefix, c->slug);
	snprintf(c->key_chan, sizeof(c->key_chan), "%savailability",
	    cfg->city.prefix);
	snprintf(c->ttl, sizeof(c->ttl), "%" PRId64, 3 * cfg->city.heartbeat_s);

	uv_timer_init(s->loop, &c->pub_timer);
	uv_timer_init(s->loop, &c->heartbeat);
	uv_timer_init(s->loop, &c->refresh);
	uv_timer_init(s->loop, &c->final_timer);
	c->pub_timer.data = c->heartbeat.data = c->refresh.data = c;
	c->final_timer.data = c;
	/* The city view never keeps the loop alive (the last publish does). */
	uv_unref((uv_handle_t *)&c->pub_timer);
	uv_unref((uv_handle_t *)&c->heartbeat);
	uv_unref((uv_handle_t *)&c->refresh);
	if (c->publishing) {
		restart_heartbeat(c);
		uv_timer_start(&c->refresh, on_refresh, CITY_VIEW_REFRESH_MS,
		    CITY_VIEW_REFRESH_MS);
	}
	rcfg = (struct redisconn_cfg){
		.name = "city",
		.ep = *ep,
		.password = settings_city_password(cfg),
		/*
		 * The replies asked for: EXEC's four, a GEOSEARCH of at most
		 * CITY_NEARBY_MAX_CANDIDATES [slug, distance] pairs, HMGET's
		 * fields (free_by_class: at most 256 classes).
		 */
		.lim = { .max_elements = CITY_NEARBY_MAX_CANDIDATES, .max_depth = 1,
		    .max_total = 1 + 3 * CITY_NEARBY_MAX_CANDIDATES,
		    .max_bytes = 1u << 20, .max_line = 64u << 10 },
		.connect_timeout_ms = CONNECT_TIMEOUT_MS,
		.reply_timeout_ms = REPLY_TIMEOUT_MS,
	};
	if ((c->rc = redisconn_new(s->loop, &rcfg, &hooks)) == NULL)
		goto oom_timers;
	return c;
oom_timers:
	/* Closed handles are freed with c after the loop: close them now. */
	c->closed = 1;
	uv_close((uv_handle_t *)&c->pub_timer, NULL);
	uv_close((uv_handle_t *)&c->heartbeat, NULL);
	uv_close((uv_handle_t *)&c->refresh, NULL);
	uv_close((uv_handle_t *)&c->final_timer, NULL);
	return c;
oom:
	cityredis_free(c);
	return NULL;
}

void
cityredis_health(const struct cityredis *c, struct jw *w)
{
	if (c == NULL || c->rc == NULL) {
		jw_kstr(w, "state", "off");
		return;
	}
	jw_kstr(w, "state", redisconn_state_name(redisconn_state(c->rc)));
	if (c->publishing)
		jw_kstr(w, "slug", c->slug);
	jw_kuint(w, "publishes", c->publishes);
	jw_kuint(w, "changes", c->marks);
	if (c->publishing)
		jw_kuint(w, "nearby", c->view_ms ? city_view_count(c->view) : 0);
	jw_kuint(w, "connects", redisconn_connects(c->rc));
	jw_kuint(w, "failures", redisconn_failures(c->rc));
	if (redisconn_last_error(c->rc)[0] != '\0')
		jw_kstr(w, "last_error", redisconn_last_error(c->rc));
}

void
cityredis_stats(const struct cityredis *c, struct cityredis_stats *st)
{
	uint64_t now;

	memset(st, 0, sizeof(*st));
	if (c == NULL || c->rc == NULL)
		return;
	now = uv_now(c->s->loop);
	st->on = 1;
	st->publishing = c->publishing;
	st->connected = redisconn_ready(c->rc);
	st->publishes = c->publishes;
	st->changes = c->marks;
	st->connects = redisconn_connects(c->rc);
	st->failures = redisconn_failures(c->rc);
	if (c->stored_ms != 0)
		st->stored_age_s = (double)(now - c->stored_ms) / 1000.0;
	if (c->view_ms != 0) {
		st->view_facilities = city_view_count(c->view);
		st->view_age_s = (double)(now - c->view_ms) / 1000.0;
	}
	st->nearby_ok = c->nearby_ok;
	st->nearby_failed = c->nearby_failed;
	st->alternatives = c->alternatives;
	st->no_alternatives = c->no_alternatives;
}

void
cityredis_shutdown(struct cityredis *c)
{
	if (c == NULL || c->rc == NULL || c->closed || c->shutting_down)
		return;
	c->shutting_down = 1;
	uv_timer_stop(&c->pub_timer);
	uv_timer_stop(&c->heartbeat);
	uv_timer_stop(&c->refresh);
	if (!c->publishing || !redisconn_ready(c->rc)) {
		cityredis_close(c);
		return;
	}
	/* Say "closed" (after the publish at Redis, if any), within a second. */
	if (!c->inflight) {
		c->final_sent = 1;
		publish(c, 1);
	}
	if (!c->inflight && c->final_sent) {
		cityredis_close(c);
		return;
	}
	uv_timer_start(&c->final_timer, on_final_timer, SHUTDOWN_MS, 0);
}

void
cityredis_close(struct cityredis *c)
{
	if (c == NULL || c->rc == NULL || c->closed)
		return;
	c->closed = 1;
	redisconn_close(c->rc);
	uv_close((uv_handle_t *)&c->pub_timer, NULL);
	uv_close((uv_handle_t *)&c->heartbeat, NULL);
	uv_close((uv_handle_t *)&c->refresh, NULL);
	uv_close((uv_handle_t *)&c->final_timer, NULL);
}

void
cityredis_free(struct cityredis *c)
{
	if (c == NULL)
		return;
	redisconn_free(c->rc);
	city_view_free(c->view);
	city_view_free(c->next);
	jw_release(&c->by_class);
	jw_release(&c->msg);
	free(c);
}
