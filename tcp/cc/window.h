// Window arithmetic shared by the congestion controllers. Internal to tcp/cc.
#pragma once

#include <algorithm>
#include <cstdint>

#include "tcp/cc/congestion_control.h"

namespace weir::tcp::cc_detail {

// ssthresh before the first congestion event: "arbitrarily high" (RFC 5681 3.1).
inline constexpr uint32_t kInfiniteSsthresh = UINT32_MAX;
// Windows never exceed the largest window TCP can advertise (2^30 with scale 14, RFC 7323).
inline constexpr uint32_t kMaxCwnd = uint32_t{1} << 30;
// RFC 3465 section 2.2: slow start grows by at most L = 2 SMSS per ACK.
inline constexpr uint32_t kAbcLimitSegments = 2;

inline uint32_t initial_window(const CongestionControlOptions& o) {
  const uint64_t iw = uint64_t{std::max<uint32_t>(o.initial_window_segments, 1)} * o.mss;
  return static_cast<uint32_t>(std::min<uint64_t>(iw, kMaxCwnd));
}

// RFC 7661 / RFC 9438 5.8: do not grow a window the sender is not using. An ACK of a flow the
// application starves still counts when the flight before it filled at least half the window,
// as Linux's tcp_is_cwnd_limited does in slow start, so a sender that just refills the window
// from a short queue keeps growing.
inline bool cwnd_limited(const AckSample& ack, uint64_t cwnd) {
  if (!ack.app_limited) return true;
  return (uint64_t{ack.bytes_in_flight} + ack.bytes_acked) * 2 >= cwnd;
}

// Rescales a byte count expressed against old_mss so it holds the same number of segments of
// new_mss.
inline uint64_t rescale(uint64_t bytes, uint32_t old_mss, uint32_t new_mss) {
  return bytes * new_mss / old_mss;
}

}  // namespace weir::tcp::cc_detail
