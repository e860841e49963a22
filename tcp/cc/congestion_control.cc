// The factory that turns a congestion-control name (a socket option, a command-line flag) into
// a controller.
#include "tcp/cc/congestion_control.h"

#include <algorithm>
#include <cctype>

#include "tcp/cc/cubic.h"
#include "tcp/cc/new_reno.h"

namespace weir::tcp {

namespace {
bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

Result<std::unique_ptr<CongestionControl>> make_congestion_control(
    std::string_view name, const CongestionControlOptions& options) {
  if (options.mss == 0 || options.initial_window_segments == 0) return Error::kInvalidArgument;
  if (name.empty() || equals_ignoring_case(name, "cubic")) {
    return std::unique_ptr<CongestionControl>(std::make_unique<Cubic>(options));
  }
  if (equals_ignoring_case(name, "newreno") || equals_ignoring_case(name, "reno")) {
    return std::unique_ptr<CongestionControl>(std::make_unique<NewReno>(options));
  }
  return Error::kInvalidArgument;
}

}  // namespace weir::tcp
