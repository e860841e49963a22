// ARP (RFC 826) for IPv4 over Ethernet, and the neighbor resolver behind IPv4's output.
//
// Theory of operation. ArpProtocol is the stack's handler for EtherType 0x0806 and the
// NeighborResolver for the IPv4 neighbor cache (stack/neighbor_cache.h), which owns the
// entries, their timers and the packets waiting for resolution. Received packets follow RFC
// 826's merge rule with the usual hardening:
//  - A packet whose sender hardware address is ours (our own broadcast echoed back), or
//    whose sender addresses are broadcast/multicast, is dropped.
//  - A sender IP that is one of our addresses is an address conflict: counted, not learned.
//  - Sender IP 0.0.0.0 is an RFC 5227 probe: answered if it asks for our address, never
//    learned.
//  - Gratuitous ARP (sender IP == target IP) only refreshes an existing entry.
//  - A request or reply aimed at one of the receiving NIC's addresses creates or confirms
//    the sender's entry; a request is answered with a unicast reply.
//  - Anything else only refreshes an existing entry (the merge flag of RFC 826).
// address_added announces a new address with one gratuitous request.
#pragma once

#include <optional>

#include "ipv4/wire.h"
#include "stack/counters.h"
#include "stack/link_endpoint.h"
#include "stack/neighbor_cache.h"
#include "stack/protocol.h"

namespace weir {
class Stack;
}

namespace weir::ipv4 {

#define WEIR_ARP_COUNTERS(X)                                                                     \
  X(rx_packets)                                                                                  \
  X(rx_drop_truncated)                                                                           \
  X(rx_drop_unsupported) X(rx_drop_bad_opcode) X(rx_drop_from_self) X(rx_drop_bad_sender)        \
      X(rx_requests) X(rx_replies) X(rx_probes) X(rx_gratuitous) X(rx_gratuitous_ignored)        \
          X(rx_not_for_us) X(address_conflicts) X(tx_requests) X(tx_replies) X(tx_announcements) \
              X(tx_drop_error)
WEIR_DEFINE_COUNTERS(ArpCounters, WEIR_ARP_COUNTERS)

class ArpProtocol final : public NetworkProtocol, public NeighborResolver {
 public:
  ArpProtocol(Stack& stack, const NeighborOptions& options);

  uint16_t ethertype() const override { return kEtherTypeArp; }
  void handle_packet(Nic& nic, PacketBuffer&& pkt) override;
  void send_solicitation(Nic& nic, const IpAddress& target,
                         const std::optional<MacAddress>& unicast_to) override;

  // Sends a gratuitous ARP request for address on nic (RFC 5227 announcement).
  void announce(Nic& nic, Ipv4Address address);

  NeighborCache& cache() { return cache_; }
  const NeighborCache& cache() const { return cache_; }
  const ArpCounters& counters() const { return counters_; }
  ArpCounters& counters() { return counters_; }

 private:
  void send(Nic& nic, const ArpFields& fields, const MacAddress& link_destination);

  Stack& stack_;
  NeighborCache cache_;
  ArpCounters counters_;
};

}  // namespace weir::ipv4
