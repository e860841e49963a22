#include "ipv6/source_selection.h"

#include <gtest/gtest.h>

#include <vector>

namespace weir::ipv6 {
namespace {

Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

SourceCandidate c(const char* a, bool deprecated = false, bool outgoing = true,
                  uint8_t prefix_length = 64) {
  return SourceCandidate{addr(a), prefix_length, deprecated, outgoing};
}

Ipv6Address pick(const char* destination, std::vector<SourceCandidate> candidates) {
  return select_source_address(addr(destination), candidates).value();
}

TEST(SourceSelectionTest, Scopes) {
  EXPECT_EQ(address_scope(addr("fe80::1")), kScopeLinkLocal);
  EXPECT_EQ(address_scope(addr("::1")), kScopeLinkLocal);
  EXPECT_EQ(address_scope(addr("fec0::1")), kScopeSiteLocal);
  EXPECT_EQ(address_scope(addr("fd00::1")), kScopeGlobal);
  EXPECT_EQ(address_scope(addr("2001:db8::1")), kScopeGlobal);
  EXPECT_EQ(address_scope(addr("ff02::1")), kScopeLinkLocal);
  EXPECT_EQ(address_scope(addr("ff05::1")), kScopeSiteLocal);
  EXPECT_EQ(address_scope(addr("ff01::1")), kScopeInterfaceLocal);
  EXPECT_EQ(address_scope(addr("ff0e::1")), kScopeGlobal);
}

TEST(SourceSelectionTest, DefaultPolicyTable) {
  EXPECT_EQ(default_policy(addr("::1")).label, 0);
  EXPECT_EQ(default_policy(addr("::1")).precedence, 50);
  EXPECT_EQ(default_policy(addr("2001:db8::1")).label, 1);
  EXPECT_EQ(default_policy(addr("::ffff:10.0.0.1")).label, 4);
  EXPECT_EQ(default_policy(addr("2002:c633:6401::1")).label, 2);
  EXPECT_EQ(default_policy(addr("2001:0:1::1")).label, 5);  // Teredo 2001::/32
  EXPECT_EQ(default_policy(addr("fd00::1")).label, 13);
  EXPECT_EQ(default_policy(addr("::10.0.0.1")).label, 3);
  EXPECT_EQ(default_policy(addr("fec0::1")).label, 11);
  EXPECT_EQ(default_policy(addr("3ffe::1")).label, 12);
}

TEST(SourceSelectionTest, CommonPrefixLength) {
  EXPECT_EQ(common_prefix_length(addr("2001:db8::1"), addr("2001:db8::1")), 128);
  EXPECT_EQ(common_prefix_length(addr("2001:db8::"), addr("2001:db9::")), 31);
  EXPECT_EQ(common_prefix_length(addr("::"), addr("8000::")), 0);
}

// The examples of RFC 6724 10.2 that apply to a host without Mobile IPv6 or temporary
// addresses.
TEST(SourceSelectionTest, Rfc6724Examples) {
  EXPECT_EQ(pick("2001:db8:1::1", {c("2001:db8:3::1"), c("fe80::1")}), addr("2001:db8:3::1"));
  EXPECT_EQ(pick("2001:db8:1::1", {c("fe80::1"), c("2001:db8:3::1")}), addr("2001:db8:3::1"));
  EXPECT_EQ(pick("ff05::1", {c("2001:db8:3::1"), c("fe80::1")}), addr("2001:db8:3::1"));
  EXPECT_EQ(pick("2001:db8:1::1", {c("2001:db8:1::1", true), c("2001:db8:2::1")}),
            addr("2001:db8:1::1"));
  EXPECT_EQ(pick("fe80::1", {c("fe80::2", true), c("2001:db8:1::1")}), addr("fe80::2"));
  EXPECT_EQ(pick("2001:db8:1::1", {c("2001:db8:3::2"), c("2001:db8:1::2")}), addr("2001:db8:1::2"));
  EXPECT_EQ(
      pick("2002:c633:6401::1", {c("2001:db8:1::2"), c("2002:c633:6401::d5e3:7953:13eb:22e8")}),
      addr("2002:c633:6401::d5e3:7953:13eb:22e8"));
}

TEST(SourceSelectionTest, AvoidsDeprecated) {
  EXPECT_EQ(pick("2001:db8:9::1", {c("2001:db8:1::1", true), c("2001:db8:2::1")}),
            addr("2001:db8:2::1"));
  // ...but a deprecated address is still used when it is the only one of the right scope.
  EXPECT_EQ(pick("2001:db8:9::1", {c("fe80::1"), c("2001:db8:1::1", true)}), addr("2001:db8:1::1"));
}

TEST(SourceSelectionTest, PrefersOutgoingInterface) {
  EXPECT_EQ(pick("2001:db8:9::1", {c("2001:db8:9::5", false, false), c("2001:db8:1::1")}),
            addr("2001:db8:1::1"));
}

TEST(SourceSelectionTest, MatchingLabel) {
  // A ULA destination prefers a ULA source over a global one.
  EXPECT_EQ(pick("fd00:1::1", {c("2001:db8::1"), c("fd00:2::1")}), addr("fd00:2::1"));
}

TEST(SourceSelectionTest, LongestPrefixStopsAtTheCandidatesPrefix) {
  // Both share more than 64 bits with the destination, but rule 8 counts only the prefix
  // part of each candidate: a tie, so the first stays.
  EXPECT_EQ(pick("2001:db8:1:1::1:1", {c("2001:db8:1:1::2"), c("2001:db8:1:1::1:2")}),
            addr("2001:db8:1:1::2"));
  // With /128 candidates the interface bits count.
  EXPECT_EQ(pick("2001:db8:1:1::1:1", {c("2001:db8:1:1::2", false, true, 128),
                                       c("2001:db8:1:1::1:2", false, true, 128)}),
            addr("2001:db8:1:1::1:2"));
}

TEST(SourceSelectionTest, Empty) { EXPECT_FALSE(select_source_address(addr("2001:db8::1"), {})); }

}  // namespace
}  // namespace weir::ipv6
