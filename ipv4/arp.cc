#include "ipv4/arp.h"

#include "stack/nic.h"
#include "stack/stack.h"

namespace weir::ipv4 {

ArpProtocol::ArpProtocol(Stack& stack, const NeighborOptions& options)
    : stack_(stack), cache_(stack, *this, options) {}

void ArpProtocol::handle_packet(Nic& nic, PacketBuffer&& pkt) {
  ++counters_.rx_packets;
  auto front = pkt.front(std::min(pkt.size(), kArpPacketLength));
  if (!front) {
    ++counters_.rx_drop_truncated;
    return;
  }
  switch (check_arp(*front)) {
    case ArpCheck::kOk:
      break;
    case ArpCheck::kTruncated:
      ++counters_.rx_drop_truncated;
      return;
    case ArpCheck::kUnsupported:
      ++counters_.rx_drop_unsupported;
      return;
    case ArpCheck::kBadOpcode:
      ++counters_.rx_drop_bad_opcode;
      return;
  }
  auto parsed = ArpPacket::parse(*front);
  if (!parsed) {
    ++counters_.rx_drop_truncated;
    return;
  }
  const MacAddress sender_mac = parsed->sender_mac();
  const Ipv4Address sender_ip = parsed->sender_ip();
  const Ipv4Address target_ip = parsed->target_ip();
  const bool request = parsed->is_request();

  if (sender_mac == nic.link_address()) {
    ++counters_.rx_drop_from_self;
    return;
  }
  if (sender_mac.is_multicast() || sender_mac.is_zero() || sender_ip.is_broadcast() ||
      sender_ip.is_multicast()) {
    ++counters_.rx_drop_bad_sender;
    return;
  }
  if (request) {
    ++counters_.rx_requests;
  } else {
    ++counters_.rx_replies;
  }
  const bool target_ours = nic.has_address(IpAddress(target_ip));

  if (sender_ip.is_unspecified()) {
    // RFC 5227 probe: someone checks whether target_ip is free. Say it is not, if it is ours.
    ++counters_.rx_probes;
    if (request && target_ours) {
      send(nic, ArpFields{kArpReply, nic.link_address(), target_ip, sender_mac, Ipv4Address()},
           sender_mac);
      ++counters_.tx_replies;
    }
    return;
  }
  if (stack_.is_local_address(IpAddress(sender_ip))) {
    ++counters_.address_conflicts;
    return;
  }
  if (sender_ip == target_ip) {
    ++counters_.rx_gratuitous;
    if (!cache_.update_existing(nic, IpAddress(sender_ip), sender_mac)) {
      ++counters_.rx_gratuitous_ignored;
    }
    return;
  }
  if (!target_ours) {
    ++counters_.rx_not_for_us;
    cache_.update_existing(nic, IpAddress(sender_ip), sender_mac);
    return;
  }
  cache_.confirm(nic, IpAddress(sender_ip), sender_mac);
  if (request) {
    send(nic, ArpFields{kArpReply, nic.link_address(), target_ip, sender_mac, sender_ip},
         sender_mac);
    ++counters_.tx_replies;
  }
}

void ArpProtocol::send_solicitation(Nic& nic, const IpAddress& target,
                                    const std::optional<MacAddress>& unicast_to) {
  if (!target.is_v4()) return;
  Ipv4Address sender;
  if (auto source = nic.select_source(AddressFamily::kIpv4, target); source && source->is_v4()) {
    sender = source->v4();
  }
  ++counters_.tx_requests;
  send(nic, ArpFields{kArpRequest, nic.link_address(), sender, MacAddress(), target.v4()},
       unicast_to.value_or(MacAddress::broadcast()));
}

void ArpProtocol::announce(Nic& nic, Ipv4Address address) {
  ++counters_.tx_announcements;
  send(nic, ArpFields{kArpRequest, nic.link_address(), address, MacAddress(), address},
       MacAddress::broadcast());
}

void ArpProtocol::send(Nic& nic, const ArpFields& fields, const MacAddress& link_destination) {
  PacketBuffer pkt = PacketBuffer::allocate(kArpPacketLength);
  auto bytes = pkt.mutable_front(kArpPacketLength);
  if (!bytes) {
    ++counters_.tx_drop_error;
    return;
  }
  emit_arp(*bytes, fields);
  pkt.meta().network_protocol = kEtherTypeArp;
  pkt.meta().link_destination = link_destination;
  if (!nic.write_packet(std::move(pkt))) ++counters_.tx_drop_error;
}

}  // namespace weir::ipv4
