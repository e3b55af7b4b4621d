#!/bin/sh
# scripts/standby-demo.sh BUILD_DIR - the demo garage as a primary and a
# synchronous standby on this machine (conf/standby-*.json), in the
# foreground; Ctrl-C stops both.  `make standby-demo` runs it.
#
#   primary  gates on 127.0.0.1:7070, HTTP 9464, standbys connect to 7080
#   standby  gates on 127.0.0.1:7071, HTTP 9465; follows 7080
#
# Promote the standby (after stopping the primary, say) with
#   echo promote | nc 127.0.0.1 7071
set -u
BUILD=${1:-build}
mkdir -p var || exit 1
"$BUILD/parkd" -c conf/standby-primary.json &
P=$!
"$BUILD/parkd" -c conf/standby-standby.json &
S=$!
trap 'kill -TERM $P $S 2>/dev/null' INT TERM
cat <<MSG
standby demo: primary pid $P on 127.0.0.1:7070, standby pid $S on 127.0.0.1:7071
  health of each:    echo health | nc 127.0.0.1 7070   (7071)
  a change:          echo 'entry gate=north plate=B-XY123 class=car' | nc 127.0.0.1 7070
  read it back:      echo 'locate plate=B-XY123' | nc 127.0.0.1 7071
  the primary dies:  kill -9 $P
  promote:           echo promote | nc 127.0.0.1 7071
Ctrl-C stops both.
MSG
wait $P
wait $S
