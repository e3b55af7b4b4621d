#!/bin/bash
# tests/bench/audit.sh BUILD_DIR - what audit shipping to Redis costs.
#
# 1. Gate throughput (entry+exit pairs/s) with audit off versus on, with a
#    big facility (conf/parkd.json plus BENCH_SPOTS regular spots on an
#    extra level), durability fsync and the per-connection rate limit off,
#    at 8 and 64 connections; prints on/off ratios.  With audit on, a
#    redis-server (--save '' --appendonly no) on a free port takes the
#    events while the gates run; the backlog left at the end of each run and
#    the time to ship it are printed too.
# 2. Drain rate: with Redis down, DRAIN_PAIRS entry+exit pairs (2 events
#    each; durability none to make it quick) pile up in the journal; then
#    Redis is started and the time until health's audit.pending reaches 0
#    is measured.  parkd reconnects with a backoff (up to ~5 s plus a 2 s
#    connect watchdog), so the rate is given both from the moment shipping
#    started (first progress) and from the moment Redis was started.
#
# Load: BUILD_DIR/bench/loadgen when it exists (`make bench` builds it),
# otherwise a small Python closed-loop generator written to the temporary
# directory.  The drain phase always uses the Python generator in its
# pipelined, exact-count mode.
#
# Environment:
#   BENCH_SECONDS   measured seconds per load run       (default 5)
#   BENCH_WARMUP    warm-up seconds per load run        (default 1)
#   BENCH_CONNS     connection counts                   (default "8 64")
#   BENCH_SPOTS     regular spots added to the facility (default 5000)
#   DURABILITY      durability of the throughput runs   (default fsync)
#   DRAIN_PAIRS     entry+exit pairs for the drain test (default 50000)
#   REDIS_SERVER    redis-server binary                 (default redis-server)
#   PYLOAD=1        use the Python generator even when loadgen exists
#   TMPDIR          where data goes (fsync on tmpfs is free: use a disk)
#
# Exit status: 0 when every run was clean and every daemon exited 0.
set -u

die() { echo "audit-bench: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ -d "$1" ] || die "$1: no such build directory"
BUILD=$(cd "$1" && pwd) || exit 1
ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
CONF=$ROOT/conf/parkd.json
PARKD=$BUILD/parkd
LOADGEN=$BUILD/bench/loadgen
REDIS_SERVER=${REDIS_SERVER:-redis-server}

SECONDS_EACH=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNS:-8 64}
SPOTS=${BENCH_SPOTS:-5000}
DURABILITY=${DURABILITY:-fsync}
DRAIN_PAIRS=${DRAIN_PAIRS:-50000}
case $DURABILITY in fsync|write|none) ;; *) die "DURABILITY must be fsync, write or none" ;; esac
case $SPOTS in ''|*[!0-9]*) die "BENCH_SPOTS must be a number" ;; esac
case $DRAIN_PAIRS in ''|*[!0-9]*) die "DRAIN_PAIRS must be a number" ;; esac
[ -x "$PARKD" ] || die "$PARKD: not built (make)"
[ -r "$CONF" ] || die "$CONF: missing"
command -v python3 >/dev/null 2>&1 || die "python3 is needed"
command -v "$REDIS_SERVER" >/dev/null 2>&1 || die "$REDIS_SERVER: not found"
USE_LOADGEN=0
[ -x "$LOADGEN" ] && [ "${PYLOAD:-0}" != 1 ] && USE_LOADGEN=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/parkd-audit-bench.XXXXXX") || die "mktemp failed"
PID=
RPID=
status=0

stop_pid() { # pid signal
	local p=$1
	[ -n "$p" ] || return 0
	kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
	kill "-$2" "$p" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

cleanup() {
	local rc=$?
	stop_pid "$PID" TERM
	stop_pid "$RPID" KILL
	if [ "$rc" -ne 0 ] && [ -s "$TMP/parkd.log" ]; then
		echo "audit-bench: last lines of the daemon log:" >&2
		tail -n 20 "$TMP/parkd.log" >&2
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

. "$ROOT/tests/bench/ports.sh"

# --- helpers in Python: config, health, load ------------------------------
cat > "$TMP/tool.py" <<'EOF'
"""audit.sh's helper: health query, load generators."""
import json
import selectors
import socket
import sys
import threading
import time


def ask(port, method):
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as s:
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk
    return json.loads(buf.split(b"\n")[0])["result"]


def health(port, *fields):
    """Prints the named fields of health (dotted paths), space-separated."""
    h = ask(port, "health")
    out = []
    for f in fields:
        v = h
        for k in f.split("."):
            v = v.get(k) if isinstance(v, dict) else None
        out.append(str(v))
    print(" ".join(out))


def drain_watch(port, timeout, p0=None):
    """Polls health every 10 ms until audit.pending is 0; prints
    'p0 t_progress t_done' (Unix times; progress: the first time pending
    was below p0, the backlog when called unless given)."""
    t0 = time.time()
    p0 = int(p0) if p0 is not None else None
    t_prog = None
    while True:
        try:
            a = ask(port, "health")["audit"]
        except OSError:
            a = {"pending": None}
        now = time.time()
        p = a.get("pending")
        if p is not None:
            if p0 is None:
                p0 = p
            if t_prog is None and p < p0:
                t_prog = now
            if p == 0:
                print(p0, "%.3f" % (t_prog if t_prog is not None else now), "%.3f" % now)
                return
        if now - t0 > timeout:
            print(p0, "-1", "-1")
            return
        time.sleep(0.01)


def _req(rid, method, params):
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                       "params": params}, separators=(",", ":")).encode() + b"\n"


def closed_loop(port, conns, seconds, warmup):
    """Each connection: entry of a fresh plate, then its exit, one request
    in flight.  Prints a loadgen-like RESULT line."""
    port, conns, seconds, warmup = int(port), int(conns), float(seconds), float(warmup)
    sel = selectors.DefaultSelector()
    state = []
    for i in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        st = {"s": s, "i": i, "n": 0, "buf": b"", "phase": 0, "plate": None}
        state.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    t_start = time.time()
    t_meas = t_start + warmup
    t_end = t_meas + seconds
    pairs = errors = 0

    def send(st):
        if st["phase"] == 0:
            st["n"] += 1
            st["plate"] = "Y%d-%d" % (st["i"], st["n"])
            st["s"].sendall(_req(st["n"], "entry", {"gate": "north", "plate": st["plate"], "class": "car"}))
        else:
            st["s"].sendall(_req(st["n"], "exit", {"gate": "south", "plate": st["plate"]}))

    for st in state:
        send(st)
    busy = conns
    while busy:
        for key, _ in sel.select(timeout=1):
            st = key.data
            chunk = st["s"].recv(65536)
            if not chunk:
                raise SystemExit("daemon closed a connection")
            st["buf"] += chunk
            while b"\n" in st["buf"]:
                line, st["buf"] = st["buf"].split(b"\n", 1)
                if b'"result"' not in line:
                    errors += 1
                now = time.time()
                if st["phase"] == 1 and t_meas <= now < t_end:
                    pairs += 1
                st["phase"] ^= 1
                if st["phase"] == 1 or now < t_end:
                    send(st)
                else:
                    sel.unregister(st["s"])
                    st["s"].close()
                    busy -= 1
    print("RESULT conns=%d pairs=%d pairs_per_s=%.0f errors=%d (python)"
          % (conns, pairs, pairs / seconds, errors))


def pipelined(port, pairs, conns=8, chunk=250):
    """Exactly `pairs` entry+exit pairs over `conns` connections, `chunk`
    pairs in flight per connection; prints 'pairs seconds errors'."""
    port, pairs, conns = int(port), int(pairs), int(conns)
    errors = [0]
    lock = threading.Lock()

    def worker(w, n):
        s = socket.create_connection(("127.0.0.1", port))
        buf = b""
        rid = 0
        done = 0
        while done < n:
            k = min(chunk, n - done)
            out = []
            for j in range(k):
                plate = "Z%d-%d" % (w, done + j)
                rid += 1
                out.append(_req(rid, "entry", {"gate": "north", "plate": plate, "class": "car"}))
                rid += 1
                out.append(_req(rid, "exit", {"gate": "south", "plate": plate}))
            s.sendall(b"".join(out))
            want = 2 * k
            got = 0
            while got < want:
                chunk_ = s.recv(1 << 20)
                if not chunk_:
                    raise SystemExit("daemon closed a connection")
                buf += chunk_
                lines = buf.split(b"\n")
                buf = lines.pop()
                for line in lines:
                    got += 1
                    if b'"result"' not in line:
                        with lock:
                            errors[0] += 1
            done += k
        s.close()

    t0 = time.time()
    per = [pairs // conns + (1 if i < pairs % conns else 0) for i in range(conns)]
    ts = [threading.Thread(target=worker, args=(i, n)) for i, n in enumerate(per)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(pairs, "%.3f" % (time.time() - t0), errors[0])


if __name__ == "__main__":
    {"health": health, "drain_watch": lambda p, t, *a: drain_watch(p, float(t), *a),
     "closed_loop": closed_loop, "pipelined": pipelined}[sys.argv[1]](*sys.argv[2:])
EOF
TOOL() { python3 "$TMP/tool.py" "$@"; }

# --- daemons ---------------------------------------------------------------
start_parkd() { # config
	local port
	for _ in 1 2 3 4 5; do
		pick_port port || die "no free port found"
		: > "$TMP/parkd.log"
		"$PARKD" -c "$1" --listen "127.0.0.1:$port" >>"$TMP/parkd.log" 2>&1 &
		PID=$!
		if await_listen "$PID" "$TMP/parkd.log" parkd 10 \
		    grep -q 'server: listening' "$TMP/parkd.log"; then
			PORT=$port
			return 0
		fi
		PID=
	done
	die "no free port found"
}

stop_parkd() {
	local rc
	kill -TERM "$PID"
	for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$PID" 2>/dev/null && die "parkd did not exit within 30 s of SIGTERM"
	wait "$PID"
	rc=$?
	PID=
	if [ $rc -ne 0 ]; then
		echo "audit-bench: parkd exited with status $rc" >&2
		tail -n 20 "$TMP/parkd.log" >&2
		status=1
	fi
}

start_redis() { # port
	mkdir -p "$TMP/redis"
	"$REDIS_SERVER" --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
	    --dir "$TMP/redis" --daemonize no --logfile "$TMP/redis/redis.log" &
	RPID=$!
	for _ in $(seq 200); do
		if python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"PING\r\n")
sys.exit(0 if s.recv(64).startswith(b"+PONG") else 1)
EOF
		then
			return 0
		fi
		kill -0 "$RPID" 2>/dev/null || die "redis-server exited: $(tail -3 "$TMP/redis/redis.log")"
		sleep 0.05
	done
	die "redis-server did not answer within 10 s"
}

stop_redis() { stop_pid "$RPID" TERM; RPID=; }

# One load run; prints pairs/s (or nothing on failure).
load_run() { # conns
	local out=$TMP/load-$1.txt res
	if [ $USE_LOADGEN = 1 ]; then
		"$LOADGEN" -p "$PORT" -c "$1" -d "$SECONDS_EACH" -w "$WARMUP" > "$out" 2>&1
	else
		TOOL closed_loop "$PORT" "$1" "$SECONDS_EACH" "$WARMUP" > "$out" 2>&1
	fi
	res=$(sed -n 's/^RESULT //p' "$out")
	if [ -z "$res" ]; then
		echo "audit-bench: load run with $1 connections failed:" >&2
		cat "$out" >&2
		status=1
		return
	fi
	case $res in *" errors=0"*) ;; *) echo "audit-bench: errors in the run: $res" >&2; status=1 ;; esac
	printf '%s\n' "$res" | tr ' ' '\n' | sed -n 's/^pairs_per_s=//p'
}

NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
FS=$(stat -f -c %T "$TMP" 2>/dev/null || echo "?")
echo "parkd audit benchmark: $PARKD"
echo "  $NCPU CPUs online, data on $FS, durability $DURABILITY, $SPOTS extra regular spots," \
    "${SECONDS_EACH} s measured after ${WARMUP} s warm-up per run"
echo "  load: $([ $USE_LOADGEN = 1 ] && echo "$LOADGEN" || echo "python closed-loop generator")"
echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo

# --- 1. throughput, audit off versus on ------------------------------------
declare -A RATE
for mode in off on; do
	rm -rf "$TMP/data"; mkdir -p "$TMP/data"
	redis=()
	if [ $mode = on ]; then
		pick_port RPORT || die "no free port found"
		start_redis "$RPORT"
		redis=(--redis "127.0.0.1:$RPORT")
	fi
	python3 "$ROOT/tests/bench/benchconfig.py" "$CONF" "$TMP/parkd.json" "$TMP/data" \
	    "$DURABILITY" "$SPOTS" "${redis[@]}" || die "cannot write the config"
	start_parkd "$TMP/parkd.json"
	for c in $CONNS; do
		r=$(load_run "$c")
		RATE[$mode,$c]=${r:-0}
		if [ $mode = on ]; then
			read -r pend state <<<"$(TOOL health "$PORT" audit.pending audit.state)"
			t0=$(date +%s.%N)
			read -r _ _ tdone <<<"$(TOOL drain_watch "$PORT" 120)"
			if [ "$pend" = 0 ]; then
				lag="no audit backlog at the end ($state)"
			else
				lag="audit backlog at the end $pend events ($state), shipped within $(awk -v a="$tdone" -v b="$t0" 'BEGIN { printf "%.2f", a - b }') s"
			fi
			echo "  audit on, $c conns: ${RATE[$mode,$c]} pairs/s; $lag"
		else
			echo "  audit off, $c conns: ${RATE[$mode,$c]} pairs/s"
		fi
	done
	stop_parkd
	[ $mode = on ] && stop_redis
done
echo
printf '%6s %14s %14s %8s\n' conns "off pairs/s" "on pairs/s" "on/off"
for c in $CONNS; do
	printf '%6s %14s %14s %8s\n' "$c" "${RATE[off,$c]}" "${RATE[on,$c]}" \
	    "$(awk -v a="${RATE[on,$c]}" -v b="${RATE[off,$c]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
done
echo

# --- 2. drain rate -----------------------------------------------------------
rm -rf "$TMP/data"; mkdir -p "$TMP/data"
pick_port RPORT || die "no free port found"
python3 "$ROOT/tests/bench/benchconfig.py" "$CONF" "$TMP/parkd.json" "$TMP/data" \
    none "$SPOTS" --redis "127.0.0.1:$RPORT" ||
    die "cannot write the config"
start_parkd "$TMP/parkd.json"
read -r n secs errs <<<"$(TOOL pipelined "$PORT" "$DRAIN_PAIRS")"
[ "${errs:-1}" = 0 ] || { echo "audit-bench: $errs error replies while generating" >&2; status=1; }
read -r pend lsn state <<<"$(TOOL health "$PORT" audit.pending journal.durable_lsn audit.state)"
echo "drain: $n pairs generated with Redis down in $secs s; audit $state, pending $pend events (journal LSN $lsn)"
t_start=$(date +%s.%N)
start_redis "$RPORT"
read -r p0 tprog tdone <<<"$(TOOL drain_watch "$PORT" 600 "$pend")"
if [ "$tdone" = -1 ]; then
	echo "audit-bench: the backlog was not shipped within 600 s" >&2
	status=1
else
	awk -v p="$p0" -v tp="$tprog" -v td="$tdone" -v t0="$t_start" 'BEGIN {
	    tp -= t0; td -= t0; ship = td - tp
	    printf "drain: %d events shipped %.2f s after Redis started (first progress after %.2f s: start-up and reconnect backoff)\n", p, td, tp
	    if (ship > 0) printf "drain rate: %.0f events/s from first progress (%.2f s), %.0f events/s counting the reconnect\n", p / ship, ship, p / td
	}'
fi
read -r shipped failures <<<"$(TOOL health "$PORT" audit.shipped audit.failures)"
echo "  health: audit.shipped $shipped, failures $failures"
stop_parkd
stop_redis
echo
[ $status -eq 0 ] && echo "audit benchmark: done" || echo "audit benchmark: problems (see above)"
exit $status
