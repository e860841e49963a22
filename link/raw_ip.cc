#include "link/raw_ip.h"

#include <utility>

namespace weir::link {

bool deliver_raw_ip_packet(PacketBuffer&& pkt, NetworkDispatcher* dispatcher,
                           LinkCounters& counters) {
  auto first = pkt.front(1);
  if (!first) {
    ++counters.rx_drop_runt;
    return false;
  }
  uint16_t protocol = 0;
  switch (load_u8(*first, 0) >> 4) {
    case 4:
      protocol = kEtherTypeIpv4;
      break;
    case 6:
      protocol = kEtherTypeIpv6;
      break;
    default:
      ++counters.rx_drop_bad_ip_version;
      return false;
  }
  if (dispatcher == nullptr) {
    ++counters.rx_drop_not_attached;
    return false;
  }
  PacketMeta& meta = pkt.meta();
  meta.network_protocol = protocol;
  meta.link_type = LinkPacketType::kHost;
  meta.link_source = MacAddress();
  meta.link_destination = MacAddress();
  ++counters.rx_frames;
  counters.rx_bytes += pkt.size();
  dispatcher->deliver_network_packet(std::move(pkt));
  return true;
}

}  // namespace weir::link
