#include "tcp/blocking.h"

#include "tcp/connection.h"

namespace weir::tcp {

namespace {
constexpr EventMask kAnyEnd = kEventError | kEventHangup | kEventReadHangup;
template <typename T>
bool would_block(const Result<T>& r) {
  return !r.ok() && r.error() == Error::kWouldBlock;
}
}  // namespace

Result<std::unique_ptr<BlockingSocket>> BlockingSocket::create(Loop& loop, Stack& stack,
                                                               AddressFamily family) {
  std::promise<std::unique_ptr<Endpoint>> p;
  auto f = p.get_future();
  loop.post([&] { p.set_value(Endpoint::create(stack, family)); });
  auto ep = f.get();
  if (!ep) return Error::kProtocolNotSupported;
  return std::make_unique<BlockingSocket>(loop, std::move(ep));
}

BlockingSocket::BlockingSocket(Loop& loop, std::unique_ptr<Endpoint> endpoint)
    : loop_(loop),
      endpoint_(std::move(endpoint)),
      in_waiter_(0,
                 [this](EventMask) {
                   in_waiter_.detach();
                   {
                     std::lock_guard lock(mu_);
                     signaled_[kIn] = true;
                   }
                   cv_.notify_all();
                 }),
      out_waiter_(0, [this](EventMask) {
        out_waiter_.detach();
        {
          std::lock_guard lock(mu_);
          signaled_[kOut] = true;
        }
        cv_.notify_all();
      }) {}

BlockingSocket::~BlockingSocket() {
  call<bool>([&] {
    detach_waiters();
    endpoint_.reset();
    return true;
  });
}

void BlockingSocket::detach_waiters() {
  in_waiter_.detach();
  out_waiter_.detach();
}

void BlockingSocket::arm(Direction d, EventMask mask) {
  {
    std::lock_guard lock(mu_);
    signaled_[d] = false;
  }
  Waiter& w = d == kIn ? in_waiter_ : out_waiter_;
  w.set_interest(mask | kAnyEnd);
  endpoint_->waiters().add(w);
}

void BlockingSocket::wait_signal(Direction d) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return signaled_[d]; });
  signaled_[d] = false;
}

Status BlockingSocket::bind(const SocketAddress& local) {
  return call<Status>([&] { return endpoint_->bind(local); });
}

Status BlockingSocket::listen(int backlog) {
  return call<Status>([&] { return endpoint_->listen(backlog); });
}

Result<std::unique_ptr<BlockingSocket>> BlockingSocket::accept() {
  for (;;) {
    auto r = call<Result<std::unique_ptr<Endpoint>>>([&] {
      auto a = endpoint_->accept();
      if (would_block(a)) arm(kIn, kEventReadable);
      return a;
    });
    if (r.ok()) return std::make_unique<BlockingSocket>(loop_, std::move(*r));
    if (!would_block(r)) return r.error();
    wait_signal(kIn);
  }
}

Status BlockingSocket::connect(const SocketAddress& remote) {
  Status st = call<Status>([&] {
    Status s = endpoint_->connect(remote);
    if (!s.ok() && s.error() == Error::kInProgress) arm(kOut, kEventWritable);
    return s;
  });
  if (st.ok() || st.error() != Error::kInProgress) return st;
  for (;;) {
    wait_signal(kOut);
    auto done = call<std::optional<Status>>([&]() -> std::optional<Status> {
      Connection* c = endpoint_->connection();
      if (c == nullptr) return Status(Error::kNotConnected);
      if (auto e = endpoint_->take_error()) return Status(*e);
      switch (c->state()) {
        case State::kSynSent:
        case State::kSynReceived:
          arm(kOut, kEventWritable);
          return std::nullopt;
        case State::kClosed:
          return Status(Error::kConnectionRefused);
        default:
          return ok_status();
      }
    });
    if (done) return *done;
  }
}

Result<size_t> BlockingSocket::read(MutableByteView out) {
  for (;;) {
    auto r = call<Result<size_t>>([&] {
      auto n = endpoint_->read(out);
      if (would_block(n)) arm(kIn, kEventReadable);
      return n;
    });
    if (!would_block(r)) return r;
    wait_signal(kIn);
  }
}

Result<size_t> BlockingSocket::write(ByteView data) {
  size_t done = 0;
  while (done < data.size()) {
    auto r = call<Result<size_t>>([&] {
      auto n = endpoint_->write(data.subspan(done));
      if (would_block(n)) arm(kOut, kEventWritable);
      return n;
    });
    if (r.ok()) {
      done += *r;
      continue;
    }
    if (!would_block(r)) return done > 0 ? Result<size_t>(done) : r;
    wait_signal(kOut);
  }
  return done;
}

Status BlockingSocket::shutdown(ShutdownHow how) {
  return call<Status>([&] { return endpoint_->shutdown(how); });
}

void BlockingSocket::close() {
  call<bool>([&] {
    detach_waiters();
    endpoint_->close();
    return true;
  });
  // A thread blocked in accept() or read() waits for a readiness event that a closed endpoint
  // never sends: wake both directions; their retry finds the endpoint closed and returns its error.
  {
    std::lock_guard lock(mu_);
    signaled_[kIn] = signaled_[kOut] = true;
  }
  cv_.notify_all();
}

Result<SocketAddress> BlockingSocket::local_address() {
  return call<Result<SocketAddress>>([&] { return endpoint_->local_address(); });
}

Result<SocketAddress> BlockingSocket::remote_address() {
  return call<Result<SocketAddress>>([&] { return endpoint_->remote_address(); });
}

}  // namespace weir::tcp
