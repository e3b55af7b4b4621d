"""Hostile clients (issue 9): auth guessing that mixes in a valid token,
a flood of failing addresses, slow-loris lines, connections per address, the
rate limit against batches, all clients' output together, and `at` far in the
future.  Each of these held the daemon or let an attacker through before."""
import json
import socket
import time

from harness import Daemon, assert_error, assert_result, demo_config, fmt_time

TOKENS = {"tokens": [{"token": "gate-secret", "role": "gate", "gate": "north"},
                     {"token": "ops-secret", "role": "operator"}]}


def auth_batch(guesses):
    return json.dumps([{"jsonrpc": "2.0", "id": i, "method": "auth",
                        "params": {"token": g}} for i, g in enumerate(guesses)])


def test_valid_token_does_not_reset_the_failure_count():
    """Four wrong guesses, one right auth with the gate's token, over and
    over, on fresh connections: the address still ends up waiting, and a
    batch of 480 guesses is charged for every one of them."""
    with Daemon(demo_config(auth=TOKENS, limits={"rate_per_s": 0})) as d:
        limited = False
        for rnd in range(4):
            c = d.client()
            replies = c.line(auth_batch(["wrong-%d-%d" % (rnd, i) for i in range(4)]
                                        + ["gate-secret"]))
            reasons = [r.get("error", {}).get("data", {}).get("reason") for r in replies]
            c.close()
            if "rate_limited" in reasons:
                limited = True
                break
        assert limited, "alternating with a valid token was never limited"
        # A batch of 480 guesses: only the first few are even looked at.
        c = d.client()
        replies = c.line(auth_batch(["guess-%d" % i for i in range(480)]))
        forbidden = sum(1 for r in replies if r["error"]["data"]["reason"] == "forbidden")
        assert forbidden <= 5, "%d guesses were checked" % forbidden
        c.close()
        # The log sums failures up instead of writing one line each.
        time.sleep(0.2)
        lines = [l for l in d.logtext().splitlines() if "auth" in l]
        assert len(lines) < 10, "%d auth log lines" % len(lines)


def test_flood_of_failing_addresses_locks_nobody_else_out():
    """10 020 addresses fail once each (127.0.0.0/8 is all loopback); a new
    address with the operator's token is then served at once."""
    with Daemon(demo_config(auth=TOKENS, limits={"rate_per_s": 0})) as d:
        n = 10020
        socks = []
        for i in range(n):
            src = "127.%d.%d.%d" % (1 + i // 65536, (i // 256) % 256, 1 + i % 250)
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10,
                                         source_address=(src, 0))
            s.sendall(b'{"id":1,"method":"auth","params":{"token":"nope"}}\n')
            socks.append(s)
            if len(socks) == 200:
                for t in socks:
                    assert b"forbidden" in t.recv(4096)
                    t.close()
                socks = []
        for t in socks:
            assert b"forbidden" in t.recv(4096)
            t.close()
        c = d.client(source=("127.200.1.1", 0))
        assert c.ok("auth", token="ops-secret")["role"] == "operator"
        assert c.ok("status")["capacity"]["total"] == 106
        c.close()


def test_slow_loris_line_is_closed_after_line_timeout():
    """One byte a second never finishes a line: after line_timeout_s the
    connection is closed, though each byte would reset an idle timer."""
    with Daemon(demo_config(limits={"line_timeout_s": 1, "idle_timeout_s": 60})) as d:
        c = d.client()
        closed = False
        deadline = time.time() + 6
        while time.time() < deadline:
            try:
                c.send_raw(b"p")
                if c.sock.recv(1, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.3)
        assert closed, "a line started 6 s ago is still being read"
        assert "line not finished in time" in d.logtext()
        # A finished line in between keeps a connection alive.
        c2 = d.client()
        for _ in range(4):
            assert assert_result(c2.line("ping")) == "pong"
            time.sleep(0.4)
        c2.close()


def test_connections_per_address_are_limited():
    with Daemon(demo_config(limits={"max_clients_per_address": 3})) as d:
        # The harness's own probe of the port must be gone first.
        probe = d.client()
        while probe.ok("health")["connections"] != 1:
            time.sleep(0.05)
        probe.close()
        time.sleep(0.2)
        cs = [d.client() for _ in range(3)]
        for c in cs:
            assert assert_result(c.line("ping")) == "pong"
        extra = d.client()
        resp = json.loads(extra.read_line())
        assert_error(resp, "unavailable")
        assert "this address" in resp["error"]["message"]
        assert extra.read_until_eof() == []
        # Another address is served; a slot freed is a slot again.
        other = d.client(source=("127.0.0.2", 0))
        assert assert_result(other.line("ping")) == "pong"
        cs[0].close()
        time.sleep(0.2)
        again = d.client()
        assert assert_result(again.line("ping")) == "pong"
        for c in cs[1:] + [other, again]:
            c.close()


def test_rate_limit_counts_every_request_of_a_batch():
    """rate_per_s 10: a batch of 100 is answered, then the debt holds the
    next requests back for seconds, instead of 1 000 requests a second."""
    with Daemon(demo_config(limits={"rate_per_s": 10, "rate_burst": 10})) as d:
        c = d.client()
        batch = json.dumps([{"id": i, "method": "status"} for i in range(100)])
        replies = c.line(batch)
        assert len(replies) == 100
        resp = c.line('{"id":"next","method":"ping"}')
        assert_error(resp, "rate_limited", "next")   # refused, its id echoed
        assert resp["error"]["data"]["retry_after_ms"] >= 5000
        served = 0
        t0 = time.time()
        while time.time() - t0 < 1.0:
            if "result" in c.line('{"id":1,"method":"ping"}'):
                served += 1
        assert served == 0, "%d served while in debt" % served
        c.close()


def test_all_clients_output_is_bounded_together():
    """max_output_total 1 MiB with clients that never read: the largest
    queues are closed until all of them together fit."""
    cfg = demo_config(limits={"rate_per_s": 0, "max_output": 2 << 20,
                              "max_output_total": 1 << 20, "send_timeout_s": 0})
    with Daemon(cfg) as d:
        other = d.client()
        hogs = [d.client(rcvbuf=4096, timeout=2) for _ in range(6)]
        chunk = b"help\n" * 2000
        for _ in range(10):
            for h in hogs:
                try:
                    h.sock.sendall(chunk)
                except (socket.timeout, BrokenPipeError, ConnectionResetError):
                    pass
        deadline = time.time() + 10
        while "max_output_total" not in d.logtext() and time.time() < deadline:
            time.sleep(0.1)
        assert "max_output_total" in d.logtext()
        assert assert_result(other.line("ping")) == "pong"
        for h in hogs:
            h.close()
        other.close()


def test_change_far_in_the_future_is_refused():
    """An operator's entry in the year 9999 would leave its spot stuck; an
    `at` more than max_future_s ahead is refused on changes, while a quote
    may still look ahead."""
    with Daemon(demo_config(limits={"max_future_s": 3600})) as d:
        c = d.client()
        far = fmt_time(time.time() + 2 * 3600)
        resp = c.call("entry", gate="north", plate="FUT1", **{"class": "car"}, at=far)
        assert_error(resp, "invalid_params")
        assert "max_future_s" in resp["error"]["message"]
        resp = c.call("entry", gate="north", plate="FUT1", **{"class": "car"},
                      at="9999-12-31T23:00:00Z")
        assert_error(resp, "invalid_params")
        # Within the limit it is taken; a quote may look further ahead.
        near = fmt_time(time.time() + 600)
        t = c.ok("entry", gate="north", plate="FUT1", **{"class": "car"}, at=near)
        q = c.ok("quote", ticket=t["ticket"], at=fmt_time(time.time() + 5 * 86400))
        assert q["due"] > 0
        c.close()
