#include "tests/ipv4/fixture.h"

namespace weir::ipv4::test {
namespace {

class IcmpTest : public Ipv4Test {};

TEST_F(IcmpTest, EchoReplyIsByteExactCopyWithTypeChanged) {
  learn_peer();
  auto data = pattern(100, 3);
  auto request = icmpv4_echo(kTestIcmpEchoRequest, 0x1234, 7, data);
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1, .id = 99}, request);

  auto frame = peer_->read();
  ASSERT_TRUE(frame);
  EXPECT_THAT(*frame, IsEthernet(EthSrc(our_mac()), EthDst(peer_mac()), EtherType(0x0800)));
  EXPECT_THAT(*frame, IsIpv4Frame(Src(kOurIp), Dst(kPeerIp), Protocol(1), Ttl(64), ValidChecksum(),
                                  DontFragment(false), MoreFragments(false),
                                  Payload(IsIcmpEchoReply(0x1234, 7, data))));
  // Byte-exact: the reply is the request with type 0 and the checksum adjusted.
  auto reply = icmpv4_echo(kTestIcmpEchoReply, 0x1234, 7, data);
  EXPECT_THAT(*frame, IsIpv4Frame(Payload(reply)));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().rx_echo_requests, 1u);
  EXPECT_EQ(icmp_counters().tx_echo_replies, 1u);
}

TEST_F(IcmpTest, EchoWithOddLengthAndEmptyData) {
  learn_peer();
  for (size_t n : {0u, 1u, 57u}) {
    auto data = pattern(n, 9);
    inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
                icmpv4_echo(kTestIcmpEchoRequest, 1, static_cast<uint16_t>(n), data));
    EXPECT_THAT(peer_->read(),
                Optional(IsIpv4Frame(Payload(IsIcmpEchoReply(1, static_cast<uint16_t>(n), data)))));
  }
}

TEST_F(IcmpTest, EchoReplyTriggersArpWhenPeerUnknown) {
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
              icmpv4_echo(kTestIcmpEchoRequest, 5, 1, pattern(8)));
  // First an ARP request for the peer; the reply waits for the answer.
  EXPECT_THAT(peer_->read(), Optional(IsArpFrame(ArpOp(kTestArpRequest), SenderMac(our_mac()),
                                                 SenderIp(kOurIp), TargetIp(kPeerIp))));
  EXPECT_FALSE(peer_->read());
  ASSERT_TRUE(peer_->inject(arp_frame({kTestArpReply, peer_mac(), kPeerIp, our_mac(), kOurIp})));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv4Frame(Dst(kPeerIp), Payload(IsIcmpEchoReply(5, 1, pattern(8))))));
}

TEST_F(IcmpTest, BadChecksumIsDropped) {
  learn_peer();
  auto request = icmpv4_echo(kTestIcmpEchoRequest, 1, 1, pattern(10));
  request[10] ^= std::byte{0x01};
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1}, request);
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().rx_drop_bad_checksum, 1u);
}

TEST_F(IcmpTest, TruncatedMessageIsDropped) {
  learn_peer();
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
              testing::bytes_of({8, 0, 0xf7}));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().rx_drop_truncated, 1u);
}

TEST_F(IcmpTest, NoEchoReplyToBroadcastByDefault) {
  learn_peer();
  inject_ipv4({.source = kPeerIp, .destination = Ipv4Address::broadcast(), .protocol = 1},
              icmpv4_echo(kTestIcmpEchoRequest, 1, 1, pattern(4)));
  inject_ipv4({.source = kPeerIp, .destination = kSubnetBroadcast, .protocol = 1},
              icmpv4_echo(kTestIcmpEchoRequest, 1, 2, pattern(4)));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().rx_echo_drop_broadcast, 2u);
}

class IcmpBroadcastEchoTest : public Ipv4Test {
  Ipv4Options options() const override {
    Ipv4Options o;
    o.icmp.echo_reply_to_broadcast = true;
    return o;
  }
};

TEST_F(IcmpBroadcastEchoTest, RepliesFromOurUnicastAddress) {
  learn_peer();
  inject_ipv4({.source = kPeerIp, .destination = Ipv4Address::broadcast(), .protocol = 1},
              icmpv4_echo(kTestIcmpEchoRequest, 3, 4, pattern(4)));
  EXPECT_THAT(peer_->read(), Optional(IsIpv4Frame(Src(kOurIp), Dst(kPeerIp),
                                                  Payload(IsIcmpEchoReply(3, 4, pattern(4))))));
}

TEST_F(IcmpTest, ProtocolUnreachableForUnknownProtocol) {
  learn_peer();
  auto payload = pattern(30);
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 200, .id = 77}, payload);
  auto frame = peer_->read();
  ASSERT_TRUE(frame);
  EXPECT_THAT(*frame, IsIpv4Frame(Src(kOurIp), Dst(kPeerIp), Protocol(1),
                                  Payload(IsIcmpDestUnreachable(
                                      2, IsQuotedIpv4(Src(kPeerIp), Dst(kOurIp), Protocol(200),
                                                      Id(77), Payload(payload))))));
  EXPECT_EQ(counters().drop_unknown_protocol, 1u);
  EXPECT_EQ(icmp_counters().tx_protocol_unreachable, 1u);
}

TEST_F(IcmpTest, PortUnreachableWhenTransportHasNoEndpoint) {
  learn_peer();
  auto& udp = add_fake_transport(17);
  udp.result = TransportDelivery::kNoEndpoint;
  auto payload = pattern(600);
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 17}, payload);
  ASSERT_EQ(udp.received.size(), 1u);
  auto frame = peer_->read();
  ASSERT_TRUE(frame);
  // Quotes as much as fits in 576 bytes: 576 - 20 - 8 - 20 bytes of the original payload.
  std::vector<std::byte> quoted(payload.begin(), payload.begin() + 528);
  EXPECT_THAT(*frame,
              IsIpv4Frame(TotalLength(576), Payload(IsIcmpDestUnreachable(
                                                3, IsQuotedIpv4(Protocol(17), Payload(quoted))))));
  EXPECT_EQ(icmp_counters().tx_port_unreachable, 1u);
  EXPECT_EQ(counters().rx_no_endpoint, 1u);
}

TEST_F(IcmpTest, NoUnreachableForBroadcastOrMulticastDestinations) {
  learn_peer();
  auto& udp = add_fake_transport(17);
  udp.result = TransportDelivery::kNoEndpoint;
  inject_ipv4({.source = kPeerIp, .destination = Ipv4Address::broadcast(), .protocol = 17},
              pattern(8));
  inject_ipv4({.source = kPeerIp, .destination = kSubnetBroadcast, .protocol = 17}, pattern(8));
  inject_ipv4({.source = kPeerIp, .destination = Ipv4Address(224, 0, 0, 1), .protocol = 17},
              pattern(8));
  EXPECT_EQ(udp.received.size(), 3u);
  EXPECT_TRUE(udp.received[0].info.to_broadcast_or_multicast);
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().tx_suppressed_broadcast, 3u);
}

TEST_F(IcmpTest, NoUnreachableForLinkBroadcastOrZeroSource) {
  learn_peer();
  inject_ipv4({.source = Ipv4Address(), .destination = kOurIp, .protocol = 200}, pattern(8));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().tx_suppressed_bad_source, 1u);
}

TEST_F(IcmpTest, ErrorQuotingUnknownTransportIsCountedAndNotAnswered) {
  learn_peer();
  auto quoted = ipv4_packet({.source = kOurIp, .destination = kPeerIp, .protocol = 99}, pattern(8));
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
              icmpv4_message(3, 3, 0, quoted));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().rx_dest_unreachable, 1u);
  EXPECT_EQ(icmp_counters().rx_errors_no_transport, 1u);
}

class IcmpRateLimitTest : public Ipv4Test {
  Ipv4Options options() const override {
    Ipv4Options o;
    o.icmp.error_rate_per_second = 10;  // one token per 100 ms
    o.icmp.error_burst = 3;
    return o;
  }
};

TEST_F(IcmpRateLimitTest, BurstThenRefillWithTime) {
  learn_peer();
  auto send_bad = [&] {
    inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 200}, pattern(8));
  };
  for (int i = 0; i < 5; ++i) send_bad();
  EXPECT_EQ(peer_->read_all().size(), 3u);
  EXPECT_EQ(icmp_counters().tx_drop_rate_limited, 2u);

  advance(std::chrono::milliseconds(99));
  send_bad();
  EXPECT_FALSE(peer_->read());
  advance(std::chrono::milliseconds(1));
  send_bad();
  EXPECT_TRUE(peer_->read());
  send_bad();
  EXPECT_FALSE(peer_->read());

  // A long pause refills only up to the burst.
  advance(std::chrono::seconds(10));
  for (int i = 0; i < 5; ++i) send_bad();
  EXPECT_EQ(peer_->read_all().size(), 3u);
  EXPECT_EQ(icmp_counters().tx_drop_rate_limited, 2u + 1u + 1u + 2u);
}

TEST_F(IcmpRateLimitTest, EchoRepliesAreNotLimited) {
  learn_peer();
  for (int i = 0; i < 10; ++i) {
    inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
                icmpv4_echo(kTestIcmpEchoRequest, 1, static_cast<uint16_t>(i), pattern(4)));
  }
  EXPECT_EQ(peer_->read_all().size(), 10u);
}

// ---- Received ICMP errors go to the transport --------------------------------------------

TEST_F(IcmpTest, PortUnreachableReachesTransport) {
  auto& udp = add_fake_transport(17);
  auto transport_bytes = testing::bytes_of({0x30, 0x39, 0x00, 0x35, 0x00, 0x10, 0xab, 0xcd});
  auto quoted =
      ipv4_packet({.source = kOurIp, .destination = kPeerIp, .protocol = 17}, transport_bytes);
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
              icmpv4_message(3, 3, 0, quoted));
  ASSERT_EQ(udp.controls.size(), 1u);
  EXPECT_EQ(udp.controls[0].type, ControlType::kPortUnreachable);
  EXPECT_EQ(udp.controls[0].local, IpAddress(kOurIp));
  EXPECT_EQ(udp.controls[0].remote, IpAddress(kPeerIp));
  EXPECT_EQ(udp.controls[0].transport_header, transport_bytes);
  EXPECT_EQ(icmp_counters().rx_errors_delivered, 1u);
}

TEST_F(IcmpTest, FragmentationNeededCarriesMtu) {
  auto& tcp = add_fake_transport(6);
  auto quoted = ipv4_packet({.source = kOurIp,
                             .destination = kRemoteIp,
                             .protocol = 6,
                             .dont_fragment = true,
                             .total_length = 1500},
                            pattern(8));
  inject_ipv4({.source = kGatewayIp, .destination = kOurIp, .protocol = 1},
              icmpv4_message(3, 4, 1400, quoted));
  // No next-hop MTU (an RFC 792 router): the plateau below 1500.
  inject_ipv4({.source = kGatewayIp, .destination = kOurIp, .protocol = 1},
              icmpv4_message(3, 4, 0, quoted));
  ASSERT_EQ(tcp.controls.size(), 2u);
  EXPECT_EQ(tcp.controls[0].type, ControlType::kFragmentationNeeded);
  EXPECT_EQ(tcp.controls[0].mtu, 1400u);
  EXPECT_EQ(tcp.controls[1].mtu, 1492u);
  EXPECT_EQ(tcp.controls[0].remote, IpAddress(kRemoteIp));
}

TEST_F(IcmpTest, TimeExceededAndParameterProblem) {
  auto& udp = add_fake_transport(17);
  auto quoted =
      ipv4_packet({.source = kOurIp, .destination = kRemoteIp, .protocol = 17}, pattern(8));
  inject_ipv4({.source = kGatewayIp, .destination = kOurIp, .protocol = 1},
              icmpv4_message(11, 0, 0, quoted));
  inject_ipv4({.source = kGatewayIp, .destination = kOurIp, .protocol = 1},
              icmpv4_message(12, 0, 0x14000000, quoted));
  ASSERT_EQ(udp.controls.size(), 2u);
  EXPECT_EQ(udp.controls[0].type, ControlType::kTimeExceeded);
  EXPECT_EQ(udp.controls[1].type, ControlType::kParameterProblem);
}

TEST_F(IcmpTest, MalformedQuotedHeadersAreDropped) {
  auto& udp = add_fake_transport(17);
  auto good = ipv4_packet({.source = kOurIp, .destination = kPeerIp, .protocol = 17}, pattern(8));
  auto send_error = [&](std::vector<std::byte> quoted) {
    inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
                icmpv4_message(3, 3, 0, quoted));
  };
  send_error({good.begin(), good.begin() + 27});  // fewer than 8 transport bytes
  auto bad_version = good;
  bad_version[0] = std::byte{0x65};
  send_error(bad_version);
  auto bad_ihl = good;
  bad_ihl[0] = std::byte{0x44};
  send_error(bad_ihl);
  auto long_ihl = good;
  long_ihl[0] = std::byte{0x4f};  // 60-byte header in 28 bytes
  send_error(long_ihl);
  send_error({});
  EXPECT_EQ(icmp_counters().rx_drop_bad_quoted_header, 5u);
  // Not something we sent.
  send_error(ipv4_packet({.source = kOtherIp, .destination = kPeerIp, .protocol = 17}, pattern(8)));
  EXPECT_EQ(icmp_counters().rx_drop_quoted_not_ours, 1u);
  // Unknown unreachable code.
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
              icmpv4_message(3, 99, 0, good));
  EXPECT_EQ(icmp_counters().rx_drop_unknown_code, 1u);
  EXPECT_THAT(udp.controls, IsEmpty());
}

TEST_F(IcmpTest, OtherTypesAreCountedAndIgnored) {
  learn_peer();
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
              icmpv4_echo(kTestIcmpEchoReply, 1, 1, pattern(4)));
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
              icmpv4_message(13, 0, 0, pattern(12)));
  inject_ipv4({.source = kPeerIp, .destination = kOurIp, .protocol = 1},
              icmpv4_message(5, 1, kGatewayIp.value(), pattern(28)));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().rx_echo_replies, 1u);
  EXPECT_EQ(icmp_counters().rx_other_types, 1u);
  EXPECT_EQ(icmp_counters().rx_redirect, 1u);
}

TEST(TokenBucketTest, ExactUnderManualTime) {
  TimePoint t0{std::chrono::seconds(5)};
  TokenBucket bucket(1000, 2, t0);
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_FALSE(bucket.take(t0));
  EXPECT_FALSE(bucket.take(t0 + std::chrono::microseconds(999)));
  EXPECT_TRUE(bucket.take(t0 + std::chrono::milliseconds(1)));
  TokenBucket unlimited(0, 0, t0);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(unlimited.take(t0));
}

TEST(MtuPlateauTest, PicksNextLowerPlateau) {
  EXPECT_EQ(mtu_plateau_below(1500), 1492u);
  EXPECT_EQ(mtu_plateau_below(1492), 1006u);
  EXPECT_EQ(mtu_plateau_below(576), 508u);
  EXPECT_EQ(mtu_plateau_below(68), 68u);
  EXPECT_EQ(mtu_plateau_below(0), 68u);
}

}  // namespace
}  // namespace weir::ipv4::test
