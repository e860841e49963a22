#include "sandbox/stream_bridge.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace weir::sandbox {

StreamBridge::StreamBridge(int fd, tcp::Endpoint& endpoint) : fd_(fd), endpoint_(&endpoint) {
  to_stack_.data = std::make_unique_for_overwrite<std::byte[]>(kChunk);
  to_fd_.data = std::make_unique_for_overwrite<std::byte[]>(kChunk);
}

std::optional<Error> StreamBridge::pump() {
  if (fd_ < 0) return std::nullopt;
  // fd -> stack.
  for (;;) {
    if (!to_stack_.empty()) {
      auto n = endpoint_->write(to_stack_.pending());
      if (!n) {
        if (n.error() != Error::kWouldBlock) to_stack_.clear();
        break;
      }
      to_stack_.offset += *n;
      if (!to_stack_.empty()) break;
      to_stack_.clear();
    }
    if (fd_eof_ || !fd_readable_) break;
    if ((endpoint_->readiness() & kEventWritable) == 0) break;
    auto space = to_stack_.space();
    ssize_t n = ::read(fd_, space.data(), space.size());
    if (n > 0) {
      to_stack_.length = static_cast<size_t>(n);
      to_stack_.offset = 0;
      continue;
    }
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
    if (!to_fd_.empty()) {
      auto pending = to_fd_.pending();
      ssize_t n = ::send(fd_, pending.data(), pending.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN) {
          // EPIPE: nobody reads the fd any more; the rest is dropped.
          to_fd_.clear();
          discard_incoming_ = true;
        }
        break;
      }
      to_fd_.offset += static_cast<size_t>(n);
      if (!to_fd_.empty()) break;
      to_fd_.clear();
    }
    if (peer_eof_) break;
    auto n = endpoint_->read(to_fd_.space());
    if (!n) {
      if (n.error() != Error::kWouldBlock) return n.error();
      break;
    }
    if (*n == 0) {
      peer_eof_ = true;
      break;
    }
    to_fd_.length = discard_incoming_ ? 0 : *n;
    to_fd_.offset = 0;
  }
  if ((peer_eof_ || discard_incoming_) && to_fd_.empty() && !fd_write_shut_) {
    fd_write_shut_ = true;
    ::shutdown(fd_, SHUT_WR);
  }
  if (endpoint_->readiness() & kEventError) {
    if (auto e = endpoint_->take_error()) return *e;
  }
  return std::nullopt;
}

void StreamBridge::flush_to_fd() {
  if (fd_ < 0 || to_fd_.empty()) return;
  auto pending = to_fd_.pending();
  ssize_t n = ::send(fd_, pending.data(), pending.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n > 0) to_fd_.offset += static_cast<size_t>(n);
}

}  // namespace weir::sandbox
