// Loss detection and the recovery episode: SACK marking, RACK, the RFC 6675 and NewReno
// fallbacks, and what an RTO does to the records.
#include "tcp/loss_recovery.h"

#include "tcp/counters.h"

namespace weir::tcp {

uint32_t LossRecovery::on_sack_blocks(SendSide& send, std::span<const SeqRange> blocks,
                                      TimePoint now, uint32_t ts_offset, bool& dsack,
                                      TcpCounters& c) {
  const SeqRange& first = blocks[0];
  if (first.end <= send.una() ||
      (blocks.size() > 1 && blocks[1].begin <= first.begin && first.end <= blocks[1].end)) {
    dsack = true;
    c.dsacks_received++;
    dsack_dups_++;
  }
  uint32_t newly_sacked = scoreboard_.update(send.una(), send.nxt(), blocks);
  if (newly_sacked == 0) return 0;
  for (const SeqRange& b : blocks) {
    if (b.end <= send.una()) continue;
    // A record sent as one GSO packet covers many segments, of which the peer may have
    // received some: cut it at the block's edges so each part is SACKed or lost on its own,
    // as Linux fragments a TSO skb on SACK.
    send.split_at(b.begin);
    send.split_at(b.end);
    for (size_t k = send.first_record_ending_after(b.begin);
         k < send.record_count() && send.record(k).begin < b.end; ++k) {
      SentSegment& s = send.record(k);
      if (s.sacked) continue;
      if (!scoreboard_.is_sacked(SeqRange{s.begin, s.end})) continue;
      send.mark_sacked(s);
      delivered(s, now, ts_offset);
    }
  }
  return newly_sacked;
}

void LossRecovery::on_duplicate_ack(SendSide& send, uint32_t newly_sacked, TimePoint now,
                                    TcpCounters& c, const Policy& policy) {
  dupacks_++;
  c.dup_acks_received++;
  if (newly_sacked > 0) {
    AckSample sample;
    sample.now = now;
    sample.bytes_acked = newly_sacked;
    on_delivery(send, sample);
  }
  if (dupacks_ >= policy.reordering && !recovering() && send.record_count() > 0) {
    send.mark_lost(send.record(0));
  }
}

Duration LossRecovery::after_ack(SendSide& send, SeqNum ack, bool dsack, TimePoint now,
                                 TcpCounters& c, const Policy& policy) {
  rack_.on_ack(dsack, send.una(), send.nxt());
  if (rack_.probe_outstanding() && rack_.on_ack_during_probe(ack, dsack)) {
    // RFC 8985 7.4: the probe alone repaired a loss: react to it as to any congestion.
    c.tlp_loss_repaired++;
    if (cc_) cc_->on_congestion_event(now, bytes_in_flight(send));
  }
  Duration wait{0};
  if (policy.sack && policy.rack && (scoreboard_.sacked_bytes() > 0 || in_recovery_)) {
    wait = detect_loss(send, now, c, policy.mss);
  } else if (policy.sack && !policy.rack && !recovering()) {
    // Without RACK: RFC 6675 IsLost for the first hole (DupThresh segments SACKed above it).
    if (scoreboard_.sacked_bytes() >= policy.reordering * policy.mss && send.record_count() > 0) {
      auto high = scoreboard_.highest_sacked();
      for (size_t k = 0; k < send.record_count() && high && send.record(k).end <= *high; ++k) {
        send.mark_lost(send.record(k));
      }
    }
  }
  if (send.lost_bytes() > 0 && !recovering()) enter_recovery(send, policy.sack, now, c);
  return wait;
}

Duration LossRecovery::on_reorder_timeout(SendSide& send, TimePoint now, TcpCounters& c,
                                          const Policy& policy) {
  Duration wait = detect_loss(send, now, c, policy.mss);
  if (send.lost_bytes() > 0 && !recovering()) enter_recovery(send, true, now, c);
  return wait;
}

Duration LossRecovery::detect_loss(SendSide& send, TimePoint now, TcpCounters& c, uint32_t mss) {
  Duration wait{0};
  if (!rack_.has_delivery()) return wait;
  auto sacked_segments =
      static_cast<uint32_t>(scoreboard_.sacked_bytes() / std::max<uint32_t>(mss, 1));
  Duration reo_wnd =
      rack_.reorder_window(recovering(), sacked_segments, rtt_.srtt(), min_rtt_or_zero());
  for (size_t k = 0; k < send.record_count(); ++k) {
    SentSegment& s = send.record(k);
    // Records are in sequence order; past the highest delivered byte only a retransmission
    // can have been sent before the RACK segment.
    if (s.begin >= fack_ && !s.retransmitted) break;
    if (s.sacked || s.lost) continue;
    if (rack_.is_lost(Rack::SentSegment{s.end, s.sent, s.retransmitted}, now, reo_wnd, &wait)) {
      send.mark_lost(s);
      c.rack_lost_marked++;
    }
  }
  return wait;
}

void LossRecovery::enter_recovery(const SendSide& send, bool sack_based, TimePoint now,
                                  TcpCounters& c) {
  in_recovery_ = true;
  recovery_point_ = send.nxt();
  c.fast_retransmits++;
  if (sack_based)
    c.sack_recoveries++;
  else
    c.newreno_recoveries++;
  if (cc_) cc_->on_congestion_event(now, bytes_in_flight(send));
}

void LossRecovery::on_rto(SendSide& send, TimePoint now, TcpCounters& counters) {
  if (cc_) cc_->on_retransmission_timeout(now, bytes_in_flight(send));
  rtt_.backoff();
  // SACKed data is the receiver's to discard until it is acknowledged (RFC 2018 section 8: it
  // may renege, as Linux and weir do when short of memory). A first outstanding segment still
  // SACKed when the timer fires says it has (Linux's tcp_timeout_mark_lost): every SACK mark
  // goes, so all of it is resent, instead of waiting forever for data the peer no longer has.
  if (send.record_count() > 0 && send.record(0).sacked) {
    counters.sack_reneging++;
    scoreboard_.clear();
    for (size_t k = 0; k < send.record_count(); ++k) send.unmark_sacked(send.record(k));
  }
  for (size_t k = 0; k < send.record_count(); ++k) send.mark_lost(send.record(k));
  in_loss_ = true;
  in_recovery_ = false;
  rack_.on_rto();  // RFC 8985 7.4: an RTO ends any TLP episode
  recovery_point_ = send.nxt();
  dupacks_ = 0;
}

}  // namespace weir::tcp
