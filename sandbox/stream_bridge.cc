#include "sandbox/stream_bridge.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace weir::sandbox {

std::optional<Error> StreamBridge::pump() {
  if (fd_ < 0) return std::nullopt;
  // fd -> stack.
  for (;;) {
    if (to_stack_offset_ < to_stack_.size()) {
      auto n = endpoint_->write(ByteView(to_stack_).subspan(to_stack_offset_));
      if (!n) {
        if (n.error() != Error::kWouldBlock) {
          to_stack_.clear();
          to_stack_offset_ = 0;
        }
        break;
      }
      to_stack_offset_ += *n;
      if (to_stack_offset_ < to_stack_.size()) break;
      to_stack_.clear();
      to_stack_offset_ = 0;
    }
    if (fd_eof_ || !fd_readable_) break;
    if ((endpoint_->readiness() & kEventWritable) == 0) break;
    to_stack_.resize(kChunk);
    ssize_t n = ::read(fd_, to_stack_.data(), to_stack_.size());
    if (n > 0) {
      to_stack_.resize(static_cast<size_t>(n));
      continue;
    }
    to_stack_.clear();
    if (n == 0) {
      fd_eof_ = true;
    } else if (errno == EAGAIN) {
      fd_readable_ = false;
    } else if (errno != EINTR) {
      // The fd's side reset (for a stand-in: the program closed with bytes it never read).
      fd_eof_ = true;
      fd_reset_ = true;
      return Error::kConnectionReset;
    }
  }
  if (fd_eof_ && to_stack_.empty() && !stack_write_shut_) {
    stack_write_shut_ = true;
    (void)endpoint_->shutdown(tcp::ShutdownHow::kWrite);
  }

  // stack -> fd.
  while (!fd_write_shut_) {
    if (to_fd_offset_ < to_fd_.size()) {
      ssize_t n = ::send(fd_, to_fd_.data() + to_fd_offset_, to_fd_.size() - to_fd_offset_,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN) {
          // EPIPE: nobody reads the fd any more; the rest is dropped.
          to_fd_.clear();
          to_fd_offset_ = 0;
          discard_incoming_ = true;
        }
        break;
      }
      to_fd_offset_ += static_cast<size_t>(n);
      if (to_fd_offset_ < to_fd_.size()) break;
      to_fd_.clear();
      to_fd_offset_ = 0;
    }
    if (peer_eof_) break;
    to_fd_.resize(kChunk);
    auto n = endpoint_->read(to_fd_);
    if (!n) {
      to_fd_.clear();
      if (n.error() != Error::kWouldBlock) return n.error();
      break;
    }
    if (*n == 0) {
      to_fd_.clear();
      peer_eof_ = true;
      break;
    }
    to_fd_.resize(*n);
    if (discard_incoming_) to_fd_.clear();
  }
  if ((peer_eof_ || discard_incoming_) && to_fd_offset_ >= to_fd_.size() && !fd_write_shut_) {
    fd_write_shut_ = true;
    ::shutdown(fd_, SHUT_WR);
  }
  if (endpoint_->readiness() & kEventError) {
    if (auto e = endpoint_->take_error()) return *e;
  }
  return std::nullopt;
}

void StreamBridge::flush_to_fd() {
  if (fd_ < 0 || to_fd_offset_ >= to_fd_.size()) return;
  ssize_t n = ::send(fd_, to_fd_.data() + to_fd_offset_, to_fd_.size() - to_fd_offset_,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n > 0) to_fd_offset_ += static_cast<size_t>(n);
}

}  // namespace weir::sandbox
