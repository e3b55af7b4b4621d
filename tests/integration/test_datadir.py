"""One daemon per data directory (config.md, data_dir).

parkd holds flock(2) on data_dir/LOCK, which records its pid, for its
whole life (daemon/datadir.h).  The tests: a second daemon on the same
directory refuses to start, names the first one's pid and touches no file,
while the first keeps serving and loses nothing it acknowledged; the lock
dies with a SIGKILLed daemon; --check-config takes no lock; the snapshot
child neither frees the lock (its exit, or its closing of the daemon's
descriptors) nor keeps it once the daemon is dead.
"""
import os
import shutil
import signal
import tempfile
import threading
import time

from harness import Daemon, check_config
from test_durability import CAR, _bulk, _children, dur_config, start_refused, wait_orphans


def _files(data_dir):
    """{name: (size, mtime, inode)} of every file in data_dir."""
    out = {}
    for name in sorted(os.listdir(data_dir)):
        st = os.stat(os.path.join(data_dir, name))
        out[name] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def _lock_pid(data_dir):
    with open(os.path.join(data_dir, "LOCK")) as f:
        return f.read().strip()


def _assert_refused(d2, holder):
    """d2 (not started, on holder's data_dir) refuses to start, names
    holder's pid and leaves every file of the directory as it was."""
    before = _files(holder.data_dir)
    rc, out = start_refused(d2)
    assert rc not in (0, None), "exit %s: %s" % (rc, out)
    assert "pid %d" % holder.proc.pid in out, "the holder's pid is not named:\n" + out
    assert "data_dir" in out, out
    after = _files(holder.data_dir)
    assert after == before, "the refused daemon touched the data directory:\n%r\n%r" % (before, after)
    assert _lock_pid(holder.data_dir) == str(holder.proc.pid)


def _entries(c, prefix, n):
    return {"%s-%d" % (prefix, i): c.ok("entry", gate="north", plate="%s-%d" % (prefix, i), **CAR)["ticket"]
            for i in range(n)}


def _takes_over(d, acked):
    """Starts d on a dead daemon's directory: it records its own pid and
    knows every entry the dead one acknowledged ({plate: ticket})."""
    d.start()
    assert _lock_pid(d.data_dir) == str(d.proc.pid)
    c = d.client()
    for plate, ticket in sorted(acked.items()):
        assert c.ok("locate", plate=plate)["ticket"] == ticket, plate
    c.close()
    assert d.stop() == 0, d.logtext()[-3000:]


def test_second_daemon_refuses_and_the_lock_dies_with_the_first():
    d1 = Daemon(dur_config())
    d2 = Daemon(dur_config(), data_dir=d1.data_dir)
    try:
        d1.start()
        c = d1.client()
        acked = _entries(c, "LK", 20)
        _assert_refused(d2, d1)
        # The first daemon noticed nothing: it serves and journals on.
        assert c.ok("health")["journal"]["state"] == "ok"
        acked.update(_entries(c, "LK2", 20))
        c.close()
        d1.stop(signal.SIGKILL)
        wait_orphans(d1)
        # No clean-up ran, yet the next daemon starts: the lock died with d1.
        _takes_over(d2, acked)
    finally:
        d2.close()
        d1.close()


test_second_daemon_refuses_and_the_lock_dies_with_the_first.timeout = 60


def test_check_config_takes_no_lock():
    with Daemon(dur_config()) as d:
        cfg = dur_config()
        cfg["data_dir"] = d.data_dir
        # The daemon's own first record (its tariff) is on disk first.
        c = d.client()
        deadline = time.time() + 10
        while c.ok("health")["journal"]["durable_lsn"] < 1:
            assert time.time() < deadline, "the start record never became durable"
            time.sleep(0.02)
        before = _files(d.data_dir)
        rc, out = check_config(cfg)
        assert rc == 0, out
        assert _files(d.data_dir) == before
    # Nor does it create a missing data directory.
    tmp = tempfile.mkdtemp(prefix="parkd-lock-")
    try:
        cfg = dur_config()
        cfg["data_dir"] = missing = os.path.join(tmp, "data")
        rc, out = check_config(cfg)
        assert rc == 0, out
        assert not os.path.exists(missing)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _snapshot_child(d, timeout=20):
    """Waits for d's snapshot child to have its snapshot file open (it has
    closed the daemon's descriptors and set its death signal by then) and
    stops it there; returns its pid and the files it holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for kid in _children(d.proc.pid):
            try:
                held = [os.readlink("/proc/%d/fd/%s" % (kid, fd)) for fd in os.listdir("/proc/%d/fd" % kid)]
            except OSError:
                continue
            if any(os.path.basename(h).startswith("snapshot-") and h.endswith(".tmp") for h in held):
                os.kill(kid, signal.SIGSTOP)
                return kid, held
    raise AssertionError("no snapshot child was caught writing")


def _while_catching_child(d, fn):
    """Runs fn while another thread watches for d's snapshot child: a
    small snapshot can start and finish before fn returns."""
    caught = {}

    def watch():
        try:
            caught["kid"] = _snapshot_child(d)
        except AssertionError as e:
            caught["error"] = e

    t = threading.Thread(target=watch)
    t.start()
    out = fn()
    t.join()
    if "error" in caught:
        raise caught["error"]
    return out, caught["kid"]


def _gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _wait_gone(pid, timeout=10):
    deadline = time.time() + timeout
    while not _gone(pid):
        assert time.time() < deadline, "process %d still runs" % pid
        time.sleep(0.01)


def test_snapshot_child_neither_frees_nor_keeps_the_lock():
    pairs = 5000
    d1 = Daemon(dur_config(durability="write", snapshot_every=2 * pairs + 3))
    d2 = Daemon(dur_config(), data_dir=d1.data_dir)
    kids = []

    def snapshot_due(c, prefix):
        _bulk(c, ["entry gate=north plate=%s-%d class=car\nexit gate=south plate=%s-%d\n" % (prefix, i, prefix, i)
                  for i in range(pairs)])
        return _entries(c, prefix + "X", 5)

    try:
        d1.start()
        c = d1.client(timeout=60)
        acked, (kid, held) = _while_catching_child(d1, lambda: snapshot_due(c, "SA"))
        kids.append(kid)
        assert not [h for h in held if h.endswith("/LOCK")], "the snapshot child holds LOCK: %s" % held
        # A child alive (stopped mid-write) does not make the lock look free.
        _assert_refused(d2, d1)
        # Nor does its exit: it must not release the daemon's lock.
        os.kill(kid, signal.SIGCONT)
        deadline = time.time() + 30
        while c.ok("health")["journal"]["snapshots"] < 1:
            assert time.time() < deadline, "the snapshot was never committed"
            time.sleep(0.02)
        _assert_refused(d2, d1)
        # The daemon dies while a child is writing: the child goes with it,
        # and the lock is free at once (the child closed its copy).
        more, (kid, held) = _while_catching_child(d1, lambda: snapshot_due(c, "SB"))
        acked.update(more)
        kids.append(kid)
        c.close()
        d1.stop(signal.SIGKILL)
        _takes_over(d2, acked)
        _wait_gone(kid)
    finally:
        for kid in kids:
            if not _gone(kid):
                os.kill(kid, signal.SIGKILL)
        d2.close()
        d1.close()


test_snapshot_child_neither_frees_nor_keeps_the_lock.timeout = 120
