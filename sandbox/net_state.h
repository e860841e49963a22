// A snapshot of the network state a sandboxed program may inspect: the stack's interfaces,
// addresses and routes, and the sockets it holds. The emulator builds one from the Stack and
// its socket table when a program asks (netlink dumps, /proc/net files, SIOCGIF* ioctls); the
// answers are pure functions of it, so they are tested and fuzzed without a stack.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "stack/address.h"
#include "tcp/tcp_info.h"

namespace weir::sandbox {

struct InterfaceState {
  int index = 0;  // the ifindex programs see (1 is lo)
  std::string name;
  MacAddress mac;
  uint32_t mtu = 0;
  bool up = true;
  bool loopback = false;
  bool running = true;
  std::vector<IpPrefix> addresses;  // each with its prefix length
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t rx_dropped = 0;
  uint64_t rx_errors = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_dropped = 0;
  uint64_t tx_errors = 0;
};

struct RouteState {
  IpPrefix destination;              // the network (host bits clear); /0 is the default
  std::optional<IpAddress> gateway;  // nullopt: on-link
  int interface_index = 0;
  std::optional<IpAddress> preferred_source;
  uint32_t metric = 0;
  bool local = false;  // a route to one of our own addresses (Linux's local table)
};

// Linux's TCP states as /proc/net/tcp and inet_diag number them (TCP_ESTABLISHED = 1, ...).
// UDP sockets use 7 (TCP_CLOSE) when unconnected and 1 when connected, as Linux shows them.
struct SocketState {
  uint8_t protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
  AddressFamily family = AddressFamily::kIpv4;
  SocketAddress local;
  SocketAddress remote;
  uint8_t linux_state = 0;
  uint32_t receive_queue = 0;  // bytes waiting to be read (listeners: the accept queue length)
  uint32_t send_queue = 0;     // bytes not yet acknowledged (listeners: the backlog)
  uint64_t inode = 0;          // the socket inode the program's fd refers to (0 if none)
  uint32_t uid = 0;
  bool v6only = false;  // IPV6_V6ONLY of an AF_INET6 socket (ss shows "*" for dual-stack ones)
  // Optional TCP details for inet_diag's INET_DIAG_INFO and /proc's timer columns.
  uint32_t retransmits = 0;
  uint32_t rto_ms = 0;
  uint32_t rtt_us = 0;
  uint32_t rttvar_us = 0;
  uint32_t send_mss = 0;
  uint32_t congestion_window = 0;
  // The whole TCP_INFO when the emulator has it; inet_diag's INET_DIAG_INFO then reports it
  // as is, otherwise one built from the fields above.
  std::optional<tcp::TcpInfo> tcp_info;
};

struct NetState {
  std::vector<InterfaceState> interfaces;
  std::vector<RouteState> routes;
  std::vector<SocketState> sockets;
  std::string hostname;
  // Protocol counters for /proc/net/snmp and /proc/net/netstat, by "Group:Name" as those files
  // name them ("Ip:InReceives", "Tcp:ActiveOpens", "Udp:NoPorts", "TcpExt:ListenDrops", ...).
  // Absent counters read 0; Tcp:CurrEstab is counted from the sockets when absent.
  std::map<std::string, uint64_t, std::less<>> counters;
};

}  // namespace weir::sandbox
