"""The audit shipper against a hostile or broken Redis.

A fake Redis (a socket server on a free port in this process) answers
parkd's commands with replies no real Redis sends: a bulk string that
announces 2 GB and streams bytes without end, an array that announces a
billion elements, a status line without end, a reply before any command;
or it accepts every connection and never answers at all.

Meanwhile the gates must keep getting prompt answers, parkd's memory must
stay bounded, and the log and `health` (and /metrics) must say what is
wrong.  Then a real redis-server takes over the same port, and every event
must be stored exactly once.
"""
import json
import re
import socket
import threading
import time

from harness import Daemon, free_port, http_request, metrics
from redisutil import RedisServer
from test_audit import (Tracker, audit_cfg, check_order, check_store, dump_of,
                        health, timed_call, wait_shipped, wait_state)

# Generous functional bounds, not benchmarks: an answer that waits on Redis
# input would take seconds (a billion-element array stalled the loop for
# 3 s), and memory that follows what Redis announces reaches hundreds of MB.
PROMPT_S = 0.5
RSS_MAX_KB = 100 * 1024


class FakeRedis:
    """A socket server that plays a broken Redis.  Each new connection is
    served in the mode current when it is accepted (the mode may change
    while the server runs):

      bulk     answers the first command with $2000000000 and endless bytes
      array    answers the first command with *1000000000 and holds on
      line     answers the first command with a status line without end
      unasked  sends +OK at once, before parkd has asked anything
      silent   reads whatever comes and never answers
    """

    def __init__(self, mode, port=None):
        self.mode = mode
        self.port = port or free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.stopping = False
        self.lock = threading.Lock()
        self.conns = set()
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.conns.add(c)
                self.accepted += 1
            threading.Thread(target=self._serve, args=(c, self.mode), daemon=True).start()

    def _stream(self, c, first):
        c.sendall(first)
        chunk = b"x" * 65536
        while not self.stopping:
            c.sendall(chunk)

    def _serve(self, c, mode):
        try:
            if mode == "unasked":
                c.sendall(b"+OK\r\n")
            if not c.recv(65536):
                return
            if mode == "bulk":
                self._stream(c, b"$2000000000\r\n")
            elif mode == "line":
                self._stream(c, b"+")
            elif mode == "array":
                c.sendall(b"*1000000000\r\n")
            while c.recv(65536):
                pass
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns.discard(c)
            c.close()

    def close(self):
        """Stops listening and closes every connection (the port is free
        for a real redis-server afterwards)."""
        self.stopping = True
        self.thread.join(5)
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def http_get(port, path):
    return http_request(port, path)


# ---------------------------------------------------------------------------
# Item 8: replies larger than anything parkd asks for.

# (mode, what the log line names)
HOSTILE = [
    ("bulk", r"refused a reply from Redis: a string of 2000000000 bytes"),
    ("array", r"refused a reply from Redis: an array of 1000000000 elements"),
    ("line", r"refused a reply from Redis: a line of more than \d+ bytes"),
    # The +OK comes before parkd asks anything, or (when the batch went out
    # first) is taken as the batch's answer: either way it is no count.
    ("unasked", r"refused a reply from Redis: a reply nobody asked for|"
                r"store script: not a count"),
]


def test_hostile_replies_dropped_gates_prompt_memory_bounded():
    fake = FakeRedis(HOSTILE[0][0])
    rs = None
    try:
        with Daemon(audit_cfg(fake)) as d:
            c = d.client()
            tr = Tracker()
            peak = d.rss_kb()
            k = 0
            for mode, reason in HOSTILE:
                fake.mode = mode
                log0 = len(d.logtext())
                t0 = time.time()
                seen = None
                # Keep the gates busy until parkd has refused this mode's
                # reply (it reconnects with a backoff of up to 5 s), and a
                # second longer.
                while seen is None or time.time() < seen + 1.0:
                    assert time.time() - t0 < 20, \
                        "%s: no log line matching %r within 20 s:\n%s" % (
                            mode, reason, d.logtext()[log0:][-3000:])
                    assert d.proc.poll() is None, \
                        "%s: parkd died:\n%s" % (mode, d.logtext()[-3000:])
                    tr.pair(c, "HOS %d" % k)
                    k += 1
                    _, dt = timed_call(c, "ping")
                    assert dt < PROMPT_S and tr.slowest < PROMPT_S, \
                        "%s: a request took %.2fs" % (mode, max(dt, tr.slowest))
                    peak = max(peak, d.rss_kb())
                    assert peak < RSS_MAX_KB, "%s: parkd's RSS reached %d kB" % (mode, peak)
                    if seen is None and re.search(reason, d.logtext()[log0:]):
                        seen = time.time()
                    time.sleep(0.05)
                h = health(c)
                assert h["status"] == "degraded", h
                assert h["audit"]["pending"] > 0, h
            assert fake.accepted >= len(HOSTILE), fake.accepted

            # A real Redis on the same port: the whole backlog, once.
            fake.close()
            rs = RedisServer(port=fake.port).start()
            h = wait_shipped(c)
            assert h["status"] == "ok", h
            evs = check_store(dump_of(rs), len(tr.expected))
            check_order(evs, tr.expected)
            c.close()
    finally:
        fake.close()
        if rs is not None:
            rs.close()


test_hostile_replies_dropped_gates_prompt_memory_bounded.timeout = 150


# ---------------------------------------------------------------------------
# Item 9: a Redis that accepts and never answers.

def test_silent_redis_reported_stalled_with_backlog_age():
    fake = FakeRedis("silent")
    http_port = free_port()
    rs = None
    try:
        d = Daemon(audit_cfg(fake), args=["--http", "127.0.0.1:%d" % http_port])
        with d:
            c = d.client()
            tr = Tracker()
            tr.pairs(c, 5, "ST")
            t_first = time.time()
            # Connected, a batch sent, no answer: once its deadline (5 s)
            # has passed, health must not say ok.
            try:
                h = wait_state(c, lambda a: a["state"] == "stalled", 10)
            except AssertionError as e:
                raise AssertionError("Redis never answers a batch: %s" % e)
            assert h["status"] == "degraded", h
            # Ten changes and the new data directory's tariff record.
            assert h["audit"]["pending"] == 11, h
            # Stalled it stays, through the reconnects (the fake accepts
            # every one), and the backlog's age grows with the clock.
            ages = []
            t_end = time.time() + 7
            while time.time() < t_end:
                h = health(c)
                assert h["audit"]["state"] == "stalled", h
                assert h["status"] == "degraded", h
                ages.append(h["audit"]["oldest_unshipped_age_s"])
                time.sleep(0.2)
            assert ages == sorted(ages), ages
            assert ages[-1] >= int(time.time() - t_first) - 2, (ages, time.time() - t_first)
            assert fake.accepted >= 2, "parkd did not reconnect: %d" % fake.accepted
            m = metrics(http_port)
            assert m["parkd_audit_stalled"] == 1, m
            assert m["parkd_audit_connected"] == 0, m
            assert m["parkd_audit_pending"] == 11, m
            assert m["parkd_audit_oldest_unshipped_age_seconds"] >= ages[-1], m
            code, body = http_get(http_port, "/healthz")
            assert json.loads(body)["audit"]["state"] == "stalled", body

            # A real Redis on the same port: shipped, and the state says so.
            fake.close()
            rs = RedisServer(port=fake.port).start()
            h = wait_shipped(c)
            assert h["status"] == "ok", h
            assert h["audit"]["oldest_unshipped_age_s"] == 0, h
            m = metrics(http_port)
            assert m["parkd_audit_stalled"] == 0 and m["parkd_audit_connected"] == 1, m
            assert m["parkd_audit_oldest_unshipped_age_seconds"] == 0, m
            evs = check_store(dump_of(rs), len(tr.expected))
            check_order(evs, tr.expected)
            c.close()
    finally:
        fake.close()
        if rs is not None:
            rs.close()


test_silent_redis_reported_stalled_with_backlog_age.timeout = 90
