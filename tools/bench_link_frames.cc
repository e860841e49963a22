#include "tools/bench_link_frames.h"

#include "link/ethernet.h"
#include "link/vnet_header.h"
#include "stack/checksum.h"
#include "stack/link_endpoint.h"

namespace weir::tools::bench {

namespace {

constexpr uint8_t kProtocolTcp = 6;
constexpr uint8_t kProtocolUdp = 17;
constexpr size_t kIpv4HeaderBytes = 20;
constexpr size_t kUdpHeaderBytes = 8;
constexpr size_t kTcpHeaderBytes = 20;
constexpr uint16_t kDiscardPort = 9;  // RFC 863: a port whose traffic means nothing
constexpr uint16_t kBenchTcpPort = 5001;
constexpr uint16_t kGsoSegment = 1460;  // the MSS of an MTU-1500 link without TCP options
constexpr size_t kGsoSegments = 44;     // the most 1460-byte segments in one 64 KiB packet

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAck = 0x10;

void write_ipv4_header(MutableByteView out, size_t total_length, uint8_t protocol,
                       Ipv4Address source, Ipv4Address destination) {
  store_u8(out, 0, 0x45);  // version 4, 20-byte header
  store_u8(out, 1, 0);
  store_be16(out, 2, static_cast<uint16_t>(total_length));
  store_be16(out, 4, 0);       // identification: meaningless with DF
  store_be16(out, 6, 0x4000);  // DF
  store_u8(out, 8, 64);
  store_u8(out, 9, protocol);
  store_be16(out, 10, 0);
  copy_bytes(out, 12, source.to_bytes());
  copy_bytes(out, 16, destination.to_bytes());
  store_be16(out, 10, internet_checksum(ByteView(out).first(kIpv4HeaderBytes)));
}

// The transport checksum of [headers after the IP header | payload], finished or (offloads)
// left as the pseudo-header sum for the receiver to complete.
void fill_transport_checksum(TestPacket& packet, const Addressing& a, uint8_t protocol,
                             uint16_t field, bool offloads) {
  const size_t transport_length = packet.ip_size() - kIpv4HeaderBytes;
  MutableByteView transport = MutableByteView(packet.headers).subspan(kIpv4HeaderBytes);
  const uint16_t pseudo = pseudo_header_sum(IpAddress(a.source_ip), IpAddress(a.destination_ip),
                                            protocol, static_cast<uint32_t>(transport_length));
  if (offloads) {
    store_be16(transport, field, pseudo);
    packet.needs_checksum = true;
    packet.csum_start = kIpv4HeaderBytes;
    packet.csum_offset = field;
    return;
  }
  store_be16(transport, field, 0);
  ChecksumAccumulator acc;
  acc.add_u16(pseudo);
  acc.add(ByteView(transport));
  acc.add(ByteView(packet.payload));
  uint16_t sum = acc.finish();
  if (protocol == kProtocolUdp && sum == 0) sum = 0xffff;  // 0 means "no checksum" in UDP
  store_be16(transport, field, sum);
}

TestPacket build_udp(size_t ip_size, const Addressing& a, bool offloads, bool split) {
  TestPacket packet;
  const size_t payload = ip_size - kIpv4HeaderBytes - kUdpHeaderBytes;
  // A small packet is one allocation, as an ACK is; a large one is headers + shared payload.
  const size_t inline_payload = split ? 0 : payload;
  packet.headers.resize(kIpv4HeaderBytes + kUdpHeaderBytes + inline_payload);
  packet.payload.resize(payload - inline_payload);
  for (size_t i = 0; i < packet.payload.size(); ++i) packet.payload[i] = std::byte(i & 0xff);
  write_ipv4_header(packet.headers, ip_size, kProtocolUdp, a.source_ip, a.destination_ip);
  MutableByteView udp = MutableByteView(packet.headers).subspan(kIpv4HeaderBytes);
  store_be16(udp, 0, kDiscardPort);
  store_be16(udp, 2, kDiscardPort);
  store_be16(udp, 4, static_cast<uint16_t>(ip_size - kIpv4HeaderBytes));
  fill_transport_checksum(packet, a, kProtocolUdp, 6, offloads);
  return packet;
}

TestPacket build_tcp_gso(const Addressing& a) {
  TestPacket packet;
  const size_t payload = kGsoSegment * kGsoSegments;
  const size_t ip_size = kIpv4HeaderBytes + kTcpHeaderBytes + payload;
  packet.headers.resize(kIpv4HeaderBytes + kTcpHeaderBytes);
  packet.payload.resize(payload);
  for (size_t i = 0; i < payload; ++i) packet.payload[i] = std::byte(i & 0xff);
  write_ipv4_header(packet.headers, ip_size, kProtocolTcp, a.source_ip, a.destination_ip);
  MutableByteView tcp = MutableByteView(packet.headers).subspan(kIpv4HeaderBytes);
  store_be16(tcp, 0, kBenchTcpPort);
  store_be16(tcp, 2, kBenchTcpPort);
  store_be32(tcp, 4, 1);  // sequence
  store_be32(tcp, 8, 1);  // acknowledgment
  store_u8(tcp, 12, (kTcpHeaderBytes / 4) << 4);
  store_u8(tcp, 13, kTcpAck | kTcpPsh);
  store_be16(tcp, 14, 0xffff);
  fill_transport_checksum(packet, a, kProtocolTcp, 16, /*offloads=*/true);
  packet.gso_type = GsoType::kTcpV4;
  packet.gso_size = kGsoSegment;
  return packet;
}

// A bare TCP segment (no payload) from the stub, checksums finished.
std::vector<std::byte> tcp_control(Ipv4Address self, Ipv4Address peer, uint16_t port,
                                   uint16_t peer_port, uint32_t seq, uint32_t ack, uint8_t flags,
                                   bool syn_options) {
  const size_t options = syn_options ? 8 : 0;
  const size_t tcp_length = kTcpHeaderBytes + options;
  std::vector<std::byte> packet(kIpv4HeaderBytes + tcp_length);
  write_ipv4_header(packet, packet.size(), kProtocolTcp, self, peer);
  MutableByteView tcp = MutableByteView(packet).subspan(kIpv4HeaderBytes);
  store_be16(tcp, 0, port);
  store_be16(tcp, 2, peer_port);
  store_be32(tcp, 4, seq);
  store_be32(tcp, 8, ack);
  store_u8(tcp, 12, static_cast<uint8_t>((tcp_length / 4) << 4));
  store_u8(tcp, 13, flags);
  store_be16(tcp, 14, 0xffff);  // scaled by 2^14 after the SYN: a 1 GiB window
  if (syn_options) {
    const uint8_t mss_and_scale[8] = {2, 4, kGsoSegment >> 8, kGsoSegment & 0xff, 1, 3, 3, 14};
    for (size_t i = 0; i < 8; ++i) store_u8(tcp, kTcpHeaderBytes + i, mss_and_scale[i]);
  }
  ChecksumAccumulator acc;
  acc.add_u16(pseudo_header_sum(IpAddress(self), IpAddress(peer), kProtocolTcp,
                                static_cast<uint32_t>(tcp_length)));
  acc.add(ByteView(tcp));
  store_be16(tcp, 16, acc.finish());
  return packet;
}

}  // namespace

const char* frame_size_name(FrameSize size) {
  switch (size) {
    case FrameSize::k64:
      return "64";
    case FrameSize::k1500:
      return "1500";
    case FrameSize::k64k:
      return "64k";
  }
  return "?";
}

std::optional<FrameSize> parse_frame_size(const std::string& text) {
  for (FrameSize s : {FrameSize::k64, FrameSize::k1500, FrameSize::k64k}) {
    if (text == frame_size_name(s)) return s;
  }
  return std::nullopt;
}

TestPacket build_test_packet(FrameSize size, const Addressing& addressing, bool offloads) {
  switch (size) {
    case FrameSize::k64:
      return build_udp(64 - kEthernetHeaderBytes, addressing, offloads, /*split=*/false);
    case FrameSize::k1500:
      return build_udp(1500, addressing, offloads, /*split=*/true);
    case FrameSize::k64k:
      return build_tcp_gso(addressing);
  }
  return {};
}

std::vector<std::byte> build_frame(const TestPacket& packet, const Addressing& addressing,
                                   bool vnet_header) {
  const size_t vnet = vnet_header ? link::kVnetHeaderLength : 0;
  std::vector<std::byte> frame(vnet + kEthernetHeaderBytes + packet.ip_size());
  MutableByteView out(frame);
  if (vnet_header) {
    link::VnetHeader h;
    if (packet.needs_checksum) {
      h.flags = link::kVnetFlagNeedsChecksum;
      h.csum_start = static_cast<uint16_t>(kEthernetHeaderBytes + packet.csum_start);
      h.csum_offset = packet.csum_offset;
    }
    if (packet.gso_type == GsoType::kTcpV4) {
      h.gso_type = link::kVnetGsoTcpV4;
      h.gso_size = packet.gso_size;
      h.header_length = static_cast<uint16_t>(kEthernetHeaderBytes + packet.headers.size());
    }
    link::write_vnet_header(out.first(vnet), h);
  }
  link::write_ethernet_header(out.subspan(vnet), addressing.destination_mac, addressing.source_mac,
                              kEtherTypeIpv4);
  copy_bytes(out, vnet + kEthernetHeaderBytes, packet.headers);
  copy_bytes(out, vnet + kEthernetHeaderBytes + packet.headers.size(), packet.payload);
  return frame;
}

void TcpSinkStub::observe(ByteView packet) {
  if (packet.size() < kIpv4HeaderBytes || load_u8(packet, 0) >> 4 != 4) return;
  const size_t ip_header = static_cast<size_t>(load_u8(packet, 0) & 0x0f) * 4;
  if (ip_header < kIpv4HeaderBytes || load_u8(packet, 9) != kProtocolTcp ||
      packet.size() < ip_header + kTcpHeaderBytes) {
    return;
  }
  if (Ipv4Address::from_bytes(packet.subspan(16, 4)) != self_) return;
  const ByteView tcp = packet.subspan(ip_header);
  if (load_be16(tcp, 2) != port_) return;
  const Ipv4Address from = Ipv4Address::from_bytes(packet.subspan(12, 4));
  const uint16_t from_port = load_be16(tcp, 0);
  const uint8_t flags = load_u8(tcp, 13);
  const uint32_t seq = load_be32(tcp, 4);
  if (flags & kTcpRst) return;
  if ((flags & kTcpSyn) && !(flags & kTcpAck)) {
    // A new connection (or the same SYN again): it replaces whatever came before.
    peer_ = from;
    peer_port_ = from_port;
    rcv_nxt_ = seq + 1;
    connected_ = false;
    syn_ack_owed_ = true;
    return;
  }
  if (from != peer_ || from_port != peer_port_) return;
  connected_ = true;
  const size_t tcp_header = static_cast<size_t>(load_u8(tcp, 12) >> 4) * 4;
  const size_t total = load_be16(packet, 2);
  if (total < ip_header + tcp_header) return;
  uint32_t end = seq + static_cast<uint32_t>(total - ip_header - tcp_header);
  if (flags & kTcpFin) ++end;
  // Modular "end is after rcv_nxt_": acknowledge the newest byte seen, never an older one.
  if (static_cast<int32_t>(end - rcv_nxt_) > 0) {
    rcv_nxt_ = end;
    ack_owed_ = true;
  }
}

std::optional<std::vector<std::byte>> TcpSinkStub::take_reply() {
  if (syn_ack_owed_) {
    syn_ack_owed_ = false;
    ack_owed_ = false;
    return tcp_control(self_, peer_, port_, peer_port_, kIsn, rcv_nxt_, kTcpSyn | kTcpAck, true);
  }
  if (ack_owed_) {
    ack_owed_ = false;
    return tcp_control(self_, peer_, port_, peer_port_, kIsn + 1, rcv_nxt_, kTcpAck, false);
  }
  return std::nullopt;
}

}  // namespace weir::tools::bench
