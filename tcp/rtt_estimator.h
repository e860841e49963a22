// The retransmission timeout estimator of RFC 6298: SRTT/RTTVAR smoothing, Karn's rule (the
// caller feeds samples only from segments not retransmitted, or from timestamps), exponential
// backoff and the configurable minimum.
#pragma once

#include <cstdint>
#include <optional>

#include "stack/clock.h"

namespace weir::tcp {

struct RtoConfig {
  Duration initial = std::chrono::seconds(1);        // RFC 6298 2.1
  Duration min = std::chrono::milliseconds(200);     // Linux's TCP_RTO_MIN
  Duration max = std::chrono::seconds(120);          // Linux's TCP_RTO_MAX
  Duration granularity = std::chrono::milliseconds(1);  // G of RFC 6298
};

// The defaults (RFC 6298 and Linux's bounds).
const RtoConfig& default_rto_config();

class RttEstimator {
 public:
  // config is referred to, not copied (every connection holding a copy cost 32 bytes): it must
  // outlive the estimator. The protocol's options do.
  explicit RttEstimator(const RtoConfig& config = default_rto_config());

  void on_sample(Duration rtt);  // a valid RTT measurement
  void backoff();                // RFC 6298 5.5: double the RTO, bounded by max
  void reset_backoff();          // a new sample after backoff was taken (5.7 spirit)

  Duration rto() const { return rto_; }  // current timeout including backoff, within [min, max]
  bool has_sample() const { return has_sample_; }
  Duration srtt() const;    // initial RTO / 2 style fallback before any sample: 0
  Duration rttvar() const;
  Duration min_rtt() const;  // smallest sample seen (RACK, CUBIC, HyStart)
  Duration latest_rtt() const { return latest_; }
  unsigned backoff_count() const { return backoffs_; }
  const RtoConfig& config() const { return *config_; }

  // The estimate without the config (its owner's) and the RTO (computed again): what a parked
  // connection keeps (tcp/connection.cc's theory of operation).
  struct Saved {
    Duration srtt{};
    Duration rttvar{};
    Duration min_rtt{};
    Duration latest{};
    uint32_t backoffs = 0;
    bool has_sample = false;
  };
  Saved save() const { return Saved{srtt_, rttvar_, min_rtt_, latest_, backoffs_, has_sample_}; }
  static RttEstimator restored(const Saved& s, const RtoConfig& config);

 private:
  const RtoConfig* config_;
  Duration srtt_{};  // zero until the first sample
  Duration rttvar_{};
  Duration min_rtt_{};
  Duration latest_{};
  unsigned backoffs_ = 0;
  bool has_sample_ = false;
  // What rto() returns, recomputed when a sample or a backoff changes it: the send path asks
  // for it several times per segment.
  Duration rto_{};
  Duration compute_rto() const;
};

}  // namespace weir::tcp
