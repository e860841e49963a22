#!/usr/bin/env python3
"""Writes the seed corpora for fuzz_udp and fuzz_stack_frame.

Run from the repository root: python3 fuzz/corpus/make_udp_seeds.py
Each seed follows the input layout described at the top of its fuzz target.
"""
import ipaddress
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))

STACK_MAC = bytes([2, 0, 0, 0, 0, 1])
PEER_MAC = bytes([2, 0, 0, 0, 0, 2])
BROADCAST_MAC = b"\xff" * 6
US = ipaddress.ip_address("10.0.0.1").packed
PEER = ipaddress.ip_address("10.0.0.2").packed
US6 = ipaddress.ip_address("fd00::1").packed
PEER6 = ipaddress.ip_address("fd00::2").packed


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ones_sum(b):
    if len(b) % 2:
        b += b"\0"
    return fold(sum(struct.unpack("!%dH" % (len(b) // 2), b)))


def csum(b):
    return (~ones_sum(b)) & 0xFFFF


def udp(src, dst, sport, dport, payload, checksum=True, length=None):
    n = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, n if length is None else length, 0)
    if checksum:
        pseudo = src + dst + struct.pack("!HI", 17, n) if len(src) == 4 else \
            src + dst + struct.pack("!IHH", n, 0, 17)
        c = csum(pseudo + hdr + payload) or 0xFFFF
        hdr = hdr[:6] + struct.pack("!H", c)
    return hdr + payload


def ipv4(src, dst, proto, payload, ident=1, flags_off=0, ttl=64):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags_off, ttl, proto,
                      0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def icmp(t, code, rest, body):
    m = struct.pack("!BBHI", t, code, 0, rest) + body
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, spa, tha, tpa)


def eth(dst, src, ethertype, payload):
    return dst + src + struct.pack("!H", ethertype) + payload


def write(corpus, name, data):
    d = os.path.join(ROOT, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_udp: flags, split, source, destination, datagram ----------------------------------

def udp_seed(name, flags, split, src, dst, datagram):
    write("udp", name, bytes([flags, split]) + src + dst + datagram)


udp_seed("v4_echo", 0, 3, PEER, US, udp(PEER, US, 4000, 7, b"hello"))
udp_seed("v4_zero_checksum", 0, 0, PEER, US, udp(PEER, US, 4000, 7, b"nosum", checksum=False))
udp_seed("v4_bad_checksum", 0, 9, PEER, US,
         udp(PEER, US, 4000, 7, b"x")[:6] + b"\x12\x34" + b"x")
udp_seed("v4_short_length", 0, 0, PEER, US, udp(PEER, US, 4000, 7, b"abc", length=20))
udp_seed("v4_padded", 0, 5, PEER, US, udp(PEER, US, 4000, 7, b"abc") + b"\0" * 20)
udp_seed("v4_closed_port", 0, 0, PEER, US, udp(PEER, US, 4000, 9, b"anyone"))
udp_seed("v4_connected", 0, 0, PEER, US, udp(PEER, US, 53, 5353, b"answer"))
udp_seed("v4_broadcast", 2, 0, PEER, b"\xff" * 4, udp(PEER, b"\xff" * 4, 68, 7, b"discover"))
udp_seed("v4_offload", 4, 0, PEER, US, udp(PEER, US, 4000, 7, b"trusted", checksum=False)[:6] +
         b"\xde\xad" + b"trusted")
udp_seed("v4_header_only", 0, 0, PEER, US, udp(PEER, US, 4000, 7, b""))
udp_seed("v4_runt", 0, 0, PEER, US, b"\x00\x07\x00")
udp_seed("v6_echo", 1, 7, PEER6, US6, udp(PEER6, US6, 4000, 7, b"six"))
udp_seed("v6_zero_checksum", 1, 0, PEER6, US6, udp(PEER6, US6, 4000, 7, b"six", checksum=False))
udp_seed("v6_multicast", 3, 0, PEER6, ipaddress.ip_address("ff02::1").packed,
         udp(PEER6, ipaddress.ip_address("ff02::1").packed, 4000, 7, b"all"))
# ICMP errors (bit 3), type in bits 4-7 (0 = port unreachable): the quoted header we sent.
udp_seed("v4_icmp_port_unreachable", 8, 0, PEER, US, udp(US, PEER, 5353, 53, b"q"))
udp_seed("v6_icmp_host_unreachable", 8 | 1 | (2 << 4), 0, PEER6, US6,
         udp(US6, PEER6, 5353, 53, b"q"))

# ---- fuzz_stack_frame: records of (clock step, length, frame) --------------------------------


def record(frame, step=0):
    return bytes([step]) + struct.pack("!H", len(frame)) + frame


def ip_frame(payload_ip, dst_mac=STACK_MAC):
    return eth(dst_mac, PEER_MAC, 0x0800, payload_ip)


arp_reply = eth(STACK_MAC, PEER_MAC, 0x0806, arp(2, PEER_MAC, PEER, STACK_MAC, US))
arp_request = eth(BROADCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER, b"\0" * 6, US))
echo_udp = ip_frame(ipv4(PEER, US, 17, udp(PEER, US, 4000, 7, b"echo me")))
dns_udp = ip_frame(ipv4(PEER, US, 17, udp(PEER, US, 4000, 53, b"query")))
closed_udp = ip_frame(ipv4(PEER, US, 17, udp(PEER, US, 4000, 9, b"closed")))
bcast_udp = ip_frame(ipv4(PEER, b"\xff" * 4, 17, udp(PEER, b"\xff" * 4, 68, 53, b"bcast")),
                     BROADCAST_MAC)
ping = ip_frame(ipv4(PEER, US, 1, icmp(8, 0, 0x00070001, b"ping data")))
# Port unreachable quoting the connected socket's datagram (10.0.0.1:5353 -> 10.0.0.2:53).
sent = ipv4(US, PEER, 17, udp(US, PEER, 5353, 53, b"query"))
unreach = ip_frame(ipv4(PEER, US, 1, icmp(3, 3, 0, sent[:28])))

# A 3000-byte UDP datagram to the echo port in three fragments, the last sent first.
big = udp(PEER, US, 4000, 7, bytes(range(256)) * 11 + bytes(184))
frags = [big[0:1480], big[1480:2960], big[2960:]]
frag_frames = [
    ip_frame(ipv4(PEER, US, 17, frags[0], ident=77, flags_off=0x2000 | 0)),
    ip_frame(ipv4(PEER, US, 17, frags[1], ident=77, flags_off=0x2000 | (1480 // 8))),
    ip_frame(ipv4(PEER, US, 17, frags[2], ident=77, flags_off=(2960 // 8))),
]

write("stack_frame", "arp_then_echo", record(arp_reply) + record(echo_udp, 5))
write("stack_frame", "arp_request_then_dns", record(arp_request) + record(dns_udp))
write("stack_frame", "closed_port", record(arp_reply) + record(closed_udp))
write("stack_frame", "broadcast", record(bcast_udp))
write("stack_frame", "ping", record(arp_reply) + record(ping, 1))
write("stack_frame", "port_unreachable_to_connected", record(unreach))
write("stack_frame", "fragments_reordered",
      record(arp_reply) + record(frag_frames[2]) + record(frag_frames[0], 3) +
      record(frag_frames[1], 3))
write("stack_frame", "fragment_timeout",
      record(frag_frames[0]) + record(frag_frames[1], 200) + record(arp_reply, 255))
write("stack_frame", "arp_timeout_then_reply", record(echo_udp) + record(arp_reply, 140))
write("stack_frame", "runt", record(b"\x02\x00\x00"))

# ---- TCP through the whole stack: a listener on 80, a connection out to 10.0.0.2:5000 --------


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", options=b""):
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 65535, 0, 0) + options
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = csum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04
syn_options = bytes([2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7])
syn80 = ip_frame(ipv4(PEER, US, 6, tcp(PEER, US, 40000, 80, 1000, 0, SYN, options=syn_options)))
# The stack's ISN is unknown to the seed, so the ACK is a guess: the fuzzer mutates it.
ack80 = ip_frame(ipv4(PEER, US, 6, tcp(PEER, US, 40000, 80, 1001, 1, ACK | PSH, b"GET /")))
fin80 = ip_frame(ipv4(PEER, US, 6, tcp(PEER, US, 40000, 80, 1006, 1, ACK | FIN)))
rst80 = ip_frame(ipv4(PEER, US, 6, tcp(PEER, US, 40000, 80, 1006, 0, RST)))
# The answer to the stack's own SYN to 10.0.0.2:5000, released by the ARP reply.
synack = ip_frame(ipv4(PEER, US, 6, tcp(PEER, US, 5000, 0, 5000, 1, SYN | ACK, options=syn_options)))
write("stack_frame", "tcp_listener_exchange",
      record(arp_reply) + record(syn80) + record(ack80, 1) + record(fin80, 1) + record(rst80, 130))
write("stack_frame", "tcp_active_open", record(arp_reply) + record(synack, 1))
write("stack_frame", "tcp_syn_no_arp", record(syn80) + record(syn80, 129))
