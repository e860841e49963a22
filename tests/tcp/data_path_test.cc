// Data transfer: SACK and D-SACK generation, fast retransmit (SACK/RACK and NewReno), Nagle
// and cork, window scaling and flow control, MSS clamping, PMTU, SYN cookies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tcp/connection.h"
#include "tcp/listener.h"
#include "tests/testing/tcp_harness.h"

namespace weir::tcp {
namespace {

using ::testing::AllOf;
using weir::testing::AckIs;
using weir::testing::CapturedSegment;
using weir::testing::HasFlags;
using weir::testing::HasSackPermitted;
using weir::testing::HasTimestamps;
using weir::testing::MssIs;
using weir::testing::PayloadSize;
using weir::testing::SackBlocksAre;
using weir::testing::SeqIs;
using weir::testing::TcpHarness;
using weir::testing::WindowIs;
using weir::testing::WindowScaleIs;

std::vector<std::byte> bytes(size_t n, uint8_t v = 1) {
  return std::vector<std::byte>(n, std::byte{v});
}

TEST(TcpDataPath, OutOfOrderSegmentsAreSackedAtOnce) {
  TcpHarness h;
  auto ep = h.connect();
  auto seg = bytes(100);
  SeqNum base = h.peer_seq;
  // 100..200 arrives before 0..100.
  h.send_segment(kAck, base + 100, h.local_seq, 1000, h.peer_ack_options(), seg);
  h.expect_segment(
      AllOf(AckIs(base), SackBlocksAre(std::vector<SeqRange>{{base + 100, base + 200}})));
  h.send_segment(kAck, base + 300, h.local_seq, 1000, h.peer_ack_options(), seg);
  // Most recent block first.
  h.expect_segment(AllOf(AckIs(base), SackBlocksAre(std::vector<SeqRange>{
                                          {base + 300, base + 400}, {base + 100, base + 200}})));
  h.send_segment(kAck, base, h.local_seq, 1000, h.peer_ack_options(), seg);
  h.expect_segment(
      AllOf(AckIs(base + 200), SackBlocksAre(std::vector<SeqRange>{{base + 300, base + 400}})));
  std::vector<std::byte> buf(1000);
  EXPECT_EQ(*ep->read(buf), 200u);
  EXPECT_GE(h.counter("out_of_order_segments"), 2u);
}

TEST(TcpDataPath, DuplicateSegmentGetsDsack) {
  TcpHarness h;
  auto ep = h.connect();
  SeqNum base = h.peer_seq;
  h.send_segment(kAck, base, h.local_seq, 1000, h.peer_ack_options(), bytes(100));
  h.expect_segment(AckIs(base + 100));
  h.send_segment(kAck, base, h.local_seq, 1000, h.peer_ack_options(), bytes(100));
  h.expect_segment(
      AllOf(AckIs(base + 100), SackBlocksAre(std::vector<SeqRange>{{base, base + 100}})));
  EXPECT_EQ(h.counter("dsacks_sent"), 1u);
}

// Sends n full segments of new data and returns them.
std::vector<CapturedSegment> send_flight(TcpHarness& h, Endpoint& ep, int n) {
  auto data = bytes(static_cast<size_t>(1448 * n));
  EXPECT_EQ(*ep.write(data), data.size());
  std::vector<CapturedSegment> out;
  for (int i = 0; i < n; ++i) out.push_back(h.expect_segment(PayloadSize(1448)));
  return out;
}

// Advances the clock 1 ms at a time until counter `name` is non-zero (at most limit steps).
void advance_until(TcpHarness& h, std::string_view name, int limit) {
  for (int i = 0; i < limit && h.counter(name) == 0; ++i) h.advance(std::chrono::milliseconds(1));
}

// Six segments sent, the first lost: one ACK SACKs the next three (the manual clock stands
// still: one RACK decision, one retransmission), which starts a recovery and resends it.
std::vector<CapturedSegment> lose_the_first_of_six(TcpHarness& h, Endpoint& ep) {
  auto flight = send_flight(h, ep, 6);
  const SeqNum una = h.local_seq;
  Options sack = h.peer_ack_options();
  sack.add_sack({flight[1].seq, flight[3].seq + 1448});
  h.send_segment(kAck, h.peer_seq, una, 1000, sack);
  h.expect_segment(AllOf(SeqIs(una), PayloadSize(1448)));
  h.expect_no_segment();
  return flight;
}

// Four segments sent and no ACK: the tail probe resends the head (the flight is one record),
// then the retransmission timeout resends it again.
std::vector<CapturedSegment> time_out_four(TcpHarness& h, Endpoint& ep) {
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());  // settle the window
  auto flight = send_flight(h, ep, 4);
  advance_until(h, "rto_timeouts", 3000);
  EXPECT_EQ(h.counter("rto_timeouts"), 1u);
  bool head_resent = false;
  while (auto seg = h.next_segment()) {
    if (seg->seq == flight[0].seq && !seg->payload.empty()) head_resent = true;
  }
  EXPECT_TRUE(head_resent);
  return flight;
}

TEST(TcpDataPath, SackTriggersFastRetransmitOfTheHole) {
  TcpHarness h;
  auto ep = h.connect();
  auto flight = send_flight(h, *ep, 6);
  SeqNum una = h.local_seq;
  // Segment 0 lost: the peer SACKs 1..3.
  for (int i = 1; i <= 3; ++i) {
    Options o = h.peer_ack_options();
    o.add_sack({flight[1].seq, flight[i].seq + 1448});
    h.send_segment(kAck, h.peer_seq, una, 1000, o);
  }
  auto rtx = h.expect_segment(AllOf(SeqIs(una), PayloadSize(1448)));
  EXPECT_EQ(h.counter("fast_retransmits"), 1u);
  EXPECT_EQ(h.counter("sack_recoveries"), 1u);
  EXPECT_EQ(ep->info().tcpi_ca_state, 3);
  // The retransmission repairs it: cumulative ACK past the recovery point ends recovery.
  h.drain();
  h.send_segment(kAck, h.peer_seq, flight[5].seq + 1448, 1000, h.peer_ack_options());
  EXPECT_EQ(ep->info().tcpi_ca_state, 0);
  EXPECT_EQ(h.counter("recovery_exits"), 1u);
}

// RFC 2883 4: a D-SACK is a first block below the cumulative ACK of the same segment. An ACK
// the path held back behind later ones still carries the SACK blocks of its time: they lie
// below snd.una by the time it arrives, and they are no D-SACK (taking them for one made the
// reordering window grow and the D-SACK counts run into the thousands on a jittery path).
TEST(TcpDataPath, AnAckOvertakenByALaterOneCarriesNoDsack) {
  TcpHarness h;
  auto ep = h.connect();
  auto flight = send_flight(h, *ep, 4);
  SeqNum una = h.local_seq;
  Options early = h.peer_ack_options();
  early.add_sack({flight[1].seq, flight[2].seq + 1448});
  // The later, cumulative ACK arrives first; then the earlier one, with its SACK block.
  h.send_segment(kAck, h.peer_seq, flight[3].seq + 1448, 1000, h.peer_ack_options());
  h.send_segment(kAck, h.peer_seq, una, 1000, early);
  EXPECT_EQ(h.counter("dsacks_received"), 0u);
  EXPECT_EQ(ep->info().tcpi_dsack_dups, 0u);
  // A real D-SACK, below its own ACK's acknowledgement, still counts.
  Options dsack = h.peer_ack_options();
  dsack.add_sack({flight[0].seq, flight[1].seq});
  h.send_segment(kAck, h.peer_seq, flight[3].seq + 1448, 1000, dsack);
  EXPECT_EQ(h.counter("dsacks_received"), 1u);
}

// With SACK and RACK, duplicate ACKs alone mark nothing lost (Linux's tcp_time_to_recover):
// once reordering has been seen, RACK's window holds a segment the later ones overtook, where
// the classic three-duplicate-ACK rule would retransmit it and halve the window at once.
TEST(TcpDataPath, WithRackThreeDuplicateAcksWaitForTheReorderingWindow) {
  TcpHarness h;
  // The handshake takes 1 ms: min_rtt, and with it RACK's window, is not zero.
  auto ep = Endpoint::create(h.stack, h.family);
  ASSERT_EQ(ep->connect(SocketAddress{h.remote_address, h.remote_port}).error(),
            Error::kInProgress);
  auto syn = h.expect_segment(HasFlags(kSyn));
  h.local_port = syn.source_port;
  h.advance(std::chrono::milliseconds(1));
  Options syn_ack = h.peer_syn_options();
  syn_ack.timestamps->echo = syn.options.timestamps->value;
  h.send_segment(kSyn | kAck, h.peer_seq, syn.seq + 1, 65535, syn_ack);
  h.peer_seq += 1;
  h.local_seq = syn.seq + 1;
  h.expect_segment(AckIs(h.peer_seq));
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());  // settle the window
  auto flight = send_flight(h, *ep, 6);
  SeqNum una = h.local_seq;
  h.advance(std::chrono::milliseconds(1));
  // Segment 2 arrives before 1: reordering seen. Then 3; segment 0 is still on its way.
  const std::vector<SeqRange> sacks[] = {{{flight[2].seq, flight[3].seq}},
                                         {{flight[1].seq, flight[3].seq}},
                                         {{flight[1].seq, flight[4].seq}}};
  for (const auto& blocks : sacks) {
    Options o = h.peer_ack_options();
    for (const SeqRange& b : blocks) o.add_sack(b);
    h.send_segment(kAck, h.peer_seq, una, 1000, o);
  }
  EXPECT_EQ(h.counter("dup_acks_received"), 3u);
  h.expect_no_segment();
  // Segment 0 arrives within the window: nothing was lost, no recovery, no reduction.
  h.send_segment(kAck, h.peer_seq, flight[5].seq + 1448, 1000, h.peer_ack_options());
  h.expect_no_segment();
  EXPECT_EQ(h.counter("fast_retransmits"), 0u);
  EXPECT_EQ(h.counter("retransmitted_segments"), 0u);
  EXPECT_EQ(ep->info().tcpi_ca_state, 0);
}

// RFC 8985 6.2: RACK judges every segment sent before the most recently sent one delivered,
// whatever its sequence number. The retransmission of the hole went out after segments 4 and
// 5; once it is acknowledged and they are not, they were lost too, and are resent at once
// rather than after a probe timeout.
TEST(TcpDataPath, SegmentsSentBeforeADeliveredRetransmissionAreLostTooBeyondTheSacks) {
  TcpHarness h;
  auto ep = h.connect();
  auto flight = lose_the_first_of_six(h, *ep);
  const uint64_t marked = h.counter("rack_lost_marked");
  h.advance(std::chrono::milliseconds(1));
  // The retransmission filled the hole; 4 and 5 never arrived.
  h.send_segment(kAck, h.peer_seq, flight[4].seq, 1000, h.peer_ack_options());
  EXPECT_EQ(h.counter("rack_lost_marked"), marked + 1);  // 4 and 5 went out as one record
  h.expect_segment(AllOf(SeqIs(flight[4].seq), PayloadSize(1448)));
  EXPECT_EQ(h.counter("rto_timeouts"), 0u);
  EXPECT_EQ(h.counter("tlp_probes"), 0u);
}

// A tail probe is armed when a flight goes out. When SACKs start a recovery before it fires,
// the retransmission of the first segment restarts the timer as an RTO (Linux's
// tcp_xmit_retransmit_queue): no probe goes out inside the recovery.
TEST(TcpDataPath, ARecoveryDisarmsTheTailProbeArmedBeforeIt) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());  // settle the window
  auto flight = send_flight(h, *ep, 6);
  h.advance(std::chrono::milliseconds(5));
  Options sack = h.peer_ack_options();
  sack.add_sack({flight[1].seq, flight[3].seq + 1448});
  h.send_segment(kAck, h.peer_seq, flight[0].seq, 1000, sack);
  h.expect_segment(AllOf(SeqIs(flight[0].seq), PayloadSize(1448)));
  ASSERT_EQ(ep->info().tcpi_ca_state, 3);
  // Well past the probe timeout (10 ms at this near-zero RTT), short of the RTO (200 ms).
  h.advance(std::chrono::milliseconds(150));
  h.expect_no_segment();
  EXPECT_EQ(h.counter("tlp_probes"), 0u);
  EXPECT_EQ(h.counter("rto_timeouts"), 0u);
}

// Linux's tcp_try_undo_partial: inside a recovery, a partial ACK echoing a TSval older than
// the recovery's retransmission was sent for the original, which the path only delayed. With
// no retransmission left out, the reduction is undone and the recovery ends at once, rather
// than at the recovery point. An echo of the retransmission proves nothing: the episode goes on.
void recover_from_a_delayed_first_of_six(bool echo_the_original) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());  // settle the window
  const uint32_t before = ep->info().tcpi_snd_cwnd;
  auto flight = send_flight(h, *ep, 6);
  h.advance(std::chrono::milliseconds(5));
  Options sack = h.peer_ack_options();
  sack.add_sack({flight[1].seq, flight[3].seq + 1448});
  h.send_segment(kAck, h.peer_seq, flight[0].seq, 1000, sack);
  const CapturedSegment resent = h.expect_segment(AllOf(SeqIs(flight[0].seq), PayloadSize(1448)));
  ASSERT_EQ(ep->info().tcpi_ca_state, 3);
  h.advance(std::chrono::milliseconds(5));
  Options partial = h.peer_ack_options();
  partial.timestamps->echo = echo_the_original ? flight[0].options.timestamps->value
                                               : resent.options.timestamps->value;
  h.send_segment(kAck, h.peer_seq, flight[4].seq, 1000, partial);
  if (echo_the_original) {
    EXPECT_EQ(h.counter("undone_partial"), 1u);
    EXPECT_EQ(ep->info().tcpi_ca_state, 0);
    EXPECT_GE(ep->info().tcpi_snd_cwnd, before);
  } else {
    EXPECT_EQ(h.counter("undone_partial"), 0u);
    EXPECT_EQ(ep->info().tcpi_ca_state, 3);
    EXPECT_LT(ep->info().tcpi_snd_cwnd, before);
  }
}

TEST(TcpDataPath, APartialAckForADelayedOriginalUndoesTheRecovery) {
  recover_from_a_delayed_first_of_six(true);
}

TEST(TcpDataPath, APartialAckForTheRetransmissionKeepsTheRecovery) {
  recover_from_a_delayed_first_of_six(false);
}

// RFC 3708: when every retransmission of a recovery comes back D-SACKed, the peer had it all
// and the window reduction is undone, even after the recovery ended (as Linux's
// tcp_try_undo_dsack). The ACKs echo the newest TSval, so the timestamps prove nothing here.
TEST(TcpDataPath, ARecoveryWhoseRetransmissionsComeBackDsackedIsUndone) {
  TcpHarness h;
  auto ep = h.connect();
  auto flight = lose_the_first_of_six(h, *ep);
  const SeqNum una = flight[0].seq;
  const uint32_t before = ep->info().tcpi_snd_cwnd;  // after the SACKs' growth, before recovery
  h.drain();
  // The original was only late: everything is acknowledged, recovery ends with its reduction.
  h.send_segment(kAck, h.peer_seq, flight[5].seq + 1448, 1000, h.peer_ack_options());
  EXPECT_EQ(h.counter("recovery_exits"), 1u);
  const uint32_t reduced = ep->info().tcpi_snd_cwnd;
  EXPECT_LT(reduced, before + 3);
  EXPECT_EQ(h.counter("undone_by_dsack"), 0u);
  // Then the retransmission arrives, a duplicate: its D-SACK undoes the reduction.
  Options dsack = h.peer_ack_options();
  dsack.add_sack({una, una + 1448});
  h.send_segment(kAck, h.peer_seq, flight[5].seq + 1448, 1000, dsack);
  EXPECT_EQ(h.counter("undone_by_dsack"), 1u);
  EXPECT_GT(ep->info().tcpi_snd_cwnd, reduced);
  EXPECT_EQ(h.counter("undone_by_timestamp"), 0u);
}

// A recovery whose retransmission was needed keeps its reduction: a D-SACK of other data
// (the network duplicated a segment sent after the episode began) undoes nothing.
TEST(TcpDataPath, ADsackOfDataOutsideTheEpisodeUndoesNothing) {
  TcpHarness h;
  auto ep = h.connect();
  auto flight = lose_the_first_of_six(h, *ep);
  h.drain();
  h.send_segment(kAck, h.peer_seq, flight[5].seq + 1448, 1000, h.peer_ack_options());
  const uint32_t reduced = ep->info().tcpi_snd_cwnd;
  auto more = send_flight(h, *ep, 2);
  Options dsack = h.peer_ack_options();
  dsack.add_sack({more[0].seq, more[0].seq + 1448});
  h.send_segment(kAck, h.peer_seq, more[1].seq + 1448, 1000, dsack);
  EXPECT_EQ(h.counter("dsacks_received"), 1u);
  EXPECT_EQ(h.counter("undone_by_dsack"), 0u);
  EXPECT_LE(ep->info().tcpi_snd_cwnd, reduced + 2);
}

// A retransmission still in flight when an episode begins (here a tail probe's) belongs to it:
// the one D-SACK that comes back shows that one copy of two was needless, not that nothing was
// lost, and the reduction stands (Linux's tcp_init_undo counts retrans_out for this).
TEST(TcpDataPath, AnEpisodeCountsTheRetransmissionsAlreadyInFlight) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());  // settle the window
  auto c = send_flight(h, *ep, 2);
  // No ACK: the tail probe resends the first segment of the flight's record.
  advance_until(h, "tlp_probes", 3000);
  ASSERT_EQ(h.counter("tlp_probes"), 1u);
  h.expect_segment(AllOf(SeqIs(c[0].seq), PayloadSize(1448)));
  // New data after the probe, SACKed with c[1]: RACK finds c[0] (sent before it) lost.
  auto d = send_flight(h, *ep, 1);
  h.advance(std::chrono::milliseconds(5));
  Options sack = h.peer_ack_options();
  sack.add_sack({c[1].seq, d[0].seq + 1448});
  h.send_segment(kAck, h.peer_seq, c[0].seq, 1000, sack);
  advance_until(h, "fast_retransmits", 50);
  ASSERT_EQ(h.counter("fast_retransmits"), 1u);
  h.expect_segment(AllOf(SeqIs(c[0].seq), PayloadSize(1448)));
  const uint32_t reduced = ep->info().tcpi_snd_cwnd;
  // The probe's copy filled the hole; the recovery's copy arrives as a duplicate.
  Options dsack = h.peer_ack_options();
  dsack.add_sack({c[0].seq, c[0].seq + 1448});
  h.send_segment(kAck, h.peer_seq, d[0].seq + 1448, 1000, dsack);
  EXPECT_EQ(h.counter("dsacks_received"), 1u);
  EXPECT_EQ(h.counter("undone_by_dsack"), 0u);
  EXPECT_LE(ep->info().tcpi_snd_cwnd, reduced + 1);
}

// RFC 4015 (Eifel detection), Linux's tcp_try_undo_loss: the first ACK after a timeout echoes
// the TSval of the original transmission, so the path was only slow. The timeout's reduction
// and its marks on everything outstanding are taken back: no go-back-N of data the peer has.
TEST(TcpDataPath, ATimeoutAnsweredForTheOriginalIsUndone) {
  TcpHarness h;
  auto ep = h.connect();
  const uint32_t before = ep->info().tcpi_snd_cwnd;
  auto flight = time_out_four(h, *ep);
  const uint32_t original_tsval = flight[0].options.timestamps->value;
  EXPECT_EQ(ep->info().tcpi_ca_state, 4);
  // The peer's ACK of the first original, late.
  Options o = h.peer_ack_options();
  o.timestamps->echo = original_tsval;
  h.send_segment(kAck, h.peer_seq, flight[0].seq + 1448, 1000, o);
  EXPECT_EQ(h.counter("undone_by_timestamp"), 1u);
  EXPECT_EQ(ep->info().tcpi_ca_state, 0);
  EXPECT_GE(ep->info().tcpi_snd_cwnd, before);
  h.expect_no_segment();  // segments 1-3 are in flight, not lost
  EXPECT_EQ(h.counter("retransmitted_segments"), 2u);  // the tail probe and the timeout's
}

// The same timeout answered by an ACK echoing the retransmission: the original was lost, and
// the timeout's reduction stands.
TEST(TcpDataPath, ATimeoutAnsweredForTheRetransmissionStands) {
  TcpHarness h;
  auto ep = h.connect();
  auto flight = time_out_four(h, *ep);
  h.send_segment(kAck, h.peer_seq, flight[0].seq + 1448, 1000, h.peer_ack_options());
  EXPECT_EQ(h.counter("undone_by_timestamp"), 0u);
  EXPECT_LE(ep->info().tcpi_snd_cwnd, 2u);
  // Go-back-N goes on: the next segment is resent.
  h.expect_segment(AllOf(SeqIs(flight[1].seq), PayloadSize(1448)));
}

// Linux's tcp_timeout_mark_lost: a timeout marks the first outstanding segment lost, and the
// others only when they were sent more than a RACK RTT ago. Segments sent just before the
// timer fired (here: new data clocked out 10 ms before it, on a 100 ms path) are still on
// their way; counted in flight, they are not resent when the first SACK opens the window.
TEST(TcpDataPath, ATimeoutLeavesSegmentsSentWithinTheLastRttInFlight) {
  TcpOptions options;
  options.tlp = false;   // the timeout, not a probe, is what is tested
  options.frto = false;  // as a timeout inside a fast recovery runs, where this matters most
  TcpHarness h(options);
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());  // settle the window
  // One segment acknowledged after 100 ms: RACK's RTT.
  ASSERT_EQ(*ep->write(bytes(1448)), 1448u);
  h.expect_segment(PayloadSize(1448));
  h.advance(std::chrono::milliseconds(100));
  h.send_segment(kAck, h.peer_seq, h.local_seq + 1448, 1000, h.peer_ack_options());
  h.local_seq += 1448;
  // A is lost. Four more segments go out 10 ms before A's timer fires.
  ASSERT_EQ(*ep->write(bytes(1448)), 1448u);
  const CapturedSegment a = h.expect_segment(PayloadSize(1448));
  h.advance(std::chrono::microseconds(ep->info().tcpi_rto) - std::chrono::milliseconds(10));
  const std::vector<CapturedSegment> recent = send_flight(h, *ep, 4);
  advance_until(h, "rto_timeouts", 20);
  ASSERT_EQ(h.counter("rto_timeouts"), 1u);
  h.expect_segment(AllOf(SeqIs(a.seq), PayloadSize(1448)));
  h.expect_no_segment();
  // The first of them arrives: a SACK, and room in the window for one more segment.
  h.advance(std::chrono::milliseconds(5));
  Options sack = h.peer_ack_options();
  sack.add_sack({recent[0].seq, recent[0].seq + 1448});
  h.send_segment(kAck, h.peer_seq, a.seq, 1000, sack);
  h.expect_no_segment();  // the other three are in flight, not lost
  // A's copy and the other three arrive; nothing was resent but A.
  h.advance(std::chrono::milliseconds(5));
  h.send_segment(kAck, h.peer_seq, recent[3].seq + 1448, 1000, h.peer_ack_options());
  EXPECT_EQ(h.counter("retransmitted_segments"), 1u);
  EXPECT_EQ(ep->info().tcpi_ca_state, 0);
}

// After a timeout the window slow-starts again from one segment while the lost data is resent
// (RFC 5681 3.1): each ACK of a retransmission lets two more go, not one (Linux grows cwnd in
// its Loss state too; only a fast recovery holds it).
TEST(TcpDataPath, AfterATimeoutGoBackNSlowStarts) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());  // settle the window
  auto flight = send_flight(h, *ep, 8);
  advance_until(h, "rto_timeouts", 3000);
  ASSERT_EQ(h.counter("rto_timeouts"), 1u);
  while (h.next_segment()) {
  }  // the tail probe and the timeout's copy of the first segment (the echo is the latter's)
  // Each ACK acknowledges everything resent so far (the echo is the resent copy's: real loss).
  size_t acked = 1;
  std::vector<size_t> burst_sizes;
  while (acked < flight.size()) {
    h.send_segment(kAck, h.peer_seq, flight[acked - 1].seq + 1448, 1000, h.peer_ack_options());
    size_t burst = 0;
    while (auto seg = h.next_segment()) {
      if (seg->payload.empty()) continue;
      EXPECT_EQ(seg->seq, flight[acked + burst].seq);
      ++burst;
    }
    ASSERT_GT(burst, 0u) << "after " << acked << " segments acknowledged";
    burst_sizes.push_back(burst);
    acked += burst;
  }
  EXPECT_EQ(burst_sizes, (std::vector<size_t>{2, 4, 1}));
  EXPECT_EQ(h.counter("undone_by_frto") + h.counter("undone_by_timestamp"), 0u);
}

// RFC 5681 4.1 as Linux's tcp_cwnd_restart applies it: after sending nothing for longer than the
// RTO, the window halves once for each RTO, or part of one, that the pause lasted beyond the
// first, instead of falling straight back to the initial window.
TEST(TcpDataPath, AfterAPauseTheWindowHalvesPerRtoOfIdleness) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());  // settle the window
  // Slow start, every segment acknowledged on its own as it arrives.
  auto data = bytes(1448 * 60);
  EXPECT_EQ(*ep->write(data), data.size());
  while (auto seg = h.next_segment()) {
    if (!seg->payload.empty()) {
      h.send_segment(kAck, h.peer_seq, seg->seq + seg->payload.size(), 1000, h.peer_ack_options());
    }
  }
  const uint32_t before = ep->info().tcpi_snd_cwnd;
  ASSERT_GE(before, 40u);
  const auto rto = std::chrono::microseconds(ep->info().tcpi_rto);
  h.advance(rto + rto / 2);
  data = bytes(1448 * 100);
  EXPECT_EQ(*ep->write(data), data.size());
  size_t burst = 0;
  while (auto seg = h.next_segment()) burst += seg->payload.empty() ? 0 : 1;
  EXPECT_EQ(burst, before / 2);
  EXPECT_EQ(ep->info().tcpi_snd_cwnd, before / 2);
}

// Without timestamps only F-RTO (RFC 5682 3.1, as Linux's tcp_process_loss) can tell a timeout
// that a delay spike caused. Ten segments sent with two more queued, no ACK until the timer
// fires; the ACK of the resent first segment lets the two new segments go instead of more
// retransmissions (step 2b).
// Without the timestamp option's 12 bytes a segment carries the whole MSS.
constexpr uint32_t kMss = 1460;

std::vector<CapturedSegment> frto_to_step_two(TcpHarness& h, Endpoint& ep) {
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, Options{});  // settle the window
  auto data = bytes(kMss * 12);
  EXPECT_EQ(*ep.write(data), data.size());
  std::vector<CapturedSegment> flight;
  for (int i = 0; i < 10; ++i) flight.push_back(h.expect_segment(PayloadSize(kMss)));
  h.expect_no_segment();
  advance_until(h, "rto_timeouts", 3000);
  EXPECT_EQ(h.counter("rto_timeouts"), 1u);
  h.expect_segment(AllOf(SeqIs(flight[0].seq), PayloadSize(kMss)));
  h.expect_no_segment();
  h.send_segment(kAck, h.peer_seq, flight[0].seq + kMss, 1000, Options{});
  flight.push_back(h.expect_segment(AllOf(SeqIs(flight[9].seq + kMss), PayloadSize(kMss))));
  flight.push_back(h.expect_segment(AllOf(SeqIs(flight[10].seq + kMss), PayloadSize(kMss))));
  h.expect_no_segment();
  return flight;
}

TcpOptions without_timestamps_or_probes() {
  TcpOptions o;
  o.timestamps = false;
  o.tlp = false;  // a tail probe would send the queued data before the timeout
  return o;
}

Options syn_ack_without_timestamps(const TcpHarness& h) {
  Options o = h.peer_syn_options();
  o.timestamps.reset();
  return o;
}

// The next ACK covers the second segment, never resent: it arrived as first sent, the timeout
// was spurious (step 3b). The reduction and the marks go, so nothing else is resent.
TEST(TcpDataPath, FrtoUndoesATimeoutWhenAnOriginalIsAcknowledged) {
  TcpHarness h(without_timestamps_or_probes());
  auto ep = h.connect(syn_ack_without_timestamps(h));
  auto flight = frto_to_step_two(h, *ep);
  EXPECT_EQ(ep->info().tcpi_ca_state, 4);
  h.send_segment(kAck, h.peer_seq, flight[1].seq + kMss, 1000, Options{});
  EXPECT_EQ(h.counter("undone_by_frto"), 1u);
  EXPECT_EQ(ep->info().tcpi_ca_state, 0);
  EXPECT_GE(ep->info().tcpi_snd_cwnd, 10u);
  // Segments 2-9 are in flight, not lost; the window lets no more go (everything is sent).
  h.expect_no_segment();
  EXPECT_EQ(h.counter("retransmitted_segments"), 1u);
  h.send_segment(kAck, h.peer_seq, flight[11].seq + kMss, 1000, Options{});
  h.expect_no_segment();
  EXPECT_EQ(ep->info().tcpi_unacked, 0u);
}

// The next ACK SACKs only the new data: the originals were lost (step 3a), and go-back-N
// resends them.
TEST(TcpDataPath, FrtoKeepsATimeoutWhenOnlyTheNewDataArrives) {
  TcpHarness h(without_timestamps_or_probes());
  auto ep = h.connect(syn_ack_without_timestamps(h));
  auto flight = frto_to_step_two(h, *ep);
  Options sack;
  sack.add_sack({flight[10].seq, flight[10].seq + kMss});
  h.send_segment(kAck, h.peer_seq, flight[1].seq, 1000, sack);
  EXPECT_EQ(h.counter("undone_by_frto"), 0u);
  EXPECT_EQ(ep->info().tcpi_ca_state, 4);
  h.expect_segment(AllOf(SeqIs(flight[1].seq), PayloadSize(kMss)));
}

// While the stack holds data out of order, every segment it sends carries SACK blocks, which
// the MSS leaves no room for: data segments shrink by the blocks' option bytes so that header
// and payload still fit the MTU (Linux's tcp_current_mss). Full segments carrying blocks
// exceeded it and were dropped at the link, and the lossy two-way transfer test took twice as
// long for it.
TEST(TcpDataPath, DataSegmentsCarryingSackBlocksStillFitTheMtu) {
  TcpHarness h;
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq + 100, h.local_seq, 1000, h.peer_ack_options(), bytes(100));
  h.expect_segment(SackBlocksAre(std::vector<SeqRange>{{h.peer_seq + 100, h.peer_seq + 200}}));
  auto data = bytes(1448 * 2);
  ASSERT_EQ(*ep->write(data), data.size());
  size_t sent = 0;
  while (auto seg = h.next_segment()) {
    ASSERT_EQ(seg->options.sack_block_count, 1u);
    // 20 + 12 (timestamps) + 12 (one block) + payload = the 1500-byte MTU at most.
    EXPECT_LE(20 + 12 + 12 + seg->payload.size(), 1480u);
    sent += seg->payload.size();
  }
  EXPECT_EQ(sent, data.size());
  // The hole filled, segments are full-sized again.
  h.send_segment(kAck, h.peer_seq, h.local_seq + static_cast<uint32_t>(sent), 1000,
                 h.peer_ack_options(), bytes(100));
  h.drain();
  ASSERT_EQ(*ep->write(bytes(1448)), 1448u);
  h.expect_segment(AllOf(PayloadSize(1448), SackBlocksAre(std::vector<SeqRange>{})));
}

// A receiver may discard data it SACKed (RFC 2018 section 8; Linux and weir do when short of
// memory). When the timer fires with the first outstanding segment still SACKed, the sender
// forgets every SACK mark and resends from snd.una: SACKed data it kept skipping would wait
// forever.
TEST(TcpDataPath, RetransmissionTimeoutAfterRenegingResendsTheSackedHead) {
  TcpHarness h;
  auto ep = h.connect();
  auto flight = send_flight(h, *ep, 4);
  SeqNum una = h.local_seq;
  Options o = h.peer_ack_options();
  o.add_sack({flight[0].seq, flight[1].seq + 1448});  // held out of order, then dropped
  h.send_segment(kAck, h.peer_seq, una, 1000, o);
  bool head_resent = false;
  for (int i = 0; i < 40 && !head_resent; ++i) {
    h.advance(std::chrono::milliseconds(100));
    while (auto seg = h.next_segment()) {
      if (seg->seq == una && !seg->payload.empty()) head_resent = true;
    }
  }
  EXPECT_TRUE(head_resent);
  EXPECT_GE(h.counter("rto_timeouts"), 1u);
  EXPECT_EQ(h.counter("sack_reneging"), 1u);
}

TEST(TcpDataPath, NewRenoFastRetransmitOnThreeDupAcks) {
  TcpOptions o;
  o.sack = false;
  TcpHarness h(o);
  auto ep = h.connect();
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());  // settle the window
  auto flight = send_flight(h, *ep, 6);
  SeqNum una = h.local_seq;
  Options ts = h.peer_ack_options();
  for (int i = 0; i < 2; ++i) h.send_segment(kAck, h.peer_seq, una, 1000, ts);
  h.expect_no_segment();
  h.send_segment(kAck, h.peer_seq, una, 1000, ts);
  h.expect_segment(AllOf(SeqIs(una), PayloadSize(1448)));
  EXPECT_EQ(h.counter("newreno_recoveries"), 1u);
  EXPECT_EQ(h.counter("dup_acks_received"), 3u);
  // Partial ACK: the next hole is retransmitted at once (RFC 6582).
  h.drain();
  h.send_segment(kAck, h.peer_seq, flight[2].seq, 1000, ts);
  h.expect_segment(SeqIs(flight[2].seq));
}

TEST(TcpDataPath, NagleHoldsSmallSegmentsUntilAcked) {
  TcpHarness h;
  auto ep = h.connect();
  ASSERT_EQ(*ep->write(as_bytes("a")), 1u);
  h.expect_segment(PayloadSize(1));
  ASSERT_EQ(*ep->write(as_bytes("bc")), 2u);
  h.expect_no_segment();
  h.send_segment(kAck, h.peer_seq, h.local_seq + 1, 1000, h.peer_ack_options());
  h.expect_segment(AllOf(SeqIs(h.local_seq + 1), PayloadSize(2)));
}

// Minshall's variant, as Linux: only an unacknowledged partial segment holds the next one.
// Full segments in flight do not, so a write's tail goes with its full segments.
TEST(TcpDataPath, NagleLetsATailGoWhenNoSmallSegmentIsInFlight) {
  TcpHarness h;
  auto ep = h.connect();
  ASSERT_EQ(*ep->write(bytes(3000)), 3000u);
  h.expect_segment(PayloadSize(1448));
  h.expect_segment(PayloadSize(1448));
  h.expect_segment(AllOf(SeqIs(h.local_seq + 2896), PayloadSize(104)));
  // Now a small segment is in flight: the next small write waits for its ACK, even though the
  // full segments before it are still unacknowledged.
  ASSERT_EQ(*ep->write(as_bytes("xyz")), 3u);
  h.expect_no_segment();
  h.send_segment(kAck, h.peer_seq, h.local_seq + 3000, 1000, h.peer_ack_options());
  h.expect_segment(AllOf(SeqIs(h.local_seq + 3000), PayloadSize(3)));
}

// The HTTP pattern: a small head, then a body. The body's full segments go at once; its
// partial tail waits for the head's ACK, which the peer sends for the full segments.
TEST(TcpDataPath, NagleHoldsOnlyTheTailBehindAnUnackedHead) {
  TcpHarness h;
  auto ep = h.connect();
  ASSERT_EQ(*ep->write(bytes(100)), 100u);
  h.expect_segment(PayloadSize(100));
  ASSERT_EQ(*ep->write(bytes(3000)), 3000u);
  h.expect_segment(AllOf(SeqIs(h.local_seq + 100), PayloadSize(1448)));
  h.expect_segment(AllOf(SeqIs(h.local_seq + 1548), PayloadSize(1448)));
  h.expect_no_segment();
  h.send_segment(kAck, h.peer_seq, h.local_seq + 100, 1000, h.peer_ack_options());
  h.expect_segment(AllOf(SeqIs(h.local_seq + 2996), PayloadSize(104)));
}

// The RTT comes from the send times of what an ACK covers, at the clock's resolution: a
// 150 us round trip reads as 150 us, where the timestamp echo would round it to 1 ms.
TEST(TcpDataPath, RttIsMeasuredInMicrosecondsFromSendTimes) {
  TcpHarness h;
  auto ep = h.connect();
  ASSERT_EQ(*ep->write(bytes(1000)), 1000u);
  h.expect_segment(PayloadSize(1000));
  h.advance(std::chrono::microseconds(150));
  h.send_segment(kAck, h.peer_seq, h.local_seq + 1000, 1000, h.peer_ack_options());
  EXPECT_EQ(ep->connection()->rtt().latest_rtt(), std::chrono::microseconds(150));
  // A retransmitted record gives no sample from its send time (Karn): the echo of the
  // retransmission's TSval decides, at the 1 ms resolution of the TSval clock.
  ASSERT_EQ(*ep->write(bytes(1000)), 1000u);
  h.expect_segment(PayloadSize(1000));
  std::optional<CapturedSegment> resent;
  for (int i = 0; i < 1000 && !resent; ++i) {
    h.advance(std::chrono::milliseconds(1));
    resent = h.next_segment();
  }
  ASSERT_TRUE(resent && resent->options.timestamps);
  h.advance(std::chrono::microseconds(100));
  tcp::Options echo;
  echo.timestamps = tcp::Timestamps{h.peer_ts, resent->options.timestamps->value};
  h.send_segment(kAck, h.peer_seq, h.local_seq + 2000, 1000, echo);
  EXPECT_EQ(ep->connection()->rtt().latest_rtt(), std::chrono::milliseconds(1));
}

TEST(TcpDataPath, NoDelaySendsAtOnce) {
  TcpHarness h;
  auto ep = h.connect();
  ASSERT_TRUE(ep->set_option(SocketOption::kNoDelay, 1).ok());
  ASSERT_EQ(*ep->write(as_bytes("a")), 1u);
  ASSERT_EQ(*ep->write(as_bytes("bc")), 2u);
  h.expect_segment(PayloadSize(1));
  h.expect_segment(PayloadSize(2));
}

TEST(TcpDataPath, CorkHoldsUntilFullOrUncorked) {
  TcpHarness h;
  auto ep = h.connect();
  ep->set_cork(true);
  ASSERT_EQ(*ep->write(as_bytes("header")), 6u);
  h.expect_no_segment();
  ASSERT_EQ(*ep->write(bytes(2000)), 2000u);
  h.expect_segment(PayloadSize(1448));  // a full segment goes
  h.expect_no_segment();
  ep->set_cork(false);
  h.expect_segment(PayloadSize(558));
}

TEST(TcpDataPath, PeerWindowIsScaledAndRespected) {
  TcpHarness h;
  h.peer_wscale = 2;
  auto ep = h.connect();
  ep->set_no_delay(true);
  // Window field 1500 << 2 = 6000 bytes.
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1500, h.peer_ack_options());
  EXPECT_EQ(ep->connection()->send_window(), 6000u);
  ASSERT_EQ(*ep->write(bytes(10000)), 10000u);
  for (int i = 0; i < 4; ++i) h.expect_segment(PayloadSize(1448));
  // 208 bytes of window left: sender SWS avoidance waits for more.
  h.expect_no_segment();
  h.send_segment(kAck, h.peer_seq, h.local_seq + 1448, 1500, h.peer_ack_options());
  h.expect_segment(AllOf(SeqIs(h.local_seq + 4 * 1448), PayloadSize(1448)));
}

TEST(TcpDataPath, OurWindowIsScaledAndNeverShrinks) {
  TcpOptions o;
  o.receive_buffer = 64 * 1024;
  o.receive_buffer_max = 1 << 20;
  o.receive_autotune = false;
  TcpHarness h(o);
  auto ep = h.connect();
  EXPECT_EQ(ep->info().tcpi_rcv_wscale, 5);  // 1 MiB needs 65535 << 5
  // Fill part of the buffer: the advertised right edge does not move left.
  auto seg = bytes(1000);
  SeqNum right = h.peer_seq + (65536u);
  for (int i = 0; i < 10; ++i) {
    h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(), seg);
    h.peer_seq += 1000;
    while (auto s = h.next_segment()) {
      SeqNum edge = s->ack + (uint32_t{s->window} << 5);
      EXPECT_GE(edge, right - 32);
    }
  }
}

TEST(TcpDataPath, ZeroWindowWhenBufferFull) {
  TcpOptions o;
  o.receive_buffer = 4096;
  o.receive_autotune = false;
  TcpHarness h(o);
  auto ep = h.connect();
  auto seg = bytes(1024);
  for (int i = 0; i < 4; ++i) {
    h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(), seg);
    h.peer_seq += 1024;
  }
  CapturedSegment last;
  while (auto s = h.next_segment()) last = *s;
  EXPECT_EQ(last.window, 0);
  // Data beyond the window is not taken.
  h.send_segment(kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(), seg);
  h.expect_segment(AllOf(AckIs(h.peer_seq), WindowIs(0)));
  // Reading opens the window with an update.
  std::vector<std::byte> buf(4096);
  EXPECT_EQ(*ep->read(buf), 4096u);
  auto upd = h.expect_segment(AckIs(h.peer_seq));
  EXPECT_GT(upd.window, 0);
  EXPECT_EQ(h.counter("window_updates_sent"), 1u);
}

// A peer without window scaling (RFC 7323 off, as lwIP's default) sees at most 65535 bytes of
// window, however large our buffer: reading a little is no news to it. Every read of a
// request/response exchange used to send a window update, because the free space (128 KiB)
// always looked two segments larger than the window the field can carry.
TEST(TcpDataPath, ReadsSendNoWindowUpdatesToAPeerWithoutWindowScaling) {
  TcpHarness h;  // our buffer: 128 KiB
  tcp::Options syn_ack = h.peer_syn_options();
  syn_ack.window_scale.reset();
  auto ep = h.connect(syn_ack);
  EXPECT_EQ(ep->info().tcpi_rcv_wscale, 0);
  std::vector<std::byte> buf(64);
  for (int i = 0; i < 20; ++i) {
    h.send_segment(kAck | kPsh, h.peer_seq, h.local_seq, 65535, h.peer_ack_options(), bytes(10));
    h.peer_seq += 10;
    ASSERT_EQ(*ep->read(buf), 10u);
    ASSERT_EQ(*ep->write(bytes(10)), 10u);
    // The response, perhaps after a quick ACK of the request; never a window update.
    int responses = 0;
    while (auto s = h.next_segment()) {
      EXPECT_EQ(s->window, 65535);
      if (!s->payload.empty()) ++responses;
    }
    EXPECT_EQ(responses, 1);
    h.local_seq += 10;
    h.send_segment(kAck, h.peer_seq, h.local_seq, 65535, h.peer_ack_options());
  }
  EXPECT_EQ(h.counter("window_updates_sent"), 0u);
  // A window that really opens is still announced: send up to the advertised edge until it
  // nearly closes (a delayed ACK may hold the last edge back), then read everything.
  tcp::SeqNum right = h.peer_seq + 65535;
  size_t queued = 0;
  for (int i = 0; i < 1000 && right - h.peer_seq >= 1460; ++i) {
    h.send_segment(kAck, h.peer_seq, h.local_seq, 65535, h.peer_ack_options(), bytes(1460));
    h.peer_seq += 1460;
    queued += 1460;
    while (auto s = h.next_segment()) right = s->ack + s->window;
    if (right - h.peer_seq < 1460) h.advance(std::chrono::milliseconds(200));
    while (auto s = h.next_segment()) right = s->ack + s->window;
  }
  ASSERT_LT(right - h.peer_seq, 1460u);
  std::vector<std::byte> all(queued);
  ASSERT_EQ(*ep->read(all), queued);
  h.expect_segment(AllOf(AckIs(h.peer_seq), WindowIs(65535)));
  EXPECT_EQ(h.counter("window_updates_sent"), 1u);
}

TEST(TcpDataPath, MaxSegmentClampsAdvertisedMss) {
  TcpHarness h;
  auto ep = Endpoint::create(h.stack, AddressFamily::kIpv4);
  ep->set_max_segment(536);
  (void)ep->connect(SocketAddress{h.remote_address, h.remote_port});
  h.expect_segment(AllOf(HasFlags(kSyn), MssIs(536)));
}

TEST(TcpDataPath, PeerMssLimitsSegments) {
  TcpHarness h;
  Options o = h.peer_syn_options();
  o.mss = 500;
  auto ep = h.connect(o);
  EXPECT_EQ(ep->connection()->send_mss(), 488u);  // minus 12 bytes of timestamps
  ASSERT_EQ(*ep->write(bytes(1000)), 1000u);
  h.expect_segment(PayloadSize(488));
}

TEST(TcpDataPath, FragmentationNeededShrinksSegments) {
  TcpOptions o;
  o.tlp = false;
  TcpHarness h(o);
  auto ep = h.connect();
  auto flight = send_flight(h, *ep, 2);
  std::array<std::byte, 8> quoted{};
  store_be16(quoted, 0, h.local_port);
  store_be16(quoted, 2, h.remote_port);
  store_be32(quoted, 4, flight[0].seq.value());
  TransportControl c;
  c.type = ControlType::kFragmentationNeeded;
  c.mtu = 1000;
  c.local_address = h.local_address;
  c.remote_address = h.remote_address;
  c.transport_header = quoted;
  h.tcp->handle_control(c);
  EXPECT_EQ(ep->connection()->send_mss(), 1000u - 40 - 12);
  EXPECT_EQ(h.counter("pmtu_updates"), 1u);
  // The too-large segments are resent at once in smaller pieces.
  h.expect_segment(AllOf(SeqIs(flight[0].seq), PayloadSize(948)));
  // A quote for a sequence number we never sent is ignored.
  store_be32(quoted, 4, flight[0].seq.value() + 1000000);
  c.mtu = 600;
  h.tcp->handle_control(c);
  EXPECT_EQ(ep->connection()->send_mss(), 948u);
  EXPECT_EQ(h.counter("drop_icmp_unmatched"), 1u);
}

TEST(TcpDataPath, PortUnreachableInSynSentRefuses) {
  TcpHarness h;
  auto ep = Endpoint::create(h.stack, AddressFamily::kIpv4);
  (void)ep->connect(SocketAddress{h.remote_address, h.remote_port});
  auto syn = h.expect_segment(HasFlags(kSyn));
  std::array<std::byte, 8> quoted{};
  store_be16(quoted, 0, syn.source_port);
  store_be16(quoted, 2, h.remote_port);
  store_be32(quoted, 4, syn.seq.value());
  TransportControl c;
  c.type = ControlType::kPortUnreachable;
  c.local_address = h.local_address;
  c.remote_address = h.remote_address;
  c.transport_header = quoted;
  h.tcp->handle_control(c);
  EXPECT_EQ(ep->take_error(), Error::kConnectionRefused);
}

TEST(TcpDataPath, SynCookiesUnderSynFlood) {
  TcpOptions o;
  o.syn_backlog = 4;
  TcpHarness h(o);
  auto l = h.listen(64);
  std::vector<CapturedSegment> synacks;
  for (uint16_t i = 0; i < 20; ++i) {
    h.send_segment_from(h.remote_address, static_cast<uint16_t>(50000 + i), kSyn, SeqNum(1000 * i),
                        SeqNum(0), 65535, h.peer_syn_options());
    synacks.push_back(h.expect_segment(AllOf(HasFlags(kSyn | kAck), AckIs(1000 * i + 1))));
  }
  EXPECT_EQ(l->listener()->syn_queue_length(), 4u);  // the rest kept no state
  EXPECT_EQ(h.counter("syn_cookies_sent"), 16u);
  EXPECT_EQ(h.tcp->connection_count(), 4u);
  // The cookie SYN-ACK keeps the options.
  const CapturedSegment& cookie = synacks[10];
  EXPECT_THAT(cookie, AllOf(MssIs(1460), HasSackPermitted(), HasTimestamps()));
  EXPECT_TRUE(cookie.options.window_scale.has_value());
  // Completing the handshake with the cookie creates the connection.
  Options a;
  a.timestamps = Timestamps{h.peer_ts + 1, cookie.options.timestamps->value};
  h.send_segment_from(h.remote_address, 50010, kAck, SeqNum(10001), cookie.seq + 1, 1000, a);
  EXPECT_EQ(h.counter("syn_cookies_validated"), 1u);
  auto accepted = l->accept();
  ASSERT_TRUE(accepted.ok());
  TcpInfo info = (*accepted)->info();
  EXPECT_EQ(info.tcpi_options, 7);  // TS, SACK and window scaling all survived
  EXPECT_EQ(info.tcpi_snd_wscale, 7);
  EXPECT_EQ(info.tcpi_snd_mss, 1460u - 12);
  EXPECT_EQ((*accepted)->connection()->send_window(), 1000u << 7);
  // Data flows on it.
  ASSERT_EQ(*(*accepted)->write(as_bytes("hi")), 2u);
  h.expect_segment(AllOf(SeqIs(cookie.seq + 1), PayloadSize(2)));
  // A forged ACK is refused with a RST.
  h.send_segment_from(h.remote_address, 50011, kAck, SeqNum(11001), cookie.seq + 77, 1000, a);
  h.expect_segment(HasFlags(kRst));
  EXPECT_EQ(h.counter("syn_cookies_failed"), 1u);
}

TEST(TcpDataPath, EndpointDestroyedWhileSendingFinishesInProtocol) {
  TcpHarness h;
  auto ep = h.connect();
  ASSERT_EQ(*ep->write(bytes(100)), 100u);
  h.expect_segment(PayloadSize(100));
  ep.reset();  // graceful close after the queued data
  h.expect_segment(AllOf(HasFlags(kFin | kAck), SeqIs(h.local_seq + 100)));
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq + 101, 1000, h.peer_ack_options());
  h.expect_segment(AckIs(h.peer_seq + 1));
  EXPECT_EQ(h.tcp->connection_count(), 1u);
  h.advance(std::chrono::seconds(61));
  EXPECT_EQ(h.tcp->connection_count(), 0u);
}

TEST(TcpDataPath, WriteBlocksWhenSendBufferFull) {
  TcpHarness h;
  auto ep = h.connect();
  ep->set_send_buffer(4096);
  h.send_segment(kAck, h.peer_seq, h.local_seq, 0, h.peer_ack_options());  // zero window
  EXPECT_EQ(*ep->write(bytes(10000)), 4096u);
  EXPECT_EQ(ep->write(bytes(1)).error(), Error::kWouldBlock);
  EXPECT_EQ(ep->readiness() & kEventWritable, 0u);
}

TEST(TcpDataPath, LossRecoveryStateComesWithTheFirstDataSegment) {
  TcpHarness h;
  auto ep = h.connect();
  const Connection& conn = *ep->connection();
  // Opened and idle: no scoreboard, RACK or controller yet, but the window it will start with.
  EXPECT_FALSE(conn.loss_recovery_active());
  EXPECT_EQ(conn.congestion_window(), 10u * conn.send_mss());
  EXPECT_EQ(ep->info().tcpi_snd_cwnd, 10u);
  // A pure ACK and a window update change nothing.
  h.send_segment(kAck, h.peer_seq, h.local_seq, 2000, h.peer_ack_options());
  EXPECT_FALSE(conn.loss_recovery_active());

  ASSERT_EQ(*ep->write(bytes(100)), 100u);
  h.expect_segment(AllOf(HasFlags(kAck | kPsh), SeqIs(h.local_seq)));
  EXPECT_TRUE(conn.loss_recovery_active());
  EXPECT_EQ(conn.congestion_window(), 10u * conn.send_mss());
  h.send_segment(kAck, h.peer_seq, h.local_seq + 100, 2000, h.peer_ack_options());
  // The controller now sees ACKs: 100 bytes of a 10-segment window were app-limited, so the
  // window does not grow (RFC 7661), and the ACK's round trip was measured.
  EXPECT_EQ(conn.congestion_window(), 10u * conn.send_mss());
  EXPECT_TRUE(conn.rtt().has_sample());
}

TEST(TcpDataPath, OpenedIdleConnectionsGiveBackTheHandshakesTimer) {
  {
    TcpHarness server;
    auto l = server.listen();
    auto passive = server.accept_connection(*l);
    ASSERT_NE(passive, nullptr);
    EXPECT_FALSE(passive->connection()->holds_timer_storage());
  }
  TcpHarness h;
  auto active = h.connect();
  EXPECT_FALSE(active->connection()->holds_timer_storage());

  // Data makes the timers again (retransmission), and a connection that has carried data keeps
  // them when they are disarmed: the next burst should not pay for them.
  ASSERT_EQ(*active->write(bytes(10)), 10u);
  h.expect_segment(AllOf(HasFlags(kAck | kPsh), SeqIs(h.local_seq)));
  EXPECT_TRUE(active->connection()->holds_timer_storage());
  h.send_segment(kAck, h.peer_seq, h.local_seq + 10, 2000, h.peer_ack_options());
  EXPECT_TRUE(active->connection()->holds_timer_storage());
  // Timers still run on the storage made again: a keepalive probe after the idle time.
  active->set_keepalive(true);
  active->set_keepalive_params(std::chrono::seconds(5), std::chrono::seconds(1), 3);
  h.advance(std::chrono::seconds(6));
  h.expect_segment(AllOf(HasFlags(kAck), SeqIs(h.local_seq + 9)));
}

TEST(TcpDataPath, AnOpenedIdleConnectionParksItsParts) {
  TcpHarness h;
  auto active = h.connect();
  ASSERT_NE(active, nullptr);
  const Connection& c = *active->connection();
  EXPECT_TRUE(c.parked());
  // Parked, it answers as the established connection it is, with nothing queued.
  EXPECT_EQ(c.state(), State::kEstablished);
  EXPECT_EQ(c.snd_una(), h.local_seq);
  EXPECT_EQ(c.snd_nxt(), h.local_seq);
  EXPECT_EQ(c.rcv_nxt(), h.peer_seq);
  EXPECT_EQ(c.send_window(), 65535u);  // the SYN-ACK's, never scaled
  EXPECT_GT(c.receive_window(), 0u);
  EXPECT_EQ(c.send_queue_bytes(), 0u);
  EXPECT_EQ(c.receive_queue().readable(), 0u);
  EXPECT_TRUE(c.rtt().has_sample());  // the handshake's
  EXPECT_NE(active->readiness() & kEventWritable, 0u);
  EXPECT_EQ(active->readiness() & kEventReadable, 0u);
  TcpInfo parked = active->info();
  EXPECT_EQ(parked.tcpi_state, static_cast<uint8_t>(LinuxTcpState::kEstablished));
  EXPECT_EQ(parked.tcpi_snd_cwnd, 10u);
  EXPECT_EQ(parked.tcpi_snd_wnd, 65535u);
  EXPECT_EQ(parked.tcpi_bytes_acked, 0u);
  EXPECT_EQ(parked.tcpi_rtt, static_cast<uint32_t>(to_micros(c.rtt().srtt())));

  // A read that finds nothing, or changing an option, leaves it parked.
  std::array<std::byte, 8> buf{};
  EXPECT_EQ(active->read(buf).error(), Error::kWouldBlock);
  active->set_no_delay(true);
  EXPECT_TRUE(c.parked());

  // The peer's data makes the parts again where they were: delivered and ACKed.
  h.send_segment(kAck | kPsh, h.peer_seq, h.local_seq, 2000, h.peer_ack_options(),
                 as_bytes("hello"));
  EXPECT_FALSE(c.parked());
  h.expect_segment(AllOf(HasFlags(kAck), SeqIs(h.local_seq), AckIs(h.peer_seq + 5)));
  ASSERT_EQ(*active->read(buf), 5u);
  h.peer_seq += 5;
  // Our data continues the sequence space; a connection that has carried data stays working.
  ASSERT_EQ(*active->write(bytes(10)), 10u);
  h.expect_segment(AllOf(HasFlags(kAck | kPsh), SeqIs(h.local_seq), AckIs(h.peer_seq)));
  h.send_segment(kAck, h.peer_seq, h.local_seq + 10, 2000, h.peer_ack_options());
  EXPECT_FALSE(c.parked());
  EXPECT_EQ(active->info().tcpi_bytes_acked, 10u);
}

TEST(TcpDataPath, AParkedConnectionKeepsItsTimersAndPassiveSideParksToo) {
  TcpHarness server;
  auto l = server.listen();
  auto passive = server.accept_connection(*l);
  ASSERT_NE(passive, nullptr);
  EXPECT_TRUE(passive->connection()->parked());

  TcpHarness h;
  auto active = h.connect();
  const Connection& c = *active->connection();
  active->set_keepalive(true);
  active->set_keepalive_params(std::chrono::seconds(5), std::chrono::seconds(1), 3);
  EXPECT_TRUE(c.parked());  // keepalive is the one timer a parked connection may have
  h.advance(std::chrono::seconds(6));
  h.expect_segment(AllOf(HasFlags(kAck), SeqIs(h.local_seq - 1)));
  EXPECT_TRUE(c.parked());
  h.send_segment(kAck, h.peer_seq, h.local_seq, 2000, h.peer_ack_options());
  EXPECT_TRUE(c.parked());
  // Unanswered probes still end it, through the parts made again.
  h.advance(std::chrono::seconds(6));
  for (int k = 0; k < 3; ++k) {
    h.expect_segment(AllOf(HasFlags(kAck), SeqIs(h.local_seq - 1)));
    h.advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(c.state(), State::kClosed);
  std::array<std::byte, 1> buf{};
  EXPECT_EQ(active->read(buf).error(), Error::kTimedOut);
}

TEST(TcpDataPath, AConnectedEndpointsOptionsLiveInItsConnection) {
  TcpHarness h;
  auto ep = h.connect();
  ep->set_no_delay(true);
  ASSERT_TRUE(ep->set_option(SocketOption::kKeepIdle, 42).ok());
  EXPECT_TRUE(ep->connection()->socket_options().no_delay);
  EXPECT_EQ(ep->connection()->socket_options().keepalive_idle, std::chrono::seconds(42));
  EXPECT_EQ(*ep->get_option(SocketOption::kNoDelay), 1);
  EXPECT_EQ(*ep->get_option(SocketOption::kKeepIdle), 42);
  ep->close();
  EXPECT_EQ(ep->get_option(SocketOption::kNoDelay).error(), Error::kBadFileDescriptor);
  EXPECT_EQ(ep->local_address().error(), Error::kBadFileDescriptor);
}

TEST(TcpDataPath, ConnectionsWithEqualOptionsShareOneCopy) {
  TcpHarness h;
  auto a = h.connect();
  auto b = h.connect();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(&a->connection()->socket_options(), &b->connection()->socket_options());
  // Changing one connection's options leaves the other's alone.
  a->set_no_delay(true);
  EXPECT_TRUE(a->connection()->socket_options().no_delay);
  EXPECT_FALSE(b->connection()->socket_options().no_delay);
  EXPECT_EQ(*b->get_option(SocketOption::kNoDelay), 0);
  b->set_no_delay(true);  // equal again: shared again
  EXPECT_EQ(&a->connection()->socket_options(), &b->connection()->socket_options());
}

TEST(TcpDataPath, TcpInfoAndOptions) {
  TcpHarness h;
  auto ep = h.connect();
  EXPECT_EQ(*ep->get_option(SocketOption::kMaxSegment), 1448);
  ASSERT_TRUE(ep->set_option(SocketOption::kKeepIdle, 30).ok());
  EXPECT_EQ(*ep->get_option(SocketOption::kKeepIdle), 30);
  EXPECT_FALSE(ep->set_option(SocketOption::kKeepCount, 0).ok());
  EXPECT_FALSE(ep->set_option(SocketOption::kKeepCount, 128).ok());  // Linux: at most 127
  EXPECT_TRUE(ep->set_option(SocketOption::kKeepCount, 127).ok());
  TcpInfo i = ep->info();
  EXPECT_EQ(i.tcpi_snd_cwnd, 10u);
  EXPECT_EQ(i.tcpi_rcv_wscale, 7);
  EXPECT_EQ(i.tcpi_snd_wscale, 7);
}

}  // namespace
}  // namespace weir::tcp
