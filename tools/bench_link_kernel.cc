#include "tools/bench_link_kernel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace weir::tools::bench {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Socket addresses for the kernel API, without casting between sockaddr types.
union LinkLayerAddress {
  sockaddr generic;
  sockaddr_ll ll;
};
union InetAddress {
  sockaddr generic;
  sockaddr_in v4;
};

constexpr size_t kBlastBatch = 64;
constexpr size_t kStreamWrite = 1 << 20;

timeval millis(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

}  // namespace

Status enter_private_netns(std::string* message) {
  if (::unshare(CLONE_NEWNET) != 0) {
    const int err = errno;
    if (message) {
      *message = "cannot create a network namespace (" + errno_text(err) +
                 "): needs root (CAP_SYS_ADMIN); run as root";
    }
    return error_from_errno(err);
  }
  return ok_status();
}

Status run_ip(const std::vector<std::string>& args, std::string* message) {
  std::vector<std::string> words = {"ip"};
  words.insert(words.end(), args.begin(), args.end());
  std::string command;
  for (const auto& w : words) command += (command.empty() ? "" : " ") + w;
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);

  std::array<int, 2> pipe_fds{};
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    const int err = errno;
    if (message) *message = "cannot run '" + command + "': pipe: " + errno_text(err);
    return error_from_errno(err);
  }
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  pid_t pid = -1;
  // `ip` lives in /usr/sbin or /sbin, which a non-login root PATH may lack.
  int spawned = ENOENT;
  for (const char* path : {"ip", "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    spawned = ::posix_spawnp(&pid, path, &actions, nullptr, argv.data(), environ);
    if (spawned != ENOENT) break;
  }
  posix_spawn_file_actions_destroy(&actions);
  write_end.reset();
  if (spawned != 0) {
    if (message) {
      *message = "cannot run '" + command + "': " + errno_text(spawned) +
                 " (is iproute2 installed? scripts/setup.sh installs it)";
    }
    return error_from_errno(spawned);
  }
  std::string output;
  std::array<char, 512> buffer{};
  for (;;) {
    const ssize_t n = ::read(read_end.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buffer.data(), static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return ok_status();
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  if (auto nl = output.find('\n'); nl != std::string::npos) output.resize(nl);
  if (message) *message = "'" + command + "' failed: " + output;
  return Error::kIo;
}

Status write_sysctl(const std::string& path, const std::string& value, std::string* message) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    const int err = errno;
    if (message) *message = "cannot write " + value + " to " + path + ": " + errno_text(err);
    return error_from_errno(err);
  }
  return ok_status();
}

Result<InterfaceCounters> interface_counters(const std::string& name) {
  std::ifstream dev("/proc/thread-self/net/dev");
  std::string line;
  const std::string key = name + ":";
  while (std::getline(dev, line)) {
    const size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos || line.compare(start, key.size(), key) != 0) continue;
    std::istringstream fields(line.substr(start + key.size()));
    // Receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes
    // packets errs drop ...
    std::array<uint64_t, 12> v{};
    for (auto& x : v) {
      if (!(fields >> x)) return Error::kBadMessage;
    }
    return InterfaceCounters{
        .rx_packets = v[1], .rx_bytes = v[0], .tx_packets = v[9], .tx_dropped = v[11]};
  }
  return Error::kNoDevice;
}

double thread_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

Result<std::unique_ptr<PacketBlaster>> PacketBlaster::open(const std::string& interface,
                                                           std::vector<std::byte> frame,
                                                           std::string* message) {
  auto fail = [&](const std::string& what) -> Error {
    const int err = errno;
    if (message) *message = "packet source on " + interface + ": " + what + ": " + errno_text(err);
    return error_from_errno(err);
  };
  const unsigned index = ::if_nametoindex(interface.c_str());
  if (index == 0) return fail("no such interface");
  // Protocol 0: the socket only sends; it is never handed a received frame.
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!fd) return fail("socket");
  LinkLayerAddress address{};
  address.ll.sll_family = AF_PACKET;
  address.ll.sll_ifindex = static_cast<int>(index);
  if (::bind(fd.get(), &address.generic, sizeof address.ll) != 0) return fail("bind");
  const int one = 1;
  if (::setsockopt(fd.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) {
    return fail("PACKET_QDISC_BYPASS");
  }
  // A send waits at most this long for buffer space (frames still queued toward the reader
  // hold it), so the thread sees stop() soon; the reader's pace is the blaster's pace.
  const timeval timeout = millis(20);
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) != 0) {
    return fail("SO_SNDTIMEO");
  }
  return std::make_unique<PacketBlaster>(std::move(fd), std::move(frame));
}

void PacketBlaster::start() {
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void PacketBlaster::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void PacketBlaster::run() {
  const double cpu0 = thread_cpu_seconds();
  std::array<iovec, kBlastBatch> iov{};
  std::array<mmsghdr, kBlastBatch> messages{};
  for (size_t i = 0; i < kBlastBatch; ++i) {
    iov[i] = iovec{frame_.data(), frame_.size()};
    messages[i].msg_hdr.msg_iov = &iov[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  while (!stop_.load(std::memory_order_relaxed)) {
    const int n = ::sendmmsg(fd_.get(), messages.data(), kBlastBatch, 0);
    if (n > 0) frames_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    // n < 0: the driver's queue was full (ENOBUFS) or no buffer space came within the send
    // timeout (EAGAIN); either way the reader is behind, so go again.
  }
  cpu_seconds_ = thread_cpu_seconds() - cpu0;
}

Status TcpStreamer::start(Ipv4Address destination, uint16_t port, std::string* message) {
  fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd_) {
    const int err = errno;
    if (message) *message = "TCP source: socket: " + errno_text(err);
    return error_from_errno(err);
  }
  stop_.store(false);
  thread_ = std::thread([this, destination, port] { run(destination, port); });
  return ok_status();
}

void TcpStreamer::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (fd_) {
    // A reset, not a FIN: the stub receiver would never close its half.
    const linger reset{1, 0};
    (void)::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    fd_.reset();
  }
}

void TcpStreamer::run(Ipv4Address destination, uint16_t port) {
  const double cpu0 = thread_cpu_seconds();
  InetAddress address{};
  address.v4.sin_family = AF_INET;
  address.v4.sin_port = htons(port);
  address.v4.sin_addr.s_addr = htonl(destination.value());
  // Non-blocking connect polled in short steps: the SYN-ACK comes only once the bench's receive
  // loop runs, and stop() must be able to end the wait.
  if (::connect(fd_.get(), &address.generic, sizeof address.v4) != 0 && errno != EINPROGRESS) {
    failure_ = "TCP source: connect: " + errno_text(errno);
    return;
  }
  bool connected = false;
  while (!connected && !stop_.load()) {
    pollfd p{fd_.get(), POLLOUT, 0};
    if (::poll(&p, 1, 10) <= 0) continue;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      failure_ = "TCP source: connect: " + errno_text(err);
      return;
    }
    connected = true;
  }
  std::vector<std::byte> chunk(kStreamWrite);
  while (!stop_.load(std::memory_order_relaxed)) {
    const ssize_t n = ::send(fd_.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      // The window or the send buffer is full: wait for ACKs, a little at a time.
      pollfd p{fd_.get(), POLLOUT, 0};
      ::poll(&p, 1, 10);
      continue;
    }
    failure_ = "TCP source: send: " + errno_text(n < 0 ? errno : EPIPE);
    break;
  }
  cpu_seconds_ = thread_cpu_seconds() - cpu0;
}

}  // namespace weir::tools::bench
