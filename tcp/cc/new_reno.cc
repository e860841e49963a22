// Theory of operation: NewReno (RFC 5681 section 3, RFC 6582, RFC 3465).
//
// Slow start (RFC 5681 3.1) runs while cwnd < ssthresh and counts bytes (RFC 3465): each ACK
// adds the bytes it newly acknowledged, at most L = 2 SMSS, and never lifts cwnd past
// ssthresh. Congestion avoidance counts acknowledged bytes and adds one SMSS each time a full
// cwnd of bytes has been acknowledged, i.e. one segment per RTT (RFC 3465 2.1).
//
// A congestion event (fast retransmit) sets ssthresh = max(FlightSize / 2, 2 SMSS) (RFC 5681
// eq. 4) and cwnd = ssthresh. The connection's recovery (RFC 6675 pipe, or PRR) decides what to
// send during recovery, so this controller holds cwnd there instead of doing RFC 6582's
// artificial inflation; on full recovery cwnd = ssthresh (RFC 6582 3.2 step 6, first option).
//
// A retransmission timeout sets ssthresh by eq. 4 and cwnd to the loss window, 1 SMSS (RFC 5681
// eq. 5). When the timer fires again for the same data, with no ACK between, ssthresh is left
// alone (RFC 5681 3.1: "the value of ssthresh must not be further reduced"). After an idle
// period longer than an RTO, cwnd decays towards min(IW, cwnd) (RFC 5681 4.1, as Linux decays
// it: cc_detail::window_after_idle).
#include "tcp/cc/new_reno.h"

#include <algorithm>

#include "tcp/cc/window.h"

namespace weir::tcp {

using cc_detail::kAbcLimitSegments;
using cc_detail::kInfiniteSsthresh;
using cc_detail::kMaxCwnd;

NewReno::NewReno(const CongestionControlOptions& options)
    : mss_(std::max<uint32_t>(options.mss, 1)),
      initial_window_segments_(options.initial_window_segments),
      cwnd_(cc_detail::initial_window({mss_, initial_window_segments_})),
      ssthresh_(kInfiniteSsthresh) {}

void NewReno::on_ack(const AckSample& ack, bool in_recovery) {
  if (ack.bytes_acked == 0) return;
  rto_unacked_ = false;
  if (in_recovery) return;
  if (!cc_detail::cwnd_limited(ack, cwnd_)) return;

  if (cwnd_ < ssthresh_) {
    const uint32_t inc = std::min(ack.bytes_acked, kAbcLimitSegments * mss_);
    const uint64_t grown = uint64_t{cwnd_} + inc;
    cwnd_ = static_cast<uint32_t>(std::min<uint64_t>({grown, ssthresh_, kMaxCwnd}));
    return;
  }
  ca_acked_ += ack.bytes_acked;
  if (ca_acked_ >= cwnd_) {
    ca_acked_ -= cwnd_;
    cwnd_ = std::min(cwnd_ + mss_, kMaxCwnd);
    // An ACK covering more than a window still earns one segment (RFC 3465 2.1: at most
    // SMSS per RTT in congestion avoidance).
    ca_acked_ = std::min(ca_acked_, cwnd_ - 1);
  }
}

void NewReno::on_congestion_event(TimePoint, uint32_t bytes_in_flight) {
  ssthresh_ = std::max(bytes_in_flight / 2, 2 * mss_);
  cwnd_ = ssthresh_;
  ca_acked_ = 0;
  rto_since_event_ = false;
}

void NewReno::on_recovery_exit(TimePoint) {
  // After a timeout inside recovery the window restarted from 1 SMSS; jumping back up to
  // ssthresh would undo the timeout's reduction.
  if (!rto_since_event_) cwnd_ = ssthresh_;
  ca_acked_ = 0;
}

void NewReno::on_retransmission_timeout(TimePoint, uint32_t bytes_in_flight) {
  if (!rto_unacked_) ssthresh_ = std::max(bytes_in_flight / 2, 2 * mss_);
  cwnd_ = mss_;
  ca_acked_ = 0;
  rto_unacked_ = true;
  rto_since_event_ = true;
}

void NewReno::on_idle_restart(TimePoint, Duration idle, Duration rto) {
  ssthresh_ = cc_detail::ssthresh_at_restart(ssthresh_, cwnd_);
  cwnd_ = static_cast<uint32_t>(cc_detail::window_after_idle(
      cwnd_, cc_detail::initial_window({mss_, initial_window_segments_}), idle, rto));
  ca_acked_ = 0;
}

void NewReno::remember_for_undo() {
  prior_cwnd_ = cwnd_;
  prior_ssthresh_ = ssthresh_;
}

void NewReno::undo() {
  cwnd_ = std::max(cwnd_, prior_cwnd_);
  ssthresh_ = std::max(ssthresh_, prior_ssthresh_);
  ca_acked_ = 0;
  rto_unacked_ = false;
  rto_since_event_ = false;
}

void NewReno::set_mss(uint32_t mss) {
  if (mss == 0 || mss == mss_) return;
  cwnd_ = static_cast<uint32_t>(
      std::clamp<uint64_t>(cc_detail::rescale(cwnd_, mss_, mss), mss, kMaxCwnd));
  if (ssthresh_ != kInfiniteSsthresh) {
    ssthresh_ = static_cast<uint32_t>(std::clamp<uint64_t>(cc_detail::rescale(ssthresh_, mss_, mss),
                                                           2 * uint64_t{mss}, kMaxCwnd));
  }
  mss_ = mss;
  ca_acked_ = 0;
}

}  // namespace weir::tcp
