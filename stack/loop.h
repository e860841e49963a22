// Loop: the one thread that drives a Stack. It waits (epoll) on the fds of link endpoints and
// of its users, and on the next timer deadline; runs receive batches; fires timers; and runs
// work other threads post(). Nothing else may touch the stack while the loop runs.
//
// Polled endpoints. An endpoint with no fd to wait on (LinkEndpoint::needs_polling(), e.g. a
// DPDK port) gets a receive batch on every iteration instead. While packets keep coming the
// loop does not sleep at all (busy-poll, as DPDK applications do); after kPollSpins iterations
// in a row that found nothing it sleeps up to kPollInterval at a time, so an idle loop costs
// about a thousand wake-ups a second rather than a whole core, and a packet that arrives on
// an idle link waits at most kPollInterval.
#pragma once

#include <atomic>
#include <functional>
#include <future>
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
  // Polled endpoints: the longest sleep while idle, and how many empty polls in a row end the
  // busy-polling that follows a packet.
  static constexpr Duration kPollInterval = std::chrono::milliseconds(1);
  static constexpr size_t kPollSpins = 64;

  explicit Loop(Stack& stack);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Polls endpoint.readable_fd() and calls process_receive when it is readable; an endpoint
  // without an fd that needs_polling() is polled on every iteration (see above). Borrowed: the
  // endpoint must be unwatched, or the loop gone, before it is destroyed.
  Status watch(LinkEndpoint& endpoint);
  void unwatch(LinkEndpoint& endpoint);
  // Calls handler(epoll events) when fd is ready for `events` (EPOLLIN, ...).
  Status watch_fd(int fd, uint32_t events, std::function<void(uint32_t)> handler);
  void unwatch_fd(int fd);
  // unwatch_fd for an fd the caller closes right after, when no other descriptor of its file
  // is open anywhere (an end of a socket pair the caller made and never shared): closing the
  // file takes it out of the epoll set, so the removal costs no system call.
  void unwatch_fd_closing(int fd) { handlers_.erase(fd); }

  // Runs fn on the loop thread. Safe from any thread.
  void post(std::function<void()> fn);
  // Runs fn on the loop thread and waits for its result: how other threads use the stack (the
  // blocking facades stand on it). Never from the loop thread itself, which would wait for
  // itself.
  template <typename T>
  T call(std::function<T()> fn) {
    std::promise<T> done;
    auto result = done.get_future();
    post([&] { done.set_value(fn()); });
    return result.get();
  }
  // Runs until stop(). Safe to call stop() from any thread or a signal-driven fd handler.
  void run();
  void stop();
  // One iteration: waits at most max_wait (or until the next timer), then handles what is
  // ready. Returns the number of events, packets, timers and posted tasks handled.
  size_t run_once(std::optional<Duration> max_wait);
  // Back to what the constructor left, keeping the epoll and wake fds (for a fuzz target that
  // would otherwise make, register and close them for every input): every watched fd
  // leaves the epoll set, tasks still posted are dropped unrun (as a destroyed loop drops them),
  // a pending wake-up and a stop() are consumed. Only on the loop thread, between runs; a
  // watched fd that was closed while another descriptor of its file stays open cannot be taken
  // out of the epoll set by number, so close such fds only after the reset. A `kept` endpoint
  // stays watched as it was (a fuzz target that watches its one loopback for the process,
  // rather than adding it to the epoll set and taking it out again for every input).
  void reset(const LinkEndpoint* kept = nullptr);
  // The loop's epoll fd, for nesting it in another event loop: when it is readable, call
  // run_once(Duration::zero()) on this loop's thread; wait no longer than
  // stack.timers().next_deadline() (or the loop's poll interval, for polled endpoints).
  int fd() const { return epoll_fd_; }

 private:
  void drain_posted();
  // Up to kFairnessRounds receive budgets from one endpoint; returns the packets delivered.
  size_t receive_from(LinkEndpoint& endpoint);

  Stack& stack_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: post() and stop() write it
  std::unordered_map<int, std::function<void(uint32_t)>> handlers_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  // Under posted_mutex_: run_once is between its wait and taking the posted tasks, so a task
  // posted now runs in this iteration and needs no wake-up (handlers and timers post often).
  bool collecting_ = false;
  // A wake-up may be unread (set before every write of wake_fd_): reset() reads it only then.
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stopping_{false};
  size_t received_ = 0;  // packets delivered by watched endpoints in the current iteration
  std::vector<LinkEndpoint*> polled_;  // borrowed: watch() documents the lifetime
  size_t idle_polls_ = kPollSpins;     // empty polls in a row; starts idle (sleeping)
};

}  // namespace weir
