// Vectors of per-segment records that a burst of data grows. A drained connection should hold
// nothing (an idle server has many), yet request/response traffic should not allocate:
// drained, such a vector hands its storage to a per-thread cache (stack/object_cache.h) when
// it is small, and the next burst of any connection on the thread takes it from there. Storage
// a burst grew beyond `keep` entries is freed instead, and the size is remembered (as a power
// of two, capped at 1,024 entries) so that the next burst takes it in one allocation instead of
// growing through every power of two.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/object_cache.h"

namespace weir::tcp {

// Empties v and lets go of its storage: to the cache when it holds at most `keep` entries.
template <typename T>
void release_drained(std::vector<T>& v, size_t keep) {
  if (v.capacity() <= keep) {
    VectorCache<T>::give(v);
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

// Before adding to v: after a release, the room the last burst needed, from the cache or in
// one allocation.
template <typename T>
void reserve_for_burst(std::vector<T>& v, uint8_t wanted_log2 = 0) {
  if (v.capacity() != 0) return;
  const size_t wanted = size_t{1} << wanted_log2;
  v = VectorCache<T>::take(wanted);
  if (v.capacity() < wanted) v.reserve(wanted);
}

}  // namespace weir::tcp
