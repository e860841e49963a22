#include "sandbox/tcp_socket.h"

#include <asm/ioctls.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sandbox/native.h"
#include "sandbox/sockaddr.h"
#include "sandbox/tcp_info_codec.h"
#include "tcp/connection.h"
#include "tcp/tcp.h"

namespace weir::sandbox {

namespace {

// Linux's net.core.somaxconn.
constexpr int kMaxBacklog = 4096;
// The largest sendto() payload copied out of the program in one call.
constexpr size_t kMaxSendtoCopy = size_t{1} << 20;

int doubled(int v) { return v > (INT32_MAX / 2) ? INT32_MAX : v * 2; }

}  // namespace

TcpSocket::TcpSocket(Emulator& emulator, int domain, int type, ino_t inode, UniqueFd host,
                     std::unique_ptr<tcp::Endpoint> endpoint)
    : EmulatedSocket(emulator, SocketKind::kTcp, domain, type, IPPROTO_TCP, inode,
                     std::move(host)),
      endpoint_(std::move(endpoint)),
      waiter_(~EventMask{0}, [this](EventMask) { emulator_.mark_dirty(*this); }) {
  endpoint_->waiters().add(waiter_);
}

TcpSocket::TcpSocket(Emulator& emulator, int domain, ino_t inode, UniqueFd host,
                     std::unique_ptr<tcp::Endpoint> endpoint, bool connected)
    : TcpSocket(emulator, domain, SOCK_STREAM, inode, std::move(host), std::move(endpoint)) {
  if (connected) phase_ = Phase::kConnected;
}

TcpSocket::~TcpSocket() {
  waiter_.detach();
  if (endpoint_) endpoint_->close();
  for (auto& e : stash_) e->abort();
}

bool TcpSocket::draining() const {
  if (phase_ == Phase::kDone || !endpoint_) return false;
  if (bridge_ && bridge_->held_for_stack() > 0) return true;
  const tcp::Connection* c = endpoint_->connection();
  return c != nullptr && c->send_queue_bytes() > 0 && phase_ == Phase::kConnected;
}

int TcpSocket::linux_state() const {
  if (phase_ == Phase::kListening) return static_cast<int>(tcp::LinuxTcpState::kListen);
  if (!endpoint_) return static_cast<int>(tcp::LinuxTcpState::kClose);
  return endpoint_->info().tcpi_state;
}

std::optional<SocketState> TcpSocket::state() const {
  if (phase_ == Phase::kDone || !endpoint_) return std::nullopt;
  SocketState s;
  s.protocol = IPPROTO_TCP;
  s.family = domain() == AF_INET6 ? AddressFamily::kIpv6 : AddressFamily::kIpv4;
  if (auto local = endpoint_->local_address()) s.local = *local;
  if (auto remote = endpoint_->remote_address()) {
    s.remote = *remote;
  } else {
    s.remote = SocketAddress{IpAddress::any(s.family), 0};
  }
  s.linux_state = static_cast<uint8_t>(linux_state());
  s.inode = inode();
  s.v6only = v6only_;
  if (phase_ == Phase::kListening) {
    s.receive_queue = static_cast<uint32_t>(stash_.size());
    s.send_queue = static_cast<uint32_t>(backlog_);
  } else if (const tcp::Connection* c = endpoint_->connection()) {
    s.send_queue = static_cast<uint32_t>(c->send_queue_bytes() +
                                         (bridge_ ? bridge_->held_for_stack() : 0));
    s.receive_queue = static_cast<uint32_t>(bridge_ ? bridge_->held_for_fd() : 0);
    auto info = c->info();
    s.retransmits = info.tcpi_retransmits;
    s.rto_ms = info.tcpi_rto / 1000;
    s.rtt_us = info.tcpi_rtt;
    s.rttvar_us = info.tcpi_rttvar;
    s.send_mss = info.tcpi_snd_mss;
    s.congestion_window = info.tcpi_snd_cwnd;
    s.tcp_info = info;
  }
  return s;
}

// ---- events and the data path ---------------------------------------------------------------

bool TcpSocket::program_closed() const {
  // The host end hangs up when the program's end is gone, or when it shut its writing side
  // and we shut ours: only the first is a close, and in the second nothing is left to do.
  return host_hangup_;
}

void TcpSocket::pump() {
  if (phase_ == Phase::kDone) return;
  switch (phase_) {
    case Phase::kListening:
      pump_listener();
      break;
    case Phase::kConnecting:
      check_connect_outcome();
      if (phase_ == Phase::kConnected) pump_connected();
      break;
    case Phase::kConnected:
      pump_connected();
      break;
    default:
      break;
  }
  resume_parked();
  if (host_hangup_ && !host_closed_) close_stack_side();
}

void TcpSocket::check_connect_outcome() {
  if (phase_ != Phase::kConnecting) return;
  const EventMask ready = endpoint_->readiness();
  if (ready & kEventError) {
    auto e = endpoint_->take_error();
    fail(e.value_or(Error::kConnectionRefused));
    return;
  }
  if (ready & (kEventWritable | kEventReadable)) {
    auto remote = endpoint_->remote_address();
    if (remote) {
      phase_ = Phase::kConnected;
    } else if (ready & kEventHangup) {
      fail(Error::kConnectionRefused);
    }
  }
}

void TcpSocket::fail(Error error) {
  const bool was_connecting = phase_ == Phase::kConnecting;
  phase_ = Phase::kFailed;
  error_ = error;
  // A program waiting in connect(), SO_ERROR or getpeername() learns it there; one that is
  // not waiting (it wrote and reads) learns it from its end.
  if (was_connecting && has_parked()) return;
  deliver_reset();
}

void TcpSocket::deliver_reset() {
  if (host_closed_ || !host_) return;
  // Whatever the stack already holds for the program goes first, as Linux lets a reader drain
  // its queue before the error.
  if (bridge_) bridge_->flush_to_fd();
  int unread = 0;
  if (::ioctl(host_.get(), FIONREAD, &unread) != 0) unread = 0;
  bool reset = unread > 0;
  if (!reset) {
    // A byte from the program's own end, left unread here, turns our close into ECONNRESET
    // for the program (an AF_UNIX socket closed with unread data resets its peer).
    if (auto file = emulator_.find_program_file(inode())) {
      const char canary = 0;
      reset = ::send(file->get(), &canary, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1;
    }
  }
  if (reset) {
    emulator_.counters().tcp_resets_delivered++;
  } else {
    emulator_.counters().tcp_eof_instead_of_reset++;
  }
  emulator_.loop().unwatch_fd_closing(host_.get());
  host_.reset();
  host_closed_ = true;
}

void TcpSocket::pump_connected() {
  if (host_closed_) return;
  if (!bridge_) bridge_.emplace(host_.get(), *endpoint_);
  if (host_readable_) {
    bridge_->fd_readable();
    host_readable_ = false;
  }
  if (program_shut_read_) bridge_->discard_incoming();
  auto error = bridge_->pump();
  if (!error) return;
  if (bridge_->fd_reset()) {
    // The program closed with bytes from the peer it never read: Linux answers with RST.
    host_hangup_ = true;
    endpoint_->abort();
    phase_ = Phase::kFailed;
    return;
  }
  fail(*error);
}

void TcpSocket::pump_listener() {
  // Accepted connections move into the stash, at most the backlog's worth.
  while (stash_.size() < static_cast<size_t>(std::max(backlog_, 1))) {
    auto child = endpoint_->accept();
    if (!child) break;
    stash_.push_back(std::move(*child));
  }
  resume_parked();  // blocked accepts take connections without tokens
  while (tokens_ < stash_.size() && host_) {
    const char token = 1;
    if (::send(host_.get(), &token, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) break;
    ++tokens_;
  }
}

void TcpSocket::close_stack_side() {
  // The program's end is gone. A connection first hands the stack every byte the program
  // wrote before closing; then the protocol finishes the close on its own.
  if (phase_ == Phase::kConnected && !host_closed_) {
    pump_connected();
    if (bridge_ && phase_ == Phase::kConnected &&
        (!bridge_->fd_eof() || bridge_->held_for_stack() > 0)) {
      return;  // more to move, later
    }
  }
  if (endpoint_) endpoint_->close();
  for (auto& e : stash_) e->abort();
  stash_.clear();
  if (host_) {
    emulator_.loop().unwatch_fd_closing(host_.get());
    host_.reset();
  }
  host_closed_ = true;
  phase_ = Phase::kDone;
  emulator_.counters().sockets_closed++;
}

// ---- calls --------------------------------------------------------------------------------

std::optional<Duration> TcpSocket::blocking_timeout(const Call&, bool receive) const {
  return receive ? receive_timeout() : send_timeout();
}

void TcpSocket::handle_call(Call& call) {
  switch (call.req.nr) {
    case SYS_connect:
      connect(call);
      return;
    case SYS_bind:
      bind(call);
      return;
    case SYS_listen:
      listen(call);
      return;
    case SYS_accept:
    case SYS_accept4:
      (void)accept(call, false);
      return;
    case SYS_shutdown:
      shutdown(call);
      return;
    case SYS_getsockopt:
      getsockopt(call);
      return;
    case SYS_setsockopt:
      setsockopt(call);
      return;
    case SYS_getsockname:
      name(call, false);
      return;
    case SYS_getpeername:
      name(call, true);
      return;
    case SYS_ioctl:
      ioctl(call);
      return;
    case SYS_sendto:
      sendto(call);
      return;
    default:
      // recvfrom with an address, recvmsg, sendmsg, recvmmsg, sendmmsg: a stream carries no
      // addresses, and the stand-in answers them exactly as Linux's TCP would.
      (void)emulator_.tracee().reply_continue(call.req);
      emulator_.counters().continued++;
      return;
  }
}

bool TcpSocket::resume(const ParkedCall& parked) {
  Call call;
  call.req = parked.req;
  auto answer_error = [&](int e) {
    (void)emulator_.tracee().reply_error(parked.req, e);
    return true;
  };
  switch (parked.req.nr) {
    case SYS_connect:
      if (phase_ == Phase::kConnecting) return false;
      connect_reported_ = true;
      if (phase_ == Phase::kConnected) {
        (void)emulator_.tracee().reply(parked.req, 0);
        return true;
      }
      {
        int e = error_ ? to_errno(*error_) : ECONNREFUSED;
        error_.reset();
        return answer_error(e);
      }
    case SYS_getsockopt:
    case SYS_getpeername:
      if (phase_ == Phase::kConnecting) return false;
      connect_reported_ = true;
      break;
    case SYS_accept:
    case SYS_accept4:
      if (phase_ != Phase::kListening || listener_shut_) return answer_error(EINVAL);
      if (stash_.empty()) return false;
      break;
    case SYS_sendto:
      break;
    default:
      return answer_error(EINVAL);
  }
  // The call needs the program's file again: it is still blocked in it, so the fd is there.
  auto file = emulator_.tracee().get_fd(parked.req, parked.req.arg_int(0));
  if (!file) {
    (void)emulator_.tracee().reply_error(parked.req, EBADF);
    return true;
  }
  call.file = std::move(*file);
  switch (parked.req.nr) {
    case SYS_getsockopt:
      getsockopt(call);
      return true;
    case SYS_getpeername:
      name(call, true);
      return true;
    case SYS_accept:
    case SYS_accept4:
      return accept(call, true);
    case SYS_sendto:
      sendto(call);
      return true;
    default:
      return true;
  }
}

void TcpSocket::connect(Call& call) {
  auto bytes = read_sockaddr(call, call.req.args[1], call.req.args[2]);
  if (!bytes) {
    (void)emulator_.reply_error(call, bytes.error());
    return;
  }
  auto addr = decode_sockaddr(*bytes);
  if (!addr) {
    (void)emulator_.reply_error(call, addr.error());
    return;
  }
  if (addr->family == AF_UNSPEC) {
    // Dissolves the association: Linux aborts the connection.
    if (phase_ == Phase::kConnected || phase_ == Phase::kConnecting) {
      endpoint_->abort();
      endpoint_ = tcp::Endpoint::create(emulator_.stack(), domain() == AF_INET6
                                                                 ? AddressFamily::kIpv6
                                                                 : AddressFamily::kIpv4);
      endpoint_->waiters().add(waiter_);
      bridge_.reset();
      phase_ = Phase::kFresh;
    }
    (void)emulator_.reply(call, 0);
    return;
  }
  if (addr->family != domain()) {
    (void)emulator_.reply_error(call, EAFNOSUPPORT);
    return;
  }
  switch (phase_) {
    case Phase::kListening:
    case Phase::kConnected:
      (void)emulator_.reply_error(call, EISCONN);
      return;
    case Phase::kConnecting:
      if (call.nonblocking()) {
        (void)emulator_.reply_error(call, EALREADY);
      } else {
        park(call, send_timeout(), EINPROGRESS);
      }
      return;
    case Phase::kFailed:
      if (host_closed_) {
        (void)emulator_.reply_error(call, error_ ? to_errno(*error_) : ECONNREFUSED);
        return;
      }
      // Linux lets a socket whose connect failed try again: a fresh endpoint.
      endpoint_ = tcp::Endpoint::create(emulator_.stack(), domain() == AF_INET6
                                                               ? AddressFamily::kIpv6
                                                               : AddressFamily::kIpv4);
      endpoint_->waiters().add(waiter_);
      bridge_.reset();
      error_.reset();
      phase_ = Phase::kFresh;
      break;
    default:
      break;
  }
  SocketAddress remote = addr->inet;
  Status s = endpoint_->connect(remote);
  if (!s && s.error() != Error::kInProgress) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  phase_ = Phase::kConnecting;
  connect_reported_ = false;
  if (call.nonblocking()) {
    (void)emulator_.reply_error(call, EINPROGRESS);
  } else {
    park(call, send_timeout(), EINPROGRESS);
  }
  emulator_.mark_dirty(*this);
}

void TcpSocket::bind(Call& call) {
  auto bytes = read_sockaddr(call, call.req.args[1], call.req.args[2]);
  if (!bytes) {
    (void)emulator_.reply_error(call, bytes.error());
    return;
  }
  // Linux checks the length for the socket's family before anything else.
  if (bytes->size() < (domain() == AF_INET ? kSockaddrInSize : kSockaddrIn6Size - 4)) {
    (void)emulator_.reply_error(call, EINVAL);
    return;
  }
  auto addr = decode_sockaddr(*bytes);
  if (!addr) {
    (void)emulator_.reply_error(call, addr.error() == Error::kAddressFamilyNotSupported
                                          ? EAFNOSUPPORT
                                          : EINVAL);
    return;
  }
  SocketAddress local = addr->inet;
  if (domain() == AF_INET) {
    // AF_UNSPEC with INADDR_ANY is an old spelling of AF_INET that Linux accepts.
    if (addr->family == AF_UNSPEC && !local.address.is_unspecified()) {
      (void)emulator_.reply_error(call, EAFNOSUPPORT);
      return;
    }
    if (addr->family != AF_INET && addr->family != AF_UNSPEC) {
      (void)emulator_.reply_error(call, EAFNOSUPPORT);
      return;
    }
    local.address = unmap_v4(local.address).is_v4() ? unmap_v4(local.address)
                                                    : IpAddress::any(AddressFamily::kIpv4);
  } else if (addr->family != AF_INET6) {
    (void)emulator_.reply_error(call, EINVAL);
    return;
  }
  if (phase_ != Phase::kFresh) {
    (void)emulator_.reply_error(call, EINVAL);
    return;
  }
  Status s = endpoint_->bind(local);
  if (!s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  (void)emulator_.reply(call, 0);
}

void TcpSocket::listen(Call& call) {
  if (phase_ == Phase::kConnected || phase_ == Phase::kConnecting) {
    (void)emulator_.reply_error(call, EINVAL);
    return;
  }
  int backlog = std::clamp(call.req.arg_int(1), 0, kMaxBacklog);
  Status s = endpoint_->listen(std::max(backlog, 1));
  if (!s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  backlog_ = std::max(backlog, 1);
  phase_ = Phase::kListening;
  listener_shut_ = false;
  (void)emulator_.reply(call, 0);
  emulator_.mark_dirty(*this);
}

bool TcpSocket::accept(Call& call, bool parked) {
  if (phase_ != Phase::kListening || listener_shut_) {
    (void)emulator_.reply_error(call, EINVAL);
    return true;
  }
  if (stash_.empty()) pump_listener();
  if (stash_.empty()) {
    if (parked) return false;
    if (call.nonblocking()) {
      (void)emulator_.reply_error(call, EAGAIN);
    } else {
      park(call, receive_timeout(), EAGAIN);
    }
    return true;
  }
  const int flags = call.req.nr == SYS_accept4 ? call.req.arg_int(3) : 0;
  if ((flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) {
    (void)emulator_.reply_error(call, EINVAL);
    return true;
  }
  // Take the connection's token back out of the program's end (blocked accepts never had one).
  bool took_token = false;
  if (tokens_ > 0) {
    char token;
    if (::recv(call.file.get(), &token, 1, MSG_DONTWAIT) == 1) took_token = true;
    --tokens_;
  }
  auto give_back = [&] {
    if (took_token && host_) {
      const char token = 1;
      if (::send(host_.get(), &token, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) ++tokens_;
    }
  };
  auto pair = emulator_.make_pair(SOCK_STREAM, (flags & SOCK_NONBLOCK) != 0);
  if (!pair) {
    give_back();
    (void)emulator_.reply_error(call, pair.error());
    return true;
  }
  auto& [program_end, host_end] = *pair;
  struct stat st {};
  if (::fstat(program_end.get(), &st) != 0) {
    give_back();
    (void)emulator_.reply_error(call, EMFILE);
    return true;
  }
  tcp::Endpoint& child = *stash_.front();
  if (auto peer = child.remote_address()) {
    auto encoded = encode_inet(domain(), *peer);
    if (auto s = write_sockaddr(call, call.req.args[1], call.req.args[2], encoded); !s) {
      give_back();
      (void)emulator_.reply_error(call, s.error());
      return true;
    }
  }
  auto fd = emulator_.install(call, std::move(program_end), (flags & SOCK_CLOEXEC) != 0);
  if (!fd) {
    // The program is no longer waiting (a signal): the connection stays for the next accept.
    give_back();
    return true;
  }
  std::unique_ptr<tcp::Endpoint> endpoint = std::move(stash_.front());
  stash_.pop_front();
  auto socket = std::make_unique<TcpSocket>(emulator_, domain(), st.st_ino, std::move(host_end),
                                            std::move(endpoint), true);
  EmulatedSocket& adopted = emulator_.adopt(std::move(socket));
  emulator_.seen_at(adopted.inode(), call.req.tid, *fd);
  emulator_.mark_dirty(adopted);
  emulator_.mark_dirty(*this);
  return true;
}

void TcpSocket::shutdown(Call& call) {
  const int how = call.req.arg_int(1);
  if (how < SHUT_RD || how > SHUT_RDWR) {
    (void)emulator_.reply_error(call, EINVAL);
    return;
  }
  if (phase_ == Phase::kListening) {
    if (how == SHUT_WR) {
      (void)emulator_.reply(call, 0);
      return;
    }
    // Linux stops listening: blocked accepts fail with EINVAL, queued connections are reset.
    listener_shut_ = true;
    for (auto& e : stash_) e->abort();
    stash_.clear();
    char drain[256];
    while (tokens_ > 0 && ::recv(call.file.get(), drain, sizeof drain, MSG_DONTWAIT) > 0) tokens_ = 0;
    tokens_ = 0;
    endpoint_->close();
    endpoint_ = tcp::Endpoint::create(emulator_.stack(), domain() == AF_INET6
                                                             ? AddressFamily::kIpv6
                                                             : AddressFamily::kIpv4);
    endpoint_->waiters().add(waiter_);
    bridge_.reset();
    phase_ = Phase::kFresh;
    (void)emulator_.reply(call, 0);
    resume_parked();
    return;
  }
  if (phase_ != Phase::kConnected) {
    (void)emulator_.reply_error(call, ENOTCONN);
    return;
  }
  if (how != SHUT_RD) {
    program_shut_write_ = true;
    // On the program's end, so its later writes fail (EPIPE) as on Linux; the host end then
    // reads EOF after the last byte, and the stack sends FIN.
    ::shutdown(call.file.get(), SHUT_WR);
  }
  if (how != SHUT_WR) program_shut_read_ = true;
  (void)emulator_.reply(call, 0);
  emulator_.mark_dirty(*this);
}

void TcpSocket::name(Call& call, bool peer) {
  Result<SocketAddress> address = Error::kNotConnected;
  if (peer) {
    if (phase_ == Phase::kConnecting) {
      check_connect_outcome();
      if (phase_ == Phase::kConnecting) {
        park(call, std::nullopt, ENOTCONN);
        return;
      }
    }
    if (phase_ == Phase::kConnected) address = endpoint_->remote_address();
  } else {
    address = endpoint_->local_address();
  }
  if (!address) {
    (void)emulator_.reply_error(call, ENOTCONN);
    return;
  }
  auto encoded = encode_inet(domain(), *address);
  if (auto s = write_sockaddr(call, call.req.args[1], call.req.args[2], encoded); !s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  (void)emulator_.reply(call, 0);
}

namespace {

// Options TCP keeps for programs to read back; the stack does not act on them.
constexpr KeptOption kTcpKept[] = {
    {IPPROTO_TCP, TCP_DEFER_ACCEPT, 0},
    // The stack honours TCP_NOTSENT_LOWAT, but a program polls its stand-in, whose buffer the
    // limit cannot reach: kept only.
    {IPPROTO_TCP, TCP_NOTSENT_LOWAT, 0},      {IPPROTO_TCP, TCP_WINDOW_CLAMP, 0},
    {IPPROTO_TCP, TCP_FASTOPEN, 0},           {IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 0, true},
    {IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, 0, true},
    {IPPROTO_IP, IP_TOS, 0},                  {IPPROTO_IP, IP_TTL, 64},
    {IPPROTO_IP, IP_MTU_DISCOVER, 1},         {IPPROTO_IP, IP_FREEBIND, 0, true},
    {IPPROTO_IP, IP_TRANSPARENT, 0, true},    {IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 0, true},
    {IPPROTO_IP, IP_RECVERR, 0, true},        {IPPROTO_IPV6, IPV6_UNICAST_HOPS, 64},
    {IPPROTO_IPV6, IPV6_TCLASS, 0},           {IPPROTO_IPV6, IPV6_RECVERR, 0, true},
    {IPPROTO_IPV6, IPV6_MTU_DISCOVER, 1},
};

// An integer option as a tcp::Endpoint names it, or nullopt.
std::optional<tcp::SocketOption> endpoint_option(int level, int name) {
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_REUSEADDR: return tcp::SocketOption::kReuseAddress;
      case SO_REUSEPORT: return tcp::SocketOption::kReusePort;
      case SO_KEEPALIVE: return tcp::SocketOption::kKeepAlive;
      default: return std::nullopt;
    }
  }
  if (level == IPPROTO_TCP) {
    switch (name) {
      case TCP_NODELAY: return tcp::SocketOption::kNoDelay;
      case TCP_CORK: return tcp::SocketOption::kCork;
      case TCP_MAXSEG: return tcp::SocketOption::kMaxSegment;
      case TCP_KEEPIDLE: return tcp::SocketOption::kKeepIdle;
      case TCP_KEEPINTVL: return tcp::SocketOption::kKeepInterval;
      case TCP_KEEPCNT: return tcp::SocketOption::kKeepCount;
      case TCP_QUICKACK: return tcp::SocketOption::kQuickAck;
      case TCP_USER_TIMEOUT: return tcp::SocketOption::kUserTimeout;
      case TCP_SYNCNT: return tcp::SocketOption::kSynCount;
      case TCP_LINGER2: return tcp::SocketOption::kLinger2;
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

void TcpSocket::getsockopt(Call& call) {
  const int level = call.req.arg_int(1);
  const int name = call.req.arg_int(2);
  if (level == IPPROTO_IPV6 && domain() != AF_INET6) {
    (void)emulator_.reply_error(call, ENOPROTOOPT);
    return;
  }
  if (auto o = endpoint_option(level, name)) {
    reply_int_option(call, endpoint_->get_option(*o).value_or(0));
    return;
  }
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_ERROR:
        if (phase_ == Phase::kConnecting) {
          check_connect_outcome();
          if (phase_ == Phase::kConnecting) {
            park(call, std::nullopt, 0);
            return;
          }
        }
        connect_reported_ = true;
        {
          int e = error_ ? to_errno(*error_) : 0;
          error_.reset();
          reply_int_option(call, e);
        }
        return;
      case SO_ACCEPTCONN:
        reply_int_option(call, phase_ == Phase::kListening ? 1 : 0);
        return;
      case SO_RCVBUF:
        // Linux reports twice what was set (the kernel's bookkeeping share included).
        reply_int_option(call, receive_buffer_set_ != 0
                                   ? doubled(receive_buffer_set_)
                                   : endpoint_->get_option(tcp::SocketOption::kReceiveBuffer)
                                         .value_or(131072));
        return;
      case SO_SNDBUF:
        reply_int_option(call, send_buffer_set_ != 0
                                   ? doubled(send_buffer_set_)
                                   : endpoint_->get_option(tcp::SocketOption::kSendBuffer)
                                         .value_or(16384));
        return;
      case SO_LINGER: {
        std::array<std::byte, 8> linger{};
        const auto& opt = endpoint_->options().linger;
        store_host<int32_t>(linger, 0, opt ? 1 : 0);
        store_host<int32_t>(
            linger, 4,
            opt ? static_cast<int32_t>(std::chrono::duration_cast<std::chrono::seconds>(*opt).count())
                : 0);
        reply_option_bytes(call, linger);
        return;
      }
      case SO_PEERCRED: {
        // TCP has no peer credentials: Linux reports pid 0 and the overflow ids.
        std::array<std::byte, 12> cred{};
        store_host<uint32_t>(cred, 4, 65534);
        store_host<uint32_t>(cred, 8, 65534);
        reply_option_bytes(call, cred);
        return;
      }
      default:
        break;
    }
  } else if (level == IPPROTO_TCP) {
    switch (name) {
      case TCP_INFO: {
        tcp::TcpInfo info = endpoint_->info();
        if (phase_ == Phase::kListening) info.tcpi_state = static_cast<uint8_t>(tcp::LinuxTcpState::kListen);
        reply_option_bytes(call, encode_tcp_info(info));
        return;
      }
      case TCP_CONGESTION: {
        std::array<std::byte, 16> name_buf{};
        const tcp::TcpProtocol* protocol = tcp::find(emulator_.stack());
        const std::string_view cc = tcp::congestion_algorithm_name(
            protocol != nullptr ? protocol->options().congestion_control
                                : tcp::CongestionAlgorithm::kCubic);
        copy_bytes(name_buf, 0, as_bytes(cc.substr(0, 15)));
        reply_option_bytes(call, name_buf);
        return;
      }
      default:
        break;
    }
  } else if (level == IPPROTO_IP && name == IP_MTU) {
    if (phase_ != Phase::kConnected) {
      (void)emulator_.reply_error(call, ENOTCONN);
      return;
    }
    reply_int_option(call, static_cast<int>(endpoint_->info().tcpi_pmtu));
    return;
  } else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
    reply_int_option(call, v6only_ ? 1 : 0);
    return;
  }
  if (handle_common_getsockopt(call, level, name, kTcpKept)) return;
  (void)emulator_.reply_error(call, ENOPROTOOPT);
}

void TcpSocket::setsockopt(Call& call) {
  const int level = call.req.arg_int(1);
  const int name = call.req.arg_int(2);
  auto with_int = [&](const std::function<Status(int)>& apply) { set_int_option(call, apply); };
  if (level == IPPROTO_IPV6 && domain() != AF_INET6) {
    (void)emulator_.reply_error(call, ENOPROTOOPT);
    return;
  }
  if (auto o = endpoint_option(level, name)) {
    with_int([&](int v) { return endpoint_->set_option(*o, v); });
    return;
  }
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_RCVBUF:
      case SO_RCVBUFFORCE:
        with_int([&](int v) {
          receive_buffer_set_ = std::clamp(v, 2304, 64 << 20);
          return endpoint_->set_option(tcp::SocketOption::kReceiveBuffer, doubled(receive_buffer_set_));
        });
        return;
      case SO_SNDBUF:
      case SO_SNDBUFFORCE:
        with_int([&](int v) {
          send_buffer_set_ = std::clamp(v, 2304, 64 << 20);
          return endpoint_->set_option(tcp::SocketOption::kSendBuffer, doubled(send_buffer_set_));
        });
        return;
      case SO_LINGER: {
        if (call.req.args[4] < 8) {
          (void)emulator_.reply_error(call, EINVAL);
          return;
        }
        std::array<std::byte, 8> linger;
        if (auto s = emulator_.read(call, call.req.args[3], linger); !s) {
          (void)emulator_.reply_error(call, s.error());
          return;
        }
        const int32_t on = load_host<int32_t>(linger, 0);
        const int32_t secs = load_host<int32_t>(linger, 4);
        endpoint_->set_linger(on != 0 ? std::optional<Duration>(std::chrono::seconds(std::max(secs, 0)))
                                      : std::nullopt);
        (void)emulator_.reply(call, 0);
        return;
      }
      case SO_BINDTODEVICE:
        // Every interface of the sandbox is the stack's; binding to one by name is accepted.
        (void)emulator_.reply(call, 0);
        return;
      default:
        break;
    }
  } else if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
    std::vector<std::byte> buf(std::min<uint64_t>(call.req.args[4], 16));
    if (auto s = emulator_.read(call, call.req.args[3], buf); !s) {
      (void)emulator_.reply_error(call, s.error());
      return;
    }
    std::string requested;
    for (std::byte b : buf) {
      if (b == std::byte{0}) break;
      requested.push_back(static_cast<char>(b));
    }
    // The stack runs one algorithm for every connection; the names it knows are accepted.
    if (requested == "cubic" || requested == "reno" || requested == "newreno") {
      (void)emulator_.reply(call, 0);
    } else {
      (void)emulator_.reply_error(call, ENOENT);
    }
    return;
  } else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
    with_int([&](int v) {
      if (phase_ != Phase::kFresh) return Status(Error::kInvalidArgument);
      v6only_ = v != 0;
      return endpoint_->set_v6only(v6only_);
    });
    return;
  }
  if (handle_common_setsockopt(call, level, name, kTcpKept)) return;
  (void)emulator_.reply_error(call, ENOPROTOOPT);
}

void TcpSocket::ioctl(Call& call) {
  const unsigned long request = call.req.args[1];
  int value = 0;
  switch (request) {
    case FIONREAD:  // SIOCINQ
      if (phase_ == Phase::kListening) {
        (void)emulator_.reply_error(call, EINVAL);
        return;
      }
      if (::ioctl(call.file.get(), FIONREAD, &value) != 0) value = 0;
      if (bridge_) value += static_cast<int>(bridge_->held_for_fd());
      break;
    case TIOCOUTQ:  // SIOCOUTQ: written and not yet acknowledged
    case SIOCOUTQNSD: {  // written and not yet sent
      if (phase_ == Phase::kListening) {
        (void)emulator_.reply_error(call, EINVAL);
        return;
      }
      int in_pair = 0;
      if (host_ && ::ioctl(host_.get(), FIONREAD, &in_pair) != 0) in_pair = 0;
      value = in_pair + static_cast<int>(bridge_ ? bridge_->held_for_stack() : 0);
      if (const tcp::Connection* c = endpoint_->connection()) {
        value += static_cast<int>(request == TIOCOUTQ ? c->send_queue_bytes()
                                                      : c->info().tcpi_notsent_bytes);
      }
      break;
    }
    case SIOCATMARK:
      value = 0;
      break;
    default:
      (void)emulator_.reply_error(call, ENOTTY);
      return;
  }
  if (auto s = emulator_.write(call, call.req.args[2], bytes_of(value)); !s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  (void)emulator_.reply(call, 0);
}

void TcpSocket::sendto(Call& call) {
  // A stream ignores the address; the bytes go in order with the program's other writes, so
  // they are written into its own end.
  if (phase_ != Phase::kConnected || program_shut_write_) {
    (void)emulator_.reply_error(call, phase_ == Phase::kConnected ? EPIPE : ENOTCONN);
    return;
  }
  const size_t len = std::min<uint64_t>(call.req.args[2], kMaxSendtoCopy);
  std::vector<std::byte> data(len);
  if (auto s = emulator_.read(call, call.req.args[1], data); !s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  ssize_t n = ::send(call.file.get(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN && !call.nonblocking() && (call.req.args[3] & MSG_DONTWAIT) == 0) {
      park(call, send_timeout(), EAGAIN);
      return;
    }
    (void)emulator_.reply_error(call, errno);
    return;
  }
  (void)emulator_.reply(call, n);
}

}  // namespace weir::sandbox
