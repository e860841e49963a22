#!/usr/bin/env bash
# example.tun_proxy: a client whose only route out is a tun device reaches a server through
# tun_proxy (weir terminates each flow, a host socket re-originates it). Checks: 3 concurrent
# TCP connections each echo 1 MiB (SHA-256 both ways), a connection to a closed port is
# refused (RST through weir), and 20 UDP datagrams come back intact. Skips (77) without root
# or a tun device; removes everything it made on every exit path.
#
#   netns C (client)                         netns P (proxy and server)
#   10.98.0.1 on tun wtun0 --(tun fd)--> tun_proxy --host sockets--> server 10.98.2.2 (on lo)
#   route 10.98.2.0/24 dev wtun0
#
# The tun is created in P, opened there by tun_proxy, then moved to C: the proxy's host
# sockets live in P, where 10.98.2.2 is local, so they never loop back into the tun.
set -uo pipefail
prog=${1:?usage: run.sh path/to/tun_proxy}
source "$(dirname "$0")/../run_lib.sh"
example_init example.tun_proxy ip python3 timeout
ns_c=weir-tunc-$$
ns_p=weir-tunp-$$
in_ns() { local ns=$1; shift; timeout --kill-after=5 60 ip netns exec "$ns" "$@"; }

example_netns "$ns_c"
example_netns "$ns_p"
ip -n "$ns_p" addr add 10.98.2.2/32 dev lo
ip -n "$ns_p" tuntap add mode tun name wtun0 || fail "cannot create the tun device"

# The server side, in P: TCP echo on 8000 (nothing listens on 8001), UDP echo on 8002.
ip netns exec "$ns_p" timeout --kill-after=5 100 python3 -u - >"$work/server.log" 2>&1 <<'PY' &
import socket, socketserver, threading

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                break
            self.request.sendall(data)
        print(f"tcp connection from {self.client_address[0]} done", flush=True)

socketserver.ThreadingTCPServer.allow_reuse_address = True
tcp = socketserver.ThreadingTCPServer(("10.98.2.2", 8000), Echo)
threading.Thread(target=tcp.serve_forever, daemon=True).start()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("10.98.2.2", 8002))
print("server ready", flush=True)
while True:
    data, peer = udp.recvfrom(65536)
    udp.sendto(data, peer)
PY
server=$!
example_on_exit_kill $server

ip netns exec "$ns_p" timeout --kill-after=5 100 "$prog" wtun0 10.98.0.2/24 >"$work/proxy.log" 2>&1 &
proxy=$!
example_on_exit_kill $proxy
for _ in $(seq 100); do
  grep -q '^tun_proxy: forwarding' "$work/proxy.log" && grep -q '^server ready' "$work/server.log" && break
  kill -0 "$proxy" 2>/dev/null || fail "tun_proxy exited early"
  kill -0 "$server" 2>/dev/null || fail "the server exited early"
  sleep 0.1
done
grep -q '^tun_proxy: forwarding' "$work/proxy.log" || fail "no ready line from tun_proxy in 10 s"

# Hand the tun to the client's namespace; the proxy keeps its fd.
ip -n "$ns_p" link set wtun0 netns "$ns_c" || fail "cannot move the tun to $ns_c"
in_ns "$ns_c" sysctl -q -w net.ipv6.conf.wtun0.disable_ipv6=1
ip -n "$ns_c" addr add 10.98.0.1/24 dev wtun0
ip -n "$ns_c" link set wtun0 up
ip -n "$ns_c" route add 10.98.2.0/24 dev wtun0

started=$EPOCHREALTIME
in_ns "$ns_c" python3 - <<'PY' || fail "the client's checks failed"
import hashlib, os, socket, sys, threading

SIZE = 1 << 20
errors = []

def echo(i):
    data = os.urandom(SIZE)
    got = bytearray()
    with socket.create_connection(("10.98.2.2", 8000), timeout=20) as s:
        def send():
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        t = threading.Thread(target=send)
        t.start()
        while chunk := s.recv(65536):
            got += chunk
        t.join()
    a, b = hashlib.sha256(data).hexdigest(), hashlib.sha256(got).hexdigest()
    print(f"tcp {i}: sent {len(data)} sha256 {a[:16]}, back {len(got)} sha256 {b[:16]}")
    if a != b:
        errors.append(f"tcp {i}: echo differs")

threads = [threading.Thread(target=echo, args=(i,)) for i in range(3)]
for t in threads: t.start()
for t in threads: t.join()

try:
    socket.create_connection(("10.98.2.2", 8001), timeout=10).close()
    errors.append("a connection to a closed port was accepted")
except ConnectionRefusedError:
    print("tcp to a closed port: refused")

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(5)
ok = 0
for i in range(20):
    msg = os.urandom(200 + 50 * i)
    u.sendto(msg, ("10.98.2.2", 8002))
    back, peer = u.recvfrom(65536)
    ok += back == msg and peer == ("10.98.2.2", 8002)
print(f"udp: {ok}/20 datagrams intact")
if ok != 20:
    errors.append("udp echo")
if errors:
    sys.exit("; ".join(errors))
PY

awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "client checks took %.1f s\n", b - a }'
grep -c 'tcp connection from 10.98.2.2 done' "$work/server.log" | grep -qx 3 ||
  fail "the server did not see 3 connections from the proxy's host sockets"
kill -TERM "$proxy"
wait "$proxy"
status=$?
[ $status -eq 0 ] || fail "tun_proxy exited with status $status after SIGTERM"
grep '^tun_proxy: 3 TCP flows (3145728 bytes up, 3145728 down), 1 refused, 1 UDP flows (40 datagrams)' \
  "$work/proxy.log" || fail "tun_proxy's summary is not what the client did"
echo "example.tun_proxy: ok"
