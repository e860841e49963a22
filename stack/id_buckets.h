// IdBuckets: the per-destination identification counters behind IPv4's IP ID and IPv6's
// fragment ID (Linux's ip_idents): a flow hashes to one of N buckets, and each bucket starts
// at a value an off-path observer cannot guess, so one flow's IDs say nothing about another's.
//
// Linux fills its table with random bytes up front. Here a bucket is seeded the first time a
// flow uses it, from a keyed hash of its index, and the table itself is allocated on first
// use: building a stack draws nothing and allocates nothing for IDs (a stack that never
// fragments or sends IPv4 pays nothing; fuzzers build thousands of stacks a second).
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "stack/bytes.h"
#include "stack/rng.h"

namespace weir {

template <typename T, size_t N>
class IdBuckets {
 public:
  explicit IdBuckets(const SipKey& key) : key_(key) {}

  // The counter of bucket `hash % N`, seeded on first use.
  T& bucket(uint64_t hash) {
    if (!table_) table_ = std::make_unique<Table>();
    const size_t index = static_cast<size_t>(hash % N);
    if (!table_->seeded[index]) {
      std::array<std::byte, 4> name{};
      store_be32(name, 0, static_cast<uint32_t>(index));
      table_->value[index] = static_cast<T>(siphash24(key_, name));
      table_->seeded.set(index);
    }
    return table_->value[index];
  }

 private:
  struct Table {
    std::array<T, N> value{};
    std::bitset<N> seeded;
  };
  SipKey key_;
  std::unique_ptr<Table> table_;
};

}  // namespace weir
