// Stable, semantically opaque interface identifiers (RFC 7217).
//
// RID = F(Prefix, Net_Iface, Network_ID, DAD_Counter, secret_key), with F = SipHash-2-4, whose
// 64-bit output is exactly one interface identifier. The key is derived from the stack's
// secret (Stack::secret()) under its own label, so the IIDs reveal nothing about the keys of
// ISNs or SYN cookies; an embedder that wants the same addresses after a restart supplies a
// persistent key instead. The same prefix on the same NIC always gives the same IID; another
// prefix gives an unrelated one, so a host cannot be followed across networks by its IID
// (the problem of EUI-64 identifiers, RFC 7721). An IID that is reserved (RFC 5453 and the
// IANA registry it creates) or already used is treated like a DAD failure: the DAD counter is
// bumped and the IID recomputed (RFC 7217 5).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "stack/address.h"
#include "stack/rng.h"

namespace weir::ipv6 {

// RFC 7217 6: IDGEN_RETRIES.
inline constexpr uint8_t kIdgenRetries = 3;

// The key for stable IIDs derived from a stack secret.
SipKey stable_iid_key(const SipKey& stack_secret);

// F() of RFC 7217: the 64-bit RID for the first 64 bits of prefix.
uint64_t stable_iid(const SipKey& key, const Ipv6Address& prefix, std::string_view interface,
                    std::string_view network_id, uint8_t dad_counter);

// RFC 5453 / IANA "Reserved IPv6 Interface Identifiers": the subnet-router anycast IID 0,
// 0200:5EFF:FE00:0000-0200:5EFF:FEFF:FFFF (the IANA Ethernet block, with proxy MIPv6's
// 0200:5EFF:FE00:5213) and the reserved subnet anycast range FDFF:FFFF:FFFF:FF80-FFFF
// (RFC 2526).
bool is_reserved_iid(uint64_t iid);

// The upper 64 bits of prefix joined with iid.
Ipv6Address with_iid(const Ipv6Address& prefix, uint64_t iid);
uint64_t iid_of(const Ipv6Address& address);

struct StableAddress {
  Ipv6Address address;
  uint8_t dad_counter = 0;  // the counter that produced it
};

// The first acceptable address for prefix starting at DAD counter `dad_counter`: counters that
// give a reserved IID, or one `in_use` says is taken, are skipped. nullopt when every counter
// up to dad_counter + kIdgenRetries is unacceptable.
template <typename InUse>
std::optional<StableAddress> generate_stable_address(const SipKey& key, const Ipv6Address& prefix,
                                                     std::string_view interface,
                                                     std::string_view network_id,
                                                     uint8_t dad_counter, InUse&& in_use) {
  for (unsigned c = dad_counter; c <= unsigned{dad_counter} + kIdgenRetries && c <= 255; ++c) {
    const uint8_t counter = static_cast<uint8_t>(c);
    const uint64_t iid = stable_iid(key, prefix, interface, network_id, counter);
    if (is_reserved_iid(iid)) continue;
    const Ipv6Address address = with_iid(prefix, iid);
    if (in_use(address)) continue;
    return StableAddress{address, counter};
  }
  return std::nullopt;
}

}  // namespace weir::ipv6
