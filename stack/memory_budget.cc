#include "stack/memory_budget.h"

#include <algorithm>

namespace weir {

void MemoryBudget::add_consumer(Consumer& consumer) {
  if (std::find(consumers_.begin(), consumers_.end(), &consumer) == consumers_.end()) {
    consumers_.push_back(&consumer);
  }
}

void MemoryBudget::remove_consumer(Consumer& consumer) {
  consumers_.erase(std::remove(consumers_.begin(), consumers_.end(), &consumer), consumers_.end());
}

bool MemoryBudget::make_room(size_t n) {
  if (n > limit_) return false;
  while (used_ + n > limit_) {
    Consumer* oldest = nullptr;
    std::optional<TimePoint> oldest_time;
    for (Consumer* c : consumers_) {
      auto t = c->oldest_charge();
      if (t && (!oldest_time || *t < *oldest_time)) {
        oldest_time = t;
        oldest = c;
      }
    }
    if (oldest == nullptr) return false;
    const size_t before = used_;
    oldest->reclaim_oldest();
    // A consumer that freed nothing would loop forever; what it holds is not ours to take.
    if (used_ >= before) return false;
  }
  return true;
}

}  // namespace weir

#include <unistd.h>

namespace weir {

SocketMemoryLimits SocketMemoryLimits::from_memory(size_t bytes) {
  SocketMemoryLimits l;
  l.pressure = bytes / 16;
  l.min = l.pressure / 4 * 3;
  l.max = l.min * 2;
  return l;
}

SocketMemoryLimits SocketMemoryLimits::for_this_machine() {
  // Asked once per process: sysconf(_SC_PHYS_PAGES) is a sysinfo() call, and every Stack
  // built without explicit limits asks (a fuzzer builds thousands a second).
  static const size_t physical = [] {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return size_t{1} << 30;
    return static_cast<size_t>(pages) * static_cast<size_t>(page);
  }();
  return from_memory(physical);
}

SocketMemory::SocketMemory(SocketMemoryLimits limits) { set_limits(limits); }

void SocketMemory::reset(SocketMemoryLimits limits) {
  used_ = 0;
  peak_ = 0;
  sockets_ = 0;
  under_pressure_ = false;
  over_hard_ = false;
  counters_ = {};
  set_limits(limits);
}

void SocketMemory::set_limits(SocketMemoryLimits limits) {
  limits.pressure = std::max(limits.pressure, limits.min);
  limits.max = std::max(limits.max, limits.pressure);
  limits_ = limits;
  update_state();
}

void SocketMemory::update_state() {
  if (!under_pressure_ && used_ > limits_.pressure) {
    under_pressure_ = true;
    ++counters_.pressure_entered;
  } else if (under_pressure_ && used_ < limits_.min) {
    under_pressure_ = false;
    ++counters_.pressure_left;
  }
  const bool over = over_hard_limit();
  if (over && !over_hard_) ++counters_.hard_limit_reached;
  over_hard_ = over;
}

}  // namespace weir
