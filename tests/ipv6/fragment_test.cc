// Fragments on the receive path (RFC 8200 4.5, RFC 5722, RFC 6946, RFC 7112) and the
// reassembler on its own.
#include "ipv6/reassembly.h"
#include "tests/ipv6/fixture.h"

namespace weir::ipv6::test {
namespace {

class Ipv6FragmentInputTest : public Ipv6Test {
 protected:
  void SetUp() override {
    Ipv6Test::SetUp();
    learn_peer();
  }
  // An echo request of `size` data bytes, as the upper-layer bytes to fragment.
  std::vector<std::byte> echo_message(size_t size, uint16_t seq = 1) {
    return icmpv6_echo(kTestIcmpv6EchoRequest, 9, seq, pattern(size), kPeerIp, kOurIp);
  }
  void inject_fragment(ByteView upper, uint32_t offset, size_t length, bool more, uint32_t id,
                       ByteView before = {}, uint8_t first = 44) {
    auto piece = upper.subspan(offset, std::min(length, upper.size() - offset));
    inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = first},
                concat({before, fragment_header(58, offset, more, id), piece}));
  }
};

TEST_F(Ipv6FragmentInputTest, FragmentsReassembleInAnyOrder) {
  auto echo = echo_message(3000);
  inject_fragment(echo, 2400, 1200, false, 7);
  inject_fragment(echo, 0, 1200, true, 7);
  EXPECT_FALSE(peer_->read());
  inject_fragment(echo, 1200, 1200, true, 7);
  auto frames = peer_->read_all();
  // The 3000-byte reply leaves in fragments too; reassemble it with the decoder's help.
  ASSERT_THAT(frames, SizeIs(3));
  std::vector<std::byte> reply;
  for (const auto& f : frames) {
    auto ip = decode_ipv6(decode_ethernet(f)->payload);
    ASSERT_TRUE(ip && ip->fragment);
    EXPECT_EQ(ip->fragment->offset, reply.size());
    reply.insert(reply.end(), ip->payload.begin(), ip->payload.end());
  }
  EXPECT_THAT(reply, IsIcmpv6(IcmpType(129), IcmpId(9), Payload(pattern(3000))));
  EXPECT_EQ(counters().rx_reassembled, 1u);
  EXPECT_EQ(reassembly_counters().datagrams_reassembled, 1u);
}

TEST_F(Ipv6FragmentInputTest, UnfragmentablePartIsKeptAndTheChainResumes) {
  auto echo = echo_message(100);
  auto dst = options_header(44, {});
  inject_fragment(echo, 0, 64, true, 3, dst, 60);
  inject_fragment(echo, 64, 64, false, 3, dst, 60);
  EXPECT_THAT(peer_->read(), Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(129))))));
}

TEST_F(Ipv6FragmentInputTest, AtomicFragmentIsProcessedAtOnce) {
  auto echo = echo_message(40);
  inject_fragment(echo, 0, echo.size(), false, 11);
  EXPECT_THAT(peer_->read(), Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(129))))));
  EXPECT_EQ(counters().rx_atomic_fragments, 1u);
  EXPECT_EQ(ip_->reassembler().datagram_count(), 0u);
}

TEST_F(Ipv6FragmentInputTest, OverlapDropsTheWholeDatagram) {
  auto echo = echo_message(200);
  inject_fragment(echo, 0, 96, true, 5);
  inject_fragment(echo, 88, 96, true, 5);  // overlaps the first
  inject_fragment(echo, 96, 200, false, 5);
  EXPECT_FALSE(peer_->read());
  EXPECT_EQ(reassembly_counters().drop_overlap, 1u);
}

TEST_F(Ipv6FragmentInputTest, NonMultipleOf8WithMoreIsAParameterProblemAtPayloadLength) {
  auto echo = echo_message(200);
  inject_fragment(echo, 0, 100, true, 5);
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(4), IcmpCode(0), IcmpRest(4))))));
  EXPECT_EQ(counters().drop_fragment_bad_length, 1u);
}

TEST_F(Ipv6FragmentInputTest, PastMaximumIsAParameterProblemAtTheOffsetField) {
  auto echo = echo_message(200);
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 44},
              concat({fragment_header(58, 65528, false, 5), pattern(16)}));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(4), IcmpCode(0), IcmpRest(42))))));
  EXPECT_EQ(counters().drop_fragment_too_long, 1u);
}

TEST_F(Ipv6FragmentInputTest, FirstFragmentWithoutTheWholeChainIsRefused) {
  // The first fragment holds a destination options header that continues into the next one.
  auto upper =
      concat({options_header(58, std::vector<std::byte>(20, std::byte{0x1e})), echo_message(40)});
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 44},
              concat({fragment_header(60, 0, true, 8), ByteView(upper).first(16)}));
  EXPECT_THAT(peer_->read(),
              Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(4), IcmpCode(3), IcmpRest(0))))));
  // An upper-layer header cut short counts too (TCP needs 20 bytes; 16 are there).
  auto tcp = concat({options_header(6, std::vector<std::byte>(20, std::byte{0x1e})), pattern(40)});
  inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 44},
              concat({fragment_header(60, 0, true, 9), ByteView(tcp).first(40)}));
  EXPECT_THAT(peer_->read(), Optional(IsIpv6Frame(Payload(IsIcmpv6(IcmpType(4), IcmpCode(3))))));
  EXPECT_EQ(counters().drop_fragment_incomplete_chain, 2u);
}

TEST_F(Ipv6FragmentInputTest, TimeoutSendsTimeExceededWhenTheFirstFragmentCame) {
  auto echo = echo_message(200);
  inject_fragment(echo, 0, 96, true, 5);
  advance(std::chrono::seconds(59));
  EXPECT_FALSE(read_ip());  // only neighbor probes so far
  learn_peer();             // the peer is still there when the error goes out
  advance(std::chrono::seconds(1));
  auto m = icmp_in(read_ip());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->type, 3);
  EXPECT_EQ(m->code, 1);
  // It quotes the first fragment, Fragment header and all.
  EXPECT_THAT(m->payload, IsIpv6(Src(kPeerIp), Dst(kOurIp), IsFragmentPiece()));
  EXPECT_EQ(reassembly_counters().drop_timeout, 1u);
  // Without the first fragment: silence.
  inject_fragment(echo, 96, 104, false, 6);
  advance(std::chrono::seconds(61));
  EXPECT_FALSE(read_ip());
  EXPECT_EQ(reassembly_counters().drop_timeout, 2u);
}

TEST_F(Ipv6FragmentInputTest, FragmentedDatagramToATransport) {
  FakeTransport& udp = add_fake_transport(17);
  auto datagram = udp6_datagram(1, 2, pattern(3000), kPeerIp, kOurIp);
  for (uint32_t off = 0; off < datagram.size(); off += 1448) {
    const bool more = off + 1448 < datagram.size();
    auto piece = ByteView(datagram).subspan(off, std::min<size_t>(1448, datagram.size() - off));
    inject_ipv6({.source = kPeerIp, .destination = kOurIp, .next_header = 44},
                concat({fragment_header(17, off, more, 77), piece}));
  }
  ASSERT_THAT(udp.received, SizeIs(1));
  EXPECT_EQ(udp.received[0].bytes, datagram);
}

// ---- The reassembler on its own ----

class ReassemblerTest : public ::testing::Test {
 protected:
  ReassemblerTest() : timers_(clock_), r_(timers_) {}

  std::optional<Reassembled> add(Reassembler& r, uint32_t id, uint32_t offset, size_t length,
                                 bool more) {
    std::vector<std::byte> headers =
        ipv6_packet({.source = v6("fd00::2"), .destination = v6("fd00::1"), .next_header = 44},
                    fragment_header(17, offset, more, id));
    Fragment f;
    f.headers = headers;
    f.next_header_field = 6;
    f.next_header = 17;
    f.offset = offset;
    f.more = more;
    auto data = pattern(length, static_cast<uint8_t>(offset));
    return r.add(FragmentKey{v6("fd00::2"), v6("fd00::1"), id}, f, PacketBuffer::from_bytes(data));
  }

  ManualClock clock_;
  TimerWheel timers_;
  Reassembler r_;
};

TEST_F(ReassemblerTest, CompletesWhenTheBytesAddUp) {
  EXPECT_FALSE(add(r_, 1, 8, 8, true));
  EXPECT_FALSE(add(r_, 1, 16, 5, false));
  auto done = add(r_, 1, 0, 8, true);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->payload.size(), 21u);
  EXPECT_EQ(done->next_header, 17);
  EXPECT_EQ(done->next_header_field, 6u);
  EXPECT_EQ(done->headers.size(), 48u);
  EXPECT_EQ(r_.datagram_count(), 0u);
  EXPECT_EQ(r_.memory_used(), 0u);
}

TEST_F(ReassemblerTest, DuplicatesAreIgnoredOverlapsAndBadEndsDrop) {
  EXPECT_FALSE(add(r_, 1, 0, 16, true));
  EXPECT_FALSE(add(r_, 1, 0, 16, true));
  EXPECT_EQ(r_.counters().duplicates_ignored, 1u);
  EXPECT_FALSE(add(r_, 1, 8, 16, true));
  EXPECT_EQ(r_.counters().drop_overlap, 1u);
  EXPECT_EQ(r_.datagram_count(), 0u);

  EXPECT_FALSE(add(r_, 2, 16, 8, false));
  EXPECT_FALSE(add(r_, 2, 32, 8, true));  // past the known end
  EXPECT_EQ(r_.counters().drop_inconsistent_end, 1u);
  EXPECT_FALSE(add(r_, 3, 0, 12, true));  // not a multiple of 8
  EXPECT_EQ(r_.counters().drop_bad_fragment_length, 1u);
}

TEST_F(ReassemblerTest, TimesOutAndReportsTheFirstFragment) {
  int reported = 0;
  size_t quoted = 0;
  r_.set_timeout_handler([&](ByteView headers, const PacketBuffer& payload) {
    ++reported;
    quoted = headers.size() + payload.size();
  });
  EXPECT_FALSE(add(r_, 1, 0, 16, true));
  clock_.advance(std::chrono::seconds(60));
  timers_.run();
  EXPECT_EQ(reported, 1);
  EXPECT_EQ(quoted, 48u + 16u);
  EXPECT_EQ(r_.counters().drop_timeout, 1u);
  EXPECT_EQ(r_.memory_used(), 0u);
}

TEST_F(ReassemblerTest, MemoryBudgetSharedWithAnotherReassemblerEvictsTheOldest) {
  // Two reassemblers (standing in for IPv4's and IPv6's) on one budget of three fragments.
  // A 16-byte fragment is kept in the small chunk it came in, and charged that chunk.
  const size_t pinned = PacketBuffer::from_bytes(pattern(16, 0)).pinned_bytes();
  const size_t per_fragment = pinned + 48 + Reassembler::kFragmentOverhead;
  MemoryBudget budget(per_fragment * 3);
  Reassembler a(timers_, {}, &budget);
  Reassembler b(timers_, {}, &budget);
  EXPECT_FALSE(add(a, 1, 0, 16, true));
  clock_.advance(std::chrono::milliseconds(1));
  EXPECT_FALSE(add(b, 1, 0, 16, true));
  EXPECT_FALSE(add(b, 2, 0, 16, true));
  EXPECT_EQ(budget.used(), per_fragment * 3);
  EXPECT_FALSE(add(b, 3, 0, 16, true));  // a's datagram is the oldest: it goes
  EXPECT_EQ(a.datagram_count(), 0u);
  EXPECT_EQ(a.counters().drop_memory_limit, 1u);
  EXPECT_EQ(b.datagram_count(), 3u);
  EXPECT_EQ(budget.used(), per_fragment * 3);
}

TEST_F(ReassemblerTest, TinyFragmentsInLargeFramesAreChargedWhatTheyPin) {
  const std::vector<std::byte> headers(48);
  Fragment f;
  f.headers = headers;
  f.next_header = 17;
  f.more = true;
  const auto bytes = pattern(1440, 1);
  for (uint32_t id = 0; id < 1000; ++id) {
    PacketBuffer frame = PacketBuffer::from_bytes(bytes);  // a frame-sized chunk
    ASSERT_FALSE(r_.add(FragmentKey{v6("fd00::2"), v6("fd00::1"), id}, f, frame.slice(0, 8)));
  }
  const size_t small_chunk = PacketBuffer::allocate(8, 0).pinned_bytes();
  EXPECT_LT(small_chunk, 1024u);
  EXPECT_EQ(r_.memory_used(), 1000 * (small_chunk + 48 + Reassembler::kFragmentOverhead));
}

TEST_F(ReassemblerTest, TooManyFragmentsDrop) {
  Reassembler r(timers_, ReassemblyOptions{.max_fragments = 2});
  EXPECT_FALSE(add(r, 1, 0, 8, true));
  EXPECT_FALSE(add(r, 1, 8, 8, true));
  EXPECT_FALSE(add(r, 1, 16, 8, true));
  EXPECT_EQ(r.counters().drop_too_many_fragments, 1u);
}

}  // namespace
}  // namespace weir::ipv6::test
