#include "ipv6/slaac.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "ipv6/ndp_wire.h"
#include "ipv6/stable_iid.h"

namespace weir::ipv6 {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

constexpr NicId kNic = 1;
const SipKey kKey{11, 22};

class FakeHost final : public SlaacHost {
 public:
  struct Probe {
    NicId nic;
    Ipv6Address target;
    std::optional<DadNonce> nonce;
  };
  void join_solicited_node(NicId nic, const Ipv6Address& a) override {
    groups.insert({nic, solicited_node_group(a)});
    ++joins;
  }
  void leave_solicited_node(NicId nic, const Ipv6Address& a) override {
    groups.erase({nic, solicited_node_group(a)});
    ++leaves;
  }
  void send_dad_probe(NicId nic, const Ipv6Address& target,
                      const std::optional<DadNonce>& nonce) override {
    probes.push_back({nic, target, nonce});
  }
  void assign(NicId nic, const IpPrefix& a, AddressOrigin) override {
    assigned.insert({nic, a.address.v6()});
  }
  void unassign(NicId nic, const IpPrefix& a, AddressOrigin) override {
    assigned.erase({nic, a.address.v6()});
  }
  void duplicate_detected(NicId, const Ipv6Address& a, AddressOrigin) override {
    duplicates.push_back(a);
  }
  bool address_in_use(NicId, const Ipv6Address& a) const override { return in_use.count(a) > 0; }

  std::set<std::pair<NicId, Ipv6Address>> groups;
  std::set<std::pair<NicId, Ipv6Address>> assigned;
  std::vector<Probe> probes;
  std::vector<Ipv6Address> duplicates;
  std::set<Ipv6Address> in_use;
  int joins = 0;
  int leaves = 0;
};

PrefixInfo prefix(const char* p, uint32_t valid, uint32_t preferred, bool autonomous = true,
                  uint8_t length = 64) {
  return PrefixInfo{addr(p), length, true, autonomous, valid, preferred};
}

class SlaacTest : public ::testing::Test {
 protected:
  virtual SlaacOptions options() const { return {}; }
  void SetUp() override { slaac_ = std::make_unique<Slaac>(timers_, rng_, host_, kKey, options()); }

  // Moves the clock as an event loop would: from one timer deadline to the next, so each
  // timer fires when it is due, and long spans cost only the events in them.
  void advance(Duration d) {
    const TimePoint end = clock_.now() + d;
    timers_.run();
    while (clock_.now() < end) {
      const auto next = timers_.next_deadline();
      const TimePoint at =
          next ? std::max(*next, clock_.now() + std::chrono::milliseconds(1)) : end;
      clock_.set(std::min(at, end));
      timers_.run();
    }
  }
  // Runs DAD to completion (the random delay is under a second, the wait one second).
  void finish_dad() { advance(std::chrono::milliseconds(2000)); }

  Ipv6Address only_address() {
    auto all = slaac_->addresses(kNic);
    EXPECT_THAT(all, SizeIs(1));
    return all.empty() ? Ipv6Address() : all[0].address.address.v6();
  }
  bool assigned(const Ipv6Address& a) const { return host_.assigned.count({kNic, a}) > 0; }

  ManualClock clock_;
  TimerWheel timers_{clock_};
  Rng rng_{5};
  FakeHost host_;
  std::unique_ptr<Slaac> slaac_;
};

TEST_F(SlaacTest, LinkLocalAtStartup) {
  slaac_->start_link_local(kNic, "eth0");
  const Ipv6Address ll = only_address();
  EXPECT_TRUE(ll.is_link_local());
  EXPECT_EQ(iid_of(ll), stable_iid(kKey, addr("fe80::"), "eth0", "", 0));
  EXPECT_EQ(slaac_->state(kNic, ll), AddressState::kTentative);
  EXPECT_TRUE(slaac_->is_tentative(kNic, ll));
  // Joined the solicited-node group before probing; nothing assigned yet.
  EXPECT_TRUE(host_.groups.count({kNic, solicited_node_group(ll)}));
  EXPECT_THAT(host_.probes, IsEmpty());
  EXPECT_FALSE(assigned(ll));
  // The probe goes out within the random delay; assignment one RetransTimer later.
  advance(std::chrono::milliseconds(1000));
  ASSERT_THAT(host_.probes, SizeIs(1));
  EXPECT_EQ(host_.probes[0].target, ll);
  EXPECT_TRUE(host_.probes[0].nonce);
  EXPECT_FALSE(assigned(ll));
  advance(std::chrono::milliseconds(1000));
  EXPECT_TRUE(assigned(ll));
  EXPECT_EQ(slaac_->state(kNic, ll), AddressState::kPreferred);
  EXPECT_EQ(slaac_->counters().dad_succeeded, 1u);
  EXPECT_THAT(host_.probes, SizeIs(1));  // DupAddrDetectTransmits = 1
  // Starting again is a no-op.
  slaac_->start_link_local(kNic, "eth0");
  EXPECT_THAT(slaac_->addresses(kNic), SizeIs(1));
}

TEST_F(SlaacTest, ProbeDelayIsRandomButUnderOneSecond) {
  std::set<int64_t> delays;
  for (NicId nic = 1; nic <= 8; ++nic) {
    slaac_->start_link_local(nic, "eth" + std::to_string(nic));
  }
  for (int ms = 0; ms < 1000; ++ms) {
    const size_t before = host_.probes.size();
    advance(std::chrono::milliseconds(1));
    if (host_.probes.size() != before) delays.insert(ms);
  }
  EXPECT_EQ(host_.probes.size(), 8u);
  EXPECT_GT(delays.size(), 1u);
}

TEST_F(SlaacTest, DadProbeFromOthersIsADuplicateAndAnotherIidIsTried) {
  slaac_->start_link_local(kNic, "eth0");
  const Ipv6Address first = only_address();
  advance(std::chrono::milliseconds(1000));
  // Someone else probes for the same address with their own nonce.
  const DadNonce other_nonce{9, 9, 9, 9, 9, 9};
  slaac_->on_dad_solicitation(kNic, first, std::as_bytes(std::span(other_nonce)));
  EXPECT_EQ(slaac_->state(kNic, first), AddressState::kDuplicate);
  EXPECT_THAT(host_.duplicates, ElementsAre(first));
  EXPECT_EQ(slaac_->counters().dad_duplicates, 1u);
  EXPECT_FALSE(host_.groups.count({kNic, solicited_node_group(first)}));
  finish_dad();
  EXPECT_FALSE(assigned(first));
  // RFC 7217: after IDGEN_DELAY, DAD_Counter 1 gives a new address.
  advance(std::chrono::seconds(1));
  const Ipv6Address second = only_address();
  EXPECT_NE(second, first);
  EXPECT_EQ(iid_of(second), stable_iid(kKey, addr("fe80::"), "eth0", "", 1));
  finish_dad();
  EXPECT_TRUE(assigned(second));
  EXPECT_EQ(slaac_->addresses(kNic)[0].dad_counter, 1);
}

TEST_F(SlaacTest, OwnLoopedBackProbeIsNotADuplicate) {
  slaac_->start_link_local(kNic, "eth0");
  const Ipv6Address ll = only_address();
  advance(std::chrono::milliseconds(1000));
  ASSERT_THAT(host_.probes, SizeIs(1));
  const DadNonce nonce = *host_.probes[0].nonce;
  slaac_->on_dad_solicitation(kNic, ll, std::as_bytes(std::span(nonce)));
  EXPECT_EQ(slaac_->counters().dad_looped_back, 1u);
  EXPECT_EQ(slaac_->state(kNic, ll), AddressState::kTentative);
  finish_dad();
  EXPECT_TRUE(assigned(ll));
}

TEST_F(SlaacTest, AdvertisementForTentativeIsADuplicate) {
  slaac_->start_manual(kNic, IpPrefix::parse("2001:db8::5/64").value());
  advance(std::chrono::milliseconds(1000));
  slaac_->on_advertisement(kNic, addr("2001:db8::5"));
  EXPECT_EQ(slaac_->state(kNic, addr("2001:db8::5")), AddressState::kDuplicate);
  // A manual address is not regenerated.
  advance(std::chrono::seconds(10));
  EXPECT_EQ(slaac_->state(kNic, addr("2001:db8::5")), AddressState::kDuplicate);
  EXPECT_FALSE(assigned(addr("2001:db8::5")));
}

TEST_F(SlaacTest, ResolutionSolicitationIsNotAConflict) {
  slaac_->start_manual(kNic, IpPrefix::parse("2001:db8::5/64").value());
  slaac_->on_resolution_solicitation(kNic, addr("2001:db8::5"));
  EXPECT_EQ(slaac_->counters().dad_resolution_ns_ignored, 1u);
  finish_dad();
  EXPECT_TRUE(assigned(addr("2001:db8::5")));
}

TEST_F(SlaacTest, ConflictsAfterAssignmentAreNotDad) {
  slaac_->start_manual(kNic, IpPrefix::parse("2001:db8::5/64").value());
  finish_dad();
  slaac_->on_advertisement(kNic, addr("2001:db8::5"));
  slaac_->on_dad_solicitation(kNic, addr("2001:db8::5"), {});
  EXPECT_EQ(slaac_->state(kNic, addr("2001:db8::5")), AddressState::kPreferred);
}

TEST_F(SlaacTest, IdgenRetriesRunOut) {
  slaac_->start_link_local(kNic, "eth0");
  for (int attempt = 0; attempt <= 3; ++attempt) {
    const Ipv6Address a = only_address();
    advance(std::chrono::milliseconds(1000));
    slaac_->on_advertisement(kNic, a);
    advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(slaac_->counters().dad_duplicates, 4u);
  EXPECT_EQ(slaac_->counters().idgen_retries, 3u);
  EXPECT_EQ(slaac_->counters().idgen_exhausted, 1u);
  advance(std::chrono::seconds(30));
  EXPECT_EQ(slaac_->addresses(kNic)[0].state, AddressState::kDuplicate);
  EXPECT_TRUE(host_.assigned.empty());
}

TEST_F(SlaacTest, GeneratedIidAvoidsAddressesInUse) {
  const Ipv6Address taken =
      with_iid(addr("2001:db8:1::"), stable_iid(kKey, addr("2001:db8:1::"), "eth0", "", 0));
  host_.in_use.insert(taken);
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 3600, 1800));
  EXPECT_NE(only_address(), taken);
  EXPECT_EQ(slaac_->addresses(kNic)[0].dad_counter, 1);
}

TEST_F(SlaacTest, PrefixFormsAnAddress) {
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 3600, 1800));
  const Ipv6Address a = only_address();
  EXPECT_EQ(IpPrefix::parse("2001:db8:1::/64")->contains(IpAddress(a)), true);
  EXPECT_EQ(iid_of(a), stable_iid(kKey, addr("2001:db8:1::"), "eth0", "", 0));
  EXPECT_EQ(slaac_->addresses(kNic)[0].address.length, 64);
  finish_dad();
  EXPECT_TRUE(assigned(a));
  // The same prefix again forms nothing new.
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 3600, 1800));
  EXPECT_THAT(slaac_->addresses(kNic), SizeIs(1));
  // Host bits in the option are ignored.
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::1234", 3600, 1800));
  EXPECT_THAT(slaac_->addresses(kNic), SizeIs(1));
}

TEST_F(SlaacTest, PrefixesIgnored) {
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 3600, 1800, false));
  slaac_->on_prefix(kNic, "eth0", prefix("fe80::", 3600, 1800));
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:2::", 100, 200));
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:3::", 3600, 1800, true, 48));
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:4::", 0, 0));
  slaac_->on_prefix(kNic, "eth0", prefix("ff0e::", 3600, 1800));
  EXPECT_THAT(slaac_->addresses(kNic), IsEmpty());
  EXPECT_EQ(slaac_->counters().prefix_ignored_multicast, 1u);
  const auto& c = slaac_->counters();
  EXPECT_EQ(c.prefix_ignored_not_autonomous, 1u);
  EXPECT_EQ(c.prefix_ignored_link_local, 1u);
  EXPECT_EQ(c.prefix_ignored_bad_lifetime, 1u);
  EXPECT_EQ(c.prefix_ignored_bad_length, 1u);
  EXPECT_EQ(c.prefix_ignored_zero_lifetime, 1u);
}

TEST_F(SlaacTest, PreferredThenValidLifetime) {
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 100, 50));
  const Ipv6Address a = only_address();
  finish_dad();
  EXPECT_EQ(slaac_->state(kNic, a), AddressState::kPreferred);
  advance(std::chrono::seconds(48));
  EXPECT_EQ(slaac_->state(kNic, a), AddressState::kDeprecated);
  EXPECT_TRUE(assigned(a));  // deprecated addresses stay usable
  advance(std::chrono::seconds(50));
  EXPECT_FALSE(slaac_->state(kNic, a));
  EXPECT_FALSE(assigned(a));
  EXPECT_FALSE(host_.groups.count({kNic, solicited_node_group(a)}));
  EXPECT_EQ(slaac_->counters().addresses_expired, 1u);
}

TEST_F(SlaacTest, ZeroPreferredLifetimeIsDeprecatedAtOnce) {
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 100, 0));
  const Ipv6Address a = only_address();
  finish_dad();
  EXPECT_TRUE(assigned(a));
  EXPECT_EQ(slaac_->state(kNic, a), AddressState::kDeprecated);
}

TEST_F(SlaacTest, DeprecatedBecomesPreferredAgain) {
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 100, 10));
  const Ipv6Address a = only_address();
  finish_dad();
  advance(std::chrono::seconds(10));
  EXPECT_EQ(slaac_->state(kNic, a), AddressState::kDeprecated);
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 100, 50));
  EXPECT_EQ(slaac_->state(kNic, a), AddressState::kPreferred);
}

// RFC 4862 5.5.3 e): the valid lifetime of a known prefix.
TEST_F(SlaacTest, TwoHourRule) {
  const auto hours = [](int h) { return static_cast<uint32_t>(h * 3600); };
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", hours(10), hours(5)));
  const Ipv6Address a = only_address();
  finish_dad();
  auto valid_left = [&] { return *slaac_->addresses(kNic)[0].valid_until - clock_.now(); };
  // 1: longer than two hours: taken.
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", hours(3), hours(1)));
  EXPECT_EQ(valid_left(), std::chrono::hours(3));
  // 3: a short lifetime while more than two hours remain: two hours.
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 60, 30));
  EXPECT_EQ(valid_left(), std::chrono::hours(2));
  EXPECT_EQ(slaac_->counters().two_hour_rule_applied, 1u);
  // 2: two hours or less remain: ignored, even a zero.
  advance(std::chrono::minutes(30));
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 0, 0));
  EXPECT_EQ(valid_left(), std::chrono::minutes(90));
  EXPECT_EQ(slaac_->counters().two_hour_rule_applied, 2u);
  // ...but the preferred lifetime is reset (capped by the valid lifetime).
  EXPECT_EQ(slaac_->state(kNic, a), AddressState::kDeprecated);
  // Longer than what remains: taken even under two hours.
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 6000, 6000));
  EXPECT_EQ(valid_left(), std::chrono::seconds(6000));
  EXPECT_EQ(slaac_->state(kNic, a), AddressState::kPreferred);
  // Infinite.
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", kInfiniteLifetime, kInfiniteLifetime));
  EXPECT_FALSE(slaac_->addresses(kNic)[0].valid_until);
  EXPECT_FALSE(slaac_->addresses(kNic)[0].preferred_until);
  advance(std::chrono::hours(24 * 30));
  EXPECT_TRUE(assigned(a));
  // From infinite, a short lifetime becomes two hours.
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 60, 60));
  EXPECT_EQ(valid_left(), std::chrono::hours(2));
}

TEST_F(SlaacTest, TableIsBounded) {
  for (int i = 0; i < 20; ++i) {
    const std::string p = "2001:db8:" + std::to_string(i + 1) + "::";
    slaac_->on_prefix(kNic, "eth0", prefix(p.c_str(), 3600, 1800));
  }
  EXPECT_THAT(slaac_->addresses(kNic), SizeIs(16));
  EXPECT_EQ(slaac_->counters().prefix_ignored_table_full, 4u);
}

TEST_F(SlaacTest, FlushTakesAddressesOff) {
  slaac_->start_link_local(kNic, "eth0");
  slaac_->on_prefix(kNic, "eth0", prefix("2001:db8:1::", 3600, 1800));
  finish_dad();
  EXPECT_EQ(host_.assigned.size(), 2u);
  slaac_->flush(kNic);
  EXPECT_TRUE(host_.assigned.empty());
  EXPECT_TRUE(host_.groups.empty());
  EXPECT_EQ(timers_.armed_count(), 0u);
}

TEST_F(SlaacTest, RetransTimerFromRouter) {
  slaac_->set_retrans_timer(std::chrono::milliseconds(300));
  slaac_->start_manual(kNic, IpPrefix::parse("2001:db8::5/64").value());
  advance(std::chrono::milliseconds(1000));
  ASSERT_THAT(host_.probes, SizeIs(1));
  advance(std::chrono::milliseconds(300));
  EXPECT_TRUE(assigned(addr("2001:db8::5")));
}

class SlaacMoreProbesTest : public SlaacTest {
 protected:
  SlaacOptions options() const override {
    SlaacOptions o;
    o.dad_transmits = 3;
    o.max_dad_delay = Duration::zero();
    o.enhanced_dad = false;
    return o;
  }
};

TEST_F(SlaacMoreProbesTest, EveryProbeOneRetransTimerApart) {
  slaac_->start_manual(kNic, IpPrefix::parse("2001:db8::5/64").value());
  advance(Duration::zero());
  EXPECT_THAT(host_.probes, SizeIs(1));
  EXPECT_FALSE(host_.probes[0].nonce);
  advance(std::chrono::seconds(1));
  EXPECT_THAT(host_.probes, SizeIs(2));
  advance(std::chrono::seconds(1));
  EXPECT_THAT(host_.probes, SizeIs(3));
  EXPECT_FALSE(assigned(addr("2001:db8::5")));
  advance(std::chrono::seconds(1));
  EXPECT_TRUE(assigned(addr("2001:db8::5")));
  EXPECT_THAT(host_.probes, SizeIs(3));
}

class SlaacNoDadTest : public SlaacTest {
 protected:
  SlaacOptions options() const override {
    SlaacOptions o;
    o.dad_transmits = 0;
    return o;
  }
};

TEST_F(SlaacNoDadTest, AssignedAtOnce) {
  slaac_->start_manual(kNic, IpPrefix::parse("2001:db8::5/64").value());
  EXPECT_TRUE(assigned(addr("2001:db8::5")));
  EXPECT_THAT(host_.probes, IsEmpty());
}

}  // namespace
}  // namespace weir::ipv6
