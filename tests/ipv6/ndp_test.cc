// Neighbor Solicitation / Advertisement (RFC 4861 7) and the IPv6 neighbor cache's state
// machine on the manual clock.
#include "ipv6/ndp.h"

#include "tests/ipv6/fixture.h"

namespace weir::ipv6::test {
namespace {

class NdpTest : public Ipv6Test {
 protected:
  // An NS from the peer, to our solicited-node group unless told otherwise.
  void inject_ns(const Ipv6Address& target, std::optional<MacAddress> lla,
                 const Ipv6Address& source = kPeerIp,
                 std::optional<Ipv6Address> destination = std::nullopt, uint8_t hop_limit = 255) {
    const Ipv6Address dst = destination.value_or(test_solicited_node(target));
    inject_ipv6_to(
        dst.is_multicast() ? test_multicast_mac(dst) : our_mac(),
        {.source = source, .destination = dst, .next_header = 58, .hop_limit = hop_limit},
        ndp_ns(target, lla, source, dst));
  }
  void inject_na(const Ipv6Address& target, bool solicited, bool override_flag,
                 std::optional<MacAddress> lla, const Ipv6Address& destination = kOurIp,
                 uint8_t hop_limit = 255) {
    inject_ipv6(
        {.source = target, .destination = destination, .next_header = 58, .hop_limit = hop_limit},
        ndp_na(target, false, solicited, override_flag, lla, target, destination));
  }
  // Sends a datagram from the stack to `to` through a fake transport's route.
  void send_to(const Ipv6Address& to) {
    auto route = stack_->find_route(IpAddress(to));
    ASSERT_TRUE(route);
    IpWriteParams params;
    params.protocol = 253;
    ASSERT_TRUE(ip_->write_packet(*route, params, PacketBuffer::from_bytes(pattern(20))));
  }
  NeighborState state_of(const Ipv6Address& a) {
    auto e = entry(a);
    return e ? e->state : NeighborState::kFailed;
  }

  const MacAddress kNewMac = MacAddress({2, 0, 0, 0, 0, 0x22});
};

TEST_F(NdpTest, SolicitationForOurAddressIsAnsweredAndLearned) {
  inject_ns(kOurIp, peer_mac());
  auto frame = peer_->read();
  ASSERT_TRUE(frame);
  EXPECT_THAT(*frame, IsEthernet(EthSrc(our_mac()), EthDst(peer_mac())));
  EXPECT_THAT(*frame, IsIpv6Frame(Src(kOurIp), Dst(kPeerIp), HopLimit(255), ValidChecksum(),
                                  Payload(IsNdp(IcmpType(136), Target(kOurIp), SolicitedFlag(true),
                                                OverrideFlag(true), RouterFlag(false),
                                                LinkLayerAddress(our_mac())))));
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kDelay);  // STALE, then used by the NA
  EXPECT_EQ(entry(kPeerIp)->link_address, peer_mac());
  EXPECT_EQ(ndp_counters().rx_solicitations, 1u);
  EXPECT_EQ(ndp_counters().tx_advertisements, 1u);
}

TEST_F(NdpTest, LinkLocalTargetIsAnsweredFromIt) {
  inject_ns(kOurLinkLocal, peer_mac(), kPeerLinkLocal);
  EXPECT_THAT(peer_->read(), Optional(IsIpv6Frame(Src(kOurLinkLocal), Dst(kPeerLinkLocal),
                                                  Payload(IsNdp(Target(kOurLinkLocal))))));
}

TEST_F(NdpTest, DuplicateAddressProbeIsAnsweredToAllNodes) {
  inject_ns(kOurIp, std::nullopt, Ipv6Address());
  EXPECT_THAT(
      peer_->read(),
      Optional(IsEthernet(
          EthDst(test_multicast_mac(kAllNodes)),
          Payload(IsIpv6(Src(kOurIp), Dst(kAllNodes), HopLimit(255),
                         Payload(IsNdp(IcmpType(136), SolicitedFlag(false), OverrideFlag(true),
                                       LinkLayerAddress(our_mac()))))))));
  EXPECT_EQ(ndp_counters().rx_dad_probes, 1u);
  EXPECT_FALSE(entry(Ipv6Address()));
}

TEST_F(NdpTest, InvalidSolicitationsAreDroppedByName) {
  inject_ns(kOurIp, peer_mac(), kPeerIp, std::nullopt, 254);
  EXPECT_EQ(ndp_counters().drop_bad_hop_limit, 1u);
  inject_ns(kOurIp, peer_mac(), Ipv6Address());  // from :: with a link-layer address
  EXPECT_EQ(ndp_counters().drop_unspecified_with_lla, 1u);
  inject_ns(kOurIp, std::nullopt, Ipv6Address(), kOurIp);  // DAD not to the solicited-node group
  EXPECT_EQ(ndp_counters().drop_dad_not_solicited_node, 1u);
  inject_ns(kOtherIp, peer_mac());
  EXPECT_EQ(ndp_counters().drop_target_not_ours, 0u);  // not our group: IPv6 dropped it
  inject_ns(kOtherIp, peer_mac(), kPeerIp, test_solicited_node(kOurIp));
  EXPECT_EQ(ndp_counters().drop_target_not_ours, 1u);
  EXPECT_FALSE(peer_->read());
}

TEST_F(NdpTest, ResolutionQueuesThenSendsOnTheAnswer) {
  send_to(kPeerIp);
  send_to(kPeerIp);
  auto ns = peer_->read();
  ASSERT_TRUE(ns);
  EXPECT_THAT(
      *ns, IsEthernet(
               EthDst(test_multicast_mac(test_solicited_node(kPeerIp))),
               Payload(IsIpv6(
                   Src(kOurIp), Dst(test_solicited_node(kPeerIp)), HopLimit(255), ValidChecksum(),
                   Payload(IsNdp(IcmpType(135), Target(kPeerIp), LinkLayerAddress(our_mac())))))));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kIncomplete);
  EXPECT_EQ(entry(kPeerIp)->pending, 2u);

  inject_na(kPeerIp, true, true, peer_mac());
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kReachable);
  auto sent = peer_->read_all();
  ASSERT_THAT(sent, SizeIs(2));
  EXPECT_THAT(sent[0],
              IsEthernet(EthDst(peer_mac()), Payload(IsIpv6(Dst(kPeerIp), Protocol(253)))));
}

TEST_F(NdpTest, UnansweredResolutionRetriesThenFails) {
  send_to(kPeerIp);
  EXPECT_THAT(peer_->read_all(), SizeIs(1));
  advance(std::chrono::seconds(1));
  EXPECT_THAT(peer_->read_all(), SizeIs(1));
  advance(std::chrono::seconds(1));
  EXPECT_THAT(peer_->read_all(), SizeIs(1));
  advance(std::chrono::seconds(1));
  EXPECT_THAT(peer_->read_all(), IsEmpty());  // three solicitations (MAX_MULTICAST_SOLICIT)
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kFailed);
  EXPECT_EQ(cache_counters().drop_resolution_failed, 1u);
}

TEST_F(NdpTest, StateMachineReachableStaleDelayProbe) {
  send_to(kPeerIp);
  peer_->clear();
  inject_na(kPeerIp, true, true, peer_mac());
  peer_->clear();
  ASSERT_EQ(state_of(kPeerIp), NeighborState::kReachable);
  advance(std::chrono::seconds(30));  // REACHABLE_TIME
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kStale);
  send_to(kPeerIp);  // used while stale: DELAY, the packet goes out at once
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kDelay);
  EXPECT_THAT(peer_->read_all(), SizeIs(1));
  advance(std::chrono::seconds(5));  // DELAY_FIRST_PROBE_TIME: a unicast probe
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kProbe);
  EXPECT_THAT(peer_->read(),
              Optional(IsEthernet(
                  EthDst(peer_mac()),
                  Payload(IsIpv6(Dst(kPeerIp), Payload(IsNdp(IcmpType(135), Target(kPeerIp))))))));
  inject_na(kPeerIp, true, false, peer_mac());
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kReachable);
}

TEST_F(NdpTest, UnansweredProbesForgetTheEntry) {
  learn(kPeerIp, peer_mac());
  send_to(kPeerIp);  // STALE -> DELAY
  peer_->clear();
  advance(std::chrono::seconds(5));
  advance(std::chrono::seconds(1));
  advance(std::chrono::seconds(1));
  EXPECT_THAT(peer_->read_all(), SizeIs(3));  // MAX_UNICAST_SOLICIT
  advance(std::chrono::seconds(1));
  EXPECT_FALSE(entry(kPeerIp));
}

TEST_F(NdpTest, UpperLayerConfirmationSkipsTheProbe) {
  learn(kPeerIp, peer_mac());
  send_to(kPeerIp);
  peer_->clear();
  ip_->ndp().cache().confirm_reachable(nic_, IpAddress(kPeerIp));
  advance(std::chrono::seconds(5));
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kReachable);
  EXPECT_FALSE(peer_->read());
}

TEST_F(NdpTest, AdvertisementOverrideRules) {
  send_to(kPeerIp);
  inject_na(kPeerIp, true, true, peer_mac());
  peer_->clear();
  // O clear with a different address: not believed, but REACHABLE turns STALE.
  inject_na(kPeerIp, false, false, kNewMac);
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kStale);
  EXPECT_EQ(entry(kPeerIp)->link_address, peer_mac());
  // O set, unsolicited, different address: taken, STALE.
  inject_na(kPeerIp, false, true, kNewMac);
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kStale);
  EXPECT_EQ(entry(kPeerIp)->link_address, kNewMac);
  // Solicited without a link-layer option: confirms the address we have.
  inject_na(kPeerIp, true, false, std::nullopt);
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kReachable);
  EXPECT_EQ(entry(kPeerIp)->link_address, kNewMac);
}

TEST_F(NdpTest, IncompleteEntryWithoutLinkAddressIgnoresTheAdvertisement) {
  send_to(kPeerIp);
  peer_->clear();
  inject_na(kPeerIp, true, true, std::nullopt);
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kIncomplete);
  // Unsolicited with an address answers the question, but only as STALE.
  inject_na(kPeerIp, false, true, peer_mac(), kAllNodes);
  EXPECT_EQ(state_of(kPeerIp), NeighborState::kStale);
  EXPECT_THAT(peer_->read_all(), SizeIs(1));  // the queued packet
}

TEST_F(NdpTest, UnsolicitedAdvertisementNeverCreatesAnEntry) {
  inject_na(kOtherIp, false, true, kNewMac, kAllNodes);
  EXPECT_FALSE(entry(kOtherIp));
  EXPECT_EQ(ndp_counters().advertisements_ignored, 1u);
}

TEST_F(NdpTest, AdvertisementForOurAddressIsADuplicate) {
  inject_na(kOurIp, false, true, kNewMac, kAllNodes);
  EXPECT_EQ(ndp_counters().advertisements_for_own_address, 1u);
  EXPECT_FALSE(entry(kOurIp));
}

TEST_F(NdpTest, InvalidAdvertisementsAreDropped) {
  inject_na(kPeerIp, true, true, peer_mac(), kOurIp, 64);
  EXPECT_EQ(ndp_counters().drop_bad_hop_limit, 1u);
  inject_na(kPeerIp, true, true, peer_mac(), kAllNodes);  // S on a multicast NA
  EXPECT_EQ(ndp_counters().drop_solicited_multicast, 1u);
}

class RecordingObserver final : public NdpObserver {
 public:
  void on_neighbor_solicitation(Nic&, const Ipv6Address& source, const Ipv6Address& target,
                                ByteView message) override {
    solicitations.push_back({source, target});
    last_size = message.size();
  }
  void on_neighbor_advertisement(Nic&, const Ipv6Address&, const Ipv6Address& target, bool router,
                                 bool, bool, const std::optional<MacAddress>&, ByteView) override {
    advertisements.push_back({target, router});
  }
  std::vector<std::pair<Ipv6Address, Ipv6Address>> solicitations;
  std::vector<std::pair<Ipv6Address, bool>> advertisements;
  size_t last_size = 0;
};

TEST_F(NdpTest, ObserversSeeEveryValidMessageWhateverTheTarget) {
  RecordingObserver observer;
  ip_->ndp().add_observer(observer);
  inject_ns(kOtherIp, std::nullopt, Ipv6Address(), test_solicited_node(kOurIp));
  inject_ns(kOurIp, peer_mac());
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 58, .hop_limit = 255},
              ndp_na(kPeerIp, true, true, false, peer_mac(), kPeerIp, kOurIp));
  ip_->ndp().remove_observer(observer);
  ASSERT_THAT(observer.solicitations, SizeIs(2));
  EXPECT_EQ(observer.solicitations[0].first, Ipv6Address());
  EXPECT_EQ(observer.solicitations[0].second, kOtherIp);
  EXPECT_EQ(observer.last_size, 32u);  // NS + source link-layer option
  ASSERT_THAT(observer.advertisements, SizeIs(1));
  EXPECT_TRUE(observer.advertisements[0].second);
}

TEST_F(NdpTest, UnsolicitedAnnouncement) {
  ip_->ndp().announce(nic(), kOurIp);
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(
                  Dst(kAllNodes), Payload(IsNdp(IcmpType(136), Target(kOurIp), SolicitedFlag(false),
                                                OverrideFlag(true))))));
}

}  // namespace
}  // namespace weir::ipv6::test
