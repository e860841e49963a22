// Small RAII helpers the fd-based endpoints share: an owned file descriptor, and a scope that
// keeps the calling thread in another network namespace while an endpoint sets itself up.
#pragma once

#include <string>
#include <utility>

#include "stack/result.h"

namespace weir::link {

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Keeps this thread in another network namespace for its lifetime: the namespace current at
// socket()/open() decides which devices a new fd sees, and the fd keeps working from ours
// afterwards. Failing to return would leave the thread (and everything it does next) in the
// wrong namespace, so that aborts.
class NetnsScope {
 public:
  NetnsScope() = default;
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;
  ~NetnsScope();

  // Enters the namespace at `path`. On failure *message (if given) is one line starting with
  // `who` ("packet: ...").
  Status enter(const std::string& path, const std::string& who, std::string* message);

 private:
  int original_ = -1;  // our namespace, to return to; owned
};

}  // namespace weir::link
