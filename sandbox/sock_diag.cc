// Theory of operation: `ss` lists sockets by asking NETLINK_SOCK_DIAG for a dump per family
// and protocol (an inet_diag_req_v2: family, protocol, a bitmask of TCP states, extensions
// wanted), and reads one inet_diag_msg per socket: addresses and ports, state, queue lengths,
// uid and the socket inode (which `ss -p` matches against /proc/PID/fd). Here those messages
// are built from the NetState's sockets, in the bytes Linux 6.x sends (recorded from a real
// kernel in tests/sandbox). The netlink framing, errors and acks are netlink_wire's.
#include "sandbox/sock_diag.h"

#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>

#include "sandbox/native.h"
#include "sandbox/tcp_info_codec.h"

namespace weir::sandbox {
namespace {

using netlink::AnswerWriter;
using netlink::Message;
using netlink::MessageBuilder;

constexpr size_t kReqV2Size = 56;          // struct inet_diag_req_v2
constexpr size_t kReqV1Size = 60;          // struct inet_diag_req (TCPDIAG_GETSOCK)
constexpr size_t kSockIdSize = 48;         // struct inet_diag_sockid
constexpr size_t kDiagMsgSize = 72;        // struct inet_diag_msg
constexpr uint16_t kTcpDiagGetSock = 18;   // TCPDIAG_GETSOCK, the pre-2.6.? request
constexpr uint16_t kDccpDiagGetSock = 19;  // DCCPDIAG_GETSOCK
constexpr uint8_t kTcpListen = 10;
constexpr uint8_t kTcpEstablished = 1;
constexpr uint32_t kInfiniteSsthresh = 0x7fffffff;  // TCP_INFINITE_SSTHRESH
constexpr uint32_t kNoCookie = 0xffffffffu;         // INET_DIAG_NOCOOKIE
// Linux's defaults for net.ipv4.tcp_rmem / tcp_wmem [1] and the UDP buffers.
constexpr uint32_t kTcpReceiveBuffer = 131072;
constexpr uint32_t kTcpSendBuffer = 16384;
constexpr uint32_t kUdpBuffer = 212992;
// INET_DIAG_SOCKOPT bits Linux reports for an unconfigured socket: is_icsk for TCP, mc_loop
// for all, mc_all for IPv4 ones.
constexpr uint16_t kSockoptIsIcsk = 0x02;
constexpr uint16_t kSockoptMcLoop = 0x10;
constexpr uint16_t kSockoptMcAll = 0x40;
constexpr uint8_t kTcpClose = 7;

// The part of a request both request layouts share.
struct Query {
  uint8_t family = 0;
  uint32_t protocol = 0;
  uint8_t ext = 0;
  uint32_t states = 0;
  ByteView id;  // inet_diag_sockid
  uint16_t answer_type = SOCK_DIAG_BY_FAMILY;
};

bool has_ext(const Query& q, int attribute) { return (q.ext & (1u << (attribute - 1))) != 0; }

uint8_t socket_family(const SocketState& s) {
  return s.family == AddressFamily::kIpv4 ? AF_INET : AF_INET6;
}

// An address as idiag_src / idiag_dst hold it: IPv4 in the first 4 bytes for an AF_INET
// socket; for an AF_INET6 socket IPv6, or IPv4-mapped for an IPv4 peer of a dual-stack one.
std::array<std::byte, 16> wire_address(const SocketState& s, const IpAddress& a) {
  std::array<std::byte, 16> out{};
  if (s.family == AddressFamily::kIpv6 && a.is_v4() && !a.is_unspecified()) {
    out[10] = std::byte{0xff};
    out[11] = std::byte{0xff};
    copy_bytes(out, 12, a.bytes());
  } else {
    copy_bytes(out, 0, a.bytes());
  }
  return out;
}

uint32_t cookie_low(const SocketState& s) { return static_cast<uint32_t>(s.inode); }
uint32_t cookie_high(const SocketState& s) { return static_cast<uint32_t>(s.inode >> 32); }

tcp::TcpInfo tcp_info_of(const SocketState& s) {
  if (s.tcp_info) return *s.tcp_info;
  tcp::TcpInfo i;
  i.tcpi_state = s.linux_state;
  i.tcpi_retransmits = static_cast<uint8_t>(std::min<uint32_t>(s.retransmits, 255));
  i.tcpi_rto = s.rto_ms * 1000;
  i.tcpi_snd_mss = s.send_mss;
  i.tcpi_rcv_mss = s.send_mss;
  i.tcpi_rtt = s.rtt_us;
  i.tcpi_rttvar = s.rttvar_us;
  i.tcpi_snd_ssthresh = kInfiniteSsthresh;
  i.tcpi_snd_cwnd = s.congestion_window;
  if (s.linux_state == kTcpListen) {
    // Linux reports a listener's accept queue and backlog in these two.
    i.tcpi_unacked = s.receive_queue;
    i.tcpi_sacked = s.send_queue;
  }
  return i;
}

std::vector<std::byte> diag_message(const SocketState& s, const Query& q, uint16_t flags,
                                    uint32_t seq, uint32_t portid) {
  bool tcp = s.protocol == IPPROTO_TCP;
  bool v6 = s.family == AddressFamily::kIpv6;
  // A retransmission timer runs while data is unacknowledged.
  bool timer = tcp && s.linux_state == kTcpEstablished && s.send_queue > 0;
  MessageBuilder b(q.answer_type, flags, seq, portid);
  auto m = b.reserve(kDiagMsgSize);
  store_u8(m, 0, socket_family(s));
  store_u8(m, 1, s.linux_state);
  store_u8(m, 2, timer ? 1 : 0);
  store_u8(m, 3, timer ? static_cast<uint8_t>(std::min<uint32_t>(s.retransmits, 255)) : 0);
  auto id = m.subspan(4, kSockIdSize);
  store_be16(id, 0, s.local.port);
  store_be16(id, 2, s.remote.port);
  copy_bytes(id, 4, wire_address(s, s.local.address));
  copy_bytes(id, 20, wire_address(s, s.remote.address));
  store_host<uint32_t>(id, 36, 0);  // idiag_if: not bound to a device
  store_host<uint32_t>(id, 40, cookie_low(s));
  store_host<uint32_t>(id, 44, cookie_high(s));
  store_host<uint32_t>(m, 52, timer ? s.rto_ms : 0);  // idiag_expires
  store_host<uint32_t>(m, 56, s.receive_queue);
  store_host<uint32_t>(m, 60, s.send_queue);
  store_host<uint32_t>(m, 64, s.uid);
  store_host<uint32_t>(m, 68, static_cast<uint32_t>(s.inode));

  b.put_u8(INET_DIAG_SHUTDOWN, 0);
  if (!v6 && has_ext(q, INET_DIAG_TOS)) b.put_u8(INET_DIAG_TOS, 0);
  if (v6 && (has_ext(q, INET_DIAG_TCLASS) || has_ext(q, INET_DIAG_TOS))) {
    b.put_u8(INET_DIAG_TCLASS, 0);
  }
  // Linux tells IPV6_V6ONLY only for sockets that are not connected.
  if (v6 && (s.linux_state == kTcpListen || s.linux_state == kTcpClose)) {
    b.put_u8(INET_DIAG_SKV6ONLY, s.v6only ? 1 : 0);
  }
  b.put_u16(INET_DIAG_SOCKOPT, static_cast<uint16_t>((tcp ? kSockoptIsIcsk : 0) | kSockoptMcLoop |
                                                     (v6 ? 0 : kSockoptMcAll)));
  if (has_ext(q, INET_DIAG_MEMINFO)) {
    std::array<std::byte, 16> mem{};  // idiag_rmem, idiag_wmem, idiag_fmem, idiag_tmem
    store_host<uint32_t>(mem, 0, s.receive_queue);
    store_host<uint32_t>(mem, 4, s.send_queue);
    b.put(INET_DIAG_MEMINFO, mem);
  }
  if (has_ext(q, INET_DIAG_SKMEMINFO)) {
    std::array<std::byte, SK_MEMINFO_VARS * 4> mem{};
    store_host<uint32_t>(mem, SK_MEMINFO_RMEM_ALLOC * 4, s.receive_queue);
    store_host<uint32_t>(mem, SK_MEMINFO_RCVBUF * 4, tcp ? kTcpReceiveBuffer : kUdpBuffer);
    store_host<uint32_t>(mem, SK_MEMINFO_WMEM_ALLOC * 4, s.send_queue);
    store_host<uint32_t>(mem, SK_MEMINFO_SNDBUF * 4, tcp ? kTcpSendBuffer : kUdpBuffer);
    store_host<uint32_t>(mem, SK_MEMINFO_WMEM_QUEUED * 4, s.send_queue);
    b.put(INET_DIAG_SKMEMINFO, mem);
  }
  if (tcp && has_ext(q, INET_DIAG_INFO)) b.put(INET_DIAG_INFO, encode_tcp_info(tcp_info_of(s)));
  if (tcp && has_ext(q, INET_DIAG_CONG)) b.put_string(INET_DIAG_CONG, "cubic");
  return std::move(b).finish();
}

bool address_matches(ByteView id, size_t offset, const SocketState& s, const IpAddress& a) {
  size_t n = s.family == AddressFamily::kIpv4 ? 4 : 16;
  auto mine = wire_address(s, a);
  ByteView want = id.subspan(offset, n);
  return std::equal(want.begin(), want.end(), mine.begin());
}

// The socket a non-dump request names: its local and remote ports and addresses (an
// unspecified address of ours matches any), and the cookie unless the request has none.
const SocketState* find_one(const NetState& state, const Query& q, Status& error) {
  uint16_t sport = load_be16(q.id, 0);
  uint16_t dport = load_be16(q.id, 2);
  uint32_t low = load_host<uint32_t>(q.id, 40);
  uint32_t high = load_host<uint32_t>(q.id, 44);
  for (const auto& s : state.sockets) {
    if (socket_family(s) != q.family || s.protocol != q.protocol) continue;
    if (s.local.port != sport || s.remote.port != dport) continue;
    if (!s.local.address.is_unspecified() && !address_matches(q.id, 4, s, s.local.address)) {
      continue;
    }
    if (!s.remote.address.is_unspecified() && !address_matches(q.id, 20, s, s.remote.address)) {
      continue;
    }
    if (!(low == kNoCookie && high == kNoCookie) &&
        (low != cookie_low(s) || high != cookie_high(s))) {
      error = Error::kNotFound;  // Linux says ESTALE; there is no Error for it
      return nullptr;
    }
    return &s;
  }
  error = Error::kNotFound;
  return nullptr;
}

// Families whose diag modules Linux has but whose sockets never live in the stack.
bool is_foreign_diag_family(uint8_t family) {
  switch (family) {
    case AF_UNIX:
    case AF_NETLINK:
    case AF_PACKET:
    case AF_TIPC:
    case AF_SMC:
    case AF_VSOCK:
    case AF_XDP:
      return true;
    default:
      return false;
  }
}

bool is_foreign_inet_protocol(uint32_t protocol) {
  switch (protocol) {
    case IPPROTO_MPTCP:
    case IPPROTO_RAW:
    case IPPROTO_UDPLITE:
    case IPPROTO_SCTP:
    case IPPROTO_DCCP:
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return true;
    default:
      return false;
  }
}

Status answer_inet(const Message& m, Query q, ByteView attributes, const NetState& state,
                   uint32_t portid, AnswerWriter& out) {
  // The bytecode filter is checked for framing only. INET_DIAG_REQ_PROTOCOL carries protocols
  // that do not fit the 8-bit field (`ss -M` asks for MPTCP, 262, with 6 in the field).
  auto t = netlink::AttributeTable::parse(attributes, INET_DIAG_REQ_MAX);
  if (!t) return t.error();
  if (auto p = t->get(INET_DIAG_REQ_PROTOCOL)) {
    auto v = netlink::attribute_u32(*p);
    if (!v) return v.error();
    q.protocol = *v;
  }
  bool dump = (m.header.flags & netlink::kFlagDump) != 0;
  bool served = q.protocol == IPPROTO_TCP || q.protocol == IPPROTO_UDP;
  if (!served && !(dump && is_foreign_inet_protocol(q.protocol))) return Error::kNotFound;
  if (!dump) {
    Status error = ok_status();
    const SocketState* s = find_one(state, q, error);
    if (s == nullptr) return error;
    out.single(diag_message(*s, q, 0, m.header.seq, portid));
    return ok_status();
  }
  if (served) {
    for (const auto& s : state.sockets) {
      if (socket_family(s) != q.family || s.protocol != q.protocol) continue;
      if (s.linux_state >= 32 || (q.states & (1u << s.linux_state)) == 0) continue;
      out.dump_part(diag_message(s, q, netlink::kFlagMulti, m.header.seq, portid));
    }
  }
  out.end_dump(netlink::done_message(m.header.seq, portid));
  return ok_status();
}

Status answer_one(const Message& m, const NetState& state, uint32_t portid, AnswerWriter& out) {
  switch (m.header.type) {
    case SOCK_DIAG_BY_FAMILY: {
      if (m.payload.empty()) return Error::kInvalidArgument;
      uint8_t family = load_u8(m.payload, 0);
      if (family >= AF_MAX) return Error::kInvalidArgument;
      if (family == AF_INET || family == AF_INET6) {
        if (m.payload.size() < kReqV2Size) return Error::kInvalidArgument;
        Query q;
        q.family = family;
        q.protocol = load_u8(m.payload, 1);
        q.ext = load_u8(m.payload, 2);
        q.states = load_host<uint32_t>(m.payload, 4);
        q.id = m.payload.subspan(8, kSockIdSize);
        return answer_inet(m, q, m.payload.subspan(kReqV2Size), state, portid, out);
      }
      if (is_foreign_diag_family(family) && (m.header.flags & netlink::kFlagDump) != 0) {
        out.end_dump(netlink::done_message(m.header.seq, portid));
        return ok_status();
      }
      return Error::kNotFound;
    }
    case kTcpDiagGetSock:
    case kDccpDiagGetSock: {
      if (m.payload.size() < kReqV1Size) return Error::kInvalidArgument;
      Query q;
      q.family = load_u8(m.payload, 0);
      q.protocol = m.header.type == kTcpDiagGetSock ? IPPROTO_TCP : IPPROTO_DCCP;
      q.ext = load_u8(m.payload, 3);
      q.id = m.payload.subspan(4, kSockIdSize);
      q.states = load_host<uint32_t>(m.payload, 52);
      q.answer_type = m.header.type;
      if (q.family != AF_INET && q.family != AF_INET6) return Error::kInvalidArgument;
      return answer_inet(m, q, m.payload.subspan(kReqV1Size), state, portid, out);
    }
    case SOCK_DESTROY:
      return Error::kOperationNotPermitted;
    default:
      return Error::kInvalidArgument;
  }
}

}  // namespace

std::vector<std::vector<std::byte>> answer_sock_diag_request(ByteView request,
                                                             const NetState& state, uint32_t portid,
                                                             const SockDiagOptions& options) {
  return netlink::answer_messages(
      request, portid, options.max_datagram,
      [&](const Message& m, AnswerWriter& out) { return answer_one(m, state, portid, out); });
}

}  // namespace weir::sandbox
