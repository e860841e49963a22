#!/usr/bin/env bash
# System test: programs inside `weir run` talking through the stack and a tap to Linux, in a
# network namespace this test creates (Linux side 10.9.0.1/24 on the tap, the stack 10.9.0.2):
#   - curl inside downloads a 4 MB file from a Linux HTTP server; the SHA-256 matches;
#   - python3 -m http.server inside with --publish 8080:8000 is fetched by a Linux curl through
#     the stack's address (10.9.0.2:8000) and through the supervisor's loopback (127.0.0.1:8080
#     of the namespace weir runs in);
#   - iperf3 -c inside against iperf3 -s on Linux completes both directions, carried by the
#     tap's segmentation offloads both ways;
#   - busybox wget inside downloads the same file;
#   - curl -6 inside downloads it from a Linux HTTP server on the tap's IPv6 address
#     (fd00:9::1, the stack fd00:9::2/64 by --ip6);
#   - a server that forks workers after listen() serves Linux connections, and so does nginx
#     (a master and two workers);
#   - ip addr, ip route and ss -tan inside show the stack's state;
#   - glibc's resolver and python inside resolve a name through a Linux DNS server (--dns);
#   - probes that need an outside peer: a reset from Linux is ECONNRESET, a silent address keeps
#     connect in progress (EALREADY, SO_SNDTIMEO), names on the stack's own address, a DNS-style
#     exchange by recvfrom and recvmsg whose answers come from the Linux server's address.
# Usage: sandbox_net_test.sh path/to/weir [DIR of sandbox_probe]
set -uo pipefail
test_name=sandbox_net
weir=${1:-}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sandbox_lib.sh"

linux_ip=10.9.0.1
weir_ip=10.9.0.2
linux_ip6=fd00:9::1
weir_ip6=fd00:9::2
silent_ip=10.9.0.77  # in the subnet, nobody answers ARP for it
tap=wr0
# A fixed MAC: every weir run in this test reuses the tap, and Linux's neighbour entry for
# 10.9.0.2 must stay right from one run to the next.
mac=02:00:0a:09:00:02

sys_require_root curl iperf3 sha256sum
sbx_find_programs "${2:-}"
sys_make_netns "$tap" "$linux_ip/24"
trap sbx_cleanup EXIT
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

# Splits "OPTIONS... -- PROGRAM ARGS..." into $opts and $prog. The test's own options go after
# the caller's: a repeatable option (--publish) right before "--" is checked on its own in
# sandbox_lifecycle_test.sh, and must not hide what these checks are about.
split_args() {
  opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    opts+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  prog=("$@")
}
# weir run outside the namespace, its tap inside it (--netns).
run_out() {
  local seconds=$1
  shift
  split_args "$@"
  timeout --kill-after=5 "$seconds" "$weir" run "${opts[@]}" --net "tap:$tap" --netns "$sys_ns" \
    --ip "$weir_ip/24" --gateway "$linux_ip" --mac "$mac" -- "${prog[@]}"
}
# weir run inside the namespace (its own loopback is the namespace's), in the background.
start_in() {
  local log=$1
  shift
  split_args "$@"
  sbx_bg ip netns exec "$sys_ns" timeout --kill-after=5 120 "$weir" run "${opts[@]}" \
    --net "tap:$tap" --ip "$weir_ip/24" --gateway "$linux_ip" --mac "$mac" -- "${prog[@]}" \
    >"$log" 2>&1
  weir_bg=${sbx_bg_pids[-1]}
}
stop_bg() {
  kill -INT "$1" 2>/dev/null
  sbx_wait_pid "$1" 10 || kill -KILL "$1" 2>/dev/null
}

# ---- curl inside downloads from Linux ----
mkdir -p "$sys_work/www"
head -c 4000000 /dev/urandom >"$sys_work/www/blob.bin"
want=$(sha256sum <"$sys_work/www/blob.bin" | cut -d' ' -f1)
sbx_bg ip netns exec "$sys_ns" timeout 200 "$python" -m http.server 8090 --bind "$linux_ip" \
  --directory "$sys_work/www" >"$sys_work/linux_http.log" 2>&1
sbx_wait 10 sys_in_ns 5 curl -sf -m 2 -o /dev/null "http://$linux_ip:8090/" ||
  sys_fail "the Linux HTTP server did not start"
got=$(run_out 60 -- curl -sS --max-time 40 "http://$linux_ip:8090/blob.bin" 2>"$sys_work/curl.err" |
  sha256sum | cut -d' ' -f1)
if [ "$got" = "$want" ]; then
  sbx_pass "curl inside downloaded 4000000 bytes from Linux, SHA-256 matches"
else
  sbx_fail "curl inside: SHA-256 $got, expected $want"
  sbx_show "$sys_work/curl.err"
fi

if command -v busybox >/dev/null; then
  got=$(run_out 60 -- busybox wget -q -O - "http://$linux_ip:8090/blob.bin" 2>"$sys_work/wget.err" |
    sha256sum | cut -d' ' -f1)
  sbx_check $([ "$got" = "$want" ] && echo 0 || echo 1) \
    "busybox wget inside downloaded blob.bin from Linux (SHA-256 matches)"
  [ "$got" = "$want" ] || sbx_show "$sys_work/wget.err"
else
  sbx_skip "busybox wget inside: busybox is not installed (scripts/setup.sh)"
fi

# ---- curl -6 inside, through the stack's IPv6 ----
sys_in_ns 10 ip addr add "$linux_ip6/64" dev "$tap" nodad || sys_fail "cannot give $tap $linux_ip6"
sbx_bg ip netns exec "$sys_ns" timeout 200 "$python" -m http.server 8091 --bind "$linux_ip6" \
  --directory "$sys_work/www" >"$sys_work/linux_http6.log" 2>&1
sbx_wait 10 sys_in_ns 5 curl -sf -m 2 -o /dev/null "http://[$linux_ip6]:8091/" ||
  sys_fail "the Linux HTTP server on $linux_ip6 did not start"
got=$(run_out 60 --ip6 "$weir_ip6/64" -- curl -6 -sS --max-time 40 "http://[$linux_ip6]:8091/blob.bin" \
  2>"$sys_work/curl6.err" | sha256sum | cut -d' ' -f1)
if [ "$got" = "$want" ]; then
  sbx_pass "curl -6 inside downloaded 4000000 bytes from [$linux_ip6], SHA-256 matches"
else
  sbx_fail "curl -6 inside: SHA-256 $got, expected $want"
  sbx_show "$sys_work/curl6.err"
fi

# ---- a server inside, published ----
start_in "$sys_work/publish.log" --publish 8080:8000 -- "$python" -m http.server 8000 \
  --directory "$sys_work/www"
if sbx_wait 20 sys_in_ns 5 curl -sf -m 2 -o /dev/null "http://$weir_ip:8000/"; then
  got=$(sys_in_ns 40 curl -sS --max-time 30 "http://$weir_ip:8000/blob.bin" | sha256sum | cut -d' ' -f1)
  sbx_check $([ "$got" = "$want" ] && echo 0 || echo 1) \
    "Linux curl fetched blob.bin from http.server inside via the stack's address $weir_ip:8000 (SHA-256 matches)"
  got=$(sys_in_ns 40 curl -sS --max-time 30 "http://127.0.0.1:8080/blob.bin" | sha256sum | cut -d' ' -f1)
  sbx_check $([ "$got" = "$want" ] && echo 0 || echo 1) \
    "Linux curl fetched blob.bin via the published loopback port 127.0.0.1:8080 (SHA-256 matches)"
  listing=$(sys_in_ns 10 curl -sS --max-time 5 "http://127.0.0.1:8080/")
  sbx_check $(printf '%s' "$listing" | grep -q 'blob.bin' && echo 0 || echo 1) \
    "the published server's directory listing names blob.bin"
else
  sbx_fail "python3 -m http.server inside never answered on $weir_ip:8000"
  sbx_show "$sys_work/publish.log"
fi
stop_bg "$weir_bg"

# ---- iperf3 ----
sbx_bg ip netns exec "$sys_ns" timeout 200 iperf3 -s -B "$linux_ip" -p 5201 >"$sys_work/iperf_s.log" 2>&1
sleep 0.5
for dir in up down; do
  flag=
  [ "$dir" = down ] && flag=-R
  # shellcheck disable=SC2086
  run_out 60 --stats -- iperf3 -c "$linux_ip" -p 5201 -t 3 -J $flag >"$sys_work/iperf_$dir.json" \
    2>"$sys_work/iperf_$dir.err"
  status=$?
  # The tap's offloads carried the bulk: unsegmented TCP from the stack going up, from Linux
  # coming down (the counters --stats prints at exit).
  counter=tx_gso_frames
  [ "$dir" = down ] && counter=rx_gso_frames
  gso=$(awk -v c="link.$counter" '$1 == c {print $2}' "$sys_work/iperf_$dir.err")
  sbx_check $([ "${gso:-0}" -gt 0 ] && echo 0 || echo 1) \
    "iperf3 $dir went through the tap's offloads ($counter ${gso:-0})"
  bps=$("$python" -c '
import json, sys
try:
    r = json.load(open(sys.argv[1]))
    print(int(r["end"]["sum_received"]["bits_per_second"]))
except Exception as e:
    print(0)
' "$sys_work/iperf_$dir.json")
  if [ "$status" -eq 0 ] && [ "$bps" -gt 0 ]; then
    sbx_pass "iperf3 -c inside $flag ($dir): $(awk -v b="$bps" 'BEGIN {printf "%.2f", b / 1e9}') Gbit/s received"
  else
    sbx_fail "iperf3 -c inside $flag ($dir): exit status $status, $bps bit/s"
    sbx_show "$sys_work/iperf_$dir.err"
    grep -i '"error"' "$sys_work/iperf_$dir.json" | sbx_show
  fi
done

# ---- a server that forks after listen ----
cat >"$sys_work/forking_server.py" <<'PY'
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8001))
s.listen(64)
workers = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        while True:
            c, peer = s.accept()
            c.recv(100)
            c.sendall(f"worker {os.getpid()} saw {peer[0]}\n".encode())
            c.close()
    workers.append(pid)
s.close()
print("ready", flush=True)
for _ in workers:
    os.wait()
PY
start_in "$sys_work/forking.log" -- "$python" "$sys_work/forking_server.py"
cat >"$sys_work/forking_client.py" <<'PY'
import socket, sys, time
host, n = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 20
answers = []
while len(answers) < n and time.time() < deadline:
    try:
        c = socket.create_connection((host, 8001), timeout=5)
        c.sendall(b"hi\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = c.recv(100)
            if not chunk:
                break
            data += chunk
        c.close()
        if data:
            answers.append(data.decode().strip())
    except OSError:
        if not answers:
            time.sleep(0.2)  # the server inside is still starting
            continue
        raise
workers = {a.split()[1] for a in answers}
print(f"{len(answers)} answers from {len(workers)} workers")
sys.exit(0 if len(answers) == n and all(a.endswith("10.9.0.1") for a in answers) else 1)
PY
result=$(sys_in_ns 40 "$python" "$sys_work/forking_client.py" "$weir_ip" 12 2>&1)
sbx_check $? "a server inside that forked 3 workers after listen() served 12 Linux connections ($result)"
[ "${result%% *}" = 12 ] || sbx_show "$sys_work/forking.log"
stop_bg "$weir_bg"

# ---- nginx inside: a master and two workers (fork after listen, epoll, accept4, sendfile) ----
nginx=$(command -v nginx || echo /usr/sbin/nginx)
if [ -x "$nginx" ]; then
  mkdir -p "$sys_work/ngx/logs" "$sys_work/ngx/tmp"
  cat >"$sys_work/ngx/nginx.conf" <<CONF
daemon off;
user root;
master_process on;
worker_processes 2;
pid $sys_work/ngx/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $sys_work/ngx/tmp/body;
  proxy_temp_path $sys_work/ngx/tmp/proxy;
  fastcgi_temp_path $sys_work/ngx/tmp/fastcgi;
  uwsgi_temp_path $sys_work/ngx/tmp/uwsgi;
  scgi_temp_path $sys_work/ngx/tmp/scgi;
  sendfile on;
  server { listen 8003; root $sys_work/www; }
}
CONF
  start_in "$sys_work/nginx.log" -- "$nginx" -p "$sys_work/ngx" -c "$sys_work/ngx/nginx.conf"
  if sbx_wait 20 sys_in_ns 5 curl -sf -m 2 -o /dev/null "http://$weir_ip:8003/blob.bin"; then
    ok=0
    for i in 1 2 3 4 5 6; do
      got=$(sys_in_ns 30 curl -sS --max-time 20 "http://$weir_ip:8003/blob.bin" | sha256sum | cut -d' ' -f1)
      [ "$got" = "$want" ] || ok=1
    done
    sbx_check $ok "nginx inside (master + 2 workers) served blob.bin 6 times to Linux curl (SHA-256 matches)"
  else
    sbx_fail "nginx inside never answered on $weir_ip:8003"
    tail -n 20 "$sys_work/nginx.log" | sbx_show
  fi
  stop_bg "$weir_bg"
else
  sbx_skip "nginx inside: nginx is not installed (scripts/setup.sh)"
fi

# ---- the stack's state through ip and ss ----
state=$(run_out 30 -- "$python" -c '
import socket, subprocess
s = socket.socket()
s.bind(("0.0.0.0", 7777))
s.listen()
for cmd in (["ip", "addr"], ["ip", "route"], ["ss", "-tan"]):
    r = subprocess.run(cmd, capture_output=True, text=True)
    print("=== " + " ".join(cmd) + f" (exit {r.returncode})")
    print(r.stdout + r.stderr, end="")
' 2>&1)
printf '%s\n' "$state" >"$sys_work/state.txt"
failed_before=$sbx_failed
section() { awk -v h="=== $1 " 'index($0, h) == 1 {on = 1; next} /^=== / {on = 0} on' "$sys_work/state.txt"; }
unsupported() { grep -qiE 'not supported|Cannot open netlink|Operation not permitted' <<<"$1"; }
addr=$(section "ip addr")
if unsupported "$addr"; then
  sbx_skip "ip addr inside: netlink route emulation not available ($(head -n 1 <<<"$addr"))"
else
  grep -q "inet $weir_ip/24" <<<"$addr"
  sbx_check $? "ip addr inside shows $weir_ip/24"
  grep -q "inet 127.0.0.1/8" <<<"$addr"
  sbx_check $? "ip addr inside shows lo 127.0.0.1/8"
fi
route=$(section "ip route")
if unsupported "$route"; then
  sbx_skip "ip route inside: netlink route emulation not available ($(head -n 1 <<<"$route"))"
else
  grep -q "^default via $linux_ip" <<<"$route"
  sbx_check $? "ip route inside shows 'default via $linux_ip'"
fi
ss_out=$(section "ss -tan")
if unsupported "$ss_out"; then
  sbx_skip "ss -tan inside: sock_diag emulation not available ($(head -n 1 <<<"$ss_out"))"
else
  grep -qE '^LISTEN.*(0\.0\.0\.0|\*):7777 ' <<<"$ss_out"
  sbx_check $? "ss -tan inside lists the program's listener on port 7777"
fi
[ "$sbx_failed" -eq "$failed_before" ] || sbx_show "$sys_work/state.txt"

# ---- probes that need a Linux peer ----
cat >"$sys_work/resetter.py" <<'PY'
import socket, struct, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 9100))
s.listen()
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.recv(100)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
PY
sbx_bg ip netns exec "$sys_ns" timeout 100 "$python" "$sys_work/resetter.py" "$linux_ip" \
  >"$sys_work/resetter.log" 2>&1
sbx_wait 10 grep -q ready "$sys_work/resetter.log" || sys_fail "the resetting Linux server did not start"
# A tiny DNS server on Linux: any A query gets 10.9.0.99, anything else an empty answer.
cat >"$sys_work/dns.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 12:
        continue
    i = 12
    while i < len(q) and q[i] != 0:
        i += q[i] + 1
    qtype = struct.unpack("!H", q[i + 1:i + 3])[0] if i + 3 <= len(q) else 0
    question = q[12:i + 5]
    flags = 0x8180  # a response, recursion desired and available, no error
    answers = b""
    if qtype == 1:
        answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([10, 9, 0, 99])
    s.sendto(q[:2] + struct.pack("!HHHHH", flags, 1, 1 if answers else 0, 0, 0) + question + answers,
             peer)
PY
sbx_bg ip netns exec "$sys_ns" timeout 100 "$python" "$sys_work/dns.py" "$linux_ip" >"$sys_work/dns.log" 2>&1
if sbx_wait 10 grep -q ready "$sys_work/dns.log"; then
  got=$(run_out 30 --dns "$linux_ip" -- getent ahostsv4 probe.test 2>&1 | awk 'NR == 1 {print $1}')
  sbx_check $([ "$got" = 10.9.0.99 ] && echo 0 || echo 1) \
    "getent ahostsv4 probe.test inside (--dns $linux_ip, glibc's resolver) resolves to 10.9.0.99 (got '$got')"
  got=$(run_out 30 --dns "$linux_ip" -- "$python" -c 'import socket; print(socket.gethostbyname("other.test"))' 2>&1)
  sbx_check $([ "$got" = 10.9.0.99 ] && echo 0 || echo 1) \
    "python's gethostbyname inside resolves through the Linux DNS server (got '$got')"
else
  sbx_fail "the Linux DNS server did not start"
  sbx_show "$sys_work/dns.log"
fi

for p in "reset $linux_ip 9100" "connect $silent_ip" "names $weir_ip $linux_ip" "udp-remote $linux_ip 53"; do
  # shellcheck disable=SC2086
  PROBE_TIMEOUT=40 run_out 60 -- "$sbx_probe" $p >"$sys_work/probe.out" 2>&1
  status=$?
  last=$(grep -E '^(PASS|FAIL) ' "$sys_work/probe.out" | tail -n 1)
  if [ "$status" -eq 0 ] && [ "${last%% *}" = PASS ]; then
    sbx_pass "probe $p over the tap: ${last#PASS }"
    while IFS= read -r line; do
      sbx_skip "probe $p: ${line#SKIP }"
    done < <(grep '^SKIP ' "$sys_work/probe.out")
  else
    sbx_fail "probe $p over the tap (exit status $status): ${last:-no result line}"
    grep -v '^ok  ' "$sys_work/probe.out" | sbx_show
  fi
done

sbx_summary
