// Autoconf on one stack whose link the test holds: the test plays the router (RAs, redirects,
// MLD queries) and the other nodes (DAD conflicts), and reads what the stack sends.
#include "ipv6/autoconf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "ipv6/ipv6.h"
#include "ipv6/mld.h"
#include "ipv6/ndp_wire.h"
#include "ipv6/stable_iid.h"
#include "link/channel.h"
#include "stack/nic.h"
#include "stack/stack.h"
#include "tests/testing/ipv4_packets.h"
#include "tests/testing/ipv6_packets.h"
#include "tests/testing/testing.h"

namespace weir::ipv6 {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using weir::testing::decode_ethernet;
using weir::testing::decode_ipv6;
using weir::testing::Ipv6Packet;

Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

const Ipv6Address kRouter = addr("fe80::1");
const Ipv6Address kRouter2 = addr("fe80::2");
const MacAddress kRouterMac({0x02, 0, 0, 0, 0, 0x0f});
const Ipv6Address kPrefix = addr("2001:db8:1::");
const Ipv6Address kDns = addr("2001:db8::53");

struct Sent {
  MacAddress eth_destination;
  Ipv6Packet ip;
  uint8_t type() const { return ip.payload.empty() ? 0 : std::to_integer<uint8_t>(ip.payload[0]); }
};

class AutoconfTest : public ::testing::Test {
 protected:
  virtual AutoconfOptions options() {
    AutoconfOptions o;
    o.log = [this](std::string_view line) { logs_.emplace_back(line); };
    return o;
  }

  void SetUp() override {
    stack_ = std::make_unique<Stack>(clock_, repeatable_stack_options(42));
    auto pair = link::ChannelEndpoint::make_test_pair();
    peer_ = std::move(pair.peer);
    nic_ = stack_->add_nic(std::move(pair.endpoint), "eth0").value();
    ip_ = &install(*stack_);
    autoconf_ = std::make_unique<Autoconf>(*stack_, *ip_, options());
  }
  void TearDown() override { autoconf_.reset(); }

  Nic& nic() { return *stack_->nic(nic_); }
  MacAddress our_mac() { return peer_->endpoint_mac(); }

  // Moves the clock as an event loop would: from one timer deadline to the next, so each
  // timer fires when it is due, and long spans cost only the events in them.
  void advance(Duration d) {
    const TimePoint end = clock_.now() + d;
    stack_->run_timers();
    while (clock_.now() < end) {
      const auto next = stack_->timers().next_deadline();
      const TimePoint at =
          next ? std::max(*next, clock_.now() + std::chrono::milliseconds(1)) : end;
      clock_.set(std::min(at, end));
      stack_->run_timers();
    }
  }

  // Everything the stack sent since the last call, decoded.
  std::vector<Sent> sent() {
    std::vector<Sent> out;
    while (auto frame = peer_->read()) {
      auto eth = decode_ethernet(*frame);
      if (!eth || eth->ethertype != 0x86dd) continue;
      if (auto ip = decode_ipv6(eth->payload)) out.push_back(Sent{eth->destination, *ip});
    }
    return out;
  }
  std::vector<Sent> sent_of(uint8_t type) {
    std::vector<Sent> out;
    for (auto& s : sent()) {
      if (s.ip.protocol == 58 && s.type() == type) out.push_back(s);
    }
    return out;
  }

  // Sends an ICMPv6 message to the stack (checksum filled in), with a hop-by-hop Router Alert
  // in front when asked.
  void inject_icmp(std::vector<std::byte> message, const Ipv6Address& source,
                   const Ipv6Address& destination, uint8_t hop_limit = 255,
                   MacAddress from = kRouterMac, bool router_alert = false) {
    fill_icmpv6_checksum(message, source, destination);
    std::vector<std::byte> payload = message;
    uint8_t next = 58;
    if (router_alert) {
      auto hbh = weir::testing::options_header(58, weir::testing::bytes_of({5, 2, 0, 0}));
      payload = weir::testing::concat({ByteView(hbh), ByteView(message)});
      next = 0;
    }
    MacAddress to = our_mac();
    if (destination.is_multicast()) to = weir::testing::test_multicast_mac(destination);
    ASSERT_TRUE(peer_->inject(weir::testing::ipv6_frame(
        to, from,
        {.source = source, .destination = destination, .next_header = next, .hop_limit = hop_limit},
        payload)));
  }

  RouterAdvertFields basic_ra(uint16_t lifetime = 1800) {
    RouterAdvertFields ra;
    ra.cur_hop_limit = 64;
    ra.router_lifetime = lifetime;
    ra.source_lla = kRouterMac;
    ra.prefixes = {PrefixInfo{kPrefix, 64, true, true, 86400, 14400}};
    return ra;
  }
  void inject_ra(const RouterAdvertFields& ra, const Ipv6Address& from = kRouter,
                 uint8_t hop_limit = 255) {
    inject_icmp(build_ndp(ra), from, all_nodes_group(), hop_limit);
  }

  std::optional<Ipv6Address> global_address() {
    for (const IpPrefix& p : nic().addresses()) {
      if (p.address.is_v6() && !p.address.v6().is_link_local()) return p.address.v6();
    }
    return std::nullopt;
  }
  bool has_route(const Route& r) {
    const auto& routes = stack_->routes();
    return std::find(routes.begin(), routes.end(), r) != routes.end();
  }

  // Startup done: link-local assigned, solicitations over.
  void settle() {
    advance(std::chrono::seconds(15));
    sent();
  }

  ManualClock clock_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<link::FramePeer> peer_;
  NicId nic_ = 0;
  Ipv6Protocol* ip_ = nullptr;
  std::unique_ptr<Autoconf> autoconf_;
  std::vector<std::string> logs_;
};

TEST_F(AutoconfTest, LinkLocalDadThenRouterSolicitations) {
  // Nothing usable yet: the link-local address is tentative.
  EXPECT_THAT(nic().addresses(), IsEmpty());
  advance(std::chrono::milliseconds(1000));
  auto probes = sent_of(kNdpNeighborSolicitation);
  ASSERT_THAT(probes, SizeIs(1));
  const Sent& probe = probes[0];
  EXPECT_TRUE(probe.ip.source.is_unspecified());
  EXPECT_EQ(probe.ip.hop_limit, 255);
  auto ns = NeighborSolicitationView::parse(probe.ip.payload);
  ASSERT_TRUE(ns);
  const Ipv6Address ll = ns->target();
  EXPECT_TRUE(ll.is_link_local());
  EXPECT_EQ(probe.ip.destination, solicited_node_group(ll));
  EXPECT_FALSE(ns->options().find(kOptSourceLinkLayerAddress));
  EXPECT_TRUE(ns->options().find(kOptNonce));
  EXPECT_EQ(autoconf_->address_state(nic_, ll), AddressState::kTentative);

  // One RetransTimer later the address is assigned and the first RS goes out from it.
  advance(std::chrono::milliseconds(1000));
  EXPECT_EQ(autoconf_->link_local_address(nic_), ll);
  EXPECT_TRUE(nic().has_address(IpAddress(ll)));
  EXPECT_TRUE(has_route(Route{*IpPrefix::parse("fe80::/64"), std::nullopt, nic_}));
  auto rs = sent_of(kNdpRouterSolicitation);
  ASSERT_THAT(rs, SizeIs(1));
  EXPECT_EQ(rs[0].ip.source, ll);
  EXPECT_EQ(rs[0].ip.destination, all_routers_group());
  EXPECT_EQ(rs[0].ip.hop_limit, 255);
  auto view = RouterSolicitationView::parse(rs[0].ip.payload);
  ASSERT_TRUE(view);
  auto lla = view->options().find(kOptSourceLinkLayerAddress);
  ASSERT_TRUE(lla);
  EXPECT_EQ(parse_link_layer_address(*lla).value(), our_mac());

  // Two more, RTR_SOLICITATION_INTERVAL apart, then silence.
  advance(std::chrono::seconds(4));
  EXPECT_THAT(sent_of(kNdpRouterSolicitation), SizeIs(1));
  advance(std::chrono::seconds(4));
  EXPECT_THAT(sent_of(kNdpRouterSolicitation), SizeIs(1));
  advance(std::chrono::seconds(60));
  EXPECT_THAT(sent_of(kNdpRouterSolicitation), IsEmpty());
  EXPECT_EQ(autoconf_->counters().tx_rs, 3u);
}

TEST_F(AutoconfTest, SolicitedNodeGroupIsJoinedAndReported) {
  advance(std::chrono::milliseconds(2000));
  auto reports = sent_of(kMldV2Report);
  ASSERT_THAT(reports, SizeIs(2));  // robustness 2
  const Sent& r = reports[0];
  EXPECT_EQ(r.ip.destination, all_mldv2_routers_group());
  EXPECT_EQ(r.ip.hop_limit, 1);
  EXPECT_TRUE(r.ip.router_alert);
  EXPECT_TRUE(r.ip.checksum_ok);
  auto records = parse_mld_report(r.ip.payload);
  ASSERT_TRUE(records);
  const Ipv6Address ll = *autoconf_->link_local_address(nic_);
  EXPECT_THAT(*records,
              ElementsAre(MldRecord{kRecordChangeToExclude, solicited_node_group(ll), {}}));
  // The first report goes before DAD is over: from ::.
  EXPECT_TRUE(r.ip.source.is_unspecified());
  EXPECT_TRUE(nic().in_group(IpAddress(solicited_node_group(ll))));
}

TEST_F(AutoconfTest, RouterAdvertisementConfiguresTheHost) {
  settle();
  RouterAdvertFields ra = basic_ra();
  ra.mtu = 1400;
  ra.rdnss = {kDns};
  ra.rdnss_lifetime = 600;
  ra.retrans_timer = 500;
  ra.reachable_time = 20000;
  ra.cur_hop_limit = 42;
  inject_ra(ra);
  EXPECT_EQ(autoconf_->counters().rx_ra, 1u);
  // The global address is tentative: not usable yet.
  EXPECT_FALSE(global_address());
  advance(std::chrono::seconds(2));
  auto global = global_address();
  ASSERT_TRUE(global);
  EXPECT_TRUE(IpPrefix::parse("2001:db8:1::/64")->contains(IpAddress(*global)));
  // RFC 7217: the IID is the keyed hash of prefix and NIC name.
  EXPECT_EQ(iid_of(*global), stable_iid(stable_iid_key(stack_->secret()), kPrefix, "eth0", "", 0));
  EXPECT_EQ(autoconf_->address_state(nic_, *global), AddressState::kPreferred);

  // Routes: on-link prefix and default via the router.
  EXPECT_TRUE(has_route(Route{*IpPrefix::parse("2001:db8:1::/64"), std::nullopt, nic_}));
  EXPECT_TRUE(has_route(Route{*IpPrefix::parse("::/0"), IpAddress(kRouter), nic_}));
  auto route = stack_->find_route(IpAddress(addr("2001:db8:99::1")));
  ASSERT_TRUE(route);
  EXPECT_EQ(route->next_hop, IpAddress(kRouter));
  EXPECT_EQ(route->local_address, IpAddress(*global));
  EXPECT_EQ(route->mtu, 1400u);
  auto on_link = stack_->find_route(IpAddress(addr("2001:db8:1::77")));
  ASSERT_TRUE(on_link);
  EXPECT_EQ(on_link->next_hop, IpAddress(addr("2001:db8:1::77")));

  // Parameters and DNS.
  EXPECT_EQ(ip_->default_hop_limit(), 42);
  EXPECT_EQ(ip_->ndp().cache().options().retransmit_interval, std::chrono::milliseconds(500));
  EXPECT_THAT(autoconf_->dns_servers(), ElementsAre(kDns));
  // The router's link address was learned (STALE) from the RA.
  auto entry = ip_->ndp().cache().find(nic_, IpAddress(kRouter));
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->link_address, kRouterMac);
  EXPECT_EQ(entry->state, NeighborState::kStale);
}

TEST_F(AutoconfTest, RaEndsSolicitations) {
  advance(std::chrono::seconds(2));
  EXPECT_THAT(sent_of(kNdpRouterSolicitation), SizeIs(1));
  inject_ra(basic_ra());
  advance(std::chrono::seconds(20));
  EXPECT_THAT(sent_of(kNdpRouterSolicitation), IsEmpty());
}

TEST_F(AutoconfTest, InvalidRasAreDroppedWithAReason) {
  settle();
  inject_ra(basic_ra(), kRouter, 64);
  inject_ra(basic_ra(), addr("2001:db8::1"));
  auto bad_code = build_ndp(basic_ra());
  bad_code[1] = std::byte{1};
  inject_icmp(bad_code, kRouter, all_nodes_group());
  auto zero_option = build_ndp(basic_ra());
  zero_option[kRaLength + 1] = std::byte{0};
  inject_icmp(zero_option, kRouter, all_nodes_group());
  inject_ra(basic_ra(), *autoconf_->link_local_address(nic_));
  advance(std::chrono::seconds(3));
  const auto& c = autoconf_->counters();
  EXPECT_EQ(c.ra_drop_bad_hop_limit, 1u);
  EXPECT_EQ(c.ra_drop_source_not_link_local, 1u);
  EXPECT_EQ(c.ra_drop_bad_code, 1u);
  EXPECT_EQ(c.ra_drop_bad_options, 1u);
  EXPECT_EQ(c.ra_drop_from_self, 1u);
  EXPECT_FALSE(global_address());
  EXPECT_TRUE(autoconf_->router_list().routers(nic_).empty());
}

TEST_F(AutoconfTest, RouterLifetimeRunsOutAndPrefixLifetimesToo) {
  settle();
  RouterAdvertFields ra = basic_ra(30);
  ra.prefixes = {PrefixInfo{kPrefix, 64, true, true, 60, 20}};
  inject_ra(ra);
  advance(std::chrono::seconds(2));
  const auto global = global_address();
  ASSERT_TRUE(global);
  EXPECT_TRUE(has_route(Route{*IpPrefix::parse("::/0"), IpAddress(kRouter), nic_}));
  advance(std::chrono::seconds(29));
  EXPECT_FALSE(has_route(Route{*IpPrefix::parse("::/0"), IpAddress(kRouter), nic_}));
  EXPECT_FALSE(stack_->find_route(IpAddress(addr("2001:db8:99::1"))));
  EXPECT_EQ(autoconf_->address_state(nic_, *global), AddressState::kDeprecated);
  advance(std::chrono::seconds(30));
  EXPECT_FALSE(global_address());
  EXPECT_FALSE(has_route(Route{*IpPrefix::parse("2001:db8:1::/64"), std::nullopt, nic_}));
}

TEST_F(AutoconfTest, RoutesOthersAddedAreLeftAlone) {
  settle();
  // A hand-added address brings its on-link route; the RA announces the same prefix.
  ASSERT_TRUE(stack_->add_address(nic_, IpPrefix{IpAddress(addr("2001:db8:1::99")), 64}));
  const Route on_link{*IpPrefix::parse("2001:db8:1::/64"), std::nullopt, nic_};
  RouterAdvertFields ra = basic_ra();
  ra.prefixes = {PrefixInfo{kPrefix, 64, true, false, 30, 10}};
  inject_ra(ra);
  EXPECT_EQ(std::count(stack_->routes().begin(), stack_->routes().end(), on_link), 1);
  // The prefix expires from the router list; the hand-added address's route stays.
  advance(std::chrono::seconds(31));
  EXPECT_TRUE(autoconf_->router_list().prefixes(nic_).empty());
  EXPECT_TRUE(has_route(on_link));
}

TEST_F(AutoconfTest, PrefixWithoutAutonomousFlagIsOnLinkOnly) {
  settle();
  RouterAdvertFields ra = basic_ra();
  ra.prefixes[0].autonomous = false;
  inject_ra(ra);
  advance(std::chrono::seconds(3));
  EXPECT_FALSE(global_address());
  EXPECT_TRUE(has_route(Route{*IpPrefix::parse("2001:db8:1::/64"), std::nullopt, nic_}));
}

TEST_F(AutoconfTest, RedirectFromTheFirstHopIsApplied) {
  settle();
  inject_ra(basic_ra());
  advance(std::chrono::seconds(2));
  const Ipv6Address dest = addr("2001:db8:99::1");
  // From someone who is not our first hop toward dest: refused.
  inject_icmp(build_ndp(RedirectFields{kRouter2, dest, kRouterMac}), kRouter2, *global_address());
  EXPECT_EQ(autoconf_->counters().redirect_refused_not_first_hop, 1u);
  // From the router: the destination's next hop becomes kRouter2.
  inject_icmp(build_ndp(RedirectFields{kRouter2, dest, MacAddress({2, 0, 0, 0, 0, 0x22})}), kRouter,
              *global_address());
  EXPECT_EQ(autoconf_->counters().redirects_applied, 1u);
  auto route = stack_->find_route(IpAddress(dest));
  ASSERT_TRUE(route);
  EXPECT_EQ(route->next_hop, IpAddress(kRouter2));
  auto entry = ip_->ndp().cache().find(nic_, IpAddress(kRouter2));
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->link_address, MacAddress({2, 0, 0, 0, 0, 0x22}));
  // Other destinations still go through the default router.
  EXPECT_EQ(stack_->find_route(IpAddress(addr("2001:db8:98::1")))->next_hop, IpAddress(kRouter));
  // A redirect saying the destination is on-link.
  const Ipv6Address near = addr("2001:db8:97::7");
  inject_icmp(build_ndp(RedirectFields{near, near}), kRouter, *global_address());
  EXPECT_EQ(stack_->find_route(IpAddress(near))->next_hop, IpAddress(near));
  // Invalid redirects.
  inject_icmp(build_ndp(RedirectFields{addr("2001:db8::9"), dest}), kRouter, *global_address());
  EXPECT_EQ(autoconf_->counters().redirect_drop_bad_target, 1u);
  inject_icmp(build_ndp(RedirectFields{kRouter2, dest}), kRouter, *global_address(), 64);
  EXPECT_EQ(autoconf_->counters().redirect_drop_bad_hop_limit, 1u);
}

TEST_F(AutoconfTest, DadProbeFromAnotherNodeIsADuplicate) {
  advance(std::chrono::milliseconds(1000));
  auto probes = sent_of(kNdpNeighborSolicitation);
  ASSERT_THAT(probes, SizeIs(1));
  const Ipv6Address ll = NeighborSolicitationView::parse(probes[0].ip.payload)->target();
  // Another node probes for the same address (its own nonce).
  NeighborSolicitationFields theirs{ll, std::nullopt, std::array<uint8_t, 6>{7, 7, 7, 7, 7, 7}};
  inject_icmp(build_ndp(theirs), Ipv6Address(), solicited_node_group(ll));
  EXPECT_EQ(autoconf_->address_state(nic_, ll), AddressState::kDuplicate);
  EXPECT_EQ(autoconf_->counters().duplicate_addresses, 1u);
  ASSERT_THAT(logs_, SizeIs(1));
  EXPECT_THAT(logs_[0], ::testing::HasSubstr(ll.to_string()));
  EXPECT_THAT(logs_[0], ::testing::HasSubstr("duplicate"));
  // Our own probe looped back (our nonce) is not a conflict for the next address.
  advance(std::chrono::milliseconds(2000));
  auto retry = sent_of(kNdpNeighborSolicitation);
  ASSERT_FALSE(retry.empty());
  const Ipv6Address second = NeighborSolicitationView::parse(retry.back().ip.payload)->target();
  EXPECT_NE(second, ll);
  std::vector<std::byte> looped = retry.back().ip.payload;
  inject_icmp(looped, Ipv6Address(), solicited_node_group(second));
  advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(autoconf_->link_local_address(nic_), second);
  EXPECT_FALSE(nic().has_address(IpAddress(ll)));
}

TEST_F(AutoconfTest, HandAddedAddressWaitsForDad) {
  settle();
  const Ipv6Address mine = addr("fd00::5");
  ASSERT_TRUE(stack_->add_address(nic_, IpPrefix{IpAddress(mine), 64}));
  EXPECT_FALSE(nic().has_address(IpAddress(mine)));
  EXPECT_EQ(autoconf_->address_state(nic_, mine), AddressState::kTentative);
  advance(std::chrono::seconds(2));
  EXPECT_TRUE(nic().has_address(IpAddress(mine)));
  EXPECT_TRUE(nic().in_group(IpAddress(solicited_node_group(mine))));
  // The on-link route of a hand-added address stays where Stack::add_address put it.
  EXPECT_TRUE(has_route(Route{*IpPrefix::parse("fd00::/64"), std::nullopt, nic_}));
}

TEST_F(AutoconfTest, AdvertisementForHandAddedAddressIsADuplicate) {
  settle();
  const Ipv6Address mine = addr("fd00::5");
  ASSERT_TRUE(stack_->add_address(nic_, IpPrefix{IpAddress(mine), 64}));
  advance(std::chrono::milliseconds(500));
  inject_icmp(build_ndp(NeighborAdvertFields{mine, false, false, true, kRouterMac}), kRouter2,
              all_nodes_group());
  advance(std::chrono::seconds(3));
  EXPECT_FALSE(nic().has_address(IpAddress(mine)));
  EXPECT_EQ(autoconf_->address_state(nic_, mine), AddressState::kDuplicate);
  EXPECT_THAT(logs_, Contains(::testing::HasSubstr("fd00::5")));
  // Nothing of it is left listening.
  EXPECT_FALSE(nic().in_group(IpAddress(solicited_node_group(mine))));
  EXPECT_FALSE(autoconf_->mld().joined(nic_, solicited_node_group(mine)));
}

TEST_F(AutoconfTest, ResolutionNsForTentativeIsNotAConflict) {
  settle();
  const Ipv6Address mine = addr("fd00::5");
  ASSERT_TRUE(stack_->add_address(nic_, IpPrefix{IpAddress(mine), 64}));
  inject_icmp(build_ndp(NeighborSolicitationFields{mine, kRouterMac}), kRouter,
              solicited_node_group(mine));
  // ...and no answer: the address is not ours yet (RFC 4862 5.4).
  EXPECT_THAT(sent_of(kNdpNeighborAdvertisement), IsEmpty());
  advance(std::chrono::seconds(2));
  EXPECT_TRUE(nic().has_address(IpAddress(mine)));
}

TEST_F(AutoconfTest, MldQueryIsAnswered) {
  settle();
  const Ipv6Address ll = *autoconf_->link_local_address(nic_);
  std::vector<std::byte> query(28);
  store_u8(query, 0, kMldQuery);
  store_be16(query, 4, 1000);  // 1 s
  store_u8(query, 24, 2);
  inject_icmp(query, kRouter, all_nodes_group(), 1, kRouterMac, /*router_alert=*/true);
  advance(std::chrono::milliseconds(1100));
  auto reports = sent_of(kMldV2Report);
  ASSERT_THAT(reports, SizeIs(1));
  EXPECT_EQ(reports[0].ip.source, ll);
  EXPECT_THAT(*parse_mld_report(reports[0].ip.payload),
              Contains(MldRecord{kRecordModeIsExclude, solicited_node_group(ll), {}}));
  // Without the Router Alert it is dropped.
  inject_icmp(query, kRouter, all_nodes_group(), 1, kRouterMac, false);
  EXPECT_EQ(autoconf_->mld().counters().drop_no_router_alert, 1u);
}

TEST_F(AutoconfTest, GroupsJoinedByOthersAreReportedToo) {
  settle();
  const Ipv6Address group = addr("ff05::1:3");
  nic().join_group(IpAddress(group));  // as a socket would
  auto reports = sent_of(kMldV2Report);
  ASSERT_THAT(reports, SizeIs(1));
  EXPECT_THAT(*parse_mld_report(reports[0].ip.payload),
              ElementsAre(MldRecord{kRecordChangeToExclude, group, {}}));
  nic().leave_group(IpAddress(group));
  reports = sent_of(kMldV2Report);
  ASSERT_THAT(reports, SizeIs(1));
  EXPECT_THAT(*parse_mld_report(reports[0].ip.payload),
              ElementsAre(MldRecord{kRecordChangeToInclude, group, {}}));
  EXPECT_FALSE(autoconf_->mld().joined(nic_, group));
}

TEST_F(AutoconfTest, SourceSelectionAvoidsDeprecated) {
  settle();
  RouterAdvertFields ra = basic_ra();
  ra.prefixes = {PrefixInfo{kPrefix, 64, true, true, 86400, 10},
                 PrefixInfo{addr("2001:db8:2::"), 64, true, true, 86400, 14400}};
  inject_ra(ra);
  advance(std::chrono::seconds(3));
  std::vector<Ipv6Address> globals;
  for (const IpPrefix& p : nic().addresses()) {
    if (!p.address.v6().is_link_local()) globals.push_back(p.address.v6());
  }
  ASSERT_THAT(globals, SizeIs(2));
  auto toward = [&](const char* d) {
    return stack_->find_route(IpAddress(addr(d)))->local_address.v6();
  };
  // Longest match picks each prefix's own address while both are preferred...
  EXPECT_TRUE(IpPrefix::parse("2001:db8:1::/64")->contains(IpAddress(toward("2001:db8:1::9"))));
  // ...until the first one is deprecated.
  advance(std::chrono::seconds(10));
  EXPECT_TRUE(IpPrefix::parse("2001:db8:2::/64")->contains(IpAddress(toward("2001:db8:99::9"))));
  EXPECT_TRUE(IpPrefix::parse("2001:db8:2::/64")->contains(IpAddress(toward("2001:db8:1::9"))));
  // Link-local destinations get the link-local source.
  EXPECT_EQ(toward("fe80::77"), *autoconf_->link_local_address(nic_));
}

class AutoconfNoRaTest : public AutoconfTest {
 protected:
  AutoconfOptions options() override {
    AutoconfOptions o = AutoconfTest::options();
    o.accept_ra = false;
    o.accept_redirects = false;
    return o;
  }
};

TEST_F(AutoconfNoRaTest, RasAndRedirectsIgnored) {
  settle();
  EXPECT_EQ(autoconf_->counters().tx_rs, 0u);
  inject_ra(basic_ra());
  inject_icmp(build_ndp(RedirectFields{kRouter2, addr("2001:db8::1")}), kRouter,
              *autoconf_->link_local_address(nic_));
  advance(std::chrono::seconds(3));
  EXPECT_FALSE(global_address());
  EXPECT_EQ(autoconf_->counters().rx_ra_ignored, 1u);
  EXPECT_EQ(autoconf_->counters().redirect_refused_disabled, 1u);
}

}  // namespace
}  // namespace weir::ipv6
