#!/usr/bin/env bash
# example.cpp_echo: runs the echo server on a tap inside a throwaway network namespace and
# checks it from the Linux side: 4 concurrent TCP connections each echo 1 MiB (SHA-256 of what
# came back against what was sent), then 50 UDP datagrams. Skips (77) without root or a tun
# device; everything it creates is removed on every exit path.
#
#   Linux 10.97.0.1/24 --- tap wecho0 (in netns) --- cpp_echo (weir) 10.97.0.2/24
set -uo pipefail
prog=${1:?usage: run.sh path/to/cpp_echo}
source "$(dirname "$0")/../run_lib.sh"
example_init example.cpp_echo ip python3 timeout
ns=weir-cpp-echo-$$
example_netns_with_tap "$ns" wecho0 10.97.0.1/24

# The server stays in this namespace and opens the tap inside the other one.
timeout --kill-after=5 100 "$prog" "/var/run/netns/$ns" wecho0 10.97.0.2/24 7 \
  >"$work/server.log" 2>&1 &
pid=$!
example_on_exit_kill $pid
for _ in $(seq 100); do
  grep -q '^cpp_echo: echoing' "$work/server.log" && break
  kill -0 "$pid" 2>/dev/null || fail "the server exited early"
  sleep 0.1
done
grep -q '^cpp_echo: echoing' "$work/server.log" || fail "no ready line within 10 s"

timeout --kill-after=5 60 ip netns exec "$ns" python3 - <<'PY' || fail "the Linux client's checks failed"
import hashlib, os, socket, threading, sys

SERVER = ("10.97.0.2", 7)
SIZE = 1 << 20
errors = []

def tcp_echo(i):
    data = os.urandom(SIZE)
    got = bytearray()
    with socket.create_connection(SERVER, timeout=20) as s:
        def send():
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        t = threading.Thread(target=send)
        t.start()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        t.join()
    sent, back = hashlib.sha256(data).hexdigest(), hashlib.sha256(got).hexdigest()
    print(f"tcp {i}: sent {len(data)} bytes sha256 {sent[:16]}, echoed {len(got)} sha256 {back[:16]}")
    if sent != back:
        errors.append(f"connection {i}: echo differs")

threads = [threading.Thread(target=tcp_echo, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
ok = 0
for i in range(50):
    msg = os.urandom(100 + i * 20)
    for attempt in range(3):  # UDP may lose the first datagram while ARP resolves
        u.sendto(msg, SERVER)
        try:
            back, peer = u.recvfrom(65536)
        except socket.timeout:
            continue
        if back == msg and peer == SERVER:
            ok += 1
        break
print(f"udp: {ok}/50 datagrams echoed intact")
if ok != 50:
    errors.append("udp echo incomplete")
if errors:
    sys.exit("; ".join(errors))
PY

kill -TERM "$pid"
wait "$pid"
status=$?
[ $status -eq 0 ] || fail "the server exited with status $status after SIGTERM"
grep '^cpp_echo: 4 connections, 4194304 bytes echoed, ' "$work/server.log" ||
  fail "the server's summary is not what the client did"
echo "example.cpp_echo: ok"
