// A stack with IPv4 installed on one Ethernet channel NIC whose other end the test holds.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

#include "ipv4/ipv4.h"
#include "link/channel.h"
#include "stack/clock.h"
#include "stack/protocol.h"
#include "stack/stack.h"
#include "tests/testing/ipv4_packets.h"
#include "tests/testing/testing.h"

namespace weir::ipv4::test {

using namespace weir::testing;  // NOLINT: matchers and builders
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::SizeIs;

inline const Ipv4Address kOurIp(10, 0, 0, 1);
inline const Ipv4Address kPeerIp(10, 0, 0, 2);
inline const Ipv4Address kOtherIp(10, 0, 0, 3);
inline const Ipv4Address kSubnetBroadcast(10, 0, 0, 255);
inline const Ipv4Address kRemoteIp(192, 0, 2, 9);  // off-link, via the gateway
inline const Ipv4Address kGatewayIp(10, 0, 0, 254);

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

class Ipv4Test : public ::testing::Test {
 protected:
  virtual Ipv4Options options() const { return {}; }
  virtual link::ChannelOptions channel_options() const { return {}; }

  void SetUp() override {
    stack_ = std::make_unique<Stack>(clock_, repeatable_stack_options(42));
    auto pair = link::ChannelEndpoint::make_test_pair(channel_options());
    peer_ = std::move(pair.peer);
    nic_ = stack_->add_nic(std::move(pair.endpoint), "eth0").value();
    ip_ = &install(*stack_, options());
    ASSERT_TRUE(stack_->add_address(nic_, IpPrefix{IpAddress(kOurIp), 24}));
    stack_->add_route(Route{IpPrefix{IpAddress(Ipv4Address()), 0}, IpAddress(kGatewayIp), nic_});
    peer_->clear();  // the address announcement
  }

  MacAddress our_mac() const { return peer_->endpoint_mac(); }
  MacAddress peer_mac() const { return peer_->mac(); }
  Nic& nic() { return *stack_->nic(nic_); }

  // Injects an IPv4 packet from the peer's MAC to ours.
  void inject_ipv4(const Ipv4Spec& spec, ByteView payload) {
    ASSERT_TRUE(peer_->inject(ipv4_frame(our_mac(), peer_mac(), spec, payload)));
  }
  void inject_raw_ipv4(ByteView packet, MacAddress destination) {
    ASSERT_TRUE(peer_->inject(ethernet_frame(destination, peer_mac(), 0x0800, packet)));
  }
  void inject_raw_ipv4(ByteView packet) { inject_raw_ipv4(packet, our_mac()); }

  // Makes the stack learn peer_ip -> mac through a request aimed at us, and discards the reply.
  void learn(Ipv4Address peer_ip, MacAddress mac) {
    ASSERT_TRUE(peer_->inject(arp_frame({kTestArpRequest, mac, peer_ip, MacAddress(), kOurIp})));
    peer_->clear();
  }
  void learn_peer() { learn(kPeerIp, peer_mac()); }

  FakeTransport& add_fake_transport(uint8_t number) {
    return stack_->add_transport_protocol(std::make_unique<FakeTransport>(number));
  }

  // Advances the manual clock and fires due timers.
  void advance(Duration d) {
    clock_.advance(d);
    stack_->run_timers();
  }

  RouteInfo route_to(Ipv4Address remote) {
    auto r = stack_->find_route(IpAddress(remote));
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : RouteInfo{};
  }

  const Ipv4Counters& counters() const { return ip_->counters(); }
  const IcmpCounters& icmp_counters() const { return ip_->icmp().counters(); }
  const ArpCounters& arp_counters() const { return ip_->arp().counters(); }
  const NeighborCounters& cache_counters() const { return ip_->arp().cache().counters(); }
  const ReassemblyCounters& reassembly_counters() const { return ip_->reassembler().counters(); }

  ManualClock clock_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<link::FramePeer> peer_;
  NicId nic_ = 0;
  Ipv4Protocol* ip_ = nullptr;
};

inline std::vector<std::byte> pattern(size_t n, uint8_t seed = 0) {
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = std::byte(static_cast<uint8_t>(seed + i * 7 + (i >> 8)));
  return out;
}

}  // namespace weir::ipv4::test
