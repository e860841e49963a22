#!/usr/bin/env bash
# System test of `weir bench link`: every case of every endpoint built in (tap, tap-offload,
# packet, tap-ceiling, and dpdk when weir has DPDK), kept short, prints exactly one RESULT line
# with frames > 0 and no error; nothing the bench makes shows up in the namespace it was run
# from; bad options are one-line usage errors. No timing thresholds: the figures are the
# bench's business. Without root the kernel cases must each say they were skipped, in one line.
# Usage: bench_link_test.sh path/to/weir
set -uo pipefail
test_name=bench_link
weir=${1:-}
. "$(dirname "$0")/lib.sh"

[ -x "$weir" ] || sys_fail "weir binary '$weir' not found (usage: $0 path/to/weir)"
sys_work=$(mktemp -d /tmp/weir-bench-link.XXXXXX)
trap sys_cleanup EXIT

# The cases each endpoint has: 64k tx needs TX segmentation offload, 64k rx a link that
# takes Linux's TSO frames whole.
cases_of() {
  case $1 in
    tap) echo "64:tx 64:rx 1500:tx 1500:rx" ;;
    tap-offload | tap-ceiling) echo "64:tx 64:rx 1500:tx 1500:rx 64k:tx 64k:rx" ;;
    packet) echo "64:tx 64:rx 1500:tx 1500:rx 64k:rx" ;;
    dpdk) echo "64:tx 64:rx 1500:tx 1500:rx" ;;
  esac
}
kernel_endpoints="tap tap-offload packet tap-ceiling"
endpoints=$kernel_endpoints
# The --endpoint choices name what this weir was built with.
if "$weir" bench link --help | grep -q 'tap-ceiling,dpdk'; then endpoints="$endpoints dpdk"; fi

timeout 240 "$weir" bench link --secs 0.2 >"$sys_work/out" 2>"$sys_work/err"
status=$?
failures=0
fail_case() {
  printf '%s: FAIL: %s\n' "$test_name" "$*" >&2
  failures=$((failures + 1))
}

if [ "$(id -u)" -eq 0 ]; then
  [ "$status" -eq 0 ] || fail_case "weir bench link --secs 0.2 exited with status $status"
  ! grep -q ' error=' "$sys_work/out" || fail_case "a case failed: $(grep ' error=' "$sys_work/out")"
  expected=0
  for e in $endpoints; do
    for c in $(cases_of "$e"); do
      size=${c%%:*} dir=${c##*:}
      expected=$((expected + 1))
      lines=$(grep -E "^RESULT .* test=link endpoint=$e size=$size dir=$dir " "$sys_work/out")
      count=$(printf '%s' "$lines" | grep -c '^RESULT')
      frames=$(sed -n 's/.* frames=\([0-9]*\) .*/\1/p' <<<"$lines")
      if [ "$count" -ne 1 ] || [ -z "$frames" ] || [ "$frames" -le 0 ]; then
        fail_case "$e $size $dir: $count RESULT lines, frames=${frames:-none}"
      fi
    done
  done
  total=$(grep -c '^RESULT' "$sys_work/out")
  [ "$total" -eq "$expected" ] || fail_case "$total RESULT lines, expected $expected"
  # The bench's devices live in a namespace of its own, gone with it.
  for dev in wbl0 wbl1; do
    ! ip link show "$dev" >/dev/null 2>&1 || fail_case "device $dev was left in this namespace"
  done
else
  # Without root every kernel case is skipped with one line saying why, and that is no failure.
  [ "$status" -eq 0 ] || fail_case "weir bench link without root exited with status $status"
  for e in $kernel_endpoints; do
    for c in $(cases_of "$e"); do
      size=${c%%:*} dir=${c##*:}
      grep -q "^weir bench link: skipped $e $size $dir: needs root" "$sys_work/err" ||
        fail_case "no skip line for $e $size $dir"
    done
  done
fi
if [ "$failures" -gt 0 ]; then
  sed 's/^/    /' "$sys_work/out" "$sys_work/err" >&2
else
  sys_log "ok: $(grep -c '^RESULT' "$sys_work/out") RESULT lines"
  sed 's/^/    /' "$sys_work/out"
fi

# Bad options: status 2 and exactly one line on stderr, before anything is measured.
expect_usage_error() {
  local status lines
  timeout 10 "$weir" bench link "$@" >"$sys_work/out" 2>"$sys_work/err"
  status=$?
  lines=$(wc -l <"$sys_work/err")
  if [ "$status" -ne 2 ] || [ "$lines" -ne 1 ] || [ -s "$sys_work/out" ]; then
    fail_case "weir bench link $*: status $status, $lines stderr lines (expected 2, 1)"
    sed 's/^/    /' "$sys_work/out" "$sys_work/err" >&2
  else
    sys_log "ok: weir bench link $* -> $(cat "$sys_work/err")"
  fi
}
expect_usage_error --secs 0
expect_usage_error --secs fast
expect_usage_error --endpoint nosuch
expect_usage_error --size 9000
expect_usage_error --dir up
expect_usage_error --endpoint packet --size 64k --dir tx
expect_usage_error --nosuch

[ "$failures" -eq 0 ] || sys_fail "$failures check(s) failed"
sys_log "PASS"
