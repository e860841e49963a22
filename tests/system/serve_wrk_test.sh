#!/usr/bin/env bash
# System test: a real HTTP load generator against `weir serve` over a tap, in a network
# namespace this test creates: wrk with 200 keep-alive connections on 2 threads fetches
# /bytes/1000 for WEIR_WRK_SECONDS (default 10) seconds, while connections churn (curl, one
# request each) and UDP datagrams are echoed. Every request must succeed: no socket error (connect, read, write, timeout) and no
# non-2xx answer. Latency and rate are printed for the record, never asserted.
# Usage: serve_wrk_test.sh path/to/weir
set -uo pipefail
test_name=serve_wrk
weir=${1:-}
. "$(dirname "$0")/lib.sh"

weir_ip=10.0.0.2
seconds=${WEIR_WRK_SECONDS:-10}

sys_require_root wrk curl
sys_make_netns weir0 10.0.0.1/24
sys_start_weir --tap weir0 --ip "$weir_ip/24"

# Beside wrk, for the same time: connection churn (a new connection per request, curl) and
# UDP echo (a datagram and its echo, retried up to 3 times after 1 s before it counts as lost).
cat >"$sys_work/churn.sh" <<SH
end=\$((SECONDS + $seconds))
n=0
while [ \$SECONDS -lt \$end ]; do
  code=\$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://$weir_ip/bytes/100" 2>&1)
  [ "\$code" = 200 ] || echo "churn: request \$n: \$code"
  n=\$((n + 1))
done
echo "churn: \$n connections"
SH
cat >"$sys_work/udp_echo.py" <<'PY'
import os, socket, sys, time
host, seconds = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
end = time.monotonic() + seconds
n = lost = 0
while time.monotonic() < end:
    payload = os.urandom(64) + n.to_bytes(8, "big")
    for attempt in range(4):
        s.sendto(payload, (host, 7))
        try:
            while True:
                data, _ = s.recvfrom(2048)
                if data == payload:
                    break
            break
        except socket.timeout:
            continue
    else:
        lost += 1
        print(f"udp: datagram {n} got no echo in 4 tries")
    n += 1
print(f"udp: {n} echoes, {lost} lost")
PY
sys_in_ns $((seconds + 30)) bash "$sys_work/churn.sh" >"$sys_work/churn.txt" 2>&1 &
churn_pid=$!
sys_in_ns $((seconds + 30)) python3 "$sys_work/udp_echo.py" "$weir_ip" "$seconds" \
  >"$sys_work/udp.txt" 2>&1 &
udp_pid=$!

out=$sys_work/wrk.txt
sys_in_ns $((seconds + 30)) wrk -t2 -c200 -d"${seconds}s" --latency "http://$weir_ip/bytes/1000" \
  >"$out" 2>&1 || sys_fail "wrk failed: $(cat "$out")"
wait "$churn_pid" || sys_fail "connection churn failed: $(tail -5 "$sys_work/churn.txt")"
wait "$udp_pid" || sys_fail "UDP echo failed: $(tail -5 "$sys_work/udp.txt")"
sed 's/^/    /' "$out"
requests=$(sed -nE 's/^ *([0-9]+) requests in .*/\1/p' "$out")
[ -n "$requests" ] && [ "$requests" -gt 0 ] || sys_fail "wrk completed no request"
# wrk prints these lines only when there were errors.
if grep -qE 'Socket errors|Non-2xx' "$out"; then
  sys_fail "wrk saw errors: $(grep -E 'Socket errors|Non-2xx' "$out")"
fi
sys_log "wrk: $requests requests, no socket error, no non-2xx answer"
[ "$(wc -l <"$sys_work/churn.txt")" -eq 1 ] || sys_fail "connection churn: $(head -5 "$sys_work/churn.txt")"
sys_log "$(cat "$sys_work/churn.txt"), each answered 200"
grep -q ', 0 lost$' "$sys_work/udp.txt" || sys_fail "UDP echo: $(tail -3 "$sys_work/udp.txt")"
sys_log "$(tail -1 "$sys_work/udp.txt")"

sys_stop_weir TERM
sys_log "PASS"
