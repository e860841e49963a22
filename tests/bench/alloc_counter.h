// Counts heap allocations made through operator new on the calling thread, so a benchmark can
// report allocations per segment. The counting operator new lives in alloc_counter.cc and is
// linked into the micro-benchmark binary only.
#pragma once

#include <cstdint>

namespace weir::bench {

// Allocations (operator new calls, any form) made by this thread so far.
uint64_t thread_allocations();

}  // namespace weir::bench
