// A deterministic ACK clock for congestion-control tests: the sender keeps a full window in
// flight and the receiver acknowledges it over one RTT, at explicit TimePoints.
#pragma once

#include <algorithm>
#include <cstdint>

#include "tcp/cc/congestion_control.h"

namespace weir::tcp::testing {

class AckClock {
 public:
  AckClock(CongestionControl& cc, uint32_t mss, Duration rtt,
           TimePoint start = TimePoint{std::chrono::seconds(1000)})
      : cc_(cc), mss_(mss), rtt_(rtt), now_(start) {}

  TimePoint now() const { return now_; }
  void advance(Duration d) { now_ += d; }

  // One ACK for `bytes`, `after` from the previous event.
  void ack(uint32_t bytes, Duration after = Duration::zero(), bool in_recovery = false,
           bool app_limited = false, uint32_t in_flight = UINT32_MAX) {
    now_ += after;
    AckSample s;
    s.now = now_;
    s.bytes_acked = bytes;
    s.bytes_in_flight = in_flight == UINT32_MAX ? cc_.cwnd() : in_flight;
    s.rtt = rtt_;
    s.min_rtt = rtt_;
    s.app_limited = app_limited;
    cc_.on_ack(s, in_recovery);
  }

  // One round trip: the current window is acknowledged `per_ack` segments at a time, the ACKs
  // spread evenly over the RTT.
  void round(uint32_t per_ack = 1) {
    const uint32_t segments = std::max<uint32_t>(cc_.cwnd() / mss_, 1);
    const uint32_t acks = std::max<uint32_t>(segments / per_ack, 1);
    const Duration step = rtt_ / acks;
    for (uint32_t i = 0; i < acks; ++i) ack(per_ack * mss_, step);
  }

  // Rounds until `duration` has passed.
  void run_for(Duration duration, uint32_t per_ack = 1) {
    const TimePoint end = now_ + duration;
    while (now_ < end) round(per_ack);
  }

 private:
  CongestionControl& cc_;
  uint32_t mss_;
  Duration rtt_;
  TimePoint now_;
};

}  // namespace weir::tcp::testing
