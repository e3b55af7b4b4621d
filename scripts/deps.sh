#!/bin/sh
# Installs the Debian packages a make target needs, only when some are missing.
# Usage: scripts/deps.sh build|run|test|fuzz
set -eu
build="gcc make pkg-config libuv1-dev libhiredis-dev libcjson-dev uuid-dev tzdata libhttp-parser-dev libwslay-dev nettle-dev"
case "${1:-build}" in
  build) want="$build" ;;
  run)   want="$build redis-server" ;;
  test)  want="$build libcmocka-dev redis-server python3 clang libclang-rt-14-dev" ;;
  fuzz)  want="$build clang libclang-rt-14-dev" ;;
  *) echo "deps.sh: unknown set '$1'" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
  exit 1
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends $missing >&2
