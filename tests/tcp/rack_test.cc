#include "tcp/rack.h"

#include <gtest/gtest.h>

namespace weir::tcp {
namespace {

using std::chrono::milliseconds;

TimePoint at(int ms) { return TimePoint{milliseconds(1'000'000 + ms)}; }

Rack::SentSegment seg(uint32_t end, int sent_ms, bool rexmit = false) {
  return {SeqNum(end), at(sent_ms), rexmit};
}

TEST(Rack, LaterSentDeliveryMarksEarlierLostAfterRttPlusWindow) {
  Rack rack;
  // Segments 1..3 sent at t=0,1,2 ms; segment 3 is SACKed at t=50 (RTT 48 ms).
  rack.on_delivered(seg(3000, 2), at(50), milliseconds(48), false);
  EXPECT_EQ(rack.rtt(), milliseconds(48));
  Duration reo = rack.reorder_window(false, 1, milliseconds(48), milliseconds(48));
  EXPECT_EQ(reo, milliseconds(12));  // min_rtt / 4

  Duration wait{0};
  // Segment 1 (sent t=0): lost when now >= 0 + 48 + 12 = 60 ms.
  EXPECT_FALSE(rack.is_lost(seg(1000, 0), at(50), reo, &wait));
  EXPECT_EQ(wait, milliseconds(10));
  EXPECT_TRUE(rack.is_lost(seg(1000, 0), at(60), reo, nullptr));
  // A segment sent after the delivered one is never judged by it.
  wait = Duration{0};
  EXPECT_FALSE(rack.is_lost(seg(4000, 3), at(500), reo, &wait));
  EXPECT_EQ(wait, Duration{0});
}

TEST(Rack, ZeroWindowAfterDupThreshSacksWithoutReordering) {
  Rack rack;
  rack.on_delivered(seg(5000, 5), at(55), milliseconds(50), false);
  EXPECT_EQ(rack.reorder_window(false, 3, milliseconds(50), milliseconds(50)), Duration{0});
  EXPECT_EQ(rack.reorder_window(true, 0, milliseconds(50), milliseconds(50)), Duration{0});
  EXPECT_TRUE(rack.is_lost(seg(1000, 0), at(55), Duration{0}, nullptr));
}

TEST(Rack, ReorderingKeepsTheWindowOpenAndDsackWidensIt) {
  Rack rack;
  rack.on_delivered(seg(3000, 2), at(50), milliseconds(48), false);
  rack.on_delivered(seg(2000, 1), at(51), milliseconds(48), false);  // arrived late
  EXPECT_TRUE(rack.reordering_seen());
  EXPECT_EQ(rack.reorder_window(true, 5, milliseconds(40), milliseconds(40)), milliseconds(10));

  rack.on_ack(true, SeqNum(3000), SeqNum(9000));
  EXPECT_EQ(rack.reo_wnd_mult(), 2u);
  rack.on_ack(true, SeqNum(4000), SeqNum(9000));  // same round: no second increase
  EXPECT_EQ(rack.reo_wnd_mult(), 2u);
  EXPECT_EQ(rack.reorder_window(false, 0, milliseconds(40), milliseconds(40)), milliseconds(20));
  // Bounded by SRTT.
  EXPECT_EQ(rack.reorder_window(false, 0, milliseconds(15), milliseconds(40)), milliseconds(15));
  rack.on_ack(true, SeqNum(9000), SeqNum(12000));  // next round
  EXPECT_EQ(rack.reo_wnd_mult(), 3u);

  for (uint32_t i = 0; i < Rack::kReoWndPersist - 1; ++i) rack.on_recovery_exit();
  EXPECT_EQ(rack.reo_wnd_mult(), 3u);
  rack.on_recovery_exit();
  EXPECT_EQ(rack.reo_wnd_mult(), 1u);
}

TEST(Rack, DsackCountsAsReordering) {
  Rack rack;
  rack.on_delivered(seg(5000, 5), at(55), milliseconds(40), false);
  EXPECT_EQ(rack.reorder_window(true, 5, milliseconds(40), milliseconds(40)), Duration{0});
  rack.on_ack(true, SeqNum(5000), SeqNum(9000));
  EXPECT_TRUE(rack.reordering_seen());
  EXPECT_EQ(rack.reorder_window(true, 5, milliseconds(40), milliseconds(40)), milliseconds(20));
}

TEST(Rack, AmbiguousRetransmissionSampleIsSkipped) {
  Rack rack;
  rack.on_delivered(seg(1000, 0), at(40), milliseconds(40), false);
  rack.on_delivered(seg(2000, 300, true), at(305), milliseconds(40), true);
  EXPECT_EQ(rack.rtt(), milliseconds(40));
  // Too short to be an RTT of the retransmission: the ACK was for the original.
  rack.on_delivered(seg(3000, 300, true), at(310), milliseconds(40), false);
  EXPECT_EQ(rack.rtt(), milliseconds(40));
  rack.on_delivered(seg(4000, 300, true), at(345), milliseconds(40), false);
  EXPECT_EQ(rack.rtt(), milliseconds(45));
}

TEST(Rack, ProbeTimeout) {
  EXPECT_EQ(Rack::probe_timeout(std::nullopt, false, std::chrono::seconds(3)), std::chrono::seconds(1));
  EXPECT_EQ(Rack::probe_timeout(milliseconds(30), false, std::chrono::seconds(1)), milliseconds(60));
  EXPECT_EQ(Rack::probe_timeout(milliseconds(30), true, std::chrono::seconds(1)), milliseconds(260));
  EXPECT_EQ(Rack::probe_timeout(milliseconds(300), true, milliseconds(400)), milliseconds(400));
}

TEST(Rack, ProbeEpisode) {
  Rack rack;
  rack.on_probe_sent(SeqNum(5000), true);
  EXPECT_TRUE(rack.probe_outstanding());
  EXPECT_FALSE(rack.on_ack_during_probe(SeqNum(4000), false));
  EXPECT_TRUE(rack.probe_outstanding());
  EXPECT_TRUE(rack.on_ack_during_probe(SeqNum(5000), false));  // the probe repaired a loss
  EXPECT_FALSE(rack.probe_outstanding());

  rack.on_probe_sent(SeqNum(9000), true);
  EXPECT_FALSE(rack.on_ack_during_probe(SeqNum(9000), true));  // D-SACK: original arrived
  rack.on_probe_sent(SeqNum(12000), false);
  EXPECT_FALSE(rack.on_ack_during_probe(SeqNum(12000), false));
}

TEST(Rack, RtoEndsTheProbeEpisode) {
  Rack rack;
  rack.on_probe_sent(SeqNum(5000), false);
  rack.on_rto();
  EXPECT_FALSE(rack.probe_outstanding());
  EXPECT_FALSE(rack.on_ack_during_probe(SeqNum(6000), false));
  rack.on_probe_sent(SeqNum(7000), true);  // a new episode can start at once
  EXPECT_TRUE(rack.probe_outstanding());
}

// One clock reading stamps a whole batch: new data, then a retransmission of an older hole
// after the next ACK of the same batch. The sending order, not the sequence numbers, says which
// went first. Ranked by sequence, the SACK of the new data would declare the retransmission
// lost at once (a zero window in recovery), and it would be sent a third time.
TEST(Rack, EqualSendTimesAreOrderedAsTheSegmentsWereSent) {
  Rack rack;
  const Rack::SentSegment new_data{SeqNum(9000), at(5), false, 41};
  const Rack::SentSegment resent_hole{SeqNum(2000), at(5), true, 42};
  rack.on_delivered(new_data, at(45), milliseconds(40), false);
  EXPECT_FALSE(rack.is_lost(resent_hole, at(500), Duration{0}, nullptr));

  // Delivered, the retransmission is the later-sent segment: the new data sent before it and
  // still missing is overdue.
  rack.on_delivered(resent_hole, at(45), milliseconds(40), false);
  const Rack::SentSegment earlier_new{SeqNum(8000), at(5), false, 40};
  EXPECT_TRUE(rack.is_lost(earlier_new, at(45), Duration{0}, nullptr));
  // Within one transmission (a record cut in two keeps its order) sequence numbers decide.
  const Rack::SentSegment same_send_below{SeqNum(1000), at(5), true, 42};
  EXPECT_TRUE(rack.is_lost(same_send_below, at(45), Duration{0}, nullptr));
}

// The sending order wraps like a sequence number.
TEST(Rack, SendingOrderWrapsAround) {
  Rack rack;
  rack.on_delivered({SeqNum(100), at(5), false, 2}, at(45), milliseconds(40), false);
  EXPECT_TRUE(rack.is_lost({SeqNum(200), at(5), false, 0xfffffff0u}, at(45), Duration{0}, nullptr));
  EXPECT_FALSE(rack.is_lost({SeqNum(50), at(5), true, 3}, at(45), Duration{0}, nullptr));
}

TEST(Rack, SequenceWrapAround) {
  Rack rack;
  rack.on_delivered(seg(0x00000100u, 2), at(42), milliseconds(40), false);
  EXPECT_TRUE(rack.is_lost(seg(0xffffff00u, 1), at(100), Duration{0}, nullptr));
  EXPECT_FALSE(rack.is_lost(seg(0x00000200u, 2), at(100), Duration{0}, nullptr));
}

}  // namespace
}  // namespace weir::tcp
