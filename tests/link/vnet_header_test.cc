#include "link/vnet_header.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "stack/checksum.h"

namespace weir::link {
namespace {

TEST(VnetHeader, ParsesLittleEndianFields) {
  const std::array<std::byte, 10> raw = {std::byte{1},    std::byte{4},    std::byte{0x42},
                                         std::byte{0},    std::byte{0xa8}, std::byte{0x05},
                                         std::byte{0x22}, std::byte{0},    std::byte{0x10},
                                         std::byte{0}};
  const VnetHeader h = parse_vnet_header(raw);
  EXPECT_EQ(h.flags, kVnetFlagNeedsChecksum);
  EXPECT_EQ(h.gso_type, kVnetGsoTcpV6);
  EXPECT_EQ(h.header_length, 0x42);
  EXPECT_EQ(h.gso_size, 1448);
  EXPECT_EQ(h.csum_start, 0x22);
  EXPECT_EQ(h.csum_offset, 0x10);

  std::array<std::byte, 10> back{};
  write_vnet_header(back, h);
  EXPECT_EQ(back, raw);
}

TEST(VnetHeader, ShortInputIsAnEmptyHeader) {
  const std::array<std::byte, 3> raw = {std::byte{1}, std::byte{1}, std::byte{1}};
  const VnetHeader h = parse_vnet_header(raw);
  EXPECT_EQ(h.flags, 0);
  EXPECT_EQ(h.gso_type, kVnetGsoNone);
}

TEST(VnetHeader, RefusesWhatWouldLie) {
  VnetHeader h;
  EXPECT_EQ(check_received_vnet_header(h, 60, 14), VnetRefusal::kNone);

  h.gso_type = kVnetGsoUdp;  // UFO was never asked for
  h.gso_size = 1400;
  EXPECT_EQ(check_received_vnet_header(h, 9000, 14), VnetRefusal::kUnknownGsoType);
  h.gso_type = 0x7f;
  EXPECT_EQ(check_received_vnet_header(h, 9000, 14), VnetRefusal::kUnknownGsoType);
  h.gso_type = kVnetGsoEcn;  // ECN alone, no TCP type
  EXPECT_EQ(check_received_vnet_header(h, 9000, 14), VnetRefusal::kUnknownGsoType);
  h.gso_type = kVnetGsoTcpV4 | kVnetGsoEcn;
  EXPECT_EQ(check_received_vnet_header(h, 9000, 14), VnetRefusal::kNone);
  h.gso_size = 0;
  EXPECT_EQ(check_received_vnet_header(h, 9000, 14), VnetRefusal::kGsoWithoutSize);

  VnetHeader c;
  c.flags = kVnetFlagNeedsChecksum;
  c.csum_start = 34;  // Ethernet + IPv4
  c.csum_offset = 16;
  EXPECT_EQ(check_received_vnet_header(c, 54, 14), VnetRefusal::kNone);
  EXPECT_EQ(check_received_vnet_header(c, 51, 14), VnetRefusal::kChecksumOutOfFrame);
  c.csum_start = 4;  // inside the link header
  EXPECT_EQ(check_received_vnet_header(c, 54, 14), VnetRefusal::kChecksumOutOfFrame);
  c.csum_start = 0xffff;
  c.csum_offset = 0xffff;  // no wrap-around
  EXPECT_EQ(check_received_vnet_header(c, 54, 14), VnetRefusal::kChecksumOutOfFrame);
}

TEST(VnetHeader, ReceivedOffloadsBecomeMeta) {
  PacketMeta plain;
  apply_received_vnet_header(VnetHeader{}, plain);
  EXPECT_FALSE(plain.checksum_verified);
  EXPECT_EQ(plain.gso_type, GsoType::kNone);

  PacketMeta partial;
  apply_received_vnet_header(VnetHeader{.flags = kVnetFlagNeedsChecksum}, partial);
  EXPECT_TRUE(partial.checksum_verified);

  PacketMeta valid;
  apply_received_vnet_header(VnetHeader{.flags = kVnetFlagDataValid}, valid);
  EXPECT_TRUE(valid.checksum_verified);

  PacketMeta gso;
  apply_received_vnet_header(
      VnetHeader{.flags = kVnetFlagNeedsChecksum, .gso_type = kVnetGsoTcpV6, .gso_size = 1428},
      gso);
  EXPECT_EQ(gso.gso_type, GsoType::kTcpV6);
  EXPECT_EQ(gso.gso_size, 1428);
}

// A frame as the tap sees it on transmit: Ethernet, IPv4 (20), TCP with a 32-byte header.
PacketBuffer tcp_frame(size_t payload) {
  std::vector<std::byte> bytes(14 + 20 + 32 + payload);
  store_u8(bytes, 14, 0x45);
  store_u8(bytes, 14 + 20 + 12, 8 << 4);  // data offset: 8 words
  return PacketBuffer::from_bytes(bytes);
}

TEST(VnetHeader, SentOffloadsBecomeTheHeader) {
  PacketBuffer plain = tcp_frame(10);
  const VnetHeader none = vnet_header_for(plain, 14);
  EXPECT_EQ(none.flags, 0);
  EXPECT_EQ(none.gso_type, kVnetGsoNone);

  PacketBuffer sum = tcp_frame(10);
  sum.meta().needs_checksum = true;
  sum.meta().csum_start = 20;  // from the network header
  sum.meta().csum_offset = 16;
  const VnetHeader partial = vnet_header_for(sum, 14);
  EXPECT_EQ(partial.flags, kVnetFlagNeedsChecksum);
  EXPECT_EQ(partial.csum_start, 34);  // from the frame
  EXPECT_EQ(partial.csum_offset, 16);
  EXPECT_EQ(partial.gso_type, kVnetGsoNone);

  PacketBuffer big = tcp_frame(3 * 1448);
  big.meta().needs_checksum = true;
  big.meta().csum_start = 20;
  big.meta().csum_offset = 16;
  big.meta().gso_type = GsoType::kTcpV4;
  big.meta().gso_size = 1448;
  const VnetHeader gso = vnet_header_for(big, 14);
  EXPECT_EQ(gso.gso_type, kVnetGsoTcpV4);
  EXPECT_EQ(gso.gso_size, 1448);
  EXPECT_EQ(gso.header_length, 14 + 20 + 32);  // every header the kernel copies per segment
  EXPECT_EQ(check_received_vnet_header(gso, big.size(), 14), VnetRefusal::kNone);
}

// The software side of checksum offload: what a link that cannot sum gets from the stack.
TEST(OffloadedChecksum, FinishedInSoftwareMatchesAFullSum) {
  const IpAddress src = IpAddress(Ipv4Address(10, 0, 0, 1));
  const IpAddress dst = IpAddress(Ipv4Address(10, 0, 0, 2));
  std::vector<std::byte> transport(20 + 333);
  for (size_t i = 0; i < transport.size(); ++i) store_u8(transport, i, static_cast<uint8_t>(i * 7));
  store_be16(transport, 16, 0);
  ChecksumAccumulator full;
  full.add_u16(pseudo_header_sum(src, dst, 6, static_cast<uint32_t>(transport.size())));
  full.add(ByteView(transport));
  const uint16_t expected = full.finish();

  // As a transport leaves it: the pseudo-header sum in the field, the rest to the link.
  store_be16(transport, 16, pseudo_header_sum(src, dst, 6, static_cast<uint32_t>(transport.size())));
  std::vector<std::byte> network(20);
  network.insert(network.end(), transport.begin(), transport.end());
  PacketBuffer whole = PacketBuffer::from_bytes(network);
  whole.meta().needs_checksum = true;
  whole.meta().csum_start = 20;
  whole.meta().csum_offset = 16;
  finish_offloaded_checksum(whole);
  EXPECT_FALSE(whole.meta().needs_checksum);
  EXPECT_EQ(load_be16(whole.to_vector(), 20 + 16), expected);

  // The transport packet alone, before its network header exists (the fragmentation path).
  PacketBuffer alone = PacketBuffer::from_bytes(transport);
  alone.meta().needs_checksum = true;
  alone.meta().csum_start = 20;
  alone.meta().csum_offset = 16;
  finish_offloaded_checksum(alone, 20);
  EXPECT_EQ(load_be16(alone.to_vector(), 16), expected);

  // A request pointing outside the packet is dropped, and nothing is written.
  PacketBuffer bogus = PacketBuffer::from_bytes(transport);
  bogus.meta().needs_checksum = true;
  bogus.meta().csum_start = 5000;
  finish_offloaded_checksum(bogus);
  EXPECT_FALSE(bogus.meta().needs_checksum);
  EXPECT_EQ(bogus.to_vector(), transport);
}

}  // namespace
}  // namespace weir::link
