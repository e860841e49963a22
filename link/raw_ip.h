// Receiving on links without a link header (raw IP channel, tun-like devices): the network
// protocol comes from the IP version nibble.
#pragma once

#include <utility>

#include "link/link_counters.h"
#include "stack/bytes.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"

namespace weir::link {

// Fills pkt's meta (network_protocol from the version nibble, link_type kHost, no MACs) and
// delivers it. Returns true when delivered; otherwise counted and dropped. Inline: every packet
// a raw-IP link receives passes here, and the call was a frame of its own between the link's
// and the NIC's.
inline bool deliver_raw_ip_packet(PacketBuffer&& pkt, NetworkDispatcher* dispatcher,
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
