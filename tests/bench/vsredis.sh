#!/bin/bash
# tests/bench/vsredis.sh BUILD_DIR - parkd against redis-server SET, through
# the same load generator, on the same machine, in one run (`make
# bench-redis`).
#
# The yardstick is a private redis-server (a free loopback port, its own
# directory) answering `SET <plate> <gate>` sent by BUILD_DIR/bench/loadgen
# -m redis; parkd answers entry then exit of one plate from the same
# generator.  Each server runs alone while it is measured.  With two or more
# CPUs and taskset(1), the server is pinned to CPU 0 and the generator (one
# thread) to CPU 1, so that neither steals the other's core.  parkd runs on
# a configuration made from conf/parkd.json with BENCH_SPOTS more regular
# spots (default 9894: a 10 000-spot facility), the rate limit off, and an
# HTTP listener only with durability fsync (for the journal's metrics).
#
# Rows (requests/s: an entry or an exit is one request, as is one SET):
#   pipeline 1     50 connections, one request in flight each; parkd
#                  durability none and audit off, Redis without persistence
#   pipeline 16    the same with 16 in flight per connection
#   p16 logged     pipeline 16 with Redis appending every SET to its AOF
#                  (appendfsync no, no rewrites during the run): parkd's
#                  durability none still writes every change to its journal,
#                  so this is the like-for-like row for what logging costs
#                  each (informational; the goal is the row above)
#   half peak      both paced (-r) at half of parkd's pipeline-1 rate: the
#                  p99 latency each shows there
#   durable        64 connections, pipeline 1: parkd durability fsync against
#                  Redis appendonly yes, appendfsync always
#   fsync / none   parkd at 64 connections, fsync against none
#   audit on/off   parkd at 64 connections, durability none, audit to a
#                  second private redis-server (unpinned) against audit off
# Each row also shows the measured server's own CPU time (user + system,
# every thread) per request over the measured seconds, the user part of it
# (the server's own code; the rest is the kernel's), and in the audit
# rows the audit Redis's: on two cores a lower rate can be the server's own
# cost or CPU taken by another process, and this tells which.  Under each
# row with parkd at durability fsync, the way of its group commits over the
# measured seconds (from /metrics): records a batch, how long the oldest
# change of a batch waited, and of that the thread pool's queue, the write,
# the fsync and the hand-back to the loop.
# Then build/bench/bench_alloc (the core at up to a million spots), so a
# regression in the core shows in the same run.
#
# Environment:
#   BENCH_SECONDS   measured seconds per run       (default 5)
#   BENCH_WARMUP    warm-up seconds per run        (default 1)
#   BENCH_SPOTS     regular spots added            (default 9894)
#   VS_ROWS         rows to run, of: p1 p16 p16log half durable audit alloc
#                   (default all of them)
#   VS_REPS         runs of each side of a row, alternating (default 1)
#   VS_PIN=0        do not pin to CPUs
#   VS_NONE_SNAPSHOT_EVERY  parkd's journal.snapshot_every in the rows with
#                   durability none (default 1e9: none during a run, as
#                   Redis there runs without persistence)
#   REDIS_SERVER    redis-server binary            (default redis-server)
#   TMPDIR          where data, AOF and logs go; fsync on tmpfs is free, so
#                   put it on the disk you mean to measure
#
# Every number is one run: on a machine shared with other work they move by
# tens of percent, so run it several times and look at the range.
# Exit status: 0 when every run was clean (no errors, every parkd exited 0).
set -u

die() { echo "vsredis: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ -d "$1" ] || die "$1: no such build directory"
BUILD=$(cd "$1" && pwd) || exit 1
ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
CONF=$ROOT/conf/parkd.json
PARKD=$BUILD/parkd
LOADGEN=$BUILD/bench/loadgen
REDIS_SERVER=${REDIS_SERVER:-redis-server}
SECS=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP:-1}
SPOTS=${BENCH_SPOTS:-9894}
ROWS=${VS_ROWS:-p1 p16 p16log half durable audit alloc}
REPS=${VS_REPS:-1}

[ -x "$PARKD" ] || die "$PARKD: not built (make)"
[ -x "$LOADGEN" ] || die "$LOADGEN: not built (make bench-bins)"
command -v "$REDIS_SERVER" >/dev/null 2>&1 || die "$REDIS_SERVER: not found (apt-get install redis-server)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed"

SRV_PIN=()
LG_PIN=()
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
if [ "${VS_PIN:-1}" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
	SRV_PIN=(taskset -c 0)
	LG_PIN=(taskset -c 1)
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/parkd-vsredis.XXXXXX") || die "mktemp failed"
PID=
RPID=
APID=
status=0

stop_pid() { # pid
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

cleanup() {
	local rc=$?
	stop_pid "$PID"
	stop_pid "$RPID"
	stop_pid "$APID"
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

. "$ROOT/tests/bench/ports.sh"

# Starts a redis-server; sets REDIS_PID and REDIS_PORT.  Args: pin? extra...
# A port taken between the pick and the bind: another port, as start_parkd.
start_redis() {
	local pin=$1 dir port pre=()
	shift
	[ "$pin" = pin ] && pre=("${SRV_PIN[@]}")
	for _ in 1 2 3 4 5; do
		pick_port port || die "no free port found"
		dir=$TMP/redis-$port
		mkdir -p "$dir"
		"${pre[@]}" "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' \
		    --dir "$dir" --daemonize no --logfile "$dir/redis.log" "$@" &
		REDIS_PID=$!
		REDIS_PORT=$port
		await_listen "$REDIS_PID" "$dir/redis.log" redis-server 10 \
		    port_busy "$port" && return 0
		REDIS_PID=
	done
	die "no free port for redis-server"
}

# Starts parkd pinned; sets PID, PORT and HTTP_PORT (fsync only, else
# empty).  Args: durability [--redis H:P]
start_parkd() {
	local dur=$1 cfg=$TMP/parkd.json log=$TMP/parkd.log port http
	shift
	rm -rf "$TMP/data"
	mkdir -p "$TMP/data"
	# Redis runs these rows without persistence: with durability none parkd
	# takes no snapshot either (at 100 000 requests/s the default cadence,
	# every 100 000 records, forks a 40 MB snapshot about once a second).
	# fsync keeps the default cadence: its row pays for snapshots as a
	# deployment does.
	local snap=()
	[ "$dur" = none ] && snap=(--snapshot-every "${VS_NONE_SNAPSHOT_EVERY:-1000000000}")
	for _ in 1 2 3 4 5; do
		pick_port port || die "no free port found"
		http=()
		HTTP_PORT=
		if [ "$dur" = fsync ]; then
			pick_port HTTP_PORT || die "no free port found"
			http=(--http "$HTTP_PORT")
		fi
		python3 "$ROOT/tests/bench/benchconfig.py" "$CONF" "$cfg" "$TMP/data" "$dur" \
		    "$SPOTS" "${snap[@]}" "${http[@]}" "$@" || die "cannot write the config"
		: > "$log"
		"${SRV_PIN[@]}" "$PARKD" -c "$cfg" --listen "127.0.0.1:$port" >>"$log" 2>&1 &
		PID=$!
		if await_listen "$PID" "$log" parkd 10 grep -q 'server: listening' "$log"; then
			PORT=$port
			return 0
		fi
		PID=
	done
	die "no free port for parkd"
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
		echo "vsredis: parkd exited with status $rc" >&2
		tail -n 20 "$TMP/parkd.log" >&2
		status=1
	fi
}

# One load run: sets LOAD_RES to "req_per_s p99_us cpu_us audit_cpu_us
# user_us" (the last three a request; "0 0 0 0 0" on failure), and LOAD_WAY
# to the journal's way over the measured seconds (see journal_way) when the
# server is parkd with HTTP_PORT set, else to "".
# Args: mode port conns pipeline [more loadgen args].  Not in a subshell:
# it sets status.
load() {
	local mode=$1 port=$2 conns=$3 pipe=$4 out=$TMP/load.txt res lg c0 c1 a0 a1 u0 u1 j0
	shift 4
	"${LG_PIN[@]}" "$LOADGEN" -m "$mode" -p "$port" -c "$conns" -t 1 -P "$pipe" \
	    -d "$SECS" -w "$WARMUP" "$@" > "$out" 2>&1 &
	lg=$!
	# The server's own CPU over the measured seconds (the warm-up left
	# out), so that a slower row can be told apart from a server that was
	# starved of CPU by another process on the machine.
	sleep "$WARMUP"
	read -r c0 u0 <<<"$(cpu_ticks "$SERVER_PID")"
	read -r a0 _ <<<"$(cpu_ticks "${APID:-0}")"
	j0=$(journal_totals "$mode")
	wait "$lg"
	read -r c1 u1 <<<"$(cpu_ticks "$SERVER_PID")"
	read -r a1 _ <<<"$(cpu_ticks "${APID:-0}")"
	LOAD_WAY=$(journal_way "$j0" "$(journal_totals "$mode")")
	res=$(sed -n 's/^RESULT //p' "$out")
	case $res in
	*" errors=0 lost=0 "*) ;;
	*)	echo "vsredis: $mode run with $conns connections, pipeline $pipe failed:" >&2
		cat "$out" >&2
		status=1 ;;
	esac
	if [ -z "$res" ]; then
		LOAD_RES="0 0 0 0 0"
		return
	fi
	LOAD_RES=$(printf '%s\n' "$res" | tr ' ' '\n' | awk -F= -v ticks=$((c1 - c0)) \
	    -v aticks=$((a1 - a0)) -v uticks=$((u1 - u0)) -v hz="$(getconf CLK_TCK)" '
	    $1 == "req_per_s" { r = $2 } $1 == "p99_us" { p = $2 } $1 == "requests" { n = $2 }
	    END { if (n == 0) { printf "%.0f %.0f 0.0 0.0 0.0\n", r, p; exit }
	          printf "%.0f %.0f %.1f %.1f %.1f\n", r, p, ticks / hz * 1e6 / n,
	              aticks / hz * 1e6 / n, uticks / hz * 1e6 / n }')
}

# The journal's totals from parkd's /metrics (HTTP_PORT): batches, then
# the sums of records, commit wait, queue, write, fsync and hand-back
# seconds.  Empty unless the load's mode ($1) is parkd with a listener.
journal_totals() {
	[ "$1" = parkd ] && [ -n "${HTTP_PORT:-}" ] || return 0
	python3 - "$HTTP_PORT" <<'PY' 2>/dev/null
import sys
import urllib.request
names = ["commit_seconds_count", "batch_records_sum", "commit_seconds_sum",
         "queue_seconds_sum", "write_seconds_sum", "fsync_seconds_sum",
         "handback_seconds_sum"]
url = "http://127.0.0.1:%s/metrics" % sys.argv[1]
got = {}
for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
    f = line.split()
    if len(f) == 2 and f[0].startswith("parkd_journal_"):
        got[f[0][len("parkd_journal_"):]] = f[1]
print(" ".join(got[n] for n in names))
PY
}

# From two journal_totals: "records commit queue write fsync handback", a
# batch's records and microseconds on average, or "" without both or
# without batches between them.
journal_way() {
	[ -n "$1" ] && [ -n "$2" ] || return 0
	awk -v a="$1" -v b="$2" 'BEGIN {
	    n = split(a, x, " "); split(b, y, " ")
	    if (n != 7 || y[1] <= x[1]) exit
	    k = y[1] - x[1]
	    printf "%.1f", (y[2] - x[2]) / k
	    for (i = 3; i <= 7; i++) printf " %.0f", (y[i] - x[i]) / k * 1e6
	    print "" }'
}

# utime + stime of a process, then utime alone (its own code; the rest is
# the kernel's), in clock ticks ("0 0" when it is gone or pid 0).
cpu_ticks() {
	[ "$1" != 0 ] && awk '{ print $14 + $15, $14 }' "/proc/$1/stat" 2>/dev/null || echo 0 0
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

want() { case " $ROWS " in *" $1 "*) return 0 ;; esac; return 1; }

# "lo-hi" of the numbers given (or the one number).
range() {
	printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 }
	    END { if (lo == hi) print lo; else print lo "-" hi }'
}

# One measurement of a side of a row; sets LOAD_RES (see load).
#   redis PIPE CONNS [loadgen args]       redis-server without persistence
#   redis-aof PIPE CONNS                   appendonly, appendfsync always
#   redis-log PIPE CONNS                   appendonly, appendfsync no
#   parkd PIPE CONNS DURABILITY [audit] [loadgen args]
side() {
	local what=$1 pipe=$2 conns=$3
	shift 3
	case $what in
	redis)
		start_redis pin --appendonly no
		SERVER_PID=$REDIS_PID
		load redis "$REDIS_PORT" "$conns" "$pipe" "$@"
		stop_pid "$REDIS_PID"; REDIS_PID= ;;
	redis-aof|redis-log)
		if [ "$what" = redis-aof ]; then
			start_redis pin --appendonly yes --appendfsync always
		else
			start_redis pin --appendonly yes --appendfsync no \
			    --auto-aof-rewrite-percentage 0
		fi
		SERVER_PID=$REDIS_PID
		load redis "$REDIS_PORT" "$conns" "$pipe" "$@"
		stop_pid "$REDIS_PID"; REDIS_PID= ;;
	parkd)
		local dur=$1 audit=${2:-}
		shift 2 2>/dev/null || shift $#
		if [ "$audit" = audit ]; then
			start_redis nopin --appendonly no
			APID=$REDIS_PID
			REDIS_PID=
			start_parkd "$dur" --redis "127.0.0.1:$REDIS_PORT"
		else
			start_parkd "$dur"
		fi
		SERVER_PID=$PID
		load parkd "$PORT" "$conns" "$pipe" "$@"
		stop_parkd
		stop_pid "$APID"; APID= ;;
	esac
}

TABLE=()
# A row: REPS alternating measurements of A then B; prints the range of
# each side's rate and of the ratio B/A of each pair, and the p99 ranges.
#   row LABEL -- A-side args -- B-side args
row() {
	local label=$1 a=() b=() ra=() rb=() pa=() pb=() ca=() cb=() xb=() ua=() ub=() rr=() i x y _
	local wa=() wb=()
	shift 2
	while [ "$1" != -- ]; do a+=("$1"); shift; done
	shift
	b=("$@")
	for i in $(seq "$REPS"); do
		side "${a[@]}"
		read -r x 'pa[i]' 'ca[i]' _ 'ua[i]' <<<"$LOAD_RES"
		[ -n "$LOAD_WAY" ] && wa+=("$LOAD_WAY")
		side "${b[@]}"
		read -r y 'pb[i]' 'cb[i]' 'xb[i]' 'ub[i]' <<<"$LOAD_RES"
		[ -n "$LOAD_WAY" ] && wb+=("$LOAD_WAY")
		ra[i]=$x
		rb[i]=$y
		rr[i]=$(ratio "$y" "$x")
	done
	TABLE+=("$(printf '%-40s %15s %15s %11s  p99 us %s | %s; server CPU us/req %s | %s (user %s | %s)%s' \
	    "$label" "$(range "${ra[@]}")" "$(range "${rb[@]}")" "$(range "${rr[@]}")" \
	    "$(range "${pa[@]}")" "$(range "${pb[@]}")" \
	    "$(range "${ca[@]}")" "$(range "${cb[@]}")" \
	    "$(range "${ua[@]}")" "$(range "${ub[@]}")" \
	    "$(case " ${xb[*]} " in *" 0.0 "*) ;; *) echo "; audit Redis $(range "${xb[@]}")" ;; esac)")")
	[ ${#wa[@]} -gt 0 ] && TABLE+=("$(way_line A "${wa[@]}")")
	[ ${#wb[@]} -gt 0 ] && TABLE+=("$(way_line B "${wb[@]}")")
	LAST_B=$(printf '%s\n' "${rb[@]}" | sort -n | head -1)
}

# "    SIDE: R records a batch; its oldest change waited ..." from the
# LOAD_WAY strings of that side's runs, each field a range.
way_line() {
	local side=$1 f k col=()
	shift
	for k in 1 2 3 4 5 6; do
		col[k]=$(range $(for f in "$@"; do echo "$f" | cut -d' ' -f"$k"; done))
	done
	printf '    %s: %s records a batch; its oldest change waited %s us: queue %s, write %s, fsync %s, hand-back %s (the rest on the loop: replies out, requests in, gathering)' \
	    "$side" "${col[1]}" "${col[2]}" "${col[3]}" "${col[4]}" "${col[5]}" "${col[6]}"
}

echo "parkd against redis-server: $PARKD, $("$REDIS_SERVER" --version | cut -d' ' -f1-3)"
echo "  $NCPU CPUs online; server ${SRV_PIN[*]:-unpinned}, loadgen ${LG_PIN[*]:-unpinned} (one thread);" \
    "$SECS s measured after $WARMUP s warm-up; $REPS runs of each side, alternating;" \
    "data on $(stat -f -c %T "$TMP")"
echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine moves every number)"
echo

P1_PARKD=0
if want p1 || want half; then
	row "pipeline 1, 50 conns: redis | parkd" -- redis 1 50 -- parkd 1 50 none
	P1_PARKD=$LAST_B
fi
want p16 && row "pipeline 16, 50 conns: redis | parkd" -- redis 16 50 -- parkd 16 50 none
want p16log && row "p16, both logging: redis aof-no | parkd" -- redis-log 16 50 -- parkd 16 50 none
if want half && [ "${P1_PARKD%.*}" -gt 0 ]; then
	half=$(( ${P1_PARKD%.*} / 2 ))
	row "paced at $half req/s: redis | parkd" -- redis 1 50 -r "$half" -- \
	    parkd 1 50 none "" -r "$half"
fi
if want durable; then
	row "64 conns durable: redis aof | parkd" -- redis-aof 1 64 -- parkd 1 64 fsync
	row "parkd 64 conns: none | fsync" -- parkd 1 64 none -- parkd 1 64 fsync
fi
if want audit; then
	row "parkd 64 conns fsync: audit off | on" -- parkd 1 64 fsync -- parkd 1 64 fsync audit
	row "parkd 64 conns none: audit off | on" -- parkd 1 64 none -- parkd 1 64 none audit
fi

printf '%-40s %15s %15s %11s  %s\n' "row: A | B (requests/s)" "A" "B" "B/A" ""
for r in "${TABLE[@]}"; do echo "$r"; done
echo "(ranges over the runs; B/A of each pair of runs made one after the other;"
echo " the paced row: half of parkd's slowest pipeline-1 run, look at its p99;"
echo " server CPU: the measured server process's user+system time over the measured"
echo " seconds per request, all its threads, and of it the user time (the rest is the"
echo " kernel's: sockets, the journal's writes); an audit row's Redis is not in it, but"
echo " shown after it: on a machine with two cores it competes with parkd for them)"

if want alloc; then
	echo
	echo "== bench_alloc (the core, up to a million spots)"
	"$BUILD/bench/bench_alloc" || { echo "vsredis: bench_alloc failed" >&2; status=1; }
fi
exit $status
