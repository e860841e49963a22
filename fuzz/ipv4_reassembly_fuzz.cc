// Fuzzes the reassembler with sequences of fragments, clock advances and a small memory cap.
//
// Input: 5-byte records. Byte 0: bits 0-1 pick one of four datagram keys, bit 2 is MF, bit 3
// (when set with bits 4-7 == 0xf) advances the clock by byte 1 seconds instead of adding a
// fragment. Bytes 1-2: offset in 8-byte units (13 bits). Bytes 3-4: length in bytes (capped
// at 2048). Payload bytes are a function of (key, absolute offset), so a reassembled datagram
// can be checked byte for byte: overlapping data never survives, so any datagram that
// completes must read back exactly.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz/packet_bytes.h"
#include "ipv4/reassembly.h"
#include "ipv4/wire.h"
#include "stack/bytes.h"
#include "stack/clock.h"
#include "stack/timer.h"

namespace {

std::byte content(size_t key, size_t offset) {
  return std::byte(static_cast<uint8_t>(key * 31 + offset * 7 + (offset >> 8)));
}

// content() for every offset a fragment can reach, per key, built once: a fragment is then a
// slice of it and a datagram one memcmp, instead of byte loops that cost more than the
// reassembler under the fuzzer's instrumentation.
const weir::TimePoint kStart = weir::ManualClock().now();  // where a new clock starts

constexpr size_t kPatternLength = 0x1fff * 8 + 2048;
weir::ByteView pattern(size_t key) {
  static const std::vector<std::vector<std::byte>> patterns = [] {
    std::vector<std::vector<std::byte>> all;
    for (size_t k = 0; k < 4; ++k) {
      std::vector<std::byte>& p = all.emplace_back(kPatternLength);
      for (size_t i = 0; i < p.size(); ++i) p[i] = content(k, i);
    }
    return all;
  }();
  return patterns[key];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weir;
  using namespace weir::ipv4;
  const ByteView input = std::as_bytes(std::span(data, size));
  // One clock and wheel for the process, set back to how new ones start before every input:
  // building a wheel (its 384 slot heads) cost more than many short inputs' fragments.
  static ManualClock clock;
  static TimerWheel timers(clock);
  clock.set(kStart);
  timers.reset();
  ReassemblyOptions options;
  options.memory_limit = 16 * 1024;
  options.timeout = std::chrono::seconds(30);
  options.max_fragments = 16;
  Reassembler r(timers, options);
  static const std::vector<std::byte> header(20, std::byte{0x45});

  for (size_t pos = 0; pos + 5 <= input.size(); pos += 5) {
    const uint8_t op = load_u8(input, pos);
    if ((op & 0xf8) == 0xf8) {
      clock.advance(std::chrono::seconds(load_u8(input, pos + 1)));
      timers.run();
      continue;
    }
    const size_t key_index = op & 3;
    const bool more = (op & 4) != 0;
    const uint32_t offset = uint32_t{static_cast<uint16_t>(load_be16(input, pos + 1) & 0x1fff)} * 8;
    const size_t length = load_be16(input, pos + 3) % 2049;
    const ByteView expected = pattern(key_index);
    FragmentKey key{Ipv4Address(10, 0, 0, 2), Ipv4Address(10, 0, 0, 1), 17,
                    static_cast<uint16_t>(key_index)};
    auto done = r.add(key, header, offset, more,
                      PacketBuffer::from_bytes(expected.subspan(offset, length)));
    if (done) {
      if (done->payload.size() + header.size() > kMaxDatagramLength) __builtin_trap();
      if (!weir::fuzzing::holds_prefix_of(done->payload, expected)) __builtin_trap();
      if (done->header != header) __builtin_trap();
    }
    if (r.memory_used() > options.memory_limit) __builtin_trap();
  }
  clock.advance(std::chrono::seconds(31));
  timers.run();
  if (r.datagram_count() != 0 || r.memory_used() != 0) __builtin_trap();
  return 0;
}
