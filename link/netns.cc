#include "link/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "stack/unique_fd.h"

namespace weir::link {

NetnsScope::~NetnsScope() {
  if (original_ < 0) return;
  if (::setns(original_, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "weir: cannot return to the original network namespace: %s\n",
                 std::strerror(errno));
    std::abort();
  }
  ::close(original_);
}

Status NetnsScope::enter(const std::string& path, const std::string& who, std::string* message) {
  UniqueFd original(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (original.get() < 0) {
    const int err = errno;
    if (message) *message = who + ": cannot open our own network namespace: " + std::strerror(err);
    return error_from_errno(err);
  }
  UniqueFd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (target.get() < 0) {
    const int err = errno;
    if (message) {
      *message = who + ": cannot open network namespace '" + path + "': " + std::strerror(err) +
                 " (expected a file like /var/run/netns/NAME or /proc/PID/ns/net)";
    }
    return error_from_errno(err);
  }
  if (::setns(target.get(), CLONE_NEWNET) != 0) {
    const int err = errno;
    if (message) {
      *message = who + ": cannot enter network namespace '" + path + "': " + std::strerror(err) +
                 " (needs CAP_SYS_ADMIN)";
    }
    return error_from_errno(err);
  }
  original_ = original.release();
  return ok_status();
}

}  // namespace weir::link
