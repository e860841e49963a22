// StreamBridge: moves bytes between a stream socket (a stand-in's host end, or a kernel TCP
// connection accepted for --publish) and a connected tcp::Endpoint, never blocking on it: every
// read and write passes MSG_DONTWAIT, so the socket itself may be blocking.
//
// Each direction moves only what the other side takes, and copies each byte once: recv() from
// the fd lands straight in the TCP send queue's memory (Connection::write_from), and sendmsg()
// to the fd takes the receive queue's bytes in place (Connection::read_with), consuming only
// what the fd accepted. Nothing is held here, so neither side buffers without bound, and
// back-pressure crosses the bridge: a slow reader on the fd closes the TCP window; a full send
// buffer stops reading the fd. EOF crosses too: the fd's EOF becomes the stack's FIN after the
// last byte, the peer's FIN becomes shutdown(SHUT_WR) on the fd after the last byte.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <optional>
#include <vector>

#include "stack/result.h"
#include "tcp/endpoint.h"

namespace weir::sandbox {

class StreamBridge {
 public:
  // What one pass moves in each direction at most, so one busy connection cannot starve
  // the loop.
  static constexpr size_t kBurst = size_t{1} << 20;

  StreamBridge(int fd, tcp::Endpoint& endpoint) : fd_(fd), endpoint_(&endpoint) {}

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
  // Bytes taken from one side and not yet given to the other: none, since nothing is held.
  size_t held_for_stack() const { return 0; }
  size_t held_for_fd() const { return 0; }
  // Moves what the stack holds for the fd without waiting (before closing it).
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
  std::vector<iovec> iov_;  // sendmsg's vectors, kept to reuse their storage
};

}  // namespace weir::sandbox
