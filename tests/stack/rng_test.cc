#include "stack/rng.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <set>
#include <vector>

namespace weir {
namespace {

TEST(RngTest, KnownSequenceForSeed) {
  // xoshiro256** seeded by four splitmix64 outputs of seed 1, computed independently.
  Rng rng(1);
  EXPECT_EQ(rng.next_u64(), 0xb3f2af6d0fc710c5ull);
  EXPECT_EQ(rng.next_u64(), 0x853b559647364ceaull);
  EXPECT_EQ(rng.next_u64(), 0x92f89756082a4514ull);
  EXPECT_EQ(rng.next_u64(), 0x642e1c7bc266a3a7ull);
}

TEST(RngTest, SameSeedSameStream) {
  Rng a(12345);
  Rng b(12345);
  Rng c(12346);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= x != c.next_u64();
  }
  EXPECT_TRUE(differs);
}

TEST(RngTest, ZeroSeedIsUsable) {
  Rng rng(0);
  std::set<uint64_t> seen;
  for (int i = 0; i < 100; ++i) seen.insert(rng.next_u64());
  EXPECT_EQ(seen.size(), 100u);
}

TEST(RngTest, FromEntropyDiffers) {
  Rng a = Rng::from_entropy();
  Rng b = Rng::from_entropy();
  EXPECT_NE(a.next_u64(), b.next_u64());
}

TEST(RngTest, UniformStaysInBound) {
  Rng rng(9);
  EXPECT_EQ(rng.uniform(1), 0u);
  for (uint64_t bound : {2ull, 3ull, 7ull, 1000ull, (1ull << 63) + 1, ~0ull}) {
    for (int i = 0; i < 2000; ++i) ASSERT_LT(rng.uniform(bound), bound);
  }
}

TEST(RngTest, UniformIsUnbiased) {
  // Chi-square over 6 buckets with a fixed seed: deterministic, and far below the 0.1% critical
  // value (20.5 for 5 degrees of freedom) for an unbiased generator.
  Rng rng(2024);
  constexpr int kBuckets = 6;
  constexpr int kDraws = 60000;
  std::array<int, kBuckets> counts{};
  for (int i = 0; i < kDraws; ++i) ++counts[rng.uniform(kBuckets)];
  double expected = double(kDraws) / kBuckets;
  double chi2 = 0;
  for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 20.5);
  // A bound just above 2^63: plain modulo would put two thirds of draws in the lower half.
  uint64_t big = (1ull << 63) + (1ull << 62);
  int low = 0;
  for (int i = 0; i < 30000; ++i) low += rng.uniform(big) < big / 2;
  EXPECT_NEAR(low, 15000, 600);
}

TEST(RngTest, DoubleAndChance) {
  Rng rng(5);
  for (int i = 0; i < 10000; ++i) {
    double d = rng.next_double();
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
  }
  EXPECT_FALSE(rng.chance(0.0));
  EXPECT_TRUE(rng.chance(1.0));
  int hits = 0;
  for (int i = 0; i < 10000; ++i) hits += rng.chance(0.25);
  EXPECT_NEAR(hits, 2500, 250);
}

TEST(RngTest, FillAnyLength) {
  for (size_t n : {0u, 1u, 7u, 8u, 9u, 31u, 1000u}) {
    Rng a(77);
    std::vector<std::byte> buf(n + 2, std::byte{0x5a});
    a.fill(MutableByteView(buf).subspan(1, n));
    EXPECT_EQ(buf.front(), std::byte{0x5a});
    EXPECT_EQ(buf.back(), std::byte{0x5a});
    if (n >= 32) {
      std::set<std::byte> distinct(buf.begin() + 1, buf.end() - 1);
      EXPECT_GT(distinct.size(), 8u);
    }
  }
  // The first 8 bytes are the first word.
  Rng a(3);
  Rng b(3);
  std::array<std::byte, 8> out{};
  a.fill(out);
  uint64_t w = b.next_u64();
  uint64_t got;
  std::memcpy(&got, out.data(), 8);
  EXPECT_EQ(got, w);
}

// The reference implementation's vectors: key 00 01 .. 0f, message 00 01 .. (i-1).
constexpr uint64_t kSipVectors[64] = {
    0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull, 0x85676696d7fb7e2dull,
    0xcf2794e0277187b7ull, 0x18765564cd99a68dull, 0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull,
    0x93f5f5799a932462ull, 0x9e0082df0ba9e4b0ull, 0x7a5dbbc594ddb9f3ull, 0xf4b32f46226bada7ull,
    0x751e8fbc860ee5fbull, 0x14ea5627c0843d90ull, 0xf723ca908e7af2eeull, 0xa129ca6149be45e5ull,
    0x3f2acc7f57c29bdbull, 0x699ae9f52cbe4794ull, 0x4bc1b3f0968dd39cull, 0xbb6dc91da77961bdull,
    0xbed65cf21aa2ee98ull, 0xd0f2cbb02e3b67c7ull, 0x93536795e3a33e88ull, 0xa80c038ccd5ccec8ull,
    0xb8ad50c6f649af94ull, 0xbce192de8a85b8eaull, 0x17d835b85bbb15f3ull, 0x2f2e6163076bcfadull,
    0xde4daaaca71dc9a5ull, 0xa6a2506687956571ull, 0xad87a3535c49ef28ull, 0x32d892fad841c342ull,
    0x7127512f72f27cceull, 0xa7f32346f95978e3ull, 0x12e0b01abb051238ull, 0x15e034d40fa197aeull,
    0x314dffbe0815a3b4ull, 0x027990f029623981ull, 0xcadcd4e59ef40c4dull, 0x9abfd8766a33735cull,
    0x0e3ea96b5304a7d0ull, 0xad0c42d6fc585992ull, 0x187306c89bc215a9ull, 0xd4a60abcf3792b95ull,
    0xf935451de4f21df2ull, 0xa9538f0419755787ull, 0xdb9acddff56ca510ull, 0xd06c98cd5c0975ebull,
    0xe612a3cb9ecba951ull, 0xc766e62cfcadaf96ull, 0xee64435a9752fe72ull, 0xa192d576b245165aull,
    0x0a8787bf8ecb74b2ull, 0x81b3e73d20b49b6full, 0x7fa8220ba3b2eceaull, 0x245731c13ca42499ull,
    0xb78dbfaf3a8d83bdull, 0xea1ad565322a1a0bull, 0x60e61c23a3795013ull, 0x6606d7e446282b93ull,
    0x6ca4ecb15c5f91e1ull, 0x9f626da15c9625f3ull, 0xe51b38608ef25f57ull, 0x958a324ceb064572ull,
};

TEST(SipHashTest, ReferenceVectors) {
  const SipKey key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  std::array<std::byte, 64> msg{};
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = std::byte(static_cast<uint8_t>(i));
  for (size_t len = 0; len < 64; ++len) {
    EXPECT_EQ(siphash24(key, ByteView(msg).first(len)), kSipVectors[len]) << "length " << len;
  }
}

TEST(SipHashTest, KeyAndMessageMatter) {
  std::array<std::byte, 12> msg{};
  SipKey a{1, 2};
  SipKey b{1, 3};
  uint64_t h = siphash24(a, msg);
  EXPECT_NE(h, siphash24(b, msg));
  msg[11] = std::byte{1};
  EXPECT_NE(h, siphash24(a, msg));
  // Same bytes from an unaligned start give the same hash.
  std::array<std::byte, 13> shifted{};
  std::copy(msg.begin(), msg.end(), shifted.begin() + 1);
  EXPECT_EQ(siphash24(a, msg), siphash24(a, ByteView(shifted).subspan(1)));
}

}  // namespace
}  // namespace weir
