// weir's public C++ API: the headers an embedder includes (docs/embedding.md says how to drive
// a stack, and the threading and ownership rules). Everything else installed under
// include/weir/ is there because these headers include it, and may change without notice.
#pragma once

#include "ipv4/ipv4.h"           // ipv4::install, Ipv4Options
#include "ipv6/ipv6.h"           // ipv6::install, Ipv6Options (NDP, SLAAC, MLD)
#include "link/channel.h"        // ChannelEndpoint: two stacks joined in memory
#include "link/fault.h"          // FaultEndpoint: seeded loss, reordering, corruption
#include "link/loopback.h"       // LoopbackEndpoint
#include "link/packet_queue.h"   // PacketQueueEndpoint: packets in and out by hand (tun, VPN)
#include "link/tap.h"            // TapEndpoint: a Linux tap device
#include "stack/clock.h"         // Clock, SteadyClock, ManualClock, TimePoint, Duration
#include "stack/loop.h"          // Loop: one thread drives a Stack (epoll)
#include "stack/result.h"        // Result<T>, Status, Error
#include "stack/stack.h"         // Stack, StackOptions, Route, Stack::poll
#include "tcp/blocking.h"        // tcp::BlockingSocket: TCP from other threads
#include "tcp/endpoint.h"        // tcp::Endpoint: non-blocking TCP sockets
#include "tcp/forwarder.h"       // tcp::Forwarder: accept connections to any address
#include "tcp/tcp.h"             // tcp::install, TcpOptions
#include "udp/blocking.h"        // udp::BlockingSocket: UDP from other threads
#include "udp/endpoint.h"        // udp::Endpoint: non-blocking UDP sockets
#include "udp/forwarder.h"       // udp::Forwarder: take flows to any address
#include "udp/udp.h"             // udp::install

namespace weir {

// IPv4 (with ARP and ICMP), IPv6 (with NDP and ICMPv6), UDP and TCP, with default options:
// what a stack needs before its first NIC. Call the protocols' own install() instead to
// choose their options.
inline void install_protocols(Stack& stack) {
  ipv4::install(stack);
  ipv6::install(stack);
  udp::install(stack);
  tcp::install(stack);
}

}  // namespace weir
