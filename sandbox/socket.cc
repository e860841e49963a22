#include "sandbox/socket.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "sandbox/native.h"
#include "sandbox/sockaddr.h"

namespace weir::sandbox {

namespace {

constexpr size_t kTimevalSize = 16;  // struct timeval on x86_64: two longs

}  // namespace

Result<std::optional<Duration>> decode_timeval(ByteView bytes) {
  if (bytes.size() < kTimevalSize) return Error::kInvalidArgument;
  const int64_t sec = load_host<int64_t>(bytes, 0);
  const int64_t usec = load_host<int64_t>(bytes, 8);
  if (usec < 0 || usec >= 1'000'000) return Error::kInvalidArgument;
  // Linux treats a negative timeout as zero: no timeout (a blocking call without a limit),
  // and one too long for its timer (decades) as no limit either.
  constexpr int64_t kLongestTimeout = int64_t{1} << 31;  // seconds, about 68 years
  if (sec < 0 || (sec == 0 && usec == 0) || sec >= kLongestTimeout) return std::optional<Duration>();
  return std::optional<Duration>(std::chrono::seconds(sec) + std::chrono::microseconds(usec));
}

std::vector<std::byte> encode_timeval(std::optional<Duration> d) {
  std::vector<std::byte> out(kTimevalSize);
  int64_t usec = d ? std::chrono::duration_cast<std::chrono::microseconds>(*d).count() : 0;
  store_host<int64_t>(out, 0, usec / 1'000'000);
  store_host<int64_t>(out, 8, usec % 1'000'000);
  return out;
}

EmulatedSocket::EmulatedSocket(Emulator& emulator, SocketKind kind, int domain, int type,
                               int protocol, ino_t inode, UniqueFd host)
    : emulator_(emulator),
      host_(std::move(host)),
      kind_(kind),
      domain_(domain),
      type_(type),
      protocol_(protocol),
      inode_(inode),
      park_timer_([this] {
        expire_parked(emulator_.stack().now());
        emulator_.mark_dirty(*this);
      }) {}

EmulatedSocket::~EmulatedSocket() {
  if (watched_) emulator_.loop().unwatch_fd_closing(host_.get());
  // Calls still parked get an answer that ends them: the socket is gone from under them.
  for (const auto& p : parked_) (void)emulator_.tracee().reply_error(p.req, EBADF);
}

Status EmulatedSocket::watch() {
  WEIR_TRY(emulator_.loop().watch_fd(host_.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                     [this](uint32_t events) { on_host_event(events); }));
  watched_ = true;
  return ok_status();
}

void EmulatedSocket::on_host_event(uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) host_readable_ = true;
  if (events & EPOLLOUT) host_writable_ = true;
  if (events & EPOLLHUP) host_hangup_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP)) host_read_closed_ = true;
  // Outside the stack's processing: pumping right away is safe, and saves a round trip.
  pump();
  emulator_.mark_dirty(*this);
}

void EmulatedSocket::handle(Call& call) {
  handle_call(call);
}

void EmulatedSocket::park(const Call& call, std::optional<Duration> timeout, int timeout_error) {
  ParkedCall p;
  p.req = call.req;
  if (timeout) p.deadline = emulator_.stack().now() + *timeout;
  p.timeout_error = timeout_error;
  parked_.push_back(std::move(p));
  emulator_.counters().parked++;
  emulator_.note_parked(inode_);
  arm_park_timer();
}

void EmulatedSocket::arm_park_timer() {
  std::optional<TimePoint> earliest;
  for (const auto& p : parked_) {
    if (p.deadline && (!earliest || *p.deadline < *earliest)) earliest = p.deadline;
  }
  if (earliest) {
    emulator_.stack().timers().arm(park_timer_, *earliest);
  } else {
    park_timer_.cancel();
  }
}

void EmulatedSocket::resume_parked() {
  if (parked_.empty()) return;
  // Answered calls leave; the rest keep their order. resume() may park nothing new.
  std::deque<ParkedCall> still;
  while (!parked_.empty()) {
    ParkedCall p = std::move(parked_.front());
    parked_.pop_front();
    if (resume(p)) {
      emulator_.counters().parked_answered++;
    } else {
      still.push_back(std::move(p));
    }
  }
  // resume() may have parked new calls (it does not), keep both in order.
  for (auto& p : parked_) still.push_back(std::move(p));
  parked_ = std::move(still);
  arm_park_timer();
}

void EmulatedSocket::expire_parked(TimePoint now) {
  for (auto it = parked_.begin(); it != parked_.end();) {
    if (it->deadline && *it->deadline <= now) {
      (void)emulator_.tracee().reply_error(it->req, it->timeout_error);
      emulator_.counters().parked_timed_out++;
      it = parked_.erase(it);
    } else if (!emulator_.tracee().still_waiting(it->req)) {
      emulator_.counters().parked_interrupted++;
      it = parked_.erase(it);
    } else {
      ++it;
    }
  }
  arm_park_timer();
}

void EmulatedSocket::retire_calls_of(pid_t tid) {
  auto before = parked_.size();
  std::erase_if(parked_, [tid](const ParkedCall& p) { return p.req.tid == tid; });
  emulator_.counters().parked_interrupted += before - parked_.size();
  arm_park_timer();
}

Result<int> EmulatedSocket::read_int_option(Call& call) {
  const uint64_t optval = call.req.args[3];
  const uint64_t optlen = call.req.args[4];
  if (optlen < sizeof(int)) return Error::kInvalidArgument;
  std::array<std::byte, sizeof(int)> buf;
  WEIR_TRY(emulator_.read(call, optval, buf));
  return load_host<int>(buf, 0);
}

void EmulatedSocket::set_int_option(Call& call, const std::function<Status(int)>& apply) {
  auto v = read_int_option(call);
  if (!v) {
    (void)emulator_.reply_error(call, v.error());
    return;
  }
  Status s = apply(*v);
  if (!s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  (void)emulator_.reply(call, 0);
}

void EmulatedSocket::reply_option_bytes(Call& call, ByteView value) {
  const uint64_t optval = call.req.args[3];
  const uint64_t optlen_ptr = call.req.args[4];
  std::array<std::byte, sizeof(uint32_t)> len_buf;
  if (auto s = emulator_.read(call, optlen_ptr, len_buf); !s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  const int32_t len = load_host<int32_t>(len_buf, 0);
  if (len < 0) {
    (void)emulator_.reply_error(call, EINVAL);
    return;
  }
  const size_t n = std::min(static_cast<size_t>(len), value.size());
  if (auto s = emulator_.write(call, optval, value.first(n)); !s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  store_host<uint32_t>(len_buf, 0, static_cast<uint32_t>(n));
  if (auto s = emulator_.write(call, optlen_ptr, len_buf); !s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  (void)emulator_.reply(call, 0);
}

void EmulatedSocket::reply_int_option(Call& call, int value) {
  reply_option_bytes(call, bytes_of(value));
}

Result<std::vector<std::byte>> EmulatedSocket::read_sockaddr(Call& call, uint64_t addr,
                                                             uint64_t len) {
  if (len > kSockaddrMaxSize) return Error::kInvalidArgument;
  std::vector<std::byte> bytes(len);
  WEIR_TRY(emulator_.read(call, addr, bytes));
  return bytes;
}

Status EmulatedSocket::write_sockaddr(Call& call, uint64_t addr, uint64_t addrlen_ptr,
                                      ByteView sockaddr) {
  if (addr == 0 || addrlen_ptr == 0) return ok_status();
  std::array<std::byte, sizeof(uint32_t)> len_buf;
  WEIR_TRY(emulator_.read(call, addrlen_ptr, len_buf));
  const int32_t len = load_host<int32_t>(len_buf, 0);
  if (len < 0) return Error::kInvalidArgument;
  const size_t n = std::min(static_cast<size_t>(len), sockaddr.size());
  WEIR_TRY(emulator_.write(call, addr, sockaddr.first(n)));
  store_host<uint32_t>(len_buf, 0, static_cast<uint32_t>(sockaddr.size()));
  return emulator_.write(call, addrlen_ptr, len_buf);
}

namespace {

// SOL_SOCKET options every kind keeps.
constexpr KeptOption kCommonKept[] = {
    {SOL_SOCKET, SO_PRIORITY, 0},          {SOL_SOCKET, SO_MARK, 0},
    {SOL_SOCKET, SO_OOBINLINE, 0, true},   {SOL_SOCKET, SO_TIMESTAMP_OLD, 0, true},
    {SOL_SOCKET, SO_TIMESTAMPNS_OLD, 0, true}, {SOL_SOCKET, SO_PASSCRED, 0, true},
    {SOL_SOCKET, SO_BROADCAST, 0, true},   {SOL_SOCKET, SO_DONTROUTE, 0, true},
    {SOL_SOCKET, SO_BUSY_POLL, 0},         {SOL_SOCKET, SO_INCOMING_CPU, -1},
};

const KeptOption* find_kept(int level, int name, std::span<const KeptOption> kept) {
  for (const auto& k : kept) {
    if (k.level == level && k.name == name) return &k;
  }
  for (const auto& k : kCommonKept) {
    if (k.level == level && k.name == name) return &k;
  }
  return nullptr;
}

}  // namespace

int EmulatedSocket::kept_value(int level, int name, std::span<const KeptOption> kept) const {
  if (auto it = kept_.find({level, name}); it != kept_.end()) return it->second;
  const KeptOption* k = find_kept(level, name, kept);
  return k != nullptr ? k->initial : 0;
}

bool EmulatedSocket::handle_common_getsockopt(Call& call, int level, int name,
                                              std::span<const KeptOption> kept) {
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_TYPE:
        reply_int_option(call, type_);
        return true;
      case SO_DOMAIN:
        reply_int_option(call, domain_);
        return true;
      case SO_PROTOCOL:
        reply_int_option(call, protocol_);
        return true;
      case SO_RCVLOWAT:
        reply_int_option(call, rcvlowat_);
        return true;
      case SO_BINDTOIFINDEX:
        reply_int_option(call, static_cast<int>(bound_interface_));
        return true;
      case SO_RCVTIMEO_OLD:
        reply_option_bytes(call, encode_timeval(receive_timeout_));
        return true;
      case SO_SNDTIMEO_OLD:
        reply_option_bytes(call, encode_timeval(send_timeout_));
        return true;
      default:
        break;
    }
  }
  if (find_kept(level, name, kept) == nullptr) return false;
  reply_int_option(call, kept_value(level, name, kept));
  return true;
}

bool EmulatedSocket::handle_common_setsockopt(Call& call, int level, int name,
                                              std::span<const KeptOption> kept) {
  if (level == SOL_SOCKET && name == SO_RCVLOWAT) {
    auto v = read_int_option(call);
    if (!v) {
      (void)emulator_.reply_error(call, v.error());
      return true;
    }
    rcvlowat_ = std::max(*v, 1);
    // The program's reads run on its end: the low-water mark applies there.
    (void)::setsockopt(call.file.get(), SOL_SOCKET, SO_RCVLOWAT, &rcvlowat_, sizeof rcvlowat_);
    (void)emulator_.reply(call, 0);
    return true;
  }
  if (level == SOL_SOCKET && (name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD)) {
    const uint64_t optlen = call.req.args[4];
    std::vector<std::byte> buf(std::min<uint64_t>(optlen, 16));
    if (auto s = emulator_.read(call, call.req.args[3], buf); !s) {
      (void)emulator_.reply_error(call, s.error());
      return true;
    }
    auto d = decode_timeval(buf);
    if (!d) {
      (void)emulator_.reply_error(call, d.error());
      return true;
    }
    (name == SO_RCVTIMEO_OLD ? receive_timeout_ : send_timeout_) = *d;
    // The program's own reads and writes run on its end: the timeout applies there too.
    (void)::setsockopt(call.file.get(), SOL_SOCKET, name, buf.data(),
                       static_cast<socklen_t>(buf.size()));
    (void)emulator_.reply(call, 0);
    return true;
  }
  const KeptOption* k = find_kept(level, name, kept);
  if (k == nullptr) return false;
  auto v = read_int_option(call);
  if (!v) {
    (void)emulator_.reply_error(call, v.error());
    return true;
  }
  kept_[{level, name}] = k->boolean ? (*v != 0 ? 1 : 0) : *v;
  (void)emulator_.reply(call, 0);
  return true;
}

}  // namespace weir::sandbox
