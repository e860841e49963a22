// Two stacks whose only link is the test moving packets by hand between two
// PacketQueueEndpoints, the way an embedder moves them between a stack and a tun device or a
// tunnel: TCP echo of 1 MiB, SHA-256 of both directions, in raw IP and Ethernet mode over IPv4
// and IPv6. Each stack is driven by Stack::poll() alone (no Loop), and packets are taken only
// when the endpoint's output-ready callback said so, which is what proves the notification
// is enough: a packet it failed to announce would strand the transfer.
#include "link/packet_queue.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include "ipv4/ipv4.h"
#include "ipv6/ipv6.h"
#include "link/ethernet.h"
#include "stack/clock.h"
#include "stack/stack.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "tests/testing/tcp_sha256.h"
#include "udp/endpoint.h"
#include "udp/udp.h"

namespace weir {
namespace {

using link::Framing;
using link::PacketQueueEndpoint;

struct Host {
  std::unique_ptr<Stack> stack;
  PacketQueueEndpoint* link = nullptr;  // owned by the stack's NIC
  bool output_ready = false;            // set by the endpoint's callback
};

struct Param {
  Framing framing;
  AddressFamily family;
};

std::string name_of(const ::testing::TestParamInfo<Param>& info) {
  return std::string(info.param.framing == Framing::kRawIp ? "RawIp" : "Ethernet") +
         (info.param.family == AddressFamily::kIpv4 ? "V4" : "V6");
}

class PacketQueueStacks : public ::testing::TestWithParam<Param> {
 protected:
  PacketQueueStacks() {
    make_host(a_, 1, MacAddress({0x02, 0, 0, 0, 0, 0x01}));
    make_host(b_, 2, MacAddress({0x02, 0, 0, 0, 0, 0x02}));
  }

  void make_host(Host& host, uint8_t n, MacAddress mac) {
    host.stack = std::make_unique<Stack>(clock_, repeatable_stack_options(n));
    ipv4::install(*host.stack);
    ipv6::install(*host.stack);
    udp::install(*host.stack);
    tcp::install(*host.stack);
    auto endpoint =
        PacketQueueEndpoint::create({.framing = GetParam().framing, .mtu = 1500, .mac = mac})
            .value();
    host.link = endpoint.get();
    host.link->set_output_ready([&host] { host.output_ready = true; });
    const NicId nic = host.stack->add_nic(std::move(endpoint), "pq0").value();
    ASSERT_TRUE(host.stack->add_address(nic, {Ipv4Address(10, 0, 0, n), 24}).ok());
    auto v6 = Ipv6Address::parse("fd00::" + std::to_string(n)).value();
    ASSERT_TRUE(host.stack->add_address(nic, {v6, 64}).ok());
  }

  IpAddress address_of(uint8_t n) const {
    if (GetParam().family == AddressFamily::kIpv4) return Ipv4Address(10, 0, 0, n);
    return Ipv6Address::parse("fd00::" + std::to_string(n)).value();
  }

  // Moves what one host announced to the other, as bytes (a tun device copies too). Returns
  // how many packets moved.
  static size_t carry(Host& from, Host& to) {
    if (!from.output_ready) return 0;
    from.output_ready = false;
    size_t moved = 0;
    from.link->drain([&](PacketBuffer pkt) {
      EXPECT_TRUE(to.link->inject(pkt.to_vector()).ok());
      ++moved;
    });
    return moved;
  }

  // Polls both stacks and carries packets until done() or nothing is left to do; when the
  // wire is quiet, moves the clock to the next timer. Bounded so a stuck transfer fails.
  void run_until(const std::function<bool()>& done) {
    for (int rounds = 0; rounds < 200'000; ++rounds) {
      if (done()) return;
      auto ra = a_.stack->poll();
      auto rb = b_.stack->poll();
      step_();
      const size_t moved = carry(a_, b_) + carry(b_, a_);
      if (moved > 0 || ra.more || rb.more || ra.work + rb.work > 0) continue;
      std::optional<TimePoint> next = ra.next_deadline;
      if (rb.next_deadline && (!next || *rb.next_deadline < *next)) next = rb.next_deadline;
      if (!next) break;
      clock_.set(std::max(*next, clock_.now()));
    }
    ASSERT_TRUE(done()) << "the exchange stalled";
  }

  ManualClock clock_;
  Host a_;
  Host b_;
  std::function<void()> step_ = [] {};
};

TEST_P(PacketQueueStacks, TcpEchoOfOneMebibyteHashesMatch) {
  const uint16_t port = 7000;
  auto listener = tcp::Endpoint::create(*b_.stack, GetParam().family);
  ASSERT_TRUE(listener->bind({address_of(2), port}).ok());
  ASSERT_TRUE(listener->listen(4).ok());
  auto client = tcp::Endpoint::create(*a_.stack, GetParam().family);
  auto st = client->connect({address_of(2), port});
  ASSERT_TRUE(st.ok() || st.error() == Error::kInProgress);

  std::vector<std::byte> data(1 << 20);
  uint32_t x = 12345;
  for (auto& b : data) {
    x = x * 1103515245 + 12345;
    b = std::byte(static_cast<uint8_t>(x >> 16));
  }
  testing::Sha256 sent_hash;
  sent_hash.update(data);
  testing::Sha256 server_hash;
  testing::Sha256 echoed_hash;

  std::unique_ptr<tcp::Endpoint> server;
  size_t written = 0;
  size_t server_seen = 0;
  size_t echoed = 0;
  bool client_shut = false;
  bool server_shut = false;
  std::vector<std::byte> pending;  // read by the server, not yet written back
  std::vector<std::byte> buf(65536);

  step_ = [&] {
    if (!server) {
      if (auto c = listener->accept(); c.ok()) server = std::move(*c);
    }
    if (written < data.size()) {
      if (auto n = client->write(ByteView(data).subspan(written)); n.ok()) written += *n;
    } else if (!client_shut && client->shutdown(tcp::ShutdownHow::kWrite).ok()) {
      client_shut = true;
    }
    if (server) {
      if (!pending.empty()) {
        if (auto n = server->write(pending); n.ok()) {
          pending.erase(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(*n));
        }
      }
      if (pending.size() < (256u << 10)) {
        if (auto n = server->read(buf); n.ok()) {
          if (*n == 0 && pending.empty() && !server_shut) {
            server_shut = server->shutdown(tcp::ShutdownHow::kWrite).ok();
          }
          server_hash.update(ByteView(buf).first(*n));
          server_seen += *n;
          pending.insert(pending.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*n));
        }
      }
    }
    if (auto n = client->read(buf); n.ok()) {
      echoed_hash.update(ByteView(buf).first(*n));
      echoed += *n;
    }
  };
  run_until([&] { return echoed == data.size() && server_shut; });

  const std::string want = sent_hash.hex();
  EXPECT_EQ(server_seen, data.size());
  EXPECT_EQ(server_hash.hex(), want);
  EXPECT_EQ(echoed_hash.hex(), want);
  for (Host* h : {&a_, &b_}) {
    EXPECT_EQ(h->link->counters().tx_drop_queue_full, 0u);
    EXPECT_EQ(h->link->queue_counters().tx_drop_queue_bytes, 0u);
    EXPECT_EQ(h->link->queue_counters().rx_drop_queue_full, 0u);
    EXPECT_GT(h->link->counters().rx_frames, 100u);
    EXPECT_GT(h->link->queue_counters().output_ready_calls, 0u);
  }
  if (GetParam().framing == Framing::kRawIp) {
    // No neighbour resolution on a raw IP link: only IP went over it.
    EXPECT_EQ(a_.stack->nic(1)->endpoint().capabilities().resolution_required, false);
  }
}

TEST_P(PacketQueueStacks, UdpDatagramRoundTrip) {
  auto server = udp::Endpoint::create(*b_.stack, GetParam().family).value();
  ASSERT_TRUE(server->bind({address_of(2), 5353}).ok());
  auto client = udp::Endpoint::create(*a_.stack, GetParam().family).value();
  const std::vector<std::byte> hello(1200, std::byte{0x5a});
  // The first send may wait behind neighbour resolution in Ethernet mode; it is queued.
  ASSERT_TRUE(client->send_to(hello, SocketAddress{address_of(2), 5353}).ok());
  std::vector<std::byte> got;
  std::vector<std::byte> buf(2048);
  step_ = [&] {
    if (auto d = server->receive_from(buf); d.ok()) {
      ASSERT_TRUE(server->send_to(ByteView(buf).first(d->size), d->from).ok());
    }
    if (auto d = client->receive_from(buf); d.ok()) got.assign(buf.begin(), buf.begin() + d->size);
  };
  run_until([&] { return !got.empty(); });
  EXPECT_EQ(got, hello);
}

INSTANTIATE_TEST_SUITE_P(Modes, PacketQueueStacks,
                         ::testing::Values(Param{Framing::kRawIp, AddressFamily::kIpv4},
                                           Param{Framing::kRawIp, AddressFamily::kIpv6},
                                           Param{Framing::kEthernet, AddressFamily::kIpv4},
                                           Param{Framing::kEthernet, AddressFamily::kIpv6}),
                         name_of);

// An injected packet reaches the stack only through poll(), inside its batch, and the answer
// is announced and waiting when poll() returns.
TEST(PacketQueueStack, InjectedPingIsAnsweredOnPoll) {
  ManualClock clock;
  Stack stack(clock, repeatable_stack_options(7));
  ipv4::install(stack);
  auto endpoint = PacketQueueEndpoint::create({.framing = Framing::kRawIp, .output_fd = true});
  ASSERT_TRUE(endpoint.ok());
  PacketQueueEndpoint& link = **endpoint;
  int ready_calls = 0;
  link.set_output_ready([&] { ++ready_calls; });
  const NicId nic = stack.add_nic(std::move(*endpoint), "tun0").value();
  ASSERT_TRUE(stack.add_address(nic, {Ipv4Address(10, 0, 0, 1), 24}).ok());
  EXPECT_TRUE(stack.wait_set().readable_fds.empty());  // the owner knows when it injected

  // ICMP echo request 10.0.0.2 -> 10.0.0.1, checksums computed by hand.
  std::vector<std::byte> ping = {
      std::byte{0x45}, std::byte{0},    std::byte{0}, std::byte{28},  // v4, IHL 5, length 28
      std::byte{0},    std::byte{1},    std::byte{0}, std::byte{0},   // id 1, no fragment
      std::byte{64},   std::byte{1},    std::byte{0}, std::byte{0},   // TTL 64, ICMP, checksum
      std::byte{10},   std::byte{0},    std::byte{0}, std::byte{2},   // source
      std::byte{10},   std::byte{0},    std::byte{0}, std::byte{1},   // destination
      std::byte{8},    std::byte{0},    std::byte{0}, std::byte{0},   // echo request, checksum
      std::byte{0x12}, std::byte{0x34}, std::byte{0}, std::byte{1},   // identifier, sequence
  };
  auto fold = [](ByteView b) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < b.size(); i += 2) sum += load_be16(b, i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
  };
  store_be16(ping, 10, fold(ByteView(ping).first(20)));
  store_be16(ping, 22, fold(ByteView(ping).subspan(20)));

  ASSERT_TRUE(link.inject(ping).ok());
  EXPECT_EQ(link.outbound_pending(), 0u);
  auto r = stack.poll();
  EXPECT_GE(r.work, 1u);
  EXPECT_EQ(ready_calls, 1);
  pollfd pfd{.fd = link.output_fd(), .events = POLLIN, .revents = 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 1);
  auto reply = link.take_outbound();
  ASSERT_TRUE(reply);
  const auto bytes = reply->to_vector();
  ASSERT_EQ(bytes.size(), 28u);
  EXPECT_EQ(load_u8(bytes, 0) >> 4, 4);
  EXPECT_EQ(load_be32(bytes, 12), load_be32(ping, 16));  // from 10.0.0.1
  EXPECT_EQ(load_be32(bytes, 16), load_be32(ping, 12));  // to 10.0.0.2
  EXPECT_EQ(load_u8(bytes, 20), 0);                      // echo reply
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
}

}  // namespace
}  // namespace weir
