// TIME-WAIT records (tcp/time_wait.h): a connection its user has let go of hands its 2MSL wait
// to a small record, which answers the peer as the connection did.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "tcp/connection.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "tests/testing/tcp_harness.h"

namespace weir::tcp {
namespace {

using ::testing::AllOf;
using weir::testing::AckIs;
using weir::testing::CapturedSegment;
using weir::testing::HasFlags;
using weir::testing::SeqIs;
using weir::testing::TcpHarness;

// Active close of an established connection: close(), the peer ACKs our FIN and sends its
// own, which we ACK. The handle is gone, so the wait belongs to a record.
void close_into_time_wait(TcpHarness& h, std::unique_ptr<Endpoint>& ep) {
  ep->close();
  h.expect_segment(AllOf(HasFlags(kFin | kAck), SeqIs(h.local_seq)));
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq + 1, 65535, h.peer_ack_options());
  h.expect_segment(AllOf(HasFlags(kAck), SeqIs(h.local_seq + 1), AckIs(h.peer_seq + 1)));
  ep.reset();
}

TEST(TcpTimeWait, ALetGoConnectionLeavesARecordAndIsFreed) {
  TcpHarness h;
  auto ep = h.connect();
  close_into_time_wait(h, ep);
  EXPECT_EQ(h.tcp->time_wait_count(), 1u);
  EXPECT_EQ(h.tcp->connection_count(), 1u);  // the record counts as the connection
  EXPECT_EQ(h.counter("connections_closed"), 1u);
  // A retransmitted FIN (our ACK was lost) is ACKed, echoing the timestamp of the FIN the
  // connection took (an out-of-window segment does not move TS.Recent, RFC 7323 4.3), and
  // restarts the 2MSL wait.
  const uint32_t fin_ts = h.peer_ts;
  h.advance(std::chrono::seconds(30));
  h.peer_ts += 30000;
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq + 1, 65535, h.peer_ack_options());
  CapturedSegment ack =
      h.expect_segment(AllOf(HasFlags(kAck), SeqIs(h.local_seq + 1), AckIs(h.peer_seq + 1)));
  ASSERT_TRUE(ack.options.timestamps.has_value());
  EXPECT_EQ(ack.options.timestamps->echo, fin_ts);
  h.advance(std::chrono::seconds(59));
  EXPECT_EQ(h.tcp->time_wait_count(), 1u);
  h.advance(std::chrono::seconds(2));
  EXPECT_EQ(h.tcp->time_wait_count(), 0u);
  EXPECT_EQ(h.tcp->connection_count(), 0u);
  // The 4-tuple is free: a segment for it now meets a RST.
  h.send_segment(kAck, h.peer_seq + 1, h.local_seq + 1, 65535, h.peer_ack_options());
  h.expect_segment(HasFlags(kRst));
}

TEST(TcpTimeWait, AHeldConnectionStaysWholeAndHandsOverTheRestOfItsWait) {
  TcpHarness h;
  auto ep = h.connect();
  Connection* c = ep->connection();
  ASSERT_TRUE(ep->shutdown(ShutdownHow::kWrite).ok());
  h.expect_segment(HasFlags(kFin | kAck));
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq + 1, 65535, h.peer_ack_options());
  h.expect_segment(HasFlags(kAck));
  EXPECT_EQ(c->state(), State::kTimeWait);
  EXPECT_EQ(h.tcp->time_wait_count(), 0u);
  h.advance(std::chrono::seconds(30));
  ep.reset();
  EXPECT_EQ(h.tcp->time_wait_count(), 1u);
  EXPECT_EQ(h.tcp->connection_count(), 1u);
  h.advance(std::chrono::seconds(29));
  EXPECT_EQ(h.tcp->time_wait_count(), 1u);
  h.advance(std::chrono::seconds(2));
  EXPECT_EQ(h.tcp->time_wait_count(), 0u);
}

TEST(TcpTimeWait, RecordsEndInDeadlineOrderWhateverOrderTheyCameIn) {
  TcpHarness h;
  // A: in TIME-WAIT at t0, its handle still held.
  auto a = h.connect();
  ASSERT_TRUE(a->shutdown(ShutdownHow::kWrite).ok());
  h.expect_segment(HasFlags(kFin | kAck));
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq + 1, 65535, h.peer_ack_options());
  h.expect_segment(HasFlags(kAck));
  h.advance(std::chrono::seconds(30));
  // B: another connection, let go in TIME-WAIT at t0 + 30 s; its record waits until t0 + 90 s.
  h.remote_port = 40001;
  auto b = h.connect();
  close_into_time_wait(h, b);
  EXPECT_EQ(h.tcp->time_wait_count(), 1u);
  h.advance(std::chrono::seconds(10));
  // A lets go at t0 + 40 s: its record comes after B's but ends first, at t0 + 60 s.
  a.reset();
  EXPECT_EQ(h.tcp->time_wait_count(), 2u);
  h.advance(std::chrono::seconds(21));  // t0 + 61 s
  EXPECT_EQ(h.tcp->time_wait_count(), 1u);
  h.advance(std::chrono::seconds(28));  // t0 + 89 s
  EXPECT_EQ(h.tcp->time_wait_count(), 1u);
  h.advance(std::chrono::seconds(2));  // t0 + 91 s
  EXPECT_EQ(h.tcp->time_wait_count(), 0u);
  EXPECT_EQ(h.tcp->connection_count(), 0u);
}

TEST(TcpTimeWait, ResetsAreCheckedAsTheConnectionChecksThem) {
  TcpHarness h;
  auto ep = h.connect();
  close_into_time_wait(h, ep);
  // Out of the window: ignored.
  h.send_segment(kRst, h.peer_seq + 1 + 1000000, SeqNum(0), 0);
  h.expect_no_segment();
  EXPECT_EQ(h.counter("drop_rst_out_of_window"), 1u);
  // In the window but not at rcv.nxt: a challenge ACK (RFC 5961 3.2).
  h.send_segment(kRst, h.peer_seq + 100, SeqNum(0), 0);
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq + 1)));
  EXPECT_EQ(h.tcp->time_wait_count(), 1u);
  // At rcv.nxt: the wait ends (Linux's default, tcp_rfc1337=0).
  h.send_segment(kRst, h.peer_seq + 1, SeqNum(0), 0);
  EXPECT_EQ(h.counter("resets_received"), 1u);
  h.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(h.tcp->time_wait_count(), 0u);
  EXPECT_EQ(h.tcp->connection_count(), 0u);
}

TEST(TcpTimeWait, OldSegmentsAreAnsweredWithAnAck) {
  TcpHarness h;
  auto ep = h.connect();
  close_into_time_wait(h, ep);
  // PAWS: an older timestamp is rejected and answered (RFC 7323 5.3).
  tcp::Options old = h.peer_ack_options();
  old.timestamps->value = h.peer_ts - 10;
  h.send_segment(kAck, h.peer_seq + 1, h.local_seq + 1, 65535, old);
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq + 1)));
  EXPECT_EQ(h.counter("drop_paws"), 1u);
  // A duplicate of data we had: ACKed.
  h.send_segment(kAck, h.peer_seq - 5, h.local_seq + 1, 65535, h.peer_ack_options(),
                 as_bytes("hello"));
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq + 1)));
  // An ACK for data never sent: ACKed (RFC 9293 3.10.7.4).
  h.send_segment(kAck, h.peer_seq + 1, h.local_seq + 1000, 65535, h.peer_ack_options());
  h.expect_segment(AllOf(HasFlags(kAck), SeqIs(h.local_seq + 1)));
  EXPECT_EQ(h.counter("drop_bad_ack"), 1u);
  // An in-window SYN that is not newer: a challenge ACK (RFC 5961 4.2).
  h.send_segment(kSyn | kAck, h.peer_seq + 10, h.local_seq + 1, 65535, h.peer_ack_options());
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq + 1)));
  EXPECT_EQ(h.counter("drop_syn_in_window"), 1u);
  // A bare ACK of our FIN again: nothing to say.
  h.send_segment(kAck, h.peer_seq + 1, h.local_seq + 1, 65535, h.peer_ack_options());
  h.expect_no_segment();
  EXPECT_EQ(h.tcp->time_wait_count(), 1u);
}

TEST(TcpTimeWait, ANewerSynTakesThePortAfterTheRecord) {
  TcpHarness h;
  auto l = h.listen();
  auto ep = h.accept_connection(*l);
  ASSERT_NE(ep, nullptr);
  close_into_time_wait(h, ep);
  ASSERT_EQ(h.tcp->time_wait_count(), 1u);
  tcp::Options o = h.peer_syn_options();
  o.timestamps->value = h.peer_ts + 1000;
  h.send_segment(kSyn, h.peer_seq + 100000, SeqNum(0), 65535, o);
  EXPECT_EQ(h.counter("time_wait_reused"), 1u);
  h.expect_segment(AllOf(HasFlags(kSyn | kAck), AckIs(h.peer_seq + 100001)));
  h.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(h.tcp->time_wait_count(), 0u);
}

}  // namespace
}  // namespace weir::tcp
