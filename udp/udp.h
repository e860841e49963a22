// UDP (RFC 768) for any address family.
//
// Theory of operation. UdpProtocol is the TransportProtocol for number 17. Input: the network
// layer hands it a packet starting at the UDP header. It checks the header's length field
// against what arrived (shorter: drop; longer: the excess is padding and is trimmed), then the
// checksum: a non-zero checksum is always verified; a zero checksum means "none" and is
// accepted over IPv4 (RFC 768) but refused over IPv6 (RFC 8200 8.1). Unicast datagrams go to
// the demux's best endpoint (an exact connected 4-tuple first, then a bound address, then the
// wildcard; a SO_REUSEPORT group is spread by a keyed hash of the peer); if there is none the
// packet is returned untouched as kNoEndpoint so the network layer can answer with a port
// unreachable that quotes it. Broadcast and multicast datagrams go to every bound endpoint that
// accepts the destination, each getting a clone that shares the bytes, and never cause an ICMP
// error. ICMP errors (handle_control) are matched by the 4-tuple
// of the datagram we sent and, as in Linux without IP_RECVERR, reach only connected endpoints.
//
// Output is in Endpoint (udp/endpoint.h): it builds the header and checksum and hands the
// datagram to Stack::ip_protocol(family)->write_packet along a route from Stack::find_route.
// Nothing here knows an IP header: the same code serves IPv4 and IPv6.
#pragma once

#include <memory>

#include "stack/address.h"
#include "stack/counters.h"
#include "stack/demux.h"
#include "stack/protocol.h"
#include "stack/result.h"

namespace weir {
class Stack;
}

namespace weir::udp {

class Endpoint;
class Forwarder;

// Every drop has its own counter; the rest count traffic.
// clang-format off
#define WEIR_UDP_COUNTERS(X)                                                                       \
  X(received) X(delivered) X(sent) X(send_errors) X(drop_send_no_buffer)                           \
  X(zero_checksum_accepted) X(drop_short_header) X(drop_bad_length) X(drop_bad_checksum)           \
  X(drop_zero_checksum_ipv6) X(drop_no_port) X(drop_no_port_broadcast)                             \
  X(drop_receive_buffer_full) X(drop_read_shutdown) X(drop_not_from_peer)                          \
  X(drop_family_mismatch) X(drop_closed) X(control_received) X(control_delivered)                  \
  X(control_no_endpoint) X(control_ignored) X(control_malformed)                                  \
  X(forward_requests) X(forward_accepted) X(forward_refused) X(forward_ignored)                    \
  X(forward_accept_failed) X(drop_foreign_no_flow) X(drop_memory_hard_limit)
// clang-format on
WEIR_DEFINE_COUNTERS(UdpCounters, WEIR_UDP_COUNTERS)

class UdpProtocol final : public TransportProtocol {
 public:
  explicit UdpProtocol(Stack& stack);

  uint8_t number() const override { return kProtocolUdp; }
  TransportDelivery handle_packet(const NetworkPacketInfo& info, PacketBuffer& pkt) override;
  void handle_control(const TransportControl& control) override;

  // A new, unbound socket of the family (same as Endpoint::create).
  std::unique_ptr<Endpoint> open(AddressFamily family);

  // The forwarder that takes datagrams for foreign addresses (udp/forwarder.h), or nullptr;
  // the Forwarder sets and clears itself.
  Forwarder* forwarder() const { return forwarder_; }
  void set_forwarder(Forwarder* forwarder) { forwarder_ = forwarder; }

  Stack& stack() { return stack_; }
  UdpCounters& counters() { return counters_; }
  const UdpCounters& counters() const { return counters_; }

 private:
  TransportEndpoint* pick_from_reuse_port_group(Endpoint& found, const TransportEndpointId& id);

  Stack& stack_;
  UdpCounters counters_;
  Forwarder* forwarder_ = nullptr;  // not owned
};

// Registers UDP with the stack (once) and its counters under "udp"; returns the instance.
UdpProtocol& install(Stack& stack);
// The installed instance, or nullptr when install() was not called on this stack.
UdpProtocol* find(Stack& stack);

}  // namespace weir::udp
