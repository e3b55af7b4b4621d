#!/usr/bin/env python3
"""What a standby costs and how fast it takes over (standby.md, issue 16).

usage: tests/bench/standby.py BUILD_DIR      (make bench-standby)

1. Gate load: BUILD_DIR/bench/loadgen (closed loop, entry+exit pairs) at
   1, 8 and 64 connections against a primary alone, with an async standby
   and with a sync standby (both daemons and the load generator on this
   machine, each daemon with its own data directory on TMPDIR); then the
   same with the standby's data directory on /dev/shm (when there is one),
   whose fsync costs nothing: what the stream itself costs the primary,
   without a second daemon's disk writes on the same disk.
2. Catch-up: a primary with CATCHUP_CHANGES journaled changes (its first
   segments pruned, so a snapshot goes first), then an empty standby
   started: records per second until it holds all of them durably.
3. Takeover: TAKEOVERS times, a pair with some changes, the primary killed
   with SIGKILL, then `promote` on the standby and one `entry`: the time
   from sending promote to the entry's reply.

Environment: BENCH_SECONDS (5), BENCH_WARMUP (1), BENCH_CONNS ("1 8 64"),
BENCH_SPOTS (5000), DURABILITY (fsync), CATCHUP_CHANGES (100000),
TAKEOVERS (10), BENCH_PARTS ("load catchup takeover": which to run),
TMPDIR (put it on the disk you mean to measure).
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOKEN = "bench-repl-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Line:
    """One connection, one JSON-RPC line at a time."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.s.sendall((json.dumps({"id": self.n, "method": method, "params": params}) + "\n").encode())
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def pipeline(self, calls):
        out = []
        for i in range(0, len(calls), 1000):
            part = calls[i:i + 1000]
            text = ""
            for m, p in part:
                self.n += 1
                text += json.dumps({"id": self.n, "method": m, "params": p}) + "\n"
            self.s.sendall(text.encode())
            for _ in part:
                while b"\n" not in self.buf:
                    self.buf += self.s.recv(1 << 20)
                line, self.buf = self.buf.split(b"\n", 1)
                out.append(json.loads(line))
        return out

    def close(self):
        self.s.close()


class Node:
    def __init__(self, build, tmp, name, primary=None, mode="async", snapshot_every=0,
                 data_parent=None):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        data = os.path.join(data_parent or self.dir, name + "-data")
        self.port, self.rport = free_port(), free_port()
        cfgpath = os.path.join(self.dir, "parkd.json")
        subprocess.run([sys.executable, os.path.join(HERE, "benchconfig.py"),
                        os.path.join(ROOT, "conf", "parkd.json"), cfgpath,
                        data, os.environ.get("DURABILITY", "fsync"),
                        os.environ.get("BENCH_SPOTS", "5000")] +
                       (["--snapshot-every", str(snapshot_every)] if snapshot_every else []),
                       check=True)
        with open(cfgpath) as f:
            cfg = json.load(f)
        cfg["listen"] = "127.0.0.1:%d" % self.port
        cfg["replication"] = {"listen": "127.0.0.1:%d" % self.rport, "token": TOKEN,
                              "primary": "127.0.0.1:%d" % primary.rport if primary else None,
                              "mode": mode, "sync_timeout_ms": 5000}
        with open(cfgpath, "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(self.dir, "parkd.log"), "ab")
        self.proc = subprocess.Popen([os.path.join(sys.argv[1], "parkd"), "-c", cfgpath],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("parkd did not start: see " + self.dir)
                time.sleep(0.02)

    def health(self):
        c = Line(self.port)
        try:
            return c.call("health")["result"]
        finally:
            c.close()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(30)
        self.log.close()


def wait_for(pred, timeout=120):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.01)


def streaming(p):
    wait_for(lambda: any(s["state"] == "streaming" for s in p.health()["replication"]["standbys"]))


def caught_up(p, s):
    def check():
        pd = p.health()["journal"]["durable_lsn"]
        sj = s.health()["journal"]
        return sj["durable_lsn"] == sj["lsn"] == pd
    wait_for(check, 600)


def loadgen(build, port, conns):
    secs, warm = os.environ.get("BENCH_SECONDS", "5"), os.environ.get("BENCH_WARMUP", "1")
    out = subprocess.run([os.path.join(build, "bench", "loadgen"), "-p", str(port), "-c", str(conns),
                          "-d", secs, "-w", warm], capture_output=True, text=True)
    res = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    if out.returncode != 0 or not res:
        raise RuntimeError("loadgen failed:\n" + out.stdout + out.stderr)
    return dict(kv.split("=", 1) for kv in res[0].split()[1:])


def load_runs(build, tmp):
    conns = [int(c) for c in os.environ.get("BENCH_CONNS", "1 8 64").split()]
    setups = ["alone", "async", "sync"]
    shm = None
    if os.path.isdir("/dev/shm"):
        shm = tempfile.mkdtemp(prefix="parkd-standby-bench-", dir="/dev/shm")
        setups += ["async-shm", "sync-shm"]
    rows = []
    try:
        for setup in setups:
            rows += load_setup(build, tmp, setup, conns, shm)
    finally:
        if shm:
            shutil.rmtree(shm, ignore_errors=True)
    return rows


def load_setup(build, tmp, setup, conns, shm):
    rows = []
    p = Node(build, tmp, setup + "-p", mode="sync" if setup.startswith("sync") else "async")
    s = None
    try:
        if setup != "alone":
            s = Node(build, tmp, setup + "-s", primary=p,
                     data_parent=shm if setup.endswith("-shm") else None)
            streaming(p)
        for c in conns:
            r = loadgen(build, p.port, c)
            rows.append((setup, c, r))
            print("%-9s %4d conns: %8s pairs/s  p50 %6s us  p99 %6s us  errors %s" % (
                setup, c, r["pairs_per_s"], r["p50_us"], r["p99_us"], r["errors"]), flush=True)
        if s is not None:
            caught_up(p, s)
    finally:
        for n in (s, p):
            if n is not None:
                n.stop()
    return rows


def catch_up(build, tmp):
    n = int(os.environ.get("CATCHUP_CHANGES", "100000"))
    p = Node(build, tmp, "catchup-p", snapshot_every=n // 5)
    try:
        c = Line(p.port)
        calls = []
        for i in range(n // 2):
            calls.append(("entry", {"gate": "north", "plate": "C%d" % i, "class": "car"}))
            calls.append(("exit", {"gate": "south", "plate": "C%d" % i}))
        rs = c.pipeline(calls)
        c.close()
        assert all("result" in r for r in rs)
        last = p.health()["journal"]["durable_lsn"]
        t0 = time.time()
        s = Node(build, tmp, "catchup-s", primary=p)
        try:
            caught_up(p, s)
            took = time.time() - t0
            snaps = s.health()["replication"]["snapshots"]
        finally:
            s.stop()
    finally:
        p.stop()
    print("catch-up: %d records in %.2f s = %.0f records/s (%s; the standby's start-up "
          "included)" % (last, took, last / took, "a snapshot first" if snaps else
                         "all from the journal: its segments are not rotated before 64 MiB"),
          flush=True)
    return last, took


def takeovers(build, tmp):
    k = int(os.environ.get("TAKEOVERS", "10"))
    times, prom = [], []
    for i in range(k):
        p = Node(build, tmp, "take%d-p" % i)
        s = Node(build, tmp, "take%d-s" % i, primary=p)
        try:
            streaming(p)
            c = Line(p.port)
            c.pipeline([("entry", {"gate": "north", "plate": "T%d" % j, "class": "car"})
                        for j in range(200)])
            c.close()
            caught_up(p, s)
            p.stop(signal.SIGKILL)
            c = Line(s.port)
            t0 = time.perf_counter()
            r = c.call("promote")
            t1 = time.perf_counter()
            e = c.call("entry", gate="north", plate="AFTER", **{"class": "car"})
            t2 = time.perf_counter()
            c.close()
            assert "result" in r and "result" in e, (r, e)
            prom.append((t1 - t0) * 1000)
            times.append((t2 - t0) * 1000)
        finally:
            for n in (s, p):
                n.stop()
    print("takeover (%d times): promote answered in %.1f ms median (max %.1f); first change "
          "accepted %.1f ms median (min %.1f, max %.1f) after promote was sent" % (
              k, statistics.median(prom), max(prom), statistics.median(times), min(times),
              max(times)), flush=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="parkd-standby-bench-")
    try:
        print("load average before: %s; %s CPUs" % (
            open("/proc/loadavg").read().split()[:3], os.cpu_count()), flush=True)
        parts = os.environ.get("BENCH_PARTS", "load catchup takeover").split()
        if "load" in parts:
            load_runs(build, tmp)
        if "catchup" in parts:
            catch_up(build, tmp)
        if "takeover" in parts:
            takeovers(build, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
