#include "sandbox/policy.h"

#include <asm/ioctls.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "sandbox/kernel.h"

namespace weir::sandbox {

namespace {

struct ContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

Error from_seccomp(int rc) { return error_from_errno(rc < 0 ? -rc : EINVAL); }

// Calls the supervisor answers. Argument filters keep the data path native (see policy.h).
constexpr const char* kAlwaysNotified[] = {
    "connect", "bind",     "listen",   "accept",  "accept4",  "getsockname", "getpeername",
    "setsockopt", "getsockopt", "shutdown", "sendmsg", "recvmsg", "sendmmsg",  "recvmmsg",
    "open",    "openat",   "openat2",
};

struct RefusedRule {
  const char* name;
  int error;
};
constexpr RefusedRule kRefused[] = {
    {"bpf", EPERM},
    {"perf_event_open", EPERM},
    {"keyctl", EPERM},
    {"add_key", EPERM},
    {"request_key", EPERM},
    {"userfaultfd", EPERM},
    {"kexec_load", EPERM},
    {"kexec_file_load", EPERM},
    {"init_module", EPERM},
    {"finit_module", EPERM},
    {"delete_module", EPERM},
    {"ptrace", EPERM},
    {"process_vm_readv", EPERM},
    {"process_vm_writev", EPERM},
    {"open_by_handle_at", EPERM},
    {"name_to_handle_at", EPERM},
    {"lookup_dcookie", EPERM},
    {"fanotify_init", EPERM},
    {"acct", EPERM},
    {"swapon", EPERM},
    {"swapoff", EPERM},
    {"reboot", EPERM},
    {"quotactl", EPERM},
    {"quotactl_fd", EPERM},
    {"iopl", EPERM},
    {"ioperm", EPERM},
    {"kcmp", EPERM},
    // io_uring opens, connects and sends on sockets without a single call above.
    {"io_uring_setup", ENOSYS},
    {"io_uring_enter", ENOSYS},
    {"io_uring_register", ENOSYS},
};

// ioctl commands the supervisor answers on the sandbox's sockets; others run natively.
constexpr unsigned long kNotifiedIoctls[] = {FIONREAD, TIOCOUTQ};
constexpr unsigned long kSocketIoctlMask = 0xffffff00;  // SIOC* = 0x89xx
constexpr unsigned long kSocketIoctlBase = 0x8900;

Result<int> syscall_number(const char* name) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return Error::kNotImplemented;
  return nr;
}

Result<Context> program_filter() {
  Context ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return Error::kOutOfMemory;
  // KILL_PROCESS for a foreign architecture: i386 and x32 system call numbers (libseccomp
  // matches x32 numbers on an x86_64-only filter as a bad architecture too).
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0) {
    return from_seccomp(rc);
  }
  // The init is root in its user namespace, so the filter loads without no_new_privs and
  // set-user-ID programs inside keep working.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0); rc < 0) return from_seccomp(rc);

  auto add = [&](uint32_t action, const char* name, unsigned count,
                 const scmp_arg_cmp* cmp) -> Status {
    auto nr = syscall_number(name);
    if (!nr) return ok_status();  // not on this architecture (e.g. open on newer ABIs)
    int rc = seccomp_rule_add_array(ctx.get(), action, *nr, count, cmp);
    if (rc < 0) return from_seccomp(rc);
    return ok_status();
  };

  for (const char* name : kAlwaysNotified) WEIR_TRY(add(SCMP_ACT_NOTIFY, name, 0, nullptr));
  {
    scmp_arg_cmp not_unix = SCMP_A0(SCMP_CMP_NE, AF_UNIX);
    WEIR_TRY(add(SCMP_ACT_NOTIFY, "socket", 1, &not_unix));
    // sendto/recvfrom with an address; without one they are send/recv and stay native.
    scmp_arg_cmp with_address = SCMP_A4(SCMP_CMP_NE, 0);
    WEIR_TRY(add(SCMP_ACT_NOTIFY, "sendto", 1, &with_address));
    WEIR_TRY(add(SCMP_ACT_NOTIFY, "recvfrom", 1, &with_address));
  }
  for (unsigned long cmd : kNotifiedIoctls) {
    scmp_arg_cmp is_cmd = SCMP_A1(SCMP_CMP_EQ, cmd);
    WEIR_TRY(add(SCMP_ACT_NOTIFY, "ioctl", 1, &is_cmd));
  }
  {
    scmp_arg_cmp is_sioc = SCMP_A1(SCMP_CMP_MASKED_EQ, kSocketIoctlMask, kSocketIoctlBase);
    WEIR_TRY(add(SCMP_ACT_NOTIFY, "ioctl", 1, &is_sioc));
  }
  for (const auto& refused : kRefused) {
    WEIR_TRY(add(SCMP_ACT_ERRNO(static_cast<uint32_t>(refused.error)), refused.name, 0, nullptr));
  }
  return ctx;
}

// The supervisor's steady state, measured with strace on curl, python, nginx and iperf3
// inside. Everything that opens something new (the tap, the listener, publish sockets,
// signalfd) happens before the lockdown.
const std::vector<std::string> kSupervisorAllowlist = {
    // the loop, the tap, the stand-ins' host ends
    "read", "write", "writev", "close", "epoll_wait", "epoll_ctl", "recvfrom", "sendto", "sendmsg",
    // new stand-ins and accepted --publish connections
    "socketpair", "fcntl", "setsockopt", "shutdown", "accept4",
    // seccomp notifications (ioctl narrowed to their commands) and the program's memory and fds
    "ioctl", "pidfd_open", "pidfd_getfd", "process_vm_readv", "process_vm_writev",
    // identifying files, finding a socket's holder, /proc/net answers
    "openat", "newfstatat", "getdents64", "readlink", "memfd_create",
    // the sandbox's init and signals for it
    "wait4", "kill",
    // memory, time, randomness, the end
    "mmap", "munmap", "mprotect", "madvise", "brk", "futex", "clock_gettime", "getrandom",
    "rt_sigreturn", "exit_group",
};

Result<Context> supervisor_filter() {
  Context ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!ctx) return Error::kOutOfMemory;
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0) {
    return from_seccomp(rc);
  }
  for (const auto& name : kSupervisorAllowlist) {
    auto nr = syscall_number(name.c_str());
    if (!nr) return Error::kNotImplemented;
    if (name == "ioctl") {
      for (unsigned long cmd :
           {static_cast<unsigned long>(SECCOMP_IOCTL_NOTIF_RECV),
            static_cast<unsigned long>(SECCOMP_IOCTL_NOTIF_SEND),
            static_cast<unsigned long>(SECCOMP_IOCTL_NOTIF_ID_VALID),
            static_cast<unsigned long>(SECCOMP_IOCTL_NOTIF_ADDFD), static_cast<unsigned long>(FIONREAD),
            static_cast<unsigned long>(TIOCOUTQ)}) {
        scmp_arg_cmp is_cmd = SCMP_A1(SCMP_CMP_EQ, cmd);
        if (int rc = seccomp_rule_add_array(ctx.get(), SCMP_ACT_ALLOW, *nr, 1, &is_cmd); rc < 0) {
          return from_seccomp(rc);
        }
      }
      continue;
    }
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, *nr, 0); rc < 0) {
      return from_seccomp(rc);
    }
  }
  return ctx;
}

std::string export_pfc(void* ctx) {
  std::string text;
  FILE* mem = tmpfile();
  if (mem == nullptr) return text;
  if (seccomp_export_pfc(ctx, fileno(mem)) == 0) {
    std::rewind(mem);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, mem)) > 0) text.append(buf, n);
  }
  std::fclose(mem);
  return text;
}

}  // namespace

Result<UniqueFd> install_program_filter() {
  auto ctx = program_filter();
  if (!ctx) return ctx.error();
  if (int rc = seccomp_load(ctx->get()); rc < 0) return from_seccomp(rc);
  int fd = seccomp_notify_fd(ctx->get());
  if (fd < 0) return from_seccomp(fd);
  return UniqueFd(fd);
}

Status lock_down_supervisor() {
  auto ctx = supervisor_filter();
  if (!ctx) return ctx.error();
  if (int rc = seccomp_load(ctx->get()); rc < 0) return from_seccomp(rc);
  return ok_status();
}

const std::vector<std::string>& supervisor_allowlist() { return kSupervisorAllowlist; }

Result<std::string> describe_policies() {
  auto program = program_filter();
  if (!program) return program.error();
  auto supervisor = supervisor_filter();
  if (!supervisor) return supervisor.error();
  std::string out;
  out += "# Program filter (installed before exec, inherited by every process in the sandbox)\n";
  out += "#   notify: the supervisor answers; errno: refused; default: allow\n";
  out += export_pfc(program->get());
  out += "\n# Supervisor allowlist (applied to weir itself after setup; anything else kills it)\n";
  out += export_pfc(supervisor->get());
  out += "\nsupervisor allowlist: " + std::to_string(kSupervisorAllowlist.size()) + " syscalls\n";
  return out;
}

}  // namespace weir::sandbox
