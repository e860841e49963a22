#include "ipv6/ipv6.h"

#include <algorithm>

#include "ipv6/ndp_wire.h"
#include "stack/checksum.h"
#include "stack/nic.h"
#include "stack/rng.h"
#include "stack/stack.h"

namespace weir::ipv6 {

namespace {

// What the stack's secret is derived into for the fragment ID buckets' starting values (the
// stack itself uses domains 1 and 2, IPv4's IP IDs 3).
constexpr uint64_t kSecretDomainFragmentIds = 4;

// Bytes of the upper-layer header a first fragment must hold for the chain to count as whole
// (RFC 7112; the sizes Linux's ipv6frag_thdr_truncated uses).
size_t upper_layer_minimum(uint8_t next_header) {
  switch (next_header) {
    case kNextTcp:
      return 20;
    case kNextUdp:
    case kNextIcmpv6:
      return 8;
    case kNextNoNextHeader:
      return 0;
    default:
      return 1;
  }
}

// A hop-by-hop header with a Router Alert option (RFC 2711, value 0: MLD) padded to 8 bytes.
constexpr size_t kRouterAlertHeaderLength = 8;
void emit_router_alert_header(MutableByteView out, uint8_t next_header) {
  store_u8(out, 0, next_header);
  store_u8(out, 1, 0);  // (0 + 1) * 8 bytes
  store_u8(out, 2, kOptionRouterAlert);
  store_u8(out, 3, 2);
  store_be16(out, 4, 0);
  store_u8(out, 6, kOptionPadN);
  store_u8(out, 7, 0);
}

}  // namespace

Ipv6Protocol::Ipv6Protocol(Stack& stack, const Ipv6Options& options)
    : stack_(stack),
      options_(options),
      icmp_(*this, options.icmp),
      ndp_(stack, *this, options.ndp),
      reassembler_(stack.timers(), options.reassembly, &stack.fragment_memory()),
      ids_(stack.secret().derive(kSecretDomainFragmentIds)) {
  reassembler_.set_timeout_handler([this](ByteView headers, const PacketBuffer& payload) {
    on_reassembly_timeout(headers, payload);
  });
  icmp_.set_handler(kNdpNeighborSolicitation, &ndp_);
  icmp_.set_handler(kNdpNeighborAdvertisement, &ndp_);
}

Ipv6Protocol::~Ipv6Protocol() {
  while (!components_.empty()) components_.pop_back();
}

Ipv6Component& Ipv6Protocol::add_component(std::unique_ptr<Ipv6Component> component) {
  components_.push_back(std::move(component));
  return *components_.back();
}

bool Ipv6Protocol::is_our_unicast(const Nic& nic, const Ipv6Address& address) const {
  // A link-local address names an interface on its link: only the receiving NIC's count.
  if (address.is_link_local()) return nic.has_address(IpAddress(address));
  return stack_.is_local_address(IpAddress(address));
}

bool Ipv6Protocol::update_segment_header(MutableByteView header, size_t packet_length,
                                         uint32_t index) const {
  (void)index;  // IPv6 has no per-datagram identification outside fragments
  // Only a bare header: the segmenter would otherwise have to know every extension header.
  if (header.size() != kHeaderLength || packet_length < kHeaderLength ||
      packet_length - kHeaderLength > 0xffff) {
    return false;
  }
  store_be16(header, 4, static_cast<uint16_t>(packet_length - kHeaderLength));
  return true;
}

void Ipv6Protocol::handle_packet(Nic& nic, PacketBuffer&& pkt) {
  ++counters_.rx_packets;
  const size_t size = pkt.size();
  auto front = pkt.front(std::min(size, kHeaderLength));
  if (!front || size < kHeaderLength) {
    ++counters_.drop_truncated;
    return;
  }
  switch (check_header(*front, size)) {
    case HeaderCheck::kOk:
      break;
    case HeaderCheck::kTruncated:
      ++counters_.drop_truncated;
      return;
    case HeaderCheck::kBadVersion:
      ++counters_.drop_bad_version;
      return;
    case HeaderCheck::kBadPayloadLength:
      ++counters_.drop_bad_payload_length;
      return;
  }
  auto parsed = Header::parse(*front, size);
  if (!parsed) {
    ++counters_.drop_truncated;
    return;
  }
  const Ipv6Address source = parsed->source();
  const Ipv6Address destination = parsed->destination();
  const size_t total = kHeaderLength + parsed->payload_length();
  ReceivedDatagram dgram;
  dgram.info.nic = nic.id();
  dgram.info.source = IpAddress(source);
  dgram.info.destination = IpAddress(destination);
  dgram.info.ttl = parsed->hop_limit();
  dgram.info.tos = parsed->traffic_class();
  dgram.link_type = pkt.meta().link_type;

  const bool loopback_nic = nic.endpoint().capabilities().loopback;
  // RFC 4291 2.5.3, 2.7: multicast is never a source, loopback never crosses a link, and
  // IPv4-mapped addresses never appear on the wire (they would let a peer impersonate an
  // IPv4 host to a dual-stack socket).
  if (source.is_multicast() || (source.is_loopback() && !loopback_nic) || is_v4_mapped(source)) {
    ++counters_.drop_bad_source;
    return;
  }
  if (destination.is_unspecified() || (destination.is_loopback() && !loopback_nic) ||
      is_v4_mapped(destination)) {
    ++counters_.drop_bad_destination;
    return;
  }
  if (destination.is_multicast()) {
    const uint8_t scope = multicast_scope(destination);
    if (scope == 0 || (scope == 1 && !loopback_nic)) {
      ++counters_.drop_bad_destination;
      return;
    }
    if (destination != all_nodes_group() && !nic.in_group(IpAddress(destination))) {
      ++counters_.drop_multicast_not_joined;
      return;
    }
    dgram.info.to_broadcast_or_multicast = true;
  } else if (dgram.link_type == LinkPacketType::kOtherHost) {
    ++counters_.drop_not_for_us;
    return;
  } else if (!is_our_unicast(nic, destination)) {
    // Link-local addresses name interfaces on this link, not flows to forward.
    if (!nic.accepts_any_destination() || destination.is_link_local()) {
      ++counters_.drop_not_for_us;
      return;
    }
    dgram.info.foreign_destination = true;
    ++counters_.rx_foreign_destination;
  }

  pkt.truncate(total);
  auto chain = pkt.front(std::min(total, kHeaderLength + 8));
  if (!chain) {
    ++counters_.drop_truncated;
    return;
  }
  process(nic, dgram, std::move(pkt), ExtHeaderIter(*chain, total), false);
}

void Ipv6Protocol::process(Nic& nic, ReceivedDatagram& dgram, PacketBuffer pkt, ExtHeaderIter it,
                           bool resumed) {
  dgram.packet = &pkt;
  for (;;) {
    const size_t naming_field = it.next_header_field();
    switch (it.next()) {
      case ExtHeaderIter::Step::kNeedMore: {
        auto more = pkt.front(std::min(pkt.size(), it.needed()));
        if (!more) {
          ++counters_.drop_truncated_extension_header;
          return;
        }
        it.rebind(*more);
        continue;
      }
      case ExtHeaderIter::Step::kTruncated:
        ++counters_.drop_truncated_extension_header;
        return;
      case ExtHeaderIter::Step::kTooLong:
        ++counters_.drop_too_many_extension_headers;
        return;
      case ExtHeaderIter::Step::kUpperLayer:
        deliver(nic, dgram, pkt, it.next_header(), it.offset(), it.next_header_field());
        return;
      case ExtHeaderIter::Step::kHeader:
        break;
    }
    const ExtensionHeader header = it.header();
    switch (header.type) {
      case kNextHopByHop:
        // RFC 8200 4.1: only right after the IPv6 header.
        if (resumed || header.offset != kHeaderLength) {
          ++counters_.drop_hop_by_hop_not_first;
          icmp_.send_error(kIcmpParameterProblem, kIcmpUnrecognizedNextHeader,
                           static_cast<uint32_t>(naming_field), dgram);
          return;
        }
        if (process_options(dgram, header, true) == OptionsVerdict::kDropped) return;
        continue;
      case kNextDestinationOptions:
        if (process_options(dgram, header, false) == OptionsVerdict::kDropped) return;
        continue;
      case kNextRouting: {
        const RoutingHeader routing = parse_routing_header(header.bytes);
        if (routing.segments_left == 0) continue;
        // RFC 8200 4.4 and RFC 5095: a host forwards along no route, whatever the type.
        ++counters_.drop_routing_header;
        icmp_.send_error(kIcmpParameterProblem, kIcmpErroneousHeader,
                         static_cast<uint32_t>(header.offset + kRoutingTypeOffset), dgram);
        return;
      }
      case kNextFragment:
        break;
      default:
        return;  // ExtHeaderIter yields no other type
    }

    // A Fragment header.
    ++counters_.rx_fragments;
    const FragmentHeader fragment = parse_fragment_header(header.bytes);
    const size_t payload_offset = header.offset + kFragmentHeaderLength;
    const size_t payload_length = pkt.size() - payload_offset;
    if (fragment.offset == 0 && !fragment.more) {
      // RFC 6946: an atomic fragment is a whole packet; the walk simply goes on.
      ++counters_.rx_atomic_fragments;
      continue;
    }
    if (fragment.more && payload_length % 8 != 0) {
      ++counters_.drop_fragment_bad_length;
      icmp_.send_error(kIcmpParameterProblem, kIcmpErroneousHeader, kPayloadLengthOffset, dgram);
      return;
    }
    if (fragment.offset + payload_length > kMaxPayloadLength) {
      ++counters_.drop_fragment_too_long;
      icmp_.send_error(kIcmpParameterProblem, kIcmpErroneousHeader,
                       static_cast<uint32_t>(header.offset + kFragmentOffsetField), dgram);
      return;
    }
    if (fragment.offset == 0 &&
        !first_fragment_complete(pkt, fragment.next_header, payload_offset, header.offset)) {
      // RFC 7112 / RFC 8200 4.5: the first fragment must carry the whole header chain.
      ++counters_.drop_fragment_incomplete_chain;
      icmp_.send_error(kIcmpParameterProblem, kIcmpIncompleteChain, 0, dgram);
      return;
    }
    auto headers = pkt.front(payload_offset);
    if (!headers) {
      ++counters_.drop_truncated_extension_header;
      return;
    }
    Fragment piece;
    piece.headers = *headers;
    piece.next_header_field = naming_field;
    piece.next_header = fragment.next_header;
    piece.offset = fragment.offset;
    piece.more = fragment.more;
    const FragmentKey key{dgram.info.source.v6(), dgram.info.destination.v6(), fragment.id};
    auto done = reassembler_.add(key, piece, pkt.slice(payload_offset, payload_length));
    if (!done) return;
    ++counters_.rx_reassembled;

    // The reassembled packet: the unfragmentable part without the Fragment header, naming
    // the fragmentable part's first header, then the payload.
    const size_t unfragmentable = done->headers.size() - kFragmentHeaderLength;
    const size_t whole = unfragmentable + done->payload.size();
    if (done->next_header_field >= unfragmentable || whole - kHeaderLength > kMaxPayloadLength) {
      ++counters_.drop_fragment_too_long;
      return;
    }
    PacketBuffer reassembled =
        PacketBuffer::from_bytes(ByteView(done->headers).first(unfragmentable));
    auto bytes = reassembled.mutable_front(unfragmentable);
    if (!bytes) return;
    store_u8(*bytes, done->next_header_field, done->next_header);
    store_be16(*bytes, kPayloadLengthOffset, static_cast<uint16_t>(whole - kHeaderLength));
    reassembled.append(std::move(done->payload));
    reassembled.meta().network_protocol = kEtherTypeIpv6;
    reassembled.meta().nic = nic.id();
    reassembled.meta().link_type = dgram.link_type;
    reassembled.meta().checksum_verified = false;
    pkt = std::move(reassembled);
    auto view = pkt.front(std::min(pkt.size(), unfragmentable + 8));
    if (!view) return;
    it = ExtHeaderIter(*view, pkt.size(), done->next_header, unfragmentable,
                       done->next_header_field);
    resumed = true;
  }
}

Ipv6Protocol::OptionsVerdict Ipv6Protocol::process_options(ReceivedDatagram& dgram,
                                                           const ExtensionHeader& header,
                                                           bool hop_by_hop) {
  enum class Outcome : uint8_t { kNone, kDrop, kDropSilently, kError };
  Outcome outcome = Outcome::kNone;
  uint8_t code = kIcmpUnrecognizedOption;
  size_t pointer = 0;
  const bool multicast = dgram.info.to_broadcast_or_multicast;
  const ExtOptionsCheck check = walk_ext_options(header.bytes, [&](const ExtOption& option) {
    const size_t at = header.offset + option.offset;
    if (hop_by_hop && option.type == kOptionRouterAlert) {
      if (option.data.size() != 2) {
        outcome = Outcome::kDropSilently;
        return false;
      }
      dgram.router_alert = true;
      return true;
    }
    if (hop_by_hop && option.type == kOptionJumboPayload) {
      // Linux's answer: a Jumbo Payload option with a non-zero payload length (which is all we
      // can see here) is an erroneous field.
      ++counters_.drop_jumbo_payload;
      if (option.data.size() != 4) {
        outcome = Outcome::kDropSilently;
        return false;
      }
      outcome = Outcome::kError;
      code = kIcmpErroneousHeader;
      pointer = at + 2;
      return false;
    }
    switch (option_action(option.type)) {
      case OptionAction::kSkip:
        return true;
      case OptionAction::kDiscard:
        outcome = Outcome::kDrop;
        return false;
      case OptionAction::kDiscardSendError:
        outcome = Outcome::kError;
        pointer = at;
        return false;
      case OptionAction::kDiscardSendErrorUnicast:
        outcome = multicast ? Outcome::kDrop : Outcome::kError;
        pointer = at;
        return false;
    }
    return true;
  });
  if (check != ExtOptionsCheck::kOk) {
    ++counters_.drop_bad_options;
    return OptionsVerdict::kDropped;
  }
  switch (outcome) {
    case Outcome::kNone:
      return OptionsVerdict::kContinue;
    case Outcome::kDropSilently:
      ++counters_.drop_bad_options;
      return OptionsVerdict::kDropped;
    case Outcome::kDrop:
      ++counters_.drop_unknown_option;
      return OptionsVerdict::kDropped;
    case Outcome::kError:
      if (code == kIcmpUnrecognizedOption) ++counters_.drop_unknown_option;
      icmp_.send_error(kIcmpParameterProblem, code, static_cast<uint32_t>(pointer), dgram);
      return OptionsVerdict::kDropped;
  }
  return OptionsVerdict::kDropped;
}

bool Ipv6Protocol::first_fragment_complete(PacketBuffer& pkt, uint8_t next_header, size_t offset,
                                           size_t next_header_field) {
  auto view = pkt.front(std::min(pkt.size(), offset + 8));
  if (!view) return false;
  ExtHeaderIter it(*view, pkt.size(), next_header, offset, next_header_field);
  for (;;) {
    switch (it.next()) {
      case ExtHeaderIter::Step::kHeader:
        // A second Fragment header inside a fragment cannot be reassembled either.
        if (it.header().type == kNextFragment) return false;
        continue;
      case ExtHeaderIter::Step::kNeedMore: {
        auto more = pkt.front(std::min(pkt.size(), it.needed()));
        if (!more) return false;
        it.rebind(*more);
        continue;
      }
      case ExtHeaderIter::Step::kUpperLayer:
        return it.offset() + upper_layer_minimum(it.next_header()) <= pkt.size();
      case ExtHeaderIter::Step::kTruncated:
      case ExtHeaderIter::Step::kTooLong:
        return false;
    }
  }
}

void Ipv6Protocol::deliver(Nic& nic, ReceivedDatagram& dgram, PacketBuffer& pkt,
                           uint8_t next_header, size_t offset, size_t next_header_field) {
  if (next_header == kNextNoNextHeader) {
    ++counters_.rx_no_next_header;
    return;
  }
  PacketBuffer payload = pkt.slice(offset, pkt.size() - offset);
  payload.meta() = pkt.meta();
  if (next_header == kNextIcmpv6) {
    ++counters_.rx_delivered;
    icmp_.handle_packet(nic, dgram, std::move(payload));
    return;
  }
  TransportProtocol* transport = stack_.transport_protocol(next_header);
  if (transport == nullptr) {
    ++counters_.drop_unknown_next_header;
    icmp_.send_error(kIcmpParameterProblem, kIcmpUnrecognizedNextHeader,
                     static_cast<uint32_t>(next_header_field), dgram);
    return;
  }
  switch (transport->handle_packet(dgram.info, payload)) {
    case TransportDelivery::kDelivered:
      ++counters_.rx_delivered;
      return;
    case TransportDelivery::kNoEndpoint:
      ++counters_.rx_no_endpoint;
      icmp_.send_error(kIcmpDestUnreachable, kIcmpPortUnreachable, 0, dgram);
      return;
    case TransportDelivery::kMalformed:
      ++counters_.rx_transport_malformed;
      return;
  }
}

void Ipv6Protocol::on_reassembly_timeout(ByteView headers, const PacketBuffer& payload) {
  // RFC 8200 4.5: Time Exceeded code 1 to the source, quoting the first fragment.
  if (headers.size() < kHeaderLength) return;
  auto header = Header::parse(headers, headers.size() + payload.size());
  if (!header) return;
  PacketBuffer first = PacketBuffer::from_bytes(headers);
  first.append(payload.clone());
  ReceivedDatagram dgram;
  dgram.info.source = IpAddress(header->source());
  dgram.info.destination = IpAddress(header->destination());
  dgram.info.to_broadcast_or_multicast = header->destination().is_multicast();
  // The NIC the fragments came in on is not kept: the route toward the source picks one.
  for (NicId id : stack_.nic_ids()) {
    const Nic* n = stack_.nic(id);
    if (n != nullptr && n->has_address(dgram.info.destination)) dgram.info.nic = id;
  }
  dgram.packet = &first;
  icmp_.send_error(kIcmpTimeExceeded, kIcmpReassemblyTimeExceeded, 0, dgram);
}

// ---------------------------------------------------------------------------------------------
// Send.

uint32_t Ipv6Protocol::next_fragment_id(const Ipv6Address& source, const Ipv6Address& destination) {
  std::array<std::byte, 32> key{};
  copy_bytes(key, 0, source.bytes());
  copy_bytes(key, 16, destination.bytes());
  const uint64_t h = siphash24(stack_.secret(), key);
  uint32_t& next = ids_.bucket(h);
  uint32_t id = ++next;
  if (id == 0) id = ++next;  // Linux never uses 0
  return id;
}

std::optional<uint32_t> Ipv6Protocol::learned_path_mtu(const Ipv6Address& destination) const {
  auto it = pmtu_.find(destination);
  if (it == pmtu_.end() || it->second.expires <= stack_.now()) return std::nullopt;
  return it->second.mtu;
}

void Ipv6Protocol::set_link_mtu(NicId nic, uint32_t mtu) {
  if (mtu == 0) {
    link_mtu_.erase(nic);
  } else {
    link_mtu_[nic] = std::max(mtu, kMinMtu);
  }
}

uint32_t Ipv6Protocol::link_mtu(const Nic& nic) const {
  auto it = link_mtu_.find(nic.id());
  return it == link_mtu_.end() ? nic.mtu() : std::min(nic.mtu(), it->second);
}

uint32_t Ipv6Protocol::path_mtu(const Nic& nic, const IpAddress& remote) const {
  const uint32_t link = link_mtu(nic);
  if (!remote.is_v6()) return link;
  auto learned = learned_path_mtu(remote.v6());
  return learned ? std::min(*learned, link) : link;
}

std::optional<IpAddress> Ipv6Protocol::select_source(const Nic& nic, const IpAddress& remote,
                                                     const IpAddress& next_hop) const {
  if (source_selector_) return source_selector_(nic, remote, next_hop);
  if (!remote.is_v6()) return nic.select_source(remote.family(), next_hop);
  const bool want_link_local = remote.v6().is_link_local() ||
                               (remote.v6().is_multicast() && multicast_scope(remote.v6()) <= 2);
  std::optional<IpAddress> holds_remote, holds_next_hop, same_scope, any;
  for (const IpPrefix& p : nic.addresses()) {
    if (!p.address.is_v6()) continue;
    if (!any) any = p.address;
    if (p.address.v6().is_link_local() != want_link_local) continue;
    if (!holds_remote && p.contains(remote)) holds_remote = p.address;
    if (!holds_next_hop && p.contains(next_hop)) holds_next_hop = p.address;
    if (!same_scope) same_scope = p.address;
  }
  if (holds_remote) return holds_remote;
  if (holds_next_hop) return holds_next_hop;
  if (same_scope) return same_scope;
  return any;
}

bool Ipv6Protocol::update_path_mtu(const Ipv6Address& destination, uint32_t mtu) {
  mtu = std::max(mtu, kMinMtu);
  const TimePoint now = stack_.now();
  auto it = pmtu_.find(destination);
  if (it != pmtu_.end() && it->second.expires > now && it->second.mtu <= mtu) return false;
  // The link MTU is a bound too: a PTB above it tells us nothing.
  uint32_t link = 0;
  if (auto route = stack_.find_route(IpAddress(destination)); route) {
    if (const Nic* n = stack_.nic(route->nic)) link = link_mtu(*n);
  }
  if (link != 0 && mtu >= link) return false;
  if (it == pmtu_.end()) {
    if (pmtu_.size() >= options_.pmtu_cache_entries) {
      // Make room: expired entries first, else the one expiring soonest.
      auto victim = pmtu_.begin();
      for (auto e = pmtu_.begin(); e != pmtu_.end(); ++e) {
        if (e->second.expires < victim->second.expires) victim = e;
      }
      pmtu_.erase(victim);
    }
    it = pmtu_.emplace(destination, PmtuEntry{}).first;
  }
  it->second.mtu = mtu;
  it->second.expires = now + options_.pmtu_expiry;
  return true;
}

Status Ipv6Protocol::write_packet(const RouteInfo& route, const IpWriteParams& params,
                                  PacketBuffer&& pkt) {
  if (!route.remote_address.is_v6() || !route.local_address.is_v6()) {
    ++counters_.tx_drop_bad_route;
    return Error::kAddressFamilyNotSupported;
  }
  Nic* nic = stack_.nic(route.nic);
  if (nic == nullptr) {
    ++counters_.tx_drop_no_nic;
    return Error::kNoDevice;
  }
  uint32_t mtu = path_mtu(*nic, route.remote_address);
  if (route.mtu != 0) mtu = std::min(mtu, route.mtu);
  LocalSend how;
  how.next_header = params.protocol;
  how.hop_limit = params.ttl;
  how.traffic_class = params.tos;
  IpAddress next_hop = route.next_hop;
  if (!next_hop.is_v6() || next_hop.is_unspecified()) next_hop = route.remote_address;
  return output(*nic, route.local_address.v6(), route.remote_address.v6(), next_hop, mtu, how,
                std::move(pkt));
}

Status Ipv6Protocol::output(Nic& nic, const Ipv6Address& source, const Ipv6Address& destination,
                            const IpAddress& next_hop, uint32_t mtu, const LocalSend& how,
                            PacketBuffer pkt) {
  const size_t extra = how.router_alert ? kRouterAlertHeaderLength : 0;
  if (pkt.size() + extra > kMaxPayloadLength) {
    ++counters_.tx_drop_too_long;
    return Error::kMessageTooLong;
  }
  mtu = std::max(mtu, kMinMtu);
  HeaderFields fields;
  fields.traffic_class = how.traffic_class;
  fields.hop_limit = how.hop_limit != 0
                         ? how.hop_limit
                         : (destination.is_multicast() ? options_.default_multicast_hop_limit
                                                       : options_.default_hop_limit);
  fields.source = source;
  fields.destination = destination;
  pkt.meta().network_protocol = kEtherTypeIpv6;

  uint8_t first = how.next_header;
  if (how.router_alert) {
    emit_router_alert_header(pkt.push_front(kRouterAlertHeaderLength), how.next_header);
    first = kNextHopByHop;
  }
  // A GSO packet is cut by the link or by the NIC (stack/gso.h), never fragmented.
  const bool gso = pkt.meta().gso_type != GsoType::kNone;
  if (pkt.size() + kHeaderLength <= mtu || gso) {
    fields.next_header = first;
    fields.payload_length = static_cast<uint16_t>(pkt.size());
    emit_header(pkt.push_front(kHeaderLength), fields);
    return send_datagram(nic, destination, next_hop, std::move(pkt), how.link_destination);
  }

  // Fragment: every fragment but the last carries the largest multiple of 8 bytes that fits
  // after the IPv6 and Fragment headers. Only our own router alert header would belong to the
  // unfragmentable part, and MLD messages never come near the MTU.
  finish_offloaded_checksum(pkt, kHeaderLength + extra);
  const size_t chunk = (size_t{mtu} - kHeaderLength - kFragmentHeaderLength) & ~size_t{7};
  FragmentHeader fh;
  fh.next_header = first;
  fh.id = next_fragment_id(source, destination);
  fields.next_header = kNextFragment;
  ++counters_.tx_fragmented_datagrams;
  Status result;
  size_t offset = 0;
  const size_t total = pkt.size();
  do {
    const size_t length = std::min(chunk, total - offset);
    PacketBuffer frag = pkt.slice(offset, length);
    frag.meta() = pkt.meta();
    frag.meta().gso_type = GsoType::kNone;
    fh.offset = static_cast<uint32_t>(offset);
    fh.more = offset + length < total;
    emit_fragment_header(frag.push_front(kFragmentHeaderLength), fh);
    fields.payload_length = static_cast<uint16_t>(length + kFragmentHeaderLength);
    emit_header(frag.push_front(kHeaderLength), fields);
    ++counters_.tx_fragments;
    Status s = send_datagram(nic, destination, next_hop, std::move(frag), how.link_destination);
    if (!s && result) result = s;
    offset += length;
  } while (offset < total);
  return result;
}

Status Ipv6Protocol::send_datagram(Nic& nic, const Ipv6Address& destination,
                                   const IpAddress& next_hop, PacketBuffer pkt,
                                   const std::optional<MacAddress>& link_destination) {
  ++counters_.tx_packets;
  pkt.meta().network_protocol = kEtherTypeIpv6;
  Status s;
  if (!nic.endpoint().capabilities().resolution_required) {
    s = nic.write_packet(std::move(pkt));
  } else if (link_destination) {
    pkt.meta().link_destination = *link_destination;
    s = nic.write_packet(std::move(pkt));
  } else if (destination.is_multicast()) {
    pkt.meta().link_destination = multicast_mac(destination);
    s = nic.write_packet(std::move(pkt));
  } else {
    s = ndp_.cache().send(nic, next_hop, std::move(pkt));
    if (!s) ++counters_.tx_drop_resolution;
    return s;
  }
  if (!s) ++counters_.tx_drop_link_error;
  return s;
}

Status Ipv6Protocol::send_on_link(Nic& nic, const Ipv6Address& source,
                                  const Ipv6Address& destination, const LocalSend& how,
                                  PacketBuffer pkt) {
  return output(nic, source, destination, IpAddress(destination), link_mtu(nic), how,
                std::move(pkt));
}

Status Ipv6Protocol::send_icmp(Nic& nic, const Ipv6Address& source, const Ipv6Address& destination,
                               const LocalSend& how, PacketBuffer message) {
  const size_t length = message.size();
  auto bytes = message.mutable_front(length);
  if (!bytes || length < 4) return Error::kInvalidArgument;
  store_be16(*bytes, 2, 0);
  ChecksumAccumulator sum;
  sum.add_u16(pseudo_header_sum(IpAddress(source), IpAddress(destination), kProtocolIcmpv6,
                                static_cast<uint32_t>(length)));
  sum.add(ByteView(*bytes));
  store_be16(*bytes, 2, sum.finish());
  LocalSend icmp_how = how;
  icmp_how.next_header = kNextIcmpv6;
  return send_on_link(nic, source, destination, icmp_how, std::move(message));
}

Status Ipv6Protocol::send_routed(const Ipv6Address& local, const Ipv6Address& remote,
                                 std::optional<NicId> nic, const IpWriteParams& params,
                                 PacketBuffer pkt) {
  // A link-local peer is reachable only through the NIC it talked to us on.
  if (!remote.is_link_local() && !remote.is_multicast()) nic.reset();
  auto route = stack_.find_route(IpAddress(remote), IpAddress(local), nic);
  if (!route && !local.is_unspecified()) {
    // The address the packet came to may not be a good source toward the peer (a multicast
    // destination, say): let the route choose.
    route = stack_.find_route(IpAddress(remote), IpAddress(Ipv6Address()), nic);
  }
  if (!route) {
    ++counters_.tx_drop_no_route;
    return route.error();
  }
  return write_packet(*route, params, std::move(pkt));
}

void Ipv6Protocol::address_added(Nic& nic, const IpPrefix& prefix) {
  if (!prefix.address.is_v6()) return;
  nic.join_group(IpAddress(solicited_node_group(prefix.address.v6())));
  for (const auto& hook : address_hooks_) hook(nic, prefix);
}

Ipv6Protocol& install(Stack& stack, Ipv6Options options) {
  if (Ipv6Protocol* existing = find(stack)) return *existing;
  Ipv6Protocol& ip = stack.add_network_protocol(std::make_unique<Ipv6Protocol>(stack, options));
  stack.counters().add_struct("ipv6", ip.counters());
  stack.counters().add_struct("ipv6_reassembly", ip.reassembler().counters());
  stack.counters().add_struct("icmpv6", ip.icmp().counters());
  stack.counters().add_struct("ndp", ip.ndp().counters());
  stack.counters().add_struct("ndp_cache", ip.ndp().cache().counters());
  return ip;
}

Ipv6Protocol* find(Stack& stack) {
  return dynamic_cast<Ipv6Protocol*>(stack.ip_protocol(AddressFamily::kIpv6));
}

}  // namespace weir::ipv6
