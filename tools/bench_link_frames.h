// The frames `weir bench link` moves, built once per case, and the stub TCP receiver that keeps
// a Linux TCP sender streaming into a link with no TCP stack on it.
//
// Sizes. "64" is a 64-byte Ethernet frame (as handed to the device: header included, no FCS)
// holding a UDP datagram; "1500" is an MTU-full frame, a 1500-byte IPv4 packet (UDP) in 1514
// bytes; "64k" is one TCP segment of 44 × 1460 payload bytes (64,280-byte IPv4 packet) marked
// for segmentation offload (gso_size 1460), as weir's TCP hands a tap with offloads a batch.
// With offloads the transport checksum is left to the receiver (needs_checksum, the field
// holding the pseudo-header sum, as tcp/wire.cc's build_segment_offloaded does); without, every
// checksum is finished.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/packet_buffer.h"

namespace weir::tools::bench {

enum class FrameSize : uint8_t { k64, k1500, k64k };
const char* frame_size_name(FrameSize size);  // "64", "1500", "64k"
std::optional<FrameSize> parse_frame_size(const std::string& text);

// Who sends to whom on the bench's wire.
struct Addressing {
  MacAddress source_mac;
  MacAddress destination_mac;
  Ipv4Address source_ip;
  Ipv4Address destination_ip;
};

// One IPv4 packet a case sends over and over, in two parts so a sender can copy the headers per
// frame and share the payload, as the stack does (a fresh header chunk in front of slices of
// the send queue).
struct TestPacket {
  std::vector<std::byte> headers;  // IPv4 + UDP/TCP headers; for "64", the whole packet
  std::vector<std::byte> payload;
  bool needs_checksum = false;
  uint16_t csum_start = 0;  // from the IPv4 header, as PacketMeta counts it
  uint16_t csum_offset = 0;
  GsoType gso_type = GsoType::kNone;
  uint16_t gso_size = 0;

  size_t ip_size() const { return headers.size() + payload.size(); }
};

inline constexpr size_t kEthernetHeaderBytes = 14;

// The packet for `size` from addressing.source to addressing.destination. offloads: leave the
// transport checksum to the receiver; without it a "64k" packet cannot be built (no GSO).
TestPacket build_test_packet(FrameSize size, const Addressing& addressing, bool offloads);

// The same packet as one Ethernet frame, behind a virtio-net header when vnet_header is set (how
// a tap opened with IFF_VNET_HDR takes it, offload requests carried in the header).
std::vector<std::byte> build_frame(const TestPacket& packet, const Addressing& addressing,
                                   bool vnet_header);

// The receiving half of one TCP connection with no stack behind it. It answers a SYN to its
// port with a SYN-ACK (MSS 1460, window scale 14, so the window never limits the sender) and
// acknowledges the highest sequence number it has seen, holes included: the sender then never
// sees loss and streams as fast as it can, and what the bench counts is frames and bytes, not
// an intact byte stream. Everything else is ignored.
class TcpSinkStub {
 public:
  TcpSinkStub(Ipv4Address self, uint16_t port) : self_(self), port_(port) {}

  // Looks at the front of one received IPv4 packet (at least its IP and TCP headers, or all of
  // it when shorter); remembers what needs answering.
  void observe(ByteView packet);
  // The IPv4 packet to send now (a SYN-ACK or the newest ACK, checksums finished), once per
  // change; nullopt when nothing is owed. Callers ask once per receive batch, so ACKs coalesce
  // as a stack's do at the end of a batch.
  std::optional<std::vector<std::byte>> take_reply();

  bool connected() const { return connected_; }

 private:
  Ipv4Address self_;
  uint16_t port_;
  Ipv4Address peer_;
  uint16_t peer_port_ = 0;
  bool connected_ = false;
  bool syn_ack_owed_ = false;
  bool ack_owed_ = false;
  uint32_t rcv_nxt_ = 0;  // the highest sequence number seen, +1 per byte (and the SYN)
  static constexpr uint32_t kIsn = 1;
};

}  // namespace weir::tools::bench
