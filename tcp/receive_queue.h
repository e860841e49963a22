// The receive side's data: bytes in order and ready for the user, plus out-of-order segments
// waiting for the gap before them to fill. Payloads are kept as the PacketBuffers they
// arrived in (no copy until the user reads). Also the source of the SACK blocks (RFC 2018 4:
// the block holding the latest segment first, then the most recently reported others) and of
// D-SACK reports (RFC 2883: a duplicate segment is reported in the first block).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stack/bytes.h"
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
  };

  // Readable bytes.
  size_t readable() const { return ready_.size(); }
  // Out-of-order bytes held.
  size_t out_of_order_bytes() const { return ooo_bytes_; }
  bool has_out_of_order() const { return !ooo_.empty(); }

  // Copies up to out.size() readable bytes and consumes them.
  size_t read(MutableByteView out);
  // Drops up to n readable bytes (after shutdown(SHUT_RD)); returns how many.
  size_t discard(size_t n);
  // Copies without consuming (MSG_PEEK).
  size_t peek(MutableByteView out) const;
  // Views of up to max readable bytes, in order, without copying (they stay valid until the
  // queue changes); discard() then consumes what the caller took.
  void lend(size_t max, std::vector<ByteView>& views) const;

  // Data at seq (already trimmed so seq >= rcv_nxt and within the window).
  AddResult add(SeqNum rcv_nxt, SeqNum seq, PacketBuffer data);
  // Records a duplicate the peer sent (already received bytes) for the next ACK's D-SACK.
  void note_duplicate(SeqRange r) { dsack_ = r; }

  // SACK blocks for an ACK at rcv_nxt, D-SACK first if one is pending; clears the D-SACK.
  // Returns the count written to out.
  size_t take_sack_blocks(SeqNum rcv_nxt, std::span<SeqRange> out);
  bool dsack_pending() const { return dsack_.has_value(); }

  // The highest sequence number held out of order (end of the last block).
  std::optional<SeqNum> highest_out_of_order() const;
  void clear();

 private:
  struct Pending {
    SeqNum seq;
    PacketBuffer data;
    SeqNum end() const { return seq + static_cast<uint32_t>(data.size()); }
  };

  void insert_piece(SeqNum seq, PacketBuffer data);
  void remember_recent(SeqNum seq);

  PacketBuffer ready_;
  std::vector<Pending> ooo_;  // sorted by seq, non-overlapping
  size_t ooo_bytes_ = 0;
  std::array<SeqNum, kMaxSackBlocks> recent_{};  // latest out-of-order arrivals, newest first
  uint8_t recent_count_ = 0;
  std::optional<SeqRange> dsack_;
};

}  // namespace weir::tcp
