#include "sandbox/emulator.h"

#include <asm/ioctls.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/openat2.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <string_view>
#include <unordered_map>

#include "sandbox/native.h"
#include "sandbox/netlink_route.h"
#include "sandbox/netlink_socket.h"
#include "sandbox/ifreq.h"
#include "sandbox/proc_net.h"
#include "sandbox/sock_diag.h"
#include "sandbox/socket.h"
#include "sandbox/tcp_socket.h"
#include "sandbox/udp_socket.h"
#include "stack/nic.h"
#include "tcp/endpoint.h"
#include "udp/endpoint.h"

namespace weir::sandbox {

namespace {

constexpr auto kSweepInterval = std::chrono::seconds(1);
constexpr size_t kMaxPath = 4096;
constexpr int kSocketTypeMask = 0xf;
constexpr unsigned long kIfreqSize = 40;
constexpr unsigned long kIfconfSize = 16;

bool is_interface_ioctl(unsigned long request) {
  // SIOCGIF* / SIOCSIF*: 0x8910..0x8940 and the few after; the socket-level ones (SIOCATMARK,
  // SIOCGSTAMP, SIOCINQ/OUTQ) are the socket's own.
  return request >= 0x8910 && request <= 0x8970 && request != SIOCOUTQNSD;
}

}  // namespace

// The file name under /proc/.../net/ that `path` opens, if it opens one of the per-namespace
// network files: /proc/net/X, /proc/self/net/X, /proc/thread-self/net/X, /proc/N/net/X,
// /proc/N/task/M/net/X.
std::optional<std::string> proc_net_name(std::string_view path) {
  // Collapse "//" and "/./" so spelling does not matter.
  std::string clean;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '/' && !clean.empty() && clean.back() == '/') continue;
    clean.push_back(path[i]);
    if (clean.size() >= 3 && clean.compare(clean.size() - 3, 3, "/./") == 0) clean.resize(clean.size() - 2);
  }
  std::vector<std::string> parts;
  size_t start = 1;
  if (clean.empty() || clean[0] != '/') return std::nullopt;
  while (start <= clean.size()) {
    size_t slash = clean.find('/', start);
    if (slash == std::string::npos) slash = clean.size();
    if (slash > start) parts.push_back(clean.substr(start, slash - start));
    start = slash + 1;
  }
  auto numeric = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (parts.size() < 3 || parts[0] != "proc") return std::nullopt;
  size_t i = 1;
  if (parts[i] == "self" || parts[i] == "thread-self" || numeric(parts[i])) {
    ++i;
    if (i + 1 < parts.size() && parts[i] == "task" && numeric(parts[i + 1])) i += 2;
  }
  if (i + 2 != parts.size() || parts[i] != "net") return std::nullopt;
  return parts[i + 1];
}


bool Call::nonblocking() const {
  if (!nonblocking_) nonblocking_ = file && (::fcntl(file.get(), F_GETFL) & O_NONBLOCK) != 0;
  return *nonblocking_;
}

Emulator::Emulator(Stack& stack, Loop& loop, Tracee& tracee, EmulatorOptions options)
    : stack_(stack),
      loop_(loop),
      tracee_(tracee),
      options_(std::move(options)),
      sweep_timer_([this] {
        sweep_parked();
        collect_zombies();
        stack_.timers().arm_after(sweep_timer_, kSweepInterval);
      }) {
  stack_.timers().arm_after(sweep_timer_, kSweepInterval);
}

Emulator::~Emulator() {
  sweep_timer_.cancel();
  sockets_.clear();
}

// ---- answers and memory -------------------------------------------------------------------

Status Emulator::reply(const Call& call, int64_t value) {
  Status s = tracee_.reply(call.req, value);
  if (!s) counters_.answer_lost++;
  return s;
}

Status Emulator::reply_error(const Call& call, int error) {
  Status s = tracee_.reply_error(call.req, error);
  if (!s) counters_.answer_lost++;
  return s;
}

Status Emulator::read(const Call& call, uint64_t addr, MutableByteView out) {
  Status s = tracee_.read_memory(call.req, addr, out);
  if (!s && s.error() == Error::kBadAddress) counters_.bad_address++;
  return s;
}

Status Emulator::write(const Call& call, uint64_t addr, ByteView data) {
  Status s = tracee_.write_memory(call.req, addr, data);
  if (!s && s.error() == Error::kBadAddress) counters_.bad_address++;
  return s;
}

Result<std::pair<UniqueFd, UniqueFd>> Emulator::make_pair(int type, bool program_nonblocking) {
  int fds[2];
  // The pair is made as the program's end must be, and the host end is left so: every read and
  // write on a host end passes MSG_DONTWAIT, so its own flag does not matter, and a blocking
  // socket costs no fcntl where clearing O_NONBLOCK on the program's end took one.
  const int nonblocking = program_nonblocking ? SOCK_NONBLOCK : 0;
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC | nonblocking, 0, fds) != 0) {
    return error_from_errno(errno);
  }
  UniqueFd program(fds[0]);
  UniqueFd host(fds[1]);
  for (int fd : fds) {
    const int size = options_.pair_buffer;
    // Past net.core.wmem_max only with CAP_NET_ADMIN; without it the capped size still works.
    if (!force_pair_buffer_ ||
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) {
      force_pair_buffer_ = false;
      (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
  }
  return std::make_pair(std::move(program), std::move(host));
}

EmulatedSocket& Emulator::adopt(std::unique_ptr<EmulatedSocket> socket) {
  EmulatedSocket& s = *socket;
  sockets_[s.inode()] = std::move(socket);
  (void)s.watch();
  counters_.sockets_created++;
  return s;
}

Result<int> Emulator::install(const Call& call, UniqueFd program_end, bool cloexec) {
  auto fd = tracee_.reply_with_fd(call.req, program_end.get(), cloexec);
  if (!fd) counters_.answer_lost++;
  return fd;
}

void Emulator::seen_at(ino_t inode, pid_t tid, int fd) { locations_[inode] = Location{tid, fd}; }

Result<UniqueFd> Emulator::find_program_file(ino_t inode) {
  auto it = locations_.find(inode);
  pid_t tid = it != locations_.end() ? it->second.tid : 0;
  int fd = it != locations_.end() ? it->second.fd : -1;
  return tracee_.find_file(inode, tid, fd);
}

void Emulator::mark_dirty(EmulatedSocket& s) {
  dirty_.push_back(s.inode());
  if (!flush_posted_) {
    flush_posted_ = true;
    loop_.post([this] { flush_dirty(); });
  }
}

void Emulator::flush_dirty() {
  flush_posted_ = false;
  // Pumping may mark more sockets dirty: they wait for the next round (already posted).
  std::vector<ino_t> batch;
  batch.swap(dirty_);
  std::sort(batch.begin(), batch.end());
  batch.erase(std::unique(batch.begin(), batch.end()), batch.end());
  for (ino_t inode : batch) {
    auto it = sockets_.find(inode);
    if (it == sockets_.end()) continue;
    it->second->pump();
    if (it->second->finished()) {
      sockets_.erase(it);
      locations_.erase(inode);
    }
  }
}

void Emulator::sweep_parked() {
  const TimePoint now = stack_.now();
  std::sort(with_parked_.begin(), with_parked_.end());
  with_parked_.erase(std::unique(with_parked_.begin(), with_parked_.end()), with_parked_.end());
  std::erase_if(with_parked_, [&](ino_t inode) {
    auto it = sockets_.find(inode);
    if (it == sockets_.end() || !it->second->has_parked()) return true;
    it->second->expire_parked(now);
    return !it->second->has_parked();
  });
}

void Emulator::collect_zombies() {
  // A socket whose host end was closed to deliver a reset stays in the table (so SO_ERROR
  // and getsockname still answer) until no process of the sandbox holds its file.
  std::vector<ino_t> gone;
  for (auto& [inode, s] : sockets_) {
    if (s->zombie() && !find_program_file(inode)) gone.push_back(inode);
  }
  for (ino_t inode : gone) {
    sockets_.erase(inode);
    locations_.erase(inode);
    counters_.zombies_reaped++;
  }
}

void Emulator::retire_calls_of(pid_t tid) {
  // Only sockets that have had parked calls, so a call costs nothing extra when none wait.
  for (ino_t inode : with_parked_) {
    auto it = sockets_.find(inode);
    if (it != sockets_.end() && it->second->has_parked()) it->second->retire_calls_of(tid);
  }
  if (with_parked_.size() > 64) sweep_parked();  // keep the list to the sockets that still wait
}

bool Emulator::drained() const {
  for (const auto& [inode, s] : sockets_) {
    if (s->draining()) return false;
  }
  return true;
}

NetState Emulator::snapshot(bool with_counters) const {
  NetState state;
  state.hostname = options_.hostname;
  for (NicId id : stack_.nic_ids()) {
    const Nic* nic = stack_.nic(id);
    if (nic == nullptr) continue;
    InterfaceState i;
    i.index = static_cast<int>(id);
    auto named = options_.interface_names.find(id);
    i.name = named != options_.interface_names.end() ? named->second : nic->name();
    i.mac = nic->link_address();
    i.mtu = nic->mtu();
    i.up = nic->enabled();
    i.running = nic->enabled();
    i.loopback = nic->endpoint().max_header_length() == 0 && nic->link_address() == MacAddress();
    i.addresses = nic->addresses();
    const auto& c = const_cast<Nic*>(nic)->counters();
    i.rx_packets = c.rx_packets;
    i.rx_bytes = c.rx_bytes;
    i.tx_packets = c.tx_packets;
    i.tx_bytes = c.tx_bytes;
    i.rx_dropped = c.rx_drop_unknown_protocol + c.rx_drop_disabled;
    i.tx_dropped = c.tx_drop_link_error;
    state.interfaces.push_back(std::move(i));
  }
  for (const Route& r : stack_.routes()) {
    RouteState rs;
    rs.destination = r.destination.network();
    rs.gateway = r.gateway;
    rs.interface_index = static_cast<int>(r.nic);
    rs.preferred_source = r.source;
    // A /32 (or /128) to one of our own addresses is how the stack reaches itself: Linux keeps
    // those in its local table, not the main one.
    rs.local = (r.destination.length == 32 || r.destination.length == 128) &&
               stack_.is_local_address(r.destination.address);
    state.routes.push_back(std::move(rs));
  }
  for (const auto& [inode, s] : sockets_) {
    if (auto st = s->state()) state.sockets.push_back(std::move(*st));
  }
  if (!with_counters) return state;
  // The stack's counters under the names /proc/net/snmp and /proc/net/netstat use, by group:
  // only these groups are visited, and a counter is looked up by its name alone (no key string
  // built per counter of the whole stack, which every interface ioctl and /proc open paid), in
  // a hash table: a tree's lookup compared the name with about four others, for each of the
  // groups' hundred-odd counters per snapshot.
  struct LinuxNames {
    std::string_view group;
    std::unordered_map<std::string_view, std::string_view> names;
  };
  static const std::array<LinuxNames, 3> kLinuxNames = {{
      {"ipv4",
       {{"rx_packets", "Ip:InReceives"},
        {"rx_delivered", "Ip:InDelivers"},
        {"tx_packets", "Ip:OutRequests"},
        {"drop_bad_checksum", "Ip:InHdrErrors"},
        {"drop_not_for_us", "Ip:InAddrErrors"},
        {"drop_unknown_protocol", "Ip:InUnknownProtos"},
        {"rx_fragments", "Ip:ReasmReqds"},
        {"rx_reassembled", "Ip:ReasmOKs"},
        {"tx_fragments", "Ip:FragCreates"},
        {"tx_fragmented_datagrams", "Ip:FragOKs"}}},
      {"tcp",
       {{"active_opens", "Tcp:ActiveOpens"},
        {"passive_opens", "Tcp:PassiveOpens"},
        {"failed_attempts", "Tcp:AttemptFails"},
        {"segments_received", "Tcp:InSegs"},
        {"segments_sent", "Tcp:OutSegs"},
        {"retransmitted_segments", "Tcp:RetransSegs"},
        {"resets_sent", "Tcp:OutRsts"},
        {"syn_cookies_sent", "TcpExt:SyncookiesSent"},
        {"syn_cookies_validated", "TcpExt:SyncookiesRecv"},
        {"syn_cookies_failed", "TcpExt:SyncookiesFailed"},
        {"listen_overflows", "TcpExt:ListenOverflows"},
        {"dsacks_received", "TcpExt:TCPDSACKRecv"},
        {"tlp_probes", "TcpExt:TCPLossProbes"},
        {"challenge_acks", "TcpExt:TCPChallengeACK"}}},
      {"udp",
       {{"delivered", "Udp:InDatagrams"},
        {"drop_no_port", "Udp:NoPorts"},
        {"sent", "Udp:OutDatagrams"},
        {"drop_receive_buffer_full", "Udp:RcvbufErrors"},
        {"drop_bad_checksum", "Udp:InCsumErrors"}}},
  }};
  for (const LinuxNames& group : kLinuxNames) {
    stack_.counters().for_each_of(group.group, [&](std::string_view name, uint64_t value) {
      if (auto it = group.names.find(name); it != group.names.end()) {
        state.counters[std::string(it->second)] += value;
      }
    });
  }
  return state;
}

// ---- dispatch -----------------------------------------------------------------------------

void Emulator::handle(const SyscallRequest& req) {
  counters_.notifications++;
  // A thread makes one call at a time: anything it still has parked was interrupted.
  retire_calls_of(req.tid);
  dispatch(req);
}

void Emulator::dispatch(const SyscallRequest& req) {
  switch (req.nr) {
    case SYS_socket:
      handle_socket(req);
      return;
    case SYS_open:
      handle_open(req, AT_FDCWD, 0, 1, false);
      return;
    case SYS_openat:
      handle_open(req, req.arg_int(0), 1, 2, false);
      return;
    case SYS_openat2:
      handle_open(req, req.arg_int(0), 1, 2, true);
      return;
    default:
      handle_fd_call(req, req.arg_int(0));
      return;
  }
}

void Emulator::handle_fd_call(const SyscallRequest& req, int fd) {
  auto file = tracee_.get_fd(req, fd);
  if (!file) {
    if (file.error() == Error::kNoSuchProcess) {
      counters_.program_gone++;
      return;
    }
    // No such fd: the kernel gives the program its EBADF.
    (void)tracee_.reply_continue(req);
    counters_.continued++;
    return;
  }
  struct stat st {};
  auto it = sockets_.end();
  if (::fstat(file->get(), &st) == 0 && S_ISSOCK(st.st_mode)) it = sockets_.find(st.st_ino);
  if (it == sockets_.end()) {
    // Not one of ours (AF_UNIX, a pipe, a tty): the call is the kernel's.
    (void)tracee_.reply_continue(req);
    counters_.continued++;
    return;
  }
  Call call;
  call.req = req;
  call.file = std::move(*file);
  seen_at(st.st_ino, req.tid, fd);
  counters_.emulated++;
  EmulatedSocket& socket = *it->second;
  if (req.nr == SYS_ioctl && is_interface_ioctl(req.args[1])) {
    handle_interface_ioctl(call);
    return;
  }
  socket.handle(call);
}

void Emulator::handle_interface_ioctl(Call& call) {
  const unsigned long request = call.req.args[1];
  const uint64_t arg = call.req.args[2];
  NetState state = snapshot(false);
  if (request == SIOCGIFCONF) {
    std::array<std::byte, kIfconfSize> raw;
    if (auto s = read(call, arg, raw); !s) {
      (void)reply_error(call, s.error());
      return;
    }
    const int32_t len = load_host<int32_t>(raw, 0);
    const uint64_t buf = load_host<uint64_t>(raw, 8);
    auto records = ifconf_records(state);
    size_t n = records.size();
    if (buf != 0) {
      // Whole records only, as many as fit.
      n = std::min<size_t>(n, static_cast<size_t>(std::max(len, 0)) / kIfreqSize * kIfreqSize);
      if (auto s = write(call, buf, ByteView(records).first(n)); !s) {
        (void)reply_error(call, s.error());
        return;
      }
    }
    store_host<int32_t>(raw, 0, static_cast<int32_t>(n));
    if (auto s = write(call, arg, ByteView(raw).first(4)); !s) {
      (void)reply_error(call, s.error());
      return;
    }
    (void)reply(call, 0);
    return;
  }
  std::array<std::byte, kIfreqSize> in;
  if (auto s = read(call, arg, in); !s) {
    (void)reply_error(call, s.error());
    return;
  }
  auto out = answer_ifreq(request, in, state);
  if (!out) {
    (void)reply_error(call, out.error());
    return;
  }
  if (auto s = write(call, arg, ByteView(*out).first(std::min<size_t>(out->size(), kIfreqSize))); !s) {
    (void)reply_error(call, s.error());
    return;
  }
  (void)reply(call, 0);
}

void Emulator::handle_socket(const SyscallRequest& req) {
  const int domain = req.arg_int(0);
  const int type_arg = req.arg_int(1);
  const int protocol = req.arg_int(2);
  const int type = type_arg & kSocketTypeMask;
  const int flags = type_arg & ~kSocketTypeMask;
  Call call;
  call.req = req;
  auto refuse = [&](int error, uint64_t& counter) {
    counter++;
    (void)reply_error(call, error);
  };
  if ((flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) {
    (void)reply_error(call, EINVAL);
    return;
  }
  enum class Kind { kTcp, kUdp, kNetlink } kind;
  switch (domain) {
    case AF_INET:
    case AF_INET6:
      if (domain == AF_INET6 && stack_.ip_protocol(AddressFamily::kIpv6) == nullptr) {
        refuse(EAFNOSUPPORT, counters_.refused_family);
        return;
      }
      if (type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) {
        kind = Kind::kTcp;
      } else if (type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP)) {
        kind = Kind::kUdp;
      } else if (type == SOCK_DGRAM && (protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6)) {
        // Linux's default net.ipv4.ping_group_range allows nobody ICMP sockets.
        refuse(EACCES, counters_.refused_protocol);
        return;
      } else if (type == SOCK_RAW) {
        refuse(EPERM, counters_.refused_type);  // no raw access to the network, ever
        return;
      } else if (type == SOCK_STREAM || type == SOCK_DGRAM || type == SOCK_SEQPACKET) {
        refuse(EPROTONOSUPPORT, counters_.refused_protocol);
        return;
      } else {
        refuse(ESOCKTNOSUPPORT, counters_.refused_type);
        return;
      }
      break;
    case AF_NETLINK:
      if (type != SOCK_RAW && type != SOCK_DGRAM) {
        refuse(ESOCKTNOSUPPORT, counters_.refused_type);
        return;
      }
      if (protocol != NETLINK_ROUTE && protocol != NETLINK_SOCK_DIAG) {
        refuse(EPROTONOSUPPORT, counters_.refused_protocol);
        return;
      }
      kind = Kind::kNetlink;
      break;
    case AF_PACKET:
      refuse(EPERM, counters_.refused_family);
      return;
    default:
      refuse(EAFNOSUPPORT, counters_.refused_family);
      return;
  }

  auto pair = make_pair(kind == Kind::kTcp ? SOCK_STREAM : SOCK_SEQPACKET,
                        (flags & SOCK_NONBLOCK) != 0);
  if (!pair) {
    (void)reply_error(call, pair.error() == Error::kTooManyFiles ? EMFILE : ENOBUFS);
    return;
  }
  auto& [program_end, host_end] = *pair;
  struct stat st {};
  if (::fstat(program_end.get(), &st) != 0) {
    (void)reply_error(call, ENOBUFS);
    return;
  }
  const AddressFamily family = domain == AF_INET6 ? AddressFamily::kIpv6 : AddressFamily::kIpv4;
  std::unique_ptr<EmulatedSocket> socket;
  switch (kind) {
    case Kind::kTcp: {
      auto endpoint = tcp::Endpoint::create(stack_, family);
      if (!endpoint) {
        (void)reply_error(call, EPROTONOSUPPORT);
        return;
      }
      socket = std::make_unique<TcpSocket>(*this, domain, type, st.st_ino, std::move(host_end),
                                           std::move(endpoint));
      break;
    }
    case Kind::kUdp: {
      auto endpoint = udp::Endpoint::create(stack_, family);
      if (!endpoint) {
        (void)reply_error(call, EPROTONOSUPPORT);
        return;
      }
      socket = std::make_unique<UdpSocket>(*this, domain, type, st.st_ino, std::move(host_end),
                                           std::move(*endpoint));
      break;
    }
    case Kind::kNetlink: {
      NetlinkSocket::Responder responder;
      if (protocol == NETLINK_ROUTE) {
        responder = [this](ByteView request, uint32_t portid) {
          return answer_route_request(request, snapshot(false), portid);
        };
      } else {
        responder = [this](ByteView request, uint32_t portid) {
          return answer_sock_diag_request(request, snapshot(false), portid);
        };
      }
      socket = std::make_unique<NetlinkSocket>(*this, type, protocol, st.st_ino, std::move(host_end),
                                               std::move(responder));
      break;
    }
  }
  auto fd = install(call, std::move(program_end), (flags & SOCK_CLOEXEC) != 0);
  if (!fd) return;  // the program stopped waiting; the socket was never its
  EmulatedSocket& adopted = adopt(std::move(socket));
  seen_at(adopted.inode(), req.tid, *fd);
}

void Emulator::handle_open(const SyscallRequest& req, int dirfd, int path_arg, int flags_arg,
                           bool openat2) {
  auto path = tracee_.read_string(req, req.args[static_cast<size_t>(path_arg)], kMaxPath);
  if (!path) {
    // Unreadable or too long: the kernel gives the program its EFAULT or ENAMETOOLONG.
    if (path.error() != Error::kNoSuchProcess) (void)tracee_.reply_continue(req);
    return;
  }
  auto name = dirfd == AT_FDCWD || (*path)[0] == '/' ? proc_net_name(*path) : std::nullopt;
  std::optional<std::string> content;
  if (name) content = proc_net_file(*name, snapshot(proc_net_file_reads_counters(*name)));
  if (!content) {
    // The decision rests on a copy of the path; if another thread changes it before the
    // kernel reads it again, the kernel opens the real (empty) namespace's file: harmless.
    (void)tracee_.reply_continue(req);
    counters_.continued++;
    return;
  }
  uint64_t flags = 0;
  if (openat2) {
    std::array<std::byte, 8> how;
    if (!tracee_.read_memory(req, req.args[2], how)) {
      (void)tracee_.reply_error(req, EFAULT);
      return;
    }
    flags = load_host<uint64_t>(how, 0);
  } else {
    flags = req.args[static_cast<size_t>(flags_arg)];
  }
  if ((flags & O_ACCMODE) != O_RDONLY) {
    (void)tracee_.reply_error(req, EACCES);
    return;
  }
  if (flags & O_DIRECTORY) {
    (void)tracee_.reply_error(req, ENOTDIR);
    return;
  }
  UniqueFd memfd(static_cast<int>(::syscall(SYS_memfd_create, name->c_str(), MFD_CLOEXEC)));
  if (!memfd || ::write(memfd.get(), content->data(), content->size()) !=
                    static_cast<ssize_t>(content->size())) {
    (void)tracee_.reply_error(req, ENOMEM);
    return;
  }
  // A read-only description of the same file, as /proc files are (and at offset 0).
  UniqueFd readonly(::open(("/proc/self/fd/" + std::to_string(memfd.get())).c_str(),
                           O_RDONLY | O_CLOEXEC));
  if (!readonly) {
    (void)tracee_.reply_error(req, ENOMEM);
    return;
  }
  if (flags & O_NONBLOCK) ::fcntl(readonly.get(), F_SETFL, O_NONBLOCK);
  if (tracee_.reply_with_fd(req, readonly.get(), (flags & O_CLOEXEC) != 0)) {
    counters_.proc_net_opened++;
  } else {
    counters_.answer_lost++;
  }
}

}  // namespace weir::sandbox
