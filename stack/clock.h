// Time as the stack sees it. Protocol code reads time only from a Clock&; tests drive a
// ManualClock so every timer-dependent behaviour is deterministic.
#pragma once

#include <chrono>
#include <cstdint>

namespace weir {

using Duration = std::chrono::nanoseconds;

// A monotonic instant. Its own clock tag keeps it from mixing with wall-clock time points.
struct StackClockTag {
  using rep = int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<StackClockTag, duration>;
  static constexpr bool is_steady = true;
};
using TimePoint = StackClockTag::time_point;

using namespace std::chrono_literals;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

// CLOCK_MONOTONIC.
class SteadyClock final : public Clock {
 public:
  TimePoint now() const override;
};

// Moves only when told. Starts at a fixed non-zero instant so that "time zero" bugs show.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{std::chrono::seconds(1000)}) : now_(start) {}
  TimePoint now() const override { return now_; }
  void advance(Duration d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_;
};

// One reading of a source clock held for a batch of work (a loop iteration): protocol code
// then costs one clock read per batch instead of several per segment, and everything a batch
// stamps (send times, RTT samples, timers) is the same instant, as Linux's tcp_mstamp is per
// receive run. Outside a batch it reads the source, so tests on a ManualClock see no change.
class BatchClock final : public Clock {
 public:
  explicit BatchClock(const Clock& source) : source_(source) {}
  TimePoint now() const override {
    // Asked many times per segment: a held reading costs one compare.
    if (held_ != kNotRead) [[likely]]
      return held_;
    if (!holding_) return source_.now();
    // The batch's instant is read when first asked for: a batch that never needs the time
    // (a read() that finds nothing, a poll with no work) costs no clock read.
    held_ = source_.now();
    return held_;
  }
  bool holding() const { return holding_; }
  void hold() {
    holding_ = true;
    held_ = kNotRead;
  }
  // Holds a reading the caller took (an embedder's poll(now)); it must come from the same
  // clock as source, or timers armed in the batch land at the wrong time.
  void hold(TimePoint at) {
    holding_ = true;
    held_ = at;
  }
  void release() {
    holding_ = false;
    held_ = kNotRead;
  }

 private:
  // No clock reads this: a steady clock's epoch is the boot, a manual clock starts later.
  static constexpr TimePoint kNotRead = TimePoint::min();
  const Clock& source_;
  bool holding_ = false;
  // kNotRead unless holding_ and read (or given).
  mutable TimePoint held_ = kNotRead;
};

inline double to_seconds(Duration d) { return std::chrono::duration<double>(d).count(); }
inline int64_t to_millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
inline int64_t to_micros(Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace weir
