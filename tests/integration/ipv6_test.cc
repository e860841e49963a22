// IPv6 between two real stacks over an Ethernet channel: neighbor discovery, ping, UDP
// (fragmented too), TCP (clean and lossy, hash-checked), and dual-stack sockets.
#include "ipv6/ipv6.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "stack/nic.h"
#include "stack/rng.h"
#include "tcp/connection.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "tests/testing/ipv6_packets.h"
#include "tests/testing/tcp_network.h"
#include "tests/testing/tcp_sha256.h"
#include "tests/testing/two_stacks.h"
#include "udp/endpoint.h"
#include "udp/udp.h"

namespace weir::testing {
namespace {

using ::testing::SizeIs;

Ipv6Address v6(const char* text) { return Ipv6Address::parse(text).value(); }

std::vector<std::byte> data_of(size_t n, uint8_t seed) {
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = std::byte(static_cast<uint8_t>(seed + i * 13 + (i >> 9)));
  return out;
}

class Ipv6TwoStackTest : public ::testing::Test {
 protected:
  Ipv6TwoStackTest() {
    udp::install(*net_.a().stack);
    udp::install(*net_.b().stack);
  }
  TwoStacks net_;
};

TEST_F(Ipv6TwoStackTest, NeighborResolutionThenPing) {
  auto& a = net_.a();
  auto& b = net_.b();
  const Ipv6Address from = a.address6.v6();
  const Ipv6Address to = b.address6.v6();
  IpWriteParams params;
  params.protocol = kProtocolIcmpv6;
  auto echo = icmpv6_echo(kTestIcmpv6EchoRequest, 42, 1, data_of(56, 1), from, to);
  ASSERT_TRUE(a.ipv6->send_routed(from, to, std::nullopt, params, PacketBuffer::from_bytes(echo)));
  // The request waits for neighbor discovery.
  auto pending = a.ipv6->ndp().cache().find(a.nic, IpAddress(to));
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->state, NeighborState::kIncomplete);
  net_.pump();
  auto resolved = a.ipv6->ndp().cache().find(a.nic, IpAddress(to));
  ASSERT_TRUE(resolved);
  EXPECT_EQ(resolved->state, NeighborState::kReachable);
  EXPECT_EQ(resolved->link_address, b.mac);
  // b learned a from the solicitation, STALE, then used it for its answers.
  auto at_b = b.ipv6->ndp().cache().find(b.nic, IpAddress(from));
  ASSERT_TRUE(at_b);
  EXPECT_EQ(at_b->link_address, a.mac);
  EXPECT_EQ(b.ipv6->icmp().counters().tx_echo_replies, 1u);
  EXPECT_EQ(a.ipv6->icmp().counters().rx_echo_replies, 1u);
  // On the wire: NS to the solicited-node group, NA back, request, reply.
  EXPECT_THAT(a.sent_of(kTestEtherTypeIpv6)[0],
              IsIpv6(Dst(test_solicited_node(to)), HopLimit(255),
                     Payload(IsNdp(IcmpType(135), Target(to), LinkLayerAddress(a.mac)))));
  EXPECT_THAT(
      b.sent_of(kTestEtherTypeIpv6).back(),
      IsIpv6(Src(to), Dst(from), ValidChecksum(),
             Payload(IsIcmpv6(IcmpType(129), IcmpId(42), IcmpSeq(1), Payload(data_of(56, 1))))));
}

TEST_F(Ipv6TwoStackTest, UdpBothWays) {
  auto server = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(server->bind({net_.b().address6, 5353}));
  auto client = udp::Endpoint::create(*net_.a().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(client->connect({net_.b().address6, 5353}));
  auto payload = data_of(300, 3);
  ASSERT_TRUE(client->send(payload));
  net_.pump();
  auto got = server->receive_packet();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->payload.to_vector(), payload);
  EXPECT_EQ(got->from.address, net_.a().address6);
  EXPECT_EQ(got->destination, net_.b().address6);
  ASSERT_TRUE(server->send_packet(std::move(got->payload), got->from));
  net_.pump();
  std::vector<std::byte> back(400);
  auto info = client->receive_from(back);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->size, 300u);
  EXPECT_EQ(info->from, (SocketAddress{net_.b().address6, 5353}));
}

TEST_F(Ipv6TwoStackTest, PortUnreachableReachesAConnectedSocket) {
  auto client = udp::Endpoint::create(*net_.a().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(client->connect({net_.b().address6, 9999}));
  ASSERT_TRUE(client->send(data_of(10, 1)));
  net_.pump();
  EXPECT_EQ(client->take_error(), std::optional<Error>(Error::kConnectionRefused));
}

TEST_F(Ipv6TwoStackTest, Fragmented4000ByteEcho) {
  auto server = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(server->bind({IpAddress::any(AddressFamily::kIpv6), 7}));
  auto client = udp::Endpoint::create(*net_.a().stack, AddressFamily::kIpv6).value();
  auto payload = data_of(4000, 9);
  ASSERT_TRUE(client->send_to(payload, SocketAddress{net_.b().address6, 7}));
  net_.pump();
  auto got = server->receive_packet();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->payload.size(), 4000u);
  ASSERT_TRUE(server->send_packet(std::move(got->payload), got->from));
  net_.pump();
  std::vector<std::byte> back(5000);
  auto info = client->receive_from(back);
  ASSERT_TRUE(info);
  ASSERT_EQ(info->size, 4000u);
  back.resize(4000);
  EXPECT_EQ(back, payload);
  for (auto* h : {&net_.a(), &net_.b()}) {
    EXPECT_EQ(h->ipv6->counters().tx_fragmented_datagrams, 1u);
    EXPECT_EQ(h->ipv6->counters().tx_fragments, 3u);
    EXPECT_EQ(h->ipv6->counters().rx_reassembled, 1u);
  }
}

TEST_F(Ipv6TwoStackTest, LinkLocalTraffic) {
  const Ipv6Address a_ll = v6("fe80::1");
  const Ipv6Address b_ll = v6("fe80::2");
  auto server = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(server->bind({IpAddress(b_ll), 4000}));
  auto client = udp::Endpoint::create(*net_.a().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(client->send_to(data_of(20, 1), SocketAddress{IpAddress(b_ll), 4000}));
  net_.pump();
  auto got = server->receive_packet();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->from.address, IpAddress(a_ll));  // the source matches the scope
}

// ---- Dual stack ----

TEST_F(Ipv6TwoStackTest, DualStackUdpServesIpv4PeersAsMappedAddresses) {
  auto server = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(server->bind({IpAddress::any(AddressFamily::kIpv6), 7}));
  auto client = udp::Endpoint::create(*net_.a().stack, AddressFamily::kIpv4).value();
  ASSERT_TRUE(client->send_to(data_of(33, 2), SocketAddress{net_.b().address, 7}));
  net_.pump();
  auto got = server->receive_packet();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->from.address, IpAddress(v6("::ffff:10.0.0.1")));
  EXPECT_EQ(got->destination, IpAddress(v6("::ffff:10.0.0.2")));
  ASSERT_TRUE(server->send_packet(std::move(got->payload), got->from));
  net_.pump();
  std::vector<std::byte> back(64);
  auto info = client->receive_from(back);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->size, 33u);
  EXPECT_EQ(info->from, (SocketAddress{net_.b().address, 7}));
}

TEST_F(Ipv6TwoStackTest, Ipv6SocketTalksToAnIpv4PeerThroughAMappedAddress) {
  auto server = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv4).value();
  ASSERT_TRUE(server->bind({IpAddress::any(AddressFamily::kIpv4), 53}));
  auto client = udp::Endpoint::create(*net_.a().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(client->connect({IpAddress(v6("::ffff:10.0.0.2")), 53}));
  EXPECT_EQ(client->local_address().address, IpAddress(v6("::ffff:10.0.0.1")));
  EXPECT_EQ(client->remote_address()->address, IpAddress(v6("::ffff:10.0.0.2")));
  ASSERT_TRUE(client->send(data_of(5, 1)));
  net_.pump();
  auto got = server->receive_packet();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->from.address, net_.a().address);
  ASSERT_TRUE(server->send_packet(std::move(got->payload), got->from));
  net_.pump();
  std::vector<std::byte> back(16);
  auto info = client->receive_from(back);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->from.address, IpAddress(v6("::ffff:10.0.0.2")));
}

TEST_F(Ipv6TwoStackTest, V6OnlyUdpRefusesIpv4) {
  auto server = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(server->set_v6only(true));
  ASSERT_TRUE(server->bind({IpAddress::any(AddressFamily::kIpv6), 7}));
  EXPECT_EQ(server->set_v6only(false).error(), Error::kInvalidArgument);  // bound already
  // The IPv4 port is free for an IPv4 socket.
  auto v4 = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv4).value();
  EXPECT_TRUE(v4->bind({IpAddress::any(AddressFamily::kIpv4), 7}));
  auto client = udp::Endpoint::create(*net_.a().stack, AddressFamily::kIpv4).value();
  ASSERT_TRUE(client->send_to(data_of(3, 1), SocketAddress{net_.b().address, 7}));
  net_.pump();
  EXPECT_FALSE(server->receive_packet());
  EXPECT_TRUE(v4->receive_packet());
  EXPECT_EQ(
      server->send_to(data_of(3, 1), SocketAddress{IpAddress(v6("::ffff:10.0.0.1")), 7}).error(),
      Error::kNetworkUnreachable);
}

TEST_F(Ipv6TwoStackTest, DualStackBindHoldsTheIpv4Port) {
  auto dual = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(dual->bind({IpAddress::any(AddressFamily::kIpv6), 7}));
  auto v4 = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv4).value();
  EXPECT_EQ(v4->bind({IpAddress::any(AddressFamily::kIpv4), 7}).error(), Error::kAddressInUse);
  // With SO_REUSEADDR on both, as Linux allows for UDP, the IPv4 socket wins IPv4 traffic.
  auto dual2 = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv6).value();
  dual2->set_reuse_address(true);
  ASSERT_TRUE(dual2->bind({IpAddress::any(AddressFamily::kIpv6), 8}));
  auto v4b = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv4).value();
  v4b->set_reuse_address(true);
  ASSERT_TRUE(v4b->bind({IpAddress::any(AddressFamily::kIpv4), 8}));
  auto client = udp::Endpoint::create(*net_.a().stack, AddressFamily::kIpv4).value();
  ASSERT_TRUE(client->send_to(data_of(3, 1), SocketAddress{net_.b().address, 8}));
  net_.pump();
  EXPECT_TRUE(v4b->receive_packet());
  EXPECT_FALSE(dual2->receive_packet());
}

TEST_F(Ipv6TwoStackTest, BindToAMappedAddressIsAnIpv4Bind) {
  auto server = udp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(server->bind({IpAddress(v6("::ffff:10.0.0.2")), 7}));
  EXPECT_EQ(server->local_address().address, IpAddress(v6("::ffff:10.0.0.2")));
  auto client = udp::Endpoint::create(*net_.a().stack, AddressFamily::kIpv6).value();
  ASSERT_TRUE(client->send_to(data_of(3, 1), SocketAddress{net_.b().address6, 7}));
  ASSERT_TRUE(client->send_to(data_of(4, 1), SocketAddress{IpAddress(v6("::ffff:10.0.0.2")), 7}));
  net_.pump();
  auto got = server->receive_packet();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->payload.size(), 4u);  // only the IPv4 one
  EXPECT_FALSE(server->receive_packet());
  EXPECT_EQ(server->send_to(data_of(1, 1), SocketAddress{net_.a().address6, 7}).error(),
            Error::kNetworkUnreachable);
}

// ---- TCP ----

std::unique_ptr<tcp::Endpoint> accept_one(
    const std::function<bool(const std::function<bool()>&)>& run, tcp::Endpoint& listener,
    tcp::Endpoint& client) {
  std::unique_ptr<tcp::Endpoint> server;
  EXPECT_TRUE(run([&] {
    if (!server) {
      auto r = listener.accept();
      if (r.ok()) server = std::move(*r);
    }
    return server != nullptr && (client.readiness() & kEventWritable) != 0;
  }));
  return server;
}

// Moves `bytes` each way between a and b, checking SHA-256 on both ends.
void transfer(TcpNetwork& net, tcp::Endpoint& a, tcp::Endpoint& b, size_t bytes, Duration limit) {
  struct Dir {
    tcp::Endpoint* w;
    tcp::Endpoint* r;
    Rng rng;
    Sha256 sent_hash, got_hash;
    size_t sent = 0, got = 0;
    bool fin = false, eof = false;
    std::vector<std::byte> chunk;
  };
  Dir dirs[2] = {{&a, &b, Rng(1), {}, {}, 0, 0, false, false, {}},
                 {&b, &a, Rng(2), {}, {}, 0, 0, false, false, {}}};
  std::vector<std::byte> buf(64 * 1024);
  Duration elapsed{0};
  auto done = [&] { return dirs[0].eof && dirs[1].eof; };
  while (!done() && elapsed < limit) {
    bool progress = false;
    for (Dir& d : dirs) {
      while (d.sent < bytes) {
        if (d.chunk.empty()) {
          d.chunk.resize(std::min<size_t>(16 * 1024, bytes - d.sent));
          d.rng.fill(d.chunk);
        }
        auto n = d.w->write(d.chunk);
        if (!n.ok() || *n == 0) break;
        d.sent_hash.update(ByteView(d.chunk).first(*n));
        d.chunk.erase(d.chunk.begin(), d.chunk.begin() + static_cast<std::ptrdiff_t>(*n));
        d.sent += *n;
        progress = true;
      }
      if (d.sent == bytes && !d.fin) {
        EXPECT_TRUE(d.w->shutdown(tcp::ShutdownHow::kWrite));
        d.fin = progress = true;
      }
      while (!d.eof) {
        auto n = d.r->read(buf);
        if (!n.ok()) break;
        if (*n == 0) {
          d.eof = progress = true;
          break;
        }
        d.got_hash.update(ByteView(buf).first(*n));
        d.got += *n;
        progress = true;
      }
    }
    if (!progress && net.step(512) == 0) {
      net.clock().advance(std::chrono::milliseconds(1));
      elapsed += std::chrono::milliseconds(1);
    }
  }
  ASSERT_TRUE(done()) << dirs[0].got << " / " << dirs[1].got << " of " << bytes;
  for (Dir& d : dirs) {
    EXPECT_EQ(d.got, bytes);
    EXPECT_EQ(d.got_hash.hex(), d.sent_hash.hex());
  }
}

class Ipv6TcpTest : public ::testing::Test {
 protected:
  std::function<bool(const std::function<bool()>&)> runner(TcpNetwork& net) {
    return [&net](const std::function<bool()>& f) {
      return net.run_until(f, std::chrono::seconds(30));
    };
  }
};

TEST_F(Ipv6TcpTest, ConnectTransferCloseWithIpv6Mss) {
  TcpNetwork net;
  auto listener = tcp::Endpoint::create(*net.b().stack, AddressFamily::kIpv6);
  ASSERT_TRUE(listener->bind({net.b().address6, 80}));
  ASSERT_TRUE(listener->listen(8));
  auto client = tcp::Endpoint::create(*net.a().stack, AddressFamily::kIpv6);
  EXPECT_EQ(client->connect({net.b().address6, 80}).error(), Error::kInProgress);
  auto server = accept_one(runner(net), *listener, *client);
  ASSERT_TRUE(server);
  EXPECT_EQ(server->remote_address()->address, net.a().address6);
  EXPECT_EQ(client->local_address()->address, net.a().address6);
  // 1500 - 40 (IPv6) - 20 (TCP) = 1440 advertised; 12 bytes of timestamps per segment.
  EXPECT_EQ(client->info().tcpi_advmss, 1440u);
  EXPECT_EQ(client->info().tcpi_snd_mss, 1428u);
  transfer(net, *client, *server, 1 << 20, std::chrono::seconds(60));
}

TEST_F(Ipv6TcpTest, LossyLinkTransferOverIpv6) {
  TcpNetworkOptions o;
  for (auto* f : {&o.fault_a, &o.fault_b}) {
    f->drop = 0.02;
    f->reorder = 0.01;
    f->duplicate = 0.01;
  }
  o.fault_a.seed = 17;
  o.fault_b.seed = 18;
  TcpNetwork net(o);
  auto listener = tcp::Endpoint::create(*net.b().stack, AddressFamily::kIpv6);
  ASSERT_TRUE(listener->bind({IpAddress::any(AddressFamily::kIpv6), 5001}));
  ASSERT_TRUE(listener->listen(8));
  auto client = tcp::Endpoint::create(*net.a().stack, AddressFamily::kIpv6);
  (void)client->connect({net.b().address6, 5001});
  auto server = accept_one(runner(net), *listener, *client);
  ASSERT_TRUE(server);
  size_t size = 8u << 20;
  if (const char* env = std::getenv("WEIR_TCP_TRANSFER_MIB")) size = std::stoull(env) << 20;
  transfer(net, *client, *server, size, std::chrono::hours(1));
  for (Stack* s : {net.a().stack.get(), net.b().stack.get()}) {
    uint64_t retransmitted = 0;
    s->counters().for_each([&](std::string_view g, std::string_view n, uint64_t v) {
      if (g == "tcp" && n == "retransmitted_segments") retransmitted = v;
    });
    EXPECT_GT(retransmitted, 0u);  // the loss was real, and repaired
  }
}

TEST_F(Ipv6TcpTest, DualStackListenerAcceptsIpv4AndReportsMappedAddresses) {
  TcpNetwork net;
  auto listener = tcp::Endpoint::create(*net.b().stack, AddressFamily::kIpv6);
  ASSERT_TRUE(listener->bind({IpAddress::any(AddressFamily::kIpv6), 80}));
  ASSERT_TRUE(listener->listen(8));
  // An IPv4 client.
  auto v4 = tcp::Endpoint::create(*net.a().stack, AddressFamily::kIpv4);
  (void)v4->connect({net.b().address, 80});
  auto s4 = accept_one(runner(net), *listener, *v4);
  ASSERT_TRUE(s4);
  EXPECT_EQ(s4->remote_address()->address, IpAddress(v6("::ffff:10.0.0.1")));
  EXPECT_EQ(s4->local_address()->address, IpAddress(v6("::ffff:10.0.0.2")));
  EXPECT_EQ(s4->local_address()->port, 80);
  EXPECT_EQ(s4->info().tcpi_advmss, 1460u);  // an IPv4 connection inside
  // An IPv6 client on the same listener.
  auto c6 = tcp::Endpoint::create(*net.a().stack, AddressFamily::kIpv6);
  (void)c6->connect({net.b().address6, 80});
  auto s6 = accept_one(runner(net), *listener, *c6);
  ASSERT_TRUE(s6);
  EXPECT_EQ(s6->remote_address()->address, net.a().address6);
  transfer(net, *v4, *s4, 100000, std::chrono::seconds(30));
}

TEST_F(Ipv6TcpTest, Ipv6SocketConnectsToAMappedAddress) {
  TcpNetwork net;
  auto listener = tcp::Endpoint::create(*net.b().stack, AddressFamily::kIpv4);
  ASSERT_TRUE(listener->bind({IpAddress::any(AddressFamily::kIpv4), 9}));
  ASSERT_TRUE(listener->listen(8));
  auto client = tcp::Endpoint::create(*net.a().stack, AddressFamily::kIpv6);
  ASSERT_TRUE(client->bind({IpAddress::any(AddressFamily::kIpv6), 0}));
  EXPECT_EQ(client->connect({IpAddress(v6("::ffff:10.0.0.2")), 9}).error(), Error::kInProgress);
  auto server = accept_one(runner(net), *listener, *client);
  ASSERT_TRUE(server);
  EXPECT_EQ(client->remote_address()->address, IpAddress(v6("::ffff:10.0.0.2")));
  EXPECT_EQ(client->local_address()->address, IpAddress(v6("::ffff:10.0.0.1")));
  EXPECT_EQ(server->remote_address()->address, net.a().address);
  EXPECT_EQ(server->remote_address()->port, client->local_address()->port);
}

TEST_F(Ipv6TcpTest, V6OnlyListenerLeavesIpv4Alone) {
  TcpNetwork net;
  auto listener = tcp::Endpoint::create(*net.b().stack, AddressFamily::kIpv6);
  ASSERT_TRUE(listener->set_v6only(true));
  ASSERT_TRUE(listener->bind({IpAddress::any(AddressFamily::kIpv6), 80}));
  ASSERT_TRUE(listener->listen(8));
  auto v4_listener = tcp::Endpoint::create(*net.b().stack, AddressFamily::kIpv4);
  ASSERT_TRUE(v4_listener->bind({IpAddress::any(AddressFamily::kIpv4), 80}));  // port free
  v4_listener.reset();
  auto client = tcp::Endpoint::create(*net.a().stack, AddressFamily::kIpv4);
  (void)client->connect({net.b().address, 80});
  net.run_until([&] { return (client->readiness() & kEventError) != 0; });
  EXPECT_EQ(client->take_error(), std::optional<Error>(Error::kConnectionRefused));
  auto mapped = tcp::Endpoint::create(*net.a().stack, AddressFamily::kIpv6);
  ASSERT_TRUE(mapped->set_v6only(true));
  EXPECT_EQ(mapped->connect({IpAddress(v6("::ffff:10.0.0.2")), 80}).error(),
            Error::kNetworkUnreachable);
}

TEST_F(Ipv6TcpTest, DualStackBindConflictsWithIpv4Bind) {
  TcpNetwork net;
  auto dual = tcp::Endpoint::create(*net.b().stack, AddressFamily::kIpv6);
  ASSERT_TRUE(dual->bind({IpAddress::any(AddressFamily::kIpv6), 80}));
  auto v4 = tcp::Endpoint::create(*net.b().stack, AddressFamily::kIpv4);
  EXPECT_EQ(v4->bind({IpAddress::any(AddressFamily::kIpv4), 80}).error(), Error::kAddressInUse);
  EXPECT_EQ(v4->bind({net.b().address, 80}).error(), Error::kAddressInUse);
  auto v6 = tcp::Endpoint::create(*net.b().stack, AddressFamily::kIpv6);
  EXPECT_EQ(v6->bind({net.b().address6, 80}).error(), Error::kAddressInUse);
}

}  // namespace
}  // namespace weir::testing
