"""The standby (standby.md): a second parkd that has every change.

Every test starts real daemons on free ports, one as the primary
(replication.listen) and one or more as standbys (replication.primary),
each with its own data directory, and checks what the contract promises:

- a standby that starts empty catches up from a snapshot and the journal
  (the primary's first segments pruned), then follows live, and answers
  reads as the primary does and changes with not_primary;
- sync mode under an 8-client load: the primary killed at a random moment
  and its data directory deleted (the disk died), the standby promoted:
  every acknowledged entry, exit, payment and lost ticket is there, and
  every reservation a kiosk booked meanwhile; 20 times over, each promoted
  standby the primary of the next round;
- async mode the same way, where what may be lost is counted, not required
  to be zero;
- fencing: the old primary, back after the promotion, takes no change once
  the new primary reaches it, says so, and cannot follow the new one when
  it wrote records of its own meanwhile; promotion time measured;
- audit events in Redis exactly once across the switch;
- on_standby_loss refuse: no_standby while the standby is away;
- a standby that does not read its socket is dropped, the primary's memory
  stays flat and its gates keep being answered;
- health and /metrics of both roles (promtool);
- timers that came due on the standby fire once after a promotion (when
  this build keeps timers at all: the waitlist's expiry);
- the vehicle registry (registry.md) follows the primary, live and after
  a catch-up (an image of it each time the standby goes live): a promoted
  standby has every registration, and a contact deleted or replaced on the
  primary leaves the standby's files too within erase_within_s.

STANDBY_CATCHUP_CHANGES sets the size of the catch-up test (100 000 by
default, as the issue asks); STANDBY_ROUNDS the sync rounds (20).
"""
import copy
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import threading
import time

from harness import (ROOT, Client, Daemon, SANITIZED, check_config, fmt_time,
                     free_port, http_request, metrics, recv_exactly, small_config, until)
from redisutil import AuditDump, RedisServer
from test_durability import (Gone, bursts, crash_worker, crc32c, dur_config, lsn_of, pipeline, read,
                             reason, rpc, segments, snapshots, split_segment,
                             verify_ledger, wait_orphans, wal_records)
from test_metrics import promtool
from test_registry import reg_config, register, wait_erased, where

TOKEN = "s3cret-repl-token"
CAR = {"class": "car"}
SEED = int(os.environ.get("STANDBY_SEED", "0")) or random.randrange(1, 1 << 30)


# ---------------------------------------------------------------------------
# Nodes.

class Node(Daemon):
    """A parkd with a replication listener of its own and, for a standby,
    the primary's; http=True adds the HTTP listener."""

    def __init__(self, base, primary=None, http=False, data_dir=None, **repl):
        self.rport = free_port()
        cfg = copy.deepcopy(base)
        r = {"listen": "127.0.0.1:%d" % self.rport, "token": TOKEN,
             "primary": "127.0.0.1:%d" % primary.rport if primary else None}
        r.update(repl)
        cfg["replication"] = r
        super().__init__(cfg, data_dir=data_dir)
        self.http_port = None
        if http:
            self.http_port = free_port()
            self.cfg["http_listen"] = "127.0.0.1:%d" % self.http_port
            with open(self.path, "w") as f:
                json.dump(self.cfg, f)

    def call(self, method, **params):
        c = self.client(timeout=30)
        try:
            return c.call(method, **params)
        finally:
            c.close()

    def ok(self, method, **params):
        r = self.call(method, **params)
        assert "result" in r, (method, r)
        return r["result"]

    def health(self):
        return self.ok("health")

    def repl(self):
        return self.health()["replication"]

    def address(self):
        return "127.0.0.1:%d" % self.port


def wait_for(pred, what, timeout=30):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def caught_up(primary, standby):
    """The standby holds, durably, everything the primary has on disk."""
    def check():
        pj = primary.health()["journal"]
        sj = standby.health()["journal"]
        return pj["durable_lsn"] == sj["durable_lsn"] == sj["lsn"] and \
            primary.repl()["acked_lsn"] >= pj["durable_lsn"]
    wait_for(check, "the standby to catch up", timeout=120)


def streaming(primary, n=1):
    wait_for(lambda: sum(1 for s in primary.repl()["standbys"]
                         if s["state"] == "streaming") >= n,
             "%d standby streaming" % n)


def stop_all(*nodes):
    for d in nodes:
        if d is None:
            continue
        try:
            if d.proc is not None and d.proc.poll() is None:
                d.stop(signal.SIGKILL)
        except Exception:  # noqa: BLE001 - cleanup
            pass
        shutil.rmtree(d.tmp, ignore_errors=True)


def closing(d):
    """Stops d with SIGTERM, which must exit 0, and removes its files."""
    try:
        rc = d.stop()
        assert rc == 0, "parkd exited %s:\n%s" % (rc, d.logtext()[-3000:])
    finally:
        shutil.rmtree(d.tmp, ignore_errors=True)


def same_answers(p, s, plates, tickets):
    """status, locate and ticket answer the same on both (the standby in
    sync with the primary)."""
    cp, cs = p.client(timeout=120), s.client(timeout=120)
    try:
        sp, ss = cp.ok("status"), cs.ok("status")
        assert sp == ss, (sp, ss)
        for method, key, items in (("locate", "plate", plates), ("ticket", "ticket", tickets)):
            calls = [(method, {key: x}) for x in items]
            a = pipeline(cp, calls, chunk=1000)
            b = pipeline(cs, calls, chunk=1000)
            for x, ra, rb in zip(items, a, b):
                ra.pop("id"), rb.pop("id")
                assert ra == rb, (method, x, ra, rb)
    finally:
        cp.close()
        cs.close()


# ---------------------------------------------------------------------------
# 1. Catch-up from a snapshot and the journal, then live.

def test_catch_up_from_snapshot_and_journal_then_live():
    n = int(os.environ.get("STANDBY_CATCHUP_CHANGES", "100000"))
    inside = 300
    base = dur_config(snapshot_every=max(n // 5, 1000), spots=2000)
    p = Node(base)
    s = None
    try:
        p.start()
        c = p.client(timeout=300)
        # Vehicles that stay, then entry and exit pairs; half now.
        calls = [("entry", {"gate": "north", "plate": "IN%d" % i, **CAR}) for i in range(inside)]
        pairs = (n - inside) // 2
        for i in range(pairs):
            calls.append(("entry", {"gate": "north", "plate": "P%d" % i, **CAR}))
            calls.append(("exit", {"gate": "south", "plate": "P%d" % i}))
        half = len(calls) // 2
        rs = pipeline(c, calls[:half], chunk=1000)
        c.close()
        # A clean stop writes a snapshot; the segment is cut in four as
        # rotations past 64 MiB would have cut it, so that the snapshots of
        # the second half prune its first pieces.
        assert p.stop() == 0
        for k in range(3):
            seg = segments(p.data_dir)[-1]
            nrec = len(wal_records(read(os.path.join(p.data_dir, seg))))
            split_segment(p.data_dir, seg, nrec // 2)
        p.start()
        c = p.client(timeout=300)
        rs += pipeline(c, calls[half:], chunk=1000)
        c.close()
        assert all("result" in r for r in rs), [r for r in rs if "error" in r][:3]
        tickets = [r["result"]["ticket"] for r in rs if "plate" in r["result"] and
                   "entered_at" in r["result"]]
        # Pruning follows a snapshot the child writes in the background: on
        # a busy machine the last one may still be on its way.
        first = until(lambda: lsn_of(segments(p.data_dir)[0]) > 1 and
                      lsn_of(segments(p.data_dir)[0]), timeout=60,
                      what="a journal segment pruned after a snapshot")
        last = p.health()["journal"]["durable_lsn"]
        assert last >= n, last

        # An empty standby: LSN 1 is gone from the journal, so a snapshot first.
        s = Node(base, primary=p)
        t0 = time.time()
        s.start()
        caught_up(p, s)
        took = time.time() - t0
        r = s.repl()
        assert r["role"] == "standby" and r["state"] == "streaming" and r["snapshots"] == 1, r
        assert "took the primary's snapshot" in s.logtext(), s.logtext()[-2000:]
        assert "sending the snapshot" in p.logtext()
        print("catch-up: %d records (journal from LSN %d) in %.2fs: %.0f records/s" % (
            last, first, took, last / took))
        plates = ["IN%d" % i for i in range(inside)] + ["P%d" % i for i in range(0, pairs, 97)]
        same_answers(p, s, plates, tickets[:inside] + tickets[inside::41])

        # Live: more changes reach it as they are made.
        c = p.client(timeout=60)
        live = []
        for i in range(500):
            live.append(("entry", {"gate": "north", "plate": "L%d" % i, **CAR}))
            if i % 2:
                live.append(("exit", {"gate": "south", "plate": "L%d" % i}))
        rs = pipeline(c, live, chunk=100)
        c.close()
        assert all("result" in r for r in rs)
        caught_up(p, s)
        same_answers(p, s, ["L%d" % i for i in range(500)],
                     [r["result"]["ticket"] for r in rs if "entered_at" in r["result"]])
        # Reads are served; changes are not the standby's to make.
        cs = s.client()
        assert cs.ok("ping") == "pong"
        e = cs.err("entry", "not_primary", gate="north", plate="NOPE", **CAR)
        assert e["code"] == 4210 and e["data"]["primary"] == p.address(), e
        e = cs.err("strategy", "not_primary", set="farthest")
        assert e["data"]["primary"] == p.address(), e
        # The vehicle registry is not replicated: the primary keeps it.
        e = cs.err("vehicle_get", "not_primary", plate="IN1")
        assert e["data"]["primary"] == p.address(), e
        cs.close()
        closing(s)
        s = None
        closing(p)
        p = None
    finally:
        stop_all(p, s)


test_catch_up_from_snapshot_and_journal_then_live.timeout = 240


# ---------------------------------------------------------------------------
# 2. and 3. The primary's disk dies under load; the standby is promoted.

def sync_base():
    return dur_config(spots=4000)


def resv_worker(port, prefix, booked, stop, errors, counts):
    """One kiosk: books reservations of fresh plates, each window 30 minutes
    and 10 minutes after the last (at most three overlap, far below the
    quota); booked gets (id, plate) of each one acknowledged."""
    try:
        c = Client(port, timeout=20)
    except OSError as e:
        errors.append("connect: %r" % e)
        return
    start, n = int(time.time()) + 7200, 0
    try:
        while not stop.is_set():
            plate = "%s%d" % (prefix, n)
            frm = start + 600 * n
            n += 1
            resp = rpc(c, "reserve", plate=plate, **{"class": "car", "from": fmt_time(frm),
                                                     "to": fmt_time(frm + 1800)})
            if "error" in resp:
                errors.append("reserve %s: %r" % (plate, resp))
                return
            booked.append((resp["result"]["reservation"], plate))
            counts[0] += 1
    except Gone:
        pass                                    # killed: the answer never came
    finally:
        c.close()


def reg_worker(port, prefix, registry, stop, errors, counts):
    """One clerk: registers fresh plates with a phone number and deletes
    every third one again; registry[plate] is the phone acknowledged,
    "deleted" once a delete was, or None while an answer is outstanding
    (then either outcome is right)."""
    try:
        c = Client(port, timeout=20)
    except OSError as e:
        errors.append("connect: %r" % e)
        return
    n = 0
    try:
        while not stop.is_set():
            plate, phone = "%s%d" % (prefix, n), "+4915140%06d" % n
            registry[plate] = None
            resp = rpc(c, "vehicle_register", plate=plate, contact_name="Clerk %d" % n,
                       phone=phone)
            if "error" in resp:
                errors.append("vehicle_register %s: %r" % (plate, resp))
                return
            registry[plate] = phone
            counts[0] += 1
            if n % 3 == 2:
                gone = "%s%d" % (prefix, n - 1)
                registry[gone] = None
                resp = rpc(c, "vehicle_delete", plate=gone)
                if "error" in resp:
                    errors.append("vehicle_delete %s: %r" % (gone, resp))
                    return
                registry[gone] = "deleted"
                counts[0] += 1
            n += 1
    except Gone:
        pass                                    # killed: the answer never came
    finally:
        c.close()


def lost_registrations(c, registry):
    """The acknowledged registrations (and deletions) the daemon behind c
    does not have."""
    plates = [p for p, v in registry.items() if v is not None]
    rs = pipeline(c, [("vehicle_get", {"plate": p}) for p in plates])
    lost = []
    for p, r in zip(plates, rs):
        want = registry[p]
        if want == "deleted":
            if "error" not in r:
                lost.append((p, "deleted, yet there", r))
        elif "error" in r or r["result"]["phone"] != want:
            lost.append((p, want, r))
    return lost


def lost_reservations(c, booked):
    """The acknowledged reservations the daemon behind c does not have."""
    rs = pipeline(c, [("reservation", {"reservation": rid}) for rid, _ in booked])
    return [(rid, plate, r) for (rid, plate), r in zip(booked, rs)
            if "error" in r or r["result"]["plate"] != plate or
            r["result"]["state"] != "booked"]


def run_round(primary, ledger, lock, rng, prefix, errors_ok=False, booked=None,
              registry=None):
    """8 crash workers on primary (and a kiosk booking reservations into
    booked, a clerk registering vehicles into registry, when given) until
    about 40 changes are acknowledged and a random moment more; then
    SIGKILL and the data directory deleted."""
    stop, errors, counts = threading.Event(), [], [0]
    threads = [threading.Thread(target=crash_worker, args=(
        primary.port, "%sT%dN" % (prefix, i), ledger, lock, stop,
        random.Random(rng.random()), errors, counts)) for i in range(8)]
    if booked is not None:
        threads.append(threading.Thread(target=resv_worker, args=(
            primary.port, "%sRV" % prefix, booked, stop, errors, counts)))
    if registry is not None:
        threads.append(threading.Thread(target=reg_worker, args=(
            primary.port, "%sVR" % prefix, registry, stop, errors, counts)))
    for t in threads:
        t.start()
    t0 = time.time()
    while counts[0] < 40 and time.time() - t0 < 20 and not errors:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.05, 0.8))
    stop.set()
    rc = primary.stop(signal.SIGKILL)
    assert rc == -9, rc
    for t in threads:
        t.join(30)
    if not errors_ok:
        assert not errors, "seed %d: %s" % (SEED, errors[:5])
    wait_orphans(primary)
    # The disk died.
    shutil.rmtree(primary.data_dir)
    return counts[0]


def test_sync_kill_primary_delete_its_disk_promote_nothing_lost():
    rounds = int(os.environ.get("STANDBY_ROUNDS", "20"))
    rng = random.Random(SEED)
    base = sync_base()
    sync = {"mode": "sync", "on_standby_loss": "async", "sync_timeout_ms": 10000}
    ledger, lock, booked, registry = {}, threading.Lock(), [], {}
    nodes = []
    try:
        p = Node(base, **sync)
        nodes.append(p)
        p.start()
        acked = 0
        for rnd in range(rounds):
            s = Node(base, primary=p, **sync)
            nodes.append(s)
            s.start()
            streaming(p)
            acked += run_round(p, ledger, lock, rng, "R%d" % rnd, booked=booked,
                               registry=registry)
            c = s.client(timeout=60)
            res = c.ok("promote")
            assert res == {"role": "primary", "epoch": rnd + 2}, res
            try:
                verify_ledger(c, ledger)
                lost = lost_reservations(c, booked)
                assert not lost, "seed %d: %d of %d reservations lost: %r" % (
                    SEED, len(lost), len(booked), lost[:3])
                lost = lost_registrations(c, registry)
                assert not lost, "seed %d: %d of %d registry changes lost: %r" % (
                    SEED, len(lost), len(registry), lost[:3])
            finally:
                c.close()
            p = s
        entries = sum(1 for r in ledger.values() if r.entry == "ack")
        print("sync: %d rounds, %d acknowledged changes (%d entries, %d reservations, "
              "%d vehicles registered), none lost (seed %d)" % (
                  rounds, acked, entries, len(booked), len(registry), SEED))
        assert len(booked) >= rounds, len(booked)
        assert entries > 100 * rounds // 10, entries
        closing(p)
        nodes.remove(p)
    except BaseException:
        print("standby seed: STANDBY_SEED=%d" % SEED)
        raise
    finally:
        stop_all(*nodes)


test_sync_kill_primary_delete_its_disk_promote_nothing_lost.timeout = 300


def count_lost(c, ledger):
    """What async replication lost of what was acknowledged: entries, exits,
    payments (counted, not asserted)."""
    recs = [r for r in ledger.values() if r.entry == "ack"]
    tks = pipeline(c, [("ticket", {"ticket": r.ticket}) for r in recs])
    lost = {"entries": 0, "exits": 0, "payments": 0}
    for r, resp in zip(recs, tks):
        if "error" in resp:
            lost["entries"] += 1
            lost["exits"] += r.exit == "ack"
            lost["payments"] += len(r.pays)
            continue
        t = resp["result"]
        lost["exits"] += r.exit == "ack" and t["state"] != "exited"
        have = {p["receipt"] for p in t["payments"]}
        lost["payments"] += sum(1 for x in r.pays if x not in have)
    return lost, len(recs)


def test_async_kill_primary_promote_counts_what_is_lost():
    rng = random.Random(SEED + 1)
    base = sync_base()
    total = {"entries": 0, "exits": 0, "payments": 0, "reservations": 0}
    entries = booked_total = 0
    for rnd in range(5):
        ledger, lock = {}, threading.Lock()
        p = Node(base, mode="async")
        s = Node(base, primary=p, mode="async")
        try:
            p.start()
            s.start()
            streaming(p)
            booked = []
            run_round(p, ledger, lock, rng, "A%d" % rnd, booked=booked)
            c = s.client(timeout=60)
            c.ok("promote")
            lost, n = count_lost(c, ledger)
            lost["reservations"] = len(lost_reservations(c, booked))
            booked_total += len(booked)
            c.close()
            entries += n
            for k in total:
                total[k] += lost[k]
        finally:
            stop_all(p, s)
    print("async: 5 rounds, %d acknowledged entries, %d reservations; lost: %d entries, "
          "%d exits, %d payments, %d reservations" % (
              entries, booked_total, total["entries"], total["exits"], total["payments"],
              total["reservations"]))


test_async_kill_primary_promote_counts_what_is_lost.timeout = 120


# ---------------------------------------------------------------------------
# 4. Fencing the old primary; the time a takeover takes.

def test_promotion_fences_the_old_primary():
    base = small_config([{"level": 0, "zone": "A", "type": "regular", "count": 50,
                          "x": 5, "y": 10, "dx": 1, "dy": 0}])
    a = Node(base)
    b = Node(base, primary=a)
    try:
        a.start()
        b.start()
        streaming(a)
        for i in range(10):
            a.ok("entry", gate="north", plate="A%d" % i, **CAR)
        caught_up(a, b)
        assert a.stop(signal.SIGKILL) == -9
        wait_orphans(a)

        # Takeover: from promote to the first change accepted.
        cb = b.client()
        t0 = time.time()
        res = cb.ok("promote")
        t1 = time.time()
        cb.ok("entry", gate="north", plate="B0", **CAR)
        t2 = time.time()
        print("takeover: promote answered in %.1f ms, first change accepted %.1f ms after "
              "the promote was sent" % ((t1 - t0) * 1000, (t2 - t0) * 1000))
        assert res == {"role": "primary", "epoch": 2}, res
        # Again: nothing more to do, the same answer.
        assert cb.ok("promote") == res
        r = b.repl()
        assert r["role"] == "primary" and r["epoch"] == 2, r
        assert b.health()["status"] == "ok"

        # The old primary comes back where the new one cannot reach it: it
        # takes changes (the window a cluster manager closes by fencing).
        old_rport = a.rport
        a.cfg["replication"]["listen"] = "127.0.0.1:%d" % free_port()
        with open(a.path, "w") as f:
            json.dump(a.cfg, f)
        a.start()
        a.ok("entry", gate="north", plate="SPLIT1", **CAR)
        assert a.repl()["role"] == "primary"
        assert a.stop() == 0
        # Back where the new primary reaches it: told of epoch 2, fenced.
        a.cfg["replication"]["listen"] = "127.0.0.1:%d" % old_rport
        with open(a.path, "w") as f:
            json.dump(a.cfg, f)
        a.start()
        wait_for(lambda: "fenced" in a.repl(), "the old primary to be fenced", timeout=10)
        h = a.health()
        assert h["status"] == "degraded" and "fenced" in h["reason"], h
        assert h["replication"]["fenced"] == {"epoch": 2, "by": b.address()}, h
        e = a.call("entry", gate="north", plate="SPLIT2", **CAR)["error"]
        assert e["code"] == 4210 and e["data"] == {"reason": "not_primary",
                                                   "primary": b.address()}, e
        e = a.call("promote")["error"]
        assert e["data"]["reason"] == "unavailable" and "fenced" in e["message"], e
        wait_for(lambda: b.repl()["old_primary"]["told"], "the new primary to know it was heard")
        # Nothing the old primary did reached the new one.
        cb.err("locate", "not_found", plate="SPLIT1")
        cb.err("locate", "not_found", plate="SPLIT2")
        assert cb.ok("locate", plate="A9")["plate"] == "A9"
        st = cb.ok("status")["capacity"]
        assert st["occupied"] == 11, st

        # The fence is on its disk: restarted where the new primary cannot
        # reach it, it is fenced from the start (and a damaged fence file
        # fences it too, until the operator removes it).
        assert a.stop() == 0
        with open(os.path.join(a.data_dir, "fence")) as f:
            assert json.load(f) == {"epoch": 2, "by": b.address()}
        a.cfg["replication"]["listen"] = "127.0.0.1:%d" % free_port()
        with open(a.path, "w") as f:
            json.dump(a.cfg, f)
        a.start()
        assert a.repl()["fenced"] == {"epoch": 2, "by": b.address()}
        e = a.call("entry", gate="north", plate="SPLIT3", **CAR)["error"]
        assert e["data"] == {"reason": "not_primary", "primary": b.address()}, e
        assert a.stop() == 0
        with open(os.path.join(a.data_dir, "fence"), "w") as f:
            f.write('{"epoch": 2')
        a.start()
        assert a.health()["status"] == "degraded"
        assert a.call("entry", gate="north", plate="SPLIT3", **CAR)["error"]["code"] == 4210
        assert "the fence file cannot be read" in a.logtext()
        os.unlink(os.path.join(a.data_dir, "fence"))

        # Made a standby of the new primary, it is refused: it wrote records
        # of epoch 1 past the promotion.
        assert a.stop() == 0
        a.cfg["replication"]["primary"] = "127.0.0.1:%d" % b.rport
        a.cfg["replication"]["listen"] = "127.0.0.1:%d" % free_port()
        with open(a.path, "w") as f:
            json.dump(a.cfg, f)
        a.start()
        wait_for(lambda: "diverged" in a.repl().get("last_error", ""),
                 "the old primary to be refused as diverged")
        assert "refused (diverged)" in a.logtext()
        cb.close()
        closing(a)
        a = None
        closing(b)
        b = None
    finally:
        stop_all(a, b)


test_promotion_fences_the_old_primary.timeout = 60


def test_a_standby_refuses_records_of_an_older_epoch():
    """A standby that followed a promoted primary cannot be fed by the old
    one: its hello names a later epoch, and the old primary fences itself."""
    base = small_config([{"level": 0, "zone": "A", "type": "regular", "count": 20,
                          "x": 5, "y": 10, "dx": 1, "dy": 0}])
    a = Node(base)
    b = Node(base, primary=a)
    c = None
    try:
        a.start()
        b.start()
        streaming(a)
        a.ok("entry", gate="north", plate="X1", **CAR)
        caught_up(a, b)
        assert a.stop() == 0
        b.ok("promote")
        c = Node(base, primary=b)
        c.start()
        streaming(b)
        b.ok("entry", gate="north", plate="X2", **CAR)
        caught_up(b, c)
        assert c.repl()["epoch"] == 2
        # c is pointed at the old primary instead.
        assert c.stop() == 0
        c.cfg["replication"]["primary"] = "127.0.0.1:%d" % a.rport
        with open(c.path, "w") as f:
            json.dump(c.cfg, f)
        a.start()
        c.start()
        wait_for(lambda: "fenced" in a.repl(), "the old primary to learn of epoch 2")
        wait_for(lambda: "fenced" in c.repl().get("last_error", ""), "c to be refused")
        assert c.ok("locate", plate="X2")["plate"] == "X2"
        closing(c)
        c = None
        closing(a)
        a = None
        closing(b)
        b = None
    finally:
        stop_all(a, b, c)


# ---------------------------------------------------------------------------
# 5. Timers that came due on the standby fire once after the promotion.

def test_timers_due_on_the_standby_fire_once_after_promotion():
    base = small_config([{"level": 0, "zone": "A", "type": "regular", "count": 1,
                          "x": 5, "y": 10, "dx": 1, "dy": 0}])
    a = Node(base)
    b = Node(base, primary=a)
    try:
        a.start()
        b.start()
        streaming(a)
        a.ok("entry", gate="north", plate="FULL1", **CAR)
        # Times are whole seconds: a wait made at 10.95 s with timeout_s 1
        # is due at 11 s, 50 ms later, and the primary expired it before
        # it was killed (it happened once; the standby then had the
        # record).  With 4 s it is due 3 to 4 s after the wait.
        t0 = time.monotonic()
        w = a.ok("wait", gate="north", plate="W1", timeout_s=4, **CAR)
        assert w["state"] == "waiting", w
        caught_up(a, b)
        assert a.stop(signal.SIGKILL) == -9
        assert time.monotonic() - t0 < 3, "the primary may have lived past the deadline"
        wait_orphans(a)
        time.sleep(max(0.0, t0 + 5 - time.monotonic()))
        # Due meanwhile; a standby runs no timers.
        assert b.ok("waitlist_status", waitlist_id=w["waitlist_id"])["state"] == "waiting"
        b.ok("promote")
        wait_for(lambda: b.ok("waitlist_status", waitlist_id=w["waitlist_id"])["state"] == "expired",
                 "the expiry after the promotion", timeout=5)
        time.sleep(1.5)
        # Once: one waitlist.expired record in the new primary's journal.
        expired = 0
        for seg in segments(b.data_dir):
            for _, _, _, payload in wal_records(read(os.path.join(b.data_dir, seg))):
                ev = json.loads(payload)
                expired += ev["type"] == "waitlist.expired"
        assert expired == 1, expired
        closing(b)
        b = None
    finally:
        stop_all(a, b)


def test_the_registry_follows_the_primary_and_is_erased_there_too():
    base = reg_config(retention_hours=24, erase_within_s=1)
    sync = {"mode": "sync", "on_standby_loss": "async", "sync_timeout_ms": 2000}
    a = Node(base, http=True, **sync)
    b = Node(base, primary=a, http=True, **sync)
    try:
        a.start()
        # Before the standby exists: it gets these from the image.
        register_all = lambda who: [a.ok("vehicle_register", plate=p, contact_name=n, phone=f)
                                    for p, (n, f) in who.items()]
        register_all({"ALI 1": ("Alice Early", "+49 151 3000001"),
                      "BOB 1": ("Bob Early", "+49 151 3000002")})
        b.start()
        streaming(a)
        caught_up(a, b)
        assert where(b.data_dir, ["Alice Early", "1513000001", "Bob Early"]), \
            "the image did not reach the standby's disk"
        # Live: a registration, an entry, a delete and a replaced phone.
        register_all({"CAR 1": ("Carol Live", "+49 151 3000003")})
        a.ok("entry", gate="north", plate="CAR 1", **CAR)
        a.ok("vehicle_delete", plate="BOB 1")
        register_all({"ALI 1": ("Alice Early", "+49 151 3000011")})
        caught_up(a, b)
        wait_erased(b, ["Bob Early", "1513000002", "1513000001"],
                    keep=["Carol Live", "1513000003", "1513000011"])
        # Away while a contact is deleted and another registered.
        assert b.stop() == 0
        a.ok("vehicle_delete", plate="CAR 1")
        register_all({"DAV 1": ("Dave Away", "+49 151 3000004")})
        a.ok("entry", gate="north", plate="DAV 1", **CAR)
        b.start()
        streaming(a)
        caught_up(a, b)
        wait_erased(b, ["Carol Live", "1513000003"], keep=["Dave Away", "1513000004"])
        sent = metrics(a.http_port)["parkd_replication_registry_images_total"]
        got = metrics(b.http_port)["parkd_replication_registry_images_total"]
        assert sent >= 2 and got >= 1, (sent, got)
        # A standby serves no registry; promoted, it has all of it.
        cb = b.client()
        cb.err("vehicle_get", "not_primary", plate="ALI 1")
        cb.close()
        assert a.stop(signal.SIGKILL) == -9
        wait_orphans(a)
        b.ok("promote")
        plates = sorted(v["plate"] for v in b.ok("vehicle_list")["items"])
        assert plates == ["ALI 1", "DAV 1"], plates
        assert b.ok("vehicle_get", plate="ALI 1")["phone"] == "+491513000011"
        assert b.ok("vehicle_get", plate="DAV 1")["inside"] is True
        # Retention 0 expires what is outside; the car inside stays.
        b.ok("retention", set_hours=0)
        wait_for(lambda: [v["plate"] for v in b.ok("vehicle_list")["items"]] == ["DAV 1"],
                 "the expiry on the promoted standby", timeout=10)
        wait_erased(b, ["Alice Early", "1513000011"], keep=["Dave Away"])
        closing(b)
        b = None
    finally:
        stop_all(a, b)


def register_many(c, prefix, phone, n):
    """Registers n vehicles ("PREFIX i", phone + i in six digits), pipelined."""
    calls = [("vehicle_register", {"plate": "%s %d" % (prefix, i), "contact_name": "Person %d" % i,
                                   "phone": "%s%06d" % (phone, i)}) for i in range(n)]
    assert all("result" in r for r in pipeline(c, calls, chunk=500))


def test_the_registry_image_does_not_count_as_lag():
    """A registry whose image is larger than replication.max_lag_bytes: a
    standby going live is sent it, and the changes made while it reads it,
    and is not dropped for it (the image is not lag).  The standby is
    played here, to read nothing for half a second."""
    base = reg_config(retention_hours=24, erase_within_s=60)
    a = Node(base, http=True, max_lag_bytes=65536)
    sk = None
    try:
        a.start()
        c = a.client(timeout=60)
        register_many(c, "LAG", "+4915160", 40000)
        c.close()
        sk, last = played_standby(a)
        c = a.client(timeout=60)
        streaming(a)
        for k in range(10):
            c.ok("entry", gate="north", plate="LG%d" % k, **CAR)
        time.sleep(0.5)
        assert metrics(a.http_port)["parkd_replication_standbys_dropped_total"] == 0, \
            [l for l in a.logtext().splitlines() if "max_lag" in l][:2]
        # All of it comes: the welcome, the image, then the ten records.
        sk.settimeout(20)
        got, image, lsns = [], 0, []
        while len(lsns) < 10:
            t, body = recv_frame(sk)
            got.append(t)
            if t == b"I":
                image += len(body)
            elif t == b"R":
                lsns += [lsn for _, _, lsn, _ in wal_records(body)]
        assert got[0] == b"W" and image > 65536, (got[:3], image)
        assert lsns == list(range(last + 1, last + 11)), lsns
        sk.close()
        sk = None
        c.close()
        closing(a)
        a = None
    finally:
        if sk is not None:
            sk.close()
        stop_all(a)


def test_changes_made_while_the_image_is_made_follow_it_in_order():
    """The registry's image for a standby going live is made on the thread
    pool from a copy; the batches journaled meanwhile are held for the
    standby and sent after the image, in order, none missing.  A gate
    makes entries one after another all along; the standby is played."""
    base = reg_config(retention_hours=24, erase_within_s=60)
    a = Node(base, http=True)
    sk, t = None, None
    stop, errors = threading.Event(), []
    try:
        a.start()
        c = a.client(timeout=60)
        register_many(c, "IMG", "+4915161", 40000)
        c.close()

        def gate():
            g = a.client(timeout=60)
            k = 0
            try:
                while not stop.is_set():
                    g.ok("entry", gate="north", plate="HD%d" % k, **CAR)
                    g.ok("exit", gate="south", plate="HD%d" % k)
                    k += 1
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
            finally:
                g.close()

        # The gate starts after the hello (a standby says what is on the
        # primary's disk), while the registry is copied on the loop.
        sk, last = played_standby(a)
        t = threading.Thread(target=gate)
        t.start()
        def sent():
            sb = a.repl()["standbys"]
            return sb and sb[0]["state"] == "streaming" and not sb[0]["image_pending"]
        wait_for(sent, "the image sent")
        time.sleep(0.2)
        stop.set()
        t.join()
        assert not errors, errors
        held = a.repl()["standbys"][0]["batches_held_for_image"]
        assert held >= 1, "no batch came while the image was made"
        end = a.health()["journal"]["lsn"]
        sk.settimeout(20)
        image_ended, lsns, types = False, [], []
        while not lsns or lsns[-1] < end:
            ty, body = recv_frame(sk)
            types.append(ty)
            if ty == b"I" and not body:
                image_ended = True
            elif ty == b"R":
                assert image_ended, "a record before the image ended"
                lsns += [lsn for _, _, lsn, _ in wal_records(body)]
        assert types[0] == b"W" and image_ended, types[:3]
        assert lsns == list(range(last + 1, end + 1)), (lsns[:3], lsns[-3:], last, end)
        sk.close()
        sk = None
        closing(a)
        a = None
    finally:
        stop.set()
        if t is not None:
            t.join()
        if sk is not None:
            sk.close()
        stop_all(a)


def wal(lsn, payload):
    """One record framed as lib/wal.h frames it."""
    h8 = struct.pack("<Q", lsn)
    return struct.pack("<II", len(payload), crc32c(payload, crc32c(h8))) + h8 + payload


def recv_frame(sk):
    """(type, body) of the next frame, or None at the end of the stream."""
    head = recv_exactly(sk, 5)
    if head is None:
        return None
    body = recv_exactly(sk, struct.unpack("<I", head[:4])[0] - 1)
    return head[4:5], body


def facility_records(base, n):
    """The payloads of a real primary's journal of base after n entries:
    records a played primary can send as its own."""
    a = Node(base)
    try:
        a.start()
        for i in range(n):
            a.ok("entry", gate="north", plate="REAL%d" % i, **CAR)
        assert a.stop() == 0
        recs = []
        for seg in segments(a.data_dir):
            recs += [p for _, _, _, p in wal_records(read(os.path.join(a.data_dir, seg)))]
        return recs
    finally:
        stop_all(a)


class PlayedPrimary:
    """A primary played by the test: standbys configured with it connect
    to its listener; accept() takes one, reads its hello and welcomes it
    as a primary of epoch 1 that holds what the standby holds."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.srv.settimeout(20)
        self.rport = self.srv.getsockname()[1]

    def accept(self):
        """(socket, the LSN the standby said it holds)."""
        sk, _ = self.srv.accept()
        sk.settimeout(20)
        t, body = recv_frame(sk)
        assert t == b"H", t
        last = json.loads(body)["last"]
        info = {"epoch": 1, "last": last, "listen": "127.0.0.1:1", "audit": "",
                "audit_lsn": 0}
        sk.sendall(frame(b"W", json.dumps(info).encode()))
        return sk, last

    def close(self):
        self.srv.close()


def test_a_standby_holds_acknowledgements_until_the_registry_is_on_its_disk():
    """Records read from a primary's files come without their contacts: a
    standby acknowledges nothing past what it held at its hello until the
    registry's image has come and its store, rewritten with it, is on its
    disk.  Played primary: records, a pause (they are durable on the
    standby, acknowledgements stay at the hello), then the image with a
    contact: the first acknowledgement of the records finds the contact
    in the standby's files."""
    base = small_config([{"level": 0, "zone": "A", "type": "regular", "count": 5,
                          "x": 5, "y": 10, "dx": 1, "dy": 0}])
    recs = facility_records(base, 3)
    header = json.dumps({"op": "image", "retention": 24, "config": 24, "records": 1}).encode()
    put = json.dumps({"op": "put", "plate": "ACK 1", "contact_name": "Held Back",
                      "phone": "+4915177777777", "registered_at": 1, "updated_at": 1,
                      "last_exit_at": 0}).encode()
    p = PlayedPrimary()
    b = Node(base, primary=p)
    sk = None
    try:
        b.start()
        sk, last = p.accept()
        n = len(recs) - last
        sk.sendall(frame(b"R", b"".join(wal(last + 1 + i, recs[last + i]) for i in range(n))))
        wait_for(lambda: b.health()["journal"]["durable_lsn"] == last + n, "the records durable")
        acks = []
        sk.settimeout(0.5)
        try:
            while True:
                t, body = recv_frame(sk)
                acks.append(struct.unpack("<Q", body)[0])
        except socket.timeout:
            pass
        assert all(a <= last for a in acks), (acks, last)
        r = b.repl()
        assert r["acks_held_at"] == last and r["registry_image_lsn"] == 0, r
        assert not where(b.data_dir, ["Held Back"])
        sk.settimeout(20)
        sk.sendall(frame(b"I", wal(last + n, header) + wal(last + n, put)) + frame(b"I", b""))
        while True:
            t, body = recv_frame(sk)
            if t == b"A" and struct.unpack("<Q", body)[0] >= last + n:
                break
        # The acknowledgement came after the rewrite: the contact is on disk.
        assert where(b.data_dir, ["Held Back", "4915177777777"]) == {
            "Held Back": ["contacts/contacts.db"], "4915177777777": ["contacts/contacts.db"]}
        r = b.repl()
        assert r["acks_held_at"] is None and r["registry_image_lsn"] == last + n, r
        sk.close()
        sk = None
        closing(b)
        b = None
    finally:
        if sk is not None:
            sk.close()
        p.close()
        stop_all(b)


def test_a_standby_refuses_a_hostile_registry_stream():
    """A primary played here sends a standby what no primary would: side
    records before any image, a damaged image, an image of another LSN
    half way, an image that is not a registry's, side records whose record
    never comes, more registry bytes at once than the standby allows.  Each time the standby drops the connection, says why in
    its health, connects again, and keeps none of it."""
    base = small_config([{"level": 0, "zone": "A", "type": "regular", "count": 5,
                          "x": 5, "y": 10, "dx": 1, "dy": 0}])
    recs = facility_records(base, 4)
    assert len(recs) >= 4, len(recs)
    header = json.dumps({"op": "image", "retention": 24, "config": 24, "records": 0}).encode()
    put = json.dumps({"op": "put", "plate": "HOST 1", "contact_name": "Hostile Person",
                      "phone": "+4915199999999", "registered_at": 1, "updated_at": 1,
                      "last_exit_at": 0}).encode()
    # Each case as the bytes after the welcome, given the LSN the standby holds.
    cases = [
        (lambda last: frame(b"C", wal(1, b'{"op":"purge"}')),
         "side records before the registry's image"),
        (lambda last: frame(b"I", b"not a record at all"), "a damaged registry image"),
        (lambda last: frame(b"I", wal(3, header)) + frame(b"I", wal(4, put)),
         "a damaged registry image"),
        (lambda last: frame(b"I", b""), "an empty registry image"),
        # Not a registry's image (a put before its header): judged once the
        # record it stands for has come.
        (lambda last: frame(b"I", wal(last + 1, put)) + frame(b"I", b"") +
         frame(b"R", wal(last + 1, recs[last])), "does not install"),
        # A side record of a record that came before it, not with it.
        (lambda last: frame(b"I", wal(last, header)) + frame(b"I", b"") +
         frame(b"R", wal(last + 1, recs[last])) + frame(b"C", wal(last + 1, put)) +
         frame(b"R", wal(last + 2, recs[last + 1])), "without its record"),
        # More than replication.max_registry_bytes held at once: an image
        # that does not end, side records whose records do not come.
        (lambda last: b"".join(frame(b"I", wal(last, put * 50)) for _ in range(12)),
         "the registry's image is over replication.max_registry_bytes (65536)"),
        (lambda last: frame(b"I", wal(last, header)) + frame(b"I", b"") +
         b"".join(frame(b"C", wal(last + 1 + i, put * 50)) for i in range(12)),
         "side records waiting for their records is over replication.max_registry_bytes"),
    ]
    p = PlayedPrimary()
    b = Node(base, primary=p, max_registry_bytes=65536)
    try:
        b.start()
        for hostile, why in cases:
            sk, last = p.accept()
            sk.sendall(hostile(last))
            while recv_frame(sk) is not None:     # its acks, until it hangs up
                pass
            sk.close()
            err = b.repl().get("last_error", "")
            assert why in err, (why, err)
            assert "Hostile" not in err and "99999999" not in err, err
        assert b.health()["status"] != "down"
        assert not where(b.data_dir, ["Hostile Person", "4915199999999"])
        closing(b)
        b = None
    finally:
        p.close()
        stop_all(b)


# ---------------------------------------------------------------------------
# 6. Audit events in Redis exactly once across the switch.

def journal_ids(data_dir):
    out = []
    for seg in segments(data_dir):
        for _, _, lsn, payload in wal_records(read(os.path.join(data_dir, seg))):
            out.append((lsn, json.loads(payload)))
    return out


def test_a_standbys_audit_health_follows_its_connection():
    """A standby stores no audit events: it follows its primary's shipped
    position.  A primary's health stays degraded after a failure of its
    Redis connection until it stores a batch again; a standby never stores
    one, so once its own Redis is back it is judged by its connection:
    here it is connected, its connection failed meanwhile, and events wait
    (its primary's Redis is down), and its health says ok."""
    with RedisServer() as ra, RedisServer() as rb:
        base = sync_base()
        base["audit"] = {"redis": ra.address}
        a = Node(base)
        bbase = copy.deepcopy(base)
        bbase["audit"] = {"redis": rb.address}
        b = Node(bbase, primary=a)
        try:
            a.start()
            b.start()
            streaming(a)
            wait_for(lambda: b.health()["audit"]["state"] == "connected", "the standby's Redis")
            ra.stop()
            rb.stop()
            wait_for(lambda: b.health()["audit"]["state"] != "connected",
                     "the standby to notice its Redis is gone")
            for i in range(5):
                a.ok("entry", gate="north", plate="SBH%d" % i, **CAR)
            lsn = a.health()["journal"]["lsn"]
            wait_for(lambda: b.health()["journal"]["lsn"] == lsn, "the standby to have the entries")
            rb.start()
            wait_for(lambda: b.health()["audit"]["state"] == "connected", "the standby's Redis back")
            h = b.health()
            assert h["audit"]["failures"] > 0 and h["audit"]["pending"] > 0, h
            assert h["status"] == "ok", h
        finally:
            stop_all(a, b)


def test_audit_events_exactly_once_across_the_switch():
    rng = random.Random(SEED + 2)
    with RedisServer() as redis:
        base = sync_base()
        base["audit"] = {"redis": redis.address}
        a = Node(base, mode="sync", sync_timeout_ms=10000)
        b = Node(base, primary=a)
        try:
            a.start()
            b.start()
            streaming(a)
            ledger, lock = {}, threading.Lock()
            stop, errors, counts = threading.Event(), [], [0]
            threads = [threading.Thread(target=crash_worker, args=(
                a.port, "AU%dN" % i, ledger, lock, stop, random.Random(rng.random()),
                errors, counts)) for i in range(8)]
            for t in threads:
                t.start()
            wait_for(lambda: counts[0] >= 200, "changes on the primary")
            stop.set()
            assert a.stop(signal.SIGKILL) == -9
            for t in threads:
                t.join(30)
            assert not errors, errors[:3]
            wait_orphans(a)
            cb = b.client(timeout=60)
            cb.ok("promote")
            verify_ledger(cb, ledger)
            for i in range(50):
                cb.ok("entry", gate="north", plate="NEW%d" % i, **CAR)
            wait_for(lambda: b.health()["audit"]["pending"] == 0 and
                     b.health()["audit"]["state"] == "connected", "the audit backlog to drain")
            cb.close()
            recs = journal_ids(b.data_dir)
            assert [l for l, _ in recs] == list(range(1, len(recs) + 1))
            dump = AuditDump(redis.client())
            ids = dump.stream_ids()
            dup = {i for i in ids if ids.count(i) > 1}
            assert not dup, "stored twice: %s" % sorted(dup)[:5]
            want = {ev["id"] for _, ev in recs}
            assert set(ids) == want, (len(set(ids)), len(want),
                                      sorted(want - set(ids))[:3], sorted(set(ids) - want)[:3])
            for _, ev in recs:
                if ev["subjects"]:
                    assert json.loads(dump.events[ev["id"]]) == ev
            # The bookkeeping: one field for the old primary's epoch, one for the new.
            shipped = redis.client().command("HGETALL", "parkd:audit:shipped")
            fields = dict(zip(shipped[::2], shipped[1::2]))
            key = [f for f in fields if ":" not in f]
            assert len(key) == 1 and key[0] + ":2" in fields, fields
            assert int(fields[key[0] + ":2"]) == len(recs), fields
            promoted = [l for l, ev in recs if ev["type"] == "replication.promoted"]
            assert len(promoted) == 1 and int(fields[key[0]]) == promoted[0] - 1, (fields, promoted)
            assert all(ev["epoch"] == (2 if l >= promoted[0] else 1) for l, ev in recs)
            closing(b)
            b = None
        finally:
            stop_all(a, b)


test_audit_events_exactly_once_across_the_switch.timeout = 90


# ---------------------------------------------------------------------------
# 7. on_standby_loss: refuse.

def test_refuse_mode_answers_no_standby_while_the_standby_is_away():
    base = small_config([{"level": 0, "zone": "A", "type": "regular", "count": 50,
                          "x": 5, "y": 10, "dx": 1, "dy": 0}])
    a = Node(base, mode="sync", on_standby_loss="refuse", sync_timeout_ms=300)
    b = Node(base, primary=a)
    try:
        a.start()
        b.start()
        streaming(a)
        ca = a.client()
        ca.ok("entry", gate="north", plate="R1", **CAR)
        assert b.ok("locate", plate="R1")["plate"] == "R1"
        assert b.stop() == 0
        wait_for(lambda: a.repl().get("sync", "").startswith("lost"), "the standby to be lost")
        e = ca.err("entry", "no_standby", gate="north", plate="R2", **CAR)
        assert e["code"] == 5030, e
        e = ca.err("exit", "no_standby", gate="south", plate="R1")
        h = a.health()
        assert h["status"] == "degraded" and "refused" in h["reason"], h
        assert ca.ok("locate", plate="R1")["plate"] == "R1"     # reads go on
        b.start()
        wait_for(lambda: a.repl().get("sync") == "ok", "the standby to be back")
        ca.ok("entry", gate="north", plate="R3", **CAR)
        assert b.ok("locate", plate="R3")["plate"] == "R3"
        ca.close()
        closing(b)
        b = None
        closing(a)
        a = None
    finally:
        stop_all(a, b)


def ended_changes(c):
    """Makes, on a primary of five spots, one of each change that a second
    call repeats without changing anything; returns those second calls."""
    for i in range(4):
        c.ok("entry", gate="north", plate="L%d" % i, **CAR)
    c.ok("lost", plate="L0")
    spot = c.ok("spot", id="A-05", state="out_of_service")
    assert spot["state"] == "out_of_service", spot
    w = c.ok("wait", gate="north", plate="W1", timeout_s=600, **CAR)
    assert w["state"] == "waiting", w
    c.ok("wait_cancel", waitlist_id=w["waitlist_id"])
    r = c.ok("reserve", plate="R1", **CAR, **{"from": "2027-01-01T10:00:00Z",
                                              "to": "2027-01-01T12:00:00Z"})
    c.ok("reservation_cancel", reservation=r["reservation"])
    c.ok("strategy", set="farthest")
    return [("lost", {"plate": "L0"}),
            ("spot", {"id": "A-05", "state": "out_of_service"}),
            ("wait_cancel", {"waitlist_id": w["waitlist_id"]}),
            ("reservation_cancel", {"reservation": r["reservation"]}),
            ("strategy", {"set": "farthest"})]


FIVE = [{"level": 0, "zone": "A", "type": "regular", "count": 5,
         "x": 5, "y": 10, "dx": 1, "dy": 0}]


def test_a_standby_refuses_a_change_even_when_it_would_change_nothing():
    base = small_config(FIVE)
    a = Node(base)
    b = Node(base, primary=a)
    try:
        a.start()
        b.start()
        streaming(a)
        ca = a.client()
        repeats = ended_changes(ca)
        caught_up(a, b)
        cb = b.client()
        for method, params in repeats:
            e = cb.err(method, "not_primary", **params)
            assert e["code"] == 4210 and e["data"]["primary"] == a.address(), (method, e)
        # The same calls on the primary change nothing and are answered.
        for method, params in repeats:
            ca.ok(method, **params)
        assert a.health()["journal"]["lsn"] == b.health()["journal"]["lsn"]
        ca.close()
        cb.close()
        closing(b)
        b = None
        closing(a)
        a = None
    finally:
        stop_all(a, b)


def test_sync_a_repeated_change_waits_for_the_standby_like_the_first():
    """A second call that finds its change made acknowledges that change:
    in sync mode it is answered only once a standby holds it."""
    a = Node(small_config(FIVE), mode="sync", on_standby_loss="refuse",
             sync_timeout_ms=60000)
    sk = None
    try:
        a.start()
        sk, last = played_standby(a)
        first = a.client()

        def ack():
            lsn = a.health()["journal"]["durable_lsn"]
            sk.sendall(frame(b"A", struct.pack("<Q", lsn)))
            wait_for(lambda: a.repl()["acked_lsn"] >= lsn, "the acknowledgement")
        sk.sendall(frame(b"A", struct.pack("<Q", last)))
        streaming(a)
        # Set up with every change acknowledged as it is made.
        ended_changes(Proxy(a, first, ack))
        acked = a.repl()["acked_lsn"]
        # The last change (strategy) is repeated before the standby acknowledges it.
        first.request("strategy", {"set": "nearest"}, rid=1)
        wait_for(lambda: a.health()["journal"]["durable_lsn"] > acked, "the change on disk")
        second = a.client(timeout=0.5)
        second.request("strategy", {"set": "nearest"}, rid=2)
        try:
            line = second.read_json()
            raise AssertionError("answered before the standby acknowledged: %r" % (line,))
        except socket.timeout:
            pass
        ack()
        assert first.read_json()["result"]["strategy"] == "nearest"
        second.sock.settimeout(10)
        assert second.read_json()["result"]["strategy"] == "nearest"
        first.close()
        second.close()
        closing(a)
        a = None
    finally:
        if sk is not None:
            sk.close()
        stop_all(a)


class Proxy:
    """A client whose every change is acknowledged by the played standby
    once it is on the primary's disk."""
    def __init__(self, d, c, ack):
        self.d, self.c, self.ack = d, c, ack

    def ok(self, method, **params):
        before = self.d.health()["journal"]["durable_lsn"]
        self.c.request(method, params, rid=method)
        wait_for(lambda: self.d.health()["journal"]["durable_lsn"] > before,
                 method + " on disk")
        self.ack()
        line = self.c.read_json()
        assert "result" in line, (method, line)
        return line["result"]


def fence_hello(primary, epoch, last, listen):
    """Says, as a standby promoted to epoch would, that primary is stale."""
    sk = socket.create_connection(("127.0.0.1", primary.rport))
    say_hello(sk, primary, last, epoch, listen, fence=True)
    return sk


def test_a_fence_fails_the_replies_held_for_a_standby_in_either_loss_mode():
    """A sync primary fenced while a change waits for the standby: the new
    primary may not hold it, so the gate is told to look, not that it was
    made; nothing is answered as made later either."""
    for loss in ("async", "refuse"):
        a = Node(small_config(FIVE), mode="sync", on_standby_loss=loss,
                 sync_timeout_ms=1000)
        sk = fk = None
        try:
            a.start()
            sk, last = played_standby(a)
            sk.sendall(frame(b"A", struct.pack("<Q", last)))
            streaming(a)
            gate = a.client(timeout=20)
            gate.request("entry", {"gate": "north", "plate": "H1", **CAR}, rid=1)
            wait_for(lambda: a.health()["journal"]["durable_lsn"] > last, "H1 on disk")
            fk = fence_hello(a, 2, last, "127.0.0.1:7999")
            line = gate.read_json()
            assert line["id"] == 1 and line["error"]["code"] == 5030, (loss, line)
            msg = line["error"]["message"]
            assert "may or may not have been kept" in msg and "127.0.0.1:7999" in msg, msg
            # Well past sync_timeout_ms: no later answer says it was made.
            time.sleep(1.5)
            gate.sock.settimeout(0.2)
            try:
                raise AssertionError("a second answer: %r" % (gate.read_json(),))
            except socket.timeout:
                pass
            e = a.call("entry", gate="north", plate="H2", **CAR)
            assert e["error"]["code"] == 4210, e
            assert a.repl()["fenced"], a.repl()
            gate.close()
            closing(a)
            a = None
        finally:
            for k in (sk, fk):
                if k is not None:
                    k.close()
            stop_all(a)


def test_a_fenced_primary_journals_nothing_of_its_own_after_a_restart():
    """Its history ended with the fence: neither the file's tariff and
    retention nor the registry's expiries become records."""
    cfg = small_config(FIVE)
    cfg["registry"] = {"retention_hours": 24, "erase_within_s": 1}
    a = Node(cfg)
    fk = None
    try:
        a.start()
        c = a.client()
        c.ok("vehicle_register", plate="V1", contact_name="Ann", phone="+49301234567")
        last = a.health()["journal"]["lsn"]
        fk = fence_hello(a, 2, last, "127.0.0.1:7999")
        wait_for(lambda: a.repl()["fenced"], "the fence")
        c.close()
        assert a.stop() == 0
        a.cfg["registry"]["retention_hours"] = 0
        a.cfg["tariff"]["lost_ticket"] += 1000
        a.rewrite()
        a.start()
        time.sleep(1.5)        # the expiry timer's retry and more
        assert a.repl()["fenced"], a.repl()
        assert a.health()["journal"]["lsn"] == last
        closing(a)
        a = None
    finally:
        if fk is not None:
            fk.close()
        stop_all(a)


def test_standbys_on_two_hosts_with_the_same_listen_address_both_stay():
    """A standby is its listen address on its host: two on different hosts
    that both say 0.0.0.0:7071 are two standbys, a second connection from
    the same host replaces the first."""
    a = Node(small_config(FIVE))
    socks = []
    try:
        a.start()

        def standby(source):
            sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sk.bind((source, 0))
            sk.connect(("127.0.0.1", a.rport))
            say_hello(sk, a, 0, listen="0.0.0.0:7071")
            socks.append(sk)
        standby("127.0.0.1")
        standby("127.0.0.2")
        streaming(a, 2)
        hosts = sorted(s["peer"].rsplit(":", 1)[0] for s in a.repl()["standbys"])
        assert hosts == ["127.0.0.1", "127.0.0.2"], a.repl()
        standby("127.0.0.2")
        wait_for(lambda: len(a.repl()["standbys"]) == 2 and
                 "it connected again" in a.logtext(), "the old connection replaced")
        closing(a)
        a = None
    finally:
        for sk in socks:
            sk.close()
        stop_all(a)


def test_a_primary_restarted_from_an_older_copy_refuses_the_standby_that_holds_more():
    """The standby holds records the restored primary never wrote, at LSNs
    the primary then fills with changes of its own: whatever the LSNs say,
    the standby's acknowledgements must not count for them."""
    a = Node(small_config(FIVE), mode="sync", on_standby_loss="async",
             sync_timeout_ms=1500)
    b = Node(small_config(FIVE), primary=a)
    backup = a.data_dir + ".older"
    try:
        a.start()
        b.start()
        streaming(a)
        for p in ("P1", "P2"):
            a.ok("entry", gate="north", plate=p, **CAR)
        caught_up(a, b)
        assert a.stop() == 0
        shutil.copytree(a.data_dir, backup)
        a.start()
        streaming(a)
        for p in ("P3", "P4", "P5"):
            a.ok("entry", gate="north", plate=p, **CAR)
        caught_up(a, b)
        held = b.health()["journal"]["lsn"]
        assert b.stop() == 0
        assert a.stop() == 0
        shutil.rmtree(a.data_dir)
        shutil.copytree(backup, a.data_dir)
        a.start()
        # Changes of its own at the LSNs the standby holds others at; the
        # standby comes back only then, when its LSN is no longer ahead.
        c = a.client(timeout=30)
        for i in range(3):
            c.ok("entry", gate="north", plate="Q%d" % i, **CAR)
            c.ok("exit", gate="south", plate="Q%d" % i)
        assert a.health()["journal"]["lsn"] > held
        b.start()
        wait_for(lambda: "diverged" in b.repl().get("last_error", ""),
                 "the standby to be refused as diverged")
        assert a.repl()["acked_lsn"] < held, a.repl()
        assert not any(s["state"] == "streaming" for s in a.repl()["standbys"])
        c.close()
        closing(a)
        a = None
        closing(b)
        b = None
    finally:
        shutil.rmtree(backup, ignore_errors=True)
        stop_all(a, b)


def test_a_standby_not_on_fsync_says_its_acknowledgements_are_not_on_disk():
    a = Node(small_config(FIVE))           # never started: the standby waits for it
    b = Node(small_config(FIVE, durability="write"), primary=a)
    c = Node(small_config(FIVE), primary=a)
    try:
        b.start()
        b.wait_log("durability is not fsync")
        c.start()
        time.sleep(0.2)
        assert "durability is not fsync" not in c.logtext()
        closing(b)
        b = None
        closing(c)
        c = None
    finally:
        stop_all(b, c)


def test_a_half_closed_subscriber_closes_once_its_changes_are_acknowledged_in_steps():
    """Sync mode: a change is durable once a standby acknowledges it.  A
    subscriber that half-closes while two changes wait stays open until
    both are, and is closed then, though the first was acknowledged on
    its own before (nothing of its own is queued: nothing else would wake
    it).  The standby is played here, to acknowledge one LSN at a time."""
    base = small_config([{"level": 0, "zone": "A", "type": "regular", "count": 50,
                          "x": 5, "y": 10, "dx": 1, "dy": 0}])
    a = Node(base, mode="sync", sync_timeout_ms=60000)
    sk = None
    try:
        a.start()
        sk, last = played_standby(a)
        kiosk, gate = a.client(), a.client()
        kiosk.ok("subscribe", topics=["search:NOMATCH"])
        sk.sendall(frame(b"A", struct.pack("<Q", last)))
        streaming(a)
        gate.request("entry", {"gate": "north", "plate": "STEP1", **CAR}, rid=1)
        gate.request("entry", {"gate": "north", "plate": "STEP2", **CAR}, rid=2)
        wait_for(lambda: a.health()["journal"]["lsn"] == last + 2, "two changes journaled")
        kiosk.sock.shutdown(socket.SHUT_WR)
        assert kiosk.no_data(0.3), "closed before its changes were acknowledged"
        sk.sendall(frame(b"A", struct.pack("<Q", last + 1)))
        assert gate.read_json()["id"] == 1
        assert kiosk.no_data(0.3), "closed before its changes were acknowledged"
        sk.sendall(frame(b"A", struct.pack("<Q", last + 2)))
        assert gate.read_json()["id"] == 2
        assert kiosk.read_until_eof(timeout=10) == []
        sk.close()
        sk = None
        closing(a)
        a = None
    finally:
        if sk is not None:
            sk.close()
        stop_all(a)


def test_sync_without_a_standby_goes_on_alone_after_the_timeout():
    base = small_config([{"level": 0, "zone": "A", "type": "regular", "count": 50,
                          "x": 5, "y": 10, "dx": 1, "dy": 0}])
    a = Node(base, mode="sync", on_standby_loss="async", sync_timeout_ms=300)
    try:
        a.start()
        c = a.client()
        # No standby ever: the first change waits out the timeout, then goes on alone.
        assert c.ok("entry", gate="north", plate="S1", **CAR)["plate"] == "S1"
        h = a.health()
        assert h["replication"]["sync"] == "lost: going on alone" and h["status"] == "degraded", h
        c.ok("entry", gate="north", plate="S2", **CAR)
        c.close()
        closing(a)
        a = None
    finally:
        stop_all(a)


# ---------------------------------------------------------------------------
# 8. A standby that does not read is dropped; memory and gates stay fine.

def frame(t, body):
    return struct.pack("<I", len(body) + 1) + t + body


def say_hello(sk, primary, last, epoch=1, listen="127.0.0.1:1", fence=False):
    """The hello of a standby of epoch that holds up to last (fence: one
    promoted telling its old primary)."""
    hello = {"token": TOKEN, "last": last, "epoch": epoch, "listen": listen,
             "facility": primary.cfg["facility"]["name"], "fence": fence}
    sk.sendall(frame(b"H", json.dumps(hello).encode()))


def played_standby(primary):
    """A standby played by the test, holding all the primary has: its
    socket, hello said, and the LSN it said it holds.  A primary believes
    a standby holds its records only up to what its disk held when it
    started, and what it sent since: it is restarted first (clients made
    before are gone), so that all it has was on its disk then."""
    assert primary.stop() == 0
    primary.start()
    sk = socket.create_connection(("127.0.0.1", primary.rport))
    last = primary.health()["journal"]["lsn"]
    say_hello(sk, primary, last)
    return sk, last


def flood_and_gate(d, seconds, tag):
    """Pipelined changes flood d while a gate goes on one entry and exit at
    a time; returns the gate's latencies (sorted) and the changes flooded."""
    stop, flooded, errors = threading.Event(), [0], []

    def flood():
        fc = d.client(timeout=60)
        k = 0
        try:
            while not stop.is_set():
                calls = []
                for _ in range(250):
                    calls.append(("entry", {"gate": "north", "plate": "%sF%d" % (tag, k), **CAR}))
                    calls.append(("exit", {"gate": "south", "plate": "%sF%d" % (tag, k)}))
                    k += 1
                rs = pipeline(fc, calls, chunk=500)
                errors.extend(x for x in rs if "error" in x)
                flooded[0] += len(rs)
        finally:
            fc.close()

    th = threading.Thread(target=flood)
    th.start()
    c = d.client(timeout=30)
    lat = []
    t_end = time.time() + seconds
    i = 0
    try:
        while time.time() < t_end:
            t0 = time.time()
            c.ok("entry", gate="north", plate="%sG%d" % (tag, i), **CAR)
            c.ok("exit", gate="south", plate="%sG%d" % (tag, i))
            lat.append(time.time() - t0)
            i += 1
    finally:
        stop.set()
        th.join(60)
        c.close()
    assert not errors, errors[:3]
    lat.sort()
    return lat, flooded[0]


def pct(lat, q):
    return lat[min(len(lat) - 1, int(len(lat) * q))] * 1000


def test_standby_that_does_not_read_is_dropped():
    base = dur_config(spots=2000)
    # Few closed tickets kept: the garage itself does not grow with the flood.
    base["limits"]["closed_tickets"] = 1000
    a = Node(base, max_lag_bytes=262144)
    try:
        a.start()
        alone, n0 = flood_and_gate(a, 2, "A")
        # A "standby" that holds everything so far, says hello and never
        # reads again: a small receive window.  Everything it can hold is
        # what the primary's disk held when it started: restarted first.
        assert a.stop() == 0
        a.start()
        sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sk.connect(("127.0.0.1", a.rport))
        say_hello(sk, a, a.health()["journal"]["durable_lsn"])
        wait_for(lambda: [s["state"] for s in a.repl()["standbys"]] == ["streaming"],
                 "the silent standby")
        rss0 = a.rss_kb()
        lat, n1 = flood_and_gate(a, 3, "B")
        r = a.repl()
        assert r["dropped"] >= 1 and r["standbys_connected"] == 0, r
        assert "fell more than replication.max_lag_bytes behind" in a.logtext()
        grew = a.rss_kb() - rss0
        print("silent standby: dropped past %d bytes behind; RSS grew %d KiB under %d more "
              "changes; a gate's entry+exit while %d and %d changes flooded: alone p50 %.1f "
              "p99 %.1f ms, with the silent standby p50 %.1f p99 %.1f max %.1f ms" % (
                  262144, grew, n1, n0, n1, pct(alone, 0.5), pct(alone, 0.99),
                  pct(lat, 0.5), pct(lat, 0.99), lat[-1] * 1000))
        # AddressSanitizer's quarantine (256 MiB by default) holds what the
        # flood frees: a bound says nothing there.
        if not SANITIZED:
            assert grew < 8192, grew
        # No gate waited on it (a generous bound: a loop blocked on the
        # standby would stall them all).
        assert lat[-1] < 5.0, lat[-1]
        sk.close()
        closing(a)
        a = None
    finally:
        stop_all(a)


# ---------------------------------------------------------------------------
# 9. Health and metrics of both roles; a bad token.

def metric_lines(port):
    st, body = http_request(port, "/metrics")
    assert st == 200
    promtool(body)
    out = {}
    for line in body.splitlines():
        if line.startswith("parkd_replication"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def test_health_and_metrics_of_both_roles():
    base = small_config([{"level": 0, "zone": "A", "type": "regular", "count": 50,
                          "x": 5, "y": 10, "dx": 1, "dy": 0}])
    a = Node(base, http=True, mode="sync", sync_timeout_ms=5000)
    b = Node(base, primary=a, http=True)
    bad = None
    try:
        a.start()
        b.start()
        streaming(a)
        for i in range(5):
            a.ok("entry", gate="north", plate="M%d" % i, **CAR)
        caught_up(a, b)
        ra, rb = a.repl(), b.repl()
        assert ra["role"] == "primary" and ra["epoch"] == 1 and ra["mode"] == "sync", ra
        assert ra["sync"] == "ok" and ra["standbys_connected"] == 1, ra
        assert ra["standbys"][0]["address"] == b.address(), ra
        assert ra["acked_lsn"] == a.health()["journal"]["durable_lsn"], ra
        assert rb["role"] == "standby" and rb["state"] == "streaming", rb
        assert rb["primary_listen"] == a.address() and rb["applied_lsn"] == ra["acked_lsn"], rb
        ma, mb = metric_lines(a.http_port), metric_lines(b.http_port)
        assert ma['parkd_replication_role{role="primary"}'] == 1
        assert mb['parkd_replication_role{role="standby"}'] == 1
        assert ma["parkd_replication_standbys"] == 1 and ma["parkd_replication_epoch"] == 1
        assert ma["parkd_replication_acked_lsn"] == ra["acked_lsn"]
        assert mb["parkd_replication_connected"] == 1
        assert mb["parkd_replication_applied_lsn"] == rb["applied_lsn"]
        assert mb["parkd_replication_records_received_total"] >= 5
        # /healthz: 200 where changes are taken, 503 on the standby.
        assert http_request(a.http_port, "/healthz")[0] == 200
        assert http_request(b.http_port, "/healthz")[0] == 503
        # A standby with the wrong token is refused and says why.
        base2 = copy.deepcopy(base)
        bad = Node(base2, primary=a)
        bad.cfg["replication"]["token"] = "not-the-token"
        with open(bad.path, "w") as f:
            json.dump(bad.cfg, f)
        bad.start()
        wait_for(lambda: "unknown token" in bad.repl().get("last_error", ""), "the refusal")
        closing(bad)
        bad = None
        closing(b)
        b = None
        closing(a)
        a = None
    finally:
        stop_all(a, b, bad)


def test_a_standby_never_holds_its_batches_back():
    """Gathering (daemon/gather.h) holds a batch for the clients the last
    commit answered.  A standby answers none: its records come from the
    primary's stream, and in sync mode the next ones only after its own
    acknowledgement.  Its batches must start at once; held, every
    acknowledgement would wait for company that comes only after it."""
    a = Node(dur_config(), http=True, mode="sync", sync_timeout_ms=5000)
    b = Node(dur_config(), primary=a, http=True)
    try:
        a.start()
        b.start()
        streaming(a)
        bursts(a, rounds=20, prefix="SBY")
        caught_up(a, b)
        mb = metrics(b.http_port)
        assert mb["parkd_journal_batches_total"] > 0, mb["parkd_journal_batches_total"]
        assert mb["parkd_journal_batches_held_total"] == 0, mb["parkd_journal_batches_held_total"]
        closing(b)
        b = None
        closing(a)
        a = None
    finally:
        stop_all(a, b)


# ---------------------------------------------------------------------------
# 10. The pair of conf/ (make standby-demo), on free ports.

def test_the_demo_pair_in_conf():
    cfgs = []
    for name in ("standby-primary.json", "standby-standby.json"):
        with open(os.path.join(ROOT, "conf", name)) as f:
            cfgs.append(json.load(f))
        rc, out = check_config(cfgs[-1])
        assert rc == 0, out
    pr, sr = cfgs[0]["replication"], cfgs[1]["replication"]
    assert sr["primary"] == pr["listen"] and sr["token"] == pr["token"], (pr, sr)
    assert pr["mode"] == sr["mode"] == "sync" and pr["primary"] is None
    pr["listen"] = sr["primary"] = "127.0.0.1:%d" % free_port()
    sr["listen"] = "127.0.0.1:%d" % free_port()
    p, s = Daemon(cfgs[0]), Daemon(cfgs[1])
    try:
        p.start()
        s.start()
        cp = p.client()
        e = cp.ok("entry", gate="north", plate="B-XY 123", **CAR)
        assert s.client().ok("locate", plate="B-XY 123")["ticket"] == e["ticket"]
        cp.close()
        assert p.stop(signal.SIGKILL) == -9
        wait_orphans(p)
        cs = s.client()
        assert cs.ok("promote") == {"role": "primary", "epoch": 2}
        cs.ok("exit", gate="south", plate="B-XY 123")
        cs.close()
        closing(s)
        s = None
    finally:
        stop_all(p, s)
