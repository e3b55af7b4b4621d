#!/bin/bash
# tests/bench/durability.sh BUILD_DIR - what durability costs, and how long a
# restart takes after a million journaled changes.
#
# Part 1, load: for each durability mode (fsync, write, none) starts
# BUILD_DIR/parkd on a configuration made from conf/parkd.json (BENCH_SPOTS
# more regular spots on an extra level so that 64 connections never see
# lot_full, the per-connection rate limit off, no Redis, a data_dir in a
# temporary directory) and runs entry+exit pairs with 1, 8 and 64
# connections: BUILD_DIR/bench/loadgen when it is built, else
# tests/bench/pyloadgen.py (one Python thread: it saturates long before
# parkd does, so its numbers are a lower bound).  Prints one table.  The
# records-per-fsync column (group commit) comes from GET /metrics.
#
# Part 2, restart: RESTART_CHANGES (default 1000000) changes are made as fast
# as possible (tests/bench/journal_fill.py: pipelined inline entry/exit lines
# over several connections, durability none), then
#   a) snapshot_every huge (no snapshot):    SIGKILL, time the restart
#                                             (replay of the whole journal);
#   b) snapshot_every default (100000):      SIGKILL, time the restart (newest
#                                             snapshot + the journal after it),
#                                             then SIGTERM (final snapshot: timed)
#                                             and time the clean restart.
# "Restart time" is from spawning parkd until it answers ping on its port;
# the daemon's own log line ("replayed N records in Xs") is shown too.
#
# Environment:
#   BENCH_SECONDS    measured seconds per load run           (default 5)
#   BENCH_WARMUP     warm-up seconds per load run            (default 1)
#   BENCH_CONNS      connection counts                       (default "1 8 64")
#   BENCH_MODES      durability modes                        (default "fsync write none")
#   BENCH_PIPELINE   requests in flight per connection       (default 1)
#   BENCH_SPOTS      regular spots added to the facility     (default 5000)
#   RESTART_CHANGES  changes journaled before the restarts   (default 1000000; 0 skips part 2)
#   FILL_CONNS       connections of the filler               (default 4)
#   LOADGEN          a load generator to use instead         (same options and RESULT line)
#   TMPDIR           where the data goes; put it on the disk you mean to
#                    measure (fsync on tmpfs is free)
#
# Exit status: 0 when every run was clean and every daemon exited 0 on SIGTERM.
set -u

die() { echo "durability bench: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ -d "$1" ] || die "$1: no such build directory"
BUILD=$(cd "$1" && pwd) || exit 1
HERE=$(cd "$(dirname "$0")" && pwd) || exit 1
ROOT=$(cd "$HERE/../.." && pwd) || exit 1
CONF=$ROOT/conf/parkd.json
PARKD=$BUILD/parkd

SECONDS_EACH=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNS:-1 8 64}
MODES=${BENCH_MODES:-fsync write none}
PIPELINE=${BENCH_PIPELINE:-1}
SPOTS=${BENCH_SPOTS:-5000}
CHANGES=${RESTART_CHANGES:-1000000}
FILL_CONNS=${FILL_CONNS:-4}

command -v python3 >/dev/null 2>&1 || die "python3 is needed"
[ -x "$PARKD" ] || die "$PARKD: not built (make)"
[ -r "$CONF" ] || die "$CONF: missing"
if [ -n "${LOADGEN:-}" ]; then
	LG=("$LOADGEN"); LGNAME=$LOADGEN
elif [ -x "$BUILD/bench/loadgen" ]; then
	LG=("$BUILD/bench/loadgen"); LGNAME="$BUILD/bench/loadgen"
else
	LG=(python3 "$HERE/pyloadgen.py"); LGNAME="tests/bench/pyloadgen.py (no $BUILD/bench/loadgen)"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/parkd-dbench.XXXXXX") || die "mktemp failed"
PID=
LOG=

cleanup() {
	local rc=$?
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	if [ $rc -ne 0 ] && [ -n "$LOG" ] && [ -s "$LOG" ]; then
		echo "durability bench: last lines of the daemon log:" >&2
		tail -n 20 "$LOG" >&2
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# gen_config OUT DATA_DIR DURABILITY SNAPSHOT_EVERY(0 = default) HTTP_PORT
gen_config() {
	local snap=()
	[ "$4" -gt 0 ] && snap=(--snapshot-every "$4")
	python3 "$ROOT/tests/bench/benchconfig.py" "$CONF" "$1" "$2" "$3" "$SPOTS" \
	    --http "$5" "${snap[@]}" || die "cannot write the config"
	local check
	check=$("$PARKD" -c "$1" --check-config 2>&1) || die "generated config rejected: $check"
}

. "$ROOT/tests/bench/ports.sh"
now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }

# One inline command; prints the reply line (empty when nothing answered).
ask() {
	local reply=
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || return 1
	printf '%s\n' "$1" >&3
	IFS= read -r -t 30 reply <&3
	exec 3>&- 3<&-
	printf '%s\n' "$reply"
}

# The value of one metric from GET /metrics, or "".
metric() {
	local v
	v=$(exec 3<>"/dev/tcp/127.0.0.1/$HPORT" 2>/dev/null &&
	    printf 'GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n' >&3 &&
	    timeout 5 cat <&3 | sed -n "s/^$1 \\([0-9.e+]*\\).*/\\1/p" | head -1)
	printf '%s\n' "$v"
}

# start_daemon CFG LOG: spawns parkd on a free port, waits until it answers
# ping; sets PID, PORT and STARTUP_MS (spawn -> first pong).
start_daemon() {
	local cfg=$1 t0 r
	LOG=$2
	pick_port PORT || die "no free port found"
	t0=$(now_ns)
	"$PARKD" -c "$cfg" --listen "127.0.0.1:$PORT" >>"$LOG" 2>&1 &
	PID=$!
	while :; do
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID"; r=$?; PID=
			die "parkd exited $r while starting"
		fi
		if port_busy "$PORT"; then
			r=$(ask ping)
			case $r in *pong*) break ;; esac
		fi
		[ "$(ms_since "$t0")" -gt 600000 ] && die "parkd did not answer within 10 minutes"
		sleep 0.005
	done
	STARTUP_MS=$(ms_since "$t0")
}

# Children of the daemon (snapshot writers), so that a SIGKILL can wait for
# them: they keep the inherited listening socket until they are done.
children() { cat /proc/"$PID"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$'; }

# stop_daemon SIG: sets STOP_MS; SIGTERM must end in exit 0.
stop_daemon() {
	local sig=$1 t0 rc kids waited=0
	kids=$(children)
	t0=$(now_ns)
	kill "-$sig" "$PID"
	{ wait "$PID"; } 2>/dev/null; rc=$?
	STOP_MS=$(ms_since "$t0")
	PID=
	for k in $kids; do
		while kill -0 "$k" 2>/dev/null; do sleep 0.01; waited=1; done
	done
	ORPHAN_MS=$([ $waited = 1 ] && ms_since "$t0" || echo 0)
	if [ "$sig" = TERM ] && [ $rc -ne 0 ]; then
		echo "durability bench: parkd exited $rc on SIGTERM" >&2
		STATUS=1
	fi
}

lsn() { ask health | sed -n 's/.*"lsn":\([0-9]*\).*/\1/p'; }
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
mkdir -p "$TMP/d"
FS=$(stat -f -c %T "$TMP/d" 2>/dev/null || echo "?")
STATUS=0

echo "parkd durability benchmark: $PARKD, $NCPU CPUs online, data on $FS ($TMP)"
echo "  load: $LGNAME, ${SECONDS_EACH} s measured after ${WARMUP} s warm-up," \
    "pipeline $PIPELINE, facility +$SPOTS regular spots"

# --- part 1: load per durability mode ---------------------------------------
if [ -n "$MODES" ] && [ -n "$CONNS" ]; then
	rows=()
	for mode in $MODES; do
		case $mode in fsync|write|none) ;; *) die "unknown durability mode $mode" ;; esac
		rm -rf "$TMP/d"; mkdir -p "$TMP/d"
		pick_port HPORT || die "no free port found"
		gen_config "$TMP/load.json" "$TMP/d" "$mode" 0 "$HPORT"
		start_daemon "$TMP/load.json" "$TMP/load-$mode.log"
		for c in $CONNS; do
			out=$TMP/lg-$mode-$c.txt
			r0=$(metric parkd_journal_records_total); f0=$(metric parkd_journal_fsyncs_total)
			b0=$(metric parkd_journal_batches_total)
			"${LG[@]}" -p "$PORT" -c "$c" -d "$SECONDS_EACH" -w "$WARMUP" -P "$PIPELINE" >"$out" 2>&1
			rc=$?
			r1=$(metric parkd_journal_records_total); f1=$(metric parkd_journal_fsyncs_total)
			b1=$(metric parkd_journal_batches_total)
			res=$(sed -n 's/^RESULT //p' "$out")
			if [ -z "$res" ] || [ $rc -ne 0 ]; then
				cat "$out"
				echo "durability bench: $mode, $c connections: load generator failed ($rc)" >&2
				STATUS=1
				[ -z "$res" ] && continue
			fi
			per=-
			if [ -n "$r1" ] && [ -n "$b1" ]; then
				per=$(awk -v r="$((${r1%.*} - ${r0%.*}))" -v f="$((${f1%.*} - ${f0%.*}))" \
				    -v b="$((${b1%.*} - ${b0%.*}))" 'BEGIN {
					n = (f > 0 ? f : b); if (n > 0) printf "%.1f", r / n; else print "-" }')
			fi
			rows+=("$(printf '%-6s %5s %9s %9s %8s %8s %8s %9s %9s %6s %9s' "$mode" "$c" \
			    "$(field "$res" pairs_per_s)" "$(field "$res" req_per_s)" \
			    "$(field "$res" p50_us)" "$(field "$res" p90_us)" "$(field "$res" p99_us)" \
			    "$(field "$res" p999_us)" "$(field "$res" max_us)" \
			    "$(( $(field "$res" errors) + $(field "$res" lost) ))" "$per")")
		done
		stop_daemon TERM
	done
	echo
	printf '%-6s %5s %9s %9s %8s %8s %8s %9s %9s %6s %9s\n' durab conns pairs/s req/s \
	    "p50 us" "p90 us" "p99 us" "p99.9 us" "max us" errors recs/sync
	for r in "${rows[@]}"; do echo "$r"; done
	echo "(pairs: entry+exit; latency per request, send -> reply; recs/sync: journal records" \
	    "per fdatasync (fsync) or per write batch (write, none), from /metrics)"
fi

# --- part 2: restart after a million changes ----------------------------------
fill() {
	local out
	out=$(python3 "$HERE/journal_fill.py" -p "$PORT" -n "$CHANGES" -c "$FILL_CONNS" -x "$1" 2>&1) ||
	    { echo "$out" >&2; die "filling the journal failed"; }
	echo "  filled: $out, journal LSN $(lsn)"
}
data_size() { du -sh "$1" | cut -f1; }
files() { ls "$1" | tr '\n' ' '; }
replay_line() { grep -E 'replayed|loaded snapshot' "$1" | tail -2 | sed 's/^/    log: /'; }

if [ "$CHANGES" -gt 0 ]; then
	echo
	echo "restart after $CHANGES journaled changes (filled with durability none," \
	    "$FILL_CONNS pipelined connections):"

	# a) no snapshot: the whole journal is replayed.
	rm -rf "$TMP/d"; mkdir -p "$TMP/d"
	pick_port HPORT || die "no free port found"
	gen_config "$TMP/r1.json" "$TMP/d" none 1000000000 "$HPORT"
	: > "$TMP/r1.log"
	start_daemon "$TMP/r1.json" "$TMP/r1.log"
	echo " a) snapshot_every 1000000000 (never):"
	fill A
	stop_daemon KILL
	echo "  data dir $(data_size "$TMP/d"): $(files "$TMP/d")"
	: > "$TMP/r1b.log"
	start_daemon "$TMP/r1.json" "$TMP/r1b.log"
	RA=$STARTUP_MS
	echo "  SIGKILL, restart until ping answers: ${STARTUP_MS} ms (journal LSN $(lsn)); RSS $(ps -o rss= -p "$PID") KiB"
	replay_line "$TMP/r1b.log"
	stop_daemon TERM
	echo "  then SIGTERM (writes a snapshot of it all): ${STOP_MS} ms"
	rm -rf "$TMP/d"

	# b) default snapshot_every.
	mkdir -p "$TMP/d"
	pick_port HPORT || die "no free port found"
	gen_config "$TMP/r2.json" "$TMP/d" none 0 "$HPORT"
	: > "$TMP/r2.log"
	start_daemon "$TMP/r2.json" "$TMP/r2.log"
	echo " b) snapshot_every default (100000):"
	fill B
	stop_daemon KILL
	[ "$ORPHAN_MS" -gt 0 ] && echo "  (a snapshot child outlived the daemon by ${ORPHAN_MS} ms)"
	echo "  data dir $(data_size "$TMP/d"): $(files "$TMP/d")"
	: > "$TMP/r2b.log"
	start_daemon "$TMP/r2.json" "$TMP/r2b.log"
	RB=$STARTUP_MS
	echo "  SIGKILL, restart until ping answers: ${STARTUP_MS} ms (journal LSN $(lsn))"
	replay_line "$TMP/r2b.log"
	stop_daemon TERM
	echo "  SIGTERM (final snapshot): ${STOP_MS} ms; data dir $(data_size "$TMP/d"): $(files "$TMP/d")"
	: > "$TMP/r2c.log"
	start_daemon "$TMP/r2.json" "$TMP/r2c.log"
	RC=$STARTUP_MS
	echo "  clean restart until ping answers: ${STARTUP_MS} ms (journal LSN $(lsn))"
	replay_line "$TMP/r2c.log"
	stop_daemon TERM
	echo
	printf '%-52s %10s\n' "restart after $CHANGES changes" "ms"
	printf '%-52s %10s\n' "SIGKILL, no snapshot (full journal replay)" "$RA"
	printf '%-52s %10s\n' "SIGKILL, snapshot_every 100000" "$RB"
	printf '%-52s %10s\n' "SIGTERM (final snapshot), snapshot_every 100000" "$RC"
fi

exit $STATUS
