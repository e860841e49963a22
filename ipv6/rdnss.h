// The recursive DNS servers learned from Router Advertisements (RFC 8106), for the resolver a
// sandboxed program sees.
//
// Each RDNSS option carries servers and one lifetime: a new lifetime replaces the old one
// (5.3.1), 0 removes the servers at once, 0xffffffff never expires. Expiry needs no timer:
// servers(now) leaves out what has expired and expire(now) forgets it, so the list is pure
// state over the caller's clock. The list holds at most max_servers; when an RA brings a new
// server into a full list, the entry that would expire first makes room (5.3.2). Servers keep
// the order in which they were first announced: the order a router lists them is its
// preference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "ipv6/router_advert.h"
#include "stack/address.h"
#include "stack/clock.h"
#include "stack/packet_buffer.h"

namespace weir::ipv6 {

struct DnsServer {
  Ipv6Address address;
  NicId nic = 0;                     // where it was learned: the scope of a link-local server
  std::optional<TimePoint> expires;  // nullopt: infinite lifetime
  bool operator==(const DnsServer&) const = default;
};

class RdnssList {
 public:
  explicit RdnssList(size_t max_servers = 8) : max_servers_(max_servers) {}

  // Applies the RDNSS servers of one RA received on nic at now.
  void update(NicId nic, std::span<const RdnssServer> servers, TimePoint now);
  // Forgets every server learned on nic (the NIC went away).
  void flush(NicId nic);
  // Forgets expired servers.
  void expire(TimePoint now);

  // The servers valid at now, in preference order.
  std::vector<Ipv6Address> servers(TimePoint now) const;
  std::vector<DnsServer> entries(TimePoint now) const;
  size_t size() const { return entries_.size(); }

 private:
  size_t max_servers_;
  std::vector<DnsServer> entries_;
};

}  // namespace weir::ipv6
