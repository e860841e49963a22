// A record of a fuzz input (one packet of several in the input) copied into storage reused by
// every record, with AddressSanitizer told that only the record's bytes are there: a parser
// that reads one byte past the record is caught as it would be in a heap copy of the record's
// exact size, without allocating one per record (under ASan an allocation costs 1-4 us: the
// allocator, its stack trace, the quarantine; a target that handles a dozen records per input
// spent a fifth of its time there).
//
// The record ends where the storage does, right before a granule that is always poisoned, so
// an overread is caught at its first byte. Before the record, ASan's 8-byte granules allow up
// to 7 bytes of slop. Without ASan this is a plain buffer.
#pragma once

#include <sanitizer/asan_interface.h>

#include <algorithm>
#include <array>
#include <cstddef>

#include "stack/bytes.h"

namespace weir::fuzzing {

template <size_t kCapacity>
class ExactBytes {
  static_assert(kCapacity % 8 == 0, "the guard after the record must start a granule");

 public:
  ExactBytes() { ASAN_POISON_MEMORY_REGION(storage_.data(), storage_.size()); }
  ~ExactBytes() { ASAN_UNPOISON_MEMORY_REGION(storage_.data(), storage_.size()); }
  ExactBytes(const ExactBytes&) = delete;
  ExactBytes& operator=(const ExactBytes&) = delete;

  // The first kCapacity bytes of `bytes`, as the only addressable bytes of the storage; valid
  // until the next assign().
  MutableByteView assign(ByteView bytes) {
    const size_t n = std::min(bytes.size(), kCapacity);
    ASAN_POISON_MEMORY_REGION(storage_.data(), kCapacity);
    std::byte* at = storage_.data() + (kCapacity - n);
    ASAN_UNPOISON_MEMORY_REGION(at, n);
    std::copy_n(bytes.begin(), n, at);
    return {at, n};
  }

 private:
  alignas(8) std::array<std::byte, kCapacity + 8> storage_{};
};

}  // namespace weir::fuzzing
