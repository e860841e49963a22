#include "ipv6/rdnss.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ipv6/ndp_wire.h"

namespace weir::ipv6 {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

const Ipv6Address kA = addr("2001:db8::53");
const Ipv6Address kB = addr("2001:db8::54");
const Ipv6Address kC = addr("fe80::53");

class RdnssTest : public ::testing::Test {
 protected:
  void ra(NicId nic, std::vector<RdnssServer> servers) { list_.update(nic, servers, clock_.now()); }
  std::vector<Ipv6Address> servers() const { return list_.servers(clock_.now()); }

  ManualClock clock_;
  RdnssList list_{3};
};

TEST_F(RdnssTest, LearnsInOrderAndExpires) {
  ra(1, {{kA, 600}, {kB, 600}});
  EXPECT_THAT(servers(), ElementsAre(kA, kB));
  clock_.advance(std::chrono::seconds(599));
  EXPECT_THAT(servers(), ElementsAre(kA, kB));
  clock_.advance(std::chrono::seconds(1));
  EXPECT_THAT(servers(), IsEmpty());
  EXPECT_EQ(list_.size(), 2u);
  list_.expire(clock_.now());
  EXPECT_EQ(list_.size(), 0u);
}

TEST_F(RdnssTest, NewLifetimeReplacesOld) {
  ra(1, {{kA, 600}});
  clock_.advance(std::chrono::seconds(500));
  ra(1, {{kA, 600}});
  clock_.advance(std::chrono::seconds(500));
  EXPECT_THAT(servers(), ElementsAre(kA));
  // A shorter lifetime also replaces a longer one.
  ra(1, {{kA, 10}});
  clock_.advance(std::chrono::seconds(10));
  EXPECT_THAT(servers(), IsEmpty());
}

TEST_F(RdnssTest, ZeroLifetimeRemoves) {
  ra(1, {{kA, 600}, {kB, 600}});
  ra(1, {{kA, 0}});
  EXPECT_THAT(servers(), ElementsAre(kB));
}

TEST_F(RdnssTest, InfiniteNeverExpires) {
  ra(1, {{kA, kInfiniteLifetime}});
  clock_.advance(std::chrono::hours(24 * 365));
  EXPECT_THAT(servers(), ElementsAre(kA));
}

TEST_F(RdnssTest, FullListReplacesTheSoonestToExpire) {
  ra(1, {{kA, 100}, {kB, 300}, {kC, kInfiniteLifetime}});
  const Ipv6Address d = addr("2001:db8::55");
  ra(1, {{d, 200}});
  EXPECT_THAT(servers(), ElementsAre(kB, kC, d));
  // A newcomer that would expire before everyone listed is not taken.
  ra(1, {{addr("2001:db8::56"), 50}});
  EXPECT_THAT(servers(), ElementsAre(kB, kC, d));
}

TEST_F(RdnssTest, PerNicAndFlush) {
  ra(1, {{kA, 600}});
  ra(2, {{kA, 600}, {kC, 600}});
  EXPECT_THAT(servers(), ElementsAre(kA, kC));  // one address listed once
  EXPECT_EQ(list_.entries(clock_.now()).size(), 3u);
  EXPECT_EQ(list_.entries(clock_.now())[2].nic, 2u);
  list_.flush(2);
  EXPECT_THAT(servers(), ElementsAre(kA));
}

TEST_F(RdnssTest, IgnoresNonsenseAddresses) {
  ra(1, {{addr("ff02::1"), 600}, {Ipv6Address(), 600}, {addr("::1"), 600}});
  EXPECT_THAT(servers(), IsEmpty());
}

}  // namespace
}  // namespace weir::ipv6
