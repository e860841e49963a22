// Retransmission timing and backoff (RFC 6298), SYN retries, RACK-TLP probes, zero-window
// probing, keepalive, delayed ACKs; all on the manual clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tcp/connection.h"
#include "tests/testing/tcp_harness.h"

namespace weir::tcp {
namespace {

using ::testing::AllOf;
using weir::testing::AckIs;
using weir::testing::CapturedSegment;
using weir::testing::HasFlags;
using weir::testing::PayloadSize;
using weir::testing::SeqIs;
using weir::testing::TcpHarness;

// Advances 1 ms at a time until a segment appears; returns the time waited.
Duration wait_for_segment(TcpHarness& h, Duration limit) {
  Duration waited{0};
  while (h.pending() == 0 && waited < limit) {
    h.advance(std::chrono::milliseconds(1));
    waited += std::chrono::milliseconds(1);
  }
  return waited;
}

TEST(TcpTimers, SynRetransmitsWithExponentialBackoffThenTimesOut) {
  TcpOptions o;
  o.syn_retries = 3;
  TcpHarness h(o);
  auto ep = Endpoint::create(h.stack, AddressFamily::kIpv4);
  (void)ep->connect(SocketAddress{h.remote_address, h.remote_port});
  auto syn = h.expect_segment(HasFlags(kSyn));
  // RFC 6298 2.1: initial RTO 1 s, doubling.
  for (int64_t expected_ms : {1000, 2000, 4000}) {
    Duration waited = wait_for_segment(h, std::chrono::seconds(10));
    EXPECT_GE(waited, std::chrono::milliseconds(expected_ms));
    EXPECT_LE(waited, std::chrono::milliseconds(expected_ms + 2));
    h.expect_segment(AllOf(HasFlags(kSyn), SeqIs(syn.seq)));
  }
  h.advance(std::chrono::seconds(9));
  EXPECT_EQ(ep->connection()->state(), State::kClosed);
  EXPECT_EQ(ep->take_error(), Error::kTimedOut);
  EXPECT_EQ(h.counter("syn_retransmits"), 3u);
}

TEST(TcpTimers, DataRtoBacksOffWithinBounds) {
  TcpOptions o;
  o.tlp = false;
  TcpHarness h(o);
  auto ep = h.connect();
  Duration rto = ep->connection()->rtt().rto();
  EXPECT_EQ(rto, std::chrono::milliseconds(200));  // clamped to the configured minimum
  ASSERT_EQ(*ep->write(as_bytes("hello")), 5u);
  h.expect_segment(PayloadSize(5));
  Duration expected = rto;
  for (int i = 0; i < 4; ++i) {
    Duration waited = wait_for_segment(h, std::chrono::seconds(60));
    EXPECT_GE(waited, expected);
    EXPECT_LE(waited, expected + std::chrono::milliseconds(2));
    h.expect_segment(AllOf(SeqIs(h.local_seq), PayloadSize(5)));
    expected *= 2;
  }
  EXPECT_EQ(h.counter("rto_timeouts"), 4u);
  EXPECT_EQ(ep->info().tcpi_backoff, 4);
  // An ACK ends the backoff.
  h.send_segment(kAck, h.peer_seq, h.local_seq + 5, 1000, h.peer_ack_options());
  EXPECT_EQ(ep->connection()->rtt().backoff_count(), 0u);
}

TEST(TcpTimers, RtoGivesUpAfterRetries) {
  TcpOptions o;
  o.tlp = false;
  o.retries = 3;
  TcpHarness h(o);
  auto ep = h.connect();
  ASSERT_EQ(*ep->write(as_bytes("x")), 1u);
  h.advance(std::chrono::seconds(10));
  EXPECT_EQ(ep->connection()->state(), State::kClosed);
  EXPECT_EQ(ep->take_error(), Error::kTimedOut);
}

TEST(TcpTimers, RtoMinimumIsConfigurable) {
  TcpOptions o;
  o.tlp = false;
  o.rto.min = std::chrono::milliseconds(50);
  TcpHarness h(o);
  auto ep = h.connect();
  ASSERT_EQ(*ep->write(as_bytes("x")), 1u);
  h.drain();
  Duration waited = wait_for_segment(h, std::chrono::seconds(2));
  EXPECT_GE(waited, std::chrono::milliseconds(50));
  EXPECT_LE(waited, std::chrono::milliseconds(52));
}

TEST(TcpTimers, TailLossProbeRetransmitsLastSegment) {
  TcpHarness h;
  auto ep = h.connect();
  ep->set_no_delay(true);
  std::vector<std::byte> data(3000, std::byte{1});
  ASSERT_EQ(*ep->write(data), 3000u);
  h.expect_segment(PayloadSize(1448));
  h.expect_segment(PayloadSize(1448));
  auto last = h.expect_segment(PayloadSize(104));
  Duration rto = ep->connection()->rtt().rto();
  Duration waited = wait_for_segment(h, std::chrono::seconds(2));
  // PTO = 2*SRTT (2 ms here) < RTO: the probe comes first.
  EXPECT_LT(waited, rto);
  h.expect_segment(AllOf(SeqIs(last.seq), PayloadSize(104)));
  EXPECT_EQ(h.counter("tlp_probes"), 1u);
  // Then the RTO proper.
  wait_for_segment(h, std::chrono::seconds(2));
  h.expect_segment(SeqIs(h.local_seq));
  EXPECT_EQ(h.counter("rto_timeouts"), 1u);
}

TEST(TcpTimers, TailLossProbeSendsNewDataWhenAvailable) {
  TcpHarness h;
  auto ep = h.connect();
  ASSERT_EQ(*ep->write(as_bytes("a")), 1u);
  h.expect_segment(PayloadSize(1));
  std::vector<std::byte> data(3000, std::byte{1});
  ASSERT_EQ(*ep->write(data), 3000u);
  h.expect_segment(PayloadSize(1448));
  h.expect_segment(PayloadSize(1448));
  h.expect_no_segment();  // Nagle holds the small tail while the first small one is in flight
  Duration waited = wait_for_segment(h, std::chrono::seconds(2));
  EXPECT_LT(waited, ep->connection()->rtt().rto());
  h.expect_segment(AllOf(SeqIs(h.local_seq + 1 + 2896), PayloadSize(104)));
  EXPECT_EQ(h.counter("tlp_new_data"), 1u);
}

TEST(TcpTimers, ZeroWindowProbesBackOffAndResume) {
  TcpOptions o;
  o.tlp = false;
  TcpHarness h(o);
  auto ep = h.connect();
  // The peer closes its window.
  h.send_segment(kAck, h.peer_seq, h.local_seq, 0, h.peer_ack_options());
  ASSERT_EQ(*ep->write(as_bytes("blocked")), 7u);
  h.expect_no_segment();
  Duration prev{0};
  for (int i = 0; i < 3; ++i) {
    Duration waited = wait_for_segment(h, std::chrono::seconds(60));
    EXPECT_GT(waited, prev);
    prev = waited;
    h.expect_segment(AllOf(HasFlags(kAck), SeqIs(h.local_seq - 1), PayloadSize(0)));
    h.send_segment(kAck, h.peer_seq, h.local_seq, 0, h.peer_ack_options());
  }
  EXPECT_EQ(h.counter("zero_window_probes"), 3u);
  EXPECT_EQ(ep->connection()->state(), State::kEstablished);  // never gives up
  h.send_segment(kAck, h.peer_seq, h.local_seq, 100, h.peer_ack_options());
  h.expect_segment(AllOf(SeqIs(h.local_seq), PayloadSize(7)));
}

TEST(TcpTimers, KeepaliveProbesThenTimesOut) {
  TcpHarness h;
  auto ep = h.connect();
  ep->set_keepalive_params(std::chrono::seconds(10), std::chrono::seconds(2), 3);
  ep->set_keepalive(true);
  h.advance(std::chrono::milliseconds(9990));
  h.expect_no_segment();
  h.advance(std::chrono::milliseconds(20));
  h.expect_segment(AllOf(HasFlags(kAck), SeqIs(h.local_seq - 1), PayloadSize(0)));
  // Answered: idle again.
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());
  h.advance(std::chrono::seconds(5));
  h.expect_no_segment();
  h.advance(std::chrono::seconds(6));
  h.expect_segment(SeqIs(h.local_seq - 1));
  h.advance(std::chrono::seconds(2));
  h.expect_segment(SeqIs(h.local_seq - 1));
  h.advance(std::chrono::seconds(2));
  h.expect_segment(SeqIs(h.local_seq - 1));
  h.advance(std::chrono::seconds(2));
  EXPECT_EQ(ep->connection()->state(), State::kClosed);
  EXPECT_EQ(ep->take_error(), Error::kTimedOut);
  EXPECT_EQ(h.counter("keepalive_probes"), 4u);
}

TEST(TcpTimers, DelayedAckAfterQuickAcks) {
  TcpHarness h;
  auto ep = h.connect();
  std::vector<std::byte> seg(100, std::byte{7});
  std::vector<std::byte> sink(100000);
  // The first 16 segments are ACKed at once (quick-ACK start).
  for (int i = 0; i < 16; ++i) {
    h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(), seg);
    h.peer_seq += 100;
    h.expect_segment(AckIs(h.peer_seq));
  }
  (void)ep->read(sink);
  h.drain();
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(), seg);
  h.peer_seq += 100;
  h.expect_no_segment();
  Duration waited = wait_for_segment(h, std::chrono::seconds(1));
  EXPECT_GE(waited, std::chrono::milliseconds(40));
  EXPECT_LE(waited, std::chrono::milliseconds(42));
  h.expect_segment(AckIs(h.peer_seq));
  EXPECT_EQ(h.counter("delayed_acks"), 1u);
  // Every second segment is ACKed at once.
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(), seg);
  h.peer_seq += 100;
  h.expect_no_segment();
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(), seg);
  h.peer_seq += 100;
  h.expect_segment(AckIs(h.peer_seq));
}

TEST(TcpTimers, QuickAckOptionAcksEverySegment) {
  TcpHarness h;
  auto ep = h.connect();
  ASSERT_TRUE(ep->set_option(SocketOption::kQuickAck, 1).ok());
  std::vector<std::byte> seg(10, std::byte{7});
  for (int i = 0; i < 20; ++i) {
    h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(), seg);
    h.peer_seq += 10;
    h.expect_segment(AckIs(h.peer_seq));
  }
}

}  // namespace
}  // namespace weir::tcp
