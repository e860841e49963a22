// How the socket emulator reaches into a sandboxed program: the intercepted call, the program's
// memory, its file descriptors, and the answer. SeccompTracee is the real thing (a seccomp
// notification listener, process_vm_readv/writev, pidfd_getfd); tests substitute their own, so
// the emulator runs without namespaces or seccomp.
//
// Rules every implementation keeps (../DESIGN.md "Sandbox"; pitfall 4 of the sandbox notes):
// memory is copied once and the copy is what the emulator acts on; after touching the
// program's memory or fd table, the call must still be pending (still_waiting), or the thread
// that made it may be gone and its tid reused.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "sandbox/kernel.h"
#include "stack/bytes.h"
#include "stack/result.h"
#include "stack/unique_fd.h"

namespace weir::sandbox {

// One intercepted system call.
struct SyscallRequest {
  uint64_t id = 0;  // the notification id: every answer names it
  pid_t tid = 0;    // the calling thread, as the supervisor's pid namespace sees it
  int nr = 0;       // x86_64 system call number
  std::array<uint64_t, 6> args{};

  int arg_int(size_t i) const { return static_cast<int>(args[i]); }
};

class Tracee {
 public:
  virtual ~Tracee() = default;

  // Copies exactly out.size() bytes from the program's address addr; kBadAddress if any of
  // them is unreadable.
  virtual Status read_memory(const SyscallRequest& req, uint64_t addr, MutableByteView out) = 0;
  virtual Status write_memory(const SyscallRequest& req, uint64_t addr, ByteView data) = 0;
  // A NUL-terminated string of at most max bytes (kNameTooLong-like kInvalidArgument past it).
  Result<std::string> read_string(const SyscallRequest& req, uint64_t addr, size_t max);

  // The open file behind the program's fd, as a new fd of ours (the same file description:
  // flags and socket state are shared). kBadFileDescriptor if there is no such fd.
  virtual Result<UniqueFd> get_fd(const SyscallRequest& req, int fd) = 0;

  // Answers. Each fails (kNotFound) when the call is no longer pending: a signal interrupted
  // it or the thread died; the caller then undoes what it did for the call.
  virtual Status reply(const SyscallRequest& req, int64_t value) = 0;
  virtual Status reply_error(const SyscallRequest& req, int error) = 0;
  virtual Status reply_continue(const SyscallRequest& req) = 0;
  // Installs fd in the program and answers with its number, atomically.
  virtual Result<int> reply_with_fd(const SyscallRequest& req, int fd, bool cloexec) = 0;
  virtual bool still_waiting(const SyscallRequest& req) = 0;

  // Outside any call: a duplicate of the program's open file whose inode is `inode` (a
  // stand-in), looked for first at fd hint_fd of thread hint_tid, then in every process of
  // the sandbox. kNotFound when no process holds it any more.
  virtual Result<UniqueFd> find_file(ino_t inode, pid_t hint_tid, int hint_fd) = 0;
};

// The real program behind a seccomp notification listener.
class SeccompTracee final : public Tracee {
 public:
  explicit SeccompTracee(const NotifyFd& notify) : notify_(notify) {}

  Status read_memory(const SyscallRequest& req, uint64_t addr, MutableByteView out) override;
  Status write_memory(const SyscallRequest& req, uint64_t addr, ByteView data) override;
  Result<UniqueFd> get_fd(const SyscallRequest& req, int fd) override;
  Status reply(const SyscallRequest& req, int64_t value) override;
  Status reply_error(const SyscallRequest& req, int error) override;
  Status reply_continue(const SyscallRequest& req) override;
  Result<int> reply_with_fd(const SyscallRequest& req, int fd, bool cloexec) override;
  bool still_waiting(const SyscallRequest& req) override;
  Result<UniqueFd> find_file(ino_t inode, pid_t hint_tid, int hint_fd) override;

  // The sandbox's init: find_file searches the processes of its pid namespace.
  void set_sandbox_init(pid_t init_pid) { init_pid_ = init_pid; }

  // Forgets cached pidfds (a thread exited, or the cache grew).
  void forget_thread(pid_t tid) { pidfds_.erase(tid); }

 private:
  Result<int> pidfd_for(const SyscallRequest& req);

  const NotifyFd& notify_;
  std::unordered_map<pid_t, UniqueFd> pidfds_;
  pid_t init_pid_ = 0;
};

}  // namespace weir::sandbox
