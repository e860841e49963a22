// Two stacks joined by a channel pair: ARP both ways, echo, fragmentation and reassembly
// end to end.
#include "tests/ipv4/fixture.h"

namespace weir::ipv4::test {
namespace {

class TwoStackTest : public ::testing::Test {
 protected:
  struct Host {
    std::unique_ptr<Stack> stack;
    NicId nic = 0;
    Ipv4Protocol* ip = nullptr;
    link::ChannelEndpoint* endpoint = nullptr;
  };

  void SetUp() override {
    auto pair = link::ChannelEndpoint::make_pair();
    a_.endpoint = pair.a.get();
    b_.endpoint = pair.b.get();
    init(a_, std::move(pair.a), kOurIp, 1);
    init(b_, std::move(pair.b), kPeerIp, 2);
  }

  void init(Host& h, std::unique_ptr<link::ChannelEndpoint> endpoint, Ipv4Address address,
            uint64_t seed) {
    h.stack = std::make_unique<Stack>(clock_, repeatable_stack_options(seed));
    h.nic = h.stack->add_nic(std::move(endpoint), "eth0").value();
    h.ip = &install(*h.stack);
    ASSERT_TRUE(h.stack->add_address(h.nic, IpPrefix{IpAddress(address), 24}));
  }

  void pump() { link::ChannelEndpoint::pump(*a_.endpoint, *b_.endpoint); }

  Status send(Host& from, Ipv4Address to, uint8_t protocol, ByteView payload) {
    auto route = from.stack->find_route(IpAddress(to));
    if (!route) return route.error();
    return from.ip->write_packet(*route, {.protocol = protocol}, PacketBuffer::from_bytes(payload));
  }

  ManualClock clock_;
  Host a_;
  Host b_;
};

TEST_F(TwoStackTest, EchoAcrossResolvesBothWays) {
  pump();  // the address announcements
  ASSERT_TRUE(send(a_, kPeerIp, 1, icmpv4_echo(kTestIcmpEchoRequest, 1, 1, pattern(56))));
  pump();
  EXPECT_EQ(b_.ip->icmp().counters().tx_echo_replies, 1u);
  EXPECT_EQ(a_.ip->icmp().counters().rx_echo_replies, 1u);
  // B learned A from A's request, so it needed no resolution of its own.
  EXPECT_EQ(b_.ip->arp().counters().tx_requests, 0u);
  EXPECT_EQ(a_.ip->arp().counters().tx_requests, 1u);
}

TEST_F(TwoStackTest, LargeDatagramIsFragmentedAndReassembled) {
  auto& sink = b_.stack->add_transport_protocol(std::make_unique<FakeTransport>(17));
  auto payload = pattern(20000, 4);
  ASSERT_TRUE(send(a_, kPeerIp, 17, payload));
  pump();
  ASSERT_EQ(sink.received.size(), 1u);
  EXPECT_EQ(sink.received[0].bytes, payload);
  EXPECT_EQ(sink.received[0].info.source, IpAddress(kOurIp));
  EXPECT_EQ(a_.ip->counters().tx_fragments, 14u);
  EXPECT_EQ(b_.ip->reassembler().counters().datagrams_reassembled, 1u);
  EXPECT_EQ(b_.ip->reassembler().memory_used(), 0u);
}

TEST_F(TwoStackTest, PortUnreachableReachesSendersTransport) {
  auto& sink = b_.stack->add_transport_protocol(std::make_unique<FakeTransport>(17));
  sink.result = TransportDelivery::kNoEndpoint;
  auto& sender = a_.stack->add_transport_protocol(std::make_unique<FakeTransport>(17));
  ASSERT_TRUE(send(a_, kPeerIp, 17, pattern(12)));
  pump();
  ASSERT_EQ(sender.controls.size(), 1u);
  EXPECT_EQ(sender.controls[0].type, ControlType::kPortUnreachable);
  EXPECT_EQ(sender.controls[0].local, IpAddress(kOurIp));
  EXPECT_EQ(sender.controls[0].remote, IpAddress(kPeerIp));
  EXPECT_EQ(sender.controls[0].transport_header, pattern(12));
}

}  // namespace
}  // namespace weir::ipv4::test
