#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_ndp_options (see fuzz/ndp_options_fuzz.cc for the layout).

Run from the repository root: python3 fuzz/corpus/make_ndp_seeds.py
"""
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
MAC = bytes([2, 0, 0, 0, 0, 0x2a])


def addr(groups):
    return struct.pack("!8H", *groups)


GLOBAL = addr([0x2001, 0xdb8, 0, 0, 0, 0, 0, 5])
LL9 = addr([0xfe80, 0, 0, 0, 0, 0, 0, 9])
DEST = addr([0x2001, 0xdb8, 9, 0, 0, 0, 0, 1])


def lla(t):
    return bytes([t, 1]) + MAC


def prefix(p, plen, flags, valid, pref):
    return struct.pack("!BBBBIII16s", 3, 4, plen, flags, valid, pref, 0, p)


def mtu(m):
    return struct.pack("!BBHI", 5, 1, 0, m)


def rdnss(lifetime, servers):
    return struct.pack("!BBHI", 25, 1 + 2 * len(servers), 0, lifetime) + b"".join(servers)


def write(name, control, msg):
    d = os.path.join(ROOT, "ndp_options")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes([control]) + msg)


rs = struct.pack("!BBHI", 133, 0, 0, 0)
ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0xc0, 1800, 30000, 1000)
ns = struct.pack("!BBHI", 135, 0, 0, 0) + GLOBAL
na = struct.pack("!BBHI", 136, 0, 0, 0x60000000) + GLOBAL
redirect = struct.pack("!BBHI", 137, 0, 0, 0) + LL9 + DEST

write("rs", 0, rs + lla(1))
write("rs_unspecified", 2, rs)
write("ra_full", 0, ra + lla(1) + mtu(1400) +
      prefix(addr([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0]), 64, 0xc0, 86400, 14400) +
      rdnss(600, [addr([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53])]) +
      bytes([24, 2, 48, 0x08, 0, 0, 1, 44]) + addr([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0])[:8])
write("ra_bad_options", 0, ra + bytes([5, 2]) + b"\0" * 14 + bytes([25, 1]) + b"\0" * 6)
write("ra_zero_length_option", 0, ra + lla(1) + bytes([3, 0]) + b"\0" * 6)
write("ns", 0, ns + lla(1))
write("ns_dad", 2 | 4, ns + struct.pack("!BB6s", 14, 1, b"\x01\x02\x03\x04\x05\x06"))
write("na", 0, na + lla(2))
write("na_multicast_solicited", 0, na)
write("redirect", 0, redirect + lla(2) + bytes([4, 6]) + b"\0" * 6 + b"\x60" + b"\0" * 39)
write("option_overrun", 0x10, ns + bytes([1, 3]) + MAC)
