// StreamBridge: moves bytes between a non-blocking stream fd (a stand-in's host end, or a
// kernel TCP connection accepted for --publish) and a connected tcp::Endpoint.
//
// Each direction reads only while the other side takes: from the fd only while the stack's
// send buffer has room, from the stack only while the fd accepts, with at most one chunk held
// here per direction. So neither side buffers without bound, and back-pressure crosses the
// bridge: a slow reader on the fd closes the TCP window; a closed window stops reading the
// fd. EOF crosses too: the fd's EOF becomes the stack's FIN after the last byte, the peer's FIN
// becomes shutdown(SHUT_WR) on the fd after the last byte.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>

#include "stack/result.h"
#include "tcp/endpoint.h"

namespace weir::sandbox {

class StreamBridge {
 public:
  // What one read from either side moves at a time.
  static constexpr size_t kChunk = size_t{256} << 10;

  StreamBridge(int fd, tcp::Endpoint& endpoint);

  // Re-points the bridge (the endpoint was replaced; the fd was closed: -1).
  void set_endpoint(tcp::Endpoint& endpoint) { endpoint_ = &endpoint; }
  void set_fd(int fd) { fd_ = fd; }

  // Edge-triggered readiness of the fd, from epoll.
  void fd_readable() { fd_readable_ = true; }

  // Does all the work that will not block. Returns the error that ended the connection, if
  // one did: a stack error (reset, timeout), or kConnectionReset when the fd reset.
  std::optional<Error> pump();

  // The fd's side stops taking bytes (its reader shut down): what the peer sends is dropped.
  void discard_incoming() { discard_incoming_ = true; }

  bool fd_eof() const { return fd_eof_; }          // the fd read EOF
  bool fd_reset() const { return fd_reset_; }      // the fd's side reset (not the stack's)
  bool peer_eof() const { return peer_eof_; }      // the stack read EOF (peer's FIN)
  bool fd_write_shut() const { return fd_write_shut_; }
  bool stack_write_shut() const { return stack_write_shut_; }
  size_t held_for_stack() const { return to_stack_.length - to_stack_.offset; }
  size_t held_for_fd() const { return to_fd_.length - to_fd_.offset; }
  // Writes what is held for the fd without waiting (before closing it).
  void flush_to_fd();

 private:
  int fd_;
  tcp::Endpoint* endpoint_;
  bool fd_readable_ = true;
  bool fd_eof_ = false;
  bool fd_reset_ = false;
  bool peer_eof_ = false;
  bool fd_write_shut_ = false;
  bool stack_write_shut_ = false;
  bool discard_incoming_ = false;
  // One chunk per direction, allocated once and never zeroed: bytes [offset, length) are
  // held, waiting for the other side.
  struct Held {
    std::unique_ptr<std::byte[]> data;
    size_t length = 0;
    size_t offset = 0;
    bool empty() const { return offset >= length; }
    ByteView pending() const { return {data.get() + offset, length - offset}; }
    MutableByteView space() { return {data.get(), kChunk}; }
    void clear() { length = offset = 0; }
  };
  Held to_stack_;
  Held to_fd_;
};

}  // namespace weir::sandbox
