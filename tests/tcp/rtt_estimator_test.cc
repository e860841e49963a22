#include "tcp/rtt_estimator.h"

#include <gtest/gtest.h>

namespace weir::tcp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RttEstimatorTest, InitialRtoBeforeAnySample) {
  RttEstimator est;
  EXPECT_FALSE(est.has_sample());
  EXPECT_EQ(est.rto(), seconds(1));
  EXPECT_EQ(est.srtt(), Duration::zero());
  EXPECT_EQ(est.rttvar(), Duration::zero());
  EXPECT_EQ(est.min_rtt(), Duration::zero());
}

TEST(RttEstimatorTest, FirstSampleSeedsSrttAndHalfRttvar) {
  RttEstimator est;
  est.on_sample(milliseconds(100));
  EXPECT_TRUE(est.has_sample());
  EXPECT_EQ(est.srtt(), milliseconds(100));
  EXPECT_EQ(est.rttvar(), milliseconds(50));
  // 100 + max(1 ms, 4 * 50) = 300 ms
  EXPECT_EQ(est.rto(), milliseconds(300));
  EXPECT_EQ(est.latest_rtt(), milliseconds(100));
  EXPECT_EQ(est.min_rtt(), milliseconds(100));
}

TEST(RttEstimatorTest, LaterSamplesUseAlphaEighthBetaQuarter) {
  RttEstimator est;
  est.on_sample(milliseconds(100));
  est.on_sample(milliseconds(180));
  // RTTVAR = 3/4 * 50 + 1/4 * |100 - 180| = 37.5 + 20 = 57.5 ms (old SRTT used)
  EXPECT_EQ(est.rttvar(), std::chrono::microseconds(57500));
  // SRTT = 7/8 * 100 + 1/8 * 180 = 110 ms
  EXPECT_EQ(est.srtt(), milliseconds(110));
  EXPECT_EQ(est.rto(), milliseconds(110 + 230));

  est.on_sample(milliseconds(30));
  // RTTVAR = 3/4 * 57.5 + 1/4 * 80 = 43.125 + 20 = 63.125 ms
  EXPECT_EQ(est.rttvar(), std::chrono::microseconds(63125));
  // SRTT = 7/8 * 110 + 1/8 * 30 = 96.25 + 3.75 = 100 ms
  EXPECT_EQ(est.srtt(), milliseconds(100));
  EXPECT_EQ(est.rto(), milliseconds(100) + std::chrono::microseconds(252500));
  EXPECT_EQ(est.min_rtt(), milliseconds(30));
  EXPECT_EQ(est.latest_rtt(), milliseconds(30));
}

TEST(RttEstimatorTest, ConvergesOnConstantSamples) {
  RttEstimator est;
  for (int i = 0; i < 200; ++i) est.on_sample(milliseconds(40));
  EXPECT_EQ(est.srtt(), milliseconds(40));
  // RTTVAR decays geometrically towards zero; the granularity term G keeps RTO above SRTT,
  // and the minimum clamps it.
  EXPECT_LT(est.rttvar(), std::chrono::microseconds(1));
  EXPECT_EQ(est.rto(), milliseconds(200));
}

TEST(RttEstimatorTest, GranularityBoundsTheVarianceTerm) {
  RtoConfig config;
  config.min = Duration::zero();
  config.granularity = milliseconds(10);
  RttEstimator est(config);
  for (int i = 0; i < 200; ++i) est.on_sample(milliseconds(40));
  EXPECT_EQ(est.rto(), milliseconds(50));  // SRTT + G
}

TEST(RttEstimatorTest, RtoClampedToMinimumAndMaximum) {
  RttEstimator small;
  small.on_sample(milliseconds(1));  // 1 + max(1, 2) = 3 ms
  EXPECT_EQ(small.rto(), milliseconds(200));

  RtoConfig config;
  config.max = seconds(5);
  RttEstimator large(config);
  large.on_sample(seconds(4));  // 4 + 8 = 12 s
  EXPECT_EQ(large.rto(), seconds(5));
}

TEST(RttEstimatorTest, BackoffDoublesUntilMaximum) {
  RtoConfig config;
  config.max = seconds(10);
  RttEstimator est(config);
  est.on_sample(milliseconds(100));  // RTO 300 ms
  est.backoff();
  EXPECT_EQ(est.rto(), milliseconds(600));
  EXPECT_EQ(est.backoff_count(), 1u);
  est.backoff();
  EXPECT_EQ(est.rto(), milliseconds(1200));
  est.backoff();
  est.backoff();
  est.backoff();
  EXPECT_EQ(est.rto(), milliseconds(9600));
  est.backoff();
  EXPECT_EQ(est.rto(), seconds(10));
  const unsigned at_max = est.backoff_count();
  for (int i = 0; i < 100; ++i) est.backoff();
  EXPECT_EQ(est.rto(), seconds(10));
  EXPECT_EQ(est.backoff_count(), at_max);  // no unbounded counting once at max
}

TEST(RttEstimatorTest, BackoffFromInitialRto) {
  RttEstimator est;
  est.backoff();
  EXPECT_EQ(est.rto(), seconds(2));
  est.backoff();
  EXPECT_EQ(est.rto(), seconds(4));
  est.reset_backoff();
  EXPECT_EQ(est.rto(), seconds(1));
  EXPECT_EQ(est.backoff_count(), 0u);
}

TEST(RttEstimatorTest, ValidSampleClearsBackoff) {
  // Karn: the backed-off RTO stays until a valid sample arrives.
  RttEstimator est;
  est.on_sample(milliseconds(100));
  est.backoff();
  est.backoff();
  EXPECT_EQ(est.rto(), milliseconds(1200));
  est.on_sample(milliseconds(100));
  EXPECT_EQ(est.backoff_count(), 0u);
  // RTTVAR = 3/4 * 50 = 37.5 ms; RTO = 100 + 150 = 250 ms
  EXPECT_EQ(est.rto(), milliseconds(250));
}

TEST(RttEstimatorTest, MinRttTracksSmallestSample) {
  RttEstimator est;
  est.on_sample(milliseconds(50));
  est.on_sample(milliseconds(20));
  est.on_sample(milliseconds(70));
  EXPECT_EQ(est.min_rtt(), milliseconds(20));
  EXPECT_EQ(est.latest_rtt(), milliseconds(70));
}

TEST(RttEstimatorTest, ZeroSampleIsValidNegativeIgnored) {
  RttEstimator est;
  est.on_sample(Duration(-5));
  EXPECT_FALSE(est.has_sample());
  est.on_sample(Duration::zero());
  EXPECT_TRUE(est.has_sample());
  EXPECT_EQ(est.srtt(), Duration::zero());
  EXPECT_EQ(est.rto(), milliseconds(200));  // 0 + G, clamped to min
}

TEST(RttEstimatorTest, InitialRtoIsClampedToo) {
  RtoConfig config;
  config.initial = seconds(3);
  config.max = seconds(2);
  RttEstimator est(config);
  EXPECT_EQ(est.rto(), seconds(2));
}

TEST(RttEstimatorTest, MinAboveMaxIsCorrected) {
  RtoConfig config;
  config.min = seconds(10);
  config.max = seconds(1);
  RttEstimator est(config);
  est.on_sample(milliseconds(10));
  EXPECT_EQ(est.rto(), seconds(1));
}

}  // namespace
}  // namespace weir::tcp
