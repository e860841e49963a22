#!/usr/bin/env bash
# example.c_http_client: serves a 2 MiB file with python3 -m http.server from a throwaway
# network namespace, fetches it with the C client through weir over a tap opened inside that
# namespace, and compares the SHA-256 of the body with the file's. Skips (77) without root or
# a tun device; everything it creates is removed on every exit path.
#
#   Linux 10.93.0.1/24 (http.server) --- tap wexhttp0 (in netns) --- c_http_client (weir) 10.93.0.2/24
set -uo pipefail
prog=${1:?usage: run.sh path/to/c_http_client}
name=example.c_http_client
[ "$(id -u)" -eq 0 ] || { echo "$name: skipped (needs root)"; exit 77; }
[ -c /dev/net/tun ] || { echo "$name: skipped (no /dev/net/tun)"; exit 77; }
for tool in ip python3 timeout sha256sum head; do
  command -v $tool >/dev/null || { echo "$name: skipped ($tool missing)"; exit 77; }
done

ns=weir-c-http-$$
work=$(mktemp -d /tmp/weir-c-http.XXXXXX)
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
  sed 's/^/    client: /' "$work/client.err" >&2 2>/dev/null
  sed 's/^/    server: /' "$work/server.log" >&2 2>/dev/null
  exit 1
}

timeout 10 ip netns add "$ns" || fail "cannot create namespace $ns"
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add mode tap name wexhttp0 || fail "cannot create the tap"
ip -n "$ns" addr add 10.93.0.1/24 dev wexhttp0
ip -n "$ns" link set wexhttp0 up

mkdir "$work/www"
head -c $((2 << 20)) /dev/urandom >"$work/www/file.bin"
ip netns exec "$ns" timeout --kill-after=5 100 python3 -m http.server 8000 --bind 10.93.0.1 \
  --directory "$work/www" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 300); do
  ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/10.93.0.1/8000' 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || fail "the server exited early"
  sleep 0.1
done

# The client stays in this namespace and opens the tap inside the other one.
timeout --kill-after=5 60 "$prog" wexhttp0 "$ns" 10.93.0.2/24 10.93.0.1 8000 /file.bin \
  >"$work/body" 2>"$work/client.err" || fail "the client failed (exit $?)"
want=$(sha256sum <"$work/www/file.bin" | cut -d' ' -f1)
got=$(sha256sum <"$work/body" | cut -d' ' -f1)
echo "$name: served $(stat -c %s "$work/www/file.bin") bytes sha256 $want"
echo "$name: fetched $(stat -c %s "$work/body") bytes sha256 $got"
[ "$want" = "$got" ] || fail "the body's SHA-256 differs from the file's"
echo "$name: ok"
