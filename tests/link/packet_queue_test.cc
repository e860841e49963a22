#include "link/packet_queue.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <thread>

#include "link/ethernet.h"
#include "tests/link/recording_dispatcher.h"

namespace weir::link {
namespace {

using testing::make_packet;
using testing::RecordingDispatcher;
using testing::tag_of;

const MacAddress kMac({0x02, 0x00, 0x00, 0x00, 0x00, 0x0a});
const MacAddress kPeer({0x02, 0x00, 0x00, 0x00, 0x00, 0x0b});

bool fd_readable(int fd, int timeout_ms = 0) {
  pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
  return ::poll(&pfd, 1, timeout_ms) == 1;
}

// A packet that passes inject()'s raw IP checks: version nibble, then `tag` at bytes 4..7.
std::vector<std::byte> ip_bytes(int version, uint32_t tag, size_t size = 60) {
  std::vector<std::byte> b(size);
  b[0] = std::byte(static_cast<uint8_t>(version << 4 | 5));
  if (size >= 8) store_be32(b, 4, tag);
  return b;
}

std::unique_ptr<PacketQueueEndpoint> raw(PacketQueueOptions options = {}) {
  options.framing = Framing::kRawIp;
  return PacketQueueEndpoint::create(options).value();
}

std::unique_ptr<PacketQueueEndpoint> ethernet(PacketQueueOptions options = {}) {
  options.framing = Framing::kEthernet;
  options.mac = kMac;
  return PacketQueueEndpoint::create(options).value();
}

TEST(PacketQueue, RawIpLooksLikeATun) {
  auto ep = raw({.mtu = 1400});
  EXPECT_EQ(ep->mtu(), 1400u);
  EXPECT_EQ(ep->max_header_length(), 0);
  EXPECT_FALSE(ep->capabilities().resolution_required);
  EXPECT_FALSE(ep->capabilities().tx_checksum_offload);
  EXPECT_FALSE(ep->capabilities().rx_checksum_offload);
  EXPECT_FALSE(ep->capabilities().gso);
  EXPECT_TRUE(ep->link_address().is_zero());
  EXPECT_EQ(ep->readable_fd(), -1);
  EXPECT_EQ(ep->output_fd(), -1);
  EXPECT_FALSE(ep->needs_polling());
}

TEST(PacketQueue, EthernetLooksLikeATap) {
  auto ep = ethernet();
  EXPECT_EQ(ep->mtu(), 1500u);
  EXPECT_EQ(ep->max_header_length(), kEthernetHeaderLength);
  EXPECT_TRUE(ep->capabilities().resolution_required);
  EXPECT_EQ(ep->link_address(), kMac);
  EXPECT_EQ(ep->readable_fd(), -1);
}

TEST(PacketQueue, CreateRefusesBadOptions) {
  auto fails = [](PacketQueueOptions o) {
    auto r = PacketQueueEndpoint::create(o);
    return !r.ok() && r.error() == Error::kInvalidArgument;
  };
  EXPECT_TRUE(fails({.mtu = 67}));
  EXPECT_TRUE(fails({.mtu = 65536}));
  EXPECT_TRUE(fails({.inbound_limit = 0}));
  EXPECT_TRUE(fails({.outbound_limit = 0}));
  EXPECT_TRUE(fails({.outbound_byte_limit = 0}));
  EXPECT_TRUE(fails({.framing = Framing::kEthernet, .mac = MacAddress()}));
  EXPECT_TRUE(fails({.framing = Framing::kEthernet, .mac = MacAddress::broadcast()}));
  // A raw IP endpoint has no MAC to get wrong.
  EXPECT_TRUE(PacketQueueEndpoint::create({.framing = Framing::kRawIp, .mac = MacAddress()}).ok());
}

TEST(PacketQueue, RawIpInjectQueuesUntilProcessReceive) {
  auto ep = raw();
  RecordingDispatcher rx;
  ep->attach(&rx);
  ASSERT_TRUE(ep->inject(ip_bytes(4, 1)).ok());
  ASSERT_TRUE(ep->inject(PacketBuffer::from_bytes(ip_bytes(6, 2))).ok());
  ASSERT_TRUE(ep->inject(ip_bytes(4, 3)).ok());
  EXPECT_TRUE(rx.packets.empty());  // nothing reaches the stack from inject()
  EXPECT_EQ(ep->inbound_pending(), 3u);

  EXPECT_EQ(ep->process_receive(2), 2u);  // the budget bounds the batch
  ASSERT_EQ(rx.packets.size(), 2u);
  EXPECT_EQ(ep->process_receive(64), 1u);
  EXPECT_EQ(ep->process_receive(64), 0u);
  ASSERT_EQ(rx.packets.size(), 3u);
  EXPECT_EQ(tag_of(rx.packets[0].to_vector(), 4), 1u);
  EXPECT_EQ(rx.packets[0].meta().network_protocol, kEtherTypeIpv4);
  EXPECT_EQ(tag_of(rx.packets[1].to_vector(), 4), 2u);
  EXPECT_EQ(rx.packets[1].meta().network_protocol, kEtherTypeIpv6);
  EXPECT_EQ(rx.packets[2].meta().network_protocol, kEtherTypeIpv4);
  EXPECT_EQ(rx.packets[0].meta().link_type, LinkPacketType::kHost);
  EXPECT_EQ(ep->counters().rx_frames, 3u);
  EXPECT_EQ(ep->counters().rx_bytes, 180u);
}

TEST(PacketQueue, InjectedPacketsCarryNoTrustedMeta) {
  auto ep = raw();
  RecordingDispatcher rx;
  ep->attach(&rx);
  PacketBuffer pkt = PacketBuffer::from_bytes(ip_bytes(4, 1));
  pkt.meta().checksum_verified = true;
  pkt.meta().gso_type = GsoType::kTcpV4;
  ASSERT_TRUE(ep->inject(std::move(pkt)).ok());
  ep->process_receive(64);
  ASSERT_EQ(rx.packets.size(), 1u);
  EXPECT_FALSE(rx.packets[0].meta().checksum_verified);
  EXPECT_EQ(rx.packets[0].meta().gso_type, GsoType::kNone);
}

TEST(PacketQueue, RawIpRefusesBadPacketsWithReasons) {
  auto ep = raw({.mtu = 1280, .inbound_limit = 2});
  RecordingDispatcher rx;
  ep->attach(&rx);

  auto empty = ep->inject(ByteView());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error(), Error::kBadMessage);
  EXPECT_EQ(ep->counters().rx_drop_runt, 1u);

  auto bad_version = ep->inject(ip_bytes(5, 1));
  ASSERT_FALSE(bad_version.ok());
  EXPECT_EQ(bad_version.error(), Error::kBadMessage);
  EXPECT_EQ(ep->counters().rx_drop_bad_ip_version, 1u);

  EXPECT_EQ(ep->inject(ip_bytes(4, 1, 19)).error(), Error::kBadMessage);  // IPv4 needs 20
  EXPECT_EQ(ep->inject(ip_bytes(6, 1, 39)).error(), Error::kBadMessage);  // IPv6 needs 40
  EXPECT_EQ(ep->counters().rx_drop_runt, 3u);
  EXPECT_TRUE(ep->inject(ip_bytes(4, 1, 20)).ok());
  ep->process_receive(64);

  EXPECT_EQ(ep->inject(ip_bytes(4, 1, 1281)).error(), Error::kMessageTooLong);
  EXPECT_EQ(ep->queue_counters().rx_drop_too_big, 1u);
  EXPECT_TRUE(ep->inject(ip_bytes(4, 1, 1280)).ok());

  EXPECT_TRUE(ep->inject(ip_bytes(4, 2)).ok());
  EXPECT_EQ(ep->inject(ip_bytes(4, 3)).error(), Error::kNoBufferSpace);
  EXPECT_EQ(ep->queue_counters().rx_drop_queue_full, 1u);

  EXPECT_EQ(ep->process_receive(64), 2u);
  EXPECT_EQ(rx.packets.size(), 3u);  // only the good ones reached the dispatcher
  EXPECT_EQ(ep->counters().rx_frames, 3u);
}

TEST(PacketQueue, NotAttachedIsCountedAtDelivery) {
  auto ep = raw();
  ASSERT_TRUE(ep->inject(ip_bytes(4, 1)).ok());
  EXPECT_EQ(ep->process_receive(64), 1u);
  EXPECT_EQ(ep->counters().rx_drop_not_attached, 1u);
}

TEST(PacketQueue, EthernetInjectDeliversFramesForUs) {
  auto ep = ethernet({.mtu = 1500});
  RecordingDispatcher rx;
  ep->attach(&rx);
  const auto payload = ip_bytes(4, 7, 100);
  ASSERT_TRUE(ep->inject(build_ethernet_frame(kMac, kPeer, kEtherTypeIpv4, payload)).ok());
  ASSERT_TRUE(
      ep->inject(build_ethernet_frame(MacAddress::broadcast(), kPeer, kEtherTypeArp, payload))
          .ok());
  // For another host: accepted by inject() (a tap sees such frames) and dropped at delivery.
  ASSERT_TRUE(ep->inject(build_ethernet_frame(kPeer, kPeer, kEtherTypeIpv4, payload)).ok());
  EXPECT_EQ(ep->process_receive(64), 3u);
  ASSERT_EQ(rx.packets.size(), 2u);
  EXPECT_EQ(rx.packets[0].to_vector(), payload);  // header consumed
  EXPECT_EQ(rx.packets[0].meta().network_protocol, kEtherTypeIpv4);
  EXPECT_EQ(rx.packets[0].meta().link_source, kPeer);
  EXPECT_EQ(rx.packets[1].meta().network_protocol, kEtherTypeArp);
  EXPECT_EQ(rx.packets[1].meta().link_type, LinkPacketType::kBroadcast);
  EXPECT_EQ(ep->counters().rx_drop_other_host, 1u);
}

TEST(PacketQueue, EthernetRefusesRuntsAndFramesOverMtu) {
  auto ep = ethernet({.mtu = 1000});
  EXPECT_EQ(ep->inject(std::vector<std::byte>(13)).error(), Error::kBadMessage);
  EXPECT_EQ(ep->counters().rx_drop_runt, 1u);
  // The MTU counts the network packet: a frame may be 14 bytes longer.
  EXPECT_TRUE(
      ep->inject(build_ethernet_frame(kMac, kPeer, kEtherTypeIpv4, std::vector<std::byte>(1000)))
          .ok());
  EXPECT_EQ(
      ep->inject(build_ethernet_frame(kMac, kPeer, kEtherTypeIpv4, std::vector<std::byte>(1001)))
          .error(),
      Error::kMessageTooLong);
  EXPECT_EQ(ep->queue_counters().rx_drop_too_big, 1u);
}

TEST(PacketQueue, RawIpOutboundIsTheBarePacketInOrder) {
  auto ep = raw();
  std::vector<PacketBuffer> batch;
  for (uint32_t i = 0; i < 3; ++i) batch.push_back(make_packet(i, 100));
  ASSERT_EQ(ep->write_packets(batch).value(), 3u);
  EXPECT_EQ(ep->outbound_pending(), 3u);
  EXPECT_EQ(ep->outbound_bytes(), 300u);
  for (uint32_t i = 0; i < 3; ++i) {
    auto pkt = ep->take_outbound();
    ASSERT_TRUE(pkt);
    EXPECT_EQ(pkt->size(), 100u);
    EXPECT_EQ(tag_of(pkt->to_vector()), i);
  }
  EXPECT_FALSE(ep->take_outbound());
  EXPECT_EQ(ep->outbound_bytes(), 0u);
  EXPECT_EQ(ep->counters().tx_frames, 3u);
  EXPECT_EQ(ep->counters().tx_bytes, 300u);
}

TEST(PacketQueue, EthernetOutboundCarriesTheHeader) {
  auto ep = ethernet();
  std::vector<PacketBuffer> batch;
  batch.push_back(make_packet(9, 64, kEtherTypeIpv6, kPeer));
  ASSERT_EQ(ep->write_packets(batch).value(), 1u);
  auto frame = ep->take_outbound();
  ASSERT_TRUE(frame);
  const auto bytes = frame->to_vector();
  ASSERT_EQ(bytes.size(), 64u + kEthernetHeaderLength);
  auto view = EthernetView::parse(bytes).value();
  EXPECT_EQ(view.destination(), kPeer);
  EXPECT_EQ(view.source(), kMac);
  EXPECT_EQ(view.ethertype(), kEtherTypeIpv6);
  EXPECT_EQ(tag_of(bytes, kEthernetHeaderLength), 9u);
  EXPECT_EQ(ep->counters().tx_bytes, 64u + kEthernetHeaderLength);
}

// The room TCP asks for (LinkEndpoint::transmit_room) is the tighter of the two limits, each
// frame counted at the largest the MTU allows.
TEST(PacketQueue, TransmitRoomHonoursBothOutboundLimits) {
  auto ep = raw({.mtu = 100, .outbound_limit = 8, .outbound_byte_limit = 1000});
  EXPECT_EQ(ep->transmit_room(), 8u);
  std::vector<PacketBuffer> batch;
  for (uint32_t i = 0; i < 2; ++i) batch.push_back(make_packet(i, 100));
  ASSERT_EQ(ep->write_packets(batch).value(), 2u);
  EXPECT_EQ(ep->transmit_room(), 6u);  // 800 bytes left: 8 frames by bytes, 6 by count
  batch.clear();
  for (uint32_t i = 0; i < 4; ++i) batch.push_back(make_packet(10 + i, 100));
  ASSERT_EQ(ep->write_packets(batch).value(), 4u);
  EXPECT_EQ(ep->transmit_room(), 2u);  // 400 bytes: 4 by bytes, 2 by count
  ASSERT_TRUE(ep->take_outbound());
  EXPECT_EQ(ep->transmit_room(), 3u);
}

TEST(PacketQueue, OutboundLimitsDropAndCountLikeAFullRing) {
  auto ep = raw({.outbound_limit = 3, .outbound_byte_limit = 250});
  std::vector<PacketBuffer> batch;
  for (uint32_t i = 0; i < 3; ++i) batch.push_back(make_packet(i, 100));
  // The third packet would make 300 bytes.
  EXPECT_EQ(ep->write_packets(batch).value(), 2u);
  EXPECT_EQ(ep->queue_counters().tx_drop_queue_bytes, 1u);

  batch.clear();
  for (uint32_t i = 0; i < 2; ++i) batch.push_back(make_packet(10 + i, 20));
  // One fits (3 packets, 220 bytes); the next is one packet too many.
  EXPECT_EQ(ep->write_packets(batch).value(), 1u);
  EXPECT_EQ(ep->counters().tx_drop_queue_full, 1u);

  batch.clear();
  batch.push_back(make_packet(20, 20));
  auto full = ep->write_packets(batch);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error(), Error::kNoBufferSpace);

  EXPECT_EQ(ep->transmit_room(), 0u);

  // Taking packets makes room again.
  ASSERT_TRUE(ep->take_outbound());
  batch.clear();
  batch.push_back(make_packet(21, 20));
  EXPECT_EQ(ep->write_packets(batch).value(), 1u);
}

TEST(PacketQueue, OutboundOverMtuIsRefused) {
  auto ep = raw({.mtu = 576});
  std::vector<PacketBuffer> batch;
  batch.push_back(make_packet(1, 577));
  auto r = ep->write_packets(batch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Error::kMessageTooLong);
  EXPECT_EQ(ep->counters().tx_drop_too_big, 1u);
}

TEST(PacketQueue, TakeOutboundIntoVectorAndDrain) {
  auto ep = raw();
  std::vector<PacketBuffer> batch;
  for (uint32_t i = 0; i < 5; ++i) batch.push_back(make_packet(i));
  ASSERT_EQ(ep->write_packets(batch).value(), 5u);
  std::vector<PacketBuffer> out;
  EXPECT_EQ(ep->take_outbound(out, 2), 2u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(tag_of(out[1].to_vector()), 1u);
  std::vector<uint32_t> tags;
  EXPECT_EQ(ep->drain([&](PacketBuffer pkt) { tags.push_back(tag_of(pkt.to_vector())); }), 3u);
  EXPECT_EQ(tags, (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_EQ(ep->drain([](PacketBuffer) { FAIL() << "nothing waits"; }), 0u);
  EXPECT_EQ(ep->outbound_bytes(), 0u);
}

TEST(PacketQueue, OutputReadyFiresWhenTheQueueStopsBeingEmpty) {
  auto ep = raw();
  int calls = 0;
  ep->set_output_ready([&] { ++calls; });
  std::vector<PacketBuffer> batch;
  batch.push_back(make_packet(1));
  batch.push_back(make_packet(2));
  ASSERT_TRUE(ep->write_packets(batch).ok());
  EXPECT_EQ(calls, 1);  // once per empty -> non-empty, not per packet
  batch.clear();
  batch.push_back(make_packet(3));
  ASSERT_TRUE(ep->write_packets(batch).ok());
  EXPECT_EQ(calls, 1);
  ep->drain([](PacketBuffer) {});
  batch.clear();
  batch.push_back(make_packet(4));
  ASSERT_TRUE(ep->write_packets(batch).ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(ep->queue_counters().output_ready_calls, 2u);
}

TEST(PacketQueue, OutputReadyMayTakeThePackets) {
  auto ep = raw();
  std::vector<uint32_t> sent;
  PacketQueueEndpoint& link = *ep;
  ep->set_output_ready(
      [&] { link.drain([&](PacketBuffer pkt) { sent.push_back(tag_of(pkt.to_vector())); }); });
  std::vector<PacketBuffer> batch;
  batch.push_back(make_packet(1));
  batch.push_back(make_packet(2));
  ASSERT_TRUE(ep->write_packets(batch).ok());
  EXPECT_EQ(sent, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(ep->outbound_pending(), 0u);
}

TEST(PacketQueue, OutputFdIsReadableExactlyWhilePacketsWait) {
  auto ep = raw({.output_fd = true});
  ASSERT_GE(ep->output_fd(), 0);
  EXPECT_FALSE(fd_readable(ep->output_fd()));
  std::vector<PacketBuffer> batch;
  batch.push_back(make_packet(1));
  batch.push_back(make_packet(2));
  ASSERT_TRUE(ep->write_packets(batch).ok());
  EXPECT_TRUE(fd_readable(ep->output_fd()));
  ASSERT_TRUE(ep->take_outbound());
  EXPECT_TRUE(fd_readable(ep->output_fd()));  // one still waits
  ASSERT_TRUE(ep->take_outbound());
  EXPECT_FALSE(fd_readable(ep->output_fd()));
  batch.clear();
  batch.push_back(make_packet(3));
  ASSERT_TRUE(ep->write_packets(batch).ok());
  EXPECT_TRUE(fd_readable(ep->output_fd()));
  ep->drain([](PacketBuffer) {});
  EXPECT_FALSE(fd_readable(ep->output_fd()));
}

TEST(PacketQueue, ThreadSafeInjectWakesTheReadableFd) {
  auto ep = raw({.inbound_limit = 4096, .thread_safe = true});
  RecordingDispatcher rx;
  ep->attach(&rx);
  ASSERT_GE(ep->readable_fd(), 0);
  EXPECT_FALSE(fd_readable(ep->readable_fd()));
  constexpr uint32_t kCount = 2000;
  std::thread injector([&] {
    for (uint32_t i = 0; i < kCount; ++i) ASSERT_TRUE(ep->inject(ip_bytes(4, i)).ok());
  });
  // The stack's side: wait on the fd (as a Loop would), deliver in budgets.
  while (rx.packets.size() < kCount) {
    ASSERT_TRUE(fd_readable(ep->readable_fd(), 10'000)) << "no wake-up for injected packets";
    ep->process_receive(64);
  }
  injector.join();
  for (uint32_t i = 0; i < kCount; ++i) ASSERT_EQ(tag_of(rx.packets[i].to_vector(), 4), i);
  EXPECT_FALSE(fd_readable(ep->readable_fd()));
}

TEST(PacketQueue, ThreadSafeOutboundTakenOnAnotherThread) {
  auto ep = raw({.outbound_limit = 4096, .output_fd = true, .thread_safe = true});
  constexpr uint32_t kCount = 2000;
  std::vector<uint32_t> tags;
  std::thread taker([&] {
    while (tags.size() < kCount) {
      ASSERT_TRUE(fd_readable(ep->output_fd(), 10'000)) << "no wake-up for outbound packets";
      ep->drain([&](PacketBuffer pkt) { tags.push_back(tag_of(pkt.to_vector())); });
    }
  });
  for (uint32_t i = 0; i < kCount; ++i) {
    std::vector<PacketBuffer> one;
    one.push_back(make_packet(i));
    ASSERT_EQ(ep->write_packets(one).value(), 1u);
  }
  taker.join();
  ASSERT_EQ(tags.size(), kCount);
  for (uint32_t i = 0; i < kCount; ++i) ASSERT_EQ(tags[i], i);
}

}  // namespace
}  // namespace weir::link
