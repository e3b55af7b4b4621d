"""The vehicle registry (registry.md; protocol.md sections 5 and 8).

CRUD and roles, validation of names and phones (E.164 normalisation),
vehicle_list paging that stays stable while records come and go, retention
(set at run time, 0 included, records of vehicles inside kept until their
exit, a record expiring by its timer, records that expired while the daemon
was down), and erasure: after a delete, an expiry, a purge or a replaced
contact, once registry.erase_within_s has passed, no byte of the name or
the phone number is in any file under data_dir (snapshots included), in the
daemon's log, or in Redis (keys, stream and its append-only file); the rest
of the registry survives kill -9 right after a rewrite.

Times in the past come from libfaketime (Debian's faketime package): a
daemon started with its clock an hour behind registers records that are
due, or nearly due, once the daemon is started again with the real clock.
"""
import contextlib
import glob
import json
import os
import random
import signal
import time

from harness import (kill9, Daemon, assert_error, at, demo_config, fill_disk, small_tmpfs, free_port,
                     http_request, until, until_refused)
from redisutil import AuditDump, RedisServer

CAR = {"class": "car"}
TOKENS = {"tokens": [{"token": "kiosk-secret", "role": "kiosk"},
                     {"token": "gate-secret", "role": "gate"},
                     {"token": "ops-secret", "role": "operator"}]}
# How long a test waits for an erasure at most (erase_within_s is 1 in these tests).
ERASE_WAIT_S = 10


def reg_config(retention_hours=24, erase_within_s=1, **overrides):
    cfg = demo_config(**overrides)
    cfg["registry"] = {"retention_hours": retention_hours,
                       "erase_within_s": erase_within_s}
    cfg.setdefault("limits", {})["rate_per_s"] = 0
    return cfg


def register(c, plate, name, phone):
    return c.ok("vehicle_register", plate=plate, contact_name=name, phone=phone)


def files_under(root):
    for dirpath, _, names in os.walk(root):
        for n in names:
            yield os.path.join(dirpath, n)


def where(root, needles):
    """{needle: [files under root holding it]} for the needles found."""
    found = {}
    for path in files_under(root):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        for n in needles:
            if n.encode() in data:
                found.setdefault(n, []).append(os.path.relpath(path, root))
    return found


def wait_erased(d, needles, keep=(), timeout=ERASE_WAIT_S):
    """Waits until no file under data_dir holds any of needles, and checks
    the ones in keep are still there (so the scan can see contacts)."""
    deadline = time.time() + timeout
    while True:
        found = where(d.data_dir, list(needles) + list(keep))
        left = {n: f for n, f in found.items() if n in needles}
        if not left:
            break
        assert time.time() < deadline, "still on disk after %ss: %s" % (timeout, left)
        time.sleep(0.1)
    for k in keep:
        assert k in found, "%r is no longer on disk: the scan sees nothing" % k
    return found


def log_text(d):
    with open(d.log, "rb") as f:
        return f.read()


FAKETIME_ENV = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC",
                "FAKETIME_NO_CACHE", "ASAN_OPTIONS")


@contextlib.contextmanager
def clock_behind(seconds):
    """Processes started inside run with the wall clock `seconds` behind
    (the loop's monotonic clock stays real)."""
    libs = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    assert libs, "libfaketime is missing: scripts/deps.sh test installs Debian's faketime"
    saved = {k: os.environ.get(k) for k in FAKETIME_ENV}
    os.environ["LD_PRELOAD"] = libs[0]
    os.environ["FAKETIME"] = "-%d" % seconds
    os.environ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    os.environ["FAKETIME_NO_CACHE"] = "1"
    # A sanitized parkd wants its runtime first; libfaketime only wraps clocks.
    asan = saved["ASAN_OPTIONS"]
    os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def events_of(c, wait=0.3):
    out = []
    while not c.no_data(wait):
        m = json.loads(c.read_line())
        if m.get("method") == "event":
            out.append(m["params"])
    return out


# ---------------------------------------------------------------------------
# CRUD, validation, roles.

def test_crud_and_normalisation():
    with Daemon(reg_config()) as d:
        c = d.client()
        r = register(c, "b-xy 123", "Erika Mustermann", "+49 170 555-01.23")
        assert r["plate"] == "B-XY 123" and r["created"] is True, r
        assert r["registered_at"] == r["updated_at"], r
        g = c.ok("vehicle_get", plate="B-XY 123")
        assert g == {"plate": "B-XY 123", "contact_name": "Erika Mustermann",
                     "phone": "+491705550123", "registered_at": r["registered_at"],
                     "updated_at": r["updated_at"], "expires_at": g["expires_at"],
                     "inside": False}, g
        # 24 hours after the update.
        assert g["expires_at"][11:] == r["updated_at"][11:], g
        time.sleep(1.1)
        u = register(c, "B-XY 123", "Erika M\u00fcller", "+49 170 5550199")
        assert u["created"] is False and u["registered_at"] == r["registered_at"], u
        assert u["updated_at"] > r["updated_at"], u
        g = c.ok("vehicle_get", plate="b-xy 123")
        assert (g["contact_name"], g["phone"]) == ("Erika M\u00fcller", "+491705550199"), g
        # Entering stops the expiry, leaving starts it again.
        c.ok("entry", gate="north", plate="B-XY 123", **CAR)
        g = c.ok("vehicle_get", plate="B-XY 123")
        assert g["inside"] is True and g["expires_at"] is None, g
        x = c.ok("exit", gate="south", plate="B-XY 123")
        g = c.ok("vehicle_get", plate="B-XY 123")
        assert g["inside"] is False and g["expires_at"] is not None, g
        assert g["expires_at"] >= x["exited_at"], (g, x)
        assert c.ok("vehicle_delete", plate="B-XY 123") == {"plate": "B-XY 123", "deleted": True}
        assert_error(c.call("vehicle_get", plate="B-XY 123"), "not_found")
        assert_error(c.call("vehicle_delete", plate="B-XY 123"), "not_found")
        # Inline commands (a person at nc) reach the same methods.
        c.send_raw(b'vehicle_register plate="CD 2" contact_name="Max Muster" phone="+1 555 0100 22"\n')
        assert c.read_json()["result"]["plate"] == "CD 2"
        assert c.ok("purge", confirm="purge") == {"deleted": 1}
        assert c.ok("vehicle_list") == {"items": [], "next_cursor": None}
        help_ = {m["method"]: m["usage"] for m in c.ok("help")["methods"]}
        for m in ("vehicle_register", "vehicle_get", "vehicle_list",
                  "vehicle_delete", "retention", "purge"):
            assert m in help_, m


def test_validation_never_echoes_contacts():
    with Daemon(reg_config()) as d:
        c = d.client()
        ok = [("Ann", "+123456", "+123456"),
              ("\u00e9" * 100, "+123 456 789 012 345", "+123456789012345"),
              ("O'Brien-Smith, Jr.", "+44.20.7946.0958", "+442079460958"),
              ("\u5c71\u7530 \u592a\u90ce \U0001F697", "+81-90-1234-5678", "+819012345678")]
        for i, (name, phone, norm) in enumerate(ok):
            register(c, "OK %d" % i, name, phone)
            g = c.ok("vehicle_get", plate="OK %d" % i)
            assert (g["contact_name"], g["phone"]) == (name, norm), g
        bad_names = ["", "\u00e9" * 101, "tab\there", "new\nline", "bell\u0007",
                     "del\u007f", "c1\u0085", "sep\u2028x", "para\u2029x"]
        for name in bad_names:
            e = assert_error(c.call("vehicle_register", plate="BAD 1", contact_name=name,
                                    phone="+4912345678"), "invalid_params")
            assert e["message"].startswith("params.contact_name:"), e
            if name:
                assert name not in e["message"], e
        bad_phones = ["4912345678", "+12345", "+1234567890123456", "+49 170 abc",
                      "++4912345678", "+49+12345678", "+", "", "+49/1234567", "49-170-5550123+",
                      "+" + "1" * 300]
        for phone in bad_phones:
            e = assert_error(c.call("vehicle_register", plate="BAD 1", contact_name="Bad",
                                    phone=phone), "invalid_params")
            assert e["message"].startswith("params.phone:"), e
            digits = "".join(ch for ch in phone if ch.isdigit())
            if len(digits) >= 4:
                assert digits not in e["message"], e
        for params, field in [({"plate": "bad_plate!", "contact_name": "A", "phone": "+4912345678"}, "plate"),
                              ({"contact_name": "A", "phone": "+4912345678"}, "plate"),
                              ({"plate": "AB 1", "phone": "+4912345678"}, "contact_name"),
                              ({"plate": "AB 1", "contact_name": "A"}, "phone"),
                              ({"plate": "AB 1", "contact_name": 5, "phone": "+4912345678"}, "contact_name"),
                              ({"plate": "AB 1", "contact_name": "A", "phone": 4912345678}, "phone"),
                              ({"plate": "AB 1", "contact_name": "A", "phone": "+4912345678", "email": "x"}, "email")]:
            e = assert_error(c.call("vehicle_register", **params), "invalid_params")
            assert field in e["message"], (params, e)
        assert_error(c.call("vehicle_get", plate="BAD 1"), "not_found")
        assert_error(c.call("purge"), "invalid_params")
        assert_error(c.call("purge", confirm="yes"), "invalid_params")
        assert_error(c.call("retention", set_hours=-1), "invalid_params")
        assert_error(c.call("retention", set_hours=87601), "invalid_params")
        assert_error(c.call("vehicle_list", limit=0), "invalid_params")
        assert_error(c.call("vehicle_list", limit=1001), "invalid_params")
        assert_error(c.call("vehicle_list", cursor="zz"), "invalid_params")
        assert c.ok("vehicle_list", limit=1000)["next_cursor"] is None
        # Nothing of a contact reached the log.
        text = log_text(d)
        for name, phone, norm in ok:
            assert norm.encode() not in text and name.encode() not in text


def test_roles():
    with Daemon(reg_config(auth=TOKENS)) as d:
        kiosk, gate, ops = d.client(), d.client(), d.client()
        kiosk.ok("auth", token="kiosk-secret")
        gate.ok("auth", token="gate-secret")
        ops.ok("auth", token="ops-secret")
        anon = d.client()
        assert_error(anon.call("vehicle_get", plate="AB 1"), "auth_required")
        register(kiosk, "AB 1", "Ann", "+4912345678")
        assert kiosk.ok("vehicle_get", plate="AB 1")["phone"] == "+4912345678"
        for m, p in [("vehicle_list", {}), ("vehicle_delete", {"plate": "AB 1"}),
                     ("retention", {}), ("retention", {"set_hours": 1}),
                     ("purge", {"confirm": "purge"})]:
            assert_error(kiosk.call(m, **p), "forbidden")
            assert_error(gate.call(m, **p), "forbidden")
        assert_error(gate.call("vehicle_register", plate="AB 2", contact_name="B",
                               phone="+4912345678"), "forbidden")
        assert_error(gate.call("vehicle_get", plate="AB 1"), "forbidden")
        register(ops, "AB 2", "Bob", "+4912345679")
        assert ops.ok("vehicle_get", plate="AB 2")["contact_name"] == "Bob"
        assert [i["plate"] for i in ops.ok("vehicle_list")["items"]] == ["AB 1", "AB 2"]
        assert ops.ok("retention") == {"hours": 24}
        assert ops.ok("retention", set_hours=48) == {"hours": 48}
        ops.ok("vehicle_delete", plate="AB 1")
        assert ops.ok("purge", confirm="purge") == {"deleted": 1}


def test_list_is_stable_under_concurrent_changes():
    with Daemon(reg_config()) as d:
        c, other = d.client(), d.client()
        rnd = random.Random(7)
        plates = ["L%03d" % i for i in range(0, 600, 2)]
        for p in plates:
            register(c, p, "N " + p, "+4912345678")
        stable = set(plates)
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 7}
            if cursor is not None:
                params["cursor"] = cursor
            page = c.ok("vehicle_list", **params)
            pages += 1
            for it in page["items"]:
                assert set(it) == {"plate", "registered_at", "updated_at", "expires_at", "inside"}, it
            seen += [it["plate"] for it in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            # Between pages, others insert and delete, before and after the cursor.
            for _ in range(3):
                p = "L%03d" % rnd.randrange(1, 600, 2)
                register(other, p, "N " + p, "+4912345678")
            for _ in range(2):
                victim = rnd.choice(plates)
                if victim in stable:
                    other.ok("vehicle_delete", plate=victim)
                    stable.discard(victim)
        assert pages > 40, pages
        assert len(seen) == len(set(seen)), "a record came twice"
        assert seen == sorted(seen), "not in plate order"
        missing = stable - set(seen)
        assert not missing, "records that existed throughout were skipped: %s" % sorted(missing)


# ---------------------------------------------------------------------------
# Retention.

def test_retention_zero_keeps_vehicles_inside_until_they_exit():
    with Daemon(reg_config(retention_hours=24)) as d:
        c, ev = d.client(), d.client()
        ev.ok("subscribe", topics=["events"])
        register(c, "OUT 1", "Olga Out", "+4911111111")
        register(c, "IN 1", "Ivan In", "+4922222222")
        c.ok("entry", gate="north", plate="IN 1", **CAR)
        # A new retention applies to every record at once.
        before = c.ok("vehicle_get", plate="OUT 1")
        assert c.ok("retention", set_hours=48) == {"hours": 48}
        after = c.ok("vehicle_get", plate="OUT 1")
        assert after["expires_at"] == at(before["updated_at"], hours=48), (before, after)
        assert c.ok("vehicle_get", plate="IN 1")["expires_at"] is None
        assert c.ok("retention", set_hours=0) == {"hours": 0}
        deadline = time.time() + 5
        while "result" in c.call("vehicle_get", plate="OUT 1"):
            assert time.time() < deadline, "OUT 1 did not expire at once"
            time.sleep(0.05)
        g = c.ok("vehicle_get", plate="IN 1")
        assert g["inside"] and g["expires_at"] is None, g
        # A new record of a vehicle outside goes at once too.
        register(c, "OUT 2", "Otto Out", "+4933333333")
        c.ok("exit", gate="south", plate="IN 1")
        deadline = time.time() + 5
        while ("result" in c.call("vehicle_get", plate="IN 1") or
               "result" in c.call("vehicle_get", plate="OUT 2")):
            assert time.time() < deadline, "records did not expire at the exit"
            time.sleep(0.05)
        evs = events_of(ev, 0.5)
        types = [(e["type"], e["subjects"]) for e in evs]
        assert ("registry.retention.changed", ["facility:Demo Garage"]) in types, types
        expired = sorted(e["data"]["plate"] for e in evs if e["type"] == "vehicle.expired")
        assert expired == ["IN 1", "OUT 1", "OUT 2"], types
        for e in evs:
            if e["type"].startswith("vehicle.") or e["type"].startswith("registry."):
                text = json.dumps(e)
                for s in ("Olga", "Ivan", "Otto", "1111111", "2222222", "3333333"):
                    assert s not in text, e
        # Durable: the retention set at run time survives a restart.
        c.ok("retention", set_hours=5)
        d.stop()
        d.start()
        assert d.client().ok("retention") == {"hours": 5}
        # A reload with a new value in the file puts that in force at once
        # (journaled), and so does a start; the value stays over restarts.
        start = len(d.logtext())
        d.rewrite(registry={"retention_hours": 7, "erase_within_s": 1})
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("config: reloaded", start=start)
        assert "needs a restart key=registry" not in d.logtext()[start:]
        assert d.client().ok("retention") == {"hours": 7}
        d.stop()
        d.start()
        assert d.client().ok("retention") == {"hours": 7}
        d.stop()
        d.rewrite(registry={"retention_hours": 9, "erase_within_s": 1})
        d.start()
        assert d.client().ok("retention") == {"hours": 9}
        d.stop()
        d.start()
        assert d.client().ok("retention") == {"hours": 9}


def test_record_expires_by_its_timer():
    """A record registered 3592 s ago under a one-hour retention is due 8 s
    after this daemon starts: there at first, gone by the timer."""
    cfg = reg_config(retention_hours=1)
    d = Daemon(cfg)
    try:
        with clock_behind(3592):
            d.start()
        c = d.client()
        register(c, "TIM 1", "Tim Timer", "+4944444444")
        register(c, "TIM 2", "Tom Timer", "+4955555555")
        c.ok("entry", gate="north", plate="TIM 2", **CAR)
        d.stop()
        d.start()
        c = d.client()
        g = c.ok("vehicle_get", plate="TIM 1")
        assert g["expires_at"] is not None, g
        deadline = time.time() + 30
        while "result" in c.call("vehicle_get", plate="TIM 1"):
            assert time.time() < deadline, "the expiry timer did not fire"
            time.sleep(0.1)
        # The vehicle inside keeps its record.
        assert c.ok("vehicle_get", plate="TIM 2")["inside"] is True
        wait_erased(d, ["Tim Timer", "4944444444"], keep=["Tom Timer"])
    finally:
        d.close()


def test_an_expired_record_stays_gone_when_the_retention_grows_again():
    """retention 0 and back to 24 in one batch, before the expiry timer can
    run: the records that expired are deleted (and erased), not revived;
    registering such a plate again is a new record."""
    d = Daemon(reg_config())
    try:
        d.start()
        c = d.client()
        register(c, "BACK 1", "Bea Back", "+4966666666")
        register(c, "BACK 2", "Bo Back", "+4977777777")
        c.send_raw(json.dumps([
            {"jsonrpc": "2.0", "id": 1, "method": "retention", "params": {"set_hours": 0}},
            {"jsonrpc": "2.0", "id": 2, "method": "retention", "params": {"set_hours": 24}},
            {"jsonrpc": "2.0", "id": 3, "method": "vehicle_get", "params": {"plate": "BACK 1"}},
            {"jsonrpc": "2.0", "id": 4, "method": "vehicle_register",
             "params": {"plate": "BACK 2", "contact_name": "Bo Back", "phone": "+4977777777"}},
        ]).encode() + b"\n")
        rs = {r["id"]: r for r in c.read_json()}
        assert rs[2]["result"]["hours"] == 24, rs
        assert rs[3]["error"]["data"]["reason"] == "not_found", rs
        assert rs[4]["result"]["created"] is True, rs
        wait_erased(d, ["Bea Back", "4966666666"], keep=["Bo Back"])
        assert "not_found" in json.dumps(c.call("vehicle_get", plate="BACK 1"))
    finally:
        d.close()


def test_records_that_expired_while_down_go_at_start():
    cfg = reg_config(retention_hours=1)
    d = Daemon(cfg)
    try:
        with clock_behind(2 * 3600):
            d.start()
            c = d.client()
            register(c, "OLD 1", "Olive Old", "+4966666666")
            register(c, "OLD 2", "Oscar Old", "+4977777777")
            c.ok("entry", gate="north", plate="OLD 2", **CAR)
            d.stop()
        assert "Olive Old" in where(os.path.join(d.data_dir, "contacts"), ["Olive Old"])
        d.start()
        c = d.client()
        assert_error(c.call("vehicle_get", plate="OLD 1"), "not_found")
        assert c.ok("vehicle_get", plate="OLD 2")["inside"] is True
        wait_erased(d, ["Olive Old", "4966666666"], keep=["Oscar Old"])
        # The expiry is journaled like any other (plate only).
        journal = b"".join(open(p, "rb").read() for p in glob.glob(os.path.join(d.data_dir, "journal-*.log")))
        assert b'"type":"vehicle.expired","subjects":["vehicle:OLD 1"]' in journal
        assert b"Olive" not in journal and b"Oscar" not in journal
    finally:
        d.close()


# ---------------------------------------------------------------------------
# Erasure.

def redis_text(rs):
    """Everything Redis holds (every key and value), and its files."""
    with rs.client() as r:
        dump = AuditDump(r, "")
        parts = [json.dumps(sorted(dump.events.items())), json.dumps(dump.lists),
                 json.dumps(sorted(dump.subjects)), json.dumps(dump.stream)]
        keys = r.scan_keys("*")
        parts.append(json.dumps(sorted(keys)))
    for p in files_under(rs.tmp):
        with open(p, "rb") as f:
            parts.append(f.read().decode("latin-1"))
    return "\n".join(parts)


def wait_shipped(c, timeout=25):
    deadline = time.time() + timeout
    while True:
        h = c.ok("health")
        if h["audit"]["pending"] == 0 and h["audit"].get("shipped_lsn") == h["journal"]["lsn"]:
            return h
        assert time.time() < deadline, h
        time.sleep(0.1)


def test_erasure_after_delete_expiry_update_and_purge():
    with RedisServer(appendonly=True) as rs:
        cfg = reg_config(retention_hours=24, erase_within_s=1)
        cfg["audit"] = {"redis": rs.address, "prefix": "parkd:"}
        # Snapshots every few records: they must hold no contact either.
        cfg["journal"] = {"snapshot_every": 5, "snapshot_interval_s": 0}
        port = free_port()
        with Daemon(cfg) as d:
            d.cfg["http_listen"] = "127.0.0.1:%d" % port
            with open(d.path, "w") as f:
                json.dump(d.cfg, f)
            d.stop()
            d.start()
            c = d.client()
            people = {"DEL 1": ("Delia Deleted", "+49 151 1000001"),
                      "EXP 1": ("Edgar Expired", "+49 151 1000002"),
                      "UPD 1": ("Uma Updated", "+49 151 1000003"),
                      "IN 1": ("Ines Inside", "+49 151 1000004"),
                      "KEEP 1": ("Karl Kept", "+49 151 1000005")}
            for plate, (name, phone) in people.items():
                register(c, plate, name, phone)
            c.ok("entry", gate="north", plate="IN 1", **CAR)
            for i in range(8):
                c.ok("entry", gate="north", plate="FILL %d" % i, **CAR)
            assert where(d.data_dir, ["Delia Deleted", "1511000001"])
            # What the other methods show carries no contact.
            assert "Delia" not in json.dumps(c.ok("search", prefix="IN"))
            assert "Ines" not in json.dumps(c.ok("layout"))
            assert "Ines" not in json.dumps(c.ok("vehicle_list"))
            status, body = http_request(port, "/metrics")
            assert status == 200 and "Ines" not in body and "1511000004" not in body

            c.ok("vehicle_delete", plate="DEL 1")
            wait_erased(d, ["Delia Deleted", "1511000001"], keep=["Karl Kept", "1511000005"])

            register(c, "UPD 1", "Uma Renamed", "+49 151 2000003")
            wait_erased(d, ["Uma Updated", "1511000003"], keep=["Uma Renamed", "1512000003"])

            # Retention 0: the records of vehicles outside go, the one inside stays.
            c.ok("retention", set_hours=0)
            wait_erased(d, ["Edgar Expired", "1511000002", "Karl Kept", "1511000005",
                            "Uma Renamed", "1512000003"], keep=["Ines Inside", "1511000004"])
            c.ok("retention", set_hours=24)
            register(c, "KEEP 2", "Kim Kept", "+49 151 1000006")
            assert c.ok("purge", confirm="purge") == {"deleted": 2}
            gone = ["Ines Inside", "1511000004", "Kim Kept", "1511000006"]
            wait_erased(d, gone)

            found = where(d.data_dir, ["snapshot"])
            snaps = [p for p in files_under(d.data_dir) if p.endswith(".snap")]
            assert snaps, "no snapshot was written: %s" % found
            all_needles = [n for v in people.values() for n in (v[0], v[1].replace(" ", "")[1:])]
            all_needles += ["Uma Renamed", "1512000003", "Kim Kept", "1511000006"]
            assert not where(d.data_dir, all_needles)

            # The audit trail in Redis has every event, by plate, and no contact.
            wait_shipped(c)
            hist = c.ok("history", subject="vehicle:DEL 1")["events"]
            assert [e["type"] for e in hist] == ["vehicle.registered", "vehicle.deleted"], hist
            assert all(e["data"] == {"plate": "DEL 1"} for e in hist), hist
            text = redis_text(rs)
            for t in ("vehicle.registered", "vehicle.updated", "vehicle.deleted",
                      "vehicle.expired", "registry.purged", "registry.retention.changed"):
                assert t in text, t
            for n in all_needles:
                assert n not in text, n
            logged = log_text(d)
            for n in all_needles:
                assert n.encode() not in logged, n


def test_rest_survives_kill9_right_after_the_rewrite():
    with Daemon(reg_config(erase_within_s=0)) as d:
        c = d.client()
        want = {}
        for i in range(40):
            plate = "K %02d" % i
            name, phone = "Person %02d Name" % i, "+4915190000%02d" % i
            register(c, plate, name, phone)
            want[plate] = (name, phone)
        c.ok("entry", gate="north", plate="K 07", **CAR)
        # With erase_within_s 0 the rewrite goes with the delete's own batch.
        c.ok("vehicle_delete", plate="K 13")
        del want["K 13"]
        assert not where(d.data_dir, ["Person 13 Name", "+491519000013"])
        # Erased before the delete was answered: on time, whatever it took.
        h = c.ok("health")["registry"]
        assert h["erasure_pending_s"] == 0 and h["erasures_late"] == 0, h
        kill9(d)
        d.start()
        c = d.client()
        assert_error(c.call("vehicle_get", plate="K 13"), "not_found")
        for plate, (name, phone) in want.items():
            g = c.ok("vehicle_get", plate=plate)
            assert (g["contact_name"], g["phone"]) == (name, phone), g
            assert g["inside"] is (plate == "K 07"), g
        # Every record acknowledged before a kill -9 is there after it.
        for i in range(40, 120):
            register(c, "K %03d" % i, "Late %d" % i, "+4915190001%02d" % (i % 100))
        kill9(d)
        d.start()
        c = d.client()
        items, cursor = [], None
        while True:
            page = c.ok("vehicle_list", limit=1000, **({"cursor": cursor} if cursor else {}))
            items += [i["plate"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(items) == 39 + 80, len(items)
        assert c.ok("vehicle_get", plate="K 119")["contact_name"] == "Late 119"
        # The log a crash left is rewritten at start: only the image remains.
        assert os.path.getsize(os.path.join(d.data_dir, "contacts", "contacts.log")) == 0


def test_records_made_while_a_large_image_is_written_follow_it():
    """The image of a rewrite is made and written by a pool job while
    batches go on; a record that comes meanwhile is not in that image, so
    it must not reach the log before the image is in place (putting it in
    place empties the log).  Registrations stream on one connection while
    another deletes (each delete an erasure, so a rewrite of a registry of
    30 000); every acknowledged one survives a kill -9 after the last
    rewrite, and the deleted contacts are on no file."""
    from test_durability import pipeline
    with Daemon(reg_config(erase_within_s=1)) as d:
        c, g = d.client(), d.client()
        big = 30000
        for i in range(0, big, 5000):
            rs = pipeline(c, [("vehicle_register", {
                "plate": "BIG %d" % k, "contact_name": "Big %d" % k,
                "phone": "+4915160%06d" % k}) for k in range(i, i + 5000)], chunk=1000)
            assert all("result" in r for r in rs), rs[0]
        made, deleted, t0 = 0, [], time.time()
        while time.time() < t0 + 3.2:
            if len(deleted) < 3 and time.time() >= t0 + len(deleted):
                c.ok("vehicle_delete", plate="BIG %d" % len(deleted))
                deleted.append(len(deleted))
            rs = pipeline(g, [("vehicle_register", {
                "plate": "NEW %d" % k, "contact_name": "New %d" % k,
                "phone": "+4915170%06d" % k}) for k in range(made, made + 20)])
            assert all("result" in r for r in rs), rs[0]
            made += 20
        wait_erased(d, ["4915160%06d" % k for k in deleted], keep=["4915160%06d" % (big - 1)])
        kill9(d)
        d.start()
        c = d.client()
        for k in deleted:
            assert_error(c.call("vehicle_get", plate="BIG %d" % k), "not_found")
        got = pipeline(c, [("vehicle_get", {"plate": "NEW %d" % k}) for k in range(made)],
                       chunk=1000)
        lost = [k for k, r in enumerate(got) if "result" not in r]
        assert not lost, "%d of %d registrations lost, first NEW %d" % (len(lost), made, lost[0])
        assert all(r["result"]["phone"] == "+4915170%06d" % k for k, r in enumerate(got))
        assert c.ok("vehicle_get", plate="BIG %d" % (big - 1))["contact_name"] == "Big %d" % (big - 1)


def test_metrics_show_registered_vehicles_and_erasures_on_time_or_late():
    """/metrics counts the registered vehicles and says whether erasures
    reach the disk within erase_within_s: one owed shows its age until the
    rewrite takes it; a daemon stopped (SIGSTOP) past erase_within_s with
    one owed counts it late (and logs it); the rewrites' times are there."""
    from test_metrics import scrape, check_hist, with_http
    d, port = with_http(reg_config(erase_within_s=4))
    with d:
        c = d.client()
        for i in range(3):
            register(c, "MT %d" % i, "Metric %d" % i, "+49151810000%d" % i)
        m = scrape(port)
        assert m.get("parkd_registry_vehicles") == 3
        assert m.get("parkd_registry_erasure_pending_seconds") == 0
        assert m.get("parkd_registry_erasure_rewrites_total") == 0
        rewrites = m.get("parkd_registry_store_rewrites_total")

        c.ok("vehicle_delete", plate="MT 0")
        time.sleep(0.4)
        # Both read well before the erase timer (at 2 s) fires.
        h = c.ok("health")["registry"]
        m = scrape(port)
        assert h["vehicles"] == 2 and 0.35 <= h["erasure_pending_s"] < 4, h
        assert m.get("parkd_registry_vehicles") == 2
        assert 0.35 <= m.get("parkd_registry_erasure_pending_seconds") < 4, m.body
        wait_erased(d, ["491518100000"], keep=["491518100002"])
        # The contact leaves the files when the rewrite's image replaces
        # the old one; the daemon counts the erasure done a moment later,
        # when the rewrite's completion reaches its loop.
        def settled():
            m = scrape(port)
            return m if m.get("parkd_registry_erasure_pending_seconds") == 0 else None
        m = until(settled, timeout=2, what="erasure counted done")
        assert m.get("parkd_registry_erasure_pending_seconds") == 0
        assert m.get("parkd_registry_erasure_rewrites_total") == 1
        assert m.get("parkd_registry_erasure_late_total") == 0
        # The erase timer fires at half of erase_within_s.
        assert 1.9 <= m.get("parkd_registry_erasure_last_seconds") < 4
        assert m.get("parkd_registry_store_rewrites_total") == rewrites + 1
        assert m.get("parkd_registry_store_image_bytes") > 0
        for name in ("parkd_registry_store_copy_seconds", "parkd_registry_store_rewrite_seconds"):
            _, _, count = check_hist(m, name)
            assert count >= 1, name

        c.ok("vehicle_delete", plate="MT 1")
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(4.5)
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        wait_erased(d, ["491518100001"], keep=["491518100002"])
        m = scrape(port)
        assert m.get("parkd_registry_erasure_rewrites_total") == 2
        assert m.get("parkd_registry_erasure_late_total") == 1
        assert m.get("parkd_registry_erasure_last_seconds") > 4
        h = c.ok("health")["registry"]
        assert h == {"vehicles": 1, "erasure_pending_s": 0, "erasures_late": 1}, h
        assert b"an erasure reached the disk late" in log_text(d)


def test_disk_full_keeps_what_was_acknowledged_and_erases_after():
    """Registrations while the file system fills: each is acknowledged or
    answered unavailable; after space is back, and after restarts, exactly
    the acknowledged ones are there, and an erasure still reaches the disk."""
    from test_durability import reason, restart
    with small_tmpfs("test_disk_full_keeps_what_was_acknowledged_and_erases_after") as mnt:
        if mnt is None:
            return
        d = None
        try:
            d = Daemon(reg_config(erase_within_s=0), data_dir=os.path.join(mnt, "data"))
            d.start()
            c = d.client()
            acked, refused = {}, []

            def reg(plate):
                name = "Full Name %s %s" % (plate, "\u00e9" * 80)
                phone = "+49151%07d" % (len(acked) + len(refused))
                resp = c.call("vehicle_register", plate=plate, contact_name=name, phone=phone)
                if "result" in resp:
                    acked[plate] = (name, phone)
                    return True
                assert reason(resp) == "unavailable", resp
                refused.append(plate)
                return False

            for i in range(5):
                assert reg("OK %d" % i)
            filler = os.path.join(mnt, "filler")
            fill_disk(filler)
            i = until_refused(lambda i: reg("FULL %d" % i), 2000, "the store")
            t_end = time.time() + 2
            while time.time() < t_end:
                i += 1
                reg("FULL %d" % i)
                time.sleep(0.1)
            os.unlink(filler)
            deadline = time.time() + 15
            k = 0
            while not reg("AFTER %d" % k):
                k += 1
                assert time.time() < deadline, "changes still refused after space was freed"
                time.sleep(0.2)

            def check(c):
                for p, (name, phone) in acked.items():
                    g = c.ok("vehicle_get", plate=p)
                    assert (g["contact_name"], g["phone"]) == (name, phone), (p, g)
                for p in refused:
                    assert reason(c.call("vehicle_get", plate=p)) == "not_found", \
                        "%s was answered unavailable but is registered" % p

            check(c)
            victim = sorted(acked)[0]
            c.ok("vehicle_delete", plate=victim)
            gone_name, gone_phone = acked.pop(victim)
            wait_erased(d, [gone_name, gone_phone[1:]])
            c.close()
            for sig in (signal.SIGTERM, signal.SIGKILL):
                restart(d, sig)
                c = d.client()
                check(c)
                c.close()
            assert not where(d.data_dir, [gone_name, gone_phone[1:]])
        finally:
            if d is not None:
                d.close()


test_disk_full_keeps_what_was_acknowledged_and_erases_after.timeout = 120


def test_disk_full_while_the_image_is_written_fails_then_erases():
    """The image of a rewrite is written off the loop while changes go on;
    a disk that fills then (room for the changes' batches, none for the
    image) fails the journal as a failed batch does: changes are refused
    with "unavailable", the reason names the image. Once there is room
    again the journal recovers, the erasure reaches the disk, and every
    acknowledged registration survives a kill -9."""
    from test_durability import pipeline, reason, restart
    with small_tmpfs("test_disk_full_while_the_image_is_written_fails_then_erases",
                     size="16m") as mnt:
        if mnt is None:
            return
        d = None
        try:
            d = Daemon(reg_config(erase_within_s=1), data_dir=os.path.join(mnt, "data"))
            d.start()
            c = d.client()
            n = 12000
            rs = pipeline(c, [("vehicle_register", {
                "plate": "DF %d" % k, "contact_name": "Disk Full %d" % k,
                "phone": "+4915190%06d" % k}) for k in range(n)], chunk=1000)
            assert all("result" in r for r in rs), rs[0]
            time.sleep(1.5)                 # the registrations' own rewrites, if any
            # Room for small batches, not for the image (over a megabyte).
            room = os.path.join(mnt, "room")
            with open(room, "wb") as f:
                f.write(b"\0" * 256 * 1024)
            filler = os.path.join(mnt, "filler")
            fill_disk(filler)
            os.unlink(room)
            c.ok("vehicle_delete", plate="DF 0")
            acked, k = [], 0
            deadline = time.time() + 10
            while True:
                resp = c.call("vehicle_register", plate="LATE %d" % k,
                              contact_name="Late %d" % k, phone="+4915191%06d" % k)
                if "error" in resp:
                    assert reason(resp) == "unavailable", resp
                    break
                acked.append(k)
                k += 1
                assert time.time() < deadline, "the image's write never failed"
                time.sleep(0.05)
            assert b'reason="contacts image write: No space left on device"' in log_text(d) or \
                b'reason="contacts image fdatasync: No space left on device"' in log_text(d), \
                log_text(d)[-2000:]
            os.unlink(filler)
            deadline = time.time() + 15
            while "error" in c.call("vehicle_register", plate="BACK 0", contact_name="Back",
                                    phone="+491519200000"):
                assert time.time() < deadline, "changes still refused after space was freed"
                time.sleep(0.2)
            wait_erased(d, ["4915190000000"], keep=["4915190%06d" % (n - 1)])
            restart(d, signal.SIGKILL)
            c = d.client()
            assert_error(c.call("vehicle_get", plate="DF 0"), "not_found")
            for k in acked:
                assert c.ok("vehicle_get", plate="LATE %d" % k)["contact_name"] == "Late %d" % k
            assert c.ok("vehicle_get", plate="BACK 0")["phone"] == "+491519200000"
            assert c.ok("vehicle_get", plate="DF %d" % (n - 1))["contact_name"] == \
                "Disk Full %d" % (n - 1)
        finally:
            if d is not None:
                d.close()


test_disk_full_while_the_image_is_written_fails_then_erases.timeout = 120
