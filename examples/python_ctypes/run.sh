#!/usr/bin/env bash
# example.python_ctypes: client.py loads libweir.so with ctypes and fetches a 1 MiB file over
# TCP through weir, on a tap opened inside a throwaway network namespace where
# python3 -m http.server serves it; the body's SHA-256 must be the file's. Skips (77) without
# root or a tun device; everything it creates is removed on every exit path.
#
#   Linux 10.94.0.1/24 (http.server) --- tap wexpy0 (in netns) --- client.py (weir) 10.94.0.2/24
set -uo pipefail
lib=${1:?usage: run.sh path/to/libweir.so}
here=$(cd "$(dirname "$0")" && pwd)
name=example.python_ctypes
[ "$(id -u)" -eq 0 ] || { echo "$name: skipped (needs root)"; exit 77; }
[ -c /dev/net/tun ] || { echo "$name: skipped (no /dev/net/tun)"; exit 77; }
for tool in ip python3 timeout sha256sum head; do
  command -v $tool >/dev/null || { echo "$name: skipped ($tool missing)"; exit 77; }
done
[ -f "$lib" ] || { echo "$name: FAIL: no library at $lib" >&2; exit 1; }

ns=weir-py-ctypes-$$
work=$(mktemp -d /tmp/weir-py-ctypes.XXXXXX)
server=""
cleanup() {
  [ -n "$server" ] && { kill -KILL "$server"; wait "$server"; } 2>/dev/null
  timeout 10 ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
  echo "$name: FAIL: $*" >&2
  sed 's/^/    server: /' "$work/server.log" >&2 2>/dev/null
  exit 1
}

timeout 10 ip netns add "$ns" || fail "cannot create namespace $ns"
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add mode tap name wexpy0 || fail "cannot create the tap"
ip -n "$ns" addr add 10.94.0.1/24 dev wexpy0
ip -n "$ns" link set wexpy0 up

mkdir "$work/www"
head -c $((1 << 20)) /dev/urandom >"$work/www/data.bin"
want=$(sha256sum <"$work/www/data.bin" | cut -d' ' -f1)
ip netns exec "$ns" timeout --kill-after=5 100 python3 -m http.server 8000 --bind 10.94.0.1 \
  --directory "$work/www" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 300); do
  ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/10.94.0.1/8000' 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || fail "the server exited early"
  sleep 0.1
done

# client.py stays in this namespace; the stack opens the tap inside the other one.
timeout --kill-after=5 60 python3 "$here/client.py" "$lib" wexpy0 "$ns" 10.94.0.2/24 \
  10.94.0.1 8000 /data.bin "$want" || fail "the ctypes client failed"
echo "$name: ok"
