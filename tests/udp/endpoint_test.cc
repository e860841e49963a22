// udp::Endpoint: binding and ports, connect, sending, the receive queue, readiness and waiters.
#include "udp/endpoint.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "tests/udp/fake_network.h"

namespace weir::udp {
namespace {

using testing::build_datagram;
using testing::ip;
using testing::sa;
using testing::UdpTest;

std::string to_string(ByteView b) {
  std::string out;
  for (std::byte x : b) out.push_back(static_cast<char>(x));
  return out;
}

std::string read_string(Endpoint& ep, ReceiveOptions options = {}) {
  std::vector<std::byte> buf(70000);
  auto info = ep.receive_from(buf, options);
  if (!info) return "<" + std::string(error_name(info.error())) + ">";
  return to_string(ByteView(buf).first(info->size));
}

class UdpEndpointTest : public UdpTest {};

TEST_F(UdpEndpointTest, CreateNeedsInstalledProtocol) {
  ManualClock clock;
  Stack bare(clock, repeatable_stack_options(1));
  EXPECT_EQ(Endpoint::create(bare, AddressFamily::kIpv4).error(), Error::kProtocolNotSupported);
  EXPECT_EQ(find(bare), nullptr);
  EXPECT_EQ(&install(stack_), &udp_);  // installing twice returns the same instance
}

TEST_F(UdpEndpointTest, BindEphemeralPort) {
  auto ep = open();
  EXPECT_FALSE(ep->bound());
  EXPECT_EQ(ep->local_address(), sa("0.0.0.0", 0));
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 0)));
  EXPECT_TRUE(ep->bound());
  const uint16_t port = ep->local_address().port;
  EXPECT_GE(port, PortTable::kEphemeralFirst);
  EXPECT_LE(port, PortTable::kEphemeralLast);
  EXPECT_TRUE(stack_.ports().in_use(kProtocolUdp, port));
  EXPECT_EQ(ep->bind(sa("0.0.0.0", 0)).error(), Error::kInvalidArgument);  // already bound
}

TEST_F(UdpEndpointTest, EphemeralPortsAreDistinct) {
  std::vector<std::unique_ptr<Endpoint>> eps;
  std::set<uint16_t> ports;
  for (int i = 0; i < 50; ++i) {
    eps.push_back(open());
    ASSERT_TRUE(eps.back()->bind(sa("0.0.0.0", 0)));
    ports.insert(eps.back()->local_address().port);
  }
  EXPECT_EQ(ports.size(), 50u);
}

TEST_F(UdpEndpointTest, BindAddressRules) {
  auto ep = open();
  EXPECT_EQ(ep->bind(sa("10.0.0.9", 5000)).error(), Error::kAddressNotAvailable);
  EXPECT_EQ(ep->bind(sa("fd00::1", 5000)).error(), Error::kAddressFamilyNotSupported);
  EXPECT_FALSE(ep->bound());
  ASSERT_TRUE(ep->bind(sa("10.0.0.1", 5000)));
  EXPECT_EQ(ep->local_address(), sa("10.0.0.1", 5000));
  // Broadcast (limited and subnet-directed) and multicast binds are allowed, as in Linux.
  for (const char* a : {"255.255.255.255", "10.0.0.255", "239.1.2.3"}) {
    auto other = open();
    EXPECT_TRUE(other->bind(sa(a, 6000))) << a;
  }
  auto ep6 = open(AddressFamily::kIpv6);
  EXPECT_EQ(ep6->bind(sa("fd00::9", 5000)).error(), Error::kAddressNotAvailable);
  EXPECT_TRUE(ep6->bind(sa("fd00::1", 5000)));
}

TEST_F(UdpEndpointTest, PortReuseRules) {
  auto a = open();
  ASSERT_TRUE(a->bind(sa("0.0.0.0", 5000)));
  auto b = open();
  EXPECT_EQ(b->bind(sa("0.0.0.0", 5000)).error(), Error::kAddressInUse);
  EXPECT_EQ(b->bind(sa("10.0.0.1", 5000)).error(), Error::kAddressInUse);  // overlaps wildcard
  b->set_reuse_address(true);
  EXPECT_EQ(b->bind(sa("0.0.0.0", 5000)).error(), Error::kAddressInUse);  // a lacks the flag
  // Distinct specific addresses coexist without flags.
  auto c = open();
  auto d = open();
  ASSERT_TRUE(c->bind(sa("10.0.0.1", 6000)));
  EXPECT_TRUE(d->bind(sa("10.0.0.3", 6000)));
  // Both with SO_REUSEADDR, or both with SO_REUSEPORT, share.
  auto e = open();
  auto f = open();
  e->set_reuse_address(true);
  f->set_reuse_address(true);
  ASSERT_TRUE(e->bind(sa("0.0.0.0", 7000)));
  EXPECT_TRUE(f->bind(sa("0.0.0.0", 7000)));
  auto g = open();
  auto h = open();
  g->set_reuse_port(true);
  h->set_reuse_port(true);
  ASSERT_TRUE(g->bind(sa("0.0.0.0", 8000)));
  EXPECT_TRUE(h->bind(sa("0.0.0.0", 8000)));
  // An IPv6 wildcard is dual stack (Linux's bindv6only=0): it holds the IPv4 port too, so it
  // collides with the IPv4 bind; with IPV6_V6ONLY it does not.
  auto v6 = open(AddressFamily::kIpv6);
  EXPECT_EQ(v6->bind(sa("::", 5000)).error(), Error::kAddressInUse);
  auto v6only = open(AddressFamily::kIpv6);
  ASSERT_TRUE(v6only->set_v6only(true));
  EXPECT_TRUE(v6only->bind(sa("::", 5000)));
}

TEST_F(UdpEndpointTest, CloseAndDestroyReleaseThePort) {
  auto a = open();
  ASSERT_TRUE(a->bind(sa("0.0.0.0", 5000)));
  a->close();
  EXPECT_TRUE(a->closed());
  EXPECT_FALSE(stack_.ports().in_use(kProtocolUdp, 5000));
  auto b = open();
  ASSERT_TRUE(b->bind(sa("0.0.0.0", 5000)));
  b.reset();
  EXPECT_FALSE(stack_.ports().in_use(kProtocolUdp, 5000));
  auto c = open();
  EXPECT_TRUE(c->bind(sa("0.0.0.0", 5000)));
  // A closed port gets no more datagrams.
  c->close();
  EXPECT_EQ(inject(sa("10.0.0.2", 1), sa("10.0.0.1", 5000), as_bytes("x")),
            TransportDelivery::kNoEndpoint);
}

TEST_F(UdpEndpointTest, ClosedEndpointRefusesOperations) {
  auto ep = open();
  ep->close();
  ep->close();  // idempotent
  std::vector<std::byte> buf(4);
  EXPECT_EQ(ep->bind(sa("0.0.0.0", 0)).error(), Error::kBadFileDescriptor);
  EXPECT_EQ(ep->connect(sa("10.0.0.2", 1)).error(), Error::kBadFileDescriptor);
  EXPECT_EQ(ep->send_to(as_bytes("x"), sa("10.0.0.2", 1)).error(), Error::kBadFileDescriptor);
  EXPECT_EQ(ep->receive_from(buf).error(), Error::kBadFileDescriptor);
  EXPECT_EQ(ep->readiness(), kEventHangup);
}

TEST_F(UdpEndpointTest, SendToBuildsHeaderAndChecksum) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 4444)));
  auto sent = ep->send_to(as_bytes("hello"), sa("10.0.0.2", 53));
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 5u);
  ASSERT_EQ(ip4_.written.size(), 1u);
  const auto& w = ip4_.written[0];
  EXPECT_EQ(w.route.local_address, ip("10.0.0.1"));
  EXPECT_EQ(w.route.remote_address, ip("10.0.0.2"));
  EXPECT_EQ(w.route.nic, nic_);
  EXPECT_EQ(w.params.protocol, kProtocolUdp);
  EXPECT_EQ(w.params.ttl, 0);  // the network layer's default
  auto h = Header::parse(w.bytes).value();
  EXPECT_EQ(h.source_port(), 4444);
  EXPECT_EQ(h.destination_port(), 53);
  EXPECT_EQ(h.length(), 13);
  EXPECT_NE(h.checksum(), 0);
  EXPECT_TRUE(checksum_valid(PacketBuffer::from_bytes(w.bytes), ip("10.0.0.1"), ip("10.0.0.2")));
  EXPECT_EQ(to_string(ByteView(w.bytes).subspan(8)), "hello");
  EXPECT_EQ(udp_.counters().sent, 1u);
}

TEST_F(UdpEndpointTest, FirstSendBindsEphemeralPort) {
  auto ep = open();
  ASSERT_TRUE(ep->send_to(as_bytes("x"), sa("10.0.0.2", 53)));
  EXPECT_TRUE(ep->bound());
  const uint16_t port = ep->local_address().port;
  EXPECT_GE(port, PortTable::kEphemeralFirst);
  ASSERT_TRUE(ep->send_to(as_bytes("y"), sa("10.0.0.2", 53)));
  ASSERT_EQ(ip4_.written.size(), 2u);
  EXPECT_EQ(Header::parse(ip4_.written[1].bytes)->source_port(), port);
  // Replies to that port arrive.
  inject(sa("10.0.0.2", 53), sa("10.0.0.1", port), as_bytes("answer"));
  EXPECT_EQ(read_string(*ep), "answer");
}

TEST_F(UdpEndpointTest, SendErrors) {
  auto ep = open();
  EXPECT_EQ(ep->send(as_bytes("x")).error(), Error::kDestinationRequired);
  EXPECT_EQ(ep->send_to(as_bytes("x"), sa("fd00::2", 53)).error(),
            Error::kAddressFamilyNotSupported);
  EXPECT_EQ(ep->send_to(as_bytes("x"), sa("10.0.0.2", 0)).error(), Error::kInvalidArgument);
  EXPECT_EQ(ep->send_to(as_bytes("x"), sa("192.168.1.1", 53)).error(), Error::kNetworkUnreachable);
  EXPECT_EQ(udp_.counters().send_errors, 1u);
  ip4_.fail_with = Error::kHostUnreachable;
  EXPECT_EQ(ep->send_to(as_bytes("x"), sa("10.0.0.2", 53)).error(), Error::kHostUnreachable);
  EXPECT_EQ(udp_.counters().send_errors, 2u);
  // A full queue below loses the datagram quietly, as in Linux without IP_RECVERR.
  ip4_.fail_with = Error::kNoBufferSpace;
  EXPECT_EQ(ep->send_to(as_bytes("x"), sa("10.0.0.2", 53)).value(), 1u);
  EXPECT_EQ(udp_.counters().drop_send_no_buffer, 1u);
  EXPECT_EQ(udp_.counters().send_errors, 2u);
}

TEST_F(UdpEndpointTest, MessageSizeLimits) {
  auto ep = open();
  std::vector<std::byte> max4(kMaxPayloadIpv4);
  EXPECT_EQ(ep->send_to(max4, sa("10.0.0.2", 9)).value(), 65507u);
  ASSERT_EQ(ip4_.written.size(), 1u);
  EXPECT_EQ(Header::parse(ip4_.written[0].bytes)->length(), 65515);
  std::vector<std::byte> over4(kMaxPayloadIpv4 + 1);
  EXPECT_EQ(ep->send_to(over4, sa("10.0.0.2", 9)).error(), Error::kMessageTooLong);
  EXPECT_EQ(ep->send_packet(PacketBuffer::from_bytes(over4), sa("10.0.0.2", 9)).error(),
            Error::kMessageTooLong);

  auto ep6 = open(AddressFamily::kIpv6);
  std::vector<std::byte> max6(kMaxPayloadIpv6);
  EXPECT_EQ(ep6->send_to(max6, sa("fd00::2", 9)).value(), 65527u);
  EXPECT_EQ(Header::parse(ip6_.written[0].bytes)->length(), 65535);
  std::vector<std::byte> over6(kMaxPayloadIpv6 + 1);
  EXPECT_EQ(ep6->send_to(over6, sa("fd00::2", 9)).error(), Error::kMessageTooLong);
}

TEST_F(UdpEndpointTest, BroadcastNeedsSoBroadcast) {
  auto ep = open();
  EXPECT_EQ(ep->send_to(as_bytes("x"), sa("255.255.255.255", 67)).error(),
            Error::kPermissionDenied);
  EXPECT_EQ(ep->send_to(as_bytes("x"), sa("10.0.0.255", 67)).error(), Error::kPermissionDenied);
  EXPECT_EQ(ep->connect(sa("10.0.0.255", 67)).error(), Error::kPermissionDenied);
  EXPECT_TRUE(ip4_.written.empty());
  ep->set_broadcast(true);
  EXPECT_TRUE(ep->broadcast());
  EXPECT_TRUE(ep->send_to(as_bytes("x"), sa("255.255.255.255", 67)));
  EXPECT_TRUE(ep->send_to(as_bytes("x"), sa("10.0.0.255", 67)));
  ASSERT_EQ(ip4_.written.size(), 2u);
  EXPECT_TRUE(ip4_.written[0].route.broadcast);
  EXPECT_TRUE(ip4_.written[1].route.broadcast);
}

TEST_F(UdpEndpointTest, MulticastUsesMulticastTtl) {
  auto ep = open();
  ep->set_ttl(33);
  stack_.add_route(Route{IpPrefix::parse("224.0.0.0/4").value(), std::nullopt, nic_});
  ASSERT_TRUE(ep->send_to(as_bytes("x"), sa("239.1.1.1", 5000)));
  ASSERT_TRUE(ep->send_to(as_bytes("x"), sa("10.0.0.2", 5000)));
  ASSERT_EQ(ip4_.written.size(), 2u);
  EXPECT_EQ(ip4_.written[0].params.ttl, 1);
  EXPECT_EQ(ip4_.written[1].params.ttl, 33);
}

TEST_F(UdpEndpointTest, ConnectSetsDefaultDestinationAndLocalAddress) {
  auto ep = open();
  EXPECT_EQ(ep->remote_address().error(), Error::kNotConnected);
  ASSERT_TRUE(ep->connect(sa("10.0.0.2", 53)));
  EXPECT_TRUE(ep->connected());
  EXPECT_EQ(ep->remote_address().value(), sa("10.0.0.2", 53));
  EXPECT_EQ(ep->local_address().address, ip("10.0.0.1"));  // chosen by the route
  EXPECT_GE(ep->local_address().port, PortTable::kEphemeralFirst);
  ASSERT_TRUE(ep->send(as_bytes("q")));
  ASSERT_EQ(ip4_.written.size(), 1u);
  EXPECT_EQ(ip4_.written[0].route.remote_address, ip("10.0.0.2"));
  EXPECT_EQ(Header::parse(ip4_.written[0].bytes)->destination_port(), 53);
  // sendto with an address still works on a connected socket.
  ASSERT_TRUE(ep->send_to(as_bytes("q"), sa("10.0.0.4", 54)));
  EXPECT_EQ(ip4_.written[1].route.remote_address, ip("10.0.0.4"));
}

TEST_F(UdpEndpointTest, ConnectBoundToSpecificAddressKeepsIt) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("10.0.0.3", 5000)));
  ASSERT_TRUE(ep->connect(sa("10.0.0.2", 53)));
  EXPECT_EQ(ep->local_address(), sa("10.0.0.3", 5000));
  ASSERT_TRUE(ep->send(as_bytes("q")));
  EXPECT_EQ(ip4_.written[0].route.local_address, ip("10.0.0.3"));
}

TEST_F(UdpEndpointTest, ConnectErrors) {
  auto ep = open();
  EXPECT_EQ(ep->connect(sa("10.0.0.2", 0)).error(), Error::kInvalidArgument);
  EXPECT_EQ(ep->connect(sa("fd00::2", 53)).error(), Error::kAddressFamilyNotSupported);
  EXPECT_EQ(ep->connect(sa("192.168.7.7", 53)).error(), Error::kNetworkUnreachable);
  EXPECT_FALSE(ep->connected());
  EXPECT_FALSE(ep->bound());
}

TEST_F(UdpEndpointTest, DisconnectRestoresExplicitBinding) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 5000)));
  ASSERT_TRUE(ep->connect(sa("10.0.0.2", 53)));
  inject(sa("10.0.0.9", 1), sa("10.0.0.1", 5000), as_bytes("stranger"));
  EXPECT_EQ(ep->queued_datagrams(), 0u);
  ASSERT_TRUE(ep->connect(sa("0.0.0.0", 0)));  // AF_UNSPEC-style disconnect
  EXPECT_FALSE(ep->connected());
  EXPECT_EQ(ep->local_address(), sa("0.0.0.0", 5000));
  EXPECT_EQ(ep->send(as_bytes("x")).error(), Error::kDestinationRequired);
  inject(sa("10.0.0.9", 1), sa("10.0.0.1", 5000), as_bytes("stranger"));
  EXPECT_EQ(read_string(*ep), "stranger");
}

TEST_F(UdpEndpointTest, DisconnectReleasesImplicitPort) {
  auto ep = open();
  ASSERT_TRUE(ep->connect(sa("10.0.0.2", 53)));
  const uint16_t port = ep->local_address().port;
  ASSERT_TRUE(ep->disconnect());
  EXPECT_FALSE(ep->bound());
  EXPECT_FALSE(stack_.ports().in_use(kProtocolUdp, port));
  EXPECT_TRUE(ep->disconnect());  // disconnecting twice is fine
}

TEST_F(UdpEndpointTest, ReconnectMovesFilter) {
  auto ep = open();
  ASSERT_TRUE(ep->connect(sa("10.0.0.2", 53)));
  const uint16_t port = ep->local_address().port;
  ASSERT_TRUE(ep->connect(sa("10.0.0.4", 53)));
  EXPECT_EQ(ep->local_address().port, port);
  EXPECT_EQ(inject(sa("10.0.0.2", 53), sa("10.0.0.1", port), as_bytes("old")),
            TransportDelivery::kNoEndpoint);
  inject(sa("10.0.0.4", 53), sa("10.0.0.1", port), as_bytes("new"));
  EXPECT_EQ(read_string(*ep), "new");
}

TEST_F(UdpEndpointTest, ReceiveTruncatesAndPeeks) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), as_bytes("0123456789"));
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), as_bytes("second"));
  EXPECT_EQ(ep->next_datagram_size(), 10u);
  std::vector<std::byte> small(4);
  auto peeked = ep->receive_from(small, ReceiveOptions{.peek = true}).value();
  EXPECT_EQ(peeked.size, 4u);
  EXPECT_EQ(peeked.full_size, 10u);
  EXPECT_TRUE(peeked.truncated);
  EXPECT_EQ(ep->queued_datagrams(), 2u);
  auto info = ep->receive_from(small).value();
  EXPECT_EQ(to_string(small), "0123");
  EXPECT_TRUE(info.truncated);
  EXPECT_EQ(info.full_size, 10u);
  // The rest of a truncated datagram is gone.
  EXPECT_EQ(read_string(*ep), "second");
  EXPECT_EQ(ep->receive_from(small).error(), Error::kWouldBlock);
  EXPECT_EQ(ep->queued_bytes(), 0u);
}

TEST_F(UdpEndpointTest, EmptyDatagram) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), ByteView{});
  EXPECT_NE(ep->readiness() & kEventReadable, 0u);
  std::vector<std::byte> buf(4);
  auto info = ep->receive_from(buf).value();
  EXPECT_EQ(info.size, 0u);
  EXPECT_EQ(info.full_size, 0u);
  EXPECT_FALSE(info.truncated);
}

TEST_F(UdpEndpointTest, ReceiveQueueLimit) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  EXPECT_EQ(ep->receive_buffer(), Endpoint::kDefaultReceiveBuffer);
  ep->set_receive_buffer(4096);
  std::vector<std::byte> payload(1000);
  const size_t charge = 1000 + Endpoint::kDatagramOverhead;
  // Linux's rule: accepted while the queue is at most half full, then only if it fits:
  // 0 -> 1256 -> 2512 -> 3768 (fits), and a fourth would make 5024 > 4096.
  for (int i = 0; i < 5; ++i) inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), payload);
  EXPECT_EQ(ep->queued_datagrams(), 3u);
  EXPECT_EQ(ep->queued_bytes(), 3 * charge);
  EXPECT_EQ(udp_.counters().drop_receive_buffer_full, 2u);
  std::vector<std::byte> buf(2000);
  ASSERT_TRUE(ep->receive_from(buf));
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), payload);
  EXPECT_EQ(ep->queued_datagrams(), 3u);
  // A tiny buffer still takes one datagram into an empty queue.
  ep->set_receive_buffer(1);
  EXPECT_EQ(ep->receive_buffer(), Endpoint::kMinReceiveBuffer);
  while (ep->receive_from(buf)) {
  }
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), payload);
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), payload);
  EXPECT_EQ(ep->queued_datagrams(), 1u);
}

TEST_F(UdpEndpointTest, ReadinessAndWaiters) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  EXPECT_EQ(ep->readiness(), kEventWritable);
  std::vector<EventMask> readable_calls;
  std::vector<EventMask> writable_calls;
  Waiter reader(kEventReadable, [&](EventMask e) { readable_calls.push_back(e); });
  Waiter writer(kEventWritable, [&](EventMask e) { writable_calls.push_back(e); });
  ep->waiters().add(reader);
  ep->waiters().add(writer);
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), as_bytes("a"));
  ASSERT_EQ(readable_calls.size(), 1u);
  EXPECT_EQ(readable_calls[0], kEventReadable);
  EXPECT_TRUE(writable_calls.empty());
  EXPECT_EQ(ep->readiness(), kEventReadable | kEventWritable);
  EXPECT_EQ(ep->readiness(kEventReadable), kEventReadable);
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), as_bytes("b"));
  EXPECT_EQ(readable_calls.size(), 2u);
  std::vector<std::byte> buf(8);
  ASSERT_TRUE(ep->receive_from(buf));
  EXPECT_NE(ep->readiness() & kEventReadable, 0u);
  ASSERT_TRUE(ep->receive_from(buf));
  EXPECT_EQ(ep->readiness() & kEventReadable, 0u);
  // A detached waiter hears nothing more.
  reader.detach();
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), as_bytes("c"));
  EXPECT_EQ(readable_calls.size(), 2u);
}

TEST_F(UdpEndpointTest, ShutdownLikeLinux) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), as_bytes("queued"));
  int woken = 0;
  Waiter w(kEventReadable, [&](EventMask) { ++woken; });
  ep->waiters().add(w);
  // Unconnected: reports ENOTCONN but shuts down anyway, and wakes readers.
  EXPECT_EQ(ep->shutdown(ShutdownHow::kRead).error(), Error::kNotConnected);
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(ep->readiness() & (kEventReadable | kEventReadHangup),
            kEventReadable | kEventReadHangup);
  EXPECT_EQ(read_string(*ep), "queued");  // what was queued is still read
  std::vector<std::byte> buf(8);
  auto eof = ep->receive_from(buf).value();
  EXPECT_EQ(eof.size, 0u);
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7), as_bytes("late"));
  EXPECT_EQ(udp_.counters().drop_read_shutdown, 1u);

  auto conn = open();
  ASSERT_TRUE(conn->connect(sa("10.0.0.2", 53)));
  EXPECT_TRUE(conn->shutdown(ShutdownHow::kWrite));
  EXPECT_EQ(conn->send(as_bytes("x")).error(), Error::kBrokenPipe);
  EXPECT_EQ(conn->readiness() & kEventHangup, 0u);
  EXPECT_TRUE(conn->shutdown(ShutdownHow::kRead));
  EXPECT_NE(conn->readiness() & kEventHangup, 0u);
}

TEST_F(UdpEndpointTest, EchoWithoutCopy) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  inject(sa("10.0.0.2", 3333), sa("10.0.0.1", 7), as_bytes("echo me"));
  auto d = ep->receive_packet().value();
  EXPECT_EQ(d.from, sa("10.0.0.2", 3333));
  EXPECT_EQ(ep->receive_packet().error(), Error::kWouldBlock);
  EXPECT_EQ(ep->queued_bytes(), 0u);
  ASSERT_EQ(ep->send_packet(std::move(d.payload), d.from).value(), 7u);
  ASSERT_EQ(ip4_.written.size(), 1u);
  const auto& w = ip4_.written[0];
  EXPECT_EQ(to_string(ByteView(w.bytes).subspan(8)), "echo me");
  EXPECT_EQ(Header::parse(w.bytes)->source_port(), 7);
  EXPECT_EQ(Header::parse(w.bytes)->destination_port(), 3333);
  EXPECT_TRUE(checksum_valid(PacketBuffer::from_bytes(w.bytes), ip("10.0.0.1"), ip("10.0.0.2")));
}

TEST_F(UdpEndpointTest, Ipv6RoundTrip) {
  auto ep = open(AddressFamily::kIpv6);
  ASSERT_TRUE(ep->bind(sa("::", 7)));
  EXPECT_EQ(inject(sa("fd00::2", 5), sa("fd00::1", 7), as_bytes("six")),
            TransportDelivery::kDelivered);
  auto d = ep->receive_packet().value();
  EXPECT_EQ(d.from, sa("fd00::2", 5));
  ASSERT_TRUE(ep->send_packet(std::move(d.payload), d.from));
  ASSERT_EQ(ip6_.written.size(), 1u);
  EXPECT_TRUE(checksum_valid(PacketBuffer::from_bytes(ip6_.written[0].bytes), ip("fd00::1"),
                             ip("fd00::2")));
  // An IPv4 datagram reaches the dual-stack socket from an IPv4-mapped address...
  EXPECT_EQ(inject(sa("10.0.0.2", 5), sa("10.0.0.1", 7), as_bytes("four")),
            TransportDelivery::kDelivered);
  EXPECT_EQ(ep->receive_packet().value().from, sa("::ffff:10.0.0.2", 5));
  // ...but never an IPV6_V6ONLY one.
  auto only = open(AddressFamily::kIpv6);
  ASSERT_TRUE(only->set_v6only(true));
  ASSERT_TRUE(only->bind(sa("::", 8)));
  EXPECT_EQ(inject(sa("10.0.0.2", 5), sa("10.0.0.1", 8), as_bytes("four")),
            TransportDelivery::kNoEndpoint);
}

TEST_F(UdpEndpointTest, MulticastMembership) {
  const IpAddress group = ip("239.1.2.3");
  Nic& nic = *stack_.nic(nic_);
  auto a = open();
  auto b = open();
  EXPECT_EQ(a->join_group(ip("10.0.0.2"), nic_).error(), Error::kInvalidArgument);
  EXPECT_EQ(a->join_group(ip("ff02::1"), nic_).error(), Error::kAddressFamilyNotSupported);
  EXPECT_EQ(a->join_group(group, NicId{99}).error(), Error::kNoDevice);
  EXPECT_EQ(a->join_group(group).error(), Error::kNoDevice);  // no route toward 224/4 yet
  ASSERT_TRUE(a->join_group(group, nic_));
  EXPECT_TRUE(nic.in_group(group));
  EXPECT_EQ(a->join_group(group, nic_).error(), Error::kAddressInUse);
  stack_.add_route(Route{IpPrefix::parse("224.0.0.0/4").value(), std::nullopt, nic_});
  ASSERT_TRUE(b->join_group(group));  // the NIC the route picks
  ASSERT_TRUE(a->leave_group(group));
  EXPECT_TRUE(nic.in_group(group));  // b still holds it
  EXPECT_EQ(a->leave_group(group).error(), Error::kAddressNotAvailable);
  b->close();  // leaves its groups
  EXPECT_FALSE(nic.in_group(group));

  // Destroying a socket leaves too.
  auto c = open();
  ASSERT_TRUE(c->join_group(group, nic_));
  c.reset();
  EXPECT_FALSE(nic.in_group(group));

  // Group datagrams reach sockets bound to the wildcard or to the group on the port.
  auto any = open();
  any->set_reuse_address(true);
  ASSERT_TRUE(any->bind(sa("0.0.0.0", 5000)));
  auto bound_group = open();
  bound_group->set_reuse_address(true);
  ASSERT_TRUE(bound_group->bind(sa("239.1.2.3", 5000)));
  ASSERT_TRUE(any->join_group(group, nic_));
  inject(sa("10.0.0.2", 1), sa("239.1.2.3", 5000), as_bytes("m"), true);
  EXPECT_EQ(read_string(*any), "m");
  EXPECT_EQ(read_string(*bound_group), "m");
}

TEST_F(UdpEndpointTest, MulticastInterface) {
  auto ep = open();
  EXPECT_EQ(ep->multicast_interface(), std::nullopt);
  stack_.add_route(Route{IpPrefix::parse("224.0.0.0/4").value(), std::nullopt, nic_});
  ep->set_multicast_interface(NicId{99});
  EXPECT_EQ(ep->send_to(as_bytes("x"), sa("239.1.1.1", 5000)).error(), Error::kNetworkUnreachable);
  ep->set_multicast_interface(nic_);
  ASSERT_TRUE(ep->send_to(as_bytes("x"), sa("239.1.1.1", 5000)));
  EXPECT_EQ(ip4_.written.back().route.nic, nic_);
}

TEST_F(UdpEndpointTest, CountersRegistered) {
  bool found = false;
  stack_.counters().for_each([&](std::string_view group, std::string_view name, uint64_t) {
    if (group == "udp" && name == "drop_bad_checksum") found = true;
  });
  EXPECT_TRUE(found);
}

// The stack-wide socket memory (Linux's udp_mem): each queued datagram is charged what it pins;
// past the hard limit datagrams are dropped and counted, whatever each socket's own buffer
// says; reading and closing give everything back.
TEST_F(UdpEndpointTest, StackSocketMemoryHardLimit) {
  SocketMemory& memory = stack_.socket_memory();
  memory.set_limits(SocketMemoryLimits{.min = 8000, .pressure = 16000, .max = 32000});
  std::vector<std::unique_ptr<Endpoint>> eps;
  for (uint16_t i = 0; i < 20; ++i) {
    eps.push_back(open());
    ASSERT_TRUE(eps.back()->bind(sa("0.0.0.0", static_cast<uint16_t>(7000 + i))));
  }
  std::vector<std::byte> payload(100);
  for (int round = 0; round < 20; ++round) {
    for (uint16_t i = 0; i < 20; ++i) {
      inject(sa("10.0.0.2", 1), sa("10.0.0.1", static_cast<uint16_t>(7000 + i)), payload);
      EXPECT_LE(memory.used(), memory.limits().max);
    }
  }
  EXPECT_GT(udp_.counters().drop_memory_hard_limit, 0u);
  EXPECT_EQ(udp_.counters().drop_receive_buffer_full, 0u);  // each socket's buffer had room
  EXPECT_TRUE(memory.under_pressure());
  EXPECT_EQ(memory.counters().refused, udp_.counters().drop_memory_hard_limit);
  std::printf("udp flood: peak %zu of max %zu, dropped %llu\n", memory.peak(), memory.limits().max,
              static_cast<unsigned long long>(udp_.counters().drop_memory_hard_limit));
  // Half the sockets read everything, the rest close with datagrams queued.
  std::vector<std::byte> buf(200);
  for (size_t i = 0; i < 10; ++i) {
    while (eps[i]->receive_from(buf)) {
    }
  }
  for (size_t i = 10; i < 15; ++i) eps[i]->close();
  eps.resize(15);  // and the last five are destroyed with datagrams queued
  EXPECT_EQ(memory.used(), 0u);
  EXPECT_FALSE(memory.under_pressure());
  EXPECT_EQ(memory.counters().pressure_left, 1u);
  // Below the limits again, datagrams are taken.
  const uint64_t dropped = udp_.counters().drop_memory_hard_limit;
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 7000), payload);
  EXPECT_EQ(eps[0]->queued_datagrams(), 1u);
  EXPECT_EQ(udp_.counters().drop_memory_hard_limit, dropped);
  EXPECT_GT(memory.used(), 100u);
}

}  // namespace
}  // namespace weir::udp
