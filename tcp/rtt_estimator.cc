// Theory of operation (RFC 6298).
//
// The first measurement R seeds SRTT = R and RTTVAR = R/2 (2.2). Each later R updates RTTVAR
// with the old SRTT first, then SRTT (2.3):
//   RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|,   SRTT = 7/8 SRTT + 1/8 R.
// RTO = SRTT + max(G, 4 RTTVAR), and the result is clamped to [min, max]; before any sample the
// RTO is the configured initial value (2.1). The configured minimum defaults to Linux's 200 ms
// rather than the RFC's 1 s (2.4 says SHOULD; deployed stacks chose lower).
//
// Backoff (5.5) doubles the timer each time it expires, bounded by max. Karn's algorithm keeps
// the backed-off value until a valid sample arrives; the caller only feeds samples that Karn's
// rule allows (non-retransmitted segments, or timestamps), so a sample clears the backoff.
// min_rtt is the smallest sample ever seen, which CUBIC and RACK use as their RTT floor.
#include "tcp/rtt_estimator.h"

#include <algorithm>

namespace weir::tcp {

const RtoConfig& default_rto_config() {
  static const RtoConfig defaults;
  return defaults;
}

RttEstimator::RttEstimator(const RtoConfig& config) : config_(&config), rto_(compute_rto()) {}

RttEstimator RttEstimator::restored(const Saved& s, const RtoConfig& config) {
  RttEstimator e(config);
  e.srtt_ = s.srtt;
  e.rttvar_ = s.rttvar;
  e.min_rtt_ = s.min_rtt;
  e.latest_ = s.latest;
  e.backoffs_ = s.backoffs;
  e.has_sample_ = s.has_sample;
  e.rto_ = e.compute_rto();
  return e;
}

void RttEstimator::on_sample(Duration rtt) {
  // A negative sample can only come from a clock or bookkeeping error; ignoring it is safer
  // than poisoning SRTT.
  if (rtt < Duration::zero()) return;
  latest_ = rtt;
  if (!has_sample_) {
    has_sample_ = true;
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    min_rtt_ = rtt;
  } else {
    const Duration srtt = srtt_;
    const Duration err = srtt > rtt ? srtt - rtt : rtt - srtt;
    rttvar_ = (3 * rttvar_ + err) / 4;
    srtt_ = (7 * srtt + rtt) / 8;
    min_rtt_ = std::min(min_rtt_, rtt);
  }
  backoffs_ = 0;
  rto_ = compute_rto();
}

void RttEstimator::backoff() {
  // Once the doubled RTO has reached max, further doublings change nothing; stop counting so
  // the shift in rto() stays bounded.
  if (rto() < config_->max) ++backoffs_;
  rto_ = compute_rto();
}

void RttEstimator::reset_backoff() {
  // Every ACK of new data calls this; without a backoff to undo the RTO is already right.
  if (backoffs_ == 0) return;
  backoffs_ = 0;
  rto_ = compute_rto();
}

Duration RttEstimator::compute_rto() const {
  const RtoConfig& c = *config_;
  // A configuration with min > max would make clamping ill-defined; max wins.
  const Duration min = std::min(c.min, c.max);
  Duration base = c.initial;
  if (has_sample_) base = srtt_ + std::max(c.granularity, 4 * rttvar_);
  // Not std::clamp: min <= max holds by construction, and the hardened build asserts it.
  base = std::min(std::max(base, min), c.max);
  for (unsigned i = 0; i < backoffs_ && base < c.max; ++i) {
    base = base > c.max / 2 ? c.max : base * 2;
  }
  return std::min(base, c.max);
}

Duration RttEstimator::srtt() const { return srtt_; }

Duration RttEstimator::rttvar() const { return rttvar_; }

Duration RttEstimator::min_rtt() const { return min_rtt_; }

}  // namespace weir::tcp
