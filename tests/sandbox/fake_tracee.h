// A Tracee for tests: the "program" is the test itself. Its memory is an arena the test fills
// and reads; its fds are the test's own (get_fd dups them, an installed fd is a new fd of the
// test's), so a test drives the emulator with system-call requests and then uses the stand-ins
// natively, exactly as a sandboxed program would, without seccomp or namespaces.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <dirent.h>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sandbox/tracee.h"

namespace weir::sandbox::testing {

struct Answer {
  bool continued = false;
  int64_t value = 0;
  int error = 0;     // errno, 0 on success
  int fd = -1;       // an installed fd (in this process)
};

class FakeTracee final : public Tracee {
 public:
  static constexpr uint64_t kBase = 0x10000000;

  explicit FakeTracee(size_t size = size_t{4} << 20) : memory_(size), size_(size) {}
  ~FakeTracee() override {
    for (auto& [id, a] : answers_) {
      if (a.fd >= 0 && !taken_.count(a.fd)) ::close(a.fd);
    }
  }

  // ---- the program's memory ----
  uint64_t alloc(size_t n) {
    uint64_t at = kBase + used_;
    used_ = std::min(size_, used_ + ((n + 15) & ~size_t{15}));
    return at;
  }
  // The whole arena, for a fuzzer to fill.
  MutableByteView memory() { return memory_; }
  uint64_t put(ByteView data) {
    uint64_t at = alloc(data.size());
    copy_bytes(memory_, at - kBase, data);
    return at;
  }
  template <typename T>
  uint64_t put_value(const T& v) {
    return put(std::as_bytes(std::span<const T, 1>(&v, 1)));
  }
  std::vector<std::byte> get(uint64_t at, size_t n) const {
    auto span = ByteView(memory_).subspan(at - kBase, n);
    return {span.begin(), span.end()};
  }
  template <typename T>
  T get_value(uint64_t at) const {
    T v;
    auto bytes = get(at, sizeof(T));
    std::memcpy(&v, bytes.data(), sizeof(T));
    return v;
  }

  // ---- what the emulator did ----
  std::optional<Answer> answer(uint64_t id) const {
    auto it = answers_.find(id);
    if (it == answers_.end()) return std::nullopt;
    return it->second;
  }
  // The test keeps an installed fd (and closes it itself).
  int take_fd(uint64_t id) {
    auto it = answers_.find(id);
    if (it == answers_.end() || it->second.fd < 0) return -1;
    taken_.insert(it->second.fd);
    return it->second.fd;
  }
  // A signal interrupted call id: it is no longer waiting.
  void interrupt(uint64_t id) { interrupted_.insert(id); }
  // How many times memory at [addr, addr+1) was read during call id.
  size_t reads_of(uint64_t id, uint64_t addr) const {
    size_t n = 0;
    for (const auto& r : reads_) {
      if (r.id == id && addr >= r.addr && addr < r.addr + r.size) ++n;
    }
    return n;
  }

  // ---- Tracee ----
  Status read_memory(const SyscallRequest& req, uint64_t addr, MutableByteView out) override {
    if (out.empty()) return ok_status();
    if (addr < kBase || addr - kBase > size_ || out.size() > size_ - (addr - kBase)) {
      return Error::kBadAddress;
    }
    reads_.push_back({req.id, addr, out.size()});
    copy_bytes(out, 0, ByteView(memory_).subspan(addr - kBase, out.size()));
    return ok_status();
  }
  Status write_memory(const SyscallRequest&, uint64_t addr, ByteView data) override {
    if (data.empty()) return ok_status();
    if (addr < kBase || addr - kBase > size_ || data.size() > size_ - (addr - kBase)) {
      return Error::kBadAddress;
    }
    copy_bytes(memory_, addr - kBase, data);
    return ok_status();
  }
  Result<UniqueFd> get_fd(const SyscallRequest&, int fd) override {
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return Error::kBadFileDescriptor;
    return UniqueFd(dup);
  }
  Status reply(const SyscallRequest& req, int64_t value) override {
    if (interrupted_.count(req.id)) return Error::kNotFound;
    answers_[req.id] = Answer{false, value, 0, -1};
    return ok_status();
  }
  Status reply_error(const SyscallRequest& req, int error) override {
    if (interrupted_.count(req.id)) return Error::kNotFound;
    answers_[req.id] = Answer{false, -1, error, -1};
    return ok_status();
  }
  Status reply_continue(const SyscallRequest& req) override {
    if (interrupted_.count(req.id)) return Error::kNotFound;
    answers_[req.id] = Answer{true, 0, 0, -1};
    return ok_status();
  }
  Result<int> reply_with_fd(const SyscallRequest& req, int fd, bool cloexec) override {
    if (interrupted_.count(req.id)) return Error::kNotFound;
    int installed = ::fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
    if (installed < 0) return Error::kTooManyFiles;
    answers_[req.id] = Answer{false, installed, 0, installed};
    return installed;
  }
  bool still_waiting(const SyscallRequest& req) override { return !interrupted_.count(req.id); }
  Result<UniqueFd> find_file(ino_t inode, pid_t, int) override {
    for (int fd : taken_) {
      struct stat st {};
      if (::fstat(fd, &st) == 0 && st.st_ino == inode) return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    }
    return Error::kNotFound;
  }

  // The test closed an fd it had taken.
  void forget_fd(int fd) { taken_.erase(fd); }

 private:
  struct Read {
    uint64_t id;
    uint64_t addr;
    size_t size;
  };
  std::vector<std::byte> memory_;
  size_t size_;
  size_t used_ = 0;
  std::map<uint64_t, Answer> answers_;
  std::set<uint64_t> interrupted_;
  std::set<int> taken_;
  std::vector<Read> reads_;
};

}  // namespace weir::sandbox::testing
