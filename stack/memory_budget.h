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
