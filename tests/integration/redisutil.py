"""Redis for the audit tests: a redis-server process on a free port in a
temporary directory (stopped by its pid), and a tiny RESP2 client.
Standard library only: there is no Python redis module here."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import free_port

REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")


class RespError(Exception):
    """An error reply (-ERR ..., -NOAUTH ..., ...)."""


class Resp:
    """One blocking RESP2 connection.  command() returns str (bulk and
    simple strings, decoded as UTF-8), int, None or a list; error replies
    raise RespError."""

    def __init__(self, port, password=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        if password is not None:
            self.command("AUTH", password)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("redis closed the connection")
            self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("redis closed the connection")
            self.buf += chunk

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            self._fill(n + 2)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._reply() for _ in range(n)]
        raise ValueError("bad RESP line %r" % line)

    def command(self, *args):
        self.sock.sendall(self.encode(args))
        r = self._reply()
        if isinstance(r, RespError):
            raise r
        return r

    def pipeline(self, cmds):
        """Sends every command, then reads every reply (errors are returned
        as RespError objects, not raised)."""
        if not cmds:
            return []
        self.sock.sendall(b"".join(self.encode(c) for c in cmds))
        return [self._reply() for _ in cmds]

    def scan_keys(self, match="*"):
        keys, cursor = set(), "0"
        while True:
            cursor, batch = self.command("SCAN", cursor, "MATCH", match, "COUNT", 1000)
            keys.update(batch)
            if cursor == "0":
                return keys


class RedisServer:
    """redis-server on a free loopback port with its own --dir.  start()
    waits until it answers PING; stop() kills it by pid; start() again
    reuses the port and the directory (with appendonly the data survives)."""

    def __init__(self, appendonly=False, password=None, port=None):
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="parkd-redis-")
        self.appendonly = appendonly
        self.password = password
        self.proc = None
        self.log = os.path.join(self.tmp, "redis.log")
        self.paused = False

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=10):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "yes" if self.appendonly else "no",
                "--dir", self.tmp, "--daemonize", "no", "--logfile", self.log,
                "--protected-mode", "no"]
        if self.appendonly:
            args += ["--appendfsync", "always"]
        if self.password is not None:
            args += ["--requirepass", self.password]
        deadline = time.time() + timeout
        while True:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with self.client() as r:
                        if r.command("PING") == "PONG":
                            return self
                except (OSError, EOFError, RespError):
                    time.sleep(0.02)
            # The port may still be held by the previous instance: retry.
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if time.time() >= deadline:
                raise RuntimeError("redis-server did not start on %d:\n%s"
                                   % (self.port, self.logtext()[-2000:]))
            time.sleep(0.1)

    def logtext(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def client(self, timeout=10):
        return Resp(self.port, self.password, timeout)

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self, sig=signal.SIGKILL):
        """Kills the server by its pid and waits for it."""
        if self.proc is None:
            return
        if self.paused:
            self.resume()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------
# Reading parkd's audit layout (protocol.md section 8).

class AuditDump:
    """Everything parkd stored under a prefix: events (id -> JSON text and
    parsed), refs (id -> int), lists (subject -> [ids]), subjects (set),
    stream ([(entry id, event JSON text)]), and the other keys."""

    def __init__(self, r, prefix="parkd:"):
        self.prefix = prefix
        keys = r.scan_keys(prefix + "*")
        self.events, self.parsed, self.refs, self.lists = {}, {}, {}, {}
        self.subjects, self.stream, self.other = set(), [], set()
        ev_keys, ref_keys, list_keys = [], [], []
        for k in keys:
            rest = k[len(prefix):]
            if rest.startswith("audit:") and rest.endswith(":ref"):
                ref_keys.append(k)
            elif rest.startswith("audit:") and rest.count(":") == 1 and rest != "audit:shipped":
                ev_keys.append(k)
            elif rest.startswith("subject:"):
                list_keys.append(k)
            elif rest in ("subjects", "events"):
                pass
            else:
                self.other.add(k)
        import json
        for k, v in zip(ev_keys, r.pipeline([("GET", k) for k in ev_keys])):
            i = k[len(prefix) + len("audit:"):]
            self.events[i] = v
            self.parsed[i] = json.loads(v)
        for k, v in zip(ref_keys, r.pipeline([("GET", k) for k in ref_keys])):
            self.refs[k[len(prefix) + len("audit:"):-len(":ref")]] = int(v)
        for k, v in zip(list_keys, r.pipeline([("LRANGE", k, 0, -1) for k in list_keys])):
            self.lists[k[len(prefix) + len("subject:"):]] = v
        self.subjects = set(r.command("SMEMBERS", prefix + "subjects") or [])
        if r.command("EXISTS", prefix + "events"):
            for eid, fields in r.command("XRANGE", prefix + "events", "-", "+"):
                f = dict(zip(fields[::2], fields[1::2]))
                self.stream.append((eid, f.get("event"), fields))
        self.types = {k: r.command("TYPE", k) for k in keys}

    def stream_ids(self):
        import json
        return [json.loads(e)["id"] for _, e, _ in self.stream]

    def all_text(self):
        """Every value stored under the prefix, as one string."""
        parts = list(self.events.values())
        parts += [" ".join(v) for v in self.lists.values()]
        parts += list(self.subjects)
        parts += [e or "" for _, e, _ in self.stream]
        return "\n".join(parts)
