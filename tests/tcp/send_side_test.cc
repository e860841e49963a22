// The send side's bookkeeping on its own: records, loss marks and the window, without a
// connection around them (the connection tests cover how they are used).
#include "tcp/send_side.h"

#include <gtest/gtest.h>

#include <vector>

namespace weir::tcp {
namespace {

class SendSideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    send_.start(SeqNum(999), SeqNum(1000), SeqNum(1000));
    std::vector<std::byte> bytes(10000, std::byte{7});
    send_.queue().append(ByteView(bytes), bytes.size());
  }
  TimePoint at(int ms) { return TimePoint{} + std::chrono::milliseconds(ms); }
  SendSide send_;
};

TEST_F(SendSideTest, NewRecordsAdvanceSndNxt) {
  EXPECT_EQ(send_.record_new(1000, false, false, at(1)), SeqNum(1000));
  EXPECT_EQ(send_.record_new(500, false, true, at(2)), SeqNum(2000));
  EXPECT_EQ(send_.nxt(), SeqNum(2500));
  EXPECT_EQ(send_.outstanding(), 1500u);
  EXPECT_EQ(send_.record_count(), 2u);
  EXPECT_TRUE(send_.small_segment_in_flight());
  EXPECT_EQ(send_.unsent(), 8500u);
}

TEST_F(SendSideTest, AcknowledgeRetiresWholeRecordsAndCutsThePartialOne) {
  send_.record_new(1000, false, false, at(1));
  send_.record_new(1000, false, false, at(2));
  send_.mark_lost(send_.record(1));
  EXPECT_EQ(send_.lost_bytes(), 1000u);
  std::vector<std::pair<uint32_t, bool>> retired;
  send_.acknowledge(SeqNum(2400), 0, [&](const SentSegment& s, bool whole) {
    retired.emplace_back(s.begin.value(), whole);
  });
  ASSERT_EQ(retired.size(), 2u);
  EXPECT_EQ(retired[0], std::make_pair(1000u, true));
  EXPECT_EQ(retired[1], std::make_pair(2000u, false));
  EXPECT_EQ(send_.una(), SeqNum(2400));
  EXPECT_EQ(send_.record_count(), 1u);
  EXPECT_EQ(send_.record(0).begin, SeqNum(2400));
  EXPECT_EQ(send_.lost_bytes(), 600u);  // the acknowledged part of a lost record is not lost
  EXPECT_EQ(send_.queue().size(), 10000u - 1400u);
}

TEST_F(SendSideTest, FullyAcknowledgedRecordsHoldNoStorage) {
  EXPECT_FALSE(send_.records_hold_storage());
  send_.record_new(1000, false, false, at(1));
  send_.record_new(1000, false, false, at(2));
  EXPECT_TRUE(send_.records_hold_storage());
  send_.acknowledge(SeqNum(2000), 0, [](const SentSegment&, bool) {});
  EXPECT_EQ(send_.record_count(), 1u);
  EXPECT_TRUE(send_.records_hold_storage());
  send_.acknowledge(SeqNum(3000), 0, [](const SentSegment&, bool) {});
  EXPECT_EQ(send_.record_count(), 0u);
  EXPECT_FALSE(send_.records_hold_storage());
  // The next burst takes storage again.
  EXPECT_EQ(send_.record_new(100, false, true, at(3)), SeqNum(3000));
  EXPECT_TRUE(send_.records_hold_storage());
}

TEST_F(SendSideTest, SackedRecordsAreNeverLost) {
  send_.record_new(1000, false, false, at(1));
  send_.mark_lost(send_.record(0));
  send_.mark_sacked(send_.record(0));
  EXPECT_EQ(send_.lost_bytes(), 0u);
  send_.mark_lost(send_.record(0));
  EXPECT_FALSE(send_.record(0).lost);
  EXPECT_EQ(send_.lost_bytes(), 0u);
}

TEST_F(SendSideTest, SplitAtCutsOnlyInsideARecord) {
  send_.record_new(3000, false, false, at(1));
  send_.split_at(SeqNum(1000));  // an edge: nothing to cut
  EXPECT_EQ(send_.record_count(), 1u);
  send_.split_at(SeqNum(2000));
  ASSERT_EQ(send_.record_count(), 2u);
  EXPECT_EQ(send_.record(0).end, SeqNum(2000));
  EXPECT_EQ(send_.record(1).begin, SeqNum(2000));
  EXPECT_EQ(send_.record(1).sent, at(1));
  EXPECT_EQ(send_.first_record_ending_after(SeqNum(2500)), 1u);
  EXPECT_EQ(send_.first_record_ending_after(SeqNum(4000)), 2u);
}

TEST_F(SendSideTest, RetransmissionOfAWideRecordSendsOneMssAndLeavesTheTailLost) {
  send_.record_new(3000, false, false, at(1));
  send_.mark_lost(send_.record(0));
  SendSide::Retransmission r = send_.retransmit(0, 1000, at(5));
  EXPECT_EQ(r.seq, SeqNum(1000));
  EXPECT_EQ(r.data_len, 1000u);
  EXPECT_EQ(r.payload.size(), 1000u);
  EXPECT_FALSE(r.fin);
  ASSERT_EQ(send_.record_count(), 2u);
  EXPECT_TRUE(send_.record(0).retransmitted);
  EXPECT_FALSE(send_.record(0).lost);
  EXPECT_EQ(send_.record(0).sent, at(5));
  EXPECT_TRUE(send_.record(1).lost);
  EXPECT_EQ(send_.lost_bytes(), 2000u);
  EXPECT_EQ(send_.total_retransmits(), 1u);
  EXPECT_EQ(send_.bytes_retransmitted(), 1000u);
}

TEST_F(SendSideTest, RetransmissionOfTheLastRecordCarriesTheFin) {
  send_.queue_fin();
  send_.record_new(10000, true, false, at(1));
  EXPECT_TRUE(send_.fin_sent());
  EXPECT_FALSE(send_.fin_ready());
  send_.split_at(SeqNum(10500));
  SendSide::Retransmission r = send_.retransmit(1, 1000, at(2));
  EXPECT_TRUE(r.fin);
  EXPECT_EQ(r.data_len, 500u);
}

TEST_F(SendSideTest, OnlyANewerSegmentMovesTheWindow) {
  send_.set_window_scale(2);
  send_.set_window(1000, SeqNum(50), SeqNum(1000));
  EXPECT_FALSE(send_.update_window(SeqNum(49), SeqNum(1000), 10));  // older
  EXPECT_EQ(send_.window(), 1000u);
  EXPECT_FALSE(send_.update_window(SeqNum(50), SeqNum(1000), 0));
  EXPECT_EQ(send_.window(), 0u);
  EXPECT_TRUE(send_.update_window(SeqNum(51), SeqNum(1000), 10));  // opened
  EXPECT_EQ(send_.window(), 40u);
  EXPECT_EQ(send_.max_window(), 1000u);
}

}  // namespace
}  // namespace weir::tcp
