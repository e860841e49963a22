// The sender's SACK scoreboard (RFC 2018, RFC 6675): which ranges above snd.una the receiver
// holds. The connection feeds it the SACK blocks of every ACK; loss detection and
// retransmission ask it which bytes are still missing.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "tcp/seqnum.h"

namespace weir::tcp {

class SackScoreboard {
 public:
  // Records the blocks of an ACK. Blocks at or below snd_una (D-SACK, stale) and blocks
  // beyond snd_max are ignored; returns the bytes newly marked as SACKed.
  uint32_t update(SeqNum snd_una, SeqNum snd_max, std::span<const SeqRange> blocks);
  // Forgets everything at or below snd_una (cumulative ACK advanced).
  void advance(SeqNum snd_una);
  void clear();

  bool is_sacked(SeqRange r) const;      // every byte of r is SACKed
  uint32_t sacked_bytes() const { return sacked_bytes_; }
  std::optional<SeqNum> highest_sacked() const;  // end of the highest SACKed byte
  // The first un-SACKed range at or after from (below the highest SACKed byte), i.e. the next
  // hole to retransmit; nullopt when none.
  std::optional<SeqRange> next_hole(SeqNum from) const;
  // The SACKed ranges, ascending, coalesced.
  std::span<const SeqRange> ranges() const { return ranges_; }

 private:
  std::vector<SeqRange> ranges_;  // sorted, disjoint, non-adjacent
  uint32_t sacked_bytes_ = 0;
};

}  // namespace weir::tcp
