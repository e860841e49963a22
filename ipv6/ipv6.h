// IPv6 for a host (RFC 8200): receive validation, the extension header chain, delivery to
// transports, fragmentation on send and reassembly on receive, a path MTU cache (RFC 8201),
// ICMPv6 (ipv6/icmpv6.h) and neighbor discovery of link addresses (ipv6/ndp.h).
//
// Theory of operation.
//
// Receive (handle_packet). Checked in the order the header is read: 40 bytes, version 6,
// payload length within what arrived (link padding beyond it is trimmed). The source must not
// be multicast, loopback (unless the NIC is a loopback) or IPv4-mapped; the destination must
// be ours: a unicast address of any NIC (weak host, like Linux) except that a link-local one
// must belong to the receiving NIC (its scope is that link), or a multicast group the NIC
// joined (ff02::1 always; the solicited-node group of each address is joined when the address
// is added). Reserved-scope (0) multicast and interface-local multicast from the wire are
// dropped (RFC 4291 2.7). We are a host: nothing is forwarded, and the hop limit plays no part
// here (NDP checks its own 255).
//
// Then the extension header chain is walked (ExtHeaderIter, bounded by kMaxExtensionHeaders):
//  - Hop-by-hop options only right after the IPv6 header; elsewhere it is an unrecognized next
//    header (Parameter Problem code 1). Options: Pad1/PadN skipped (non-zero or over-long
//    padding drops the packet, as in Linux), Router Alert noted, a Jumbo Payload option (we
//    have no jumbograms, and the payload length is never 0 here) answered with code 0 as
//    Linux does, anything else by the two high bits of its type (RFC 8200 4.2).
//  - Destination options: the same option rules.
//  - Routing: segments left 0 is skipped; otherwise, whatever the type (type 0 is refused by
//    RFC 5095; we route nothing), Parameter Problem code 0 at the routing type.
//  - Fragment: an atomic fragment is processed in place (RFC 6946); otherwise the RFC 8200 4.5
//    checks that need the packet (see ipv6/reassembly.h), then the reassembler, and a finished
//    datagram resumes the walk after its unfragmentable part.
// The upper layer: ICMPv6 here, No Next Header dropped quietly, a registered transport gets
// the packet; an unknown one is answered with Parameter Problem code 1 at the next header
// field that named it (Linux does the same; IPv6 has no protocol unreachable). A transport
// that finds no endpoint gets Destination Unreachable code 4 (port unreachable).
//
// Send (write_packet). The transport hands a packet starting at its header and a route. The
// size limit is the smallest of the NIC's MTU, the route's and the path MTU learned for the
// destination. A larger datagram is fragmented here, the source being the only node that may
// (RFC 8200 5), with a Fragment header whose identification comes from a per-(source,
// destination) counter picked by keyed hash (RFC 7739), like Linux's ipv6_select_ident.
// A path MTU learned from Packet Too Big (RFC 8201) lasts pmtu_expiry (10 minutes, Linux's
// ip6_rt_mtu_expires) on the stack clock and is never below 1280. The link address of the
// next hop: none on links without resolution; 33:33 + low 32 bits for multicast (RFC 2464 7);
// else the neighbor cache, which NDP fills.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "ipv6/icmpv6.h"
#include "ipv6/ndp.h"
#include "ipv6/reassembly.h"
#include "ipv6/wire.h"
#include "stack/counters.h"
#include "stack/id_buckets.h"
#include "stack/link_endpoint.h"
#include "stack/neighbor_cache.h"
#include "stack/protocol.h"

namespace weir {
class Stack;
}

namespace weir::ipv6 {

struct Ipv6Options {
  uint8_t default_hop_limit = 64;           // Linux's hop_limit
  uint8_t default_multicast_hop_limit = 1;  // RFC 3493 IPV6_MULTICAST_HOPS default
  Duration pmtu_expiry = std::chrono::minutes(10);
  size_t pmtu_cache_entries = 1024;
  ReassemblyOptions reassembly;  // 4 MiB, 60 s
  Icmpv6Options icmp;            // 1000 errors/s, burst 50
  NdpConfig ndp;                 // RFC 4861 constants
};

#define WEIR_IPV6_COUNTERS(X)                                                                      \
  X(rx_packets)                                                                                    \
  X(rx_delivered)                                                                                  \
  X(rx_fragments)                                                                                  \
  X(rx_atomic_fragments)                                                                           \
  X(rx_reassembled) X(rx_no_endpoint) X(rx_transport_malformed) X(rx_no_next_header)               \
      X(drop_truncated) X(drop_bad_version) X(drop_bad_payload_length) X(drop_bad_source)          \
          X(drop_bad_destination) X(drop_not_for_us) X(rx_foreign_destination) X(drop_multicast_not_joined)                  \
              X(drop_truncated_extension_header) X(drop_too_many_extension_headers)                \
                  X(drop_bad_options) X(drop_unknown_option) X(drop_hop_by_hop_not_first)          \
                      X(drop_routing_header) X(drop_fragment_bad_length) X(drop_fragment_too_long) \
                          X(drop_fragment_incomplete_chain) X(drop_jumbo_payload)                  \
                              X(drop_unknown_next_header) X(tx_packets) X(tx_fragments)            \
                                  X(tx_fragmented_datagrams) X(tx_drop_too_long)                   \
                                      X(tx_drop_bad_route) X(tx_drop_no_nic) X(tx_drop_no_route)   \
                                          X(tx_drop_no_source) X(tx_drop_resolution)               \
                                              X(tx_drop_link_error)
WEIR_DEFINE_COUNTERS(Ipv6Counters, WEIR_IPV6_COUNTERS)

// How a packet this layer builds itself goes out (ICMPv6, NDP, MLD).
struct LocalSend {
  uint8_t next_header = 0;
  uint8_t hop_limit = 0;  // 0: the default for the destination
  uint8_t traffic_class = 0;
  bool router_alert = false;  // prepend a hop-by-hop header with Router Alert (MLD, RFC 3810)
  // Send to this link address instead of resolving the destination (NDP's unicast probes).
  std::optional<MacAddress> link_destination;
};

// Something that lives exactly as long as the IPv6 layer and is destroyed before it (part B's
// Autoconf: it registers ICMPv6 handlers and NDP observers, so it must go first).
class Ipv6Component {
 public:
  virtual ~Ipv6Component() = default;
};

class Ipv6Protocol final : public IpProtocol {
 public:
  Ipv6Protocol(Stack& stack, const Ipv6Options& options);
  ~Ipv6Protocol() override;

  uint16_t ethertype() const override { return kEtherTypeIpv6; }
  AddressFamily family() const override { return AddressFamily::kIpv6; }
  size_t header_length() const override { return kHeaderLength; }
  void handle_packet(Nic& nic, PacketBuffer&& pkt) override;
  bool update_segment_header(MutableByteView header, size_t packet_length,
                             uint32_t index) const override;
  Status write_packet(const RouteInfo& route, const IpWriteParams& params,
                      PacketBuffer&& pkt) override;
  // min(NIC MTU, the RA's link MTU, the path MTU learned for remote).
  uint32_t path_mtu(const Nic& nic, const IpAddress& remote) const override;
  // The selector when one is set (RFC 6724, part B), else: for a link-local remote a
  // link-local address of the NIC; otherwise a non-link-local one, preferring one whose prefix
  // holds the remote, then the next hop; link-local only as the last resort.
  std::optional<IpAddress> select_source(const Nic& nic, const IpAddress& remote,
                                         const IpAddress& next_hop) const override;
  using SourceSelector = std::function<std::optional<IpAddress>(
      const Nic& nic, const IpAddress& remote, const IpAddress& next_hop)>;
  void set_source_selector(SourceSelector selector) { source_selector_ = std::move(selector); }
  // RFC 4861 6.3.4: an RA's MTU option caps what IPv6 sends on the NIC (0 removes the cap).
  void set_link_mtu(NicId nic, uint32_t mtu);
  uint32_t link_mtu(const Nic& nic) const;
  // Joins the address's solicited-node group, then runs the address hooks (DAD, MLD).
  void address_added(Nic& nic, const IpPrefix& prefix) override;

  // Sends a packet this layer built (pkt starts after the IPv6 header and any hop-by-hop
  // header) from `source` on `nic`, without consulting the routes: NDP and MLD talk to the
  // link, sometimes from the unspecified address. ICMPv6 messages must already hold their
  // checksum (see send_icmp).
  Status send_on_link(Nic& nic, const Ipv6Address& source, const Ipv6Address& destination,
                      const LocalSend& how, PacketBuffer pkt);
  // Fills in the ICMPv6 checksum of message (type byte first) and sends it on the link.
  Status send_icmp(Nic& nic, const Ipv6Address& source, const Ipv6Address& destination,
                   const LocalSend& how, PacketBuffer message);
  // Routes toward remote (from local when given, which must be ours) and sends: for packets
  // this layer generates in answer to others (ICMPv6 errors and echo replies). nic pins the
  // route to one NIC (needed for link-local remotes).
  Status send_routed(const Ipv6Address& local, const Ipv6Address& remote, std::optional<NicId> nic,
                     const IpWriteParams& params, PacketBuffer pkt);

  // Called after an IPv6 address is added to a NIC (after the solicited-node join): the hook
  // for duplicate address detection and MLD. Hooks run in registration order.
  using AddressHook = std::function<void(Nic& nic, const IpPrefix& prefix)>;
  void add_address_hook(AddressHook hook) { address_hooks_.push_back(std::move(hook)); }

  // The path MTU learned for destination (nullopt: none, or expired).
  std::optional<uint32_t> learned_path_mtu(const Ipv6Address& destination) const;
  // RFC 8201: a Packet Too Big said the path to destination carries at most mtu bytes.
  // Never raises an estimate; never goes below 1280. Returns whether it lowered one.
  bool update_path_mtu(const Ipv6Address& destination, uint32_t mtu);

  // Hands a component to the layer (destroyed first, in reverse order of adding); returns it.
  Ipv6Component& add_component(std::unique_ptr<Ipv6Component> component);
  // The first component of type T, or nullptr.
  template <typename T>
  T* component() const {
    for (const auto& c : components_) {
      if (auto* t = dynamic_cast<T*>(c.get())) return t;
    }
    return nullptr;
  }

  void set_default_hop_limit(uint8_t hop_limit) { options_.default_hop_limit = hop_limit; }
  uint8_t default_hop_limit() const { return options_.default_hop_limit; }

  Stack& stack() { return stack_; }
  const Ipv6Options& options() const { return options_; }
  Icmpv6& icmp() { return icmp_; }
  Ndp& ndp() { return ndp_; }
  Reassembler& reassembler() { return reassembler_; }
  const Ipv6Counters& counters() const { return counters_; }
  Ipv6Counters& counters() { return counters_; }

 private:
  struct PmtuEntry {
    uint32_t mtu = 0;
    TimePoint expires;
  };
  enum class OptionsVerdict : uint8_t { kContinue, kDropped };

  void process(Nic& nic, ReceivedDatagram& dgram, PacketBuffer pkt, ExtHeaderIter it, bool resumed);
  OptionsVerdict process_options(ReceivedDatagram& dgram, const ExtensionHeader& header,
                                 bool hop_by_hop);
  bool first_fragment_complete(PacketBuffer& pkt, uint8_t next_header, size_t offset,
                               size_t next_header_field);
  void deliver(Nic& nic, ReceivedDatagram& dgram, PacketBuffer& pkt, uint8_t next_header,
               size_t offset, size_t next_header_field);
  void on_reassembly_timeout(ByteView headers, const PacketBuffer& payload);
  bool is_our_unicast(const Nic& nic, const Ipv6Address& address) const;
  uint32_t next_fragment_id(const Ipv6Address& source, const Ipv6Address& destination);
  Status send_datagram(Nic& nic, const Ipv6Address& destination, const IpAddress& next_hop,
                       PacketBuffer pkt, const std::optional<MacAddress>& link_destination);
  Status output(Nic& nic, const Ipv6Address& source, const Ipv6Address& destination,
                const IpAddress& next_hop, uint32_t mtu, const LocalSend& how, PacketBuffer pkt);

  static constexpr size_t kIdBuckets = 2048;

  Stack& stack_;
  Ipv6Options options_;
  Icmpv6 icmp_;
  Ndp ndp_;
  Reassembler reassembler_;
  IdBuckets<uint32_t, kIdBuckets> ids_;
  std::map<Ipv6Address, PmtuEntry> pmtu_;
  std::vector<AddressHook> address_hooks_;
  SourceSelector source_selector_;
  std::map<NicId, uint32_t> link_mtu_;
  Ipv6Counters counters_;
  // Last: components hold references into everything above.
  std::vector<std::unique_ptr<Ipv6Component>> components_;
};

// Registers IPv6 (EtherType 0x86dd) with the stack and its counter groups ("ipv6",
// "ipv6_reassembly", "icmpv6", "ndp", "ndp_cache"). Call once per stack.
Ipv6Protocol& install(Stack& stack, Ipv6Options options = {});
// The installed instance, or nullptr.
Ipv6Protocol* find(Stack& stack);

}  // namespace weir::ipv6
