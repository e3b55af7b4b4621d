"""Many facilities on one Redis: the city view (city.md; protocol.md
`nearby` and lot_full's data.alternatives).

Three parkd processes (Alpha, Bravo, Charlie, a few hundred metres apart
in Berlin) and one redis-server on free ports.  Alpha and Bravo have no
spot a bus fits (no oversized spot, no run of five regular ones); Charlie
has two.  The tests read what parkd published with a tiny RESP client and
check it against the contract: the geo set, the hashes and their TTL, the
pub/sub channel, nearby (order, distances against Redis's own GEODIST,
classes, staleness), lot_full's alternatives, a killed parkd dropping out,
Redis stopped and back, and the README's consumer-group example.
"""
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import time

from harness import (ROOT, TIME_RE, Daemon, assert_error, check_config, demo_config,
                     free_port, http_request, metrics, until)
from test_metrics import promtool
from redisutil import RedisServer, Resp

PREFIX = "city:"
PUBLISH_MS = 300
HEARTBEAT_S = 1
# Slack on top of what the contract allows, for two shared cores and ASan.
SLACK_S = 1.0
# No gate may wait on Redis: an entry or exit is answered well within this.
MAX_REQUEST_S = 0.5

LOCATIONS = {
    "alpha": (52.5200, 13.4050),
    "bravo": (52.5250, 13.4100),
    "charlie": (52.5300, 13.4200),
}
ROWS = {
    # motorcycle 5, car 4, van 4, bus 0
    "alpha": [("M", "compact", 1), ("A", "regular", 4)],
    # motorcycle 6, car 4, van 4, bus 0
    "bravo": [("M", "compact", 2), ("A", "regular", 4)],
    # motorcycle 6, car 6, van 6, bus 2
    "charlie": [("A", "regular", 4), ("C", "oversized", 2)],
}
HASH_FIELDS = {"name", "lat", "lon", "free", "total", "free_by_class", "state",
               "updated_at", "listen"}
ENTRY_FIELDS = {"name", "slug", "distance_m", "free", "free_for_class", "state",
                "updated_at"}


def facility_cfg(slug, redis, **city):
    """A small facility called slug.title() at its location, with the
    default vehicle classes, audit and the city view on redis."""
    cfg = demo_config()
    lat, lon = LOCATIONS[slug]
    cfg["facility"]["name"] = slug.title()
    cfg["facility"]["location"] = {"lat": lat, "lon": lon}
    cfg["facility"]["gates"] = [
        {"id": "north", "role": "entry", "level": 0, "x": 0, "y": 0},
        {"id": "south", "role": "exit", "level": 0, "x": 100, "y": 0},
    ]
    cfg["facility"]["rows"] = [
        {"level": 0, "zone": z, "type": t, "count": n, "x": 5, "y": 10 * i, "dx": 3, "dy": 0}
        for i, (z, t, n) in enumerate(ROWS[slug])]
    cfg["vehicles"] = None
    cfg["audit"] = {"redis": redis.address, "prefix": "parkd:%s:" % slug}
    c = {"publish_ms": PUBLISH_MS, "heartbeat_s": HEARTBEAT_S}
    c.update(city)
    cfg["city"] = c
    cfg.setdefault("limits", {})["rate_per_s"] = 0
    return cfg


def city_metrics(d):
    """The parkd_city_* samples of d's /metrics (the exposition checked
    by promtool)."""
    code, body = http_request(d.http_port, "/metrics")
    assert code == 200, (code, body)
    promtool(body)
    return {k: v for k, v in metrics(d.http_port).items() if k.startswith("parkd_city_")}


class City:
    """redis-server and the three parkd; closes them all."""

    def __init__(self, **city):
        self.redis = RedisServer().start()
        self.d = {}
        try:
            for slug in LOCATIONS:
                d = Daemon(facility_cfg(slug, self.redis, **city))
                d.http_port = free_port()
                d.cfg["http_listen"] = "127.0.0.1:%d" % d.http_port
                with open(d.path, "w") as f:
                    json.dump(d.cfg, f)
                self.d[slug] = d.start()
        except BaseException:
            self.close()
            raise

    def r(self):
        return self.redis.client()

    def close(self):
        try:
            for d in self.d.values():
                d.close()
        finally:
            self.redis.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_for(pred, timeout, what):
    """Polls pred() until it returns something true; returns that."""
    return until(pred, timeout, every=0.02, what=what)


def hash_of(r, slug):
    flat = r.command("HGETALL", PREFIX + "facility:" + slug)
    return dict(zip(flat[::2], flat[1::2]))


def nearby(c, **params):
    resp = c.call("nearby", **params)
    assert "result" in resp, resp
    for f in resp["result"]["facilities"]:
        assert set(f) == ENTRY_FIELDS, f
        assert TIME_RE.match(f["updated_at"]), f
    return resp["result"]["facilities"]


def slugs(facilities):
    return [f["slug"] for f in facilities]


def timed(c, method, **params):
    t0 = time.time()
    resp = c.call(method, **params)
    return resp, time.time() - t0


def fill_alpha(c):
    """Alpha's four regular spots to cars, its compact one to a motorcycle."""
    for i in range(4):
        c.ok("entry", gate="north", plate="A CAR %d" % i, **{"class": "car"})
    c.ok("entry", gate="north", plate="A MOTO", **{"class": "motorcycle"})
    return time.time()


def test_publish_nearby_lot_full_and_a_killed_parkd():
    with City() as city:
        r = city.r()
        # The geo set and every hash, as the contract lists them.
        wait_for(lambda: r.command("ZCARD", PREFIX + "facilities") == 3, 10, "geo set")
        for slug, (lat, lon) in LOCATIONS.items():
            h = wait_for(lambda s=slug: hash_of(r, s), 10, "hash of " + slug)
            assert set(h) == HASH_FIELDS, h
            assert h["name"] == slug.title(), h
            assert abs(float(h["lat"]) - lat) < 1e-7 and abs(float(h["lon"]) - lon) < 1e-7, h
            assert h["state"] == "open", h
            assert TIME_RE.match(h["updated_at"]), h
            assert h["listen"] == "127.0.0.1:%d" % city.d[slug].port, h
            assert int(h["free"]) == int(h["total"]) == sum(n for _, _, n in ROWS[slug]), h
            ttl = r.command("TTL", PREFIX + "facility:" + slug)
            assert 0 < ttl <= 3 * HEARTBEAT_S, ttl
            pos = r.command("GEOPOS", PREFIX + "facilities", slug)[0]
            assert abs(float(pos[0]) - lon) < 1e-5 and abs(float(pos[1]) - lat) < 1e-5, pos
        by_class = {s: json.loads(hash_of(r, s)["free_by_class"]) for s in LOCATIONS}
        assert by_class["alpha"] == {"motorcycle": 5, "car": 4, "van": 4, "bus": 0}, by_class
        assert by_class["bravo"] == {"motorcycle": 6, "car": 4, "van": 4, "bus": 0}, by_class
        assert by_class["charlie"] == {"motorcycle": 6, "car": 6, "van": 6, "bus": 2}, by_class

        # The channel carries the hash's content on every publish.
        sub = Resp(city.redis.port)
        sub.sock.sendall(Resp.encode(["SUBSCRIBE", PREFIX + "availability"]))
        assert sub._reply()[0] == "subscribe"
        a = city.d["alpha"].client()
        b = city.d["bravo"].client()
        b.ok("entry", gate="north", plate="B 1", **{"class": "car"})
        while True:
            kind, chan, payload = sub._reply()
            msg = json.loads(payload)
            if msg["slug"] == "bravo" and msg["free"] == 5:
                break
        h = hash_of(r, "bravo")
        assert msg["free_by_class"] == json.loads(h["free_by_class"]), (msg, h)
        for k in ("name", "state", "updated_at", "listen"):
            assert msg[k] == h[k], (k, msg, h)
        assert msg["total"] == int(h["total"]) and msg["lat"] == float(h["lat"]), (msg, h)
        sub.close()

        # nearby from Alpha: every facility with room, nearest first, at
        # the distances Redis itself measures.
        near = nearby(a)
        assert slugs(near) == ["alpha", "bravo", "charlie"], near
        for f in near:
            geodist = float(r.command("GEODIST", PREFIX + "facilities", "alpha", f["slug"], "m"))
            assert abs(f["distance_m"] - geodist) < 1.0, (f, geodist)
            assert f["name"] == f["slug"].title() and f["state"] == "open", f
        assert near[1]["free"] == 5 and near[1]["free_for_class"] == 5, near
        # Class-aware: a bus is not sent where no spot takes one.
        assert slugs(nearby(a, **{"class": "bus"})) == ["charlie"]
        assert nearby(a, **{"class": "bus"})[0]["free_for_class"] == 2
        assert nearby(a, **{"class": "tram"}) == []
        assert slugs(nearby(a, limit=1)) == ["alpha"]
        assert slugs(nearby(a, radius_m=1000)) == ["alpha", "bravo"]
        # Any point, any role that is authenticated.
        lat, lon = LOCATIONS["charlie"]
        assert slugs(nearby(b, lat=lat, lon=lon)) == ["charlie", "bravo", "alpha"]

        # Filling Alpha turns it full, free 0, within publish_ms.
        filled = fill_alpha(a)
        h = wait_for(lambda: (lambda h: h if h["state"] == "full" else None)(hash_of(r, "alpha")),
                     PUBLISH_MS / 1000.0 + SLACK_S, "alpha full")
        took = time.time() - filled
        assert h["free"] == "0", h
        assert json.loads(h["free_by_class"]) == {"motorcycle": 0, "car": 0, "van": 0, "bus": 0}, h
        print("  alpha full in Redis %.0f ms after the entry that filled it (publish_ms %d)"
              % (took * 1000, PUBLISH_MS))
        # ... and drops out of nearby, even its own.
        assert slugs(nearby(a)) == ["bravo", "charlie"]

        # A full gate names the alternatives (from the cached copy).
        def alternatives(cls):
            resp = a.call("entry", gate="north", plate="A LATE", **{"class": cls})
            assert_error(resp, "lot_full")
            return resp["error"]["data"].get("alternatives")
        alt = wait_for(lambda: alternatives("car"), 5, "alternatives")
        assert slugs(alt) == ["bravo", "charlie"], alt
        for f in alt:
            assert set(f) == ENTRY_FIELDS, f
        assert alt[0]["free_for_class"] == 3 and alt[1]["free_for_class"] == 6, alt
        assert abs(alt[0]["distance_m"] - near[1]["distance_m"]) < 0.01, (alt, near)
        assert slugs(alternatives("bus")) == ["charlie"]
        # What /metrics says of it all, on Alpha.
        m = city_metrics(city.d["alpha"])
        assert m["parkd_city_connected"] == 1 and m["parkd_city_publishing"] == 1, m
        assert m["parkd_city_publishes_total"] >= 2, m      # open, then full
        assert m["parkd_city_changes_total"] >= 4, m        # the entries that filled it
        assert 0 <= m["parkd_city_last_publish_age_seconds"] < HEARTBEAT_S + SLACK_S, m
        assert m["parkd_city_view_facilities"] >= 2, m
        assert 0 < m["parkd_city_view_age_seconds"] <= 5, m
        assert m['parkd_city_nearby_total{result="ok"}'] == 7, m
        assert m['parkd_city_nearby_total{result="failed"}'] == 0, m
        assert m['parkd_city_lot_full_total{alternatives="offered"}'] >= 2, m
        assert m["parkd_city_failures_total"] == 0 and m["parkd_city_connects_total"] >= 1, m

        # Charlie's parkd is killed: it drops out once its TTL has passed.
        city.d["charlie"].stop(signal.SIGKILL)
        killed = time.time()
        wait_for(lambda: "charlie" not in slugs(nearby(a, radius_m=5000)),
                 3 * HEARTBEAT_S + SLACK_S, "charlie gone")
        print("  charlie out of nearby %.1f s after kill -9 (TTL %d s)"
              % (time.time() - killed, 3 * HEARTBEAT_S))
        wait_for(lambda: not r.command("EXISTS", PREFIX + "facility:charlie"),
                 3 * HEARTBEAT_S + SLACK_S, "charlie's hash expired")
        assert slugs(nearby(b, **{"class": "bus"})) == []
        wait_for(lambda: slugs(alternatives("car")) == ["bravo"], 5, "alternatives without charlie")
        r.close()
        a.close()
        b.close()
        # A clean stop says "closed" before it goes.
        city.d["bravo"].stop()
        with city.r() as r2:
            assert hash_of(r2, "bravo")["state"] == "closed"
test_publish_nearby_lot_full_and_a_killed_parkd.timeout = 120


def test_redis_stopped_and_back():
    with City() as city:
        r = city.r()
        wait_for(lambda: all(hash_of(r, s) for s in LOCATIONS), 10, "hashes")
        a = city.d["alpha"].client()
        b = city.d["bravo"].client()
        fill_alpha(a)

        def alternatives():
            resp = a.call("entry", gate="north", plate="A LATE", **{"class": "car"})
            assert_error(resp, "lot_full")
            return resp["error"]["data"].get("alternatives")
        wait_for(lambda: alternatives() is not None and len(alternatives()) == 2, 5,
                 "alternatives")

        def pairs(tag, n=30):
            lat = []
            for i in range(n):
                resp, dt = timed(b, "entry", gate="north", plate="%s %d" % (tag, i),
                                 **{"class": "car"})
                assert "result" in resp, resp
                lat.append(dt)
                resp, dt = timed(b, "exit", gate="south", plate="%s %d" % (tag, i))
                assert "result" in resp, resp
                lat.append(dt)
            return lat
        up = pairs("UP")
        city.redis.stop()
        stopped = time.time()
        # Gates go on as before: no request waits on Redis.
        down = pairs("DOWN")
        print("  entry/exit latency with Redis up: median %.2f ms, max %.2f ms; "
              "stopped: median %.2f ms, max %.2f ms"
              % (statistics.median(up) * 1e3, max(up) * 1e3,
                 statistics.median(down) * 1e3, max(down) * 1e3))
        assert max(down) < MAX_REQUEST_S, max(down)
        # nearby cannot be answered.
        resp = a.call("nearby")
        assert_error(resp, "unavailable")
        assert "city view unavailable" in resp["error"]["message"], resp
        # lot_full still answers at once, and leaves the alternatives out
        # once the cached copy is older than 5 s.
        resp, dt = timed(a, "entry", gate="north", plate="A LATE", **{"class": "car"})
        assert_error(resp, "lot_full")
        assert dt < MAX_REQUEST_S, dt
        wait_for(lambda: alternatives() is None, 5 + 2 + SLACK_S, "alternatives left out")
        print("  alternatives left out %.1f s after Redis stopped" % (time.time() - stopped))
        # (health is degraded by audit, which shares this Redis, not by the city.)
        health = a.ok("health")
        assert health["city"]["state"] != "connected", health
        assert "Connection refused" in health["city"]["last_error"], health
        m = city_metrics(city.d["alpha"])
        assert m["parkd_city_connected"] == 0 and m["parkd_city_failures_total"] >= 1, m
        assert m['parkd_city_nearby_total{result="failed"}'] >= 1, m
        assert m['parkd_city_lot_full_total{alternatives="none_fresh"}'] >= 1, m
        assert m["parkd_city_view_age_seconds"] > 5, m
        # The last publish may have followed the last read of the view by
        # up to publish_ms (the changes just before the stop): its age
        # passes 5 s a moment later, and keeps growing.
        wait_for(lambda: city_metrics(city.d["alpha"])[
            "parkd_city_last_publish_age_seconds"] > 5, 1 + SLACK_S,
            "no publish for 5 s")
        # Meanwhile Alpha changes: a car leaves.
        a.ok("exit", gate="south", plate="A CAR 0")
        # Redis back (empty): the newest state is published.
        city.redis.start()
        r = city.r()
        h = wait_for(lambda: hash_of(r, "alpha"), 15, "alpha published again")
        assert h["free"] == "1" and h["state"] == "open", h
        assert json.loads(h["free_by_class"])["car"] == 1, h
        wait_for(lambda: all(hash_of(r, s) for s in LOCATIONS), 15, "every hash again")
        assert r.command("ZCARD", PREFIX + "facilities") == 3
        assert slugs(nearby(b, radius_m=5000)) == ["bravo", "alpha", "charlie"]
        r.close()
        a.close()
        b.close()
test_redis_stopped_and_back.timeout = 120


def test_redis_hung():
    """Redis accepts and never answers (SIGSTOP): gates as fast as ever,
    nearby answered unavailable once its deadline passes, and all is well
    again when Redis wakes."""
    with City() as city:
        r = city.r()
        wait_for(lambda: all(hash_of(r, s) for s in LOCATIONS), 10, "hashes")
        r.close()
        a = city.d["alpha"].client()
        b = city.d["bravo"].client()
        city.redis.pause()
        worst = 0.0
        for i in range(20):
            for method, params in (("entry", {"gate": "north", "class": "car"}),
                                   ("exit", {"gate": "south"})):
                resp, dt = timed(b, method, plate="HUNG %d" % i, **params)
                assert "result" in resp, resp
                worst = max(worst, dt)
        assert worst < MAX_REQUEST_S, worst
        resp, dt = timed(a, "nearby")
        assert_error(resp, "unavailable")
        # The deadline on replies is 2 s (after a connect that may hang 2 s).
        assert dt < 4 + SLACK_S, dt
        print("  Redis hung: gates at most %.1f ms; nearby unavailable after %.1f s"
              % (worst * 1e3, dt))
        city.redis.resume()
        found = wait_for(lambda: (lambda r_: "result" in r_ and slugs(r_["result"]["facilities"]))(
            a.call("nearby")), 15, "nearby again")
        assert found == ["alpha", "bravo", "charlie"], found
        a.close()
        b.close()
test_redis_hung.timeout = 90


BILLING = os.path.join(ROOT, "scripts", "city-billing.sh")


def readme_shows_billing():
    """The README shows scripts/city-billing.sh as it is, as a code block."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    with open(BILLING) as f:
        script = f.read().rstrip("\n")
    block = "\n".join(("    " + line) if line else "" for line in script.split("\n"))
    assert block in readme, "README.md does not show scripts/city-billing.sh as it is"


def run_billing(redis, streams, consumer):
    env = dict(os.environ, REDIS=redis.address, STREAMS=" ".join(streams),
               CONSUMER=consumer)
    return subprocess.Popen(["sh", BILLING], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def billed(procs):
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=60)
        assert p.returncode == 0, (p.returncode, stderr)
        for line in stdout.decode().splitlines():
            stream, event = line.split(" ", 1)
            out.append((stream, json.loads(event)["id"]))
    return out


def stream_ids(r, stream):
    return [(stream, json.loads(dict(zip(f[::2], f[1::2]))["event"])["id"])
            for _, f in r.command("XRANGE", stream, "-", "+")]


def wait_shipped(c):
    wait_for(lambda: (lambda h: h["audit"]["pending"] == 0 and
                      h["audit"]["state"] == "connected")(c.ok("health")), 20, "shipped")


def test_billing_consumer_group_reads_every_event_once():
    readme_shows_billing()
    redis = RedisServer().start()
    daemons = []
    try:
        for slug in ("alpha", "bravo"):
            daemons.append(Daemon(facility_cfg(slug, redis)).start())
        streams = ["parkd:alpha:events", "parkd:bravo:events"]
        clients = [d.client() for d in daemons]

        def traffic(tag, n):
            for k, c in enumerate(clients):
                for i in range(n):
                    plate = "%s %d %d" % (tag, k, i)
                    c.ok("entry", gate="north", plate=plate, **{"class": "motorcycle"})
                    c.ok("exit", gate="south", plate=plate)
            for c in clients:
                wait_shipped(c)
        traffic("FIRST", 60)
        with redis.client() as r:
            want = stream_ids(r, streams[0]) + stream_ids(r, streams[1])
        # Each facility's first event is its tariff (version 1) at start.
        assert len(want) == 2 * 2 * 60 + 2, len(want)
        # Two consumers of one group share the work: every event once.
        got = billed([run_billing(redis, streams, "w1"), run_billing(redis, streams, "w2")])
        assert len(got) == len(set(got)), "an event was billed twice"
        assert sorted(got) == sorted(want)
        # Nothing is left: run again, nothing is billed, nothing pending.
        assert billed([run_billing(redis, streams, "w1")]) == []
        with redis.client() as r:
            for s in streams:
                assert r.command("XPENDING", s, "billing")[0] == 0
        # New events: exactly those, in each stream's order.
        traffic("MORE", 5)
        got = billed([run_billing(redis, streams, "w2")])
        with redis.client() as r:
            fresh = [x for x in stream_ids(r, streams[0]) + stream_ids(r, streams[1])
                     if x not in set(want)]
        assert got == fresh, (got, fresh)
        for c in clients:
            c.close()
    finally:
        for d in daemons:
            d.close()
        redis.close()
test_billing_consumer_group_reads_every_event_once.timeout = 120


def test_demo_configs_and_city_off():
    for name in ("nord", "mitte", "sued"):
        with open(os.path.join(ROOT, "conf", "city", name + ".json")) as f:
            cfg = json.load(f)
        rc, out = check_config(cfg)
        assert rc == 0, out
        assert cfg["facility"]["location"], cfg
    rc, out = check_config(dict(demo_config(), city={"publish_ms": 1}))
    assert rc != 0 and "city.publish_ms: must be between 10 and 3600000" in out, out
    cfg = demo_config()
    cfg["facility"]["location"] = {"lat": 95, "lon": 0}
    rc, out = check_config(cfg)
    assert rc != 0 and "facility.location.lat: must be between" in out, out

    # Off (audit.redis is null, and the city view follows it).
    with Daemon() as d:
        c = d.client()
        assert c.ok("health")["city"] == {"state": "off"}
        resp = c.call("nearby", lat=52.5, lon=13.4)
        assert_error(resp, "unavailable")
        assert "off in the configuration" in resp["error"]["message"], resp
        # The demo facility has no location: a point is needed.
        assert_error(c.call("nearby"), "invalid_params")
        c.close()
    # On, without a location: publishes nothing, reads the others.
    with RedisServer() as redis:
        with Daemon(facility_cfg("alpha", redis)) as da:
            cfg = demo_config()
            cfg["audit"] = {"redis": redis.address}
            with Daemon(cfg) as d:
                c = d.client()
                lat, lon = LOCATIONS["alpha"]
                found = wait_for(lambda: nearby(c, lat=lat, lon=lon), 10, "alpha seen")
                assert slugs(found) == ["alpha"], found
                h = c.ok("health")["city"]
                assert h["state"] == "connected" and "slug" not in h, h
                with redis.client() as r:
                    assert r.command("ZCARD", PREFIX + "facilities") == 1
                c.close()

