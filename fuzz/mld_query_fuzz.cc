// Fuzzes MLDv2 (ipv6/mld.h): query parsing and the host's response state over time.
//
// Input: a sequence of commands, one byte `op` then one byte `n`:
//   op % 4 == 0: an MLD message of n bytes follows; op bit 2 clears the Router Alert, bit 3
//                makes the source global, bit 4 sets hop limit 255, bit 5 forces type 130
//   op % 4 == 1: join group n (ff02::1:ff00:n, ff05::n or ff02::1 by n % 3)
//   op % 4 == 2: leave group n
//   op % 4 == 3: advance the clock by n * 50 ms
// Invariants: every report parses and fits a 1280-byte packet; no report names ff02::1 or a
// group of scope 0/1; current-state records name only groups joined when they were sent.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/clock_steps.h"
#include "fuzz/exact_bytes.h"
#include "ipv6/mld.h"
#include "stack/clock.h"
#include "stack/rng.h"
#include "stack/timer.h"

namespace {

using namespace weir;
using namespace weir::ipv6;

constexpr NicId kNic = 1;

Ipv6Address group(uint8_t n) {
  std::array<uint8_t, 16> o{0xff, 0x02};
  switch (n % 3) {
    case 0:
      o[11] = 1;
      o[12] = 0xff;
      o[15] = n;
      break;
    case 1:
      o[1] = 0x05;
      o[15] = n;
      break;
    default:
      o[15] = 1;
      break;
  }
  return Ipv6Address(o);
}

class Host final : public MldHost {
 public:
  void send_report(NicId nic, ByteView message) override {
    if (nic != kNic || message.size() + 48 > 1280) __builtin_trap();
    auto records = parse_mld_report(message);
    if (!records) __builtin_trap();
    for (const MldRecord& r : *records) {
      if (!is_reportable_group(r.group)) __builtin_trap();
      if ((r.type == kRecordModeIsExclude || r.type == kRecordModeIsInclude) &&
          !mld->joined(kNic, r.group)) {
        __builtin_trap();
      }
    }
  }
  const Mld* mld = nullptr;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ManualClock clock;
  TimerWheel timers(clock);
  Rng rng(1);
  Host host;
  Mld mld(timers, rng, host);
  host.mld = &mld;

  // A message is at most 255 bytes (its length is one byte of the input).
  static fuzzing::ExactBytes<256> record;
  ByteReader in(std::as_bytes(std::span(data, size)));
  while (in.remaining() >= 2) {
    const uint8_t op = in.u8();
    const uint8_t n = in.u8();
    switch (op % 4) {
      case 0: {
        const MutableByteView msg = record.assign(in.bytes(std::min<size_t>(n, in.remaining())));
        if ((op & 0x20) != 0 && !msg.empty()) msg[0] = std::byte{kMldQuery};
        const Ipv6Address source =
            Ipv6Address::parse((op & 8) != 0 ? "2001:db8::1" : "fe80::1").value();
        (void)check_mld_query(msg);
        if (auto q = parse_mld_query(msg)) {
          if (q->sources.size() * 16 + 28 > msg.size() && !q->v1) __builtin_trap();
        }
        mld.handle_message(kNic, msg, source, (op & 0x10) != 0 ? 255 : 1, (op & 4) == 0);
        break;
      }
      case 1:
        mld.join(kNic, group(n));
        break;
      case 2:
        mld.leave(kNic, group(n));
        break;
      case 3:
        // n steps of 50 ms; the steps that fire nothing are skipped (fuzz/clock_steps.h).
        fuzzing::advance_in_steps(clock, timers, std::chrono::milliseconds(50), n, [] {});
        break;
    }
  }
  for (int i = 0; i < 10; ++i) {
    clock.advance(std::chrono::seconds(3000));
    timers.run();
  }
  if (timers.armed_count() != 0) __builtin_trap();
  return 0;
}
