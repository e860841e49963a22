// IPv4 for a host (RFC 791, RFC 1122 3.2/3.3): receive validation, delivery to transports,
// fragmentation on send, reassembly on receive, ICMPv4 and ARP.
//
// Theory of operation.
//
// Receive (handle_packet). A packet is checked in the order a header is read: enough bytes,
// version 4, IHL >= 5, total length within [IHL*4, bytes received], header checksum (always:
// link offload only ever vouches for transport checksums), then the options are walked and
// skipped. Link padding beyond the total length is trimmed. The source must not be broadcast,
// multicast, or the directed broadcast of the receiving NIC's subnet. The destination must be
// ours: an address of any NIC (weak host model, like Linux), 255.255.255.255, the directed
// broadcast of the receiving NIC's subnet, or a multicast group the NIC joined (224.0.0.1
// always). We are a host, so anything else is counted and
// dropped, never forwarded, and TTL plays no part (RFC 1122 3.2.1.7). Fragments go through
// the reassembler. ICMP is handled here; other protocols go to Stack::transport_protocol:
// no such protocol -> protocol unreachable, no listener -> port unreachable (both through
// ICMP's suppression rules and rate limit).
//
// Send (write_packet). The transport hands a packet starting at its header and a route.
// We push a 20-byte header (no options) whose ID comes from a per-(source, destination,
// protocol) counter picked by keyed hash, as Linux does, so IDs neither repeat quickly for one
// peer nor leak a global counter. A packet larger than the MTU is fragmented unless DF is set
// (then kMessageTooLong) or the link does GSO for it. The next hop's link address comes from:
// nothing, on links without resolution (loopback); the broadcast address for limited and
// directed broadcasts; RFC 1112's mapping for multicast; else the ARP neighbor cache, which
// queues while it resolves. A packet to one of our own addresses is routed like any other:
// the stack's routes should send it through a loopback NIC. If they pick an Ethernet NIC
// instead, ARP asks for our own address, nobody answers, and the packet is dropped when
// resolution fails (counted in the neighbor cache).
//
// Checksum offload. When a transport sets meta().needs_checksum, csum_start counts from the
// start of the network header. If such a packet must be fragmented, the sum is computed here
// first, since no link can finish a checksum across fragments.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "ipv4/arp.h"
#include "ipv4/icmp.h"
#include "ipv4/reassembly.h"
#include "ipv4/wire.h"
#include "stack/counters.h"
#include "stack/id_buckets.h"
#include "stack/link_endpoint.h"
#include "stack/neighbor_cache.h"
#include "stack/protocol.h"

namespace weir {
class Stack;
}

namespace weir::ipv4 {

struct Ipv4Options {
  uint8_t default_ttl = 64;           // RFC 1700 / Linux ip_default_ttl
  uint8_t default_multicast_ttl = 1;  // RFC 1112 6.1
  ReassemblyOptions reassembly;       // 4 MiB, 30 s, 64 fragments per datagram
  IcmpOptions icmp;                   // 1000 errors/s, burst 50
  NeighborOptions arp;  // reachable 30 s, 3 probes 1 s apart, 212992 bytes/1024 packets queued
};

#define WEIR_IPV4_COUNTERS(X)                                                                      \
  X(rx_packets)                                                                                    \
  X(rx_delivered)                                                                                  \
  X(rx_fragments)                                                                                  \
  X(rx_reassembled) X(rx_no_endpoint) X(rx_transport_malformed) X(drop_truncated)                  \
      X(drop_bad_version) X(drop_bad_ihl) X(drop_bad_total_length) X(drop_bad_checksum)            \
          X(drop_bad_options) X(drop_bad_source) X(drop_not_for_us) X(rx_foreign_destination)      \
              X(drop_multicast_not_joined) X(drop_link_broadcast_unicast) X(drop_unknown_protocol) \
                  X(tx_packets) X(tx_fragments) X(tx_fragmented_datagrams) X(tx_drop_too_long)     \
                      X(tx_drop_fragmentation_needed) X(tx_drop_bad_route) X(tx_drop_no_nic)       \
                          X(tx_drop_no_route) X(tx_drop_resolution) X(tx_drop_link_error)
WEIR_DEFINE_COUNTERS(Ipv4Counters, WEIR_IPV4_COUNTERS)

class Ipv4Protocol final : public IpProtocol {
 public:
  Ipv4Protocol(Stack& stack, const Ipv4Options& options, ArpProtocol& arp);
  ~Ipv4Protocol() override;

  uint16_t ethertype() const override { return kEtherTypeIpv4; }
  AddressFamily family() const override { return AddressFamily::kIpv4; }
  size_t header_length() const override { return kMinHeaderLength; }
  void handle_packet(Nic& nic, PacketBuffer&& pkt) override;
  bool update_segment_header(MutableByteView header, size_t packet_length,
                             uint32_t index) const override;
  Status write_packet(const RouteInfo& route, const IpWriteParams& params,
                      PacketBuffer&& pkt) override;
  void address_added(Nic& nic, const IpPrefix& prefix) override;

  // Sends a packet we generate ourselves (ICMP): routes toward remote from local, which must
  // be one of our addresses.
  Status send_from(Ipv4Address local, Ipv4Address remote, const IpWriteParams& params,
                   PacketBuffer pkt);

  // Is address the directed broadcast of one of nic's IPv4 subnets?
  static bool is_subnet_broadcast(const Nic& nic, Ipv4Address address);

  Stack& stack() { return stack_; }
  const Ipv4Options& options() const { return options_; }
  ArpProtocol& arp() { return arp_; }
  Icmp& icmp() { return icmp_; }
  Reassembler& reassembler() { return reassembler_; }
  const Ipv4Counters& counters() const { return counters_; }
  Ipv4Counters& counters() { return counters_; }

 private:
  // What the receiving NIC's addresses say of a datagram's addresses, in one walk over them:
  // is_subnet_broadcast() of each, and whether the destination is one of the NIC's own.
  struct NicMatch {
    bool source_broadcast = false;
    bool destination_broadcast = false;
    bool destination_own = false;
  };
  static NicMatch match_nic(const Nic& nic, Ipv4Address source, Ipv4Address destination);
  void deliver(Nic& nic, const ReceivedDatagram& dgram, PacketBuffer&& payload);
  void on_reassembly_timeout(ByteView header, const PacketBuffer& first_payload);
  bool is_any_subnet_broadcast(Ipv4Address address) const;
  // The first of `count` consecutive identifications for datagrams of this flow.
  uint16_t next_id(Ipv4Address source, Ipv4Address destination, uint8_t protocol,
                   uint16_t count = 1);
  Status send_datagram(Nic& nic, const RouteInfo& route, PacketBuffer&& pkt);
  // write_packet() for a datagram larger than the path MTU: fragments it, or refuses.
  Status write_fragments(Nic& nic, const RouteInfo& route, const IpWriteParams& params,
                         const HeaderFields& fields, uint32_t mtu, PacketBuffer&& pkt);

  static constexpr size_t kIdBuckets = 2048;

  Stack& stack_;
  Ipv4Options options_;
  ArpProtocol& arp_;
  Icmp icmp_;
  Reassembler reassembler_;
  IdBuckets<uint16_t, kIdBuckets> ids_;
  // The identification buckets of recent flows, picked by keyed hash. The hash (SipHash, ~200
  // instructions) was paid on every datagram, and a connection sends its whole life to one
  // flow; a direct-mapped memo over (source, destination, protocol) keeps the same buckets,
  // so the IDs on the wire do not change. It holds the bucket itself (ids_ never moves or
  // frees a bucket once made), not the hash to look it up by again.
  struct IdFlow {
    uint32_t source = 0;
    uint32_t destination = 0;
    uint8_t protocol = 0;
    bool valid = false;
    uint16_t* counter = nullptr;
  };
  std::array<IdFlow, 16> id_flows_{};
  // Fills a memo slot for a flow not in it: the keyed hash and its bucket.
  void remember_id_flow(IdFlow& memo, Ipv4Address source, Ipv4Address destination,
                        uint8_t protocol);
  Ipv4Counters counters_;
};

// Registers IPv4 (EtherType 0x0800) and ARP (0x0806) with the stack, and their counter groups
// ("ipv4", "icmpv4", "arp", "arp_cache", "ipv4_reassembly"). Call once per stack.
Ipv4Protocol& install(Stack& stack, Ipv4Options options = {});

}  // namespace weir::ipv4
