#include "ipv6/stable_iid.h"

#include <gtest/gtest.h>

#include <set>

namespace weir::ipv6 {
namespace {

Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

const SipKey kKey = stable_iid_key(SipKey{0x0123456789abcdefull, 0xfedcba9876543210ull});
const Ipv6Address kPrefix = addr("2001:db8:1:2::");

TEST(StableIidTest, SameInputsSameIid) {
  EXPECT_EQ(stable_iid(kKey, kPrefix, "eth0", "", 0), stable_iid(kKey, kPrefix, "eth0", "", 0));
  // Only the first 64 bits of the prefix count.
  EXPECT_EQ(stable_iid(kKey, kPrefix, "eth0", "", 0),
            stable_iid(kKey, addr("2001:db8:1:2::99"), "eth0", "", 0));
}

TEST(StableIidTest, EveryInputChangesIt) {
  std::set<uint64_t> iids{
      stable_iid(kKey, kPrefix, "eth0", "", 0),
      stable_iid(kKey, addr("2001:db8:1:3::"), "eth0", "", 0),
      stable_iid(kKey, kPrefix, "eth1", "", 0),
      stable_iid(kKey, kPrefix, "eth0", "net-a", 0),
      stable_iid(kKey, kPrefix, "eth0", "", 1),
      stable_iid(stable_iid_key(SipKey{1, 2}), kPrefix, "eth0", "", 0),
      // Field boundaries are unambiguous.
      stable_iid(kKey, kPrefix, "eth0n", "et", 0),
      stable_iid(kKey, kPrefix, "eth0ne", "t", 0),
  };
  EXPECT_EQ(iids.size(), 8u);
}

TEST(StableIidTest, KeyIsNotTheStackSecret) {
  const SipKey secret{7, 9};
  const SipKey k = stable_iid_key(secret);
  EXPECT_NE(k.k0, secret.k0);
  EXPECT_NE(k.k1, secret.k1);
  EXPECT_NE(k.k0, k.k1);
}

TEST(StableIidTest, ReservedIids) {
  EXPECT_TRUE(is_reserved_iid(0));
  EXPECT_TRUE(is_reserved_iid(0x02005efffe000000ull));
  EXPECT_TRUE(is_reserved_iid(0x02005efffe005213ull));  // proxy mobile IPv6
  EXPECT_TRUE(is_reserved_iid(0x02005efffeffffffull));
  EXPECT_FALSE(is_reserved_iid(0x02005eff00000000ull));
  EXPECT_FALSE(is_reserved_iid(0x02005efffd000000ull));
  EXPECT_TRUE(is_reserved_iid(0xfdffffffffffff80ull));
  EXPECT_TRUE(is_reserved_iid(0xfdffffffffffffffull));
  EXPECT_FALSE(is_reserved_iid(0xfdffffffffffff7full));
  EXPECT_FALSE(is_reserved_iid(0xfe00000000000000ull));
  EXPECT_FALSE(is_reserved_iid(1));
}

TEST(StableIidTest, AddressHelpers) {
  const Ipv6Address a = with_iid(addr("fe80::"), 0x0011223344556677ull);
  EXPECT_EQ(a, addr("fe80::11:2233:4455:6677"));
  EXPECT_EQ(iid_of(a), 0x0011223344556677ull);
  // The prefix's own low bits are replaced.
  EXPECT_EQ(with_iid(addr("2001:db8::ffff"), 5), addr("2001:db8::5"));
}

TEST(StableIidTest, GenerateSkipsAddressesInUse) {
  auto first = generate_stable_address(kKey, kPrefix, "eth0", "", 0,
                                       [](const Ipv6Address&) { return false; });
  ASSERT_TRUE(first);
  EXPECT_EQ(first->dad_counter, 0);
  EXPECT_EQ(first->address, with_iid(kPrefix, stable_iid(kKey, kPrefix, "eth0", "", 0)));

  auto second = generate_stable_address(kKey, kPrefix, "eth0", "", 0,
                                        [&](const Ipv6Address& a) { return a == first->address; });
  ASSERT_TRUE(second);
  EXPECT_EQ(second->dad_counter, 1);
  EXPECT_NE(second->address, first->address);

  // A DAD retry starts past the failed counter.
  auto retry = generate_stable_address(kKey, kPrefix, "eth0", "", 1,
                                       [](const Ipv6Address&) { return false; });
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->address, second->address);

  // IDGEN_RETRIES exhausted.
  EXPECT_FALSE(generate_stable_address(kKey, kPrefix, "eth0", "", 0,
                                       [](const Ipv6Address&) { return true; }));
}

}  // namespace
}  // namespace weir::ipv6
