#!/usr/bin/env python3
"""pyloadgen.py - a small closed-loop load generator for parkd (the fallback
of tests/bench/durability.sh when BUILD_DIR/bench/loadgen is not built).

    pyloadgen.py -p PORT [-c CONNECTIONS] [-d SECONDS] [-w WARMUP] [-P PIPELINE]

Like loadgen: every connection runs `entry` of a fresh plate (class car, gate
north) then `exit` of it (gate south) as JSON-RPC lines, with up to PIPELINE
requests in flight.  Latency is send -> reply line.  Only replies inside the
measured window count; errors count over the whole run.  One Python thread
drives every connection, so above a few thousand requests a second the
numbers say more about Python than about parkd.  Prints

    RESULT conns=.. threads=1 pipeline=.. seconds=.. pairs=.. pairs_per_s=..
           requests=.. req_per_s=.. p50_us=.. p90_us=.. p99_us=.. p999_us=..
           max_us=.. errors=.. lost=0 cpu_pct=..
"""
import argparse
import json
import os
import selectors
import socket
import sys
import time


def pct(sorted_vals, p):
    if not sorted_vals:
        return 0
    i = min(len(sorted_vals) - 1, int(p / 100.0 * len(sorted_vals)))
    return sorted_vals[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-p", type=int, required=True, dest="port")
    ap.add_argument("-H", default="127.0.0.1", dest="host")
    ap.add_argument("-c", type=int, default=1, dest="conns")
    ap.add_argument("-d", type=float, default=5, dest="seconds")
    ap.add_argument("-w", type=float, default=1, dest="warmup")
    ap.add_argument("-P", type=int, default=1, dest="pipeline")
    a = ap.parse_args()

    sel = selectors.DefaultSelector()
    run = "%x" % (int(time.time() * 1000) & 0xFFFFFF)
    conns = []
    for i in range(a.conns):
        try:
            s = socket.create_connection((a.host, a.port), timeout=5)
        except OSError as e:
            print("pyloadgen: connect: %s" % e, file=sys.stderr)
            return 2
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        c = {"sock": s, "i": i, "n": 0, "step": 0, "inflight": [], "buf": b"", "out": b""}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)

    t_start = time.perf_counter()
    m0, m1 = t_start + a.warmup, t_start + a.warmup + a.seconds
    lat, errors, reqs_in, pairs_in = [], 0, 0, 0
    first_error = None
    cpu0 = os.times()
    draining = False

    def fill(c):
        # Up to pipeline requests in flight; after the window, only finish
        # the pair that was started.
        while len(c["inflight"]) < a.pipeline:
            if draining and c["step"] == 0:
                break
            plate = "L%s-%d-%d" % (run, c["i"], c["n"])
            if c["step"] == 0:
                req = {"id": c["n"] * 2, "method": "entry",
                       "params": {"gate": "north", "plate": plate, "class": "car"}}
            else:
                req = {"id": c["n"] * 2 + 1, "method": "exit",
                       "params": {"gate": "south", "plate": plate}}
                c["n"] += 1
            c["step"] ^= 1
            c["out"] += (json.dumps(req) + "\n").encode()
            c["inflight"].append(time.perf_counter())

    for c in conns:
        fill(c)
    while True:
        now = time.perf_counter()
        if now >= m1 and not draining:
            draining = True
        if draining and all(not c["inflight"] for c in conns):
            break
        if now > m1 + 10:
            print("pyloadgen: replies still missing 10 s after the run", file=sys.stderr)
            return 1
        for c in conns:
            if c["out"]:
                try:
                    n = c["sock"].send(c["out"])
                    c["out"] = c["out"][n:]
                except BlockingIOError:
                    pass
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            try:
                data = c["sock"].recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:
                print("pyloadgen: connection %d closed by parkd" % c["i"], file=sys.stderr)
                return 1
            c["buf"] += data
            t = time.perf_counter()
            while b"\n" in c["buf"]:
                line, c["buf"] = c["buf"].split(b"\n", 1)
                sent = c["inflight"].pop(0)
                if b'"error"' in line:
                    errors += 1
                    first_error = first_error or line[:300]
                elif m0 <= t < m1:
                    reqs_in += 1
                    lat.append(t - sent)
                    if b'"exited_at"' in line:
                        pairs_in += 1
            fill(c)
    cpu1 = os.times()
    lat.sort()
    us = [int(x * 1e6) for x in (pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 99.9),
                                  lat[-1] if lat else 0)]
    wall = time.perf_counter() - t_start
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / wall * 100 if wall > 0 else 0
    print("pyloadgen: %d connections, pipeline %d, %.1f s: %d pairs, %d requests, %d errors"
          % (a.conns, a.pipeline, a.seconds, pairs_in, reqs_in, errors))
    if first_error:
        print("pyloadgen: first error: %s" % first_error.decode("utf-8", "replace"))
    print("RESULT conns=%d threads=1 pipeline=%d seconds=%g pairs=%d pairs_per_s=%.0f "
          "requests=%d req_per_s=%.0f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d "
          "errors=%d lost=0 cpu_pct=%.0f" % (
              a.conns, a.pipeline, a.seconds, pairs_in, pairs_in / a.seconds, reqs_in,
              reqs_in / a.seconds, us[0], us[1], us[2], us[3], us[4], errors, cpu))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
