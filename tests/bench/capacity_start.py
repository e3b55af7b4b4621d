#!/usr/bin/env python3
"""capacity_start.py - start-up of parkd with many reservations booked.

    capacity_start.py [BUILD_DIR] [-n RESERVATIONS] [-s SPOTS]

Starts BUILD_DIR/parkd (default build) on a facility of SPOTS regular spots
(default 1 000 000, rows of 1 000 on 4 levels), books RESERVATIONS
reservations (default 100 000) over 8 pipelined connections (windows spread
over 80 days, max_fraction 1 so none conflicts), then measures:

  - a clean restart (SIGTERM: a final snapshot), time until `status` answers;
  - a restart after kill -9 with the snapshot interval off, so the journal
    of every reservation is replayed, time until `status` answers.

Durability "none" while filling (the fill is not what is measured).  Prints
one line per measurement; exit status 0 when every reply was a result.
Standard library only; uses tests/integration/harness.py to run parkd.
"""
import argparse
import json
import os
import selectors
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))


def fmt(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def fill(port, n, conns=8, window=256):
    """n reserve requests, pipelined; returns the number of errors."""
    now = int(time.time())
    sel = selectors.DefaultSelector()
    per = [n // conns + (1 if i < n % conns else 0) for i in range(conns)]
    state = []
    for i in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        c = {"sock": s, "todo": per[i], "sent": 0, "got": 0, "tail": b"", "out": b"", "i": i}
        state.append(c)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    errors, live = 0, conns
    while live:
        for key, ev in sel.select(timeout=60):
            c = key.data
            if ev & selectors.EVENT_WRITE:
                while c["sent"] < c["todo"] and c["sent"] - c["got"] < window and len(c["out"]) < 65536:
                    k = c["i"] * 1000000 + c["sent"]
                    start = now + 86400 + (k * 7919) % (80 * 86400)
                    req = {"id": k, "method": "reserve", "params": {
                        "plate": "R%d" % k, "class": "car", "from": fmt(start),
                        "to": fmt(start + 3600 + (k % 71) * 3600)}}
                    c["out"] += (json.dumps(req) + "\n").encode()
                    c["sent"] += 1
                if c["out"]:
                    try:
                        w = c["sock"].send(c["out"])
                        c["out"] = c["out"][w:]
                    except BlockingIOError:
                        pass
            if ev & selectors.EVENT_READ:
                data = c["sock"].recv(1 << 20)
                if not data:
                    raise SystemExit("connection closed")
                lines = (c["tail"] + data).split(b"\n")
                c["tail"] = lines.pop()
                for line in lines:
                    c["got"] += 1
                    if b'"error"' in line:
                        errors += 1
                        if errors == 1:
                            print("first error:", line.decode()[:300])
                if c["got"] == c["todo"]:
                    sel.unregister(c["sock"])
                    c["sock"].close()
                    live -= 1
    return errors


def time_to_status(d):
    t0 = time.time()
    d.start(wait=False)
    while True:
        try:
            c = d.client(timeout=60)
            st = c.ok("status")
            c.close()
            return time.time() - t0, st
        except OSError:
            if d.proc.poll() is not None:
                raise SystemExit("parkd exited:\n" + d.logtext()[-3000:])
            time.sleep(0.01)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("-n", "--reservations", type=int, default=100000)
    ap.add_argument("-s", "--spots", type=int, default=1000000)
    a = ap.parse_args()
    os.environ["PARKD"] = os.path.join(a.build, "parkd")
    import harness
    rows = [{"level": r % 4, "zone": "Z%d" % r, "type": "regular", "count": 1000,
             "x": 0, "y": 6 * (r // 4), "dx": 2.5, "dy": 0} for r in range(a.spots // 1000)]
    cfg = harness.small_config(rows, durability="none", limits={"rate_per_s": 0},
                               journal={"snapshot_every": 1000000000, "snapshot_interval_s": 0})
    cfg["reservations"] = {"max_fraction": 1, "hold_before_s": 900, "no_show_after_s": 1800,
                           "max_hours": 72, "horizon_days": 90}
    d = harness.Daemon(cfg)
    try:
        t0 = time.time()
        d.start()
        errors = fill(d.port, a.reservations)
        fill_s = time.time() - t0
        st = d.client().ok("status")
        assert st["reservations_active"] == a.reservations, st
        print("filled %d reservations in %.1f s (%d errors)" % (a.reservations, fill_s, errors))
        # kill -9: the whole journal is replayed (no snapshot was taken).
        assert d.stop(signal.SIGKILL) == -9
        secs, st = time_to_status(d)
        assert st["reservations_active"] == a.reservations, st
        print("start after kill -9, journal of %d reservations, %d spots: %.2f s to the first status, %d MB resident"
              % (a.reservations, a.spots, secs, d.rss_kb() // 1024))
        # SIGTERM writes a snapshot; the next start loads it.
        assert d.stop(signal.SIGTERM) == 0
        secs, st = time_to_status(d)
        assert st["reservations_active"] == a.reservations, st
        print("start from a snapshot of %d reservations, %d spots: %.2f s to the first status, %d MB resident"
              % (a.reservations, a.spots, secs, d.rss_kb() // 1024))
        return 1 if errors else 0
    finally:
        d.close()


if __name__ == "__main__":
    sys.exit(main())
