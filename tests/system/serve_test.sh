#!/usr/bin/env bash
# System test: `weir serve` on a tap against the Linux kernel, inside a network namespace this
# test creates. Checks ping (plain and fragmented both ways), UDP echo, a clean stop on SIGINT,
# and that the pcap weir wrote parses in tshark with no malformed frames.
# Usage: serve_test.sh path/to/weir
set -uo pipefail
test_name=serve
weir=${1:-}
. "$(dirname "$0")/lib.sh"

weir_ip=10.0.0.2
linux_ip=10.0.0.1

sys_require_root ping tshark
sys_make_netns weir0 "$linux_ip/24"
pcap=$sys_work/serve.pcap
stats_socket=$sys_work/stats.sock
sys_start_weir --tap weir0 --ip "$weir_ip/24" --gateway "$linux_ip" --pcap "$pcap" \
  --stats-socket "$stats_socket"
sys_log "$(head -n 1 "$sys_weir_log")"

# ICMP echo, small: every one of 3 answered.
sys_in_ns 20 ping -c 3 -i 0.2 -W 3 -w 15 "$weir_ip" >"$sys_work/ping.txt" 2>&1 ||
  { cat "$sys_work/ping.txt" >&2; sys_fail "ping -c 3 $weir_ip did not get 3 replies"; }
sys_log "ping: $(grep -E 'packets transmitted' "$sys_work/ping.txt")"

# 4000 bytes of ICMP payload on a 1500-byte link: Linux fragments the request, weir reassembles
# it and fragments its reply, which Linux reassembles.
sys_in_ns 20 ping -c 2 -i 0.2 -s 4000 -W 3 -w 15 "$weir_ip" >"$sys_work/ping-big.txt" 2>&1 ||
  { cat "$sys_work/ping-big.txt" >&2; sys_fail "ping -s 4000 $weir_ip did not get 2 replies"; }
sys_log "ping -s 4000: $(grep -E 'packets transmitted' "$sys_work/ping-big.txt")"

# UDP echo: random payloads, one small and one that needs fragments, must come back byte for
# byte from port 7.
cat >"$sys_work/udp_echo.py" <<'PY'
import os, socket, sys
host = sys.argv[1]
for size in (32, 1400, 3000):
    payload = os.urandom(size)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    for attempt in range(3):
        s.sendto(payload, (host, 7))
        try:
            data, peer = s.recvfrom(65535)
            break
        except socket.timeout:
            continue
    else:
        sys.exit(f"no UDP echo reply for a {size}-byte datagram after 3 tries")
    if peer != (host, 7):
        sys.exit(f"reply came from {peer}, expected {(host, 7)}")
    if data != payload:
        sys.exit(f"echo of {size} bytes came back as {len(data)} different bytes")
    print(f"udp echo: {size} bytes returned intact")
PY
sys_in_ns 30 python3 "$sys_work/udp_echo.py" "$weir_ip" >"$sys_work/udp.txt" 2>&1 ||
  { cat "$sys_work/udp.txt" >&2; sys_fail "UDP echo on $weir_ip:7 failed"; }
while read -r line; do sys_log "$line"; done <"$sys_work/udp.txt"

# The running stack's counters, through `weir stats`.
timeout 10 "$weir" stats "$stats_socket" >"$sys_work/stats.txt" 2>&1 ||
  { cat "$sys_work/stats.txt" >&2; sys_fail "weir stats $stats_socket failed"; }
grep -q '^udp echo :7: datagrams echoed 3,' "$sys_work/stats.txt" ||
  { cat "$sys_work/stats.txt" >&2; sys_fail "weir stats does not show 3 UDP datagrams echoed"; }
replies_sent=$(sed -n 's/^icmpv4.tx_echo_replies //p' "$sys_work/stats.txt")
[ "${replies_sent:-0}" -ge 5 ] || sys_fail "weir stats shows ${replies_sent:-no} ICMP echo replies sent, expected >= 5"
grep -v ':' "$sys_work/stats.txt" | grep -q ' 0$' && sys_fail "weir stats printed zero counters without --all"
timeout 10 "$weir" stats --all "$stats_socket" >"$sys_work/stats-all.txt" 2>&1 ||
  sys_fail "weir stats --all $stats_socket failed"
grep -q ' 0$' "$sys_work/stats-all.txt" || sys_fail "weir stats --all printed no zero counters"
sys_log "weir stats: 3 UDP datagrams echoed, $replies_sent ICMP echo replies sent"

sys_stop_weir INT
[ -e "$stats_socket" ] && sys_fail "weir left its stats socket behind"
grep -q 'stopping' "$sys_weir_log" || sys_fail "weir printed no stop summary"

# The capture: readable, nothing malformed, no bad IP/ICMP/UDP checksum, and it holds what we
# sent and what weir answered.
[ -s "$pcap" ] || sys_fail "no pcap written at $pcap"
tshark_q() { timeout 60 tshark -n -r "$pcap" "$@" 2>"$sys_work/tshark.err"; }
tshark_q >/dev/null || { cat "$sys_work/tshark.err" >&2; sys_fail "tshark cannot read the pcap"; }
malformed=$(tshark_q -Y _ws.malformed)
[ -z "$malformed" ] || sys_fail "malformed frames in the pcap:
$malformed"
# Checksums are checked on what weir sent (a kernel's 0xFFFF one's-complement zero can read as
# "bad" in tshark; the kernel's checksums are not under test).
bad_sum=$(tshark_q -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
  -Y "ip.src == $weir_ip && (ip.checksum.status == 0 || udp.checksum.status == 0 || icmp.checksum.status == 0)")
[ -z "$bad_sum" ] || sys_fail "frames with bad checksums in the pcap:
$bad_sum"
count() { tshark_q -Y "$1" | wc -l; }
replies=$(count "icmp.type == 0 && ip.src == $weir_ip")
[ "$replies" -ge 5 ] || sys_fail "pcap holds $replies ICMP echo replies from weir, expected >= 5"
frag_replies=$(count "ip.src == $weir_ip && ip.flags.mf == 1")
[ "$frag_replies" -ge 2 ] || sys_fail "pcap holds no fragmented replies from weir"
echoes=$(count "udp.srcport == 7 && ip.src == $weir_ip")
[ "$echoes" -ge 3 ] || sys_fail "pcap holds $echoes UDP datagrams from port 7, expected >= 3"
arp=$(count "arp.opcode == 2 && arp.src.proto_ipv4 == $weir_ip")
[ "$arp" -ge 1 ] || sys_fail "pcap holds no ARP reply from weir"
sys_log "pcap: $(tshark_q | wc -l) frames, $replies ICMP echo replies, $echoes UDP echoes, no malformed frames"
sys_log PASS
