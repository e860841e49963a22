#include "tcp/cc/cubic.h"

#include <cmath>
#include <gtest/gtest.h>

#include "tests/tcp/cc/ack_clock.h"

namespace weir::tcp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::AckClock;

constexpr uint32_t kMss = 1000;
constexpr double kC = 0.4;
constexpr double kBeta = 0.7;
constexpr double kAlphaCubic = 3 * (1 - kBeta) / (1 + kBeta);

double segments(uint32_t bytes) { return static_cast<double>(bytes) / kMss; }

// Slow start from the initial window (10 segments) to exactly `target` segments, then a loss.
void grow_then_lose(Cubic& cc, AckClock& clock, uint32_t target) {
  while (cc.cwnd() < target * kMss) clock.ack(kMss, milliseconds(1));
  ASSERT_EQ(cc.cwnd(), target * kMss);
  cc.on_congestion_event(clock.now(), cc.cwnd());
  cc.on_recovery_exit(clock.now());
}

TEST(CubicFormulaTest, CurveMatchesRfc9438Equations) {
  const double k = Cubic::k_for(100, 70, kC);
  EXPECT_DOUBLE_EQ(k, std::cbrt(75.0));  // cbrt(W_max (1 - beta) / C) with cwnd_epoch = beta W_max
  EXPECT_NEAR(Cubic::w_cubic(0, kC, k, 100), 70.0, 1e-9);
  EXPECT_DOUBLE_EQ(Cubic::w_cubic(k, kC, k, 100), 100.0);
  EXPECT_NEAR(Cubic::w_cubic(k + 1, kC, k, 100), 100.4, 1e-9);
  EXPECT_NEAR(Cubic::w_cubic(k - 1, kC, k, 100), 99.6, 1e-9);
  EXPECT_NEAR(Cubic::w_cubic(k + 5, kC, k, 100), 100 + 0.4 * 125, 1e-9);
  // cwnd_epoch above W_max: K is negative and the curve still starts at cwnd_epoch.
  const double k_neg = Cubic::k_for(50, 70, kC);
  EXPECT_NEAR(k_neg, -std::cbrt(50.0), 1e-12);
  EXPECT_NEAR(Cubic::w_cubic(0, kC, k_neg, 50), 70.0, 1e-9);
  EXPECT_DOUBLE_EQ(Cubic::k_for(70, 70, kC), 0.0);
}

class CubicTest : public ::testing::Test {
 protected:
  Cubic cc_{CongestionControlOptions{kMss, 10}};
  AckClock clock_{cc_, kMss, milliseconds(100)};
};

TEST_F(CubicTest, StartsInSlowStart) {
  EXPECT_EQ(cc_.name(), "cubic");
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
  EXPECT_TRUE(cc_.in_slow_start());
  EXPECT_EQ(cc_.w_max(), 0);
}

TEST_F(CubicTest, SlowStartDoublesPerRoundTripWithByteCounting) {
  clock_.round();
  EXPECT_EQ(cc_.cwnd(), 20 * kMss);
  clock_.round(2);
  EXPECT_EQ(cc_.cwnd(), 40 * kMss);
  clock_.ack(10 * kMss);  // stretch ACK: +2 SMSS only
  EXPECT_EQ(cc_.cwnd(), 42 * kMss);
}

TEST_F(CubicTest, LossReducesByBeta) {
  grow_then_lose(cc_, clock_, 100);
  EXPECT_EQ(cc_.cwnd(), 70 * kMss);
  EXPECT_EQ(cc_.ssthresh(), 70 * kMss);
  EXPECT_DOUBLE_EQ(cc_.w_max(), 100);
  EXPECT_FALSE(cc_.in_slow_start());
}

TEST_F(CubicTest, LossNeverBelowTwoSegments) {
  cc_.on_retransmission_timeout(clock_.now(), kMss);  // cwnd 1 segment
  cc_.on_congestion_event(clock_.now(), kMss);
  EXPECT_EQ(cc_.ssthresh(), 2 * kMss);
  EXPECT_EQ(cc_.cwnd(), 2 * kMss);
}

TEST_F(CubicTest, NoGrowthDuringRecoveryAndCwndIsSsthreshOnExit) {
  while (cc_.cwnd() < 100 * kMss) clock_.ack(kMss);
  cc_.on_congestion_event(clock_.now(), cc_.cwnd());
  for (int i = 0; i < 200; ++i) clock_.ack(kMss, milliseconds(5), /*in_recovery=*/true);
  EXPECT_EQ(cc_.cwnd(), 70 * kMss);
  EXPECT_FALSE(cc_.epoch_start());
  cc_.on_recovery_exit(clock_.now());
  EXPECT_EQ(cc_.cwnd(), 70 * kMss);
}

TEST_F(CubicTest, EpochStartsAtFirstAckInCongestionAvoidance) {
  grow_then_lose(cc_, clock_, 100);
  EXPECT_FALSE(cc_.epoch_start());
  clock_.advance(seconds(10));  // recovery took long; the curve must not count it
  clock_.ack(kMss);
  ASSERT_TRUE(cc_.epoch_start());
  EXPECT_EQ(*cc_.epoch_start(), clock_.now());
  EXPECT_DOUBLE_EQ(cc_.k(), std::cbrt(100 * (1 - kBeta) / kC));
  // At t = 0 the curve is at cwnd_epoch, below the freshly grown Reno estimate.
  EXPECT_NEAR(segments(cc_.cwnd()), cc_.w_est(), 0.001);
  // 50 ms in, an ACK moves cwnd towards W_cubic(t + RTT) by (target - cwnd) / cwnd segments.
  const double before = cc_.cwnd() / double{kMss};
  clock_.ack(kMss, milliseconds(50));
  const double target = Cubic::w_cubic(0.15, kC, cc_.k(), 100);
  EXPECT_NEAR(segments(cc_.cwnd()), before + (target - before) / before, 0.001);
}

TEST_F(CubicTest, WindowFollowsTheCubicCurve) {
  grow_then_lose(cc_, clock_, 100);
  clock_.ack(kMss);
  const TimePoint t0 = *cc_.epoch_start();
  const double k = cc_.k();
  // Up to and a little past the plateau at K (about 4.2 s), before the Reno-friendly estimate
  // (which reaches W_max around 5.7 s at this RTT) takes over.
  while (clock_.now() - t0 < milliseconds(5500)) {
    clock_.round();
    const double t = to_seconds(clock_.now() - t0);
    EXPECT_NEAR(segments(cc_.cwnd()), Cubic::w_cubic(t, kC, k, 100), 0.25) << "t=" << t;
  }
}

TEST_F(CubicTest, ConvexRegionBeyondWMax) {
  grow_then_lose(cc_, clock_, 100);
  clock_.ack(kMss);
  const TimePoint t0 = *cc_.epoch_start();
  clock_.run_for(seconds(10));
  const double t = to_seconds(clock_.now() - t0);
  const double expected = Cubic::w_cubic(t, kC, cc_.k(), 100);
  EXPECT_GT(expected, 150);
  EXPECT_NEAR(segments(cc_.cwnd()), expected, 0.02 * expected);
}

TEST_F(CubicTest, GrowthPerAckIsBounded) {
  grow_then_lose(cc_, clock_, 100);
  clock_.ack(kMss);
  // Far along the convex curve W_cubic is huge; one ACK still adds at most half of what it
  // acknowledged, and a window's worth of ACKs at most half a window.
  clock_.advance(seconds(60));
  const uint32_t before = cc_.cwnd();
  clock_.ack(10 * kMss);
  EXPECT_LE(cc_.cwnd(), before + 5 * kMss);
  EXPECT_GT(cc_.cwnd(), before);
  const uint32_t round_start = cc_.cwnd();
  clock_.round();
  EXPECT_LE(cc_.cwnd(), round_start + round_start / 2 + 1);
}

TEST_F(CubicTest, FastConvergenceLowersWMax) {
  grow_then_lose(cc_, clock_, 100);
  clock_.ack(kMss);
  while (cc_.cwnd() < 80 * kMss) clock_.round();
  const double cwnd = segments(cc_.cwnd());
  ASSERT_LT(cwnd, 100);  // lost again before regaining W_max
  cc_.on_congestion_event(clock_.now(), cc_.cwnd());
  EXPECT_NEAR(cc_.w_max(), cwnd * (1 + kBeta) / 2, 1e-3);
  EXPECT_NEAR(segments(cc_.cwnd()), cwnd * kBeta, 0.001);
}

TEST_F(CubicTest, WithoutFastConvergenceWMaxIsTheWindowAtLoss) {
  CubicOptions options;
  options.fast_convergence = false;
  Cubic cc(CongestionControlOptions{kMss, 10}, options);
  AckClock clock(cc, kMss, milliseconds(100));
  grow_then_lose(cc, clock, 100);
  clock.ack(kMss);
  while (cc.cwnd() < 80 * kMss) clock.round();
  const double cwnd = segments(cc.cwnd());
  cc.on_congestion_event(clock.now(), cc.cwnd());
  EXPECT_NEAR(cc.w_max(), cwnd, 1e-3);
}

TEST_F(CubicTest, LossAboveWMaxRaisesWMax) {
  grow_then_lose(cc_, clock_, 100);
  clock_.ack(kMss);
  clock_.run_for(seconds(6));
  const double cwnd = segments(cc_.cwnd());
  ASSERT_GT(cwnd, 100);
  cc_.on_congestion_event(clock_.now(), cc_.cwnd());
  EXPECT_NEAR(cc_.w_max(), cwnd, 1e-3);
}

TEST_F(CubicTest, RenoFriendlyRegionAtShortRtt) {
  // Small window, short RTT: Reno would grow faster than the cubic curve, so CUBIC follows
  // the Reno estimate W_est (RFC 9438 4.3).
  Cubic cc(CongestionControlOptions{kMss, 10});
  AckClock clock(cc, kMss, milliseconds(10));
  grow_then_lose(cc, clock, 20);
  clock.ack(kMss);
  const TimePoint t0 = *cc.epoch_start();
  EXPECT_NEAR(cc.w_est(), 14 + kAlphaCubic / 14, 1e-9);
  clock.round();  // about one window: W_est grows by about alpha_cubic
  EXPECT_NEAR(cc.w_est(), 14 + kAlphaCubic, 0.05);
  EXPECT_NEAR(segments(cc.cwnd()), cc.w_est(), 0.01);
  const double t = to_seconds(clock.now() - t0);
  EXPECT_GT(segments(cc.cwnd()), Cubic::w_cubic(t, kC, cc.k(), 20) + 0.3);

  // Once W_est passes the window before the loss (20), alpha becomes 1: one segment per RTT.
  for (int i = 0; i < 15; ++i) clock.round();
  ASSERT_GT(cc.w_est(), 20);
  const double before = segments(cc.cwnd());
  for (int i = 0; i < 10; ++i) clock.round();
  EXPECT_NEAR(segments(cc.cwnd()) - before, 10, 0.3);
}

TEST_F(CubicTest, RetransmissionTimeoutResetsToOneSegment) {
  grow_then_lose(cc_, clock_, 100);
  clock_.ack(kMss);
  clock_.run_for(seconds(2));
  const uint32_t cwnd = cc_.cwnd();
  cc_.on_retransmission_timeout(clock_.now(), cwnd);
  EXPECT_EQ(cc_.cwnd(), kMss);
  EXPECT_NEAR(cc_.ssthresh(), cwnd * kBeta, 1.0);  // cwnd() truncates the fractional window
  EXPECT_EQ(cc_.w_max(), 0);
  EXPECT_FALSE(cc_.epoch_start());
  EXPECT_TRUE(cc_.in_slow_start());

  // A second timeout for the same data keeps ssthresh.
  const uint32_t ssthresh = cc_.ssthresh();
  cc_.on_retransmission_timeout(clock_.now(), kMss);
  EXPECT_EQ(cc_.ssthresh(), ssthresh);
  cc_.on_recovery_exit(clock_.now());  // must not undo the timeout
  EXPECT_EQ(cc_.cwnd(), kMss);

  // Slow start back to ssthresh, then the first epoch after a timeout has K = 0 and W_max =
  // the window at its start (RFC 9438 4.8).
  while (cc_.in_slow_start()) clock_.ack(kMss, milliseconds(1));
  EXPECT_EQ(cc_.cwnd(), ssthresh);
  clock_.ack(kMss, milliseconds(1));
  EXPECT_EQ(cc_.k(), 0);
  EXPECT_DOUBLE_EQ(cc_.w_max(), segments(ssthresh));
}

TEST_F(CubicTest, ApplicationLimitedAcksDoNotGrowTheWindow) {
  grow_then_lose(cc_, clock_, 100);
  for (int i = 0; i < 100; ++i) {
    clock_.ack(kMss, milliseconds(10), false, /*app_limited=*/true, 2 * kMss);
  }
  EXPECT_EQ(cc_.cwnd(), 70 * kMss);
}

TEST_F(CubicTest, IdleRestart) {
  grow_then_lose(cc_, clock_, 100);
  clock_.ack(kMss);
  const milliseconds rto(200);
  cc_.on_idle_restart(clock_.now(), 10 * rto, rto);
  EXPECT_EQ(cc_.cwnd(), 10 * kMss);
  EXPECT_FALSE(cc_.epoch_start());
  EXPECT_TRUE(cc_.in_slow_start());
}

TEST_F(CubicTest, ShortIdleRestartHalvesTheWindowOnce) {
  grow_then_lose(cc_, clock_, 100);  // cwnd and ssthresh 70
  const milliseconds rto(200);
  cc_.on_idle_restart(clock_.now(), rto + rto / 2, rto);
  EXPECT_EQ(cc_.cwnd(), 35 * kMss);
  EXPECT_EQ(cc_.ssthresh(), 70 * kMss);  // already above 3/4 of the window
  EXPECT_FALSE(cc_.epoch_start());
}

TEST_F(CubicTest, MssChangeKeepsSegmentCounts) {
  grow_then_lose(cc_, clock_, 100);
  cc_.set_mss(500);
  EXPECT_EQ(cc_.mss(), 500u);
  EXPECT_EQ(cc_.cwnd(), 70u * 500);
  EXPECT_EQ(cc_.ssthresh(), 70u * 500);
}

TEST_F(CubicTest, WindowIsBounded) {
  grow_then_lose(cc_, clock_, 100);
  clock_.ack(kMss);
  for (int i = 0; i < 200; ++i) {
    clock_.advance(seconds(100));
    clock_.ack(UINT32_MAX / 2);
  }
  EXPECT_LE(cc_.cwnd(), uint32_t{1} << 30);
}

// A spurious loss episode undone (RFC 9438 4.9): the window, ssthresh and the curve (W_max,
// K, the epoch) are those from before the reduction, so growth continues where it was.
TEST_F(CubicTest, UndoRestoresTheCurveBeforeTheReduction) {
  grow_then_lose(cc_, clock_, 100);
  for (int i = 0; i < 20; ++i) clock_.round();  // an epoch under way, past the first loss
  const uint32_t cwnd = cc_.cwnd();
  const uint32_t ssthresh = cc_.ssthresh();
  const double w_max = cc_.w_max();
  const double k = cc_.k();
  const auto epoch = cc_.epoch_start();
  ASSERT_TRUE(epoch.has_value());
  cc_.remember_for_undo();
  cc_.on_congestion_event(clock_.now(), cwnd);
  cc_.on_retransmission_timeout(clock_.now(), cwnd);  // a timeout inside the same episode
  EXPECT_EQ(cc_.cwnd(), kMss);
  cc_.undo();
  EXPECT_EQ(cc_.cwnd(), cwnd);
  EXPECT_EQ(cc_.ssthresh(), ssthresh);
  EXPECT_DOUBLE_EQ(cc_.w_max(), w_max);
  EXPECT_DOUBLE_EQ(cc_.k(), k);
  EXPECT_EQ(cc_.epoch_start(), epoch);
  // The timeout's hold (no growth back to ssthresh at recovery's end) went with it.
  clock_.round();
  EXPECT_GE(cc_.cwnd(), cwnd);
}

TEST_F(CubicTest, UndoNeverShrinksTheWindow) {
  grow_then_lose(cc_, clock_, 100);
  cc_.remember_for_undo();
  const uint32_t before = cc_.cwnd();
  cc_.on_congestion_event(clock_.now(), before);
  cc_.on_recovery_exit(clock_.now());
  for (int i = 0; i < 200 && cc_.cwnd() <= before + 10 * kMss; ++i) clock_.round();
  const uint32_t grown = cc_.cwnd();
  ASSERT_GT(grown, before);
  cc_.undo();
  EXPECT_EQ(cc_.cwnd(), grown);
}

}  // namespace
}  // namespace weir::tcp
