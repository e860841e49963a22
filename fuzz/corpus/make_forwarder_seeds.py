#!/usr/bin/env python3
"""Writes fuzz_forwarder seeds: flows to foreign addresses over IPv4 and IPv6, TCP and UDP,
accepted at once, deferred then accepted or refused, refused, ignored; a ping to a foreign
address; a handshake completed with a guessed acknowledgment (the forwarder's ISN is keyed, so
the fuzzer finds the real one through its comparison tracing).

Run from the repository root: python3 fuzz/corpus/make_forwarder_seeds.py
Each seed follows the input layout at the top of fuzz/forwarder_fuzz.cc."""
import ipaddress
import os
import struct

from packets import csum, ipv4

ROOT = os.path.dirname(os.path.abspath(__file__))
CLIENT4 = ipaddress.ip_address("10.0.0.2").packed
FOREIGN4 = ipaddress.ip_address("198.51.100.7").packed
CLIENT6 = ipaddress.ip_address("fd00::2").packed
FOREIGN6 = ipaddress.ip_address("2001:db8::7").packed
SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04
# Decision bits (fuzz/forwarder_fuzz.cc): new TCP flow, new UDP flow, oldest deferred TCP flow.
DEFER, ACCEPT, REFUSE = 0, 1, 2
UDP_ACCEPT, UDP_REFUSE, UDP_IGNORE = 4, 8, 0
LATER_ACCEPT, LATER_REFUSE = 1 << 4, 2 << 4


def pseudo4(src, dst, proto, length):
    return src + dst + struct.pack("!BBH", 0, proto, length)


def pseudo6(src, dst, proto, length):
    return src + dst + struct.pack("!I3xB", length, proto)


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", options=b"", v6=False):
    options += b"\0" * (-len(options) % 4)
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 65535, 0, 0) + options
    seg = hdr + payload
    pseudo = (pseudo6 if v6 else pseudo4)(src, dst, 6, len(seg))
    return seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:]


def udp(src, dst, sport, dport, payload, v6=False):
    length = 8 + len(payload)
    dgram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    pseudo = (pseudo6 if v6 else pseudo4)(src, dst, 17, length)
    c = csum(pseudo + dgram) or 0xFFFF
    return dgram[:6] + struct.pack("!H", c) + dgram[8:]


def ipv6(src, dst, next_header, payload):
    return struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64) + src + dst + payload


def syn_options():
    # MSS 1460, SACK permitted, timestamps, window scale 7: what Linux sends.
    return (struct.pack("!BBH", 2, 4, 1460) + struct.pack("!BB", 4, 2) +
            struct.pack("!BBII", 8, 10, 1000, 0) + struct.pack("!BBBB", 1, 3, 3, 7))


def tcp4(seq, ack, flags, payload=b"", options=b"", sport=40000, dport=443):
    return ipv4(CLIENT4, FOREIGN4, 6,
                tcp(CLIENT4, FOREIGN4, sport, dport, seq, ack, flags, payload, options))


def tcp6(seq, ack, flags, payload=b"", options=b""):
    return ipv6(CLIENT6, FOREIGN6, 6,
                tcp(CLIENT6, FOREIGN6, 40001, 443, seq, ack, flags, payload, options, v6=True))


def udp4(payload, dport=53):
    return ipv4(CLIENT4, FOREIGN4, 17, udp(CLIENT4, FOREIGN4, 50000, dport, payload))


def udp6(payload):
    return ipv6(CLIENT6, FOREIGN6, 17, udp(CLIENT6, FOREIGN6, 50001, 53, payload, v6=True))


def ping4():
    body = struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"ping"
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    return ipv4(CLIENT4, FOREIGN4, 1, body)


def record(packet, decisions=0, step=0):
    return struct.pack("!BBH", step, decisions, len(packet)) + packet


def handshake(decisions, make=tcp4):
    return (record(make(1000, 0, SYN, options=syn_options()), decisions) +
            record(make(1001, 12345, ACK)) +
            record(make(1001, 12345, ACK | PSH, b"GET / HTTP/1.0\r\n\r\n")) +
            record(make(1019, 12345, ACK | FIN), step=10))


SEEDS = {
    "tcp4_accept": handshake(ACCEPT),
    "tcp6_accept": handshake(ACCEPT, tcp6),
    "tcp4_refuse": record(tcp4(1000, 0, SYN, options=syn_options()), REFUSE),
    "tcp4_defer_then_accept": (record(tcp4(1000, 0, SYN, options=syn_options()), DEFER) +
                               record(tcp4(1000, 0, SYN, options=syn_options()), DEFER, 200) +
                               record(ping4(), LATER_ACCEPT) +
                               record(tcp4(1001, 12345, ACK))),
    "tcp4_defer_then_refuse": (record(tcp4(1000, 0, SYN), DEFER) +
                               record(ping4(), LATER_REFUSE, 50)),
    "tcp4_many_deferred": b"".join(record(tcp4(1000 + i, 0, SYN, sport=41000 + i), DEFER)
                                   for i in range(40)),
    "tcp4_stray_ack_and_rst": record(tcp4(5000, 1, ACK)) + record(tcp4(5000, 0, RST)),
    "udp4_accept": record(udp4(b"query"), UDP_ACCEPT) + record(udp4(b"again")),
    "udp6_accept": record(udp6(b"query"), UDP_ACCEPT) + record(udp6(b"again")),
    "udp4_refuse": record(udp4(b"query", 9999), UDP_REFUSE),
    "udp4_ignore": record(udp4(b"query"), UDP_IGNORE),
    "ping_foreign": record(ping4()),
}


def main():
    out = os.path.join(ROOT, "forwarder")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
