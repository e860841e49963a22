#include "ipv6/ndp_wire.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stack/checksum.h"
#include "tests/testing/testing.h"

namespace weir::ipv6 {
namespace {

using ::testing::ElementsAre;
using weir::testing::bytes_of;

Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

const MacAddress kMac({0x02, 0, 0, 0, 0, 0x2a});
const Ipv6Address kRouter = addr("fe80::1");
const Ipv6Address kGlobal = addr("2001:db8::5");

TEST(NdpAddressTest, WellKnownGroups) {
  EXPECT_EQ(all_nodes_group(), addr("ff02::1"));
  EXPECT_EQ(all_routers_group(), addr("ff02::2"));
  EXPECT_EQ(all_mldv2_routers_group(), addr("ff02::16"));
  EXPECT_EQ(solicited_node_group(addr("2001:db8::1:2345:6789")), addr("ff02::1:ff45:6789"));
  EXPECT_TRUE(is_solicited_node_group(addr("ff02::1:ff00:1")));
  EXPECT_FALSE(is_solicited_node_group(addr("ff02::1")));
  EXPECT_FALSE(is_solicited_node_group(addr("ff02::2:ff00:1")));
}

TEST(NdpOptionsTest, WalksEveryOption) {
  auto bytes = bytes_of({1,  1, 2, 0, 0, 0, 0, 1,                            //
                         99, 2, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0,  //
                         5,  1, 0, 0, 0, 0, 5, 0xdc});
  ASSERT_EQ(check_options(bytes), OptionsCheck::kOk);
  auto options = NdpOptions::parse(bytes);
  ASSERT_TRUE(options);
  std::vector<uint8_t> types;
  std::vector<size_t> sizes;
  for (const NdpOption& o : *options) {
    types.push_back(o.type);
    sizes.push_back(o.bytes.size());
    EXPECT_EQ(o.data.size(), o.bytes.size() - 2);
  }
  EXPECT_THAT(types, ElementsAre(1, 99, 5));
  EXPECT_THAT(sizes, ElementsAre(8, 16, 8));
  EXPECT_EQ(options->count(99), 1u);
  EXPECT_FALSE(options->find(3));
  auto mtu = options->find(kOptMtu);
  ASSERT_TRUE(mtu);
  EXPECT_EQ(parse_mtu_option(*mtu).value(), 1500u);
  EXPECT_EQ(parse_link_layer_address(*options->find(1)).value(), MacAddress({2, 0, 0, 0, 0, 1}));
}

TEST(NdpOptionsTest, EmptyIsValid) {
  EXPECT_EQ(check_options({}), OptionsCheck::kOk);
  auto o = NdpOptions::parse({});
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->empty());
  EXPECT_EQ(o->begin(), o->end());
}

TEST(NdpOptionsTest, ZeroLengthInvalidatesAll) {
  // RFC 4861 4.6: "Nodes MUST silently discard an ND packet that contains an option with
  // length zero", even after good options.
  auto bytes = bytes_of({1, 1, 2, 0, 0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(check_options(bytes), OptionsCheck::kZeroLength);
  EXPECT_FALSE(NdpOptions::parse(bytes));
}

TEST(NdpOptionsTest, OverrunAndStrayBytesAreTruncated) {
  EXPECT_EQ(check_options(bytes_of({1, 2, 0, 0, 0, 0, 0, 0})), OptionsCheck::kTruncated);
  EXPECT_EQ(check_options(bytes_of({1})), OptionsCheck::kTruncated);
  EXPECT_EQ(check_options(bytes_of({1, 1, 2, 0, 0, 0, 0, 1, 7})), OptionsCheck::kTruncated);
  EXPECT_EQ(check_options(bytes_of({1, 255})), OptionsCheck::kTruncated);
}

TEST(NdpOptionsTest, TypedOptionsCheckTheirSize) {
  auto lla16 = bytes_of({1, 2, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0});
  auto o = NdpOptions::parse(lla16).value();
  EXPECT_FALSE(parse_link_layer_address(*o.begin()));
  EXPECT_FALSE(parse_mtu_option(*o.begin()));  // wrong type
  auto mtu16 = bytes_of({5, 2, 0, 0, 0, 0, 5, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_FALSE(parse_mtu_option(*NdpOptions::parse(mtu16)->begin()));
  auto prefix8 = bytes_of({3, 1, 64, 0xc0, 0, 0, 0, 1});
  EXPECT_FALSE(PrefixInfoView::parse(*NdpOptions::parse(prefix8)->begin()));
}

TEST(NdpOptionsTest, Rdnss) {
  RouterAdvertFields f;
  f.rdnss = {addr("2001:db8::53"), addr("2001:db8::54")};
  f.rdnss_lifetime = 600;
  auto msg = build_ndp(f);
  auto ra = RouterAdvertView::parse(msg);
  ASSERT_TRUE(ra);
  auto opt = ra->options().find(kOptRdnss);
  ASSERT_TRUE(opt);
  EXPECT_EQ(opt->bytes.size(), 40u);
  auto r = RdnssView::parse(*opt);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lifetime(), 600u);
  ASSERT_EQ(r->server_count(), 2u);
  EXPECT_EQ(r->server(0), addr("2001:db8::53"));
  EXPECT_EQ(r->server(1), addr("2001:db8::54"));

  // Length 1 (no address) and even lengths are invalid (RFC 8106 5.1).
  auto len1 = bytes_of({25, 1, 0, 0, 0, 0, 0, 60});
  EXPECT_FALSE(RdnssView::parse(*NdpOptions::parse(len1)->begin()));
  std::vector<std::byte> len4(32, std::byte{0});
  len4[0] = std::byte{25};
  len4[1] = std::byte{4};
  EXPECT_FALSE(RdnssView::parse(*NdpOptions::parse(len4)->begin()));
}

TEST(NdpOptionsTest, RouteInformation) {
  // 2001:db8::/48, high preference, lifetime 300, length 2.
  auto bytes = bytes_of({24, 2, 48, 0x08, 0, 0, 1, 44, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0xff, 0xff});
  auto r = parse_route_information(*NdpOptions::parse(bytes)->begin());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prefix, addr("2001:db8::"));  // bits past /48 cleared
  EXPECT_EQ(r->prefix_length, 48);
  EXPECT_EQ(r->preference, 1);
  EXPECT_EQ(r->lifetime, 300u);
  // /96 needs length 3.
  bytes[2] = std::byte{96};
  EXPECT_FALSE(parse_route_information(*NdpOptions::parse(bytes)->begin()));
  // ::/0 fits in length 1.
  auto def = bytes_of({24, 1, 0, 0x18, 0, 0, 0, 10});
  auto d = parse_route_information(*NdpOptions::parse(def)->begin());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->preference, -1);
  EXPECT_EQ(d->prefix, Ipv6Address());
}

TEST(NdpOptionsTest, Preference) {
  EXPECT_EQ(decode_preference(0), 0);
  EXPECT_EQ(decode_preference(1), 1);
  EXPECT_EQ(decode_preference(2), 0);  // reserved: medium
  EXPECT_EQ(decode_preference(3), -1);
}

TEST(NdpMessageTest, NeighborSolicitationRoundTrip) {
  NeighborSolicitationFields f{kGlobal, kMac, std::array<uint8_t, 6>{1, 2, 3, 4, 5, 6}};
  auto msg = build_ndp(f);
  ASSERT_EQ(msg.size(), 40u);
  EXPECT_EQ(load_u8(msg, 0), kNdpNeighborSolicitation);
  EXPECT_EQ(load_be16(msg, 2), 0);  // checksum left to the ICMPv6 layer
  auto ns = NeighborSolicitationView::parse(msg);
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->target(), kGlobal);
  auto lla = ns->options().find(kOptSourceLinkLayerAddress);
  ASSERT_TRUE(lla);
  EXPECT_EQ(parse_link_layer_address(*lla).value(), kMac);
  auto nonce = ns->options().find(kOptNonce);
  ASSERT_TRUE(nonce);
  EXPECT_EQ(parse_nonce(*nonce)->size(), 6u);
  EXPECT_EQ(load_u8(*parse_nonce(*nonce), 5), 6);
  // A DAD probe: no options.
  EXPECT_EQ(build_ndp(NeighborSolicitationFields{kGlobal}).size(), kNsLength);
}

TEST(NdpMessageTest, NeighborAdvertRoundTrip) {
  NeighborAdvertFields f{kGlobal, true, true, false, kMac};
  auto msg = build_ndp(f);
  auto na = NeighborAdvertView::parse(msg);
  ASSERT_TRUE(na);
  EXPECT_TRUE(na->router());
  EXPECT_TRUE(na->solicited());
  EXPECT_FALSE(na->override_flag());
  EXPECT_EQ(na->target(), kGlobal);
  EXPECT_EQ(parse_link_layer_address(*na->options().find(kOptTargetLinkLayerAddress)).value(),
            kMac);
  EXPECT_FALSE(RouterAdvertView::parse(msg));  // a view checks the type
}

TEST(NdpMessageTest, RouterSolicitationRoundTrip) {
  auto msg = build_ndp(RouterSolicitationFields{kMac});
  auto rs = RouterSolicitationView::parse(msg);
  ASSERT_TRUE(rs);
  EXPECT_TRUE(rs->options().find(kOptSourceLinkLayerAddress));
  EXPECT_EQ(build_ndp(RouterSolicitationFields{}).size(), kRsLength);
}

TEST(NdpMessageTest, RouterAdvertRoundTrip) {
  RouterAdvertFields f;
  f.cur_hop_limit = 64;
  f.managed = true;
  f.router_lifetime = 1800;
  f.reachable_time = 30000;
  f.retrans_timer = 1000;
  f.source_lla = kMac;
  f.mtu = 1400;
  f.prefixes = {PrefixInfo{addr("2001:db8:1::"), 64, true, true, 86400, 14400},
                PrefixInfo{addr("2001:db8:2::"), 48, false, true, kInfiniteLifetime, 0}};
  f.rdnss = {addr("2001:db8::53")};
  f.rdnss_lifetime = 1200;
  auto msg = build_ndp(f);
  EXPECT_EQ(msg.size(), f.length());
  auto view = RouterAdvertView::parse(msg);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->cur_hop_limit(), 64);
  EXPECT_TRUE(view->managed());
  EXPECT_FALSE(view->other_config());
  EXPECT_EQ(view->router_lifetime(), 1800);
  EXPECT_EQ(view->reachable_time(), 30000u);
  EXPECT_EQ(view->retrans_timer(), 1000u);
  auto ra = parse_router_advert(*view, kRouter);
  EXPECT_EQ(ra.source, kRouter);
  EXPECT_EQ(ra.source_lla, kMac);
  EXPECT_EQ(ra.mtu, 1400u);
  EXPECT_THAT(ra.prefixes, ElementsAre(f.prefixes[0], f.prefixes[1]));
  EXPECT_THAT(ra.rdnss, ElementsAre(RdnssServer{addr("2001:db8::53"), 1200}));
  EXPECT_EQ(ra.bad_prefix_options + ra.bad_mtu_options + ra.bad_rdnss_options, 0u);
}

TEST(NdpMessageTest, RouterAdvertSkipsBadOptionsButKeepsTheRest) {
  RouterAdvertFields f;
  f.router_lifetime = 600;
  f.prefixes = {PrefixInfo{addr("2001:db8:1::"), 64, true, true, 3600, 1800}};
  auto msg = build_ndp(f);
  // A 16-byte MTU option and an RDNSS of length 1 after the prefix.
  auto extra = bytes_of({5,  2, 0, 0, 0, 0, 5, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0,  //
                         25, 1, 0, 0, 0, 0, 0, 60});
  msg.insert(msg.end(), extra.begin(), extra.end());
  auto view = RouterAdvertView::parse(msg);
  ASSERT_TRUE(view);
  auto ra = parse_router_advert(*view, kRouter);
  EXPECT_EQ(ra.prefixes.size(), 1u);
  EXPECT_FALSE(ra.mtu);
  EXPECT_EQ(ra.bad_mtu_options, 1u);
  EXPECT_EQ(ra.bad_rdnss_options, 1u);
}

TEST(NdpMessageTest, RedirectRoundTrip) {
  std::vector<std::byte> quoted(1500, std::byte{0x77});
  RedirectFields f{addr("fe80::9"), addr("2001:db8:9::1"), kMac, quoted};
  auto msg = build_ndp(f);
  // The whole IPv6 packet must fit in the minimum MTU (RFC 4861 4.6.3).
  EXPECT_LE(msg.size() + 40, 1280u);
  EXPECT_EQ(msg.size() % 8, 0u);
  auto r = RedirectView::parse(msg);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->target(), addr("fe80::9"));
  EXPECT_EQ(r->destination(), addr("2001:db8:9::1"));
  auto rh = r->options().find(kOptRedirectedHeader);
  ASSERT_TRUE(rh);
  auto data = parse_redirected_header(*rh);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->size(), msg.size() - kRedirectLength - 8 - 8);
  EXPECT_EQ(load_u8(*data, 0), 0x77);
}

TEST(NdpCheckTest, MessageRules) {
  auto ns = build_ndp(NeighborSolicitationFields{kGlobal, kMac});
  EXPECT_EQ(check_ndp_message(ns), NdpCheck::kOk);
  EXPECT_EQ(check_ndp_message({}), NdpCheck::kTruncated);
  EXPECT_EQ(check_ndp_message(ByteView(ns).first(23)), NdpCheck::kTruncated);
  auto bad = ns;
  bad[1] = std::byte{1};
  EXPECT_EQ(check_ndp_message(bad), NdpCheck::kBadCode);
  bad = ns;
  bad[0] = std::byte{128};
  EXPECT_EQ(check_ndp_message(bad), NdpCheck::kNotNdp);
  bad = ns;
  bad[kNsLength + 1] = std::byte{0};
  EXPECT_EQ(check_ndp_message(bad), NdpCheck::kBadOptionLength);
  EXPECT_FALSE(NeighborSolicitationView::parse(bad));
  bad = ns;
  bad[kNsLength + 1] = std::byte{2};
  EXPECT_EQ(check_ndp_message(bad), NdpCheck::kOptionTruncated);
  bad = ns;
  bad.push_back(std::byte{1});
  EXPECT_EQ(check_ndp_message(bad), NdpCheck::kOptionTruncated);
  auto mcast = build_ndp(NeighborSolicitationFields{addr("ff02::1")});
  EXPECT_EQ(check_ndp_message(mcast), NdpCheck::kMulticastTarget);
  auto na_mcast = build_ndp(NeighborAdvertFields{addr("ff02::1")});
  EXPECT_EQ(check_ndp_message(na_mcast), NdpCheck::kMulticastTarget);

  // A 16-byte source link-layer option does not fit Ethernet: Linux drops such an NS.
  auto lla16 = build_ndp(NeighborSolicitationFields{kGlobal});
  auto opt = bytes_of({1, 2, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0});
  lla16.insert(lla16.end(), opt.begin(), opt.end());
  EXPECT_EQ(check_ndp_message(lla16), NdpCheck::kBadLinkLayerOption);
  // The same option in an NA is not the NA's link-layer option: ignored.
  auto na = build_ndp(NeighborAdvertFields{kGlobal});
  na.insert(na.end(), opt.begin(), opt.end());
  EXPECT_EQ(check_ndp_message(na), NdpCheck::kOk);
}

TEST(NdpCheckTest, RedirectRules) {
  EXPECT_EQ(check_ndp_message(build_ndp(RedirectFields{addr("fe80::9"), addr("2001:db8::1")})),
            NdpCheck::kOk);
  // The target may equal the destination (the destination is on-link).
  EXPECT_EQ(check_ndp_message(build_ndp(RedirectFields{addr("2001:db8::1"), addr("2001:db8::1")})),
            NdpCheck::kOk);
  EXPECT_EQ(check_ndp_message(build_ndp(RedirectFields{addr("2001:db8::2"), addr("2001:db8::1")})),
            NdpCheck::kBadRedirectTarget);
  EXPECT_EQ(check_ndp_message(build_ndp(RedirectFields{addr("fe80::9"), addr("ff02::1")})),
            NdpCheck::kMulticastDestination);
}

TEST(NdpCheckTest, IpRules) {
  const NdpIpFields from_router{kRouter, all_nodes_group(), 255};
  auto ra = build_ndp(RouterAdvertFields{});
  EXPECT_EQ(check_ndp(ra, from_router), NdpCheck::kOk);
  EXPECT_EQ(check_ndp(ra, {kRouter, all_nodes_group(), 254}), NdpCheck::kBadHopLimit);
  EXPECT_EQ(check_ndp(ra, {kGlobal, all_nodes_group(), 255}), NdpCheck::kSourceNotLinkLocal);
  auto bad_code = ra;
  bad_code[1] = std::byte{3};
  EXPECT_EQ(check_ndp(bad_code, {kRouter, all_nodes_group(), 64}), NdpCheck::kBadHopLimit);
  EXPECT_EQ(check_ndp(bad_code, from_router), NdpCheck::kBadCode);

  auto rs_lla = build_ndp(RouterSolicitationFields{kMac});
  EXPECT_EQ(check_ndp(rs_lla, {kRouter, all_routers_group(), 255}), NdpCheck::kOk);
  EXPECT_EQ(check_ndp(rs_lla, {Ipv6Address(), all_routers_group(), 255}),
            NdpCheck::kUnspecifiedWithLla);

  auto dad = build_ndp(NeighborSolicitationFields{kGlobal});
  EXPECT_EQ(check_ndp(dad, {Ipv6Address(), solicited_node_group(kGlobal), 255}), NdpCheck::kOk);
  EXPECT_EQ(check_ndp(dad, {Ipv6Address(), kGlobal, 255}), NdpCheck::kDadNotSolicitedNode);
  auto dad_lla = build_ndp(NeighborSolicitationFields{kGlobal, kMac});
  EXPECT_EQ(check_ndp(dad_lla, {Ipv6Address(), solicited_node_group(kGlobal), 255}),
            NdpCheck::kUnspecifiedWithLla);

  auto na = build_ndp(NeighborAdvertFields{kGlobal, false, true, true});
  EXPECT_EQ(check_ndp(na, {kRouter, kGlobal, 255}), NdpCheck::kOk);
  EXPECT_EQ(check_ndp(na, {kRouter, all_nodes_group(), 255}), NdpCheck::kSolicitedMulticast);
  auto unsolicited = build_ndp(NeighborAdvertFields{kGlobal, false, false, true});
  EXPECT_EQ(check_ndp(unsolicited, {kRouter, all_nodes_group(), 255}), NdpCheck::kOk);

  auto redirect = build_ndp(RedirectFields{addr("fe80::9"), addr("2001:db8::1")});
  EXPECT_EQ(check_ndp(redirect, {kGlobal, kGlobal, 255}), NdpCheck::kSourceNotLinkLocal);
  EXPECT_EQ(check_ndp(redirect, {kRouter, kGlobal, 255}), NdpCheck::kOk);
  EXPECT_EQ(ndp_check_name(NdpCheck::kDadNotSolicitedNode), "dad_not_to_solicited_node");
}

TEST(NdpChecksumTest, VerifiesOverPseudoHeader) {
  auto msg = build_ndp(NeighborAdvertFields{kGlobal, false, true, true, kMac});
  fill_icmpv6_checksum(msg, kGlobal, kRouter);
  EXPECT_NE(load_be16(msg, 2), 0);
  ChecksumAccumulator acc;
  acc.add_u16(pseudo_header_sum(IpAddress(kGlobal), IpAddress(kRouter), 58,
                                static_cast<uint32_t>(msg.size())));
  acc.add(msg);
  EXPECT_EQ(acc.fold(), 0xffff);
}

// The pseudo-header written out by hand (RFC 8200 8.1: source, destination, 32-bit length,
// zeros and next header) rather than through pseudo_header_sum.
TEST(NdpChecksumTest, MatchesAHandWrittenPseudoHeader) {
  NeighborSolicitationFields f{addr("fe80::2"), MacAddress({2, 0, 0, 0, 0, 1})};
  auto msg = build_ndp(f);
  fill_icmpv6_checksum(msg, addr("fe80::1"), solicited_node_group(addr("fe80::2")));
  ChecksumAccumulator acc;
  acc.add(addr("fe80::1").bytes());
  acc.add(addr("ff02::1:ff00:2").bytes());
  acc.add_u32(static_cast<uint32_t>(msg.size()));
  acc.add_u32(58);
  acc.add(msg);
  EXPECT_EQ(acc.fold(), 0xffff);
}

}  // namespace
}  // namespace weir::ipv6
