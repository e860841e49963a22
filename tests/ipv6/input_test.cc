// The IPv6 receive path: validation, the extension header chain, delivery, and the ICMPv6
// errors the chain rules produce.
#include "tests/ipv6/fixture.h"

namespace weir::ipv6::test {
namespace {

class Ipv6InputTest : public Ipv6Test {
 protected:
  void SetUp() override {
    Ipv6Test::SetUp();
    learn_peer();
  }
  // The peer's frame with an echo request, and whether an echo reply came back.
  bool echoed() {
    auto frame = peer_->read();
    auto m = icmp_in(frame);
    return m && m->type == kTestIcmpv6EchoReply;
  }
};

TEST_F(Ipv6InputTest, EchoRequestIsAnswered) {
  auto data = pattern(100, 3);
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 58, .traffic_class = 0x20},
              icmpv6_echo(kTestIcmpv6EchoRequest, 0x1234, 7, data, kPeerIp, kOurIp));
  auto frame = peer_->read();
  ASSERT_TRUE(frame);
  EXPECT_THAT(*frame, IsEthernet(EthSrc(our_mac()), EthDst(peer_mac())));
  EXPECT_THAT(
      *frame,
      IsIpv6Frame(Src(kOurIp), Dst(kPeerIp), HopLimit(64), TrafficClass(0x20), Protocol(58),
                  ValidChecksum(),
                  Payload(icmpv6_echo(kTestIcmpv6EchoReply, 0x1234, 7, data, kOurIp, kPeerIp))));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().rx_echo_requests, 1u);
  EXPECT_EQ(icmp_counters().tx_echo_replies, 1u);
}

TEST_F(Ipv6InputTest, EchoToAllNodesIsAnsweredFromAUnicastAddress) {
  inject_ipv6_to(test_multicast_mac(kAllNodes),
                 {.source = kPeerLinkLocal, .destination = kAllNodes, .next_header = 58},
                 icmpv6_echo(kTestIcmpv6EchoRequest, 1, 2, pattern(8), kPeerLinkLocal, kAllNodes));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Src(kOurLinkLocal), Dst(kPeerLinkLocal), ValidChecksum(),
                                   Payload(IsIcmpv6(IcmpType(129))))));
}

TEST_F(Ipv6InputTest, EchoToOurSolicitedNodeGroupIsAnswered) {
  const Ipv6Address group = test_solicited_node(kOurIp);
  inject_ipv6_to(test_multicast_mac(group),
                 {.source = kPeerIp, .destination = group, .next_header = 58},
                 icmpv6_echo(kTestIcmpv6EchoRequest, 1, 2, pattern(8), kPeerIp, group));
  EXPECT_TRUE(echoed());
}

TEST_F(Ipv6InputTest, HeaderValidationDropsWithNamedReasons) {
  auto echo = icmpv6_echo(kTestIcmpv6EchoRequest, 1, 1, pattern(8), kPeerIp, kOurIp);
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 58, .version = 4}, echo);
  EXPECT_EQ(counters().drop_bad_version, 1u);
  inject_ipv6({.source = kPeerIp,
               .destination = kOurIp,
               .next_header = 58,
               .payload_length = static_cast<uint16_t>(echo.size() + 1)},
              echo);
  EXPECT_EQ(counters().drop_bad_payload_length, 1u);
  auto packet = ipv6_packet({.source = kPeerIp, .destination = kOurIp, .next_header = 58}, echo);
  inject_raw_ipv6(ByteView(packet).first(39));
  EXPECT_EQ(counters().drop_truncated, 1u);
  EXPECT_FALSE(peer_->read());
}

TEST_F(Ipv6InputTest, LinkPaddingIsTrimmed) {
  auto packet = ipv6_packet({.source = kPeerIp, .destination = kOurIp, .next_header = 58},
                            icmpv6_echo(kTestIcmpv6EchoRequest, 1, 1, pattern(3), kPeerIp, kOurIp));
  packet.resize(packet.size() + 9, std::byte{0xee});
  inject_raw_ipv6(packet);
  EXPECT_TRUE(echoed());
}

TEST_F(Ipv6InputTest, BadSourcesAndDestinationsAreDropped) {
  auto echo = [](const Ipv6Address& s, const Ipv6Address& d) {
    return icmpv6_echo(kTestIcmpv6EchoRequest, 1, 1, pattern(8), s, d);
  };
  const Ipv6Address multicast = v6("ff02::5");
  const Ipv6Address mapped = v6("::ffff:10.0.0.2");
  const Ipv6Address loopback = v6("::1");
  inject_ipv6({.source = multicast, .destination = kOurIp, .next_header = 58},
              echo(multicast, kOurIp));
  inject_ipv6({.source = mapped, .destination = kOurIp, .next_header = 58}, echo(mapped, kOurIp));
  inject_ipv6({.source = loopback, .destination = kOurIp, .next_header = 58},
              echo(loopback, kOurIp));
  EXPECT_EQ(counters().drop_bad_source, 3u);
  inject_ipv6({.source = kPeerIp, .destination = loopback, .next_header = 58},
              echo(kPeerIp, loopback));
  inject_ipv6({.source = kPeerIp, .destination = v6("ff00::1"), .next_header = 58},
              echo(kPeerIp, v6("ff00::1")));  // reserved scope
  inject_ipv6({.source = kPeerIp, .destination = v6("ff01::1"), .next_header = 58},
              echo(kPeerIp, v6("ff01::1")));  // interface-local from the wire
  EXPECT_EQ(counters().drop_bad_destination, 3u);
  inject_ipv6({.source = kPeerIp, .destination = kOtherIp, .next_header = 58},
              echo(kPeerIp, kOtherIp));
  EXPECT_EQ(counters().drop_not_for_us, 1u);
  inject_ipv6({.source = kPeerIp, .destination = v6("ff02::1:ff00:99"), .next_header = 58},
              echo(kPeerIp, v6("ff02::1:ff00:99")));
  EXPECT_EQ(counters().drop_multicast_not_joined, 1u);
  EXPECT_FALSE(peer_->read());
}

TEST_F(Ipv6InputTest, LinkLocalDestinationMustBelongToTheReceivingNic) {
  auto pair = link::ChannelEndpoint::make_test_pair(
      {.mac_a = MacAddress({2, 0, 0, 0, 1, 1}), .mac_b = MacAddress({2, 0, 0, 0, 1, 2})});
  NicId second = stack_->add_nic(std::move(pair.endpoint), "eth1").value();
  ASSERT_TRUE(stack_->add_address(second, IpPrefix{IpAddress(v6("fe80::99")), 64}));
  auto echo = icmpv6_echo(kTestIcmpv6EchoRequest, 1, 1, pattern(8), kPeerLinkLocal, v6("fe80::99"));
  inject_ipv6({.source = kPeerLinkLocal, .destination = v6("fe80::99"), .next_header = 58}, echo);
  EXPECT_EQ(counters().drop_not_for_us, 1u);
  EXPECT_FALSE(peer_->read());
}

TEST_F(Ipv6InputTest, HopByHopOptionsAreSkippedOrActedOnByTheirHighBits) {
  // 00: skipped; a router alert is fine too.
  inject_raw_ipv6(echo_with(options_header(58, bytes({0x1e, 2, 0, 0, 5, 2, 0, 0})), 0));
  EXPECT_TRUE(echoed());
  // 01: dropped quietly.
  inject_raw_ipv6(echo_with(options_header(58, bytes({0x5e, 2, 0, 0})), 0));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(counters().drop_unknown_option, 1u);
  // 10: Parameter Problem code 2 at the option (40 + 2).
  inject_raw_ipv6(echo_with(options_header(58, bytes({0x9e, 2, 0, 0})), 0));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Src(kOurIp), Dst(kPeerIp),
                                   Payload(IsIcmpv6(IcmpType(4), IcmpCode(2), IcmpRest(42))))));
  // 11: the same, to a unicast destination.
  inject_raw_ipv6(echo_with(options_header(58, bytes({0, 0xde, 1, 0})), 0));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(4), IcmpCode(2), IcmpRest(43))))));
  EXPECT_EQ(icmp_counters().tx_parameter_problem, 2u);
}

TEST_F(Ipv6InputTest, MulticastGetsAnUnknownOptionErrorOnlyFor10) {
  auto to_group = [&](uint8_t type) {
    inject_ipv6_to(
        test_multicast_mac(kAllNodes),
        {.source = kPeerIp, .destination = kAllNodes, .next_header = 60},
        concat({options_header(58, bytes({type, 2, 0, 0})),
                icmpv6_echo(kTestIcmpv6EchoRequest, 1, 1, pattern(8), kPeerIp, kAllNodes)}));
  };
  to_group(0xde);
  EXPECT_FALSE(peer_->read());
  to_group(0x9e);
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Src(kOurIp), Payload(IsIcmpv6(IcmpType(4), IcmpCode(2))))));
}

TEST_F(Ipv6InputTest, BadPaddingAndTruncatedOptionsDrop) {
  inject_raw_ipv6(echo_with(options_header(58, bytes({1, 2, 0, 7})), 60));  // PadN with data
  inject_raw_ipv6(echo_with(options_header(58, bytes({0x1e, 9, 0, 0})), 60));
  EXPECT_EQ(counters().drop_bad_options, 2u);
  EXPECT_FALSE(peer_->read());
}

TEST_F(Ipv6InputTest, HopByHopAfterAnotherHeaderIsAnUnrecognizedNextHeader) {
  auto headers = concat({options_header(0, {}), options_header(58, {})});
  inject_raw_ipv6(echo_with(headers, 60));
  // Pointer: the destination options header's next header field (offset 40).
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(4), IcmpCode(1), IcmpRest(40))))));
  EXPECT_EQ(counters().drop_hop_by_hop_not_first, 1u);
}

TEST_F(Ipv6InputTest, RoutingHeaderWithSegmentsLeftIsRefused) {
  inject_raw_ipv6(echo_with(routing_header(58, 0, 0, 1), 43));
  EXPECT_TRUE(echoed());                                        // segments left 0: skipped
  inject_raw_ipv6(echo_with(routing_header(58, 0, 1, 1), 43));  // RFC 5095
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(4), IcmpCode(0), IcmpRest(42))))));
  inject_raw_ipv6(echo_with(concat({options_header(43, {}), routing_header(58, 4, 2, 2)}), 60));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(4), IcmpCode(0), IcmpRest(50))))));
  EXPECT_EQ(counters().drop_routing_header, 2u);
}

TEST_F(Ipv6InputTest, UnknownNextHeaderGetsParameterProblemAtTheNamingField) {
  auto body = pattern(16);
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 253}, body);
  auto frame = peer_->read();
  EXPECT_THAT(
      frame,
      Optional(IsIpv6Frame(
          Src(kOurIp), Dst(kPeerIp), ValidChecksum(),
          Payload(IsIcmpv6(
              IcmpType(4), IcmpCode(1), IcmpRest(6),
              Payload(ipv6_packet({.source = kPeerIp, .destination = kOurIp, .next_header = 253},
                                  body)))))));
  inject_raw_ipv6(ipv6_packet({.source = kPeerIp, .destination = kOurIp, .next_header = 60},
                              concat({options_header(253, {}), body})));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(4), IcmpCode(1), IcmpRest(40))))));
  EXPECT_EQ(counters().drop_unknown_next_header, 2u);
  // No Next Header is dropped quietly.
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 59}, body);
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(counters().rx_no_next_header, 1u);
}

TEST_F(Ipv6InputTest, TransportsGetTheUpperLayerAfterTheChain) {
  FakeTransport& udp = add_fake_transport(17);
  auto datagram = udp6_datagram(1000, 2000, pattern(20), kPeerIp, kOurIp);
  inject_raw_ipv6(ipv6_packet({.source = kPeerIp,
                               .destination = kOurIp,
                               .next_header = 0,
                               .hop_limit = 9,
                               .traffic_class = 0x10},
                              concat({options_header(60, {}), options_header(17, {}), datagram})));
  ASSERT_THAT(udp.received, SizeIs(1));
  EXPECT_EQ(udp.received[0].bytes, datagram);
  EXPECT_EQ(udp.received[0].info.source, IpAddress(kPeerIp));
  EXPECT_EQ(udp.received[0].info.destination, IpAddress(kOurIp));
  EXPECT_EQ(udp.received[0].info.ttl, 9);
  EXPECT_EQ(udp.received[0].info.tos, 0x10);
  EXPECT_FALSE(udp.received[0].info.to_broadcast_or_multicast);
}

TEST_F(Ipv6InputTest, NoEndpointGetsPortUnreachableQuotingThePacket) {
  FakeTransport& udp = add_fake_transport(17);
  udp.result = TransportDelivery::kNoEndpoint;
  auto datagram = udp6_datagram(1000, 2000, pattern(2000), kPeerIp, kOurIp);
  auto packet =
      ipv6_packet({.source = kPeerIp, .destination = kOurIp, .next_header = 17}, datagram);
  ASSERT_TRUE(peer_->inject(ethernet_frame(our_mac(), peer_mac(), 0x86dd, packet)));
  auto m = icmp_in(peer_->read());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->type, 1);
  EXPECT_EQ(m->code, 4);
  // As much as fits in 1280 bytes: 1280 - 40 - 8.
  ASSERT_EQ(m->payload.size(), 1232u);
  EXPECT_TRUE(std::equal(m->payload.begin(), m->payload.end(), packet.begin()));
  EXPECT_EQ(icmp_counters().tx_port_unreachable, 1u);
}

TEST_F(Ipv6InputTest, ErrorsAreNeverSentAboutErrorsOrMulticast) {
  FakeTransport& udp = add_fake_transport(17);
  udp.result = TransportDelivery::kNoEndpoint;
  // A datagram to a group: no port unreachable.
  inject_ipv6_to(test_multicast_mac(kAllNodes),
                 {.source = kPeerIp, .destination = kAllNodes, .next_header = 17},
                 udp6_datagram(1, 2, pattern(4), kPeerIp, kAllNodes));
  EXPECT_FALSE(peer_->read());
  // A unicast datagram that came as a link-layer multicast: no error either.
  inject_ipv6_to(test_multicast_mac(kAllNodes),
                 {.source = kPeerIp, .destination = kOurIp, .next_header = 17},
                 udp6_datagram(1, 2, pattern(4), kPeerIp, kOurIp));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().tx_suppressed_multicast, 2u);
  // An ICMPv6 error carrying an option that would earn a Parameter Problem: silence.
  auto error = icmpv6_message(1, 4, 0, pattern(48), kPeerIp, kOurIp);
  inject_raw_ipv6(ipv6_packet({.source = kPeerIp, .destination = kOurIp, .next_header = 60},
                              concat({options_header(58, bytes({0x9e, 0})), error})));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().tx_suppressed_icmp_error, 1u);
  // From the unspecified address: no one to tell.
  inject_ipv6({.source = Ipv6Address(), .destination = kOurIp, .next_header = 17},
              udp6_datagram(1, 2, pattern(4), Ipv6Address(), kOurIp));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().tx_suppressed_bad_source, 1u);
}

TEST_F(Ipv6InputTest, ErrorsAreRateLimitedPerDestination) {
  // The peer is on-link through a /64: one error per 250 ms, bursts of 6 (Linux's numbers).
  for (int i = 0; i < 10; ++i) {
    inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 253}, pattern(8));
  }
  EXPECT_EQ(peer_->read_all().size(), 6u);
  EXPECT_EQ(icmp_counters().tx_drop_rate_limited, 4u);
  advance(std::chrono::milliseconds(500));
  for (int i = 0; i < 3; ++i) {
    inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 253}, pattern(8));
  }
  EXPECT_TRUE(read_ip());  // two tokens came back in 500 ms
  EXPECT_TRUE(read_ip());
  EXPECT_FALSE(read_ip());
  // Another peer has its own allowance.
  learn(kOtherIp, peer_mac());
  inject_ipv6({.source = kOtherIp, .destination = kOurIp, .next_header = 253}, pattern(8));
  EXPECT_TRUE(read_ip());
}

class Ipv6GlobalLimitTest : public Ipv6InputTest {
 protected:
  Ipv6Options options() const override {
    Ipv6Options o;
    o.icmp.peer_interval = Duration::zero();
    return o;
  }
};

TEST_F(Ipv6GlobalLimitTest, ErrorsAreRateLimitedGlobally) {
  for (int i = 0; i < 60; ++i) {
    inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 253}, pattern(8));
  }
  EXPECT_EQ(peer_->read_all().size(), 50u);  // the burst
  EXPECT_EQ(icmp_counters().tx_drop_rate_limited, 10u);
  advance(std::chrono::milliseconds(2));  // 1000/s: two more tokens
  for (int i = 0; i < 3; ++i) {
    inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 253}, pattern(8));
  }
  EXPECT_EQ(peer_->read_all().size(), 2u);
}

TEST_F(Ipv6InputTest, BadIcmpChecksumIsDropped) {
  auto echo = icmpv6_echo(kTestIcmpv6EchoRequest, 1, 1, pattern(10), kPeerIp, kOurIp);
  echo[9] ^= std::byte{1};
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 58}, echo);
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().rx_drop_bad_checksum, 1u);
}

TEST_F(Ipv6InputTest, UnknownInformationalAndHandlerlessTypesAreCounted) {
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 58},
              icmpv6_message(200, 0, 0, pattern(4), kPeerIp, kOurIp));
  EXPECT_EQ(icmp_counters().rx_unknown_informational, 1u);
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 58},
              icmpv6_message(100, 0, 0, pattern(4), kPeerIp, kOurIp));
  EXPECT_EQ(icmp_counters().rx_unknown_errors, 1u);
  // A router advertisement with nobody registered for it.
  inject_ipv6(
      {.source = kPeerLinkLocal, .destination = kAllNodes, .next_header = 58, .hop_limit = 255},
      icmpv6_message(134, 0, 0, pattern(8), kPeerLinkLocal, kAllNodes));
  EXPECT_EQ(icmp_counters().rx_drop_no_handler, 1u);
  EXPECT_FALSE(peer_->read());
}

// ---- Errors reaching transports ----

class Ipv6ErrorInputTest : public Ipv6InputTest {
 protected:
  // What we would have sent: a UDP datagram from us to `to`, as the error quotes it.
  std::vector<std::byte> our_datagram(const Ipv6Address& to, size_t size = 30) {
    return ipv6_packet({.source = kOurIp, .destination = to, .next_header = 17},
                       udp6_datagram(5000, 53, pattern(size), kOurIp, to));
  }
  void inject_error(uint8_t type, uint8_t code, uint32_t rest, ByteView quoted) {
    inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 58},
                icmpv6_message(type, code, rest, quoted, kPeerIp, kOurIp));
  }
};

TEST_F(Ipv6ErrorInputTest, PortUnreachableReachesTheTransport) {
  FakeTransport& udp = add_fake_transport(17);
  inject_error(1, 4, 0, our_datagram(kRemoteIp));
  ASSERT_THAT(udp.controls, SizeIs(1));
  EXPECT_EQ(udp.controls[0].type, ControlType::kPortUnreachable);
  EXPECT_EQ(udp.controls[0].local, IpAddress(kOurIp));
  EXPECT_EQ(udp.controls[0].remote, IpAddress(kRemoteIp));
  EXPECT_EQ(load_be16(udp.controls[0].transport_header, 0), 5000);
  EXPECT_EQ(load_be16(udp.controls[0].transport_header, 2), 53);
}

TEST_F(Ipv6ErrorInputTest, CodesMapAsLinuxMapsThem) {
  FakeTransport& udp = add_fake_transport(17);
  const std::vector<std::tuple<uint8_t, uint8_t, ControlType>> cases = {
      {1, 0, ControlType::kNetworkUnreachable}, {1, 1, ControlType::kAdministrativelyProhibited},
      {1, 3, ControlType::kHostUnreachable},    {3, 0, ControlType::kTimeExceeded},
      {4, 0, ControlType::kParameterProblem},   {4, 1, ControlType::kProtocolUnreachable},
  };
  for (const auto& [type, code, expected] : cases) {
    udp.controls.clear();
    inject_error(type, code, 0, our_datagram(kRemoteIp));
    ASSERT_THAT(udp.controls, SizeIs(1)) << int{type} << "/" << int{code};
    EXPECT_EQ(udp.controls[0].type, expected) << int{type} << "/" << int{code};
  }
  udp.controls.clear();
  inject_error(1, 9, 0, our_datagram(kRemoteIp));
  EXPECT_THAT(udp.controls, IsEmpty());
  EXPECT_EQ(icmp_counters().rx_drop_unknown_code, 1u);
}

TEST_F(Ipv6ErrorInputTest, PacketTooBigLowersThePathMtuNeverBelow1280) {
  FakeTransport& udp = add_fake_transport(17);
  inject_error(2, 0, 1400, our_datagram(kRemoteIp, 1400));
  ASSERT_THAT(udp.controls, SizeIs(1));
  EXPECT_EQ(udp.controls[0].type, ControlType::kFragmentationNeeded);
  EXPECT_EQ(udp.controls[0].mtu, 1400u);
  EXPECT_EQ(ip_->learned_path_mtu(kRemoteIp), std::optional<uint32_t>(1400));
  EXPECT_EQ(stack_->find_route(IpAddress(kRemoteIp))->mtu, 1400u);
  // Lower, and below the minimum: clamped to 1280.
  inject_error(2, 0, 600, our_datagram(kRemoteIp, 1400));
  EXPECT_EQ(udp.controls.back().mtu, 1280u);
  EXPECT_EQ(ip_->learned_path_mtu(kRemoteIp), std::optional<uint32_t>(1280));
  // Never raised by a later PTB.
  inject_error(2, 0, 1450, our_datagram(kRemoteIp, 1400));
  EXPECT_EQ(ip_->learned_path_mtu(kRemoteIp), std::optional<uint32_t>(1280));
  EXPECT_EQ(icmp_counters().pmtu_updates, 2u);
  // It ages out on the stack clock.
  advance(std::chrono::minutes(10));
  EXPECT_EQ(ip_->learned_path_mtu(kRemoteIp), std::nullopt);
  EXPECT_EQ(stack_->find_route(IpAddress(kRemoteIp))->mtu, 1500u);
}

TEST_F(Ipv6ErrorInputTest, ErrorsNotAboutOurPacketsAreDropped) {
  FakeTransport& udp = add_fake_transport(17);
  auto foreign = ipv6_packet({.source = kOtherIp, .destination = kRemoteIp, .next_header = 17},
                             udp6_datagram(1, 2, pattern(8), kOtherIp, kRemoteIp));
  inject_error(1, 4, 0, foreign);
  EXPECT_EQ(icmp_counters().rx_drop_quoted_not_ours, 1u);
  inject_error(1, 4, 0, ByteView(our_datagram(kRemoteIp)).first(44));
  EXPECT_EQ(icmp_counters().rx_drop_bad_quoted_header, 1u);
  // A non-first fragment does not say which flow it was.
  auto later = ipv6_packet({.source = kOurIp, .destination = kRemoteIp, .next_header = 44},
                           concat({fragment_header(17, 1232, false, 5), pattern(16)}));
  inject_error(1, 4, 0, later);
  EXPECT_EQ(icmp_counters().rx_drop_quoted_fragment, 1u);
  EXPECT_THAT(udp.controls, IsEmpty());
  // A first fragment does, and so does a chain before the upper layer.
  auto first = ipv6_packet({.source = kOurIp, .destination = kRemoteIp, .next_header = 60},
                           concat({options_header(44, {}), fragment_header(17, 0, true, 5),
                                   udp6_datagram(5000, 53, pattern(8), kOurIp, kRemoteIp)}));
  inject_error(1, 4, 0, first);
  ASSERT_THAT(udp.controls, SizeIs(1));
  EXPECT_EQ(load_be16(udp.controls[0].transport_header, 0), 5000);
}

}  // namespace
}  // namespace weir::ipv6::test

namespace weir::ipv6::test {
namespace {

class Ipv6ForwardingInputTest : public Ipv6Test {
 protected:
  void SetUp() override {
    Ipv6Test::SetUp();
    learn_peer();
    udp_ = &add_fake_transport(17);
    nic().set_accept_any_destination(true);
  }
  FakeTransport* udp_ = nullptr;
};

TEST_F(Ipv6ForwardingInputTest, DeliversForeignDestinationsMarkedAsSuch) {
  inject_ipv6({.source = kPeerIp, .destination = kRemoteIp, .next_header = 17},
              udp6_datagram(1, 2, pattern(4), kPeerIp, kRemoteIp));
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 17},
              udp6_datagram(1, 2, pattern(4), kPeerIp, kOurIp));
  ASSERT_EQ(udp_->received.size(), 2u);
  EXPECT_TRUE(udp_->received[0].info.foreign_destination);
  EXPECT_FALSE(udp_->received[1].info.foreign_destination);
  EXPECT_EQ(counters().rx_foreign_destination, 1u);
}

TEST_F(Ipv6ForwardingInputTest, ForeignLinkLocalDestinationsStayDropped) {
  inject_ipv6({.source = kPeerLinkLocal, .destination = v6("fe80::99"), .next_header = 17},
              udp6_datagram(1, 2, pattern(4), kPeerLinkLocal, v6("fe80::99")));
  EXPECT_THAT(udp_->received, IsEmpty());
  EXPECT_EQ(counters().drop_not_for_us, 1u);
}

TEST_F(Ipv6ForwardingInputTest, PortUnreachableComesFromTheForeignAddress) {
  udp_->result = TransportDelivery::kNoEndpoint;
  inject_ipv6({.source = kPeerIp, .destination = kRemoteIp, .next_header = 17},
              udp6_datagram(1, 2, pattern(4), kPeerIp, kRemoteIp));
  auto frame = peer_->read();
  ASSERT_TRUE(frame);
  EXPECT_THAT(*frame, IsIpv6Frame(Src(kRemoteIp), Dst(kPeerIp), Protocol(58), ValidChecksum()));
  auto m = icmp_in(frame);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->type, 1);
  EXPECT_EQ(m->code, 4);
}

TEST_F(Ipv6ForwardingInputTest, EchoToForeignAddressIsNotAnswered) {
  inject_ipv6({.source = kPeerIp, .destination = kRemoteIp, .next_header = 58},
              icmpv6_echo(kTestIcmpv6EchoRequest, 1, 1, pattern(8), kPeerIp, kRemoteIp));
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(icmp_counters().rx_echo_drop_foreign_destination, 1u);
}

}  // namespace
}  // namespace weir::ipv6::test
