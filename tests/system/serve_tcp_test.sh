#!/usr/bin/env bash
# System test: the TCP services of `weir serve` against Linux's TCP, inside a network namespace
# this test creates: HTTP (curl /bytes/N checked byte for byte and by SHA-256), echo, the
# counted source on 19, discard and discard+keepalive; then a clean stop on SIGTERM and a pcap with no malformed frames or bad checksums.
# Usage: serve_tcp_test.sh path/to/weir
set -uo pipefail
test_name=serve_tcp
weir=${1:-}
. "$(dirname "$0")/lib.sh"

weir_ip=10.0.0.2

sys_require_root curl tshark
sys_make_netns weir0 10.0.0.1/24
pcap=$sys_work/tcp.pcap
sys_start_weir --tap weir0 --ip "$weir_ip/24" --pcap "$pcap"

page=$(sys_in_ns 20 curl -sS -m 10 "http://$weir_ip/") || sys_fail "curl http://$weir_ip/ failed"
case $page in *weir*) ;; *) sys_fail "unexpected page from weir: $page" ;; esac
sys_log "http: GET / answered"

size=10000000
sys_in_ns 60 curl -sS -m 50 -o "$sys_work/bytes.bin" "http://$weir_ip/bytes/$size" ||
  sys_fail "curl /bytes/$size failed"
sys_check_pattern "$sys_work/bytes.bin" "$size" || sys_fail "/bytes/$size body is wrong"
sys_log "http: GET /bytes/$size returned $size bytes of the pattern (SHA-256 matches)"

status=$(sys_in_ns 20 curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$weir_ip/nope")
[ "$status" = 404 ] || sys_fail "GET /nope gave status $status, expected 404"

cat >"$sys_work/tcp_services.py" <<'PY'
import os, socket, sys
host = sys.argv[1]

def connect(port):
    s = socket.create_connection((host, port), timeout=10)
    s.settimeout(10)
    return s

# echo: 1 MB out, the same 1 MB back, then EOF after our FIN.
payload = os.urandom(1_000_000)
s = connect(7)
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
    sys.exit(f"echo: sent {len(payload)} bytes, got {len(got)} different bytes back")
print("echo: 1000000 bytes returned intact, then EOF")

def pattern(start, n):
    return bytes((((i & 0xFFFFFFFF) ^ (i >> 8 & 0xFFFFFF) ^ (i >> 16 & 0xFFFF) ^ (i >> 24 & 0xFF)) & 0xFF)
                 for i in range(start, start + n))

def read_all(s):
    got = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return bytes(got)
        got += chunk

# source: "N\n" gets exactly N bytes of the pattern, then FIN; our FIN does not stop it.
s = connect(19)
s.sendall(b"300000\n")
got = read_all(s)
s.close()
if got != pattern(0, 300000):
    sys.exit(f"source: asked 300000, got {len(got)} bytes (or wrong ones)")
s = connect(19)
s.sendall(b"123457\r\n")
s.shutdown(socket.SHUT_WR)
got = read_all(s)
s.close()
if got != pattern(0, 123457):
    sys.exit(f"source after our FIN: asked 123457, got {len(got)} bytes (or wrong ones)")
# N = 0: endless until we reset.
s = connect(19)
s.sendall(b"0\n")
got = bytearray()
while len(got) < 1_000_000:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("source 0: closed early")
    got += chunk
if bytes(got[:1_000_000]) != pattern(0, 1_000_000):
    sys.exit("source 0: wrong bytes")
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
s.close()  # RST
# A malformed request line closes with nothing sent.
s = connect(19)
s.sendall(b"12x\n")
if read_all(s) != b"":
    sys.exit("source: answered a malformed line")
s.close()
print("source: exact counts with and without our FIN, endless mode, malformed line refused")

# discard: 2 MB in, nothing back, orderly close.
s = connect(9)
s.sendall(os.urandom(2_000_000))
s.shutdown(socket.SHUT_WR)
if s.recv(1) != b"":
    sys.exit("discard: sent something back")
s.close()
print("discard: 2000000 bytes swallowed, then EOF")

# discard with keepalive: connects and exchanges data like discard.
s = connect(1009)
s.sendall(b"x" * 1000)
s.shutdown(socket.SHUT_WR)
if s.recv(1) != b"":
    sys.exit("discard+keepalive: sent something back")
s.close()
print("discard+keepalive: ok")
PY
sys_in_ns 90 python3 "$sys_work/tcp_services.py" "$weir_ip" >"$sys_work/tcp.txt" 2>&1 ||
  { cat "$sys_work/tcp.txt" >&2; sys_fail "TCP service check failed"; }
while read -r line; do sys_log "$line"; done <"$sys_work/tcp.txt"

# A client without window scaling (RFC 7323 off, as small stacks often are): 200 small echo
# round trips on one connection from port 40007. Each echo's data carries weir's ACK; weir
# must not answer every read with a window update besides (the window field cannot show more
# than 65535 bytes, however much the buffer has free).
sys_in_ns 10 sysctl -qw net.ipv4.tcp_window_scaling=0 || sys_fail "cannot turn window scaling off"
cat >"$sys_work/echo_rr.py" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.bind(("0.0.0.0", 40007))
s.settimeout(10)
s.connect((sys.argv[1], 7))
for i in range(200):
    msg = b"%09d\n" % i
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        chunk = s.recv(64)
        if not chunk:
            sys.exit("echo closed early")
        got += chunk
    if got != msg:
        sys.exit(f"echo round trip {i}: sent {msg!r}, got {got!r}")
s.close()
print("echo without window scaling: 200 round trips")
PY
sys_in_ns 60 python3 "$sys_work/echo_rr.py" "$weir_ip" >"$sys_work/echo_rr.txt" 2>&1 ||
  { cat "$sys_work/echo_rr.txt" >&2; sys_fail "echo round trips without window scaling failed"; }
sys_log "$(cat "$sys_work/echo_rr.txt")"

sys_stop_weir TERM
grep -q 'tcp echo :7: connections 2' "$sys_weir_log" || sys_fail "weir's summary misses the echo connections"

[ -s "$pcap" ] || sys_fail "no pcap written"
tshark_q() { timeout 90 tshark -n -r "$pcap" "$@" 2>"$sys_work/tshark.err"; }
# Checksums are checked on what weir sent. The kernel may send a TCP checksum of 0xFFFF, which
# equals 0x0000 in one's complement but which tshark reports as bad: not weir's to answer for.
bad=$(tshark_q -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
  -Y "_ws.malformed || (ip.src == $weir_ip && (ip.checksum.status == 0 || tcp.checksum.status == 0))" |
  head -n 5)
[ -z "$bad" ] || sys_fail "malformed frames or bad checksums in the pcap:
$bad"
syn_acks=$(tshark_q -Y "tcp.flags.syn == 1 && tcp.flags.ack == 1 && ip.src == $weir_ip" | wc -l)
[ "$syn_acks" -ge 7 ] || sys_fail "pcap holds $syn_acks SYN-ACKs from weir, expected >= 7"
sys_log "pcap: $syn_acks handshakes answered, no malformed frames or bad checksums"
# Weir's segments on the round-trip connection without payload, SYN or FIN: a window update per
# read would be about 200 of them.
no_ws_syn=$(tshark_q -Y "tcp.srcport == 7 && tcp.dstport == 40007 && tcp.flags.syn == 1 && tcp.options.wscale" | wc -l)
[ "$no_ws_syn" -eq 0 ] || sys_fail "weir offered window scaling to a client that did not"
pure_acks=$(tshark_q -Y "tcp.srcport == 7 && tcp.dstport == 40007 && tcp.len == 0 && tcp.flags.syn == 0 && tcp.flags.fin == 0" | wc -l)
[ "$pure_acks" -le 20 ] ||
  sys_fail "weir sent $pure_acks bare ACKs in 200 echo round trips to a client without window scaling"
sys_log "pcap: $pure_acks bare ACKs from weir in 200 echo round trips without window scaling"
sys_log PASS
