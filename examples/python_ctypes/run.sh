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
source "$here/../run_lib.sh"
example_init example.python_ctypes ip python3 timeout sha256sum head
[ -f "$lib" ] || fail "no library at $lib"
ns=weir-py-ctypes-$$
example_netns_with_tap "$ns" wexpy0 10.94.0.1/24

mkdir "$work/www"
head -c $((1 << 20)) /dev/urandom >"$work/www/data.bin"
want=$(sha256sum <"$work/www/data.bin" | cut -d' ' -f1)
ip netns exec "$ns" timeout --kill-after=5 100 python3 -m http.server 8000 --bind 10.94.0.1 \
  --directory "$work/www" >"$work/server.log" 2>&1 &
server=$!
example_on_exit_kill $server
for _ in $(seq 300); do
  ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/10.94.0.1/8000' 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || fail "the server exited early"
  sleep 0.1
done

# client.py stays in this namespace; the stack opens the tap inside the other one.
timeout --kill-after=5 60 python3 "$here/client.py" "$lib" wexpy0 "$ns" 10.94.0.2/24 \
  10.94.0.1 8000 /data.bin "$want" || fail "the ctypes client failed"
echo "$example_name: ok"
