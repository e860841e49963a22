#!/usr/bin/env bash
# System test: `weir serve` without --ip6 configures IPv6 from Linux's router advertisements,
# inside a network namespace this test creates. Linux is the router (forwarding on) and radvd
# (Debian's) advertises fd00:7::/64 with the A and L flags. weir forms a link-local address,
# solicits routers, autoconfigures an address in the prefix (RFC 4862, RFC 7217 IID) and
# serves on it: Linux finds the address by pinging all-nodes from its own address in the
# prefix (weir answers from the source RFC 6724 picks toward it), pings it, and fetches
# /bytes/N over HTTP from it.
# Usage: serve_slaac_test.sh path/to/weir
set -uo pipefail
test_name=serve_slaac
weir=${1:-}
. "$(dirname "$0")/lib.sh"

tap=weirra
prefix=fd00:7::
linux_ip6=fd00:7::1
weir_ip=10.0.7.2

sys_require_root radvd ping curl
sys_make_netns "$tap" 10.0.7.1/24
sys_in_ns 10 sysctl -qw net.ipv6.conf.all.forwarding=1 || sys_fail "cannot enable forwarding"
timeout 10 ip -n "$sys_ns" -6 addr add "$linux_ip6/64" dev "$tap" nodad ||
  sys_fail "cannot add $linux_ip6 to $tap"

sys_start_weir --tap "$tap" --ip "$weir_ip/24"
# radvd speaks from Linux's link-local address, which needs its DAD first (bounded wait).
for _ in $(seq 1 50); do
  ip -n "$sys_ns" -6 addr show dev "$tap" scope link | grep -q 'fe80::' &&
    ! ip -n "$sys_ns" -6 addr show dev "$tap" | grep -q tentative && break
  sleep 0.1
done
cat >"$sys_work/radvd.conf" <<CONF
interface $tap {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  AdvDefaultLifetime 600;
  prefix $prefix/64 {
    AdvOnLink on;
    AdvAutonomous on;
    AdvValidLifetime 3600;
    AdvPreferredLifetime 1800;
  };
};
CONF
# radvd runs in the namespace; the cleanup kills whatever runs there.
sys_in_ns 10 radvd -C "$sys_work/radvd.conf" -p "$sys_work/radvd.pid" -m logfile \
  -l "$sys_work/radvd.log" || sys_fail "radvd did not start: $(cat "$sys_work/radvd.log")"
sys_log "radvd advertises $prefix/64"

# weir answers a ping of all-nodes from its address in the prefix once SLAAC and DAD are done
# (bounded: RS after up to 1 s, DAD 1-2 s, radvd answers solicitations within 3 s).
address=""
for _ in $(seq 1 20); do
  address=$(sys_in_ns 10 ping -6 -c 2 -i 0.3 -W 1 -I "$linux_ip6" "ff02::1%$tap" 2>/dev/null |
    grep -o 'from fd00:7::[0-9a-f:]*' | awk '{print $2}' | sed 's/:$//' |
    grep -v "^$linux_ip6\$" | head -1)
  [ -n "$address" ] && break
  sleep 0.5
done
[ -n "$address" ] || sys_fail "weir never answered from an address in $prefix/64; radvd log: $(cat "$sys_work/radvd.log")"
sys_log "weir autoconfigured $address"
case $address in
  fd00:7::*) ;;
  *) sys_fail "the answer came from $address, outside $prefix/64" ;;
esac

sys_in_ns 20 ping -6 -c 3 -i 0.2 -W 2 "$address" >"$sys_work/ping.txt" ||
  sys_fail "ping -6 $address failed: $(cat "$sys_work/ping.txt")"
sys_log "ping -6 $address: 3 of 3 answered"

size=100000
sys_in_ns 30 curl -6 -sS -m 20 -o "$sys_work/bytes.bin" "http://[$address]/bytes/$size" ||
  sys_fail "curl -6 /bytes/$size from $address failed"
got=$(stat -c %s "$sys_work/bytes.bin")
[ "$got" -eq "$size" ] || sys_fail "curl got $got bytes, expected $size"
sys_log "curl -6 http://[$address]/bytes/$size: $size bytes"

sys_stop_weir
sys_log "PASS"
