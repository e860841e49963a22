#!/usr/bin/env bash
# `weir bench` beside lwIP, gVisor's netstack and the Linux kernel, in one sitting: the same
# workloads on each, REPS runs interleaved (rep 1 of every stack, then rep 2, ...), one
# markdown table of medians [min..max] with the performance targets and whether weir meets them.
#
# The stacks (the programs are in scripts/peers/, built into BUILD_DIR from Debian's packages):
#   weir    `weir bench`: two weir stacks in one process over the in-memory channel, one thread
#   lwip    scripts/peers/lwipbench.c on liblwip-dev (lwIP 2.1.3): two netifs of one lwIP
#           joined in memory, one thread, raw API. Debian's build fixes the MSS at 1460, so it
#           has no MTU 65535 run.
#   gvisor  scripts/peers/netstackbench.go on golang-gvisor-gvisor-dev (netstack as of
#           2022-12-19) with golang-go: two netstack stacks joined by channel endpoints and a
#           goroutine per direction, through gonet; once per GOMAXPROCS in GVISOR_PROCS.
#   linux   scripts/peers/tcpbench.c: kernel sockets, the server in one network namespace and
#           the client in another, joined by a veth pair at the workload's MTU (offloads on);
#           `veth-nooffload` repeats bulk at MTU 1500 with TSO/GSO/GRO off, so every segment
#           really is 1500 bytes. CPU is client + server process time. Needs root; the
#           namespaces are this script's own and are deleted on exit.
# The workloads (`weir bench --help` and tools/bench_*.cc define them; each program's header
# says how it does the same):
#   bulk1500, bulk65535  one connection, 64 KiB writes for SECS s, then EOF: Gbit/s, CPU s per GB
#   rr     1-byte round trips on one connection, Nagle off: CPU µs per round trip, round trips/s
#   crr    sequential connect, 1 byte each way, server closes first: connections/s, CPU µs each
#   idle   established pairs held open: bytes per pair (RSS growth; Linux: kernel slab growth)
# The in-process stacks' CPU covers both ends and the link. On a noisy 2-core machine the CPU
# columns are the robust ones; the rates move with whatever else runs.
#
# Usage: scripts/bench_peers.sh [--quick] [path/to/weir]
#   env: REPS (3)              runs of each workload on each stack
#        PEERS ("lwip gvisor linux")   the peers beside weir
#        WORKLOADS ("bulk1500 bulk65535 rr crr idle")
#        SECS (5)  RR_N (100000)  CRR_N (10000)  IDLE_CONNS (10000)   workload sizes
#        GVISOR_PROCS ("2 1")  LINUX_LINKS ("veth veth-nooffload")
#        WEIR      the weir binary (else the newest of build/, build-release/, build-sbx/)
#        BUILD_DIR (build-peers)   where the peer programs and the results go
#        SKIP_INSTALL=1            do not apt-get install missing packages (fail instead)
#        TARGETS   the target column (scripts/peers/summarize.py says the syntax)
#   --quick (or QUICK=1): REPS=1, SECS=0.3, RR_N=2000, CRR_N=200, IDLE_CONNS=200 unless set:
#        checks that everything builds and runs; its numbers mean little (crr and idle are
#        too short to reach the steady state the targets are about).
# Installs what the chosen peers need from Debian (apt-get; needs root) if it is missing.
# Exits non-zero if a run failed.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
peers_src=$here/scripts/peers
weir=${WEIR:-}
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench_peers: unknown option $1 (try --help)" >&2; exit 2 ;;
    *) weir=$1 ;;
  esac
  shift
done

if [ "${QUICK:-0}" = 1 ]; then
  : "${REPS:=1}" "${SECS:=0.3}" "${RR_N:=2000}" "${CRR_N:=200}" "${IDLE_CONNS:=200}"
fi
REPS=${REPS:-3}
SECS=${SECS:-5}
RR_N=${RR_N:-100000}
CRR_N=${CRR_N:-10000}
IDLE_CONNS=${IDLE_CONNS:-10000}
PEERS=${PEERS-"lwip gvisor linux"}
WORKLOADS=${WORKLOADS:-"bulk1500 bulk65535 rr crr idle"}
GVISOR_PROCS=${GVISOR_PROCS:-"2 1"}
LINUX_LINKS=${LINUX_LINKS:-"veth veth-nooffload"}
BUILD_DIR=${BUILD_DIR:-$here/build-peers}
export TARGETS=${TARGETS:-}

say() { echo "bench_peers: $*" >&2; }

for w in $WORKLOADS; do
  case $w in bulk1500 | bulk65535 | rr | crr | idle) ;; *) say "unknown workload '$w'"; exit 2 ;; esac
done
for p in $PEERS; do
  case $p in lwip | gvisor | linux) ;; *) say "unknown peer '$p' (lwip, gvisor, linux)"; exit 2 ;; esac
done
if [ -z "$weir" ]; then
  # the most recently built of the usual build directories
  weir=$(ls -t "$here"/build/tools/weir "$here"/build-release/tools/weir \
    "$here"/build-sbx/tools/weir 2>/dev/null | head -n 1)
fi
[ -x "$weir" ] || { say "weir binary not found; build it (README) or pass its path"; exit 1; }

has_peer() { [[ " $PEERS " == *" $1 "* ]]; }
if has_peer linux && [ "$(id -u)" -ne 0 ]; then
  say "linux needs root (network namespaces); leaving it out"
  PEERS=${PEERS//linux/}
fi

# --- Debian packages ----------------------------------------------------------------------
packages=(python3)
has_peer lwip && packages+=(liblwip-dev pkg-config gcc)
has_peer gvisor && packages+=(golang-go golang-gvisor-gvisor-dev)
has_peer linux && packages+=(gcc iproute2 ethtool)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${SKIP_INSTALL:-0}" = 1 ] || [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]} (install them as root, or run this as root)"
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { say "apt-get install failed"; exit 1; }
fi

# --- build the peers ----------------------------------------------------------------------
mkdir -p "$BUILD_DIR/results" || exit 1
stale() { [ ! -x "$1" ] || [ "$2" -nt "$1" ]; }
if has_peer lwip && stale "$BUILD_DIR/lwipbench" "$peers_src/lwipbench.c"; then
  say "building lwipbench"
  # shellcheck disable=SC2046
  cc -O2 -Wall -o "$BUILD_DIR/lwipbench" "$peers_src/lwipbench.c" $(pkg-config --cflags --libs lwip) ||
    exit 1
fi
if has_peer gvisor && stale "$BUILD_DIR/netstackbench" "$peers_src/netstackbench.go"; then
  say "building netstackbench (Go, GOPATH mode; the first build takes a minute)"
  (cd "$peers_src" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS="" GOCACHE="$BUILD_DIR/go-cache" \
    go build -o "$BUILD_DIR/netstackbench" netstackbench.go) || exit 1
fi
if has_peer linux && stale "$BUILD_DIR/tcpbench" "$peers_src/tcpbench.c"; then
  say "building tcpbench"
  cc -O2 -Wall -o "$BUILD_DIR/tcpbench" "$peers_src/tcpbench.c" || exit 1
fi

# --- the Linux namespaces -----------------------------------------------------------------
ns_a=wbp-a-$$ # client, 10.9.2.1
ns_b=wbp-b-$$ # server, 10.9.2.2
linux_up=0
server_pid=""
work=$(mktemp -d /tmp/weir-bench-peers.XXXXXX)
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if [ "$linux_up" = 1 ]; then
    ip netns del "$ns_a" 2>/dev/null
    ip netns del "$ns_b" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

linux_setup() {
  linux_up=1
  ip netns add "$ns_a" && ip netns add "$ns_b" &&
    ip link add wbpa netns "$ns_a" type veth peer name wbpb netns "$ns_b" &&
    ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up &&
    ip -n "$ns_a" addr add 10.9.2.1/24 dev wbpa && ip -n "$ns_b" addr add 10.9.2.2/24 dev wbpb &&
    ip -n "$ns_a" link set wbpa up && ip -n "$ns_b" link set wbpb up
}
# linux_link MTU on|off: the veth's MTU and offloads (TSO, GSO, GRO), both ends
linux_link() {
  ip -n "$ns_a" link set wbpa mtu "$1" && ip -n "$ns_b" link set wbpb mtu "$1" || return 1
  ip netns exec "$ns_a" ethtool -K wbpa tso "$2" gso "$2" gro "$2" >/dev/null 2>&1
  ip netns exec "$ns_b" ethtool -K wbpb tso "$2" gso "$2" gro "$2" >/dev/null 2>&1
  return 0
}

if has_peer linux; then
  linux_setup || { say "cannot create the network namespaces"; exit 1; }
fi

# --- one run of one workload on one stack ---------------------------------------------------
stamp=$(date +%Y%m%d-%H%M%S)
raw=$BUILD_DIR/results/raw-$stamp.txt
: >"$raw"
failures=0

# record CMD...: runs the command (bounded), appends its RESULT lines to $raw.
record() {
  local bound=$((${SECS%.*} + 120)) status
  timeout --kill-after=5 "$bound" "$@" >"$work/out" 2>"$work/err"
  status=$?
  if [ "$status" -ne 0 ] || ! grep -q '^RESULT ' "$work/out" || grep -q '^RESULT .* error=' "$work/out"; then
    failures=$((failures + 1))
    say "FAILED (status $status): $*"
    sed 's/^/    /' "$work/out" "$work/err" >&2
    return 1
  fi
  grep '^RESULT ' "$work/out" | tee -a "$raw" >&2
}

weir_run() { # WORKLOAD
  case $1 in
    bulk1500) record "$weir" bench bulk --mtu 1500 --secs "$SECS" ;;
    bulk65535) record "$weir" bench bulk --mtu 65535 --secs "$SECS" ;;
    rr) record "$weir" bench rr -n "$RR_N" ;;
    crr) record "$weir" bench crr -n "$CRR_N" ;;
    idle) record "$weir" bench idle --conns "$IDLE_CONNS" ;;
  esac
}

lwip_run() {
  case $1 in
    bulk1500) record "$BUILD_DIR/lwipbench" bulk "$SECS" ;;
    bulk65535) ;; # Debian's lwIP: MSS 1460
    rr) record "$BUILD_DIR/lwipbench" rr "$RR_N" ;;
    crr) record "$BUILD_DIR/lwipbench" crr "$CRR_N" ;;
    idle) record "$BUILD_DIR/lwipbench" idle "$IDLE_CONNS" ;;
  esac
}

gvisor_run() {
  local procs b=$BUILD_DIR/netstackbench
  for procs in $GVISOR_PROCS; do
    case $1 in
      bulk1500) record env GOMAXPROCS="$procs" "$b" -mode bulk -mtu 1500 -secs "$SECS" ;;
      bulk65535) record env GOMAXPROCS="$procs" "$b" -mode bulk -mtu 65535 -secs "$SECS" ;;
      rr) record env GOMAXPROCS="$procs" "$b" -mode rr -n "$RR_N" ;;
      crr) record env GOMAXPROCS="$procs" "$b" -mode crr -n "$CRR_N" ;;
      idle) record env GOMAXPROCS="$procs" "$b" -mode idle -conns "$IDLE_CONNS" ;;
    esac
  done
}

# linux_one LINK MTU OFFLOAD WORKLOAD ARG: a fresh server for this one run, then the client.
linux_one() {
  local link=$1 mtu=$2 offload=$3 test=$4 arg=$5
  linux_link "$mtu" "$offload" || { failures=$((failures + 1)); say "cannot set up $link"; return 1; }
  ip netns exec "$ns_b" "$BUILD_DIR/tcpbench" serve "$test" 5001 >"$work/server" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 50); do
    grep -q serving "$work/server" 2>/dev/null && break
    sleep 0.1
  done
  SERVER_PID=$server_pid TAGS="link=$link mtu=$mtu procs=2" \
    record ip netns exec "$ns_a" "$BUILD_DIR/tcpbench" "$test" 10.9.2.2 5001 "$arg"
  kill "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
}

linux_run() {
  local link
  for link in $LINUX_LINKS; do
    case $link in
      veth)
        case $1 in
          bulk1500) linux_one veth 1500 on bulk "$SECS" ;;
          bulk65535) linux_one veth 65535 on bulk "$SECS" ;;
          rr) linux_one veth 1500 on rr "$RR_N" ;;
          crr) linux_one veth 1500 on crr "$CRR_N" ;;
          idle) linux_one veth 1500 on idle "$IDLE_CONNS" ;;
        esac ;;
      veth-nooffload)
        [ "$1" = bulk1500 ] && linux_one veth-nooffload 1500 off bulk "$SECS" ;;
      *) say "unknown Linux link '$link' (veth, veth-nooffload)" ;;
    esac
  done
}

# --- the sitting ----------------------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "weir: $weir; peers: ${PEERS:-none}; REPS=$REPS SECS=$SECS RR_N=$RR_N CRR_N=$CRR_N IDLE_CONNS=$IDLE_CONNS"
start=$(date +%s)
for rep in $(seq 1 "$REPS"); do
  for w in $WORKLOADS; do
    say "rep $rep/$REPS: $w"
    weir_run "$w"
    for p in $PEERS; do "${p}_run" "$w"; done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
echo
echo "weir: $weir (built $(date -u -r "$weir" '+%Y-%m-%d %H:%M'), tree at" \
  "$(git -C "$here" describe --always --dirty 2>/dev/null || echo "?"))," \
  "$(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r); REPS=$REPS, SECS=$SECS," \
  "RR_N=$RR_N, CRR_N=$CRR_N, IDLE_CONNS=$IDLE_CONNS; load average $load_before before," \
  "$load_after after; $(($(date +%s) - start)) s."
if has_peer lwip; then
  echo "lwIP: liblwip-dev $(version liblwip-dev) (MSS fixed at 1460: no MTU 65535 run)."
fi
if has_peer gvisor; then
  echo "gVisor: golang-gvisor-gvisor-dev $(version golang-gvisor-gvisor-dev)," \
    "$(go version 2>/dev/null | cut -d' ' -f3), channel link."
fi
if has_peer linux; then
  echo "Linux: veth between two namespaces; CPU = client + server process time;" \
    "idle = kernel slab growth."
fi
echo
python3 "$peers_src/summarize.py" --reps "$REPS" "$raw" | tee "$BUILD_DIR/results/table-$stamp.md"
summary=${PIPESTATUS[0]}
echo
echo "RESULT lines: $raw"
if [ "$failures" -ne 0 ] || [ "$summary" -ne 0 ]; then
  say "$failures run(s) failed"
  exit 1
fi
