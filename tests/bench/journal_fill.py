#!/usr/bin/env python3
"""journal_fill.py - makes N journaled changes in parkd as fast as it can.

    journal_fill.py -p PORT -n CHANGES [-c CONNECTIONS] [-w WINDOW] [-x PREFIX]

Every connection sends inline `entry` / `exit` pairs of fresh plates
(class car, gates north and south), pipelined: up to WINDOW lines in flight
per connection.  Each pair is two changes (two journal records).  The replies
are only counted and checked for errors, not parsed.  Prints one line:

    FILL changes=.. seconds=.. changes_per_s=.. errors=..

Exit status 0 when every reply was a result, 1 otherwise.  Standard library
only.
"""
import argparse
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-p", "--port", type=int, required=True)
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-n", "--changes", type=int, required=True)
    ap.add_argument("-c", "--conns", type=int, default=4)
    ap.add_argument("-w", "--window", type=int, default=512)
    ap.add_argument("-x", "--prefix", default="F")
    a = ap.parse_args()

    pairs = (a.changes + 1) // 2
    per = [pairs // a.conns + (1 if i < pairs % a.conns else 0) for i in range(a.conns)]
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(a.conns):
        s = socket.create_connection((a.host, a.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        c = {"sock": s, "id": i, "pairs": per[i], "next": 0, "sent": 0, "got": 0,
             "total": 2 * per[i], "out": b"", "tail": b""}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    errors = 0
    first_error = None
    t0 = time.time()
    live = len(conns)
    while live:
        for key, ev in sel.select(timeout=30):
            c = key.data
            s = c["sock"]
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(1 << 20)
                except BlockingIOError:
                    data = None
                if data == b"":
                    print("journal_fill: connection %d closed by parkd" % c["id"], file=sys.stderr)
                    return 1
                if data:
                    buf = c["tail"] + data
                    n = buf.count(b"\n")
                    if b'"error"' in buf:
                        for line in buf.split(b"\n")[:n]:
                            if b'"error"' in line:
                                errors += 1
                                first_error = first_error or line[:300]
                    c["tail"] = buf[buf.rfind(b"\n") + 1:]
                    c["got"] += n
            # Top up the window.
            if c["sent"] < c["total"] and c["sent"] - c["got"] < a.window:
                lines = []
                while c["sent"] < c["total"] and c["sent"] - c["got"] < a.window:
                    k = c["next"]
                    plate = "%s%d-%d" % (a.prefix, c["id"], k)
                    if c["sent"] % 2 == 0:
                        lines.append("entry gate=north plate=%s class=car\n" % plate)
                    else:
                        lines.append("exit gate=south plate=%s\n" % plate)
                        c["next"] += 1
                    c["sent"] += 1
                c["out"] += "".join(lines).encode()
            if c["out"]:
                try:
                    n = s.send(c["out"])
                    c["out"] = c["out"][n:]
                except BlockingIOError:
                    pass
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c["out"] else 0)
            if c["got"] >= c["total"]:
                sel.unregister(s)
                s.close()
                live -= 1
            elif key.events != want:
                sel.modify(s, want, c)
    dt = time.time() - t0
    total = sum(c["total"] for c in conns)
    print("FILL changes=%d seconds=%.2f changes_per_s=%.0f errors=%d" % (total, dt, total / dt, errors))
    if first_error:
        print("journal_fill: first error: %s" % first_error.decode("utf-8", "replace"), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
