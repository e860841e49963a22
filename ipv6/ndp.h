// Neighbor discovery of link addresses (RFC 4861 7): Neighbor Solicitation and Advertisement,
// and the resolver behind IPv6's neighbor cache. Router discovery, redirects, SLAAC/DAD and
// MLD live in their own components (see ipv6/NOTES.md); they observe NS/NA through
// NdpObserver.
//
// Theory of operation. Ndp is the NeighborResolver of the IPv6 neighbor cache
// (stack/neighbor_cache.h: INCOMPLETE, REACHABLE, STALE, DELAY, PROBE, timers, packets queued
// while resolving) and the Icmpv6Handler of types 135 and 136.
//  - Solicitations go to the target's solicited-node group (33:33:ff:xx:xx:xx) while
//    resolving and to the cached link address when probing, from an address of the NIC
//    (one on the target's prefix when there is one), hop limit 255, with our link address in
//    a Source Link-Layer Address option.
//  - Every received NS/NA passes RFC 4861 7.1.1/7.1.2 (ipv6/ndp_wire.h check_ndp: hop limit
//    255, code 0, lengths, option framing, target not multicast, the unspecified-source rules,
//    S clear on multicast NA); each failure has its counter.
//  - An NS for an address of the receiving NIC is answered (7.2.4): to the solicitor with S and
//    O set, or, for a duplicate address detection probe (source ::), to all-nodes with S clear.
//    The NA always carries our link address. An NS from a specified source with a link
//    address creates or refreshes the solicitor's entry as STALE (7.2.3). An NS for another
//    target is dropped.
//  - An NA updates only an existing entry, by 7.2.5: an INCOMPLETE entry takes the link
//    address (REACHABLE if S, else STALE) and sends what was queued; otherwise O decides
//    whether a different link address replaces the cached one, S confirms reachability, and
//    a different address without O turns a REACHABLE entry STALE. An NA for one of our own
//    addresses reports a duplicate (counted, and told to observers; it never touches the
//    cache).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ipv6/icmpv6.h"
#include "stack/address.h"
#include "stack/counters.h"
#include "stack/neighbor_cache.h"

namespace weir {
class Nic;
class Stack;
}  // namespace weir

namespace weir::ipv6 {

class Ipv6Protocol;

// RFC 4861 10: REACHABLE_TIME 30 s, RETRANS_TIMER 1 s, MAX_MULTICAST_SOLICIT and
// MAX_UNICAST_SOLICIT 3, DELAY_FIRST_PROBE_TIME 5 s; a stale entry is forgotten after 60 s of
// disuse (Linux's gc_stale_time).
inline NeighborOptions default_ndp_cache_options() {
  NeighborOptions o;
  o.reachable_time = std::chrono::seconds(30);
  o.retransmit_interval = std::chrono::seconds(1);
  o.max_probes = 3;
  o.delay_first_probe = std::chrono::seconds(5);
  o.stale_time = std::chrono::seconds(60);
  return o;
}

struct NdpConfig {
  NeighborOptions cache = default_ndp_cache_options();
};

// Told about every valid NS and NA (whatever its target: a tentative address is not on the
// NIC yet): duplicate address detection and the router list (the R flag) listen here. message
// is the whole ICMPv6 message, type byte first (DAD reads the nonce option). Observers see an
// NS before it is answered and an NA after the cache took it.
class NdpObserver {
 public:
  virtual ~NdpObserver() = default;
  virtual void on_neighbor_solicitation(Nic& nic, const Ipv6Address& source,
                                        const Ipv6Address& target, ByteView message) {
    (void)nic;
    (void)source;
    (void)target;
    (void)message;
  }
  virtual void on_neighbor_advertisement(Nic& nic, const Ipv6Address& source,
                                         const Ipv6Address& target, bool router, bool solicited,
                                         bool override_flag,
                                         const std::optional<MacAddress>& target_lla,
                                         ByteView message) {
    (void)nic;
    (void)source;
    (void)target;
    (void)router;
    (void)solicited;
    (void)override_flag;
    (void)target_lla;
    (void)message;
  }
};

#define WEIR_NDP_COUNTERS(X)                                                                     \
  X(rx_solicitations)                                                                            \
  X(rx_advertisements)                                                                           \
  X(rx_dad_probes)                                                                               \
  X(drop_bad_hop_limit) X(drop_bad_code) X(drop_truncated) X(drop_bad_option_length)             \
      X(drop_bad_link_layer_option) X(drop_multicast_target) X(drop_unspecified_with_lla)        \
          X(drop_dad_not_solicited_node) X(drop_solicited_multicast) X(drop_invalid_other)       \
              X(drop_target_not_ours) X(drop_own_link_address) X(advertisements_for_own_address) \
                  X(advertisements_ignored) X(tx_solicitations) X(tx_advertisements)             \
                      X(tx_drop_no_source) X(tx_drop_error)
WEIR_DEFINE_COUNTERS(NdpCounters, WEIR_NDP_COUNTERS)

class Ndp final : public NeighborResolver, public Icmpv6Handler {
 public:
  Ndp(Stack& stack, Ipv6Protocol& ip, const NdpConfig& options);

  void send_solicitation(Nic& nic, const IpAddress& target,
                         const std::optional<MacAddress>& unicast_to) override;
  void handle_icmpv6(Nic& nic, const ReceivedDatagram& dgram, ByteView message) override;

  // Sends an unsolicited NA for one of our addresses to all-nodes (RFC 4861 7.2.6), O set.
  void announce(Nic& nic, const Ipv6Address& address);

  void add_observer(NdpObserver& observer) { observers_.push_back(&observer); }
  void remove_observer(NdpObserver& observer);

  NeighborCache& cache() { return cache_; }
  const NeighborCache& cache() const { return cache_; }
  const NdpCounters& counters() const { return counters_; }
  NdpCounters& counters() { return counters_; }

 private:
  void handle_solicitation(Nic& nic, const ReceivedDatagram& dgram, ByteView message);
  void handle_advertisement(Nic& nic, const ReceivedDatagram& dgram, ByteView message);
  void send_advertisement(Nic& nic, const Ipv6Address& source, const Ipv6Address& destination,
                          const Ipv6Address& target, bool solicited);

  Stack& stack_;
  Ipv6Protocol& ip_;
  NeighborCache cache_;
  std::vector<NdpObserver*> observers_;
  NdpCounters counters_;
};

}  // namespace weir::ipv6
