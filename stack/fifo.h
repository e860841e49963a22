// A first-in first-out queue on one vector, for queues that are empty most of their life: a
// neighbor entry's packets waiting for resolution, a UDP socket's received datagrams.
//
// std::deque (libstdc++) allocates a map and a first block when it is built and again for the
// object it is moved from, two allocations for every neighbor entry and socket though most
// never queue anything; a stack is built per fuzz input, and embedders may run many. Fifo
// allocates on the first push. Popping moves a head index (the popped element is reset to T{}
// at once, so what it held is released then, not when the slot is reused); the vector is
// compacted when the head passes half of it, so push and pop are amortized O(1). When the
// queue empties its capacity is kept up to kKeptCapacity elements (a socket cycling between
// empty and one datagram allocates nothing) and released beyond (a burst does not pin its
// peak for the queue's lifetime).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace weir {

template <typename T>
class Fifo {
 public:
  static constexpr size_t kKeptCapacity = 16;

  Fifo() = default;
  Fifo(Fifo&& other) noexcept
      : items_(std::move(other.items_)), head_(std::exchange(other.head_, 0)) {
    other.items_.clear();
  }
  Fifo& operator=(Fifo&& other) noexcept {
    items_ = std::move(other.items_);
    head_ = std::exchange(other.head_, 0);
    other.items_.clear();
    return *this;
  }
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;

  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }

  T& front() { return items_.at(head_); }
  const T& front() const { return items_.at(head_); }

  void push_back(T value) { items_.push_back(std::move(value)); }

  void pop_front() {
    items_.at(head_) = T{};
    ++head_;
    if (head_ == items_.size()) {
      clear();
    } else if (head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  void clear() {
    if (items_.capacity() > kKeptCapacity) {
      std::vector<T>().swap(items_);
    } else {
      items_.clear();
    }
    head_ = 0;
  }

  auto begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() { return items_.end(); }
  auto begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() const { return items_.end(); }

 private:
  std::vector<T> items_;
  size_t head_ = 0;  // items_[0, head_) are popped (reset to T{})
};

}  // namespace weir
