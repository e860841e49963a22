// weir.h: weir_sockaddr and its string forms.
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>

#include "capi/internal.h"

namespace weir::capi {

bool from_c(const weir_sockaddr& in, SocketAddress* out) {
  if (in.family == WEIR_AF_INET) {
    out->address = Ipv4Address(in.addr[0], in.addr[1], in.addr[2], in.addr[3]);
  } else if (in.family == WEIR_AF_INET6) {
    std::array<uint8_t, 16> octets;
    std::memcpy(octets.data(), in.addr, 16);
    out->address = Ipv6Address(octets);
  } else {
    return false;
  }
  out->port = in.port;
  return true;
}

weir_sockaddr to_c(const SocketAddress& in) {
  weir_sockaddr out{};
  out.family = in.address.is_v4() ? WEIR_AF_INET : WEIR_AF_INET6;
  out.port = in.port;
  const ByteView bytes = in.address.bytes();
  std::memcpy(out.addr, bytes.data(), bytes.size());
  return out;
}

}  // namespace weir::capi

namespace {

bool parse_port(std::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace

extern "C" {

int weir_addr_parse(const char* text, weir_sockaddr* out) {
  if (text == nullptr || out == nullptr) return weir::capi::fail(weir::Error::kInvalidArgument);
  const std::string_view t(text);
  std::string_view host = t;
  uint16_t port = 0;
  if (!t.empty() && t.front() == '[') {
    const size_t close = t.find(']');
    if (close == std::string_view::npos) return weir::capi::fail(weir::Error::kInvalidArgument);
    host = t.substr(1, close - 1);
    const std::string_view rest = t.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !parse_port(rest.substr(1), &port))) {
      return weir::capi::fail(weir::Error::kInvalidArgument);
    }
    // Brackets are for IPv6 only.
    if (host.find(':') == std::string_view::npos) {
      return weir::capi::fail(weir::Error::kInvalidArgument);
    }
  } else if (const size_t colon = t.find(':');
             colon != std::string_view::npos && t.find(':', colon + 1) == std::string_view::npos) {
    // One colon: IPv4 with a port (an IPv6 address has at least two).
    host = t.substr(0, colon);
    if (!parse_port(t.substr(colon + 1), &port)) {
      return weir::capi::fail(weir::Error::kInvalidArgument);
    }
  }
  auto address = weir::IpAddress::parse(host);
  if (!address) return weir::capi::fail(weir::Error::kInvalidArgument);
  if (!t.empty() && t.front() == '[' && !address->is_v6()) {
    return weir::capi::fail(weir::Error::kInvalidArgument);
  }
  *out = weir::capi::to_c(weir::SocketAddress{*address, port});
  return 0;
}

ssize_t weir_addr_format(const weir_sockaddr* addr, int with_port, char* buf, size_t len) {
  if (addr == nullptr || (buf == nullptr && len != 0)) {
    return weir::capi::fail(weir::Error::kInvalidArgument);
  }
  weir::SocketAddress sa;
  if (!weir::capi::from_c(*addr, &sa)) return weir::capi::fail(weir::Error::kInvalidArgument);
  const std::string text = with_port != 0 ? sa.to_string() : sa.address.to_string();
  if (text.size() + 1 > len) {
    if (len > 0) buf[0] = '\0';
    return weir::capi::kNoSpace;
  }
  std::memcpy(buf, text.c_str(), text.size() + 1);
  return static_cast<ssize_t>(text.size());
}

}  // extern "C"
