#include "tcp/cc/congestion_control.h"

#include <gtest/gtest.h>

namespace weir::tcp {
namespace {

TEST(MakeCongestionControlTest, CubicIsTheDefault) {
  auto cc = make_congestion_control("", {});
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ((*cc)->name(), "cubic");
  EXPECT_EQ((*cc)->cwnd(), 10u * 1460);
}

TEST(MakeCongestionControlTest, KnownNames) {
  for (std::string_view name : {"cubic", "CUBIC"}) {
    auto cc = make_congestion_control(name, {});
    ASSERT_TRUE(cc.ok()) << name;
    EXPECT_EQ((*cc)->name(), "cubic");
  }
  for (std::string_view name : {"newreno", "reno", "NewReno"}) {
    auto cc = make_congestion_control(name, {});
    ASSERT_TRUE(cc.ok()) << name;
    EXPECT_EQ((*cc)->name(), "newreno");
  }
}

TEST(MakeCongestionControlTest, UnknownNameIsInvalid) {
  auto cc = make_congestion_control("bbr9", {});
  ASSERT_FALSE(cc.ok());
  EXPECT_EQ(cc.error(), Error::kInvalidArgument);
}

TEST(MakeCongestionControlTest, NamesParseOnlyWhenKnown) {
  EXPECT_EQ(*parse_congestion_algorithm("CUBIC"), CongestionAlgorithm::kCubic);
  EXPECT_EQ(*parse_congestion_algorithm("reno"), CongestionAlgorithm::kNewReno);
  EXPECT_EQ(*parse_congestion_algorithm("newreno"), CongestionAlgorithm::kNewReno);
  for (std::string_view name : {"", "bbr", "cubic ", "vegas"}) {
    EXPECT_EQ(parse_congestion_algorithm(name).error(), Error::kInvalidArgument) << name;
  }
  EXPECT_EQ(congestion_algorithm_name(CongestionAlgorithm::kCubic), "cubic");
  EXPECT_EQ(congestion_algorithm_name(CongestionAlgorithm::kNewReno), "reno");
  auto cc = make_congestion_control(CongestionAlgorithm::kNewReno, {});
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ((*cc)->name(), "newreno");
}

TEST(MakeCongestionControlTest, OptionsAreApplied) {
  auto cc = make_congestion_control("reno", {9000, 4});
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ((*cc)->cwnd(), 4u * 9000);
  EXPECT_FALSE(make_congestion_control("cubic", {0, 10}).ok());
  EXPECT_FALSE(make_congestion_control("cubic", {1460, 0}).ok());
}

TEST(MakeCongestionControlTest, BothFollowTheSameSlowStart) {
  auto reno = make_congestion_control("reno", {1000, 10});
  auto cubic = make_congestion_control("cubic", {1000, 10});
  ASSERT_TRUE(reno.ok() && cubic.ok());
  AckSample ack;
  ack.now = TimePoint{std::chrono::seconds(1)};
  ack.bytes_acked = 1000;
  for (int i = 0; i < 50; ++i) {
    (*reno)->on_ack(ack, false);
    (*cubic)->on_ack(ack, false);
    ASSERT_EQ((*reno)->cwnd(), (*cubic)->cwnd());
  }
}

}  // namespace
}  // namespace weir::tcp
