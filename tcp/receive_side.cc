// The receive side's policies: how much memory a segment may take, what window to advertise,
// when to ACK, and how the buffer grows.
#include "tcp/receive_side.h"

#include "stack/memory_budget.h"
#include "tcp/counters.h"

namespace weir::tcp {
namespace {

// The least receive memory a connection may hold, whatever its buffer (receive()).
constexpr size_t kMinReceiveMemory = 64 * 1024;
// What a connection may always hold in order, past the stack's hard limit (Linux's
// tcp_rmem[0]): enough for a segment or two, so every connection keeps making progress.
constexpr size_t kMemoryFloor = 4096;

}  // namespace

ReceiveSide::Delivery ReceiveSide::receive(SeqNum seq, PacketBuffer&& payload, SocketMemory& memory,
                                           TcpCounters& c, TimePoint now) {
  size_t len = payload.size();
  bytes_received_ += len;
  c.bytes_received += len;
  last_data_recv_ = now;
  // Receive memory is charged at what it pins; twice the buffer leaves room for segments in
  // chunks up to 1.5 times their size (see tcp/receive_queue.h), and the floor keeps a tiny
  // buffer from refusing a segment that arrived in a standard-sized chunk.
  size_t limit = std::max<size_t>(2 * size_t{buffer_}, kMinReceiveMemory);
  // The stack's account may bind tighter (see SocketMemory): which limit did decides how a
  // prune or a drop is counted.
  enum class Bound { kOwn, kPressure, kHardLimit } bound = Bound::kOwn;
  auto tighten = [&](size_t cap, Bound why) {
    if (cap < limit) {
      limit = cap;
      bound = why;
    }
  };
  const bool in_order = seq == nxt_;
  // pinned_bytes(), without its loop for the usual single slice.
  const size_t need =
      payload.view_count() == 1 ? payload.front_chunk()->capacity() : payload.pinned_bytes();
  // Read once: nothing below changes the stack's account before the queue takes the data.
  const bool pressure = memory.under_pressure();
  const bool over_hard_limit = memory.exceeds_hard_limit(need);
  bool refuse = false;
  if (pressure) {
    // Out-of-order data goes first (Linux's tcp_prune_queue under pressure): beyond its fair
    // share of the hard limit a connection keeps what it holds in order and what just came
    // in order, and gives up pieces beyond a hole to make room.
    size_t keep = in_order ? queue_.in_order_charged() + need : 0;
    tighten(std::max({memory.fair_share(), kMemoryFloor, keep}), Bound::kPressure);
  }
  if (over_hard_limit) {
    if (in_order && queue_.in_order_charged() < kMemoryFloor) {
      // Every connection may hold a little in order whatever the others pin, so each still
      // makes progress (Linux forces the charge when the receive queue is empty).
      c.memory_floor_accepted++;
    } else if (!in_order && memory.over_hard_limit()) {
      // Nothing beyond a hole is worth memory the stack does not have.
      tighten(0, Bound::kHardLimit);
      refuse = true;
    } else {
      const size_t room =
          memory.limits().max > memory.used() ? memory.limits().max - memory.used() : 0;
      tighten(queue_.charged() + room, Bound::kHardLimit);
    }
  }
  ReceiveQueue::AddResult r;
  if (refuse)
    r.dropped = true;
  else
    r = queue_.add(nxt_, seq, std::move(payload), limit, !pressure && !over_hard_limit);
  c.receive_queue_collapsed += r.collapsed ? 1 : 0;
  if (bound == Bound::kOwn)
    c.ofo_pruned += r.pruned;
  else
    c.ofo_pruned_pressure += r.pruned;
  if (r.dropped) {
    switch (bound) {
      case Bound::kOwn:
        c.drop_receive_queue_memory++;
        break;
      case Bound::kPressure:
        c.drop_memory_pressure++;
        break;
      case Bound::kHardLimit:
        c.drop_memory_hard_limit++;
        memory.note_refused();
        break;
    }
  }
  Delivery d;
  if (r.advanced > 0) {
    nxt_ += r.advanced;
    if (read_shutdown_)
      queue_.discard(queue_.readable());
    else
      d.readable = true;
  }
  if (r.out_of_order || refuse) {
    c.out_of_order_segments++;
    ooo_packets_++;
  }
  if (r.out_of_order || refuse || r.filled_gap || queue_.dsack_pending() ||
      queue_.has_out_of_order()) {
    ack_now_ = true;  // RFC 5681 4.2: ACK reordering and gap-filling at once
  } else if (r.advanced > 0) {
    d.schedule_ack = true;
  }
  return d;
}

void ReceiveSide::autotune(size_t copied, TimePoint now, Duration rtt, uint32_t max_buffer,
                           const SocketMemory& memory, TcpCounters& counters) {
  copied_in_round_ += copied;
  if (round_start_ == TimePoint{}) round_start_ = now;
  if (now - round_start_ < rtt) return;
  // Dynamic right-sizing (as Linux's tcp_rcv_space_adjust): the buffer should hold twice
  // what the application drains per round trip, so the sender is never window-limited.
  if (2 * copied_in_round_ > buffer_ && buffer_ < max_buffer && memory.under_pressure()) {
    // No buffer grows while the stack is short of memory (Linux's tcp_rcv_space_adjust).
    counters.autotune_suppressed_pressure++;
  } else if (2 * copied_in_round_ > buffer_ && buffer_ < max_buffer) {
    buffer_ =
        static_cast<uint32_t>(std::min<size_t>(2 * copied_in_round_ + buffer_ / 2, max_buffer));
    counters.receive_buffer_grown++;
  }
  copied_in_round_ = 0;
  round_start_ = now;
}

}  // namespace weir::tcp
