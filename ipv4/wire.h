// Wire views for IPv4 (RFC 791), ARP (RFC 826) and ICMPv4 (RFC 792).
//
// A view is built only by its parse function, which proves every length the accessors rely
// on; after that no accessor can read out of range. Each parse function has a sibling
// `check_*` that names the first rule the bytes broke, so the input path can count every drop
// reason separately. Emitters write a header into caller-provided space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/checksum.h"
#include "stack/result.h"

namespace weir::ipv4 {

// ---------------------------------------------------------------------------------------------
// IPv4 header.

inline constexpr size_t kMinHeaderLength = 20;
inline constexpr size_t kMaxHeaderLength = 60;
inline constexpr size_t kMaxDatagramLength = 65535;
// RFC 791: every host must accept a 68-byte datagram unfragmented; the smallest MTU we honour.
inline constexpr uint32_t kMinMtu = 68;

inline constexpr uint16_t kFlagReserved = 0x8000;
inline constexpr uint16_t kFlagDontFragment = 0x4000;
inline constexpr uint16_t kFlagMoreFragments = 0x2000;
inline constexpr uint16_t kFragmentOffsetMask = 0x1fff;

enum class HeaderCheck : uint8_t {
  kOk,
  kTruncated,       // fewer than 20 bytes, or fewer than IHL*4, or total length > bytes
  kBadVersion,      // version field is not 4
  kBadIhl,          // IHL < 5
  kBadTotalLength,  // total length < IHL*4
};

// Checks everything Header::parse needs; the checksum and options are checked separately.
// bytes starts at the IPv4 header and holds at least the header (it may hold more: payload,
// link padding). packet_length is how many bytes the whole packet has; by default
// bytes.size(). It lets a caller check a packet whose first bytes alone were linearized.
HeaderCheck check_header(ByteView bytes, std::optional<size_t> packet_length = std::nullopt);

namespace wire_detail {

// The rules of check_header(), inline in it and in Header::parse(): the receive path asks them
// once per datagram, and the call with an optional length cost as much as the rules.
inline HeaderCheck check_header_rules(ByteView bytes, size_t packet_length) {
  if (bytes.size() < kMinHeaderLength) return HeaderCheck::kTruncated;
  uint8_t first = load_u8(bytes, 0);
  if ((first >> 4) != 4) return HeaderCheck::kBadVersion;
  size_t header_length = size_t{first & 0x0fu} * 4;
  if (header_length < kMinHeaderLength) return HeaderCheck::kBadIhl;
  if (bytes.size() < header_length) return HeaderCheck::kTruncated;
  uint16_t total_length = load_be16(bytes, 2);
  if (total_length < header_length) return HeaderCheck::kBadTotalLength;
  if (total_length > packet_length) return HeaderCheck::kTruncated;
  return HeaderCheck::kOk;
}

}  // namespace wire_detail

class Header {
 public:
  static Result<Header> parse(ByteView bytes, std::optional<size_t> packet_length = std::nullopt);
  // parse() for an input path that counts every drop reason: the rule broken, or kOk with the
  // view in *header. One walk over the rules where check_header() and parse() took two; inline,
  // as checksum_valid(), since every datagram received asks both.
  static HeaderCheck parse(ByteView bytes, size_t packet_length, std::optional<Header>& header) {
    const HeaderCheck check = wire_detail::check_header_rules(bytes, packet_length);
    if (check == HeaderCheck::kOk) {
      header = Header(bytes.first(size_t{load_u8(bytes, 0) & 0x0fu} * 4));
    }
    return check;
  }

  uint8_t version() const { return load_u8(bytes_, 0) >> 4; }
  size_t header_length() const { return size_t{load_u8(bytes_, 0) & 0x0fu} * 4; }
  uint8_t tos() const { return load_u8(bytes_, 1); }
  uint16_t total_length() const { return load_be16(bytes_, 2); }
  uint16_t id() const { return load_be16(bytes_, 4); }
  uint16_t flags_and_offset() const { return load_be16(bytes_, 6); }
  bool dont_fragment() const { return (flags_and_offset() & kFlagDontFragment) != 0; }
  bool more_fragments() const { return (flags_and_offset() & kFlagMoreFragments) != 0; }
  // In bytes (the field counts 8-byte units).
  uint32_t fragment_offset() const {
    return uint32_t{static_cast<uint16_t>(flags_and_offset() & kFragmentOffsetMask)} * 8;
  }
  bool is_fragment() const { return more_fragments() || fragment_offset() != 0; }
  uint8_t ttl() const { return load_u8(bytes_, 8); }
  uint8_t protocol() const { return load_u8(bytes_, 9); }
  uint16_t checksum() const { return load_be16(bytes_, 10); }
  Ipv4Address source() const { return Ipv4Address(load_be32(bytes_, 12)); }
  Ipv4Address destination() const { return Ipv4Address(load_be32(bytes_, 16)); }
  ByteView options() const { return bytes_.subspan(kMinHeaderLength); }
  // The header itself (IHL*4 bytes).
  ByteView bytes() const { return bytes_; }
  bool checksum_valid() const {
    if (bytes_.size() == kMinHeaderLength) {
      return internet_checksum_of_20(bytes_.first<kMinHeaderLength>()) == 0;
    }
    return internet_checksum(bytes_) == 0;
  }

 private:
  explicit Header(ByteView header) : bytes_(header) {}
  ByteView bytes_;
};

// What an emitter needs; IHL is always 5 (we never send options).
struct HeaderFields {
  uint8_t tos = 0;
  uint16_t total_length = 0;
  uint16_t id = 0;
  uint16_t flags_and_offset = 0;  // kFlag* | (offset_bytes / 8)
  uint8_t ttl = 64;
  uint8_t protocol = 0;
  Ipv4Address source;
  Ipv4Address destination;
};

// Writes a 20-byte header with its checksum into out[0, 20). Inline: every datagram sent
// writes one, and as a call it took its fields through memory.
inline void emit_header(MutableByteView out, const HeaderFields& f) {
  const auto header = out.first<kMinHeaderLength>();
  store_u8(header, 0, 0x45);
  store_u8(header, 1, f.tos);
  store_be16(header, 2, f.total_length);
  store_be16(header, 4, f.id);
  store_be16(header, 6, f.flags_and_offset);
  store_u8(header, 8, f.ttl);
  store_u8(header, 9, f.protocol);
  store_be16(header, 10, 0);
  store_be32(header, 12, f.source.value());
  store_be32(header, 16, f.destination.value());
  store_be16(header, 10, internet_checksum_of_20(header));
}

// ---------------------------------------------------------------------------------------------
// IPv4 options (RFC 791 3.1). Hosts accept and ignore them, but the walk must never step past
// the header: every option's length byte is validated first.

inline constexpr uint8_t kOptionEndOfList = 0;
inline constexpr uint8_t kOptionNop = 1;
inline constexpr uint8_t kOptionRecordRoute = 7;
inline constexpr uint8_t kOptionTimestamp = 68;
inline constexpr uint8_t kOptionSecurity = 130;
inline constexpr uint8_t kOptionLooseSourceRoute = 131;
inline constexpr uint8_t kOptionStreamId = 136;
inline constexpr uint8_t kOptionStrictSourceRoute = 137;
inline constexpr uint8_t kOptionRouterAlert = 148;

struct Option {
  uint8_t type = 0;
  ByteView data;  // the bytes after type and length (empty for EOL/NOP)
};

// Walks options, calling visit(const Option&) for each one up to End of List. Fails with
// kBadMessage when an option's length is missing, < 2, or runs past the end, or when a known
// option has an impossible length or pointer.
template <typename F>
Status walk_options(ByteView options, F&& visit);

Status check_option(uint8_t type, ByteView data);

// ---------------------------------------------------------------------------------------------
// ARP for IPv4 over Ethernet.

inline constexpr size_t kArpPacketLength = 28;
inline constexpr uint16_t kArpHardwareEthernet = 1;
inline constexpr uint16_t kArpRequest = 1;
inline constexpr uint16_t kArpReply = 2;

enum class ArpCheck : uint8_t {
  kOk,
  kTruncated,    // fewer than 28 bytes
  kUnsupported,  // not Ethernet/IPv4 or wrong address lengths
  kBadOpcode,    // neither request nor reply
};
ArpCheck check_arp(ByteView bytes);

class ArpPacket {
 public:
  static Result<ArpPacket> parse(ByteView bytes);

  uint16_t opcode() const { return load_be16(bytes_, 6); }
  bool is_request() const { return opcode() == kArpRequest; }
  bool is_reply() const { return opcode() == kArpReply; }
  MacAddress sender_mac() const { return MacAddress::from_bytes(bytes_.subspan(8, 6)); }
  Ipv4Address sender_ip() const { return Ipv4Address(load_be32(bytes_, 14)); }
  MacAddress target_mac() const { return MacAddress::from_bytes(bytes_.subspan(18, 6)); }
  Ipv4Address target_ip() const { return Ipv4Address(load_be32(bytes_, 24)); }

 private:
  explicit ArpPacket(ByteView bytes) : bytes_(bytes) {}
  ByteView bytes_;
};

struct ArpFields {
  uint16_t opcode = kArpRequest;
  MacAddress sender_mac;
  Ipv4Address sender_ip;
  MacAddress target_mac;
  Ipv4Address target_ip;
};

// Writes a 28-byte Ethernet/IPv4 ARP packet into out[0, 28).
void emit_arp(MutableByteView out, const ArpFields& fields);

// The Ethernet multicast address an IPv4 group maps to (RFC 1112 6.4): 01:00:5e + low 23 bits.
MacAddress multicast_mac(Ipv4Address group);

// ---------------------------------------------------------------------------------------------
// ICMPv4.

inline constexpr size_t kIcmpHeaderLength = 8;

inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpDestUnreachable = 3;
inline constexpr uint8_t kIcmpSourceQuench = 4;
inline constexpr uint8_t kIcmpRedirect = 5;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpParameterProblem = 12;
inline constexpr uint8_t kIcmpTimestamp = 13;
inline constexpr uint8_t kIcmpTimestampReply = 14;

// Destination unreachable codes.
inline constexpr uint8_t kIcmpNetUnreachable = 0;
inline constexpr uint8_t kIcmpHostUnreachable = 1;
inline constexpr uint8_t kIcmpProtocolUnreachable = 2;
inline constexpr uint8_t kIcmpPortUnreachable = 3;
inline constexpr uint8_t kIcmpFragmentationNeeded = 4;
inline constexpr uint8_t kIcmpSourceRouteFailed = 5;
inline constexpr uint8_t kIcmpNetProhibited = 9;
inline constexpr uint8_t kIcmpHostProhibited = 10;
inline constexpr uint8_t kIcmpAdminProhibited = 13;
// Time exceeded codes.
inline constexpr uint8_t kIcmpTtlExceeded = 0;
inline constexpr uint8_t kIcmpReassemblyTimeExceeded = 1;

// An error message type (as opposed to a query): never answered with another error (RFC 1122
// 3.2.2).
bool is_icmp_error(uint8_t type);

class IcmpHeader {
 public:
  // bytes is the whole ICMP message (header and body); at least 8 bytes.
  static Result<IcmpHeader> parse(ByteView bytes);

  uint8_t type() const { return load_u8(bytes_, 0); }
  uint8_t code() const { return load_u8(bytes_, 1); }
  uint16_t checksum() const { return load_be16(bytes_, 2); }
  uint32_t rest_of_header() const { return load_be32(bytes_, 4); }
  uint16_t identifier() const { return load_be16(bytes_, 4); }    // echo
  uint16_t sequence() const { return load_be16(bytes_, 6); }      // echo
  uint16_t next_hop_mtu() const { return load_be16(bytes_, 6); }  // frag needed (RFC 1191)
  uint8_t pointer() const { return load_u8(bytes_, 4); }          // parameter problem
  ByteView body() const { return bytes_.subspan(kIcmpHeaderLength); }
  ByteView bytes() const { return bytes_; }
  bool checksum_valid() const;

 private:
  explicit IcmpHeader(ByteView bytes) : bytes_(bytes) {}
  ByteView bytes_;
};

// Writes type, code and rest-of-header into out[0, 8), then the checksum over all of out.
// The caller has already placed the body at out[8, ...).
void emit_icmp(MutableByteView out, uint8_t type, uint8_t code, uint32_t rest_of_header);

// ---------------------------------------------------------------------------------------------

template <typename F>
Status walk_options(ByteView options, F&& visit) {
  size_t pos = 0;
  while (pos < options.size()) {
    uint8_t type = load_u8(options, pos);
    if (type == kOptionEndOfList) {
      visit(Option{type, {}});
      return ok_status();
    }
    if (type == kOptionNop) {
      visit(Option{type, {}});
      ++pos;
      continue;
    }
    if (options.size() - pos < 2) return Error::kBadMessage;
    size_t length = load_u8(options, pos + 1);
    if (length < 2 || length > options.size() - pos) return Error::kBadMessage;
    ByteView data = options.subspan(pos + 2, length - 2);
    WEIR_TRY(check_option(type, data));
    visit(Option{type, data});
    pos += length;
  }
  return ok_status();
}

}  // namespace weir::ipv4
