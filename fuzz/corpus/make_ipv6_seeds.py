#!/usr/bin/env python3
"""Writes the seed corpora for fuzz_ipv6, fuzz_ipv6_reassembly, fuzz_icmpv6 and the IPv6 seeds
of fuzz_stack_frame.

Run from the repository root: python3 fuzz/corpus/make_ipv6_seeds.py
Each seed follows the input layout described at the top of its fuzz target.
"""
import ipaddress
import os
import struct

from packets import csum

ROOT = os.path.dirname(os.path.abspath(__file__))


def a6(text):
    return ipaddress.IPv6Address(text).packed


US = a6("fd00::1")
PEER = a6("fd00::2")
US_LL = a6("fe80::1")
PEER_LL = a6("fe80::2")
ALL_NODES = a6("ff02::1")
SOLICITED_US = a6("ff02::1:ff00:1")
STACK_MAC = bytes([2, 0, 0, 0, 0, 1])
PEER_MAC = bytes([2, 0, 0, 0, 0, 2])


def write(corpus, name, data):
    d = os.path.join(ROOT, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def upper_sum(src, dst, nh, msg):
    return csum(src + dst + struct.pack("!II", len(msg), nh) + msg)


def ipv6(src, dst, nh, payload, hlim=64):
    return struct.pack("!IHBB", 6 << 28, len(payload), nh, hlim) + src + dst + payload


def icmp6(t, code, rest, body, src, dst):
    m = struct.pack("!BBHI", t, code, 0, rest) + body
    return m[:2] + struct.pack("!H", upper_sum(src, dst, 58, m)) + m[4:]


def udp6(src, dst, sport, dport, data):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    return u[:6] + struct.pack("!H", upper_sum(src, dst, 17, u) or 0xFFFF) + u[8:]


def opts(nh, options):
    body = bytes([nh, 0]) + options
    pad = -len(body) % 8
    if pad == 1:
        body += b"\0"
    elif pad:
        body += bytes([1, pad - 2]) + bytes(pad - 2)
    return bytes([nh, len(body) // 8 - 1]) + body[2:]


def frag(nh, offset, more, ident):
    return struct.pack("!BBHI", nh, 0, (offset & 0xFFF8) | (1 if more else 0), ident)


def routing(nh, rtype, left):
    return struct.pack("!BBBBI", nh, 2, rtype, left, 0) + a6("2001:db8::1")


def ns(target, src, dst, lla=PEER_MAC):
    body = target + (bytes([1, 1]) + lla if lla else b"")
    return icmp6(135, 0, 0, body, src, dst)


def na(target, flags, src, dst, lla=PEER_MAC):
    body = target + (bytes([2, 1]) + lla if lla else b"")
    return icmp6(136, 0, flags << 24, body, src, dst)


echo = icmp6(128, 0, 0x00070001, b"ping data", PEER, US)
udp = udp6(PEER, US, 4000, 53, b"query")

# ---- fuzz_ipv6: control byte, then the packet -----------------------------------------------
write("ipv6", "echo", b"\x00" + ipv6(PEER, US, 58, echo))
write("ipv6", "udp_no_endpoint", b"\x04" + ipv6(PEER, US, 17, udp))
write("ipv6", "hop_by_hop_router_alert",
      b"\x00" + ipv6(PEER, US, 0, opts(58, bytes([5, 2, 0, 0])) + echo))
write("ipv6", "unknown_option_10", b"\x00" + ipv6(PEER, US, 60, opts(58, bytes([0x9E, 1, 0])) + echo))
write("ipv6", "unknown_option_11_multicast",
      b"\x20" + ipv6(PEER, ALL_NODES, 60, opts(58, bytes([0xDE, 1, 0])) + echo))
write("ipv6", "padn_nonzero", b"\x00" + ipv6(PEER, US, 60, opts(58, bytes([1, 2, 0, 9])) + echo))
write("ipv6", "hop_by_hop_not_first", b"\x00" + ipv6(PEER, US, 60, opts(0, b"") + opts(58, b"") + echo))
write("ipv6", "routing_type0", b"\x00" + ipv6(PEER, US, 43, routing(58, 0, 1) + echo))
write("ipv6", "routing_done", b"\x00" + ipv6(PEER, US, 43, routing(58, 0, 0) + echo))
write("ipv6", "unknown_next_header", b"\x00" + ipv6(PEER, US, 253, bytes(16)))
write("ipv6", "atomic_fragment", b"\x00" + ipv6(PEER, US, 44, frag(58, 0, False, 5) + echo))
write("ipv6", "first_fragment", b"\x00" + ipv6(PEER, US, 44, frag(17, 0, True, 6) + udp6(PEER, US, 1, 2, bytes(40))[:48]))
write("ipv6", "last_fragment", b"\x00" + ipv6(PEER, US, 44, frag(17, 48, False, 6) + bytes(20)))
write("ipv6", "incomplete_chain",
      b"\x00" + ipv6(PEER, US, 44, frag(60, 0, True, 7) + opts(58, bytes(20))[:8]))
write("ipv6", "link_local", b"\x10" + ipv6(PEER_LL, US_LL, 58, icmp6(128, 0, 1, b"x", PEER_LL, US_LL)))
write("ipv6", "truncated", b"\x00" + ipv6(PEER, US, 58, echo)[:30])
write("ipv6", "split", b"\x02" + ipv6(PEER, US, 60, opts(58, bytes([0x1E, 4, 1, 2, 3, 4])) + echo) + b"\x2c")

# ---- fuzz_ipv6_reassembly: 5-byte records (op, offset/8, length) --------------------------------


def rec(op, offset8, length):
    return struct.pack("!BHH", op, offset8, length)


write("ipv6_reassembly", "in_order", rec(4, 0, 64) + rec(4, 8, 64) + rec(0, 16, 10))
write("ipv6_reassembly", "reordered", rec(0, 16, 10) + rec(4, 0, 64) + rec(4, 8, 64))
write("ipv6_reassembly", "overlap", rec(4, 0, 64) + rec(4, 4, 64) + rec(0, 16, 10))
write("ipv6_reassembly", "two_families", rec(4, 0, 1024) + rec(12, 0, 1024) + rec(0, 128, 8) +
      rec(8, 128, 8))
write("ipv6_reassembly", "timeout", rec(4, 0, 64) + bytes([0xF8, 61, 0, 0, 0]) + rec(0, 8, 5))
write("ipv6_reassembly", "budget", b"".join(rec(4 | (i & 3) | ((i & 1) << 3), 0, 2048)
                                            for i in range(16)))

# ---- fuzz_icmpv6: control byte, then the ICMPv6 message (checksum fixed by the harness) ------
write("icmpv6", "echo", b"\x00" + icmp6(128, 0, 0x00070001, b"data", PEER, US))
write("icmpv6", "echo_multicast", b"\x04" + icmp6(128, 0, 0x00070001, b"data", PEER, ALL_NODES))
write("icmpv6", "ns_for_us", b"\x08" + ns(US, PEER, SOLICITED_US))
write("icmpv6", "ns_dad", b"\x0a" + ns(US, b"\0" * 16, SOLICITED_US, lla=None))
write("icmpv6", "na_solicited", b"\x00" + na(PEER, 0x60, PEER, US))
write("icmpv6", "na_unsolicited_override", b"\x04" + na(PEER, 0x20, PEER, ALL_NODES, bytes([2, 0, 0, 0, 0, 0x33])))
write("icmpv6", "na_own_address", b"\x04" + na(US, 0x20, PEER, ALL_NODES))
write("icmpv6", "ns_bad_hop_limit", b"\x18" + ns(US, PEER, SOLICITED_US))
sent = ipv6(US, PEER, 17, udp6(US, PEER, 5353, 53, b"query"))
write("icmpv6", "port_unreachable", b"\x00" + icmp6(1, 4, 0, sent, PEER, US))
write("icmpv6", "packet_too_big", b"\x00" + icmp6(2, 0, 1280, sent, PEER, US))
write("icmpv6", "packet_too_big_tiny", b"\x00" + icmp6(2, 0, 600, sent, PEER, US))
write("icmpv6", "parameter_problem", b"\x00" + icmp6(4, 1, 6, sent, PEER, US))
write("icmpv6", "time_exceeded_fragment",
      b"\x00" + icmp6(3, 1, 0, ipv6(US, PEER, 44, frag(17, 0, True, 9) + udp6(US, PEER, 1, 2, bytes(8))), PEER, US))
write("icmpv6", "mld_query_router_alert", b"\x44" + icmp6(130, 0, 0, bytes(20), PEER_LL, ALL_NODES))
write("icmpv6", "router_advert", b"\x05" + icmp6(134, 0, 0x40000708, bytes(8), PEER_LL, ALL_NODES))

# ---- fuzz_stack_frame: records of (clock step, length, Ethernet frame) -----------------------


def record(frame, step=0):
    return bytes([step]) + struct.pack("!H", len(frame)) + frame


def eth6(payload, dst_mac=STACK_MAC):
    return dst_mac + PEER_MAC + struct.pack("!H", 0x86DD) + payload


def mcast_mac(group):
    return bytes([0x33, 0x33]) + group[12:]


ns_frame = eth6(ipv6(PEER, SOLICITED_US, 58, ns(US, PEER, SOLICITED_US), hlim=255),
                mcast_mac(SOLICITED_US))
na_frame = eth6(ipv6(PEER, US, 58, na(PEER, 0x60, PEER, US), hlim=255))
ping_frame = eth6(ipv6(PEER, US, 58, echo))
echo6 = eth6(ipv6(PEER, US, 17, udp6(PEER, US, 4000, 7, b"echo me over IPv6")))
big = udp6(PEER, US, 4000, 7, bytes(range(256)) * 11 + bytes(184))
pieces = [big[0:1448], big[1448:2896], big[2896:]]
frag_frames = [eth6(ipv6(PEER, US, 44, frag(17, off, more, 99) + p))
               for p, off, more in ((pieces[0], 0, True), (pieces[1], 1448, True),
                                    (pieces[2], 2896, False))]
# A SYN to the dual-stack listener on port 80.
syn = struct.pack("!HHIIBBHHH", 40000, 80, 1000, 0, 5 << 4, 0x02, 65535, 0, 0)
syn = syn[:16] + struct.pack("!H", upper_sum(PEER, US, 6, syn)) + syn[18:]
syn_frame = eth6(ipv6(PEER, US, 6, syn))

write("stack_frame", "ipv6_ns_then_ping", record(ns_frame) + record(ping_frame, 2))
write("stack_frame", "ipv6_udp_echo", record(na_frame) + record(echo6, 1))
write("stack_frame", "ipv6_fragments_reordered",
      record(ns_frame) + record(frag_frames[2]) + record(frag_frames[0], 3) + record(frag_frames[1], 3))
write("stack_frame", "ipv6_syn_dual_stack_listener", record(ns_frame) + record(syn_frame, 1))
write("stack_frame", "ipv6_na_resolves_active_open", record(na_frame, 5))
