#include "tcp/cc/new_reno.h"

#include <gtest/gtest.h>

#include "tests/tcp/cc/ack_clock.h"

namespace weir::tcp {
namespace {

using std::chrono::milliseconds;
using testing::AckClock;

constexpr uint32_t kMss = 1000;

class NewRenoTest : public ::testing::Test {
 protected:
  NewReno cc_{CongestionControlOptions{kMss, 10}};
  AckClock clock_{cc_, kMss, milliseconds(100)};
};

TEST_F(NewRenoTest, StartsInSlowStartWithInitialWindow) {
  EXPECT_EQ(cc_.name(), "newreno");
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
  EXPECT_EQ(cc_.ssthresh(), UINT32_MAX);
  EXPECT_TRUE(cc_.in_slow_start());
}

TEST_F(NewRenoTest, InitialWindowFollowsOptions) {
  NewReno cc(CongestionControlOptions{1460, 4});
  EXPECT_EQ(cc.cwnd(), 4u * 1460);
}

TEST_F(NewRenoTest, SlowStartDoublesPerRoundTrip) {
  clock_.round();
  EXPECT_EQ(cc_.cwnd(), 20 * kMss);
  clock_.round();
  EXPECT_EQ(cc_.cwnd(), 40 * kMss);
  clock_.round();
  EXPECT_EQ(cc_.cwnd(), 80 * kMss);
}

TEST_F(NewRenoTest, SlowStartDoublesWithDelayedAcks) {
  clock_.round(2);  // 5 ACKs of 2 segments, each +2 SMSS
  EXPECT_EQ(cc_.cwnd(), 20 * kMss);
  clock_.round(2);
  EXPECT_EQ(cc_.cwnd(), 40 * kMss);
}

TEST_F(NewRenoTest, ByteCountingCapsStretchAcksAtTwoSegments) {
  // RFC 3465 L = 2 SMSS: an ACK for 5 segments adds only 2.
  clock_.ack(5 * kMss);
  EXPECT_EQ(cc_.cwnd(), 12 * kMss);
  // Partial segments count their bytes.
  clock_.ack(300);
  EXPECT_EQ(cc_.cwnd(), 12 * kMss + 300);
}

TEST_F(NewRenoTest, CongestionEventHalvesFlightSize) {
  clock_.round();  // cwnd 20
  cc_.on_congestion_event(clock_.now(), 20 * kMss);
  EXPECT_EQ(cc_.ssthresh(), 10 * kMss);
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
  EXPECT_FALSE(cc_.in_slow_start());
}

TEST_F(NewRenoTest, CongestionEventUsesFlightNotCwnd) {
  clock_.round();  // cwnd 20, but only 8 segments in flight
  cc_.on_congestion_event(clock_.now(), 8 * kMss);
  EXPECT_EQ(cc_.ssthresh(), 4 * kMss);
}

TEST_F(NewRenoTest, SsthreshNeverBelowTwoSegments) {
  cc_.on_congestion_event(clock_.now(), 3 * kMss);
  EXPECT_EQ(cc_.ssthresh(), 2 * kMss);
  EXPECT_EQ(cc_.cwnd(), 2 * kMss);
}

TEST_F(NewRenoTest, NoGrowthDuringRecoveryAndCwndIsSsthreshOnExit) {
  clock_.round();
  cc_.on_congestion_event(clock_.now(), 20 * kMss);
  for (int i = 0; i < 30; ++i) clock_.ack(kMss, milliseconds(1), /*in_recovery=*/true);
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
  cc_.on_recovery_exit(clock_.now());
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
  EXPECT_EQ(cc_.ssthresh(), 10 * kMss);
}

TEST_F(NewRenoTest, CongestionAvoidanceAddsOneSegmentPerRoundTrip) {
  clock_.round();
  cc_.on_congestion_event(clock_.now(), 20 * kMss);
  cc_.on_recovery_exit(clock_.now());
  for (uint32_t i = 1; i <= 20; ++i) {
    clock_.round();
    EXPECT_EQ(cc_.cwnd(), (10 + i) * kMss) << "round " << i;
  }
  // Delayed ACKs do not change the per-RTT rate in congestion avoidance.
  clock_.round(2);
  EXPECT_EQ(cc_.cwnd(), 31 * kMss);
}

TEST_F(NewRenoTest, CongestionAvoidanceIncreaseNeedsAFullWindowOfBytes) {
  cc_.on_congestion_event(clock_.now(), 20 * kMss);  // cwnd 10 segments
  for (int i = 0; i < 9; ++i) clock_.ack(kMss);
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
  clock_.ack(kMss);
  EXPECT_EQ(cc_.cwnd(), 11 * kMss);
  // One huge ACK earns at most one segment.
  clock_.ack(100 * kMss);
  EXPECT_EQ(cc_.cwnd(), 12 * kMss);
}

TEST_F(NewRenoTest, SlowStartStopsAtSsthresh) {
  cc_.on_congestion_event(clock_.now(), 25 * kMss);  // ssthresh 12.5 segments
  cc_.on_retransmission_timeout(clock_.now(), 25 * kMss);
  EXPECT_EQ(cc_.cwnd(), kMss);
  EXPECT_EQ(cc_.ssthresh(), 12500u);
  clock_.round();  // 1 -> 2
  clock_.round();  // 2 -> 4
  clock_.round();  // 4 -> 8
  EXPECT_EQ(cc_.cwnd(), 8 * kMss);
  clock_.round();  // would be 16, capped at ssthresh
  EXPECT_EQ(cc_.cwnd(), 12500u);
  EXPECT_FALSE(cc_.in_slow_start());
}

TEST_F(NewRenoTest, RetransmissionTimeoutCollapsesToLossWindow) {
  clock_.round();
  clock_.round();  // cwnd 40
  cc_.on_retransmission_timeout(clock_.now(), 40 * kMss);
  EXPECT_EQ(cc_.cwnd(), kMss);
  EXPECT_EQ(cc_.ssthresh(), 20 * kMss);
  EXPECT_TRUE(cc_.in_slow_start());
}

TEST_F(NewRenoTest, RepeatedTimeoutDoesNotReduceSsthreshAgain) {
  clock_.round();  // cwnd 20
  cc_.on_retransmission_timeout(clock_.now(), 20 * kMss);
  EXPECT_EQ(cc_.ssthresh(), 10 * kMss);
  cc_.on_retransmission_timeout(clock_.now(), kMss);
  EXPECT_EQ(cc_.ssthresh(), 10 * kMss);
  EXPECT_EQ(cc_.cwnd(), kMss);
  // After an ACK, a new timeout is a new loss episode.
  clock_.ack(kMss);
  cc_.on_retransmission_timeout(clock_.now(), 2 * kMss);
  EXPECT_EQ(cc_.ssthresh(), 2 * kMss);
}

TEST_F(NewRenoTest, TimeoutDuringRecoveryIsNotUndoneByRecoveryExit) {
  clock_.round();
  cc_.on_congestion_event(clock_.now(), 20 * kMss);
  cc_.on_retransmission_timeout(clock_.now(), 10 * kMss);
  cc_.on_recovery_exit(clock_.now());
  EXPECT_EQ(cc_.cwnd(), kMss);
}

TEST_F(NewRenoTest, ApplicationLimitedAcksDoNotGrowTheWindow) {
  // One segment in flight out of a 10-segment window: the window is not being used.
  for (int i = 0; i < 10; ++i) clock_.ack(kMss, milliseconds(1), false, /*app_limited=*/true, 0);
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
  // Half the window was in flight: that counts as using it.
  clock_.ack(kMss, milliseconds(1), false, /*app_limited=*/true, 4 * kMss);
  EXPECT_EQ(cc_.cwnd(), 11 * kMss);
}

TEST_F(NewRenoTest, ZeroByteAckChangesNothing) {
  clock_.ack(0);
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
}

constexpr milliseconds kRto(200);

TEST_F(NewRenoTest, IdleRestartShrinksToInitialWindow) {
  clock_.round();
  clock_.round();  // 40
  cc_.on_idle_restart(clock_.now(), 10 * kRto, kRto);
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
  cc_.on_retransmission_timeout(clock_.now(), 10 * kMss);  // cwnd 1
  cc_.on_idle_restart(clock_.now(), 10 * kRto, kRto);
  EXPECT_EQ(cc_.cwnd(), kMss);  // never grows the window
}

TEST_F(NewRenoTest, IdleRestartHalvesPerRtoOfIdleness) {
  // As Linux's tcp_cwnd_restart: the window halves once for each RTO, or part of one, that the
  // pause lasted beyond the first, down to the initial window.
  clock_.round();
  clock_.round();
  clock_.round();  // 80
  cc_.on_idle_restart(clock_.now(), kRto + milliseconds(1), kRto);
  EXPECT_EQ(cc_.cwnd(), 40 * kMss);
  cc_.on_idle_restart(clock_.now(), 2 * kRto + milliseconds(1), kRto);
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);  // 40 -> 20 -> 10
  cc_.on_idle_restart(clock_.now(), 10 * kRto, kRto);
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);       // never below the initial window
  EXPECT_EQ(cc_.ssthresh(), UINT32_MAX);  // no loss yet: slow start all the way
}

TEST_F(NewRenoTest, IdleRestartKeepsThreeQuartersOfTheWindowInSsthresh) {
  clock_.round();                                    // 20
  cc_.on_congestion_event(clock_.now(), 20 * kMss);  // ssthresh 10
  cc_.on_recovery_exit(clock_.now());
  for (int i = 0; i < 10; ++i) clock_.round();  // congestion avoidance: 20 segments
  ASSERT_EQ(cc_.cwnd(), 20 * kMss);
  cc_.on_idle_restart(clock_.now(), 10 * kRto, kRto);
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
  EXPECT_EQ(cc_.ssthresh(), 15 * kMss);  // slow start climbs back to 3/4 of the old window
  EXPECT_TRUE(cc_.in_slow_start());
}

TEST_F(NewRenoTest, MssChangeKeepsSegmentCounts) {
  clock_.round();                                    // 20 segments
  cc_.on_congestion_event(clock_.now(), 20 * kMss);  // 10 segments
  cc_.set_mss(500);
  EXPECT_EQ(cc_.mss(), 500u);
  EXPECT_EQ(cc_.cwnd(), 10u * 500);
  EXPECT_EQ(cc_.ssthresh(), 10u * 500);
  cc_.set_mss(0);  // ignored
  EXPECT_EQ(cc_.mss(), 500u);
}

TEST_F(NewRenoTest, WindowIsBounded) {
  for (int i = 0; i < 40; ++i) clock_.ack(2 * kMss * 100000);
  for (int i = 0; i < 1000000; ++i) clock_.ack(2 * kMss);
  EXPECT_LE(cc_.cwnd(), uint32_t{1} << 30);
}

// A spurious loss episode undone (RFC 3708, RFC 4015): back to the window and ssthresh from
// before it, as Linux's tcp_undo_cwnd_reduction does; never below the present window.
TEST_F(NewRenoTest, UndoRestoresWindowAndSsthresh) {
  clock_.round(2);  // slow start: 40 segments, ssthresh infinite
  const uint32_t cwnd = cc_.cwnd();
  cc_.remember_for_undo();
  cc_.on_congestion_event(clock_.now(), cwnd);
  EXPECT_EQ(cc_.cwnd(), cwnd / 2);
  cc_.on_retransmission_timeout(clock_.now(), cwnd / 2);
  EXPECT_EQ(cc_.cwnd(), kMss);
  cc_.undo();
  EXPECT_EQ(cc_.cwnd(), cwnd);
  EXPECT_EQ(cc_.ssthresh(), UINT32_MAX);
  EXPECT_TRUE(cc_.in_slow_start());
  // Remembered anew at the next episode: an undo never goes back further than its start.
  cc_.on_congestion_event(clock_.now(), cwnd);
  cc_.on_recovery_exit(clock_.now());
  cc_.remember_for_undo();
  const uint32_t reduced = cc_.cwnd();
  cc_.on_congestion_event(clock_.now(), reduced);
  cc_.undo();
  EXPECT_EQ(cc_.cwnd(), reduced);
}

}  // namespace
}  // namespace weir::tcp
