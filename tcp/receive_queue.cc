#include "tcp/receive_queue.h"

#include <algorithm>

namespace weir::tcp {

size_t ReceiveQueue::read(MutableByteView out) {
  size_t n = std::min(out.size(), ready_.size());
  if (n == 0) return 0;
  ready_.copy_out(0, out.first(n));
  ready_.pull_front(n);
  if (ready_.empty()) ready_ = PacketBuffer();  // drop the emptied slice list's storage
  return n;
}

size_t ReceiveQueue::discard(size_t n) {
  n = std::min(n, ready_.size());
  ready_.pull_front(n);
  if (ready_.empty()) ready_ = PacketBuffer();
  return n;
}

void ReceiveQueue::lend(size_t max, std::vector<ByteView>& views) const {
  views.clear();
  ready_.for_each_view([&](ByteView v) {
    if (max == 0) return;
    if (v.size() > max) v = v.first(max);
    views.push_back(v);
    max -= v.size();
  });
}

size_t ReceiveQueue::peek(MutableByteView out) const {
  size_t n = std::min(out.size(), ready_.size());
  if (n > 0) ready_.copy_out(0, out.first(n));
  return n;
}

void ReceiveQueue::remember_recent(SeqNum seq) {
  // Newest first; an older entry for the same block is dropped when blocks are built.
  size_t keep = std::min<size_t>(recent_count_, kMaxSackBlocks - 1);
  for (size_t i = keep; i > 0; --i) recent_[i] = recent_[i - 1];
  recent_[0] = seq;
  recent_count_ = static_cast<uint8_t>(keep + 1);
}

void ReceiveQueue::insert_piece(SeqNum seq, PacketBuffer data) {
  // Cut away every part already held, inserting the uncovered pieces in order.
  auto it = std::lower_bound(ooo_.begin(), ooo_.end(), seq,
                             [](const Pending& p, SeqNum s) { return p.end() <= s; });
  SeqNum end = seq + static_cast<uint32_t>(data.size());
  while (seq < end) {
    if (it != ooo_.end() && it->seq <= seq) {
      // seq is inside *it: skip past it.
      SeqNum skip_to = seq_min(it->end(), end);
      data.pull_front(static_cast<uint32_t>(skip_to - seq));
      seq = skip_to;
      ++it;
      continue;
    }
    SeqNum piece_end = end;
    if (it != ooo_.end() && it->seq < end) piece_end = it->seq;
    auto len = static_cast<uint32_t>(piece_end - seq);
    PacketBuffer piece = data.slice(0, len);
    data.pull_front(len);
    ooo_bytes_ += len;
    it = ooo_.insert(it, Pending{seq, std::move(piece)});
    ++it;
    seq = piece_end;
  }
}

ReceiveQueue::AddResult ReceiveQueue::add(SeqNum rcv_nxt, SeqNum seq, PacketBuffer data) {
  AddResult result;
  if (data.empty()) return result;
  SeqNum end = seq + static_cast<uint32_t>(data.size());
  if (seq != rcv_nxt) {
    // Entirely held already: a duplicate worth a D-SACK.
    bool covered = false;
    for (const auto& p : ooo_) {
      if (p.seq <= seq && end <= p.end()) covered = true;
    }
    if (covered) {
      dsack_ = SeqRange{seq, end};
      return result;
    }
    insert_piece(seq, std::move(data));
    remember_recent(seq);
    result.out_of_order = true;
    return result;
  }
  result.advanced = static_cast<uint32_t>(data.size());
  if (ready_.empty())
    ready_ = std::move(data);
  else
    ready_.append(std::move(data));
  SeqNum next = end;
  // Pull queued segments that are now in order; trim any overlap with what just arrived.
  size_t taken = 0;
  while (taken < ooo_.size() && ooo_[taken].seq <= next) {
    Pending& p = ooo_[taken];
    ooo_bytes_ -= p.data.size();
    SeqNum pend = p.end();
    if (pend > next) {
      p.data.pull_front(static_cast<uint32_t>(next - p.seq));
      result.advanced += static_cast<uint32_t>(p.data.size());
      next = pend;
      ready_.append(std::move(p.data));
    }
    ++taken;
  }
  if (taken > 0) {
    result.filled_gap = true;
    ooo_.erase(ooo_.begin(), ooo_.begin() + static_cast<std::ptrdiff_t>(taken));
  }
  return result;
}

size_t ReceiveQueue::take_sack_blocks(SeqNum rcv_nxt, std::span<SeqRange> out) {
  size_t n = 0;
  if (dsack_ && !out.empty()) {
    out[n++] = *dsack_;
    dsack_.reset();
  }
  // The coalesced out-of-order range containing s: binary search, then widen over touching
  // neighbours.
  auto range_of = [&](SeqNum s) -> std::optional<SeqRange> {
    auto it = std::lower_bound(ooo_.begin(), ooo_.end(), s,
                               [](const Pending& p, SeqNum v) { return p.end() <= v; });
    if (it == ooo_.end() || !(it->seq <= s)) return std::nullopt;
    auto lo = static_cast<size_t>(it - ooo_.begin());
    size_t hi = lo;
    while (lo > 0 && ooo_[lo - 1].end() == ooo_[lo].seq) --lo;
    while (hi + 1 < ooo_.size() && ooo_[hi].end() == ooo_[hi + 1].seq) ++hi;
    return SeqRange{ooo_[lo].seq, ooo_[hi].end()};
  };
  auto add = [&](SeqRange r) {
    if (r.end <= rcv_nxt || n >= out.size()) return;
    for (size_t i = 0; i < n; ++i) {
      if (out[i] == r) return;
    }
    out[n++] = r;
  };
  size_t kept = 0;
  for (size_t i = 0; i < recent_count_; ++i) {
    if (auto r = range_of(recent_[i])) {
      add(*r);
      recent_[kept++] = recent_[i];
    }
  }
  recent_count_ = static_cast<uint8_t>(kept);
  // Fill with the remaining ranges, highest first, so the sender learns of every hole.
  size_t i = ooo_.size();
  while (i > 0 && n < out.size()) {
    size_t hi = --i;
    while (i > 0 && ooo_[i - 1].end() == ooo_[i].seq) --i;
    add(SeqRange{ooo_[i].seq, ooo_[hi].end()});
  }
  return n;
}

std::optional<SeqNum> ReceiveQueue::highest_out_of_order() const {
  if (ooo_.empty()) return std::nullopt;
  return ooo_.back().end();
}

void ReceiveQueue::clear() {
  ready_ = PacketBuffer();
  ooo_.clear();
  ooo_bytes_ = 0;
  recent_count_ = 0;
  dsack_.reset();
}

}  // namespace weir::tcp
