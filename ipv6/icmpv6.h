// ICMPv6 (RFC 4443): echo, error generation under the RFC's suppression rules and a token
// bucket, errors handed to transports as TransportControl (the same events ICMPv4 produces),
// Packet Too Big feeding the path MTU cache (RFC 8201), and dispatch of the NDP (133-137) and
// MLD (130-132, 143) types to the components that own them.
//
// Theory of operation.
//
// Receive (handle_packet). The checksum is verified over the IPv6 pseudo-header first (unless
// the link vouched for it). Echo requests are answered, also when sent to a multicast group
// (RFC 4443 4.2; Linux's default), from a unicast address of the receiving NIC in that case.
// Errors (types 1-4) quote the packet we sent: its IPv6 header and as much after it as the
// sender kept. We walk the quoted extension headers to the upper-layer header, require our own
// address as its source and 8 bytes of the upper-layer header, and hand the transport a
// TransportControl. Packet Too Big lowers the path MTU to the quoted destination first (never
// below 1280). An error of an unknown type is counted and dropped: there is no control event
// to map it to. Unknown informational types are dropped silently (RFC 4443 2.4 (b)).
// The NDP and MLD types go to the Icmpv6Handler registered for the type (NS/NA: ipv6/ndp.h;
// RS/RA/Redirect and MLD: the components of ipv6/ that own them, see ipv6/NOTES.md); a type
// with no handler is counted and dropped.
//
// Send (send_error). RFC 4443 2.4 (e): never about an ICMPv6 error or a Redirect, never about a
// packet sent to a multicast address or as a link-layer multicast or broadcast (except Packet
// Too Big and Parameter Problem code 2 for an option whose type asks for it), never to a
// source that is not one node (unspecified, multicast). What passes is rate limited by a token
// bucket, globally and per destination (Linux's two limits), and quotes as much of the offending
// packet as fits in a 1280-byte IPv6 packet. The source is the address the packet was sent to when
// that was one of ours, else the route's choice on the receiving NIC.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>

#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"
#include "stack/protocol.h"
#include "stack/token_bucket.h"

namespace weir {
class Nic;
}

namespace weir::ipv6 {

class Ipv6Protocol;

struct Icmpv6Options {
  // Linux's global limit (icmp_msgs_per_sec, icmp_msgs_burst): 1000 errors/s, bursts of 50.
  uint32_t error_rate_per_second = 1000;
  uint32_t error_burst = 50;
  // Linux's per-destination limit (net.ipv6.icmp.ratelimit, inet_peer_xrlim_allow): one error
  // per peer_interval, shortened by the route's prefix length as Linux does (>> (128-len)/32),
  // in bursts of 6. Zero turns it off.
  Duration peer_interval = std::chrono::seconds(1);
  uint32_t peer_burst = 6;
  size_t max_peers = 1024;
  // Linux's icmpv6_echo_ignore_multicast is 0: answer pings to groups we joined.
  bool echo_reply_to_multicast = true;
};

// What the IPv6 layer knows about a received packet, for ICMPv6's decisions and for the
// handlers of NDP and MLD messages.
struct ReceivedDatagram {
  NetworkPacketInfo info;  // nic, source, destination, ttl = hop limit, tos = traffic class
  LinkPacketType link_type = LinkPacketType::kHost;
  bool router_alert = false;  // a hop-by-hop Router Alert option was present (RFC 2711)
  // The packet from its IPv6 header on, for errors to quote (after reassembly: the whole
  // reassembled packet, without the Fragment header). Shares the received bytes.
  const PacketBuffer* packet = nullptr;
};

// Owner of some ICMPv6 message types (NDP's RS/RA/Redirect, MLD, ...). Registered with
// Icmpv6::set_handler; the handler outlives its registration.
class Icmpv6Handler {
 public:
  virtual ~Icmpv6Handler() = default;
  // message: the whole ICMPv6 message from its type byte, contiguous, checksum verified.
  // dgram.info.ttl is the IPv6 hop limit (NDP requires 255).
  virtual void handle_icmpv6(Nic& nic, const ReceivedDatagram& dgram, ByteView message) = 0;
};

#define WEIR_ICMPV6_COUNTERS(X)                                                                    \
  X(rx_messages)                                                                                   \
  X(rx_drop_truncated)                                                                             \
  X(rx_drop_bad_checksum)                                                                          \
  X(rx_echo_requests)                                                                              \
  X(rx_echo_replies) X(rx_dest_unreachable) X(rx_packet_too_big) X(rx_time_exceeded)               \
      X(rx_parameter_problem) X(rx_unknown_errors) X(rx_unknown_informational) X(rx_ndp) X(rx_mld) \
          X(rx_drop_no_handler) X(rx_drop_unknown_code) X(rx_drop_bad_quoted_header)               \
              X(rx_drop_quoted_not_ours) X(rx_drop_quoted_fragment) X(rx_errors_no_transport)      \
                  X(rx_errors_delivered) X(rx_echo_drop_multicast) X(rx_echo_drop_bad_source) X(rx_echo_drop_foreign_destination)      \
                      X(pmtu_updates) X(tx_echo_replies) X(tx_echo_drop) X(tx_dest_unreachable)    \
                          X(tx_port_unreachable) X(tx_packet_too_big) X(tx_time_exceeded)          \
                              X(tx_parameter_problem) X(tx_drop_rate_limited)                      \
                                  X(tx_suppressed_multicast) X(tx_suppressed_bad_source)           \
                                      X(tx_suppressed_icmp_error) X(tx_drop_error)
WEIR_DEFINE_COUNTERS(Icmpv6Counters, WEIR_ICMPV6_COUNTERS)

class Icmpv6 {
 public:
  Icmpv6(Ipv6Protocol& ip, const Icmpv6Options& options);

  // An ICMPv6 message addressed to us; pkt starts at the ICMPv6 header.
  void handle_packet(Nic& nic, const ReceivedDatagram& dgram, PacketBuffer pkt);

  // An error about the received packet dgram.packet. `parameter` is the rest-of-header word:
  // the pointer of a Parameter Problem, the MTU of a Packet Too Big, else 0. Applies the
  // RFC 4443 2.4 (e) rules and the rate limit.
  void send_error(uint8_t type, uint8_t code, uint32_t parameter, const ReceivedDatagram& dgram);

  // Registers the owner of an ICMPv6 type (nullptr removes it).
  void set_handler(uint8_t type, Icmpv6Handler* handler) { handlers_[type] = handler; }
  Icmpv6Handler* handler(uint8_t type) const { return handlers_[type]; }

  const Icmpv6Counters& counters() const { return counters_; }
  Icmpv6Counters& counters() { return counters_; }

 private:
  void handle_echo(Nic& nic, const ReceivedDatagram& dgram, PacketBuffer pkt);
  void handle_error(uint8_t type, uint8_t code, uint32_t parameter, ByteView body);
  bool quotes_icmp_error(const PacketBuffer& packet) const;

  Ipv6Protocol& ip_;
  Icmpv6Options options_;
  bool peer_allows(const Ipv6Address& peer);

  TokenBucket error_bucket_;
  std::map<Ipv6Address, TokenBucket> peer_buckets_;
  std::array<Icmpv6Handler*, 256> handlers_{};
  Icmpv6Counters counters_;
};

}  // namespace weir::ipv6
