#!/usr/bin/env bash
# System test: `weir serve --packet` on one end of a veth pair against the Linux kernel on the
# other end, inside a network namespace this test creates. weir has its own MAC (not the veth's)
# and address. Checks ping, a curl download (byte for byte and by SHA-256) and an upload to the
# discard service, the link counters through `weir stats`, that the veth's promiscuous mode goes
# with weir, a clean stop on SIGINT, and the one-line error for an interface that does not exist.
# Usage: serve_packet_test.sh path/to/weir
set -uo pipefail
test_name=serve_packet
weir=${1:-}
. "$(dirname "$0")/lib.sh"

weir_ip=10.0.0.2
linux_ip=10.0.0.1
weir_mac=02:5e:00:00:00:02

sys_require_root ping curl
sys_work=$(mktemp -d "/tmp/weir-$test_name.XXXXXX")
sys_weir_log=$sys_work/weir.log
sys_ns="weir-$test_name-$$"
trap sys_cleanup EXIT
trap 'exit 130' INT TERM
timeout 10 ip netns add "$sys_ns" || sys_fail "cannot create network namespace $sys_ns"
timeout 10 ip -n "$sys_ns" link set lo up || sys_fail "cannot bring lo up in $sys_ns"
timeout 10 ip -n "$sys_ns" link add wpv0 type veth peer name wpv1 ||
  sys_fail "cannot create the veth pair wpv0/wpv1"
timeout 10 ip -n "$sys_ns" addr add "$linux_ip/24" dev wpv1 || sys_fail "cannot address wpv1"
timeout 10 ip -n "$sys_ns" link set wpv1 up || sys_fail "cannot bring wpv1 up"

# An interface that does not exist: exit 1 and one line naming it.
sys_in_ns 10 "$weir" serve --packet wpnosuch0 --ip "$weir_ip/24" >"$sys_work/nosuch.out" \
  2>"$sys_work/nosuch.err"
status=$?
[ "$status" -eq 1 ] || sys_fail "weir serve --packet wpnosuch0 exited $status, expected 1"
[ "$(wc -l <"$sys_work/nosuch.err")" -eq 1 ] && grep -q "no interface named 'wpnosuch0'" \
  "$sys_work/nosuch.err" || { cat "$sys_work/nosuch.err" >&2; sys_fail "no one-line error naming wpnosuch0"; }
sys_log "missing interface: $(cat "$sys_work/nosuch.err")"

stats_socket=$sys_work/stats.sock
sys_start_weir --packet wpv0 --mac "$weir_mac" --ip "$weir_ip/24" --no-ip6 \
  --stats-socket "$stats_socket"
ready=$(head -n 1 "$sys_weir_log")
sys_log "$ready"
case $ready in
  "weir: serving on packet wpv0 $weir_ip/24 ($weir_mac), mtu 1500"*) ;;
  *) sys_fail "unexpected ready line: $ready" ;;
esac
# The packet socket's membership counts in the kernel's promiscuity (ip -d shows the count).
promiscuity() { ip -d -n "$sys_ns" link show wpv0 | sed -n 's/.* promiscuity \([0-9]*\) .*/\1/p'; }
[ "$(promiscuity)" = 1 ] || sys_fail "wpv0's promiscuity is '$(promiscuity)' while weir runs, expected 1"

sys_in_ns 20 ping -c 3 -i 0.2 -W 3 -w 15 "$weir_ip" >"$sys_work/ping.txt" 2>&1 ||
  { cat "$sys_work/ping.txt" >&2; sys_fail "ping -c 3 $weir_ip did not get 3 replies"; }
sys_log "ping: $(grep -E 'packets transmitted' "$sys_work/ping.txt")"
# weir answered from its own MAC, not the veth's.
neigh=$(ip -n "$sys_ns" neigh show "$weir_ip" dev wpv1)
case $neigh in *"lladdr $weir_mac"*) ;; *) sys_fail "Linux's neighbour entry for $weir_ip: $neigh" ;; esac

size=20000000
sys_in_ns 60 curl -sS -m 50 -o "$sys_work/bytes.bin" "http://$weir_ip/bytes/$size" ||
  sys_fail "curl /bytes/$size failed"
sys_check_pattern "$sys_work/bytes.bin" "$size" || sys_fail "/bytes/$size body is wrong"
sys_log "http: GET /bytes/$size returned $size bytes of the pattern (SHA-256 matches)"

# Upload: 20 MB from Linux into the discard service, which counts what it took.
sys_upload_to_discard "$weir_ip" 20000000 "$stats_socket"
for bad in link.rx_drop_bad_ring_header link.rx_drop_truncated; do
  grep -q "^$bad " "$sys_work/stats.txt" && sys_fail "weir stats shows $(grep "^$bad " "$sys_work/stats.txt")"
done
rx=$(sed -n 's/^link.rx_frames //p' "$sys_work/stats.txt")
tx=$(sed -n 's/^link.tx_frames //p' "$sys_work/stats.txt")
sys_log "upload: 20000000 bytes discarded; link: $rx frames received, $tx sent"

sys_stop_weir INT
grep -q 'stopping' "$sys_weir_log" || sys_fail "weir printed no stop summary"
[ "$(promiscuity)" = 0 ] || sys_fail "wpv0's promiscuity is '$(promiscuity)' after weir stopped, expected 0"
sys_log PASS
