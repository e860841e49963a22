// Two stacks with IPv4, IPv6 and TCP over an in-memory Ethernet channel, each side behind a fault
// link (seeded loss, reordering, duplication), for TCP integration tests. Unlike TwoStacks it
// keeps no copy of the traffic, so multi-megabyte transfers stay cheap.
#pragma once

#include <functional>
#include <memory>

#include "ipv4/ipv4.h"
#include "ipv6/ipv6.h"
#include "link/channel.h"
#include "link/fault.h"
#include "stack/clock.h"
#include "stack/stack.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"

namespace weir::testing {

struct TcpNetworkOptions {
  link::FaultOptions fault_a;  // applied to a's transmit direction
  link::FaultOptions fault_b;  // applied to b's transmit direction
  tcp::TcpOptions tcp;
  uint32_t mtu = 1500;
  size_t queue_limit = 4096;
  bool offloads = false;  // the channel finishes checksums and carries GSO frames whole
};

class TcpNetwork {
 public:
  struct Host {
    std::unique_ptr<Stack> stack;
    link::ChannelEndpoint* channel = nullptr;  // owned through the fault endpoint
    link::FaultEndpoint* fault = nullptr;      // owned by the NIC
    tcp::TcpProtocol* tcp = nullptr;
    IpAddress address;   // 10.0.0.1 / 10.0.0.2
    IpAddress address6;  // fd00::1 / fd00::2 (and fe80::1 / fe80::2 on the same NIC)
  };

  explicit TcpNetwork(TcpNetworkOptions options = {});
  ~TcpNetwork();

  ManualClock& clock() { return clock_; }
  Host& a() { return *a_; }
  Host& b() { return *b_; }

  // Delivers frames and fires due timers until quiet.
  size_t pump();
  // Delivers up to max_frames frames and fires due timers once; returns frames + timers.
  size_t step(size_t max_frames);
  // Moves time forward in 1 ms steps, pumping after each.
  void advance(Duration by);
  // Pumps; while !done, advances 1 ms at a time, up to limit of simulated time.
  bool run_until(const std::function<bool()>& done, Duration limit = std::chrono::seconds(60));

 private:
  ManualClock clock_;
  std::unique_ptr<Host> a_;
  std::unique_ptr<Host> b_;
};

}  // namespace weir::testing
