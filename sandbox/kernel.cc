#include "sandbox/kernel.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace weir::sandbox {

Error last_error() { return error_from_errno(errno); }

namespace {

Result<pid_t> thread_group_of(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", tid);
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return last_error();
  char buf[1024];
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return Error::kNoSuchProcess;
  buf[n] = '\0';
  const char* line = std::strstr(buf, "\nTgid:");
  if (line == nullptr) return Error::kNoSuchProcess;
  long tgid = std::strtol(line + 6, nullptr, 10);
  if (tgid <= 0) return Error::kNoSuchProcess;
  return static_cast<pid_t>(tgid);
}

}  // namespace

Result<UniqueFd> open_pidfd(pid_t tid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, tid, PIDFD_THREAD));
  if (fd >= 0) return UniqueFd(fd);
  if (errno != EINVAL) return last_error();
  // Before 6.9: only a thread-group leader has a pidfd.
  auto tgid = thread_group_of(tid);
  if (!tgid) return tgid.error();
  fd = static_cast<int>(::syscall(SYS_pidfd_open, *tgid, 0));
  if (fd < 0) return last_error();
  return UniqueFd(fd);
}

Result<UniqueFd> get_remote_fd(int pidfd, int target) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, target, 0));
  if (fd < 0) return last_error();
  return UniqueFd(fd);
}

Status NotifyFd::receive(seccomp_notif& out) const {
  // The kernel refuses a buffer that is not zeroed (pitfall 10).
  std::memset(&out, 0, sizeof out);
  for (;;) {
    if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_RECV, &out) == 0) return ok_status();
    if (errno == EINTR) continue;
    return last_error();
  }
}

Status NotifyFd::respond(uint64_t id, int64_t value, int error) const {
  seccomp_notif_resp resp{};
  resp.id = id;
  resp.val = error == 0 ? value : 0;
  resp.error = error == 0 ? 0 : -error;
  resp.flags = 0;
  if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0) return ok_status();
  return last_error();
}

Status NotifyFd::respond_continue(uint64_t id) const {
  seccomp_notif_resp resp{};
  resp.id = id;
  resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0) return ok_status();
  return last_error();
}

Result<int> NotifyFd::respond_with_fd(uint64_t id, int fd, bool cloexec) const {
  seccomp_notif_addfd addfd{};
  addfd.id = id;
  addfd.flags = SECCOMP_ADDFD_FLAG_SEND;
  addfd.srcfd = static_cast<uint32_t>(fd);
  addfd.newfd = 0;
  addfd.newfd_flags = cloexec ? O_CLOEXEC : 0;
  int installed = ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
  if (installed < 0) return last_error();
  return installed;
}

bool NotifyFd::id_valid(uint64_t id) const {
  uint64_t copy = id;
  return ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &copy) == 0;
}

}  // namespace weir::sandbox
