// Loop: the one thread that drives a Stack. It waits (epoll) on the fds of link endpoints and
// of its users, and on the next timer deadline; runs receive batches; fires timers; and runs
// work other threads post(). Nothing else may touch the stack while the loop runs.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "stack/clock.h"
#include "stack/link_endpoint.h"
#include "stack/result.h"

namespace weir {

class Stack;

class Loop {
 public:
  // How many packets one endpoint may deliver before others get a turn.
  static constexpr size_t kReceiveBudget = 64;

  explicit Loop(Stack& stack);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Polls endpoint.readable_fd() and calls process_receive when it is readable.
  Status watch(LinkEndpoint& endpoint);
  // Calls handler(epoll events) when fd is ready for `events` (EPOLLIN, ...).
  Status watch_fd(int fd, uint32_t events, std::function<void(uint32_t)> handler);
  void unwatch_fd(int fd);

  // Runs fn on the loop thread. Safe from any thread.
  void post(std::function<void()> fn);
  // Runs until stop(). Safe to call stop() from any thread or a signal-driven fd handler.
  void run();
  void stop();
  // One iteration: waits at most max_wait (or until the next timer), then handles what is
  // ready. Returns the number of events, packets, timers and posted tasks handled.
  size_t run_once(std::optional<Duration> max_wait);

 private:
  void drain_posted();

  Stack& stack_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: post() and stop() write it
  std::unordered_map<int, std::function<void(uint32_t)>> handlers_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::atomic<bool> stopping_{false};
  size_t received_ = 0;  // packets delivered by watched endpoints in the current iteration
};

}  // namespace weir
