// A stack with IPv6 installed on one Ethernet channel NIC whose other end the test holds.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

#include "ipv6/ipv6.h"
#include "link/channel.h"
#include "stack/clock.h"
#include "stack/nic.h"
#include "stack/protocol.h"
#include "stack/stack.h"
#include "tests/testing/ipv6_packets.h"
#include "tests/testing/testing.h"

namespace weir::ipv6::test {

using namespace weir::testing;  // NOLINT: matchers and builders
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::SizeIs;

inline Ipv6Address v6(const char* text) { return Ipv6Address::parse(text).value(); }
inline std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(std::byte(v));
  return out;
}

inline const Ipv6Address kOurIp = v6("fd00::1");
inline const Ipv6Address kPeerIp = v6("fd00::2");
inline const Ipv6Address kOtherIp = v6("fd00::3");
inline const Ipv6Address kOurLinkLocal = v6("fe80::1");
inline const Ipv6Address kPeerLinkLocal = v6("fe80::2");
inline const Ipv6Address kGatewayIp = v6("fe80::ff");
inline const Ipv6Address kRemoteIp = v6("2001:db8::9");  // off-link, via the gateway
inline const Ipv6Address kAllNodes = v6("ff02::1");

inline std::vector<std::byte> pattern(size_t n, uint8_t seed = 0) {
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = std::byte(static_cast<uint8_t>(seed + i * 7 + (i >> 8)));
  return out;
}

// A transport that records what it is given.
class FakeTransport final : public TransportProtocol {
 public:
  struct Received {
    NetworkPacketInfo info;
    std::vector<std::byte> bytes;
  };
  struct Control {
    ControlType type;
    uint32_t mtu;
    IpAddress local;
    IpAddress remote;
    std::vector<std::byte> transport_header;
  };

  explicit FakeTransport(uint8_t number) : number_(number) {}
  uint8_t number() const override { return number_; }
  TransportDelivery handle_packet(const NetworkPacketInfo& info, PacketBuffer& pkt) override {
    received.push_back({info, pkt.to_vector()});
    return result;
  }
  void handle_control(const TransportControl& c) override {
    controls.push_back({c.type,
                        c.mtu,
                        c.local_address,
                        c.remote_address,
                        {c.transport_header.begin(), c.transport_header.end()}});
  }

  TransportDelivery result = TransportDelivery::kDelivered;
  std::vector<Received> received;
  std::vector<Control> controls;

 private:
  uint8_t number_;
};

class Ipv6Test : public ::testing::Test {
 protected:
  virtual Ipv6Options options() const { return {}; }
  virtual link::ChannelOptions channel_options() const { return {}; }

  void SetUp() override {
    stack_ = std::make_unique<Stack>(clock_, repeatable_stack_options(42));
    auto pair = link::ChannelEndpoint::make_test_pair(channel_options());
    peer_ = std::move(pair.peer);
    nic_ = stack_->add_nic(std::move(pair.endpoint), "eth0").value();
    ip_ = &install(*stack_, options());
    ASSERT_TRUE(stack_->add_address(nic_, IpPrefix{IpAddress(kOurLinkLocal), 64}));
    ASSERT_TRUE(stack_->add_address(nic_, IpPrefix{IpAddress(kOurIp), 64}));
    stack_->add_route(Route{IpPrefix{IpAddress(Ipv6Address()), 0}, IpAddress(kGatewayIp), nic_});
    peer_->clear();
  }

  MacAddress our_mac() const { return peer_->endpoint_mac(); }
  MacAddress peer_mac() const { return peer_->mac(); }
  Nic& nic() { return *stack_->nic(nic_); }

  // Injects an IPv6 packet from the peer's MAC to ours (or to dst_mac).
  void inject_ipv6(const Ipv6Spec& spec, ByteView payload) {
    ASSERT_TRUE(peer_->inject(ipv6_frame(our_mac(), peer_mac(), spec, payload)));
  }
  void inject_ipv6_to(MacAddress dst_mac, const Ipv6Spec& spec, ByteView payload) {
    ASSERT_TRUE(peer_->inject(ipv6_frame(dst_mac, peer_mac(), spec, payload)));
  }
  void inject_raw_ipv6(ByteView packet) {
    ASSERT_TRUE(peer_->inject(ethernet_frame(our_mac(), peer_mac(), 0x86dd, packet)));
  }

  // An echo request from the peer to `to` with the given extension headers in front.
  std::vector<std::byte> echo_with(ByteView extension_headers, uint8_t first_next_header,
                                   const Ipv6Address& to = kOurIp, uint16_t seq = 1) {
    auto echo = icmpv6_echo(kTestIcmpv6EchoRequest, 7, seq, pattern(16), kPeerIp, to);
    return ipv6_packet({.source = kPeerIp, .destination = to, .next_header = first_next_header},
                       concat({extension_headers, echo}));
  }

  // Makes the stack learn ip -> mac (STALE) through a solicitation, and discards the answer.
  void learn(const Ipv6Address& ip, MacAddress mac) {
    ASSERT_TRUE(peer_->inject(ipv6_frame(our_mac(), mac,
                                         {.source = ip,
                                          .destination = test_solicited_node(kOurIp),
                                          .next_header = 58,
                                          .hop_limit = 255},
                                         ndp_ns(kOurIp, mac, ip, test_solicited_node(kOurIp)))));
    peer_->clear();
  }
  void learn_peer() {
    learn(kPeerIp, peer_mac());
    learn(kPeerLinkLocal, peer_mac());
  }

  // The next frame the stack sent that is not neighbor discovery (NS/NA/RS/RA/Redirect).
  std::optional<std::vector<std::byte>> read_ip() {
    while (auto frame = peer_->read()) {
      auto eth = decode_ethernet(*frame);
      auto ip = eth ? decode_ipv6(eth->payload) : std::nullopt;
      if (ip && ip->protocol == 58 && !ip->payload.empty()) {
        const uint8_t type = std::to_integer<uint8_t>(ip->payload[0]);
        if (type >= 133 && type <= 137) continue;
      }
      return frame;
    }
    return std::nullopt;
  }

  FakeTransport& add_fake_transport(uint8_t number) {
    return stack_->add_transport_protocol(std::make_unique<FakeTransport>(number));
  }

  void advance(Duration d) {
    clock_.advance(d);
    stack_->run_timers();
  }

  std::optional<NeighborCache::EntryInfo> entry(const Ipv6Address& a) {
    return ip_->ndp().cache().find(nic_, IpAddress(a));
  }

  const Ipv6Counters& counters() const { return ip_->counters(); }
  const Icmpv6Counters& icmp_counters() const { return ip_->icmp().counters(); }
  const NdpCounters& ndp_counters() const { return ip_->ndp().counters(); }
  const NeighborCounters& cache_counters() const { return ip_->ndp().cache().counters(); }
  const ReassemblyCounters& reassembly_counters() const { return ip_->reassembler().counters(); }

  ManualClock clock_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<link::FramePeer> peer_;
  NicId nic_ = 0;
  Ipv6Protocol* ip_ = nullptr;
};

// The ICMPv6 message inside an IPv6 frame read from the peer.
inline std::optional<Icmpv6Message> icmp_in(const std::optional<std::vector<std::byte>>& frame) {
  if (!frame) return std::nullopt;
  auto eth = decode_ethernet(*frame);
  if (!eth) return std::nullopt;
  auto ip = decode_ipv6(eth->payload);
  if (!ip || ip->protocol != 58) return std::nullopt;
  return decode_icmpv6(ip->payload);
}

}  // namespace weir::ipv6::test
