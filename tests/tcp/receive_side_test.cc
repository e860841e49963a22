// The receive side's policies on their own: the advertised window and the ACK policy, without
// a connection around them (the connection tests cover the segments they lead to).
#include "tcp/receive_side.h"

#include <gtest/gtest.h>

#include <vector>

#include "stack/memory_budget.h"
#include "tcp/counters.h"

namespace weir::tcp {
namespace {

class ReceiveSideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    recv_.set_buffer(64 * 1024);
    recv_.start(SeqNum(99));
    (void)recv_.syn_window();
  }
  PacketBuffer bytes(size_t n) {
    std::vector<std::byte> b(n, std::byte{1});
    return PacketBuffer::from_bytes(ByteView(b));
  }
  TimePoint now_{};
  SocketMemory memory_{SocketMemoryLimits{1 << 30, 1 << 30, 1 << 30}};
  TcpCounters counters_;
  ReceiveSide recv_{memory_};
};

TEST_F(ReceiveSideTest, TheSynWindowIsUnscaledAndOpensTheRightEdge) {
  EXPECT_EQ(recv_.nxt(), SeqNum(100));
  EXPECT_EQ(recv_.window(), 65535u);
  EXPECT_TRUE(recv_.acceptable(SeqNum(100), 0));
  EXPECT_TRUE(recv_.acceptable(SeqNum(90), 20));  // ends inside the window
  EXPECT_FALSE(recv_.acceptable(SeqNum(100 + 65535), 1));
}

TEST_F(ReceiveSideTest, TheAdvertisedRightEdgeNeverMovesLeft) {
  recv_.set_window_scale(0);
  auto d = recv_.receive(SeqNum(100), bytes(30000), memory_, counters_, now_);
  EXPECT_TRUE(d.readable);
  EXPECT_EQ(recv_.nxt(), SeqNum(30100));
  // Unread, the data fills the buffer: the window shrinks by what came, never below its edge.
  uint16_t field = recv_.advertise(memory_, counters_, 1460);
  EXPECT_EQ(field, 65535u - 30000u);
  recv_.set_buffer(1000);  // a smaller buffer must not pull the edge back
  field = recv_.advertise(memory_, counters_, 1460);
  EXPECT_EQ(field, 65535u - 30000u);
}

TEST_F(ReceiveSideTest, QuickAcksFirstThenEverySecondSegment) {
  using Due = ReceiveSide::AckDue;
  for (int k = 0; k < 16; ++k) {
    EXPECT_EQ(recv_.schedule_ack(false, false, false, counters_), Due::kNow);
    EXPECT_TRUE(recv_.ack_now());
    recv_.on_ack_sent();
  }
  EXPECT_EQ(recv_.schedule_ack(false, false, false, counters_), Due::kDelayed);  // the timer
  EXPECT_FALSE(recv_.ack_now());
  EXPECT_TRUE(recv_.ack_pending());
  EXPECT_EQ(recv_.schedule_ack(false, false, false, counters_), Due::kNow);  // the second one
  EXPECT_TRUE(recv_.ack_now());
  EXPECT_EQ(counters_.quick_acks, 16u);
}

TEST_F(ReceiveSideTest, InABatchTheDueAckWaitsForTheBatchEndAndOneAckCoversAll) {
  using Due = ReceiveSide::AckDue;
  // Quick-ACK mode and every-second-segment alike: due, but at the batch's end.
  EXPECT_EQ(recv_.schedule_ack(false, false, true, counters_), Due::kAtBatchEnd);
  EXPECT_EQ(recv_.schedule_ack(false, false, true, counters_), Due::kAtBatchEnd);
  EXPECT_FALSE(recv_.ack_now());
  EXPECT_TRUE(recv_.ack_at_batch_end());
  recv_.on_ack_sent();  // one ACK (or data) for both segments
  EXPECT_FALSE(recv_.ack_at_batch_end());
  EXPECT_FALSE(recv_.ack_pending());
}

TEST_F(ReceiveSideTest, DataBeyondAGapIsAckedAtOnceAndAHeldFinCountsWhenItFills) {
  auto d = recv_.receive(SeqNum(200), bytes(100), memory_, counters_, now_);
  EXPECT_FALSE(d.readable);
  EXPECT_FALSE(d.schedule_ack);
  EXPECT_TRUE(recv_.ack_now());
  EXPECT_EQ(recv_.out_of_order_packets(), 1u);
  recv_.hold_fin(SeqNum(300));
  EXPECT_FALSE(recv_.held_fin_reached());
  recv_.on_ack_sent();
  d = recv_.receive(SeqNum(100), bytes(100), memory_, counters_, now_);
  EXPECT_TRUE(d.readable);
  EXPECT_EQ(recv_.nxt(), SeqNum(300));
  EXPECT_TRUE(recv_.held_fin_reached());
  recv_.receive_fin();
  EXPECT_EQ(recv_.nxt(), SeqNum(301));
  EXPECT_TRUE(recv_.fin_received());
}

}  // namespace
}  // namespace weir::tcp
