// The IPv6 send path: header fields, multicast mapping, fragmentation, the path MTU.
#include "tests/ipv6/fixture.h"

namespace weir::ipv6::test {
namespace {

class Ipv6OutputTest : public Ipv6Test {
 protected:
  void SetUp() override {
    Ipv6Test::SetUp();
    learn_peer();
    learn(kGatewayIp, gateway_mac_);
  }
  Status send(const Ipv6Address& to, size_t size, IpWriteParams params = {}) {
    auto route = stack_->find_route(IpAddress(to));
    if (!route) return route.error();
    if (params.protocol == 0) params.protocol = 253;
    return ip_->write_packet(*route, params, PacketBuffer::from_bytes(pattern(size)));
  }
  const MacAddress gateway_mac_ = MacAddress({2, 0, 0, 0, 0, 0xfe});
};

TEST_F(Ipv6OutputTest, HeaderFieldsAndDefaults) {
  const uint64_t before = counters().tx_packets;
  ASSERT_TRUE(send(kPeerIp, 100));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Src(kOurIp), Dst(kPeerIp), HopLimit(64), NextHeader(253),
                                   TrafficClass(0), PayloadSize(100), NotFragment())));
  IpWriteParams params;
  params.ttl = 7;
  params.tos = 0xb8;
  ASSERT_TRUE(send(kPeerIp, 10, params));
  EXPECT_THAT(peer_->read(), Optional(IsIpv6Frame(HopLimit(7), TrafficClass(0xb8))));
  EXPECT_EQ(counters().tx_packets - before, 2u);
}

TEST_F(Ipv6OutputTest, OffLinkGoesToTheGatewaysLinkAddressFromAGlobalSource) {
  ASSERT_TRUE(send(kRemoteIp, 10));
  EXPECT_THAT(peer_->read(), Optional(IsEthernet(EthDst(gateway_mac_),
                                                 Payload(IsIpv6(Src(kOurIp), Dst(kRemoteIp))))));
}

TEST_F(Ipv6OutputTest, MulticastMapsTo3333AndHopLimitOne) {
  const Ipv6Address group = v6("ff02::1:2");
  ASSERT_TRUE(send(group, 10));
  EXPECT_THAT(peer_->read(),
              Optional(IsEthernet(EthDst(MacAddress({0x33, 0x33, 0, 1, 0, 2})),
                                  Payload(IsIpv6(Src(kOurLinkLocal), Dst(group), HopLimit(1))))));
}

TEST_F(Ipv6OutputTest, LargeDatagramsAreFragmentedAtTheSource) {
  ASSERT_TRUE(send(kPeerIp, 4000));
  auto frames = peer_->read_all();
  ASSERT_THAT(frames, SizeIs(3));
  std::vector<std::byte> whole;
  std::optional<uint32_t> id;
  for (size_t i = 0; i < frames.size(); ++i) {
    auto ip = decode_ipv6(decode_ethernet(frames[i])->payload);
    ASSERT_TRUE(ip && ip->fragment);
    EXPECT_LE(40 + ip->payload_length, 1500u);
    EXPECT_EQ(ip->next_header, 44);
    EXPECT_EQ(ip->fragment->next_header, 253);
    EXPECT_EQ(ip->fragment->offset, whole.size());
    EXPECT_EQ(ip->fragment->more, i + 1 < frames.size());
    if (id) {
      EXPECT_EQ(ip->fragment->id, *id);
    }
    id = ip->fragment->id;
    if (i + 1 < frames.size()) {
      EXPECT_EQ(ip->payload.size() % 8, 0u);
    }
    whole.insert(whole.end(), ip->payload.begin(), ip->payload.end());
  }
  EXPECT_EQ(whole, pattern(4000));
  EXPECT_EQ(counters().tx_fragmented_datagrams, 1u);
  EXPECT_EQ(counters().tx_fragments, 3u);
  // The next datagram to the same peer gets a new identification.
  ASSERT_TRUE(send(kPeerIp, 2000));
  auto next = decode_ipv6(decode_ethernet(*peer_->read())->payload);
  ASSERT_TRUE(next && next->fragment);
  EXPECT_NE(next->fragment->id, *id);
}

TEST_F(Ipv6OutputTest, LearnedPathMtuSizesFragments) {
  ASSERT_TRUE(ip_->update_path_mtu(kRemoteIp, 1300));
  EXPECT_FALSE(ip_->update_path_mtu(kRemoteIp, 1400));  // never raised
  EXPECT_FALSE(ip_->update_path_mtu(kRemoteIp, 1600));
  ASSERT_TRUE(send(kRemoteIp, 1400));
  auto frames = peer_->read_all();
  ASSERT_THAT(frames, SizeIs(2));
  for (const auto& f : frames) {
    auto ip = decode_ipv6(decode_ethernet(f)->payload);
    ASSERT_TRUE(ip);
    EXPECT_LE(40u + ip->payload_length, 1300u);
  }
  // Other destinations are not affected.
  ASSERT_TRUE(send(kPeerIp, 1400));
  EXPECT_THAT(peer_->read_all(), SizeIs(1));
}

TEST_F(Ipv6OutputTest, LinkMtuFromARouterCapsEverything) {
  ip_->set_link_mtu(nic_, 1280);
  EXPECT_EQ(stack_->find_route(IpAddress(kPeerIp))->mtu, 1280u);
  ASSERT_TRUE(send(kPeerIp, 1300));
  EXPECT_THAT(peer_->read_all(), SizeIs(2));
  ip_->set_link_mtu(nic_, 0);
  EXPECT_EQ(stack_->find_route(IpAddress(kPeerIp))->mtu, 1500u);
}

TEST_F(Ipv6OutputTest, TooLongIsRefused) {
  EXPECT_EQ(send(kPeerIp, 65536).error(), Error::kMessageTooLong);
  EXPECT_EQ(counters().tx_drop_too_long, 1u);
}

TEST_F(Ipv6OutputTest, RouterAlertHeaderForMld) {
  LocalSend how;
  how.next_header = 58;
  how.hop_limit = 1;
  how.router_alert = true;
  const Ipv6Address group = v6("ff02::16");
  ASSERT_TRUE(ip_->send_icmp(nic(), kOurLinkLocal, group, how,
                             PacketBuffer::from_bytes(bytes({143, 0, 0, 0, 0, 0, 0, 0}))));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Src(kOurLinkLocal), Dst(group), HopLimit(1), NextHeader(0),
                                   HasRouterAlert(), Protocol(58), ValidChecksum())));
}

TEST_F(Ipv6OutputTest, DefaultSourceSelectionByScope) {
  EXPECT_EQ(stack_->find_route(IpAddress(kPeerLinkLocal))->local_address, IpAddress(kOurLinkLocal));
  EXPECT_EQ(stack_->find_route(IpAddress(kPeerIp))->local_address, IpAddress(kOurIp));
  // Via a link-local gateway, still a global source.
  EXPECT_EQ(stack_->find_route(IpAddress(kRemoteIp))->local_address, IpAddress(kOurIp));
  // A selector set by autoconfiguration takes over.
  ip_->set_source_selector([](const Nic&, const IpAddress&, const IpAddress&) {
    return std::optional<IpAddress>(IpAddress(kOurLinkLocal));
  });
  EXPECT_EQ(stack_->find_route(IpAddress(kRemoteIp))->local_address, IpAddress(kOurLinkLocal));
}

TEST_F(Ipv6OutputTest, AddressHooksRunAfterTheSolicitedNodeJoin) {
  std::vector<IpPrefix> seen;
  ip_->add_address_hook([&](Nic& n, const IpPrefix& p) {
    EXPECT_TRUE(n.in_group(IpAddress(test_solicited_node(p.address.v6()))));
    seen.push_back(p);
  });
  ASSERT_TRUE(stack_->add_address(nic_, IpPrefix{IpAddress(v6("fd00::abcd")), 64}));
  ASSERT_THAT(seen, SizeIs(1));
  EXPECT_EQ(seen[0].address, IpAddress(v6("fd00::abcd")));
}

}  // namespace
}  // namespace weir::ipv6::test
