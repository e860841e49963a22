#include "sandbox/stream_bridge.h"

#include "tcp/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace weir::sandbox {

std::optional<Error> StreamBridge::pump() {
  if (fd_ < 0) return std::nullopt;
  tcp::Connection* c = endpoint_->connection();
  if (c == nullptr) return std::nullopt;
  // fd -> stack: recv() straight into the send queue, MSG_DONTWAIT: a stand-in's host end is
  // blocking when the program's end is (Emulator::make_pair).
  std::optional<Error> ended;
  size_t moved = 0;
  while (!fd_eof_ && fd_readable_ && moved < kBurst) {
    bool eof = false;
    int read_errno = 0;
    auto n = c->write_from(kBurst - moved, [&](MutableByteView space) -> Result<size_t> {
      ssize_t r = ::recv(fd_, space.data(), space.size(), MSG_DONTWAIT);
      if (r > 0) return static_cast<size_t>(r);
      if (r == 0) {
        eof = true;
        return size_t{0};
      }
      read_errno = errno;
      return error_from_errno(errno);
    });
    if (eof) fd_eof_ = true;
    if (n) {
      moved += *n;
      if (*n == 0) break;
      continue;
    }
    if (read_errno == EAGAIN) {
      fd_readable_ = false;
    } else if (read_errno != 0 && read_errno != EINTR) {
      // The fd's side reset (for a stand-in: the program closed with bytes it never read).
      fd_eof_ = true;
      fd_reset_ = true;
      return Error::kConnectionReset;
    } else if (read_errno == 0 && n.error() != Error::kWouldBlock &&
               n.error() != Error::kBrokenPipe && n.error() != Error::kNotConnected) {
      // The connection's own error (a reset, a timeout): the send queue reports it first, and
      // only once. Kept for the end of the pass, so the stack's last bytes still reach the fd
      // and the empty receive queue below is not taken for the peer's FIN.
      ended = n.error();
    }
    break;  // the stack's send buffer is full (kWouldBlock) or the connection refuses data
  }
  if (fd_eof_ && !stack_write_shut_) {
    stack_write_shut_ = true;
    (void)endpoint_->shutdown(tcp::ShutdownHow::kWrite);
  }

  // stack -> fd: sendmsg() straight from the receive queue; only what the fd took is consumed.
  moved = 0;
  while (!fd_write_shut_ && !peer_eof_ && moved < kBurst) {
    bool fd_full = false;
    auto n = c->read_with(kBurst - moved, [&](std::span<const ByteView> views) -> Result<size_t> {
      if (discard_incoming_) {
        size_t all = 0;
        for (auto v : views) all += v.size();
        return all;  // the program's end no longer reads: dropped, as Linux drops after SHUT_RD
      }
      iov_.clear();
      for (auto v : views) iov_.push_back(iovec{const_cast<std::byte*>(v.data()), v.size()});
      msghdr msg{};
      msg.msg_iov = iov_.data();
      msg.msg_iovlen = iov_.size();
      ssize_t r = ::sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);  // sendmsg only reads them
      if (r >= 0) return static_cast<size_t>(r);
      if (errno == EAGAIN) {
        fd_full = true;
        return size_t{0};
      }
      discard_incoming_ = true;  // EPIPE: nobody reads the fd any more
      return size_t{0};
    });
    if (!n) {
      if (n.error() != Error::kWouldBlock) return n.error();
      break;
    }
    if (*n == 0) {
      // read's 0 is the peer's FIN, unless the connection failed: a reset or timed-out
      // connection whose error was already taken (by the pass that returned it, before
      // deliver_reset flushes) reads 0 too, and a shutdown of the fd here would show the
      // program EOF instead of ECONNRESET.
      if (!fd_full && !discard_incoming_ && !ended && c->state() != tcp::State::kClosed) {
        peer_eof_ = true;
      }
      break;
    }
    moved += *n;
  }
  if ((peer_eof_ || discard_incoming_) && !fd_write_shut_) {
    fd_write_shut_ = true;
    ::shutdown(fd_, SHUT_WR);
  }
  if (ended) return ended;
  if (endpoint_->readiness() & kEventError) {
    if (auto e = endpoint_->take_error()) return *e;
  }
  return std::nullopt;
}

void StreamBridge::flush_to_fd() {
  if (fd_ >= 0) (void)pump();
}

}  // namespace weir::sandbox
