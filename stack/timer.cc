#include "stack/timer.h"

#include <algorithm>
#include <bit>
#include <iterator>
#include <limits>

// Placement rule. A timer due at tick T, seen from the current tick C (T >= C), goes to the
// level of the highest 6-bit digit in which T and C differ, in the slot of T's digit at that
// level; T == C goes to level 0. So a level-L slot only ever holds timers whose digits above L
// equal C's and whose digit L is ahead of C's: a slot is never shared by two rotations, and
// the slots behind C's digit are empty. A level-L slot s is due for cascading when C reaches
// the first tick of its span (C's digit L becomes s, lower digits zero); its timers are then
// placed again and land on a lower level. Level 0 slot s holds exactly the timers of tick
// (C with digit 0 replaced by s). Timers whose tick differs from C above the top level wait in
// the overflow list until C crosses the next multiple of 64^6.

namespace weir {

namespace {

constexpr uint64_t kSlotMask = TimerWheel::kSlots - 1;
constexpr size_t kTopShift = TimerWheel::kSlotBits * TimerWheel::kLevels;

constexpr uint64_t level_span(size_t level) { return uint64_t{1} << (TimerWheel::kSlotBits * level); }

constexpr uint64_t digit(uint64_t tick, size_t level) {
  return (tick >> (TimerWheel::kSlotBits * level)) & kSlotMask;
}

// The smallest multiple of 2^shift that is >= t.
constexpr uint64_t round_up_pow2(uint64_t t, size_t shift) {
  const uint64_t m = (uint64_t{1} << shift) - 1;
  return (t + m) & ~m;
}

}  // namespace

TimerWheel::TimerWheel(const Clock& clock, Duration tick)
    : clock_(clock), tick_(tick > Duration::zero() ? tick : Duration(1)), origin_(clock.now()) {}

uint64_t TimerWheel::to_tick(TimePoint t) const {
  if (t <= origin_) return 0;
  const auto delta = (t - origin_).count();
  const auto width = tick_.count();
  // Rounded up, so that the tick's start is at or after the deadline: never early.
  return static_cast<uint64_t>(delta / width) + (delta % width != 0 ? 1 : 0);
}

void TimerWheel::place(Timer& timer) {
  const uint64_t t = std::max(timer.tick_, current_tick_);
  timer.tick_ = t;
  const uint64_t diff = t ^ current_tick_;
  if (diff < kSlots) {
    levels_[0][t & kSlotMask].push_back(timer);
    occupied_[0] |= uint64_t{1} << (t & kSlotMask);
    return;
  }
  const size_t level = static_cast<size_t>(63 - std::countl_zero(diff)) / kSlotBits;
  if (level >= kLevels) {
    overflow_.push_back(timer);
    return;
  }
  levels_[level][digit(t, level)].push_back(timer);
  occupied_[level] |= uint64_t{1} << digit(t, level);
}

void TimerWheel::arm(Timer& timer, TimePoint deadline) {
  timer.unlink();
  timer.deadline_ = deadline;
  timer.tick_ = to_tick(deadline);
  place(timer);
  quiet_until_ = std::min(quiet_until_, deadline);
}

namespace {

// Moves every timer of `from` into the wheel again via `place`.
template <typename SlotT, typename Place>
void replace_all(SlotT& from, Place&& place) {
  SlotT moving;
  moving.splice(moving.end(), from);
  while (!moving.empty()) {
    Timer& t = moving.front();
    moving.pop_front();
    place(t);
  }
}

// The first tick at or after c at which something happens: a level-0 slot fires or a higher
// slot (or the overflow list) cascades. Every armed timer fires at this tick or later.
// `occupied` is the wheel's slot bitmap (see TimerWheel::occupied_); the stale bits met are
// cleared in it.
template <typename Levels, typename SlotT>
std::optional<uint64_t> next_event_tick(const Levels& levels,
                                        std::array<uint64_t, TimerWheel::kLevels>& occupied,
                                        const SlotT& overflow, uint64_t c) {
  std::optional<uint64_t> best;
  for (size_t level = 0; level < TimerWheel::kLevels; ++level) {
    const size_t shift = TimerWheel::kSlotBits * level;
    // Cascades of this level happen on multiples of its slot span; none can beat `best` once
    // the first such tick is already past it, nor can any higher level's.
    if (best && round_up_pow2(c, shift) >= *best) return best;
    const auto& slots = levels[level];
    const size_t above = shift + TimerWheel::kSlotBits;
    const uint64_t base = above >= 64 ? 0 : (c >> above) << above;
    uint64_t candidates = occupied[level] & (~uint64_t{0} << digit(c, level));
    while (candidates != 0) {
      const auto s = static_cast<uint64_t>(std::countr_zero(candidates));
      const uint64_t bit = uint64_t{1} << s;
      candidates &= ~bit;
      if (slots[s].empty()) {
        occupied[level] &= ~bit;
        continue;
      }
      // For s equal to C's own digit the span started at or before C: due now.
      const uint64_t tick = std::max(c, base + (s << shift));
      if (!best || tick < *best) best = tick;
      break;
    }
  }
  if (!overflow.empty()) {
    const uint64_t tick = round_up_pow2(c, kTopShift);
    if (!best || tick < *best) best = tick;
  }
  return best;
}

// Places again the timers of every slot whose span starts at tick c.
template <typename Levels, typename SlotT, typename Place>
void cascade(Levels& levels, SlotT& overflow, uint64_t c, Place&& place) {
  if ((c & (level_span(TimerWheel::kLevels) - 1)) == 0 && !overflow.empty()) {
    replace_all(overflow, place);
  }
  // Top down: a timer moved out of level L may land in level L-1's slot that is due now too.
  for (size_t level = TimerWheel::kLevels - 1; level >= 1; --level) {
    if ((c & (level_span(level) - 1)) != 0) continue;
    auto& slot = levels[level][digit(c, level)];
    if (!slot.empty()) replace_all(slot, place);
  }
}

}  // namespace

// Catching up on ticks while nothing is due (run() returns early) can wait: placement and
// cascading work from whatever tick the wheel last reached, as they do after a loop slept
// through many ticks.
size_t TimerWheel::run_at(TimePoint now) {
  size_t fired = 0;
  auto place_again = [this](Timer& t) { place(t); };
  // Popping before each call keeps the list consistent whatever the callback does: re-arming
  // the timer links it elsewhere, and cancelling or destroying a later one unlinks it from
  // `due` by itself.
  auto fire = [](Slot& due) {
    size_t n = 0;
    while (!due.empty()) {
      Timer& t = due.front();
      due.pop_front();
      ++n;
      t.callback_();
    }
    return n;
  };
  if (now >= origin_) {
    // Every tick that has fully begun: all its timers are due (their deadlines were rounded
    // up to the tick's start).
    const uint64_t last = static_cast<uint64_t>((now - origin_).count() / tick_.count());
    while (current_tick_ <= last) {
      const auto next = next_event_tick(levels_, occupied_, overflow_, current_tick_);
      if (!next || *next > last) {
        current_tick_ = last + 1;
        break;
      }
      current_tick_ = *next;
      cascade(levels_, overflow_, current_tick_, place_again);
      Slot due;
      due.splice(due.end(), levels_[0][current_tick_ & kSlotMask]);
      // Timers armed by the callbacks are placed from the next tick on.
      ++current_tick_;
      fired += fire(due);
    }
  }
  // The tick in progress: its timers whose exact deadline has passed fire now rather than a
  // tick late. Cascading early is safe: nothing is placed into a slot at C's own digit.
  cascade(levels_, overflow_, current_tick_, place_again);
  Slot& current = levels_[0][current_tick_ & kSlotMask];
  Slot due;
  for (auto it = current.begin(); it != current.end();) {
    Timer& t = *it++;
    if (t.deadline_ <= now) {
      t.unlink();
      due.push_back(t);
    }
  }
  fired += fire(due);
  // Callbacks may have armed timers (lowering quiet_until_) before this: the wheel as it now
  // stands decides.
  quiet_until_ = next_deadline().value_or(TimePoint::max());
  return fired;
}

std::optional<TimePoint> TimerWheel::next_deadline() const {
  // A const query leaves the wheel's bitmap as it is: the stale bits are cleared in a copy.
  auto occupied = occupied_;
  const auto next = next_event_tick(levels_, occupied, overflow_, current_tick_);
  if (!next) return std::nullopt;
  const uint64_t tick = *next;
  // Outside run() no cascade is ever pending at the current tick, but a callback asking from
  // inside run() may see one; then only the conservative bound below is safe.
  bool cascade_pending = (tick & (level_span(kLevels) - 1)) == 0 && !overflow_.empty();
  for (size_t level = 1; level < kLevels && !cascade_pending; ++level) {
    if ((tick & (level_span(level) - 1)) != 0) break;
    cascade_pending = !levels_[level][digit(tick, level)].empty();
  }
  const uint64_t level0_end = (current_tick_ | kSlotMask) + 1;
  const auto& slot = levels_[0][tick & kSlotMask];
  if (!cascade_pending && tick < level0_end && !slot.empty()) {
    // A level-0 slot holds one tick's timers: their earliest deadline is exact.
    TimePoint earliest = TimePoint::max();
    for (const Timer& t : slot) earliest = std::min(earliest, t.deadline_);
    return earliest;
  }
  // A cascade: every timer behind it is due at this tick or later, and a deadline rounded up
  // to this tick lies after the previous tick's start.
  const uint64_t before = tick == 0 ? 0 : tick - 1;
  const auto max_ticks = static_cast<uint64_t>((TimePoint::max() - origin_) / tick_);
  if (before >= max_ticks) return TimePoint::max();
  return origin_ + tick_ * static_cast<int64_t>(before);
}

size_t TimerWheel::armed_count() const {
  size_t n = static_cast<size_t>(std::distance(overflow_.begin(), overflow_.end()));
  for (size_t level = 0; level < kLevels; ++level) {
    for (uint64_t bits = occupied_[level]; bits != 0; bits &= bits - 1) {
      const Slot& slot = levels_[level][static_cast<size_t>(std::countr_zero(bits))];
      n += static_cast<size_t>(std::distance(slot.begin(), slot.end()));
    }
  }
  return n;
}

void TimerWheel::reset() {
  // A timer is only ever linked into a slot whose occupied bit is set (or into overflow_), so
  // the set bits name every slot to empty; the other few hundred list heads are left alone.
  for (size_t level = 0; level < kLevels; ++level) {
    for (uint64_t bits = occupied_[level]; bits != 0; bits &= bits - 1) {
      levels_[level][static_cast<size_t>(std::countr_zero(bits))].clear();
    }
  }
  occupied_ = {};
  overflow_.clear();
  origin_ = clock_.now();
  current_tick_ = 0;
  quiet_until_ = TimePoint::max();
}

}  // namespace weir
