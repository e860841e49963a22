#include "stack/checksum.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "stack/packet_buffer.h"
#include "tests/testing/testing.h"

namespace weir {
namespace {

using weir::testing::bytes_of;

// The textbook definition: big-endian 16-bit words, a trailing byte padded with zero, carries
// folded at the end.
uint16_t reference_sum(ByteView data) {
  uint64_t sum = 0;
  for (size_t i = 0; i < data.size(); i += 2) {
    uint32_t hi = std::to_integer<uint32_t>(data[i]);
    uint32_t lo = i + 1 < data.size() ? std::to_integer<uint32_t>(data[i + 1]) : 0;
    sum += (hi << 8) | lo;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

std::vector<std::byte> random_bytes(std::mt19937& gen, size_t n) {
  std::vector<std::byte> v(n);
  for (auto& b : v) b = std::byte(static_cast<uint8_t>(gen()));
  return v;
}

TEST(ChecksumTest, Rfc1071Example) {
  // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
  auto data = bytes_of({0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7});
  ChecksumAccumulator acc;
  acc.add(data);
  EXPECT_EQ(acc.fold(), 0xddf2);
  EXPECT_EQ(acc.finish(), 0x220d);
  EXPECT_EQ(internet_checksum(data), 0x220d);
}

TEST(ChecksumTest, Ipv4HeaderVector) {
  // A captured IPv4 header whose checksum field holds b861.
  auto hdr = bytes_of({0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
                       0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7});
  EXPECT_EQ(internet_checksum(hdr), 0xb861);
  hdr[10] = std::byte{0xb8};
  hdr[11] = std::byte{0x61};
  // A header with a correct checksum sums to all ones.
  EXPECT_EQ(internet_checksum(hdr), 0);
}

TEST(ChecksumTest, EmptyAndTiny) {
  EXPECT_EQ(internet_checksum({}), 0xffff);
  EXPECT_EQ(internet_checksum(bytes_of({0x12})), static_cast<uint16_t>(~0x1200));
  EXPECT_EQ(internet_checksum(bytes_of({0x12, 0x34})), static_cast<uint16_t>(~0x1234));
  EXPECT_EQ(internet_checksum(bytes_of({0x12, 0x34, 0x56})),
            static_cast<uint16_t>(~(0x1234 + 0x5600)));
}

TEST(ChecksumTest, AllOnesCarries) {
  // Every word ffff: the 64-bit end-around carry must keep the sum at ffff.
  for (size_t n : {2u, 8u, 64u, 1000u, 65536u}) {
    std::vector<std::byte> data(n, std::byte{0xff});
    EXPECT_EQ(reference_sum(data), 0xffff);
    ChecksumAccumulator acc;
    acc.add(data);
    EXPECT_EQ(acc.fold(), 0xffff) << n;
  }
}

TEST(ChecksumTest, MatchesReferenceForAllLengthsAndAlignments) {
  std::mt19937 gen(42);
  auto buf = random_bytes(gen, 4200);
  for (size_t len = 0; len <= 300; ++len) {
    for (size_t off = 0; off < 9; ++off) {
      ByteView view = ByteView(buf).subspan(off, len);
      ChecksumAccumulator acc;
      acc.add(view);
      ASSERT_EQ(acc.fold(), reference_sum(view)) << "len " << len << " off " << off;
    }
  }
  for (int i = 0; i < 500; ++i) {
    size_t off = gen() % 64;
    size_t len = gen() % (buf.size() - off);
    ByteView view = ByteView(buf).subspan(off, len);
    ASSERT_EQ(internet_checksum(view), static_cast<uint16_t>(~reference_sum(view)));
  }
}

// Long runs take the vector path where the CPU has one (128 bytes and up): lengths around its
// threshold and its 16- and 64-byte steps, up to a 64 KiB GSO payload, at every offset within a
// vector, in random and all-ones bytes (the largest lane sums).
TEST(ChecksumTest, LongRunsMatchReferenceAroundTheVectorSteps) {
  std::mt19937 gen(99);
  const auto random = random_bytes(gen, 65536 + 64);
  const std::vector<std::byte> ones(65536 + 64, std::byte{0xff});
  for (const auto* buf : {&random, &ones}) {
    for (size_t len : {127u, 128u, 129u, 143u, 144u, 191u, 192u, 193u, 1448u, 1460u, 9000u,
                       65535u, 65536u}) {
      for (size_t off = 0; off < 18; ++off) {
        ByteView view = ByteView(*buf).subspan(off, len);
        ChecksumAccumulator acc;
        acc.add(view);
        ASSERT_EQ(acc.fold(), reference_sum(view)) << "len " << len << " off " << off;
      }
    }
  }
}

TEST(ChecksumTest, SplitsAtAnyBoundaryGiveTheSameSum) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 2000; ++trial) {
    auto data = random_bytes(gen, gen() % 600);
    ChecksumAccumulator acc;
    size_t pos = 0;
    while (pos < data.size()) {
      size_t piece = std::min<size_t>(data.size() - pos, gen() % 40);
      acc.add(ByteView(data).subspan(pos, piece));
      pos += piece;
    }
    ASSERT_EQ(acc.fold(), reference_sum(data)) << "trial " << trial;
  }
}

TEST(ChecksumTest, OddPieceThenWordIsLowByte) {
  // 0x12 | 0x34 0x56: the 0x34 completes the word 1234 begun in the first piece.
  ChecksumAccumulator acc;
  acc.add(bytes_of({0x12}));
  acc.add(bytes_of({0x34, 0x56}));
  EXPECT_EQ(acc.fold(), 0x1234 + 0x5600);
}

TEST(ChecksumTest, AddWords) {
  ChecksumAccumulator acc;
  acc.add_u16(0xffff);
  acc.add_u16(0x0001);
  EXPECT_EQ(acc.fold(), 0x0001);
  ChecksumAccumulator b;
  b.add_u32(0x12345678);
  EXPECT_EQ(b.fold(), 0x1234 + 0x5678);
  // Words do not disturb the byte stream position.
  ChecksumAccumulator c;
  c.add(bytes_of({0xab}));
  c.add_u16(0x0102);
  c.add(bytes_of({0xcd}));
  EXPECT_EQ(c.fold(), reference_sum(bytes_of({0xab, 0xcd, 0x01, 0x02})));
}

TEST(ChecksumTest, ManyAddsDoNotOverflow) {
  ChecksumAccumulator acc;
  uint64_t expect = 0;
  for (int i = 0; i < 1000000; ++i) {
    acc.add_u32(0xffffffff);
    expect += 0x1fffe;
  }
  while (expect >> 16) expect = (expect & 0xffff) + (expect >> 16);
  EXPECT_EQ(acc.fold(), expect);
}

TEST(ChecksumTest, PacketBufferAcrossSlicesAndOffsets) {
  std::mt19937 gen(99);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<std::byte> all;
    PacketBuffer p;
    int pieces = 1 + static_cast<int>(gen() % 5);
    for (int i = 0; i < pieces; ++i) {
      auto piece = random_bytes(gen, gen() % 100);
      all.insert(all.end(), piece.begin(), piece.end());
      p.append(PacketBuffer::from_bytes(piece, 0));
    }
    size_t offset = all.empty() ? 0 : gen() % (all.size() + 1);
    ChecksumAccumulator acc;
    acc.add(p, offset);
    ASSERT_EQ(acc.fold(), reference_sum(ByteView(all).subspan(offset))) << trial;
  }
}

TEST(ChecksumTest, PseudoHeaderV4) {
  auto src = *IpAddress::parse("192.168.0.1");
  auto dst = *IpAddress::parse("10.1.2.3");
  // src, dst, 0, protocol, 16-bit length.
  auto ph = bytes_of({192, 168, 0, 1, 10, 1, 2, 3, 0, 17, 0x01, 0x2c});
  EXPECT_EQ(pseudo_header_sum(src, dst, 17, 300), reference_sum(ph));
}

TEST(ChecksumTest, PseudoHeaderV6) {
  auto src = *IpAddress::parse("fe80::1");
  auto dst = *IpAddress::parse("2001:db8::ff:1234");
  std::vector<std::byte> ph;
  auto s = src.bytes();
  auto d = dst.bytes();
  ph.insert(ph.end(), s.begin(), s.end());
  ph.insert(ph.end(), d.begin(), d.end());
  // 32-bit length, three zero bytes, next header.
  auto tail = bytes_of({0x00, 0x01, 0x00, 0x10, 0, 0, 0, 58});
  ph.insert(ph.end(), tail.begin(), tail.end());
  EXPECT_EQ(pseudo_header_sum(src, dst, 58, 0x10010), reference_sum(ph));
}

// The pseudo-header sum adds addresses as 32-bit words; against the byte-wise reference over
// the pseudo header as RFC 793 and RFC 8200 lay it out, for random addresses of both families
// (all-ones addresses included: the sums whose folding carries most).
TEST(ChecksumTest, PseudoHeaderMatchesReferenceForRandomAddresses) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 2000; ++trial) {
    const bool v6 = trial % 2 == 1;
    auto address = [&] {
      if (!v6) {
        return IpAddress(Ipv4Address(trial < 8 ? 0xffffffffu : static_cast<uint32_t>(gen())));
      }
      std::array<uint8_t, 16> raw{};
      for (auto& b : raw) b = trial < 8 ? 0xff : static_cast<uint8_t>(gen());
      return IpAddress(Ipv6Address(raw));
    };
    const IpAddress src = address();
    const IpAddress dst = address();
    const auto protocol = static_cast<uint8_t>(gen());
    const uint32_t length = v6 ? static_cast<uint32_t>(gen()) : static_cast<uint16_t>(gen());
    std::vector<std::byte> ph;
    for (ByteView b : {src.bytes(), dst.bytes()}) ph.insert(ph.end(), b.begin(), b.end());
    std::vector<std::byte> tail(v6 ? 8 : 4);
    if (v6) {
      store_be32(tail, 0, length);
      tail[7] = std::byte{protocol};
    } else {
      tail[1] = std::byte{protocol};
      store_be16(tail, 2, static_cast<uint16_t>(length));
    }
    ph.insert(ph.end(), tail.begin(), tail.end());
    ASSERT_EQ(pseudo_header_sum(src, dst, protocol, length), reference_sum(ph)) << trial;
  }
}

TEST(ChecksumTest, UdpDatagramVerifiesToZero) {
  // Build a UDP datagram, fill its checksum from pseudo header + bytes, verify it sums to ffff.
  auto src = *IpAddress::parse("10.0.0.1");
  auto dst = *IpAddress::parse("10.0.0.2");
  auto udp = bytes_of({0x30, 0x39, 0x00, 0x35, 0x00, 0x0b, 0x00, 0x00, 'a', 'b', 'c'});
  ChecksumAccumulator acc;
  acc.add_u16(pseudo_header_sum(src, dst, 17, static_cast<uint32_t>(udp.size())));
  acc.add(udp);
  uint16_t c = acc.finish();
  store_be16(udp, 6, c);
  ChecksumAccumulator check;
  check.add_u16(pseudo_header_sum(src, dst, 17, static_cast<uint32_t>(udp.size())));
  check.add(udp);
  EXPECT_EQ(check.fold(), 0xffff);
}

TEST(ChecksumTest, IncrementalUpdateMatchesRecompute) {
  std::mt19937 gen(5);
  for (int trial = 0; trial < 5000; ++trial) {
    auto data = random_bytes(gen, 2 * (2 + gen() % 30));
    // Reserve word 0 for the checksum field.
    store_be16(data, 0, 0);
    store_be16(data, 0, internet_checksum(data));
    size_t word = 1 + gen() % (data.size() / 2 - 1);
    uint16_t old_word = load_be16(data, word * 2);
    uint16_t new_word = trial % 10 == 0 ? static_cast<uint16_t>(~old_word)
                                        : static_cast<uint16_t>(gen());
    uint16_t updated = checksum_update16(load_be16(data, 0), old_word, new_word);
    store_be16(data, word * 2, new_word);
    store_be16(data, 0, 0);
    ASSERT_EQ(updated, internet_checksum(data)) << trial;
  }
}

TEST(ChecksumTest, IncrementalUpdate32MatchesRecompute) {
  std::mt19937 gen(6);
  for (int trial = 0; trial < 5000; ++trial) {
    auto data = random_bytes(gen, 4 * (2 + gen() % 10));
    store_be16(data, 0, 0);
    store_be16(data, 2, 0);
    store_be16(data, 0, internet_checksum(data));
    size_t word = 1 + gen() % (data.size() / 4 - 1);
    uint32_t old_word = load_be32(data, word * 4);
    uint32_t new_word = static_cast<uint32_t>(gen());
    uint16_t updated = checksum_update32(load_be16(data, 0), old_word, new_word);
    store_be32(data, word * 4, new_word);
    store_be16(data, 0, 0);
    ASSERT_EQ(updated, internet_checksum(data)) << trial;
  }
}

TEST(ChecksumTest, Rfc1624Example) {
  // RFC 1624 section 4: HC = dd2f, m = 5555 -> m' = 3285 gives HC' = 0000 by eqn. 3.
  EXPECT_EQ(checksum_update16(0xdd2f, 0x5555, 0x3285), 0x0000);
}

}  // namespace
}  // namespace weir
