// Two stacks in one process, joined by an in-memory Ethernet channel, for integration tests
// of everything above the link (ARP, IPv4, UDP, TCP).
//
//   testing::TwoStacks net;                       // 10.0.0.1/24 (a) and 10.0.0.2/24 (b)
//   udp::install(net.a().stack); udp::install(net.b().stack);
//   ... open sockets, send ...
//   net.pump();                                   // deliver until nothing is in flight
//   net.advance(2s);                              // move the shared clock, firing timers
//   EXPECT_THAT(net.a().sent, Contains(IsIpv4(...)));   // what a put on the wire
//
// Both stacks read one ManualClock. Nothing runs by itself: frames move only in pump(), and
// timers fire only in advance()/run_until(), so a test sees every intermediate state (the
// first datagram parked behind ARP, say). Sockets a test opens must be destroyed before the
// fixture: declare the fixture first in a test fixture class.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "ipv4/ipv4.h"
#include "ipv6/ipv6.h"
#include "link/channel.h"
#include "link/fault.h"
#include "stack/address.h"
#include "stack/clock.h"
#include "stack/stack.h"

namespace weir::testing {

// A packet one stack handed its link: the network-layer bytes (no link header).
struct SentPacket {
  uint16_t ethertype = 0;  // kEtherTypeIpv4, kEtherTypeArp, ...
  MacAddress link_destination;
  std::vector<std::byte> bytes;
};

struct TwoStacksOptions {
  link::ChannelOptions channel;  // MTU 1500, MACs 02:00:00:00:00:01 / :02
  IpPrefix address_a = IpPrefix{IpAddress(Ipv4Address(10, 0, 0, 1)), 24};
  IpPrefix address_b = IpPrefix{IpAddress(Ipv4Address(10, 0, 0, 2)), 24};
  uint64_t seed_a = 1;
  uint64_t seed_b = 2;
  ipv4::Ipv4Options ipv4;
  // IPv6 is installed too, with these addresses (and fe80::1 / fe80::2) on the same NICs.
  bool ipv6 = true;
  IpPrefix address6_a = IpPrefix{IpAddress(Ipv6Address::parse("fd00::1").value()), 64};
  IpPrefix address6_b = IpPrefix{IpAddress(Ipv6Address::parse("fd00::2").value()), 64};
  ipv6::Ipv6Options ipv6_options;
  // A lossy link under a stack (link/fault.h): faults apply between what the stack sent (as
  // recorded in Host::sent) and the wire. Held frames move when the clock advances.
  std::optional<link::FaultOptions> fault_a;
  std::optional<link::FaultOptions> fault_b;
};

class TwoStacks {
 public:
  struct Host {
    std::unique_ptr<Stack> stack;
    NicId nic = 0;
    ipv4::Ipv4Protocol* ipv4 = nullptr;
    ipv6::Ipv6Protocol* ipv6 = nullptr;  // when the options asked for IPv6
    IpAddress address6;
    link::ChannelEndpoint* link = nullptr;  // owned by the stack's NIC
    link::FaultEndpoint* fault = nullptr;   // when the options asked for one
    IpAddress address;
    MacAddress mac;
    // Every packet this stack wrote to its link since construction or clear_sent().
    std::vector<SentPacket> sent;

    // Packets of one EtherType from `sent`.
    std::vector<std::vector<std::byte>> sent_of(uint16_t ethertype) const;
    ipv4::ArpProtocol& arp() { return ipv4->arp(); }
  };

  explicit TwoStacks(TwoStacksOptions options = {});
  ~TwoStacks();
  TwoStacks(const TwoStacks&) = delete;
  TwoStacks& operator=(const TwoStacks&) = delete;

  ManualClock& clock() { return clock_; }
  Host& a() { return *a_; }
  Host& b() { return *b_; }

  // Delivers frames both ways, and fires timers due now, until nothing is in flight. Returns
  // the number of frames delivered.
  size_t pump();
  // Advances the clock by `by` in steps of `step`, firing both stacks' timers and pumping
  // after each step.
  void advance(Duration by, Duration step = std::chrono::milliseconds(1));
  // Pumps, then advances in steps until done() holds or `limit` has passed; returns done().
  bool run_until(const std::function<bool()>& done, Duration limit = std::chrono::seconds(10),
                 Duration step = std::chrono::milliseconds(1));
  void clear_sent();

 private:
  ManualClock clock_;
  std::unique_ptr<Host> a_;
  std::unique_ptr<Host> b_;
};

}  // namespace weir::testing
