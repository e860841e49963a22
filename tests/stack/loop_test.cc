#include "stack/loop.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "stack/stack.h"

namespace weir {
namespace {

// An fd-driven endpoint whose "packets" are a counter: readable while any are pending.
class CountingEndpoint final : public LinkEndpoint {
 public:
  CountingEndpoint() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~CountingEndpoint() override { close(fd_); }

  void add_pending(size_t n) {
    pending_ += n;
    const uint64_t one = 1;
    ASSERT_EQ(write(fd_, &one, sizeof one), 8);
  }
  size_t pending() const { return pending_; }
  size_t calls() const { return calls_; }
  size_t delivered() const { return delivered_; }

  uint32_t mtu() const override { return 1500; }
  LinkCapabilities capabilities() const override { return {}; }
  uint16_t max_header_length() const override { return 14; }
  MacAddress link_address() const override { return {}; }
  void attach(NetworkDispatcher*) override {}
  bool attached() const override { return false; }
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override {
    return packets.size();
  }
  int readable_fd() const override { return fd_; }
  size_t process_receive(size_t budget) override {
    ++calls_;
    const size_t n = std::min(budget, pending_);
    pending_ -= n;
    delivered_ += n;
    if (pending_ == 0) {
      uint64_t v;
      [[maybe_unused]] ssize_t r = read(fd_, &v, sizeof v);
    }
    return n;
  }

 private:
  int fd_;
  size_t pending_ = 0;
  size_t calls_ = 0;
  size_t delivered_ = 0;
};

class LoopTest : public ::testing::Test {
 protected:
  SteadyClock clock_;
  Stack stack_{clock_, repeatable_stack_options(1)};
  Loop loop_{stack_};
};

TEST_F(LoopTest, RunOnceWithNothingToDo) {
  EXPECT_EQ(loop_.run_once(Duration::zero()), 0u);
}

TEST_F(LoopTest, StopBeforeRunEndsTheNextRun) {
  loop_.stop();
  loop_.run();  // returns at once
  SUCCEED();
}

TEST_F(LoopTest, PostRunsOnLoopThread) {
  std::atomic<int> ran{0};
  std::thread::id loop_thread;
  std::thread::id task_thread;
  std::thread poster([&] {
    loop_.post([&] {
      task_thread = std::this_thread::get_id();
      ++ran;
      loop_.stop();
    });
  });
  loop_thread = std::this_thread::get_id();
  loop_.run();
  poster.join();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(task_thread, loop_thread);
}

TEST_F(LoopTest, ManyPostersEveryTaskRunsOnce) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  int count = 0;  // touched only on the loop thread
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) loop_.post([&] { ++count; });
      if (++finished == kThreads) {
        // Posted after every other task of every thread: the queue is FIFO.
        loop_.post([&] { loop_.stop(); });
      }
    });
  }
  loop_.run();
  for (auto& t : threads) t.join();
  EXPECT_EQ(count, kThreads * kPerThread);
}

TEST_F(LoopTest, StopFromAnotherThread) {
  std::atomic<bool> running{false};
  loop_.post([&] { running = true; });
  std::thread stopper([&] {
    while (!running.load()) std::this_thread::yield();
    loop_.stop();
  });
  loop_.run();
  stopper.join();
  EXPECT_TRUE(running.load());
}

TEST_F(LoopTest, TaskPostedByTaskRunsNextIteration) {
  int stage = 0;
  loop_.post([&] {
    stage = 1;
    loop_.post([&] { stage = 2; });
  });
  EXPECT_EQ(loop_.run_once(Duration::zero()), 1u);
  EXPECT_EQ(stage, 1);
  EXPECT_EQ(loop_.run_once(Duration::zero()), 1u);
  EXPECT_EQ(stage, 2);
}

// A task posted while an iteration handles its events (as a handler or a timer posts) runs at
// the end of that iteration, and leaves no wake-up behind to end the next wait at once.
TEST_F(LoopTest, TaskPostedByHandlerRunsThisIterationWithoutAWakeUp) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  int ran = 0;
  ASSERT_TRUE(loop_
                  .watch_fd(fds[0], EPOLLIN,
                            [&](uint32_t) {
                              char c;
                              ASSERT_EQ(read(fds[0], &c, 1), 1);
                              loop_.post([&] { ++ran; });
                            })
                  .ok());
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  EXPECT_EQ(loop_.run_once(Duration::zero()), 2u);  // the fd's event and the task
  EXPECT_EQ(ran, 1);
  pollfd pfd{.fd = loop_.fd(), .events = POLLIN, .revents = 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);  // nothing ready in the epoll set: no wake-up written
  // A post from outside an iteration still wakes the loop.
  loop_.post([&] { ++ran; });
  EXPECT_EQ(::poll(&pfd, 1, 0), 1);
  EXPECT_EQ(loop_.run_once(Duration::zero()), 1u);
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
  loop_.unwatch_fd(fds[0]);
  close(fds[0]);
  close(fds[1]);
}

TEST_F(LoopTest, TimerFiresAfterItsDeadline) {
  TimePoint fired_at{};
  Timer timer([&] {
    fired_at = stack_.now();
    loop_.stop();
  });
  stack_.timers().arm_after(timer, std::chrono::milliseconds(3));
  const TimePoint deadline = timer.deadline();
  loop_.run();
  EXPECT_FALSE(timer.armed());
  EXPECT_GE(fired_at, deadline);
}

TEST_F(LoopTest, WaitsForATimerWithoutSpinning) {
  // The wait is rounded up to whole milliseconds so that the loop wakes once the timer is due
  // rather than spinning through a not-yet-due tick.
  bool fired = false;
  Timer timer([&] { fired = true; });
  stack_.timers().arm_after(timer, std::chrono::microseconds(2500));
  int iterations = 0;
  while (!fired) {
    ASSERT_LT(++iterations, 10) << "loop spins instead of sleeping until the deadline";
    loop_.run_once(std::nullopt);
  }
}

TEST_F(LoopTest, TimersFireInOrder) {
  std::vector<int> order;
  Timer a([&] { order.push_back(1); });
  Timer b([&] { order.push_back(2); });
  Timer c([&] {
    order.push_back(3);
    loop_.stop();
  });
  stack_.timers().arm_after(c, std::chrono::milliseconds(6));
  stack_.timers().arm_after(a, std::chrono::milliseconds(1));
  stack_.timers().arm_after(b, std::chrono::microseconds(3500));
  loop_.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST_F(LoopTest, WatchFdCallsHandler) {
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  int calls = 0;
  ASSERT_TRUE(loop_.watch_fd(efd, EPOLLIN, [&](uint32_t events) {
                     EXPECT_TRUE(events & EPOLLIN);
                     uint64_t v;
                     ASSERT_EQ(read(efd, &v, sizeof v), 8);
                     ++calls;
                     loop_.stop();
                   }).ok());
  std::thread writer([&] {
    const uint64_t one = 1;
    ASSERT_EQ(write(efd, &one, sizeof one), 8);
  });
  loop_.run();
  writer.join();
  EXPECT_EQ(calls, 1);
  loop_.unwatch_fd(efd);
  const uint64_t one = 1;
  ASSERT_EQ(write(efd, &one, sizeof one), 8);
  EXPECT_EQ(loop_.run_once(Duration::zero()), 0u);
  EXPECT_EQ(calls, 1);
  close(efd);
}

// The close takes the fd out of the epoll set, so nothing of it is reported (it was readable),
// and a new fd that takes its number is watched afresh.
TEST_F(LoopTest, UnwatchFdClosingLeavesTheSetWithTheClose) {
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  int old_calls = 0;
  ASSERT_TRUE(loop_.watch_fd(efd, EPOLLIN, [&](uint32_t) { ++old_calls; }).ok());
  const uint64_t one = 1;
  ASSERT_EQ(write(efd, &one, sizeof one), 8);
  loop_.unwatch_fd_closing(efd);
  close(efd);
  epoll_event ev{};
  EXPECT_EQ(epoll_wait(loop_.fd(), &ev, 1, 0), 0);
  EXPECT_EQ(loop_.run_once(Duration::zero()), 0u);

  int again = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(again, 0);
  int new_calls = 0;
  ASSERT_TRUE(loop_
                  .watch_fd(again, EPOLLIN,
                            [&](uint32_t) {
                              uint64_t v;
                              ASSERT_EQ(read(again, &v, sizeof v), 8);
                              ++new_calls;
                            })
                  .ok());
  ASSERT_EQ(write(again, &one, sizeof one), 8);
  EXPECT_EQ(loop_.run_once(Duration::zero()), 1u);
  EXPECT_EQ(old_calls, 0);
  EXPECT_EQ(new_calls, 1);
  loop_.unwatch_fd_closing(again);
  close(again);
}

TEST_F(LoopTest, WatchFdRejectsBadFds) {
  EXPECT_FALSE(loop_.watch_fd(-1, EPOLLIN, [](uint32_t) {}).ok());
  EXPECT_FALSE(loop_.watch_fd(0, EPOLLIN, nullptr).ok());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  EXPECT_EQ(loop_.watch_fd(fds[0], EPOLLIN, [](uint32_t) {}).error(), Error::kBadFileDescriptor);
  close(fds[1]);
}

TEST_F(LoopTest, HandlerMayUnwatchItself) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  int calls = 0;
  ASSERT_TRUE(loop_.watch_fd(fds[0], EPOLLIN, [&](uint32_t) {
                     ++calls;
                     loop_.unwatch_fd(fds[0]);
                   }).ok());
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  loop_.run_once(Duration::zero());
  loop_.run_once(Duration::zero());
  EXPECT_EQ(calls, 1);
  close(fds[0]);
  close(fds[1]);
}

TEST_F(LoopTest, RewatchReplacesHandler) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  int first = 0;
  int second = 0;
  ASSERT_TRUE(loop_.watch_fd(fds[0], EPOLLIN, [&](uint32_t) { ++first; }).ok());
  ASSERT_TRUE(loop_.watch_fd(fds[0], EPOLLIN, [&](uint32_t) { ++second; }).ok());
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  loop_.run_once(Duration::zero());
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
  loop_.unwatch_fd(fds[0]);
  close(fds[0]);
  close(fds[1]);
}

TEST_F(LoopTest, WatchEndpointWithoutFdFails) {
  class InMemory final : public LinkEndpoint {
   public:
    uint32_t mtu() const override { return 1500; }
    LinkCapabilities capabilities() const override { return {}; }
    uint16_t max_header_length() const override { return 0; }
    MacAddress link_address() const override { return {}; }
    void attach(NetworkDispatcher*) override {}
    bool attached() const override { return false; }
    Result<size_t> write_packets(std::span<PacketBuffer> p) override { return p.size(); }
  } ep;
  EXPECT_EQ(loop_.watch(ep).error(), Error::kInvalidArgument);
}

// An endpoint with no fd (a DPDK port): packets appear without any wake-up.
class PolledEndpoint final : public LinkEndpoint {
 public:
  uint32_t mtu() const override { return 1500; }
  LinkCapabilities capabilities() const override { return {}; }
  uint16_t max_header_length() const override { return 14; }
  MacAddress link_address() const override { return {}; }
  void attach(NetworkDispatcher*) override {}
  bool attached() const override { return false; }
  Result<size_t> write_packets(std::span<PacketBuffer> p) override { return p.size(); }
  bool needs_polling() const override { return true; }
  size_t process_receive(size_t budget) override {
    ++calls;
    const size_t n = std::min(budget, pending);
    pending -= n;
    return n;
  }
  size_t pending = 0;
  size_t calls = 0;
};

TEST_F(LoopTest, PolledEndpointGetsABatchEveryIteration) {
  PolledEndpoint ep;
  ASSERT_TRUE(loop_.watch(ep).ok());
  ASSERT_TRUE(loop_.watch(ep).ok());  // once is enough; twice does not poll twice
  loop_.run_once(Duration::zero());
  EXPECT_EQ(ep.calls, 1u);
  ep.pending = Loop::kReceiveBudget + 3;  // no fd, no wake-up: found by the next poll
  EXPECT_EQ(loop_.run_once(Duration::zero()), Loop::kReceiveBudget + 3);
  EXPECT_EQ(ep.pending, 0u);
  EXPECT_EQ(ep.calls, 3u);
  loop_.unwatch(ep);
  loop_.run_once(Duration::zero());
  EXPECT_EQ(ep.calls, 3u);
}

TEST_F(LoopTest, IdlePolledLoopStillWakesUp) {
  PolledEndpoint ep;
  ASSERT_TRUE(loop_.watch(ep).ok());
  // No timer and no max_wait would block for ever without the polled endpoint; with it every
  // iteration returns after at most the poll interval, and polls.
  for (size_t i = 0; i < Loop::kPollSpins + 3; ++i) loop_.run_once(std::nullopt);
  EXPECT_EQ(ep.calls, Loop::kPollSpins + 3);
  ep.pending = 1;
  EXPECT_EQ(loop_.run_once(std::nullopt), 1u);
  loop_.unwatch(ep);
}

TEST_F(LoopTest, EndpointReceivesInBudgetedBatches) {
  CountingEndpoint ep;
  ASSERT_TRUE(loop_.watch(ep).ok());
  ep.add_pending(10);
  EXPECT_EQ(loop_.run_once(Duration::zero()), 1u + 10u);
  EXPECT_EQ(ep.delivered(), 10u);
  EXPECT_EQ(ep.calls(), 1u);
  // A full budget asks again, until less than a budget comes back.
  ep.add_pending(Loop::kReceiveBudget * 2 + 5);
  loop_.run_once(Duration::zero());
  EXPECT_EQ(ep.pending(), 0u);
  EXPECT_EQ(ep.calls(), 1u + 3u);
  loop_.unwatch_fd(ep.readable_fd());
}

TEST_F(LoopTest, BusyEndpointDoesNotStarveOthers) {
  CountingEndpoint busy;
  CountingEndpoint quiet;
  ASSERT_TRUE(loop_.watch(busy).ok());
  ASSERT_TRUE(loop_.watch(quiet).ok());
  busy.add_pending(Loop::kReceiveBudget * 1000);
  quiet.add_pending(3);
  int posted_ran = 0;
  loop_.post([&] { ++posted_ran; });
  loop_.run_once(Duration::zero());
  // One iteration served the quiet endpoint and the posted task although busy is not done.
  EXPECT_EQ(quiet.pending(), 0u);
  EXPECT_EQ(posted_ran, 1);
  EXPECT_GT(busy.pending(), 0u);
  EXPECT_LT(busy.delivered(), Loop::kReceiveBudget * 1000);
  // Level-triggered: busy comes back on later iterations until drained.
  int iterations = 0;
  while (busy.pending() > 0) {
    ASSERT_LT(++iterations, 2000);
    loop_.run_once(Duration::zero());
  }
  EXPECT_EQ(busy.delivered(), Loop::kReceiveBudget * 1000);
  loop_.unwatch_fd(busy.readable_fd());
  loop_.unwatch_fd(quiet.readable_fd());
}

TEST_F(LoopTest, RunOnceMaxWaitBoundsTheWait) {
  // Nothing ready and no timer: a bounded wait returns with nothing done.
  EXPECT_EQ(loop_.run_once(std::chrono::milliseconds(1)), 0u);
}

// A reset loop is the loop its constructor left: what was watched, posted, polled, woken or
// stopped before is gone, and it watches and runs as a new one would (the fuzz targets keep one
// loop for the whole process and reset it after every input).
TEST_F(LoopTest, ResetLeavesWhatTheConstructorLeaves) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  int handled = 0;
  int ran = 0;
  ASSERT_TRUE(loop_.watch_fd(fds[0], EPOLLIN, [&](uint32_t) { ++handled; }).ok());
  PolledEndpoint polled;
  ASSERT_TRUE(loop_.watch(polled).ok());
  ASSERT_EQ(write(fds[1], "x", 1), 1);  // the watched fd is readable
  loop_.post([&] { ++ran; });           // the wake-up is pending
  loop_.stop();

  loop_.reset();

  polled.pending = 1;
  EXPECT_EQ(loop_.run_once(Duration::zero()), 0u);  // no handler, task, wake-up or poll left
  EXPECT_EQ(handled, 0);
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(polled.calls, 0u);
  // The fd left the epoll set too: watching it again adds it, and its handler runs.
  ASSERT_TRUE(loop_.watch_fd(fds[0], EPOLLIN, [&](uint32_t) { ++handled; }).ok());
  EXPECT_EQ(loop_.run_once(Duration::zero()), 1u);
  EXPECT_EQ(handled, 1);
  // The stop() before the reset no longer ends a run: this one ends at its own.
  loop_.post([&] {
    ++ran;
    loop_.stop();
  });
  loop_.run();
  EXPECT_EQ(ran, 1);
  loop_.unwatch_fd(fds[0]);
  close(fds[0]);
  close(fds[1]);
}

// reset(kept) leaves everything as reset() does but the kept endpoint, still watched with its
// handler: what a process that keeps one loopback for many runs relies on.
TEST_F(LoopTest, ResetKeepsTheKeptEndpointWatched) {
  CountingEndpoint kept;
  CountingEndpoint other;
  PolledEndpoint polled;
  ASSERT_TRUE(loop_.watch(kept).ok());
  ASSERT_TRUE(loop_.watch(other).ok());
  ASSERT_TRUE(loop_.watch(polled).ok());

  loop_.reset(&kept);

  kept.add_pending(3);
  other.add_pending(5);
  polled.pending = 1;
  EXPECT_EQ(loop_.run_once(Duration::zero()), 4u);  // the kept endpoint: its event, 3 packets
  EXPECT_EQ(kept.delivered(), 3u);
  EXPECT_EQ(other.calls(), 0u);
  EXPECT_EQ(polled.calls, 0u);
  loop_.unwatch(kept);
}

}  // namespace
}  // namespace weir
