// Congestion control behind one interface, so NewReno, CUBIC (the default) and later BBR or
// ECN-aware variants plug into the connection without touching the state machine. Loss
// detection (dupacks, SACK, RACK-TLP) stays in the connection; this decides how much may be
// in flight. Units are bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "stack/clock.h"
#include "stack/result.h"

namespace weir::tcp {

struct AckSample {
  TimePoint now{};
  uint32_t bytes_acked = 0;      // newly cumulatively acked or SACKed by this ACK
  uint32_t bytes_in_flight = 0;  // after processing this ACK
  Duration rtt{};                // RTT sample from this ACK, zero if none
  Duration min_rtt{};            // connection's minimum RTT so far, zero if none
  bool app_limited = false;      // cwnd did not limit sending in the last window of data
};

class CongestionControl {
 public:
  virtual ~CongestionControl() = default;
  virtual std::string_view name() const = 0;

  virtual uint32_t cwnd() const = 0;
  virtual uint32_t ssthresh() const = 0;
  virtual bool in_slow_start() const { return cwnd() < ssthresh(); }

  // Every ACK that advances snd.una or SACKs new data, outside and inside recovery.
  virtual void on_ack(const AckSample& ack, bool in_recovery) = 0;
  // Loss detected by fast retransmit / SACK / RACK: entering fast recovery (once per window).
  virtual void on_congestion_event(TimePoint now, uint32_t bytes_in_flight) = 0;
  // Fast recovery finished (snd.una passed the recovery point).
  virtual void on_recovery_exit(TimePoint now) = 0;
  // The retransmission timer fired (RFC 5681 eq. 4: ssthresh from flight size, cwnd = 1 MSS).
  virtual void on_retransmission_timeout(TimePoint now, uint32_t bytes_in_flight) = 0;
  // The sender sent no data for `idle`, longer than the RTO `rto`, and has nothing in flight
  // (RFC 5681 4.1): the window decays towards the restart window (cc_detail::window_after_idle).
  virtual void on_idle_restart(TimePoint now, Duration idle, Duration rto) = 0;
  // Path MSS changed (PMTU): rescale windows expressed in segments.
  virtual void set_mss(uint32_t mss) = 0;
  // Spurious reductions (RFC 3708 D-SACK and RFC 4015 Eifel detection, RFC 9438 4.9): loss
  // recovery calls remember_for_undo() before the first reduction of a loss episode (a fast
  // retransmit or a timeout) and undo() when the episode proves spurious, which goes back to
  // the state remembered, never to a smaller window than the present one (Linux's
  // tcp_undo_cwnd_reduction).
  virtual void remember_for_undo() = 0;
  virtual void undo() = 0;
};

struct CongestionControlOptions {
  uint32_t mss = 1460;
  uint32_t initial_window_segments = 10;  // RFC 6928
};

enum class CongestionAlgorithm : uint8_t { kCubic, kNewReno };

// "cubic" or "newreno"/"reno", in any case; kInvalidArgument for any other name, so a typo in
// a flag or a socket option is an error rather than a silent change of algorithm.
Result<CongestionAlgorithm> parse_congestion_algorithm(std::string_view name);
// The Linux name: "cubic" or "reno".
std::string_view congestion_algorithm_name(CongestionAlgorithm algorithm);

Result<std::unique_ptr<CongestionControl>> make_congestion_control(
    CongestionAlgorithm algorithm, const CongestionControlOptions& options);
// "" is cubic, the default; otherwise parse_congestion_algorithm's names.
Result<std::unique_ptr<CongestionControl>> make_congestion_control(
    std::string_view name, const CongestionControlOptions& options);

}  // namespace weir::tcp
