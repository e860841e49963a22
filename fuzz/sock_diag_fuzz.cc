// fuzz_sock_diag: NETLINK_SOCK_DIAG request datagrams, as an untrusted sandboxed program sends
// them, answered from a NetState holding TCP and UDP sockets of both families in several
// states (one with a full TCP_INFO, one IPv6 socket with an IPv4-mapped peer).
//
// Input: the request datagram itself (the seeds are what ss sends). Every answer must be whole
// netlink messages carrying the socket's port id, within the datagram limit unless it is a
// single message; odd lengths pack dumps into small (512-byte) datagrams.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "sandbox/net_state.h"
#include "sandbox/netlink_wire.h"
#include "sandbox/sock_diag.h"

namespace {

using namespace weir;
using namespace weir::sandbox;

SocketAddress sa(const char* ip, uint16_t port) { return {IpAddress::parse(ip).value(), port}; }

NetState make_state() {
  NetState s;
  auto sock = [](uint8_t proto, SocketAddress local, SocketAddress remote, uint8_t state,
                 uint64_t inode, AddressFamily family) {
    SocketState k;
    k.protocol = proto;
    k.family = family;
    k.local = local;
    k.remote = remote;
    k.linux_state = state;
    k.inode = inode;
    return k;
  };
  const auto v4 = AddressFamily::kIpv4;
  const auto v6 = AddressFamily::kIpv6;
  s.sockets.push_back(sock(IPPROTO_TCP, sa("0.0.0.0", 80), sa("0.0.0.0", 0), 10, 11, v4));
  s.sockets.push_back(sock(IPPROTO_TCP, sa("10.0.0.2", 40000), sa("10.0.0.1", 80), 1, 12, v4));
  s.sockets.back().send_queue = 100;
  s.sockets.push_back(sock(IPPROTO_TCP, sa("10.0.0.2", 40001), sa("10.0.0.1", 80), 6, 0, v4));
  s.sockets.push_back(sock(IPPROTO_TCP, sa("::", 443), sa("::", 0), 10, 14, v6));
  s.sockets.push_back(sock(IPPROTO_TCP, sa("10.0.0.2", 443), sa("10.0.0.9", 5000), 1, 15, v6));
  tcp::TcpInfo info;
  info.tcpi_state = 1;
  info.tcpi_snd_cwnd = 10;
  s.sockets.back().tcp_info = info;
  s.sockets.push_back(sock(IPPROTO_UDP, sa("0.0.0.0", 53), sa("0.0.0.0", 0), 7, 16, v4));
  s.sockets.push_back(sock(IPPROTO_UDP, sa("fd00::2", 5000), sa("fd00::1", 53), 1, 17, v6));
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const NetState state = make_state();
  const ByteView input = std::as_bytes(std::span(data, size));
  SockDiagOptions options;
  options.max_datagram = (size & 1) != 0 ? 512 : netlink::kGoodSize;
  constexpr uint32_t kPortid = 4243;
  for (const auto& d : answer_sock_diag_request(input, state, kPortid, options)) {
    netlink::MessageReader reader(d);
    size_t count = 0;
    while (auto m = reader.next()) {
      ++count;
      if (m->header.pid != kPortid) __builtin_trap();
    }
    if (count == 0 || reader.stopped_early()) __builtin_trap();
    if (count > 1 && d.size() > options.max_datagram) __builtin_trap();
  }
  return 0;
}
