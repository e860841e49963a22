// Theory of operation (RFC 2018 section 4, RFC 6675 sections 2-4).
//
// The scoreboard keeps the SACKed sequence ranges above snd.una as a sorted vector of disjoint,
// non-adjacent half-open ranges. Sorting uses SeqNum's modular order, which is a total order
// here because every stored range lies within [snd.una, snd.max), a span far below 2^31.
//
// Each reported block is validated before it is trusted (RFC 6675 section 5 and RFC 2883):
// empty or inverted blocks are malformed; a block ending at or below snd.una is a D-SACK or a
// stale report and carries no information about outstanding data; a block reaching past
// snd.max claims data never sent, so the whole ACK's block is distrusted rather than clipped.
// A block straddling snd.una is trimmed to its part above snd.una.
//
// A peer can SACK arbitrarily fine slices of the flight; to keep memory and per-ACK work
// bounded the scoreboard holds at most kMaxRanges ranges and ignores blocks that would create
// more. Forgetting a SACK only costs a needless retransmission, never correctness.
#include "tcp/sack_scoreboard.h"

#include <algorithm>

namespace weir::tcp {

namespace {
constexpr size_t kMaxRanges = 512;
}  // namespace

uint32_t SackScoreboard::update(SeqNum snd_una, SeqNum snd_max, std::span<const SeqRange> blocks) {
  const uint32_t before = sacked_bytes_;
  for (SeqRange b : blocks) {
    if (b.end <= b.begin) continue;  // empty or inverted
    if (b.end <= snd_una) continue;  // D-SACK or stale
    if (b.end > snd_max) continue;   // beyond what was sent
    if (b.begin < snd_una) b.begin = snd_una;

    // First stored range that ends at or after b.begin: everything before it is entirely
    // below b and not adjacent to it.
    auto first = std::lower_bound(ranges_.begin(), ranges_.end(), b.begin,
                                  [](const SeqRange& r, SeqNum s) { return r.end < s; });
    // Ranges from first up to last overlap or touch b and merge into it.
    auto last = first;
    SeqRange merged = b;
    uint32_t absorbed = 0;
    while (last != ranges_.end() && last->begin <= b.end) {
      merged.begin = seq_min(merged.begin, last->begin);
      merged.end = seq_max(merged.end, last->end);
      absorbed += last->size();
      ++last;
    }
    if (first == last) {
      if (ranges_.size() >= kMaxRanges) continue;
      ranges_.insert(first, merged);
    } else {
      *first = merged;
      ranges_.erase(first + 1, last);
    }
    sacked_bytes_ = sacked_bytes_ - absorbed + merged.size();
  }
  return sacked_bytes_ - before;
}

void SackScoreboard::advance(SeqNum snd_una) {
  if (ranges_.empty()) return;  // every cumulative ACK without SACK blocks
  auto keep = std::find_if(ranges_.begin(), ranges_.end(),
                           [&](const SeqRange& r) { return r.end > snd_una; });
  for (auto it = ranges_.begin(); it != keep; ++it) sacked_bytes_ -= it->size();
  ranges_.erase(ranges_.begin(), keep);
  if (!ranges_.empty() && ranges_.front().begin < snd_una) {
    sacked_bytes_ -= static_cast<uint32_t>(snd_una - ranges_.front().begin);
    ranges_.front().begin = snd_una;
  }
}

void SackScoreboard::clear() {
  ranges_.clear();
  sacked_bytes_ = 0;
}

bool SackScoreboard::is_sacked(SeqRange r) const {
  if (r.empty()) return true;
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), r.begin,
                             [](SeqNum s, const SeqRange& x) { return s < x.end; });
  return it != ranges_.end() && it->begin <= r.begin && r.end <= it->end;
}

std::optional<SeqNum> SackScoreboard::highest_sacked() const {
  if (ranges_.empty()) return std::nullopt;
  return ranges_.back().end;
}

std::optional<SeqRange> SackScoreboard::next_hole(SeqNum from) const {
  SeqNum pos = from;
  for (const SeqRange& r : ranges_) {
    if (r.end <= pos) continue;
    if (r.begin > pos) return SeqRange{pos, r.begin};
    pos = r.end;
  }
  return std::nullopt;
}

}  // namespace weir::tcp
