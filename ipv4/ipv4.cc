#include "ipv4/ipv4.h"

#include <algorithm>
#include <optional>

#include "ipv4/fragmentation.h"
#include "stack/checksum.h"
#include "stack/nic.h"
#include "stack/rng.h"
#include "stack/stack.h"

namespace weir::ipv4 {

namespace {

constexpr Ipv4Address kAllHostsGroup(224, 0, 0, 1);
// What the stack's secret is derived into for the IP ID buckets' starting values (the stack
// itself uses domains 1 and 2, IPv6's fragment IDs 4).
constexpr uint64_t kSecretDomainIds = 3;

}  // namespace

Ipv4Protocol::Ipv4Protocol(Stack& stack, const Ipv4Options& options, ArpProtocol& arp)
    : stack_(stack),
      options_(options),
      arp_(arp),
      icmp_(*this, options.icmp),
      reassembler_(stack.timers(), options.reassembly, &stack.fragment_memory()),
      ids_(stack.secret().derive(kSecretDomainIds)) {
  reassembler_.set_timeout_handler([this](ByteView header, const PacketBuffer& first_payload) {
    on_reassembly_timeout(header, first_payload);
  });
}

bool Ipv4Protocol::is_any_subnet_broadcast(Ipv4Address address) const {
  for (NicId id : stack_.nic_ids()) {
    if (const Nic* n = stack_.nic(id); n != nullptr && is_subnet_broadcast(*n, address))
      return true;
  }
  return false;
}

void Ipv4Protocol::on_reassembly_timeout(ByteView header, const PacketBuffer& first_payload) {
  // RFC 1122 3.3.2: tell the sender its datagram timed out, if we had its first fragment.
  if (header.size() < kMinHeaderLength) return;
  const Ipv4Address source(load_be32(header, 12));
  const Ipv4Address destination(load_be32(header, 16));
  ReceivedDatagram dgram;
  dgram.info.source = IpAddress(source);
  dgram.info.destination = IpAddress(destination);
  dgram.info.to_broadcast_or_multicast = destination.is_broadcast() || destination.is_multicast() ||
                                         is_any_subnet_broadcast(destination);
  dgram.header = header;
  icmp_.send_error(kIcmpTimeExceeded, kIcmpReassemblyTimeExceeded, dgram, first_payload);
}

Ipv4Protocol::~Ipv4Protocol() = default;

namespace {

// A v4 prefix's directed broadcast address; none for a /31 or /32 (RFC 3021: no broadcast).
std::optional<uint32_t> directed_broadcast(const IpPrefix& prefix) {
  if (prefix.length >= 31) return std::nullopt;
  const uint32_t host_mask = prefix.length == 0 ? 0xffffffffu : (0xffffffffu >> prefix.length);
  return prefix.address.v4().value() | host_mask;
}

}  // namespace

bool Ipv4Protocol::is_subnet_broadcast(const Nic& nic, Ipv4Address address) {
  for (const auto& prefix : nic.addresses()) {
    if (!prefix.address.is_v4()) continue;
    if (directed_broadcast(prefix) == address.value()) return true;
  }
  return false;
}

// Inlined into handle_packet(), its one caller: once per datagram received.
[[gnu::always_inline]] inline Ipv4Protocol::NicMatch Ipv4Protocol::match_nic(
    const Nic& nic, Ipv4Address source, Ipv4Address destination) {
  NicMatch match;
  for (const auto& prefix : nic.addresses()) {
    if (!prefix.address.is_v4()) continue;
    const uint32_t address = prefix.address.v4().value();
    match.destination_own = match.destination_own || address == destination.value();
    const std::optional<uint32_t> broadcast = directed_broadcast(prefix);
    match.source_broadcast = match.source_broadcast || broadcast == source.value();
    match.destination_broadcast = match.destination_broadcast || broadcast == destination.value();
  }
  return match;
}

void Ipv4Protocol::handle_packet(Nic& nic, PacketBuffer&& pkt) {
  ++counters_.rx_packets;
  const size_t size = pkt.size();
  if (size == 0) {
    ++counters_.drop_truncated;
    return;
  }
  // Only the header's own bytes are made contiguous: asking for the longest header there can
  // be would copy the start of the payload too whenever it sits in a chunk of its own (a
  // segment from a stack on a channel or loopback link: headers in one chunk, data in the
  // sender's buffer). The fixed header first, then the options if its IHL claims any: the
  // checks below see the first min(size, max(20, IHL*4)) bytes either way.
  auto front = pkt.front(std::min(size, kMinHeaderLength));
  if (front && size > kMinHeaderLength) {
    const size_t ihl_bytes = size_t{load_u8(*front, 0) & 0x0fu} * 4;
    if (ihl_bytes > kMinHeaderLength) front = pkt.front(std::min(size, ihl_bytes));
  }
  if (!front) {
    ++counters_.drop_truncated;
    return;
  }
  std::optional<Header> parsed;
  switch (Header::parse(*front, size, parsed)) {
    case HeaderCheck::kOk:
      break;
    case HeaderCheck::kTruncated:
      ++counters_.drop_truncated;
      return;
    case HeaderCheck::kBadVersion:
      ++counters_.drop_bad_version;
      return;
    case HeaderCheck::kBadIhl:
      ++counters_.drop_bad_ihl;
      return;
    case HeaderCheck::kBadTotalLength:
      ++counters_.drop_bad_total_length;
      return;
  }
  const Header& h = *parsed;
  if (!h.checksum_valid()) {
    ++counters_.drop_bad_checksum;
    return;
  }
  if (!walk_options(h.options(), [](const Option&) {})) {
    ++counters_.drop_bad_options;
    return;
  }

  // Keep our own copy: the view points into the packet, which is about to change shape. Only
  // the header's own bytes are ever read from it, so it is not zeroed first, and the usual
  // 20-byte header is a copy of constant size (no library call).
  std::array<std::byte, kMaxHeaderLength> header_storage;
  const size_t header_length = h.header_length();
  if (header_length == kMinHeaderLength) {
    copy_bytes(header_storage, 0, h.bytes().first<kMinHeaderLength>());
  } else {
    copy_bytes(header_storage, 0, h.bytes());
  }
  MutableByteView header(header_storage.data(), header_length);

  const Ipv4Address source = h.source();
  const Ipv4Address destination = h.destination();
  const uint16_t total_length = h.total_length();
  const bool is_fragment = h.is_fragment();
  const bool more_fragments = h.more_fragments();
  const uint32_t fragment_offset = h.fragment_offset();
  const uint8_t protocol = h.protocol();
  const uint16_t id = h.id();
  const LinkPacketType link_type = pkt.meta().link_type;

  const NicMatch match = match_nic(nic, source, destination);
  if (source.is_broadcast() || source.is_multicast() || match.source_broadcast) {
    ++counters_.drop_bad_source;
    return;
  }
  const bool broadcast = destination.is_broadcast() || match.destination_broadcast;
  const bool multicast = destination.is_multicast();
  bool foreign = false;  // for another host, taken because the NIC forwards
  if (multicast) {
    if (destination != kAllHostsGroup && !nic.in_group(IpAddress(destination))) {
      ++counters_.drop_multicast_not_joined;
      return;
    }
  } else if (!broadcast) {
    if (link_type == LinkPacketType::kOtherHost) {
      ++counters_.drop_not_for_us;
      return;
    }
    // The receiving NIC's own address is the usual answer, and a cheaper question than
    // every NIC's.
    if (!match.destination_own && !stack_.is_local_address(IpAddress(destination))) {
      if (!nic.accepts_any_destination()) {
        ++counters_.drop_not_for_us;
        return;
      }
      foreign = true;
    }
    // RFC 1122 3.3.6: a unicast datagram that came as a link-layer broadcast is suspect.
    if (link_type == LinkPacketType::kBroadcast || link_type == LinkPacketType::kMulticast) {
      ++counters_.drop_link_broadcast_unicast;
      return;
    }
  }

  pkt.truncate(total_length);
  pkt.pull_front(header_length);

  if (is_fragment) {
    ++counters_.rx_fragments;
    FragmentKey key{source, destination, protocol, id};
    auto done = reassembler_.add(key, header, fragment_offset, more_fragments, std::move(pkt));
    if (!done) return;
    ++counters_.rx_reassembled;
    // The first fragment's header stands for the datagram; make it describe the whole of it
    // (that is what an ICMP error about the datagram should quote).
    const size_t first_length = std::min(done->header.size(), kMaxHeaderLength);
    if (first_length < kMinHeaderLength) return;
    copy_bytes(header_storage, 0, ByteView(done->header).first(first_length));
    header = MutableByteView(header_storage.data(), first_length);
    const size_t whole = first_length + done->payload.size();
    store_be16(header, 2, static_cast<uint16_t>(std::min(whole, kMaxDatagramLength)));
    store_be16(header, 6, static_cast<uint16_t>(load_be16(header, 6) & kFlagDontFragment));
    store_be16(header, 10, 0);
    store_be16(header, 10, internet_checksum(header));
    pkt = std::move(done->payload);
    pkt.meta().nic = nic.id();
    pkt.meta().link_type = link_type;
    // A link cannot have verified a checksum spread over several fragments.
    pkt.meta().checksum_verified = false;
  }

  if (foreign) ++counters_.rx_foreign_destination;
  // Built in place: default-constructing it and then assigning each field wrote it twice.
  const ReceivedDatagram dgram{.info = {.nic = nic.id(),
                                        .source = IpAddress(source),
                                        .destination = IpAddress(destination),
                                        .ttl = load_u8(header, 8),
                                        .tos = load_u8(header, 1),
                                        .to_broadcast_or_multicast = broadcast || multicast,
                                        .foreign_destination = foreign},
                               .link_type = link_type,
                               .header = header};
  deliver(nic, dgram, std::move(pkt));
}

// Inlined into handle_packet(), its one caller: once per datagram received.
[[gnu::always_inline]] inline void Ipv4Protocol::deliver(Nic& nic, const ReceivedDatagram& dgram,
                                                         PacketBuffer&& payload) {
  const uint8_t protocol = load_u8(dgram.header, 9);
  if (protocol == kProtocolIcmp) {
    ++counters_.rx_delivered;
    icmp_.handle_packet(nic, dgram, std::move(payload));
    return;
  }
  TransportProtocol* transport = stack_.transport_protocol(protocol);
  if (transport == nullptr) {
    ++counters_.drop_unknown_protocol;
    icmp_.send_dest_unreachable(kIcmpProtocolUnreachable, dgram, payload);
    return;
  }
  switch (transport->handle_packet(dgram.info, payload)) {
    case TransportDelivery::kDelivered:
      ++counters_.rx_delivered;
      return;
    case TransportDelivery::kNoEndpoint:
      ++counters_.rx_no_endpoint;
      icmp_.send_dest_unreachable(kIcmpPortUnreachable, dgram, payload);
      return;
    case TransportDelivery::kMalformed:
      ++counters_.rx_transport_malformed;
      return;
  }
}

// Inlined into write_packet(), its one caller: once per datagram sent.
[[gnu::always_inline]] inline uint16_t Ipv4Protocol::next_id(Ipv4Address source,
                                                             Ipv4Address destination,
                                                             uint8_t protocol, uint16_t count) {
  const uint32_t mixed = (source.value() * 0x9e3779b1u) ^ destination.value() ^ protocol;
  IdFlow& memo = id_flows_[(mixed * 0x85ebca6bu) >> 28];
  if (!memo.valid || memo.source != source.value() || memo.destination != destination.value() ||
      memo.protocol != protocol) {
    remember_id_flow(memo, source, destination, protocol);
  }
  const uint16_t first = *memo.counter;
  *memo.counter = static_cast<uint16_t>(first + count);
  return first;
}

// Out of line: the hash key's buffer made every next_id() pay a stack-protected frame.
[[gnu::noinline]] void Ipv4Protocol::remember_id_flow(IdFlow& memo, Ipv4Address source,
                                                      Ipv4Address destination, uint8_t protocol) {
  std::array<std::byte, 9> key{};
  copy_bytes(key, 0, source.to_bytes());
  copy_bytes(key, 4, destination.to_bytes());
  key[8] = std::byte{protocol};
  memo = IdFlow{source.value(), destination.value(), protocol, true,
                &ids_.bucket(siphash24(stack_.secret(), key))};
}

bool Ipv4Protocol::update_segment_header(MutableByteView header, size_t packet_length,
                                         uint32_t index) const {
  if (header.size() < kMinHeaderLength || packet_length > kMaxDatagramLength ||
      size_t{load_u8(header, 0) & 0x0fu} * 4 != header.size()) {
    return false;
  }
  store_be16(header, 2, static_cast<uint16_t>(packet_length));
  store_be16(header, 4, static_cast<uint16_t>(load_be16(header, 4) + index));
  store_be16(header, 10, 0);
  store_be16(header, 10, internet_checksum(header));
  return true;
}

Status Ipv4Protocol::write_packet(const RouteInfo& route, const IpWriteParams& params,
                                  PacketBuffer&& pkt) {
  if (!route.remote_address.is_v4() || !route.local_address.is_v4()) {
    ++counters_.tx_drop_bad_route;
    return Error::kAddressFamilyNotSupported;
  }
  Nic* nic = stack_.nic(route.nic);
  if (nic == nullptr) {
    ++counters_.tx_drop_no_nic;
    return Error::kNoDevice;
  }
  if (pkt.size() + kMinHeaderLength > kMaxDatagramLength) {
    ++counters_.tx_drop_too_long;
    return Error::kMessageTooLong;
  }
  const Ipv4Address remote = route.remote_address.v4();
  uint32_t mtu = nic->mtu();
  if (route.mtu != 0) mtu = std::min(mtu, route.mtu);

  HeaderFields fields;
  fields.tos = params.tos;
  fields.ttl = params.ttl != 0 ? params.ttl
                               : (remote.is_multicast() ? options_.default_multicast_ttl
                                                        : options_.default_ttl);
  fields.protocol = params.protocol;
  fields.source = route.local_address.v4();
  fields.destination = remote;
  // A GSO packet becomes as many datagrams as it has segments, whether the link or the NIC cuts
  // it (stack/gso.h), and each takes the next identification.
  const bool gso = pkt.meta().gso_type != GsoType::kNone;
  fields.id = next_id(fields.source, remote, params.protocol,
                      gso ? std::max<uint16_t>(pkt.meta().gso_segments, 1) : 1);
  fields.flags_and_offset = params.dont_fragment ? kFlagDontFragment : 0;
  pkt.meta().network_protocol = kEtherTypeIpv4;

  if (pkt.size() + kMinHeaderLength <= mtu || gso) {
    fields.total_length = static_cast<uint16_t>(pkt.size() + kMinHeaderLength);
    emit_header(pkt.push_front(kMinHeaderLength), fields);
    return send_datagram(*nic, route, std::move(pkt));
  }
  return write_fragments(*nic, route, params, fields, mtu, std::move(pkt));
}

// Out of line: the fragment list and its loop gave every datagram's write_packet() a larger
// stack frame to set up and tear down.
[[gnu::noinline]] Status Ipv4Protocol::write_fragments(Nic& nic, const RouteInfo& route,
                                                       const IpWriteParams& params,
                                                       const HeaderFields& fields, uint32_t mtu,
                                                       PacketBuffer&& pkt) {
  if (params.dont_fragment) {
    ++counters_.tx_drop_fragmentation_needed;
    return Error::kMessageTooLong;
  }
  finish_offloaded_checksum(pkt, kMinHeaderLength);
  auto fragments = fragment(pkt, fields, mtu);
  if (!fragments) {
    ++counters_.tx_drop_fragmentation_needed;
    return fragments.error();
  }
  ++counters_.tx_fragmented_datagrams;
  Status result;
  for (auto& frag : *fragments) {
    ++counters_.tx_fragments;
    Status s = send_datagram(nic, route, std::move(frag));
    if (!s && result) result = s;
  }
  return result;
}

// Inlined into write_packet(), its one caller: once per datagram sent.
[[gnu::always_inline]] inline Status Ipv4Protocol::send_datagram(Nic& nic, const RouteInfo& route,
                                                                 PacketBuffer&& pkt) {
  ++counters_.tx_packets;
  const Ipv4Address remote = route.remote_address.v4();
  pkt.meta().network_protocol = kEtherTypeIpv4;
  Status s;
  const LinkCapabilities& caps = nic.link_capabilities();
  if (!caps.resolution_required) {
    s = nic.write_packet(std::move(pkt), caps);
  } else if (remote.is_broadcast() || route.broadcast || is_subnet_broadcast(nic, remote)) {
    pkt.meta().link_destination = MacAddress::broadcast();
    s = nic.write_packet(std::move(pkt), caps);
  } else if (remote.is_multicast()) {
    pkt.meta().link_destination = multicast_mac(remote);
    s = nic.write_packet(std::move(pkt), caps);
  } else {
    IpAddress next_hop = route.next_hop;
    if (!next_hop.is_v4() || next_hop.is_unspecified()) next_hop = route.remote_address;
    s = arp_.cache().send(nic, next_hop, std::move(pkt));
    if (!s) ++counters_.tx_drop_resolution;
    return s;
  }
  if (!s) ++counters_.tx_drop_link_error;
  return s;
}

Status Ipv4Protocol::send_from(Ipv4Address local, Ipv4Address remote, const IpWriteParams& params,
                               PacketBuffer pkt) {
  auto route = stack_.find_route(IpAddress(remote), IpAddress(local));
  if (!route) {
    ++counters_.tx_drop_no_route;
    return route.error();
  }
  return write_packet(*route, params, std::move(pkt));
}

void Ipv4Protocol::address_added(Nic& nic, const IpPrefix& prefix) {
  if (!prefix.address.is_v4()) return;
  if (!nic.endpoint().capabilities().resolution_required) return;
  arp_.announce(nic, prefix.address.v4());
}

Ipv4Protocol& install(Stack& stack, Ipv4Options options) {
  ArpProtocol& arp = stack.add_network_protocol(std::make_unique<ArpProtocol>(stack, options.arp));
  Ipv4Protocol& ip =
      stack.add_network_protocol(std::make_unique<Ipv4Protocol>(stack, options, arp));
  stack.counters().add_struct("ipv4", ip.counters());
  stack.counters().add_struct("ipv4_reassembly", ip.reassembler().counters());
  stack.counters().add_struct("icmpv4", ip.icmp().counters());
  stack.counters().add_struct("arp", arp.counters());
  stack.counters().add_struct("arp_cache", arp.cache().counters());
  return ip;
}

}  // namespace weir::ipv4
