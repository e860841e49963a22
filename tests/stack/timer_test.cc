#include "stack/timer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <utility>
#include <vector>

namespace weir {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

class TimerWheelTest : public ::testing::Test {
 protected:
  ManualClock clock_;
  TimerWheel wheel_{clock_};
};

TEST_F(TimerWheelTest, EmptyWheel) {
  EXPECT_FALSE(wheel_.next_deadline().has_value());
  EXPECT_EQ(wheel_.armed_count(), 0u);
  EXPECT_EQ(wheel_.run(), 0u);
  clock_.advance(hours(5));
  EXPECT_EQ(wheel_.run(), 0u);
}

TEST_F(TimerWheelTest, FiresAtDeadlineNotBefore) {
  int fired = 0;
  Timer t([&] { ++fired; });
  wheel_.arm_after(t, milliseconds(10));
  EXPECT_TRUE(t.armed());
  EXPECT_EQ(t.deadline(), clock_.now() + milliseconds(10));
  clock_.advance(milliseconds(10) - nanoseconds(1));
  EXPECT_EQ(wheel_.run(), 0u);
  EXPECT_EQ(fired, 0);
  EXPECT_TRUE(t.armed());
  clock_.advance(nanoseconds(1));
  EXPECT_EQ(wheel_.run(), 1u);
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(t.armed());
  clock_.advance(seconds(1));
  EXPECT_EQ(wheel_.run(), 0u);
  EXPECT_EQ(fired, 1);
}

TEST_F(TimerWheelTest, DeadlineBetweenTicksFiresExactlyWhenReached) {
  int fired = 0;
  Timer t([&] { ++fired; });
  wheel_.arm_after(t, microseconds(2500));
  clock_.advance(microseconds(2499));
  wheel_.run();
  EXPECT_EQ(fired, 0);
  clock_.advance(microseconds(1));
  wheel_.run();
  EXPECT_EQ(fired, 1);
}

TEST_F(TimerWheelTest, PastDeadlineFiresOnNextRun) {
  int fired = 0;
  Timer t([&] { ++fired; });
  wheel_.arm(t, clock_.now() - seconds(3));
  EXPECT_EQ(wheel_.run(), 1u);
  EXPECT_EQ(fired, 1);
  wheel_.arm(t, clock_.now());
  EXPECT_EQ(wheel_.run(), 1u);
  EXPECT_EQ(fired, 2);
}

TEST_F(TimerWheelTest, OrderAcrossTicksInOneRun) {
  std::vector<int> order;
  std::vector<std::unique_ptr<Timer>> timers;
  std::vector<int> delays_ms = {500, 3, 70, 4100, 1, 64, 65, 63, 262144, 9000, 128, 4096};
  for (int d : delays_ms) {
    timers.push_back(std::make_unique<Timer>([&order, d] { order.push_back(d); }));
    wheel_.arm_after(*timers.back(), milliseconds(d));
  }
  EXPECT_EQ(wheel_.armed_count(), delays_ms.size());
  clock_.advance(hours(1));
  EXPECT_EQ(wheel_.run(), delays_ms.size());
  auto sorted = delays_ms;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(order, sorted);
  EXPECT_EQ(wheel_.armed_count(), 0u);
}

TEST_F(TimerWheelTest, CancelAndDestroy) {
  int fired = 0;
  Timer a([&] { ++fired; });
  auto b = std::make_unique<Timer>([&] { ++fired; });
  wheel_.arm_after(a, milliseconds(5));
  wheel_.arm_after(*b, seconds(5));
  EXPECT_EQ(wheel_.armed_count(), 2u);
  a.cancel();
  EXPECT_FALSE(a.armed());
  a.cancel();  // cancelling twice is harmless
  b.reset();   // destroying an armed timer unlinks it
  EXPECT_EQ(wheel_.armed_count(), 0u);
  EXPECT_FALSE(wheel_.next_deadline().has_value());
  clock_.advance(seconds(10));
  EXPECT_EQ(wheel_.run(), 0u);
  EXPECT_EQ(fired, 0);
}

TEST_F(TimerWheelTest, RearmMovesTimer) {
  int fired = 0;
  Timer t([&] { ++fired; });
  wheel_.arm_after(t, seconds(10));
  wheel_.arm_after(t, milliseconds(20));
  EXPECT_EQ(wheel_.armed_count(), 1u);
  clock_.advance(milliseconds(20));
  EXPECT_EQ(wheel_.run(), 1u);
  wheel_.arm_after(t, milliseconds(20));
  wheel_.arm_after(t, seconds(10));
  clock_.advance(seconds(9));
  EXPECT_EQ(wheel_.run(), 0u);
  clock_.advance(seconds(1));
  EXPECT_EQ(wheel_.run(), 1u);
  EXPECT_EQ(fired, 2);
}

TEST_F(TimerWheelTest, PeriodicRearmInsideCallback) {
  // A callback re-arms relative to its own deadline: a long jump fires every period.
  std::vector<TimePoint> at;
  Timer t([&] {
    at.push_back(t.deadline());
    if (at.size() < 10) wheel_.arm(t, t.deadline() + milliseconds(10));
  });
  wheel_.arm_after(t, milliseconds(10));
  TimePoint start = clock_.now();
  clock_.advance(seconds(1));
  EXPECT_EQ(wheel_.run(), 10u);
  ASSERT_EQ(at.size(), 10u);
  for (size_t i = 0; i < at.size(); ++i) {
    EXPECT_EQ(at[i], start + milliseconds(10) * static_cast<int>(i + 1));
  }
}

TEST_F(TimerWheelTest, ZeroDelayRearmDoesNotLoopForever) {
  int fired = 0;
  Timer t([&] {
    ++fired;
    wheel_.arm_after(t, Duration::zero());
  });
  wheel_.arm_after(t, milliseconds(1));
  clock_.advance(milliseconds(5));
  size_t n = wheel_.run();
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, 6u);
  EXPECT_TRUE(t.armed());
  t.cancel();
}

TEST_F(TimerWheelTest, CancelOtherInsideCallback) {
  int a_fired = 0;
  int b_fired = 0;
  Timer b([&] { ++b_fired; });
  Timer a([&] {
    ++a_fired;
    b.cancel();
  });
  // Same deadline: whichever runs first cancels or not; but a later one is always cancelled.
  wheel_.arm_after(a, milliseconds(3));
  wheel_.arm_after(b, milliseconds(4));
  clock_.advance(milliseconds(10));
  wheel_.run();
  EXPECT_EQ(a_fired, 1);
  EXPECT_EQ(b_fired, 0);
}

TEST_F(TimerWheelTest, CancelOtherDueInTheSameTick) {
  int fired = 0;
  Timer* other = nullptr;
  // Both callbacks cancel the other: exactly one fires.
  Timer x([&] {
    ++fired;
    other->cancel();
  });
  Timer y([&] {
    ++fired;
    x.cancel();
  });
  other = &y;
  wheel_.arm_after(x, milliseconds(7));
  wheel_.arm_after(y, milliseconds(7));
  clock_.advance(milliseconds(7));
  EXPECT_EQ(wheel_.run(), 1u);
  EXPECT_EQ(fired, 1);
}

TEST_F(TimerWheelTest, DestroyOtherInsideCallback) {
  int fired = 0;
  auto victim = std::make_unique<Timer>([&] { ++fired; });
  Timer killer([&] { victim.reset(); });
  wheel_.arm_after(killer, milliseconds(2));
  wheel_.arm_after(*victim, milliseconds(2));
  clock_.advance(milliseconds(2));
  wheel_.run();
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(victim, nullptr);
  EXPECT_EQ(wheel_.armed_count(), 0u);
}

TEST_F(TimerWheelTest, ArmOtherInsideCallback) {
  std::vector<int> order;
  Timer second([&] { order.push_back(2); });
  Timer first([&] {
    order.push_back(1);
    wheel_.arm_after(second, milliseconds(5));
  });
  wheel_.arm_after(first, milliseconds(5));
  clock_.advance(milliseconds(5));
  wheel_.run();
  EXPECT_EQ(order, std::vector<int>{1});
  clock_.advance(milliseconds(5));
  wheel_.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST_F(TimerWheelTest, LongDeadlinesIncludingOverflow) {
  // 64^6 ms is about 2.2 years: the last two go through the overflow list.
  std::vector<Duration> delays = {hours(1), hours(24), hours(24 * 30), hours(24 * 365),
                                  hours(24 * 365 * 3), hours(24 * 365 * 7)};
  std::vector<int> fired(delays.size(), 0);
  std::vector<std::unique_ptr<Timer>> timers;
  TimePoint start = clock_.now();
  for (size_t i = 0; i < delays.size(); ++i) {
    timers.push_back(std::make_unique<Timer>([&fired, i] { ++fired[i]; }));
    wheel_.arm_after(*timers[i], delays[i]);
  }
  for (size_t i = 0; i < delays.size(); ++i) {
    clock_.set(start + delays[i] - milliseconds(1));
    wheel_.run();
    EXPECT_EQ(fired[i], 0) << i;
    clock_.set(start + delays[i]);
    wheel_.run();
    EXPECT_EQ(fired[i], 1) << i;
    if (i + 1 < delays.size()) {
      EXPECT_EQ(fired[i + 1], 0);
    }
  }
}

TEST_F(TimerWheelTest, NextDeadlineIsExactForNearTimers) {
  Timer a([] {});
  Timer b([] {});
  wheel_.arm(a, clock_.now() + microseconds(30500));
  wheel_.arm(b, clock_.now() + microseconds(30200));
  auto next = wheel_.next_deadline();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, clock_.now() + microseconds(30200));
}

TEST_F(TimerWheelTest, NextDeadlineNeverLaterThanEarliest) {
  std::mt19937 gen(3);
  std::vector<std::unique_ptr<Timer>> timers;
  for (int i = 0; i < 200; ++i) {
    timers.push_back(std::make_unique<Timer>([] {}));
    // Spread over every level: from microseconds to years.
    int64_t exp = gen() % 17;
    int64_t us = (int64_t{1} << (exp * 2)) + gen() % 1000;
    wheel_.arm_after(*timers.back(), microseconds(us));
  }
  while (wheel_.armed_count() > 0) {
    TimePoint earliest = TimePoint::max();
    for (auto& t : timers) {
      if (t->armed()) earliest = std::min(earliest, t->deadline());
    }
    auto next = wheel_.next_deadline();
    ASSERT_TRUE(next.has_value());
    ASSERT_LE(*next, earliest);
    // Jump to somewhere between now and the earliest deadline, or just past it.
    clock_.set(std::max(clock_.now(), *next) + nanoseconds(gen() % 2000000));
    wheel_.run();
    for (auto& t : timers) {
      if (t->armed()) {
        ASSERT_GT(t->deadline(), clock_.now());
      }
    }
  }
}

TEST_F(TimerWheelTest, SleepingUntilNextDeadlineMakesProgress) {
  // A loop that only ever sleeps until next_deadline() and runs the wheel must fire every
  // timer at its deadline, in few wake-ups, never spinning on a deadline already passed.
  std::mt19937 gen(11);
  std::vector<TimePoint> fired_at;
  std::vector<std::unique_ptr<Timer>> timers;
  const size_t n = 300;
  for (size_t i = 0; i < n; ++i) {
    auto t = std::make_unique<Timer>([&fired_at, &timers, i, this] {
      EXPECT_GE(clock_.now(), timers[i]->deadline());
      fired_at.push_back(clock_.now());
    });
    int64_t exp = gen() % 12;
    int64_t us = (int64_t{1} << (exp * 2)) + gen() % 5000;
    wheel_.arm_after(*t, microseconds(us));
    timers.push_back(std::move(t));
  }
  size_t wakeups = 0;
  while (auto next = wheel_.next_deadline()) {
    ASSERT_LT(++wakeups, n * 8) << "the loop is not making progress";
    if (*next > clock_.now()) clock_.set(*next);
    wheel_.run();
  }
  ASSERT_EQ(fired_at.size(), n);
  // Each fired at its exact deadline since the loop woke at it.
  for (auto& t : timers) EXPECT_FALSE(t->armed());
  EXPECT_TRUE(std::is_sorted(fired_at.begin(), fired_at.end()));
}

TEST_F(TimerWheelTest, FireTimesAreExactWhenRunOften) {
  // Run at every 100 us: each timer fires on the first run at or after its deadline.
  std::mt19937 gen(21);
  struct Entry {
    std::unique_ptr<Timer> timer;
    TimePoint fired{};
    bool done = false;
  };
  std::vector<Entry> entries(200);
  for (auto& e : entries) {
    Entry* ep = &e;
    e.timer = std::make_unique<Timer>([this, ep] {
      ep->fired = clock_.now();
      ep->done = true;
    });
    wheel_.arm_after(*e.timer, microseconds(gen() % 500000));
  }
  const Duration step = microseconds(100);
  for (int i = 0; i < 5001; ++i) {
    wheel_.run();
    clock_.advance(step);
  }
  for (auto& e : entries) {
    ASSERT_TRUE(e.done);
    EXPECT_GE(e.fired, e.timer->deadline());
    EXPECT_LT(e.fired - e.timer->deadline(), step);
  }
}

TEST(TimerWheelTickTest, CoarseTickNeverEarlyAtMostOneTickLateOnTickRuns) {
  ManualClock clock;
  TimerWheel wheel(clock, milliseconds(10));
  TimePoint start = clock.now();
  int fired = 0;
  TimePoint fired_at{};
  Timer t([&] {
    ++fired;
    fired_at = clock.now();
  });
  wheel.arm_after(t, milliseconds(13));
  for (int i = 1; i <= 3; ++i) {
    clock.set(start + milliseconds(10) * i);
    wheel.run();
  }
  EXPECT_EQ(fired, 1);
  EXPECT_GE(fired_at, t.deadline());
  EXPECT_LE(fired_at - t.deadline(), milliseconds(10));
}

TEST(TimerWheelTickTest, NextDeadlineUnderCoarseTick) {
  ManualClock clock;
  TimerWheel wheel(clock, milliseconds(10));
  Timer t([] {});
  wheel.arm_after(t, seconds(100));  // beyond level 0: a cascade bound, not exact
  auto next = wheel.next_deadline();
  ASSERT_TRUE(next.has_value());
  EXPECT_LE(*next, t.deadline());
  EXPECT_GT(*next, clock.now());
}

// Random arm / cancel / advance against a model of what must have fired, for several tick
// widths: at 1 us the top level spans only about 19 hours, so the overflow list is busy.
class TimerWheelRandomTest : public ::testing::TestWithParam<Duration> {
 protected:
  ManualClock clock_;
  TimerWheel wheel_{clock_, GetParam()};
};

TEST_P(TimerWheelRandomTest, AgainstModel) {
  std::mt19937_64 gen(77);
  const size_t n = 64;
  std::vector<std::unique_ptr<Timer>> timers(n);
  std::vector<int> fire_count(n, 0);
  std::map<size_t, TimePoint> armed;  // model: index -> deadline
  for (size_t i = 0; i < n; ++i) {
    timers[i] = std::make_unique<Timer>([&, i] {
      ++fire_count[i];
      auto it = armed.find(i);
      ASSERT_NE(it, armed.end()) << "timer " << i << " fired while not armed";
      ASSERT_GE(clock_.now(), it->second) << "timer " << i << " fired early";
      armed.erase(it);
      // Sometimes re-arm from the callback.
      if (gen() % 4 == 0) {
        Duration d = microseconds(gen() % 200000);
        wheel_.arm_after(*timers[i], d);
        armed[i] = clock_.now() + d;
      }
    });
  }
  auto random_delay = [&]() -> Duration {
    switch (gen() % 4) {
      case 0: return microseconds(gen() % 5000);
      case 1: return milliseconds(gen() % 5000);
      case 2: return seconds(gen() % 100000);
      default: return nanoseconds(gen() % 100);
    }
  };
  for (int step = 0; step < 6000; ++step) {
    size_t i = gen() % n;
    switch (gen() % 6) {
      case 0:
      case 1: {
        Duration d = random_delay();
        wheel_.arm_after(*timers[i], d);
        armed[i] = clock_.now() + d;
        break;
      }
      case 2:
        timers[i]->cancel();
        armed.erase(i);
        break;
      default: {
        clock_.advance(gen() % 8 == 0 ? random_delay() * 3 : microseconds(gen() % 3000));
        wheel_.run();
        for (auto& [idx, deadline] : armed) {
          ASSERT_GT(deadline, clock_.now()) << "timer " << idx << " is late at step " << step;
        }
        break;
      }
    }
    ASSERT_EQ(wheel_.armed_count(), armed.size());
    if (auto next = wheel_.next_deadline()) {
      ASSERT_FALSE(armed.empty());
      TimePoint earliest = TimePoint::max();
      for (auto& [idx, deadline] : armed) earliest = std::min(earliest, deadline);
      ASSERT_LE(*next, earliest);
    } else {
      ASSERT_TRUE(armed.empty());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ticks, TimerWheelRandomTest,
                         ::testing::Values(Duration(milliseconds(1)), Duration(microseconds(1)),
                                           Duration(milliseconds(10)), Duration(microseconds(100))));

TEST_F(TimerWheelTest, ClockGoingBackwardsFiresNothingEarly) {
  int fired = 0;
  Timer t([&] { ++fired; });
  TimePoint start = clock_.now();
  clock_.advance(seconds(5));
  wheel_.run();
  wheel_.arm(t, start + seconds(6));
  clock_.set(start + seconds(1));
  EXPECT_EQ(wheel_.run(), 0u);
  clock_.set(start + seconds(6) - nanoseconds(1));
  EXPECT_EQ(wheel_.run(), 0u);
  clock_.set(start + seconds(6));
  EXPECT_EQ(wheel_.run(), 1u);
  EXPECT_EQ(fired, 1);
}

// run() returns early while nothing can be due; an arm earlier than everything the wheel held
// must end that quiet, and so must a timer armed by a callback for a time already past.
TEST_F(TimerWheelTest, QuietRunsNeverHideAnEarlierArm) {
  std::vector<int> order;
  Timer late([&] { order.push_back(2); });
  Timer early([&] { order.push_back(1); });
  wheel_.arm_after(late, seconds(10));
  for (int i = 0; i < 50; ++i) {
    clock_.advance(milliseconds(7));
    EXPECT_EQ(wheel_.run(), 0u);
  }
  // 350 ms in, with the wheel's quiet bound at 10 s: a timer 3 ms out must still fire on time.
  wheel_.arm_after(early, milliseconds(3));
  clock_.advance(milliseconds(3) - nanoseconds(1));
  EXPECT_EQ(wheel_.run(), 0u);
  clock_.advance(nanoseconds(1));
  EXPECT_EQ(wheel_.run(), 1u);
  EXPECT_EQ(order, std::vector<int>{1});

  Timer chained([&] { order.push_back(3); });
  Timer arms_past([&] { wheel_.arm(chained, clock_.now() - milliseconds(1)); });
  wheel_.arm_after(arms_past, milliseconds(1));
  clock_.advance(milliseconds(1));
  EXPECT_EQ(wheel_.run(), 2u);  // the chained timer was due the moment it was armed
  EXPECT_EQ(order, (std::vector<int>{1, 3}));

  clock_.advance(seconds(10));
  EXPECT_EQ(wheel_.run(), 1u);
  EXPECT_EQ(order, (std::vector<int>{1, 3, 2}));
}

// A cancelled timer leaves the quiet bound early; the next run simply finds nothing due and
// the wheel carries on as before.
TEST_F(TimerWheelTest, CancelledEarliestTimerLeavesTheOthersOnTime) {
  int fired = 0;
  Timer soon([&] { fired += 10; });
  Timer later([&] { ++fired; });
  wheel_.arm_after(soon, milliseconds(5));
  wheel_.arm_after(later, milliseconds(20));
  soon.cancel();
  clock_.advance(milliseconds(5));
  EXPECT_EQ(wheel_.run(), 0u);
  clock_.advance(milliseconds(15) - nanoseconds(1));
  EXPECT_EQ(wheel_.run(), 0u);
  clock_.advance(nanoseconds(1));
  EXPECT_EQ(wheel_.run(), 1u);
  EXPECT_EQ(fired, 1);
}

TEST_F(TimerWheelTest, ManyTimersSameTick) {
  int fired = 0;
  std::vector<std::unique_ptr<Timer>> timers;
  for (int i = 0; i < 10000; ++i) {
    timers.push_back(std::make_unique<Timer>([&] { ++fired; }));
    wheel_.arm_after(*timers.back(), milliseconds(200));
  }
  clock_.advance(milliseconds(200));
  EXPECT_EQ(wheel_.run(), 10000u);
  EXPECT_EQ(fired, 10000);
}

TEST_F(TimerWheelTest, WheelDestroyedWithArmedTimers) {
  Timer t([] {});
  {
    TimerWheel w(clock_);
    w.arm_after(t, seconds(1));
    EXPECT_TRUE(t.armed());
  }
  EXPECT_FALSE(t.armed());
}

// Timers on every level and in the overflow list are released when the wheel goes, and a
// slot left by a cancelled timer takes timers again.
TEST_F(TimerWheelTest, WheelDestroyedWithTimersOnEveryLevel) {
  std::vector<std::unique_ptr<Timer>> timers;
  {
    TimerWheel w(clock_);
    int fired = 0;
    Timer early([&] { ++fired; });
    w.arm_after(early, hours(1));  // level 3
    early.cancel();
    for (int64_t ms = 1; ms <= int64_t{1} << 40; ms *= 64) {
      timers.push_back(std::make_unique<Timer>([] {}));
      w.arm_after(*timers.back(), milliseconds(ms));
    }
    EXPECT_EQ(w.armed_count(), timers.size());
    w.arm_after(early, hours(2));  // the same level again
    clock_.advance(hours(2));
    w.run();
    EXPECT_EQ(fired, 1);
  }
  for (const auto& t : timers) EXPECT_FALSE(t->armed());
}

// Timers that leave by cancel or destruction do not tell the wheel, so the slots they held stay
// marked busy until a scan finds them empty: the queries must look past such slots, on every
// level, and a slot marked again later must be found.
TEST_F(TimerWheelTest, SlotsLeftByCancelledAndDestroyedTimers) {
  int fired = 0;
  Timer early([&] { ++fired; });
  Timer late([&] { ++fired; });
  {
    Timer gone([&] { ++fired; });
    wheel_.arm_after(gone, milliseconds(3));
    wheel_.arm_after(early, milliseconds(5));
    wheel_.arm_after(late, seconds(90));  // level 2
  }
  early.cancel();
  EXPECT_EQ(wheel_.armed_count(), 1u);
  ASSERT_TRUE(wheel_.next_deadline().has_value());
  EXPECT_GE(*wheel_.next_deadline(), clock_.now() + milliseconds(5));
  late.cancel();
  EXPECT_FALSE(wheel_.next_deadline().has_value());
  clock_.advance(seconds(100));
  EXPECT_EQ(wheel_.run(), 0u);
  EXPECT_EQ(fired, 0);

  wheel_.arm_after(early, milliseconds(3));
  wheel_.arm_after(late, seconds(90));
  EXPECT_EQ(wheel_.armed_count(), 2u);
  EXPECT_EQ(wheel_.next_deadline(), clock_.now() + milliseconds(3));
  clock_.advance(milliseconds(3));
  EXPECT_EQ(wheel_.run(), 1u);
  clock_.advance(seconds(90));
  EXPECT_EQ(wheel_.run(), 1u);
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(wheel_.armed_count(), 0u);
}

// The fuzz targets that keep one wheel per process (fuzz/ipv4_reassembly, ipv6_reassembly,
// ra_state) set its clock back and reset() it before each input, and rely on the wheel then
// doing exactly what a new one on that clock would: the same firings at the same times, the
// same next_deadline() answers. A wheel used hard (timers on every level and in the overflow
// list, cascades, some left armed, some destroyed armed) is compared with a new one.
TEST(TimerWheelResetTest, ResetWheelRunsLikeANewOne) {
  const TimePoint start = ManualClock().now();
  ManualClock used_clock;
  TimerWheel used(used_clock);
  {
    std::vector<std::unique_ptr<Timer>> timers;
    std::mt19937_64 rng(7);
    for (int i = 0; i < 200; ++i) {
      timers.push_back(std::make_unique<Timer>([] {}));
      // From a millisecond to past the top level's span (the overflow list).
      const auto delay = milliseconds(int64_t{1} << (rng() % 42));
      used.arm_after(*timers.back(), delay);
    }
    for (int step = 0; step < 50; ++step) {
      used_clock.advance(milliseconds(static_cast<int64_t>(rng() % 100000)));
      used.run();
    }
    // The rest die armed, as a fuzz input's reassembler does with its timer.
  }
  Timer left_armed([] {});
  used.arm_after(left_armed, seconds(5));
  left_armed.cancel();

  used_clock.set(start);
  used.reset();
  ManualClock new_clock;
  TimerWheel fresh(new_clock);
  ASSERT_EQ(new_clock.now(), used_clock.now());
  EXPECT_EQ(used.armed_count(), 0u);
  EXPECT_FALSE(used.next_deadline().has_value());

  // The same script on both: a few timers that re-arm themselves, and steps of the clock.
  struct Run {
    ManualClock& clock;
    TimerWheel& wheel;
    std::vector<std::pair<int, TimePoint>> fired;
    std::vector<std::optional<TimePoint>> deadlines;
  };
  auto script = [](Run& r) {
    std::vector<std::unique_ptr<Timer>> timers;
    for (int i = 0; i < 8; ++i) {
      timers.push_back(
          std::make_unique<Timer>([&r, i] { r.fired.emplace_back(i, r.clock.now()); }));
      r.wheel.arm_after(*timers.back(), milliseconds(int64_t{1} << (3 * i)));
    }
    for (int step = 0; step < 400; ++step) {
      r.deadlines.push_back(r.wheel.next_deadline());
      r.clock.advance(milliseconds(37) * (step % 7 + 1) + seconds(step % 3 == 0 ? 90 : 0));
      r.wheel.run();
      // Re-arm whatever fired, at a distance that depends on the step.
      for (size_t i = 0; i < timers.size(); ++i) {
        if (!timers[i]->armed()) {
          r.wheel.arm_after(*timers[i],
                            milliseconds(static_cast<int64_t>(13 * (step + 1) * (i + 1))));
        }
      }
    }
  };
  Run a{used_clock, used, {}, {}};
  Run b{new_clock, fresh, {}, {}};
  script(a);
  script(b);
  EXPECT_EQ(a.fired, b.fired);
  EXPECT_EQ(a.deadlines, b.deadlines);
  EXPECT_GT(a.fired.size(), 100u);
}

}  // namespace
}  // namespace weir
