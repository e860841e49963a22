#include "sandbox/udp_socket.h"

#include <asm/ioctls.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "sandbox/native.h"
#include "sandbox/sockaddr.h"
#include "udp/wire.h"

namespace weir::sandbox {

namespace {

// Larger than any UDP payload (65,527 bytes over IPv6), so a peek sees a datagram whole.
constexpr size_t kMaxDatagram = 65536;

int doubled(int v) { return v > (INT32_MAX / 2) ? INT32_MAX : v * 2; }

AddressFamily family_of(int domain) {
  return domain == AF_INET6 ? AddressFamily::kIpv6 : AddressFamily::kIpv4;
}

}  // namespace

UdpSocket::UdpSocket(Emulator& emulator, int domain, int type, ino_t inode, UniqueFd host,
                     std::unique_ptr<udp::Endpoint> endpoint)
    : EmulatedSocket(emulator, SocketKind::kUdp, domain, type, IPPROTO_UDP, inode, std::move(host)),
      endpoint_(std::move(endpoint)),
      waiter_(~EventMask{0}, [this](EventMask) { emulator_.mark_dirty(*this); }) {
  endpoint_->waiters().add(waiter_);
}

UdpSocket::~UdpSocket() {
  waiter_.detach();
  endpoint_->close();
}

uint64_t UdpSocket::hash_of(ByteView data) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a: cheap, and only has to tell datagrams apart
  for (std::byte b : data) {
    h ^= std::to_integer<uint8_t>(b);
    h *= 0x100000001b3ull;
  }
  return h;
}

std::optional<SocketState> UdpSocket::state() const {
  if (done_) return std::nullopt;
  SocketState s;
  s.protocol = IPPROTO_UDP;
  s.family = family_of(domain());
  s.local = endpoint_->local_address();
  if (auto remote = endpoint_->remote_address()) {
    s.remote = *remote;
    s.linux_state = 1;  // TCP_ESTABLISHED, as Linux shows a connected UDP socket
  } else {
    s.remote = SocketAddress{IpAddress::any(s.family), 0};
    s.linux_state = 7;  // TCP_CLOSE
  }
  s.receive_queue = static_cast<uint32_t>(endpoint_->queued_bytes());
  s.inode = inode();
  s.v6only = v6only_;
  return s;
}

// ---- the data path ------------------------------------------------------------------------

void UdpSocket::pump() {
  if (done_) return;
  drain_host();
  resume_parked();
  if (!has_parked()) push_to_host();
  if (host_hangup_) {
    endpoint_->close();
    emulator_.loop().unwatch_fd_closing(host_.get());
    host_.reset();
    done_ = true;
    emulator_.counters().sockets_closed++;
  }
}

void UdpSocket::drain_host() {
  // Every pump comes here, most with nothing to read: the 64 KiB buffer only when there is.
  if (!host_readable_ || !host_) return;
  ReadBuffer room(kMaxDatagram);
  const MutableByteView buf = room.bytes();
  while (host_readable_ && host_) {
    ssize_t n = ::recv(host_.get(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno != EINTR) host_readable_ = false;
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) {
      // A zero-length datagram, or the end: only the hang-up event tells them apart. It comes
      // with (or before) the end, so without it this is a datagram; and after one, wait for
      // the next event rather than read a possible end again.
      host_readable_ = false;
      if (host_read_closed_) break;
    }
    const size_t size = std::min(static_cast<size_t>(n), buf.size());
    // A plain send() on the program's end: only meaningful when connected (Linux would have
    // said EDESTADDRREQ; the native call could not).
    keep_error();
    if (!endpoint_->connected() || !send_datagram(ByteView(buf).first(size), std::nullopt)) {
      emulator_.counters().udp_send_dropped++;
    }
  }
}

void UdpSocket::push_to_host() {
  while (host_) {
    if (!held_) {
      keep_error();
      auto d = endpoint_->receive_packet();
      if (!d) break;
      held_ = std::move(*d);
    }
    std::vector<iovec> iov;
    held_->payload.for_each_view([&](ByteView v) {
      iov.push_back(iovec{const_cast<std::byte*>(v.data()), v.size()});  // sendmsg only reads
    });
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    ssize_t n = ::sendmsg(host_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) break;
      held_.reset();  // the program's end no longer reads
      break;
    }
    Metadata m;
    m.from = held_->from;
    m.destination = held_->destination;
    m.nic = held_->nic;
    m.size = held_->payload.size();
    m.hash = hash_of(held_->payload.to_vector());
    in_pair_.push_back(std::move(m));
    held_.reset();
  }
}

void UdpSocket::keep_error() {
  if (endpoint_->readiness() & kEventError) {
    if (auto e = endpoint_->take_error()) icmp_error_ = *e;
  }
}

std::optional<Error> UdpSocket::take_icmp_error() {
  keep_error();
  return std::exchange(icmp_error_, std::nullopt);
}

Status UdpSocket::send_datagram(ByteView payload, const std::optional<SocketAddress>& to) {
  endpoint_->set_broadcast(kept_flag(SOL_SOCKET, SO_BROADCAST));
  auto n = endpoint_->send_to(payload, to);
  if (!n) return n.error();
  return ok_status();
}

Result<std::optional<UdpSocket::Received>> UdpSocket::take(Call& call, size_t max, bool peek) {
  peeked_from_pair_ = false;
  if (auto e = take_icmp_error()) return *e;
  if (!in_pair_.empty()) {
    ReadBuffer room(kMaxDatagram);
    const MutableByteView buf = room.bytes();
    ssize_t n = ::recv(call.file.get(), buf.data(), buf.size(),
                       MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);
    if (n < 0) {
      in_pair_.clear();  // the program read them natively
    } else {
      const size_t size = static_cast<size_t>(n);
      const uint64_t h = hash_of(ByteView(buf).first(std::min(size, buf.size())));
      while (!in_pair_.empty() && !(in_pair_.front().size == size && in_pair_.front().hash == h)) {
        in_pair_.pop_front();
        emulator_.counters().udp_datagrams_unmatched++;
      }
      Received r;
      r.full_size = size;
      r.data.assign(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(std::min({size, max, buf.size()})));
      if (!in_pair_.empty()) {
        r.meta = in_pair_.front();
      } else {
        // A datagram whose record is gone: the best answer is the connected peer.
        r.meta.from = endpoint_->remote_address().value_or(
            SocketAddress{IpAddress::any(family_of(domain())), 0});
      }
      peeked_from_pair_ = !peek;
      return std::optional<Received>(std::move(r));
    }
  }
  if (held_) {
    Received r;
    r.full_size = held_->payload.size();
    r.data.resize(std::min(max, r.full_size));
    held_->payload.copy_out(0, r.data);
    r.meta.from = held_->from;
    r.meta.destination = held_->destination;
    r.meta.nic = held_->nic;
    if (!peek) held_.reset();
    return std::optional<Received>(std::move(r));
  }
  std::vector<std::byte> buf(std::min(max, kMaxDatagram));
  udp::ReceiveOptions options;
  options.peek = peek;
  auto info = endpoint_->receive_from(buf, options);
  if (!info) {
    if (info.error() == Error::kWouldBlock) return std::optional<Received>();
    return info.error();
  }
  Received r;
  buf.resize(info->size);
  r.data = std::move(buf);
  r.full_size = info->full_size;
  r.meta.from = info->from;
  r.meta.destination = info->destination;
  r.meta.nic = info->nic;
  return std::optional<Received>(std::move(r));
}

void UdpSocket::consume_peeked(Call& call) {
  if (!peeked_from_pair_) return;
  peeked_from_pair_ = false;
  char discard;
  if (::recv(call.file.get(), &discard, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0 && !in_pair_.empty()) {
    in_pair_.pop_front();
  }
}

std::vector<ControlMessage> UdpSocket::control_for(const Metadata& meta) const {
  std::vector<ControlMessage> out;
  if (kept_flag(IPPROTO_IP, IP_PKTINFO) &&
      (meta.destination.is_v4() || is_v4_mapped(meta.destination))) {
    // struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
    ControlMessage m{IPPROTO_IP, IP_PKTINFO, std::vector<std::byte>(12)};
    store_host<int32_t>(m.data, 0, static_cast<int32_t>(meta.nic));
    IpAddress dst = unmap_v4(meta.destination);
    copy_bytes(m.data, 4, dst.bytes());
    copy_bytes(m.data, 8, dst.bytes());
    out.push_back(std::move(m));
  }
  if (kept_flag(IPPROTO_IPV6, IPV6_RECVPKTINFO) && domain() == AF_INET6) {
    // struct in6_pktinfo { in6_addr addr; int ifindex; }
    ControlMessage m{IPPROTO_IPV6, IPV6_PKTINFO, std::vector<std::byte>(20)};
    IpAddress dst = meta.destination.is_v4() ? map_v4(meta.destination.v4()) : meta.destination;
    copy_bytes(m.data, 0, dst.bytes());
    store_host<int32_t>(m.data, 16, static_cast<int32_t>(meta.nic));
    out.push_back(std::move(m));
  }
  if (kept_flag(SOL_SOCKET, SO_TIMESTAMP_OLD)) {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    ControlMessage m{SOL_SOCKET, SO_TIMESTAMP_OLD, encode_timeval(std::nullopt)};
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    store_host<int64_t>(m.data, 0, us / 1'000'000);
    store_host<int64_t>(m.data, 8, us % 1'000'000);
    out.push_back(std::move(m));
  }
  return out;
}

// ---- calls --------------------------------------------------------------------------------

void UdpSocket::handle_call(Call& call) {
  switch (call.req.nr) {
    case SYS_connect:
      connect(call);
      return;
    case SYS_bind:
      bind(call);
      return;
    case SYS_getsockname:
      name(call, false);
      return;
    case SYS_getpeername:
      name(call, true);
      return;
    case SYS_getsockopt:
      getsockopt(call);
      return;
    case SYS_setsockopt:
      setsockopt(call);
      return;
    case SYS_shutdown:
      shutdown(call);
      return;
    case SYS_ioctl:
      ioctl(call);
      return;
    case SYS_recvfrom:
    case SYS_recvmsg:
    case SYS_recvmmsg:
      (void)receive(call, false);
      return;
    case SYS_sendto:
    case SYS_sendmsg:
    case SYS_sendmmsg:
      send(call);
      return;
    case SYS_listen:
    case SYS_accept:
    case SYS_accept4:
      (void)emulator_.reply_error(call, EOPNOTSUPP);
      return;
    default:
      (void)emulator_.reply_error(call, EOPNOTSUPP);
      return;
  }
}

bool UdpSocket::resume(const ParkedCall& parked) {
  if (in_pair_.empty() && !held_ && endpoint_->queued_datagrams() == 0 &&
      !icmp_error_ && !(endpoint_->readiness() & (kEventError | kEventHangup))) {
    return false;
  }
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

void UdpSocket::connect(Call& call) {
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
    (void)endpoint_->disconnect();
    (void)emulator_.reply(call, 0);
    return;
  }
  if (addr->family != domain()) {
    (void)emulator_.reply_error(call, EAFNOSUPPORT);
    return;
  }
  endpoint_->set_broadcast(kept_flag(SOL_SOCKET, SO_BROADCAST));
  Status s = endpoint_->connect(addr->inet);
  if (!s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  (void)emulator_.reply(call, 0);
}

void UdpSocket::bind(Call& call) {
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
    if (addr->family != AF_INET && !(addr->family == AF_UNSPEC && local.address.is_unspecified())) {
      (void)emulator_.reply_error(call, EAFNOSUPPORT);
      return;
    }
    if (!local.address.is_v4()) local.address = IpAddress::any(AddressFamily::kIpv4);
  } else if (addr->family != AF_INET6) {
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

void UdpSocket::name(Call& call, bool peer) {
  SocketAddress address;
  if (peer) {
    auto remote = endpoint_->remote_address();
    if (!remote) {
      (void)emulator_.reply_error(call, ENOTCONN);
      return;
    }
    address = *remote;
  } else {
    address = endpoint_->local_address();
  }
  auto encoded = encode_inet(domain(), address);
  if (auto s = write_sockaddr(call, call.req.args[1], call.req.args[2], encoded); !s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  (void)emulator_.reply(call, 0);
}

bool UdpSocket::receive(Call& call, bool parked) {
  const int nr = call.req.nr;
  const int flags = nr == SYS_recvmsg ? call.req.arg_int(2) : call.req.arg_int(3);
  if (flags & MSG_ERRQUEUE) {
    (void)emulator_.reply_error(call, EAGAIN);  // no extended errors are ever queued
    return true;
  }
  const bool peek = (flags & MSG_PEEK) != 0;
  const bool dontwait = call.nonblocking() || (flags & MSG_DONTWAIT) != 0;

  // What each message asks for: a buffer (or iovecs), and where its address goes.
  struct Target {
    uint64_t msghdr_addr = 0;  // recvmsg/recvmmsg: the msghdr to update
    MsgHdr hdr;
    std::vector<IoVec> iov;
    uint64_t name = 0;
    uint64_t name_len_ptr = 0;  // recvfrom: socklen_t*
    size_t capacity = 0;
  };
  auto load_msghdr = [&](uint64_t at, Target& t) -> Status {
    std::array<std::byte, kMsghdrSize> raw;
    WEIR_TRY(emulator_.read(call, at, raw));
    auto hdr = decode_msghdr(raw);
    if (!hdr) return hdr.error();
    t.msghdr_addr = at;
    t.hdr = *hdr;
    std::vector<std::byte> iov_raw(hdr->iov_count * kIovecSize);
    WEIR_TRY(emulator_.read(call, hdr->iov, iov_raw));
    auto iov = decode_iovecs(iov_raw, hdr->iov_count);
    if (!iov) return iov.error();
    auto total = total_length(*iov);
    if (!total) return total.error();
    t.iov = std::move(*iov);
    t.capacity = *total;
    return ok_status();
  };
  // Writes one received datagram into target t; returns the byte count the call reports.
  auto deliver = [&](Target& t, const Received& r) -> Result<size_t> {
    auto encoded = encode_inet(domain(), r.meta.from);
    if (nr == SYS_recvfrom) {
      WEIR_TRY(emulator_.write(call, call.req.args[1], r.data));
      if (t.name != 0) WEIR_TRY(write_sockaddr(call, t.name, t.name_len_ptr, encoded));
    } else {
      size_t off = 0;
      for (const auto& v : t.iov) {
        if (off >= r.data.size()) break;
        size_t n = std::min<uint64_t>(v.length, r.data.size() - off);
        WEIR_TRY(emulator_.write(call, v.base, ByteView(r.data).subspan(off, n)));
        off += n;
      }
      std::array<std::byte, 4> u32;
      if (t.hdr.name != 0) {
        size_t n = std::min<size_t>(t.hdr.name_length, encoded.size());
        WEIR_TRY(emulator_.write(call, t.hdr.name, ByteView(encoded).first(n)));
        store_host<uint32_t>(u32, 0, static_cast<uint32_t>(encoded.size()));
        WEIR_TRY(emulator_.write(call, t.msghdr_addr + kMsghdrNameLenOffset, u32));
      }
      bool ctrunc = false;
      auto control = encode_control(control_for(r.meta), t.hdr.control != 0 ? t.hdr.control_length : 0,
                                    &ctrunc);
      if (!control.empty()) WEIR_TRY(emulator_.write(call, t.hdr.control, control));
      std::array<std::byte, 8> u64;
      store_host<uint64_t>(u64, 0, control.size());
      WEIR_TRY(emulator_.write(call, t.msghdr_addr + kMsghdrControlLenOffset, u64));
      int32_t out_flags = 0;
      if (r.data.size() < r.full_size) out_flags |= MSG_TRUNC;
      if (ctrunc) out_flags |= MSG_CTRUNC;
      store_host<int32_t>(u32, 0, out_flags);
      WEIR_TRY(emulator_.write(call, t.msghdr_addr + kMsghdrFlagsOffset, u32));
    }
    return (flags & MSG_TRUNC) ? r.full_size : r.data.size();
  };

  const size_t count = nr == SYS_recvmmsg ? std::min<uint64_t>(call.req.args[2], kMaxIovecs) : 1;
  if (count == 0) {
    (void)emulator_.reply(call, 0);
    return true;
  }
  size_t done = 0;
  size_t first_result = 0;
  for (size_t i = 0; i < count; ++i) {
    Target t;
    if (nr == SYS_recvfrom) {
      t.capacity = call.req.args[2];
      t.name = call.req.args[4];
      t.name_len_ptr = call.req.args[5];
    } else {
      const uint64_t at = nr == SYS_recvmsg ? call.req.args[1] : call.req.args[1] + i * kMmsghdrSize;
      if (auto s = load_msghdr(at, t); !s) {
        if (done == 0) (void)emulator_.reply_error(call, s.error());
        break;
      }
    }
    auto r = take(call, t.capacity, peek);
    if (!r) {
      if (done == 0) (void)emulator_.reply_error(call, r.error());
      break;
    }
    if (!r->has_value()) {
      if (done > 0) break;
      if (parked) return false;
      if (dontwait) {
        (void)emulator_.reply_error(call, EAGAIN);
      } else {
        park(call, receive_timeout(), EAGAIN);
      }
      return true;
    }
    auto n = deliver(t, **r);
    if (!n) {
      if (done == 0) (void)emulator_.reply_error(call, n.error());
      consume_peeked(call);
      break;
    }
    if (nr == SYS_recvmmsg) {
      std::array<std::byte, 4> len;
      store_host<uint32_t>(len, 0, static_cast<uint32_t>(*n));
      (void)emulator_.write(call, t.msghdr_addr + kMmsghdrLenOffset, len);
      consume_peeked(call);
    }
    if (done == 0) first_result = *n;
    ++done;
    if (nr != SYS_recvmmsg || peek) break;
  }
  if (done > 0) {
    if (nr == SYS_recvmmsg) {
      (void)emulator_.reply(call, static_cast<int64_t>(done));
    } else if (emulator_.reply(call, static_cast<int64_t>(first_result))) {
      consume_peeked(call);
    }
  }
  emulator_.mark_dirty(*this);
  return true;
}

void UdpSocket::send(Call& call) {
  const int nr = call.req.nr;
  // Datagrams the program sent natively go first: they were sent first.
  host_readable_ = true;
  drain_host();

  auto send_one = [&](ByteView payload, uint64_t name, uint64_t name_len) -> Result<size_t> {
    std::optional<SocketAddress> to;
    if (name != 0 && name_len != 0) {
      if (name_len > kSockaddrMaxSize) return Error::kInvalidArgument;
      std::vector<std::byte> raw(name_len);
      WEIR_TRY(emulator_.read(call, name, raw));
      auto addr = decode_sockaddr(raw);
      if (!addr) return addr.error();
      if (addr->family == AF_UNSPEC && domain() == AF_INET) {
        to = addr->inet;  // Linux takes AF_UNSPEC as AF_INET here
      } else if (addr->family != domain()) {
        return domain() == AF_INET6 ? Error::kInvalidArgument : Error::kAddressFamilyNotSupported;
      } else {
        to = addr->inet;
      }
    }
    if (payload.size() > udp::max_payload(family_of(domain()))) return Error::kMessageTooLong;
    WEIR_TRY(send_datagram(payload, to));
    return payload.size();
  };
  auto gather = [&](const MsgHdr& hdr) -> Result<std::vector<std::byte>> {
    std::vector<std::byte> iov_raw(hdr.iov_count * kIovecSize);
    WEIR_TRY(emulator_.read(call, hdr.iov, iov_raw));
    auto iov = decode_iovecs(iov_raw, hdr.iov_count);
    if (!iov) return iov.error();
    auto total = total_length(*iov);
    if (!total) return total.error();
    if (*total > kMaxDatagram) return Error::kMessageTooLong;
    std::vector<std::byte> data(*total);
    size_t off = 0;
    for (const auto& v : *iov) {
      WEIR_TRY(emulator_.read(call, v.base, MutableByteView(data).subspan(off, v.length)));
      off += v.length;
    }
    return data;
  };

  if (nr == SYS_sendto) {
    const uint64_t len = call.req.args[2];
    if (len > kMaxDatagram) {
      (void)emulator_.reply_error(call, EMSGSIZE);
      return;
    }
    std::vector<std::byte> data(len);
    if (auto s = emulator_.read(call, call.req.args[1], data); !s) {
      (void)emulator_.reply_error(call, s.error());
      return;
    }
    auto n = send_one(data, call.req.args[4], call.req.args[5]);
    if (!n) {
      (void)emulator_.reply_error(call, n.error());
      return;
    }
    (void)emulator_.reply(call, static_cast<int64_t>(*n));
    return;
  }
  const size_t count = nr == SYS_sendmsg ? 1 : std::min<uint64_t>(call.req.args[2], kMaxIovecs);
  size_t done = 0;
  size_t first_result = 0;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t at = nr == SYS_sendmsg ? call.req.args[1] : call.req.args[1] + i * kMmsghdrSize;
    std::array<std::byte, kMsghdrSize> raw;
    Result<size_t> n = Error::kBadAddress;
    if (emulator_.read(call, at, raw)) {
      auto hdr = decode_msghdr(raw);
      if (!hdr) {
        n = hdr.error();
      } else if (auto data = gather(*hdr); !data) {
        n = data.error();
      } else {
        n = send_one(*data, hdr->name, hdr->name_length);
      }
    }
    if (!n) {
      if (done == 0) {
        (void)emulator_.reply_error(call, n.error());
        return;
      }
      break;
    }
    if (nr == SYS_sendmmsg) {
      std::array<std::byte, 4> len;
      store_host<uint32_t>(len, 0, static_cast<uint32_t>(*n));
      (void)emulator_.write(call, at + kMmsghdrLenOffset, len);
    }
    if (done == 0) first_result = *n;
    ++done;
  }
  (void)emulator_.reply(call, static_cast<int64_t>(nr == SYS_sendmmsg ? done : first_result));
}

void UdpSocket::shutdown(Call& call) {
  const int how = call.req.arg_int(1);
  if (how < SHUT_RD || how > SHUT_RDWR) {
    (void)emulator_.reply_error(call, EINVAL);
    return;
  }
  Status s = endpoint_->shutdown(how == SHUT_RD   ? udp::ShutdownHow::kRead
                                 : how == SHUT_WR ? udp::ShutdownHow::kWrite
                                                  : udp::ShutdownHow::kBoth);
  if (how != SHUT_RD) ::shutdown(call.file.get(), SHUT_WR);
  if (how != SHUT_WR && host_) ::shutdown(host_.get(), SHUT_WR);
  if (!s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  (void)emulator_.reply(call, 0);
}

void UdpSocket::ioctl(Call& call) {
  const unsigned long request = call.req.args[1];
  int value = 0;
  if (request == FIONREAD) {
    // The size of the next datagram, as Linux's UDP reports it.
    char probe;
    ssize_t n = in_pair_.empty() ? -1
                                 : ::recv(call.file.get(), &probe, 1,
                                          MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);
    if (n >= 0) {
      value = static_cast<int>(n);
    } else if (held_) {
      value = static_cast<int>(held_->payload.size());
    } else {
      value = static_cast<int>(endpoint_->next_datagram_size());
    }
  } else if (request != TIOCOUTQ) {  // SIOCOUTQ: UDP keeps no send queue
    (void)emulator_.reply_error(call, ENOTTY);
    return;
  }
  if (auto s = emulator_.write(call, call.req.args[2], bytes_of(value)); !s) {
    (void)emulator_.reply_error(call, s.error());
    return;
  }
  (void)emulator_.reply(call, 0);
}

namespace {

// Options UDP keeps for programs to read back (and consults: IP_PKTINFO, IPV6_RECVPKTINFO).
constexpr KeptOption kUdpKept[] = {
    {IPPROTO_IP, IP_PKTINFO, 0, true},        {IPPROTO_IP, IP_RECVTTL, 0, true},
    {IPPROTO_IP, IP_RECVTOS, 0, true},        {IPPROTO_IP, IP_RECVERR, 0, true},
    {IPPROTO_IP, IP_MTU_DISCOVER, 1},         {IPPROTO_IP, IP_MULTICAST_LOOP, 1, true},
    {IPPROTO_IP, IP_MULTICAST_ALL, 1, true},  {IPPROTO_IP, IP_FREEBIND, 0, true},
    {IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 0, true},
    {IPPROTO_IPV6, IPV6_RECVPKTINFO, 0, true}, {IPPROTO_IPV6, IPV6_RECVERR, 0, true},
    {IPPROTO_IPV6, IPV6_MTU_DISCOVER, 1},     {IPPROTO_IPV6, IPV6_TCLASS, 0},
    {IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 1, true}, {IPPROTO_IPV6, IPV6_MULTICAST_IF, 0},
    {IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 0, true}, {IPPROTO_IPV6, IPV6_RECVTCLASS, 0, true},
};

}  // namespace

bool UdpSocket::kept_flag(int level, int name) const { return kept_value(level, name, kUdpKept) != 0; }

void UdpSocket::getsockopt(Call& call) {
  const int level = call.req.arg_int(1);
  const int name = call.req.arg_int(2);
  if (level == IPPROTO_IPV6 && domain() != AF_INET6) {
    (void)emulator_.reply_error(call, ENOPROTOOPT);
    return;
  }
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_ERROR: {
        auto e = take_icmp_error();
        reply_int_option(call, e ? to_errno(*e) : 0);
        return;
      }
      case SO_ACCEPTCONN:
        reply_int_option(call, 0);
        return;
      case SO_RCVBUF:
        reply_int_option(call, receive_buffer_set_ != 0 ? doubled(receive_buffer_set_)
                                                        : static_cast<int>(endpoint_->receive_buffer()));
        return;
      case SO_SNDBUF:
        reply_int_option(call, send_buffer_set_ != 0 ? doubled(send_buffer_set_)
                                                     : static_cast<int>(endpoint_->send_buffer()));
        return;
      case SO_REUSEADDR:
        reply_int_option(call, endpoint_->reuse_address() ? 1 : 0);
        return;
      case SO_REUSEPORT:
        reply_int_option(call, endpoint_->reuse_port() ? 1 : 0);
        return;
      default:
        break;
    }
  } else if (level == IPPROTO_IP) {
    switch (name) {
      case IP_TOS:
        reply_int_option(call, endpoint_->tos());
        return;
      case IP_TTL:
        reply_int_option(call, endpoint_->ttl() != 0 ? endpoint_->ttl() : 64);
        return;
      case IP_MULTICAST_TTL:
        reply_int_option(call, endpoint_->multicast_ttl());
        return;
      default:
        break;
    }
  } else if (level == IPPROTO_IPV6) {
    switch (name) {
      case IPV6_V6ONLY:
        reply_int_option(call, v6only_ ? 1 : 0);
        return;
      case IPV6_UNICAST_HOPS:
        reply_int_option(call, endpoint_->ttl() != 0 ? endpoint_->ttl() : 64);
        return;
      case IPV6_MULTICAST_HOPS:
        reply_int_option(call, endpoint_->multicast_ttl());
        return;
      default:
        break;
    }
  }
  if (handle_common_getsockopt(call, level, name, kUdpKept)) return;
  (void)emulator_.reply_error(call, ENOPROTOOPT);
}

void UdpSocket::setsockopt(Call& call) {
  const int level = call.req.arg_int(1);
  const int name = call.req.arg_int(2);
  auto with_int = [&](const std::function<Status(int)>& apply) { set_int_option(call, apply); };
  auto hop_limit = [&](int v) -> Status {
    if (v == -1) v = 64;  // -1: the default
    if (v < 1 || v > 255) return Error::kInvalidArgument;
    endpoint_->set_ttl(static_cast<uint8_t>(v));
    return ok_status();
  };
  auto multicast_hops = [&](int v) -> Status {
    endpoint_->set_multicast_ttl(static_cast<uint8_t>(std::clamp(v, 0, 255)));
    return ok_status();
  };
  auto membership = [&](bool join, bool v6) {
    const uint64_t len = call.req.args[4];
    std::vector<std::byte> raw(std::min<uint64_t>(len, 20));
    if (auto s = emulator_.read(call, call.req.args[3], raw); !s) {
      (void)emulator_.reply_error(call, s.error());
      return;
    }
    IpAddress group;
    std::optional<NicId> nic;
    if (v6) {
      if (raw.size() < 20) {
        (void)emulator_.reply_error(call, EINVAL);
        return;
      }
      group = Ipv6Address::from_bytes(ByteView(raw).first(16));
      if (int idx = load_host<int32_t>(raw, 16); idx > 0) nic = static_cast<NicId>(idx);
    } else {
      if (raw.size() < 8) {
        (void)emulator_.reply_error(call, EINVAL);
        return;
      }
      group = Ipv4Address::from_bytes(ByteView(raw).first(4));
      if (raw.size() >= 12) {  // struct ip_mreqn: the interface by index
        if (int idx = load_host<int32_t>(raw, 8); idx > 0) nic = static_cast<NicId>(idx);
      }
    }
    Status s = join ? endpoint_->join_group(group, nic) : endpoint_->leave_group(group, nic);
    if (!s) {
      (void)emulator_.reply_error(call, s.error());
      return;
    }
    (void)emulator_.reply(call, 0);
  };
  if (level == IPPROTO_IPV6 && domain() != AF_INET6) {
    (void)emulator_.reply_error(call, ENOPROTOOPT);
    return;
  }
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_RCVBUF:
      case SO_RCVBUFFORCE:
        with_int([&](int v) {
          receive_buffer_set_ = std::clamp(v, 1152, 64 << 20);
          endpoint_->set_receive_buffer(static_cast<size_t>(doubled(receive_buffer_set_)));
          return ok_status();
        });
        return;
      case SO_SNDBUF:
      case SO_SNDBUFFORCE:
        with_int([&](int v) {
          send_buffer_set_ = std::clamp(v, 2304, 64 << 20);
          endpoint_->set_send_buffer(static_cast<size_t>(doubled(send_buffer_set_)));
          return ok_status();
        });
        return;
      case SO_REUSEADDR:
        with_int([&](int v) {
          endpoint_->set_reuse_address(v != 0);
          return ok_status();
        });
        return;
      case SO_REUSEPORT:
        with_int([&](int v) {
          endpoint_->set_reuse_port(v != 0);
          return ok_status();
        });
        return;
      case SO_BINDTODEVICE:
        (void)emulator_.reply(call, 0);
        return;
      default:
        break;
    }
  } else if (level == IPPROTO_IP) {
    switch (name) {
      case IP_TOS:
        with_int([&](int v) {
          endpoint_->set_tos(static_cast<uint8_t>(v & 0xff));
          return ok_status();
        });
        return;
      case IP_TTL:
        with_int(hop_limit);
        return;
      case IP_MULTICAST_TTL:
        with_int(multicast_hops);
        return;
      case IP_MULTICAST_IF:
        (void)emulator_.reply(call, 0);
        return;
      case IP_ADD_MEMBERSHIP:
        membership(true, false);
        return;
      case IP_DROP_MEMBERSHIP:
        membership(false, false);
        return;
      default:
        break;
    }
  } else if (level == IPPROTO_IPV6) {
    switch (name) {
      case IPV6_V6ONLY:
        with_int([&](int v) {
          v6only_ = v != 0;
          return endpoint_->set_v6only(v6only_);
        });
        return;
      case IPV6_UNICAST_HOPS:
        with_int(hop_limit);
        return;
      case IPV6_MULTICAST_HOPS:
        with_int(multicast_hops);
        return;
      case IPV6_JOIN_GROUP:
        membership(true, true);
        return;
      case IPV6_LEAVE_GROUP:
        membership(false, true);
        return;
      default:
        break;
    }
  }
  if (handle_common_setsockopt(call, level, name, kUdpKept)) return;
  (void)emulator_.reply_error(call, ENOPROTOOPT);
}

}  // namespace weir::sandbox
