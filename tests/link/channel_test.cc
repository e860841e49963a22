#include "link/channel.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <thread>

#include "link/ethernet.h"
#include "tests/link/recording_dispatcher.h"
#include "tests/testing/testing.h"

namespace weir::link {
namespace {

using testing::make_packet;
using testing::RecordingDispatcher;
using testing::tag_of;
using weir::testing::bytes_of;

Result<size_t> write_one(LinkEndpoint& ep, PacketBuffer pkt) {
  PacketBuffer batch[1] = {std::move(pkt)};
  return ep.write_packets(batch);
}

TEST(Channel, PairDeliversFramedPacketsOnReceive) {
  ChannelOptions options;
  auto [a, b] = ChannelEndpoint::make_pair(options);
  RecordingDispatcher rx_a, rx_b;
  a->attach(&rx_a);
  b->attach(&rx_b);
  EXPECT_EQ(a->link_address(), options.mac_a);
  EXPECT_EQ(b->link_address(), options.mac_b);
  EXPECT_EQ(a->max_header_length(), 14);
  EXPECT_TRUE(a->capabilities().resolution_required);
  EXPECT_EQ(a->readable_fd(), -1);

  std::vector<PacketBuffer> batch;
  for (uint32_t i = 0; i < 3; ++i) batch.push_back(make_packet(i, 100, 0x0800, options.mac_b));
  ASSERT_EQ(a->write_packets(batch).value(), 3u);
  // Nothing is delivered during the write.
  EXPECT_TRUE(rx_b.packets.empty());
  EXPECT_EQ(b->pending(), 3u);
  EXPECT_EQ(b->process_receive(2), 2u);
  EXPECT_EQ(b->process_receive(64), 1u);
  ASSERT_EQ(rx_b.packets.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    const PacketBuffer& p = rx_b.packets[i];
    EXPECT_EQ(p.size(), 100u);
    EXPECT_EQ(tag_of(p.to_vector()), i);
    EXPECT_EQ(p.meta().link_source, options.mac_a);
    EXPECT_EQ(p.meta().link_type, LinkPacketType::kHost);
    EXPECT_EQ(p.meta().network_protocol, 0x0800);
  }
  EXPECT_EQ(a->counters().tx_frames, 3u);
  EXPECT_EQ(a->counters().tx_bytes, 3u * 114);
  EXPECT_EQ(b->counters().rx_frames, 3u);
  EXPECT_TRUE(rx_a.packets.empty());
}

TEST(Channel, QueueLimitDropsAndCounts) {
  auto [a, b] = ChannelEndpoint::make_pair({.queue_limit = 4});
  RecordingDispatcher rx;
  b->attach(&rx);
  std::vector<PacketBuffer> batch;
  for (uint32_t i = 0; i < 6; ++i) batch.push_back(make_packet(i));
  EXPECT_EQ(a->write_packets(batch).value(), 4u);
  EXPECT_EQ(a->counters().tx_drop_queue_full, 2u);
  auto again = write_one(*a, make_packet(9));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), Error::kNoBufferSpace);
  EXPECT_EQ(b->process_receive(100), 4u);
  std::vector<uint32_t> tags;
  for (const auto& p : rx.packets) tags.push_back(tag_of(p.to_vector()));
  EXPECT_EQ(tags, (std::vector<uint32_t>{0, 1, 2, 3}));
}

// What TCP asks before sending (LinkEndpoint::transmit_room): the frames the peer's inbound
// queue still takes, down to 0 when a write would drop, back up as the peer receives.
TEST(Channel, TransmitRoomIsWhatThePeersQueueStillTakes) {
  auto [a, b] = ChannelEndpoint::make_pair({.queue_limit = 4});
  RecordingDispatcher rx;
  b->attach(&rx);
  EXPECT_EQ(a->transmit_room(), 4u);
  EXPECT_EQ(b->transmit_room(), 4u);
  std::vector<PacketBuffer> batch;
  for (uint32_t i = 0; i < 3; ++i) batch.push_back(make_packet(i));
  ASSERT_EQ(a->write_packets(batch).value(), 3u);
  EXPECT_EQ(a->transmit_room(), 1u);
  EXPECT_EQ(b->transmit_room(), 4u);  // each direction has its own queue
  ASSERT_TRUE(write_one(*a, make_packet(3)));
  EXPECT_EQ(a->transmit_room(), 0u);
  EXPECT_EQ(a->counters().tx_drop_queue_full, 0u);
  EXPECT_EQ(b->process_receive(3), 3u);
  EXPECT_EQ(a->transmit_room(), 3u);
  // A closed peer: writes fail whatever the room, so the room does not hold anything back.
  b.reset();
  EXPECT_EQ(a->transmit_room(), LinkEndpoint::kUnboundedTransmitRoom);
}

TEST(Channel, DropsOversizeAndWritesToDeadPeer) {
  auto [a, b] = ChannelEndpoint::make_pair({.mtu = 100});
  auto too_big = write_one(*a, make_packet(1, 101));
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error(), Error::kMessageTooLong);
  EXPECT_EQ(a->counters().tx_drop_too_big, 1u);
  EXPECT_TRUE(write_one(*a, make_packet(1, 100)));
  b.reset();
  auto gone = write_one(*a, make_packet(2));
  ASSERT_FALSE(gone);
  EXPECT_EQ(a->counters().tx_drop_no_peer, 1u);
}

TEST(Channel, UnattachedReceiverCountsDrops) {
  auto [a, b] = ChannelEndpoint::make_pair();
  ASSERT_TRUE(write_one(*a, make_packet(1)));
  EXPECT_EQ(b->process_receive(10), 1u);
  EXPECT_EQ(b->counters().rx_drop_not_attached, 1u);
}

TEST(Channel, OtherHostFramesDroppedUnlessPromiscuous) {
  const MacAddress stranger({0x02, 9, 9, 9, 9, 9});
  auto [a, b] = ChannelEndpoint::make_pair();
  RecordingDispatcher rx;
  b->attach(&rx);
  ASSERT_TRUE(write_one(*a, make_packet(1, 64, 0x0800, stranger)));
  b->process_receive(10);
  EXPECT_EQ(b->counters().rx_drop_other_host, 1u);
  b->set_promiscuous(true);
  ASSERT_TRUE(write_one(*a, make_packet(2, 64, 0x0800, stranger)));
  b->process_receive(10);
  ASSERT_EQ(rx.packets.size(), 1u);
  EXPECT_EQ(rx.packets[0].meta().link_type, LinkPacketType::kOtherHost);
}

TEST(Channel, SharesChunksInsteadOfCopying) {
  auto [a, b] = ChannelEndpoint::make_pair();
  RecordingDispatcher rx;
  b->attach(&rx);
  PacketBuffer pkt = make_packet(7, 200);
  PacketBuffer kept = pkt.clone();  // what a retransmit queue would hold
  ASSERT_TRUE(write_one(*a, std::move(pkt)));
  b->process_receive(10);
  ASSERT_EQ(rx.packets.size(), 1u);
  EXPECT_EQ(rx.packets[0].to_vector(), kept.to_vector());
  // The sender's copy never saw the Ethernet header.
  EXPECT_EQ(kept.size(), 200u);
  EXPECT_EQ(tag_of(kept.to_vector()), 7u);
}

TEST(Channel, PumpRunsBothDirectionsUntilIdle) {
  // b echoes everything back to a once; a swallows.
  class Echo final : public NetworkDispatcher {
   public:
    explicit Echo(LinkEndpoint& ep) : ep_(ep) {}
    void deliver_network_packet(PacketBuffer&& pkt) override {
      pkt.meta().link_destination = pkt.meta().link_source;
      PacketBuffer batch[1] = {std::move(pkt)};
      (void)ep_.write_packets(batch);
    }

   private:
    LinkEndpoint& ep_;
  };
  auto [a, b] = ChannelEndpoint::make_pair();
  RecordingDispatcher rx_a;
  Echo echo(*b);
  a->attach(&rx_a);
  b->attach(&echo);
  for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(write_one(*a, make_packet(i)));
  EXPECT_EQ(ChannelEndpoint::pump(*a, *b), 10u);
  EXPECT_EQ(rx_a.packets.size(), 5u);
  EXPECT_EQ(a->pending() + b->pending(), 0u);
}

TEST(Channel, RawIpFraming) {
  auto [a, b] = ChannelEndpoint::make_pair({.framing = Framing::kRawIp});
  RecordingDispatcher rx;
  b->attach(&rx);
  EXPECT_EQ(a->max_header_length(), 0);
  EXPECT_FALSE(a->capabilities().resolution_required);
  PacketBuffer v4 = PacketBuffer::from_bytes(bytes_of({0x45, 0, 0, 20}));
  PacketBuffer v6 = PacketBuffer::from_bytes(bytes_of({0x60, 0, 0, 0}));
  PacketBuffer bad = PacketBuffer::from_bytes(bytes_of({0x15, 0, 0, 0}));
  std::vector<PacketBuffer> batch;
  batch.push_back(std::move(v4));
  batch.push_back(std::move(v6));
  batch.push_back(std::move(bad));
  ASSERT_EQ(a->write_packets(batch).value(), 3u);
  b->process_receive(10);
  ASSERT_EQ(rx.packets.size(), 2u);
  EXPECT_EQ(rx.packets[0].meta().network_protocol, kEtherTypeIpv4);
  EXPECT_EQ(rx.packets[1].meta().network_protocol, kEtherTypeIpv6);
  EXPECT_EQ(rx.packets[0].to_vector(), bytes_of({0x45, 0, 0, 20}));
  EXPECT_EQ(b->counters().rx_drop_bad_ip_version, 1u);
}

TEST(FramePeer, InjectDeliversAtOnceAndReadReturnsWhatWasSent) {
  auto [endpoint, peer] = ChannelEndpoint::make_test_pair();
  // Replies to each frame with one frame back to its sender.
  class Responder final : public NetworkDispatcher {
   public:
    explicit Responder(LinkEndpoint& ep) : ep_(ep) {}
    void deliver_network_packet(PacketBuffer&& pkt) override {
      seen.push_back(pkt.to_vector());
      PacketBuffer reply = PacketBuffer::from_bytes(bytes_of({0xee}));
      reply.meta().network_protocol = kEtherTypeArp;
      reply.meta().link_destination = pkt.meta().link_source;
      PacketBuffer batch[1] = {std::move(reply)};
      (void)ep_.write_packets(batch);
    }
    std::vector<std::vector<std::byte>> seen;

   private:
    LinkEndpoint& ep_;
  };
  Responder responder(*endpoint);
  endpoint->attach(&responder);

  EXPECT_FALSE(peer->read());
  ASSERT_TRUE(peer->inject(
      build_ethernet_frame(peer->endpoint_mac(), peer->mac(), kEtherTypeIpv4, bytes_of({1, 2}))));
  ASSERT_EQ(responder.seen.size(), 1u);
  EXPECT_EQ(responder.seen[0], bytes_of({1, 2}));
  EXPECT_EQ(peer->pending(), 1u);
  auto frame = peer->read();
  ASSERT_TRUE(frame);
  EXPECT_EQ(*frame, build_ethernet_frame(peer->mac(), peer->endpoint_mac(), kEtherTypeArp,
                                         bytes_of({0xee})));
  EXPECT_FALSE(peer->read());
}

TEST(FramePeer, InjectNetworkFramesForTheEndpoint) {
  auto [endpoint, peer] = ChannelEndpoint::make_test_pair();
  RecordingDispatcher rx;
  endpoint->attach(&rx);
  ASSERT_TRUE(peer->inject_network(kEtherTypeIpv6, bytes_of({0x60, 1})));
  ASSERT_EQ(rx.packets.size(), 1u);
  EXPECT_EQ(rx.packets[0].to_vector(), bytes_of({0x60, 1}));
  EXPECT_EQ(rx.packets[0].meta().network_protocol, kEtherTypeIpv6);
  EXPECT_EQ(rx.packets[0].meta().link_source, peer->mac());
  EXPECT_EQ(rx.packets[0].meta().link_type, LinkPacketType::kHost);

  auto [raw_endpoint, raw_peer] = ChannelEndpoint::make_test_pair({.framing = Framing::kRawIp});
  RecordingDispatcher raw_rx;
  raw_endpoint->attach(&raw_rx);
  ASSERT_TRUE(raw_peer->inject_network(kEtherTypeIpv4, bytes_of({0x45, 2})));
  ASSERT_EQ(raw_rx.packets.size(), 1u);
  EXPECT_EQ(raw_rx.packets[0].to_vector(), bytes_of({0x45, 2}));
}

TEST(FramePeer, EnqueueWaitsForDeliver) {
  auto [endpoint, peer] = ChannelEndpoint::make_test_pair({.queue_limit = 2});
  RecordingDispatcher rx;
  endpoint->attach(&rx);
  auto frame = build_ethernet_frame(peer->endpoint_mac(), peer->mac(), kEtherTypeIpv4, {});
  ASSERT_TRUE(peer->enqueue(frame));
  ASSERT_TRUE(peer->enqueue(frame));
  auto full = peer->enqueue(frame);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(), Error::kNoBufferSpace);
  EXPECT_TRUE(rx.packets.empty());
  EXPECT_EQ(endpoint->pending(), 2u);
  EXPECT_EQ(peer->deliver(1), 1u);
  EXPECT_EQ(peer->deliver(), 1u);
  EXPECT_EQ(rx.packets.size(), 2u);
}

TEST(FramePeer, ReadAllAndClear) {
  auto [endpoint, peer] = ChannelEndpoint::make_test_pair();
  for (uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(write_one(*endpoint, make_packet(i)));
  auto frames = peer->read_all();
  ASSERT_EQ(frames.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(tag_of(frames[i], 14), i);
  ASSERT_TRUE(write_one(*endpoint, make_packet(9)));
  peer->clear();
  EXPECT_EQ(peer->pending(), 0u);
}

TEST(FramePeer, InjectAfterEndpointGoneFails) {
  auto [endpoint, peer] = ChannelEndpoint::make_test_pair();
  endpoint.reset();
  auto status = peer->inject(bytes_of({1}));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error(), Error::kNotConnected);
}

TEST(Channel, ThreadSafeEndsSignalAcrossThreads) {
  auto [a, b] = ChannelEndpoint::make_pair({.thread_safe = true});
  ASSERT_GE(b->readable_fd(), 0);
  RecordingDispatcher rx;
  b->attach(&rx);
  constexpr uint32_t kFrames = 500;
  std::thread writer([&a = *a] {
    for (uint32_t i = 0; i < kFrames; ++i) {
      while (!write_one(a, make_packet(i))) std::this_thread::yield();  // queue full: retry
    }
  });
  while (rx.packets.size() < kFrames) {
    pollfd pfd{.fd = b->readable_fd(), .events = POLLIN, .revents = 0};
    ASSERT_GE(::poll(&pfd, 1, 10'000), 1) << "no wakeup with " << rx.packets.size() << " frames";
    b->process_receive(64);
  }
  writer.join();
  for (uint32_t i = 0; i < kFrames; ++i) ASSERT_EQ(tag_of(rx.packets[i].to_vector()), i);
  // Drained: the fd is no longer readable.
  pollfd pfd{.fd = b->readable_fd(), .events = POLLIN, .revents = 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
}

}  // namespace
}  // namespace weir::link
