#include "ipv6/ndp.h"

#include <algorithm>

#include "ipv6/ipv6.h"
#include "ipv6/ndp_wire.h"
#include "stack/nic.h"
#include "stack/stack.h"

namespace weir::ipv6 {

Ndp::Ndp(Stack& stack, Ipv6Protocol& ip, const NdpConfig& options)
    : stack_(stack), ip_(ip), cache_(stack, *this, options.cache) {}

void Ndp::remove_observer(NdpObserver& observer) {
  observers_.erase(std::remove(observers_.begin(), observers_.end(), &observer), observers_.end());
}

void Ndp::send_solicitation(Nic& nic, const IpAddress& target,
                            const std::optional<MacAddress>& unicast_to) {
  if (!target.is_v6()) return;
  // RFC 4861 7.2.2: from an address of the outgoing NIC; one on the target's prefix reads
  // best to the target (a link-local one for a link-local target).
  auto source = ip_.select_source(nic, target, target);
  if (!source || !source->is_v6()) {
    ++counters_.tx_drop_no_source;
    return;
  }
  NeighborSolicitationFields fields;
  fields.target = target.v6();
  fields.source_lla = nic.link_address();
  PacketBuffer message = PacketBuffer::allocate(fields.length());
  auto bytes = message.mutable_front(fields.length());
  if (!bytes) {
    ++counters_.tx_drop_error;
    return;
  }
  fields.emit(*bytes);
  LocalSend how;
  how.hop_limit = kNdpHopLimit;
  Ipv6Address destination = solicited_node_group(target.v6());
  if (unicast_to) {
    destination = target.v6();
    how.link_destination = *unicast_to;
  }
  ++counters_.tx_solicitations;
  if (!ip_.send_icmp(nic, source->v6(), destination, how, std::move(message))) {
    ++counters_.tx_drop_error;
  }
}

void Ndp::send_advertisement(Nic& nic, const Ipv6Address& source, const Ipv6Address& destination,
                             const Ipv6Address& target, bool solicited) {
  NeighborAdvertFields fields;
  fields.target = target;
  fields.router = false;  // a host
  fields.solicited = solicited;
  fields.override_flag = true;  // never an anycast address (RFC 4861 7.2.4)
  fields.target_lla = nic.link_address();
  PacketBuffer message = PacketBuffer::allocate(fields.length());
  auto bytes = message.mutable_front(fields.length());
  if (!bytes) {
    ++counters_.tx_drop_error;
    return;
  }
  fields.emit(*bytes);
  LocalSend how;
  how.hop_limit = kNdpHopLimit;
  ++counters_.tx_advertisements;
  if (!ip_.send_icmp(nic, source, destination, how, std::move(message))) {
    ++counters_.tx_drop_error;
  }
}

void Ndp::announce(Nic& nic, const Ipv6Address& address) {
  if (!nic.has_address(IpAddress(address))) return;
  send_advertisement(nic, address, all_nodes_group(), address, false);
}

void Ndp::handle_icmpv6(Nic& nic, const ReceivedDatagram& dgram, ByteView message) {
  const NdpIpFields ip{dgram.info.source.v6(), dgram.info.destination.v6(), dgram.info.ttl};
  switch (check_ndp(message, ip)) {
    case NdpCheck::kOk:
      break;
    case NdpCheck::kBadHopLimit:
      ++counters_.drop_bad_hop_limit;
      return;
    case NdpCheck::kBadCode:
      ++counters_.drop_bad_code;
      return;
    case NdpCheck::kTruncated:
      ++counters_.drop_truncated;
      return;
    case NdpCheck::kBadOptionLength:
    case NdpCheck::kOptionTruncated:
      ++counters_.drop_bad_option_length;
      return;
    case NdpCheck::kBadLinkLayerOption:
      ++counters_.drop_bad_link_layer_option;
      return;
    case NdpCheck::kMulticastTarget:
      ++counters_.drop_multicast_target;
      return;
    case NdpCheck::kUnspecifiedWithLla:
      ++counters_.drop_unspecified_with_lla;
      return;
    case NdpCheck::kDadNotSolicitedNode:
      ++counters_.drop_dad_not_solicited_node;
      return;
    case NdpCheck::kSolicitedMulticast:
      ++counters_.drop_solicited_multicast;
      return;
    default:
      ++counters_.drop_invalid_other;
      return;
  }
  const uint8_t type = load_u8(message, 0);
  if (type == kNdpNeighborSolicitation) {
    handle_solicitation(nic, dgram, message);
  } else if (type == kNdpNeighborAdvertisement) {
    handle_advertisement(nic, dgram, message);
  }
}

void Ndp::handle_solicitation(Nic& nic, const ReceivedDatagram& dgram, ByteView message) {
  ++counters_.rx_solicitations;
  auto ns = NeighborSolicitationView::parse(message);
  if (!ns) {
    ++counters_.drop_truncated;
    return;
  }
  const Ipv6Address source = dgram.info.source.v6();
  const Ipv6Address target = ns->target();
  std::optional<MacAddress> source_lla;
  if (auto option = ns->options().find(kOptSourceLinkLayerAddress)) {
    if (auto mac = parse_link_layer_address(*option)) source_lla = *mac;
  }
  if (source_lla && *source_lla == nic.link_address()) {
    // Our own solicitation looped back to us (a DAD probe on a link that echoes).
    ++counters_.drop_own_link_address;
    return;
  }
  for (NdpObserver* o : observers_) o->on_neighbor_solicitation(nic, source, target, message);

  if (!nic.has_address(IpAddress(target))) {
    ++counters_.drop_target_not_ours;
    return;
  }
  if (source.is_unspecified()) {
    // RFC 4861 7.2.4: a duplicate address detection probe for an address we hold; tell all
    // nodes it is taken.
    ++counters_.rx_dad_probes;
    send_advertisement(nic, target, all_nodes_group(), target, false);
    return;
  }
  // 7.2.3: learn the solicitor's link address (STALE until something confirms it).
  if (source_lla) {
    cache_.update(nic, IpAddress(source),
                  NeighborUpdate{source_lla, /*solicited=*/false, /*override=*/true,
                                 /*create=*/true});
  }
  send_advertisement(nic, target, source, target, true);
}

void Ndp::handle_advertisement(Nic& nic, const ReceivedDatagram& dgram, ByteView message) {
  ++counters_.rx_advertisements;
  auto na = NeighborAdvertView::parse(message);
  if (!na) {
    ++counters_.drop_truncated;
    return;
  }
  const Ipv6Address target = na->target();
  std::optional<MacAddress> target_lla;
  if (auto option = na->options().find(kOptTargetLinkLayerAddress)) {
    if (auto mac = parse_link_layer_address(*option)) target_lla = *mac;
  }
  if (target_lla && *target_lla == nic.link_address()) {
    ++counters_.drop_own_link_address;
    return;
  }
  if (stack_.is_local_address(IpAddress(target))) {
    // Someone else claims an address we hold: a duplicate (RFC 4862 5.4.4). It never changes
    // our cache; DAD, if running, hears it through the observers.
    ++counters_.advertisements_for_own_address;
  } else if (!cache_.update(nic, IpAddress(target),
                            NeighborUpdate{target_lla, na->solicited(), na->override_flag(),
                                           /*create=*/false})) {
    // 7.2.5: no entry, nothing to update; an unsolicited NA never creates one.
    ++counters_.advertisements_ignored;
  }
  for (NdpObserver* o : observers_) {
    o->on_neighbor_advertisement(nic, dgram.info.source.v6(), target, na->router(), na->solicited(),
                                 na->override_flag(), target_lla, message);
  }
}

}  // namespace weir::ipv6
