#include "sandbox/ifreq.h"

#include <gtest/gtest.h>
#include <linux/sockios.h>

#include <string>
#include <vector>

#include "tests/sandbox/net_state_fixture.h"
#include "tests/sandbox/netlink_decode.h"

namespace weir::sandbox {
namespace {

using testing::from_hex;
using testing::reference_state;
using testing::to_hex;

// A struct ifreq as a probe program passed it: the name, then a union filled with 0xaa so the
// bytes the kernel leaves alone show.
std::vector<std::byte> ifreq(std::string_view name, std::string_view union_hex = "") {
  std::vector<std::byte> b(kIfreqRecordSize, std::byte{0xaa});
  std::fill(b.begin(), b.begin() + 16, std::byte{0});
  for (size_t i = 0; i < name.size() && i < 16; ++i) b[i] = std::byte(name[i]);
  auto u = from_hex(union_hex);
  std::copy(u.begin(), u.end(), b.begin() + 16);
  return b;
}

std::string answer(unsigned long request, std::string_view name, std::string_view union_hex = "") {
  auto r = answer_ifreq(request, ifreq(name, union_hex), reference_state());
  if (!r) return "errno " + std::to_string(to_errno(r.error()));
  return to_hex(*r);
}

// What Linux 6.18 answered in the fixture's namespace for the same ifreq.
TEST(Ifreq, AnswersAreLinuxs) {
  struct Case {
    unsigned long request;
    const char* name;
    const char* linux_answer;
  };
  const std::string aa16(32, 'a');
  const Case cases[] = {
      {SIOCGIFFLAGS, "lo",
       "6c6f00000000000000000000000000004900aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFADDR, "lo",
       "6c6f0000000000000000000000000000020000007f0000010000000000000000aaaaaaaaaaaaaaaa"},
      {SIOCGIFDSTADDR, "lo",
       "6c6f0000000000000000000000000000020000007f0000010000000000000000aaaaaaaaaaaaaaaa"},
      {SIOCGIFBRDADDR, "lo",
       "6c6f000000000000000000000000000002000000000000000000000000000000aaaaaaaaaaaaaaaa"},
      {SIOCGIFNETMASK, "lo",
       "6c6f000000000000000000000000000002000000ff0000000000000000000000aaaaaaaaaaaaaaaa"},
      {SIOCGIFMTU, "lo",
       "6c6f000000000000000000000000000000000100aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFHWADDR, "lo",
       "6c6f00000000000000000000000000000403000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFINDEX, "lo",
       "6c6f000000000000000000000000000001000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFTXQLEN, "lo",
       "6c6f0000000000000000000000000000e8030000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFMETRIC, "lo",
       "6c6f000000000000000000000000000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFMAP, "lo",
       "6c6f0000000000000000000000000000000000000000000000000000000000000000000000aaaaaa"},
      {SIOCGIFFLAGS, "eth0",
       "657468300000000000000000000000004310aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFADDR, "eth0",
       "65746830000000000000000000000000020000000a0000020000000000000000aaaaaaaaaaaaaaaa"},
      {SIOCGIFDSTADDR, "eth0",
       "65746830000000000000000000000000020000000a0000020000000000000000aaaaaaaaaaaaaaaa"},
      {SIOCGIFBRDADDR, "eth0",
       "65746830000000000000000000000000020000000a0000ff0000000000000000aaaaaaaaaaaaaaaa"},
      {SIOCGIFNETMASK, "eth0",
       "6574683000000000000000000000000002000000ffffff000000000000000000aaaaaaaaaaaaaaaa"},
      {SIOCGIFMTU, "eth0",
       "65746830000000000000000000000000dc050000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFHWADDR, "eth0",
       "657468300000000000000000000000000100020000000002aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFINDEX, "eth0",
       "6574683000000000000000000000000002000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFTXQLEN, "eth0",
       "65746830000000000000000000000000e8030000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFMTU, "eth0:1",
       "657468303a3100000000000000000000dc050000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFINDEX, "eth0:1",
       "657468303a310000000000000000000002000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
      {SIOCGIFADDR, "eth0:1", "errno 99"},
      {SIOCGIFNETMASK, "eth0:1", "errno 99"},
      {SIOCGIFFLAGS, "nope", "errno 19"},
      {SIOCGIFADDR, "nope", "errno 19"},
      {SIOCGIFHWADDR, "nope", "errno 19"},
      {0x8935 /* SIOCGIFPFLAGS */, "eth0", "errno 22"},
      {0x8925, "eth0", "errno 25"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(answer(c.request, c.name), c.linux_answer) << std::hex << c.request << " " << c.name;
  }
}

TEST(Ifreq, NameByIndex) {
  EXPECT_EQ(answer(SIOCGIFNAME, "", "01000000"),
            "6c6f000000000000000000000000000001000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  EXPECT_EQ(answer(SIOCGIFNAME, "", "02000000").substr(0, 10), "6574683000");
  EXPECT_EQ(answer(SIOCGIFNAME, "", "09000000"), "errno 19");
  EXPECT_EQ(answer(SIOCGIFNAME, "", "ffffffff"), "errno 19");
}

TEST(Ifreq, SettersArePermissionDenied) {
  for (unsigned long r : {SIOCSIFFLAGS, SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFBRDADDR, SIOCSIFDSTADDR,
                          SIOCSIFMTU, SIOCSIFHWADDR, SIOCSIFNAME, SIOCSIFTXQLEN, SIOCADDMULTI,
                          SIOCDELMULTI, SIOCDIFADDR, SIOCADDRT, SIOCDELRT}) {
    EXPECT_EQ(answer(r, "eth0"), "errno 1") << std::hex << r;
    EXPECT_EQ(answer(r, "nope"), "errno 1") << std::hex << r;  // before the name is looked up
  }
}

TEST(Ifreq, AddressChoiceDownInterfacesAndEdgeCases) {
  auto s = reference_state();
  s.interfaces[1].addresses.insert(s.interfaces[1].addresses.begin() + 1,
                                   testing::prefix("192.0.2.9/31"));
  // Asked with an AF_INET address in ifr_addr, Linux picks that address.
  auto r = answer_ifreq(SIOCGIFNETMASK, ifreq("eth0", "02000000c0000209"), s);
  ASSERT_TRUE(r);
  EXPECT_EQ(to_hex(ByteView(*r).subspan(16, 8)), "02000000fffffffe");
  r = answer_ifreq(SIOCGIFBRDADDR, ifreq("eth0", "02000000c0000209"), s);
  ASSERT_TRUE(r);
  EXPECT_EQ(to_hex(ByteView(*r).subspan(16, 8)), "0200000000000000");   // none on a /31
  r = answer_ifreq(SIOCGIFADDR, ifreq("eth0", "0a000000c0000209"), s);  // not AF_INET: first
  ASSERT_TRUE(r);
  EXPECT_EQ(to_hex(ByteView(*r).subspan(16, 8)), "020000000a000002");
  // No IPv4 address at all.
  s.interfaces[1].addresses = {testing::prefix("fd00::2/64")};
  EXPECT_EQ(answer_ifreq(SIOCGIFADDR, ifreq("eth0"), s).error(), Error::kAddressNotAvailable);
  // Down, no carrier.
  s.interfaces[1].up = false;
  r = answer_ifreq(SIOCGIFFLAGS, ifreq("eth0"), s);
  ASSERT_TRUE(r);
  EXPECT_EQ(to_hex(ByteView(*r).subspan(16, 2)), "0210");  // BROADCAST | MULTICAST
  // A name filling all 16 bytes is cut at 15, as the kernel does.
  s = reference_state();
  s.interfaces[1].name = "abcdefghijklmno";
  r = answer_ifreq(SIOCGIFINDEX, ifreq("abcdefghijklmnop"), s);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::to_integer<int>((*r)[15]), 0);
  EXPECT_EQ(std::to_integer<int>((*r)[16]), 2);
  // A short buffer, ethtool.
  auto shortb = ifreq("eth0");
  shortb.resize(39);
  EXPECT_EQ(answer_ifreq(SIOCGIFFLAGS, shortb, s).error(), Error::kBadAddress);
  EXPECT_EQ(answer(0x8946 /* SIOCETHTOOL */, "eth0"), "errno 95");
  EXPECT_EQ(answer(0x8946, "nope"), "errno 19");
}

TEST(Ifreq, IfconfIsLinuxs) {
  EXPECT_EQ(to_hex(ifconf_records(reference_state())),
            "6c6f0000000000000000000000000000020000007f000001000000000000000000000000000000"
            "0065746830000000000000000000000000020000000a000002000000000000000000000000000000"
            "00");
  EXPECT_TRUE(ifconf_records(NetState{}).empty());
}

}  // namespace
}  // namespace weir::sandbox
