// Loss detection and the recovery episode: SACK marking, RACK, the RFC 6675 and NewReno
// fallbacks, and what an RTO does to the records.
#include "tcp/loss_recovery.h"

#include "tcp/counters.h"

namespace weir::tcp {

void LossRecovery::activate(std::unique_ptr<CongestionControl> cc,
                            std::optional<uint32_t> ts_offset) {
  if (in_flight_) return;
  in_flight_ = std::make_unique<InFlight>();
  in_flight_->cc = std::move(cc);
  in_flight_->ts_offset = ts_offset;
}

uint32_t LossRecovery::on_sack_blocks(SendSide& send, SeqNum ack,
                                      std::span<const SeqRange> blocks, TimePoint now,
                                      bool& dsack, TcpCounters& c) {
  const SeqRange& first = blocks[0];
  // RFC 2883 4: a first block below the ACK's own cumulative acknowledgement (not snd.una: an
  // ACK the path delayed behind later ones still carries the SACK blocks of its time, which
  // lie above its acknowledgement but may lie below snd.una by now), or inside the second.
  if (first.end <= ack ||
      (blocks.size() > 1 && blocks[1].begin <= first.begin && first.end <= blocks[1].end)) {
    dsack = true;
    c.dsacks_received++;
    dsack_dups_++;
    note_dsack(first);
  }
  // Before the first data segment there are no records a block could SACK.
  if (!in_flight_) return 0;
  SackScoreboard& scoreboard = in_flight_->scoreboard;
  uint32_t newly_sacked = scoreboard.update(send.una(), send.nxt(), blocks);
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
      if (!scoreboard.is_sacked(SeqRange{s.begin, s.end})) continue;
      send.mark_sacked(s);
      delivered(s, now);
    }
  }
  return newly_sacked;
}

void LossRecovery::on_cumulative_ack_in_episode(SendSide& send, SeqNum ack, TimePoint now,
                                                TcpCounters& c, const Policy& policy) {
  InFlight& f = *in_flight_;
  // Eifel (RFC 4015): the ACK that ends the episode, or the first after a timeout, was sent
  // for the original transmission. A timeout's marks go too: the peer is not missing them.
  const bool ends = f.in_loss || (f.in_recovery && ack >= f.recovery_point);
  if (ends && echo_predates_retransmission()) {
    c.undone_by_timestamp++;
    undo(send, f.in_loss);
    return;
  }
  if (f.frto && frto_on_advance(send, ack, c)) return;
  if (f.in_recovery && ack < f.recovery_point && echo_predates_retransmission() &&
      !send.retransmission_outstanding()) {
    // Linux's tcp_try_undo_partial: a partial ACK sent for an original that the path only
    // delayed, and none of the episode's retransmissions still out: the hole was reordering,
    // not loss. The reduction and the marks go, and the recovery ends here. (With
    // retransmissions still out, Linux holds back further marking on this ACK; RACK's
    // reordering window, which this ACK opens, does that here.)
    c.undone_partial++;
    f.rack.note_reordering();
    undo(send, true);
    return;
  }
  if (ack >= f.recovery_point) {
    f.in_recovery = false;
    f.in_loss = false;
    f.frto = false;
    f.rack.on_recovery_exit();
    c.recovery_exits++;
    if (f.cc) f.cc->on_recovery_exit(now);
  } else if (f.in_recovery && !policy.sack && send.record_count() > 0) {
    // NewReno partial ACK (RFC 6582 3.2 step 3): the next hole is lost too.
    send.mark_lost(send.record(0));
  }
}

void LossRecovery::on_duplicate_ack(SendSide& send, uint32_t newly_sacked, TimePoint now,
                                    TcpCounters& c, const Policy& policy) {
  c.dup_acks_received++;
  if (!in_flight_) return;
  if (in_flight_->frto) frto_on_duplicate_ack(send, c);
  uint32_t& dupacks = in_flight_->dupacks;
  dupacks++;
  if (newly_sacked > 0) {
    AckSample sample;
    sample.now = now;
    sample.bytes_acked = newly_sacked;
    on_delivery(send, sample);
  }
  if (!(policy.sack && policy.rack) && dupacks >= policy.reordering && !recovering() &&
      send.record_count() > 0) {
    send.mark_lost(send.record(0));
  }
}

Duration LossRecovery::after_ack(SendSide& send, SeqNum ack, bool dsack, TimePoint now,
                                 TcpCounters& c, const Policy& policy) {
  if (!in_flight_) return Duration{0};
  InFlight& f = *in_flight_;
  f.rack.on_ack(dsack, send.una(), send.nxt());
  if (f.rack.probe_outstanding() && f.rack.on_ack_during_probe(ack, dsack)) {
    // RFC 8985 7.4: the probe alone repaired a loss: react to it as to any congestion.
    c.tlp_loss_repaired++;
    if (f.cc) f.cc->on_congestion_event(now, bytes_in_flight(send));
  }
  Duration wait{0};
  if (policy.sack && policy.rack &&
      (f.scoreboard.sacked_bytes() > 0 || f.in_recovery || f.in_loss)) {
    wait = detect_loss(send, now, c, policy.mss);
  } else if (policy.sack && !policy.rack && !recovering()) {
    // Without RACK: RFC 6675 IsLost for the first hole (DupThresh segments SACKed above it).
    if (f.scoreboard.sacked_bytes() >= policy.reordering * policy.mss &&
        send.record_count() > 0) {
      auto high = f.scoreboard.highest_sacked();
      for (size_t k = 0; k < send.record_count() && high && send.record(k).end <= *high; ++k) {
        send.mark_lost(send.record(k));
      }
    }
  }
  if (send.lost_bytes() > 0 && !recovering()) enter_recovery(send, policy.sack, now, c);
  if (dsack && f.undo.open && f.undo.retransmitted && f.undo.retransmitted_bytes == 0) {
    // RFC 3708: every retransmission of the episode came back D-SACKed.
    c.undone_by_dsack++;
    undo(send, false);
  }
  return wait;
}

void LossRecovery::open_undo_episode(const SendSide& send) {
  InFlight& f = *in_flight_;
  f.undo = UndoEpisode{send.una(), send.nxt(), 0, std::nullopt, false, true};
  // Retransmissions still in flight from before (a tail probe's, or a recovery's of data sent
  // during it) may bring D-SACKs now: they count as this episode's, or their D-SACKs would
  // count off its own and undo a reduction a real loss caused (Linux's tcp_init_undo starts
  // undo_retrans at retrans_out for the same reason).
  // Their earliest (latest-known) send time stands for the episode's first retransmission.
  std::optional<TimePoint> earliest;
  for (size_t k = 0; k < send.record_count(); ++k) {
    const SentSegment& s = send.record(k);
    if (!s.retransmitted || s.sacked) continue;
    f.undo.retransmitted_bytes += s.end - s.begin;
    if (!earliest || s.sent < *earliest) earliest = s.sent;
  }
  f.undo.retransmitted = f.undo.retransmitted_bytes > 0;
  if (earliest && f.ts_offset) f.undo.first_retransmission_tsval = f.tsval_at(*earliest);
  if (f.cc) f.cc->remember_for_undo();
}

void LossRecovery::on_retransmitted(SeqNum begin, SeqNum end, TimePoint now) {
  if (!in_flight_ || !in_flight_->undo.open) return;
  InFlight& f = *in_flight_;
  UndoEpisode& u = f.undo;
  const uint32_t bytes = u.bytes_within(begin, end);
  if (bytes == 0) return;
  u.retransmitted_bytes += bytes;
  if (!u.retransmitted && f.ts_offset) u.first_retransmission_tsval = f.tsval_at(now);
  u.retransmitted = true;
}

void LossRecovery::note_dsack(SeqRange block) {
  if (!in_flight_ || !in_flight_->undo.open) return;
  UndoEpisode& u = in_flight_->undo;
  u.retransmitted_bytes -= std::min(u.retransmitted_bytes, u.bytes_within(block.begin, block.end));
}

bool LossRecovery::echo_predates_retransmission() const {
  const InFlight& f = *in_flight_;
  const UndoEpisode& u = f.undo;
  if (!u.open || !u.first_retransmission_tsval || !f.ack_tsecr) return false;
  return static_cast<int32_t>(*f.ack_tsecr - *u.first_retransmission_tsval) < 0;
}

void LossRecovery::partly_delivered(const SentSegment& s, SeqNum ack) {
  if (in_flight_ && in_flight_->frto && !s.sacked) in_flight_->note_if_original(s, ack);
}

bool LossRecovery::frto_on_advance(SendSide& send, SeqNum ack, TcpCounters& c) {
  InFlight& f = *in_flight_;
  if (f.original_delivered) return frto_undo(send, c);  // step 3b
  // Step 2b: the resent head is acknowledged, nothing was sent since the timeout, and data
  // sent before it is still outstanding. What goes out now lies above recovery_point.
  if (send.nxt() == f.recovery_point && ack < f.recovery_point) {
    f.frto_new_data = true;
    return true;
  }
  return false;
}

void LossRecovery::frto_on_duplicate_ack(SendSide& send, TcpCounters& c) {
  InFlight& f = *in_flight_;
  if (f.original_delivered) {
    frto_undo(send, c);  // step 3b, by a SACK of an original
  } else if (send.nxt() > f.recovery_point) {
    f.frto = false;  // step 3a: the new data arrived and the originals did not
  }
}

bool LossRecovery::frto_undo(SendSide& send, TcpCounters& c) {
  InFlight& f = *in_flight_;
  f.frto = false;
  if (!f.undo.open) return false;
  c.undone_by_frto++;
  undo(send, true);
  return true;
}

void LossRecovery::undo(SendSide& send, bool unmark_lost) {
  InFlight& f = *in_flight_;
  f.undo.open = false;
  f.frto = false;
  f.frto_new_data = false;
  if (f.cc) f.cc->undo();
  if (recovering()) {
    f.in_recovery = false;
    f.in_loss = false;
    f.rack.on_recovery_exit();
  }
  f.dupacks = 0;
  if (unmark_lost) {
    for (size_t k = 0; k < send.record_count(); ++k) send.unmark_lost(send.record(k));
  }
}

Duration LossRecovery::on_reorder_timeout(SendSide& send, TimePoint now, TcpCounters& c,
                                          const Policy& policy) {
  if (!in_flight_) return Duration{0};
  Duration wait = detect_loss(send, now, c, policy.mss);
  if (send.lost_bytes() > 0 && !recovering()) enter_recovery(send, true, now, c);
  return wait;
}

Duration LossRecovery::detect_loss(SendSide& send, TimePoint now, TcpCounters& c, uint32_t mss) {
  Duration wait{0};
  InFlight& f = *in_flight_;
  if (!f.rack.has_delivery()) return wait;
  auto sacked_segments =
      static_cast<uint32_t>(f.scoreboard.sacked_bytes() / std::max<uint32_t>(mss, 1));
  Duration reo_wnd =
      f.rack.reorder_window(recovering(), sacked_segments, rtt_.srtt(), min_rtt_or_zero());
  for (size_t k = 0; k < send.record_count(); ++k) {
    SentSegment& s = send.record(k);
    const Rack::SentSegment candidate = rack_view(s);
    // First transmissions go out in sequence order, so past the highest delivered byte the
    // first one sent after the RACK segment ends the scan: every later one was sent later
    // still. Earlier ones count when the RACK segment was a retransmission sent after them.
    if (s.begin >= f.fack && !s.retransmitted && !f.rack.sent_before_rack_segment(candidate)) {
      break;
    }
    if (s.sacked || s.lost) continue;
    if (f.rack.is_lost(candidate, now, reo_wnd, &wait)) {
      send.mark_lost(s);
      c.rack_lost_marked++;
    }
  }
  return wait;
}

void LossRecovery::enter_recovery(const SendSide& send, bool sack_based, TimePoint now,
                                  TcpCounters& c) {
  InFlight& f = *in_flight_;
  open_undo_episode(send);
  f.in_recovery = true;
  f.recovery_point = send.nxt();
  c.fast_retransmits++;
  if (sack_based)
    c.sack_recoveries++;
  else
    c.newreno_recoveries++;
  if (f.cc) f.cc->on_congestion_event(now, bytes_in_flight(send));
}

void LossRecovery::on_rto(SendSide& send, TimePoint now, TcpCounters& counters,
                          const Policy& policy, bool frto) {
  rtt_.backoff();
  // A resent SYN or a probe of a connection that never sent data: no records, no episode.
  if (!in_flight_) return;
  InFlight& f = *in_flight_;
  // F-RTO after a timeout outside any recovery, or one more timeout of the same snd.una (RFC
  // 5682 3.2; the connection counted this one already). A timeout inside a fast recovery
  // cannot say which of its retransmissions were needed.
  f.frto = frto && (!recovering() || consecutive_rtos_ > 1);
  f.frto_new_data = false;
  f.original_delivered = false;
  // A timeout inside an episode belongs to it (an undo goes back to before the episode).
  if (!recovering()) open_undo_episode(send);
  if (f.cc) f.cc->on_retransmission_timeout(now, bytes_in_flight(send));
  // SACKed data is the receiver's to discard until it is acknowledged (RFC 2018 section 8: it
  // may renege, as Linux and weir do when short of memory). A first outstanding segment still
  // SACKed when the timer fires says it has (Linux's tcp_timeout_mark_lost): every SACK mark
  // goes, so all of it is resent, instead of waiting forever for data the peer no longer has.
  const bool reneged = send.record_count() > 0 && send.record(0).sacked;
  if (reneged) {
    counters.sack_reneging++;
    f.scoreboard.clear();
    for (size_t k = 0; k < send.record_count(); ++k) send.unmark_sacked(send.record(k));
  }
  // Linux's tcp_timeout_mark_lost: beyond the first, a segment sent within the last RACK RTT
  // may still be on its way (new data the SACKs clocked out while a retransmission was lost).
  // It stays in flight, and RACK marks it on the ACKs of the recovery if it does not arrive
  // (after_ack runs RACK in the loss state too); marking it now resent it needlessly.
  const bool keep_recent = policy.sack && policy.rack && !reneged && f.rack.has_delivery();
  for (size_t k = 0; k < send.record_count(); ++k) {
    SentSegment& s = send.record(k);
    if (keep_recent && k > 0 && f.rack.time_left(rack_view(s), now, Duration{0}) > Duration{0}) {
      continue;
    }
    send.mark_lost(s);
  }
  f.in_loss = true;
  f.in_recovery = false;
  f.rack.on_rto();  // RFC 8985 7.4: an RTO ends any TLP episode
  f.recovery_point = send.nxt();
  f.dupacks = 0;
}

}  // namespace weir::tcp
