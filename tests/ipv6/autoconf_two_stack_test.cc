// Two stacks on one in-memory Ethernet link: a "router" stack that sends crafted Router
// Advertisements through its IPv6 layer, and hosts that autoconfigure from them; and two
// hosts that want the same address.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ipv6/autoconf.h"
#include "ipv6/ipv6.h"
#include "ipv6/ndp_wire.h"
#include "link/channel.h"
#include "stack/nic.h"
#include "stack/stack.h"

namespace weir::ipv6 {
namespace {

using ::testing::SizeIs;

Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

const Ipv6Address kRouterLinkLocal = addr("fe80::1");
const Ipv6Address kRouterGlobal = addr("2001:db8:1::1");

struct Node {
  std::unique_ptr<Stack> stack;
  NicId nic = 0;
  Ipv6Protocol* ip = nullptr;
  Autoconf* autoconf = nullptr;  // owned by the IPv6 layer
  std::vector<std::string> logs;

  Nic& n() { return *stack->nic(nic); }
  std::optional<Ipv6Address> global() {
    for (const IpPrefix& p : n().addresses()) {
      if (p.address.is_v6() && !p.address.v6().is_link_local()) return p.address.v6();
    }
    return std::nullopt;
  }
};

class TwoStackAutoconfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pair = link::ChannelEndpoint::make_pair();
    link_a_ = pair.a.get();
    link_b_ = pair.b.get();
    setup(a_, std::move(pair.a), 1);
    setup(b_, std::move(pair.b), 2);
  }
  void setup(Node& node, std::unique_ptr<link::ChannelEndpoint> endpoint, uint64_t seed) {
    node.stack = std::make_unique<Stack>(clock_, repeatable_stack_options(seed));
    node.nic = node.stack->add_nic(std::move(endpoint), "eth0").value();
    node.ip = &install(*node.stack);
  }
  void enable_autoconf(Node& node) {
    AutoconfOptions o;
    o.log = [&node](std::string_view line) { node.logs.emplace_back(line); };
    node.autoconf = &ipv6::enable_autoconf(*node.stack, o);
    EXPECT_EQ(find_autoconf(*node.stack), node.autoconf);
  }

  // Delivers frames and fires timers in 10 ms steps for d.
  void run(Duration d) {
    const Duration step = std::chrono::milliseconds(10);
    for (Duration t = Duration::zero(); t < d; t += step) {
      link::ChannelEndpoint::pump(*link_a_, *link_b_);
      clock_.advance(step);
      a_.stack->run_timers();
      b_.stack->run_timers();
    }
    link::ChannelEndpoint::pump(*link_a_, *link_b_);
  }

  // The router stack announces itself and prefix 2001:db8:1::/64 to all nodes.
  void send_ra(Node& router, uint16_t lifetime = 1800) {
    RouterAdvertFields ra;
    ra.cur_hop_limit = 64;
    ra.router_lifetime = lifetime;
    ra.source_lla = router.n().link_address();
    ra.prefixes = {PrefixInfo{addr("2001:db8:1::"), 64, true, true, 86400, 14400}};
    ASSERT_TRUE(router.ip->send_icmp(router.n(), kRouterLinkLocal, all_nodes_group(),
                                     LocalSend{.hop_limit = 255},
                                     PacketBuffer::from_bytes(build_ndp(ra))));
  }

  // An echo request from `from` to `to` through the routes.
  void ping(Node& from, const Ipv6Address& source, const Ipv6Address& to, uint16_t seq) {
    std::vector<std::byte> echo(16);
    store_u8(echo, 0, 128);
    store_be16(echo, 4, 0x77);
    store_be16(echo, 6, seq);
    fill_icmpv6_checksum(echo, source, to);
    ASSERT_TRUE(from.ip->send_routed(source, to, std::nullopt,
                                     IpWriteParams{.protocol = kProtocolIcmpv6},
                                     PacketBuffer::from_bytes(echo)));
  }

  ManualClock clock_;
  link::ChannelEndpoint* link_a_ = nullptr;
  link::ChannelEndpoint* link_b_ = nullptr;
  Node a_;
  Node b_;
};

TEST_F(TwoStackAutoconfTest, HostAutoconfiguresFromRouterAdvertisementAndIsReachable) {
  // a is the router: hand-configured, no autoconfiguration of its own.
  ASSERT_TRUE(a_.stack->add_address(a_.nic, IpPrefix{IpAddress(kRouterLinkLocal), 64}));
  ASSERT_TRUE(a_.stack->add_address(a_.nic, IpPrefix{IpAddress(kRouterGlobal), 64}));
  enable_autoconf(b_);
  run(std::chrono::seconds(3));  // b: link-local, first solicitation
  EXPECT_GE(b_.autoconf->counters().tx_rs, 1u);
  EXPECT_FALSE(b_.global());

  send_ra(a_);
  run(std::chrono::seconds(3));  // b: DAD on its new address
  const auto global = b_.global();
  ASSERT_TRUE(global);
  EXPECT_TRUE(IpPrefix::parse("2001:db8:1::/64")->contains(IpAddress(*global)));
  EXPECT_EQ(b_.autoconf->address_state(b_.nic, *global), AddressState::kPreferred);

  // The router reaches the host's new address; the host answers through its routes.
  const uint64_t replies = a_.ip->icmp().counters().rx_echo_replies;
  ping(a_, kRouterGlobal, *global, 1);
  run(std::chrono::milliseconds(100));
  EXPECT_EQ(a_.ip->icmp().counters().rx_echo_replies, replies + 1);
  EXPECT_GE(b_.ip->icmp().counters().rx_echo_requests, 1u);

  // And the host reaches an off-link address through its default router (the router stack
  // has no such address: the request is enough to see the route works).
  auto route = b_.stack->find_route(IpAddress(addr("2001:db8:77::1")));
  ASSERT_TRUE(route);
  EXPECT_EQ(route->next_hop, IpAddress(kRouterLinkLocal));
  EXPECT_EQ(route->local_address, IpAddress(*global));
}

TEST_F(TwoStackAutoconfTest, BothHostsAutoconfigureDistinctAddresses) {
  // b doubles as router here; both run autoconf, so both form addresses in the prefix (the
  // router ignores its own RA, which came back to it only through nothing: a channel does not
  // loop frames back).
  enable_autoconf(a_);
  enable_autoconf(b_);
  ASSERT_TRUE(a_.stack->add_address(a_.nic, IpPrefix{IpAddress(kRouterLinkLocal), 64}));
  run(std::chrono::seconds(3));
  send_ra(a_);
  run(std::chrono::seconds(3));
  ASSERT_TRUE(b_.global());
  EXPECT_FALSE(a_.global());  // a sent the RA; it does not hear it
  EXPECT_TRUE(a_.logs.empty());
  EXPECT_TRUE(b_.logs.empty());
  EXPECT_EQ(a_.autoconf->counters().duplicate_addresses, 0u);
  EXPECT_EQ(b_.autoconf->counters().duplicate_addresses, 0u);
}

TEST_F(TwoStackAutoconfTest, DadDetectsAnAddressAlreadyInUse) {
  enable_autoconf(a_);
  enable_autoconf(b_);
  run(std::chrono::seconds(3));
  const Ipv6Address shared = addr("fd00::5");
  ASSERT_TRUE(a_.stack->add_address(a_.nic, IpPrefix{IpAddress(shared), 64}));
  run(std::chrono::seconds(3));
  ASSERT_TRUE(a_.n().has_address(IpAddress(shared)));

  // b wants the same address: a defends it with an NA, b gives up.
  ASSERT_TRUE(b_.stack->add_address(b_.nic, IpPrefix{IpAddress(shared), 64}));
  run(std::chrono::seconds(3));
  EXPECT_FALSE(b_.n().has_address(IpAddress(shared)));
  EXPECT_EQ(b_.autoconf->address_state(b_.nic, shared), AddressState::kDuplicate);
  EXPECT_EQ(b_.autoconf->counters().duplicate_addresses, 1u);
  ASSERT_THAT(b_.logs, SizeIs(1));
  EXPECT_THAT(b_.logs[0], ::testing::HasSubstr("fd00::5"));
  // a keeps it.
  EXPECT_TRUE(a_.n().has_address(IpAddress(shared)));
  EXPECT_EQ(a_.autoconf->counters().duplicate_addresses, 0u);
}

TEST_F(TwoStackAutoconfTest, SimultaneousDadLeavesTheAddressToOneHost) {
  enable_autoconf(a_);
  enable_autoconf(b_);
  run(std::chrono::seconds(3));
  const Ipv6Address shared = addr("fd00::5");
  ASSERT_TRUE(a_.stack->add_address(a_.nic, IpPrefix{IpAddress(shared), 64}));
  ASSERT_TRUE(b_.stack->add_address(b_.nic, IpPrefix{IpAddress(shared), 64}));
  run(std::chrono::seconds(3));
  // Both are tentative at once. The first probe on the wire makes the other host give up
  // (RFC 4862 5.4.3) before it sends its own, so exactly one keeps the address. (Had both
  // probes crossed on the wire, both would give up.)
  const bool a_has = a_.n().has_address(IpAddress(shared));
  const bool b_has = b_.n().has_address(IpAddress(shared));
  EXPECT_NE(a_has, b_has);
  EXPECT_EQ(
      a_.autoconf->counters().duplicate_addresses + b_.autoconf->counters().duplicate_addresses,
      1u);
  Node& loser = a_has ? b_ : a_;
  EXPECT_EQ(loser.autoconf->address_state(loser.nic, shared), AddressState::kDuplicate);
}

}  // namespace
}  // namespace weir::ipv6
