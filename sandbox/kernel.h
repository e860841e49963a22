// Thin wrappers over the kernel interfaces the sandbox uses and Debian 12's 6.1 headers lack or
// glibc 2.36 does not wrap: pidfd_open/pidfd_getfd, the seccomp notification ioctls, and the
// flags newer kernels added. Each wrapper returns Result and never throws.
#pragma once

#include <linux/seccomp.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "stack/result.h"
#include "stack/unique_fd.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL  // 6.9: a pidfd for a thread, not only a thread-group leader
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace weir::sandbox {

// errno of the last failed call as an Error.
Error last_error();

// A pidfd for thread `tid`: PIDFD_THREAD where the kernel has it (6.9+), otherwise the pidfd of
// the thread's group leader (threads share their fd table unless they unshared it).
Result<UniqueFd> open_pidfd(pid_t tid);
// A duplicate of fd `target` of the process behind pidfd: the same open file description.
Result<UniqueFd> get_remote_fd(int pidfd, int target);

// The seccomp notification listener: receive a notification, answer it, install fds.
class NotifyFd {
 public:
  NotifyFd() = default;
  explicit NotifyFd(UniqueFd fd) : fd_(std::move(fd)) {}
  int get() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }

  // Blocks until a notification is pending; call when the fd polls readable.
  Status receive(seccomp_notif& out) const;
  // Replies with a return value (error == 0) or an errno (value ignored).
  Status respond(uint64_t id, int64_t value, int error) const;
  // Lets the kernel run the call as the program made it.
  Status respond_continue(uint64_t id) const;
  // Installs `fd` in the program and answers the call with its number, atomically.
  Result<int> respond_with_fd(uint64_t id, int fd, bool cloexec) const;
  // Whether the call `id` still waits for an answer (the thread was not interrupted or killed).
  bool id_valid(uint64_t id) const;

 private:
  UniqueFd fd_;
};

}  // namespace weir::sandbox
