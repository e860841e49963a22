// TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 3.4). Using a distinct
// type keeps sequence arithmetic from mixing with byte counts and window sizes.
#pragma once

#include <cstdint>

namespace weir::tcp {

class SeqNum {
 public:
  constexpr SeqNum() = default;
  constexpr explicit SeqNum(uint32_t v) : v_(v) {}
  constexpr uint32_t value() const { return v_; }

  constexpr SeqNum operator+(uint32_t n) const { return SeqNum(v_ + n); }
  constexpr SeqNum operator-(uint32_t n) const { return SeqNum(v_ - n); }
  constexpr SeqNum& operator+=(uint32_t n) {
    v_ += n;
    return *this;
  }
  // Distance from o to this, as a signed 32-bit difference.
  constexpr int32_t operator-(SeqNum o) const { return static_cast<int32_t>(v_ - o.v_); }

  constexpr bool operator==(const SeqNum&) const = default;
  constexpr bool operator<(SeqNum o) const { return (*this - o) < 0; }
  constexpr bool operator<=(SeqNum o) const { return (*this - o) <= 0; }
  constexpr bool operator>(SeqNum o) const { return (*this - o) > 0; }
  constexpr bool operator>=(SeqNum o) const { return (*this - o) >= 0; }

  // first <= this < first + size
  constexpr bool in_window(SeqNum first, uint32_t size) const {
    return static_cast<uint32_t>(v_ - first.v_) < size;
  }

 private:
  uint32_t v_ = 0;
};

// RFC 9293 3.10.7.4's acceptability test of a segment of `length` (SYN and FIN counted) at seq,
// against a receive window of `window` bytes from rcv_nxt.
constexpr bool segment_acceptable(SeqNum rcv_nxt, uint32_t window, SeqNum seq, uint32_t length) {
  if (length == 0) return window == 0 ? seq == rcv_nxt : seq.in_window(rcv_nxt, window);
  if (window == 0) return false;
  return seq.in_window(rcv_nxt, window) || (seq + (length - 1)).in_window(rcv_nxt, window);
}

constexpr SeqNum seq_max(SeqNum a, SeqNum b) { return a < b ? b : a; }
constexpr SeqNum seq_min(SeqNum a, SeqNum b) { return a < b ? a : b; }

// A half-open range [begin, end) of sequence space: a SACK block, a segment.
struct SeqRange {
  SeqNum begin;
  SeqNum end;
  constexpr uint32_t size() const { return static_cast<uint32_t>(end - begin); }
  constexpr bool empty() const { return begin == end; }
  constexpr bool contains(SeqNum s) const { return s >= begin && s < end; }
  constexpr bool operator==(const SeqRange&) const = default;
};

}  // namespace weir::tcp
