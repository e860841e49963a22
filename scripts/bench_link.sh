#!/usr/bin/env bash
# Linux <-> `weir serve` over one tap at MTU 1500: TCP throughput each way, with the tap's
# offloads (weir serve's default) and with --no-offload, beside what `weir bench link` says the
# tap itself can carry.
#
# What is measured, REPS times each (median reported):
#   Linux->weir  a Linux client (Python, in the namespace) connects to weir's discard service
#                (port 9), writes 1 MiB buffers for T seconds, half-closes and waits for weir to
#                close: Gbit/s = bytes written / time from connect until weir's FIN, so nothing
#                still queued counts.
#   weir->Linux  the client asks weir's source service (port 19) for an endless stream ("0\n")
#                and reads it for T seconds after the first byte: Gbit/s = bytes read / time.
#   weir CPU     weir's CPU time over the transfer (/proc/PID/stat) per second of it: 1.00 is one
#                busy core (weir is one thread).
#   weir waited  the time weir was ready to run but waited for a core (/proc/PID/schedstat) per
#                second: on a quiet machine about 0; well above it, other work on the machine
#                took the core and the Gbit/s say more about the machine than about weir.
# Then `weir bench link` on the same machine, for scale: tap-ceiling (a bare read()/write() loop
# on a tap with offloads, no weir code) and weir's own tap endpoint with and without offloads,
# 1500-byte frames and 64 KiB segments each way (tools/bench_link.cc says what each line is).
#
# Set-up, per round: a network namespace this script creates (deleted on exit, also on error or
# Ctrl-C), a tap in it with Linux at 10.9.1.1/24, `weir serve --tap` inside it at 10.9.1.2/24.
# No traffic leaves the namespace. With PIN=1 weir runs on CPU 0 and the client on CPU 1.
#
# Usage: scripts/bench_link.sh [path/to/weir]
#   env: REPS (3), T (seconds per transfer, 10), PIN (0), LINK_SECS (weir bench link, 2)
# Needs root and python3.
set -uo pipefail

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then exec sudo -E "$0" "$@"; fi
  echo "bench_link: needs root (network namespaces, taps)" >&2
  exit 1
fi

here=$(cd "$(dirname "$0")/.." && pwd)
weir=${1:-}
if [ -z "$weir" ]; then
  for d in build build-release; do
    [ -x "$here/$d/tools/weir" ] && weir=$here/$d/tools/weir && break
  done
fi
[ -x "$weir" ] || { echo "bench_link: weir binary not found; pass its path" >&2; exit 1; }
for tool in ip python3 taskset; do
  command -v "$tool" >/dev/null || { echo "bench_link: '$tool' is missing; run scripts/setup.sh" >&2; exit 1; }
done

REPS=${REPS:-3}
T=${T:-10}
PIN=${PIN:-0}
LINK_SECS=${LINK_SECS:-2}

work=$(mktemp -d /tmp/weir-bench-link.XXXXXX)
ns=wbl-$$
weir_pid=""
linux_ip=10.9.1.1
weir_ip=10.9.1.2

stop_round() {
  if [ -n "$weir_pid" ]; then
    kill "$weir_pid" 2>/dev/null
    wait "$weir_pid" 2>/dev/null
    weir_pid=""
  fi
  if ip netns list | grep -qw "$ns"; then
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  fi
  return 0
}
trap 'stop_round; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

weir_cpu=()
client_cpu=()
if [ "$PIN" = 1 ]; then
  weir_cpu=(taskset -c 0)
  client_cpu=(taskset -c 1)
fi

cat >"$work/client.py" <<'PY'
import socket, struct, sys, time

mode, host, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
buf = bytearray(1 << 20)
if mode == "up":
    s = socket.create_connection((host, 9), timeout=60)
    view = memoryview(buf)
    sent = 0
    t0 = time.monotonic()
    end = t0 + secs
    while time.monotonic() < end:
        sent += s.send(view)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):  # discard closes once it has read everything
        pass
    elapsed = time.monotonic() - t0
    print("%.3f" % (sent * 8 / elapsed / 1e9))
else:
    s = socket.create_connection((host, 19), timeout=60)
    s.sendall(b"0\n")  # source: an endless stream
    if not s.recv_into(buf):
        sys.exit("source closed before sending")
    got = 0
    t0 = time.monotonic()
    end = t0 + secs
    while True:
        n = s.recv_into(buf)
        if not n:
            sys.exit("source closed early")
        got += n
        if time.monotonic() >= end:
            break
    elapsed = time.monotonic() - t0
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, no drain
    s.close()
    print("%.3f" % (got * 8 / elapsed / 1e9))
PY

# CPU seconds (user + system) of process $1 so far.
cpu_of() {
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# Seconds process $1 has spent runnable but waiting for a CPU.
wait_of() {
  awk '{ print $2 / 1e9 }' "/proc/$1/schedstat" 2>/dev/null || echo 0
}

# One round: weir serve with extra flags "$@" on a fresh tap; appends "MODE DIR GBPS CPU" lines.
round() {
  local mode=$1
  shift
  stop_round
  ip netns add "$ns" || return 1
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$ns" tuntap add mode tap name wbl0 || return 1
  ip -n "$ns" link set wbl0 mtu 1500
  ip -n "$ns" addr add "$linux_ip/24" dev wbl0
  ip -n "$ns" link set wbl0 up
  ip netns exec "$ns" "${weir_cpu[@]}" "$weir" serve --tap wbl0 --mtu 1500 --ip "$weir_ip/24" \
    --no-ip6 "$@" >"$work/weir.log" 2>&1 &
  weir_pid=$!
  local i
  for i in $(seq 1 100); do
    grep -q '^weir: serving on' "$work/weir.log" 2>/dev/null && break
    kill -0 "$weir_pid" 2>/dev/null || { echo "bench_link: weir serve exited:" >&2; cat "$work/weir.log" >&2; return 1; }
    sleep 0.1
  done
  local dir cpu0 cpu1 wait0 wait1 t0 t1 gbps
  for dir in up down; do
    cpu0=$(cpu_of "$weir_pid")
    wait0=$(wait_of "$weir_pid")
    t0=$(date +%s.%N)
    gbps=$(timeout $((T + 60)) ip netns exec "$ns" "${client_cpu[@]}" python3 "$work/client.py" \
      "$dir" "$weir_ip" "$T" 2>"$work/client.err") || gbps=nan
    t1=$(date +%s.%N)
    cpu1=$(cpu_of "$weir_pid")
    wait1=$(wait_of "$weir_pid")
    [ "$gbps" = nan ] && sed 's/^/  client: /' "$work/client.err" >&2
    echo "$mode $dir $gbps $(awk -v a="$cpu0" -v b="$cpu1" -v c="$wait0" -v d="$wait1" \
      -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f %.2f", (b - a) / (e - s), (d - c) / (e - s) }')" \
      >>"$results"
  done
  echo "  $mode: $(grep "^$mode " "$results" | tail -n 2 |
    awk '{printf "%s %s Gbit/s (weir CPU %s, waited %s)  ", $2, $3, $4, $5}')" >&2
  stop_round
}

results=$work/results.txt
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench_link: weir $weir, REPS=$REPS T=$T PIN=$PIN, load $load_before" >&2
for r in $(seq 1 "$REPS"); do
  echo "rep $r/$REPS" >&2
  round offload
  round no-offload --no-offload
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

median() {  # MODE DIR COLUMN
  awk -v m="$1" -v d="$2" -v c="$3" '$1 == m && $2 == d && $c != "nan" {print $c}' "$results" |
    sort -g | awk '{a[NR] = $1} END {
      if (NR == 0) { print "n/a"; exit }
      print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo "bench_link: weir bench link --secs $LINK_SECS (the tap alone)" >&2
"${weir_cpu[@]}" "$weir" bench link --secs "$LINK_SECS" --endpoint tap --endpoint tap-offload \
  --endpoint tap-ceiling --size 1500 --size 64k >"$work/link.txt" 2>"$work/link.err"
link_status=$?

echo
echo "Median of $REPS ($T s transfers, MTU 1500); load average $load_before before, $load_after after; PIN=$PIN"
echo
echo "| weir serve | Linux->weir Gbit/s | weir->Linux Gbit/s | weir CPU up / down | weir waited up / down |"
echo "|---|---:|---:|---:|---:|"
for mode in offload no-offload; do
  label="offloads (default)"
  [ "$mode" = no-offload ] && label="--no-offload"
  echo "| $label | $(median $mode up 3) | $(median $mode down 3) |" \
    "$(median $mode up 4) / $(median $mode down 4) | $(median $mode up 5) / $(median $mode down 5) |"
done
echo
echo "weir bench link (one run, $LINK_SECS s per case; tx = weir/the loop writes to the tap, rx = reads from it):"
echo
echo "| endpoint | size | dir | Mframes/s | Gbit/s | CPU ns/frame |"
echo "|---|---|---|---:|---:|---:|"
awk '/^RESULT/ {
  for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
  printf "| %s | %s | %s | %s | %s | %s |\n", f["endpoint"], f["size"], f["dir"], f["mfps"], f["gbps"], f["cpu_ns_per_frame"]
}' "$work/link.txt"
if [ "$link_status" -ne 0 ]; then
  echo "bench_link: weir bench link failed (status $link_status):" >&2
  cat "$work/link.err" >&2
fi
if [ -n "${KEEP_RESULTS:-}" ]; then cat "$results" "$work/link.txt" >"$KEEP_RESULTS"; fi
