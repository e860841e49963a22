// The receive side of a connection: the peer's bytes in order and beyond gaps (ReceiveQueue),
// the receive sequence space and the window we advertise (never shrinking, SWS avoidance,
// memory-pressure clamps, auto-tuning), and the ACK policy (delayed ACKs, quick ACKs). It sends
// nothing itself: it tells the Connection when an ACK is due, so that the decisions about what
// the peer may send live in one place, apart from the state machine.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stack/bytes.h"
#include "stack/clock.h"
#include "stack/memory_budget.h"
#include "stack/packet_buffer.h"
#include "tcp/counters.h"
#include "tcp/receive_queue.h"
#include "tcp/seqnum.h"

namespace weir::tcp {

class ReceiveSide {
 public:
  explicit ReceiveSide(SocketMemory& memory) { queue_.set_account(&memory); }

  // ---- sequence space and window ----
  // The peer's ISN: rcv.nxt is the byte after it.
  void start(SeqNum irs) {
    irs_ = irs;
    nxt_ = irs + 1;
    adv_ = nxt_;
  }
  SeqNum irs() const { return irs_; }
  SeqNum nxt() const { return nxt_; }
  // What is left of the window we advertised.
  uint32_t window() const { return adv_ > nxt_ ? static_cast<uint32_t>(adv_ - nxt_) : 0; }
  // RFC 9293 3.10.7.4's acceptability test.
  bool acceptable(SeqNum seq, uint32_t length) const {
    return segment_acceptable(nxt_, window(), seq, length);
  }
  uint8_t window_scale() const { return wscale_; }
  void set_window_scale(uint8_t s) { wscale_ = s; }
  uint32_t buffer() const { return buffer_; }
  void set_buffer(uint32_t b) { buffer_ = b; }
  // The unscaled window of a SYN, or of the ACK a SYN cookie answers (RFC 7323 2.2).
  uint16_t syn_window() {
    uint32_t wnd = std::min<uint32_t>(buffer_, 65535);
    if (nxt_ + wnd > adv_) adv_ = nxt_ + wnd;
    return static_cast<uint16_t>(wnd);
  }
  // The window field of the next segment; moves the advertised right edge (never left).
  uint16_t advertise(SocketMemory& memory, TcpCounters& counters, uint16_t adv_mss);
  // Whether reading opened the window enough to tell the peer now.
  bool window_update_due(const SocketMemory& memory, uint16_t adv_mss) const;
  // Dynamic right-sizing after the user took copied bytes (up to max_buffer).
  void autotune(size_t copied, TimePoint now, Duration rtt, uint32_t max_buffer,
                const SocketMemory& memory, TcpCounters& counters);

  // ---- data ----
  ReceiveQueue& queue() { return queue_; }
  const ReceiveQueue& queue() const { return queue_; }
  // The views read_with() and lend() hand out, kept to reuse their storage.
  std::vector<ByteView>& lent() { return lent_; }
  struct Delivery {
    bool readable = false;      // new in-order bytes for the user
    bool schedule_ack = false;  // in order and nothing unusual: the ACK may be delayed
  };
  // In-window data at seq (trimmed to the window), within this connection's and the stack's
  // memory limits.
  Delivery receive(SeqNum seq, PacketBuffer&& payload, SocketMemory& memory, TcpCounters& counters,
                   TimePoint now);
  // The peer's FIN at rcv.nxt.
  void receive_fin() {
    fin_received_ = true;
    fin_held_ = false;
    nxt_ += 1;
    ack_now_ = true;
  }
  // A FIN beyond a gap: it counts once the gap fills.
  void hold_fin(SeqNum fin) {
    held_fin_ = fin;
    fin_held_ = true;
    ack_now_ = true;
  }
  bool held_fin_reached() const { return fin_held_ && held_fin_ == nxt_; }
  bool fin_received() const { return fin_received_; }
  // The user will read no more: future in-order bytes are dropped as they arrive.
  void shut_read() { read_shutdown_ = true; }
  bool read_shut() const { return read_shutdown_; }
  // A duplicate of bytes we have, for a D-SACK.
  void note_duplicate(SeqRange r) { queue_.note_duplicate(r); }
  size_t take_sack_blocks(std::span<SeqRange> out) { return queue_.take_sack_blocks(nxt_, out); }
  size_t sack_blocks_pending() const { return queue_.sack_blocks_pending(); }

  // ---- ACK policy ----
  bool ack_now() const { return ack_now_; }
  void request_ack() { ack_now_ = true; }
  // When the ACK in-order data is owed goes out.
  enum class AckDue : uint8_t {
    kNow,         // ack_now(): after this segment's processing
    kAtBatchEnd,  // ack_at_batch_end(): once, when the stack's input batch ends
    kDelayed,     // the delayed-ACK timer should run
  };
  // In-order data arrived. Inside an input batch (in_batch), an ACK that is due (every second
  // segment, or quick-ACK mode) waits for the batch's end, so one ACK covers every in-order
  // segment the batch brought, as Linux's ACK for a GRO packet does.
  AckDue schedule_ack(bool quick, bool quick_ack_option, bool in_batch, TcpCounters& counters);
  bool ack_at_batch_end() const { return ack_at_batch_end_; }
  bool ack_pending() const { return unacked_segments_ != 0 || ack_now_ || ack_at_batch_end_; }
  void on_ack_sent() {
    unacked_segments_ = 0;
    ack_now_ = false;
    ack_at_batch_end_ = false;
  }

  // Statistics (TCP_INFO).
  uint64_t bytes_received() const { return bytes_received_; }
  uint32_t out_of_order_packets() const { return ooo_packets_; }
  TimePoint last_data_received() const { return last_data_recv_; }

  // ---- parking (Connection's theory of operation) ----
  // A receive side that has never received data, a FIN or a duplicate, and owes no ACK, is
  // its sequence numbers, buffer and scale: all a parked connection keeps of it.
  struct Idle {
    SeqNum irs;
    SeqNum nxt;
    SeqNum adv;
    uint32_t buffer = 0;
    uint8_t wscale = 0;
  };
  bool idle() const {
    return queue_.pristine() && lent_.capacity() == 0 && bytes_received_ == 0 &&
           copied_in_round_ == 0 && round_start_ == TimePoint{} &&
           last_data_recv_ == TimePoint{} && unacked_segments_ == 0 &&
           quick_acks_left_ == kInitialQuickAcks && ooo_packets_ == 0 && !fin_received_ &&
           !fin_held_ && !read_shutdown_ && !ack_now_ && !ack_at_batch_end_;
  }
  Idle idle_state() const { return Idle{irs_, nxt_, adv_, buffer_, wscale_}; }
  // Only on a new side.
  void restore(const Idle& s) {
    irs_ = s.irs;
    nxt_ = s.nxt;
    adv_ = s.adv;
    buffer_ = s.buffer;
    wscale_ = s.wscale;
  }

 private:
  // Free receive buffer, clamped under the stack's memory pressure (counted when counters).
  uint32_t space(const SocketMemory& memory, TcpCounters* counters, uint16_t adv_mss) const;

  ReceiveQueue queue_;
  std::vector<ByteView> lent_;
  uint64_t bytes_received_ = 0;
  size_t copied_in_round_ = 0;  // auto-tuning (Linux DRS style)
  TimePoint round_start_{};
  TimePoint last_data_recv_{};
  SeqNum held_fin_;  // where a FIN beyond a gap is, when fin_held_
  SeqNum irs_;
  SeqNum nxt_;
  SeqNum adv_;           // right edge of the window we advertised: never moves left (RFC 9293)
  uint32_t buffer_ = 0;  // current receive buffer (auto-tuned)
  uint32_t unacked_segments_ = 0;  // in-order data segments received and not yet ACKed
  static constexpr uint32_t kInitialQuickAcks = 16;
  // RFC 1122 allows delaying; start quick like Linux.
  uint32_t quick_acks_left_ = kInitialQuickAcks;
  uint32_t ooo_packets_ = 0;
  uint8_t wscale_ = 0;
  bool fin_received_ = false;
  bool fin_held_ = false;
  bool read_shutdown_ = false;
  bool ack_now_ = false;
  bool ack_at_batch_end_ = false;
};

// On every segment sent or received: defined here so that the Connection's calls inline.
inline ReceiveSide::AckDue ReceiveSide::schedule_ack(bool quick, bool quick_ack_option,
                                                     bool in_batch, TcpCounters& counters) {
  unacked_segments_++;
  if (quick || quick_ack_option || quick_acks_left_ > 0) {
    if (quick_acks_left_ > 0) quick_acks_left_--;
    counters.quick_acks++;
  } else if (unacked_segments_ < 2) {
    return AckDue::kDelayed;
  }
  if (in_batch) {
    ack_at_batch_end_ = true;
    return AckDue::kAtBatchEnd;
  }
  ack_now_ = true;
  return AckDue::kNow;
}

inline uint32_t ReceiveSide::space(const SocketMemory& memory, TcpCounters* counters,
                                   uint16_t adv_mss) const {
  size_t used = queue_.readable() + queue_.out_of_order_bytes();
  uint32_t free_space = buffer_ > used ? static_cast<uint32_t>(buffer_ - used) : 0;
  // Under memory pressure the window opens no further than four segments (Linux clamps
  // rcv_ssthresh to 4 * advmss); callers never move the right edge back (RFC 9293 3.8.6).
  const uint32_t clamp = 4u * adv_mss;
  if (free_space > clamp && memory.under_pressure()) {
    free_space = clamp;
    if (counters != nullptr) counters->window_clamped_pressure++;
  }
  return free_space;
}

// After every read: defined here so that the Connection's call inlines.
inline bool ReceiveSide::window_update_due(const SocketMemory& memory, uint16_t adv_mss) const {
  // Only what the window field can carry: without window scaling a 128 KiB buffer still shows
  // 65535 bytes, and free space beyond that is no news to the peer (it made every read send
  // an update).
  const uint32_t free_space =
      std::min<uint32_t>(space(memory, nullptr, adv_mss), uint32_t{65535} << wscale_);
  uint32_t current = window();
  // Worth telling the peer when the window grows by two segments or half the buffer.
  return free_space > current &&
         (free_space - current >= 2u * adv_mss || free_space - current >= buffer_ / 2);
}

inline uint16_t ReceiveSide::advertise(SocketMemory& memory, TcpCounters& counters,
                                       uint16_t adv_mss) {
  uint32_t free_space = space(memory, &counters, adv_mss);
  uint32_t current = window();
  uint32_t wnd = current;
  if (free_space > current) {
    // Receiver SWS avoidance (RFC 9293 3.8.6.2.2): open in steps of min(buffer/2, MSS).
    uint32_t step = std::min<uint32_t>(buffer_ / 2, adv_mss);
    if (free_space - current >= step) wnd = free_space;
  }
  uint32_t field = std::min<uint32_t>(wnd >> wscale_, 65535);
  if ((uint64_t{field} << wscale_) < current && field < 65535) field++;
  SeqNum edge = nxt_ + (field << wscale_);
  if (edge > adv_) adv_ = edge;
  return static_cast<uint16_t>(field);
}

}  // namespace weir::tcp
