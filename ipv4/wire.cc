#include "ipv4/wire.h"

#include "stack/checksum.h"

namespace weir::ipv4 {

HeaderCheck check_header(ByteView bytes, std::optional<size_t> packet_length) {
  return wire_detail::check_header_rules(bytes, packet_length.value_or(bytes.size()));
}

Result<Header> Header::parse(ByteView bytes, std::optional<size_t> packet_length) {
  if (check_header(bytes, packet_length) != HeaderCheck::kOk) return Error::kBadMessage;
  return Header(bytes.first(size_t{load_u8(bytes, 0) & 0x0fu} * 4));
}

Status check_option(uint8_t type, ByteView data) {
  switch (type) {
    case kOptionRecordRoute:
    case kOptionLooseSourceRoute:
    case kOptionStrictSourceRoute:
      // A pointer byte, then whole addresses; the pointer counts from the option's start and
      // is at least 4 (RFC 791).
      if (data.empty() || load_u8(data, 0) < 4) return Error::kBadMessage;
      if ((data.size() - 1) % 4 != 0) return Error::kBadMessage;
      return ok_status();
    case kOptionTimestamp:
      // Pointer, overflow/flags, then 4- or 8-byte entries; the smallest pointer is 5.
      if (data.size() < 2 || load_u8(data, 0) < 5) return Error::kBadMessage;
      return ok_status();
    case kOptionStreamId:
    case kOptionRouterAlert:
      return data.size() == 2 ? ok_status() : Status(Error::kBadMessage);
    default:
      // Unknown options (and the security option, whose format RFC 1108 changed) are skipped
      // by their length, which the walk has already validated.
      return ok_status();
  }
}

ArpCheck check_arp(ByteView bytes) {
  if (bytes.size() < kArpPacketLength) return ArpCheck::kTruncated;
  if (load_be16(bytes, 0) != kArpHardwareEthernet || load_be16(bytes, 2) != 0x0800 ||
      load_u8(bytes, 4) != 6 || load_u8(bytes, 5) != 4) {
    return ArpCheck::kUnsupported;
  }
  uint16_t op = load_be16(bytes, 6);
  if (op != kArpRequest && op != kArpReply) return ArpCheck::kBadOpcode;
  return ArpCheck::kOk;
}

Result<ArpPacket> ArpPacket::parse(ByteView bytes) {
  if (check_arp(bytes) != ArpCheck::kOk) return Error::kBadMessage;
  return ArpPacket(bytes.first(kArpPacketLength));
}

void emit_arp(MutableByteView out, const ArpFields& f) {
  auto p = out.first(kArpPacketLength);
  store_be16(p, 0, kArpHardwareEthernet);
  store_be16(p, 2, 0x0800);
  store_u8(p, 4, 6);
  store_u8(p, 5, 4);
  store_be16(p, 6, f.opcode);
  copy_bytes(p, 8, f.sender_mac.bytes());
  store_be32(p, 14, f.sender_ip.value());
  copy_bytes(p, 18, f.target_mac.bytes());
  store_be32(p, 24, f.target_ip.value());
}

MacAddress multicast_mac(Ipv4Address group) {
  uint32_t v = group.value();
  return MacAddress({0x01, 0x00, 0x5e, static_cast<uint8_t>((v >> 16) & 0x7f),
                     static_cast<uint8_t>((v >> 8) & 0xff), static_cast<uint8_t>(v & 0xff)});
}

bool is_icmp_error(uint8_t type) {
  return type == kIcmpDestUnreachable || type == kIcmpSourceQuench || type == kIcmpRedirect ||
         type == kIcmpTimeExceeded || type == kIcmpParameterProblem;
}

Result<IcmpHeader> IcmpHeader::parse(ByteView bytes) {
  if (bytes.size() < kIcmpHeaderLength) return Error::kBadMessage;
  return IcmpHeader(bytes);
}

bool IcmpHeader::checksum_valid() const { return internet_checksum(bytes_) == 0; }

void emit_icmp(MutableByteView out, uint8_t type, uint8_t code, uint32_t rest_of_header) {
  store_u8(out, 0, type);
  store_u8(out, 1, code);
  store_be16(out, 2, 0);
  store_be32(out, 4, rest_of_header);
  store_be16(out, 2, internet_checksum(out));
}

}  // namespace weir::ipv4
