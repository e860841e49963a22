// A byte budget several consumers draw from, with reclaim of the oldest charge across all of
// them. IPv4's and IPv6's fragment reassembly share one (Stack::fragment_memory()), so a flood
// of one family's fragments cannot pin more than the budget, and a newcomer of either family
// makes room by evicting whatever has waited longest, whichever family it belongs to.
//
// Theory of operation. A consumer charges bytes it holds and releases them when it frees
// them. Before charging, it asks make_room(n): while n would not fit, the budget asks every
// registered consumer for the age of its oldest charge and tells the one holding the oldest to
// give it up (reclaim_oldest must release at least one charge, or report it has none). The
// budget never frees anything itself and knows nothing of what consumers hold.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "stack/clock.h"
#include "stack/counters.h"

namespace weir {

class MemoryBudget {
 public:
  class Consumer {
   public:
    virtual ~Consumer() = default;
    // When the oldest thing this consumer holds was charged; nullopt when it holds nothing.
    virtual std::optional<TimePoint> oldest_charge() const = 0;
    // Frees the oldest thing it holds (releasing its charge).
    virtual void reclaim_oldest() = 0;
  };

  explicit MemoryBudget(size_t limit) : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;
  // As built with this limit (Stack::reset; its consumers are gone by then).
  void reset(size_t limit) {
    limit_ = limit;
    used_ = 0;
    consumers_.clear();
  }

  // Consumers must unregister before they are destroyed.
  void add_consumer(Consumer& consumer);
  void remove_consumer(Consumer& consumer);

  // Reclaims the oldest charges (of any consumer) until n more bytes fit. False when n cannot
  // fit even with nothing else charged.
  bool make_room(size_t n);
  // Charges n bytes unconditionally (call make_room first to respect the limit).
  void charge(size_t n) { used_ += n; }
  void release(size_t n) { used_ = n > used_ ? 0 : used_ - n; }

  size_t limit() const { return limit_; }
  void set_limit(size_t limit) { limit_ = limit; }
  size_t used() const { return used_; }

 private:
  size_t limit_;
  size_t used_ = 0;
  std::vector<Consumer*> consumers_;
};

}  // namespace weir

namespace weir {

// The stack-wide account of socket memory (Linux's tcp_mem and udp_mem, one account for both
// here), so that many peers together cannot exhaust the process although each stays within
// its own buffer. Sockets charge what their receive queues pin and release it as the data is
// read, pruned or dropped with the socket; TCP send queues charge what they pin and release it
// as it is acknowledged. The account itself never frees anything.
//
// Theory of operation. Three levels, in bytes, as Linux's tcp_mem (min, pressure, max):
//  - below min nothing is constrained, and a stack under pressure leaves it;
//  - past pressure the stack is under pressure until usage falls below min again (the
//    hysteresis keeps it from flapping): sockets stop growing their buffers, advertise small
//    windows and give up out-of-order data first;
//  - past max (the hard limit) sockets take no new memory, except a connection holding less
//    than a small floor, so each can still make progress.
// What each level means for a protocol is the protocol's business; this only keeps the count,
// the state and the counters, and hands each socket a fair share of max under pressure (as
// Linux's __sk_mem_raise_allocated: max divided by the sockets that charge).
#define WEIR_SOCKET_MEMORY_COUNTERS(X) \
  X(pressure_entered) X(pressure_left) X(hard_limit_reached) X(refused)
WEIR_DEFINE_COUNTERS(SocketMemoryCounters, WEIR_SOCKET_MEMORY_COUNTERS)

struct SocketMemoryLimits {
  size_t min = 0;
  size_t pressure = 0;
  size_t max = 0;
  bool operator==(const SocketMemoryLimits&) const = default;
  // Linux's tcp_init_mem: pressure at 1/16 of memory, min 3/4 of that, max twice min (about
  // 4.7%, 6.25% and 9.4%), from physical memory here (Linux takes free buffer pages).
  static SocketMemoryLimits from_memory(size_t bytes);
  // Of this machine's physical memory (sysconf); 1 GiB when it cannot tell.
  static SocketMemoryLimits for_this_machine();
};

class SocketMemory {
 public:
  explicit SocketMemory(SocketMemoryLimits limits);
  SocketMemory(const SocketMemory&) = delete;
  SocketMemory& operator=(const SocketMemory&) = delete;
  // As built with these limits (Stack::reset; its sockets are gone by then).
  void reset(SocketMemoryLimits limits);

  // Levels are ordered on the way in: pressure at least min, max at least pressure.
  void set_limits(SocketMemoryLimits limits);
  const SocketMemoryLimits& limits() const { return limits_; }

  // Inline: every segment received and every send chunk charges and releases. Below pressure
  // and the hard limit, only a charge that reaches the pressure level can change the state.
  void charge(size_t n) {
    used_ += n;
    if (used_ > peak_) peak_ = used_;
    if (under_pressure_ || over_hard_ || used_ >= limits_.pressure) update_state();
  }
  void release(size_t n) {
    used_ = n > used_ ? 0 : used_ - n;
    if (under_pressure_ || over_hard_) update_state();
  }
  // Whether n more bytes would go past the hard limit.
  bool exceeds_hard_limit(size_t n) const { return used_ + n > limits_.max; }
  // A socket dropped data or refused a write for the hard limit (counted here too, to see it
  // stack-wide).
  void note_refused() { ++counters_.refused; }
  bool over_hard_limit() const { return used_ >= limits_.max; }
  bool under_pressure() const { return under_pressure_; }
  // 0 below pressure, 1 under pressure, 2 at or past the hard limit.
  int level() const { return over_hard_limit() ? 2 : under_pressure_ ? 1 : 0; }
  // What one socket may hold under pressure: max over the sockets that charge.
  size_t fair_share() const { return limits_.max / (sockets_ > 0 ? sockets_ : 1); }

  // Sockets that may charge register for the fair share.
  void add_socket() { ++sockets_; }
  void remove_socket() { sockets_ = sockets_ > 0 ? sockets_ - 1 : 0; }
  size_t sockets() const { return sockets_; }

  size_t used() const { return used_; }
  size_t peak() const { return peak_; }
  void reset_peak() { peak_ = used_; }
  const SocketMemoryCounters& counters() const { return counters_; }
  // The account for a counter listing: usage, levels and transitions.
  template <typename F>
  void for_each(F&& f) const {
    f("used", used_);
    f("peak", peak_);
    f("level", static_cast<uint64_t>(level()));
    f("limit_min", limits_.min);
    f("limit_pressure", limits_.pressure);
    f("limit_max", limits_.max);
    f("sockets", sockets_);
    counters_.for_each(f);
  }

 private:
  void update_state();

  SocketMemoryLimits limits_;
  size_t used_ = 0;
  size_t peak_ = 0;
  size_t sockets_ = 0;
  bool under_pressure_ = false;
  bool over_hard_ = false;
  SocketMemoryCounters counters_;
};

}  // namespace weir
