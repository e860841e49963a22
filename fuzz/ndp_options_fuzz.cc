// Fuzzes the NDP wire layer (ipv6/ndp_wire.h): the message checks, every message view, the
// option walk and each typed option parser, and the RA parser.
//
// Input: one control byte, then an ICMPv6 message starting at its type byte. Control bits 0-1
// pick the IPv6 source (fe80::1, 2001:db8::1, ::, fe80::2), bit 2 the destination (the target's
// solicited-node group or fe80::99), bit 3 the hop limit (255 or 64). Bit 4 overwrites the
// type with 133 + (control >> 5) % 5, so every message shape is reached from any seed.
//
// Invariants checked: a view parses exactly when check_ndp_message accepts a message of its
// type; the options walk covers the option bytes exactly, each option a non-empty multiple of
// 8 bytes; check_ndp never accepts what check_ndp_message refuses.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ipv6/ndp_wire.h"

namespace {

using namespace weir;
using namespace weir::ipv6;

void walk(const NdpOptions& options) {
  size_t total = 0;
  for (const NdpOption& o : options) {
    if (o.bytes.empty() || o.bytes.size() % 8 != 0) __builtin_trap();
    if (o.data.size() + 2 != o.bytes.size()) __builtin_trap();
    total += o.bytes.size();
    (void)parse_link_layer_address(o);
    if (auto p = PrefixInfoView::parse(o)) {
      (void)p->prefix();
      (void)p->valid_lifetime();
      (void)p->preferred_lifetime();
      (void)p->on_link();
    }
    (void)parse_mtu_option(o);
    if (auto r = parse_redirected_header(o)) {
      if (r->size() + 8 != o.bytes.size()) __builtin_trap();
    }
    (void)parse_nonce(o);
    if (auto r = RdnssView::parse(o)) {
      if (r->server_count() == 0) __builtin_trap();
      for (size_t i = 0; i < r->server_count(); ++i) (void)r->server(i);
    }
    if (auto r = parse_route_information(o)) {
      if (r->prefix_length > 128) __builtin_trap();
    }
  }
  if (total != options.bytes().size()) __builtin_trap();
  (void)options.find(kOptSourceLinkLayerAddress);
  (void)options.count(kOptPrefixInformation);
}

template <typename View>
void try_view(ByteView message, uint8_t type, bool structurally_ok) {
  auto v = View::parse(message);
  const bool expect = structurally_ok && load_u8(message, 0) == type;
  if (v.ok() != expect) __builtin_trap();
  if (v) walk(v->options());
}

Ipv6Address pick_source(uint8_t control) {
  switch (control & 3) {
    case 0:
      return Ipv6Address::parse("fe80::1").value();
    case 1:
      return Ipv6Address::parse("2001:db8::1").value();
    case 2:
      return Ipv6Address();
    default:
      return Ipv6Address::parse("fe80::2").value();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  std::vector<std::byte> message = to_byte_vector(std::as_bytes(std::span(data, size)).subspan(1));
  if ((control & 0x10) != 0 && !message.empty()) {
    message[0] = std::byte(static_cast<uint8_t>(kNdpRouterSolicitation + (control >> 5) % 5));
  }
  const NdpCheck structural = check_ndp_message(message);
  const bool ok = structural == NdpCheck::kOk;
  if (ok && !is_ndp_type(load_u8(message, 0))) __builtin_trap();
  (void)ndp_check_name(structural);

  Ipv6Address target;
  if (message.size() >= 24) target = Ipv6Address::from_bytes(ByteView(message).subspan(8, 16));
  NdpIpFields ip{
      pick_source(control),
      (control & 4) != 0 ? solicited_node_group(target) : Ipv6Address::parse("fe80::99").value(),
      static_cast<uint8_t>((control & 8) != 0 ? 64 : 255)};
  const NdpCheck full = check_ndp(message, ip);
  if (full == NdpCheck::kOk && !ok) __builtin_trap();

  if (message.empty()) return 0;
  try_view<RouterSolicitationView>(message, kNdpRouterSolicitation, ok);
  try_view<RouterAdvertView>(message, kNdpRouterAdvertisement, ok);
  try_view<NeighborSolicitationView>(message, kNdpNeighborSolicitation, ok);
  try_view<NeighborAdvertView>(message, kNdpNeighborAdvertisement, ok);
  try_view<RedirectView>(message, kNdpRedirect, ok);
  if (auto ra = RouterAdvertView::parse(message)) {
    RouterAdvert parsed = parse_router_advert(*ra, ip.source);
    for (const PrefixInfo& p : parsed.prefixes) {
      if (p.prefix_length > 128) __builtin_trap();
    }
  }
  // The bare options walk over arbitrary bytes, framing check first.
  if (auto o = NdpOptions::parse(message)) walk(*o);
  return 0;
}
