#include "ipv6/router_list.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "ipv6/ndp_wire.h"

namespace weir::ipv6 {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

const Ipv6Address kR1 = addr("fe80::1");
const Ipv6Address kR2 = addr("fe80::2");
const Ipv6Address kR3 = addr("fe80::3");
constexpr NicId kNic = 1;

RouterAdvert ra_from(const Ipv6Address& source, uint16_t lifetime, int8_t preference = 0) {
  RouterAdvert ra;
  ra.source = source;
  ra.router_lifetime = lifetime;
  ra.preference = preference;
  return ra;
}

PrefixInfo on_link(const char* prefix, uint8_t length, uint32_t valid, uint32_t preferred = 0) {
  return PrefixInfo{addr(prefix), length, true, false, valid, preferred};
}

class RouterListTest : public ::testing::Test {
 protected:
  RouterListTest() {
    list_.set_change_callback([this](NicId nic) { ++changes_[nic]; });
  }

  void advance(Duration d) {
    clock_.advance(d);
    timers_.run();
  }
  LinkParamChanges ra(const RouterAdvert& ra, NicId nic = kNic) {
    return list_.process_ra(nic, ra, 1500);
  }
  std::vector<Ipv6Address> router_addresses(NicId nic = kNic) const {
    std::vector<Ipv6Address> out;
    for (const auto& r : list_.routers(nic)) out.push_back(r.address);
    return out;
  }
  std::vector<IpPrefix> prefixes(NicId nic = kNic) const {
    std::vector<IpPrefix> out;
    for (const auto& p : list_.prefixes(nic)) out.push_back(p.prefix);
    return out;
  }
  std::optional<Ipv6Address> select() {
    return list_.select_default_router(kNic, [this](NicId, const Ipv6Address& a) {
      auto it = reachable_.find(a);
      return it != reachable_.end() && it->second ? RouterReachability::kProbablyReachable
                                                  : RouterReachability::kUnknown;
    });
  }

  ManualClock clock_;
  TimerWheel timers_{clock_};
  Rng rng_{7};
  RouterList list_{timers_, rng_,
                   RouterListOptions{.max_routers = 3, .max_prefixes = 2, .max_redirects = 2}};
  std::map<NicId, int> changes_;
  std::map<Ipv6Address, bool> reachable_;
};

TEST_F(RouterListTest, RouterLifetimeAddsRefreshesAndExpires) {
  ra(ra_from(kR1, 30));
  EXPECT_THAT(router_addresses(), ElementsAre(kR1));
  EXPECT_TRUE(list_.is_router(kNic, kR1));
  EXPECT_EQ(changes_[kNic], 1);
  advance(std::chrono::seconds(20));
  ra(ra_from(kR1, 30));  // refresh: no change to report
  EXPECT_EQ(changes_[kNic], 1);
  advance(std::chrono::seconds(29));
  EXPECT_THAT(router_addresses(), ElementsAre(kR1));
  advance(std::chrono::seconds(1));
  EXPECT_THAT(router_addresses(), IsEmpty());
  EXPECT_EQ(list_.counters().routers_expired, 1u);
  EXPECT_EQ(changes_[kNic], 2);
}

TEST_F(RouterListTest, ZeroLifetimeRemovesAtOnce) {
  ra(ra_from(kR1, 1800));
  ra(ra_from(kR1, 0));
  EXPECT_THAT(router_addresses(), IsEmpty());
  EXPECT_EQ(list_.counters().routers_removed, 1u);
  // A zero lifetime from an unknown router adds nothing.
  ra(ra_from(kR2, 0));
  EXPECT_THAT(router_addresses(), IsEmpty());
}

TEST_F(RouterListTest, ListIsBoundedPerNic) {
  ra(ra_from(kR1, 60));
  ra(ra_from(kR2, 60));
  ra(ra_from(kR3, 60));
  ra(ra_from(addr("fe80::4"), 60));
  EXPECT_EQ(list_.routers(kNic).size(), 3u);
  EXPECT_EQ(list_.counters().router_list_full, 1u);
  ra(ra_from(addr("fe80::4"), 60), 2);
  EXPECT_EQ(list_.routers(2).size(), 1u);
}

TEST_F(RouterListTest, OnLinkPrefixes) {
  RouterAdvert a = ra_from(kR1, 0);
  a.prefixes = {on_link("2001:db8:1::ffff", 64, 100), on_link("fe80::", 64, 100),
                on_link("ff02::", 16, 100), on_link("2001:db8:3::", 64, 10, 20)};
  PrefixInfo off_link = on_link("2001:db8:4::", 64, 100);
  off_link.on_link = false;
  a.prefixes.push_back(off_link);
  ra(a);
  EXPECT_THAT(prefixes(), ElementsAre(IpPrefix::parse("2001:db8:1::/64").value()));
  EXPECT_EQ(list_.counters().prefix_ignored_link_local, 1u);
  EXPECT_EQ(list_.counters().prefix_ignored_multicast, 1u);
  EXPECT_EQ(list_.counters().prefix_ignored_bad_lifetime, 1u);
  EXPECT_TRUE(list_.is_on_link(kNic, addr("2001:db8:1::77")));
  EXPECT_FALSE(list_.is_on_link(kNic, addr("2001:db8:4::77")));  // L clear: not on-link
  EXPECT_TRUE(list_.is_on_link(kNic, addr("fe80::99")));
  EXPECT_FALSE(list_.is_on_link(2, addr("2001:db8:1::77")));

  // Refresh pushes expiry out; zero valid lifetime removes at once.
  advance(std::chrono::seconds(90));
  RouterAdvert b = ra_from(kR1, 0);
  b.prefixes = {on_link("2001:db8:1::", 64, 100)};
  ra(b);
  advance(std::chrono::seconds(90));
  EXPECT_EQ(prefixes().size(), 1u);
  b.prefixes = {on_link("2001:db8:1::", 64, 0)};
  ra(b);
  EXPECT_THAT(prefixes(), IsEmpty());
  EXPECT_EQ(list_.counters().prefixes_removed, 1u);
}

TEST_F(RouterListTest, PrefixExpiresAndInfiniteDoesNot) {
  RouterAdvert a = ra_from(kR1, 0);
  a.prefixes = {on_link("2001:db8:1::", 64, 100), on_link("2001:db8:2::", 48, kInfiniteLifetime)};
  ra(a);
  advance(std::chrono::seconds(100));
  EXPECT_THAT(prefixes(), ElementsAre(IpPrefix::parse("2001:db8:2::/48").value()));
  EXPECT_EQ(list_.counters().prefixes_expired, 1u);
  advance(std::chrono::hours(24 * 400));
  EXPECT_EQ(prefixes().size(), 1u);
}

TEST_F(RouterListTest, PrefixListIsBounded) {
  RouterAdvert a = ra_from(kR1, 0);
  a.prefixes = {on_link("2001:db8:1::", 64, 100), on_link("2001:db8:2::", 64, 100),
                on_link("2001:db8:3::", 64, 100)};
  ra(a);
  EXPECT_EQ(prefixes().size(), 2u);
  EXPECT_EQ(list_.counters().prefix_list_full, 1u);
}

TEST_F(RouterListTest, LinkParameters) {
  RouterAdvert a = ra_from(kR1, 1800);
  a.cur_hop_limit = 42;
  a.reachable_time = 20000;
  a.retrans_timer = 500;
  a.mtu = 1400;
  LinkParamChanges c = ra(a);
  EXPECT_EQ(c.cur_hop_limit, 42);
  ASSERT_TRUE(c.reachable_time);
  EXPECT_GE(*c.reachable_time, std::chrono::seconds(10));
  EXPECT_LE(*c.reachable_time, std::chrono::seconds(30));
  EXPECT_EQ(c.retrans_timer, std::chrono::milliseconds(500));
  EXPECT_EQ(c.mtu, 1400u);
  // The same values again change nothing (ReachableTime is not re-drawn).
  LinkParamChanges again = ra(a);
  EXPECT_FALSE(again.cur_hop_limit || again.reachable_time || again.retrans_timer || again.mtu);
  EXPECT_EQ(list_.params(kNic).cur_hop_limit, 42);
  // Zero means unspecified: nothing changes.
  RouterAdvert zero = ra_from(kR1, 1800);
  LinkParamChanges none = ra(zero);
  EXPECT_FALSE(none.cur_hop_limit || none.reachable_time || none.retrans_timer || none.mtu);
  EXPECT_EQ(list_.params(kNic).retrans_timer, std::chrono::milliseconds(500));
}

TEST_F(RouterListTest, InvalidMtuIgnored) {
  RouterAdvert a = ra_from(kR1, 1800);
  a.mtu = 1279;
  EXPECT_FALSE(ra(a).mtu);
  a.mtu = 1501;  // above the link's MTU
  EXPECT_FALSE(ra(a).mtu);
  EXPECT_EQ(list_.counters().mtu_ignored_invalid, 2u);
  a.mtu = 1500;
  EXPECT_EQ(ra(a).mtu, 1500u);
}

TEST_F(RouterListTest, TinyTimersGetLinuxFloors) {
  RouterAdvert a = ra_from(kR1, 1800);
  a.reachable_time = 1;
  a.retrans_timer = 1;
  LinkParamChanges c = ra(a);
  EXPECT_GE(*c.reachable_time, std::chrono::milliseconds(100));
  EXPECT_EQ(*c.retrans_timer, std::chrono::milliseconds(10));
}

TEST_F(RouterListTest, SelectionPrefersReachableThenPreference) {
  ra(ra_from(kR1, 1800, 0));
  ra(ra_from(kR2, 1800, 1));
  ra(ra_from(kR3, 1800, -1));
  reachable_[kR1] = true;
  reachable_[kR3] = true;
  EXPECT_EQ(select(), kR1);  // kR2 has the highest preference but is not reachable
  reachable_[kR2] = true;
  EXPECT_EQ(select(), kR2);
  EXPECT_EQ(select(), kR2);  // stable
}

TEST_F(RouterListTest, SelectionStaysWithCurrentAmongEquals) {
  ra(ra_from(kR1, 1800));
  ra(ra_from(kR2, 1800));
  reachable_[kR2] = true;
  EXPECT_EQ(select(), kR2);
  reachable_[kR1] = true;
  EXPECT_EQ(select(), kR2);
}

TEST_F(RouterListTest, SelectionRoundRobinWhenNoneReachable) {
  ra(ra_from(kR1, 1800));
  ra(ra_from(kR2, 1800));
  ra(ra_from(kR3, 1800));
  EXPECT_EQ(select(), kR1);
  EXPECT_EQ(select(), kR2);
  EXPECT_EQ(select(), kR3);
  EXPECT_EQ(select(), kR1);
}

TEST_F(RouterListTest, SelectionWithNoRouters) { EXPECT_FALSE(select()); }

TEST_F(RouterListTest, NotARouterAnyMore) {
  ra(ra_from(kR1, 1800));
  list_.accept_redirect(kNic, addr("2001:db8:9::1"), kR1);
  list_.not_a_router(kNic, kR1);
  EXPECT_THAT(router_addresses(), IsEmpty());
  EXPECT_EQ(list_.counters().routers_demoted, 1u);
  EXPECT_THAT(list_.redirects(kNic), IsEmpty());
}

TEST_F(RouterListTest, Redirects) {
  const Ipv6Address dest = addr("2001:db8:9::1");
  list_.accept_redirect(kNic, dest, kR2);
  auto r = list_.redirect_for(kNic, dest);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->target, kR2);
  EXPECT_FALSE(r->on_link());
  // A redirect to the destination itself: on-link.
  list_.accept_redirect(kNic, dest, dest);
  EXPECT_TRUE(list_.redirect_for(kNic, dest)->on_link());
  EXPECT_EQ(list_.redirects(kNic).size(), 1u);
  // Bounded: the oldest goes.
  advance(std::chrono::seconds(1));
  list_.accept_redirect(kNic, addr("2001:db8:9::2"), kR2);
  advance(std::chrono::seconds(1));
  list_.accept_redirect(kNic, addr("2001:db8:9::3"), kR2);
  EXPECT_FALSE(list_.redirect_for(kNic, dest));
  EXPECT_EQ(list_.counters().redirects_evicted, 1u);
  // And they age out.
  advance(std::chrono::minutes(10));
  EXPECT_THAT(list_.redirects(kNic), IsEmpty());
  EXPECT_EQ(list_.counters().redirects_expired, 2u);
}

TEST_F(RouterListTest, RemovingARouterDropsRedirectsThroughIt) {
  ra(ra_from(kR1, 1800));
  list_.accept_redirect(kNic, addr("2001:db8:9::1"), kR1);
  list_.accept_redirect(kNic, addr("2001:db8:9::2"), kR2);
  ra(ra_from(kR1, 0));
  auto left = list_.redirects(kNic);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].target, kR2);
}

TEST_F(RouterListTest, FlushForgetsANic) {
  RouterAdvert a = ra_from(kR1, 1800);
  a.prefixes = {on_link("2001:db8:1::", 64, 100)};
  a.cur_hop_limit = 9;
  ra(a);
  list_.flush(kNic);
  EXPECT_THAT(router_addresses(), IsEmpty());
  EXPECT_THAT(prefixes(), IsEmpty());
  EXPECT_FALSE(list_.params(kNic).cur_hop_limit);
  EXPECT_EQ(timers_.armed_count(), 0u);
}

}  // namespace
}  // namespace weir::ipv6
