#!/usr/bin/env bash
# Benchmarks `weir run` against slirp4netns and pasta, in one sitting on this machine.
#
# What is measured, for MTU 1500 and 65520, REPS times (median reported):
#   - iperf3 -c from the sandboxed side to a Linux iperf3 -s, both directions (up = the
#     sandboxed program sends, down = -R), Gbit/s as the receiver counted;
#   - a 1-byte TCP request/response loop (tests/sandbox/programs/rr_bench.c, RR_N round trips on
#     one connection, TCP_NODELAY): round trips/s and the median round trip in µs.
# The three set-ups, each in network namespaces this script creates and deletes:
#   weir         the client runs inside `weir run --mtu M --net tap:T --netns NS`; the servers
#                are Linux's, in NS, on the tap's address (10.9.0.1; the stack is 10.9.0.2).
#   slirp4netns  the client runs in a guest namespace whose only link is slirp4netns's tap
#                (--configure, 10.0.2.100/24); the servers listen on 127.0.0.1 of a "host"
#                namespace, reached through slirp's gateway 10.0.2.2.
#   pasta        the same with pasta (--config-net, copying the host namespace's 10.77.0.2/24
#                from a veth with a default route via 10.77.0.254); the guest dials the gateway,
#                which pasta maps to the host namespace's loopback.
# Nothing is pinned unless PIN=1: then the client side (weir with the program inside it, or
# slirp4netns/pasta and the client) runs on CPU 0 and the servers on CPU 1 (taskset).
#
# Usage: scripts/bench_sandbox.sh [path/to/weir]
#   env: REPS (3), T (iperf3 seconds, 10), RR_N (20000), MTUS ("1500 65520"), PIN (0)
# Needs root, iperf3, slirp4netns, pasta (scripts/setup.sh installs them).
set -uo pipefail

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then exec sudo -E "$0" "$@"; fi
  echo "bench_sandbox: needs root (network namespaces, taps)" >&2
  exit 1
fi

here=$(cd "$(dirname "$0")/.." && pwd)
weir=${1:-}
if [ -z "$weir" ]; then
  for d in build build-sbx-e2e build-release; do
    [ -x "$here/$d/tools/weir" ] && weir=$here/$d/tools/weir && break
  done
fi
[ -x "$weir" ] || { echo "bench_sandbox: weir binary not found; pass its path" >&2; exit 1; }
for tool in iperf3 slirp4netns pasta ip python3 cc; do
  command -v "$tool" >/dev/null || { echo "bench_sandbox: '$tool' is missing; run scripts/setup.sh" >&2; exit 1; }
done

REPS=${REPS:-3}
T=${T:-10}
RR_N=${RR_N:-20000}
MTUS=${MTUS:-"1500 65520"}
PIN=${PIN:-0}

work=$(mktemp -d /tmp/weir-bench-sandbox.XXXXXX)
rr=$(dirname "$weir")/../tests/rr_bench
if [ ! -x "$rr" ]; then
  rr=$work/rr_bench
  cc -O2 -Wall -pthread -o "$rr" "$here/tests/sandbox/programs/rr_bench.c" || exit 1
fi

ns_host=wbh-$$   # weir: the tap's namespace; slirp/pasta: the "host" side
ns_guest=wbg-$$  # slirp/pasta: the guest
bg_pids=()

cleanup_round() {
  local p
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
  bg_pids=()
  ip netns del "$ns_host" 2>/dev/null
  ip netns del "$ns_guest" 2>/dev/null
  return 0
}
trap 'cleanup_round; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

client_cpu=()
server_cpu=()
if [ "$PIN" = 1 ]; then
  client_cpu=(taskset -c 0)
  server_cpu=(taskset -c 1)
fi

bg() {
  "$@" &
  bg_pids+=($!)
}

# Linux servers in namespace $1 on address $2: iperf3 on 5201, rr_bench on 7000.
start_servers() {
  bg ip netns exec "$1" "${server_cpu[@]}" iperf3 -s -B "$2" -p 5201 >/dev/null 2>&1
  bg ip netns exec "$1" "${server_cpu[@]}" "$rr" server "$2" 7000 >/dev/null 2>&1
  local i
  for i in $(seq 1 50); do
    ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/7000" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench_sandbox: servers did not start in $1" >&2
  return 1
}

gbps() {
  python3 -c '
import json, sys
try:
    r = json.load(open(sys.argv[1]))
    print("%.3f" % (r["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception:
    print("nan")
' "$1"
}

# Runs the three workloads with the client command prefix in "$@" against server address
# $target, and appends "KIND MTU METRIC VALUE" lines to $results.
workloads() {
  local kind=$1 mtu=$2 target=$3
  shift 3
  local dir flag out
  for dir in up down; do
    flag=
    [ "$dir" = down ] && flag=-R
    out=$work/$kind-$mtu-$dir.json
    # shellcheck disable=SC2086
    timeout $((T + 30)) "$@" iperf3 -c "$target" -p 5201 -t "$T" -J $flag >"$out" 2>/dev/null
    echo "$kind $mtu $dir $(gbps "$out")" >>"$results"
  done
  out=$(timeout 120 "$@" "$rr" client "$target" 7000 "$RR_N" 2>/dev/null)
  local rate median
  rate=$(sed -n 's/.* s, \([0-9.]*\) round trips\/s.*/\1/p' <<<"$out")
  median=$(sed -n 's/.*median \([0-9.]*\) us.*/\1/p' <<<"$out")
  echo "$kind $mtu rr_rate ${rate:-nan}" >>"$results"
  echo "$kind $mtu rr_median ${median:-nan}" >>"$results"
  echo "  $kind mtu $mtu: $(grep "^$kind $mtu " "$results" | tail -n 4 | awk '{printf "%s=%s ", $3, $4}')" >&2
}

round_weir() {
  local mtu=$1
  cleanup_round
  ip netns add "$ns_host"
  ip -n "$ns_host" link set lo up
  ip -n "$ns_host" tuntap add mode tap name wb0
  ip -n "$ns_host" link set wb0 mtu "$mtu"
  ip -n "$ns_host" addr add 10.9.0.1/24 dev wb0
  ip -n "$ns_host" link set wb0 up
  start_servers "$ns_host" 10.9.0.1 || return
  workloads weir "$mtu" 10.9.0.1 "${client_cpu[@]}" "$weir" run --mtu "$mtu" --net tap:wb0 \
    --netns "$ns_host" --ip 10.9.0.2/24 --gateway 10.9.0.1 --mac 02:00:0a:09:00:02 --
  cleanup_round
}

round_slirp() {
  local mtu=$1
  cleanup_round
  ip netns add "$ns_host"
  ip netns add "$ns_guest"
  ip -n "$ns_host" link set lo up
  start_servers "$ns_host" 127.0.0.1 || return
  bg ip netns exec "$ns_host" "${client_cpu[@]}" slirp4netns --configure --mtu="$mtu" \
    --netns-type=path "/run/netns/$ns_guest" tap0 >/dev/null 2>&1
  sleep 1
  workloads slirp4netns "$mtu" 10.0.2.2 "${client_cpu[@]}" ip netns exec "$ns_guest"
  cleanup_round
}

round_pasta() {
  local mtu=$1
  cleanup_round
  ip netns add "$ns_host"
  ip netns add "$ns_guest"
  ip -n "$ns_host" link set lo up
  ip -n "$ns_host" link add wbd0 type veth peer name wbd1
  ip -n "$ns_host" addr add 10.77.0.2/24 dev wbd0
  ip -n "$ns_host" link set wbd0 up
  ip -n "$ns_host" link set wbd1 up
  ip -n "$ns_host" route add default via 10.77.0.254 dev wbd0
  start_servers "$ns_host" 127.0.0.1 || return
  bg ip netns exec "$ns_host" "${client_cpu[@]}" pasta -f -q -4 --runas 0:0 --config-net \
    -m "$mtu" -I tap0 -t none -u none -T none -U none --netns "$ns_guest" >/dev/null 2>&1
  sleep 1
  workloads pasta "$mtu" 10.77.0.254 "${client_cpu[@]}" ip netns exec "$ns_guest"
  cleanup_round
}

results=$work/results.txt
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench_sandbox: weir $weir, REPS=$REPS T=$T RR_N=$RR_N MTUS='$MTUS' PIN=$PIN, load $load_before" >&2
for r in $(seq 1 "$REPS"); do
  echo "rep $r/$REPS" >&2
  for mtu in $MTUS; do
    round_weir "$mtu"
    round_slirp "$mtu"
    round_pasta "$mtu"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

median() {  # KIND MTU METRIC
  awk -v k="$1" -v m="$2" -v x="$3" '$1 == k && $2 == m && $3 == x && $4 != "nan" {print $4}' \
    "$results" | sort -g | awk '{a[NR] = $1} END {
      if (NR == 0) { print "n/a"; exit }
      v = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
      print v }'
}
fmt() { [ "$1" = n/a ] && echo n/a || printf "$2" "$1"; }

set -- $MTUS
header="| | "
rule="|---|"
for mtu in "$@"; do
  header+="MTU $mtu up Gbit/s | MTU $mtu down Gbit/s | "
  rule+="---:|---:|"
done
rr_mtu=$1
header+="rr round trips/s | rr median µs |"
rule+="---:|---:|"
echo
echo "Median of $REPS (iperf3 -t $T; rr: $RR_N round trips at MTU $rr_mtu); load average $load_before before, $load_after after; PIN=$PIN"
echo
echo "$header"
echo "$rule"
for kind in weir slirp4netns pasta; do
  row="| $kind | "
  for mtu in "$@"; do
    row+="$(fmt "$(median $kind "$mtu" up)" %.2f) | $(fmt "$(median $kind "$mtu" down)" %.2f) | "
  done
  row+="$(fmt "$(median $kind "$rr_mtu" rr_rate)" %.0f) | $(fmt "$(median $kind "$rr_mtu" rr_median)" %.1f) |"
  echo "$row"
done
if [ -n "${KEEP_RESULTS:-}" ]; then cp "$results" "$KEEP_RESULTS"; fi
