#include "tests/testing/ipv4_packets.h"

#include <cstdio>

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
void put_mac(std::vector<std::byte>& out, MacAddress mac) {
  for (uint8_t o : mac.octets()) out.push_back(std::byte(o));
}
void append(std::vector<std::byte>& out, ByteView b) { out.insert(out.end(), b.begin(), b.end()); }

std::string hex_prefix(const std::vector<std::byte>& b) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < b.size() && i < 16; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", std::to_integer<unsigned>(b[i]));
    s += buf;
  }
  if (b.size() > 16) s += "...";
  return s;
}

std::optional<Ipv4Packet> decode_ipv4_impl(ByteView bytes, bool allow_cut) {
  if (bytes.size() < 20) return std::nullopt;
  uint8_t first = load_u8(bytes, 0);
  if ((first >> 4) != 4) return std::nullopt;
  size_t header_length = size_t{first & 0x0fu} * 4;
  if (header_length < 20 || header_length > bytes.size()) return std::nullopt;
  Ipv4Packet p;
  p.header_length = static_cast<uint8_t>(header_length);
  p.tos = load_u8(bytes, 1);
  p.total_length = load_be16(bytes, 2);
  if (p.total_length < header_length) return std::nullopt;
  if (p.total_length > bytes.size() && !allow_cut) return std::nullopt;
  p.id = load_be16(bytes, 4);
  uint16_t fo = load_be16(bytes, 6);
  p.reserved_flag = (fo & 0x8000) != 0;
  p.dont_fragment = (fo & 0x4000) != 0;
  p.more_fragments = (fo & 0x2000) != 0;
  p.fragment_offset = uint32_t{static_cast<uint16_t>(fo & 0x1fff)} * 8;
  p.ttl = load_u8(bytes, 8);
  p.protocol = load_u8(bytes, 9);
  p.source = Ipv4Address(load_be32(bytes, 12));
  p.destination = Ipv4Address(load_be32(bytes, 16));
  p.checksum_ok = internet_checksum(bytes.first(header_length)) == 0;
  auto options = bytes.subspan(20, header_length - 20);
  p.options.assign(options.begin(), options.end());
  size_t end = std::min<size_t>(p.total_length, bytes.size());
  auto payload = bytes.subspan(header_length, end - header_length);
  p.payload.assign(payload.begin(), payload.end());
  return p;
}

}  // namespace

std::vector<std::byte> ethernet_frame(MacAddress destination, MacAddress source, uint16_t ethertype,
                                      ByteView payload) {
  std::vector<std::byte> out;
  put_mac(out, destination);
  put_mac(out, source);
  put16(out, ethertype);
  append(out, payload);
  return out;
}

std::vector<std::byte> ipv4_packet(const Ipv4Spec& spec, ByteView payload) {
  std::vector<std::byte> options = spec.options;
  while (options.size() % 4 != 0) options.push_back(std::byte{0});
  const size_t header_length = 20 + options.size();
  const uint8_t ihl = spec.ihl.value_or(static_cast<uint8_t>(header_length / 4));
  std::vector<std::byte> out;
  out.push_back(std::byte(static_cast<uint8_t>((spec.version.value_or(4) << 4) | (ihl & 0x0f))));
  out.push_back(std::byte{spec.tos});
  put16(out, spec.total_length.value_or(static_cast<uint16_t>(header_length + payload.size())));
  put16(out, spec.id);
  uint16_t fo = static_cast<uint16_t>((spec.fragment_offset / 8) & 0x1fff);
  if (spec.reserved_flag) fo |= 0x8000;
  if (spec.dont_fragment) fo |= 0x4000;
  if (spec.more_fragments) fo |= 0x2000;
  put16(out, fo);
  out.push_back(std::byte{spec.ttl});
  out.push_back(std::byte{spec.protocol});
  put16(out, 0);
  put32(out, spec.source.value());
  put32(out, spec.destination.value());
  append(out, options);
  uint16_t sum = spec.checksum.value_or(internet_checksum(ByteView(out).first(header_length)));
  out[10] = std::byte(sum >> 8);
  out[11] = std::byte(sum & 0xff);
  append(out, payload);
  return out;
}

std::vector<std::byte> ipv4_frame(MacAddress destination, MacAddress source, const Ipv4Spec& spec,
                                  ByteView payload) {
  return ethernet_frame(destination, source, kTestEtherTypeIpv4, ipv4_packet(spec, payload));
}

std::vector<std::byte> icmpv4_message(uint8_t type, uint8_t code, uint32_t rest_of_header,
                                      ByteView body) {
  std::vector<std::byte> out;
  out.push_back(std::byte{type});
  out.push_back(std::byte{code});
  put16(out, 0);
  put32(out, rest_of_header);
  append(out, body);
  uint16_t sum = internet_checksum(out);
  out[2] = std::byte(sum >> 8);
  out[3] = std::byte(sum & 0xff);
  return out;
}

std::vector<std::byte> icmpv4_echo(uint8_t type, uint16_t identifier, uint16_t sequence,
                                   ByteView data) {
  return icmpv4_message(type, 0, (uint32_t{identifier} << 16) | sequence, data);
}

std::vector<std::byte> arp_packet(const ArpSpec& spec) {
  std::vector<std::byte> out;
  put16(out, 1);
  put16(out, 0x0800);
  out.push_back(std::byte{6});
  out.push_back(std::byte{4});
  put16(out, spec.opcode);
  put_mac(out, spec.sender_mac);
  put32(out, spec.sender_ip.value());
  put_mac(out, spec.target_mac);
  put32(out, spec.target_ip.value());
  return out;
}

std::vector<std::byte> arp_frame(const ArpSpec& spec) {
  MacAddress destination =
      spec.opcode == kTestArpRequest ? MacAddress::broadcast() : spec.target_mac;
  return ethernet_frame(destination, spec.sender_mac, kTestEtherTypeArp, arp_packet(spec));
}

std::optional<EthernetFrame> decode_ethernet(ByteView bytes) {
  if (bytes.size() < 14) return std::nullopt;
  EthernetFrame f;
  f.destination = MacAddress::from_bytes(bytes.subspan(0, 6));
  f.source = MacAddress::from_bytes(bytes.subspan(6, 6));
  f.ethertype = load_be16(bytes, 12);
  f.payload.assign(bytes.begin() + 14, bytes.end());
  return f;
}

std::optional<Ipv4Packet> decode_ipv4(ByteView bytes) { return decode_ipv4_impl(bytes, false); }
std::optional<Ipv4Packet> decode_quoted_ipv4(ByteView bytes) {
  return decode_ipv4_impl(bytes, true);
}

std::optional<IcmpMessage> decode_icmpv4(ByteView bytes) {
  if (bytes.size() < 8) return std::nullopt;
  IcmpMessage m;
  m.type = load_u8(bytes, 0);
  m.code = load_u8(bytes, 1);
  m.checksum_ok = internet_checksum(bytes) == 0;
  m.rest_of_header = load_be32(bytes, 4);
  m.identifier = load_be16(bytes, 4);
  m.sequence = load_be16(bytes, 6);
  m.payload.assign(bytes.begin() + 8, bytes.end());
  return m;
}

std::optional<ArpMessage> decode_arp(ByteView bytes) {
  if (bytes.size() < 28) return std::nullopt;
  if (load_be16(bytes, 0) != 1 || load_be16(bytes, 2) != 0x0800 || load_u8(bytes, 4) != 6 ||
      load_u8(bytes, 5) != 4) {
    return std::nullopt;
  }
  ArpMessage m;
  m.opcode = load_be16(bytes, 6);
  m.sender_mac = MacAddress::from_bytes(bytes.subspan(8, 6));
  m.sender_ip = Ipv4Address(load_be32(bytes, 14));
  m.target_mac = MacAddress::from_bytes(bytes.subspan(18, 6));
  m.target_ip = Ipv4Address(load_be32(bytes, 24));
  return m;
}

void PrintTo(const EthernetFrame& f, std::ostream* os) {
  char type[8];
  std::snprintf(type, sizeof type, "%04x", f.ethertype);
  *os << "Ethernet{" << f.source.to_string() << " > " << f.destination.to_string() << " type 0x"
      << type << ", " << f.payload.size() << " bytes: " << hex_prefix(f.payload) << "}";
}

void PrintTo(const Ipv4Packet& p, std::ostream* os) {
  *os << "IPv4{" << p.source.to_string() << " > " << p.destination.to_string() << " proto "
      << int{p.protocol} << " ttl " << int{p.ttl} << " tos " << int{p.tos} << " id " << p.id
      << (p.dont_fragment ? " DF" : "") << (p.more_fragments ? " MF" : "") << " off "
      << p.fragment_offset << " len " << p.total_length << " hl " << int{p.header_length}
      << (p.checksum_ok ? "" : " BAD-CHECKSUM") << ", payload " << p.payload.size()
      << " bytes: " << hex_prefix(p.payload) << "}";
}

void PrintTo(const IcmpMessage& m, std::ostream* os) {
  *os << "ICMP{type " << int{m.type} << " code " << int{m.code} << " rest " << m.rest_of_header
      << (m.checksum_ok ? "" : " BAD-CHECKSUM") << ", body " << m.payload.size()
      << " bytes: " << hex_prefix(m.payload) << "}";
}

void PrintTo(const ArpMessage& m, std::ostream* os) {
  *os << "ARP{op " << m.opcode << " " << m.sender_mac.to_string() << "/" << m.sender_ip.to_string()
      << " > " << m.target_mac.to_string() << "/" << m.target_ip.to_string() << "}";
}

}  // namespace weir::testing
