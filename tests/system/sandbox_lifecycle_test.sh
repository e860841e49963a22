#!/usr/bin/env bash
# System test: how `weir run` starts and ends (loopback-only sandboxes, no network namespace of
# the test's own is needed): the program's exit status passes through (7, and 128+N for a
# signal N), signals sent to weir reach the program (SIGTERM to a handler, SIGTERM with no
# handler, SIGINT), killing weir with SIGKILL takes the program with it (no orphan), and
# `weir run --print-policy` ends with the supervisor allowlist's size, at most 40.
# Usage: sandbox_lifecycle_test.sh path/to/weir [DIR of sandbox_probe]
set -uo pipefail
test_name=sandbox_lifecycle
weir=${1:-}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sandbox_lib.sh"

sys_require_root pgrep unshare
sys_work=$(mktemp -d "/tmp/weir-$test_name.XXXXXX")
trap sbx_cleanup EXIT
trap 'exit 130' INT TERM
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

run() { timeout --kill-after=5 "$1" "$weir" run -- "${@:2}"; }

# ---- exit status ----
run 30 sh -c 'exit 7' >/dev/null 2>&1
status=$?
sbx_check $((status != 7)) "weir run -- sh -c 'exit 7' exits 7 (got $status)"
run 30 sh -c 'exit 0' >/dev/null 2>&1
status=$?
sbx_check $((status != 0)) "weir run -- sh -c 'exit 0' exits 0 (got $status)"
run 30 sh -c 'kill -KILL $$' >/dev/null 2>&1
status=$?
sbx_check $((status != 137)) "a program killed by SIGKILL gives 137 (got $status)"
run 30 sh -c 'kill -SEGV $$' >/dev/null 2>&1
status=$?
sbx_check $((status != 139)) "a program killed by SIGSEGV gives 139 (got $status)"
out=$(run 30 sh -c 'echo out; echo err >&2' 2>"$sys_work/err")
sbx_check $(([ "$out" = out ] && grep -qx err "$sys_work/err") && echo 0 || echo 1) \
  "the program's stdout and stderr pass through"

# A repeatable option (--publish, --dns) right before "--": the program's own options stay its.
out=$(timeout 30 "$weir" run --dns 10.0.0.53 -- sh -c 'echo "$1"' -c parsed 2>&1)
sbx_check $([ "$out" = parsed ] && echo 0 || echo 1) \
  "weir run --dns ADDR -- sh -c ... passes -c to the program (got: $out)"
# (--publish listens on the loopback of the namespace weir runs in: a throwaway one here.)
out=$(unshare --net sh -c 'ip link set lo up && exec timeout 30 "$0" run --publish 18080:8000 -- sh -c "echo \$1" -c parsed' "$weir" 2>&1)
sbx_check $([ "$out" = parsed ] && echo 0 || echo 1) \
  "weir run --publish H:P -- sh -c ... passes -c to the program (got: $out)"

# Starts `weir run -- ARGS` in the background with its output in $sys_work/bg.out, and waits
# for the program's "ready" line.
start_bg() {
  : >"$sys_work/bg.out"
  "$weir" run -- "$@" >"$sys_work/bg.out" 2>&1 &
  bg_pid=$!
  sbx_bg_pids+=("$bg_pid")
  sbx_wait 15 grep -q '^ready' "$sys_work/bg.out"
}

# ---- signals sent to weir reach the program ----
handler='
import signal, sys, time
def on_term(sig, frame):
    sys.exit(42)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
time.sleep(60)
sys.exit(3)
'
if start_bg "$python" -c "$handler"; then
  kill -TERM "$bg_pid"
  if sbx_wait_pid "$bg_pid" 10; then
    sbx_check $((sbx_status != 42)) "SIGTERM sent to weir reaches the program's handler (exit $sbx_status, expected 42)"
  else
    sbx_fail "weir did not end within 10 s of SIGTERM"
  fi
else
  sbx_fail "the SIGTERM-handler program did not start"
  sbx_show "$sys_work/bg.out"
fi

if start_bg sh -c 'echo ready; exec sleep 60'; then
  kill -TERM "$bg_pid"
  if sbx_wait_pid "$bg_pid" 10; then
    sbx_check $((sbx_status != 143)) "SIGTERM to weir ends a program with no handler (exit $sbx_status, expected 143)"
  else
    sbx_fail "weir did not end within 10 s of SIGTERM (program without a handler)"
  fi
else
  sbx_fail "sleep did not start"
fi

if start_bg "$python" -c 'import time; print("ready", flush=True); time.sleep(60)'; then
  kill -INT "$bg_pid"
  if sbx_wait_pid "$bg_pid" 10; then
    # Python ends by SIGINT itself after an uncaught KeyboardInterrupt: 128+2.
    sbx_check $((sbx_status != 130)) "SIGINT (Ctrl-C) to weir ends the program and weir (exit $sbx_status, expected 130)"
  else
    sbx_fail "weir did not end within 10 s of SIGINT"
  fi
else
  sbx_fail "the SIGINT program did not start"
fi

# ---- the supervisor's death kills the program ----
marker="weir-orphan-check-$$-$RANDOM"
if start_bg "$python" -c 'import sys, time; print("ready", flush=True); time.sleep(120)' "$marker"; then
  pgrep -f "$marker" >/dev/null
  sbx_check $? "the program runs (pgrep finds its marker)"
  kill -KILL "$bg_pid"
  wait "$bg_pid" 2>/dev/null
  gone=1
  for i in $(seq 1 50); do
    if ! pgrep -f "$marker" >/dev/null; then
      gone=0
      break
    fi
    sleep 0.1
  done
  sbx_check $gone "SIGKILL of weir kills the program within 5 s (no orphan left)"
  if [ "$gone" -ne 0 ]; then
    pgrep -af "$marker" | sbx_show
    for p in $(pgrep -f "$marker"); do kill -KILL "$p"; done  # ours: the marker is unique
  fi
else
  sbx_fail "the orphan-check program did not start"
fi

# ---- the policies ----
policy=$(timeout 10 "$weir" run --print-policy 2>&1)
last=$(printf '%s\n' "$policy" | tail -n 1)
n=$(printf '%s\n' "$last" | sed -n 's/^supervisor allowlist: \([0-9][0-9]*\) syscalls$/\1/p')
if [ -n "$n" ] && [ "$n" -le 40 ]; then
  sbx_pass "--print-policy ends with '$last' (at most 40)"
else
  sbx_fail "--print-policy ends with '$last' (expected 'supervisor allowlist: N syscalls', N <= 40)"
fi
for s in bpf ptrace io_uring_setup process_vm_readv perf_event_open; do
  printf '%s\n' "$policy" | grep -q "$s" || sbx_fail "--print-policy does not mention $s"
done

sbx_summary
