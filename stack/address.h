// Address types. IpAddress is family-generic from the start: nothing above the network layer
// may assume IPv4.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "stack/bytes.h"
#include "stack/result.h"

namespace weir {

enum class AddressFamily : uint8_t { kIpv4 = 4, kIpv6 = 6 };

class MacAddress {
 public:
  constexpr MacAddress() = default;
  constexpr explicit MacAddress(std::array<uint8_t, 6> octets) : octets_(octets) {}
  static MacAddress from_bytes(ByteView b);                // b must hold at least 6 bytes
  static Result<MacAddress> parse(std::string_view text);  // "02:00:00:00:00:01"
  static constexpr MacAddress broadcast() {
    return MacAddress({0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  }

  const std::array<uint8_t, 6>& octets() const { return octets_; }
  ByteView bytes() const { return std::as_bytes(std::span(octets_)); }
  bool is_broadcast() const { return *this == broadcast(); }
  bool is_multicast() const { return (octets_[0] & 1) != 0; }
  bool is_zero() const { return *this == MacAddress(); }
  std::string to_string() const;

  auto operator<=>(const MacAddress&) const = default;

 private:
  std::array<uint8_t, 6> octets_{};
};

class Ipv4Address {
 public:
  constexpr Ipv4Address() = default;
  constexpr explicit Ipv4Address(uint32_t host_order) : value_(host_order) {}
  constexpr Ipv4Address(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
      : value_((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d) {}
  static Ipv4Address from_bytes(ByteView b) { return Ipv4Address(load_be32(b, 0)); }
  static Result<Ipv4Address> parse(std::string_view text);
  static constexpr Ipv4Address any() { return Ipv4Address(); }
  static constexpr Ipv4Address broadcast() { return Ipv4Address(0xffffffffu); }

  constexpr uint32_t value() const { return value_; }  // host byte order
  std::array<std::byte, 4> to_bytes() const;
  bool is_unspecified() const { return value_ == 0; }
  bool is_broadcast() const { return value_ == 0xffffffffu; }
  bool is_multicast() const { return (value_ >> 28) == 0xe; }
  bool is_loopback() const { return (value_ >> 24) == 127; }
  std::string to_string() const;

  auto operator<=>(const Ipv4Address&) const = default;

 private:
  uint32_t value_ = 0;
};

class Ipv6Address {
 public:
  constexpr Ipv6Address() = default;
  constexpr explicit Ipv6Address(std::array<uint8_t, 16> octets) : octets_(octets) {}
  static Ipv6Address from_bytes(ByteView b);
  static Result<Ipv6Address> parse(std::string_view text);
  static constexpr Ipv6Address any() { return Ipv6Address(); }

  const std::array<uint8_t, 16>& octets() const { return octets_; }
  ByteView bytes() const { return std::as_bytes(std::span(octets_)); }
  bool is_unspecified() const { return *this == Ipv6Address(); }
  bool is_multicast() const { return octets_[0] == 0xff; }
  bool is_link_local() const { return octets_[0] == 0xfe && (octets_[1] & 0xc0) == 0x80; }
  bool is_loopback() const;
  // ::ffff:a.b.c.d (RFC 4291 2.5.5.2): how an IPv6 socket names an IPv4 peer.
  bool is_v4_mapped() const;
  Ipv4Address mapped_v4() const;  // a.b.c.d of ::ffff:a.b.c.d
  static Ipv6Address v4_mapped(Ipv4Address a);
  std::string to_string() const;  // RFC 5952 form

  auto operator<=>(const Ipv6Address&) const = default;

 private:
  std::array<uint8_t, 16> octets_{};
};

// Either family, stored as network-order bytes (IPv4 in the first four). The unspecified
// address of a family is a valid value ("any").
class IpAddress {
 public:
  IpAddress() = default;     // IPv4 0.0.0.0
  // Inline, as are v4(), v6() and is_unspecified(): every received datagram builds two of
  // these, and an out-of-line constructor writing the 17 bytes to memory that the caller then
  // reloads as one 16-byte word stalled store forwarding (7% of bulk receive in perf).
  // The 16 bytes are written as two whole words, so the register that receives the copy is
  // built without byte stores that a 16-byte reload cannot forward from.
  IpAddress(Ipv4Address a) : family_(AddressFamily::kIpv4) {  // NOLINT: an IPv4 address is one
    const uint32_t v = a.value();
    uint64_t words[2] = {0, 0};
    if constexpr (std::endian::native == std::endian::little) {
      words[0] = __builtin_bswap32(v);
    } else {
      words[0] = uint64_t{v} << 32;
    }
    std::memcpy(raw_.data(), words, sizeof words);
  }
  IpAddress(Ipv6Address a) : family_(AddressFamily::kIpv6), raw_(a.octets()) {}  // NOLINT
  static Result<IpAddress> parse(std::string_view text);
  static IpAddress any(AddressFamily f) {
    return f == AddressFamily::kIpv4 ? IpAddress(Ipv4Address()) : IpAddress(Ipv6Address());
  }

  AddressFamily family() const { return family_; }
  bool is_v4() const { return family_ == AddressFamily::kIpv4; }
  bool is_v6() const { return family_ == AddressFamily::kIpv6; }
  // meaningful only when is_v4()
  Ipv4Address v4() const {
    return Ipv4Address((uint32_t{raw_[0]} << 24) | (uint32_t{raw_[1]} << 16) |
                       (uint32_t{raw_[2]} << 8) | uint32_t{raw_[3]});
  }
  Ipv6Address v6() const { return Ipv6Address(raw_); }  // meaningful only when is_v6()
  bool is_unspecified() const {
    uint64_t words[2];
    std::memcpy(words, raw_.data(), sizeof words);
    return (words[0] | words[1]) == 0;
  }
  bool is_multicast() const { return is_v4() ? v4().is_multicast() : v6().is_multicast(); }
  bool is_v4_mapped() const { return is_v6() && v6().is_v4_mapped(); }
  // Dual-stack sockets: an IPv4-mapped IPv6 address as the IPv4 address it maps (other
  // addresses unchanged), and an IPv4 address as its IPv4-mapped IPv6 form.
  IpAddress unmapped() const { return is_v4_mapped() ? IpAddress(v6().mapped_v4()) : *this; }
  IpAddress mapped() const { return is_v4() ? IpAddress(Ipv6Address::v4_mapped(v4())) : *this; }
  // Network byte order: 4 or 16 bytes.
  ByteView bytes() const { return std::as_bytes(std::span(raw_)).first(is_v4() ? 4 : 16); }
  size_t hash() const;
  std::string to_string() const;

  // Two 8-byte compares: the array's == is a memcmp call, and every demux lookup and route
  // match makes several.
  bool operator==(const IpAddress& o) const {
    uint64_t a[2];
    uint64_t b[2];
    std::memcpy(a, raw_.data(), sizeof a);
    std::memcpy(b, o.raw_.data(), sizeof b);
    return family_ == o.family_ && a[0] == b[0] && a[1] == b[1];
  }
  std::strong_ordering operator<=>(const IpAddress& o) const {
    if (auto c = family_ <=> o.family_; c != 0) return c;
    return raw_ <=> o.raw_;
  }

 private:
  AddressFamily family_ = AddressFamily::kIpv4;
  std::array<uint8_t, 16> raw_{};
};

// An address with a prefix length: an interface address ("10.0.0.1/24") or a subnet.
struct IpPrefix {
  IpAddress address;
  uint8_t length = 0;

  static Result<IpPrefix> parse(std::string_view text);  // "10.0.0.1/24", "fd00::1/64"
  bool contains(const IpAddress& a) const;
  IpPrefix network() const;  // host bits cleared
  std::string to_string() const;
  bool operator==(const IpPrefix&) const = default;
};

// A transport endpoint address: (ip, port).
struct SocketAddress {
  IpAddress address;
  uint16_t port = 0;
  std::string to_string() const;  // "10.0.0.1:7", "[fd00::1]:7"
  bool operator==(const SocketAddress&) const = default;
};

}  // namespace weir

template <>
struct std::hash<weir::IpAddress> {
  size_t operator()(const weir::IpAddress& a) const { return a.hash(); }
};
