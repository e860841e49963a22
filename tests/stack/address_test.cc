#include "stack/address.h"

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

namespace weir {
namespace {

TEST(MacAddressTest, ParseAndFormat) {
  auto m = MacAddress::parse("02:00:5e:10:Ab:ff");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->octets(), (std::array<uint8_t, 6>{0x02, 0x00, 0x5e, 0x10, 0xab, 0xff}));
  EXPECT_EQ(m->to_string(), "02:00:5e:10:ab:ff");
  EXPECT_FALSE(m->is_multicast());
  EXPECT_TRUE(MacAddress::broadcast().is_broadcast());
  EXPECT_TRUE(MacAddress::broadcast().is_multicast());
  EXPECT_TRUE(MacAddress::parse("01:00:5e:00:00:01")->is_multicast());
  EXPECT_TRUE(MacAddress().is_zero());
}

TEST(MacAddressTest, RejectsMalformed) {
  for (const char* bad : {"", "02:00:00:00:00", "02:00:00:00:00:01:02", "02-00-00-00-00-01",
                          "2:00:00:00:00:01", "02:00:00:00:00:0g", "02:00:00:00:00:01 ",
                          "020000000001", "02:00:00:00:00:+1"}) {
    auto m = MacAddress::parse(bad);
    ASSERT_FALSE(m.ok()) << bad;
    EXPECT_EQ(m.error(), Error::kInvalidArgument);
  }
}

TEST(MacAddressTest, FromBytes) {
  auto bytes = std::array<std::byte, 6>{std::byte{1}, std::byte{2}, std::byte{3},
                                        std::byte{4}, std::byte{5}, std::byte{6}};
  auto m = MacAddress::from_bytes(bytes);
  EXPECT_EQ(m.to_string(), "01:02:03:04:05:06");
  EXPECT_TRUE(std::equal(m.bytes().begin(), m.bytes().end(), bytes.begin()));
}

TEST(Ipv4AddressTest, ParseAndFormat) {
  auto a = Ipv4Address::parse("192.168.1.254");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->value(), 0xc0a801feu);
  EXPECT_EQ(a->to_string(), "192.168.1.254");
  EXPECT_EQ(*a, Ipv4Address(192, 168, 1, 254));
  EXPECT_EQ(Ipv4Address::parse("0.0.0.0")->value(), 0u);
  EXPECT_EQ(Ipv4Address::parse("255.255.255.255")->value(), 0xffffffffu);
  auto b = a->to_bytes();
  EXPECT_EQ(b[0], std::byte{192});
  EXPECT_EQ(b[3], std::byte{254});
  EXPECT_EQ(Ipv4Address::from_bytes(b), *a);
}

TEST(Ipv4AddressTest, RejectsMalformed) {
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "1..2.3",
                          "1.2.3.4 ", " 1.2.3.4", "a.b.c.d", "1.2.3.4/24", "1234.1.1.1",
                          "1.2.3.", "::1", "0x1.2.3.4"}) {
    EXPECT_FALSE(Ipv4Address::parse(bad).ok()) << bad;
  }
}

TEST(Ipv4AddressTest, Classes) {
  EXPECT_TRUE(Ipv4Address::any().is_unspecified());
  EXPECT_TRUE(Ipv4Address::broadcast().is_broadcast());
  EXPECT_TRUE(Ipv4Address(224, 0, 0, 1).is_multicast());
  EXPECT_TRUE(Ipv4Address(239, 255, 255, 250).is_multicast());
  EXPECT_FALSE(Ipv4Address(240, 0, 0, 1).is_multicast());
  EXPECT_TRUE(Ipv4Address(127, 0, 0, 1).is_loopback());
  EXPECT_FALSE(Ipv4Address(10, 0, 0, 1).is_loopback());
  EXPECT_LT(Ipv4Address(10, 0, 0, 1), Ipv4Address(10, 0, 0, 2));
}

TEST(Ipv6AddressTest, ParseAndFormatRfc5952) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (auto c : {Case{"::", "::"}, Case{"::1", "::1"},
                 Case{"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
                 Case{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
                 Case{"FE80::ABCD", "fe80::abcd"}, Case{"2001:db8::ffff:0:1", "2001:db8::ffff:0:1"},
                 Case{"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
                 Case{"::ffff:192.0.2.1", "::ffff:192.0.2.1"}}) {
    auto a = Ipv6Address::parse(c.in);
    ASSERT_TRUE(a.ok()) << c.in;
    EXPECT_EQ(a->to_string(), c.out);
    EXPECT_EQ(*Ipv6Address::parse(a->to_string()), *a);
  }
}

TEST(Ipv6AddressTest, RejectsMalformed) {
  for (const char* bad : {"", ":", ":::", "1:2:3:4:5:6:7:8:9", "2001:db8::1::2", "12345::",
                          "g::1", "1.2.3.4", "fe80::1%eth0", "2001:db8::/32",
                          "0000000000000000000000000000000000000000000000000000000000000000::"}) {
    EXPECT_FALSE(Ipv6Address::parse(bad).ok()) << bad;
  }
}

TEST(Ipv6AddressTest, Classes) {
  EXPECT_TRUE(Ipv6Address::any().is_unspecified());
  EXPECT_TRUE(Ipv6Address::parse("::1")->is_loopback());
  EXPECT_FALSE(Ipv6Address::parse("::2")->is_loopback());
  EXPECT_TRUE(Ipv6Address::parse("ff02::1")->is_multicast());
  EXPECT_TRUE(Ipv6Address::parse("fe80::1")->is_link_local());
  EXPECT_TRUE(Ipv6Address::parse("febf::1")->is_link_local());
  EXPECT_FALSE(Ipv6Address::parse("fec0::1")->is_link_local());
  auto a = *Ipv6Address::parse("2001:db8::42");
  EXPECT_EQ(Ipv6Address::from_bytes(a.bytes()), a);
}

TEST(IpAddressTest, FamiliesAndParsing) {
  auto v4 = IpAddress::parse("10.0.0.1");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->family(), AddressFamily::kIpv4);
  EXPECT_EQ(v4->bytes().size(), 4u);
  EXPECT_EQ(v4->v4(), Ipv4Address(10, 0, 0, 1));
  EXPECT_EQ(v4->to_string(), "10.0.0.1");
  auto v6 = IpAddress::parse("fd00::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->is_v6());
  EXPECT_EQ(v6->bytes().size(), 16u);
  EXPECT_EQ(v6->to_string(), "fd00::1");
  EXPECT_FALSE(IpAddress::parse("").ok());
  EXPECT_FALSE(IpAddress::parse("10.0.0").ok());
  EXPECT_FALSE(IpAddress::parse("fd00:::1").ok());
}

TEST(IpAddressTest, AnyAndDefault) {
  EXPECT_TRUE(IpAddress().is_v4());
  EXPECT_TRUE(IpAddress().is_unspecified());
  EXPECT_TRUE(IpAddress::any(AddressFamily::kIpv6).is_v6());
  EXPECT_TRUE(IpAddress::any(AddressFamily::kIpv6).is_unspecified());
  EXPECT_FALSE(IpAddress(Ipv4Address(1, 0, 0, 0)).is_unspecified());
}

TEST(IpAddressTest, EqualityOrderingAndHash) {
  // The v4 unspecified and v6 unspecified addresses have equal bytes but differ.
  EXPECT_NE(IpAddress::any(AddressFamily::kIpv4), IpAddress::any(AddressFamily::kIpv6));
  EXPECT_LT(IpAddress(Ipv4Address(255, 255, 255, 255)), *IpAddress::parse("::"));
  EXPECT_LT(*IpAddress::parse("10.0.0.1"), *IpAddress::parse("10.0.0.2"));
  std::unordered_set<IpAddress> set;
  set.insert(*IpAddress::parse("10.0.0.1"));
  set.insert(*IpAddress::parse("10.0.0.1"));
  set.insert(*IpAddress::parse("::a00:1"));
  EXPECT_EQ(set.size(), 2u);
  EXPECT_TRUE(IpAddress::parse("ff02::1")->is_multicast());
  EXPECT_TRUE(IpAddress::parse("224.0.0.251")->is_multicast());
}

TEST(IpPrefixTest, ParseAndFormat) {
  auto p = IpPrefix::parse("10.1.2.3/24");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->length, 24);
  EXPECT_EQ(p->to_string(), "10.1.2.3/24");
  EXPECT_EQ(p->network().to_string(), "10.1.2.0/24");
  auto q = IpPrefix::parse("fd00:1:2:3:4::1/64");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->network().to_string(), "fd00:1:2:3::/64");
  EXPECT_EQ(IpPrefix::parse("0.0.0.0/0")->length, 0);
  EXPECT_EQ(IpPrefix::parse("::/0")->length, 0);
  EXPECT_EQ(IpPrefix::parse("::1/128")->length, 128);
}

TEST(IpPrefixTest, RejectsMalformed) {
  for (const char* bad : {"10.0.0.1", "10.0.0.1/", "10.0.0.1/33", "10.0.0.1/-1", "10.0.0.1/2a",
                          "/24", "fd00::/129", "10.0.0.1/24/1", "10.0.0.256/8", "10.0.0.1/ 8"}) {
    EXPECT_FALSE(IpPrefix::parse(bad).ok()) << bad;
  }
}

TEST(IpPrefixTest, Contains) {
  auto p = *IpPrefix::parse("192.168.4.0/22");
  EXPECT_TRUE(p.contains(*IpAddress::parse("192.168.4.0")));
  EXPECT_TRUE(p.contains(*IpAddress::parse("192.168.7.255")));
  EXPECT_FALSE(p.contains(*IpAddress::parse("192.168.8.0")));
  EXPECT_FALSE(p.contains(*IpAddress::parse("192.168.3.255")));
  EXPECT_FALSE(p.contains(*IpAddress::parse("::")));  // other family
  auto all4 = *IpPrefix::parse("0.0.0.0/0");
  EXPECT_TRUE(all4.contains(*IpAddress::parse("8.8.8.8")));
  EXPECT_FALSE(all4.contains(*IpAddress::parse("::1")));
  auto host = *IpPrefix::parse("10.0.0.1/32");
  EXPECT_TRUE(host.contains(*IpAddress::parse("10.0.0.1")));
  EXPECT_FALSE(host.contains(*IpAddress::parse("10.0.0.0")));
  auto v6 = *IpPrefix::parse("2001:db8:abcd::/45");
  EXPECT_TRUE(v6.contains(*IpAddress::parse("2001:db8:abcf:ffff::1")));
  EXPECT_FALSE(v6.contains(*IpAddress::parse("2001:db8:abd0::1")));
  EXPECT_TRUE(IpPrefix::parse("::/0")->contains(*IpAddress::parse("ff02::1")));
}

// Every prefix length against the definition: an address is inside exactly when it differs
// from the prefix's address in no bit before the length (each single-bit difference tried).
TEST(IpPrefixTest, ContainsMatchesBitwiseDefinition) {
  for (const char* text : {"203.0.113.77", "2001:db8:1234:5678:9abc:def0:1357:9bdf"}) {
    const IpAddress base = *IpAddress::parse(text);
    const size_t bits = base.bytes().size() * 8;
    for (size_t length = 0; length <= bits; ++length) {
      const IpPrefix prefix{base, static_cast<uint8_t>(length)};
      EXPECT_TRUE(prefix.contains(base)) << text << "/" << length;
      for (size_t flip = 0; flip < bits; ++flip) {
        auto octets = base.bytes();
        std::array<uint8_t, 16> raw{};
        for (size_t i = 0; i < octets.size(); ++i) raw[i] = std::to_integer<uint8_t>(octets[i]);
        raw[flip / 8] ^= static_cast<uint8_t>(0x80 >> (flip % 8));
        const IpAddress other = base.is_v4()
                                    ? IpAddress(Ipv4Address(raw[0], raw[1], raw[2], raw[3]))
                                    : IpAddress(Ipv6Address(raw));
        EXPECT_EQ(prefix.contains(other), flip >= length)
            << text << "/" << length << " bit " << flip;
      }
    }
  }
}

TEST(IpPrefixTest, NetworkClearsHostBits) {
  EXPECT_EQ(IpPrefix::parse("10.1.2.3/0")->network().to_string(), "0.0.0.0/0");
  EXPECT_EQ(IpPrefix::parse("10.1.2.3/32")->network().to_string(), "10.1.2.3/32");
  EXPECT_EQ(IpPrefix::parse("10.1.2.255/25")->network().to_string(), "10.1.2.128/25");
  EXPECT_EQ(IpPrefix::parse("fd00::ffff/127")->network().to_string(), "fd00::fffe/127");
  EXPECT_EQ(IpPrefix::parse("fd00::ffff/0")->network().to_string(), "::/0");
  EXPECT_EQ(IpPrefix::parse("2001:db8:ffff::1/33")->network().to_string(), "2001:db8:8000::/33");
}

TEST(SocketAddressTest, Format) {
  EXPECT_EQ((SocketAddress{*IpAddress::parse("10.0.0.1"), 7}).to_string(), "10.0.0.1:7");
  EXPECT_EQ((SocketAddress{*IpAddress::parse("fd00::1"), 443}).to_string(), "[fd00::1]:443");
}

}  // namespace
}  // namespace weir
