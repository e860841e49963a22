#include "ipv4/icmp.h"

#include <algorithm>
#include <array>

#include "ipv4/ipv4.h"
#include "ipv4/wire.h"
#include "stack/checksum.h"
#include "stack/nic.h"
#include "stack/stack.h"

namespace weir::ipv4 {

uint32_t mtu_plateau_below(uint32_t datagram_length) {
  static constexpr std::array<uint32_t, 11> kPlateaus = {65535, 32000, 17914, 8166, 4352, 2002,
                                                         1492,  1006,  508,   296,  68};
  for (uint32_t p : kPlateaus) {
    if (p < datagram_length) return p;
  }
  return kMinMtu;
}

Icmp::Icmp(Ipv4Protocol& ip, const IcmpOptions& options)
    : ip_(ip),
      options_(options),
      error_bucket_(options.error_rate_per_second, options.error_burst, ip.stack().now()) {}

void Icmp::handle_packet(Nic& nic, const ReceivedDatagram& dgram, PacketBuffer pkt) {
  ++counters_.rx_messages;
  if (pkt.size() < kIcmpHeaderLength) {
    ++counters_.rx_drop_truncated;
    return;
  }
  // The sum over the whole message, checksum field included, folds to 0xffff when valid.
  ChecksumAccumulator sum;
  sum.add(pkt);
  if (sum.finish() != 0) {
    ++counters_.rx_drop_bad_checksum;
    return;
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
  const uint16_t next_hop_mtu = header->next_hop_mtu();
  switch (type) {
    case kIcmpEchoRequest:
      ++counters_.rx_echo_requests;
      handle_echo(nic, dgram, std::move(pkt));
      return;
    case kIcmpEchoReply:
      // No ICMP sockets yet: counted, nobody to hand it to.
      ++counters_.rx_echo_replies;
      return;
    case kIcmpDestUnreachable:
      ++counters_.rx_dest_unreachable;
      break;
    case kIcmpTimeExceeded:
      ++counters_.rx_time_exceeded;
      break;
    case kIcmpParameterProblem:
      ++counters_.rx_parameter_problem;
      break;
    case kIcmpSourceQuench:
      // Deprecated (RFC 6633): ignored.
      ++counters_.rx_source_quench;
      return;
    case kIcmpRedirect:
      // Hosts may act on redirects (RFC 1122 3.2.2.2); we have no route cache to update, and
      // ignoring them is the safe choice.
      ++counters_.rx_redirect;
      return;
    default:
      ++counters_.rx_other_types;
      return;
  }
  auto whole = pkt.front(pkt.size());
  if (!whole) {
    ++counters_.rx_drop_truncated;
    return;
  }
  handle_error(type, code, next_hop_mtu, whole->subspan(kIcmpHeaderLength));
}

void Icmp::handle_echo(Nic& nic, const ReceivedDatagram& dgram, PacketBuffer pkt) {
  if (dgram.info.to_broadcast_or_multicast && !options_.echo_reply_to_broadcast) {
    ++counters_.rx_echo_drop_broadcast;
    return;
  }
  // A forwarding NIC takes packets for any address so that flows can be forwarded; answering
  // pings for all of them would claim every host behind it is up.
  if (dgram.info.foreign_destination) {
    ++counters_.rx_echo_drop_foreign_destination;
    return;
  }
  const Ipv4Address requester = dgram.info.source.v4();
  if (requester.is_unspecified() || requester.is_broadcast() || requester.is_multicast()) {
    ++counters_.rx_echo_drop_bad_source;
    return;
  }
  // Reply from the address the request was sent to; for a broadcast request, from this NIC's
  // address toward the requester.
  Ipv4Address local = dgram.info.destination.v4();
  if (dgram.info.to_broadcast_or_multicast) {
    auto chosen = nic.select_source(AddressFamily::kIpv4, IpAddress(requester));
    if (!chosen || !chosen->is_v4()) {
      ++counters_.tx_echo_drop;
      return;
    }
    local = chosen->v4();
  }

  // The reply is the request with the type changed: identifier, sequence and data are copied
  // exactly (RFC 792), and the checksum is patched rather than recomputed (RFC 1624).
  auto first = pkt.mutable_front(kIcmpHeaderLength);
  if (!first) {
    ++counters_.tx_echo_drop;
    return;
  }
  MutableByteView bytes = *first;
  const uint16_t old_word = load_be16(bytes, 0);
  store_u8(bytes, 0, kIcmpEchoReply);
  const uint16_t new_word = load_be16(bytes, 0);
  store_be16(bytes, 2, checksum_update16(load_be16(bytes, 2), old_word, new_word));
  pkt.meta() = PacketMeta{};

  IpWriteParams params;
  params.protocol = kProtocolIcmp;
  params.tos = dgram.info.tos;
  if (ip_.send_from(local, requester, params, std::move(pkt))) {
    ++counters_.tx_echo_replies;
  } else {
    ++counters_.tx_echo_drop;
  }
}

void Icmp::handle_error(uint8_t type, uint8_t code, uint16_t next_hop_mtu, ByteView body) {
  // The body quotes the datagram we sent: its IP header, then at least 8 transport bytes.
  if (body.size() < kMinHeaderLength) {
    ++counters_.rx_drop_bad_quoted_header;
    return;
  }
  const uint8_t first = load_u8(body, 0);
  const size_t quoted_header_length = size_t{first & 0x0fu} * 4;
  if ((first >> 4) != 4 || quoted_header_length < kMinHeaderLength ||
      body.size() < quoted_header_length + 8) {
    ++counters_.rx_drop_bad_quoted_header;
    return;
  }
  const Ipv4Address quoted_source(load_be32(body, 12));
  const Ipv4Address quoted_destination(load_be32(body, 16));
  const uint8_t quoted_protocol = load_u8(body, 9);
  const uint16_t quoted_total_length = load_be16(body, 2);
  if (!ip_.stack().is_local_address(IpAddress(quoted_source))) {
    ++counters_.rx_drop_quoted_not_ours;
    return;
  }

  TransportControl control;
  switch (type) {
    case kIcmpTimeExceeded:
      control.type = ControlType::kTimeExceeded;
      break;
    case kIcmpParameterProblem:
      control.type = ControlType::kParameterProblem;
      break;
    case kIcmpDestUnreachable:
      switch (code) {
        case kIcmpNetUnreachable:
        case 6:   // destination network unknown
        case 11:  // network unreachable for TOS
          control.type = ControlType::kNetworkUnreachable;
          break;
        case kIcmpHostUnreachable:
        case 7:   // destination host unknown
        case 8:   // source host isolated
        case 12:  // host unreachable for TOS
          control.type = ControlType::kHostUnreachable;
          break;
        case kIcmpProtocolUnreachable:
          control.type = ControlType::kProtocolUnreachable;
          break;
        case kIcmpPortUnreachable:
          control.type = ControlType::kPortUnreachable;
          break;
        case kIcmpFragmentationNeeded:
          control.type = ControlType::kFragmentationNeeded;
          control.mtu = next_hop_mtu != 0 ? next_hop_mtu : mtu_plateau_below(quoted_total_length);
          control.mtu = std::max(control.mtu, kMinMtu);
          break;
        case kIcmpSourceRouteFailed:
          control.type = ControlType::kSourceRouteFailed;
          break;
        case kIcmpNetProhibited:
        case kIcmpHostProhibited:
        case kIcmpAdminProhibited:
        case 14:  // host precedence violation
        case 15:  // precedence cutoff in effect
          control.type = ControlType::kAdministrativelyProhibited;
          break;
        default:
          ++counters_.rx_drop_unknown_code;
          return;
      }
      break;
    default:
      ++counters_.rx_drop_unknown_code;
      return;
  }
  TransportProtocol* transport = ip_.stack().transport_protocol(quoted_protocol);
  if (quoted_protocol == kProtocolIcmp || transport == nullptr) {
    ++counters_.rx_errors_no_transport;
    return;
  }
  control.local_address = IpAddress(quoted_source);
  control.remote_address = IpAddress(quoted_destination);
  control.transport_header = body.subspan(quoted_header_length);
  ++counters_.rx_errors_delivered;
  transport->handle_control(control);
}

void Icmp::send_dest_unreachable(uint8_t code, const ReceivedDatagram& dgram,
                                 const PacketBuffer& payload) {
  send_error(kIcmpDestUnreachable, code, dgram, payload);
}

void Icmp::send_error(uint8_t type, uint8_t code, const ReceivedDatagram& dgram,
                      const PacketBuffer& payload) {
  // RFC 1122 3.2.2: never about broadcast or multicast datagrams (IP or link layer), about a
  // source that is not one host, about a non-first fragment, or about an ICMP error.
  if (dgram.info.to_broadcast_or_multicast || dgram.link_type == LinkPacketType::kBroadcast ||
      dgram.link_type == LinkPacketType::kMulticast) {
    ++counters_.tx_suppressed_broadcast;
    return;
  }
  const Ipv4Address source = dgram.info.source.v4();
  if (source.is_unspecified() || source.is_broadcast() || source.is_multicast()) {
    ++counters_.tx_suppressed_bad_source;
    return;
  }
  if (dgram.header.size() < kMinHeaderLength) return;
  if ((load_be16(dgram.header, 6) & kFragmentOffsetMask) != 0) {
    ++counters_.tx_suppressed_fragment;
    return;
  }
  if (load_u8(dgram.header, 9) == kProtocolIcmp) {
    std::array<std::byte, 1> type{};
    if (!payload.empty()) payload.copy_out(0, type);
    if (payload.empty() || is_icmp_error(std::to_integer<uint8_t>(type[0]))) {
      ++counters_.tx_suppressed_icmp_error;
      return;
    }
  }
  if (!error_bucket_.take(ip_.stack().now())) {
    ++counters_.tx_drop_rate_limited;
    return;
  }

  const size_t room = kMaxErrorDatagram - kMinHeaderLength - kIcmpHeaderLength;
  const size_t quoted_payload = std::min(payload.size(), room - dgram.header.size());
  const size_t length = kIcmpHeaderLength + dgram.header.size() + quoted_payload;
  PacketBuffer out = PacketBuffer::allocate(length);
  auto bytes = out.mutable_front(length);
  if (!bytes) {
    ++counters_.tx_drop_error;
    return;
  }
  copy_bytes(*bytes, kIcmpHeaderLength, dgram.header);
  payload.copy_out(0, bytes->subspan(kIcmpHeaderLength + dgram.header.size(), quoted_payload));
  emit_icmp(*bytes, type, code, 0);

  IpWriteParams params;
  params.protocol = kProtocolIcmp;
  Status sent;
  if (dgram.info.foreign_destination) {
    // From the address the peer tried (a forwarded flow that was refused), which is not ours:
    // find_route would refuse it as a source.
    const Nic* nic = ip_.stack().nic(dgram.info.nic);
    sent = nic != nullptr ? ip_.write_packet(nic->route_for_foreign_flow(dgram.info.source,
                                                                         dgram.info.destination),
                                             params, std::move(out))
                          : Status(Error::kNoDevice);
  } else {
    sent = ip_.send_from(dgram.info.destination.v4(), source, params, std::move(out));
  }
  if (!sent) {
    ++counters_.tx_drop_error;
    return;
  }
  if (type == kIcmpTimeExceeded) {
    ++counters_.tx_time_exceeded;
    return;
  }
  ++counters_.tx_dest_unreachable;
  if (code == kIcmpPortUnreachable) ++counters_.tx_port_unreachable;
  if (code == kIcmpProtocolUnreachable) ++counters_.tx_protocol_unreachable;
}

}  // namespace weir::ipv4
