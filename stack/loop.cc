#include "stack/loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>

#include "stack/stack.h"

namespace weir {

namespace {

// One endpoint may run this many receive budgets per wake-up before the other fds, the timers
// and posted work get their turn. Level-triggered epoll brings it back on the next iteration if
// packets are still waiting.
constexpr size_t kFairnessRounds = 4;
constexpr int kMaxEvents = 64;

// Milliseconds for epoll_wait, rounded up so that the loop never wakes before a deadline (and
// then spins on a timer that is not due yet).
int ceil_millis(Duration d) {
  if (d <= Duration::zero()) return 0;
  const int64_t ms = (d.count() + 999'999) / 1'000'000;
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace

Loop::Loop(Stack& stack) : stack_(stack) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ >= 0 && wake_fd_ >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  }
}

Loop::~Loop() {
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void Loop::reset(const LinkEndpoint* kept) {
  const int kept_fd = kept != nullptr ? kept->readable_fd() : -1;
  std::erase_if(handlers_, [&](const auto& entry) {
    if (entry.first == kept_fd) return false;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, entry.first, nullptr);
    return true;
  });
  // Tasks are destroyed outside the lock (their captures' destructors may post), and until
  // none is left.
  for (;;) {
    std::vector<std::function<void()>> dropped;
    {
      std::lock_guard lock(posted_mutex_);
      dropped.swap(posted_);
    }
    if (dropped.empty()) break;
  }
  if (wake_fd_ >= 0 && wake_pending_.exchange(false, std::memory_order_acq_rel)) {
    uint64_t count;
    [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof count);
  }
  stopping_.store(false, std::memory_order_release);
  received_ = 0;
  std::erase_if(polled_, [&](const LinkEndpoint* ep) { return ep != kept; });
  idle_polls_ = kPollSpins;
}

size_t Loop::receive_from(LinkEndpoint& endpoint) {
  size_t total = 0;
  for (size_t round = 0; round < kFairnessRounds; ++round) {
    const size_t n = endpoint.process_receive(kReceiveBudget);
    total += n;
    if (n < kReceiveBudget) break;
  }
  return total;
}

Status Loop::watch(LinkEndpoint& endpoint) {
  const int fd = endpoint.readable_fd();
  LinkEndpoint* ep = &endpoint;  // borrowed: the caller unwatches before destroying
  if (fd < 0) {
    // In-memory endpoints are driven by their owner; poll-mode ones by every iteration.
    if (!endpoint.needs_polling()) return Error::kInvalidArgument;
    if (std::find(polled_.begin(), polled_.end(), ep) == polled_.end()) polled_.push_back(ep);
    return ok_status();
  }
  return watch_fd(fd, EPOLLIN, [this, ep](uint32_t) { received_ += receive_from(*ep); });
}

void Loop::unwatch(LinkEndpoint& endpoint) {
  polled_.erase(std::remove(polled_.begin(), polled_.end(), &endpoint), polled_.end());
  if (const int fd = endpoint.readable_fd(); fd >= 0) unwatch_fd(fd);
}

Status Loop::watch_fd(int fd, uint32_t events, std::function<void(uint32_t)> handler) {
  if (epoll_fd_ < 0) return Error::kIo;
  if (fd < 0 || fd == wake_fd_ || !handler) return Error::kInvalidArgument;
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  const bool known = handlers_.count(fd) != 0;
  if (epoll_ctl(epoll_fd_, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
    return error_from_errno(errno);
  }
  handlers_[fd] = std::move(handler);
  return ok_status();
}

void Loop::unwatch_fd(int fd) {
  if (handlers_.erase(fd) == 0) return;
  // The fd may already be closed, which removed it from the epoll set by itself.
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void Loop::post(std::function<void()> fn) {
  bool wake;
  {
    std::lock_guard lock(posted_mutex_);
    // Only the post that makes the queue non-empty needs to wake the loop: later ones find the
    // wake-up already pending until the queue is swapped out. None does while run_once is
    // collecting: it takes the queue before it returns.
    wake = posted_.empty() && !collecting_;
    posted_.push_back(std::move(fn));
  }
  if (wake) {
    wake_pending_.store(true, std::memory_order_release);
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
  }
}

void Loop::stop() {
  stopping_.store(true, std::memory_order_release);
  wake_pending_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void Loop::run() {
  if (epoll_fd_ < 0 || wake_fd_ < 0) return;
  // A stop() that came before run() still ends this run, and is consumed by it.
  while (!stopping_.exchange(false, std::memory_order_acq_rel)) run_once(std::nullopt);
}

void Loop::drain_posted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

size_t Loop::run_once(std::optional<Duration> max_wait) {
  if (epoll_fd_ < 0) return 0;
  size_t handled = 0;

  int timeout = -1;
  if (auto deadline = stack_.timers().next_deadline()) {
    timeout = ceil_millis(*deadline - stack_.now());
  }
  if (max_wait) {
    const int cap = ceil_millis(*max_wait);
    timeout = timeout < 0 ? cap : std::min(timeout, cap);
  }
  if (!polled_.empty()) {
    // Busy-poll right after traffic, else sleep at most one poll interval.
    const int cap = idle_polls_ < kPollSpins ? 0 : ceil_millis(kPollInterval);
    timeout = timeout < 0 ? cap : std::min(timeout, cap);
  }
  if (stopping_.load(std::memory_order_acquire)) timeout = 0;

  std::array<epoll_event, kMaxEvents> events;
  const int n = epoll_wait(epoll_fd_, events.data(), kMaxEvents, timeout);
  {
    std::lock_guard lock(posted_mutex_);
    collecting_ = true;
  }
  // One clock reading for everything this iteration does.
  Stack::Batch batch(stack_);
  received_ = 0;
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == wake_fd_) {
      wake_pending_.store(false, std::memory_order_release);
      uint64_t count;
      [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof count);
      continue;
    }
    auto it = handlers_.find(fd);
    if (it == handlers_.end()) continue;  // unwatched by an earlier handler in this batch
    // A copy, so a handler may unwatch (and so destroy) itself.
    auto handler = it->second;
    handler(events[i].events);
    ++handled;
  }
  if (!polled_.empty()) {
    size_t polled = 0;
    // By index: nothing in a receive batch unwatches, but a stale iterator must never be used.
    for (size_t i = 0; i < polled_.size(); ++i) polled += receive_from(*polled_[i]);
    received_ += polled;
    idle_polls_ = polled > 0 ? 0 : std::min(idle_polls_ + 1, kPollSpins);
  }
  handled += received_;
  handled += stack_.run_timers();

  // Tasks posted by these tasks wait for the next iteration (their post() wakes it at once).
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(posted_mutex_);
    tasks.swap(posted_);
    collecting_ = false;
  }
  for (auto& task : tasks) task();
  handled += tasks.size();
  return handled;
}

}  // namespace weir
