"""Prices over the wire against an independent model (pricing_model.py,
written from config.md "Tariff" and protocol.md alone): random tariffs set
with `tariff set=`, entries at chosen times, `quote` at chosen times after
them, payments around the grace boundary, `lost`, and the exit
(payment_required and its amount_due), every amount compared with the
model's.

normal: one daemon per time zone (the facility's zone is not reloadable):
per case a new tariff, one entry (near peak window edges, DST changes and
local midnight), quotes at tier, day, increment and free-minute edges;
tickets left inside across later tariffs and a restart with another tariff
in the file keep the tariff (and its version) they entered under.
surge: lots of 7, 40 and 100 spots filled to a chosen occupancy (aimed at
the surge thresholds) before the entry.
extreme: amounts and multipliers at their bounds, quotes up to the year
9999; fees past 2^53 - 1 are that (lib/tariff.h).

Deterministic: fixed seeds and fixed dates.  Entries are in 2025 and the
first half of 2026, payments, `lost` and exits at most weeks after them, so
none is ever ahead of the daemon's clock (limits.max_future_s); only `quote`
looks further ahead, which it may.
A mismatch fails the test with the tariff, the times and both answers."""
import datetime
import json
import random
import zoneinfo
from decimal import Decimal

import pricing_model as model
from harness import (SANITIZED, Daemon, assert_result, demo_config, fmt_time, parse_time,
                     small_config)

# The sanitized daemon, five times slower, runs one seed: the release run has all three.
SEEDS = (1,) if SANITIZED else (1, 2, 3)
UTC = datetime.timezone.utc
WIN_START = int(datetime.datetime(2025, 1, 1, tzinfo=UTC).timestamp())
WIN_END = int(datetime.datetime(2026, 7, 1, tzinfo=UTC).timestamp())
ZONES = ["Europe/Berlin", "UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "Pacific/Chatham", "America/Santiago", "Europe/Dublin", "Asia/Kathmandu",
         "America/St_Johns"]
# Multipliers in thousandths: odd ones make the rounding and truncation show.
MULTS = [1, 500, 1000, 1000, 1000, 1250, 1255, 1005, 1015, 2675, 285, 1115, 4350, 333, 3000,
         1999, 1500, 750, 2005, 575, 1150, 8205, 1333, 1777, 999, 1001, 2333, 3141, 100000,
         99999]
AMOUNT_MAX = (1 << 53) - 1
MAX_SHOWN = 10


def jnum(th):
    """Thousandths as the JSON number that says them exactly (1255 -> 1.255)."""
    d = Decimal(th) / 1000
    return int(d) if d == d.to_integral_value() else float(d)


# --------------------------------------------------------------------------- generation

def gen_tariff(rng, classes, total, surge=False):
    """A random valid tariff; with surge, always surge tiers, some exactly
    at k / total spots."""
    r = rng.random()
    t = {"free_minutes": 0 if r < 0.25 else
         rng.choice([1, 5, 10, 15, 29, 60, 90, 1439, 1440, 1500]) if r < 0.6 else
         rng.randint(0, 120),
         "increment_minutes": rng.choice([1, 1, 5, 7, 13, 15, 15, 25, 30, 45, 60, 90, 100,
                                          1440, 1441])}
    ups = set()
    for _ in range(rng.choice([1, 1, 2, 3, 3, 4, 5])):
        ups.add(rng.choice([rng.randint(1, 1440), rng.randint(1, 700), 60, 180, 600, 1439, 1440,
                            rng.randint(1441, 3000)]))
    amount = 0 if rng.random() < 0.2 else rng.randint(0, 500)
    t["tiers"] = []
    for u in sorted(ups):
        t["tiers"].append({"upto_minutes": u, "amount": amount})
        amount += rng.choice([0, rng.randint(1, 1000), rng.randint(1, 3000)])
        if rng.random() < 0.05:
            amount = max(0, amount - rng.randint(0, 2000))     # amounts need not grow
    t["overage_per_hour"] = rng.choice([0, 1, 99, 200, rng.randint(0, 1000)])
    if rng.random() < 0.7:
        t["daily_max"] = rng.choice([0, 1, 2500, rng.randint(0, 6000), t["tiers"][-1]["amount"],
                                     max(0, t["tiers"][0]["amount"] - 1)])
    if rng.random() < 0.2:
        # Large amounts, where rounding and truncation show most.
        scale = rng.choice([7, 100, 1001, 99991])
        for tier in t["tiers"]:
            tier["amount"] = min(10 ** 9, tier["amount"] * scale)
        for k in ("overage_per_hour", "daily_max"):
            if k in t:
                t[k] = min(10 ** 9, t[k] * scale)
    if rng.random() < 0.85:
        t["class_multiplier"] = {c: jnum(rng.choice(MULTS)) for c in classes
                                 if rng.random() < 0.8}
    if rng.random() < 0.75:
        t["peak"] = [gen_peak(rng) for _ in range(rng.choice([1, 1, 2, 3]))]
    if surge or rng.random() < 0.5:
        at_least = set()
        for _ in range(rng.choice([1, 2, 3, 4])):
            c = rng.random()
            if c < 0.4 and not surge:
                at_least.add(0)
            elif c < 0.7:
                at_least.add(rng.randint(0, 1000))
            else:
                at_least.add(int((Decimal(1000 * rng.randint(0, total)) / total)
                                 .to_integral_value()))
        t["surge"] = [{"occupancy_at_least": jnum(a), "multiplier": jnum(rng.choice(MULTS))}
                      for a in sorted(at_least)]
    if rng.random() < 0.6:
        t["max_multiplier"] = jnum(rng.choice([1000, 1500, 3000, 2675, 1255, 5000, 10000, 999]))
    t["lost_ticket"] = rng.choice([0, 5000, rng.randint(0, 10000)])
    t["grace_minutes"] = rng.choice([0, 1, 15, rng.randint(0, 30)])
    return t


def gen_peak(rng):
    start = rng.choice([rng.randint(0, 1439), 0, 30, 120, 150, 450, 1320, 1380])
    if rng.random() < 0.3:
        end = 1440                                  # "24:00"
    else:
        end = rng.choice([rng.randint(start + 1, 1440), min(1440, start + rng.randint(1, 120))])
    return {"days": sorted(rng.sample(model.DAYS, rng.randint(1, 7)), key=model.DAYS.index),
            "from": "%02d:%02d" % divmod(start, 60), "to": "%02d:%02d" % divmod(end, 60),
            "multiplier": jnum(rng.choice(MULTS))}


def gen_extreme_tariff(rng, classes):
    """Amounts at or near their bound (10^9), multipliers 0.001 to 100 with
    rarely a cap."""
    big = [1000, 99999, 100000, 2675, 1]
    t = gen_tariff(rng, classes, 100)
    for tier in t["tiers"]:
        tier["amount"] = rng.choice([10 ** 9, rng.randint(0, 10 ** 9)])
    t["overage_per_hour"] = rng.choice([0, 10 ** 9, rng.randint(0, 10 ** 9)])
    if "daily_max" in t:
        t["daily_max"] = rng.choice([10 ** 9, rng.randint(0, 10 ** 9)])
    t["class_multiplier"] = {c: jnum(rng.choice(big)) for c in classes}
    for w in t.get("peak", []) + t.get("surge", []):
        w["multiplier"] = jnum(rng.choice(big))
    t.pop("max_multiplier", None)
    if rng.random() < 0.3:
        t["max_multiplier"] = jnum(rng.choice(big))
    t["lost_ticket"] = rng.choice([10 ** 9, 0])
    return t


def transitions(tz):
    """The instants in the window at which tz's UTC offset changes."""
    out = []
    offset = datetime.datetime.fromtimestamp(WIN_START, tz).utcoffset()
    for ts in range(WIN_START, WIN_END, 3600):
        if datetime.datetime.fromtimestamp(ts + 3600, tz).utcoffset() == offset:
            continue
        lo, hi = ts, ts + 3600
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.datetime.fromtimestamp(mid, tz).utcoffset() == offset:
                lo = mid
            else:
                hi = mid
        out.append(hi)
        offset = datetime.datetime.fromtimestamp(hi, tz).utcoffset()
    return out


def local_instant(rng, tz, minute):
    """Local time minute (1440: the next midnight) of a day in the window,
    either of a repeated hour."""
    day = datetime.date(1970, 1, 1) + datetime.timedelta(
        days=rng.randint(WIN_START // 86400 + 2, WIN_END // 86400 - 2) + minute // 1440)
    h, m = divmod(minute % 1440, 60)
    return int(datetime.datetime(day.year, day.month, day.day, h, m, tzinfo=tz,
                                 fold=rng.randint(0, 1)).timestamp())


def gen_entry_time(rng, t, tz, trans):
    """Near a peak window's edge, a DST change or local midnight, or anywhere."""
    c = rng.random()
    jitter = rng.choice([0, 0, -1, 1, -60, 59, rng.randint(-7200, 7200)])
    if c < 0.3 and t.get("peak"):
        w = rng.choice(t["peak"])
        edge = model.minute_of_day(rng.choice([w["from"], w["to"]]))
        return local_instant(rng, tz, edge) + jitter
    if c < 0.5 and trans:
        return rng.choice(trans) + rng.choice([0, -1, 1, -1800, 1800, -3600, 3599, 3600, -5400,
                                               5400, jitter])
    if c < 0.6:
        return local_instant(rng, tz, 0) + jitter
    return rng.randint(WIN_START, WIN_END)


def gen_durations(rng, t, n):
    """n stay lengths in seconds, half of them at the tariff's edges."""
    edges = [0, 1, 59, 60, 61, 60 * t["free_minutes"], 60 * t["free_minutes"] + 1,
             60 * t["free_minutes"] - 1]
    for tier in t["tiers"]:
        u = tier["upto_minutes"]
        edges += [60 * u, 60 * u + 1, 60 * u - 59, 60 * (u + 60) + 1, 60 * (u + 61)]
    inc = t["increment_minutes"]
    for k in (1, 2, 3, 7):
        edges += [86400 * k - 1, 86400 * k, 86400 * k + 1, 86400 * k + 60 * inc + 1]
    edges += [60 * inc * rng.randint(1, 50) + rng.choice([0, 1]) for _ in range(3)]
    out = [rng.choice(edges) for _ in range(n // 2)]
    out += [rng.choice([rng.randint(0, 7200), rng.randint(0, 86400), rng.randint(0, 10 * 86400)])
            for _ in range(n - len(out))]
    return [max(0, x) for x in out]


# --------------------------------------------------------------------------- checking

class Report:
    """Mismatches and what the compared answers covered, over one test."""

    def __init__(self):
        self.mismatches = []
        self.seen = set()

    def mismatch(self, what, stay, **fields):
        fields.update(stay.context if stay else {})
        self.mismatches.append((what, fields))

    def check(self, features):
        """Fails with the first mismatches; then when the run did not cover
        every one of features (a generator gone blind)."""
        if self.mismatches:
            shown = ["%s: %s" % (what, json.dumps(f, sort_keys=True))
                     for what, f in self.mismatches[:MAX_SHOWN]]
            raise AssertionError("%d mismatches with the model (first %d):\n%s"
                                 % (len(self.mismatches), len(shown), "\n".join(shown)))
        missing = sorted(set(features) - self.seen)
        assert not missing, "the cases never covered %s" % missing


class Stay:
    """A ticket in parkd and the model's view of it."""

    def __init__(self, ticket, version, plate, m, context):
        self.ticket = ticket
        self.version = version
        self.plate = plate
        self.m = m
        self.context = context


class Garage:
    """One daemon, a client, the tariff version in force, and the checks."""

    def __init__(self, d, zone, report):
        self.d = d
        self.c = d.client()
        self.zone = zone
        self.tz = zoneinfo.ZoneInfo(zone)
        self.report = report
        self.version = 1

    def reconnect(self):
        self.c.close()
        self.c = self.d.client()

    def set_tariff(self, t):
        r = self.c.call("tariff", set=t)
        if "error" in r:
            self.report.mismatch("tariff refused", None, zone=self.zone, tariff=t,
                                 error=r["error"])
            return False
        self.version += 1
        return True

    def occupancy(self):
        cap = assert_result(self.c.call("status"))["capacity"]
        return cap["occupied"], cap["total"]

    def enter(self, t, gate, plate, cls, E, occupancy=None):
        """Enters plate at E; the Stay, or None when parkd refused."""
        occupied, total = occupancy or self.occupancy()
        context = {"zone": self.zone, "tariff": t, "class": cls, "entered": fmt_time(E),
                   "entered_local": datetime.datetime.fromtimestamp(E, self.tz).isoformat(),
                   "occupied": occupied, "total": total}
        r = self.c.call("entry", gate=gate, plate=plate, at=fmt_time(E), **{"class": cls})
        if "error" in r:
            self.report.mismatch("entry refused", None, error=r["error"], **context)
            return None
        m = model.Ticket(t, cls, self.tz, E, occupied, total)
        return Stay(r["result"]["ticket"], self.version, plate, m, context)

    def quote(self, s, X):
        """Compares `quote` at X with the model."""
        r = self.c.call("quote", ticket=s.ticket, at=fmt_time(X))
        if "error" in r:
            self.report.mismatch("quote refused", s, at=fmt_time(X), error=r["error"])
            return
        q = r["result"]
        m = s.m
        # parkd's amounts stop at 2^53 - 1 (lib/tariff.h); the spec's have
        # no bound.  Only the extreme cases, with nothing paid, reach it.
        want = {"amount": min(m.amount(X), AMOUNT_MAX), "due": min(m.due(X), AMOUNT_MAX),
                "paid": m.paid, "tariff_version": s.version}
        if m.paid_at is not None:
            want["exit_by"] = fmt_time(m.exit_by())
        got = {k: q.get(k) for k in want}
        if got != want:
            self.report.mismatch("quote", s, at=fmt_time(X), parkd=got, model=want,
                                 model_steps=model.steps(m.t, X - m.E), model_multiplier=m.mult,
                                 parkd_breakdown=q.get("breakdown"))
        self.cover(s, X)

    def cover(self, s, X):
        m = s.m
        st = model.steps(m.t, X - m.E)
        mult = m.mult
        seen = self.report.seen
        seen.add("free" if st["free"] else "charged")
        if mult["peak_milli"] != 1000:
            seen.add("peak")
        if mult["surge_milli"] != 1000:
            seen.add("surge")
        if mult["total_milli"] != mult["class_milli"] * mult["peak_milli"] // 1000 * \
                mult["surge_milli"] // 1000:
            seen.add("max_multiplier")
        if not st["free"]:
            if st["days"] > 0:
                seen.add("days")
            if st["rest"] > m.t["tiers"][-1]["upto_minutes"]:
                seen.add("overage")
            if st["rest"] > 0 and st["day"] == m.t.get("daily_max"):
                seen.add("daily_max")
        if m.paid_at is not None and X <= m.exit_by():
            seen.add("grace")
        if m.lost:
            seen.add("lost")
        if st["base"] > AMOUNT_MAX:
            seen.add("saturated" if m.amount(X) > AMOUNT_MAX else "large base")

    def pay_due(self, s, X):
        """Pays what parkd says is due at X (a wrong amount is the quote's
        mismatch, and the story goes on); True when something was paid."""
        due = assert_result(self.c.call("quote", ticket=s.ticket, at=fmt_time(X)))["due"]
        if due <= 0:
            return False
        r = self.c.call("pay", ticket=s.ticket, amount=due, at=fmt_time(X))
        if "error" in r:
            self.report.mismatch("pay refused", s, at=fmt_time(X), amount=due, error=r["error"])
            return False
        s.m.pay(X, due)
        if r["result"].get("exit_by") != fmt_time(s.m.exit_by()):
            self.report.mismatch("pay exit_by", s, at=fmt_time(X), parkd=r["result"],
                                 model=fmt_time(s.m.exit_by()))
        return True

    def lose(self, s, L):
        r = self.c.call("lost", plate=s.plate, at=fmt_time(L))
        if "error" in r:
            self.report.mismatch("lost refused", s, at=fmt_time(L), error=r["error"])
            return
        want = s.m.lose(L)
        if r["result"].get("due") != want:
            self.report.mismatch("lost", s, at=fmt_time(L), parkd=r["result"], model=want,
                                 model_fee=s.m.fee(L), paid=s.m.paid)
        self.quote(s, L)

    def leave(self, s, X, gate):
        """Exits at X: refused with payment_required and the model's due when
        that is not 0 (then paid and exited)."""
        due = s.m.due(X)
        r = self.c.call("exit", gate=gate, ticket=s.ticket, at=fmt_time(X))
        if "error" in r:
            e = r["error"].get("data", {})
            if e.get("reason") != "payment_required" or e.get("amount_due") != due:
                self.report.mismatch("exit", s, at=fmt_time(X), parkd=r["error"], model_due=due)
            self.pay_due(s, X)
            r = self.c.call("exit", gate=gate, ticket=s.ticket, at=fmt_time(X))
            if "error" in r:
                self.report.mismatch("exit after paying", s, at=fmt_time(X), parkd=r["error"])
        elif due != 0:
            self.report.mismatch("exit", s, at=fmt_time(X), parkd=r["result"], model_due=due)


def pricing_config(zone, **kw):
    cfg = demo_config(durability="none", limits={"rate_per_s": 0}, **kw)
    cfg["facility"]["timezone"] = zone
    return cfg


# --------------------------------------------------------------------------- normal

def normal_zone(rng, zone, ncases, report):
    """ncases tariffs in turn on one daemon in zone, one stay each; see the
    module's docstring."""
    cfg = pricing_config(zone)
    cfg["vehicles"]["truck"] = {"fits": ["oversized"]}      # in no class_multiplier
    classes = sorted(cfg["vehicles"])
    total = sum(row["count"] for row in cfg["facility"]["rows"])
    t = gen_tariff(rng, classes, total)
    cfg["tariff"] = t
    with Daemon(cfg) as d:
        g = Garage(d, zone, report)
        trans = transitions(g.tz)
        inside = []     # [stay, cases left] of tickets kept in across tariffs
        for i in range(ncases):
            if i:
                t = gen_tariff(rng, classes, total)
                if not g.set_tariff(t):
                    continue
            for kept in list(inside):
                s = kept[0]
                X = s.m.E + rng.choice(gen_durations(rng, s.m.t, 2))
                g.quote(s, X)
                report.seen.add("older tariff")
                kept[1] -= 1
                if kept[1] == 0:
                    inside.remove(kept)
                    g.leave(s, X, "south")
            E = gen_entry_time(rng, t, g.tz, trans)
            s = g.enter(t, "north", "N%d" % i, rng.choice(classes), E)
            if s is None:
                continue
            for dur in sorted(gen_durations(rng, t, rng.randint(3, 7))):
                g.quote(s, E + dur)
            if rng.random() < 0.15:
                inside.append([s, rng.randint(1, 3)])
                continue
            end = E + rng.choice(gen_durations(rng, t, 2))
            grace = 60 * t["grace_minutes"]
            if rng.random() < 0.45:
                P = E + rng.choice(gen_durations(rng, t, 2))
                if g.pay_due(s, P):
                    for X in (P, P + grace - 1, P + grace, P + grace + 1,
                              P + grace + rng.randint(1, 86400)):
                        if X >= P:
                            g.quote(s, X)
                    end = P + rng.choice([0, grace, grace + 1, grace + rng.randint(1, 86400)])
                    if rng.random() < 0.3:
                        P = P + grace + rng.randint(1, 2 * 86400)
                        if g.pay_due(s, P):
                            report.seen.add("second payment")
                            g.quote(s, P + grace)
                            g.quote(s, P + grace + 1)
                            end = P + rng.choice([0, grace, grace + 1])
            if rng.random() < 0.25:
                # Past any grace: what `lost` says inside one is not compared.
                L = max(end, (s.m.paid_at or E) + grace + 1)
                g.lose(s, L)
                end = L
            g.leave(s, end, "south")
        if inside:
            # A start whose file has another tariff: a new version for new
            # entries, the old ones for the tickets inside.
            assert d.stop() == 0
            t = gen_tariff(rng, classes, total)
            d.cfg["tariff"] = t
            d.rewrite()
            d.start()
            g.reconnect()
            g.version += 1
            report.seen.add("restart")
            for s, _ in inside:
                g.quote(s, s.m.E + rng.choice(gen_durations(rng, s.m.t, 2)))
            E = gen_entry_time(rng, t, g.tz, trans)
            s = g.enter(t, "north", "R1", "car", E)
            if s is not None:
                for dur in gen_durations(rng, t, 3):
                    g.quote(s, E + dur)
        g.c.close()


def test_normal_tariffs_match_the_model():
    report = Report()
    for seed in SEEDS:
        rng = random.Random(seed)
        for zone in ZONES:
            normal_zone(random.Random(rng.random()), zone, 30, report)
    report.check(["free", "charged", "peak", "surge", "max_multiplier", "days", "overage",
                  "daily_max", "grace", "lost", "older tariff", "second payment", "restart"])


test_normal_tariffs_match_the_model.timeout = 120


# --------------------------------------------------------------------------- surge

def surge_lot(rng, total, ncases, report):
    """ncases surge tariffs on a lot of total regular spots, each entry
    after filling the lot to a chosen occupancy."""
    zone = rng.choice(ZONES)
    classes = ["motorcycle", "car", "van", "bus"]
    cfg = pricing_config(zone)
    del cfg["vehicles"]     # the default classes: a bus takes 5 spots in a row
    cfg["facility"]["gates"] = [{"id": "g", "role": "both", "level": 0, "x": 0, "y": 0}]
    cfg["facility"]["rows"] = [{"level": 0, "zone": "R", "type": "regular", "count": total,
                                "x": 1, "y": 1, "dx": 1, "dy": 0}]
    t = gen_tariff(rng, classes, total, surge=True)
    cfg["tariff"] = t
    with Daemon(cfg) as d:
        g = Garage(d, zone, report)
        trans = transitions(g.tz)
        fillers = []        # (ticket, entered, spots)
        n = 0
        for i in range(ncases):
            if i:
                t = gen_tariff(rng, classes, total, surge=True)
                if not g.set_tariff(t):
                    continue
            want = rng.choice([0, total - 1, rng.randint(0, total - 1), rng.randint(0, total - 1)])
            for s in t["surge"]:
                if rng.random() < 0.3:
                    k = int(Decimal(str(s["occupancy_at_least"])) * total)
                    want = min(total - 1, max(0, k + rng.choice([-1, 0, 0, 1])))
            occupied = sum(f[2] for f in fillers)
            while occupied > want:
                ticket, entered, spots = fillers.pop(rng.randrange(len(fillers)))
                assert_result(g.c.call("exit", gate="g", ticket=ticket, at=fmt_time(entered)))
                occupied -= spots
            while occupied < want:
                n += 1
                cls = "bus" if want - occupied >= 5 and total >= 40 and rng.random() < 0.2 \
                    else "car"
                at = fmt_time(WIN_START + n)
                r = g.c.call("entry", gate="g", plate="F%d" % n, at=at, **{"class": cls})
                if "error" in r and cls == "bus":   # no 5 free spots in a row
                    r = g.c.call("entry", gate="g", plate="F%d" % n, at=at, **{"class": "car"})
                r = assert_result(r)
                fillers.append((r["ticket"], WIN_START + n, len(r["spots"])))
                occupied += len(r["spots"])
            assert g.occupancy() == (occupied, total), (g.occupancy(), occupied, total)
            E = gen_entry_time(rng, t, g.tz, trans)
            s = g.enter(t, "g", "S%d" % i, rng.choice(["motorcycle", "car", "van"]), E,
                        (occupied, total))
            if s is None:
                continue
            for dur in sorted(gen_durations(rng, t, 3)):
                g.quote(s, E + dur)
            g.leave(s, E, "g")
        g.c.close()


def test_surge_tariffs_match_the_model():
    report = Report()
    for seed in SEEDS:
        rng = random.Random(seed)
        for total in (7, 40, 100):
            surge_lot(random.Random(rng.random()), total, 100, report)
    report.check(["free", "charged", "surge", "max_multiplier"])


test_surge_tariffs_match_the_model.timeout = 120


# --------------------------------------------------------------------------- extreme

def test_extreme_amounts_match_the_model():
    report = Report()
    last = parse_time("9999-12-31T23:59:59Z")
    for seed in SEEDS:
        rng = random.Random(seed)
        zone = rng.choice(ZONES)
        cfg = pricing_config(zone)
        classes = sorted(cfg["vehicles"])
        t = gen_extreme_tariff(rng, classes)
        cfg["tariff"] = t
        with Daemon(cfg) as d:
            g = Garage(d, zone, report)
            trans = transitions(g.tz)
            for i in range(100):
                if i:
                    t = gen_extreme_tariff(rng, classes)
                    if not g.set_tariff(t):
                        continue
                E = gen_entry_time(rng, t, g.tz, trans)
                s = g.enter(t, "north", "X%d" % i, rng.choice(classes), E)
                if s is None:
                    continue
                for X in ([E + x for x in gen_durations(rng, t, 3)] +
                          [rng.randint(E, last) for _ in range(2)] + [last]):
                    g.quote(s, X)
                g.leave(s, E, "south")
            g.c.close()
    report.check(["charged", "saturated", "large base"])


test_extreme_amounts_match_the_model.timeout = 120


def test_base_past_the_cap_times_a_small_multiplier():
    """The base of a stay to the year 9999 is past 2^53 - 1, but times 0.001
    the fee is not: it is exact, not the capped base times 0.001."""
    t = {"free_minutes": 0, "increment_minutes": 1, "tiers": [{"upto_minutes": 1, "amount": 0}],
         "overage_per_hour": 10 ** 9, "class_multiplier": {"car": 0.001}, "lost_ticket": 0,
         "grace_minutes": 0}
    cfg = small_config([{"level": 0, "zone": "A", "type": "regular", "count": 1, "x": 1, "y": 0,
                         "dx": 1, "dy": 0}])
    cfg["tariff"] = t       # whole: demo_config would merge it into the demo's
    with Daemon(cfg) as d:
        c = d.client()
        E, X = "2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z"
        ticket = c.ok("entry", gate="north", plate="B1", at=E, **{"class": "car"})["ticket"]
        want = model.Ticket(t, "car", UTC, parse_time(E), 0, 1).amount(parse_time(X))
        assert want == 69898632000000, want
        q = c.ok("quote", ticket=ticket, at=X)
        assert q["amount"] == want, "tariff %s, entered %s, quote at %s: parkd %s, model %s" \
            % (json.dumps(t), E, X, q["amount"], want)
        c.ok("exit", gate="south", ticket=ticket, at=E)
        c.close()
