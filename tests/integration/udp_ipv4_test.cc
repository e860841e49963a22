// Two stacks over an in-memory Ethernet channel: ARP resolution, ping, UDP both ways, a
// fragmented datagram, broadcast, and ICMP port unreachable reaching a connected socket.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

#include "ipv4/ipv4.h"
#include "stack/stack.h"
#include "stack/waiter.h"
#include "tests/testing/ipv4_packets.h"
#include "tests/testing/two_stacks.h"
#include "udp/endpoint.h"
#include "udp/udp.h"
#include "udp/wire.h"

namespace weir {
namespace {

using namespace weir::testing;  // NOLINT: builders and matchers
using ::testing::ElementsAre;
using ::testing::Optional;
using ::testing::SizeIs;

const Ipv4Address kA(10, 0, 0, 1);
const Ipv4Address kB(10, 0, 0, 2);

// A UDP datagram as an independent decoder sees it (not udp/wire.h).
struct UdpDatagram {
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  uint16_t length = 0;
  std::vector<std::byte> payload;
};

std::optional<UdpDatagram> decode_udp(ByteView b) {
  if (b.size() < 8) return std::nullopt;
  UdpDatagram d;
  d.source_port = load_be16(b, 0);
  d.destination_port = load_be16(b, 2);
  d.length = load_be16(b, 4);
  if (d.length < 8 || d.length > b.size()) return std::nullopt;
  d.payload.assign(b.begin() + 8, b.begin() + d.length);
  return d;
}

void PrintTo(const UdpDatagram& d, std::ostream* os) {
  *os << "UDP " << d.source_port << " -> " << d.destination_port << " length " << d.length;
}

MATCHER_P(SrcPort, p, "source port " + ::testing::PrintToString(p)) { return arg.source_port == p; }
MATCHER_P(DstPort, p, "destination port " + ::testing::PrintToString(p)) {
  return arg.destination_port == p;
}

template <typename... Ms>
auto IsUdp(Ms... ms) {
  return make_decode_matcher<UdpDatagram>("a UDP datagram", &decode_udp, ms...);
}

std::vector<std::byte> pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> out(n);
  uint32_t x = seed;
  for (auto& b : out) {
    x = x * 1103515245u + 12345u;
    b = std::byte(static_cast<uint8_t>(x >> 16));
  }
  return out;
}

class UdpOverIpv4Test : public ::testing::Test {
 protected:
  std::unique_ptr<udp::Endpoint> open_a() {
    return udp::Endpoint::create(*net_.a().stack, AddressFamily::kIpv4).value();
  }
  std::unique_ptr<udp::Endpoint> open_b() {
    return udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv4).value();
  }

  // Declared first: sockets the tests open are destroyed before the stacks.
  TwoStacks net_;
  udp::UdpProtocol& udp_a_ = udp::install(*net_.a().stack);
  udp::UdpProtocol& udp_b_ = udp::install(*net_.b().stack);
};

TEST_F(UdpOverIpv4Test, FirstDatagramWaitsForArpThenFlows) {
  auto server = open_b();
  ASSERT_TRUE(server->bind({IpAddress(), 7000}));
  auto client = open_a();
  ASSERT_TRUE(client->send_to(as_bytes("first"), SocketAddress{kB, 7000}));

  // Before anything moves: only an ARP request is out; the datagram waits in the cache.
  ASSERT_THAT(net_.a().sent, SizeIs(1));
  EXPECT_THAT(net_.a().sent[0].bytes, IsArpRequest(net_.a().mac, kA, kB));
  auto pending = net_.a().arp().cache().find(net_.a().nic, kB);
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->state, NeighborState::kIncomplete);
  EXPECT_EQ(pending->pending, 1u);
  EXPECT_EQ(server->queued_datagrams(), 0u);

  net_.pump();
  std::vector<std::byte> buf(64);
  auto info = server->receive_from(buf);
  ASSERT_TRUE(info);
  EXPECT_EQ(std::vector<std::byte>(buf.begin(), buf.begin() + info->size), to_byte_vector("first"));
  EXPECT_EQ(info->from, (SocketAddress{kA, client->local_address().port}));

  // Both caches learned the other side.
  auto at_a = net_.a().arp().cache().find(net_.a().nic, kB);
  ASSERT_TRUE(at_a);
  EXPECT_EQ(at_a->state, NeighborState::kReachable);
  EXPECT_EQ(at_a->link_address, net_.b().mac);
  EXPECT_EQ(at_a->pending, 0u);
  auto at_b = net_.b().arp().cache().find(net_.b().nic, kA);
  ASSERT_TRUE(at_b);
  EXPECT_EQ(at_b->link_address, net_.a().mac);
  EXPECT_THAT(net_.b().sent_of(kEtherTypeArp),
              ElementsAre(IsArpReply(net_.b().mac, kB, net_.a().mac, kA)));
  EXPECT_THAT(net_.a().sent_of(kEtherTypeIpv4),
              ElementsAre(IsIpv4(Src(kA), Dst(kB), Protocol(17),
                                 Payload(IsUdp(DstPort(7000), Payload(to_byte_vector("first")))))));

  // The next datagram goes straight out: no second ARP request.
  net_.clear_sent();
  ASSERT_TRUE(client->send_to(as_bytes("second"), SocketAddress{kB, 7000}));
  EXPECT_THAT(net_.a().sent_of(kEtherTypeArp), SizeIs(0));
  EXPECT_THAT(net_.a().sent_of(kEtherTypeIpv4), SizeIs(1));
  net_.pump();
  EXPECT_EQ(server->queued_datagrams(), 1u);
}

TEST_F(UdpOverIpv4Test, PingGetsEchoReply) {
  const auto data = to_byte_vector("weir ping payload");
  IpWriteParams params;
  params.protocol = kProtocolIcmp;
  ASSERT_TRUE(net_.a().ipv4->send_from(
      kA, kB, params, PacketBuffer::from_bytes(icmpv4_echo(kTestIcmpEchoRequest, 0x77, 3, data))));
  net_.pump();
  EXPECT_THAT(net_.b().sent_of(kEtherTypeIpv4),
              ElementsAre(IsIpv4(Src(kB), Dst(kA), Protocol(kProtocolIcmp),
                                 Payload(IsIcmpEchoReply(0x77, 3, data)))));
  EXPECT_EQ(net_.a().ipv4->icmp().counters().rx_echo_replies, 1u);
  EXPECT_EQ(net_.b().ipv4->icmp().counters().tx_echo_replies, 1u);
}

TEST_F(UdpOverIpv4Test, ExchangeBothWays) {
  auto server = open_b();
  ASSERT_TRUE(server->bind({IpAddress(), 7}));
  int server_wakeups = 0;
  Waiter server_waiter(kEventReadable, [&](EventMask) { ++server_wakeups; });
  server->waiters().add(server_waiter);

  auto client = open_a();
  ASSERT_TRUE(client->connect({kB, 7}));
  EXPECT_EQ(client->local_address().address, IpAddress(kA));
  int client_wakeups = 0;
  Waiter client_waiter(kEventReadable, [&](EventMask) { ++client_wakeups; });
  client->waiters().add(client_waiter);

  for (int round = 0; round < 3; ++round) {
    const auto message = pattern(100 + round, static_cast<uint8_t>(round));
    ASSERT_TRUE(client->send(message));
    net_.pump();
    EXPECT_EQ(server_wakeups, round + 1);
    ASSERT_NE(server->readiness() & kEventReadable, 0u);
    // The server echoes what it got, without copying.
    auto got = server->receive_packet();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload.to_vector(), message);
    ASSERT_TRUE(server->send_packet(std::move(got->payload), got->from));
    net_.pump();
    EXPECT_EQ(client_wakeups, round + 1);
    std::vector<std::byte> buf(2000);
    auto info = client->receive_from(buf);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->from, (SocketAddress{kB, 7}));
    EXPECT_EQ(std::vector<std::byte>(buf.begin(), buf.begin() + info->size), message);
  }
  EXPECT_EQ(udp_a_.counters().sent, 3u);
  EXPECT_EQ(udp_b_.counters().sent, 3u);
  EXPECT_EQ(udp_a_.counters().delivered, 3u);
  EXPECT_EQ(udp_b_.counters().delivered, 3u);
}

TEST_F(UdpOverIpv4Test, FourThousandByteDatagramIsFragmentedAndReassembled) {
  auto server = open_b();
  ASSERT_TRUE(server->bind({IpAddress(), 9000}));
  auto client = open_a();
  ASSERT_TRUE(client->bind({IpAddress(), 9001}));
  // Resolve ARP first so the fragments are the only IPv4 traffic to look at.
  ASSERT_TRUE(client->send_to(as_bytes("warm-up"), SocketAddress{kB, 9000}));
  net_.pump();
  ASSERT_TRUE(server->receive_packet());
  net_.clear_sent();

  const auto big = pattern(4000, 42);
  ASSERT_EQ(client->send_to(big, SocketAddress{kB, 9000}).value(), 4000u);
  // 4008 bytes of UDP in 1480-byte pieces: 1480 + 1480 + 1048.
  EXPECT_THAT(net_.a().sent_of(kEtherTypeIpv4),
              ElementsAre(IsIpv4(FragmentOffset(0), MoreFragments(true), PayloadSize(1480)),
                          IsIpv4(FragmentOffset(1480), MoreFragments(true), PayloadSize(1480)),
                          IsIpv4(FragmentOffset(2960), MoreFragments(false), PayloadSize(1048))));
  net_.pump();
  std::vector<std::byte> buf(8000);
  auto info = server->receive_from(buf);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->size, 4000u);
  EXPECT_FALSE(info->truncated);
  EXPECT_EQ(std::vector<std::byte>(buf.begin(), buf.begin() + info->size), big);
  EXPECT_EQ(net_.b().ipv4->counters().rx_reassembled, 1u);

  // And back the other way, echoed without a copy.
  ASSERT_TRUE(server->send_packet(PacketBuffer::from_bytes(big), info->from));
  net_.pump();
  auto back = client->receive_packet();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->payload.to_vector(), big);
  EXPECT_EQ(net_.a().ipv4->counters().rx_reassembled, 1u);
}

TEST_F(UdpOverIpv4Test, LargestDatagramCrosses) {
  auto server = open_b();
  ASSERT_TRUE(server->bind({IpAddress(), 9000}));
  server->set_receive_buffer(1 << 20);
  auto client = open_a();
  // Resolve ARP first: the neighbor cache holds only a few packets while it resolves, fewer
  // than the 45 fragments of this datagram.
  ASSERT_TRUE(client->send_to(as_bytes("warm-up"), SocketAddress{kB, 9000}));
  net_.pump();
  ASSERT_TRUE(server->receive_packet());
  const auto biggest = pattern(udp::kMaxPayloadIpv4, 7);
  ASSERT_TRUE(client->send_to(biggest, SocketAddress{kB, 9000}));
  net_.pump();
  auto got = server->receive_packet();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->payload.to_vector(), biggest);
}

TEST_F(UdpOverIpv4Test, PortUnreachableRefusesConnectedSocket) {
  auto client = open_a();
  ASSERT_TRUE(client->connect({kB, 9999}));  // nobody listens there
  int errors = 0;
  Waiter waiter(kEventError, [&](EventMask) { ++errors; });
  client->waiters().add(waiter);
  ASSERT_TRUE(client->send(as_bytes("anyone?")));
  net_.pump();

  EXPECT_THAT(net_.b().sent_of(kEtherTypeIpv4),
              ElementsAre(IsIpv4(Src(kB), Dst(kA), Protocol(kProtocolIcmp),
                                 Payload(IsIcmpDestUnreachable(3)))));
  EXPECT_EQ(errors, 1);
  EXPECT_NE(client->readiness() & kEventError, 0u);
  std::vector<std::byte> buf(16);
  EXPECT_EQ(client->receive_from(buf).error(), Error::kConnectionRefused);
  EXPECT_EQ(client->receive_from(buf).error(), Error::kWouldBlock);
  EXPECT_EQ(udp_a_.counters().control_delivered, 1u);

  // An unconnected socket is not told (Linux without IP_RECVERR).
  auto other = open_a();
  ASSERT_TRUE(other->send_to(as_bytes("anyone?"), SocketAddress{kB, 9998}));
  net_.pump();
  EXPECT_EQ(other->readiness() & kEventError, 0u);
  EXPECT_EQ(other->take_error(), std::nullopt);
  EXPECT_EQ(udp_a_.counters().control_no_endpoint, 1u);
}

TEST_F(UdpOverIpv4Test, BroadcastReachesPeerWithoutUnreachables) {
  auto server = open_b();
  ASSERT_TRUE(server->bind({IpAddress(), 6000}));
  auto client = open_a();
  EXPECT_EQ(client->send_to(as_bytes("x"), SocketAddress{Ipv4Address::broadcast(), 6000}).error(),
            Error::kPermissionDenied);
  client->set_broadcast(true);
  ASSERT_TRUE(client->send_to(as_bytes("limited"), SocketAddress{Ipv4Address::broadcast(), 6000}));
  ASSERT_TRUE(
      client->send_to(as_bytes("directed"), SocketAddress{Ipv4Address(10, 0, 0, 255), 6000}));
  // Broadcasts need no ARP.
  EXPECT_THAT(net_.a().sent_of(kEtherTypeArp), SizeIs(0));
  net_.pump();
  std::vector<std::byte> buf(64);
  auto first = server->receive_from(buf);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->destination, IpAddress(Ipv4Address::broadcast()));
  auto second = server->receive_from(buf);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->destination, IpAddress(Ipv4Address(10, 0, 0, 255)));

  // A broadcast to a port nobody has draws no ICMP error.
  net_.clear_sent();
  ASSERT_TRUE(client->send_to(as_bytes("nobody"), SocketAddress{Ipv4Address::broadcast(), 6001}));
  net_.pump();
  EXPECT_THAT(net_.b().sent_of(kEtherTypeIpv4), SizeIs(0));
  EXPECT_EQ(udp_b_.counters().drop_no_port_broadcast, 1u);
}

TEST_F(UdpOverIpv4Test, MulticastToJoinedGroupOnly) {
  const Ipv4Address group(239, 1, 2, 3);
  const Ipv4Address other_group(239, 1, 2, 4);
  for (TwoStacks::Host* h : {&net_.a(), &net_.b()}) {
    h->stack->add_route(
        Route{IpPrefix{IpAddress(Ipv4Address(224, 0, 0, 0)), 4}, std::nullopt, h->nic});
  }
  auto server = open_b();
  ASSERT_TRUE(server->bind({IpAddress(), 5000}));
  ASSERT_TRUE(server->join_group(IpAddress(group)));
  auto client = open_a();
  ASSERT_TRUE(client->send_to(as_bytes("to the group"), SocketAddress{group, 5000}));
  ASSERT_TRUE(client->send_to(as_bytes("to another"), SocketAddress{other_group, 5000}));
  // Multicast needs no ARP; the TTL defaults to 1.
  EXPECT_THAT(net_.a().sent_of(kEtherTypeArp), SizeIs(0));
  EXPECT_THAT(net_.a().sent_of(kEtherTypeIpv4),
              ElementsAre(IsIpv4(Dst(group), Ttl(1)), IsIpv4(Dst(other_group), Ttl(1))));
  net_.pump();
  std::vector<std::byte> buf(64);
  auto info = server->receive_from(buf);
  ASSERT_TRUE(info);
  EXPECT_EQ(std::vector<std::byte>(buf.begin(), buf.begin() + info->size),
            to_byte_vector("to the group"));
  EXPECT_EQ(info->destination, IpAddress(group));
  EXPECT_EQ(server->receive_from(buf).error(), Error::kWouldBlock);

  // After leaving, the group's datagrams stop at the IP layer.
  ASSERT_TRUE(server->leave_group(IpAddress(group)));
  ASSERT_TRUE(client->send_to(as_bytes("again"), SocketAddress{group, 5000}));
  net_.pump();
  EXPECT_EQ(server->receive_from(buf).error(), Error::kWouldBlock);
}

TEST_F(UdpOverIpv4Test, UnansweredArpReportsHostUnreachable) {
  auto client = open_a();
  const SocketAddress nobody{Ipv4Address(10, 0, 0, 77), 53};
  ASSERT_TRUE(client->send_to(as_bytes("lost"), nobody));
  // ARP retries, then gives up; the queued datagram is dropped.
  EXPECT_TRUE(net_.run_until(
      [&] {
        auto e = net_.a().arp().cache().find(net_.a().nic, nobody.address);
        return e && e->state == NeighborState::kFailed;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(10)));
  EXPECT_EQ(client->send_to(as_bytes("again"), nobody).error(), Error::kHostUnreachable);
}

}  // namespace
}  // namespace weir
