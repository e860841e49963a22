#include "udp/wire.h"

#include <gtest/gtest.h>

#include "tests/testing/testing.h"
#include "tests/udp/fake_network.h"

namespace weir::udp {
namespace {

using testing::build_datagram;
using testing::ip;
using testing::sa;
using weir::testing::bytes_of;

// An independent reference: RFC 768 sum over pseudo header + datagram, 16 bits at a time.
uint16_t reference_checksum(const std::vector<std::byte>& datagram, const IpAddress& src,
                            const IpAddress& dst) {
  uint32_t sum = 0;
  auto add_bytes = [&](ByteView b) {
    for (size_t i = 0; i < b.size(); i += 2) {
      uint32_t hi = load_u8(b, i);
      uint32_t lo = i + 1 < b.size() ? load_u8(b, i + 1) : 0;
      sum += (hi << 8) | lo;
    }
  };
  add_bytes(src.bytes());
  add_bytes(dst.bytes());
  sum += 17;
  sum += static_cast<uint32_t>(datagram.size());
  add_bytes(datagram);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

TEST(UdpWireTest, ParseNeedsEightBytes) {
  auto seven = bytes_of({0, 1, 0, 2, 0, 8, 0});
  EXPECT_EQ(Header::parse(seven).error(), Error::kBadMessage);
  EXPECT_EQ(Header::parse(ByteView{}).error(), Error::kBadMessage);
}

TEST(UdpWireTest, ReadsFields) {
  auto bytes = bytes_of({0x12, 0x34, 0x00, 0x07, 0x00, 0x0a, 0xbe, 0xef, 0x61, 0x62, 0x99});
  auto h = Header::parse(bytes).value();
  EXPECT_EQ(h.source_port(), 0x1234);
  EXPECT_EQ(h.destination_port(), 7);
  EXPECT_EQ(h.length(), 10);
  EXPECT_EQ(h.checksum(), 0xbeef);
  EXPECT_EQ(h.bytes().size(), kHeaderLength);
}

TEST(UdpWireTest, LengthFieldAgainstDeliveredBytes) {
  auto make = [](uint16_t length) {
    return bytes_of({0, 1, 0, 2, length >> 8, length & 0xff, 0, 0});
  };
  auto below_header = make(7);
  EXPECT_EQ(datagram_length(Header::parse(below_header).value(), 100).error(), Error::kBadMessage);
  auto too_long = make(21);
  EXPECT_EQ(datagram_length(Header::parse(too_long).value(), 20).error(), Error::kBadMessage);
  auto exact = make(20);
  EXPECT_EQ(datagram_length(Header::parse(exact).value(), 20).value(), 20u);
  auto padded = make(12);  // the rest is padding for the caller to trim
  EXPECT_EQ(datagram_length(Header::parse(padded).value(), 46).value(), 12u);
  auto header_only = make(8);
  EXPECT_EQ(datagram_length(Header::parse(header_only).value(), 8).value(), 8u);
}

TEST(UdpWireTest, ChecksumMatchesReferenceIpv4AndIpv6) {
  for (const char* payload : {"", "a", "hello world", "odd-length!"}) {
    for (auto [src, dst] : {std::pair{sa("10.0.0.1", 5000), sa("10.0.0.2", 53)},
                            std::pair{sa("fd00::1", 5000), sa("fd00::2", 53)}}) {
      PacketBuffer pkt = build_datagram(src, dst, as_bytes(payload), testing::Checksum::kZero);
      uint16_t expected = reference_checksum(pkt.to_vector(), src.address, dst.address);
      if (expected == 0) expected = 0xffff;
      EXPECT_EQ(compute_checksum(pkt, src.address, dst.address), expected) << payload;
      PacketBuffer with_sum = build_datagram(src, dst, as_bytes(payload));
      EXPECT_TRUE(checksum_valid(with_sum, src.address, dst.address));
      // Any other pseudo header (here: a different destination) fails.
      EXPECT_FALSE(
          checksum_valid(with_sum, src.address, ip(dst.address.is_v4() ? "10.0.0.9" : "fd00::9")));
    }
  }
}

TEST(UdpWireTest, ChecksumOverSeveralSlices) {
  auto src = sa("10.0.0.1", 1111);
  auto dst = sa("10.0.0.2", 2222);
  PacketBuffer one = build_datagram(src, dst, as_bytes("abcdefghijklmnopq"));
  // The same bytes split at an odd offset into two slices.
  auto bytes = one.to_vector();
  PacketBuffer split = PacketBuffer::from_bytes(ByteView(bytes).first(11));
  split.append(PacketBuffer::from_bytes(ByteView(bytes).subspan(11)));
  ASSERT_EQ(split.view_count(), 2u);
  EXPECT_TRUE(checksum_valid(split, src.address, dst.address));
}

TEST(UdpWireTest, ComputedZeroIsSentAsAllOnes) {
  auto src = sa("10.0.0.1", 1000);
  auto dst = sa("10.0.0.2", 2000);
  // With a zero payload word the field would be c0; making the payload word c0 brings the
  // one's complement sum to 0xffff, i.e. a computed checksum of 0.
  std::vector<std::byte> payload(2);
  PacketBuffer probe = build_datagram(src, dst, payload, testing::Checksum::kZero);
  const uint16_t c0 = compute_checksum(probe, src.address, dst.address);
  store_be16(payload, 0, c0);
  PacketBuffer pkt = build_datagram(src, dst, payload, testing::Checksum::kZero);
  EXPECT_EQ(reference_checksum(pkt.to_vector(), src.address, dst.address), 0);
  EXPECT_EQ(compute_checksum(pkt, src.address, dst.address), 0xffff);
  // And 0xffff in the field verifies.
  PacketBuffer sent = build_datagram(src, dst, payload);
  EXPECT_EQ(load_be16(sent.front(8).value(), 6), 0xffff);
  EXPECT_TRUE(checksum_valid(sent, src.address, dst.address));
}

TEST(UdpWireTest, WriteHeader) {
  std::vector<std::byte> out(8);
  write_header(out, 53, 40000, 30, 0xabcd);
  EXPECT_EQ(out, bytes_of({0, 53, 0x9c, 0x40, 0, 30, 0xab, 0xcd}));
}

}  // namespace
}  // namespace weir::udp
