#include "ipv4/wire.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ipv4/fragmentation.h"
#include "tests/testing/ipv4_packets.h"
#include "tests/testing/testing.h"

namespace weir::ipv4 {
namespace {

using weir::testing::bytes_of;
using weir::testing::decode_ipv4;
using weir::testing::Ipv4Spec;

const Ipv4Address kA(192, 168, 1, 1);
const Ipv4Address kB(192, 168, 1, 2);

std::vector<std::byte> sample(size_t payload = 8) {
  std::vector<std::byte> p(payload, std::byte{0x5a});
  return weir::testing::ipv4_packet({.source = kA,
                                     .destination = kB,
                                     .protocol = 17,
                                     .ttl = 9,
                                     .tos = 3,
                                     .id = 0xbeef,
                                     .dont_fragment = true},
                                    p);
}

TEST(HeaderTest, ParsesFields) {
  auto bytes = sample();
  auto h = Header::parse(bytes);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->version(), 4);
  EXPECT_EQ(h->header_length(), 20u);
  EXPECT_EQ(h->tos(), 3);
  EXPECT_EQ(h->total_length(), 28);
  EXPECT_EQ(h->id(), 0xbeef);
  EXPECT_TRUE(h->dont_fragment());
  EXPECT_FALSE(h->more_fragments());
  EXPECT_FALSE(h->is_fragment());
  EXPECT_EQ(h->ttl(), 9);
  EXPECT_EQ(h->protocol(), 17);
  EXPECT_EQ(h->source(), kA);
  EXPECT_EQ(h->destination(), kB);
  EXPECT_TRUE(h->checksum_valid());
  EXPECT_TRUE(h->options().empty());
  EXPECT_EQ(h->bytes().size(), 20u);
}

TEST(HeaderTest, FragmentFields) {
  auto bytes = weir::testing::ipv4_packet(
      {.source = kA, .destination = kB, .more_fragments = true, .fragment_offset = 65528}, {});
  auto h = Header::parse(bytes);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->more_fragments());
  EXPECT_EQ(h->fragment_offset(), 65528u);
  EXPECT_TRUE(h->is_fragment());
}

TEST(HeaderTest, CheckNamesEachRule) {
  auto good = sample();
  EXPECT_EQ(check_header(good), HeaderCheck::kOk);
  EXPECT_EQ(check_header(ByteView(good).first(19)), HeaderCheck::kTruncated);
  EXPECT_EQ(check_header({}), HeaderCheck::kTruncated);
  auto bad = good;
  bad[0] = std::byte{0x65};
  EXPECT_EQ(check_header(bad), HeaderCheck::kBadVersion);
  bad[0] = std::byte{0x44};
  EXPECT_EQ(check_header(bad), HeaderCheck::kBadIhl);
  bad[0] = std::byte{0x40};
  EXPECT_EQ(check_header(bad), HeaderCheck::kBadIhl);
  bad[0] = std::byte{0x48};  // 32-byte header, 28 bytes present
  EXPECT_EQ(check_header(bad), HeaderCheck::kTruncated);
  bad = good;
  bad[3] = std::byte{19};
  EXPECT_EQ(check_header(bad), HeaderCheck::kBadTotalLength);
  bad[3] = std::byte{29};
  EXPECT_EQ(check_header(bad), HeaderCheck::kTruncated);
  // With the real packet length given separately, a linearized prefix is enough.
  EXPECT_EQ(check_header(ByteView(good).first(20), good.size()), HeaderCheck::kOk);
  EXPECT_EQ(check_header(ByteView(good).first(20), 27), HeaderCheck::kTruncated);
  EXPECT_FALSE(Header::parse(ByteView(good).first(19)));
}

TEST(HeaderTest, ChecksumValidity) {
  auto bytes = sample();
  bytes[8] = std::byte{10};  // TTL changed without fixing the sum
  auto h = Header::parse(bytes);
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->checksum_valid());
}

TEST(HeaderTest, EmitRoundTrips) {
  std::array<std::byte, 20> out{};
  emit_header(out, {.tos = 0xb8,
                    .total_length = 1500,
                    .id = 77,
                    .flags_and_offset = kFlagMoreFragments | 185,
                    .ttl = 1,
                    .protocol = 6,
                    .source = kA,
                    .destination = kB});
  auto p = decode_ipv4(ByteView(out));  // independent decoder; total length > bytes
  EXPECT_FALSE(p);
  auto h = Header::parse(out, 1500);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->checksum_valid());
  EXPECT_EQ(h->tos(), 0xb8);
  EXPECT_EQ(h->total_length(), 1500);
  EXPECT_EQ(h->id(), 77);
  EXPECT_TRUE(h->more_fragments());
  EXPECT_EQ(h->fragment_offset(), 1480u);
  EXPECT_EQ(h->ttl(), 1);
  EXPECT_EQ(h->protocol(), 6);
  EXPECT_EQ(h->source(), kA);
  EXPECT_EQ(h->destination(), kB);
}

TEST(OptionsTest, WalksKnownAndUnknownOptions) {
  auto options = bytes_of({1, 7, 7, 4, 1, 2, 3, 4, 0x9e, 3, 9, 0, 0xff, 0xff});
  std::vector<uint8_t> types;
  ASSERT_TRUE(walk_options(options, [&](const Option& o) { types.push_back(o.type); }));
  EXPECT_THAT(types, ::testing::ElementsAre(1, 7, 0x9e, 0));  // stops at End of List
}

TEST(OptionsTest, OptionDataExcludesTypeAndLength) {
  auto options = bytes_of({0x9e, 5, 0xa, 0xb, 0xc, 0});
  std::vector<std::byte> seen;
  ASSERT_TRUE(walk_options(options, [&](const Option& o) {
    if (o.type == 0x9e) seen.assign(o.data.begin(), o.data.end());
  }));
  EXPECT_EQ(seen, bytes_of({0xa, 0xb, 0xc}));
}

TEST(OptionsTest, RejectsMalformed) {
  auto nothing = [](const Option&) {};
  EXPECT_FALSE(walk_options(bytes_of({7}), nothing));
  EXPECT_FALSE(walk_options(bytes_of({0x9e, 0}), nothing));
  EXPECT_FALSE(walk_options(bytes_of({0x9e, 1}), nothing));
  EXPECT_FALSE(walk_options(bytes_of({0x9e, 5, 0, 0}), nothing));
  EXPECT_FALSE(walk_options(bytes_of({7, 3, 3}), nothing));
  EXPECT_FALSE(walk_options(bytes_of({137, 3, 2}), nothing));
  EXPECT_FALSE(walk_options(bytes_of({68, 4, 4, 0}), nothing));
  EXPECT_FALSE(walk_options(bytes_of({136, 3, 0}), nothing));
  EXPECT_TRUE(walk_options(bytes_of({136, 4, 0, 1}), nothing));
  EXPECT_TRUE(walk_options(bytes_of({7, 3, 4}), nothing));  // record route with no room yet
  EXPECT_TRUE(walk_options({}, nothing));
  EXPECT_TRUE(walk_options(bytes_of({0, 0xff, 0xff}), nothing));  // nothing after EOL is read
}

TEST(ArpWireTest, ParsesAndEmits) {
  const MacAddress sha({2, 0, 0, 0, 0, 1});
  const MacAddress tha({2, 0, 0, 0, 0, 2});
  std::array<std::byte, kArpPacketLength> out{};
  emit_arp(out, {kArpReply, sha, kA, tha, kB});
  EXPECT_EQ(std::vector<std::byte>(out.begin(), out.end()),
            weir::testing::arp_packet({kArpReply, sha, kA, tha, kB}));
  auto p = ArpPacket::parse(out);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->is_reply());
  EXPECT_FALSE(p->is_request());
  EXPECT_EQ(p->sender_mac(), sha);
  EXPECT_EQ(p->sender_ip(), kA);
  EXPECT_EQ(p->target_mac(), tha);
  EXPECT_EQ(p->target_ip(), kB);
}

TEST(ArpWireTest, CheckNamesEachRule) {
  auto good = weir::testing::arp_packet({kArpRequest, MacAddress(), kA, MacAddress(), kB});
  EXPECT_EQ(check_arp(good), ArpCheck::kOk);
  EXPECT_EQ(check_arp(ByteView(good).first(27)), ArpCheck::kTruncated);
  for (size_t i : {1u, 3u, 4u, 5u}) {
    auto bad = good;
    bad[i] ^= std::byte{0x01};
    EXPECT_EQ(check_arp(bad), ArpCheck::kUnsupported) << i;
  }
  auto bad = good;
  bad[7] = std::byte{0};
  EXPECT_EQ(check_arp(bad), ArpCheck::kBadOpcode);
}

TEST(IcmpWireTest, ParsesAndEmits) {
  std::vector<std::byte> msg(12, std::byte{0});
  msg[8] = std::byte{0x11};
  emit_icmp(msg, kIcmpDestUnreachable, kIcmpFragmentationNeeded, 1400);
  auto h = IcmpHeader::parse(msg);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type(), kIcmpDestUnreachable);
  EXPECT_EQ(h->code(), kIcmpFragmentationNeeded);
  EXPECT_EQ(h->next_hop_mtu(), 1400);
  EXPECT_EQ(h->body().size(), 4u);
  EXPECT_TRUE(h->checksum_valid());
  EXPECT_EQ(msg, weir::testing::icmpv4_message(3, 4, 1400, bytes_of({0x11, 0, 0, 0})));
  EXPECT_FALSE(IcmpHeader::parse(ByteView(msg).first(7)));
}

TEST(IcmpWireTest, ErrorTypes) {
  for (uint8_t t : {3, 4, 5, 11, 12}) EXPECT_TRUE(is_icmp_error(t)) << int{t};
  for (uint8_t t : {0, 8, 13, 14, 255}) EXPECT_FALSE(is_icmp_error(t)) << int{t};
}

TEST(MulticastMacTest, MapsLow23Bits) {
  EXPECT_EQ(multicast_mac(Ipv4Address(224, 0, 0, 1)), MacAddress({1, 0, 0x5e, 0, 0, 1}));
  EXPECT_EQ(multicast_mac(Ipv4Address(239, 255, 255, 250)),
            MacAddress({1, 0, 0x5e, 0x7f, 0xff, 0xfa}));
  EXPECT_EQ(multicast_mac(Ipv4Address(224, 128, 0, 1)), MacAddress({1, 0, 0x5e, 0, 0, 1}));
}

TEST(FragmentTest, SplitsOnEightByteBoundaries) {
  std::vector<std::byte> payload(4000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = std::byte(static_cast<uint8_t>(i));
  auto frags =
      fragment(PacketBuffer::from_bytes(payload),
               {.id = 5, .ttl = 64, .protocol = 17, .source = kA, .destination = kB}, 1500);
  ASSERT_TRUE(frags);
  ASSERT_EQ(frags->size(), 3u);
  const uint32_t offsets[] = {0, 1480, 2960};
  const uint16_t lengths[] = {1500, 1500, 1060};
  std::vector<std::byte> joined;
  for (size_t i = 0; i < 3; ++i) {
    auto bytes = (*frags)[i].to_vector();
    auto h = Header::parse(bytes);
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->checksum_valid());
    EXPECT_EQ(h->fragment_offset(), offsets[i]);
    EXPECT_EQ(h->total_length(), lengths[i]);
    EXPECT_EQ(h->more_fragments(), i < 2);
    EXPECT_EQ(h->id(), 5);
    joined.insert(joined.end(), bytes.begin() + 20, bytes.end());
  }
  EXPECT_EQ(joined, payload);
}

TEST(FragmentTest, RefusesImpossibleRequests) {
  auto pkt = PacketBuffer::from_bytes(std::vector<std::byte>(100));
  EXPECT_EQ(fragment(pkt, {}, 27).error(), Error::kMessageTooLong);
  EXPECT_EQ(fragment(pkt, {.flags_and_offset = kFlagDontFragment}, 60).error(),
            Error::kMessageTooLong);
  auto minimal = fragment(pkt, {}, 28);  // 8 bytes per fragment
  ASSERT_TRUE(minimal);
  EXPECT_EQ(minimal->size(), 13u);
  auto huge = PacketBuffer::from_bytes(std::vector<std::byte>(65516));
  EXPECT_FALSE(fragment(huge, {}, 1500));
}

}  // namespace
}  // namespace weir::ipv4
