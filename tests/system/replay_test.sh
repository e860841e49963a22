#!/usr/bin/env bash
# System test of `weir replay` on the command line (no root, no network): the checked-in
# capture replays twice to identical files and to no differences against its golden; a golden
# that differs gives one line naming frame, field, expected and got, and status 3; bad input
# and bad arguments give one line on stderr and status 1 (run time) or 2 (command line).
# Usage: replay_test.sh path/to/weir
set -uo pipefail
test_name=replay
weir=${1:-}
. "$(dirname "$0")/lib.sh"

[ -x "$weir" ] || sys_fail "weir binary '$weir' not found (usage: $0 path/to/weir)"
data=$(cd "$(dirname "$0")/../data/replay" && pwd)
sys_work=$(mktemp -d /tmp/weir-replay.XXXXXX)
trap sys_cleanup EXIT
replay() { timeout 60 "$weir" replay --ip 10.0.0.1/24 --mac 02:00:00:00:00:01 "$@"; }

replay --in "$data/http_session.pcap" --out "$sys_work/a.pcap" >"$sys_work/a.log" 2>&1 ||
  sys_fail "replay failed: $(cat "$sys_work/a.log")"
replay --in "$data/http_session.pcap" --out "$sys_work/b.pcap" --seed 1 >/dev/null 2>&1 ||
  sys_fail "second replay failed"
cmp -s "$sys_work/a.pcap" "$sys_work/b.pcap" || sys_fail "two runs wrote different files"
sys_log "ok: two runs are byte-identical ($(stat -c %s "$sys_work/a.pcap") bytes)"

replay --in "$data/http_session.pcap" --out "$sys_work/c.pcap" \
  --diff "$data/http_session.golden.pcap" >"$sys_work/diff.log" 2>&1
status=$?
[ "$status" -eq 0 ] || sys_fail "diff against the golden: status $status: $(cat "$sys_work/diff.log")"
grep -Eq '^no differences \([0-9]+ frames\)$' "$sys_work/diff.log" ||
  sys_fail "no 'no differences' line: $(cat "$sys_work/diff.log")"
sys_log "ok: $(tail -1 "$sys_work/diff.log")"

# Another seed changes what the stack chooses at random: a difference, status 3, one line.
replay --in "$data/http_session.pcap" --out "$sys_work/d.pcap" --seed 2 \
  --diff "$data/http_session.golden.pcap" >"$sys_work/diff2.log" 2>&1
status=$?
[ "$status" -eq 3 ] || sys_fail "seed 2 against the golden: status $status (expected 3)"
grep -Eq '^frame [0-9]+: [a-z0-9]+\.[a-z_]+(\[[0-9]+\])?: expected .*, got ' "$sys_work/diff2.log" ||
  sys_fail "unreadable difference: $(cat "$sys_work/diff2.log")"
sys_log "ok: seed 2 -> $(tail -1 "$sys_work/diff2.log")"

# expect_error STATUS ARGS...: that status and exactly one line on stderr.
failures=0
expect_error() {
  local want=$1 status lines
  shift
  timeout 60 "$weir" "$@" >"$sys_work/out" 2>"$sys_work/err"
  status=$?
  lines=$(wc -l <"$sys_work/err")
  if [ "$status" -ne "$want" ] || [ "$lines" -ne 1 ]; then
    printf '%s: FAIL: weir %s: status %s, %s stderr lines (expected %s and 1)\n' \
      "$test_name" "$*" "$status" "$lines" "$want" >&2
    sed 's/^/    /' "$sys_work/err" >&2
    failures=$((failures + 1))
  else
    sys_log "ok: weir $* -> $(cat "$sys_work/err")"
  fi
}
printf 'not a capture\n' >"$sys_work/text.pcap"
head -c 100 "$data/http_session.pcap" >"$sys_work/cut.pcap"
expect_error 1 replay --in "$sys_work/text.pcap" --out "$sys_work/o.pcap" --ip 10.0.0.1/24
expect_error 1 replay --in "$sys_work/cut.pcap" --out "$sys_work/o.pcap" --ip 10.0.0.1/24
expect_error 1 replay --in /nonexistent/in.pcap --out "$sys_work/o.pcap" --ip 10.0.0.1/24
expect_error 1 replay --in "$data/http_session.pcap" --out /nonexistent/o.pcap --ip 10.0.0.1/24
expect_error 1 replay --in "$data/http_session.pcap" --out "$sys_work/o.pcap" --ip 10.0.0.1/24 \
  --diff "$sys_work/text.pcap"
expect_error 2 replay --in "$data/http_session.pcap" --out "$sys_work/o.pcap"
expect_error 2 replay --in "$data/http_session.pcap" --out "$sys_work/o.pcap" --ip 10.0.0.300/24
expect_error 2 replay --in "$data/http_session.pcap" --out "$sys_work/o.pcap" --ip 10.0.0.1/24 --mac zz
expect_error 2 replay --in "$data/http_session.pcap" --out "$sys_work/o.pcap" --ip 10.0.0.1/24 --seed 0
expect_error 2 replay --out "$sys_work/o.pcap" --ip 10.0.0.1/24
[ "$failures" -eq 0 ] || sys_fail "$failures bad invocation(s) misreported"
sys_log "PASS"
