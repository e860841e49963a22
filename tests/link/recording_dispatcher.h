// A NetworkDispatcher for link tests: keeps every delivered packet, meta included.
#pragma once

#include <vector>

#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"

namespace weir::link::testing {

class RecordingDispatcher final : public NetworkDispatcher {
 public:
  void deliver_network_packet(PacketBuffer&& pkt) override { packets.push_back(std::move(pkt)); }

  std::vector<std::vector<std::byte>> payloads() const {
    std::vector<std::vector<std::byte>> out;
    for (const auto& p : packets) out.push_back(p.to_vector());
    return out;
  }

  std::vector<PacketBuffer> packets;
};

// A network-layer packet of `size` bytes whose bytes encode `tag`, ready for write_packets.
inline PacketBuffer make_packet(uint32_t tag, size_t size = 64, uint16_t ethertype = 0x0800,
                                MacAddress destination = MacAddress::broadcast()) {
  PacketBuffer pkt = PacketBuffer::allocate(size);
  auto bytes = pkt.mutable_front(size).value();
  for (size_t i = 0; i < size; ++i) bytes[i] = std::byte(static_cast<uint8_t>(tag + i));
  if (size >= 4) store_be32(bytes, 0, tag);
  pkt.meta().network_protocol = ethertype;
  pkt.meta().link_destination = destination;
  return pkt;
}

inline uint32_t tag_of(const std::vector<std::byte>& payload, size_t offset = 0) {
  return load_be32(payload, offset);
}

}  // namespace weir::link::testing
