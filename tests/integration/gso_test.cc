// Software segmentation (stack/gso.h) with the real IPv4, IPv6 and TCP layers supplying the
// per-segment rewrites: what each cut segment looks like on the wire, what is refused, and a
// NIC cutting TCP's batches for a link that cannot segment.
#include "stack/gso.h"

#include <gtest/gtest.h>

#include <vector>

#include "ipv4/ipv4.h"
#include "ipv4/wire.h"
#include "ipv6/ipv6.h"
#include "ipv6/wire.h"
#include "stack/checksum.h"
#include "stack/clock.h"
#include "stack/nic.h"
#include "stack/stack.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "tcp/wire.h"
#include "tests/testing/tcp_network.h"

namespace weir {
namespace {

constexpr uint16_t kMss = 1000;

struct Layers {
  ManualClock clock;
  Stack stack{clock, repeatable_stack_options(1)};
  Layers() {
    ipv4::install(stack);
    ipv6::install(stack);
    tcp::install(stack);
  }
};

const IpAddress kSource4 = IpAddress::parse("10.1.0.1").value();
const IpAddress kDestination4 = IpAddress::parse("10.1.0.2").value();
const IpAddress kSource6 = IpAddress::parse("fd00::1").value();
const IpAddress kDestination6 = IpAddress::parse("fd00::2").value();

std::vector<std::byte> pattern(size_t n) {
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = std::byte(static_cast<uint8_t>(i * 7 + 3));
  return out;
}

// A TCP GSO packet as TCP and the IP layer build it: header with the partial checksum, the
// network header in front, gso_type and gso_size set.
PacketBuffer gso_packet(const IpAddress& src, const IpAddress& dst, ByteView payload,
                        uint8_t flags) {
  tcp::SegmentHeader h;
  h.source_port = 4000;
  h.destination_port = 80;
  h.seq = tcp::SeqNum(0xfffff000);  // wraps inside the packet
  h.ack = tcp::SeqNum(77);
  h.flags = flags;
  h.window = 512;
  h.options.timestamps = tcp::Timestamps{100, 200};
  PacketBuffer pkt = tcp::build_segment_offloaded(h, PacketBuffer::from_bytes(payload), src, dst);
  pkt.meta().gso_type = src.is_v4() ? GsoType::kTcpV4 : GsoType::kTcpV6;
  pkt.meta().gso_size = kMss;
  pkt.meta().gso_segments = static_cast<uint16_t>((payload.size() + kMss - 1) / kMss);
  if (src.is_v4()) {
    ipv4::HeaderFields f;
    f.total_length = static_cast<uint16_t>(pkt.size() + 20);
    f.id = 0xfffe;  // wraps too
    f.flags_and_offset = ipv4::kFlagDontFragment;
    f.protocol = kProtocolTcp;
    f.source = src.v4();
    f.destination = dst.v4();
    ipv4::emit_header(pkt.push_front(20), f);
    pkt.meta().network_protocol = kEtherTypeIpv4;
  } else {
    ipv6::HeaderFields f;
    f.payload_length = static_cast<uint16_t>(pkt.size());
    f.next_header = kProtocolTcp;
    f.source = src.v6();
    f.destination = dst.v6();
    ipv6::emit_header(pkt.push_front(40), f);
    pkt.meta().network_protocol = kEtherTypeIpv6;
  }
  return pkt;
}

void expect_segments(const std::vector<PacketBuffer>& segments, const IpAddress& src,
                     const IpAddress& dst, ByteView payload, uint8_t flags) {
  const size_t network = src.is_v4() ? 20 : 40;
  const size_t expected_count = (payload.size() + kMss - 1) / kMss;
  ASSERT_EQ(segments.size(), expected_count);
  std::vector<std::byte> joined;
  for (size_t i = 0; i < segments.size(); ++i) {
    SCOPED_TRACE(i);
    PacketBuffer copy = segments[i].clone();
    EXPECT_EQ(copy.meta().gso_type, GsoType::kNone);
    EXPECT_TRUE(copy.meta().needs_checksum);  // the link or the NIC still sums it
    finish_offloaded_checksum(copy);
    const std::vector<std::byte> bytes = copy.to_vector();
    const size_t piece = std::min<size_t>(kMss, payload.size() - i * kMss);
    if (src.is_v4()) {
      EXPECT_EQ(load_be16(bytes, 2), bytes.size());
      EXPECT_EQ(load_be16(bytes, 4), static_cast<uint16_t>(0xfffe + i));
      EXPECT_EQ(internet_checksum(ByteView(bytes).first(20)), 0);
    } else {
      EXPECT_EQ(load_be16(bytes, 4), bytes.size() - 40);
    }
    PacketBuffer transport = copy.clone();
    transport.pull_front(network);
    EXPECT_TRUE(tcp::checksum_valid(transport, src, dst));
    auto segment = tcp::Segment::parse(ByteView(bytes).subspan(network));
    ASSERT_TRUE(segment);
    EXPECT_EQ(segment->seq(), tcp::SeqNum(0xfffff000) + static_cast<uint32_t>(i * kMss));
    EXPECT_EQ(segment->ack(), tcp::SeqNum(77));
    EXPECT_EQ(segment->payload().size(), piece);
    ASSERT_TRUE(segment->options().timestamps);
    EXPECT_EQ(segment->options().timestamps->value, 100u);
    const bool first = i == 0;
    const bool last = i + 1 == segments.size();
    uint8_t want = flags;
    if (!last) want &= static_cast<uint8_t>(~(tcp::kFin | tcp::kPsh));
    if (!first) want &= static_cast<uint8_t>(~tcp::kCwr);
    EXPECT_EQ(segment->flags(), want);
    joined.insert(joined.end(), segment->payload().begin(), segment->payload().end());
  }
  EXPECT_EQ(joined, std::vector<std::byte>(payload.begin(), payload.end()));
}

TEST(SoftwareGso, CutsIpv4TcpIntoSegmentsThatCheckOut) {
  Layers l;
  const auto payload = pattern(3 * kMss + 321);  // a short last segment
  const uint8_t flags = tcp::kAck | tcp::kPsh | tcp::kFin | tcp::kCwr;
  std::vector<PacketBuffer> out;
  ASSERT_TRUE(segment_in_software(l.stack, gso_packet(kSource4, kDestination4, payload, flags),
                                  out));
  expect_segments(out, kSource4, kDestination4, payload, flags);
}

TEST(SoftwareGso, CutsIpv6TcpIntoSegmentsThatCheckOut) {
  Layers l;
  const auto payload = pattern(5 * kMss);  // whole segments only
  const uint8_t flags = tcp::kAck | tcp::kPsh;
  std::vector<PacketBuffer> out;
  ASSERT_TRUE(segment_in_software(l.stack, gso_packet(kSource6, kDestination6, payload, flags),
                                  out));
  expect_segments(out, kSource6, kDestination6, payload, flags);
}

TEST(SoftwareGso, PayloadIsSharedNotCopied) {
  Layers l;
  const auto payload = pattern(2 * kMss);
  PacketBuffer pkt = gso_packet(kSource4, kDestination4, payload, tcp::kAck);
  std::vector<PacketBuffer> out;
  ASSERT_TRUE(segment_in_software(l.stack, pkt, out));
  ASSERT_EQ(out.size(), 2u);
  // Each segment is its own header chunk plus a slice of the original payload.
  for (const auto& s : out) EXPECT_EQ(s.view_count(), 2u);
}

TEST(SoftwareGso, RefusesWhatItCannotCutAndLeavesOutputAlone) {
  Layers l;
  const auto payload = pattern(2 * kMss);
  std::vector<PacketBuffer> out;
  out.push_back(PacketBuffer::allocate(1));

  // A data offset that points past the packet.
  PacketBuffer bad_offset = gso_packet(kSource4, kDestination4, payload, tcp::kAck);
  {
    auto bytes = bad_offset.mutable_front(33).value();
    store_u8(bytes, 32, 0x40);  // data offset 4 words: shorter than the minimum header
  }
  EXPECT_FALSE(segment_in_software(l.stack, bad_offset, out));

  // IPv4 options: the header is longer than where the transport is said to start.
  PacketBuffer options = gso_packet(kSource4, kDestination4, payload, tcp::kAck);
  {
    auto bytes = options.mutable_front(1).value();
    store_u8(bytes, 0, 0x46);
  }
  EXPECT_FALSE(segment_in_software(l.stack, options, out));

  // No transport claims UDP segmentation in this stack, and a packet without a partial
  // checksum or without a segment size is not a GSO packet.
  PacketBuffer udp = gso_packet(kSource4, kDestination4, payload, tcp::kAck);
  udp.meta().gso_type = GsoType::kUdp;
  EXPECT_FALSE(segment_in_software(l.stack, udp, out));
  PacketBuffer summed = gso_packet(kSource4, kDestination4, payload, tcp::kAck);
  summed.meta().needs_checksum = false;
  EXPECT_FALSE(segment_in_software(l.stack, summed, out));
  PacketBuffer no_size = gso_packet(kSource4, kDestination4, payload, tcp::kAck);
  no_size.meta().gso_size = 0;
  EXPECT_FALSE(segment_in_software(l.stack, no_size, out));
  // Headers only, no payload.
  PacketBuffer empty = gso_packet(kSource4, kDestination4, {}, tcp::kAck);
  EXPECT_FALSE(segment_in_software(l.stack, empty, out));

  EXPECT_EQ(out.size(), 1u);
}

// A link that records what it is given, with or without GSO.
class RecordingLink final : public LinkEndpoint {
 public:
  explicit RecordingLink(bool gso) : gso_(gso) {}
  uint32_t mtu() const override { return 1500; }
  LinkCapabilities capabilities() const override {
    return {.resolution_required = false, .gso = gso_};
  }
  uint16_t max_header_length() const override { return 0; }
  MacAddress link_address() const override { return MacAddress(); }
  void attach(NetworkDispatcher* d) override { attached_ = d != nullptr; }
  bool attached() const override { return attached_; }
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override {
    for (auto& p : packets) written.push_back(std::move(p));
    return packets.size();
  }
  std::vector<PacketBuffer> written;

 private:
  bool gso_;
  bool attached_ = false;
};

TEST(SoftwareGso, NicCutsForALinkThatCannotAndPassesWholeToOneThatCan) {
  for (bool link_gso : {false, true}) {
    SCOPED_TRACE(link_gso);
    Layers l;
    auto link = std::make_unique<RecordingLink>(link_gso);
    RecordingLink& recorder = *link;
    const NicId id = l.stack.add_nic(std::move(link), "eth0").value();
    Nic& nic = *l.stack.nic(id);
    const auto payload = pattern(4 * kMss + 1);
    std::vector<PacketBuffer> batch;
    batch.push_back(gso_packet(kSource4, kDestination4, payload, tcp::kAck | tcp::kPsh));
    batch.push_back(PacketBuffer::from_bytes(pattern(60)));  // an ordinary packet beside it
    batch.back().meta().network_protocol = kEtherTypeIpv4;
    PacketBuffer udp = gso_packet(kSource4, kDestination4, payload, tcp::kAck);
    udp.meta().gso_type = GsoType::kUdp;
    batch.push_back(std::move(udp));
    (void)nic.write_packets(batch);
    if (link_gso) {
      EXPECT_EQ(recorder.written.size(), 3u);
      EXPECT_EQ(nic.counters().tx_gso_software_packets, 0u);
    } else {
      ASSERT_EQ(recorder.written.size(), 6u);  // five segments, then the ordinary packet
      EXPECT_EQ(nic.counters().tx_gso_software_packets, 1u);
      EXPECT_EQ(nic.counters().tx_gso_software_segments, 5u);
      EXPECT_EQ(nic.counters().tx_drop_gso_unsegmentable, 1u);
      for (size_t i = 0; i < 5; ++i) {
        // The link sums nothing, so the NIC did: every segment's TCP checksum checks out.
        EXPECT_FALSE(recorder.written[i].meta().needs_checksum);
        PacketBuffer transport = recorder.written[i].clone();
        transport.pull_front(20);
        EXPECT_TRUE(tcp::checksum_valid(transport, kSource4, kDestination4));
        EXPECT_LE(recorder.written[i].size(), 1500u);
      }
      EXPECT_EQ(recorder.written[5].size(), 60u);
    }
  }
}

// TCP over a link that cannot segment: it still sends batches, the NIC cuts them, the link
// never sees a packet over its MTU, and the data arrives whole.
TEST(SoftwareGso, TcpBatchesAreCutForAPlainLink) {
  testing::TcpNetwork net;
  auto& a = net.a();
  auto& b = net.b();
  auto listener = tcp::Endpoint::create(*b.stack, AddressFamily::kIpv4);
  ASSERT_TRUE(listener->bind(SocketAddress{b.address, 7}).ok());
  ASSERT_TRUE(listener->listen(1).ok());
  auto client = tcp::Endpoint::create(*a.stack, AddressFamily::kIpv4);
  (void)client->connect(SocketAddress{b.address, 7});
  std::unique_ptr<tcp::Endpoint> server;
  ASSERT_TRUE(net.run_until([&] {
    if (!server) {
      if (auto r = listener->accept(); r.ok()) server = std::move(*r);
    }
    return server != nullptr;
  }));
  const auto data = pattern(2 << 20);
  size_t written = 0;
  std::vector<std::byte> received;
  std::vector<std::byte> buf(64 * 1024);
  ASSERT_TRUE(net.run_until(
      [&] {
        if (written < data.size()) {
          auto n = client->write(ByteView(data).subspan(written));
          if (n.ok()) written += *n;
        }
        while (true) {
          auto n = server->read(buf);
          if (!n.ok() || *n == 0) break;
          received.insert(received.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
        }
        return received.size() == data.size();
      },
      std::chrono::seconds(60)));
  EXPECT_EQ(received, data);
  const NicCounters& nic = a.stack->nic(1)->counters();
  EXPECT_GT(nic.tx_gso_software_packets, 0u);
  EXPECT_GT(nic.tx_gso_software_segments, nic.tx_gso_software_packets);
  EXPECT_EQ(nic.tx_drop_gso_unsegmentable, 0u);
  EXPECT_EQ(a.channel->counters().tx_drop_too_big, 0u);
  EXPECT_EQ(a.channel->counters().tx_gso_frames, 0u);
}

}  // namespace
}  // namespace weir
