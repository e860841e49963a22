// State-machine tests: one connection driven through the TCP harness.
#include "tcp/connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/tcp_harness.h"

namespace weir::tcp {
namespace {

using ::testing::AllOf;
using weir::testing::AckIs;
using weir::testing::HasFlags;
using weir::testing::HasSackPermitted;
using weir::testing::HasTimestamps;
using weir::testing::MssIs;
using weir::testing::PayloadSize;
using weir::testing::SeqIs;
using weir::testing::TcpHarness;
using weir::testing::WindowScaleIs;

std::vector<std::byte> pattern(size_t n, uint8_t seed = 0) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<uint8_t>(i * 7 + seed));
  return v;
}

TEST(TcpConnection, ActiveOpenSendsSynWithOptions) {
  TcpHarness h;
  auto ep = Endpoint::create(h.stack, AddressFamily::kIpv4);
  auto st = ep->connect(SocketAddress{h.remote_address, h.remote_port});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), Error::kInProgress);
  auto syn = h.expect_segment(
      AllOf(HasFlags(kSyn), MssIs(1460), HasSackPermitted(), HasTimestamps(), WindowScaleIs(7)));
  EXPECT_EQ(ep->connection()->state(), State::kSynSent);
  EXPECT_EQ(ep->readiness() & kEventWritable, 0u);
  EXPECT_TRUE(syn.params.dont_fragment);
}

TEST(TcpConnection, ThreeWayHandshakeActive) {
  TcpHarness h;
  auto ep = h.connect();
  EXPECT_EQ(ep->connection()->state(), State::kEstablished);
  EXPECT_NE(ep->readiness() & kEventWritable, 0u);
  auto info = ep->info();
  EXPECT_EQ(info.tcpi_state, 1);
  EXPECT_EQ(info.tcpi_options, 7);
  EXPECT_EQ(info.tcpi_snd_mss, 1460u - 12);
  EXPECT_EQ(h.counter("active_opens"), 1u);
  EXPECT_EQ(h.counter("established"), 1u);
}

TEST(TcpConnection, ThreeWayHandshakePassive) {
  TcpHarness h;
  auto l = h.listen();
  EXPECT_EQ(l->accept().error(), Error::kWouldBlock);
  auto ep = h.accept_connection(*l);
  ASSERT_NE(ep, nullptr);
  EXPECT_EQ(ep->connection()->state(), State::kEstablished);
  EXPECT_EQ(ep->remote_address()->port, h.remote_port);
  EXPECT_EQ(h.counter("passive_opens"), 1u);
}

TEST(TcpConnection, DataBothWays) {
  TcpHarness h;
  auto ep = h.connect();
  auto data = pattern(100);
  ASSERT_EQ(*ep->write(data), 100u);
  auto seg = h.expect_segment(AllOf(HasFlags(kAck | kPsh), SeqIs(h.local_seq), PayloadSize(100)));
  EXPECT_EQ(seg.payload, data);
  h.send_segment(kAck, h.peer_seq, h.local_seq + 100, 1000, h.peer_ack_options());
  h.local_seq += 100;
  EXPECT_EQ(ep->connection()->snd_una(), h.local_seq);

  auto in = pattern(50, 3);
  h.send_segment(kAck | kPsh, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(), in);
  h.peer_seq += 50;
  h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq)));  // quick ACK at start
  std::vector<std::byte> buf(200);
  auto n = ep->read(buf);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 50u);
  EXPECT_TRUE(std::equal(in.begin(), in.end(), buf.begin()));
  EXPECT_EQ(ep->read(buf).error(), Error::kWouldBlock);
}

// TCP_NOTSENT_LOWAT: a write queues no more than the limit of bytes not yet sent, a write with
// the limit reached would block, and the connection is writable only while under half the
// limit waits (Linux's tcp_stream_memory_free, which poll asks with the unsent bytes doubled).
TEST(TcpConnection, NotSentLowatBoundsTheBytesWaitingToBeSent) {
  TcpHarness h;
  auto ep = h.connect();
  ep->set_no_delay(true);
  ASSERT_TRUE(ep->set_option(SocketOption::kNotSentLowat, 4000).ok());
  EXPECT_EQ(ep->get_option(SocketOption::kNotSentLowat).value_or(0), 4000);
  // The peer's window is closed: everything written waits.
  h.send_segment(kAck, h.peer_seq, h.local_seq, 0, h.peer_ack_options());
  const auto data = pattern(10000);
  EXPECT_EQ(ep->write(data).value_or(0), 4000u);
  EXPECT_EQ(ep->write(data).error(), Error::kWouldBlock);
  EXPECT_EQ(ep->readiness() & kEventWritable, 0u);
  // Two segments go (the window field is scaled by 2^7): less than half the limit waits.
  h.send_segment(kAck, h.peer_seq, h.local_seq, 3000 >> h.peer_wscale, h.peer_ack_options());
  h.expect_segment(PayloadSize(1448));
  h.expect_segment(PayloadSize(1448));
  const uint32_t waiting = ep->connection()->info().tcpi_notsent_bytes;
  ASSERT_LT(2 * waiting, 4000u);
  EXPECT_NE(ep->readiness() & kEventWritable, 0u);
  const size_t second = ep->write(ByteView(data).subspan(4000)).value_or(0);
  EXPECT_EQ(second, 4000u - waiting);
  EXPECT_EQ(ep->connection()->info().tcpi_notsent_bytes, 4000u);
  // Refused again; then no limit: the send buffer is the bound, and a waiting writer hears it.
  EXPECT_EQ(ep->write(data).error(), Error::kWouldBlock);
  EventMask seen = 0;
  Waiter w(kEventWritable, [&](EventMask m) { seen |= m; });
  ep->waiters().add(w);
  ASSERT_TRUE(ep->set_option(SocketOption::kNotSentLowat, 0).ok());
  EXPECT_NE(seen & kEventWritable, 0u);
  EXPECT_NE(ep->readiness() & kEventWritable, 0u);
  EXPECT_EQ(ep->write(ByteView(data).subspan(4000 + second)).value_or(0), 6000u - second);
}

TEST(TcpConnection, RstInSynSentRefuses) {
  TcpHarness h;
  auto ep = Endpoint::create(h.stack, AddressFamily::kIpv4);
  (void)ep->connect(SocketAddress{h.remote_address, h.remote_port});
  auto syn = h.expect_segment(HasFlags(kSyn));
  h.local_port = syn.source_port;
  h.send_segment(kRst | kAck, SeqNum(0), syn.seq + 1, 0);
  EXPECT_EQ(ep->connection()->state(), State::kClosed);
  EXPECT_NE(ep->readiness() & kEventError, 0u);
  EXPECT_EQ(ep->take_error(), Error::kConnectionRefused);
}

TEST(TcpConnection, WaitersHearConnectDataAndClose) {
  TcpHarness h;
  auto ep = Endpoint::create(h.stack, AddressFamily::kIpv4);
  EventMask seen = 0;
  Waiter w(kEventReadable | kEventWritable | kEventHangup | kEventReadHangup,
           [&](EventMask m) { seen |= m; });
  ep->waiters().add(w);  // registered before connect(): still hears the connection
  (void)ep->connect(SocketAddress{h.remote_address, h.remote_port});
  auto syn = h.expect_segment(HasFlags(kSyn));
  h.local_port = syn.source_port;
  Options o = h.peer_syn_options();
  o.timestamps->echo = syn.options.timestamps->value;
  h.send_segment(kSyn | kAck, h.peer_seq, syn.seq + 1, 65535, o);
  h.peer_seq += 1;
  h.local_seq = syn.seq + 1;
  EXPECT_NE(seen & kEventWritable, 0u);
  seen = 0;
  h.send_segment(kAck | kPsh, h.peer_seq, h.local_seq, 1000, h.peer_ack_options(),
                 as_bytes("data"));
  h.peer_seq += 4;
  EXPECT_NE(seen & kEventReadable, 0u);
  seen = 0;
  h.send_segment(kFin | kAck, h.peer_seq, h.local_seq, 1000, h.peer_ack_options());
  EXPECT_NE(seen & kEventReadHangup, 0u);
  EXPECT_NE(ep->readiness() & kEventReadHangup, 0u);
}

TEST(TcpConnection, BindConflictsAndEphemeralPorts) {
  TcpHarness h;
  auto a = Endpoint::create(h.stack, AddressFamily::kIpv4);
  auto b = Endpoint::create(h.stack, AddressFamily::kIpv4);
  ASSERT_TRUE(a->bind(SocketAddress{h.local_address, 8080}).ok());
  EXPECT_EQ(b->bind(SocketAddress{h.local_address, 8080}).error(), Error::kAddressInUse);
  EXPECT_EQ(b->bind(SocketAddress{Ipv4Address(10, 9, 9, 9), 1}).error(),
            Error::kAddressNotAvailable);
  ASSERT_TRUE(b->bind(SocketAddress{h.local_address, 0}).ok());
  EXPECT_GE(b->local_address()->port, PortTable::kEphemeralFirst);
  std::vector<std::byte> buf(1);
  EXPECT_EQ(b->read(buf).error(), Error::kNotConnected);
  EXPECT_EQ(b->accept().error(), Error::kInvalidArgument);
}

TEST(TcpConnection, Ipv6ActiveAndPassive) {
  TcpHarness h({}, 1500, AddressFamily::kIpv6);
  auto ep = Endpoint::create(h.stack, AddressFamily::kIpv6);
  (void)ep->connect(SocketAddress{h.remote_address, h.remote_port});
  // MSS from the 40-byte IPv6 header.
  auto syn = h.expect_segment(AllOf(HasFlags(kSyn), MssIs(1440)));
  EXPECT_TRUE(syn.destination.is_v6());
  ep.reset();
  h.drain();
  h.remote_port = 40100;
  auto c = h.connect();
  ASSERT_EQ(*c->write(as_bytes("v6")), 2u);
  h.expect_segment(PayloadSize(2));
  auto l = h.listen();
  h.remote_port = 40200;
  auto s = h.accept_connection(*l);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->remote_address()->address.is_v6());
  EXPECT_EQ(s->info().tcpi_snd_mss, 1440u - 12);  // limited by our path MTU, not the peer's 1460
}

}  // namespace
}  // namespace weir::tcp
