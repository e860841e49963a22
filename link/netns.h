// NetnsScope: keeps the calling thread in another network namespace while an fd-based endpoint
// (tap, packet socket) sets itself up.
#pragma once

#include <string>

#include "stack/result.h"

namespace weir::link {

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
