#!/usr/bin/env bash
# example.c_http_client: serves a 2 MiB file with python3 -m http.server from a throwaway
# network namespace, fetches it with the C client through weir over a tap opened inside that
# namespace, and compares the SHA-256 of the body with the file's. Skips (77) without root or
# a tun device; everything it creates is removed on every exit path.
#
#   Linux 10.93.0.1/24 (http.server) --- tap wexhttp0 (in netns) --- c_http_client (weir) 10.93.0.2/24
set -uo pipefail
prog=${1:?usage: run.sh path/to/c_http_client}
source "$(dirname "$0")/../run_lib.sh"
example_init example.c_http_client ip python3 timeout sha256sum head
ns=weir-c-http-$$
example_netns_with_tap "$ns" wexhttp0 10.93.0.1/24

mkdir "$work/www"
head -c $((2 << 20)) /dev/urandom >"$work/www/file.bin"
ip netns exec "$ns" timeout --kill-after=5 100 python3 -m http.server 8000 --bind 10.93.0.1 \
  --directory "$work/www" >"$work/server.log" 2>&1 &
server=$!
example_on_exit_kill $server
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
echo "$example_name: served $(stat -c %s "$work/www/file.bin") bytes sha256 $want"
echo "$example_name: fetched $(stat -c %s "$work/body") bytes sha256 $got"
[ "$want" = "$got" ] || fail "the body's SHA-256 differs from the file's"
echo "$example_name: ok"
