// A NIC: one link endpoint attached to the stack, with its addresses and counters.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stack/counters.h"
#include "stack/link_endpoint.h"
#include "stack/protocol.h"
#include "stack/result.h"

namespace weir {

class Stack;

#define WEIR_NIC_COUNTERS(X)                                                            \
  X(rx_packets)                                                                         \
  X(rx_bytes) X(tx_packets) X(tx_bytes) X(rx_drop_unknown_protocol) X(rx_drop_disabled) \
      X(tx_drop_link_error) X(tx_gso_software_packets) X(tx_gso_software_segments)      \
          X(tx_drop_gso_unsegmentable)
WEIR_DEFINE_COUNTERS(NicCounters, WEIR_NIC_COUNTERS)

class Nic final : public NetworkDispatcher {
 public:
  Nic(Stack& stack, NicId id, std::string name, std::unique_ptr<LinkEndpoint> endpoint);
  ~Nic() override;
  Nic(const Nic&) = delete;
  Nic& operator=(const Nic&) = delete;

  NicId id() const { return id_; }
  const std::string& name() const { return name_; }
  LinkEndpoint& endpoint() { return *endpoint_; }
  const LinkEndpoint& endpoint() const { return *endpoint_; }
  Stack& stack() { return stack_; }
  // The endpoint's mtu() and capabilities(), as read when the NIC was made or last refreshed:
  // every datagram sent consults both, and asking the endpoint is a virtual call each time.
  uint32_t mtu() const { return link_mtu_; }
  const LinkCapabilities& link_capabilities() const { return link_capabilities_; }
  // Reads the endpoint's mtu() and capabilities() again. For an endpoint whose values change
  // while it is attached (see LinkEndpoint): call after each change.
  void refresh_link();
  MacAddress link_address() const { return endpoint_->link_address(); }
  // Frames the link would queue now (LinkEndpoint::transmit_room).
  size_t transmit_room() const { return endpoint_->transmit_room(); }

  bool enabled() const { return enabled_; }
  void set_enabled(bool on) { enabled_ = on; }

  // Forwarding (gVisor's promiscuous mode and spoofing together, for tun proxies and VPNs).
  // When on, the IP layers hand the transports unicast packets for any destination address
  // that arrive on this NIC, not only those for the stack's own addresses; TCP and UDP give
  // them to connections of their exact 4-tuple or to a forwarder (tcp/forwarder.h,
  // udp/forwarder.h), and the sockets of forwarded flows send from the original destination.
  // Off by default.
  //
  // Link layers. On a raw-IP link (a tun device) every packet the peer routes to us arrives.
  // On Ethernet the stack still takes only frames addressed to its MAC (or broadcast), and
  // ARP and NDP still answer only for its own addresses: the peers must route the forwarded
  // destinations through one of this NIC's addresses (make it their gateway). Answering
  // ARP/NDP for every address (proxy ARP) would claim every host on the segment and is not done.
  // Link-local IPv6 destinations stay per-link and are never forwarded.
  void set_accept_any_destination(bool on) { accept_any_destination_ = on; }
  bool accepts_any_destination() const { return accept_any_destination_; }
  // The route back to `remote` for a flow this NIC accepted for `local`, an address the stack
  // need not own: out through this NIC (toward the gateway of this NIC's longest matching
  // route, else on-link), with `local` as the source.
  RouteInfo route_for_foreign_flow(const IpAddress& remote, const IpAddress& local) const;

  // Addresses, each with its prefix length.
  Status add_address(const IpPrefix& prefix);
  Status remove_address(const IpAddress& address);
  const std::vector<IpPrefix>& addresses() const { return addresses_; }
  bool has_address(const IpAddress& address) const;
  // The first address of a family, preferring one whose subnet holds `toward`.
  std::optional<IpAddress> select_source(AddressFamily family,
                                         const std::optional<IpAddress>& toward = {}) const;

  // Multicast groups the NIC accepts (joined by sockets or by the IPv6 layer itself). Joins
  // are counted; the group is accepted until as many leaves.
  void join_group(const IpAddress& group);
  void leave_group(const IpAddress& group);
  bool in_group(const IpAddress& group) const;
  const std::vector<std::pair<IpAddress, uint32_t>>& groups() const { return groups_; }
  // Told when the NIC starts (joined = true: the first join) or stops (the last leave)
  // accepting a group, so a membership protocol (MLD, IGMP) can report it. Returns an id for
  // remove_group_listener; a listener must be removed before whatever it refers to dies.
  using GroupListener = std::function<void(Nic& nic, const IpAddress& group, bool joined)>;
  size_t add_group_listener(GroupListener listener);
  void remove_group_listener(size_t id);

  // From the link: dispatches to the network protocol registered for the EtherType.
  void deliver_network_packet(PacketBuffer&& pkt) override;
  // To the link: one packet, network header on the front, link_destination set if needed.
  Status write_packet(PacketBuffer&& pkt);
  Status write_packets(std::span<PacketBuffer> pkts);
  // write_packet() with the endpoint's capabilities() as the caller has just read them (a
  // network layer asks them too; a virtual call returning them by value is not free per packet).
  Status write_packet(PacketBuffer&& pkt, const LinkCapabilities& caps);

  NicCounters& counters() { return counters_; }
  const NicCounters& counters() const { return counters_; }

 private:
  void notify_group(const IpAddress& group, bool joined);
  // write_packets() when some packet needs segmenting in software first.
  Status write_segmented(std::span<PacketBuffer> pkts, const LinkCapabilities& caps);
  // The last step of write_packets(): checksums the link will not do, the link, the counters.
  Status write_to_link(std::span<PacketBuffer> pkts, const LinkCapabilities& caps);

  Stack& stack_;
  NicId id_;
  std::string name_;
  std::unique_ptr<LinkEndpoint> endpoint_;
  uint32_t link_mtu_;
  LinkCapabilities link_capabilities_;
  std::vector<IpPrefix> addresses_;
  std::vector<std::pair<IpAddress, uint32_t>> groups_;  // group, join count
  std::vector<std::pair<size_t, GroupListener>> group_listeners_;
  size_t next_listener_id_ = 1;
  bool enabled_ = true;
  bool accept_any_destination_ = false;
  NicCounters counters_;
  std::vector<PacketBuffer> segmented_;  // write_packets()'s software GSO output, reused
};

}  // namespace weir
