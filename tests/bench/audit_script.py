#!/usr/bin/env python3
"""tests/bench/audit_script.py AUDIT_C [AUDIT_C ...] - what the audit store
script costs Redis, per event, alone.

Takes the store script out of each daemon/audit.c given (so that two
versions, e.g. a git worktree's and the working tree's, can be compared in
one run), starts a private redis-server for each measurement, and EVALs
batches of synthetic events shaped like a gate's: entry and exit pairs, each
event with four subjects (its vehicle and ticket, shared by the pair, one
of 50 spots, one of two gates) and about 400 bytes of JSON.  Prints Redis's
own CPU time (used_cpu_user + used_cpu_sys from INFO) per event, for small
batches (what steady shipping sends) and large ones (a backlog draining),
each version in turn, REPS times.

Environment: REPS (default 2), EVENTS per measurement (default 10000),
BATCHES (batch sizes, default "10 500"), REDIS_SERVER.
"""
import json
import os
import random
import re
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from redisutil import RedisServer  # noqa: E402


def store_script(path):
    """The text of the C string store_script[] in path."""
    src = open(path).read()
    start = src.index("static const char store_script[] =")
    end = src.index(";", src.index("return stored", start))
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', src[start:end])
    return "".join(p.encode().decode("unicode_escape") for p in parts)


def cpu_seconds(r):
    info = dict(l.split(":", 1) for l in r.command("INFO", "cpu").split("\r\n") if ":" in l)
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(script, batch, events):
    rnd = random.Random(1)
    with RedisServer() as rs, rs.client() as r:
        lsn = 0
        c0 = cpu_seconds(r)
        while lsn < events:
            argv = ["EVAL", script, "0", "parkd:", "bench", "10000", "1000000"]
            for _ in range(batch):
                lsn += 1
                pair = lsn // 2
                eid = str(uuid.uuid4())
                subjects = ["vehicle:P%d" % pair, "ticket:T%d" % pair,
                            "spot:S%d" % rnd.randrange(50),
                            "gate:%s" % ("north" if lsn % 2 else "south")]
                ev = json.dumps({"id": eid, "ts": "2026-12-03T08:00:00Z",
                                 "type": "vehicle.entered", "subjects": subjects,
                                 "data": {"pad": "x" * 250}})
                argv += [str(lsn), eid, ev, str(len(subjects))] + subjects
            stored = r.command(*argv)
            assert stored == batch, stored
        return (cpu_seconds(r) - c0) / lsn * 1e6


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    reps = int(os.environ.get("REPS", "2"))
    events = int(os.environ.get("EVENTS", "10000"))
    scripts = [(p, store_script(p)) for p in sys.argv[1:]]
    for batch in [int(b) for b in os.environ.get("BATCHES", "10 500").split()]:
        for _ in range(reps):
            for path, text in scripts:
                print("batch %3d  %-40s %6.1f us of Redis CPU an event" %
                      (batch, path, measure(text, batch, events)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
