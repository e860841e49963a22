#include "ipv6/source_selection.h"

#include <array>
#include <bit>

namespace weir::ipv6 {

namespace {

struct PolicyRow {
  std::array<uint8_t, 16> prefix;
  uint8_t length;
  Policy policy;
};

// RFC 6724 2.1, the default policy table.
constexpr std::array<PolicyRow, 9> kDefaultPolicy{{
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, {50, 0}},  // ::1/128
    {{}, 0, {40, 1}},                                                  // ::/0
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, {35, 4}},         // ::ffff:0:0/96
    {{0x20, 0x02}, 16, {30, 2}},                                       // 2002::/16
    {{0x20, 0x01, 0, 0}, 32, {5, 5}},                                  // 2001::/32
    {{0xfc}, 7, {3, 13}},                                              // fc00::/7
    {{}, 96, {1, 3}},                                                  // ::/96
    {{0xfe, 0xc0}, 10, {1, 11}},                                       // fec0::/10
    {{0x3f, 0xfe}, 16, {1, 12}},                                       // 3ffe::/16
}};

bool matches(const std::array<uint8_t, 16>& prefix, uint8_t length, const Ipv6Address& a) {
  return common_prefix_length(Ipv6Address(prefix), a) >= length;
}

}  // namespace

uint8_t address_scope(const Ipv6Address& address) {
  const auto& o = address.octets();
  if (address.is_multicast()) return o[1] & 0x0f;
  if (address.is_link_local() || address.is_loopback()) return kScopeLinkLocal;
  if (o[0] == 0xfe && (o[1] & 0xc0) == 0xc0) return kScopeSiteLocal;
  return kScopeGlobal;
}

Policy default_policy(const Ipv6Address& address) {
  const PolicyRow* best = nullptr;
  for (const PolicyRow& row : kDefaultPolicy) {
    if (!matches(row.prefix, row.length, address)) continue;
    if (best == nullptr || row.length > best->length) best = &row;
  }
  return best->policy;  // ::/0 always matches
}

uint8_t common_prefix_length(const Ipv6Address& a, const Ipv6Address& b) {
  for (size_t i = 0; i < 16; ++i) {
    const uint8_t x = a.octets()[i] ^ b.octets()[i];
    if (x != 0) return static_cast<uint8_t>(i * 8 + std::countl_zero(x));
  }
  return 128;
}

bool better_source(const SourceCandidate& sa, const SourceCandidate& sb,
                   const Ipv6Address& destination) {
  // Rule 1.
  if (sa.address == destination) return true;
  if (sb.address == destination) return false;
  // Rule 2.
  const uint8_t scope_a = address_scope(sa.address);
  const uint8_t scope_b = address_scope(sb.address);
  const uint8_t scope_d = address_scope(destination);
  if (scope_a < scope_b) return scope_a >= scope_d;
  if (scope_b < scope_a) return scope_b < scope_d;
  // Rule 3.
  if (sa.deprecated != sb.deprecated) return !sa.deprecated;
  // Rule 5.
  if (sa.on_outgoing_interface != sb.on_outgoing_interface) return sa.on_outgoing_interface;
  // Rule 6.
  const uint8_t label_d = default_policy(destination).label;
  const bool match_a = default_policy(sa.address).label == label_d;
  const bool match_b = default_policy(sb.address).label == label_d;
  if (match_a != match_b) return match_a;
  // Rule 8.
  const uint8_t cpl_a = std::min(common_prefix_length(sa.address, destination), sa.prefix_length);
  const uint8_t cpl_b = std::min(common_prefix_length(sb.address, destination), sb.prefix_length);
  return cpl_a > cpl_b;
}

std::optional<Ipv6Address> select_source_address(const Ipv6Address& destination,
                                                 std::span<const SourceCandidate> candidates) {
  const SourceCandidate* best = nullptr;
  for (const SourceCandidate& c : candidates) {
    if (best == nullptr || better_source(c, *best, destination)) best = &c;
  }
  if (best == nullptr) return std::nullopt;
  return best->address;
}

}  // namespace weir::ipv6
