// The tap endpoint against the Linux kernel. Each test makes its own network namespace, opens
// the tap inside it and talks only to the kernel there; the namespace is deleted in TearDown,
// which also runs after a failed assertion.
#include "link/tap.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>

#include "link/ethernet.h"
#include "stack/checksum.h"
#include "stack/protocol.h"
#include "tests/link/recording_dispatcher.h"

namespace weir::link {
namespace {

using testing::RecordingDispatcher;

int run(const std::string& command) { return std::system(command.c_str()); }

TEST(TapOpen, RejectsBadNames) {
  std::string message;
  auto tap = TapEndpoint::open({.name = "a-name-that-is-too-long"}, &message);
  ASSERT_FALSE(tap);
  EXPECT_EQ(tap.error(), Error::kInvalidArgument);
  EXPECT_NE(message.find("15 characters"), std::string::npos) << message;
  EXPECT_FALSE(TapEndpoint::open({.name = ""}));
}

TEST(TapOpen, MissingDeviceWithoutCreateIsNoDevice) {
  std::string message;
  auto tap = TapEndpoint::open({.name = "weirnosuch0", .create_if_missing = false}, &message);
  ASSERT_FALSE(tap);
  EXPECT_EQ(tap.error(), Error::kNoDevice);
  EXPECT_NE(message.find("ip tuntap add"), std::string::npos) << message;
}

TEST(TapOpen, BadNamespacePathSaysWhich) {
  std::string message;
  auto tap = TapEndpoint::open({.name = "weirt0", .netns = "/nonexistent/netns"}, &message);
  ASSERT_FALSE(tap);
  EXPECT_NE(message.find("/nonexistent/netns"), std::string::npos) << message;
}

class TapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces and taps";
    if (::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/net/tun";
    static std::atomic<int> counter{0};
    netns_ = "weir-link-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    ASSERT_EQ(run("ip netns add " + netns_), 0);
    created_ = true;
    // Keep the kernel quiet: no IPv6 router solicitations or MLD reports on the new tap.
    ASSERT_EQ(in_netns("sysctl -qw net.ipv6.conf.default.disable_ipv6=1"), 0);
  }
  void TearDown() override {
    if (created_) run("ip netns del " + netns_);
  }

  int in_netns(const std::string& command) {
    return run("ip netns exec " + netns_ + " " + command);
  }
  std::string netns_path() const { return "/var/run/netns/" + netns_; }

  // Receives from tap until done() holds; false if the kernel sent nothing suitable within
  // 10 s (a wait for a real kernel, not a protocol timer).
  bool receive_until(TapEndpoint& tap, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd pfd{.fd = tap.readable_fd(), .events = POLLIN, .revents = 0};
      ::poll(&pfd, 1, 100);
      tap.process_receive(64);
    }
    return true;
  }

  std::string netns_;
  bool created_ = false;
};

const MacAddress kOurMac({0x02, 0x00, 0x5e, 0x10, 0x00, 0x02});
const Ipv4Address kOurIp(10, 77, 0, 2);
const Ipv4Address kKernelIp(10, 77, 0, 1);

PacketBuffer arp_request(Ipv4Address target) {
  std::vector<std::byte> arp(28);
  store_be16(arp, 0, 1);       // Ethernet
  store_be16(arp, 2, 0x0800);  // IPv4
  store_u8(arp, 4, 6);
  store_u8(arp, 5, 4);
  store_be16(arp, 6, 1);  // request
  copy_bytes(arp, 8, kOurMac.bytes());
  store_be32(arp, 14, kOurIp.value());
  store_be32(arp, 24, target.value());
  PacketBuffer pkt = PacketBuffer::from_bytes(arp);
  pkt.meta().network_protocol = kEtherTypeArp;
  pkt.meta().link_destination = MacAddress::broadcast();
  return pkt;
}

PacketBuffer echo_request(MacAddress to, uint16_t id, uint16_t seq) {
  std::vector<std::byte> ip(20 + 8 + 16);
  store_u8(ip, 0, 0x45);
  store_be16(ip, 2, static_cast<uint16_t>(ip.size()));
  store_be16(ip, 6, 0x4000);  // DF
  store_u8(ip, 8, 64);
  store_u8(ip, 9, kProtocolIcmp);
  store_be32(ip, 12, kOurIp.value());
  store_be32(ip, 16, kKernelIp.value());
  store_be16(ip, 10, internet_checksum(ByteView(ip).first(20)));
  store_u8(ip, 20, 8);  // echo request
  store_be16(ip, 24, id);
  store_be16(ip, 26, seq);
  for (size_t i = 28; i < ip.size(); ++i) store_u8(ip, i, static_cast<uint8_t>(i));
  store_be16(ip, 22, internet_checksum(ByteView(ip).subspan(20)));
  PacketBuffer pkt = PacketBuffer::from_bytes(ip);
  pkt.meta().network_protocol = kEtherTypeIpv4;
  pkt.meta().link_destination = to;
  return pkt;
}

TEST_F(TapTest, KernelAnswersArpAndPing) {
  std::string message;
  auto opened = TapEndpoint::open(
      {.name = "weirtap0", .mac = kOurMac, .bring_up = true, .netns = netns_path()}, &message);
  ASSERT_TRUE(opened) << message;
  TapEndpoint& tap = **opened;
  EXPECT_EQ(tap.name(), "weirtap0");
  EXPECT_EQ(tap.mtu(), 1500u);
  EXPECT_EQ(tap.link_address(), kOurMac);
  ASSERT_EQ(in_netns("ip addr add 10.77.0.1/24 dev weirtap0"), 0);
  RecordingDispatcher rx;
  tap.attach(&rx);

  // ARP: who has 10.77.0.1?
  PacketBuffer request[1] = {arp_request(kKernelIp)};
  ASSERT_EQ(tap.write_packets(request).value(), 1u);
  MacAddress kernel_mac;
  auto arp_reply = [&] {
    for (const auto& p : rx.packets) {
      if (p.meta().network_protocol != kEtherTypeArp || p.size() < 28) continue;
      const auto b = p.to_vector();
      if (load_be16(b, 6) == 2 && load_be32(b, 14) == kKernelIp.value()) {
        kernel_mac = MacAddress::from_bytes(ByteView(b).subspan(8, 6));
        EXPECT_EQ(MacAddress::from_bytes(ByteView(b).subspan(18, 6)), kOurMac);
        EXPECT_EQ(p.meta().link_type, LinkPacketType::kHost);
        EXPECT_EQ(p.meta().link_destination, kOurMac);
        return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(receive_until(tap, arp_reply)) << "no ARP reply from the kernel";
  EXPECT_FALSE(kernel_mac.is_zero());
  EXPECT_NE(kernel_mac, kOurMac);

  // ICMP echo, in a batch of three.
  std::vector<PacketBuffer> pings;
  for (uint16_t seq = 1; seq <= 3; ++seq) pings.push_back(echo_request(kernel_mac, 0x77, seq));
  ASSERT_EQ(tap.write_packets(pings).value(), 3u);
  auto replies = [&] {
    int n = 0;
    for (const auto& p : rx.packets) {
      if (p.meta().network_protocol != kEtherTypeIpv4 || p.size() < 28) continue;
      const auto b = p.to_vector();
      if (load_u8(b, 9) == kProtocolIcmp && load_u8(b, 20) == 0 && load_be16(b, 24) == 0x77) {
        EXPECT_EQ(load_be32(b, 16), kOurIp.value());
        EXPECT_EQ(p.meta().link_source, kernel_mac);
        ++n;
      }
    }
    return n == 3;
  };
  ASSERT_TRUE(receive_until(tap, replies)) << "no echo replies from the kernel";
  EXPECT_EQ(tap.counters().tx_frames, 4u);
  EXPECT_GE(tap.counters().rx_frames, 4u);
  EXPECT_EQ(tap.counters().rx_errors, 0u);
}

TEST_F(TapTest, AttachesToExistingTapAndSetsMtu) {
  ASSERT_EQ(in_netns("ip tuntap add dev weirtap1 mode tap"), 0);
  std::string message;
  auto tap = TapEndpoint::open(
      {.name = "weirtap1", .mtu = 1400, .create_if_missing = false, .netns = netns_path()},
      &message);
  ASSERT_TRUE(tap) << message;
  EXPECT_EQ((*tap)->mtu(), 1400u);
  EXPECT_EQ(in_netns("sh -c 'ip link show weirtap1 | grep -q \"mtu 1400\"'"), 0);
  // A random MAC is unicast and locally administered.
  const auto o = (*tap)->link_address().octets();
  EXPECT_EQ(o[0] & 0x03, 0x02);
  // Frames larger than the MTU are dropped and counted, the rest of the batch goes on.
  std::vector<PacketBuffer> batch;
  batch.push_back(PacketBuffer::allocate(1401));
  batch.push_back(arp_request(kKernelIp));
  for (auto& p : batch) p.meta().network_protocol = kEtherTypeArp;
  // The kernel side is down: the write is refused or accepted, but never crashes or blocks.
  auto sent = (*tap)->write_packets(batch);
  EXPECT_EQ((*tap)->counters().tx_drop_too_big, 1u);
  (void)sent;
  // Nothing to read: process_receive returns at once.
  EXPECT_EQ((*tap)->process_receive(64), 0u);
}

TEST_F(TapTest, QueueHoldsTheBytesAsked) {
  std::string message;
  auto tap = TapEndpoint::open({.name = "weirtap2", .netns = netns_path(), .offloads = false,
                                .queue_bytes = 4 * 1024 * 1024},
                               &message);
  ASSERT_TRUE(tap) << message;
  // 4 MiB of 1514-byte frames: a sender with a 4 MiB window in flight never meets a full queue.
  const uint32_t expected = 4 * 1024 * 1024 / 1514 + 1;
  EXPECT_EQ((*tap)->queue_frames(), expected);
  EXPECT_EQ(in_netns("sh -c 'ip link show weirtap2 | grep -q \"qlen " + std::to_string(expected) +
                     "\"'"),
            0);
  // Asking for less than the device holds never lowers it.
  auto again = TapEndpoint::open({.name = "weirtap3", .netns = netns_path(), .queue_bytes = 1},
                                 &message);
  ASSERT_TRUE(again) << message;
  EXPECT_GE((*again)->queue_frames(), 500u);
}

TEST_F(TapTest, MultiQueueKeepsEachFlowOnItsQueue) {
  // Two queues of one device, as two loops would open them. Each pings the kernel from its own
  // address; the kernel answers each flow on the queue that sent it.
  std::string message;
  TapOptions options{.name = "weirmq0", .mac = kOurMac, .bring_up = true, .netns = netns_path(),
                     .multi_queue = true};
  auto first = TapEndpoint::open(options, &message);
  ASSERT_TRUE(first) << message;
  auto second = TapEndpoint::open(options, &message);
  ASSERT_TRUE(second) << message;
  // A queue opened without IFF_MULTI_QUEUE cannot join: one line says why.
  options.multi_queue = false;
  auto odd = TapEndpoint::open(options, &message);
  ASSERT_FALSE(odd);
  EXPECT_NE(message.find("multi-queue"), std::string::npos) << message;

  ASSERT_EQ(in_netns("ip addr add 10.77.0.1/24 dev weirmq0"), 0);
  ASSERT_EQ(in_netns("ip neigh add 10.77.0.2 lladdr 02:00:5e:10:00:02 dev weirmq0"), 0);
  ASSERT_EQ(in_netns("ip neigh add 10.77.0.3 lladdr 02:00:5e:10:00:02 dev weirmq0"), 0);
  RecordingDispatcher rx_first;
  RecordingDispatcher rx_second;
  (*first)->attach(&rx_first);
  (*second)->attach(&rx_second);
  // The kernel's MAC, from its sysfs file inside the namespace.
  const std::string mac_file = "/tmp/weir-mq-mac-" + netns_;
  ASSERT_EQ(in_netns("sh -c 'cat /sys/class/net/weirmq0/address > " + mac_file + "'"), 0);
  FILE* f = std::fopen(mac_file.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char text[32] = {};
  ASSERT_NE(std::fgets(text, sizeof text, f), nullptr);
  std::fclose(f);
  std::remove(mac_file.c_str());
  auto kernel_mac = MacAddress::parse(std::string(text, 17));
  ASSERT_TRUE(kernel_mac);

  auto ping_from = [&](Ipv4Address from, uint16_t seq) {
    PacketBuffer pkt = echo_request(*kernel_mac, 0x100, seq);
    auto bytes = pkt.to_vector();
    store_be32(bytes, 12, from.value());
    store_be16(bytes, 10, 0);
    store_be16(bytes, 10, internet_checksum(ByteView(bytes).first(20)));
    PacketBuffer out = PacketBuffer::from_bytes(bytes);
    out.meta() = pkt.meta();
    return out;
  };
  // Echo replies to `to`, by sequence number (warm-up 1, steered rounds above it).
  auto replies_to = [](const RecordingDispatcher& rx, Ipv4Address to, bool steered) {
    int n = 0;
    for (const auto& p : rx.packets) {
      if (p.meta().network_protocol != kEtherTypeIpv4 || p.size() < 28) continue;
      const auto b = p.to_vector();
      if (load_u8(b, 9) == kProtocolIcmp && load_u8(b, 20) == 0 &&
          load_be32(b, 16) == to.value() && (load_be16(b, 26) > 1) == steered)
        ++n;
    }
    return n;
  };
  const Ipv4Address second_ip(10, 77, 0, 3);
  auto receive_both = [&](int want, bool steered) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (replies_to(rx_first, kOurIp, steered) + replies_to(rx_second, kOurIp, steered) < want ||
           replies_to(rx_first, second_ip, steered) + replies_to(rx_second, second_ip, steered) <
               want) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd pfds[2] = {{.fd = (*first)->readable_fd(), .events = POLLIN, .revents = 0},
                        {.fd = (*second)->readable_fd(), .events = POLLIN, .revents = 0}};
      ::poll(pfds, 2, 100);
      (*first)->process_receive(64);
      (*second)->process_receive(64);
    }
    return true;
  };
  // The kernel learns a flow's queue when that queue's packet has been delivered, which is
  // after the first reply went out: the first round's replies may land on either queue.
  for (uint16_t seq = 1; seq <= 4; ++seq) {
    PacketBuffer a[1] = {ping_from(kOurIp, seq)};
    PacketBuffer b[1] = {ping_from(second_ip, seq)};
    ASSERT_EQ((*first)->write_packets(a).value(), 1u);
    ASSERT_EQ((*second)->write_packets(b).value(), 1u);
    if (seq == 1) {
      ASSERT_TRUE(receive_both(1, false)) << "no echo replies from the kernel";
    }
  }
  ASSERT_TRUE(receive_both(3, true)) << "no echo replies from the kernel";
  EXPECT_EQ(replies_to(rx_first, kOurIp, true), 3);
  EXPECT_EQ(replies_to(rx_second, second_ip, true), 3);
  EXPECT_EQ(replies_to(rx_first, second_ip, true), 0);
  EXPECT_EQ(replies_to(rx_second, kOurIp, true), 0);
}

}  // namespace
}  // namespace weir::link
