#include "sandbox/launcher.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "sandbox/kernel.h"
#include "sandbox/policy.h"

namespace weir::sandbox {

namespace {

constexpr uint64_t kNamespaces = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
                                 CLONE_NEWUTS | CLONE_NEWIPC;
constexpr int kExitCannotRun = 127;     // as shells report a command that was not found
constexpr int kExitNotExecutable = 126;  // ... and one that could not be executed
constexpr int kExitInitFailed = 125;

const std::vector<int> kForwardedSignals = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM,
                                            SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

// ---- messages over the control socket (SOCK_SEQPACKET: one message per write) ----

bool send_text(int fd, const std::string& text) {
  return ::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
}

// Empty on EOF or error.
std::string receive_text(int fd) {
  char buf[512];
  ssize_t n;
  do {
    n = ::recv(fd, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// ---- the init, inside the namespaces ----

[[noreturn]] void init_fail(int control, const std::string& what) {
  send_text(control, "error " + what + ": " + std::strerror(errno));
  _exit(kExitInitFailed);
}

bool write_file(const char* path, const std::string& text) {
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd) return false;
  return ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

void set_up_mounts(int control, const LaunchOptions& options) {
  // Nothing mounted from here on may leak back into the host's mount namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    init_fail(control, "cannot make / private");
  }
  // A /proc of the new pid namespace: ps, /proc/self and /proc/PID/fd must show the sandbox.
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    init_fail(control, "cannot mount /proc");
  }
  // A /sys of the new (empty) network namespace, so /sys/class/net shows no host interface.
  // Best effort: some systems lock /sys.
  (void)::mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  auto bind = [&](const std::string& source, const char* target) {
    if (source.empty()) return;
    if (::mount(source.c_str(), target, nullptr, MS_BIND, nullptr) != 0) {
      init_fail(control, std::string("cannot bind-mount ") + target);
    }
  };
  bind(options.resolv_conf_path, "/etc/resolv.conf");
  bind(options.hosts_path, "/etc/hosts");
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Forks and execs the program; returns its pid. The program starts with default signal
// dispositions and an empty mask.
pid_t start_program(const LaunchOptions& options, const sigset_t& original_mask) {
  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) return -1;
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::close(status_pipe[0]);
    for (int sig : kForwardedSignals) ::signal(sig, SIG_DFL);
    ::signal(SIGCHLD, SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &original_mask, nullptr);
    std::vector<char*> argv;
    argv.reserve(options.argv.size() + 1);
    for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    int err = errno;
    [[maybe_unused]] ssize_t n = ::write(status_pipe[1], &err, sizeof err);
    _exit(err == ENOENT ? kExitCannotRun : kExitNotExecutable);
  }
  ::close(status_pipe[1]);
  int err = 0;
  ssize_t n;
  do {
    n = ::read(status_pipe[0], &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  ::close(status_pipe[0]);
  if (n == sizeof err) {
    std::fprintf(stderr, "weir run: cannot run '%s': %s\n", options.argv[0].c_str(),
                 std::strerror(err));
  }
  return pid;
}

[[noreturn]] void run_init(int control, const LaunchOptions& options) {
  // Nothing of the supervisor's (its tap, its sockets) stays open in here: only stdio and
  // the control socket.
  if (control > 3) ::syscall(SYS_close_range, 3, control - 1, 0);
  ::syscall(SYS_close_range, control + 1, ~0U, 0);
  // 1. The supervisor writes our id maps, then says "go".
  if (receive_text(control) != "go") _exit(kExitInitFailed);
  if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) {
    init_fail(control, "cannot become root in the user namespace");
  }
  // 2. Die with the supervisor. If it died before this line, the socket shows it.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) init_fail(control, "cannot set the death signal");
  pollfd pfd{control, POLLRDHUP, 0};
  if (::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLRDHUP)) != 0) _exit(kExitInitFailed);

  if (::sethostname(options.hostname.data(), options.hostname.size()) != 0) {
    init_fail(control, "cannot set the hostname");
  }
  set_up_mounts(control, options);

  // 3. Signals to forward are blocked and read synchronously: a pid namespace's init gets
  // only signals it handles, and blocked ones count as handled.
  sigset_t forwarded, original;
  sigemptyset(&forwarded);
  for (int sig : kForwardedSignals) sigaddset(&forwarded, sig);
  sigaddset(&forwarded, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &forwarded, &original);
  // The mask came from the supervisor's thread, which blocks the forwarded signals for its
  // signalfd: the program gets the rest of it, with those signals open (blocked, a SIGTERM
  // forwarded to a program that does not reset its mask would wait forever).
  for (int sig : kForwardedSignals) sigdelset(&original, sig);
  sigdelset(&original, SIGCHLD);

  // 4. The filter, and its listener to the supervisor.
  auto listener = install_program_filter();
  if (!listener) {
    errno = to_errno(listener.error());
    init_fail(control, "cannot install the seccomp filter");
  }
  if (!send_text(control, "listener " + std::to_string(listener->get()))) _exit(kExitInitFailed);
  if (receive_text(control) != "ack") _exit(kExitInitFailed);
  listener->reset();
  ::close(control);

  // 5. The program.
  pid_t program = start_program(options, original);
  if (program < 0) {
    std::fprintf(stderr, "weir run: cannot start the program: %s\n", std::strerror(errno));
    _exit(kExitInitFailed);
  }

  // 6. Forward signals, reap orphans, end with the program.
  for (;;) {
    siginfo_t info{};
    int sig = ::sigwaitinfo(&forwarded, &info);
    if (sig < 0) continue;
    if (sig == SIGCHLD) {
      int status;
      pid_t pid;
      while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == program) _exit(exit_code_of(status));
      }
      continue;
    }
    // A terminal's signals (Ctrl-C) reach the whole foreground group, the program included;
    // forward only what was sent to us on purpose.
    if (info.si_code != SI_KERNEL) ::kill(program, sig);
  }
}

Result<pid_t> clone_into_namespaces(int* pidfd) {
  clone_args args{};
  args.flags = kNamespaces | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);  // the kernel writes the pidfd here
  args.exit_signal = SIGCHLD;
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return last_error();
  return static_cast<pid_t>(pid);
}

}  // namespace

const std::vector<int>& forwarded_signals() { return kForwardedSignals; }

Result<Launched> launch(const LaunchOptions& options, std::string* message) {
  auto say = [&](const std::string& text) {
    if (message != nullptr) *message = text;
  };
  if (options.argv.empty()) {
    say("no program given");
    return Error::kInvalidArgument;
  }
  int control[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0) {
    say(std::string("cannot create a socket pair: ") + std::strerror(errno));
    return last_error();
  }
  UniqueFd ours(control[0]);
  UniqueFd theirs(control[1]);

  int raw_pidfd = -1;
  auto pid = clone_into_namespaces(&raw_pidfd);
  if (!pid) {
    std::string text = "cannot create the sandbox's namespaces: " +
                       std::string(error_name(pid.error()));
    if (pid.error() == Error::kOperationNotPermitted || pid.error() == Error::kIo) {
      text += " (user namespaces may be disabled: see /proc/sys/user/max_user_namespaces and "
              "/proc/sys/kernel/unprivileged_userns_clone)";
    }
    say(text);
    return pid.error();
  }
  if (*pid == 0) {
    ours.reset();
    run_init(theirs.get(), options);
  }
  theirs.reset();
  Launched launched;
  launched.init_pid = *pid;
  launched.init_pidfd = UniqueFd(raw_pidfd);

  auto abort_launch = [&](const std::string& text) {
    say(text);
    ::kill(launched.init_pid, SIGKILL);
    int status;
    ::waitpid(launched.init_pid, &status, 0);
  };

  // The id maps: root maps every id onto itself; anyone else maps only themselves, as root.
  const std::string pid_dir = "/proc/" + std::to_string(*pid);
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  bool mapped;
  if (uid == 0) {
    mapped = write_file((pid_dir + "/uid_map").c_str(), "0 0 4294967295\n") &&
             write_file((pid_dir + "/gid_map").c_str(), "0 0 4294967295\n");
  } else {
    mapped = write_file((pid_dir + "/uid_map").c_str(), "0 " + std::to_string(uid) + " 1\n") &&
             write_file((pid_dir + "/setgroups").c_str(), "deny\n") &&
             write_file((pid_dir + "/gid_map").c_str(), "0 " + std::to_string(gid) + " 1\n");
  }
  if (!mapped) {
    abort_launch(std::string("cannot write the user namespace's id maps: ") + std::strerror(errno));
    return Error::kOperationNotPermitted;
  }
  if (!send_text(ours.get(), "go")) {
    abort_launch("the sandbox's init ended before it started");
    return Error::kIo;
  }

  std::string reply = receive_text(ours.get());
  if (reply.rfind("error ", 0) == 0) {
    abort_launch("sandbox setup failed: " + reply.substr(6));
    return Error::kIo;
  }
  if (reply.rfind("listener ", 0) != 0) {
    abort_launch("the sandbox's init ended during setup");
    return Error::kIo;
  }
  int remote_fd = std::atoi(reply.c_str() + 9);
  auto notify = get_remote_fd(launched.init_pidfd.get(), remote_fd);
  if (!notify) {
    abort_launch("cannot take the seccomp listener from the sandbox: " +
                 std::string(error_name(notify.error())));
    return notify.error();
  }
  launched.notify = NotifyFd(std::move(*notify));
  if (!send_text(ours.get(), "ack")) {
    abort_launch("the sandbox's init ended during setup");
    return Error::kIo;
  }
  return launched;
}

int wait_for_exit(const Launched& launched) {
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(launched.init_pid, &status, 0);
    if (r == launched.init_pid) break;
    if (r < 0 && errno != EINTR) return 1;
  }
  return exit_code_of(status);
}

}  // namespace weir::sandbox
