# Helpers shared by the system tests (sourced, not run). Every test creates its own network
# namespace, runs weir and the Linux peer inside it, and removes both on any exit.
#
# A test sets `test_name` and calls, in order:
#   sys_require_root; sys_make_netns; sys_start_weir ARGS...; ... checks ...; sys_stop_weir

sys_ns=""
sys_work=""
sys_weir_pid=""
sys_weir_log=""

sys_log() { printf '%s: %s\n' "$test_name" "$*"; }

sys_fail() {
  printf '%s: FAIL: %s\n' "$test_name" "$*" >&2
  if [ -n "$sys_weir_log" ] && [ -s "$sys_weir_log" ]; then
    printf '%s: weir output:\n' "$test_name" >&2
    sed 's/^/    /' "$sys_weir_log" >&2
  fi
  exit 1
}

sys_cleanup() {
  local status=$?
  if [ -n "$sys_weir_pid" ] && kill -0 "$sys_weir_pid" 2>/dev/null; then
    kill -KILL "$sys_weir_pid" 2>/dev/null
    wait "$sys_weir_pid" 2>/dev/null
  fi
  if [ -n "$sys_ns" ]; then
    # Whatever still runs in the namespace (a stray client) goes with it.
    local pids
    pids=$(timeout 5 ip netns pids "$sys_ns" 2>/dev/null)
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    timeout 10 ip netns del "$sys_ns" 2>/dev/null
  fi
  [ -n "$sys_work" ] && rm -rf "$sys_work"
  exit $status
}

sys_require_root() {
  [ "$(id -u)" -eq 0 ] || sys_fail "needs root (network namespaces and /dev/net/tun); run as root"
  local tool
  for tool in ip timeout python3 "$@"; do
    command -v "$tool" >/dev/null || sys_fail "'$tool' is missing; run scripts/setup.sh"
  done
  [ -x "$weir" ] || sys_fail "weir binary '$weir' not found (usage: $0 path/to/weir)"
}

# Creates the namespace, and in it a tap named $1 with the Linux side at address $2 (ADDR/LEN).
sys_make_netns() {
  local tap=$1 linux_ip=$2
  sys_work=$(mktemp -d "/tmp/weir-$test_name.XXXXXX")
  sys_weir_log=$sys_work/weir.log
  sys_ns="weir-$test_name-$$"
  trap sys_cleanup EXIT
  trap 'exit 130' INT TERM
  timeout 10 ip netns add "$sys_ns" || sys_fail "cannot create network namespace $sys_ns"
  timeout 10 ip -n "$sys_ns" link set lo up || sys_fail "cannot bring lo up in $sys_ns"
  timeout 10 ip -n "$sys_ns" tuntap add mode tap name "$tap" || sys_fail "cannot create tap $tap"
  timeout 10 ip -n "$sys_ns" addr add "$linux_ip" dev "$tap" || sys_fail "cannot address $tap"
  timeout 10 ip -n "$sys_ns" link set "$tap" up || sys_fail "cannot bring $tap up"
}

# Runs a command inside the namespace, bounded by $1 seconds.
sys_in_ns() {
  local seconds=$1
  shift
  timeout --kill-after=5 "$seconds" ip netns exec "$sys_ns" "$@"
}

# Starts `weir serve ARGS` inside the namespace and waits (bounded) for its ready line.
sys_start_weir() {
  # weir is bounded too, in case the test itself is killed without running its trap.
  ip netns exec "$sys_ns" timeout --kill-after=5 240 "$weir" serve "$@" >"$sys_weir_log" 2>&1 &
  sys_weir_pid=$!
  local i
  for i in $(seq 1 100); do
    grep -q '^weir: serving on' "$sys_weir_log" 2>/dev/null && return 0
    kill -0 "$sys_weir_pid" 2>/dev/null || sys_fail "weir serve exited before it was ready"
    sleep 0.1
  done
  sys_fail "weir serve printed no ready line within 10 s"
}

# Stops weir with signal $1 (default INT) and checks that it exits 0 within 10 s.
sys_stop_weir() {
  local signal=${1:-INT} i status
  # timeout(1) runs weir as its child and forwards the signal to it.
  kill -"$signal" "$sys_weir_pid" 2>/dev/null || sys_fail "weir is not running at the end"
  for i in $(seq 1 100); do
    kill -0 "$sys_weir_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$sys_weir_pid" 2>/dev/null && sys_fail "weir did not stop within 10 s of SIG$signal"
  wait "$sys_weir_pid"
  status=$?
  sys_weir_pid=""
  [ "$status" -eq 0 ] || sys_fail "weir exited with status $status after SIG$signal (expected 0)"
}

# Checks that file $1 holds exactly the first $2 bytes of weir's stream pattern
# (byte[i] = (i ^ i>>8 ^ i>>16 ^ i>>24) & 0xff), by length and SHA-256; says where it first differs.
sys_check_pattern() {
  python3 - "$1" "$2" <<'PY'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[2])
expected = bytes(((i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24)) & 0xFF) for i in range(n))
if len(data) != n:
    sys.exit(f"got {len(data)} bytes, expected {n}")
if hashlib.sha256(data).digest() != hashlib.sha256(expected).digest():
    first = next(i for i in range(n) if data[i] != expected[i])
    sys.exit(f"SHA-256 differs; first wrong byte at offset {first}")
PY
}

# Uploads $2 zero bytes from Linux to the discard service at address $1, then waits (bounded)
# until `weir stats` on socket $3 shows them all discarded; leaves the stats in
# $sys_work/stats.txt for the caller's own checks.
sys_upload_to_discard() {
  local address=$1 size=$2 stats_socket=$3 i
  head -c "$size" /dev/zero >"$sys_work/up.bin"
  sys_in_ns 60 python3 - "$address" "$sys_work/up.bin" <<'PY' || sys_fail "upload to discard :9 failed"
import socket, sys
s = socket.create_connection((sys.argv[1], 9), timeout=30)
with open(sys.argv[2], "rb") as f:
    s.sendfile(f)
s.shutdown(socket.SHUT_WR)
s.settimeout(10)
try:
    s.recv(1)  # the discard service closes after our FIN
except socket.timeout:
    pass
s.close()
PY
  # The last segments may still be on their way when the client returns.
  for i in $(seq 1 50); do
    timeout 10 "$weir" stats "$stats_socket" >"$sys_work/stats.txt" 2>&1 ||
      { cat "$sys_work/stats.txt" >&2; sys_fail "weir stats $stats_socket failed"; }
    grep -q "^tcp discard :9: .*bytes in $size," "$sys_work/stats.txt" && return 0
    sleep 0.1
  done
  cat "$sys_work/stats.txt" >&2
  sys_fail "weir stats does not show $size bytes discarded"
}
