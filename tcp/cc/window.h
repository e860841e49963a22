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

// The window to send with after an idle period longer than the RTO (RFC 5681 4.1), decayed as
// Linux's tcp_cwnd_restart does (RFC 2861): halved once for each RTO, or part of one, that the
// idle time lasted beyond the first, and never below the restart window, min(initial window,
// cwnd). A short pause thus costs half the window, not all of it.
inline uint64_t window_after_idle(uint64_t cwnd, uint32_t initial, Duration idle, Duration rto) {
  const uint64_t restart = std::min<uint64_t>(initial, cwnd);
  if (rto <= Duration::zero()) return restart;
  for (Duration left = idle - rto; left > Duration::zero() && cwnd > restart; left -= rto) {
    cwnd /= 2;
  }
  return std::max(cwnd, restart);
}

// ssthresh at such a restart: at least three quarters of the window before it (Linux's
// tcp_current_ssthresh outside a recovery), so that slow start climbs back that far.
inline uint32_t ssthresh_at_restart(uint32_t ssthresh, uint64_t cwnd) {
  return static_cast<uint32_t>(
      std::min<uint64_t>(std::max<uint64_t>(ssthresh, cwnd / 2 + cwnd / 4), kInfiniteSsthresh));
}

// Rescales a byte count expressed against old_mss so it holds the same number of segments of
// new_mss.
inline uint64_t rescale(uint64_t bytes, uint32_t old_mss, uint32_t new_mss) {
  return bytes * new_mss / old_mss;
}

}  // namespace weir::tcp::cc_detail
