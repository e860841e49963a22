// Timers on a hierarchical timing wheel.
//
// Theory of operation. The wheel has kLevels levels of kSlots slots. Level 0 slots are one tick
// wide; each level above is kSlots times coarser. A timer is linked (Boost.Intrusive, auto-
// unlink) into the slot of the coarsest level whose span still resolves its deadline, so arm
// and cancel are O(1), and destroying an armed Timer simply unlinks it. As time advances, the
// wheel walks level 0 slot by slot and, each time level 0 wraps, cascades the next level's
// current slot down. Deadlines are rounded up to a tick: a timer never fires early, at most
// one tick late. Callbacks may re-arm their own timer or arm and cancel others.
#pragma once

#include <array>
#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <functional>
#include <optional>

#include "stack/clock.h"

namespace weir {

class TimerWheel;

class Timer : public boost::intrusive::list_base_hook<
                  boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  explicit Timer(std::function<void()> callback) : callback_(std::move(callback)) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  bool armed() const { return is_linked(); }
  TimePoint deadline() const { return deadline_; }
  void cancel() { unlink(); }

 private:
  friend class TimerWheel;
  std::function<void()> callback_;
  TimePoint deadline_{};
  uint64_t tick_ = 0;  // deadline in wheel ticks, rounded up
};

class TimerWheel {
 public:
  static constexpr size_t kSlotBits = 6;
  static constexpr size_t kSlots = size_t{1} << kSlotBits;
  static constexpr size_t kLevels = 6;  // 64^6 ticks: ~2.2 years at 1 ms

  explicit TimerWheel(const Clock& clock, Duration tick = std::chrono::milliseconds(1));

  const Clock& clock() const { return clock_; }
  TimePoint now() const { return clock_.now(); }

  void arm(Timer& timer, TimePoint deadline);  // re-arms an armed timer
  void arm_after(Timer& timer, Duration delay) { arm(timer, clock_.now() + delay); }

  // Fires every timer due at clock().now(). Returns how many fired.
  size_t run() { return run(clock_.now()); }
  // The same, for a caller that has just read clock().now() itself (the stack reads its own
  // batch clock without a virtual call).
  size_t run(TimePoint now) {
    // A loop runs the wheel after every batch and mostly finds nothing due: that answer is
    // inline, without the call and frame of the full run.
    if (now < quiet_until_) return 0;
    return run_at(now);
  }
  // A time at or before the earliest pending deadline; nullopt when nothing is armed. The Loop
  // sleeps until then.
  std::optional<TimePoint> next_deadline() const;
  size_t armed_count() const;
  // Cancels every timer and starts again from the clock's now, as a wheel built now
  // (Stack::reset).
  void reset();

 private:
  using Slot = boost::intrusive::list<Timer, boost::intrusive::constant_time_size<false>>;

  // run() once something may be due at `now`.
  size_t run_at(TimePoint now);
  uint64_t to_tick(TimePoint t) const;
  void place(Timer& timer);

  const Clock& clock_;
  Duration tick_;
  TimePoint origin_;
  uint64_t current_tick_ = 0;  // every tick before this one has been processed
  std::array<std::array<Slot, kSlots>, kLevels> levels_;
  // Bit s of level L is set whenever a timer is placed in slot s, so a clear bit means an
  // empty slot and finding the next busy slot is a bit scan, not a walk over 64 list heads per
  // level (a stack idle for minutes, or a test stepping its clock, asks that on every run).
  // Timers unlink themselves on cancel and destruction without telling the wheel, so a set bit
  // may be stale; scans clear the stale bits they meet.
  std::array<uint64_t, kLevels> occupied_{};
  Slot overflow_;  // deadlines beyond the top level's span
  // No armed timer is due before this, so run() can return at once until then: a loop that
  // runs the wheel after every batch of packets mostly finds nothing due, and the placement
  // arithmetic and cascade checks are then pure cost. arm() lowers it; a cancel leaves it
  // early, which only costs one full run() that sets it again.
  TimePoint quiet_until_ = TimePoint::max();
};

}  // namespace weir
