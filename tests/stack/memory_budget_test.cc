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
