#include "link/frame_queue.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/link/recording_dispatcher.h"

namespace weir::link {
namespace {

using testing::make_packet;
using testing::tag_of;

std::unique_ptr<FrameQueue> make_queue(size_t limit) {
  return FrameQueue::create({.limit = limit, .locked = false, .signalled = false}).value();
}

uint32_t pop_tag(FrameQueue& queue) {
  PacketBuffer out;
  if (!queue.pop(out)) return 0;
  return tag_of(out.to_vector());
}

// The ring grows while packets sit in it with their oldest at any slot: order survives every
// growth and every wrap of the head and tail around the ring.
TEST(FrameQueue, KeepsOrderThroughGrowthAndWrapping) {
  auto queue = make_queue(100);
  EXPECT_TRUE(queue->unshared());
  uint32_t next_in = 1;
  uint32_t next_out = 1;
  // Steps of pushing more than popping walk the head around rings of 16, 32, 64 and 100 slots.
  for (int step = 0; step < 60; ++step) {
    for (int i = 0; i < 3 && queue->size() < queue->limit(); ++i) {
      PacketBuffer pkt = make_packet(next_in++);
      ASSERT_TRUE(queue->push(pkt));
    }
    ASSERT_EQ(pop_tag(*queue), next_out++);
    ASSERT_EQ(queue->size(), size_t{next_in - next_out});
  }
  while (next_out < next_in) ASSERT_EQ(pop_tag(*queue), next_out++);
  EXPECT_TRUE(queue->idle());
  PacketBuffer none;
  EXPECT_FALSE(queue->pop(none));
}

TEST(FrameQueue, RefusesPastTheLimitAndLeavesThePacket) {
  auto queue = make_queue(20);
  for (uint32_t tag = 1; tag <= 20; ++tag) {
    PacketBuffer pkt = make_packet(tag);
    ASSERT_TRUE(queue->push(pkt));
  }
  PacketBuffer extra = make_packet(99);
  EXPECT_FALSE(queue->push(extra));
  EXPECT_EQ(tag_of(extra.to_vector()), 99u);  // still the caller's
  EXPECT_EQ(queue->size(), 20u);
  // A slot freed at the head takes the next packet at the tail, wrapped around the ring.
  EXPECT_EQ(pop_tag(*queue), 1u);
  EXPECT_TRUE(queue->push(extra));
  std::vector<PacketBuffer> all;
  EXPECT_EQ(queue->pop_batch(100, all), 20u);
  ASSERT_EQ(all.size(), 20u);
  for (uint32_t i = 0; i < 19; ++i) EXPECT_EQ(tag_of(all[i].to_vector()), i + 2);
  EXPECT_EQ(tag_of(all[19].to_vector()), 99u);
}

TEST(FrameQueue, ClearDropsEverythingAndTheQueueStartsAgain) {
  auto queue = make_queue(64);
  for (uint32_t tag = 1; tag <= 40; ++tag) {
    PacketBuffer pkt = make_packet(tag);
    ASSERT_TRUE(queue->push(pkt));
  }
  queue->clear();
  EXPECT_EQ(queue->size(), 0u);
  EXPECT_TRUE(queue->idle());
  PacketBuffer pkt = make_packet(7);
  ASSERT_TRUE(queue->push(pkt));
  EXPECT_EQ(pop_tag(*queue), 7u);
}

}  // namespace
}  // namespace weir::link
