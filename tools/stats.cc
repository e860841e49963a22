#include "tools/stats.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "stack/loop.h"
#include "stack/stack.h"

namespace weir::tools {
namespace {

constexpr int kStatsTimeoutMs = 5000;

// sockaddr_un holds the path inline; longer paths cannot be bound or connected.
Result<sockaddr_un> unix_address(const std::string& path, std::string* message) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    *message = "socket path must have 1.." + std::to_string(sizeof(address.sun_path) - 1) +
               " characters: " + path;
    return Error::kInvalidArgument;
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// The socket API takes a generic sockaddr; sockaddr_un is one by definition, and only its
// address is passed, never its bytes reinterpreted.
const sockaddr* as_sockaddr(const sockaddr_un& a) {
  const void* p = &a;
  return static_cast<const sockaddr*>(p);
}

}  // namespace

std::string format_counters(const Stack& stack, bool include_zero, std::string_view indent) {
  std::string out;
  stack.counters().for_each([&](std::string_view group, std::string_view name, uint64_t value) {
    if (value == 0 && !include_zero) return;
    out.append(indent);
    out.append(group);
    out.push_back('.');
    out.append(name);
    out.push_back(' ');
    out.append(std::to_string(value));
    out.push_back('\n');
  });
  return out;
}

Result<std::unique_ptr<StatsServer>> StatsServer::open(const std::string& path, Loop& loop,
                                                       std::function<std::string()> report,
                                                       std::string* message) {
  auto address = unix_address(path, message);
  if (!address) return address.error();
  // A socket file left by a weir that was killed is replaced; anything else at the path is
  // not ours to remove.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *message = path + " exists and is not a socket; choose another --stats-socket path";
      return Error::kAddressInUse;
    }
    ::unlink(path.c_str());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *message = std::string("socket(AF_UNIX): ") + std::strerror(errno);
    return error_from_errno(errno);
  }
  if (::bind(fd, as_sockaddr(*address), sizeof(sockaddr_un)) != 0 || ::listen(fd, 16) != 0) {
    int err = errno;
    ::close(fd);
    *message = "cannot listen on " + path + ": " + std::strerror(err);
    return error_from_errno(err);
  }
  auto server = std::make_unique<StatsServer>(Key(), fd, path, loop, std::move(report));
  StatsServer& ref = *server;
  if (auto s = loop.watch_fd(fd, EPOLLIN, [&ref](uint32_t) { ref.accept_all(); }); !s) {
    *message = "cannot watch the stats socket: " + std::string(error_name(s.error()));
    return s.error();
  }
  return server;
}

StatsServer::StatsServer(Key, int fd, std::string path, Loop& loop,
                         std::function<std::string()> report)
    : fd_(fd), path_(std::move(path)), loop_(loop), report_(std::move(report)) {}

StatsServer::~StatsServer() {
  loop_.unwatch_fd(fd_);
  ::close(fd_);
  ::unlink(path_.c_str());
}

void StatsServer::accept_all() {
  for (;;) {
    int client = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;  // EAGAIN, or the client already gave up
    std::string report = report_();
    size_t sent = 0;
    while (sent < report.size()) {
      ssize_t n = ::send(client, report.data() + sent, report.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::close(client);
  }
}

namespace {

int run_stats(const std::string& path, bool all) {
  std::string message;
  auto address = unix_address(path, &message);
  if (!address) {
    std::fprintf(stderr, "weir stats: %s\n", message.c_str());
    return 1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, as_sockaddr(*address), sizeof(sockaddr_un)) != 0) {
    std::fprintf(stderr,
                 "weir stats: cannot connect to %s: %s (is 'weir serve --stats-socket %s' "
                 "running?)\n",
                 path.c_str(), std::strerror(errno), path.c_str());
    if (fd >= 0) ::close(fd);
    return 1;
  }
  std::string report;
  char buffer[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kStatsTimeoutMs) <= 0) {
      std::fprintf(stderr, "weir stats: no answer from %s within %d s\n", path.c_str(),
                   kStatsTimeoutMs / 1000);
      ::close(fd);
      return 1;
    }
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  std::istringstream lines(report);
  std::string line;
  while (std::getline(lines, line)) {
    // Counter lines end in " 0" when zero; everything else is always shown.
    bool zero = line.size() >= 2 && line.compare(line.size() - 2, 2, " 0") == 0 &&
                line.find(':') == std::string::npos;
    if (zero && !all) continue;
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace

void add_stats_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "stats", "Print the counters of a running 'weir serve --stats-socket PATH'");
  cmd->footer(
      "Prints each service's summary, then one 'group.name value' line per counter, like\n"
      "netstat -s: every drop the stack makes is counted under a name that says why.\n");
  auto path = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  cmd->add_option("socket", *path, "The --stats-socket path given to weir serve")->required();
  cmd->add_flag("--all", *all, "Include counters that are zero");
  cmd->callback([path, all] {
    int status = run_stats(*path, *all);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace weir::tools
