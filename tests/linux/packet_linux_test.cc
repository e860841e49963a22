// The AF_PACKET endpoint against the Linux kernel: a veth pair inside a network namespace this
// test creates, the kernel's address on one end (wpk1) and a weir stack, with its own MAC and
// address, on a packet socket on the other end (wpk0). The kernel side runs on a thread that
// entered the namespace with setns(). Ping from Linux is answered by weir; TCP moves 20 MiB each
// way with every byte checked against the stream pattern; transfers are bounded in time.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ipv4/ipv4.h"
#include "link/packet.h"
#include "stack/clock.h"
#include "stack/loop.h"
#include "stack/stack.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "tests/link/recording_dispatcher.h"

namespace weir {
namespace {

constexpr const char* kLinuxAddress = "10.204.0.1";
constexpr const char* kWeirAddress = "10.204.0.2";
constexpr auto kDeadline = std::chrono::seconds(120);

// The stream pattern every weir tool uses: any receiver can check any byte.
uint8_t pattern(uint64_t offset) {
  auto i = static_cast<uint32_t>(offset);
  return static_cast<uint8_t>((i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24)) & 0xff);
}
void fill_pattern(uint64_t offset, std::span<std::byte> out) {
  for (size_t k = 0; k < out.size(); ++k) out[k] = std::byte(pattern(offset + k));
}
// Index of the first byte that breaks the pattern, or npos.
size_t check_pattern(uint64_t offset, std::span<const std::byte> in) {
  for (size_t k = 0; k < in.size(); ++k) {
    if (in[k] != std::byte(pattern(offset + k))) return k;
  }
  return std::string::npos;
}

// An IPv4 socket address for the kernel API, without casting between sockaddr types.
union KernelAddress {
  sockaddr generic;
  sockaddr_in v4;
};
KernelAddress kernel_address(const char* ip, uint16_t port) {
  KernelAddress a{};
  a.v4.sin_family = AF_INET;
  a.v4.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.v4.sin_addr);
  return a;
}

int run(const std::string& command) { return std::system(command.c_str()); }

constexpr const char* kWeirMac = "02:77:00:00:00:02";

class PacketLinuxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, AF_PACKET)";
    netns_ = "weir-pkt-" + std::to_string(::getpid());
    ASSERT_EQ(run("ip netns add " + netns_), 0);
    created_ = true;
    ASSERT_EQ(in_netns("sysctl -qw net.ipv6.conf.all.disable_ipv6=1"), 0);
    ASSERT_EQ(run("ip -n " + netns_ + " link set lo up"), 0);
    ASSERT_EQ(run("ip -n " + netns_ + " link add wpk0 type veth peer name wpk1"), 0);
    ASSERT_EQ(run("ip -n " + netns_ + " addr add " + kLinuxAddress + "/24 dev wpk1"), 0);
    ASSERT_EQ(run("ip -n " + netns_ + " link set wpk1 up"), 0);

    std::string message;
    auto ep = link::PacketSocketEndpoint::open({.interface = "wpk0",
                                                .mac = *MacAddress::parse(kWeirMac),
                                                .netns = netns_path(),
                                                .bring_up = true},
                                               &message);
    ASSERT_TRUE(ep) << message;
    ep_ = ep->get();
    EXPECT_EQ(ep_->mtu(), 1500u);
    EXPECT_EQ(ep_->link_address().to_string(), kWeirMac);

    stack_ = std::make_unique<Stack>(clock_, repeatable_stack_options(11));
    ipv4::install(*stack_);
    tcp::install(*stack_);
    auto nic = stack_->add_nic(std::move(*ep), "wpk0");
    ASSERT_TRUE(nic);
    ASSERT_TRUE(stack_->add_address(*nic, *IpPrefix::parse(std::string(kWeirAddress) + "/24")));
    loop_ = std::make_unique<Loop>(*stack_);
    ASSERT_TRUE(loop_->watch(stack_->nic(*nic)->endpoint()));
  }

  void TearDown() override {
    if (kernel_.joinable()) kernel_.join();
    loop_.reset();
    stack_.reset();
    if (created_) run("ip netns del " + netns_);
  }

  std::string netns_path() const { return "/var/run/netns/" + netns_; }
  int in_netns(const std::string& command) {
    return run("ip netns exec " + netns_ + " " + command);
  }

  // Runs body on a thread inside the test's namespace (kernel sockets there).
  void on_kernel_side(std::function<void()> body) {
    kernel_ = std::thread([path = netns_path(), body = std::move(body)] {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        ADD_FAILURE() << "setns into " << path << " failed";
        return;
      }
      ::close(fd);
      body();
    });
  }

  // Drives the stack until done() or the deadline; false on timeout.
  bool drive_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      loop_->run_once(std::chrono::milliseconds(1));
    }
    return true;
  }

  // Listens on port (kernel side), reports it through `listening` (1, or -1 on failure),
  // accepts one connection and closes the listener. Returns the connection, or -1.
  static int kernel_accept_one(uint16_t port, std::atomic<int>& listening) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    KernelAddress a = kernel_address(kLinuxAddress, port);
    if (::bind(s, &a.generic, sizeof a.v4) != 0 || ::listen(s, 8) != 0) {
      ::close(s);
      listening = -1;
      return -1;
    }
    timeval tv{60, 0};  // the kernel side never waits forever either
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    listening = 1;
    int c = ::accept(s, nullptr, nullptr);
    ::close(s);
    if (c >= 0) {
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return c;
  }

  std::unique_ptr<tcp::Endpoint> connect_to_kernel(uint16_t port) {
    auto ep = tcp::Endpoint::create(*stack_, AddressFamily::kIpv4);
    EXPECT_TRUE(ep);
    if (!ep) return nullptr;
    auto st = ep->connect({*IpAddress::parse(kLinuxAddress), port});
    EXPECT_TRUE(st || st.error() == Error::kInProgress);
    bool ok = drive_until(
        [&] { return (ep->readiness() & (kEventWritable | kEventError | kEventHangup)) != 0; });
    EXPECT_TRUE(ok) << "connect timed out";
    auto err = ep->take_error();
    EXPECT_FALSE(err.has_value()) << error_name(*err);
    return ep;
  }

  SteadyClock clock_;
  link::PacketSocketEndpoint* ep_ = nullptr;  // owned by the stack's NIC
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<Loop> loop_;
  std::thread kernel_;
  std::string netns_;
  bool created_ = false;
};

constexpr uint64_t kBulkBytes = 20ull << 20;

TEST_F(PacketLinuxTest, LinuxPingsWeir) {
  std::atomic<int> status{-1};
  std::atomic<bool> done{false};
  std::thread pinger([&] {
    status =
        in_netns(std::string("ping -q -c 3 -i 0.2 -W 2 -w 10 ") + kWeirAddress + " >/dev/null");
    done = true;
  });
  const bool finished = drive_until([&] { return done.load(); });
  pinger.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(status.load(), 0) << "ping got fewer than 3 replies";
  // ARP and 3 echo requests came in; ARP and 3 replies went out through the TX ring.
  EXPECT_GE(ep_->counters().rx_frames, 4u);
  EXPECT_GE(ep_->counters().tx_frames, 4u);
  EXPECT_EQ(ep_->counters().rx_drop_bad_ring_header, 0u);
  EXPECT_EQ(ep_->counters().tx_drop_would_block, 0u);
}

TEST_F(PacketLinuxTest, WeirSends20MiBToLinux) {
  std::atomic<int> listening{0};
  std::atomic<uint64_t> kernel_received{0};
  std::atomic<bool> kernel_pattern_ok{true};
  std::atomic<bool> kernel_done{false};
  on_kernel_side([&] {
    int c = kernel_accept_one(5101, listening);
    if (c >= 0) {
      std::vector<std::byte> buf(256 * 1024);
      uint64_t off = 0;
      for (;;) {
        ssize_t n = ::read(c, buf.data(), buf.size());
        if (n <= 0) break;
        if (check_pattern(off, std::span(buf).first(static_cast<size_t>(n))) != std::string::npos) {
          kernel_pattern_ok = false;
        }
        off += static_cast<uint64_t>(n);
      }
      kernel_received = off;
      ::close(c);
    }
    kernel_done = true;
  });
  ASSERT_TRUE(drive_until([&] { return listening.load() != 0; }));
  ASSERT_EQ(listening.load(), 1) << "kernel listen failed";
  auto ep = connect_to_kernel(5101);
  ASSERT_TRUE(ep);
  std::vector<std::byte> chunk(64 * 1024);
  uint64_t sent = 0;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(drive_until([&] {
    while (sent < kBulkBytes) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(chunk.size(), kBulkBytes - sent));
      fill_pattern(sent, std::span(chunk).first(want));
      auto n = ep->write(std::span(chunk).first(want));
      if (!n || *n == 0) break;
      sent += *n;
    }
    return sent == kBulkBytes;
  }));
  ASSERT_TRUE(ep->shutdown(tcp::ShutdownHow::kWrite));
  ASSERT_TRUE(drive_until([&] { return kernel_done.load(); })) << "kernel never saw EOF";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(kernel_received.load(), kBulkBytes);
  EXPECT_TRUE(kernel_pattern_ok.load());
  EXPECT_EQ(ep_->counters().tx_drop_too_big, 0u);
  EXPECT_EQ(ep_->counters().rx_drop_bad_ring_header, 0u);
  std::printf("weir -> linux over AF_PACKET: %.0f Mbit/s (tx ring drops %llu)\n",
              static_cast<double>(kBulkBytes) * 8 / seconds / 1e6,
              static_cast<unsigned long long>(ep_->counters().tx_drop_would_block));
  ep->close();
}

TEST_F(PacketLinuxTest, LinuxSends20MiBToWeir) {
  std::atomic<int> listening{0};
  std::atomic<bool> kernel_done{false};
  std::atomic<uint64_t> kernel_sent{0};
  on_kernel_side([&] {
    int c = kernel_accept_one(5102, listening);
    if (c >= 0) {
      std::vector<std::byte> buf(128 * 1024);
      uint64_t off = 0;
      while (off < kBulkBytes) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), kBulkBytes - off));
        fill_pattern(off, std::span(buf).first(want));
        ssize_t n = ::write(c, buf.data(), want);
        if (n <= 0) break;
        off += static_cast<uint64_t>(n);
      }
      kernel_sent = off;
      ::close(c);
    }
    kernel_done = true;
  });
  ASSERT_TRUE(drive_until([&] { return listening.load() != 0; }));
  ASSERT_EQ(listening.load(), 1) << "kernel listen failed";
  auto ep = connect_to_kernel(5102);
  ASSERT_TRUE(ep);
  std::vector<std::byte> buf(256 * 1024);
  uint64_t received = 0;
  bool eof = false;
  size_t first_bad = std::string::npos;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(drive_until([&] {
    for (;;) {
      auto n = ep->read(buf);
      if (!n) break;
      if (*n == 0) {
        eof = true;
        break;
      }
      size_t bad = check_pattern(received, std::span(buf).first(*n));
      if (bad != std::string::npos && first_bad == std::string::npos) first_bad = received + bad;
      received += *n;
    }
    return eof;
  })) << "received "
      << received << " bytes before the deadline";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(received, kBulkBytes);
  EXPECT_EQ(first_bad, std::string::npos) << "pattern broken at byte " << first_bad;
  ASSERT_TRUE(drive_until([&] { return kernel_done.load(); }));
  EXPECT_EQ(kernel_sent.load(), kBulkBytes);
  EXPECT_EQ(ep_->counters().rx_drop_bad_ring_header, 0u);
  EXPECT_EQ(ep_->counters().rx_drop_truncated, 0u);
  std::printf("linux -> weir over AF_PACKET: %.0f Mbit/s (%llu unsegmented frames from Linux)\n",
              static_cast<double>(kBulkBytes) * 8 / seconds / 1e6,
              static_cast<unsigned long long>(ep_->counters().rx_gso_frames));
  ep->close();
}

// Endpoints share an interface through a fanout group; the kernel refuses one on another
// interface under the same id, and the message says so.
TEST_F(PacketLinuxTest, FanoutGroupSharesTheInterface) {
  std::string message;
  auto a = link::PacketSocketEndpoint::open(
      {.interface = "wpk0", .netns = netns_path(), .fanout_group = 4242}, &message);
  ASSERT_TRUE(a) << message;
  auto b = link::PacketSocketEndpoint::open(
      {.interface = "wpk0", .netns = netns_path(), .fanout_group = 4242}, &message);
  ASSERT_TRUE(b) << message;
  auto c = link::PacketSocketEndpoint::open(
      {.interface = "wpk1", .netns = netns_path(), .fanout_group = 4242}, &message);
  ASSERT_FALSE(c);
  EXPECT_NE(message.find("cannot join fanout group 4242 on 'wpk1'"), std::string::npos) << message;
}

// Two packet endpoints face each other over a veth pair, no stack and no kernel addresses: one
// sends a batch through its TX ring, the other takes it from its RX ring one frame per
// process_receive(1), so a block is left and resumed mid-way again and again.
class PacketRingLinuxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, AF_PACKET)";
    netns_ = "weir-pktr-" + std::to_string(::getpid());
    ASSERT_EQ(run("ip netns add " + netns_), 0);
    created_ = true;
    // No IPv6 on the veths: nothing but the test's frames on the wire.
    ASSERT_EQ(run("ip netns exec " + netns_ + " sysctl -qw net.ipv6.conf.default.disable_ipv6=1"),
              0);
    ASSERT_EQ(run("ip -n " + netns_ + " link add wpr0 type veth peer name wpr1"), 0);
  }
  void TearDown() override {
    if (created_) run("ip netns del " + netns_);
  }
  std::string netns_path() const { return "/var/run/netns/" + netns_; }

  std::string netns_;
  bool created_ = false;
};

TEST_F(PacketRingLinuxTest, BudgetOfOneWalksBlocksInOrderAndFiltersOnTheWay) {
  const MacAddress weir = *MacAddress::parse("02:77:00:00:00:0a");
  const MacAddress peer = *MacAddress::parse("02:77:00:00:00:0b");
  const MacAddress other = *MacAddress::parse("02:77:00:00:00:0c");
  std::string message;
  // Small blocks: a round of frames fills several, and three rounds wrap around the ring.
  auto rx = link::PacketSocketEndpoint::open({.interface = "wpr0",
                                              .mac = weir,
                                              .netns = netns_path(),
                                              .bring_up = true,
                                              .rx_block_size = 8192,
                                              .rx_block_count = 8},
                                             &message);
  ASSERT_TRUE(rx) << message;
  auto tx = link::PacketSocketEndpoint::open(
      {.interface = "wpr1", .mac = peer, .netns = netns_path(), .bring_up = true}, &message);
  ASSERT_TRUE(tx) << message;
  link::testing::RecordingDispatcher received;
  (*rx)->attach(&received);

  constexpr uint32_t kFrames = 100;  // per round, for weir; plus 10 for another host, 1 tagged
  size_t calls = 0;
  for (uint32_t round = 0; round < 3; ++round) {
    std::vector<PacketBuffer> batch;
    for (uint32_t i = 0; i < kFrames; ++i) {
      batch.push_back(
          link::testing::make_packet(round * kFrames + i, 100 + i, kEtherTypeIpv4, weir));
      if (i % 10 == 5) {
        batch.push_back(link::testing::make_packet(9000 + i, 80, kEtherTypeIpv4, other));
      }
    }
    batch.push_back(link::testing::make_packet(0x00070800, 64, 0x8100, weir));  // VLAN 7
    auto sent = (*tx)->write_packets(batch);
    ASSERT_TRUE(sent);
    EXPECT_EQ(*sent, batch.size());

    const size_t want = (round + 1) * (kFrames + 11);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (calls < want && std::chrono::steady_clock::now() < deadline) {
      pollfd p{(*rx)->readable_fd(), POLLIN, 0};
      ::poll(&p, 1, 100);  // a bounded wait for the kernel to hand over a block
      for (;;) {
        const size_t n = (*rx)->process_receive(1);
        ASSERT_LE(n, 1u);
        if (n == 0) break;
        ++calls;
      }
    }
    ASSERT_EQ(calls, want) << "round " << round;
  }
  const link::LinkCounters& c = (*rx)->counters();
  EXPECT_EQ(c.rx_frames, 3 * kFrames);
  EXPECT_EQ(c.rx_drop_other_host, 30u);
  EXPECT_EQ(c.rx_drop_vlan, 3u);
  EXPECT_EQ(c.rx_drop_bad_ring_header, 0u);
  EXPECT_EQ(c.rx_drop_outgoing, 0u);
  ASSERT_EQ(received.packets.size(), 3 * kFrames);
  for (uint32_t k = 0; k < 3 * kFrames; ++k) {
    const PacketBuffer& pkt = received.packets[k];
    EXPECT_EQ(pkt.size(), 100u + k % kFrames);
    EXPECT_EQ(link::testing::tag_of(pkt.to_vector()), k) << "frame " << k << " out of order";
    EXPECT_EQ(pkt.meta().link_source, peer);
    EXPECT_EQ(pkt.meta().network_protocol, kEtherTypeIpv4);
  }
  EXPECT_EQ((*tx)->counters().tx_frames, 3 * (kFrames + 11));
}

}  // namespace
}  // namespace weir
