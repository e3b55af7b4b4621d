"""tests/bench/city.py [BUILD_DIR] - what the city view costs (city.md).

1. Publishing at a given rate of changes: parkd (conf/parkd.json with a
   location and 5 000 extra regular spots, durability write, audit off) takes
   an open-loop load of entry+exit pairs at CHANGES changes a second (500
   and 5 000 by default) for BENCH_SECONDS, with the city view on
   (publish_ms 1000, one redis-server) and off.  Printed: parkd's CPU time
   (utime + stime from /proc) as % of one core, publishes made in the
   window (health's city.publishes and Redis's cmdstat_publish), and the
   requests' latency.  Coalesced publishing should make the publish count
   flat (about one per publish_ms) whatever the rate.
2. nearby with 1 000 facilities in the geo set (random places within 2 km,
   fresh hashes written straight into Redis): latency over NEARBY_CALLS calls
   of nearby (a) limit 10 where every facility has room (one GEOSEARCH of up
   to 1 000, one round of HMGET), (b) a class nobody has room for (every
   hash read, 64 per round trip), (c) limit 100, and, for reference, a bare
   GEOSEARCH from Python.

Not part of `make test`: timing, two shared cores.  Environment:
BENCH_SECONDS (10), BENCH_WARMUP (2), CHANGES ("500 5000"), NEARBY_CALLS
(300), REDIS_SERVER.
"""
import collections
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from redisutil import RedisServer  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
PARKD = os.path.join(BUILD, "parkd")
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "2"))
RATES = [int(x) for x in os.environ.get("CHANGES", "500 5000").split()]
NEARBY_CALLS = int(os.environ.get("NEARBY_CALLS", "300"))
HZ = os.sysconf("SC_CLK_TCK")
LAT, LON = 52.52, 13.405


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Parkd:
    def __init__(self, tmp, redis=None, city=True, name="Bench Garage"):
        with open(os.path.join(ROOT, "conf", "parkd.json")) as f:
            cfg = json.load(f)
        self.port = free_port()
        self.data = tempfile.mkdtemp(dir=tmp)
        cfg["listen"] = "127.0.0.1:%d" % self.port
        cfg["http_listen"] = None
        cfg["data_dir"] = self.data
        cfg["durability"] = "write"
        cfg["facility"]["name"] = name
        cfg["facility"]["location"] = {"lat": LAT, "lon": LON}
        cfg["facility"]["rows"].append({"level": 2, "zone": "BENCH", "type": "regular",
                                        "count": 5000, "x": 5, "y": 80, "dx": 3, "dy": 0})
        cfg["audit"] = {"redis": None}
        cfg["city"] = {"redis": redis.address, "publish_ms": 1000} if city and redis else None
        cfg.setdefault("limits", {})["rate_per_s"] = 0
        self.path = os.path.join(self.data, "parkd.json")
        with open(self.path, "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(self.data, "parkd.log"), "wb")
        self.proc = subprocess.Popen([PARKD, "-c", self.path], stdout=self.log,
                                     stderr=self.log)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("parkd did not start")

    def cpu_s(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ

    def call(self, method, **params):
        with socket.create_connection(("127.0.0.1", self.port), 10) as s:
            s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                  "params": params}).encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                buf += s.recv(1 << 20)
        return json.loads(buf.split(b"\n")[0])

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(30)
        self.log.close()
        if rc != 0:
            raise RuntimeError("parkd exited %d" % rc)


def open_loop(port, changes_per_s, seconds, warmup, conns=4):
    """entry+exit pairs at changes_per_s changes a second over conns
    connections, sent on a 5 ms tick; returns (latencies in the window,
    errors, pairs sent)."""
    tick = 0.005
    per_tick = changes_per_s / 2.0 * tick / conns
    t0 = time.time() + 0.1
    t_meas, t_end = t0 + warmup, t0 + warmup + seconds
    lat, errors, sent = [], [0], [0]
    lock = threading.Lock()

    def conn(k):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = collections.deque()
        done = threading.Event()

        def reader():
            buf = b""
            mine = []
            while not (done.is_set() and not times):
                try:
                    s.settimeout(0.5)
                    chunk = s.recv(1 << 20)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                buf += chunk
                lines = buf.split(b"\n")
                buf = lines.pop()
                now = time.time()
                for line in lines:
                    ts = times.popleft()
                    if b'"result"' not in line:
                        with lock:
                            errors[0] += 1
                    if t_meas <= ts < t_end:
                        mine.append(now - ts)
            with lock:
                lat.extend(mine)
        rt = threading.Thread(target=reader)
        rt.start()
        due, n = 0.0, 0
        while True:
            now = time.time()
            if now >= t_end:
                break
            if now < t0:
                time.sleep(t0 - now)
                continue
            due += per_tick
            out = []
            while due >= 1:
                due -= 1
                n += 1
                plate = "C%d-%d" % (k, n)
                out.append(json.dumps({"jsonrpc": "2.0", "id": n, "method": "entry",
                                       "params": {"gate": "north", "plate": plate,
                                                  "class": "car"}}))
                out.append(json.dumps({"jsonrpc": "2.0", "id": n, "method": "exit",
                                       "params": {"gate": "south", "plate": plate}}))
            if out:
                ts = time.time()
                times.extend([ts] * len(out))
                s.sendall(("\n".join(out) + "\n").encode())
                with lock:
                    sent[0] += len(out) // 2
            next_tick = t0 + (int((time.time() - t0) / tick) + 1) * tick
            time.sleep(max(0.0, next_tick - time.time()))
        done.set()
        rt.join()
        s.close()
    ts_ = [threading.Thread(target=conn, args=(k,)) for k in range(conns)]
    for t in ts_:
        t.start()
    for t in ts_:
        t.join()
    return lat, errors[0], sent[0]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))] if v else float("nan")


def publish_calls(redis):
    with redis.client() as r:
        info = r.command("INFO", "commandstats")
    for line in info.splitlines():
        if line.startswith("cmdstat_publish:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def bench_publishing(tmp):
    print("1. publishing: open-loop entry+exit load, %.0f s measured after %.0f s warm-up"
          % (SECONDS, WARMUP))
    print("%8s %6s %10s %10s %12s %10s %10s %7s" % ("changes/s", "city", "achieved", "CPU %",
          "publishes", "redis PUB", "p50 ms", "p99 ms"))
    for rate in RATES:
        for city in (False, True):
            redis = RedisServer().start() if city else None
            p = Parkd(tmp, redis, city)
            try:
                h0 = p.call("health")["result"]["city"].get("publishes", 0)
                pub0 = publish_calls(redis) if redis else 0
                time.sleep(0.2)
                t_cpu = [None, None]

                def sample():
                    time.sleep(0.1 + WARMUP)
                    t_cpu[0] = (time.time(), p.cpu_s())
                    time.sleep(SECONDS)
                    t_cpu[1] = (time.time(), p.cpu_s())
                st = threading.Thread(target=sample)
                st.start()
                lat, errors, sent = open_loop(p.port, rate, SECONDS, WARMUP)
                st.join()
                h1 = p.call("health")["result"]["city"].get("publishes", 0)
                pub1 = publish_calls(redis) if redis else 0
                cpu = (t_cpu[1][1] - t_cpu[0][1]) / (t_cpu[1][0] - t_cpu[0][0]) * 100
                achieved = len(lat) / SECONDS
                print("%8d %6s %10.0f %10.1f %12s %10s %10.2f %7.2f%s" % (
                    rate, "on" if city else "off", achieved, cpu,
                    h1 - h0 if city else "-", pub1 - pub0 if city else "-",
                    statistics.median(lat) * 1e3 if lat else float("nan"),
                    pct(lat, 99) * 1e3, "  ERRORS %d" % errors if errors else ""))
            finally:
                p.stop()
                if redis:
                    redis.close()
    print("   (publishes: the whole run, warm-up and drain included: about one per"
          " publish_ms = 1 s, plus the first)")


def populate(redis, n, prefix="city:"):
    """n facilities at random places within 2 km of (LAT, LON), fresh,
    with room for cars but not for buses."""
    rnd = random.Random(7)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cmds = []
    for i in range(n):
        # Within ~1.9 km: up to 0.017 deg of latitude, 0.028 of longitude.
        while True:
            dy, dx = rnd.uniform(-1, 1), rnd.uniform(-1, 1)
            if dx * dx + dy * dy <= 1:
                break
        lat, lon = LAT + dy * 0.017, LON + dx * 0.028
        slug = "f%04d" % i
        key = prefix + "facility:" + slug
        cmds.append(("GEOADD", prefix + "facilities", "%.7f" % lon, "%.7f" % lat, slug))
        cmds.append(("HSET", key, "name", "Facility %d" % i, "lat", "%.7f" % lat,
                     "lon", "%.7f" % lon, "free", 40, "total", 100,
                     "free_by_class", json.dumps({"motorcycle": 40, "car": 30, "van": 5, "bus": 0}),
                     "state", "open", "updated_at", now, "listen", "127.0.0.1:1"))
        cmds.append(("EXPIRE", key, 600))
    with redis.client() as r:
        for k in range(0, len(cmds), 3000):
            r.pipeline(cmds[k:k + 3000])


def timed_calls(port, lines):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    out, sizes = [], []
    for line in lines:
        t0 = time.perf_counter()
        s.sendall(line.encode() + b"\n")
        reply = f.readline()
        out.append(time.perf_counter() - t0)
        r = json.loads(reply)
        if "result" not in r:
            raise RuntimeError("nearby failed: %s" % reply[:300])
        sizes.append(len(r["result"]["facilities"]))
    s.close()
    return out, sizes


def bench_nearby(tmp):
    print()
    print("2. nearby with 1 000 facilities in the geo set (%d calls each)" % NEARBY_CALLS)
    redis = RedisServer().start()
    p = Parkd(tmp, redis, True, name="Nearby Bench")
    try:
        populate(redis, 1000)
        time.sleep(1.5)
        cases = [
            ("limit 10, class car (all have room)", "nearby class=car limit=10"),
            ("no room for the class (all 1000 hashes read)", "nearby class=bus limit=10"),
            ("limit 100", "nearby class=car limit=100"),
            ("limit 10, radius 500 m", "nearby class=car limit=10 radius_m=500"),
        ]
        print("%-48s %8s %8s %8s %9s" % ("case", "p50 ms", "p90 ms", "p99 ms", "returned"))
        for name, line in cases:
            timed_calls(p.port, [line] * 20)
            lat, sizes = timed_calls(p.port, [line] * NEARBY_CALLS)
            print("%-48s %8.2f %8.2f %8.2f %9d" % (name, statistics.median(lat) * 1e3,
                  pct(lat, 90) * 1e3, pct(lat, 99) * 1e3, sizes[0]))
        with redis.client() as r:
            lat = []
            for _ in range(NEARBY_CALLS):
                t0 = time.perf_counter()
                r.command("GEOSEARCH", "city:facilities", "FROMLONLAT", str(LON), str(LAT),
                          "BYRADIUS", 2000, "m", "ASC", "COUNT", 1000, "WITHDIST")
                lat.append(time.perf_counter() - t0)
        print("%-48s %8.2f %8.2f %8.2f" % ("reference: GEOSEARCH COUNT 1000 from Python",
              statistics.median(lat) * 1e3, pct(lat, 90) * 1e3, pct(lat, 99) * 1e3))
    finally:
        p.stop()
        redis.close()


def main():
    if not os.access(PARKD, os.X_OK):
        sys.exit("%s: not built (make)" % PARKD)
    tmp = tempfile.mkdtemp(prefix="parkd-city-bench-")
    try:
        print("parkd city benchmark: %s; %d CPUs; load average %s" % (
            PARKD, os.cpu_count(), open("/proc/loadavg").read().split()[:3]))
        bench_publishing(tmp)
        bench_nearby(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
