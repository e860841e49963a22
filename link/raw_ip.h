// Receiving on links without a link header (raw IP channel, tun-like devices): the network
// protocol comes from the IP version nibble.
#pragma once

#include "link/link_counters.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"

namespace weir::link {

// Fills pkt's meta (network_protocol from the version nibble, link_type kHost, no MACs) and
// delivers it. Returns true when delivered; otherwise counted and dropped.
bool deliver_raw_ip_packet(PacketBuffer&& pkt, NetworkDispatcher* dispatcher,
                           LinkCounters& counters);

}  // namespace weir::link
