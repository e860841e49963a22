// Retransmission timing and backoff (RFC 6298), SYN retries, RACK-TLP probes, zero-window
// probing, keepalive, delayed ACKs; all on the manual clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

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

// Advances 1 ms at a time until done() holds, answering every segment with a zero-window ACK
// when asked (a peer that never opens); returns the time waited.
Duration wait_until(TcpHarness& h, const std::function<bool()>& done, Duration limit,
                    bool answer_zero_window_probes = false) {
  Duration waited{0};
  while (!done() && waited < limit) {
    h.advance(std::chrono::milliseconds(1));
    waited += std::chrono::milliseconds(1);
    if (answer_zero_window_probes) {
      while (h.next_segment()) {
        h.send_segment(kAck, h.peer_seq, h.local_seq, 0, h.peer_ack_options());
      }
    }
  }
  return waited;
}

Duration wait_for_close(TcpHarness& h, const Endpoint& ep, Duration limit,
                        bool answer_zero_window_probes = false) {
  return wait_until(
      h, [&] { return ep.connection()->state() == State::kClosed; }, limit,
      answer_zero_window_probes);
}

// Until the stack holds no connection (an orphan has gone).
Duration wait_for_no_connection(TcpHarness& h, Duration limit,
                                bool answer_zero_window_probes = false) {
  return wait_until(
      h, [&] { return h.tcp->connection_count() == 0; }, limit, answer_zero_window_probes);
}

// TCP_USER_TIMEOUT (RFC 5482): unacknowledged data ends the connection when the timeout has
// run since it was sent, not after the retry count (here 2, which alone would end it after the
// third RTO, at 1.4 s). The RTOs at 0.2, 0.6 and 1.4 s back off as usual; the last one is cut
// to fire when the 3 s run out, as Linux's tcp_clamp_rto_to_user_timeout.
TEST(TcpTimers, UserTimeoutEndsUnacknowledgedDataOnTimeWhateverTheRetryCount) {
  TcpOptions o;
  o.tlp = false;
  o.retries = 2;
  TcpHarness h(o);
  auto ep = h.connect();
  ASSERT_TRUE(ep->set_option(SocketOption::kUserTimeout, 3000).ok());
  EXPECT_EQ(ep->get_option(SocketOption::kUserTimeout).value_or(0), 3000);
  ASSERT_EQ(*ep->write(as_bytes("x")), 1u);
  h.drain();
  const Duration waited = wait_for_close(h, *ep, std::chrono::seconds(20));
  EXPECT_GE(waited, std::chrono::milliseconds(3000));
  EXPECT_LE(waited, std::chrono::milliseconds(3002));
  EXPECT_EQ(h.counter("rto_timeouts"), 3u);
  EXPECT_EQ(ep->take_error(), Error::kTimedOut);
}

// An ACK of new data stops the clock: a connection that keeps making progress, however slowly,
// lives past the timeout.
TEST(TcpTimers, UserTimeoutCountsFromTheLastProgress) {
  TcpOptions o;
  o.tlp = false;
  TcpHarness h(o);
  auto ep = h.connect();
  ep->set_no_delay(true);
  ASSERT_TRUE(ep->set_option(SocketOption::kUserTimeout, 1000).ok());
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(*ep->write(as_bytes("x")), 1u);
    // Lost (one RTO or more), acknowledged after 0.9 s: each stall is shorter than the
    // timeout, all of them together much longer.
    for (int ms = 0; ms < 900; ++ms) h.advance(std::chrono::milliseconds(1));
    while (h.next_segment()) {
    }
    h.local_seq += 1;
    h.send_segment(kAck, h.peer_seq, h.local_seq, 65535, h.peer_ack_options());
    ASSERT_EQ(ep->connection()->state(), State::kEstablished) << i;
  }
  EXPECT_GE(h.counter("rto_timeouts"), 4u);
  // The first RTO never ends a connection (it starts the clock), so the end comes at the
  // timeout or just after that RTO, whichever is later.
  const Duration rto = ep->connection()->rtt().rto();
  ASSERT_EQ(*ep->write(as_bytes("x")), 1u);
  const Duration waited = wait_for_close(h, *ep, std::chrono::seconds(20));
  EXPECT_GE(waited, std::chrono::milliseconds(1000));
  EXPECT_LE(waited, std::max<Duration>(std::chrono::milliseconds(1000),
                                       rto + std::chrono::milliseconds(1)) +
                        std::chrono::milliseconds(2));
  EXPECT_EQ(ep->take_error(), Error::kTimedOut);
}

// A peer that answers every zero-window probe but never opens its window holds a connection for
// ever (RFC 9293 3.8.6.1; ZeroWindowProbesBackOffAndResume), unless the user set a timeout:
// then it ends that long after probing began (the first probe, at 0.2 s), as Linux's
// tcp_probe_timer.
TEST(TcpTimers, UserTimeoutEndsZeroWindowProbingThatNeverOpens) {
  TcpOptions o;
  o.tlp = false;
  TcpHarness h(o);
  auto ep = h.connect();
  ASSERT_TRUE(ep->set_option(SocketOption::kUserTimeout, 5000).ok());
  h.send_segment(kAck, h.peer_seq, h.local_seq, 0, h.peer_ack_options());
  ASSERT_EQ(*ep->write(as_bytes("blocked")), 7u);
  const Duration waited = wait_for_close(h, *ep, std::chrono::seconds(60), true);
  EXPECT_GE(waited, std::chrono::milliseconds(5200));
  EXPECT_LE(waited, std::chrono::milliseconds(5202));
  EXPECT_EQ(h.counter("zero_window_probes"), 4u);
  EXPECT_EQ(ep->take_error(), Error::kTimedOut);
}

// With TCP_USER_TIMEOUT, keepalive gives up once a probe went unanswered and the peer has been
// silent that long, not after TCP_KEEPCNT probes (Linux's tcp_keepalive_timer).
TEST(TcpTimers, UserTimeoutDecidesWhenKeepaliveGivesUp) {
  TcpHarness h;
  auto ep = h.connect();
  ep->set_keepalive_params(std::chrono::seconds(10), std::chrono::seconds(2), 100);
  ep->set_keepalive(true);
  ASSERT_TRUE(ep->set_option(SocketOption::kUserTimeout, 15000).ok());
  // Probes at 10, 12 and 14 s go unanswered; at 16 s the peer has been silent 16 s > 15 s.
  const Duration waited = wait_for_close(h, *ep, std::chrono::seconds(60));
  EXPECT_GE(waited, std::chrono::milliseconds(16000));
  EXPECT_LE(waited, std::chrono::milliseconds(16002));
  EXPECT_EQ(h.counter("keepalive_probes"), 3u);
  EXPECT_EQ(ep->take_error(), Error::kTimedOut);
}

// The handshake too: SYNs are resent until the timeout, whatever tcp_syn_retries says.
TEST(TcpTimers, UserTimeoutBoundsTheHandshake) {
  TcpOptions o;
  o.syn_retries = 1;
  TcpHarness h(o);
  auto ep = Endpoint::create(h.stack, AddressFamily::kIpv4);
  ASSERT_TRUE(ep->set_option(SocketOption::kUserTimeout, 4000).ok());
  (void)ep->connect(SocketAddress{h.remote_address, h.remote_port});
  // SYNs at 0, 1 and 3 s; the next RTO (at 7 s) is cut to 4 s.
  const Duration waited = wait_for_close(h, *ep, std::chrono::seconds(60));
  EXPECT_GE(waited, std::chrono::milliseconds(4000));
  EXPECT_LE(waited, std::chrono::milliseconds(4002));
  EXPECT_EQ(h.counter("syn_retransmits"), 2u);
  EXPECT_EQ(ep->take_error(), Error::kTimedOut);
}

// A connection its user closed and let go of (an orphan) whose peer answers every zero-window
// probe but never opens: no reader waits for that data, so after tcp_orphan_retries (8) probes
// it ends (Linux's tcp_probe_timer) instead of holding its memory for ever.
TEST(TcpTimers, AnOrphanBehindAWindowThatNeverOpensEnds) {
  TcpOptions o;
  o.tlp = false;
  TcpHarness h(o);
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq, h.local_seq, 0, h.peer_ack_options());
  ASSERT_EQ(*ep->write(as_bytes("blocked")), 7u);
  ep->close();
  ep.reset();
  ASSERT_EQ(h.tcp->connection_count(), 1u);
  wait_for_no_connection(h, std::chrono::seconds(300), true);
  EXPECT_EQ(h.tcp->connection_count(), 0u);
  EXPECT_EQ(h.counter("zero_window_probes"), 8u);
  EXPECT_EQ(h.counter("timeouts"), 1u);
}

// An orphan gives up unacknowledged data after tcp_orphan_retries RTOs, not tcp_retries2.
TEST(TcpTimers, AnOrphanGivesUpAfterTheOrphanRetries) {
  TcpOptions o;
  o.tlp = false;
  o.orphan_retries = 3;
  TcpHarness h(o);
  auto ep = h.connect();
  ASSERT_EQ(*ep->write(as_bytes("lost")), 4u);
  ep->close();
  ep.reset();
  wait_for_no_connection(h, std::chrono::seconds(60));
  EXPECT_EQ(h.tcp->connection_count(), 0u);
  EXPECT_EQ(h.counter("rto_timeouts"), 3u);
  EXPECT_EQ(h.counter("timeouts"), 1u);
}

// Past the stack's hard memory limit an orphan is reset at its next retransmission (Linux's
// tcp_out_of_resources), giving its memory back; a connection still in use is not.
TEST(TcpTimers, OrphansAreResetWhenTheStackIsOutOfMemory) {
  TcpOptions o;
  o.tlp = false;
  TcpHarness h(o);
  auto kept = h.connect();
  const uint16_t kept_port = h.local_port;
  ASSERT_EQ(*kept->write(as_bytes("in use")), 6u);
  h.expect_segment(PayloadSize(6));
  h.peer_seq += 100000u;  // the second connection's ISN, far from the first's
  auto orphan = h.connect();
  const uint16_t orphan_port = h.local_port;
  ASSERT_EQ(*orphan->write(as_bytes("orphan")), 6u);
  orphan->close();
  orphan.reset();
  h.drain();
  SocketMemory& memory = h.stack.socket_memory();
  memory.charge(memory.limits().max);
  ASSERT_TRUE(memory.over_hard_limit());
  h.advance(std::chrono::milliseconds(250));  // both RTOs fire
  EXPECT_EQ(h.counter("orphans_reset_memory"), 1u);
  EXPECT_EQ(h.tcp->connection_count(), 1u);
  bool orphan_reset = false;
  bool kept_retransmitted = false;
  while (auto seg = h.next_segment()) {
    if (seg->source_port == orphan_port && (seg->flags & kRst)) orphan_reset = true;
    if (seg->source_port == kept_port && seg->payload.size() == 6) kept_retransmitted = true;
  }
  EXPECT_TRUE(orphan_reset);
  EXPECT_TRUE(kept_retransmitted);
  EXPECT_EQ(kept->connection()->state(), State::kEstablished);
  memory.release(memory.limits().max);
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
