// Fuzzes the host side of router discovery, SLAAC/DAD and MLD on a whole stack: ICMPv6
// messages from the link reach ipv6::Autoconf through the IPv6 layer, ICMPv6 and NDP, on a
// manual clock.
//
// Input: commands, each one byte `op` and one byte `n`. n == 0: the clock moves by
// (op + 1) * 50 ms. Otherwise n bytes of an ICMPv6 message follow (checksum filled in), whose
// type op & 7 replaces unless it is 7 (0 MLD query, 1 RS, 2 RA, 3 NS, 4 NA, 5 Redirect, 6 MLD
// report); bits 3-4 pick the IPv6 source (fe80::1, fe80::2, ::, 2001:db8:1::5), bit 5 the
// destination (all-nodes, or the solicited-node group of the stack's first tentative or
// assigned address), bit 6 hop limit 1 instead of 255, bit 7 a hop-by-hop Router Alert.
// Invariants: an address is on the NIC exactly when SLAAC holds it as preferred or deprecated
// (never while tentative or duplicate); the route table holds at most one default route via a
// router (an RA may still make ::/0 on-link).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "fuzz/clock_steps.h"
#include "fuzz/frame_reader.h"
#include "fuzz/setup_coverage.h"
#include "fuzz/reused_stack.h"
#include "ipv6/autoconf.h"
#include "ipv6/ipv6.h"
#include "ipv6/mld.h"
#include "ipv6/ndp_wire.h"
#include "ipv6/wire.h"
#include "link/channel.h"
#include "stack/checksum.h"
#include "stack/nic.h"
#include "stack/stack.h"

namespace {

using namespace weir;
using namespace weir::ipv6;

Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

constexpr std::array<uint8_t, 7> kTypes = {kMldQuery,
                                           kNdpRouterSolicitation,
                                           kNdpRouterAdvertisement,
                                           kNdpNeighborSolicitation,
                                           kNdpNeighborAdvertisement,
                                           kNdpRedirect,
                                           kMldV2Report};

void check(Stack& stack, NicId nic_id, Autoconf& autoconf) {
  Nic& nic = *stack.nic(nic_id);
  for (const SlaacAddress& a : autoconf.slaac().addresses(nic_id)) {
    const bool on_nic = nic.has_address(a.address.address);
    const bool usable = a.state == AddressState::kPreferred || a.state == AddressState::kDeprecated;
    if (on_nic != usable) __builtin_trap();
  }
  size_t defaults = 0;
  for (const Route& r : stack.routes()) {
    if (r.destination.address.is_v6() && r.destination.length == 0 && r.gateway) ++defaults;
  }
  if (defaults > 1) __builtin_trap();  // only autoconf adds IPv6 default routes here
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // First: destroyed last, it resets the process's stack once everything on it is gone.
  fuzzing::ReusedStack reused;
  ManualClock& clock = reused.clock();
  Stack* stack = &reused.stack();
  auto pair = link::ChannelEndpoint::make_test_pair();
  auto peer = std::move(pair.peer);
  const NicId nic_id = stack->add_nic(std::move(pair.endpoint), "eth0").value();
  AutoconfOptions options;
  options.log = [](std::string_view) {};
  Autoconf& autoconf = enable_autoconf(*stack, options);
  fuzzing::forget_setup_coverage();  // the same for every input (fuzz/setup_coverage.h)

  ByteReader in(std::as_bytes(std::span(data, size)));
  std::vector<std::byte> packet;
  while (in.remaining() >= 2) {
    const uint8_t op = in.u8();
    const uint8_t n = in.u8();
    if (n == 0) {
      clock.advance(std::chrono::milliseconds(50) * (op + 1));
      stack->run_timers();
      (void)fuzzing::read_frames(*peer);
      check(*stack, nic_id, autoconf);
      continue;
    }
    const ByteView body = in.bytes(std::min<size_t>(n, in.remaining()));
    if (body.size() < 4) continue;
    static const std::array<Ipv6Address, 4> kSources = {addr("fe80::1"), addr("fe80::2"),
                                                        Ipv6Address(), addr("2001:db8:1::5")};
    const Ipv6Address source = kSources[(op >> 3) & 3];
    Ipv6Address destination = all_nodes_group();
    if ((op & 0x20) != 0) {
      auto all = autoconf.slaac().addresses(nic_id);
      if (!all.empty()) destination = solicited_node_group(all[0].address.address.v6());
    }

    // The IPv6 header, the Router Alert option when asked for, then the message, built in the
    // one buffer of the input (this loop runs once per message).
    packet.assign(kHeaderLength, std::byte{0});
    HeaderFields fields;
    fields.source = source;
    fields.destination = destination;
    fields.hop_limit = (op & 0x40) != 0 ? 1 : 255;
    fields.next_header = kNextIcmpv6;
    if ((op & 0x80) != 0) {
      fields.next_header = kNextHopByHop;
      const std::array<uint8_t, 8> hbh = {kNextIcmpv6, 0, 5, 2, 0, 0, 1, 0};
      for (uint8_t b : hbh) packet.push_back(std::byte{b});
    }
    const size_t message_at = packet.size();
    packet.insert(packet.end(), body.begin(), body.end());
    const MutableByteView message = MutableByteView(packet).subspan(message_at);
    if ((op & 7) != 7) message[0] = std::byte{kTypes[op & 7]};
    fill_icmpv6_checksum(message, source, destination);
    fields.payload_length = static_cast<uint16_t>(packet.size() - kHeaderLength);
    emit_header(packet, fields);
    PacketBuffer pkt = PacketBuffer::from_bytes(packet);
    pkt.meta().network_protocol = kEtherTypeIpv6;
    pkt.meta().link_type =
        destination.is_multicast() ? LinkPacketType::kMulticast : LinkPacketType::kHost;
    stack->nic(nic_id)->deliver_network_packet(std::move(pkt));
    (void)fuzzing::read_frames(*peer);
    check(*stack, nic_id, autoconf);
  }
  // 40 steps of 30 s, reading what the stack sent after each (the steps that fire nothing are
  // skipped: fuzz/clock_steps.h).
  fuzzing::advance_in_steps(clock, stack->timers(), std::chrono::seconds(30), 40,
                            [&] { (void)fuzzing::read_frames(*peer); });
  check(*stack, nic_id, autoconf);
  return 0;
}
