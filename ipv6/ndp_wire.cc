#include "ipv6/ndp_wire.h"

#include <algorithm>

#include "stack/checksum.h"
#include "stack/protocol.h"

namespace weir::ipv6 {

namespace {

Ipv6Address multicast(uint8_t scope, uint8_t last) {
  std::array<uint8_t, 16> o{};
  o[0] = 0xff;
  o[1] = scope;
  o[15] = last;
  return Ipv6Address(o);
}

size_t fixed_length(uint8_t type) {
  switch (type) {
    case kNdpRouterSolicitation:
      return kRsLength;
    case kNdpRouterAdvertisement:
      return kRaLength;
    case kNdpNeighborSolicitation:
      return kNsLength;
    case kNdpNeighborAdvertisement:
      return kNaLength;
    case kNdpRedirect:
      return kRedirectLength;
    default:
      return 0;
  }
}

// The link-layer address option a message type uses: the sender's own for RS/RA/NS, the
// target's for NA and Redirect. Other link-layer options in a message are ignored (RFC 4861
// 4.6: options not specified for a message are ignored).
uint8_t link_layer_option_for(uint8_t type) {
  return (type == kNdpNeighborAdvertisement || type == kNdpRedirect) ? kOptTargetLinkLayerAddress
                                                                     : kOptSourceLinkLayerAddress;
}

void emit_link_layer_option(MutableByteView out, size_t off, uint8_t type, const MacAddress& mac) {
  store_u8(out, off, type);
  store_u8(out, off + 1, 1);
  copy_bytes(out, off + 2, mac.bytes());
}

void emit_head(MutableByteView out, uint8_t type) {
  store_u8(out, 0, type);
  store_u8(out, 1, 0);
  store_be16(out, 2, 0);
  store_be32(out, 4, 0);
}

constexpr size_t kMaxRdnssServers = 127;  // the option's length byte: 1 + 2n <= 255
// RFC 4861 4.6.3: the redirect must not make the IPv6 packet exceed the minimum MTU.
constexpr size_t kRedirectMaxPacket = 1280;
constexpr size_t kIpv6HeaderLength = 40;

}  // namespace

Ipv6Address all_nodes_group() { return multicast(0x02, 0x01); }
Ipv6Address all_routers_group() { return multicast(0x02, 0x02); }
Ipv6Address all_mldv2_routers_group() { return multicast(0x02, 0x16); }

Ipv6Address solicited_node_group(const Ipv6Address& address) {
  std::array<uint8_t, 16> o{};
  o[0] = 0xff;
  o[1] = 0x02;
  o[11] = 0x01;
  o[12] = 0xff;
  o[13] = address.octets()[13];
  o[14] = address.octets()[14];
  o[15] = address.octets()[15];
  return Ipv6Address(o);
}

bool is_solicited_node_group(const Ipv6Address& address) {
  return solicited_node_group(address) == address;
}

// ---------------------------------------------------------------------------------------------
// Options.

OptionsCheck check_options(ByteView options) {
  size_t pos = 0;
  while (pos < options.size()) {
    if (options.size() - pos < 2) return OptionsCheck::kTruncated;
    const size_t length = size_t{load_u8(options, pos + 1)} * kOptionUnit;
    if (length == 0) return OptionsCheck::kZeroLength;
    if (length > options.size() - pos) return OptionsCheck::kTruncated;
    pos += length;
  }
  return OptionsCheck::kOk;
}

Result<NdpOptions> NdpOptions::parse(ByteView bytes) {
  if (check_options(bytes) != OptionsCheck::kOk) return Error::kBadMessage;
  return NdpOptions(bytes);
}

NdpOption NdpOptions::iterator::operator*() const {
  const size_t length = size_t{load_u8(bytes_, pos_ + 1)} * kOptionUnit;
  ByteView whole = bytes_.subspan(pos_, length);
  return NdpOption{load_u8(whole, 0), whole, whole.subspan(2)};
}

NdpOptions::iterator& NdpOptions::iterator::operator++() {
  pos_ += size_t{load_u8(bytes_, pos_ + 1)} * kOptionUnit;
  return *this;
}

std::optional<NdpOption> NdpOptions::find(uint8_t type) const {
  for (const NdpOption& o : *this) {
    if (o.type == type) return o;
  }
  return std::nullopt;
}

size_t NdpOptions::count(uint8_t type) const {
  size_t n = 0;
  for (const NdpOption& o : *this) n += o.type == type ? 1 : 0;
  return n;
}

Result<MacAddress> parse_link_layer_address(const NdpOption& option) {
  if ((option.type != kOptSourceLinkLayerAddress && option.type != kOptTargetLinkLayerAddress) ||
      option.bytes.size() != kLinkLayerOptionLength) {
    return Error::kBadMessage;
  }
  return MacAddress::from_bytes(option.data.first(6));
}

Result<PrefixInfoView> PrefixInfoView::parse(const NdpOption& option) {
  if (option.type != kOptPrefixInformation || option.bytes.size() != kPrefixOptionLength) {
    return Error::kBadMessage;
  }
  return PrefixInfoView(option.bytes);
}

Result<uint32_t> parse_mtu_option(const NdpOption& option) {
  if (option.type != kOptMtu || option.bytes.size() != kMtuOptionLength) {
    return Error::kBadMessage;
  }
  return load_be32(option.bytes, 4);
}

Result<ByteView> parse_redirected_header(const NdpOption& option) {
  if (option.type != kOptRedirectedHeader || option.bytes.size() < 8) return Error::kBadMessage;
  return option.bytes.subspan(8);
}

Result<ByteView> parse_nonce(const NdpOption& option) {
  if (option.type != kOptNonce || option.data.size() < 6) return Error::kBadMessage;
  return option.data;
}

Result<RdnssView> RdnssView::parse(const NdpOption& option) {
  // RFC 8106 5.1: length is 3 + 2n; anything else (including 1) is an invalid option.
  const size_t units = option.bytes.size() / kOptionUnit;
  if (option.type != kOptRdnss || units < 3 || units % 2 == 0) return Error::kBadMessage;
  return RdnssView(option.bytes);
}

int8_t decode_preference(uint8_t bits) {
  switch (bits & 3) {
    case 1:
      return 1;
    case 3:
      return -1;
    default:
      return 0;  // 00 medium; 10 reserved, read as medium (RFC 4191 2.1)
  }
}

Result<RouteInformation> parse_route_information(const NdpOption& option) {
  if (option.type != kOptRouteInformation) return Error::kBadMessage;
  const size_t units = option.bytes.size() / kOptionUnit;
  if (units > 3) return Error::kBadMessage;
  RouteInformation r;
  r.prefix_length = load_u8(option.bytes, 2);
  // RFC 4191 2.3: length 1 only for prefix length 0, 2 for up to 64, 3 for any.
  if (r.prefix_length > 128 || (r.prefix_length > 64 && units < 3) ||
      (r.prefix_length > 0 && units < 2)) {
    return Error::kBadMessage;
  }
  r.preference = decode_preference(load_u8(option.bytes, 3) >> 3);
  r.lifetime = load_be32(option.bytes, 4);
  std::array<uint8_t, 16> o{};
  ByteView prefix = option.bytes.subspan(8);
  for (size_t i = 0; i < prefix.size() && i < 16; ++i) o[i] = load_u8(prefix, i);
  for (size_t bit = r.prefix_length; bit < 128; ++bit) {
    o[bit / 8] = static_cast<uint8_t>(o[bit / 8] & ~(0x80u >> (bit % 8)));
  }
  r.prefix = Ipv6Address(o);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Messages.

std::string_view ndp_check_name(NdpCheck check) {
  switch (check) {
    case NdpCheck::kOk:
      return "ok";
    case NdpCheck::kNotNdp:
      return "not_ndp";
    case NdpCheck::kBadCode:
      return "bad_code";
    case NdpCheck::kTruncated:
      return "truncated";
    case NdpCheck::kBadOptionLength:
      return "bad_option_length";
    case NdpCheck::kOptionTruncated:
      return "option_truncated";
    case NdpCheck::kBadLinkLayerOption:
      return "bad_link_layer_option";
    case NdpCheck::kMulticastTarget:
      return "multicast_target";
    case NdpCheck::kMulticastDestination:
      return "multicast_destination";
    case NdpCheck::kBadRedirectTarget:
      return "bad_redirect_target";
    case NdpCheck::kBadHopLimit:
      return "bad_hop_limit";
    case NdpCheck::kSourceNotLinkLocal:
      return "source_not_link_local";
    case NdpCheck::kUnspecifiedWithLla:
      return "unspecified_source_with_lla";
    case NdpCheck::kDadNotSolicitedNode:
      return "dad_not_to_solicited_node";
    case NdpCheck::kSolicitedMulticast:
      return "solicited_to_multicast";
  }
  return "unknown";
}

NdpCheck check_ndp_message(ByteView message) {
  if (message.size() < 2) return NdpCheck::kTruncated;
  const uint8_t type = load_u8(message, 0);
  if (!is_ndp_type(type)) return NdpCheck::kNotNdp;
  if (load_u8(message, 1) != 0) return NdpCheck::kBadCode;
  const size_t fixed = fixed_length(type);
  if (message.size() < fixed) return NdpCheck::kTruncated;
  ByteView option_bytes = message.subspan(fixed);
  switch (check_options(option_bytes)) {
    case OptionsCheck::kOk:
      break;
    case OptionsCheck::kZeroLength:
      return NdpCheck::kBadOptionLength;
    case OptionsCheck::kTruncated:
      return NdpCheck::kOptionTruncated;
  }
  const auto options = NdpOptions::parse(option_bytes);
  if (!options) return NdpCheck::kOptionTruncated;
  if (auto lla = options->find(link_layer_option_for(type))) {
    if (!parse_link_layer_address(*lla)) return NdpCheck::kBadLinkLayerOption;
  }
  switch (type) {
    case kNdpNeighborSolicitation:
    case kNdpNeighborAdvertisement:
      if (Ipv6Address::from_bytes(message.subspan(8, 16)).is_multicast()) {
        return NdpCheck::kMulticastTarget;
      }
      break;
    case kNdpRedirect: {
      const Ipv6Address target = Ipv6Address::from_bytes(message.subspan(8, 16));
      const Ipv6Address destination = Ipv6Address::from_bytes(message.subspan(24, 16));
      if (destination.is_multicast()) return NdpCheck::kMulticastDestination;
      if (!target.is_link_local() && target != destination) return NdpCheck::kBadRedirectTarget;
      break;
    }
    default:
      break;
  }
  return NdpCheck::kOk;
}

NdpCheck check_ndp(ByteView message, const NdpIpFields& ip) {
  if (message.size() < 2) return NdpCheck::kTruncated;
  const uint8_t type = load_u8(message, 0);
  if (!is_ndp_type(type)) return NdpCheck::kNotNdp;
  if (ip.hop_limit != kNdpHopLimit) return NdpCheck::kBadHopLimit;
  if (NdpCheck c = check_ndp_message(message); c != NdpCheck::kOk) return c;
  const auto options = NdpOptions::parse(message.subspan(fixed_length(type)));
  if (!options) return NdpCheck::kOptionTruncated;
  const bool has_source_lla = options->find(kOptSourceLinkLayerAddress).has_value();
  switch (type) {
    case kNdpRouterSolicitation:
      if (ip.source.is_unspecified() && has_source_lla) return NdpCheck::kUnspecifiedWithLla;
      break;
    case kNdpRouterAdvertisement:
    case kNdpRedirect:
      if (!ip.source.is_link_local()) return NdpCheck::kSourceNotLinkLocal;
      break;
    case kNdpNeighborSolicitation:
      if (ip.source.is_unspecified()) {
        if (!is_solicited_node_group(ip.destination)) return NdpCheck::kDadNotSolicitedNode;
        if (has_source_lla) return NdpCheck::kUnspecifiedWithLla;
      }
      break;
    case kNdpNeighborAdvertisement:
      if (ip.destination.is_multicast() && (load_u8(message, 4) & kNaSolicited) != 0) {
        return NdpCheck::kSolicitedMulticast;
      }
      break;
    default:
      break;
  }
  return NdpCheck::kOk;
}

namespace {

// The shared half of every view's parse: the structural check and the type.
Result<NdpOptions> parse_message(ByteView message, uint8_t type) {
  if (message.empty() || load_u8(message, 0) != type) return Error::kBadMessage;
  if (check_ndp_message(message) != NdpCheck::kOk) return Error::kBadMessage;
  return NdpOptions::parse(message.subspan(fixed_length(type)));
}

}  // namespace

Result<RouterSolicitationView> RouterSolicitationView::parse(ByteView message) {
  auto options = parse_message(message, kNdpRouterSolicitation);
  if (!options) return options.error();
  return RouterSolicitationView(*options);
}

Result<RouterAdvertView> RouterAdvertView::parse(ByteView message) {
  auto options = parse_message(message, kNdpRouterAdvertisement);
  if (!options) return options.error();
  return RouterAdvertView(message.first(kRaLength), *options);
}

Result<NeighborSolicitationView> NeighborSolicitationView::parse(ByteView message) {
  auto options = parse_message(message, kNdpNeighborSolicitation);
  if (!options) return options.error();
  return NeighborSolicitationView(message.first(kNsLength), *options);
}

Result<NeighborAdvertView> NeighborAdvertView::parse(ByteView message) {
  auto options = parse_message(message, kNdpNeighborAdvertisement);
  if (!options) return options.error();
  return NeighborAdvertView(message.first(kNaLength), *options);
}

Result<RedirectView> RedirectView::parse(ByteView message) {
  auto options = parse_message(message, kNdpRedirect);
  if (!options) return options.error();
  return RedirectView(message.first(kRedirectLength), *options);
}

RouterAdvert parse_router_advert(const RouterAdvertView& view, const Ipv6Address& source) {
  RouterAdvert ra;
  ra.source = source;
  ra.cur_hop_limit = view.cur_hop_limit();
  ra.managed = view.managed();
  ra.other_config = view.other_config();
  ra.preference = view.preference();
  ra.router_lifetime = view.router_lifetime();
  ra.reachable_time = view.reachable_time();
  ra.retrans_timer = view.retrans_timer();
  bool seen_lla = false;
  bool seen_mtu = false;
  for (const NdpOption& option : view.options()) {
    switch (option.type) {
      case kOptSourceLinkLayerAddress:
        // The message check proved the first one well-formed; later duplicates are ignored.
        if (!seen_lla) {
          seen_lla = true;
          if (auto mac = parse_link_layer_address(option)) ra.source_lla = *mac;
        }
        break;
      case kOptMtu:
        if (seen_mtu) break;
        if (auto mtu = parse_mtu_option(option)) {
          seen_mtu = true;
          ra.mtu = *mtu;
        } else {
          ++ra.bad_mtu_options;
        }
        break;
      case kOptPrefixInformation:
        if (auto p = PrefixInfoView::parse(option); p && p->prefix_length() <= 128) {
          ra.prefixes.push_back(PrefixInfo{p->prefix(), p->prefix_length(), p->on_link(),
                                           p->autonomous(), p->valid_lifetime(),
                                           p->preferred_lifetime()});
        } else {
          ++ra.bad_prefix_options;
        }
        break;
      case kOptRdnss:
        if (auto r = RdnssView::parse(option)) {
          for (size_t i = 0; i < r->server_count(); ++i) {
            ra.rdnss.push_back(RdnssServer{r->server(i), r->lifetime()});
          }
        } else {
          ++ra.bad_rdnss_options;
        }
        break;
      case kOptRouteInformation:
        if (auto r = parse_route_information(option)) {
          ra.routes.push_back(RaRoute{r->prefix, r->prefix_length, r->preference, r->lifetime});
        } else {
          ++ra.bad_route_options;
        }
        break;
      default:
        break;  // RFC 4861 4.6: unknown options are skipped
    }
  }
  return ra;
}

// ---------------------------------------------------------------------------------------------
// Emitters.

size_t RouterSolicitationFields::length() const {
  return kRsLength + (source_lla ? kLinkLayerOptionLength : 0);
}

void RouterSolicitationFields::emit(MutableByteView out) const {
  emit_head(out, kNdpRouterSolicitation);
  if (source_lla) emit_link_layer_option(out, kRsLength, kOptSourceLinkLayerAddress, *source_lla);
}

size_t NeighborSolicitationFields::length() const {
  return kNsLength + (source_lla ? kLinkLayerOptionLength : 0) + (nonce ? 8 : 0);
}

void NeighborSolicitationFields::emit(MutableByteView out) const {
  emit_head(out, kNdpNeighborSolicitation);
  copy_bytes(out, 8, target.bytes());
  size_t off = kNsLength;
  if (source_lla) {
    emit_link_layer_option(out, off, kOptSourceLinkLayerAddress, *source_lla);
    off += kLinkLayerOptionLength;
  }
  if (nonce) {
    store_u8(out, off, kOptNonce);
    store_u8(out, off + 1, 1);
    copy_bytes(out, off + 2, std::as_bytes(std::span(*nonce)));
  }
}

size_t NeighborAdvertFields::length() const {
  return kNaLength + (target_lla ? kLinkLayerOptionLength : 0);
}

void NeighborAdvertFields::emit(MutableByteView out) const {
  emit_head(out, kNdpNeighborAdvertisement);
  store_u8(out, 4,
           static_cast<uint8_t>((router ? kNaRouter : 0) | (solicited ? kNaSolicited : 0) |
                                (override_flag ? kNaOverride : 0)));
  copy_bytes(out, 8, target.bytes());
  if (target_lla) emit_link_layer_option(out, kNaLength, kOptTargetLinkLayerAddress, *target_lla);
}

size_t RouterAdvertFields::length() const {
  size_t n = kRaLength;
  if (source_lla) n += kLinkLayerOptionLength;
  if (mtu) n += kMtuOptionLength;
  n += prefixes.size() * kPrefixOptionLength;
  if (!rdnss.empty()) n += 8 + 16 * std::min(rdnss.size(), kMaxRdnssServers);
  return n;
}

void RouterAdvertFields::emit(MutableByteView out) const {
  emit_head(out, kNdpRouterAdvertisement);
  store_u8(out, 4, cur_hop_limit);
  store_u8(out, 5,
           static_cast<uint8_t>((managed ? kRaManaged : 0) | (other_config ? kRaOther : 0)));
  store_be16(out, 6, router_lifetime);
  store_be32(out, 8, reachable_time);
  store_be32(out, 12, retrans_timer);
  size_t off = kRaLength;
  if (source_lla) {
    emit_link_layer_option(out, off, kOptSourceLinkLayerAddress, *source_lla);
    off += kLinkLayerOptionLength;
  }
  if (mtu) {
    store_u8(out, off, kOptMtu);
    store_u8(out, off + 1, 1);
    store_be16(out, off + 2, 0);
    store_be32(out, off + 4, *mtu);
    off += kMtuOptionLength;
  }
  for (const PrefixInfo& p : prefixes) {
    store_u8(out, off, kOptPrefixInformation);
    store_u8(out, off + 1, 4);
    store_u8(out, off + 2, p.prefix_length);
    store_u8(out, off + 3,
             static_cast<uint8_t>((p.on_link ? kPrefixOnLink : 0) |
                                  (p.autonomous ? kPrefixAutonomous : 0)));
    store_be32(out, off + 4, p.valid_lifetime);
    store_be32(out, off + 8, p.preferred_lifetime);
    store_be32(out, off + 12, 0);
    copy_bytes(out, off + 16, p.prefix.bytes());
    off += kPrefixOptionLength;
  }
  if (!rdnss.empty()) {
    const size_t n = std::min(rdnss.size(), kMaxRdnssServers);
    store_u8(out, off, kOptRdnss);
    store_u8(out, off + 1, static_cast<uint8_t>(1 + 2 * n));
    store_be16(out, off + 2, 0);
    store_be32(out, off + 4, rdnss_lifetime);
    for (size_t i = 0; i < n; ++i) copy_bytes(out, off + 8 + 16 * i, rdnss[i].bytes());
  }
}

namespace {
size_t redirected_data_length(const RedirectFields& f) {
  const size_t room = kRedirectMaxPacket - kIpv6HeaderLength - kRedirectLength -
                      (f.target_lla ? kLinkLayerOptionLength : 0) - 8;
  return std::min(f.redirected_packet.size(), room);
}
}  // namespace

size_t RedirectFields::length() const {
  size_t n = kRedirectLength + (target_lla ? kLinkLayerOptionLength : 0);
  if (!redirected_packet.empty()) {
    n += 8 + (redirected_data_length(*this) + kOptionUnit - 1) / kOptionUnit * kOptionUnit;
  }
  return n;
}

void RedirectFields::emit(MutableByteView out) const {
  emit_head(out, kNdpRedirect);
  copy_bytes(out, 8, target.bytes());
  copy_bytes(out, 24, destination.bytes());
  size_t off = kRedirectLength;
  if (target_lla) {
    emit_link_layer_option(out, off, kOptTargetLinkLayerAddress, *target_lla);
    off += kLinkLayerOptionLength;
  }
  if (!redirected_packet.empty()) {
    const size_t data = redirected_data_length(*this);
    const size_t option = 8 + (data + kOptionUnit - 1) / kOptionUnit * kOptionUnit;
    auto region = out.subspan(off, option);
    std::fill(region.begin(), region.end(), std::byte{0});
    store_u8(region, 0, kOptRedirectedHeader);
    store_u8(region, 1, static_cast<uint8_t>(option / kOptionUnit));
    copy_bytes(region, 8, redirected_packet.first(data));
  }
}

void fill_icmpv6_checksum(MutableByteView message, const Ipv6Address& source,
                          const Ipv6Address& destination) {
  store_be16(message, 2, 0);
  ChecksumAccumulator acc;
  acc.add_u16(pseudo_header_sum(IpAddress(source), IpAddress(destination), kProtocolIcmpv6,
                                static_cast<uint32_t>(message.size())));
  acc.add(message);
  store_be16(message, 2, acc.finish());
}

}  // namespace weir::ipv6
