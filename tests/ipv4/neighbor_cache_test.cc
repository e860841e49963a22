// The neighbor cache on its own, with a fake resolver and IPv6 addresses: nothing in it may
// depend on ARP or IPv4, since NDP will reuse it.
#include "stack/neighbor_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "link/channel.h"
#include "stack/stack.h"
#include "tests/testing/ipv4_packets.h"

namespace weir {
namespace {

using weir::testing::EthDst;
using weir::testing::IsEthernet;
using weir::testing::Payload;

class FakeResolver final : public NeighborResolver {
 public:
  struct Solicitation {
    IpAddress target;
    std::optional<MacAddress> unicast_to;
  };
  void send_solicitation(Nic& nic, const IpAddress& target,
                         const std::optional<MacAddress>& unicast_to) override {
    (void)nic;
    sent.push_back({target, unicast_to});
  }
  std::vector<Solicitation> sent;
};

class NeighborCacheTest : public ::testing::Test {
 protected:
  NeighborCacheTest() : stack_(clock_, repeatable_stack_options(3)) {
    auto pair = link::ChannelEndpoint::make_test_pair();
    peer_ = std::move(pair.peer);
    nic_ = stack_.add_nic(std::move(pair.endpoint), "eth0").value();
    NeighborOptions o;
    o.max_pending = 2;
    cache_ = std::make_unique<NeighborCache>(stack_, resolver_, o);
  }
  Nic& nic() { return *stack_.nic(nic_); }
  PacketBuffer packet(uint8_t tag) {
    PacketBuffer p = PacketBuffer::from_bytes(std::vector<std::byte>(4, std::byte{tag}));
    p.meta().network_protocol = kEtherTypeIpv6;
    return p;
  }
  void advance(Duration d) {
    clock_.advance(d);
    stack_.run_timers();
  }

  const IpAddress kNeighbor = IpAddress::parse("fe80::2").value();
  const MacAddress kMac = MacAddress({2, 0, 0, 0, 0, 9});

  ManualClock clock_;
  Stack stack_;
  std::unique_ptr<link::FramePeer> peer_;
  NicId nic_ = 0;
  FakeResolver resolver_;
  std::unique_ptr<NeighborCache> cache_;
};

TEST_F(NeighborCacheTest, QueuesSolicitsAndReleasesOnConfirm) {
  ASSERT_TRUE(cache_->send(nic(), kNeighbor, packet(1)));
  ASSERT_TRUE(cache_->send(nic(), kNeighbor, packet(2)));
  ASSERT_TRUE(cache_->send(nic(), kNeighbor, packet(3)));  // pushes out packet 1
  ASSERT_EQ(resolver_.sent.size(), 1u);
  EXPECT_EQ(resolver_.sent[0].target, kNeighbor);
  EXPECT_FALSE(resolver_.sent[0].unicast_to);
  EXPECT_EQ(cache_->counters().drop_queue_full, 1u);
  EXPECT_FALSE(peer_->read());

  cache_->confirm(nic(), kNeighbor, kMac);
  auto frames = peer_->read_all();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_THAT(frames[0], IsEthernet(EthDst(kMac), weir::testing::EtherType(kEtherTypeIpv6),
                                    Payload(std::vector<std::byte>(4, std::byte{2}))));
  EXPECT_THAT(frames[1], IsEthernet(Payload(std::vector<std::byte>(4, std::byte{3}))));
  EXPECT_EQ(cache_->find(nic_, kNeighbor)->state, NeighborState::kReachable);
}

TEST_F(NeighborCacheTest, AnnouncementsOnlyUpdateKnownEntries) {
  EXPECT_FALSE(cache_->update_existing(nic(), kNeighbor, kMac));
  EXPECT_FALSE(cache_->find(nic_, kNeighbor));
  EXPECT_EQ(cache_->counters().updates_ignored, 1u);
  cache_->confirm(nic(), kNeighbor, kMac);
  const MacAddress moved({2, 0, 0, 0, 0, 10});
  EXPECT_TRUE(cache_->update_existing(nic(), kNeighbor, moved));
  EXPECT_EQ(cache_->find(nic_, kNeighbor)->link_address, moved);
  EXPECT_EQ(cache_->find(nic_, kNeighbor)->state, NeighborState::kStale);
}

TEST_F(NeighborCacheTest, StaleUseProbesUnicastThenForgets) {
  cache_->confirm(nic(), kNeighbor, kMac);
  advance(std::chrono::seconds(30));
  ASSERT_TRUE(cache_->send(nic(), kNeighbor, packet(1)));
  EXPECT_TRUE(peer_->read());  // sent at once to the old address
  ASSERT_EQ(resolver_.sent.size(), 1u);
  EXPECT_EQ(resolver_.sent[0].unicast_to, kMac);
  advance(std::chrono::seconds(1));
  advance(std::chrono::seconds(1));
  EXPECT_EQ(resolver_.sent.size(), 3u);
  advance(std::chrono::seconds(1));
  EXPECT_FALSE(cache_->find(nic_, kNeighbor));
}

TEST_F(NeighborCacheTest, EntriesArePerNic) {
  cache_->confirm(nic(), kNeighbor, kMac);
  EXPECT_FALSE(cache_->find(nic_ + 1, kNeighbor));
  cache_->flush(nic_);
  EXPECT_EQ(cache_->size(), 0u);
}

TEST_F(NeighborCacheTest, DestroyingTheCacheWithArmedTimersIsSafe) {
  ASSERT_TRUE(cache_->send(nic(), kNeighbor, packet(1)));
  cache_->confirm(nic(), IpAddress::parse("fe80::3").value(), kMac);
  cache_.reset();
  advance(std::chrono::seconds(100));  // nothing fires into the destroyed cache
  EXPECT_EQ(stack_.timers().armed_count(), 0u);
}

}  // namespace
}  // namespace weir
