// Test-side decoding of netlink answers into plain values, independent of the builder under
// test: every datagram is split into messages by nlmsg_len, each message into its fixed family
// header and its attributes in order.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stack/bytes.h"

namespace weir::sandbox::testing {

inline std::vector<std::byte> from_hex(std::string_view hex) {
  std::vector<std::byte> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoul(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

inline std::string to_hex(ByteView b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (auto x : b) {
    auto v = std::to_integer<unsigned>(x);
    s += kDigits[v >> 4];
    s += kDigits[v & 15];
  }
  return s;
}

template <typename T>
T host(ByteView b, size_t off = 0) {
  T v{};
  if (off + sizeof(T) > b.size()) {
    ADD_FAILURE() << "field at " << off << " beyond " << b.size() << " bytes";
    return v;
  }
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

struct Attr {
  uint16_t type = 0;  // with the nested / byte-order bits
  std::vector<std::byte> payload;
  bool operator==(const Attr&) const = default;
};

struct Msg {
  uint32_t length = 0;
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t seq = 0;
  uint32_t pid = 0;
  std::vector<std::byte> fixed;  // the family header (or the whole payload when not split)
  std::vector<Attr> attrs;

  const Attr* attr(uint16_t t) const {
    for (const auto& a : attrs)
      if (a.type == t) return &a;
    return nullptr;
  }
  std::vector<uint16_t> attr_types() const {
    std::vector<uint16_t> out;
    for (const auto& a : attrs) out.push_back(a.type);
    return out;
  }
  uint32_t u32(uint16_t t) const {
    auto* a = attr(t);
    if (a == nullptr) {
      ADD_FAILURE() << "no attribute " << t;
      return 0;
    }
    return host<uint32_t>(a->payload);
  }
  std::string str(uint16_t t) const {
    auto* a = attr(t);
    if (a == nullptr) return "<missing>";
    std::string s(reinterpret_cast<const char*>(a->payload.data()), a->payload.size());
    return s.substr(0, s.find('\0'));
  }
  std::string hex(uint16_t t) const {
    auto* a = attr(t);
    return a == nullptr ? "<missing>" : to_hex(a->payload);
  }
  void drop(uint16_t t) {
    std::erase_if(attrs, [t](const Attr& a) { return a.type == t; });
  }
  bool operator==(const Msg& o) const {
    return type == o.type && flags == o.flags && seq == o.seq && pid == o.pid && fixed == o.fixed &&
           attrs == o.attrs;
  }
};

inline void PrintTo(const Msg& m, std::ostream* os) {
  *os << "{len " << m.length << " type " << m.type << " flags 0x" << std::hex << m.flags << std::dec
      << " seq " << m.seq << " pid " << m.pid << " fixed " << to_hex(m.fixed);
  for (const auto& a : m.attrs) *os << " [" << a.type << ": " << to_hex(a.payload) << "]";
  *os << "}";
}

inline std::vector<Attr> decode_attrs(ByteView b) {
  std::vector<Attr> out;
  size_t off = 0;
  while (off + 4 <= b.size()) {
    auto len = host<uint16_t>(b, off);
    auto type = host<uint16_t>(b, off + 2);
    if (len < 4 || off + len > b.size()) {
      ADD_FAILURE() << "bad attribute at " << off;
      break;
    }
    out.push_back({type, {b.begin() + off + 4, b.begin() + off + len}});
    off += (len + 3u) & ~3u;
  }
  return out;
}

// fixed_size(type) says how many payload bytes precede the attributes of a message type; a
// negative value keeps the whole payload in `fixed`.
template <typename FixedSize>
std::vector<Msg> decode_datagram(ByteView d, FixedSize fixed_size) {
  std::vector<Msg> out;
  size_t off = 0;
  while (off + 16 <= d.size()) {
    Msg m;
    m.length = host<uint32_t>(d, off);
    m.type = host<uint16_t>(d, off + 4);
    m.flags = host<uint16_t>(d, off + 6);
    m.seq = host<uint32_t>(d, off + 8);
    m.pid = host<uint32_t>(d, off + 12);
    if (m.length < 16 || off + m.length > d.size()) {
      ADD_FAILURE() << "bad nlmsg_len " << m.length << " at " << off << " of " << d.size();
      break;
    }
    ByteView payload = d.subspan(off + 16, m.length - 16);
    int fixed = fixed_size(m.type);
    if (fixed < 0 || static_cast<size_t>(fixed) > payload.size()) {
      m.fixed.assign(payload.begin(), payload.end());
    } else {
      m.fixed.assign(payload.begin(), payload.begin() + fixed);
      m.attrs = decode_attrs(payload.subspan((fixed + 3u) & ~3u));
    }
    off += (m.length + 3u) & ~3u;
    out.push_back(std::move(m));
  }
  EXPECT_EQ(off, d.size()) << "datagram not made of whole messages";
  return out;
}

template <typename FixedSize>
std::vector<Msg> decode_all(const std::vector<std::vector<std::byte>>& datagrams,
                            FixedSize fixed_size) {
  std::vector<Msg> out;
  for (const auto& d : datagrams) {
    auto ms = decode_datagram(d, fixed_size);
    out.insert(out.end(), ms.begin(), ms.end());
  }
  return out;
}

inline std::vector<Msg> decode_hex(std::string_view hex, int (*fixed_size)(uint16_t)) {
  auto bytes = from_hex(hex);
  return decode_datagram(bytes, fixed_size);
}

// rtnetlink family header sizes by message type (NLMSG_ERROR / DONE keep their payload whole).
inline int route_fixed_size(uint16_t type) {
  switch (type) {
    case 16:
    case 17:
    case 18:
    case 19:
      return 16;  // ifinfomsg
    case 20:
    case 21:
    case 22:
      return 8;  // ifaddrmsg
    case 24:
    case 25:
    case 26:
      return 12;  // rtmsg
    case 32:
    case 33:
    case 34:
      return 12;  // fib_rule_hdr
    default:
      return -1;
  }
}

inline int error_code(const Msg& m) { return host<int32_t>(m.fixed); }

}  // namespace weir::sandbox::testing
