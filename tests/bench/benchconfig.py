"""Writes a benchmark config: the demo garage with a row of extra regular
spots (so many connections never meet lot_full), the rate limit off, and
the given data directory, durability, HTTP port, snapshot interval and
audit target.  Used by every benchmark script.

usage: benchconfig.py SRC DST DATA_DIR DURABILITY SPOTS
                      [--http PORT] [--snapshot-every N] [--redis HOST:PORT]
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("data")
    ap.add_argument("durability")
    ap.add_argument("spots", type=int)
    ap.add_argument("--http")
    ap.add_argument("--snapshot-every", type=int, default=0)
    ap.add_argument("--redis")
    a = ap.parse_args()
    with open(a.src) as f:
        cfg = json.load(f)
    cfg["listen"] = "127.0.0.1:7070"          # overridden by --listen
    cfg["http_listen"] = "127.0.0.1:%s" % a.http if a.http else None
    cfg["data_dir"] = a.data
    cfg["durability"] = a.durability
    if a.snapshot_every > 0:
        cfg["journal"] = {"snapshot_every": a.snapshot_every}
    cfg["audit"] = {"redis": a.redis, "prefix": "parkd:", "password": None,
                    "subject_maxlen": 10000, "stream_maxlen": 1000000}
    cfg.setdefault("limits", {})["rate_per_s"] = 0
    rows = cfg["facility"]["rows"]
    if a.spots > 0:
        rows.append({"level": max(r["level"] for r in rows) + 1, "zone": "BENCH",
                     "type": "regular", "count": a.spots,
                     "x": 5, "y": 80, "dx": 3, "dy": 0})
    with open(a.dst, "w") as f:
        json.dump(cfg, f, indent=1)


if __name__ == "__main__":
    main()
