#include "stack/token_bucket.h"

#include <algorithm>

namespace weir {

TokenBucket::TokenBucket(uint32_t rate_per_second, uint32_t burst, TimePoint now) : last_(now) {
  if (rate_per_second == 0) return;
  cost_ = Duration(std::chrono::seconds(1)) / rate_per_second;
  capacity_ = cost_ * std::max<uint32_t>(burst, 1);
  credit_ = capacity_;
}

bool TokenBucket::take(TimePoint now) {
  if (cost_ == Duration::zero()) return true;
  if (now > last_) {
    credit_ = std::min(capacity_, credit_ + (now - last_));
    last_ = now;
  }
  if (credit_ < cost_) return false;
  credit_ -= cost_;
  return true;
}

}  // namespace weir
