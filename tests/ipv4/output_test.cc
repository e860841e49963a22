#include "tests/ipv4/fixture.h"

namespace weir::ipv4::test {
namespace {

class OutputTest : public Ipv4Test {
 protected:
  void SetUp() override {
    Ipv4Test::SetUp();
    learn_peer();
  }
  Status send(Ipv4Address dst, ByteView payload, IpWriteParams params = {.protocol = 17}) {
    return ip_->write_packet(route_to(dst), params, PacketBuffer::from_bytes(payload));
  }
};

TEST_F(OutputTest, BuildsHeader) {
  ASSERT_TRUE(send(kPeerIp, pattern(33), {.protocol = 17, .tos = 0x20, .dont_fragment = true}));
  EXPECT_THAT(peer_->read(),
              Optional(IsEthernet(
                  EthSrc(our_mac()), EthDst(peer_mac()), EtherType(0x0800),
                  Payload(IsIpv4(Src(kOurIp), Dst(kPeerIp), Protocol(17), Ttl(64), Tos(0x20),
                                 DontFragment(true), MoreFragments(false), FragmentOffset(0),
                                 TotalLength(53), ValidChecksum(), Payload(pattern(33)))))));
  EXPECT_EQ(counters().tx_packets, 1u);
}

TEST_F(OutputTest, TtlOverrideAndIdsAdvancePerDestination) {
  ASSERT_TRUE(send(kPeerIp, pattern(4), {.protocol = 17, .ttl = 3}));
  ASSERT_TRUE(send(kPeerIp, pattern(4)));
  auto a = decode_ipv4(decode_ethernet(*peer_->read())->payload);
  auto b = decode_ipv4(decode_ethernet(*peer_->read())->payload);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->ttl, 3);
  EXPECT_EQ(b->ttl, 64);
  EXPECT_EQ(static_cast<uint16_t>(a->id + 1), b->id);
}

// Each flow keeps its own counter however many flows take turns (more than the memo of
// recent flows' hashes holds, so they evict each other from it).
TEST_F(OutputTest, IdsAdvancePerFlowWhenManyFlowsInterleave) {
  constexpr int kFlows = 40;
  std::vector<std::vector<uint16_t>> ids(kFlows);
  for (int round = 0; round < 3; ++round) {
    for (int f = 0; f < kFlows; ++f) {
      const auto protocol = static_cast<uint8_t>(150 + f);
      ASSERT_TRUE(send(kPeerIp, pattern(4), {.protocol = protocol}));
      auto p = decode_ipv4(decode_ethernet(*peer_->read())->payload);
      ASSERT_TRUE(p);
      ASSERT_EQ(p->protocol, protocol);
      ids[static_cast<size_t>(f)].push_back(p->id);
    }
  }
  for (const auto& flow : ids) {
    EXPECT_EQ(static_cast<uint16_t>(flow[0] + 1), flow[1]);
    EXPECT_EQ(static_cast<uint16_t>(flow[1] + 1), flow[2]);
  }
}

TEST_F(OutputTest, BroadcastGoesToBroadcastMacWithoutArp) {
  ASSERT_TRUE(send(Ipv4Address::broadcast(), pattern(4)));
  ASSERT_TRUE(send(kSubnetBroadcast, pattern(4)));
  EXPECT_THAT(peer_->read(), Optional(IsEthernet(EthDst(MacAddress::broadcast()),
                                                 Payload(IsIpv4(Dst(Ipv4Address::broadcast()))))));
  EXPECT_THAT(peer_->read(), Optional(IsEthernet(EthDst(MacAddress::broadcast()),
                                                 Payload(IsIpv4(Dst(kSubnetBroadcast))))));
  EXPECT_FALSE(peer_->read());
}

TEST_F(OutputTest, MulticastMapsToGroupMacWithTtlOne) {
  const Ipv4Address group(239, 129, 2, 3);
  stack_->add_route(Route{IpPrefix{IpAddress(Ipv4Address(224, 0, 0, 0)), 4}, std::nullopt, nic_});
  ASSERT_TRUE(send(group, pattern(4)));
  EXPECT_THAT(peer_->read(),
              Optional(IsEthernet(EthDst(MacAddress({0x01, 0x00, 0x5e, 0x01, 0x02, 0x03})),
                                  Payload(IsIpv4(Dst(group), Ttl(1))))));
}

TEST_F(OutputTest, FragmentsA4000BytePayloadAtMtu1500) {
  auto payload = pattern(4000, 11);
  ASSERT_TRUE(send(kPeerIp, payload));
  auto frames = peer_->read_all();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_THAT(frames[0], IsIpv4Frame(TotalLength(1500), MoreFragments(true), FragmentOffset(0),
                                     DontFragment(false), ValidChecksum(), Protocol(17)));
  EXPECT_THAT(frames[1], IsIpv4Frame(TotalLength(1500), MoreFragments(true), FragmentOffset(1480),
                                     ValidChecksum()));
  EXPECT_THAT(frames[2], IsIpv4Frame(TotalLength(1060), MoreFragments(false), FragmentOffset(2960),
                                     ValidChecksum()));
  std::vector<std::byte> joined;
  std::optional<uint16_t> id;
  for (const auto& f : frames) {
    auto p = decode_ipv4(decode_ethernet(f)->payload);
    ASSERT_TRUE(p);
    if (id) {
      EXPECT_EQ(p->id, *id);
    }
    id = p->id;
    joined.insert(joined.end(), p->payload.begin(), p->payload.end());
  }
  EXPECT_EQ(joined, payload);
  EXPECT_EQ(counters().tx_fragmented_datagrams, 1u);
  EXPECT_EQ(counters().tx_fragments, 3u);
}

TEST_F(OutputTest, ExactlyMtuIsNotFragmented) {
  ASSERT_TRUE(send(kPeerIp, pattern(1480)));
  EXPECT_THAT(peer_->read_all(), ElementsAre(IsIpv4Frame(TotalLength(1500), MoreFragments(false))));
  ASSERT_TRUE(send(kPeerIp, pattern(1481)));
  auto frames = peer_->read_all();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_THAT(frames[1], IsIpv4Frame(TotalLength(21), FragmentOffset(1480)));
}

TEST_F(OutputTest, RouteMtuSmallerThanLinkAndNotMultipleOfEight) {
  RouteInfo route = route_to(kPeerIp);
  route.mtu = 1006;  // 986 bytes of room: fragments carry 984
  ASSERT_TRUE(ip_->write_packet(route, {.protocol = 17}, PacketBuffer::from_bytes(pattern(2000))));
  auto frames = peer_->read_all();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_THAT(frames[0], IsIpv4Frame(TotalLength(1004), FragmentOffset(0), MoreFragments(true)));
  EXPECT_THAT(frames[1], IsIpv4Frame(TotalLength(1004), FragmentOffset(984), MoreFragments(true)));
  EXPECT_THAT(frames[2], IsIpv4Frame(TotalLength(52), FragmentOffset(1968), MoreFragments(false)));
}

TEST_F(OutputTest, DontFragmentTooBigFails) {
  auto s = send(kPeerIp, pattern(1481), {.protocol = 6, .dont_fragment = true});
  EXPECT_EQ(s.error(), Error::kMessageTooLong);
  EXPECT_EQ(counters().tx_drop_fragmentation_needed, 1u);
  EXPECT_FALSE(peer_->read());
}

TEST_F(OutputTest, OversizedDatagramFails) {
  auto s = send(kPeerIp, pattern(65516));
  EXPECT_EQ(s.error(), Error::kMessageTooLong);
  EXPECT_EQ(counters().tx_drop_too_long, 1u);
  ASSERT_TRUE(send(kPeerIp, pattern(65515)));
  EXPECT_EQ(peer_->read_all().size(), 45u);  // 44 x 1480 + 395
}

TEST_F(OutputTest, FragmentedDatagramReassemblesOnAnotherStack) {
  // Round trip through our own receive path: feed the fragments back in as if the peer sent
  // them to us.
  auto& udp = add_fake_transport(17);
  auto payload = pattern(5000, 2);
  ASSERT_TRUE(send(kPeerIp, payload));
  auto frames = peer_->read_all();
  ASSERT_EQ(frames.size(), 4u);
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    auto p = decode_ipv4(decode_ethernet(*it)->payload);
    Ipv4Spec spec{.source = kPeerIp,
                  .destination = kOurIp,
                  .protocol = 17,
                  .id = p->id,
                  .more_fragments = p->more_fragments,
                  .fragment_offset = p->fragment_offset};
    inject_ipv4(spec, p->payload);
  }
  ASSERT_EQ(udp.received.size(), 1u);
  EXPECT_EQ(udp.received[0].bytes, payload);
}

TEST_F(OutputTest, RejectsBadRoutes) {
  RouteInfo route = route_to(kPeerIp);
  route.nic = 999;
  EXPECT_EQ(
      ip_->write_packet(route, {.protocol = 17}, PacketBuffer::from_bytes(pattern(4))).error(),
      Error::kNoDevice);
  EXPECT_EQ(counters().tx_drop_no_nic, 1u);
  RouteInfo v6 = route_to(kPeerIp);
  v6.remote_address = IpAddress(Ipv6Address::any());
  EXPECT_FALSE(ip_->write_packet(v6, {.protocol = 17}, PacketBuffer::from_bytes(pattern(4))));
  EXPECT_EQ(counters().tx_drop_bad_route, 1u);
}

class RawIpOutputTest : public Ipv4Test {
  link::ChannelOptions channel_options() const override {
    link::ChannelOptions o;
    o.framing = link::Framing::kRawIp;
    return o;
  }
};

TEST_F(RawIpOutputTest, LinksWithoutResolutionSkipArp) {
  ASSERT_TRUE(ip_->write_packet(route_to(kPeerIp), {.protocol = 17},
                                PacketBuffer::from_bytes(pattern(10))));
  EXPECT_THAT(peer_->read(), Optional(IsIpv4(Dst(kPeerIp), Payload(pattern(10)))));
  EXPECT_EQ(ip_->arp().cache().size(), 0u);
  EXPECT_EQ(arp_counters().tx_announcements, 0u);
}

TEST_F(RawIpOutputTest, EchoOverRawIp) {
  ASSERT_TRUE(peer_->inject(ipv4_packet({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
                                        icmpv4_echo(kTestIcmpEchoRequest, 1, 2, pattern(5)))));
  EXPECT_THAT(peer_->read(), Optional(IsIpv4(Payload(IsIcmpEchoReply(1, 2, pattern(5))))));
}

}  // namespace
}  // namespace weir::ipv4::test
