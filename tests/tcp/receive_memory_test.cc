// Receive memory under a hostile peer (issue 9): data is charged at the chunks it pins, tiny
// segments in big chunks are copied out, the out-of-order queue coalesces and is pruned from
// the top, and a connection never holds much more than twice its buffer. No timing asserts:
// the work per segment is counted in pieces visited.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tcp/connection.h"
#include "tcp/receive_queue.h"
#include "tcp/receive_side.h"
#include "tests/testing/tcp_harness.h"

namespace weir::tcp {
namespace {

using weir::testing::TcpHarness;

constexpr size_t kOffloadChunk = 64 * 1024;  // what a tap with offloads reads a frame into

std::byte pattern(size_t offset) { return std::byte(static_cast<uint8_t>(offset * 7 + 3)); }

// n bytes of the stream from offset, alone in a chunk of chunk_size bytes (as a link that
// receives into big buffers hands them up).
PacketBuffer in_chunk(size_t offset, size_t n, size_t chunk_size = kOffloadChunk) {
  constexpr size_t kHeadroom = 256;  // room for the TCP header the harness pushes
  ChunkRef chunk = Chunk::allocate(chunk_size);
  MutableByteView b = chunk->bytes().subspan(kHeadroom, n);
  for (size_t i = 0; i < n; ++i) b[i] = pattern(offset + i);
  return PacketBuffer::from_chunk(std::move(chunk), kHeadroom, n);
}

PacketBuffer plain(size_t offset, size_t n) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = pattern(offset + i);
  return PacketBuffer::from_bytes(v, 0);
}

// A peer's data segment whose payload is the given buffer (its header goes in the headroom).
void send_data(TcpHarness& h, SeqNum seq, PacketBuffer payload) {
  SegmentHeader hdr;
  hdr.source_port = h.remote_port;
  hdr.destination_port = h.local_port;
  hdr.seq = seq;
  hdr.ack = h.local_seq;
  hdr.flags = kAck;
  hdr.window = 65535;
  hdr.options = h.peer_ack_options();
  h.send_segment_header(hdr, std::move(payload));
}

TcpOptions buffer_of(uint32_t bytes) {
  TcpOptions o;
  o.receive_buffer = bytes;
  o.receive_autotune = false;
  return o;
}

std::string read_all(ReceiveQueue& q) {
  std::vector<std::byte> buf(q.readable());
  q.read(buf);
  std::string out;
  for (std::byte b : buf) out.push_back(static_cast<char>(b));
  return out;
}

PacketBuffer text(std::string_view s, size_t chunk_size = kOffloadChunk) {
  ChunkRef chunk = Chunk::allocate(chunk_size);
  std::memcpy(chunk->bytes().data(), s.data(), s.size());
  return PacketBuffer::from_chunk(std::move(chunk), 0, s.size());
}

TEST(TcpReceiveMemory, SmallSegmentInBigChunkIsCopiedOut) {
  ReceiveQueue q;
  q.add(SeqNum(0), SeqNum(0), text("ab"));
  EXPECT_LT(q.charged(), 4096u);  // not the 64 KiB chunk it came in
  q.add(SeqNum(2), SeqNum(10), text("x"));
  EXPECT_LT(q.out_of_order_charged(), 4096u);
  // A full-sized segment is kept where it arrived, and charged its whole chunk.
  ReceiveQueue big;
  big.add(SeqNum(0), SeqNum(0), in_chunk(0, 1448, 2048));
  EXPECT_EQ(big.charged(), 2048u);
  std::vector<std::byte> buf(1000);
  big.read(buf);
  EXPECT_EQ(big.charged(), 2048u);  // the chunk stays until its last byte is read
  buf.resize(448);
  big.read(buf);
  EXPECT_EQ(big.charged(), 0u);
}

// A small segment that finds nothing unread is kept in its standard-sized chunk (charged in
// full: the reader usually takes it at once); what follows before the read is copied, into the
// chunk's spare room when no one else holds it, and a big offload chunk is never kept for it.
TEST(TcpReceiveMemory, SmallSegmentToAnEmptyQueueIsKeptInItsFrameChunk) {
  ReceiveQueue q;
  q.add(SeqNum(0), SeqNum(0), text("request", 2048));
  EXPECT_EQ(q.charged(), 2048u);
  q.add(SeqNum(7), SeqNum(7), text(" more", 2048));  // fills the first chunk's spare room
  EXPECT_EQ(q.charged(), 2048u);
  EXPECT_EQ(read_all(q), "request more");
  EXPECT_EQ(q.charged(), 0u);
  EXPECT_FALSE(q.holds_storage());
  // Not when something is unread, and not under memory pressure (no kept runs).
  q.add(SeqNum(12), SeqNum(12), text("a", 2048));
  ChunkRef shared = Chunk::allocate(2048);
  q.add(SeqNum(13), SeqNum(13), PacketBuffer::from_chunk(shared, 0, 1));
  EXPECT_EQ(q.charged(), 2048u);  // the second byte went into the first chunk's room
  ReceiveQueue pressed;
  pressed.add(SeqNum(0), SeqNum(0), text("b", 2048), std::numeric_limits<size_t>::max(), false);
  EXPECT_LT(pressed.charged(), 2048u);
}

// Segments cut from one big buffer, as an in-process link hands over the sender's send-queue
// memory: the first is copied (alone it would pin the whole chunk), the rest stay where they
// are, charged once at the chunk's capacity, read back byte for byte.
TEST(TcpReceiveMemory, SegmentsOfOneChunkAreKeptAndChargedOnce) {
  constexpr size_t kSegments = 40;
  constexpr size_t kMss = 1448;
  ChunkRef chunk = Chunk::allocate(kOffloadChunk);
  for (size_t i = 0; i < kSegments * kMss; ++i) chunk->bytes()[i] = pattern(i);
  ReceiveQueue q;
  SeqNum nxt(0);
  for (size_t i = 0; i < kSegments; ++i) {
    auto r = q.add(nxt, nxt, PacketBuffer::from_chunk(chunk, i * kMss, kMss));
    ASSERT_EQ(r.advanced, kMss);
    nxt += static_cast<uint32_t>(kMss);
  }
  // One copy (a small chunk) and the big chunk, once: not 39 times 64 KiB.
  EXPECT_GT(q.charged(), kOffloadChunk);
  EXPECT_LT(q.charged(), kOffloadChunk + 4096);
  std::vector<std::byte> got(kSegments * kMss);
  // Read in pieces that cut across segments; the chunk's charge stays until its last byte.
  size_t done = 0;
  while (done < got.size()) {
    const size_t n = std::min<size_t>(5000, got.size() - done);
    ASSERT_EQ(q.read(MutableByteView(got).subspan(done, n)), n);
    done += n;
    if (done < got.size()) {
      EXPECT_GE(q.charged(), kOffloadChunk);
    }
  }
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], pattern(i)) << i;
  EXPECT_EQ(q.charged(), 0u);
}

// A run starts only when the chunk fits the limit without pruning, and not at all when the
// stack is short of memory; a slice of another chunk, or one that skips bytes, is judged anew.
TEST(TcpReceiveMemory, KeptRunsStartOnlyWhereTheChunkFits) {
  constexpr size_t kMss = 1448;
  ChunkRef chunk = Chunk::allocate(kOffloadChunk);
  for (size_t i = 0; i < 8 * kMss; ++i) chunk->bytes()[i] = pattern(i);
  auto seg = [&](size_t i) { return PacketBuffer::from_chunk(chunk, i * kMss, kMss); };

  ReceiveQueue short_of_memory;
  SeqNum nxt(0);
  for (size_t i = 0; i < 4; ++i) {
    short_of_memory.add(nxt, nxt, seg(i), std::numeric_limits<size_t>::max(), false);
    nxt += static_cast<uint32_t>(kMss);
  }
  EXPECT_LT(short_of_memory.charged(), 4 * 4096u);  // every segment copied

  ReceiveQueue tight;
  nxt = SeqNum(0);
  for (size_t i = 0; i < 4; ++i) {
    auto r = tight.add(nxt, nxt, seg(i), 32 * 1024);
    ASSERT_EQ(r.advanced, kMss);
    nxt += static_cast<uint32_t>(kMss);
  }
  EXPECT_LT(tight.charged(), 32 * 1024u);  // the 64 KiB chunk never fit: copies

  ReceiveQueue gaps;
  nxt = SeqNum(0);
  // Slices 0, 2, 4: each continues the stream but not the chunk, so each is copied.
  for (size_t i = 0; i < 6; i += 2) {
    gaps.add(nxt, nxt, seg(i));
    nxt += static_cast<uint32_t>(kMss);
  }
  EXPECT_LT(gaps.charged(), 3 * 4096u);
  EXPECT_EQ(gaps.readable(), 3 * kMss);
  std::vector<std::byte> got(3 * kMss);
  ASSERT_EQ(gaps.read(got), got.size());
  for (size_t k = 0; k < 3; ++k) {
    for (size_t j = 0; j < kMss; ++j) ASSERT_EQ(got[k * kMss + j], pattern(2 * k * kMss + j));
  }
}

TEST(TcpReceiveMemory, AdjacentPiecesCoalesceBothWays) {
  ReceiveQueue q;
  SeqNum nxt(0);
  // Upwards from 1000 and downwards from 999: one piece, a few small chunks.
  for (uint32_t i = 0; i < 3000; ++i) q.add(nxt, SeqNum(1000 + i), in_chunk(1000 + i, 1));
  for (uint32_t i = 1; i <= 900; ++i) q.add(nxt, SeqNum(1000 - i), in_chunk(1000 - i, 1));
  EXPECT_EQ(q.out_of_order_pieces(), 1u);
  EXPECT_EQ(q.out_of_order_bytes(), 3900u);
  EXPECT_LT(q.out_of_order_charged(), 3900u + 8192u);
  std::array<SeqRange, 4> out{};
  ASSERT_EQ(q.take_sack_blocks(nxt, out), 1u);
  EXPECT_EQ(out[0], (SeqRange{SeqNum(100), SeqNum(4000)}));
  // Filling the hole pulls it all in order, byte for byte.
  auto r = q.add(nxt, SeqNum(0), in_chunk(0, 100));
  EXPECT_EQ(r.advanced, 4000u);
  std::vector<std::byte> got(4000);
  ASSERT_EQ(q.read(got), 4000u);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], pattern(i)) << i;
  EXPECT_EQ(q.charged(), 0u);
}

TEST(TcpReceiveMemory, OverlapsKeepHeldBytesAndMergeNeighbours) {
  ReceiveQueue q;
  SeqNum nxt(100);
  q.add(nxt, SeqNum(100), text("abc"));
  nxt += 3;
  q.add(nxt, SeqNum(110), text("klm"));
  q.add(nxt, SeqNum(106), text("ghi"));
  EXPECT_EQ(q.out_of_order_pieces(), 2u);
  // Overlaps 106..109 and touches 110: one piece 105..113.
  q.add(nxt, SeqNum(105), text("FGHIJ"));
  EXPECT_EQ(q.out_of_order_pieces(), 1u);
  EXPECT_EQ(q.out_of_order_bytes(), 8u);
  q.add(nxt, SeqNum(108), text("I"));  // held already: D-SACK
  EXPECT_TRUE(q.dsack_pending());
  auto r = q.add(nxt, SeqNum(103), text("de"));
  EXPECT_EQ(r.advanced, 10u);
  EXPECT_EQ(read_all(q), "abcdeFghiJklm");
}

TEST(TcpReceiveMemory, PrunesFromTheTopThenDrops) {
  ReceiveQueue q;
  SeqNum nxt(0);
  // Three full segments in 2 KiB chunks, and a limit with room for no fourth.
  q.add(nxt, SeqNum(10000), in_chunk(10000, 1448, 2048));
  q.add(nxt, SeqNum(20000), in_chunk(20000, 1448, 2048));
  q.add(nxt, SeqNum(30000), in_chunk(30000, 1448, 2048));
  ASSERT_EQ(q.out_of_order_pieces(), 3u);
  const size_t limit = q.charged() + 100;
  // A lower one pushes out the highest.
  auto r = q.add(nxt, SeqNum(5000), in_chunk(5000, 1448, 2048), limit);
  EXPECT_FALSE(r.dropped);
  EXPECT_EQ(r.pruned, 1u);
  EXPECT_EQ(q.highest_out_of_order(), SeqNum(20000 + 1448));
  // A higher one finds nothing above it to prune: dropped.
  r = q.add(nxt, SeqNum(40000), in_chunk(40000, 1448, 2048), limit);
  EXPECT_TRUE(r.dropped);
  EXPECT_EQ(q.out_of_order_pieces(), 3u);
  EXPECT_LE(q.charged(), limit);
  // In-order data may take the room of anything out of order.
  r = q.add(nxt, SeqNum(0), in_chunk(0, 1448, 2048), limit);
  EXPECT_EQ(r.advanced, 1448u);
  EXPECT_GE(r.pruned, 1u);
  EXPECT_LE(q.charged(), limit);
}

TEST(TcpReceiveMemory, PiecesOrderAcrossSequenceWrap) {
  ReceiveQueue q;
  SeqNum nxt(0xfffffff0u);
  q.add(nxt, SeqNum(4), text("wx"));            // beyond the wrap
  q.add(nxt, SeqNum(0xfffffffcu), text("st"));  // before it
  q.add(nxt, SeqNum(0xfffffffeu), text("uv"));  // touches both: one piece
  EXPECT_EQ(q.out_of_order_pieces(), 2u);
  q.add(nxt, SeqNum(0), text("0123"));
  EXPECT_EQ(q.out_of_order_pieces(), 1u);
  std::array<SeqRange, 4> out{};
  ASSERT_EQ(q.take_sack_blocks(nxt, out), 1u);
  EXPECT_EQ(out[0], (SeqRange{SeqNum(0xfffffffcu), SeqNum(6)}));
  EXPECT_EQ(q.highest_out_of_order(), SeqNum(6));
  auto r = q.add(nxt, nxt, text("abcdefghijkl"));
  EXPECT_EQ(r.advanced, 22u);
  EXPECT_EQ(read_all(q), "abcdefghijklstuv0123wx");
}

// Short of room, the queue first copies readable bytes that pin far more than they hold (a
// kept run's 64 KiB chunk under four segments of it) into a chunk of their size, and prunes
// nothing; readable bytes that are already compact are not copied again.
TEST(TcpReceiveMemory, ShortOfRoomReadableBytesAreCompactedBeforeAnythingIsPruned) {
  constexpr size_t kMss = 1448;
  ChunkRef chunk = Chunk::allocate(kOffloadChunk);
  for (size_t i = 0; i < 4 * kMss; ++i) chunk->bytes()[i] = pattern(i);
  ReceiveQueue q;
  SeqNum nxt(0);
  for (size_t i = 0; i < 4; ++i) {
    q.add(nxt, nxt, PacketBuffer::from_chunk(chunk, i * kMss, kMss));
    nxt += static_cast<uint32_t>(kMss);
  }
  ASSERT_GT(q.charged(), kOffloadChunk);  // the first segment's copy and the run's chunk
  q.add(nxt, SeqNum(6 * kMss), in_chunk(6 * kMss, kMss, 2048));
  // One more full segment beyond the hole, with room for it only once the run is compacted.
  const size_t limit = q.charged() + 1024;
  auto r = q.add(nxt, SeqNum(5 * kMss), in_chunk(5 * kMss, kMss, 2048), limit);
  EXPECT_TRUE(r.collapsed);
  EXPECT_FALSE(r.dropped);
  EXPECT_EQ(r.pruned, 0u);
  EXPECT_EQ(q.out_of_order_pieces(), 1u);
  EXPECT_LT(q.in_order_charged(), 4 * kMss + 2048);
  r = q.add(nxt, nxt, in_chunk(4 * kMss, kMss, 2048), limit);
  EXPECT_EQ(r.advanced, 3 * kMss);
  std::vector<std::byte> got(7 * kMss);
  ASSERT_EQ(q.read(got), got.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], pattern(i)) << i;

  // Segments in their own standard chunks are kept at 1448 of 2048: nothing to gain by a copy,
  // so the same squeeze prunes.
  ReceiveQueue compact;
  nxt = SeqNum(0);
  for (size_t i = 0; i < 4; ++i) {
    compact.add(nxt, nxt, in_chunk(i * kMss, kMss, 2048));
    nxt += static_cast<uint32_t>(kMss);
  }
  compact.add(nxt, SeqNum(6 * kMss), in_chunk(6 * kMss, kMss, 2048));
  r = compact.add(nxt, SeqNum(5 * kMss), in_chunk(5 * kMss, kMss, 2048), compact.charged() + 1024);
  EXPECT_FALSE(r.collapsed);
  EXPECT_EQ(r.pruned, 1u);
}

// The attack from issue 9: 1-byte segments with a hole before each, every one in its own
// 64 KiB chunk, into a 128 KiB window. The connection stays near twice its buffer, the queue
// stays a bounded number of pieces, the work per segment does not grow, and once the peer
// fills the holes the reader gets the stream byte for byte.
TEST(TcpReceiveMemory, HostileTinySegmentsStayBounded) {
  constexpr uint32_t kBuffer = 128 * 1024;
  TcpHarness h(buffer_of(kBuffer));
  auto ep = h.connect();
  // Looked up at each use: an idle connection parks its receive side, so a reference taken
  // before the first segment would watch a stand-in that never holds anything.
  auto q = [&]() -> const ReceiveQueue& { return ep->connection()->receive_queue(); };
  const SeqNum base = h.peer_seq;
  constexpr size_t kSegments = 60000;
  // "About twice": the limit plus one piece, as the check is made before the copy is sized.
  const size_t bound = 2 * kBuffer + 4096;
  size_t max_charged = 0;
  size_t max_pieces = 0;
  uint64_t visited_early = 0;
  uint64_t visited_late = 0;
  for (size_t i = 0; i < kSegments; ++i) {
    uint64_t before = q().pieces_visited();
    send_data(h, base + static_cast<uint32_t>(2 * i + 1), in_chunk(2 * i + 1, 1));
    uint64_t work = q().pieces_visited() - before;
    if (i >= 1000 && i < 2000) visited_early += work;
    if (i >= kSegments - 1000) visited_late += work;
    max_charged = std::max(max_charged, q().charged());
    max_pieces = std::max(max_pieces, q().out_of_order_pieces());
    h.drain();
  }
  EXPECT_LE(max_charged, bound);
  // Each piece is charged its chunk and its node, so the memory bound is also a piece bound.
  EXPECT_LT(max_pieces, bound / 256);
  EXPECT_GT(h.counter("ofo_pruned") + h.counter("drop_receive_queue_memory"), 0u);
  // Flat work: a segment looks at a couple of neighbours (plus, amortized, the pieces it
  // prunes, each once), whether the queue is short or long.
  EXPECT_LE(visited_early, 3000u);
  EXPECT_LE(visited_late, 3000u);
  std::printf(
      "hostile: max charged %zu bytes (buffer %u), max pieces %zu, pruned %llu, "
      "dropped %llu, pieces visited per segment %.2f\n",
      max_charged, kBuffer, max_pieces, static_cast<unsigned long long>(h.counter("ofo_pruned")),
      static_cast<unsigned long long>(h.counter("drop_receive_queue_memory")),
      static_cast<double>(q().pieces_visited()) / kSegments);

  // The peer now sends everything in order in full segments (standard chunks); the reader
  // drains as it goes and must see exactly the stream.
  const size_t total = 2 * kSegments;
  std::vector<std::byte> got;
  std::vector<std::byte> buf(64 * 1024);
  size_t sent = 0;
  while (sent < total) {
    size_t n = std::min<size_t>(1448, total - sent);
    send_data(h, base + static_cast<uint32_t>(sent), plain(sent, n));
    sent += n;
    EXPECT_LE(q().charged(), bound);
    while (true) {
      auto r = ep->read(buf);
      if (!r || *r == 0) break;
      got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*r));
    }
    h.drain();
  }
  ASSERT_EQ(got.size(), total);
  for (size_t i = 0; i < total; ++i) ASSERT_EQ(got[i], pattern(i)) << "offset " << i;
  EXPECT_EQ(q().charged(), 0u);
  EXPECT_EQ(q().out_of_order_pieces(), 0u);
}


// The stack's account equals the queue's charge after every operation, whichever path it took:
// the first segment to an empty queue, a read or discard of everything, partial reads, runs of
// one chunk, out-of-order pieces, drops at a tight limit, clear(). (A read ending inside a
// record after consuming whole ones once left their charges on the account until the next
// add.) The bytes read are the stream's, and the queue holds storage exactly while it holds
// data.
TEST(TcpReceiveMemory, AccountFollowsEveryPath) {
  SocketMemory memory{SocketMemoryLimits{1 << 30, 1 << 30, 1 << 30}};
  {
    ReceiveQueue q;
    q.set_account(&memory);
    uint64_t rng = 0x9e3779b97f4a7c15u;
    auto next = [&rng](uint64_t n) {
      rng = rng * 6364136223846793005u + 1442695040888963407u;
      return static_cast<size_t>((rng >> 33) % n);
    };
    size_t nxt = 0;   // the stream offset of rcv.nxt
    size_t read = 0;  // the stream offset of the next byte the user reads
    std::vector<std::byte> buf(8192);
    for (int step = 0; step < 20000; ++step) {
      const size_t limit = next(8) == 0 ? 8192 : std::numeric_limits<size_t>::max();
      const bool runs = next(8) != 0;
      switch (next(7)) {
        case 0:
        case 1: {  // in order, alone in a standard or an offload chunk
          const size_t n = 1 + next(next(4) == 0 ? 3000 : 200);
          const size_t chunk = n <= 1792 && next(2) == 0 ? 2048 : kOffloadChunk;
          auto r = q.add(SeqNum(static_cast<uint32_t>(nxt)), SeqNum(static_cast<uint32_t>(nxt)),
                         in_chunk(nxt, n, chunk), limit, runs);
          nxt += r.advanced;
          break;
        }
        case 2: {  // consecutive slices of one chunk
          const size_t n = 1 + next(1448);
          const size_t count = 1 + next(4);
          ChunkRef chunk = Chunk::allocate(kOffloadChunk);
          for (size_t i = 0; i < n * count; ++i) chunk->bytes()[i] = pattern(nxt + i);
          for (size_t i = 0; i < count; ++i) {
            auto r = q.add(SeqNum(static_cast<uint32_t>(nxt)), SeqNum(static_cast<uint32_t>(nxt)),
                           PacketBuffer::from_chunk(chunk, i * n, n), limit, runs);
            nxt += r.advanced;
            if (r.advanced != n) break;  // dropped, or it filled a gap: the chunk is out of step
          }
          break;
        }
        case 3: {  // beyond a gap
          const size_t at = nxt + 1 + next(4000);
          const size_t n = 1 + next(1448);
          q.add(SeqNum(static_cast<uint32_t>(nxt)), SeqNum(static_cast<uint32_t>(at)),
                next(2) == 0 ? in_chunk(at, n) : plain(at, n), limit, runs);
          break;
        }
        case 4:
        case 5: {  // read some or all
          const size_t want = next(3) == 0 ? q.readable() : next(3000);
          const size_t got = q.read(MutableByteView(buf).first(std::min(want, buf.size())));
          for (size_t i = 0; i < got; ++i) ASSERT_EQ(buf[i], pattern(read + i)) << step;
          read += got;
          break;
        }
        case 6:
          if (next(16) == 0) {
            q.clear();
            read = nxt;
          } else {
            read += q.discard(next(2) == 0 ? q.readable() : next(3000));
          }
          break;
      }
      ASSERT_EQ(read + q.readable(), nxt) << step;
      ASSERT_EQ(memory.used(), q.charged()) << step;
      ASSERT_EQ(q.holds_storage(), q.readable() > 0 || q.has_out_of_order()) << step;
      if (!q.holds_storage()) {
        ASSERT_EQ(q.charged(), 0u) << step;
      }
    }
  }
  EXPECT_EQ(memory.used(), 0u);
}

// The sender's stream as an in-process link carries it: segments are slices of the sender's
// send-queue chunks (64 KiB, SendQueue::kMaxChunk), a segment that crosses a chunk's end two.
class SendChunks {
 public:
  PacketBuffer segment(size_t offset, size_t n) {
    PacketBuffer p;
    while (n > 0) {
      const size_t k = offset / kOffloadChunk;
      while (chunks_.size() <= k) {
        ChunkRef c = Chunk::allocate(kOffloadChunk);
        const size_t base = chunks_.size() * kOffloadChunk;
        for (size_t i = 0; i < kOffloadChunk; ++i) c->bytes()[i] = pattern(base + i);
        chunks_.push_back(std::move(c));
      }
      const size_t at = offset % kOffloadChunk;
      const size_t m = std::min(n, kOffloadChunk - at);
      p.append(PacketBuffer::from_chunk(chunks_[k], at, m));
      offset += m;
      n -= m;
    }
    return p;
  }

 private:
  std::vector<ChunkRef> chunks_;
};

struct HonestTransfer {
  size_t limit = 0;  // what the receive side allows itself: twice the buffer
  size_t max_charged = 0;
  TcpCounters counters;
};

// A sender that keeps to the advertised window fills it with full-sized segments cut from its
// send-queue chunks. It loses the segment lost_at segments into every 45 (about one per
// chunk) and repairs each loss repair_after segments later; the reader takes nothing until the
// window is full. Eight windows, read back byte for byte.
HonestTransfer honest_transfer(uint32_t buffer, size_t lost_at, size_t repair_after) {
  constexpr size_t kMss = 1448;
  SocketMemory memory{SocketMemoryLimits{1 << 30, 1 << 30, 1 << 30}};
  HonestTransfer t;
  ReceiveSide recv(memory);
  recv.set_buffer(buffer);
  recv.set_window_scale(7);
  recv.start(SeqNum(1000));
  const SeqNum base = recv.nxt();
  recv.advertise(memory, t.counters, kMss);
  SendChunks sender;
  t.limit = 2 * size_t{buffer};
  size_t next = 0;
  size_t read = 0;
  std::vector<std::byte> buf(64 * 1024);
  auto deliver = [&](size_t offset) {
    recv.receive(base + static_cast<uint32_t>(offset), sender.segment(offset, kMss), memory,
                 t.counters, TimePoint{});
    recv.advertise(memory, t.counters, kMss);  // every segment here is ACKed at once
    t.max_charged = std::max(t.max_charged, recv.queue().charged());
  };
  for (int round = 0; round < 8; ++round) {
    const SeqNum edge = recv.nxt() + recv.window();
    std::vector<size_t> lost;
    size_t since_loss = 0;
    for (; base + static_cast<uint32_t>(next + kMss) <= edge; next += kMss) {
      if ((next / kMss) % 45 == lost_at) {
        lost.push_back(next);
        since_loss = 0;
      } else {
        deliver(next);
      }
      if (!lost.empty() && ++since_loss == repair_after) {
        for (size_t offset : lost) deliver(offset);
        lost.clear();
      }
    }
    for (size_t offset : lost) deliver(offset);
    while (size_t n = recv.queue().read(buf)) {
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(buf[i], pattern(read + i)) << read + i;
      read += n;
    }
    recv.advertise(memory, t.counters, kMss);
  }
  EXPECT_EQ(read, next);
  return t;
}

// Memory is charged at what it pins, and the window is what the buffer holds in payload, with
// twice the buffer of memory behind it: an honest sender never runs the receiver out. Kept runs
// broke that: each charges a whole 64 KiB send-queue chunk however little of it arrived in
// order, the chunk's bytes beyond a hole were charged again as copies, and after the repair a
// new run charged the same chunk once more, until a window of 1448-byte segments pinned more
// than twice the buffer and in-window data was dropped (the drops and the out-of-order prune
// an integration run over a lossy link showed). The queue now compacts its readable bytes
// before it prunes or drops anything, as Linux's tcp_prune_queue collapses before it prunes.
TEST(TcpReceiveMemory, AnHonestSenderFillingTheWindowFromItsSendChunksIsNeverRefused) {
  uint64_t collapsed = 0;
  for (uint32_t buffer : {64u * 1024, 128u * 1024, 256u * 1024}) {
    for (size_t lost_at : {size_t{2}, size_t{10}, size_t{30}}) {
      for (size_t repair_after : {size_t{5}, size_t{20}, size_t{1000}}) {
        SCOPED_TRACE(::testing::Message() << "buffer " << buffer << ", lost at " << lost_at
                                          << ", repaired after " << repair_after);
        HonestTransfer t = honest_transfer(buffer, lost_at, repair_after);
        EXPECT_EQ(t.counters.ofo_pruned, 0u);
        EXPECT_EQ(t.counters.drop_receive_queue_memory, 0u);
        // The limit plus the copy of one segment, as the check is made before the copy is
        // sized.
        EXPECT_LE(t.max_charged, t.limit + 4096);
        collapsed += t.counters.receive_queue_collapsed;
      }
    }
  }
  EXPECT_GT(collapsed, 0u);  // the squeeze came, and compacting met it
}

}  // namespace
}  // namespace weir::tcp
