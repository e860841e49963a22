#include "tcp/cc/hystart.h"

#include <gtest/gtest.h>

#include "tcp/cc/cubic.h"
#include "tests/tcp/cc/ack_clock.h"

namespace weir::tcp {
namespace {

using std::chrono::milliseconds;
using Phase = HyStart::Phase;

constexpr uint32_t kMss = 1000;

// Feeds HyStart one round: `acks` ACKs of one segment, all with RTT `rtt`, with `in_flight`
// bytes outstanding at the round's start. Returns the last decision.
HyStart::Decision round(HyStart& hs, uint32_t acks, Duration rtt, uint32_t* divisor_sum = nullptr) {
  HyStart::Decision d;
  for (uint32_t i = 0; i < acks; ++i) {
    AckSample s;
    s.bytes_acked = kMss;
    s.bytes_in_flight = acks * kMss;
    s.rtt = rtt;
    d = hs.on_ack(s);
    if (divisor_sum) *divisor_sum += d.growth_divisor;
    if (d.exit_slow_start) break;
  }
  return d;
}

TEST(HyStartTest, SteadyRttStaysInSlowStart) {
  HyStart hs;
  for (int r = 0; r < 10; ++r) {
    auto d = round(hs, 16, milliseconds(50));
    EXPECT_EQ(d.growth_divisor, 1u);
    EXPECT_FALSE(d.exit_slow_start);
  }
  EXPECT_EQ(hs.phase(), Phase::kSlowStart);
  EXPECT_EQ(hs.rounds(), 10u);
}

TEST(HyStartTest, RoundsEndWhenTheFlightIsAcknowledged) {
  HyStart hs;
  round(hs, 10, milliseconds(50));
  EXPECT_EQ(hs.rounds(), 1u);
  round(hs, 10, milliseconds(50));
  EXPECT_EQ(hs.rounds(), 2u);
  // A stretch ACK covering the whole flight ends the round at once.
  AckSample s;
  s.bytes_acked = 10 * kMss;
  s.bytes_in_flight = 20 * kMss;
  s.rtt = milliseconds(50);
  hs.on_ack(s);  // ends round 2's flight, starts round 3
  EXPECT_EQ(hs.rounds(), 3u);
}

TEST(HyStartTest, RttRiseEntersConservativeSlowStart) {
  HyStart hs;
  round(hs, 16, milliseconds(40));  // last round min 40 ms: thresh = clamp(5, 4, 16) = 5 ms
  auto d = round(hs, 16, milliseconds(44));
  EXPECT_EQ(hs.phase(), Phase::kSlowStart);  // +4 ms is under the threshold
  d = round(hs, 16, milliseconds(49));       // thresh is now 44 / 8 = 5.5 ms: still under
  EXPECT_EQ(hs.phase(), Phase::kSlowStart);
  d = round(hs, 16, milliseconds(56));  // +7 ms over the previous round's 49 (thresh 6.1 ms)
  EXPECT_EQ(hs.phase(), Phase::kConservative);
  EXPECT_EQ(d.growth_divisor, 4u);
}

TEST(HyStartTest, DecisionNeedsEnoughSamples) {
  HyStart hs;
  round(hs, 16, milliseconds(40));
  round(hs, 7, milliseconds(100));  // a big rise, but only 7 samples
  EXPECT_EQ(hs.phase(), Phase::kSlowStart);
}

TEST(HyStartTest, ZeroRttIsNoSample) {
  HyStart hs;
  round(hs, 16, milliseconds(40));
  round(hs, 16, Duration::zero());
  round(hs, 16, Duration::zero());
  EXPECT_EQ(hs.phase(), Phase::kSlowStart);
}

TEST(HyStartTest, ThresholdIsClampedToSixteenMilliseconds) {
  HyStart hs;
  round(hs, 16, milliseconds(400));  // 400 / 8 = 50 ms, clamped to 16 ms
  round(hs, 16, milliseconds(415));
  EXPECT_EQ(hs.phase(), Phase::kSlowStart);
  HyStart hs2;
  round(hs2, 16, milliseconds(400));
  round(hs2, 16, milliseconds(416));
  EXPECT_EQ(hs2.phase(), Phase::kConservative);
}

TEST(HyStartTest, ThresholdIsAtLeastFourMilliseconds) {
  HyStart hs;
  round(hs, 16, milliseconds(1));  // 1 / 8 ms, raised to 4 ms
  round(hs, 16, milliseconds(4));
  EXPECT_EQ(hs.phase(), Phase::kSlowStart);
  round(hs, 16, milliseconds(8));
  EXPECT_EQ(hs.phase(), Phase::kConservative);
}

TEST(HyStartTest, RttDropBelowBaselineResumesSlowStart) {
  HyStart hs;
  round(hs, 16, milliseconds(40));
  round(hs, 16, milliseconds(60));
  ASSERT_EQ(hs.phase(), Phase::kConservative);
  auto d = round(hs, 16, milliseconds(55));  // below the 60 ms baseline
  EXPECT_EQ(hs.phase(), Phase::kSlowStart);
  EXPECT_EQ(d.growth_divisor, 1u);
}

TEST(HyStartTest, ConservativeRoundsThenExit) {
  HyStart hs;
  round(hs, 16, milliseconds(40));
  round(hs, 16, milliseconds(60));
  ASSERT_EQ(hs.phase(), Phase::kConservative);
  for (int r = 0; r < 4; ++r) {
    auto d = round(hs, 16, milliseconds(60));
    EXPECT_FALSE(d.exit_slow_start) << r;
    EXPECT_EQ(hs.phase(), Phase::kConservative);
  }
  auto d = round(hs, 16, milliseconds(60));
  EXPECT_TRUE(d.exit_slow_start);
  EXPECT_EQ(hs.phase(), Phase::kDone);
  // Done is final.
  d = round(hs, 16, milliseconds(10));
  EXPECT_FALSE(d.exit_slow_start);
  EXPECT_EQ(d.growth_divisor, 1u);
}

TEST(HyStartTest, StopIsFinal) {
  HyStart hs;
  hs.stop();
  round(hs, 16, milliseconds(40));
  round(hs, 16, milliseconds(80));
  EXPECT_EQ(hs.phase(), Phase::kDone);
}

// CUBIC with HyStart++: a queue building in slow start ends it before any loss.
TEST(CubicHyStartTest, LeavesSlowStartWhenTheQueueGrows) {
  Cubic cc(CongestionControlOptions{kMss, 10});
  ASSERT_EQ(cc.hystart_phase(), Phase::kSlowStart);
  TimePoint now{std::chrono::seconds(1)};
  // The path holds 40 segments at 20 ms; beyond that every extra segment queues 1 ms.
  auto rtt_for = [](uint32_t cwnd_segments) {
    return milliseconds(20) + milliseconds(cwnd_segments > 40 ? cwnd_segments - 40 : 0);
  };
  int rounds = 0;
  while (cc.in_slow_start() && rounds < 50) {
    const uint32_t segments = cc.cwnd() / kMss;
    for (uint32_t i = 0; i < segments; ++i) {
      now += milliseconds(1);
      AckSample s;
      s.now = now;
      s.bytes_acked = kMss;
      s.bytes_in_flight = cc.cwnd();
      s.rtt = rtt_for(segments);
      s.min_rtt = milliseconds(20);
      cc.on_ack(s, false);
    }
    ++rounds;
  }
  EXPECT_FALSE(cc.in_slow_start());
  EXPECT_EQ(cc.hystart_phase(), Phase::kDone);
  EXPECT_LE(cc.ssthresh(), cc.cwnd());
  // 10 -> 20 -> 40 -> 80 segments in slow start, the rise seen at 80, then five CSS rounds
  // growing by a quarter each (80 * 1.25^5 = 244): standard slow start would have reached
  // 10 * 2^10 segments in as many rounds.
  EXPECT_LE(rounds, 10);
  EXPECT_GT(cc.cwnd(), 80 * kMss);
  EXPECT_LT(cc.cwnd(), 300 * kMss);
}

TEST(CubicHyStartTest, LossStopsHyStart) {
  Cubic cc(CongestionControlOptions{kMss, 10});
  cc.on_congestion_event(TimePoint{}, 10 * kMss);
  EXPECT_EQ(cc.hystart_phase(), Phase::kDone);
}

TEST(CubicHyStartTest, CanBeDisabled) {
  CubicOptions options;
  options.hystart = false;
  Cubic cc(CongestionControlOptions{kMss, 10}, options);
  EXPECT_FALSE(cc.hystart_phase());
}

}  // namespace
}  // namespace weir::tcp
