// A small stack for the IPv4 fuzz targets: IPv4 + ARP installed on one Ethernet channel NIC
// (10.0.0.1/24, default route via 10.0.0.254) and fake TCP/UDP transports, on a manual clock.
// Built for every input on the process's reset stack (fuzz/reused_stack.h), so runs do not
// depend on each other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "fuzz/clock_steps.h"
#include "fuzz/frame_reader.h"
#include "fuzz/reused_stack.h"
#include "ipv4/ipv4.h"
#include "link/channel.h"
#include "stack/clock.h"
#include "stack/protocol.h"
#include "stack/stack.h"

namespace weir::ipv4::fuzz {

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
    if (control.transport_header.size() < 8) __builtin_trap();
    for (std::byte b : control.transport_header) touched += std::to_integer<uint8_t>(b);
  }
  size_t touched = 0;

 private:
  uint8_t number_;
  TransportDelivery result_;
};

struct Harness {
  explicit Harness(TransportDelivery udp_result = TransportDelivery::kNoEndpoint,
                   Ipv4Options options = {},
                   fuzzing::StackCore& core = fuzzing::StackCore::process())
      : reused(core) {
    auto pair = link::ChannelEndpoint::make_test_pair();
    peer = std::move(pair.peer);
    nic_id = stack->add_nic(std::move(pair.endpoint), "eth0").value();
    ip = &install(*stack, options);
    (void)stack->add_address(nic_id, IpPrefix{IpAddress(Ipv4Address(10, 0, 0, 1)), 24});
    stack->add_route(Route{IpPrefix{IpAddress(Ipv4Address()), 0},
                           IpAddress(Ipv4Address(10, 0, 0, 254)), nic_id});
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
  // advance(step) `steps` times, skipping the steps that fire nothing (fuzz/clock_steps.h).
  void advance_in_steps(Duration step, int steps) {
    fuzzing::advance_in_steps(clock, stack->timers(), step, steps, [] {});
  }
  // Reads (and so checks) everything the stack sent.
  void drain() {
    sent_bytes += fuzzing::read_frames(*peer);
  }

  // First: destroyed last, it resets the stack once everything built on it is gone.
  fuzzing::ReusedStack reused;
  ManualClock& clock = reused.clock();
  Stack* stack = &reused.stack();
  std::unique_ptr<link::FramePeer> peer;
  NicId nic_id = 0;
  Ipv4Protocol* ip = nullptr;
  size_t sent_bytes = 0;
};

// A packet from bytes, split into two slices at `cut` so parsers meet non-contiguous input.
inline PacketBuffer split_packet(ByteView bytes, size_t cut) {
  cut = bytes.empty() ? 0 : cut % (bytes.size() + 1);
  PacketBuffer pkt = PacketBuffer::from_bytes(bytes.first(cut));
  pkt.append(bytes.subspan(cut));
  return pkt;
}

}  // namespace weir::ipv4::fuzz
