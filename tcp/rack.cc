#include "tcp/rack.h"

#include <algorithm>

namespace weir::tcp {

void Rack::on_delivered(const SentSegment& seg, TimePoint now, Duration min_rtt,
                        bool rtt_is_ambiguous) {
  // Step 3: a segment delivered below the highest delivered sequence, never retransmitted,
  // arrived out of order.
  if (have_fack_ && seg.end_seq < fack_ && !seg.retransmitted) reordering_seen_ = true;
  if (!have_fack_ || seg.end_seq > fack_) {
    fack_ = seg.end_seq;
    have_fack_ = true;
  }

  // Step 2: a retransmitted segment whose ACK could be for the original says nothing
  // reliable about timing.
  Duration rtt = now - seg.xmit_time;
  if (seg.retransmitted && (rtt_is_ambiguous || rtt < min_rtt)) return;
  if (!have_segment_ || sent_after(seg, rack_segment())) {
    have_segment_ = true;
    rtt_ = rtt;
    xmit_time_ = seg.xmit_time;
    end_seq_ = seg.end_seq;
    order_ = seg.order;
  }
}

void Rack::on_ack(bool has_dsack, SeqNum snd_una, SeqNum snd_nxt) {
  // A D-SACK says a retransmission was spurious: the original was only late. That is
  // reordering too (Linux counts it in reord_seen), and without it a link whose reordering
  // always beats the zero window would never open the window at all.
  if (has_dsack) reordering_seen_ = true;
  if (dsack_round_ && snd_una >= *dsack_round_) dsack_round_.reset();
  // At most one increase of the window per round trip, however many D-SACKs arrive in it.
  if (!dsack_round_ && has_dsack) {
    dsack_round_ = snd_nxt;
    ++reo_wnd_mult_;
    reo_wnd_persist_ = kReoWndPersist;
  }
}

void Rack::on_recovery_exit() {
  if (reo_wnd_persist_ > 0 && --reo_wnd_persist_ == 0) reo_wnd_mult_ = 1;
}

Duration Rack::reorder_window(bool in_recovery, uint32_t sacked_segments, Duration srtt,
                              Duration min_rtt) const {
  // Without evidence of reordering, a recovery or DupThresh SACKed segments justify fast
  // (zero-window) detection, like the classic three duplicate ACKs.
  if (!reordering_seen_ && (in_recovery || sacked_segments >= kDupThresh)) return Duration{0};
  Duration wnd = min_rtt * reo_wnd_mult_ / 4;
  if (srtt > Duration{0}) wnd = std::min(wnd, srtt);
  return wnd;
}

bool Rack::is_lost(const SentSegment& seg, TimePoint now, Duration reo_wnd, Duration* wait) const {
  if (!have_segment_) return false;
  if (!sent_after(rack_segment(), seg)) return false;
  const Duration remaining = time_left(seg, now, reo_wnd);
  if (remaining <= Duration{0}) return true;
  if (wait != nullptr) *wait = std::max(*wait, remaining);
  return false;
}

Duration Rack::probe_timeout(std::optional<Duration> srtt, bool one_segment_in_flight,
                             Duration rto) {
  Duration pto = std::chrono::seconds(1);
  if (srtt) {
    pto = 2 * *srtt;
    if (one_segment_in_flight) pto += kWorstCaseDelayedAck;
  }
  return std::min(pto, rto);
}

void Rack::on_probe_sent(SeqNum snd_nxt, bool was_retransmission) {
  tlp_end_seq_ = snd_nxt;
  tlp_is_retrans_ = was_retransmission;
}

bool Rack::on_ack_during_probe(SeqNum ack, bool has_dsack_for_probe) {
  if (!tlp_end_seq_) return false;
  if (ack < *tlp_end_seq_) return false;  // the episode is still open
  bool loss = false;
  if (tlp_is_retrans_) {
    // The probe retransmitted the last segment. A D-SACK for it means the original arrived:
    // nothing was lost. Otherwise the probe repaired a loss the sender has not reacted to.
    loss = !has_dsack_for_probe;
  } else {
    // A probe of new data that is cumulatively acknowledged: no loss needs a reaction here;
    // losses before it are found by RACK from SACKs.
    loss = false;
  }
  tlp_end_seq_.reset();
  return loss;
}

}  // namespace weir::tcp
