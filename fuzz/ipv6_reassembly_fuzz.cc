// Fuzzes the IPv6 reassembler with sequences of fragments, clock advances and a small memory
// budget shared with a second reassembler (standing in for IPv4's).
//
// Input: 5-byte records. Byte 0: bits 0-1 pick one of four datagram keys, bit 2 is M, bit 3
// picks which of the two reassemblers gets the fragment; bits 3-7 all set advance the clock by
// byte 1 seconds instead. Bytes 1-2: offset in 8-byte units (13 bits). Bytes 3-4: length in
// bytes (capped at 2048). Payload bytes are a function of (reassembler, key, absolute offset),
// so a reassembled datagram can be checked byte for byte: overlapping data never survives.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz/packet_bytes.h"
#include "ipv6/reassembly.h"
#include "ipv6/wire.h"
#include "stack/bytes.h"
#include "stack/clock.h"
#include "stack/memory_budget.h"
#include "stack/timer.h"

namespace {

std::byte content(size_t which, size_t key, size_t offset) {
  return std::byte(static_cast<uint8_t>(which * 101 + key * 31 + offset * 7 + (offset >> 8)));
}

// content() for every offset a fragment can reach, per (reassembler, key), built once: a
// fragment is then a slice of it and a datagram one memcmp, instead of byte loops that cost
// more than the reassembler under the fuzzer's instrumentation.
const weir::TimePoint kStart = weir::ManualClock().now();  // where a new clock starts

constexpr size_t kPatternLength = 0x1fff * 8 + 2048;
weir::ByteView pattern(size_t which, size_t key) {
  static const std::vector<std::vector<std::byte>> patterns = [] {
    std::vector<std::vector<std::byte>> all;
    for (size_t w = 0; w < 2; ++w) {
      for (size_t k = 0; k < 4; ++k) {
        std::vector<std::byte>& p = all.emplace_back(kPatternLength);
        for (size_t i = 0; i < p.size(); ++i) p[i] = content(w, k, i);
      }
    }
    return all;
  }();
  return patterns[which * 4 + key];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weir;
  using namespace weir::ipv6;
  const ByteView input = std::as_bytes(std::span(data, size));
  // One clock and wheel for the process, set back to how new ones start before every input:
  // building a wheel (its 384 slot heads) cost more than many short inputs' fragments.
  static ManualClock clock;
  static TimerWheel timers(clock);
  clock.set(kStart);
  timers.reset();
  MemoryBudget budget(24 * 1024);
  ReassemblyOptions options;
  options.memory_limit = 16 * 1024;
  options.max_fragments = 16;
  Reassembler r0(timers, options, &budget);
  Reassembler r1(timers, options, &budget);
  Reassembler* rs[2] = {&r0, &r1};
  // 40-byte IPv6 header + 8-byte fragment header.
  static const std::vector<std::byte> headers(48, std::byte{0x60});
  size_t timeouts = 0;
  for (Reassembler* r : rs) {
    r->set_timeout_handler([&](ByteView h, const PacketBuffer&) {
      if (h.size() != headers.size()) __builtin_trap();
      ++timeouts;
    });
  }

  for (size_t pos = 0; pos + 5 <= input.size(); pos += 5) {
    const uint8_t op = load_u8(input, pos);
    if ((op & 0xf8) == 0xf8) {
      clock.advance(std::chrono::seconds(load_u8(input, pos + 1)));
      timers.run();
      continue;
    }
    const size_t which = (op >> 3) & 1;
    const size_t key_index = op & 3;
    Fragment f;
    f.headers = headers;
    f.next_header_field = 6;
    f.next_header = 17;
    f.more = (op & 4) != 0;
    f.offset = uint32_t{static_cast<uint16_t>(load_be16(input, pos + 1) & 0x1fff)} * 8;
    const size_t length = load_be16(input, pos + 3) % 2049;
    const ByteView expected = pattern(which, key_index);
    FragmentKey key{Ipv6Address(), Ipv6Address(), static_cast<uint32_t>(key_index)};
    auto done =
        rs[which]->add(key, f, PacketBuffer::from_bytes(expected.subspan(f.offset, length)));
    if (done) {
      if (done->payload.size() > kMaxPayloadLength) __builtin_trap();
      if (!weir::fuzzing::holds_prefix_of(done->payload, expected)) __builtin_trap();
      if (done->headers != headers || done->next_header != 17) __builtin_trap();
    }
    for (Reassembler* r : rs) {
      if (r->memory_used() > options.memory_limit) __builtin_trap();
    }
    if (budget.used() > budget.limit()) __builtin_trap();
    if (budget.used() != r0.memory_used() + r1.memory_used()) __builtin_trap();
  }
  clock.advance(std::chrono::seconds(61));
  timers.run();
  if (r0.datagram_count() + r1.datagram_count() != 0 || budget.used() != 0) __builtin_trap();
  return 0;
}
