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
