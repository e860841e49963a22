// fuzz_sandbox_emulator: the socket emulator driven by a hostile program. Each input is a
// script of intercepted calls (socket, bind, connect, listen, accept4, get/setsockopt, sendto,
// recvfrom, sendmsg, recvmsg, ioctl, shutdown, getsockname/getpeername, opens of /proc/net
// files), with their pointer arguments aimed into a memory image taken from the input (or
// outside it), interleaved with native writes on the stand-ins, signals interrupting parked
// calls, and turns of the loop. The stack runs on loopback with a manual clock; the program's
// side is the fake tracee of the emulator tests. Every call must be answered or parked, and
// nothing may crash, leak past the input, or read out of bounds.
//
// Input layout: up to 2048 bytes of memory image, then 4-byte operations (kind, a, b, c), at
// most 64 (fuzz/sandbox_emulator_input.h, which the tests share).
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/sandbox_emulator_input.h"
#include "fuzz/setup_coverage.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  weir::fuzzing::EmulatorWorld w;
  weir::fuzzing::forget_setup_coverage();  // the same for every input (fuzz/setup_coverage.h)
  weir::fuzzing::run_sandbox_emulator_input(w, std::as_bytes(std::span<const uint8_t>(data, size)));
  return 0;
}
