// The stack-wide socket memory (Linux's tcp_mem) against many hostile peers: hundreds of
// connections each flooded with 1-byte out-of-order segments, every one alone in a 64 KiB
// chunk. Each connection stays within its own limit (about twice its buffer), but together
// they would pin far more than the stack's budget; the budget holds them under its hard
// limit, pressure shrinks windows and prunes out-of-order data, and when the flood stops and
// the holes are filled every stream arrives intact and the account returns to 0. No timing
// asserts: the checks are on the account and the counters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <vector>

#include "tcp/connection.h"
#include "tcp/receive_queue.h"
#include "tests/testing/tcp_harness.h"

namespace weir::tcp {
namespace {

using weir::testing::TcpHarness;

std::byte pattern(size_t conn, size_t offset) {
  return std::byte(static_cast<uint8_t>(offset * 7 + conn * 13 + 3));
}

// n bytes of connection conn's stream from offset, alone in a chunk of chunk_size bytes.
PacketBuffer in_chunk(size_t conn, size_t offset, size_t n, size_t chunk_size = 64 * 1024) {
  constexpr size_t kHeadroom = 256;
  ChunkRef chunk = Chunk::allocate(chunk_size);
  MutableByteView b = chunk->bytes().subspan(kHeadroom, n);
  for (size_t i = 0; i < n; ++i) b[i] = pattern(conn, offset + i);
  return PacketBuffer::from_chunk(std::move(chunk), kHeadroom, n);
}

struct Peer {
  std::unique_ptr<Endpoint> ep;
  uint16_t port = 0;   // the stack's local port
  SeqNum base;         // sequence number of the stream's first byte
  SeqNum ack;          // what the peer acknowledges
  uint8_t wscale = 0;  // the stack's receive window scale
  SeqNum right_edge;   // highest right window edge the stack advertised
  std::vector<std::byte> got;
};

class SocketMemoryTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kBuffer = 64 * 1024;
  static constexpr size_t kPeers = 300;
  // Small enough that 300 connections pass it many times over.
  static constexpr SocketMemoryLimits kLimits{.min = 1 << 20, .pressure = 2 << 20, .max = 3 << 20};

  SocketMemoryTest() : h(options()) {
    memory().set_limits(kLimits);
    for (size_t i = 0; i < kPeers; ++i) {
      Peer p;
      p.ep = h.connect();
      p.port = h.local_port;
      p.base = h.peer_seq;
      p.ack = h.local_seq;
      p.wscale = p.ep->info().tcpi_rcv_wscale;
      // The handshake's ACK offered the whole buffer.
      p.right_edge = p.base + kBuffer;
      peers.push_back(std::move(p));
      h.peer_seq += 100000u;  // the next peer's ISN, far from this one's
    }
  }

  static TcpOptions options() {
    TcpOptions o;
    o.receive_buffer = kBuffer;
    o.receive_autotune = false;
    return o;
  }

  SocketMemory& memory() { return h.stack.socket_memory(); }

  void send(Peer& p, size_t offset, PacketBuffer payload) {
    SegmentHeader hdr;
    hdr.source_port = h.remote_port;
    hdr.destination_port = p.port;
    hdr.seq = p.base + static_cast<uint32_t>(offset);
    hdr.ack = p.ack;
    hdr.flags = kAck;
    hdr.window = 65535;
    hdr.options = h.peer_ack_options();
    h.send_segment_header(hdr, std::move(payload));
    check_acks(p);
  }

  // What the stack answered: the right edge of its window never moves back (RFC 9293 3.8.6).
  void check_acks(Peer& p) {
    while (auto s = h.next_segment()) {
      if (s->destination_port != h.remote_port || s->source_port != p.port) continue;
      SeqNum edge = s->ack + (uint32_t{s->window} << p.wscale);
      EXPECT_GE(edge, p.right_edge) << "port " << p.port;
      p.right_edge = std::max(p.right_edge, edge);
      max_window = std::max<size_t>(max_window, uint32_t{s->window} << p.wscale);
    }
  }

  void read_all(Peer& p) {
    std::vector<std::byte> buf(64 * 1024);
    while (true) {
      auto r = p.ep->read(buf);
      if (!r || *r == 0) break;
      p.got.insert(p.got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*r));
    }
  }

  // The sum of every connection's charge, as the queues count it.
  size_t queues_charged() const {
    size_t sum = 0;
    for (const Peer& p : peers) sum += p.ep->connection()->receive_queue().charged();
    return sum;
  }

  TcpHarness h;
  std::vector<Peer> peers;
  size_t max_window = 0;
};

TEST_F(SocketMemoryTest, ManyHostilePeersStayUnderTheHardLimit) {
  // Each round sends every connection one byte beyond a new hole.
  constexpr size_t kRounds = 400;
  size_t peak = 0;
  for (size_t round = 0; round < kRounds; ++round) {
    for (size_t i = 0; i < kPeers; ++i) {
      send(peers[i], 2 * round + 1, in_chunk(i, 2 * round + 1, 1));
      peak = std::max(peak, memory().used());
    }
  }
  EXPECT_EQ(memory().used(), queues_charged());
  const uint64_t entered = memory().counters().pressure_entered;
  EXPECT_GE(entered, 1u);
  EXPECT_TRUE(memory().under_pressure());
  // Nothing beyond a hole is taken past the hard limit, so the account never passes it.
  EXPECT_LE(peak, kLimits.max);
  EXPECT_EQ(memory().peak(), peak);
  EXPECT_EQ(memory().counters().refused, h.counter("drop_memory_hard_limit"));
  EXPECT_GT(h.counter("ofo_pruned_pressure") + h.counter("drop_memory_hard_limit") +
                h.counter("drop_memory_pressure"),
            0u);
  EXPECT_GT(h.counter("window_clamped_pressure"), 0u);
  // Without the budget: each connection's own limit is twice its 64 KiB buffer.
  std::printf(
      "%zu peers x %zu rounds: peak %zu (min %zu pressure %zu max %zu, own limits would allow "
      "%zu); pruned under pressure %llu, dropped at pressure %llu, at hard limit %llu, "
      "pruned by own limit %llu, windows clamped %llu\n",
      kPeers, kRounds, peak, kLimits.min, kLimits.pressure, kLimits.max, kPeers * 2 * kBuffer,
      static_cast<unsigned long long>(h.counter("ofo_pruned_pressure")),
      static_cast<unsigned long long>(h.counter("drop_memory_pressure")),
      static_cast<unsigned long long>(h.counter("drop_memory_hard_limit")),
      static_cast<unsigned long long>(h.counter("ofo_pruned")),
      static_cast<unsigned long long>(h.counter("window_clamped_pressure")));

  // The flood stops; each peer now sends its stream in order, from what the reader has, in
  // full segments, and retransmits what the stack pruned or dropped until all has arrived.
  const size_t total = 2 * kRounds + 1;
  size_t in_order_peak = 0;
  for (size_t i = 0; i < kPeers; ++i) {
    Peer& p = peers[i];
    for (int tries = 0; p.got.size() < total && tries < 10; ++tries) {
      const size_t from = p.got.size();
      const size_t n = std::min<size_t>(1448, total - from);
      send(p, from, in_chunk(i, from, n, 2048));
      in_order_peak = std::max(in_order_peak, memory().used());
      read_all(p);
    }
  }
  for (size_t i = 0; i < kPeers; ++i) {
    ASSERT_EQ(peers[i].got.size(), total) << "peer " << i;
    for (size_t k = 0; k < total; ++k) ASSERT_EQ(peers[i].got[k], pattern(i, k)) << i << " " << k;
  }
  // In-order data may pass the hard limit only by each connection's small floor.
  EXPECT_LE(in_order_peak, kLimits.max + kPeers * 4096);
  EXPECT_EQ(memory().used(), 0u);
  EXPECT_FALSE(memory().under_pressure());
  EXPECT_GE(memory().counters().pressure_left, 1u);
  std::printf("after the holes were filled: peak %zu, pressure entered %llu left %llu\n",
              in_order_peak, static_cast<unsigned long long>(memory().counters().pressure_entered),
              static_cast<unsigned long long>(memory().counters().pressure_left));
}

TEST_F(SocketMemoryTest, WindowsOpenOnlyFourSegmentsUnderPressure) {
  // Push the stack under pressure with out-of-order data on most connections.
  for (size_t round = 0; round < 200 && !memory().under_pressure(); ++round) {
    for (size_t i = 0; i + 10 < kPeers; ++i)
      send(peers[i], 2 * round + 1, in_chunk(i, 2 * round + 1, 1));
  }
  ASSERT_TRUE(memory().under_pressure());
  // A quiet connection reads two buffers' worth, its peer sending what the window allows:
  // unclamped, each read would open the window to the whole 64 KiB buffer; under pressure it
  // opens to four segments (the first 64 KiB promised before stays promised).
  Peer& p = peers[kPeers - 1];
  size_t offset = 0;
  for (int k = 0; k < 200 && offset < 2 * kBuffer; ++k) {
    if (p.base + static_cast<uint32_t>(offset + 1448) > p.right_edge) break;
    send(p, offset, in_chunk(kPeers - 1, offset, 1448, 2048));
    offset += 1448;
    read_all(p);
  }
  ASSERT_EQ(p.got.size(), offset);
  EXPECT_GT(offset, size_t{kBuffer});  // past the first window: it kept opening
  const auto window =
      static_cast<uint32_t>(p.right_edge - (p.base + static_cast<uint32_t>(offset)));
  EXPECT_LE(window, 4u * 1460u + (1u << p.wscale));
  EXPECT_GT(h.counter("window_clamped_pressure"), 0u);
  std::printf("under pressure: %zu bytes moved, window left %u\n", offset, window);
}

TEST_F(SocketMemoryTest, ClosingEverythingReturnsTheAccountToZero) {
  for (size_t round = 0; round < 100; ++round) {
    for (size_t i = 0; i < kPeers; ++i)
      send(peers[i], 2 * round + 1, in_chunk(i, 2 * round + 1, 1));
  }
  // Some connections also hold data in order that no one read.
  for (size_t i = 0; i < kPeers; i += 3) send(peers[i], 0, in_chunk(i, 0, 1, 2048));
  ASSERT_GT(memory().used(), 0u);
  EXPECT_EQ(memory().used(), queues_charged());
  EXPECT_EQ(memory().sockets(), kPeers);
  // Half close, half are destroyed open; the connections then run down their timers.
  for (size_t i = 0; i < kPeers; i += 2) peers[i].ep->close();
  peers.clear();
  EXPECT_EQ(memory().used(), 0u);
  // The peers never answer: the connections give up their FINs and go.
  for (int i = 0; i < 60; ++i) {
    h.advance(std::chrono::minutes(1));
    h.drain();
  }
  EXPECT_EQ(memory().sockets(), 0u);
}

}  // namespace
}  // namespace weir::tcp
