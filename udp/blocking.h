// Blocking UDP sockets for threads other than the one running the stack's Loop; the UDP twin
// of tcp/blocking.h.
//
// Every operation is posted to the Loop (loop.post) and the calling thread waits for its
// result. A receive that finds no datagram registers a Waiter on the endpoint from the loop
// thread, in the same task that saw kWouldBlock, so a datagram that arrives between the
// attempt and the wait still wakes the caller; the caller then sleeps on a condition variable
// until the waiter fires, and tries again. Sends never wait: UDP keeps no send queue (see
// udp/endpoint.h), so send_to() returns as soon as the loop has handed the datagram down.
// The Endpoint itself is only ever touched on the loop thread.
//
// Threads. Any number of threads may call; one may receive while others send. Receives from
// several threads at once are served in no particular order. close() (or shutdown(kRead), or
// destroying the socket from another thread after the receivers are done) wakes a blocked
// receiver: it returns kBadFileDescriptor after close, an empty datagram after shutdown.
//
// Lifetime. The loop must be running (on another thread) for every call, the destructor
// included, and the socket must be destroyed before the loop and the stack.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "stack/loop.h"
#include "stack/stack.h"
#include "stack/waiter.h"
#include "udp/endpoint.h"

namespace weir::udp {

class BlockingSocket {
 public:
  // A new unbound socket on stack, driven by loop (which must be running on another thread).
  // kProtocolNotSupported when udp::install() was not called on the stack.
  static Result<std::unique_ptr<BlockingSocket>> create(Loop& loop, Stack& stack,
                                                        AddressFamily family);
  BlockingSocket(Loop& loop, std::unique_ptr<Endpoint> endpoint);
  // Closes (on the loop thread).
  ~BlockingSocket();
  BlockingSocket(const BlockingSocket&) = delete;
  BlockingSocket& operator=(const BlockingSocket&) = delete;

  // As udp::Endpoint's, run on the loop thread.
  Status bind(const SocketAddress& local);
  Status connect(const SocketAddress& remote);
  // One datagram to `to` (or the connected peer); returns data.size() or the error.
  Result<size_t> send_to(ByteView data, std::optional<SocketAddress> to = std::nullopt);
  Result<size_t> send(ByteView data) { return send_to(data, std::nullopt); }

  // Waits for the next datagram and copies it into out (the rest of a longer one is dropped:
  // DatagramInfo says so). With a timeout (SO_RCVTIMEO), kWouldBlock when none came in time.
  // An empty DatagramInfo after shutdown(kRead); kBadFileDescriptor after close().
  Result<DatagramInfo> receive_from(MutableByteView out,
                                    std::optional<Duration> timeout = std::nullopt);
  // The same, taking the datagram whole without copying its bytes.
  Result<Datagram> receive_packet(std::optional<Duration> timeout = std::nullopt);

  Status shutdown(ShutdownHow how);
  // Releases the port and wakes blocked receivers. Idempotent.
  void close();
  Result<SocketAddress> local_address();
  Result<SocketAddress> remote_address();
  // Runs fn(endpoint) on the loop thread and returns its result (options, groups, ...).
  template <typename T>
  T with_endpoint(std::function<T(Endpoint&)> fn) {
    return call<T>([&] { return fn(*endpoint_); });
  }

 private:
  template <typename T>
  T call(std::function<T()> fn) {
    return loop_.call<T>(std::move(fn));
  }
  // Tries op on the loop thread until it does not block, arming the waiter in the same task.
  template <typename T>
  Result<T> receive_loop(std::function<Result<T>()> op, std::optional<Duration> timeout);
  // On the loop thread: wake callers on readability (or any end of the socket). Returns the
  // signal count to wait past.
  uint64_t arm();
  // Whether the waiter fired (signals_ moved past seen) before the deadline.
  bool wait_signal(uint64_t seen, std::optional<std::chrono::steady_clock::time_point> deadline);

  Loop& loop_;
  std::unique_ptr<Endpoint> endpoint_;  // touched on the loop thread only
  std::mutex mu_;
  std::condition_variable cv_;
  // Bumped by the waiter; a caller waits for it to move past the value it saw when arming.
  uint64_t signals_ = 0;
  Waiter waiter_;  // linked and fired on the loop thread only
};

}  // namespace weir::udp
