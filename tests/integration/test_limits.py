"""Limits and hostile clients (protocol.md section 1, config.md limits):
limits.max_line (exactly at, one over, a line of megabytes), max_output (a
client that never reads), rate_per_s/rate_burst, max_clients,
idle_timeout_s, half-close, random garbage, connection churn.  The daemon
must stay responsive to other clients throughout, and exit 0 at the end."""
import json
import os
import signal
import socket
import struct
import threading
import time

from harness import (SANITIZED, Daemon, Shared, assert_error, assert_result, demo_config,
                     free_port, http_request)

SHARED = Shared()

MAX_LINE = 1024


def small():
    """max_line 1024, max_output 64 KiB, send_timeout_s 2, no rate limit."""
    return SHARED.get("small", lambda: demo_config(limits={
        "max_line": MAX_LINE, "max_output": 65536, "rate_per_s": 0,
        "send_timeout_s": 2}))


def open_():
    """Default max_line and max_output, no rate limit."""
    return SHARED.get("open", lambda: demo_config(limits={"rate_per_s": 0}))


def ping_line(total, rid="x"):
    """A JSON-RPC ping of exactly `total` bytes (without the LF) whose string id
    pads it; the reply echoes the whole id, so the whole line was read."""
    head = '{"jsonrpc":"2.0","method":"ping","id":"'
    tail = '"}'
    pad = total - len(head) - len(tail)
    assert pad >= 1
    rid = (rid * pad)[:pad]
    return head + rid + tail, rid


def wait_connections(c, n, timeout=5):
    """Waits until health reports n connections (when it reports them)."""
    deadline = time.time() + timeout
    while True:
        h = assert_result(c.call("health"))
        if "connections" not in h or h["connections"] == n:
            return
        if time.time() > deadline:
            raise AssertionError("health: %r, want %d connections" % (h, n))
        time.sleep(0.05)


# ---------------------------------------------------------------- max_line

def test_line_of_exactly_max_line_is_accepted():
    c = small().client()
    line, rid = ping_line(MAX_LINE)
    assert len(line.encode()) == MAX_LINE
    assert assert_result(c.line(line), rid) == "pong"
    # The CR of a CRLF does not count.
    c.send_raw(line + "\r\n")
    assert assert_result(c.read_json(), rid) == "pong"
    # Inline, padded with spaces.
    assert assert_result(c.line("ping" + " " * (MAX_LINE - 4))) == "pong"
    # Sent in pieces, so that the daemon has to buffer it.
    b = (line + "\n").encode()
    for i in range(0, len(b), 300):
        c.send_raw(b[i:i + 300])
        time.sleep(0.02)
    assert assert_result(c.read_json(), rid) == "pong"
    c.close()


def test_line_over_max_line_is_line_too_long():
    c = small().client()
    line, _ = ping_line(MAX_LINE + 1)
    assert_error(c.line(line), "line_too_long", None)
    # The connection stays usable.
    assert assert_result(c.line('{"id":1,"method":"ping"}'), 1) == "pong"
    c.send_raw(line + "\r\n")
    assert_error(c.read_json(), "line_too_long", None)
    assert_error(c.line("ping" + " " * (MAX_LINE - 3)), "line_too_long", None)
    # In pieces, and followed by a good line in the same send.
    b = (line + "\n" + '{"id":2,"method":"ping"}\n').encode()
    for i in range(0, len(b), 300):
        c.send_raw(b[i:i + 300])
        time.sleep(0.02)
    assert_error(c.read_json(), "line_too_long", None)
    assert assert_result(c.read_json(), 2) == "pong"
    # Several too-long lines in one send: one error each, in order.
    c.send_raw((("x" * 3000) + "\n" + '{"id":3,"method":"ping"}\n') * 3)
    for _ in range(3):
        assert_error(c.read_json(), "line_too_long", None)
        assert assert_result(c.read_json(), 3) == "pong"
    assert c.no_data(0.2)
    c.close()


def test_line_of_megabytes_in_pieces():
    d = small()
    c = d.client()
    other = d.client()
    rss0 = d.rss_kb()
    piece = b"A" * 65536
    total = 8 << 20
    for i in range(total // len(piece)):
        c.send_raw(piece)
        if i % 32 == 0:
            # Other clients are served meanwhile.
            assert assert_result(other.line('{"id":%d,"method":"ping"}' % i), i) == "pong"
    c.send_raw(b'\n{"id":"after","method":"ping"}\n')
    assert_error(c.read_json(), "line_too_long", None)
    assert assert_result(c.read_json(), "after") == "pong"
    assert c.no_data(0.2)
    # The daemon never buffered the line (it is 8 MiB; allow some noise).
    grown = d.rss_kb() - rss0
    assert grown < 4096, "RSS grew by %d KiB" % grown
    c.close()
    other.close()


# ---------------------------------------------------------------- max_output

def test_client_that_never_reads_is_paused_then_closed():
    """A client whose replies pile up is not read from any more (its queue
    passed half of max_output), so it cannot grow parkd's memory, and once its
    output has not moved for send_timeout_s it is closed and counted."""
    d = small()
    other = d.client()
    wait_connections(other, 1)
    rss0 = d.rss_kb()
    # A small receive buffer, and never a recv(): replies pile up in parkd.
    c = d.client(rcvbuf=4096, timeout=3)
    chunk = b"help\n" * 1000                 # ~2 KB of reply for each 5 bytes
    sent = 0
    deadline = time.time() + 20
    while time.time() < deadline and sent < (64 << 20):
        try:
            c.sock.sendall(chunk)
            sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
        except socket.timeout:
            break                              # parkd stopped reading it
        t = time.time()
        assert assert_result(other.line('{"id":1,"method":"ping"}'), 1) == "pong"
        assert time.time() - t < 2, "the daemon stalled for %.1fs" % (time.time() - t)
    # Paused long before it could send 64 MB: what it sent sits in socket buffers.
    assert sent < (16 << 20), "parkd kept reading %d bytes" % sent
    # parkd closes it; other clients are fine and the connection is gone.
    wait_connections(other, 1, timeout=10)
    assert "output not read in time, closing" in d.logtext()
    assert assert_result(other.line('{"id":2,"method":"status"}'), 2)["capacity"]["total"] == 106
    grown = d.rss_kb() - rss0
    assert grown < (65536 if SANITIZED else 16384), "RSS grew by %d KiB" % grown
    c.close()
    other.close()


def test_pipelined_requests_through_many_pauses_all_answered_in_order():
    """5 000 requests sent without waiting while the replies (~3 MB, far more
    than max_output) are read: parkd pauses and resumes the client again and
    again, keeping what it had read, and answers every one, in order."""
    d = small()
    c = d.client(timeout=20, rcvbuf=4096)    # a small window: parkd must pause
    n = 5000
    data = "".join('{"id":%d,"method":"status"}\n' % i for i in range(n)).encode()

    def send():
        c.sock.sendall(data)

    th = threading.Thread(target=send)
    th.start()
    for i in range(n):
        assert assert_result(c.read_json(), i)["capacity"]["total"] == 106
    th.join()
    assert c.no_data(0.1)
    c.close()


def test_client_that_reads_slowly_but_within_max_output_is_served():
    """max_output bounds what is queued, not what is sent in total: a slow
    reader that never has more than ~25 KB outstanding gets ~150 KB of
    replies over time (max_output is 64 KiB)."""
    c = small().client(rcvbuf=4096)
    for rnd in range(6):
        c.send_raw('{"id":%d,"method":"status"}\n' % rnd * 40)   # ~40 x 600 bytes
        time.sleep(0.15)
        for _ in range(40):
            assert assert_result(c.read_json(), rnd)["capacity"]["total"] == 106
    assert c.no_data(0.1)
    c.close()


# ---------------------------------------------------------------- rate limit

def test_rate_limited():
    cfg = demo_config(limits={"rate_per_s": 5, "rate_burst": 3})
    with Daemon(cfg) as d:
        c = d.client()
        c.send_raw('{"id":1,"method":"ping"}\n{"id":2,"method":"ping"}\n{"id":3,"method":"ping"}\n'
                   '{"id":4,"method":"entry","params":{"gate":"north","plate":"RL 1","class":"car"}}\n'
                   '{"id":5,"method":"ping"}\n')
        for i in (1, 2, 3):
            assert assert_result(c.read_json(), i) == "pong"
        retry = []
        for i in (4, 5):
            e = assert_error(c.read_json(), "rate_limited", i)
            ms = e["data"]["retry_after_ms"]
            assert isinstance(ms, int) and 1 <= ms <= 1000 // 5 + 1, e
            retry.append(ms)
        assert c.no_data(0.05)
        # After retry_after_ms a token is there again.
        time.sleep(max(retry) / 1000.0 + 0.03)
        assert assert_result(c.line('{"id":6,"method":"ping"}'), 6) == "pong"
        time.sleep(0.25)
        # The rate-limited entry was not carried out.
        assert_error(c.line('{"id":7,"method":"locate","params":{"plate":"RL 1"}}'), "not_found", 7)
        time.sleep(0.25)
        assert assert_result(c.line("ping")) == "pong"
        c.close()


def test_rate_limited_answers_keep_ids_batches_and_notifications():
    """A refused line is still answered as protocol.md answers any: its
    ids echoed, a batch as one array, a notification not at all."""
    cfg = demo_config(limits={"rate_per_s": 1, "rate_burst": 1})
    with Daemon(cfg) as d:
        c = d.client()
        c.send_raw('{"id":"a","method":"ping"}\n'
                   '[{"id":8,"method":"ping"},{"method":"ping"},{"id":"x","method":"nope"}]\n'
                   '{"method":"ping"}\n'
                   '[{"method":"ping"}]\n'
                   'ping\n'
                   '{"id":9,"method":"ping"}\n')
        assert assert_result(c.read_json(), "a") == "pong"
        batch = c.read_json()
        assert [r["id"] for r in batch] == [8, "x"], batch
        for r in batch:
            assert_error(r, "rate_limited", r["id"])
        e = assert_error(c.read_json(), "rate_limited")     # inline: id null
        assert e["data"]["retry_after_ms"] >= 1, e
        assert_error(c.read_json(), "rate_limited", 9)
        assert c.no_data(0.1)
        c.close()


# ---------------------------------------------------------------- connections

def test_max_clients():
    cfg = demo_config(limits={"max_clients": 3})
    with Daemon(cfg) as d:
        cs = [d.client()]
        wait_connections(cs[0], 1)
        cs += [d.client(), d.client()]
        for c in cs:
            assert assert_result(c.line("ping")) == "pong"
        # The fourth gets one error line and is closed.
        extra = d.client()
        lines = extra.read_until_eof(5)
        assert len(lines) == 1, lines
        r = json.loads(lines[0])
        assert "error" in r and r["id"] is None and r["jsonrpc"] == "2.0", r
        assert isinstance(r["error"]["code"], int) and r["error"]["data"]["reason"], r
        extra.close()
        # The three are unaffected.
        for c in cs:
            assert assert_result(c.line("ping")) == "pong"
        # After one disconnects a new client is served.
        cs.pop().close()
        deadline = time.time() + 5
        while True:
            n = d.client()
            try:
                r = n.line('{"id":1,"method":"ping"}')
            except EOFError:
                r = None
            if r is not None and r.get("result") == "pong":
                break
            n.close()
            assert time.time() < deadline, "no slot after a client left: %r" % r
            time.sleep(0.05)
        assert assert_result(n.line("status"))["capacity"]["total"] == 106
        n.close()
        for c in cs:
            c.close()


def test_idle_timeout():
    cfg = demo_config(limits={"idle_timeout_s": 1})
    with Daemon(cfg) as d:
        idle = d.client()
        active = d.client()
        t0 = time.time()
        assert assert_result(idle.line("ping")) == "pong"
        assert idle.no_data(0.6), "closed before idle_timeout_s"
        # The active client keeps talking for 2.5 s and is kept.
        while time.time() - t0 < 2.5:
            assert assert_result(active.line("ping")) == "pong"
            time.sleep(0.2)
        idle.read_until_eof(3)                # closed by now, or within 3 s
        assert time.time() - t0 < 5.5
        assert assert_result(active.line("ping")) == "pong"
        active.close()
        idle.close()


def test_half_close_gets_every_reply_then_eof():
    """shutdown(SHUT_WR) right after the requests: every reply still comes,
    in order (state changes are answered only once durable), then EOF."""
    c = open_().client()
    reqs = []
    for i in range(300):
        if i % 3 == 0:
            reqs.append('{"jsonrpc":"2.0","id":%d,"method":"entry","params":'
                        '{"gate":"north","plate":"HC %d","class":"motorcycle"}}' % (i, i))
        elif i % 3 == 1:
            reqs.append('{"jsonrpc":"2.0","id":%d,"method":"ping"}' % i)
        else:
            reqs.append('{"jsonrpc":"2.0","id":%d,"method":"exit","params":'
                        '{"gate":"south","plate":"HC %d"}}' % (i, i - 2))
    reqs.append('[{"id":"b1","method":"ping"},{"method":"ping"},{"id":"b2","method":"status"}]')
    reqs.append('{"jsonrpc":"2.0","id":"last","method":"help"}')
    c.send_raw("\n".join(reqs) + "\n")
    c.sock.shutdown(socket.SHUT_WR)
    lines = c.read_until_eof(10)
    assert len(lines) == 302, len(lines)
    for i in range(300):
        r = assert_result(json.loads(lines[i]), i)
        if i % 3 == 0:
            assert r["plate"] == "HC %d" % i, r
        elif i % 3 == 1:
            assert r == "pong"
        else:
            assert r["plate"] == "HC %d" % (i - 2) and r["charged"] == 0, r
    b = json.loads(lines[300])
    assert [x["id"] for x in b] == ["b1", "b2"], b
    assert b[1]["result"]["capacity"]["occupied"] == 0, b
    assert assert_result(json.loads(lines[301]), "last")
    c.close()


def test_random_garbage_does_not_hurt():
    d = open_()
    g = d.client(timeout=30)
    other = d.client()
    data = os.urandom(1 << 20)
    replies = []
    failure = []

    def reader():
        try:
            while True:
                line = g.read_line()
                replies.append(line)
                if '"id":"end"' in line:
                    return
        except Exception as e:  # reported below
            failure.append(e)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(0, len(data), 16384):
        g.send_raw(data[i:i + 16384])
        if i % (16384 * 8) == 0:
            assert assert_result(other.line('{"id":%d,"method":"ping"}' % i), i) == "pong"
    g.send_raw(b'\n{"jsonrpc":"2.0","id":"end","method":"ping"}\n')
    t.join(30)
    assert not t.is_alive(), "no reply to the final ping"
    assert not failure, failure
    assert len(replies) > 1000, len(replies)   # ~4000 LFs in 1 MiB of random bytes
    # Every reply is one line of JSON (valid UTF-8), an error but the last.
    for line in replies[:-1]:
        r = json.loads(line)
        items = r if isinstance(r, list) else [r]
        for x in items:
            assert x.get("jsonrpc") == "2.0" and "error" in x, line[:300]
    assert assert_result(json.loads(replies[-1]), "end") == "pong"
    assert assert_result(other.line("health"))["status"] == "ok"
    g.close()
    other.close()


def test_connection_churn():
    d = open_()
    keep = d.client()
    wait_connections(keep, 1)
    for i in range(100):
        c = d.client()
        k = i % 4
        if k == 0:
            c.close()                                  # connect and go
        elif k == 1:
            c.send_raw("help\n" * 200)                 # leave replies unread
            c.close()
        elif k == 2:
            c.send_raw('{"id":1,"method":"pi')         # half a line
            c.close()
        else:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.send_raw("status\n" * 50)
            c.close()                                  # RST
    wait_connections(keep, 1)
    assert assert_result(keep.line("ping")) == "pong"
    keep.close()


def test_zz_shared_daemons_exit_cleanly():
    SHARED.close_all()


def test_sigterm_with_an_open_http_request_exits_cleanly():
    """SIGTERM while a /metrics request is half sent: the HTTP endpoint
    closes it and parkd exits 0 (the ASan build reports any use after
    free as a non-zero exit)."""
    cfg = demo_config()
    d = Daemon(cfg)
    port = free_port()
    try:
        d.cfg["http_listen"] = "127.0.0.1:%d" % port
        with open(d.path, "w") as f:
            json.dump(d.cfg, f)
        d.start()
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        time.sleep(0.2)
        assert d.stop(signal.SIGTERM) == 0, d.logtext()[-2000:]
        s.close()
    finally:
        d.close()


def test_metrics_and_healthz():
    """GET /metrics is Prometheus text that follows the state; /healthz
    answers 200 with the health JSON; other paths 404, other verbs 405."""
    d = Daemon(demo_config())
    port = free_port()
    try:
        d.cfg["http_listen"] = "127.0.0.1:%d" % port
        with open(d.path, "w") as f:
            json.dump(d.cfg, f)
        d.start()
        code, body = http_request(port, "/metrics")
        assert code == 200, (code, body)
        lines = set(body.splitlines())
        assert "parkd_up 1" in lines, body
        assert 'parkd_spots{state="free"} 106' in lines, body
        assert "# TYPE parkd_requests_total counter" in lines, body
        c = d.client()
        c.ok("entry", gate="north", plate="MET 1", **{"class": "car"})
        code, body = http_request(port, "/metrics")
        lines = set(body.splitlines())
        assert 'parkd_spots{state="occupied"} 1' in lines, body
        assert "parkd_vehicles_inside 1" in lines, body
        # LSN 1 is the new data directory's tariff, 2 the entry.
        assert any(l.startswith("parkd_journal_durable_lsn 2") for l in lines), body
        code, body = http_request(port, "/healthz")
        assert code == 200 and json.loads(body)["status"] == "ok", (code, body)
        assert http_request(port, "/nope")[0] == 404
        assert http_request(port, "/metrics", method="POST")[0] == 405
        c.close()
    finally:
        d.close()
