#!/usr/bin/env bash
# System test: every subcommand of sandbox_probe (tests/sandbox/programs/sandbox_probe.c) inside
# `weir run --net none`, the loopback-only sandbox: the pitfalls of seccomp user notification
# with AF_UNIX stand-ins (signals and parked calls, connect's states, close() without shutdown,
# dup/fork/exec/SCM_RIGHTS, many parked calls, UDP addresses, resets, options, names,
# non-blocking and timed-out calls, half-close, a connect address rewritten mid-call), calls
# that must not bypass the stack, and the seccomp listener not leaking into the program.
# No network namespace is needed: the sandbox has its own and nothing leaves it.
# Usage: sandbox_probe_test.sh path/to/weir [DIR of sandbox_probe]
set -uo pipefail
test_name=sandbox_probe
weir=${1:-}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sandbox_lib.sh"

sys_require_root
sbx_find_programs "${2:-}"
sys_work=$(mktemp -d "/tmp/weir-$test_name.XXXXXX")
trap sbx_cleanup EXIT
trap 'exit 130' INT TERM

# name, then the probe's arguments
probes=(
  "signals"
  "connect"
  "close"
  "fdpass"
  "threads 16"
  "parked 200 4"
  "udp"
  "reset"
  "sockopts"
  "names"
  "edges"
  "toctou 300"
  "bypass"
  "nolistener"
)

for p in "${probes[@]}"; do
  out=$sys_work/probe.out
  # shellcheck disable=SC2086
  PROBE_TIMEOUT=60 timeout --kill-after=5 90 "$weir" run -- "$sbx_probe" $p >"$out" 2>&1
  status=$?
  last=$(grep -E '^(PASS|FAIL) ' "$out" | tail -n 1)
  if [ "$status" -eq 0 ] && [ "${last%% *}" = PASS ]; then
    sbx_pass "probe $p: ${last#PASS }"
    while IFS= read -r line; do
      sbx_skip "probe $p: ${line#SKIP }"
    done < <(grep '^SKIP ' "$out")
  else
    sbx_fail "probe $p (exit status $status): ${last:-no result line}"
    grep -v '^ok  ' "$out" | sbx_show
  fi
done

sbx_summary
