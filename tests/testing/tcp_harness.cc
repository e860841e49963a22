#include "tests/testing/tcp_harness.h"

#include <ostream>

#include "stack/checksum.h"
#include "stack/gso.h"

namespace weir::testing {

namespace {

// A link that accepts everything and delivers nothing: the harness never goes below IP.
class NullLink final : public LinkEndpoint {
 public:
  explicit NullLink(uint32_t mtu) : mtu_(mtu) {}
  uint32_t mtu() const override { return mtu_; }
  LinkCapabilities capabilities() const override { return {}; }
  uint16_t max_header_length() const override { return 0; }
  MacAddress link_address() const override { return MacAddress(); }
  void attach(NetworkDispatcher* d) override { attached_ = d != nullptr; }
  bool attached() const override { return attached_; }
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override { return packets.size(); }

 private:
  uint32_t mtu_;
  bool attached_ = false;
};

}  // namespace

std::ostream& operator<<(std::ostream& os, const CapturedSegment& s) {
  os << s.source_port << "->" << s.destination_port << " [" << tcp::flags_to_string(s.flags)
     << "] seq " << s.seq.value() << " ack " << s.ack.value() << " win " << s.window << " len "
     << s.payload.size();
  if (s.options.mss) os << " mss " << *s.options.mss;
  if (s.options.window_scale) os << " ws " << int{*s.options.window_scale};
  if (s.options.sack_permitted) os << " sackOK";
  if (s.options.timestamps)
    os << " ts " << s.options.timestamps->value << "/" << s.options.timestamps->echo;
  for (auto& b : s.options.sacks())
    os << " sack[" << b.begin.value() << "," << b.end.value() << ")";
  return os;
}

Status CaptureIp::write_packet(const RouteInfo& route, const IpWriteParams& params,
                               PacketBuffer&& pkt) {
  if (fail_writes) return Error::kNoBufferSpace;
  if (pkt.meta().gso_type == GsoType::kNone) return capture(route, params, pkt);
  const size_t network_length = header_length();
  pkt.push_front(network_length);
  pkt.meta().network_protocol = ethertype();
  std::vector<PacketBuffer> segments;
  if (!segment_in_software(stack_, pkt, segments)) return Error::kInvalidArgument;
  for (PacketBuffer& segment : segments) {
    finish_offloaded_checksum(segment);
    segment.pull_front(network_length);
    WEIR_TRY(capture(route, params, segment));
  }
  return ok_status();
}

Status CaptureIp::capture(const RouteInfo& route, const IpWriteParams& params,
                          const PacketBuffer& pkt) {
  std::vector<std::byte> bytes = pkt.to_vector();
  auto seg = tcp::Segment::parse(bytes);
  if (!seg) return Error::kInvalidArgument;
  CapturedSegment c;
  c.source = route.local_address;
  c.destination = route.remote_address;
  c.source_port = seg->source_port();
  c.destination_port = seg->destination_port();
  c.seq = seg->seq();
  c.ack = seg->ack();
  c.flags = seg->flags();
  c.window = seg->window();
  c.options = seg->options();
  c.payload.assign(seg->payload().begin(), seg->payload().end());
  c.checksum_ok = tcp::checksum_valid(pkt, route.local_address, route.remote_address);
  c.params = params;
  sent.push_back(std::move(c));
  return ok_status();
}

TcpHarness::TcpHarness(tcp::TcpOptions options, uint32_t mtu, AddressFamily f)
    : stack(clock, repeatable_stack_options(42)), family(f) {
  uint8_t prefix = 24;
  if (family == AddressFamily::kIpv6) {
    local_address = IpAddress::parse("fd00::1").value();
    remote_address = IpAddress::parse("fd00::2").value();
    prefix = 64;
  }
  ip = &stack.add_network_protocol(std::make_unique<CaptureIp>(stack, family));
  tcp = &tcp::install(stack, std::move(options));
  auto nic = stack.add_nic(std::make_unique<NullLink>(mtu), "eth0");
  EXPECT_TRUE(nic.ok());
  EXPECT_TRUE(stack.add_address(*nic, IpPrefix{local_address, prefix}).ok());
}

TcpHarness::~TcpHarness() = default;

void TcpHarness::note_sent(const CapturedSegment& s) {
  if (s.options.timestamps) last_tsval = s.options.timestamps->value;
}

TransportDelivery TcpHarness::send_segment(uint8_t flags, tcp::SeqNum seq, tcp::SeqNum ack,
                                           uint16_t window, const tcp::Options& options,
                                           ByteView payload) {
  return send_segment_from(remote_address, remote_port, flags, seq, ack, window, options, payload);
}

TransportDelivery TcpHarness::send_segment_from(const IpAddress& src, uint16_t src_port,
                                                uint8_t flags, tcp::SeqNum seq, tcp::SeqNum ack,
                                                uint16_t window, const tcp::Options& options,
                                                ByteView payload) {
  tcp::SegmentHeader h;
  h.source_port = src_port;
  h.destination_port = local_port;
  h.seq = seq;
  h.ack = ack;
  h.flags = flags;
  h.window = window;
  h.options = options;
  return send_segment_header(h, PacketBuffer::from_bytes(payload), src);
}

TransportDelivery TcpHarness::send_segment_header(const tcp::SegmentHeader& hdr,
                                                  PacketBuffer payload,
                                                  std::optional<IpAddress> src) {
  const IpAddress source = src.value_or(remote_address);
  PacketBuffer pkt = tcp::build_segment(hdr, std::move(payload), source, local_address);
  NetworkPacketInfo info;
  info.nic = 1;
  info.source = source;
  info.destination = local_address;
  info.ttl = 64;
  return tcp->handle_packet(info, pkt);
}

TransportDelivery TcpHarness::send_raw(std::vector<std::byte> segment, bool keep_checksum) {
  if (!keep_checksum && segment.size() >= 18) {
    segment[16] = std::byte{0};
    segment[17] = std::byte{0};
    ChecksumAccumulator acc;
    acc.add_u16(pseudo_header_sum(remote_address, local_address, kProtocolTcp,
                                  static_cast<uint32_t>(segment.size())));
    acc.add(segment);
    uint16_t sum = acc.finish();
    segment[16] = std::byte(sum >> 8);
    segment[17] = std::byte(sum & 0xff);
  }
  PacketBuffer pkt = PacketBuffer::from_bytes(segment);
  NetworkPacketInfo info;
  info.nic = 1;
  info.source = remote_address;
  info.destination = local_address;
  return tcp->handle_packet(info, pkt);
}

std::optional<CapturedSegment> TcpHarness::next_segment() {
  if (ip->sent.empty()) return std::nullopt;
  CapturedSegment s = std::move(ip->sent.front());
  ip->sent.pop_front();
  note_sent(s);
  return s;
}

CapturedSegment TcpHarness::expect_segment(const ::testing::Matcher<const CapturedSegment&>& m) {
  auto s = next_segment();
  if (!s) {
    ADD_FAILURE() << "expected a segment, none was sent";
    return CapturedSegment{};
  }
  EXPECT_THAT(*s, m);
  EXPECT_TRUE(s->checksum_ok) << "bad checksum on " << *s;
  return *s;
}

void TcpHarness::expect_no_segment() {
  if (auto s = next_segment()) ADD_FAILURE() << "unexpected segment " << *s;
}

void TcpHarness::advance(Duration d) {
  // Step in ticks so timers that re-arm inside the interval fire at their own deadlines.
  Duration step = std::chrono::milliseconds(1);
  while (d > Duration::zero()) {
    Duration s = std::min(d, step);
    clock.advance(s);
    stack.run_timers();
    d -= s;
  }
}

tcp::Options TcpHarness::peer_syn_options() const {
  tcp::Options o;
  o.mss = 1460;
  o.window_scale = peer_wscale;
  o.sack_permitted = true;
  o.timestamps = tcp::Timestamps{peer_ts, 0};
  return o;
}

tcp::Options TcpHarness::peer_ack_options() const {
  tcp::Options o;
  o.timestamps = tcp::Timestamps{peer_ts, last_tsval};
  return o;
}

std::unique_ptr<tcp::Endpoint> TcpHarness::connect(std::optional<tcp::Options> syn_ack_options,
                                                   uint16_t peer_window) {
  auto ep = tcp::Endpoint::create(stack, family);
  auto st = ep->connect(SocketAddress{remote_address, remote_port});
  EXPECT_FALSE(st.ok());
  if (!st.ok()) {
    EXPECT_EQ(st.error(), Error::kInProgress);
  }
  auto syn = expect_segment(HasFlags(tcp::kSyn));
  local_port = syn.source_port;
  tcp::Options o = syn_ack_options.value_or(peer_syn_options());
  if (o.timestamps) o.timestamps->echo = syn.options.timestamps ? syn.options.timestamps->value : 0;
  send_segment(tcp::kSyn | tcp::kAck, peer_seq, syn.seq + 1, peer_window, o);
  peer_seq += 1;
  local_seq = syn.seq + 1;
  expect_segment(::testing::AllOf(HasFlags(tcp::kAck), AckIs(peer_seq), SeqIs(local_seq)));
  return ep;
}

std::unique_ptr<tcp::Endpoint> TcpHarness::listen(int backlog) {
  auto ep = tcp::Endpoint::create(stack, family);
  EXPECT_TRUE(ep->bind(SocketAddress{local_address, 80}).ok());
  EXPECT_TRUE(ep->listen(backlog).ok());
  local_port = 80;
  return ep;
}

std::unique_ptr<tcp::Endpoint> TcpHarness::accept_connection(
    tcp::Endpoint& listener, std::optional<tcp::Options> syn_options, uint16_t peer_window) {
  tcp::Options o = syn_options.value_or(peer_syn_options());
  send_segment(tcp::kSyn, peer_seq, tcp::SeqNum(0), peer_window, o);
  auto synack = expect_segment(HasFlags(tcp::kSyn | tcp::kAck));
  peer_seq += 1;
  local_seq = synack.seq + 1;
  tcp::Options a;
  if (o.timestamps && synack.options.timestamps) a = peer_ack_options();
  send_segment(tcp::kAck, peer_seq, local_seq, peer_window, a);
  auto accepted = listener.accept();
  EXPECT_TRUE(accepted.ok());
  if (!accepted.ok()) return nullptr;
  return std::move(*accepted);
}

uint64_t TcpHarness::counter(std::string_view name) const {
  uint64_t value = 0;
  bool found = false;
  stack.counters().for_each([&](std::string_view group, std::string_view n, uint64_t v) {
    if (group == "tcp" && n == name) {
      value = v;
      found = true;
    }
  });
  EXPECT_TRUE(found) << "no tcp counter " << name;
  return value;
}

}  // namespace weir::testing
