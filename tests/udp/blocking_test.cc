// udp::BlockingSocket: a Loop on one thread, callers on others. The network layer is a fake
// that hands every datagram back to UDP from a task posted to the loop (never inside the send,
// as a loopback link would), so sockets of one stack talk to each other.
//
// No test sleeps to synchronise: where a test needs a receiver to be blocked before it acts,
// it asks the loop whether the socket's waiter is armed.
#include "udp/blocking.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <set>
#include <thread>

#include "stack/loop.h"
#include "tests/udp/fake_network.h"

namespace weir::udp {
namespace {

using testing::NullLink;
using testing::sa;

// Delivers what UDP writes back to UDP, on the loop thread, in a later task.
class LoopedIp final : public IpProtocol {
 public:
  LoopedIp(AddressFamily family, Loop*& loop, UdpProtocol*& udp)
      : family_(family), loop_(loop), udp_(udp) {}
  uint16_t ethertype() const override {
    return family_ == AddressFamily::kIpv4 ? kEtherTypeIpv4 : kEtherTypeIpv6;
  }
  void handle_packet(Nic&, PacketBuffer&&) override {}
  AddressFamily family() const override { return family_; }
  size_t header_length() const override { return family_ == AddressFamily::kIpv4 ? 20 : 40; }
  Status write_packet(const RouteInfo& route, const IpWriteParams&, PacketBuffer&& pkt) override {
    NetworkPacketInfo info;
    info.nic = route.nic;
    info.source = route.local_address;
    info.destination = route.remote_address;
    info.ttl = 64;
    in_flight_.push_back({info, std::move(pkt)});
    loop_->post([this] { deliver(); });
    return ok_status();
  }

 private:
  struct InFlight {
    NetworkPacketInfo info;
    PacketBuffer pkt;
  };
  void deliver() {
    while (!in_flight_.empty()) {
      InFlight next = std::move(in_flight_.front());
      in_flight_.pop_front();
      udp_->handle_packet(next.info, next.pkt);
    }
  }

  AddressFamily family_;
  Loop*& loop_;
  UdpProtocol*& udp_;
  std::deque<InFlight> in_flight_;  // loop thread only
};

class UdpBlockingTest : public ::testing::Test {
 protected:
  UdpBlockingTest() : stack_(clock_, repeatable_stack_options(5)) {
    stack_.add_network_protocol(std::make_unique<LoopedIp>(AddressFamily::kIpv4, loop_ptr_, udp_));
    stack_.add_network_protocol(std::make_unique<LoopedIp>(AddressFamily::kIpv6, loop_ptr_, udp_));
    udp_ = &install(stack_);
    const NicId nic = stack_.add_nic(std::make_unique<NullLink>(), "eth0").value();
    EXPECT_TRUE(stack_.add_address(nic, IpPrefix::parse("10.0.0.1/24").value()).ok());
    EXPECT_TRUE(stack_.add_address(nic, IpPrefix::parse("fd00::1/64").value()).ok());
    loop_ptr_ = &loop_;
    loop_thread_ = std::thread([this] { loop_.run(); });
  }
  ~UdpBlockingTest() override {
    loop_.stop();
    loop_thread_.join();
  }

  std::unique_ptr<BlockingSocket> open(AddressFamily family = AddressFamily::kIpv4) {
    auto s = BlockingSocket::create(loop_, stack_, family);
    EXPECT_TRUE(s.ok());
    return std::move(s).value();
  }

  // Returns once a receiver on s is blocked (its waiter armed on the endpoint).
  static void await_blocked_receiver(BlockingSocket& s) {
    while (!s.with_endpoint<bool>([](Endpoint& e) { return !e.waiters().empty(); })) {
      std::this_thread::yield();
    }
  }

  SteadyClock clock_;
  Stack stack_;
  UdpProtocol* udp_ = nullptr;
  Loop* loop_ptr_ = nullptr;
  Loop loop_{stack_};
  std::thread loop_thread_;
};

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> out;
  for (char c : s) out.push_back(std::byte(static_cast<uint8_t>(c)));
  return out;
}

TEST_F(UdpBlockingTest, CreateNeedsUdpInstalled) {
  ManualClock clock;
  Stack bare(clock, repeatable_stack_options(1));
  Loop loop(bare);
  std::thread t([&] { loop.run(); });
  auto s = BlockingSocket::create(loop, bare, AddressFamily::kIpv4);
  loop.stop();
  t.join();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error(), Error::kProtocolNotSupported);
}

TEST_F(UdpBlockingTest, ReceiveBlocksUntilADatagramArrives) {
  auto server = open();
  ASSERT_TRUE(server->bind(sa("10.0.0.1", 9000)).ok());
  std::vector<std::byte> got;
  SocketAddress from;
  std::thread receiver([&] {
    std::vector<std::byte> buf(2048);
    auto info = server->receive_from(buf);
    ASSERT_TRUE(info.ok());
    got.assign(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(info->size));
    from = info->from;
  });
  await_blocked_receiver(*server);
  auto client = open();
  ASSERT_TRUE(client->bind(sa("10.0.0.1", 9001)).ok());
  EXPECT_EQ(client->send_to(bytes_of("hello"), sa("10.0.0.1", 9000)).value(), 5u);
  receiver.join();
  EXPECT_EQ(got, bytes_of("hello"));
  EXPECT_EQ(from, sa("10.0.0.1", 9001));
}

TEST_F(UdpBlockingTest, EchoManyDatagramsBetweenThreads) {
  auto server = open(AddressFamily::kIpv6);
  ASSERT_TRUE(server->bind(sa("::", 7)).ok());
  constexpr int kCount = 500;
  std::thread echo([&] {
    std::vector<std::byte> buf(2048);
    for (int i = 0; i < kCount; ++i) {
      auto info = server->receive_from(buf);
      ASSERT_TRUE(info.ok());
      ASSERT_TRUE(server->send_to(ByteView(buf).first(info->size), info->from).ok());
    }
  });
  auto client = open(AddressFamily::kIpv6);
  ASSERT_TRUE(client->connect(sa("fd00::1", 7)).ok());
  EXPECT_EQ(client->remote_address().value(), sa("fd00::1", 7));
  EXPECT_EQ(client->local_address().value().address, IpAddress::parse("fd00::1").value());
  std::vector<std::byte> buf(2048);
  for (int i = 0; i < kCount; ++i) {
    // One in flight at a time: the loop's queues never hold more than the socket's buffer.
    const auto msg = bytes_of("datagram " + std::to_string(i));
    ASSERT_EQ(client->send(msg).value(), msg.size());
    auto info = client->receive_from(buf);
    ASSERT_TRUE(info.ok());
    ASSERT_EQ(std::vector<std::byte>(buf.begin(), buf.begin() + info->size), msg);
    ASSERT_EQ(info->from, sa("fd00::1", 7));
  }
  echo.join();
}

TEST_F(UdpBlockingTest, SeveralReceiversShareOneSocket) {
  auto server = open();
  ASSERT_TRUE(server->bind(sa("10.0.0.1", 9100)).ok());
  constexpr int kThreads = 4;
  constexpr int kEach = 50;
  std::mutex mu;
  std::set<std::string> seen;
  std::vector<std::thread> receivers;
  for (int t = 0; t < kThreads; ++t) {
    receivers.emplace_back([&] {
      std::vector<std::byte> buf(64);
      for (int i = 0; i < kEach; ++i) {
        auto info = server->receive_from(buf);
        ASSERT_TRUE(info.ok());
        std::lock_guard lock(mu);
        std::string text;
        for (size_t k = 0; k < info->size; ++k) text.push_back(static_cast<char>(buf[k]));
        seen.insert(text);
      }
    });
  }
  auto client = open();
  for (int i = 0; i < kThreads * kEach; ++i) {
    ASSERT_TRUE(client->send_to(bytes_of(std::to_string(i)), sa("10.0.0.1", 9100)).ok());
  }
  for (auto& t : receivers) t.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
}

TEST_F(UdpBlockingTest, CloseWakesABlockedReceiver) {
  auto server = open();
  ASSERT_TRUE(server->bind(sa("10.0.0.1", 9200)).ok());
  std::optional<Error> error;
  std::thread receiver([&] {
    std::vector<std::byte> buf(64);
    auto info = server->receive_from(buf);
    if (!info.ok()) error = info.error();
  });
  await_blocked_receiver(*server);
  server->close();
  receiver.join();
  EXPECT_EQ(error, Error::kBadFileDescriptor);
  server->close();  // idempotent
  // The port is free again.
  auto again = open();
  EXPECT_TRUE(again->bind(sa("10.0.0.1", 9200)).ok());
}

TEST_F(UdpBlockingTest, ShutdownReadWakesWithAnEmptyDatagram) {
  auto server = open();
  ASSERT_TRUE(server->bind(sa("10.0.0.1", 9300)).ok());
  std::optional<size_t> size;
  std::thread receiver([&] {
    std::vector<std::byte> buf(64);
    auto info = server->receive_from(buf);
    ASSERT_TRUE(info.ok());
    size = info->size;
  });
  await_blocked_receiver(*server);
  // Unconnected: reported as kNotConnected, as Linux does, but the shutdown still happens.
  EXPECT_EQ(server->shutdown(ShutdownHow::kRead).error(), Error::kNotConnected);
  receiver.join();
  EXPECT_EQ(size, 0u);
}

TEST_F(UdpBlockingTest, TimeoutReturnsWouldBlockThenReceivesLater) {
  auto server = open();
  ASSERT_TRUE(server->bind(sa("10.0.0.1", 9400)).ok());
  std::vector<std::byte> buf(64);
  // Testing the timeout itself: nothing is sent, so it must expire.
  auto r = server->receive_from(buf, std::chrono::milliseconds(20));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Error::kWouldBlock);
  auto client = open();
  ASSERT_TRUE(client->send_to(bytes_of("late"), sa("10.0.0.1", 9400)).ok());
  auto info = server->receive_from(buf, std::chrono::seconds(30));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 4u);
}

TEST_F(UdpBlockingTest, ReceivePacketTakesTheDatagramWhole) {
  auto server = open();
  ASSERT_TRUE(server->bind(sa("10.0.0.1", 9500)).ok());
  auto client = open();
  const std::vector<std::byte> big(4000, std::byte{0x42});
  ASSERT_TRUE(client->send_to(big, sa("10.0.0.1", 9500)).ok());
  auto d = server->receive_packet();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->payload.to_vector(), big);
  EXPECT_EQ(d->from.address, IpAddress::parse("10.0.0.1").value());
}

TEST_F(UdpBlockingTest, ErrorsComeBackFromTheLoop) {
  auto a = open();
  ASSERT_TRUE(a->bind(sa("10.0.0.1", 9600)).ok());
  auto b = open();
  EXPECT_EQ(b->bind(sa("10.0.0.1", 9600)).error(), Error::kAddressInUse);
  EXPECT_EQ(b->send(bytes_of("x")).error(), Error::kDestinationRequired);
  EXPECT_EQ(b->remote_address().error(), Error::kNotConnected);
  EXPECT_EQ(a->with_endpoint<uint16_t>([](Endpoint& e) { return e.local_address().port; }), 9600);
}

}  // namespace
}  // namespace weir::udp
