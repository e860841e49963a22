#!/usr/bin/env python3
"""Writes seed inputs for fuzz_tcp_segment and fuzz_tcp_connection.

Run from the repository root: python3 fuzz/corpus/make_tcp_seeds.py
"""
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))


def write(name, idx, data):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_%03d" % idx), "wb") as f:
        f.write(data)


def header(sport, dport, seq, ack, flags, window, options=b"", payload=b""):
    assert len(options) % 4 == 0
    off = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, window, 0, 0) + options + payload


MSS = b"\x02\x04\x05\xb4"
SACKOK_TS = b"\x04\x02\x08\x0a" + struct.pack("!II", 1000, 0)
WS = b"\x01\x03\x03\x07"
SACK2 = b"\x01\x01\x05\x12" + struct.pack("!IIII", 100, 200, 300, 400)

segments = [
    header(1234, 80, 1, 0, 0x02, 65535, MSS + SACKOK_TS + WS),
    header(80, 1234, 5, 2, 0x12, 65535, MSS + SACKOK_TS + WS),
    header(1234, 80, 2, 6, 0x18, 1000, b"\x01\x01\x08\x0a" + struct.pack("!II", 1001, 7), b"hello"),
    header(1234, 80, 2, 6, 0x10, 1000, SACK2),
    header(1234, 80, 2, 6, 0x11, 1000),
    header(1234, 80, 2, 6, 0x04, 0),
    header(1234, 80, 2, 6, 0x10, 1000, b"\x63\x04\xaa\xbb"),  # unknown option
    header(1234, 80, 2, 6, 0x10, 1000, b"\x02\x00\x00\x00"),  # malformed length 0
    header(1234, 80, 2, 6, 0x10, 1000, b"\x08\x0c\x00\x00"),  # length past the end
]
for i, s in enumerate(segments):
    write("tcp_segment", i, s)

# Connection scripts (see fuzz/tcp_connection_fuzz.cc for the encoding).
def seg(op, flags, how, sd, ad, window, optmask, extra=b"", payload_len=0, payload=b""):
    return bytes([op, flags, how]) + struct.pack("!hhH", sd, ad, window) + bytes([optmask]) + extra + bytes([payload_len]) + payload


ts = struct.pack("!I", 2000)  # TSval; TSecr taken from the last segment sent (optmask 0x40)
opts_syn = struct.pack("!H", 1460) + bytes([7]) + ts
active = bytes([0]) + struct.pack("!I", 1000)
# SYN-ACK (seq = peer isn, ack = last seq + 1), then data, ACK, FIN.
active += bytes([0, 0x12, 6]) + struct.pack("!hhH", 0, 0, 65535) + bytes([0x4f]) + opts_syn + bytes([0])
active += bytes([5]) + struct.pack("!H", 3000)
active += seg(0, 0x18, 0, 0, 0, 1000, 0x48, ts, 10, b"0123456789")
active += bytes([4]) + struct.pack("!H", 300)
active += seg(0, 0x11, 0, 0, 0, 1000, 0x48, ts, 0)
active += bytes([7]) + bytes([4]) + struct.pack("!H", 1000)
write("tcp_connection", 0, active)

passive = bytes([1]) + struct.pack("!I", 5000)
passive += bytes([0, 0x02, 1]) + struct.pack("!hhIH", 0, 0, 5000, 65535) + bytes([0x0f]) + opts_syn + struct.pack("!I", 0) + bytes([0])
passive += bytes([0, 0x10, 6]) + struct.pack("!hhH", 0, 0, 1000) + bytes([0x48]) + ts + bytes([0])
passive += bytes([11, 5]) + struct.pack("!H", 5000) + bytes([4]) + struct.pack("!H", 5000)
write("tcp_connection", 1, passive)

flood = bytes([1]) + struct.pack("!I", 1)
for i in range(6):
    flood += bytes([0x80, 0, 0]) + struct.pack("!H", 40000 + i) + bytes([0x02, 1]) + struct.pack("!hhIH", 0, 0, 1000 * i, 65535) + bytes([0x0f]) + opts_syn + struct.pack("!I", 0) + bytes([0])
write("tcp_connection", 2, flood)

rst = active[:5 + 16 + len(opts_syn)] + seg(0, 0x04, 0, 10, 0, 0, 0) + seg(0, 0x02, 0, 5, 0, 100, 0)
write("tcp_connection", 3, rst)
