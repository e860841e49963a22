// A TCP test harness in the manner of gVisor's tcp testing context: one Stack with TCP
// installed over a fake IPv4 network layer that captures every segment TCP sends and lets
// the test inject segments "from the peer". Time moves only through advance().
//
//   TcpHarness h;
//   auto ep = h.connect();                      // handshake done, h.peer_seq/h.local_seq set
//   h.send_segment(kAck | kPsh, h.peer_seq, h.local_seq, 65535, {}, as_bytes("hi"));
//   h.expect_segment(AllOf(HasFlags(kAck), AckIs(h.peer_seq + 2)));
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "stack/clock.h"
#include "stack/stack.h"
#include "tcp/connection.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "tcp/wire.h"

namespace weir::testing {

// A segment TCP sent, parsed back.
struct CapturedSegment {
  IpAddress source;
  IpAddress destination;
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  tcp::SeqNum seq;
  tcp::SeqNum ack;
  uint8_t flags = 0;
  uint16_t window = 0;
  tcp::Options options;
  std::vector<std::byte> payload;
  bool checksum_ok = false;
  IpWriteParams params;

  uint32_t length() const {
    return static_cast<uint32_t>(payload.size()) + ((flags & tcp::kSyn) ? 1 : 0) +
           ((flags & tcp::kFin) ? 1 : 0);
  }
};
std::ostream& operator<<(std::ostream& os, const CapturedSegment& s);

// The fake network layer: family IPv4, 20-byte header, captures what TCP writes. A GSO packet
// is cut into segments the way the NIC would cut it for a link that cannot (stack/gso.h), so
// the tests see what goes on the wire.
class CaptureIp final : public IpProtocol {
 public:
  explicit CaptureIp(const Stack& stack, AddressFamily family = AddressFamily::kIpv4)
      : stack_(stack), family_(family) {}
  uint16_t ethertype() const override {
    return family_ == AddressFamily::kIpv4 ? kEtherTypeIpv4 : kEtherTypeIpv6;
  }
  void handle_packet(Nic& nic, PacketBuffer&& pkt) override {
    (void)nic;
    (void)pkt;
  }
  AddressFamily family() const override { return family_; }
  size_t header_length() const override { return family_ == AddressFamily::kIpv4 ? 20 : 40; }
  Status write_packet(const RouteInfo& route, const IpWriteParams& params,
                      PacketBuffer&& pkt) override;
  // The fake header has nothing to rewrite.
  bool update_segment_header(MutableByteView, size_t, uint32_t) const override { return true; }

  std::deque<CapturedSegment> sent;
  bool fail_writes = false;

 private:
  Status capture(const RouteInfo& route, const IpWriteParams& params, const PacketBuffer& pkt);

  const Stack& stack_;
  AddressFamily family_;
};

class TcpHarness {
 public:
  // family kIpv6 uses fd00::1 (local) and fd00::2 (remote) over a fake IPv6 layer.
  explicit TcpHarness(tcp::TcpOptions options = {}, uint32_t mtu = 1500,
                      AddressFamily family = AddressFamily::kIpv4);
  ~TcpHarness();

  ManualClock clock;
  Stack stack;
  CaptureIp* ip = nullptr;
  tcp::TcpProtocol* tcp = nullptr;

  AddressFamily family = AddressFamily::kIpv4;
  IpAddress local_address = Ipv4Address(10, 0, 0, 1);
  IpAddress remote_address = Ipv4Address(10, 0, 0, 2);
  uint16_t local_port = 0;  // filled by connect()/listen()
  uint16_t remote_port = 40000;

  // Sequence state of the simulated peer: the next sequence number it sends, and the next it
  // expects from the stack.
  tcp::SeqNum peer_seq{1000000};
  tcp::SeqNum local_seq;

  // Injects a segment from the peer to the stack.
  TransportDelivery send_segment(uint8_t flags, tcp::SeqNum seq, tcp::SeqNum ack, uint16_t window,
                                 const tcp::Options& options = {}, ByteView payload = {});
  // Same, from an arbitrary source (address, port).
  TransportDelivery send_segment_from(const IpAddress& src, uint16_t src_port, uint8_t flags,
                                      tcp::SeqNum seq, tcp::SeqNum ack, uint16_t window,
                                      const tcp::Options& options = {}, ByteView payload = {});
  // Injects a segment built from hdr with payload's own chunks (no copy: tests of what a
  // segment's memory pins), from src (default: the peer) to the stack's address.
  TransportDelivery send_segment_header(const tcp::SegmentHeader& hdr, PacketBuffer payload,
                                        std::optional<IpAddress> src = std::nullopt);
  // Injects raw TCP bytes (header included), checksum fixed up unless keep_checksum.
  TransportDelivery send_raw(std::vector<std::byte> segment, bool keep_checksum = false);

  // The next captured segment, if any.
  std::optional<CapturedSegment> next_segment();
  // Pops the next segment and checks it against m (fails the test when none was sent).
  CapturedSegment expect_segment(const ::testing::Matcher<const CapturedSegment&>& m);
  void expect_no_segment();
  size_t pending() const { return ip->sent.size(); }
  void drain() { ip->sent.clear(); }

  // Moves the clock and fires due timers.
  void advance(Duration d);

  // Options the simulated peer puts in its SYN / SYN-ACK by default: MSS 1460, WS 7, SACK,
  // timestamps.
  tcp::Options peer_syn_options() const;
  // Timestamps the peer puts on a segment (TSval = peer_ts, TSecr = last TSval seen).
  tcp::Options peer_ack_options() const;
  uint32_t peer_ts = 5000;
  uint32_t last_tsval = 0;  // TSval of the last segment the stack sent
  uint8_t peer_wscale = 7;

  // Active open: connect(), answer the SYN with a SYN-ACK carrying syn_ack_options, consume the
  // final ACK. Returns the established endpoint.
  std::unique_ptr<tcp::Endpoint> connect(std::optional<tcp::Options> syn_ack_options = {},
                                         uint16_t peer_window = 65535);
  // Passive open: listen on port 80, SYN -> SYN-ACK -> ACK, accept().
  std::unique_ptr<tcp::Endpoint> listen(int backlog = 16);
  std::unique_ptr<tcp::Endpoint> accept_connection(tcp::Endpoint& listener,
                                                   std::optional<tcp::Options> syn_options = {},
                                                   uint16_t peer_window = 65535);

  uint64_t counter(std::string_view name) const;

 private:
  void note_sent(const CapturedSegment& s);
};

// Matchers over CapturedSegment.
MATCHER_P(HasFlags, flags, "has flags " + tcp::flags_to_string(flags)) {
  if (arg.flags != flags) {
    *result_listener << "flags are " << tcp::flags_to_string(arg.flags);
    return false;
  }
  return true;
}
MATCHER_P(SeqIs, seq, "seq is " + std::to_string(tcp::SeqNum(seq).value())) {
  *result_listener << "seq is " << arg.seq.value();
  return arg.seq == tcp::SeqNum(seq);
}
MATCHER_P(AckIs, ack, "ack is " + std::to_string(tcp::SeqNum(ack).value())) {
  *result_listener << "ack is " << arg.ack.value();
  return arg.ack == tcp::SeqNum(ack);
}
MATCHER_P(WindowIs, w, "window is " + std::to_string(w)) {
  *result_listener << "window is " << arg.window;
  return arg.window == w;
}
MATCHER_P(PayloadSize, n, "payload of " + std::to_string(n) + " bytes") {
  *result_listener << "payload is " << arg.payload.size() << " bytes";
  return arg.payload.size() == static_cast<size_t>(n);
}
MATCHER_P(MssIs, mss, "MSS option " + std::to_string(mss)) {
  return arg.options.mss.has_value() && *arg.options.mss == mss;
}
MATCHER(HasSackPermitted, "SACK-permitted option") { return arg.options.sack_permitted; }
MATCHER(HasTimestamps, "timestamps option") { return arg.options.timestamps.has_value(); }
MATCHER_P(WindowScaleIs, ws, "window scale " + std::to_string(ws)) {
  return arg.options.window_scale.has_value() && *arg.options.window_scale == ws;
}
MATCHER_P(SackBlocksAre, blocks, "SACK blocks") {
  std::vector<tcp::SeqRange> got(arg.options.sacks().begin(), arg.options.sacks().end());
  *result_listener << "has " << got.size() << " blocks";
  for (auto& b : got) *result_listener << " [" << b.begin.value() << "," << b.end.value() << ")";
  return got == std::vector<tcp::SeqRange>(blocks);
}
MATCHER(ChecksumOk, "valid checksum") { return arg.checksum_ok; }

}  // namespace weir::testing
