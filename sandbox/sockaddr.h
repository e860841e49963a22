// Socket addresses as a program hands them to the kernel: sockaddr_in (16 bytes), sockaddr_in6
// (28), sockaddr_nl (12), decoded from bytes copied out of the program's memory and encoded
// back for getsockname/getpeername/accept/recvfrom. Pure functions over bytes: every field is
// read through bounds-checked accessors, never by casting the bytes to a struct.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/result.h"

namespace weir::sandbox {

inline constexpr size_t kSockaddrInSize = 16;
inline constexpr size_t kSockaddrIn6Size = 28;
inline constexpr size_t kSockaddrNlSize = 12;
// The largest address any call copies in (sizeof(struct sockaddr_storage)).
inline constexpr size_t kSockaddrMaxSize = 128;

// What a program's sockaddr said.
struct DecodedAddress {
  int family = 0;           // AF_UNSPEC, AF_INET, AF_INET6, AF_NETLINK
  SocketAddress inet;       // AF_INET / AF_INET6 (an IPv4-mapped IPv6 address stays IPv6)
  uint32_t scope_id = 0;    // sin6_scope_id
  uint32_t netlink_pid = 0;     // AF_NETLINK nl_pid
  uint32_t netlink_groups = 0;  // AF_NETLINK nl_groups
};

// Decodes `bytes` (the first addrlen bytes the program passed). kInvalidArgument when the
// length is too short for the family it names, kAddressFamilyNotSupported for a family the
// sandbox does not serve.
Result<DecodedAddress> decode_sockaddr(ByteView bytes);

// The sockaddr a socket of `family` (AF_INET/AF_INET6) reports for `address`: an AF_INET6
// socket reports an IPv4 peer as ::ffff:a.b.c.d.
std::vector<std::byte> encode_inet(int socket_family, const SocketAddress& address);
std::vector<std::byte> encode_netlink(uint32_t pid, uint32_t groups);

// IPv4-mapped IPv6 (::ffff:a.b.c.d) <-> IPv4.
bool is_v4_mapped(const IpAddress& address);
IpAddress unmap_v4(const IpAddress& address);  // the address itself when not mapped
IpAddress map_v4(const Ipv4Address& address);

}  // namespace weir::sandbox
