#!/bin/sh
# city-demo.sh - three facilities of one city on one Redis (conf/city/*.json):
# each parkd publishes its availability under city: and ships its audit
# events under parkd:SLUG:.  Uses the Redis on 127.0.0.1:6379 when one
# answers, else starts one for the demo.  Ctrl-C stops everything.
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-build/parkd}
pids=""
cleanup() {
  trap - INT TERM EXIT
  # shellcheck disable=SC2086
  [ -n "$pids" ] && kill $pids 2>/dev/null
  wait
}
trap cleanup INT TERM EXIT
if redis-cli -p 6379 ping >/dev/null 2>&1; then
  echo "city-demo: using the Redis on 127.0.0.1:6379"
else
  mkdir -p build/city-demo
  redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$PWD/build/city-demo" --logfile "$PWD/build/city-demo/redis.log" &
  pids="$!"
  until redis-cli -p 6379 ping >/dev/null 2>&1; do
    kill -0 "$pids" 2>/dev/null || { echo "city-demo: redis-server did not start" >&2; exit 1; }
    sleep 0.1
  done
  echo "city-demo: started redis-server on 127.0.0.1:6379 (pid $pids)"
fi
mkdir -p var/city
for f in nord mitte sued; do
  "$BIN" -c conf/city/$f.json &
  pids="$pids $!"
done
cat <<'TXT'
city-demo: Nord P+R on 127.0.0.1:7071, Mitte Garage on :7072, Parkhaus Sued on :7073
  redis-cli GEOSEARCH city:facilities FROMLONLAT 13.405 52.52 BYRADIUS 5 km ASC WITHDIST
  redis-cli HGETALL city:facility:mitte-garage
  redis-cli SUBSCRIBE city:availability
  nc 127.0.0.1 7072, then: nearby radius_m=5000 class=car
TXT
wait
