// A whole stack for the frame fuzzers (IPv4, ARP, ICMP, IPv6, ICMPv6, NDP, UDP, TCP) on a
// channel endpoint, with UDP and TCP sockets that answer:
// The stack is 10.0.0.1/24 with a default route via 10.0.0.254, and fe80::1/64 + fd00::1/64
// with an IPv6 default route via fe80::ff. Sockets: UDP echo on port 7 (a dual-stack [::]
// socket: IPv4 peers arrive as ::ffff:a.b.c.d), 10.0.0.1:53 with SO_BROADCAST, and 0.0.0.0:5353
// connected to 10.0.0.2:53 (it sends one datagram at the start, so ARP for 10.0.0.2 is in progress
// and ICMP errors quoting 10.0.0.1:5353 -> 10.0.0.2:53 reach it). TCP: a dual-stack listener on
// [::]:80 whose accepted connections echo what they read (at most 8 kept), a connection
// from 10.0.0.1 to 10.0.0.2:5000 opened at the start (its SYN waits for ARP), and one from fd00::1
// to [fd00::2]:5000 (its SYN waits for neighbor discovery).
// The stack's MAC is 02:00:00:00:00:01, the peer's :02. Built for every input on the process's
// reset stack (fuzz/reused_stack.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "fuzz/frame_reader.h"
#include "fuzz/reused_stack.h"
#include "ipv4/ipv4.h"
#include "ipv6/ipv6.h"
#include "link/channel.h"
#include "stack/bytes.h"
#include "stack/clock.h"
#include "stack/stack.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "udp/endpoint.h"
#include "udp/udp.h"

namespace weir::fuzzing {

struct StackUnderTest {
  explicit StackUnderTest(const link::ChannelOptions& channel = {},
                          StackCore& core = StackCore::process())
      : reused(core) {
    auto pair = link::ChannelEndpoint::make_test_pair(channel);
    peer = std::move(pair.peer);
    nic = stack->add_nic(std::move(pair.endpoint), "eth0").value();
    ipv4::install(*stack);
    ipv6::install(*stack);
    udp::install(*stack);
    tcp::install(*stack);
    (void)stack->add_address(nic, IpPrefix{IpAddress(Ipv4Address(10, 0, 0, 1)), 24});
    stack->add_route(
        Route{IpPrefix{IpAddress(Ipv4Address()), 0}, IpAddress(Ipv4Address(10, 0, 0, 254)), nic});
    // Parsed once per process, not per input.
    static const Ipv6Address link_local = Ipv6Address::parse("fe80::1").value();
    static const Ipv6Address global = Ipv6Address::parse("fd00::1").value();
    static const Ipv6Address router = Ipv6Address::parse("fe80::ff").value();
    static const Ipv6Address peer6 = Ipv6Address::parse("fd00::2").value();
    (void)stack->add_address(nic, IpPrefix{IpAddress(link_local), 64});
    (void)stack->add_address(nic, IpPrefix{IpAddress(global), 64});
    stack->add_route(Route{IpPrefix{IpAddress(Ipv6Address()), 0}, IpAddress(router), nic});

    echo = udp::Endpoint::create(*stack, AddressFamily::kIpv6).value();
    (void)echo->bind({IpAddress::any(AddressFamily::kIpv6), 7});
    dns = udp::Endpoint::create(*stack, AddressFamily::kIpv4).value();
    dns->set_broadcast(true);
    (void)dns->bind({IpAddress(Ipv4Address(10, 0, 0, 1)), 53});
    client = udp::Endpoint::create(*stack, AddressFamily::kIpv4).value();
    (void)client->bind({IpAddress(), 5353});
    (void)client->connect({IpAddress(Ipv4Address(10, 0, 0, 2)), 53});
    (void)client->send(as_bytes("query"));
    listener = tcp::Endpoint::create(*stack, AddressFamily::kIpv6);
    (void)listener->bind({IpAddress::any(AddressFamily::kIpv6), 80});
    (void)listener->listen(8);
    active = tcp::Endpoint::create(*stack, AddressFamily::kIpv4);
    (void)active->connect({IpAddress(Ipv4Address(10, 0, 0, 2)), 5000});
    active6 = tcp::Endpoint::create(*stack, AddressFamily::kIpv6);
    (void)active6->connect({IpAddress(peer6), 5000});
    // Setup's frames (announcements, probes) are read off and dropped rather than cleared:
    // clear() frees the queue's ring, which the input's first frame then allocates again.
    fuzzing::read_frames(*peer);
  }

  // What applications would do between frames: read everything, answer some of it.
  void run_sockets() {
    std::span<std::byte> buf(receive_buffer_);
    while (auto d = echo->receive_packet()) {
      (void)echo->send_packet(std::move(d->payload), d->from);
    }
    while (auto info = dns->receive_from(buf)) {
      (void)dns->send_to(ByteView(buf).first(info->size), info->from);
    }
    for (int i = 0; i < 16; ++i) {
      auto info = client->receive_from(buf);
      if (!info && info.error() == Error::kWouldBlock) break;
    }
    (void)client->take_error();
    while (auto accepted = listener->accept()) {
      if (accepted_.size() >= 8) accepted_.erase(accepted_.begin());
      accepted_.push_back(std::move(*accepted));
    }
    for (auto& conn : accepted_) {
      auto n = conn->read(buf);
      if (n && *n > 0) (void)conn->write(ByteView(buf).first(*n));
      if (n && *n == 0) (void)conn->shutdown(tcp::ShutdownHow::kWrite);
    }
    for (auto* a : {active.get(), active6.get()}) {
      if (auto n = a->read(buf); n && *n == 0) a->close();
      (void)a->write(as_bytes("hello"));
      (void)a->take_error();
    }
    // Everything the stack sent: reading it checks the channel's framing on the way.
    sent_bytes += read_frames(*peer, [this](ByteView frame) {
      if (sent_frames != nullptr) sent_frames->emplace_back(frame.begin(), frame.end());
    });
  }

  // First: destroyed last, it resets the stack once everything built on it is gone.
  ReusedStack reused;
  ManualClock& clock = reused.clock();
  Stack* stack = &reused.stack();
  std::unique_ptr<link::FramePeer> peer;
  NicId nic = 0;
  // Declared after the stack: destroyed first.
  std::unique_ptr<udp::Endpoint> echo;
  std::unique_ptr<udp::Endpoint> dns;
  std::unique_ptr<udp::Endpoint> client;
  std::unique_ptr<tcp::Endpoint> listener;
  std::unique_ptr<tcp::Endpoint> active;
  std::unique_ptr<tcp::Endpoint> active6;
  std::vector<std::unique_ptr<tcp::Endpoint>> accepted_;
  // run_sockets() runs after every frame; one buffer per input instead of one per call. A heap
  // block of exactly the size handed out, so ASan still catches a read or receive past it.
  std::vector<std::byte> receive_buffer_ = std::vector<std::byte>(1500);
  size_t sent_bytes = 0;
  // When set, every frame the stack sent is kept there (tests compare runs with it).
  std::vector<std::vector<std::byte>>* sent_frames = nullptr;
};

}  // namespace weir::fuzzing
