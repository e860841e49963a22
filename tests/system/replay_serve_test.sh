#!/usr/bin/env bash
# System test: a Linux curl session against `weir serve --pcap`, then `weir replay` of that
# capture. Checks that the capture's records carry wall-clock time (between the dates read
# before and after the session, not 1970), that replaying it twice writes byte-identical
# files stamped on the capture's own timeline, and that the replayed stack answers Linux's
# SYN to port 80 with a SYN-ACK. (The rest of Linux's side then acknowledges serve's ISN, not
# the replay's, so the stack under replay rightly refuses it; a replay reproduces a session
# only when the stack is seeded as it was live, as tests/tools/replay_test.cc checks.)
# Usage: replay_serve_test.sh path/to/weir
set -uo pipefail
test_name=replay_serve
weir=${1:-}
. "$(dirname "$0")/lib.sh"

weir_ip=10.0.9.2
weir_mac=02:00:00:00:09:02

sys_require_root curl
sys_make_netns wrp0 10.0.9.1/24
pcap=$sys_work/serve.pcap
before=$(date +%s)
sys_start_weir --tap wrp0 --ip "$weir_ip/24" --mac "$weir_mac" --no-ip6 --pcap "$pcap"
sys_in_ns 20 curl -sS --max-time 10 -o "$sys_work/body" "http://$weir_ip/bytes/5000" ||
  sys_fail "curl from weir serve failed"
[ "$(stat -c %s "$sys_work/body")" -eq 5000 ] || sys_fail "curl got the wrong number of bytes"
sys_stop_weir
after=$(date +%s)

# first_time FILE: "SECONDS COUNT SYNACKS80" of a nanosecond pcap: the first record's
# timestamp, the record count, and SYN-ACKs from port 80 (IPv4 over Ethernet).
summary() {
  python3 - "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
magic, = struct.unpack_from("<I", data, 0)
assert magic == 0xa1b23c4d, "not a nanosecond pcap: %x" % magic
off, first, count, synacks, last = 24, None, 0, 0, 0
while off + 16 <= len(data):
    sec, nsec, caplen, _ = struct.unpack_from("<IIII", data, off)
    frame = data[off + 16: off + 16 + caplen]
    t = sec + nsec / 1e9
    assert t >= last, "records go back in time"
    last = t
    first = sec if first is None else first
    count += 1
    if len(frame) >= 54 and frame[12:14] == b"\x08\x00" and frame[23] == 6:
        ihl = (frame[14] & 0xf) * 4
        sport, = struct.unpack_from(">H", frame, 14 + ihl)
        if sport == 80 and frame[14 + ihl + 13] & 0x12 == 0x12:
            synacks += 1
    off += 16 + caplen
print(first, count, synacks)
PY
}

read -r first count _ < <(summary "$pcap") || sys_fail "cannot read $pcap"
[ "$count" -gt 5 ] || sys_fail "the serve capture has only $count records"
if [ "$first" -lt $((before - 1)) ] || [ "$first" -gt $((after + 1)) ]; then
  sys_fail "the capture's first record is at $first s, not between $before and $after (wall clock)"
fi
sys_log "ok: serve's capture: $count records, stamped with wall-clock time ($first s)"

# Linux hands a tap with offloads its frames with TCP checksums unfinished, and the sniffer
# records them as they came: --fix-checksums fills them in, as the NIC would have.
replay() {
  timeout 60 "$weir" replay --in "$pcap" --ip "$weir_ip/24" --mac "$weir_mac" --fix-checksums "$@"
}
replay --out "$sys_work/a.pcap" >"$sys_work/a.log" 2>&1 || sys_fail "replay: $(cat "$sys_work/a.log")"
replay --out "$sys_work/b.pcap" >/dev/null 2>&1 || sys_fail "second replay failed"
cmp -s "$sys_work/a.pcap" "$sys_work/b.pcap" || sys_fail "two replays wrote different files"
read -r rfirst rcount rsynacks < <(summary "$sys_work/a.pcap") || sys_fail "cannot read the replay"
[ "$rcount" -gt 0 ] || sys_fail "the replay sent nothing"
[ "$rsynacks" -ge 1 ] || sys_fail "the replayed stack did not answer the SYN to port 80"
if [ "$rfirst" -lt "$first" ] || [ "$rfirst" -gt $((after + 11)) ]; then
  sys_fail "the replay's first frame is at $rfirst s, off the capture's timeline ($first s)"
fi
replay --out "$sys_work/c.pcap" --diff "$sys_work/a.pcap" >"$sys_work/diff.log" 2>&1 ||
  sys_fail "diff against the first replay: $(cat "$sys_work/diff.log")"
sys_log "ok: $(head -1 "$sys_work/a.log"); twice identical; $(tail -1 "$sys_work/diff.log")"
sys_log "PASS"
