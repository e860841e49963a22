#!/usr/bin/env bash
# System test: `weir serve --dpdk` on DPDK's net_tap driver against the Linux kernel, inside a
# network namespace this test creates. The EAL runs without hugepages or PCI; net_tap makes
# the kernel interface dtap0 in weir's namespace, and Linux addresses it. Checks the one-line
# error for EAL arguments DPDK refuses, ping, a curl download (byte for byte and by SHA-256)
# and an upload to the discard service, the link and DPDK counters through `weir stats`, a
# clean stop on SIGINT, and that dtap0 goes with weir. Skipped (exit 77), never passed, when
# this weir was built without DPDK.
# Usage: serve_dpdk_test.sh path/to/weir
set -uo pipefail
test_name=serve_dpdk
weir=${1:-}
. "$(dirname "$0")/lib.sh"

weir_ip=10.0.0.2
linux_ip=10.0.0.1
weir_mac=02:5e:00:00:00:02
eal="--no-huge --no-pci -m 256 --no-shconf -l 0 --log-level=*:warning --vdev=net_tap0,iface=dtap0"

sys_require_root ping curl
sys_work=$(mktemp -d "/tmp/weir-$test_name.XXXXXX")
sys_weir_log=$sys_work/weir.log
sys_ns="weir-$test_name-$$"
trap sys_cleanup EXIT
trap 'exit 130' INT TERM
timeout 10 ip netns add "$sys_ns" || sys_fail "cannot create network namespace $sys_ns"
timeout 10 ip -n "$sys_ns" link set lo up || sys_fail "cannot bring lo up in $sys_ns"

# Built without DPDK: one line saying so, and the test is skipped rather than passed.
sys_in_ns 30 "$weir" serve --dpdk "--no-huge --bogus-eal-option" --ip "$weir_ip/24" \
  >"$sys_work/bad.out" 2>"$sys_work/bad.err"
status=$?
if grep -q "built without DPDK" "$sys_work/bad.err"; then
  [ "$status" -ne 0 ] || sys_fail "weir serve --dpdk without DPDK exited 0"
  sys_log "SKIP: $(cat "$sys_work/bad.err")"
  exit 77
fi
# EAL arguments DPDK refuses: exit 1 and one line naming the problem (the EAL's usage text
# and log lines are caught, not printed).
[ "$status" -eq 1 ] || sys_fail "weir serve --dpdk with a bad EAL option exited $status, expected 1"
[ "$(wc -l <"$sys_work/bad.err")" -eq 1 ] && grep -q "unrecognized option '--bogus-eal-option'" \
  "$sys_work/bad.err" || { cat "$sys_work/bad.err" >&2; sys_fail "no one-line error naming the bad EAL option"; }
[ -s "$sys_work/bad.out" ] && { cat "$sys_work/bad.out" >&2; sys_fail "the EAL's usage text reached stdout"; }
sys_log "bad EAL option: $(cat "$sys_work/bad.err")"

stats_socket=$sys_work/stats.sock
sys_start_weir --dpdk "$eal" --mac "$weir_mac" --ip "$weir_ip/24" --no-ip6 \
  --stats-socket "$stats_socket"
ready=$(grep '^weir: serving on' "$sys_weir_log")
sys_log "$ready"
case $ready in
  "weir: serving on dpdk net_tap0 $weir_ip/24 ($weir_mac), mtu 1500"*) ;;
  *) sys_fail "unexpected ready line: $ready" ;;
esac
# The EAL created dtap0 before weir said it was ready; Linux takes the other end.
timeout 10 ip -n "$sys_ns" addr add "$linux_ip/24" dev dtap0 || sys_fail "cannot address dtap0"
timeout 10 ip -n "$sys_ns" link set dtap0 up || sys_fail "cannot bring dtap0 up"

sys_in_ns 20 ping -c 3 -i 0.2 -W 3 -w 15 "$weir_ip" >"$sys_work/ping.txt" 2>&1 ||
  { cat "$sys_work/ping.txt" >&2; sys_fail "ping -c 3 $weir_ip did not get 3 replies"; }
sys_log "ping: $(grep -E 'packets transmitted' "$sys_work/ping.txt")"
neigh=$(ip -n "$sys_ns" neigh show "$weir_ip" dev dtap0)
case $neigh in *"lladdr $weir_mac"*) ;; *) sys_fail "Linux's neighbour entry for $weir_ip: $neigh" ;; esac

size=20000000
sys_in_ns 60 curl -sS -m 50 -o "$sys_work/bytes.bin" -w '%{speed_download}\n' \
  "http://$weir_ip/bytes/$size" >"$sys_work/curl.txt" || sys_fail "curl /bytes/$size failed"
sys_check_pattern "$sys_work/bytes.bin" "$size" || sys_fail "/bytes/$size body is wrong"
sys_log "http: GET /bytes/$size returned $size bytes of the pattern (SHA-256 matches)," \
  "$(awk '{printf "%.0f Mbit/s", $1 * 8 / 1e6}' "$sys_work/curl.txt")"

# Upload: 20 MB from Linux into the discard service (weir's receive path, zero-copy mbufs).
sys_upload_to_discard "$weir_ip" 20000000 "$stats_socket"
for bad in dpdk.tx_drop_no_mbuf dpdk.port_rx_no_mbuf; do
  grep -q "^$bad " "$sys_work/stats.txt" && sys_fail "weir stats shows $(grep "^$bad " "$sys_work/stats.txt")"
done
rx=$(sed -n 's/^link.rx_frames //p' "$sys_work/stats.txt")
tx=$(sed -n 's/^link.tx_frames //p' "$sys_work/stats.txt")
zero_copy=$(sed -n 's/^dpdk.rx_zero_copy //p' "$sys_work/stats.txt")
[ -n "$zero_copy" ] && [ "$zero_copy" -gt 10000 ] ||
  { cat "$sys_work/stats.txt" >&2; sys_fail "dpdk.rx_zero_copy is '$zero_copy' after a 20 MB upload"; }
sys_log "upload: 20000000 bytes discarded; link: $rx frames received ($zero_copy in their mbufs), $tx sent"

sys_stop_weir INT
grep -q 'stopping' "$sys_weir_log" || sys_fail "weir printed no stop summary"
ip -n "$sys_ns" link show dtap0 >/dev/null 2>&1 && sys_fail "dtap0 still exists after weir stopped"
sys_log PASS
