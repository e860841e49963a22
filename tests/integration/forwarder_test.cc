// The flow forwarder between two stacks: stack a is a client that routes 198.51.100.0/24 and
// 2001:db8::/64 through stack b, whose NIC accepts any destination and whose forwarders
// terminate the flows (the tun proxy's half inside weir).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stack/nic.h"
#include "stack/rng.h"
#include "stack/stack.h"
#include "stack/waiter.h"
#include "tcp/endpoint.h"
#include "tcp/forwarder.h"
#include "tcp/tcp.h"
#include "tests/testing/tcp_sha256.h"
#include "tests/testing/two_stacks.h"
#include "udp/endpoint.h"
#include "udp/forwarder.h"
#include "udp/udp.h"

namespace weir {
namespace {

using namespace std::chrono_literals;
using testing::Sha256;
using testing::TwoStacks;

const IpAddress kForeign4(Ipv4Address(198, 51, 100, 7));
const IpAddress kForeign6(Ipv6Address::parse("2001:db8::7").value());
constexpr uint16_t kPort = 443;

std::vector<std::byte> pattern(size_t n, uint64_t seed) {
  std::vector<std::byte> out(n);
  Rng rng(seed);
  rng.fill(out);
  return out;
}

std::string sha(ByteView data) {
  Sha256 h;
  h.update(data);
  return h.hex();
}

class ForwarderTest : public ::testing::Test {
 protected:
  ForwarderTest() {
    tcp::install(*net_.a().stack);
    tcp::install(*net_.b().stack);
    udp::install(*net_.a().stack);
    udp::install(*net_.b().stack);
    // The client reaches the foreign networks through b, its gateway.
    net_.a().stack->add_route(
        Route{IpPrefix{kForeign4, 24}, net_.b().address, net_.a().nic, std::nullopt});
    net_.a().stack->add_route(
        Route{IpPrefix{kForeign6, 64}, net_.b().address6, net_.a().nic, std::nullopt});
    forwarding_nic().set_accept_any_destination(true);
  }

  Nic& forwarding_nic() { return *net_.b().stack->nic(net_.b().nic); }
  tcp::TcpCounters& tcp_b() { return tcp::find(*net_.b().stack)->counters(); }
  udp::UdpCounters& udp_b() { return udp::find(*net_.b().stack)->counters(); }

  std::unique_ptr<tcp::Endpoint> connect_client(const IpAddress& to, uint16_t port = kPort) {
    auto ep = tcp::Endpoint::create(*net_.a().stack, to.family());
    EXPECT_EQ(ep->connect(SocketAddress{to, port}).error(), Error::kInProgress);
    return ep;
  }

  // Moves `data` from writer to reader and returns what the reader got.
  std::vector<std::byte> transfer(tcp::Endpoint& writer, tcp::Endpoint& reader, ByteView data) {
    std::vector<std::byte> got;
    size_t sent = 0;
    std::vector<std::byte> buf(64 * 1024);
    net_.run_until(
        [&] {
          while (sent < data.size()) {
            auto n = writer.write(data.subspan(sent));
            if (!n) break;
            sent += *n;
          }
          for (;;) {
            auto n = reader.read(buf);
            if (!n || *n == 0) break;
            got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
          }
          return got.size() == data.size();
        },
        30s);
    return got;
  }

  // Forwards every TCP flow at once, keeping the endpoints and what the handler saw.
  void accept_every_tcp_flow() {
    tcp_forwarder_ = tcp::Forwarder::create(*net_.b().stack, [this](const tcp::ForwardRequest& r) {
      requests_.push_back(r);
      auto ep = tcp_forwarder_->accept(r.id);
      ASSERT_TRUE(ep);
      accepted_.push_back(std::move(*ep));
    }).value();
  }

  void check_tcp_flow_both_ways(const IpAddress& foreign) {
    accept_every_tcp_flow();
    auto client = connect_client(foreign);
    ASSERT_TRUE(net_.run_until([&] { return (client->readiness() & kEventWritable) != 0; }));
    ASSERT_EQ(requests_.size(), 1u);
    EXPECT_EQ(requests_[0].local, (SocketAddress{foreign, kPort}));
    EXPECT_EQ(requests_[0].remote, client->local_address().value());
    ASSERT_EQ(accepted_.size(), 1u);
    tcp::Endpoint& server = *accepted_[0];
    EXPECT_EQ(server.local_address().value(), (SocketAddress{foreign, kPort}));
    EXPECT_EQ(server.remote_address().value(), client->local_address().value());
    EXPECT_EQ(client->remote_address().value(), (SocketAddress{foreign, kPort}));

    const auto up = pattern(300 * 1000, 1);
    const auto down = pattern(200 * 1000, 2);
    EXPECT_EQ(sha(transfer(*client, server, up)), sha(up));
    EXPECT_EQ(sha(transfer(server, *client, down)), sha(down));
    EXPECT_EQ(tcp_b().forward_requests, 1u);
    EXPECT_EQ(tcp_b().forward_accepted, 1u);
    EXPECT_EQ(tcp_b().forward_deferred, 0u);
    // The SYN's options were honoured: both sides agreed on SACK, timestamps, window scaling.
    const tcp::TcpInfo info = server.info();
    EXPECT_EQ(info.tcpi_options & 7, 7);  // timestamps, SACK, window scaling
  }

  TwoStacks net_;
  std::unique_ptr<tcp::Forwarder> tcp_forwarder_;
  std::unique_ptr<udp::Forwarder> udp_forwarder_;
  std::vector<tcp::ForwardRequest> requests_;
  std::vector<std::unique_ptr<tcp::Endpoint>> accepted_;
};

TEST_F(ForwarderTest, TcpFlowToForeignIpv4AddressCarriesDataBothWays) {
  check_tcp_flow_both_ways(kForeign4);
  EXPECT_GT(net_.b().ipv4->counters().rx_foreign_destination, 0u);
}

TEST_F(ForwarderTest, TcpFlowToForeignIpv6AddressCarriesDataBothWays) {
  check_tcp_flow_both_ways(kForeign6);
  EXPECT_GT(net_.b().ipv6->counters().rx_foreign_destination, 0u);
}

TEST_F(ForwarderTest, RefusedTcpFlowIsReset) {
  tcp_forwarder_ = tcp::Forwarder::create(*net_.b().stack, [this](const tcp::ForwardRequest& r) {
    EXPECT_TRUE(tcp_forwarder_->refuse(r.id));
  }).value();
  auto client = connect_client(kForeign4);
  ASSERT_TRUE(net_.run_until([&] { return (client->readiness() & kEventError) != 0; }));
  EXPECT_EQ(client->take_error(), Error::kConnectionRefused);
  EXPECT_EQ(tcp_b().forward_refused, 1u);
  EXPECT_EQ(tcp_b().resets_sent, 1u);
  EXPECT_EQ(tcp_forwarder_->pending(), 0u);
}

TEST_F(ForwarderTest, DeferredTcpFlowIsAcceptedLater) {
  tcp_forwarder_ = tcp::Forwarder::create(*net_.b().stack, [this](const tcp::ForwardRequest& r) {
    requests_.push_back(r);  // decided below, as a proxy would once its own connect succeeded
  }).value();
  auto client = connect_client(kForeign6);
  net_.pump();
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(tcp_forwarder_->pending(), 1u);
  EXPECT_EQ(tcp_b().forward_deferred, 1u);
  // The client's SYN retransmissions find the request pending and make no second one.
  net_.advance(3500ms, 10ms);
  EXPECT_EQ(requests_.size(), 1u);
  EXPECT_EQ(tcp_forwarder_->pending(), 1u);
  EXPECT_GE(tcp_b().forward_syn_retransmits, 1u);
  EXPECT_EQ(client->readiness() & kEventWritable, 0u);

  auto server = tcp_forwarder_->accept(requests_[0].id);
  ASSERT_TRUE(server);
  EXPECT_EQ(tcp_forwarder_->pending(), 0u);
  EXPECT_EQ(tcp_forwarder_->accept(requests_[0].id).error(), Error::kNotFound);
  ASSERT_TRUE(net_.run_until([&] { return (client->readiness() & kEventWritable) != 0; }));
  ASSERT_TRUE(net_.run_until([&] { return ((*server)->readiness() & kEventWritable) != 0; }));
  const auto up = pattern(50 * 1000, 3);
  const auto down = pattern(70 * 1000, 4);
  EXPECT_EQ(sha(transfer(*client, **server, up)), sha(up));
  EXPECT_EQ(sha(transfer(**server, *client, down)), sha(down));
}

TEST_F(ForwarderTest, DeferredTcpFlowIsRefusedLater) {
  tcp_forwarder_ = tcp::Forwarder::create(*net_.b().stack, [this](const tcp::ForwardRequest& r) {
    requests_.push_back(r);
  }).value();
  auto client = connect_client(kForeign4);
  net_.advance(1500ms, 10ms);
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_TRUE(tcp_forwarder_->refuse(requests_[0].id));
  EXPECT_EQ(tcp_forwarder_->refuse(requests_[0].id).error(), Error::kNotFound);
  ASSERT_TRUE(net_.run_until([&] { return (client->readiness() & kEventError) != 0; }));
  EXPECT_EQ(client->take_error(), Error::kConnectionRefused);
  EXPECT_EQ(tcp_forwarder_->pending(), 0u);
}

TEST_F(ForwarderTest, PendingTcpRequestsAreBounded) {
  tcp::ForwarderOptions options;
  options.max_pending = 2;
  tcp_forwarder_ = tcp::Forwarder::create(
                       *net_.b().stack,
                       [this](const tcp::ForwardRequest& r) { requests_.push_back(r); }, options)
                       .value();
  std::vector<std::unique_ptr<tcp::Endpoint>> clients;
  for (uint16_t port = 1; port <= 3; ++port) clients.push_back(connect_client(kForeign4, port));
  net_.pump();
  EXPECT_EQ(requests_.size(), 2u);
  EXPECT_EQ(tcp_forwarder_->pending(), 2u);
  EXPECT_EQ(tcp_b().drop_forward_pending_full, 1u);
  // Room again: the third client's retransmitted SYN becomes a request.
  ASSERT_TRUE(tcp_forwarder_->refuse(requests_[0].id));
  net_.advance(1500ms, 10ms);
  EXPECT_EQ(requests_.size(), 3u);
  EXPECT_EQ(requests_[2].local.port, 3);
}

TEST_F(ForwarderTest, ForeignSynWithoutForwarderIsResetFromTheForeignAddress) {
  auto client = connect_client(kForeign4);
  ASSERT_TRUE(net_.run_until([&] { return (client->readiness() & kEventError) != 0; }));
  EXPECT_EQ(client->take_error(), Error::kConnectionRefused);
  EXPECT_EQ(tcp_b().drop_foreign_no_flow, 1u);
}

TEST_F(ForwarderTest, WildcardListenerDoesNotTakeForeignFlows) {
  auto listener = tcp::Endpoint::create(*net_.b().stack, AddressFamily::kIpv4);
  ASSERT_TRUE(listener->bind(SocketAddress{IpAddress::any(AddressFamily::kIpv4), kPort}));
  ASSERT_TRUE(listener->listen(8));
  accept_every_tcp_flow();
  auto foreign = connect_client(kForeign4);
  auto local = connect_client(net_.b().address);
  ASSERT_TRUE(net_.run_until([&] {
    return (foreign->readiness() & kEventWritable) && (local->readiness() & kEventWritable);
  }));
  EXPECT_EQ(accepted_.size(), 1u);
  EXPECT_TRUE(listener->accept());
  EXPECT_EQ(listener->accept().error(), Error::kWouldBlock);
}

TEST_F(ForwarderTest, NicWithoutTheSwitchDropsForeignPackets) {
  forwarding_nic().set_accept_any_destination(false);
  accept_every_tcp_flow();
  auto client = connect_client(kForeign4);
  net_.advance(1500ms, 10ms);
  EXPECT_TRUE(requests_.empty());
  EXPECT_EQ(client->readiness() & (kEventWritable | kEventError), 0u);
  EXPECT_GT(net_.b().ipv4->counters().drop_not_for_us, 0u);
  EXPECT_EQ(net_.b().ipv4->counters().rx_foreign_destination, 0u);
}

class UdpForwarderTest : public ForwarderTest {
 protected:
  std::unique_ptr<udp::Endpoint> open_client(const IpAddress& to) {
    auto ep = udp::Endpoint::create(*net_.a().stack, to.family()).value();
    EXPECT_TRUE(ep->connect(SocketAddress{to, 53}));
    return ep;
  }

  void check_udp_flow_both_ways(const IpAddress& foreign) {
    std::vector<udp::ForwardRequest> requests;
    std::vector<std::unique_ptr<udp::Endpoint>> flows;
    udp_forwarder_ = udp::Forwarder::create(*net_.b().stack, [&](const udp::ForwardRequest& r) {
      requests.push_back(r);
      auto ep = udp_forwarder_->accept(r.id);
      ASSERT_TRUE(ep);
      // The datagram that made the flow is already there.
      EXPECT_EQ((*ep)->queued_datagrams(), 1u);
      flows.push_back(std::move(*ep));
    }).value();
    auto client = open_client(foreign);
    const auto first = pattern(1000, 5);
    const auto second = pattern(1400, 6);
    ASSERT_TRUE(client->send(first));
    ASSERT_TRUE(client->send(second));
    net_.pump();
    ASSERT_EQ(requests.size(), 1u);
    ASSERT_EQ(flows.size(), 1u);
    EXPECT_EQ(requests[0].local, (SocketAddress{foreign, 53}));
    EXPECT_EQ(requests[0].remote, client->local_address());
    EXPECT_EQ(requests[0].payload_size, first.size());
    udp::Endpoint& flow = *flows[0];
    EXPECT_TRUE(flow.forwarded());
    EXPECT_EQ(flow.local_address(), (SocketAddress{foreign, 53}));
    EXPECT_EQ(flow.remote_address().value(), client->local_address());
    std::vector<std::byte> buf(2048);
    auto got = flow.receive_from(buf);
    ASSERT_TRUE(got);
    EXPECT_EQ(sha(ByteView(buf).first(got->size)), sha(first));
    got = flow.receive_from(buf);
    ASSERT_TRUE(got);
    EXPECT_EQ(sha(ByteView(buf).first(got->size)), sha(second));

    const auto reply = pattern(1200, 7);
    ASSERT_TRUE(flow.send(reply));
    // Another peer's send is refused: the foreign address speaks only to its flow's peer.
    const IpAddress elsewhere = foreign.is_v4() ? net_.b().address : net_.b().address6;
    EXPECT_EQ(flow.send_to(reply, SocketAddress{elsewhere, 9}).error(), Error::kInvalidArgument);
    net_.pump();
    auto back = client->receive_from(buf);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->from, (SocketAddress{foreign, 53}));
    EXPECT_EQ(sha(ByteView(buf).first(back->size)), sha(reply));
    EXPECT_EQ(udp_b().forward_requests, 1u);
    EXPECT_EQ(udp_b().forward_accepted, 1u);
  }
};

TEST_F(UdpForwarderTest, UdpFlowToForeignIpv4AddressBothWays) { check_udp_flow_both_ways(kForeign4); }

TEST_F(UdpForwarderTest, UdpFlowToForeignIpv6AddressBothWays) { check_udp_flow_both_ways(kForeign6); }

TEST_F(UdpForwarderTest, RefusedUdpFlowGetsPortUnreachableFromTheForeignAddress) {
  for (const IpAddress& foreign : {kForeign4, kForeign6}) {
    udp_forwarder_ = udp::Forwarder::create(*net_.b().stack, [&](const udp::ForwardRequest& r) {
      EXPECT_TRUE(udp_forwarder_->refuse(r.id));
      EXPECT_EQ(udp_forwarder_->accept(r.id).error(), Error::kNotFound);
    }).value();
    auto client = open_client(foreign);
    net_.clear_sent();
    ASSERT_TRUE(client->send(pattern(100, 8)));
    net_.pump();
    // The connected client socket hears the port unreachable as ECONNREFUSED.
    EXPECT_EQ(client->take_error(), Error::kConnectionRefused) << foreign.to_string();
    // And it came from the address the client tried.
    bool from_foreign = false;
    for (const auto& p : net_.b().sent) {
      if (foreign.is_v4() && p.bytes.size() >= 20 && std::to_integer<uint8_t>(p.bytes[9]) == 1) {
        from_foreign = Ipv4Address(load_be32(p.bytes, 12)) == foreign.v4();
      }
      if (foreign.is_v6() && p.bytes.size() >= 40 && std::to_integer<uint8_t>(p.bytes[6]) == 58 &&
          std::to_integer<uint8_t>(p.bytes[40]) == 1) {
        from_foreign =
            std::equal(p.bytes.begin() + 8, p.bytes.begin() + 24, foreign.bytes().begin());
      }
    }
    EXPECT_TRUE(from_foreign) << foreign.to_string();
    udp_forwarder_.reset();
  }
  EXPECT_EQ(udp_b().forward_refused, 2u);
}

TEST_F(UdpForwarderTest, IgnoredUdpDatagramIsDroppedAndCounted) {
  udp_forwarder_ =
      udp::Forwarder::create(*net_.b().stack, [](const udp::ForwardRequest&) {}).value();
  auto client = open_client(kForeign4);
  ASSERT_TRUE(client->send(pattern(10, 9)));
  ASSERT_TRUE(client->send(pattern(10, 10)));
  net_.pump();
  EXPECT_EQ(udp_b().forward_ignored, 2u);
  EXPECT_EQ(client->take_error(), std::nullopt);
}

TEST_F(UdpForwarderTest, OneForwarderPerStack) {
  udp_forwarder_ =
      udp::Forwarder::create(*net_.b().stack, [](const udp::ForwardRequest&) {}).value();
  EXPECT_EQ(udp::Forwarder::create(*net_.b().stack, [](const udp::ForwardRequest&) {}).error(),
            Error::kAddressInUse);
  accept_every_tcp_flow();
  EXPECT_EQ(tcp::Forwarder::create(*net_.b().stack, [](const tcp::ForwardRequest&) {}).error(),
            Error::kAddressInUse);
}

}  // namespace
}  // namespace weir
