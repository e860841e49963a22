#include "sandbox/netlink_socket.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>

#include "sandbox/msghdr.h"
#include "sandbox/native.h"
#include "sandbox/sockaddr.h"

namespace weir::sandbox {

namespace {

// A request is a few hundred bytes; anything past this is not a request a tool sends.
constexpr size_t kMaxRequest = 65536;
// Answers not yet taken by the program are bounded: past this, further requests are answered
// with ENOBUFS (the kernel's overrun), and the program re-asks.
constexpr size_t kMaxQueuedAnswers = 4096;

}  // namespace

NetlinkSocket::NetlinkSocket(Emulator& emulator, int type, int protocol, ino_t inode,
                             UniqueFd host, Responder responder)
    : EmulatedSocket(emulator, SocketKind::kNetlink, AF_NETLINK, type, protocol, inode,
                     std::move(host)),
      responder_(std::move(responder)) {}

NetlinkSocket::~NetlinkSocket() = default;

uint32_t NetlinkSocket::port() {
  // An unbound socket gets its port id when it first talks, as the kernel autobinds.
  if (port_ == 0) port_ = emulator_.next_netlink_port();
  return port_;
}

void NetlinkSocket::answer(ByteView request) {
  emulator_.counters().netlink_requests++;
  if (answers_.size() >= kMaxQueuedAnswers) return;  // the program is not reading: overrun
  for (auto& datagram : responder_(request, port())) answers_.push_back(std::move(datagram));
  flush_answers();
}

void NetlinkSocket::flush_answers() {
  while (!answers_.empty() && host_) {
    const auto& d = answers_.front();
    ssize_t n = ::send(host_.get(), d.data(), d.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN) answers_.clear();
      break;
    }
    answers_.pop_front();
  }
}

void NetlinkSocket::pump() {
  if (done_) return;
  // The 64 KiB buffer only when there is something to read, which most pumps do not find.
  ReadBuffer room(host_readable_ && host_ ? kMaxRequest : 0);
  const MutableByteView buf = room.bytes();
  while (host_readable_ && host_) {
    ssize_t n = ::recv(host_.get(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      host_readable_ = false;
      break;
    }
    if (n == 0) {
      // An empty request (nothing to answer) or the end; see UdpSocket::drain_host.
      host_readable_ = false;
      break;
    }
    answer(ByteView(buf).first(std::min(static_cast<size_t>(n), buf.size())));
  }
  flush_answers();
  resume_parked();
  if (host_hangup_) {
    emulator_.loop().unwatch_fd_closing(host_.get());
    host_.reset();
    done_ = true;
    emulator_.counters().sockets_closed++;
  }
}

void NetlinkSocket::handle_call(Call& call) {
  const int nr = call.req.nr;
  switch (nr) {
    case SYS_bind: {
      std::vector<std::byte> raw(std::min<uint64_t>(call.req.args[2], kSockaddrMaxSize));
      if (auto s = emulator_.read(call, call.req.args[1], raw); !s) {
        (void)emulator_.reply_error(call, s.error());
        return;
      }
      auto addr = decode_sockaddr(raw);
      if (!addr || addr->family != AF_NETLINK) {
        (void)emulator_.reply_error(call, EINVAL);
        return;
      }
      if (addr->netlink_pid != 0) {
        if (port_ != 0 && port_ != addr->netlink_pid) {
          (void)emulator_.reply_error(call, EINVAL);
          return;
        }
        port_ = addr->netlink_pid;
      }
      groups_ = addr->netlink_groups;  // accepted; the stack never announces changes
      (void)port();
      (void)emulator_.reply(call, 0);
      return;
    }
    case SYS_connect:
      (void)emulator_.reply(call, 0);
      return;
    case SYS_getsockname:
    case SYS_getpeername: {
      auto encoded = nr == SYS_getsockname ? encode_netlink(port(), groups_) : encode_netlink(0, 0);
      if (auto s = write_sockaddr(call, call.req.args[1], call.req.args[2], encoded); !s) {
        (void)emulator_.reply_error(call, s.error());
        return;
      }
      (void)emulator_.reply(call, 0);
      return;
    }
    case SYS_setsockopt: {
      const int level = call.req.arg_int(1);
      const int name = call.req.arg_int(2);
      if (handle_common_setsockopt(call, level, name, {})) return;
      auto v = read_int_option(call);
      if (!v) {
        (void)emulator_.reply_error(call, v.error());
        return;
      }
      if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_RCVBUFFORCE)) {
        receive_buffer_ = *v;
      } else if (level == SOL_SOCKET && (name == SO_SNDBUF || name == SO_SNDBUFFORCE)) {
        send_buffer_ = *v;
      } else if (level == SOL_NETLINK && name == NETLINK_EXT_ACK) {
        ext_ack_ = *v != 0;
      } else if (level == SOL_NETLINK && name == NETLINK_GET_STRICT_CHK) {
        strict_check_ = *v != 0;
      } else if (level == SOL_NETLINK) {
        // Group memberships, NO_ENOBUFS, CAP_ACK, LISTEN_ALL_NSID: accepted, nothing to do.
      } else if (level != SOL_SOCKET) {
        (void)emulator_.reply_error(call, ENOPROTOOPT);
        return;
      }
      (void)emulator_.reply(call, 0);
      return;
    }
    case SYS_getsockopt: {
      const int level = call.req.arg_int(1);
      const int name = call.req.arg_int(2);
      if (handle_common_getsockopt(call, level, name, {})) return;
      if (level == SOL_SOCKET && name == SO_RCVBUF) {
        reply_int_option(call, receive_buffer_ * 2);
      } else if (level == SOL_SOCKET && name == SO_SNDBUF) {
        reply_int_option(call, send_buffer_ * 2);
      } else if (level == SOL_SOCKET && name == SO_ERROR) {
        reply_int_option(call, 0);
      } else if (level == SOL_NETLINK && name == NETLINK_EXT_ACK) {
        reply_int_option(call, ext_ack_ ? 1 : 0);
      } else if (level == SOL_NETLINK && name == NETLINK_GET_STRICT_CHK) {
        reply_int_option(call, strict_check_ ? 1 : 0);
      } else {
        (void)emulator_.reply_error(call, ENOPROTOOPT);
      }
      return;
    }
    case SYS_sendto:
    case SYS_sendmsg:
    case SYS_sendmmsg:
      send(call);
      return;
    case SYS_recvfrom:
    case SYS_recvmsg:
    case SYS_recvmmsg:
      (void)receive(call, false);
      return;
    case SYS_shutdown:
      ::shutdown(call.file.get(), call.req.arg_int(1));
      (void)emulator_.reply(call, 0);
      return;
    default:
      (void)emulator_.reply_error(call, EOPNOTSUPP);
      return;
  }
}

void NetlinkSocket::send(Call& call) {
  // Requests the program sent natively are answered first: they came first.
  host_readable_ = true;
  pump();
  std::vector<std::byte> request;
  if (call.req.nr == SYS_sendto) {
    request.resize(std::min<uint64_t>(call.req.args[2], kMaxRequest));
    if (auto s = emulator_.read(call, call.req.args[1], request); !s) {
      (void)emulator_.reply_error(call, s.error());
      return;
    }
    answer(request);
    (void)emulator_.reply(call, static_cast<int64_t>(call.req.args[2]));
    return;
  }
  const bool many = call.req.nr == SYS_sendmmsg;
  const size_t count = many ? std::min<uint64_t>(call.req.args[2], kMaxIovecs) : 1;
  size_t done = 0;
  size_t first_length = 0;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t at = call.req.args[1] + i * kMmsghdrSize;
    std::array<std::byte, kMsghdrSize> raw;
    Status s = emulator_.read(call, at, raw);
    Result<MsgHdr> hdr = s ? decode_msghdr(raw) : Result<MsgHdr>(s.error());
    Result<std::vector<IoVec>> iov = Error::kBadAddress;
    if (hdr) {
      std::vector<std::byte> iov_raw(hdr->iov_count * kIovecSize);
      Status r = emulator_.read(call, hdr->iov, iov_raw);
      iov = r ? decode_iovecs(iov_raw, hdr->iov_count) : Result<std::vector<IoVec>>(r.error());
    }
    if (!iov) {
      if (done == 0) {
        (void)emulator_.reply_error(call, !hdr ? hdr.error() : iov.error());
        return;
      }
      break;
    }
    request.clear();
    for (const auto& v : *iov) {
      size_t n = std::min<uint64_t>(v.length, kMaxRequest - request.size());
      size_t at_end = request.size();
      request.resize(at_end + n);
      if (auto r = emulator_.read(call, v.base, MutableByteView(request).subspan(at_end, n)); !r) {
        if (done == 0) (void)emulator_.reply_error(call, r.error());
        return;
      }
    }
    answer(request);
    if (many) {
      std::array<std::byte, 4> len;
      store_host<uint32_t>(len, 0, static_cast<uint32_t>(request.size()));
      (void)emulator_.write(call, at + kMmsghdrLenOffset, len);
    }
    if (done == 0) first_length = request.size();
    ++done;
  }
  (void)emulator_.reply(call, static_cast<int64_t>(many ? done : first_length));
}

bool NetlinkSocket::resume(const ParkedCall& parked) {
  Call call;
  call.req = parked.req;
  auto file = emulator_.tracee().get_fd(parked.req, parked.req.arg_int(0));
  if (!file) {
    (void)emulator_.tracee().reply_error(parked.req, EBADF);
    return true;
  }
  call.file = std::move(*file);
  return receive(call, true);
}

bool NetlinkSocket::receive(Call& call, bool parked) {
  const int nr = call.req.nr;
  const int flags = nr == SYS_recvmsg ? call.req.arg_int(2) : call.req.arg_int(3);
  const bool dontwait = call.nonblocking() || (flags & MSG_DONTWAIT) != 0;
  flush_answers();
  // The next answer, peeked from the program's own end; consumed once the call is answered.
  ReadBuffer room(kMaxRequest + 32768);
  const MutableByteView buf = room.bytes();
  ssize_t got = ::recv(call.file.get(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);
  if (got < 0) {
    if (parked) return false;
    if (dontwait) {
      (void)emulator_.reply_error(call, EAGAIN);
    } else {
      park(call, receive_timeout(), EAGAIN);
    }
    return true;
  }
  const size_t full = static_cast<size_t>(got);
  const ByteView datagram = ByteView(buf).first(std::min(full, buf.size()));
  auto kernel = encode_netlink(0, 0);
  size_t copied = 0;
  if (nr == SYS_recvfrom) {
    copied = std::min<uint64_t>(call.req.args[2], datagram.size());
    if (auto s = emulator_.write(call, call.req.args[1], datagram.first(copied)); !s) {
      (void)emulator_.reply_error(call, s.error());
      return true;
    }
    if (auto s = write_sockaddr(call, call.req.args[4], call.req.args[5], kernel); !s) {
      (void)emulator_.reply_error(call, s.error());
      return true;
    }
  } else {
    std::array<std::byte, kMsghdrSize> raw;
    if (auto s = emulator_.read(call, call.req.args[1], raw); !s) {
      (void)emulator_.reply_error(call, s.error());
      return true;
    }
    auto hdr = decode_msghdr(raw);
    if (!hdr) {
      (void)emulator_.reply_error(call, hdr.error());
      return true;
    }
    std::vector<std::byte> iov_raw(hdr->iov_count * kIovecSize);
    if (auto s = emulator_.read(call, hdr->iov, iov_raw); !s) {
      (void)emulator_.reply_error(call, s.error());
      return true;
    }
    auto iov = decode_iovecs(iov_raw, hdr->iov_count);
    if (!iov) {
      (void)emulator_.reply_error(call, iov.error());
      return true;
    }
    for (const auto& v : *iov) {
      if (copied >= datagram.size()) break;
      size_t n = std::min<uint64_t>(v.length, datagram.size() - copied);
      if (auto s = emulator_.write(call, v.base, datagram.subspan(copied, n)); !s) {
        (void)emulator_.reply_error(call, s.error());
        return true;
      }
      copied += n;
    }
    std::array<std::byte, 4> u32;
    if (hdr->name != 0) {
      size_t n = std::min<size_t>(hdr->name_length, kernel.size());
      (void)emulator_.write(call, hdr->name, ByteView(kernel).first(n));
      store_host<uint32_t>(u32, 0, static_cast<uint32_t>(kernel.size()));
      (void)emulator_.write(call, call.req.args[1] + kMsghdrNameLenOffset, u32);
    }
    std::array<std::byte, 8> u64{};
    (void)emulator_.write(call, call.req.args[1] + kMsghdrControlLenOffset, u64);
    store_host<int32_t>(u32, 0, copied < full ? MSG_TRUNC : 0);
    (void)emulator_.write(call, call.req.args[1] + kMsghdrFlagsOffset, u32);
  }
  const int64_t result = (flags & MSG_TRUNC) ? static_cast<int64_t>(full) : static_cast<int64_t>(copied);
  if (emulator_.reply(call, result) && (flags & MSG_PEEK) == 0) {
    char discard;
    (void)::recv(call.file.get(), &discard, 1, MSG_DONTWAIT | MSG_TRUNC);
  }
  emulator_.mark_dirty(*this);
  return true;
}

}  // namespace weir::sandbox
