#!/usr/bin/env bash
# System test: `weir run --net packet:IFACE`, the sandbox's uplink on an existing interface (one
# end of a veth pair in a network namespace this test creates) through the AF_PACKET endpoint,
# with the stack's own MAC: curl inside downloads a 3 MB file from a Linux HTTP server on the
# other end (SHA-256 checked), a server inside is fetched by a Linux curl through the stack's
# address, and a missing interface is a one-line error.
# Usage: sandbox_packet_test.sh path/to/weir [DIR of sandbox_probe]
set -uo pipefail
test_name=sandbox_packet
weir=${1:-}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sandbox_lib.sh"

linux_ip=10.9.2.1
weir_ip=10.9.2.2
mac=02:00:0a:09:02:02

sys_require_root curl sha256sum
sys_work=$(mktemp -d "/tmp/weir-$test_name.XXXXXX")
sys_ns="weir-$test_name-$$"
trap sbx_cleanup EXIT
trap 'exit 130' INT TERM
timeout 10 ip netns add "$sys_ns" || sys_fail "cannot create network namespace $sys_ns"
timeout 10 ip -n "$sys_ns" link set lo up || sys_fail "cannot bring lo up in $sys_ns"
timeout 10 ip -n "$sys_ns" link add wrp0 type veth peer name wrp1 ||
  sys_fail "cannot create the veth pair wrp0/wrp1"
timeout 10 ip -n "$sys_ns" addr add "$linux_ip/24" dev wrp1 || sys_fail "cannot address wrp1"
timeout 10 ip -n "$sys_ns" link set wrp1 up || sys_fail "cannot bring wrp1 up"
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

run_out() {
  local seconds=$1
  shift
  timeout --kill-after=5 "$seconds" "$weir" run --net packet:wrp0 --netns "$sys_ns" \
    --ip "$weir_ip/24" --gateway "$linux_ip" --mac "$mac" --no-ip6 "$@"
}

# A missing interface: one line naming it, no sandbox started.
timeout 20 "$weir" run --net packet:wrpnosuch --netns "$sys_ns" --ip "$weir_ip/24" -- true \
  >"$sys_work/nosuch.out" 2>"$sys_work/nosuch.err"
status=$?
sbx_check $([ "$status" -eq 1 ] && [ "$(wc -l <"$sys_work/nosuch.err")" -eq 1 ] &&
  grep -q "wrpnosuch" "$sys_work/nosuch.err" && echo 0 || echo 1) \
  "a missing interface is a one-line error: $(head -n 1 "$sys_work/nosuch.err")"

# ---- curl inside downloads from Linux ----
mkdir -p "$sys_work/www"
head -c 3000000 /dev/urandom >"$sys_work/www/blob.bin"
want=$(sha256sum <"$sys_work/www/blob.bin" | cut -d' ' -f1)
sbx_bg ip netns exec "$sys_ns" timeout 120 "$python" -m http.server 8090 --bind "$linux_ip" \
  --directory "$sys_work/www" >"$sys_work/linux_http.log" 2>&1
sbx_wait 10 sys_in_ns 5 curl -sf -m 2 -o /dev/null "http://$linux_ip:8090/" ||
  sys_fail "the Linux HTTP server did not start"
got=$(run_out 60 -- curl -sS --max-time 40 "http://$linux_ip:8090/blob.bin" 2>"$sys_work/curl.err" |
  sha256sum | cut -d' ' -f1)
sbx_check $([ "$got" = "$want" ] && echo 0 || echo 1) \
  "curl inside (--net packet:wrp0) downloaded 3000000 bytes from Linux, SHA-256 matches"
[ "$got" = "$want" ] || sbx_show "$sys_work/curl.err"

# ---- a server inside, fetched from Linux through the stack's address ----
cp "$sys_work/www/blob.bin" "$sys_work/inside.bin"
sbx_bg timeout --kill-after=5 60 "$weir" run --net packet:wrp0 --netns "$sys_ns" \
  --ip "$weir_ip/24" --gateway "$linux_ip" --mac "$mac" --no-ip6 -- \
  "$python" -m http.server 8000 --bind 0.0.0.0 --directory "$sys_work" >"$sys_work/inside.log" 2>&1
weir_bg=${sbx_bg_pids[-1]}
if sbx_wait 20 sys_in_ns 5 curl -sf -m 2 -o /dev/null "http://$weir_ip:8000/"; then
  got=$(sys_in_ns 40 curl -sS --max-time 30 "http://$weir_ip:8000/inside.bin" | sha256sum | cut -d' ' -f1)
  sbx_check $([ "$got" = "$want" ] && echo 0 || echo 1) \
    "Linux curl fetched inside.bin from http.server inside via $weir_ip:8000 (SHA-256 matches)"
else
  sbx_fail "the server inside never answered on $weir_ip:8000"
  sbx_show "$sys_work/inside.log"
fi
kill -INT "$weir_bg" 2>/dev/null
sbx_wait_pid "$weir_bg" 10 || kill -KILL "$weir_bg" 2>/dev/null

sbx_summary
