// A connection's three timers (retransmission, delayed ACK, auxiliary) on one wheel timer, as
// FreeBSD's TCP has kept them in one callout since 14.0. Three wheel timers cost 192 bytes in
// every connection, idle or not; one timer and three deadlines cost 96, and they are made on
// the first arm: a connection that has carried no data gives them back once nothing is armed
// (release_if_unarmed(), after the handshake), so an opened and idle connection holds 8 bytes
// here.
//
// Owner provides timer_wheel() and on_timers_due().
//
// The wheel timer runs at or before the earliest armed deadline. Arming a kind later than the
// wheel timer, or cancelling one, leaves the wheel alone: when the wheel timer fires early,
// wake() finds nothing due and moves it on (or off the wheel) without waking the owner. So the
// common cancel and re-arm of the retransmission timer on every exchange is a few stores, not
// two wheel moves.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include "stack/clock.h"
#include "stack/timer.h"

namespace weir::tcp {

// Owner::on_timers_due() runs when the wheel timer fires; it takes the due kinds with
// take_due() and ends with rearm().
template <typename Owner>
class ConnectionTimers {
 public:
  enum class Kind : uint8_t {
    kRetransmit,  // RTO, TLP, RACK reorder or persist (the connection's TimerMode)
    kDelayedAck,
    kAux,  // keepalive, FIN_WAIT_2 or TIME_WAIT
  };

  ConnectionTimers() = default;
  ConnectionTimers(const ConnectionTimers&) = delete;
  ConnectionTimers& operator=(const ConnectionTimers&) = delete;

  // The owner is passed to arm rather than kept here: the storage it makes keeps it, so an
  // owner without armed timers pays 8 bytes for them, not 16.
  void arm_after(Owner& owner, Kind kind, Duration delay) {
    arm(owner, kind, owner.timer_wheel().now() + delay);
  }
  void arm(Owner& owner, Kind kind, TimePoint deadline) {
    Armed& a = armed_storage(owner);
    a.deadlines[index(kind)] = deadline;
    if (!a.timer.armed() || deadline < a.timer.deadline()) {
      owner.timer_wheel().arm(a.timer, deadline);
    }
  }
  // The wheel timer is left where it is: request/response traffic cancels the retransmission
  // and delayed-ACK timers on every exchange and arms them again on the next, and moving the
  // wheel timer each time cost two wheel operations per segment. If it fires with nothing due,
  // wake() just moves it on (or off the wheel) without waking the owner.
  void cancel(Kind kind) {
    if (!armed_) return;
    armed_->deadlines[index(kind)] = kUnarmed;
  }
  void cancel_all() {
    if (!armed_) return;
    armed_->deadlines.fill(kUnarmed);
    armed_->timer.cancel();
  }
  bool armed(Kind kind) const { return armed_ && armed_->deadlines[index(kind)] != kUnarmed; }
  TimePoint deadline(Kind kind) const { return armed_ ? armed_->deadlines[index(kind)] : kUnarmed; }

  // The armed kind with the earliest deadline at or before now, disarmed; nullopt when none is
  // due. Ties go to the retransmission timer first.
  std::optional<Kind> take_due() {
    if (!armed_) return std::nullopt;
    auto& deadlines = armed_->deadlines;
    const TimePoint now = armed_->owner.timer_wheel().now();
    size_t best = kKinds;
    for (size_t k = 0; k < kKinds; ++k) {
      if (deadlines[k] <= now && (best == kKinds || deadlines[k] < deadlines[best])) best = k;
    }
    if (best == kKinds) return std::nullopt;
    deadlines[best] = kUnarmed;
    return static_cast<Kind>(best);
  }
  // Puts the wheel timer at the earliest armed deadline (or takes it off the wheel).
  void rearm() {
    if (!armed_) return;
    const TimePoint next = earliest();
    if (next == kUnarmed) {
      armed_->timer.cancel();
    } else if (!armed_->timer.armed() || armed_->timer.deadline() != next) {
      armed_->owner.timer_wheel().arm(armed_->timer, next);
    }
  }
  // Gives the storage back when nothing is armed. Never from inside the owner's wake-up (the
  // wheel timer is running its callback then): it keeps the storage, and the next call frees it.
  void release_if_unarmed() {
    if (armed_ && !armed_->firing && earliest() == kUnarmed) armed_.reset();
  }
  bool holds_storage() const { return armed_ != nullptr; }

 private:
  static constexpr size_t kKinds = 3;
  static constexpr TimePoint kUnarmed = TimePoint::max();
  static size_t index(Kind kind) { return static_cast<size_t>(kind); }

  struct Armed {
    Armed(ConnectionTimers& self, Owner& owner) : owner(owner), timer([&self] { self.wake(); }) {
      deadlines.fill(kUnarmed);
    }
    Owner& owner;
    Timer timer;
    std::array<TimePoint, kKinds> deadlines;
    bool firing = false;  // the owner's wake-up is running
  };

  Armed& armed_storage(Owner& owner) {
    if (!armed_) armed_ = std::make_unique<Armed>(*this, owner);
    return *armed_;
  }
  // Only the storage's own timer calls this, so the storage exists, and it survives the call:
  // release_if_unarmed() leaves it alone while firing.
  void wake() {
    if (earliest() > armed_->owner.timer_wheel().now()) {
      rearm();  // every kind was cancelled or moved later since the wheel timer was placed
      return;
    }
    armed_->firing = true;
    armed_->owner.on_timers_due();
    armed_->firing = false;
  }
  TimePoint earliest() const {
    TimePoint t = kUnarmed;
    for (TimePoint d : armed_->deadlines) t = std::min(t, d);
    return t;
  }

  std::unique_ptr<Armed> armed_;
};

}  // namespace weir::tcp
