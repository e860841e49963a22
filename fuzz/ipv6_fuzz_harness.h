// A small stack for the IPv6 fuzz targets: IPv6 installed on one Ethernet channel NIC
// (fe80::1/64 and fd00::1/64, default route via fe80::ff), the peer fd00::2 / fe80::2 known to
// the neighbor cache, and fake TCP/UDP transports, on a manual clock. Built for every input on
// the process's reset stack (fuzz/reused_stack.h), so runs do not depend on each other.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "fuzz/frame_reader.h"
#include "fuzz/reused_stack.h"
#include "ipv6/ipv6.h"
#include "link/channel.h"
#include "stack/clock.h"
#include "stack/nic.h"
#include "stack/protocol.h"
#include "stack/stack.h"

namespace weir::ipv6::fuzz {

inline Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

class SinkTransport final : public TransportProtocol {
 public:
  SinkTransport(uint8_t number, TransportDelivery result) : number_(number), result_(result) {}
  uint8_t number() const override { return number_; }
  TransportDelivery handle_packet(const NetworkPacketInfo& info, PacketBuffer& pkt) override {
    (void)info;
    touched += pkt.to_vector().size();
    return result_;
  }
  void handle_control(const TransportControl& control) override {
    // The ICMPv6 layer promises at least 8 bytes of the quoted upper-layer header.
    if (control.transport_header.size() < 8) __builtin_trap();
    if (control.type == ControlType::kFragmentationNeeded && control.mtu < kMinMtu) {
      __builtin_trap();
    }
    for (std::byte b : control.transport_header) touched += std::to_integer<uint8_t>(b);
  }
  size_t touched = 0;

 private:
  uint8_t number_;
  TransportDelivery result_;
};

struct Harness {
  explicit Harness(TransportDelivery udp_result = TransportDelivery::kNoEndpoint,
                   fuzzing::StackCore& core = fuzzing::StackCore::process())
      : reused(core) {
    auto pair = link::ChannelEndpoint::make_test_pair();
    peer = std::move(pair.peer);
    nic_id = stack->add_nic(std::move(pair.endpoint), "eth0").value();
    ip = &install(*stack);
    // Parsed once per process, not per input.
    static const Ipv6Address kLinkLocal = addr("fe80::1");
    static const Ipv6Address kGlobal = addr("fd00::1");
    static const Ipv6Address kRouter = addr("fe80::ff");
    static const std::array<Ipv6Address, 3> kNeighbors = {addr("fd00::2"), addr("fe80::2"),
                                                          kRouter};
    (void)stack->add_address(nic_id, IpPrefix{IpAddress(kLinkLocal), 64});
    (void)stack->add_address(nic_id, IpPrefix{IpAddress(kGlobal), 64});
    stack->add_route(Route{IpPrefix{IpAddress(Ipv6Address()), 0}, IpAddress(kRouter), nic_id});
    // Known neighbors, so answers leave at once instead of waiting for resolution.
    for (const Ipv6Address& n : kNeighbors) {
      ip->ndp().cache().update(
          nic(), IpAddress(n),
          NeighborUpdate{peer->mac(), /*solicited=*/false, /*override=*/true, /*create=*/true});
    }
    stack->add_transport_protocol(std::make_unique<SinkTransport>(17, udp_result));
    stack->add_transport_protocol(
        std::make_unique<SinkTransport>(6, TransportDelivery::kDelivered));
    // Setup's frames (announcements, probes) are read off and dropped rather than cleared:
    // clear() frees the queue's ring, which the input's first frame then allocates again.
    fuzzing::read_frames(*peer);
  }

  Nic& nic() { return *stack->nic(nic_id); }
  void advance(Duration d) {
    clock.advance(d);
    stack->run_timers();
  }
  void drain() {
    sent_bytes += fuzzing::read_frames(*peer);
  }
  void deliver(PacketBuffer pkt) {
    pkt.meta().network_protocol = kEtherTypeIpv6;
    pkt.meta().nic = nic_id;
    ip->handle_packet(nic(), std::move(pkt));
  }

  // First: destroyed last, it resets the stack once everything built on it is gone.
  fuzzing::ReusedStack reused;
  ManualClock& clock = reused.clock();
  Stack* stack = &reused.stack();
  std::unique_ptr<link::FramePeer> peer;
  NicId nic_id = 0;
  Ipv6Protocol* ip = nullptr;
  size_t sent_bytes = 0;
};

// A packet from bytes, split into two slices at `cut` so parsers meet non-contiguous input.
inline PacketBuffer split_packet(ByteView bytes, size_t cut) {
  cut = bytes.empty() ? 0 : cut % (bytes.size() + 1);
  PacketBuffer pkt = PacketBuffer::from_bytes(bytes.first(cut));
  pkt.append(bytes.subspan(cut));
  return pkt;
}

}  // namespace weir::ipv6::fuzz
