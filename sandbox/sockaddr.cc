#include "sandbox/sockaddr.h"

#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sandbox/native.h"

namespace weir::sandbox {

namespace {

// Offsets inside the kernel ABI structs (x86_64; the same on every Linux ABI).
constexpr size_t kFamilyOffset = 0;
constexpr size_t kPortOffset = 2;         // sin_port / sin6_port, network order
constexpr size_t kIn4AddrOffset = 4;      // sin_addr
constexpr size_t kIn6FlowOffset = 4;      // sin6_flowinfo
constexpr size_t kIn6AddrOffset = 8;      // sin6_addr
constexpr size_t kIn6ScopeOffset = 24;    // sin6_scope_id
constexpr size_t kNlPidOffset = 4;        // nl_pid (after nl_family + nl_pad)
constexpr size_t kNlGroupsOffset = 8;     // nl_groups

}  // namespace

bool is_v4_mapped(const IpAddress& address) {
  if (!address.is_v6()) return false;
  const auto o = address.v6().octets();
  for (size_t i = 0; i < 10; ++i) {
    if (o[i] != 0) return false;
  }
  return o[10] == 0xff && o[11] == 0xff;
}

IpAddress unmap_v4(const IpAddress& address) {
  if (!is_v4_mapped(address)) return address;
  const auto o = address.v6().octets();
  return Ipv4Address::from_bytes(std::as_bytes(std::span(o)).subspan(12, 4));
}

IpAddress map_v4(const Ipv4Address& address) {
  std::array<uint8_t, 16> o{};
  o[10] = 0xff;
  o[11] = 0xff;
  const IpAddress as_ip(address);
  auto v4 = as_ip.bytes();
  for (size_t i = 0; i < 4; ++i) o[12 + i] = std::to_integer<uint8_t>(v4[i]);
  return Ipv6Address(o);
}

Result<DecodedAddress> decode_sockaddr(ByteView bytes) {
  if (bytes.size() < 2) return Error::kInvalidArgument;
  DecodedAddress out;
  out.family = load_host<uint16_t>(bytes, kFamilyOffset);
  switch (out.family) {
    case AF_UNSPEC:
      // connect(AF_UNSPEC) dissolves an association; bind(AF_UNSPEC) with INADDR_ANY is an old
      // spelling of AF_INET that Linux still accepts. Keep the address bytes if there are any.
      if (bytes.size() >= kSockaddrInSize) {
        out.inet.port = load_be16(bytes, kPortOffset);
        out.inet.address = Ipv4Address::from_bytes(bytes.subspan(kIn4AddrOffset, 4));
      }
      return out;
    case AF_INET:
      if (bytes.size() < kSockaddrInSize) return Error::kInvalidArgument;
      out.inet.port = load_be16(bytes, kPortOffset);
      out.inet.address = Ipv4Address::from_bytes(bytes.subspan(kIn4AddrOffset, 4));
      return out;
    case AF_INET6:
      // Linux accepts the 24-byte RFC 2133 form without the scope id.
      if (bytes.size() < kSockaddrIn6Size - 4) return Error::kInvalidArgument;
      out.inet.port = load_be16(bytes, kPortOffset);
      out.inet.address = Ipv6Address::from_bytes(bytes.subspan(kIn6AddrOffset, 16));
      if (bytes.size() >= kSockaddrIn6Size) out.scope_id = load_host<uint32_t>(bytes, kIn6ScopeOffset);
      return out;
    case AF_NETLINK:
      if (bytes.size() < kSockaddrNlSize) return Error::kInvalidArgument;
      out.netlink_pid = load_host<uint32_t>(bytes, kNlPidOffset);
      out.netlink_groups = load_host<uint32_t>(bytes, kNlGroupsOffset);
      return out;
    default:
      return Error::kAddressFamilyNotSupported;
  }
}

std::vector<std::byte> encode_inet(int socket_family, const SocketAddress& address) {
  if (socket_family == AF_INET) {
    std::vector<std::byte> out(kSockaddrInSize);
    store_host<uint16_t>(out, kFamilyOffset, AF_INET);
    store_be16(out, kPortOffset, address.port);
    IpAddress a = unmap_v4(address.address);
    if (a.is_v4()) copy_bytes(out, kIn4AddrOffset, a.bytes());
    return out;
  }
  std::vector<std::byte> out(kSockaddrIn6Size);
  store_host<uint16_t>(out, kFamilyOffset, AF_INET6);
  store_be16(out, kPortOffset, address.port);
  store_host<uint32_t>(out, kIn6FlowOffset, 0);
  IpAddress a = address.address.is_v4() ? map_v4(address.address.v4()) : address.address;
  copy_bytes(out, kIn6AddrOffset, a.bytes());
  store_host<uint32_t>(out, kIn6ScopeOffset, 0);
  return out;
}

std::vector<std::byte> encode_netlink(uint32_t pid, uint32_t groups) {
  std::vector<std::byte> out(kSockaddrNlSize);
  store_host<uint16_t>(out, kFamilyOffset, AF_NETLINK);
  store_host<uint32_t>(out, kNlPidOffset, pid);
  store_host<uint32_t>(out, kNlGroupsOffset, groups);
  return out;
}

}  // namespace weir::sandbox
