// forget_setup_coverage() (fuzz/setup_coverage.h). Built without coverage instrumentation
// (fuzz/CMakeLists.txt): when an instrumented file declared the counter section's bounds
// itself, the constructor the compiler emits to register the counters with libFuzzer passed
// null for them (seen in the disassembly of the linked target), and libFuzzer collected no
// coverage at all; scripts/test.sh now fails a fuzz run whose log shows no counters.
#include "fuzz/setup_coverage.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

// The inline 8-bit edge counters -fsanitize=fuzzer places in one section, whose bounds the
// linker defines when the section exists; weak, so a program without coverage links too.
extern "C" {
extern uint8_t __start___sancov_cntrs[] __attribute__((weak, visibility("hidden")));
extern uint8_t __stop___sancov_cntrs[] __attribute__((weak, visibility("hidden")));
}

namespace weir::fuzzing {

void forget_setup_coverage() {
  uint8_t* begin = __start___sancov_cntrs;
  uint8_t* end = __stop___sancov_cntrs;
  if (begin == nullptr || end <= begin) return;
  std::memset(begin, 0, static_cast<size_t>(end - begin));
}

}  // namespace weir::fuzzing
