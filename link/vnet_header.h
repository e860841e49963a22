// The virtio-net header a tap opened with IFF_VNET_HDR puts in front of every frame, both ways.
//
// Theory of operation. With TUNSETOFFLOAD the kernel may hand the reader frames it has not
// segmented (GSO: one TCP segment of up to 64 KiB whose header describes how to cut it at
// gso_size) and whose transport checksum it has not finished (NEEDS_CSUM: the field holds the
// pseudo-header sum, and the sum over [csum_start, end) still has to be folded into it). Frames
// that come from the local kernel are trusted the way Linux trusts CHECKSUM_PARTIAL: such a
// frame is marked checksum_verified and its payload is never summed. Writing, the stack says
// the same things about its own frames through PacketMeta, and the kernel finishes them.
//
// The header arrives from the kernel, but it is still parsed through a bounds-checked view and
// every field is checked against the frame before anything acts on it: an unknown GSO type, a
// GSO frame without a segment size or a checksum range outside the frame is refused (the tap
// counts it and drops the frame). Fields are little-endian: the tap's default on a
// little-endian host, and the order modern virtio uses everywhere (TUNSETVNETLE makes it so on
// a big-endian one).
#pragma once

#include <cstddef>
#include <cstdint>

#include "stack/bytes.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir::link {

// struct virtio_net_hdr (without the mergeable-buffers count): what TUNSETVNETHDRSZ is set to.
inline constexpr size_t kVnetHeaderLength = 10;

inline constexpr uint8_t kVnetFlagNeedsChecksum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVnetFlagDataValid = 2;      // VIRTIO_NET_HDR_F_DATA_VALID

inline constexpr uint8_t kVnetGsoNone = 0;
inline constexpr uint8_t kVnetGsoTcpV4 = 1;
inline constexpr uint8_t kVnetGsoUdp = 3;
inline constexpr uint8_t kVnetGsoTcpV6 = 4;
inline constexpr uint8_t kVnetGsoEcn = 0x80;  // a flag on the TCP types: the segments carry CWR

struct VnetHeader {
  uint8_t flags = 0;
  uint8_t gso_type = kVnetGsoNone;
  uint16_t header_length = 0;  // bytes of headers to copy in front of each segment (a hint)
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;  // from the start of the link frame
  uint16_t csum_offset = 0;  // from csum_start to the checksum field
};

// Why a received header was refused.
enum class VnetRefusal : uint8_t {
  kNone,
  kShort,               // fewer bytes than a header
  kUnknownGsoType,      // not NONE, TCPV4 or TCPV6 (UDP fragmentation offload is not asked for)
  kGsoWithoutSize,      // a GSO type with gso_size 0
  kChecksumOutOfFrame,  // NEEDS_CSUM with the field beyond the frame or inside the link header
};

VnetHeader parse_vnet_header(ByteView bytes);
void write_vnet_header(MutableByteView out, const VnetHeader& header);

// Checks `header` against the link frame it came with (frame_length bytes, the first
// link_header_length of them the link header).
VnetRefusal check_received_vnet_header(const VnetHeader& header, size_t frame_length,
                                       size_t link_header_length);

// Carries what a checked header says into the frame's meta: checksum_verified for NEEDS_CSUM
// and DATA_VALID frames, gso_type/gso_size for GSO frames.
void apply_received_vnet_header(const VnetHeader& header, PacketMeta& meta);

// The header for a frame the stack sends: link_header_length bytes of link header are already
// in front of `frame`; meta's offload requests (needs_checksum with csum_start counted from the
// network header, gso_type/gso_size) become the header's fields.
VnetHeader vnet_header_for(const PacketBuffer& frame, size_t link_header_length);

}  // namespace weir::link
