#include "link/frame_queue.h"

#include <cerrno>
#include <cstdint>
#include <sys/eventfd.h>
#include <unistd.h>

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

bool FrameQueue::push(PacketBuffer& pkt) {
  bool was_empty = false;
  {
    MaybeLock lock(mutex_, options_.locked);
    if (packets_.size() >= options_.limit) return false;
    was_empty = packets_.empty();
    packets_.push_back(std::move(pkt));
  }
  if (was_empty) signal();
  return true;
}

size_t FrameQueue::pop_batch(size_t max, std::vector<PacketBuffer>& out) {
  drain_signal();
  size_t n = 0;
  bool remaining = false;
  {
    MaybeLock lock(mutex_, options_.locked);
    while (n < max && !packets_.empty()) {
      out.push_back(std::move(packets_.front()));
      packets_.pop_front();
      ++n;
    }
    remaining = !packets_.empty();
  }
  if (remaining) signal();
  return n;
}

size_t FrameQueue::size() const {
  MaybeLock lock(mutex_, options_.locked);
  return packets_.size();
}

void FrameQueue::clear() {
  std::deque<PacketBuffer> dropped;
  {
    MaybeLock lock(mutex_, options_.locked);
    dropped.swap(packets_);
  }
  drain_signal();
}

void FrameQueue::signal() {
  if (event_fd_ < 0) return;
  const uint64_t one = 1;
  // EAGAIN means the counter is already huge, i.e. already readable: nothing to do.
  [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof one);
}

void FrameQueue::drain_signal() {
  if (event_fd_ < 0) return;
  uint64_t value = 0;
  [[maybe_unused]] ssize_t n = ::read(event_fd_, &value, sizeof value);
}

}  // namespace weir::link
