#include "stack/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace weir {

MacAddress MacAddress::from_bytes(ByteView b) {
  // One bounds check and one copy: the byte loop checked every index (hardened builds), and
  // every received Ethernet frame reads two addresses.
  std::array<uint8_t, 6> o;
  std::memcpy(o.data(), b.first(o.size()).data(), o.size());
  return MacAddress(o);
}

Result<MacAddress> MacAddress::parse(std::string_view text) {
  std::array<uint8_t, 6> o{};
  size_t pos = 0;
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0) {
      if (pos >= text.size() || text[pos] != ':') return Error::kInvalidArgument;
      ++pos;
    }
    if (pos + 2 > text.size()) return Error::kInvalidArgument;
    unsigned v = 0;
    auto [end, ec] = std::from_chars(text.data() + pos, text.data() + pos + 2, v, 16);
    if (ec != std::errc() || end != text.data() + pos + 2) return Error::kInvalidArgument;
    o[i] = static_cast<uint8_t>(v);
    pos += 2;
  }
  if (pos != text.size()) return Error::kInvalidArgument;
  return MacAddress(o);
}

std::string MacAddress::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", octets_[0], octets_[1],
                octets_[2], octets_[3], octets_[4], octets_[5]);
  return buf;
}

Result<Ipv4Address> Ipv4Address::parse(std::string_view text) {
  // Strict dotted quad: four decimal octets, no leading '+', no shorthand forms.
  uint32_t value = 0;
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (pos >= text.size() || text[pos] != '.') return Error::kInvalidArgument;
      ++pos;
    }
    size_t start = pos;
    while (pos < text.size() && pos - start < 4 && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start || pos - start > 3) return Error::kInvalidArgument;
    unsigned octet = 0;
    std::from_chars(text.data() + start, text.data() + pos, octet);
    if (octet > 255) return Error::kInvalidArgument;
    value = (value << 8) | octet;
  }
  if (pos != text.size()) return Error::kInvalidArgument;
  return Ipv4Address(value);
}

std::array<std::byte, 4> Ipv4Address::to_bytes() const {
  return {std::byte(value_ >> 24), std::byte((value_ >> 16) & 0xff),
          std::byte((value_ >> 8) & 0xff), std::byte(value_ & 0xff)};
}

std::string Ipv4Address::to_string() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", value_ >> 24, (value_ >> 16) & 0xff,
                (value_ >> 8) & 0xff, value_ & 0xff);
  return buf;
}

Ipv6Address Ipv6Address::from_bytes(ByteView b) {
  // As MacAddress::from_bytes: one bounds check, not sixteen.
  std::array<uint8_t, 16> o;
  std::memcpy(o.data(), b.first(o.size()).data(), o.size());
  return Ipv6Address(o);
}

Result<Ipv6Address> Ipv6Address::parse(std::string_view text) {
  if (text.size() >= INET6_ADDRSTRLEN) return Error::kInvalidArgument;
  char buf[INET6_ADDRSTRLEN] = {};
  text.copy(buf, text.size());
  std::array<uint8_t, 16> o{};
  if (inet_pton(AF_INET6, buf, o.data()) != 1) return Error::kInvalidArgument;
  return Ipv6Address(o);
}

bool Ipv6Address::is_loopback() const {
  for (size_t i = 0; i < 15; ++i) {
    if (octets_[i] != 0) return false;
  }
  return octets_[15] == 1;
}

bool Ipv6Address::is_v4_mapped() const {
  for (size_t i = 0; i < 10; ++i) {
    if (octets_[i] != 0) return false;
  }
  return octets_[10] == 0xff && octets_[11] == 0xff;
}

Ipv4Address Ipv6Address::mapped_v4() const {
  return Ipv4Address(octets_[12], octets_[13], octets_[14], octets_[15]);
}

Ipv6Address Ipv6Address::v4_mapped(Ipv4Address a) {
  std::array<uint8_t, 16> o{};
  o[10] = 0xff;
  o[11] = 0xff;
  const auto b = a.to_bytes();
  for (size_t i = 0; i < 4; ++i) o[12 + i] = std::to_integer<uint8_t>(b[i]);
  return Ipv6Address(o);
}

std::string Ipv6Address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, octets_.data(), buf, sizeof buf);  // glibc emits the RFC 5952 form
  return buf;
}

Result<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.find(':') != std::string_view::npos) {
    auto v6 = Ipv6Address::parse(text);
    if (!v6) return v6.error();
    return IpAddress(*v6);
  }
  auto v4 = Ipv4Address::parse(text);
  if (!v4) return v4.error();
  return IpAddress(*v4);
}

size_t IpAddress::hash() const {
  // FNV-1a over family and bytes: cheap, and the demux mixes in ports and a secret on top.
  uint64_t h = 1469598103934665603ull ^ static_cast<uint8_t>(family_);
  for (uint8_t b : raw_) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

std::string IpAddress::to_string() const { return is_v4() ? v4().to_string() : v6().to_string(); }

Result<IpPrefix> IpPrefix::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return Error::kInvalidArgument;
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return addr.error();
  auto len_text = text.substr(slash + 1);
  unsigned len = 0;
  auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (ec != std::errc() || end != len_text.data() + len_text.size() || len_text.empty()) {
    return Error::kInvalidArgument;
  }
  if (len > (addr->is_v4() ? 32u : 128u)) return Error::kInvalidArgument;
  return IpPrefix{*addr, static_cast<uint8_t>(len)};
}

bool IpPrefix::contains(const IpAddress& a) const {
  if (a.family() != address.family()) return false;
  // Whole words under a mask, not byte by byte: every route lookup and broadcast check makes
  // several of these, and a fuzz build traces every byte compare of a loop.
  const ByteView x = a.bytes();
  const ByteView y = address.bytes();
  const unsigned bits = std::min<unsigned>(length, static_cast<unsigned>(x.size()) * 8);
  auto top = [](unsigned n) { return n == 0 ? uint64_t{0} : ~uint64_t{0} << (64 - n); };
  if (x.size() == 4) {
    return ((uint64_t{load_be32(x, 0) ^ load_be32(y, 0)} << 32) & top(bits)) == 0;
  }
  auto word = [](ByteView b, size_t off) {
    return (uint64_t{load_be32(b, off)} << 32) | load_be32(b, off + 4);
  };
  const uint64_t high = (word(x, 0) ^ word(y, 0)) & top(std::min(bits, 64u));
  const uint64_t low = (word(x, 8) ^ word(y, 8)) & top(bits > 64 ? bits - 64 : 0);
  return (high | low) == 0;
}

IpPrefix IpPrefix::network() const {
  if (address.is_v4()) {
    uint32_t mask = length == 0 ? 0 : ~uint32_t{0} << (32 - length);
    return {Ipv4Address(address.v4().value() & mask), length};
  }
  auto o = address.v6().octets();
  for (size_t i = 0; i < 16; ++i) {
    int bits = static_cast<int>(length) - static_cast<int>(i) * 8;
    if (bits >= 8) continue;
    o[i] = bits <= 0 ? 0 : static_cast<uint8_t>(o[i] & (0xff << (8 - bits)));
  }
  return {Ipv6Address(o), length};
}

std::string IpPrefix::to_string() const {
  return address.to_string() + "/" + std::to_string(length);
}

std::string SocketAddress::to_string() const {
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(port);
  return address.to_string() + ":" + std::to_string(port);
}

}  // namespace weir
