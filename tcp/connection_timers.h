// A connection's three timers (retransmission, delayed ACK, auxiliary) on one wheel timer, as
// FreeBSD's TCP has kept them in one callout since 14.0. Three wheel timers cost 192 bytes in
// every connection, idle or not; one timer and three deadlines cost 96.
//
// The wheel timer runs at or before the earliest armed deadline. Arming a kind later than the
// wheel timer, or cancelling one while another stays armed, leaves the wheel alone: when the
// wheel timer fires early, the owner's wake-up finds nothing due and rearm() moves it on. So
// the common re-arm on every ACK of the retransmission timer is two stores, not a wheel move.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "stack/clock.h"
#include "stack/timer.h"

namespace weir::tcp {

class ConnectionTimers {
 public:
  enum class Kind : uint8_t {
    kRetransmit,  // RTO, TLP, RACK reorder or persist (the connection's TimerMode)
    kDelayedAck,
    kAux,  // keepalive, FIN_WAIT_2 or TIME_WAIT
  };

  // wake runs when the wheel timer fires; it takes the due kinds with take_due() and ends
  // with rearm().
  ConnectionTimers(TimerWheel& wheel, std::function<void()> wake)
      : wheel_(wheel), timer_(std::move(wake)) {
    deadlines_.fill(kUnarmed);
  }
  ConnectionTimers(const ConnectionTimers&) = delete;
  ConnectionTimers& operator=(const ConnectionTimers&) = delete;

  void arm_after(Kind kind, Duration delay) { arm(kind, wheel_.now() + delay); }
  void arm(Kind kind, TimePoint deadline) {
    deadlines_[index(kind)] = deadline;
    if (!timer_.armed() || deadline < timer_.deadline()) wheel_.arm(timer_, deadline);
  }
  void cancel(Kind kind) {
    deadlines_[index(kind)] = kUnarmed;
    if (earliest() == kUnarmed) timer_.cancel();
  }
  void cancel_all() {
    deadlines_.fill(kUnarmed);
    timer_.cancel();
  }
  bool armed(Kind kind) const { return deadlines_[index(kind)] != kUnarmed; }
  TimePoint deadline(Kind kind) const { return deadlines_[index(kind)]; }

  // The armed kind with the earliest deadline at or before now, disarmed; nullopt when none is
  // due. Ties go to the retransmission timer first.
  std::optional<Kind> take_due() {
    const TimePoint now = wheel_.now();
    size_t best = kKinds;
    for (size_t k = 0; k < kKinds; ++k) {
      if (deadlines_[k] <= now && (best == kKinds || deadlines_[k] < deadlines_[best])) best = k;
    }
    if (best == kKinds) return std::nullopt;
    deadlines_[best] = kUnarmed;
    return static_cast<Kind>(best);
  }
  // Puts the wheel timer at the earliest armed deadline (or takes it off the wheel).
  void rearm() {
    const TimePoint next = earliest();
    if (next == kUnarmed) {
      timer_.cancel();
    } else if (!timer_.armed() || timer_.deadline() != next) {
      wheel_.arm(timer_, next);
    }
  }

 private:
  static constexpr size_t kKinds = 3;
  static constexpr TimePoint kUnarmed = TimePoint::max();
  static size_t index(Kind kind) { return static_cast<size_t>(kind); }
  TimePoint earliest() const {
    TimePoint t = kUnarmed;
    for (TimePoint d : deadlines_) t = std::min(t, d);
    return t;
  }

  TimerWheel& wheel_;
  Timer timer_;
  std::array<TimePoint, kKinds> deadlines_;
};

}  // namespace weir::tcp
