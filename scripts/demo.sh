#!/usr/bin/env bash
# The first thing to run: installs what is missing, builds weir, and shows `weir run`: unmodified
# programs in a sandbox whose every socket is served by weir's user-space stack. Everything
# happens in a network namespace made for the demo and removed at the end; nothing touches the
# machine's own network (the published port listens on 127.0.0.1 only).
#
#   Linux (kernel, namespace weir-demo-PID) 10.77.0.1 --- tap wdemo0 --- weir 10.77.0.2
#                                                                          |
#                                       sandboxed programs (curl, python3): their sockets
#
# WEIR=path/to/weir skips the build and uses that binary. scripts/demo_serve.sh shows
# `weir serve` (the stack answering Linux directly: ping, UDP echo, HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then exec sudo -E "$0" "$@"; fi
  echo "demo: needs root (it creates a network namespace and a tap device); run it as root" >&2
  exit 1
fi

say() { printf '\n==> %s\n' "$*"; }

say "Installing missing packages (scripts/setup.sh)"
./scripts/setup.sh

if [ -n "${WEIR:-}" ]; then
  weir=$WEIR
else
  say "Building weir (build/, RelWithDebInfo; the first build takes a few minutes)"
  cmake -G Ninja -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C build weir | tail -n 1
  weir=build/tools/weir
fi
weir=$(realpath "$weir")

ns=weir-demo-$$
tap=wdemo0
work=$(mktemp -d /tmp/weir-demo.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local status=$?
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  # Whatever still runs in the namespace (the HTTP server under its timeout wrapper) goes too.
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  timeout 10 ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
  [ $status -eq 0 ] || echo "demo: failed (status $status)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM
in_ns() { timeout --kill-after=5 60 ip netns exec "$ns" "$@"; }
wait_for() {  # wait_for FILE: up to 30 s
  for _ in $(seq 1 300); do [ -e "$1" ] && return 0; sleep 0.1; done
  echo "demo: timed out waiting for $1" >&2
  return 1
}

say "A Linux side: namespace $ns, where weir will create the tap $tap (Linux's end: 10.77.0.1/24)"
ip netns add "$ns"
ip -n "$ns" link set lo up
head -c 3000000 /dev/urandom >"$work/linux.bin"
linux_sum=$(sha256sum "$work/linux.bin" | cut -c1-64)
# Bound to every address of the namespace: 10.77.0.1 only exists once the tap is up, after weir
# has created it, and a bind to it before then fails.
in_ns python3 -m http.server 8000 --bind 0.0.0.0 --directory "$work" >/dev/null 2>&1 &
pids+=($!)
echo "Linux serves a 3 MB file over HTTP at 10.77.0.1:8000 (SHA-256 ${linux_sum:0:16}...)"

# What runs inside the sandbox: a client talking out, then a server others talk to.
cat >"$work/inside.sh" <<'SH'
set -u
work=$1
echo "inside: I am $(id -un) on $(hostname), pid $$, in namespaces of my own"
echo "inside: my network as ip(8) sees it (answered by weir, not the kernel):"
ip -br addr 2>&1 | sed 's/^/    /'
ip route 2>&1 | sed 's/^/    /'
echo "inside: curl http://10.77.0.1:8000/linux.bin"
curl -sS -m 20 -o "$work/got.bin" -w '    HTTP %{http_code}, %{size_download} bytes in %{time_total} s\n' \
  http://10.77.0.1:8000/linux.bin
sha256sum "$work/got.bin" | cut -c1-64 >"$work/inside.sum"
head -c 2000000 /dev/urandom >"$work/sandbox.bin"
sha256sum "$work/sandbox.bin" | cut -c1-64 >"$work/sandbox.sum"
python3 -m http.server 8000 --directory "$work" >/dev/null 2>&1 &
for _ in $(seq 1 100); do ss -tln 2>/dev/null | grep -q ':8000' && break; sleep 0.1; done
echo "inside: python3 -m http.server 8000 is listening; ss -tln inside shows:"
ss -tln 2>&1 | sed 's/^/    /'
touch "$work/ready"
for _ in $(seq 1 600); do [ -e "$work/done" ] && break; sleep 0.1; done
SH

say "weir run --net tap:$tap --netns $ns --ip 10.77.0.2/24 --gateway 10.77.0.1 --publish 8080:8000 -- sh inside.sh"
( sleep 1; in_ns ip addr add 10.77.0.1/24 dev "$tap"; in_ns ip link set "$tap" up ) &
timeout --kill-after=5 120 "$weir" run --net "tap:$tap" --netns "$ns" --ip 10.77.0.2/24 \
  --gateway 10.77.0.1 --publish 8080:8000 --stats -- sh -c 'sleep 1.5; exec sh "$0" "$1"' \
  "$work/inside.sh" "$work" 2>"$work/weir.log" &
weir_pid=$!
pids+=($weir_pid)
wait_for "$work/ready"

inside_sum=$(cat "$work/inside.sum")
echo
if [ "$inside_sum" = "$linux_sum" ]; then
  echo "In words: curl inside the sandbox downloaded Linux's file through weir's TCP/IP stack and"
  echo "the SHA-256 matches (${inside_sum:0:16}...). The sandbox's own network namespace is empty:"
  echo "the bytes crossed the tap only because weir carried them."
else
  echo "demo: the file curl downloaded inside differs from Linux's ($inside_sum)" >&2
  exit 1
fi

sandbox_sum=$(cat "$work/sandbox.sum")
say "Linux fetches from the server inside: curl http://10.77.0.2:8000/sandbox.bin (from $ns)"
in_ns curl -sS -m 20 -o "$work/direct.bin" -w '    HTTP %{http_code}, %{size_download} bytes in %{time_total} s\n' \
  http://10.77.0.2:8000/sandbox.bin
say "... and through the published port on this machine's loopback: curl http://127.0.0.1:8080/sandbox.bin"
timeout 30 curl -sS -m 20 -o "$work/published.bin" -w '    HTTP %{http_code}, %{size_download} bytes in %{time_total} s\n' \
  http://127.0.0.1:8080/sandbox.bin
touch "$work/done"
status=0
wait "$weir_pid" || status=$?
pids=("${pids[@]/$weir_pid}")
direct_sum=$(sha256sum "$work/direct.bin" | cut -c1-64)
published_sum=$(sha256sum "$work/published.bin" | cut -c1-64)
echo
if [ "$direct_sum" = "$sandbox_sum" ] && [ "$published_sum" = "$sandbox_sum" ]; then
  echo "In words: a Linux client reached the server inside the sandbox twice, at weir's own address"
  echo "(10.77.0.2) and through --publish on 127.0.0.1:8080, and both copies match the file the"
  echo "server holds (SHA-256 ${sandbox_sum:0:16}...)."
else
  echo "demo: a file fetched from inside the sandbox differs" >&2
  exit 1
fi

say "weir run ended with the program's status ($status) and printed its counters (--stats):"
grep -E '  (tcp\.(active|passive)_opens|tcp\.bytes_(sent|received)|sandbox\.(notifications|emulated|continued|sockets_created))' \
  "$work/weir.log" || true
echo
echo "The supervisor confined itself after setup; its allowlist:"
"$weir" run --print-policy | tail -n 1

say "Done: the namespace, the tap and the files are removed now."
