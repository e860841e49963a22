#include "link/loopback.h"

#include <gtest/gtest.h>
#include <poll.h>

#include "tests/link/recording_dispatcher.h"

namespace weir::link {
namespace {

using testing::make_packet;
using testing::RecordingDispatcher;
using testing::tag_of;

bool fd_readable(int fd) {
  pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
  return ::poll(&pfd, 1, 0) == 1;
}

TEST(Loopback, Capabilities) {
  auto ep = LoopbackEndpoint::create().value();
  EXPECT_EQ(ep->mtu(), 65536u);
  EXPECT_EQ(ep->max_header_length(), 0);
  EXPECT_TRUE(ep->capabilities().loopback);
  EXPECT_FALSE(ep->capabilities().resolution_required);
  EXPECT_TRUE(ep->link_address().is_zero());
}

TEST(Loopback, DeliversBackOnProcessReceiveNotDuringWrite) {
  auto ep = LoopbackEndpoint::create().value();
  RecordingDispatcher rx;
  ep->attach(&rx);
  std::vector<PacketBuffer> batch;
  batch.push_back(make_packet(1, 100, kEtherTypeIpv4));
  batch.push_back(make_packet(2, 60000, kEtherTypeIpv6));
  batch[0].meta().needs_checksum = true;
  EXPECT_FALSE(fd_readable(ep->readable_fd()));
  ASSERT_EQ(ep->write_packets(batch).value(), 2u);
  EXPECT_TRUE(rx.packets.empty());
  EXPECT_EQ(ep->pending(), 2u);
  EXPECT_TRUE(fd_readable(ep->readable_fd()));
  EXPECT_EQ(ep->process_receive(64), 2u);
  EXPECT_FALSE(fd_readable(ep->readable_fd()));
  ASSERT_EQ(rx.packets.size(), 2u);
  EXPECT_EQ(tag_of(rx.packets[0].to_vector()), 1u);
  EXPECT_EQ(rx.packets[0].meta().network_protocol, kEtherTypeIpv4);
  EXPECT_FALSE(rx.packets[0].meta().needs_checksum);
  EXPECT_EQ(rx.packets[0].meta().link_type, LinkPacketType::kHost);
  EXPECT_EQ(rx.packets[1].size(), 60000u);
  EXPECT_EQ(rx.packets[1].meta().network_protocol, kEtherTypeIpv6);
  EXPECT_EQ(ep->counters().tx_frames, 2u);
  EXPECT_EQ(ep->counters().rx_frames, 2u);
}

TEST(Loopback, BudgetLeavesRestQueuedAndFdReadable) {
  auto ep = LoopbackEndpoint::create().value();
  RecordingDispatcher rx;
  ep->attach(&rx);
  std::vector<PacketBuffer> batch;
  for (uint32_t i = 0; i < 10; ++i) batch.push_back(make_packet(i));
  ASSERT_EQ(ep->write_packets(batch).value(), 10u);
  EXPECT_EQ(ep->process_receive(4), 4u);
  EXPECT_TRUE(fd_readable(ep->readable_fd()));
  EXPECT_EQ(ep->process_receive(100), 6u);
  for (uint32_t i = 0; i < 10; ++i) EXPECT_EQ(tag_of(rx.packets[i].to_vector()), i);
}

// A dispatcher that answers each packet tagged below `last` with the next tag, as a stack
// answers on the loopback from inside the delivery.
class Answering final : public NetworkDispatcher {
 public:
  Answering(LoopbackEndpoint& ep, uint32_t last) : ep_(ep), last_(last) {}
  void deliver_network_packet(PacketBuffer&& pkt) override {
    const uint32_t tag = tag_of(pkt.to_vector());
    tags.push_back(tag);
    if (tag < last_) {
      std::vector<PacketBuffer> answer;
      answer.push_back(make_packet(tag + 1));
      EXPECT_EQ(ep_.write_packets(answer).value(), 1u);
    }
  }
  std::vector<uint32_t> tags;

 private:
  LoopbackEndpoint& ep_;
  uint32_t last_;
};

// What the stack writes while the loopback delivers comes back in the same process_receive
// (the fd needs no wake-up for it), and the fd is left readable exactly when packets remain:
// when the budget ran out first, a Loop must come back for the rest.
TEST(Loopback, AnswersSentDuringDeliveryComeBackInTheSameReceive) {
  auto ep = LoopbackEndpoint::create().value();
  Answering stack(*ep, 9);
  ep->attach(&stack);
  std::vector<PacketBuffer> first;
  first.push_back(make_packet(0));
  ASSERT_EQ(ep->write_packets(first).value(), 1u);
  ASSERT_TRUE(fd_readable(ep->readable_fd()));
  EXPECT_EQ(ep->process_receive(64), 10u);
  EXPECT_EQ(stack.tags, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(ep->pending(), 0u);
  EXPECT_FALSE(fd_readable(ep->readable_fd()));

  stack.tags.clear();
  ASSERT_EQ(ep->write_packets(first).value(), 1u);
  EXPECT_EQ(ep->process_receive(4), 4u);
  EXPECT_EQ(ep->pending(), 1u);  // the answer to 3
  EXPECT_TRUE(fd_readable(ep->readable_fd()));
  EXPECT_EQ(ep->process_receive(64), 6u);
  EXPECT_EQ(stack.tags, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_FALSE(fd_readable(ep->readable_fd()));
  // A receive with nothing queued leaves the fd as it found it.
  EXPECT_EQ(ep->process_receive(64), 0u);
  EXPECT_FALSE(fd_readable(ep->readable_fd()));
  ASSERT_EQ(ep->write_packets(first).value(), 1u);
  EXPECT_TRUE(fd_readable(ep->readable_fd()));
}

TEST(Loopback, DropsTooBigQueueFullAndUnattached) {
  auto ep = LoopbackEndpoint::create({.mtu = 1000, .queue_limit = 2, .with_fd = false}).value();
  EXPECT_EQ(ep->readable_fd(), -1);
  std::vector<PacketBuffer> batch;
  batch.push_back(make_packet(1, 1001));
  for (uint32_t i = 0; i < 3; ++i) batch.push_back(make_packet(i));
  EXPECT_EQ(ep->write_packets(batch).value(), 2u);
  EXPECT_EQ(ep->counters().tx_drop_too_big, 1u);
  EXPECT_EQ(ep->counters().tx_drop_queue_full, 1u);
  EXPECT_EQ(ep->transmit_room(), 0u);  // what TCP asks before it sends
  EXPECT_EQ(ep->process_receive(10), 2u);
  EXPECT_EQ(ep->counters().rx_drop_not_attached, 2u);
  EXPECT_EQ(ep->transmit_room(), 2u);
}

// A reset loopback is the one create() made: nothing queued or signalled, every counter zero,
// and its queue works as a new one (the sandbox fuzz target keeps one for the process).
TEST(Loopback, ResetLeavesWhatCreateLeaves) {
  auto ep = LoopbackEndpoint::create({.mtu = 1000, .queue_limit = 3}).value();
  const int fd = ep->readable_fd();
  std::vector<PacketBuffer> batch;
  batch.push_back(make_packet(1, 1001));  // too big
  for (uint32_t i = 0; i < 4; ++i) batch.push_back(make_packet(i));  // one past the limit
  ASSERT_EQ(ep->write_packets(batch).value(), 3u);
  ASSERT_TRUE(fd_readable(fd));

  ep->reset();

  EXPECT_EQ(ep->readable_fd(), fd);
  EXPECT_EQ(ep->pending(), 0u);
  EXPECT_FALSE(fd_readable(fd));
  ep->counters().for_each([](std::string_view name, uint64_t value) {
    EXPECT_EQ(value, 0u) << name;
  });
  RecordingDispatcher rx;
  ep->attach(&rx);
  batch.clear();
  for (uint32_t i = 10; i < 14; ++i) batch.push_back(make_packet(i));
  EXPECT_EQ(ep->write_packets(batch).value(), 3u);  // the whole limit again
  EXPECT_EQ(ep->process_receive(64), 3u);
  ASSERT_EQ(rx.packets.size(), 3u);
  EXPECT_EQ(tag_of(rx.packets[0].to_vector()), 10u);
  EXPECT_EQ(ep->counters().rx_frames, 3u);
  EXPECT_EQ(ep->counters().tx_drop_queue_full, 1u);
}

}  // namespace
}  // namespace weir::link
