// weir.h: the socket handle table and the TCP/UDP socket calls.
#include <climits>
#include <cstring>

#include "capi/internal.h"

using weir::Error;
using weir::capi::fail;
using weir::capi::SocketSlot;

namespace {

constexpr uint32_t kIndexBits = 24;
constexpr uint32_t kGenerationBits = 24;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
constexpr uint64_t kGenerationMask = (uint64_t{1} << kGenerationBits) - 1;

weir_socket make_handle(uint16_t tag, uint32_t generation, uint32_t index) {
  return (uint64_t{tag} << 48) | (uint64_t{generation} << kIndexBits) | index;
}

std::optional<weir::AddressFamily> family_of(weir_stack* s, int family, int* error) {
  if (family == WEIR_AF_INET) return weir::AddressFamily::kIpv4;
  if (family == WEIR_AF_INET6) {
    if (s->has_ipv6) return weir::AddressFamily::kIpv6;
    *error = fail(Error::kAddressFamilyNotSupported);
    return std::nullopt;
  }
  *error = fail(Error::kInvalidArgument);
  return std::nullopt;
}

// The slot a call is about, or the error to return: -EINVAL for a NULL stack, -EBADF for a
// handle that is closed, never issued or another stack's.
struct Lookup {
  SocketSlot* slot = nullptr;
  int error = 0;
};
Lookup lookup(weir_stack* stack, weir_socket sock) {
  if (stack == nullptr) return {nullptr, fail(Error::kInvalidArgument)};
  SocketSlot* slot = stack->find(sock);
  if (slot == nullptr) return {nullptr, fail(Error::kBadFileDescriptor)};
  return {slot, 0};
}

int status(const weir::Status& s) { return s ? 0 : fail(s.error()); }

size_t clamp_len(size_t len) { return len > SSIZE_MAX ? SSIZE_MAX : len; }

bool is_flag(int value) { return value == 0 || value == 1; }

int create(weir_stack* stack, int family, weir_socket* out, bool tcp) {
  if (stack == nullptr || out == nullptr) return fail(Error::kInvalidArgument);
  int error = 0;
  auto f = family_of(stack, family, &error);
  if (!f) return error;
  std::unique_ptr<weir::tcp::Endpoint> t;
  std::unique_ptr<weir::udp::Endpoint> u;
  if (tcp) {
    t = weir::tcp::Endpoint::create(*stack->stack, *f);
    if (!t) return fail(Error::kProtocolNotSupported);
  } else {
    auto r = weir::udp::Endpoint::create(*stack->stack, *f);
    if (!r) return fail(r.error());
    u = std::move(*r);
  }
  auto handle = stack->allocate(std::move(t), std::move(u));
  if (!handle) return fail(handle.error());
  *out = *handle;
  return 0;
}

}  // namespace

// ---- the handle table ------------------------------------------------------------------------

weir::EventMask SocketSlot::events() const {
  if (tcp) return tcp->readiness();
  if (udp) return udp->readiness();
  return 0;
}

SocketSlot* weir_stack::find(weir_socket handle) {
  if ((handle >> 48) != tag) return nullptr;
  const uint64_t index = handle & kIndexMask;
  const uint64_t generation = (handle >> kIndexBits) & kGenerationMask;
  if (index >= slots.size()) return nullptr;
  SocketSlot* slot = slots[index].get();
  if (!slot->open() || slot->generation != generation) return nullptr;
  return slot;
}

weir::Result<weir_socket> weir_stack::allocate(std::unique_ptr<weir::tcp::Endpoint> tcp,
                                               std::unique_ptr<weir::udp::Endpoint> udp) {
  uint32_t index;
  if (!free_slots.empty()) {
    index = free_slots.back();
    free_slots.pop_back();
  } else {
    if (slots.size() > kIndexMask) return Error::kTooManyFiles;
    index = static_cast<uint32_t>(slots.size());
    slots.push_back(std::make_unique<SocketSlot>());
  }
  SocketSlot& slot = *slots[index];
  slot.tcp = std::move(tcp);
  slot.udp = std::move(udp);
  return make_handle(tag, slot.generation, index);
}

void weir_stack::release(weir_socket handle) {
  const auto index = static_cast<uint32_t>(handle & kIndexMask);
  SocketSlot& slot = *slots[index];
  slot.waiter.reset();
  slot.tcp.reset();
  slot.udp.reset();
  slot.callback = nullptr;
  slot.user = nullptr;
  slot.queued = false;
  if (++slot.generation > kGenerationMask) {
    slot.retired = true;  // every generation used: the slot is never handed out again
  } else {
    free_slots.push_back(index);
  }
}

// ---- common socket calls ---------------------------------------------------------------------

extern "C" {

int weir_tcp_socket(weir_stack* stack, int family, weir_socket* out) {
  return create(stack, family, out, true);
}

int weir_udp_socket(weir_stack* stack, int family, weir_socket* out) {
  return create(stack, family, out, false);
}

int weir_socket_close(weir_stack* stack, weir_socket sock) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  // The waiter goes first: closing notifies, and this socket's callback must not be queued.
  slot->waiter.reset();
  if (slot->tcp) slot->tcp->close();
  if (slot->udp) slot->udp->close();
  stack->release(sock);
  return 0;
}

int weir_socket_bind(weir_stack* stack, weir_socket sock, const weir_sockaddr* addr) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  weir::SocketAddress sa;
  if (addr == nullptr || !weir::capi::from_c(*addr, &sa)) return fail(Error::kInvalidArgument);
  return status(slot->tcp ? slot->tcp->bind(sa) : slot->udp->bind(sa));
}

int weir_socket_connect(weir_stack* stack, weir_socket sock, const weir_sockaddr* addr) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  weir::SocketAddress sa;
  if (addr == nullptr || !weir::capi::from_c(*addr, &sa)) return fail(Error::kInvalidArgument);
  return status(slot->tcp ? slot->tcp->connect(sa) : slot->udp->connect(sa));
}

int weir_socket_shutdown(weir_stack* stack, weir_socket sock, int how) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (how != WEIR_SHUT_RD && how != WEIR_SHUT_WR && how != WEIR_SHUT_RDWR) {
    return fail(Error::kInvalidArgument);
  }
  if (slot->tcp) {
    const auto h = how == WEIR_SHUT_RD   ? weir::tcp::ShutdownHow::kRead
                   : how == WEIR_SHUT_WR ? weir::tcp::ShutdownHow::kWrite
                                         : weir::tcp::ShutdownHow::kBoth;
    return status(slot->tcp->shutdown(h));
  }
  const auto h = how == WEIR_SHUT_RD   ? weir::udp::ShutdownHow::kRead
                 : how == WEIR_SHUT_WR ? weir::udp::ShutdownHow::kWrite
                                       : weir::udp::ShutdownHow::kBoth;
  return status(slot->udp->shutdown(h));
}

int weir_socket_events(weir_stack* stack, weir_socket sock) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  return static_cast<int>(slot->events() & 0x1f);
}

int weir_socket_take_error(weir_stack* stack, weir_socket sock, int* err) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (err == nullptr) return fail(Error::kInvalidArgument);
  const std::optional<Error> e = slot->tcp ? slot->tcp->take_error() : slot->udp->take_error();
  *err = e ? weir::to_errno(*e) : 0;
  return 0;
}

int weir_socket_local_address(weir_stack* stack, weir_socket sock, weir_sockaddr* out) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (out == nullptr) return fail(Error::kInvalidArgument);
  if (slot->udp) {
    *out = weir::capi::to_c(slot->udp->local_address());
    return 0;
  }
  auto a = slot->tcp->local_address();
  if (!a) return fail(a.error());
  *out = weir::capi::to_c(*a);
  return 0;
}

int weir_socket_remote_address(weir_stack* stack, weir_socket sock, weir_sockaddr* out) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (out == nullptr) return fail(Error::kInvalidArgument);
  auto a = slot->tcp ? slot->tcp->remote_address() : slot->udp->remote_address();
  if (!a) return fail(a.error());
  *out = weir::capi::to_c(*a);
  return 0;
}

int weir_socket_set_option(weir_stack* stack, weir_socket sock, int option, int value) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  const bool flag = option == WEIR_OPT_REUSEADDR || option == WEIR_OPT_REUSEPORT ||
                    option == WEIR_OPT_KEEPALIVE || option == WEIR_OPT_NODELAY ||
                    option == WEIR_OPT_CORK || option == WEIR_OPT_V6ONLY ||
                    option == WEIR_OPT_BROADCAST;
  if (flag && !is_flag(value)) return fail(Error::kInvalidArgument);
  const bool may_be_negative = option == WEIR_OPT_LINGER || option == WEIR_OPT_LINGER2;
  if (may_be_negative ? value < -1 : value < 0) return fail(Error::kInvalidArgument);

  if (slot->udp) {
    weir::udp::Endpoint& u = *slot->udp;
    switch (option) {
      case WEIR_OPT_RCVBUF:
        u.set_receive_buffer(static_cast<size_t>(value));
        return 0;
      case WEIR_OPT_SNDBUF:
        u.set_send_buffer(static_cast<size_t>(value));
        return 0;
      case WEIR_OPT_REUSEADDR:
        u.set_reuse_address(value != 0);
        return 0;
      case WEIR_OPT_REUSEPORT:
        u.set_reuse_port(value != 0);
        return 0;
      case WEIR_OPT_BROADCAST:
        u.set_broadcast(value != 0);
        return 0;
      case WEIR_OPT_V6ONLY:
        return status(u.set_v6only(value != 0));
      default:
        return fail(Error::kNoProtocolOption);
    }
  }
  weir::tcp::Endpoint& t = *slot->tcp;
  using weir::tcp::SocketOption;
  switch (option) {
    case WEIR_OPT_RCVBUF:
      return status(t.set_option(SocketOption::kReceiveBuffer, value));
    case WEIR_OPT_SNDBUF:
      return status(t.set_option(SocketOption::kSendBuffer, value));
    case WEIR_OPT_REUSEADDR:
      return status(t.set_option(SocketOption::kReuseAddress, value));
    case WEIR_OPT_REUSEPORT:
      return status(t.set_option(SocketOption::kReusePort, value));
    case WEIR_OPT_KEEPALIVE:
      return status(t.set_option(SocketOption::kKeepAlive, value));
    case WEIR_OPT_KEEPIDLE:
      return status(t.set_option(SocketOption::kKeepIdle, value));
    case WEIR_OPT_KEEPINTVL:
      return status(t.set_option(SocketOption::kKeepInterval, value));
    case WEIR_OPT_KEEPCNT:
      return status(t.set_option(SocketOption::kKeepCount, value));
    case WEIR_OPT_NODELAY:
      return status(t.set_option(SocketOption::kNoDelay, value));
    case WEIR_OPT_CORK:
      return status(t.set_option(SocketOption::kCork, value));
    case WEIR_OPT_MAXSEG:
      return status(t.set_option(SocketOption::kMaxSegment, value));
    case WEIR_OPT_USER_TIMEOUT:
      return status(t.set_option(SocketOption::kUserTimeout, value));
    case WEIR_OPT_NOTSENT_LOWAT:
      return status(t.set_option(SocketOption::kNotSentLowat, value));
    case WEIR_OPT_SYNCNT:
      return status(t.set_option(SocketOption::kSynCount, value));
    case WEIR_OPT_LINGER2:
      return status(t.set_option(SocketOption::kLinger2, value));
    case WEIR_OPT_LINGER:
      if (value < 0) {
        t.set_linger(std::nullopt);
      } else {
        t.set_linger(std::chrono::seconds(value));
      }
      return 0;
    case WEIR_OPT_V6ONLY:
      return status(t.set_v6only(value != 0));
    default:
      return fail(Error::kNoProtocolOption);
  }
}

int weir_socket_get_option(weir_stack* stack, weir_socket sock, int option, int* value) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (value == nullptr) return fail(Error::kInvalidArgument);
  auto clamp = [](size_t v) { return v > INT_MAX ? INT_MAX : static_cast<int>(v); };
  if (slot->udp) {
    const weir::udp::Endpoint& u = *slot->udp;
    switch (option) {
      case WEIR_OPT_RCVBUF:
        *value = clamp(u.receive_buffer());
        return 0;
      case WEIR_OPT_SNDBUF:
        *value = clamp(u.send_buffer());
        return 0;
      case WEIR_OPT_REUSEADDR:
        *value = u.reuse_address() ? 1 : 0;
        return 0;
      case WEIR_OPT_REUSEPORT:
        *value = u.reuse_port() ? 1 : 0;
        return 0;
      case WEIR_OPT_BROADCAST:
        *value = u.broadcast() ? 1 : 0;
        return 0;
      case WEIR_OPT_V6ONLY:
        *value = u.v6only() ? 1 : 0;
        return 0;
      default:
        return fail(Error::kNoProtocolOption);
    }
  }
  const weir::tcp::Endpoint& t = *slot->tcp;
  using weir::tcp::SocketOption;
  std::optional<SocketOption> o;
  switch (option) {
    case WEIR_OPT_RCVBUF:
      o = SocketOption::kReceiveBuffer;
      break;
    case WEIR_OPT_SNDBUF:
      o = SocketOption::kSendBuffer;
      break;
    case WEIR_OPT_REUSEADDR:
      o = SocketOption::kReuseAddress;
      break;
    case WEIR_OPT_REUSEPORT:
      o = SocketOption::kReusePort;
      break;
    case WEIR_OPT_KEEPALIVE:
      o = SocketOption::kKeepAlive;
      break;
    case WEIR_OPT_KEEPIDLE:
      o = SocketOption::kKeepIdle;
      break;
    case WEIR_OPT_KEEPINTVL:
      o = SocketOption::kKeepInterval;
      break;
    case WEIR_OPT_KEEPCNT:
      o = SocketOption::kKeepCount;
      break;
    case WEIR_OPT_NODELAY:
      o = SocketOption::kNoDelay;
      break;
    case WEIR_OPT_CORK:
      o = SocketOption::kCork;
      break;
    case WEIR_OPT_MAXSEG:
      o = SocketOption::kMaxSegment;
      break;
    case WEIR_OPT_USER_TIMEOUT:
      o = SocketOption::kUserTimeout;
      break;
    case WEIR_OPT_NOTSENT_LOWAT:
      o = SocketOption::kNotSentLowat;
      break;
    case WEIR_OPT_SYNCNT:
      o = SocketOption::kSynCount;
      break;
    case WEIR_OPT_LINGER2:
      o = SocketOption::kLinger2;
      break;
    case WEIR_OPT_LINGER: {
      const auto& linger = t.options().linger;
      *value =
          linger
              ? static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(*linger).count())
              : -1;
      return 0;
    }
    case WEIR_OPT_V6ONLY:
      *value = t.v6only() ? 1 : 0;
      return 0;
    default:
      return fail(Error::kNoProtocolOption);
  }
  auto r = t.get_option(*o);
  if (!r) return fail(r.error());
  *value = *r;
  return 0;
}

int weir_socket_set_callback(weir_stack* stack, weir_socket sock, weir_socket_callback fn,
                             void* user) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (fn == nullptr) {
    slot->waiter.reset();
    slot->callback = nullptr;
    slot->user = nullptr;
    return 0;
  }
  slot->callback = fn;
  slot->user = user;
  if (!slot->waiter) {
    slot->waiter = std::make_unique<weir::Waiter>(
        ~weir::EventMask{0}, [stack, sock](weir::EventMask) { stack->queue_callback(sock); });
    slot->waiters().add(*slot->waiter);
  }
  return 0;
}

// ---- TCP -------------------------------------------------------------------------------------

int weir_tcp_listen(weir_stack* stack, weir_socket sock, int backlog) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (!slot->tcp) return fail(Error::kNotSupported);
  return status(slot->tcp->listen(backlog < 1 ? 1 : backlog));
}

int weir_tcp_accept(weir_stack* stack, weir_socket sock, weir_socket* out, weir_sockaddr* peer) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (!slot->tcp) return fail(Error::kNotSupported);
  if (out == nullptr) return fail(Error::kInvalidArgument);
  if (!slot->tcp->listening()) return fail(Error::kInvalidArgument);
  auto child = slot->tcp->accept();
  if (!child) return fail(child.error());
  std::optional<weir_sockaddr> remote;
  if (auto a = (*child)->remote_address()) remote = weir::capi::to_c(*a);
  weir::tcp::Endpoint& ref = **child;
  auto handle = stack->allocate(std::move(*child), nullptr);
  if (!handle) {
    ref.abort();  // no handle to give it: the peer learns at once
    return fail(handle.error());
  }
  *out = *handle;
  if (peer != nullptr) *peer = remote.value_or(weir_sockaddr{});
  return 0;
}

ssize_t weir_tcp_read(weir_stack* stack, weir_socket sock, void* buf, size_t len) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (!slot->tcp) return fail(Error::kNotSupported);
  if (len == 0) return 0;
  if (buf == nullptr) return fail(Error::kInvalidArgument);
  auto n = slot->tcp->read(weir::MutableByteView(static_cast<std::byte*>(buf), clamp_len(len)));
  if (!n) return fail(n.error());
  return static_cast<ssize_t>(*n);
}

ssize_t weir_tcp_write(weir_stack* stack, weir_socket sock, const void* buf, size_t len) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (!slot->tcp) return fail(Error::kNotSupported);
  if (len == 0) return 0;
  if (buf == nullptr) return fail(Error::kInvalidArgument);
  auto n = slot->tcp->write(weir::ByteView(static_cast<const std::byte*>(buf), clamp_len(len)));
  if (!n) return fail(n.error());
  return static_cast<ssize_t>(*n);
}

int weir_tcp_abort(weir_stack* stack, weir_socket sock) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (!slot->tcp) return fail(Error::kNotSupported);
  slot->waiter.reset();
  slot->tcp->abort();
  stack->release(sock);
  return 0;
}

// ---- UDP -------------------------------------------------------------------------------------

ssize_t weir_udp_sendto(weir_stack* stack, weir_socket sock, const void* buf, size_t len,
                        const weir_sockaddr* to) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (!slot->udp) return fail(Error::kNotSupported);
  if (buf == nullptr && len != 0) return fail(Error::kInvalidArgument);
  std::optional<weir::SocketAddress> dest;
  if (to != nullptr) {
    weir::SocketAddress sa;
    if (!weir::capi::from_c(*to, &sa)) return fail(Error::kInvalidArgument);
    dest = sa;
  }
  auto n = slot->udp->send_to(
      weir::ByteView(static_cast<const std::byte*>(buf), buf == nullptr ? 0 : clamp_len(len)),
      dest);
  if (!n) return fail(n.error());
  return static_cast<ssize_t>(*n);
}

ssize_t weir_udp_recvfrom(weir_stack* stack, weir_socket sock, void* buf, size_t len,
                          weir_sockaddr* from, int flags) {
  auto [slot, error] = lookup(stack, sock);
  if (slot == nullptr) return error;
  if (!slot->udp) return fail(Error::kNotSupported);
  if ((flags & ~(WEIR_MSG_PEEK | WEIR_MSG_TRUNC)) != 0) return fail(Error::kInvalidArgument);
  if (buf == nullptr && len != 0) return fail(Error::kInvalidArgument);
  weir::udp::ReceiveOptions options;
  options.peek = (flags & WEIR_MSG_PEEK) != 0;
  auto info = slot->udp->receive_from(
      weir::MutableByteView(static_cast<std::byte*>(buf), buf == nullptr ? 0 : clamp_len(len)),
      options);
  if (!info) return fail(info.error());
  if (from != nullptr) *from = weir::capi::to_c(info->from);
  return static_cast<ssize_t>((flags & WEIR_MSG_TRUNC) != 0 ? info->full_size : info->size);
}

}  // extern "C"
