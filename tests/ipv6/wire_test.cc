#include "ipv6/wire.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stack/checksum.h"
#include "tests/testing/ipv6_packets.h"

namespace weir::ipv6 {
namespace {

using namespace weir::testing;  // NOLINT

Ipv6Address v6(const char* text) { return Ipv6Address::parse(text).value(); }

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(std::byte(v));
  return out;
}

TEST(Ipv6WireTest, CheckHeaderNamesTheFirstBrokenRule) {
  auto packet = ipv6_packet({.source = v6("fd00::2"), .destination = v6("fd00::1")},
                            std::vector<std::byte>(10));
  EXPECT_EQ(check_header(packet), HeaderCheck::kOk);
  EXPECT_EQ(check_header(ByteView(packet).first(39)), HeaderCheck::kTruncated);
  auto v4 = ipv6_packet({.version = 4}, {});
  EXPECT_EQ(check_header(v4), HeaderCheck::kBadVersion);
  auto long_payload = ipv6_packet({.payload_length = 11}, std::vector<std::byte>(10));
  EXPECT_EQ(check_header(long_payload), HeaderCheck::kBadPayloadLength);
  // Link padding past the payload length is fine.
  auto padded = ipv6_packet({.payload_length = 4}, std::vector<std::byte>(10));
  EXPECT_EQ(check_header(padded), HeaderCheck::kOk);
  // A prefix plus the real length: the check trusts packet_length for the payload.
  EXPECT_EQ(check_header(ByteView(packet).first(40), packet.size()), HeaderCheck::kOk);
  EXPECT_EQ(check_header(ByteView(packet).first(40), 45), HeaderCheck::kBadPayloadLength);
}

TEST(Ipv6WireTest, HeaderAccessorsAndEmitRoundTrip) {
  HeaderFields f;
  f.traffic_class = 0xb8;
  f.flow_label = 0xabcde;
  f.payload_length = 1234;
  f.next_header = 17;
  f.hop_limit = 3;
  f.source = v6("2001:db8::1");
  f.destination = v6("ff02::1:ff00:2");
  std::vector<std::byte> out(kHeaderLength + 1234);
  emit_header(out, f);
  auto h = Header::parse(out);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->version(), 6);
  EXPECT_EQ(h->traffic_class(), 0xb8);
  EXPECT_EQ(h->flow_label(), 0xabcdeu);
  EXPECT_EQ(h->payload_length(), 1234);
  EXPECT_EQ(h->next_header(), 17);
  EXPECT_EQ(h->hop_limit(), 3);
  EXPECT_EQ(h->source(), f.source);
  EXPECT_EQ(h->destination(), f.destination);
  // The independent decoder agrees.
  auto d = decode_ipv6(out);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->traffic_class, 0xb8);
  EXPECT_EQ(d->flow_label, 0xabcdeu);
}

TEST(Ipv6WireTest, AddressHelpers) {
  EXPECT_EQ(multicast_mac(v6("ff02::1")), MacAddress({0x33, 0x33, 0, 0, 0, 1}));
  EXPECT_EQ(multicast_mac(v6("ff02::1:ff12:3456")),
            MacAddress({0x33, 0x33, 0xff, 0x12, 0x34, 0x56}));
  EXPECT_EQ(link_local_from_mac(MacAddress({0x02, 0x00, 0x5e, 0x10, 0x00, 0x01})),
            v6("fe80::5eff:fe10:1"));
  EXPECT_EQ(link_local_from_mac(MacAddress({0x52, 0x54, 0x00, 0x12, 0x34, 0x56})),
            v6("fe80::5054:ff:fe12:3456"));
  const Ipv6Address mapped = v6("::ffff:192.0.2.7");
  EXPECT_TRUE(is_v4_mapped(mapped));
  EXPECT_FALSE(is_v4_mapped(v6("::192.0.2.7")));
  EXPECT_FALSE(is_v4_mapped(v6("fd00::ffff:c000:207")));
  EXPECT_EQ(v4_from_mapped(mapped), Ipv4Address(192, 0, 2, 7));
  EXPECT_EQ(v4_mapped(Ipv4Address(192, 0, 2, 7)), mapped);
  EXPECT_EQ(multicast_scope(v6("ff02::1")), 2);
  EXPECT_EQ(multicast_scope(v6("ff05::2")), 5);
}

std::vector<std::byte> chain_packet(ByteView headers, uint8_t first) {
  return ipv6_packet({.next_header = first},
                     concat({headers, bytes_of({0x80, 0, 0, 0, 0, 0, 0, 0})}));
}

TEST(Ipv6WireTest, IteratorWalksEveryExtensionHeaderToTheUpperLayer) {
  auto hbh = options_header(kNextDestinationOptions, bytes_of({5, 2, 0, 0}));
  auto dst = options_header(kNextRouting, {});
  auto rt = routing_header(kNextFragment, 0, 0, 2);
  auto frag = fragment_header(kNextIcmpv6, 0, false, 99);
  auto packet = chain_packet(concat({hbh, dst, rt, frag}), kNextHopByHop);
  ExtHeaderIter it(packet, packet.size());
  std::vector<uint8_t> types;
  std::vector<size_t> offsets;
  while (it.next() == ExtHeaderIter::Step::kHeader) {
    types.push_back(it.header().type);
    offsets.push_back(it.header().offset);
  }
  EXPECT_THAT(types, ::testing::ElementsAre(0, 60, 43, 44));
  EXPECT_THAT(offsets, ::testing::ElementsAre(40, 48, 56, 96));
  EXPECT_EQ(it.next(), ExtHeaderIter::Step::kUpperLayer);
  EXPECT_EQ(it.next_header(), kNextIcmpv6);
  EXPECT_EQ(it.offset(), 104u);
  EXPECT_EQ(it.next_header_field(), 96u);  // the fragment header names ICMPv6
}

TEST(Ipv6WireTest, IteratorStopsAtTruncatedHeaders) {
  auto dst = options_header(kNextIcmpv6, bytes_of({0x1e, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  auto packet = ipv6_packet({.next_header = kNextDestinationOptions}, dst);
  // Cut the packet inside the destination options header.
  ExtHeaderIter it(ByteView(packet).first(50), 50);
  EXPECT_EQ(it.next(), ExtHeaderIter::Step::kTruncated);
  // Fewer than 8 bytes left for a header at all.
  ExtHeaderIter short_one(ByteView(packet).first(44), 44);
  EXPECT_EQ(short_one.next(), ExtHeaderIter::Step::kTruncated);
  // No next header at all is an upper layer, not an error.
  auto none = ipv6_packet({.next_header = 59}, {});
  ExtHeaderIter empty(none, none.size());
  EXPECT_EQ(empty.next(), ExtHeaderIter::Step::kUpperLayer);
}

TEST(Ipv6WireTest, IteratorBoundsTheChainLength) {
  std::vector<std::byte> headers;
  for (size_t i = 0; i < kMaxExtensionHeaders + 1; ++i) {
    auto h = options_header(kNextDestinationOptions, {});
    headers.insert(headers.end(), h.begin(), h.end());
  }
  auto packet = chain_packet(headers, kNextDestinationOptions);
  ExtHeaderIter it(packet, packet.size());
  size_t seen = 0;
  ExtHeaderIter::Step step;
  while ((step = it.next()) == ExtHeaderIter::Step::kHeader) ++seen;
  EXPECT_EQ(step, ExtHeaderIter::Step::kTooLong);
  EXPECT_EQ(seen, kMaxExtensionHeaders);
}

TEST(Ipv6WireTest, IteratorAsksForMoreBytesOfALongerPacket) {
  auto dst = options_header(kNextUdp, std::vector<std::byte>(30, std::byte{0x1e}));
  auto packet = chain_packet(dst, kNextDestinationOptions);
  ExtHeaderIter it(ByteView(packet).first(40), packet.size());
  ASSERT_EQ(it.next(), ExtHeaderIter::Step::kNeedMore);
  EXPECT_EQ(it.needed(), 48u);
  it.rebind(ByteView(packet).first(48));
  ASSERT_EQ(it.next(), ExtHeaderIter::Step::kNeedMore);
  EXPECT_EQ(it.needed(), 40 + dst.size());
  it.rebind(packet);
  ASSERT_EQ(it.next(), ExtHeaderIter::Step::kHeader);
  EXPECT_EQ(it.next(), ExtHeaderIter::Step::kUpperLayer);
  EXPECT_EQ(it.next_header(), kNextUdp);
}

TEST(Ipv6WireTest, OptionChecksFollowTheRfcAndLinux) {
  // Header bytes: next header, length, then options.
  auto header = [](std::initializer_list<int> options) {
    std::vector<std::byte> h = bytes_of({59, 0});
    for (int v : options) h.push_back(std::byte(v));
    return h;
  };
  EXPECT_EQ(check_ext_options(header({0, 0, 0, 0, 0, 0})), ExtOptionsCheck::kOk);  // 6 x Pad1
  EXPECT_EQ(check_ext_options(header({1, 4, 0, 0, 0, 0})), ExtOptionsCheck::kOk);  // PadN
  EXPECT_EQ(check_ext_options(header({1, 4, 0, 1, 0, 0})), ExtOptionsCheck::kBadPadding);
  // More than 7 padding bytes in a row.
  auto long_pad = header({1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(check_ext_options(long_pad), ExtOptionsCheck::kBadPadding);
  EXPECT_EQ(check_ext_options(header({0x1e, 5, 0, 0, 0, 0})), ExtOptionsCheck::kTruncated);
  EXPECT_EQ(check_ext_options(header({0, 0, 0, 0, 0, 0x1e})), ExtOptionsCheck::kTruncated);
  // Nine real options.
  std::vector<int> nine;
  for (int i = 0; i < 9; ++i) {
    nine.push_back(0x1e);
    nine.push_back(0);
  }
  std::vector<std::byte> many = bytes_of({59, 2});
  for (int v : nine) many.push_back(std::byte(v));
  many.resize(24, std::byte{0});
  EXPECT_EQ(check_ext_options(many), ExtOptionsCheck::kTooMany);

  std::vector<uint8_t> visited;
  auto h = header({5, 2, 0, 0, 0x1e, 0});
  EXPECT_EQ(walk_ext_options(h,
                             [&](const ExtOption& o) {
                               visited.push_back(o.type);
                               return true;
                             }),
            ExtOptionsCheck::kOk);
  EXPECT_THAT(visited, ::testing::ElementsAre(5, 0x1e));
}

TEST(Ipv6WireTest, OptionActionIsTheTwoHighBits) {
  EXPECT_EQ(option_action(0x1e), OptionAction::kSkip);
  EXPECT_EQ(option_action(0x5e), OptionAction::kDiscard);
  EXPECT_EQ(option_action(0x9e), OptionAction::kDiscardSendError);
  EXPECT_EQ(option_action(0xde), OptionAction::kDiscardSendErrorUnicast);
}

TEST(Ipv6WireTest, RoutingAndFragmentHeaders) {
  auto rt = routing_header(kNextTcp, 0, 2, 2);
  auto r = parse_routing_header(rt);
  EXPECT_EQ(r.routing_type, 0);
  EXPECT_EQ(r.segments_left, 2);

  FragmentHeader f{kNextUdp, 1232, true, 0xdeadbeef};
  std::vector<std::byte> out(8);
  emit_fragment_header(out, f);
  EXPECT_EQ(out, fragment_header(kNextUdp, 1232, true, 0xdeadbeef));
  auto back = parse_fragment_header(out);
  EXPECT_EQ(back.next_header, kNextUdp);
  EXPECT_EQ(back.offset, 1232u);
  EXPECT_TRUE(back.more);
  EXPECT_EQ(back.id, 0xdeadbeefu);
}

TEST(Ipv6WireTest, IcmpEmitterChecksumsOverThePseudoHeader) {
  const Ipv6Address src = v6("fd00::1");
  const Ipv6Address dst = v6("fd00::2");
  std::vector<std::byte> message(8 + 5);
  for (size_t i = 8; i < message.size(); ++i) message[i] = std::byte(i);
  emit_icmp(message, kIcmpEchoReply, 0, 0x00070001, src, dst);
  std::vector<std::byte> body(message.begin() + 8, message.end());
  EXPECT_EQ(message, icmpv6_echo(kIcmpEchoReply, 7, 1, body, src, dst));
  auto h = IcmpHeader::parse(message);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type(), kIcmpEchoReply);
  EXPECT_EQ(h->identifier(), 7);
  EXPECT_EQ(h->sequence(), 1);
  EXPECT_FALSE(IcmpHeader::parse(ByteView(message).first(7)));
}

}  // namespace
}  // namespace weir::ipv6
