"""Wire-protocol tests (protocol.md sections 1-3, 5, 7): JSON-RPC framing,
ids, batches, notifications, inline commands, every error reason of the
protocol layer, and roles with auth.tokens.

Two daemons are shared by the tests of this module: the demo garage in
protected mode (every loopback client is an operator) and the demo garage
with auth tokens.  test_zz_shared_daemons_exit_cleanly stops them last and
fails on a non-zero exit code (which is how sanitizer reports show up)."""
import json
import socket

from harness import (Daemon, Shared, assert_error, assert_result, demo_config, UUID7_RE)

SHARED = Shared()

TOKENS = [
    {"token": "gate-north-secret", "role": "gate", "gate": "north"},
    {"token": "gate-any-secret", "role": "gate"},
    {"token": "kiosk-secret-1", "role": "kiosk"},
    {"token": "ops-secret-123", "role": "operator"},
]


def demo():
    return SHARED.get("demo")


def authd():
    return SHARED.get("auth", lambda: demo_config(auth={"tokens": TOKENS}))


def jline(c, obj):
    """Sends obj as one JSON line and returns the parsed reply."""
    return c.line(json.dumps(obj))


# ---------------------------------------------------------------- basics

def test_ping_json_and_inline():
    c = demo().client()
    assert assert_result(jline(c, {"jsonrpc": "2.0", "id": 1, "method": "ping"}), 1) == "pong"
    # "jsonrpc" may be left out of a request; the response still carries it.
    assert assert_result(jline(c, {"id": 2, "method": "ping"}), 2) == "pong"
    # Inline: the same response object, with "id": null.
    assert assert_result(c.line("ping"), None) == "pong"
    assert assert_result(c.line("   ping   "), None) == "pong"
    c.close()


def test_ids_are_echoed_exactly():
    c = demo().client()
    for raw, want in [('"abc"', "abc"), ('""', ""), ("0", 0), ("-17", -17), ("1.5", 1.5),
                      ('"\\u00e9t\\u00e9"', "\u00e9t\u00e9"), ('"a\\"b"', 'a"b'),
                      # Beyond 2^53: an id re-encoded through a double would change.
                      ("9007199254740993", 9007199254740993)]:
        r = c.line('{"jsonrpc":"2.0","id":%s,"method":"ping"}' % raw)
        assert assert_result(r, want) == "pong", (raw, r)
    c.close()


def test_every_reply_is_one_json_line():
    c = demo().client()
    c.send_raw(b'{"id":1,"method":"help"}\n{"id":2,"method":"status"}\n{"id":3,"method":"tariff"}\n')
    for i in (1, 2, 3):
        line = c.read_line()
        assert "\n" not in line and "\r" not in line
        assert assert_result(json.loads(line), i) is not None
    # Error messages that quote what the client sent stay one line of valid
    # UTF-8 JSON (read_line decodes strictly).
    for raw in ['{"id":4,"method":"ping","params":{"a\\nb\\"c\\u0001\\r":1}}',
                '{"id":4,"method":"ping","params":{"%s":1}}' % ("\u00e9" * 100),
                '{"id":4,"method":"ping","params":{"%s":1}}' % ("\U0001F697" * 30),
                "ping %s=1" % ("\u00e9" * 50),
                "%s x=1" % ("\U0001F697" * 30),
                "ping x=%s" % ("[\"" + "\u00e9" * 50)]:
        c.send_raw(raw.encode() + b"\n")
        r = json.loads(c.read_line())
        assert "error" in r and r["id"] in (4, None), r
        assert r["error"]["data"]["reason"] in ("invalid_params", "method_not_found"), r
    c.close()


IMPLEMENTED = ["ping", "help", "auth", "health", "entry", "exit", "quote", "pay", "lost",
               "locate", "ticket", "status", "spot", "strategy", "tariff"]


def help_entries(result):
    """[(name, usage)] from a help result: a list of methods with usage."""
    items = result["methods"] if isinstance(result, dict) else result
    assert isinstance(items, list) and items, result
    out = []
    for it in items:
        if isinstance(it, dict):
            name = it.get("method", it.get("name"))
            usage = it.get("usage")
        else:
            name, usage = it.split()[0], it
        out.append((name, usage))
    return out


def test_help_lists_methods_with_usage():
    c = demo().client()
    for r in (jline(c, {"id": 1, "method": "help"}), c.line("help")):
        entries = help_entries(assert_result(r))
        names = [n for n, _ in entries]
        for m in IMPLEMENTED:
            assert m in names, (m, names)
        assert len(names) == len(set(names)), names
        for n, usage in entries:
            assert isinstance(usage, str) and usage.strip(), (n, usage)
            assert "\n" not in usage, usage        # one line of usage each
            assert n in usage, (n, usage)
    c.close()


def test_help_for_one_method():
    c = demo().client()
    for m in ("entry", "pay", "ping"):
        r = assert_result(jline(c, {"id": 1, "method": "help", "params": {"method": m}}))
        assert json.dumps(r).count(m) >= 1, r
        assert "usage" in r and m in r["usage"], r
        assert r.get("method", m) == m, r
    r = assert_result(c.line('help method="quote"'))
    assert "quote" in r["usage"]
    # Help on a method that does not exist is an error, not a result.
    r = jline(c, {"id": 2, "method": "help", "params": {"method": "no_such_method"}})
    assert "error" in r and r["id"] == 2, r
    assert_error(jline(c, {"id": 3, "method": "help", "params": {"method": 5}}), "invalid_params", 3)
    c.close()


def test_health():
    c = demo().client()
    h = assert_result(jline(c, {"id": 1, "method": "health"}), 1)
    assert h["status"] == "ok", h
    assert isinstance(h["version"], str) and h["version"], h
    assert isinstance(h["uptime_s"], int) and h["uptime_s"] >= 0, h
    assert "journal" in h, h
    assert isinstance(h["audit"], dict), h
    assert isinstance(h["audit"]["state"], str), h
    assert isinstance(h["audit"]["pending"], int) and h["audit"]["pending"] >= 0, h
    c.close()


# ---------------------------------------------------------------- errors

def test_parse_error():
    c = demo().client()
    for bad in ['{"id":1,', '{"id":1,"method":"ping"', '{"id":1 "method":"ping"}',
                '{"id":1,"method":"ping",}', "{'id':1,'method':'ping'}",
                '{"id":01,"method":"ping"}', '{"id":1,"method":"ping"} x',
                '{"id":1,"method":"ping"}{"id":2,"method":"ping"}',
                '{"id":1,"method":"p\\qng"}', '{"id":NaN,"method":"ping"}',
                '[{"id":1,"method":"ping"},', '{"id":1,"method":"ping","params":{"a":"\\ud800"}}']:
        r = c.line(bad)
        assert_error(r, "parse_error", None)
    # Still usable afterwards.
    assert assert_result(c.line('{"id":9,"method":"ping"}'), 9) == "pong"
    c.close()


def test_invalid_request():
    c = demo().client()
    # An empty batch.
    assert_error(c.line("[]"), "invalid_request", None)
    assert_error(c.line("  [ ]  "), "invalid_request", None)
    # "jsonrpc" other than "2.0": the id is still echoed.
    for v in ['"1.0"', "2.0", '"2"', "null", '"2.0 "']:
        assert_error(c.line('{"jsonrpc":%s,"id":3,"method":"ping"}' % v), "invalid_request", 3)
    # No method, a method that is not a string, an unknown member.
    assert_error(c.line('{"jsonrpc":"2.0","id":4}'), "invalid_request", 4)
    assert_error(c.line('{"jsonrpc":"2.0","id":5,"method":7}'), "invalid_request", 5)
    assert_error(c.line('{"jsonrpc":"2.0","id":6,"method":"ping","foo":1}'), "invalid_request", 6)
    # An id that is neither a string nor a number: cannot be echoed.
    assert_error(c.line('{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}'), "invalid_request", None)
    assert_error(c.line('{"jsonrpc":"2.0","id":[1],"method":"ping"}'), "invalid_request", None)
    # params that is not structured.
    assert_error(c.line('{"jsonrpc":"2.0","id":7,"method":"ping","params":"x"}'), "invalid_request", 7)
    assert assert_result(c.line('{"id":8,"method":"ping"}'), 8) == "pong"
    c.close()


def test_method_not_found():
    c = demo().client()
    assert_error(jline(c, {"jsonrpc": "2.0", "id": 5, "method": "nope"}), "method_not_found", 5)
    assert_error(jline(c, {"jsonrpc": "2.0", "id": "x", "method": "PING"}), "method_not_found", "x")
    assert_error(c.line("nope"), "method_not_found", None)
    assert_error(c.line("wiat gate=north"), "method_not_found", None)
    # A notification of an unknown method gets no reply at all.
    c.send_raw('{"jsonrpc":"2.0","method":"nope"}\n')
    assert assert_result(jline(c, {"id": 6, "method": "ping"}), 6) == "pong"
    c.close()


def test_invalid_params_unknown_missing_and_types():
    c = demo().client()
    cases = [
        ("ping", {"x": 1}),                                   # unknown param
        ("status", {"verbose": True}),
        ("entry", {"gate": "north", "plate": "IP 1", "class": "car", "colour": "red"}),
        ("entry", {"gate": "north", "plate": "IP 1"}),        # missing class
        ("entry", {"gate": "north", "class": "car"}),         # missing plate
        ("entry", {"plate": "IP 1", "class": "car"}),         # missing gate
        ("entry", {"gate": "north", "plate": 123, "class": "car"}),    # wrong types
        ("entry", {"gate": 1, "plate": "IP 1", "class": "car"}),
        ("entry", {"gate": "north", "plate": "IP 1", "class": ["car"]}),
        ("entry", {"gate": "north", "plate": "IP 1", "class": "car", "needs": "ev"}),
        ("entry", {"gate": "north", "plate": "IP 1", "class": "car", "needs": [1]}),
        ("entry", {"gate": "north", "plate": "IP 1", "class": "car", "needs": ["solar"]}),
        ("entry", {"gate": "north", "plate": "IP 1", "class": "car", "at": "yesterday"}),
        ("entry", {"gate": "north", "plate": "IP 1", "class": "car", "at": 1764000000}),
        ("entry", {"gate": "north", "plate": "IP 1", "class": "car", "at": "2026-13-01T00:00:00Z"}),
        ("entry", {"gate": "north", "plate": "IP 1", "class": "car", "at": "2026-11-22 08:00:00"}),
        ("quote", {}),                                        # neither ticket nor plate
        ("quote", {"plate": "IP 1", "ticket": "0193"}),       # both
        ("quote", {"plate": None}),
        ("pay", {"ticket": "x", "amount": "300"}),
        ("pay", {"ticket": "x", "amount": 3.5}),
        ("pay", {"ticket": "x", "amount": -300}),
        ("pay", {"ticket": "x"}),
        ("locate", {}),
        ("ticket", {}),
        ("ticket", {"ticket": 17}),
        ("auth", {}),
        ("auth", {"token": 5}),
        ("spot", {"id": "A-01", "state": "broken"}),
        ("spot", {}),
        ("strategy", {"set": "random"}),
        ("strategy", {"set": 1}),
        ("tariff", {"set": 5}),
        ("tariff", {"set": {"free_minutes": -1}}),
        ("tariff", {"set": {"tiers": [{"upto_minutes": 60, "amount": 300},
                                      {"upto_minutes": 30, "amount": 100}]}}),
        ("help", {"method": ["entry"]}),
    ]
    for i, (m, p) in enumerate(cases):
        r = jline(c, {"jsonrpc": "2.0", "id": i, "method": m, "params": p})
        assert_error(r, "invalid_params", i)
    # params given as an array (by position): parkd takes params by name only.
    assert_error(c.line('{"id":99,"method":"ping","params":[]}'), "invalid_params", 99)
    # Nothing above changed the state: IP 1 is not inside.
    assert_error(jline(c, {"id": 100, "method": "locate", "params": {"plate": "IP 1"}}), "not_found", 100)
    c.close()


def test_invalid_params_bad_plate_class_gate():
    c = demo().client()
    base = {"gate": "north", "class": "car"}
    for plate in ["", "   ", "ABCDEFGHIJKLMNOPQ", "B_XY 1", "B.XY", "B/XY", "MÜNCHEN 1",
                  "A\tB", "A\"B", "ÄÖ", "ß"]:
        r = jline(c, {"id": 1, "method": "entry", "params": dict(base, plate=plate)})
        assert_error(r, "invalid_params", 1)
    for cls in ["tank", "", "CAR", "Car "]:
        r = jline(c, {"id": 2, "method": "entry", "params": {"gate": "north", "plate": "BP 1", "class": cls}})
        assert_error(r, "invalid_params", 2)
    for gate in ["west", "", "NORTH", "north "]:
        r = jline(c, {"id": 3, "method": "entry", "params": {"gate": gate, "plate": "BP 1", "class": "car"}})
        assert_error(r, "invalid_params", 3)
        r = jline(c, {"id": 4, "method": "exit", "params": {"gate": gate, "plate": "BP 1"}})
        assert_error(r, "invalid_params", 4)
    # Bad plates are refused by every method that takes one.
    for m in ("quote", "locate", "lost"):
        assert_error(jline(c, {"id": 5, "method": m, "params": {"plate": "B_XY"}}), "invalid_params", 5)
    # 16 characters is the longest plate; lower case is folded, inner spaces kept.
    r = assert_result(jline(c, {"id": 6, "method": "entry",
                                "params": dict(base, plate="abcdefghijklm 12")}), 6)
    assert r["plate"] == "ABCDEFGHIJKLM 12", r
    c.close()


def test_not_found():
    c = demo().client()
    assert_error(jline(c, {"id": 1, "method": "quote", "params": {"plate": "NF 404"}}), "not_found", 1)
    assert_error(jline(c, {"id": 2, "method": "locate", "params": {"plate": "NF 404"}}), "not_found", 2)
    assert_error(jline(c, {"id": 3, "method": "lost", "params": {"plate": "NF 404"}}), "not_found", 3)
    assert_error(jline(c, {"id": 4, "method": "exit", "params": {"gate": "south", "plate": "NF 404"}}),
                 "not_found", 4)
    no_ticket = "01930000-0000-7000-8000-000000000000"
    for i, (m, p) in enumerate([("ticket", {"ticket": no_ticket}),
                                ("quote", {"ticket": no_ticket}),
                                ("pay", {"ticket": no_ticket, "amount": 300}),
                                ("exit", {"gate": "south", "ticket": no_ticket}),
                                ("spot", {"id": "Z-99"}),
                                ("spot", {"id": "A-21"})], start=10):
        assert_error(jline(c, {"id": i, "method": m, "params": p}), "not_found", i)
    c.close()


def test_plate_inside_and_wrong_gate():
    c = demo().client()
    r = assert_result(jline(c, {"id": 1, "method": "entry",
                                "params": {"gate": "north", "plate": "PI 1", "class": "car"}}), 1)
    # Case-folded: "pi 1" is the same plate.
    for i, p in enumerate(["PI 1", "pi 1", " pi 1 "], start=2):
        assert_error(jline(c, {"id": i, "method": "entry",
                               "params": {"gate": "north", "plate": p, "class": "van"}}), "plate_inside", i)
    # 'south' is exit-only: entry there is wrong_gate (and takes no spot).
    e = assert_error(jline(c, {"id": 9, "method": "entry",
                               "params": {"gate": "south", "plate": "PI 2", "class": "car"}}), "wrong_gate", 9)
    assert_error(jline(c, {"id": 10, "method": "locate", "params": {"plate": "PI 2"}}), "not_found", 10)
    # 'north' is entry-only: exit there is wrong_gate too, and the car stays.
    assert_error(jline(c, {"id": 11, "method": "exit", "params": {"gate": "north", "plate": "PI 1"}}),
                 "wrong_gate", 11)
    loc = assert_result(jline(c, {"id": 12, "method": "locate", "params": {"plate": "PI 1"}}), 12)
    assert loc["ticket"] == r["ticket"]
    assert e["message"]
    c.close()


# ---------------------------------------------------------------- batches and notifications

def test_batch_mixed_requests_and_notifications():
    c = demo().client()
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "ping"},                                   # notification
        {"jsonrpc": "2.0", "method": "entry",
         "params": {"gate": "north", "plate": "BATCH 1", "class": "car"}},      # notification
        {"jsonrpc": "2.0", "id": "two", "method": "nope"},
        {"jsonrpc": "2.0", "method": "nope"},                                   # notification
        {"jsonrpc": "2.0", "id": 3, "method": "entry",
         "params": {"gate": "north", "plate": "B_AD", "class": "car"}},
        5,
        {"jsonrpc": "1.0", "id": 4, "method": "ping"},
        {"jsonrpc": "2.0", "id": 6, "method": "help", "params": {"method": "ping"}},
    ]
    c.send_raw(json.dumps(batch) + "\n")
    line = c.read_line()
    resp = json.loads(line)
    assert isinstance(resp, list), resp
    # Notifications are left out: 6 responses.
    assert len(resp) == 6, resp
    by_id = {}
    for r in resp:
        assert r.get("jsonrpc") == "2.0", r
        by_id.setdefault(json.dumps(r.get("id")), []).append(r)
    assert assert_result(by_id["1"][0], 1) == "pong"
    assert_error(by_id['"two"'][0], "method_not_found", "two")
    assert_error(by_id["3"][0], "invalid_params", 3)
    assert_error(by_id["4"][0], "invalid_request", 4)
    assert "usage" in assert_result(by_id["6"][0], 6)
    assert_error(by_id["null"][0], "invalid_request", None)
    # The entry sent as a notification in the batch was carried out.
    loc = assert_result(jline(c, {"id": 7, "method": "locate", "params": {"plate": "BATCH 1"}}), 7)
    assert UUID7_RE.match(loc["ticket"]), loc
    c.close()


def test_batch_of_only_notifications_gets_no_reply():
    c = demo().client()
    batch = [{"jsonrpc": "2.0", "method": "ping"},
             {"jsonrpc": "2.0", "method": "entry",
              "params": {"gate": "north", "plate": "BATCH 2", "class": "car"}},
             {"jsonrpc": "2.0", "method": "nope"},
             {"jsonrpc": "2.0", "method": "entry", "params": {"plate": "B_AD"}}]
    c.send_raw(json.dumps(batch) + "\n" + '{"jsonrpc":"2.0","id":"after","method":"locate","params":{"plate":"BATCH 2"}}\n')
    # The very next line is the reply to the request after the batch.
    r = json.loads(c.read_line())
    assert isinstance(r, dict), r
    assert assert_result(r, "after")["plate"] == "BATCH 2"
    assert c.no_data(0.3)
    c.close()


def test_batch_with_one_request():
    c = demo().client()
    r = c.line('[{"jsonrpc":"2.0","id":1,"method":"ping"}]')
    assert isinstance(r, list) and len(r) == 1, r
    assert assert_result(r[0], 1) == "pong"
    # Errors inside a batch are per element; a broken batch text is one parse error.
    r = c.line('[1,2]')
    assert isinstance(r, list) and len(r) == 2, r
    for x in r:
        assert_error(x, "invalid_request", None)
    assert_error(c.line('[{"id":1,"method":"ping"},'), "parse_error", None)
    c.close()


def test_notifications_have_side_effects_but_no_reply():
    c = demo().client()
    c.send_raw('{"jsonrpc":"2.0","method":"entry","params":{"gate":"north","plate":"NOTE 1","class":"car"}}\n')
    # A failing notification is not answered either.
    c.send_raw('{"jsonrpc":"2.0","method":"entry","params":{"gate":"south","plate":"NOTE 2","class":"car"}}\n')
    c.send_raw('{"jsonrpc":"2.0","method":"entry","params":{"gate":"north","plate":"NOTE 1","class":"car"}}\n')
    c.send_raw('{"jsonrpc":"2.0","method":"ping","params":{"bad":1}}\n')
    assert c.no_data(0.3)
    r = assert_result(jline(c, {"id": 1, "method": "locate", "params": {"plate": "NOTE 1"}}), 1)
    assert r["plate"] == "NOTE 1"
    assert_error(jline(c, {"id": 2, "method": "locate", "params": {"plate": "NOTE 2"}}), "not_found", 2)
    c.close()


# ---------------------------------------------------------------- inline commands

def test_inline_commands():
    c = demo().client()
    # Quoted values with spaces.
    r = assert_result(c.line('entry gate=north plate="IN 1" class=car'), None)
    assert r["plate"] == "IN 1" and r["class"] == "car" and r["gate"] == "north", r
    assert assert_result(c.line('locate plate="IN 1"'))["ticket"] == r["ticket"]
    assert assert_result(c.line('quote plate="in 1"'))["ticket"] == r["ticket"]
    # needs=["ev"]: a JSON array.  A motorcycle would take an M spot; with
    # needs ev only the B row (regular, tagged ev) fits.
    r = assert_result(c.line('entry gate=north plate="IN 2" class=motorcycle needs=["ev"]'))
    assert len(r["spots"]) == 1 and r["spots"][0]["zone"] == "B", r
    assert r["spots"][0]["type"] == "regular", r
    # A bare word is a string; "quoted" is the same string.
    assert assert_result(c.line('help method=entry')) == assert_result(c.line('help method="entry"'))
    # JSON literals: a number is a number (plate must be a string) ...
    assert_error(c.line("locate plate=123"), "invalid_params", None)
    assert_error(c.line("locate plate=true"), "invalid_params", None)
    assert_error(c.line("locate plate=null"), "invalid_params", None)
    # ... and a quoted number stays a string.
    assert_error(c.line('locate plate="123"'), "not_found", None)
    # Text that is not a JSON literal is a bare string, even when it starts
    # like one.
    for bare in ("1ABC", "12-AB", "truex", "nullx", "-X", "FALSE"):
        assert_error(c.line("locate plate=%s" % bare), "not_found", None)
    r = assert_result(c.line("entry gate=north plate=1ABC class=car"))
    assert r["plate"] == "1ABC", r
    assert_error(c.line("locate plate=2e5"), "invalid_params", None)
    assert_error(c.line("locate plate=-5"), "invalid_params", None)
    # JSON arrays and objects may contain spaces.
    r = assert_result(c.line('entry gate=north plate="IN 3" class=motorcycle needs=[ "ev" ]'))
    assert r["spots"][0]["zone"] == "B", r
    # An escaped quote inside a quoted value belongs to the value.
    assert_error(c.line(r'locate plate="A\"B"'), "invalid_params", None)
    # pay amount="300" is a string, amount=300 a number.
    t = r["ticket"]
    assert_error(c.line('pay ticket=%s amount="300"' % t), "invalid_params", None)
    # Duplicate and malformed parameters.
    for bad in ["locate plate=A plate=B", "locate A plate=B", "ping x", "locate =A", 'locate plate="A',
                "locate plate=[1", 'locate plate="A"B']:
        r = c.line(bad)
        assert "error" in r and r["id"] is None, (bad, r)
        assert r["error"]["data"]["reason"] in ("invalid_params", "parse_error"), (bad, r)
    # Unknown inline method.
    assert_error(c.line("frobnicate x=1"), "method_not_found", None)
    assert_error(c.line("frobnicate"), "method_not_found", None)
    assert_error(c.line("ping x=1"), "invalid_params", None)
    c.close()


# ---------------------------------------------------------------- framing

def test_crlf_and_blank_lines():
    c = demo().client()
    c.send_raw(b"ping\r\n")
    assert assert_result(c.read_json(), None) == "pong"
    c.send_raw(b'{"id":1,"method":"ping"}\r\n')
    assert assert_result(c.read_json(), 1) == "pong"
    # Empty lines and lines of only spaces are ignored: exactly one reply.
    c.send_raw(b"\n\n   \n\r\n  \r\n" + b'{"id":2,"method":"ping"}\n' + b"\n \n")
    assert assert_result(c.read_json(), 2) == "pong"
    assert c.no_data(0.3)
    # Inline params separated by spaces survive a CRLF ending.
    c.send_raw(b'help method=ping\r\n')
    assert "ping" in assert_result(c.read_json())["usage"]
    c.close()


def test_invalid_utf8():
    c = demo().client()
    bad = [b'{"id":1,"method":"ping","params":{"x":"\xff"}}',
           b'{"id":1,"method":"ping","params":{"x":"\xc0\xaf"}}',        # overlong '/'
           b'{"id":1,"method":"ping","params":{"x":"\xed\xa0\x80"}}',    # surrogate
           b'{"id":1,"method":"ping","params":{"x":"\xf4\x90\x80\x80"}}',  # > U+10FFFF
           b'{"id":1,"method":"ping","params":{"x":"\xe2\x82"}}',        # truncated
           b'{"id":"\x80","method":"ping"}',
           b'ping \xff',
           b'locate plate=\xe2\x82',
           b'\xfe\xff']
    for b in bad:
        c.send_raw(b + b"\n")
        line = c.read_line()          # a reply that is itself valid UTF-8
        assert_error(json.loads(line), "parse_error", None)
    # Valid multi-byte UTF-8 is fine (and not a valid plate).
    c.send_raw('{"id":2,"method":"locate","params":{"plate":"M\u00dcNCHEN"}}\n'.encode())
    assert_error(c.read_json(), "invalid_params", 2)
    c.send_raw('{"id":"\u00fc\u20ac\U0001F697","method":"ping"}\n'.encode())
    assert assert_result(c.read_json(), "\u00fc\u20ac\U0001F697") == "pong"
    c.close()


def test_nul_bytes():
    c = demo().client()
    c.send_raw(b'{"id":1,"method":"ping"}\x00\n')
    assert_error(c.read_json(), "parse_error", None)
    c.send_raw(b'{"id":1,"method":"pi\x00ng"}\n')
    assert_error(c.read_json(), "parse_error", None)
    c.send_raw(b'{"id":1,"method":"ping","params":{"x":"a\\u0000b"}}\n')
    r = c.read_json()
    assert "error" in r, r
    # Inline: a NUL must not cut the line short into a valid command.
    for raw in [b"ping\x00", b"ping\x00 x=1", b"\x00\x00\x00", b'locate plate="A\x00B"']:
        c.send_raw(raw + b"\n")
        r = c.read_json()
        assert "error" in r and r["id"] is None, (raw, r)
    assert assert_result(c.line('{"id":2,"method":"ping"}'), 2) == "pong"
    c.close()


def test_deep_nesting():
    c = demo().client()
    # Deeper than any sane limit: an error, not a crash.
    for text in ["[" * 50000, "[" * 30000 + "]" * 30000,
                 '{"id":1,"method":"ping","params":{"a":' + "[" * 20000 + "]" * 20000 + "}}",
                 '{"a":' * 10000 + "1" + "}" * 10000]:
        r = c.line(text)
        if isinstance(r, list):
            assert all("error" in x for x in r), r
        else:
            assert "error" in r, r
            assert r["error"]["data"]["reason"] in ("parse_error", "invalid_request", "invalid_params"), r
    r = c.line("ping x=" + "[" * 20000 + "]" * 20000)
    assert "error" in r, r
    # Moderate nesting is ordinary JSON.
    r = c.line('{"id":2,"method":"ping","params":{"a":' + "[" * 20 + "]" * 20 + "}}")
    assert_error(r, "invalid_params", 2)
    assert assert_result(c.line('{"id":3,"method":"ping"}'), 3) == "pong"
    c.close()


def test_pipelined_requests_answered_in_order():
    """600 requests in one send, mixing answers that are immediate (ping,
    status, help) with state changes that are answered only once durable
    (entry): the replies come in request order, and each request sees the
    changes of the ones before it."""
    c = demo().client()
    reqs = []
    for i in range(600):
        k = i % 5
        if k == 0:
            reqs.append('{"jsonrpc":"2.0","id":%d,"method":"ping"}' % i)
        elif k == 1:
            reqs.append('{"jsonrpc":"2.0","id":%d,"method":"status"}' % i)
        elif k == 2:
            reqs.append('{"jsonrpc":"2.0","id":"e%d","method":"entry","params":'
                        '{"gate":"north","plate":"PIPE %d","class":"motorcycle"}}' % (i, i))
        elif k == 3:
            reqs.append('{"jsonrpc":"2.0","id":%d,"method":"locate","params":{"plate":"PIPE %d"}}' % (i, i - 1))
        else:
            reqs.append("exit gate=south plate=\"PIPE %d\"" % (i - 2))
    c.send_raw("\n".join(reqs) + "\n")          # one send
    tickets = {}
    for i in range(600):
        r = c.read_json()
        k = i % 5
        if k == 0:
            assert assert_result(r, i) == "pong"
        elif k == 1:
            assert assert_result(r, i)["capacity"]["total"] == 106
        elif k == 2:
            tickets[i] = assert_result(r, "e%d" % i)["ticket"]
        elif k == 3:
            assert assert_result(r, i)["ticket"] == tickets[i - 1]
        else:
            x = assert_result(r, None)
            assert x["ticket"] == tickets[i - 2] and x["charged"] == 0, x
    c.close()


# ---------------------------------------------------------------- auth and roles

def test_auth_required_before_auth():
    c = authd().client()
    # ping, help, auth and health need no auth.
    assert assert_result(jline(c, {"id": 1, "method": "ping"}), 1) == "pong"
    assert_result(jline(c, {"id": 2, "method": "help"}), 2)
    assert assert_result(jline(c, {"id": 3, "method": "health"}), 3)["status"] == "ok"
    for i, (m, p) in enumerate([("status", {}), ("entry", {"gate": "north", "plate": "AR 1", "class": "car"}),
                                ("quote", {"plate": "AR 1"}), ("locate", {"plate": "AR 1"}),
                                ("tariff", {}), ("strategy", {}), ("spot", {"id": "A-01"}),
                                ("pay", {"ticket": "x", "amount": 1}), ("lost", {"plate": "AR 1"}),
                                ("ticket", {"ticket": "x"}), ("exit", {"gate": "south", "plate": "AR 1"})],
                               start=10):
        assert_error(jline(c, {"id": i, "method": m, "params": p}), "auth_required", i)
    assert_error(c.line("status"), "auth_required", None)
    # A failed auth is forbidden and leaves the connection unauthenticated.
    assert_error(jline(c, {"id": 30, "method": "auth", "params": {"token": "wrong-token"}}), "forbidden", 30)
    assert_error(jline(c, {"id": 31, "method": "auth", "params": {"token": "ops-secret-12"}}), "forbidden", 31)
    assert_error(jline(c, {"id": 32, "method": "auth", "params": {"token": "ops-secret-1234"}}), "forbidden", 32)
    assert_error(jline(c, {"id": 33, "method": "status"}), "auth_required", 33)
    c.close()


def test_auth_gate_token_bound_to_gate():
    c = authd().client()
    r = assert_result(jline(c, {"id": 1, "method": "auth", "params": {"token": "gate-north-secret"}}), 1)
    assert r["role"] == "gate" and r["gate"] == "north", r
    assert "capacity" in assert_result(jline(c, {"id": 2, "method": "status"}), 2)
    e = assert_result(jline(c, {"id": 3, "method": "entry",
                                "params": {"gate": "north", "plate": "GT 1", "class": "car"}}), 3)
    # The bound token may not act at another gate.
    assert_error(jline(c, {"id": 4, "method": "entry",
                           "params": {"gate": "ramp", "plate": "GT 2", "class": "car"}}), "forbidden", 4)
    assert_error(jline(c, {"id": 5, "method": "exit",
                           "params": {"gate": "south", "plate": "GT 1"}}), "forbidden", 5)
    # A gate may quote (not in the past) but not pay, and may not give 'at'.
    q = assert_result(jline(c, {"id": 6, "method": "quote", "params": {"plate": "GT 1"}}), 6)
    assert q["ticket"] == e["ticket"]
    assert_error(jline(c, {"id": 7, "method": "pay", "params": {"ticket": e["ticket"], "amount": 300}}),
                 "forbidden", 7)
    assert_error(jline(c, {"id": 8, "method": "entry",
                           "params": {"gate": "north", "plate": "GT 3", "class": "car",
                                      "at": "2026-01-01T00:00:00Z"}}), "forbidden", 8)
    # Operator-only methods.
    for i, (m, p) in enumerate([("spot", {"id": "A-01"}), ("strategy", {}), ("tariff", {})], start=10):
        assert_error(jline(c, {"id": i, "method": m, "params": p}), "forbidden", i)
    # Kiosk-only methods.
    for i, (m, p) in enumerate([("locate", {"plate": "GT 1"}), ("ticket", {"ticket": e["ticket"]}),
                                ("lost", {"plate": "GT 1"})], start=20):
        assert_error(jline(c, {"id": i, "method": m, "params": p}), "forbidden", i)
    # None of the refused entries happened.
    ops = authd().client()
    assert_result(jline(ops, {"id": 1, "method": "auth", "params": {"token": "ops-secret-123"}}), 1)
    for p in ("GT 2", "GT 3"):
        assert_error(jline(ops, {"id": 2, "method": "locate", "params": {"plate": p}}), "not_found", 2)
    assert assert_result(jline(ops, {"id": 3, "method": "locate", "params": {"plate": "GT 1"}}), 3)["ticket"] == e["ticket"]
    ops.close()
    c.close()


def test_auth_unbound_gate_token():
    c = authd().client()
    r = assert_result(jline(c, {"id": 1, "method": "auth", "params": {"token": "gate-any-secret"}}), 1)
    assert r["role"] == "gate" and r.get("gate") is None, r
    assert_result(jline(c, {"id": 2, "method": "entry",
                            "params": {"gate": "ramp", "plate": "GU 1", "class": "car"}}), 2)
    assert_error(jline(c, {"id": 3, "method": "entry",
                           "params": {"gate": "south", "plate": "GU 2", "class": "car"}}), "wrong_gate", 3)
    x = assert_result(jline(c, {"id": 4, "method": "exit", "params": {"gate": "south", "plate": "GU 1"}}), 4)
    assert x["plate"] == "GU 1" and x["charged"] == 0, x
    c.close()


def test_auth_kiosk_role():
    g = authd().client()
    assert_result(jline(g, {"id": 1, "method": "auth", "params": {"token": "gate-north-secret"}}), 1)
    e = assert_result(jline(g, {"id": 2, "method": "entry",
                                "params": {"gate": "north", "plate": "KI 1", "class": "car"}}), 2)
    g.close()
    c = authd().client()
    r = assert_result(jline(c, {"id": 1, "method": "auth", "params": {"token": "kiosk-secret-1"}}), 1)
    assert r["role"] == "kiosk" and "gate" not in r, r
    # A kiosk may not let vehicles in or out.
    assert_error(jline(c, {"id": 2, "method": "entry",
                           "params": {"gate": "north", "plate": "KI 2", "class": "car"}}), "forbidden", 2)
    assert_error(jline(c, {"id": 3, "method": "exit",
                           "params": {"gate": "south", "plate": "KI 1"}}), "forbidden", 3)
    # It may quote, locate, read tickets and status.
    assert assert_result(jline(c, {"id": 4, "method": "locate", "params": {"plate": "KI 1"}}), 4)["ticket"] == e["ticket"]
    assert assert_result(jline(c, {"id": 5, "method": "ticket", "params": {"ticket": e["ticket"]}}), 5)["plate"] == "KI 1"
    assert "capacity" in assert_result(jline(c, {"id": 6, "method": "status"}), 6)
    # Any role may quote with an 'at' in the future ...
    q = assert_result(jline(c, {"id": 7, "method": "quote",
                                "params": {"plate": "KI 1", "at": "2099-01-01T00:00:00Z"}}), 7)
    assert q["at"] == "2099-01-01T00:00:00Z" and q["due"] == q["amount"] > 0, q
    # ... but not in the past (a non-operator giving 'at').
    assert_error(jline(c, {"id": 8, "method": "quote",
                           "params": {"plate": "KI 1", "at": "2000-01-01T00:00:00Z"}}), "forbidden", 8)
    assert_error(jline(c, {"id": 9, "method": "lost",
                           "params": {"plate": "KI 1", "at": "2099-01-01T00:00:00Z"}}), "forbidden", 9)
    assert_error(jline(c, {"id": 10, "method": "pay",
                           "params": {"ticket": e["ticket"], "amount": 300,
                                      "at": "2099-01-01T00:00:00Z"}}), "forbidden", 10)
    for i, (m, p) in enumerate([("spot", {"id": "A-01"}), ("strategy", {"set": "first"}),
                                ("tariff", {})], start=11):
        assert_error(jline(c, {"id": i, "method": m, "params": p}), "forbidden", i)
    c.close()


def test_auth_operator_role():
    c = authd().client()
    r = assert_result(jline(c, {"id": 1, "method": "auth", "params": {"token": "ops-secret-123"}}), 1)
    assert r["role"] == "operator", r
    e = assert_result(jline(c, {"id": 2, "method": "entry",
                                "params": {"gate": "ramp", "plate": "OP 1", "class": "car",
                                           "at": "2026-11-22T10:00:00Z"}}), 2)
    assert e["entered_at"] == "2026-11-22T10:00:00Z", e
    q = assert_result(jline(c, {"id": 3, "method": "quote",
                                "params": {"plate": "OP 1", "at": "2026-11-22T11:01:00Z"}}), 3)
    assert q["amount"] == 800, q
    assert assert_result(jline(c, {"id": 4, "method": "strategy"}), 4)["strategy"] == "nearest"
    assert assert_result(jline(c, {"id": 5, "method": "spot", "params": {"id": "A-01"}}), 5)["id"] == "A-01"
    assert assert_result(jline(c, {"id": 6, "method": "tariff"}), 6)["lost_ticket"] == 5000
    c.close()


def test_repeated_auth_failures_are_limited():
    """protocol.md section 7: "a failed auth is logged and counted, and
    repeated failures are rate limited".  50 wrong tokens in a row on one
    connection: before the 50th, the daemon answers rate_limited or closes
    the connection (it must not let tokens be guessed at full speed).  Every
    rate_limited, the one sent before such a close included, says when to
    try again (protocol.md section 3): a positive data.retry_after_ms."""
    c = authd().client()
    c.send_raw('{"jsonrpc":"2.0","id":0,"method":"auth","params":{"token":"guess-000000"}}\n')
    assert_error(c.read_json(), "forbidden", 0)
    n = 50
    c.send_raw("".join('{"jsonrpc":"2.0","id":%d,"method":"auth","params":{"token":"guess-%06d"}}\n'
                       % (i, i) for i in range(1, n + 1)))
    reasons = []
    try:
        for _ in range(n):
            r = c.read_json()
            assert "error" in r, r
            reasons.append(r["error"]["data"]["reason"])
            if reasons[-1] == "rate_limited":
                retry = r["error"]["data"].get("retry_after_ms")
                assert type(retry) is int and retry > 0, r
    except (EOFError, ConnectionResetError):
        reasons.append("closed")
    assert "rate_limited" in reasons or "closed" in reasons, \
        "%d failed auths in a row, none rate limited: %s" % (n, sorted(set(reasons)))
    c.close()


def test_auth_guessing_across_connections_is_rate_limited():
    """protocol.md section 7: "a failed auth is logged and counted, and
    repeated failures are rate limited".  A client that reconnects after
    every five wrong tokens must not get every guess checked: 200
    connections from 127.0.0.1 with 5 wrong tokens each; some of these 1000
    attempts are refused (rate_limited, or the connection refused) instead
    of being checked."""
    with Daemon(demo_config(auth={"tokens": TOKENS})) as d:
        checked = refused = 0
        for k in range(200):
            try:
                c = d.client()
                c.send_raw("".join('{"jsonrpc":"2.0","id":%d,"method":"auth","params":'
                                   '{"token":"guess-%06d"}}\n' % (i, 5 * k + i) for i in range(5)))
                lines = c.read_until_eof(5)
                c.close()
            except (ConnectionError, socket.timeout):
                refused += 5
                continue
            answers = [json.loads(l)["error"]["data"]["reason"] for l in lines]
            checked += answers.count("forbidden")
            refused += 5 - answers.count("forbidden")
        assert checked < 1000, "all %d wrong tokens from one client were checked (%d refused)" % (
            checked, refused)


# ---------------------------------------------------------------- teardown

def test_zz_shared_daemons_exit_cleanly():
    """Stops this module's shared daemons with SIGTERM: exit code 0 (no
    sanitizer report)."""
    SHARED.close_all()
