#!/usr/bin/env python3
"""Writes the seed corpora for fuzz_ipv4, fuzz_icmpv4, fuzz_arp and fuzz_ipv4_reassembly.

Run from the repository root: python3 fuzz/corpus/make_ipv4_seeds.py
Each seed follows the input layout described at the top of its fuzz target.
"""
import os
import struct

from packets import csum, ipv4 as ip

ROOT = os.path.dirname(os.path.abspath(__file__))


def icmp(t, code, rest, body):
    m = struct.pack("!BBHI", t, code, 0, rest) + body
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, bytes(sha), bytes(spa), bytes(tha),
                       bytes(tpa))


US = [10, 0, 0, 1]
PEER = [10, 0, 0, 2]
MAC = [2, 0, 0, 0, 0, 2]
OURMAC = [2, 0, 0, 0, 0, 1]


def write(corpus, name, data):
    d = os.path.join(ROOT, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


udp = struct.pack("!HHHH", 1234, 53, 12, 0) + b"ping"
# fuzz_ipv4: control byte, then the packet.
write("ipv4", "udp_to_us", b"\x00" + ip(PEER, US, 17, udp))
write("ipv4", "udp_no_endpoint", b"\x04" + ip(PEER, US, 17, udp))
write("ipv4", "echo", b"\x00" + ip(PEER, US, 1, icmp(8, 0, 0x00010001, b"abcdefgh")))
write("ipv4", "options", b"\x01" + ip(PEER, US, 17, udp,
                                       options=bytes([1, 7, 7, 4, 0, 0, 0, 0, 148, 4, 0, 0, 0])))
write("ipv4", "bad_option", b"\x01" + ip(PEER, US, 17, udp, options=bytes([7, 1, 0, 0])))
write("ipv4", "first_fragment", b"\x02" + ip(PEER, US, 17, bytes(16), flags_off=0x2000))
write("ipv4", "last_fragment", b"\x00" + ip(PEER, US, 17, bytes(8), flags_off=2))
write("ipv4", "unknown_proto", b"\x00" + ip(PEER, US, 99, b"xyz"))
write("ipv4", "broadcast", b"\x14" + ip(PEER, [255, 255, 255, 255], 17, udp))
write("ipv4", "truncated", b"\x00" + ip(PEER, US, 17, udp)[:15])

# fuzz_icmpv4: control byte, then the ICMP message.
quoted = ip(US, PEER, 17, udp)[:28]
write("icmpv4", "echo_request", b"\x00" + icmp(8, 0, 0x12340001, b"0123456789"))
write("icmpv4", "port_unreachable", b"\x00" + icmp(3, 3, 0, quoted))
write("icmpv4", "frag_needed", b"\x00" + icmp(3, 4, 1400, ip(US, PEER, 6, bytes(20))[:28]))
write("icmpv4", "frag_needed_no_mtu", b"\x04" + icmp(3, 4, 0, quoted))
write("icmpv4", "time_exceeded", b"\x00" + icmp(11, 0, 0, quoted))
write("icmpv4", "param_problem", b"\x00" + icmp(12, 0, 0x14000000, quoted))
write("icmpv4", "bad_checksum", b"\x00" + icmp(8, 0, 1, b"x")[:-1] + b"y")
write("icmpv4", "echo_broadcast", b"\x02" + icmp(8, 0, 1, b""))

# fuzz_arp: records of control byte + 28-byte packet.
req = arp(1, MAC, PEER, [0] * 6, US)
rep = arp(2, MAC, PEER, OURMAC, US)
grat = arp(1, MAC, PEER, [0] * 6, PEER)
write("arp", "request", b"\x00" + req)
write("arp", "resolve_then_reply", bytes([2 | (2 << 2)]) + bytes(28) + b"\x00" + rep)
write("arp", "resolve_then_timeout", bytes([2 | (2 << 2)]) + bytes(28) +
      bytes([1 | (20 << 2)]) + bytes(28) + bytes([1 | (20 << 2)]) + bytes(28))
write("arp", "gratuitous", b"\x00" + grat + b"\x00" + req + b"\x00" + grat)
write("arp", "probe", b"\x00" + arp(1, MAC, [0, 0, 0, 0], [0] * 6, US))
write("arp", "stale_probe", b"\x00" + req + bytes([1 | (63 << 2)]) + bytes(28) * 1 +
      bytes([2 | (2 << 2)]) + bytes(28))
write("arp", "truncated", b"\x00" + req[:20])


# fuzz_ipv4_reassembly: 5-byte records: op, offset (8-byte units, be16), length (be16).
def frag(key, more, off_units, length):
    return struct.pack("!BHH", key | (4 if more else 0), off_units, length)


def tick(seconds):
    return struct.pack("!BBHH", 0xF8, seconds, 0, 0)[:5]


write("ipv4_reassembly", "in_order", frag(0, True, 0, 16) + frag(0, True, 2, 16) + frag(0, False, 4, 5))
write("ipv4_reassembly", "reverse", frag(1, False, 4, 5) + frag(1, True, 2, 16) + frag(1, True, 0, 16))
write("ipv4_reassembly", "overlap", frag(0, True, 0, 16) + frag(0, True, 1, 16) + frag(0, False, 2, 8))
write("ipv4_reassembly", "duplicate", frag(2, True, 0, 8) + frag(2, True, 0, 8) + frag(2, False, 1, 8))
write("ipv4_reassembly", "timeout", frag(3, True, 0, 8) + tick(31) + frag(3, False, 1, 8))
write("ipv4_reassembly", "memory", b"".join(frag(k, True, i * 256, 2048) for k in range(4) for i in range(3)))
write("ipv4_reassembly", "too_long", frag(0, True, 0, 8) + frag(0, False, 8189, 8))
