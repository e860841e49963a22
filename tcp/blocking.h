// Blocking TCP sockets for threads other than the one running the stack's Loop.
//
// Every operation is posted to the Loop (loop.post) and the calling thread waits for its
// result. An operation that would block registers a Waiter on the endpoint, from the loop
// thread and in the same task that saw kWouldBlock, so no readiness event can slip between
// the attempt and the wait; the caller then sleeps on a condition variable until the waiter
// fires, and tries again. The Endpoint itself is only ever touched on the loop thread.
// One thread may read (or accept) while another writes: each direction has its own waiter.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "stack/loop.h"
#include "stack/stack.h"
#include "stack/waiter.h"
#include "tcp/endpoint.h"

namespace weir::tcp {

class BlockingSocket {
 public:
  // A new socket on stack, driven by loop (which must be running on another thread).
  static Result<std::unique_ptr<BlockingSocket>> create(Loop& loop, Stack& stack,
                                                        AddressFamily family);
  BlockingSocket(Loop& loop, std::unique_ptr<Endpoint> endpoint);
  // Closes gracefully (on the loop thread).
  ~BlockingSocket();
  BlockingSocket(const BlockingSocket&) = delete;
  BlockingSocket& operator=(const BlockingSocket&) = delete;

  Status bind(const SocketAddress& local);
  Status listen(int backlog);
  // Waits for a connection.
  Result<std::unique_ptr<BlockingSocket>> accept();
  // Waits until established (ok) or failed (the error).
  Status connect(const SocketAddress& remote);
  // Waits for at least one byte or EOF (0).
  Result<size_t> read(MutableByteView out);
  // Writes everything, waiting for buffer space; returns data.size() or the error.
  Result<size_t> write(ByteView data);
  Status shutdown(ShutdownHow how);
  void close();
  Result<SocketAddress> local_address();
  Result<SocketAddress> remote_address();
  // Runs fn(endpoint) on the loop thread and returns its result (options, info, ...).
  template <typename T>
  T with_endpoint(std::function<T(Endpoint&)> fn) {
    return call<T>([&] { return fn(*endpoint_); });
  }

 private:
  template <typename T>
  T call(std::function<T()> fn) {
    return loop_.call<T>(std::move(fn));
  }
  enum Direction { kIn = 0, kOut = 1 };
  // On the loop thread: wait for any of mask on the endpoint.
  void arm(Direction d, EventMask mask);
  void wait_signal(Direction d);
  void detach_waiters();

  Loop& loop_;
  std::unique_ptr<Endpoint> endpoint_;  // touched on the loop thread only
  std::mutex mu_;
  std::condition_variable cv_;
  bool signaled_[2] = {false, false};
  // Linked and fired on the loop thread only.
  Waiter in_waiter_;
  Waiter out_waiter_;
};

}  // namespace weir::tcp
