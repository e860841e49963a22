// Loss recovery for one connection: which sent bytes the peer holds (SACK scoreboard), which are
// lost (RACK, RFC 8985; the RFC 6675 / NewReno fallbacks), the RTT estimate and RTO backoff, the
// recovery episode, and the congestion-control object. It reads and marks the send side's
// records (passed in, never stored) and sends nothing: the Connection retransmits what it marks
// and arms the timers it asks for.
//
// Only the RTT estimate and the handshake's timing matter before the first data segment: the
// scoreboard, RACK, the recovery episode and the congestion controller (together ~300 bytes and
// an allocation of their own) are one part, InFlight, made when the connection first sends data
// (activate()). A connection that is opened and then held idle, the common case for a proxy's
// or a server's long-lived connections, never pays for them. Before activation every query
// answers as for a connection with nothing outstanding and no recovery, and the handlers of
// ACKs and timeouts have nothing to do: without records there is nothing to mark.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>

#include "stack/clock.h"
#include "tcp/cc/congestion_control.h"
#include "tcp/counters.h"
#include "tcp/rack.h"
#include "tcp/rtt_estimator.h"
#include "tcp/sack_scoreboard.h"
#include "tcp/send_side.h"
#include "tcp/seqnum.h"

namespace weir::tcp {

class LossRecovery {
 public:
  explicit LossRecovery(const RtoConfig& rto) : rtt_(rto) {}

  // ---- round-trip time and RTO backoff ----
  RttEstimator& rtt() { return rtt_; }
  const RttEstimator& rtt() const { return rtt_; }
  Duration min_rtt_or_zero() const { return rtt_.has_sample() ? rtt_.min_rtt() : Duration{}; }
  // Our SYN's send time times the handshake (it is no record); a resent SYN is not timed.
  void time_syn(SeqNum iss, TimePoint now) {
    syn_seq_ = iss;
    syn_sent_at_ = now;
    syn_timed_ = true;
  }
  void forget_syn_time() { syn_timed_ = false; }
  // The handshake's round trip once ack covers the SYN (only once).
  std::optional<Duration> take_syn_sample(SeqNum ack, TimePoint now) {
    if (!syn_timed_ || !(ack > syn_seq_)) return std::nullopt;
    syn_timed_ = false;
    return now - syn_sent_at_;
  }
  unsigned consecutive_rtos() const { return consecutive_rtos_; }
  unsigned note_rto() { return ++consecutive_rtos_; }
  // A cumulative ACK moved snd.una: the backoff and the duplicate count start over.
  void on_forward_progress(SeqNum ack) {
    rtt_.reset_backoff();
    consecutive_rtos_ = 0;
    if (!in_flight_) return;
    in_flight_->scoreboard.advance(ack);
    in_flight_->dupacks = 0;
  }

  // ---- the part made by the first data segment ----
  bool active() const { return in_flight_ != nullptr; }
  // Makes the in-flight part with its congestion controller (once; later calls keep the first).
  // Without a controller (none could be made) cwnd stays at one segment. ts_offset: the
  // connection's TSval offset when timestamps were negotiated (RACK and the undo read a
  // record's TSval from its send time).
  void activate(std::unique_ptr<CongestionControl> cc,
                std::optional<uint32_t> ts_offset = std::nullopt);

  // ---- congestion control ----
  CongestionControl* cc() { return in_flight_ ? in_flight_->cc.get() : nullptr; }
  const CongestionControl* cc() const { return in_flight_ ? in_flight_->cc.get() : nullptr; }
  // The congestion window, or one segment before there is a controller.
  uint32_t cwnd_or(uint32_t mss) const { return cc() != nullptr ? cc()->cwnd() : mss; }

  // ---- what the peer holds ----
  uint32_t sacked_bytes() const { return in_flight_ ? in_flight_->scoreboard.sacked_bytes() : 0; }
  // Outstanding bytes neither SACKed nor marked lost (RFC 6675 pipe).
  uint32_t bytes_in_flight(const SendSide& send) const {
    uint32_t out = send.outstanding();
    uint32_t gone = sacked_bytes() + send.lost_bytes();
    return out > gone ? out - gone : 0;
  }
  // The TSecr of the ACK being processed (RFC 8985 6.2 disambiguates retransmissions with it).
  void set_ack_echo(std::optional<uint32_t> tsecr) {
    if (in_flight_) in_flight_->ack_tsecr = tsecr;
  }
  // The SACK blocks of an ACK whose cumulative acknowledgement is ack: marks records SACKed
  // (cutting GSO records at block edges). Returns the newly SACKed bytes; dsack says whether
  // the first block was a D-SACK.
  uint32_t on_sack_blocks(SendSide& send, SeqNum ack, std::span<const SeqRange> blocks,
                          TimePoint now, bool& dsack, TcpCounters& counters);
  // Record s was delivered (cumulatively or by SACK): RACK learns from its send time.
  void delivered(const SentSegment& s, TimePoint now);
  // The front of record s up to ack was delivered (a GSO record cut by a cumulative ACK). Out
  // of line: only F-RTO reads it, and the per-ACK loop that calls it stays small.
  void partly_delivered(const SentSegment& s, SeqNum ack);

  // ---- detection ----
  struct Policy {
    bool sack = false;  // negotiated
    bool rack = false;
    uint32_t reordering = 3;
    uint32_t mss = 536;
  };
  // A duplicate ACK (RFC 5681) that SACKed newly_sacked bytes. With SACK and RACK, RACK alone
  // decides what is lost (its reordering window is zero until reordering is seen, which covers
  // DupThresh, RFC 8985 6.2); counting duplicate ACKs is the fallback without them.
  void on_duplicate_ack(SendSide& send, uint32_t newly_sacked, TimePoint now, TcpCounters& counters,
                        const Policy& policy);
  // A cumulative ACK outside recovery, or a partial ACK inside it.
  void on_cumulative_ack(SendSide& send, SeqNum ack, TimePoint now, TcpCounters& counters,
                         const Policy& policy);
  // [begin, end) was retransmitted at now: what an undo must see D-SACKed, or the echo it must
  // see older than (see "Undo" below).
  void on_retransmitted(SeqNum begin, SeqNum end, TimePoint now);
  // After each ACK: the TLP episode, RACK or RFC 6675 marking, and entering recovery. Returns
  // how long until RACK's reorder window expires for a record not yet deemed lost (zero: none).
  Duration after_ack(SendSide& send, SeqNum ack, bool dsack, TimePoint now, TcpCounters& counters,
                     const Policy& policy);
  // RACK's detection alone (the reorder timer), then recovery if anything was lost.
  Duration on_reorder_timeout(SendSide& send, TimePoint now, TcpCounters& counters,
                              const Policy& policy);
  // An RTO: everything outstanding and not SACKed is presumed lost, except, with SACK and RACK,
  // what was sent within the last RACK RTT (see on_rto). frto: detect a spurious timeout by the
  // ACKs that follow (RFC 5682, below).
  void on_rto(SendSide& send, TimePoint now, TcpCounters& counters, const Policy& policy,
              bool frto = false);
  // F-RTO's step 2b was just taken: the caller sends new data instead of retransmitting, or,
  // when it has none to send (or no window), calls end_frto() and retransmits as after any
  // timeout. One answer per step: reading it clears it.
  bool take_frto_new_data() {
    return in_flight_ && std::exchange(in_flight_->frto_new_data, false);
  }
  void end_frto() {
    if (in_flight_) in_flight_->frto = false;
  }
  // Tells the congestion controller what an ACK delivered (sample without the flight size).
  // Only a fast recovery holds the window: after a timeout it slow-starts from one segment while
  // go-back-N resends (RFC 5681 3.1; Linux's Loss state grows cwnd too).
  void on_delivery(const SendSide& send, AckSample sample) {
    if (!in_flight_ || !in_flight_->cc) return;
    sample.bytes_in_flight = bytes_in_flight(send);
    in_flight_->cc->on_ack(sample, in_recovery());
  }

  bool in_recovery() const { return in_flight_ && in_flight_->in_recovery; }
  bool in_loss() const { return in_flight_ && in_flight_->in_loss; }
  bool recovering() const { return in_recovery() || in_loss(); }

  // ---- TLP ----
  bool probe_outstanding() const { return in_flight_ && in_flight_->rack.probe_outstanding(); }
  // A probe went out: only data is probed, so the in-flight part exists.
  void on_probe_sent(SeqNum snd_nxt, bool was_retransmission) {
    if (in_flight_) in_flight_->rack.on_probe_sent(snd_nxt, was_retransmission);
  }

  uint32_t dsack_dups() const { return dsack_dups_; }

  // ---- parking (Connection's theory of operation) ----
  // Before the first data segment and after the handshake's timing, loss recovery is the RTT
  // estimate alone: all a parked connection keeps of it.
  struct Idle {
    RttEstimator::Saved rtt;
  };
  bool idle() const {
    return !in_flight_ && !syn_timed_ && dsack_dups_ == 0 && consecutive_rtos_ == 0;
  }
  Idle idle_state() const { return Idle{rtt_.save()}; }
  // Only on a new part.
  void restore(const Idle& s) { rtt_ = RttEstimator::restored(s.rtt, rtt_.config()); }

 private:
  Duration detect_loss(SendSide& send, TimePoint now, TcpCounters& counters, uint32_t mss);
  void enter_recovery(const SendSide& send, bool sack_based, TimePoint now, TcpCounters& counters);
  // on_cumulative_ack()'s work inside a recovery or after a timeout, out of the per-ACK path.
  void on_cumulative_ack_in_episode(SendSide& send, SeqNum ack, TimePoint now,
                                    TcpCounters& counters, const Policy& policy);
  void open_undo_episode(const SendSide& send);
  void note_dsack(SeqRange block);
  // The ACK being processed echoes a TSval older than the episode's first retransmission: what
  // it acknowledges arrived as sent the first time (RFC 4015).
  bool echo_predates_retransmission() const;
  void undo(SendSide& send, bool unmark_lost);
  // F-RTO's steps on an ACK after a timeout; true when it decided what happens next (undone,
  // or new data to send), so the episode must not end on this ACK.
  bool frto_on_advance(SendSide& send, SeqNum ack, TcpCounters& counters);
  void frto_on_duplicate_ack(SendSide& send, TcpCounters& counters);
  bool frto_undo(SendSide& send, TcpCounters& counters);

  // Undo (Linux's undo_marker/undo_retrans, RFC 3708 and RFC 4015). A loss episode (a
  // recovery, or a timeout outside one) opens when it begins and stays open after it ends,
  // until the next one or an undo: its retransmissions may prove spurious an RTT later. It
  // covers [marker, high), snd.una and snd.nxt at its start. Its retransmitted bytes in that
  // range are counted, and D-SACKed bytes in that range counted off: when every one came back
  // D-SACKed, the peer had it all and the reduction is undone. With timestamps, an ACK that ends
  // the episode while echoing a TSval older than its first retransmission undoes it at once (the
  // original arrived; an RTO's marks of everything outstanding are taken back too).
  struct UndoEpisode {
    SeqNum marker;
    SeqNum high;
    uint32_t retransmitted_bytes = 0;  // in [marker, high), not yet D-SACKed
    std::optional<uint32_t> first_retransmission_tsval;
    bool retransmitted = false;
    bool open = false;

    // How much of [begin, end) lies in the episode's range.
    uint32_t bytes_within(SeqNum begin, SeqNum end) const {
      const SeqNum from = std::max(begin, marker);
      const SeqNum to = std::min(end, high);
      return from < to ? static_cast<uint32_t>(to - from) : 0;
    }
  };

  struct InFlight {
    std::unique_ptr<CongestionControl> cc;
    SackScoreboard scoreboard;
    Rack rack;
    std::optional<uint32_t> ack_tsecr;
    SeqNum fack;  // highest delivered end: records above it (never resent) cannot be RACK-lost
    SeqNum recovery_point;
    UndoEpisode undo;
    std::optional<uint32_t> ts_offset;  // set when timestamps were negotiated
    uint32_t dupacks = 0;

    // The TSval a segment sent at t carried (only with timestamps).
    uint32_t tsval_at(TimePoint t) const {
      return static_cast<uint32_t>(to_millis(t.time_since_epoch())) + *ts_offset;
    }
    bool in_recovery = false;
    bool in_loss = false;  // recovering after an RTO
    // F-RTO (RFC 5682 3.1, the SACK-enhanced version, as Linux's tcp_process_loss). After a
    // timeout, the first ACK that moves snd.una (for the resent head) sends new data instead
    // of more retransmissions (step 2b), above recovery_point (snd.nxt at the timeout). When
    // an ACK then acknowledges or SACKs a segment below that point and never resent, that segment
    // was not lost: the timeout was spurious and is undone (step 3b). A duplicate ACK or SACK
    // of the new data alone says the loss was real, and go-back-N goes on (step 3a).
    bool frto = false;
    bool frto_new_data = false;       // step 2b taken on this ACK: send new data first
    bool original_delivered = false;  // a never-resent segment below recovery_point arrived

    // F-RTO's evidence: bytes of s up to end, sent before the timeout and never resent, arrived.
    void note_if_original(const SentSegment& s, SeqNum end) {
      if (!s.retransmitted && end <= recovery_point) original_delivered = true;
    }
  };

  RttEstimator rtt_;
  std::unique_ptr<InFlight> in_flight_;
  TimePoint syn_sent_at_{};
  SeqNum syn_seq_;
  uint32_t dsack_dups_ = 0;
  unsigned consecutive_rtos_ = 0;
  bool syn_timed_ = false;
};

// What RACK knows of a record.
inline Rack::SentSegment rack_view(const SentSegment& s) {
  return Rack::SentSegment{s.end, s.sent, s.retransmitted, s.order};
}

// On every ACK: defined here so that the Connection's calls inline.
inline void LossRecovery::delivered(const SentSegment& s, TimePoint now) {
  if (!in_flight_) return;  // records exist only after activate()
  InFlight& f = *in_flight_;
  if (s.end > f.fack || f.fack == SeqNum()) f.fack = s.end;
  if (f.frto) f.note_if_original(s, s.end);
  // The ACK of a retransmission may be for either copy, unless its timestamp echo is at least
  // the TSval of the retransmission (RFC 8985 6.2 step 2). The echo is only set when
  // timestamps were negotiated.
  bool ambiguous = s.retransmitted;
  if (ambiguous && f.ack_tsecr && f.ts_offset) {
    ambiguous = static_cast<int32_t>(*f.ack_tsecr - f.tsval_at(s.sent)) < 0;
  }
  f.rack.on_delivered(rack_view(s), now, min_rtt_or_zero(), ambiguous);
}

inline void LossRecovery::on_cumulative_ack(SendSide& send, SeqNum ack, TimePoint now,
                                            TcpCounters& c, const Policy& policy) {
  if (in_flight_ && recovering()) on_cumulative_ack_in_episode(send, ack, now, c, policy);
}

}  // namespace weir::tcp
