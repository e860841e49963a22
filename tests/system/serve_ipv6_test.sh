#!/usr/bin/env bash
# System test: `weir serve --ip6` against Linux's IPv6, inside a network namespace this test
# creates: ping -6 (plain, fragmented 4000-byte, and to weir's link-local address), curl -6
# /bytes/1000000 checked by SHA-256, TCP echo and UDP echo over IPv6, the same services over
# IPv4 on the same dual-stack sockets, and a pcap whose IPv6 frames are well formed with good
# checksums. Linux's DAD on its own address is skipped with `nodad`.
# Usage: serve_ipv6_test.sh path/to/weir
set -uo pipefail
test_name=serve_ipv6
weir=${1:-}
. "$(dirname "$0")/lib.sh"

weir_ip6=fd00:6::2
linux_ip6=fd00:6::1
weir_ip=10.0.6.2

sys_require_root curl ping tshark
sys_make_netns weir6 10.0.6.1/24
timeout 10 ip -n "$sys_ns" -6 addr add "$linux_ip6/64" dev weir6 nodad ||
  sys_fail "cannot add $linux_ip6 to weir6"
pcap=$sys_work/ipv6.pcap
sys_start_weir --tap weir6 --ip "$weir_ip/24" --ip6 "$weir_ip6/64" --pcap "$pcap"
ready=$(grep '^weir: serving on' "$sys_weir_log")
case $ready in *"$weir_ip6/64"*) ;; *) sys_fail "the ready line lacks $weir_ip6/64: $ready" ;; esac
# Linux's own link-local address needs DAD before it can be a source; wait for it (bounded).
for _ in $(seq 1 50); do
  ip -n "$sys_ns" -6 addr show dev weir6 | grep -q tentative || break
  sleep 0.1
done
linux_ll=$(ip -n "$sys_ns" -6 addr show dev weir6 scope link | grep -o 'fe80::[0-9a-f:]*' | head -1)

sys_in_ns 20 ping -6 -c 3 -i 0.2 -W 2 "$weir_ip6" >"$sys_work/ping.txt" ||
  sys_fail "ping -6 $weir_ip6 failed: $(cat "$sys_work/ping.txt")"
sys_log "ping -6: 3 of 3 answered"
sys_in_ns 20 ping -6 -c 2 -i 0.2 -W 2 -s 4000 "$weir_ip6" >"$sys_work/ping_big.txt" ||
  sys_fail "ping -6 -s 4000 failed: $(cat "$sys_work/ping_big.txt")"
grep -q '4008 bytes from' "$sys_work/ping_big.txt" ||
  sys_fail "no 4008-byte replies: $(cat "$sys_work/ping_big.txt")"
sys_log "ping -6 -s 4000: fragmented both ways and answered"
# weir's link-local address comes from autoconfiguration (stable IID, DAD first): find it by
# pinging all-nodes, which weir answers from that address.
link_local=""
for _ in $(seq 1 10); do
  link_local=$(sys_in_ns 10 ping -6 -c 2 -i 0.3 -W 1 -I weir6 ff02::1 2>/dev/null |
    grep -o 'from fe80::[0-9a-f:]*' | awk '{print $2}' | grep -v "^$linux_ll\$" | head -1)
  [ -n "$link_local" ] && break
  sleep 0.5
done
[ -n "$link_local" ] || sys_fail "no answer from weir to a ping of ff02::1 (no link-local address?)"
sys_in_ns 20 ping -6 -c 2 -i 0.2 -W 2 "$link_local%weir6" >"$sys_work/ping_ll.txt" ||
  sys_fail "ping -6 $link_local%weir6 failed: $(cat "$sys_work/ping_ll.txt")"
sys_log "ping -6 ff02::1 answered from weir's link-local $link_local, which answers unicast too"

size=1000000
sys_in_ns 60 curl -6 -sS -m 50 -o "$sys_work/bytes.bin" "http://[$weir_ip6]/bytes/$size" ||
  sys_fail "curl -6 /bytes/$size failed"
sys_check_pattern "$sys_work/bytes.bin" "$size" || sys_fail "/bytes/$size body is wrong"
sys_log "curl -6 /bytes/$size: $size bytes of the pattern (SHA-256 matches)"

cat >"$sys_work/services.py" <<'PY'
import os, socket, sys

def tcp_echo(family, host):
    payload = os.urandom(300_000)
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((host, 7))
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    if bytes(got) != payload:
        sys.exit(f"tcp echo over {host}: {len(got)} bytes back, not the {len(payload)} sent")

def udp_echo(family, host, size):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(3)
    payload = os.urandom(size)
    for attempt in range(3):
        s.sendto(payload, (host, 7))
        try:
            data, _ = s.recvfrom(65536)
        except socket.timeout:
            continue
        if data != payload:
            sys.exit(f"udp echo over {host}: wrong {len(data)}-byte answer")
        return
    sys.exit(f"udp echo over {host}: no answer to a {size}-byte datagram")

tcp_echo(socket.AF_INET6, sys.argv[1])
udp_echo(socket.AF_INET6, sys.argv[1], 100)
udp_echo(socket.AF_INET6, sys.argv[1], 5000)   # fragmented both ways
tcp_echo(socket.AF_INET, sys.argv[2])          # the same dual-stack sockets over IPv4
udp_echo(socket.AF_INET, sys.argv[2], 100)
print("tcp and udp echo over IPv6 and IPv4: intact")
PY
sys_in_ns 60 python3 "$sys_work/services.py" "$weir_ip6" "$weir_ip" ||
  sys_fail "echo services over IPv6/IPv4 failed"
sys_log "tcp/udp echo over IPv6 (5000-byte datagrams fragmented) and IPv4 on the same sockets"

sys_stop_weir TERM
grep -q 'ipv6\.' "$sys_weir_log" || sys_fail "the exit counters show no ipv6 group"

[ -s "$pcap" ] || sys_fail "no pcap written"
# Checksums are checked on what weir sent (the kernel may send a valid 0xFFFF checksum that
# tshark flags); malformed frames are checked on everything.
bad=$(timeout 90 tshark -n -r "$pcap" -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
  -Y "_ws.malformed || ((ipv6.src == $weir_ip6 || ipv6.src == $link_local) && \
      (tcp.checksum.status == 0 || udp.checksum.status == 0 || icmpv6.checksum.status == 0))" \
  2>"$sys_work/tshark.err" | head -n 5)
[ -z "$bad" ] || sys_fail "malformed frames or bad checksums in the pcap:
$bad"
frags=$(timeout 90 tshark -n -r "$pcap" -Y "ipv6.fragment && ipv6.src == $weir_ip6" 2>/dev/null |
  wc -l)
[ "$frags" -ge 3 ] || sys_fail "pcap holds $frags IPv6 fragments from weir, expected >= 3"
sys_log "pcap: well formed, checksums good, $frags fragments from weir"
sys_log "PASS"
