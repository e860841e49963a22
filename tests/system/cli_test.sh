#!/usr/bin/env bash
# System test of the command line: every bad invocation exits 2 with exactly one line on
# stderr, and --help exits 0. Runs weir inside a namespace of its own (when root) so that a
# case that wrongly got past parsing could not create a tap anywhere that matters.
# Usage: cli_test.sh path/to/weir
set -uo pipefail
test_name=cli
weir=${1:-}
. "$(dirname "$0")/lib.sh"

[ -x "$weir" ] || sys_fail "weir binary '$weir' not found (usage: $0 path/to/weir)"
sys_work=$(mktemp -d /tmp/weir-cli.XXXXXX)
trap sys_cleanup EXIT
if [ "$(id -u)" -eq 0 ]; then
  sys_ns="weir-cli-$$"
  timeout 10 ip netns add "$sys_ns" || sys_fail "cannot create network namespace $sys_ns"
  run() { timeout 10 ip netns exec "$sys_ns" "$weir" "$@"; }
else
  run() { timeout 10 "$weir" "$@"; }
fi

failures=0
expect_usage_error() {
  local status lines
  run "$@" >"$sys_work/out" 2>"$sys_work/err"
  status=$?
  lines=$(wc -l <"$sys_work/err")
  if [ "$status" -ne 2 ] || [ "$lines" -ne 1 ]; then
    printf '%s: FAIL: weir %s: status %s, %s stderr lines (expected 2 and 1)\n' \
      "$test_name" "$*" "$status" "$lines" >&2
    sed 's/^/    /' "$sys_work/err" >&2
    failures=$((failures + 1))
  else
    sys_log "ok: weir $* -> $(cat "$sys_work/err")"
  fi
}

# expect_help PATTERN ARGS...: status 0 and PATTERN in the usage text on stdout.
expect_help() {
  local pattern=$1 status
  shift
  run "$@" >"$sys_work/out" 2>"$sys_work/err"
  status=$?
  if [ "$status" -ne 0 ] || ! grep -q -e "$pattern" "$sys_work/out"; then
    printf '%s: FAIL: weir %s: status %s, usage text without "%s"\n' \
      "$test_name" "$*" "$status" "$pattern" >&2
    failures=$((failures + 1))
  else
    sys_log "ok: weir $* -> usage, status 0"
  fi
}

good=(--tap weir0 --ip 10.0.0.2/24)
expect_usage_error
expect_usage_error frobnicate
expect_usage_error --bogus
expect_usage_error serve
expect_usage_error serve --tap weir0
expect_usage_error serve --ip 10.0.0.2/24
expect_usage_error serve --tap weir0 --ip 10.0.0.2
expect_usage_error serve --tap weir0 --ip 10.0.0.300/24
expect_usage_error serve --tap weir0 --ip 10.0.0.2/33
expect_usage_error serve --tap weir0 --ip banana
expect_usage_error serve --tap '' --ip 10.0.0.2/24
expect_usage_error serve --tap this-name-is-far-too-long --ip 10.0.0.2/24
expect_usage_error serve --tap a/b --ip 10.0.0.2/24
expect_usage_error serve "${good[@]}" --mtu 10
expect_usage_error serve "${good[@]}" --mtu 70000
expect_usage_error serve "${good[@]}" --mtu lots
expect_usage_error serve "${good[@]}" --mac zz:zz
expect_usage_error serve "${good[@]}" --mac 01:00:5e:00:00:01
expect_usage_error serve "${good[@]}" --gateway 192.168.1.1
expect_usage_error serve "${good[@]}" --gateway 10.0.0.2
expect_usage_error serve "${good[@]}" --gateway nope
expect_usage_error serve --tap weir0 --ip6 fd00::2
expect_usage_error serve --tap weir0 --ip6 10.0.0.2/24
expect_usage_error serve --tap weir0 --packet veth0 --ip 10.0.0.2/24
expect_usage_error serve --packet veth0 --ip 10.0.0.2/24 --mtu 1400
expect_usage_error serve --packet veth0 --ip 10.0.0.2/24 --no-offload
expect_usage_error serve --packet a/b --ip 10.0.0.2/24
expect_usage_error serve --packet '' --ip 10.0.0.2/24
expect_usage_error serve --tap weir0 --dpdk '' --ip 10.0.0.2/24
expect_usage_error serve --packet veth0 --dpdk '' --ip 10.0.0.2/24
expect_usage_error serve --dpdk '' --ip 10.0.0.2/24 --no-offload
expect_usage_error serve --dpdk '' --ip 10.0.0.2/24 --netns x
expect_usage_error serve --tap weir0 --dpdk-port 0 --ip 10.0.0.2/24
expect_usage_error serve --tap weir0 --ip6 ff02::1/64
expect_usage_error serve --tap weir0 --ip6 fd00::2/129
expect_usage_error serve "${good[@]}" --ip6 fd00::2/64 --no-ip6
expect_usage_error serve "${good[@]}" --ip6 fd00::2/64 --gateway6 2001:db8::1
expect_usage_error serve "${good[@]}" --ip6 fd00::2/64 --gateway6 fd00::2
expect_usage_error serve "${good[@]}" --gateway6 ff02::2
expect_usage_error serve "${good[@]}" --gateway fe80::1
expect_usage_error serve "${good[@]}" extra-argument
expect_usage_error serve "${good[@]}" --pcap
expect_usage_error bench --bogus
expect_usage_error bench bulk --mtu 10
expect_usage_error bench nosuchworkload
expect_usage_error stats
expect_usage_error stats a b
uplink=(--net tap:weir0 --ip 10.0.0.2/24)
expect_usage_error run --fault bogus=1 "${uplink[@]}" -- true
expect_usage_error run --fault loss=200% "${uplink[@]}" -- true
expect_usage_error run --fault rate=fast "${uplink[@]}" -- true
expect_usage_error run --fault delay=5 "${uplink[@]}" -- true
expect_usage_error run --fault loss=2% -- true
expect_usage_error run --net tap:weir0 -- true
expect_usage_error run --net dpdk:x -- true
expect_usage_error run --net packet: --ip 10.0.0.2/24 -- true
expect_usage_error run --net packet:veth0 --mtu 1400 --ip 10.0.0.2/24 -- true
expect_usage_error run --net packet:veth0 -- true
expect_help '--fault' run --help
expect_help '--fault' serve --help
expect_usage_error serve "${good[@]}" --fault loss=5
expect_usage_error serve "${good[@]}" --fault nonsense
expect_help '--no-offload' run --help
expect_help '--no-offload' serve --help
expect_help '--packet' serve --help
expect_help '--dpdk' serve --help
expect_help serve --help
expect_help stats --help
expect_help bench --help
expect_help '--tap' serve --help
expect_help '--pcap' serve --help
expect_help '--ip6' serve --help

[ "$failures" -eq 0 ] || sys_fail "$failures command lines misbehaved"
sys_log PASS
