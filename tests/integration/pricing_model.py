"""An independent model of what a stay costs, written from config.md
("Tariff") and protocol.md (quote, pay, lost, exit) alone, for
test_pricing_model.py.  Integers throughout: multipliers are read from their
decimal text, never through binary floating point.

Where the spec leaves room, the model reads it as parkd documents it: a
class missing from class_multiplier counts 1; without max_multiplier there
is no cap; occupancy is the occupied / total spots of `status` just before
the entry, compared exactly; a payment at T covers an exit at
T + grace_minutes, not a second later; after `lost` the stay costs
max(lost_ticket, the fee so far).  A tariff here is the JSON object given to
parkd, optional keys left out or present."""
import datetime
from decimal import Decimal
from fractions import Fraction

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def milli(v):
    """A multiplier (a JSON number) in thousandths, exactly as written."""
    d = Decimal(str(v)) * 1000
    assert d == d.to_integral_value(), "more than three decimals: %r" % v
    return int(d)


def minute_of_day(hhmm):
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def day_amount(t, r):
    """Step 4: day(r), capped at daily_max when there is one."""
    if r == 0:
        return 0
    for tier in t["tiers"]:
        if tier["upto_minutes"] >= r:
            a = tier["amount"]
            break
    else:
        last = t["tiers"][-1]
        a = last["amount"] + -(-(r - last["upto_minutes"]) // 60) * t["overage_per_hour"]
    if t.get("daily_max") is not None:
        a = min(a, t["daily_max"])
    return a


def steps(t, d):
    """Steps 1-5 for a stay of d seconds: {free, minutes, days, rest, day,
    base} (only free and base when the stay is free)."""
    if d <= 60 * t["free_minutes"]:
        return {"free": True, "base": 0}
    inc = t["increment_minutes"]
    m = -(-d // 60)
    m = -(-m // inc) * inc
    k, r = divmod(m, 1440)
    whole = t["daily_max"] if t.get("daily_max") is not None else day_amount(t, 1440)
    day = day_amount(t, r)
    return {"free": False, "minutes": m, "days": k, "rest": r, "day": day,
            "base": k * whole + day}


def peak_milli(t, tz, E):
    """The multiplier of the first peak window holding E (Unix seconds) in
    local time: from inclusive, to exclusive, on the local weekday of E."""
    local = datetime.datetime.fromtimestamp(E, tz)
    s = local.hour * 3600 + local.minute * 60 + local.second
    for w in t.get("peak") or []:
        if (DAYS[local.weekday()] in w["days"] and
                60 * minute_of_day(w["from"]) <= s < 60 * minute_of_day(w["to"])):
            return milli(w["multiplier"])
    return 1000


def surge_milli(t, occupied, total):
    """The multiplier of the highest occupancy_at_least <= occupied / total."""
    best = None
    for s in t.get("surge") or []:
        at_least = Fraction(Decimal(str(s["occupancy_at_least"])))
        if total and at_least <= Fraction(occupied, total) and (best is None or at_least > best[0]):
            best = (at_least, milli(s["multiplier"]))
    return best[1] if best else 1000


def multiplier(t, cls, tz, E, occupied, total):
    """Step 6: {class_milli, peak_milli, surge_milli, total_milli}, the
    product truncated to thousandths after each multiplication, then
    capped."""
    cm = t.get("class_multiplier") or {}
    c = milli(cm[cls]) if cls in cm else 1000
    p = peak_milli(t, tz, E)
    s = surge_milli(t, occupied, total)
    m = c * p // 1000 * s // 1000
    if t.get("max_multiplier") is not None:
        m = min(m, milli(t["max_multiplier"]))
    return {"class_milli": c, "peak_milli": p, "surge_milli": s, "total_milli": m}


def fee(t, d, mult_milli):
    """Step 7 for a stay of d seconds."""
    return (steps(t, d)["base"] * mult_milli + 500) // 1000


class Ticket:
    """One stay: entered at E, priced by tariff t with the multiplier fixed
    at entry; payments and `lost` change what is due."""

    def __init__(self, t, cls, tz, E, occupied, total):
        self.t = t
        self.E = E
        self.mult = multiplier(t, cls, tz, E, occupied, total)
        self.paid = 0
        self.paid_at = None
        self.lost = False

    def fee(self, X):
        return fee(self.t, X - self.E, self.mult["total_milli"])

    def amount(self, X):
        """What the stay costs at X (`quote`'s amount)."""
        f = self.fee(X)
        return max(f, self.t["lost_ticket"]) if self.lost else f

    def exit_by(self):
        """Until when the last payment covers the stay."""
        return self.paid_at + 60 * self.t["grace_minutes"]

    def due(self, X):
        if self.paid_at is not None and X <= self.exit_by():
            return 0
        return max(0, self.amount(X) - self.paid)

    def pay(self, X, amount):
        self.paid += amount
        self.paid_at = X

    def lose(self, X):
        """Marks the ticket lost at X; what `lost` says is due."""
        self.lost = True
        return self.due(X)
