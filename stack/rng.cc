#include "stack/rng.h"

#include <sys/random.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <random>

namespace weir {

namespace {

// splitmix64 (Steele, Lea, Flood): spreads one seed into well-mixed state words, and never
// yields the all-zero state xoshiro cannot leave.
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool all_zero(const std::array<uint64_t, 4>& s) {
  return std::all_of(s.begin(), s.end(), [](uint64_t w) { return w == 0; });
}

}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& w : s_) w = splitmix64(seed);
}

namespace {
// Fills out from getrandom(2); false if the kernel refused (old kernel, a seccomp filter).
bool fill_from_os(MutableByteView out) {
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = getrandom(out.data() + got, out.size() - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      return false;
    }
  }
  return true;
}
}  // namespace

SipKey SipKey::from_os() {
  std::array<std::byte, 16> bytes{};
  SipKey key;
  if (fill_from_os(bytes)) {
    std::memcpy(&key.k0, bytes.data(), 8);
    std::memcpy(&key.k1, bytes.data() + 8, 8);
  } else {
    std::random_device rd;
    key.k0 = (uint64_t{rd()} << 32) | rd();
    key.k1 = (uint64_t{rd()} << 32) | rd();
  }
  return key;
}

SipKey SipKey::derive(uint64_t domain) const {
  std::array<std::byte, 9> input{};
  std::memcpy(input.data(), &domain, 8);
  input[8] = std::byte{0};
  const uint64_t k0 = siphash24(*this, input);
  input[8] = std::byte{1};
  const uint64_t k1 = siphash24(*this, input);
  return SipKey{k0, k1};
}

Rng Rng::from_entropy() {
  std::array<std::byte, 32> seed{};
  const bool got = fill_from_os(seed);
  Rng rng(0);
  if (got) {
    std::memcpy(rng.s_.data(), seed.data(), seed.size());
  } else {
    // No getrandom (old kernel, seccomp): the library's own entropy source, run through
    // splitmix64 like an explicit seed.
    std::random_device rd;
    uint64_t x = (uint64_t{rd()} << 32) ^ rd();
    for (auto& w : rng.s_) w = splitmix64(x) ^ ((uint64_t{rd()} << 32) | rd());
  }
  if (all_zero(rng.s_)) rng = Rng(0);
  return rng;
}

// xoshiro256** (Blackman, Vigna).
uint64_t Rng::next_u64() {
  const uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = std::rotl(s_[3], 45);
  return result;
}

uint64_t Rng::uniform(uint64_t bound) {
  if (bound <= 1) return 0;
  // Lemire's multiply-shift: the high word of x * bound is uniform once the low word is out of
  // the short first stretch that would make some values one more likely than others.
  unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * bound;
  auto low = static_cast<uint64_t>(m);
  if (low < bound) {
    const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next_u64()) * bound;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

void Rng::fill(MutableByteView out) {
  size_t i = 0;
  while (i < out.size()) {
    const uint64_t w = next_u64();
    const size_t n = std::min(out.size() - i, sizeof w);
    std::memcpy(out.subspan(i, n).data(), &w, n);
    i += n;
  }
}

namespace {

struct SipState {
  uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }

  void compress(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

// SipHash reads message words little-endian whatever the host.
uint64_t load_le64(ByteView b, size_t off, size_t n) {
  uint64_t w = 0;
  for (size_t i = 0; i < n; ++i) w |= uint64_t{load_u8(b, off + i)} << (8 * i);
  return w;
}

}  // namespace

uint64_t siphash24(const SipKey& key, ByteView data) {
  SipState s{key.k0 ^ 0x736f6d6570736575ull, key.k1 ^ 0x646f72616e646f6dull,
             key.k0 ^ 0x6c7967656e657261ull, key.k1 ^ 0x7465646279746573ull};
  const size_t n = data.size();
  const size_t whole = n & ~size_t{7};
  for (size_t off = 0; off < whole; off += 8) {
    uint64_t m;
    std::memcpy(&m, data.subspan(off, 8).data(), 8);
    if constexpr (std::endian::native == std::endian::big) m = load_le64(data, off, 8);
    s.compress(m);
  }
  const uint64_t last = (uint64_t{n & 0xff} << 56) | load_le64(data, whole, n - whole);
  s.compress(last);
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace weir
