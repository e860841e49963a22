// Source address selection for IPv6 (RFC 6724 5), as a pure function over candidates.
//
// The candidates are the addresses a packet to `destination` may leave from (the caller
// builds the set: usable addresses of the outgoing NIC, plus other NICs' non-link-local ones
// on a weak-host stack like Linux; tentative addresses are never candidates). The rules a host
// applies, in order, each deciding only when the earlier ones tie:
//   1. prefer the destination itself;
//   2. prefer the appropriate scope: the smallest scope not smaller than the destination's;
//   3. avoid deprecated addresses;
//   (4. home addresses: no Mobile IPv6 here)
//   5. prefer an address of the outgoing interface;
//   (5.5 prefixes of the next hop: optional, not done)
//   6. prefer a label matching the destination's (default policy table, RFC 6724 2.1);
//   (7. temporary addresses: we make none)
//   8. prefer the longest prefix matched with the destination, counted up to the candidate's
//      own prefix length.
// Remaining ties keep the earlier candidate, so the result is deterministic.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "stack/address.h"

namespace weir::ipv6 {

// Scope values (RFC 4291 2.7, RFC 6724 3.1).
inline constexpr uint8_t kScopeInterfaceLocal = 0x1;
inline constexpr uint8_t kScopeLinkLocal = 0x2;
inline constexpr uint8_t kScopeSiteLocal = 0x5;
inline constexpr uint8_t kScopeGlobal = 0xe;

// The scope of an address: multicast from its scope field; unicast link-local and loopback are
// link-local, fec0::/10 site-local, everything else (including ULAs) global.
uint8_t address_scope(const Ipv6Address& address);

struct Policy {
  uint8_t precedence = 0;
  uint8_t label = 0;
};
// The longest match in the default policy table of RFC 6724 2.1.
Policy default_policy(const Ipv6Address& address);

// How many leading bits a and b share (0-128).
uint8_t common_prefix_length(const Ipv6Address& a, const Ipv6Address& b);

struct SourceCandidate {
  Ipv6Address address;
  uint8_t prefix_length = 64;
  bool deprecated = false;  // preferred lifetime over (RFC 4862 5.5.4)
  bool on_outgoing_interface = true;
};

// Is sa a better source than sb for destination (rules 1-8 above)?
bool better_source(const SourceCandidate& sa, const SourceCandidate& sb,
                   const Ipv6Address& destination);

// The best candidate's address; nullopt when there are none.
std::optional<Ipv6Address> select_source_address(const Ipv6Address& destination,
                                                 std::span<const SourceCandidate> candidates);

}  // namespace weir::ipv6
