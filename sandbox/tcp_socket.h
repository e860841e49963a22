// A program's TCP socket, served by a tcp::Endpoint. See emulator.h for the stand-in model.
//
// Theory of operation. The socket goes through the phases a BSD socket does: fresh (maybe
// bound), connecting, connected, listening, failed. Connected: bytes the program wrote are read
// from the host end only while the stack's send buffer takes them, and bytes the stack received
// are read from it only while the host end takes them, so neither side buffers without bound
// (the pair's own buffers plus one chunk here). The program's shutdown(SHUT_WR) is applied to
// its end natively (its later writes fail as on Linux); the host end then reads EOF and the
// stack sends FIN once every byte before it is out. The peer's FIN becomes EOF on the
// program's end (shutdown of the host end's write side). A reset or timeout from the network is
// delivered as ECONNRESET on the program's next read: the host end is closed while holding
// unread bytes, which is how AF_UNIX reports a reset; the exact error (ETIMEDOUT,
// ECONNREFUSED) is what SO_ERROR then returns.
//
// Connect. The stand-in is writable at once, unlike a connecting TCP socket, so the answer to
// "is it connected" comes from the calls that ask: a blocking connect() is parked until the
// handshake ends; after a non-blocking one (EINPROGRESS) getsockopt(SO_ERROR) and
// getpeername() are parked until it ends. Data the program writes meanwhile waits in the pair.
//
// Listen. A listener's stand-in becomes readable through one token byte per connection that
// is ready to accept; accept() takes a token back (from the program's end, which it holds for
// the call) and installs a new pair for the connection. Blocked accepts are served first, in
// order, without tokens. The stack's accept queue is drained into a stash here at most up to
// the backlog, so the stack still refuses what the program has no room for.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "sandbox/socket.h"
#include "sandbox/stream_bridge.h"
#include "stack/waiter.h"
#include "tcp/endpoint.h"

namespace weir::sandbox {

class TcpSocket final : public EmulatedSocket {
 public:
  // A new socket for socket(2).
  TcpSocket(Emulator& emulator, int domain, int type, ino_t inode, UniqueFd host,
            std::unique_ptr<tcp::Endpoint> endpoint);
  // An accepted connection.
  TcpSocket(Emulator& emulator, int domain, ino_t inode, UniqueFd host,
            std::unique_ptr<tcp::Endpoint> endpoint, bool connected);
  ~TcpSocket() override;

  void pump() override;
  bool finished() const override { return phase_ == Phase::kDone; }
  bool draining() const override;
  bool zombie() const override { return host_closed_ && phase_ != Phase::kDone; }
  std::optional<SocketState> state() const override;

 protected:
  void handle_call(Call& call) override;
  bool resume(const ParkedCall& parked) override;

 private:
  enum class Phase : uint8_t { kFresh, kConnecting, kConnected, kListening, kFailed, kDone };

  void on_stack_event();
  void connect(Call& call);
  void bind(Call& call);
  void listen(Call& call);
  bool accept(Call& call, bool parked);
  void shutdown(Call& call);
  void getsockopt(Call& call);
  void setsockopt(Call& call);
  void name(Call& call, bool peer);
  void ioctl(Call& call);
  void sendto(Call& call);

  void pump_listener();
  void pump_connected();
  void check_connect_outcome();
  void fail(Error error);
  void deliver_reset();
  void close_stack_side();
  bool program_closed() const;
  int linux_state() const;
  std::optional<Duration> blocking_timeout(const Call& call, bool receive) const;

  std::unique_ptr<tcp::Endpoint> endpoint_;
  Waiter waiter_;
  Phase phase_ = Phase::kFresh;
  std::optional<Error> error_;  // what SO_ERROR reports next (consumed by reading it)
  bool connect_reported_ = false;  // a parked call or SO_ERROR has seen the connect's outcome

  // Connected data path: host end <-> endpoint.
  std::optional<StreamBridge> bridge_;
  bool program_shut_write_ = false;  // the program's shutdown(SHUT_WR): its end stops writing
  bool program_shut_read_ = false;
  bool host_closed_ = false;         // host end closed (reset delivered)

  // Listener.
  int backlog_ = 0;
  std::deque<std::unique_ptr<tcp::Endpoint>> stash_;  // accepted from the stack, not by the program
  size_t tokens_ = 0;                                  // token bytes in the program's end
  bool listener_shut_ = false;

  bool v6only_ = false;
  int receive_buffer_set_ = 0;
  int send_buffer_set_ = 0;
};

}  // namespace weir::sandbox
