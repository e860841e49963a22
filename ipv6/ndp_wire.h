// Wire views and emitters for Neighbor Discovery (RFC 4861 section 4) messages and options.
//
// Convention: every message view takes the whole ICMPv6 message, starting at the ICMPv6 type
// byte (type, code, checksum, then the body), exactly the bytes the ICMPv6 checksum covers.
// The ICMPv6 layer verifies the checksum before it hands a message over; nothing here looks at
// it. Emitters write a complete message with a zero checksum; fill_icmpv6_checksum() (or the
// ICMPv6 layer's send path) sums it over the pseudo-header.
//
// Validation is in two steps, like ipv4/wire.h:
//  - check_ndp_message() checks what the message bytes alone decide: a known NDP type, code 0,
//    the minimum length, the options' framing (RFC 4861 4.6: an option of length 0, or one
//    that runs past the end, invalidates the whole message) and the body rules (a multicast
//    target, a multicast redirect destination, a redirect target that is neither link-local
//    nor the destination). The views' parse() accepts exactly what it accepts, so afterwards
//    no accessor and no option walk can leave the message.
//  - check_ndp() adds the rules that need the IPv6 header (hop limit 255, link-local source
//    for RA and Redirect, the unspecified-source rules of RS and NS, the Solicited flag on a
//    multicast NA). Each failure is a distinct NdpCheck so the receive path counts it by name.
// A known option whose own layout is wrong (a link-layer address option that is not 8 bytes,
// a prefix information option that is not 32) is an invalid option: check_ndp() rejects the
// message for link-layer address options, as Linux does, and the typed option parsers below
// return an error for the rest so the caller ignores that option and counts it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "ipv6/router_advert.h"
#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/result.h"

namespace weir::ipv6 {

// ---------------------------------------------------------------------------------------------
// Message types and lengths.

inline constexpr uint8_t kNdpRouterSolicitation = 133;
inline constexpr uint8_t kNdpRouterAdvertisement = 134;
inline constexpr uint8_t kNdpNeighborSolicitation = 135;
inline constexpr uint8_t kNdpNeighborAdvertisement = 136;
inline constexpr uint8_t kNdpRedirect = 137;

inline constexpr bool is_ndp_type(uint8_t type) {
  return type >= kNdpRouterSolicitation && type <= kNdpRedirect;
}

// Fixed part of each message, counted from the ICMPv6 type byte; options follow it.
inline constexpr size_t kRsLength = 8;
inline constexpr size_t kRaLength = 16;
inline constexpr size_t kNsLength = 24;
inline constexpr size_t kNaLength = 24;
inline constexpr size_t kRedirectLength = 40;
// The hop limit every NDP message is sent with and must arrive with (RFC 4861 6.1, 7.1, 8.1).
inline constexpr uint8_t kNdpHopLimit = 255;

// Option types (RFC 4861 4.6, RFC 4191, RFC 3971 / RFC 7527, RFC 8106).
inline constexpr uint8_t kOptSourceLinkLayerAddress = 1;
inline constexpr uint8_t kOptTargetLinkLayerAddress = 2;
inline constexpr uint8_t kOptPrefixInformation = 3;
inline constexpr uint8_t kOptRedirectedHeader = 4;
inline constexpr uint8_t kOptMtu = 5;
inline constexpr uint8_t kOptNonce = 14;
inline constexpr uint8_t kOptRouteInformation = 24;
inline constexpr uint8_t kOptRdnss = 25;
inline constexpr uint8_t kOptDnssl = 31;

inline constexpr size_t kOptionUnit = 8;             // option lengths count 8-byte units
inline constexpr size_t kLinkLayerOptionLength = 8;  // type, length, 6-byte Ethernet address
inline constexpr size_t kPrefixOptionLength = 32;
inline constexpr size_t kMtuOptionLength = 8;

// NA flags (the first byte after the checksum).
inline constexpr uint8_t kNaRouter = 0x80;
inline constexpr uint8_t kNaSolicited = 0x40;
inline constexpr uint8_t kNaOverride = 0x20;
// RA flags.
inline constexpr uint8_t kRaManaged = 0x80;
inline constexpr uint8_t kRaOther = 0x40;
// Prefix information flags.
inline constexpr uint8_t kPrefixOnLink = 0x80;
inline constexpr uint8_t kPrefixAutonomous = 0x40;

// A lifetime field of all ones means infinity (RFC 4861 4.6.2, RFC 8106 5.1).
inline constexpr uint32_t kInfiniteLifetime = 0xffffffffu;

// ---------------------------------------------------------------------------------------------
// Well-known addresses.

// ff02::1, ff02::2, ff02::16 (RFC 4291 2.7.1, RFC 3810 5.2.14).
Ipv6Address all_nodes_group();
Ipv6Address all_routers_group();
Ipv6Address all_mldv2_routers_group();
// ff02::1:ffXX:XXXX from the low 24 bits of address (RFC 4291 2.7.1).
Ipv6Address solicited_node_group(const Ipv6Address& address);
bool is_solicited_node_group(const Ipv6Address& address);

// ---------------------------------------------------------------------------------------------
// Options.

// One option as the walk yields it. `bytes` is the whole option (type and length included,
// length * 8 bytes); `data` is what follows the two-byte type/length head.
struct NdpOption {
  uint8_t type = 0;
  ByteView bytes;
  ByteView data;
};

enum class OptionsCheck : uint8_t {
  kOk,
  kZeroLength,  // an option claims length 0 (RFC 4861 4.6: the message is dropped)
  kTruncated,   // an option runs past the end, or fewer than two bytes are left for one
};
OptionsCheck check_options(ByteView options);

// The options of a message whose framing check_options() accepted. Iterating cannot fail.
class NdpOptions {
 public:
  class iterator {
   public:
    using value_type = NdpOption;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    NdpOption operator*() const;
    iterator& operator++();
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator& o) const { return pos_ == o.pos_; }

   private:
    friend class NdpOptions;
    iterator(ByteView bytes, size_t pos) : bytes_(bytes), pos_(pos) {}
    ByteView bytes_;
    size_t pos_ = 0;
  };

  // Fails unless check_options(bytes) is kOk.
  static Result<NdpOptions> parse(ByteView bytes);
  NdpOptions() = default;

  iterator begin() const { return iterator(bytes_, 0); }
  iterator end() const { return iterator(bytes_, bytes_.size()); }
  bool empty() const { return bytes_.empty(); }
  ByteView bytes() const { return bytes_; }
  // The first option of a type, if any. RFC 4861 names the options a message carries at most
  // once (link-layer addresses, MTU, redirected header); like Linux we use the first.
  std::optional<NdpOption> find(uint8_t type) const;
  size_t count(uint8_t type) const;

 private:
  explicit NdpOptions(ByteView bytes) : bytes_(bytes) {}
  ByteView bytes_;
};

// The Ethernet address in a source/target link-layer address option; error unless the option
// is exactly 8 bytes (the only size an Ethernet link allows, RFC 2464 6).
Result<MacAddress> parse_link_layer_address(const NdpOption& option);

// Prefix information (RFC 4861 4.6.2). Exactly 32 bytes.
class PrefixInfoView {
 public:
  static Result<PrefixInfoView> parse(const NdpOption& option);
  uint8_t prefix_length() const { return load_u8(bytes_, 2); }
  uint8_t flags() const { return load_u8(bytes_, 3); }
  bool on_link() const { return (flags() & kPrefixOnLink) != 0; }
  bool autonomous() const { return (flags() & kPrefixAutonomous) != 0; }
  uint32_t valid_lifetime() const { return load_be32(bytes_, 4); }      // seconds
  uint32_t preferred_lifetime() const { return load_be32(bytes_, 8); }  // seconds
  Ipv6Address prefix() const { return Ipv6Address::from_bytes(bytes_.subspan(16, 16)); }

 private:
  explicit PrefixInfoView(ByteView bytes) : bytes_(bytes) {}
  ByteView bytes_;
};

// MTU (RFC 4861 4.6.4). Exactly 8 bytes.
Result<uint32_t> parse_mtu_option(const NdpOption& option);

// Redirected header (RFC 4861 4.6.3): six reserved bytes, then as much of the redirected
// packet as fits. Returns that packet's bytes (possibly empty).
Result<ByteView> parse_redirected_header(const NdpOption& option);

// Nonce (RFC 3971 5.3.2, used by RFC 7527 enhanced DAD): at least 6 bytes of nonce.
Result<ByteView> parse_nonce(const NdpOption& option);

// Recursive DNS server (RFC 8106 5.1): length 3 + 2n, n >= 1.
class RdnssView {
 public:
  static Result<RdnssView> parse(const NdpOption& option);
  uint32_t lifetime() const { return load_be32(bytes_, 4); }  // seconds
  size_t server_count() const { return (bytes_.size() - 8) / 16; }
  Ipv6Address server(size_t i) const {
    return Ipv6Address::from_bytes(bytes_.subspan(8 + 16 * i, 16));
  }

 private:
  explicit RdnssView(ByteView bytes) : bytes_(bytes) {}
  ByteView bytes_;
};

// Route information (RFC 4191 2.3): length 1-3 depending on the prefix length.
struct RouteInformation {
  Ipv6Address prefix;  // bits past prefix_length are zero
  uint8_t prefix_length = 0;
  int8_t preference = 0;  // -1 low, 0 medium, 1 high
  uint32_t lifetime = 0;  // seconds
};
Result<RouteInformation> parse_route_information(const NdpOption& option);

// Router preference from the two Prf bits (RFC 4191 2.1/2.2); the reserved value 10 is
// treated as medium, as the RFC says.
int8_t decode_preference(uint8_t bits);

// ---------------------------------------------------------------------------------------------
// Messages.

enum class NdpCheck : uint8_t {
  kOk,
  kNotNdp,                // type is not 133-137
  kBadCode,               // code != 0
  kTruncated,             // shorter than the message's fixed part
  kBadOptionLength,       // an option of length 0 (RFC 4861 4.6)
  kOptionTruncated,       // an option running past the message
  kBadLinkLayerOption,    // a source/target link-layer address option that is not 8 bytes
  kMulticastTarget,       // NS/NA target is multicast (7.1.1, 7.1.2)
  kMulticastDestination,  // redirect destination is multicast (8.1)
  kBadRedirectTarget,     // redirect target neither link-local nor the destination (8.1)
  kBadHopLimit,           // IP hop limit != 255
  kSourceNotLinkLocal,    // RA or redirect from a non-link-local source (6.1.2, 8.1)
  kUnspecifiedWithLla,    // RS/NS from :: carrying a source link-layer address (6.1.1, 7.1.1)
  kDadNotSolicitedNode,   // NS from :: not sent to a solicited-node group (7.1.1)
  kSolicitedMulticast,    // NA to a multicast destination with the Solicited flag (7.1.2)
};
std::string_view ndp_check_name(NdpCheck check);

// The IPv6 header fields the validity rules look at.
struct NdpIpFields {
  Ipv6Address source;
  Ipv6Address destination;
  uint8_t hop_limit = 0;
};

// The rules the message bytes alone decide. message starts at the ICMPv6 type.
NdpCheck check_ndp_message(ByteView message);
// Every validity rule of RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2 and 8.1 except the checksum
// (the ICMPv6 layer's) and the redirect's "source is the current first-hop router" (the
// router list's, it needs state). Hop limit comes first, as in Linux's ndisc_rcv.
NdpCheck check_ndp(ByteView message, const NdpIpFields& ip);

class RouterSolicitationView {
 public:
  static Result<RouterSolicitationView> parse(ByteView message);
  NdpOptions options() const { return options_; }

 private:
  explicit RouterSolicitationView(NdpOptions o) : options_(o) {}
  NdpOptions options_;
};

class RouterAdvertView {
 public:
  static Result<RouterAdvertView> parse(ByteView message);
  uint8_t cur_hop_limit() const { return load_u8(bytes_, 4); }
  uint8_t flags() const { return load_u8(bytes_, 5); }
  bool managed() const { return (flags() & kRaManaged) != 0; }
  bool other_config() const { return (flags() & kRaOther) != 0; }
  int8_t preference() const { return decode_preference((flags() >> 3) & 3); }
  uint16_t router_lifetime() const { return load_be16(bytes_, 6); }  // seconds
  uint32_t reachable_time() const { return load_be32(bytes_, 8); }   // milliseconds
  uint32_t retrans_timer() const { return load_be32(bytes_, 12); }   // milliseconds
  NdpOptions options() const { return options_; }

 private:
  RouterAdvertView(ByteView b, NdpOptions o) : bytes_(b), options_(o) {}
  ByteView bytes_;
  NdpOptions options_;
};

class NeighborSolicitationView {
 public:
  static Result<NeighborSolicitationView> parse(ByteView message);
  Ipv6Address target() const { return Ipv6Address::from_bytes(bytes_.subspan(8, 16)); }
  NdpOptions options() const { return options_; }

 private:
  NeighborSolicitationView(ByteView b, NdpOptions o) : bytes_(b), options_(o) {}
  ByteView bytes_;
  NdpOptions options_;
};

class NeighborAdvertView {
 public:
  static Result<NeighborAdvertView> parse(ByteView message);
  uint8_t flags() const { return load_u8(bytes_, 4); }
  bool router() const { return (flags() & kNaRouter) != 0; }
  bool solicited() const { return (flags() & kNaSolicited) != 0; }
  bool override_flag() const { return (flags() & kNaOverride) != 0; }
  Ipv6Address target() const { return Ipv6Address::from_bytes(bytes_.subspan(8, 16)); }
  NdpOptions options() const { return options_; }

 private:
  NeighborAdvertView(ByteView b, NdpOptions o) : bytes_(b), options_(o) {}
  ByteView bytes_;
  NdpOptions options_;
};

class RedirectView {
 public:
  static Result<RedirectView> parse(ByteView message);
  Ipv6Address target() const { return Ipv6Address::from_bytes(bytes_.subspan(8, 16)); }
  Ipv6Address destination() const { return Ipv6Address::from_bytes(bytes_.subspan(24, 16)); }
  NdpOptions options() const { return options_; }

 private:
  RedirectView(ByteView b, NdpOptions o) : bytes_(b), options_(o) {}
  ByteView bytes_;
  NdpOptions options_;
};

// Fills a RouterAdvert from a parsed RA and the IPv6 source it came from. Options of a wrong
// size are skipped and tallied in the bad_*_options fields; the rest of the RA stands.
RouterAdvert parse_router_advert(const RouterAdvertView& view, const Ipv6Address& source);

// ---------------------------------------------------------------------------------------------
// Emitters. Each message struct says what to send; length() is how many bytes emit() writes,
// from the ICMPv6 type on, checksum zero. out must hold at least length() bytes.

struct RouterSolicitationFields {
  std::optional<MacAddress> source_lla;  // omitted when sent from ::
  size_t length() const;
  void emit(MutableByteView out) const;
};

struct NeighborSolicitationFields {
  Ipv6Address target;
  std::optional<MacAddress> source_lla;         // omitted for DAD (source ::)
  std::optional<std::array<uint8_t, 6>> nonce;  // RFC 7527 enhanced DAD
  size_t length() const;
  void emit(MutableByteView out) const;
};

struct NeighborAdvertFields {
  Ipv6Address target;
  bool router = false;
  bool solicited = false;
  bool override_flag = false;
  std::optional<MacAddress> target_lla;
  size_t length() const;
  void emit(MutableByteView out) const;
};

struct RouterAdvertFields {
  uint8_t cur_hop_limit = 0;
  bool managed = false;
  bool other_config = false;
  uint16_t router_lifetime = 0;  // seconds
  uint32_t reachable_time = 0;   // milliseconds
  uint32_t retrans_timer = 0;    // milliseconds
  std::optional<MacAddress> source_lla;
  std::optional<uint32_t> mtu;
  std::vector<PrefixInfo> prefixes;
  std::vector<Ipv6Address> rdnss;  // one RDNSS option when not empty
  uint32_t rdnss_lifetime = 0;
  size_t length() const;
  void emit(MutableByteView out) const;
};

struct RedirectFields {
  Ipv6Address target;
  Ipv6Address destination;
  std::optional<MacAddress> target_lla;
  ByteView redirected_packet;  // quoted in a redirected header option when not empty
  size_t length() const;
  void emit(MutableByteView out) const;
};

// Convenience: a message built into a fresh vector.
template <typename Fields>
std::vector<std::byte> build_ndp(const Fields& fields) {
  std::vector<std::byte> out(fields.length());
  fields.emit(out);
  return out;
}

// Computes and stores the ICMPv6 checksum (RFC 4443 2.3) of message sent from source to
// destination. message starts at the ICMPv6 type.
void fill_icmpv6_checksum(MutableByteView message, const Ipv6Address& source,
                          const Ipv6Address& destination);

}  // namespace weir::ipv6
