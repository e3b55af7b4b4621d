"""The HTTP side (http.md): HTTP/1.1 keep-alive and pipelining, limits on
headers and slow clients, 405, and WebSocket clients at /ws driven by a real
client library (the `ws` package for Node.js, tests/js/ws_check.js), and a
JSON-RPC client library (`jayson`, tests/js/jayson_check.js) over TCP and /ws."""
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import time

from harness import (ROOT, Daemon, RawWS, demo_config, free_port, http_request, metrics,
                     recv_to_eof, until)

JS = os.path.join(ROOT, "tests", "js")


def with_http(cfg=None):
    """A daemon with http_listen on a free port; returns (daemon, http_port)."""
    d = Daemon(cfg or demo_config())
    port = free_port()
    d.cfg["http_listen"] = "127.0.0.1:%d" % port
    with open(d.path, "w") as f:
        json.dump(d.cfg, f)
    d.start()
    return d, port


def ws_check(scenario, http_port, env=None, timeout=60, tcp_port=None):
    """Runs one scenario of tests/js/ws_check.js; returns what it printed."""
    e = dict(os.environ)
    e.update(env or {})
    args = [str(http_port)] + ([str(tcp_port)] if tcp_port else [])
    p = subprocess.run(["node", os.path.join(JS, "ws_check.js"), scenario] + args,
                       capture_output=True, text=True, timeout=timeout, env=e, cwd=JS)
    out = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    assert p.returncode == 0, (p.returncode, out, p.stderr)
    return out


def test_keep_alive_serves_several_requests_on_one_connection():
    d, port = with_http()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for path, want in (("/healthz", 200), ("/metrics", 200), ("/nope", 404),
                           ("/", 200), ("/healthz", 200)):
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == want, (path, resp.status, body)
            assert resp.getheader("Connection") != "close"
        conn.request("GET", "/")
        resp = conn.getresponse()
        page = resp.read().decode()
        assert resp.getheader("Content-Type").startswith("text/html")
        assert "<script>" in page and "/ws" in page
        conn.close()
    finally:
        d.close()


def test_pipelined_requests_are_answered_in_order():
    d, port = with_http()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = recv_to_eof(s)
        s.close()
        codes = [int(part[:3]) for part in data.split(b"HTTP/1.1 ")[1:]
                 if part[:3].isdigit()]
        assert codes == [200, 404, 200], codes
    finally:
        d.close()


def read_responses(data):
    """The responses in data, parsed by their Content-Length:
    [(status, {lowercased header: value}, body)]."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, ("a truncated response", data)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        n = int(headers["content-length"])
        out.append((int(lines[0].split()[1]), headers, rest[:n]))
        data = rest[n:]
    return out


def test_nothing_after_a_closing_request_is_answered():
    """RFC 7230 6.6: after a request the server answers and then closes
    (Connection: close, HTTP/1.0 without keep-alive, 414, 426), a request
    pipelined behind it in the same packet is neither parsed nor answered,
    and the last response says Connection: close."""
    d, port = with_http()
    try:
        follow = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        for first, want in (
                (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200),
                (b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200),
                (b"GET /healthz HTTP/1.0\r\n\r\n", 200),
                (b"GET /nope HTTP/1.0\r\n\r\n", 404),
                (b"GET /" + b"x" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
                (b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 426)):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(first + follow)
            data = recv_to_eof(s)
            s.close()
            got = read_responses(data)
            assert [r[0] for r in got] == [want], (first[:40], [r[0] for r in got])
            assert got[0][1].get("connection") == "close", (first[:40], got[0][1])
        # Still serving.
        assert http_request(port, "/healthz")[0] == 200
    finally:
        d.close()


def test_connections_past_the_cap_are_closed_and_the_port_keeps_answering():
    """At most 64 plain HTTP connections (http.h): those past the cap are
    accepted only to be closed at once, several of them in one burst
    included, and the port answers again as soon as slots are free (a
    connection left unaccepted would have stopped libuv watching it)."""
    d, port = with_http()
    try:
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(64)]
        time.sleep(0.3)
        extra = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(8)]
        for s in extra:
            assert s.recv(100) == b"", "a connection past the cap was kept"
            s.close()
        for s in held:
            s.close()
        deadline = time.time() + 5
        while True:
            try:
                code, _ = http_request(port, "/healthz", timeout=2)
                break
            except OSError:
                assert time.time() < deadline, "the HTTP port answers no more"
        assert code == 200
    finally:
        d.close()


def test_oversized_headers_and_other_methods_are_refused():
    d, port = with_http()
    try:
        status, _ = http_request(port, "/metrics", headers={"X-Big": "a" * 20000})
        assert status == 431
        status, _ = http_request(port, "/metrics", method="POST")
        assert status == 405
        status, _ = http_request(port, "/" + "x" * 5000)
        assert status == 414
        # The daemon still answers after all that.
        assert http_request(port, "/healthz")[0] == 200
    finally:
        d.close()


def test_slow_request_is_closed():
    """A request that trickles in is cut off 5 s after its first byte."""
    d, port = with_http()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        t0 = time.time()
        closed = False
        try:
            for ch in b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Pad: " + b"a" * 100:
                s.sendall(bytes([ch]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        if not closed:
            s.settimeout(3)
            try:
                closed = s.recv(100) == b""
            except ConnectionResetError:
                closed = True
        assert closed, "a request trickling for %.1fs is still read" % (time.time() - t0)
        assert time.time() - t0 < 9
        s.close()
    finally:
        d.close()


def test_jayson_client_over_tcp_and_websocket():
    """A JSON-RPC client library as users of parkd would pick one: jayson,
    over the TCP port and over /ws, against the same state."""
    d, port = with_http()
    try:
        p = subprocess.run(["node", os.path.join(JS, "jayson_check.js"), str(d.port), str(port)],
                           capture_output=True, text=True, timeout=60, cwd=JS)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        out = json.loads(p.stdout.strip().splitlines()[-1])
        assert out["tcp_ping"] == "pong" and out["ws_ping"] == "pong", out
        ticket = out["tcp_entry"]["ticket"]
        assert out["tcp_entry"]["plate"] == "JAY 1", out
        assert out["tcp_unknown"]["code"] == -32601, out
        assert out["tcp_unknown"]["data"]["reason"] == "method_not_found", out
        assert out["tcp_bad_params"]["code"] == -32602, out
        byid = {r["id"]: r for r in out["tcp_batch"]}
        assert byid["b0"]["result"] == "pong", out
        assert byid["b1"]["result"]["ticket"] == ticket, out
        assert out["ws_locate"]["ticket"] == ticket, out
        assert out["ws_unknown"]["code"] == -32601, out
    finally:
        d.close()


def test_websocket_message_framed_as_a_tcp_line():
    """Each text message is one request exactly as a line on the TCP port
    (http.md, protocol.md 1): one trailing LF or CRLF is framing (and does
    not count towards max_line), and a message that is empty or only spaces
    and tabs is ignored, with no reply."""
    d, port = with_http(demo_config(limits={"max_line": 4096}))
    try:
        def replies(s, last_id):
            got = []
            while not got or got[-1].get("id") != last_id:
                op, payload = s.read_frame()
                assert op == 1, (op, payload, got)
                got.append(json.loads(payload))
            return [(m.get("id"), m.get("result", m.get("error"))) for m in got]
        s = RawWS(port)
        s.sock.sendall(b"".join(RawWS.frame(m) for m in (
            b"ping\n", b"ping\r\n", b"", b" \t ", b"\n", b"\r\n", b" \t\r\n",
            b'{"jsonrpc":"2.0","id":7,"method":"ping"}\n')))
        got = replies(s, 7)
        assert got == [(None, "pong"), (None, "pong"), (7, "pong")], got
        # A request of max_line bytes and its CRLF: as on the TCP port.
        req = b'{"jsonrpc":"2.0","id":8,"method":"ping"}'
        s.sock.sendall(RawWS.frame(req + b" " * (4096 - len(req)) + b"\r\n"))
        got = replies(s, 8)
        assert got == [(8, "pong")], got
        # Past max_line without the framing: line_too_long, as on the TCP
        # port, and the connection goes on; past twice max_line (what a
        # message may hold in memory) it is closed with 1009.
        s.sock.sendall(RawWS.frame(b"ping" + b" " * 4093 + b"\n") +
                       RawWS.frame(b'{"jsonrpc":"2.0","id":9,"method":"ping"}'))
        got = replies(s, 9)
        assert got[0][0] is None and got[0][1]["data"]["reason"] == "line_too_long", got
        assert got[1:] == [(9, "pong")], got
        assert metrics(port)["parkd_lines_too_long_total"] == 1
        s.sock.sendall(RawWS.frame(b"x" * (2 * 4096 + 3)))
        op, payload = s.read_frame()
        assert op == 8 and struct.unpack("!H", payload[:2])[0] == 1009, (op, payload)
        s.close()
    finally:
        d.close()


def test_websocket_basics_with_the_ws_library():
    d, port = with_http()
    try:
        out = ws_check("basics", port)
        assert out["protocol"] == "jsonrpc"
        assert out["ping"] == "pong"
        assert out["entry"]["plate"] == "WS 1"
        assert out["status"]["capacity"]["occupied"] == 1
        # The same state as the TCP port sees.
        c = d.client()
        assert c.ok("locate", plate="WS 1")["ticket"] == out["entry"]["ticket"]
        c.close()
    finally:
        d.close()


def test_websocket_bad_json_answered_and_socket_kept():
    d, port = with_http()
    try:
        out = ws_check("bad_json", port)
        assert out["err"]["error"]["data"]["reason"] == "parse_error"
        assert out["err"]["id"] is None
        assert out["ping"] == "pong"
    finally:
        d.close()


def test_websocket_limits_close_with_the_right_code():
    d, port = with_http(demo_config(limits={"max_line": 4096}))
    try:
        assert ws_check("too_big", port, env={"BIG": "10000"})["code"] == 1009
        assert ws_check("binary", port)["code"] == 1003
        assert ws_check("cross_origin", port)["opened"] is False
        # Still serving.
        assert ws_check("basics", port)["ping"] == "pong"
    finally:
        d.close()


def test_websocket_auth_as_on_the_tcp_port():
    cfg = demo_config(auth={"tokens": [{"token": "ops-ws-secret", "role": "operator"}]})
    d, port = with_http(cfg)
    try:
        out = ws_check("auth", port, env={"TOKEN": "ops-ws-secret"})
        assert out["before"]["error"]["data"]["reason"] == "auth_required"
        assert out["auth"]["role"] == "operator"
        assert out["after"]["total"] == 106
    finally:
        d.close()


def test_websocket_pipelined_in_order_through_pauses():
    d, port = with_http(demo_config(limits={"max_output": 65536, "rate_per_s": 0}))
    try:
        out = ws_check("pipelined", port)
        assert out == {"n": 2000, "ordered": True}, out
    finally:
        d.close()


def test_websocket_events_subscriber_gets_one_message_per_notification():
    """Over TCP a round of events goes as one write of many lines; a
    WebSocket has no lines: each notification stays its own message."""
    d, port = with_http(demo_config(limits={"rate_per_s": 0}))
    try:
        out = ws_check("events_burst", port, env={"N": "60"}, tcp_port=d.port)
        assert out == {"n": 60, "bad": 0, "ordered": True}, out
    finally:
        d.close()


def test_websocket_client_that_never_reads_is_dropped():
    cfg = demo_config(limits={"max_output": 65536, "rate_per_s": 0, "send_timeout_s": 2})
    d, port = with_http(cfg)
    try:
        out = ws_check("never_reads", port)
        assert out["closed"], out
        # The gate next to it was not slowed down (a functional bound, not a benchmark).
        assert out["worst_ping_ms"] < 1000, out
        assert "output not read in time" in d.logtext()
    finally:
        d.close()


# ---------------------------------------------------------------- shutdown

# How long a drain may last (server.c, the stop timer of server_shutdown).
DRAIN_TIMEOUT_S = 5


def hold_the_drain(d, port):
    """A TCP client that sends many requests and never reads: its replies
    stay queued in the daemon (a small receive window keeps the kernel from
    taking them), so at shutdown it drains until the drain timeout."""
    hog = d.client(rcvbuf=4096)
    hog.send_raw("help\n" * 1000)
    until(lambda: metrics(port)["parkd_output_queued_bytes"] > 1 << 20,
          what="replies queued for a client that does not read")
    return hog


def test_healthz_answers_503_while_clients_drain():
    """http.md: /healthz answers 503 with the reason while the daemon is
    stopping.  While a client that does not read holds the drain open after
    SIGTERM, /healthz on a new connection and on a keep-alive one opened
    before answers 503 "shutting down" and closes, /metrics still answers,
    a new WebSocket is refused; a WebSocket client drains as a TCP client
    does (nothing left to send: closed at once, with 1001); parkd exits 0
    when the drain times out."""
    d, port = with_http()
    hog = None
    signalled = False
    try:
        keep = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        keep.request("GET", "/healthz")
        resp = keep.getresponse()
        assert resp.status == 200, (resp.status, resp.read())
        resp.read()
        ws = RawWS(port)
        ws.send("ping")
        assert ws.recv()["result"] == "pong"
        hog = hold_the_drain(d, port)
        log_from = len(d.logtext())
        t0 = time.time()
        d.proc.send_signal(signal.SIGTERM)
        signalled = True
        d.wait_log("shutting down", start=log_from)

        keep.request("GET", "/healthz")
        resp = keep.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 503 and body["reason"] == "shutting down", (resp.status, body)
        assert body["status"] == "degraded", body
        assert resp.getheader("Connection") == "close"
        keep.close()
        code, text = http_request(port, "/healthz")
        assert code == 503 and json.loads(text)["reason"] == "shutting down", (code, text)
        code, text = http_request(port, "/metrics")
        assert code == 200 and "parkd_up 1" in text.splitlines(), (code, text[:200])
        assert http_request(port, "/ws")[0] == 503
        op, payload = ws.read_frame()
        assert op == 8 and struct.unpack("!H", payload[:2])[0] == 1001, (op, payload)
        assert ws.read_frame() == (None, b"")
        ws.close()
        # All that while, the client that does not read held the drain.
        assert d.proc.poll() is None, d.logtext()[-2000:]

        d.proc.wait(DRAIN_TIMEOUT_S + 5)
        took = time.time() - t0
        assert d.stop() == 0, d.logtext()[-2000:]
        assert DRAIN_TIMEOUT_S - 1 < took < DRAIN_TIMEOUT_S + 3, took
        assert "clients did not drain in time" in d.logtext()
        # The HTTP side closed with the rest.
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            assert False, "http_listen still accepts after the exit"
        except ConnectionRefusedError:
            pass
    finally:
        # Closing the client ends the drain; a second SIGTERM would kill.
        if hog is not None:
            hog.close()
        if signalled and d.proc is not None:
            d.proc.wait(DRAIN_TIMEOUT_S + 5)
        d.close()


def test_sigterm_exits_at_once_with_an_idle_keep_alive_connection():
    """With no client to drain, an idle keep-alive HTTP connection does not
    hold the exit back (systemd's stop must not wait for it): parkd closes
    it and exits 0 at once."""
    d, port = with_http()
    try:
        keep = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        keep.request("GET", "/metrics")
        resp = keep.getresponse()
        resp.read()
        assert resp.status == 200 and resp.getheader("Connection") != "close"
        t0 = time.time()
        assert d.stop(signal.SIGTERM) == 0, d.logtext()[-2000:]
        assert time.time() - t0 < 2, time.time() - t0
        keep.sock.settimeout(2)
        assert keep.sock.recv(1) == b""
        keep.close()
    finally:
        d.close()
