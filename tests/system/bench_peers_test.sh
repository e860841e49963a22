#!/usr/bin/env bash
# System test of scripts/bench_peers.sh in its quick mode with lwIP as the only peer: the lwIP
# program builds against Debian's liblwip-dev, weir bench and lwipbench each print their RESULT
# lines, and the table has a weir and an lwIP cell for every workload lwIP runs, and the target
# column. No timing thresholds: the numbers of a quick run mean little. Needs no root (the
# Linux peer is not run). Skipped (exit 77) when liblwip-dev is not installed; the gVisor peer
# is never run here (its Go packages are large and scripts/setup.sh does not install them).
# Usage: bench_peers_test.sh path/to/weir
set -uo pipefail
test_name=bench_peers
weir=${1:-}
. "$(dirname "$0")/lib.sh"

[ -x "$weir" ] || sys_fail "weir binary '$weir' not found (usage: $0 path/to/weir)"
script=$(cd "$(dirname "$0")/../.." && pwd)/scripts/bench_peers.sh
if ! pkg-config --exists lwip 2>/dev/null; then
  sys_log "SKIP: liblwip-dev is not installed (scripts/setup.sh installs it)"
  exit 77
fi
for tool in cc python3; do
  command -v "$tool" >/dev/null || sys_fail "'$tool' is missing; run scripts/setup.sh"
done
sys_work=$(mktemp -d /tmp/weir-bench-peers.XXXXXX)
trap sys_cleanup EXIT

QUICK=1 PEERS=lwip SKIP_INSTALL=1 BUILD_DIR=$sys_work/build TARGETS="" \
  timeout --kill-after=5 240 "$script" "$weir" >"$sys_work/out" 2>"$sys_work/err"
status=$?
if [ "$status" -ne 0 ]; then
  sed 's/^/    /' "$sys_work/out" "$sys_work/err" >&2
  sys_fail "bench_peers.sh --quick exited $status"
fi
[ -x "$sys_work/build/lwipbench" ] || sys_fail "lwipbench was not built into BUILD_DIR"

failures=0
check() { # DESCRIPTION PATTERN FILE...
  local what=$1 pattern=$2
  shift 2
  if grep -qE -- "$pattern" "$@"; then
    sys_log "ok: $what"
  else
    printf '%s: FAIL: %s (no line matches %s)\n' "$test_name" "$what" "$pattern" >&2
    failures=$((failures + 1))
  fi
}
raw=$(ls "$sys_work"/build/results/raw-*.txt 2>/dev/null | head -n 1)
[ -n "$raw" ] || sys_fail "no raw RESULT file in BUILD_DIR/results"
for t in bulk rr crr idle; do
  check "weir bench $t RESULT line" "^RESULT peer=weir .* test=$t " "$raw"
  check "lwipbench $t RESULT line" "^RESULT peer=lwip .* test=$t " "$raw"
done
if grep -q ' error=' "$raw"; then
  printf '%s: FAIL: a RESULT line has error=\n' "$test_name" >&2
  failures=$((failures + 1))
fi
check "table header with weir, lwIP, target and met columns" \
  '^\| workload \| metric \| weir \(1 thread\) \| lwIP \(1 thread\) \| target \| met \|$' "$sys_work/out"
# A number (median) in both the weir and the lwIP cell of the rows lwIP runs.
num='[0-9][0-9,.]*'
check "bulk MTU 1500 row with its target" \
  "^\| bulk, MTU 1500 \| CPU s per GB \| $num \| $num \| ≤ 0.5× lwIP = $num \| (\*\*yes\*\*|no) \|$" \
  "$sys_work/out"
check "bulk MTU 65535 row (weir only: lwIP's MSS is fixed)" \
  "^\| bulk, MTU 65535 \| Gbit/s \| $num \| — \|" "$sys_work/out"
check "rr row" "^\| rr \| CPU µs per round trip \| $num \| $num \|" "$sys_work/out"
check "crr row" "^\| crr \| connections/s \| $num \| $num \|" "$sys_work/out"
check "idle row" "^\| idle \| bytes per connection pair \| $num \| $num \|" "$sys_work/out"

# Bad input is refused before anything runs.
WORKLOADS=nosuch "$script" "$weir" >/dev/null 2>"$sys_work/bad.err"
status=$?
if [ "$status" -ne 2 ]; then
  printf '%s: FAIL: WORKLOADS=nosuch exited %s, expected 2\n' "$test_name" "$status" >&2
  failures=$((failures + 1))
fi

[ "$failures" -eq 0 ] || { sed 's/^/    /' "$sys_work/out" >&2; sys_fail "$failures check(s) failed"; }
sys_log "PASS"
