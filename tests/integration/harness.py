"""Integration-test harness: starts the real parkd (and redis-server when a
test needs one) on free ports in a temporary directory, and talks to it over
TCP.  Standard library only."""
import base64
import contextlib
import datetime
import errno
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARKD = os.path.join(ROOT, os.environ.get("PARKD", "build/parkd"))
DEMO = os.path.join(ROOT, "conf", "parkd.json")
# AddressSanitizer keeps freed memory in quarantine: RSS bounds need room.
SANITIZED = "asan" in os.environ.get("PARKD", "")


_handed_out = set()
_port_rng = random.Random()     # not the global one: tests seed that


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_EPHEMERAL_LOW = _ephemeral_low()


def free_port():
    """A port free on every address (a test may listen on 0.0.0.0), and
    never one this process handed out before: a daemon's protocol, HTTP and
    replication ports are picked before any of them listens.  Picked below
    the kernel's ephemeral range: a port from bind(0) is in that range, and
    before the daemon binds it any outgoing connection (the tests' own
    clients) may be given it as its local port (CI saw an HTTP port lost so
    once)."""
    top = min(_EPHEMERAL_LOW, 65536)
    for _ in range(1000):
        port = _port_rng.randrange(max(1024, top - 12000), top)
        if port in _handed_out:
            continue
        try:
            with socket.socket() as s:
                s.bind(("", port))
        except OSError:
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def demo_config(**overrides):
    with open(DEMO) as f:
        cfg = json.load(f)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k].update(v)
        else:
            cfg[k] = v
    return cfg


class Daemon:
    """A parkd process on a free port with its own data directory."""

    def __init__(self, cfg=None, args=(), data_dir=None, preexec_fn=None, env=None):
        self.cfg = cfg if cfg is not None else demo_config()
        self.tmp = tempfile.mkdtemp(prefix="parkd-test-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.port = free_port()
        self.cfg.setdefault("audit", {})
        if "redis" not in self.cfg["audit"]:
            self.cfg["audit"]["redis"] = None
        self.cfg["listen"] = "127.0.0.1:%d" % self.port
        self.cfg["http_listen"] = None
        self.cfg["data_dir"] = self.data_dir
        self.path = os.path.join(self.tmp, "parkd.json")
        with open(self.path, "w") as f:
            json.dump(self.cfg, f)
        self.args = list(args)
        self.preexec_fn = preexec_fn  # run in the child before exec (e.g. rlimits)
        self.env = env  # extra environment variables
        self.proc = None
        self.killed = False     # stopped by SIGKILL: its children may live on
        self.log = os.path.join(self.tmp, "parkd.log")

    def start(self, wait=True):
        """Starts parkd; with wait, returns once this process listens.  The
        port answering is not enough: after a SIGKILL, a snapshot child of
        the killed daemon that has not yet run (it is niced) still holds the
        old listening socket, which takes connections and then resets them.
        So the new process's own "listening" line must be in the log too,
        and after a SIGKILL the start waits for what the killed daemon left
        running (wait_orphans), as systemd ends a unit's whole cgroup."""
        if self.killed:
            wait_orphans(self)
            self.killed = False
        self.logf = open(self.log, "ab")
        log_from = self.logf.tell()
        env = None
        if self.env:
            env = dict(os.environ)
            env.update(self.env)
        self.proc = subprocess.Popen([PARKD, "-c", self.path] + self.args,
                                     stdout=self.logf, stderr=self.logf,
                                     preexec_fn=self.preexec_fn, env=env)
        if wait:
            deadline = time.time() + 15
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("parkd exited %s:\n%s" % (self.proc.returncode, self.logtext()))
                if "server: listening" not in self.logtext_from(log_from):
                    time.sleep(0.02)
                    continue
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError("parkd did not start:\n" + self.logtext())
        return self

    def rewrite(self, **changes):
        """Changes the configuration file (not the running daemon):
        top-level keys replaced, or merged one level down for dicts."""
        for k, v in changes.items():
            if isinstance(v, dict) and isinstance(self.cfg.get(k), dict):
                self.cfg[k].update(v)
            else:
                self.cfg[k] = v
        with open(self.path, "w") as f:
            json.dump(self.cfg, f)

    def wait_log(self, text, timeout=5, start=0):
        """Waits for text to appear in the log after offset start."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.logtext()[start:]:
                return
            time.sleep(0.02)
        raise AssertionError("%r not logged:\n%s" % (text, self.logtext()[-3000:]))

    def logtext_from(self, offset):
        """The log from byte offset on."""
        try:
            with open(self.log, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def logtext(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def client(self, timeout=10, **kw):
        return Client(self.port, timeout, **kw)

    def rss_kb(self):
        """The daemon's resident set size in KiB (Linux)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops parkd; returns its exit code (SIGKILL: -9)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.killed = sig == signal.SIGKILL
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("parkd did not stop within %ss:\n%s" % (timeout, self.logtext()))
        self.proc = None
        self.logf.close()
        return rc

    def close(self):
        try:
            if self.proc is not None:
                rc = self.stop()
                assert rc == 0, "parkd exited %s:\n%s" % (rc, self.logtext()[-4000:])
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()


class Client:
    """A line-oriented TCP client."""

    def __init__(self, port, timeout=10, host="127.0.0.1", source=None, rcvbuf=None):
        if rcvbuf is None:
            self.sock = socket.create_connection((host, port), timeout=timeout,
                                                 source_address=source)
        else:
            # SO_RCVBUF must be set before connect to bound the TCP window.
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            if source is not None:
                self.sock.bind(source)
            self.sock.connect((host, port))
        self.timeout = timeout
        self.buf = b""
        self.next_id = 1

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def read_line(self, timeout=None):
        """The next line (str, without LF); EOFError when the peer closed,
        socket.timeout when nothing complete arrives in time."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed")
                self.buf += chunk
        finally:
            if timeout is not None:
                self.sock.settimeout(self.timeout)
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def read_json(self):
        return json.loads(self.read_line())

    def line(self, text):
        """Sends one line, returns the parsed reply."""
        self.send_raw(text + "\n")
        return self.read_json()

    def call(self, method, **params):
        """JSON-RPC call; returns the whole response object."""
        rid = self.next_id
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params:
            req["params"] = params
        self.send_raw(json.dumps(req) + "\n")
        resp = self.read_json()
        assert resp.get("id") == rid, resp
        return resp

    def ok(self, method, **params):
        resp = self.call(method, **params)
        assert "result" in resp, resp
        return resp["result"]

    def err(self, method, reason, **params):
        resp = self.call(method, **params)
        assert "error" in resp, resp
        assert resp["error"]["data"]["reason"] == reason, resp
        return resp["error"]

    def request(self, method, params=None, rid=None):
        """Sends one JSON-RPC request without reading; returns its id."""
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        req = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params:
            req["params"] = params
        self.send_raw(json.dumps(req) + "\n")
        return rid

    def notify(self, method, **params):
        """Sends a JSON-RPC notification (no id); nothing is read."""
        req = {"jsonrpc": "2.0", "method": method}
        if params:
            req["params"] = params
        self.send_raw(json.dumps(req) + "\n")

    def read_until_eof(self, timeout=10):
        """Reads until the peer closes; returns the complete lines received
        (a trailing partial line is returned too).  Raises socket.timeout
        when the connection is still open after timeout seconds."""
        deadline = time.time() + timeout
        data = self.buf
        self.buf = b""
        try:
            while True:
                left = deadline - time.time()
                if left <= 0:
                    raise socket.timeout("connection still open after %ss" % timeout)
                self.sock.settimeout(left)
                try:
                    chunk = self.sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    break
                data += chunk
        finally:
            self.sock.settimeout(self.timeout)
        return [l.decode() for l in data.split(b"\n") if l]

    def no_data(self, wait=0.3):
        """True when nothing arrives within wait seconds (connection open)."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(self.timeout)
        self.buf += chunk
        return False

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------------
# Helpers shared by the test modules.

@contextlib.contextmanager
def small_tmpfs(test_name, size="512k"):
    """A tmpfs of size on a fresh directory, unmounted afterwards; None
    (and a skip line naming test_name) when it cannot be mounted.  Daemons
    on it must be closed inside the block."""
    mnt = tempfile.mkdtemp(prefix="parkd-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", mnt],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        os.rmdir(mnt)
        print("skip %s: cannot mount a tmpfs: %s"
              % (test_name, r.stdout.decode("utf-8", "replace").strip()))
        yield None
        return
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", mnt]).returncode != 0:
            subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


def fill_disk(path):
    """Writes path until the file system is full."""
    with open(path, "wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise


def until(fn, timeout=10, every=0.05, what=None):
    """Polls fn until it returns something true; returns that.  Fails
    ("WHAT: not within T s") when timeout seconds pass first."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.time() < deadline, "%s: not within %.1fs" % (what or "condition", timeout)
        time.sleep(every)


def until_refused(change, limit, what):
    """Calls change(i) for i = 0, 1, ... until it returns False (a full
    disk refused the change); returns that i.  It must come within limit
    tries ("WHAT never ran out of space")."""
    i = 0
    while change(i):
        i += 1
        assert i < limit, "%s never ran out of space" % what
    return i


def wait_orphans(d, timeout=15):
    """Waits until no process runs with d's config path on its command line
    and nothing listens on d's port any more: a snapshot child left over by
    a SIGKILLed daemon keeps writing, and keeps the listening socket it
    inherited, until it is done (see test_snapshot_child_holds_no_sockets_
    of_the_daemon).  A process that is exiting has no command line left
    but may still hold its descriptors, hence the port check."""
    deadline = time.time() + timeout
    key = d.path.encode()
    while True:
        left = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if key in f.read():
                        left.append(int(pid))
            except OSError:
                pass
        if not left:
            try:
                socket.create_connection(("127.0.0.1", d.port), timeout=0.5).close()
                left.append("a listener on port %d" % d.port)
            except OSError:
                return
        if time.time() > deadline:
            raise AssertionError("processes of the killed daemon still run: %s" % left)
        time.sleep(0.02)


def kill9(d, timeout=15):
    """kill -9 parkd, then wait_orphans: nothing of it (a snapshot child
    finishing on its own, holding the listening socket) runs any more."""
    assert d.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_orphans(d, timeout)

def recv_exactly(sock, n):
    """n bytes from sock, or None when the stream ends first."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_to_eof(sock):
    """Everything sock sends until it closes."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


class RawWS:
    """A minimal WebSocket client (RFC 6455) on parkd's GET /ws, the
    handshake and frames by hand: what a test needs to send frames no
    library would (several in one write, blank, oversized) and to read
    every frame back, close frames included."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: jsonrpc\r\n\r\n"
                           % (port, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "closed during the handshake"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    @staticmethod
    def frame(payload, opcode=1):
        """One client frame of payload (bytes): final, masked (RFC 6455 5.3)."""
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def send(self, text):
        self.sock.sendall(self.frame(text.encode()))

    def _need(self, n):
        """False when the stream ends before n bytes are buffered."""
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read_frame(self):
        """The next server frame: (opcode, payload); (None, b"") at EOF."""
        if not self._need(2):
            return None, b""
        op, ln, off = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
        if ln == 126:
            self._need(4)
            ln, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif ln == 127:
            self._need(10)
            ln, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        if not self._need(off + ln):
            return None, b""
        payload, self.buf = self.buf[off:off + ln], self.buf[off + ln:]
        return op, payload

    def recv(self):
        """The next text message, parsed (EOFError at a close or the end)."""
        while True:
            op, payload = self.read_frame()
            if op is None:
                raise EOFError("closed")
            if op == 0x1:
                return json.loads(payload.decode())
            if op == 0x8:
                raise EOFError("close frame")

    def call(self, method, rid, **params):
        req = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params:
            req["params"] = params
        self.send(json.dumps(req))
        resp = self.recv()
        assert resp.get("id") == rid, resp
        return resp

    def close(self):
        self.sock.close()


def http_request(port, path, method="GET", headers=None, timeout=5):
    """One HTTP request with the standard library's client; (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def metrics(port):
    """The daemon's /metrics at the HTTP port: {"name{labels}": value}."""
    code, body = http_request(port, "/metrics")
    assert code == 200, (code, body)
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def check_config(cfg):
    """Runs parkd --check-config on cfg (a dict, or raw text); returns
    (exit code, stdout + stderr)."""
    tmp = tempfile.mkdtemp(prefix="parkd-check-")
    try:
        path = os.path.join(tmp, "parkd.json")
        with open(path, "w") as f:
            if isinstance(cfg, str):
                f.write(cfg)
            else:
                json.dump(cfg, f)
        r = subprocess.run([PARKD, "--check-config", "-c", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def small_config(rows, vehicles=None, gates=None, **overrides):
    """The demo config with its facility replaced by rows on level 0 (gates
    north: entry, south: exit, both on level 0) and, by default, one vehicle
    class 'car' that fits every spot type of the rows."""
    cfg = demo_config(**overrides)
    types = []
    for r in rows:
        if r["type"] not in types:
            types.append(r["type"])
    cfg["facility"]["rows"] = rows
    cfg["facility"]["gates"] = gates or [
        {"id": "north", "role": "entry", "level": 0, "x": 0, "y": 0},
        {"id": "south", "role": "exit", "level": 0, "x": 100, "y": 0},
    ]
    cfg["vehicles"] = vehicles or {"car": {"fits": types}}
    return cfg


def non_loopback_ipv4():
    """A local IPv4 address that is not loopback, or None."""
    cands = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.123", 9))  # no packet is sent for UDP connect
            cands.append(s.getsockname()[0])
    except OSError:
        pass
    try:
        cands += socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        pass
    for a in cands:
        if a.startswith("127.") or a == "0.0.0.0":
            continue
        try:
            with socket.socket() as s:
                s.bind((a, 0))
            return a
        except OSError:
            continue
    return None


class Shared:
    """Daemons shared by the tests of one module: started on first use and
    stopped by close_all() (a module's last test calls it, so that a bad exit
    code or a sanitizer report fails a test).  Left-overs are stopped at
    interpreter exit."""

    def __init__(self):
        self.daemons = {}
        self.lock = threading.Lock()
        import atexit
        atexit.register(self._atexit)

    def get(self, name, make_cfg=None, args=()):
        with self.lock:
            d = self.daemons.get(name)
            if d is None or d.proc is None or d.proc.poll() is not None:
                if d is not None:
                    # It died: report it through close_all later.
                    self.daemons[name + "#dead%d" % len(self.daemons)] = d
                d = Daemon(make_cfg() if make_cfg else None, args=args).start()
                self.daemons[name] = d
            return d

    def close_all(self):
        """Stops every shared daemon; raises when one exited non-zero."""
        errors = []
        with self.lock:
            items = list(self.daemons.items())
            self.daemons.clear()
        for name, d in items:
            try:
                if d.proc is not None and d.proc.poll() is not None:
                    rc = d.proc.returncode
                    d.proc = None
                    d.logf.close()
                    errors.append("%s: parkd died with %s:\n%s" % (name, rc, d.logtext()[-4000:]))
                    shutil.rmtree(d.tmp, ignore_errors=True)
                else:
                    d.close()
            except AssertionError as e:
                errors.append("%s: %s" % (name, e))
        if errors:
            raise AssertionError("\n".join(errors))

    def _atexit(self):
        for d in self.daemons.values():
            try:
                if d.proc is not None:
                    d.proc.kill()
                    d.proc.wait()
                shutil.rmtree(d.tmp, ignore_errors=True)
            except Exception:
                pass


# ---------------------------------------------------------------------------
# Assertion helpers.

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UUID7_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# Error codes of protocol.md section 3, by reason.
CODES = {
    "parse_error": -32700, "invalid_request": -32600, "line_too_long": -32600,
    "method_not_found": -32601, "invalid_params": -32602, "internal_error": -32603,
    "auth_required": 4010, "forbidden": 4030, "not_found": 4040,
    "plate_inside": 4090, "lot_full": 4091, "payment_required": 4092,
    "amount_mismatch": 4093, "reservation_conflict": 4094, "queue_full": 4095,
    "wrong_gate": 4096, "rate_limited": 4290, "unavailable": 5030,
}


def assert_error(resp, reason, rid="any"):
    """resp is a JSON-RPC error response with this reason and the code the
    contract gives it (and id rid unless rid is "any"); returns error."""
    assert isinstance(resp, dict), resp
    assert resp.get("jsonrpc") == "2.0", resp
    assert "error" in resp and "result" not in resp, resp
    e = resp["error"]
    assert isinstance(e.get("message"), str) and e["message"], resp
    assert isinstance(e.get("data"), dict), resp
    assert e["data"].get("reason") == reason, "want %s, got %r" % (reason, resp)
    assert e.get("code") == CODES[reason], "want code %s, got %r" % (CODES[reason], resp)
    if rid != "any":
        assert "id" in resp and resp["id"] == rid and type(resp["id"]) is type(rid), \
            "want id %r, got %r" % (rid, resp)
    return e


def assert_result(resp, rid="any"):
    assert isinstance(resp, dict), resp
    assert resp.get("jsonrpc") == "2.0", resp
    assert "result" in resp and "error" not in resp, resp
    if rid != "any":
        assert "id" in resp and resp["id"] == rid and type(resp["id"]) is type(rid), \
            "want id %r, got %r" % (rid, resp)
    return resp["result"]


def parse_time(s):
    assert TIME_RE.match(s), s
    return int(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp())


def fmt_time(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(base, seconds=0, minutes=0, hours=0, days=0):
    """base (an RFC 3339 string) plus an offset, as an RFC 3339 string."""
    return fmt_time(parse_time(base) + seconds + 60 * minutes + 3600 * hours + 86400 * days)
