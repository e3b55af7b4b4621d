"""GET /metrics (http.md "Metrics an operator needs"): requests by method and
outcome and their latency histograms, counted once a request's reply goes
out, over TCP and over the WebSocket; connections by transport;
subscribers; the journal's fsync, write and batch histograms; snapshot age
and duration; audit counters; waitlist and reservations; build info.  And
every exposition passes `promtool check metrics` (Debian's prometheus
package; scripts/deps.sh installs it for the tests)."""
import json
import os
import re
import shutil
import socket
import subprocess
import time

from harness import (Daemon, RawWS, demo_config, fill_disk, small_tmpfs, free_port, http_request,
                     until_refused)
from redisutil import RedisServer
from test_http import ws_check

CAR = {"class": "car"}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def with_http(cfg=None, data_dir=None, env=None):
    d = Daemon(cfg or demo_config(), data_dir=data_dir, env=env)
    port = free_port()
    d.cfg["http_listen"] = "127.0.0.1:%d" % port
    with open(d.path, "w") as f:
        json.dump(d.cfg, f)
    d.start()
    return d, port


def promtool(body):
    """`promtool check metrics` on body: it must pass without a remark."""
    exe = shutil.which("promtool")
    assert exe, "promtool is missing: scripts/deps.sh test installs Debian's prometheus"
    p = subprocess.run([exe, "check", "metrics"], input=body, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), \
        (p.returncode, p.stdout, p.stderr)


class Metrics:
    """One exposition, parsed: samples by name and labels, and the types."""

    def __init__(self, body):
        self.body = body
        self.types = {}
        self.samples = {}
        for line in body.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split(" ")
                self.types[name] = typ
                continue
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
            key = (m.group(1), labels)
            assert key not in self.samples, "sample twice: %r" % line
            self.samples[key] = float(m.group(3))

    def get(self, name, default=None, **labels):
        return self.samples.get((name, tuple(sorted(labels.items()))), default)

    def has(self, name, **labels):
        return self.get(name, **labels) is not None

    def requests(self):
        """{(method, outcome): count} of parkd_requests_total."""
        out = {}
        for (name, labels), v in self.samples.items():
            if name == "parkd_requests_total":
                d = dict(labels)
                out[(d["method"], d["outcome"])] = v
        return out

    def hist(self, name, **labels):
        """(buckets [(le, cumulative)], sum, count) of one histogram."""
        buckets = []
        for (n, lab), v in self.samples.items():
            d = dict(lab)
            le = d.pop("le", None)
            if n == name + "_bucket" and d == labels:
                buckets.append((float(le), v))
        buckets.sort()
        return (buckets, self.get(name + "_sum", **labels),
                self.get(name + "_count", **labels))


def scrape(port):
    code, body = http_request(port, "/metrics")
    assert code == 200, (code, body)
    promtool(body)
    return Metrics(body)


def check_hist(m, name, **labels):
    """The rules of a histogram: cumulative, +Inf last and equal to the count."""
    buckets, total, count = m.hist(name, **labels)
    assert buckets, "no buckets for %s %r" % (name, labels)
    assert buckets[-1][0] == float("inf"), buckets
    assert buckets[-1][1] == count, (buckets, count)
    for (_, a), (_, b) in zip(buckets, buckets[1:]):
        assert a <= b, buckets
    assert total >= 0 and (count > 0 or total == 0), (total, count)
    return buckets, total, count


def delta(before, after):
    """Requests counted between two scrapes, zero ones left out."""
    out = {}
    for k, v in after.items():
        dv = v - before.get(k, 0)
        assert dv >= 0, (k, before.get(k), v)
        if dv:
            out[k] = dv
    return out


def call_skipping_notifications(c, method, **params):
    """c.ok(), leaving out the notifications that arrive before the reply."""
    rid = c.request(method, params)
    while True:
        resp = c.read_json()
        if "id" in resp:
            assert resp["id"] == rid and "result" in resp, resp
            return resp["result"]


def wait_for(port, pred, what, timeout=5):
    deadline = time.time() + timeout
    while True:
        m = scrape(port)
        if pred(m):
            return m
        assert time.time() < deadline, "%s: not seen in %ss:\n%s" % (what, timeout, m.body)
        time.sleep(0.05)


def test_requests_by_method_and_outcome_over_tcp_and_ws():
    d, port = with_http()
    try:
        m0 = scrape(port)
        assert m0.types["parkd_requests_total"] == "counter"
        assert m0.types["parkd_request_duration_seconds"] == "histogram"
        # Every method has its ok series from the start, at 0.
        for meth in ("ping", "entry", "exit", "quote", "pay", "status", "history"):
            assert m0.get("parkd_requests_total", method=meth, outcome="ok") == 0, meth
            check_hist(m0, "parkd_request_duration_seconds", method=meth)
        r0 = m0.requests()

        c = d.client()
        lines = 0
        t = c.ok("entry", gate="north", plate="MET 1", **CAR)
        c.err("entry", "plate_inside", gate="north", plate="MET 1", **CAR)
        c.ok("quote", ticket=t["ticket"])
        c.err("exit", "payment_required", gate="south", plate="MET 1",
              at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3 * 3600)))
        c.err("locate", "not_found", plate="NOBODY")
        c.err("quote", "invalid_params", plate="MET 1", bogus=1)
        lines += 6
        assert c.line("nosuch")["error"]["data"]["reason"] == "method_not_found"
        assert c.line('{"jsonrpc":"2.0","id":1,')["error"]["data"]["reason"] == "parse_error"
        lines += 2
        # A batch: each request counts, notifications too.
        resp = c.line('[{"jsonrpc":"2.0","id":1,"method":"ping"},'
                      '{"jsonrpc":"2.0","method":"ping"},'
                      '{"jsonrpc":"2.0","id":2,"method":"status"},'
                      '{"jsonrpc":"2.0","id":3,"method":"nope"}]')
        assert len(resp) == 3, resp
        lines += 1
        # A notification alone: no reply, counted all the same.
        c.notify("ping")
        c.ok("ping")
        lines += 2
        # History with audit off: answered later (deferred), unavailable.
        c.err("history", "unavailable", subject="vehicle:MET 1")
        lines += 1

        # The same over the WebSocket, raw and with a real client library.
        ws = RawWS(port)
        assert ws.call("ping", 1)["result"] == "pong"
        assert "result" in ws.call("entry", 2, gate="north", plate="MET WS", **CAR)
        assert ws.call("nosuch", 3)["error"]["data"]["reason"] == "method_not_found"
        ws.close()
        lines += 3
        out = ws_check("basics", port)     # ping, entry, status
        assert out["ping"] == "pong", out
        lines += 3

        m1 = wait_for(port, lambda m: m.get("parkd_request_lines_total") ==
                      m0.get("parkd_request_lines_total") + lines, "request lines")
        got = delta(r0, m1.requests())
        want = {
            ("entry", "ok"): 3, ("entry", "plate_inside"): 1,
            ("quote", "ok"): 1, ("quote", "invalid_params"): 1,
            ("exit", "payment_required"): 1, ("locate", "not_found"): 1,
            ("ping", "ok"): 6, ("status", "ok"): 2,
            ("unknown", "method_not_found"): 3, ("unknown", "parse_error"): 1,
            ("history", "unavailable"): 1,
        }
        assert got == want, (got, want)

        # Latency: one observation per request, buckets cumulative.
        for meth in ("entry", "ping", "status", "quote", "exit", "locate", "history", "unknown"):
            n = sum(v for (mm, _), v in got.items() if mm == meth)
            b0 = m0.hist("parkd_request_duration_seconds", method=meth)
            _, _, count = check_hist(m1, "parkd_request_duration_seconds", method=meth)
            assert count - (b0[2] or 0) == n, (meth, count, b0[2], n)
        # A request answered is not slower than never: every latency is finite.
        buckets, _, count = check_hist(m1, "parkd_request_duration_seconds", method="entry")
        assert buckets[-2][1] == count, buckets   # all within 10 s
        c.close()
    finally:
        d.close()


def test_rate_limit_and_long_lines_count_without_a_method():
    cfg = demo_config(limits={"rate_per_s": 1, "rate_burst": 2, "max_line": 200})
    d, port = with_http(cfg)
    try:
        c = d.client()
        for _ in range(2):
            c.ok("ping")
        limited = 0
        for _ in range(5):
            # A line refused by the rate limit is not read: its id is null.
            resp = c.line("ping")
            if "error" in resp:
                assert resp["error"]["data"]["reason"] == "rate_limited", resp
                limited += 1
        assert limited >= 1
        m = scrape(port)
        assert m.get("parkd_requests_total", method="unknown", outcome="rate_limited") == limited
        assert m.get("parkd_rate_limited_total") == limited
        # A connection of its own: the rate limit is per connection.
        c2 = d.client()
        assert c2.line("ping " + "x" * 300)["error"]["data"]["reason"] == "line_too_long"
        m = scrape(port)
        assert m.get("parkd_requests_total", method="unknown", outcome="line_too_long") == 1
        check_hist(m, "parkd_request_duration_seconds", method="unknown")
        c.close()
        c2.close()
    finally:
        d.close()


def test_connections_by_transport_and_subscribers():
    d, port = with_http()
    try:
        # The harness's probe of the port at start may still be closing.
        m = wait_for(port, lambda m: m.get("parkd_connections", transport="tcp") == 0,
                     "no connections")
        assert m.get("parkd_connections", transport="ws") == 0
        assert m.get("parkd_http_connections") == 1     # this scrape
        a, b = d.client(), d.client()
        a.ok("ping")
        b.ok("ping")
        ws = RawWS(port)
        ws.call("ping", 1)
        m = scrape(port)
        assert m.get("parkd_connections", transport="tcp") == 2, m.body
        assert m.get("parkd_connections", transport="ws") == 1, m.body
        assert m.get("parkd_subscriptions") == 0 and m.get("parkd_subscribers") == 0
        sub = call_skipping_notifications(a, "subscribe", topics=["occupancy", "events"])
        call_skipping_notifications(a, "subscribe", topics=["gate:north"])
        assert "result" in ws.call("subscribe", 2, topics=["events"])
        m = scrape(port)
        assert m.get("parkd_subscriptions") == 3 and m.get("parkd_subscribers") == 2, m.body
        call_skipping_notifications(a, "unsubscribe", subscription=sub["subscription"])
        m = scrape(port)
        assert m.get("parkd_subscriptions") == 2 and m.get("parkd_subscribers") == 2, m.body
        ws.close()
        a.close()
        wait_for(port, lambda m: m.get("parkd_connections", transport="ws") == 0 and
                 m.get("parkd_connections", transport="tcp") == 1 and
                 m.get("parkd_subscribers") == 0, "connections closed")
        b.close()
    finally:
        d.close()


def test_garage_gauges_waitlist_reservations_and_build_info():
    d, port = with_http()
    try:
        m = scrape(port)
        info = [k for k in m.samples if k[0] == "parkd_build_info"]
        assert len(info) == 1, info
        labels = dict(info[0][1])
        assert re.match(r"^\d+\.\d+\.\d+$", labels["version"]), labels
        assert labels["libuv"].startswith("1."), labels
        assert set(labels) == {"version", "libuv", "hiredis", "cjson"}, labels
        assert m.samples[info[0]] == 1
        assert m.get("parkd_waitlist_depth") == 0
        for st in ("booked", "held", "owed", "used", "no_show", "cancelled"):
            assert m.get("parkd_reservations", state=st) == 0, st
        levels = {dict(l)["level"] for (n, l) in m.samples if n == "parkd_level_spots"}
        assert levels == {"0", "1"}, levels
        total = sum(m.get("parkd_level_spots", level=lv, state="free") for lv in levels)
        assert total == m.get("parkd_spots", state="free") == 106
        c = d.client()
        c.ok("entry", gate="north", plate="LVL 1", **CAR)
        m = scrape(port)
        occ = sum(m.get("parkd_level_spots", level=lv, state="occupied") for lv in levels)
        assert occ == 1 and m.get("parkd_vehicles_inside") == 1
        # By type too: the car took one spot of the first type it fits.
        types = {dict(l)["type"] for (n, l) in m.samples if n == "parkd_type_spots"}
        assert types == {dict(l)["type"] for (n, l) in m.samples
                         if n == "parkd_spots_free"}, types
        for st in ("free", "occupied"):
            assert sum(m.get("parkd_type_spots", type=t, state=st) for t in types) == \
                m.get("parkd_spots", state=st), st
        for t in types:
            assert m.get("parkd_type_spots", type=t, state="free") == \
                m.get("parkd_spots_free", type=t), t
        assert m.get("parkd_type_spots", type="regular", state="occupied") == 1
        c.close()
    finally:
        d.close()


def test_commit_wait_holds_the_time_a_batch_was_held():
    """With durability none a batch waits journal.none_delay_ms for company:
    its first change's commit wait holds that, the pool's parts do not."""
    cfg = demo_config(durability="none", journal={"none_delay_ms": 300})
    d, port = with_http(cfg)
    try:
        m0 = wait_for(port, lambda m: m.get("parkd_journal_commit_seconds_count") == 1,
                      "the tariff record's batch", timeout=10)
        c = d.client()
        c.ok("entry", gate="north", plate="HELD 1", **CAR)
        m1 = wait_for(port, lambda m: m.get("parkd_journal_commit_seconds_count") == 2,
                      "the entry's batch", timeout=10)
        waited = m1.hist("parkd_journal_commit_seconds")[1] - m0.hist("parkd_journal_commit_seconds")[1]
        assert waited >= 0.3, waited
        for name in ("parkd_journal_queue_seconds", "parkd_journal_handback_seconds"):
            _, _, cnt = check_hist(m1, name)
            assert cnt == 2, name
        c.close()
    finally:
        d.close()


def test_journal_histograms_and_snapshot_age():
    cfg = demo_config(journal={"snapshot_every": 5, "snapshot_interval_s": 0})
    d, port = with_http(cfg)
    try:
        # The new data directory's tariff is the one record before any request.
        m = wait_for(port, lambda m: m.get("parkd_journal_durable_lsn") == 1, "the tariff record")
        # No snapshot yet: no age at all, rather than a made-up one.
        assert not m.has("parkd_snapshot_age_seconds"), m.body
        assert m.get("parkd_snapshot_duration_seconds") == 0
        for name in ("parkd_journal_fsync_seconds", "parkd_journal_write_seconds",
                     "parkd_journal_batch_bytes", "parkd_journal_batch_records",
                     "parkd_journal_queue_seconds", "parkd_journal_handback_seconds",
                     "parkd_journal_commit_seconds"):
            assert m.types[name] == "histogram", name
            assert check_hist(m, name)[2] == 1, name
        c = d.client()
        for i in range(8):
            c.ok("entry", gate="north", plate="SNAP %d" % i, **CAR)
        m = wait_for(port, lambda m: m.get("parkd_journal_snapshots_total", 0) >= 1 and
                     m.get("parkd_journal_durable_lsn") == m.get("parkd_journal_lsn") == 9,
                     "a snapshot")
        # Every batch written was timed and measured, each fsync once.
        batches = m.get("parkd_journal_batches_total")
        assert batches >= 1
        assert check_hist(m, "parkd_journal_write_seconds")[2] == batches
        assert check_hist(m, "parkd_journal_fsync_seconds")[2] == m.get("parkd_journal_fsyncs_total") == batches
        _, nrec, cnt = check_hist(m, "parkd_journal_batch_records")
        assert cnt == batches and nrec == m.get("parkd_journal_records_total") == 9
        _, nbytes, _ = check_hist(m, "parkd_journal_batch_bytes")
        assert nbytes == m.get("parkd_journal_bytes_total")
        # A batch's way, timed on one clock: what its oldest change waited
        # holds the queue, the write, the fsync and the hand-back.
        parts = 0.0
        for name in ("parkd_journal_queue_seconds", "parkd_journal_write_seconds",
                     "parkd_journal_fsync_seconds", "parkd_journal_handback_seconds"):
            _, spent, cnt = check_hist(m, name)
            assert cnt == batches, name
            parts += spent
        _, waited, cnt = check_hist(m, "parkd_journal_commit_seconds")
        assert cnt == batches
        assert 0 < parts <= waited + 1e-9, (parts, waited)
        # Requests to a change waited for the fsync: the entries are observed.
        assert m.get("parkd_requests_total", method="entry", outcome="ok") == 8
        age = m.get("parkd_snapshot_age_seconds")
        assert age is not None and 0 <= age < 60, m.body
        assert m.get("parkd_snapshot_duration_seconds") > 0
        assert m.get("parkd_snapshot_fork_seconds") > 0
        assert m.get("parkd_snapshot_failures_total") == 0
        c.close()
        # After a restart the age of the snapshot from before is known (its file).
        assert d.stop() == 0
        d.start()
        m = scrape(port)
        age = m.get("parkd_snapshot_age_seconds")
        assert age is not None and 0 <= age < 60, m.body
        assert m.get("parkd_snapshot_duration_seconds") == 0
    finally:
        d.close()


test_journal_histograms_and_snapshot_age.timeout = 60


def test_audit_backlog_batches_and_failures():
    rs = RedisServer().start()
    d = None
    try:
        cfg = demo_config()
        cfg["audit"] = {"redis": rs.address, "prefix": "parkd:"}
        d, port = with_http(cfg)
        c = d.client()
        for i in range(5):
            c.ok("entry", gate="north", plate="AUD %d" % i, **CAR)
        # A new data directory journals its tariff first: one event more.
        m = wait_for(port, lambda m: m.get("parkd_audit_shipped_total") == 6 and
                     m.get("parkd_audit_pending") == 0, "events shipped")
        assert m.get("parkd_audit_connected") == 1
        assert audit_states(m) == ["connected"]
        assert 1 <= m.get("parkd_audit_batches_total") <= 6
        assert m.get("parkd_audit_connects_total") >= 1
        assert m.get("parkd_audit_dropped_total") == 0
        failures = m.get("parkd_audit_failures_total")
        # Redis gone: the backlog grows and the failed reconnects are counted.
        rs.stop()
        for i in range(3):
            c.ok("entry", gate="north", plate="LATE %d" % i, **CAR)
        m = wait_for(port, lambda m: m.get("parkd_audit_pending") == 3 and
                     m.get("parkd_audit_failures_total") > failures and
                     m.get("parkd_audit_connected") == 0, "a backlog", timeout=15)
        assert m.get("parkd_audit_shipped_total") == 6
        assert audit_states(m) in (["disconnected"], ["connecting"]), audit_states(m)
        rs.start()
        wait_for(port, lambda m: m.get("parkd_audit_shipped_total") == 9 and
                 m.get("parkd_audit_pending") == 0, "the backlog shipped", timeout=15)
        c.close()
    finally:
        try:
            if d is not None:
                d.close()
        finally:
            rs.close()


test_audit_backlog_batches_and_failures.timeout = 60


def audit_states(m):
    """The states parkd_audit_state says 1 for (exactly one is meant)."""
    return [dict(l)["state"] for (n, l) in m.samples
            if n == "parkd_audit_state" and m.samples[(n, l)] == 1]


def test_audit_state_off_is_not_unreachable():
    """Off and unreachable both leave parkd_audit_connected at 0:
    parkd_audit_state tells them apart, as health's audit.state does."""
    for redis, want in ((None, ["off"]), ("127.0.0.1:1", ["disconnected", "connecting"])):
        d, port = with_http(demo_config(audit={"redis": redis}))
        try:
            m = scrape(port)
            states = {dict(l)["state"] for (n, l) in m.samples if n == "parkd_audit_state"}
            assert states == {"off", "disconnected", "connecting", "connected", "stalled"}
            got = audit_states(m)
            assert len(got) == 1 and got[0] in want, (redis, got)
            assert m.get("parkd_audit_connected") == 0
        finally:
            d.close()


def test_changes_lost_by_the_journal_count_as_unavailable():
    """A reply held for an fsync that fails is answered unavailable: so it
    is counted, not as the ok it would have been."""
    with small_tmpfs("test_changes_lost_by_the_journal_count_as_unavailable") as mnt:
        if mnt is None:
            return
        d = None
        try:
            d, port = with_http(data_dir=os.path.join(mnt, "data"))
            c = d.client()
            acked = refused = 0
            for i in range(3):
                c.ok("entry", gate="north", plate="OK %d" % i, **CAR)
                acked += 1
            fill_disk(os.path.join(mnt, "filler"))

            def entry(i):
                resp = c.call("entry", gate="north", plate="FULL %d" % i, **CAR)
                if "error" in resp:
                    assert resp["error"]["data"]["reason"] == "unavailable", resp
                    return False
                return True

            acked += until_refused(entry, 500, "the journal")
            refused += 1
            m = scrape(port)
            assert m.get("parkd_requests_total", method="entry", outcome="ok") == acked
            assert m.get("parkd_requests_total", method="entry", outcome="unavailable") == refused
            assert m.get("parkd_journal_failures_total") >= 1
            assert check_hist(m, "parkd_request_duration_seconds", method="entry")[2] == acked + refused
            c.close()
            os.unlink(os.path.join(mnt, "filler"))
        finally:
            if d is not None:
                d.close()


test_changes_lost_by_the_journal_count_as_unavailable.timeout = 60
