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


def write_to(corpus, name, data):
    d = os.path.join(ROOT, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# fuzz_ra_state: (op, n) commands; op 0x10 = an RA of n bytes, 1 = advance n * 250 ms,
# 2 = NA for address n, 3 = DAD NS (0x0b: with the next 6 bytes as nonce), 4 = redirect,
# 5 = default router selection.
def cmd(op, n, payload=b""):
    return bytes([op, n]) + payload


P1 = addr([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0])
P2 = addr([0x2001, 0xdb8, 2, 0, 0, 0, 0, 0])
ra_one = ra + lla(1) + mtu(1400) + prefix(P1, 64, 0xc0, 7200, 3600) + rdnss(600, [GLOBAL])
ra_short = (struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 30, 0, 0) +
            prefix(P2, 64, 0xc0, 60, 30) + prefix(P1, 64, 0xc0, 60, 30))
ra_gone = struct.pack("!BBHBBHII", 134, 0, 0, 0, 0, 0, 0, 0) + prefix(P1, 64, 0x80, 0, 0)
write_to("ra_state", "slaac_then_expiry",
         cmd(0x10, len(ra_one), ra_one) + cmd(1, 12) + cmd(0x18, len(ra_short), ra_short) +
         cmd(1, 255) + cmd(1, 255) + cmd(5, 0))
write_to("ra_state", "dad_conflicts",
         cmd(0x10, len(ra_one), ra_one) + cmd(1, 2) + cmd(3, 1) + cmd(1, 8) + cmd(2, 0) +
         cmd(0x0b, 1, b"\x01\x02\x03\x04\x05\x06") + cmd(1, 20))
write_to("ra_state", "routers_and_redirects",
         cmd(0x10, len(ra_one), ra_one) + cmd(0x18, len(ra_one), ra_one) + cmd(4, 3) +
         cmd(4, 4) + cmd(5, 1) + cmd(5, 0) + cmd(0x10, len(ra_gone), ra_gone) + cmd(5, 0) +
         cmd(1, 100))


# fuzz_mld_query: (op, n) commands; op & 3: 0 message of n bytes, 1 join, 2 leave, 3 advance.
def mld_query(group, code, sources=(), qrv=2):
    return (struct.pack("!BBHHH16sBBH", 130, 0, 0, code, 0, group, qrv, 125, len(sources)) +
            b"".join(sources))


G = addr([0xff05, 0, 0, 0, 0, 0, 0, 4])
general = mld_query(b"\0" * 16, 1000)
specific = mld_query(G, 500)
source_specific = mld_query(G, 500, [GLOBAL, DEST])
write_to("mld_query", "joins_and_queries",
         cmd(1, 3) + cmd(1, 4) + cmd(1, 5) + cmd(3, 40) + cmd(0, len(general), general) +
         cmd(3, 30) + cmd(0, len(specific), specific) + cmd(0, len(source_specific),
                                                            source_specific) +
         cmd(2, 4) + cmd(3, 30))
write_to("mld_query", "invalid_queries",
         cmd(1, 4) + cmd(4, len(general), general) + cmd(8, len(general), general) +
         cmd(16, len(general), general) + cmd(0, 24, general[:24]) + cmd(0, 26, general[:26]))


# fuzz_autoconf: (op, n) commands; n == 0 advances (op + 1) * 50 ms; else an ICMPv6 message of
# n bytes follows, its type from op & 7 (2 RA, 3 NS, 4 NA, 5 redirect, 0 MLD query), source
# from bits 3-4, destination bit 5, hop limit 1 bit 6, router alert bit 7.
def msg(op, m):
    return bytes([op, len(m)]) + m


ra_auto = (struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 30000, 1000) + lla(1) + mtu(1400) +
           prefix(P1, 64, 0xc0, 7200, 3600) + rdnss(600, [GLOBAL]))
ra_expiring = (struct.pack("!BBHBBHII", 134, 0, 0, 0, 0, 20, 0, 0) +
               prefix(P1, 64, 0xc0, 30, 10))
na_flagless = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + addr([0xfe80, 0, 0, 0, 0, 0, 0, 1])
mldq = mld_query(b"\0" * 16, 1000)
write_to("autoconf", "ra_then_time", cmd(39, 0) + msg(2, ra_auto) + cmd(39, 0) + cmd(39, 0) +
         msg(2, ra_expiring) + cmd(255, 0) + cmd(255, 0))
write_to("autoconf", "dad_conflict", cmd(15, 0) + msg(0x20 | 0x10 | 3, ns[:24]) + cmd(60, 0) +
         msg(0x20 | 4, na[:24]) + cmd(60, 0))
write_to("autoconf", "redirect_and_router_flag",
         msg(2, ra_auto) + cmd(60, 0) + msg(5, redirect + lla(2)) + msg(4, na_flagless) +
         cmd(60, 0))
write_to("autoconf", "mld_query", cmd(60, 0) + msg(0x40 | 0x80, mldq) + cmd(30, 0) +
         msg(0x40, mldq) + cmd(30, 0))
