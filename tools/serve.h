// `weir serve`: brings one stack up on a tap device (or, with --packet, on an existing interface
// through an AF_PACKET socket, or with --dpdk on a DPDK port) and offers small network services
// on it
// (UDP echo today; TCP echo/discard/chargen/HTTP join when TCP lands), until SIGINT/SIGTERM.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "link/fault.h"
#include "stack/address.h"
#include "stack/result.h"

namespace weir {
class Loop;
class Stack;
}  // namespace weir

namespace weir::tools {

struct ServeOptions {
  std::string tap;     // --tap NAME, or
  std::string packet;  // --packet IFACE: an AF_PACKET link on an existing interface, or
  std::optional<std::string> dpdk;   // --dpdk 'EAL ARGS': a DPDK port ("" = the default args)
  std::string dpdk_port;             // --dpdk-port NAME: which port; empty: the first
  std::optional<IpPrefix> address;   // IPv4; nullopt: no IPv4 address (IPv6 only)
  std::vector<IpPrefix> addresses6;  // --ip6, in order
  bool ipv6 = true;                  // --no-ip6 turns IPv6 off
  std::optional<IpAddress> gateway;
  std::optional<IpAddress> gateway6;
  std::optional<MacAddress> mac;  // nullopt: a random locally administered one
  std::optional<std::string> pcap;
  std::optional<uint32_t> mtu;  // nullopt: the tap's own
  bool offloads = true;         // --no-offload: plain frames, no TSO/checksum with the kernel
  std::optional<link::FaultOptions> fault;  // --fault: impair the link (below the pcap)
  std::optional<std::string> netns;
  std::optional<std::string> stats_socket;  // Unix socket path answering `weir stats`
};

// One service `weir serve` offers. start() runs once the stack has its address and routes;
// after that the service is driven only by readiness callbacks on the loop thread. A service
// is destroyed before the stack, so it may own stack endpoints.
class Service {
 public:
  virtual ~Service() = default;
  // For the ready line, e.g. "udp echo :7".
  virtual std::string describe() const = 0;
  virtual Status start(Stack& stack, Loop& loop) = 0;
  // The loop has stopped: release what the service holds open (connections get a RST).
  virtual void stop() {}
  // One line for the exit summary, e.g. "udp echo :7: 3 datagrams echoed".
  virtual std::string summary() const = 0;
};

// Registers the `serve` subcommand; its callback runs the stack until a signal stops it.
void add_serve_command(CLI::App& app);

// Runs serve with already validated options; returns the process exit status.
int run_serve(const ServeOptions& options);

}  // namespace weir::tools
