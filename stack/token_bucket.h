// A token bucket over the stack clock, in integer nanoseconds so it is exact under a manual
// clock: a message costs 1/rate seconds of credit; credit accrues with time up to burst
// messages' worth. rate == 0 disables the limit. ICMPv4 and ICMPv6 rate-limit their errors
// with it.
#pragma once

#include <cstdint>

#include "stack/clock.h"

namespace weir {

class TokenBucket {
 public:
  TokenBucket(uint32_t rate_per_second, uint32_t burst, TimePoint now);
  bool take(TimePoint now);

 private:
  Duration cost_{};
  Duration capacity_{};
  Duration credit_{};
  TimePoint last_;
};

}  // namespace weir
