// Zero-copy TCP: receive views that point into the received packets' memory, and sends that
// hold the caller's chunks instead of copying them.
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <vector>

#include "stack/packet_buffer.h"
#include "stack/rng.h"
#include "tcp/receive_queue.h"
#include "tcp/send_queue.h"
#include "tests/testing/tcp_harness.h"

namespace weir::testing {
namespace {

using tcp::kAck;
using tcp::kPsh;

std::vector<std::byte> pattern(size_t n, uint64_t seed) {
  std::vector<std::byte> out(n);
  Rng rng(seed);
  rng.fill(out);
  return out;
}

// Memory the test owns, lent to the stack through Chunk::adopt; counts its releases.
struct ExternalMemory {
  static constexpr size_t kHeadroom = 128;
  explicit ExternalMemory(ByteView payload) : bytes(kHeadroom + payload.size(), std::byte{0xaa}) {
    copy_bytes(bytes, kHeadroom, payload);
  }
  static void release(void* context) noexcept { ++static_cast<ExternalMemory*>(context)->released; }
  // A packet over the payload, with the guard bytes in front as its chunk's headroom.
  PacketBuffer packet() {
    ChunkRef chunk = Chunk::adopt(bytes, &ExternalMemory::release, this);
    chunk_address = chunk.get();
    return PacketBuffer::from_chunk(std::move(chunk), kHeadroom, bytes.size() - kHeadroom);
  }
  bool guard_intact() const {
    for (size_t i = 0; i < kHeadroom; ++i) {
      if (bytes[i] != std::byte{0xaa}) return false;
    }
    return true;
  }
  std::vector<std::byte> bytes;
  const Chunk* chunk_address = nullptr;
  int released = 0;
};

TEST(TcpZeroCopy, ReceiveQueueLendsTheReceivedChunkItself) {
  tcp::ReceiveQueue q;
  ChunkRef chunk = Chunk::allocate(2048);
  const auto payload = pattern(1448, 1);
  copy_bytes(chunk->bytes(), 0, payload);
  const std::byte* start = chunk->bytes().data();
  q.add(tcp::SeqNum(100), tcp::SeqNum(100), PacketBuffer::from_chunk(chunk, 0, payload.size()));
  std::vector<ByteView> views;
  q.lend(SIZE_MAX, views);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].data(), start);  // the frame's bytes, not a copy
  EXPECT_EQ(views[0].size(), payload.size());
  q.lend(100, views);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].size(), 100u);
  EXPECT_EQ(q.discard(100), 100u);
  q.lend(SIZE_MAX, views);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].data(), start + 100);
}

TEST(TcpZeroCopy, SendQueueHoldsTheCallersChunk) {
  const auto payload = pattern(5000, 2);
  ExternalMemory memory(payload);
  tcp::SendQueue q;
  {
    PacketBuffer data = memory.packet();
    // The limit applies: only what fits is taken, the caller keeps the rest.
    EXPECT_EQ(q.append_buffer(data, 3000), 3000u);
    EXPECT_EQ(data.size(), 2000u);
    EXPECT_EQ(q.append_buffer(data, SIZE_MAX), 2000u);
    EXPECT_TRUE(data.empty());
  }
  // A copy the queue makes itself goes into a chunk of its own, never into the caller's.
  const auto tail = pattern(10, 3);
  EXPECT_EQ(q.append(tail, SIZE_MAX), tail.size());
  EXPECT_EQ(q.size(), 5010u);
  PacketBuffer segment = q.slice(1000, 1448);
  EXPECT_EQ(segment.front_chunk(), memory.chunk_address);
  EXPECT_EQ(segment.to_vector(), std::vector<std::byte>(payload.begin() + 1000,
                                                        payload.begin() + 2448));
  PacketBuffer across = q.slice(4990, 20);
  EXPECT_EQ(across.front_chunk(), memory.chunk_address);
  EXPECT_NE(across.back_chunk(), memory.chunk_address);
  segment = PacketBuffer();
  across = PacketBuffer();
  q.consume(4999);
  EXPECT_EQ(memory.released, 0);  // one byte of it is still unacknowledged
  q.consume(1);
  EXPECT_EQ(memory.released, 1);
  EXPECT_EQ(q.size(), 10u);
  EXPECT_TRUE(memory.guard_intact());
}

TEST(TcpZeroCopy, EndpointWritesTheCallersBufferWithoutCopying) {
  TcpHarness h;
  auto ep = h.connect();
  const auto payload = pattern(20000, 4);
  ExternalMemory memory(payload);
  {
    PacketBuffer data = memory.packet();
    auto n = ep->write(data);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, payload.size());
    EXPECT_TRUE(data.empty());
  }
  // The caller's reference is gone; the queue keeps the memory until the peer acknowledges it.
  std::vector<std::byte> wire;
  tcp::SeqNum end = h.local_seq;
  while (auto s = h.next_segment()) {
    wire.insert(wire.end(), s->payload.begin(), s->payload.end());
    end = s->seq + static_cast<uint32_t>(s->payload.size());
  }
  ASSERT_EQ(memory.released, 0);
  // The initial window lets only part out; acknowledge until everything went.
  for (int round = 0; round < 20 && wire.size() < payload.size(); ++round) {
    h.send_segment(kAck, h.peer_seq, end, 65535, h.peer_ack_options());
    while (auto s = h.next_segment()) {
      wire.insert(wire.end(), s->payload.begin(), s->payload.end());
      end = s->seq + static_cast<uint32_t>(s->payload.size());
    }
  }
  EXPECT_EQ(wire, payload);
  EXPECT_TRUE(memory.guard_intact());  // headers went into chunks of the stack's own
  h.send_segment(kAck, h.peer_seq, end, 65535, h.peer_ack_options());
  EXPECT_EQ(memory.released, 1);
}

TEST(TcpZeroCopy, EndpointWriteOfABufferRespectsTheSendBuffer) {
  TcpHarness h;
  auto ep = h.connect();
  ep->set_send_buffer(16 * 1024);
  const auto payload = pattern(100 * 1000, 5);
  PacketBuffer data = PacketBuffer::from_bytes(payload);
  auto n = ep->write(data);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 16u * 1024);
  EXPECT_EQ(data.size(), payload.size() - 16 * 1024);
  EXPECT_EQ(ep->connection()->send_queue_bytes(), 16u * 1024);
  EXPECT_EQ(ep->write(data).error(), Error::kWouldBlock);
  EXPECT_EQ(data.size(), payload.size() - 16 * 1024);
}

// Sends `count` segments of `size` bytes from the peer.
std::vector<std::byte> receive(TcpHarness& h, size_t count, size_t size, uint64_t seed) {
  std::vector<std::byte> all;
  for (size_t i = 0; i < count; ++i) {
    const auto part = pattern(size, seed + i);
    h.send_segment(kAck | kPsh, h.peer_seq, h.local_seq, 65535, h.peer_ack_options(), part);
    h.peer_seq = h.peer_seq + static_cast<uint32_t>(size);
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

TEST(TcpZeroCopy, ReadViewsLendTheQueuedBytesAndConsumeAdvances) {
  TcpHarness h;
  auto ep = h.connect();
  EXPECT_EQ(ep->read_views().error(), Error::kWouldBlock);
  const auto sent = receive(h, 5, 1000, 10);
  auto views = ep->read_views();
  ASSERT_TRUE(views);
  std::vector<std::byte> got;
  const std::vector<ByteView> first(views->begin(), views->end());
  for (ByteView v : first) got.insert(got.end(), v.begin(), v.end());
  EXPECT_EQ(got, sent);
  // Where byte `offset` of the stream sits in the memory first lent.
  auto address_of = [&](size_t offset) -> const std::byte* {
    for (ByteView v : first) {
      if (offset < v.size()) return v.data() + offset;
      offset -= v.size();
    }
    return nullptr;
  };
  // Asking again lends the same memory: nothing was copied out or moved.
  auto again = ep->read_views(1500);
  ASSERT_TRUE(again);
  ASSERT_FALSE(again->empty());
  EXPECT_EQ((*again)[0].data(), address_of(0));
  size_t lent = 0;
  for (ByteView v : *again) lent += v.size();
  EXPECT_EQ(lent, 1500u);
  std::vector<ByteView> queued;
  ep->connection()->receive_queue().lend(SIZE_MAX, queued);
  EXPECT_EQ(queued[0].data(), address_of(0));

  EXPECT_EQ(ep->consume(1500).value(), 1500u);
  views = ep->read_views();
  ASSERT_TRUE(views);
  EXPECT_EQ((*views)[0].data(), address_of(1500));
  EXPECT_EQ(ep->consume(10000).value(), sent.size() - 1500);
  EXPECT_EQ(ep->read_views().error(), Error::kWouldBlock);

  // End of stream reads as an empty span, as read() returns 0.
  h.send_segment(kAck | tcp::kFin, h.peer_seq, h.local_seq, 65535, h.peer_ack_options());
  views = ep->read_views();
  ASSERT_TRUE(views);
  EXPECT_TRUE(views->empty());
}

// consume() opens the window exactly as read() does: the same segments leave, in the same
// order, with the same windows.
TEST(TcpZeroCopy, ConsumeSendsTheWindowUpdatesReadSends) {
  tcp::TcpOptions options;
  options.receive_buffer = 32 * 1024;
  options.receive_autotune = false;
  auto run = [&](bool zero_copy) {
    TcpHarness h(options);
    auto ep = h.connect();
    receive(h, 30, 1000, 20);  // most of the window
    h.drain();
    std::vector<std::byte> buf(4000);
    for (int i = 0; i < 7; ++i) {
      if (zero_copy) {
        auto views = ep->read_views(4000);
        EXPECT_TRUE(views);
        EXPECT_EQ(ep->consume(4000).value(), 4000u);
      } else {
        EXPECT_EQ(ep->read(buf).value(), 4000u);
      }
    }
    std::vector<std::pair<uint8_t, uint16_t>> segments;
    while (auto s = h.next_segment()) segments.emplace_back(s->flags, s->window);
    return segments;
  };
  const auto by_read = run(false);
  const auto by_consume = run(true);
  EXPECT_FALSE(by_read.empty());  // the window opened enough to announce
  EXPECT_EQ(by_consume, by_read);
}

}  // namespace
}  // namespace weir::testing
