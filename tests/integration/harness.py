"""Integration-test harness: starts the real parkd (and redis-server when a
test needs one) on free ports in a temporary directory, and talks to it over
TCP.  Standard library only."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARKD = os.path.join(ROOT, os.environ.get("PARKD", "build/parkd"))
DEMO = os.path.join(ROOT, "conf", "parkd.json")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def __init__(self, cfg=None, args=(), data_dir=None):
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
        self.proc = None
        self.log = os.path.join(self.tmp, "parkd.log")

    def start(self, wait=True):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([PARKD, "-c", self.path] + self.args,
                                     stdout=self.logf, stderr=self.logf)
        if wait:
            deadline = time.time() + 15
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("parkd exited %s:\n%s" % (self.proc.returncode, self.logtext()))
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError("parkd did not start:\n" + self.logtext())
        return self

    def logtext(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def client(self, timeout=10):
        return Client(self.port, timeout)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops parkd; returns its exit code (SIGKILL: -9)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
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

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.next_id = 1

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def read_line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
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

    def close(self):
        self.sock.close()
