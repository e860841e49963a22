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

Result<CongestionAlgorithm> parse_congestion_algorithm(std::string_view name) {
  if (equals_ignoring_case(name, "cubic")) return CongestionAlgorithm::kCubic;
  if (equals_ignoring_case(name, "newreno") || equals_ignoring_case(name, "reno")) {
    return CongestionAlgorithm::kNewReno;
  }
  return Error::kInvalidArgument;
}

std::string_view congestion_algorithm_name(CongestionAlgorithm algorithm) {
  return algorithm == CongestionAlgorithm::kCubic ? "cubic" : "reno";
}

Result<std::unique_ptr<CongestionControl>> make_congestion_control(
    CongestionAlgorithm algorithm, const CongestionControlOptions& options) {
  if (options.mss == 0 || options.initial_window_segments == 0) return Error::kInvalidArgument;
  switch (algorithm) {
    case CongestionAlgorithm::kCubic:
      return std::unique_ptr<CongestionControl>(std::make_unique<Cubic>(options));
    case CongestionAlgorithm::kNewReno:
      return std::unique_ptr<CongestionControl>(std::make_unique<NewReno>(options));
  }
  return Error::kInvalidArgument;
}

Result<std::unique_ptr<CongestionControl>> make_congestion_control(
    std::string_view name, const CongestionControlOptions& options) {
  if (name.empty()) return make_congestion_control(CongestionAlgorithm::kCubic, options);
  auto algorithm = parse_congestion_algorithm(name);
  if (!algorithm) return algorithm.error();
  return make_congestion_control(*algorithm, options);
}

}  // namespace weir::tcp
