// Link endpoints under a real Stack and Loop: NICs attach to them, frames reach the network
// protocol registered for their EtherType, and a thread-safe channel joins two stacks that
// run on their own threads.
#include <gtest/gtest.h>

#include <thread>

#include "link/channel.h"
#include "link/fault.h"
#include "link/loopback.h"
#include "link/sniffer.h"
#include "stack/loop.h"
#include "stack/nic.h"
#include "stack/protocol.h"
#include "stack/stack.h"
#include "tests/link/recording_dispatcher.h"

namespace weir::link {
namespace {

using testing::make_packet;
using testing::tag_of;

// 0x88b5: the IEEE "local experimental" EtherType, so no real protocol is involved.
constexpr uint16_t kEtherTypeExperimental = 0x88b5;

class RecordingProtocol final : public NetworkProtocol {
 public:
  explicit RecordingProtocol(std::function<void(Nic&, PacketBuffer&)> on_packet = {})
      : on_packet_(std::move(on_packet)) {}
  uint16_t ethertype() const override { return kEtherTypeExperimental; }
  void handle_packet(Nic& nic, PacketBuffer&& pkt) override {
    nics.push_back(nic.id());
    if (on_packet_) on_packet_(nic, pkt);
    packets.push_back(std::move(pkt));
  }
  std::vector<NicId> nics;
  std::vector<PacketBuffer> packets;

 private:
  std::function<void(Nic&, PacketBuffer&)> on_packet_;
};

TEST(StackLink, TwoStacksOverChannelPair) {
  ManualClock clock;
  Stack a(clock, repeatable_stack_options(1));
  Stack b(clock, repeatable_stack_options(2));
  auto pair = ChannelEndpoint::make_pair();
  ChannelEndpoint& link_a = *pair.a;
  ChannelEndpoint& link_b = *pair.b;
  const MacAddress mac_b = link_b.link_address();
  const NicId nic_a = a.add_nic(std::move(pair.a), "eth0").value();
  const NicId nic_b = b.add_nic(std::move(pair.b), "eth0").value();
  auto& proto_b = b.add_network_protocol(std::make_unique<RecordingProtocol>());
  EXPECT_TRUE(link_a.attached());

  for (uint32_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(a.nic(nic_a)->write_packet(make_packet(i, 100, kEtherTypeExperimental, mac_b)));
  }
  EXPECT_EQ(ChannelEndpoint::pump(link_a, link_b), 4u);
  ASSERT_EQ(proto_b.packets.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(tag_of(proto_b.packets[i].to_vector()), i);
    EXPECT_EQ(proto_b.nics[i], nic_b);
  }
  EXPECT_EQ(a.nic(nic_a)->counters().tx_packets, 4u);
  EXPECT_EQ(b.nic(nic_b)->counters().rx_packets, 4u);
}

TEST(StackLink, FaultAndSnifferStackUnderANic) {
  ManualClock clock;
  Stack a(clock, repeatable_stack_options(1));
  Stack b(clock, repeatable_stack_options(2));
  auto pair = ChannelEndpoint::make_pair();
  ChannelEndpoint& link_b = *pair.b;
  const MacAddress mac_b = link_b.link_address();
  auto fault = std::make_unique<FaultEndpoint>(std::move(pair.a), a.timers(),
                                               FaultOptions{.seed = 4, .drop = 0.5});
  FaultEndpoint& fault_ref = *fault;
  const std::string path = ::testing::TempDir() + "weir_stack_link.pcap";
  auto sniffer = SnifferEndpoint::create(std::move(fault), path, clock).value();
  const NicId nic_a = a.add_nic(std::move(sniffer), "eth0").value();
  b.add_nic(std::move(pair.b), "eth0").value();
  auto& proto_b = b.add_network_protocol(std::make_unique<RecordingProtocol>());
  for (uint32_t i = 0; i < 100; ++i) {
    (void)a.nic(nic_a)->write_packet(make_packet(i, 64, kEtherTypeExperimental, mac_b));
  }
  link_b.process_receive(SIZE_MAX);
  EXPECT_EQ(proto_b.packets.size(), 100u - fault_ref.counters().tx_dropped);
  EXPECT_GT(fault_ref.counters().tx_dropped, 0u);
  std::remove(path.c_str());
}

TEST(StackLink, LoopbackDeliversBackToTheSameStack) {
  ManualClock clock;
  Stack s(clock, repeatable_stack_options(1));
  const NicId nic = s.add_nic(LoopbackEndpoint::create().value(), "lo").value();
  auto& proto = s.add_network_protocol(std::make_unique<RecordingProtocol>());
  ASSERT_TRUE(s.nic(nic)->write_packet(make_packet(5, 64, kEtherTypeExperimental)));
  EXPECT_TRUE(proto.packets.empty());
  EXPECT_EQ(s.nic(nic)->endpoint().process_receive(64), 1u);
  ASSERT_EQ(proto.packets.size(), 1u);
  EXPECT_EQ(tag_of(proto.packets[0].to_vector()), 5u);
}

// Stack a's thread sends kFrames frames; stack b's thread echoes each back; a stops when all
// echoes are in, then tells b to stop. Each stack is touched only by its own Loop's thread.
TEST(StackLink, ThreadSafeChannelJoinsStacksOnTwoLoops) {
  constexpr uint32_t kFrames = 200;
  SteadyClock clock;
  Stack a(clock, repeatable_stack_options(1));
  Stack b(clock, repeatable_stack_options(2));
  auto pair = ChannelEndpoint::make_pair({.queue_limit = 4096, .thread_safe = true});
  ChannelEndpoint& link_a = *pair.a;
  ChannelEndpoint& link_b = *pair.b;
  const MacAddress mac_b = link_b.link_address();
  const NicId nic_a = a.add_nic(std::move(pair.a), "eth0").value();
  b.add_nic(std::move(pair.b), "eth0").value();
  Loop loop_a(a);
  Loop loop_b(b);

  auto& proto_b =
      b.add_network_protocol(std::make_unique<RecordingProtocol>([](Nic& nic, PacketBuffer& pkt) {
        PacketBuffer echo = pkt.clone();
        echo.meta().link_destination = pkt.meta().link_source;
        (void)nic.write_packet(std::move(echo));
      }));
  auto& proto_a = a.add_network_protocol(std::make_unique<RecordingProtocol>());
  ASSERT_TRUE(loop_a.watch(link_a));
  ASSERT_TRUE(loop_b.watch(link_b));

  std::thread thread_b([&] { loop_b.run(); });
  loop_a.post([&] {
    for (uint32_t i = 0; i < kFrames; ++i) {
      ASSERT_TRUE(a.nic(nic_a)->write_packet(make_packet(i, 64, kEtherTypeExperimental, mac_b)));
    }
  });
  // Bounded so that a lost wakeup fails the test instead of hanging it.
  for (int turns = 0; turns < 100'000 && proto_a.packets.size() < kFrames; ++turns) {
    loop_a.run_once(std::chrono::seconds(10));
  }
  loop_b.stop();
  thread_b.join();
  loop_a.unwatch_fd(link_a.readable_fd());
  loop_b.unwatch_fd(link_b.readable_fd());

  ASSERT_EQ(proto_a.packets.size(), kFrames);
  EXPECT_EQ(proto_b.packets.size(), kFrames);
  for (uint32_t i = 0; i < kFrames; ++i) EXPECT_EQ(tag_of(proto_a.packets[i].to_vector()), i);
}

}  // namespace
}  // namespace weir::link
