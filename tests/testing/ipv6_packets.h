// Frame builders and GoogleTest matchers for IPv6, its extension headers, ICMPv6 and the
// NS/NA messages, shared by the IPv6, transport and integration tests.
//
// Like ipv4_packets.h, the builders and decoders here are written independently of ipv6/ on
// purpose, and depend on stack/ only.
//
//   peer->inject(ipv6_frame(us_mac, peer_mac, {.source = kPeer, .destination = kUs,
//                                              .next_header = 58},
//                           icmpv6_echo(kTestIcmpv6EchoRequest, 7, 1, data, kPeer, kUs)));
//   EXPECT_THAT(peer->read(), Optional(IsIpv6Frame(Src(kUs), Dst(kPeer),
//                                                  Payload(IsIcmpv6(IcmpType(129))))));
#pragma once

#include <gmock/gmock.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <vector>

#include "stack/address.h"
#include "stack/bytes.h"
#include "tests/testing/ipv4_packets.h"

namespace weir::testing {

inline constexpr uint16_t kTestEtherTypeIpv6 = 0x86dd;
inline constexpr uint8_t kTestNextHopByHop = 0;
inline constexpr uint8_t kTestNextTcp = 6;
inline constexpr uint8_t kTestNextUdp = 17;
inline constexpr uint8_t kTestNextRouting = 43;
inline constexpr uint8_t kTestNextFragment = 44;
inline constexpr uint8_t kTestNextIcmpv6 = 58;
inline constexpr uint8_t kTestNextNone = 59;
inline constexpr uint8_t kTestNextDestination = 60;

inline constexpr uint8_t kTestIcmpv6DestUnreachable = 1;
inline constexpr uint8_t kTestIcmpv6PacketTooBig = 2;
inline constexpr uint8_t kTestIcmpv6TimeExceeded = 3;
inline constexpr uint8_t kTestIcmpv6ParameterProblem = 4;
inline constexpr uint8_t kTestIcmpv6EchoRequest = 128;
inline constexpr uint8_t kTestIcmpv6EchoReply = 129;
inline constexpr uint8_t kTestNdpNs = 135;
inline constexpr uint8_t kTestNdpNa = 136;

// ---- Builders -------------------------------------------------------------------------------

struct Ipv6Spec {
  Ipv6Address source;
  Ipv6Address destination;
  uint8_t next_header = 59;
  uint8_t hop_limit = 64;
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0;
  // Overrides for building malformed packets.
  std::optional<uint8_t> version;
  std::optional<uint16_t> payload_length;
};

// A complete IPv6 packet: the 40-byte header and payload (extension headers included).
std::vector<std::byte> ipv6_packet(const Ipv6Spec& spec, ByteView payload);
std::vector<std::byte> ipv6_frame(MacAddress destination, MacAddress source, const Ipv6Spec& spec,
                                  ByteView payload);

// A hop-by-hop or destination options header: next header, length, then `options` padded
// with PadN (or Pad1) to a multiple of 8. Append the rest of the packet after it.
std::vector<std::byte> options_header(uint8_t next_header, ByteView options);
// A routing header of the given type and segments left, with `addresses` 16-byte entries.
std::vector<std::byte> routing_header(uint8_t next_header, uint8_t type, uint8_t segments_left,
                                      size_t addresses = 1);
std::vector<std::byte> fragment_header(uint8_t next_header, uint32_t offset, bool more,
                                       uint32_t id);
// Concatenation helper.
std::vector<std::byte> concat(std::initializer_list<ByteView> parts);

// ICMPv6 with the checksum over the pseudo-header of source and destination.
std::vector<std::byte> icmpv6_message(uint8_t type, uint8_t code, uint32_t rest_of_header,
                                      ByteView body, const Ipv6Address& source,
                                      const Ipv6Address& destination);
std::vector<std::byte> icmpv6_echo(uint8_t type, uint16_t identifier, uint16_t sequence,
                                   ByteView data, const Ipv6Address& source,
                                   const Ipv6Address& destination);
// NS and NA (RFC 4861 4.3/4.4) with an optional link-layer address option.
std::vector<std::byte> ndp_ns(const Ipv6Address& target, std::optional<MacAddress> source_lla,
                              const Ipv6Address& source, const Ipv6Address& destination);
std::vector<std::byte> ndp_na(const Ipv6Address& target, bool router, bool solicited,
                              bool override_flag, std::optional<MacAddress> target_lla,
                              const Ipv6Address& source, const Ipv6Address& destination);
// A UDP datagram with its IPv6 checksum (checksum override for malformed ones).
std::vector<std::byte> udp6_datagram(uint16_t source_port, uint16_t destination_port,
                                     ByteView payload, const Ipv6Address& source,
                                     const Ipv6Address& destination,
                                     std::optional<uint16_t> checksum = std::nullopt);

// ff02::1:ffXX:XXXX and 33:33:xx:xx:xx:xx, computed here independently of ipv6/.
Ipv6Address test_solicited_node(const Ipv6Address& address);
MacAddress test_multicast_mac(const Ipv6Address& group);

// ---- Decoded forms --------------------------------------------------------------------------

struct Ipv6Fragment {
  uint32_t offset = 0;
  bool more = false;
  uint32_t id = 0;
  uint8_t next_header = 0;
};

struct Ipv6Packet {
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0;
  uint16_t payload_length = 0;
  uint8_t next_header = 0;  // of the fixed header
  uint8_t hop_limit = 0;
  Ipv6Address source;
  Ipv6Address destination;
  std::vector<std::byte> raw_payload;  // everything after the fixed header
  // After skipping hop-by-hop, routing, destination options and a Fragment header:
  uint8_t protocol = 0;  // the upper-layer protocol (or a fragment's next header)
  std::optional<Ipv6Fragment> fragment;
  bool router_alert = false;       // a hop-by-hop Router Alert option
  std::vector<std::byte> payload;  // the upper-layer bytes (of this fragment, if one)
  // The upper layer's checksum over the pseudo-header (ICMPv6, UDP, TCP; not fragments).
  bool checksum_ok = false;
};

struct Icmpv6Message {
  uint8_t type = 0;
  uint8_t code = 0;
  uint32_t rest_of_header = 0;
  uint16_t identifier = 0;
  uint16_t sequence = 0;
  std::vector<std::byte> payload;  // the body after the 8-byte header
};

struct NdpMessage {
  uint8_t type = 0;
  uint8_t code = 0;
  bool router = false;
  bool solicited = false;
  bool override_flag = false;
  Ipv6Address target;
  std::optional<MacAddress> link_layer_address;  // source (NS) or target (NA) option
};

std::optional<Ipv6Packet> decode_ipv6(ByteView bytes);
std::optional<Icmpv6Message> decode_icmpv6(ByteView bytes);
std::optional<NdpMessage> decode_ndp(ByteView bytes);

void PrintTo(const Ipv6Packet& p, std::ostream* os);
void PrintTo(const Icmpv6Message& m, std::ostream* os);
void PrintTo(const NdpMessage& m, std::ostream* os);

// ---- Matchers -------------------------------------------------------------------------------

template <typename... Ms>
auto IsIpv6(Ms... ms) {
  return make_decode_matcher<Ipv6Packet>("an IPv6 packet", &decode_ipv6, ms...);
}
template <typename... Ms>
auto IsIcmpv6(Ms... ms) {
  return make_decode_matcher<Icmpv6Message>("an ICMPv6 message", &decode_icmpv6, ms...);
}
template <typename... Ms>
auto IsNdp(Ms... ms) {
  return make_decode_matcher<NdpMessage>("an NS/NA message", &decode_ndp, ms...);
}
// An Ethernet frame of EtherType 0x86dd carrying an IPv6 packet matching ms.
template <typename... Ms>
auto IsIpv6Frame(Ms... ms) {
  return IsEthernet(EtherType(kTestEtherTypeIpv6), Payload(IsIpv6(ms...)));
}

MATCHER_P(HopLimit, h, "hop limit " + ::testing::PrintToString(h)) {
  return arg.hop_limit == static_cast<uint8_t>(h);
}
MATCHER_P(TrafficClass, t, "traffic class " + ::testing::PrintToString(t)) {
  return arg.traffic_class == static_cast<uint8_t>(t);
}
MATCHER_P(NextHeader, n, "next header " + ::testing::PrintToString(n)) {
  return arg.next_header == static_cast<uint8_t>(n);
}
MATCHER(IsFragmentPiece, "is a fragment") { return arg.fragment.has_value(); }
MATCHER(NotFragment, "is not a fragment") { return !arg.fragment.has_value(); }
MATCHER(HasRouterAlert, "has a router alert option") { return arg.router_alert; }
// IcmpType, IcmpCode, IcmpId, IcmpSeq and IcmpRest (ipv4_packets.h) match Icmpv6Message and
// NdpMessage fields too.
MATCHER_P(Target, t, "target " + t.to_string()) { return arg.target == t; }
MATCHER_P(LinkLayerAddress, m, "link-layer address " + m.to_string()) {
  return arg.link_layer_address == std::optional<MacAddress>(m);
}
MATCHER(NoLinkLayerAddress, "no link-layer address option") {
  return !arg.link_layer_address.has_value();
}
MATCHER_P(SolicitedFlag, on, std::string(on ? "S set" : "S clear")) {
  return arg.solicited == static_cast<bool>(on);
}
MATCHER_P(OverrideFlag, on, std::string(on ? "O set" : "O clear")) {
  return arg.override_flag == static_cast<bool>(on);
}
MATCHER_P(RouterFlag, on, std::string(on ? "R set" : "R clear")) {
  return arg.router == static_cast<bool>(on);
}

}  // namespace weir::testing
