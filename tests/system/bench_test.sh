#!/usr/bin/env bash
# System test of `weir bench`: each workload, kept short, completes and prints one RESULT line
# in the format scripts/bench_peers.sh reads (no error= field), and bad options are usage
# errors. Needs no root: both stacks run inside the weir process over the in-memory channel.
# Usage: bench_test.sh path/to/weir
set -uo pipefail
test_name=bench
weir=${1:-}
. "$(dirname "$0")/lib.sh"

[ -x "$weir" ] || sys_fail "weir binary '$weir' not found (usage: $0 path/to/weir)"
sys_work=$(mktemp -d /tmp/weir-bench.XXXXXX)
trap sys_cleanup EXIT

failures=0
# expect_result TEST ARGS...: status 0, exactly one RESULT line for TEST, without error=.
expect_result() {
  local test=$1 status results
  shift
  timeout 120 "$weir" bench "$@" >"$sys_work/out" 2>"$sys_work/err"
  status=$?
  results=$(grep -c "^RESULT peer=weir .* test=$test " "$sys_work/out")
  if [ "$status" -ne 0 ] || [ "$results" -ne 1 ] || grep -q ' error=' "$sys_work/out"; then
    printf '%s: FAIL: weir bench %s: status %s, %s RESULT lines\n' "$test_name" "$*" "$status" \
      "$results" >&2
    sed 's/^/    /' "$sys_work/out" "$sys_work/err" >&2
    failures=$((failures + 1))
  else
    sys_log "ok: $(cat "$sys_work/out")"
  fi
}

expect_usage_error() {
  local status
  timeout 10 "$weir" bench "$@" >/dev/null 2>"$sys_work/err"
  status=$?
  if [ "$status" -ne 2 ]; then
    printf '%s: FAIL: weir bench %s: status %s (expected 2)\n' "$test_name" "$*" "$status" >&2
    failures=$((failures + 1))
  else
    sys_log "ok: weir bench $* -> $(cat "$sys_work/err")"
  fi
}

expect_result bulk bulk --mtu 1500 --secs 0.3
expect_result bulk bulk --mtu 65535 --secs 0.3
expect_result bulk --cc newreno bulk --secs 0.3
expect_result rr rr -n 200
expect_result crr crr -n 100
expect_result idle idle --conns 200
expect_usage_error bulk --mtu 10
expect_usage_error --cc vegas rr
expect_usage_error rr -n 0
expect_usage_error nosuch

[ "$failures" -eq 0 ] || sys_fail "$failures case(s) failed"
sys_log "PASS"
