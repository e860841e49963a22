// Theory of operation: CUBIC (RFC 9438).
//
// Windows are kept in bytes (fractional, so sub-byte per-ACK increments accumulate) and the
// cubic formulas run in segments and seconds, as the RFC writes them.
//
// Slow start (RFC 9438 4.10, RFC 5681) counts bytes (RFC 3465, L = 2 SMSS). The initial slow
// start runs HyStart++ (RFC 9406, tcp/cc/hystart.cc) unless disabled: during its Conservative
// Slow Start the increase is divided by CSS_GROWTH_DIVISOR, and when it decides to leave,
// ssthresh = cwnd starts congestion avoidance with no W_max (K = 0). Any loss stops it.
//
// Congestion avoidance runs in epochs. An epoch starts at the first ACK in congestion
// avoidance after a reduction: it records t0, cwnd_epoch, W_est = cwnd_epoch and
// K = cbrt((W_max - cwnd_epoch) / C) (eq. 2; negative when cwnd_epoch > W_max, which keeps the
// curve passing through cwnd_epoch at t = 0). With no W_max yet, or after a timeout (4.8),
// W_max = cwnd_epoch and K = 0. On each ACK, with t the time since t0:
//   - the Reno-friendly estimate grows, W_est += alpha * acked / cwnd (eq. 4), with
//     alpha = 3 (1 - beta) / (1 + beta) until W_est reaches cwnd_prior, then 1 (4.3);
//   - if W_cubic(t) < W_est the flow is in the Reno-friendly region and cwnd = W_est (4.3);
//   - otherwise target = W_cubic(t + RTT) clamped to [cwnd, 1.5 cwnd] and cwnd grows by
//     (target - cwnd) / cwnd per acked segment (4.4, 4.5), so at most by half a segment per
//     acked segment.
// RTT is the connection's minimum RTT (as Linux does; the AckSample carries no SRTT), falling
// back to the ACK's own sample.
//
// A congestion event (4.6) reduces ssthresh = cwnd * beta (at least 2 SMSS) and cwnd =
// ssthresh. RFC 9438 writes flight_size * beta but allows cwnd provided cwnd does not grow while
// under-used, which cwnd_limited() ensures; Linux and Windows reduce from cwnd because
// FlightSize collapses in application-limited flows. Fast convergence (4.7) lowers W_max to
// cwnd (1 + beta) / 2 when the loss came before the window regained the previous W_max.
// A timeout (4.8) takes ssthresh the same way (only for the first timeout of a series), sets
// cwnd to 1 SMSS and forgets W_max so the next epoch starts with K = 0.
#include "tcp/cc/cubic.h"

#include <algorithm>
#include <cmath>

#include "tcp/cc/window.h"

namespace weir::tcp {

using cc_detail::kAbcLimitSegments;
using cc_detail::kInfiniteSsthresh;
using cc_detail::kMaxCwnd;

const CubicOptions& default_cubic_options() {
  static const CubicOptions defaults;
  return defaults;
}

Cubic::Cubic(const CongestionControlOptions& options, const CubicOptions& cubic)
    : opts_(&cubic),
      mss_(std::max<uint32_t>(options.mss, 1)),
      initial_window_segments_(options.initial_window_segments),
      cwnd_(cc_detail::initial_window({mss_, initial_window_segments_})),
      ssthresh_(kInfiniteSsthresh),
      hystart_done_(!cubic.hystart) {}

std::optional<HyStart::Phase> Cubic::hystart_phase() const {
  if (!opts_->hystart) return std::nullopt;
  if (hystart_) return hystart_->phase();
  return hystart_done_ ? HyStart::Phase::kDone : HyStart::Phase::kSlowStart;
}

void Cubic::stop_hystart() {
  hystart_.reset();
  hystart_done_ = true;
}

double Cubic::w_cubic(double t, double c, double k, double w_max) {
  const double d = t - k;
  return c * d * d * d + w_max;
}

double Cubic::k_for(double w_max, double cwnd_epoch, double c) {
  return std::cbrt((w_max - cwnd_epoch) / c);
}

uint32_t Cubic::cwnd() const {
  // Asked several times per ACK: not std::clamp, whose bounds check the hardened build asserts
  // (the bounds are constants here).
  return static_cast<uint32_t>(
      std::min(std::max(cwnd_, static_cast<double>(mss_)), static_cast<double>(kMaxCwnd)));
}

void Cubic::on_ack(const AckSample& ack, bool in_recovery) {
  if (ack.bytes_acked == 0) return;
  rto_unacked_ = false;
  if (in_recovery) return;
  if (!cc_detail::cwnd_limited(ack, cwnd())) return;
  if (cwnd_ < ssthresh_) {
    slow_start(ack);
  } else {
    congestion_avoidance(ack);
  }
}

void Cubic::slow_start(const AckSample& ack) {
  double inc = std::min(ack.bytes_acked, kAbcLimitSegments * mss_);
  if (!hystart_done_ && ssthresh_ == kInfiniteSsthresh) {
    if (!hystart_) hystart_ = std::make_unique<HyStart>(opts_->hystart_config);
    const HyStart::Decision d = hystart_->on_ack(ack);
    if (d.exit_slow_start) {
      ssthresh_ = std::max(cwnd(), 2 * mss_);
      stop_hystart();
      return;
    }
    inc /= std::max<uint32_t>(d.growth_divisor, 1);
  }
  cwnd_ = std::min({cwnd_ + inc, static_cast<double>(ssthresh_), static_cast<double>(kMaxCwnd)});
}

void Cubic::congestion_avoidance(const AckSample& ack) {
  const double mss = mss_;
  if (!epoch_start_) {
    epoch_start_ = ack.now;
    cwnd_epoch_ = cwnd_segments();
    if (w_max_ <= 0) {
      w_max_ = cwnd_epoch_;
      k_ = 0;
    } else {
      k_ = k_for(w_max_, cwnd_epoch_, opts_->c);
    }
    w_est_ = cwnd_epoch_;
  }
  const double t = std::max(0.0, to_seconds(ack.now - *epoch_start_));
  const Duration rtt_d = ack.min_rtt > Duration::zero() ? ack.min_rtt : ack.rtt;
  const double rtt = std::max(0.0, to_seconds(rtt_d));
  const double cwnd = cwnd_segments();
  const double acked = ack.bytes_acked / mss;

  const double beta = opts_->beta;
  const double alpha = w_est_ >= cwnd_prior_ ? 1.0 : 3.0 * (1.0 - beta) / (1.0 + beta);
  w_est_ += alpha * acked / cwnd;

  if (w_cubic(t, opts_->c, k_, w_max_) < w_est_) {
    cwnd_ = std::max(cwnd_, w_est_ * mss);
  } else {
    const double target = std::clamp(w_cubic(t + rtt, opts_->c, k_, w_max_), cwnd, 1.5 * cwnd);
    cwnd_ += (target - cwnd) / cwnd * acked * mss;
  }
  cwnd_ = std::min(cwnd_, static_cast<double>(kMaxCwnd));
}

void Cubic::on_congestion_event(TimePoint, uint32_t) {
  const double cwnd = cwnd_segments();
  if (opts_->fast_convergence && cwnd < w_max_) {
    w_max_ = cwnd * (1.0 + opts_->beta) / 2.0;
  } else {
    w_max_ = cwnd;
  }
  cwnd_prior_ = cwnd;
  ssthresh_ = static_cast<uint32_t>(std::max(cwnd_ * opts_->beta, 2.0 * mss_));
  cwnd_ = ssthresh_;
  epoch_start_.reset();
  stop_hystart();
  rto_since_event_ = false;
}

void Cubic::on_recovery_exit(TimePoint) {
  if (!rto_since_event_) cwnd_ = ssthresh_;
}

void Cubic::on_retransmission_timeout(TimePoint, uint32_t) {
  if (!rto_unacked_) {
    cwnd_prior_ = cwnd_segments();
    ssthresh_ = static_cast<uint32_t>(std::max(cwnd_ * opts_->beta, 2.0 * mss_));
  }
  cwnd_ = mss_;
  w_max_ = 0;
  k_ = 0;
  epoch_start_.reset();
  stop_hystart();
  rto_unacked_ = true;
  rto_since_event_ = true;
}

void Cubic::on_idle_restart(TimePoint, Duration idle, Duration rto) {
  const auto cwnd = static_cast<uint64_t>(cwnd_);
  ssthresh_ = cc_detail::ssthresh_at_restart(ssthresh_, cwnd);
  cwnd_ = static_cast<double>(cc_detail::window_after_idle(
      cwnd, cc_detail::initial_window({mss_, initial_window_segments_}), idle, rto));
  // The curve's clock must not count the idle time (RFC 9438 5.8).
  epoch_start_.reset();
}

void Cubic::remember_for_undo() {
  before_episode_ =
      Curve{cwnd_, ssthresh_, w_max_, k_, w_est_, cwnd_prior_, cwnd_epoch_, epoch_start_};
}

void Cubic::undo() {
  const Curve& c = before_episode_;
  cwnd_ = std::max(cwnd_, c.cwnd);
  ssthresh_ = std::max(ssthresh_, c.ssthresh);
  w_max_ = c.w_max;
  k_ = c.k;
  w_est_ = c.w_est;
  cwnd_prior_ = c.cwnd_prior;
  cwnd_epoch_ = c.cwnd_epoch;
  epoch_start_ = c.epoch_start;
  rto_unacked_ = false;
  rto_since_event_ = false;
}

void Cubic::set_mss(uint32_t mss) {
  if (mss == 0 || mss == mss_) return;
  cwnd_ = std::clamp(cwnd_ * mss / mss_, static_cast<double>(mss), static_cast<double>(kMaxCwnd));
  if (ssthresh_ != kInfiniteSsthresh) {
    ssthresh_ = static_cast<uint32_t>(std::clamp<uint64_t>(cc_detail::rescale(ssthresh_, mss_, mss),
                                                           2 * uint64_t{mss}, kMaxCwnd));
  }
  mss_ = mss;
}

}  // namespace weir::tcp
