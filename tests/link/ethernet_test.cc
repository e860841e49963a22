#include "link/ethernet.h"

#include <gtest/gtest.h>

#include "tests/link/recording_dispatcher.h"
#include "tests/testing/testing.h"

namespace weir::link {
namespace {

using testing::RecordingDispatcher;
using weir::testing::bytes_of;

const MacAddress kSelf({0x02, 0, 0, 0, 0, 0x01});
const MacAddress kOther({0x02, 0, 0, 0, 0, 0x02});
const MacAddress kThird({0x02, 0, 0, 0, 0, 0x03});

TEST(EthernetView, ParsesUntaggedFrame) {
  auto frame = build_ethernet_frame(kSelf, kOther, kEtherTypeIpv4, bytes_of({1, 2, 3}));
  auto view = EthernetView::parse(frame);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->destination(), kSelf);
  EXPECT_EQ(view->source(), kOther);
  EXPECT_EQ(view->ethertype(), kEtherTypeIpv4);
  EXPECT_EQ(view->header_length(), 14u);
  EXPECT_FALSE(view->vlan_tci());
  EXPECT_TRUE(view->is_ethernet_ii());
  EXPECT_EQ(to_byte_vector(view->payload()), bytes_of({1, 2, 3}));
}

TEST(EthernetView, HeaderOnlyFrameHasEmptyPayload) {
  auto frame = build_ethernet_frame(kSelf, kOther, kEtherTypeArp, {});
  auto view = EthernetView::parse(frame);
  ASSERT_TRUE(view);
  EXPECT_TRUE(view->payload().empty());
}

TEST(EthernetView, RejectsEveryTruncation) {
  auto frame = build_ethernet_frame(kSelf, kOther, kEtherTypeIpv4, {});
  for (size_t n = 0; n < frame.size(); ++n) {
    auto view = EthernetView::parse(ByteView(frame).first(n));
    ASSERT_FALSE(view) << n;
    EXPECT_EQ(view.error(), Error::kBadMessage);
  }
}

TEST(EthernetView, ParsesVlanTag) {
  // dst, src, 0x8100, TCI prio 5 vid 100, inner IPv6, payload.
  auto frame =
      build_ethernet_frame(kSelf, kOther, kEtherTypeVlan, bytes_of({0xa0, 0x64, 0x86, 0xdd, 0x60}));
  auto view = EthernetView::parse(frame);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->header_length(), 18u);
  ASSERT_TRUE(view->vlan_tci());
  EXPECT_EQ(*view->vlan_tci() & 0x0fff, 100);
  EXPECT_EQ(view->ethertype(), kEtherTypeIpv6);
  EXPECT_EQ(to_byte_vector(view->payload()), bytes_of({0x60}));
}

TEST(EthernetView, RejectsTruncatedVlanTag) {
  for (int extra = 0; extra < 4; ++extra) {
    std::vector<std::byte> tag(static_cast<size_t>(extra), std::byte{0});
    auto frame = build_ethernet_frame(kSelf, kOther, kEtherTypeQinQ, tag);
    EXPECT_FALSE(EthernetView::parse(frame)) << extra;
  }
}

TEST(EthernetView, LengthFieldIsNotEthernetII) {
  auto frame = build_ethernet_frame(kSelf, kOther, 0x05dc, bytes_of({0xaa, 0xaa, 0x03}));
  auto view = EthernetView::parse(frame);
  ASSERT_TRUE(view);
  EXPECT_FALSE(view->is_ethernet_ii());
}

TEST(Ethernet, ClassifiesDestinations) {
  EXPECT_EQ(classify_destination(kSelf, kSelf), LinkPacketType::kHost);
  EXPECT_EQ(classify_destination(MacAddress::broadcast(), kSelf), LinkPacketType::kBroadcast);
  EXPECT_EQ(classify_destination(MacAddress({0x01, 0x00, 0x5e, 0, 0, 1}), kSelf),
            LinkPacketType::kMulticast);
  EXPECT_EQ(classify_destination(MacAddress({0x33, 0x33, 0, 0, 0, 1}), kSelf),
            LinkPacketType::kMulticast);
  EXPECT_EQ(classify_destination(kOther, kSelf), LinkPacketType::kOtherHost);
}

TEST(Ethernet, PushHeaderUsesMeta) {
  PacketBuffer pkt = PacketBuffer::from_bytes(bytes_of({9, 8, 7}));
  pkt.meta().network_protocol = kEtherTypeArp;
  pkt.meta().link_destination = kOther;
  push_ethernet_header(pkt, kSelf);
  EXPECT_EQ(pkt.to_vector(),
            build_ethernet_frame(kOther, kSelf, kEtherTypeArp, bytes_of({9, 8, 7})));
}

class DeliverTest : public ::testing::Test {
 protected:
  bool deliver(const std::vector<std::byte>& frame, bool promiscuous = false) {
    return deliver_ethernet_frame(PacketBuffer::from_bytes(frame),
                                  {.self = kSelf, .promiscuous = promiscuous}, &dispatcher_,
                                  counters_);
  }
  RecordingDispatcher dispatcher_;
  LinkCounters counters_;
};

TEST_F(DeliverTest, DeliversUnicastWithMeta) {
  ASSERT_TRUE(deliver(build_ethernet_frame(kSelf, kOther, kEtherTypeIpv4, bytes_of({0x45, 1}))));
  ASSERT_EQ(dispatcher_.packets.size(), 1u);
  const PacketBuffer& pkt = dispatcher_.packets[0];
  EXPECT_EQ(pkt.to_vector(), bytes_of({0x45, 1}));
  EXPECT_EQ(pkt.meta().network_protocol, kEtherTypeIpv4);
  EXPECT_EQ(pkt.meta().link_source, kOther);
  EXPECT_EQ(pkt.meta().link_destination, kSelf);
  EXPECT_EQ(pkt.meta().link_type, LinkPacketType::kHost);
  EXPECT_EQ(counters_.rx_frames, 1u);
  EXPECT_EQ(counters_.rx_bytes, 16u);
}

TEST_F(DeliverTest, DeliversBroadcastAndMulticast) {
  ASSERT_TRUE(deliver(build_ethernet_frame(MacAddress::broadcast(), kOther, kEtherTypeArp, {})));
  ASSERT_TRUE(deliver(
      build_ethernet_frame(MacAddress({0x33, 0x33, 0, 0, 0, 1}), kOther, kEtherTypeIpv6, {})));
  ASSERT_EQ(dispatcher_.packets.size(), 2u);
  EXPECT_EQ(dispatcher_.packets[0].meta().link_type, LinkPacketType::kBroadcast);
  EXPECT_EQ(dispatcher_.packets[1].meta().link_type, LinkPacketType::kMulticast);
}

TEST_F(DeliverTest, DropsFramesForOtherHosts) {
  EXPECT_FALSE(deliver(build_ethernet_frame(kThird, kOther, kEtherTypeIpv4, {})));
  EXPECT_EQ(counters_.rx_drop_other_host, 1u);
  EXPECT_TRUE(dispatcher_.packets.empty());
  EXPECT_TRUE(deliver(build_ethernet_frame(kThird, kOther, kEtherTypeIpv4, {}), true));
  EXPECT_EQ(dispatcher_.packets.at(0).meta().link_type, LinkPacketType::kOtherHost);
}

TEST_F(DeliverTest, CountsEveryDropReason) {
  EXPECT_FALSE(deliver(bytes_of({1, 2, 3})));
  EXPECT_FALSE(deliver({}));
  EXPECT_EQ(counters_.rx_drop_runt, 2u);
  EXPECT_FALSE(
      deliver(build_ethernet_frame(kSelf, kOther, kEtherTypeVlan, bytes_of({0, 1, 0x08, 0x00}))));
  EXPECT_EQ(counters_.rx_drop_vlan, 1u);
  EXPECT_FALSE(deliver(build_ethernet_frame(kSelf, kOther, kEtherTypeVlan, bytes_of({0, 1}))));
  EXPECT_EQ(counters_.rx_drop_runt, 3u);
  EXPECT_FALSE(deliver(build_ethernet_frame(kSelf, kOther, 0x0100, {})));
  EXPECT_EQ(counters_.rx_drop_not_ethernet_ii, 1u);
  LinkCounters detached;
  EXPECT_FALSE(deliver_ethernet_frame(
      PacketBuffer::from_bytes(build_ethernet_frame(kSelf, kOther, kEtherTypeIpv4, {})),
      {.self = kSelf}, nullptr, detached));
  EXPECT_EQ(detached.rx_drop_not_attached, 1u);
  EXPECT_TRUE(dispatcher_.packets.empty());
  EXPECT_EQ(counters_.rx_frames, 0u);
}

TEST_F(DeliverTest, HeaderSpanningSlicesIsParsed) {
  // The header arrives split across two chunks, as after a push_front onto a shared chunk.
  auto frame = build_ethernet_frame(kSelf, kOther, kEtherTypeIpv4, bytes_of({0x45, 0, 0, 20}));
  PacketBuffer pkt = PacketBuffer::from_bytes(ByteView(frame).first(5));
  pkt.append(ByteView(frame).subspan(5));
  ASSERT_TRUE(deliver_ethernet_frame(std::move(pkt), {.self = kSelf}, &dispatcher_, counters_));
  EXPECT_EQ(dispatcher_.packets.at(0).to_vector(), bytes_of({0x45, 0, 0, 20}));
}

}  // namespace
}  // namespace weir::link
