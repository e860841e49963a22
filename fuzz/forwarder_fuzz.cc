// fuzz_forwarder: arbitrary IP packets into a stack that forwards every flow (a tun proxy's
// stack): a raw-IP NIC accepting any destination, a TCP forwarder and a UDP forwarder whose
// decisions the input makes (accept, refuse, defer and decide later), and forwarded flows
// that echo what they read. The paths only foreign destinations take (the forwarders' pending
// table, SYN options kept for a deferred accept, answers from the original destination, ICMP
// and RSTs from foreign addresses) get the same hostile input as the rest of the stack.
//
// Input layout: a sequence of records, each
//   byte 0       clock step before the packet: v < 128 -> v ms; else (v - 128) * 250 ms
//   byte 1       decisions: bits 0-1 for a new TCP flow (0 defer, 1 accept, 2 refuse, 3
//                defer), bit 2 for a new UDP flow (accept, else refuse when bit 3, else
//                ignore), bits 4-5 for the oldest deferred TCP flow (1 accept, 2 refuse)
//   bytes 2-3    packet length, big-endian (cut to what is left)
//   the packet   an IPv4 or IPv6 packet; the stack is 10.0.0.1/24 and fd00::1/64, and any
//                other address is a flow to forward
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "fuzz/clock_steps.h"
#include "fuzz/frame_reader.h"
#include "fuzz/reused_stack.h"
#include "fuzz/setup_coverage.h"
#include "ipv4/ipv4.h"
#include "ipv6/ipv6.h"
#include "link/channel.h"
#include "stack/bytes.h"
#include "stack/clock.h"
#include "stack/stack.h"
#include "tcp/endpoint.h"
#include "tcp/forwarder.h"
#include "tcp/tcp.h"
#include "udp/endpoint.h"
#include "udp/forwarder.h"
#include "udp/udp.h"

namespace {

using namespace weir;

constexpr size_t kMaxFlows = 16;

struct ForwardingStack {
  ForwardingStack() {
    link::ChannelOptions channel;
    channel.framing = link::Framing::kRawIp;
    auto pair = link::ChannelEndpoint::make_test_pair(channel);
    peer = std::move(pair.peer);
    nic = stack->add_nic(std::move(pair.endpoint), "tun0").value();
    stack->nic(nic)->set_accept_any_destination(true);
    ipv4::install(*stack);
    ipv6::install(*stack);
    udp::install(*stack);
    tcp::install(*stack);
    (void)stack->add_address(nic, IpPrefix{IpAddress(Ipv4Address(10, 0, 0, 1)), 24});
    (void)stack->add_address(nic, IpPrefix{IpAddress(Ipv6Address::parse("fd00::1").value()), 64});
    stack->add_route(Route{IpPrefix{IpAddress(Ipv4Address()), 0}, std::nullopt, nic});
    stack->add_route(Route{IpPrefix{IpAddress(Ipv6Address()), 0}, std::nullopt, nic});
    tcp_forwarder = tcp::Forwarder::create(*stack, [this](const tcp::ForwardRequest& r) {
                      switch (decisions & 3) {
                        case 1: keep(tcp_forwarder->accept(r.id)); break;
                        case 2: (void)tcp_forwarder->refuse(r.id); break;
                        default: deferred.push_back(r.id); break;
                      }
                    }).value();
    udp_forwarder = udp::Forwarder::create(*stack, [this](const udp::ForwardRequest& r) {
                      if (decisions & 4) {
                        if (auto ep = udp_forwarder->accept(r.id)) {
                          if (udp_flows.size() >= kMaxFlows) udp_flows.erase(udp_flows.begin());
                          udp_flows.push_back(std::move(*ep));
                        }
                      } else if (decisions & 8) {
                        (void)udp_forwarder->refuse(r.id);
                      }
                    }).value();
  }

  void keep(Result<std::unique_ptr<tcp::Endpoint>> ep) {
    if (!ep) return;
    if (tcp_flows.size() >= kMaxFlows) tcp_flows.erase(tcp_flows.begin());
    tcp_flows.push_back(std::move(*ep));
  }

  // The oldest deferred flow, decided as the record says; what a proxy does once its own
  // outbound connection succeeded or failed.
  void decide_deferred() {
    const int decision = (decisions >> 4) & 3;
    if (deferred.empty() || decision == 0 || decision == 3) return;
    const uint64_t id = deferred.front();
    deferred.pop_front();
    if (decision == 1) {
      keep(tcp_forwarder->accept(id));
    } else {
      (void)tcp_forwarder->refuse(id);
    }
  }

  void run_flows() {
    std::span<std::byte> buf(read_buffer_);
    for (auto& flow : tcp_flows) {
      auto n = flow->read(buf);
      if (n && *n > 0) (void)flow->write(ByteView(buf).first(*n));
      if (n && *n == 0) (void)flow->shutdown(tcp::ShutdownHow::kWrite);
      (void)flow->take_error();
    }
    for (auto& flow : udp_flows) {
      while (auto d = flow->receive_packet()) (void)flow->send_packet(std::move(d->payload), d->from);
      (void)flow->take_error();
    }
    sent_bytes += fuzzing::read_frames(*peer);
  }

  // First: destroyed last, it resets the process's stack once everything on it is gone
  // (fuzz/reused_stack.h).
  fuzzing::ReusedStack reused;
  ManualClock& clock = reused.clock();
  Stack* stack = &reused.stack();
  std::unique_ptr<link::FramePeer> peer;
  NicId nic = 0;
  uint8_t decisions = 0;
  // Declared after the stack: destroyed first.
  std::unique_ptr<tcp::Forwarder> tcp_forwarder;
  std::unique_ptr<udp::Forwarder> udp_forwarder;
  std::deque<uint64_t> deferred;
  std::vector<std::unique_ptr<tcp::Endpoint>> tcp_flows;
  std::vector<std::unique_ptr<udp::Endpoint>> udp_flows;
  // run_flows() runs after every packet; one buffer per input instead of one per call. A heap
  // block of exactly the size handed out, so ASan still catches a read past it.
  std::vector<std::byte> read_buffer_ = std::vector<std::byte>(2048);
  size_t sent_bytes = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ForwardingStack s;
  weir::fuzzing::forget_setup_coverage();  // the same for every input (fuzz/setup_coverage.h)
  ByteReader in(std::as_bytes(std::span<const uint8_t>(data, size)));
  while (in.remaining() >= 4) {
    const uint8_t step = in.u8();
    s.decisions = in.u8();
    const size_t length = std::min<size_t>(in.be16(), in.remaining());
    ByteView packet = in.bytes(length);
    s.clock.advance(weir::fuzzing::step_duration(step));
    s.stack->run_timers();
    (void)s.peer->inject(packet);
    s.decide_deferred();
    s.run_flows();
  }
  s.clock.advance(std::chrono::seconds(120));
  s.stack->run_timers();
  s.run_flows();
  return 0;
}
