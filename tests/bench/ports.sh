# tests/bench/ports.sh - free loopback ports for the benchmark scripts, and
# waiting for a server to listen on one (sourced: vsredis.sh, durability.sh,
# run.sh, audit.sh).
#
# A port is picked below the kernel's ephemeral range.  A port inside it
# may be the local port of an outgoing connection (a load generator's, the
# audit's), which a connect test does not see and which bind then refuses:
# once, redis-server failed to start on such a port in `make bench-redis`.

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PORTS_TOP=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
case $PORTS_TOP in ''|*[!0-9]*) PORTS_TOP=32768 ;; esac
PORTS_LOW=$((PORTS_TOP > 11024 ? PORTS_TOP - 10000 : 1024))
PORTS_LAST=0

# pick_port VAR: sets VAR to a port nothing listens on, never the one picked
# just before (not in a subshell: $RANDOM would repeat itself there).
# Returns 1 when none is found.
pick_port() {
	local p
	for _ in $(seq 100); do
		p=$((PORTS_LOW + RANDOM % (PORTS_TOP - PORTS_LOW)))
		[ "$p" = "$PORTS_LAST" ] && continue
		port_busy "$p" && continue
		PORTS_LAST=$p
		printf -v "$1" '%s' "$p"
		return 0
	done
	return 1
}

# await_listen PID LOG WHAT SECONDS READY...: runs the command READY... until
# it succeeds (0) while PID lives, at most SECONDS.  When PID exits because
# its port was taken between the pick and its bind (LOG says "in use"):
# 1, try another port.  Any other exit, or no READY in time: die (the
# sourcing script's).
await_listen() {
	local pid=$1 log=$2 what=$3 secs=$4
	shift 4
	for _ in $(seq $((secs * 20))); do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null && die "$what did not start listening within $secs s"
	wait "$pid" 2>/dev/null
	grep -qi 'in use' "$log" && return 1
	die "$what failed to start: $(tail -3 "$log")"
}
