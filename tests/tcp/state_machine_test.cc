// RFC 9293 transitions, RST/SYN rules (RFC 5961), TIME-WAIT, simultaneous open and close.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tcp/connection.h"
#include "tcp/listener.h"
#include "tests/testing/tcp_harness.h"

namespace weir::tcp {
namespace {

using ::testing::AllOf;
using weir::testing::AckIs;
using weir::testing::HasFlags;
using weir::testing::PayloadSize;
using weir::testing::SeqIs;
using weir::testing::TcpHarness;

TEST(TcpStateMachine, ActiveCloseThroughTimeWait) {
  TcpHarness h;
  auto ep = h.connect();
  Connection* c = ep->connection();
  ASSERT_TRUE(ep->shutdown(ShutdownHow::kWrite).ok());
  EXPECT_EQ(c->state(), State::kFinWait1);
  h.expect_segment(AllOf(HasFlags(kFin | kAck), SeqIs(h.local_seq), AckIs(h.peer_seq)));
  h.send_segment(kAck, h.peer_seq, h.local_seq + 1, 65535, h.peer_ack_options());
  EXPECT_EQ(c->state(), State::kFinWait2);
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq + 1, 65535, h.peer_ack_options());
  EXPECT_EQ(c->state(), State::kTimeWait);
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq + 1)));
  std::vector<std::byte> buf(10);
  EXPECT_EQ(*ep->read(buf), 0u);  // EOF
  // A retransmitted FIN is ACKed again and restarts the 2MSL wait.
  h.advance(std::chrono::seconds(30));
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq + 1, 65535, h.peer_ack_options());
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq + 1)));
  h.advance(std::chrono::seconds(59));
  EXPECT_EQ(c->state(), State::kTimeWait);
  h.advance(std::chrono::seconds(2));
  EXPECT_EQ(c->state(), State::kClosed);
  EXPECT_NE(ep->readiness() & kEventHangup, 0u);
}

TEST(TcpStateMachine, PassiveClose) {
  TcpHarness h;
  auto ep = h.connect();
  Connection* c = ep->connection();
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq, 65535, h.peer_ack_options());
  h.peer_seq += 1;
  EXPECT_EQ(c->state(), State::kCloseWait);
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq)));
  EXPECT_NE(ep->readiness() & kEventReadHangup, 0u);
  std::vector<std::byte> buf(10);
  EXPECT_EQ(*ep->read(buf), 0u);
  // Still writable in CLOSE-WAIT.
  EXPECT_EQ(*ep->write(as_bytes("bye")), 3u);
  h.expect_segment(PayloadSize(3));
  ep->close();
  EXPECT_EQ(c->state(), State::kLastAck);
  h.expect_segment(AllOf(HasFlags(kFin | kAck), SeqIs(h.local_seq + 3)));
  h.send_segment(kAck, h.peer_seq, h.local_seq + 4, 65535, h.peer_ack_options());
  EXPECT_EQ(c->state(), State::kClosed);
}

TEST(TcpStateMachine, SimultaneousClose) {
  TcpHarness h;
  auto ep = h.connect();
  Connection* c = ep->connection();
  ASSERT_TRUE(ep->shutdown(ShutdownHow::kWrite).ok());
  h.expect_segment(HasFlags(kFin | kAck));
  // The peer's FIN crosses ours: it does not ACK our FIN.
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq, 65535, h.peer_ack_options());
  EXPECT_EQ(c->state(), State::kClosing);
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq + 1)));
  h.send_segment(kAck, h.peer_seq + 1, h.local_seq + 1, 65535, h.peer_ack_options());
  EXPECT_EQ(c->state(), State::kTimeWait);
}

TEST(TcpStateMachine, FinAckInFinWait1GoesToTimeWait) {
  TcpHarness h;
  auto ep = h.connect();
  ep->close();
  h.expect_segment(HasFlags(kFin | kAck));
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq + 1, 65535, h.peer_ack_options());
  EXPECT_EQ(ep->connection(), nullptr);      // closed handle
  EXPECT_EQ(h.tcp->connection_count(), 1u);  // lives on in TIME-WAIT
  h.expect_segment(HasFlags(kAck));
  h.advance(std::chrono::seconds(61));
  EXPECT_EQ(h.tcp->connection_count(), 0u);  // reaped
}

TEST(TcpStateMachine, SimultaneousOpen) {
  TcpHarness h;
  auto ep = Endpoint::create(h.stack, AddressFamily::kIpv4);
  (void)ep->connect(SocketAddress{h.remote_address, h.remote_port});
  auto syn = h.expect_segment(HasFlags(kSyn));
  h.local_port = syn.source_port;
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 65535, h.peer_syn_options());
  EXPECT_EQ(ep->connection()->state(), State::kSynReceived);
  auto synack =
      h.expect_segment(AllOf(HasFlags(kSyn | kAck), SeqIs(syn.seq), AckIs(h.peer_seq + 1)));
  h.peer_seq += 1;
  h.send_segment(kAck, h.peer_seq, syn.seq + 1, 65535, h.peer_ack_options());
  EXPECT_EQ(ep->connection()->state(), State::kEstablished);
  EXPECT_NE(ep->readiness() & kEventWritable, 0u);
}

TEST(TcpStateMachine, SegmentToClosedPortGetsReset) {
  TcpHarness h;
  h.local_port = 9;
  h.send_segment(kSyn, SeqNum(100), SeqNum(0), 1000);
  h.expect_segment(AllOf(HasFlags(kRst | kAck), SeqIs(0), AckIs(101)));
  h.send_segment(kAck, SeqNum(100), SeqNum(555), 1000);
  h.expect_segment(AllOf(HasFlags(kRst), SeqIs(555)));
  h.send_segment(kRst, SeqNum(100), SeqNum(0), 1000);
  h.expect_no_segment();  // never answer a RST
  EXPECT_EQ(h.counter("drop_no_endpoint"), 3u);
}

TEST(TcpStateMachine, ResetExactlyAtRcvNxtResets) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kRst, h.peer_seq, SeqNum(0), 0);
  EXPECT_EQ(ep->connection()->state(), State::kClosed);
  EXPECT_EQ(ep->take_error(), Error::kConnectionReset);
  EXPECT_EQ(ep->write(as_bytes("x")).error(), Error::kConnectionReset);
}

TEST(TcpStateMachine, InWindowResetGetsChallengeAck) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kRst, h.peer_seq + 100, SeqNum(0), 0);
  EXPECT_EQ(ep->connection()->state(), State::kEstablished);
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq), SeqIs(h.local_seq)));
  EXPECT_EQ(h.counter("challenge_acks"), 1u);
  // Outside the window: silently dropped.
  h.send_segment(kRst, h.peer_seq + 10000000, SeqNum(0), 0);
  h.expect_no_segment();
  EXPECT_EQ(h.counter("drop_rst_out_of_window"), 1u);
}

TEST(TcpStateMachine, SynInEstablishedGetsChallengeAck) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kSyn, h.peer_seq + 5, SeqNum(0), 1000, h.peer_syn_options());
  EXPECT_EQ(ep->connection()->state(), State::kEstablished);
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq)));
  EXPECT_EQ(h.counter("challenge_acks"), 1u);
}

TEST(TcpStateMachine, ChallengeAcksAreRateLimited) {
  TcpOptions o;
  o.challenge_ack_limit = 2;
  TcpHarness h(o);
  auto ep = h.connect();
  for (int i = 0; i < 5; ++i) h.send_segment(kRst, h.peer_seq + 10 + i, SeqNum(0), 0);
  EXPECT_EQ(h.pending(), 2u);
  EXPECT_EQ(h.counter("challenge_acks"), 2u);
  EXPECT_EQ(h.counter("challenge_acks_rate_limited"), 3u);
  h.drain();
  h.advance(std::chrono::seconds(1));
  h.send_segment(kRst, h.peer_seq + 10, SeqNum(0), 0);
  EXPECT_EQ(h.pending(), 1u);
}

TEST(TcpStateMachine, AckOfUnsentDataIsDropped) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq, h.local_seq + 1000, 1000, h.peer_ack_options(), as_bytes("zz"));
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq)));  // data not taken
  EXPECT_EQ(h.counter("drop_bad_ack"), 1u);
  std::vector<std::byte> buf(4);
  EXPECT_EQ(ep->read(buf).error(), Error::kWouldBlock);
}

TEST(TcpStateMachine, OutOfWindowDataGetsAck) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq + 50000000, h.local_seq, 1000, h.peer_ack_options(),
                 as_bytes("zz"));
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq)));
  EXPECT_EQ(h.counter("drop_out_of_window"), 1u);
}

TEST(TcpStateMachine, PawsDropsOldTimestamp) {
  TcpHarness h;
  auto ep = h.connect();
  Options old;
  old.timestamps = Timestamps{h.peer_ts - 10, h.last_tsval};
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, old, as_bytes("old"));
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq)));
  EXPECT_EQ(h.counter("drop_paws"), 1u);
  std::vector<std::byte> buf(4);
  EXPECT_EQ(ep->read(buf).error(), Error::kWouldBlock);
}

// Linux's allowances (tcp_paws_discard): one tick behind TS.Recent is not old.
TEST(TcpStateMachine, PawsTakesATimestampOneTickBehind) {
  TcpHarness h;
  auto ep = h.connect();
  Options late;
  late.timestamps = Timestamps{h.peer_ts - 1, h.last_tsval};
  h.send_segment(kAck | kPsh, h.peer_seq, h.local_seq, 1000, late, as_bytes("late"));
  h.peer_seq += 4;
  EXPECT_EQ(h.counter("drop_paws"), 0u);
  std::vector<std::byte> buf(8);
  EXPECT_EQ(*ep->read(buf), 4u);
}

// A duplicate ACK overtaken by a newer segment (reordering) is taken quietly: no PAWS drop, and
// no ACK sent back for it. One that would change the send window, or is older than an RTO, is
// still dropped and answered.
TEST(TcpStateMachine, PawsLetsAReorderedDuplicateAckPass) {
  TcpHarness h;
  auto ep = h.connect();
  Options newer;
  newer.timestamps = Timestamps{h.peer_ts + 50, h.last_tsval};
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, newer);
  h.expect_no_segment();

  Options overtaken;
  overtaken.timestamps = Timestamps{h.peer_ts + 10, h.last_tsval};
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, overtaken);
  h.expect_no_segment();
  EXPECT_EQ(h.counter("drop_paws"), 0u);

  // The same, but opening the window: that would be an update, so PAWS decides.
  h.send_segment(kAck, h.peer_seq, h.local_seq, 2000, overtaken);
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq)));
  EXPECT_EQ(h.counter("drop_paws"), 1u);

  // Older than the RTO (1 s before any RTT sample): dropped and answered.
  Options ancient;
  ancient.timestamps = Timestamps{h.peer_ts + 50 - 5000, h.last_tsval};
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, ancient);
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq)));
  EXPECT_EQ(h.counter("drop_paws"), 2u);

  // Data is never a disordered ACK.
  h.send_segment(kAck | kPsh, h.peer_seq, h.local_seq, 1000, overtaken, as_bytes("x"));
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq)));
  EXPECT_EQ(h.counter("drop_paws"), 3u);
  std::vector<std::byte> buf(4);
  EXPECT_EQ(ep->read(buf).error(), Error::kWouldBlock);
}

TEST(TcpStateMachine, TimeWaitReusedByNewerSyn) {
  TcpHarness h;
  auto l = h.listen();
  auto ep = h.accept_connection(*l);
  ASSERT_NE(ep, nullptr);
  // Active close from our side to reach TIME-WAIT.
  ep->close();
  h.expect_segment(HasFlags(kFin | kAck));
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq + 1, 65535, h.peer_ack_options());
  h.expect_segment(HasFlags(kAck));
  // An old duplicate SYN (not newer) is not a new incarnation.
  h.peer_ts += 1;
  tcp::Options o = h.peer_syn_options();
  o.timestamps->value = h.peer_ts - 100;
  h.send_segment(kSyn, h.peer_seq - 10, SeqNum(0), 65535, o);
  EXPECT_EQ(h.counter("time_wait_reused"), 0u);
  h.drain();
  // A newer one is handed to the listener.
  o.timestamps->value = h.peer_ts + 1000;
  h.send_segment(kSyn, h.peer_seq + 100000, SeqNum(0), 65535, o);
  EXPECT_EQ(h.counter("time_wait_reused"), 1u);
  h.expect_segment(AllOf(HasFlags(kSyn | kAck), AckIs(h.peer_seq + 100001)));
}

TEST(TcpStateMachine, SynRcvdResetReturnsToListen) {
  TcpHarness h;
  auto l = h.listen();
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  h.expect_segment(HasFlags(kSyn | kAck));
  EXPECT_EQ(l->listener()->syn_queue_length(), 1u);
  h.send_segment(kRst, h.peer_seq + 1, SeqNum(0), 0);
  EXPECT_EQ(l->listener()->syn_queue_length(), 0u);
  EXPECT_EQ(l->accept().error(), Error::kWouldBlock);
}

TEST(TcpStateMachine, SynRcvdBadAckGetsReset) {
  TcpHarness h;
  auto l = h.listen();
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  auto synack = h.expect_segment(HasFlags(kSyn | kAck));
  h.send_segment(kAck, h.peer_seq + 1, synack.seq + 100, 1000, h.peer_ack_options());
  h.expect_segment(AllOf(HasFlags(kRst), SeqIs(synack.seq + 100)));
}

TEST(TcpStateMachine, RepeatedSynRetransmitsSynAck) {
  TcpHarness h;
  auto l = h.listen();
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  auto first = h.expect_segment(HasFlags(kSyn | kAck));
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  h.expect_segment(AllOf(HasFlags(kSyn | kAck), SeqIs(first.seq)));
}

TEST(TcpStateMachine, CloseWithUnreadDataResets) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kAck | kPsh, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(),
                 as_bytes("unread"));
  h.drain();
  ep->close();
  h.expect_segment(HasFlags(kRst | kAck));
}

TEST(TcpStateMachine, LingerZeroResets) {
  TcpHarness h;
  auto ep = h.connect();
  ep->set_linger(Duration::zero());
  ep->close();
  h.expect_segment(AllOf(HasFlags(kRst | kAck), SeqIs(h.local_seq)));
  EXPECT_EQ(h.counter("connections_aborted"), 1u);
}

TEST(TcpStateMachine, DataAfterCloseResets) {
  TcpHarness h;
  auto ep = h.connect();
  ep.reset();  // close() and drop the handle: FIN_WAIT_1, no reader any more
  h.expect_segment(HasFlags(kFin | kAck));
  h.send_segment(kAck | kPsh, h.peer_seq, h.local_seq + 1, 1000, h.peer_ack_options(),
                 as_bytes("late"));
  h.expect_segment(HasFlags(kRst | kAck));
  EXPECT_EQ(h.counter("drop_data_after_close"), 1u);
}

TEST(TcpStateMachine, FinWait2TimesOutWhenOrphaned) {
  TcpHarness h;
  auto ep = h.connect();
  ep.reset();
  h.expect_segment(HasFlags(kFin | kAck));
  h.send_segment(kAck, h.peer_seq, h.local_seq + 1, 1000, h.peer_ack_options());
  EXPECT_EQ(h.tcp->connection_count(), 1u);
  h.advance(std::chrono::seconds(61));
  EXPECT_EQ(h.tcp->connection_count(), 0u);
}

// TCP_LINGER2: a closed connection waits that long in FIN-WAIT-2 (here 5 s, not 60), and with
// a negative value not at all: it is reset as soon as its FIN is acknowledged (Linux's
// tcp_rcv_state_process). Values read back as Linux reports them.
TEST(TcpStateMachine, Linger2SetsTheFinWait2Wait) {
  TcpHarness h;
  auto ep = h.connect();
  EXPECT_EQ(ep->get_option(SocketOption::kLinger2).value_or(0), 60);
  ASSERT_TRUE(ep->set_option(SocketOption::kLinger2, 500).ok());
  EXPECT_EQ(ep->get_option(SocketOption::kLinger2).value_or(0), 120);  // TCP_FIN_TIMEOUT_MAX
  ASSERT_TRUE(ep->set_option(SocketOption::kLinger2, 5).ok());
  EXPECT_EQ(ep->get_option(SocketOption::kLinger2).value_or(0), 5);
  ep.reset();
  h.expect_segment(HasFlags(kFin | kAck));
  h.send_segment(kAck, h.peer_seq, h.local_seq + 1, 1000, h.peer_ack_options());
  h.advance(std::chrono::milliseconds(4990));
  EXPECT_EQ(h.tcp->connection_count(), 1u);
  h.advance(std::chrono::milliseconds(20));
  EXPECT_EQ(h.tcp->connection_count(), 0u);

  h.peer_seq += 100000u;
  auto none = h.connect();
  ASSERT_TRUE(none->set_option(SocketOption::kLinger2, -7).ok());
  EXPECT_EQ(none->get_option(SocketOption::kLinger2).value_or(0), -1);
  none.reset();
  h.expect_segment(HasFlags(kFin | kAck));
  h.send_segment(kAck, h.peer_seq, h.local_seq + 1, 1000, h.peer_ack_options());
  h.expect_segment(HasFlags(kRst | kAck));
  EXPECT_EQ(h.tcp->connection_count(), 0u);
}

// TCP_SYNCNT: a connect gives up after that many SYN retransmissions (here 1, not 6), and a
// listener's value bounds its SYN-ACK retransmissions.
TEST(TcpStateMachine, SynCountBoundsTheHandshakeRetransmissions) {
  TcpHarness h;
  auto ep = Endpoint::create(h.stack, AddressFamily::kIpv4);
  EXPECT_EQ(ep->get_option(SocketOption::kSynCount).value_or(0), 6);
  EXPECT_EQ(ep->set_option(SocketOption::kSynCount, 0).error(), Error::kInvalidArgument);
  EXPECT_EQ(ep->set_option(SocketOption::kSynCount, 128).error(), Error::kInvalidArgument);
  ASSERT_TRUE(ep->set_option(SocketOption::kSynCount, 1).ok());
  EXPECT_EQ(ep->get_option(SocketOption::kSynCount).value_or(0), 1);
  (void)ep->connect(SocketAddress{h.remote_address, h.remote_port});
  h.advance(std::chrono::seconds(10));
  EXPECT_EQ(ep->connection()->state(), State::kClosed);
  EXPECT_EQ(ep->take_error(), Error::kTimedOut);
  EXPECT_EQ(h.counter("syn_retransmits"), 1u);

  auto l = h.listen();
  ASSERT_TRUE(l->set_option(SocketOption::kSynCount, 2).ok());
  h.drain();
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  h.advance(std::chrono::seconds(30));
  size_t syn_acks = 0;
  while (auto s = h.next_segment()) {
    if ((s->flags & (kSyn | kAck)) == (kSyn | kAck)) ++syn_acks;
  }
  EXPECT_EQ(syn_acks, 3u);  // the first and 2 retransmissions
  EXPECT_EQ(h.counter("syn_retransmits"), 3u);
}

TEST(TcpStateMachine, ShutdownReadGivesEof) {
  TcpHarness h;
  auto ep = h.connect();
  ASSERT_TRUE(ep->shutdown(ShutdownHow::kRead).ok());
  std::vector<std::byte> buf(4);
  EXPECT_EQ(*ep->read(buf), 0u);
  EXPECT_EQ(ep->connection()->state(), State::kEstablished);
}

TEST(TcpStateMachine, ListenBacklogOverflowDropsSyn) {
  TcpHarness h;
  auto l = h.listen(1);
  auto first = h.accept_connection(*l);  // accepted: queue empty again
  ASSERT_NE(first, nullptr);
  // Fill the accept queue with one established connection that is not accepted.
  h.remote_port = 40001;
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  auto sa = h.expect_segment(HasFlags(kSyn | kAck));
  h.send_segment(kAck, h.peer_seq + 1, sa.seq + 1, 1000, h.peer_ack_options());
  EXPECT_EQ(l->listener()->accept_queue_length(), 1u);
  h.remote_port = 40002;
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  h.expect_no_segment();
  EXPECT_EQ(h.counter("listen_overflows"), 1u);
  EXPECT_NE(l->readiness() & kEventReadable, 0u);
}

// Both SYNs are admitted, then both handshakes complete while the queue holds one. The second
// ACK is dropped, not reset (the peer believes the connection open and already sends its
// request); once accept() makes room, the peer's retransmission completes it, data and all.
TEST(TcpStateMachine, HandshakeAckToAFullAcceptQueueIsDroppedNotReset) {
  TcpHarness h;
  auto l = h.listen(1);
  h.remote_port = 40001;
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  auto sa1 = h.expect_segment(HasFlags(kSyn | kAck));
  h.remote_port = 40002;
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  auto sa2 = h.expect_segment(HasFlags(kSyn | kAck));
  h.remote_port = 40001;
  h.send_segment(kAck, h.peer_seq + 1, sa1.seq + 1, 1000, h.peer_ack_options());
  EXPECT_EQ(l->listener()->accept_queue_length(), 1u);
  h.remote_port = 40002;
  h.send_segment(kAck, h.peer_seq + 1, sa2.seq + 1, 1000, h.peer_ack_options(),
                 as_bytes("GET / HTTP/1.1\r\n\r\n"));
  h.expect_no_segment();  // no RST
  EXPECT_EQ(h.counter("drop_accept_queue_full"), 1u);
  EXPECT_EQ(h.counter("resets_sent"), 0u);
  EXPECT_EQ(l->listener()->syn_queue_length(), 1u);
  auto first = l->accept();
  ASSERT_TRUE(first);
  h.send_segment(kAck, h.peer_seq + 1, sa2.seq + 1, 1000, h.peer_ack_options(),
                 as_bytes("GET / HTTP/1.1\r\n\r\n"));
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq + 1 + 18)));
  auto second = l->accept();
  ASSERT_TRUE(second);
  std::vector<std::byte> buf(64);
  EXPECT_EQ(*(*second)->read(buf), 18u);
}

TEST(TcpStateMachine, LostFinIsRetransmittedFromLastAck) {
  TcpOptions o;
  o.tlp = false;
  TcpHarness h(o);
  auto ep = h.connect();
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());
  h.peer_seq += 1;
  h.expect_segment(HasFlags(kAck));
  ep->close();
  auto fin = h.expect_segment(AllOf(HasFlags(kFin | kAck), SeqIs(h.local_seq)));
  h.advance(std::chrono::milliseconds(250));
  h.expect_segment(AllOf(HasFlags(kFin | kAck), SeqIs(fin.seq)));  // RTO resent the FIN
  h.send_segment(kAck, h.peer_seq, h.local_seq + 1, 1000, h.peer_ack_options());
  EXPECT_EQ(h.counter("connections_closed"), 1u);
  h.advance(std::chrono::milliseconds(5));
  EXPECT_EQ(h.tcp->connection_count(), 0u);
}

TEST(TcpStateMachine, SynAckRetriesThenGivesUp) {
  TcpOptions o;
  o.synack_retries = 2;
  TcpHarness h(o);
  auto l = h.listen();
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  auto first = h.expect_segment(HasFlags(kSyn | kAck));
  h.advance(std::chrono::milliseconds(1002));
  h.expect_segment(AllOf(HasFlags(kSyn | kAck), SeqIs(first.seq)));
  h.advance(std::chrono::milliseconds(2002));
  h.expect_segment(AllOf(HasFlags(kSyn | kAck), SeqIs(first.seq)));
  h.advance(std::chrono::seconds(5));
  h.expect_no_segment();
  EXPECT_EQ(l->listener()->syn_queue_length(), 0u);
  h.advance(std::chrono::milliseconds(5));
  EXPECT_EQ(h.tcp->connection_count(), 0u);
}

TEST(TcpStateMachine, ResetInTimeWaitCloses) {
  TcpHarness h;
  auto ep = h.connect();
  Connection* c = ep->connection();
  ASSERT_TRUE(ep->shutdown(ShutdownHow::kWrite).ok());
  h.expect_segment(HasFlags(kFin | kAck));
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq + 1, 1000, h.peer_ack_options());
  EXPECT_EQ(c->state(), State::kTimeWait);
  h.send_segment(kRst, h.peer_seq + 1, SeqNum(0), 0);
  EXPECT_EQ(c->state(), State::kClosed);
}

TEST(TcpStateMachine, DataAndFinOnThirdHandshakePacket) {
  TcpHarness h;
  auto l = h.listen();
  h.send_segment(kSyn, h.peer_seq, SeqNum(0), 1000, h.peer_syn_options());
  auto synack = h.expect_segment(HasFlags(kSyn | kAck));
  h.peer_seq += 1;
  h.local_seq = synack.seq + 1;
  h.send_segment(kAck | kPsh | kFin, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(),
                 as_bytes("GET"));
  auto ep = l->accept();
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ((*ep)->connection()->state(), State::kCloseWait);
  std::vector<std::byte> buf(10);
  EXPECT_EQ(*(*ep)->read(buf), 3u);
  EXPECT_EQ(*(*ep)->read(buf), 0u);
}

}  // namespace
}  // namespace weir::tcp
