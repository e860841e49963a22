// Frame builders and GoogleTest matchers for Ethernet, ARP, IPv4 and ICMPv4, shared by the
// IPv4, UDP and TCP tests.
//
// The decoders here are written independently of ipv4/wire.h on purpose: a test that checked
// the stack's output with the stack's own parser would agree with any bug in it. They depend
// on stack/ only.
//
//   peer->inject(ipv4_frame(peer->endpoint_mac(), peer->mac(),
//                           {.source = kPeer, .destination = kUs, .protocol = 1},
//                           icmpv4_echo(kIcmpEchoRequest, 7, 1, data)));
//   EXPECT_THAT(peer->read(), Optional(IsIpv4Frame(Src(kUs), Dst(kPeer), Protocol(1),
//                                                  Payload(IsIcmpEchoReply(7, 1, data)))));
//
// Every Is* matcher accepts std::vector<std::byte>, ByteView or PacketBuffer, decodes it and
// matches the decoded struct against all the field matchers given (AllOf). Field matchers are
// polymorphic (MATCHER_P), so Payload(...) works at every level: the Ethernet payload, the IP
// payload (trimmed to the total length), the ICMP body.
#pragma once

#include <gmock/gmock.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/packet_buffer.h"

namespace weir::testing {

inline constexpr uint16_t kTestEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kTestEtherTypeArp = 0x0806;
inline constexpr uint8_t kTestIcmpEchoReply = 0;
inline constexpr uint8_t kTestIcmpDestUnreachable = 3;
inline constexpr uint8_t kTestIcmpEchoRequest = 8;
inline constexpr uint8_t kTestIcmpTimeExceeded = 11;
inline constexpr uint16_t kTestArpRequest = 1;
inline constexpr uint16_t kTestArpReply = 2;

// ---- Builders -------------------------------------------------------------------------------

std::vector<std::byte> ethernet_frame(MacAddress destination, MacAddress source, uint16_t ethertype,
                                      ByteView payload);

struct Ipv4Spec {
  Ipv4Address source;
  Ipv4Address destination;
  uint8_t protocol = 0;
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 0;
  bool dont_fragment = false;
  bool more_fragments = false;
  uint32_t fragment_offset = 0;    // bytes; must be a multiple of 8
  std::vector<std::byte> options;  // padded with End of List to a multiple of 4
  // Overrides for building malformed packets.
  std::optional<uint8_t> version;
  std::optional<uint8_t> ihl;  // in 32-bit words
  std::optional<uint16_t> total_length;
  std::optional<uint16_t> checksum;
  bool reserved_flag = false;
};

// A complete IPv4 packet: header (checksum filled unless overridden) and payload.
std::vector<std::byte> ipv4_packet(const Ipv4Spec& spec, ByteView payload);
// An Ethernet frame carrying ipv4_packet(spec, payload).
std::vector<std::byte> ipv4_frame(MacAddress destination, MacAddress source, const Ipv4Spec& spec,
                                  ByteView payload);

// An ICMPv4 message with its checksum.
std::vector<std::byte> icmpv4_message(uint8_t type, uint8_t code, uint32_t rest_of_header,
                                      ByteView body);
std::vector<std::byte> icmpv4_echo(uint8_t type, uint16_t identifier, uint16_t sequence,
                                   ByteView data);

struct ArpSpec {
  uint16_t opcode = kTestArpRequest;
  MacAddress sender_mac;
  Ipv4Address sender_ip;
  MacAddress target_mac;
  Ipv4Address target_ip;
};
std::vector<std::byte> arp_packet(const ArpSpec& spec);
// An ARP frame; requests go to broadcast, replies to spec.target_mac.
std::vector<std::byte> arp_frame(const ArpSpec& spec);

// ---- Decoded forms --------------------------------------------------------------------------

struct EthernetFrame {
  MacAddress destination;
  MacAddress source;
  uint16_t ethertype = 0;
  std::vector<std::byte> payload;  // may include link padding
};

struct Ipv4Packet {
  uint8_t header_length = 0;  // bytes
  uint8_t tos = 0;
  uint16_t total_length = 0;
  uint16_t id = 0;
  bool reserved_flag = false;
  bool dont_fragment = false;
  bool more_fragments = false;
  uint32_t fragment_offset = 0;  // bytes
  uint8_t ttl = 0;
  uint8_t protocol = 0;
  bool checksum_ok = false;
  Ipv4Address source;
  Ipv4Address destination;
  std::vector<std::byte> options;
  std::vector<std::byte> payload;  // trimmed to the total length
};

struct IcmpMessage {
  uint8_t type = 0;
  uint8_t code = 0;
  bool checksum_ok = false;
  uint32_t rest_of_header = 0;
  uint16_t identifier = 0;
  uint16_t sequence = 0;
  std::vector<std::byte> payload;  // the body after the 8-byte header
};

struct ArpMessage {
  uint16_t opcode = 0;
  MacAddress sender_mac;
  Ipv4Address sender_ip;
  MacAddress target_mac;
  Ipv4Address target_ip;
};

std::optional<EthernetFrame> decode_ethernet(ByteView bytes);
// nullopt unless version 4, IHL >= 5 and the total length fits the bytes.
std::optional<Ipv4Packet> decode_ipv4(ByteView bytes);
std::optional<IcmpMessage> decode_icmpv4(ByteView bytes);
// Ethernet/IPv4 ARP only.
std::optional<ArpMessage> decode_arp(ByteView bytes);

void PrintTo(const EthernetFrame& f, std::ostream* os);
void PrintTo(const Ipv4Packet& p, std::ostream* os);
void PrintTo(const IcmpMessage& m, std::ostream* os);
void PrintTo(const ArpMessage& m, std::ostream* os);

// Bytes of whatever a matcher was handed.
inline std::vector<std::byte> matcher_bytes(const std::vector<std::byte>& b) { return b; }
inline std::vector<std::byte> matcher_bytes(ByteView b) { return {b.begin(), b.end()}; }
inline std::vector<std::byte> matcher_bytes(const PacketBuffer& p) { return p.to_vector(); }

// ---- Matchers -------------------------------------------------------------------------------

template <typename Decoded>
class DecodeMatcher {
 public:
  using Decoder = std::optional<Decoded> (*)(ByteView);
  DecodeMatcher(const char* what, Decoder decoder, ::testing::Matcher<const Decoded&> inner)
      : what_(what), decoder_(decoder), inner_(std::move(inner)) {}

  template <typename T>
  bool MatchAndExplain(const T& arg, ::testing::MatchResultListener* listener) const {
    std::vector<std::byte> bytes = matcher_bytes(arg);
    std::optional<Decoded> decoded = decoder_(bytes);
    if (!decoded) {
      *listener << "which is not a well-formed " << what_ << " (" << bytes.size() << " bytes)";
      return false;
    }
    *listener << "which is " << ::testing::PrintToString(*decoded);
    ::testing::StringMatchResultListener inner_listener;
    bool ok = inner_.MatchAndExplain(*decoded, &inner_listener);
    if (!inner_listener.str().empty()) *listener << ", " << inner_listener.str();
    return ok;
  }
  void DescribeTo(std::ostream* os) const {
    *os << "is " << what_ << " that ";
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "is not " << what_ << " that ";
    inner_.DescribeTo(os);
  }

 private:
  const char* what_;
  Decoder decoder_;
  ::testing::Matcher<const Decoded&> inner_;
};

template <typename Decoded, typename... Ms>
auto make_decode_matcher(const char* what, std::optional<Decoded> (*decoder)(ByteView), Ms... ms) {
  ::testing::Matcher<const Decoded&> inner =
      ::testing::AllOf(::testing::A<const Decoded&>(), ms...);
  return ::testing::MakePolymorphicMatcher(DecodeMatcher<Decoded>(what, decoder, inner));
}

template <typename... Ms>
auto IsEthernet(Ms... ms) {
  return make_decode_matcher<EthernetFrame>("an Ethernet frame", &decode_ethernet, ms...);
}
template <typename... Ms>
auto IsIpv4(Ms... ms) {
  return make_decode_matcher<Ipv4Packet>("an IPv4 packet", &decode_ipv4, ms...);
}
template <typename... Ms>
auto IsIcmpv4(Ms... ms) {
  return make_decode_matcher<IcmpMessage>("an ICMPv4 message", &decode_icmpv4, ms...);
}
template <typename... Ms>
auto IsArp(Ms... ms) {
  return make_decode_matcher<ArpMessage>("an ARP packet", &decode_arp, ms...);
}

// Common fields (any decoded struct with the member).
MATCHER_P(Payload, m, "payload " + ::testing::DescribeMatcher<std::vector<std::byte>>(m)) {
  return ::testing::ExplainMatchResult(m, arg.payload, result_listener);
}
MATCHER_P(PayloadSize, n, "payload of " + ::testing::PrintToString(n) + " bytes") {
  *result_listener << "payload has " << arg.payload.size() << " bytes";
  return arg.payload.size() == static_cast<size_t>(n);
}
MATCHER(ValidChecksum, "checksum is valid") { return arg.checksum_ok; }

// Ethernet.
MATCHER_P(EthSrc, mac, "Ethernet source " + mac.to_string()) { return arg.source == mac; }
MATCHER_P(EthDst, mac, "Ethernet destination " + mac.to_string()) { return arg.destination == mac; }
MATCHER_P(EtherType, t, "EtherType " + ::testing::PrintToString(t)) {
  return arg.ethertype == static_cast<uint16_t>(t);
}

// IPv4.
MATCHER_P(Src, a, "source " + a.to_string()) { return arg.source == a; }
MATCHER_P(Dst, a, "destination " + a.to_string()) { return arg.destination == a; }
MATCHER_P(Protocol, p, "protocol " + ::testing::PrintToString(p)) {
  return arg.protocol == static_cast<uint8_t>(p);
}
MATCHER_P(Ttl, t, "TTL " + ::testing::PrintToString(t)) {
  return arg.ttl == static_cast<uint8_t>(t);
}
MATCHER_P(Tos, t, "TOS " + ::testing::PrintToString(t)) {
  return arg.tos == static_cast<uint8_t>(t);
}
MATCHER_P(Id, i, "ID " + ::testing::PrintToString(i)) { return arg.id == static_cast<uint16_t>(i); }
MATCHER_P(DontFragment, on, std::string(on ? "DF set" : "DF clear")) {
  return arg.dont_fragment == static_cast<bool>(on);
}
MATCHER_P(MoreFragments, on, std::string(on ? "MF set" : "MF clear")) {
  return arg.more_fragments == static_cast<bool>(on);
}
MATCHER_P(FragmentOffset, off, "fragment offset " + ::testing::PrintToString(off)) {
  return arg.fragment_offset == static_cast<uint32_t>(off);
}
MATCHER_P(TotalLength, n, "total length " + ::testing::PrintToString(n)) {
  return arg.total_length == static_cast<uint16_t>(n);
}

// ICMPv4.
MATCHER_P(IcmpType, t, "ICMP type " + ::testing::PrintToString(t)) {
  return arg.type == static_cast<uint8_t>(t);
}
MATCHER_P(IcmpCode, c, "ICMP code " + ::testing::PrintToString(c)) {
  return arg.code == static_cast<uint8_t>(c);
}
MATCHER_P(IcmpId, i, "ICMP identifier " + ::testing::PrintToString(i)) {
  return arg.identifier == static_cast<uint16_t>(i);
}
MATCHER_P(IcmpSeq, s, "ICMP sequence " + ::testing::PrintToString(s)) {
  return arg.sequence == static_cast<uint16_t>(s);
}
MATCHER_P(IcmpRest, r, "ICMP rest-of-header " + ::testing::PrintToString(r)) {
  return arg.rest_of_header == static_cast<uint32_t>(r);
}

// ARP.
MATCHER_P(ArpOp, op, "ARP opcode " + ::testing::PrintToString(op)) {
  return arg.opcode == static_cast<uint16_t>(op);
}
MATCHER_P(SenderMac, mac, "sender MAC " + mac.to_string()) { return arg.sender_mac == mac; }
MATCHER_P(SenderIp, a, "sender IP " + a.to_string()) { return arg.sender_ip == a; }
MATCHER_P(TargetMac, mac, "target MAC " + mac.to_string()) { return arg.target_mac == mac; }
MATCHER_P(TargetIp, a, "target IP " + a.to_string()) { return arg.target_ip == a; }

// Shorthands.
template <typename... Ms>
auto IsIpv4Frame(Ms... ms) {
  return IsEthernet(EtherType(kTestEtherTypeIpv4), Payload(IsIpv4(ms...)));
}
template <typename... Ms>
auto IsArpFrame(Ms... ms) {
  return IsEthernet(EtherType(kTestEtherTypeArp), Payload(IsArp(ms...)));
}
inline auto IsIcmpEchoReply(uint16_t identifier, uint16_t sequence, std::vector<std::byte> data) {
  return IsIcmpv4(IcmpType(kTestIcmpEchoReply), IcmpCode(0), IcmpId(identifier), IcmpSeq(sequence),
                  Payload(data), ValidChecksum());
}
inline auto IsIcmpEchoRequest(uint16_t identifier, uint16_t sequence, std::vector<std::byte> data) {
  return IsIcmpv4(IcmpType(kTestIcmpEchoRequest), IcmpCode(0), IcmpId(identifier),
                  IcmpSeq(sequence), Payload(data), ValidChecksum());
}
// Destination unreachable with `code`, quoting a packet matched by quoted (an IsIpv4 matcher
// applied to the quoted header and leading payload bytes).
template <typename Q>
auto IsIcmpDestUnreachable(uint8_t code, Q quoted) {
  return IsIcmpv4(IcmpType(kTestIcmpDestUnreachable), IcmpCode(code), IcmpRest(0u), ValidChecksum(),
                  Payload(quoted));
}
inline auto IsIcmpDestUnreachable(uint8_t code) {
  return IsIcmpv4(IcmpType(kTestIcmpDestUnreachable), IcmpCode(code), IcmpRest(0u),
                  ValidChecksum());
}
inline auto IsArpRequest(MacAddress sender_mac, Ipv4Address sender_ip, Ipv4Address target_ip) {
  return IsArp(ArpOp(kTestArpRequest), SenderMac(sender_mac), SenderIp(sender_ip),
               TargetIp(target_ip));
}
inline auto IsArpReply(MacAddress sender_mac, Ipv4Address sender_ip, MacAddress target_mac,
                       Ipv4Address target_ip) {
  return IsArp(ArpOp(kTestArpReply), SenderMac(sender_mac), SenderIp(sender_ip),
               TargetMac(target_mac), TargetIp(target_ip));
}

// A quoted datagram in an ICMP error is cut short, so decode_ipv4 would refuse it; this
// decoder accepts a total length beyond the bytes and returns what is there.
std::optional<Ipv4Packet> decode_quoted_ipv4(ByteView bytes);
template <typename... Ms>
auto IsQuotedIpv4(Ms... ms) {
  return make_decode_matcher<Ipv4Packet>("a quoted IPv4 packet", &decode_quoted_ipv4, ms...);
}

}  // namespace weir::testing
