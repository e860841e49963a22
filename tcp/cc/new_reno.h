// NewReno congestion control (RFC 5681, RFC 6582, RFC 3465 byte counting).
#pragma once

#include <cstdint>
#include <string_view>

#include "tcp/cc/congestion_control.h"

namespace weir::tcp {

class NewReno final : public CongestionControl {
 public:
  explicit NewReno(const CongestionControlOptions& options);

  std::string_view name() const override { return "newreno"; }
  uint32_t cwnd() const override { return cwnd_; }
  uint32_t ssthresh() const override { return ssthresh_; }

  void on_ack(const AckSample& ack, bool in_recovery) override;
  void on_congestion_event(TimePoint now, uint32_t bytes_in_flight) override;
  void on_recovery_exit(TimePoint now) override;
  void on_retransmission_timeout(TimePoint now, uint32_t bytes_in_flight) override;
  void on_idle_restart(TimePoint now, Duration idle, Duration rto) override;
  void set_mss(uint32_t mss) override;
  void remember_for_undo() override;
  void undo() override;

  uint32_t mss() const { return mss_; }

 private:
  uint32_t mss_;
  uint32_t initial_window_segments_;
  uint32_t cwnd_;
  uint32_t ssthresh_;
  uint32_t prior_cwnd_ = 0;      // remember_for_undo()
  uint32_t prior_ssthresh_ = 0;
  uint32_t ca_acked_ = 0;         // bytes acked toward the next congestion-avoidance increase
  bool rto_unacked_ = false;      // an RTO fired and no ACK has arrived since
  bool rto_since_event_ = false;  // an RTO fired since the last congestion event
};

}  // namespace weir::tcp
