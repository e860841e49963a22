// What fuzz_stack_frame does with one input (the layout is in fuzz/stack_frame_fuzz.cc), apart
// from the target so tests can run inputs the same way.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "fuzz/clock_steps.h"
#include "fuzz/stack_under_test.h"
#include "stack/bytes.h"

namespace weir::fuzzing {

inline void run_stack_frame_input(StackUnderTest& s, ByteView input) {
  ByteReader in(input);
  while (in.remaining() >= 3) {
    const uint8_t step = in.u8();
    const size_t length = std::min<size_t>(in.be16(), in.remaining());
    ByteView frame = in.bytes(length);
    s.clock.advance(step_duration(step));
    s.stack->run_timers();
    (void)s.peer->inject(frame);
    s.run_sockets();
  }
  // Let every timer run out (ARP retries, reassembly timeouts) before tearing down.
  s.clock.advance(std::chrono::seconds(60));
  s.stack->run_timers();
  s.run_sockets();
}

}  // namespace weir::fuzzing
