// The TCP building blocks on their own: receive and send queues, ISNs, SYN cookies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>

#include "stack/memory_budget.h"
#include "tcp/isn.h"
#include "tcp/receive_queue.h"
#include "tcp/send_queue.h"
#include "tcp/syn_cookies.h"

namespace weir::tcp {
namespace {

PacketBuffer data_of(std::string_view s) { return PacketBuffer::from_bytes(as_bytes(s), 0); }

std::string read_all(ReceiveQueue& q) {
  std::vector<std::byte> buf(q.readable());
  q.read(buf);
  std::string out;
  for (std::byte b : buf) out.push_back(static_cast<char>(b));
  return out;
}

TEST(TcpReceiveQueue, InOrderAndReassembly) {
  ReceiveQueue q;
  SeqNum nxt(100);
  auto r = q.add(nxt, SeqNum(100), data_of("abc"));
  EXPECT_EQ(r.advanced, 3u);
  nxt += 3;
  r = q.add(nxt, SeqNum(106), data_of("ghi"));
  EXPECT_TRUE(r.out_of_order);
  EXPECT_EQ(q.out_of_order_bytes(), 3u);
  // Overlaps both neighbours: only the gap is kept.
  r = q.add(nxt, SeqNum(104), data_of("efgh"));
  EXPECT_EQ(q.out_of_order_bytes(), 5u);
  r = q.add(nxt, SeqNum(103), data_of("d"));
  EXPECT_EQ(r.advanced, 6u);
  EXPECT_TRUE(r.filled_gap);
  EXPECT_EQ(q.out_of_order_bytes(), 0u);
  EXPECT_EQ(read_all(q), "abcdefghi");
}

TEST(TcpReceiveQueue, HoldsStorageOnlyWhileItHoldsData) {
  ReceiveQueue q;
  EXPECT_FALSE(q.holds_storage());
  SeqNum nxt(100);
  // Out of order only: the gap keeps the contents.
  EXPECT_TRUE(q.add(nxt, SeqNum(105), data_of("fgh")).out_of_order);
  EXPECT_TRUE(q.holds_storage());
  EXPECT_EQ(q.add(nxt, SeqNum(100), data_of("abcde")).advanced, 8u);
  std::array<std::byte, 4> buf{};
  EXPECT_EQ(q.read(buf), 4u);
  EXPECT_TRUE(q.holds_storage());  // "efgh" still readable
  EXPECT_EQ(read_all(q), "efgh");
  EXPECT_FALSE(q.holds_storage());
  EXPECT_EQ(q.charged(), 0u);
  // Taken again by the next data, given back by clear().
  EXPECT_EQ(q.add(SeqNum(108), SeqNum(108), data_of("ij")).advanced, 2u);
  EXPECT_EQ(q.readable(), 2u);
  q.clear();
  EXPECT_FALSE(q.holds_storage());
  EXPECT_EQ(q.readable(), 0u);
  // A duplicate is remembered for the D-SACK without taking storage.
  q.note_duplicate(SeqRange{SeqNum(100), SeqNum(104)});
  std::array<SeqRange, 4> blocks{};
  EXPECT_EQ(q.take_sack_blocks(SeqNum(110), blocks), 1u);
  EXPECT_FALSE(q.holds_storage());
}

TEST(TcpReceiveQueue, SackBlocksMostRecentFirstAndCoalesced) {
  ReceiveQueue q;
  SeqNum nxt(0);
  q.add(nxt, SeqNum(10), data_of("xx"));
  q.add(nxt, SeqNum(20), data_of("yy"));
  q.add(nxt, SeqNum(12), data_of("zz"));  // joins the first block
  std::array<SeqRange, 4> out{};
  size_t n = q.take_sack_blocks(nxt, out);
  ASSERT_EQ(n, 2u);
  EXPECT_EQ(out[0], (SeqRange{SeqNum(10), SeqNum(14)}));
  EXPECT_EQ(out[1], (SeqRange{SeqNum(20), SeqNum(22)}));
}

TEST(TcpReceiveQueue, DuplicateOutOfOrderIsDsack) {
  ReceiveQueue q;
  SeqNum nxt(0);
  q.add(nxt, SeqNum(10), data_of("abcd"));
  q.add(nxt, SeqNum(11), data_of("bc"));
  EXPECT_TRUE(q.dsack_pending());
  std::array<SeqRange, 4> out{};
  size_t n = q.take_sack_blocks(nxt, out);
  ASSERT_EQ(n, 2u);
  EXPECT_EQ(out[0], (SeqRange{SeqNum(11), SeqNum(13)}));  // D-SACK first
  EXPECT_EQ(out[1], (SeqRange{SeqNum(10), SeqNum(14)}));
  EXPECT_FALSE(q.dsack_pending());
}

TEST(TcpReceiveQueue, PeekDoesNotConsume) {
  ReceiveQueue q;
  q.add(SeqNum(0), SeqNum(0), data_of("hello"));
  std::vector<std::byte> buf(3);
  EXPECT_EQ(q.peek(buf), 3u);
  EXPECT_EQ(q.readable(), 5u);
  EXPECT_EQ(q.discard(2), 2u);
  EXPECT_EQ(read_all(q), "llo");
}

TEST(TcpSendQueue, AppendSliceConsume) {
  SendQueue q;
  std::vector<std::byte> big(100000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = std::byte(static_cast<uint8_t>(i));
  EXPECT_EQ(q.append(big, 70000), 70000u);
  EXPECT_EQ(q.append(ByteView(big).subspan(70000), 1u << 20), 30000u);
  EXPECT_EQ(q.size(), 100000u);
  // A slice across chunk boundaries.
  PacketBuffer s = q.slice(65000, 2000);
  EXPECT_EQ(s.size(), 2000u);
  auto v = s.to_vector();
  EXPECT_TRUE(std::equal(v.begin(), v.end(), big.begin() + 65000));
  q.consume(66000);
  EXPECT_EQ(q.size(), 34000u);
  // Slices taken before stay valid: they share the chunk.
  auto again = s.to_vector();
  EXPECT_EQ(again, v);
  auto tail = q.slice(0, 10).to_vector();
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), big.begin() + 66000));
  q.consume(1000000);
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(q.slice(0, 10).empty());
}

TEST(TcpSendQueue, SmallWritesPackIntoOneChunk) {
  SendQueue q;
  for (int i = 0; i < 100; ++i) q.append(as_bytes("x"), 100);
  EXPECT_EQ(q.slice(0, 100).view_count(), 1u);
  // Partly acknowledged, the tail chunk stays for the next small write.
  q.consume(60);
  q.append(as_bytes("y"), 100);
  EXPECT_EQ(q.slice(0, 41).view_count(), 1u);
  EXPECT_EQ(q.pinned_bytes(), SendQueue::kMinChunk);
}

TEST(TcpSendQueue, ADrainedQueueHoldsNoMemory) {
  SendQueue q;
  q.append(as_bytes("request"), 100);
  EXPECT_GT(q.pinned_bytes(), 0u);
  EXPECT_TRUE(q.holds_storage());
  q.consume(7);
  EXPECT_EQ(q.pinned_bytes(), 0u);
  EXPECT_FALSE(q.holds_storage());
  // And it takes memory again for the next write.
  EXPECT_EQ(q.append(as_bytes("again"), 100), 5u);
  EXPECT_EQ(q.slice(0, 5).to_vector(), to_byte_vector(as_bytes("again")));
}

TEST(TcpSendQueue, ContiguousViewsOnlyTheQueuesOwnSingleChunkBytes) {
  SendQueue q;
  std::vector<std::byte> big(70000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = std::byte(static_cast<uint8_t>(i * 7));
  ASSERT_EQ(q.append(big, big.size()), big.size());
  // Inside the first 64 KiB chunk: a view of exactly those bytes.
  auto inside = q.contiguous(100, 50);
  ASSERT_TRUE(inside.has_value());
  EXPECT_TRUE(std::equal(inside->begin(), inside->end(), big.begin() + 100));
  // Across the chunk boundary, or past the end: none.
  EXPECT_FALSE(q.contiguous(SendQueue::kMaxChunk - 10, 20).has_value());
  EXPECT_FALSE(q.contiguous(69990, 20).has_value());
  // After an acknowledgement the offsets count from the new front.
  q.consume(1000);
  auto after = q.contiguous(0, 10);
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(std::equal(after->begin(), after->end(), big.begin() + 1000));
  // A borrowed (zero-copy) buffer is never viewed: its bytes are sliced, not copied.
  SendQueue borrowed;
  PacketBuffer data = PacketBuffer::from_bytes(as_bytes("zero-copy"));
  ASSERT_EQ(borrowed.append_buffer(data, 100), 9u);
  EXPECT_FALSE(borrowed.contiguous(0, 4).has_value());
}

FourTuple tuple(uint16_t port) {
  return FourTuple{Ipv4Address(10, 0, 0, 1), 80, Ipv4Address(10, 0, 0, 2), port};
}

TEST(TcpIsn, KeyedPerTupleAndAdvancesWithTime) {
  SipKey key{1, 2};
  TimePoint t0{std::chrono::seconds(100)};
  SeqNum a = generate_isn(key, tuple(1000), t0);
  SeqNum b = generate_isn(key, tuple(1001), t0);
  EXPECT_NE(a, b);
  // The clock part moves 250000 per second (4 us ticks).
  SeqNum a1 = generate_isn(key, tuple(1000), t0 + std::chrono::seconds(1));
  EXPECT_EQ(a1 - a, 250000);
  SipKey other{3, 4};
  EXPECT_NE(generate_isn(other, tuple(1000), t0), a);
}

TEST(TcpSynCookies, RoundTripKeepsOptions) {
  SipKey key{7, 8};
  TimePoint now{std::chrono::seconds(5000)};
  CookieOptions o;
  o.mss = 1460;
  o.window_scale = 9;
  o.sack_permitted = true;
  o.timestamps = true;
  SeqNum peer_isn(12345);
  SeqNum cookie = SynCookies::make(key, tuple(1), peer_isn, now, o);
  auto back =
      SynCookies::check(key, tuple(1), peer_isn + 1, cookie + 1, now + std::chrono::seconds(30));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->mss, 1460);
  EXPECT_EQ(back->window_scale, 9);
  EXPECT_TRUE(back->sack_permitted);
  EXPECT_TRUE(back->timestamps);
  // Wrong tuple, wrong peer ISN, tampered bits, or too old: refused.
  EXPECT_FALSE(SynCookies::check(key, tuple(2), peer_isn + 1, cookie + 1, now));
  EXPECT_FALSE(SynCookies::check(key, tuple(1), peer_isn + 2, cookie + 1, now));
  EXPECT_FALSE(SynCookies::check(key, tuple(1), peer_isn + 1, cookie + (1u << 22) + 1, now));
  EXPECT_FALSE(
      SynCookies::check(key, tuple(1), peer_isn + 1, cookie + 1, now + std::chrono::seconds(200)));
  // No window scale survives as "none"; MSS rounds down to the table.
  o.window_scale.reset();
  o.mss = 1000;
  cookie = SynCookies::make(key, tuple(1), peer_isn, now, o);
  back = SynCookies::check(key, tuple(1), peer_isn + 1, cookie + 1, now);
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->window_scale.has_value());
  EXPECT_EQ(back->mss, 536);
}

}  // namespace
}  // namespace weir::tcp

namespace weir::tcp {
namespace {

TEST(TcpSendQueue, AppendFromFillsTheQueuesOwnMemory) {
  SendQueue q;
  std::vector<std::byte> source(150000);
  for (size_t i = 0; i < source.size(); ++i) source[i] = std::byte(static_cast<uint8_t>(i * 3));
  size_t offered_total = 0;
  size_t calls = 0;
  // A producer that writes what it is offered, like read() from a socket with plenty queued.
  auto n = q.append_from(120000, [&](MutableByteView space) -> Result<size_t> {
    ++calls;
    size_t k = std::min(space.size(), source.size() - offered_total);
    copy_bytes(space, 0, ByteView(source).subspan(offered_total, k));
    offered_total += k;
    return k;
  });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 120000u);  // capped by max, across chunks of at most kMaxChunk
  EXPECT_GE(calls, 2u);
  EXPECT_EQ(q.size(), 120000u);
  auto all = q.slice(0, 120000).to_vector();
  EXPECT_TRUE(std::equal(all.begin(), all.end(), source.begin()));
  // A short fill ends the call; an error with nothing appended is returned.
  auto short_fill = q.append_from(1000, [](MutableByteView space) -> Result<size_t> {
    return std::min<size_t>(space.size(), 10);
  });
  EXPECT_EQ(*short_fill, 10u);
  auto failed = q.append_from(1000, [](MutableByteView) -> Result<size_t> {
    return Error::kWouldBlock;
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), Error::kWouldBlock);
  EXPECT_EQ(q.size(), 120010u);
}

// The account follows what the queue pins through every way bytes come and go: copied
// writes, borrowed buffers, partial and whole acknowledgements, clear(), a second account,
// and the queue's end.
TEST(TcpSendQueue, ChargesWhatItPinsToTheStacksAccount) {
  SocketMemory memory(SocketMemoryLimits{.min = 1 << 20, .pressure = 2 << 20, .max = 4 << 20});
  std::vector<std::byte> big(100000, std::byte{7});
  {
    SendQueue q;
    q.append(as_bytes("before the account"), 100);
    q.set_account(&memory);
    EXPECT_EQ(memory.used(), q.charged());
    EXPECT_EQ(q.charged(), q.pinned_bytes());
    q.append(big, big.size());
    EXPECT_EQ(memory.used(), q.pinned_bytes());
    // A borrowed buffer is charged at the chunk it keeps alive, not its payload.
    PacketBuffer borrowed = PacketBuffer::from_chunk(Chunk::allocate(16384), 100, 10);
    EXPECT_EQ(q.append_buffer(borrowed, 10), 10u);
    EXPECT_EQ(memory.used(), q.charged());
    EXPECT_GE(q.charged(), 16384u + big.size());
    // Acknowledging part of a chunk frees nothing; acknowledging a whole one frees it.
    const size_t before = memory.used();
    q.consume(10);
    EXPECT_EQ(memory.used(), before);
    q.consume(70000);
    EXPECT_LT(memory.used(), before);
    EXPECT_EQ(memory.used(), q.charged());
    EXPECT_EQ(q.charged(), q.pinned_bytes());
    // Drained, including the borrowed buffer: nothing is charged.
    q.consume(q.size());
    EXPECT_EQ(memory.used(), 0u);
    EXPECT_EQ(q.charged(), 0u);
    q.append(big, 5000);
    EXPECT_EQ(memory.used(), q.charged());
    q.clear();
    EXPECT_EQ(memory.used(), 0u);
    q.append(big, 3000);
    // Moved to another account, the charge goes along.
    SocketMemory other(memory.limits());
    q.set_account(&other);
    EXPECT_EQ(memory.used(), 0u);
    EXPECT_EQ(other.used(), q.charged());
    q.set_account(&memory);
    EXPECT_EQ(other.used(), 0u);
    EXPECT_GT(memory.used(), 0u);
  }
  // The queue's end gives it all back.
  EXPECT_EQ(memory.used(), 0u);
  EXPECT_GT(memory.peak(), 100000u);
}

TEST(TcpReceiveQueue, LendGivesViewsWithoutConsuming) {
  ReceiveQueue q;
  SeqNum nxt(1);
  q.add(nxt, SeqNum(1), data_of("hello "));
  q.add(nxt + 6, SeqNum(7), data_of("world"));
  std::vector<ByteView> views;
  q.lend(8, views);
  std::string lent;
  for (auto v : views) {
    for (std::byte b : v) lent.push_back(static_cast<char>(b));
  }
  EXPECT_EQ(lent, "hello wo");
  EXPECT_EQ(q.readable(), 11u);  // nothing consumed until discard()
  q.discard(3);
  EXPECT_EQ(read_all(q), "lo world");
}

}  // namespace
}  // namespace weir::tcp
