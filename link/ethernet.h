// Ethernet II framing: the wire view and the helpers every Ethernet-like endpoint shares.
//
// Theory of operation. On transmit an endpoint gets a network-layer packet whose meta names
// the EtherType (network_protocol) and the next hop's MAC (link_destination); it calls
// push_ethernet_header() with its own MAC, which writes the 14-byte header into the packet's
// headroom. On receive it hands the whole frame to deliver_ethernet_frame(), which parses the
// header through EthernetView (bounds proven once), classifies the destination, fills the
// packet's meta, pulls the header and delivers to the NetworkDispatcher. Every frame that is
// not delivered is counted under a reason in LinkCounters.
//
// Receive-side meta contract (other endpoints and the sniffer rely on it): network_protocol is
// the EtherType, link_source the frame's source MAC, link_destination the frame's destination
// MAC, link_type its class. With these three fields the 14-byte header can be rebuilt exactly,
// which is how the sniffer records received frames.
//
// VLANs. EthernetView parses one 802.1Q (0x8100) or 802.1ad (0x88a8) tag, exposing the tag and
// the inner EtherType. The stack has no VLAN sub-interfaces, so deliver_ethernet_frame() drops
// tagged frames (rx_drop_vlan) rather than let a frame from another VLAN into this one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "link/link_counters.h"
#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir::link {

inline constexpr size_t kEthernetHeaderLength = 14;
inline constexpr size_t kVlanTagLength = 4;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;  // 802.1ad service tag
// EtherType values below this are 802.3 length fields, not protocol numbers.
inline constexpr uint16_t kEtherTypeMinimum = 0x0600;

class EthernetView {
 public:
  // Fails with kBadMessage when the frame is shorter than its header (14 bytes, 18 with a tag).
  static Result<EthernetView> parse(ByteView frame);

  MacAddress destination() const { return MacAddress::from_bytes(frame_.subspan(0, 6)); }
  MacAddress source() const { return MacAddress::from_bytes(frame_.subspan(6, 6)); }
  // The EtherType of the payload: the inner one when the frame is tagged.
  uint16_t ethertype() const { return load_be16(frame_, header_length_ - 2); }
  bool is_ethernet_ii() const { return ethertype() >= kEtherTypeMinimum; }
  // The tag's TCI (priority, DEI, VLAN id) when the frame carries one.
  std::optional<uint16_t> vlan_tci() const {
    if (header_length_ == kEthernetHeaderLength) return std::nullopt;
    return load_be16(frame_, 14);
  }
  size_t header_length() const { return header_length_; }
  ByteView header() const { return frame_.first(header_length_); }
  ByteView payload() const { return frame_.subspan(header_length_); }
  ByteView frame() const { return frame_; }

 private:
  EthernetView(ByteView frame, size_t header_length)
      : frame_(frame), header_length_(header_length) {}

  ByteView frame_;
  size_t header_length_;
};

// Writes an untagged Ethernet II header into out (at least 14 bytes).
void write_ethernet_header(MutableByteView out, MacAddress destination, MacAddress source,
                           uint16_t ethertype);

// Pushes the header for pkt: destination meta().link_destination, EtherType
// meta().network_protocol, source `source`.
void push_ethernet_header(PacketBuffer& pkt, MacAddress source);

// A whole frame as bytes, for tests and tools that build frames by hand.
std::vector<std::byte> build_ethernet_frame(MacAddress destination, MacAddress source,
                                            uint16_t ethertype, ByteView payload);

// How a frame addressed to `destination` looks to a host whose MAC is `self`.
LinkPacketType classify_destination(MacAddress destination, MacAddress self);

struct EthernetReceiveOptions {
  MacAddress self;
  bool promiscuous = false;  // deliver frames for other unicast MACs (as kOtherHost)
};

// Parses frame, fills its meta (see the contract above), pulls the header and delivers it to
// dispatcher. Returns true when delivered; otherwise the frame was counted and dropped.
// Counts rx_frames/rx_bytes for delivered frames only.
bool deliver_ethernet_frame(PacketBuffer&& frame, const EthernetReceiveOptions& options,
                            NetworkDispatcher* dispatcher, LinkCounters& counters);

}  // namespace weir::link
