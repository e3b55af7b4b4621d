#!/bin/sh
# Installs what a make target needs, only when something is missing.
# Usage: scripts/deps.sh build|run|test|fuzz
set -eu
# chromium (test): the live map is tested in a real browser (tests/js/map_check.js).
build="gcc make pkg-config libuv1-dev libhiredis-dev libcjson-dev uuid-dev tzdata libhttp-parser-dev libwslay-dev nettle-dev"
case "${1:-build}" in
  build) want="$build" ;;
  run)   want="$build redis-server" ;;
  # prometheus: its promtool checks the /metrics exposition; chromium runs
  # the live map's browser test; systemd's systemd-analyze checks the unit
  # offline; iproute2's ss shows TCP keepalive timers; faketime starts
  # parkd with a clock in the past (the registry's retention tests).
  test)  want="$build libcmocka-dev redis-server python3 clang libclang-rt-14-dev prometheus chromium systemd iproute2 faketime" ;;
  fuzz)  want="$build clang libclang-rt-14-dev" ;;
  *) echo "deps.sh: unknown set '$1'" >&2; exit 2 ;;
esac
# Node.js and npm drive the tests' real client libraries (tests/js): take
# whatever node the machine has, Debian's when it has none.
if [ "${1:-build}" = test ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  want="$want nodejs npm"
fi
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
    exit 1
  fi
  echo "deps.sh: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends $missing >&2
fi
# The tests' client libraries, pinned by tests/js/package-lock.json.
if [ "${1:-build}" = test ]; then
  js="$(dirname "$0")/../tests/js"
  if [ ! -d "$js/node_modules" ] || [ "$js/package-lock.json" -nt "$js/node_modules" ]; then
    echo "deps.sh: npm ci in tests/js" >&2
    (cd "$js" && npm ci --no-audit --no-fund >&2 && touch node_modules)
  fi
fi
