// Vectors of per-segment records that a burst of data grows. A drained connection should hold
// little (an idle server has many), yet request/response traffic should not allocate: drained,
// such a vector keeps room for a few entries and gives back what a burst grew beyond that,
// remembering the size (as a power of two, capped at 1,024 entries) so that the next burst
// takes it in one allocation instead of growing through every power of two.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace weir::tcp {

// Empties v; capacity beyond `keep` entries goes back.
template <typename T>
void release_drained(std::vector<T>& v, size_t keep) {
  if (v.capacity() <= keep) {
    v.clear();
  } else {
    std::vector<T>().swap(v);
  }
}

// The same, remembering in wanted_log2 what the burst grew v to.
template <typename T>
void release_drained(std::vector<T>& v, size_t keep, uint8_t& wanted_log2) {
  if (v.capacity() > keep) {
    wanted_log2 = static_cast<uint8_t>(std::bit_width(std::min<size_t>(v.capacity(), 1024)) - 1);
  }
  release_drained(v, keep);
}

// Before adding to v: after a release, the room the last burst needed, in one allocation.
template <typename T>
void reserve_for_burst(std::vector<T>& v, uint8_t wanted_log2) {
  if (v.capacity() == 0) v.reserve(size_t{1} << wanted_log2);
}

}  // namespace weir::tcp
