// ICMPv4 (RFC 792, RFC 1122 3.2.2): echo replies, destination unreachable generation with a
// rate limit, and ICMP errors handed to the transport that sent the offending packet.
#pragma once

#include <cstdint>

#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"
#include "stack/protocol.h"
#include "stack/token_bucket.h"

namespace weir {
class Nic;
}

namespace weir::ipv4 {

class Ipv4Protocol;

// The generic token bucket (stack/token_bucket.h), under the name this layer always used.
using TokenBucket = weir::TokenBucket;

struct IcmpOptions {
  // Linux's icmp_ratelimit/icmp_msgs_per_sec shape: 1000 errors/s, bursts of 50.
  uint32_t error_rate_per_second = 1000;
  uint32_t error_burst = 50;
  // RFC 1122 3.2.2.6 allows either; like Linux (icmp_echo_ignore_broadcasts) we stay quiet.
  bool echo_reply_to_broadcast = false;
};

#define WEIR_ICMP_COUNTERS(X)                                                                    \
  X(rx_messages)                                                                                 \
  X(rx_drop_truncated)                                                                           \
  X(rx_drop_bad_checksum) X(rx_echo_requests) X(rx_echo_replies) X(rx_dest_unreachable)          \
      X(rx_time_exceeded) X(rx_parameter_problem) X(rx_source_quench) X(rx_redirect)             \
          X(rx_other_types) X(rx_drop_unknown_code) X(rx_drop_bad_quoted_header)                 \
              X(rx_drop_quoted_not_ours) X(rx_errors_no_transport) X(rx_errors_delivered)        \
                  X(rx_echo_drop_broadcast) X(rx_echo_drop_bad_source) X(rx_echo_drop_foreign_destination) X(tx_echo_replies)        \
                      X(tx_echo_drop) X(tx_dest_unreachable) X(tx_port_unreachable)              \
                          X(tx_protocol_unreachable) X(tx_time_exceeded) X(tx_drop_rate_limited) \
                              X(tx_suppressed_broadcast) X(tx_suppressed_bad_source)             \
                                  X(tx_suppressed_icmp_error) X(tx_suppressed_fragment)          \
                                      X(tx_drop_error)
WEIR_DEFINE_COUNTERS(IcmpCounters, WEIR_ICMP_COUNTERS)

// What the IPv4 layer knows about a received datagram, for ICMP's decisions.
struct ReceivedDatagram {
  NetworkPacketInfo info;
  LinkPacketType link_type = LinkPacketType::kHost;
  ByteView header;  // the IPv4 header as received (after reassembly: rewritten to match)
};

class Icmp {
 public:
  // RFC 1812 4.3.2.3: quote as much as fits in a 576-byte datagram.
  static constexpr size_t kMaxErrorDatagram = 576;

  Icmp(Ipv4Protocol& ip, const IcmpOptions& options);

  // An ICMP message addressed to us; pkt starts at the ICMP header.
  void handle_packet(Nic& nic, const ReceivedDatagram& dgram, PacketBuffer pkt);

  // Sends destination unreachable (code kIcmpProtocolUnreachable, kIcmpPortUnreachable, ...)
  // about a received datagram whose payload (after the IP header) is `payload`. Applies the
  // RFC 1122 suppression rules and the rate limit.
  void send_dest_unreachable(uint8_t code, const ReceivedDatagram& dgram,
                             const PacketBuffer& payload);
  // Any ICMP error (destination unreachable, time exceeded, ...) about a received datagram,
  // under the same rules.
  void send_error(uint8_t type, uint8_t code, const ReceivedDatagram& dgram,
                  const PacketBuffer& payload);

  const IcmpCounters& counters() const { return counters_; }
  IcmpCounters& counters() { return counters_; }

 private:
  void handle_echo(Nic& nic, const ReceivedDatagram& dgram, PacketBuffer pkt);
  void handle_error(uint8_t type, uint8_t code, uint16_t next_hop_mtu, ByteView body);

  Ipv4Protocol& ip_;
  IcmpOptions options_;
  TokenBucket error_bucket_;
  IcmpCounters counters_;
};

// RFC 1191 section 5: when a router sends frag-needed without a next-hop MTU, guess the next
// plateau below the datagram's length.
uint32_t mtu_plateau_below(uint32_t datagram_length);

}  // namespace weir::ipv4
