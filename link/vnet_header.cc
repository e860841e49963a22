#include "link/vnet_header.h"

namespace weir::link {

namespace {

uint16_t load_le16(ByteView b, size_t off) {
  return static_cast<uint16_t>(std::to_integer<uint16_t>(b[off]) |
                               (std::to_integer<uint16_t>(b[off + 1]) << 8));
}

void store_le16(MutableByteView b, size_t off, uint16_t v) {
  b[off] = std::byte{static_cast<uint8_t>(v)};
  b[off + 1] = std::byte{static_cast<uint8_t>(v >> 8)};
}

// The TCP data offset at `tcp_header` of the frame, in bytes; 20 when it cannot be read.
size_t tcp_header_length(const PacketBuffer& frame, size_t tcp_header) {
  if (tcp_header + 13 > frame.size()) return 20;
  std::byte offset_byte{};
  frame.copy_out(tcp_header + 12, MutableByteView(&offset_byte, 1));
  const size_t length = (std::to_integer<size_t>(offset_byte) >> 4) * 4;
  return length >= 20 ? length : 20;
}

}  // namespace

VnetHeader parse_vnet_header(ByteView bytes) {
  VnetHeader h;
  if (bytes.size() < kVnetHeaderLength) return h;
  h.flags = load_u8(bytes, 0);
  h.gso_type = load_u8(bytes, 1);
  h.header_length = load_le16(bytes, 2);
  h.gso_size = load_le16(bytes, 4);
  h.csum_start = load_le16(bytes, 6);
  h.csum_offset = load_le16(bytes, 8);
  return h;
}

void write_vnet_header(MutableByteView out, const VnetHeader& h) {
  store_u8(out, 0, h.flags);
  store_u8(out, 1, h.gso_type);
  store_le16(out, 2, h.header_length);
  store_le16(out, 4, h.gso_size);
  store_le16(out, 6, h.csum_start);
  store_le16(out, 8, h.csum_offset);
}

VnetRefusal check_received_vnet_header(const VnetHeader& h, size_t frame_length,
                                       size_t link_header_length) {
  const uint8_t type = h.gso_type & static_cast<uint8_t>(~kVnetGsoEcn);
  if (type != kVnetGsoNone && type != kVnetGsoTcpV4 && type != kVnetGsoTcpV6)
    return VnetRefusal::kUnknownGsoType;
  if (type == kVnetGsoNone && (h.gso_type & kVnetGsoEcn) != 0) return VnetRefusal::kUnknownGsoType;
  if (type != kVnetGsoNone && h.gso_size == 0) return VnetRefusal::kGsoWithoutSize;
  if (h.flags & kVnetFlagNeedsChecksum) {
    const size_t field = size_t{h.csum_start} + h.csum_offset;
    if (h.csum_start < link_header_length || field + 2 > frame_length)
      return VnetRefusal::kChecksumOutOfFrame;
  }
  return VnetRefusal::kNone;
}

void apply_received_vnet_header(const VnetHeader& h, PacketMeta& meta) {
  // NEEDS_CSUM frames were built by the local kernel and never crossed a wire: their sum is
  // left to the reader, and Linux's own receive path treats them as verified too.
  if (h.flags & (kVnetFlagNeedsChecksum | kVnetFlagDataValid)) meta.checksum_verified = true;
  switch (h.gso_type & static_cast<uint8_t>(~kVnetGsoEcn)) {
    case kVnetGsoTcpV4:
      meta.gso_type = GsoType::kTcpV4;
      meta.gso_size = h.gso_size;
      break;
    case kVnetGsoTcpV6:
      meta.gso_type = GsoType::kTcpV6;
      meta.gso_size = h.gso_size;
      break;
    default:
      break;
  }
}

VnetHeader vnet_header_for(const PacketBuffer& frame, size_t link_header_length) {
  VnetHeader h;
  const PacketMeta& meta = frame.meta();
  if (meta.needs_checksum) {
    h.flags = kVnetFlagNeedsChecksum;
    h.csum_start = static_cast<uint16_t>(link_header_length + meta.csum_start);
    h.csum_offset = meta.csum_offset;
  }
  if (meta.gso_type == GsoType::kTcpV4 || meta.gso_type == GsoType::kTcpV6) {
    h.gso_type = meta.gso_type == GsoType::kTcpV4 ? kVnetGsoTcpV4 : kVnetGsoTcpV6;
    h.gso_size = meta.gso_size;
    h.header_length =
        static_cast<uint16_t>(h.csum_start + tcp_header_length(frame, h.csum_start));
  }
  return h;
}

}  // namespace weir::link
