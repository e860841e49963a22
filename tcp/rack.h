// RACK-TLP loss detection (RFC 8985), as a component the connection drives.
//
// Theory of operation. RACK marks a segment lost when a segment sent *after* it has been
// delivered (cumulatively ACKed or SACKed) and more than RACK.rtt + reo_wnd has passed since
// it was sent: time-ordered loss detection instead of counting duplicate ACKs, so it works
// for retransmissions and for the tail of a flight. The connection tells Rack about every
// newly delivered segment (step 2 of the RFC: remember the most recently *sent* delivered
// one and its RTT; step 3: notice reordering), about D-SACKs and recovery exits (step 4:
// adapt the reordering window), and asks it to scan the outstanding segments (step 5). When
// a segment is not yet overdue, the scan returns how long to wait: the reorder timer.
//
// TLP (RFC 8985 section 7) sends one probe when the connection has gone quiet with data
// outstanding, so a lost tail is detected by the ACK the probe elicits rather than by an RTO.
// Rack computes the probe timeout and keeps the TLP episode state; the connection sends.
#pragma once

#include <cstdint>
#include <optional>

#include "stack/clock.h"
#include "tcp/seqnum.h"

namespace weir::tcp {

class Rack {
 public:
  static constexpr uint32_t kDupThresh = 3;
  static constexpr uint32_t kReoWndPersist = 16;
  static constexpr Duration kWorstCaseDelayedAck = std::chrono::milliseconds(200);

  // What the connection knows of one transmitted segment.
  struct SentSegment {
    SeqNum end_seq;
    TimePoint xmit_time;  // of the latest (re)transmission
    bool retransmitted = false;
    uint32_t order = 0;  // of the latest (re)transmission in the sending order (wraps)
  };

  // Step 2 and 3, for a segment newly ACKed or SACKed by the current ACK. rtt_is_ambiguous:
  // the segment was retransmitted and the ACK cannot tell which copy arrived (no timestamp
  // echo proving the newer one, or the sample is below min_rtt): such a sample is skipped.
  void on_delivered(const SentSegment& seg, TimePoint now, Duration min_rtt,
                    bool rtt_is_ambiguous);

  // Step 4 bookkeeping, once per ACK after on_delivered calls. A D-SACK also counts as
  // reordering seen.
  void on_ack(bool has_dsack, SeqNum snd_una, SeqNum snd_nxt);
  // Fast recovery or RTO recovery ended.
  void on_recovery_exit();
  // A hole proved to be reordering by other evidence than a D-SACK (a partial ACK for a
  // delayed original): the reordering window opens from now on (RFC 8985 step 3).
  void note_reordering() { reordering_seen_ = true; }

  // The reordering window for the next scan (step 4's RACK_update_reo_wnd result).
  Duration reorder_window(bool in_recovery, uint32_t sacked_segments, Duration srtt,
                          Duration min_rtt) const;

  // Step 5 for one outstanding (not delivered, not already marked lost) segment: true when it
  // is lost now; otherwise, if a later-sent segment was delivered, *wait is raised to the time
  // left until it would be.
  bool is_lost(const SentSegment& seg, TimePoint now, Duration reo_wnd, Duration* wait) const;
  // How long until seg, if still undelivered, is overdue: RACK.rtt + reo_wnd after it was sent
  // (Linux's tcp_rack_skb_timeout); zero or less when it is.
  Duration time_left(const SentSegment& seg, TimePoint now, Duration reo_wnd) const {
    return seg.xmit_time + rtt_ + reo_wnd - now;
  }

  bool has_delivery() const { return have_segment_; }
  // Whether seg was sent before the most recently sent delivered segment (RACK.xmit_ts).
  bool sent_before_rack_segment(const SentSegment& seg) const {
    return have_segment_ && sent_after(rack_segment(), seg);
  }
  Duration rtt() const { return rtt_; }
  bool reordering_seen() const { return reordering_seen_; }
  uint32_t reo_wnd_mult() const { return reo_wnd_mult_; }

  // Tail loss probe timeout (RFC 8985 7.2): 2*SRTT, plus the worst-case delayed ACK when only
  // one segment is in flight, 1 s without an RTT sample; never beyond the RTO deadline.
  static Duration probe_timeout(std::optional<Duration> srtt, bool one_segment_in_flight,
                                Duration rto);

  // TLP episode state (RFC 8985 7.3/7.4).
  void on_probe_sent(SeqNum snd_nxt, bool was_retransmission);
  bool probe_outstanding() const { return tlp_end_seq_.has_value(); }
  // Called on every ACK while a probe is outstanding. Returns true when the episode revealed
  // a loss that only the probe repaired (the connection then reacts as to a loss: congestion
  // control's on_congestion_event).
  bool on_ack_during_probe(SeqNum ack, bool has_dsack_for_probe);
  // The retransmission timer fired: that ends any TLP episode (the RTO response covers the
  // loss), so the next probe is not held back by the old probe's end sequence.
  void on_rto() { tlp_end_seq_.reset(); }

 private:
  // RFC 8985 breaks a tie of send times by sequence number, which ranks a retransmission below
  // new data sent before it at the same time. Linux stamps each transmission in microseconds,
  // so its ties are rare; weir stamps a whole batch with one clock reading (and a manual clock
  // stamps everything alike), so the sending order breaks ties first, sequence numbers only
  // within one transmission (a record cut in two keeps its order).
  static bool sent_after(const SentSegment& a, const SentSegment& b) {
    if (a.xmit_time != b.xmit_time) return a.xmit_time > b.xmit_time;
    if (a.order != b.order) return static_cast<int32_t>(a.order - b.order) > 0;
    return a.end_seq > b.end_seq;
  }

  SentSegment rack_segment() const { return SentSegment{end_seq_, xmit_time_, false, order_}; }

  // Ordered by size: every connection holds one.
  TimePoint xmit_time_{};  // RACK.xmit_ts
  Duration rtt_{};         // RACK.rtt
  SeqNum end_seq_;         // RACK.end_seq
  SeqNum fack_;            // highest end sequence delivered (RACK.fack)
  uint32_t order_ = 0;     // the RACK segment's place in the sending order
  uint32_t reo_wnd_mult_ = 1;
  uint32_t reo_wnd_persist_ = 0;
  std::optional<SeqNum> dsack_round_;
  std::optional<SeqNum> tlp_end_seq_;
  bool have_segment_ = false;
  bool have_fack_ = false;
  bool reordering_seen_ = false;
  bool tlp_is_retrans_ = false;
};

}  // namespace weir::tcp
