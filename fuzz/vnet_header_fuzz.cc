// fuzz_vnet_header: frames as a tap with offloads hands them to weir, each behind a virtio-net
// header the fuzzer controls, into a whole stack (fuzz/stack_under_test.h) on a channel that
// carries offload facts. The header goes through the same checks the tap makes
// (check_received_vnet_header); a frame it accepts arrives with what the header claims:
// checksum_verified for NEEDS_CSUM/DATA_VALID (so bad checksums reach TCP, UDP and ICMP as
// trusted, as a lying kernel would make them), and gso_type/gso_size on frames of up to 64 KiB.
//
// Input layout: a sequence of records, each
//   byte 0       clock step before the frame: v < 128 -> v ms; else (v - 128) * 250 ms
//   bytes 1-10   the virtio-net header (flags, gso_type, hdr_len, gso_size, csum_start,
//                csum_offset; 16-bit fields little-endian)
//   bytes 11-12  frame length, big-endian (cut to what is left)
//   the frame    Ethernet header first; the stack's MAC is 02:00:00:00:00:01, ours :02
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/clock_steps.h"
#include "fuzz/setup_coverage.h"
#include "fuzz/stack_under_test.h"
#include "link/ethernet.h"
#include "link/vnet_header.h"
#include "stack/bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weir;
  fuzzing::StackUnderTest s(link::ChannelOptions{.mtu = 1500, .offloads = true});
  fuzzing::forget_setup_coverage();  // the same for every input (fuzz/setup_coverage.h)
  ByteReader in(std::as_bytes(std::span<const uint8_t>(data, size)));
  while (in.remaining() >= 13) {
    const uint8_t step = in.u8();
    const link::VnetHeader header = link::parse_vnet_header(in.bytes(link::kVnetHeaderLength));
    const size_t length = std::min<size_t>(in.be16(), in.remaining());
    ByteView frame = in.bytes(length);
    s.clock.advance(weir::fuzzing::step_duration(step));
    s.stack->run_timers();
    if (link::check_received_vnet_header(header, frame.size(), link::kEthernetHeaderLength) ==
        link::VnetRefusal::kNone) {
      PacketBuffer pkt = PacketBuffer::from_bytes(frame);
      link::apply_received_vnet_header(header, pkt.meta());
      (void)s.peer->inject(std::move(pkt));
    }
    s.run_sockets();
  }
  s.clock.advance(std::chrono::seconds(60));
  s.stack->run_timers();
  s.run_sockets();
  return 0;
}
