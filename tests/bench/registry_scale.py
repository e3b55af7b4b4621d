#!/usr/bin/env python3
"""registry_scale.py - what a large vehicle registry costs the gates.

    registry_scale.py [BUILD_DIR] [-n VEHICLES] [--rewrites 3]

Starts BUILD_DIR/parkd (default build) as a primary with the registry's
erase_within_s at 1, registers VEHICLES vehicles (default 150 000, pipelined),
then, while one gate makes an entry and an exit every 2 ms and times each:

  1. deletes a vehicle REWRITES times, 1.5 s apart: each delete is an
     erasure, and each erasure a rewrite of the contact store (registry.md:
     gone from every file within erase_within_s; checked by scanning the
     data directory after each): the registry copied on the loop, the image
     made and written by a pool job while batches go on, then put in place
     by a short job of its own.  The first rewrite after the registry grew
     copies into fresh memory, the later ones into the last copy's:
     printed one by one;
  2. starts a standby: it catches up and is sent the registry as an image
     when it goes live (the registry copied on the loop, the image made
     from the copy on the thread pool).

Prints the gate's per-request latency before, during the rewrites and
during the standby's start (p50, p99, max), the image's size and how long
the standby took to stream and to hold the image on its disk.  Not part of
make test: a benchmark, which wants the machine to itself.  Standard
library only; uses tests/integration (harness.py, test_standby.py).
"""
import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))


def q(v, p):
    return v[min(len(v) - 1, int(p * len(v)))] * 1000 if v else float("nan")


def line(label, v):
    print("%-34s n=%-5d p50 %6.2f  p99 %7.2f  max %7.2f ms" % (
        label, len(v), q(v, .5), q(v, .99), (max(v) if v else float("nan")) * 1000))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("-n", "--vehicles", type=int, default=150000)
    ap.add_argument("--rewrites", type=int, default=3)
    a = ap.parse_args()
    os.environ.setdefault("PARKD", os.path.join(a.build, "parkd"))
    from test_standby import Node, caught_up, stop_all, streaming, wait_for
    from test_registry import reg_config, wait_erased
    from test_durability import pipeline

    base = reg_config(retention_hours=24, erase_within_s=1)
    p = Node(base, http=True)
    s = Node(base, primary=p, http=True)
    try:
        p.start()
        c = p.client(timeout=120)
        t0 = time.time()
        for i in range(0, a.vehicles, 10000):
            calls = [("vehicle_register", {
                "plate": "REG %d" % k, "contact_name": "Person %d" % k,
                "phone": "+4915150%06d" % k}) for k in range(i, min(a.vehicles, i + 10000))]
            rs = pipeline(c, calls, chunk=1000)
            assert all("result" in r for r in rs), rs[0]
        print("registered %d vehicles in %.1f s" % (a.vehicles, time.time() - t0))
        time.sleep(1.5)                     # the registrations' own rewrites, if any

        lat, stop, marks = [], threading.Event(), {}

        def gate():
            g = p.client(timeout=60)
            k = 0
            while not stop.is_set():
                t = time.perf_counter()
                g.ok("entry", gate="north", plate="G%d" % k, **{"class": "car"})
                g.ok("exit", gate="south", plate="G%d" % k)
                lat.append((time.time(), (time.perf_counter() - t) / 2))
                k += 1
                time.sleep(0.002)
            g.close()

        th = threading.Thread(target=gate)
        th.start()
        time.sleep(1.0)
        marks["rewrites"] = time.time()
        windows = []
        for k in range(a.rewrites):
            t = time.time()
            c.ok("vehicle_delete", plate="REG %d" % k)
            time.sleep(1.5)
            windows.append((t, time.time()))
            # The rewrite happened: the deleted phone is on no file (and another still is).
            wait_erased(p, ["4915150%06d" % k], keep=["4915150%06d" % (a.vehicles - 1)])
        marks["standby"] = time.time()
        s.start()
        streaming(p)
        t_stream = time.time()
        caught_up(p, s)
        wait_for(lambda: s.repl().get("acks_held_at", 0) is None, "the image on the standby's disk",
                 timeout=120)
        t_held = time.time()
        time.sleep(0.5)
        stop.set()
        th.join()
        marks["end"] = time.time()

        def span(a0, a1):
            return sorted(v for t, v in lat if a0 <= t < a1)
        line("gate alone", span(0, marks["rewrites"]))
        line("gate during %d store rewrites" % a.rewrites, span(marks["rewrites"], marks["standby"]))
        for k, (t0, t1) in enumerate(windows):
            line("  rewrite %d" % (k + 1), span(t0, t1))
        line("gate while a standby starts", span(marks["standby"], marks["end"]))
        img = os.path.getsize(os.path.join(s.data_dir, "contacts", "contacts.db"))
        print("image %.1f MB; the standby streamed after %.2f s and held the image on its "
              "disk after %.2f s" % (img / 1e6, t_stream - marks["standby"],
                                     t_held - marks["standby"]))
        c.close()
    finally:
        stop_all(p, s)


if __name__ == "__main__":
    main()
