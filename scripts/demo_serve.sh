#!/usr/bin/env bash
# The first thing to run: installs what is missing, builds weir, and shows it answering the
# Linux kernel over a tap device. Everything happens in a network namespace made for the demo
# and removed at the end; nothing touches the machine's own network.
#
#   Linux (kernel)  10.0.0.1 --- tap weir0 (inside netns weir-demo-PID) --- weir  10.0.0.2
#
# weir itself runs in the current namespace and opens the tap inside the demo namespace
# (`weir serve --netns`); the Linux side's ping and UDP client run inside it.
# WEIR=path/to/weir skips the build and uses that binary.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (it creates a network namespace and a tap device): sudo $0" >&2
  exit 1
fi

say() { printf '\n==> %s\n' "$*"; }

say "Installing missing packages (scripts/setup.sh)"
./scripts/setup.sh

if [ -n "${WEIR:-}" ]; then
  # WEIR=path/to/weir runs the demo with an existing binary and skips the build.
  weir=$WEIR
else
  say "Building weir (build/, RelWithDebInfo; the first build takes a few minutes)"
  cmake -G Ninja -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C build weir | tail -n 1
  weir=build/tools/weir
fi

ns=weir-demo-$$
tap=weir0
work=$(mktemp -d /tmp/weir-demo.XXXXXX)
pcap=$work/demo.pcap
weir_pid=""
cleanup() {
  local status=$?
  if [ -n "$weir_pid" ] && kill -0 "$weir_pid" 2>/dev/null; then
    kill -TERM "$weir_pid" 2>/dev/null
    sleep 1
    kill -KILL "$weir_pid" 2>/dev/null || true
  fi
  timeout 10 ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
  [ $status -eq 0 ] || echo "demo: failed (status $status)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM
in_ns() { timeout --kill-after=5 30 ip netns exec "$ns" "$@"; }

say "Creating network namespace $ns with tap $tap; Linux's side of the tap is 10.0.0.1/24"
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add mode tap name "$tap"
# No IPv6 on the demo link: keeps the capture to what the demo is about.
in_ns sysctl -q -w "net.ipv6.conf.$tap.disable_ipv6=1"
ip -n "$ns" addr add 10.0.0.1/24 dev "$tap"
ip -n "$ns" link set "$tap" up

say "Starting: weir serve --netns $ns --tap $tap --ip 10.0.0.2/24 --gateway 10.0.0.1 --pcap demo.pcap"
timeout --kill-after=5 300 "$weir" serve --netns "$ns" --tap "$tap" --ip 10.0.0.2/24 \
  --gateway 10.0.0.1 --pcap "$pcap" >"$work/weir.log" 2>&1 &
weir_pid=$!
for _ in $(seq 1 100); do
  grep -q '^weir: serving on' "$work/weir.log" && break
  if ! kill -0 "$weir_pid" 2>/dev/null; then
    cat "$work/weir.log" >&2
    exit 1
  fi
  sleep 0.1
done
grep '^weir: serving on' "$work/weir.log" || { cat "$work/weir.log" >&2; exit 1; }

say "Linux pings weir: ping -c 3 10.0.0.2"
in_ns ping -c 3 -i 0.3 -W 2 10.0.0.2 | tee "$work/ping.txt"
sent=$(sed -nE 's/^([0-9]+) packets transmitted, ([0-9]+) received.*/\1/p' "$work/ping.txt")
got=$(sed -nE 's/^([0-9]+) packets transmitted, ([0-9]+) received.*/\2/p' "$work/ping.txt")
echo "In words: Linux sent $sent ICMP echo requests and weir answered $got of them; weir" \
  "first answered Linux's ARP question 'who has 10.0.0.2?' with its own MAC."

say "Big pings that must be fragmented: ping -c 2 -s 4000 10.0.0.2"
in_ns ping -c 2 -i 0.3 -s 4000 -W 2 10.0.0.2 | tee "$work/ping-big.txt"
got=$(sed -nE 's/^([0-9]+) packets transmitted, ([0-9]+) received.*/\2/p' "$work/ping-big.txt")
echo "In words: each 4008-byte ICMP request crossed the 1500-byte link as 3 IP fragments;" \
  "weir put them back together, and its reply went back as 3 fragments that Linux" \
  "reassembled: $got of 2 answered."

say "UDP echo (RFC 862) on port 7, from a Python client on the Linux side"
in_ns python3 - <<'PY'
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2.0)
message = b"hello weir, this is Linux"
start = time.monotonic()
s.sendto(message, ("10.0.0.2", 7))
data, peer = s.recvfrom(65535)
took = (time.monotonic() - start) * 1000
print(f"sent {len(message)} bytes {message!r} to 10.0.0.2:7")
print(f"got  {len(data)} bytes {data!r} from {peer[0]}:{peer[1]} after {took:.2f} ms")
print("In words: weir's UDP socket received the datagram and sent the same bytes back"
      if data == message else "In words: the reply differs from what was sent!")
if data != message:
    raise SystemExit(1)
PY

say "TCP: HTTP from curl on the Linux side (weir serve also has TCP echo, discard and a source)"
in_ns curl -sS -m 10 http://10.0.0.2/
in_ns curl -sS -m 20 -o "$work/bytes.bin" -w 'curl: HTTP %{http_code}, %{size_download} bytes in %{time_total} s\n' \
  http://10.0.0.2/bytes/10000000
python3 - "$work/bytes.bin" <<'PY'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
print(f"In words: weir accepted the TCP connection, parsed the HTTP request and streamed"
      f" {len(data)} bytes back (SHA-256 {hashlib.sha256(data).hexdigest()[:16]}...);"
      f" tests/system/serve_tcp_test.sh checks such bodies byte for byte.")
if len(data) != 10_000_000:
    raise SystemExit(1)
PY
rm -f "$work/bytes.bin"

say "Stopping weir with Ctrl-C (SIGINT): it flushes the pcap and prints its counters"
kill -INT "$weir_pid"
wait "$weir_pid"
weir_pid=""
sed -n '2,$p' "$work/weir.log"

say "What weir recorded in its pcap: every frame except TCP (tshark -r demo.pcap -Y '!tcp')"
tshark_q() { timeout 120 tshark -n -r "$pcap" "$@" 2>/dev/null; }
tshark_q -Y '!tcp'
echo
echo "... and the TCP conversations (tshark -q -z conv,tcp):"
tshark_q -q -z conv,tcp | sed -n '/<->/p'
frames=$(tshark_q | wc -l)
tcp_frames=$(tshark_q -Y tcp | wc -l)
malformed=$(tshark_q -Y _ws.malformed | wc -l)
echo
echo "In words: weir captured $frames Ethernet frames in both directions: ARP, ICMP echo and" \
  "its fragments, UDP echo, and $tcp_frames TCP segments of the two HTTP connections;" \
  "tshark found $malformed malformed."

say "Done: the namespace, the tap and the capture are removed now."
