#!/bin/sh
# city-billing.sh - a billing service reading the facilities' audit streams:
# every event once, with a Redis consumer group, at its own pace.
set -eu
REDIS=${REDIS:-127.0.0.1:6379}
STREAMS=${STREAMS:-"parkd:nord:events parkd:mitte:events parkd:sued:events"}
GROUP=${GROUP:-billing}
CONSUMER=${CONSUMER:-worker-1}
cli() { redis-cli -h "${REDIS%:*}" -p "${REDIS##*:}" --raw "$@"; }

# Once per stream (BUSYGROUP afterwards): the group starts at the beginning.
for s in $STREAMS; do
  cli XGROUP CREATE "$s" "$GROUP" 0 MKSTREAM >/dev/null 2>&1 || true
done
# First what this consumer read and did not acknowledge (0), then new events (>).
from=0
while :; do
  events=$(cli XREADGROUP GROUP "$GROUP" "$CONSUMER" COUNT 100 ${FOLLOW:+BLOCK 5000} \
      STREAMS $STREAMS $(for s in $STREAMS; do printf '%s ' "$from"; done) |
    awk '/^[0-9]+-[0-9]+$/ { id = $0; next }
         $0 == "event"     { next }
         /^\{/             { print stream, id, $0; next }
         NF                { stream = $0 }')
  if [ -z "$events" ]; then
    if [ "$from" = 0 ]; then from='>'; continue; fi
    if [ -n "${FOLLOW:-}" ]; then continue; fi
    exit 0
  fi
  printf '%s\n' "$events" | while read -r stream id event; do
    printf '%s %s\n' "$stream" "$event"    # bill it here (events carry their id)
    cli XACK "$stream" "$GROUP" "$id" >/dev/null
  done
done
