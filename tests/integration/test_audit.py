"""Audit shipping to Redis (protocol.md section 8; `history` and `health`
of section 5).

Every test starts its own redis-server on a free port (redisutil.py; with
--appendonly yes where Redis must survive its own restart) and stops it by
its pid, and runs the real parkd with audit.redis pointing there.  What
Redis holds is read back with a tiny RESP client and checked against the
contract: each event stored once under P audit:ID, its ref count, the
subject lists (oldest first, trimmed to subject_maxlen), the subjects set
and the events stream (one entry per event, in order).

The failure tests kill Redis, hang it with SIGSTOP, give parkd a wrong
password and kill -9 parkd itself, and check that gates keep getting fast
answers meanwhile and that afterwards every event is in Redis exactly once.
"""
import collections
import json
import os
import signal
import time

from harness import (kill9, UUID_RE, TIME_RE, Daemon, assert_error, assert_result,
                     at, demo_config, small_config)
from redisutil import AuditDump, RedisServer

CAR = {"class": "car"}
PREFIX = "parkd:"
# No request may take longer than this, whatever Redis does.
MAX_REQUEST_S = 2.0
# parkd reconnects with a backoff of at most 5 s plus a 2 s connect watchdog.
SHIP_TIMEOUT_S = 25


# ---------------------------------------------------------------------------
# Helpers.

def audit_cfg(redis, cfg=None, **audit):
    """The demo config (or cfg) with audit pointed at redis and the city
    view off; the per-connection rate limit is off (the tests send hundreds
    of lines)."""
    cfg = cfg if cfg is not None else demo_config()
    a = {"redis": redis.address if redis is not None else None, "prefix": PREFIX,
         "password": None, "subject_maxlen": 10000, "stream_maxlen": 1000000}
    a.update(audit)
    cfg["audit"] = a
    # Audit's connection alone (the city view would follow audit.redis):
    # the hostile and silent Redis tests count connections.
    cfg["city"] = None
    cfg.setdefault("limits", {})["rate_per_s"] = 0
    return cfg


def health(c):
    return c.ok("health")


def wait_shipped(c, timeout=SHIP_TIMEOUT_S, min_shipped_lsn=None):
    """Polls health until audit.pending is 0 (and the shipped LSN reached
    the journal's durable LSN); returns the last health."""
    deadline = time.time() + timeout
    h = None
    while time.time() < deadline:
        h = health(c)
        a = h["audit"]
        lsn = h["journal"].get("durable_lsn")
        if a["pending"] == 0 and a["state"] == "connected" and \
                (lsn is None or a.get("shipped_lsn", lsn) >= lsn) and \
                (min_shipped_lsn is None or a.get("shipped_lsn", 0) >= min_shipped_lsn):
            return h
        time.sleep(0.05)
    raise AssertionError("audit did not catch up within %ss: %r" % (timeout, h))


def wait_state(c, pred, timeout):
    """Polls health until pred(health.audit); returns that health."""
    deadline = time.time() + timeout
    while True:
        h = health(c)
        if pred(h["audit"]):
            return h
        assert time.time() < deadline, "audit state not reached within %ss: %r" % (timeout, h)
        time.sleep(0.05)


def timed_call(c, _method, **params):
    """A call that must be answered (result) within MAX_REQUEST_S; returns
    (result, seconds)."""
    t0 = time.time()
    rid = c.request(_method, params)
    resp = c.read_json()
    dt = time.time() - t0
    assert resp.get("id") == rid and "result" in resp, (_method, params, resp)
    r = resp["result"]
    assert dt < MAX_REQUEST_S, "%s took %.2fs" % (_method, dt)
    return r, dt


# A new data directory journals the tariff in force first (version 1).
START = [("tariff.changed", None)]


class Tracker:
    """The events of a daemon on a new data directory, in order: [(type,
    key)] where key is the ticket (vehicle.*, payment.recorded, ticket.lost),
    the spot (spot.status.changed) or the strategy (strategy.changed); the
    start's tariff record first."""

    def __init__(self):
        self.expected = list(START)
        self.slowest = 0.0

    def _t(self, c, _method, **params):
        r, dt = timed_call(c, _method, **params)
        self.slowest = max(self.slowest, dt)
        return r

    def entry(self, c, plate, gate="north", **kw):
        r = self._t(c, "entry", gate=gate, plate=plate, **CAR, **kw)
        self.expected.append(("vehicle.entered", r["ticket"]))
        return r

    def exit(self, c, ticket, gate="south", **kw):
        r = self._t(c, "exit", gate=gate, ticket=ticket, **kw)
        self.expected.append(("vehicle.exited", ticket))
        return r

    def pair(self, c, plate):
        t = self.entry(c, plate)["ticket"]
        self.exit(c, t)
        return t

    def pairs(self, c, n, tag):
        return [self.pair(c, "%s %d" % (tag, i)) for i in range(n)]

    def pay(self, c, ticket, amount, **kw):
        r = self._t(c, "pay", ticket=ticket, amount=amount, **kw)
        self.expected.append(("payment.recorded", ticket))
        return r

    def lost(self, c, plate):
        r = self._t(c, "lost", plate=plate)
        self.expected.append(("ticket.lost", r["ticket"]))
        return r

    def spot(self, c, spot, state):
        r = self._t(c, "spot", id=spot, state=state)
        self.expected.append(("spot.status.changed", spot))
        return r

    def strategy(self, c, name):
        r = self._t(c, "strategy", set=name)
        self.expected.append(("strategy.changed", name))
        return r


def event_key(ev):
    d = ev["data"]
    if ev["type"] == "spot.status.changed":
        return d.get("spot")
    if ev["type"] == "strategy.changed":
        return d.get("strategy")
    return d.get("ticket")


def stream_events(dump):
    return [json.loads(e) for _, e, _ in dump.stream]


def check_store(dump, n_events=None, smax=None, full_stream=True):
    """The contract's invariants over everything stored under the prefix.

    full_stream: the stream holds every event ever shipped (not trimmed);
    then the subject lists must be exactly the newest smax ids of each
    subject in stream order, and an event is stored iff a list holds it.
    Returns the parsed stream events."""
    evs = stream_events(dump)
    ids = [e["id"] for e in evs]
    # The stream: one entry per event, with the one field `event`.
    for eid, text, fields in dump.stream:
        assert fields[0::2] == ["event"], "stream entry %s has fields %r" % (eid, fields[0::2])
    dups = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
    assert not dups, "events stored twice in the stream: %d ids, %d distinct, e.g. %s" % (
        len(ids), len(set(ids)), dups[:3])
    if n_events is not None:
        assert len(ids) == n_events, "stream holds %d events, want %d" % (len(ids), n_events)
    # No subject list holds an id twice.
    for s, lst in dump.lists.items():
        assert len(lst) == len(set(lst)), "subject %s holds an id twice: %r" % (s, lst)
        if smax is not None:
            assert len(lst) <= smax, "subject %s holds %d > %d ids" % (s, len(lst), smax)
    # Ref counts: how many lists hold the event; every listed event is stored.
    holders = {}
    for s, lst in dump.lists.items():
        for i in lst:
            holders[i] = holders.get(i, 0) + 1
    for i, n in holders.items():
        assert i in dump.events, "subject lists hold %s but %saudit:%s is gone" % (i, dump.prefix, i)
        assert dump.refs.get(i) == n, "%saudit:%s:ref is %r, %d lists hold it" % (
            dump.prefix, i, dump.refs.get(i), n)
    for i in dump.events:
        assert i in holders, "%saudit:%s is stored but no subject list holds it" % (dump.prefix, i)
    for i in dump.refs:
        assert i in dump.events, "%saudit:%s:ref without its event" % (dump.prefix, i)
    # Every subject named in a list is in the subjects set.
    assert set(dump.lists) <= dump.subjects, set(dump.lists) - dump.subjects
    if full_stream:
        want = {}
        for e in evs:
            for s in e["subjects"]:
                want.setdefault(s, []).append(e["id"])
        assert dump.subjects == set(want), (dump.subjects ^ set(want))
        for s, lst in want.items():
            exp = lst[-smax:] if smax else lst
            got = dump.lists.get(s, [])
            assert got == exp, "subject %s: list %r, want %r" % (s, got, exp)
        assert set(dump.lists) == {s for s in want if want[s]}
        stream_text = {json.loads(t)["id"]: t for _, t, _ in dump.stream}
        for i, text in dump.events.items():
            assert text == stream_text[i], "%saudit:%s differs from its stream entry" % (dump.prefix, i)
    return evs


def check_order(evs, expected):
    got = [(e["type"], event_key(e)) for e in evs]
    if got != expected:
        for k, (g, w) in enumerate(zip(got, expected)):
            if g != w:
                raise AssertionError("event %d of %d/%d is %r, want %r" % (k, len(got), len(expected), g, w))
        raise AssertionError("stream has %d events, want %d" % (len(got), len(expected)))


def dump_of(rs, prefix=PREFIX):
    with rs.client() as r:
        return AuditDump(r, prefix)


# ---------------------------------------------------------------------------
# 1. Key layout and contents.

def test_key_layout_and_contents():
    with RedisServer() as rs, Daemon(audit_cfg(rs)) as d:
        c = d.client()
        tr = Tracker()
        a = tr.entry(c, "ab 1")
        b = tr.entry(c, "CD-2")
        # Pay for two hours, then leave within the grace period.
        later = a["entered_at"]
        q = c.ok("quote", ticket=a["ticket"], at=at(later, hours=2))
        assert q["due"] > 0, q
        tr.pay(c, a["ticket"], q["due"], at=at(later, hours=2), method="card", reference="ref-1")
        tr.exit(c, a["ticket"], at=at(later, hours=2, minutes=1))
        lost = tr.lost(c, "CD-2")
        assert lost["ticket"] == b["ticket"], lost
        tr.pay(c, b["ticket"], lost["due"])
        tr.exit(c, b["ticket"])
        tr.spot(c, "D-05", "out_of_service")
        tr.spot(c, "D-05", "in_service")
        tr.strategy(c, "farthest")

        # Personal data given to the registry must never reach the audit log.
        name, phone = "Erika Mustermann", "+49 170 5550123"
        reg = c.call("vehicle_register", plate="EF 3", contact_name=name, phone=phone)
        if "result" in reg:
            tr.expected.append(("vehicle.registered", None))

        h = wait_shipped(c)
        assert h["status"] == "ok", h
        assert h["audit"]["shipped_lsn"] == h["journal"]["lsn"], h
        dump = dump_of(rs)
        evs = check_store(dump, len(tr.expected))

        # Types of the keys.
        for i in dump.events:
            assert dump.types[PREFIX + "audit:" + i] == "string"
            assert dump.types[PREFIX + "audit:" + i + ":ref"] == "string"
        for s in dump.lists:
            assert dump.types[PREFIX + "subject:" + s] == "list"
        assert dump.types[PREFIX + "subjects"] == "set"
        assert dump.types[PREFIX + "events"] == "stream"

        # The event JSON.
        for e in evs:
            # epoch: which primary wrote it (standby.md); 1 until a promotion.
            assert set(e) == {"id", "ts", "type", "subjects", "data", "epoch"}, e
            assert e["epoch"] == 1, e
            assert UUID_RE.match(e["id"]), e
            assert TIME_RE.match(e["ts"]), e
            assert isinstance(e["subjects"], list) and e["subjects"], e
            assert all(isinstance(s, str) and ":" in s for s in e["subjects"]), e
            assert isinstance(e["data"], dict), e
            assert len(set(e["subjects"])) == len(e["subjects"]), e
            assert dump.refs[e["id"]] == len(e["subjects"]), (dump.refs[e["id"]], e)
        reg_events = [e for e in evs if e["type"] == "vehicle.registered"]
        evs_core = [e for e in evs if e["type"] != "vehicle.registered"]
        check_order(evs_core, [x for x in tr.expected if x[0] != "vehicle.registered"])

        by_type = {}
        for e in evs:
            by_type.setdefault(e["type"], []).append(e)
        ta, tb = a["ticket"], b["ticket"]
        sa, sb = a["spots"][0]["id"], b["spots"][0]["id"]
        e1, e2 = by_type["vehicle.entered"]
        assert set(e1["subjects"]) == {"vehicle:AB 1", "ticket:" + ta, "spot:" + sa, "gate:north"}, e1
        assert set(e2["subjects"]) == {"vehicle:CD-2", "ticket:" + tb, "spot:" + sb, "gate:north"}, e2
        assert e1["data"]["plate"] == "AB 1" and e1["data"]["ticket"] == ta, e1
        x1, x2 = by_type["vehicle.exited"]
        assert {"vehicle:AB 1", "ticket:" + ta, "gate:south"} <= set(x1["subjects"]), x1
        assert {"vehicle:CD-2", "ticket:" + tb, "gate:south"} <= set(x2["subjects"]), x2
        p1, p2 = by_type["payment.recorded"]
        assert {"vehicle:AB 1", "ticket:" + ta} <= set(p1["subjects"]), p1
        assert {"vehicle:CD-2", "ticket:" + tb} <= set(p2["subjects"]), p2
        assert p1["data"]["payment"]["amount"] == q["due"], p1
        assert p2["data"]["payment"]["amount"] == lost["due"], p2
        (l1,) = by_type["ticket.lost"]
        assert {"vehicle:CD-2", "ticket:" + tb} <= set(l1["subjects"]), l1
        s1, s2 = by_type["spot.status.changed"]
        assert "spot:D-05" in s1["subjects"] and "spot:D-05" in s2["subjects"], (s1, s2)
        assert s1["data"]["state"] == "out_of_service" and s2["data"]["state"] == "in_service", (s1, s2)
        (g1,) = by_type["strategy.changed"]
        assert g1["data"]["strategy"] == "farthest", g1

        # History of each subject (read via parkd) agrees with the lists.
        hist = c.ok("history", subject="vehicle:AB 1")
        assert hist["subject"] == "vehicle:AB 1", hist
        assert [e["id"] for e in hist["events"]] == dump.lists["vehicle:AB 1"], hist
        assert [e["type"] for e in hist["events"]] == \
            ["vehicle.entered", "payment.recorded", "vehicle.exited"], hist
        assert hist["events"][0] == e1, hist

        text = dump.all_text()
        for secret in (name, phone, "Mustermann", "5550123"):
            assert secret not in text, "%r appears in the audit log" % secret
        for e in reg_events:
            assert name not in json.dumps(e) and phone not in json.dumps(e), e
        c.close()


# ---------------------------------------------------------------------------
# 2. Redis down, then back.

def test_redis_down_backlog_shipped_once():
    with RedisServer(appendonly=True) as rs, Daemon(audit_cfg(rs)) as d:
        c = d.client()
        tr = Tracker()
        tr.pairs(c, 10, "UP")
        wait_shipped(c)
        # Killed while batches are in flight: a reply may be lost after
        # Redis stored the batch (appendfsync always keeps it).
        tr.pairs(c, 40, "BUSY")
        rs.stop(signal.SIGKILL)
        t0 = time.time()
        tr.pairs(c, 300, "DOWN")
        took = time.time() - t0
        assert tr.slowest < MAX_REQUEST_S, tr.slowest
        assert took < 30, "600 requests took %.1fs with Redis down" % took
        # (A batch in flight when Redis died is only noticed by the batch
        # deadline: see test_redis_killed_midbatch_noticed_promptly.)
        h = wait_state(c, lambda a: a["state"] != "connected", 8)
        assert h["audit"]["pending"] >= 600, h
        assert h["status"] == "degraded", h
        assert h["audit"]["pending"] == h["journal"]["durable_lsn"] - h["audit"]["shipped_lsn"], h
        # Still serving at once.
        timed_call(c, "status")

        rs.start()
        wait_shipped(c)
        dump = dump_of(rs)
        evs = check_store(dump, len(tr.expected))
        check_order(evs, tr.expected)
        assert health(c)["status"] == "ok"
        c.close()


test_redis_down_backlog_shipped_once.timeout = 90


def test_redis_killed_midbatch_noticed_promptly():
    """Redis dies (its socket is reset) while a batch is in flight: parkd
    should see the connection drop at once, not only when the batch
    deadline expires: health must not say connected/ok meanwhile, and
    history must answer unavailable without waiting for the deadline."""
    with RedisServer() as rs, Daemon(audit_cfg(rs)) as d:
        c = d.client()
        tr = Tracker()
        tr.pair(c, "MB 1")
        wait_shipped(c)
        # Hang Redis so that the next batch sits unread in its socket, then
        # kill it: the kernel resets the connection.
        rs.pause()
        tr.pairs(c, 5, "MB")
        time.sleep(0.2)
        h = health(c)
        assert h["audit"]["state"] == "connected" and h["audit"]["pending"] > 0, h
        t_kill = time.time()
        rs.stop(signal.SIGKILL)
        time.sleep(0.5)
        try:
            h = wait_state(c, lambda a: a["state"] != "connected", 1.0)
        except AssertionError as e:
            raise AssertionError("Redis was killed (connection reset) with a batch in flight; "
                                 "%.1fs later health still says: %s" % (time.time() - t_kill, e))
        assert h["status"] == "degraded", h
        t0 = time.time()
        r = c.call("history", subject="vehicle:MB 1")
        assert_error(r, "unavailable")
        assert time.time() - t0 < 1.0, "history took %.1fs with Redis dead" % (time.time() - t0)
        c.close()


# ---------------------------------------------------------------------------
# 3. Redis hung (SIGSTOP).

def test_redis_hung_gates_fast_then_shipped_once():
    with RedisServer() as rs, Daemon(audit_cfg(rs)) as d:
        c = d.client()
        tr = Tracker()
        tr.pairs(c, 5, "UP")
        wait_shipped(c)

        rs.pause()
        t_stop = time.time()
        tr.pairs(c, 200, "HUNG")
        assert tr.slowest < MAX_REQUEST_S, tr.slowest
        # Stay hung past parkd's batch deadline (5 s) so that a batch times
        # out while Redis holds it, and keep changing things meanwhile.
        k = 0
        while time.time() - t_stop < 7.5:
            tr.pair(c, "LATE %d" % k)
            k += 1
            _, dt = timed_call(c, "health")
            time.sleep(0.1)
        assert tr.slowest < MAX_REQUEST_S, tr.slowest
        h = health(c)
        assert h["audit"]["pending"] > 0, h

        rs.resume()
        wait_shipped(c)
        dump = dump_of(rs)
        evs = check_store(dump, len(tr.expected))
        check_order(evs, tr.expected)
        c.close()


test_redis_hung_gates_fast_then_shipped_once.timeout = 90


# ---------------------------------------------------------------------------
# 4. parkd killed -9 while Redis is down.

def test_parkd_killed_while_redis_down():
    # Snapshots every 50 records: the backlog spans snapshots.
    cfg = audit_cfg(None, demo_config(journal={"snapshot_every": 50}))
    with RedisServer(appendonly=True) as rs, \
            Daemon(audit_cfg(rs, cfg)) as d:
        c = d.client()
        tr = Tracker()
        tr.pairs(c, 20, "A")
        wait_shipped(c)
        rs.stop(signal.SIGKILL)
        tr.pairs(c, 100, "B")
        assert health(c)["audit"]["pending"] >= 200
        c.close()
        kill9(d)
        d.start()
        c = d.client()
        h = health(c)
        assert h["audit"]["state"] != "connected", h
        assert h["audit"]["pending"] >= 200, h
        tr.pairs(c, 20, "C")
        rs.start()
        wait_shipped(c)
        dump = dump_of(rs)
        evs = check_store(dump, len(tr.expected))
        check_order(evs, tr.expected)
        c.close()


test_parkd_killed_while_redis_down.timeout = 90


# ---------------------------------------------------------------------------
# 5. Trimming.

ONE_SPOT = [{"level": 0, "zone": "A", "type": "regular", "count": 1,
             "x": 5, "y": 10, "dx": 3, "dy": 0}]


def test_subject_lists_trimmed_and_refcounts():
    with RedisServer() as rs, \
            Daemon(audit_cfg(rs, small_config(ONE_SPOT), subject_maxlen=3)) as d:
        c = d.client()
        tr = Tracker()
        spot = None
        for i in range(5):
            # Four events on the ticket, all on one vehicle and one spot.
            e = tr.entry(c, "TRIM 1")
            spot = e["spots"][0]["id"]
            lost = tr.lost(c, "TRIM 1")
            tr.pay(c, e["ticket"], lost["due"])
            tr.exit(c, e["ticket"])
        for i in range(3):
            tr.spot(c, spot, "out_of_service")
            tr.spot(c, spot, "in_service")
        wait_shipped(c)
        dump = dump_of(rs)
        evs = check_store(dump, len(tr.expected), smax=3)
        check_order(evs, tr.expected)
        assert len(dump.lists["vehicle:TRIM 1"]) == 3
        assert len(dump.lists["spot:" + spot]) == 3
        # The spot's last three events are the last three toggles.
        assert [dump.parsed[i]["type"] for i in dump.lists["spot:" + spot]] == \
            ["spot.status.changed"] * 3
        # Held by no list any more, hence deleted: the first two entries
        # (their ticket, vehicle, spot and gate:north lists all moved on)
        # and the first three spot toggles.
        gone = [e["id"] for e in evs if e["id"] not in dump.events]
        assert len(gone) == 5, (len(gone), len(evs))
        for i in gone:
            assert i not in dump.refs, i
        k = len(START)
        assert evs[k]["id"] in gone and evs[k + 4]["id"] in gone, gone

        # history returns what the (trimmed) list holds, newest last.
        hist = c.ok("history", subject="vehicle:TRIM 1")
        assert [e["id"] for e in hist["events"]] == dump.lists["vehicle:TRIM 1"], hist
        assert [e["type"] for e in hist["events"]] == \
            ["ticket.lost", "payment.recorded", "vehicle.exited"], hist
        c.close()


def test_backlog_batches_share_subjects_and_trim_within():
    """A backlog ships in batches of many events that share subjects (one
    spot, two gates, three vehicles) and overflow subject_maxlen within the
    batch: the store groups a batch's commands by subject, and must leave
    what storing event by event would (check_store's model: each list the
    newest three ids of its subject, an event stored iff a list holds it,
    its ref the number of lists holding it)."""
    with RedisServer(appendonly=True) as rs, \
            Daemon(audit_cfg(rs, small_config(ONE_SPOT), subject_maxlen=3)) as d:
        c = d.client()
        tr = Tracker()
        wait_shipped(c)
        rs.stop(signal.SIGKILL)
        spot = None
        for i in range(30):
            e = tr.entry(c, "GROUP %d" % (i % 3))
            spot = e["spots"][0]["id"]
            tr.exit(c, e["ticket"])
            if i % 3 == 0:
                tr.spot(c, spot, "out_of_service")
                tr.spot(c, spot, "in_service")
        wait_state(c, lambda a: a["state"] != "connected", 8)
        rs.start()
        wait_shipped(c)
        dump = dump_of(rs)
        evs = check_store(dump, len(tr.expected), smax=3)
        check_order(evs, tr.expected)
        assert len(dump.lists["spot:" + spot]) == 3
        assert len(dump.lists["vehicle:GROUP 0"]) == 3
        # A spot toggle is held by the spot's list alone: all but the newest
        # were pushed, trimmed and deleted within the batches.
        gone = [e for e in evs if e["id"] not in dump.events]
        assert len(gone) >= 15 and all(e["type"] == "spot.status.changed" for e in gone), \
            [e["type"] for e in gone]
        with rs.client() as r:
            stats = r.command("INFO", "commandstats")
        # The 80 events of the backlog went in a few batches, not one each.
        evals = int(stats.split("cmdstat_eval:calls=")[1].split(",")[0])
        assert evals <= 10, stats
        c.close()


test_backlog_batches_share_subjects_and_trim_within.timeout = 90


def test_stream_trimmed_to_about_maxlen():
    maxlen = 20
    with RedisServer() as rs, Daemon(audit_cfg(rs, stream_maxlen=maxlen)) as d:
        c = d.client()
        tr = Tracker()
        tickets = tr.pairs(c, 150, "S")
        wait_shipped(c)
        with rs.client() as r:
            n = r.command("XLEN", PREFIX + "events")
            last = r.command("XREVRANGE", PREFIX + "events", "+", "-", "COUNT", 1)
        # MAXLEN ~ trims whole stream nodes (100 entries by default).
        assert maxlen <= n <= maxlen + 100, "XLEN %d with stream_maxlen %d" % (n, maxlen)
        ev = json.loads(dict(zip(last[0][1][::2], last[0][1][1::2]))["event"])
        assert ev["type"] == "vehicle.exited" and ev["data"]["ticket"] == tickets[-1], ev
        # The subject lists are not affected by the stream's trimming.
        dump = dump_of(rs)
        check_store(dump, None, full_stream=False)
        assert len(dump.lists["gate:north"]) == 150
        assert len(dump.events) == len(START) + 300
        c.close()


# ---------------------------------------------------------------------------
# 6. history.

def send_lines(c, reqs):
    """Sends [(method, params)] in one write; returns their ids."""
    lines, ids = [], []
    for method, params in reqs:
        rid = c.next_id
        c.next_id += 1
        req = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params:
            req["params"] = params
        lines.append(json.dumps(req))
        ids.append(rid)
    c.send_raw("\n".join(lines) + "\n")
    return ids


def read_replies(c, ids, timeout=10):
    out = []
    for rid in ids:
        r = json.loads(c.read_line(timeout=timeout))
        assert r.get("id") == rid, "reply out of order: want id %r, got %r" % (rid, r)
        out.append(r)
    return out


def test_history_order_limit_and_pipelining():
    with RedisServer() as rs, Daemon(audit_cfg(rs)) as d:
        c = d.client()
        tr = Tracker()
        t1 = tr.pair(c, "HX 1")
        t2 = tr.entry(c, "HX 1")["ticket"]
        tr.pair(c, "HX 2")
        wait_shipped(c)

        h = c.ok("history", subject="vehicle:hx 1")
        assert h["subject"] == "vehicle:HX 1", h
        assert [(e["type"], e["data"]["ticket"]) for e in h["events"]] == [
            ("vehicle.entered", t1), ("vehicle.exited", t1), ("vehicle.entered", t2)], h
        h2 = c.ok("history", subject="vehicle:HX 1", limit=2)
        assert [e["id"] for e in h2["events"]] == [e["id"] for e in h["events"][-2:]], h2
        h1 = c.ok("history", subject="ticket:" + t1, limit=1)
        assert [e["type"] for e in h1["events"]] == ["vehicle.exited"], h1
        assert c.ok("history", subject="vehicle:NEVER 9")["events"] == []
        assert_error(c.call("history", subject="bogus"), "invalid_params")

        # Pipelined with other requests: replies in request order.
        for rnd in range(3):
            reqs = []
            for k in range(5):
                reqs += [("ping", None),
                         ("history", {"subject": "vehicle:HX 1"}),
                         ("status", None),
                         ("history", {"subject": "gate:north", "limit": 1}),
                         ("entry", {"gate": "north", "plate": "HP %d %d" % (rnd, k), **CAR}),
                         ("history", {"subject": "vehicle:HX 2"}),
                         ("ping", None)]
            reps = read_replies(c, send_lines(c, reqs))
            for (m, params), r in zip(reqs, reps):
                res = assert_result(r)
                if m == "ping":
                    assert res == "pong", r
                elif m == "history":
                    assert res["subject"] == params["subject"], r
                    assert len(res["events"]) == min(params.get("limit", 100), 3 if
                                                     params["subject"] == "vehicle:HX 1" else
                                                     2 if params["subject"] == "vehicle:HX 2" else 1), r
                elif m == "entry":
                    assert res["plate"] == params["plate"], r
                    c.ok("exit", gate="south", ticket=res["ticket"])

        # Redis down: history answers unavailable at once, the rest still
        # answers.  (Killed while idle: parkd sees the connection close.)
        wait_shipped(c)
        rs.stop(signal.SIGKILL)
        deadline = time.time() + 10
        while health(c)["audit"]["state"] == "connected" and time.time() < deadline:
            time.sleep(0.05)
        t0 = time.time()
        reqs = [("ping", None),
                ("history", {"subject": "vehicle:HX 1"}),
                ("entry", {"gate": "north", "plate": "HX 4", **CAR}),
                ("history", {"subject": "gate:north", "limit": 5}),
                ("ping", None)]
        reps = read_replies(c, send_lines(c, reqs), timeout=MAX_REQUEST_S)
        assert time.time() - t0 < MAX_REQUEST_S
        assert assert_result(reps[0]) == "pong"
        assert_error(reps[1], "unavailable")
        assert assert_result(reps[2])["plate"] == "HX 4"
        assert_error(reps[3], "unavailable")
        assert assert_result(reps[4]) == "pong"
        c.close()


def test_history_redis_hung_does_not_stall_connection():
    """Redis hung while nothing is being shipped: a history look-up must
    still be answered (unavailable) in bounded time, and the requests
    pipelined behind it on the same connection with it."""
    with RedisServer() as rs, Daemon(audit_cfg(rs)) as d:
        c = d.client()
        tr = Tracker()
        tr.pair(c, "HH 1")
        wait_shipped(c)
        rs.pause()
        try:
            t0 = time.time()
            ids = send_lines(c, [("history", {"subject": "vehicle:HH 1"}), ("ping", None)])
            try:
                reps = read_replies(c, ids, timeout=10)
            except OSError:
                raise AssertionError("history with Redis hung (SIGSTOP) and no batch in flight "
                                     "got no answer within 10 s; the ping pipelined behind it "
                                     "is stuck too")
            assert time.time() - t0 < 10
            if "error" in reps[0]:
                assert_error(reps[0], "unavailable")
            assert assert_result(reps[1]) == "pong"
            # Other connections were never affected.
            c2 = d.client()
            timed_call(c2, "ping")
            c2.close()
        finally:
            rs.resume()
        c.close()


test_history_redis_hung_does_not_stall_connection.timeout = 45


def test_history_pending_when_client_leaves_or_daemon_stops():
    """A history answer that comes after its client left is dropped
    safely; SIGTERM with a look-up waiting on a hung Redis answers it
    unavailable, flushes what follows, and exits 0 at once."""
    with RedisServer() as rs:
        d = Daemon(audit_cfg(rs)).start()
        try:
            c = d.client()
            Tracker().pair(c, "HL 1")
            wait_shipped(c)
            # The client leaves before Redis answers.
            rs.pause()
            c2 = d.client()
            send_lines(c2, [("history", {"subject": "vehicle:HL 1"})] * 3)
            time.sleep(0.2)
            c2.close()
            time.sleep(0.1)
            rs.resume()
            time.sleep(0.3)
            assert c.ok("history", subject="vehicle:HL 1")["events"], "history after resume"
            # Stopping while a look-up waits.
            rs.pause()
            ids = send_lines(c, [("history", {"subject": "vehicle:HL 1"}), ("ping", None)])
            time.sleep(0.3)
            t0 = time.time()
            d.proc.send_signal(signal.SIGTERM)
            lines = c.read_until_eof(10)
            rc = d.proc.wait(10)
            assert rc == 0, "parkd exited %s:\n%s" % (rc, d.logtext()[-3000:])
            d.stop()
            assert time.time() - t0 < 5, "shutdown took %.1fs" % (time.time() - t0)
            reps = [json.loads(x) for x in lines]
            assert [r.get("id") for r in reps] == ids, reps
            assert_error(reps[0], "unavailable")
            assert assert_result(reps[1]) == "pong"
        finally:
            if rs.paused:
                rs.resume()
            d.close()


# ---------------------------------------------------------------------------
# 7. AUTH.

def test_auth_password():
    with RedisServer(password="s3cret pass") as rs:
        # The right password: shipped.
        with Daemon(audit_cfg(rs, password="s3cret pass", prefix="good:")) as d:
            c = d.client()
            tr = Tracker()
            tr.pairs(c, 3, "AU")
            wait_shipped(c)
            dump = dump_of(rs, "good:")
            evs = check_store(dump, len(START) + 6)
            check_order(evs, tr.expected)
            c.close()

        # A wrong password: health shows the error, nothing is stored, the
        # gates work.
        for pw in ("wrong", None):
            with Daemon(audit_cfg(rs, password=pw, prefix="bad:")) as d:
                c = d.client()
                tr = Tracker()
                tr.pairs(c, 3, "BAD")
                assert tr.slowest < MAX_REQUEST_S
                time.sleep(1.0)
                # (Between a connect and the refusal the state is briefly
                # "connected": poll.)
                deadline = time.time() + 3
                while True:
                    h = health(c)
                    if h["status"] == "degraded" or time.time() > deadline:
                        break
                    time.sleep(0.02)
                assert h["status"] == "degraded", h
                assert h["audit"]["pending"] == len(START) + 6, h
                assert h["audit"]["state"] != "connected" or h["audit"].get("failures", 0) > 0, h
                err = h["audit"].get("last_error", "")
                assert any(w in err.upper() for w in ("AUTH", "WRONGPASS", "PASSWORD")), \
                    "password %r: health's audit.last_error does not show the "\
                    "authentication error: %r" % (pw, h["audit"])
                assert_error(c.call("history", subject="vehicle:BAD 1"), "unavailable")
                with rs.client() as r:
                    assert r.scan_keys("bad:*") == set()
                c.close()


test_auth_password.timeout = 45


def test_redis_refusing_batches_backs_off():
    """Redis accepts the connection but refuses every batch (here: it wants
    a password and parkd has none).  parkd must back off between attempts
    as it does for failed connects, not reconnect and log at full speed."""
    with RedisServer(password="needed") as rs, Daemon(audit_cfg(rs)) as d:
        c = d.client()
        Tracker().pairs(c, 2, "NP")
        time.sleep(1.0)
        f0 = health(c)["audit"]["failures"]
        log0 = len(d.logtext().splitlines())
        time.sleep(2.0)
        h = health(c)
        n = h["audit"]["failures"] - f0
        lines = len(d.logtext().splitlines()) - log0
        with rs.client() as r:
            assert r.scan_keys(PREFIX + "*") == set()
        assert h["audit"]["pending"] == len(START) + 4, h
        # A backoff doubling from 100 ms allows a handful of attempts here.
        assert n <= 10, "%d failed attempts (and %d log lines) in 2 s: %r" % (n, lines, h["audit"])
        c.close()


# ---------------------------------------------------------------------------
# 8. parkd restart with Redis up.

def read_pos(d):
    with open(os.path.join(d.data_dir, "audit.pos")) as f:
        epoch, lsn = f.read().split()
    return epoch, int(lsn)


def wait_pos(d, lsn, timeout=5):
    """Waits until audit.pos names lsn or more (it is written after Redis
    acknowledged, on the thread pool)."""
    deadline = time.time() + timeout
    while read_pos(d)[1] < lsn and time.time() < deadline:
        time.sleep(0.02)


def test_restart_does_not_ship_twice():
    with RedisServer() as rs, Daemon(audit_cfg(rs)) as d:
        c = d.client()
        tr = Tracker()
        tr.pairs(c, 30, "R1")
        h = wait_shipped(c)
        c.close()
        # A clean stop keeps the position.
        assert d.stop() == 0
        epoch, lsn = read_pos(d)
        assert UUID_RE.match(epoch) and lsn == h["journal"]["lsn"], (epoch, lsn, h)

        d.start()
        c = d.client()
        tr.pairs(c, 30, "R2")
        wait_shipped(c)
        check_order(check_store(dump_of(rs), len(tr.expected)), tr.expected)

        # kill -9 right after shipping: audit.pos may lag behind Redis.
        tr.pairs(c, 30, "R3")
        h = wait_shipped(c)
        c.close()
        kill9(d)
        d.start()
        c = d.client()
        wait_shipped(c, min_shipped_lsn=h["journal"]["lsn"])
        tr.pairs(c, 5, "R4")
        wait_shipped(c)
        check_order(check_store(dump_of(rs), len(tr.expected)), tr.expected)
        c.close()

        # Even an audit.pos put back to the start of this epoch re-sends
        # everything, and Redis skips what it has.
        assert d.stop() == 0
        epoch2, lsn2 = read_pos(d)
        assert epoch2 == epoch, (epoch, epoch2)
        with open(os.path.join(d.data_dir, "audit.pos"), "w") as f:
            f.write("%s 0\n" % epoch)
        d.start()
        c = d.client()
        wait_shipped(c, min_shipped_lsn=lsn2)
        tr.pairs(c, 5, "R5")
        wait_shipped(c)
        check_order(check_store(dump_of(rs), len(tr.expected)), tr.expected)
        c.close()


test_restart_does_not_ship_twice.timeout = 90


def test_a_journal_cut_by_hand_ships_under_a_new_epoch():
    """The README's way past a refusal to start: cut the journal at the
    damaged byte.  Redis then holds events past the journal's end and
    audit.pos lies beyond it; the LSNs after the cut will be used again, so
    parkd starts a new epoch and ships the journal again: every event of
    the history it now has is in Redis (the older ones twice), and the new
    changes are not skipped as already shipped."""
    from test_durability import segments, wal_records
    with RedisServer() as rs, Daemon(audit_cfg(rs)) as d:
        c = d.client()
        Tracker().pairs(c, 20, "K1")
        h = wait_shipped(c)
        c.close()
        # Killed, not stopped: a clean stop writes a snapshot, which a cut
        # journal does not undo.
        wait_pos(d, h["journal"]["lsn"])
        kill9(d)
        epoch, lsn = read_pos(d)
        assert lsn == h["journal"]["lsn"], (lsn, h)
        assert not [f for f in os.listdir(d.data_dir) if f.startswith("snapshot-") and int(f[9:25], 16) > 1]
        seg = os.path.join(d.data_dir, segments(d.data_dir)[-1])
        with open(seg, "rb") as f:
            recs = wal_records(f.read())
        k = len(recs) // 2
        assert recs[-1][2] == lsn and recs[k][2] < lsn, (recs[-1][2], lsn)
        with open(seg, "r+b") as f:
            f.truncate(recs[k][0])
        d.start()
        assert "the position is past the journal, starting a new epoch" in d.logtext(), d.logtext()[-1500:]
        c = d.client()
        assert c.ok("health")["journal"]["lsn"] == recs[k][2] - 1
        new = Tracker().pairs(c, 5, "K2")
        wait_shipped(c)
        c.close()
        wait_pos(d, recs[k][2] - 1 + 10)
        epoch2, lsn2 = read_pos(d)
        assert epoch2 != epoch and lsn2 == recs[k][2] - 1 + 10, (epoch, epoch2, lsn2)
        evs = stream_events(dump_of(rs))
        ids = collections.Counter(e["id"] for e in evs)
        for _, _, rlsn, payload in recs[:k]:
            assert ids[json.loads(payload)["id"]] == 2, (rlsn, payload[:80])
        after = [e for e in evs if e["data"].get("ticket") in new]
        assert len(after) == 10 and all(ids[e["id"]] == 1 for e in after), after


def test_durability_none_still_ships():
    """With durability none the replies do not wait for the disk, but the
    shipper still hears of every written record: nothing stays pending."""
    with RedisServer() as rs:
        cfg = audit_cfg(rs)
        cfg["durability"] = "none"
        with Daemon(cfg) as d:
            c = d.client()
            tr = Tracker()
            tr.pairs(c, 20, "NONE")
            h = wait_shipped(c)
            assert h["audit"]["shipped_lsn"] == h["journal"]["lsn"] == len(START) + 40, h
            check_store(dump_of(rs), len(tr.expected))


def test_history_lookups_in_flight_are_bounded():
    """At most 16 history look-ups wait on Redis per connection; more are
    answered unavailable at once (in their place in the reply order), so a
    client cannot park unbounded work on a hung Redis."""
    with RedisServer() as rs, Daemon(audit_cfg(rs)) as d:
        c = d.client()
        tr = Tracker()
        tr.pair(c, "HB 1")
        wait_shipped(c)
        rs.pause()
        try:
            ids = send_lines(c, [("history", {"subject": "vehicle:HB 1"})] * 20 + [("ping", None)])
            reps = read_replies(c, ids, timeout=20)
            assert assert_result(reps[20]) == "pong"
            too_many = [r for r in reps[:20] if "error" in r and "too many" in r["error"]["message"]]
            assert len(too_many) == 4, reps[:20]
            for r in reps[16:20]:
                assert_error(r, "unavailable")
                assert "too many" in r["error"]["message"], r
        finally:
            rs.resume()
        c.close()


test_history_lookups_in_flight_are_bounded.timeout = 45
