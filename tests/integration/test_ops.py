"""What an operator meets: the systemd notification protocol (READY,
RELOADING with MONOTONIC_USEC, WATCHDOG, STOPPING) on a socket of our own,
log lines with syslog priorities under the journal and plain elsewhere,
SIGHUP applying every key that can change at run time and naming those that
need a restart, and TCP keepalive on client connections."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import Daemon, assert_error, assert_result, demo_config


class NotifySocket:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="parkd-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.msgs = []  # (time.monotonic(), text)
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            with self.lock:
                self.msgs.append((time.monotonic(), data.decode()))

    def texts(self):
        with self.lock:
            return [m for _, m in self.msgs]

    def wait(self, pred, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for m in self.texts():
                if pred(m):
                    return m
            time.sleep(0.02)
        raise AssertionError("no such notification in %r" % self.texts())

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


def test_notify_ready_reloading_watchdog_stopping():
    n = NotifySocket()
    try:
        d = Daemon(env={"NOTIFY_SOCKET": n.path, "WATCHDOG_USEC": "400000"})
        with d:
            n.wait(lambda m: m == "READY=1")
            # The watchdog is fed at half its interval.
            n.wait(lambda m: m == "WATCHDOG=1", timeout=2)
            before = len(n.texts())
            t0 = time.monotonic()
            d.proc.send_signal(signal.SIGHUP)
            rel = n.wait(lambda m: m.startswith("RELOADING=1"))
            fields = dict(line.split("=", 1) for line in rel.split("\n"))
            # MONOTONIC_USEC is CLOCK_MONOTONIC, the clock systemd compares.
            usec = int(fields["MONOTONIC_USEC"])
            assert abs(usec / 1e6 - t0) < 2, (usec, t0)
            after = n.wait(lambda m: m.startswith("READY=1\n"))
            texts = n.texts()
            assert texts.index(rel) < texts.index(after), texts
            assert "STATUS=serving" in after, after
            # A reload that fails still ends the reload, and says so.
            with open(d.path, "w") as f:
                f.write("{")
            d.proc.send_signal(signal.SIGHUP)
            n.wait(lambda m: "reload failed" in m)
            assert len(n.texts()) > before
            assert d.stop() == 0
            n.wait(lambda m: m == "STOPPING=1")
    finally:
        n.close()


PRIO_LINE = re.compile(r"^<([3467])>([a-z]+): \S")
PLAIN_LINE = re.compile(r"^(debug|info|warn|error) ([a-z]+): \S")


def journal_daemon(cfg=None):
    """A daemon whose stderr is 'the journal': JOURNAL_STREAM names its log file."""
    d = Daemon(cfg)
    open(d.log, "ab").close()
    st = os.stat(d.log)
    d.env = {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}
    return d


def test_log_lines_carry_syslog_priorities_under_the_journal():
    d = journal_daemon()
    with d:
        d.wait_log("<6>parkd: started version=")
        with open(d.path, "w") as f:
            f.write('{"listen": 1,')
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("<4>server: reload failed")
        # The broken file is an error naming the file, with line and column.
        d.wait_log("<3>config: invalid, nothing changed file=")
        assert "line 1, column" in d.logtext(), d.logtext()
        assert d.stop() == 0
        lines = d.logtext().splitlines()
    assert len(lines) >= 6, lines
    for line in lines:
        assert PRIO_LINE.match(line), line
    assert lines[-1] == "<6>parkd: stopped", lines


def test_log_lines_are_plain_outside_the_journal():
    # JOURNAL_STREAM inherited from elsewhere (not our stderr) does not count.
    with Daemon(env={"JOURNAL_STREAM": "1:1"}) as d:
        d.wait_log("info parkd: started version=")
        c = d.client()
        c.line("ping")
        assert d.stop() == 0
        text = d.logtext()
    assert "<6>" not in text
    for line in text.splitlines():
        assert PLAIN_LINE.match(line), line
    # Facts are key=value: the start line names them.
    m = re.search(r"started version=\S+ facility=\"Demo Garage\" spots=(\d+) durability=fsync",
                  text)
    assert m and int(m.group(1)) > 0, text


def test_debug_flag_logs_connections():
    with Daemon(args=["--debug"]) as d:
        c = d.client()
        c.line("ping")
        c.close()
        d.wait_log("debug conn: connected client=")
        d.wait_log("debug conn: closing client=")
    with Daemon() as d:
        c = d.client()
        c.line("ping")
        c.close()
        time.sleep(0.2)
        assert "debug" not in d.logtext()


def test_reload_changes_runtime_keys_and_names_those_needing_a_restart():
    cfg = demo_config(limits={"rate_per_s": 0, "max_line": 65536},
                      auth={"tokens": [{"token": "ops-secret-1", "role": "operator"}]})
    with Daemon(cfg) as d:
        o = d.client()
        assert_result(o.line("auth token=ops-secret-1"))
        assert assert_result(o.line("strategy"))["strategy"] == "nearest"
        tariff = assert_result(o.line("tariff"))
        start = len(d.logtext())
        d.rewrite(strategy="farthest",
                  limits={"max_line": 256, "closed_tickets": 1},
                  journal={"snapshot_every": 5},
                  facility=dict(cfg["facility"], name="Renamed Garage"),
                  durability="write",
                  audit={"prefix": "other:", "stream_maxlen": 500},
                  listen="127.0.0.1:1")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("config: reloaded", start=start)
        log = d.logtext()[start:]
        # Keys that a running process cannot take are named, one line each.
        for key in ("facility", "durability", "listen", "audit.prefix"):
            assert "needs a restart key=%s" % key in log, log
        assert "key=tariff" not in log and "key=limits" not in log, log
        assert "key=audit.stream_maxlen" not in log and "key=audit.redis" not in log, log
        assert "new strategy in force strategy=farthest" in log, log
        # The strategy is a journaled change, as if an operator had set it.
        assert assert_result(o.line("strategy"))["strategy"] == "farthest"
        assert assert_result(o.line("status"))["facility"] == "Demo Garage"
        assert assert_result(o.line("tariff")) == tariff
        # limits.max_line: new connections refuse longer lines.
        o = d.client()
        assert_error(o.line("ping " + "x" * 400), "line_too_long", None)
        o = d.client()
        assert_result(o.line("auth token=ops-secret-1"))
        # limits.closed_tickets = 1: only the newest exited ticket is kept.
        t = []
        for i in range(2):
            r = assert_result(o.line("entry gate=north plate=KC%d class=car" % i))
            t.append(r["ticket"])
            assert_result(o.line("exit gate=south plate=KC%d at=%s" % (i, r["entered_at"])))
        assert_error(o.line("ticket ticket=%s" % t[0]), "not_found")
        assert assert_result(o.line("ticket ticket=%s" % t[1]))["ticket"] == t[1]
        # journal.snapshot_every = 5: a snapshot follows within a few changes.
        for i in range(6):
            assert_result(o.line("strategy set=%s" % ("nearest" if i % 2 else "first")))
        d.wait_log("snapshot: committed lsn=", start=start)
    # The restart applies what needed one (but the harness's listen stays).


def keepalive_timers(port):
    """The timers ss shows on the server side of connections to port."""
    out = subprocess.run(["ss", "-tnoH", "state", "established", "sport", "= :%d" % port],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    return out


def test_tcp_keepalive_on_client_connections():
    with Daemon(demo_config(limits={"tcp_keepalive_s": 30})) as d:
        c = d.client()
        c.line("ping")
        out = keepalive_timers(d.port)
        assert "timer:(keepalive," in out, out
        # The idle time is what was configured (ss shows the time left).
        m = re.search(r"timer:\(keepalive,(\d+)(?:min)?(\d+)?", out)
        assert m, out
    with Daemon(demo_config(limits={"tcp_keepalive_s": 0})) as d:
        c = d.client()
        c.line("ping")
        out = keepalive_timers(d.port)
        assert "keepalive" not in out, out


def test_reload_applies_the_registry_retention_when_the_file_changes_it():
    cfg = demo_config(registry={"retention_hours": 24, "erase_within_s": 60})
    with Daemon(cfg) as d:
        c = d.client()
        assert c.ok("retention") == {"hours": 24}
        start = len(d.logtext())
        d.rewrite(registry={"retention_hours": 48, "erase_within_s": 30})
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("config: reloaded", start=start)
        assert "new retention in force hours=48" in d.logtext()[start:]
        assert "needs a restart key=registry" not in d.logtext()
        assert c.ok("retention") == {"hours": 48}
        # Set at run time, it stays through a reload of an unchanged file.
        assert c.ok("retention", set_hours=12) == {"hours": 12}
        start = len(d.logtext())
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("config: reloaded", start=start)
        assert c.ok("retention") == {"hours": 12}
