#include "stack/gso.h"

#include <algorithm>
#include <array>

#include <boost/container/small_vector.hpp>

#include "stack/bytes.h"
#include "stack/checksum.h"
#include "stack/protocol.h"
#include "stack/stack.h"

namespace weir {

uint8_t gso_transport_protocol(GsoType type) {
  switch (type) {
    case GsoType::kTcpV4:
    case GsoType::kTcpV6:
      return kProtocolTcp;
    case GsoType::kUdp:
      return kProtocolUdp;
    case GsoType::kNone:
      break;
  }
  return 0;
}

bool segment_in_software(const Stack& stack, const PacketBuffer& pkt,
                         std::vector<PacketBuffer>& out) {
  const PacketMeta& meta = pkt.meta();
  if (meta.gso_type == GsoType::kNone || meta.gso_size == 0 || !meta.needs_checksum) return false;
  NetworkProtocol* network = stack.network_protocol(meta.network_protocol);
  TransportProtocol* transport = stack.transport_protocol(gso_transport_protocol(meta.gso_type));
  if (network == nullptr || transport == nullptr) return false;

  const size_t network_length = meta.csum_start;
  if (network_length == 0 || network_length >= pkt.size()) return false;
  // Headers are at most a few hundred bytes; copy enough to read the transport's length.
  std::array<std::byte, 256> probe{};
  const size_t probe_length = std::min(probe.size(), pkt.size() - network_length);
  pkt.copy_out(network_length, MutableByteView(probe).first(probe_length));
  const size_t transport_length = transport->segment_header_length(ByteView(probe).first(probe_length));
  const size_t header_length = network_length + transport_length;
  if (transport_length == 0 || header_length > pkt.size() ||
      size_t{meta.csum_offset} + 2 > transport_length) {
    return false;
  }
  const size_t payload_length = pkt.size() - header_length;
  if (payload_length == 0) return false;
  const size_t mss = meta.gso_size;
  const size_t first_out = out.size();
  out.reserve(first_out + (payload_length + mss - 1) / mss);
  boost::container::small_vector<std::byte, 256> header_storage(header_length);
  const MutableByteView header(header_storage.data(), header_storage.size());
  pkt.copy_out(0, header);
  const uint16_t total_transport_length = static_cast<uint16_t>(transport_length + payload_length);
  const uint16_t partial_sum = load_be16(header, network_length + meta.csum_offset);

  uint32_t index = 0;
  for (size_t offset = 0; offset < payload_length; offset += mss, ++index) {
    const size_t length = std::min(mss, payload_length - offset);
    PacketBuffer segment = PacketBuffer::allocate(header_length);
    MutableByteView bytes = segment.mutable_front(header_length).value();
    copy_bytes(bytes, 0, header);
    const bool last = offset + length >= payload_length;
    if (!network->update_segment_header(bytes.first(network_length), header_length + length,
                                        index)) {
      out.resize(first_out);
      return false;
    }
    MutableByteView transport_header = bytes.subspan(network_length, transport_length);
    transport->update_segment_header(transport_header, static_cast<uint32_t>(offset), index == 0,
                                     last);
    // The partial sum covers the pseudo-header with the whole packet's transport length; this
    // segment's is shorter.
    ChecksumAccumulator sum;
    sum.add_u16(partial_sum);
    sum.add_u16(static_cast<uint16_t>(~total_transport_length));  // minus, in ones' complement
    sum.add_u16(static_cast<uint16_t>(transport_length + length));
    store_be16(transport_header, meta.csum_offset, sum.fold());
    segment.append(pkt.slice(header_length + offset, length));
    PacketMeta& segment_meta = segment.meta();
    segment_meta = meta;
    segment_meta.gso_type = GsoType::kNone;
    segment_meta.gso_size = 0;
    segment_meta.gso_segments = 0;
    out.push_back(std::move(segment));
  }
  return true;
}

}  // namespace weir
