// The send side of a connection: the user's bytes (SendQueue), the send sequence space and
// window (RFC 9293 3.3.1), one record per transmitted range with its lost/SACKed marks, and the
// Nagle state. It decides nothing about loss or congestion (tcp/loss_recovery.h does) and sends
// nothing itself (the Connection builds segments): it is the bookkeeping both of them read, kept
// apart so that what an idle connection does not need (the records) is one object's state.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "stack/clock.h"
#include "stack/packet_buffer.h"
#include "tcp/drained_vector.h"
#include "tcp/send_queue.h"
#include "tcp/seqnum.h"

namespace weir::tcp {

// One transmitted (and not yet cumulatively acknowledged) range, for RACK and retransmission.
struct SentSegment {
  SeqNum begin;
  SeqNum end;  // includes a FIN's sequence number
  TimePoint sent{};
  bool retransmitted = false;
  bool lost = false;  // marked lost, not yet retransmitted
  bool sacked = false;
  // The place of its latest (re)transmission in the connection's sending order: RACK's
  // tie-break between records stamped with the same clock reading (tcp/rack.h).
  uint32_t order = 0;
};

class SendSide {
 public:
  // ---- sequence space ----
  // Our ISN with snd.una and snd.nxt as the handshake leaves them.
  void start(SeqNum iss, SeqNum una, SeqNum nxt) {
    iss_ = iss;
    una_ = una;
    nxt_ = nxt;
    last_small_end_ = una;
  }
  void set_una(SeqNum una) { una_ = una; }
  SeqNum iss() const { return iss_; }
  SeqNum una() const { return una_; }
  SeqNum nxt() const { return nxt_; }  // also the highest sent: retransmissions never move it back
  uint32_t outstanding() const { return static_cast<uint32_t>(nxt_ - una_); }

  // ---- the peer's window ----
  uint32_t window() const { return wnd_; }
  uint32_t max_window() const { return max_wnd_; }
  uint8_t window_scale() const { return wscale_; }
  void set_window_scale(uint8_t s) { wscale_ = s; }
  // The window as the handshake gives it (a SYN's window is never scaled: the caller scales).
  void set_window(uint32_t wnd, SeqNum wl1, SeqNum wl2) {
    wnd_ = wnd;
    max_wnd_ = std::max(max_wnd_, wnd);
    wl1_ = wl1;
    wl2_ = wl2;
  }
  // Whether a segment would move the send window (Linux's tcp_may_update_window, which PAWS's
  // disordered-ACK test asks): it acknowledges new data, is newer than the last update, or is
  // as new and opens the window or closes it.
  bool would_update_window(SeqNum seq, SeqNum ack, uint16_t field) const {
    const uint32_t wnd = uint32_t{field} << wscale_;
    return ack > una_ || seq > wl1_ || (seq == wl1_ && (wnd > wnd_ || wnd == 0));
  }
  // RFC 9293 3.10.7.4: only a segment newer than the last update moves the window. True when
  // it opened a zero window.
  bool update_window(SeqNum seq, SeqNum ack, uint16_t field) {
    if (!(wl1_ < seq || (wl1_ == seq && wl2_ <= ack))) return false;
    uint32_t wnd = uint32_t{field} << wscale_;
    bool opened = wnd_ == 0 && wnd > 0;
    set_window(wnd, seq, ack);
    return opened;
  }

  // ---- the user's bytes ----
  SendQueue& queue() { return queue_; }
  const SendQueue& queue() const { return queue_; }
  uint32_t buffer() const { return buffer_; }
  void set_buffer(uint32_t b) { buffer_ = b; }
  // Queued bytes never sent yet.
  size_t unsent() const {
    uint32_t out = outstanding();
    return queue_.size() > out ? queue_.size() - out : 0;
  }
  bool fin_queued() const { return fin_queued_; }
  bool fin_sent() const { return fin_sent_; }
  bool fin_ready() const { return fin_queued_ && !fin_sent_; }
  void queue_fin() { fin_queued_ = true; }
  // Minshall's Nagle: the last segment shorter than the MSS is still unacknowledged.
  bool small_segment_in_flight() const { return last_small_end_ > una_ && last_small_end_ <= nxt_; }

  // ---- transmitted records ----
  // Records a new transmission of len payload bytes (and the FIN after them) at snd.nxt and
  // advances snd.nxt; returns where it begins.
  SeqNum record_new(size_t len, bool fin, bool small, TimePoint now) {
    SeqNum begin = nxt_;
    auto seq_len = static_cast<uint32_t>(len + (fin ? 1 : 0));
    reserve_for_burst(sent_, records_wanted_log2_);
    sent_.push_back(SentSegment{begin, begin + seq_len, now, false, false, false, ++order_});
    nxt_ += seq_len;
    if (small) last_small_end_ = nxt_;
    if (fin) fin_sent_ = true;
    return begin;
  }
  // The live records, ascending by sequence: k in [0, record_count()).
  size_t record_count() const { return sent_.size() - head_; }
  // Whether the records hold storage (none once every record is acknowledged).
  bool records_hold_storage() const { return sent_.capacity() > 0; }
  SentSegment& record(size_t k) { return sent_[head_ + k]; }
  const SentSegment& record(size_t k) const { return sent_[head_ + k]; }
  // The first record ending after seq (record_count() if none).
  size_t first_record_ending_after(SeqNum seq) const;
  // Cuts the record that holds `at` strictly inside into two at `at`.
  void split_at(SeqNum at);
  void clear_records() {
    release_drained(sent_, kRecordsKeptWhenIdle, records_wanted_log2_);
    head_ = 0;
    lost_bytes_ = 0;
  }

  // A resent record is still unacknowledged and not SACKed (Linux's retrans_out > 0).
  bool retransmission_outstanding() const {
    for (size_t k = head_; k < sent_.size(); ++k) {
      if (sent_[k].retransmitted && !sent_[k].sacked) return true;
    }
    return false;
  }

  // Loss marks: bytes marked lost and not yet retransmitted.
  uint32_t lost_bytes() const { return lost_bytes_; }
  void mark_lost(SentSegment& s) {
    if (s.lost || s.sacked) return;
    s.lost = true;
    lost_bytes_ += s.end - s.begin;
  }
  // A loss episode proved spurious (LossRecovery's undo): s is in flight after all.
  void unmark_lost(SentSegment& s) {
    if (!s.lost) return;
    s.lost = false;
    lost_bytes_ -= s.end - s.begin;
  }
  // The receiver reneged (see LossRecovery::on_rto): s is outstanding again.
  void unmark_sacked(SentSegment& s) { s.sacked = false; }
  void mark_sacked(SentSegment& s) {
    s.sacked = true;
    if (s.lost) {
      s.lost = false;
      lost_bytes_ -= s.end - s.begin;
    }
  }

  // Cumulative ACK up to ack (> snd.una): retires the records it covers, calling
  // retired(record, whole) for each before it goes (whole false for a record cut at ack), drops
  // the acknowledged bytes from the queue (ctl is how many of them were SYN or FIN), and moves
  // snd.una.
  template <typename F>
  void acknowledge(SeqNum ack, uint32_t ctl, F&& retired) {
    auto acked = static_cast<uint32_t>(ack - una_);
    queue_.consume(acked - std::min(acked, ctl));
    while (head_ < sent_.size() && sent_[head_].end <= ack) {
      SentSegment& s = sent_[head_];
      retired(s, true);
      if (s.lost) lost_bytes_ -= s.end - s.begin;
      ++head_;
    }
    if (head_ < sent_.size() && sent_[head_].begin < ack) {
      SentSegment& s = sent_[head_];
      retired(s, false);
      if (s.lost) lost_bytes_ -= static_cast<uint32_t>(ack - s.begin);
      s.begin = ack;
    }
    compact();
    una_ = ack;
  }

  // A retransmission of record k, at most mss payload bytes (a wider record is cut and its tail
  // stays lost): the record is marked resent at now.
  struct Retransmission {
    SeqNum seq;
    bool fin = false;
    uint32_t data_len = 0;
    PacketBuffer payload;
  };
  Retransmission retransmit(size_t k, uint32_t mss, TimePoint now);

  // Retransmission statistics (TCP_INFO).
  uint32_t total_retransmits() const { return total_retrans_; }
  uint64_t bytes_retransmitted() const { return bytes_retrans_; }

  // ---- parking (Connection's theory of operation) ----
  // A send side that has never carried data is its sequence numbers and the peer's window:
  // that is all a parked connection keeps of it, and restore() makes the same side again.
  struct Idle {
    SeqNum iss;
    SeqNum una;  // also snd.nxt
    SeqNum wl1;
    SeqNum wl2;
    uint32_t wnd = 0;
    uint32_t max_wnd = 0;
    uint32_t buffer = 0;
    uint8_t wscale = 0;
  };
  bool idle() const {
    return nxt_ == una_ && queue_.size() == 0 && sent_.capacity() == 0 && !fin_queued_ &&
           total_retrans_ == 0 && bytes_retrans_ == 0 && records_wanted_log2_ == 0;
  }
  Idle idle_state() const { return Idle{iss_, una_, wl1_, wl2_, wnd_, max_wnd_, buffer_, wscale_}; }
  // Only on a side that has carried nothing (a new one). The end of the last small segment
  // becomes snd.una: Nagle's test reads it the same while nothing is outstanding.
  void restore(const Idle& s) {
    start(s.iss, s.una, s.una);
    wl1_ = s.wl1;
    wl2_ = s.wl2;
    wnd_ = s.wnd;
    max_wnd_ = s.max_wnd;
    buffer_ = s.buffer;
    wscale_ = s.wscale;
  }

 private:
  void compact() {
    if (head_ == sent_.size()) {
      release_drained(sent_, kRecordsKeptWhenIdle, records_wanted_log2_);
      head_ = 0;
    } else if (head_ > 64 && head_ * 2 > sent_.size()) {
      sent_.erase(sent_.begin(), sent_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  SendQueue queue_;
  static constexpr size_t kRecordsKeptWhenIdle = 4;
  std::vector<SentSegment> sent_;  // ascending by begin; [head_, end) are live
  size_t head_ = 0;
  uint64_t bytes_retrans_ = 0;
  SeqNum iss_;
  SeqNum una_;
  SeqNum nxt_;
  // End of the last segment sent shorter than the MSS (Linux's snd_sml).
  SeqNum last_small_end_;
  SeqNum wl1_;
  SeqNum wl2_;
  uint32_t wnd_ = 0;
  uint32_t max_wnd_ = 0;
  uint32_t buffer_ = 0;
  uint32_t lost_bytes_ = 0;
  uint32_t total_retrans_ = 0;
  uint32_t order_ = 0;  // of the latest transmission (SentSegment::order); wraps
  uint8_t wscale_ = 0;
  bool fin_queued_ = false;  // user shut down writing: FIN follows the queued data
  bool fin_sent_ = false;
  uint8_t records_wanted_log2_ = 0;  // what the last burst grew sent_ to (drained_vector.h)
};

}  // namespace weir::tcp
