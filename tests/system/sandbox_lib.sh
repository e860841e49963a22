# Helpers shared by the sandbox system tests (sourced after lib.sh, not run).
#
# A sandbox test runs programs inside `weir run` and counts its checks instead of stopping at
# the first failure: every check prints one line "PASS ...", "FAIL ..." or "SKIPPED ...", and
# sbx_summary ends the test (exit 1 if anything failed). Usage of a test:
#   test.sh path/to/weir [DIR]   DIR holds sandbox_probe and rr_bench (default: the build's
#                                tests/ directory next to tools/weir)

sbx_passed=0
sbx_failed=0
sbx_skipped=0
sbx_bg_pids=()

sbx_pass() {
  sbx_passed=$((sbx_passed + 1))
  printf '%s: PASS %s\n' "$test_name" "$*"
}
sbx_fail() {
  sbx_failed=$((sbx_failed + 1))
  printf '%s: FAIL %s\n' "$test_name" "$*"
}
sbx_skip() {
  sbx_skipped=$((sbx_skipped + 1))
  printf '%s: SKIPPED %s\n' "$test_name" "$*"
}
# sbx_check CONDITION-STATUS TEXT: PASS when the status is 0.
sbx_check() {
  local status=$1
  shift
  if [ "$status" -eq 0 ]; then sbx_pass "$*"; else sbx_fail "$*"; fi
}

sbx_summary() {
  printf '%s: %d passed, %d failed, %d skipped\n' "$test_name" "$sbx_passed" "$sbx_failed" \
    "$sbx_skipped"
  [ "$sbx_failed" -eq 0 ]
}

# Finds the test programs: $1 is the directory given on the command line (may be empty).
sbx_find_programs() {
  sbx_dir=${1:-$(dirname "$weir")/../tests}
  sbx_probe=$sbx_dir/sandbox_probe
  sbx_rr=$sbx_dir/rr_bench
  [ -x "$sbx_probe" ] || sys_fail "sandbox_probe not found in '$sbx_dir' (build the sandbox_probe target)"
}

# Prints indented output of a failed step.
sbx_show() {
  sed 's/^/    | /' "$@" >&2
}

# Starts a background command and remembers it for the cleanup.
sbx_bg() {
  "$@" &
  sbx_bg_pids+=($!)
}

# Kills what sbx_bg started (each by its id), then runs lib.sh's cleanup.
sbx_cleanup() {
  local status=$? p
  for p in "${sbx_bg_pids[@]}"; do
    kill -KILL "$p" 2>/dev/null
  done
  for p in "${sbx_bg_pids[@]}"; do
    wait "$p" 2>/dev/null
  done
  sbx_bg_pids=()
  (exit $status)
  sys_cleanup
}

# Waits until a command succeeds: sbx_wait SECONDS COMMAND...
sbx_wait() {
  local end=$((SECONDS + $1))
  shift
  while [ "$SECONDS" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# Waits (bounded) for a pid to end; its status is in $sbx_status. 1 if it did not end.
sbx_wait_pid() {
  local pid=$1 seconds=$2 i
  for i in $(seq 1 $((seconds * 10))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      sbx_status=$?
      return 0
    fi
    sleep 0.1
  done
  return 1
}
