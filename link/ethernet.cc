#include "link/ethernet.h"

#include <algorithm>
#include <utility>

namespace weir::link {

Result<EthernetView> EthernetView::parse(ByteView frame) {
  if (frame.size() < kEthernetHeaderLength) return Error::kBadMessage;
  size_t header_length = kEthernetHeaderLength;
  const uint16_t outer = load_be16(frame, 12);
  if (outer == kEtherTypeVlan || outer == kEtherTypeQinQ) {
    // Only the outermost tag is parsed; a stacked inner tag shows up as the EtherType.
    if (frame.size() < kEthernetHeaderLength + kVlanTagLength) return Error::kBadMessage;
    header_length += kVlanTagLength;
  }
  return EthernetView(frame, header_length);
}

void write_ethernet_header(MutableByteView out, MacAddress destination, MacAddress source,
                           uint16_t ethertype) {
  copy_bytes(out, 0, destination.bytes());
  copy_bytes(out, 6, source.bytes());
  store_be16(out, 12, ethertype);
}

void push_ethernet_header(PacketBuffer& pkt, MacAddress source) {
  const MacAddress destination = pkt.meta().link_destination;
  const uint16_t ethertype = pkt.meta().network_protocol;
  write_ethernet_header(pkt.push_front(kEthernetHeaderLength), destination, source, ethertype);
}

std::vector<std::byte> build_ethernet_frame(MacAddress destination, MacAddress source,
                                            uint16_t ethertype, ByteView payload) {
  std::vector<std::byte> frame(kEthernetHeaderLength + payload.size());
  write_ethernet_header(frame, destination, source, ethertype);
  copy_bytes(frame, kEthernetHeaderLength, payload);
  return frame;
}

LinkPacketType classify_destination(MacAddress destination, MacAddress self) {
  if (destination == self) return LinkPacketType::kHost;
  if (destination.is_broadcast()) return LinkPacketType::kBroadcast;
  if (destination.is_multicast()) return LinkPacketType::kMulticast;
  return LinkPacketType::kOtherHost;
}

bool deliver_ethernet_frame(PacketBuffer&& frame, const EthernetReceiveOptions& options,
                            NetworkDispatcher* dispatcher, LinkCounters& counters) {
  // Linearize at most a tagged header's worth; the view decides how much it needs.
  const size_t peek = std::min(frame.size(), kEthernetHeaderLength + kVlanTagLength);
  auto bytes = frame.front(peek);
  if (!bytes) {
    ++counters.rx_drop_runt;
    return false;
  }
  auto view = EthernetView::parse(*bytes);
  if (!view) {
    ++counters.rx_drop_runt;
    return false;
  }
  if (view->vlan_tci()) {
    ++counters.rx_drop_vlan;
    return false;
  }
  if (!view->is_ethernet_ii()) {
    ++counters.rx_drop_not_ethernet_ii;
    return false;
  }
  const MacAddress destination = view->destination();
  const LinkPacketType type = classify_destination(destination, options.self);
  if (type == LinkPacketType::kOtherHost && !options.promiscuous) {
    ++counters.rx_drop_other_host;
    return false;
  }
  if (dispatcher == nullptr) {
    ++counters.rx_drop_not_attached;
    return false;
  }
  PacketMeta& meta = frame.meta();
  meta.network_protocol = view->ethertype();
  meta.link_source = view->source();
  meta.link_destination = destination;
  meta.link_type = type;
  const size_t header_length = view->header_length();
  ++counters.rx_frames;
  counters.rx_bytes += frame.size();
  frame.pull_front(header_length);
  dispatcher->deliver_network_packet(std::move(frame));
  return true;
}

}  // namespace weir::link
