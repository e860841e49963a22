// The receive side's data: bytes in order and ready for the user, plus out-of-order data
// waiting for the gap before it to fill. Also the source of the SACK blocks (RFC 2018 4: the
// block holding the latest segment first, then the most recently reported others) and of
// D-SACK reports (RFC 2883: a duplicate segment is reported in the first block).
//
// Theory of operation.
//
// Memory is charged at what it pins, not at the payload's size. A received payload is a slice
// of the frame's chunk (2 KiB for a plain MTU-sized frame, up to 64 KiB when a tap delivers
// with offloads), so a 1-byte segment kept as received would hold the whole chunk: 60,000
// such segments grew a process by 69 MiB. Every piece of data here is charged
// PacketBuffer::pinned_bytes() (plus, out of order, the bookkeeping of its map node), and a
// payload that pins more than 1.5 times its size is copied instead of kept (as Linux collapses
// skbs whose truesize dwarfs their data): appended into the spare room of the piece it
// follows, pushed into the headroom of the piece it precedes, or else put in a right-sized
// chunk, so the frame's chunk goes back to the allocator at once. Full-sized segments (a
// 1448-byte payload in a 2 KiB chunk, a GRO frame filling its 64 KiB) are kept without a copy,
// and so is a small segment that finds nothing unread in a chunk of at most 2 KiB (charged the
// whole chunk): a request or a response is read before anything follows it.
//
// In order: one PacketBuffer (no copy until the user reads) plus a FIFO of (bytes, charge)
// records, so reading releases the charge of what it consumed in O(1) amortized.
//
// Storage. All of that (the in-order buffer, the records, the out-of-order map) lives in a
// Contents taken from a per-thread cache when data arrives and given back once the last byte
// is read: an idle connection's queue holds a null pointer, and a request/response exchange
// reuses the same Contents without allocating. Both ends of that cycle are one step each: the
// first segment to an empty queue is kept as it arrived and charged its chunk directly (the
// "alone" case below, without the general path), and a read or discard of every readable byte
// with nothing out of order gives the contents and the whole charge back at once.
//
// Out of order: a std::map keyed by starting sequence number (SeqNum's modular order is a
// strict weak order here because every key lies within one receive window of rcv.nxt, far
// below 2^31). Pieces never overlap or touch: an arriving segment is merged with every piece it
// overlaps or abuts, so the map holds one piece per hole-separated block, which is also exactly
// a SACK block. Insert is a map search (O(log n)) plus the pieces merged; a piece whose slices
// grow far beyond what its size needs is flattened into one or two chunks, so merging stays
// cheap however the peer orders its bytes.
//
// The limit. add() takes the connection's limit on charged bytes (about twice its receive
// buffer). When data would take the total beyond it, the readable bytes are first copied into
// chunks of their own size if their records pin more than 1.5 times what they hold (Linux's
// tcp_collapse, which tcp_prune_queue tries first): a kept run charges its whole chunk however
// little of it arrived in order, the chunk's bytes beyond a hole are charged again as the
// copies they arrived as, and a run that restarts after the hole fills charges the chunk once
// more, so a window of honest full-sized segments could pin more than twice the buffer. Then
// out-of-order pieces are pruned from the highest sequence number down (Linux's
// tcp_prune_ofo_queue), never those at or below the new data, and if that is not enough the
// segment is dropped. The sender still holds pruned bytes
// (SACK is advisory, RFC 2018 8) and will send them again. So a peer gets at most about twice
// the buffer held for it, whatever it sends.
//
// The stack's account. With set_account(), every change of charged() is charged to or
// released from the stack-wide SocketMemory as it happens (add, read, discard, clear, and the
// queue's destruction), so the account always equals the sum of the queues' charges.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "stack/bytes.h"
#include "stack/memory_budget.h"
#include "stack/packet_buffer.h"
#include "tcp/seqnum.h"
#include "tcp/wire.h"

namespace weir::tcp {

class ReceiveQueue {
 public:
  struct AddResult {
    uint32_t advanced = 0;      // bytes that became in order (rcv.nxt moves by this)
    bool out_of_order = false;  // the segment (or part of it) was queued beyond a gap
    bool filled_gap = false;    // in-order data pulled queued segments along
    bool dropped = false;       // over the memory limit even after pruning: not kept
    uint32_t pruned = 0;        // out-of-order pieces thrown away to make room
    bool collapsed = false;     // readable bytes were copied into compact chunks to make room
  };

  ReceiveQueue() = default;
  ~ReceiveQueue();
  ReceiveQueue(const ReceiveQueue&) = delete;
  ReceiveQueue& operator=(const ReceiveQueue&) = delete;

  // Charges charged() to account from now on (nullptr: to none); account must outlive the
  // queue or be replaced first.
  void set_account(SocketMemory* account);

  // Readable bytes.
  size_t readable() const { return held_ ? held_->ready.size() : 0; }
  // Out-of-order bytes held.
  size_t out_of_order_bytes() const { return held_ ? held_->ooo_bytes : 0; }
  bool has_out_of_order() const { return held_ && !held_->ooo.empty(); }
  // Out-of-order pieces (blocks separated by holes).
  size_t out_of_order_pieces() const { return held_ ? held_->ooo.size() : 0; }
  // Memory charged: what the in-order and out-of-order data pin, as add() counts it.
  size_t charged() const { return in_order_charged() + out_of_order_charged(); }
  size_t in_order_charged() const { return held_ ? held_->ready_charge : 0; }
  size_t out_of_order_charged() const { return held_ ? held_->ooo_charge : 0; }
  // Whether the queue holds its contents' storage (from a per-thread cache while it holds
  // data; none once drained).
  bool holds_storage() const { return held_ != nullptr; }
  // Never held anything: no storage, no D-SACK, nothing charged, no work done.
  bool pristine() const {
    return held_ == nullptr && !dsack_ && pieces_visited_ == 0 && charges_wanted_log2_ == 0 &&
           accounted_ == 0;
  }
  // Out-of-order pieces add() has looked at or merged, in total: a deterministic measure of
  // the work per segment beyond the map's O(log n) search.
  uint64_t pieces_visited() const { return pieces_visited_; }

  // Copies up to out.size() readable bytes and consumes them.
  size_t read(MutableByteView out);
  // Drops up to n readable bytes (after shutdown(SHUT_RD)); returns how many.
  size_t discard(size_t n);
  // Copies without consuming (MSG_PEEK).
  size_t peek(MutableByteView out) const;
  // Views of up to max readable bytes, in order, without copying (they stay valid until the
  // queue changes); discard() then consumes what the caller took.
  void lend(size_t max, std::vector<ByteView>& views) const;

  // Data at seq (already trimmed so seq >= rcv_nxt and within the window). limit bounds
  // charged() (see the theory of operation). Without allow_runs (the stack is short of
  // memory) no new kept run starts: a segment that would pin more than it carries is copied.
  AddResult add(SeqNum rcv_nxt, SeqNum seq, PacketBuffer&& data,
                size_t limit = std::numeric_limits<size_t>::max(), bool allow_runs = true);
  // Records a duplicate the peer sent (already received bytes) for the next ACK's D-SACK.
  void note_duplicate(SeqRange r) { dsack_ = r; }

  // SACK blocks for an ACK at rcv_nxt, D-SACK first if one is pending; clears the D-SACK.
  // Returns the count written to out.
  size_t take_sack_blocks(SeqNum rcv_nxt, std::span<SeqRange> out) {
    // Inline for every ACK of a drained queue: nothing to report and nothing to update.
    if (!dsack_ && held_ == nullptr) return 0;
    return take_held_sack_blocks(rcv_nxt, out);
  }
  bool dsack_pending() const { return dsack_.has_value(); }
  // At least as many blocks as take_sack_blocks() would now report into unlimited room.
  size_t sack_blocks_pending() const {
    return (dsack_ ? 1 : 0) + (held_ != nullptr ? held_->ooo.size() : 0);
  }

  // The highest sequence number held out of order (end of the last block).
  std::optional<SeqNum> highest_out_of_order() const;
  void clear();

 private:
  struct Piece {
    PacketBuffer data;
    size_t charge = 0;  // pinned chunks plus kPieceOverhead
  };
  using OooMap = std::map<SeqNum, Piece>;
  // What a piece costs besides its chunks: the map node around it.
  static constexpr size_t kPieceOverhead = sizeof(OooMap::value_type) + 4 * sizeof(void*);

  struct ReadyCharge {
    size_t bytes;
    size_t charge;
  };

  // What the queue holds while it holds any data. Drained, it goes back to a per-thread cache
  // (stack/object_cache.h): an idle connection's queue is a null pointer, not 224 bytes.
  struct Contents {
    PacketBuffer ready;
    // Oldest first from ready_charges_head; bytes sum to ready.size(). A vector, not a deque:
    // libstdc++'s deque allocates 576 bytes on construction.
    std::vector<ReadyCharge> ready_charges;
    size_t ready_charges_head = 0;
    size_t ready_charge = 0;
    OooMap ooo;  // by starting seq; pieces neither overlap nor touch
    size_t ooo_bytes = 0;
    size_t ooo_charge = 0;
    std::array<SeqNum, kMaxSackBlocks> recent{};  // latest out-of-order arrivals, newest first
    uint8_t recent_count = 0;
    // The chunk and end offset of the last in-order segment's bytes where it arrived as one
    // slice, and whether ready's last record keeps that chunk (charged once, at its capacity).
    // Only compared, never followed: run_kept holds only while that record lives.
    const Chunk* run_chunk = nullptr;
    uint32_t run_end = 0;
    bool run_kept = false;
    bool empty() const { return ready.empty() && ooo.empty(); }
    // Back to empty for the next queue; keeps the charges' capacity.
    void reset();
  };

  Contents& hold();
  // Empties the ready records (all consumed).
  void empty_charges(Contents& c);
  // Gives the contents back once nothing is left in them.
  void let_go_if_drained();
  // After a read or discard: lets the emptied ready list's storage, or the whole contents, go.
  void drop_emptied_ready();
  // Every readable byte was consumed and nothing is held out of order: the contents and the
  // whole charge go at once.
  void let_go_emptied();
  AddResult add_data(SeqNum rcv_nxt, SeqNum seq, PacketBuffer&& data, size_t limit,
                     bool allow_runs);
  AddResult add_out_of_order(SeqNum seq, PacketBuffer&& data, size_t limit);
  // Moves the out-of-order pieces that next (the new rcv.nxt) reaches into ready.
  void pull_in_order(SeqNum next, AddResult& result);
  void append_ready(PacketBuffer&& data, size_t charge);
  void add_charge(const ReadyCharge& charge);
  void release_ready(size_t n);
  // Copies the readable bytes into compact chunks when their records pin more than 1.5 times
  // what they hold. Returns whether it did.
  bool collapse_ready();
  // Collapses the readable bytes if that helps, then prunes out-of-order pieces from the top,
  // none starting at or below floor (when given), until need more bytes fit under limit.
  // Returns whether they fit.
  bool make_room(size_t need, size_t limit, std::optional<SeqNum> floor, AddResult& result);
  void remember_recent(SeqNum seq);
  size_t take_held_sack_blocks(SeqNum rcv_nxt, std::span<SeqRange> out);
  // Brings the account up to charged().
  void sync_account();

  static constexpr size_t kChargesKeptWhenIdle = 4;
  std::unique_ptr<Contents> held_;
  uint64_t pieces_visited_ = 0;
  uint8_t charges_wanted_log2_ = 0;  // what the last burst grew ready_charges to
  std::optional<SeqRange> dsack_;
  SocketMemory* account_ = nullptr;  // not owned
  size_t accounted_ = 0;             // what account_ holds for this queue
};

}  // namespace weir::tcp
