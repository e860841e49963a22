#include "ipv6/stable_iid.h"

#include <array>
#include <vector>

namespace weir::ipv6 {

namespace {
uint64_t label_hash(const SipKey& key, std::string_view label) {
  return siphash24(key, as_bytes(label));
}
}  // namespace

SipKey stable_iid_key(const SipKey& stack_secret) {
  return SipKey{label_hash(stack_secret, "weir rfc7217 iid key 0"),
                label_hash(stack_secret, "weir rfc7217 iid key 1")};
}

uint64_t stable_iid(const SipKey& key, const Ipv6Address& prefix, std::string_view interface,
                    std::string_view network_id, uint8_t dad_counter) {
  // Prefix (8 bytes) | length-prefixed interface name | length-prefixed network id | counter.
  // The length prefixes keep ("ab", "c") and ("a", "bc") apart.
  std::vector<std::byte> input;
  input.reserve(8 + 2 + interface.size() + 2 + network_id.size() + 1);
  ByteView p = prefix.bytes().first(8);
  input.insert(input.end(), p.begin(), p.end());
  auto put_string = [&](std::string_view s) {
    const size_t n = std::min<size_t>(s.size(), 0xffff);
    input.push_back(std::byte(n >> 8));
    input.push_back(std::byte(n & 0xff));
    ByteView b = as_bytes(s.substr(0, n));
    input.insert(input.end(), b.begin(), b.end());
  };
  put_string(interface);
  put_string(network_id);
  input.push_back(std::byte{dad_counter});
  return siphash24(key, input);
}

bool is_reserved_iid(uint64_t iid) {
  if (iid == 0) return true;
  if (iid >= 0x02005efffe000000ull && iid <= 0x02005efffeffffffull) return true;
  return iid >= 0xfdffffffffffff80ull && iid <= 0xfdffffffffffffffull;
}

Ipv6Address with_iid(const Ipv6Address& prefix, uint64_t iid) {
  std::array<uint8_t, 16> o = prefix.octets();
  for (int i = 0; i < 8; ++i) o[15 - i] = static_cast<uint8_t>(iid >> (8 * i));
  return Ipv6Address(o);
}

uint64_t iid_of(const Ipv6Address& address) {
  uint64_t iid = 0;
  for (int i = 8; i < 16; ++i) iid = (iid << 8) | address.octets()[i];
  return iid;
}

}  // namespace weir::ipv6
