// The TCP socket API: non-blocking endpoints with readiness events.
//
//   tcp::install(stack);
//   auto ep = tcp::Endpoint::create(stack, AddressFamily::kIpv4);
//   ep->connect({server, 80});          // kInProgress; wait for kEventWritable or kEventError
//   ep->write(bytes);                   // partial writes; kWouldBlock when the buffer is full
//   ep->read(buffer);                   // 0 at EOF; kWouldBlock when nothing is there
//
// Dual stack (Linux's bindv6only=0): an IPv6 endpoint names IPv4 peers by IPv4-mapped
// addresses (::ffff:a.b.c.d) unless set_v6only(true). Connecting to ::ffff:a.b.c.d opens an
// IPv4 connection; a listener bound to [::]:port accepts IPv4 connections too (an IPv4
// listener on the same address and port, where reuse flags allow one, takes them first), and
// every address such an endpoint reports is in IPv6 form.
//
// An Endpoint is a handle: the protocol owns the connection state, so an Endpoint may be
// destroyed at any time. Destroying it (or close()) closes gracefully; the connection then
// finishes its FIN exchange and TIME-WAIT inside the protocol. Endpoints must not outlive
// their Stack, and like everything in the stack are used from the stack's thread only (see
// tcp/blocking.h for other threads).
#pragma once

#include <memory>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/packet_buffer.h"
#include "stack/demux.h"
#include "stack/result.h"
#include "stack/stack.h"
#include "stack/waiter.h"
#include "tcp/socket_options.h"
#include "tcp/tcp_info.h"

namespace weir::tcp {

class TcpProtocol;
class Connection;
class Listener;
enum class State : uint8_t;

enum class ShutdownHow : uint8_t { kRead, kWrite, kBoth };

// Integer-valued socket options, named as their Linux counterparts.
enum class SocketOption : uint8_t {
  kReceiveBuffer,  // SO_RCVBUF (bytes)
  kSendBuffer,     // SO_SNDBUF (bytes)
  kReuseAddress,   // SO_REUSEADDR (0/1)
  kReusePort,      // SO_REUSEPORT (0/1)
  kKeepAlive,      // SO_KEEPALIVE (0/1)
  kKeepIdle,       // TCP_KEEPIDLE (seconds)
  kKeepInterval,   // TCP_KEEPINTVL (seconds)
  kKeepCount,      // TCP_KEEPCNT
  kNoDelay,        // TCP_NODELAY (0/1)
  kCork,           // TCP_CORK (0/1)
  kMaxSegment,     // TCP_MAXSEG (bytes; get returns the current send MSS when connected)
  kQuickAck,       // TCP_QUICKACK (0/1)
  kUserTimeout,    // TCP_USER_TIMEOUT (milliseconds; 0: off)
  kNotSentLowat,   // TCP_NOTSENT_LOWAT (bytes; 0: no limit)
  kSynCount,       // TCP_SYNCNT (1-127)
  kLinger2,        // TCP_LINGER2 (seconds; negative: none, reset at close; at most 120)
};

class Endpoint {
  struct Key {};  // only create() and accept() construct endpoints

 public:
  Endpoint(Key, TcpProtocol& protocol, AddressFamily family);
  // A new unbound endpoint; nullptr when TCP is not installed on stack.
  static std::unique_ptr<Endpoint> create(Stack& stack, AddressFamily family);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  Status bind(const SocketAddress& local);
  Status listen(int backlog);
  // A connection from the accept queue; kWouldBlock when none.
  Result<std::unique_ptr<Endpoint>> accept();
  // kInProgress on success; the outcome is signalled by readiness (writable, or error).
  Status connect(const SocketAddress& remote);

  Result<size_t> read(MutableByteView out);
  Result<size_t> peek(MutableByteView out);
  Result<size_t> write(ByteView data);

  // Zero-copy receive. Views of up to max readable bytes, in order, pointing into the received
  // packets' memory (no copy). An empty span means end of stream; errors and kWouldBlock are
  // read()'s. The views stay valid until consume(), any other call on this endpoint, or the
  // stack next runs (a RST may drop the data): take what is needed, then consume(n), which
  // drops the first n readable bytes and opens the receive window exactly as a read() of n
  // bytes would (auto-tuning, window updates).
  Result<std::span<const ByteView>> read_views(size_t max = SIZE_MAX);
  Result<size_t> consume(size_t n);
  // Zero-copy send. Takes up to the send buffer's free room from the front of data without
  // copying: the send queue holds slices of data's chunks until the peer acknowledges them, and
  // data keeps what did not fit (write again when writable). Errors and kWouldBlock are
  // write()'s. The stack never writes to those chunks, and the caller must not change the bytes
  // it handed over until they are released (retransmissions resend them). For memory the caller
  // owns, wrap it with Chunk::adopt (stack/packet_buffer.h): its release callback runs when the
  // last reference (the queue's, once acknowledged, or the caller's) goes, possibly on the
  // stack's thread.
  Result<size_t> write(PacketBuffer& data);

  Status shutdown(ShutdownHow how);
  // Graceful close (SO_LINGER 0: abortive, RST). The endpoint is unusable afterwards.
  void close();
  // Sends RST and drops all state.
  void abort();

  EventMask readiness() const;
  WaiterQueue& waiters() { return waiters_; }
  Result<SocketAddress> local_address() const;
  Result<SocketAddress> remote_address() const;
  // SO_ERROR: the pending error, cleared by reading it.
  std::optional<Error> take_error();

  // Options.
  Status set_option(SocketOption option, int value);
  Result<int> get_option(SocketOption option) const;
  void set_no_delay(bool on);
  void set_cork(bool on);
  void set_keepalive(bool on);
  void set_keepalive_params(Duration idle, Duration interval, uint32_t count);
  void set_linger(std::optional<Duration> linger);  // SO_LINGER
  void set_receive_buffer(uint32_t bytes);
  void set_send_buffer(uint32_t bytes);
  void set_reuse_address(bool on);
  void set_reuse_port(bool on);
  void set_max_segment(uint16_t mss);  // TCP_MAXSEG
  // IPV6_V6ONLY (IPv6 endpoints only; before bind/connect/listen, else kInvalidArgument).
  Status set_v6only(bool on);
  bool v6only() const { return v6only_; }
  const SocketOptions& options() const;

  TcpInfo info() const;
  bool listening() const { return listener_ != nullptr; }
  // For tests and diagnostics.
  Connection* connection() const { return conn_; }
  Listener* listener() const { return listener_.get(); }

 private:
  friend class Forwarder;  // wraps the connections it accepts, as accept() does
  // Changes a copy of the options and gives it to whoever holds them (the connection, the
  // listener, or the endpoint itself).
  template <typename Change>
  void change_options(Change&& change);
  // Dual stack: ::ffff:a.b.c.d -> a.b.c.d on an IPv6 endpoint (internal), and back.
  IpAddress internal(const IpAddress& a) const;
  SocketAddress external(const SocketAddress& a) const;

  // What an endpoint keeps while it has no connection: from create() until connect(), and for
  // a listener. A connected endpoint's options live in its connection and its addresses in the
  // demux, so an open connection does not pay for a second copy (an accepted one never makes
  // this). A closed endpoint answers kBadFileDescriptor, as a closed descriptor does.
  struct Unconnected {
    SocketOptions options;
    std::optional<SocketAddress> bound;
    std::optional<PortTable::Handle> port;
  };
  Unconnected& unconnected();
  const std::optional<SocketAddress>& bound() const;

  TcpProtocol& protocol_;
  AddressFamily family_;
  bool v6only_ = false;
  bool closed_ = false;  // beside the other small ones: 56 bytes, not 64, for every socket
  std::unique_ptr<Unconnected> unconnected_;
  Connection* conn_ = nullptr;  // owned by the protocol; attached while we live
  std::unique_ptr<Listener> listener_;
  WaiterQueue waiters_;
};

}  // namespace weir::tcp
