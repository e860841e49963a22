#include "udp/blocking.h"

namespace weir::udp {

namespace {
constexpr EventMask kAnyEnd = kEventError | kEventHangup | kEventReadHangup;
}  // namespace

Result<std::unique_ptr<BlockingSocket>> BlockingSocket::create(Loop& loop, Stack& stack,
                                                               AddressFamily family) {
  std::promise<Result<std::unique_ptr<Endpoint>>> p;
  auto f = p.get_future();
  loop.post([&] { p.set_value(Endpoint::create(stack, family)); });
  auto ep = f.get();
  if (!ep) return ep.error();
  return std::make_unique<BlockingSocket>(loop, std::move(*ep));
}

BlockingSocket::BlockingSocket(Loop& loop, std::unique_ptr<Endpoint> endpoint)
    : loop_(loop), endpoint_(std::move(endpoint)), waiter_(0, [this](EventMask) {
        waiter_.detach();
        {
          std::lock_guard lock(mu_);
          ++signals_;
        }
        cv_.notify_all();
      }) {}

BlockingSocket::~BlockingSocket() {
  call<bool>([&] {
    waiter_.detach();
    endpoint_.reset();
    return true;
  });
}

uint64_t BlockingSocket::arm() {
  uint64_t seen;
  {
    std::lock_guard lock(mu_);
    seen = signals_;
  }
  waiter_.set_interest(kEventReadable | kAnyEnd);
  endpoint_->waiters().add(waiter_);
  return seen;
}

bool BlockingSocket::wait_signal(uint64_t seen,
                                 std::optional<std::chrono::steady_clock::time_point> deadline) {
  std::unique_lock lock(mu_);
  auto fired = [&] { return signals_ != seen; };
  if (!deadline) {
    cv_.wait(lock, fired);
    return true;
  }
  return cv_.wait_until(lock, *deadline, fired);
}

template <typename T>
Result<T> BlockingSocket::receive_loop(std::function<Result<T>()> op,
                                       std::optional<Duration> timeout) {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (timeout) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(*timeout);
  }
  for (;;) {
    uint64_t seen = 0;
    auto r = call<Result<T>>([&]() -> Result<T> {
      auto got = op();
      if (!got.ok() && got.error() == Error::kWouldBlock) seen = arm();
      return got;
    });
    if (r.ok() || r.error() != Error::kWouldBlock) return r;
    // A timed-out caller leaves the waiter armed; it fires into an unwatched counter later,
    // which costs nothing, and the next receive arms it afresh.
    if (!wait_signal(seen, deadline)) return Error::kWouldBlock;
  }
}

Status BlockingSocket::bind(const SocketAddress& local) {
  return call<Status>([&] { return endpoint_->bind(local); });
}

Status BlockingSocket::connect(const SocketAddress& remote) {
  return call<Status>([&] { return endpoint_->connect(remote); });
}

Result<size_t> BlockingSocket::send_to(ByteView data, std::optional<SocketAddress> to) {
  return call<Result<size_t>>([&] { return endpoint_->send_to(data, to); });
}

Result<DatagramInfo> BlockingSocket::receive_from(MutableByteView out,
                                                  std::optional<Duration> timeout) {
  return receive_loop<DatagramInfo>([&] { return endpoint_->receive_from(out); }, timeout);
}

Result<Datagram> BlockingSocket::receive_packet(std::optional<Duration> timeout) {
  return receive_loop<Datagram>([&] { return endpoint_->receive_packet(); }, timeout);
}

Status BlockingSocket::shutdown(ShutdownHow how) {
  return call<Status>([&] { return endpoint_->shutdown(how); });
}

void BlockingSocket::close() {
  call<bool>([&] {
    // Closing notifies the endpoint's waiters, so a blocked receiver wakes and sees
    // kBadFileDescriptor; only then is the waiter let go.
    endpoint_->close();
    waiter_.detach();
    return true;
  });
}

Result<SocketAddress> BlockingSocket::local_address() {
  return call<Result<SocketAddress>>(
      [&] { return Result<SocketAddress>(endpoint_->local_address()); });
}

Result<SocketAddress> BlockingSocket::remote_address() {
  return call<Result<SocketAddress>>([&] { return endpoint_->remote_address(); });
}

}  // namespace weir::udp
