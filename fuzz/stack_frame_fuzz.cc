// fuzz_stack_frame: arbitrary Ethernet frames into a whole stack (fuzz/stack_under_test.h:
// IPv4, ARP, ICMP, IPv6, ICMPv6, NDP, UDP, TCP, with sockets that answer) on a channel
// endpoint, the manual clock moving between frames so ARP, reassembly, ICMP rate-limit and TCP
// timers run too.
//
// Input layout: a sequence of records, each
//   byte 0       clock step before the frame: v < 128 -> v ms; else (v - 128) * 250 ms
//   bytes 1-2    frame length, big-endian (cut to what is left)
//   the frame    Ethernet header first; the stack's MAC is 02:00:00:00:00:01, ours :02
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/setup_coverage.h"
#include "fuzz/stack_frame_input.h"
#include "fuzz/stack_under_test.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  weir::fuzzing::StackUnderTest s;
  weir::fuzzing::forget_setup_coverage();  // the same for every input (fuzz/setup_coverage.h)
  weir::fuzzing::run_stack_frame_input(s, std::as_bytes(std::span<const uint8_t>(data, size)));
  return 0;
}
