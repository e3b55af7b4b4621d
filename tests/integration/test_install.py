"""make install into a staging root, as README's "Deploy with systemd" does
on a real machine: the files and their modes, the unit with the paths of
its PREFIX, the example configuration never overwritten, make uninstall
removing only what install put there; the unit checked offline
(systemd-analyze verify, and security at or below 1.0); and the unit's own
ExecStart and ExecReload command lines run as systemd would run them (the
configuration as a credential, the edited copy on reload, READY and
RELOADING on a notify socket)."""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import ROOT, Client, assert_result, free_port
from test_ops import NotifySocket

MAX_EXPOSURE = 1.0


def make(*args, **env):
    e = dict(os.environ)
    e.update(env)
    r = subprocess.run(["make", "--no-print-directory", "-C", ROOT] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=e, timeout=300)
    out = r.stdout.decode()
    assert r.returncode == 0, out
    return out


def files(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = os.stat(p).st_mode & 0o7777
    return out


def unit_lines(path, key):
    with open(path) as f:
        return [l.split("=", 1)[1].strip() for l in f if l.startswith(key + "=")]


def test_install_and_uninstall_into_a_staging_root():
    stage = tempfile.mkdtemp(prefix="parkd-stage-")
    try:
        make("install", "DESTDIR=" + stage)
        got = files(stage)
        assert got == {
            "usr/local/bin/parkd": 0o755,
            "usr/local/lib/systemd/system/parkd.service": 0o644,
            "usr/local/share/doc/parkd/README.md": 0o644,
            "etc/parkd/parkd.json": 0o600,
        }, got
        unit = os.path.join(stage, "usr/local/lib/systemd/system/parkd.service")
        text = open(unit).read()
        assert not re.search(r"@[A-Z]+@", text), text
        # Documentation= names the README that was installed.
        doc = unit_lines(unit, "Documentation")[0]
        assert doc == "file:///usr/local/share/doc/parkd/README.md", doc
        assert os.path.exists(stage + doc[len("file://"):])
        assert unit_lines(unit, "LoadCredential") == ["parkd.json:/etc/parkd/parkd.json"]
        assert unit_lines(unit, "ExecStart")[0].startswith("/usr/local/bin/parkd ")
        # The shipped example is the demo configuration, and it checks.
        conf = os.path.join(stage, "etc/parkd/parkd.json")
        assert open(conf).read() == open(os.path.join(ROOT, "conf/parkd.json")).read()
        r = subprocess.run([os.path.join(stage, "usr/local/bin/parkd"), "--check-config", "-c", conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert r.returncode == 0, r.stdout
        # An operator's file is never overwritten.
        with open(conf, "a") as f:
            f.write("\n")
        out = make("install", "DESTDIR=" + stage)
        assert "exists: kept" in out, out
        assert open(conf).read().endswith("}\n\n")
        # Another PREFIX: every path in the unit follows it.
        other = tempfile.mkdtemp(prefix="parkd-stage-")
        try:
            make("install", "DESTDIR=" + other, "PREFIX=/opt/parkd", "SYSCONFDIR=/opt/parkd/etc")
            u2 = os.path.join(other, "opt/parkd/lib/systemd/system/parkd.service")
            assert unit_lines(u2, "ExecStart")[0].startswith("/opt/parkd/bin/parkd ")
            assert unit_lines(u2, "LoadCredential") == ["parkd.json:/opt/parkd/etc/parkd/parkd.json"]
            assert unit_lines(u2, "Documentation") == ["file:///opt/parkd/share/doc/parkd/README.md"]
            assert os.path.exists(os.path.join(other, "opt/parkd/etc/parkd/parkd.json"))
            make("uninstall", "DESTDIR=" + other, "PREFIX=/opt/parkd", "SYSCONFDIR=/opt/parkd/etc")
            # The unedited example goes too; only the directories install -d made stay.
            assert files(other) == {}, files(other)
        finally:
            shutil.rmtree(other, ignore_errors=True)
        # Uninstall: the edited configuration stays, nothing else of ours.
        out = make("uninstall", "DESTDIR=" + stage)
        assert "was edited: kept" in out, out
        assert files(stage) == {"etc/parkd/parkd.json": 0o600}, files(stage)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def test_unit_passes_systemd_analyze_offline():
    stage = tempfile.mkdtemp(prefix="parkd-stage-")
    try:
        # Installed with real paths under the staging directory, so that
        # verify finds the binary it names.
        make("install", "PREFIX=%s/usr/local" % stage, "SYSCONFDIR=%s/etc" % stage)
        unit = os.path.join(stage, "usr/local/lib/systemd/system/parkd.service")
        r = subprocess.run(["systemd-analyze", "verify", unit],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert r.returncode == 0 and r.stdout.strip() == b"", r.stdout.decode()
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", unit],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = r.stdout.decode()
        m = re.search(r"Overall exposure level for parkd.service: (\d+\.\d+)", out)
        assert m, out
        assert float(m.group(1)) <= MAX_EXPOSURE, out
        # The same bound as systemd enforces it (threshold in tenths).
        r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                            "--threshold=%d" % int(MAX_EXPOSURE * 10), unit],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert r.returncode == 0
        # What the hardening must leave parkd: the notify socket, TCP, fork.
        text = open(unit).read()
        assert "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" in text
        for want in ("PrivateUsers=yes", "PrivateMounts=yes", "ProcSubset=pid",
                     "SystemCallFilter=~@privileged @resources", "DynamicUser=yes"):
            assert want in text, want
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def systemd_words(line, env):
    """A unit's command line split and expanded the way systemd does for
    the variables used here (${VAR} and $VAR as a whole word)."""
    words = shlex.split(line)
    out = []
    for w in words:
        w = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], w)
        if w.startswith("$") and w[1:] in env:
            w = env[w[1:]]
        out.append(w)
    return out


def test_unit_command_lines_start_and_reload_parkd():
    """ExecStart and ExecReload of the installed unit, run as systemd runs
    them, with the paths of a staging root in place of /etc, /run and
    /var/lib."""
    stage = tempfile.mkdtemp(prefix="parkd-stage-")
    n = NotifySocket()
    proc = None
    try:
        make("install", "DESTDIR=" + stage)
        unit = os.path.join(stage, "usr/local/lib/systemd/system/parkd.service")
        etc = os.path.join(stage, "etc/parkd/parkd.json")
        port = free_port()
        cfg = json.load(open(etc))
        cfg.update(listen="127.0.0.1:%d" % port, http_listen=None)
        cfg["audit"]["redis"] = None
        with open(etc, "w") as f:
            json.dump(cfg, f)
        creds = os.path.join(stage, "run/credentials/parkd.service")
        run = os.path.join(stage, "run/parkd")
        state = os.path.join(stage, "var/lib/parkd")
        for d in (creds, run, state):
            os.makedirs(d)
        shutil.copy(etc, os.path.join(creds, "parkd.json"))  # LoadCredential=

        def paths(line):
            return (line.replace("/usr/local/bin/", stage + "/usr/local/bin/")
                    .replace("/etc/parkd/", stage + "/etc/parkd/")
                    .replace("/run/parkd", run).replace("/var/lib/parkd", state))

        env = {"CREDENTIALS_DIRECTORY": creds}
        start = systemd_words(paths(unit_lines(unit, "ExecStart")[0]), env)
        penv = dict(os.environ, NOTIFY_SOCKET=n.path, CREDENTIALS_DIRECTORY=creds)
        log = open(os.path.join(stage, "parkd.log"), "wb")
        proc = subprocess.Popen(start, stdout=log, stderr=log, env=penv)
        n.wait(lambda m: m == "READY=1")
        c = Client(port, 10)
        assert assert_result(c.line("strategy"))["strategy"] == "nearest"
        # The operator edits /etc/parkd/parkd.json and runs systemctl reload.
        cfg["strategy"] = "farthest"
        with open(etc, "w") as f:
            json.dump(cfg, f)
        env["MAINPID"] = str(proc.pid)
        for line in unit_lines(unit, "ExecReload"):
            assert line.startswith("+") or line.startswith("/bin/kill"), line
            words = systemd_words(paths(line.lstrip("+")), env)
            r = subprocess.run(words, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            assert r.returncode == 0, (words, r.stdout)
        # The copy is the service user's alone.
        assert os.stat(os.path.join(run, "reload.json")).st_mode & 0o777 == 0o600
        n.wait(lambda m: m.startswith("RELOADING=1\nMONOTONIC_USEC="))
        n.wait(lambda m: m.startswith("READY=1\nSTATUS=serving"))
        assert assert_result(c.line("strategy"))["strategy"] == "farthest"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        proc = None
        n.wait(lambda m: m == "STOPPING=1")
        text = open(os.path.join(stage, "parkd.log")).read()
        assert "config: reloaded file=%s/reload.json" % run in text, text
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        n.close()
        shutil.rmtree(stage, ignore_errors=True)
