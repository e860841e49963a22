#!/usr/bin/env python3
"""Writes fuzz_stack_frame seeds that flood an established TCP connection with out-of-order
segments: gaps, duplicates and overlaps land in the receive queue (and the SACK scoreboard the
stack reports), then the holes are filled and the connection is closed.

Run from the repository root: python3 fuzz/corpus/make_tcp_flood_seeds.py
Each seed follows the input layout at the top of fuzz/stack_frame_fuzz.cc.

The stack's initial sequence numbers and the active open's source port are fixed by the
harness (repeatable_stack_options(1), a manual clock, fuzz/stack_under_test.h) and by the clock
steps of the records before the handshake. They are written down here because a seed must
acknowledge them exactly to reach ESTABLISHED. If the ISN generator, the secret or the harness
changes, the seeds still parse but stop at the handshake: read the new values off the stack's
SYN-ACK / SYN (for instance by feeding the first records to the harness and printing what it
sends) and update the constants below.
"""
import ipaddress
import math
import os
import struct

from packets import csum, ipv4

ROOT = os.path.dirname(os.path.abspath(__file__))

STACK_MAC = bytes([2, 0, 0, 0, 0, 1])
PEER_MAC = bytes([2, 0, 0, 0, 0, 2])
US = ipaddress.ip_address("10.0.0.1").packed
PEER = ipaddress.ip_address("10.0.0.2").packed

# The stack's SYN-ACK to 10.0.0.2:40000 -> 10.0.0.1:80 when the SYN comes right after the ARP
# reply (both at clock step 0).
LISTENER_ISN = 3566435810
# The harness's active open to 10.0.0.2:5000: its SYN leaves when the ARP reply arrives.
ACTIVE_PORT = 40482
ACTIVE_ISN = 745354464

SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
SEGMENT = 64  # payload bytes per flood segment


def tcp(sport, dport, seq, ack, flags, payload=b"", options=b""):
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4,
                      flags, 65535, 0, 0) + options
    pseudo = PEER + US + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = csum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def frame(segment):
    return STACK_MAC + PEER_MAC + struct.pack("!H", 0x0800) + ipv4(PEER, US, 6, segment)


def record(f, step=0):
    return bytes([step]) + struct.pack("!H", len(f)) + f


def arp_reply():
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, PEER_MAC, PEER, STACK_MAC, US)
    return STACK_MAC + PEER_MAC + struct.pack("!H", 0x0806) + body


def timestamps(val, ecr=0):
    return bytes([1, 1, 8, 10]) + struct.pack("!II", val, ecr)


# MSS 1460, SACK permitted, timestamps, window scale 7.
SYN_OPTIONS = bytes([2, 4, 0x05, 0xB4, 4, 2]) + bytes([8, 10]) + struct.pack("!II", 1, 0) + \
    bytes([1, 3, 3, 7])
PLAIN_SYN_OPTIONS = bytes([2, 4, 0x05, 0xB4])


def flood_order(count):
    """Segment indexes 0..count-1 as they arrive: the first segment and a few runs are held back
    (the gaps), the rest come in a scrambled order with some sent twice and some overlapping."""
    holes = {0, 5, 6, 13, 21, 22, 23, 30}
    rest = [i for i in range(count) if i not in holes]
    # A fixed shuffle (a stride coprime with the length) so reruns write the same bytes.
    stride = next(k for k in (7, 11, 13, 17) if math.gcd(k, len(rest)) == 1)
    scrambled = [rest[(i * stride) % len(rest)] for i in range(len(rest))]
    assert sorted(scrambled) == rest
    arrivals = []
    for n, i in enumerate(scrambled):
        arrivals.append((i, 0))
        if n % 9 == 4:
            arrivals.append((i, 0))  # a duplicate
        if n % 11 == 7:
            arrivals.append((i, SEGMENT // 2))  # overlapping the next segment by half
    fill = [(i, 0) for i in sorted(holes, reverse=True)]
    return arrivals, fill


def flood(sport, dport, first_seq, ack, with_timestamps, count=36):
    """Records of out-of-order data into a connection whose next expected byte is first_seq,
    then the holes filled, newest hole first, then a FIN."""
    arrivals, fill = flood_order(count)
    out = b""
    tsval = 100

    def seg(index, shift, flags=ACK, step=0):
        nonlocal tsval
        tsval += 1
        opts = timestamps(tsval) if with_timestamps else b""
        start = index * SEGMENT + shift
        payload = bytes((start + k) & 0xFF for k in range(SEGMENT))
        return record(frame(tcp(sport, dport, first_seq + start, ack, flags, payload, opts)), step)

    for index, shift in arrivals:
        out += seg(index, shift)
    for n, (index, shift) in enumerate(fill):
        out += seg(index, shift, ACK | PSH, step=1 if n % 3 == 0 else 0)
    tsval += 1
    opts = timestamps(tsval) if with_timestamps else b""
    out += record(frame(tcp(sport, dport, first_seq + count * SEGMENT, ack, ACK | FIN, b"", opts)),
                  5)
    return out


def write(name, data):
    d = os.path.join(ROOT, "stack_frame")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# Passive open on the [::]:80 listener (SACK and timestamps negotiated), then the flood.
peer_isn = 1000
handshake = record(arp_reply()) + \
    record(frame(tcp(40000, 80, peer_isn, 0, SYN, options=SYN_OPTIONS))) + \
    record(frame(tcp(40000, 80, peer_isn + 1, LISTENER_ISN + 1, ACK, options=timestamps(2))), 1)
write("tcp_ooo_flood_listener",
      handshake + flood(40000, 80, peer_isn + 1, LISTENER_ISN + 1, with_timestamps=True))

# The same without SACK or timestamps: the out-of-order queue without a scoreboard to report.
handshake = record(arp_reply()) + \
    record(frame(tcp(40000, 80, peer_isn, 0, SYN, options=PLAIN_SYN_OPTIONS))) + \
    record(frame(tcp(40000, 80, peer_isn + 1, LISTENER_ISN + 1, ACK)), 1)
write("tcp_ooo_flood_listener_plain",
      handshake + flood(40000, 80, peer_isn + 1, LISTENER_ISN + 1, with_timestamps=False))

# The active open to 10.0.0.2:5000 answered, then flooded while it also sends "hello"s.
peer_isn = 5000
handshake = record(arp_reply()) + record(
    frame(tcp(5000, ACTIVE_PORT, peer_isn, ACTIVE_ISN + 1, SYN | ACK, options=SYN_OPTIONS)), 1)
write("tcp_ooo_flood_active",
      handshake + flood(5000, ACTIVE_PORT, peer_isn + 1, ACTIVE_ISN + 1, with_timestamps=True))
