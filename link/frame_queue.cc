#include "link/frame_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace weir::link {

Result<std::unique_ptr<FrameQueue>> FrameQueue::create(const Options& options) {
  auto queue = std::make_unique<FrameQueue>(Key(), options);
  if (options.signalled) {
    queue->event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (queue->event_fd_ < 0) return error_from_errno(errno);
  }
  return queue;
}

FrameQueue::~FrameQueue() {
  if (event_fd_ >= 0) ::close(event_fd_);
}

bool FrameQueue::push_locked(PacketBuffer& pkt) {
  bool was_empty = false;
  {
    MaybeLock lock(mutex_, options_.locked);
    if (count_ >= options_.limit) return false;
    was_empty = count_ == 0;
    if (count_ == capacity_) grow();
    ring_[tail_slot()] = std::move(pkt);
    ++count_;
  }
  if (was_empty) signal();
  return true;
}

size_t FrameQueue::pop_batch(size_t max, std::vector<PacketBuffer>& out) {
  if (options_.locked) drain_signal();
  size_t n = 0;
  bool remaining = false;
  {
    MaybeLock lock(mutex_, options_.locked);
    while (n < max && count_ > 0) {
      out.push_back(std::move(ring_[head_]));
      head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
      --count_;
      ++n;
    }
    remaining = count_ > 0;
  }
  if (remaining) {
    signal();
  } else if (!options_.locked) {
    drain_signal();
  }
  return n;
}

void FrameQueue::release_signal() {
  holding_ = false;
  if (count_ > 0) {
    signal();
  } else {
    drain_signal();
  }
}

size_t FrameQueue::size() const {
  MaybeLock lock(mutex_, options_.locked);
  return count_;
}

void FrameQueue::grow() {
  const size_t capacity = std::min(std::max<size_t>(capacity_ * 2, 16), options_.limit);
  auto bigger = std::make_unique<PacketBuffer[]>(capacity);
  for (size_t i = 0; i < count_; ++i) bigger[i] = std::move(ring_[(head_ + i) % capacity_]);
  ring_ = std::move(bigger);
  capacity_ = capacity;
  head_ = 0;
}

void FrameQueue::clear() {
  // Packets are released outside the lock: a release callback may take other locks.
  std::unique_ptr<PacketBuffer[]> dropped;
  {
    MaybeLock lock(mutex_, options_.locked);
    dropped = std::move(ring_);
    capacity_ = 0;
    head_ = 0;
    count_ = 0;
  }
  holding_ = false;
  drain_signal();
}

void FrameQueue::signal() {
  if (event_fd_ < 0) return;
  if (!options_.locked) {
    if (signalled_ || holding_) return;
    signalled_ = true;
  }
  const uint64_t one = 1;
  // EAGAIN means the counter is already huge, i.e. already readable: nothing to do.
  [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof one);
}

void FrameQueue::drain_signal() {
  if (event_fd_ < 0) return;
  if (!options_.locked) {
    if (!signalled_) return;
    signalled_ = false;
  }
  uint64_t value = 0;
  [[maybe_unused]] ssize_t n = ::read(event_fd_, &value, sizeof value);
}

}  // namespace weir::link
