#include "ipv4/reassembly.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stack/clock.h"
#include "stack/timer.h"

namespace weir::ipv4 {
namespace {

std::vector<std::byte> data(size_t n, uint8_t seed = 0) {
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = std::byte(static_cast<uint8_t>(seed + i * 13));
  return out;
}

class ReassemblyTest : public ::testing::Test {
 protected:
  ReassemblyTest() : timers_(clock_), r_(std::make_unique<Reassembler>(timers_, options())) {}

  static ReassemblyOptions options() { return {}; }
  void reset(ReassemblyOptions o) { r_ = std::make_unique<Reassembler>(timers_, o); }

  std::optional<Reassembled> add(uint32_t offset, size_t length, bool more, FragmentKey key = kKey,
                                 uint8_t header_tag = 0) {
    std::vector<std::byte> header(20, std::byte{header_tag});
    auto bytes = ByteView(payload_).subspan(offset, length);
    return r_->add(key, header, offset, more, PacketBuffer::from_bytes(bytes));
  }
  void advance(Duration d) {
    clock_.advance(d);
    timers_.run();
  }
  const ReassemblyCounters& c() const { return r_->counters(); }

  static constexpr FragmentKey kKey{Ipv4Address(10, 0, 0, 2), Ipv4Address(10, 0, 0, 1), 17, 7};

  ManualClock clock_;
  TimerWheel timers_;
  std::unique_ptr<Reassembler> r_;
  std::vector<std::byte> payload_ = data(70000, 3);
};

std::vector<std::byte> expected(const std::vector<std::byte>& p, size_t n) {
  return {p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n)};
}

TEST_F(ReassemblyTest, InOrder) {
  EXPECT_FALSE(add(0, 16, true));
  EXPECT_FALSE(add(16, 16, true));
  auto done = add(32, 5, false);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->payload.to_vector(), expected(payload_, 37));
  EXPECT_EQ(done->header.size(), 20u);
  EXPECT_EQ(r_->datagram_count(), 0u);
  EXPECT_EQ(r_->memory_used(), 0u);
  EXPECT_EQ(c().datagrams_reassembled, 1u);
}

TEST_F(ReassemblyTest, OutOfOrderAndReverse) {
  EXPECT_FALSE(add(32, 5, false));
  EXPECT_FALSE(add(0, 16, true));
  auto done = add(16, 16, true);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->payload.to_vector(), expected(payload_, 37));
}

TEST_F(ReassemblyTest, HeaderComesFromOffsetZeroFragment) {
  EXPECT_FALSE(add(8, 8, false, kKey, 0xbb));
  auto done = add(0, 8, true, kKey, 0xaa);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->header, std::vector<std::byte>(20, std::byte{0xaa}));
}

TEST_F(ReassemblyTest, ExactDuplicatesAreIgnored) {
  EXPECT_FALSE(add(0, 16, true));
  EXPECT_FALSE(add(0, 16, true));
  EXPECT_FALSE(add(32, 8, false));
  EXPECT_FALSE(add(32, 8, false));
  EXPECT_EQ(c().duplicates_ignored, 2u);
  auto done = add(16, 16, true);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->payload.to_vector(), expected(payload_, 40));
}

TEST_F(ReassemblyTest, OverlapDropsWholeDatagram) {
  EXPECT_FALSE(add(0, 16, true));
  EXPECT_FALSE(add(24, 8, false));
  EXPECT_FALSE(add(8, 16, true));  // overlaps [0,16)
  EXPECT_EQ(c().drop_overlap, 1u);
  EXPECT_EQ(r_->datagram_count(), 0u);
  EXPECT_EQ(r_->memory_used(), 0u);
  // What arrives next starts over; the datagram cannot complete from the old pieces.
  EXPECT_FALSE(add(16, 8, true));
  EXPECT_EQ(r_->datagram_count(), 1u);
}

TEST_F(ReassemblyTest, OverlapVariants) {
  // Same offset, different length.
  EXPECT_FALSE(add(0, 16, true));
  EXPECT_FALSE(add(0, 8, true));
  // Overlapping the next piece's start.
  EXPECT_FALSE(add(16, 16, true));
  EXPECT_FALSE(add(8, 16, true));
  // Contained inside.
  EXPECT_FALSE(add(0, 32, true));
  EXPECT_FALSE(add(8, 8, true));
  // Same range but the MF bit differs.
  EXPECT_FALSE(add(0, 16, true));
  EXPECT_FALSE(add(0, 16, false));
  EXPECT_EQ(c().drop_overlap, 4u);
  EXPECT_EQ(c().drop_inconsistent_end, 0u);
  EXPECT_EQ(r_->datagram_count(), 0u);
}

TEST_F(ReassemblyTest, FragmentLengthMustBeMultipleOfEight) {
  EXPECT_FALSE(add(0, 12, true));
  EXPECT_FALSE(add(0, 0, true));
  EXPECT_EQ(c().drop_bad_fragment_length, 2u);
  EXPECT_EQ(r_->datagram_count(), 0u);
}

TEST_F(ReassemblyTest, InconsistentEnds) {
  EXPECT_FALSE(add(0, 8, true));
  EXPECT_FALSE(add(16, 8, false));
  EXPECT_FALSE(add(24, 8, false));  // a second, different last fragment
  EXPECT_EQ(c().drop_inconsistent_end, 1u);

  EXPECT_FALSE(add(16, 8, false));
  EXPECT_FALSE(add(24, 8, true));  // past the known end
  EXPECT_EQ(c().drop_inconsistent_end, 2u);

  EXPECT_FALSE(add(32, 8, true));
  EXPECT_FALSE(add(0, 16, false));  // last fragment ends before data we already have
  EXPECT_EQ(c().drop_inconsistent_end, 3u);
  EXPECT_EQ(r_->datagram_count(), 0u);
}

TEST_F(ReassemblyTest, DatagramLongerThan65535IsDropped) {
  EXPECT_FALSE(add(0, 8, true));
  // 65512 + 8 = 65520 bytes of payload + 20 of header = 65540 > 65535.
  EXPECT_FALSE(add(65512, 8, false));
  EXPECT_EQ(c().drop_too_long, 1u);
  EXPECT_EQ(r_->datagram_count(), 0u);
  // The largest legal datagram: 65515 bytes of payload.
  for (uint32_t off = 0; off < 65120; off += 1480) EXPECT_FALSE(add(off, 1480, true));
  auto done = add(65120, 395, false);  // 44 x 1480 + 395 = 65515
  ASSERT_TRUE(done);
  EXPECT_EQ(done->payload.size(), 65515u);
}

TEST_F(ReassemblyTest, TimeoutDropsIncompleteDatagram) {
  EXPECT_FALSE(add(0, 8, true));
  advance(std::chrono::seconds(29));
  FragmentKey other = kKey;
  other.id = 8;
  EXPECT_FALSE(add(0, 8, true, other));
  advance(std::chrono::seconds(1));
  EXPECT_EQ(c().drop_timeout, 1u);
  EXPECT_EQ(r_->datagram_count(), 1u);
  EXPECT_FALSE(add(8, 8, false));  // the first datagram is gone: this starts a new one
  advance(std::chrono::seconds(29));
  EXPECT_EQ(c().drop_timeout, 2u);  // `other`, 30 s after its first fragment
  advance(std::chrono::seconds(1));
  EXPECT_EQ(c().drop_timeout, 3u);
  EXPECT_EQ(r_->datagram_count(), 0u);
  EXPECT_EQ(r_->memory_used(), 0u);
  EXPECT_EQ(timers_.armed_count(), 0u);
}

TEST_F(ReassemblyTest, TimeoutHandlerGetsFirstFragmentOnly) {
  std::vector<std::vector<std::byte>> reported;
  r_->set_timeout_handler([&](ByteView header, const PacketBuffer& first) {
    EXPECT_EQ(header.size(), 20u);
    reported.push_back(first.to_vector());
  });
  FragmentKey other = kKey;
  other.id = 99;
  EXPECT_FALSE(add(0, 16, true));
  EXPECT_FALSE(add(24, 8, false));
  EXPECT_FALSE(add(8, 8, true, other));  // no offset-0 fragment: nothing to quote
  advance(std::chrono::seconds(30));
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0], expected(payload_, 16));
  EXPECT_EQ(c().drop_timeout, 2u);
}

TEST_F(ReassemblyTest, MemoryCapDropsOldestDatagrams) {
  // A 1000-byte fragment is kept in the 2 KiB chunk it came in, and charged that chunk.
  const size_t pinned = PacketBuffer::from_bytes(ByteView(payload_).first(1000)).pinned_bytes();
  const size_t per_fragment = pinned + 20 + Reassembler::kFragmentOverhead;
  reset({.memory_limit = per_fragment * 3});
  FragmentKey a = kKey, b = kKey, c2 = kKey;
  b.id = 100;
  c2.id = 101;
  EXPECT_FALSE(add(0, 1000, true, a));
  EXPECT_FALSE(add(1000, 1000, true, a));
  EXPECT_FALSE(add(0, 1000, true, b));
  EXPECT_EQ(r_->memory_used(), per_fragment * 3);
  EXPECT_FALSE(add(0, 1000, true, c2));  // evicts a (the oldest, two fragments)
  EXPECT_EQ(c().drop_memory_limit, 1u);
  EXPECT_EQ(c().fragments_dropped, 2u);
  EXPECT_EQ(r_->datagram_count(), 2u);
  EXPECT_EQ(r_->memory_used(), per_fragment * 2);
  // b is still there and completes.
  EXPECT_TRUE(add(1000, 8, false, b));
}

// A hostile peer's tiny fragments each arrive in a frame-sized chunk: they are copied into
// small chunks, and every fragment is charged what it then pins, so the budget bounds memory.
TEST_F(ReassemblyTest, TinyFragmentsInLargeFramesAreChargedWhatTheyPin) {
  const std::vector<std::byte> header(20, std::byte{0});
  for (uint16_t id = 0; id < 1000; ++id) {
    PacketBuffer frame = PacketBuffer::from_bytes(ByteView(payload_).first(1480));  // 2 KiB chunk
    FragmentKey key = kKey;
    key.id = id;
    ASSERT_FALSE(r_->add(key, header, 0, true, frame.slice(0, 8)));
  }
  const size_t small_chunk = PacketBuffer::allocate(8, 0).pinned_bytes();
  EXPECT_LT(small_chunk, 1024u);
  EXPECT_EQ(r_->memory_used(), 1000 * (small_chunk + 20 + Reassembler::kFragmentOverhead));
  // A full-sized fragment is kept where it arrived (no copy) and charged its chunk.
  PacketBuffer frame = PacketBuffer::from_bytes(ByteView(payload_).first(1480));
  const size_t chunk = frame.pinned_bytes();
  const size_t before = r_->memory_used();
  FragmentKey key = kKey;
  key.id = 5000;
  ASSERT_FALSE(r_->add(key, header, 0, true, frame.slice(0, 1480)));
  EXPECT_EQ(r_->memory_used() - before, chunk + 20 + Reassembler::kFragmentOverhead);
}

TEST_F(ReassemblyTest, FragmentLargerThanCapIsRefused) {
  reset({.memory_limit = 500});
  EXPECT_FALSE(add(0, 1000, true));
  EXPECT_EQ(c().drop_memory_limit, 1u);
  EXPECT_EQ(r_->datagram_count(), 0u);
}

TEST_F(ReassemblyTest, TooManyFragments) {
  reset({.max_fragments = 4});
  for (uint32_t i = 0; i < 4; ++i) EXPECT_FALSE(add(i * 8, 8, true));
  EXPECT_FALSE(add(32, 8, false));
  EXPECT_EQ(c().drop_too_many_fragments, 1u);
  EXPECT_EQ(r_->datagram_count(), 0u);
}

TEST_F(ReassemblyTest, KeysAreIndependent) {
  FragmentKey other_src = kKey;
  other_src.source = Ipv4Address(10, 0, 0, 9);
  FragmentKey other_proto = kKey;
  other_proto.protocol = 6;
  EXPECT_FALSE(add(0, 8, true));
  EXPECT_FALSE(add(0, 8, true, other_src));
  EXPECT_FALSE(add(0, 8, true, other_proto));
  EXPECT_EQ(r_->datagram_count(), 3u);
  EXPECT_TRUE(add(8, 4, false, other_proto));
  EXPECT_EQ(r_->datagram_count(), 2u);
}

TEST_F(ReassemblyTest, ZeroLengthLastFragment) {
  EXPECT_FALSE(add(0, 8, true));
  auto done = add(8, 0, false);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->payload.size(), 8u);
  // A zero-length last fragment at another fragment's offset overlaps it.
  EXPECT_FALSE(add(8, 8, true));
  EXPECT_FALSE(add(8, 0, false));
  EXPECT_EQ(c().drop_inconsistent_end + c().drop_overlap, 1u);
}

}  // namespace
}  // namespace weir::ipv4
