"""The live map (http.md "The live map") in a real browser: headless
Chromium driven by puppeteer-core (tests/js/map_check.js) against parkd's
GET / and /ws, while this side makes the changes over TCP and restarts the
daemon.  Screenshots go to build/artifacts/."""
import json
import os
import subprocess
import time

from harness import ROOT, Daemon, demo_config, free_port, small_config

JS = os.path.join(ROOT, "tests", "js")
ARTIFACTS = os.path.join(ROOT, "build", "artifacts")


def with_http(cfg):
    """A started daemon with http_listen on a free port; (daemon, port)."""
    d = Daemon(cfg)
    port = free_port()
    d.cfg["http_listen"] = "127.0.0.1:%d" % port
    with open(d.path, "w") as f:
        json.dump(d.cfg, f)
    d.start()
    return d, port


class Helper:
    """Does what map_check.js asks for, over TCP."""

    def __init__(self, d, token=None):
        self.d = d
        self.token = token
        self.c = None
        self.connect()

    def connect(self):
        self.c = self.d.client()
        if self.token:
            self.c.ok("auth", token=self.token)

    def handle(self, ask):
        t0 = time.time()
        what = ask["do"]
        if what == "entry":
            r = self.c.ok("entry", gate=ask["gate"], plate=ask["plate"], **{"class": ask["class"]})
        elif what == "exit":
            r = self.c.ok("exit", gate=ask["gate"], plate=ask["plate"])
        elif what == "spot":
            r = self.c.ok("spot", id=ask["id"], state=ask["state"])
        elif what == "entries":
            # Pipelined on one connection, as a busy entry lane would.
            ids = [self.c.request("entry", {"gate": "north", "plate": "%s%d" % (ask["prefix"], i),
                                            "class": "car"}) for i in range(ask["n"])]
            last = None
            for rid in ids:
                resp = self.c.read_json()
                assert resp["id"] == rid and "result" in resp, resp
                last = resp["result"]["spots"][0]["id"]
            r = {"last": last}
        elif what == "restart":
            self.c.close()
            assert self.d.stop() == 0, self.d.logtext()[-3000:]
            time.sleep(ask.get("down_ms", 0) / 1000)
            self.d.start()
            self.connect()
            r = {}
        else:
            raise AssertionError("unknown ask %r" % ask)
        r = dict(r)
        r["ms"] = round((time.time() - t0) * 1000, 1)
        return r

    def close(self):
        self.c.close()


def run_browser(scenario, d, port, helper, timeout=60):
    """Runs one scenario of map_check.js, answering its asks; returns its result."""
    env = dict(os.environ)
    p = subprocess.Popen(["node", os.path.join(JS, "map_check.js"), scenario, str(port), ARTIFACTS],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=JS, env=env)
    last = None
    try:
        for line in p.stdout:
            msg = json.loads(line)
            if "ask" not in msg:
                last = msg
                break
            p.stdin.write(json.dumps(helper.handle(msg["ask"])) + "\n")
            p.stdin.flush()
        p.wait(timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read()
    assert last is not None, "map_check.js printed nothing (exit %s): %s" % (p.returncode, err[-3000:])
    assert "result" in last and p.returncode == 0, "%s\n%s" % (last.get("error"), err[-3000:])
    return last["result"]


def test_map_in_a_browser():
    """Load, an entry seen within a second (counts and canvas), hover,
    live plate search, out of service, exit, ticker, today's counts, a
    restart on the same ports, no foreign requests, no console errors."""
    d, port = with_http(demo_config())
    helper = Helper(d)
    try:
        out = run_browser("demo", d, port, helper)
        assert out["facility"] == "Demo Garage"
        assert out["title"].startswith("Demo Garage")
        assert (out["free"], out["total"]) == (106, 106)
        assert out["levels"] == ["0", "1"]
        assert "regular" in out["countsTable"] and "40/40" in out["countsTable"]
        assert out["entry"]["pageMs"] < 1000, out["entry"]
        assert out["freeAfterEntry"] == 105
        assert out["matches"].startswith("2 ") and out["matchesLive"].startswith("3 ")
        # 4 in, 1 out, A-05 out of service.
        assert out["localFree"] == out["serverFree"] == 106 - 4 + 1 - 1, (out["localFree"], out["serverFree"])
        assert "since" in out["todayNote"]
        assert out["whileDown"].startswith("reconnecting"), out["whileDown"]
        assert out["refusedWhileDown"] >= 1
        assert all(u.startswith("http://127.0.0.1:%d/" % port) or u.startswith("ws://127.0.0.1:%d/" % port)
                   for u in out["requests"]), out["requests"]
        for s in out["shots"]:
            assert os.path.getsize(s) > 10000, s
        print("    map: entry drawn %d ms after the TCP request (TCP reply %s ms); "
              "reconnected %d ms after the restart was asked (%d refused attempts meanwhile); "
              "next entry drawn in %d ms"
              % (out["entry"]["pageMs"], out["entry"]["tcpReplyMs"], out["reconnectMs"],
                 out["refusedWhileDown"], out["afterRestartMs"]))
    finally:
        helper.close()
        d.close()


test_map_in_a_browser.timeout = 90


def test_map_asks_for_a_token():
    tokens = {"tokens": [{"token": "ops-secret", "role": "operator"},
                         {"token": "kiosk-secret", "role": "kiosk"}]}
    d, port = with_http(demo_config(auth=tokens))
    helper = Helper(d, token="ops-secret")
    try:
        out = run_browser("token", d, port, helper)
        assert out["askedBeforeToken"]
        assert out["refused"]
        assert out["eventsLive"] is True
        assert out["formAfterReload"] == "none"
        assert out["kioskEventsLive"] is False and "counts only" in out["conn"]
        assert out["kioskMs"] < 1000
    finally:
        helper.close()
        d.close()


test_map_asks_for_a_token.timeout = 60


def test_map_at_ten_thousand_spots():
    """4 levels x 25 rows x 100 spots: the time to draw, and to apply and
    draw 100 entries (reported, not bounded beyond generous limits)."""
    rows = [{"level": lv, "zone": "L%dR%02d" % (lv, r), "type": "regular" if r % 5 else "compact",
             "count": 100, "x": 0, "y": 6 * r, "dx": 2.5, "dy": 0,
             **({"tags": ["ev"]} if r == 1 else {})}
            for lv in range(4) for r in range(25)]
    gates = [{"id": "north", "role": "entry", "level": 0, "x": 0, "y": -5},
             {"id": "south", "role": "exit", "level": 0, "x": 250, "y": -5}]
    cfg = small_config(rows, gates=gates, durability="none", limits={"rate_per_s": 0})
    d, port = with_http(cfg)
    helper = Helper(d)
    try:
        out = run_browser("big", d, port, helper)
        assert out["spots"] == 10000
        assert out["free"] == 9900
        ev = out["hundredEvents"]
        print("    map at 10 000 spots: layout read in %.0f ms, first full draw %.1f ms, full redraws %s ms; "
              "100 entries: TCP %s ms, last event in the page at %.0f ms, last spot drawn at %.0f ms "
              "(seen by the test at %d ms), applying %.1f ms, drawing %.1f ms in %d frames (%d spot redraws)"
              % (out["layoutMs"], out["firstFullDrawMs"], [round(x, 1) for x in out["fullRedrawMs"]],
                 ev["tcpMs"], ev["lastEventMs"], ev["lastDrawnMs"], ev["wallMs"], ev["applyMs"],
                 ev["drawMs"], ev["frames"], ev["spotsRedrawn"]))
    finally:
        helper.close()
        d.close()


test_map_at_ten_thousand_spots.timeout = 60
