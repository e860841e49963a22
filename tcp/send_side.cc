// The send side's record surgery: cutting records where SACK blocks or a smaller MSS split them.
#include "tcp/send_side.h"

namespace weir::tcp {

size_t SendSide::first_record_ending_after(SeqNum seq) const {
  auto it = std::lower_bound(sent_.begin() + static_cast<std::ptrdiff_t>(head_), sent_.end(), seq,
                             [](const SentSegment& s, SeqNum v) { return s.end <= v; });
  return static_cast<size_t>(it - sent_.begin()) - head_;
}

void SendSide::split_at(SeqNum at) {
  auto it = std::lower_bound(sent_.begin() + static_cast<std::ptrdiff_t>(head_), sent_.end(), at,
                             [](const SentSegment& s, SeqNum v) { return s.end <= v; });
  if (it == sent_.end() || !(it->begin < at) || !(at < it->end)) return;
  SentSegment tail = *it;
  tail.begin = at;
  it->end = at;
  sent_.insert(it + 1, tail);
}

SendSide::Retransmission SendSide::retransmit(size_t k, uint32_t mss, TimePoint now) {
  size_t index = head_ + k;
  bool has_fin = fin_sent_ && sent_[index].end == nxt_;
  uint32_t data_len = (sent_[index].end - sent_[index].begin) - (has_fin ? 1 : 0);
  if (data_len > mss) {
    SentSegment tail = sent_[index];
    tail.begin = sent_[index].begin + mss;
    sent_[index].end = sent_[index].begin + mss;
    sent_.insert(sent_.begin() + static_cast<std::ptrdiff_t>(index + 1), tail);
    has_fin = false;
    data_len = mss;
  }
  SentSegment& s = sent_[index];
  Retransmission r{s.begin, has_fin, data_len,
                   queue_.slice(static_cast<size_t>(s.begin - una_), data_len)};
  if (s.lost) {
    lost_bytes_ -= s.end - s.begin;
    s.lost = false;
  }
  s.retransmitted = true;
  s.sent = now;
  s.order = ++order_;
  total_retrans_++;
  bytes_retrans_ += data_len;
  return r;
}

}  // namespace weir::tcp
