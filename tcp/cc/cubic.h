// CUBIC congestion control (RFC 9438).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "tcp/cc/congestion_control.h"
#include "tcp/cc/hystart.h"

namespace weir::tcp {

struct CubicOptions {
  double c = 0.4;                // RFC 9438 4.2 constant C, segments/s^3
  double beta = 0.7;             // RFC 9438 4.6 beta_cubic
  bool fast_convergence = true;  // RFC 9438 4.7
  bool hystart = true;           // HyStart++ (RFC 9406) in the initial slow start
  HyStartConfig hystart_config;
};

// The defaults every connection shares (make_congestion_control).
const CubicOptions& default_cubic_options();

class Cubic final : public CongestionControl {
 public:
  // cubic is referred to, not copied (every connection holding a copy cost 56 bytes): it must
  // outlive the controller.
  explicit Cubic(const CongestionControlOptions& options,
                 const CubicOptions& cubic = default_cubic_options());

  std::string_view name() const override { return "cubic"; }
  uint32_t cwnd() const override;
  uint32_t ssthresh() const override { return ssthresh_; }

  void on_ack(const AckSample& ack, bool in_recovery) override;
  void on_congestion_event(TimePoint now, uint32_t bytes_in_flight) override;
  void on_recovery_exit(TimePoint now) override;
  void on_retransmission_timeout(TimePoint now, uint32_t bytes_in_flight) override;
  void on_idle_restart(TimePoint now, Duration idle, Duration rto) override;
  void set_mss(uint32_t mss) override;
  void remember_for_undo() override;
  void undo() override;

  // Introspection, for tests and `weir stats`. Windows in segments, times in seconds.
  uint32_t mss() const { return mss_; }
  double w_max() const { return w_max_; }
  double k() const { return k_; }
  double w_est() const { return w_est_; }
  std::optional<TimePoint> epoch_start() const { return epoch_start_; }
  // nullopt when HyStart++ is disabled.
  std::optional<HyStart::Phase> hystart_phase() const;
  const CubicOptions& options() const { return *opts_; }

  // RFC 9438 eq. 1: W_cubic(t) = C (t - K)^3 + W_max.
  static double w_cubic(double t, double c, double k, double w_max);
  // RFC 9438 eq. 2: K = cbrt((W_max - cwnd_epoch) / C), 0 when cwnd_epoch >= W_max.
  static double k_for(double w_max, double cwnd_epoch, double c);

 private:
  void slow_start(const AckSample& ack);
  void congestion_avoidance(const AckSample& ack);
  double cwnd_segments() const { return cwnd_ / mss_; }
  // The initial slow start is over: HyStart++ never runs again on this connection.
  void stop_hystart();

  const CubicOptions* opts_;
  uint32_t mss_;
  uint32_t initial_window_segments_;
  double cwnd_;  // bytes; fractional so per-ACK increments smaller than a byte add up
  uint32_t ssthresh_;
  double w_max_ = 0;       // segments; 0 = no reduction yet (or reset by an RTO)
  double k_ = 0;           // seconds
  double w_est_ = 0;       // segments: the Reno-friendly estimate (4.3)
  double cwnd_prior_ = 0;  // segments: cwnd before the last reduction (4.3 alpha switch)
  double cwnd_epoch_ = 0;  // segments: cwnd when the current epoch began
  std::optional<TimePoint> epoch_start_;
  // The curve before a loss episode's first reduction (remember_for_undo()): a spurious
  // episode undone continues it as if the reduction had not happened (RFC 9438 4.9).
  struct Curve {
    double cwnd = 0;
    uint32_t ssthresh = 0;
    double w_max = 0;
    double k = 0;
    double w_est = 0;
    double cwnd_prior = 0;
    double cwnd_epoch = 0;
    std::optional<TimePoint> epoch_start;
  };
  Curve before_episode_;
  // HyStart++'s round state exists only while the initial slow start is cwnd-limited: taken at
  // its first such ACK, given back when it ends. An idle or application-limited connection
  // never holds its 120 bytes.
  std::unique_ptr<HyStart> hystart_;
  bool hystart_done_ = false;     // the initial slow start is over (or HyStart++ is off)
  bool rto_unacked_ = false;      // an RTO fired and no ACK has arrived since
  bool rto_since_event_ = false;  // an RTO fired since the last congestion event
};

}  // namespace weir::tcp
