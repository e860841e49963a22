#include "tests/ipv4/fixture.h"

namespace weir::ipv4::test {
namespace {

class InputTest : public Ipv4Test {
 protected:
  void SetUp() override {
    Ipv4Test::SetUp();
    udp_ = &add_fake_transport(17);
  }
  Ipv4Spec to_us() { return {.source = kPeerIp, .destination = kOurIp, .protocol = 17}; }

  FakeTransport* udp_ = nullptr;
};

TEST_F(InputTest, DeliversValidPacketWithInfo) {
  auto payload = pattern(40);
  Ipv4Spec spec = to_us();
  spec.ttl = 17;
  spec.tos = 0x10;
  inject_ipv4(spec, payload);
  ASSERT_EQ(udp_->received.size(), 1u);
  const auto& r = udp_->received[0];
  EXPECT_EQ(r.bytes, payload);
  EXPECT_EQ(r.info.nic, nic_);
  EXPECT_EQ(r.info.source, IpAddress(kPeerIp));
  EXPECT_EQ(r.info.destination, IpAddress(kOurIp));
  EXPECT_EQ(r.info.ttl, 17);
  EXPECT_EQ(r.info.tos, 0x10);
  EXPECT_FALSE(r.info.to_broadcast_or_multicast);
  EXPECT_EQ(counters().rx_delivered, 1u);
}

TEST_F(InputTest, TrimsLinkPadding) {
  auto packet = ipv4_packet(to_us(), pattern(6));
  packet.resize(packet.size() + 20, std::byte{0xee});
  inject_raw_ipv4(packet);
  ASSERT_EQ(udp_->received.size(), 1u);
  EXPECT_EQ(udp_->received[0].bytes, pattern(6));
}

TEST_F(InputTest, HostAcceptsAnyTtl) {
  for (uint8_t ttl : {0, 1, 255}) {
    Ipv4Spec spec = to_us();
    spec.ttl = ttl;
    inject_ipv4(spec, pattern(4));
  }
  EXPECT_EQ(udp_->received.size(), 3u);
}

TEST_F(InputTest, DropsMalformedHeaders) {
  auto good = ipv4_packet(to_us(), pattern(8));

  inject_raw_ipv4(ByteView(good).first(19));
  inject_raw_ipv4({});
  EXPECT_EQ(counters().drop_truncated, 2u);

  Ipv4Spec v6 = to_us();
  v6.version = 6;
  inject_raw_ipv4(ipv4_packet(v6, pattern(8)));
  EXPECT_EQ(counters().drop_bad_version, 1u);

  Ipv4Spec short_ihl = to_us();
  short_ihl.ihl = 4;
  inject_raw_ipv4(ipv4_packet(short_ihl, pattern(8)));
  EXPECT_EQ(counters().drop_bad_ihl, 1u);

  Ipv4Spec long_ihl = to_us();
  long_ihl.ihl = 15;  // 60-byte header in a 28-byte packet
  inject_raw_ipv4(ipv4_packet(long_ihl, pattern(8)));
  EXPECT_EQ(counters().drop_truncated, 3u);

  Ipv4Spec small_total = to_us();
  small_total.total_length = 19;
  inject_raw_ipv4(ipv4_packet(small_total, pattern(8)));
  EXPECT_EQ(counters().drop_bad_total_length, 1u);

  Ipv4Spec big_total = to_us();
  big_total.total_length = 29;  // one more than we have
  inject_raw_ipv4(ipv4_packet(big_total, pattern(8)));
  EXPECT_EQ(counters().drop_truncated, 4u);

  Ipv4Spec bad_sum = to_us();
  bad_sum.checksum = 0x1234;
  inject_raw_ipv4(ipv4_packet(bad_sum, pattern(8)));
  EXPECT_EQ(counters().drop_bad_checksum, 1u);

  EXPECT_THAT(udp_->received, IsEmpty());
  EXPECT_FALSE(peer_->read());
}

TEST_F(InputTest, ChecksumIsCheckedEvenWhenLinkVerifiedTransport) {
  // The link's offload flag is about transport checksums only; a bad IP header checksum is
  // always caught. (The channel never sets the flag, so this documents the rule.)
  Ipv4Spec bad_sum = to_us();
  bad_sum.checksum = 0;
  inject_raw_ipv4(ipv4_packet(bad_sum, pattern(8)));
  EXPECT_EQ(counters().drop_bad_checksum, 1u);
}

TEST_F(InputTest, WalksAndSkipsValidOptions) {
  Ipv4Spec spec = to_us();
  // NOP, Record Route (7 bytes: pointer 4, one empty slot), Router Alert, Timestamp (pointer 5,
  // room for one entry), End of List.
  spec.options = testing::bytes_of({1,                         //
                                    7,   7, 4, 0, 0, 0, 0,     //
                                    148, 4, 0, 0,              //
                                    68,  8, 5, 0, 0, 0, 0, 0,  //
                                    0});
  inject_ipv4(spec, pattern(12));
  ASSERT_EQ(udp_->received.size(), 1u);
  EXPECT_EQ(udp_->received[0].bytes, pattern(12));
  EXPECT_EQ(counters().drop_bad_options, 0u);
}

TEST_F(InputTest, UnknownOptionsAreSkippedByLength) {
  Ipv4Spec spec = to_us();
  spec.options = testing::bytes_of({0x9e, 6, 1, 2, 3, 4, 1, 1});
  inject_ipv4(spec, pattern(4));
  EXPECT_EQ(udp_->received.size(), 1u);
}

TEST_F(InputTest, DropsMalformedOptions) {
  const std::vector<std::vector<std::byte>> bad = {
      testing::bytes_of({7, 0, 0, 0}),              // length 0
      testing::bytes_of({7, 1, 0, 0}),              // length 1
      testing::bytes_of({1, 1, 1, 7}),              // length byte missing
      testing::bytes_of({0x9e, 9, 0, 0}),           // runs past the header
      testing::bytes_of({7, 7, 3, 0, 0, 0, 0, 0}),  // record route pointer < 4
      testing::bytes_of({7, 6, 4, 0, 0, 0, 1, 1}),  // record route not whole addresses
      testing::bytes_of({68, 4, 4, 0}),             // timestamp pointer < 5
      testing::bytes_of({68, 3, 5, 0}),             // timestamp too short
      testing::bytes_of({148, 3, 0, 0}),            // router alert wrong length
      testing::bytes_of({131, 2, 1, 1}),            // source route without pointer
  };
  for (const auto& options : bad) {
    Ipv4Spec spec = to_us();
    spec.options = options;
    inject_ipv4(spec, pattern(4));
  }
  EXPECT_EQ(counters().drop_bad_options, bad.size());
  EXPECT_THAT(udp_->received, IsEmpty());
}

TEST_F(InputTest, DropsBroadcastAndMulticastSources) {
  Ipv4Spec spec = to_us();
  spec.source = Ipv4Address::broadcast();
  inject_ipv4(spec, pattern(4));
  spec.source = Ipv4Address(239, 1, 1, 1);
  inject_ipv4(spec, pattern(4));
  spec.source = kSubnetBroadcast;
  inject_ipv4(spec, pattern(4));
  EXPECT_EQ(counters().drop_bad_source, 3u);
  EXPECT_THAT(udp_->received, IsEmpty());
}

TEST_F(InputTest, DropsPacketsForOtherHostsWithoutForwarding) {
  Ipv4Spec spec = to_us();
  spec.destination = kOtherIp;
  inject_ipv4(spec, pattern(4));
  spec.destination = kRemoteIp;
  spec.ttl = 1;
  inject_ipv4(spec, pattern(4));
  EXPECT_EQ(counters().drop_not_for_us, 2u);
  EXPECT_THAT(udp_->received, IsEmpty());
  EXPECT_FALSE(peer_->read());  // no forwarding, no time exceeded
}

TEST_F(InputTest, AcceptsBroadcastsAndJoinedMulticast) {
  Ipv4Spec spec = to_us();
  spec.destination = Ipv4Address::broadcast();
  inject_ipv4(spec, pattern(4));
  spec.destination = kSubnetBroadcast;
  inject_ipv4(spec, pattern(4));
  spec.destination = Ipv4Address(224, 0, 0, 1);  // all hosts: always
  inject_ipv4(spec, pattern(4));
  spec.destination = Ipv4Address(239, 1, 2, 3);
  inject_ipv4(spec, pattern(4));
  EXPECT_EQ(counters().drop_multicast_not_joined, 1u);
  nic().join_group(IpAddress(Ipv4Address(239, 1, 2, 3)));
  inject_ipv4(spec, pattern(4));
  ASSERT_EQ(udp_->received.size(), 4u);
  for (const auto& r : udp_->received) EXPECT_TRUE(r.info.to_broadcast_or_multicast);
}

TEST_F(InputTest, DropsUnicastDatagramSentAsLinkBroadcast) {
  inject_raw_ipv4(ipv4_packet(to_us(), pattern(4)), MacAddress::broadcast());
  EXPECT_EQ(counters().drop_link_broadcast_unicast, 1u);
  EXPECT_THAT(udp_->received, IsEmpty());
}

TEST_F(InputTest, TransportMalformedIsCounted) {
  udp_->result = TransportDelivery::kMalformed;
  inject_ipv4(to_us(), pattern(4));
  EXPECT_EQ(counters().rx_transport_malformed, 1u);
  EXPECT_FALSE(peer_->read());
}

TEST_F(InputTest, ReassemblesFragmentsBeforeDelivery) {
  auto payload = pattern(3000, 5);
  Ipv4Spec spec = to_us();
  spec.id = 0x4242;
  spec.more_fragments = true;
  spec.fragment_offset = 1480;
  inject_ipv4(spec, ByteView(payload).subspan(1480, 1480));
  spec.more_fragments = false;
  spec.fragment_offset = 2960;
  inject_ipv4(spec, ByteView(payload).subspan(2960));
  spec.more_fragments = true;
  spec.fragment_offset = 0;
  EXPECT_THAT(udp_->received, IsEmpty());
  inject_ipv4(spec, ByteView(payload).first(1480));
  ASSERT_EQ(udp_->received.size(), 1u);
  EXPECT_EQ(udp_->received[0].bytes, payload);
  EXPECT_EQ(counters().rx_fragments, 3u);
  EXPECT_EQ(counters().rx_reassembled, 1u);
  EXPECT_EQ(reassembly_counters().datagrams_reassembled, 1u);
}

TEST_F(InputTest, UnreachableForReassembledDatagramQuotesWholeDatagramHeader) {
  learn_peer();
  udp_->result = TransportDelivery::kNoEndpoint;
  auto payload = pattern(64, 1);
  Ipv4Spec spec = to_us();
  spec.id = 9;
  spec.more_fragments = true;
  inject_ipv4(spec, ByteView(payload).first(32));
  spec.more_fragments = false;
  spec.fragment_offset = 32;
  inject_ipv4(spec, ByteView(payload).subspan(32));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv4Frame(Payload(IsIcmpDestUnreachable(
                  3, IsQuotedIpv4(Id(9), MoreFragments(false), FragmentOffset(0), TotalLength(84),
                                  ValidChecksum(), Payload(payload)))))));
}

TEST_F(InputTest, ReassemblyTimeoutSendsTimeExceededQuotingFirstFragment) {
  learn_peer();
  auto payload = pattern(16, 8);
  Ipv4Spec spec = to_us();
  spec.id = 5;
  spec.more_fragments = true;
  inject_ipv4(spec, payload);
  advance(std::chrono::seconds(29));
  EXPECT_FALSE(peer_->read());
  advance(std::chrono::seconds(1));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv4Frame(
                  Src(kOurIp), Dst(kPeerIp), Protocol(1),
                  Payload(IsIcmpv4(IcmpType(kTestIcmpTimeExceeded), IcmpCode(1), ValidChecksum(),
                                   Payload(IsQuotedIpv4(Id(5), MoreFragments(true),
                                                        FragmentOffset(0), Payload(payload))))))));
  EXPECT_EQ(reassembly_counters().drop_timeout, 1u);
  EXPECT_EQ(icmp_counters().tx_time_exceeded, 1u);
}

TEST_F(InputTest, ReassemblyTimeoutIsSilentWithoutFirstFragmentOrForBroadcast) {
  learn_peer();
  Ipv4Spec spec = to_us();
  spec.fragment_offset = 8;
  inject_ipv4(spec, pattern(8));
  spec.destination = Ipv4Address::broadcast();
  spec.fragment_offset = 0;
  spec.more_fragments = true;
  inject_ipv4(spec, pattern(8));
  advance(std::chrono::seconds(30));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(reassembly_counters().drop_timeout, 2u);
  EXPECT_EQ(icmp_counters().tx_suppressed_broadcast, 1u);
}

TEST_F(InputTest, NonArpPacketsOnArpEtherTypeAreCounted) {
  ASSERT_TRUE(peer_->inject(ethernet_frame(our_mac(), peer_mac(), 0x0806, pattern(10))));
  EXPECT_EQ(arp_counters().rx_drop_truncated, 1u);
}

}  // namespace
}  // namespace weir::ipv4::test

namespace weir::ipv4::test {
namespace {

class ForwardingInputTest : public Ipv4Test {
 protected:
  void SetUp() override {
    Ipv4Test::SetUp();
    udp_ = &add_fake_transport(17);
    nic().set_accept_any_destination(true);
  }
  FakeTransport* udp_ = nullptr;
};

TEST_F(ForwardingInputTest, DeliversForeignDestinationsMarkedAsSuch) {
  inject_ipv4({.source = kPeerIp, .destination = kRemoteIp, .protocol = 17}, pattern(8));
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 17}, pattern(8));
  ASSERT_EQ(udp_->received.size(), 2u);
  EXPECT_TRUE(udp_->received[0].info.foreign_destination);
  EXPECT_EQ(udp_->received[0].info.destination, IpAddress(kRemoteIp));
  EXPECT_FALSE(udp_->received[1].info.foreign_destination);
  EXPECT_EQ(counters().rx_foreign_destination, 1u);
  EXPECT_EQ(counters().drop_not_for_us, 0u);
}

TEST_F(ForwardingInputTest, ForeignFragmentsAreReassembledAndMarked) {
  auto payload = pattern(64, 5);
  inject_ipv4({.source = kPeerIp, .destination = kRemoteIp, .protocol = 17, .id = 9,
               .more_fragments = true},
              ByteView(payload).first(32));
  inject_ipv4({.source = kPeerIp, .destination = kRemoteIp, .protocol = 17, .id = 9,
               .fragment_offset = 32},
              ByteView(payload).subspan(32));
  ASSERT_EQ(udp_->received.size(), 1u);
  EXPECT_TRUE(udp_->received[0].info.foreign_destination);
  EXPECT_EQ(udp_->received[0].bytes, payload);
}

TEST_F(ForwardingInputTest, FramesForOtherMacsStayDropped) {
  ASSERT_TRUE(peer_->inject(ipv4_frame(MacAddress::parse("02:00:00:00:00:99").value(), peer_mac(),
                                       {.source = kPeerIp, .destination = kRemoteIp,
                                        .protocol = 17},
                                       pattern(8))));
  EXPECT_THAT(udp_->received, IsEmpty());
}

TEST_F(ForwardingInputTest, PortUnreachableComesFromTheForeignAddress) {
  learn_peer();
  udp_->result = TransportDelivery::kNoEndpoint;
  auto payload = pattern(20);
  inject_ipv4({.source = kPeerIp, .destination = kRemoteIp, .protocol = 17}, payload);
  auto frame = peer_->read();
  ASSERT_TRUE(frame);
  EXPECT_THAT(*frame, IsIpv4Frame(Src(kRemoteIp), Dst(kPeerIp), Protocol(1), ValidChecksum(),
                                  Payload(IsIcmpDestUnreachable(
                                      3, IsQuotedIpv4(Src(kPeerIp), Dst(kRemoteIp))))));
  EXPECT_EQ(icmp_counters().tx_port_unreachable, 1u);
}

TEST_F(ForwardingInputTest, EchoToForeignAddressIsNotAnswered) {
  learn_peer();
  inject_ipv4({.source = kPeerIp, .destination = kRemoteIp, .protocol = 1},
              icmpv4_echo(kTestIcmpEchoRequest, 1, 1, pattern(8)));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().rx_echo_drop_foreign_destination, 1u);
}

}  // namespace
}  // namespace weir::ipv4::test
