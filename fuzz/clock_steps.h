// Moving a fuzz target's manual clock in fixed steps, running the timers after each, without
// paying for the steps in which nothing can happen.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "stack/clock.h"
#include "stack/timer.h"

namespace weir::fuzzing {

// The clock step a frame-stream input's step byte says: 0-127 ms, or 250 ms times (byte - 128)
// for the long waits (retransmissions, reassembly and neighbour timeouts). Shared by the
// targets that read a stream of (step, frame) records, so their corpora mean the same.
inline Duration step_duration(uint8_t step) {
  return step < 128 ? Duration(std::chrono::milliseconds(step))
                    : Duration(std::chrono::milliseconds(250) * (step - 128));
}

// Moves the clock `steps` times by `step`, running the wheel and then after_step() after each,
// as a host polling its timers every `step` would. A step that ends before the wheel's next
// deadline fires nothing and changes nothing a later step sees (the wheel cascades by tick
// number, not by call), and after_step() then finds nothing new (no timer sent anything), so
// the clock jumps over such steps at once: every timer still fires at the same step and sees
// the same now(); only the idle steps are saved. after_step() must only react to what the
// timers did (read what the stack sent, check invariants).
template <typename AfterStep>
void advance_in_steps(ManualClock& clock, TimerWheel& timers, Duration step, int steps,
                      AfterStep&& after_step) {
  while (steps > 0) {
    int skip = steps - 1;  // steps that only move the clock
    if (const auto deadline = timers.next_deadline()) {
      const Duration wait = *deadline - clock.now();
      skip =
          wait <= step ? 0 : static_cast<int>(std::min<int64_t>(skip, (wait - Duration(1)) / step));
    }
    clock.advance(step * (skip + 1));
    steps -= skip + 1;
    timers.run();
    after_step();
  }
}

}  // namespace weir::fuzzing
