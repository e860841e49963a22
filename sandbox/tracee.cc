#include "sandbox/tracee.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace weir::sandbox {

namespace {

constexpr size_t kPageSize = 4096;
// Threads come and go; past this many cached pidfds the cache starts over rather than grow.
constexpr size_t kMaxCachedPidfds = 512;

}  // namespace

Result<std::string> Tracee::read_string(const SyscallRequest& req, uint64_t addr, size_t max) {
  std::string out;
  // Page by page: the string may end just before an unmapped page, which a larger read would
  // touch and fail on.
  while (out.size() < max) {
    size_t to_page_end = kPageSize - (addr % kPageSize);
    size_t n = std::min(to_page_end, max - out.size());
    std::string chunk(n, '\0');
    WEIR_TRY(read_memory(req, addr, std::as_writable_bytes(std::span(chunk.data(), n))));
    auto nul = chunk.find('\0');
    if (nul != std::string::npos) {
      out.append(chunk, 0, nul);
      return out;
    }
    out += chunk;
    addr += n;
  }
  return Error::kInvalidArgument;
}

Status SeccompTracee::read_memory(const SyscallRequest& req, uint64_t addr, MutableByteView out) {
  if (out.empty()) return ok_status();
  iovec local{out.data(), out.size()};
  iovec remote{reinterpret_cast<void*>(addr), out.size()};  // an address in the program, not ours
  ssize_t n = ::process_vm_readv(req.tid, &local, 1, &remote, 1, 0);
  if (n != static_cast<ssize_t>(out.size())) {
    return n < 0 && errno == ESRCH ? Error::kNoSuchProcess : Error::kBadAddress;
  }
  // The tid named the caller only if the call is still pending (pitfall 4: tid reuse).
  if (!notify_.id_valid(req.id)) return Error::kNoSuchProcess;
  return ok_status();
}

Status SeccompTracee::write_memory(const SyscallRequest& req, uint64_t addr, ByteView data) {
  if (data.empty()) return ok_status();
  // Checked first as well: a write into a thread that is gone could land in a stranger.
  if (!notify_.id_valid(req.id)) return Error::kNoSuchProcess;
  iovec local{const_cast<std::byte*>(data.data()), data.size()};  // process_vm_writev only reads it
  iovec remote{reinterpret_cast<void*>(addr), data.size()};
  ssize_t n = ::process_vm_writev(req.tid, &local, 1, &remote, 1, 0);
  if (n != static_cast<ssize_t>(data.size())) {
    return n < 0 && errno == ESRCH ? Error::kNoSuchProcess : Error::kBadAddress;
  }
  return ok_status();
}

Result<int> SeccompTracee::pidfd_for(const SyscallRequest& req) {
  if (auto it = pidfds_.find(req.tid); it != pidfds_.end()) return it->second.get();
  auto pidfd = open_pidfd(req.tid);
  if (!pidfd) return pidfd.error();
  // Opened after the notification: valid only if the caller is still the thread with this tid.
  if (!notify_.id_valid(req.id)) return Error::kNoSuchProcess;
  if (pidfds_.size() >= kMaxCachedPidfds) pidfds_.clear();
  int raw = pidfd->get();
  pidfds_.emplace(req.tid, std::move(*pidfd));
  return raw;
}

Result<UniqueFd> SeccompTracee::get_fd(const SyscallRequest& req, int fd) {
  if (fd < 0) return Error::kBadFileDescriptor;
  auto pidfd = pidfd_for(req);
  if (!pidfd) return pidfd.error();
  auto dup = get_remote_fd(*pidfd, fd);
  if (!dup && dup.error() == Error::kNoSuchProcess) {
    // A cached pidfd of a thread that exited, its tid now reused by the caller: open afresh.
    pidfds_.erase(req.tid);
    pidfd = pidfd_for(req);
    if (!pidfd) return pidfd.error();
    dup = get_remote_fd(*pidfd, fd);
  }
  if (!dup) return dup.error() == Error::kBadFileDescriptor ? Error::kBadFileDescriptor : dup.error();
  if (!notify_.id_valid(req.id)) return Error::kNoSuchProcess;
  return dup;
}

Status SeccompTracee::reply(const SyscallRequest& req, int64_t value) {
  return notify_.respond(req.id, value, 0);
}

Status SeccompTracee::reply_error(const SyscallRequest& req, int error) {
  return notify_.respond(req.id, 0, error);
}

Status SeccompTracee::reply_continue(const SyscallRequest& req) {
  return notify_.respond_continue(req.id);
}

Result<int> SeccompTracee::reply_with_fd(const SyscallRequest& req, int fd, bool cloexec) {
  return notify_.respond_with_fd(req.id, fd, cloexec);
}

bool SeccompTracee::still_waiting(const SyscallRequest& req) { return notify_.id_valid(req.id); }

namespace {

// A duplicate of fd `fd` of process `pid` if it is the socket with inode `inode`.
Result<UniqueFd> take_if_match(pid_t pid, int fd, ino_t inode) {
  auto pidfd = open_pidfd(pid);
  if (!pidfd) return pidfd.error();
  auto dup = get_remote_fd(pidfd->get(), fd);
  if (!dup) return dup.error();
  struct stat st {};
  if (::fstat(dup->get(), &st) != 0 || st.st_ino != inode || !S_ISSOCK(st.st_mode)) {
    return Error::kNotFound;
  }
  return dup;
}

std::string link_target(const std::string& path) {
  char buf[256];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

}  // namespace

Result<UniqueFd> SeccompTracee::find_file(ino_t inode, pid_t hint_tid, int hint_fd) {
  if (hint_tid > 0 && hint_fd >= 0) {
    if (auto dup = take_if_match(hint_tid, hint_fd, inode)) return dup;
  }
  if (init_pid_ <= 0) return Error::kNotFound;
  // The processes of the sandbox share the init's pid namespace.
  const std::string sandbox_ns = link_target("/proc/" + std::to_string(init_pid_) + "/ns/pid");
  if (sandbox_ns.empty()) return Error::kNotFound;
  const std::string wanted = "socket:[" + std::to_string(inode) + "]";
  std::unique_ptr<DIR, DirCloser> proc(::opendir("/proc"));
  if (!proc) return Error::kNotFound;
  while (dirent* e = ::readdir(proc.get())) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    const std::string base = "/proc/" + std::to_string(pid);
    if (link_target(base + "/ns/pid") != sandbox_ns) continue;
    std::unique_ptr<DIR, DirCloser> fds(::opendir((base + "/fd").c_str()));
    if (!fds) continue;
    while (dirent* f = ::readdir(fds.get())) {
      if (f->d_name[0] == '.') continue;
      if (link_target(base + "/fd/" + f->d_name) != wanted) continue;
      if (auto dup = take_if_match(static_cast<pid_t>(pid), std::atoi(f->d_name), inode)) {
        return dup;
      }
    }
  }
  return Error::kNotFound;
}

}  // namespace weir::sandbox
