// Wire views for IPv6 (RFC 8200): the fixed header, the extension header chain and its
// options, and the ICMPv6 header (RFC 4443). NDP messages and options are in ipv6/ndp_wire.h.
//
// As in ipv4/wire.h, a view is built only by its parse function, which proves every length
// the accessors rely on, and each check_* names the first rule the bytes broke so the input
// path counts every drop reason separately. Emitters write into caller-provided space.
//
// The extension header chain is walked by ExtHeaderIter, one header per step, never further
// than the packet and never more than kMaxExtensionHeaders headers. It works on a contiguous
// prefix of the packet: when a header lies past the bytes it was given but inside the packet,
// it asks for more (kNeedMore) and the caller hands it a longer prefix (rebind), so a packet
// made of several slices is linearized only as far as its headers reach.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/result.h"

namespace weir::ipv6 {

// ---------------------------------------------------------------------------------------------
// The fixed header.

inline constexpr size_t kHeaderLength = 40;
inline constexpr size_t kMaxPayloadLength = 65535;
// RFC 8200 5: every link carries 1280-byte packets; no path MTU is ever taken below it.
inline constexpr uint32_t kMinMtu = 1280;

// Offsets inside the fixed header, for Parameter Problem pointers.
inline constexpr size_t kPayloadLengthOffset = 4;
inline constexpr size_t kNextHeaderOffset = 6;

// Next header values (IANA "Assigned Internet Protocol Numbers").
inline constexpr uint8_t kNextHopByHop = 0;
inline constexpr uint8_t kNextTcp = 6;
inline constexpr uint8_t kNextUdp = 17;
inline constexpr uint8_t kNextRouting = 43;
inline constexpr uint8_t kNextFragment = 44;
inline constexpr uint8_t kNextEsp = 50;
inline constexpr uint8_t kNextAuthentication = 51;
inline constexpr uint8_t kNextIcmpv6 = 58;
inline constexpr uint8_t kNextNoNextHeader = 59;
inline constexpr uint8_t kNextDestinationOptions = 60;

enum class HeaderCheck : uint8_t {
  kOk,
  kTruncated,         // fewer than 40 bytes
  kBadVersion,        // version is not 6
  kBadPayloadLength,  // payload length runs past the bytes received
};

// bytes starts at the IPv6 header and holds at least its 40 bytes when the check passes;
// packet_length is the whole packet's size (by default bytes.size()).
HeaderCheck check_header(ByteView bytes, std::optional<size_t> packet_length = std::nullopt);

class Header {
 public:
  static Result<Header> parse(ByteView bytes, std::optional<size_t> packet_length = std::nullopt);

  uint8_t version() const { return load_u8(bytes_, 0) >> 4; }
  uint8_t traffic_class() const { return static_cast<uint8_t>((load_be16(bytes_, 0) >> 4) & 0xff); }
  uint32_t flow_label() const { return load_be32(bytes_, 0) & 0xfffffu; }
  uint16_t payload_length() const { return load_be16(bytes_, 4); }
  uint8_t next_header() const { return load_u8(bytes_, 6); }
  uint8_t hop_limit() const { return load_u8(bytes_, 7); }
  Ipv6Address source() const { return Ipv6Address::from_bytes(bytes_.subspan(8, 16)); }
  Ipv6Address destination() const { return Ipv6Address::from_bytes(bytes_.subspan(24, 16)); }
  ByteView bytes() const { return bytes_; }  // the 40 bytes

 private:
  explicit Header(ByteView bytes) : bytes_(bytes) {}
  ByteView bytes_;
};

struct HeaderFields {
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0;
  uint16_t payload_length = 0;
  uint8_t next_header = 0;
  uint8_t hop_limit = 64;
  Ipv6Address source;
  Ipv6Address destination;
};

// Writes the 40-byte header into out[0, 40).
void emit_header(MutableByteView out, const HeaderFields& fields);

// ---------------------------------------------------------------------------------------------
// Addresses.

// ::ffff:a.b.c.d (RFC 4291 2.5.5.2).
bool is_v4_mapped(const Ipv6Address& address);
Ipv6Address v4_mapped(Ipv4Address address);
Ipv4Address v4_from_mapped(const Ipv6Address& address);  // meaningful when is_v4_mapped
// The scope field of a multicast address (RFC 4291 2.7): 1 interface-local, 2 link-local, ...
inline uint8_t multicast_scope(const Ipv6Address& group) { return group.octets()[1] & 0x0f; }
// The Ethernet multicast address a group maps to (RFC 2464 7): 33:33 + its low 32 bits.
MacAddress multicast_mac(const Ipv6Address& group);
// fe80::/64 with the modified EUI-64 interface identifier of mac (RFC 4291 2.5.1, RFC 2464 4).
Ipv6Address link_local_from_mac(const MacAddress& mac);

// ---------------------------------------------------------------------------------------------
// Extension headers (RFC 8200 4).

// Chains longer than this are dropped: RFC 8200 4.1 recommends each header at most once
// (Destination Options twice), so anything near the bound is an attack on the parser.
inline constexpr size_t kMaxExtensionHeaders = 16;
inline constexpr size_t kFragmentHeaderLength = 8;

// Headers this layer walks: hop-by-hop, routing, fragment, destination options.
constexpr bool is_extension_header(uint8_t next_header) {
  return next_header == kNextHopByHop || next_header == kNextRouting ||
         next_header == kNextFragment || next_header == kNextDestinationOptions;
}

struct ExtensionHeader {
  uint8_t type = 0;         // this header's own protocol number
  uint8_t next_header = 0;  // what follows it
  size_t offset = 0;        // from the start of the IPv6 header
  ByteView bytes;           // the whole header
};

class ExtHeaderIter {
 public:
  enum class Step : uint8_t {
    kHeader,      // header() is the next extension header
    kUpperLayer,  // the chain ended: next_header() at offset() is not an extension header
    kNeedMore,    // rebind() a prefix of at least needed() bytes and call next() again
    kTruncated,   // a header runs past the end of the packet
    kTooLong,     // more than kMaxExtensionHeaders headers
  };

  // packet: a contiguous prefix of the packet (at least the 40-byte header); packet_length:
  // the whole packet's size (trimmed to the payload length). Walks from the fixed header's
  // next header.
  ExtHeaderIter(ByteView packet, size_t packet_length);
  // Resumes a walk elsewhere: after a reassembled fragment header, or inside a quoted packet.
  ExtHeaderIter(ByteView packet, size_t packet_length, uint8_t next_header, size_t offset,
                size_t next_header_field);

  Step next();
  void rebind(ByteView longer_prefix) { packet_ = longer_prefix; }

  const ExtensionHeader& header() const { return header_; }
  // What comes next and where: after kUpperLayer, the upper-layer protocol and its offset.
  uint8_t next_header() const { return next_header_; }
  size_t offset() const { return offset_; }
  // Where the next header value itself sits (for a Parameter Problem pointer).
  size_t next_header_field() const { return next_header_field_; }
  size_t needed() const { return needed_; }
  size_t count() const { return count_; }

 private:
  ByteView packet_;
  size_t packet_length_;
  uint8_t next_header_;
  size_t offset_;
  size_t next_header_field_;
  size_t needed_ = 0;
  size_t count_ = 0;
  ExtensionHeader header_;
};

// Hop-by-hop and destination options (RFC 8200 4.2).
inline constexpr uint8_t kOptionPad1 = 0;
inline constexpr uint8_t kOptionPadN = 1;
inline constexpr uint8_t kOptionRouterAlert = 5;  // RFC 2711, hop-by-hop only
inline constexpr uint8_t kOptionJumboPayload = 0xc2;
// Like Linux (max_hbh_opts_number, max_dst_opts_number): more non-padding options than this
// in one header drop the packet.
inline constexpr size_t kMaxOptionsPerHeader = 8;

// What the two high bits of an unrecognized option's type ask for.
enum class OptionAction : uint8_t {
  kSkip = 0,                     // 00
  kDiscard = 1,                  // 01
  kDiscardSendError = 2,         // 10: Parameter Problem code 2, even to multicast
  kDiscardSendErrorUnicast = 3,  // 11: Parameter Problem code 2 unless multicast
};
constexpr OptionAction option_action(uint8_t type) { return static_cast<OptionAction>(type >> 6); }

struct ExtOption {
  uint8_t type = 0;
  size_t offset = 0;  // of the type byte, from the start of the extension header
  ByteView data;      // empty for Pad1
};

enum class ExtOptionsCheck : uint8_t {
  kOk,
  kTruncated,   // an option's length runs past the header
  kBadPadding,  // PadN carrying non-zero bytes, or more than 7 padding bytes in a row
  kTooMany,     // more than kMaxOptionsPerHeader non-padding options
};

// Walks the options of a hop-by-hop or destination options header (`header` is the whole
// extension header), calling visit(const ExtOption&) for each option other than padding; visit
// returns false to stop the walk early. The framing is checked before anything is visited:
// a header that fails the check has no option visited.
template <typename F>
ExtOptionsCheck walk_ext_options(ByteView header, F&& visit);
ExtOptionsCheck check_ext_options(ByteView header);

// Routing header (RFC 8200 4.4): type and segments left.
inline constexpr size_t kRoutingTypeOffset = 2;  // in the routing header
inline constexpr uint8_t kRoutingType0 = 0;      // deprecated by RFC 5095
struct RoutingHeader {
  uint8_t routing_type = 0;
  uint8_t segments_left = 0;
};
// header: the whole routing header (at least 8 bytes, as ExtHeaderIter guarantees).
RoutingHeader parse_routing_header(ByteView header);

// Fragment header (RFC 8200 4.5).
struct FragmentHeader {
  uint8_t next_header = 0;
  uint32_t offset = 0;  // bytes
  bool more = false;
  uint32_t id = 0;
};
inline constexpr size_t kFragmentOffsetField = 2;  // in the fragment header
// header: the 8-byte fragment header.
FragmentHeader parse_fragment_header(ByteView header);
void emit_fragment_header(MutableByteView out, const FragmentHeader& fields);

// ---------------------------------------------------------------------------------------------
// ICMPv6 (RFC 4443).

inline constexpr size_t kIcmpHeaderLength = 8;

inline constexpr uint8_t kIcmpDestUnreachable = 1;
inline constexpr uint8_t kIcmpPacketTooBig = 2;
inline constexpr uint8_t kIcmpTimeExceeded = 3;
inline constexpr uint8_t kIcmpParameterProblem = 4;
inline constexpr uint8_t kIcmpEchoRequest = 128;
inline constexpr uint8_t kIcmpEchoReply = 129;
inline constexpr uint8_t kIcmpMldQuery = 130;
inline constexpr uint8_t kIcmpMldReport = 131;
inline constexpr uint8_t kIcmpMldDone = 132;
inline constexpr uint8_t kIcmpMldv2Report = 143;

// Destination unreachable codes.
inline constexpr uint8_t kIcmpNoRoute = 0;
inline constexpr uint8_t kIcmpAdminProhibited = 1;
inline constexpr uint8_t kIcmpBeyondScope = 2;
inline constexpr uint8_t kIcmpAddressUnreachable = 3;
inline constexpr uint8_t kIcmpPortUnreachable = 4;
inline constexpr uint8_t kIcmpSourcePolicyFailed = 5;
inline constexpr uint8_t kIcmpRejectRoute = 6;
// Time exceeded codes.
inline constexpr uint8_t kIcmpHopLimitExceeded = 0;
inline constexpr uint8_t kIcmpReassemblyTimeExceeded = 1;
// Parameter problem codes.
inline constexpr uint8_t kIcmpErroneousHeader = 0;
inline constexpr uint8_t kIcmpUnrecognizedNextHeader = 1;
inline constexpr uint8_t kIcmpUnrecognizedOption = 2;
inline constexpr uint8_t kIcmpIncompleteChain = 3;  // RFC 7112

// Types 0-127 are errors (RFC 4443 2.1).
constexpr bool is_icmp_error(uint8_t type) { return type < 128; }

class IcmpHeader {
 public:
  // bytes: the whole ICMPv6 message; at least 8 bytes.
  static Result<IcmpHeader> parse(ByteView bytes);

  uint8_t type() const { return load_u8(bytes_, 0); }
  uint8_t code() const { return load_u8(bytes_, 1); }
  uint16_t checksum() const { return load_be16(bytes_, 2); }
  uint32_t rest_of_header() const { return load_be32(bytes_, 4); }
  uint16_t identifier() const { return load_be16(bytes_, 4); }  // echo
  uint16_t sequence() const { return load_be16(bytes_, 6); }    // echo
  uint32_t mtu() const { return load_be32(bytes_, 4); }         // packet too big
  uint32_t pointer() const { return load_be32(bytes_, 4); }     // parameter problem
  ByteView body() const { return bytes_.subspan(kIcmpHeaderLength); }
  ByteView bytes() const { return bytes_; }

 private:
  explicit IcmpHeader(ByteView bytes) : bytes_(bytes) {}
  ByteView bytes_;
};

// Writes type, code and rest-of-header into out[0, 8), then the checksum over all of out and
// the pseudo-header of source and destination (RFC 4443 2.3). The body is already in place.
void emit_icmp(MutableByteView out, uint8_t type, uint8_t code, uint32_t rest_of_header,
               const Ipv6Address& source, const Ipv6Address& destination);

// ---------------------------------------------------------------------------------------------

template <typename F>
ExtOptionsCheck walk_ext_options(ByteView header, F&& visit) {
  if (ExtOptionsCheck c = check_ext_options(header); c != ExtOptionsCheck::kOk) return c;
  size_t pos = 2;
  while (pos < header.size()) {
    const uint8_t type = load_u8(header, pos);
    if (type == kOptionPad1) {
      ++pos;
      continue;
    }
    const size_t length = load_u8(header, pos + 1);  // check_ext_options proved it fits
    if (type != kOptionPadN) {
      if (!visit(ExtOption{type, pos, header.subspan(pos + 2, length)})) break;
    }
    pos += 2 + length;
  }
  return ExtOptionsCheck::kOk;
}

}  // namespace weir::ipv6
