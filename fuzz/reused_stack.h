// A Stack and its manual clock kept for the whole fuzzer process and reset after every input
// (Stack::reset), instead of a Stack built and destroyed per input: building and destroying the
// core of an empty stack (its timer wheel, demux tables, counter registry; about 10 us under
// ASan) was a third of what an input of the small frame targets cost, and its code hundreds of
// coverage edges per input that libFuzzer collects.
//
// An input must behave exactly as on a new Stack, or a crash found here would not reproduce
// when libFuzzer runs the one input in a fresh process: the reset happens when the input's
// harness is destroyed, after everything built on the stack (protocols, NICs, sockets) is gone,
// and leaves what the constructor left (tests/integration/stack_reset_test.cc runs inputs after
// others and compares them with runs on new stacks). Resetting at the end of the input, not at
// the start of the next, also keeps each input's allocations freed within it, so libFuzzer's
// leak check (more mallocs than frees in one input) stays quiet.
#pragma once

#include <chrono>

#include "stack/clock.h"
#include "stack/stack.h"

namespace weir::fuzzing {

// The clock and the stack on it, as the fuzz harnesses build them.
struct StackCore {
  static constexpr TimePoint kStart{std::chrono::seconds(1000)};  // ManualClock's default
  ManualClock clock{kStart};
  Stack stack{clock, repeatable_stack_options(1)};

  // The one the fuzz targets share, built on first use.
  static StackCore& process() {
    static StackCore core;
    return core;
  }
};

// A harness's hold on a core: it builds on core.stack and leaves the core reset when destroyed
// (declare it first, so it is destroyed after whatever references the stack). One at a time.
class ReusedStack {
 public:
  explicit ReusedStack(StackCore& core = StackCore::process()) : core_(core) {}
  ~ReusedStack() {
    // Torn down at the input's last instant, as a stack destroyed at the end of the input
    // would be; then the clock goes back to where a new one starts, and the wheel with it.
    core_.stack.reset();
    core_.clock.set(StackCore::kStart);
    core_.stack.timers().reset();
  }
  ReusedStack(const ReusedStack&) = delete;
  ReusedStack& operator=(const ReusedStack&) = delete;

  ManualClock& clock() { return core_.clock; }
  Stack& stack() { return core_.stack; }

 private:
  StackCore& core_;
};

}  // namespace weir::fuzzing
