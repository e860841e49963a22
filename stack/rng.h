// A seeded pseudo-random generator (xoshiro256**). Every wire-visible random choice in the stack
// (IP IDs, NDP/MLD delays, fault links) comes from an injected Rng so tests are repeatable.
// Not cryptographic: anyone who sees enough of its outputs can compute its state, forwards and
// backwards. So the secrets that must resist prediction (the keys behind ISNs, SYN cookies and
// ephemeral ports) never come from it: they are a SipKey drawn from the kernel's CSPRNG
// (SipKey::from_os) or injected by a test.
#pragma once

#include <array>
#include <cstdint>

#include "stack/bytes.h"

namespace weir {

class Rng {
 public:
  explicit Rng(uint64_t seed);
  static Rng from_entropy();

  uint64_t next_u64();
  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }
  // Uniform in [0, bound). bound must be > 0.
  uint64_t uniform(uint64_t bound);
  // Uniform in [0, 1).
  double next_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  bool chance(double probability) { return next_double() < probability; }
  void fill(MutableByteView out);

 private:
  std::array<uint64_t, 4> s_{};
};

// SipHash-2-4 with a 128-bit key: the keyed hash behind ISNs (RFC 6528), SYN cookies and the
// demux's flood-resistant hashing.
struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
  // 128 bits from getrandom(2); std::random_device only where the kernel refuses it.
  static SipKey from_os();
  // A key of its own for one use (`domain`), so the outputs of one keyed hash say nothing
  // about another's key.
  SipKey derive(uint64_t domain) const;
  bool operator==(const SipKey&) const = default;
};
uint64_t siphash24(const SipKey& key, ByteView data);

}  // namespace weir
