#include "stack/memory_budget.h"

#include <gtest/gtest.h>

#include <deque>

namespace weir {
namespace {

// Holds charges in arrival order, each stamped with a time.
class FakeConsumer final : public MemoryBudget::Consumer {
 public:
  explicit FakeConsumer(MemoryBudget& budget) : budget_(budget) { budget_.add_consumer(*this); }
  ~FakeConsumer() override { budget_.remove_consumer(*this); }

  bool hold(size_t n, TimePoint at) {
    if (!budget_.make_room(n)) return false;
    budget_.charge(n);
    held_.push_back({n, at});
    return true;
  }
  std::optional<TimePoint> oldest_charge() const override {
    if (held_.empty()) return std::nullopt;
    return held_.front().second;
  }
  void reclaim_oldest() override {
    budget_.release(held_.front().first);
    held_.pop_front();
    ++reclaimed;
  }
  size_t held() const { return held_.size(); }
  int reclaimed = 0;

 private:
  MemoryBudget& budget_;
  std::deque<std::pair<size_t, TimePoint>> held_;
};

TimePoint at(int seconds) { return TimePoint{std::chrono::seconds(seconds)}; }

TEST(MemoryBudgetTest, ChargesFitWithoutReclaim) {
  MemoryBudget budget(100);
  FakeConsumer a(budget);
  EXPECT_TRUE(a.hold(60, at(1)));
  EXPECT_TRUE(a.hold(40, at(2)));
  EXPECT_EQ(budget.used(), 100u);
  EXPECT_EQ(a.reclaimed, 0);
}

TEST(MemoryBudgetTest, ReclaimsTheOldestAcrossConsumers) {
  MemoryBudget budget(100);
  FakeConsumer a(budget);
  FakeConsumer b(budget);
  EXPECT_TRUE(b.hold(50, at(1)));  // oldest
  EXPECT_TRUE(a.hold(50, at(2)));
  EXPECT_TRUE(a.hold(30, at(3)));  // b's charge goes, not a's own
  EXPECT_EQ(b.reclaimed, 1);
  EXPECT_EQ(a.reclaimed, 0);
  EXPECT_EQ(budget.used(), 80u);
}

TEST(MemoryBudgetTest, RefusesWhatCanNeverFit) {
  MemoryBudget budget(100);
  FakeConsumer a(budget);
  EXPECT_TRUE(a.hold(10, at(1)));
  EXPECT_FALSE(a.hold(101, at(2)));
  EXPECT_EQ(a.held(), 1u);  // nothing reclaimed for a hopeless request
}

TEST(MemoryBudgetTest, UnregisteredChargesAreNotReclaimable) {
  MemoryBudget budget(100);
  budget.charge(90);  // held by nobody who can give it back
  FakeConsumer a(budget);
  EXPECT_FALSE(a.hold(20, at(1)));
  budget.release(90);
  EXPECT_TRUE(a.hold(20, at(2)));
}

}  // namespace
}  // namespace weir

namespace weir {
namespace {

TEST(SocketMemory, LevelsWithHysteresis) {
  SocketMemory m(SocketMemoryLimits{.min = 1000, .pressure = 2000, .max = 3000});
  EXPECT_EQ(m.level(), 0);
  m.charge(2000);  // at pressure, not past it
  EXPECT_FALSE(m.under_pressure());
  m.charge(1);
  EXPECT_TRUE(m.under_pressure());
  EXPECT_EQ(m.level(), 1);
  EXPECT_EQ(m.counters().pressure_entered, 1u);
  // Back below pressure but not below min: still under pressure.
  m.release(1001);
  EXPECT_EQ(m.used(), 1000u);
  EXPECT_TRUE(m.under_pressure());
  m.release(1);
  EXPECT_FALSE(m.under_pressure());
  EXPECT_EQ(m.counters().pressure_left, 1u);
  // The hard limit.
  EXPECT_FALSE(m.exceeds_hard_limit(2001));
  EXPECT_TRUE(m.exceeds_hard_limit(2002));
  m.charge(2001);
  EXPECT_TRUE(m.over_hard_limit());
  EXPECT_EQ(m.level(), 2);
  EXPECT_EQ(m.counters().hard_limit_reached, 1u);
  m.charge(10);  // still over: not a second crossing
  EXPECT_EQ(m.counters().hard_limit_reached, 1u);
  EXPECT_EQ(m.peak(), 3010u);
  m.release(3010);
  EXPECT_EQ(m.used(), 0u);
  EXPECT_EQ(m.level(), 0);
  EXPECT_EQ(m.counters().pressure_entered, 2u);
  EXPECT_EQ(m.counters().pressure_left, 2u);
  m.release(5);  // more than held never wraps
  EXPECT_EQ(m.used(), 0u);
}

TEST(SocketMemory, FairShareAndOrderedLevels) {
  SocketMemory m(SocketMemoryLimits{.min = 500, .pressure = 100, .max = 50});
  // Out-of-order levels are raised to min.
  EXPECT_EQ(m.limits().pressure, 500u);
  EXPECT_EQ(m.limits().max, 500u);
  EXPECT_EQ(m.fair_share(), 500u);
  m.add_socket();
  m.add_socket();
  m.add_socket();
  m.add_socket();
  EXPECT_EQ(m.fair_share(), 125u);
  m.remove_socket();
  EXPECT_EQ(m.sockets(), 3u);
}

TEST(SocketMemory, LinuxDefaultsFromMemory) {
  // tcp_init_mem: pressure 1/16, min 3/4 of it, max twice min.
  auto l = SocketMemoryLimits::from_memory(size_t{16} << 30);
  EXPECT_EQ(l.pressure, size_t{1} << 30);
  EXPECT_EQ(l.min, size_t{768} << 20);
  EXPECT_EQ(l.max, size_t{1536} << 20);
  auto here = SocketMemoryLimits::for_this_machine();
  EXPECT_GT(here.max, here.pressure);
  EXPECT_GT(here.pressure, here.min);
  EXPECT_GT(here.min, 0u);
}

}  // namespace
}  // namespace weir
