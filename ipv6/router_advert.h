// A Router Advertisement as the host acts on it (RFC 4861 4.2 and its options): what the RA
// parser (parse_router_advert in ipv6/ndp_wire.h) fills from a validated message and what the
// router list, SLAAC, the MTU update and the RDNSS list consume. Plain values, no views: it
// outlives the packet.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "stack/address.h"

namespace weir::ipv6 {

// Prefix information (RFC 4861 4.6.2); lifetimes in seconds, 0xffffffff = infinity.
struct PrefixInfo {
  Ipv6Address prefix;
  uint8_t prefix_length = 64;
  bool on_link = true;     // L flag
  bool autonomous = true;  // A flag
  uint32_t valid_lifetime = 0;
  uint32_t preferred_lifetime = 0;
  bool operator==(const PrefixInfo&) const = default;
};

// One server from an RDNSS option (RFC 8106 5.1); lifetime in seconds, 0xffffffff = infinity.
struct RdnssServer {
  Ipv6Address address;
  uint32_t lifetime = 0;
  bool operator==(const RdnssServer&) const = default;
};

// A more-specific route (RFC 4191 2.3); kept for completeness, hosts of type A ignore it.
struct RaRoute {
  Ipv6Address prefix;
  uint8_t prefix_length = 0;
  int8_t preference = 0;
  uint32_t lifetime = 0;
  bool operator==(const RaRoute&) const = default;
};

struct RouterAdvert {
  Ipv6Address source;            // the router's link-local address (IPv6 source)
  uint8_t cur_hop_limit = 0;     // 0: unspecified
  bool managed = false;          // M
  bool other_config = false;     // O
  int8_t preference = 0;         // RFC 4191 default router preference
  uint16_t router_lifetime = 0;  // seconds; 0: not a default router
  uint32_t reachable_time = 0;   // milliseconds; 0: unspecified
  uint32_t retrans_timer = 0;    // milliseconds; 0: unspecified
  std::optional<MacAddress> source_lla;
  std::optional<uint32_t> mtu;
  std::vector<PrefixInfo> prefixes;
  std::vector<RdnssServer> rdnss;
  std::vector<RaRoute> routes;

  // Options skipped because their own layout was wrong (RFC 4861 4.6: a receiver ignores an
  // option it cannot use; the message still counts). The receive path counts them.
  uint32_t bad_prefix_options = 0;
  uint32_t bad_mtu_options = 0;
  uint32_t bad_rdnss_options = 0;
  uint32_t bad_route_options = 0;
};

}  // namespace weir::ipv6
