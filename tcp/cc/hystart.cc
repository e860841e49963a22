// Theory of operation: HyStart++ (RFC 9406 section 4).
//
// Slow start is cut into rounds of one RTT. RFC 9406 ends a round when the ACK for SND.NXT at
// the round's start arrives; the congestion controller sees byte counts, not sequence numbers,
// so a round here ends once the bytes in flight at its start have all been acknowledged
// (cumulatively or by SACK), which is the same event for an in-order ACK stream.
//
// Each round records its minimum RTT over its samples (an AckSample with a zero RTT carries
// none). Once a round has N_RTT_SAMPLE samples and the previous round had a minimum, a rise of
// at least RttThresh = clamp(lastRoundMinRTT / MIN_RTT_DIVISOR, MIN_RTT_THRESH,
// MAX_RTT_THRESH) means a queue is forming: HyStart++ enters Conservative Slow Start (CSS)
// with that round's minimum as baseline, and the window grows CSS_GROWTH_DIVISOR times more
// slowly. If the RTT falls back below the baseline the rise was spurious and slow start
// resumes (4.2); after CSS_ROUNDS rounds in CSS the sender moves to congestion avoidance with
// ssthresh = cwnd. A loss ends HyStart++ entirely; later slow starts (after a timeout) are
// standard, as 4.2 recommends.
#include "tcp/cc/hystart.h"

#include <algorithm>

namespace weir::tcp {

void HyStart::start_round(uint32_t bytes_in_flight) {
  round_started_ = true;
  round_bytes_left_ = bytes_in_flight;
  ++rounds_;
  last_round_min_rtt_ = current_round_min_rtt_;
  current_round_min_rtt_.reset();
  rtt_sample_count_ = 0;
  if (phase_ == Phase::kConservative) ++css_rounds_done_;
}

HyStart::Decision HyStart::on_ack(const AckSample& ack) {
  if (phase_ == Phase::kDone) return {};

  if (!round_started_ || ack.bytes_acked >= round_bytes_left_) {
    start_round(ack.bytes_in_flight);
  } else {
    round_bytes_left_ -= ack.bytes_acked;
  }
  if (phase_ == Phase::kConservative && css_rounds_done_ >= config_.css_rounds) {
    phase_ = Phase::kDone;
    return {.growth_divisor = 1, .exit_slow_start = true};
  }

  if (ack.rtt > Duration::zero()) {
    current_round_min_rtt_ = std::min(current_round_min_rtt_.value_or(ack.rtt), ack.rtt);
    ++rtt_sample_count_;
  }

  if (rtt_sample_count_ >= config_.n_rtt_sample && current_round_min_rtt_) {
    if (phase_ == Phase::kSlowStart && last_round_min_rtt_) {
      const Duration thresh = std::clamp(*last_round_min_rtt_ / config_.min_rtt_divisor,
                                         config_.min_rtt_thresh, config_.max_rtt_thresh);
      if (*current_round_min_rtt_ >= *last_round_min_rtt_ + thresh) {
        css_baseline_min_rtt_ = current_round_min_rtt_;
        css_rounds_done_ = 0;
        phase_ = Phase::kConservative;
      }
    } else if (phase_ == Phase::kConservative && *current_round_min_rtt_ < *css_baseline_min_rtt_) {
      css_baseline_min_rtt_.reset();
      phase_ = Phase::kSlowStart;
    }
  }

  if (phase_ == Phase::kConservative) return {.growth_divisor = config_.css_growth_divisor};
  return {};
}

}  // namespace weir::tcp
