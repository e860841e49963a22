#include "tests/testing/ipv6_packets.h"

#include "stack/checksum.h"

namespace weir::testing {

namespace {

void put16(std::vector<std::byte>& out, uint16_t v) {
  out.push_back(std::byte(v >> 8));
  out.push_back(std::byte(v & 0xff));
}
void put32(std::vector<std::byte>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xffff));
}
void append(std::vector<std::byte>& out, ByteView b) { out.insert(out.end(), b.begin(), b.end()); }

// One's complement sum over the IPv6 pseudo-header and the message, written out by hand.
uint16_t sum6(const Ipv6Address& source, const Ipv6Address& destination, uint8_t next_header,
              ByteView message) {
  std::vector<std::byte> pseudo;
  append(pseudo, source.bytes());
  append(pseudo, destination.bytes());
  put32(pseudo, static_cast<uint32_t>(message.size()));
  put32(pseudo, next_header);
  append(pseudo, message);
  if (pseudo.size() % 2 != 0) pseudo.push_back(std::byte{0});
  uint32_t sum = 0;
  for (size_t i = 0; i < pseudo.size(); i += 2) sum += load_be16(pseudo, i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

void put_lla_option(std::vector<std::byte>& out, uint8_t type, MacAddress mac) {
  out.push_back(std::byte{type});
  out.push_back(std::byte{1});
  for (uint8_t o : mac.octets()) out.push_back(std::byte{o});
}

}  // namespace

std::vector<std::byte> ipv6_packet(const Ipv6Spec& spec, ByteView payload) {
  std::vector<std::byte> out;
  put32(out, (uint32_t{spec.version.value_or(6)} << 28) | (uint32_t{spec.traffic_class} << 20) |
                 (spec.flow_label & 0xfffff));
  put16(out, spec.payload_length.value_or(static_cast<uint16_t>(payload.size())));
  out.push_back(std::byte{spec.next_header});
  out.push_back(std::byte{spec.hop_limit});
  append(out, spec.source.bytes());
  append(out, spec.destination.bytes());
  append(out, payload);
  return out;
}

std::vector<std::byte> ipv6_frame(MacAddress destination, MacAddress source, const Ipv6Spec& spec,
                                  ByteView payload) {
  return ethernet_frame(destination, source, kTestEtherTypeIpv6, ipv6_packet(spec, payload));
}

std::vector<std::byte> options_header(uint8_t next_header, ByteView options) {
  std::vector<std::byte> out;
  out.push_back(std::byte{next_header});
  out.push_back(std::byte{0});
  append(out, options);
  const size_t pad = (8 - out.size() % 8) % 8;
  if (pad == 1) {
    out.push_back(std::byte{0});  // Pad1
  } else if (pad >= 2) {
    out.push_back(std::byte{1});  // PadN
    out.push_back(std::byte(pad - 2));
    for (size_t i = 2; i < pad; ++i) out.push_back(std::byte{0});
  }
  out[1] = std::byte(out.size() / 8 - 1);
  return out;
}

std::vector<std::byte> routing_header(uint8_t next_header, uint8_t type, uint8_t segments_left,
                                      size_t addresses) {
  std::vector<std::byte> out;
  out.push_back(std::byte{next_header});
  out.push_back(std::byte(addresses * 2));
  out.push_back(std::byte{type});
  out.push_back(std::byte{segments_left});
  put32(out, 0);
  for (size_t i = 0; i < addresses; ++i) {
    std::array<uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8};
    a[15] = static_cast<uint8_t>(i + 1);
    append(out, Ipv6Address(a).bytes());
  }
  return out;
}

std::vector<std::byte> fragment_header(uint8_t next_header, uint32_t offset, bool more,
                                       uint32_t id) {
  std::vector<std::byte> out;
  out.push_back(std::byte{next_header});
  out.push_back(std::byte{0});
  put16(out, static_cast<uint16_t>((offset & 0xfff8) | (more ? 1 : 0)));
  put32(out, id);
  return out;
}

std::vector<std::byte> concat(std::initializer_list<ByteView> parts) {
  std::vector<std::byte> out;
  for (ByteView p : parts) append(out, p);
  return out;
}

std::vector<std::byte> icmpv6_message(uint8_t type, uint8_t code, uint32_t rest_of_header,
                                      ByteView body, const Ipv6Address& source,
                                      const Ipv6Address& destination) {
  std::vector<std::byte> out;
  out.push_back(std::byte{type});
  out.push_back(std::byte{code});
  put16(out, 0);
  put32(out, rest_of_header);
  append(out, body);
  const uint16_t sum = static_cast<uint16_t>(~sum6(source, destination, kTestNextIcmpv6, out));
  store_be16(out, 2, sum);
  return out;
}

std::vector<std::byte> icmpv6_echo(uint8_t type, uint16_t identifier, uint16_t sequence,
                                   ByteView data, const Ipv6Address& source,
                                   const Ipv6Address& destination) {
  return icmpv6_message(type, 0, (uint32_t{identifier} << 16) | sequence, data, source,
                        destination);
}

std::vector<std::byte> ndp_ns(const Ipv6Address& target, std::optional<MacAddress> source_lla,
                              const Ipv6Address& source, const Ipv6Address& destination) {
  std::vector<std::byte> body;
  append(body, target.bytes());
  if (source_lla) put_lla_option(body, 1, *source_lla);
  return icmpv6_message(kTestNdpNs, 0, 0, body, source, destination);
}

std::vector<std::byte> ndp_na(const Ipv6Address& target, bool router, bool solicited,
                              bool override_flag, std::optional<MacAddress> target_lla,
                              const Ipv6Address& source, const Ipv6Address& destination) {
  std::vector<std::byte> body;
  append(body, target.bytes());
  if (target_lla) put_lla_option(body, 2, *target_lla);
  const uint32_t flags = (router ? 0x80000000u : 0) | (solicited ? 0x40000000u : 0) |
                         (override_flag ? 0x20000000u : 0);
  return icmpv6_message(kTestNdpNa, 0, flags, body, source, destination);
}

std::vector<std::byte> udp6_datagram(uint16_t source_port, uint16_t destination_port,
                                     ByteView payload, const Ipv6Address& source,
                                     const Ipv6Address& destination,
                                     std::optional<uint16_t> checksum) {
  std::vector<std::byte> out;
  put16(out, source_port);
  put16(out, destination_port);
  put16(out, static_cast<uint16_t>(8 + payload.size()));
  put16(out, 0);
  append(out, payload);
  uint16_t sum = static_cast<uint16_t>(~sum6(source, destination, kTestNextUdp, out));
  if (sum == 0) sum = 0xffff;
  store_be16(out, 6, checksum.value_or(sum));
  return out;
}

Ipv6Address test_solicited_node(const Ipv6Address& address) {
  std::array<uint8_t, 16> o{0xff, 0x02};
  o[11] = 1;
  o[12] = 0xff;
  o[13] = address.octets()[13];
  o[14] = address.octets()[14];
  o[15] = address.octets()[15];
  return Ipv6Address(o);
}

MacAddress test_multicast_mac(const Ipv6Address& group) {
  const auto& o = group.octets();
  return MacAddress({0x33, 0x33, o[12], o[13], o[14], o[15]});
}

std::optional<Ipv6Packet> decode_ipv6(ByteView bytes) {
  if (bytes.size() < 40 || (load_u8(bytes, 0) >> 4) != 6) return std::nullopt;
  Ipv6Packet p;
  const uint32_t first = load_be32(bytes, 0);
  p.traffic_class = static_cast<uint8_t>((first >> 20) & 0xff);
  p.flow_label = first & 0xfffff;
  p.payload_length = load_be16(bytes, 4);
  if (size_t{p.payload_length} + 40 > bytes.size()) return std::nullopt;
  p.next_header = load_u8(bytes, 6);
  p.hop_limit = load_u8(bytes, 7);
  p.source = Ipv6Address::from_bytes(bytes.subspan(8, 16));
  p.destination = Ipv6Address::from_bytes(bytes.subspan(24, 16));
  ByteView rest = bytes.subspan(40, p.payload_length);
  p.raw_payload.assign(rest.begin(), rest.end());
  uint8_t next = p.next_header;
  size_t pos = 0;
  for (int guard = 0; guard < 32; ++guard) {
    if (next == 0 || next == 43 || next == 60) {
      if (rest.size() - pos < 8) return std::nullopt;
      const size_t length = (size_t{load_u8(rest, pos + 1)} + 1) * 8;
      if (rest.size() - pos < length) return std::nullopt;
      if (next == 0) {
        for (size_t o = pos + 2; o + 1 < pos + length;) {
          const uint8_t t = load_u8(rest, o);
          if (t == 0) {
            ++o;
            continue;
          }
          if (t == 5) p.router_alert = true;
          o += 2 + load_u8(rest, o + 1);
        }
      }
      next = load_u8(rest, pos);
      pos += length;
      continue;
    }
    if (next == 44) {
      if (rest.size() - pos < 8) return std::nullopt;
      Ipv6Fragment f;
      f.next_header = load_u8(rest, pos);
      const uint16_t fo = load_be16(rest, pos + 2);
      f.offset = fo & 0xfff8;
      f.more = (fo & 1) != 0;
      f.id = load_be32(rest, pos + 4);
      p.fragment = f;
      next = f.next_header;
      pos += 8;
      if (f.offset != 0 || f.more) break;  // the rest belongs to a reassembled datagram
      continue;
    }
    break;
  }
  p.protocol = next;
  ByteView upper = rest.subspan(pos);
  p.payload.assign(upper.begin(), upper.end());
  if (!p.fragment || (!p.fragment->more && p.fragment->offset == 0)) {
    if (next == 58 || next == 17 || next == 6) {
      p.checksum_ok = sum6(p.source, p.destination, next, upper) == 0xffff;
    }
  }
  return p;
}

std::optional<Icmpv6Message> decode_icmpv6(ByteView bytes) {
  if (bytes.size() < 8) return std::nullopt;
  Icmpv6Message m;
  m.type = load_u8(bytes, 0);
  m.code = load_u8(bytes, 1);
  m.rest_of_header = load_be32(bytes, 4);
  m.identifier = load_be16(bytes, 4);
  m.sequence = load_be16(bytes, 6);
  auto body = bytes.subspan(8);
  m.payload.assign(body.begin(), body.end());
  return m;
}

std::optional<NdpMessage> decode_ndp(ByteView bytes) {
  if (bytes.size() < 24) return std::nullopt;
  NdpMessage m;
  m.type = load_u8(bytes, 0);
  if (m.type != kTestNdpNs && m.type != kTestNdpNa) return std::nullopt;
  m.code = load_u8(bytes, 1);
  const uint8_t flags = load_u8(bytes, 4);
  m.router = (flags & 0x80) != 0;
  m.solicited = (flags & 0x40) != 0;
  m.override_flag = (flags & 0x20) != 0;
  m.target = Ipv6Address::from_bytes(bytes.subspan(8, 16));
  const uint8_t wanted = m.type == kTestNdpNs ? 1 : 2;
  for (size_t pos = 24; pos + 2 <= bytes.size();) {
    const size_t length = size_t{load_u8(bytes, pos + 1)} * 8;
    if (length == 0 || pos + length > bytes.size()) return std::nullopt;
    if (load_u8(bytes, pos) == wanted && length == 8 && !m.link_layer_address) {
      m.link_layer_address = MacAddress::from_bytes(bytes.subspan(pos + 2, 6));
    }
    pos += length;
  }
  return m;
}

void PrintTo(const Ipv6Packet& p, std::ostream* os) {
  *os << "IPv6 " << p.source.to_string() << " > " << p.destination.to_string()
      << " nh=" << int{p.next_header} << " hlim=" << int{p.hop_limit}
      << " plen=" << p.payload_length << " proto=" << int{p.protocol};
  if (p.fragment) {
    *os << " frag(off=" << p.fragment->offset << (p.fragment->more ? ",M" : "")
        << ",id=" << p.fragment->id << ")";
  }
  *os << " payload " << p.payload.size() << " bytes" << (p.checksum_ok ? " csum ok" : "");
}

void PrintTo(const Icmpv6Message& m, std::ostream* os) {
  *os << "ICMPv6 type " << int{m.type} << " code " << int{m.code} << " rest " << m.rest_of_header
      << " body " << m.payload.size() << " bytes";
}

void PrintTo(const NdpMessage& m, std::ostream* os) {
  *os << (m.type == kTestNdpNs ? "NS" : "NA") << " target " << m.target.to_string()
      << (m.router ? " R" : "") << (m.solicited ? " S" : "") << (m.override_flag ? " O" : "");
  if (m.link_layer_address) *os << " lla " << m.link_layer_address->to_string();
}

}  // namespace weir::testing
