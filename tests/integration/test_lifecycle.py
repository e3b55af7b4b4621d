"""Ticket lifecycle and daemon lifecycle through the wire: entry, exit,
quote, pay, lost, locate, ticket, status, spot, strategy, tariff; pricing at
fixed times with `at` (config.md's example tariff, which conf/parkd.json
uses); allocation; lot_full and a race for the last spot; SIGTERM/SIGINT;
--check-config; protected mode refusing a non-loopback client.

Times: 2026-11-22 is a Sunday (no peak); 2026-11-23 a Monday.  Berlin is
UTC+1 in November and UTC+2 in July."""
import copy
import json
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import (DEMO, PARKD, Daemon, Shared, assert_error, assert_result, at, check_config,
                     demo_config, non_loopback_ipv4, parse_time, small_config, until,
                     UUID7_RE, UUID_RE)

SHARED = Shared()

SUN = "2026-11-22T10:00:00Z"       # Sunday 11:00 in Berlin: no peak
MON = "2026-11-23T07:00:00Z"       # Monday 08:00 in Berlin: peak x1.5


def pricing():
    """The demo garage, shared by the pricing tests (few vehicles: no surge)."""
    return SHARED.get("pricing")


def call(c, method, **params):
    return c.call(method, **params)


def ok(c, method, **params):
    return assert_result(c.call(method, **params))


def rpc(c, method, params):
    """A call whose params may include a param named 'method'."""
    rid = c.request(method, params)
    r = c.read_json()
    assert r.get("id") == rid, r
    return r


def enter(c, plate, when, cls="car", gate="north", **kw):
    r = ok(c, "entry", gate=gate, plate=plate, **{"class": cls}, at=when, **kw)
    assert r["entered_at"] == when, r
    return r


def amount_at(c, plate, when):
    q = ok(c, "quote", plate=plate, at=when)
    assert q["at"] == when, q
    return q["amount"]


# ---------------------------------------------------------------- entry, status, allocation

def test_entry_result_and_status():
    with Daemon() as d:
        c = d.client()
        s0 = ok(c, "status")
        assert s0["facility"] == "Demo Garage" and s0["strategy"] == "nearest", s0
        assert s0["capacity"]["total"] == 106 and s0["capacity"]["free"] == 106, s0
        assert s0["capacity"]["occupied"] == 0 and s0["capacity"]["out_of_service"] == 0, s0
        assert {k: (v["total"], v["free"]) for k, v in s0["by_type"].items()} == {
            "motorcycle": (10, 10), "compact": (20, 20), "regular": (70, 70), "oversized": (6, 6)}, s0
        assert {k: (v["total"], v["free"]) for k, v in s0["by_level"].items()} == {
            "0": (70, 70), "1": (36, 36)}, s0
        assert s0["waitlist"] == 0 and s0["reservations_active"] == 0, s0

        t0 = int(time.time())
        r = ok(c, "entry", gate="north", plate="b-xy 123", **{"class": "car"})
        t1 = int(time.time())
        assert UUID7_RE.match(r["ticket"]), r
        assert r["plate"] == "B-XY 123" and r["class"] == "car" and r["gate"] == "north", r
        assert t0 - 1 <= parse_time(r["entered_at"]) <= t1 + 1, r
        # Nearest regular spot from north (0,0): B-01 at (5,20), distance 25.
        assert r["spots"] == [{"id": "B-01", "level": 0, "zone": "B", "type": "regular"}], r
        assert r["distance"] == 25, r

        s1 = ok(c, "status")
        assert s1["capacity"]["free"] == 105 and s1["capacity"]["occupied"] == 1, s1
        assert (s1["by_type"]["regular"]["total"], s1["by_type"]["regular"]["free"]) == (70, 69), s1
        assert (s1["by_level"]["0"]["free"], s1["by_level"]["1"]["free"]) == (69, 36), s1

        # Ticket ids are time-ordered: later tickets sort after earlier ones.
        ids = [r["ticket"]] + [ok(c, "entry", gate="north", plate="ORD %d" % i,
                                  **{"class": "car"})["ticket"] for i in range(20)]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids


def test_allocation_by_class_needs_and_bus_run():
    with Daemon() as d:
        c = d.client()
        # Motorcycle: its own row first, M-01 at (2,4): distance 6.
        r = ok(c, "entry", gate="north", plate="M1", **{"class": "motorcycle"})
        assert [s["id"] for s in r["spots"]] == ["M-01"] and r["distance"] == 6, r
        # With needs ev only the B row (regular, tagged ev) fits.
        r = ok(c, "entry", gate="north", plate="M2", **{"class": "motorcycle"}, needs=["ev"])
        assert [s["id"] for s in r["spots"]] == ["B-01"] and r["distance"] == 25, r
        r = ok(c, "entry", gate="north", plate="C1", **{"class": "car"}, needs=["ev"])
        assert [s["id"] for s in r["spots"]] == ["B-02"] and r["distance"] == 28, r
        # Empty needs is no constraint.
        r = ok(c, "entry", gate="north", plate="C2", **{"class": "car"}, needs=[])
        assert [s["id"] for s in r["spots"]] == ["B-03"], r
        # Bus and van: oversized first; C-01 at (5,40) on level 1: 5+40+40 = 85.
        r = ok(c, "entry", gate="north", plate="BUS1", **{"class": "bus"})
        assert [s["id"] for s in r["spots"]] == ["C-01"] and r["distance"] == 85, r
        assert r["spots"][0] == {"id": "C-01", "level": 1, "zone": "C", "type": "oversized"}, r
        for i in range(2, 7):
            r = ok(c, "entry", gate="north", plate="VAN%d" % i, **{"class": "van"})
            assert [s["id"] for s in r["spots"]] == ["C-%02d" % i], r
        # Oversized full: a van takes a regular spot, a bus a run of 5
        # contiguous regular spots in one row (nearest run: B-05..B-09,
        # B-04 being taken by the van).
        r = ok(c, "entry", gate="north", plate="VAN7", **{"class": "van"})
        assert [s["id"] for s in r["spots"]] == ["B-04"], r
        r = ok(c, "entry", gate="north", plate="BUS2", **{"class": "bus"})
        assert [s["id"] for s in r["spots"]] == ["B-%02d" % i for i in range(5, 10)], r
        assert r["distance"] == 5 + 3 * 4 + 20, r
        loc = ok(c, "locate", plate="BUS2")
        assert [s["id"] for s in loc["spots"]] == ["B-%02d" % i for i in range(5, 10)], loc
        s = ok(c, "status")
        assert s["by_type"]["oversized"]["free"] == 0 and s["by_type"]["regular"]["free"] == 70 - 9, s
        assert s["capacity"]["occupied"] == 16, s
        # Its exit frees all five.
        x = ok(c, "exit", gate="south", plate="BUS2")
        assert x["charged"] == 0
        assert ok(c, "status")["by_type"]["regular"]["free"] == 70 - 4


def test_strategies():
    with Daemon() as d:
        c = d.client()
        assert ok(c, "strategy") == {"strategy": "nearest"}
        assert ok(c, "strategy", set="farthest") == {"strategy": "farthest"}
        assert ok(c, "status")["strategy"] == "farthest"
        # Farthest regular spot from north: D-30 at (92,50) on level 1: 92+50+40.
        r = ok(c, "entry", gate="north", plate="S1", **{"class": "car"})
        assert [s["id"] for s in r["spots"]] == ["D-30"] and r["distance"] == 182, r
        assert ok(c, "strategy", set="first") == {"strategy": "first"}
        r = ok(c, "entry", gate="north", plate="S2", **{"class": "car"})
        assert [s["id"] for s in r["spots"]] == ["B-01"], r
        # From the ramp (60,30) on level 1: fill takes level 0 first (B-19 at
        # (59,20): 1+10+40 = 51), nearest the D row (D-19 at (59,50): 21).
        assert ok(c, "strategy", set="fill") == {"strategy": "fill"}
        r = ok(c, "entry", gate="ramp", plate="S3", **{"class": "car"})
        assert [s["id"] for s in r["spots"]] == ["B-19"] and r["distance"] == 51, r
        assert ok(c, "strategy", set="nearest") == {"strategy": "nearest"}
        r = ok(c, "entry", gate="ramp", plate="S4", **{"class": "car"})
        assert [s["id"] for s in r["spots"]] == ["D-19"] and r["distance"] == 21, r
        assert_error(c.call("strategy", set="random"), "invalid_params")
        assert ok(c, "strategy") == {"strategy": "nearest"}


def test_allocation_ties_go_to_lower_spot_order():
    # Spots at x = 0, 10, 20; the entry gate at x = 10: distances 10, 0, 10.
    cfg = small_config([{"level": 0, "zone": "R", "type": "regular", "count": 3,
                         "x": 0, "y": 0, "dx": 10, "dy": 0}],
                       gates=[{"id": "north", "role": "entry", "level": 0, "x": 10, "y": 0},
                              {"id": "south", "role": "exit", "level": 0, "x": 100, "y": 0}])
    with Daemon(cfg) as d:
        c = d.client()
        got = [ok(c, "entry", gate="north", plate="T%d" % i, **{"class": "car"})["spots"][0]["id"]
               for i in range(3)]
        assert got == ["R-02", "R-01", "R-03"], got
        for i in range(3):
            ok(c, "exit", gate="south", plate="T%d" % i)
        ok(c, "strategy", set="farthest")
        got = [ok(c, "entry", gate="north", plate="F%d" % i, **{"class": "car"})["spots"][0]["id"]
               for i in range(3)]
        assert got == ["R-01", "R-03", "R-02"], got


def test_bus_runs_skip_unavailable_spots_and_follow_the_strategy():
    # Row R: 10 regular spots at x = 0..9 (R-n: distance n - 1 + 10); one
    # oversized spot.  A bus takes the oversized spot, else 5 contiguous
    # free in-service regular spots of one row.
    cfg = small_config(
        [{"level": 0, "zone": "R", "type": "regular", "count": 10, "x": 0, "y": 10, "dx": 1, "dy": 0},
         {"level": 0, "zone": "O", "type": "oversized", "count": 1, "x": 50, "y": 10, "dx": 1, "dy": 0}],
        vehicles={"car": {"fits": ["regular"]},
                  "bus": {"fits": ["oversized"], "contiguous": {"type": "regular", "count": 5}}})

    def spots(r):
        return [x["id"] for x in assert_result(r)["spots"]]

    with Daemon(cfg) as d:
        c = d.client()
        assert spots(c.line("entry gate=north plate=BUS0 class=bus")) == ["O-01"]
        assert spots(c.line("entry gate=north plate=CAR1 class=car")) == ["R-01"]
        ok(c, "spot", id="R-04", state="out_of_service")
        # Runs R-02..R-06 and R-03..R-07 contain R-04: the nearest run is R-05..R-09.
        r = c.line("entry gate=north plate=BUS1 class=bus")
        assert spots(r) == ["R-05", "R-06", "R-07", "R-08", "R-09"], r
        assert assert_result(r)["distance"] == 14, r
        ok(c, "exit", gate="south", plate="BUS1")
        ok(c, "strategy", set="farthest")
        assert spots(c.line("entry gate=north plate=BUS2 class=bus")) == ["R-06", "R-07", "R-08", "R-09", "R-10"]
        # No run of 5 is left (R-02, R-03, R-05 free; R-04 out of service).
        assert_error(c.line("entry gate=north plate=BUS3 class=bus"), "lot_full", None)
        st = ok(c, "status")["capacity"]
        assert (st["free"], st["occupied"], st["out_of_service"]) == (3, 7, 1), st
        ok(c, "exit", gate="south", plate="BUS2")
        ok(c, "strategy", set="first")
        assert spots(c.line("entry gate=north plate=BUS4 class=bus")) == ["R-05", "R-06", "R-07", "R-08", "R-09"]


def test_spot_out_of_service():
    with Daemon() as d:
        c = d.client()
        s = ok(c, "spot", id="B-01")
        assert (s["id"], s["level"], s["zone"], s["type"]) == ("B-01", 0, "B", "regular"), s
        assert s["state"] == "free", s
        s = ok(c, "spot", id="B-01", state="out_of_service")
        assert s["id"] == "B-01" and s["state"] == "out_of_service", s
        st = ok(c, "status")
        assert st["capacity"]["out_of_service"] == 1 and st["capacity"]["free"] == 105, st
        # The nearest car spot is now B-02.
        r = ok(c, "entry", gate="north", plate="OOS 1", **{"class": "car"})
        assert [x["id"] for x in r["spots"]] == ["B-02"], r
        assert ok(c, "spot", id="B-01", state="in_service")["state"] == "free"
        r = ok(c, "entry", gate="north", plate="OOS 2", **{"class": "car"})
        assert [x["id"] for x in r["spots"]] == ["B-01"], r
        # An occupied spot set out of service goes out when it is released.
        ok(c, "spot", id="B-01", state="out_of_service")
        assert ok(c, "locate", plate="OOS 2")["spots"][0]["id"] == "B-01"
        ok(c, "exit", gate="south", plate="OOS 2")
        assert ok(c, "spot", id="B-01")["state"] == "out_of_service"
        st = ok(c, "status")
        assert st["capacity"]["out_of_service"] == 1 and st["capacity"]["occupied"] == 1, st
        assert st["capacity"]["free"] == 104, st
        r = ok(c, "entry", gate="north", plate="OOS 3", **{"class": "car"})
        assert [x["id"] for x in r["spots"]] == ["B-03"], r
        assert_error(c.call("spot", id="Q-01", state="in_service"), "not_found")


# ---------------------------------------------------------------- exit, locate, ticket

def test_exit_locate_and_ticket_record():
    c = pricing().client()
    e = enter(c, "EX 1", SUN, gate="ramp")
    loc = ok(c, "locate", plate="ex 1")
    assert loc["ticket"] == e["ticket"] and loc["plate"] == "EX 1", loc
    assert loc["spots"] == e["spots"] and loc["entered_at"] == SUN, loc
    t = ok(c, "ticket", ticket=e["ticket"])
    assert t["ticket"] == e["ticket"] and t["plate"] == "EX 1" and t["class"] == "car", t
    assert t["entered_at"] == SUN and t["spots"] == e["spots"], t
    # Inside the free minutes: exit at once, nothing charged.
    x = ok(c, "exit", gate="ramp", ticket=e["ticket"], at=at(SUN, minutes=10))
    assert x == {"ticket": e["ticket"], "plate": "EX 1", "exited_at": at(SUN, minutes=10),
                 "duration_s": 600, "charged": 0, "currency": "EUR"}, x
    assert_error(c.call("locate", plate="EX 1"), "not_found")
    assert_error(c.call("quote", plate="EX 1"), "not_found")
    assert_error(c.call("exit", gate="south", ticket=e["ticket"], at=at(SUN, minutes=11)), "not_found")
    assert_error(c.call("lost", plate="EX 1"), "not_found")
    # The ticket record is still there.
    t = ok(c, "ticket", ticket=e["ticket"])
    assert t["ticket"] == e["ticket"] and t["plate"] == "EX 1", t
    # The same plate may come in again: a new ticket.
    e2 = enter(c, "EX 1", at(SUN, minutes=20))
    assert e2["ticket"] != e["ticket"] and e2["ticket"] > e["ticket"]
    x = ok(c, "exit", gate="south", plate="EX 1", at=at(SUN, minutes=35))
    assert x["ticket"] == e2["ticket"] and x["duration_s"] == 900 and x["charged"] == 0, x


# ---------------------------------------------------------------- pricing

def test_pricing_tiers_days_and_quote_fields():
    c = pricing().client()
    e = enter(c, "TIER 1", SUN)
    expect = [
        (0, 0), (900, 0),                 # 15:00 is still free
        (901, 300),                       # 15:01 -> 30 min -> first tier
        (3600, 300), (3601, 800),         # 61 min -> 75 -> second tier
        (10800, 800), (10801, 1500),      # 181 min -> 195 -> third tier
        (36000, 1500),                    # 600 min
        (36001, 1700),                    # 615 min: 1500 + 1 h overage
        (43200, 1900),                    # 720 min: 1500 + 2 h overage
        (72000, 2500),                    # 1200 min: 3500 capped at daily_max
        (86400, 2500),                    # one whole day
        (86400 + 3600, 2800),             # a day and an hour
        (2 * 86400 + 36060, 6700),        # two days + 601 min (-> 615)
    ]
    got = [(s, amount_at(c, "TIER 1", at(SUN, seconds=s))) for s, _ in expect]
    assert got == expect, got
    q = ok(c, "quote", ticket=e["ticket"], at=at(SUN, seconds=3660))
    assert q["ticket"] == e["ticket"] and q["plate"] == "TIER 1", q
    assert q["entered_at"] == SUN and q["at"] == at(SUN, seconds=3660), q
    assert q["duration_s"] == 3660 and q["amount"] == 800, q
    assert q["paid"] == 0 and q["due"] == 800 and q["currency"] == "EUR", q
    assert "exit_by" not in q or q["exit_by"] is None, q
    # The breakdown shows the steps: 61 min rounded to 75, tier amount 800.
    assert isinstance(q["breakdown"], list) and q["breakdown"], q
    nums = json.dumps(q["breakdown"])
    assert "75" in nums and "800" in nums, q["breakdown"]


def test_pricing_class_multipliers():
    c = pricing().client()
    for plate, cls, want in [("CM 1", "motorcycle", 400), ("CM 2", "van", 1200),
                             ("CM 3", "bus", 2400),    # 4 capped at max_multiplier 3
                             ("CM 4", "car", 800)]:
        enter(c, plate, SUN, cls=cls)
        assert amount_at(c, plate, at(SUN, minutes=61)) == want, (plate, cls)
    # 15 min free for every class.
    assert amount_at(c, "CM 3", at(SUN, minutes=15)) == 0


def test_pricing_peak():
    c = pricing().client()
    cases = [
        ("PK 1", MON, "car", 1200),                              # 08:00 local: peak
        ("PK 2", "2026-11-23T06:30:00Z", "car", 1200),           # 07:30 local: from is inclusive
        ("PK 3", "2026-11-23T06:29:59Z", "car", 800),
        ("PK 4", "2026-11-23T08:29:59Z", "car", 1200),
        ("PK 5", "2026-11-23T08:30:00Z", "car", 800),            # 09:30 local: to is exclusive
        ("PK 6", "2026-11-28T07:00:00Z", "car", 800),            # Saturday
        ("PK 7", "2026-11-22T07:00:00Z", "car", 800),            # Sunday
        ("PK 8", "2026-07-06T05:30:00Z", "car", 1200),           # Monday 07:30 CEST
        ("PK 9", "2026-07-06T07:29:59Z", "car", 1200),           # 09:29:59 CEST
        ("PK 10", "2026-07-06T07:30:00Z", "car", 800),           # 09:30 CEST
        ("PK 11", "2026-07-06T05:45:00Z", "car", 1200),          # 07:45 CEST (06:45 in CET: no peak)
        ("PK 12", MON, "motorcycle", 600),                       # 0.5 x 1.5
        ("PK 13", MON, "bus", 2400),                             # 4 x 1.5 = 6, capped at 3
        ("PK 14", MON, "van", 1800),                             # 1.5 x 1.5 = 2.25
    ]
    for plate, when, cls, want in cases:
        enter(c, plate, when, cls=cls)
        assert amount_at(c, plate, at(when, minutes=61)) == want, (plate, when, cls)
    # Peak is fixed at entry: a stay that starts in the window keeps it.
    assert amount_at(c, "PK 1", at(MON, hours=3)) == 1200       # 180 min: 800 x 1.5
    assert amount_at(c, "PK 1", at(MON, hours=5)) == 2250       # 300 min: 1500 x 1.5
    # ... and one that starts outside does not get it.
    assert amount_at(c, "PK 3", at("2026-11-23T06:29:59Z", minutes=90)) == 800


def test_pricing_surge():
    # 40 regular spots.  Occupancy just before entry: 35/40 -> 1; 36/40 = 0.9
    # -> 1.25 (the threshold is inclusive); 39/40 = 0.975 -> 1.5.
    cfg = small_config([{"level": 0, "zone": "R", "type": "regular", "count": 40,
                         "x": 0, "y": 10, "dx": 1, "dy": 0}])
    with Daemon(cfg) as d:
        c = d.client()
        c.send_raw("".join(json.dumps({"id": i, "method": "entry", "params": {
            "gate": "north", "plate": "SG %d" % i, "class": "car", "at": SUN}}) + "\n"
            for i in range(1, 36)))
        for i in range(1, 36):
            assert_result(c.read_json(), i)
        want = {36: 800, 37: 1000, 38: 1000, 39: 1000, 40: 1200}
        for i in range(36, 41):
            enter(c, "SG %d" % i, SUN)
        for i in range(36, 41):
            assert amount_at(c, "SG %d" % i, at(SUN, minutes=61)) == want[i], i
        assert amount_at(c, "SG 1", at(SUN, minutes=61)) == 800
        # Surge is fixed at entry: later exits do not lower it.
        for i in range(1, 11):
            ok(c, "exit", gate="south", plate="SG %d" % i, at=at(SUN, minutes=5))
        assert amount_at(c, "SG 40", at(SUN, minutes=61)) == 1200
        # Surge and peak multiply: 1.5 x 1.5 = 2.25 (under max 3).
        for i in range(11, 16):
            ok(c, "exit", gate="south", plate="SG %d" % i, at=at(SUN, minutes=5))
        # 25 inside; fill to 39 again, then enter in the Monday peak.
        for i in range(1, 15):
            enter(c, "SH %d" % i, SUN)
        enter(c, "SH PEAK", MON)
        assert amount_at(c, "SH PEAK", at(MON, minutes=61)) == 1800


def test_payment_required_and_amount_mismatch():
    c = pricing().client()
    e = enter(c, "PAY 1", SUN)
    t61 = at(SUN, minutes=61)
    err = assert_error(c.call("exit", gate="south", plate="PAY 1", at=t61), "payment_required")
    assert err["data"]["amount_due"] == 800 and err["data"]["currency"] == "EUR", err
    # The car is still inside.
    assert ok(c, "locate", plate="PAY 1")["ticket"] == e["ticket"]
    for wrong in (799, 801, 1):
        err = assert_error(c.call("pay", ticket=e["ticket"], amount=wrong, at=t61), "amount_mismatch")
        assert err["data"]["amount_due"] == 800, err
    assert ok(c, "quote", plate="PAY 1", at=t61)["paid"] == 0
    p = assert_result(rpc(c, "pay", {"ticket": e["ticket"], "amount": 800, "method": "card", "at": t61}))
    assert p["ticket"] == e["ticket"] and UUID_RE.match(p["receipt"]), p
    assert p["paid"] == 800 and p["due"] == 0, p
    assert p["exit_by"] == at(t61, minutes=15), p
    x = ok(c, "exit", gate="south", plate="PAY 1", at=at(t61, minutes=5))
    assert x["charged"] == 800 and x["duration_s"] == 66 * 60 and x["currency"] == "EUR", x


def test_pay_is_idempotent_on_reference():
    c = pricing().client()
    e = enter(c, "REF 1", SUN)
    t = at(SUN, minutes=61)
    args = {"ticket": e["ticket"], "amount": 800, "method": "card", "reference": "ref-0001", "at": t}
    p1 = assert_result(rpc(c, "pay", args))
    assert UUID_RE.match(p1["receipt"]) and p1["paid"] == 800 and p1["due"] == 0, p1
    p2 = assert_result(rpc(c, "pay", args))
    assert p2["receipt"] == p1["receipt"] and p2["paid"] == 800 and p2["due"] == 0, (p1, p2)
    # A retry a little later (the reply was lost) still charges nothing more.
    p3 = ok(c, "pay", ticket=e["ticket"], amount=800, reference="ref-0001", at=at(t, minutes=2))
    assert p3["receipt"] == p1["receipt"] and p3["paid"] == 800, p3
    q = ok(c, "quote", plate="REF 1", at=at(t, minutes=3))
    assert q["paid"] == 800 and q["due"] == 0, q
    rec = ok(c, "ticket", ticket=e["ticket"])
    assert rec["paid"] == 800, rec
    assert len(rec["payments"]) == 1, rec
    assert rec["payments"][0]["receipt"] == p1["receipt"] and rec["payments"][0]["amount"] == 800, rec


def test_grace_after_payment():
    c = pricing().client()
    e = enter(c, "GR 1", SUN)
    t = at(SUN, minutes=170)                      # 170 -> 180 min: 800
    assert amount_at(c, "GR 1", t) == 800
    p = ok(c, "pay", ticket=e["ticket"], amount=800, at=t)
    assert p["exit_by"] == at(SUN, minutes=185), p
    # Covered until 15 minutes after the payment, although the fee went up.
    q = ok(c, "quote", plate="GR 1", at=at(SUN, minutes=185))
    assert q["due"] == 0 and q["paid"] == 800 and q["exit_by"] == at(SUN, minutes=185), q
    q = ok(c, "quote", plate="GR 1", at=at(SUN, minutes=185, seconds=1))
    assert q["amount"] == 1500 and q["paid"] == 800 and q["due"] == 700, q
    err = assert_error(c.call("exit", gate="south", plate="GR 1", at=at(SUN, minutes=185, seconds=1)),
                       "payment_required")
    assert err["data"]["amount_due"] == 700 and err["data"]["currency"] == "EUR", err
    x = ok(c, "exit", gate="south", plate="GR 1", at=at(SUN, minutes=185))
    assert x["charged"] == 800 and x["duration_s"] == 185 * 60, x
    # A second payment after the grace: pay the difference, then leave.
    e = enter(c, "GR 2", SUN)
    ok(c, "pay", ticket=e["ticket"], amount=300, at=at(SUN, minutes=30))
    late = at(SUN, minutes=50)                    # past exit_by (45), fee still 300
    assert ok(c, "quote", plate="GR 2", at=late)["due"] == 0
    later = at(SUN, minutes=70)                   # 70 -> 75 min: 800
    q = ok(c, "quote", plate="GR 2", at=later)
    assert q["due"] == 500, q
    ok(c, "pay", ticket=e["ticket"], amount=500, at=later)
    x = ok(c, "exit", gate="south", plate="GR 2", at=at(later, minutes=10))
    assert x["charged"] == 800, x


def test_lost_ticket():
    c = pricing().client()
    e = enter(c, "LOST 1", SUN)
    t = at(SUN, minutes=61)
    r = ok(c, "lost", plate="LOST 1", at=t)
    assert r == {"ticket": e["ticket"], "due": 5000, "currency": "EUR"}, r
    q = ok(c, "quote", plate="LOST 1", at=t)
    assert q["amount"] == 5000 and q["due"] == 5000, q
    err = assert_error(c.call("exit", gate="south", plate="LOST 1", at=t), "payment_required")
    assert err["data"]["amount_due"] == 5000, err
    # Marking it lost again changes nothing.
    assert ok(c, "lost", plate="LOST 1", at=t)["due"] == 5000
    ok(c, "pay", ticket=e["ticket"], amount=5000, at=t)
    x = ok(c, "exit", gate="south", plate="LOST 1", at=at(t, minutes=1))
    assert x["charged"] == 5000, x
    # When the fee so far is higher, that is due: 2 days + 615 min = 6700.
    e = enter(c, "LOST 2", SUN)
    t = at(SUN, days=2, minutes=601)
    assert ok(c, "lost", plate="LOST 2", at=t) == {"ticket": e["ticket"], "due": 6700, "currency": "EUR"}
    # 'lost' takes the plate, not the ticket.
    assert_error(c.call("lost", ticket=e["ticket"]), "invalid_params")


def test_tariff_get_and_set():
    """A ticket is priced by the tariff in force when it entered (config.md
    "Tariff"); quote and ticket name that version; a new tariff prices the
    vehicles that enter after it."""
    with Daemon() as d:
        c = d.client()
        cfg = demo_config()
        assert ok(c, "tariff") == cfg["tariff"]
        e = enter(c, "TF 1", SUN)
        q = ok(c, "quote", plate="TF 1", at=at(SUN, minutes=61))
        assert (q["amount"], q["tariff_version"]) == (800, 1), q
        new = {"free_minutes": 0, "increment_minutes": 60,
               "tiers": [{"upto_minutes": 60, "amount": 100}, {"upto_minutes": 120, "amount": 150}],
               "overage_per_hour": 10, "daily_max": 1000,
               "class_multiplier": {"car": 2}, "peak": [], "surge": [],
               "max_multiplier": 3, "lost_ticket": 999, "grace_minutes": 5}
        got = ok(c, "tariff", set=new)
        assert got == new, got
        assert ok(c, "tariff") == new
        # The vehicle inside keeps the price it was shown at the gate.
        assert amount_at(c, "TF 1", at(SUN, minutes=61)) == 800
        assert ok(c, "ticket", ticket=e["ticket"])["tariff_version"] == 1
        # One entering now is priced by the new tariff (class x2).
        enter(c, "TF 2", SUN)
        q = ok(c, "quote", plate="TF 2", at=at(SUN, minutes=1))
        assert (q["amount"], q["tariff_version"]) == (200, 2), q
        assert amount_at(c, "TF 2", at(SUN, minutes=61)) == 300
        assert amount_at(c, "TF 2", at(SUN, minutes=181)) == 2 * (150 + 2 * 10)
        # A bad or incomplete tariff is refused and the one in force stays.
        bad = dict(new, tiers=[{"upto_minutes": 120, "amount": 150}, {"upto_minutes": 60, "amount": 100}])
        assert_error(c.call("tariff", set=bad), "invalid_params")
        assert_error(c.call("tariff", set=dict(new, bogus=1)), "invalid_params")
        assert_error(c.call("tariff", set=dict(new, free_minutes="15")), "invalid_params")
        assert_error(c.call("tariff", set={}), "invalid_params")
        assert_error(c.call("tariff", set=dict(new, tiers=[])), "invalid_params")
        no_lost = dict(new)
        del no_lost["lost_ticket"]
        assert "lost_ticket" in c.call("tariff", set=no_lost)["error"]["message"]
        assert ok(c, "tariff") == new
        # Set back the original through an inline command with a JSON object:
        # version 3; the tickets inside keep theirs.
        r = c.line("tariff set=" + json.dumps(cfg["tariff"], separators=(",", ":")))
        assert assert_result(r, None) == cfg["tariff"], r
        assert amount_at(c, "TF 2", at(SUN, minutes=61)) == 300
        enter(c, "TF 3", SUN)
        q = ok(c, "quote", plate="TF 3", at=at(SUN, minutes=61))
        assert (q["amount"], q["tariff_version"]) == (800, 3), q


def test_incomplete_tariffs_refused_at_start_and_reload():
    """An empty tariff, or one without tiers, would make parking free for
    everyone: --check-config, the start and SIGHUP all refuse them."""
    for bad, key in (({}, "free_minutes"), ({"tiers": []}, "free_minutes"),
                     (dict(demo_config()["tariff"], tiers=[]), "tiers")):
        cfg = demo_config()
        cfg["tariff"] = bad
        rc, out = check_config(cfg)
        assert rc != 0 and ("tariff." + key) in out, (bad, out)
    with Daemon() as d:
        c = d.client()
        enter(c, "HUP 1", SUN)
        cfg = dict(d.cfg, tariff=dict(d.cfg["tariff"], tiers=[]))
        with open(d.path, "w") as f:
            json.dump(cfg, f)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while "reload" not in d.logtext() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert "tariff.tiers" in d.logtext(), d.logtext()
        q = ok(c, "quote", plate="HUP 1", at=at(SUN, minutes=61))
        assert (q["amount"], q["tariff_version"]) == (800, 1), q


def test_tariff_versions_survive_restart_and_snapshot():
    """The superseded tariffs that tickets are priced by are journaled and
    snapshotted: after kill -9, and after a snapshot, the prices are the
    same; a changed tariff in the file becomes a new version at start."""
    cfg = demo_config(journal={"snapshot_every": 3})
    d = Daemon(cfg)
    try:
        d.start()
        c = d.client()
        enter(c, "TV 1", SUN)
        cheap = dict(cfg["tariff"], tiers=[{"upto_minutes": 1440, "amount": 1}],
                     daily_max=None, class_multiplier={}, peak=[], surge=[])
        ok(c, "tariff", set=cheap)
        enter(c, "TV 2", SUN)
        for i in range(4):                      # a few records: a snapshot
            ok(c, "strategy", set="first" if i % 2 == 0 else "nearest")
        before = [ok(c, "quote", plate=p, at=at(SUN, minutes=61)) for p in ("TV 1", "TV 2")]
        assert [(q["amount"], q["tariff_version"]) for q in before] == [(800, 1), (1, 2)], before
        c.close()
        d.stop(signal.SIGKILL)
        # The file's tariff differs from the one in force: it becomes version 3.
        d.start()
        c = d.client()
        after = [ok(c, "quote", plate=p, at=at(SUN, minutes=61)) for p in ("TV 1", "TV 2")]
        assert after == before, (before, after)
        assert ok(c, "tariff") == cfg["tariff"]
        enter(c, "TV 3", SUN)
        assert ok(c, "quote", plate="TV 3", at=at(SUN, minutes=61))["tariff_version"] == 3
        assert "a new version version=3" in d.logtext()
        c.close()
    finally:
        d.close()


# ---------------------------------------------------------------- lot_full and the race

def test_lot_full_small_facility():
    cfg = small_config([{"level": 0, "zone": "R", "type": "regular", "count": 3,
                         "x": 0, "y": 10, "dx": 1, "dy": 0}])
    with Daemon(cfg) as d:
        c = d.client()
        for i in range(3):
            r = ok(c, "entry", gate="north", plate="LF %d" % i, **{"class": "car"})
            assert r["spots"][0]["id"] == "R-%02d" % (i + 1), r
        err = assert_error(c.call("entry", gate="north", plate="LF 9", **{"class": "car"}), "lot_full")
        assert "waitlist" not in err["data"] or isinstance(err["data"]["waitlist"], bool), err
        assert_error(c.call("locate", plate="LF 9"), "not_found")
        st = ok(c, "status")
        assert st["capacity"]["free"] == 0 and st["capacity"]["occupied"] == 3, st
        # One leaves: one more fits, and gets that spot.
        ok(c, "exit", gate="south", plate="LF 1")
        r = ok(c, "entry", gate="north", plate="LF 9", **{"class": "car"})
        assert r["spots"][0]["id"] == "R-02", r
        assert_error(c.call("entry", gate="north", plate="LF 10", **{"class": "car"}), "lot_full")


def test_twenty_clients_race_for_the_last_spot():
    cfg = small_config([{"level": 0, "zone": "R", "type": "regular", "count": 5,
                         "x": 0, "y": 10, "dx": 1, "dy": 0}])
    with Daemon(cfg) as d:
        c = d.client()
        for i in range(4):
            ok(c, "entry", gate="north", plate="PRE %d" % i, **{"class": "car"})
        n = 20
        clients = [d.client() for _ in range(n)]
        for k in clients:
            assert assert_result(k.line("ping")) == "pong"
        barrier = threading.Barrier(n)
        results = [None] * n

        def race(i):
            try:
                barrier.wait(10)
                results[i] = clients[i].call("entry", gate="north", plate="RACE %d" % i,
                                             **{"class": "car"})
            except Exception as e:  # reported below
                results[i] = e

        threads = [threading.Thread(target=race, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        winners = [i for i, r in enumerate(results) if isinstance(r, dict) and "result" in r]
        losers = [i for i, r in enumerate(results) if isinstance(r, dict) and "error" in r]
        assert len(winners) == 1, results
        assert len(losers) == n - 1, results
        for i in losers:
            assert_error(results[i], "lot_full")
        w = results[winners[0]]["result"]
        assert w["spots"][0]["id"] == "R-05", w
        st = ok(c, "status")
        assert st["by_type"]["regular"]["free"] == 0 and st["capacity"]["free"] == 0, st
        assert st["capacity"]["occupied"] == 5, st
        assert ok(c, "locate", plate="RACE %d" % winners[0])["ticket"] == w["ticket"]
        for i in losers:
            assert_error(c.call("locate", plate="RACE %d" % i), "not_found")
        for k in clients:
            k.close()


# ---------------------------------------------------------------- daemon lifecycle

def test_sigterm_and_sigint_exit_zero():
    for sig in (signal.SIGTERM, signal.SIGINT):
        d = Daemon().start()
        try:
            c = d.client()
            ok(c, "entry", gate="north", plate="SIG 1", **{"class": "car"})
            idle = d.client()
            assert assert_result(idle.line("ping")) == "pong"
            rc = d.stop(sig)
            assert rc == 0, "exit %s on %s:\n%s" % (rc, sig, d.logtext()[-4000:])
            # Connected clients see the connection closed.
            assert idle.read_until_eof(5) == []
            assert c.read_until_eof(5) == []
            # And it no longer listens.
            try:
                socket.create_connection(("127.0.0.1", d.port), timeout=1).close()
                raise AssertionError("still accepting after exit")
            except OSError:
                pass
        finally:
            d.close()


def test_sigterm_with_a_client_that_never_reads():
    """A client that never reads must not hold the shutdown forever."""
    d = Daemon(demo_config(limits={"max_output": 64 << 20, "rate_per_s": 0})).start()
    try:
        s = d.client(rcvbuf=4096)
        s.send_raw("help\n" * 10000)              # ~20 MB of replies, never read
        o = d.client()
        assert assert_result(o.line("ping")) == "pong"
        time.sleep(0.3)
        t = time.time()
        rc = d.stop(signal.SIGTERM, timeout=15)
        assert rc == 0, "exit %s:\n%s" % (rc, d.logtext()[-4000:])
        assert time.time() - t < 12, "shutdown took %.1fs" % (time.time() - t)
        assert o.read_until_eof(5) == []
    finally:
        d.close()


test_sigterm_with_a_client_that_never_reads.timeout = 30


def test_state_survives_sigkill_and_restart():
    """durability fsync: what was answered is on disk, even after SIGKILL."""
    d = Daemon().start()
    try:
        c = d.client()
        a = enter(c, "DUR A", SUN)
        b = enter(c, "DUR B", SUN)
        cc = enter(c, "DUR C", SUN)
        assert [x["spots"][0]["id"] for x in (a, b, cc)] == ["B-01", "B-02", "B-03"]
        pay = {"ticket": b["ticket"], "amount": 800, "reference": "r-dur", "at": at(SUN, minutes=61)}
        p = assert_result(rpc(c, "pay", pay))
        ok(c, "lost", plate="DUR C", at=at(SUN, minutes=61))
        ok(c, "exit", gate="south", plate="DUR A", at=at(SUN, minutes=10))
        assert d.stop(signal.SIGKILL) == -9
    finally:
        if d.proc is not None:
            d.close()
    d2 = Daemon(d.cfg, data_dir=d.data_dir).start()
    try:
        c = d2.client()
        st = ok(c, "status")
        assert st["capacity"]["occupied"] == 2 and st["by_type"]["regular"]["free"] == 68, st
        assert_error(c.call("locate", plate="DUR A"), "not_found")
        assert ok(c, "locate", plate="DUR B")["ticket"] == b["ticket"]
        t = ok(c, "ticket", ticket=b["ticket"])
        assert t["paid"] == 800 and [x["receipt"] for x in t["payments"]] == [p["receipt"]], t
        # The payment reference is remembered across the restart.
        p2 = assert_result(rpc(c, "pay", pay))
        assert p2["receipt"] == p["receipt"] and p2["paid"] == 800, p2
        q = ok(c, "quote", plate="DUR C", at=at(SUN, minutes=61))
        assert q["amount"] == 5000 and q["due"] == 5000, q
        assert ok(c, "ticket", ticket=a["ticket"])["ticket"] == a["ticket"]
        # The freed spot is free again, the others are not handed out twice.
        e = ok(c, "entry", gate="north", plate="DUR D", **{"class": "car"})
        assert e["spots"][0]["id"] == "B-01", e
        assert e["ticket"] > cc["ticket"], e
    finally:
        d2.close()
    # A clean restart (after SIGTERM) keeps everything too.
    d3 = Daemon(d.cfg, data_dir=d.data_dir).start()
    try:
        c = d3.client()
        st = ok(c, "status")
        assert st["capacity"]["occupied"] == 3, st
        assert ok(c, "locate", plate="DUR D")["ticket"] == e["ticket"]
        assert ok(c, "quote", plate="DUR C", at=at(SUN, minutes=61))["due"] == 5000
    finally:
        d3.close()
        shutil.rmtree(d.tmp, ignore_errors=True)


def test_sighup_reloads_tokens_and_tariff():
    tokens = [{"token": "gate-north-secret", "role": "gate", "gate": "north"},
              {"token": "kiosk-secret-1", "role": "kiosk"}]
    with Daemon(demo_config(auth={"tokens": tokens})) as d:
        g = d.client()
        assert assert_result(g.line("auth token=gate-north-secret"))["gate"] == "north"
        k = d.client()
        assert assert_result(k.line("auth token=kiosk-secret-1"))["role"] == "kiosk"
        cfg = json.loads(open(d.path).read())
        cfg["auth"]["tokens"] = [{"token": "gate-ramp-secret", "role": "gate", "gate": "ramp"},
                                 {"token": "kiosk-secret-2", "role": "kiosk"},
                                 {"token": "ops-secret-123", "role": "operator"}]
        cfg["tariff"]["lost_ticket"] = 7000
        with open(d.path, "w") as f:
            json.dump(cfg, f)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while True:
            o = d.client()
            r = o.line("auth token=ops-secret-123")
            if "result" in r:
                break
            o.close()
            assert time.time() < deadline, "SIGHUP did not load the new tokens"
            time.sleep(0.05)
        assert assert_result(o.line("tariff"))["lost_ticket"] == 7000
        # Authenticated connections keep their role and gate binding.
        assert assert_result(g.line("entry gate=north plate=HUP1 class=car"))["gate"] == "north"
        assert_error(g.line("entry gate=ramp plate=HUP2 class=car"), "forbidden", None)
        assert assert_result(k.line("locate plate=HUP1"))["plate"] == "HUP1"
        # New connections see the new tokens only.
        n = d.client()
        assert_error(n.line("auth token=kiosk-secret-1"), "forbidden", None)
        assert_error(n.line("auth token=gate-north-secret"), "forbidden", None)
        assert assert_result(n.line("auth token=gate-ramp-secret"))["gate"] == "ramp"
        assert assert_result(n.line("entry gate=ramp plate=HUP3 class=car"))["gate"] == "ramp"
        # A broken file on SIGHUP: the running configuration stays.
        with open(d.path, "w") as f:
            f.write('{"listen": ')
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert d.proc.poll() is None, d.logtext()
        m = d.client()
        assert assert_result(m.line("auth token=kiosk-secret-2"))["role"] == "kiosk"
        assert assert_result(o.line("tariff"))["lost_ticket"] == 7000
        assert ok(o, "lost", plate="HUP1")["due"] == 7000


def test_tokens_added_by_reload_bind_the_connections_of_protected_mode():
    """Without tokens, loopback clients are operators for want of any; a
    reload that adds tokens makes them auth like everyone.  A gate token
    for a gate only the file's new facility has (which needs a restart) is
    refused, and nothing of that reload changes."""
    with Daemon(demo_config()) as d:
        old = d.client()
        assert assert_result(old.line("strategy"))["strategy"] == "nearest"
        cfg = json.loads(open(d.path).read())
        wrong = copy.deepcopy(cfg)
        wrong["facility"]["gates"].append(dict(wrong["facility"]["gates"][0], id="west"))
        wrong["auth"] = {"tokens": [{"token": "gate-west-secret", "role": "gate", "gate": "west"}]}
        wrong["tariff"]["lost_ticket"] = 9100
        with open(d.path, "w") as f:
            json.dump(wrong, f)
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("auth.tokens[0].gate: no gate 'west' in the running facility")
        assert assert_result(old.line("tariff"))["lost_ticket"] != 9100
        assert assert_result(old.line("strategy"))["strategy"] == "nearest"
        cfg["auth"] = {"tokens": [{"token": "ops-secret-123", "role": "operator"}]}
        with open(d.path, "w") as f:
            json.dump(cfg, f)
        d.proc.send_signal(signal.SIGHUP)
        until(lambda: "error" in old.line("strategy"), what="the reload")
        assert_error(old.line("strategy set=fill"), "auth_required", None)
        assert assert_result(old.line("ping")) == "pong"
        assert assert_result(old.line("auth token=ops-secret-123"))["role"] == "operator"
        assert assert_result(old.line("strategy set=fill"))["strategy"] == "fill"


def test_check_config_good():
    rc, out = check_config(demo_config())
    assert rc == 0, out
    cfg = demo_config(auth={"tokens": [{"token": "s3cret-north", "role": "gate", "gate": "north"},
                                       {"token": "s3cret-kiosk", "role": "kiosk"}]})
    rc, out = check_config(cfg)
    assert rc == 0, out
    # The shipped config itself, as it is.
    r = subprocess.run([PARKD, "--check-config", "-c", DEMO],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 0, r


def _bad(mutate):
    cfg = demo_config()
    mutate(cfg)
    return cfg


BAD_CONFIGS = [
    ("facility.rows[0].count", lambda c: c["facility"]["rows"][0].update(count=0)),
    ("facility.rows[2].count", lambda c: c["facility"]["rows"][2].update(count=-3)),
    ("facility.rows[1].count", lambda c: c["facility"]["rows"][1].update(count="20")),
    ("bogus", lambda c: c.update(bogus=1)),
    ("limits.foo", lambda c: c["limits"].update(foo=1)),
    ("limits.max_line", lambda c: c["limits"].update(max_line="big")),
    ("facility.rows[1]", lambda c: c["facility"]["rows"][1].update(zone="M")),   # duplicate spot ids
    ("facility.gates[0].level", lambda c: c["facility"]["gates"][0].update(level=7)),
    ("facility.gates[1].id", lambda c: c["facility"]["gates"][1].update(id="north")),
    ("tariff.tiers[1].upto_minutes", lambda c: c["tariff"]["tiers"].reverse()),
    ("tariff.surge[1].occupancy_at_least", lambda c: c["tariff"]["surge"].reverse()),
    ("vehicles.car.fits[0]", lambda c: c["vehicles"]["car"].update(fits=["hover"])),
    ("auth.tokens[0].gate", lambda c: c.update(auth={"tokens": [
        {"token": "abcdefghij", "role": "gate", "gate": "west"}]})),
    ("auth.tokens[1].role", lambda c: c.update(auth={"tokens": [
        {"token": "abcdefghij", "role": "gate"}, {"token": "klmnopqrst", "role": "king"}]})),
    ("strategy", lambda c: c.update(strategy="random")),
    ("facility.timezone", lambda c: c["facility"].update(timezone="Mars/Olympus")),
]


def test_check_config_bad_names_key_path():
    failures = []
    for path, mutate in BAD_CONFIGS:
        rc, out = check_config(_bad(mutate))
        if rc == 0 or path not in out:
            failures.append("%s: exit %s, output %r" % (path, rc, out))
    for text in ["{", '{"facility": ', "", "[]", "null"]:
        rc, out = check_config(text)
        if rc == 0 or not out.strip():
            failures.append("text %r: exit %s, output %r" % (text, rc, out))
    assert not failures, "\n".join(failures)
    # Without --check-config a bad config does not start either.
    d = Daemon(_bad(lambda c: c["facility"]["rows"][0].update(count=0)))
    try:
        try:
            d.start()
            raise AssertionError("parkd started with a bad config")
        except RuntimeError as e:
            assert "facility.rows[0].count" in str(e), e
    finally:
        if d.proc is not None:
            d.proc.wait(10)
            d.proc = None
            d.logf.close()
        d.close()


def test_protected_mode_refuses_non_loopback():
    addr = non_loopback_ipv4()
    if addr is None:
        print("    (skipped: no non-loopback IPv4 address)")
        return
    d = Daemon()
    d.args = ["--listen", "0.0.0.0:%d" % d.port]
    d.start()
    try:
        c = d.client(host=addr)
        lines = c.read_until_eof(5)
        assert len(lines) == 1, lines
        r = json.loads(lines[0])
        assert "error" in r and r["id"] is None, r
        assert r["error"]["data"]["reason"] in ("forbidden", "unavailable"), r
        # Loopback clients are still served as operators.
        lo = d.client()
        assert ok(lo, "strategy")["strategy"] == "nearest"
        lo.close()
    finally:
        d.close()
    # Dual-stack: IPv4-mapped and IPv6 addresses are told apart the same way.
    d = Daemon()
    d.args = ["--listen", "[::]:%d" % d.port]
    try:
        d.start()
    except RuntimeError:
        d.close()
        print("    (skipped the IPv6 part: cannot listen on [::])")
        return
    try:
        assert assert_result(d.client().line("ping")) == "pong"           # ::ffff:127.0.0.1
        lines = d.client(host=addr).read_until_eof(5)                      # ::ffff:<addr>
        assert len(lines) == 1 and "error" in json.loads(lines[0]), lines
        for host, served in (("::1", True), (non_loopback_ipv6(), False)):
            if host is None:
                continue
            s = socket.create_connection((host, d.port), timeout=5)
            s.sendall(b"ping\n")
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                    if served and b"\n" in data:
                        break
            except ConnectionResetError:
                pass            # closed with our ping unread: RST after the error line
            s.close()
            r = json.loads(data.split(b"\n")[0])
            assert ("result" in r) == served, (host, r)
    finally:
        d.close()
    # With tokens configured, a non-loopback client is served (after auth).
    d = Daemon(demo_config(auth={"tokens": [{"token": "kiosk-secret-1", "role": "kiosk"}]}))
    d.args = ["--listen", "0.0.0.0:%d" % d.port]
    d.start()
    try:
        c = d.client(host=addr)
        assert assert_result(c.line("ping")) == "pong"
        assert_error(c.line("status"), "auth_required")
        assert assert_result(c.line("auth token=kiosk-secret-1"))["role"] == "kiosk"
        assert "capacity" in assert_result(c.line("status"))
        c.close()
    finally:
        d.close()


def test_a_listener_that_cannot_listen_stops_the_start():
    """Each listener (the protocol's, HTTP's, replication's) on a port that
    another socket holds, or on a host name where an address belongs: parkd
    names the key and the reason and exits non-zero, rather than running
    without that listener."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    taken = holder.getsockname()[1]
    try:
        for key in ("listen", "http_listen", "replication.listen"):
            for host, why in (("127.0.0.1", 'error="address already in use"'),
                              ("gate-host.invalid", None)):
                d = Daemon()
                where = "%s:%d" % (host, taken)
                if key == "replication.listen":
                    d.rewrite(replication={"listen": where, "token": "s3cret-repl-token"})
                elif key == "http_listen":
                    d.rewrite(http_listen=where)
                else:
                    d.rewrite(listen=where)
                try:
                    d.start(wait=False)
                    rc = d.proc.wait(15)
                    d.proc = None
                    d.logf.close()
                    log = d.logtext()
                    assert rc != 0, (key, host, log)
                    if why is None:
                        want = "cannot listen, not a numeric address %s=%s" % (key, where)
                    else:
                        want = "cannot listen %s=%s %s" % (key, where, why)
                    assert want in log, (want, log[-2000:])
                finally:
                    if d.proc is not None:
                        d.proc.kill()
                        d.proc.wait()
                        d.proc = None
                        d.logf.close()
                    d.close()
    finally:
        holder.close()


def non_loopback_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.connect(("2001:db8::1", 9))
            a = s.getsockname()[0]
        if a != "::1" and not a.startswith("fe80"):
            return a
    except OSError:
        pass
    return None


def test_zz_shared_daemons_exit_cleanly():
    SHARED.close_all()
