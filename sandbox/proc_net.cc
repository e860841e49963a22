// Theory of operation: the program's own /proc/net describes its empty network namespace, so
// the emulator serves the files that describe sockets, interfaces and routes from the stack's
// NetState instead. Each file is printed with the kernel's own column layout (widths, padding
// to a fixed line length where the kernel pads, addresses as the kernel prints a __be32 with
// %08X, i.e. in host byte order), checked against files read from a real kernel in
// tests/sandbox/proc_net_test.cc.
#include "sandbox/proc_net.h"

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>
#include <vector>

#include "sandbox/native.h"
#include "sandbox/netlink_route.h"

namespace weir::sandbox {
namespace {

constexpr uint8_t kTcpEstablished = 1;
constexpr uint8_t kTcpTimeWait = 6;
constexpr uint8_t kTcpListen = 10;
constexpr uint32_t kUserHz = 100;         // clock_t ticks per second in /proc
constexpr uint32_t kInitialRtoMs = 1000;  // TCP_TIMEOUT_INIT
constexpr uint32_t kInitialCwnd = 10;     // TCP_INIT_CWND
constexpr size_t kTcpLineWidth = 149;     // /proc/net/tcp pads lines to TMPSZ - 1
constexpr size_t kUdpLineWidth = 127;     // /proc/net/udp and route pad to 127
// The 64-bit kernel pointer column, as a reader without CAP_SYSLOG sees it.
constexpr const char* kNullPointer = "0000000000000000";

[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* fmt, ...) {
  std::array<char, 512> buf;
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf.data(), buf.size(), fmt, ap);
  va_end(ap);
  if (n > 0) out.append(buf.data(), std::min<size_t>(static_cast<size_t>(n), buf.size() - 1));
}

// Pads the line being built (from `line_start`) with spaces to `width`, then ends it.
void pad_line(std::string& out, size_t line_start, size_t width) {
  size_t len = out.size() - line_start;
  if (len < width) out.append(width - len, ' ');
  out += '\n';
}

// A 32-bit word of an address as the kernel prints it: the network-order bytes read as a host
// integer, in hex.
uint32_t word(ByteView bytes, size_t index) { return load_host<uint32_t>(bytes, index * 4); }

// An address of an AF_INET6 socket: IPv4 peers of a dual-stack socket are IPv4-mapped.
std::array<std::byte, 16> v6_bytes(const IpAddress& a) {
  std::array<std::byte, 16> out{};
  if (a.is_v6()) {
    copy_bytes(out, 0, a.bytes());
  } else if (!a.is_unspecified()) {
    out[10] = std::byte{0xff};
    out[11] = std::byte{0xff};
    copy_bytes(out, 12, a.bytes());
  }
  return out;
}

void append_v4(std::string& out, const SocketAddress& a) {
  auto b = a.address.is_v4() ? a.address.bytes() : ByteView{};
  appendf(out, "%08X:%04X", b.empty() ? 0u : word(b, 0), a.port);
}

void append_v6(std::string& out, const SocketAddress& a) {
  auto b = v6_bytes(a.address);
  appendf(out, "%08X%08X%08X%08X:%04X", word(b, 0), word(b, 1), word(b, 2), word(b, 3), a.port);
}

// %pi6: 32 lowercase hex digits.
void append_pi6(std::string& out, const IpAddress& a) {
  auto b = v6_bytes(a);
  for (auto x : b) appendf(out, "%02x", std::to_integer<unsigned>(x));
}

bool is_family(const SocketState& s, AddressFamily f) { return s.family == f; }

// Linux lists a protocol's listening sockets (the listening hash) before the others.
std::vector<const SocketState*> tcp_sockets(const NetState& st, AddressFamily f) {
  std::vector<const SocketState*> out;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& s : st.sockets) {
      if (s.protocol != IPPROTO_TCP || !is_family(s, f)) continue;
      if ((s.linux_state == kTcpListen) == (pass == 0)) out.push_back(&s);
    }
  }
  return out;
}

void append_tcp_line(std::string& out, int sl, const SocketState& s, bool v6) {
  size_t start = out.size();
  appendf(out, "%4d: ", sl);
  v6 ? append_v6(out, s.local) : append_v4(out, s.local);
  out += ' ';
  v6 ? append_v6(out, s.remote) : append_v4(out, s.remote);
  bool listen = s.linux_state == kTcpListen;
  if (s.linux_state == kTcpTimeWait) {
    // A TIME-WAIT socket is no longer a full socket: no queues, owner or inode.
    appendf(out, " %02X %08X:%08X %02X:%08lX %08X %5d %8d %d %d %s", s.linux_state, 0u, 0u, 3, 0ul,
            0u, 0, 0, 0, 1, kNullPointer);
    if (!v6)
      pad_line(out, start, kTcpLineWidth);
    else
      out += '\n';
    return;
  }
  bool timer = s.linux_state == kTcpEstablished && s.send_queue > 0;
  uint32_t rto_ms = s.rto_ms != 0 ? s.rto_ms : kInitialRtoMs;
  uint32_t cwnd = s.congestion_window != 0 ? s.congestion_window : kInitialCwnd;
  appendf(out, " %02X %08X:%08X %02X:%08lX %08X %5u %8d %lu %d %s %lu %lu %u %u %d", s.linux_state,
          listen ? 0u : s.send_queue, s.receive_queue, timer ? 1 : 0,
          timer ? static_cast<unsigned long>(rto_ms / (1000 / kUserHz)) : 0ul,
          timer ? s.retransmits : 0u, s.uid, 0, static_cast<unsigned long>(s.inode), 1,
          kNullPointer, static_cast<unsigned long>(rto_ms / (1000 / kUserHz)), 0ul, 0u, cwnd,
          listen ? 0 : -1);
  if (!v6) {
    pad_line(out, start, kTcpLineWidth);
  } else {
    out += '\n';
  }
}

std::string tcp_file(const NetState& st, bool v6) {
  std::string out;
  if (v6) {
    out +=
        "  sl  local_address                         remote_address                        st "
        "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
  } else {
    out +=
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode";
    pad_line(out, 0, kTcpLineWidth);
  }
  int sl = 0;
  for (const auto* s : tcp_sockets(st, v6 ? AddressFamily::kIpv6 : AddressFamily::kIpv4)) {
    append_tcp_line(out, sl++, *s, v6);
  }
  return out;
}

constexpr const char* kUdp4Header =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode ref pointer drops";
constexpr const char* kUdp6Header =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";

// UDP sockets in hash-bucket order; the bucket ("sl") is the local port here.
std::string udp_file(const NetState& st, bool v6, uint8_t protocol) {
  std::string out;
  if (v6) {
    out += kUdp6Header;
  } else {
    out += kUdp4Header;
    pad_line(out, 0, kUdpLineWidth);
  }
  std::vector<const SocketState*> socks;
  for (const auto& s : st.sockets) {
    if (s.protocol == protocol && is_family(s, v6 ? AddressFamily::kIpv6 : AddressFamily::kIpv4)) {
      socks.push_back(&s);
    }
  }
  std::stable_sort(socks.begin(), socks.end(),
                   [](const auto* a, const auto* b) { return a->local.port < b->local.port; });
  for (const auto* s : socks) {
    size_t start = out.size();
    appendf(out, "%5d: ", s->local.port);
    v6 ? append_v6(out, s->local) : append_v4(out, s->local);
    out += ' ';
    v6 ? append_v6(out, s->remote) : append_v4(out, s->remote);
    appendf(out, " %02X %08X:%08X %02X:%08lX %08X %5u %8d %lu %d %s %u", s->linux_state,
            s->send_queue, s->receive_queue, 0, 0ul, 0u, s->uid, 0,
            static_cast<unsigned long>(s->inode), 2, kNullPointer, 0u);
    if (v6) {
      out += '\n';
    } else {
      pad_line(out, start, kUdpLineWidth);
    }
  }
  return out;
}

std::string raw_file(bool v6) {
  if (v6) {
    return "  sl  local_address                         remote_address                        st "
           "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";
  }
  return "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
         "timeout inode ref pointer drops\n";
}

std::vector<const InterfaceState*> interfaces_by_index(const NetState& st) {
  std::vector<const InterfaceState*> out;
  for (const auto& i : st.interfaces) out.push_back(&i);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto* a, const auto* b) { return a->index < b->index; });
  return out;
}

std::string dev_file(const NetState& st) {
  std::string out =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n";
  for (const auto* i : interfaces_by_index(st)) {
    appendf(out,
            "%6s:%8llu %7llu %4llu %4llu %4llu %5llu %10llu %9llu %8llu %7llu %4llu %4llu %4llu "
            "%5llu %7llu %10llu\n",
            i->name.c_str(), static_cast<unsigned long long>(i->rx_bytes),
            static_cast<unsigned long long>(i->rx_packets),
            static_cast<unsigned long long>(i->rx_errors),
            static_cast<unsigned long long>(i->rx_dropped), 0ull, 0ull, 0ull, 0ull,
            static_cast<unsigned long long>(i->tx_bytes),
            static_cast<unsigned long long>(i->tx_packets),
            static_cast<unsigned long long>(i->tx_errors),
            static_cast<unsigned long long>(i->tx_dropped), 0ull, 0ull, 0ull, 0ull);
  }
  return out;
}

const InterfaceState* find_interface(const NetState& st, int index) {
  for (const auto& i : st.interfaces)
    if (i.index == index) return &i;
  return nullptr;
}

std::string interface_name(const NetState& st, int index) {
  const InterfaceState* i = find_interface(st, index);
  return i != nullptr ? i->name : "*";
}

uint32_t v4_word(const IpAddress& a) { return a.is_v4() ? load_host<uint32_t>(a.bytes(), 0) : 0u; }

uint32_t v4_mask_word(uint8_t length) {
  uint32_t mask = length == 0 ? 0 : ~uint32_t{0} << (32 - std::min<uint8_t>(length, 32));
  return load_host<uint32_t>(Ipv4Address(mask).to_bytes(), 0);
}

// The IPv4 main table in the order Linux's FIB trie walk prints it.
std::string route_file(const NetState& st) {
  std::string out =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT";
  pad_line(out, 0, kUdpLineWidth);
  const std::vector<RouteState> all = linux_routes(st);
  std::vector<const RouteState*> routes;
  for (const auto& r : all) {
    if (!r.local && r.destination.address.is_v4()) routes.push_back(&r);
  }
  std::stable_sort(routes.begin(), routes.end(), [](const auto* a, const auto* b) {
    auto na = a->destination.network(), nb = b->destination.network();
    if (na.address != nb.address) return na.address < nb.address;
    return na.length > nb.length;
  });
  for (const auto* r : routes) {
    size_t start = out.size();
    unsigned flags = 0x1;                           // RTF_UP
    if (r->gateway) flags |= 0x2;                   // RTF_GATEWAY
    if (r->destination.length == 32) flags |= 0x4;  // RTF_HOST
    appendf(out, "%s\t%08X\t%08X\t%04X\t%d\t%u\t%d\t%08X\t%d\t%u\t%u",
            interface_name(st, r->interface_index).c_str(),
            v4_word(r->destination.network().address), r->gateway ? v4_word(*r->gateway) : 0u,
            flags, 0, 0u, static_cast<int>(r->metric), v4_mask_word(r->destination.length), 0, 0u,
            0u);
    pad_line(out, start, kUdpLineWidth);
  }
  return out;
}

// IPV6_ADDR_* scope bits as if_inet6 prints them.
unsigned if_inet6_scope(const IpAddress& a) {
  if (a.v6().is_loopback()) return 0x10;
  if (a.v6().is_link_local()) return 0x20;
  if (a.v6().octets()[0] == 0xfe && (a.v6().octets()[1] & 0xc0) == 0xc0) return 0x40;
  return 0x00;
}

std::string if_inet6_file(const NetState& st) {
  std::string out;
  for (const auto* i : interfaces_by_index(st)) {
    for (const auto& a : i->addresses) {
      if (!a.address.is_v6()) continue;
      append_pi6(out, a.address);
      appendf(out, " %02x %02x %02x %02x %8s\n", static_cast<unsigned>(i->index), a.length,
              if_inet6_scope(a.address), 0x80u /* IFA_F_PERMANENT */, i->name.c_str());
    }
  }
  return out;
}

std::string ipv6_route_file(const NetState& st) {
  std::string out;
  const std::vector<RouteState> all = linux_routes(st);
  std::vector<const RouteState*> routes;
  for (const auto& r : all) {
    if (r.destination.address.is_v6()) routes.push_back(&r);
  }
  std::stable_sort(routes.begin(), routes.end(), [](const auto* a, const auto* b) {
    if (a->local != b->local) return !a->local;
    auto na = a->destination.network(), nb = b->destination.network();
    if (na.length != nb.length) return na.length > nb.length;
    return na.address < nb.address;
  });
  for (const auto* r : routes) {
    append_pi6(out, r->destination.network().address);
    appendf(out, " %02x ", r->destination.length);
    append_pi6(out, IpAddress::any(AddressFamily::kIpv6));
    out += " 00 ";
    append_pi6(out, r->gateway ? *r->gateway : IpAddress::any(AddressFamily::kIpv6));
    unsigned flags = 0x1;                // RTF_UP
    if (r->gateway) flags |= 0x2;        // RTF_GATEWAY
    if (r->local) flags |= 0x80200000u;  // RTF_LOCAL | RTF_NONEXTHOP
    appendf(out, " %08x %08x %08x %08x %8s\n", linux_route_metric(st, *r), 1u, 0u, flags,
            interface_name(st, r->interface_index).c_str());
  }
  return out;
}

std::string arp_file() {
  return "IP address       HW type     Flags       HW address            Mask     Device\n";
}

uint64_t counter(const NetState& st, std::string_view group, std::string_view name) {
  std::string key(group);
  key += ':';
  key += name;
  auto it = st.counters.find(key);
  return it == st.counters.end() ? 0 : it->second;
}

uint64_t established_count(const NetState& st) {
  uint64_t n = 0;
  for (const auto& s : st.sockets) {
    // CurrEstab counts ESTABLISHED and CLOSE-WAIT (RFC 1213 tcpCurrEstab).
    if (s.protocol == IPPROTO_TCP && (s.linux_state == kTcpEstablished || s.linux_state == 8)) ++n;
  }
  return n;
}

// One "Group: names" line and one "Group: values" line.
void append_group(std::string& out, const NetState& st, std::string_view group,
                  std::initializer_list<std::string_view> names) {
  out += group;
  out += ':';
  for (auto n : names) {
    out += ' ';
    out += n;
  }
  out += '\n';
  out += group;
  out += ':';
  for (auto n : names) {
    if (group == "Ip" && n == "Forwarding") {
      appendf(out, " %d", 2);  // 2: not forwarding (RFC 1213 ipForwarding)
    } else if (group == "Ip" && n == "DefaultTTL") {
      appendf(out, " %d", 64);
    } else if (group == "Tcp" && n == "RtoAlgorithm") {
      appendf(out, " %d", 1);
    } else if (group == "Tcp" && n == "RtoMin") {
      appendf(out, " %d", 200);
    } else if (group == "Tcp" && n == "RtoMax") {
      appendf(out, " %d", 120000);
    } else if (group == "Tcp" && n == "MaxConn") {
      appendf(out, " %d", -1);
    } else if (group == "Tcp" && n == "CurrEstab" && !st.counters.contains("Tcp:CurrEstab")) {
      appendf(out, " %llu", static_cast<unsigned long long>(established_count(st)));
    } else {
      appendf(out, " %llu", static_cast<unsigned long long>(counter(st, group, n)));
    }
  }
  out += '\n';
}

std::string snmp_file(const NetState& st) {
  std::string out;
  append_group(out, st, "Ip",
               {"Forwarding",    "DefaultTTL",      "InReceives",   "InHdrErrors", "InAddrErrors",
                "ForwDatagrams", "InUnknownProtos", "InDiscards",   "InDelivers",  "OutRequests",
                "OutDiscards",   "OutNoRoutes",     "ReasmTimeout", "ReasmReqds",  "ReasmOKs",
                "ReasmFails",    "FragOKs",         "FragFails",    "FragCreates", "OutTransmits"});
  append_group(
      out, st, "Icmp",
      {"InMsgs",        "InErrors",           "InCsumErrors",     "InDestUnreachs",  "InTimeExcds",
       "InParmProbs",   "InSrcQuenchs",       "InRedirects",      "InEchos",         "InEchoReps",
       "InTimestamps",  "InTimestampReps",    "InAddrMasks",      "InAddrMaskReps",  "OutMsgs",
       "OutErrors",     "OutRateLimitGlobal", "OutRateLimitHost", "OutDestUnreachs", "OutTimeExcds",
       "OutParmProbs",  "OutSrcQuenchs",      "OutRedirects",     "OutEchos",        "OutEchoReps",
       "OutTimestamps", "OutTimestampReps",   "OutAddrMasks",     "OutAddrMaskReps"});
  append_group(out, st, "Tcp",
               {"RtoAlgorithm", "RtoMin", "RtoMax", "MaxConn", "ActiveOpens", "PassiveOpens",
                "AttemptFails", "EstabResets", "CurrEstab", "InSegs", "OutSegs", "RetransSegs",
                "InErrs", "OutRsts", "InCsumErrors"});
  std::initializer_list<std::string_view> udp = {"InDatagrams",  "NoPorts",      "InErrors",
                                                 "OutDatagrams", "RcvbufErrors", "SndbufErrors",
                                                 "InCsumErrors", "IgnoredMulti", "MemErrors"};
  append_group(out, st, "Udp", udp);
  append_group(out, st, "UdpLite", udp);
  return out;
}

std::string netstat_file(const NetState& st) {
  std::string out;
  append_group(out, st, "TcpExt",
               {"SyncookiesSent",
                "SyncookiesRecv",
                "SyncookiesFailed",
                "EmbryonicRsts",
                "PruneCalled",
                "RcvPruned",
                "OfoPruned",
                "OutOfWindowIcmps",
                "LockDroppedIcmps",
                "ArpFilter",
                "TW",
                "TWRecycled",
                "TWKilled",
                "PAWSActive",
                "PAWSEstab",
                "BeyondWindow",
                "TSEcrRejected",
                "PAWSOldAck",
                "PAWSTimewait",
                "DelayedACKs",
                "DelayedACKLocked",
                "DelayedACKLost",
                "ListenOverflows",
                "ListenDrops",
                "TCPHPHits",
                "TCPPureAcks",
                "TCPHPAcks",
                "TCPRenoRecovery",
                "TCPSackRecovery",
                "TCPSACKReneging",
                "TCPSACKReorder",
                "TCPRenoReorder",
                "TCPTSReorder",
                "TCPFullUndo",
                "TCPPartialUndo",
                "TCPDSACKUndo",
                "TCPLossUndo",
                "TCPLostRetransmit",
                "TCPRenoFailures",
                "TCPSackFailures",
                "TCPLossFailures",
                "TCPFastRetrans",
                "TCPSlowStartRetrans",
                "TCPTimeouts",
                "TCPLossProbes",
                "TCPLossProbeRecovery",
                "TCPRenoRecoveryFail",
                "TCPSackRecoveryFail",
                "TCPRcvCollapsed",
                "TCPBacklogCoalesce",
                "TCPDSACKOldSent",
                "TCPDSACKOfoSent",
                "TCPDSACKRecv",
                "TCPDSACKOfoRecv",
                "TCPAbortOnData",
                "TCPAbortOnClose",
                "TCPAbortOnMemory",
                "TCPAbortOnTimeout",
                "TCPAbortOnLinger",
                "TCPAbortFailed",
                "TCPMemoryPressures",
                "TCPMemoryPressuresChrono",
                "TCPSACKDiscard",
                "TCPDSACKIgnoredOld",
                "TCPDSACKIgnoredNoUndo",
                "TCPSpuriousRTOs",
                "TCPMD5NotFound",
                "TCPMD5Unexpected",
                "TCPMD5Failure",
                "TCPSackShifted",
                "TCPSackMerged",
                "TCPSackShiftFallback",
                "TCPBacklogDrop",
                "PFMemallocDrop",
                "TCPMinTTLDrop",
                "TCPDeferAcceptDrop",
                "IPReversePathFilter",
                "TCPTimeWaitOverflow",
                "TCPReqQFullDoCookies",
                "TCPReqQFullDrop",
                "TCPRetransFail",
                "TCPRcvCoalesce",
                "TCPOFOQueue",
                "TCPOFODrop",
                "TCPOFOMerge",
                "TCPChallengeACK",
                "TCPSYNChallenge",
                "TCPFastOpenActive",
                "TCPFastOpenActiveFail",
                "TCPFastOpenPassive",
                "TCPFastOpenPassiveFail",
                "TCPFastOpenListenOverflow",
                "TCPFastOpenCookieReqd",
                "TCPFastOpenBlackhole",
                "TCPSpuriousRtxHostQueues",
                "BusyPollRxPackets",
                "TCPAutoCorking",
                "TCPFromZeroWindowAdv",
                "TCPToZeroWindowAdv",
                "TCPWantZeroWindowAdv",
                "TCPSynRetrans",
                "TCPOrigDataSent",
                "TCPHystartTrainDetect",
                "TCPHystartTrainCwnd",
                "TCPHystartDelayDetect",
                "TCPHystartDelayCwnd",
                "TCPACKSkippedSynRecv",
                "TCPACKSkippedPAWS",
                "TCPACKSkippedSeq",
                "TCPACKSkippedFinWait2",
                "TCPACKSkippedTimeWait",
                "TCPACKSkippedChallenge",
                "TCPWinProbe",
                "TCPKeepAlive",
                "TCPMTUPFail",
                "TCPMTUPSuccess",
                "TCPDelivered",
                "TCPDeliveredCE",
                "TCPAckCompressed",
                "TCPZeroWindowDrop",
                "TCPRcvQDrop",
                "TCPWqueueTooBig",
                "TCPFastOpenPassiveAltKey",
                "TcpTimeoutRehash",
                "TcpDuplicateDataRehash",
                "TCPDSACKRecvSegs",
                "TCPDSACKIgnoredDubious",
                "TCPMigrateReqSuccess",
                "TCPMigrateReqFailure",
                "TCPPLBRehash",
                "TCPAORequired",
                "TCPAOBad",
                "TCPAOKeyNotFound",
                "TCPAOGood",
                "TCPAODroppedIcmps"});
  append_group(out, st, "IpExt",
               {"InNoRoutes", "InTruncatedPkts", "InMcastPkts", "OutMcastPkts", "InBcastPkts",
                "OutBcastPkts", "InOctets", "OutOctets", "InMcastOctets", "OutMcastOctets",
                "InBcastOctets", "OutBcastOctets", "InCsumErrors", "InNoECTPkts", "InECT1Pkts",
                "InECT0Pkts", "InCEPkts", "ReasmOverlaps"});
  return out;
}

unsigned count_sockets(const NetState& st, uint8_t protocol, AddressFamily f) {
  unsigned n = 0;
  for (const auto& s : st.sockets) {
    if (s.protocol == protocol && s.family == f) ++n;
  }
  return n;
}

std::string sockstat_file(const NetState& st) {
  unsigned tcp = count_sockets(st, IPPROTO_TCP, AddressFamily::kIpv4);
  unsigned tcp_all = tcp + count_sockets(st, IPPROTO_TCP, AddressFamily::kIpv6);
  unsigned tw = 0;
  for (const auto& s : st.sockets) {
    if (s.protocol == IPPROTO_TCP && s.linux_state == kTcpTimeWait) ++tw;
  }
  std::string out;
  appendf(out, "sockets: used %zu\n", st.sockets.size());
  appendf(out, "TCP: inuse %u orphan %d tw %u alloc %u mem %d\n", tcp, 0, tw, tcp_all, 0);
  appendf(out, "UDP: inuse %u mem %d\n", count_sockets(st, IPPROTO_UDP, AddressFamily::kIpv4), 0);
  out += "UDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n";
  return out;
}

std::string sockstat6_file(const NetState& st) {
  std::string out;
  appendf(out, "TCP6: inuse %u\n", count_sockets(st, IPPROTO_TCP, AddressFamily::kIpv6));
  appendf(out, "UDP6: inuse %u\n", count_sockets(st, IPPROTO_UDP, AddressFamily::kIpv6));
  out += "UDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n";
  return out;
}

}  // namespace

bool proc_net_file_reads_counters(std::string_view name) {
  return name == "snmp" || name == "netstat";
}

std::optional<std::string> proc_net_file(std::string_view name, const NetState& state) {
  if (name == "tcp") return tcp_file(state, false);
  if (name == "tcp6") return tcp_file(state, true);
  if (name == "udp") return udp_file(state, false, IPPROTO_UDP);
  if (name == "udp6") return udp_file(state, true, IPPROTO_UDP);
  if (name == "udplite") return udp_file(state, false, IPPROTO_UDPLITE);
  if (name == "udplite6") return udp_file(state, true, IPPROTO_UDPLITE);
  if (name == "raw") return raw_file(false);
  if (name == "raw6") return raw_file(true);
  if (name == "dev") return dev_file(state);
  if (name == "route") return route_file(state);
  if (name == "if_inet6") return if_inet6_file(state);
  if (name == "ipv6_route") return ipv6_route_file(state);
  if (name == "arp") return arp_file();
  if (name == "snmp") return snmp_file(state);
  if (name == "netstat") return netstat_file(state);
  if (name == "sockstat") return sockstat_file(state);
  if (name == "sockstat6") return sockstat6_file(state);
  return std::nullopt;
}

}  // namespace weir::sandbox
