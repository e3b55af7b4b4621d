"""The open-file limit.

With an open-file limit below limits.max_clients, libuv accepts and closes
the connections it has no descriptor for without telling parkd: the client
sees its connection closed, and nothing is logged or counted.  parkd raises
its soft limit to the hard limit at start; when that is still too low it
says so in the log (naming both numbers) and serves only as many clients as
the limit leaves room for, refusing the rest with a line, counted in health
and /metrics.
"""
import json
import re
import resource
import time

from harness import Daemon, assert_error, demo_config


def nofile(soft, hard):
    """A preexec_fn that sets parkd's RLIMIT_NOFILE."""
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return set_limit


def limits_of(pid):
    """(soft, hard) open-file limit of a running process."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open-file limit in /proc/%d/limits" % pid)


def connect_and_ping(d, n):
    """Opens n connections one after another, each sending a ping.
    Returns (open clients that got pong, error replies, connections closed
    without a word)."""
    served, refused, silent = [], [], 0
    for i in range(n):
        c = d.client(timeout=5)
        try:
            c.send_raw('{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % i)
            r = json.loads(c.read_line())
        except (EOFError, ConnectionResetError, BrokenPipeError):
            silent += 1
            c.close()
            continue
        if "result" in r:
            served.append(c)
        else:
            refused.append(r)
            c.close()
    return served, refused, silent


def test_fd_limit_below_max_clients_warned_and_refusals_counted():
    cfg = demo_config(limits={"max_clients": 1000, "rate_per_s": 0})
    with Daemon(cfg, preexec_fn=nofile(64, 64)) as d:
        log = d.logtext()
        m = re.search(r"open-file limit is below limits.max_clients .* nofile=64 "
                      r"max_clients=1000 own=\d+ serving=(\d+)", log)
        assert m, "no warning about the open-file limit at start:\n" + log
        fit = int(m.group(1))
        assert 0 < fit < 64, m.group(0)

        served, refused, silent = connect_and_ping(d, 100)
        assert silent == 0, "%d of 100 connections were closed without a word " \
            "(%d served, %d refused)" % (silent, len(served), len(refused))
        assert len(served) == fit, (len(served), fit)
        assert len(refused) == 100 - fit, len(refused)
        for r in refused:
            assert_error(r, "unavailable")
            assert "too many clients" in r["error"]["message"], r

        # The clients that got in are still served.
        for c in served:
            assert c.ok("ping") == "pong"
        h = served[0].ok("health")
        assert h["connections"] == fit, h
        assert h["connections_refused"] == 100 - fit, h
        assert h["accept_errors"] == 0, h

        # Room again once some leave (and parkd has seen them go).
        for c in served[:5]:
            c.close()
        deadline = time.time() + 5
        while served[5].ok("health")["connections"] > fit - 5:
            assert time.time() < deadline, "parkd did not see 5 clients leave"
            time.sleep(0.02)
        more, refused2, silent2 = connect_and_ping(d, 5)
        assert len(more) == 5 and not refused2 and silent2 == 0, (len(more), refused2, silent2)
        for c in served[5:] + more:
            c.close()


def test_soft_fd_limit_raised_to_hard():
    cfg = demo_config(limits={"max_clients": 1000, "rate_per_s": 0})
    with Daemon(cfg, preexec_fn=nofile(64, 4096)) as d:
        assert limits_of(d.proc.pid) == (4096, 4096), limits_of(d.proc.pid)
        assert "open-file limit" not in d.logtext(), d.logtext()
        served, refused, silent = connect_and_ping(d, 100)
        assert (len(served), len(refused), silent) == (100, 0, 0), \
            (len(served), refused[:2], silent)
        assert served[0].ok("health")["connections_refused"] == 0
        for c in served:
            c.close()
