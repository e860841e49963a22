// HyStart++ (RFC 9406): leaves the initial slow start when the RTT starts to climb, before
// the window overshoots the path and fills its queue.
#pragma once

#include <cstdint>
#include <optional>

#include "stack/clock.h"
#include "tcp/cc/congestion_control.h"

namespace weir::tcp {

struct HyStartConfig {  // RFC 9406 section 4.3 defaults
  Duration min_rtt_thresh = std::chrono::milliseconds(4);
  Duration max_rtt_thresh = std::chrono::milliseconds(16);
  uint32_t min_rtt_divisor = 8;
  uint32_t n_rtt_sample = 8;
  uint32_t css_growth_divisor = 4;
  uint32_t css_rounds = 5;
};

class HyStart {
 public:
  enum class Phase {
    kSlowStart,     // standard exponential growth, watching the RTT
    kConservative,  // Conservative Slow Start: growth divided by css_growth_divisor
    kDone,          // left for congestion avoidance, or stopped by a loss
  };
  struct Decision {
    uint32_t growth_divisor = 1;   // divide the slow-start increase of this ACK by this
    bool exit_slow_start = false;  // set ssthresh = cwnd and enter congestion avoidance
  };

  explicit HyStart(HyStartConfig config = {}) : config_(config) {}

  // Every cwnd-limited ACK while in the initial slow start.
  Decision on_ack(const AckSample& ack);
  // A loss or timeout ends HyStart++ for the connection (RFC 9406 4.2: it runs only in the
  // initial slow start).
  void stop() { phase_ = Phase::kDone; }

  Phase phase() const { return phase_; }
  uint32_t rounds() const { return rounds_; }

 private:
  void start_round(uint32_t bytes_in_flight);

  HyStartConfig config_;
  Phase phase_ = Phase::kSlowStart;
  uint64_t round_bytes_left_ = 0;  // bytes to acknowledge before the current round ends
  bool round_started_ = false;
  uint32_t rounds_ = 0;
  std::optional<Duration> last_round_min_rtt_;
  std::optional<Duration> current_round_min_rtt_;
  uint32_t rtt_sample_count_ = 0;
  std::optional<Duration> css_baseline_min_rtt_;
  uint32_t css_rounds_done_ = 0;
};

}  // namespace weir::tcp
