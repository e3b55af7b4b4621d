#!/usr/bin/env python3
"""Gates under subscribers (registry.md, "Scale"): 1 000 occupancy and 100
events subscribers while gates make 5 000 changes a second.

Starts parkd (fsync, a garage with room to spare, the rate limit off,
enough clients per address), then runs build/bench/loadgen paced at
RATE entry+exit pairs a second (2 500 pairs = 5 000 changes): REPEAT runs
without subscribers and REPEAT runs with build/bench/subload holding a
fresh set of them, interleaved (without/with, with/without, ...) so that
the machine's drift over the minutes falls on both kinds alike.  Prints
every run and the ratio of the median p99s (the contract's goal: at most
2; with fsync one run's p99 alone varies by 2x on this machine), and
checks, run by run, that every events subscriber received exactly one
notification per journaled change (the journal's LSNs before and after),
that every occupancy subscriber received notifications and last saw the
garage empty again, and that none was dropped.

Snapshots: by default one every run's worth of records (2 x RATE x
(SECONDS + 2 s warm-up)), so that each run, with or without subscribers,
has one snapshot in it (a fork and a large write that move a run's p99 by
itself); --snapshot-every N sets another cadence.

The subscribers' process runs at nice 19 by default: in a deployment the
screens and kiosks that subscribe read on their own machines; here their
reading shares the two cores with the gates' generator and the daemon,
and would otherwise be measured as the daemon's latency (--nice 0 to
compare).

usage: tests/bench/subscribers.py [BUILD] [--rate 2500] [--seconds 10]
       [--occupancy 1000] [--events 100] [--conns 16] [--repeat 3]
       [--nice 19] [--snapshot-every N] [--pin]
Not part of make test: it takes about two minutes and wants the machine
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


def metrics_text(http_port):
    """The daemon's /metrics, headers and all."""
    with socket.create_connection(("127.0.0.1", http_port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        body = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    return body.decode()


def metric(http_port, name):
    m = re.search(r"^" + name + r" (\S+)$", metrics_text(http_port), re.M)
    return float(m.group(1)) if m else None


def histograms(http_port):
    """The daemon's request-duration (entry and exit together) and fsync
    histograms: {name: ({le: cumulative count}, sum)}."""
    out = {"request": ({}, 0.0), "fsync": ({}, 0.0)}
    for line in metrics_text(http_port).splitlines():
        m = re.match(r'parkd_request_duration_seconds_(bucket|sum)\{method="(entry|exit)"'
                     r'(?:,le="([^"]+)")?\} (\S+)$', line)
        n = re.match(r'parkd_journal_fsync_seconds_(bucket|sum)(?:\{le="([^"]+)"\})? (\S+)$', line)
        if m:
            key, kind, le, v = "request", m.group(1), m.group(3), float(m.group(4))
        elif n:
            key, kind, le, v = "fsync", n.group(1), n.group(2), float(n.group(3))
        else:
            continue
        buckets, total = out[key]
        if kind == "sum":
            out[key] = (buckets, total + v)
        else:
            buckets[le] = buckets.get(le, 0) + v
    return out


def over(h0, h1, key, le):
    """Of what the histogram key counted between h0 and h1: how many, and
    the share above le seconds."""
    b0, b1 = h0[key][0], h1[key][0]
    n = b1.get("+Inf", 0) - b0.get("+Inf", 0)
    under = b1.get(le, 0) - b0.get(le, 0)
    return n, (n - under) / n if n else 0.0


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
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each kind; the median p99 of each is compared "
                         "(fsync makes a single run's p99 vary by 2x here)")
    ap.add_argument("--snapshot-every", type=int, default=0,
                    help="journal.snapshot_every (0: one run's worth of records, "
                         "so that every run has one snapshot in it)")
    ap.add_argument("--pin", action="store_true",
                    help="parkd on CPU 0, the generator and the subscribers on CPU 1 "
                         "(taskset): the daemon's core shared with no reader")
    ap.add_argument("--nice", type=int, default=19,
                    help="niceness of the subscribers' process (0: as the gates)")
    a = ap.parse_args()
    if not a.snapshot_every:
        a.snapshot_every = int(2 * a.rate * (a.seconds + 2))
    srv_pin = ["taskset", "-c", "0"] if a.pin else []
    cli_pin = ["taskset", "-c", "1"] if a.pin else []
    sub_nice = ["nice", "-n", str(a.nice)] if a.nice else []
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
    cfg.setdefault("journal", {})["snapshot_every"] = a.snapshot_every
    cfg.setdefault("limits", {}).update({"rate_per_s": 0, "max_clients_per_address": 4000})
    cfg["facility"]["rows"].append({"level": 2, "zone": "BENCH", "type": "regular",
                                    "count": 2000, "x": 5, "y": 80, "dx": 3, "dy": 0})
    path = os.path.join(tmp, "parkd.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    log = open(os.path.join(tmp, "parkd.log"), "wb")
    daemon = subprocess.Popen(srv_pin + [parkd, "-c", path], stdout=log, stderr=log)
    held = []		# subload processes, killed on the way out
    try:
        for _ in range(200):
            try:
                ask(port, "ping")
                break
            except OSError:
                time.sleep(0.05)
        lg = cli_pin + [loadgen, "-p", str(port), "-c", str(a.conns), "-d", str(a.seconds),
              "-w", "2", "-r", str(2 * a.rate)]  # -r counts requests
        print("parkd subscriber benchmark: %d occupancy + %d events subscribers, "
              "%.0f pairs/s (%.0f changes/s) paced over %d gate connections, %.0f s measured"
              % (a.occupancy, a.events, a.rate, 2 * a.rate, a.conns, a.seconds))
        print("  subscribers' process niceness: %d; snapshot every %s records; %s"
              % (a.nice, a.snapshot_every,
                 "parkd on CPU 0, generator and subscribers on CPU 1" if a.pin else "unpinned"))
        print("  load average before: %s" % open("/proc/loadavg").read().split()[:3])

        def run(label):
            h0 = histograms(http_port)
            r = result_line(subprocess.run(lg, capture_output=True, text=True).stdout)
            h1 = histograms(http_port)
            print("  %s: %s pairs/s, p50 %s us, p99 %s us, p99.9 %s us, errors %s"
                  % (label, r["pairs_per_s"], r["p50_us"], r["p99_us"], r["p999_us"],
                     r["errors"]))
            # Where the time went, by the daemon's own histograms (the
            # warm-up included): replies over 5 ms from line in to reply
            # out, and the fsyncs of that while.
            nr, r5 = over(h0, h1, "request", "0.005")
            nf, f5 = over(h0, h1, "fsync", "0.005")
            fs = (h1["fsync"][1] - h0["fsync"][1]) / nf if nf else 0.0
            print("    daemon: %.2f%% of %d replies over 5 ms; %d fsyncs, mean %.2f ms, "
                  "%.2f%% over 5 ms" % (100 * r5, nr, nf, 1000 * fs, 100 * f5))
            return r

        def run_with():
            """One run with a fresh set of subscribers; checks what they got."""
            subs = subprocess.Popen(cli_pin + sub_nice + [subload, "-p", str(port), "-o", str(a.occupancy),
                                     "-e", str(a.events), "-t", "2"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            held.append(subs)
            ready = subs.stdout.readline()
            if not ready.startswith("READY"):
                raise RuntimeError("subload: " + ready + subs.stdout.read())
            lsn0 = lsn_quiet(port)
            r = run("with subscribers   ")
            lsn1 = lsn_quiet(port)
            time.sleep(1.0)		# the last occupancy notification (<= 10 a second)
            subs.terminate()
            rs = result_line(subs.communicate(timeout=30)[0])
            r["changes"] = lsn1 - lsn0
            r["subs"] = rs
            print("    %d changes; events subscribers got %s..%s each; occupancy %s..%s each, "
                  "%s of %d last saw the garage empty; connections lost %s"
                  % (r["changes"], rs["ev_min"], rs["ev_max"], rs["occ_min"], rs["occ_max"],
                     rs["occ_idle_last"], a.occupancy, rs["lost"]))
            return r

        def median(got):
            got = sorted(got, key=lambda r: float(r["p99_us"]))
            return got[len(got) // 2]

        # Interleaved, the order flipped every pair (A B, B A, A B, ...), so
        # that the machine's drift over the minutes of the run falls on both.
        base, loaded = [], []
        for i in range(a.repeat):
            if i % 2 == 0:
                base.append(run("without subscribers"))
                loaded.append(run_with())
            else:
                loaded.append(run_with())
                base.append(run("without subscribers"))
        rb, rl = median(base), median(loaded)
        dropped = metric(http_port, "parkd_subscribers_dropped_total")
        ratio = float(rl["p99_us"]) / max(float(rb["p99_us"]), 1.0)
        print("  median p99 with / without: %s / %s us = %.2f (goal: at most 2)"
              % (rl["p99_us"], rb["p99_us"], ratio))
        delivered = all(int(r["subs"]["ev_min"]) == r["changes"] == int(r["subs"]["ev_max"]) and
                        int(r["subs"]["occ_min"]) > 0 and
                        int(r["subs"]["occ_idle_last"]) == a.occupancy and
                        int(r["subs"]["lost"]) == 0 for r in loaded)
        events = sum(int(r["subs"]["ev_total"]) for r in loaded)
        print("  events notifications delivered: %d (%s)" % (events, "every one" if delivered
                                                            else "NOT ALL"))
        print("  subscribers dropped: %s" % dropped)
        print("  snapshots during the whole run: %s"
              % metric(http_port, "parkd_journal_snapshots_total"))
        errors = sum(int(r["errors"]) for r in base + loaded)
        ok = delivered and (dropped or 0) == 0 and errors == 0
        print("RESULT p99_without_us=%s p99_with_us=%s ratio=%.2f events=%d dropped=%s "
              "errors=%d delivered=%s"
              % (rb["p99_us"], rl["p99_us"], ratio, events, dropped, errors,
                 "all" if ok else "NOT ALL"))
        return 0 if ok else 1
    finally:
        for p in held:
            if p.poll() is None:
                p.kill()
        daemon.terminate()
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
