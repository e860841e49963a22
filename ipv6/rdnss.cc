#include "ipv6/rdnss.h"

#include <algorithm>

#include "ipv6/ndp_wire.h"

namespace weir::ipv6 {

namespace {
bool valid_at(const DnsServer& s, TimePoint now) { return !s.expires || *s.expires > now; }
}  // namespace

void RdnssList::update(NicId nic, std::span<const RdnssServer> servers, TimePoint now) {
  expire(now);
  for (const RdnssServer& s : servers) {
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const DnsServer& e) {
      return e.address == s.address && e.nic == nic;
    });
    if (s.lifetime == 0) {
      if (it != entries_.end()) entries_.erase(it);
      continue;
    }
    // A multicast or unspecified "server" is nonsense; RFC 8106 leaves the check to us.
    if (s.address.is_multicast() || s.address.is_unspecified() || s.address.is_loopback()) {
      continue;
    }
    std::optional<TimePoint> expires;
    if (s.lifetime != kInfiniteLifetime) expires = now + std::chrono::seconds(s.lifetime);
    if (it != entries_.end()) {
      it->expires = expires;
      continue;
    }
    if (max_servers_ == 0) continue;
    if (entries_.size() >= max_servers_) {
      // Room for the new one: drop the entry expiring first (an infinite one last).
      auto victim = std::min_element(entries_.begin(), entries_.end(),
                                     [](const DnsServer& a, const DnsServer& b) {
                                       if (!a.expires) return false;
                                       if (!b.expires) return true;
                                       return *a.expires < *b.expires;
                                     });
      const bool victim_outlives = !victim->expires || (expires && *victim->expires > *expires);
      if (victim_outlives) continue;  // every listed server outlives the new one
      entries_.erase(victim);
    }
    entries_.push_back(DnsServer{s.address, nic, expires});
  }
}

void RdnssList::flush(NicId nic) {
  std::erase_if(entries_, [&](const DnsServer& e) { return e.nic == nic; });
}

void RdnssList::expire(TimePoint now) {
  std::erase_if(entries_, [&](const DnsServer& e) { return !valid_at(e, now); });
}

std::vector<Ipv6Address> RdnssList::servers(TimePoint now) const {
  std::vector<Ipv6Address> out;
  for (const DnsServer& e : entries_) {
    if (valid_at(e, now) && std::find(out.begin(), out.end(), e.address) == out.end()) {
      out.push_back(e.address);
    }
  }
  return out;
}

std::vector<DnsServer> RdnssList::entries(TimePoint now) const {
  std::vector<DnsServer> out;
  for (const DnsServer& e : entries_) {
    if (valid_at(e, now)) out.push_back(e);
  }
  return out;
}

}  // namespace weir::ipv6
