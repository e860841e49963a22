#include "tcp/endpoint.h"

#include <algorithm>

#include "tcp/connection.h"
#include "tcp/listener.h"
#include "tcp/tcp.h"

namespace weir::tcp {

std::unique_ptr<Endpoint> Endpoint::create(Stack& stack, AddressFamily family) {
  TcpProtocol* p = find(stack);
  if (p == nullptr) return nullptr;
  auto endpoint = std::make_unique<Endpoint>(Key{}, *p, family);
  endpoint->unconnected_ = std::make_unique<Unconnected>();
  return endpoint;
}

Endpoint::Endpoint(Key, TcpProtocol& protocol, AddressFamily family)
    : protocol_(protocol), family_(family) {}

Endpoint::Unconnected& Endpoint::unconnected() {
  if (!unconnected_) unconnected_ = std::make_unique<Unconnected>();
  return *unconnected_;
}

const std::optional<SocketAddress>& Endpoint::bound() const {
  static const std::optional<SocketAddress> kNone;
  return unconnected_ ? unconnected_->bound : kNone;
}

const SocketOptions& Endpoint::options() const {
  static const SocketOptions kDefaults;
  if (conn_ != nullptr) return conn_->socket_options();
  return unconnected_ ? unconnected_->options : kDefaults;
}

template <typename Change>
void Endpoint::change_options(Change&& change) {
  SocketOptions o = options();
  change(o);
  if (conn_ != nullptr) {
    conn_->set_socket_options(o);
  } else {
    unconnected().options = o;
  }
  if (listener_) listener_->set_socket_options(o);
}

Endpoint::~Endpoint() { close(); }

IpAddress Endpoint::internal(const IpAddress& a) const {
  if (family_ == AddressFamily::kIpv6 && !v6only_) return a.unmapped();
  return a;
}

SocketAddress Endpoint::external(const SocketAddress& a) const {
  if (family_ == AddressFamily::kIpv6) return SocketAddress{a.address.mapped(), a.port};
  return a;
}

Status Endpoint::set_v6only(bool on) {
  if (closed_) return Error::kBadFileDescriptor;
  if (family_ != AddressFamily::kIpv6) return Error::kNoProtocolOption;
  if (bound() || conn_ != nullptr || listener_) return Error::kInvalidArgument;
  v6only_ = on;
  return ok_status();
}

Status Endpoint::bind(const SocketAddress& user_local) {
  if (closed_) return Error::kBadFileDescriptor;
  if (bound() || conn_ != nullptr) return Error::kInvalidArgument;
  if (user_local.address.family() != family_) return Error::kAddressFamilyNotSupported;
  if (v6only_ && user_local.address.is_v4_mapped()) return Error::kInvalidArgument;
  const SocketAddress local{internal(user_local.address), user_local.port};
  Stack& stack = protocol_.stack();
  if (!local.address.is_unspecified() && !stack.is_local_address(local.address)) {
    return Error::kAddressNotAvailable;
  }
  const bool dual = family_ == AddressFamily::kIpv6 && !v6only_ && local.address.is_v6() &&
                    local.address.is_unspecified();
  Unconnected& u = unconnected();
  PortBindingOptions po{u.options.reuse_address, u.options.reuse_port, dual};
  if (local.port == 0) {
    auto r = stack.ports().reserve_ephemeral(kProtocolTcp, local.address, po, stack.rng());
    if (!r) return r.error();
    u.bound = SocketAddress{local.address, r->first};
    u.port = r->second;
  } else {
    auto r = stack.ports().reserve(kProtocolTcp, local.port, local.address, po);
    if (!r) return r.error();
    u.bound = local;
    u.port = *r;
  }
  return ok_status();
}

Status Endpoint::listen(int backlog) {
  if (closed_) return Error::kBadFileDescriptor;
  if (conn_ != nullptr) return Error::kInvalidArgument;
  if (listener_) {
    listener_->set_backlog(backlog);
    return ok_status();
  }
  if (!bound()) WEIR_TRY(bind(SocketAddress{IpAddress::any(family_), 0}));
  Unconnected& u = unconnected();
  if (u.port) WEIR_TRY(protocol_.stack().ports().check_listen(*u.port));
  const SocketAddress& bound = *u.bound;
  const bool dual = family_ == AddressFamily::kIpv6 && !v6only_ && bound.address.is_v6() &&
                    bound.address.is_unspecified();
  auto l = std::make_unique<Listener>(protocol_, bound, bound.address.family(), u.options,
                                      waiters_, dual);
  WEIR_TRY(l->start(backlog));
  listener_ = std::move(l);
  return ok_status();
}

Result<std::unique_ptr<Endpoint>> Endpoint::accept() {
  if (!listener_) return Error::kInvalidArgument;
  auto child = std::make_unique<Endpoint>(Key{}, protocol_, family_);
  auto c = listener_->accept(child->waiters_);
  if (!c) return c.error();
  child->conn_ = *c;
  return child;
}

Status Endpoint::connect(const SocketAddress& user_remote) {
  const Stack::Batch batch(protocol_.stack());
  if (closed_) return Error::kBadFileDescriptor;
  if (listener_) return Error::kInvalidArgument;
  if (conn_ != nullptr) {
    switch (conn_->state()) {
      case State::kSynSent:
      case State::kSynReceived:
        return Error::kAlready;
      case State::kClosed:
        if (auto e = conn_->take_error()) return *e;
        return Error::kAlreadyConnected;
      default:
        return Error::kAlreadyConnected;
    }
  }
  if (user_remote.address.family() != family_) return Error::kAddressFamilyNotSupported;
  if (user_remote.port == 0 || user_remote.address.is_unspecified()) {
    return Error::kInvalidArgument;
  }
  // Linux: a mapped peer on an IPV6_V6ONLY socket is unreachable.
  if (v6only_ && user_remote.address.is_v4_mapped()) return Error::kNetworkUnreachable;
  const SocketAddress remote{internal(user_remote.address), user_remote.port};
  const AddressFamily peer_family = remote.address.family();
  Stack& stack = protocol_.stack();
  Unconnected& u = unconnected();
  SocketAddress local = u.bound.value_or(SocketAddress{IpAddress::any(peer_family), 0});
  if (local.address.family() != peer_family) {
    // Bound to [::] (dual stack) and connecting to an IPv4 peer: the reservation covers IPv4.
    // Bound to a specific address of the other family: no way there.
    if (!local.address.is_unspecified()) return Error::kNetworkUnreachable;
    local.address = IpAddress::any(peer_family);
  }
  std::optional<PortTable::Handle> handle = u.port;
  if (local.port == 0) {
    // The port only has to make the 4-tuple unique, so the source address comes first, as in
    // Linux (ip_route_connect, then __inet_hash_connect).
    if (local.address.is_unspecified()) {
      auto route = stack.find_route(remote.address);
      if (!route) return route.error();
      local.address = route->local_address;
    }
    PortBindingOptions po{u.options.reuse_address, u.options.reuse_port, false};
    auto r = stack.ports().reserve_for_connect(kProtocolTcp, local.address, remote, po, stack.rng(),
                                               stack.demux());
    if (!r) return r.error();
    local.port = r->first;
    handle = r->second;
  }
  Connection& c = protocol_.create_connection(peer_family, u.options);
  c.set_user(&waiters_);
  conn_ = &c;
  unconnected_.reset();  // the connection holds the options, the address and the port now
  return c.connect(local, handle, remote);
}

Result<size_t> Endpoint::read(MutableByteView out) {
  const Stack::Batch batch(protocol_.stack());
  if (conn_ == nullptr) return Error::kNotConnected;
  return conn_->read(out, false);
}

Result<size_t> Endpoint::peek(MutableByteView out) {
  const Stack::Batch batch(protocol_.stack());
  if (conn_ == nullptr) return Error::kNotConnected;
  return conn_->read(out, true);
}

Result<size_t> Endpoint::write(ByteView data) {
  const Stack::Batch batch(protocol_.stack());
  if (conn_ == nullptr) return Error::kNotConnected;
  return conn_->write(data);
}

Result<size_t> Endpoint::write(PacketBuffer& data) {
  const Stack::Batch batch(protocol_.stack());
  if (conn_ == nullptr) return Error::kNotConnected;
  return conn_->write_buffer(data);
}

Result<std::span<const ByteView>> Endpoint::read_views(size_t max) {
  const Stack::Batch batch(protocol_.stack());
  if (conn_ == nullptr) return Error::kNotConnected;
  return conn_->lend(max);
}

Result<size_t> Endpoint::consume(size_t n) {
  const Stack::Batch batch(protocol_.stack());
  if (conn_ == nullptr) return Error::kNotConnected;
  return conn_->consume(n);
}

Status Endpoint::shutdown(ShutdownHow how) {
  const Stack::Batch batch(protocol_.stack());
  if (conn_ == nullptr) return Error::kNotConnected;
  return conn_->shutdown(how != ShutdownHow::kWrite, how != ShutdownHow::kRead);
}

void Endpoint::close() {
  const Stack::Batch batch(protocol_.stack());
  if (closed_) return;
  closed_ = true;
  listener_.reset();
  if (conn_ != nullptr) {
    conn_->close();
    protocol_.detach(*conn_);
    conn_ = nullptr;
  }
  if (unconnected_ && unconnected_->port) {
    protocol_.stack().ports().release(*unconnected_->port);
    unconnected_->port.reset();
  }
}

void Endpoint::abort() {
  const Stack::Batch batch(protocol_.stack());
  if (conn_ != nullptr) conn_->abort();
  close();
}

EventMask Endpoint::readiness() const {
  if (listener_) return listener_->readiness();
  if (conn_ != nullptr) return conn_->readiness();
  return closed_ ? kEventHangup : 0;
}

Result<SocketAddress> Endpoint::local_address() const {
  if (closed_) return Error::kBadFileDescriptor;  // as getsockname() on a closed descriptor
  if (conn_ != nullptr) return external(conn_->local_address());
  if (listener_) return external(listener_->local_address());
  if (bound()) return external(*bound());
  return SocketAddress{IpAddress::any(family_), 0};
}

Result<SocketAddress> Endpoint::remote_address() const {
  if (conn_ == nullptr) return Error::kNotConnected;
  if (conn_->state() == State::kSynSent) return Error::kNotConnected;
  if (conn_->state() == State::kClosed && !conn_->was_established()) return Error::kNotConnected;
  return external(conn_->remote_address());
}

std::optional<Error> Endpoint::take_error() {
  if (conn_ == nullptr) return std::nullopt;
  return conn_->take_error();
}

Status Endpoint::set_option(SocketOption option, int value) {
  if (value < 0 && option != SocketOption::kLinger2) return Error::kInvalidArgument;
  auto u = static_cast<uint32_t>(value);
  switch (option) {
    case SocketOption::kReceiveBuffer:
      set_receive_buffer(u);
      break;
    case SocketOption::kSendBuffer:
      set_send_buffer(u);
      break;
    case SocketOption::kReuseAddress:
      set_reuse_address(value != 0);
      break;
    case SocketOption::kReusePort:
      set_reuse_port(value != 0);
      break;
    case SocketOption::kKeepAlive:
      set_keepalive(value != 0);
      break;
    case SocketOption::kKeepIdle:
      if (value < 1) return Error::kInvalidArgument;
      change_options([&](SocketOptions& o) { o.keepalive_idle = std::chrono::seconds(value); });
      break;
    case SocketOption::kKeepInterval:
      if (value < 1) return Error::kInvalidArgument;
      change_options([&](SocketOptions& o) { o.keepalive_interval = std::chrono::seconds(value); });
      break;
    case SocketOption::kKeepCount:
      if (value < 1 || u > kMaxKeepaliveCount) return Error::kInvalidArgument;
      change_options([&](SocketOptions& o) { o.keepalive_count = u; });
      break;
    case SocketOption::kNoDelay:
      set_no_delay(value != 0);
      break;
    case SocketOption::kCork:
      set_cork(value != 0);
      break;
    case SocketOption::kMaxSegment:
      if (value != 0 && (value < 88 || value > 65535)) return Error::kInvalidArgument;
      set_max_segment(static_cast<uint16_t>(value));
      break;
    case SocketOption::kQuickAck:
      change_options([&](SocketOptions& o) { o.quick_ack = value != 0; });
      break;
    case SocketOption::kUserTimeout:
      change_options([&](SocketOptions& o) { o.user_timeout_ms = u; });
      break;
    case SocketOption::kNotSentLowat:
      change_options([&](SocketOptions& o) { o.notsent_lowat = u; });
      break;
    case SocketOption::kSynCount:
      if (value < 1 || value > kMaxSynRetries) return Error::kInvalidArgument;
      change_options([&](SocketOptions& o) { o.syn_retries = static_cast<uint8_t>(value); });
      break;
    case SocketOption::kLinger2:
      // As Linux: negative means none, and more than TCP_FIN_TIMEOUT_MAX is cut to it.
      change_options([&](SocketOptions& o) {
        o.linger2 = static_cast<int16_t>(value < 0 ? -1 : std::min(value, kMaxLinger2Seconds));
      });
      break;
  }
  return ok_status();
}

Result<int> Endpoint::get_option(SocketOption option) const {
  if (closed_) return Error::kBadFileDescriptor;  // as getsockopt() on a closed descriptor
  auto secs = [](Duration d) {
    return static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  };
  const TcpOptions& po = protocol_.options();
  const SocketOptions& opts = options();
  switch (option) {
    case SocketOption::kReceiveBuffer:
      return static_cast<int>(opts.receive_buffer != 0 ? opts.receive_buffer
                                                           : po.receive_buffer);
    case SocketOption::kSendBuffer:
      // A connection's buffer may have grown since (autotuning), as Linux's sk_sndbuf.
      if (conn_ != nullptr && opts.send_buffer == 0) return static_cast<int>(conn_->send_buffer());
      return static_cast<int>(opts.send_buffer != 0 ? opts.send_buffer : po.send_buffer);
    case SocketOption::kReuseAddress:
      return opts.reuse_address ? 1 : 0;
    case SocketOption::kReusePort:
      return opts.reuse_port ? 1 : 0;
    case SocketOption::kKeepAlive:
      return opts.keepalive ? 1 : 0;
    case SocketOption::kKeepIdle:
      return secs(opts.keepalive_idle);
    case SocketOption::kKeepInterval:
      return secs(opts.keepalive_interval);
    case SocketOption::kKeepCount:
      return static_cast<int>(opts.keepalive_count);
    case SocketOption::kNoDelay:
      return opts.no_delay ? 1 : 0;
    case SocketOption::kCork:
      return opts.cork ? 1 : 0;
    case SocketOption::kMaxSegment:
      if (conn_ != nullptr && conn_->state() != State::kClosed &&
          conn_->state() != State::kSynSent) {
        return static_cast<int>(conn_->send_mss());
      }
      return opts.max_segment != 0 ? opts.max_segment : 536;
    case SocketOption::kQuickAck:
      return opts.quick_ack ? 1 : 0;
    case SocketOption::kUserTimeout:
      return static_cast<int>(opts.user_timeout_ms);
    case SocketOption::kNotSentLowat:
      return static_cast<int>(opts.notsent_lowat);
    case SocketOption::kSynCount:
      return static_cast<int>(opts.syn_retries != 0 ? opts.syn_retries : po.syn_retries);
    case SocketOption::kLinger2:
      if (opts.linger2 < 0) return -1;
      return opts.linger2 != 0 ? opts.linger2 : secs(po.fin_wait2_timeout);
  }
  return Error::kNoProtocolOption;
}

void Endpoint::set_no_delay(bool on) {
  change_options([&](SocketOptions& o) { o.no_delay = on; });
}
void Endpoint::set_cork(bool on) {
  change_options([&](SocketOptions& o) { o.cork = on; });
}
void Endpoint::set_keepalive(bool on) {
  change_options([&](SocketOptions& o) { o.keepalive = on; });
}
void Endpoint::set_keepalive_params(Duration idle, Duration interval, uint32_t count) {
  change_options([&](SocketOptions& o) {
    o.keepalive_idle = idle;
    o.keepalive_interval = interval;
    o.keepalive_count = std::clamp<uint32_t>(count, 1, kMaxKeepaliveCount);
  });
}
void Endpoint::set_linger(std::optional<Duration> linger) {
  change_options([&](SocketOptions& o) { o.linger = linger; });
}
void Endpoint::set_receive_buffer(uint32_t bytes) {
  // Like Linux: at least a few segments' worth.
  change_options([&](SocketOptions& o) { o.receive_buffer = std::max<uint32_t>(bytes, 2048); });
}
void Endpoint::set_send_buffer(uint32_t bytes) {
  change_options([&](SocketOptions& o) { o.send_buffer = std::max<uint32_t>(bytes, 2048); });
}
void Endpoint::set_reuse_address(bool on) {
  change_options([&](SocketOptions& o) { o.reuse_address = on; });
}
void Endpoint::set_reuse_port(bool on) {
  change_options([&](SocketOptions& o) { o.reuse_port = on; });
}
void Endpoint::set_max_segment(uint16_t mss) {
  change_options([&](SocketOptions& o) { o.max_segment = mss; });
}

TcpInfo Endpoint::info() const {
  if (conn_ != nullptr) return conn_->info();
  TcpInfo i;
  i.tcpi_state = static_cast<uint8_t>(listener_ ? LinuxTcpState::kListen : LinuxTcpState::kClose);
  return i;
}

}  // namespace weir::tcp
