// fuzz_stack_frame: arbitrary Ethernet frames into a whole stack (fuzz/stack_under_test.h:
// IPv4, ARP, ICMP, IPv6, ICMPv6, NDP, UDP, TCP, with sockets that answer) on a channel
// endpoint, the manual clock moving between frames so ARP, reassembly, ICMP rate-limit and TCP
// timers run too.
//
// Input layout: a sequence of records, each
//   byte 0       clock step before the frame: v < 128 -> v ms; else (v - 128) * 250 ms
//   bytes 1-2    frame length, big-endian (cut to what is left)
//   the frame    Ethernet header first; the stack's MAC is 02:00:00:00:00:01, ours :02
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/stack_under_test.h"
#include "stack/bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weir;
  fuzzing::StackUnderTest s;
  ByteReader in(std::as_bytes(std::span<const uint8_t>(data, size)));
  while (in.remaining() >= 3) {
    const uint8_t step = in.u8();
    const size_t length = std::min<size_t>(in.be16(), in.remaining());
    ByteView frame = in.bytes(length);
    const Duration advance = step < 128 ? Duration(std::chrono::milliseconds(step))
                                        : Duration(std::chrono::milliseconds(250) * (step - 128));
    s.clock.advance(advance);
    s.stack->run_timers();
    (void)s.peer->inject(frame);
    s.run_sockets();
  }
  // Let every timer run out (ARP retries, reassembly timeouts) before tearing down.
  s.clock.advance(std::chrono::seconds(60));
  s.stack->run_timers();
  s.run_sockets();
  return 0;
}
