#include "ipv6/icmpv6.h"

#include <algorithm>
#include <array>

#include "ipv6/ipv6.h"
#include "ipv6/ndp_wire.h"
#include "ipv6/wire.h"
#include "stack/checksum.h"
#include "stack/nic.h"
#include "stack/stack.h"

namespace weir::ipv6 {

namespace {

bool is_mld_type(uint8_t type) {
  return type == kIcmpMldQuery || type == kIcmpMldReport || type == kIcmpMldDone ||
         type == kIcmpMldv2Report;
}

}  // namespace

Icmpv6::Icmpv6(Ipv6Protocol& ip, const Icmpv6Options& options)
    : ip_(ip),
      options_(options),
      error_bucket_(options.error_rate_per_second, options.error_burst, ip.stack().now()) {}

void Icmpv6::handle_packet(Nic& nic, const ReceivedDatagram& dgram, PacketBuffer pkt) {
  ++counters_.rx_messages;
  const size_t length = pkt.size();
  if (length < kIcmpHeaderLength) {
    ++counters_.rx_drop_truncated;
    return;
  }
  if (!pkt.meta().checksum_verified) {
    ChecksumAccumulator sum;
    sum.add_u16(pseudo_header_sum(dgram.info.source, dgram.info.destination, kProtocolIcmpv6,
                                  static_cast<uint32_t>(length)));
    sum.add(pkt);
    if (sum.finish() != 0) {
      ++counters_.rx_drop_bad_checksum;
      return;
    }
  }
  auto front = pkt.front(kIcmpHeaderLength);
  if (!front) {
    ++counters_.rx_drop_truncated;
    return;
  }
  auto header = IcmpHeader::parse(*front);
  if (!header) {
    ++counters_.rx_drop_truncated;
    return;
  }
  const uint8_t type = header->type();
  const uint8_t code = header->code();
  const uint32_t parameter = header->rest_of_header();

  if (type == kIcmpEchoRequest) {
    ++counters_.rx_echo_requests;
    handle_echo(nic, dgram, std::move(pkt));
    return;
  }
  if (type == kIcmpEchoReply) {
    // No ICMP sockets yet: counted, nobody to hand it to.
    ++counters_.rx_echo_replies;
    return;
  }
  if (is_ndp_type(type) || is_mld_type(type)) {
    if (is_ndp_type(type)) {
      ++counters_.rx_ndp;
    } else {
      ++counters_.rx_mld;
    }
    Icmpv6Handler* handler = handlers_[type];
    if (handler == nullptr) {
      ++counters_.rx_drop_no_handler;
      return;
    }
    auto whole = pkt.front(length);
    if (!whole) {
      ++counters_.rx_drop_truncated;
      return;
    }
    handler->handle_icmpv6(nic, dgram, *whole);
    return;
  }
  switch (type) {
    case kIcmpDestUnreachable:
      ++counters_.rx_dest_unreachable;
      break;
    case kIcmpPacketTooBig:
      ++counters_.rx_packet_too_big;
      break;
    case kIcmpTimeExceeded:
      ++counters_.rx_time_exceeded;
      break;
    case kIcmpParameterProblem:
      ++counters_.rx_parameter_problem;
      break;
    default:
      if (is_icmp_error(type)) {
        // RFC 4443 2.4 (a) wants it passed up, but no control event carries an unknown error.
        ++counters_.rx_unknown_errors;
      } else {
        ++counters_.rx_unknown_informational;  // 2.4 (b): discarded silently
      }
      return;
  }
  auto whole = pkt.front(length);
  if (!whole) {
    ++counters_.rx_drop_truncated;
    return;
  }
  handle_error(type, code, parameter, whole->subspan(kIcmpHeaderLength));
}

void Icmpv6::handle_echo(Nic& nic, const ReceivedDatagram& dgram, PacketBuffer pkt) {
  const bool multicast = dgram.info.to_broadcast_or_multicast;
  if (multicast && !options_.echo_reply_to_multicast) {
    ++counters_.rx_echo_drop_multicast;
    return;
  }
  // See ipv4/icmp.cc: a forwarding NIC does not answer pings for every address.
  if (dgram.info.foreign_destination) {
    ++counters_.rx_echo_drop_foreign_destination;
    return;
  }
  const Ipv6Address requester = dgram.info.source.v6();
  if (requester.is_unspecified() || requester.is_multicast()) {
    ++counters_.rx_echo_drop_bad_source;
    return;
  }
  // RFC 4443 4.2: from the address the request was sent to; for a request to a group, from a
  // unicast address of the NIC it arrived on.
  Ipv6Address local = dgram.info.destination.v6();
  if (multicast) {
    auto chosen = ip_.select_source(nic, IpAddress(requester), IpAddress(requester));
    if (!chosen || !chosen->is_v6()) {
      ++counters_.tx_echo_drop;
      return;
    }
    local = chosen->v6();
  }
  // The reply is the request with its type changed: identifier, sequence and data exactly as
  // they came (RFC 4443 4.2). The pseudo-header may differ, so the sum is computed afresh.
  const size_t length = pkt.size();
  auto bytes = pkt.mutable_front(kIcmpHeaderLength);
  if (!bytes) {
    ++counters_.tx_echo_drop;
    return;
  }
  store_u8(*bytes, 0, kIcmpEchoReply);
  store_u8(*bytes, 1, 0);
  store_be16(*bytes, 2, 0);
  ChecksumAccumulator sum;
  sum.add_u16(pseudo_header_sum(IpAddress(local), IpAddress(requester), kProtocolIcmpv6,
                                static_cast<uint32_t>(length)));
  sum.add(pkt);
  bytes = pkt.mutable_front(kIcmpHeaderLength);
  if (!bytes) {
    ++counters_.tx_echo_drop;
    return;
  }
  store_be16(*bytes, 2, sum.finish());
  pkt.meta() = PacketMeta{};

  IpWriteParams params;
  params.protocol = kProtocolIcmpv6;
  params.tos = dgram.info.tos;  // Linux reflects the traffic class in echo replies
  if (ip_.send_routed(local, requester, nic.id(), params, std::move(pkt))) {
    ++counters_.tx_echo_replies;
  } else {
    ++counters_.tx_echo_drop;
  }
}

void Icmpv6::handle_error(uint8_t type, uint8_t code, uint32_t parameter, ByteView body) {
  // The body quotes the packet we sent: its IPv6 header, its extension headers, and at least
  // the first 8 bytes of the upper-layer header we need to find the flow.
  if (body.size() < kHeaderLength || (load_u8(body, 0) >> 4) != 6) {
    ++counters_.rx_drop_bad_quoted_header;
    return;
  }
  const Ipv6Address quoted_source = Ipv6Address::from_bytes(body.subspan(8, 16));
  const Ipv6Address quoted_destination = Ipv6Address::from_bytes(body.subspan(24, 16));
  if (!ip_.stack().is_local_address(IpAddress(quoted_source))) {
    ++counters_.rx_drop_quoted_not_ours;
    return;
  }
  ExtHeaderIter it(body, body.size());
  ExtHeaderIter::Step step;
  while ((step = it.next()) == ExtHeaderIter::Step::kHeader) {
    if (it.header().type == kNextFragment) {
      // Only a first fragment holds the upper-layer header.
      if (parse_fragment_header(it.header().bytes).offset != 0) {
        ++counters_.rx_drop_quoted_fragment;
        return;
      }
    }
  }
  if (step != ExtHeaderIter::Step::kUpperLayer || body.size() < it.offset() + 8) {
    ++counters_.rx_drop_bad_quoted_header;
    return;
  }
  const uint8_t protocol = it.next_header();

  TransportControl control;
  switch (type) {
    case kIcmpDestUnreachable:
      // Linux's icmpv6_err_convert table.
      switch (code) {
        case kIcmpNoRoute:
          control.type = ControlType::kNetworkUnreachable;
          break;
        case kIcmpBeyondScope:
        case kIcmpAddressUnreachable:
          control.type = ControlType::kHostUnreachable;
          break;
        case kIcmpPortUnreachable:
          control.type = ControlType::kPortUnreachable;
          break;
        case kIcmpAdminProhibited:
        case kIcmpSourcePolicyFailed:
        case kIcmpRejectRoute:
          control.type = ControlType::kAdministrativelyProhibited;
          break;
        default:
          ++counters_.rx_drop_unknown_code;
          return;
      }
      break;
    case kIcmpPacketTooBig:
      control.type = ControlType::kFragmentationNeeded;
      // RFC 8201 4: never below the IPv6 minimum.
      control.mtu = std::max(parameter, kMinMtu);
      if (ip_.update_path_mtu(quoted_destination, control.mtu)) ++counters_.pmtu_updates;
      break;
    case kIcmpTimeExceeded:
      control.type = ControlType::kTimeExceeded;
      break;
    case kIcmpParameterProblem:
      // An unrecognized next header is IPv6's "protocol unreachable" (Linux: ECONNREFUSED).
      control.type = code == kIcmpUnrecognizedNextHeader ? ControlType::kProtocolUnreachable
                                                         : ControlType::kParameterProblem;
      break;
    default:
      ++counters_.rx_drop_unknown_code;
      return;
  }
  TransportProtocol* transport = ip_.stack().transport_protocol(protocol);
  if (protocol == kNextIcmpv6 || transport == nullptr) {
    ++counters_.rx_errors_no_transport;
    return;
  }
  control.local_address = IpAddress(quoted_source);
  control.remote_address = IpAddress(quoted_destination);
  control.transport_header = body.subspan(it.offset());
  ++counters_.rx_errors_delivered;
  transport->handle_control(control);
}

bool Icmpv6::quotes_icmp_error(const PacketBuffer& packet) const {
  // Walk the offending packet's own chain to its upper layer, as Linux's is_ineligible does.
  std::array<std::byte, 512> storage{};
  const size_t n = std::min(packet.size(), storage.size());
  packet.copy_out(0, MutableByteView(storage.data(), n));
  const ByteView bytes(storage.data(), n);
  if (bytes.size() < kHeaderLength) return false;
  ExtHeaderIter it(bytes, packet.size());
  ExtHeaderIter::Step step;
  while ((step = it.next()) == ExtHeaderIter::Step::kHeader) {
    // A later fragment's bytes are not an upper-layer header (Linux's ipv6_skip_exthdr stops
    // there too): nothing to be quiet about.
    if (it.header().type == kNextFragment && parse_fragment_header(it.header().bytes).offset != 0) {
      return false;
    }
  }
  if (step != ExtHeaderIter::Step::kUpperLayer || it.next_header() != kNextIcmpv6) return false;
  if (it.offset() >= bytes.size()) return true;  // an ICMPv6 message we cannot see: stay quiet
  const uint8_t type = load_u8(bytes, it.offset());
  return is_icmp_error(type) || type == kNdpRedirect;
}

bool Icmpv6::peer_allows(const Ipv6Address& peer) {
  if (options_.peer_interval <= Duration::zero()) return true;
  const TimePoint now = ip_.stack().now();
  auto it = peer_buckets_.find(peer);
  if (it == peer_buckets_.end()) {
    // Like Linux, the interval shrinks for peers reached through shorter prefixes (a /64
    // neighbor: a quarter; the default route: a sixteenth).
    unsigned prefix = 0;
    for (const Route& r : ip_.stack().routes()) {
      if (r.destination.contains(IpAddress(peer)))
        prefix = std::max<unsigned>(prefix, r.destination.length);
    }
    const Duration interval = options_.peer_interval / (1u << ((128 - prefix) >> 5));
    const auto per_second = static_cast<uint32_t>(
        std::max<int64_t>(1, std::chrono::seconds(1) / std::max(interval, Duration(1))));
    if (peer_buckets_.size() >= options_.max_peers) peer_buckets_.erase(peer_buckets_.begin());
    it = peer_buckets_.emplace(peer, TokenBucket(per_second, options_.peer_burst, now)).first;
  }
  return it->second.take(now);
}

void Icmpv6::send_error(uint8_t type, uint8_t code, uint32_t parameter,
                        const ReceivedDatagram& dgram) {
  if (dgram.packet == nullptr || dgram.packet->size() < kHeaderLength) return;
  // RFC 4443 2.4 (e.3-e.5): not about multicast, at either layer, except Packet Too Big and
  // a Parameter Problem for an option whose type demands it.
  const bool exception = type == kIcmpPacketTooBig ||
                         (type == kIcmpParameterProblem && code == kIcmpUnrecognizedOption);
  if (!exception &&
      (dgram.info.to_broadcast_or_multicast || dgram.link_type == LinkPacketType::kBroadcast ||
       dgram.link_type == LinkPacketType::kMulticast)) {
    ++counters_.tx_suppressed_multicast;
    return;
  }
  // (e.6): the source must name one node.
  const Ipv6Address source = dgram.info.source.v6();
  if (source.is_unspecified() || source.is_multicast()) {
    ++counters_.tx_suppressed_bad_source;
    return;
  }
  // (e.1, e.2): never about an error or a redirect.
  if (quotes_icmp_error(*dgram.packet)) {
    ++counters_.tx_suppressed_icmp_error;
    return;
  }
  if (!error_bucket_.take(ip_.stack().now()) || !peer_allows(source)) {
    ++counters_.tx_drop_rate_limited;
    return;
  }

  // 2.4 (c): as much of the packet as fits in a minimum-MTU IPv6 packet.
  const size_t quoted =
      std::min(dgram.packet->size(), size_t{kMinMtu} - kHeaderLength - kIcmpHeaderLength);
  const size_t length = kIcmpHeaderLength + quoted;
  PacketBuffer out = PacketBuffer::allocate(length);
  auto bytes = out.mutable_front(length);
  if (!bytes) {
    ++counters_.tx_drop_error;
    return;
  }
  dgram.packet->copy_out(0, bytes->subspan(kIcmpHeaderLength, quoted));

  // The source: the address the packet came to when it is one of ours (and unicast), else
  // what the route toward the offender picks.
  Ipv6Address local;
  const Ipv6Address destination = dgram.info.destination.v6();
  std::optional<RouteInfo> foreign_route;
  if (dgram.info.foreign_destination) {
    // A refused forwarded flow: the error comes from the address the peer tried, which is not
    // ours, so neither find_route nor send_routed would take it as a source.
    const Nic* nic = ip_.stack().nic(dgram.info.nic);
    if (nic == nullptr) {
      ++counters_.tx_drop_error;
      return;
    }
    foreign_route = nic->route_for_foreign_flow(IpAddress(source), IpAddress(destination));
    local = destination;
  } else if (!destination.is_multicast() && ip_.stack().is_local_address(IpAddress(destination))) {
    local = destination;
  } else {
    std::optional<NicId> nic;
    if (dgram.info.nic != 0) nic = dgram.info.nic;
    auto route = ip_.stack().find_route(IpAddress(source), IpAddress(Ipv6Address()),
                                        source.is_link_local() ? nic : std::nullopt);
    if (!route || !route->local_address.is_v6()) {
      ++counters_.tx_drop_error;
      return;
    }
    local = route->local_address.v6();
  }
  emit_icmp(*bytes, type, code, parameter, local, source);

  IpWriteParams params;
  params.protocol = kProtocolIcmpv6;
  std::optional<NicId> nic;
  if (dgram.info.nic != 0) nic = dgram.info.nic;
  Status sent = foreign_route ? ip_.write_packet(*foreign_route, params, std::move(out))
                              : ip_.send_routed(local, source, nic, params, std::move(out));
  if (!sent) {
    ++counters_.tx_drop_error;
    return;
  }
  switch (type) {
    case kIcmpDestUnreachable:
      ++counters_.tx_dest_unreachable;
      if (code == kIcmpPortUnreachable) ++counters_.tx_port_unreachable;
      break;
    case kIcmpPacketTooBig:
      ++counters_.tx_packet_too_big;
      break;
    case kIcmpTimeExceeded:
      ++counters_.tx_time_exceeded;
      break;
    case kIcmpParameterProblem:
      ++counters_.tx_parameter_problem;
      break;
    default:
      break;
  }
}

}  // namespace weir::ipv6
