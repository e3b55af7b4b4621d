#!/usr/bin/env python3
"""Gates under subscribers (registry.md, "Scale"): 1 000 occupancy and 100
events subscribers while gates make 5 000 changes a second.

Starts parkd (fsync, a garage with room to spare, the rate limit off,
enough clients per address), then runs build/bench/loadgen paced at
RATE entry+exit pairs a second (2 500 pairs = 5 000 changes) twice: without
subscribers, and with build/bench/subload holding the subscribers.  Prints
the gates' p50/p99 both times and their ratio (the contract's goal: at most
2), and checks that every events subscriber received exactly one
notification per journaled change of the run (the journal's LSNs before
and after), that every occupancy subscriber received notifications and
last saw the garage empty again, and that none was dropped.

usage: tests/bench/subscribers.py [BUILD] [--rate 2500] [--seconds 10]
       [--occupancy 1000] [--events 100] [--conns 16]
Not part of make test: it takes about half a minute and wants the machine
to itself.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(port, method):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            buf += chunk
    return json.loads(buf.split(b"\n", 1)[0])["result"]


def metric(http_port, name):
    with socket.create_connection(("127.0.0.1", http_port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        body = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    m = re.search(rb"^" + name.encode() + rb" (\S+)$", body, re.M)
    return float(m.group(1)) if m else None


def result_line(text):
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return dict(kv.split("=", 1) for kv in line[7:].split())
    raise RuntimeError("no RESULT line in:\n" + text)


def lsn_quiet(port):
    """The journal's LSN once it stopped moving (everything durable)."""
    last = None
    while True:
        j = ask(port, "health")["journal"]
        if j["lsn"] == last and j["durable_lsn"] == j["lsn"]:
            return j["lsn"]
        last = j["lsn"]
        time.sleep(0.3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--rate", type=float, default=2500, help="entry+exit pairs a second")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--occupancy", type=int, default=1000)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--conns", type=int, default=16)
    a = ap.parse_args()
    build = os.path.join(ROOT, a.build)
    parkd, loadgen, subload = (os.path.join(build, p) for p in
                               ("parkd", "bench/loadgen", "bench/subload"))
    for exe in (parkd, loadgen, subload):
        if not os.access(exe, os.X_OK):
            sys.exit("missing %s: make all bench-bins" % exe)
    tmp = tempfile.mkdtemp(prefix="parkd-subs-")
    port, http_port = free_port(), free_port()
    with open(os.path.join(ROOT, "conf", "parkd.json")) as f:
        cfg = json.load(f)
    cfg.update({"listen": "127.0.0.1:%d" % port, "http_listen": "127.0.0.1:%d" % http_port,
                "data_dir": os.path.join(tmp, "data"), "durability": "fsync"})
    cfg["audit"] = {"redis": None}
    cfg.setdefault("limits", {}).update({"rate_per_s": 0, "max_clients_per_address": 4000})
    cfg["facility"]["rows"].append({"level": 2, "zone": "BENCH", "type": "regular",
                                    "count": 2000, "x": 5, "y": 80, "dx": 3, "dy": 0})
    path = os.path.join(tmp, "parkd.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    log = open(os.path.join(tmp, "parkd.log"), "wb")
    daemon = subprocess.Popen([parkd, "-c", path], stdout=log, stderr=log)
    subs = None
    try:
        for _ in range(200):
            try:
                ask(port, "ping")
                break
            except OSError:
                time.sleep(0.05)
        lg = [loadgen, "-p", str(port), "-c", str(a.conns), "-d", str(a.seconds),
              "-w", "2", "-r", str(2 * a.rate)]  # -r counts requests
        print("parkd subscriber benchmark: %d occupancy + %d events subscribers, "
              "%.0f pairs/s (%.0f changes/s) paced over %d gate connections, %.0f s measured"
              % (a.occupancy, a.events, a.rate, 2 * a.rate, a.conns, a.seconds))
        print("  load average before: %s" % open("/proc/loadavg").read().split()[:3])

        base = subprocess.run(lg, capture_output=True, text=True)
        rb = result_line(base.stdout)
        print("  without subscribers: %s pairs/s, p50 %s us, p99 %s us, p99.9 %s us, errors %s"
              % (rb["pairs_per_s"], rb["p50_us"], rb["p99_us"], rb["p999_us"], rb["errors"]))

        subs = subprocess.Popen([subload, "-p", str(port), "-o", str(a.occupancy),
                                 "-e", str(a.events), "-t", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = subs.stdout.readline()
        if not ready.startswith("READY"):
            raise RuntimeError("subload: " + ready + subs.stdout.read())
        lsn0 = lsn_quiet(port)
        loaded = subprocess.run(lg, capture_output=True, text=True)
        rl = result_line(loaded.stdout)
        lsn1 = lsn_quiet(port)
        time.sleep(1.0)		# the last occupancy notification (<= 10 a second)
        subs.terminate()
        out = subs.communicate(timeout=30)[0]
        rs = result_line(out)
        dropped = metric(http_port, "parkd_subscribers_dropped_total")
        print("  with subscribers:    %s pairs/s, p50 %s us, p99 %s us, p99.9 %s us, errors %s"
              % (rl["pairs_per_s"], rl["p50_us"], rl["p99_us"], rl["p999_us"], rl["errors"]))
        ratio = float(rl["p99_us"]) / max(float(rb["p99_us"]), 1.0)
        print("  p99 with / without: %.2f (goal: at most 2)" % ratio)
        changes = lsn1 - lsn0
        print("  journaled changes during the run: %d" % changes)
        print("  events subscribers: %s connections, each got %s..%s notifications (want %d each), %s in all"
              % (rs["ev_conns"], rs["ev_min"], rs["ev_max"], changes, rs["ev_total"]))
        print("  occupancy subscribers: %s connections, each got %s..%s notifications, "
              "%s last saw the garage empty" % (rs["occ_conns"], rs["occ_min"], rs["occ_max"],
                                                 rs["occ_idle_last"]))
        print("  subscribers dropped: %s, connections lost: %s" % (dropped, rs["lost"]))
        ok = (int(rs["ev_min"]) == changes == int(rs["ev_max"]) and
              int(rs["occ_min"]) > 0 and int(rs["occ_idle_last"]) == a.occupancy and
              int(rs["lost"]) == 0 and (dropped or 0) == 0 and
              rb["errors"] == "0" and rl["errors"] == "0")
        print("RESULT p99_without_us=%s p99_with_us=%s ratio=%.2f changes=%d ev_min=%s ev_max=%s "
              "occ_min=%s occ_idle_last=%s dropped=%s delivered=%s"
              % (rb["p99_us"], rl["p99_us"], ratio, changes, rs["ev_min"], rs["ev_max"],
                 rs["occ_min"], rs["occ_idle_last"], dropped, "all" if ok else "NOT ALL"))
        return 0 if ok else 1
    finally:
        if subs is not None and subs.poll() is None:
            subs.kill()
        daemon.terminate()
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
