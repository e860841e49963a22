#include "tests/ipv4/fixture.h"

namespace weir::ipv4::test {
namespace {

const MacAddress kOtherMac({0x02, 0x00, 0x00, 0x00, 0x00, 0x33});
const MacAddress kNewPeerMac({0x02, 0x00, 0x00, 0x00, 0x00, 0x44});

class ArpTest : public Ipv4Test {
 protected:
  Status send_to(Ipv4Address dst, size_t n = 20, uint8_t seed = 0) {
    return ip_->write_packet(route_to(dst), IpWriteParams{.protocol = 17},
                             PacketBuffer::from_bytes(pattern(n, seed)));
  }
  std::optional<NeighborCache::EntryInfo> entry(Ipv4Address a) {
    return ip_->arp().cache().find(nic_, IpAddress(a));
  }
  auto IsBroadcastRequestFor(Ipv4Address target) {
    return IsEthernet(EthDst(MacAddress::broadcast()), EthSrc(our_mac()), EtherType(0x0806),
                      Payload(IsArp(ArpOp(kTestArpRequest), SenderMac(our_mac()), SenderIp(kOurIp),
                                    TargetMac(MacAddress()), TargetIp(target))));
  }
};

TEST_F(ArpTest, AnswersRequestForOurAddressAndLearnsSender) {
  ASSERT_TRUE(
      peer_->inject(arp_frame({kTestArpRequest, peer_mac(), kPeerIp, MacAddress(), kOurIp})));
  EXPECT_THAT(peer_->read(),
              Optional(IsEthernet(EthDst(peer_mac()), EthSrc(our_mac()), EtherType(0x0806),
                                  Payload(IsArpReply(our_mac(), kOurIp, peer_mac(), kPeerIp)))));
  EXPECT_FALSE(peer_->read());
  auto e = entry(kPeerIp);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, NeighborState::kReachable);
  EXPECT_EQ(e->link_address, peer_mac());
  EXPECT_EQ(arp_counters().tx_replies, 1u);
  // A learned neighbor needs no resolution.
  ASSERT_TRUE(send_to(kPeerIp));
  EXPECT_THAT(peer_->read(), Optional(IsEthernet(EthDst(peer_mac()), EtherType(0x0800))));
}

TEST_F(ArpTest, IgnoresRequestsForOtherAddresses) {
  ASSERT_TRUE(
      peer_->inject(arp_frame({kTestArpRequest, peer_mac(), kPeerIp, MacAddress(), kOtherIp})));
  EXPECT_FALSE(peer_->read());
  EXPECT_FALSE(entry(kPeerIp));
  EXPECT_EQ(arp_counters().rx_not_for_us, 1u);
}

TEST_F(ArpTest, QueuesWhileResolvingAndReleasesOnReply) {
  ASSERT_TRUE(send_to(kPeerIp, 20, 1));
  ASSERT_TRUE(send_to(kPeerIp, 20, 2));
  EXPECT_THAT(peer_->read(), Optional(IsBroadcastRequestFor(kPeerIp)));
  EXPECT_FALSE(peer_->read());  // one request, both packets wait
  EXPECT_EQ(entry(kPeerIp)->state, NeighborState::kIncomplete);
  EXPECT_EQ(entry(kPeerIp)->pending, 2u);

  ASSERT_TRUE(peer_->inject(arp_frame({kTestArpReply, peer_mac(), kPeerIp, our_mac(), kOurIp})));
  EXPECT_THAT(peer_->read(),
              Optional(IsEthernet(EthDst(peer_mac()),
                                  Payload(IsIpv4(Dst(kPeerIp), Payload(pattern(20, 1)))))));
  EXPECT_THAT(peer_->read(), Optional(IsIpv4Frame(Payload(pattern(20, 2)))));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(cache_counters().resolved, 1u);
  EXPECT_EQ(cache_counters().packets_released, 2u);
}

TEST_F(ArpTest, RetriesThenDropsQueuedPacketsOnTimeout) {
  ASSERT_TRUE(send_to(kPeerIp));
  EXPECT_THAT(peer_->read(), Optional(IsBroadcastRequestFor(kPeerIp)));
  advance(std::chrono::milliseconds(999));
  EXPECT_FALSE(peer_->read());
  advance(std::chrono::milliseconds(1));
  EXPECT_THAT(peer_->read(), Optional(IsBroadcastRequestFor(kPeerIp)));
  advance(std::chrono::seconds(1));
  EXPECT_THAT(peer_->read(), Optional(IsBroadcastRequestFor(kPeerIp)));
  advance(std::chrono::seconds(1));
  EXPECT_FALSE(peer_->read());  // three probes, then give up
  EXPECT_EQ(cache_counters().drop_resolution_failed, 1u);
  EXPECT_EQ(cache_counters().resolution_failures, 1u);
  EXPECT_EQ(entry(kPeerIp)->state, NeighborState::kFailed);

  // While failed, sends fail at once without new requests.
  EXPECT_EQ(send_to(kPeerIp).error(), Error::kHostUnreachable);
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(cache_counters().drop_failed_entry, 1u);
  EXPECT_EQ(counters().tx_drop_resolution, 1u);

  // Then the entry is forgotten and a new round starts.
  advance(std::chrono::seconds(1));
  EXPECT_FALSE(entry(kPeerIp));
  ASSERT_TRUE(send_to(kPeerIp));
  EXPECT_THAT(peer_->read(), Optional(IsBroadcastRequestFor(kPeerIp)));
}

TEST_F(ArpTest, PendingQueueIsBoundedAndKeepsNewest) {
  const size_t bound = ip_->arp().cache().options().max_pending;
  for (size_t i = 0; i < bound + 2; ++i) ASSERT_TRUE(send_to(kPeerIp, 16, static_cast<uint8_t>(i)));
  EXPECT_EQ(entry(kPeerIp)->pending, bound);
  EXPECT_EQ(cache_counters().drop_queue_full, 2u);
  peer_->clear();
  ASSERT_TRUE(peer_->inject(arp_frame({kTestArpReply, peer_mac(), kPeerIp, our_mac(), kOurIp})));
  auto frames = peer_->read_all();
  ASSERT_EQ(frames.size(), bound);
  EXPECT_THAT(frames.front(), IsIpv4Frame(Payload(pattern(16, 2))));
  EXPECT_THAT(frames.back(), IsIpv4Frame(Payload(pattern(16, static_cast<uint8_t>(bound + 1)))));
}

TEST_F(ArpTest, BurstOfSynsWaitsWholeForTheAnswer) {
  // 200 connections opened at once towards a neighbor not yet resolved: each SYN (a 40-byte
  // TCP header with options, 60 bytes of IP) waits for the ARP reply, none for a retransmission
  // timeout, and one request asks for them all.
  constexpr size_t kSyns = 200;
  constexpr size_t kSynTcpBytes = 40;
  for (size_t i = 0; i < kSyns; ++i) {
    ASSERT_TRUE(send_to(kPeerIp, kSynTcpBytes, static_cast<uint8_t>(i)));
  }
  EXPECT_EQ(entry(kPeerIp)->pending, kSyns);
  EXPECT_EQ(cache_counters().drop_queue_full, 0u);
  EXPECT_THAT(peer_->read(), Optional(IsBroadcastRequestFor(kPeerIp)));
  EXPECT_FALSE(peer_->read());
  ASSERT_TRUE(peer_->inject(arp_frame({kTestArpReply, peer_mac(), kPeerIp, our_mac(), kOurIp})));
  auto frames = peer_->read_all();
  ASSERT_EQ(frames.size(), kSyns);
  EXPECT_THAT(frames.front(), IsIpv4Frame(Payload(pattern(kSynTcpBytes, 0))));
  EXPECT_THAT(frames.back(),
              IsIpv4Frame(Payload(pattern(kSynTcpBytes, static_cast<uint8_t>(kSyns - 1)))));
  EXPECT_EQ(cache_counters().packets_released, kSyns);
}

TEST_F(ArpTest, PendingQueueDefaultsToLinuxsUnresQlenBytes) {
  // 1480-byte IP packets: 143 of them (211640 bytes) fit in 212992, the 144th pushes out the
  // oldest.
  constexpr size_t kPayload = 1460;
  constexpr size_t kFit = 212992 / (kPayload + 20);
  ASSERT_EQ(kFit, 143u);
  for (size_t i = 0; i < kFit + 7; ++i) {
    ASSERT_TRUE(send_to(kPeerIp, kPayload, static_cast<uint8_t>(i)));
  }
  EXPECT_EQ(entry(kPeerIp)->pending, kFit);
  EXPECT_EQ(cache_counters().drop_queue_full, 7u);
  peer_->clear();
  ASSERT_TRUE(peer_->inject(arp_frame({kTestArpReply, peer_mac(), kPeerIp, our_mac(), kOurIp})));
  auto frames = peer_->read_all();
  ASSERT_EQ(frames.size(), kFit);
  EXPECT_THAT(frames.front(), IsIpv4Frame(Payload(pattern(kPayload, 7))));
}

class ArpByteBoundTest : public ArpTest {
  Ipv4Options options() const override {
    Ipv4Options o;
    o.arp.max_pending = 1000;  // only the byte bound applies
    o.arp.max_pending_bytes = size_t{128} << 10;
    return o;
  }
};

TEST_F(ArpByteBoundTest, PendingQueueIsBoundedInBytes) {
  // Each 60000-byte datagram leaves as 40 fragments of 1500 bytes and one of 820.
  for (uint8_t i = 1; i <= 3; ++i) ASSERT_TRUE(send_to(kPeerIp, 60000, i));
  // The newest packets within 131072 bytes: two whole datagrams (121640), then the first
  // one's last fragment (820) and five of its 1500-byte fragments.
  EXPECT_EQ(entry(kPeerIp)->pending, 41u + 41u + 1u + 5u);
  EXPECT_EQ(cache_counters().drop_queue_full, 123u - 88u);
  peer_->clear();
  ASSERT_TRUE(peer_->inject(arp_frame({kTestArpReply, peer_mac(), kPeerIp, our_mac(), kOurIp})));
  auto frames = peer_->read_all();
  ASSERT_EQ(frames.size(), 88u);
  EXPECT_THAT(frames.back(), IsIpv4Frame(MoreFragments(false), FragmentOffset(59200)));
}

TEST_F(ArpTest, GratuitousArpOnlyUpdatesExistingEntries) {
  // Unknown sender: ignored, nothing created.
  ASSERT_TRUE(
      peer_->inject(arp_frame({kTestArpRequest, kOtherMac, kOtherIp, MacAddress(), kOtherIp})));
  EXPECT_FALSE(entry(kOtherIp));
  EXPECT_EQ(arp_counters().rx_gratuitous_ignored, 1u);
  // Gratuitous reply form too.
  ASSERT_TRUE(peer_->inject(
      arp_frame({kTestArpReply, kOtherMac, kOtherIp, MacAddress::broadcast(), kOtherIp})));
  EXPECT_FALSE(entry(kOtherIp));
  EXPECT_EQ(arp_counters().rx_gratuitous_ignored, 2u);

  // Known sender: its new MAC is taken.
  learn_peer();
  ASSERT_TRUE(
      peer_->inject(arp_frame({kTestArpRequest, kNewPeerMac, kPeerIp, MacAddress(), kPeerIp})));
  EXPECT_FALSE(peer_->read());  // no reply to a gratuitous ARP
  EXPECT_EQ(entry(kPeerIp)->link_address, kNewPeerMac);
  ASSERT_TRUE(send_to(kPeerIp));
  EXPECT_THAT(peer_->read(), Optional(IsEthernet(EthDst(kNewPeerMac), EtherType(0x0800))));
  EXPECT_EQ(arp_counters().rx_gratuitous, 3u);
}

TEST_F(ArpTest, GratuitousArpAnswersAPendingResolution) {
  ASSERT_TRUE(send_to(kPeerIp));
  peer_->clear();
  ASSERT_TRUE(
      peer_->inject(arp_frame({kTestArpRequest, peer_mac(), kPeerIp, MacAddress(), kPeerIp})));
  EXPECT_THAT(peer_->read(), Optional(IsEthernet(EthDst(peer_mac()), EtherType(0x0800))));
}

TEST_F(ArpTest, UnsolicitedReplyAimedAtUsCreatesEntry) {
  ASSERT_TRUE(peer_->inject(arp_frame({kTestArpReply, peer_mac(), kPeerIp, our_mac(), kOurIp})));
  EXPECT_FALSE(peer_->read());
  ASSERT_TRUE(entry(kPeerIp));
  EXPECT_EQ(entry(kPeerIp)->state, NeighborState::kReachable);
}

TEST_F(ArpTest, ReplyNotAimedAtUsOnlyRefreshes) {
  // Broadcast on the wire, so the channel delivers it although it is meant for another host.
  auto reply_for_other = [&](MacAddress sender) {
    return ethernet_frame(MacAddress::broadcast(), sender, 0x0806,
                          arp_packet({kTestArpReply, sender, kPeerIp, kOtherMac, kOtherIp}));
  };
  ASSERT_TRUE(peer_->inject(reply_for_other(peer_mac())));
  EXPECT_FALSE(entry(kPeerIp));
  EXPECT_EQ(arp_counters().rx_not_for_us, 1u);
  learn_peer();
  ASSERT_TRUE(peer_->inject(reply_for_other(kNewPeerMac)));
  EXPECT_EQ(entry(kPeerIp)->link_address, kNewPeerMac);
}

TEST_F(ArpTest, ReachableTurnsStaleThenProbesOnUse) {
  learn_peer();
  advance(std::chrono::seconds(30));
  EXPECT_EQ(entry(kPeerIp)->state, NeighborState::kStale);

  // A stale entry is still used, and a unicast probe re-confirms it.
  ASSERT_TRUE(send_to(kPeerIp));
  EXPECT_THAT(peer_->read(), Optional(IsEthernet(EthDst(peer_mac()), EtherType(0x0800))));
  EXPECT_THAT(peer_->read(),
              Optional(IsEthernet(EthDst(peer_mac()),
                                  Payload(IsArp(ArpOp(kTestArpRequest), TargetIp(kPeerIp))))));
  EXPECT_EQ(entry(kPeerIp)->state, NeighborState::kProbe);
  ASSERT_TRUE(peer_->inject(arp_frame({kTestArpReply, peer_mac(), kPeerIp, our_mac(), kOurIp})));
  EXPECT_EQ(entry(kPeerIp)->state, NeighborState::kReachable);
}

TEST_F(ArpTest, UnansweredProbesForgetTheEntry) {
  learn_peer();
  advance(std::chrono::seconds(30));
  ASSERT_TRUE(send_to(kPeerIp));
  EXPECT_EQ(peer_->read_all().size(), 2u);  // the packet and the first probe
  advance(std::chrono::seconds(1));
  advance(std::chrono::seconds(1));
  EXPECT_EQ(peer_->read_all().size(), 2u);  // probes 2 and 3
  advance(std::chrono::seconds(1));
  EXPECT_FALSE(entry(kPeerIp));
  ASSERT_TRUE(send_to(kPeerIp));
  EXPECT_THAT(peer_->read(), Optional(IsBroadcastRequestFor(kPeerIp)));
}

TEST_F(ArpTest, UnusedStaleEntryIsForgotten) {
  learn_peer();
  advance(std::chrono::seconds(30));
  EXPECT_EQ(entry(kPeerIp)->state, NeighborState::kStale);
  advance(std::chrono::seconds(60));
  EXPECT_FALSE(entry(kPeerIp));
  EXPECT_EQ(cache_counters().entries_expired, 1u);
}

TEST_F(ArpTest, DropsMalformedAndSuspiciousPackets) {
  auto good = arp_packet({kTestArpRequest, peer_mac(), kPeerIp, MacAddress(), kOurIp});
  auto inject = [&](std::vector<std::byte> p) {
    ASSERT_TRUE(peer_->inject(ethernet_frame(MacAddress::broadcast(), peer_mac(), 0x0806, p)));
  };
  inject({good.begin(), good.begin() + 27});
  EXPECT_EQ(arp_counters().rx_drop_truncated, 1u);
  auto bad = good;
  bad[1] = std::byte{6};  // hardware type 6 (IEEE 802)
  inject(bad);
  bad = good;
  bad[2] = std::byte{0x86};  // protocol type IPv6
  inject(bad);
  bad = good;
  bad[4] = std::byte{8};  // hardware length
  inject(bad);
  bad = good;
  bad[5] = std::byte{16};  // protocol length
  inject(bad);
  EXPECT_EQ(arp_counters().rx_drop_unsupported, 4u);
  bad = good;
  bad[7] = std::byte{3};  // RARP request
  inject(bad);
  EXPECT_EQ(arp_counters().rx_drop_bad_opcode, 1u);

  // Our own MAC as sender (a looped-back broadcast).
  inject(arp_packet({kTestArpRequest, our_mac(), kPeerIp, MacAddress(), kOurIp}));
  EXPECT_EQ(arp_counters().rx_drop_from_self, 1u);
  // Broadcast/multicast sender addresses.
  inject(arp_packet({kTestArpRequest, MacAddress::broadcast(), kPeerIp, MacAddress(), kOurIp}));
  inject(
      arp_packet({kTestArpRequest, peer_mac(), Ipv4Address(224, 0, 0, 5), MacAddress(), kOurIp}));
  inject(arp_packet({kTestArpRequest, peer_mac(), Ipv4Address::broadcast(), MacAddress(), kOurIp}));
  EXPECT_EQ(arp_counters().rx_drop_bad_sender, 3u);
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(ip_->arp().cache().size(), 0u);

  // Padding after the 28 bytes is fine.
  auto padded = good;
  padded.resize(46);
  inject(padded);
  EXPECT_TRUE(peer_->read());
}

TEST_F(ArpTest, AddressConflictIsCountedNotLearned) {
  ASSERT_TRUE(
      peer_->inject(arp_frame({kTestArpRequest, peer_mac(), kOurIp, MacAddress(), kPeerIp})));
  ASSERT_TRUE(
      peer_->inject(arp_frame({kTestArpRequest, peer_mac(), kOurIp, MacAddress(), kOurIp})));
  EXPECT_EQ(arp_counters().address_conflicts, 2u);
  EXPECT_FALSE(entry(kOurIp));
  EXPECT_FALSE(peer_->read());
}

TEST_F(ArpTest, AnswersProbesForOurAddressWithoutLearning) {
  ASSERT_TRUE(
      peer_->inject(arp_frame({kTestArpRequest, peer_mac(), Ipv4Address(), MacAddress(), kOurIp})));
  EXPECT_THAT(
      peer_->read(),
      Optional(IsEthernet(EthDst(peer_mac()),
                          Payload(IsArpReply(our_mac(), kOurIp, peer_mac(), Ipv4Address())))));
  EXPECT_EQ(arp_counters().rx_probes, 1u);
  EXPECT_EQ(ip_->arp().cache().size(), 0u);
}

TEST_F(ArpTest, AnnouncesNewAddresses) {
  ASSERT_TRUE(stack_->add_address(nic_, IpPrefix{IpAddress(Ipv4Address(10, 0, 1, 7)), 24}));
  EXPECT_THAT(peer_->read(),
              Optional(IsEthernet(EthDst(MacAddress::broadcast()),
                                  Payload(IsArp(ArpOp(kTestArpRequest), SenderMac(our_mac()),
                                                SenderIp(Ipv4Address(10, 0, 1, 7)),
                                                TargetIp(Ipv4Address(10, 0, 1, 7)))))));
  EXPECT_EQ(arp_counters().tx_announcements, 2u);  // the fixture's address and this one
}

TEST_F(ArpTest, ResolvesTheGatewayForOffLinkDestinations) {
  ASSERT_TRUE(send_to(kRemoteIp));
  EXPECT_THAT(peer_->read(), Optional(IsBroadcastRequestFor(kGatewayIp)));
  ASSERT_TRUE(peer_->inject(arp_frame({kTestArpReply, kOtherMac, kGatewayIp, our_mac(), kOurIp})));
  EXPECT_THAT(peer_->read(),
              Optional(IsEthernet(EthDst(kOtherMac), Payload(IsIpv4(Dst(kRemoteIp))))));
}

class ArpSmallCacheTest : public ArpTest {
  Ipv4Options options() const override {
    Ipv4Options o;
    o.arp.max_entries = 2;
    return o;
  }
};

TEST_F(ArpSmallCacheTest, FullCacheEvictsStaleEntriesOrRefuses) {
  ASSERT_TRUE(send_to(Ipv4Address(10, 0, 0, 10)));
  ASSERT_TRUE(send_to(Ipv4Address(10, 0, 0, 11)));
  // Both entries are resolving: nothing may be evicted.
  EXPECT_EQ(send_to(Ipv4Address(10, 0, 0, 12)).error(), Error::kNoBufferSpace);
  EXPECT_EQ(cache_counters().drop_cache_full, 1u);
  // Fail both (three probes), then they are kFailed and evictable.
  for (int i = 0; i < 3; ++i) advance(std::chrono::seconds(1));
  ASSERT_TRUE(send_to(Ipv4Address(10, 0, 0, 12)));
  EXPECT_EQ(ip_->arp().cache().size(), 2u);
}

TEST_F(ArpTest, NeighborCacheFlushDropsPending) {
  ASSERT_TRUE(send_to(kPeerIp));
  ip_->arp().cache().flush(nic_);
  EXPECT_FALSE(entry(kPeerIp));
  EXPECT_EQ(cache_counters().drop_resolution_failed, 1u);
}

}  // namespace
}  // namespace weir::ipv4::test
