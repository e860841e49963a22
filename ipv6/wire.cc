#include "ipv6/wire.h"

#include "stack/checksum.h"
#include "stack/protocol.h"

namespace weir::ipv6 {

HeaderCheck check_header(ByteView bytes, std::optional<size_t> packet_length) {
  const size_t total = packet_length.value_or(bytes.size());
  if (bytes.size() < kHeaderLength || total < kHeaderLength) return HeaderCheck::kTruncated;
  if ((load_u8(bytes, 0) >> 4) != 6) return HeaderCheck::kBadVersion;
  if (size_t{load_be16(bytes, 4)} > total - kHeaderLength) return HeaderCheck::kBadPayloadLength;
  return HeaderCheck::kOk;
}

Result<Header> Header::parse(ByteView bytes, std::optional<size_t> packet_length) {
  if (check_header(bytes, packet_length) != HeaderCheck::kOk) return Error::kBadMessage;
  return Header(bytes.first(kHeaderLength));
}

void emit_header(MutableByteView out, const HeaderFields& f) {
  store_be32(out, 0,
             (uint32_t{6} << 28) | (uint32_t{f.traffic_class} << 20) | (f.flow_label & 0xfffffu));
  store_be16(out, 4, f.payload_length);
  store_u8(out, 6, f.next_header);
  store_u8(out, 7, f.hop_limit);
  copy_bytes(out, 8, f.source.bytes());
  copy_bytes(out, 24, f.destination.bytes());
}

bool is_v4_mapped(const Ipv6Address& address) { return address.is_v4_mapped(); }
Ipv6Address v4_mapped(Ipv4Address address) { return Ipv6Address::v4_mapped(address); }
Ipv4Address v4_from_mapped(const Ipv6Address& address) { return address.mapped_v4(); }

MacAddress multicast_mac(const Ipv6Address& group) {
  const auto& o = group.octets();
  return MacAddress({0x33, 0x33, o[12], o[13], o[14], o[15]});
}

Ipv6Address link_local_from_mac(const MacAddress& mac) {
  const auto& m = mac.octets();
  std::array<uint8_t, 16> o{};
  o[0] = 0xfe;
  o[1] = 0x80;
  o[8] = static_cast<uint8_t>(m[0] ^ 0x02);  // the universal/local bit, inverted
  o[9] = m[1];
  o[10] = m[2];
  o[11] = 0xff;
  o[12] = 0xfe;
  o[13] = m[3];
  o[14] = m[4];
  o[15] = m[5];
  return Ipv6Address(o);
}

ExtHeaderIter::ExtHeaderIter(ByteView packet, size_t packet_length)
    : ExtHeaderIter(packet, packet_length,
                    packet.size() > kNextHeaderOffset ? load_u8(packet, kNextHeaderOffset)
                                                      : kNextNoNextHeader,
                    kHeaderLength, kNextHeaderOffset) {}

ExtHeaderIter::ExtHeaderIter(ByteView packet, size_t packet_length, uint8_t next_header,
                             size_t offset, size_t next_header_field)
    : packet_(packet),
      packet_length_(packet_length),
      next_header_(next_header),
      offset_(offset),
      next_header_field_(next_header_field) {}

ExtHeaderIter::Step ExtHeaderIter::next() {
  if (!is_extension_header(next_header_)) return Step::kUpperLayer;
  if (count_ >= kMaxExtensionHeaders) return Step::kTooLong;
  // Every walked header is at least 8 bytes: two of head, then a multiple of 8 in all.
  if (offset_ > packet_length_ || packet_length_ - offset_ < 8) return Step::kTruncated;
  if (packet_.size() < offset_ + 8) {
    needed_ = offset_ + 8;
    return Step::kNeedMore;
  }
  const size_t length = next_header_ == kNextFragment
                            ? kFragmentHeaderLength
                            : (size_t{load_u8(packet_, offset_ + 1)} + 1) * 8;
  if (packet_length_ - offset_ < length) return Step::kTruncated;
  if (packet_.size() < offset_ + length) {
    needed_ = offset_ + length;
    return Step::kNeedMore;
  }
  header_.type = next_header_;
  header_.next_header = load_u8(packet_, offset_);
  header_.offset = offset_;
  header_.bytes = packet_.subspan(offset_, length);
  ++count_;
  next_header_field_ = offset_;
  next_header_ = header_.next_header;
  offset_ += length;
  return Step::kHeader;
}

ExtOptionsCheck check_ext_options(ByteView header) {
  size_t pos = 2;
  size_t padding_run = 0;
  size_t options = 0;
  while (pos < header.size()) {
    const uint8_t type = load_u8(header, pos);
    if (type == kOptionPad1) {
      ++pos;
      if (++padding_run > 7) return ExtOptionsCheck::kBadPadding;
      continue;
    }
    if (header.size() - pos < 2) return ExtOptionsCheck::kTruncated;
    const size_t length = load_u8(header, pos + 1);
    if (header.size() - pos - 2 < length) return ExtOptionsCheck::kTruncated;
    if (type == kOptionPadN) {
      // RFC 4942 3.1.6: padding is never longer than 7 bytes and carries only zeros; anything
      // else is a covert channel or an attempt to stretch the parser (Linux drops it too).
      padding_run += 2 + length;
      if (padding_run > 7) return ExtOptionsCheck::kBadPadding;
      for (size_t i = 0; i < length; ++i) {
        if (load_u8(header, pos + 2 + i) != 0) return ExtOptionsCheck::kBadPadding;
      }
    } else {
      padding_run = 0;
      if (++options > kMaxOptionsPerHeader) return ExtOptionsCheck::kTooMany;
    }
    pos += 2 + length;
  }
  return ExtOptionsCheck::kOk;
}

RoutingHeader parse_routing_header(ByteView header) {
  return RoutingHeader{load_u8(header, 2), load_u8(header, 3)};
}

FragmentHeader parse_fragment_header(ByteView header) {
  FragmentHeader f;
  f.next_header = load_u8(header, 0);
  const uint16_t offset_flags = load_be16(header, 2);
  f.offset = uint32_t{static_cast<uint16_t>(offset_flags & 0xfff8u)};
  f.more = (offset_flags & 1u) != 0;
  f.id = load_be32(header, 4);
  return f;
}

void emit_fragment_header(MutableByteView out, const FragmentHeader& f) {
  store_u8(out, 0, f.next_header);
  store_u8(out, 1, 0);
  store_be16(out, 2, static_cast<uint16_t>((f.offset & 0xfff8u) | (f.more ? 1u : 0u)));
  store_be32(out, 4, f.id);
}

Result<IcmpHeader> IcmpHeader::parse(ByteView bytes) {
  if (bytes.size() < kIcmpHeaderLength) return Error::kBadMessage;
  return IcmpHeader(bytes);
}

void emit_icmp(MutableByteView out, uint8_t type, uint8_t code, uint32_t rest_of_header,
               const Ipv6Address& source, const Ipv6Address& destination) {
  store_u8(out, 0, type);
  store_u8(out, 1, code);
  store_be16(out, 2, 0);
  store_be32(out, 4, rest_of_header);
  ChecksumAccumulator sum;
  sum.add_u16(pseudo_header_sum(IpAddress(source), IpAddress(destination), kProtocolIcmpv6,
                                static_cast<uint32_t>(out.size())));
  sum.add(ByteView(out));
  store_be16(out, 2, sum.finish());
}

}  // namespace weir::ipv6
