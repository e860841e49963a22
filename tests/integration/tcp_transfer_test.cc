// TCP between two real stacks (IPv4 over an Ethernet channel), clean and lossy.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tcp/connection.h"
#include "tests/testing/tcp_network.h"
#include "tests/testing/tcp_sha256.h"

namespace weir::testing {
namespace {

using tcp::Endpoint;
using tcp::SocketOption;

// Deterministic stream content: byte i of a stream seeded s.
class StreamSource {
 public:
  StreamSource(uint64_t total, uint32_t seed) : total_(total), rng_(seed) {}
  // Next chunk of up to n bytes (stays valid until the next call).
  ByteView peek(size_t n) {
    if (buf_pos_ == buf_.size()) {
      size_t len = static_cast<size_t>(std::min<uint64_t>(64 * 1024, total_ - produced_));
      buf_.resize(len);
      rng_.fill(buf_);
      produced_ += len;
      buf_pos_ = 0;
    }
    return ByteView(buf_).subspan(buf_pos_, std::min(n, buf_.size() - buf_pos_));
  }
  void consume(size_t n) {
    sha_.update(ByteView(buf_).subspan(buf_pos_, n));
    buf_pos_ += n;
    sent_ += n;
  }
  bool done() const { return sent_ == total_; }
  std::string hex() { return sha_.hex(); }

 private:
  uint64_t total_;
  Rng rng_;
  std::vector<std::byte> buf_;
  size_t buf_pos_ = 0;
  uint64_t produced_ = 0;
  uint64_t sent_ = 0;
  Sha256 sha_;
};

struct Direction {
  Endpoint* writer;
  Endpoint* reader;
  StreamSource source;
  Sha256 sink;
  uint64_t received = 0;
  bool fin_sent = false;
  bool eof = false;

  // Moves bytes; returns whether anything happened.
  bool step(std::vector<std::byte>& buf) {
    bool progress = false;
    while (!source.done()) {
      ByteView chunk = source.peek(64 * 1024);
      auto n = writer->write(chunk);
      if (!n.ok() || *n == 0) break;
      source.consume(*n);
      progress = true;
    }
    if (source.done() && !fin_sent) {
      EXPECT_TRUE(writer->shutdown(tcp::ShutdownHow::kWrite).ok());
      fin_sent = true;
      progress = true;
    }
    while (!eof) {
      auto n = reader->read(buf);
      if (!n.ok()) {
        EXPECT_EQ(n.error(), Error::kWouldBlock);
        break;
      }
      if (*n == 0) {
        eof = true;
        progress = true;
        break;
      }
      sink.update(ByteView(buf).first(*n));
      received += *n;
      progress = true;
    }
    return progress;
  }
};

// listener_receive_buffer: SO_RCVBUF on b's listener (its connections inherit it), 0 to leave it.
std::pair<std::unique_ptr<Endpoint>, std::unique_ptr<Endpoint>> connect_pair(
    TcpNetwork& net, uint32_t listener_receive_buffer = 0) {
  auto listener = Endpoint::create(*net.b().stack, AddressFamily::kIpv4);
  if (listener_receive_buffer != 0) listener->set_receive_buffer(listener_receive_buffer);
  EXPECT_TRUE(listener->bind(SocketAddress{net.b().address, 5001}).ok());
  EXPECT_TRUE(listener->listen(8).ok());
  auto client = Endpoint::create(*net.a().stack, AddressFamily::kIpv4);
  auto st = client->connect(SocketAddress{net.b().address, 5001});
  EXPECT_EQ(st.error(), Error::kInProgress);
  std::unique_ptr<Endpoint> server;
  EXPECT_TRUE(net.run_until(
      [&] {
        if (!server) {
          auto r = listener->accept();
          if (r.ok()) server = std::move(*r);
        }
        return server != nullptr && (client->readiness() & kEventWritable) != 0;
      },
      std::chrono::seconds(30)));
  return {std::move(client), std::move(server)};
}

// Returns the simulated time the transfer took.
Duration transfer(TcpNetwork& net, Endpoint& a, Endpoint& b, uint64_t bytes_a_to_b,
                  uint64_t bytes_b_to_a, Duration limit) {
  Direction ab{&a, &b, StreamSource(bytes_a_to_b, 1), {}};
  Direction ba{&b, &a, StreamSource(bytes_b_to_a, 2), {}};
  std::vector<std::byte> buf(64 * 1024);
  Duration elapsed{0};
  while (!(ab.eof && ba.eof) && elapsed < limit) {
    bool progress = ab.step(buf);
    progress |= ba.step(buf);
    size_t moved = net.step(512);
    if (!progress && moved == 0) {
      net.clock().advance(std::chrono::milliseconds(1));
      elapsed += std::chrono::milliseconds(1);
    }
  }
  EXPECT_TRUE(ab.eof && ba.eof) << "a->b " << ab.received << " of " << bytes_a_to_b << ", b->a "
                                << ba.received << " of " << bytes_b_to_a;
  EXPECT_EQ(ab.received, bytes_a_to_b);
  EXPECT_EQ(ba.received, bytes_b_to_a);
  EXPECT_EQ(ab.sink.hex(), ab.source.hex());
  EXPECT_EQ(ba.sink.hex(), ba.source.hex());
  return elapsed;
}

void transfer(TcpNetwork& net, Endpoint& a, Endpoint& b, uint64_t bytes_each_way, Duration limit) {
  transfer(net, a, b, bytes_each_way, bytes_each_way, limit);
}

uint64_t counter(Stack& s, std::string_view name) {
  uint64_t v = 0;
  s.counters().for_each([&](std::string_view g, std::string_view n, uint64_t value) {
    if (g == "tcp" && n == name) v = value;
  });
  return v;
}

void print_counters(const char* who, Stack& s) {
  std::string line;
  s.counters().for_each([&](std::string_view g, std::string_view n, uint64_t value) {
    if (g == "tcp" && value != 0) line += std::string(n) + "=" + std::to_string(value) + " ";
  });
  std::printf("%s tcp: %s\n", who, line.c_str());
}

TEST(TcpIntegration, ConnectTransferClose) {
  TcpNetwork net;
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  transfer(net, *a, *b, 1 << 20, std::chrono::seconds(60));
  a->close();
  b->close();
  net.advance(std::chrono::seconds(61));  // TIME-WAIT runs out
  net.advance(std::chrono::milliseconds(5));
  EXPECT_EQ(a->readiness() & kEventHangup, kEventHangup);
  a.reset();
  b.reset();
  net.advance(std::chrono::milliseconds(5));
  EXPECT_EQ(net.a().tcp->connection_count(), 0u);
  EXPECT_EQ(net.b().tcp->connection_count(), 0u);
  EXPECT_EQ(counter(*net.a().stack, "retransmitted_segments"), 0u);
}

TEST(TcpIntegration, LossyLink64MiBEachWay) {
  TcpNetworkOptions o;
  for (auto* f : {&o.fault_a, &o.fault_b}) {
    f->drop = 0.02;
    f->reorder = 0.01;
    f->duplicate = 0.01;
  }
  o.fault_a.seed = 7;
  o.fault_b.seed = 8;
  TcpNetwork net(o);
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  uint64_t size = 64ull << 20;
  if (const char* env = std::getenv("WEIR_TCP_TRANSFER_MIB")) size = std::stoull(env) << 20;
  const Duration took = transfer(net, *a, *b, size, size, std::chrono::hours(1));
  std::printf("simulated time %.3f s\n", std::chrono::duration<double>(took).count());
  print_counters("a", *net.a().stack);
  print_counters("b", *net.b().stack);
  // The loss was repaired, and the counters say how.
  for (Stack* s : {net.a().stack.get(), net.b().stack.get()}) {
    EXPECT_GT(counter(*s, "retransmitted_segments"), 0u);
    EXPECT_GT(counter(*s, "fast_retransmits") + counter(*s, "rto_timeouts"), 0u);
    EXPECT_GT(counter(*s, "sack_recoveries"), 0u);
    EXPECT_GT(counter(*s, "dsacks_sent") + counter(*s, "dsacks_received"), 0u);
    EXPECT_GT(counter(*s, "out_of_order_segments"), 0u);
  }
}

// A path whose bandwidth-delay product is beyond the default send buffer (256 KiB): a fixed
// buffer would hold the sender to 256 KiB per 50 ms round trip, 6.4 s of simulated time for
// 32 MiB. The buffer grows with the congestion window as the writer finds it full (Linux's
// send-buffer autotuning), and the transfer takes a fraction of that.
TEST(TcpIntegration, ALongFatPathGrowsTheSendBuffer) {
  TcpNetworkOptions o;
  for (auto* f : {&o.fault_a, &o.fault_b}) f->delay = std::chrono::milliseconds(25);
  TcpNetwork net(o);
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->get_option(SocketOption::kSendBuffer).value_or(0), 256 * 1024);
  const Duration took = transfer(net, *a, *b, 32 << 20, 0, std::chrono::minutes(10));
  std::printf("simulated time %.3f s, send buffer %d\n",
              std::chrono::duration<double>(took).count(),
              a->get_option(SocketOption::kSendBuffer).value_or(0));
  EXPECT_GT(counter(*net.a().stack, "send_buffer_expanded"), 0u);
  EXPECT_GT(a->get_option(SocketOption::kSendBuffer).value_or(0), 1024 * 1024);
  EXPECT_LT(took, std::chrono::seconds(3));
}

// A link queue that fills (the channel takes 16 frames per direction) holds new segments back
// instead of dropping them (LinkEndpoint::transmit_room): nothing is lost or resent, and the
// window the link keeps the sender from using does not grow for it (RFC 7661), where it would
// have grown with every ACK, and the send buffer with it.
TEST(TcpIntegration, AFullLinkQueueHoldsSegmentsBackInsteadOfLosingThem) {
  TcpNetworkOptions o;
  o.queue_limit = 16;
  TcpNetwork net(o);
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  transfer(net, *a, *b, 4 << 20, 0, std::chrono::minutes(1));
  EXPECT_EQ(net.a().channel->counters().tx_drop_queue_full, 0u);
  EXPECT_EQ(counter(*net.a().stack, "retransmitted_segments"), 0u);
  EXPECT_GT(counter(*net.a().stack, "send_held_link_full"), 0u);
  EXPECT_LT(a->info().tcpi_snd_cwnd, 100u);
  EXPECT_LT(a->get_option(SocketOption::kSendBuffer).value_or(0), 1024 * 1024);
}

// A receiver whose window (a 32 KiB buffer it set) holds the sender back: the sender does not
// use its congestion window, so the window does not grow past twice what was in flight (RFC
// 7661, Linux's tcp_is_cwnd_limited), however much is acknowledged.
TEST(TcpIntegration, AWindowTheReceiverHoldsBackDoesNotGrow) {
  TcpNetwork net;
  auto [a, b] = connect_pair(net, 32 * 1024);
  ASSERT_TRUE(a && b);
  transfer(net, *a, *b, 8 << 20, 0, std::chrono::minutes(1));
  EXPECT_EQ(counter(*net.a().stack, "retransmitted_segments"), 0u);
  // 32 KiB is 22 segments of 1448 bytes.
  EXPECT_LE(a->info().tcpi_snd_cwnd, 2u * 23u);
}

// Queues n frames of other traffic from a to b on the channel (b drops them as not for it).
void fill_link_from_a(TcpNetwork& net, size_t n) {
  std::vector<PacketBuffer> other;
  for (size_t i = 0; i < n; ++i) {
    std::vector<std::byte> junk(64, std::byte{0x45});
    PacketBuffer p = PacketBuffer::from_bytes(junk);
    p.meta().network_protocol = kEtherTypeIpv4;
    other.push_back(std::move(p));
  }
  ASSERT_EQ(net.a().channel->write_packets(other).value_or(0), n);
}

// Held back by a queue full of other traffic, with nothing in flight to bring an ACK, new data
// goes when a timer tries again.
TEST(TcpIntegration, DataHeldByAFullLinkWithNothingInFlightGoesOnATimer) {
  TcpNetworkOptions o;
  o.queue_limit = 4;
  TcpNetwork net(o);
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  fill_link_from_a(net, 4);
  const uint64_t frames_before = net.a().channel->counters().tx_frames;
  const std::byte hello[5] = {std::byte{'h'}, std::byte{'e'}, std::byte{'l'}, std::byte{'l'},
                              std::byte{'o'}};
  ASSERT_EQ(a->write(hello).value_or(0), 5u);
  EXPECT_EQ(counter(*net.a().stack, "send_held_link_full"), 1u);
  EXPECT_EQ(net.a().channel->counters().tx_frames, frames_before);
  // The queue drains, but nothing tells the sender.
  net.pump();
  EXPECT_EQ(net.a().channel->counters().tx_frames, frames_before);
  std::byte buf[16];
  EXPECT_EQ(b->read(buf).error(), Error::kWouldBlock);
  net.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(b->read(buf).value_or(0), 5u);
  EXPECT_EQ(counter(*net.a().stack, "retransmitted_segments"), 0u);
  EXPECT_EQ(net.a().channel->counters().tx_drop_queue_full, 0u);
}

// Buffers grown by autotuning together stay within the stack's socket-memory pressure level
// (here 1 MiB), and a connection's growth is given back when it goes.
TEST(TcpIntegration, GrownSendBuffersStayWithinTheSocketMemoryPressureLevel) {
  TcpNetworkOptions o;
  for (auto* f : {&o.fault_a, &o.fault_b}) f->delay = std::chrono::milliseconds(25);
  TcpNetwork net(o);
  net.a().stack->socket_memory().set_limits(
      {.min = 512 * 1024, .pressure = 1024 * 1024, .max = 2 * 1024 * 1024});
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  transfer(net, *a, *b, 16 << 20, 0, std::chrono::minutes(10));
  EXPECT_GT(counter(*net.a().stack, "send_buffer_expanded"), 0u);
  EXPECT_GT(counter(*net.a().stack, "send_buffer_growth_refused"), 0u);
  EXPECT_LE(net.a().tcp->send_growth_reserved(), 1024u * 1024u);
  EXPECT_GT(net.a().tcp->send_growth_reserved(), 0u);
  EXPECT_LE(a->get_option(SocketOption::kSendBuffer).value_or(0), (256 + 1024) * 1024);
  a->close();
  b->close();
  a.reset();
  b.reset();
  net.advance(std::chrono::seconds(2));
  EXPECT_EQ(net.a().tcp->connection_count(), 0u);
  EXPECT_EQ(net.a().tcp->send_growth_reserved(), 0u);
}

// A link that stays full (nobody takes its frames) is tried again at doubling intervals, not
// every millisecond, and the data goes once it drains.
TEST(TcpIntegration, RetriesAtALinkThatStaysFullBackOff) {
  TcpNetworkOptions o;
  o.queue_limit = 4;
  TcpNetwork net(o);
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  fill_link_from_a(net, 4);
  const std::byte hello[1] = {std::byte{'h'}};
  ASSERT_EQ(a->write(hello).value_or(0), 1u);
  // 100 ms with the queue full: a's timers run, b takes nothing.
  for (int ms = 0; ms < 100; ++ms) {
    net.clock().advance(std::chrono::milliseconds(1));
    net.a().stack->run_timers();
  }
  // Held at the write, then retried 1, 2, 4, 8, 16 and 32 ms apart (at 63 ms); the next is due
  // 64 ms later, at 127 ms.
  EXPECT_EQ(counter(*net.a().stack, "send_held_link_full"), 7u);
  net.pump();
  // The retry due at 127 ms finds room: no hold more.
  std::byte buf[4];
  size_t got = 0;
  EXPECT_TRUE(net.run_until(
      [&] {
        if (got == 0) got = b->read(buf).value_or(0);
        return got == 1;
      },
      std::chrono::milliseconds(100)));
  EXPECT_EQ(counter(*net.a().stack, "send_held_link_full"), 7u);
}

// A buffer the user set stays as set.
TEST(TcpIntegration, ASendBufferTheUserSetIsNotAutotuned) {
  TcpNetworkOptions o;
  for (auto* f : {&o.fault_a, &o.fault_b}) f->delay = std::chrono::milliseconds(25);
  TcpNetwork net(o);
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  a->set_send_buffer(128 * 1024);
  transfer(net, *a, *b, 4 << 20, 0, std::chrono::minutes(10));
  EXPECT_EQ(counter(*net.a().stack, "send_buffer_expanded"), 0u);
  EXPECT_EQ(a->get_option(SocketOption::kSendBuffer).value_or(0), 128 * 1024);
}

// A path that reorders by delay alone (every frame 1-3 ms, nothing lost). The sender counts
// as D-SACKs exactly the ones the receiver sent (an ACK the path held back is no D-SACK), and
// duplicate ACKs alone start no recovery: RACK's reordering window decides; the recovery that
// RACK still starts is undone when its retransmissions prove spurious. Before all three, an
// 8 MiB transfer here took 86 recoveries for 9 retransmissions and 2.5 s of simulated time.
TEST(TcpIntegration, AJitteryPathThatLosesNothingCostsFewRetransmissions) {
  TcpNetworkOptions o;
  for (auto* f : {&o.fault_a, &o.fault_b}) {
    f->delay = std::chrono::milliseconds(1);
    f->jitter = std::chrono::milliseconds(2);
  }
  o.fault_a.seed = 3;
  o.fault_b.seed = 4;
  TcpNetwork net(o);
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  transfer(net, *a, *b, 8 << 20, 0, std::chrono::minutes(10));
  print_counters("a", *net.a().stack);
  print_counters("b", *net.b().stack);
  Stack& sender = *net.a().stack;
  EXPECT_EQ(counter(sender, "dsacks_received"), counter(*net.b().stack, "dsacks_sent"));
  // Nothing was lost: every retransmission was spurious, and the receiver said so.
  EXPECT_EQ(counter(sender, "retransmitted_segments"), counter(sender, "dsacks_received"));
  EXPECT_LE(counter(sender, "fast_retransmits"), 2u);
  // And every loss episode was undone (RFC 3708 D-SACK or RFC 4015 timestamps): no reduction of
  // the window stands where nothing was lost.
  EXPECT_GT(counter(sender, "fast_retransmits") + counter(sender, "rto_timeouts"), 0u);
  EXPECT_EQ(counter(sender, "undone_by_dsack") + counter(sender, "undone_by_timestamp"),
            counter(sender, "fast_retransmits") + counter(sender, "rto_timeouts"));
}

uint64_t link_counter(const TcpNetwork::Host& h, uint64_t link::LinkCounters::*field) {
  return h.channel->counters().*field;
}

// Over a link that segments and sums (a tap with offloads, here the channel's model of one),
// TCP hands it batches of whole segments and no checksums; the data arrives intact both ways.
TEST(TcpIntegration, GsoLinkCarriesBatchesOfSegments) {
  TcpNetworkOptions o;
  o.offloads = true;
  TcpNetwork net(o);
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  transfer(net, *a, *b, 8 << 20, std::chrono::seconds(120));
  for (TcpNetwork::Host* h : {&net.a(), &net.b()}) {
    EXPECT_GT(link_counter(*h, &link::LinkCounters::tx_gso_frames), 0u);
    EXPECT_GT(link_counter(*h, &link::LinkCounters::rx_gso_frames), 0u);
    EXPECT_EQ(link_counter(*h, &link::LinkCounters::tx_drop_too_big), 0u);
    EXPECT_EQ(counter(*h->stack, "drop_bad_checksum"), 0u);
  }
  EXPECT_EQ(counter(*net.a().stack, "retransmitted_segments"), 0u);
  // The segment counters count what reaches the wire: one per MSS, not one per batch.
  EXPECT_GT(counter(*net.a().stack, "segments_sent"),
            (8u << 20) / 1448 + link_counter(net.a(), &link::LinkCounters::tx_gso_frames));
}

// Losing one GSO frame loses every segment in it: recovery retransmits one MSS at a time
// (a record wider than the MSS is split), and the stream still arrives whole.
TEST(TcpIntegration, LossyGsoLinkRecovers) {
  TcpNetworkOptions o;
  o.offloads = true;
  for (auto* f : {&o.fault_a, &o.fault_b}) {
    f->drop = 0.02;
    f->reorder = 0.01;
    f->duplicate = 0.01;
  }
  o.fault_a.seed = 17;
  o.fault_b.seed = 18;
  TcpNetwork net(o);
  auto [a, b] = connect_pair(net);
  ASSERT_TRUE(a && b);
  transfer(net, *a, *b, 8 << 20, std::chrono::hours(1));
  for (TcpNetwork::Host* h : {&net.a(), &net.b()}) {
    EXPECT_GT(link_counter(*h, &link::LinkCounters::tx_gso_frames), 0u);
    EXPECT_GT(counter(*h->stack, "retransmitted_segments"), 0u);
    EXPECT_EQ(counter(*h->stack, "drop_bad_checksum"), 0u);
  }
}

}  // namespace
}  // namespace weir::testing
