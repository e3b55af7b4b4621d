#!/bin/bash
# tests/bench/run.sh BUILD_DIR - the TCP load run of parkd, then the other
# benchmarks (`make bench` runs it as `tests/bench/run.sh build`).
#
# Starts BUILD_DIR/parkd on a free loopback port with a configuration made
# from conf/parkd.json: BENCH_SPOTS more regular spots on an extra level (so
# 64 connections never see lot_full), the per-connection rate limit off (it
# would cap one connection at 2000 requests/s), no HTTP listener, no Redis,
# a data_dir in a temporary directory and "durability" from DURABILITY.
# Runs BUILD_DIR/bench/loadgen with 1, 8 and 64 connections, prints a table,
# stops the daemon with SIGTERM (it must exit 0), then runs every other
# program in BUILD_DIR/bench/ (micro-benchmarks of the core: they need no
# daemon, and it would only compete for the CPUs).
#
# Environment:
#   BENCH_SECONDS   measured seconds per load run        (default 5)
#   BENCH_WARMUP    warm-up seconds per load run         (default 1)
#   BENCH_CONNS     connection counts                    (default "1 8 64")
#   BENCH_PIPELINE  requests in flight per connection    (default 1)
#   BENCH_SPOTS     regular spots added to the facility  (default 5000)
#   DURABILITY      fsync | write | none                 (default fsync)
#   LOADGEN_ARGS    more loadgen arguments, e.g. "-t 1"
#   BENCH_VERBOSE=1 print every loadgen report, not only the failing ones
#   TMPDIR          where the temporary directory (config, data, logs) goes;
#                   put it on the disk you mean to measure: fsync on tmpfs is free
#
# Exit status: 0 when every run was clean and the daemon exited 0.
set -u

die() { echo "bench: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ -d "$1" ] || die "$1: no such build directory"
BUILD=$(cd "$1" && pwd) || exit 1
ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
CONF=$ROOT/conf/parkd.json
PARKD=$BUILD/parkd
LOADGEN=$BUILD/bench/loadgen

SECONDS_EACH=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNS:-1 8 64}
PIPELINE=${BENCH_PIPELINE:-1}
SPOTS=${BENCH_SPOTS:-5000}
DURABILITY=${DURABILITY:-fsync}
case $DURABILITY in fsync|write|none) ;; *) die "DURABILITY must be fsync, write or none" ;; esac
case $SPOTS in ''|*[!0-9]*) die "BENCH_SPOTS must be a number" ;; esac
[ -x "$PARKD" ] || die "$PARKD: not built (make)"
[ -x "$LOADGEN" ] || die "$LOADGEN: not built (make bench)"
[ -r "$CONF" ] || die "$CONF: missing"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/parkd-bench.XXXXXX") || die "mktemp failed"
PID=
LOG=$TMP/parkd.log

cleanup() {
	local rc=$?
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	if [ $rc -ne 0 ] && [ -s "$LOG" ]; then
		echo "bench: last lines of the daemon log:" >&2
		tail -n 20 "$LOG" >&2
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# --- the configuration --------------------------------------------------
CFG=$TMP/parkd.json
mkdir -p "$TMP/data"
python3 "$ROOT/tests/bench/benchconfig.py" "$CONF" "$CFG" "$TMP/data" "$DURABILITY" "$SPOTS" ||
	die "cannot write the config (python3 is needed)"
CHECK=$("$PARKD" -c "$CFG" --check-config 2>&1) || die "generated config rejected: $CHECK"

# --- the daemon -----------------------------------------------------------
. "$ROOT/tests/bench/ports.sh"

start_daemon() {
	local port
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		pick_port port || continue
		: > "$LOG"
		"$PARKD" -c "$CFG" --listen "127.0.0.1:$port" >>"$LOG" 2>&1 &
		PID=$!
		if await_listen "$PID" "$LOG" parkd 5 grep -q 'server: listening' "$LOG"; then
			PORT=$port
			return 0
		fi
		PID=
	done
	die "no free port found"
}

# Clock ticks of CPU the daemon has used so far: its threads, and its
# children that it has reaped (snapshot writers).
daemon_ticks() { sed 's/.*) //' "/proc/$PID/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}'; }

# One inline command over /dev/tcp; prints the reply line.
ask() {
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf '%s\n' "$1" >&3
	IFS= read -r -t 5 reply <&3
	exec 3>&- 3<&-
	printf '%s\n' "$reply"
}

start_daemon
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
FS=$(stat -f -c %T "$TMP/data" 2>/dev/null || echo "?")
JOURNAL=$(ask health | sed -n 's/.*"journal":\({[^}]*}\).*/\1/p')
echo "parkd load benchmark: $CHECK"
echo "  $PARKD pid $PID on 127.0.0.1:$PORT, durability $DURABILITY" \
    "(data dir on $FS; health journal ${JOURNAL:-?}), $NCPU CPUs online"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
echo "  load average before the runs: ${LOAD:-?} (anything else running skews the numbers)"
echo "  loadgen: ${SECONDS_EACH} s measured after ${WARMUP} s warm-up per run," \
    "pipeline $PIPELINE, connections: $CONNS ${LOADGEN_ARGS:+(args: $LOADGEN_ARGS)}"
echo

# --- the load runs --------------------------------------------------------
status=0
rows=()
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
for c in $CONNS; do
	kill -0 "$PID" 2>/dev/null || die "parkd is gone before the $c-connection run"
	out=$TMP/loadgen-$c.txt
	t0=$(daemon_ticks); w0=$(date +%s%N)
	# shellcheck disable=SC2086
	"$LOADGEN" -p "$PORT" -c "$c" -d "$SECONDS_EACH" -w "$WARMUP" -P "$PIPELINE" \
	    ${LOADGEN_ARGS:-} > "$out" 2>&1
	rc=$?
	t1=$(daemon_ticks); w1=$(date +%s%N)
	res=$(sed -n 's/^RESULT //p' "$out")
	if [ $rc -ne 0 ] || [ -z "$res" ] || [ "${BENCH_VERBOSE:-0}" = 1 ]; then
		cat "$out"
		echo
	fi
	if [ -z "$res" ]; then
		echo "bench: loadgen with $c connections failed (exit $rc)" >&2
		status=1
		[ $rc -eq 2 ] && exit 1	# could not even connect
		continue
	fi
	[ $rc -ne 0 ] && status=1
	dcpu=$(awk -v t="$((${t1:-0} - ${t0:-0}))" -v hz="$HZ" -v w="$((w1 - w0))" \
	    'BEGIN { printf "%.0f", (w > 0 ? 100 * t / hz / (w / 1e9) : 0) }')
	rows+=("$(printf '%5s %7s %10s %10s %8s %8s %8s %8s %9s %7s %6s %6s' \
	    "$c" "$(field "$res" threads)" "$(field "$res" pairs_per_s)" \
	    "$(field "$res" req_per_s)" "$(field "$res" p50_us)" \
	    "$(field "$res" p90_us)" "$(field "$res" p99_us)" \
	    "$(field "$res" p999_us)" "$(field "$res" max_us)" \
	    "$(( $(field "$res" errors) + $(field "$res" lost) ))" \
	    "$(field "$res" cpu_pct)%" "$dcpu%")")
done

echo "conns threads    pairs/s     reqs/s  p50 us   p90 us   p99 us p99.9 us    max us  errors  lg cpu parkd cpu"
for r in "${rows[@]}"; do echo "$r"; done
echo "(pairs: entry+exit; latency per request, send -> reply; errors: error replies" \
    "+ lost connections; cpu: % of one core over the run incl. warm-up)"

# --- stop the daemon --------------------------------------------------------
kill -TERM "$PID"
for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then
	die "parkd did not exit within 10 s of SIGTERM"
fi
wait "$PID"
rc=$?
PID=
if [ $rc -ne 0 ]; then
	echo "bench: parkd exited with status $rc after SIGTERM" >&2
	tail -n 20 "$LOG" >&2
	status=1
else
	echo "parkd stopped on SIGTERM, exit status 0"
fi
nwarn=$(grep -c -E '^(warn|err|crit|fatal)' "$LOG")
if [ "$nwarn" -gt 0 ]; then
	echo "bench: the daemon logged $nwarn warnings/errors; the first ones:" >&2
	grep -E '^(warn|err|crit|fatal)' "$LOG" | head -n 5 >&2
fi

# --- the other benchmarks ---------------------------------------------------
others=0
for b in "$BUILD"/bench/*; do
	name=${b##*/}
	[ -f "$b" ] && [ -x "$b" ] || continue
	case $name in loadgen|*.d|*.o|*.txt|*.log) continue ;; esac
	others=$((others + 1))
	echo
	echo "== $name"
	"$b"
	rc=$?
	[ $rc -eq 0 ] || { echo "bench: $name failed (exit $rc)" >&2; status=1; }
done
[ $others -eq 0 ] && echo "(no other benchmark programs in $BUILD/bench)"

exit $status
